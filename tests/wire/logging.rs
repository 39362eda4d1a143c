//! What the server writes about sessions: log lines and protocol traces.

use crate::common::{b64, TestServer};

#[test]
fn log_has_one_line_per_event_with_session_id_and_never_a_password() {
    let server = TestServer::start();
    let mut c = server.connect();
    let _ = c.cmd("LOGIN alice hunter2-wrong");
    c.ok(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0secret")));
    c.ok("LOGOUT");
    let log = server.wait_for_log("logout (logout)");
    let connect = log
        .lines()
        .find(|l| l.contains(" connect"))
        .expect("connect line");
    let conn = connect
        .split_whitespace()
        .find(|w| w.starts_with("conn="))
        .expect("conn= in connect line");
    assert!(connect.contains("peer=127.0.0.1:"), "{connect}");
    let failure = log
        .lines()
        .find(|l| l.contains("authentication failed"))
        .expect("failure line");
    assert!(
        failure.contains(conn) && failure.contains("user=alice"),
        "{failure}"
    );
    let login = log
        .lines()
        .find(|l| l.ends_with(" login"))
        .expect("login line");
    assert!(
        login.contains(conn) && login.contains("user=alice mech=PLAIN tls=no"),
        "{login}"
    );
    let logout = log
        .lines()
        .find(|l| l.contains("logout (logout)"))
        .expect("logout line");
    assert!(
        logout.contains(conn) && logout.contains(" in=") && logout.contains(" out="),
        "{logout}"
    );
    assert!(logout.contains("duration="), "{logout}");
    assert!(
        !log.contains("hunter2") && !log.contains("secret"),
        "password in log:\n{log}"
    );
}

#[test]
fn protocol_trace_records_the_session_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .opt("trace_dir", dir.path().to_str().unwrap())
        .start();
    let mut c = server.connect();
    c.ok("LOGIN alice secret");
    c.ok("ID (\"name\" \"tracer\")");
    c.ok("LOGOUT");
    server.wait_for_log("logout (logout)");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("S: * OK [CAPABILITY"), "{text}");
    assert!(text.contains("C: t1 LOGIN alice <hidden>"), "{text}");
    assert!(text.contains("C: t2 ID (\"name\" \"tracer\")"), "{text}");
    assert!(text.contains("S: * BYE"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "trace readable by others: {mode:o}");
}

#[test]
fn protocol_trace_limited_to_named_users() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .user("bob", "pw")
        .opt("trace_dir", dir.path().to_str().unwrap())
        .opt("trace_users", "bob")
        .start();
    server.login().ok("LOGOUT");
    let mut c = server.connect();
    c.ok("LOGIN bob pw");
    c.ok("LOGOUT");
    let log = server.wait_for_log("user=bob logout");
    let _ = log;
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "only bob's session traced: {files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("LOGIN bob <hidden>"), "{text}");
}
