//! LOGIN, AUTHENTICATE, the plaintext policy and the users file
//! (RFC 3501 §6.2, RFC 4959, RFC 4616).

use crate::common::{b64, code_capabilities, passwd_line, TestServer};
use std::time::{Duration, Instant};

#[test]
fn greeting_advertises_capabilities_before_login() {
    let server = TestServer::start();
    let mut c = server.connect();
    let caps = code_capabilities(&c.greeting);
    for cap in [
        "IMAP4rev1",
        "STARTTLS",
        "AUTH=PLAIN",
        "AUTH=LOGIN",
        "SASL-IR",
        "LITERAL+",
        "ID",
    ] {
        assert!(
            caps.contains(&cap.to_string()),
            "{cap} missing from {caps:?}"
        );
    }
    assert!(!caps.contains(&"LOGINDISABLED".to_string()));
    assert_eq!(
        c.capabilities(),
        caps,
        "CAPABILITY agrees with the greeting"
    );
}

#[test]
fn login_ok_carries_post_login_capabilities() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.ok("LOGIN alice secret");
    let caps = code_capabilities(&r.tagged);
    assert!(caps.contains(&"IMAP4rev1".to_string()));
    for gone in ["STARTTLS", "AUTH=PLAIN", "LOGINDISABLED"] {
        assert!(
            !caps.contains(&gone.to_string()),
            "{gone} after login: {caps:?}"
        );
    }
    assert_eq!(c.capabilities(), caps);
}

#[test]
fn wrong_password_and_unknown_user_fail_alike_after_a_delay() {
    let server = TestServer::start();
    let mut c = server.connect();
    let started = Instant::now();
    let r = c.cmd("LOGIN alice wrong");
    assert_eq!(r.tagged, "NO [AUTHENTICATIONFAILED] Authentication failed.");
    // auth_failure_delay_ms = 100 in tests; the second failure doubles it.
    assert!(started.elapsed() >= Duration::from_millis(90));
    let started = Instant::now();
    let r = c.cmd("LOGIN nobody secret");
    assert_eq!(r.tagged, "NO [AUTHENTICATIONFAILED] Authentication failed.");
    assert!(started.elapsed() >= Duration::from_millis(190));
    // The session goes on and a right password still works.
    c.ok("LOGIN alice secret");
}

#[test]
fn login_with_synchronizing_literals() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 LOGIN {5}\r\n");
    assert!(
        c.line().starts_with("+ "),
        "continuation for the user literal"
    );
    c.send(b"alice {6}\r\n");
    assert!(
        c.line().starts_with("+ "),
        "continuation for the password literal"
    );
    c.send(b"secret\r\n");
    assert!(c.line().starts_with("a1 OK "));
}

#[test]
fn login_with_nonsynchronizing_literals_needs_no_continuation() {
    let server = TestServer::start();
    let mut c = server.connect();
    // RFC 7888: all in one write, and the server must not send "+".
    c.send(b"a1 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n");
    let line = c.line();
    assert!(line.starts_with("a1 OK "), "{line}");
}

#[test]
fn login_with_quoted_strings_and_escapes() {
    let server = TestServer::builder().user("bob", "p\"w\\d x").start();
    let mut c = server.connect();
    c.ok("LOGIN \"bob\" \"p\\\"w\\\\d x\"");
}

#[test]
fn authenticate_plain_with_initial_response() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.ok(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0secret")));
    assert!(r.tagged.contains("[CAPABILITY "));
}

#[test]
fn authenticate_plain_without_initial_response() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.line(), "+ ");
    c.send(format!("{}\r\n", b64(b"alice\0alice\0secret")).as_bytes());
    assert!(c.line().starts_with("a1 OK "));
}

#[test]
fn authenticate_plain_wrong_password() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0nope")));
    assert!(r.tagged.starts_with("NO [AUTHENTICATIONFAILED]"), "{r:?}");
}

#[test]
fn authenticate_cancelled_with_star_is_bad_and_session_goes_on() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.line(), "+ ");
    c.send(b"*\r\n");
    let line = c.line();
    assert!(line.starts_with("a1 BAD "), "{line}");
    c.ok("NOOP");
    c.ok("LOGIN alice secret");
}

#[test]
fn authenticate_garbage_base64_is_bad() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.line(), "+ ");
    c.send(b"not base64!!\r\n");
    assert!(c.line().starts_with("a1 BAD "));
    c.ok("NOOP");
}

