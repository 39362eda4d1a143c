//! Sieve at delivery: finds a user's scripts where Pigeonhole keeps them,
//! runs them on an incoming message and carries out the result — folders
//! through the store, replies and redirects through the configured
//! sendmail. Whatever goes wrong, the message ends up in INBOX: a broken
//! script, a missing folder or a failed action never loses mail
//! (RFC 5228 §2.10.6), and the reason goes to the server log and to the
//! script's `.log` file, where Pigeonhole users look for it.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::run::{Action, Host, RunInput, ScoreHeaders};
use super::{run, Script};
use crate::config::Config;
use crate::store::maildir::flag;
use crate::store::names::MailboxName;
use crate::store::{NewFlags, Registry, Store};

/// Who a message is being delivered to, and from whom.
pub(crate) struct Delivery<'a> {
    pub config: &'a Config,
    pub registry: Arc<Registry>,
    /// For logs.
    pub session: &'a str,
    pub user: &'a str,
    pub home: Option<&'a Path>,
    pub mail_root: &'a Path,
    /// MAIL FROM (empty: null sender) and the RCPT TO address.
    pub envelope_from: &'a str,
    pub recipient: &'a str,
    /// The user's quota: a full one refuses the message (552 5.2.2).
    pub quota: crate::store::quota::Limits,
}

/// What became of a filtered message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filtered {
    /// Stored in these folders (none when discarded, rejected by a
    /// bounce or only redirected).
    Delivered(Vec<String>),
    /// `ereject`: refuse it in the protocol with this reason.
    Refused(String),
    /// No room left in the user's quota for a copy to be kept.
    OverQuota,
}

/// What `save` tells apart: a full quota is final, anything else may pass.
const OVER_QUOTA: &str = "quota exceeded";

/// Filters and stores `message` (the complete message as it is to be
/// stored, added headers included); callers ask [`has_scripts`] first.
/// Scripts that do not compile are skipped (and logged), so with none
/// left the message is simply kept. `Err`: nothing could be stored; the
/// sender should retry.
pub(crate) fn deliver(d: &Delivery<'_>, message: &[u8]) -> Result<Filtered, String> {
    let (scripts, personal_log) = load_scripts(d);
    let refs: Vec<&Script> = scripts.iter().collect();
    let mut store = Store::open(
        d.mail_root.to_path_buf(),
        d.config.namespace.clone(),
        Arc::clone(&d.registry),
    )
    .map_err(|e| format!("{}: {e}", d.mail_root.display()))?;
    store.set_quota_limits(d.quota);
    let mut host = DeliveryHost {
        store: &store,
        d,
        memory: SeenFile::open(d.home.map(|h| h.join(".roost-sieve-seen")).as_deref()),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_secs() as i64);
    let spam_max = d.config.sieve_spamtest_max_value.parse().unwrap_or(10.0);
    let input = RunInput {
        message,
        envelope_from: d.envelope_from,
        envelope_to: d.recipient,
        auth_user: None,
        delimiter: d.config.recipient_delimiter.get(..1).unwrap_or(""),
        own_addresses: vec![d.user.to_string()],
        scores: ScoreHeaders {
            spam: (!d.config.sieve_spamtest_status_header.is_empty())
                .then(|| (d.config.sieve_spamtest_status_header.clone(), spam_max)),
            virus: (!d.config.sieve_virustest_status_header.is_empty())
                .then(|| d.config.sieve_virustest_status_header.clone()),
        },
        now,
        local_zone_minutes: 0,
    };
    let outcome = run::run(&refs, &input, &mut host);
    host.memory.save();
    if let Some(e) = &outcome.error {
        report(
            d,
            personal_log.as_deref(),
            &format!("runtime {e}; message kept in INBOX"),
        );
    }
    let stored_message = outcome.edited.as_deref().unwrap_or(message);
    let mut folders = Vec::new();
    let mut refused = None;
    for action in &outcome.actions {
        match action {
            Action::Store {
                mailbox,
                flags,
                create,
            } => {
                let folder = match store_into(
                    d,
                    &store,
                    mailbox,
                    flags,
                    *create,
                    stored_message,
                    personal_log.as_deref(),
                ) {
                    Ok(f) => f,
                    // Nothing kept yet can be taken back; a full quota is final.
                    Err(e) if e == OVER_QUOTA && folders.is_empty() => {
                        return Ok(Filtered::OverQuota)
                    }
                    Err(e) => return Err(e),
                };
                if !folders.contains(&folder) {
                    folders.push(folder);
                }
            }
            Action::Redirect { address } => {
                if let Err(e) = sendmail(d.config, d.envelope_from, address, stored_message) {
                    report(
                        d,
                        personal_log.as_deref(),
                        &format!("redirect to <{address}> failed ({e}); message kept in INBOX"),
                    );
                    keep_fallback(
                        d,
                        &store,
                        stored_message,
                        &mut folders,
                        personal_log.as_deref(),
                    )?;
                } else {
                    log::info!(
                        "conn={} user={} sieve: redirected to <{address}>",
                        d.session,
                        d.user
                    );
                }
            }
            Action::Vacation(reply) => match sendmail(d.config, "", &reply.to, &reply.message) {
                Ok(()) => log::info!(
                    "conn={} user={} sieve: sent vacation response to <{}>",
                    d.session,
                    d.user,
                    reply.to
                ),
                Err(e) => report(
                    d,
                    personal_log.as_deref(),
                    &format!("vacation response to <{}> failed: {e}", reply.to),
                ),
            },
            Action::Reject { reason, extended } => {
                if *extended {
                    refused = Some(reason.clone());
                } else if d.envelope_from.is_empty() {
                    log::info!(
                        "conn={} user={} sieve: discarded a rejected message from the null sender",
                        d.session,
                        d.user
                    );
                } else {
                    let bounce = rejection(d, reason, message);
                    if let Err(e) = sendmail(d.config, "", d.envelope_from, &bounce) {
                        report(
                            d,
                            personal_log.as_deref(),
                            &format!("sending the rejection failed ({e}); message kept in INBOX"),
                        );
                        keep_fallback(
                            d,
                            &store,
                            stored_message,
                            &mut folders,
                            personal_log.as_deref(),
                        )?;
                    } else {
                        log::info!(
                            "conn={} user={} sieve: rejected, bounce sent to <{}>",
                            d.session,
                            d.user,
                            d.envelope_from
                        );
                    }
                }
            }
            Action::Discard => log::info!("conn={} user={} sieve: discarded", d.session, d.user),
        }
    }
    Ok(match refused {
        Some(reason) => Filtered::Refused(reason),
        None => Filtered::Delivered(folders),
    })
}

