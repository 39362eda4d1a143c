//! CONDSTORE and QRESYNC (RFC 7162): mod-sequences, conditional STORE,
//! CHANGEDSINCE, VANISHED and the one-round-trip resync, and the
//! `roost-modseq` file that keeps them across restarts.

use crate::common::{Client, TestServer};

fn number_after(line: &str, key: &str) -> u64 {
    let at = line
        .find(key)
        .unwrap_or_else(|| panic!("{key} not in {line}"));
    line[at + key.len()..]
        .trim_start_matches([' ', '('])
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key} in {line}"))
}

fn highest(reply: &crate::common::Reply) -> u64 {
    let line = reply
        .untagged
        .iter()
        .find(|l| l.contains("[HIGHESTMODSEQ "))
        .unwrap_or_else(|| panic!("no HIGHESTMODSEQ in {:?}", reply.untagged));
    number_after(line, "HIGHESTMODSEQ")
}

fn seeded(server: &TestServer, n: usize) -> Client {
    let mut c = server.login();
    for i in 1..=n {
        c.append("INBOX", "", &format!("Subject: m{i}\r\n\r\nbody {i}\r\n"));
    }
    c
}

#[test]
fn select_condstore_reports_modseqs_and_store_raises_them() {
    let server = TestServer::start();
    let mut c = seeded(&server, 3);
    let sel = c.ok("SELECT INBOX (CONDSTORE)");
    let h0 = highest(&sel);
    assert!(sel.tagged.starts_with("OK [READ-WRITE]"), "{}", sel.tagged);
    let r = c.ok("FETCH 1:3 (MODSEQ)");
    assert_eq!(r.untagged.len(), 3, "{:?}", r.untagged);
    for (i, line) in r.untagged.iter().enumerate() {
        assert!(
            line.starts_with(&format!("* {} FETCH (MODSEQ (", i + 1)),
            "{line}"
        );
        assert!(number_after(line, "MODSEQ") <= h0, "{line} above {h0}");
    }
    let r = c.ok("STORE 2 +FLAGS (\\Seen)");
    assert_eq!(r.untagged.len(), 1, "{:?}", r.untagged);
    let m = number_after(&r.untagged[0], "MODSEQ");
    assert!(m > h0, "a change raises the modseq: {m} vs {h0}");
    assert_eq!(
        r.untagged[0],
        format!("* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ ({m}))")
    );
    // Setting a flag that is already set changes nothing (§3.1.11).
    let r = c.ok("STORE 2 +FLAGS.SILENT (\\Seen)");
    assert!(r.untagged.is_empty(), "{:?}", r.untagged);
    let r = c.ok("STATUS INBOX (HIGHESTMODSEQ MESSAGES)");
    assert_eq!(
        r.untagged,
        vec![format!("* STATUS INBOX (HIGHESTMODSEQ {m} MESSAGES 3)")]
    );
    let r = c.ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})"));
    assert_eq!(
        r.untagged,
        vec![format!(
            "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ ({m}))"
        )]
    );
    let r = c.ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {m})"));
    assert!(r.untagged.is_empty(), "{:?}", r.untagged);
}

