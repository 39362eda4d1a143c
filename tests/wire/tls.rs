//! STARTTLS (RFC 3501 §6.2.1) and implicit TLS (RFC 8314).

use crate::common::{code_capabilities, TestServer};

#[test]
fn starttls_upgrades_and_capabilities_change() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert!(code_capabilities(&c.greeting).contains(&"STARTTLS".to_string()));
    let r = c.ok("STARTTLS");
    assert!(r.untagged.is_empty(), "{r:?}");
    let mut c = c.upgrade(server.ca.client_config()).expect("TLS handshake");
    let caps = c.capabilities();
    assert!(!caps.contains(&"STARTTLS".to_string()), "{caps:?}");
    assert!(!caps.contains(&"LOGINDISABLED".to_string()), "{caps:?}");
    let r = c.cmd("STARTTLS");
    assert!(r.tagged.starts_with("BAD"), "second STARTTLS: {r:?}");
    c.ok("LOGIN alice secret");
    server.wait_for_log("user=alice mech=LOGIN tls=TLSv1_3");
}

#[test]
fn commands_pipelined_after_starttls_are_not_executed() {
    let server = TestServer::start();
    let mut c = server.connect();
    // An attacker on the path appends a command to the client's STARTTLS in
    // the same packet; it must be thrown away, not run after the handshake.
    c.send(b"a1 STARTTLS\r\na2 LOGIN alice secret\r\n");
    let line = c.line();
    assert!(line.starts_with("a1 OK "), "{line}");
    let mut c = c.upgrade(server.ca.client_config()).expect("handshake");
    let r = c.cmd("CAPABILITY");
    assert!(r.untagged.iter().all(|l| !l.starts_with("a2 ")), "{r:?}");
    let caps = c.capabilities();
    assert!(
        caps.contains(&"AUTH=PLAIN".to_string()),
        "still not authenticated: {caps:?}"
    );
    let r = c.cmd("NOOP");
    assert!(r.tagged.starts_with("OK"));
    server.wait_for_log("discarded data sent after STARTTLS");
}

#[test]
fn implicit_tls_greets_after_handshake() {
    let server = TestServer::start();
    let mut c = server.connect_tls();
    assert!(c.is_tls());
    let caps = code_capabilities(&c.greeting);
    assert!(!caps.contains(&"STARTTLS".to_string()), "{caps:?}");
    assert!(caps.contains(&"AUTH=PLAIN".to_string()));
    c.ok("LOGIN alice secret");
    let r = c.ok("LOGOUT");
    assert_eq!(r.find("* BYE").len(), 1);
}

#[test]
fn implicit_tls_port_survives_a_plain_text_client() {
    let server = TestServer::start();
    let mut plain = crate::common::Client::plain(server.tls_port.unwrap());
    plain.send(b"a1 LOGIN alice secret\r\n");
    assert!(
        plain.try_line().is_err(),
        "no IMAP reply in clear text on the TLS port"
    );
    server.wait_for_log("TLS handshake failed");
    server.connect_tls().ok("LOGIN alice secret");
}

#[test]
fn starttls_without_certificate_is_refused() {
    let server = TestServer::builder().no_tls().start();
    let mut c = server.connect();
    let r = c.cmd("STARTTLS");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    c.ok("NOOP");
}

#[test]
fn starttls_after_login_is_bad() {
    let server = TestServer::start();
    let mut c = server.login();
    let r = c.cmd("STARTTLS");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    c.ok("NOOP");
}

/// A TLS handshake that trickles in (a record header, then a byte every
/// 300 ms) is dropped when the login deadline passes, not kept for ever.
#[test]
fn a_trickling_tls_handshake_is_dropped() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let server = TestServer::builder().opt("login_timeout_secs", "5").start();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", server.tls_port.unwrap())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let start = Instant::now();
    // Handshake record, TLS 1.0 framing, 512 bytes announced.
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(15) {
        let mut b = [0u8; 64];
        match tcp.read(&mut b) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        if tcp.write_all(&[0x00]).is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed, "still open after {:?}", start.elapsed());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // The listener goes on serving.
    server.connect_tls().ok("NOOP");
}

/// A client session store that only counts the TLS 1.3 tickets the server
/// sent (it keeps none, so nothing is ever resumed).
#[derive(Debug, Default)]
struct TicketCounter(std::sync::atomic::AtomicUsize);

impl rustls::client::ClientSessionStore for TicketCounter {
    fn set_kx_hint(&self, _: rustls::pki_types::ServerName<'static>, _: rustls::NamedGroup) {}
    fn kx_hint(&self, _: &rustls::pki_types::ServerName<'_>) -> Option<rustls::NamedGroup> {
        None
    }
    fn set_tls12_session(
        &self,
        _: rustls::pki_types::ServerName<'static>,
        _: rustls::client::Tls12ClientSessionValue,
    ) {
    }
    fn tls12_session(
        &self,
        _: &rustls::pki_types::ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        None
    }
    fn remove_tls12_session(&self, _: &rustls::pki_types::ServerName<'static>) {}
    fn insert_tls13_ticket(
        &self,
        _: rustls::pki_types::ServerName<'static>,
        _: rustls::client::Tls13ClientSessionValue,
    ) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn take_tls13_ticket(
        &self,
        _: &rustls::pki_types::ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        None
    }
}

/// Tickets the server sends over one STARTTLS session, counted once the
/// reply to the first command is in (tickets come before it).
fn tickets_after_starttls(server: &TestServer) -> usize {
    let counter = std::sync::Arc::new(TicketCounter::default());
    let mut config = (*server.ca.client_config()).clone();
    config.resumption = rustls::client::Resumption::store(counter.clone());
    let mut c = server.connect();
    c.ok("STARTTLS");
    let mut c = c.upgrade(std::sync::Arc::new(config)).expect("handshake");
    c.ok("CAPABILITY");
    c.ok("LOGIN alice secret");
    counter.0.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn no_session_tickets_by_default() {
    // Records sent unasked after the handshake are what imaplib2 clients
    // (offlineimap) lose their first command over (issue 26).
    let server = TestServer::start();
    assert_eq!(tickets_after_starttls(&server), 0);
}

#[test]
fn session_tickets_come_back_when_configured() {
    let server = TestServer::builder()
        .opt("tls_session_tickets", "yes")
        .start();
    assert!(tickets_after_starttls(&server) > 0);
}
