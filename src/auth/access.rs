//! Whether a user whose password (or token, or certificate) checked out
//! may log in here: Dovecot's passdb extra fields `nologin`, `host=`,
//! `port=` and `reason=`, in a passwd-file entry's last field.
//!
//! - `nologin` with a `host=` sends the user to that server: IMAP answers
//!   with a LOGIN-REFERRALS code (RFC 2221), before the userdb is asked,
//!   since the user may have no account here.
//! - `nologin` alone is Dovecot's documented way to suspend an account:
//!   every login is refused, with `reason=` (one word, as passwd-file
//!   fields have no spaces) as the text a client may show.
//!
//! Dovecot's own auth socket answers OK to a suspended user and leaves
//! `nologin` to its client; Postfix ignores the field, so such a user can
//! still submit mail. Roost refuses them there too: suspended means
//! suspended. A referred user still passes the auth socket, as with
//! Dovecot, since submission may well be served here.

use super::passwd::{PasswdFile, UserEntry};

/// What a user's passdb entry says about logging in here.
#[derive(Debug, PartialEq, Eq)]
pub enum Access {
    Here,
    /// Lives on another server.
    Elsewhere(Target),
    /// Suspended; the admin's reason, if one was given.
    Suspended(Option<String>),
}

/// The server a user is sent to.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: Option<u16>,
}

impl Target {
    /// `scheme://enc-user;AUTH=mech@host[:port]/` (RFC 5092 for IMAP,
    /// RFC 5804 §3 for ManageSieve); the port only when it is not the
    /// scheme's own.
    pub fn url(&self, scheme: &str, default_port: u16, user: &str, mech: &str) -> String {
        let mut url = format!("{scheme}://");
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
        if let Some(port) = self.port.filter(|&p| p != default_port) {
            url.push_str(&format!(":{port}"));
        }
        url.push('/');
        url
    }
}

/// Dovecot-style extra fields (space-separated `key[=value]`). A `host=`
/// that is not a plain host name or IP address is ignored (it could end a
/// response code early), which leaves the user suspended; a bad `port=`
/// is ignored.
pub fn of_extra(extra: &str) -> Access {
    let mut nologin = false;
    let mut host = None;
    let mut port = None;
    let mut reason = None;
    for field in extra.split_ascii_whitespace() {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "nologin" => nologin = true,
            "host" => host = Some(value),
            "port" => port = value.parse().ok(),
            "reason" => reason = Some(value),
            _ => {}
        }
    }
    if !nologin {
        return Access::Here;
    }
    match host.filter(|h| is_host(h)) {
        Some(host) => Access::Elsewhere(Target {
            host: host.to_string(),
            port,
        }),
        None => Access::Suspended(reason.map(printable_reason).filter(|r| !r.is_empty())),
    }
}

/// For a user a token or certificate vouched for (no passdb entry came
/// with them): what the passwd file says of that name, if it knows it.
pub fn of_name(passwd: &PasswdFile, user: &str) -> Access {
    passwd
        .lookup(user)
        .map_or(Access::Here, |e| of_extra(&e.extra))
}

/// For a passdb's entry.
pub fn of_entry(entry: &UserEntry) -> Access {
    of_extra(&entry.extra)
}

/// The reason as safe text for a response line: printable ASCII but
/// quotes, backslashes and brackets (which could end a quoted string or
/// start a response code), at most 200 characters.
fn printable_reason(r: &str) -> String {
    r.chars()
        .filter(|c| c.is_ascii_graphic() && !"\"\\[]".contains(*c))
        .take(200)
        .collect()
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

    fn target(extra: &str) -> Target {
        match of_extra(extra) {
            Access::Elsewhere(t) => t,
            other => panic!("{extra}: {other:?}"),
        }
    }

    #[test]
    fn nologin_with_a_sane_host_refers() {
        let t = target("nologin=y host=mail2.example.org port=1143");
        assert_eq!(
            t.url("imap", 143, "bob", "PLAIN"),
            "imap://bob;AUTH=PLAIN@mail2.example.org:1143/"
        );
        let t = target("userdb_quota_rule=*:storage=1G nologin host=10.0.0.2");
        assert_eq!(
            t.url("imap", 143, "a@b;c", "SCRAM-SHA-256"),
            "imap://a%40b%3Bc;AUTH=SCRAM-SHA-256@10.0.0.2/"
        );
        let t = target("nologin=y host=[::1] port=4190");
        assert_eq!(
            t.url("sieve", 4190, "bob", "PLAIN"),
            "sieve://bob;AUTH=PLAIN@[::1]/"
        );
    }

    #[test]
    fn nologin_alone_or_with_a_bad_host_suspends() {
        assert_eq!(of_extra("host=mail2.example.org"), Access::Here);
        assert_eq!(of_extra("userdb_quota_rule=*:storage=1G"), Access::Here);
        assert_eq!(of_extra(""), Access::Here);
        assert_eq!(of_extra("nologin=y"), Access::Suspended(None));
        assert_eq!(
            of_extra("nologin reason=Unpaid"),
            Access::Suspended(Some("Unpaid".into()))
        );
        assert_eq!(
            of_extra("nologin=y host=evil]x reason=[ALERT]\"x\\"),
            Access::Suspended(Some("ALERTx".into()))
        );
        assert_eq!(
            of_extra("nologin=y host=::1 reason="),
            Access::Suspended(None)
        );
    }
}
