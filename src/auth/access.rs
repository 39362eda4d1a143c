//! Whether a user whose password (or token, or certificate) checked out
//! may log in here: Dovecot's passdb extra fields `allow_nets=`,
//! `nologin`, `host=`, `port=` and `reason=`, in a passwd-file entry's
//! last field.
//!
//! - `allow_nets=` (networks separated by commas, `local` for a client
//!   whose address is not known) refuses a login from anywhere else, as a
//!   wrong password would be refused; it is checked first, as Dovecot
//!   checks it while the passdb answers.
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
use crate::cidr::Cidr;
use std::net::IpAddr;

/// What a user's passdb entry says about logging in here.
#[derive(Debug, PartialEq, Eq)]
pub enum Access {
    Here,
    /// Lives on another server.
    Elsewhere(Target),
    /// Suspended; the admin's reason, if one was given.
    Suspended(Option<String>),
    /// Not from one of the user's `allow_nets`; why, for the log.
    OutsideNets(String),
}

impl Access {
    /// Why the login is refused, for the log; None when it may go on
    /// (here or, for the front ends that can, to a referral).
    pub fn refusal(&self) -> Option<String> {
        match self {
            Access::Here | Access::Elsewhere(_) => None,
            Access::Suspended(_) => Some(super::SUSPENDED.to_string()),
            Access::OutsideNets(why) => Some(why.clone()),
        }
    }
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

/// Dovecot-style extra fields (space-separated `key[=value]`) for a
/// client at `ip` (None or unspecified: not known). A `host=` that is not
/// a plain host name or IP address is ignored (it could end a response
/// code early), which leaves the user suspended; a bad `port=` is
/// ignored.
pub fn of_extra(extra: &str, ip: Option<IpAddr>) -> Access {
    if let Some(nets) = extra
        .split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("allow_nets="))
    {
        if let Err(why) = allowed_from(nets, ip.filter(|ip| !ip.is_unspecified())) {
            return Access::OutsideNets(why);
        }
    }
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

/// Whether `ip` is in `nets` (Dovecot's `allow_nets` value); why not,
/// for the log. A network that cannot be read matches nothing, so a typo
/// keeps the user out rather than letting everyone in.
fn allowed_from(nets: &str, ip: Option<IpAddr>) -> Result<(), String> {
    let mut bad = None;
    for net in nets.split(',').filter(|n| !n.is_empty()) {
        match (net, ip) {
            ("local", None) => return Ok(()),
            ("local", Some(_)) => {}
            (net, ip) => match Cidr::parse(net) {
                Ok(cidr) if ip.is_some_and(|ip| cidr.contains(ip)) => return Ok(()),
                Ok(_) => {}
                Err(_) => bad = Some(net),
            },
        }
    }
    let invalid = bad
        .map(|n| {
            format!(
                " (allow_nets has an invalid network {:?})",
                super::printable(n, 60)
            )
        })
        .unwrap_or_default();
    Err(match ip {
        Some(ip) => format!("allow_nets check failed: {ip} is not in the allowed networks{invalid}"),
        None => format!("allow_nets check failed: the client's address is not known and 'local' is not allowed{invalid}"),
    })
}

/// For a user a token or certificate vouched for (no passdb entry came
/// with them), logging in from `ip`: what the passwd file says of that
/// name, if it knows it.
pub fn of_name(passwd: &PasswdFile, user: &str, ip: Option<IpAddr>) -> Access {
    passwd
        .lookup(user)
        .map_or(Access::Here, |e| of_extra(&e.extra, ip))
}

/// For a passdb's entry and a client at `ip`.
pub fn of_entry(entry: &UserEntry, ip: Option<IpAddr>) -> Access {
    of_extra(&entry.extra, ip)
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

    fn of(extra: &str) -> Access {
        of_extra(extra, Some("192.0.2.7".parse().unwrap()))
    }

    fn target(extra: &str) -> Target {
        match of(extra) {
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
        assert_eq!(of("host=mail2.example.org"), Access::Here);
        assert_eq!(of("userdb_quota_rule=*:storage=1G"), Access::Here);
        assert_eq!(of(""), Access::Here);
        assert_eq!(of("nologin=y"), Access::Suspended(None));
        assert_eq!(
            of("nologin reason=Unpaid"),
            Access::Suspended(Some("Unpaid".into()))
        );
        assert_eq!(
            of("nologin=y host=evil]x reason=[ALERT]\"x\\"),
            Access::Suspended(Some("ALERTx".into()))
        );
        assert_eq!(of("nologin=y host=::1 reason="), Access::Suspended(None));
    }

    #[test]
    fn allow_nets_admits_only_its_networks_and_comes_first() {
        let at = |extra: &str, ip: Option<&str>| of_extra(extra, ip.map(|i| i.parse().unwrap()));
        let nets = "allow_nets=10.0.0.0/8,192.0.2.7,::1";
        assert_eq!(at(nets, Some("10.1.2.3")), Access::Here);
        assert_eq!(at(nets, Some("192.0.2.7")), Access::Here);
        assert_eq!(at(nets, Some("::ffff:10.0.0.1")), Access::Here);
        assert_eq!(at(nets, Some("::1")), Access::Here);
        assert!(matches!(
            at(nets, Some("192.0.2.8")),
            Access::OutsideNets(_)
        ));
        // An unknown address passes only with `local`.
        assert!(matches!(at(nets, None), Access::OutsideNets(_)));
        assert!(matches!(at(nets, Some("0.0.0.0")), Access::OutsideNets(_)));
        assert_eq!(at("allow_nets=local,10.0.0.0/8", None), Access::Here);
        assert!(matches!(
            at("allow_nets=local", Some("10.0.0.1")),
            Access::OutsideNets(_)
        ));
        // A typo keeps the user out and is named in the log line.
        match at("allow_nets=10.0.0.0/33", Some("10.0.0.1")) {
            Access::OutsideNets(why) => assert!(why.contains("10.0.0.0/33"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Checked before nologin: no referral from outside the networks.
        assert!(matches!(
            at(
                "allow_nets=10.0.0.0/8 nologin host=mail2.example.org",
                Some("192.0.2.1")
            ),
            Access::OutsideNets(_)
        ));
    }
}
