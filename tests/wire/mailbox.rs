//! Mailbox commands (RFC 3501 §6.3, RFC 3348 CHILDREN, RFC 3691 UNSELECT,
//! RFC 4315 UIDPLUS, RFC 8438 STATUS SIZE) against real Maildir trees.

use crate::common::{Client, TestServer};
use std::path::{Path, PathBuf};

fn maildir(server: &TestServer) -> PathBuf {
    server.root().join("home/alice/Maildir")
}

/// The LIST lines of a reply as (attributes, name).
fn listed(r: &crate::common::Reply, cmd: &str) -> Vec<(String, String)> {
    let prefix = format!("* {cmd} (");
    r.untagged
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let (attrs, rest) = rest.split_once(") ").unwrap();
            let (_, name) = rest.split_once(' ').unwrap();
            (attrs.to_string(), name.trim_matches('"').to_string())
        })
        .collect()
}

fn append(c: &mut Client, mailbox: &str, flags: &str, msg: &str) -> u32 {
    c.append(mailbox, flags, msg)
}

#[test]
fn list_shows_delimiter_children_and_implied_parents() {
    let server = TestServer::start();
    let mut c = server.login();
    // RFC 3501 §6.3.8: LIST "" "" returns the delimiter.
    let r = c.ok("LIST \"\" \"\"");
    assert_eq!(r.untagged, vec!["* LIST (\\Noselect) \".\" \"\""]);
    c.ok("CREATE Archive.2024");
    c.ok("CREATE Sent");
    let r = c.ok("LIST \"\" *");
    assert_eq!(
        listed(&r, "LIST"),
        vec![
            ("\\Noselect \\HasChildren".into(), "Archive".into()),
            ("\\HasNoChildren".into(), "Archive.2024".into()),
            ("\\HasNoChildren".into(), "INBOX".into()),
            // RFC 6154: the default special_use marks Sent.
            ("\\HasNoChildren \\Sent".into(), "Sent".into()),
        ]
    );
    let r = c.ok("LIST \"\" %");
    let names: Vec<String> = listed(&r, "LIST").into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, vec!["Archive", "INBOX", "Sent"]);
    let r = c.ok("LIST Archive. %");
    assert_eq!(
        listed(&r, "LIST"),
        vec![("\\HasNoChildren".into(), "Archive.2024".into())]
    );
    let r = c.ok("LIST \"\" inbox");
    assert_eq!(
        listed(&r, "LIST"),
        vec![("\\HasNoChildren".into(), "INBOX".into())]
    );
    assert!(maildir(&server)
        .join(".Archive.2024/maildirfolder")
        .exists());
}

#[test]
fn create_rules() {
    let server = TestServer::start();
    let mut c = server.login();
    // A trailing separator only declares intent to create children (RFC 3501 §6.3.3).
    c.ok("CREATE Projects.");
    assert!(maildir(&server).join(".Projects/cur").is_dir());
    let r = c.cmd("CREATE Projects");
    assert!(r.tagged.starts_with("NO [ALREADYEXISTS]"), "{r:?}");
    let r = c.cmd("CREATE inbox");
    assert!(r.tagged.starts_with("NO [ALREADYEXISTS]"), "{r:?}");
    // Non-ASCII names: modified UTF-7 on the wire and on disk.
    c.ok("CREATE Entw&APw-rfe");
    assert!(maildir(&server).join(".Entw&APw-rfe").is_dir());
    let r = c.cmd("CREATE Bad&Name");
    assert!(r.tagged.starts_with("NO [CANNOT]"), "{r:?}");
}

