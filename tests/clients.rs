//! Real clients against the real server: Python's imaplib, openssl
//! s_client and curl (Debian packages python3, openssl, curl).

use crate::common::{run_tool, TestServer};

#[test]
fn python_imaplib_starttls_login_capability_logout() {
    let server = TestServer::start();
    let ca = server.root().join("ca.pem");
    std::fs::write(&ca, &server.ca.ca_pem).unwrap();
    let script = format!(
        r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile={ca:?})
m = imaplib.IMAP4("127.0.0.1", {port})
assert "STARTTLS" in m.capabilities, m.capabilities
typ, _ = m.starttls(ssl_context=ctx)
assert typ == "OK"
assert "STARTTLS" not in m.capabilities, m.capabilities
typ, data = m.login("alice", "secret")
assert typ == "OK", data
typ, data = m.capability()
assert typ == "OK" and b"IMAP4rev1" in data[0], data
typ, data = m.noop()
assert typ == "OK", data
typ, data = m.logout()
assert typ == "BYE", (typ, data)
m = imaplib.IMAP4_SSL("127.0.0.1", {tls_port}, ssl_context=ctx)
typ, data = m.authenticate("PLAIN", lambda _: b"\0alice\0secret")
assert typ == "OK", data
try:
    m2 = imaplib.IMAP4("127.0.0.1", {port})
    m2.login("alice", "wrong")
    sys.exit("wrong password accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
print("imaplib ok")
"#,
        ca = ca.to_str().unwrap(),
        port = server.port,
        tls_port = server.tls_port.unwrap()
    );
    let (ok, out, err) = run_tool("python3", &["-c", &script], b"");
    assert!(
        ok && out.contains("imaplib ok"),
        "stdout:\n{out}\nstderr:\n{err}"
    );
}

#[test]
fn openssl_s_client_starttls_and_implicit_tls() {
    let server = TestServer::start();
    let ca = server.root().join("ca.pem");
    std::fs::write(&ca, &server.ca.ca_pem).unwrap();
    let connect_plain = format!("127.0.0.1:{}", server.port);
    let connect_tls = format!("127.0.0.1:{}", server.tls_port.unwrap());
    let ca = ca.to_str().unwrap();
    let runs: [Vec<&str>; 2] = [
        vec!["s_client", "-starttls", "imap", "-connect", &connect_plain],
        vec!["s_client", "-connect", &connect_tls],
    ];
    for base in runs {
        let mut args = base.clone();
        args.extend(["-CAfile", ca, "-verify_return_error", "-crlf", "-quiet"]);
        let (_, out, err) = run_tool("openssl", &args, b"a LOGIN alice secret\nb LOGOUT\n");
        assert!(
            out.contains("a OK [CAPABILITY"),
            "{base:?}\nstdout:\n{out}\nstderr:\n{err}"
        );
        assert!(out.contains("* BYE"), "{out}");
        assert!(out.contains("b OK"), "{out}");
    }
}

/// Runs curl against the test server over TLS (trusting its test CA) as
/// `user:password`, with `extra` arguments before the URL.
fn curl(server: &TestServer, login: &str, extra: &[&str], url: &str) -> (bool, String, String) {
    let ca = server.root().join("ca.pem");
    std::fs::write(&ca, &server.ca.ca_pem).unwrap();
    let ca = ca.to_str().unwrap();
    let mut args = vec!["-sS", "--ssl-reqd", "--cacert", ca, "-u", login];
    args.extend_from_slice(extra);
    args.push(url);
    run_tool("curl", &args, b"")
}

#[test]
fn curl_logs_in_over_starttls_and_imaps() {
    let server = TestServer::start();
    let urls = [
        format!("imap://127.0.0.1:{}/", server.port),
        format!("imaps://127.0.0.1:{}/", server.tls_port.unwrap()),
    ];
    for url in &urls {
        let (ok, out, err) = curl(&server, "alice:secret", &["-X", "ID NIL"], url);
        assert!(ok, "{url}\nstdout:\n{out}\nstderr:\n{err}");
        assert!(out.contains("* ID (\"name\" \"Roost\""), "{url}: {out}");
    }
    let (ok, _, err) = curl(&server, "alice:wrong", &["-X", "ID NIL"], &urls[0]);
    assert!(!ok, "wrong password accepted: {err}");
    let log = server.log();
    assert!(log.contains("tls=TLSv1_3"), "curl used TLS:\n{log}");
}

#[test]
fn curl_lists_folders_and_reads_a_message_by_uid() {
    let server = TestServer::start();
    let mut c = server.login();
    c.ok("CREATE Archive");
    let msg = "From: a@example.org\r\nSubject: curl test\r\n\r\nHello from the store.\r\n";
    c.append("INBOX", "", msg);
    let base = format!("imap://127.0.0.1:{}/", server.port);
    let (ok, out, err) = curl(&server, "alice:secret", &[], &base);
    assert!(ok, "{err}");
    assert!(
        out.contains("* LIST (\\HasNoChildren \\Archive) \".\" Archive"),
        "{out}"
    );
    assert!(out.contains("INBOX"), "{out}");
    let (ok, out, err) = curl(&server, "alice:secret", &[], &format!("{base}INBOX;UID=1"));
    assert!(ok, "{err}");
    assert_eq!(out, msg);
}
