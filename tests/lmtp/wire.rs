//! LMTP (RFC 2033) over a real Unix socket against the real binary.

use crate::common::TestServer;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A raw LMTP client.
pub struct Lmtp {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Lmtp {
    pub fn connect(sock: &Path) -> Lmtp {
        let s = UnixStream::connect(sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Lmtp {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        let greeting = c.reply();
        assert!(greeting[0].starts_with("220 "), "{greeting:?}");
        c
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    /// Sends what may meet a connection the server already closed.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    /// One reply, all its lines.
    pub fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                self.r.read_line(&mut line).unwrap() > 0,
                "closed after {lines:?}"
            );
            let line = line.trim_end().to_string();
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line);
            if !more {
                return lines;
            }
        }
    }

    /// Sends a command line and returns the (last line of the) reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply().pop().unwrap()
    }

    pub fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(self.r.read_line(&mut line), Ok(0))
    }

    /// Closed, or reset because the server hung up on unread input (what
    /// Linux reports on a Unix socket closed with data still queued).
    pub fn hung_up(&mut self) -> bool {
        let mut line = String::new();
        match self.r.read_line(&mut line) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// A server with LMTP on a Unix socket; the socket's path.
pub fn lmtp_server(extra: &[(&str, &str)]) -> (TestServer, tempfile::TempDir, PathBuf) {
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("lmtp");
    let mut b = TestServer::builder()
        .user("carol", "pw")
        .opt("lmtp_listen", &format!("unix:{}", sock.display()));
    for (k, v) in extra {
        b = b.opt(k, v);
    }
    let server = b.start();
    (server, sock_dir, sock)
}

pub fn new_paths(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir.join("new")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

pub fn new_files(dir: &Path) -> Vec<Vec<u8>> {
    match std::fs::read_dir(dir.join("new")) {
        Ok(entries) => entries
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A stored message without the `Received:` field LMTP adds (checked to
/// be there, after Return-Path and any Delivered-To, and to name the
/// recipient when there was only one).
pub fn without_received(msg: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(msg);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at = if lines[1].starts_with("Delivered-To: ") {
        2
    } else {
        1
    };
    assert!(lines[at].starts_with("Received: from "), "{text}");
    let fields = lines[at..]
        .iter()
        .take_while(|l| l.starts_with('\t') || l.starts_with("Received:"));
    let received: String = fields.clone().copied().collect();
    assert!(received.contains(" with LMTP\n\tid "), "{received}");
    assert_eq!(received.contains("\tfor <"), at == 2, "{received}");
    let n = fields.count();
    let mut out: Vec<u8> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if !(at..at + n).contains(&i) {
            out.extend_from_slice(l.as_bytes());
        }
    }
    out
}

pub fn maildir(server: &TestServer, user: &str) -> PathBuf {
    server.root().join("home").join(user).join("Maildir")
}

const WIRE_MSG: &[u8] =
    b"From: bob@example.org\r\nSubject: hi\r\n\r\nline one\r\n..starts with a dot\r\n.\r\n";
const STORED_MSG: &[u8] = b"From: bob@example.org\nSubject: hi\n\nline one\n.starts with a dot\n";

#[test]
fn one_message_to_several_recipients_gets_one_reply_and_one_copy_each() {
    let (server, _d, sock) = lmtp_server(&[]);
    let mut c = Lmtp::connect(&sock);
    assert!(c.cmd("MAIL FROM:<bob@example.org>").starts_with("503 "));
    c.send(b"LHLO mx.example.org\r\n");
    let caps = c.reply();
    for cap in [
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "SMTPUTF8",
        "SIZE 52428800",
    ] {
        assert!(
            caps.iter().any(|l| l[4..] == *cap),
            "{cap} missing: {caps:?}"
        );
    }
    assert_eq!(
        c.cmd("MAIL FROM:<bob@example.org> SIZE=100 BODY=8BITMIME"),
        "250 2.1.0 OK"
    );
    assert_eq!(c.cmd("RCPT TO:<alice>"), "250 2.1.5 OK");
    let unknown = c.cmd("RCPT TO:<nobody@example.org>");
    assert!(unknown.starts_with("550 5.1.1 "), "{unknown}");
    assert_eq!(c.cmd("RCPT TO:<carol+x@example.org>"), "250 2.1.5 OK");
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(WIRE_MSG);
    assert_eq!(c.reply(), ["250 2.0.0 <alice> Saved"]);
    assert_eq!(c.reply(), ["250 2.0.0 <carol+x@example.org> Saved"]);
    // Several recipients: as in Dovecot, no Delivered-To and no `for`, so
    // one file serves both, hard-linked (same file system, same owner).
    let mut shared = b"Return-Path: <bob@example.org>\n".to_vec();
    shared.extend_from_slice(STORED_MSG);
    let alice_paths = new_paths(&maildir(&server, "alice"));
    let carol_paths = new_paths(&maildir(&server, "carol"));
    assert_eq!((alice_paths.len(), carol_paths.len()), (1, 1));
    let raw = std::fs::read(&alice_paths[0]).unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("\nReceived: from mx.example.org (local)\n\tby "),
        "{text}"
    );
    assert_eq!(without_received(&raw), shared);
    assert_eq!(std::fs::read(&carol_paths[0]).unwrap(), raw);
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (
        std::fs::metadata(&alice_paths[0]).unwrap(),
        std::fs::metadata(&carol_paths[0]).unwrap(),
    );
    assert_eq!((a.dev(), a.ino(), a.nlink()), (b.dev(), b.ino(), 2));
    // One recipient: Delivered-To and `for <…>` name it.
    c.send(b"MAIL FROM:<bob@example.org>\r\nRCPT TO:<carol+x@example.org>\r\nDATA\r\n");
    assert_eq!(c.reply(), ["250 2.1.0 OK"]);
    assert_eq!(c.reply(), ["250 2.1.5 OK"]);
    assert!(c.reply()[0].starts_with("354 "));
    c.send(WIRE_MSG);
    assert_eq!(c.reply(), ["250 2.0.0 <carol+x@example.org> Saved"]);
    let mut carol = b"Return-Path: <bob@example.org>\nDelivered-To: carol+x@example.org\n".to_vec();
    carol.extend_from_slice(STORED_MSG);
    let stored: Vec<Vec<u8>> = new_files(&maildir(&server, "carol"))
        .iter()
        .map(|m| without_received(m))
        .filter(|m| m.starts_with(b"Return-Path: <bob@example.org>\nDelivered-To: "))
        .collect();
    assert_eq!(stored, vec![carol]);
    // A second transaction on the same connection, pipelined.
    c.send(b"MAIL FROM:<>\r\nRCPT TO:<alice>\r\nDATA\r\n");
    assert_eq!(c.reply(), ["250 2.1.0 OK"]);
    assert_eq!(c.reply(), ["250 2.1.5 OK"]);
    assert!(c.reply()[0].starts_with("354 "));
    c.send(b"x\r\n.\r\n");
    assert_eq!(c.reply(), ["250 2.0.0 <alice> Saved"]);
    assert_eq!(new_files(&maildir(&server, "alice")).len(), 2);
    assert_eq!(new_files(&maildir(&server, "carol")).len(), 2);
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(c.closed());
    server.wait_for_log("rcpt=<carol+x@example.org> user=carol size=");
}

#[test]
fn detail_goes_to_its_folder_and_idle_sees_inbox_delivery() {
    let (server, _d, sock) = lmtp_server(&[("lmtp_save_to_detail_mailbox", "yes")]);
    let mut imap = server.login();
    imap.ok("CREATE Lists");
    imap.ok("SELECT INBOX");
    imap.send(b"i1 IDLE\r\n");
    assert_eq!(imap.line(), "+ idling");
    let mut c = Lmtp::connect(&sock);
    c.cmd("LHLO mx");
    for rcpt in ["alice+Lists@example.org", "alice+Nope"] {
        c.send(format!("MAIL FROM:<bob@example.org>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n").as_bytes());
        for _ in 0..2 {
            assert!(c.reply()[0].starts_with("250 "));
        }
        assert!(c.reply()[0].starts_with("354 "));
        c.send(WIRE_MSG);
        assert!(c.reply()[0].starts_with("250 2.0.0"));
    }
    let md = maildir(&server, "alice");
    assert_eq!(new_files(&md.join(".Lists")).len(), 1);
    assert_eq!(new_files(&md).len(), 1, "a missing folder means INBOX");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no EXISTS");
        if imap.line() == "* 1 EXISTS" {
            break;
        }
    }
    imap.send(b"DONE\r\n");
    imap.read_reply("i1");
    let r = imap.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (DELIVERED-TO)]");
    assert!(
        r.untagged.join("\n").contains("Delivered-To: alice+Nope"),
        "{r:?}"
    );
}

#[test]
fn hostile_input_gets_replies_and_the_session_goes_on() {
    let (server, _d, sock) = lmtp_server(&[("max_append_size", "2048")]);
    let mut c = Lmtp::connect(&sock);
    assert!(c.cmd("EHLO mx").starts_with("500 5.5.1"));
    assert!(c.cmd("LHLO").starts_with("501 "));
    c.cmd("LHLO mx");
    assert!(c.cmd("RCPT TO:<alice>").starts_with("503 "));
    assert!(c.cmd("DATA").starts_with("503 "));
    assert!(c.cmd("VRFY alice").starts_with("502 "));
    assert!(c.cmd("BDAT 10 LAST").starts_with("500 "));
    assert!(c.cmd("").starts_with("500 "));
    c.send(b"MAIL FROM:<a\0b>\r\n");
    assert!(c.reply()[0].starts_with("500 "));
    c.send(b"\xff\xfe\xfd\r\n");
    assert!(c.reply()[0].starts_with("500 "));
    let long = format!("NOOP {}\r\n", "x".repeat(100_000));
    c.send(long.as_bytes());
    assert_eq!(c.reply(), ["500 5.5.2 Line too long"]);
    assert!(c
        .cmd("MAIL FROM:<bob> SIZE=999999")
        .starts_with("552 5.3.4"));
    assert!(c.cmd("MAIL FROM:<bob> BODY=BINARYMIME").starts_with("501 "));
    assert!(c.cmd("MAIL FROM:<bob> FOO=1").starts_with("555 "));
    assert!(c.cmd("MAIL FROM:bob").starts_with("501 "));
    assert_eq!(c.cmd("MAIL FROM:<bob>"), "250 2.1.0 OK");
    assert!(c.cmd("MAIL FROM:<bob>").starts_with("503 "));
    assert!(c.cmd("RCPT TO:<../../etc/passwd>").starts_with("550 5.1.1"));
    assert!(c.cmd("RCPT TO:<>").starts_with("501 "));
    assert!(c.cmd("DATA").starts_with("503 "), "no valid recipients");
    assert_eq!(c.cmd("RCPT TO:<alice>"), "250 2.1.5 OK");
    assert!(c.cmd("DATA").starts_with("354 "));
    // Over max_append_size: refused, nothing stored, the session goes on.
    for _ in 0..100 {
        c.send(b"0123456789012345678901234567890123456789\r\n");
    }
    c.send(b".\r\n");
    assert_eq!(c.reply(), ["552 5.3.4 <alice> Message too large"]);
    let md = maildir(&server, "alice");
    assert!(new_files(&md).is_empty());
    assert_eq!(std::fs::read_dir(md.join("tmp")).unwrap().count(), 0);
    assert_eq!(c.cmd("RSET"), "250 2.0.0 OK");
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK");
    // A client that vanishes mid-DATA leaves nothing behind.
    c.send(b"MAIL FROM:<bob>\r\nRCPT TO:<alice>\r\nDATA\r\nhalf a mess");
    drop(c);
    let mut again = Lmtp::connect(&sock);
    assert_eq!(again.cmd("NOOP"), "250 2.0.0 OK");
    assert!(new_files(&md).is_empty());
    // Twenty bad commands in a row end the session.
    for _ in 0..19 {
        assert!(again.cmd("BOGUS").starts_with("500 "));
    }
    again.send(b"BOGUS\r\n");
    assert!(again.reply()[0].starts_with("500 "));
    assert!(again.reply()[0].starts_with("421 "));
    assert!(again.closed());
}

#[test]
fn disk_trouble_is_a_temporary_failure_and_loses_nothing() {
    let (server, _d, sock) = lmtp_server(&[]);
    let md = maildir(&server, "alice");
    roost::store::deliver::ensure_inbox(&md).unwrap();
    let elsewhere = server.root().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_dir(md.join("new")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, md.join("new")).unwrap();
    let mut c = Lmtp::connect(&sock);
    c.cmd("LHLO mx");
    c.send(b"MAIL FROM:<bob>\r\nRCPT TO:<alice>\r\nRCPT TO:<carol>\r\nDATA\r\n");
    for _ in 0..3 {
        assert!(c.reply()[0].starts_with("250 "));
    }
    assert!(c.reply()[0].starts_with("354 "));
    c.send(WIRE_MSG);
    let first = c.reply();
    assert!(first[0].starts_with("452 4.3.1 <alice>"), "{first:?}");
    assert_eq!(c.reply(), ["250 2.0.0 <carol> Saved"]);
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(md.join("tmp")).unwrap().count(), 0);
    server.wait_for_log("rcpt=<alice> user=alice not delivered (will be retried)");
}

