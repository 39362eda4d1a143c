//! ESEARCH (RFC 4731) and SEARCHRES (RFC 5182) over the wire, built from
//! the RFCs' examples on a mailbox made to give the same answers.

use crate::common::{Client, Reply, TestServer};

const SINCE: &str = "SINCE 1-Feb-1994 NOT FROM \"Smith\"";

/// Eleven messages in INBOX whose UIDs are their sequence numbers plus
/// two: 2, 10 and 11 are flagged and not from Smith (RFC 4731 §3.1's
/// examples answer `2,10:11`), 1 is flagged but from Smith, 1–3 are seen.
fn mailbox(server: &TestServer) -> Client {
    let mut c = server.login();
    for _ in 0..2 {
        c.append("INBOX", "(\\Deleted)", "Subject: gone\r\n\r\nx\r\n");
    }
    for i in 1..=11 {
        let from = if i == 1 { "Smith" } else { "Jones" };
        let mut flags = Vec::new();
        if [1, 2, 10, 11].contains(&i) {
            flags.push("\\Flagged");
        }
        if i <= 3 {
            flags.push("\\Seen");
        }
        let msg = format!("From: {from} <{from}@example.org>\r\nSubject: m{i}\r\n\r\nbody {i}\r\n");
        c.append(
            "INBOX",
            &format!("({}) \"05-Feb-1994 12:00:00 +0000\"", flags.join(" ")),
            &msg,
        );
    }
    c.ok("SELECT INBOX");
    c.ok("EXPUNGE");
    c
}

/// The one ESEARCH line of a reply, tag and all.
fn esearch(r: &Reply) -> String {
    let lines = r.find("* ESEARCH");
    assert_eq!(lines.len(), 1, "{r:?}");
    lines[0].to_string()
}

/// Runs a command and returns its tag with its reply.
fn tagged(c: &mut Client, command: &str) -> (String, Reply) {
    let tag = c.tag();
    c.send(format!("{tag} {command}\r\n").as_bytes());
    let r = c.read_reply(&tag);
    assert!(r.tagged.starts_with("OK"), "{command} -> {r:?}");
    (tag, r)
}

#[test]
fn rfc4731_examples() {
    let server = TestServer::start();
    let mut c = mailbox(&server);
    let caps = c.capabilities();
    assert!(caps.contains(&"ESEARCH".to_string()), "{caps:?}");

    let (t, r) = tagged(
        &mut c,
        &format!("SEARCH RETURN (MIN COUNT) FLAGGED {SINCE}"),
    );
    assert_eq!(
        esearch(&r),
        format!("* ESEARCH (TAG \"{t}\") MIN 2 COUNT 3")
    );
    assert!(r.find("* SEARCH").is_empty(), "ESEARCH replaces SEARCH");

    let (t, r) = tagged(&mut c, &format!("SEARCH RETURN () FLAGGED {SINCE}"));
    assert_eq!(esearch(&r), format!("* ESEARCH (TAG \"{t}\") ALL 2,10:11"));

    let (t, r) = tagged(&mut c, "SEARCH RETURN (MIN) UNSEEN");
    assert_eq!(esearch(&r), format!("* ESEARCH (TAG \"{t}\") MIN 4"));

    // UIDs are the sequence numbers plus two here.
    let (t, r) = tagged(&mut c, "UID SEARCH RETURN (MIN MAX) 1:5000");
    assert_eq!(
        esearch(&r),
        format!("* ESEARCH (TAG \"{t}\") UID MIN 3 MAX 13")
    );

    c.ok("STORE 5:9 +FLAGS.SILENT (\\Deleted)");
    let (t, r) = tagged(&mut c, "SEARCH RETURN (COUNT) DELETED");
    assert_eq!(esearch(&r), format!("* ESEARCH (TAG \"{t}\") COUNT 5"));

    // All four, in Dovecot's order whatever the request's.
    let (t, r) = tagged(&mut c, "UID SEARCH RETURN (COUNT ALL MAX MIN) FLAGGED");
    assert_eq!(
        esearch(&r),
        format!("* ESEARCH (TAG \"{t}\") UID MIN 3 MAX 13 ALL 3:4,12:13 COUNT 4")
    );

    // Nothing found: MIN, MAX and ALL are left out, COUNT stays.
    let (t, r) = tagged(&mut c, "SEARCH RETURN (MIN MAX ALL COUNT) DRAFT");
    assert_eq!(esearch(&r), format!("* ESEARCH (TAG \"{t}\") COUNT 0"));
    let (t, r) = tagged(&mut c, "SEARCH RETURN (ALL) DRAFT");
    assert_eq!(esearch(&r), format!("* ESEARCH (TAG \"{t}\")"));

    // The ALL set can be used as is in a later command.
    let (_, r) = tagged(&mut c, "UID SEARCH RETURN (ALL) FLAGGED");
    let set = esearch(&r).rsplit(' ').next().unwrap().to_string();
    let r = c.ok(&format!("UID FETCH {set} (FLAGS)"));
    assert_eq!(r.find("* ").len(), 4, "{r:?}");

    for bad in [
        "SEARCH RETURN (FOO) ALL",
        "SEARCH RETURN (MIN",
        "SEARCH RETURN ALL",
    ] {
        let r = c.cmd(bad);
        assert!(r.tagged.starts_with("BAD"), "{bad} -> {r:?}");
    }
}

