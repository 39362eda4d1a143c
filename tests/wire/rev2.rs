//! IMAP4rev2 (RFC 9051) beside IMAP4rev1: both are advertised, and only a
//! session that sent `ENABLE IMAP4rev2` gets rev2's answers (Appendix A).
//! Each test runs a rev1 and a rev2 session on the same mailboxes and
//! compares what each client sees.

use crate::common::{Client, TestServer};

/// A logged-in session that has enabled IMAP4rev2.
fn rev2(server: &TestServer) -> Client {
    let mut c = server.login();
    let r = c.ok("ENABLE IMAP4rev2");
    assert_eq!(r.untagged, vec!["* ENABLED IMAP4rev2"]);
    c
}

fn fill_inbox(c: &mut Client) {
    c.append("INBOX", "(\\Seen)", "Subject: one\r\n\r\nfirst\r\n");
    c.append("INBOX", "", "Subject: two\r\n\r\nsecond\r\n");
    c.append("INBOX", "", "Subject: three\r\n\r\nthird\r\n");
}

#[test]
fn both_revisions_are_advertised_and_enable_switches_one_session() {
    let server = TestServer::start();
    let mut c = server.connect();
    let before = c.capabilities();
    assert!(before.contains(&"IMAP4rev1".to_string()), "{before:?}");
    assert!(before.contains(&"IMAP4rev2".to_string()), "{before:?}");
    c.ok("LOGIN alice secret");
    let caps = c.capabilities();
    assert!(caps.contains(&"IMAP4rev1".to_string()), "{caps:?}");
    assert!(caps.contains(&"IMAP4rev2".to_string()), "{caps:?}");
    // RFC 9051 §6.3.1: the name is matched without regard to case, the
    // ENABLED response lists what this command enabled, and CAPABILITY
    // does not change.
    let r = c.ok("ENABLE imap4rev2");
    assert_eq!(r.untagged, vec!["* ENABLED IMAP4rev2"]);
    let r = c.ok("ENABLE IMAP4rev2 CONDSTORE");
    assert_eq!(r.untagged, vec!["* ENABLED CONDSTORE"]);
    assert_eq!(c.capabilities(), caps);
}

#[test]
fn select_sends_list_and_no_recent_or_unseen_under_rev2() {
    let server = TestServer::start();
    let mut v2 = rev2(&server);
    fill_inbox(&mut v2);
    // The rev2 session opens first, so a rev1 session would have these
    // messages as \Recent; rev2 has no \Recent at all.
    let r = v2.ok("SELECT INBOX");
    let uidvalidity = uidvalidity_code(&r.untagged);
    assert_eq!(
        r.untagged,
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)".to_string(),
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted."
                .to_string(),
            "* 3 EXISTS".to_string(),
            "* LIST (\\HasNoChildren) \".\" INBOX".to_string(),
            format!("* OK {uidvalidity} UIDs valid"),
            "* OK [UIDNEXT 4] Predicted next UID".to_string(),
            format!("* OK {} Ok", mailboxid_code(&r.untagged)),
        ]
    );
    assert_eq!(r.tagged, "OK [READ-WRITE] Select completed.");
    let r = v2.ok("FETCH 1:3 FLAGS");
    assert_eq!(
        r.untagged,
        vec![
            "* 1 FETCH (FLAGS (\\Seen))",
            "* 2 FETCH (FLAGS ())",
            "* 3 FETCH (FLAGS ())",
        ]
    );
    // A second SELECT says the first mailbox's responses end (§6.3.2).
    v2.ok("CREATE Archive");
    v2.ok("CREATE Archive.2026");
    let r = v2.ok("EXAMINE Archive");
    assert_eq!(r.untagged[0], "* OK [CLOSED] Previous mailbox closed.");
    // The attributes are LIST's: children and the special use.
    assert!(
        r.untagged
            .contains(&"* LIST (\\HasChildren \\Archive) \".\" Archive".to_string()),
        "{r:?}"
    );
    assert!(!r.untagged.iter().any(|l| l.contains("RECENT")), "{r:?}");

    // The same mailbox through rev1 still has RECENT and UNSEEN, no LIST.
    let mut v1 = server.login();
    v1.append("INBOX", "", "Subject: four\r\n\r\nfourth\r\n");
    let r = v1.ok("SELECT INBOX");
    assert!(r.untagged.contains(&"* 1 RECENT".to_string()), "{r:?}");
    assert!(
        r.untagged
            .contains(&"* OK [UNSEEN 2] First unseen.".to_string()),
        "{r:?}"
    );
    assert!(!r.untagged.iter().any(|l| l.starts_with("* LIST")), "{r:?}");
    let r = v1.ok("FETCH 4 FLAGS");
    assert_eq!(r.untagged, vec!["* 4 FETCH (FLAGS (\\Recent))"]);
}

