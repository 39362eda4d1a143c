//! REPLACE (RFC 8508) and UNAUTHENTICATE (RFC 8437).

use crate::common::TestServer;

fn literal(msg: &str) -> String {
    format!("{{{}+}}\r\n{msg}", msg.len())
}

#[test]
fn replace_appends_the_new_message_then_expunges_the_old() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"REPLACE".to_string()));
    c.ok("CREATE Drafts");
    c.append("Drafts", "(\\Draft)", "Subject: draft 1\r\n\r\nfirst\r\n");
    c.append("Drafts", "(\\Draft)", "Subject: other\r\n\r\nkeep me\r\n");
    c.ok("SELECT Drafts");
    let r = c.ok(&format!(
        "REPLACE 1 Drafts (\\Draft \\Seen) {}",
        literal("Subject: draft 2\r\n\r\nsecond\r\n")
    ));
    let lines = &r.untagged;
    let appenduid = lines
        .iter()
        .position(|l| l.starts_with("* OK [APPENDUID "))
        .expect("APPENDUID");
    let expunge = lines
        .iter()
        .position(|l| l == "* 1 EXPUNGE")
        .expect("EXPUNGE");
    assert!(appenduid < expunge, "{lines:?}");
    assert!(lines.iter().any(|l| l.ends_with(" EXISTS")), "{lines:?}");
    let r = c.ok("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    let all = r.untagged.join("\n");
    assert!(
        !all.contains("draft 1") && all.contains("draft 2") && all.contains("other"),
        "{all}"
    );

    // A message too big for memory goes through the spool, as APPEND's.
    let big = format!(
        "Subject: big draft\r\n\r\n{}",
        "0123456789abcdef\r\n".repeat(150_000)
    );
    c.ok(&format!("REPLACE 2 Drafts {}", literal(&big)));
    let r = c.ok("FETCH 2 (RFC822.SIZE)");
    assert!(
        r.find("* 2 FETCH")[0].contains(&format!("RFC822.SIZE {}", big.len())),
        "{:?}",
        r.untagged
    );
    c.ok("EXPUNGE");

    // UID REPLACE into another mailbox.
    let r = c.ok("UID FETCH 1:* (UID)");
    let last_uid: u32 = r
        .untagged
        .last()
        .unwrap()
        .rsplit("UID ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .parse()
        .unwrap();
    c.ok(&format!(
        "UID REPLACE {last_uid} INBOX {}",
        literal("Subject: moved\r\n\r\nx\r\n")
    ));
    assert!(c.ok("STATUS INBOX (MESSAGES)").find("* STATUS")[0].contains("MESSAGES 1"));

    // A missing target: TRYCREATE, and the old message stays.
    let r = c.cmd(&format!(
        "REPLACE 1 Nowhere {}",
        literal("Subject: lost?\r\n\r\nx\r\n")
    ));
    assert!(r.tagged.contains("NO [TRYCREATE]"), "{}", r.tagged);
    let r = c.ok("FETCH 1:* (FLAGS)");
    assert_eq!(
        r.find("* ").iter().filter(|l| l.contains("FETCH")).count(),
        1
    );
    assert!(c
        .cmd(&format!(
            "REPLACE 9 Drafts {}",
            literal("Subject: z\r\n\r\nz\r\n")
        ))
        .tagged
        .contains("BAD"));

    // Read-only: refused, nothing appended.
    c.ok("EXAMINE Drafts");
    let r = c.cmd(&format!(
        "REPLACE 1 Drafts {}",
        literal("Subject: ro\r\n\r\nz\r\n")
    ));
    assert!(r.tagged.contains("NO [READ-ONLY]"), "{}", r.tagged);
    assert!(c.ok("STATUS Drafts (MESSAGES)").find("* STATUS")[0].contains("MESSAGES 1"));
}

#[test]
fn unauthenticate_returns_to_the_not_authenticated_state() {
    let server = TestServer::builder().user("bob", "pw").start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"UNAUTHENTICATE".to_string()));
    c.ok("ENABLE CONDSTORE");
    c.ok("SELECT INBOX");
    c.ok("UNAUTHENTICATE");
    assert!(c.cmd("SELECT INBOX").tagged.contains("BAD"));
    assert!(c.capabilities().iter().any(|x| x == "AUTH=PLAIN"));
    c.ok("LOGIN bob pw");
    let r = c.ok("SELECT INBOX");
    assert!(
        !r.untagged.iter().any(|l| l.contains("HIGHESTMODSEQ")),
        "ENABLE was reset: {:?}",
        r.untagged
    );
    assert!(server.log().contains("user=alice unauthenticate"));
}
