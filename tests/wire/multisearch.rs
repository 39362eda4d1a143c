//! MULTISEARCH (RFC 7377): ESEARCH IN (...) over several mailboxes.

use crate::common::{number_after, Client, TestServer};

fn uidvalidity(c: &mut Client, mailbox: &str) -> u64 {
    let r = c.ok(&format!("STATUS {mailbox} (UIDVALIDITY)"));
    number_after(&r.untagged[0], "UIDVALIDITY")
}

fn setup(c: &mut Client) {
    c.ok("CREATE Lists");
    c.ok("CREATE Lists.rust");
    c.ok("CREATE Lists.rust.old");
    c.ok("CREATE Other");
    c.ok("SUBSCRIBE Other");
    for (mbox, subject) in [
        ("INBOX", "chad 1"),
        ("INBOX", "other"),
        ("INBOX", "chad 2"),
        ("Lists", "chad 3"),
        ("Lists.rust", "nothing"),
        ("Lists.rust", "chad 4"),
        ("Lists.rust.old", "chad 5"),
        ("Other", "chad 6"),
    ] {
        c.append(mbox, "", &format!("Subject: {subject}\r\n\r\nbody\r\n"));
    }
}

#[test]
fn esearch_in_searches_several_mailboxes_in_authenticated_state() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"MULTISEARCH".to_string()));
    setup(&mut c);
    let inbox = uidvalidity(&mut c, "INBOX");
    let lists = uidvalidity(&mut c, "Lists");

    // RFC 7377 §2's shape, not selected: personal covers every mailbox.
    let r = c.ok("ESEARCH IN (personal) SUBJECT chad");
    let mut lines = r.find("* ESEARCH ");
    lines.sort();
    let tag = r.untagged[0].split('"').nth(1).expect("tag").to_string();
    assert!(
        lines.contains(
            &format!("* ESEARCH (TAG \"{tag}\" MAILBOX \"INBOX\" UIDVALIDITY {inbox}) UID ALL 1,3")
                .as_str()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &format!("* ESEARCH (TAG \"{tag}\" MAILBOX \"Lists\" UIDVALIDITY {lists}) UID ALL 1")
                .as_str()
        ),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 5, "{lines:?}");

    // subtree-one: the mailbox and its direct children only; RETURN options.
    let r = c.ok("ESEARCH IN (subtree-one Lists) RETURN (MIN COUNT) SUBJECT chad");
    let lines = r.find("* ESEARCH ");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("MAILBOX \"Lists.rust\"") && l.ends_with("UID MIN 2 COUNT 1")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| !l.contains("old")), "{lines:?}");
    // subtree: all descendants; mailboxes; subscribed; inboxes.
    let r = c.ok("ESEARCH IN (subtree \"Lists.rust\") SUBJECT chad");
    assert_eq!(r.find("* ESEARCH ").len(), 2, "{r:?}");
    let r =
        c.ok("ESEARCH IN (mailboxes (Other INBOX) subscribed inboxes) RETURN (COUNT) SUBJECT chad");
    let lines = r.find("* ESEARCH ");
    assert_eq!(lines.len(), 2, "each mailbox once: {lines:?}");
    assert!(lines
        .iter()
        .any(|l| l.contains("\"Other\"") && l.ends_with("COUNT 1")));
    assert!(lines
        .iter()
        .any(|l| l.contains("\"INBOX\"") && l.ends_with("COUNT 2")));
    // A mailbox without matches gets no answer, even for COUNT (RFC 7377 §2.1).
    let r = c.ok("ESEARCH IN (mailboxes Other) RETURN (COUNT) SUBJECT nomatch");
    assert!(r.find("* ESEARCH").is_empty(), "{r:?}");

    // Without IN it searches the selected mailbox; none selected is BAD.
    let r = c.cmd("ESEARCH SUBJECT chad");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    // SAVE is for one selected mailbox; scope options are unknown.
    let r = c.cmd("ESEARCH IN (personal) RETURN (SAVE) ALL");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    let r = c.cmd("ESEARCH IN (personal (depth 1)) ALL");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    c.ok("NOOP");
}

#[test]
fn esearch_in_leaves_the_selected_mailbox_alone() {
    let server = TestServer::start();
    let mut c = server.login();
    setup(&mut c);
    c.ok("SELECT Lists.rust");
    let r = c.ok("ESEARCH SUBJECT chad");
    assert!(
        r.untagged
            .iter()
            .any(|l| l.contains("MAILBOX \"Lists.rust\"") && l.ends_with("UID ALL 2")),
        "{r:?}"
    );
    let r = c.ok("ESEARCH IN (selected inboxes) SUBJECT chad");
    assert_eq!(r.find("* ESEARCH ").len(), 2, "{r:?}");
    // Other mailboxes are only looked at: INBOX keeps its \Recent.
    let r = c.ok("STATUS INBOX (RECENT)");
    assert!(r.untagged[0].contains("RECENT 3"), "{r:?}");
    // The selected mailbox is still the one searched by SEARCH.
    let r = c.ok("UID SEARCH SUBJECT chad");
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 2"], "{r:?}");
    // Another user's mailboxes are never among the sources.
    let r = c.cmd("ESEARCH IN (mailboxes \"../bob/INBOX\") ALL");
    assert!(r.find("* ESEARCH").is_empty(), "{r:?}");
}