#[test]
fn names_that_could_escape_the_root_are_refused() {
    let server = TestServer::start();
    let mut c = server.login();
    for name in [
        "\"../escape\"",
        "\"a/b\"",
        "\".hidden\"",
        "\"~other\"",
        "\"a..b\"",
        "\"trailing..\"",
        "{3+}\r\na\tb",
        "\"..\"",
    ] {
        let r = c.cmd(&format!("CREATE {name}"));
        assert!(r.tagged.starts_with("NO [CANNOT]"), "CREATE {name}: {r:?}");
        let r = c.cmd(&format!("SELECT {name}"));
        assert!(r.tagged.starts_with("NO"), "SELECT {name}: {r:?}");
    }
    let entries: Vec<String> = std::fs::read_dir(maildir(&server))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        entries
            .iter()
            .all(|e| ["cur", "new", "tmp"].contains(&e.as_str())),
        "{entries:?}"
    );
    assert!(!server.root().join("escape").exists());
}

#[test]
fn delete_rules() {
    let server = TestServer::start();
    let mut c = server.login();
    let r = c.cmd("DELETE INBOX");
    assert!(r.tagged.starts_with("NO"), "{r:?}");
    let r = c.cmd("DELETE Nope");
    assert!(r.tagged.starts_with("NO [NONEXISTENT]"), "{r:?}");
    c.ok("CREATE Parent.Child");
    c.ok("CREATE Parent");
    // Deleting a folder with children leaves its name as \Noselect (RFC 3501 §6.3.4).
    c.ok("DELETE Parent");
    let r = c.ok("LIST \"\" Parent*");
    assert_eq!(
        listed(&r, "LIST"),
        vec![
            ("\\Noselect \\HasChildren".into(), "Parent".into()),
            ("\\HasNoChildren".into(), "Parent.Child".into())
        ]
    );
    let r = c.cmd("DELETE Parent");
    assert!(
        r.tagged.starts_with("NO"),
        "deleting a \\Noselect parent: {r:?}"
    );
    c.ok("DELETE Parent.Child");
    let r = c.ok("LIST \"\" *");
    assert_eq!(listed(&r, "LIST").len(), 1, "{r:?}");
}

#[test]
fn rename_moves_children_and_inbox_messages() {
    let server = TestServer::start();
    let mut c = server.login();
    c.ok("CREATE Work.Old");
    c.ok("CREATE Work");
    append(&mut c, "Work.Old", "()", "Subject: kept\r\n\r\nx");
    c.ok("RENAME Work Job");
    let r = c.ok("LIST \"\" *");
    let names: Vec<String> = listed(&r, "LIST").into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, vec!["INBOX", "Job", "Job.Old"]);
    let r = c.ok("STATUS Job.Old (MESSAGES)");
    assert_eq!(r.find("* STATUS"), vec!["* STATUS Job.Old (MESSAGES 1)"]);
    c.ok("CREATE Other");
    let r = c.cmd("RENAME Job Other");
    assert!(r.tagged.starts_with("NO [ALREADYEXISTS]"), "{r:?}");
    let r = c.cmd("RENAME Missing Elsewhere");
    assert!(r.tagged.starts_with("NO [NONEXISTENT]"), "{r:?}");

    // RENAME INBOX moves its messages and leaves it empty (RFC 3501 §6.3.5).
    append(&mut c, "INBOX", "(\\Seen)", "Subject: one\r\n\r\n1");
    append(&mut c, "INBOX", "()", "Subject: two\r\n\r\n2");
    c.ok("RENAME INBOX Saved");
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert_eq!(r.find("* STATUS"), vec!["* STATUS INBOX (MESSAGES 0)"]);
    let r = c.ok("STATUS Saved (MESSAGES UNSEEN)");
    assert_eq!(
        r.find("* STATUS"),
        vec!["* STATUS Saved (MESSAGES 2 UNSEEN 1)"]
    );
}

