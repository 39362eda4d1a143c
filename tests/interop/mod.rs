//! Real mail clients, each run as a user would run it, against the real
//! server: mbsync, offlineimap, fetchmail, getmail, curl, neomutt (in tmux)
//! and Python's imaplib (Debian packages isync, offlineimap3, fetchmail,
//! getmail6, curl, neomutt, tmux, python3; `.ci/run` installs them).
//!
//! Each client gets its own temporary HOME with its configuration file in
//! it, and trusts the test CA through a file there; nothing reads or writes
//! the real home. Every run is bounded in time.
//!
//! A missing client fails the test, so CI cannot pass without running it.
//! With `ROOST_SKIP_INTEROP=1` in the environment, a test whose client is
//! not installed prints a note and passes instead (for machines that
//! cannot install them); installed clients still run.

mod curl;
mod fetch;
mod imaplib;
mod mbsync;
mod neomutt;
mod offlineimap;

use crate::common::{Client, TestServer};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long one client run may take.
pub const RUN_LIMIT: Duration = Duration::from_secs(90);

/// True if `program` is on PATH. If not: a skip note and false when
/// ROOST_SKIP_INTEROP is set, a failure otherwise.
pub fn require(program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(program))))
        .unwrap_or(false);
    if found {
        return true;
    }
    let skip = std::env::var("ROOST_SKIP_INTEROP").is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        skip,
        "{program} is not installed: install Debian's {package} (see .ci/run), \
         or set ROOST_SKIP_INTEROP=1 to skip the tests that need it"
    );
    eprintln!("note: {program} missing, test skipped (ROOST_SKIP_INTEROP is set)");
    false
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A temporary home directory for one client, with the test CA in
/// `ca.pem`.
pub struct Home {
    dir: tempfile::TempDir,
}

/// What a client run printed.
pub struct Run {
    pub ok: bool,
    pub out: String,
}

impl Home {
    pub fn new(server: &TestServer) -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &server.ca.ca_pem).unwrap();
        Home { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn ca(&self) -> String {
        self.join("ca.pem").display().to_string()
    }

    /// Writes a file under the home, readable by its owner only (fetchmail
    /// insists on that for its configuration).
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// A command with this home as HOME and working directory, and a
    /// minimal environment.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("HOME", self.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm")
            .current_dir(self.path());
        c
    }

    /// Runs `program args` to completion within RUN_LIMIT, stdout and
    /// stderr together.
    pub fn run(&self, program: &str, args: &[&str]) -> Run {
        let mut cmd = self.command(program);
        cmd.args(args);
        run_bounded(cmd, program)
    }
}

/// Runs a command in its own process group with stdin closed; on timeout
/// kills that group (the tool and anything it started) and fails.
pub fn run_bounded(mut cmd: Command, what: &str) -> Run {
    // One file for both streams, opened for appending so neither
    // overwrites the other.
    let out_path = tempfile::NamedTempFile::new().unwrap();
    let append = || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(out_path.path())
            .unwrap()
    };
    let (out_file, err_file) = (append(), append());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(err_file)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let deadline = std::time::Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(format!("-{}", child.id()))
                .status();
            let _ = child.wait();
            let out = std::fs::read_to_string(out_path.path()).unwrap_or_default();
            panic!("{what} did not finish within {RUN_LIMIT:?}; it printed:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = String::from_utf8_lossy(&std::fs::read(out_path.path()).unwrap()).into_owned();
    Run {
        ok: status.success(),
        out,
    }
}

/// One message put on the server by `seed`.
#[derive(Clone)]
pub struct Seeded {
    pub folder: &'static str,
    pub subject: String,
    pub flags: &'static str,
    pub text: String,
}

/// The folders `seed` creates (with "." as the hierarchy separator).
pub const FOLDERS: &[&str] = &["Archive", "Lists", "Lists.Rust", "Sent", "Trash"];

