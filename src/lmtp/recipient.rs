//! Recipient addresses → users of the passwd file, for LMTP and
//! `roost deliver`: `user`, `user@domain`, and either with a `+detail`.

use crate::auth::passwd::{PasswdFile, UserEntry};
use crate::config::{Config, Userdb};
use crate::store::deliver;
use std::path::PathBuf;

/// A recipient that names a user, and where its mail goes.
#[derive(Debug)]
pub struct Recipient {
    /// The address as given (for `Delivered-To:`).
    pub address: String,
    pub user: UserEntry,
    /// The user's Maildir root.
    pub mail_root: PathBuf,
    /// The part after the recipient delimiter, if any.
    pub detail: Option<String>,
    /// With `userdb = passwd`: the identity its mail is written with.
    pub creds: Option<crate::identity::Credentials>,
}

/// Why an address names nobody we can deliver to.
#[derive(Debug, PartialEq, Eq)]
pub enum Unknown {
    /// No such user (a permanent failure: 550 5.1.1 / exit 67).
    NoUser,
    /// The user exists but their mail location cannot be worked out (a
    /// configuration problem the admin can fix: temporary); why.
    NoMailRoot(String),
}

/// Finds the user an address names. Tried in order: the address as is,
/// the address without its detail, then (for `local@domain`) the local
/// part with and without detail, so a passwd file naming `user` and one
/// naming `user@domain` both work, as Dovecot's does.
pub fn resolve(config: &Config, passwd: &PasswdFile, address: &str) -> Result<Recipient, Unknown> {
    let (local, domain) = match address.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (address, None),
    };
    let (base, detail) = split_detail(local, &config.recipient_delimiter);
    let with_domain = |l: &str| match domain {
        Some(d) => format!("{l}@{d}"),
        None => l.to_string(),
    };
    let mut candidates = vec![(address.to_string(), None)];
    if detail.is_some() {
        candidates.push((with_domain(base), detail.clone()));
    }
    if domain.is_some() {
        candidates.push((local.to_string(), None));
        if detail.is_some() {
            candidates.push((base.to_string(), detail.clone()));
        }
    }
    let lookup = |name: &str| match config.userdb {
        Userdb::PasswdFile => passwd.lookup(name).map(|u| (u, None)),
        Userdb::Passwd => crate::users::lookup(config, name)
            .ok()
            .map(|u| (u.entry, Some(u.creds))),
    };
    let user = candidates
        .into_iter()
        .find_map(|(name, detail)| lookup(&name).map(|u| (u, detail)));
    let Some(((user, creds), detail)) = user else {
        return Err(Unknown::NoUser);
    };
    let mail_root = config
        .mail_root(&user.name, user.home.as_deref(), &user.extra)
        .map_err(Unknown::NoMailRoot)?;
    Ok(Recipient {
        address: address.to_string(),
        user,
        mail_root,
        detail,
        creds,
    })
}

/// Runs `f`, which touches `rcpt`'s files, with `rcpt`'s identity when it
/// has one and this process is root (see `identity::run_as`); otherwise
/// as this process (`roost deliver` run by Postfix as the user already).
pub fn as_recipient<T: Send>(rcpt: &Recipient, f: impl FnOnce() -> T + Send) -> Result<T, String> {
    match &rcpt.creds {
        Some(creds) if crate::identity::thread_uids()[1] == 0 => crate::identity::run_as(creds, f),
        _ => Ok(f()),
    }
}

/// Splits `local` at the first of the delimiter characters.
fn split_detail<'a>(local: &'a str, delimiters: &str) -> (&'a str, Option<String>) {
    match local.find(|c| delimiters.contains(c)) {
        Some(i) if i > 0 => {
            let delim_len = local[i..].chars().next().map_or(1, char::len_utf8);
            (&local[..i], Some(local[i + delim_len..].to_string()))
        }
        _ => (local, None),
    }
}

/// The folder a message for `rcpt` goes to: `explicit` (roost deliver -m),
/// else the detail when `lmtp_save_to_detail_mailbox` is on, provided the
/// folder exists; else INBOX (the Maildir root).
pub fn target_dir(config: &Config, rcpt: &Recipient, explicit: Option<&str>) -> PathBuf {
    let wanted = explicit.or(if config.lmtp_save_to_detail_mailbox {
        rcpt.detail.as_deref().filter(|d| !d.is_empty())
    } else {
        None
    });
    wanted
        .and_then(|name| deliver::existing_folder(&rcpt.mail_root, &config.namespace, name))
        .unwrap_or_else(|| rcpt.mail_root.clone())
}

