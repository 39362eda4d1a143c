//! The on-disk tree behind `roost demo`.
//!
//! This module owns everything under the demo root (normally `./roost-demo/`):
//! the config file, a passwd file holding the `demo`/`demo` account, a
//! self-signed certificate, and a Maildir++ mailbox filled with a few sample
//! messages. It also owns the connection help printed once the server is up.
//! Serving the tree is left to the caller.

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

const USER: &str = "demo";
const PASSWORD: &str = "demo";
const BCRYPT_COST: u32 = 10;
/// Maildir++ folders created next to INBOX, in the order they are subscribed.
const FOLDERS: [&str; 4] = ["Sent", "Drafts", "Trash", "Archive"];
const DAY: u64 = 86_400;

/// Where the demo lives and which ports it listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSetup {
    /// Absolute demo root.
    pub root: PathBuf,
    pub config_file: PathBuf,
    pub passwd_file: PathBuf,
    pub maildir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub plain_port: u16,
    pub tls_port: u16,
}

/// A failure while building the demo tree: what was being done, to which path, and why.
#[derive(Debug)]
pub struct DemoError {
    action: &'static str,
    path: PathBuf,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Io(io::Error),
    Other(String),
}

impl DemoError {
    fn io(action: &'static str, path: &Path, err: io::Error) -> Self {
        DemoError {
            action,
            path: path.to_path_buf(),
            cause: Cause::Io(err),
        }
    }

    fn other(action: &'static str, path: &Path, why: impl fmt::Display) -> Self {
        DemoError {
            action,
            path: path.to_path_buf(),
            cause: Cause::Other(why.to_string()),
        }
    }
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} {}: ", self.action, self.path.display())?;
        match &self.cause {
            Cause::Io(e) => write!(f, "{e}"),
            Cause::Other(why) => f.write_str(why),
        }
    }
}

// The cause is already part of Display, so `source()` stays None to avoid
// printing it twice in error chains.
impl std::error::Error for DemoError {}

/// Creates (or completes) the demo tree under `root` (made absolute) and (re)writes its config for these ports.
/// Idempotent: an existing tree is kept as it is (the user may have changed mail in it); only missing pieces
/// (passwd file, certificate+key, the Maildir and its folders and sample messages when the Maildir does not exist yet) are created.
/// The config file is always rewritten (ports may differ).
pub fn prepare(root: &Path, plain_port: u16, tls_port: u16) -> Result<DemoSetup, DemoError> {
    // Lexical rather than canonicalize(): the config then shows the path the user knows.
    let root = std::path::absolute(root).map_err(|e| DemoError::io("resolve", root, e))?;
    check_root_text(&root)?;
    make_dir(&root)?;

    let home = root.join(USER);
    let setup = DemoSetup {
        config_file: root.join("roost.conf"),
        passwd_file: root.join("passwd"),
        maildir: home.join("Maildir"),
        cert: root.join("cert.pem"),
        key: root.join("key.pem"),
        root: root.clone(),
        plain_port,
        tls_port,
    };

    if !exists(&setup.passwd_file)? {
        // Under the checked root, so UTF-8 and free of ':'.
        write_passwd(&setup.passwd_file, &home.display().to_string())?;
    }
    // The pair must match, so losing either one means a fresh pair.
    if !exists(&setup.cert)? || !exists(&setup.key)? {
        write_certificate(&setup.cert, &setup.key)?;
    }
    if !exists(&setup.maildir)? {
        make_dir(&home)?;
        build_maildir(&setup.maildir)?;
        log::info!("demo: created sample Maildir {}", setup.maildir.display());
    }
    let text = match fs::read_to_string(&setup.config_file) {
        // Keep the user's edits: only the two listen lines follow the ports.
        Ok(old) => updated_config_text(&old, &setup),
        Err(e) if e.kind() == io::ErrorKind::NotFound => config_text(&setup),
        Err(e) => return Err(DemoError::io("read", &setup.config_file, e)),
    };
    write_atomic(&setup.config_file, text.as_bytes(), 0o644)?;
    Ok(setup)
}

/// The two lines `roost demo` owns in its config: the ports it was given.
fn listen_lines(s: &DemoSetup) -> [String; 2] {
    [
        format!("listen = 127.0.0.1:{}", s.plain_port),
        format!("listen_tls = 127.0.0.1:{}", s.tls_port),
    ]
}

