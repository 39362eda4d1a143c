//! MULTIAPPEND (RFC 3502) and APPENDLIMIT (RFC 7889) over the wire.

use crate::common::{Client, TestServer};

fn messages_in(c: &mut Client, mailbox: &str) -> u32 {
    let r = c.ok(&format!("STATUS {mailbox} (MESSAGES)"));
    let line = &r.untagged[0];
    let n = line.rsplit(' ').next().unwrap().trim_end_matches(')');
    n.parse().unwrap()
}

/// Files anywhere under a mailbox's tmp/, new/ and cur/.
fn files(server: &TestServer, dir: &str) -> usize {
    let root = server.root().join("home/alice/Maildir").join(dir);
    ["tmp", "new", "cur"]
        .iter()
        .map(|s| std::fs::read_dir(root.join(s)).map_or(0, |d| d.count()))
        .sum()
}

#[test]
fn rfc3502_example_and_appenduid_set() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"MULTIAPPEND".to_string()));
    c.ok("CREATE saved-messages");
    let m1 = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example.COM>\r\nSubject: afternoon meeting\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
    let m2 = "Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\nFrom: Joe Mooch <mooch@OWATAGU.example.NET>\r\nSubject: Re: afternoon meeting\r\n\r\n3:30 is fine with me.\r\n";
    // Synchronizing literals, as in the RFC: a continuation for each.
    c.send(format!("A003 APPEND saved-messages (\\Seen) {{{}}}\r\n", m1.len()).as_bytes());
    assert!(c.line().starts_with("+ "));
    c.send(
        format!(
            "{m1} (\\Seen) \"07-Feb-1994 22:43:04 -0800\" {{{}}}\r\n",
            m2.len()
        )
        .as_bytes(),
    );
    assert!(c.line().starts_with("+ "));
    c.send(format!("{m2}\r\n").as_bytes());
    let r = c.read_reply("A003");
    assert!(r.tagged.starts_with("OK [APPENDUID "), "{r:?}");
    assert!(r.tagged.contains(" 1:2] "), "{r:?}");
    c.ok("SELECT saved-messages");
    let r = c.ok("FETCH 1:2 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(r.untagged[0].contains("\\Seen"), "{r:?}");
    // The mtime keeps the instant, not the zone.
    assert!(
        r.untagged[1].contains("08-Feb-1994 06:43:04 +0000"),
        "{r:?}"
    );
    assert!(r.untagged[1].contains("Re: afternoon meeting"), "{r:?}");
    // A later single APPEND continues the numbering.
    assert_eq!(c.append("saved-messages", "", "Subject: 3\r\n\r\nx\r\n"), 3);
}

#[test]
fn multiappend_is_all_or_nothing() {
    let server = TestServer::start();
    let mut c = server.login();
    c.ok("CREATE box");
    let before = files(&server, ".box");
    // The second message is empty: NO, and the first is not kept either.
    let r = c.cmd("APPEND box {3+}\r\nabc (\\Flagged) {0+}\r\n");
    assert!(r.tagged.starts_with("NO"), "{r:?}");
    // An invalid flag on the third: BAD, nothing kept.
    let r = c.cmd("APPEND box {1+}\r\na {1+}\r\nb (\\Bogus) {1+}\r\nc");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    assert_eq!(messages_in(&mut c, "box"), 0);
    assert_eq!(files(&server, ".box"), before, "no file left behind");
    // No such mailbox: TRYCREATE, as for one message.
    let r = c.cmd("APPEND nobox {1+}\r\na {1+}\r\nb");
    assert!(r.tagged.starts_with("NO [TRYCREATE]"), "{r:?}");
    // A syntax error after the first literal.
    let r = c.cmd("APPEND box {1+}\r\na junk");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    assert_eq!(messages_in(&mut c, "box"), 0);
    // Three at once, in order, with UTF8 data (RFC 6855) for the last.
    let r = c.ok("APPEND box {5+}\r\nSub:1 () {5+}\r\nSub:2 UTF8 (~{5+}\r\nSub:3)");
    assert!(r.tagged.contains(" 1:3] "), "{r:?}");
    c.ok("SELECT box");
    let r = c.ok("FETCH 1:3 BODY.PEEK[]");
    for (i, line) in r.untagged.iter().enumerate() {
        assert!(line.ends_with(&format!("Sub:{})", i + 1)), "{line}");
    }
    // Another session sees all three at once.
    let mut other = server.login();
    assert_eq!(messages_in(&mut other, "box"), 3);
}

#[test]
fn appendlimit_is_advertised_and_enforced_before_reading() {
    let server = TestServer::builder().opt("max_append_size", "2048").start();
    let mut c = server.login();
    let caps = c.capabilities();
    assert!(caps.contains(&"APPENDLIMIT=2048".to_string()), "{caps:?}");
    let r = c.ok("STATUS INBOX (MESSAGES APPENDLIMIT)");
    assert_eq!(
        r.untagged,
        vec!["* STATUS INBOX (MESSAGES 0 APPENDLIMIT 2048)"]
    );
    // A synchronizing literal over the limit: NO [TOOBIG] at once, no
    // continuation, and none of the 100 MB is ever sent.
    c.send(b"big APPEND INBOX {100000000}\r\n");
    let line = c.line();
    assert!(line.starts_with("big NO [TOOBIG]"), "{line}");
    let r = c.ok("NOOP");
    assert!(r.untagged.is_empty(), "{r:?}");
    // The same inside a MULTIAPPEND, after a first message that fits.
    c.send(b"m2 APPEND INBOX {3+}\r\nabc {100000000}\r\n");
    let line = c.line();
    assert!(line.starts_with("m2 NO [TOOBIG]"), "{line}");
    assert_eq!(messages_in(&mut c, "INBOX"), 0);
    // A non-synchronizing one just over the limit is read and dropped.
    let body = "x".repeat(2049);
    c.send(format!("nb APPEND INBOX {{2049+}}\r\n{body}\r\n").as_bytes());
    let line = c.line();
    assert!(line.starts_with("nb NO [TOOBIG]"), "{line}");
    c.append("INBOX", "", &"y".repeat(2000));
    assert_eq!(messages_in(&mut c, "INBOX"), 1);
}
