//! Session states and the any-state commands (RFC 3501 §3, §6.1), ID
//! (RFC 2971), pipelining and line endings.

use crate::common::TestServer;

#[test]
fn logout_sends_bye_then_ok_then_closes() {
    let server = TestServer::start();
    let mut c = server.login();
    let r = c.ok("LOGOUT");
    assert_eq!(r.untagged.len(), 1);
    assert!(r.untagged[0].starts_with("* BYE "), "{r:?}");
    assert!(c.closed(), "connection closed after LOGOUT");
}

#[test]
fn logout_before_login() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.ok("LOGOUT");
    assert!(r.untagged[0].starts_with("* BYE "));
}

#[test]
fn commands_in_the_wrong_state_are_bad_and_the_session_goes_on() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.cmd("FROBNICATE");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    let r = c.cmd("SELECT INBOX");
    assert!(r.tagged.starts_with("BAD"), "SELECT before login: {r:?}");
    c.ok("LOGIN alice secret");
    let r = c.cmd("LOGIN alice secret");
    assert!(r.tagged.starts_with("BAD"), "LOGIN twice: {r:?}");
    let r = c.cmd("AUTHENTICATE PLAIN");
    assert!(
        r.tagged.starts_with("BAD"),
        "AUTHENTICATE after login: {r:?}"
    );
    c.ok("NOOP");
}

#[test]
fn syntax_errors_are_tagged_bad_with_a_reason() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.cmd("LOGIN alice");
    assert!(
        r.tagged.starts_with("BAD Error in IMAP command LOGIN"),
        "{r:?}"
    );
    let r = c.cmd("NOOP now");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    let r = c.cmd("LOGIN \"unterminated");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    c.ok("NOOP");
}

#[test]
fn id_returns_server_identity_and_logs_the_client() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.ok("ID (\"name\" \"Thunderbird\" \"version\" \"128.0\")");
    let id = r.find("* ID ");
    assert_eq!(id.len(), 1);
    assert!(
        id[0].starts_with("* ID (\"name\" \"Roost\" \"version\" "),
        "{}",
        id[0]
    );
    server.wait_for_log("client id: name=Thunderbird version=128.0");
    let r = c.ok("ID NIL");
    assert_eq!(r.find("* ID ").len(), 1);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"p1 NOOP\r\np2 CAPABILITY\r\np3 LOGIN alice secret\r\np4 NOOP\r\n");
    let r1 = c.read_reply("p1");
    assert!(r1.tagged.starts_with("OK"));
    let r2 = c.read_reply("p2");
    assert_eq!(r2.find("* CAPABILITY").len(), 1);
    assert!(c.read_reply("p3").tagged.starts_with("OK"));
    assert!(c.read_reply("p4").tagged.starts_with("OK"));
}

#[test]
fn bare_lf_line_endings_are_tolerated() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 NOOP\na2 LOGIN {5}\n");
    assert!(c.read_reply("a1").tagged.starts_with("OK"));
    assert!(c.line().starts_with("+ "));
    c.send(b"alice secret\n");
    assert!(c.read_reply("a2").tagged.starts_with("OK"));
}

#[test]
fn client_vanishing_mid_command_does_not_disturb_others() {
    let server = TestServer::start();
    {
        let mut c = server.connect();
        c.send(b"a1 LOGIN {10}\r\n");
        assert!(c.line().starts_with("+ "));
        c.send(b"ali");
    }
    server.wait_for_log("connection closed");
    server.login().ok("NOOP");
}

#[test]
fn idle_unauthenticated_connection_gets_bye() {
    let server = TestServer::builder()
        .opt("timeout_preauth_secs", "1")
        .start();
    let mut c = server.connect();
    // The read timeout of the test client (20 s) bounds this wait.
    let line = c.line();
    assert_eq!(line, "* BYE Disconnected for inactivity.");
    assert!(c.closed());
    server.wait_for_log("inactivity timeout");
}

#[test]
fn sigterm_sends_bye_to_every_session_and_exits() {
    let mut server = TestServer::start();
    let mut plain = server.login();
    plain.ok("SELECT INBOX");
    let mut idle = server.login();
    idle.ok("SELECT INBOX");
    idle.send(b"i IDLE\r\n");
    assert_eq!(idle.line(), "+ idling");
    let mut tls = server.connect_tls();
    let mut fresh = server.connect();
    server.signal("TERM");
    for c in [&mut plain, &mut idle, &mut tls, &mut fresh] {
        assert_eq!(c.line(), "* BYE Server shutting down.");
        assert!(c.closed());
    }
    let status = server
        .wait_exit(std::time::Duration::from_secs(10))
        .expect("server exits");
    assert!(status.success(), "{status:?}");
}

/// A stopped and continued server (a debugger attaching, a container
/// paused, `kill -STOP` / `-CONT`) keeps its sessions: Linux ends a socket
/// read that has a timeout with EINTR when the process resumes, even under
/// SA_RESTART (signal(7)); that is no reason to drop the client. Over TLS
/// too, and in IDLE.
#[test]
fn sessions_survive_the_server_being_stopped_and_continued() {
    let server = TestServer::start();
    let mut plain = server.login();
    let mut tls = server.connect_tls();
    tls.ok("LOGIN alice secret");
    let mut idling = server.login();
    idling.ok("SELECT INBOX");
    idling.send(b"i1 IDLE\r\n");
    assert!(idling.line().starts_with('+'));
    // Let every session thread block in its read.
    std::thread::sleep(std::time::Duration::from_millis(200));
    for _ in 0..3 {
        server.signal("STOP");
        std::thread::sleep(std::time::Duration::from_millis(100));
        server.signal("CONT");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    plain.ok("NOOP");
    tls.ok("NOOP");
    idling.send(b"DONE\r\n");
    let done = idling.line();
    assert!(done.starts_with("i1 OK"), "{done}");
    idling.ok("NOOP");
}