/// `old` with its `listen` and `listen_tls` lines set to this start's
/// ports (added if the user removed them); every other line kept as is.
fn updated_config_text(old: &str, s: &DemoSetup) -> String {
    let [plain, tls] = listen_lines(s);
    let key = |line: &str| line.split('=').next().unwrap_or("").trim().to_string();
    let mut out = String::new();
    let (mut saw_plain, mut saw_tls) = (false, false);
    for line in old.lines() {
        match key(line).as_str() {
            "listen" if !line.trim_start().starts_with('#') => {
                out.push_str(&plain);
                saw_plain = true;
            }
            "listen_tls" if !line.trim_start().starts_with('#') => {
                out.push_str(&tls);
                saw_tls = true;
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    if !saw_plain {
        out.push_str(&format!("{plain}\n"));
    }
    if !saw_tls {
        out.push_str(&format!("{tls}\n"));
    }
    out
}

/// The text printed after startup: how to connect with a mail client, curl and openssl.
pub fn instructions(setup: &DemoSetup) -> String {
    let (p, t) = (setup.plain_port, setup.tls_port);
    format!(
        "\
Roost demo is running; its files are in {root}

Mail client (Thunderbird, Apple Mail, ...): add an IMAP account with
  server    localhost
  port      {p} with STARTTLS, or {t} with SSL/TLS
  user      demo
  password  demo
The certificate is self-signed and names localhost, not 127.0.0.1 (which
offlineimap and fetchmail reject): accept it when the client asks.

curl (lists the folders; add INBOX;UID=1 to the URL to read a message):
  curl -k --ssl-reqd \"imap://localhost:{p}/\" -u demo:demo
  curl -k \"imaps://localhost:{t}/\" -u demo:demo

openssl (then type `a LOGIN demo demo`, `b SELECT INBOX`, `c LOGOUT`):
  openssl s_client -starttls imap -connect localhost:{p} -crlf -quiet
  openssl s_client -connect localhost:{t} -crlf -quiet

Press Ctrl-C to stop. Delete {maildir} to get fresh sample mail next time.
",
        root = setup.root.display(),
        maildir = setup.maildir.display(),
    )
}

fn config_text(s: &DemoSetup) -> String {
    // Paths were checked to be UTF-8, so display() is lossless here.
    format!(
        "\
# Roost demo configuration, written by `roost demo`. Safe to edit: each start
# rewrites only the listen and listen_tls lines (from --port and --tls-port).
{}
{}
tls_cert = {}
tls_key = {}
passwd_file = {}
mail_location = %h/Maildir
",
        listen_lines(s)[0],
        listen_lines(s)[1],
        s.cert.display(),
        s.key.display(),
        s.passwd_file.display(),
    )
}

/// The root ends up in a line-based config and in a `:`-separated passwd
/// line, so it must be UTF-8 without `:` or line breaks.
fn check_root_text(root: &Path) -> Result<(), DemoError> {
    let text = root
        .to_str()
        .ok_or_else(|| DemoError::other("use", root, "the path is not valid UTF-8"))?;
    if text.contains([':', '\n', '\r']) {
        return Err(DemoError::other(
            "use",
            root,
            "the path must not contain ':' or line breaks (they would break the passwd and config files)",
        ));
    }
    Ok(())
}

fn exists(path: &Path) -> Result<bool, DemoError> {
    path.try_exists()
        .map_err(|e| DemoError::io("inspect", path, e))
}

/// Creates `dir` and any missing parents, private to the user (mail and keys live here).
fn make_dir(dir: &Path) -> Result<(), DemoError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| DemoError::io("create directory", dir, e))
}

/// Writes a brand-new file; fails if it already exists.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<fs::File, DemoError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| DemoError::io("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| DemoError::io("write", path, e))?;
    Ok(file)
}

