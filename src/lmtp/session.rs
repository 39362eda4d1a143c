//! One LMTP connection (RFC 2033): LHLO, MAIL, RCPT (several), DATA with
//! one reply per accepted recipient, RSET, NOOP, QUIT. Every refusal is a
//! reply and the session goes on; a message is acknowledged only once it
//! is fsynced in the recipient's `new/`.

use super::command::{self, Command, Refusal};
use super::data;
use super::input::{self, Input};
use super::listen::Stream;
use super::recipient::{self, Recipient, Unknown};
use crate::context::ServerContext;
use crate::store::{deliver, maildir, nofollow};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::time::Duration;

/// RFC 5321 §4.5.3.1.4 allows 512; a little room for long addresses.
const MAX_LINE: usize = 4096;
/// RFC 5321 §4.5.3.2: at least 5 minutes between commands and blocks.
const TIMEOUT: Duration = Duration::from_secs(300);
/// RFC 5321 §4.5.3.1.8 asks for at least 100.
const MAX_RECIPIENTS: usize = 1000;
/// Bad commands in a row before hanging up (as IMAP).
const MAX_ERRORS: u32 = 20;

/// A mail transaction being built.
struct Transaction {
    from: String,
    rcpts: Vec<Recipient>,
}

struct Session {
    ctx: Arc<ServerContext>,
    peer: String,
    host: String,
    out: BufWriter<Stream>,
    /// The LHLO name, once given.
    lhlo: Option<String>,
    /// Names this session in log lines and `Received:` ids.
    id: String,
    txn: Option<Transaction>,
}

/// Serves one connection to its end.
pub fn serve(ctx: Arc<ServerContext>, stream: Stream, peer: String) {
    let _ = stream.set_timeouts(TIMEOUT);
    let reader = match stream
        .try_clone()
        .and_then(|r| Input::new(r, Arc::clone(&ctx), TIMEOUT))
    {
        Ok(r) => r,
        Err(e) => {
            log::error!("lmtp peer={peer}: cannot use the connection: {e}");
            return;
        }
    };
    let mut input = BufReader::new(reader);
    let mut s = Session {
        ctx,
        peer,
        host: crate::store::dotlock::hostname(),
        out: BufWriter::new(stream),
        lhlo: None,
        id: session_id(),
        txn: None,
    };
    if let Err(e) = s.run(&mut input) {
        if input::is_shutdown(&e) {
            // Nothing of an unfinished DATA was acknowledged: the client
            // keeps the message and retries.
            let _ = s.reply(421, "4.3.2", "Server shutting down, try again later");
        } else if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut {
            let _ = s.reply(421, "4.4.2", "Timeout, closing");
        }
        log::debug!("lmtp peer={}: connection ended: {e}", s.peer);
    }
}

impl Session {
    fn run(&mut self, input: &mut BufReader<Input>) -> io::Result<()> {
        let greeting = format!("{} Roost LMTP ready", self.host);
        self.reply(220, "", &greeting)?;
        let mut errors = 0;
        loop {
            let line = match read_line(input)? {
                Some(Line::Text(l)) => l,
                Some(Line::TooLong) => {
                    self.reply(500, "5.5.2", "Line too long")?;
                    errors += 1;
                    continue;
                }
                None => return Ok(()),
            };
            let done = match command::parse(&line) {
                Ok(c) => {
                    let outcome = self.execute(c, input)?;
                    if let Err(Refusal(code, enh, text)) = &outcome.0 {
                        self.reply(*code, enh, text)?;
                        errors += 1;
                    } else {
                        errors = 0;
                    }
                    outcome.1
                }
                Err(Refusal(code, enh, text)) => {
                    self.reply(code, enh, &text)?;
                    errors += 1;
                    false
                }
            };
            if done {
                return Ok(());
            }
            if errors >= MAX_ERRORS {
                self.reply(421, "4.7.0", "Too many errors, closing")?;
                return Ok(());
            }
        }
    }

