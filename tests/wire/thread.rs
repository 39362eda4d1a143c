//! THREAD and UID THREAD (RFC 5256 §3, §4) over the wire, and SORT and
//! THREAD answers compared with Dovecot's on one generated Maildir.

use crate::common::dovecot::{hand_over, mail_uid, DovecotSession};
use crate::common::{Client, TestServer};
use std::path::Path;

fn thread_line(c: &mut Client, cmd: &str) -> String {
    let r = c.ok(cmd);
    let lines = r.find("* THREAD");
    assert_eq!(lines.len(), 1, "{r:?}");
    lines[0].trim_end().to_string()
}

fn msg(id: &str, date: &str, subject: &str, refs: &str) -> String {
    let mut m = format!("Message-ID: <{id}@x>\r\nDate: {date}\r\nSubject: {subject}\r\n");
    if !refs.is_empty() {
        m.push_str(&format!("References: {refs}\r\n"));
    }
    m.push_str("\r\nbody\r\n");
    m
}

#[test]
fn ordered_subject_and_references() {
    let server = TestServer::start();
    let mut c = server.login();
    let caps = c.ok("CAPABILITY");
    let caps = caps.find("* CAPABILITY")[0].to_string();
    for cap in [
        " THREAD=ORDEREDSUBJECT ",
        " THREAD=REFERENCES ",
        " THREAD=REFS ",
    ] {
        assert!(caps.contains(cap), "{caps}");
    }
    let d = |day: u32| format!("Mon, {day} Jan 2024 10:00:00 +0000");
    let msgs = [
        msg("a", &d(1), "party", ""),
        msg("b", &d(3), "Re: party", "<a@x>"),
        msg("c", &d(2), "lunch", ""),
        // A reply to a message that is not here: a dummy parent.
        msg("d", &d(4), "Re: trip", "<gone@x>"),
        msg("e", &d(5), "Re: party", "<a@x> <b@x>"),
        msg("f", &d(6), "Re: trip", "<gone@x>"),
        // No references: joins its subject's thread by subject alone.
        msg("g", &d(7), "Re: lunch", ""),
    ];
    for m in &msgs {
        c.append("INBOX", "", m);
    }
    c.ok("SELECT INBOX");
    assert_eq!(
        thread_line(&mut c, "THREAD ORDEREDSUBJECT UTF-8 ALL"),
        "* THREAD (1 (2)(5))(3 7)(4 6)"
    );
    assert_eq!(
        thread_line(&mut c, "THREAD REFERENCES UTF-8 ALL"),
        "* THREAD (1 2 5)(3 7)((4)(6))"
    );
    // Dovecot's REFS: no merging by subject; the thread with the newest
    // message comes last.
    assert_eq!(
        thread_line(&mut c, "THREAD REFS UTF-8 ALL"),
        "* THREAD (3)(1 2 5)((4)(6))(7)"
    );
    assert_eq!(
        thread_line(&mut c, "THREAD REFERENCES US-ASCII NOT 2"),
        "* THREAD (1 5)(3 7)((4)(6))"
    );
    assert_eq!(
        thread_line(&mut c, "THREAD REFERENCES UTF-8 NOT ALL"),
        "* THREAD"
    );
    // Without 1, its replies hang from a dummy, alone at the root: the
    // dummy goes (RFC 5256 §3 REFERENCES step 3), and 2 sorts by its date.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    assert_eq!(
        thread_line(&mut c, "UID THREAD REFERENCES UTF-8 ALL"),
        "* THREAD (3 7)(2 5)((4)(6))"
    );
    for bad in [
        "THREAD SIDEWAYS UTF-8 ALL",
        "THREAD REFERENCES ALL",
        "THREAD REFERENCES UTF-8",
    ] {
        let r = c.cmd(bad);
        assert!(r.tagged.starts_with("BAD"), "{bad}: {r:?}");
    }
    let r = c.cmd("THREAD REFERENCES X-NONE ALL");
    assert!(r.tagged.starts_with("NO [BADCHARSET"), "{r:?}");
}

/// A small deterministic generator (no extra crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (self.0 >> 33) % n
    }
}

