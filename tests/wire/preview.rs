//! FETCH PREVIEW (RFC 8970): a short excerpt of the first text part, with
//! quoted lines left out; `PREVIEW (LAZY)` answers the same.

use crate::common::TestServer;

#[test]
fn preview_gives_the_start_of_the_text() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"PREVIEW".to_string()));
    c.append(
        "INBOX",
        "",
        "Subject: a\r\n\r\nHello  Alice,\r\n> what you wrote\r\nthe report is ready.\r\n",
    );
    c.append(
        "INBOX",
        "",
        "Subject: b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: image/png\r\n\r\nPNG\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>Dear <b>Bob</b></p>\r\n--x--\r\n",
    );
    c.append(
        "INBOX",
        "",
        "Subject: c\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n",
    );
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1:3 (PREVIEW)");
    let lines = r.find("* ");
    assert!(
        lines[0].ends_with("(PREVIEW \"Hello Alice, the report is ready.\")"),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("(PREVIEW \"Dear Bob\")"), "{lines:?}");
    assert!(lines[2].ends_with("(PREVIEW \"\")"), "{lines:?}");
    let r = c.ok("UID FETCH 1 (PREVIEW (LAZY))");
    assert!(
        r.find("* 1 FETCH")[0].contains("PREVIEW \"Hello Alice"),
        "{:?}",
        r.untagged
    );
    assert!(c.cmd("FETCH 1 (PREVIEW (EAGER))").tagged.contains("BAD"));
}

/// Dovecot 2.3's SNIPPET=FUZZY and PREVIEW=FUZZY, from the PREVIEW drafts:
/// the forms Dovecot 2.3.19 accepts, answered as it answers them.
#[test]
fn snippet_and_fuzzy_preview_answer_as_dovecot_2_3() {
    let server = TestServer::start();
    let mut c = server.login();
    let caps = c.capabilities();
    assert!(caps.contains(&"SNIPPET=FUZZY".to_string()), "{caps:?}");
    assert!(caps.contains(&"PREVIEW=FUZZY".to_string()), "{caps:?}");
    c.append("INBOX", "", "Subject: a\r\n\r\nHello there.\r\n");
    c.ok("SELECT INBOX");
    let fuzzy_snippet = "* 1 FETCH (SNIPPET (FUZZY \"Hello there.\"))";
    let fuzzy_preview = "* 1 FETCH (PREVIEW (FUZZY \"Hello there.\"))";
    for (cmd, want) in [
        ("FETCH 1 (SNIPPET (FUZZY))", fuzzy_snippet),
        ("FETCH 1 SNIPPET", fuzzy_snippet),
        ("FETCH 1 (SNIPPET (LAZY))", fuzzy_snippet),
        ("FETCH 1 (snippet (lazy=fuzzy))", fuzzy_snippet),
        ("FETCH 1 (PREVIEW (FUZZY))", fuzzy_preview),
        ("FETCH 1 (PREVIEW (LAZY=FUZZY))", fuzzy_preview),
        (
            "FETCH 1 (PREVIEW (LAZY))",
            "* 1 FETCH (PREVIEW \"Hello there.\")",
        ),
    ] {
        let r = c.ok(cmd);
        assert_eq!(r.untagged, vec![want.to_string()], "{cmd}");
    }
    let r = c.ok("UID FETCH 1 (SNIPPET (FUZZY) FLAGS)");
    assert!(
        r.find("* 1 FETCH")[0].contains("SNIPPET (FUZZY \"Hello there.\")"),
        "{r:?}"
    );
    // Dovecot: BAD for an unknown modifier or an empty list.
    for cmd in [
        "FETCH 1 (SNIPPET (FOO))",
        "FETCH 1 (SNIPPET ())",
        "FETCH 1 (PREVIEW ())",
    ] {
        assert!(c.cmd(cmd).tagged.starts_with("BAD"), "{cmd}");
    }
    c.ok("NOOP");
}
