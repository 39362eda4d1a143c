//! AUTHENTICATE SCRAM-SHA-256, SCRAM-SHA-1 and their -PLUS forms (RFC
//! 5802, 7677, channel bindings RFC 9266 and 5929) with a client written
//! from the RFCs: users stored as `doveadm pw -s SCRAM-SHA-…` writes, or in
//! plaintext; the server's own signature is checked too.

use crate::common::{b64, Client, TestServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The test client's hash: SHA-256 or SHA-1.
#[derive(Clone, Copy, PartialEq)]
enum H {
    Sha256,
    Sha1,
}

fn hmac_with(h: H, key: &[u8], data: &[u8]) -> Vec<u8> {
    match h {
        H::Sha256 => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        H::Sha1 => {
            let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
    }
}

/// Runs a whole SCRAM-SHA-256 exchange; the tagged reply. `binding`: the
/// channel-binding name and data (for -PLUS).
fn scram(c: &mut Client, user: &str, password: &str, binding: Option<(&str, Vec<u8>)>) -> String {
    scram_with(c, H::Sha256, user, password, binding)
}

/// [`scram`] with either hash.
fn scram_with(
    c: &mut Client,
    h: H,
    user: &str,
    password: &str,
    binding: Option<(&str, Vec<u8>)>,
) -> String {
    let base = if h == H::Sha1 {
        "SCRAM-SHA-1"
    } else {
        "SCRAM-SHA-256"
    };
    let mech = if binding.is_some() {
        format!("{base}-PLUS")
    } else {
        base.to_string()
    };
    let hmac = |key: &[u8], data: &[u8]| hmac_with(h, key, data);
    let gs2 = match &binding {
        Some((name, _)) => format!("p={name},,"),
        None => "n,,".to_string(),
    };
    let bare = format!("n={user},r=fyko+d2lbbFgONRv9qkxdawL");
    let tag = c.tag();
    c.send(
        format!(
            "{tag} AUTHENTICATE {mech} {}\r\n",
            b64(format!("{gs2}{bare}").as_bytes())
        )
        .as_bytes(),
    );
    let line = c.line();
    let Some(challenge) = line.strip_prefix("+ ") else {
        return line;
    };
    let server_first = String::from_utf8(STANDARD.decode(challenge).unwrap()).unwrap();
    let mut fields = server_first.split(',');
    let nonce = fields
        .next()
        .unwrap()
        .strip_prefix("r=")
        .unwrap()
        .to_string();
    let salt = STANDARD
        .decode(fields.next().unwrap().strip_prefix("s=").unwrap())
        .unwrap();
    let iter: u32 = fields
        .next()
        .unwrap()
        .strip_prefix("i=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        nonce.starts_with("fyko+d2lbbFgONRv9qkxdawL") && nonce.len() > 30,
        "{nonce}"
    );
    let salted = if h == H::Sha1 {
        let mut salted = vec![0u8; 20];
        pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), &salt, iter, &mut salted);
        salted
    } else {
        let mut salted = vec![0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iter, &mut salted);
        salted
    };
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = if h == H::Sha1 {
        Sha1::digest(&client_key).to_vec()
    } else {
        Sha256::digest(&client_key).to_vec()
    };
    let mut cbind = gs2.as_bytes().to_vec();
    if let Some((_, data)) = &binding {
        cbind.extend_from_slice(data);
    }
    let without_proof = format!("c={},r={nonce}", STANDARD.encode(&cbind));
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    c.send(
        format!(
            "{}\r\n",
            b64(format!("{without_proof},p={}", STANDARD.encode(proof)).as_bytes())
        )
        .as_bytes(),
    );
    let line = c.line();
    let Some(v) = line.strip_prefix("+ ") else {
        return line;
    };
    // The server proves it knows the credentials too.
    let server_key = hmac(&salted, b"Server Key");
    let expect = format!(
        "v={}",
        STANDARD.encode(hmac(&server_key, auth_message.as_bytes()))
    );
    assert_eq!(
        String::from_utf8(STANDARD.decode(v).unwrap()).unwrap(),
        expect
    );
    c.send(b"\r\n");
    loop {
        let l = c.line();
        if l.starts_with(&tag) {
            return l;
        }
    }
}