/// Where an LMTP message came from, for its `Received:` line.
pub struct Trace<'a> {
    /// The LHLO name.
    pub lhlo: &'a str,
    /// The client: `[IP]`, or `local` for a Unix socket.
    pub peer: &'a str,
    /// This host's name.
    pub host: &'a str,
    /// The session's id (in the log lines too).
    pub id: &'a str,
}

/// The header lines LMTP adds on top, as Dovecot's LMTP does:
/// `Return-Path:`, then with a single recipient `Delivered-To:`, then a
/// `Received:` line naming that recipient. With several recipients
/// neither names one, so every copy has the same bytes and can be one
/// file hard-linked into each Maildir (Dovecot does the same; a copy
/// naming its recipient would also tell each one who else got it). The
/// sender and names were checked to hold no line breaks.
pub fn added_headers(sender: &str, only_rcpt: Option<&Recipient>, trace: &Trace<'_>) -> Vec<u8> {
    let now = crate::datetime::Utc::now();
    let date = format!(
        "{} {} {} {:02}:{:02}:{:02} +0000",
        now.day,
        crate::datetime::MONTHS[now.month as usize - 1],
        now.year,
        now.hour,
        now.minute,
        now.second
    );
    let mut out = format!("Return-Path: <{sender}>\n");
    if let Some(rcpt) = only_rcpt {
        out.push_str(&format!("Delivered-To: {}\n", rcpt.address));
    }
    out.push_str(&format!(
        "Received: from {lhlo} ({peer})\n\tby {host} with LMTP\n\tid {id}\n\t(envelope-from <{sender}>)",
        lhlo = trace.lhlo,
        peer = trace.peer,
        host = trace.host,
        id = trace.id,
    ));
    match only_rcpt {
        Some(rcpt) => out.push_str(&format!("\n\tfor <{}>; {date}\n", rcpt.address)),
        None => out.push_str(&format!("; {date}\n")),
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_headers_look_like_dovecots() {
        let rcpt = Recipient {
            address: "alice+x@example.org".into(),
            user: UserEntry {
                name: "alice".into(),
                password: crate::auth::Secret::new(String::new()),
                uid: None,
                gid: None,
                home: None,
                extra: String::new(),
            },
            mail_root: PathBuf::from("/m"),
            detail: Some("x".into()),
            creds: None,
        };
        let trace = Trace {
            lhlo: "mx.example.org",
            peer: "[127.0.0.1]",
            host: "imap.example.org",
            id: "lmtp-1-2",
        };
        let h = String::from_utf8(added_headers("bob@example.org", Some(&rcpt), &trace)).unwrap();
        let lines: Vec<&str> = h.lines().collect();
        assert_eq!(lines[0], "Return-Path: <bob@example.org>");
        assert_eq!(lines[1], "Delivered-To: alice+x@example.org");
        assert_eq!(lines[2], "Received: from mx.example.org ([127.0.0.1])");
        assert_eq!(lines[3], "\tby imap.example.org with LMTP");
        assert_eq!(lines[4], "\tid lmtp-1-2");
        assert_eq!(lines[5], "\t(envelope-from <bob@example.org>)");
        assert!(lines[6].starts_with("\tfor <alice+x@example.org>; "), "{h}");
        assert!(lines[6].ends_with(" +0000"), "{h}");
        assert_eq!(lines.len(), 7);
        // Several recipients: nothing names one.
        let h = String::from_utf8(added_headers("bob@example.org", None, &trace)).unwrap();
        let lines: Vec<&str> = h.lines().collect();
        assert_eq!(lines[1], "Received: from mx.example.org ([127.0.0.1])");
        assert!(
            lines[4].starts_with("\t(envelope-from <bob@example.org>); "),
            "{h}"
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn details_split_at_any_delimiter() {
        assert_eq!(split_detail("a+b", "+"), ("a", Some("b".into())));
        assert_eq!(split_detail("a-b+c", "+-"), ("a", Some("b+c".into())));
        assert_eq!(split_detail("+b", "+"), ("+b", None));
        assert_eq!(split_detail("ab", ""), ("ab", None));
    }
}
