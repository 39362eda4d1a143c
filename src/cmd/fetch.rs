//! FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8, §7.4.2).
//!
//! Per message, what is needed is gathered under the mailbox lock (flags,
//! file name, size), then the lock is dropped before the file is read and
//! the response written: no socket write ever waits on a mailbox lock.

use crate::datetime::Utc;
use crate::error::{Error, Tagged};
use crate::message;
use crate::proto::encode::{Code, ResponseBuf};
use crate::proto::types::{FetchAtt, Section, SectionText, SequenceSet};
use crate::selected::write_flag_names;
use crate::session::Session;
use crate::store::lock;
use crate::store::maildir::{flag, Flags};
use std::path::PathBuf;

/// Flush the response buffer to the client when it grows past this.
const FLUSH_AT: usize = 256 * 1024;

/// What one message's FETCH needs from the shared state.
struct Snapshot {
    flags: Flags,
    path: PathBuf,
    vsize: Option<u64>,
}

pub fn fetch(
    s: &mut Session,
    set: &SequenceSet,
    items: &[FetchAtt],
    uid_mode: bool,
) -> Result<Tagged, Error> {
    for item in items {
        if !supported(item) {
            return Err(Error::bad(format!("FETCH {item:?} is not supported yet.")));
        }
    }
    let Some(sel) = s.selected.as_ref() else {
        return Err(Error::bad("No mailbox selected."));
    };
    let targets = sel
        .resolve(set, uid_mode)
        .map_err(|e| Error::bad(format!("Error in IMAP command FETCH: {e}")))?;
    let read_only = sel.read_only;
    // RFC 3501 §6.4.5: BODY[...] without PEEK (and RFC822, RFC822.TEXT) set \Seen.
    let sets_seen = !read_only && items.iter().any(sets_seen_flag);
    let needs_file = items.iter().any(needs_content);
    let mut missing = false;
    for (msn, uid) in targets {
        let Some(snap) = snapshot(s, uid, sets_seen)? else {
            missing = true;
            continue;
        };
        let content = if needs_file {
            match std::fs::read(&snap.path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing = true;
                    continue;
                }
                Err(e) => {
                    return Err(Error::Server(format!(
                        "reading {}: {e}",
                        snap.path.display()
                    )))
                }
            }
        } else {
            None
        };
        let crlf = content.as_deref().map(message::to_crlf);
        write_message(
            s,
            msn,
            uid,
            uid_mode,
            items,
            &snap,
            crlf.as_deref(),
            sets_seen,
        )?;
        if s.out.len() >= FLUSH_AT {
            s.flush()?;
        }
    }
    if missing {
        // RFC 9051 §7.1 EXPUNGEISSUED; Dovecot answers the same way.
        return Err(Error::no(
            Some(Code::Other("EXPUNGEISSUED".into())),
            "Some of the requested messages no longer exist.",
        ));
    }
    Ok(Tagged::ok("Fetch completed."))
}

fn supported(item: &FetchAtt) -> bool {
    match item {
        FetchAtt::Flags
        | FetchAtt::Uid
        | FetchAtt::InternalDate
        | FetchAtt::Rfc822Size
        | FetchAtt::Rfc822
        | FetchAtt::Rfc822Header
        | FetchAtt::Rfc822Text => true,
        FetchAtt::BodySection { section, .. } => {
            section.part.is_empty() && section.text != Some(SectionText::Mime)
        }
        _ => false,
    }
}

fn sets_seen_flag(item: &FetchAtt) -> bool {
    matches!(
        item,
        FetchAtt::Rfc822
            | FetchAtt::Rfc822Text
            | FetchAtt::BodySection { peek: false, .. }
            | FetchAtt::Binary { peek: false, .. }
    )
}

fn needs_content(item: &FetchAtt) -> bool {
    !matches!(
        item,
        FetchAtt::Flags | FetchAtt::Uid | FetchAtt::InternalDate | FetchAtt::Rfc822Size
    )
}

/// Reads a message's state; sets \Seen first when the fetch implies it.
/// `None` if the message is gone.
fn snapshot(s: &mut Session, uid: u32, set_seen: bool) -> Result<Option<Snapshot>, Error> {
    let (Some(sel), Some(user)) = (s.selected.as_ref(), s.user.as_ref()) else {
        return Ok(None);
    };
    let state = std::sync::Arc::clone(sel.state());
    let mut st = lock(&state);
    for attempt in 0..2 {
        let Some(i) = st.position(uid) else {
            return Ok(None);
        };
        let flags = st.messages[i].flags;
        if set_seen && !flags.has(flag::SEEN) {
            let mut seen = flags;
            seen.set(flag::SEEN, true);
            if !st.set_flags(i, seen)? {
                // Renamed or removed by someone else: look again once.
                if attempt == 0 {
                    st.mark_dirty();
                    user.store.sync(&mut st)?;
                    continue;
                }
                return Ok(None);
            }
        }
        let m = &st.messages[i];
        return Ok(Some(Snapshot {
            flags: m.flags,
            path: st.path_of(m),
            vsize: m.vsize,
        }));
    }
    Ok(None)
}