#[test]
fn subscriptions_and_lsub() {
    let server = TestServer::start();
    let mut c = server.login();
    c.ok("CREATE Lists.rust");
    c.ok("SUBSCRIBE Lists.rust");
    c.ok("SUBSCRIBE INBOX");
    // Subscribing to a name that does not exist is allowed.
    c.ok("SUBSCRIBE Ghost");
    let r = c.ok("LSUB \"\" *");
    let mut got = listed(&r, "LSUB");
    got.sort();
    assert_eq!(
        got,
        vec![
            ("".into(), "INBOX".into()),
            ("".into(), "Lists.rust".into()),
            // No attributes, as Dovecot answers.
            ("".into(), "Ghost".into()),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    // RFC 3501 §6.3.9: with %, an unsubscribed parent shows as \Noselect.
    let r = c.ok("LSUB \"\" %");
    assert!(
        listed(&r, "LSUB").contains(&("\\Noselect".into(), "Lists".into())),
        "{r:?}"
    );
    c.ok("UNSUBSCRIBE Ghost");
    let text = std::fs::read_to_string(maildir(&server).join("subscriptions")).unwrap();
    assert!(text.starts_with("V\t2\n\n"), "{text:?}");
    assert!(
        text.contains("Lists\trust\n") && !text.contains("Ghost"),
        "{text:?}"
    );
}

#[test]
fn status_items_including_size() {
    let server = TestServer::start();
    let mut c = server.login();
    c.ok("CREATE blurdybloop");
    append(&mut c, "blurdybloop", "(\\Seen)", "Subject: a\r\n\r\nhello");
    append(&mut c, "blurdybloop", "()", "Subject: b\r\n\r\nworld!");
    // RFC 3501 §6.3.10's example shape.
    let r = c.ok("STATUS blurdybloop (UIDNEXT MESSAGES)");
    assert_eq!(
        r.find("* STATUS"),
        vec!["* STATUS blurdybloop (UIDNEXT 3 MESSAGES 2)"]
    );
    let r = c.ok("STATUS blurdybloop (MESSAGES RECENT UNSEEN SIZE UIDVALIDITY)");
    let line = r.find("* STATUS")[0].to_string();
    assert!(
        line.starts_with("* STATUS blurdybloop (MESSAGES 2 RECENT 2 UNSEEN 1 SIZE 39 UIDVALIDITY "),
        "{line}"
    );
    let r = c.cmd("STATUS nothere (MESSAGES)");
    assert!(r.tagged.starts_with("NO [NONEXISTENT]"), "{r:?}");
    let r = c.cmd("STATUS blurdybloop (BOGUS)");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
}

#[test]
fn select_and_examine_report_the_mailbox() {
    let server = TestServer::start();
    let mut c = server.login();
    append(&mut c, "INBOX", "(\\Seen)", "Subject: 1\r\n\r\n1");
    append(&mut c, "INBOX", "()", "Subject: 2\r\n\r\n2");
    append(&mut c, "INBOX", "($Work)", "Subject: 3\r\n\r\n3");
    let r = c.ok("SELECT INBOX");
    assert!(r.tagged.starts_with("OK [READ-WRITE]"), "{r:?}");
    let u = &r.untagged;
    assert!(
        u.contains(&"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)".to_string()),
        "{u:?}"
    );
    assert!(u.contains(&"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] Flags permitted.".to_string()));
    assert!(u.contains(&"* 3 EXISTS".to_string()));
    assert!(
        u.contains(&"* OK [UNSEEN 2] First unseen.".to_string()),
        "{u:?}"
    );
    assert!(u.iter().any(|l| l.starts_with("* OK [UIDVALIDITY ")));
    assert!(u.contains(&"* OK [UIDNEXT 4] Predicted next UID".to_string()));
    let r = c.ok("EXAMINE INBOX");
    assert!(r.tagged.starts_with("OK [READ-ONLY]"), "{r:?}");
    assert!(r
        .untagged
        .contains(&"* OK [CLOSED] Previous mailbox closed.".to_string()));
    assert!(r
        .untagged
        .contains(&"* OK [PERMANENTFLAGS ()] Read-only mailbox.".to_string()));
    let r = c.cmd("STORE 1 +FLAGS (\\Deleted)");
    assert!(r.tagged.starts_with("NO"), "STORE in EXAMINE: {r:?}");
    let r = c.cmd("EXPUNGE");
    assert!(r.tagged.starts_with("NO"), "EXPUNGE in EXAMINE: {r:?}");
    let r = c.cmd("SELECT Missing");
    assert!(r.tagged.starts_with("NO [NONEXISTENT]"), "{r:?}");
    // A failed SELECT leaves no mailbox selected.
    let r = c.cmd("FETCH 1 FLAGS");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
}

#[test]
fn recent_goes_to_exactly_one_session() {
    let server = TestServer::start();
    let mut c = server.login();
    append(&mut c, "INBOX", "()", "Subject: new\r\n\r\nx");
    let r = c.ok("EXAMINE INBOX");
    assert!(
        r.untagged.contains(&"* 1 RECENT".to_string()),
        "EXAMINE shows, does not take: {r:?}"
    );
    let mut a = server.login();
    let r = a.ok("SELECT INBOX");
    assert!(r.untagged.contains(&"* 1 RECENT".to_string()), "{r:?}");
    let r = a.ok("FETCH 1 FLAGS");
    assert_eq!(r.untagged, vec!["* 1 FETCH (FLAGS (\\Recent))"]);
    let mut b = server.login();
    let r = b.ok("SELECT INBOX");
    assert!(r.untagged.contains(&"* 0 RECENT".to_string()), "{r:?}");
}

#[test]
fn append_flags_date_literals_and_trycreate() {
    let server = TestServer::start();
    let mut c = server.login();
    let msg = "From: a@example.org\r\nSubject: dated\r\n\r\nbody\r\n";
    // Synchronizing literal with flags and a date (RFC 3501 §6.3.11 example shape).
    let tag = c.tag();
    c.send(
        format!(
            "{tag} APPEND INBOX (\\Seen \\Flagged) \"17-Jul-1996 02:44:25 -0700\" {{{}}}\r\n",
            msg.len()
        )
        .as_bytes(),
    );
    assert!(c.line().starts_with("+ "));
    c.send(format!("{msg}\r\n").as_bytes());
    let r = c.read_reply(&tag);
    assert!(r.tagged.starts_with("OK [APPENDUID "), "{r:?}");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)");
    assert_eq!(
        r.untagged,
        vec![format!(
            "* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent) INTERNALDATE \"17-Jul-1996 09:44:25 +0000\" RFC822.SIZE {})",
            msg.len()
        )]
    );
    let r = c.cmd("APPEND Nowhere {1+}\r\nx");
    assert!(r.tagged.starts_with("NO [TRYCREATE]"), "{r:?}");
    let r = c.cmd("APPEND INBOX (\\Bogus) {1+}\r\nx");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    let r = c.cmd("APPEND INBOX {0+}\r\n");
    assert!(r.tagged.starts_with("NO"), "{r:?}");
    // The file is in cur/ with sizes and flags in its name, nothing left in tmp/.
    let cur: Vec<String> = std::fs::read_dir(maildir(&server).join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(cur.len(), 1);
    assert!(
        cur[0].ends_with(&format!(",S={},W={}:2,FS", msg.len(), msg.len())),
        "{cur:?}"
    );
    assert_eq!(
        std::fs::read_dir(maildir(&server).join("tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn expunge_numbers_are_decreasing_safe_and_uid_expunge_is_limited() {
    let server = TestServer::start();
    let mut c = server.login();
    for i in 1..=6 {
        append(&mut c, "INBOX", "()", &format!("Subject: {i}\r\n\r\n{i}"));
    }
    c.ok("SELECT INBOX");
    c.ok("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)");
    let r = c.ok("EXPUNGE");
    // Each number is valid when sent: 5 then 4 then 2.
    assert_eq!(
        r.untagged,
        vec!["* 5 EXPUNGE", "* 4 EXPUNGE", "* 2 EXPUNGE"]
    );
    let r = c.ok("UID FETCH 1:* (FLAGS)");
    let uids: Vec<&str> = r
        .untagged
        .iter()
        .map(|l| l.split_whitespace().nth(4).unwrap())
        .collect();
    assert_eq!(uids, vec!["1", "3", "6"]);
    c.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)");
    let r = c.ok("UID EXPUNGE 3:5");
    assert_eq!(r.untagged, vec!["* 2 EXPUNGE"]);
    let r = c.ok("UID EXPUNGE 100:200");
    assert!(r.untagged.is_empty());
    // CLOSE expunges silently; the next SELECT shows what is left.
    let r = c.ok("CLOSE");
    assert!(r.untagged.is_empty(), "{r:?}");
    let r = c.ok("SELECT INBOX");
    assert!(r.untagged.contains(&"* 0 EXISTS".to_string()), "{r:?}");
}

#[test]
fn unselect_does_not_expunge() {
    let server = TestServer::start();
    let mut c = server.login();
    append(&mut c, "INBOX", "(\\Deleted)", "Subject: x\r\n\r\nx");
    c.ok("SELECT INBOX");
    c.ok("UNSELECT");
    let r = c.cmd("NOOP");
    assert!(r.tagged.starts_with("OK"));
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert_eq!(r.find("* STATUS"), vec!["* STATUS INBOX (MESSAGES 1)"]);
    let r = c.cmd("CLOSE");
    assert!(
        r.tagged.starts_with("BAD"),
        "CLOSE without selection: {r:?}"
    );
}

#[test]
fn another_session_sees_appends_expunges_and_flag_changes() {
    let server = TestServer::start();
    let mut a = server.login();
    let mut b = server.login();
    append(&mut a, "INBOX", "()", "Subject: 1\r\n\r\n1");
    append(&mut a, "INBOX", "()", "Subject: 2\r\n\r\n2");
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");
    append(&mut a, "INBOX", "()", "Subject: 3\r\n\r\n3");
    let r = b.ok("NOOP");
    assert!(r.untagged.contains(&"* 3 EXISTS".to_string()), "{r:?}");
    a.ok("STORE 1 +FLAGS.SILENT (\\Flagged)");
    let r = b.ok("NOOP");
    assert_eq!(r.untagged, vec!["* 1 FETCH (FLAGS (\\Flagged))"]);
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    a.ok("EXPUNGE");
    // No EXPUNGE during FETCH (RFC 3501 §7.4.1): numbers stay put.
    let r = b.ok("FETCH 3 (UID)");
    assert!(r.untagged.iter().all(|l| !l.contains("EXPUNGE")), "{r:?}");
    assert_eq!(r.find("* 3 FETCH"), vec!["* 3 FETCH (UID 3)"]);
    let r = b.ok("NOOP");
    assert!(r.untagged.contains(&"* 2 EXPUNGE".to_string()), "{r:?}");
    let r = b.ok("UID FETCH 1:* (UID)");
    assert_eq!(r.untagged, vec!["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"]);
}

#[test]
fn concurrent_appends_get_unique_increasing_uids() {
    let server = TestServer::start();
    let port = server.port;
    let threads: Vec<_> = (0..10)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::plain(port);
                c.line();
                c.ok("LOGIN alice secret");
                let mut uids = Vec::new();
                for i in 0..10 {
                    uids.push(append(
                        &mut c,
                        "INBOX",
                        "()",
                        &format!("Subject: {t}-{i}\r\n\r\nx"),
                    ));
                }
                uids
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let uids = t.join().unwrap();
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
        all.extend(uids);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=100).collect::<Vec<u32>>());
    let mut c = server.login();
    let r = c.ok("STATUS INBOX (MESSAGES UIDNEXT)");
    assert_eq!(
        r.find("* STATUS"),
        vec!["* STATUS INBOX (MESSAGES 100 UIDNEXT 101)"]
    );
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn odd_trees_are_served_without_error() {
    let server = TestServer::start();
    let md = maildir(&server);
    // An MDA's deliveries, a stray dotfile, a stale lock from a dead
    // process, and no uidlist at all.
    write(&md.join("new/1700000000.M1P1.mx"), "Subject: a\n\nA\n");
    write(&md.join("cur/1600000000.M2P2.mx:2,S"), "Subject: b\n\nB\n");
    write(&md.join("cur/.nfs0001"), "junk");
    write(&md.join("dovecot-uidlist.lock"), "999999999:nowhere");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    std::fs::File::options()
        .write(true)
        .open(md.join("dovecot-uidlist.lock"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let mut c = server.login();
    let r = c.ok("SELECT INBOX");
    assert!(r.untagged.contains(&"* 2 EXISTS".to_string()), "{r:?}");
    let r = c.ok("FETCH 1:* (UID FLAGS)");
    // UIDs in delivery order: the older cur/ message first. A mailbox no
    // server has opened (no uidlist) is all \Recent, as with Dovecot.
    assert_eq!(
        r.untagged,
        vec![
            "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))",
            "* 2 FETCH (UID 2 FLAGS (\\Recent))"
        ]
    );
    assert!(!md.join("dovecot-uidlist.lock").exists());
    let uidlist = std::fs::read_to_string(md.join("dovecot-uidlist")).unwrap();
    assert!(uidlist.starts_with("3 V"), "{uidlist}");
    // The new/ message moved to cur/ on SELECT.
    assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), 0);

    // A damaged uidlist is rebuilt (new UIDVALIDITY), never a crash.
    std::fs::write(md.join("dovecot-uidlist"), "garbage\n").unwrap();
    let mut d = server.login();
    let r = d.ok("STATUS INBOX (MESSAGES)");
    assert_eq!(r.find("* STATUS"), vec!["* STATUS INBOX (MESSAGES 2)"]);
}

#[test]
fn external_delivery_is_seen_on_noop() {
    let server = TestServer::start();
    let mut c = server.login();
    c.ok("SELECT INBOX");
    write(
        &maildir(&server).join("new/1800000000.M1P9.mx"),
        "Subject: hi\n\nhello\n",
    );
    let r = c.ok("NOOP");
    assert!(r.untagged.contains(&"* 1 EXISTS".to_string()), "{r:?}");
    assert!(r.untagged.contains(&"* 1 RECENT".to_string()), "{r:?}");
    let r = c.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[TEXT])");
    assert_eq!(
        r.untagged,
        vec!["* 1 FETCH (RFC822.SIZE 22 BODY[TEXT] {7}\r\nhello\r\n)"]
    );
}

#[test]
fn namespace_with_slash_separator() {
    let server = TestServer::builder()
        .opt("namespace_separator", "/")
        .start();
    let mut c = server.login();
    c.ok("CREATE Archive/2024");
    assert!(maildir(&server).join(".Archive.2024").is_dir());
    let r = c.ok("LIST \"\" *");
    let names: Vec<String> = listed(&r, "LIST").into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, vec!["Archive", "Archive/2024", "INBOX"]);
    assert!(r.untagged[0].contains(" \"/\" "), "{r:?}");
    let r = c.cmd("CREATE dotted.name");
    assert!(r.tagged.starts_with("NO [CANNOT]"), "{r:?}");
}

#[test]
fn namespace_with_inbox_prefix() {
    let server = TestServer::builder()
        .opt("namespace_prefix", "INBOX.")
        .start();
    let mut c = server.login();
    c.ok("CREATE INBOX.Sent");
    assert!(maildir(&server).join(".Sent").is_dir());
    let r = c.ok("LIST \"\" *");
    let names: Vec<String> = listed(&r, "LIST").into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, vec!["INBOX", "INBOX.Sent"]);
    let r = c.cmd("CREATE Sent2");
    assert!(r.tagged.starts_with("NO"), "outside the prefix: {r:?}");
}
