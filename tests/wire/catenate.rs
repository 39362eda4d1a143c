//! CATENATE (RFC 4469) with URL-PARTIAL (RFC 5550).

use crate::common::{number_after, Client, TestServer};

fn lit(s: &str) -> String {
    format!("{{{}+}}\r\n{s}", s.len())
}

fn body(c: &mut Client, mailbox: &str, uid: u32) -> String {
    c.ok(&format!("EXAMINE {mailbox}"));
    let r = c.ok(&format!("UID FETCH {uid} BODY.PEEK[]"));
    let all = r.untagged.join("\r\n");
    c.ok("CLOSE");
    all
}

fn appended_uid(r: &crate::common::Reply) -> u32 {
    assert!(r.tagged.starts_with("OK [APPENDUID "), "{r:?}");
    r.tagged
        .split_whitespace()
        .nth(3)
        .and_then(|u| u.trim_end_matches(']').parse().ok())
        .expect("uid")
}

const MULTIPART: &str = "From: a@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
first part\r\n--b\r\nContent-Type: text/plain; name=x.txt\r\n\r\nsecond part\r\n--b--\r\n";

#[test]
fn catenate_builds_messages_from_text_and_urls() {
    let server = TestServer::start();
    let mut c = server.login();
    let caps = c.capabilities();
    assert!(caps.contains(&"CATENATE".to_string()), "{caps:?}");
    assert!(caps.contains(&"URL-PARTIAL".to_string()), "{caps:?}");
    c.ok("CREATE Drafts");
    let uid = c.append("INBOX", "", MULTIPART);
    let r = c.ok("STATUS INBOX (UIDVALIDITY)");
    let uidv = number_after(&r.untagged[0], "UIDVALIDITY");

    // RFC 4469 §6's shape: a new header, then a part of an old message
    // with its MIME header, then the closing boundary as text.
    let r = c.ok(&format!(
        "APPEND Drafts (\\Seen) CATENATE (TEXT {} URL \"/INBOX;UIDVALIDITY={uidv}/;UID={uid}/;SECTION=2.MIME\" URL \"/INBOX/;uid={uid}/;section=2\" TEXT {})",
        lit("Subject: fwd\r\nContent-Type: multipart/mixed; boundary=\"n\"\r\n\r\n--n\r\n"),
        lit("\r\n--n--\r\n")
    ));
    let new = appended_uid(&r);
    let got = body(&mut c, "Drafts", new);
    assert!(
        got.contains(
            "Subject: fwd\r\nContent-Type: multipart/mixed; boundary=\"n\"\r\n\r\n--n\r\n\
             Content-Type: text/plain; name=x.txt\r\n\r\nsecond part\r\n--n--\r\n"
        ),
        "{got}"
    );

    // Whole message, HEADER and TEXT; PARTIAL (RFC 5550); a URL relative
    // to the selected mailbox.
    c.ok("SELECT INBOX");
    let r = c.ok(&format!(
        "APPEND Drafts CATENATE (URL \"/INBOX/;UID={uid}/;SECTION=HEADER\" URL \";UID={uid}/;SECTION=1/;PARTIAL=0.5\" TEXT {})",
        lit("!\r\n")
    ));
    let new = appended_uid(&r);
    let got = body(&mut c, "Drafts", new);
    assert!(got.contains("Subject: parts\r\n"), "{got}");
    assert!(got.contains("boundary=\"b\"\r\n\r\nfirst!\r\n)"), "{got}");

    // PARTIAL of a whole message (streamed from its file).
    let r = c.ok(&format!(
        "APPEND Drafts CATENATE (TEXT {} URL \"/INBOX/;UID={uid}/;PARTIAL=6.13\" TEXT {})",
        lit("X: <"),
        lit(">\r\n\r\nx\r\n")
    ));
    let new = appended_uid(&r);
    let got = body(&mut c, "Drafts", new);
    assert!(got.contains("X: <a@example.com>\r\n\r\nx\r\n"), "{got}");

    // MULTIAPPEND mixing a CATENATE message and a plain one.
    let r = c.ok(&format!(
        "APPEND Drafts CATENATE (URL \"/INBOX/;UID={uid}\") (\\Flagged) {}",
        lit("Subject: plain\r\n\r\nplain\r\n")
    ));
    assert!(r.tagged.contains(":"), "two UIDs: {r:?}");
    let r = c.ok("STATUS Drafts (MESSAGES)");
    assert!(r.untagged[0].contains("MESSAGES 5"), "{r:?}");
}