fn stored_scram(password: &str) -> String {
    stored_as("SCRAM-SHA-256", password)
}

/// `password` stored in `scheme`: Dovecot's own output when doveadm is
/// there, else Roost's.
fn stored_as(scheme: &str, password: &str) -> String {
    let out = std::process::Command::new("/usr/bin/doveadm")
        .args(["pw", "-s", scheme, "-p", password])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap().trim().to_string(),
        _ => {
            let (ok, out, err) = crate::common::run_tool(
                env!("CARGO_BIN_EXE_roost"),
                &["hash", "--scheme", scheme],
                format!("{password}\n").as_bytes(),
            );
            assert!(ok, "{err}");
            out.trim().to_string()
        }
    }
}

fn server() -> (TestServer, tempfile::TempDir) {
    let homes = tempfile::tempdir().unwrap();
    let h = homes.path().display().to_string();
    let server = TestServer::builder()
        .passwd_line(&format!("carol:{}::::{h}/carol::", stored_scram("pencil")))
        .passwd_line(&format!("dave:{{PLAIN}}plainpass::::{h}/dave::"))
        .opt("auth_mechanisms", "plain login scram-sha-256")
        .start();
    (server, homes)
}

#[test]
fn scram_logs_in_stored_and_plaintext_users_and_refuses_wrong_ones() {
    let (server, _homes) = server();
    let mut c = server.connect();
    let caps = c.capabilities();
    assert!(caps.iter().any(|x| x == "AUTH=SCRAM-SHA-256"), "{caps:?}");
    assert!(
        !caps.iter().any(|x| x == "AUTH=SCRAM-SHA-256-PLUS"),
        "-PLUS needs TLS: {caps:?}"
    );
    assert!(scram(&mut c, "carol", "wrong", None).contains("NO [AUTHENTICATIONFAILED]"));
    assert!(scram(&mut c, "nobody-here", "pencil", None).contains("NO [AUTHENTICATIONFAILED]"));
    let ok = scram(&mut c, "carol", "pencil", None);
    assert!(ok.contains("OK"), "{ok}");
    c.ok("SELECT INBOX");

    let mut c = server.connect();
    let ok = scram(&mut c, "dave", "plainpass", None);
    assert!(ok.contains("OK"), "{ok}");
    // The stored SCRAM form also serves plain LOGIN.
    let mut c = server.connect();
    c.ok("LOGIN carol pencil");
    let log = server.log();
    assert!(
        log.contains("user=carol mech=SCRAM-SHA-256 tls=no login"),
        "{log}"
    );
    assert!(!log.contains("pencil"));
}

#[test]
fn scram_is_offered_only_when_configured() {
    // Clients pick the strongest mechanism offered; a bcrypt user cannot
    // do SCRAM, so it is off unless the admin turns it on.
    let server = TestServer::start();
    let mut c = server.connect();
    assert!(!c.capabilities().iter().any(|x| x.starts_with("AUTH=SCRAM")));
    let r = c.cmd("AUTHENTICATE SCRAM-SHA-256");
    assert!(r.tagged.contains("NO"), "{}", r.tagged);
}

#[test]
fn scram_plus_binds_to_the_tls_channel() {
    let (server, _homes) = server();
    let mut c = server.connect_tls();
    let caps = c.capabilities();
    assert!(
        caps.iter().any(|x| x == "AUTH=SCRAM-SHA-256-PLUS"),
        "{caps:?}"
    );
    let exporter = c.tls_exporter().unwrap();
    // Wrong binding data (a man in the middle would see another channel).
    let r = scram(
        &mut c,
        "carol",
        "pencil",
        Some(("tls-exporter", vec![0; 32])),
    );
    assert!(r.contains("NO [AUTHENTICATIONFAILED]"), "{r}");
    let r = scram(&mut c, "carol", "pencil", Some(("tls-exporter", exporter)));
    assert!(r.contains("OK"), "{r}");

    // tls-server-end-point: the SHA-256 of the server's certificate.
    let mut c = server.connect_tls();
    let pem = std::fs::read_to_string(server.root().join("cert.pem")).unwrap();
    let der = pem_first_cert(&pem);
    let r = scram(
        &mut c,
        "carol",
        "pencil",
        Some(("tls-server-end-point", Sha256::digest(der).to_vec())),
    );
    assert!(r.contains("OK"), "{r}");
}

