//! Debian's Dovecot as a reference peer: its real `imap` binary run
//! pre-authenticated on a Maildir, fed commands on stdin (package
//! dovecot-imapd). As root it acts as `nobody`: Dovecot refuses root.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const DOVECOT_IMAP: &str = "/usr/lib/dovecot/imap";
const NOBODY: u32 = 65534;

pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The uid both servers act as.
pub fn mail_uid() -> u32 {
    if running_as_root() {
        NOBODY
    } else {
        std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(NOBODY)
    }
}

/// Makes a tree usable by `mail_uid()`: as root, hands it to nobody.
pub fn hand_over(path: &Path) {
    if !running_as_root() {
        return;
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        std::os::unix::fs::chown(&p, Some(NOBODY), Some(NOBODY)).unwrap();
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
}

/// Writes the reference configuration next to `home`, plus `extra`.
fn write_conf(home: &Path, extra: &str) -> std::path::PathBuf {
    let conf = home.parent().unwrap().join("dovecot-ref.conf");
    let uid = mail_uid();
    std::fs::write(
        &conf,
        format!(
            "log_path = /dev/stderr\nmail_location = maildir:~/Maildir\nmail_uid = {uid}\nmail_gid = {uid}\n\
             first_valid_uid = {uid}\nfirst_valid_gid = 0\n{extra}"
        ),
    )
    .unwrap();
    conf
}

/// Starts Dovecot's imap binary pre-authenticated as `alice` on `home`,
/// stdin and stdout piped, stderr discarded.
pub fn spawn(home: &Path) -> std::process::Child {
    spawn_with(home, "")
}

/// `spawn` with more configuration lines (plugins, their settings).
pub fn spawn_with(home: &Path, extra_conf: &str) -> std::process::Child {
    assert!(
        Path::new(DOVECOT_IMAP).exists(),
        "{DOVECOT_IMAP} is missing: install Debian's dovecot-imapd (see README)"
    );
    let conf = write_conf(home, extra_conf);
    Command::new(DOVECOT_IMAP)
        .arg("-c")
        .arg(&conf)
        .env_clear()
        .env("USER", "alice")
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the dovecot imap binary")
}

/// A long-lived Dovecot session, for interleaving with Roost's.
pub struct DovecotSession {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    n: u32,
}

impl DovecotSession {
    pub fn start(home: &Path) -> DovecotSession {
        Self::start_with(home, "")
    }

    /// `start` with more configuration lines.
    pub fn start_with(home: &Path, extra_conf: &str) -> DovecotSession {
        let mut child = spawn_with(home, extra_conf);
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = DovecotSession {
            child,
            stdin,
            lines,
            n: 0,
        };
        let greeting = s.next_line();
        assert!(greeting.starts_with("* PREAUTH"), "{greeting}");
        s
    }

    /// One response line, with any literal it ends in joined in (CRLF
    /// restored), as `Client::line` does for Roost.
    fn next_line(&mut self) -> String {
        let mut line = self.raw_line();
        loop {
            let literal = line
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            let Some(mut left) = literal else { return line };
            line.push_str("\r\n");
            // The literal's bytes arrive as lines; put their CRLFs back.
            let mut at_boundary = left == 0;
            while left > 0 {
                let next = self.raw_line();
                let take = next.len() + 2;
                line.push_str(&next);
                if take <= left {
                    line.push_str("\r\n");
                    left -= take;
                    at_boundary = left == 0;
                } else {
                    // The literal ended inside this line: the rest of the
                    // line is response syntax after the literal.
                    left = 0;
                }
            }
            if at_boundary {
                // The response goes on in the next line.
                let rest = self.raw_line();
                line.push_str(&rest);
            }
        }
    }

    fn raw_line(&mut self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .expect("dovecot answered within 30 s")
    }

    /// Runs one command; returns (untagged lines, tagged status text).
    pub fn cmd(&mut self, command: &str) -> (Vec<String>, String) {
        self.n += 1;
        let tag = format!("s{}", self.n);
        self.stdin
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .unwrap();
        self.stdin.flush().unwrap();
        let mut untagged = Vec::new();
        loop {
            let line = self.next_line();
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return (untagged, rest.to_string());
            }
            untagged.push(line);
        }
    }
}

impl Drop for DovecotSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs Dovecot's imap binary on `home`'s Maildir with these commands,
/// one after the other (tagged `d1`, `d2`, …, then `dz LOGOUT`), and
/// returns its output lines, tagged ones included.
pub fn dovecot(home: &Path, commands: &[String]) -> Vec<String> {
    let mut session = DovecotSession::start(home);
    let mut lines = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        let (untagged, tagged) = session.cmd(c);
        lines.extend(untagged);
        lines.push(format!("d{} {tagged}", i + 1));
    }
    let (untagged, tagged) = session.cmd("LOGOUT");
    lines.extend(untagged);
    assert!(tagged.starts_with("OK"), "dovecot LOGOUT: {tagged}");
    lines.push(format!("dz {tagged}"));
    lines
}
