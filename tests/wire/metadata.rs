//! METADATA (RFC 5464): server and mailbox entries kept in `roost-metadata`
//! beside the Maildir; the same commands answered as Debian's Dovecot
//! answers them.

use crate::common::dovecot::{hand_over, DovecotSession};
use crate::common::TestServer;

/// The RFC 5464 §4 walk: set, get with DEPTH and MAXSIZE, delete with NIL,
/// refusals that leave the session usable.
#[test]
fn server_and_mailbox_entries_over_the_wire() {
    // Literals may be longer than the longest value.
    let server = TestServer::builder()
        .opt("max_literal_size", "131072")
        .start();
    let mut c = server.login();
    assert!(c.capabilities().iter().any(|x| x == "METADATA"));
    let r = c.ok("GETMETADATA \"\" /private/comment");
    assert_eq!(r.untagged, ["* METADATA \"\" (/private/comment NIL)"]);
    c.ok("SETMETADATA \"\" (/private/comment \"my server\")");
    c.ok("SETMETADATA INBOX (/private/comment {3+}\r\nbox /shared/vendor/x/y \"z\")");
    let r = c.ok("GETMETADATA \"\" (/private/comment /shared/comment)");
    assert_eq!(
        r.untagged,
        ["* METADATA \"\" (/private/comment {9}\r\nmy server /shared/comment NIL)"]
    );
    let r = c.ok("GETMETADATA (DEPTH infinity) INBOX /shared");
    assert_eq!(
        r.untagged,
        ["* METADATA INBOX (/shared/vendor/x/y {1}\r\nz)"]
    );
    let r = c.ok("GETMETADATA (DEPTH 1) INBOX /shared");
    assert!(r.untagged.is_empty(), "{r:?}");
    // MAXSIZE leaves longer values out and says how long the longest was.
    let r = c.ok("GETMETADATA (MAXSIZE 2) INBOX (/private/comment /shared/vendor/x/y)");
    assert_eq!(
        r.untagged,
        ["* METADATA INBOX (/shared/vendor/x/y {1}\r\nz)"]
    );
    assert!(r.tagged.starts_with("OK [METADATA LONGENTRIES 3]"), "{r:?}");
    // Entry names are case-insensitive; NIL deletes.
    let r = c.ok("GETMETADATA inbox /PRIVATE/Comment");
    assert_eq!(
        r.untagged,
        ["* METADATA inbox (/private/comment {3}\r\nbox)"]
    );
    c.ok("SETMETADATA INBOX (/private/comment NIL)");
    let r = c.ok("GETMETADATA INBOX /private/comment");
    assert_eq!(r.untagged, ["* METADATA INBOX (/private/comment NIL)"]);
    for bad in [
        "SETMETADATA INBOX (/foo \"x\")",
        "SETMETADATA INBOX (/private/a* \"x\")",
        "SETMETADATA INBOX (/shared//a \"x\")",
        "SETMETADATA INBOX (/private \"x\")",
        "GETMETADATA INBOX /private/",
        "GETMETADATA (DEPTH 2) INBOX /private",
        "SETMETADATA INBOX ()",
    ] {
        assert!(c.cmd(bad).tagged.starts_with("BAD"), "{bad}");
    }
    let r = c.cmd("GETMETADATA nosuch /private/comment");
    assert!(r.tagged.starts_with("NO [NONEXISTENT]"), "{r:?}");
    let r = c.cmd("SETMETADATA \"\" (/shared/comment \"x\")");
    assert!(r.tagged.starts_with("NO [CANNOT]"), "{r:?}");
    // Too long a value: refused whole, nothing of the command kept.
    let big = "v".repeat(64 * 1024 + 1);
    let r = c.cmd(&format!(
        "SETMETADATA INBOX (/private/a \"1\" /private/big {{{}+}}\r\n{big})",
        big.len()
    ));
    assert!(r.tagged.starts_with("NO [METADATA MAXSIZE 65536]"), "{r:?}");
    let r = c.ok("GETMETADATA INBOX /private/a");
    assert_eq!(r.untagged, ["* METADATA INBOX (/private/a NIL)"]);
    // Literal8 values are taken too.
    c.ok("SETMETADATA INBOX (/private/bin ~{2+}\r\nab)");
    let r = c.ok("GETMETADATA INBOX /private/bin");
    assert_eq!(r.untagged, ["* METADATA INBOX (/private/bin {2}\r\nab)"]);
}

/// RFC 5464 §3.1: entries follow RENAME (children too) and go with DELETE.
#[test]
fn entries_move_with_rename_and_go_with_delete() {
    let server = TestServer::start();
    let mut c = server.login();
    c.ok("CREATE a");
    c.ok("CREATE a.b");
    c.ok("SETMETADATA a (/shared/x \"1\")");
    c.ok("SETMETADATA a.b (/shared/x \"2\")");
    c.ok("RENAME a z");
    let r = c.ok("GETMETADATA z.b /shared/x");
    assert_eq!(r.untagged, ["* METADATA z.b (/shared/x {1}\r\n2)"]);
    let r = c.ok("GETMETADATA z /shared/x");
    assert_eq!(r.untagged, ["* METADATA z (/shared/x {1}\r\n1)"]);
    c.ok("DELETE z.b");
    c.ok("CREATE z.b");
    let r = c.ok("GETMETADATA z.b /shared/x");
    assert_eq!(r.untagged, ["* METADATA z.b (/shared/x NIL)"]);
    // Survives a new session (it is on disk, not in memory).
    let mut c2 = server.login();
    let r = c2.ok("GETMETADATA z /shared/x");
    assert_eq!(r.untagged, ["* METADATA z (/shared/x {1}\r\n1)"]);
}