fn keep_fallback(
    d: &Delivery<'_>,
    store: &Store,
    message: &[u8],
    folders: &mut Vec<String>,
    log_file: Option<&Path>,
) -> Result<(), String> {
    let f = store_into(d, store, "INBOX", &[], false, message, log_file)?;
    if !folders.contains(&f) {
        folders.push(f);
    }
    Ok(())
}

/// Stores into `mailbox` (created with `:create`), else INBOX; the name of
/// the folder used.
fn store_into(
    d: &Delivery<'_>,
    store: &Store,
    mailbox: &str,
    flags: &[String],
    create: bool,
    message: &[u8],
    log_file: Option<&Path>,
) -> Result<String, String> {
    let ns = store.namespace();
    let parsed = ns.parse(mailbox).or_else(|e| {
        if ns.prefix.is_empty() {
            Err(e)
        } else {
            ns.parse(&format!("{}{mailbox}", ns.prefix))
        }
    });
    let mut target = MailboxName::inbox();
    match parsed {
        Ok(name) if store.exists(&name) => target = name,
        Ok(name) if create => match store.create(&name) {
            Ok(()) => target = name,
            Err(e) => report(
                d,
                log_file,
                &format!("fileinto :create \"{mailbox}\" failed ({e}); saved in INBOX"),
            ),
        },
        Ok(_) => report(
            d,
            log_file,
            &format!("fileinto: folder \"{mailbox}\" does not exist; saved in INBOX"),
        ),
        Err(e) => report(
            d,
            log_file,
            &format!("fileinto: invalid folder name \"{mailbox}\" ({e}); saved in INBOX"),
        ),
    }
    let new_flags = to_new_flags(flags);
    match save(store, &target, message, &new_flags) {
        Ok(()) => Ok(ns.to_wire(&target)),
        Err(e) if !target.is_inbox() => {
            report(
                d,
                log_file,
                &format!("saving into \"{mailbox}\" failed ({e}); saved in INBOX"),
            );
            save(store, &MailboxName::inbox(), message, &new_flags)
                .map(|()| "INBOX".to_string())
                .map_err(|e| {
                    if e == OVER_QUOTA {
                        e
                    } else {
                        format!("INBOX: {e}")
                    }
                })
        }
        Err(e) if e == OVER_QUOTA => Err(e),
        Err(e) => Err(format!("INBOX: {e}")),
    }
}