#[test]
fn catenate_errors_leave_nothing_behind() {
    let server = TestServer::builder().opt("max_append_size", "2048").start();
    let mut c = server.login();
    let uid = c.append(
        "INBOX",
        "",
        &format!("Subject: s\r\n\r\n{}\r\n", "z".repeat(1200)),
    );

    // The target first: a missing mailbox is TRYCREATE even with a bad URL.
    let r = c.cmd(&format!(
        "APPEND Nope CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID={uid}\" TEXT {})",
        lit("x\r\n")
    ));
    assert!(r.tagged.starts_with("NO [TRYCREATE]"), "{r:?}");

    for url in [
        format!("/INBOX;UIDVALIDITY=1/;UID={uid}"),
        format!("/INBOX/;UID={}", uid + 1),
        format!("/Nonexistent/;UID={uid}"),
        format!("/INBOX/;UID={uid}/;SECTION=9"),
        format!("/INBOX/;UID={uid}/;SECTION=BOGUS"),
        format!("/INBOX/;UID={uid}/;URLAUTH=anonymous"),
        // Relative, with nothing selected.
        format!(";UID={uid}"),
    ] {
        let r = c.cmd(&format!(
            "APPEND INBOX CATENATE (TEXT {} URL \"{url}\" TEXT {})",
            lit("a: b\r\n\r\n"),
            lit("y\r\n")
        ));
        assert!(
            r.tagged.starts_with(&format!("NO [BADURL {url}]")),
            "{url}: {r:?}"
        );
    }
    // Over max_append_size: TOOBIG.
    let r = c.cmd(&format!(
        "APPEND INBOX CATENATE (URL \"/INBOX/;UID={uid}\" URL \"/INBOX/;UID={uid}\")"
    ));
    assert!(r.tagged.starts_with("NO [TOOBIG]"), "{r:?}");
    // Of a MULTIAPPEND with one bad message, nothing is added.
    let r = c.cmd(&format!(
        "APPEND INBOX {} CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID={uid}\")",
        lit("Subject: ok\r\n\r\nok\r\n")
    ));
    assert!(r.tagged.starts_with("NO [BADURL"), "{r:?}");
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert!(r.untagged[0].contains("MESSAGES 1"), "{r:?}");
    // Syntax: unknown part type is BAD; the session goes on.
    let r = c.cmd(&format!("APPEND INBOX CATENATE (FOO {})", lit("x")));
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    c.ok("NOOP");
}

#[test]
fn catenate_urls_never_reach_another_users_mail() {
    let server = TestServer::builder().user("bob", "hunter2").start();
    let mut bob = server.login_as("bob", "hunter2");
    bob.ok("CREATE Private");
    let secret = bob.append("Private", "", "Subject: bob\r\n\r\nTOP SECRET\r\n");
    bob.append("INBOX", "", "Subject: bob\r\n\r\nTOP SECRET\r\n");
    let mut alice = server.login();
    alice.append("INBOX", "", "Subject: alice\r\n\r\nmine\r\n");
    for url in [
        format!("imap://bob@127.0.0.1/INBOX/;UID={secret}"),
        format!("//bob@127.0.0.1/INBOX/;UID={secret}"),
        format!("/~bob/INBOX/;UID={secret}"),
        format!("/../bob/Maildir/.Private/;UID={secret}"),
        format!("/..%2Fbob%2FMaildir%2F.Private/;UID={secret}"),
        format!("/%2E%2E/;UID={secret}"),
        format!("/Private/;UID={secret}"),
        format!("/.Private/;UID={secret}"),
    ] {
        let r = alice.cmd(&format!(
            "APPEND INBOX CATENATE (TEXT {} URL \"{url}\")",
            lit("X: y\r\n\r\n")
        ));
        assert!(r.tagged.starts_with("NO [BADURL"), "{url}: {r:?}");
    }
    let r = alice.ok("STATUS INBOX (MESSAGES)");
    assert!(r.untagged[0].contains("MESSAGES 1"), "{r:?}");
}

#[test]
fn big_catenate_parts_are_spooled() {
    let server = TestServer::start();
    let mut c = server.login();
    let big = format!(
        "Subject: big\r\n\r\n{}",
        "0123456789abcdef\r\n".repeat(120_000)
    );
    let uid = c.append("INBOX", "", &big);
    // A big TEXT literal (spooled by the reader), an empty one, and the
    // big message again by URL: 4 MB, more than fits the reader's memory.
    let r = c.ok(&format!(
        "APPEND INBOX CATENATE (TEXT {} TEXT {} URL \"/INBOX/;UID={uid}/;SECTION=TEXT\")",
        lit(&big),
        lit("")
    ));
    let new = appended_uid(&r);
    c.ok("SELECT INBOX");
    let r = c.ok(&format!("UID FETCH {new} (RFC822.SIZE BODY.PEEK[HEADER])"));
    let text_len = big.len() - "Subject: big\r\n\r\n".len();
    assert!(
        r.untagged[0].contains(&format!("RFC822.SIZE {}", big.len() + text_len)),
        "{:?}",
        &r.untagged[0][..80.min(r.untagged[0].len())]
    );
    let r = c.ok(&format!(
        "UID FETCH {new} BODY.PEEK[]<{}.20>",
        big.len() - 4
    ));
    assert!(
        r.untagged.join("").contains("ef\r\n0123456789abcdef"),
        "{r:?}"
    );
    // No spool file is left in tmp/.
    let tmp = server.root().join("home/alice/Maildir/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
