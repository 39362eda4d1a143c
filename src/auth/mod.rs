//! Authentication: who the users are and how their passwords are checked.
//!
//! This module owns the Dovecot-compatible passwd file ([`passwd`]), the
//! password schemes stored in it ([`scheme`]), the delay imposed after failed
//! logins ([`throttle`]) and the decoding of SASL client messages ([`sasl`]).
//! It knows nothing about IMAP itself; the protocol layer calls in here.

pub mod access;
pub mod cache;
pub mod cram_md5;
pub mod der;
pub mod json;
pub mod jwt;
pub mod legacy;
pub mod oauth;
pub mod pam;
pub mod passwd;
pub mod sasl;
pub mod scheme;
pub mod scram;
pub mod socket;
pub mod throttle;

pub use passwd::{AuthOutcome, PasswdError, PasswdFile, UserEntry};
pub use sasl::{PlainCredentials, SaslError};
pub use scheme::{
    hash_password, hash_password_with_cost, verify_password, HashError, Scheme, Verify,
};
pub use throttle::FailureThrottle;

use crate::config::{Config, Passdb};
use crate::users::Account;
use std::fmt;
use std::net::IpAddr;

/// Makes client-supplied text safe for a log line: control characters
/// become `?`, and at most `max` characters are kept.
pub fn printable(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Why [`check_password`] refused: the text an admin gave a suspended
/// account (`nologin reason=…`), if any; a wrong password has none.
#[derive(Debug, Default)]
pub struct Denied {
    pub reason: Option<String>,
}

/// Checks a password the way the login paths other than IMAP's do
/// (Postfix's SASL socket, ManageSieve, nginx's auth_http): each `passdb`
/// in turn until one accepts, then whether the account is suspended
/// ([`access`]), then the `userdb` (which may still refuse: unknown there,
/// or a system account). A user referred elsewhere passes: their mail is
/// not here, but submission may be. The throttle records the outcome, a
/// failure is logged (`session` is the line's `conn=… peer=…` part,
/// `detail` its `mech=…` part) and waits out its delay. Never logs the
/// password.
#[allow(clippy::too_many_arguments)]
pub fn check_password(
    config: &Config,
    passwd: &PasswdFile,
    throttle: &FailureThrottle,
    ip: IpAddr,
    user: &str,
    password: &[u8],
    session: &str,
    detail: &str,
) -> Result<Account, Denied> {
    let (entry, from) = check_passdbs_logged(
        config, passwd, throttle, ip, user, password, session, detail,
    )
    .ok_or_else(Denied::default)?;
    let access = access::of_entry(&entry, Some(ip));
    if let Some(why) = access.refusal() {
        fail_and_wait(throttle, ip, user, session, detail, Some(&why));
        let reason = match access {
            access::Access::Suspended(reason) => reason,
            _ => None,
        };
        return Err(Denied { reason });
    }
    account_of(
        config, passwd, throttle, ip, user, entry, from, session, detail,
    )
    .ok_or_else(Denied::default)
}

/// The log's word for a login refused by `nologin`.
pub const SUSPENDED: &str = "account suspended (nologin)";

/// The first half of [`check_password`]: the passdbs alone. The entry
/// that accepted the password and where it came from; a failure is
/// recorded, logged and waited out. A caller that needs the entry before
/// the userdb (a referral: the user may have no account here) goes on
/// with [`account_of`].
#[allow(clippy::too_many_arguments)]
pub fn check_passdbs_logged(
    config: &Config,
    passwd: &PasswdFile,
    throttle: &FailureThrottle,
    ip: IpAddr,
    user: &str,
    password: &[u8],
    session: &str,
    detail: &str,
) -> Option<(UserEntry, Passdb)> {
    let verified = check_passdbs(config, passwd, ip, user, password, session);
    if verified.is_none() {
        fail_and_wait(throttle, ip, user, session, detail, None);
    }
    verified
}

/// The second half of [`check_password`]: the userdb's account for an
/// entry a passdb accepted; success or refusal recorded as a login's.
#[allow(clippy::too_many_arguments)]
pub fn account_of(
    config: &Config,
    passwd: &PasswdFile,
    throttle: &FailureThrottle,
    ip: IpAddr,
    user: &str,
    entry: UserEntry,
    from: Passdb,
    session: &str,
    detail: &str,
) -> Option<Account> {
    match crate::users::resolve(config, passwd, entry, from) {
        Ok(account) => {
            throttle.record_user_success(ip, user);
            Some(account)
        }
        Err(why) => {
            log::warn!(
                "{session} user={} {detail} refused by userdb: {why}",
                printable(user, 200)
            );
            fail_and_wait(throttle, ip, user, session, detail, None);
            None
        }
    }
}

/// A failed challenge-response or bearer-token login (those that do not
/// go through [`check_password`]): recorded by the throttle, logged as
/// `{session} user=… {detail} authentication failed: {why}`, and its delay
/// waited out. `why` must never hold the client's secret.
pub fn record_failure(
    throttle: &FailureThrottle,
    ip: IpAddr,
    user: &str,
    session: &str,
    detail: &str,
    why: &str,
) {
    fail_and_wait(throttle, ip, user, session, detail, Some(why));
}

/// Records a failed login with the throttle, logs it (with the reason, if
/// one is given) and waits out the delay the throttle sets.
fn fail_and_wait(
    throttle: &FailureThrottle,
    ip: IpAddr,
    user: &str,
    session: &str,
    detail: &str,
    why: Option<&str>,
) {
    let delay = throttle.record_user_failure(ip, user);
    let why = why.map(|w| format!(": {w}")).unwrap_or_default();
    log::warn!(
        "{session} user={} {detail} authentication failed{why} (delay {} ms)",
        printable(user, 200),
        delay.as_millis()
    );
    std::thread::sleep(delay);
}

/// The account of a user whom a mechanism without a password named (a
/// bearer token's claim, a client certificate): the userdb must know
/// them, as for a PAM login; the passwd file's password plays no part,
/// but its `nologin` and `allow_nets` do, for a client at `ip`. Why
/// not, for the log.
pub fn account_without_password(
    config: &Config,
    passwd: &PasswdFile,
    user: &str,
    ip: IpAddr,
) -> Result<Account, String> {
    if let Some(why) = access::of_name(passwd, user, Some(ip)).refusal() {
        return Err(why);
    }
    crate::users::resolve(config, passwd, entry_named(user), Passdb::Pam)
        .map_err(|why| format!("refused by userdb: {why}"))
}

/// A user known by name only (PAM, a token, a certificate): the userdb
/// fills in the rest.
fn entry_named(user: &str) -> UserEntry {
    UserEntry {
        name: user.to_string(),
        password: Secret::default(),
        uid: None,
        gid: None,
        home: None,
        extra: String::new(),
    }
}

/// The passdbs in their configured order; the first that accepts wins.
fn check_passdbs(
    config: &Config,
    passwd: &PasswdFile,
    ip: IpAddr,
    user: &str,
    password: &[u8],
    session: &str,
) -> Option<(UserEntry, Passdb)> {
    for db in &config.passdb {
        match db {
            Passdb::PasswdFile => match passwd.authenticate(user, password) {
                AuthOutcome::Success(entry) => return Some((entry, Passdb::PasswdFile)),
                AuthOutcome::Unsupported { user, scheme } => log::error!(
                    "{session} user={user} password scheme {scheme} is not supported; \
                     re-hash it with `roost hash`"
                ),
                AuthOutcome::Failure => {}
            },
            Passdb::Pam => {
                match pam::check(&config.pam_service, user, password, ip, config.pam_timeout) {
                    pam::PamOutcome::Success => return Some((entry_named(user), Passdb::Pam)),
                    pam::PamOutcome::Failure => {}
                    pam::PamOutcome::Unavailable(why) => log::error!(
                        "{session} user={} PAM service {} unavailable: {why}",
                        printable(user, 200),
                        config.pam_service
                    ),
                }
            }
        }
    }
    None
}

/// A password or other secret: Debug prints `<redacted>`, never the value.
///
/// There is deliberately no `Display`, `PartialEq` or `Deref`: reaching the
/// value takes an explicit [`Secret::expose`] call, which is easy to audit,
/// and equality on secrets must be constant-time (see [`scheme`]).
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret value itself. Call only where the value is really needed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the buffer so a freed password is less likely
        // to linger in memory (core dumps, reused allocations). black_box keeps
        // the optimiser from discarding writes to memory about to be freed.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
        assert!(!s.is_empty());
        assert!(Secret::default().is_empty());
    }
}