#[allow(clippy::too_many_arguments)]
fn write_message(
    s: &mut Session,
    msn: u32,
    uid: u32,
    uid_mode: bool,
    items: &[FetchAtt],
    snap: &Snapshot,
    content: Option<&[u8]>,
    seen_set: bool,
) -> Result<(), Error> {
    let Some(sel) = s.selected.as_mut() else {
        return Ok(());
    };
    let recent = sel.is_recent(uid);
    let keywords = sel.keywords().to_vec();
    let report_flags =
        items.contains(&FetchAtt::Flags) || (seen_set && sel.reported_flags(msn) != snap.flags);
    if report_flags {
        sel.set_reported_flags(msn, snap.flags);
    }
    let out = &mut s.out;
    out.untagged().number(msn.into()).raw(" FETCH (");
    let mut first = true;
    let mut sep = |out: &mut ResponseBuf| {
        if !first {
            out.sp();
        }
        first = false;
    };
    // UID first: some clients (Thunderbird) read it before anything else.
    if uid_mode || items.contains(&FetchAtt::Uid) {
        sep(out);
        out.raw("UID ").number(uid.into());
    }
    for item in items {
        match item {
            FetchAtt::Uid | FetchAtt::Flags => continue,
            FetchAtt::InternalDate => {
                sep(out);
                let date = std::fs::metadata(&snap.path)
                    .and_then(|m| m.modified())
                    .map(Utc::from_system_time)
                    .map(|u| u.imap_date_time())
                    .unwrap_or_else(|_| "01-Jan-1970 00:00:00 +0000".into());
                out.raw("INTERNALDATE ").string(date.as_bytes());
            }
            FetchAtt::Rfc822Size => {
                sep(out);
                let size = match (snap.vsize, content) {
                    (Some(v), _) => v,
                    (None, Some(c)) => c.len() as u64,
                    (None, None) => std::fs::read(&snap.path)
                        .map(|b| crate::store::maildir::crlf_size(&b))
                        .unwrap_or(0),
                };
                out.raw("RFC822.SIZE ").number(size);
            }
            FetchAtt::Rfc822 => {
                sep(out);
                out.raw("RFC822 ").literal(content.unwrap_or_default());
            }
            FetchAtt::Rfc822Header => {
                sep(out);
                let c = content.unwrap_or_default();
                out.raw("RFC822.HEADER ")
                    .literal(&c[..message::header_end(c)]);
            }
            FetchAtt::Rfc822Text => {
                sep(out);
                let c = content.unwrap_or_default();
                out.raw("RFC822.TEXT ")
                    .literal(&c[message::header_end(c)..]);
            }
            FetchAtt::BodySection {
                section, partial, ..
            } => {
                sep(out);
                let c = content.unwrap_or_default();
                let data = section_bytes(c, section);
                out.raw("BODY[");
                write_section_spec(out, section);
                out.raw("]");
                match partial {
                    Some((origin, len)) => {
                        out.raw("<").number((*origin).into()).raw("> ");
                        out.literal(message::partial(&data, *origin, *len));
                    }
                    None => {
                        out.sp().literal(&data);
                    }
                }
            }
            _ => {}
        }
    }
    if report_flags {
        sep(out);
        out.raw("FLAGS (");
        write_flag_names(out, snap.flags, &keywords, recent);
        out.raw(")");
    }
    out.raw(")").crlf();
    Ok(())
}

/// The bytes of a top-level section of a CRLF message.
fn section_bytes(msg: &[u8], section: &Section) -> Vec<u8> {
    let end = message::header_end(msg);
    match &section.text {
        None => msg.to_vec(),
        Some(SectionText::Header) => msg[..end].to_vec(),
        Some(SectionText::Text) => msg[end..].to_vec(),
        Some(SectionText::HeaderFields(names)) => message::select_fields(&msg[..end], names, true),
        Some(SectionText::HeaderFieldsNot(names)) => {
            message::select_fields(&msg[..end], names, false)
        }
        Some(SectionText::Mime) => Vec::new(),
    }
}

/// Echoes the section spec in the response (RFC 3501 §7.4.2).
fn write_section_spec(out: &mut ResponseBuf, section: &Section) {
    let part: Vec<String> = section.part.iter().map(u32::to_string).collect();
    out.raw(&part.join("."));
    let Some(text) = &section.text else { return };
    if !section.part.is_empty() {
        out.raw(".");
    }
    let (word, names) = match text {
        SectionText::Header => ("HEADER", None),
        SectionText::Text => ("TEXT", None),
        SectionText::Mime => ("MIME", None),
        SectionText::HeaderFields(n) => ("HEADER.FIELDS", Some(n)),
        SectionText::HeaderFieldsNot(n) => ("HEADER.FIELDS.NOT", Some(n)),
    };
    out.raw(word);
    if let Some(names) = names {
        out.raw(" (");
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                out.sp();
            }
            out.astring(n);
        }
        out.raw(")");
    }
}