/// The `[UIDVALIDITY n]` code from a SELECT's lines.
/// RFC 8474 §4.2: the `[MAILBOXID (...)]` code SELECT sends.
fn mailboxid_code(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|l| {
            let start = l.find("[MAILBOXID (")?;
            let end = l[start..].find(']')? + start;
            Some(l[start..=end].to_string())
        })
        .unwrap_or_default()
}

fn uidvalidity_code(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|l| {
            let start = l.find("[UIDVALIDITY ")?;
            let end = l[start..].find(']')? + start;
            Some(l[start..=end].to_string())
        })
        .unwrap_or_default()
}

#[test]
fn search_is_answered_with_esearch_under_rev2() {
    let server = TestServer::start();
    let mut v1 = server.login();
    fill_inbox(&mut v1);
    v1.ok("SELECT INBOX");
    let mut v2 = rev2(&server);
    v2.ok("SELECT INBOX");

    let r = v1.ok("SEARCH ALL");
    assert_eq!(r.untagged, vec!["* SEARCH 1 2 3"]);
    let r = v1.ok("UID SEARCH UNSEEN");
    assert_eq!(r.untagged, vec!["* SEARCH 2 3"]);

    // RFC 9051 §6.4.4: no RETURN means RETURN (ALL), as an ESEARCH.
    let tag = v2.tag();
    v2.send(format!("{tag} SEARCH ALL\r\n").as_bytes());
    let r = v2.read_reply(&tag);
    assert_eq!(
        r.untagged,
        vec![format!("* ESEARCH (TAG \"{tag}\") ALL 1:3")]
    );
    let tag = v2.tag();
    v2.send(format!("{tag} UID SEARCH UNSEEN\r\n").as_bytes());
    let r = v2.read_reply(&tag);
    assert_eq!(
        r.untagged,
        vec![format!("* ESEARCH (TAG \"{tag}\") UID ALL 2:3")]
    );
    // Nothing found: the ESEARCH is still sent, without ALL (§7.3.4).
    let tag = v2.tag();
    v2.send(format!("{tag} SEARCH SUBJECT nowhere\r\n").as_bytes());
    let r = v2.read_reply(&tag);
    assert_eq!(r.untagged, vec![format!("* ESEARCH (TAG \"{tag}\")")]);
    // No \Recent under rev2, so RECENT finds nothing.
    let tag = v2.tag();
    v2.send(format!("{tag} SEARCH RECENT\r\n").as_bytes());
    let r = v2.read_reply(&tag);
    assert_eq!(r.untagged, vec![format!("* ESEARCH (TAG \"{tag}\")")]);
    // Result options work as before.
    let tag = v2.tag();
    v2.send(format!("{tag} SEARCH RETURN (MIN COUNT) UNSEEN\r\n").as_bytes());
    let r = v2.read_reply(&tag);
    assert_eq!(
        r.untagged,
        vec![format!("* ESEARCH (TAG \"{tag}\") MIN 2 COUNT 2")]
    );
}

#[test]
fn status_deleted_counts_deleted_messages_in_both_revisions() {
    let server = TestServer::start();
    let mut v1 = server.login();
    fill_inbox(&mut v1);
    v1.ok("SELECT INBOX");
    v1.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)");
    v1.ok("CREATE Other");
    let mut v2 = rev2(&server);
    for c in [&mut v1, &mut v2] {
        let r = c.ok("STATUS INBOX (MESSAGES DELETED UNSEEN)");
        assert_eq!(
            r.untagged,
            vec!["* STATUS INBOX (MESSAGES 3 DELETED 2 UNSEEN 2)"]
        );
        let r = c.ok("STATUS Other (DELETED)");
        assert_eq!(r.untagged, vec!["* STATUS Other (DELETED 0)"]);
    }
    // LIST-STATUS (folded into rev2) takes DELETED too.
    let r = v2.ok("LIST \"\" INBOX RETURN (STATUS (DELETED))");
    assert_eq!(
        r.untagged,
        vec!["* LIST () \".\" INBOX", "* STATUS INBOX (DELETED 2)"]
    );
    let r = v2.cmd("STATUS INBOX (DELETED-STORAGE)");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
}

