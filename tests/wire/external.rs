//! AUTHENTICATE EXTERNAL (RFC 4422 Appendix A) with a TLS client
//! certificate: its common name is the user, as Dovecot's
//! `ssl_cert_username_field = commonName`; the certificate must chain to
//! `tls_client_ca`.

use crate::common::{b64, TestServer};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// A client CA and certificates it signs for common names.
struct ClientCa {
    pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl ClientCa {
    fn new() -> ClientCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "Roost Test Client CA");
        let cert = params.self_signed(&key).unwrap();
        ClientCa {
            pem: cert.pem(),
            cert,
            key,
        }
    }

    /// A client TLS configuration presenting a certificate for `cn`,
    /// trusting the test server's CA.
    fn client(&self, server: &TestServer, cn: &str) -> Arc<rustls::ClientConfig> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(server.ca.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_client_auth_cert(
                    vec![cert.der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
                )
                .unwrap(),
        )
    }
}

fn server(ca: &ClientCa, mechs: &str) -> (TestServer, tempfile::TempDir) {
    let d = tempfile::tempdir().unwrap();
    let ca_file = d.path().join("client-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let s = TestServer::builder()
        .opt("tls_client_ca", &ca_file.display().to_string())
        .opt("auth_mechanisms", mechs)
        .start();
    (s, d)
}

#[test]
fn external_logs_in_the_certificate_common_name() {
    let ca = ClientCa::new();
    let (server, _d) = server(&ca, "plain login external");
    let mut c = server.connect_tls_with(ca.client(&server, "alice"));
    assert!(c.greeting.starts_with("* OK"), "{}", c.greeting);
    let caps = c.capabilities();
    assert!(caps.iter().any(|x| x == "AUTH=EXTERNAL"), "{caps:?}");
    // Acting as someone else is refused; the session goes on.
    let r = c.cmd(&format!("AUTHENTICATE EXTERNAL {}", b64(b"bob")));
    assert!(r.tagged.starts_with("NO [AUTHENTICATIONFAILED]"), "{r:?}");
    // An empty initial response: the certificate's name.
    let r = c.cmd("AUTHENTICATE EXTERNAL =");
    assert!(r.tagged.starts_with("OK"), "{r:?}");
    c.ok("SELECT INBOX");

    // Without SASL-IR: an empty challenge, then the authorization identity.
    let mut c = server.connect_tls_with(ca.client(&server, "alice"));
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE EXTERNAL\r\n").as_bytes());
    assert_eq!(c.line(), "+ ");
    c.send(format!("{}\r\n", b64(b"alice")).as_bytes());
    let r = c.read_reply(&tag);
    assert!(r.tagged.starts_with("OK"), "{r:?}");

    // A certificate for a user the userdb does not know.
    let mut c = server.connect_tls_with(ca.client(&server, "mallory"));
    let r = c.cmd("AUTHENTICATE EXTERNAL =");
    assert!(r.tagged.starts_with("NO [AUTHENTICATIONFAILED]"), "{r:?}");

    // No certificate: not offered, and refused.
    let mut c = server.connect_tls();
    assert!(!c.capabilities().iter().any(|x| x == "AUTH=EXTERNAL"));
    let r = c.cmd("AUTHENTICATE EXTERNAL =");
    assert!(r.tagged.starts_with("NO"), "{r:?}");
    let mut c = server.connect();
    assert!(!c.capabilities().iter().any(|x| x == "AUTH=EXTERNAL"));

    // Log lines may follow the replies by a moment.
    for line in [
        "user=alice mech=EXTERNAL tls=TLS",
        "user=mallory mech=EXTERNAL authentication failed: refused by userdb",
    ] {
        server.wait_for_log(line);
    }
    let log = server.log();
    assert!(log.contains("user=alice mech=EXTERNAL tls=TLS"), "{log}");
    assert!(
        log.contains("user=mallory mech=EXTERNAL authentication failed: refused by userdb"),
        "{log}"
    );
}

#[test]
fn external_is_off_unless_configured() {
    let ca = ClientCa::new();
    // The CA is set (clients are asked for certificates), the mechanism is not.
    let (server, _d) = server(&ca, "plain login");
    let mut c = server.connect_tls_with(ca.client(&server, "alice"));
    assert!(!c.capabilities().iter().any(|x| x == "AUTH=EXTERNAL"));
    let r = c.cmd("AUTHENTICATE EXTERNAL =");
    assert!(r.tagged.starts_with("NO"), "{r:?}");
    // And external without a client CA is a configuration error.
    let (ok, _, err) = crate::common::run_tool(
        env!("CARGO_BIN_EXE_roost"),
        &[
            "check",
            "-c",
            "/dev/null",
            "-o",
            "auth_mechanisms=plain external",
        ],
        b"",
    );
    assert!(!ok && err.contains("external"), "{err}");
}
