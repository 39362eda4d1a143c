//! CONTEXT=SEARCH (RFC 5267 §4): SEARCH RETURN (UPDATE) results kept up
//! to date with ADDTO / REMOVEFROM as flags change, mail arrives and
//! messages are expunged, until CANCELUPDATE; as Dovecot sends them
//! (position 0, REMOVEFROM before the EXPUNGEs).

use crate::common::TestServer;

#[test]
fn updated_searches_follow_flags_arrivals_and_expunges() {
    let server = TestServer::start();
    let mut c = server.login();
    for i in 1..=5 {
        c.append("INBOX", "", &format!("Subject: s{i}\r\n\r\nbody {i}\r\n"));
    }
    c.ok("SELECT INBOX");
    assert!(c.capabilities().contains(&"CONTEXT=SEARCH".to_string()));
    let r = c.ok("SEARCH RETURN (UPDATE) BODY body SEEN");
    assert_eq!(r.find("* ESEARCH").len(), 1, "{:?}", r.untagged);

    let r = c.ok("STORE 1,2,4 +FLAGS (\\Seen)");
    let updates = r.find("* ESEARCH");
    assert_eq!(updates.len(), 1, "{:?}", r.untagged);
    assert!(updates[0].ends_with(" ADDTO (0 1:2,4)"), "{}", updates[0]);

    let r = c.ok("STORE 1,2 -FLAGS (\\Seen)");
    assert!(
        r.find("* ESEARCH")[0].ends_with(" REMOVEFROM (0 1:2)"),
        "{:?}",
        r.untagged
    );

    c.ok("STORE 3:5 +FLAGS (\\Deleted)");
    let r = c.ok("EXPUNGE");
    let lines: Vec<&String> = r.untagged.iter().collect();
    let removal = lines
        .iter()
        .position(|l| l.contains("REMOVEFROM (0 4)"))
        .expect("REMOVEFROM");
    let first_expunge = lines
        .iter()
        .position(|l| l.ends_with(" EXPUNGE"))
        .expect("EXPUNGE");
    assert!(removal < first_expunge, "{lines:?}");

    // New mail that matches joins (delivered by another session).
    let mut other = server.login();
    other.append("INBOX", "(\\Seen)", "Subject: late\r\n\r\nbody late\r\n");
    let r = c.ok("NOOP");
    assert!(
        r.find("* ESEARCH")
            .iter()
            .any(|l| l.ends_with(" ADDTO (0 3)")),
        "{:?}",
        r.untagged
    );

    // A UID context answers in UIDs.
    let r = c.ok("UID SEARCH RETURN (UPDATE ALL) SEEN");
    assert!(
        r.find("* ESEARCH")[0].contains(" UID ALL "),
        "{:?}",
        r.untagged
    );
    let r = c.ok("STORE 1 +FLAGS (\\Seen)");
    assert!(
        r.find("* ESEARCH")
            .iter()
            .any(|l| l.contains(" UID ADDTO (0 1)")),
        "{:?}",
        r.untagged
    );

    // CANCELUPDATE stops them.
    let r = c.ok("SEARCH RETURN (UPDATE) FLAGGED");
    let esearch = r.find("* ESEARCH")[0].to_string();
    let t = esearch.split('"').nth(1).unwrap().to_string();
    c.ok(&format!("CANCELUPDATE \"{t}\""));
    let r = c.ok("STORE 1 +FLAGS (\\Flagged)");
    assert!(
        !r.find("* ESEARCH").iter().any(|l| l.contains(&t)),
        "{:?}",
        r.untagged
    );
    assert!(c.cmd("CANCELUPDATE").tagged.contains("BAD"));
}
