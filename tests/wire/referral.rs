//! LOGIN-REFERRALS (RFC 2221): a passwd-file user with the extra fields
//! `nologin` and `host=` (and `port=`) is sent to that server once the
//! password is right, in the form Dovecot 2.3.19 answers. With `nologin`
//! alone the account is suspended, and refused as Dovecot refuses it.

use crate::common::TestServer;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

#[test]
fn login_of_a_user_living_elsewhere_answers_a_referral() {
    let server = TestServer::builder()
        .passwd_line("bob:{PLAIN}secret::::/proc/roost-no-such-home::nologin=y host=mail2.example.org")
        .passwd_line(
            "carol:{PLAIN}secret::::/proc/roost-no-such-home::userdb_quota_rule=*:storage=1G nologin host=mail3.example.org port=1143",
        )
        .start();
    let mut c = server.connect();
    assert!(c.capabilities().contains(&"LOGIN-REFERRALS".to_string()));
    let r = c.cmd("LOGIN bob secret");
    assert_eq!(
        r.tagged,
        "NO [REFERRAL imap://bob;AUTH=PLAIN@mail2.example.org/] Try this server instead."
    );
    let r = c.cmd("LOGIN carol secret");
    assert_eq!(
        r.tagged,
        "NO [REFERRAL imap://carol;AUTH=PLAIN@mail3.example.org:1143/] Try this server instead."
    );
    // A wrong password learns nothing of where the user lives. (The homes
    // are where nothing can be made, should a LOGIN ever get that far.)
    let r = c.cmd("LOGIN bob wrong");
    assert_eq!(r.tagged, "NO [AUTHENTICATIONFAILED] Authentication failed.");
    // The session goes on, and nobody was logged in.
    assert!(c.cmd("SELECT INBOX").tagged.starts_with("BAD"));
    c.ok("LOGIN alice secret");
    assert!(c.capabilities().contains(&"LOGIN-REFERRALS".to_string()));
}

/// AUTHENTICATE is referred the same way once the mechanism accepted the
/// user, the URL naming the mechanism used (RFC 2221 §4.2).
#[test]
fn authenticate_of_a_user_living_elsewhere_answers_a_referral() {
    let server = TestServer::builder()
        .passwd_line(
            "bob:{PLAIN}secret::::/proc/roost-no-such-home::nologin=y host=mail2.example.org",
        )
        .start();
    let mut c = server.connect();
    let ir = crate::common::b64(b"\0bob\0secret");
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {ir}"));
    assert_eq!(
        r.tagged,
        "NO [REFERRAL imap://bob;AUTH=PLAIN@mail2.example.org/] Try this server instead."
    );
    let ir = crate::common::b64(b"\0bob\0wrong");
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {ir}"));
    assert_eq!(r.tagged, "NO [AUTHENTICATIONFAILED] Authentication failed.");
    assert!(c.cmd("SELECT INBOX").tagged.starts_with("BAD"));
    let ir = crate::common::b64(b"\0alice\0secret");
    c.ok(&format!("AUTHENTICATE PLAIN {ir}"));
}

/// The referral comes from the passdb's entry, before the userdb is
/// asked: a user who lives on another server need have no account here
/// (with `userdb = passwd`, none in the system's user list).
#[test]
fn a_referred_user_needs_no_account_in_the_userdb() {
    let server = TestServer::builder()
        .opt("userdb", "passwd")
        .passwd_line("roost-nowhere-user:{PLAIN}secret::::::nologin host=mail2.example.org")
        .start();
    let mut c = server.connect();
    let r = c.cmd("LOGIN roost-nowhere-user secret");
    assert_eq!(
        r.tagged,
        "NO [REFERRAL imap://roost-nowhere-user;AUTH=PLAIN@mail2.example.org/] Try this server instead."
    );
    let ir = crate::common::b64(b"\0roost-nowhere-user\0secret");
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {ir}"));
    assert_eq!(
        r.tagged,
        "NO [REFERRAL imap://roost-nowhere-user;AUTH=PLAIN@mail2.example.org/] Try this server instead."
    );
    let r = c.cmd("LOGIN roost-nowhere-user wrong");
    assert_eq!(r.tagged, "NO [AUTHENTICATIONFAILED] Authentication failed.");
}

