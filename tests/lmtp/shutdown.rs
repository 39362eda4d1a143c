//! SIGTERM while Postfix is handing over a message: the message is either
//! delivered and acknowledged, or refused with 421 before any
//! acknowledgement; never acknowledged and then lost. New connections are
//! turned away.

use super::wire::{lmtp_server, maildir, new_files, Lmtp};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Starts a transaction for alice and sends the first half of a message.
fn half_sent(sock: &Path) -> Lmtp {
    let mut c = Lmtp::connect(sock);
    c.cmd("LHLO mx");
    assert_eq!(c.cmd("MAIL FROM:<bob@example.org>"), "250 2.1.0 OK");
    assert_eq!(c.cmd("RCPT TO:<alice>"), "250 2.1.5 OK");
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: in flight\r\n\r\nfirst half\r\n");
    c
}

/// A connection made after the shutdown began is refused with 421 (at
/// once, or after a greeting at its first command) or not accepted.
fn turned_away(sock: &Path) {
    let Ok(s) = UnixStream::connect(sock) else {
        return;
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    if line.starts_with("220 ") {
        let _ = w.write_all(b"LHLO mx\r\n");
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
    }
    assert!(line.starts_with("421 4.3.2 "), "{line}");
}

#[test]
fn sigterm_mid_data_lets_the_message_finish_then_closes_with_421() {
    let (mut server, _d, sock) = lmtp_server(&[]);
    let mut c = half_sent(&sock);
    server.signal("TERM");
    server.wait_for_log("shutting down");
    c.send(b"second half\r\n.\r\n");
    assert_eq!(c.reply(), ["250 2.0.0 <alice> Saved"]);
    let stored = new_files(&maildir(&server, "alice"));
    assert_eq!(stored.len(), 1);
    let text = String::from_utf8_lossy(&stored[0]);
    assert!(text.ends_with("\nfirst half\nsecond half\n"), "{text}");
    // The server may say 421 and close before this command reaches it (a
    // loaded machine): the write may fail, the 421 must be there to read.
    let _ = c.try_send(b"MAIL FROM:<bob@example.org>\r\n");
    let next = c.reply().pop().unwrap_or_default();
    assert!(next.starts_with("421 4.3.2 "), "{next}");
    assert!(c.hung_up());
    turned_away(&sock);
    assert!(
        server.wait_exit(Duration::from_secs(30)).is_some(),
        "the server did not stop"
    );
}

#[test]
fn sigterm_mid_data_with_a_stalled_client_refuses_with_421_and_stores_nothing() {
    let (mut server, _d, sock) = lmtp_server(&[]);
    let mut c = half_sent(&sock);
    server.signal("TERM");
    // The client sends nothing more: the server gives up on the message
    // and says so, before it exits.
    let reply = c.reply();
    assert_eq!(reply.len(), 1);
    assert!(reply[0].starts_with("421 4.3.2 "), "{reply:?}");
    assert!(c.closed());
    assert!(
        server.wait_exit(Duration::from_secs(30)).is_some(),
        "the server did not stop"
    );
    let md = maildir(&server, "alice");
    assert!(new_files(&md).is_empty());
    let left = std::fs::read_dir(md.join("tmp")).map_or(0, |d| d.count());
    assert_eq!(left, 0, "nothing half-written left in tmp/");
}