#[test]
fn a_large_message_streams_to_disk() {
    // 24 MB through a server whose memory stays far below it.
    let (server, _d, sock) = lmtp_server(&[("max_append_size", "67108864")]);
    let mut c = Lmtp::connect(&sock);
    c.cmd("LHLO mx");
    c.send(b"MAIL FROM:<bob>\r\nRCPT TO:<alice>\r\nDATA\r\n");
    c.reply();
    c.reply();
    assert!(c.reply()[0].starts_with("354 "));
    c.send(b"Subject: big\r\n\r\n");
    let line = [b'y'; 998];
    let mut block = Vec::new();
    for _ in 0..1024 {
        block.extend_from_slice(&line);
        block.extend_from_slice(b"\r\n");
    }
    for _ in 0..24 {
        c.send(&block);
    }
    c.send(b".\r\n");
    assert_eq!(c.reply(), ["250 2.0.0 <alice> Saved"]);
    let files = std::fs::read_dir(maildir(&server, "alice").join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    assert_eq!(files.len(), 1);
    let size = std::fs::metadata(&files[0]).unwrap().len();
    let head = std::fs::read(&files[0]).unwrap()[..4096].to_vec();
    let added = head.len() - without_received(&head).len();
    let header = "Return-Path: <bob>\nDelivered-To: alice\nSubject: big\n\n".len();
    assert_eq!(size, (added + header) as u64 + 24 * 1024 * 999);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let hwm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(hwm_kb < 20 * 1024, "peak memory {hwm_kb} kB");
}

#[test]
fn lmtp_over_tcp_on_loopback() {
    let server = TestServer::builder()
        .opt("lmtp_listen", "127.0.0.1:0")
        .start();
    let log = server.wait_for_log("(lmtp)");
    let port: u16 = log
        .lines()
        .find(|l| l.contains("(lmtp)"))
        .and_then(|l| l.split_whitespace().rev().nth(1))
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(tcp.try_clone().unwrap());
    let mut w = tcp;
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");
    w.write_all(b"LHLO mx\r\nMAIL FROM:<b@x>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        .unwrap();
    let mut last = String::new();
    for _ in 0..20 {
        last.clear();
        r.read_line(&mut last).unwrap();
        if last.starts_with("354") {
            break;
        }
    }
    assert!(last.starts_with("354 "), "{last}");
    w.write_all(b"Subject: tcp\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        .unwrap();
    last.clear();
    r.read_line(&mut last).unwrap();
    assert_eq!(last.trim_end(), "250 2.0.0 <alice@example.org> Saved");
    assert_eq!(new_files(&maildir(&server, "alice")).len(), 1);
}

#[test]
fn unix_sockets_get_their_mode_and_owner_and_are_not_stolen() {
    use std::os::unix::fs::MetadataExt;
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join("lmtp");
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut b = TestServer::builder()
        .opt("lmtp_listen", &format!("unix:{}", sock.display()))
        .opt("unix_socket_mode", "0620");
    if is_root {
        b = b
            .opt("unix_socket_owner", "65534")
            .opt("unix_socket_group", "65534");
    }
    let server = b.start();
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o620);
    if is_root {
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }
    // A second server on the same socket refuses to start; the first
    // keeps serving.
    let conf = server.root().join("roost2.conf");
    let text = std::fs::read_to_string(server.root().join("roost.conf")).unwrap();
    std::fs::write(
        &conf,
        text.replace("listen = 127.0.0.1:0\n", "listen = 127.0.0.1:0\n# second\n"),
    )
    .unwrap();
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["serve", "-c"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second server started on a socket in use");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("in use by another running server"), "{err}");
    let mut c = Lmtp::connect(&sock);
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK");
    // A stale socket (the server gone) is replaced on the next start.
    drop(c);
    drop(server);
    assert!(sock.exists());
    let _again = TestServer::builder()
        .opt("lmtp_listen", &format!("unix:{}", sock.display()))
        .start();
    let mut c = Lmtp::connect(&sock);
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK");
}

#[test]
fn several_recipients_on_other_file_systems_get_their_own_copies() {
    // /dev/shm is a tmpfs, the test trees are not: a link between them
    // fails with EXDEV and the second copy is written out instead.
    let shm = Path::new("/dev/shm");
    let other_fs = match tempfile::tempdir_in(shm) {
        Ok(d) => d,
        Err(_) => {
            eprintln!("note: no /dev/shm; skipped");
            return;
        }
    };
    use std::os::unix::fs::MetadataExt;
    let sock_dir = tempfile::tempdir().unwrap();
    if std::fs::metadata(shm).unwrap().dev() == std::fs::metadata(sock_dir.path()).unwrap().dev() {
        eprintln!("note: /dev/shm is on the test trees' file system; skipped");
        return;
    }
    let sock = sock_dir.path().join("lmtp");
    let server = TestServer::builder()
        .passwd_line(&format!(
            "dave:{{PLAIN}}pw::::{}/dave::",
            other_fs.path().display()
        ))
        .opt("lmtp_listen", &format!("unix:{}", sock.display()))
        .start();
    let mut c = Lmtp::connect(&sock);
    c.cmd("LHLO mx");
    c.send(b"MAIL FROM:<bob@example.org>\r\nRCPT TO:<alice>\r\nRCPT TO:<dave>\r\nDATA\r\n");
    for _ in 0..3 {
        assert!(c.reply()[0].starts_with("250 "));
    }
    assert!(c.reply()[0].starts_with("354 "));
    c.send(WIRE_MSG);
    assert_eq!(c.reply(), ["250 2.0.0 <alice> Saved"]);
    assert_eq!(c.reply(), ["250 2.0.0 <dave> Saved"]);
    let alice = new_paths(&maildir(&server, "alice"));
    let dave = new_paths(&other_fs.path().join("dave/Maildir"));
    assert_eq!((alice.len(), dave.len()), (1, 1));
    assert_eq!(
        std::fs::read(&alice[0]).unwrap(),
        std::fs::read(&dave[0]).unwrap()
    );
    assert_eq!(std::fs::metadata(&alice[0]).unwrap().nlink(), 1);
    assert_eq!(std::fs::metadata(&dave[0]).unwrap().nlink(), 1);
}
