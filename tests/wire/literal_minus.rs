//! LITERAL- (RFC 7888 §5) as the `literal_minus` setting.

use crate::common::TestServer;

#[test]
fn literal_minus_replaces_literal_plus_and_refuses_big_non_sync_literals() {
    let server = TestServer::builder().opt("literal_minus", "yes").start();
    let mut c = server.connect();
    // Before login too: the capability governs every command.
    let caps = c.capabilities();
    assert!(caps.contains(&"LITERAL-".to_string()), "{caps:?}");
    assert!(!caps.contains(&"LITERAL+".to_string()), "{caps:?}");
    let mut c = server.login();

    // Up to 4096 bytes a non-synchronizing literal is fine.
    let small = format!("Subject: small\r\n\r\n{}\r\n", "x".repeat(4000));
    assert!(small.len() <= 4096);
    c.append("INBOX", "", &small);

    // Over 4096: tagged BAD [TOOBIG], the bytes are skipped, the session goes on.
    let big = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(5000));
    let tag = c.tag();
    c.send(format!("{tag} APPEND INBOX {{{}+}}\r\n{big}\r\n", big.len()).as_bytes());
    let r = c.read_reply(&tag);
    assert!(r.tagged.starts_with("BAD [TOOBIG]"), "{r:?}");
    // Any command, not only APPEND.
    let name = "n".repeat(4097);
    let tag = c.tag();
    c.send(format!("{tag} CREATE {{4097+}}\r\n{name}\r\n").as_bytes());
    let r = c.read_reply(&tag);
    assert!(r.tagged.starts_with("BAD [TOOBIG]"), "{r:?}");

    // The same message as a synchronizing literal is stored.
    let tag = c.tag();
    c.send(format!("{tag} APPEND INBOX {{{}}}\r\n", big.len()).as_bytes());
    assert!(c.line().starts_with("+ "));
    c.send(format!("{big}\r\n").as_bytes());
    let r = c.read_reply(&tag);
    assert!(r.tagged.starts_with("OK [APPENDUID "), "{r:?}");
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert!(r.untagged[0].contains("MESSAGES 2"), "{r:?}");
}

#[test]
fn literal_plus_is_the_default() {
    let server = TestServer::start();
    let mut c = server.connect();
    let caps = c.capabilities();
    assert!(caps.contains(&"LITERAL+".to_string()), "{caps:?}");
    assert!(!caps.contains(&"LITERAL-".to_string()), "{caps:?}");
    // Without LITERAL- a big non-synchronizing literal is accepted.
    let mut c = server.login();
    let big = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(5000));
    c.append("INBOX", "", &big);
}