/// Without flags a message goes to `new/` as any delivery does (clients
/// see it as recent); with flags through the store into `cur/`, where
/// flags live — as Dovecot's LDA does.
fn save(store: &Store, name: &MailboxName, message: &[u8], flags: &NewFlags) -> Result<(), String> {
    use crate::store::deliver::DeliverError;
    use crate::store::StoreError;
    if flags.system == 0 && flags.keywords.is_empty() {
        let mut body = message;
        crate::store::deliver::deliver(
            &store.path_of(name),
            b"",
            &mut body,
            u64::MAX,
            store.quota(),
        )
        .map(|_| ())
        .map_err(|e| match e {
            DeliverError::OverQuota => OVER_QUOTA.to_string(),
            e => e.to_string(),
        })
    } else {
        let item = crate::store::AppendItem {
            source: crate::store::AppendSource::Bytes(message),
            flags: flags.clone(),
            internal_date: None,
        };
        store
            .append_all(name, &[item])
            .map(|_| ())
            .map_err(|e| match e {
                StoreError::OverQuota => OVER_QUOTA.to_string(),
                e => e.to_string(),
            })
    }
}

/// Whether the user has any script to run (before reading a message
/// into memory for one).
pub(crate) fn has_scripts(config: &Config, home: Option<&Path>) -> bool {
    let global = |s: &str| !s.is_empty() && !scripts_at(Path::new(s)).is_empty();
    global(&config.sieve_before)
        || global(&config.sieve_after)
        || active_script_path(&config.sieve, home).is_some_and(|p| p.is_file())
}

/// Sieve flag names → stored flags; keywords that are no IMAP atom are
/// dropped (RFC 5232 §2: invalid flags are ignored).
fn to_new_flags(flags: &[String]) -> NewFlags {
    let mut out = NewFlags::default();
    for f in flags {
        match f.to_ascii_lowercase().as_str() {
            "\\seen" => out.system |= flag::SEEN,
            "\\answered" => out.system |= flag::ANSWERED,
            "\\flagged" => out.system |= flag::FLAGGED,
            "\\deleted" => out.system |= flag::DELETED,
            "\\draft" => out.system |= flag::DRAFT,
            _ if f.starts_with('\\') => {}
            _ => {
                let atom = f
                    .bytes()
                    .all(|b| b > b' ' && b < 0x7f && !b"(){%*\"\\]".contains(&b));
                if atom && !out.keywords.iter().any(|k| k.eq_ignore_ascii_case(f)) {
                    out.keywords.push(f.clone());
                }
            }
        }
    }
    out
}

/// Logs a script problem for the admin and, when the user's own script
/// is involved, appends it to that script's `.log` file.
fn report(d: &Delivery<'_>, log_file: Option<&Path>, msg: &str) {
    log::warn!("conn={} user={} sieve: {msg}", d.session, d.user);
    if let Some(path) = log_file {
        append_log(path, msg);
    }
}

fn append_log(path: &Path, msg: &str) {
    // A log that grew too big starts over, as Pigeonhole's does.
    if fs::metadata(path).is_ok_and(|m| m.len() > 10 * 1024) {
        let _ = fs::remove_file(path);
    }
    let opened = crate::store::nofollow::options()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path);
    if let Ok(mut f) = opened {
        let _ = writeln!(f, "{}: {msg}", crate::datetime::Utc::now().imap_date_time());
    }
}

/// `~` → the user's home.
fn expand_home(p: &str, home: Option<&Path>) -> Option<PathBuf> {
    match p.strip_prefix('~') {
        Some(rest) => {
            let home = home?;
            Some(home.join(rest.trim_start_matches('/')))
        }
        None => Some(PathBuf::from(p)),
    }
}

