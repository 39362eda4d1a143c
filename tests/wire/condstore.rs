//! CONDSTORE and QRESYNC (RFC 7162): mod-sequences, conditional STORE,
//! CHANGEDSINCE, VANISHED and the one-round-trip resync, and the
//! `roost-modseq` file that keeps them across restarts.

use crate::common::{number_after, Client, TestServer};

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
    // UID form lists UIDs; with one mod-sequence per message (as Dovecot
    // keeps) a flag the other change did not touch fails too, and
    // UNCHANGEDSINCE 0 always fails (example 8).
    let r = c.ok(&format!(
        "UID STORE 3 (UNCHANGEDSINCE {h0}) +FLAGS (\\Seen)"
    ));
    assert_eq!(r.tagged, "OK [MODIFIED 3] Conditional store failed.");
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

fn uidvalidity(reply: &crate::common::Reply) -> u64 {
    let line = reply
        .untagged
        .iter()
        .find(|l| l.contains("[UIDVALIDITY "))
        .expect("UIDVALIDITY");
    number_after(line, "UIDVALIDITY")
}

fn qresync_client(server: &TestServer) -> Client {
    let mut c = server.login();
    let r = c.ok("ENABLE QRESYNC");
    assert_eq!(r.untagged, vec!["* ENABLED QRESYNC"]);
    c
}