    /// Runs one command; Ok((Err(refusal), _)) replies with the refusal,
    /// `true` ends the session.
    fn execute(
        &mut self,
        c: Command,
        input: &mut BufReader<Input>,
    ) -> io::Result<(Result<(), Refusal>, bool)> {
        let refuse = |code, enh, text: &str| Ok((Err(Refusal(code, enh, text.into())), false));
        match c {
            Command::Lhlo(name) => {
                self.lhlo = Some(name);
                self.txn = None;
                let size = self.ctx.config.max_append_size;
                let lines = [
                    self.host.clone(),
                    "8BITMIME".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    "PIPELINING".into(),
                    format!("SIZE {size}"),
                    "SMTPUTF8".into(),
                ];
                for (i, l) in lines.iter().enumerate() {
                    let sep = if i + 1 == lines.len() { ' ' } else { '-' };
                    write!(self.out, "250{sep}{l}\r\n")?;
                }
                self.out.flush()?;
            }
            Command::SmtpGreeting => return refuse(500, "5.5.1", "This is LMTP: use LHLO"),
            Command::Mail { from, params } => {
                if self.lhlo.is_none() {
                    return refuse(503, "5.5.1", "LHLO first");
                }
                if self.txn.is_some() {
                    return refuse(503, "5.5.1", "MAIL already given");
                }
                let max = self.ctx.config.max_append_size as u64;
                if params.size.is_some_and(|s| s > max) {
                    return refuse(552, "5.3.4", "Message too large");
                }
                self.txn = Some(Transaction {
                    from,
                    rcpts: Vec::new(),
                });
                self.reply(250, "2.1.0", "OK")?;
            }
            Command::Rcpt { to } => {
                let Some(txn) = &mut self.txn else {
                    return refuse(503, "5.5.1", "MAIL first");
                };
                if txn.rcpts.len() >= MAX_RECIPIENTS {
                    return refuse(452, "4.5.3", "Too many recipients");
                }
                match recipient::resolve(&self.ctx.config, &self.ctx.passwd, &to) {
                    Ok(r) => {
                        txn.rcpts.push(r);
                        self.reply(250, "2.1.5", "OK")?;
                    }
                    Err(Unknown::NoUser) => {
                        log::info!(
                            "lmtp peer={} rcpt=<{}>: no such user",
                            self.peer,
                            printable(&to)
                        );
                        return refuse(
                            550,
                            "5.1.1",
                            &format!("<{}> User doesn't exist", printable(&to)),
                        );
                    }
                    Err(Unknown::NoMailRoot(why)) => {
                        log::error!("lmtp rcpt=<{}>: {why}", printable(&to));
                        return refuse(451, "4.3.0", "Mailbox not available, try again later");
                    }
                }
            }
            Command::Data => {
                let Some(txn) = self.txn.take() else {
                    return refuse(503, "5.5.1", "MAIL first");
                };
                if txn.rcpts.is_empty() {
                    self.txn = Some(txn);
                    return refuse(503, "5.5.1", "No valid recipients");
                }
                self.data(txn, input)?;
            }
            Command::Rset => {
                self.txn = None;
                self.reply(250, "2.0.0", "OK")?;
            }
            Command::Noop => self.reply(250, "2.0.0", "OK")?,
            Command::Quit => {
                self.reply(221, "2.0.0", "Bye")?;
                return Ok((Ok(()), true));
            }
            Command::Vrfy => return refuse(502, "5.5.1", "VRFY is not supported; try RCPT"),
        }
        Ok((Ok(()), false))
    }

