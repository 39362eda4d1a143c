//! QUOTA (RFC 9208) kept in Maildir++ `maildirsize`, as Dovecot's maildir
//! quota keeps it: limits from `quota_rule` and the users file, enforced
//! on APPEND, COPY and LMTP, and a tree moved between Roost and Dovecot
//! keeps its counts.

use crate::common::dovecot::{hand_over, mail_uid, DovecotSession};
use crate::common::{Client, TestServer};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// 17 bytes on disk with LF (Dovecot's), 19 with CRLF (as sent).
const MSG: &str = "Subject: x\r\n\r\nhello";

fn quota_lines(c: &mut Client, cmd: &str) -> Vec<String> {
    c.ok(cmd).untagged
}

fn maildirsize(md: &Path) -> String {
    std::fs::read_to_string(md.join("maildirsize")).unwrap_or_default()
}

#[test]
fn usage_limits_and_refusals_over_imap() {
    let server = TestServer::builder()
        .opt("quota_rule", "*:storage=1M")
        .opt("quota_rule2", "*:messages=3")
        .start();
    let md = server.root().join("home/alice/Maildir");
    let mut c = server.login();
    let caps = c.capabilities();
    for cap in ["QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"] {
        assert!(caps.iter().any(|c| c == cap), "{cap} missing: {caps:?}");
    }
    assert_eq!(
        quota_lines(&mut c, "GETQUOTAROOT INBOX"),
        [
            "* QUOTAROOT INBOX \"User quota\"",
            "* QUOTA \"User quota\" (STORAGE 0 1024 MESSAGE 0 3)"
        ]
    );
    assert_eq!(maildirsize(&md), "1048576S,3C\n0 0\n");
    c.append("INBOX", "", MSG);
    assert_eq!(
        quota_lines(&mut c, "GETQUOTA \"User quota\""),
        ["* QUOTA \"User quota\" (STORAGE 1 1024 MESSAGE 1 3)"]
    );
    c.ok("CREATE Archive");
    c.ok("SELECT INBOX");
    c.ok("COPY 1 INBOX");
    c.ok("COPY 1 Archive");
    // Full: COPY, APPEND and MULTIAPPEND are refused whole, nothing stored.
    let full = "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)";
    assert!(c.cmd("COPY 1 INBOX").tagged.starts_with(full));
    let r = c.cmd(&format!("APPEND Archive {{{}+}}\r\n{MSG}", MSG.len()));
    assert!(r.tagged.starts_with(full), "{r:?}");
    let r = c.cmd(&format!(
        "APPEND Archive {{{n}+}}\r\n{MSG} {{{n}+}}\r\n{MSG}",
        n = MSG.len()
    ));
    assert!(r.tagged.starts_with(full), "{r:?}");
    let r = c.ok("STATUS Archive (MESSAGES)");
    assert_eq!(r.untagged, ["* STATUS Archive (MESSAGES 1)"]);
    // A MOVE stays within the user: allowed when full, usage unchanged.
    c.ok("MOVE 2 Archive");
    assert_eq!(
        quota_lines(&mut c, "GETQUOTAROOT Archive"),
        [
            "* QUOTAROOT Archive \"User quota\"",
            "* QUOTA \"User quota\" (STORAGE 1 1024 MESSAGE 3 3)"
        ]
    );
    // An expunge gives room back.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    assert_eq!(
        quota_lines(&mut c, "GETQUOTA \"User quota\""),
        ["* QUOTA \"User quota\" (STORAGE 1 1024 MESSAGE 2 3)"]
    );
    assert_eq!(
        maildirsize(&md),
        "1048576S,3C\n0 0\n19 1\n19 1\n19 1\n-19 -1\n"
    );
    // A file deleted behind the server's back: the totals are summed again.
    let cur = md.join(".Archive/cur");
    let victim = std::fs::read_dir(&cur).unwrap().next().unwrap().unwrap();
    std::fs::remove_file(victim.path()).unwrap();
    c.ok("SELECT Archive");
    assert_eq!(
        quota_lines(&mut c, "GETQUOTA \"User quota\""),
        ["* QUOTA \"User quota\" (STORAGE 1 1024 MESSAGE 1 3)"]
    );
    assert_eq!(maildirsize(&md), "1048576S,3C\n19 1\n");
    // Other roots, SETQUOTA, bad syntax: answered, the session goes on.
    assert!(c.cmd("GETQUOTA \"\"").tagged.starts_with("NO "));
    assert!(c
        .cmd("SETQUOTA \"User quota\" (STORAGE 10)")
        .tagged
        .starts_with("NO "));
    assert!(c
        .cmd("SETQUOTA \"User quota\" (STORAGE)")
        .tagged
        .starts_with("BAD "));
    assert!(c.cmd("GETQUOTA").tagged.starts_with("BAD "));
    assert!(c.cmd("GETQUOTAROOT").tagged.starts_with("BAD "));
    c.ok("NOOP");
}

#[test]
fn the_users_file_sets_each_users_limits() {
    let server = TestServer::builder()
        .opt("quota_rule", "*:storage=1G")
        .user("bob", "pw")
        .start();
    // carol's extra field (the 8th) replaces the default rule.
    let line = crate::common::passwd_line(&server.root(), "carol", "pw");
    let passwd = server.root().join("passwd");
    let mut all = std::fs::read_to_string(&passwd).unwrap();
    all.push_str(&format!(
        "{}userdb_quota_rule=*:messages=1\n",
        line.trim_end()
    ));
    std::fs::write(&passwd, all).unwrap();

    let mut bob = server.login_as("bob", "pw");
    assert_eq!(
        quota_lines(&mut bob, "GETQUOTAROOT INBOX"),
        [
            "* QUOTAROOT INBOX \"User quota\"",
            "* QUOTA \"User quota\" (STORAGE 0 1048576)"
        ]
    );
    let mut carol = server.login_as("carol", "pw");
    assert_eq!(
        quota_lines(&mut carol, "GETQUOTAROOT INBOX"),
        [
            "* QUOTAROOT INBOX \"User quota\"",
            "* QUOTA \"User quota\" (MESSAGE 0 1)"
        ]
    );
    carol.append("INBOX", "", MSG);
    let r = carol.cmd(&format!("APPEND INBOX {{{}+}}\r\n{MSG}", MSG.len()));
    assert!(r.tagged.starts_with("NO [OVERQUOTA]"), "{r:?}");
}