/// The FETCH lines' sequence numbers.
fn fetched(r: &Reply) -> Vec<u32> {
    r.untagged
        .iter()
        .filter(|l| l.contains(" FETCH "))
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect()
}

fn uids(c: &mut Client, command: &str) -> Vec<u32> {
    let r = c.ok(command);
    let line = r.find("* SEARCH");
    assert_eq!(line.len(), 1, "{r:?}");
    line[0]
        .split_whitespace()
        .skip(2)
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn rfc5182_examples() {
    let server = TestServer::start();
    let mut c = mailbox(&server);
    assert!(c.capabilities().contains(&"SEARCHRES".to_string()));

    // Before any SAVE, `$` is empty and no error (§2.1, example 6).
    let r = c.ok("FETCH $ (UID)");
    assert!(fetched(&r).is_empty(), "{r:?}");

    // Example 1: SAVE alone sends no ESEARCH; FETCH $ uses it.
    let r = c.ok(&format!("SEARCH RETURN (SAVE) FLAGGED {SINCE}"));
    assert!(r.untagged.is_empty(), "{r:?}");
    let r = c.ok("FETCH $ (UID FLAGS)");
    assert_eq!(fetched(&r), vec![2, 10, 11]);
    assert!(r.untagged[0].contains("UID 4"), "{r:?}");

    // Example 2: pipelined, executed in order.
    c.send(format!("p1 SEARCH RETURN (SAVE) FLAGGED {SINCE}\r\np2 FETCH $ (UID)\r\n").as_bytes());
    c.read_reply("p1");
    assert_eq!(fetched(&c.read_reply("p2")), vec![2, 10, 11]);

    // Example 3: a saved MSN result used as UIDs, by UID $ or by $.
    assert_eq!(
        uids(&mut c, "UID SEARCH UID $ SMALLER 4096"),
        vec![4, 12, 13]
    );
    assert_eq!(uids(&mut c, "UID SEARCH $ SMALLER 4096"), vec![4, 12, 13]);
    assert_eq!(uids(&mut c, "SEARCH NOT $"), vec![1, 3, 4, 5, 6, 7, 8, 9]);

    // Example 4: `$` inside OR.
    assert_eq!(
        uids(
            &mut c,
            "SEARCH CHARSET UTF-8 (OR $ 1,3000:3021) TEXT {4+}\r\nbody"
        ),
        vec![1, 2, 10, 11]
    );

    // Example 5: a SAVE search failing with NO empties `$`.
    c.ok("SEARCH RETURN (SAVE) FLAGGED");
    // RFC 5182 uses KOI8-R, which Roost knows; an unknown name instead.
    let r = c.cmd("SEARCH RETURN (SAVE) CHARSET X-UNKNOWN (OR $ 1,3000:3021) TEXT {4+}\r\nXXXX");
    assert!(r.tagged.starts_with("NO [BADCHARSET"), "{r:?}");
    assert!(fetched(&c.ok("FETCH $ (UID)")).is_empty());

    // ...but a BAD leaves it alone, and so does a SEARCH without SAVE.
    c.ok("SEARCH RETURN (SAVE) FLAGGED");
    assert!(c.cmd("SEARCH RETURN (SAVE) FROB").tagged.starts_with("BAD"));
    c.ok("SEARCH DELETED");
    c.ok("SEARCH RETURN (COUNT) SEEN");
    assert_eq!(fetched(&c.ok("FETCH $ (UID)")), vec![1, 2, 10, 11]);

    // Example 6: COPY $ with an empty `$` is OK, nothing copied.
    c.ok("CREATE \"Other Messages\"");
    c.ok("SEARCH RETURN (SAVE) SINCE 28-Oct-2006 NOT FROM \"Eric\"");
    let r = c.ok("COPY $ \"Other Messages\"");
    assert!(!r.tagged.contains("COPYUID"), "{r:?}");

    // Example 7: SAVE, COPY $, STORE $ pipelined.
    c.ok("CREATE Junk");
    c.send(
        b"f1 SEARCH RETURN (SAVE) FROM Smith\r\nf2 COPY $ Junk\r\nf3 STORE $ +FLAGS.SILENT (\\Deleted)\r\n",
    );
    assert!(c.read_reply("f1").tagged.starts_with("OK"));
    assert!(c.read_reply("f2").tagged.contains("COPYUID"));
    assert!(c.read_reply("f3").tagged.starts_with("OK"));
    assert_eq!(uids(&mut c, "SEARCH DELETED"), vec![1]);
    let r = c.ok("STATUS Junk (MESSAGES)");
    assert!(r.untagged[0].ends_with("(MESSAGES 1)"), "{r:?}");

    // Example 9: the second SAVE wins.
    c.ok("SEARCH RETURN (SAVE) FLAGGED");
    c.ok("SEARCH RETURN (SAVE) SEEN");
    assert_eq!(fetched(&c.ok("FETCH $ (UID)")), vec![1, 2, 3]);
}

#[test]
fn rfc5182_save_with_min_max_count() {
    let server = TestServer::start();
    let mut c = mailbox(&server);
    let search = format!("FLAGGED {SINCE}");
    let rows: &[(&str, &str, &[u32])] = &[
        ("ALL", "ALL 2,10:11", &[]),
        ("ALL SAVE", "ALL 2,10:11", &[2, 10, 11]),
        ("SAVE MIN", "MIN 2", &[2]),
        ("MAX SAVE MIN", "MIN 2 MAX 11", &[2, 11]),
        ("MAX SAVE MIN COUNT", "MIN 2 MAX 11 COUNT 3", &[2, 10, 11]),
        ("ALL SAVE MIN", "MIN 2 ALL 2,10:11", &[2, 10, 11]),
        ("SAVE MAX", "MAX 11", &[11]),
    ];
    for (opts, answer, saved) in rows {
        // Example 10's first row leaves `$` as it was: start from empty.
        c.ok("SEARCH RETURN (SAVE) DRAFT");
        let (t, r) = tagged(&mut c, &format!("SEARCH RETURN ({opts}) {search}"));
        assert_eq!(
            esearch(&r),
            format!("* ESEARCH (TAG \"{t}\") {answer}"),
            "{opts}"
        );
        assert_eq!(fetched(&c.ok("FETCH $ (UID)")), saved.to_vec(), "{opts}");
    }
    // UID SEARCH saves the same messages.
    c.ok("UID SEARCH RETURN (SAVE) FLAGGED");
    assert_eq!(fetched(&c.ok("FETCH $ (UID)")), vec![1, 2, 10, 11]);
    assert_eq!(uids(&mut c, "UID SEARCH $"), vec![3, 4, 12, 13]);
}

#[test]
fn saved_result_follows_expunges_and_ends_with_the_selection() {
    let server = TestServer::start();
    let mut c = mailbox(&server);
    c.ok("SEARCH RETURN (SAVE) FLAGGED");
    // Another session expunges message 2 (UID 4).
    let mut other = server.login();
    other.ok("SELECT INBOX");
    other.ok("UID STORE 4 +FLAGS.SILENT (\\Deleted)");
    other.ok("UID EXPUNGE 4");
    let r = c.ok("NOOP");
    assert!(r.untagged.contains(&"* 2 EXPUNGE".to_string()), "{r:?}");
    // Numbers shifted: 1, 9, 10 now; UIDs 3, 12, 13.
    assert_eq!(fetched(&c.ok("FETCH $ (UID)")), vec![1, 9, 10]);
    assert_eq!(uids(&mut c, "UID SEARCH UID $"), vec![3, 12, 13]);

    // MOVE $ and UID EXPUNGE $.
    c.ok("CREATE Keep");
    c.ok("SEARCH RETURN (SAVE) UID 12");
    let r = c.ok("MOVE $ Keep");
    assert!(
        r.untagged[0].contains("[COPYUID ") && r.untagged[0].contains(" 12 1]"),
        "{r:?}"
    );
    c.ok("SEARCH RETURN (SAVE) 1");
    c.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)");
    let r = c.ok("UID EXPUNGE $");
    assert_eq!(r.find("* 1 EXPUNGE").len(), 1, "{r:?}");
    assert_eq!(
        uids(&mut c, "SEARCH DELETED"),
        vec![1],
        "only $ was expunged"
    );

    // A new SELECT (and CLOSE, UNSELECT) starts with an empty `$`.
    for end in ["SELECT INBOX", "EXAMINE INBOX", "UNSELECT", "CLOSE"] {
        c.ok("SELECT INBOX");
        c.ok("SEARCH RETURN (SAVE) ALL");
        assert!(!fetched(&c.ok("FETCH $ (UID)")).is_empty());
        c.ok(end);
        if !end.contains("INBOX") {
            c.ok("EXAMINE INBOX");
        }
        assert!(fetched(&c.ok("FETCH $ (UID)")).is_empty(), "after {end}");
    }
    // `$` cannot be combined with numbers.
    assert!(c.cmd("FETCH $,1 (UID)").tagged.starts_with("BAD"));
    assert!(c.cmd("FETCH 1:$ (UID)").tagged.starts_with("BAD"));
}
