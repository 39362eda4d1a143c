//! The per-mailbox cache: a second session fetching the structure of the
//! same messages is answered without reading the files again.

use crate::common::TestServer;

#[test]
fn second_session_gets_envelope_and_structure_from_the_cache() {
    let server = TestServer::start();
    let mut a = server.login();
    let msg = "From: Ann <ann@example.org>\r\nSubject: cached\r\n\r\nbody\r\n";
    a.append("INBOX", "", msg);
    a.ok("SELECT INBOX");
    let first = a.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE)").untagged;
    // Rewrite the file in place (nothing legitimate does this: Maildir
    // messages never change). Served from the cache, the answer is the same.
    let cur = server.root().join("home/alice/Maildir/cur");
    let file = std::fs::read_dir(&cur)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&file, "Subject: changed\r\n\r\nx\r\n").unwrap();
    let mut b = server.login();
    b.ok("EXAMINE INBOX");
    let second = b.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE)").untagged;
    assert_eq!(first, second);
    assert!(first[0].contains("\"cached\""), "{first:?}");
    // Body sections still come from the file.
    let body = b.ok("FETCH 1 BODY.PEEK[TEXT]").untagged;
    assert!(body[0].contains("x\r\n"), "{body:?}");
}

/// Issue: after the session's own STORE, every later command reread the
/// whole folder for a second (the directory's mtime was "too recent to
/// trust"), 4 ms a command at 5,000 messages. The watcher now vouches that
/// nobody else changed it, so the folder is read once at most; and a file
/// another program drops in right after is still seen at once.
#[test]
fn own_flag_changes_cause_no_rescans_but_outside_ones_are_seen() {
    let server = TestServer::builder().opt("log_level", "debug").start();
    let cur = server.root().join("home/alice/Maildir/cur");
    std::fs::create_dir_all(&cur).unwrap();
    for i in 0..50 {
        let name = format!("{}.M{i}P1.host,S=20,W=22:2,", 1_600_000_000 + i);
        std::fs::write(cur.join(name), "Subject: x\n\nbody\n").unwrap();
    }
    let reads = |server: &TestServer| server.log().matches("read new/ and cur/").count();
    let mut c = server.login();
    c.ok("SELECT INBOX");
    c.ok("NOOP");
    let before = reads(&server);
    for i in 1..=20 {
        c.ok(&format!("STORE {i} +FLAGS.SILENT (\\Seen)"));
        c.ok("NOOP");
        c.ok("FETCH 1:* (FLAGS)");
        c.ok("SEARCH UNSEEN");
    }
    let rescans = reads(&server) - before;
    assert!(
        rescans <= 1,
        "{rescans} rescans for the session's own changes"
    );
    // An outside delivery straight after an own change: seen by the next
    // command, whatever the mtimes say.
    c.ok("STORE 21 +FLAGS.SILENT (\\Seen)");
    let new = server
        .root()
        .join("home/alice/Maildir/new/1700000000.M1P1.outside");
    std::fs::write(&new, "Subject: outside\n\nhi\n").unwrap();
    let r = c.ok("NOOP");
    assert!(r.untagged.contains(&"* 51 EXISTS".to_string()), "{r:?}");
    // And an outside flag change (a rename in cur/) too.
    let first = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".M30P1."))
        .unwrap();
    let flagged = first.to_string_lossy().replace(":2,", ":2,F");
    std::fs::rename(&first, &flagged).unwrap();
    let r = c.ok("NOOP");
    assert!(r.untagged.iter().any(|l| l.contains("\\Flagged")), "{r:?}");
}

/// Each APPEND used to read and parse the whole `dovecot-uidlist` again
/// before numbering its message, though nobody else had written it: with
/// the hundreds of records a busy folder keeps, that halved imaptest's
/// session throughput. It is read again only when its stamp changed.
#[test]
fn appends_do_not_reread_an_unchanged_uidlist() {
    let server = TestServer::builder().opt("log_level", "debug").start();
    let mut c = server.login();
    c.ok("SELECT INBOX");
    c.append("INBOX", "", "Subject: first\r\n\r\nx\r\n");
    let reads = |server: &TestServer| server.log().matches("read dovecot-uidlist").count();
    let before = reads(&server);
    for i in 0..20 {
        c.append("INBOX", "", &format!("Subject: {i}\r\n\r\nx\r\n"));
        c.ok("NOOP");
    }
    let rereads = reads(&server) - before;
    assert!(rereads <= 1, "{rereads} reads of an unchanged uidlist");
    // Another writer (Dovecot, another Roost) is still noticed.
    let md = server.root().join("home/alice/Maildir");
    let list = std::fs::read_to_string(md.join("dovecot-uidlist")).unwrap();
    let next: u32 = list
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    std::fs::write(
        md.join("new/1900000000.M1P1.other"),
        "Subject: other\n\nx\n",
    )
    .unwrap();
    let mut uidlist = std::fs::OpenOptions::new()
        .append(true)
        .open(md.join("dovecot-uidlist"))
        .unwrap();
    use std::io::Write;
    writeln!(uidlist, "{} :1900000000.M1P1.other", next + 1).unwrap();
    drop(uidlist);
    let uid = c.append("INBOX", "", "Subject: after\r\n\r\nx\r\n");
    assert!(
        uid > next + 1,
        "UID {uid} reuses the other writer's {}",
        next + 1
    );
}
