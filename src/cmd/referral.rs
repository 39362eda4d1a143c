//! LOGIN-REFERRALS (RFC 2221): a passwd-file user whose extra fields say
//! `nologin` and `host=...` (and maybe `port=...`) lives on another server.
//! Once the password is right, and before the userdb is asked (the user
//! need have no account here), LOGIN answers
//! `NO [REFERRAL imap://user;AUTH=PLAIN@host[:port]/] Try this server instead.`
//! as Dovecot 2.3 does (it names PLAIN for LOGIN too), and nothing of the
//! user's mail is touched here. A wrong password fails as any other.
//! AUTHENTICATE answers the same once the mechanism has accepted the user,
//! naming that mechanism in the URL.

use crate::error::Error;
use crate::proto::encode::Code;
use crate::session::Session;

/// The referral answer for a user whose password a passdb accepted, if
/// its entry sends them elsewhere; `mech` is named in the URL.
pub(super) fn of_entry(s: &Session, entry: &crate::auth::UserEntry, mech: &str) -> Option<Error> {
    let target = target_of(&entry.extra)?;
    let session = format!("conn={} peer={}", s.id, s.peer);
    Some(refer(&session, &entry.name, &target, mech))
}

/// For a user a token or certificate vouched for (no passdb entry came
/// with them): the referral answer, if the passwd file sends them elsewhere.
pub(super) fn after_authenticate(s: &Session, user: &str, mech: &str) -> Option<Error> {
    let target = s
        .ctx
        .passwd
        .lookup(user)
        .and_then(|e| target_of(&e.extra))?;
    let session = format!("conn={} peer={}", s.id, s.peer);
    Some(refer(&session, user, &target, mech))
}

fn refer(session: &str, user: &str, target: &Target, mech: &str) -> Error {
    log::info!("{session} user={user} referred to {}", target.host);
    Error::no(
        Some(Code::Referral(target.url(user, mech))),
        "Try this server instead.",
    )
}

/// Where a user is sent.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: Option<u16>,
}

impl Target {
    /// RFC 5092 `imap://enc-user;AUTH=mech@host[:port]/`.
    fn url(&self, user: &str, mech: &str) -> String {
        let mut url = String::from("imap://");
        for b in user.bytes() {
            // RFC 5092 achar: unreserved, sub-delims but ';', '&', '='.
            if b.is_ascii_alphanumeric() || b"-._~!$'()*+,&=".contains(&b) {
                url.push(b as char);
            } else {
                url.push_str(&format!("%{b:02X}"));
            }
        }
        url.push_str(";AUTH=");
        url.push_str(mech);
        url.push('@');
        url.push_str(&self.host);
        if let Some(port) = self.port.filter(|&p| p != 143) {
            url.push_str(&format!(":{port}"));
        }
        url.push('/');
        url
    }
}

/// The referral target of Dovecot-style extra fields (space-separated
/// `key=value`): only with `nologin` and a host that is a plain host name
/// or IP address; a bad `port=` is ignored.
fn target_of(extra: &str) -> Option<Target> {
    let mut nologin = false;
    let mut host = None;
    let mut port = None;
    for field in extra.split_ascii_whitespace() {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "nologin" => nologin = true,
            "host" => host = Some(value),
            "port" => port = value.parse().ok(),
            _ => {}
        }
    }
    let host = host.filter(|h| is_host(h))?;
    nologin.then(|| Target {
        host: host.to_string(),
        port,
    })
}

/// A DNS name, an IPv4 address or a bracketed IPv6 one: nothing that
/// could end the response code or the URL early.
fn is_host(h: &str) -> bool {
    if let Some(v6) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if h.parse::<std::net::Ipv6Addr>().is_ok() {
        return false;
    }
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_give_a_target_only_with_nologin_and_a_sane_host() {
        let t = target_of("nologin=y host=mail2.example.org port=1143").unwrap();
        assert_eq!(
            t.url("bob", "PLAIN"),
            "imap://bob;AUTH=PLAIN@mail2.example.org:1143/"
        );
        let t = target_of("userdb_quota_rule=*:storage=1G nologin host=10.0.0.2").unwrap();
        assert_eq!(
            t.url("a@b;c", "SCRAM-SHA-256"),
            "imap://a%40b%3Bc;AUTH=SCRAM-SHA-256@10.0.0.2/"
        );
        assert_eq!(target_of("host=mail2.example.org"), None);
        assert_eq!(target_of("nologin=y"), None);
        assert_eq!(target_of("nologin=y host=evil]x"), None);
        assert_eq!(target_of("nologin=y host=::1"), None);
        assert!(target_of("nologin=y host=[::1] port=143").is_some());
    }
}
