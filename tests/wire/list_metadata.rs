//! LIST-METADATA (RFC 9590): `LIST ... RETURN (METADATA (entries))` sends
//! each listed mailbox's entries in a METADATA response right after its
//! LIST line, NIL for unset ones; MAXSIZE leaves long values out and says
//! so with `[METADATA LONGENTRIES n]`; bad entry names are a BAD.

use crate::common::TestServer;

#[test]
fn list_returns_the_asked_entries_after_each_mailbox() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"LIST-METADATA".to_string()));
    c.ok("CREATE foo");
    c.ok("CREATE bar");
    c.ok("SETMETADATA INBOX (/private/comment \"My own comment\")");
    c.ok("SETMETADATA foo (/shared/comment \"Shared comment\" /private/comment \"Mine\")");
    // The RFC's example: entries for every mailbox the pattern matches.
    let r = c.ok("LIST \"\" % RETURN (METADATA (/shared/comment /private/comment))");
    let lines: Vec<&str> = r.untagged.iter().map(String::as_str).collect();
    let after = |mailbox: &str| -> &str {
        let at = lines
            .iter()
            .position(|l| l.starts_with("* LIST ") && l.ends_with(&format!(" {mailbox}")))
            .unwrap_or_else(|| panic!("no LIST {mailbox} in {lines:?}"));
        lines[at + 1]
    };
    assert_eq!(
        after("INBOX"),
        "* METADATA INBOX (/shared/comment NIL /private/comment {14}\r\nMy own comment)"
    );
    assert_eq!(
        after("foo"),
        "* METADATA foo (/shared/comment {14}\r\nShared comment /private/comment {4}\r\nMine)"
    );
    assert_eq!(
        after("bar"),
        "* METADATA bar (/shared/comment NIL /private/comment NIL)"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("* METADATA")).count(),
        3
    );

    // MAXSIZE, in the option list or after it.
    let r = c.ok("LIST \"\" foo RETURN (METADATA (/shared/comment /private/comment MAXSIZE 5))");
    assert_eq!(
        r.find("* METADATA"),
        vec!["* METADATA foo (/private/comment {4}\r\nMine)"]
    );
    assert!(
        r.tagged.starts_with("OK [METADATA LONGENTRIES 14]"),
        "{r:?}"
    );
    let r = c.ok("LIST \"\" foo RETURN (METADATA (/private/comment) MAXSIZE 100)");
    assert_eq!(r.find("* METADATA").len(), 1, "{r:?}");
    assert!(r.tagged.starts_with("OK List"), "{r:?}");
    // With other return options; a mailbox that does not exist gets none.
    let r = c.ok("LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN METADATA (/private/comment) STATUS (MESSAGES))");
    assert!(r.find("* METADATA").is_empty(), "{r:?}");
    let r = c.ok("LIST \"\" \"*\" RETURN (STATUS (MESSAGES) METADATA (/private/comment))");
    assert_eq!(r.find("* METADATA").len(), 3, "{r:?}");
    // Refusals leave the session usable.
    for bad in [
        "LIST \"\" % RETURN (METADATA (/other/x))",
        "LIST \"\" % RETURN (METADATA ())",
        "LIST \"\" % RETURN (METADATA (/private/a*))",
        "LIST \"\" % RETURN (METADATA (/private/x DEPTH 2))",
        "LIST \"\" % RETURN (METADATA)",
    ] {
        let r = c.cmd(bad);
        assert!(r.tagged.starts_with("BAD"), "{bad} -> {r:?}");
    }
    c.ok("NOOP");
}
