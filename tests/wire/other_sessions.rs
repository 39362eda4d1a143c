//! What one session's commands do when another session has changed the
//! mailbox under it: conditional STORE against a newer change (RFC 7162
//! §3.1.3), STORE on a message expunged meanwhile (RFC 2180 §4.2.1), and
//! LOGOUT with updates pending or the mailbox gone (RFC 3501 §6.1.3).
//! Debian's Dovecot answers all of these as asserted here.

use crate::common::{number_after, Client, TestServer};

/// Two sessions with INBOX selected; INBOX holds `n` unflagged messages.
fn two_sessions(server: &TestServer, n: usize) -> (Client, Client) {
    let mut a = server.login();
    for i in 1..=n {
        a.append("INBOX", "", &format!("Subject: m{i}\r\n\r\nbody {i}\r\n"));
    }
    let mut b = server.login();
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");
    (a, b)
}

/// The MODSEQ of one message as `c` fetches it now.
fn modseq_of(c: &mut Client, uid: u32) -> u64 {
    let r = c.ok(&format!("UID FETCH {uid} (FLAGS MODSEQ)"));
    let line = r
        .untagged
        .iter()
        .find(|l| l.contains(&format!("UID {uid} ")))
        .unwrap_or_else(|| panic!("no FETCH for UID {uid}: {r:?}"));
    number_after(line, "MODSEQ")
}

fn flags_of(c: &mut Client, uid: u32) -> String {
    let r = c.ok(&format!("UID FETCH {uid} (FLAGS)"));
    r.untagged
        .iter()
        .find(|l| l.contains(&format!("UID {uid} ")))
        .unwrap_or_else(|| panic!("no FETCH for UID {uid}: {r:?}"))
        .clone()
}

#[test]
fn conditional_store_never_undoes_a_newer_change_by_another_session() {
    let server = TestServer::start();
    let (mut a, mut b) = two_sessions(&server, 3);
    // FETCH MODSEQ turns CONDSTORE on (RFC 7162 §3.1).
    let m1 = modseq_of(&mut a, 1);
    let m2 = modseq_of(&mut a, 2);
    let m3 = modseq_of(&mut a, 3);

    // A has not heard of B's change.
    b.ok("UID STORE 1 +FLAGS (\\Flagged)");
    let r = a.ok(&format!(
        "UID STORE 1 (UNCHANGEDSINCE {m1}) -FLAGS (\\Flagged)"
    ));
    assert!(r.tagged.starts_with("OK [MODIFIED 1]"), "{r:?}");
    assert!(flags_of(&mut b, 1).contains("\\Flagged"), "B's flag kept");

    // A has heard of it (NOOP) but its UNCHANGEDSINCE is still older.
    b.ok("UID STORE 2 +FLAGS (\\Flagged)");
    let r = a.ok("NOOP");
    assert!(
        r.untagged.iter().any(|l| l.contains("\\Flagged")),
        "A told of the change: {r:?}"
    );
    let r = a.ok(&format!(
        "UID STORE 2 (UNCHANGEDSINCE {m2}) -FLAGS (\\Flagged)"
    ));
    assert!(r.tagged.starts_with("OK [MODIFIED 2]"), "{r:?}");
    assert!(flags_of(&mut b, 2).contains("\\Flagged"), "B's flag kept");

    // Sequence-number form, and a change to a flag A does not store: a
    // single mod-sequence per message, as Dovecot keeps, fails it too.
    b.ok("STORE 3 +FLAGS (\\Seen)");
    let r = a.ok(&format!("STORE 3 (UNCHANGEDSINCE {m3}) +FLAGS ($Done)"));
    assert!(r.tagged.starts_with("OK [MODIFIED 3]"), "{r:?}");
    assert!(!flags_of(&mut b, 3).contains("$Done"), "not stored");

    // With the current mod-sequence the store goes ahead.
    let now = modseq_of(&mut a, 1);
    let r = a.ok(&format!(
        "UID STORE 1 (UNCHANGEDSINCE {now}) -FLAGS (\\Flagged)"
    ));
    assert!(r.tagged.starts_with("OK Store"), "{r:?}");
    assert!(!flags_of(&mut b, 1).contains("\\Flagged"));
}