/// The `sieve` setting: `file:DIR;active=FILE`, or a path to one script.
/// Returns the active script's path.
pub(crate) fn active_script_path(setting: &str, home: Option<&Path>) -> Option<PathBuf> {
    let setting = setting.trim();
    if setting.is_empty() {
        return None;
    }
    let body = setting.strip_prefix("file:").unwrap_or(setting);
    let mut parts = body.split(';');
    let location = parts.next().unwrap_or("");
    let active = parts.find_map(|p| p.strip_prefix("active="));
    match active {
        Some(a) => expand_home(a, home),
        None => {
            let p = expand_home(location, home)?;
            // A directory without an active link has no active script.
            (!p.is_dir()).then_some(p)
        }
    }
}

/// The scripts directory of the `sieve` setting (ManageSieve's store).
pub(crate) fn script_dir(setting: &str, home: Option<&Path>) -> Option<PathBuf> {
    let body = setting
        .trim()
        .strip_prefix("file:")
        .unwrap_or(setting.trim());
    let location = body.split(';').next()?;
    if location.is_empty() {
        return None;
    }
    expand_home(location, home)
}

/// One file, or every `*.sieve` in a directory in name order.
fn scripts_at(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        let mut v: Vec<PathBuf> = fs::read_dir(path)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "sieve"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        Vec::new()
    }
}

/// Before, personal, after — skipping (and logging) any that does not
/// compile. Also returns the personal script's log path.
fn load_scripts(d: &Delivery<'_>) -> (Vec<Script>, Option<PathBuf>) {
    let mut out = Vec::new();
    let mut personal_log = None;
    let global = |setting: &str| -> Vec<PathBuf> {
        if setting.is_empty() {
            Vec::new()
        } else {
            scripts_at(Path::new(setting))
        }
    };
    let mut paths: Vec<(PathBuf, bool)> = global(&d.config.sieve_before)
        .into_iter()
        .map(|p| (p, false))
        .collect();
    if let Some(active) = active_script_path(&d.config.sieve, d.home) {
        if active.is_file() {
            paths.push((active, true));
        }
    }
    paths.extend(
        global(&d.config.sieve_after)
            .into_iter()
            .map(|p| (p, false)),
    );
    for (path, personal) in paths {
        let log_path = personal.then(|| {
            let mut s = path.clone().into_os_string();
            s.push(".log");
            PathBuf::from(s)
        });
        // The personal script's log sits beside the link, not its target.
        let log_path = if personal {
            active_script_path(&d.config.sieve, d.home).map(|p| {
                let mut s = p.into_os_string();
                s.push(".log");
                PathBuf::from(s)
            })
        } else {
            log_path
        };
        if personal {
            personal_log = log_path.clone();
        }
        match read_script(&path).and_then(|text| Script::compile(&text).map_err(|e| e.to_string()))
        {
            Ok(script) => out.push(script),
            Err(e) => {
                let msg = format!("{}: {e}; script skipped", path.display());
                log::warn!("conn={} user={} sieve: {msg}", d.session, d.user);
                if let Some(l) = &log_path {
                    append_log(l, &msg);
                }
            }
        }
    }
    (out, personal_log)
}

fn read_script(path: &Path) -> Result<String, String> {
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|f| {
            f.take(super::compile::MAX_SCRIPT_SIZE as u64 + 1)
                .read_to_string(&mut text)
        })
        .map_err(|e| e.to_string())?;
    Ok(text)
}

struct DeliveryHost<'a> {
    store: &'a Store,
    d: &'a Delivery<'a>,
    memory: SeenFile,
}

impl Host for DeliveryHost<'_> {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        self.store
            .namespace()
            .parse(name)
            .is_ok_and(|n| self.store.exists(&n))
    }

    fn seen_before(&mut self, key: &str, period: u64, restart: bool) -> bool {
        self.memory.seen(key, period, restart)
    }

    fn include(&mut self, name: &str, global: bool) -> Option<String> {
        let dir = if global {
            (!self.d.config.sieve_global.is_empty())
                .then(|| PathBuf::from(&self.d.config.sieve_global))?
        } else {
            script_dir(&self.d.config.sieve, self.d.home)?
        };
        read_script(&dir.join(format!("{name}.sieve"))).ok()
    }
}

/// What duplicate and vacation remember, per user: `expiry<TAB>key` lines
/// in a file of our own (Pigeonhole's binary lda-dupes is not shared).
struct SeenFile {
    path: Option<PathBuf>,
    entries: HashMap<String, u64>,
    changed: bool,
}

