//! NAMESPACE (RFC 2342) and ENABLE (RFC 5161), beside Dovecot's answers.

use crate::common::dovecot::{dovecot, hand_over};
use crate::common::TestServer;

#[test]
fn namespace_is_the_configured_personal_namespace_as_dovecot_says_it() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"NAMESPACE".to_string()));
    let r = c.ok("NAMESPACE");
    assert_eq!(r.untagged, vec!["* NAMESPACE ((\"\" \".\")) NIL NIL"]);

    let home = server.root().join("dovecot-home");
    std::fs::create_dir_all(home.join("Maildir")).unwrap();
    hand_over(&home);
    let dv = dovecot(&home, &["NAMESPACE".to_string()]);
    let dv: Vec<&String> = dv.iter().filter(|l| l.starts_with("* NAMESPACE")).collect();
    assert_eq!(dv, vec![&r.untagged[0]], "Dovecot's default namespace");

    let other = TestServer::builder()
        .opt("namespace_prefix", "INBOX/")
        .opt("namespace_separator", "/")
        .start();
    let mut c = other.login();
    let r = c.ok("namespace");
    assert_eq!(r.untagged, vec!["* NAMESPACE ((\"INBOX/\" \"/\")) NIL NIL"]);
}

#[test]
fn namespace_needs_login() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert!(c.cmd("NAMESPACE").tagged.starts_with("BAD"));
}

#[test]
fn enable_lists_what_it_newly_enabled_and_ignores_the_rest() {
    let server = TestServer::start();
    let mut c = server.connect();
    // RFC 5161 §3.1: authenticated state only.
    assert!(c.cmd("ENABLE CONDSTORE").tagged.starts_with("BAD"));
    c.ok("LOGIN alice secret");
    assert!(c.capabilities().contains(&"ENABLE".to_string()));
    let before = c.capabilities();
    let r = c.ok("ENABLE CONDSTORE X-UNKNOWN");
    assert_eq!(r.untagged, vec!["* ENABLED CONDSTORE"]);
    // Already on: the ENABLED response is empty but still sent.
    let r = c.ok("ENABLE condstore");
    assert_eq!(r.untagged, vec!["* ENABLED"]);
    let r = c.ok("ENABLE QRESYNC CONDSTORE");
    assert_eq!(r.untagged, vec!["* ENABLED QRESYNC"]);
    // §3.1: ENABLE never changes the capability list.
    assert_eq!(c.capabilities(), before);
    assert!(c.cmd("ENABLE").tagged.starts_with("BAD"));
    // Not once a mailbox is selected (Dovecot accepts it there).
    c.ok("SELECT INBOX");
    let r = c.cmd("ENABLE QRESYNC");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    c.ok("UNSELECT");
    let r = c.ok("ENABLE QRESYNC");
    assert_eq!(r.untagged, vec!["* ENABLED"]);
}

#[test]
fn qresync_alone_enables_both() {
    let server = TestServer::start();
    let mut c = server.login();
    let r = c.ok("ENABLE QRESYNC");
    assert_eq!(r.untagged, vec!["* ENABLED QRESYNC"]);
    let r = c.ok("ENABLE CONDSTORE");
    assert_eq!(r.untagged, vec!["* ENABLED"], "implied by QRESYNC");
}

/// Every capability Debian's Dovecot offers after login is either offered
/// by Roost too or listed here as not implemented (with the reason), so a
/// feature dropped by mistake, or one Dovecot gains, shows up.
#[test]
fn capabilities_cover_dovecots_for_the_features_roost_has() {
    const NOT_IMPLEMENTED: &[&str] = &[
        // Extended sorting results (RFC 5267).
        "ESORT",
        // URLAUTH/CATENATE (RFC 4467, 4469, 5550): submission-side features.
        "URL-PARTIAL",
        "CATENATE",
        "URLAUTH",
        "URLAUTH=BINARY",
        // Collation, search contexts, NOTIFY, previews, SAVEDATE.
        "I18NLEVEL=1",
        "CONTEXT=SEARCH",
        "NOTIFY",
        "SNIPPET=FUZZY",
        "PREVIEW=FUZZY",
        "PREVIEW",
        "SAVEDATE",
        // Login referrals (RFC 2221): Roost serves its own users only.
        "LOGIN-REFERRALS",
        "METADATA",
        "METADATA-SERVER",
        "QUOTA",
        "QUOTA=RES-STORAGE",
        "QUOTA=RES-MESSAGE",
        "OBJECTID",
        "REPLACE",
        "INPROGRESS",
        "UIDONLY",
        "LIST-MYRIGHTS",
        "ACL",
        "RIGHTS=texk",
        "IMAP4rev2",
    ];
    let server = TestServer::start();
    let mut c = server.login();
    let roost = c.capabilities();
    let home = server.root().join("dovecot-home");
    std::fs::create_dir_all(home.join("Maildir")).unwrap();
    hand_over(&home);
    let dv = dovecot(&home, &["CAPABILITY".to_string()]);
    let line = dv
        .iter()
        .find(|l| l.starts_with("* CAPABILITY "))
        .expect("Dovecot's CAPABILITY");
    assert!(
        line.contains(" ESEARCH ") && line.contains(" MOVE "),
        "{line}"
    );
    let missing: Vec<&str> = line
        .split_whitespace()
        .skip(2)
        .filter(|cap| !roost.iter().any(|r| r == cap))
        .filter(|cap| !cap.starts_with("AUTH=") && !NOT_IMPLEMENTED.contains(cap))
        .collect();
    assert!(
        missing.is_empty(),
        "Dovecot offers {missing:?}; Roost: {roost:?}"
    );
    for cap in [
        "CONDSTORE",
        "QRESYNC",
        "COMPRESS=DEFLATE",
        "SPECIAL-USE",
        "UTF8=ACCEPT",
    ] {
        assert!(roost.iter().any(|r| r == cap), "{cap} in {roost:?}");
    }
}
