//! AUTHENTICATE OAUTHBEARER (RFC 7628) and XOAUTH2 with JWT bearer tokens
//! signed here (HS256 with a shared secret, ES256 with a key generated
//! for the test) and checked by the server locally: good tokens log in,
//! expired, wrongly addressed or forged ones get RFC 7628's error
//! challenge and then NO.

use crate::common::{b64, hs256_token, unix_now, Client, TestServer};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

const SECRET: &[u8] = b"shared secret of the test";

fn b64u(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// Claims for `email`, issued by the configured issuer for `aud`,
/// valid until `exp`.
fn claims(email: &str, aud: &str, exp: u64) -> String {
    format!(
        r#"{{"iss":"https://idp.test","aud":["other","{aud}"],"email":"{email}","sub":"s-{email}","iat":{},"exp":{exp}}}"#,
        unix_now()
    )
}

/// An ES256 signer and its public key's PEM.
fn es256_key() -> (ring::signature::EcdsaKeyPair, String) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &kp.serialize_der(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    (signer, kp.public_key_pem())
}

fn es256(signer: &ring::signature::EcdsaKeyPair, claims: &str) -> String {
    let signed = format!(
        "{}.{}",
        b64u(br#"{"alg":"ES256","typ":"JWT"}"#),
        b64u(claims.as_bytes())
    );
    let sig = signer
        .sign(&ring::rand::SystemRandom::new(), signed.as_bytes())
        .unwrap();
    format!("{signed}.{}", b64u(sig.as_ref()))
}

fn oauthbearer_msg(authzid: &str, token: &str) -> Vec<u8> {
    let a = if authzid.is_empty() {
        String::new()
    } else {
        format!("a={authzid}")
    };
    format!("n,{a},\x01host=localhost\x01port=143\x01auth=Bearer {token}\x01\x01").into_bytes()
}

fn xoauth2_msg(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// Sends `msg` as the initial response; on an error challenge, checks it
/// holds `status` and answers it with ^A (RFC 7628 §3.2.3). The tagged reply.
fn authenticate(c: &mut Client, mech: &str, msg: &[u8], status: &str) -> String {
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE {mech} {}\r\n", b64(msg)).as_bytes());
    let line = c.line();
    if let Some(challenge) = line.strip_prefix("+ ") {
        let json = String::from_utf8(STANDARD.decode(challenge).unwrap()).unwrap();
        assert!(json.contains(&format!(r#""status":"{status}""#)), "{json}");
        c.send(format!("{}\r\n", b64(b"\x01")).as_bytes());
        return c.read_reply(&tag).tagged;
    }
    assert!(line.starts_with(&format!("{tag} ")), "{line}");
    line[tag.len() + 1..].to_string()
}

fn start_server(signer_pem: &str, extra: &[(&str, &str)]) -> (TestServer, tempfile::TempDir) {
    start_server_with_users(signer_pem, extra, &[])
}

/// As [`start_server`], with more passwd lines.
fn start_server_with_users(
    signer_pem: &str,
    extra: &[(&str, &str)],
    more_users: &[&str],
) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hs256.key");
    std::fs::write(&secret, [SECRET, b"\n"].concat()).unwrap();
    let pem = dir.path().join("es256.pem");
    std::fs::write(&pem, signer_pem).unwrap();
    let mut users = String::new();
    for name in ["alice@example.com", "bob@example.com"] {
        users.push_str(&crate::common::passwd_line(dir.path(), name, "pw"));
    }
    let mut b = TestServer::builder()
        .opt("auth_mechanisms", "plain login oauthbearer xoauth2")
        .opt("oauth2_hmac_key_file", &secret.display().to_string())
        .opt("oauth2_public_key_file", &pem.display().to_string())
        .opt("oauth2_issuer", "https://idp.test")
        .opt("oauth2_audience", "imap");
    for line in users.lines().chain(more_users.iter().copied()) {
        b = b.passwd_line(line);
    }
    for (k, v) in extra {
        b = b.opt(k, v);
    }
    (b.start(), dir)
}

#[test]
fn oauthbearer_and_xoauth2_log_in_with_valid_tokens_only() {
    let (signer, pem) = es256_key();
    let (server, _dir) = start_server(&pem, &[]);
    let alice = "alice@example.com";
    let good = hs256_token(SECRET, &claims(alice, "imap", unix_now() + 600));

    let mut c = server.connect();
    let caps = c.capabilities();
    for cap in ["AUTH=OAUTHBEARER", "AUTH=XOAUTH2"] {
        assert!(caps.iter().any(|x| x == cap), "{caps:?}");
    }
    let refused = [
        // Expired (beyond the minute of leeway).
        oauthbearer_msg(
            alice,
            &hs256_token(SECRET, &claims(alice, "imap", unix_now() - 600)),
        ),
        // For another audience.
        oauthbearer_msg(
            alice,
            &hs256_token(SECRET, &claims(alice, "webmail", unix_now() + 600)),
        ),
        // Signed with another secret.
        oauthbearer_msg(
            alice,
            &hs256_token(b"guessed", &claims(alice, "imap", unix_now() + 600)),
        ),
        // A good token for alice, presented as bob.
        oauthbearer_msg("bob@example.com", &good),
        // A token for a user the userdb does not know.
        oauthbearer_msg(
            "",
            &hs256_token(SECRET, &claims("eve@example.com", "imap", unix_now() + 600)),
        ),
    ];
    for msg in &refused {
        let r = authenticate(&mut c, "OAUTHBEARER", msg, "invalid_token");
        assert!(r.starts_with("NO [AUTHENTICATIONFAILED]"), "{r}");
    }
    // Garbage is refused at once, and the session goes on.
    let r = authenticate(&mut c, "OAUTHBEARER", b"n,,nonsense", "");
    assert!(r.starts_with("NO [AUTHENTICATIONFAILED]"), "{r}");
    let r = authenticate(&mut c, "OAUTHBEARER", &oauthbearer_msg(alice, &good), "");
    assert!(r.starts_with("OK"), "{r}");
    c.ok("SELECT INBOX");

    // Without the authzid, the token alone names the user.
    let mut c = server.connect();
    let r = authenticate(&mut c, "OAUTHBEARER", &oauthbearer_msg("", &good), "");
    assert!(r.starts_with("OK"), "{r}");

    // XOAUTH2 with an ES256 token; a forged ES256 token gets Google's 401.
    let mut c = server.connect();
    let es = es256(&signer, &claims(alice, "imap", unix_now() + 600));
    let (head, _) = es.rsplit_once('.').unwrap();
    let (other, _) = es256_key();
    let forged = format!(
        "{head}.{}",
        es256(&other, &claims(alice, "imap", unix_now() + 600))
            .rsplit('.')
            .next()
            .unwrap()
    );
    let r = authenticate(&mut c, "XOAUTH2", &xoauth2_msg(alice, &forged), "401");
    assert!(r.starts_with("NO [AUTHENTICATIONFAILED]"), "{r}");
    let r = authenticate(
        &mut c,
        "XOAUTH2",
        &xoauth2_msg("bob@example.com", &es),
        "401",
    );
    assert!(r.starts_with("NO [AUTHENTICATIONFAILED]"), "{r}");
    let r = authenticate(&mut c, "XOAUTH2", &xoauth2_msg(alice, &es), "");
    assert!(r.starts_with("OK"), "{r}");

    // Log lines may follow the replies by a moment.
    for line in [
        "user=alice@example.com mech=OAUTHBEARER tls=no login",
        "user=alice@example.com mech=XOAUTH2 tls=no login",
        "mech=OAUTHBEARER authentication failed: token refused: Expired",
    ] {
        server.wait_for_log(line);
    }
    let log = server.log();
    assert!(
        log.contains("user=alice@example.com mech=OAUTHBEARER tls=no login"),
        "{log}"
    );
    assert!(
        log.contains("user=alice@example.com mech=XOAUTH2 tls=no login"),
        "{log}"
    );
    assert!(
        log.contains("mech=OAUTHBEARER authentication failed: token refused: Expired"),
        "{log}"
    );
    let sig = good.rsplit('.').next().unwrap();
    assert!(
        !log.contains(sig) && !log.contains(&es[es.len() - 20..]),
        "{log}"
    );
}

#[test]
fn bearer_mechanisms_follow_configuration_and_plaintext_auth() {
    let plain = TestServer::start();
    let mut c = plain.connect();
    let caps = c.capabilities();
    assert!(!caps.iter().any(|x| x.contains("OAUTH")), "{caps:?}");
    let r = c.cmd("AUTHENTICATE OAUTHBEARER");
    assert!(r.tagged.starts_with("NO"), "{r:?}");

    // A token is as good as a password: not without TLS when passwords
    // are not either.
    let (_, pem) = es256_key();
    let (server, _dir) = start_server(&pem, &[("plaintext_auth", "never")]);
    let mut c = server.connect();
    let caps = c.capabilities();
    assert!(!caps.iter().any(|x| x.contains("OAUTH")), "{caps:?}");
    let good = hs256_token(
        SECRET,
        &claims("alice@example.com", "imap", unix_now() + 600),
    );
    let r = authenticate(
        &mut c,
        "XOAUTH2",
        &xoauth2_msg("alice@example.com", &good),
        "",
    );
    assert!(r.starts_with("NO [PRIVACYREQUIRED]"), "{r}");
    let mut c = server.connect_tls();
    assert!(c.capabilities().iter().any(|x| x == "AUTH=OAUTHBEARER"));
    let r = authenticate(
        &mut c,
        "XOAUTH2",
        &xoauth2_msg("alice@example.com", &good),
        "",
    );
    assert!(r.starts_with("OK"), "{r}");

    // The sub claim can name the user instead of email.
    let (server, _dir) = start_server(&pem, &[("oauth2_username_attribute", "sub")]);
    let mut c = server.connect();
    let r = authenticate(
        &mut c,
        "OAUTHBEARER",
        &oauthbearer_msg("", &good),
        "invalid_token",
    );
    // sub is "s-alice@example.com", whom the userdb does not know.
    assert!(r.starts_with("NO [AUTHENTICATIONFAILED]"), "{r}");
    assert!(
        server.log().contains(
            "user=s-alice@example.com mech=OAUTHBEARER authentication failed: refused by userdb"
        ),
        "{}",
        server.log()
    );
}

/// RS256 with an RSA key made and used by openssl(1), as an identity
/// provider's would be.
#[test]
fn rs256_tokens_from_an_rsa_key() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("rsa.pem");
    let openssl = |args: &[&str], input: &[u8]| -> Vec<u8> {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl {args:?}");
        out.stdout
    };
    let key_s = key.display().to_string();
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &key_s,
        ],
        b"",
    );
    let public = String::from_utf8(openssl(&["pkey", "-in", &key_s, "-pubout"], b"")).unwrap();
    let (server, _dir) = start_server(&public, &[]);
    let rs256 = |claims: &str| {
        let signed = format!(
            "{}.{}",
            b64u(br#"{"alg":"RS256","typ":"JWT"}"#),
            b64u(claims.as_bytes())
        );
        let sig = openssl(&["dgst", "-sha256", "-sign", &key_s], signed.as_bytes());
        format!("{signed}.{}", b64u(&sig))
    };
    let alice = "alice@example.com";
    let mut c = server.connect();
    let stale = rs256(&claims(alice, "imap", unix_now() - 600));
    let r = authenticate(
        &mut c,
        "OAUTHBEARER",
        &oauthbearer_msg(alice, &stale),
        "invalid_token",
    );
    assert!(r.starts_with("NO [AUTHENTICATIONFAILED]"), "{r}");
    let good = rs256(&claims(alice, "imap", unix_now() + 600));
    let r = authenticate(&mut c, "OAUTHBEARER", &oauthbearer_msg(alice, &good), "");
    assert!(r.starts_with("OK"), "{r}");
}

/// The key files are read at start and on SIGHUP: a rotated secret is
/// taken on at the reload, and a file that went missing keeps the keys
/// read before.
#[test]
fn token_keys_are_rotated_by_sighup() {
    let (_, pem) = es256_key();
    let (server, dir) = start_server(&pem, &[]);
    let alice = "alice@example.com";
    let signed_with = |secret: &[u8]| {
        oauthbearer_msg(
            alice,
            &hs256_token(secret, &claims(alice, "imap", unix_now() + 600)),
        )
    };
    let rotated: &[u8] = b"the next secret";
    std::fs::write(dir.path().join("hs256.key"), rotated).unwrap();
    let mut c = server.connect();
    let r = authenticate(&mut c, "OAUTHBEARER", &signed_with(SECRET), "");
    assert!(r.starts_with("OK"), "the keys read at start serve: {r}");
    server.signal("HUP");
    server.wait_for_log("SIGHUP: token keys reloaded");
    let mut c = server.connect();
    let r = authenticate(&mut c, "OAUTHBEARER", &signed_with(SECRET), "invalid_token");
    assert!(r.starts_with("NO"), "{r}");
    let mut c = server.connect();
    let r = authenticate(&mut c, "OAUTHBEARER", &signed_with(rotated), "");
    assert!(r.starts_with("OK"), "{r}");
    std::fs::remove_file(dir.path().join("hs256.key")).unwrap();
    server.signal("HUP");
    server.wait_for_log("keeping the previous token keys");
    let mut c = server.connect();
    let r = authenticate(&mut c, "OAUTHBEARER", &signed_with(rotated), "");
    assert!(r.starts_with("OK"), "{r}");
}

/// A token is as good as a password, and no better: the passwd file's
/// `nologin` (Dovecot's way to suspend an account) keeps its user out,
/// with the reason as an ALERT, as for a password login.
#[test]
fn a_suspended_user_is_refused_even_with_a_good_token() {
    let (_, pem) = es256_key();
    let carol = "carol@example.com";
    let line = format!("{carol}:{{PLAIN}}pw::::/proc/roost-no-such-home::nologin reason=Unpaid");
    let (server, _dir) = start_server_with_users(&pem, &[], &[&line]);
    let token = hs256_token(SECRET, &claims(carol, "imap", unix_now() + 600));
    let mut c = server.connect();
    let r = authenticate(&mut c, "OAUTHBEARER", &oauthbearer_msg(carol, &token), "");
    assert_eq!(r, "NO [ALERT] Unpaid");
    let r = authenticate(&mut c, "XOAUTH2", &xoauth2_msg(carol, &token), "");
    assert_eq!(r, "NO [ALERT] Unpaid");
    assert!(c.cmd("SELECT INBOX").tagged.starts_with("BAD"));
    server.wait_for_log(&format!(
        "user={carol} mech=XOAUTH2 authentication failed: account suspended (nologin)"
    ));
}
