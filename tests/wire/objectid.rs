//! OBJECTID (RFC 8474): MAILBOXID from CREATE, SELECT and STATUS, kept
//! across RENAME and restarts and new after DELETE + CREATE; EMAILID kept
//! by COPY and MOVE, flag changes and restarts; THREADID shared by a
//! conversation and NIL for a message with no ids; the SEARCH keys.

use crate::common::TestServer;

/// The objectid in `KEY (id)` within `line`.
fn id_after(line: &str, key: &str) -> String {
    let at = line
        .find(&format!("{key} ("))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len()
        + 2;
    let end = line[at..].find(')').unwrap() + at;
    line[at..end].to_string()
}

fn status_id(c: &mut crate::common::Client, mailbox: &str) -> String {
    let r = c.ok(&format!("STATUS {mailbox} (MAILBOXID)"));
    id_after(r.find("* STATUS")[0], "MAILBOXID")
}

#[test]
fn mailboxid_follows_the_rfc_examples() {
    let mut server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"OBJECTID".to_string()));
    // RFC 8474 §4.1.
    let foo = id_after(&c.ok("CREATE foo").tagged, "MAILBOXID");
    let bar = id_after(&c.ok("CREATE bar").tagged, "MAILBOXID");
    assert_ne!(foo, bar);
    let r = c.cmd("CREATE foo");
    assert!(r.tagged.starts_with("NO"), "{r:?}");
    // §4.3: STATUS, and RENAME keeps the id.
    assert_eq!(status_id(&mut c, "foo"), foo);
    assert_eq!(status_id(&mut c, "bar"), bar);
    c.ok("RENAME foo renamed");
    assert_eq!(status_id(&mut c, "renamed"), foo);
    assert_eq!(status_id(&mut c, "bar"), bar);
    // With LIST-STATUS.
    let r = c.ok("LIST \"\" \"*\" RETURN (STATUS (MAILBOXID))");
    let line = r
        .untagged
        .iter()
        .find(|l| l.starts_with("* STATUS renamed "))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(id_after(line, "MAILBOXID"), foo);
    let inbox = status_id(&mut c, "INBOX");
    assert!(![&foo, &bar].contains(&&inbox));
    // §4.2: SELECT and EXAMINE.
    let r = c.ok("SELECT renamed");
    assert!(
        r.untagged.contains(&format!("* OK [MAILBOXID ({foo})] Ok")),
        "{r:?}"
    );
    let r = c.ok("EXAMINE bar");
    assert!(
        r.untagged.contains(&format!("* OK [MAILBOXID ({bar})] Ok")),
        "{r:?}"
    );
    c.ok("LOGOUT");
    // Kept across a restart; never reused after DELETE + CREATE.
    server.restart();
    let mut c = server.login();
    assert_eq!(status_id(&mut c, "renamed"), foo);
    assert_eq!(status_id(&mut c, "INBOX"), inbox);
    c.ok("DELETE bar");
    let again = id_after(&c.ok("CREATE bar").tagged, "MAILBOXID");
    assert_ne!(again, bar);
    assert!(c
        .cmd("STATUS bar (MAILBOXID FOO)")
        .tagged
        .starts_with("BAD"));
}

#[test]
fn mailboxid_is_the_guid_in_a_dovecot_uidlist() {
    let server = TestServer::start();
    let dir = server.root().join("home/alice/Maildir/.Old");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("dovecot-uidlist"),
        "3 V1275660208 N1 G3085f01b7f11094c501100008c4a11c1\n",
    )
    .unwrap();
    let mut c = server.login();
    assert_eq!(status_id(&mut c, "Old"), "3085f01b7f11094c501100008c4a11c1");
}

const MSG: &str = "Subject: ids\r\n\r\nsame content\r\n";