/// At most 256 entries per user: the 257th is `[METADATA TOOMANY]`, and
/// a planted symlink in place of the file is never written through.
#[test]
fn too_many_entries_and_no_symlink_followed() {
    let server = TestServer::start();
    let mut c = server.login();
    let md = server.root().join("home/alice/Maildir");
    let victim = server.root().join("victim");
    std::fs::write(&victim, "theirs").unwrap();
    std::os::unix::fs::symlink(&victim, md.join("roost-metadata")).unwrap();
    for chunk in 0..16 {
        let list: Vec<String> = (0..16)
            .map(|i| format!("/private/e{} \"v\"", chunk * 16 + i))
            .collect();
        c.ok(&format!("SETMETADATA INBOX ({})", list.join(" ")));
    }
    let r = c.cmd("SETMETADATA INBOX (/private/one-more \"v\")");
    assert!(r.tagged.starts_with("NO [METADATA TOOMANY]"), "{r:?}");
    // Replacing an entry is still fine.
    c.ok("SETMETADATA INBOX (/private/e0 \"w\")");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "theirs");
    assert!(!std::fs::symlink_metadata(md.join("roost-metadata"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// The same session against Roost and Dovecot (`imap_metadata = yes`):
/// the untagged answers and the tagged status (word and code) agree.
#[test]
fn answers_like_dovecot() {
    let server = TestServer::start();
    // Dovecot gets a tree of its own: both start empty.
    let home = server.root().join("dovecot/alice");
    std::fs::create_dir_all(home.join("Maildir")).unwrap();
    hand_over(&home);
    let script = [
        "GETMETADATA \"\" /private/comment",
        "SETMETADATA \"\" (/private/comment \"hi\")",
        "GETMETADATA \"\" (/private/comment /shared/comment /shared/admin)",
        "SETMETADATA \"\" (/shared/comment \"x\")",
        "CREATE foo",
        "SETMETADATA INBOX (/private/comment \"box\" /private/vendor/x/y \"z\")",
        "GETMETADATA (DEPTH infinity) INBOX /private",
        "GETMETADATA (DEPTH 1) INBOX /private",
        "GETMETADATA (MAXSIZE 2) INBOX (/private/comment /private/vendor/x/y)",
        "GETMETADATA INBOX /private/vendor",
        "SETMETADATA INBOX (/private/Comment \"case\")",
        "GETMETADATA INBOX /PRIVATE/COMMENT",
        "SETMETADATA INBOX (/private/comment NIL)",
        "GETMETADATA INBOX (/private/comment /private/comment)",
        "SETMETADATA foo (/shared/x \"1\")",
        "RENAME foo bar",
        "GETMETADATA bar /shared/x",
        "SETMETADATA INBOX (/foo \"x\")",
        "SETMETADATA INBOX (/private/a* \"x\")",
        "SETMETADATA INBOX (/shared//a \"x\")",
        "GETMETADATA INBOX /private/",
        "GETMETADATA (DEPTH 2) INBOX /private",
    ];
    let conf = "mail_attribute_dict = file:%h/dovecot-attributes\nprotocol imap {\n  imap_metadata = yes\n}\n";
    let mut d = DovecotSession::start_with(&home, conf);
    let mut c = server.login();
    for cmd in script {
        let (dv_lines, dv_tagged) = d.cmd(cmd);
        let r = c.cmd(cmd);
        assert_eq!(entries(&r.untagged), entries(&dv_lines), "{cmd}");
        assert_eq!(status(&r.tagged), status(&dv_tagged), "{cmd}");
    }
}

/// The lines with each METADATA response's entries sorted: Dovecot lists
/// them in its dict's order, Roost by name. (No value in the script holds
/// " /".)
fn entries(lines: &[String]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| {
            let Some((head, body)) = l.split_once(" (") else {
                return vec![l.clone()];
            };
            let body = body.strip_suffix(')').unwrap_or(body);
            let mut parts: Vec<String> = body
                .split(" /")
                .map(|p| p.trim_start_matches('/').to_string())
                .collect();
            parts.sort();
            parts.insert(0, head.to_string());
            parts
        })
        .collect()
}

/// `OK`, `NO [CODE ...]`: the status word and response code, without text.
fn status(tagged: &str) -> String {
    // Debian's Dovecot 2.3 has no OBJECTID: CREATE's MAILBOXID is Roost's own.
    if tagged.starts_with("OK [MAILBOXID ") {
        return "OK".into();
    }
    match tagged.find(']') {
        Some(end) if tagged.contains(" [") => tagged[..=end].to_string(),
        _ => tagged.split(' ').next().unwrap_or("").to_string(),
    }
}
