//! Input bounds: long lines and big literals get a clear answer, the
//! session goes on, and other clients are unaffected.

use crate::common::TestServer;

#[test]
fn overlong_line_gets_bad_and_session_continues() {
    let server = TestServer::builder().opt("max_line_length", "8192").start();
    let mut c = server.connect();
    let mut line = b"a1 NOOP ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 100_000));
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    let reply = c.line();
    assert!(reply.starts_with("a1 BAD [TOOBIG]"), "{reply}");
    c.ok("NOOP");
    // Another client is served meanwhile.
    server.login().ok("NOOP");
}

#[test]
fn oversized_synchronizing_literal_is_refused_without_continuation() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 LOGIN {100000}\r\n");
    let reply = c.line();
    assert!(reply.starts_with("a1 NO [TOOBIG]"), "{reply}");
    c.ok("LOGIN alice secret");
}

#[test]
fn oversized_nonsynchronizing_literal_is_skipped() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut cmd = b"a1 LOGIN {100000+}\r\n".to_vec();
    cmd.extend(std::iter::repeat_n(b'z', 100_000));
    cmd.extend_from_slice(b" secret\r\na2 NOOP\r\n");
    c.send(&cmd);
    let reply = c.line();
    assert!(reply.starts_with("a1 NO [TOOBIG]"), "{reply}");
    let reply = c.line();
    assert!(reply.starts_with("a2 OK"), "{reply}");
}

#[test]
fn absurd_nonsynchronizing_literal_closes_the_connection() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 LOGIN {99999999999+}\r\n");
    let reply = c.line();
    assert!(reply.starts_with("* BYE"), "{reply}");
    assert!(c.closed());
    server.login().ok("NOOP");
}

#[test]
fn garbage_gets_bad_and_too_much_garbage_gets_bye() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"\r\n");
    assert!(c.line().starts_with("* BAD"));
    c.send(b"GET / HTTP/1.1\r\n");
    assert!(c.line().starts_with("GET BAD"));
    c.ok("NOOP");
    for _ in 0..25 {
        c.send(b"x FROB\r\n");
    }
    let mut saw_bye = false;
    for _ in 0..25 {
        match c.try_line() {
            Ok(l) if l.starts_with("* BYE") => {
                saw_bye = true;
                break;
            }
            Ok(l) => assert!(l.starts_with("x BAD"), "{l}"),
            Err(_) => break,
        }
    }
    assert!(saw_bye, "BYE after many bad commands");
}

#[test]
fn two_hundred_concurrent_connections_are_greeted_and_logged_in() {
    let server = TestServer::start();
    let port = server.port;
    let clients: Vec<_> = (0..200)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = crate::common::Client::plain(port);
                let greeting = c.line();
                assert!(greeting.starts_with("* OK [CAPABILITY"), "{greeting}");
                c.ok("LOGIN alice secret");
                c
            })
        })
        .collect();
    let mut connected: Vec<_> = clients
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    // All 200 are open at once; each still answers.
    for c in &mut connected {
        c.ok("NOOP");
    }
}

#[test]
fn connections_over_the_cap_get_bye() {
    let server = TestServer::builder().opt("max_connections", "2").start();
    let _a = server.connect();
    let _b = server.connect();
    let mut c = crate::common::Client::plain(server.port);
    let line = c.line();
    assert!(line.starts_with("* BYE"), "{line}");
    drop(_a);
    // The slot frees once the server notices the close.
    let deadline = std::time::Instant::now() + crate::common::TIMEOUT;
    loop {
        let mut c = crate::common::Client::plain(server.port);
        if c.line().starts_with("* OK") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
