//! AUTHENTICATE CRAM-MD5 (RFC 2195) with a client written from the RFC:
//! users stored as `doveadm pw -s CRAM-MD5` writes, or in plaintext; other
//! users cannot do it; the challenge is new each time.

use crate::common::{b64, cram_md5_answer, Client, TestServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// What `doveadm pw -s CRAM-MD5 -p secret` wrote.
const DOVECOT_SECRET: &str =
    "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56";

/// Runs the exchange; the challenge and the tagged reply.
fn cram(c: &mut Client, user: &str, password: &str) -> (String, String) {
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE CRAM-MD5\r\n").as_bytes());
    let line = c.line();
    let Some(challenge) = line.strip_prefix("+ ") else {
        return (String::new(), line);
    };
    let challenge = String::from_utf8(STANDARD.decode(challenge).unwrap()).unwrap();
    let answer = cram_md5_answer(user, password, challenge.as_bytes());
    c.send(format!("{}\r\n", b64(answer.as_bytes())).as_bytes());
    let r = c.read_reply(&tag);
    (challenge, r.tagged)
}

fn server(extra: &[(&str, &str)]) -> (TestServer, tempfile::TempDir) {
    let homes = tempfile::tempdir().unwrap();
    let h = homes.path().display().to_string();
    let mut b = TestServer::builder()
        .passwd_line(&format!("carol:{DOVECOT_SECRET}::::{h}/carol::"))
        .passwd_line(&format!("dave:{{PLAIN}}plainpass::::{h}/dave::"))
        .passwd_line(crate::common::passwd_line(homes.path(), "bob", "bobpass").trim_end())
        .opt("auth_mechanisms", "plain login cram-md5");
    for (k, v) in extra {
        b = b.opt(k, v);
    }
    (b.start(), homes)
}

#[test]
fn cram_md5_logs_in_stored_and_plaintext_users_and_refuses_others() {
    let (server, _homes) = server(&[]);
    let mut c = server.connect();
    assert!(c.capabilities().iter().any(|x| x == "AUTH=CRAM-MD5"));
    let (first, r) = cram(&mut c, "carol", "wrong");
    assert!(r.starts_with("NO [AUTHENTICATIONFAILED]"), "{r}");
    // <random.time@host>, and never the same twice.
    let inner = first
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap();
    let (nums, host) = inner.split_once('@').unwrap();
    assert!(!host.is_empty() && nums.contains('.'), "{first}");
    let (second, r) = cram(&mut c, "nobody", "secret");
    assert!(r.starts_with("NO [AUTHENTICATIONFAILED]"), "{r}");
    assert_ne!(first, second);
    // bcrypt keeps no HMAC state: such a user cannot use CRAM-MD5.
    let (_, r) = cram(&mut c, "bob", "bobpass");
    assert!(r.starts_with("NO [AUTHENTICATIONFAILED]"), "{r}");
    // CRAM-MD5 has the server speak first: an initial response is BAD.
    let r = c.cmd(&format!("AUTHENTICATE CRAM-MD5 {}", b64(b"carol x")));
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    let (_, r) = cram(&mut c, "carol", "secret");
    assert!(r.starts_with("OK"), "{r}");
    c.ok("SELECT INBOX");

    let mut c = server.connect();
    let (_, r) = cram(&mut c, "dave", "plainpass");
    assert!(r.starts_with("OK"), "{r}");
    // The stored CRAM-MD5 state serves LOGIN too, as in Dovecot.
    let mut c = server.connect();
    c.ok("LOGIN carol secret");
    // Log lines may follow the replies by a moment.
    for line in [
        "user=carol mech=CRAM-MD5 tls=no login",
        "user=bob mech=CRAM-MD5 authentication failed",
    ] {
        server.wait_for_log(line);
    }
    let log = server.log();
    assert!(
        log.contains("user=carol mech=CRAM-MD5 tls=no login"),
        "{log}"
    );
    assert!(
        log.contains("user=bob mech=CRAM-MD5 authentication failed"),
        "{log}"
    );
    assert!(
        !log.contains("secret") && !log.contains("plainpass"),
        "{log}"
    );
}

#[test]
fn cram_md5_is_offered_only_when_configured_and_without_tls() {
    let plain = TestServer::start();
    let mut c = plain.connect();
    assert!(!c.capabilities().iter().any(|x| x == "AUTH=CRAM-MD5"));
    let r = c.cmd("AUTHENTICATE CRAM-MD5");
    assert!(r.tagged.starts_with("NO"), "{r:?}");
    // The password never travels, so no TLS is needed (as Dovecot).
    let (server, _homes) = server(&[("plaintext_auth", "never")]);
    let mut c = server.connect();
    let caps = c.capabilities();
    assert!(caps.iter().any(|x| x == "LOGINDISABLED"), "{caps:?}");
    assert!(caps.iter().any(|x| x == "AUTH=CRAM-MD5"), "{caps:?}");
    let (_, r) = cram(&mut c, "carol", "secret");
    assert!(r.starts_with("OK"), "{r}");
}

/// CRAM-MD5 and SCRAM need the passwd file's stored secrets: with PAM
/// alone they are not offered, whatever `auth_mechanisms` lists, and
/// asking for them anyway is answered as for any unknown mechanism.
#[test]
fn without_a_passwd_file_the_stored_secret_mechanisms_are_not_offered() {
    let server = TestServer::builder()
        .opt("passdb", "pam")
        .opt(
            "auth_mechanisms",
            "plain login cram-md5 scram-sha-256 scram-sha-1",
        )
        .start();
    let mut c = server.connect();
    let caps = c.capabilities();
    for mech in ["AUTH=CRAM-MD5", "AUTH=SCRAM-SHA-256", "AUTH=SCRAM-SHA-1"] {
        assert!(!caps.contains(&mech.to_string()), "{mech} in {caps:?}");
    }
    assert!(caps.contains(&"AUTH=PLAIN".to_string()), "{caps:?}");
    let r = c.cmd("AUTHENTICATE CRAM-MD5");
    assert_eq!(r.tagged, "NO Unsupported authentication mechanism.");
}