/// Entries kept at most; the oldest go first.
const SEEN_MAX: usize = 10_000;

impl SeenFile {
    fn open(path: Option<&Path>) -> SeenFile {
        let mut entries = HashMap::new();
        if let Some(p) = path {
            if let Ok(text) = crate::store::nofollow::options()
                .read(true)
                .open(p)
                .and_then(|mut f| {
                    let mut t = String::new();
                    f.read_to_string(&mut t).map(|_| t)
                })
            {
                for line in text.lines().take(SEEN_MAX * 2) {
                    if let Some((exp, key)) = line.split_once('\t') {
                        if let Ok(exp) = exp.parse() {
                            entries.insert(key.to_string(), exp);
                        }
                    }
                }
            }
        }
        SeenFile {
            path: path.map(Path::to_path_buf),
            entries,
            changed: false,
        }
    }

    fn seen(&mut self, key: &str, period: u64, restart: bool) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        // Keys are hashed: message ids and addresses stay out of the file.
        let key = digest_hex(key.as_bytes());
        let expiry = now.saturating_add(period);
        let seen = self.entries.get(&key).is_some_and(|&e| e > now);
        if !seen || restart {
            self.entries.insert(key, expiry);
            self.changed = true;
        }
        seen
    }

    fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if !self.changed {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        let mut live: Vec<(&String, &u64)> =
            self.entries.iter().filter(|(_, &e)| e > now).collect();
        live.sort_by_key(|(_, &e)| std::cmp::Reverse(e));
        live.truncate(SEEN_MAX);
        let text: String = live.iter().map(|(k, e)| format!("{e}\t{k}\n")).collect();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = crate::store::nofollow::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if written.is_ok() {
            let _ = fs::rename(&tmp, path);
        } else {
            let _ = fs::remove_file(&tmp);
        }
    }
}

/// How long a sendmail run may take before it is killed.
const SENDMAIL_TIMEOUT: Duration = Duration::from_secs(60);

/// Hands `message` to the configured sendmail: `-f FROM` (`<>` for the
/// null sender) `-- TO`.
fn sendmail(config: &Config, from: &str, to: &str, message: &[u8]) -> io::Result<()> {
    if to.starts_with('-') || to.contains(['\r', '\n', '\0']) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "odd recipient"));
    }
    let from = if from.is_empty() { "<>" } else { from };
    let mut child = Command::new(&config.sendmail_path)
        .args(["-i", "-f", from, "--", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(message)?;
    }
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return if status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!(
                    "{} exited with {status}",
                    config.sendmail_path
                )))
            };
        }
        if start.elapsed() > SENDMAIL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "sendmail took too long",
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The bounce `reject` sends (RFC 5429 §2.1: a human-readable reason and
/// the original message's header).
fn rejection(d: &Delivery<'_>, reason: &str, original: &[u8]) -> Vec<u8> {
    let header_end = original
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| {
            original
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| i + 1)
        })
        .unwrap_or(original.len());
    let boundary = format!("roost-reject-{}", std::process::id());
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{}>\r\n",
        crate::store::dotlock::hostname()
    ));
    out.push_str(&format!("To: <{}>\r\n", d.envelope_from));
    let subject = original_header(original, "subject");
    out.push_str(&format!(
        "Subject: Rejected: {}\r\n",
        subject.replace(['\r', '\n'], " ")
    ));
    out.push_str("Auto-Submitted: auto-replied (rejected)\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(&format!("Content-Type: multipart/report; report-type=disposition-notification; boundary=\"{boundary}\"\r\n\r\n"));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ));
    out.push_str(&format!(
        "Your message to <{}> was automatically rejected:\r\n{reason}\r\n",
        d.recipient
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: message/disposition-notification\r\n\r\n"
    ));
    out.push_str(&format!("Final-Recipient: rfc822; {}\r\nDisposition: automatic-action/MDN-sent-automatically; deleted\r\n", d.recipient));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&original[..header_end]);
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

fn digest_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first value of a header field in `msg`, unfolded, as written.
fn original_header(msg: &[u8], name: &str) -> String {
    let view = super::message::MessageView::new(msg);
    view.raw_values(name).first().map_or(String::new(), |v| {
        v.replace("\r\n", "").replace('\n', "").trim().to_string()
    })
}