#[test]
fn offline_client_resyncs_in_one_round_trip() {
    let server = TestServer::start();
    let mut setup = seeded(&server, 10);
    drop(setup.ok("LOGOUT"));
    // The phone's last sync: UIDVALIDITY, HIGHESTMODSEQ, UIDs 1:10.
    let mut phone = qresync_client(&server);
    let sel = phone.ok("SELECT INBOX");
    let (uv, hms) = (uidvalidity(&sel), highest(&sel));
    phone.ok("LOGOUT");
    // A week of other clients: flags on 2 and 7, 3/4/9 expunged, one new.
    let mut other = server.login();
    other.ok("SELECT INBOX");
    other.ok("STORE 2 +FLAGS (\\Seen)");
    other.ok("STORE 7 +FLAGS (\\Flagged $Work)");
    other.ok("STORE 3:4,9 +FLAGS.SILENT (\\Deleted)");
    other.ok("EXPUNGE");
    other.append("INBOX", "", "Subject: new\r\n\r\nnew\r\n");
    other.ok("LOGOUT");

    let mut phone = qresync_client(&server);
    let r = phone.ok(&format!("SELECT INBOX (QRESYNC ({uv} {hms} 1:10))"));
    let vanished: Vec<&String> = r
        .untagged
        .iter()
        .filter(|l| l.contains("VANISHED"))
        .collect();
    assert_eq!(
        vanished,
        vec!["* VANISHED (EARLIER) 3:4,9"],
        "{:?}",
        r.untagged
    );
    let fetches: Vec<&String> = r.untagged.iter().filter(|l| l.contains("FETCH")).collect();
    assert_eq!(
        fetches.len(),
        2,
        "only the two changed messages: {:?}",
        r.untagged
    );
    assert!(
        fetches[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ("),
        "{}",
        fetches[0]
    );
    assert!(
        fetches[1].starts_with("* 5 FETCH (UID 7 FLAGS (\\Flagged $Work) MODSEQ ("),
        "{}",
        fetches[1]
    );
    assert!(
        r.untagged.contains(&"* 8 EXISTS".to_string()),
        "{:?}",
        r.untagged
    );
    let vpos = r
        .untagged
        .iter()
        .position(|l| l.contains("VANISHED"))
        .unwrap();
    let fpos = r.untagged.iter().position(|l| l.contains("FETCH")).unwrap();
    assert!(vpos < fpos, "VANISHED (EARLIER) comes before the FETCHes");
    let hms2 = highest(&r);
    assert!(hms2 > hms);
    // Without known UIDs the new message (UID 11) counts too; a stale
    // UIDVALIDITY means no resync at all; nothing changed since hms2.
    let r = phone.ok(&format!("SELECT INBOX (QRESYNC ({uv} {hms}))"));
    assert!(
        r.untagged[0].starts_with("* OK [CLOSED]"),
        "{:?}",
        r.untagged
    );
    let fetches: Vec<&String> = r.untagged.iter().filter(|l| l.contains("FETCH")).collect();
    assert_eq!(fetches.len(), 3, "{:?}", r.untagged);
    assert!(
        fetches[2].starts_with("* 8 FETCH (UID 11 "),
        "{}",
        fetches[2]
    );
    let r = phone.ok(&format!("SELECT INBOX (QRESYNC ({} {hms} 1:10))", uv + 1));
    assert!(
        r.untagged
            .iter()
            .all(|l| !l.contains("VANISHED") && !l.contains("FETCH")),
        "{:?}",
        r.untagged
    );
    let r = phone.ok(&format!("EXAMINE INBOX (QRESYNC ({uv} {hms2} 1:11))"));
    assert!(
        r.untagged
            .iter()
            .all(|l| !l.contains("VANISHED") && !l.contains("FETCH")),
        "{:?}",
        r.untagged
    );
}

#[test]
fn qresync_changes_expunge_reports_to_vanished() {
    let server = TestServer::start();
    seeded(&server, 5);
    let mut c = qresync_client(&server);
    c.ok("SELECT INBOX");
    c.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)");
    let r = c.ok("EXPUNGE");
    assert_eq!(r.untagged, vec!["* VANISHED 2,4"]);
    assert!(r.tagged.starts_with("OK [HIGHESTMODSEQ "), "{}", r.tagged);
    // Another session's expunge arrives as VANISHED too, UID EXPUNGE and
    // MOVE likewise.
    let mut other = server.login();
    other.ok("SELECT INBOX");
    other.ok("UID STORE 5 +FLAGS.SILENT (\\Deleted)");
    other.ok("UID EXPUNGE 5");
    let r = c.ok("NOOP");
    assert_eq!(r.untagged, vec!["* VANISHED 5"]);
    c.ok("CREATE Archive");
    let r = c.ok("UID MOVE 1 Archive");
    assert!(
        r.untagged.contains(&"* VANISHED 1".to_string()),
        "{:?}",
        r.untagged
    );
}

#[test]
fn uid_fetch_vanished_and_the_rules_around_it() {
    let server = TestServer::start();
    seeded(&server, 6);
    let mut c = server.login();
    c.ok("SELECT INBOX");
    let bad = c.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)");
    assert!(
        bad.tagged.starts_with("BAD"),
        "QRESYNC not enabled: {}",
        bad.tagged
    );
    let bad = c.cmd("SELECT INBOX (QRESYNC (1 1))");
    assert!(bad.tagged.starts_with("BAD"), "{}", bad.tagged);
    let mut c = qresync_client(&server);
    let h = highest(&c.ok("SELECT INBOX"));
    c.ok("STORE 2:3 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    c.ok("STORE 1 +FLAGS.SILENT (\\Answered)");
    let r = c.ok(&format!(
        "UID FETCH 1:6 (FLAGS) (CHANGEDSINCE {h} VANISHED)"
    ));
    assert_eq!(r.untagged[0], "* VANISHED (EARLIER) 2:3");
    assert_eq!(r.untagged.len(), 2, "{:?}", r.untagged);
    assert!(
        r.untagged[1].starts_with("* 1 FETCH (UID 1 FLAGS (\\Answered) MODSEQ ("),
        "{:?}",
        r.untagged
    );
    for bad in [
        format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {h} VANISHED)"),
        "UID FETCH 1:* (FLAGS) (VANISHED)".to_string(),
    ] {
        let r = c.cmd(&bad);
        assert!(r.tagged.starts_with("BAD"), "{bad}: {}", r.tagged);
    }
    // RFC 7162 §3.2.5.2: matching sequence data limits what is reported
    // when the history cannot tell (a modseq older than anything known).
    c.ok("UID STORE 6 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    let uv = uidvalidity(&c.ok("SELECT INBOX"));
    let r = c.ok(&format!("SELECT INBOX (QRESYNC ({uv} 1 1:6 (1,3 1,5)))"));
    let v: Vec<&String> = r
        .untagged
        .iter()
        .filter(|l| l.contains("VANISHED"))
        .collect();
    assert_eq!(v, vec!["* VANISHED (EARLIER) 6"], "{:?}", r.untagged);
    let r = c.ok(&format!("SELECT INBOX (QRESYNC ({uv} 1 1:6))"));
    let v: Vec<&String> = r
        .untagged
        .iter()
        .filter(|l| l.contains("VANISHED"))
        .collect();
    assert_eq!(v, vec!["* VANISHED (EARLIER) 2:3,6"], "{:?}", r.untagged);
}

#[test]
fn search_modseq_appends_the_highest_modseq() {
    let server = TestServer::start();
    seeded(&server, 4);
    let mut c = server.login();
    c.ok("SELECT INBOX");
    let r = c.ok("STORE 3 +FLAGS (\\Draft)");
    assert!(r.untagged.iter().all(|l| !l.contains("MODSEQ")));
    let r = c.ok("SEARCH MODSEQ \"/flags/\\\\draft\" all 1");
    assert!(
        r.untagged[0].starts_with("* OK [HIGHESTMODSEQ "),
        "{:?}",
        r.untagged
    );
    let h = highest(&r);
    assert_eq!(r.untagged[1], format!("* SEARCH 1 2 3 4 (MODSEQ {h})"));
    let r = c.ok(&format!("UID SEARCH MODSEQ {h}"));
    assert_eq!(r.untagged, vec![format!("* SEARCH 3 (MODSEQ {h})")]);
    let r = c.ok(&format!("SEARCH MODSEQ {}", h + 1));
    assert_eq!(r.untagged, vec!["* SEARCH"]);
    let tag = c.tag();
    c.send(format!("{tag} SEARCH RETURN (ALL) MODSEQ {h}\r\n").as_bytes());
    let r = c.read_reply(&tag);
    assert_eq!(
        r.untagged,
        vec![format!("* ESEARCH (TAG \"{tag}\") ALL 3 MODSEQ {h}")]
    );
    let bad = c.cmd("SEARCH MODSEQ \"/flags/\\\\draft\" bogus 1");
    assert!(bad.tagged.starts_with("BAD"), "{}", bad.tagged);
}
