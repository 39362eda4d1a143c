//! UTF8=ACCEPT (RFC 6855): after ENABLE, mailbox names travel as UTF-8
//! both ways; without it, as modified UTF-7.

use crate::common::TestServer;

#[test]
fn enabled_clients_speak_utf8_mailbox_names() {
    let server = TestServer::start();
    let mut legacy = server.login();
    assert!(legacy.capabilities().contains(&"UTF8=ACCEPT".to_string()));
    legacy.ok("CREATE Entw&APw-rfe");

    let mut c = server.login();
    let r = c.ok("ENABLE UTF8=ACCEPT");
    assert_eq!(r.untagged, vec!["* ENABLED UTF8=ACCEPT"]);
    let r = c.ok("LIST \"\" \"Entw*\"");
    assert_eq!(r.untagged.len(), 1, "{:?}", r.untagged);
    assert!(r.untagged[0].ends_with("\"Entwürfe\""), "{:?}", r.untagged);
    c.ok("CREATE \"Größe\"");
    c.append("\"Größe\"", "", "Subject: x\r\n\r\nx\r\n");
    let r = c.ok("STATUS \"Größe\" (MESSAGES)");
    assert_eq!(r.untagged, vec!["* STATUS \"Größe\" (MESSAGES 1)"]);
    c.ok("SELECT \"Entwürfe\"");
    // On disk and for other clients the name is the usual modified UTF-7.
    let maildir = server.root().join("home/alice/Maildir");
    assert!(maildir.join(".Gr&APYA3w-e").is_dir());
    let r = legacy.ok("LIST \"\" \"Gr*\"");
    assert!(r.untagged[0].ends_with("Gr&APYA3w-e"), "{:?}", r.untagged);
    // RFC 6855 §3: no CHARSET once enabled; bad UTF-8 is BAD.
    let r = c.cmd("SEARCH CHARSET UTF-8 SUBJECT x");
    assert!(r.tagged.starts_with("BAD"), "{}", r.tagged);
    c.send(b"u1 SELECT \"Gr\xc3\"\r\n");
    let r = c.read_reply("u1");
    assert!(r.tagged.starts_with("BAD"), "{}", r.tagged);
    let r = c.cmd("CREATE \"a\u{2028}b\"");
    assert!(r.tagged.starts_with("NO"), "{}", r.tagged);
    // ENABLE is for the authenticated state (RFC 6855 §3, RFC 5161).
    let r = c.cmd("ENABLE UTF8=ACCEPT");
    assert!(r.tagged.starts_with("BAD"), "selected: {}", r.tagged);
}
