//! UIDONLY (RFC 9586): after ENABLE UIDONLY, commands that name messages
//! by sequence number get `BAD [UIDREQUIRED]` and the session goes on;
//! message data comes as `* uid UIDFETCH (...)`, solicited or not, and
//! expunges as VANISHED. UIDs and sequence numbers differ in this mailbox
//! so a number in the wrong place shows.

use crate::common::TestServer;

const MSG: &str = "Subject: u\r\n\r\nbody\r\n";

#[test]
fn uidonly_speaks_in_uids() {
    let server = TestServer::start();
    let mut c = server.login();
    let mut other = server.login();
    assert!(c.capabilities().contains(&"UIDONLY".to_string()));
    for _ in 0..4 {
        c.append("INBOX", "", MSG);
    }
    c.ok("CREATE dst");
    // UIDs 2, 3, 4 at sequence numbers 1, 2, 3.
    other.ok("SELECT INBOX");
    other.ok("STORE 1 +FLAGS (\\Deleted)");
    other.ok("EXPUNGE");
    let r = c.ok("ENABLE UIDONLY");
    assert_eq!(r.untagged, vec!["* ENABLED UIDONLY"]);
    let r = c.ok("SELECT INBOX");
    assert!(r.untagged.contains(&"* 3 EXISTS".to_string()), "{r:?}");

    // §3: sequence numbers anywhere are refused.
    for cmd in [
        "FETCH 1 (FLAGS)",
        "FETCH 1:* (UID)",
        "STORE 1 +FLAGS (\\Seen)",
        "COPY 1 dst",
        "MOVE 1 dst",
        "SEARCH ALL",
        "SORT (DATE) UTF-8 ALL",
        "THREAD REFERENCES UTF-8 ALL",
        "UID SEARCH 1:2",
        "UID SEARCH OR 1 UID 2",
        "UID SORT (DATE) UTF-8 NOT 2",
    ] {
        let r = c.cmd(cmd);
        assert!(r.tagged.starts_with("BAD [UIDREQUIRED]"), "{cmd} -> {r:?}");
        assert!(r.untagged.is_empty(), "{cmd} -> {r:?}");
    }

    // §3.3: message data by UID.
    let r = c.ok("UID FETCH 1:* (FLAGS)");
    assert_eq!(
        r.untagged,
        vec![
            "* 2 UIDFETCH (FLAGS ())",
            "* 3 UIDFETCH (FLAGS ())",
            "* 4 UIDFETCH (FLAGS ())"
        ]
    );
    let r = c.ok("UID FETCH 3 (UID RFC822.SIZE)");
    assert_eq!(r.untagged, vec!["* 3 UIDFETCH (UID 3 RFC822.SIZE 20)"]);
    let r = c.ok("UID STORE 3 +FLAGS (\\Flagged)");
    assert_eq!(r.untagged, vec!["* 3 UIDFETCH (FLAGS (\\Flagged))"]);
    let r = c.ok("UID SEARCH FLAGGED");
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 3"]);
    let r = c.ok("UID SEARCH RETURN (ALL COUNT) UID 1:*");
    assert!(r.untagged[0].ends_with("UID ALL 2:4 COUNT 3"), "{r:?}");
    c.ok("UID COPY 2 dst");

    // Another session's changes: flags as UIDFETCH, expunges as VANISHED,
    // new messages as EXISTS.
    other.ok("NOOP");
    other.ok("STORE 1 +FLAGS (\\Seen)");
    let r = c.ok("NOOP");
    assert_eq!(r.untagged, vec!["* 2 UIDFETCH (FLAGS (\\Seen))"]);
    other.ok("STORE 2 +FLAGS (\\Deleted)");
    other.ok("EXPUNGE");
    other.append("INBOX", "", MSG);
    let r = c.ok("NOOP");
    assert!(r.untagged.contains(&"* VANISHED 3".to_string()), "{r:?}");
    assert!(r.untagged.contains(&"* 3 EXISTS".to_string()), "{r:?}");
    assert!(!r.untagged.iter().any(|l| l.ends_with(" EXPUNGE")), "{r:?}");
    // UID EXPUNGE and UID MOVE report VANISHED too.
    c.ok("UID STORE 4 +FLAGS (\\Deleted)");
    let r = c.ok("UID EXPUNGE 4");
    assert_eq!(r.untagged, vec!["* VANISHED 4"]);
    let r = c.ok("UID MOVE 2 dst");
    assert!(r.untagged.contains(&"* VANISHED 2".to_string()), "{r:?}");
    let r = c.ok("UID FETCH 1:* (FLAGS)");
    assert_eq!(r.untagged, vec!["* 5 UIDFETCH (FLAGS ())"]);
    // QRESYNC's sequence-number pairs are refused too; its UIDs are not.
    c.ok("UNSELECT");
    c.ok("ENABLE QRESYNC");
    let r = c.cmd("SELECT INBOX (QRESYNC (1 1 1:5 (1 5)))");
    assert!(r.tagged.starts_with("BAD [UIDREQUIRED]"), "{r:?}");
    let validity = {
        let r = c.ok("STATUS INBOX (UIDVALIDITY)");
        r.find("* STATUS")[0]
            .split("UIDVALIDITY ")
            .nth(1)
            .unwrap()
            .trim_end_matches(')')
            .to_string()
    };
    let r = c.ok(&format!("SELECT INBOX (QRESYNC ({validity} 1 1:5))"));
    assert!(
        r.untagged.contains(&"* VANISHED (EARLIER) 1:4".to_string()),
        "{r:?}"
    );
    assert!(
        r.untagged
            .iter()
            .any(|l| l.starts_with("* 5 UIDFETCH (FLAGS () MODSEQ (")),
        "{r:?}"
    );
    // The other session, without UIDONLY, still speaks sequence numbers.
    other.ok("NOOP");
    let r = other.ok("FETCH 1 (UID)");
    assert_eq!(r.find("* 1 FETCH"), vec!["* 1 FETCH (UID 5)"]);
}