#[test]
fn store_on_a_message_expunged_by_another_session_is_ok() {
    let server = TestServer::start();
    let (mut a, mut b) = two_sessions(&server, 3);
    b.ok("STORE 1:2 +FLAGS (\\Deleted)");
    b.ok("EXPUNGE");
    // A still numbers them 1 and 2: RFC 2180 §4.2.1, the STORE does
    // nothing to them and succeeds.
    let r = a.cmd("STORE 1 +FLAGS.SILENT (\\Seen)");
    assert!(r.tagged.starts_with("OK"), "{r:?}");
    let r = a.cmd("STORE 2 +FLAGS (\\Seen)");
    assert!(r.tagged.starts_with("OK"), "{r:?}");
    assert!(
        r.untagged.iter().all(|l| !l.starts_with("* 2 FETCH")),
        "nothing stored on the expunged message: {r:?}"
    );
    let r = a.cmd("UID STORE 1:3 +FLAGS (\\Answered)");
    assert!(r.tagged.starts_with("OK"), "{r:?}");
    let r = a.ok("FETCH 1 (UID FLAGS)");
    assert_eq!(
        r.untagged,
        vec!["* 1 FETCH (UID 3 FLAGS (\\Answered \\Recent))"]
    );
}

#[test]
fn logout_sends_no_updates_after_bye() {
    let server = TestServer::start();
    let (mut a, mut b) = two_sessions(&server, 3);
    b.ok("STORE 1 +FLAGS (\\Seen)");
    b.ok("STORE 2 +FLAGS (\\Deleted)");
    b.ok("EXPUNGE");
    let r = a.ok("LOGOUT");
    assert_eq!(r.untagged.len(), 1, "{r:?}");
    assert!(r.untagged[0].starts_with("* BYE "), "{r:?}");
    assert!(a.closed());
}

#[test]
fn logout_after_the_selected_mailbox_was_deleted() {
    let server = TestServer::start();
    let mut a = server.login();
    a.ok("CREATE doomed");
    a.append("doomed", "", "Subject: x\r\n\r\nx\r\n");
    a.ok("SELECT doomed");
    let mut b = server.login();
    b.ok("DELETE doomed");
    let r = a.ok("LOGOUT");
    assert_eq!(r.untagged.len(), 1, "{r:?}");
    assert!(r.untagged[0].starts_with("* BYE "), "{r:?}");
    assert!(a.closed());
}

/// Another program (a mail client on the Maildir, Dovecot) flags a message
/// by renaming its file after this session last looked: FETCH reads it
/// under its new name, and reports the flags that came with the rename.
#[test]
fn fetch_follows_a_file_renamed_by_another_program() {
    let server = TestServer::start();
    let mut c = server.login();
    c.append("INBOX", "", "Subject: moved\r\n\r\nthe body\r\n");
    c.ok("SELECT INBOX");
    let cur = server.root().join("home/alice/Maildir/cur");
    let entry = std::fs::read_dir(&cur).unwrap().flatten().next();
    let file = entry.expect("the appended message").path();
    let flagged = format!("{}F", file.display());
    std::fs::rename(&file, &flagged).unwrap();
    let r = c.ok("FETCH 1 (FLAGS BODY.PEEK[])");
    let all = r.untagged.join("\n");
    assert!(all.contains("the body"), "{r:?}");
    assert!(all.contains("\\Flagged"), "{r:?}");
}

/// Another program names a new keyword in `dovecot-keywords` and touches
/// no message: the next NOOP still shows it in FLAGS. Only the keywords
/// file changed, so a sync that skips the disk because `new/` and `cur/`
/// are quiet must still hear of that file.
#[test]
fn a_keyword_another_program_adds_shows_at_the_next_noop() {
    let server = TestServer::start();
    let mut c = server.login();
    c.append("INBOX", "", "Subject: k\r\n\r\nbody\r\n");
    c.ok("SELECT INBOX");
    c.ok("STORE 1 +FLAGS (first)");
    c.ok("NOOP");
    c.ok("NOOP");
    let file = server.root().join("home/alice/Maildir/dovecot-keywords");
    let before = std::fs::read_to_string(&file).unwrap();
    assert!(before.contains("first"), "{before:?}");
    let tmp = file.with_extension("tmp-test");
    std::fs::write(&tmp, format!("{before}1 second\n")).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let r = c.ok("NOOP");
    let flags = r
        .untagged
        .iter()
        .find(|l| l.starts_with("* FLAGS"))
        .unwrap_or_else(|| panic!("no FLAGS after the keyword was added: {r:?}"));
    assert!(flags.contains("first") && flags.contains("second"), "{r:?}");
}