/// Replaces `path` via a temp file + rename, so a crash never leaves a
/// half-written file that a later run would keep.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DemoError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    // A leftover from an interrupted run would make create_new fail.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(DemoError::io("remove", &tmp, e)),
    }
    let result = write_new(&tmp, bytes, mode).and_then(|file| {
        file.sync_all()
            .map_err(|e| DemoError::io("write", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| DemoError::io("rename into place", path, e))
    });
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_passwd(path: &Path, home: &str) -> Result<(), DemoError> {
    let hash = bcrypt::hash_with_result(PASSWORD, BCRYPT_COST)
        .map_err(|e| DemoError::other("hash the password for", path, e))?
        .format_for_version(bcrypt::Version::TwoY);
    // user:password:uid:gid:gecos:home:shell:extra, uid/gid left to the server.
    let line = format!("{USER}:{{BLF-CRYPT}}{hash}::::{home}::\n");
    write_atomic(path, line.as_bytes(), 0o600)
}

fn write_certificate(cert: &Path, key: &Path) -> Result<(), DemoError> {
    let names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| DemoError::other("generate a certificate for", cert, e))?;
    write_atomic(key, generated.key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(cert, generated.cert.pem().as_bytes(), 0o644)?;
    log::info!("demo: generated self-signed certificate {}", cert.display());
    Ok(())
}

/// Builds the whole Maildir in a staging directory and renames it into place,
/// so an interrupted run never leaves a half-filled Maildir that later runs
/// would keep as "the user's mail".
fn build_maildir(maildir: &Path) -> Result<(), DemoError> {
    let mut staging_name = maildir.as_os_str().to_owned();
    staging_name.push(".building");
    let staging = PathBuf::from(staging_name);
    if exists(&staging)? {
        fs::remove_dir_all(&staging).map_err(|e| DemoError::io("remove", &staging, e))?;
    }

    make_maildir(&staging)?;
    for folder in FOLDERS {
        let dir = staging.join(format!(".{folder}"));
        make_maildir(&dir)?;
        // Maildir++ marks subfolders with this empty file.
        write_new(&dir.join("maildirfolder"), b"", 0o600)?;
    }
    let mut subscriptions = String::from("V\t2\n\n");
    for folder in FOLDERS {
        subscriptions.push_str(folder);
        subscriptions.push('\n');
    }
    write_new(
        &staging.join("subscriptions"),
        subscriptions.as_bytes(),
        0o600,
    )?;

    let namer = Namer::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for sample in samples(now) {
        let folder = staging.join(sample.folder);
        deliver(
            &folder,
            sample.text.as_bytes(),
            sample.date,
            sample.flags,
            &namer,
        )?;
    }
    fs::rename(&staging, maildir).map_err(|e| DemoError::io("rename into place", maildir, e))
}

fn make_maildir(dir: &Path) -> Result<(), DemoError> {
    for sub in ["cur", "new", "tmp"] {
        make_dir(&dir.join(sub))?;
    }
    Ok(())
}

/// The parts of a Maildir file name that stay the same for every delivery.
struct Namer {
    pid: u32,
    host: String,
}

impl Namer {
    fn new() -> Self {
        let raw = fs::read_to_string("/etc/hostname").unwrap_or_default();
        Namer {
            pid: std::process::id(),
            host: maildir_host(raw.lines().next().unwrap_or("")),
        }
    }
}

/// The Maildir rule escapes `/` and `:` in the host part; `,` too, because
/// readers split the name at commas to find `S=` and `W=`.
fn maildir_host(raw: &str) -> String {
    let mut host = String::new();
    for c in raw.trim().chars() {
        match c {
            '/' => host.push_str("\\057"),
            ':' => host.push_str("\\072"),
            ',' => host.push_str("\\054"),
            c if c.is_ascii_graphic() => host.push(c),
            _ => {}
        }
    }
    if host.is_empty() {
        host.push_str("localhost");
    }
    host
}

/// Delivers a message the way an MDA does: write it under `tmp/`, stamp its
/// mtime with `date` (the server reports the mtime as INTERNALDATE), then
/// rename it into `cur/` with `flags` (ASCII order), or into `new/` when
/// `flags` is None (unseen new mail carries no info part).
fn deliver(
    folder: &Path,
    text: &[u8],
    date: u64,
    flags: Option<&str>,
    namer: &Namer,
) -> Result<PathBuf, DemoError> {
    let size = text.len();
    let wire_size = size + text.iter().filter(|&&b| b == b'\n').count();
    let usecs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_micros())
        .unwrap_or(0);
    // secs = the message date, so names sort the way the mail was received.
    let base = format!(
        "{date}.M{usecs}P{}.{},S={size},W={wire_size}",
        namer.pid, namer.host
    );
    let tmp = folder.join("tmp").join(&base);
    let dest = match flags {
        Some(flags) => folder.join("cur").join(format!("{base}:2,{flags}")),
        None => folder.join("new").join(&base),
    };

    let file = write_new(&tmp, text, 0o600)?;
    file.set_modified(UNIX_EPOCH + Duration::from_secs(date))
        .map_err(|e| DemoError::io("set the modification time of", &tmp, e))?;
    file.sync_all()
        .map_err(|e| DemoError::io("write", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, &dest).map_err(|e| DemoError::io("rename into place", &dest, e))?;
    Ok(dest)
}

/// RFC 5322 date in UTC, e.g. `Tue, 14 Nov 2023 22:13:20 +0000`.
fn rfc5322_date(secs: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / DAY;
    let rem = secs % DAY;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), Howard Hinnant's
/// algorithm restricted to dates after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// One sample message and where it goes.
struct Sample {
    /// Maildir++ folder directory relative to the Maildir root ("" is INBOX).
    folder: &'static str,
    date: u64,
    /// None: unseen, delivered to `new/`.
    flags: Option<&'static str>,
    text: String,
}

/// `days` days before today at `hh:mm` UTC.
fn days_ago(now: u64, days: u64, hh: u64, mm: u64) -> u64 {
    (now / DAY).saturating_sub(days) * DAY + hh * 3600 + mm * 60
}

fn samples(now: u64) -> Vec<Sample> {
    let welcome_at = days_ago(now, 20, 8, 2);
    let weekly_at = days_ago(now, 13, 7, 30);
    let map_at = days_ago(now, 6, 9, 14);
    let sent_at = days_ago(now, 5, 16, 41);
    let reply_at = days_ago(now, 4, 8, 57);
    let draft_at = days_ago(now, 1, 18, 5);
    let reminder_at = now.saturating_sub(47 * 60);

    let map_id = format!("{map_at}.a7c1@mail.example.org");
    let sent_id = format!("{sent_at}.5e02@roost.example");

    let welcome = format!(
        "\
Date: {date}
From: Roost <postmaster@roost.example>
To: Demo User <demo@roost.example>
Subject: Welcome to the Roost demo
Message-ID: <{welcome_at}.0001@roost.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Hello,

This mailbox is served by Roost, an IMAP server that works directly on
Maildir trees. Every message you see is one file under demo/Maildir in
the demo directory, and the flags you set in your mail client end up in
the file names, where other Maildir tools can see them.

Things to try:

  - read the newsletter (HTML and plain text) and the message with an
    attachment,
  - flag, move and delete messages, and create folders of your own,
  - look at the files in the Maildir while you do.

The server only listens on 127.0.0.1, so nothing here leaves your machine.

-- 
The Roost demo
",
        date = rfc5322_date(welcome_at),
    );

    let weekly = format!(
        "\
Date: {date}
From: Roost Weekly <weekly@roost.example>
To: demo@roost.example
Subject: Roost Weekly #12: coffee and folders
Message-ID: <{weekly_at}.w12@roost.example>
List-Id: Roost Weekly <weekly.roost.example>
List-Unsubscribe: <mailto:unsubscribe@roost.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=\"=_weekly_7d3f\"

This is a multi-part message in MIME format.

--=_weekly_7d3f
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Roost Weekly #12
================

Hi there,

This week the team met at the little caf=C3=A9 around the corner to plan
the next release. Highlights:

* Folders are plain Maildir++ directories, so your existing tools keep
  working.
* Flags live in the file names, exactly where other Maildir readers
  expect them.

Happy hacking,
The Roost team

You get this because you tried the Roost demo.
Unsubscribe: mailto:unsubscribe@roost.example

--=_weekly_7d3f
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<!DOCTYPE html>
<html>
<body style=3D\"font-family: sans-serif; max-width: 36em\">
<h1 style=3D\"color: #2a6f4e\">Roost Weekly #12</h1>
<p>Hi there,</p>
<p>This week the team met at the little caf=C3=A9 around the corner to plan
the next release. Highlights:</p>
<ul>
<li>Folders are plain Maildir++ directories, so your existing tools keep
working.</li>
<li>Flags live in the file names, exactly where other Maildir readers
expect them.</li>
</ul>
<p>Happy hacking,<br>The Roost team</p>
<p style=3D\"font-size: small; color: #777\">You get this because you tried=
 the Roost demo. <a href=3D\"mailto:unsubscribe@roost.example\">Unsubscribe<=
/a></p>
</body>
</html>

--=_weekly_7d3f--
",
        date = rfc5322_date(weekly_at),
    );

    let png = base64::engine::general_purpose::STANDARD.encode(room_map_png());
    let png_lines: Vec<&str> = png
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap_or(""))
        .collect();
    let map = format!(
        "\
Date: {date}
From: Alice Martin <alice@example.org>
To: Demo User <demo@roost.example>
Subject: =?UTF-8?Q?R=C3=A9union_de_lundi?=
Message-ID: <{map_id}>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"=_mixed_41c2\"

This is a multi-part message in MIME format.

--=_mixed_41c2
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Hi,

Monday's meeting is in the small room on the second floor; I've attached
a map so you don't end up in the kitchen again. We start at 10:00.

Could you bring the numbers for the quarterly review?

Alice

--=_mixed_41c2
Content-Type: image/png; name=\"room-map.png\"
Content-Disposition: attachment; filename=\"room-map.png\"
Content-Transfer-Encoding: base64

{base64}
--=_mixed_41c2--
",
        date = rfc5322_date(map_at),
        base64 = png_lines.join("\n"),
    );

    let sent = format!(
        "\
Date: {date}
From: Demo User <demo@roost.example>
To: Alice Martin <alice@example.org>
Subject: Re: =?UTF-8?Q?R=C3=A9union_de_lundi?=
Message-ID: <{sent_id}>
In-Reply-To: <{map_id}>
References: <{map_id}>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Hi Alice,

Thanks for the map. I'll bring the numbers, and coffee for everyone.

See you Monday,
Demo

On {quoted_date}, Alice Martin wrote:
> Monday's meeting is in the small room on the second floor; I've attached
> a map so you don't end up in the kitchen again. We start at 10:00.
",
        date = rfc5322_date(sent_at),
        quoted_date = rfc5322_date(map_at),
    );

    let reply = format!(
        "\
Date: {date}
From: Alice Martin <alice@example.org>
To: Demo User <demo@roost.example>
Subject: Re: =?UTF-8?Q?R=C3=A9union_de_lundi?=
Message-ID: <{reply_at}.b310@mail.example.org>
In-Reply-To: <{sent_id}>
References: <{map_id}> <{sent_id}>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Perfect, thank you! Coffee is always welcome.

=C3=80 lundi,
Alice

> Thanks for the map. I'll bring the numbers, and coffee for everyone.
",
        date = rfc5322_date(reply_at),
    );

    let reminder = format!(
        "\
Date: {date}
From: Roost Calendar <calendar@roost.example>
To: Demo User <demo@roost.example>
Subject: Reminder: quarterly review tomorrow at 10:00
Message-ID: <{reminder_at}.cal@roost.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

This is a reminder for the following event.

  Quarterly review
  When:   tomorrow, 10:00-11:00
  Where:  small meeting room, second floor
  Who:    Alice Martin, Bob Chen, Demo User
",
        date = rfc5322_date(reminder_at),
    );

    let draft = format!(
        "\
Date: {date}
From: Demo User <demo@roost.example>
To: Bob Chen <bob@example.org>
Subject: Notes for the quarterly review
Message-ID: <{draft_at}.d7f4@roost.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Bob,

Rough notes before the review:

  - numbers are up on last quarter
  - Alice has booked the small room
",
        date = rfc5322_date(draft_at),
    );

    let sample = |folder, date, flags, text| Sample {
        folder,
        date,
        flags,
        text,
    };
    vec![
        sample("", welcome_at, Some("S"), welcome),
        sample("", weekly_at, Some("FS"), weekly),
        // Answered: the reply sits in Sent.
        sample("", map_at, Some("RS"), map),
        sample(".Sent", sent_at, Some("S"), sent),
        sample("", reply_at, Some("S"), reply),
        sample(".Drafts", draft_at, Some("DS"), draft),
        sample("", reminder_at, None, reminder),
    ]
}