#[test]
fn authenticate_login_mechanism() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 AUTHENTICATE LOGIN\r\n");
    assert_eq!(c.line(), format!("+ {}", b64(b"Username:")));
    c.send(format!("{}\r\n", b64(b"alice")).as_bytes());
    assert_eq!(c.line(), format!("+ {}", b64(b"Password:")));
    c.send(format!("{}\r\n", b64(b"secret")).as_bytes());
    assert!(c.line().starts_with("a1 OK "));
}

#[test]
fn authenticate_unknown_mechanism_is_no() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.cmd("AUTHENTICATE CRAM-MD5");
    assert!(r.tagged.starts_with("NO "), "{r:?}");
}

#[test]
fn plaintext_auth_never_advertises_logindisabled_until_tls() {
    let server = TestServer::builder().opt("plaintext_auth", "never").start();
    let mut c = server.connect();
    let caps = code_capabilities(&c.greeting);
    assert!(caps.contains(&"LOGINDISABLED".to_string()), "{caps:?}");
    assert!(caps.contains(&"STARTTLS".to_string()));
    assert!(!caps.iter().any(|c| c.starts_with("AUTH=")), "{caps:?}");
    let r = c.cmd("LOGIN alice secret");
    assert!(r.tagged.starts_with("NO [PRIVACYREQUIRED]"), "{r:?}");
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0secret")));
    assert!(r.tagged.starts_with("NO [PRIVACYREQUIRED]"), "{r:?}");
    c.ok("STARTTLS");
    let mut c = c.upgrade(server.ca.client_config()).unwrap();
    let caps = c.capabilities();
    assert!(!caps.contains(&"LOGINDISABLED".to_string()), "{caps:?}");
    assert!(!caps.contains(&"STARTTLS".to_string()), "{caps:?}");
    assert!(caps.contains(&"AUTH=PLAIN".to_string()));
    c.ok("LOGIN alice secret");
}

#[test]
fn plaintext_auth_always_allows_login_without_tls() {
    let server = TestServer::builder()
        .opt("plaintext_auth", "always")
        .no_tls()
        .start();
    let mut c = server.connect();
    let caps = code_capabilities(&c.greeting);
    assert!(
        !caps.contains(&"STARTTLS".to_string()),
        "no STARTTLS without a certificate"
    );
    c.ok("LOGIN alice secret");
}

#[test]
fn passwd_schemes_from_existing_dovecot_installs() {
    // Hashes as doveadm pw / glibc crypt write them, password "pw".
    let server = TestServer::builder()
        .passwd_line("plain:{PLAIN}pw::::/tmp::")
        .passwd_line(
            "sha512:{SHA512-CRYPT}$6$bCGn7m2dqrL0dpoA$LMfqCXtZPz.kuZtKgrX9E/oOKsiaZnwIECUGoBao.wImlReGxM8UDofvKYvNtNw.HLt2VkW9Q/6xry8EmtImD/::::/tmp::",
        )
        .passwd_line("crypt:$6$bCGn7m2dqrL0dpoA$LMfqCXtZPz.kuZtKgrX9E/oOKsiaZnwIECUGoBao.wImlReGxM8UDofvKYvNtNw.HLt2VkW9Q/6xry8EmtImD/")
        .passwd_line("sha256:{SHA256-CRYPT}$5$rounds=10000$saltsaltsalt$QMq1m1jT14KkHmyO1vo6DzbBts7yle.RIX0tTf6PaA2::::/tmp::")
        .passwd_line("md5:{MD5-CRYPT}$1$abcdefgh$XxXxXxXxXxXxXxXxXxXxX.::::/tmp::")
        .passwd_line("des:{DES-CRYPT}FgjsQqO78UGQE::::/tmp::")
        .start();
    let mut c = server.connect();
    // "crypt" has no home, so mail_location %h/Maildir cannot be resolved.
    for (user, ok) in [
        ("plain", true),
        ("sha512", true),
        ("sha256", true),
        ("crypt", false),
        // A made-up MD5-crypt digest: checked, and wrong.
        ("md5", false),
        ("des", false),
    ] {
        let r = c.cmd(&format!("LOGIN {user} pw"));
        assert_eq!(r.tagged.starts_with("OK"), ok, "{user}: {r:?}");
        if ok {
            c = server.connect();
        }
    }
    let log = server.log();
    assert!(
        log.contains("user=des password scheme DES-CRYPT is not supported"),
        "{log}"
    );
    assert!(log.contains("needs a home directory"), "{log}");
}