    /// DATA: spools the message once, then stores a copy per recipient and
    /// answers for each, in RCPT order (RFC 2033 §4.2).
    fn data(&mut self, txn: Transaction, input: &mut BufReader<Input>) -> io::Result<()> {
        self.reply(354, "", "Start mail input; end with <CRLF>.<CRLF>")?;
        let max = self.ctx.config.max_append_size as u64;
        let spool = open_spool(&txn.rcpts);
        input.get_mut().in_data = true;
        let result = self.read_message(&spool, input, max);
        input.get_mut().in_data = false;
        let result = result?;
        let from = printable(&txn.from);
        // A Unix socket's path says nothing about the sender.
        let peer = match self.peer.parse::<std::net::SocketAddr>() {
            Ok(addr) => format!("[{}]", addr.ip()),
            Err(_) => "local".to_string(),
        };
        let trace = recipient::Trace {
            lhlo: self.lhlo.as_deref().unwrap_or(""),
            peer: &peer,
            host: &self.host,
            id: &self.id,
        };
        let only = match txn.rcpts.as_slice() {
            [one] => Some(one),
            _ => None,
        };
        let header = recipient::added_headers(&txn.from, only, &trace);
        // Copies already stored, to link the next ones to.
        let mut stored_copies = Vec::new();
        for rcpt in &txn.rcpts {
            let to = printable(&rcpt.address);
            if result.too_large {
                log::warn!(
                    "lmtp peer={} from=<{from}> rcpt=<{to}> refused: over max_append_size ({max})",
                    self.peer
                );
                self.reply(552, "5.3.4", &format!("<{to}> Message too large"))?;
                continue;
            }
            let stored = match (&spool, &result.write_error) {
                (Err(e), _) | (_, Some(e)) => Err(format!("spooling the message: {e}")),
                (Ok(file), None) => store_copy(
                    &self.ctx,
                    file,
                    result.size,
                    &header,
                    rcpt,
                    &mut stored_copies,
                    &Envelope {
                        from: &txn.from,
                        session: &self.id,
                    },
                ),
            };
            match stored {
                Ok(Stored::OverQuota) => {
                    log::warn!(
                        "lmtp peer={} from=<{from}> rcpt=<{to}> user={} refused: over quota",
                        self.peer,
                        rcpt.user.name
                    );
                    // Dovecot's answer (quota_full_tempfail = no).
                    self.reply(
                        552,
                        "5.2.2",
                        &format!("<{to}> Quota exceeded (mailbox for user is full)"),
                    )?;
                }
                Ok(Stored::Refused(reason)) => {
                    log::info!(
                        "conn={} peer={} from=<{from}> rcpt=<{to}> user={} refused by Sieve",
                        self.id,
                        self.peer,
                        rcpt.user.name
                    );
                    let reason: String = reason
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .take(400)
                        .collect();
                    self.reply(550, "5.7.1", &format!("<{to}> {reason}"))?;
                }
                Ok(Stored::Saved(folder)) => {
                    log::info!(
                        "conn={} peer={} from=<{from}> rcpt=<{to}> user={} size={} saved to {folder}",
                        self.id,
                        self.peer,
                        rcpt.user.name,
                        result.size
                    );
                    self.reply(250, "2.0.0", &format!("<{to}> Saved"))?;
                }
                Err(e) => {
                    log::error!(
                        "lmtp peer={} from=<{from}> rcpt=<{to}> user={} not delivered (will be retried): {e}",
                        self.peer,
                        rcpt.user.name
                    );
                    self.reply(
                        452,
                        "4.3.1",
                        &format!("<{to}> Temporary failure, try again later"),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Reads the message into the spool (or, without one, only counts it).
    fn read_message(
        &mut self,
        spool: &io::Result<File>,
        input: &mut BufReader<Input>,
        max: u64,
    ) -> io::Result<data::DataResult> {
        Ok(match spool {
            Ok(file) => {
                let mut w = BufWriter::new(file);
                let mut r = data::read_data(input, Some(&mut w), max)?;
                if let Err(e) = w.flush() {
                    r.write_error.get_or_insert(e);
                }
                r
            }
            Err(_) => data::read_data(input, None, max)?,
        })
    }

    fn reply(&mut self, code: u16, enhanced: &str, text: &str) -> io::Result<()> {
        if enhanced.is_empty() {
            write!(self.out, "{code} {text}\r\n")?;
        } else {
            write!(self.out, "{code} {enhanced} {text}\r\n")?;
        }
        self.out.flush()
    }
}

/// What became of one recipient's copy.
enum Stored {
    /// Saved into this folder (or these, after Sieve).
    Saved(String),
    /// Refused: the user's quota is full.
    OverQuota,
    /// Refused by the user's Sieve script (`ereject`), with its reason.
    Refused(String),
}

/// A copy stored for one recipient, and whose it is.
struct StoredCopy {
    owner: Option<u32>,
    file: deliver::Delivered,
}

/// The envelope of the message being stored, for Sieve and the logs.
struct Envelope<'a> {
    from: &'a str,
    session: &'a str,
}

/// Stores one recipient's copy. Every recipient's copy has the same bytes
/// (see `added_headers`), so after the first it is a hard link to an
/// earlier copy of the same owner (a link to another user's file would be
/// theirs to read), and written from the spool only where linking fails
/// (another file system). A user with Sieve scripts gets them run instead
/// (`sieve::deliver`). Files are written with the recipient's identity
/// under `userdb = passwd`.
fn store_copy(
    ctx: &ServerContext,
    spool: &File,
    size: u64,
    header: &[u8],
    rcpt: &Recipient,
    stored: &mut Vec<StoredCopy>,
    envelope: &Envelope<'_>,
) -> Result<Stored, String> {
    let quota = crate::store::quota::Quota::new(
        rcpt.mail_root.clone(),
        ctx.config.quota_limits(&rcpt.user.extra),
    );
    if crate::sieve::deliver::has_scripts(&ctx.config, rcpt.user.home.as_deref()) {
        return filtered(ctx, spool, size, header, rcpt, envelope);
    }
    recipient::as_recipient(rcpt, || {
        deliver::ensure_inbox(&rcpt.mail_root)
            .map_err(|e| format!("{}: {e}", rcpt.mail_root.display()))?;
        let dir = recipient::target_dir(&ctx.config, rcpt, None);
        let folder = if dir == rcpt.mail_root {
            "INBOX".to_string()
        } else {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let same_owner = stored.iter().position(|c| c.owner == rcpt.user.uid);
        if let Some(i) = same_owner {
            let source = &stored[i].file;
            if let Ok(Err(_)) = quota.check(source.size, 1) {
                return Ok(Stored::OverQuota);
            }
            match deliver::link_into(&dir, source) {
                Ok(_) => {
                    quota.record(source.size as i64, 1);
                    return Ok(Stored::Saved(folder));
                }
                Err(e) => log::debug!(
                    "lmtp: cannot link {} into {}: {e}; writing a copy",
                    source.path.display(),
                    dir.display()
                ),
            }
        }
        let mut reader = spool;
        reader.rewind().map_err(|e| e.to_string())?;
        let file = match deliver::deliver(&dir, header, &mut reader.take(size), u64::MAX, &quota) {
            Ok(f) => f,
            Err(deliver::DeliverError::OverQuota) => return Ok(Stored::OverQuota),
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        // The newest copy is the one to link to next: the older one may have
        // moved to cur/ or be on another file system.
        let copy = StoredCopy {
            owner: rcpt.user.uid,
            file,
        };
        match same_owner {
            Some(i) => stored[i] = copy,
            None => stored.push(copy),
        }
        Ok(Stored::Saved(folder))
    })?
}

/// Delivery through the recipient's Sieve scripts: the message (at most
/// `max_append_size`, as LMTP accepted it) is read into memory for them.
fn filtered(
    ctx: &ServerContext,
    spool: &File,
    size: u64,
    header: &[u8],
    rcpt: &Recipient,
    envelope: &Envelope<'_>,
) -> Result<Stored, String> {
    let mut message = header.to_vec();
    let mut reader = spool;
    reader.rewind().map_err(|e| e.to_string())?;
    reader
        .take(size)
        .read_to_end(&mut message)
        .map_err(|e| e.to_string())?;
    let d = crate::sieve::deliver::Delivery {
        config: &ctx.config,
        registry: std::sync::Arc::clone(&ctx.registry),
        session: envelope.session,
        user: &rcpt.user.name,
        home: rcpt.user.home.as_deref(),
        mail_root: &rcpt.mail_root,
        envelope_from: envelope.from,
        recipient: &rcpt.address,
        quota: ctx.config.quota_limits(&rcpt.user.extra),
    };
    use crate::sieve::deliver::Filtered;
    match recipient::as_recipient(rcpt, || crate::sieve::deliver::deliver(&d, &message))?? {
        Filtered::Delivered(folders) if folders.is_empty() => {
            Ok(Stored::Saved("(nowhere: Sieve)".into()))
        }
        Filtered::Delivered(folders) => Ok(Stored::Saved(folders.join(","))),
        Filtered::OverQuota => Ok(Stored::OverQuota),
        Filtered::Refused(reason) => Ok(Stored::Refused(reason)),
    }
}

/// An unnamed file in the first usable recipient's `tmp/`: on the disk the
/// mail goes to, inside what the service may write, gone on a crash.
fn open_spool(rcpts: &[Recipient]) -> io::Result<File> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no recipient");
    for r in rcpts {
        match recipient::as_recipient(r, || spool_in(r)) {
            Ok(Ok(f)) => return Ok(f),
            Ok(Err(e)) => last = e,
            Err(e) => last = io::Error::other(e),
        }
    }
    Err(last)
}

/// An unnamed file in `r`'s `tmp/`.
fn spool_in(r: &Recipient) -> io::Result<File> {
    deliver::ensure_inbox(&r.mail_root)?;
    let tmp = r.mail_root.join("tmp");
    if !nofollow::is_real_dir(&tmp) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "tmp/ is not a directory",
        ));
    }
    let path = tmp.join(format!("{}.lmtp-spool", maildir::new_base("spool")));
    let f = nofollow::options()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

/// A short id unique in this server's life, like IMAP's session ids.
fn session_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "lmtp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// One command line without its line end; None at end of input. A line
/// over `MAX_LINE` is read to its end and reported as too long.
fn read_line(input: &mut dyn BufRead) -> io::Result<Option<Line>> {
    let mut line = Vec::new();
    let n = (&mut *input)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        if line.len() <= MAX_LINE {
            // End of input in mid-line.
            return Ok(None);
        }
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let n = (&mut *input)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut rest)?;
            if n == 0 || rest.ends_with(b"\n") {
                return Ok(Some(Line::TooLong));
            }
        }
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    Ok(Some(Line::Text(line)))
}

/// Makes client-supplied text safe for a log line and a reply.
fn printable(s: &str) -> String {
    crate::auth::printable(s, 300)
}