/// Messages with the subjects, dates, addresses and reference chains
/// SORT and THREAD care about, in a fresh Maildir.
fn write_corpus(md: &Path, count: usize) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    let mut r = Lcg(20);
    let subjects = [
        "hello",
        "Hello",
        "meeting notes",
        "[team] plans",
        "",
        "=?utf-8?q?caf=C3=A9?=",
        "Café",
        "zebra",
        "[Fwd: meeting notes]",
        "budget (fwd)",
        "[a][b] budget",
    ];
    let prefixes = [
        "",
        "",
        "Re: ",
        "RE: re: ",
        "Fwd: ",
        "[team] Re: ",
        "Re[2]: ",
        "fw: ",
    ];
    let people = [
        "\"Zed Alpha\" <zed@x.org>",
        "amy@y.org",
        "Bob <bob@z.org>",
        "=?utf-8?q?=C3=89mile?= <emile@x.org>",
        "carol@x.org, amy@y.org",
        "undisclosed-recipients:;",
        "",
    ];
    let dates = [
        "Mon, 1 Jan 2024 10:00:00 +0000",
        "Mon, 1 Jan 2024 12:00:00 +0300",
        "2 Jan 2024 08:00 -0500",
        "Tue, 2 Jan 2024 08:00:00 EST",
        "Wed, 3 Jan 24 09:30:00 +0100",
        "not a date",
        "",
    ];
    for i in 0..count {
        let mut m = String::new();
        let id = format!("m{i}@gen");
        if r.next(10) != 0 {
            m.push_str(&format!("Message-ID: <{id}>\r\n"));
        }
        let date = dates[r.next(dates.len() as u64) as usize];
        // Equal dates are common: ties must go by sequence number.
        let same = i > 0 && r.next(3) == 0;
        let date = if same || date.is_empty() || date == "not a date" {
            date.to_string()
        } else {
            date.replace("2024", &format!("{}", 2000 + r.next(24)))
        };
        if !date.is_empty() {
            m.push_str(&format!("Date: {date}\r\n"));
        }
        for name in ["From", "To", "Cc"] {
            let p = people[r.next(people.len() as u64) as usize];
            if !p.is_empty() {
                m.push_str(&format!("{name}: {p}\r\n"));
            }
        }
        let subject = format!(
            "{}{}",
            prefixes[r.next(prefixes.len() as u64) as usize],
            subjects[r.next(subjects.len() as u64) as usize]
        );
        if r.next(12) != 0 {
            m.push_str(&format!("Subject: {subject}\r\n"));
        }
        if i > 0 {
            match r.next(5) {
                0 | 1 => {
                    // A chain of earlier ids, some of them never seen.
                    let mut chain = Vec::new();
                    let mut at = r.next(i as u64);
                    for _ in 0..r.next(4) + 1 {
                        chain.push(format!("<m{at}@gen>"));
                        if r.next(4) == 0 {
                            chain.push(format!("<lost{at}@gen>"));
                        }
                        if at == 0 {
                            break;
                        }
                        at = r.next(at);
                    }
                    chain.reverse();
                    m.push_str(&format!("References: {}\r\n", chain.join(" ")));
                }
                2 => {
                    let to = r.next(i as u64);
                    m.push_str(&format!("In-Reply-To: <m{to}@gen>\r\n"));
                }
                _ => {}
            }
        }
        m.push_str("\r\n");
        m.push_str(&"body line\r\n".repeat(r.next(20) as usize));
        let name = format!("{}.M{i}P1.gen:2,", 1_700_000_000 + i);
        let path = md.join("cur").join(name);
        std::fs::write(&path, m.as_bytes()).unwrap();
        // Arrival order differs from file order; some arrivals tie.
        let mtime = 1_600_000_000 + r.next(40) * 3600;
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime))
            .unwrap();
    }
}

const COMMANDS: &[&str] = &[
    "SORT (ARRIVAL) UTF-8 ALL",
    "SORT (DATE) UTF-8 ALL",
    "SORT (SIZE) UTF-8 ALL",
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (FROM) UTF-8 ALL",
    "SORT (TO) UTF-8 ALL",
    "SORT (CC) UTF-8 ALL",
    "SORT (DISPLAYFROM) UTF-8 ALL",
    "SORT (DISPLAYTO) UTF-8 ALL",
    "SORT (REVERSE DATE) UTF-8 ALL",
    "SORT (SUBJECT REVERSE ARRIVAL) UTF-8 ALL",
    "SORT (REVERSE FROM SIZE) US-ASCII NOT 3:7",
    "UID SORT (SUBJECT DATE) UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
    "THREAD REFERENCES UTF-8 NOT 10:20",
    "THREAD REFS UTF-8 ALL",
    "UID THREAD REFS UTF-8 NOT 30:40",
];

#[test]
fn same_sort_and_thread_as_dovecot() {
    let server = TestServer::builder().run_as(mail_uid()).start();
    let home = server.root().join("home/alice");
    write_corpus(&home.join("Maildir"), 120);
    hand_over(&home);
    let mut theirs = Vec::new();
    {
        let mut dv = DovecotSession::start(&home);
        // An expunge makes sequence numbers and UIDs differ.
        for cmd in [
            "SELECT INBOX",
            "UID STORE 5 +FLAGS.SILENT (\\Deleted)",
            "UID EXPUNGE 5",
        ] {
            let (_, tagged) = dv.cmd(cmd);
            assert!(tagged.starts_with("OK"), "{cmd}: {tagged}");
        }
        for cmd in COMMANDS {
            let (untagged, tagged) = dv.cmd(cmd);
            assert!(tagged.starts_with("OK"), "dovecot {cmd}: {tagged}");
            let word = if cmd.contains("SORT") {
                "* SORT"
            } else {
                "* THREAD"
            };
            let line = untagged
                .iter()
                .find(|l| l.starts_with(word))
                .unwrap_or_else(|| panic!("{cmd}: {untagged:?}"));
            theirs.push(line.trim_end().to_string());
        }
    }
    let mut c = server.login();
    c.ok("EXAMINE INBOX");
    let mut differ = Vec::new();
    for (cmd, dv) in COMMANDS.iter().zip(&theirs) {
        let r = c.ok(cmd);
        let word = if cmd.contains("SORT") {
            "* SORT"
        } else {
            "* THREAD"
        };
        let ours = r.find(word);
        assert_eq!(ours.len(), 1, "{cmd}: {r:?}");
        if ours[0].trim_end() != dv {
            differ.push(format!("{cmd}\n  roost:   {}\n  dovecot: {dv}", ours[0]));
        }
    }
    assert!(differ.is_empty(), "answers differ:\n{}", differ.join("\n"));
}
