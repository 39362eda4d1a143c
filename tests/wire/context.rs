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

/// Applies `REMOVEFROM (pos n)` / `ADDTO (pos n)` items of one ESEARCH
/// line to a sorted result, as a CONTEXT=SORT client does.
fn apply(list: &mut Vec<u32>, line: &str) {
    let words: Vec<&str> = line.split(' ').collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if w == "ADDTO" || w == "REMOVEFROM" {
            let pos: usize = words[i + 1].trim_start_matches('(').parse().unwrap();
            let n: u32 = words[i + 2].trim_end_matches(')').parse().unwrap();
            if w == "ADDTO" {
                list.insert(pos - 1, n);
            } else {
                assert_eq!(list[pos - 1], n, "REMOVEFROM names what is there: {line}");
                list.remove(pos - 1);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
}

#[test]
fn updated_sorts_name_each_place() {
    let server = TestServer::start();
    let mut c = server.login();
    for subject in ["delta", "alpha", "echo", "charlie", "bravo"] {
        c.append("INBOX", "", &format!("Subject: {subject}\r\n\r\nx\r\n"));
    }
    c.ok("SELECT INBOX");
    assert!(c.capabilities().contains(&"CONTEXT=SORT".to_string()));
    let r = c.ok("UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 SEEN");
    assert_eq!(r.find("* ESEARCH").len(), 1);
    let mut list: Vec<u32> = Vec::new();
    let sorted_seen = |c: &mut crate::common::Client| -> Vec<u32> {
        let r = c.ok("UID SORT (SUBJECT) UTF-8 SEEN");
        r.find("* SORT")[0]
            .split(' ')
            .skip(2)
            .map(|n| n.parse().unwrap())
            .collect()
    };
    for (store, expect_lines) in [
        ("STORE 1:3 +FLAGS (\\Seen)", 1),
        ("STORE 2 -FLAGS (\\Seen)", 1),
        ("STORE 4:5 +FLAGS (\\Seen)", 1),
        ("STORE 1,5 -FLAGS (\\Seen)", 1),
    ] {
        let r = c.ok(store);
        let lines = r.find("* ESEARCH");
        assert_eq!(lines.len(), expect_lines, "{store}: {:?}", r.untagged);
        apply(&mut list, lines[0]);
        assert_eq!(list, sorted_seen(&mut c), "after {store}: {}", lines[0]);
    }
    // Expunges leave the kept sort before the EXPUNGE responses.
    c.ok("STORE 3 +FLAGS (\\Deleted)");
    let r = c.ok("EXPUNGE");
    let line = r.find("* ESEARCH")[0].to_string();
    apply(&mut list, &line);
    assert_eq!(list, sorted_seen(&mut c));
}
