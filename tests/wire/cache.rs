//! The per-mailbox cache: a second session fetching the structure of the
//! same messages is answered without reading the files again.

use crate::common::TestServer;

#[test]
fn second_session_gets_envelope_and_structure_from_the_cache() {
    let server = TestServer::start();
    let mut a = server.login();
    let msg = "From: Ann <ann@example.org>\r\nSubject: cached\r\n\r\nbody\r\n";
    a.append("INBOX", "", msg);
    a.ok("SELECT INBOX");
    let first = a.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE)").untagged;
    // Rewrite the file in place (nothing legitimate does this: Maildir
    // messages never change). Served from the cache, the answer is the same.
    let cur = server.root().join("home/alice/Maildir/cur");
    let file = std::fs::read_dir(&cur)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&file, "Subject: changed\r\n\r\nx\r\n").unwrap();
    let mut b = server.login();
    b.ok("EXAMINE INBOX");
    let second = b.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE)").untagged;
    assert_eq!(first, second);
    assert!(first[0].contains("\"cached\""), "{first:?}");
    // Body sections still come from the file.
    let body = b.ok("FETCH 1 BODY.PEEK[TEXT]").untagged;
    assert!(body[0].contains("x\r\n"), "{body:?}");
}
