//! Differential: the same LMTP transactions through Debian's Dovecot LMTP
//! (dovecot-lmtpd, a private instance on a loopback port) and through
//! Roost's; the replies, the headers each adds and the folders and flags
//! the messages end up with must be the same. Only what names the server
//! differs and is masked: the host in `by`, the session id, the date.

use crate::common::dovecot::{hand_over, mail_uid, running_as_root};
use crate::common::TestServer;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DOVECOT_LMTP: &str = "/usr/lib/dovecot/lmtp";

/// A private Dovecot serving LMTP only; stopped on drop.
pub struct DovecotLmtp {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl DovecotLmtp {
    fn conf(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    pub fn home(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Starts Dovecot with users (password = name) in a passwd-file, as
    /// uid nobody, `+detail` delivered to existing folders.
    pub fn start(users: &[&str]) -> DovecotLmtp {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let uid = mail_uid();
        let mut passwd = String::new();
        for u in users {
            let home = d.join("home").join(u);
            std::fs::create_dir_all(&home).unwrap();
            passwd.push_str(&format!(
                "{u}:{{PLAIN}}{u}:{uid}:{uid}::{}::\n",
                home.display()
            ));
        }
        hand_over(&d.join("home"));
        std::fs::write(d.join("passwd"), passwd).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dd = d.display();
        std::fs::write(
            d.join("dovecot.conf"),
            format!(
                "base_dir = {dd}/run\nstate_dir = {dd}/state\nlog_path = {dd}/dovecot.log\n\
                 listen = 127.0.0.1\nprotocols = lmtp\nssl = no\n\
                 first_valid_uid = {first}\nmail_location = maildir:~/Maildir\n\
                 recipient_delimiter = +\nlmtp_save_to_detail_mailbox = yes\n\
                 passdb {{\n  driver = passwd-file\n  args = username_format=%n {dd}/passwd\n}}\n\
                 userdb {{\n  driver = passwd-file\n  args = username_format=%n {dd}/passwd\n}}\n\
                 service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n}}\n\
                 service anvil {{\n  chroot =\n}}\n",
                first = uid.min(500),
            ),
        )
        .unwrap();
        // The master goes to the background holding whatever stdout and
        // stderr it was given: none, so nothing waits for their end.
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let dv = DovecotLmtp { dir, port };
        assert!(status.success(), "dovecot: {status:?}\n{}", dv.log());
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dovecot never listened:\n{}",
                dv.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dv
    }
}

impl Drop for DovecotLmtp {
    fn drop(&mut self) {
        let _ = Command::new("dovecot")
            .arg("-c")
            .arg(self.conf())
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether Dovecot's LMTP can be run here (root, dovecot-lmtpd installed).
pub fn runnable() -> bool {
    if !running_as_root() {
        eprintln!("note: Dovecot's LMTP needs root to start; skipped");
        return false;
    }
    if !Path::new(DOVECOT_LMTP).exists() {
        let skip = std::env::var("ROOST_SKIP_INTEROP").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            skip,
            "{DOVECOT_LMTP} is missing: install Debian's dovecot-lmtpd (tests/run does)"
        );
        return false;
    }
    true
}

/// One transaction: sender (with parameters), recipients, message as sent
/// on the wire (dot-stuffed, CRLF, without the final `.`).
struct Txn {
    from: &'static str,
    to: &'static [&'static str],
    data: &'static [u8],
}

const TXNS: &[Txn] = &[
    // +detail into an existing folder; and into a missing one (INBOX).
    Txn {
        from: "<bob@example.org>",
        to: &["<alice+lists@example.org>"],
        data: b"From: bob@example.org\r\nSubject: detail\r\n\r\nto the lists folder\r\n..dot\r\n",
    },
    Txn {
        from: "<bob@example.org>",
        to: &["<carol+nosuch@example.org>"],
        data: b"Subject: missing folder\r\n\r\nto INBOX\r\n",
    },
    // Several recipients, one unknown; 8-bit body.
    Txn {
        from: "<bob@example.org> BODY=8BITMIME",
        to: &["<alice@example.org>", "<nobody@example.org>", "<carol@example.org>"],
        data: b"Subject: caf\xc3\xa9 8-bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9, na\xc3\xafve, \xf0\x9f\x98\x80\r\n\xe9 latin-1 byte\r\n",
    },
    // Null sender; headers only, no blank line, no body.
    Txn {
        from: "<>",
        to: &["<carol@example.org>"],
        data: b"Subject: headers only\r\nX-Note: no body",
    },
    // Fields a delivery agent adds are there already.
    Txn {
        from: "<bounce@example.org>",
        to: &["<alice@example.org>"],
        data: b"Return-Path: <old@example.org>\r\nDelivered-To: old@example.org\r\nSubject: forwarded\r\n\r\nbody\r\n",
    },
    // Bare LF line ends and a lone CR.
    Txn {
        from: "<bob@example.org>",
        to: &["<alice@example.org>"],
        data: b"Subject: bare lf\nX: y\n\nline\rwith cr\nlast",
    },
];

/// Runs every transaction over one LMTP connection; the reply codes
/// (`250 2.1.5`…, without the server's wording).
fn deliver_all(port: u16) -> Vec<String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(tcp.try_clone().unwrap());
    let mut w = tcp;
    let mut codes = Vec::new();
    let reply = |r: &mut BufReader<TcpStream>| -> String {
        let mut last = String::new();
        for _ in 0..50 {
            last.clear();
            assert!(r.read_line(&mut last).unwrap() > 0, "connection closed");
            if last.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        let words: Vec<&str> = last.split_whitespace().take(2).collect();
        words.join(" ")
    };
    reply(&mut r);
    w.write_all(b"LHLO mx.example.org\r\n").unwrap();
    reply(&mut r);
    for t in TXNS {
        w.write_all(format!("MAIL FROM:{}\r\n", t.from).as_bytes())
            .unwrap();
        codes.push(reply(&mut r));
        let mut accepted = 0;
        for to in t.to {
            w.write_all(format!("RCPT TO:{to}\r\n").as_bytes()).unwrap();
            let c = reply(&mut r);
            accepted += usize::from(c.starts_with("250"));
            codes.push(c);
        }
        w.write_all(b"DATA\r\n").unwrap();
        codes.push(reply(&mut r).split(' ').next().unwrap().to_string());
        w.write_all(t.data).unwrap();
        w.write_all(b"\r\n.\r\n").unwrap();
        for _ in 0..accepted {
            codes.push(reply(&mut r));
        }
    }
    w.write_all(b"QUIT\r\n").unwrap();
    codes
}

/// Every message under a Maildir: (folder, new|cur, flags, contents with
/// the server's name, the session id and the date masked), sorted.
fn stored(maildir: &Path) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    let mut folders = vec![(String::from("INBOX"), maildir.to_path_buf())];
    for e in std::fs::read_dir(maildir).into_iter().flatten() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && e.path().is_dir() {
            folders.push((name[1..].to_string(), e.path()));
        }
    }
    for (folder, dir) in folders {
        for sub in ["new", "cur"] {
            for f in std::fs::read_dir(dir.join(sub)).into_iter().flatten() {
                let f = f.unwrap();
                let name = f.file_name().to_string_lossy().into_owned();
                let flags = name.split_once(":2,").map_or("", |(_, fl)| fl).to_string();
                let bytes = std::fs::read(f.path()).unwrap();
                out.push((folder.clone(), sub.to_string(), flags, mask(&bytes)));
            }
        }
    }
    out.sort();
    out
}

/// The added `Received:` field with what names the server masked.
fn mask(bytes: &[u8]) -> String {
    // One char per byte: 8-bit bytes compare exactly, valid UTF-8 or not.
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let mut out = String::new();
    let mut in_received = false;
    let mut done = false;
    for line in text.split_inclusive('\n') {
        if !done && line.starts_with("Received: ") {
            in_received = true;
        } else if in_received && !line.starts_with('\t') {
            in_received = false;
            done = true;
        }
        if !in_received {
            out.push_str(line);
            continue;
        }
        let mut l = line.to_string();
        if l.starts_with("\tby ") {
            l = "\tby HOST with LMTP\n".into();
        } else if l.starts_with("\tid ") {
            l = "\tid ID\n".into();
        }
        if let Some((head, _)) = l.rsplit_once("; ") {
            l = format!("{head}; DATE\n");
        }
        out.push_str(&l);
    }
    out
}

#[test]
fn same_replies_headers_folders_and_flags_as_dovecot_lmtp() {
    if !runnable() {
        return;
    }
    let dv = DovecotLmtp::start(&["alice", "carol"]);
    let server = TestServer::builder()
        .user("carol", "carol")
        .opt("lmtp_listen", "127.0.0.1:0")
        .opt("lmtp_save_to_detail_mailbox", "yes")
        .start();
    let log = server.wait_for_log("(lmtp)");
    let roost_port: u16 = log
        .lines()
        .find(|l| l.contains("(lmtp)"))
        .and_then(|l| l.split_whitespace().rev().nth(1))
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let roost_home = |u: &str| server.root().join("home").join(u);
    // The same folder exists on both sides.
    for home in [dv.home("alice"), roost_home("alice")] {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(home.join("Maildir/.lists").join(sub)).unwrap();
        }
    }
    hand_over(&dv.home("alice"));

    let dovecot_codes = deliver_all(dv.port);
    let roost_codes = deliver_all(roost_port);
    assert_eq!(roost_codes, dovecot_codes, "reply codes\n{}", dv.log());

    for (user, n) in [("alice", 4), ("carol", 3)] {
        let want = stored(&dv.home(user).join("Maildir"));
        assert_eq!(want.len(), n, "{user} at Dovecot: {want:#?}");
        let got = stored(&roost_home(user).join("Maildir"));
        assert_eq!(
            want.len(),
            got.len(),
            "{user}: {got:#?}\nDovecot: {want:#?}"
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{user}");
        }
    }
}