/// A small but valid PNG (a floor plan: walls, a door, a table and a
/// "you are here" dot), built by hand so no image crate is needed.
fn room_map_png() -> Vec<u8> {
    const W: usize = 32;
    const H: usize = 20;
    let mut raw = Vec::with_capacity(H * (1 + 3 * W));
    for y in 0..H {
        raw.push(0); // filter type: None
        for x in 0..W {
            let wall = x == 0 || y == 0 || x == W - 1 || y == H - 1;
            let door = y == H - 1 && (24..29).contains(&x);
            let rgb: [u8; 3] = if wall && !door {
                [60, 60, 60]
            } else if (10..22).contains(&x) && (6..13).contains(&y) {
                [160, 110, 60]
            } else if (4..6).contains(&x) && (14..16).contains(&y) {
                [210, 40, 40]
            } else {
                [245, 245, 238]
            };
            raw.extend_from_slice(&rgb);
        }
    }

    // zlib stream with one stored (uncompressed) deflate block.
    let len = raw.len() as u16;
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&len.to_le_bytes());
    zlib.extend_from_slice(&(!len).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(W as u32).to_be_bytes());
    ihdr.extend_from_slice(&(H as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr), (b"IDAT", &zlib), (b"IEND", &Vec::new())] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The entries of `dir`, sorted by name.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        names
    }

    fn header<'a>(text: &'a str, name: &str) -> &'a str {
        let head = text.split("\n\n").next().unwrap();
        let prefix = format!("{name}: ");
        head.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// Checks one message file against its name: S=, W=, mtime and Date.
    /// Returns the flags (None for new/).
    fn check_message(path: &Path) -> Option<String> {
        let name = path.file_name().unwrap().to_str().unwrap();
        let bytes = fs::read(path).unwrap();
        let (base, flags) = match name.split_once(":2,") {
            Some((base, flags)) => (base, Some(flags.to_string())),
            None => (name, None),
        };
        let fields: BTreeMap<&str, &str> = base
            .split(',')
            .skip(1)
            .map(|f| f.split_once('=').unwrap())
            .collect();
        let lf = bytes.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(fields["S"], bytes.len().to_string(), "{name}");
        assert_eq!(fields["W"], (bytes.len() + lf).to_string(), "{name}");

        let secs: u64 = base.split('.').next().unwrap().parse().unwrap();
        let mtime = fs::metadata(path).unwrap().modified().unwrap();
        assert_eq!(mtime, UNIX_EPOCH + Duration::from_secs(secs), "{name}");
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(header(text, "Date"), rfc5322_date(secs), "{name}");
        assert!(base.contains(".M") && base.contains(&format!("P{}.", std::process::id())));
        flags
    }

    #[test]
    fn prepare_creates_the_whole_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("roost-demo");
        let setup = prepare(&root, 1143, 1993).unwrap();
        let abs = std::path::absolute(&root).unwrap();
        assert_eq!(setup.root, abs);
        assert!(setup.root.is_absolute());
        assert_eq!(mode(&setup.root), 0o700);

        let r = abs.display();
        let config = fs::read_to_string(&setup.config_file).unwrap();
        assert_eq!(
            config,
            format!(
                "# Roost demo configuration, written by `roost demo`. Safe to edit: each start\n\
                 # rewrites only the listen and listen_tls lines (from --port and --tls-port).\n\
                 listen = 127.0.0.1:1143\nlisten_tls = 127.0.0.1:1993\n\
                 tls_cert = {r}/cert.pem\ntls_key = {r}/key.pem\npasswd_file = {r}/passwd\n\
                 mail_location = %h/Maildir\n"
            )
        );

        let passwd = fs::read_to_string(&setup.passwd_file).unwrap();
        let line = passwd.strip_suffix('\n').unwrap();
        let fields: Vec<&str> = line.split(':').collect();
        assert_eq!(fields.len(), 8, "{line}");
        assert_eq!(fields[0], "demo");
        let hash = fields[1].strip_prefix("{BLF-CRYPT}").unwrap();
        assert!(hash.starts_with("$2y$10$"), "{hash}");
        assert!(bcrypt::verify("demo", hash).unwrap());
        assert!(!bcrypt::verify("wrong", hash).unwrap());
        assert_eq!(&fields[2..5], ["", "", ""]);
        assert_eq!(fields[5], format!("{r}/demo"));
        assert_eq!(&fields[6..], ["", ""]);
        assert_eq!(mode(&setup.passwd_file), 0o600);

        let cert = fs::read_to_string(&setup.cert).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = fs::read_to_string(&setup.key).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(mode(&setup.key), 0o600);
        assert!(!abs.join("key.pem.tmp").exists());

        let md = &setup.maildir;
        assert_eq!(*md, abs.join("demo/Maildir"));
        assert!(!abs.join("demo/Maildir.building").exists());
        assert_eq!(mode(md), 0o700);
        assert_eq!(
            fs::read_to_string(md.join("subscriptions")).unwrap(),
            "V\t2\n\nSent\nDrafts\nTrash\nArchive\n"
        );
        for folder in ["", ".Sent", ".Drafts", ".Trash", ".Archive"] {
            for sub in ["cur", "new", "tmp"] {
                let dir = md.join(folder).join(sub);
                assert!(dir.is_dir(), "{}", dir.display());
                assert_eq!(mode(&dir), 0o700);
            }
            assert!(files(&md.join(folder).join("tmp")).is_empty());
            assert_eq!(
                md.join(folder).join("maildirfolder").is_file(),
                !folder.is_empty()
            );
        }

        let flags = |folder: &str, sub: &str| -> Vec<Option<String>> {
            files(&md.join(folder).join(sub))
                .iter()
                .map(|p| check_message(p))
                .collect()
        };
        let s = |f: &str| Some(f.to_string());
        // Names start with the date, so sorted order is date order.
        assert_eq!(flags("", "cur"), [s("S"), s("FS"), s("RS"), s("S")]);
        assert_eq!(flags("", "new"), [None]);
        assert_eq!(flags(".Sent", "cur"), [s("S")]);
        assert_eq!(flags(".Drafts", "cur"), [s("DS")]);
        for empty in [
            ".Sent/new",
            ".Drafts/new",
            ".Trash/cur",
            ".Trash/new",
            ".Archive/cur",
            ".Archive/new",
        ] {
            assert!(files(&md.join(empty)).is_empty(), "{empty}");
        }

        let text = instructions(&setup);
        assert!(text.contains("curl -k --ssl-reqd \"imap://localhost:1143/\" -u demo:demo"));
        assert!(text.contains("curl -k \"imaps://localhost:1993/\" -u demo:demo"));
        // offlineimap and fetchmail check names and ignore IP entries.
        assert!(text.contains("server    localhost\n"), "{text}");
        assert!(!text.contains("127.0.0.1:"), "{text}");
        assert!(
            text.contains("openssl s_client -starttls imap -connect localhost:1143 -crlf -quiet")
        );
        assert!(text.contains("openssl s_client -connect localhost:1993 -crlf -quiet"));
        assert!(text.contains("a LOGIN demo demo"));
    }

    #[test]
    fn edits_to_the_config_survive_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("roost-demo");
        let first = prepare(&root, 1143, 1993).unwrap();
        let mut text = fs::read_to_string(&first.config_file).unwrap();
        text.push_str("# mine\nlog_level = debug\ntrace_dir = /tmp/t\n");
        let text = text.replace("listen_tls = 127.0.0.1:1993\n", "");
        fs::write(&first.config_file, &text).unwrap();
        let second = prepare(&root, 2143, 2993).unwrap();
        let config = fs::read_to_string(&second.config_file).unwrap();
        for line in [
            "# mine",
            "log_level = debug",
            "trace_dir = /tmp/t",
            "listen = 127.0.0.1:2143",
            "listen_tls = 127.0.0.1:2993",
        ] {
            assert!(
                config.lines().any(|l| l == line),
                "{line:?} lost:\n{config}"
            );
        }
        assert!(!config.contains("1143"), "{config}");
        crate::config::Config::load(&second.config_file, &[]).unwrap();
    }

    #[test]
    fn second_prepare_keeps_mail_and_rewrites_config() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("roost-demo");
        let first = prepare(&root, 1143, 1993).unwrap();
        let inbox_cur = first.maildir.join("cur");
        let before = files(&inbox_cur);
        let removed = &before[0];
        let kept = &before[1];
        let kept_bytes = fs::read(kept).unwrap();
        let kept_mtime = fs::metadata(kept).unwrap().modified().unwrap();
        fs::remove_file(removed).unwrap();
        let passwd = fs::read(&first.passwd_file).unwrap();
        let cert = fs::read(&first.cert).unwrap();

        let second = prepare(&root, 2143, 2993).unwrap();
        assert_eq!(second.maildir, first.maildir);
        assert_eq!(second.plain_port, 2143);
        assert!(!removed.exists(), "deleted sample was recreated");
        assert_eq!(files(&inbox_cur), before[1..]);
        assert_eq!(fs::read(kept).unwrap(), kept_bytes);
        assert_eq!(fs::metadata(kept).unwrap().modified().unwrap(), kept_mtime);
        assert_eq!(fs::read(&second.passwd_file).unwrap(), passwd);
        assert_eq!(fs::read(&second.cert).unwrap(), cert);

        let config = fs::read_to_string(&second.config_file).unwrap();
        assert!(config.contains("\nlisten = 127.0.0.1:2143\n"));
        assert!(config.contains("\nlisten_tls = 127.0.0.1:2993\n"));
        assert!(!config.contains("1143") && !config.contains("1993"));
    }

    #[test]
    fn missing_pieces_are_recreated() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("roost-demo");
        let first = prepare(&root, 1143, 1993).unwrap();
        let cert = fs::read(&first.cert).unwrap();
        fs::remove_file(&first.key).unwrap();
        fs::remove_file(&first.passwd_file).unwrap();
        fs::remove_dir_all(&first.maildir).unwrap();

        let second = prepare(&root, 1143, 1993).unwrap();
        // A lone certificate is useless without its key, so both are new.
        assert_ne!(fs::read(&second.cert).unwrap(), cert);
        assert!(second.key.is_file());
        assert!(second.passwd_file.is_file());
        assert_eq!(files(&second.maildir.join("cur")).len(), 4);
    }

    #[test]
    fn instructions_and_bad_roots() {
        let setup = DemoSetup {
            root: PathBuf::from("/x"),
            config_file: PathBuf::new(),
            passwd_file: PathBuf::new(),
            maildir: PathBuf::from("/x/demo/Maildir"),
            cert: PathBuf::new(),
            key: PathBuf::new(),
            plain_port: 1,
            tls_port: 2,
        };
        assert!(instructions(&setup).contains("/x/demo/Maildir"));

        let tmp = tempfile::tempdir().unwrap();
        let err = prepare(&tmp.path().join("a:b"), 1143, 1993).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a:b") && msg.contains("':'"), "{msg}");
        assert!(!tmp.path().join("a:b").exists());
    }

    #[test]
    fn io_errors_name_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("file");
        fs::write(&blocker, "").unwrap();
        let err = prepare(&blocker.join("roost-demo"), 1143, 1993).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&blocker.display().to_string()), "{msg}");
        assert!(msg.contains("os error"), "{msg}");
    }

    #[test]
    fn samples_are_well_formed() {
        let now = 1_700_000_000;
        let samples = samples(now);
        let mut ids = BTreeMap::new();
        for s in &samples {
            assert!(s.date <= now && s.date > now - 30 * DAY);
            assert!(s.text.is_ascii() && !s.text.contains('\r'));
            assert!(s.text.ends_with('\n'));
            assert!(
                s.text.lines().all(|l| l.len() <= 78),
                "long line in {}",
                s.text
            );
            assert!(s.text.lines().all(|l| !l.ends_with(' ') || l == "-- "));
            for h in [
                "Date",
                "From",
                "To",
                "Subject",
                "Message-ID",
                "MIME-Version",
            ] {
                header(&s.text, h);
            }
            assert_eq!(header(&s.text, "Date"), rfc5322_date(s.date));
            if let Some(flags) = s.flags {
                let mut sorted: Vec<char> = flags.chars().collect();
                sorted.sort();
                assert_eq!(flags, sorted.into_iter().collect::<String>());
            }
            ids.insert(header(&s.text, "Message-ID").to_string(), s);
        }
        assert_eq!(ids.len(), samples.len(), "Message-IDs must be unique");
        let inbox: Vec<u64> = samples
            .iter()
            .filter(|s| s.folder.is_empty())
            .map(|s| s.date)
            .collect();
        assert!(inbox.windows(2).all(|w| w[0] < w[1]), "INBOX oldest first");

        // The thread: INBOX reply -> Sent -> the original with the attachment.
        let reply = samples
            .iter()
            .find(|s| header(&s.text, "Subject").starts_with("Re:") && s.folder.is_empty())
            .unwrap();
        let parent = ids[header(&reply.text, "In-Reply-To")];
        assert_eq!(parent.folder, ".Sent");
        let root = ids[header(&parent.text, "In-Reply-To")];
        assert!(root
            .text
            .contains("Content-Disposition: attachment; filename=\"room-map.png\""));
        assert_eq!(
            header(&reply.text, "References"),
            format!(
                "{} {}",
                header(&root.text, "Message-ID"),
                header(&parent.text, "Message-ID")
            )
        );
        assert_eq!(
            header(&reply.text, "Subject"),
            "Re: =?UTF-8?Q?R=C3=A9union_de_lundi?="
        );

        // The attachment decodes back to the PNG.
        let body = root
            .text
            .split("Content-Transfer-Encoding: base64\n\n")
            .nth(1)
            .unwrap();
        let b64: String = body.split("\n--").next().unwrap().lines().collect();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(png, room_map_png());
    }

    #[test]
    fn png_is_valid() {
        let png = room_map_png();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let mut at = 8;
        let mut kinds = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let body = &png[at + 4..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc32(body), crc);
            kinds.push(String::from_utf8(body[..4].to_vec()).unwrap());
            at += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn dates_and_hostnames() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_700_000_000),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(maildir_host("mail/x:y,z\n"), "mail\\057x\\072y\\054z");
        assert_eq!(maildir_host("  \n"), "localhost");
    }
}
