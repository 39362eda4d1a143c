//! COPY and MOVE (RFC 3501 §6.4.7, RFC 6851) with COPYUID (RFC 4315).

use crate::common::{Client, TestServer};
use std::os::unix::fs::MetadataExt;

fn append(c: &mut Client, mailbox: &str, flags: &str, date: &str, msg: &str) {
    c.append(mailbox, &format!("({flags}) \"{date}\""), msg);
}

fn setup(server: &TestServer) -> Client {
    let mut c = server.login();
    c.ok("CREATE Trash");
    c.ok("CREATE Archive");
    append(
        &mut c,
        "INBOX",
        "\\Seen",
        "01-Feb-2024 10:00:00 +0000",
        "Subject: a\r\n\r\na",
    );
    append(
        &mut c,
        "INBOX",
        "\\Flagged $Work",
        "02-Feb-2024 10:00:00 +0000",
        "Subject: b\r\n\r\nb",
    );
    append(
        &mut c,
        "INBOX",
        "",
        "03-Feb-2024 10:00:00 +0000",
        "Subject: c\r\n\r\nc",
    );
    c.ok("SELECT INBOX");
    c
}

#[test]
fn copy_keeps_flags_keywords_and_date_and_reports_copyuid() {
    let server = TestServer::start();
    let mut c = setup(&server);
    let r = c.ok("COPY 1:2 Archive");
    let status = c.ok("STATUS Archive (UIDVALIDITY)");
    let uv = status.untagged[0]
        .split_whitespace()
        .nth(4)
        .unwrap()
        .trim_end_matches(')')
        .to_string();
    assert_eq!(
        r.tagged,
        format!("OK [COPYUID {uv} 1:2 1:2] Copy completed.")
    );
    c.ok("SELECT Archive");
    let r = c.ok("FETCH 1:2 (FLAGS INTERNALDATE)");
    assert_eq!(
        r.untagged,
        vec![
            "* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE \"01-Feb-2024 10:00:00 +0000\")",
            "* 2 FETCH (FLAGS (\\Flagged \\Recent $Work) INTERNALDATE \"02-Feb-2024 10:00:00 +0000\")",
        ]
    );
    // Dovecot's way: a hard link, not a second copy of the bytes.
    let md = server.root().join("home/alice/Maildir");
    let inodes = |dir: &std::path::Path| -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().ino())
            .collect();
        v.sort();
        v
    };
    let archive = inodes(&md.join(".Archive/cur"));
    let inbox = inodes(&md.join("cur"));
    assert!(
        archive.iter().all(|i| inbox.contains(i)),
        "{archive:?} {inbox:?}"
    );
}

#[test]
fn copy_to_a_missing_mailbox_says_trycreate() {
    let server = TestServer::start();
    let mut c = setup(&server);
    let r = c.cmd("COPY 1 Nowhere");
    assert!(r.tagged.starts_with("NO [TRYCREATE]"), "{r:?}");
    let r = c.cmd("COPY 9 Archive");
    assert!(
        r.tagged.starts_with("BAD"),
        "sequence number past the end: {r:?}"
    );
    // A UID set that matches nothing is not an error (RFC 3501 §6.4.8).
    let r = c.cmd("UID COPY 100:200 Archive");
    assert!(r.tagged.starts_with("OK"), "{r:?}");
}

#[test]
fn move_sends_copyuid_then_expunges() {
    let server = TestServer::start();
    let mut c = setup(&server);
    let r = c.ok("MOVE 1,3 Trash");
    assert!(r.untagged[0].starts_with("* OK [COPYUID "), "{r:?}");
    assert!(r.untagged[0].ends_with(" 1,3 1:2] Moved UIDs."), "{r:?}");
    assert_eq!(&r.untagged[1..], &["* 3 EXPUNGE", "* 1 EXPUNGE"]);
    let r = c.ok("UID FETCH 1:* (FLAGS)");
    assert_eq!(
        r.untagged,
        vec!["* 1 FETCH (UID 2 FLAGS (\\Flagged \\Recent $Work))"]
    );
    let r = c.ok("STATUS Trash (MESSAGES)");
    assert_eq!(r.untagged, vec!["* STATUS Trash (MESSAGES 2)"]);
}

#[test]
fn thunderbird_uid_move_to_trash_and_other_sessions_see_it() {
    let server = TestServer::start();
    let mut c = setup(&server);
    let mut other = server.login();
    other.ok("SELECT INBOX");
    let r = c.ok("uid move 2 \"Trash\"");
    assert!(r.untagged.contains(&"* 2 EXPUNGE".to_string()), "{r:?}");
    let r = other.ok("NOOP");
    assert_eq!(r.untagged, vec!["* 2 EXPUNGE"]);
    // Moving a UID that is already gone is quietly fine.
    let r = c.cmd("UID MOVE 2 Trash");
    assert!(r.tagged.starts_with("OK"), "{r:?}");
}

#[test]
fn move_needs_a_writable_mailbox() {
    let server = TestServer::start();
    let mut c = setup(&server);
    c.ok("EXAMINE INBOX");
    let r = c.cmd("MOVE 1 Trash");
    assert!(r.tagged.starts_with("NO"), "{r:?}");
    c.ok("COPY 1 Trash");
}

#[test]
fn move_within_the_same_mailbox_gives_new_uids() {
    let server = TestServer::start();
    let mut c = setup(&server);
    let r = c.ok("UID MOVE 1 INBOX");
    assert!(
        r.untagged
            .iter()
            .any(|l| l.contains("[COPYUID ") && l.contains(" 1 4]")),
        "{r:?}"
    );
    let r = c.ok("UID FETCH 1:* (UID)");
    let uids: Vec<&str> = r
        .untagged
        .iter()
        .map(|l| l.split_whitespace().nth(4).unwrap().trim_end_matches(')'))
        .collect();
    assert_eq!(uids, vec!["2", "3", "4"]);
}

#[test]
fn uid_move_of_a_message_this_session_has_not_heard_of() {
    // iPhone Mail: UID MOVE of a UID another session just added.
    let server = TestServer::start();
    let mut c = setup(&server);
    let mut other = server.login();
    append(
        &mut other,
        "INBOX",
        "",
        "04-Feb-2024 10:00:00 +0000",
        "Subject: d\r\n\r\nd",
    );
    let r = c.ok("UID MOVE 4 Trash");
    assert!(r.untagged.contains(&"* 4 EXISTS".to_string()), "{r:?}");
    assert!(
        r.untagged
            .iter()
            .any(|l| l.contains("[COPYUID ") && l.contains(" 4 1]")),
        "{r:?}"
    );
    assert!(r.untagged.contains(&"* 4 EXPUNGE".to_string()), "{r:?}");
    let r = c.ok("STATUS Trash (MESSAGES)");
    assert_eq!(r.untagged, vec!["* STATUS Trash (MESSAGES 1)"]);
}
