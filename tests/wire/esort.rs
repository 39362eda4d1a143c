//! ESORT (RFC 5267 §3: SORT RETURN (MIN MAX ALL COUNT) answered with
//! ESEARCH in sort order) and PARTIAL (§4.4) for SEARCH and SORT, checked
//! as imaptest's esort, sort-partial and search-partial groups check them,
//! and against Dovecot on the same tree.

use crate::common::dovecot::{dovecot, hand_over, mail_uid};
use crate::common::{Client, TestServer};

/// Five messages; the 3rd and 4th arrived in the same second (imaptest's
/// sort-partial.mbox).
fn fill(c: &mut Client) {
    let dates = ["17:06:21", "17:06:22", "17:06:23", "17:06:23", "17:06:25"];
    for (i, t) in dates.iter().enumerate() {
        c.append(
            "INBOX",
            &format!("\"22-Feb-2008 {t} +0000\""),
            &format!("Subject: s{}\r\n\r\n{}\r\n", i + 1, i + 1),
        );
    }
}

/// The ESEARCH line of a command, with the tag taken out.
fn esearch(c: &mut Client, cmd: &str) -> String {
    let r = c.ok(cmd);
    let line = r
        .untagged
        .iter()
        .find(|l| l.starts_with("* ESEARCH"))
        .unwrap_or_else(|| panic!("{cmd}: {r:?}"))
        .clone();
    strip_tag(&line)
}

fn strip_tag(line: &str) -> String {
    match line.split_once(") ") {
        Some((_, rest)) => format!("* ESEARCH {rest}"),
        None => "* ESEARCH".to_string(),
    }
}

/// (command, ESEARCH after the tag) as imaptest expects them.
const CASES: &[(&str, &str)] = &[
    ("SORT RETURN (MIN) (ARRIVAL) US-ASCII 1:5", "MIN 1"),
    ("SORT RETURN (MAX) (ARRIVAL) US-ASCII 1:5", "MAX 5"),
    ("SORT RETURN (ALL) (ARRIVAL) US-ASCII 1:5", "ALL 1:5"),
    ("SORT RETURN (COUNT) (ARRIVAL) US-ASCII 1:5", "COUNT 5"),
    (
        "SORT RETURN (MIN MAX COUNT) (REVERSE ARRIVAL) US-ASCII ALL",
        "MIN 5 MAX 1 COUNT 5",
    ),
    (
        "SORT RETURN (PARTIAL 1:1) (ARRIVAL) US-ASCII ALL",
        "PARTIAL (1:1 1)",
    ),
    (
        "SORT RETURN (PARTIAL 4:2) (ARRIVAL) US-ASCII ALL",
        "PARTIAL (2:4 2:4)",
    ),
    (
        "SORT RETURN (PARTIAL 2:4) (REVERSE ARRIVAL) US-ASCII ALL",
        "PARTIAL (2:4 3:4,2)",
    ),
    (
        "SORT RETURN (PARTIAL 1:6) (REVERSE ARRIVAL) US-ASCII ALL",
        "PARTIAL (1:6 5,3:4,2,1)",
    ),
    ("SEARCH RETURN (PARTIAL 2:4) ALL", "PARTIAL (2:4 2:4)"),
    ("SEARCH RETURN (PARTIAL 6:6) ALL", "PARTIAL (6:6 NIL)"),
    ("SEARCH RETURN (PARTIAL 2:4) 1:2,4:5", "PARTIAL (2:4 2,4:5)"),
    (
        "SEARCH RETURN (PARTIAL 2:3 COUNT) 1:2,4:5",
        "PARTIAL (2:3 2,4) COUNT 4",
    ),
];

#[test]
fn sort_and_search_return_options_answer_as_imaptest_expects() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().iter().any(|x| x == "ESORT"));
    fill(&mut c);
    c.ok("SELECT INBOX");
    for (cmd, want) in CASES {
        assert_eq!(esearch(&mut c, cmd), format!("* ESEARCH {want}"), "{cmd}");
    }
    // UID forms answer with UIDs and say so.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    assert_eq!(
        esearch(&mut c, "UID SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 ALL"),
        "* ESEARCH UID ALL 5,3:4,2"
    );
    assert_eq!(
        esearch(&mut c, "UID SEARCH RETURN (PARTIAL 2:2) ALL"),
        "* ESEARCH UID PARTIAL (2:2 3)"
    );
    // Nothing matched: only COUNT says so.
    assert_eq!(
        esearch(
            &mut c,
            "SORT RETURN (MIN ALL COUNT) (ARRIVAL) UTF-8 SUBJECT nothere"
        ),
        "* ESEARCH COUNT 0"
    );
    for bad in [
        "SEARCH RETURN (PARTIAL 1) ALL",
        "SEARCH RETURN (PARTIAL 1:*) ALL",
        "SEARCH RETURN (PARTIAL *:1) ALL",
        "SEARCH RETURN (PARTIAL 0:1) ALL",
        "SORT RETURN (PARTIAL 1) (ARRIVAL) US-ASCII ALL",
        "SORT RETURN (SAVE) (ARRIVAL) US-ASCII ALL",
        "SORT RETURN (BOGUS) (ARRIVAL) US-ASCII ALL",
    ] {
        let r = c.cmd(bad);
        assert!(r.tagged.starts_with("BAD "), "{bad}: {r:?}");
    }
    // A plain SORT still answers with SORT.
    let r = c.ok("SORT (ARRIVAL) US-ASCII ALL");
    assert_eq!(r.untagged, ["* SORT 1 2 3 4"]);
}

#[test]
fn esort_answers_match_dovecot() {
    let server = TestServer::builder().run_as(mail_uid()).start();
    let home = server.root().join("home/alice");
    std::fs::create_dir_all(home.join("Maildir")).unwrap();
    hand_over(&home);
    let mut c = server.login();
    fill(&mut c);
    c.ok("SELECT INBOX");
    let asks: Vec<String> = [
        "SORT RETURN (MIN MAX ALL COUNT) (ARRIVAL) US-ASCII ALL",
        "SORT RETURN (MIN MAX ALL COUNT) (REVERSE ARRIVAL) US-ASCII ALL",
        "SORT RETURN () (SUBJECT) US-ASCII 2:4",
        "UID SORT RETURN (ALL COUNT) (REVERSE SUBJECT) US-ASCII ALL",
        "SORT RETURN (COUNT) (ARRIVAL) US-ASCII SUBJECT nothere",
    ]
    .map(String::from)
    .to_vec();
    let mut cmds = vec!["SELECT INBOX".to_string()];
    cmds.extend(asks.iter().cloned());
    let dv: Vec<String> = dovecot(&home, &cmds)
        .into_iter()
        .filter(|l| l.starts_with("* ESEARCH"))
        .map(|l| strip_tag(&l))
        .collect();
    let ours: Vec<String> = asks.iter().map(|a| esearch(&mut c, a)).collect();
    assert_eq!(ours, dv);
}
