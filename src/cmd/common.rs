//! What several handlers share, so no handler imports another: mailbox
//! names from and to the wire (`mailbox_name` is the single place that
//! turns a client's bytes into a canonical `MailboxName`: modified UTF-7
//! or UTF-8, namespace and validity rules, so every command sees a name
//! the same way), LIST patterns, the `* STATUS` response (STATUS and
//! LIST-STATUS), and the user's special uses.

use crate::error::Error;
use crate::proto::encode::Code;
use crate::proto::types::StatusItem;
use crate::proto::utf7;
use crate::session::Session;
use crate::store::names::{MailboxName, NameError};
use crate::store::special_use::Uses;
use crate::store::StoreError;

/// A message file's read: None when the file is not there (another
/// session renamed or expunged it), an error naming it otherwise.
pub(super) fn file_read<T>(
    path: &std::path::Path,
    r: std::io::Result<T>,
) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if crate::store::nofollow::is_gone(&e) => Ok(None),
        Err(e) => Err(Error::Server(format!("reading {}: {e}", path.display()))),
    }
}

/// Decodes a client's mailbox name into canonical form.
pub(super) fn mailbox_name(s: &Session, raw: &[u8]) -> Result<MailboxName, Error> {
    if s.enabled.utf8_names() {
        return utf8_mailbox_name(s, raw);
    }
    let text = std::str::from_utf8(raw).map_err(|_| {
        Error::no(
            Some(Code::Cannot),
            "Mailbox name is not valid modified UTF-7.",
        )
    })?;
    let decoded = utf7::decode(text).map_err(|_| {
        Error::no(
            Some(Code::Cannot),
            "Mailbox name is not valid modified UTF-7.",
        )
    })?;
    s.store()?.namespace().parse(&decoded).map_err(|e| match e {
        NameError::OutsideNamespace(_) => Error::no(Some(Code::NonExistent), e.to_string()),
        NameError::Invalid(why) => Error::no(Some(Code::Cannot), why),
    })
}

/// A mailbox name from a client that enabled UTF8=ACCEPT: plain UTF-8
/// (RFC 6855 §3), which must be valid (else BAD) and Net-Unicode without
/// control characters or line/paragraph separators (else NO).
pub(super) fn utf8_mailbox_name(s: &Session, raw: &[u8]) -> Result<MailboxName, Error> {
    let text =
        std::str::from_utf8(raw).map_err(|_| Error::bad("Mailbox name is not valid UTF-8."))?;
    if text
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(Error::no(
            Some(Code::Cannot),
            "Mailbox name contains a control character.",
        ));
    }
    s.store()?.namespace().parse(text).map_err(|e| match e {
        NameError::OutsideNamespace(_) => Error::no(Some(Code::NonExistent), e.to_string()),
        NameError::Invalid(why) => Error::no(Some(Code::Cannot), why),
    })
}

/// `max_mailbox_name_length` and `max_mailbox_depth` for a name being
/// made (CREATE, RENAME's target); existing folders stay reachable.
pub(super) fn within_limits(s: &Session, raw: &[u8], name: &MailboxName) -> Result<(), Error> {
    let cfg = &s.ctx.config;
    if raw.len() > cfg.max_mailbox_name_length {
        return Err(Error::no(
            Some(Code::Limit),
            format!(
                "Mailbox name too long (max {} bytes).",
                cfg.max_mailbox_name_length
            ),
        ));
    }
    if name.levels().len() > cfg.max_mailbox_depth {
        return Err(Error::no(
            Some(Code::Limit),
            format!(
                "Mailbox hierarchy too deep (max {} levels).",
                cfg.max_mailbox_depth
            ),
        ));
    }
    Ok(())
}

/// Mailbox-name text for the wire: UTF-8 once the client has enabled
/// UTF8=ACCEPT (RFC 6855 §3), modified UTF-7 otherwise.
pub(super) fn wire_text(s: &Session, text: &str) -> Vec<u8> {
    if s.enabled.utf8_names() {
        text.as_bytes().to_vec()
    } else {
        utf7::encode(text).into_bytes()
    }
}

pub(super) fn not_found(raw: &[u8]) -> Error {
    Error::no(
        Some(Code::NonExistent),
        format!("Mailbox doesn't exist: {}", String::from_utf8_lossy(raw)),
    )
}

/// "inbox" in any case at the start of a pattern means INBOX.
pub(super) fn normalize_inbox(pattern: &[u8], sep: u8) -> Vec<u8> {
    let mut p = pattern.to_vec();
    if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"INBOX") && (p.len() == 5 || p[5] == sep) {
        p[..5].copy_from_slice(b"INBOX");
    }
    p
}

