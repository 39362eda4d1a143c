//! NOTIFY (RFC 5465): STATUS for watched mailboxes other than the selected
//! one, after commands and while IDLE; LIST for folder and subscription
//! changes; NOTIFY NONE; refusals.

use crate::common::{Client, TestServer};

const MSG: &str = "Subject: n\r\n\r\nhello";

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

fn status_of(lines: &[String], mailbox: &str) -> Vec<String> {
    let prefix = format!("* STATUS {mailbox} (");
    lines
        .iter()
        .filter(|l| l.starts_with(&prefix))
        .cloned()
        .collect()
}

#[test]
fn status_of_watched_mailboxes_after_commands_and_in_idle() {
    let server = TestServer::start();
    let mut c = server.login();
    let mut other = server.login();
    assert!(c.capabilities().iter().any(|x| x == "NOTIFY"));
    c.ok("CREATE foo");
    c.append("foo", "", MSG);
    // STATUS: each watched mailbox's counts at once.
    let r = c.ok("NOTIFY SET STATUS (mailboxes foo (MessageNew MessageExpunge FlagChange))");
    let st = status_of(&r.untagged, "foo");
    assert_eq!(st.len(), 1, "{r:?}");
    assert!(
        st[0].starts_with("* STATUS foo (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ")
            && st[0].contains(" UNSEEN 1 HIGHESTMODSEQ "),
        "{st:?}"
    );
    // Without STATUS, nothing until something happens.
    let r = c.ok("NOTIFY SET (mailboxes foo (MessageNew MessageExpunge FlagChange))");
    assert!(status_of(&r.untagged, "foo").is_empty(), "{r:?}");
    let r = c.ok("NOOP");
    assert!(r.untagged.is_empty(), "{r:?}");
    // Another session's delivery is heard at the next command.
    other.append("foo", "", MSG);
    let r = c.ok("NOOP");
    let st = status_of(&r.untagged, "foo");
    assert_eq!(st.len(), 1, "{r:?}");
    assert!(
        st[0].starts_with("* STATUS foo (MESSAGES 2 UIDNEXT 3 "),
        "{st:?}"
    );
    // A flag change too (UNSEEN and HIGHESTMODSEQ move).
    other.ok("SELECT foo");
    other.ok("STORE 1 +FLAGS (\\Seen)");
    let r = c.ok("NOOP");
    let st = status_of(&r.untagged, "foo");
    assert!(st.len() == 1 && st[0].contains(" UNSEEN 1 "), "{r:?}");
    // And while IDLE, pushed as it happens.
    c.ok("SELECT INBOX");
    c.send(b"i1 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    other.ok("STORE 2 +FLAGS (\\Deleted)");
    other.ok("EXPUNGE");
    // The \\Deleted flag may be heard first (FlagChange), then the expunge.
    line_starting(&mut c, "* STATUS foo (MESSAGES 1 UIDNEXT 3 ");
    c.send(b"DONE\r\n");
    c.read_reply("i1");
    // INBOX is selected and not watched: its news come as EXISTS only.
    c.ok("NOTIFY SET (inboxes (MessageNew MessageExpunge)) (selected (MessageNew MessageExpunge))");
    other.append("INBOX", "", MSG);
    let r = c.ok("NOOP");
    assert!(r.untagged.iter().any(|l| l == "* 1 EXISTS"), "{r:?}");
    assert!(status_of(&r.untagged, "INBOX").is_empty(), "{r:?}");
    // NOTIFY NONE: silence again.
    c.ok("NOTIFY NONE");
    other.append("foo", "", MSG);
    let r = c.ok("NOOP");
    assert!(r.untagged.is_empty(), "{r:?}");
}

#[test]
fn folder_and_subscription_changes_come_as_list() {
    let server = TestServer::start();
    let mut c = server.login();
    let mut other = server.login();
    c.ok("NOTIFY SET (personal (MailboxName SubscriptionChange))");
    other.ok("CREATE bar");
    let r = c.ok("NOOP");
    assert_eq!(r.untagged, ["* LIST () \".\" bar"]);
    other.ok("SUBSCRIBE bar");
    let r = c.ok("NOOP");
    assert_eq!(r.untagged, ["* LIST (\\Subscribed) \".\" bar"]);
    other.ok("RENAME bar baz");
    let r = c.ok("NOOP");
    assert_eq!(
        r.untagged,
        ["* LIST (\\NonExistent) \".\" bar", "* LIST () \".\" baz"]
    );
    other.ok("UNSUBSCRIBE bar");
    let r = c.ok("NOOP");
    assert_eq!(r.untagged, ["* LIST () \".\" bar"]);
}

#[test]
fn refusals_leave_the_session_usable() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.cmd("NOTIFY NONE");
    assert!(r.tagged.starts_with("BAD"), "before login: {r:?}");
    let mut c = server.login();
    let r = c.cmd("NOTIFY SET (personal (MessageNew MessageExpunge NoSuchEvent))");
    assert!(r.tagged.starts_with("NO [BADEVENT ("), "{r:?}");
    let r = c.cmd("NOTIFY SET (personal (MessageNew (UID) MessageExpunge))");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    for bad in [
        "NOTIFY",
        "NOTIFY SET",
        "NOTIFY SET (personal)",
        "NOTIFY SET (nowhere (MessageNew))",
        "NOTIFY SET (mailboxes (MessageNew))",
        "NOTIFY MAYBE",
    ] {
        assert!(c.cmd(bad).tagged.starts_with("BAD"), "{bad}");
    }
    c.ok("NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (subtree INBOX NONE)");
    c.ok("NOOP");
}

#[test]
fn metadata_changes_are_announced() {
    let server = TestServer::start();
    let mut c = server.login();
    let mut other = server.login();
    c.ok("NOTIFY SET (personal (MailboxMetadataChange ServerMetadataChange))");
    other.ok("SETMETADATA INBOX (/private/comment \"x\")");
    other.ok("SETMETADATA \"\" (/private/comment \"y\")");
    let r = c.ok("NOOP");
    assert_eq!(
        r.untagged,
        [
            "* METADATA INBOX /private/comment",
            "* METADATA \"\" /private/comment"
        ]
    );
    other.ok("SETMETADATA INBOX (/private/comment NIL)");
    let r = c.ok("NOOP");
    assert_eq!(r.untagged, ["* METADATA INBOX /private/comment"]);
    // Only server entries asked for now.
    c.ok("NOTIFY SET (personal (ServerMetadataChange))");
    other.ok("SETMETADATA INBOX (/private/comment \"z\")");
    let r = c.ok("NOOP");
    assert!(r.untagged.is_empty(), "{r:?}");
}
