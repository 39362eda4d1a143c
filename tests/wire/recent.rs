//! \Recent (RFC 3501 §2.3.2) on a Maildir no IMAP server has opened yet:
//! as with Dovecot, the first session to select it gets every message as
//! \Recent, whatever the files' flags or folder, and the next one none.

use crate::common::TestServer;

#[test]
fn first_open_of_a_fresh_tree_makes_every_message_recent() {
    let server = TestServer::start();
    let md = server.root().join("home/alice/Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    // Delivery names interleave: sorted by them, cur/ files (some seen)
    // come before and after the new/ ones. No dovecot-uidlist.
    for i in 1..=6 {
        let flags = if i % 2 == 0 { "S" } else { "FS" };
        std::fs::write(
            md.join(format!("cur/100000000{i}.M{i}P1.host:2,{flags}")),
            format!("Subject: old {i}\n\nbody\n"),
        )
        .unwrap();
    }
    for i in 2..=4 {
        std::fs::write(
            md.join(format!("new/100000000{i}.M9{i}P2.host")),
            format!("Subject: new {i}\n\nbody\n"),
        )
        .unwrap();
    }
    let mut a = server.login();
    let r = a.ok("SELECT INBOX");
    assert!(r.untagged.contains(&"* 9 EXISTS".to_string()), "{r:?}");
    assert!(r.untagged.contains(&"* 9 RECENT".to_string()), "{r:?}");
    let r = a.ok("SEARCH RECENT");
    assert_eq!(r.untagged, vec!["* SEARCH 1 2 3 4 5 6 7 8 9"]);
    let mut b = server.login();
    let r = b.ok("SELECT INBOX");
    assert!(r.untagged.contains(&"* 0 RECENT".to_string()), "{r:?}");
}