/// `nologin` without a host is Dovecot's documented way to suspend an
/// account: the right password is refused, the admin's `reason=` shown as
/// an ALERT (as Dovecot's imap-login sends it), otherwise the usual
/// failure; every mechanism alike, and the failure counts as one.
#[test]
fn a_suspended_account_is_refused_by_every_mechanism() {
    let server = TestServer::builder()
        .opt("auth_mechanisms", "plain login cram-md5")
        .passwd_line("dave:{PLAIN}secret::::/proc/roost-no-such-home::nologin reason=Unpaid")
        .passwd_line("erin:{PLAIN}secret::::/proc/roost-no-such-home::nologin=y")
        // A host no client could be sent to leaves the account suspended.
        .passwd_line("fred:{PLAIN}secret::::/proc/roost-no-such-home::nologin host=a]b")
        .start();
    let mut c = server.connect();
    assert_eq!(c.cmd("LOGIN dave secret").tagged, "NO [ALERT] Unpaid");
    assert_eq!(
        c.cmd("LOGIN erin secret").tagged,
        "NO [AUTHENTICATIONFAILED] Authentication failed."
    );
    assert_eq!(
        c.cmd("LOGIN fred secret").tagged,
        "NO [AUTHENTICATIONFAILED] Authentication failed."
    );
    let ir = crate::common::b64(b"\0dave\0secret");
    assert_eq!(
        c.cmd(&format!("AUTHENTICATE PLAIN {ir}")).tagged,
        "NO [ALERT] Unpaid"
    );
    // CRAM-MD5 checks the same entry.
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE CRAM-MD5\r\n").as_bytes());
    let line = c.line();
    let challenge = STANDARD
        .decode(line.strip_prefix("+ ").expect("a challenge"))
        .unwrap();
    let answer = crate::common::cram_md5_answer("dave", "secret", &challenge);
    c.send(format!("{}\r\n", crate::common::b64(answer.as_bytes())).as_bytes());
    assert_eq!(c.read_reply(&tag).tagged, "NO [ALERT] Unpaid");
    // Nobody was logged in, and the session goes on.
    assert!(c.cmd("SELECT INBOX").tagged.starts_with("BAD"));
    c.ok("LOGIN alice secret");
    let log =
        server.wait_for_log("user=dave mech=CRAM-MD5 authentication failed: account suspended");
    assert!(
        log.contains("user=erin mech=PLAIN authentication failed: account suspended (nologin)"),
        "{log}"
    );
}

/// Dovecot's `allow_nets` extra field: the right password from outside
/// the user's networks fails like a wrong one (AUTHENTICATIONFAILED,
/// throttled, logged with the address); from inside, the login goes on.
#[test]
fn allow_nets_admits_logins_only_from_its_networks() {
    let homes = tempfile::tempdir().unwrap();
    let line = |name: &str, nets: &str| {
        format!(
            "{name}:{{PLAIN}}secret::::{}::allow_nets={nets}",
            homes.path().join(name).display()
        )
    };
    let server = TestServer::builder()
        .passwd_line(&line("gina", "10.0.0.0/8"))
        .passwd_line(&line("hank", "10.0.0.0/8,127.0.0.0/8"))
        .start();
    let mut c = server.connect();
    assert_eq!(
        c.cmd("LOGIN gina secret").tagged,
        "NO [AUTHENTICATIONFAILED] Authentication failed."
    );
    let ir = crate::common::b64(b"\0gina\0secret");
    assert_eq!(
        c.cmd(&format!("AUTHENTICATE PLAIN {ir}")).tagged,
        "NO [AUTHENTICATIONFAILED] Authentication failed."
    );
    assert!(c.cmd("SELECT INBOX").tagged.starts_with("BAD"));
    c.ok("LOGIN hank secret");
    c.ok("SELECT INBOX");
    server.wait_for_log(
        "user=gina mech=PLAIN authentication failed: allow_nets check failed: 127.0.0.1 is not in the allowed networks",
    );
}