#[test]
fn users_file_changes_are_picked_up_without_restart() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.cmd("LOGIN carol pw1");
    assert!(r.tagged.starts_with("NO "));
    let path = server.root().join("passwd");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&passwd_line(&server.root(), "carol", "pw1"));
    // Replace atomically, as an admin's editor or `install` would.
    let tmp = server.root().join("passwd.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    c.ok("LOGIN carol pw1");
}

#[test]
fn sighup_reloads_users_and_certificate() {
    let server = TestServer::start();
    server.signal("HUP");
    server.wait_for_log("SIGHUP: TLS certificate and key reloaded");
    let log = server.wait_for_log("reloaded, 1 users");
    assert!(!log.contains("secret"), "passwords never logged");

    // A new certificate from a new CA: after SIGHUP, new handshakes use it.
    let fresh = crate::common::TestCa::new();
    std::fs::write(server.root().join("cert.pem"), &fresh.cert_pem).unwrap();
    std::fs::write(server.root().join("key.pem"), &fresh.key_pem).unwrap();
    server.signal("HUP");
    let needle = "SIGHUP: TLS certificate and key reloaded";
    let deadline = Instant::now() + crate::common::TIMEOUT;
    while server.log().matches(needle).count() < 2 {
        assert!(Instant::now() < deadline, "second reload never logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = server.connect();
    c.ok("STARTTLS");
    let mut c = c
        .upgrade(fresh.client_config())
        .expect("handshake with the new certificate");
    c.ok("LOGIN alice secret");
}

/// Users whose hashes `doveadm pw` wrote with the schemes Dovecot setups
/// still carry log in (skipped with a note without doveadm).
#[test]
fn login_with_hashes_doveadm_pw_writes() {
    let doveadm = std::path::Path::new("/usr/bin/doveadm");
    if !doveadm.exists() {
        eprintln!("note: /usr/bin/doveadm is missing (package dovecot-core); test skipped");
        return;
    }
    let schemes = [
        "SSHA512",
        "SSHA256",
        "PBKDF2",
        "ARGON2ID",
        "MD5-CRYPT",
        "SHA512",
    ];
    let mail = tempfile::tempdir().unwrap();
    let location = format!("{}/%u", mail.path().display());
    let mut builder = TestServer::builder().opt("mail_location", &location);
    for (i, scheme) in schemes.iter().enumerate() {
        let out = std::process::Command::new(doveadm)
            .args(["pw", "-s", scheme, "-p", &format!("pw{i}")])
            .output()
            .unwrap();
        let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
        builder = builder.passwd_line(&format!("u{i}:{hash}::::::"));
    }
    let server = builder.start();
    for (i, scheme) in schemes.iter().enumerate() {
        let mut c = server.connect();
        let r = c.cmd(&format!("LOGIN u{i} pw{i}"));
        assert!(r.tagged.starts_with("OK"), "{scheme}: {r:?}");
        let r = server.connect().cmd(&format!("LOGIN u{i} wrong"));
        assert!(r.tagged.starts_with("NO"), "{scheme}: {r:?}");
    }
}

/// Repeated logins skip the slow hash (auth cache), but a wrong password,
/// a changed password and a disabled cache never pass through it.
#[test]
fn verified_passwords_are_cached_until_the_password_changes() {
    const HIT: &str = "user=alice password found in the auth cache";
    let server = TestServer::builder().opt("log_level", "debug").start();
    for _ in 0..3 {
        server.login().ok("LOGOUT");
    }
    assert_eq!(server.log().matches(HIT).count(), 2, "{}", server.log());
    let mut c = server.connect();
    assert!(c.cmd("LOGIN alice Secret").tagged.starts_with("NO "));
    // The admin sets a new password: the cached old one is refused at once.
    let path = server.root().join("passwd");
    let tmp = server.root().join("passwd.new");
    std::fs::write(&tmp, passwd_line(&server.root(), "alice", "changed")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let mut c = server.connect();
    assert!(c.cmd("LOGIN alice secret").tagged.starts_with("NO "));
    c.ok("LOGIN alice changed");
    assert_eq!(server.log().matches(HIT).count(), 2);

    let off = TestServer::builder()
        .opt("log_level", "debug")
        .opt("auth_cache_ttl_secs", "0")
        .start();
    for _ in 0..3 {
        off.login().ok("LOGOUT");
    }
    assert!(!off.log().contains("auth cache"), "{}", off.log());
}
