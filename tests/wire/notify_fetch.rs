//! NOTIFY (RFC 5465 §5.2): `MessageNew (fetch-att ...)` for the selected
//! mailbox sends the asked items for each message that arrives, after its
//! EXISTS, at the next command and while IDLE (the RFC's §3.1 example).

use crate::common::{Client, TestServer};

const MSG: &str =
    "From: ann@example.org\r\nTo: bob@example.org\r\nSubject: news\r\nX-Other: no\r\n\r\nhello\r\n";

/// Reads lines until one starts with `prefix` (bounded; the client's read
/// timeout ends a wait for a line that never comes).
fn line_starting(c: &mut Client, prefix: &str) -> String {
    for _ in 0..100 {
        let line = c.line();
        if line.starts_with(prefix) {
            return line;
        }
    }
    panic!("no line starting {prefix:?}");
}

#[test]
fn message_new_sends_the_asked_fetch_items() {
    let server = TestServer::start();
    let mut c = server.login();
    let mut other = server.login();
    c.append("INBOX", "", MSG);
    c.ok("SELECT INBOX");
    c.ok(
        "NOTIFY SET (selected (MessageNew (uid body.peek[header.fields (from to subject)]) \
         MessageExpunge))",
    );
    let uid = other.append("INBOX", "", MSG);
    let r = c.ok("NOOP");
    let exists = r.untagged.iter().position(|l| l == "* 2 EXISTS");
    let fetch = r.untagged.iter().position(|l| l.starts_with("* 2 FETCH ("));
    assert!(exists.is_some() && fetch > exists, "{r:?}");
    let line = &r.untagged[fetch.unwrap()];
    assert!(line.contains(&format!("UID {uid}")), "{line}");
    assert!(
        line.contains("BODY[HEADER.FIELDS (FROM TO SUBJECT)] {")
            && line.contains("Subject: news")
            && !line.contains("X-Other"),
        "{line}"
    );
    // BODY.PEEK: the new message stays unseen.
    let r = c.ok("FETCH 2 (FLAGS)");
    assert!(!r.find("* 2 FETCH")[0].contains("\\Seen"), "{r:?}");

    // While IDLE, pushed as it happens.
    c.send(b"i1 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    let uid = other.append("INBOX", "", MSG);
    line_starting(&mut c, "* 3 EXISTS");
    let line = line_starting(&mut c, "* 3 FETCH (");
    assert!(
        line.contains(&format!("UID {uid}")) && line.contains("Subject: news"),
        "{line}"
    );
    c.send(b"DONE\r\n");
    c.read_reply("i1");

    // Without attributes: EXISTS only, as before.
    c.ok("NOTIFY SET (selected (MessageNew MessageExpunge))");
    other.append("INBOX", "", MSG);
    let r = c.ok("NOOP");
    assert!(r.untagged.iter().any(|l| l == "* 4 EXISTS"), "{r:?}");
    assert!(r.find("* 4 FETCH").is_empty(), "{r:?}");
    // Attributes outside SELECTED are refused, the session goes on.
    let r = c.cmd("NOTIFY SET (inboxes (MessageNew (uid)))");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    c.ok("NOOP");
}
