//! Protocol trace: a readable `C:`/`S:` transcript of one session, with
//! timestamps, for an admin who needs to see why a client misbehaves.
//!
//! Enabled by `trace_dir`; `trace_users` / `trace_addresses` narrow it. When
//! only users are named, the session is held in memory (bounded) until LOGIN
//! decides whether it is traced. Passwords and SASL exchanges never reach
//! the file, and literals longer than `MAX_LITERAL_SHOWN` appear as a size.

use crate::datetime::Utc;
use crate::proto::reader::{literal_marker, Framed};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// Literal data up to this size is shown; longer is replaced by its size.
pub const MAX_LITERAL_SHOWN: usize = 1024;
/// Pre-login transcript kept while waiting to learn the user.
const MAX_PENDING: usize = 64 * 1024;

/// What the server wants traced; built once from the configuration.
#[derive(Clone, Debug, Default)]
pub struct TracePolicy {
    pub dir: Option<PathBuf>,
    pub users: Vec<String>,
    pub addresses: Vec<IpAddr>,
}

enum Sink {
    Off,
    /// Waiting for LOGIN to decide (only `trace_users` set).
    Pending(Vec<u8>),
    File(File),
}

/// The transcript of one session.
pub struct Trace {
    sink: Sink,
    policy_users: Vec<String>,
    path: Option<PathBuf>,
}

impl Trace {
    pub fn off() -> Trace {
        Trace {
            sink: Sink::Off,
            policy_users: Vec::new(),
            path: None,
        }
    }

    /// Starts the trace for a new connection, per the policy.
    pub fn start(policy: &TracePolicy, session_id: &str, peer: IpAddr) -> Trace {
        let Some(dir) = &policy.dir else {
            return Trace::off();
        };
        if !policy.addresses.is_empty() && !policy.addresses.contains(&peer) {
            return Trace::off();
        }
        let path = dir.join(format!("{}-{}.trace", Utc::now().compact(), session_id));
        let mut t = Trace {
            sink: Sink::Off,
            policy_users: policy.users.clone(),
            path: Some(path),
        };
        if policy.users.is_empty() {
            t.open_file();
        } else {
            t.sink = Sink::Pending(Vec::new());
        }
        t.note(&format!("session {session_id} from {peer}"));
        t
    }

    fn open_file(&mut self) {
        let Some(path) = &self.path else { return };
        // Transcripts hold mail: readable by the server's user only.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path);
        match file {
            Ok(f) => self.sink = Sink::File(f),
            Err(e) => {
                log::warn!("trace: cannot open {}: {e}", path.display());
                self.sink = Sink::Off;
            }
        }
    }

    /// Called after a successful login: decides a pending trace.
    pub fn logged_in(&mut self, user: &str) {
        if let Sink::Pending(buf) = &mut self.sink {
            let buf = std::mem::take(buf);
            if self.policy_users.iter().any(|u| u == user) {
                self.open_file();
                self.write(&buf);
            } else {
                self.sink = Sink::Off;
            }
        }
    }

    pub fn is_on(&self) -> bool {
        !matches!(self.sink, Sink::Off)
    }

    /// A remark from the server itself (`#` lines).
    pub fn note(&mut self, text: &str) {
        if self.is_on() {
            let line = format!("{} # {}\n", Utc::now().time_millis(), text);
            self.write(line.as_bytes());
        }
    }

    /// A command from the client. `secret_from`: byte offset after which the
    /// command holds a secret (LOGIN password, SASL initial response).
    pub fn client(&mut self, framed: &Framed, secret_from: Option<usize>) {
        if !self.is_on() {
            return;
        }
        let mut shown = Vec::with_capacity(framed.bytes.len().min(4096));
        let mut pos = 0;
        let end = secret_from
            .unwrap_or(framed.bytes.len())
            .min(framed.bytes.len());
        for &(start, len) in &framed.literals {
            if start >= end {
                break;
            }
            shown.extend_from_slice(&framed.bytes[pos..start]);
            if len > MAX_LITERAL_SHOWN {
                shown.extend_from_slice(format!("<{len} bytes not shown>").as_bytes());
            } else {
                shown.extend_from_slice(&framed.bytes[start..(start + len).min(end)]);
            }
            pos = start + len;
        }
        if pos < end {
            shown.extend_from_slice(&framed.bytes[pos..end]);
        }
        if secret_from.is_some() {
            shown.extend_from_slice(b"<hidden>");
        }
        self.lines("C: ", &shown);
    }

    /// A client line that carries a secret (a SASL response): only its size.
    pub fn client_secret_line(&mut self, len: usize) {
        if self.is_on() {
            self.lines("C: ", format!("<hidden, {len} bytes>").as_bytes());
        }
    }

