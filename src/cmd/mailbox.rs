//! Authenticated-state commands on mailboxes (RFC 3501 §6.3): SELECT,
//! EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS, APPEND
//! (with RFC 4315 APPENDUID). Names arrive as raw bytes and go through
//! `common::mailbox_name`.

use super::common::{mailbox_name, not_found, status_response, within_limits};
use crate::error::{Error, Tagged};
use crate::proto::encode::{Code, Status};
use crate::proto::types::{AppendMessage, Flag, SelectParams, StatusItem};
use crate::selected::{write_flags_lines, Selected};
use crate::session::{Session, State};
use crate::store::maildir::flag;
use crate::store::metadata::Metadata;
use crate::store::special_use::{SpecialUse, UserUses};
use crate::store::{AppendItem, AppendSource, NewFlags, StoreError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3501 §6.3.1 SELECT / §6.3.2 EXAMINE.
pub fn select(
    s: &mut Session,
    raw: &[u8],
    read_only: bool,
    params: &SelectParams,
) -> Result<Tagged, Error> {
    super::condstore::check_select(s, params)?;
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
    let rev2 = s.enabled.imap4rev2;
    view.rev2 = rev2;
    write_flags_lines(&mut s.out, view.keywords(), read_only, view.keywords_full());
    s.out
        .untagged()
        .number(info.exists.into())
        .raw(" EXISTS")
        .crlf();
    if rev2 {
        // RFC 9051 §6.3.2: a LIST response replaces RECENT and UNSEEN,
        // which rev2 no longer has (Appendix E items 10-12).
        super::list::selected_list_line(s, &view.name)?;
    } else {
        s.out
            .untagged()
            .number(info.recent.into())
            .raw(" RECENT")
            .crlf();
        if let Some(n) = info.first_unseen {
            s.out
                .untagged_status(Status::Ok, Some(&Code::Unseen(n)), "First unseen.");
        }
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
    let mailbox_id = view.mailbox().mailbox_id();
    s.out
        .untagged_status(Status::Ok, Some(&Code::MailboxId(mailbox_id)), "Ok");
    view.attach(s.ctx.watcher.subscribe(&view.dir()));
    s.selected = Some(view);
    s.state = State::Selected;
    super::condstore::after_select(s, params, &info);
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
    // RFC 8474 §4.1: the new folder's MAILBOXID (its uidlist, made now).
    let id = s.store()?.status(&name, false)?.mailbox_id;
    Ok(Tagged::with_code(Code::MailboxId(id), "Create completed."))
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
            // RFC 5464 §3.1: a mailbox's entries go with it.
            if let Err(e) = Metadata::update(&root, |m| Ok::<_, std::io::Error>(m.forget(&name))) {
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
                let moved = |m: &mut Metadata| Ok::<_, std::io::Error>(m.rename(&old, &new));
                if let Err(e) = Metadata::update(&root, moved) {
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

/// RFC 3501 §6.3.10 STATUS (SIZE: RFC 8438).
pub fn status(s: &mut Session, raw: &[u8], items: &[StatusItem]) -> Result<Tagged, Error> {
    let name = mailbox_name(s, raw)?;
    match status_response(s, &name, items) {
        Ok(()) => Ok(Tagged::ok("Status completed.")),
        Err(StoreError::NotFound) => Err(not_found(raw)),
        Err(e) => Err(e.into()),
    }
}

/// RFC 3501 §6.3.11 APPEND, RFC 3502 MULTIAPPEND (all or nothing); RFC
/// 4315 APPENDUID in the tagged OK, with a UID set for several messages.
pub fn append(s: &mut Session, raw: &[u8], messages: &[AppendMessage]) -> Result<Tagged, Error> {
    let name = mailbox_name(s, raw)?;
    // Messages the reader wrote to files stand as empty literals; each
    // file knows where its literal was.
    let mut spooled = std::mem::take(&mut s.spooled);
    let spooled = spooled.make_contiguous();
    let built = build_catenated(s, &name, raw, messages, spooled)?;
    let mut items = Vec::with_capacity(messages.len());
    for (m, b) in messages.iter().zip(&built) {
        let item = match b {
            Some(b) => built_item(m, b)?,
            None => append_item(m, spooled_at(spooled, m))?,
        };
        items.push(item);
    }
    match s.store()?.append_all(&name, &items) {
        Ok((uidvalidity, uids)) => Ok(Tagged::with_code(
            Code::AppendUid { uidvalidity, uids },
            "Append completed.",
        )),
        // RFC 3501 §6.3.11: tell the client it may CREATE and retry.
        Err(StoreError::NotFound) => Err(try_create(raw)),
        Err(e) => Err(e.into()),
    }
}

fn try_create(raw: &[u8]) -> Error {
    Error::no(
        Some(Code::TryCreate),
        format!("Mailbox doesn't exist: {}", String::from_utf8_lossy(raw)),
    )
}

/// The spool file holding `m`'s literal, if the reader wrote one.
fn spooled_at<'a>(
    spooled: &'a [crate::proto::reader::Spooled],
    m: &AppendMessage,
) -> Option<&'a crate::proto::reader::Spooled> {
    if !m.message.is_empty() {
        return None;
    }
    spooled.iter().find(|sp| sp.at == m.message_at)
}

/// RFC 4469: builds the CATENATE messages of an APPEND (None for the
/// others). A missing target mailbox is reported first, as TRYCREATE,
/// as Dovecot does, before any URL is looked at.
fn build_catenated(
    s: &mut Session,
    name: &crate::store::names::MailboxName,
    raw: &[u8],
    messages: &[AppendMessage],
    spooled: &[crate::proto::reader::Spooled],
) -> Result<Vec<Option<super::catenate::Built>>, Error> {
    if messages.iter().all(|m| m.catenate.is_none()) {
        return Ok(messages.iter().map(|_| None).collect());
    }
    if !s.store()?.exists(name) {
        return Err(try_create(raw));
    }
    let mut built = Vec::with_capacity(messages.len());
    for m in messages {
        built.push(match &m.catenate {
            Some(parts) => Some(super::catenate::build(s, parts, spooled)?),
            None => None,
        });
    }
    Ok(built)
}

/// An APPEND item for a message CATENATE built.
fn built_item<'a>(
    m: &'a AppendMessage,
    built: &'a super::catenate::Built,
) -> Result<AppendItem<'a>, Error> {
    let mut item = append_item(m, None)?;
    item.source = match built {
        super::catenate::Built::Bytes(b) => AppendSource::Bytes(b),
        super::catenate::Built::File(sp) => AppendSource::File {
            path: &sp.path,
            size: sp.size,
            vsize: sp.vsize,
        },
    };
    Ok(item)
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
        None if m.message.is_empty() && m.catenate.is_none() => {
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

/// REPLACE and UID REPLACE (RFC 8508): the new message is appended first;
/// only once it is safely stored is the old one expunged, so a failure
/// leaves the old message in place and never loses both.
pub fn replace(
    s: &mut Session,
    uid: bool,
    number: u32,
    raw: &[u8],
    message: &AppendMessage,
) -> Result<Tagged, Error> {
    let old = {
        let Some(sel) = s.selected.as_ref() else {
            return Err(Error::bad("No mailbox selected."));
        };
        if sel.read_only {
            return Err(Error::no(Some(Code::ReadOnly), "Mailbox is read-only."));
        }
        let view = sel.uids();
        if uid {
            match view.iter().find(|u| u.0 == number) {
                Some(&u) => u,
                None => return Err(Error::no(None, "Message to replace not found.")),
            }
        } else {
            match view.get(number as usize - 1) {
                Some(&u) => u,
                None => return Err(Error::bad("Invalid message sequence number.")),
            }
        }
    };
    let name = mailbox_name(s, raw)?;
    let mut spooled = std::mem::take(&mut s.spooled);
    let spooled = spooled.make_contiguous();
    // RFC 8508 §3.3: with CATENATE advertised, REPLACE takes it too.
    let built = build_catenated(s, &name, raw, std::slice::from_ref(message), spooled)?;
    let item = match built.first() {
        Some(Some(b)) => built_item(message, b)?,
        _ => append_item(message, spooled_at(spooled, message))?,
    };
    let (uidvalidity, uids) = match s.store()?.append_all(&name, &[item]) {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(try_create(raw)),
        Err(e) => return Err(e.into()),
    };
    s.out.untagged_status(
        Status::Ok,
        Some(&Code::AppendUid { uidvalidity, uids }),
        "Replacement Message ID",
    );
    let Some(sel) = s.selected.as_mut() else {
        return Ok(Tagged::ok("Replace completed."));
    };
    let deleted = crate::store::FlagChange {
        op: crate::store::FlagOp::Add,
        system: flag::DELETED,
        keywords: &[],
        unchanged_since: None,
    };
    sel.mailbox().change_flags(&[old], &deleted)?;
    sel.qresync = s.enabled.qresync;
    sel.condstore = s.enabled.condstore;
    let only = move |u: crate::store::Uid| u == old;
    sel.expunge_deleted(&mut s.out, Some(&only), true)?;
    Ok(Tagged::ok("Replace completed."))
}