#[test]
fn emailid_stays_with_the_message() {
    let mut server = TestServer::start();
    let mut c = server.login();
    c.append("INBOX", "", MSG);
    c.append("INBOX", "", MSG);
    c.ok("CREATE foo");
    c.ok("CREATE bar");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1:2 (EMAILID THREADID)");
    let lines = r.find("* ");
    let (one, two) = (id_after(lines[0], "EMAILID"), id_after(lines[1], "EMAILID"));
    // Distinct messages, distinct ids, even with the same content.
    assert_ne!(one, two);
    assert!(lines[0].contains("THREADID NIL"), "{lines:?}");
    // §5.1: the COPYUID pairing has the same EMAILID; flags change nothing.
    c.ok("STORE 1 +FLAGS (\\Flagged)");
    c.ok("COPY 1 foo");
    c.ok("COPY 1 INBOX");
    c.ok("MOVE 2 bar");
    let r = c.ok("FETCH 1:* (UID EMAILID)");
    let lines = r.find("* ");
    assert_eq!(lines.len(), 2, "{r:?}");
    assert!(lines.iter().all(|l| id_after(l, "EMAILID") == one), "{r:?}");
    // SEARCH EMAILID finds every copy here; THREADID matches nothing.
    let r = c.ok(&format!("UID SEARCH EMAILID {one}"));
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 1 3"]);
    let r = c.ok(&format!("SEARCH EMAILID {two}"));
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH"]);
    let r = c.ok("SEARCH THREADID T123");
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH"]);
    assert!(c.cmd("SEARCH EMAILID a.b").tagged.starts_with("BAD"));
    c.ok("LOGOUT");
    server.restart();
    let mut c = server.login();
    c.ok("SELECT foo");
    let r = c.ok("FETCH 1 (EMAILID)");
    assert_eq!(id_after(r.find("* 1 FETCH")[0], "EMAILID"), one);
    c.ok("SELECT bar");
    let r = c.ok("FETCH 1 (EMAILID)");
    assert_eq!(id_after(r.find("* 1 FETCH")[0], "EMAILID"), two);
    c.ok("COPY 1 foo");
    c.ok("SELECT foo");
    let r = c.ok(&format!("SEARCH EMAILID {two}"));
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 2"]);
}

/// RFC 8474 §5.2: one THREADID for a conversation, whatever order its
/// messages came in, kept across restarts; SEARCH THREADID finds them.
#[test]
fn threadid_is_shared_by_a_conversation_and_stays() {
    let mut server = TestServer::start();
    let mut c = server.login();
    // The deepest reply first: its id must not change when the rest come.
    c.append(
        "INBOX",
        "",
        "Message-ID: <c@x>\r\nIn-Reply-To: <b@x>\r\nReferences: <a@x> <b@x>\r\nSubject: Re: q\r\n\r\nc\r\n",
    );
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (THREADID)");
    let first = id_after(r.find("* 1 FETCH")[0], "THREADID");
    c.append("INBOX", "", "Message-ID: <a@x>\r\nSubject: q\r\n\r\na\r\n");
    c.append(
        "INBOX",
        "",
        "Message-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\nSubject: Re: q\r\n\r\nb\r\n",
    );
    c.append(
        "INBOX",
        "",
        "Message-ID: <other@x>\r\nSubject: q\r\n\r\nz\r\n",
    );
    c.append("INBOX", "", MSG);
    c.ok("NOOP");
    let r = c.ok("FETCH 1:5 (THREADID)");
    let lines = r.find("* ");
    assert_eq!(lines.len(), 5, "{r:?}");
    for line in &lines[..3] {
        assert_eq!(id_after(line, "THREADID"), first, "{lines:?}");
    }
    assert_ne!(id_after(lines[3], "THREADID"), first, "{lines:?}");
    assert!(lines[4].contains("THREADID NIL"), "{lines:?}");
    let r = c.ok(&format!("SEARCH THREADID {first}"));
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 1 2 3"]);
    c.ok("CREATE foo");
    c.ok("COPY 2 foo");
    c.ok("LOGOUT");
    server.restart();
    let mut c = server.login();
    c.ok("SELECT foo");
    let r = c.ok("FETCH 1 (THREADID)");
    assert_eq!(id_after(r.find("* 1 FETCH")[0], "THREADID"), first);
    let r = c.ok(&format!("UID SEARCH THREADID {first}"));
    assert_eq!(r.find("* SEARCH"), vec!["* SEARCH 1"]);
}
