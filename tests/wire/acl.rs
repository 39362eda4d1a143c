//! ACL (RFC 4314) for the owner only.

use crate::common::TestServer;

#[test]
fn the_owner_has_every_right_and_nothing_can_be_shared() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"ACL".to_string()));
    c.ok("CREATE Work");
    let r = c.ok("GETACL Work");
    assert_eq!(r.untagged, vec!["* ACL Work alice lrswipkxtea"]);
    let r = c.ok("MYRIGHTS INBOX");
    assert_eq!(r.untagged, vec!["* MYRIGHTS INBOX lrswipkxtea"]);
    let r = c.ok("LISTRIGHTS Work alice");
    assert_eq!(r.untagged, vec!["* LISTRIGHTS Work alice \"lrswipkxtea\""]);
    let r = c.ok("LISTRIGHTS Work bob");
    assert_eq!(r.untagged, vec!["* LISTRIGHTS Work bob \"\""]);
    // Sharing is refused; the rights stay as they were.
    let r = c.cmd("SETACL Work bob lr");
    assert!(r.tagged.starts_with("NO [CANNOT]"), "{r:?}");
    let r = c.cmd("DELETEACL Work alice");
    assert!(r.tagged.starts_with("NO [CANNOT]"), "{r:?}");
    let r = c.ok("GETACL Work");
    assert_eq!(r.untagged, vec!["* ACL Work alice lrswipkxtea"]);
    // A mailbox that does not exist; bad syntax; the session goes on.
    let r = c.cmd("GETACL Nope");
    assert!(r.tagged.starts_with("NO [NONEXISTENT]"), "{r:?}");
    let r = c.cmd("SETACL Work");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    c.ok("NOOP");
}