/// A message with CRLF line ends; `extra` is appended to the body.
pub fn message(n: usize, subject: &str, extra: &str) -> String {
    format!(
        "From: Sender {n} <sender{n}@example.org>\r\nTo: Alice <alice@example.org>\r\n\
         Subject: {subject}\r\nDate: Mon, {d} Jan 2024 10:00:00 +0000\r\n\
         Message-ID: <seed{n}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Body of message {n}.\r\n{extra}",
        d = n % 28 + 1
    )
}

/// Creates the folders and appends a mix of messages: in INBOX, unread,
/// read, flagged, answered, and ones with awkward bodies (a line that
/// starts with "From ", a lone dot, 8-bit text, a MIME attachment); one
/// or two messages in the other folders.
pub fn seed(server: &TestServer) -> Vec<Seeded> {
    let mut c = server.login();
    for f in FOLDERS {
        c.ok(&format!("CREATE {f}"));
    }
    let inbox_flags = [
        "",
        "\\Seen",
        "\\Seen \\Flagged",
        "\\Answered \\Seen",
        "",
        "\\Seen",
    ];
    let mut out = Vec::new();
    for (i, flags) in inbox_flags.iter().enumerate() {
        let subject = format!("Inbox message {i}");
        let text = match i {
            1 => message(
                i,
                &subject,
                "From the start of a line.\r\n.\r\n..two dots\r\n",
            ),
            2 => message(i, &subject, "Grüße aus Köln, 8-bit text: ½ € ✓\r\n"),
            4 => message(
                i,
                &subject,
                &format!("A long line: {}\r\n", "x".repeat(900)),
            ),
            5 => mime_with_attachment(),
            _ => message(i, &subject, ""),
        };
        let args = if flags.is_empty() {
            String::new()
        } else {
            format!("({flags})")
        };
        c.append("INBOX", &args, &text);
        out.push(Seeded {
            folder: "INBOX",
            subject,
            flags,
            text,
        });
    }
    let others: [(&str, &str); 4] = [
        ("Archive", "\\Seen"),
        ("Archive", "\\Seen \\Answered"),
        ("Lists.Rust", ""),
        ("Sent", "\\Seen"),
    ];
    for (j, (folder, flags)) in others.iter().enumerate() {
        let n = 10 + j;
        let subject = format!("{folder} message {n}");
        let text = message(n, &subject, "");
        let args = if flags.is_empty() {
            String::new()
        } else {
            format!("({flags})")
        };
        c.append(folder, &args, &text);
        out.push(Seeded {
            folder,
            subject,
            flags,
            text,
        });
    }
    c.ok("LOGOUT");
    out
}

fn mime_with_attachment() -> String {
    "From: Sender 5 <sender5@example.org>\r\nTo: Alice <alice@example.org>\r\n\
     Subject: Inbox message 5\r\nDate: Sat, 6 Jan 2024 10:00:00 +0000\r\n\
     Message-ID: <seed5@example.org>\r\nMIME-Version: 1.0\r\n\
     Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
     Preamble.\r\n--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
     See the attachment.\r\n--b1\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n\
     Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n\r\n\
     AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n--b1--\r\n"
        .to_string()
}

/// LF line ends, for comparing what clients store with what was appended.
pub fn lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// One message as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    pub subject: String,
    /// System flags and keywords, sorted, without \Recent.
    pub flags: Vec<String>,
}

