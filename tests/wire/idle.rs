//! IDLE (RFC 2177): changes pushed while idling, DONE, pipelining after
//! DONE, keep-alives, and clients that misbehave.

use crate::common::{Client, TestServer};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn maildir(server: &TestServer) -> PathBuf {
    server.root().join("home/alice/Maildir")
}

/// Reads lines until one starts with `prefix`; fails after `within`.
fn expect_within(c: &mut Client, prefix: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        assert!(Instant::now() < deadline, "no {prefix:?} within {within:?}");
        let line = c.line();
        if line.starts_with(prefix) {
            return line;
        }
    }
}

fn idling(server: &TestServer) -> Client {
    let mut c = server.login();
    c.ok("SELECT INBOX");
    c.send(b"i1 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    c
}

#[test]
fn delivery_by_file_copy_is_announced_within_two_seconds() {
    let server = TestServer::start();
    let mut c = idling(&server);
    // As an MDA delivers: write in tmp/, rename into new/.
    let md = maildir(&server);
    std::fs::write(md.join("tmp/1900000000.M1P1.mx"), "Subject: pushed\n\nhi\n").unwrap();
    std::fs::rename(
        md.join("tmp/1900000000.M1P1.mx"),
        md.join("new/1900000000.M1P1.mx"),
    )
    .unwrap();
    expect_within(&mut c, "* 1 EXISTS", Duration::from_secs(2));
    c.send(b"DONE\r\n");
    let r = c.read_reply("i1");
    assert_eq!(r.tagged, "OK Idle completed.");
    // A file removed outside the server is announced too.
    c.send(b"i2 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    for dir in ["new", "cur"] {
        for e in std::fs::read_dir(md.join(dir)).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
    }
    expect_within(&mut c, "* 1 EXPUNGE", Duration::from_secs(2));
    c.send(b"DONE\r\n");
    assert!(c.read_reply("i2").tagged.starts_with("OK"));
}

#[test]
fn other_sessions_changes_are_pushed() {
    let server = TestServer::start();
    let mut a = server.login();
    let msg = "Subject: x\r\n\r\nx\r\n";
    for _ in 0..2 {
        a.append("INBOX", "", msg);
    }
    a.ok("SELECT INBOX");
    let mut c = idling(&server);
    a.ok("STORE 2 +FLAGS (\\Flagged)");
    expect_within(
        &mut c,
        "* 2 FETCH (FLAGS (\\Flagged",
        Duration::from_secs(2),
    );
    a.ok("STORE 1 +FLAGS (\\Deleted)");
    a.ok("EXPUNGE");
    expect_within(&mut c, "* 1 EXPUNGE", Duration::from_secs(2));
    a.append("INBOX", "", msg);
    expect_within(&mut c, "* 2 EXISTS", Duration::from_secs(2));
    c.send(b"DONE\r\n");
    assert!(c.read_reply("i1").tagged.starts_with("OK"));
}

#[test]
fn commands_pipelined_after_done_are_executed() {
    let server = TestServer::start();
    let mut c = idling(&server);
    // iOS 18 Mail sends DONE and its next commands in one packet.
    c.send(b"DONE\r\nn1 NOOP\r\nn2 CAPABILITY\r\n");
    assert!(c.read_reply("i1").tagged.starts_with("OK"));
    assert!(c.read_reply("n1").tagged.starts_with("OK"));
    let r = c.read_reply("n2");
    assert!(r.untagged[0].starts_with("* CAPABILITY IMAP4rev1"), "{r:?}");
}

#[test]
fn idle_over_tls() {
    let server = TestServer::start();
    let mut c = server.connect_tls();
    c.ok("LOGIN alice secret");
    c.ok("SELECT INBOX");
    c.send(b"i1 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    std::fs::write(
        maildir(&server).join("new/1900000001.M1P1.mx"),
        "Subject: tls\n\nx\n",
    )
    .unwrap();
    expect_within(&mut c, "* 1 EXISTS", Duration::from_secs(2));
    c.send(b"DONE\r\nn1 NOOP\r\n");
    assert!(c.read_reply("i1").tagged.starts_with("OK"));
    assert!(c.read_reply("n1").tagged.starts_with("OK"));
}

#[test]
fn keepalive_while_idle() {
    let server = TestServer::builder()
        .opt("idle_keepalive_secs", "1")
        .start();
    let mut c = idling(&server);
    expect_within(&mut c, "* OK Still here", Duration::from_secs(3));
    c.send(b"DONE\r\n");
    assert!(c.read_reply("i1").tagged.starts_with("OK"));
}

#[test]
fn idle_needs_login_and_garbage_ends_it() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.cmd("IDLE");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    let mut c = idling(&server);
    c.send(b"NOT DONE\r\n");
    let r = c.read_reply("i1");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    c.ok("NOOP");
    // IDLE without a selected mailbox is allowed (RFC 2177).
    let mut d = server.login();
    d.send(b"j IDLE\r\n");
    assert_eq!(d.line(), "+ idling");
    d.send(b"done\r\n");
    assert!(d.read_reply("j").tagged.starts_with("OK"));
}

#[test]
fn client_vanishing_mid_idle_does_not_disturb_others() {
    let server = TestServer::start();
    {
        let _c = idling(&server);
    }
    server.wait_for_log("logout (transport error during IDLE");
    let mut other = server.login();
    other.ok("SELECT INBOX");
}

/// Issue: once a folder had been selected, then deleted and created again
/// (or renamed away and back), nobody idling on that name was told of new
/// mail again: the watcher kept the watch of the vanished directory.
#[test]
fn idle_hears_of_mail_in_a_recreated_or_renamed_back_folder() {
    let server = TestServer::start();
    let mut admin = server.login();
    admin.ok("CREATE Foo");
    admin.ok("SELECT Foo");
    admin.ok("UNSELECT");
    // Deleted and created again.
    admin.ok("DELETE Foo");
    admin.ok("CREATE Foo");
    let mut c = server.login();
    c.ok("SELECT Foo");
    c.send(b"i1 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    admin.append("Foo", "", "Subject: one\r\n\r\n1\r\n");
    expect_within(&mut c, "* 1 EXISTS", Duration::from_secs(5));
    c.send(b"DONE\r\n");
    assert!(c.read_reply("i1").tagged.starts_with("OK"));
    c.ok("UNSELECT");
    // Renamed away (and selected there), then back.
    admin.ok("RENAME Foo Bar");
    admin.ok("SELECT Bar");
    admin.ok("UNSELECT");
    admin.ok("RENAME Bar Foo");
    c.ok("SELECT Foo");
    c.send(b"i2 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    admin.append("Foo", "", "Subject: two\r\n\r\n2\r\n");
    expect_within(&mut c, "* 2 EXISTS", Duration::from_secs(5));
    c.send(b"DONE\r\n");
    assert!(c.read_reply("i2").tagged.starts_with("OK"));
}