#[test]
fn first_enabling_command_reports_highestmodseq() {
    let server = TestServer::start();
    let mut c = seeded(&server, 2);
    let sel = c.ok("SELECT INBOX");
    assert!(
        sel.untagged.iter().all(|l| !l.contains("HIGHESTMODSEQ")),
        "not before CONDSTORE is enabled: {:?}",
        sel.untagged
    );
    // A flag change another session makes is reported without MODSEQ...
    let mut other = server.login();
    other.ok("SELECT INBOX");
    other.ok("STORE 1 +FLAGS (\\Flagged)");
    let r = c.ok("NOOP");
    assert_eq!(r.untagged, vec!["* 1 FETCH (FLAGS (\\Flagged \\Recent))"]);
    // ...until the client uses CONDSTORE (RFC 7162 §3.1, example 5).
    let r = c.ok("FETCH 1 (MODSEQ)");
    assert!(
        r.untagged[0].starts_with("* OK [HIGHESTMODSEQ "),
        "{:?}",
        r.untagged
    );
    other.ok("STORE 1 -FLAGS (\\Flagged)");
    let r = c.ok("NOOP");
    assert_eq!(r.untagged.len(), 1, "{:?}", r.untagged);
    assert!(
        r.untagged[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Recent) MODSEQ ("),
        "{:?}",
        r.untagged
    );
}

#[test]
fn conditional_store_reports_modified() {
    let server = TestServer::start();
    let mut c = seeded(&server, 3);
    let h0 = highest(&c.ok("SELECT INBOX (CONDSTORE)"));
    let mut other = server.login();
    other.ok("SELECT INBOX");
    other.ok("STORE 3 +FLAGS (\\Deleted)");
    // Example 6: message 3 changed since h0 in the flag being stored.
    let r = c.ok(&format!(
        "STORE 1,3 (UNCHANGEDSINCE {h0}) +FLAGS.SILENT (\\Deleted)"
    ));
    assert_eq!(r.tagged, "OK [MODIFIED 3] Conditional store failed.");
    let fetch: Vec<&String> = r.untagged.iter().filter(|l| l.contains("FETCH")).collect();
    assert!(
        fetch
            .iter()
            .any(|l| l.starts_with("* 1 FETCH (UID 1 MODSEQ (")),
        "{:?}",
        r.untagged
    );
    // UID form lists UIDs; a flag the other change did not touch may still
    // be set (§3.1.12), UNCHANGEDSINCE 0 always fails (example 8).
    let r = c.ok(&format!(
        "UID STORE 3 (UNCHANGEDSINCE {h0}) +FLAGS (\\Seen)"
    ));
    assert!(r.tagged.starts_with("OK Store"), "{}", r.tagged);
    let r = c.ok("UID STORE 2 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($MDNSent)");
    assert_eq!(r.tagged, "OK [MODIFIED 2] Conditional store failed.");
    let r = c.ok("FETCH 2 (FLAGS)");
    assert!(!r.untagged[0].contains("$MDNSent"), "{:?}", r.untagged);
    let bad = c.cmd("STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\\Seen)");
    assert!(bad.tagged.starts_with("BAD"), "{}", bad.tagged);
}

#[test]
fn modseqs_survive_a_restart_and_a_lost_file() {
    let mut server = TestServer::start();
    let mut c = seeded(&server, 3);
    c.ok("SELECT INBOX (CONDSTORE)");
    let r = c.ok("STORE 2 +FLAGS (\\Answered)");
    let m2 = number_after(&r.untagged[0], "MODSEQ");
    let before = c.ok("FETCH 1:3 (MODSEQ)").untagged;
    let h = highest(&c.ok("SELECT INBOX (CONDSTORE)"));
    drop(c);
    server.restart();
    let mut c = server.login();
    let sel = c.ok("SELECT INBOX (CONDSTORE)");
    assert_eq!(highest(&sel), h, "HIGHESTMODSEQ kept over a restart");
    assert_eq!(c.ok("FETCH 1:3 (MODSEQ)").untagged, before);
    assert!(c
        .ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m2})"))
        .untagged
        .is_empty());
    // A flag change made while the server was down gets a new modseq.
    drop(c);
    let cur = server.root().join("home/alice/Maildir/cur");
    let file = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            !n.ends_with(",R") && !n.contains(":2,R")
        })
        .expect("a message without \\Answered");
    let flagged = format!("{}F", file.display());
    server.restart();
    std::fs::rename(&file, &flagged).unwrap();
    let mut c = server.login();
    c.ok("SELECT INBOX (CONDSTORE)");
    let r = c.ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h})"));
    assert_eq!(r.untagged.len(), 1, "{:?}", r.untagged);
    assert!(r.untagged[0].contains("\\Flagged"), "{:?}", r.untagged);
    let h2 = number_after(&r.untagged[0], "MODSEQ");
    assert!(h2 > h);
    // The file is lost: everything restarts above what clients have seen.
    drop(c);
    server.restart();
    std::fs::remove_file(server.root().join("home/alice/Maildir/roost-modseq")).unwrap();
    let mut c = server.login();
    let h3 = highest(&c.ok("SELECT INBOX (CONDSTORE)"));
    assert!(h3 > h2, "{h3} must be above {h2}");
    let r = c.ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h2})"));
    assert_eq!(
        r.untagged.len(),
        3,
        "all messages count as changed: {:?}",
        r.untagged
    );
}