/// RFC 3501 §6.3.8 wildcards: `*` matches anything, `%` anything but the
/// hierarchy separator. Dynamic programming, so no pattern is exponential.
pub(super) fn wildcard_match(pattern: &[u8], name: &[u8], sep: u8) -> bool {
    // reach[j]: pattern prefix so far matches name[..j].
    let mut reach = vec![false; name.len() + 1];
    reach[0] = true;
    for &pc in pattern {
        let mut next = vec![false; name.len() + 1];
        match pc {
            b'*' | b'%' => {
                let mut carry = false;
                for j in 0..=name.len() {
                    // A run of `%` stops at a separator.
                    if pc == b'%' && j > 0 && name[j - 1] == sep {
                        carry = false;
                    }
                    carry |= reach[j];
                    next[j] = carry;
                }
            }
            c => {
                for j in 0..name.len() {
                    if reach[j] && name[j] == c {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[name.len()]
}

/// Writes `* STATUS name (...)` for the items asked; STATUS and LIST's
/// STATUS return option (RFC 5819) both come here.
pub(super) fn status_response(
    s: &mut Session,
    name: &MailboxName,
    items: &[StatusItem],
) -> Result<(), StoreError> {
    let want_size = items.contains(&StatusItem::Size);
    if items.contains(&StatusItem::HighestModseq) {
        // RFC 7162 §3.1: a CONDSTORE enabling command.
        s.enable_condstore();
    }
    let store = s.store().map_err(|_| StoreError::NotFound)?;
    let counts = store.status(name, want_size)?;
    let wire = wire_text(s, &store.namespace().to_wire(name));
    s.out.untagged().raw("STATUS ").astring(&wire).raw(" (");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            s.out.sp();
        }
        let (label, value) = match item {
            StatusItem::Messages => ("MESSAGES", u64::from(counts.messages)),
            StatusItem::Recent => ("RECENT", u64::from(counts.recent)),
            StatusItem::UidNext => ("UIDNEXT", u64::from(counts.uidnext)),
            StatusItem::UidValidity => ("UIDVALIDITY", u64::from(counts.uidvalidity)),
            StatusItem::Unseen => ("UNSEEN", u64::from(counts.unseen)),
            StatusItem::Deleted => ("DELETED", u64::from(counts.deleted)),
            StatusItem::Size => ("SIZE", counts.size.unwrap_or(0)),
            StatusItem::HighestModseq => ("HIGHESTMODSEQ", counts.highest_modseq),
            StatusItem::AppendLimit => ("APPENDLIMIT", s.ctx.config.max_append_size as u64),
            StatusItem::MailboxId => {
                s.out.raw("MAILBOXID (").raw(&counts.mailbox_id).raw(")");
                continue;
            }
        };
        s.out.raw(label).sp().number(value);
    }
    s.out.raw(")").crlf();
    Ok(())
}

/// The user's special uses (setting and per-user file).
pub(super) fn special_uses(s: &Session) -> Result<Uses, Error> {
    let store = s.store()?;
    Uses::load(store.root(), store.namespace(), &s.ctx.config.special_use)
        .map_err(|e| Error::Server(format!("reading special uses: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let rows: &[(&str, &str, bool)] = &[
            ("*", "INBOX", true),
            ("*", "a.b.c", true),
            ("%", "a", true),
            ("%", "a.b", false),
            ("a.%", "a.b", true),
            ("a.%", "a.b.c", false),
            ("a.*", "a.b.c", true),
            ("a*", "a", true),
            ("a%c", "abc", true),
            ("a%c", "a.c", false),
            ("%.%", "a.b", true),
            ("INBOX", "INBOX", true),
            ("INBOX", "INBOXX", false),
            ("", "", true),
            ("comp.mail.*", "comp.mail.misc", true),
            (
                "*a*a*a*a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
        ];
        for (p, n, want) in rows {
            assert_eq!(
                wildcard_match(p.as_bytes(), n.as_bytes(), b'.'),
                *want,
                "{p} vs {n}"
            );
        }
        assert!(wildcard_match(b"a/%", b"a/b", b'/'));
        assert!(wildcard_match(b"%", b"a.b", b'/'));
        assert_eq!(normalize_inbox(b"inbox.%", b'.'), b"INBOX.%".to_vec());
        assert_eq!(normalize_inbox(b"inboxes", b'.'), b"inboxes".to_vec());
    }
}
