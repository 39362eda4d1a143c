//! Authenticated-state commands on mailboxes (RFC 3501 §6.3): SELECT,
//! EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB,
//! STATUS, APPEND (with RFC 4315 APPENDUID).
//!
//! Names arrive as raw bytes; `mailbox_name` is the single place that turns
//! them into canonical `MailboxName`s (modified UTF-7 decode, namespace and
//! validity rules), so every command sees a name the same way.

use crate::error::{Error, Tagged};
use crate::proto::encode::{Code, Status};
use crate::proto::types::{AppendMessage, Flag, SelectParams, StatusItem};
use crate::proto::utf7;
use crate::selected::{write_flags_lines, Selected};
use crate::session::{Session, State};
use crate::store::maildir::flag;
use crate::store::names::{MailboxName, NameError};
use crate::store::special_use::{SpecialUse, UserUses};
use crate::store::{AppendItem, AppendSource, NewFlags, StoreError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Decodes a client's mailbox name into canonical form.
pub(super) fn mailbox_name(s: &Session, raw: &[u8]) -> Result<MailboxName, Error> {
    if s.enabled.utf8_accept {
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
fn utf8_mailbox_name(s: &Session, raw: &[u8]) -> Result<MailboxName, Error> {
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
fn within_limits(s: &Session, raw: &[u8], name: &MailboxName) -> Result<(), Error> {
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
    if s.enabled.utf8_accept {
        text.as_bytes().to_vec()
    } else {
        utf7::encode(text).into_bytes()
    }
}

fn not_found(raw: &[u8]) -> Error {
    Error::no(
        Some(Code::NonExistent),
        format!("Mailbox doesn't exist: {}", String::from_utf8_lossy(raw)),
    )
}

/// RFC 3501 §6.3.1 SELECT / §6.3.2 EXAMINE.
pub fn select(
    s: &mut Session,
    raw: &[u8],
    read_only: bool,
    params: &SelectParams,
) -> Result<Tagged, Error> {
    super::qresync::check_select(s, params)?;
    // A name that is not even well-formed is a BAD that changes nothing.
    let parsed = mailbox_name(s, raw);
    if let Err(e @ Error::Bad(..)) = parsed {
        return Err(e);
    }
    // A SELECT while selected first closes the old mailbox, without
    // expunging; if the new one fails, nothing is selected.
    let had_selected = s.selected.is_some();
    s.deselect();
    if had_selected {
        // RFC 7162 §3.2.11: tells the client the old mailbox's responses end here.
        s.out
            .untagged_status(Status::Ok, Some(&Code::Closed), "Previous mailbox closed.");
    }
    let name = parsed?;
    let store = s.store()?;
    let (mut view, info) = match Selected::open(store, name, read_only) {
        Ok(v) => v,
        Err(StoreError::NotFound) => return Err(not_found(raw)),
        Err(e) => return Err(e.into()),
    };
    write_flags_lines(&mut s.out, view.keywords(), read_only, view.keywords_full());
    s.out
        .untagged()
        .number(info.exists.into())
        .raw(" EXISTS")
        .crlf();
    s.out
        .untagged()
        .number(info.recent.into())
        .raw(" RECENT")
        .crlf();
    if let Some(n) = info.first_unseen {
        s.out
            .untagged_status(Status::Ok, Some(&Code::Unseen(n)), "First unseen.");
    }
    s.out.untagged_status(
        Status::Ok,
        Some(&Code::UidValidity(info.uidvalidity)),
        "UIDs valid",
    );
    s.out.untagged_status(
        Status::Ok,
        Some(&Code::UidNext(info.uidnext)),
        "Predicted next UID",
    );
    view.attach(s.ctx.watcher.subscribe(&view.dir()));
    s.selected = Some(view);
    s.state = State::Selected;
    super::qresync::after_select(s, params, &info);
    Ok(if read_only {
        Tagged::with_code(Code::ReadOnly, "Examine completed.")
    } else {
        Tagged::with_code(Code::ReadWrite, "Select completed.")
    })
}

/// RFC 3501 §6.3.3 CREATE. A trailing separator is allowed and ignored.
pub fn create(s: &mut Session, raw: &[u8]) -> Result<Tagged, Error> {
    create_special_use(s, raw, &[])
}

/// CREATE, with the RFC 6154 §3 USE parameter when `uses` is not empty:
/// the uses are checked first, so a refused one creates nothing.
pub fn create_special_use(s: &mut Session, raw: &[u8], uses: &[String]) -> Result<Tagged, Error> {
    let mut list = Vec::new();
    for text in uses {
        match SpecialUse::parse(text).filter(|u| u.creatable()) {
            Some(u) => list.push(u),
            None => {
                return Err(Error::no(
                    Some(Code::UseAttr),
                    format!("{text} not supported"),
                ))
            }
        }
    }
    let sep = s.store()?.namespace().separator as u8;
    let trimmed = match raw.split_last() {
        Some((&last, rest)) if last == sep && !rest.is_empty() => rest,
        _ => raw,
    };
    let name = mailbox_name(s, trimmed)?;
    within_limits(s, trimmed, &name)?;
    let store = s.store()?;
    let cfg = &s.ctx.config;
    if store.list()?.iter().filter(|e| e.selectable).count() >= cfg.max_mailboxes {
        return Err(Error::no(
            Some(Code::Limit),
            format!("Too many mailboxes (max {}).", cfg.max_mailboxes),
        ));
    }
    if !list.is_empty() && name.is_inbox() {
        return Err(Error::no(
            Some(Code::UseAttr),
            "INBOX cannot have a special use.",
        ));
    }
    store.create(&name)?;
    // A folder made now has no uses of its own yet, whatever an older
    // folder of that name had (`forget` at DELETE missed it if another
    // program deleted the directory).
    let root = store.root().to_path_buf();
    if list.is_empty() {
        if let Err(e) = UserUses::update(&root, |u| u.forget(&name)) {
            log::warn!("{}: {e}", root.display());
        }
    } else if let Err(e) = UserUses::update(&root, |u| {
        u.set(&name, list);
        true
    }) {
        // RFC 6154 §3: no folder without the use it was asked with.
        let _ = store.delete(&name);
        return Err(Error::Server(format!("writing special uses: {e}")));
    }
    Ok(Tagged::ok("Create completed."))
}

/// RFC 3501 §6.3.4 DELETE.
pub fn delete(s: &mut Session, raw: &[u8]) -> Result<Tagged, Error> {
    let name = mailbox_name(s, raw)?;
    if s.selected.as_ref().is_some_and(|sel| sel.name == name) {
        // Deleting the selected mailbox leaves nothing selected.
        s.deselect();
    }
    match s.store()?.delete(&name) {
        Ok(()) => {
            let root = s.store()?.root().to_path_buf();
            if let Err(e) = UserUses::update(&root, |u| u.forget(&name)) {
                log::warn!("{}: {e}", root.display());
            }
            Ok(Tagged::ok("Delete completed."))
        }
        Err(StoreError::NotFound) => Err(not_found(raw)),
        Err(e) => Err(e.into()),
    }
}

/// RFC 3501 §6.3.5 RENAME.
pub fn rename(s: &mut Session, from: &[u8], to: &[u8]) -> Result<Tagged, Error> {
    let old = mailbox_name(s, from)?;
    let new = mailbox_name(s, to)?;
    within_limits(s, to, &new)?;
    if s.selected
        .as_ref()
        .is_some_and(|sel| sel.name == old || sel.name.is_child_of(&old))
    {
        s.deselect();
    }
    match s.store()?.rename(&old, &new) {
        Ok(()) => {
            // RENAME INBOX leaves INBOX in place: its use stays.
            if !old.is_inbox() {
                let root = s.store()?.root().to_path_buf();
                if let Err(e) = UserUses::update(&root, |u| u.rename(&old, &new)) {
                    log::warn!("{}: {e}", root.display());
                }
            }
            Ok(Tagged::ok("Rename completed."))
        }
        Err(StoreError::NotFound) => Err(not_found(from)),
        Err(e) => Err(e.into()),
    }
}

/// RFC 3501 §6.3.6 SUBSCRIBE / §6.3.7 UNSUBSCRIBE. Subscribing to a name
/// that does not exist is allowed (RFC 3501: the server MAY refuse; Dovecot
/// does not).
pub fn subscribe(s: &mut Session, raw: &[u8], on: bool) -> Result<Tagged, Error> {
    let name = mailbox_name(s, raw)?;
    s.store()?.subscribe(&name, on)?;
    Ok(Tagged::ok(if on {
        "Subscribe completed."
    } else {
        "Unsubscribe completed."
    }))
}

/// RFC 3501 §6.3.8 LIST and §6.3.9 LSUB, with RFC 3348 CHILDREN attributes.
pub fn list(
    s: &mut Session,
    reference: &[u8],
    pattern: &[u8],
    lsub: bool,
) -> Result<Tagged, Error> {
    let store = s.store()?;
    let ns = store.namespace().clone();
    let sep = ns.separator as u8;
    let cmd = if lsub { "LSUB" } else { "LIST" };
    if pattern.is_empty() && !lsub {
        // `LIST "" ""`: the hierarchy delimiter and root (RFC 3501 §6.3.8).
        s.out.untagged().raw("LIST (\\Noselect) ");
        s.out.string(&[sep]).sp().string(b"").crlf();
        return Ok(Tagged::ok("List completed."));
    }
    let mut full = reference.to_vec();
    if !full.is_empty() && full.last() == Some(&sep) && pattern.first() == Some(&sep) {
        full.pop();
    }
    full.extend_from_slice(pattern);
    let full = normalize_inbox(&full, sep);
    let entries = store.list()?;
    let uses = super::list::special_uses(s)?;
    let wire = |name: &MailboxName| wire_text(s, &ns.to_wire(name));
    let mut lines: Vec<(Vec<u8>, String)> = Vec::new();
    if lsub {
        let subscribed = store.subscriptions()?;
        let mut shown: Vec<MailboxName> = Vec::new();
        for name in &subscribed {
            let wire = wire(name);
            if wildcard_match(&full, &wire, sep) {
                let exists = entries.iter().any(|e| &e.name == name && e.selectable);
                // Dovecot shows special uses in LSUB too. A subscription
                // that outlived its mailbox gets no attributes, as in
                // Dovecot: `\Noselect` is for unsubscribed parents below.
                let attrs: Vec<&str> = if exists {
                    uses.of(name).iter().map(|u| u.as_str()).collect()
                } else {
                    Vec::new()
                };
                lines.push((wire, attrs.join(" ")));
                shown.push(name.clone());
            }
        }
        // RFC 3501 §6.3.9: with "%", an unsubscribed parent of subscribed
        // names is returned with \Noselect.
        if !full.contains(&b'*') {
            for name in &subscribed {
                for parent in name.ancestors() {
                    let wire = wire(&parent);
                    if !shown.contains(&parent) && wildcard_match(&full, &wire, sep) {
                        lines.push((wire, "\\Noselect".to_string()));
                        shown.push(parent);
                    }
                }
            }
        }
    } else {
        for e in &entries {
            let wire = wire(&e.name);
            if !wildcard_match(&full, &wire, sep) {
                continue;
            }
            let mut attrs = Vec::new();
            if !e.selectable {
                attrs.push("\\Noselect");
            }
            attrs.push(if e.has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            // RFC 6154 §2: basic LIST may show special uses; Dovecot does.
            if e.selectable {
                attrs.extend(uses.of(&e.name).iter().map(|u| u.as_str()));
            }
            lines.push((wire, attrs.join(" ")));
        }
    }
    for (wire, attrs) in lines {
        s.out.untagged().raw(cmd).raw(" (").raw(&attrs).raw(") ");
        s.out.string(&[sep]).sp().astring(&wire).crlf();
    }
    Ok(Tagged::ok(if lsub {
        "Lsub completed."
    } else {
        "List completed."
    }))
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
pub fn wildcard_match(pattern: &[u8], name: &[u8], sep: u8) -> bool {
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

/// RFC 3501 §6.3.10 STATUS (SIZE: RFC 8438).
pub fn status(s: &mut Session, raw: &[u8], items: &[StatusItem]) -> Result<Tagged, Error> {
    let name = mailbox_name(s, raw)?;
    match status_response(s, &name, items) {
        Ok(()) => Ok(Tagged::ok("Status completed.")),
        Err(StoreError::NotFound) => Err(not_found(raw)),
        Err(e) => Err(e.into()),
    }
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
            StatusItem::Size => ("SIZE", counts.size.unwrap_or(0)),
            StatusItem::HighestModseq => ("HIGHESTMODSEQ", counts.highest_modseq),
            StatusItem::AppendLimit => ("APPENDLIMIT", s.ctx.config.max_append_size as u64),
        };
        s.out.raw(label).sp().number(value);
    }
    s.out.raw(")").crlf();
    Ok(())
}

/// RFC 3501 §6.3.11 APPEND, RFC 3502 MULTIAPPEND (all or nothing); RFC
/// 4315 APPENDUID in the tagged OK, with a UID set for several messages.
pub fn append(s: &mut Session, raw: &[u8], messages: &[AppendMessage]) -> Result<Tagged, Error> {
    let name = mailbox_name(s, raw)?;
    // Messages the reader wrote to files stand as empty literals, in order
    // (a real message is never empty).
    let spooled = std::mem::take(&mut s.spooled);
    let mut files = spooled.iter();
    let mut items = Vec::with_capacity(messages.len());
    for m in messages {
        let file = if m.message.is_empty() {
            files.next()
        } else {
            None
        };
        items.push(append_item(m, file)?);
    }
    match s.store()?.append_all(&name, &items) {
        Ok((uidvalidity, uids)) => Ok(Tagged::with_code(
            Code::AppendUid { uidvalidity, uids },
            "Append completed.",
        )),
        // RFC 3501 §6.3.11: tell the client it may CREATE and retry.
        Err(StoreError::NotFound) => Err(Error::no(
            Some(Code::TryCreate),
            format!("Mailbox doesn't exist: {}", String::from_utf8_lossy(raw)),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Checks one message of an APPEND and turns its options into what the
/// store takes.
fn append_item<'a>(
    m: &'a AppendMessage,
    spooled: Option<&'a crate::proto::reader::Spooled>,
) -> Result<AppendItem<'a>, Error> {
    let source = match spooled {
        Some(sp) => AppendSource::File {
            path: &sp.path,
            size: sp.size,
            vsize: sp.vsize,
        },
        None if m.message.is_empty() => {
            return Err(Error::no(None, "Can't save a zero byte message."))
        }
        None => AppendSource::Bytes(&m.message),
    };
    let mut new_flags = NewFlags::default();
    for f in &m.flags {
        match f {
            Flag::Seen => new_flags.system |= flag::SEEN,
            Flag::Answered => new_flags.system |= flag::ANSWERED,
            Flag::Flagged => new_flags.system |= flag::FLAGGED,
            Flag::Deleted => new_flags.system |= flag::DELETED,
            Flag::Draft => new_flags.system |= flag::DRAFT,
            // \Recent is the server's to set (RFC 3501 §2.3.2).
            Flag::Recent => {}
            Flag::Keyword(k) => {
                if !new_flags.keywords.contains(k) {
                    new_flags.keywords.push(k.clone());
                }
            }
            Flag::Extension(x) => return Err(Error::bad(format!("Invalid system flag \\{x}"))),
        }
    }
    let when = m.date.map(|d| {
        if d.unix >= 0 {
            UNIX_EPOCH + Duration::from_secs(d.unix as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(d.unix.unsigned_abs())
        }
    });
    let when = when.filter(|t| *t <= SystemTime::now() + Duration::from_secs(366 * 86_400));
    Ok(AppendItem {
        source,
        flags: new_flags,
        internal_date: when,
    })
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