    /// Bytes the server sent; long literals are shown by size.
    pub fn server(&mut self, bytes: &[u8]) {
        if !self.is_on() {
            return;
        }
        let mut shown = Vec::with_capacity(bytes.len().min(8192));
        let mut rest = bytes;
        while !rest.is_empty() {
            let line_end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let line = &rest[..line_end];
            shown.extend_from_slice(line);
            rest = &rest[line_end..];
            let bare = line.strip_suffix(b"\n").unwrap_or(line);
            let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
            if let Some((n, _)) = literal_marker(bare) {
                let n = usize::try_from(n).unwrap_or(usize::MAX).min(rest.len());
                if n > MAX_LITERAL_SHOWN {
                    shown.extend_from_slice(format!("<{n} bytes not shown>").as_bytes());
                } else {
                    shown.extend_from_slice(&rest[..n]);
                }
                rest = &rest[n..];
            }
        }
        let trimmed = shown.strip_suffix(b"\r\n").unwrap_or(&shown);
        self.lines("S: ", trimmed);
    }

    /// Writes `text` as timestamped lines, each prefixed.
    fn lines(&mut self, prefix: &str, text: &[u8]) {
        let stamp = Utc::now().time_millis();
        let mut out = Vec::with_capacity(text.len() + 32);
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            out.extend_from_slice(stamp.as_bytes());
            out.push(b' ');
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        self.write(&out);
    }

    fn write(&mut self, bytes: &[u8]) {
        match &mut self.sink {
            Sink::Off => {}
            Sink::Pending(buf) => {
                if buf.len() + bytes.len() <= MAX_PENDING {
                    buf.extend_from_slice(bytes);
                }
            }
            Sink::File(f) => {
                if let Err(e) = f.write_all(bytes) {
                    log::warn!("trace: write failed, tracing stops for this session: {e}");
                    self.sink = Sink::Off;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traced(users: &[&str]) -> (tempfile::TempDir, Trace) {
        let dir = tempfile::tempdir().unwrap();
        let policy = TracePolicy {
            dir: Some(dir.path().to_path_buf()),
            users: users.iter().map(|s| s.to_string()).collect(),
            addresses: vec![],
        };
        let t = Trace::start(&policy, "abc", "127.0.0.1".parse().unwrap());
        (dir, t)
    }

    fn contents(dir: &tempfile::TempDir) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(dir.path()).unwrap() {
            out.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
        out
    }

    #[test]
    fn redacts_secrets_and_long_literals() {
        let (dir, mut t) = traced(&[]);
        let login = Framed {
            bytes: b"a LOGIN demo hunter2".to_vec(),
            literals: vec![],
            spooled: vec![],
        };
        t.client(&login, Some(13));
        let mut append = b"b APPEND INBOX {2000}\r\n".to_vec();
        append.extend(std::iter::repeat_n(b'x', 2000));
        t.client(
            &Framed {
                bytes: append,
                literals: vec![(23, 2000)],
                spooled: vec![],
            },
            None,
        );
        t.server(b"* 1 FETCH (BODY[] {1500}\r\n");
        t.server(&[b'y'; 1500]);
        t.server(b"* 2 FETCH (BODY[] {5}\r\nhello)\r\nc OK done\r\n");
        t.client_secret_line(20);
        drop(t);
        let text = contents(&dir);
        assert!(text.contains("C: a LOGIN demo <hidden>"), "{text}");
        assert!(!text.contains("hunter2"));
        assert!(text.contains("C: b APPEND INBOX {2000}"));
        assert!(text.contains("<2000 bytes not shown>"));
        assert!(!text.contains("xxxxxxxx"));
        assert!(text.contains("S: hello)"));
        assert!(text.contains("C: <hidden, 20 bytes>"));
    }

    #[test]
    fn user_filter_decides_at_login() {
        let (dir, mut t) = traced(&["alice"]);
        t.client(
            &Framed {
                bytes: b"a CAPABILITY".to_vec(),
                literals: vec![],
                spooled: vec![],
            },
            None,
        );
        t.logged_in("bob");
        assert!(!t.is_on());
        drop(t);
        assert_eq!(contents(&dir), "");

        let (dir, mut t) = traced(&["alice"]);
        t.client(
            &Framed {
                bytes: b"a CAPABILITY".to_vec(),
                literals: vec![],
                spooled: vec![],
            },
            None,
        );
        t.logged_in("alice");
        t.server(b"a OK\r\n");
        drop(t);
        let text = contents(&dir);
        assert!(
            text.contains("C: a CAPABILITY") && text.contains("S: a OK"),
            "{text}"
        );
    }
}
