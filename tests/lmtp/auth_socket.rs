//! The Dovecot-style auth socket (Postfix's smtpd_sasl_type = dovecot),
//! spoken raw over a real Unix socket.

use crate::common::{b64, TestServer};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct AuthClient {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl AuthClient {
    /// Connects and reads the server's handshake up to DONE.
    fn connect(sock: &Path) -> (AuthClient, Vec<String>) {
        let s = UnixStream::connect(sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = AuthClient {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        let mut hello = Vec::new();
        for _ in 0..20 {
            let l = c.line();
            hello.push(l.clone());
            if l == "DONE" {
                break;
            }
        }
        (c, hello)
    }

    fn send(&mut self, line: &str) {
        self.w.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        assert!(self.r.read_line(&mut l).unwrap() > 0, "closed");
        l.trim_end_matches('\n').to_string()
    }

    fn closed(&mut self) -> bool {
        let mut l = String::new();
        matches!(self.r.read_line(&mut l), Ok(0) | Err(_))
    }

    fn ready(sock: &Path) -> AuthClient {
        let (mut c, _) = AuthClient::connect(sock);
        c.send("VERSION\t1\t2");
        c.send("CPID\t4242");
        c
    }
}

fn auth_server(extra: &[(&str, &str)]) -> (TestServer, tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join("auth");
    let mut b = TestServer::builder().opt("auth_listen", &format!("unix:{}", sock.display()));
    for (k, v) in extra {
        b = b.opt(k, v);
    }
    (b.start(), d, sock)
}

fn plain(user: &str, pass: &str) -> String {
    b64(format!("\0{user}\0{pass}").as_bytes())
}

#[test]
fn postfix_style_plain_and_login_exchanges() {
    let (server, _d, sock) = auth_server(&[]);
    let (mut c, hello) = AuthClient::connect(&sock);
    assert_eq!(hello[0], "VERSION\t1\t2");
    assert!(
        hello.contains(&"MECH\tPLAIN\tplaintext".to_string()),
        "{hello:?}"
    );
    assert!(
        hello.contains(&"MECH\tLOGIN\tplaintext".to_string()),
        "{hello:?}"
    );
    for prefix in ["SPID\t", "CUID\t", "COOKIE\t"] {
        assert!(
            hello.iter().any(|l| l.starts_with(prefix)),
            "{prefix}: {hello:?}"
        );
    }
    c.send("VERSION\t1\t0");
    c.send("CPID\t4242");
    // PLAIN with an initial response, as Postfix sends it.
    c.send(&format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\tresp={}",
        plain("alice", "secret")
    ));
    assert_eq!(c.line(), "OK\t1\tuser=alice");
    // A wrong password: FAIL after the delay, logged like an IMAP login.
    c.send(&format!(
        "AUTH\t2\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={}",
        plain("alice", "wrong")
    ));
    let fail = c.line();
    assert!(fail.starts_with("FAIL\t2\tuser=alice"), "{fail}");
    // PLAIN without an initial response: an empty challenge first.
    c.send("AUTH\t3\tPLAIN\tservice=smtp\trip=127.0.0.1");
    assert_eq!(c.line(), "CONT\t3\t");
    c.send(&format!("CONT\t3\t{}", plain("alice", "secret")));
    assert_eq!(c.line(), "OK\t3\tuser=alice");
    // LOGIN: user name, then password.
    c.send("AUTH\t4\tLOGIN\tservice=smtp\trip=127.0.0.1");
    assert_eq!(c.line(), format!("CONT\t4\t{}", b64(b"Username:")));
    c.send(&format!("CONT\t4\t{}", b64(b"alice")));
    assert_eq!(c.line(), format!("CONT\t4\t{}", b64(b"Password:")));
    c.send(&format!("CONT\t4\t{}", b64(b"secret")));
    assert_eq!(c.line(), "OK\t4\tuser=alice");
    let log = server.wait_for_log("mech=LOGIN service=smtp tls=no login");
    assert!(
        log.contains("user=alice mech=PLAIN service=smtp authentication failed (delay"),
        "{log}"
    );
}

#[test]
fn plaintext_policy_follows_secured_and_the_client_address() {
    let (_server, _d, sock) = auth_server(&[]);
    let mut c = AuthClient::ready(&sock);
    c.send(&format!(
        "AUTH\t1\tPLAIN\tservice=smtp\trip=192.0.2.7\tresp={}",
        plain("alice", "secret")
    ));
    let fail = c.line();
    assert!(
        fail.starts_with("FAIL\t1\t") && fail.contains("non-secure"),
        "{fail}"
    );
    c.send(&format!(
        "AUTH\t2\tPLAIN\tservice=smtp\trip=192.0.2.7\tsecured\tresp={}",
        plain("alice", "secret")
    ));
    assert_eq!(c.line(), "OK\t2\tuser=alice");
}

#[test]
fn hostile_auth_clients_get_fail_or_are_dropped() {
    let (_server, _d, sock) = auth_server(&[]);
    // Anything before VERSION: closed.
    let (mut c, _) = AuthClient::connect(&sock);
    c.send("AUTH\t1\tPLAIN\tservice=smtp");
    assert!(c.closed());
    // A newer major version: closed.
    let (mut c, _) = AuthClient::connect(&sock);
    c.send("VERSION\t2\t0");
    assert!(c.closed());

    let mut c = AuthClient::ready(&sock);
    c.send("GARBAGE\tx");
    c.send("AUTH");
    c.send("AUTH\tnot-a-number\tPLAIN\tservice=smtp");
    c.send("CONT\t99\tAAAA");
    c.send("AUTH\t1\tCRAM-MD5\tservice=smtp\trip=127.0.0.1");
    assert!(c.line().starts_with("FAIL\t1\t"));
    c.send("AUTH\t2\tPLAIN\trip=127.0.0.1\tresp=AGFsaWNlAHNlY3JldA==");
    assert!(c.line().starts_with("FAIL\t2\t"), "no service");
    c.send("AUTH\t3\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp=!!!notbase64");
    assert!(c.line().starts_with("FAIL\t3\t"));
    c.send(&format!(
        "AUTH\t4\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={}",
        b64(b"bob\0alice\0secret")
    ));
    assert!(c.line().starts_with("FAIL\t4\t"), "another authzid");
    c.send(&format!(
        "AUTH\t5\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={}",
        plain("alice\tuser=root", "x")
    ));
    let fail = c.line();
    assert!(
        fail.starts_with("FAIL\t5") && !fail.contains("user=root"),
        "{fail}"
    );
    // Still serving after all that.
    c.send(&format!(
        "AUTH\t6\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={}",
        plain("alice", "secret")
    ));
    assert_eq!(c.line(), "OK\t6\tuser=alice");
    // Exchanges the SMTP client gave up on (Postfix does not say so) do
    // not block later ones on the same connection.
    for id in 10..40 {
        c.send(&format!("AUTH\t{id}\tLOGIN\tservice=smtp\trip=127.0.0.1"));
        assert!(c.line().starts_with(&format!("CONT\t{id}\t")));
    }
    c.send(&format!(
        "AUTH\t50\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={}",
        plain("alice", "secret")
    ));
    assert_eq!(c.line(), "OK\t50\tuser=alice");
    // An endless line: dropped.
    c.send(&"A".repeat(100_000));
    assert!(c.closed());
}

/// CRAM-MD5, OAUTHBEARER and XOAUTH2 over the socket, as Postfix relays
/// them from SMTP AUTH: announced only when configured, checked by the
/// same code as IMAP's, failures throttled and logged the same way.
#[test]
fn cram_md5_and_bearer_tokens_when_configured() {
    let d = tempfile::tempdir().unwrap();
    let secret = d.path().join("hs256.key");
    std::fs::write(&secret, "socket secret\n").unwrap();
    let cram_md5 = "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56";
    let home = d.path().join("carol").display().to_string();
    let sock = d.path().join("auth");
    let server = TestServer::builder()
        .opt("auth_listen", &format!("unix:{}", sock.display()))
        .opt(
            "auth_mechanisms",
            "plain login cram-md5 oauthbearer xoauth2",
        )
        .opt("oauth2_hmac_key_file", &secret.display().to_string())
        .opt("oauth2_username_attribute", "sub")
        .passwd_line(&format!("carol:{cram_md5}::::{home}::"))
        .start();

    let (mut c, hello) = AuthClient::connect(&sock);
    for mech in [
        "MECH\tCRAM-MD5\tdictionary\tactive",
        "MECH\tOAUTHBEARER\tplaintext",
        "MECH\tXOAUTH2\tplaintext",
    ] {
        assert!(hello.contains(&mech.to_string()), "{hello:?}");
    }
    c.send("VERSION\t1\t2");
    c.send("CPID\t4242");
    let cram = |c: &mut AuthClient, id: u32, user: &str, password: &str| -> String {
        c.send(&format!(
            "AUTH\t{id}\tCRAM-MD5\tservice=smtp\trip=127.0.0.1"
        ));
        let cont = c.line();
        let challenge = cont
            .strip_prefix(&format!("CONT\t{id}\t"))
            .unwrap_or_else(|| panic!("{cont}"));
        let challenge =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, challenge).unwrap();
        let answer = crate::common::cram_md5_answer(user, password, &challenge);
        c.send(&format!("CONT\t{id}\t{}", b64(answer.as_bytes())));
        c.line()
    };
    let ok = cram(&mut c, 1, "carol", "secret");
    assert_eq!(ok, "OK\t1\tuser=carol");
    let r = cram(&mut c, 30, "carol", "wrong");
    assert!(r.starts_with("FAIL\t30\tuser=carol"), "{r}");
    // alice is bcrypt-stored: no CRAM-MD5 for her.
    let r = cram(&mut c, 31, "alice", "secret");
    assert!(r.starts_with("FAIL\t31"), "{r}");

    let token = |sub: &str, exp: u64| {
        let claims = format!(r#"{{"sub":"{sub}","exp":{exp}}}"#);
        crate::common::hs256_token(b"socket secret", &claims)
    };
    let now = crate::common::unix_now();
    let good = token("alice", now + 600);
    let xoauth2 = b64(format!("user=alice\x01auth=Bearer {good}\x01\x01").as_bytes());
    c.send(&format!(
        "AUTH\t40\tXOAUTH2\tservice=smtp\trip=127.0.0.1\tresp={xoauth2}"
    ));
    assert_eq!(c.line(), "OK\t40\tuser=alice");
    // OAUTHBEARER without an initial response, and an expired token: the
    // error challenge, then FAIL once answered.
    let stale = token("alice", now - 3600);
    c.send("AUTH\t41\tOAUTHBEARER\tservice=smtp\trip=127.0.0.1");
    assert_eq!(c.line(), "CONT\t41\t");
    c.send(&format!(
        "CONT\t41\t{}",
        b64(format!("n,,\x01auth=Bearer {stale}\x01\x01").as_bytes())
    ));
    let cont = c.line();
    assert_eq!(
        cont,
        format!(
            "CONT\t41\t{}",
            b64(br#"{"status":"invalid_token","schemes":"bearer"}"#)
        )
    );
    c.send(&format!("CONT\t41\t{}", b64(b"\x01")));
    let r = c.line();
    assert!(r.starts_with("FAIL\t41"), "{r}");
    c.send(&format!(
        "AUTH\t42\tOAUTHBEARER\tservice=smtp\trip=127.0.0.1\tresp={}",
        b64(format!("n,a=alice,\x01auth=Bearer {good}\x01\x01").as_bytes())
    ));
    assert_eq!(c.line(), "OK\t42\tuser=alice");
    // Log lines may follow the replies by a moment.
    for line in [
        "user=carol mech=CRAM-MD5 service=smtp tls=no login",
        "user=alice mech=XOAUTH2 service=smtp tls=no login",
    ] {
        server.wait_for_log(line);
    }
    let log = server.log();
    assert!(
        log.contains("user=carol mech=CRAM-MD5 service=smtp tls=no login"),
        "{log}"
    );
    assert!(
        log.contains("user=alice mech=XOAUTH2 service=smtp tls=no login"),
        "{log}"
    );
    assert!(
        log.contains(
            "user= mech=OAUTHBEARER service=smtp authentication failed: token refused: Expired"
        ),
        "{log}"
    );
    assert!(!log.contains(&good[good.len() - 20..]), "{log}");

    // Not configured: not announced, and refused.
    let (_plain, _d2, sock2) = auth_server(&[]);
    let (mut c, hello) = AuthClient::connect(&sock2);
    assert!(
        !hello
            .iter()
            .any(|l| l.contains("CRAM") || l.contains("OAUTH")),
        "{hello:?}"
    );
    c.send("VERSION\t1\t2");
    c.send("AUTH\t1\tCRAM-MD5\tservice=smtp\trip=127.0.0.1");
    assert!(c.line().starts_with("FAIL\t1"));
}

/// Postfix's SMTP AUTH and the passdb's `nologin`. A user referred to
/// another IMAP server may still submit here: Dovecot answers OK, and so
/// does Roost. A suspended one (`nologin` alone) is refused, with the
/// reason Postfix puts in its 535 reply. Here Roost is stricter than
/// Dovecot on purpose: Dovecot answers OK with a `nologin` field that
/// Postfix ignores, so a suspended account could go on sending mail.
#[test]
fn suspended_users_are_refused_and_referred_ones_may_submit() {
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join("auth");
    let server = TestServer::builder()
        .opt("auth_listen", &format!("unix:{}", sock.display()))
        .passwd_line(
            "bob:{PLAIN}secret::::/proc/roost-no-such-home::nologin host=mail2.example.org",
        )
        .passwd_line("dave:{PLAIN}secret::::/proc/roost-no-such-home::nologin reason=Unpaid")
        .start();
    let mut c = AuthClient::ready(&sock);
    c.send(&format!(
        "AUTH\t1\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={}",
        plain("bob", "secret")
    ));
    assert_eq!(c.line(), "OK\t1\tuser=bob");
    c.send(&format!(
        "AUTH\t2\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp={}",
        plain("dave", "secret")
    ));
    assert_eq!(c.line(), "FAIL\t2\tuser=dave\treason=Unpaid");
    server
        .wait_for_log("user=dave mech=PLAIN service=smtp authentication failed: account suspended");
}

/// `allow_nets` is judged on the address Postfix names (`rip=`): the SMTP
/// client's, not Postfix's own. Without one, only `local` admits.
#[test]
fn allow_nets_follows_the_smtp_clients_address() {
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join("auth");
    let server = TestServer::builder()
        .opt("auth_listen", &format!("unix:{}", sock.display()))
        .passwd_line("gina:{PLAIN}secret::::/proc/roost-no-such-home::allow_nets=10.0.0.0/8")
        .passwd_line("hank:{PLAIN}secret::::/proc/roost-no-such-home::allow_nets=local")
        .start();
    let mut c = AuthClient::ready(&sock);
    let cases = [
        ("gina", "\trip=10.1.2.3", "OK\t1\tuser=gina"),
        (
            "gina",
            "\trip=192.0.2.1",
            "FAIL\t2\tuser=gina\treason=Authentication failed",
        ),
        (
            "gina",
            "",
            "FAIL\t3\tuser=gina\treason=Authentication failed",
        ),
        ("hank", "", "OK\t4\tuser=hank"),
        (
            "hank",
            "\trip=10.1.2.3",
            "FAIL\t5\tuser=hank\treason=Authentication failed",
        ),
    ];
    for (n, (user, rip, want)) in cases.iter().enumerate() {
        c.send(&format!(
            "AUTH\t{}\tPLAIN\tservice=smtp\tsecured{rip}\tresp={}",
            n + 1,
            plain(user, "secret")
        ));
        assert_eq!(c.line(), *want, "{user}{rip}");
    }
    server.wait_for_log("user=gina mech=PLAIN service=smtp authentication failed: allow_nets check failed: 192.0.2.1");
}