#[test]
fn changes_from_other_sessions_reach_rev2_with_uid_and_without_recent() {
    let server = TestServer::start();
    let mut writer = server.login();
    fill_inbox(&mut writer);
    writer.ok("SELECT INBOX");
    let mut v1 = server.login();
    v1.ok("EXAMINE INBOX");
    let mut v2 = rev2(&server);
    v2.ok("EXAMINE INBOX");

    writer.ok("STORE 2 +FLAGS.SILENT (\\Flagged)");
    writer.append("INBOX", "", "Subject: four\r\n\r\nfourth\r\n");

    let r = v1.ok("NOOP");
    assert_eq!(
        r.untagged,
        vec!["* 2 FETCH (FLAGS (\\Flagged))", "* 4 EXISTS", "* 1 RECENT"]
    );
    // RFC 9051 §7.5.2: an unsolicited FETCH carries the UID; no RECENT.
    let r = v2.ok("NOOP");
    assert_eq!(
        r.untagged,
        vec!["* 2 FETCH (UID 2 FLAGS (\\Flagged))", "* 4 EXISTS"]
    );
}

#[test]
fn rev2_sessions_use_utf8_mailbox_names() {
    let server = TestServer::start();
    let mut v1 = server.login();
    v1.ok("CREATE Entw&APw-rfe");
    let mut v2 = rev2(&server);
    // RFC 9051 §5.1: names are UTF-8 both ways after ENABLE IMAP4rev2.
    let r = v2.ok("LIST \"\" \"Entw*\"");
    assert_eq!(
        r.untagged,
        vec!["* LIST (\\HasNoChildren) \".\" \"Entwürfe\""]
    );
    v2.ok("CREATE \"Größe\"");
    let r = v2.ok("STATUS \"Größe\" (MESSAGES)");
    assert_eq!(r.untagged, vec!["* STATUS \"Größe\" (MESSAGES 0)"]);
    let r = v2.ok("SELECT \"Größe\"");
    assert!(
        r.untagged
            .contains(&"* LIST (\\HasNoChildren) \".\" \"Größe\"".to_string()),
        "{r:?}"
    );
    // On disk, and for rev1 clients, it is modified UTF-7 as always.
    let maildir = server.root().join("home/alice/Maildir");
    assert!(maildir.join(".Gr&APYA3w-e").is_dir());
    let r = v1.ok("LIST \"\" \"Gr*\"");
    assert_eq!(
        r.untagged,
        vec!["* LIST (\\HasNoChildren) \".\" Gr&APYA3w-e"]
    );
    // Bad UTF-8 is a BAD, and the session goes on.
    v2.send(b"u1 STATUS \"Gr\xc3\" (MESSAGES)\r\n");
    let r = v2.read_reply("u1");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    v2.ok("NOOP");
}

#[test]
fn list_marks_subscribed_names_that_do_not_exist_under_rev2() {
    let server = TestServer::start();
    let mut v2 = rev2(&server);
    v2.ok("CREATE Kept");
    v2.ok("SUBSCRIBE Kept");
    v2.ok("SUBSCRIBE Gone");
    // RFC 9051 §6.3.9.3 and Table 3: a subscribed name that does not
    // exist is listed with \NonExistent beside \Subscribed.
    let r = v2.ok("LIST (SUBSCRIBED) \"\" \"*\"");
    assert_eq!(
        r.untagged,
        vec![
            "* LIST (\\NonExistent \\Subscribed) \".\" Gone",
            "* LIST (\\Subscribed) \".\" Kept",
        ]
    );
    let r = v2.ok("LIST \"\" \"*\" RETURN (SUBSCRIBED)");
    assert_eq!(
        r.untagged,
        vec!["* LIST () \".\" INBOX", "* LIST (\\Subscribed) \".\" Kept",]
    );
}

/// A real rev2 client: imapflow (npm) enables IMAP4rev2 by itself and then
/// relies on ESEARCH, STATUS DELETED and UTF-8 names. It is no Debian
/// package, so this runs only when ROOST_IMAPFLOW names a node_modules
/// directory that holds it (`npm install imapflow` somewhere).
#[test]
fn imapflow_works_as_a_rev2_client() {
    let Some(modules) = std::env::var_os("ROOST_IMAPFLOW") else {
        eprintln!("note: ROOST_IMAPFLOW not set, imapflow scenario skipped");
        return;
    };
    assert!(
        std::path::Path::new(&modules).join("imapflow").is_dir(),
        "ROOST_IMAPFLOW={modules:?} has no imapflow"
    );
    let server = TestServer::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/imapflow_rev2.js"
    );
    let port = server.port.to_string();
    let (ok, out, err) = crate::common::run_tool("node", &[script, &port], b"");
    assert!(
        ok && out.contains("imapflow rev2 ok"),
        "stdout:\n{out}\nstderr:\n{err}\nlog:\n{}",
        server.log()
    );
}