fn pem_first_cert(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(body).unwrap()
}

/// SCRAM-SHA-1 (RFC 5802) and -PLUS, for users stored as Dovecot's
/// `{SCRAM-SHA-1}`, by `roost hash`, or in plaintext.
#[test]
fn scram_sha1_logs_in_and_refuses_wrong_password_and_binding() {
    let homes = tempfile::tempdir().unwrap();
    let h = homes.path().display().to_string();
    let (ok, ours, err) = crate::common::run_tool(
        env!("CARGO_BIN_EXE_roost"),
        &["hash", "--scheme", "SCRAM-SHA-1"],
        b"hashed\n",
    );
    assert!(ok, "{err}");
    assert!(ours.starts_with("{SCRAM-SHA-1}4096,"), "{ours}");
    let server = TestServer::builder()
        .passwd_line(&format!(
            "carol:{}::::{h}/carol::",
            stored_as("SCRAM-SHA-1", "pencil")
        ))
        .passwd_line(&format!("erin:{}::::{h}/erin::", ours.trim()))
        .passwd_line(&format!("dave:{{PLAIN}}plainpass::::{h}/dave::"))
        .passwd_line(&format!("sam:{}::::{h}/sam::", stored_scram("pencil")))
        .opt("auth_mechanisms", "plain login scram-sha-1")
        .start();
    let mut c = server.connect();
    let caps = c.capabilities();
    assert!(caps.iter().any(|x| x == "AUTH=SCRAM-SHA-1"), "{caps:?}");
    assert!(
        !caps.iter().any(|x| x.starts_with("AUTH=SCRAM-SHA-256")),
        "{caps:?}"
    );
    assert!(
        !caps.iter().any(|x| x == "AUTH=SCRAM-SHA-1-PLUS"),
        "{caps:?}"
    );
    let r = scram_with(&mut c, H::Sha1, "carol", "wrong", None);
    assert!(r.contains("NO [AUTHENTICATIONFAILED]"), "{r}");
    // SHA-256 credentials cannot serve SHA-1: refused like a wrong password.
    let r = scram_with(&mut c, H::Sha1, "sam", "pencil", None);
    assert!(r.contains("NO [AUTHENTICATIONFAILED]"), "{r}");
    let r = scram_with(&mut c, H::Sha1, "carol", "pencil", None);
    assert!(r.contains("OK"), "{r}");
    for (user, pw) in [("erin", "hashed"), ("dave", "plainpass")] {
        let mut c = server.connect();
        let r = scram_with(&mut c, H::Sha1, user, pw, None);
        assert!(r.contains("OK"), "{user}: {r}");
    }

    let mut c = server.connect_tls();
    let caps = c.capabilities();
    assert!(
        caps.iter().any(|x| x == "AUTH=SCRAM-SHA-1-PLUS"),
        "{caps:?}"
    );
    let exporter = c.tls_exporter().unwrap();
    let r = scram_with(
        &mut c,
        H::Sha1,
        "carol",
        "pencil",
        Some(("tls-exporter", vec![7; 32])),
    );
    assert!(r.contains("NO [AUTHENTICATIONFAILED]"), "{r}");
    let r = scram_with(
        &mut c,
        H::Sha1,
        "carol",
        "pencil",
        Some(("tls-exporter", exporter)),
    );
    assert!(r.contains("OK"), "{r}");
    // Log lines may follow the replies by a moment.
    for line in [
        "user=carol mech=SCRAM-SHA-1 tls=no login",
        "user=carol mech=SCRAM-SHA-1-PLUS tls=",
    ] {
        server.wait_for_log(line);
    }
    let log = server.log();
    assert!(
        log.contains("user=carol mech=SCRAM-SHA-1 tls=no login"),
        "{log}"
    );
    assert!(
        log.contains("user=carol mech=SCRAM-SHA-1-PLUS tls="),
        "{log}"
    );
    assert!(!log.contains("pencil"));
}
