//! SORT and UID SORT (RFC 5256 §3) and SORT=DISPLAY (RFC 5957) over the
//! wire: every key, REVERSE, ties, the base subject, the charset and the
//! errors a client may cause.

use crate::common::{Client, Reply, TestServer};

/// The numbers of the one `* SORT` line of a successful reply.
fn numbers(r: &Reply) -> Vec<u32> {
    let lines = r.find("* SORT");
    assert_eq!(lines.len(), 1, "{r:?}");
    lines[0]
        .strip_prefix("* SORT")
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn sort(c: &mut Client, args: &str) -> Vec<u32> {
    numbers(&c.ok(&format!("SORT {args}")))
}

struct Msg {
    arrival: &'static str,
    date: &'static str,
    from: &'static str,
    to: &'static str,
    cc: &'static str,
    subject: &'static str,
    pad: usize,
}

/// Five messages whose keys each order differently.
const MSGS: &[Msg] = &[
    Msg {
        arrival: "03-Jan-2024 10:00:00 +0000",
        date: "Mon, 1 Jan 2024 12:00:00 +0000",
        from: "\"Zoe\" <carol@x.org>",
        to: "bob@x.org",
        cc: "",
        subject: "Re: beta",
        pad: 300,
    },
    Msg {
        arrival: "01-Jan-2024 10:00:00 +0000",
        // 09:00 UTC: earlier than message 1 once zones are applied.
        date: "Mon, 1 Jan 2024 11:00:00 +0200",
        from: "alice@x.org",
        to: "\"Adam\" <zed@x.org>",
        cc: "mallory@x.org",
        subject: "[list] alpha",
        pad: 100,
    },
    Msg {
        arrival: "02-Jan-2024 10:00:00 +0000",
        // No Date: the arrival stands in (RFC 5256 §2.2).
        date: "",
        from: "Bob <bob@x.org>",
        to: "amy@x.org",
        cc: "",
        subject: "Fwd: Alpha (fwd)",
        pad: 200,
    },
    Msg {
        arrival: "05-Jan-2024 10:00:00 +0000",
        date: "Tue, 2 Jan 2024 00:00:00 +0000",
        from: "=?utf-8?q?=C3=89mile?= <emile@x.org>",
        to: "carl@x.org",
        cc: "bert@x.org",
        subject: "gamma",
        pad: 0,
    },
    Msg {
        arrival: "04-Jan-2024 10:00:00 +0000",
        date: "garbage",
        from: "",
        to: "",
        cc: "",
        subject: "",
        pad: 50,
    },
];

fn fill(c: &mut Client) {
    for m in MSGS {
        let mut msg = String::new();
        for (name, v) in [
            ("Date", m.date),
            ("From", m.from),
            ("To", m.to),
            ("Cc", m.cc),
            ("Subject", m.subject),
        ] {
            if !v.is_empty() {
                msg.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        msg.push_str("\r\n");
        msg.push_str(&"x".repeat(m.pad));
        c.append("INBOX", &format!("\"{}\"", m.arrival), &msg);
    }
}

#[test]
fn every_key_and_reverse() {
    let server = TestServer::start();
    let mut c = server.login();
    let caps = c.ok("CAPABILITY");
    let caps = caps.find("* CAPABILITY")[0].to_string();
    for cap in [" SORT ", " SORT=DISPLAY "] {
        assert!(caps.contains(cap), "{caps}");
    }
    fill(&mut c);
    c.ok("SELECT INBOX");
    assert_eq!(sort(&mut c, "(ARRIVAL) UTF-8 ALL"), [2, 3, 1, 5, 4]);
    // 5's Date does not parse: its arrival (4 Jan) counts.
    assert_eq!(sort(&mut c, "(DATE) UTF-8 ALL"), [2, 1, 4, 3, 5]);
    assert_eq!(sort(&mut c, "(SIZE) UTF-8 ALL"), [5, 4, 2, 3, 1]);
    // Base subjects: "", ALPHA, ALPHA, BETA, GAMMA; ties by number.
    assert_eq!(sort(&mut c, "(SUBJECT) UTF-8 ALL"), [5, 2, 3, 1, 4]);
    // Mailboxes: "", alice, bob, carol, emile.
    assert_eq!(sort(&mut c, "(FROM) UTF-8 ALL"), [5, 2, 3, 1, 4]);
    // "", amy, bob, carl, zed.
    assert_eq!(sort(&mut c, "(TO) UTF-8 ALL"), [5, 3, 1, 4, 2]);
    assert_eq!(sort(&mut c, "(CC) UTF-8 ALL"), [1, 3, 5, 4, 2]);
    // Display names: "", alice@x.org, Bob, Émile (É folds to E), Zoe.
    assert_eq!(sort(&mut c, "(DISPLAYFROM) UTF-8 ALL"), [5, 2, 3, 4, 1]);
    // "", Adam, amy@x.org, bob@x.org, carl@x.org.
    assert_eq!(sort(&mut c, "(DISPLAYTO) UTF-8 ALL"), [5, 2, 3, 1, 4]);
    assert_eq!(sort(&mut c, "(REVERSE SIZE) UTF-8 ALL"), [1, 3, 2, 4, 5]);
    // REVERSE applies to its key only; the tie stays in number order.
    assert_eq!(
        sort(&mut c, "(REVERSE SUBJECT ARRIVAL) US-ASCII ALL"),
        [4, 1, 2, 3, 5]
    );
    assert_eq!(
        sort(&mut c, "(SUBJECT REVERSE ARRIVAL) UTF-8 ALL"),
        [5, 3, 2, 1, 4]
    );
    // The search program picks the messages.
    assert_eq!(sort(&mut c, "(SIZE) UTF-8 LARGER 90 NOT 3"), [4, 2, 1]);
    assert_eq!(sort(&mut c, "(FROM) UTF-8 SUBJECT alpha"), [2, 3]);
    assert_eq!(sort(&mut c, "(DATE) UTF-8 NOT ALL"), Vec::<u32>::new());
    // UID SORT answers UIDs: expunge 2 so numbers and UIDs part ways.
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    let r = c.ok("UID SORT (SUBJECT) UTF-8 ALL");
    assert_eq!(numbers(&r), [5, 3, 1, 4]);
    assert_eq!(sort(&mut c, "(SUBJECT) UTF-8 ALL"), [4, 2, 1, 3]);
}

#[test]
fn charsets_and_errors() {
    let server = TestServer::start();
    let mut c = server.login();
    fill(&mut c);
    // Not selected yet.
    assert!(c.cmd("SORT (DATE) UTF-8 ALL").tagged.starts_with("BAD"));
    c.ok("SELECT INBOX");
    // A SEARCH charset converts the search strings.
    c.send(b"L1 SORT (ARRIVAL) ISO-8859-1 FROM {5+}\r\n\xc9mile\r\n");
    assert_eq!(numbers(&c.read_reply("L1")), [4]);
    let r = c.cmd("SORT (DATE) X-UNKNOWN ALL");
    assert!(r.tagged.starts_with("NO [BADCHARSET"), "{r:?}");
    for bad in [
        "SORT (DATE) ALL",
        "SORT DATE UTF-8 ALL",
        "SORT () UTF-8 ALL",
        "SORT (REVERSE) UTF-8 ALL",
        "SORT (REVERSE REVERSE DATE) UTF-8 ALL",
        "SORT (SPEED) UTF-8 ALL",
        "SORT (DATE) UTF-8",
        "UID SORT (DATE ) UTF-8 ALL",
    ] {
        let r = c.cmd(bad);
        assert!(r.tagged.starts_with("BAD"), "{bad}: {r:?}");
    }
    // The session goes on.
    assert_eq!(sort(&mut c, "(DATE) utf-8 ALL"), [2, 1, 4, 3, 5]);
}

/// The sort keys come from the mailbox's message cache: once a SORT (or
/// a FETCH) has read the messages, a second session's SORT reads no file.
#[test]
fn a_warm_sort_reads_no_files() {
    let server = TestServer::start();
    let mut a = server.login();
    for subject in ["b", "a", "c"] {
        a.append("INBOX", "", &format!("Subject: {subject}\r\n\r\nx\r\n"));
    }
    a.ok("SELECT INBOX");
    assert_eq!(sort(&mut a, "(SUBJECT) UTF-8 ALL"), [2, 1, 3]);
    // Rewrite every file in place (nothing legitimate does this: Maildir
    // messages never change), reversing the subjects. Served from the
    // cache, a second session sorts as before.
    let cur = server.root().join("home/alice/Maildir/cur");
    for e in std::fs::read_dir(&cur).unwrap() {
        let path = e.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let flipped = text
            .replace("Subject: a", "Subject: z")
            .replace("Subject: c", "Subject: a");
        std::fs::write(&path, flipped).unwrap();
    }
    let mut b = server.login();
    b.ok("EXAMINE INBOX");
    assert_eq!(sort(&mut b, "(SUBJECT) UTF-8 ALL"), [2, 1, 3]);
    assert_eq!(sort(&mut b, "(REVERSE SUBJECT) UTF-8 ALL"), [3, 1, 2]);
}

/// A message another session expunged keeps its number until this one
/// hears of it (RFC 3501 §7.4.1): SORT and THREAD still list it, sorted
/// with empty keys, and say EXPUNGEISSUED; nothing breaks.
#[test]
fn messages_expunged_elsewhere_keep_their_numbers() {
    let server = TestServer::start();
    let mut a = server.login();
    for subject in ["b", "a", "c"] {
        a.append("INBOX", "", &format!("Subject: {subject}\r\n\r\nx\r\n"));
    }
    a.ok("SELECT INBOX");
    let mut b = server.login();
    b.ok("SELECT INBOX");
    b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    let r = a.ok("SORT (SUBJECT) UTF-8 ALL");
    assert_eq!(numbers(&r), [3, 2, 1]);
    assert!(r.tagged.starts_with("OK [EXPUNGEISSUED]"), "{r:?}");
    let r = a.ok("THREAD ORDEREDSUBJECT UTF-8 ALL");
    // Threads go by date; 3 has none left, 1 and 2 tie.
    assert_eq!(r.find("* THREAD"), ["* THREAD (3)(1)(2)"], "{r:?}");
    let r = a.ok("NOOP");
    assert_eq!(r.find("* 3 EXPUNGE").len(), 1, "{r:?}");
    assert_eq!(sort(&mut a, "(SUBJECT) UTF-8 ALL"), [2, 1]);
}

/// A one-key SORT is kept per mailbox and reused (webmail sorts the same
/// list on every page): it must still answer exactly as a fresh sort after
/// new mail, expunges, in another session, with REVERSE and for subsets.
#[test]
fn kept_sort_orders_follow_new_and_expunged_mail() {
    let server = TestServer::start();
    let mut a = server.login();
    let subject = |i: u32| ["delta", "Alpha", "charlie", "bravo", "alpha"][(i * 7 % 5) as usize];
    let mut subjects = Vec::new();
    let mut appended = 0;
    let mut add = |a: &mut Client, subjects: &mut Vec<(u32, &str)>, n: u32| {
        for _ in 0..n {
            appended += 1;
            let uid = appended;
            let s = subject(uid);
            a.append(
                "INBOX",
                "",
                &format!("Subject: {s}\r\n\r\n{}\r\n", "x".repeat(3 * uid as usize)),
            );
            subjects.push((uid, s));
        }
    };
    // Expected: by folded subject, ties (and REVERSE's ties) by number.
    let want = |present: &[(u32, &str)], reverse: bool, pick: &dyn Fn(u32) -> bool| {
        let mut v: Vec<(String, u32)> = present
            .iter()
            .enumerate()
            .filter(|(_, (uid, _))| pick(*uid))
            .map(|(i, (_, s))| (s.to_uppercase(), i as u32 + 1))
            .collect();
        v.sort_by(|x, y| {
            let o = x.0.cmp(&y.0);
            (if reverse { o.reverse() } else { o }).then(x.1.cmp(&y.1))
        });
        v.into_iter().map(|(_, n)| n).collect::<Vec<u32>>()
    };
    add(&mut a, &mut subjects, 20);
    a.ok("SELECT INBOX");
    let all = |_: u32| true;
    assert_eq!(
        sort(&mut a, "(SUBJECT) UTF-8 ALL"),
        want(&subjects, false, &all)
    );
    // New mail merges into the kept order.
    add(&mut a, &mut subjects, 7);
    a.ok("NOOP");
    assert_eq!(
        sort(&mut a, "(SUBJECT) UTF-8 ALL"),
        want(&subjects, false, &all)
    );
    assert_eq!(
        sort(&mut a, "(REVERSE SUBJECT) UTF-8 ALL"),
        want(&subjects, true, &all)
    );
    // Expunges leave it; the numbers close up.
    a.ok("STORE 2,5,21 +FLAGS.SILENT (\\Deleted)");
    a.ok("EXPUNGE");
    let gone = [2u32, 5, 21];
    subjects.retain(|(uid, _)| !gone.contains(uid));
    assert_eq!(
        sort(&mut a, "(SUBJECT) UTF-8 ALL"),
        want(&subjects, false, &all)
    );
    // Another session, a subset of the mailbox, sizes (3 bytes a UID).
    let mut b = server.login();
    b.ok("EXAMINE INBOX");
    let big = |uid: u32| uid > 10;
    assert_eq!(
        sort(&mut b, "(REVERSE SUBJECT) UTF-8 LARGER 52"),
        want(&subjects, true, &big)
    );
    let by_size: Vec<u32> = (1..=subjects.len() as u32).collect();
    assert_eq!(sort(&mut b, "(SIZE) UTF-8 ALL"), by_size);
    add(&mut a, &mut subjects, 3);
    b.ok("NOOP");
    let by_size: Vec<u32> = (1..=subjects.len() as u32).rev().collect();
    assert_eq!(sort(&mut b, "(REVERSE SIZE) UTF-8 ALL"), by_size);
    assert_eq!(
        sort(&mut b, "(SUBJECT) UTF-8 ALL"),
        want(&subjects, false, &all)
    );
}