/// Every folder on the server with its messages, read over IMAP by the
/// test client (and so checked by its grammar check). Sorted by subject.
pub fn server_view(server: &TestServer) -> BTreeMap<String, Vec<Held>> {
    let mut c = server.login();
    let mut view = BTreeMap::new();
    for name in list_folders(&mut c) {
        let r = c.ok(&format!("EXAMINE \"{name}\""));
        let exists = r
            .find("* ")
            .iter()
            .find_map(|l| {
                l.strip_suffix(" EXISTS")?
                    .strip_prefix("* ")?
                    .parse::<u32>()
                    .ok()
            })
            .unwrap_or(0);
        let mut msgs = Vec::new();
        if exists > 0 {
            let r = c.ok("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
            for line in &r.untagged {
                msgs.push(parse_held(line));
            }
        }
        msgs.sort();
        view.insert(name, msgs);
    }
    c.ok("LOGOUT");
    view
}

/// The folder names from LIST "" "*", unquoted (test names need no escapes).
pub fn list_folders(c: &mut Client) -> Vec<String> {
    let r = c.ok("LIST \"\" \"*\"");
    let mut names: Vec<String> = r
        .find("* LIST ")
        .iter()
        .map(|l| {
            let name = l.rsplit_once(" \".\" ").expect("LIST line").1;
            name.trim_matches('"').to_string()
        })
        .collect();
    names.sort();
    names
}

fn parse_held(line: &str) -> Held {
    let flags_at = line.find("FLAGS (").expect("FLAGS in FETCH") + "FLAGS (".len();
    let flags_end = line[flags_at..].find(')').unwrap() + flags_at;
    let mut flags: Vec<String> = line[flags_at..flags_end]
        .split(' ')
        .filter(|f| !f.is_empty() && *f != "\\Recent")
        .map(str::to_string)
        .collect();
    flags.sort();
    let subject = line
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("")
        .to_string();
    Held { subject, flags }
}

/// Flags as a sorted list, from a space-separated string like "\\Seen \\Flagged".
pub fn flag_list(flags: &str) -> Vec<String> {
    let mut v: Vec<String> = flags
        .split(' ')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The IMAP flags a Maildir file name's info part (":2,FS") stands for.
pub fn maildir_flags(file_name: &str) -> Vec<String> {
    let info = file_name.rsplit_once(":2,").map(|(_, i)| i).unwrap_or("");
    let mut v: Vec<String> = info
        .chars()
        .filter_map(|c| match c {
            'D' => Some("\\Draft"),
            'F' => Some("\\Flagged"),
            'R' => Some("\\Answered"),
            'S' => Some("\\Seen"),
            'T' => Some("\\Deleted"),
            _ => None,
        })
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// A message file in a client's local Maildir.
#[derive(Debug, Clone)]
pub struct Local {
    pub path: PathBuf,
    pub subject: String,
    pub flags: Vec<String>,
    pub text: String,
}

/// The messages in one local Maildir folder (cur and new).
pub fn local_folder(dir: &Path) -> Vec<Local> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            let subject = text
                .lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .trim_end_matches('\r')
                .to_string();
            out.push(Local {
                path,
                subject,
                flags: maildir_flags(&name),
                text,
            });
        }
    }
    out.sort_by(|a, b| a.subject.cmp(&b.subject));
    out
}

/// Every file name under `dir`, recursively, relative to it: a snapshot to
/// show that a run changed nothing.
pub fn tree_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Renames a local message file to carry `info` (e.g. "FS") as its flags.
pub fn set_local_flags(msg: &Local, info: &str) {
    let name = msg.path.file_name().unwrap().to_string_lossy().into_owned();
    let base = name.split_once(":2,").map(|(b, _)| b).unwrap_or(&name);
    let folder = msg.path.parent().unwrap().parent().unwrap();
    std::fs::rename(
        &msg.path,
        folder.join("cur").join(format!("{base}:2,{info}")),
    )
    .unwrap();
}

/// Writes a new message into a local Maildir folder (creating it) through
/// tmp/, as a mail program does: into cur/ if `name` carries flags
/// (":2,S"), else into new/.
pub fn local_deliver(folder: &Path, name: &str, text: &str) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(folder.join(sub)).unwrap();
    }
    let dest = if name.contains(":2,") { "cur" } else { "new" };
    std::fs::write(folder.join("tmp").join(name), text).unwrap();
    std::fs::rename(folder.join("tmp").join(name), folder.join(dest).join(name)).unwrap();
}