#[test]
fn users_without_a_limit_have_no_quota_root() {
    let server = TestServer::start();
    let md = server.root().join("home/alice/Maildir");
    let mut c = server.login();
    let r = c.ok("GETQUOTAROOT INBOX");
    assert!(r.untagged.is_empty(), "{r:?}");
    assert!(c.cmd("GETQUOTA \"User quota\"").tagged.starts_with("NO "));
    c.append("INBOX", "", MSG);
    assert!(!md.join("maildirsize").exists());
}

/// A raw LMTP exchange on a Unix socket: each command's reply line.
fn lmtp_send(sock: &Path, rcpt: &str, msg: &str) -> String {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut line = || {
        let mut last = String::new();
        loop {
            let mut l = String::new();
            assert!(r.read_line(&mut l).unwrap() > 0, "closed after {last}");
            last = l.trim_end().to_string();
            if last.as_bytes().get(3) != Some(&b'-') {
                return last;
            }
        }
    };
    assert!(line().starts_with("220 "));
    for cmd in ["LHLO mx", "MAIL FROM:<bob@example.org>"] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        assert!(line().starts_with("250 "));
    }
    w.write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
        .unwrap();
    assert!(line().starts_with("250 "));
    w.write_all(b"DATA\r\n").unwrap();
    assert!(line().starts_with("354 "));
    w.write_all(format!("{msg}\r\n.\r\n").as_bytes()).unwrap();
    let reply = line();
    w.write_all(b"QUIT\r\n").unwrap();
    reply
}

#[test]
fn lmtp_refuses_mail_over_quota_with_552() {
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("lmtp");
    let server = TestServer::builder()
        .opt("lmtp_listen", &format!("unix:{}", sock.display()))
        .opt("quota_rule", "*:messages=1")
        .start();
    assert!(lmtp_send(&sock, "alice", MSG).starts_with("250 2.0.0 "));
    assert_eq!(
        lmtp_send(&sock, "alice", MSG),
        "552 5.2.2 <alice> Quota exceeded (mailbox for user is full)"
    );
    let mut c = server.login();
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert_eq!(r.untagged, ["* STATUS INBOX (MESSAGES 1)"]);
    assert_eq!(
        quota_lines(&mut c, "GETQUOTA \"User quota\""),
        ["* QUOTA \"User quota\" (MESSAGE 1 1)"]
    );
}

const DOVECOT_QUOTA: &str = "mail_plugins = quota\nprotocol imap {\n  mail_plugins = quota imap_quota\n}\n\
     plugin {\n  quota = maildir:User quota\n  quota_rule = *:storage=1M\n  quota_rule2 = *:messages=3\n}\n";

/// Dovecot writes `maildirsize`, Roost reads it as it is (no recount) and
/// answers as Dovecot did; Roost's additions are then Dovecot's too.
#[test]
fn a_tree_moved_between_dovecot_and_roost_keeps_its_counts() {
    let server = TestServer::builder()
        .run_as(mail_uid())
        .opt("quota_rule", "*:storage=1M")
        .opt("quota_rule2", "*:messages=3")
        .start();
    let home = server.root().join("home/alice");
    let md = home.join("Maildir");
    std::fs::create_dir_all(&md).unwrap();
    hand_over(&home);
    let append = format!("APPEND INBOX {{{}+}}\r\n{MSG}", MSG.len());
    let dovecot_view = {
        let mut d = DovecotSession::start_with(&home, DOVECOT_QUOTA);
        for _ in 0..2 {
            let (_, t) = d.cmd(&append);
            assert!(t.starts_with("OK"), "{t}");
        }
        let (lines, t) = d.cmd("GETQUOTAROOT INBOX");
        assert!(t.starts_with("OK"), "{t}");
        lines
    };
    let written = maildirsize(&md);
    assert!(written.starts_with("1048576S,3C\n"), "{written}");
    let mut c = server.login();
    assert_eq!(quota_lines(&mut c, "GETQUOTAROOT INBOX"), dovecot_view);
    assert_eq!(maildirsize(&md), written, "Roost recounted Dovecot's file");
    c.append("INBOX", "", MSG);
    let mut d = DovecotSession::start_with(&home, DOVECOT_QUOTA);
    let (lines, _) = d.cmd("GETQUOTA \"User quota\"");
    assert_eq!(
        lines,
        ["* QUOTA \"User quota\" (STORAGE 1 1024 MESSAGE 3 3)"]
    );
    let (_, t) = d.cmd(&append);
    assert!(t.starts_with("NO [OVERQUOTA]"), "{t}");
    // And Dovecot's expunge is Roost's to read.
    d.cmd("SELECT INBOX");
    d.cmd("STORE 1 +FLAGS (\\Deleted)");
    let (_, t) = d.cmd("EXPUNGE");
    assert!(t.starts_with("OK"), "{t}");
    drop(d);
    assert_eq!(
        quota_lines(&mut c, "GETQUOTA \"User quota\""),
        ["* QUOTA \"User quota\" (STORAGE 1 1024 MESSAGE 2 3)"]
    );
}
