//! FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8, §7.4.2; BINARY from
//! RFC 3516).
//!
//! Per message, what is needed is copied from the shared state (flags,
//! file name, size) before the file is read and the response written: no
//! socket write ever waits on a mailbox lock.
//! The file is read and parsed (`mime::Message`) once per message, however
//! many items need it; what each item says is decided in `mime`, so the
//! answers match Dovecot's.

use crate::datetime::Utc;
use crate::error::{Error, Tagged};
use crate::mime::raw;
use crate::mime::{self, BinaryError, Message};
use crate::proto::encode::{Code, ResponseBuf};
use crate::proto::types::{FetchAtt, FetchModifiers, Section, SectionText, SequenceSet};
use crate::selected::{write_flag_names, Seq};
use crate::session::Session;
use crate::store::cache::CachedMeta;
use crate::store::maildir::Flags;
use crate::store::Uid;
use std::path::PathBuf;
use std::sync::Arc;

/// Flush the response buffer to the client when it grows past this.
const FLUSH_AT: usize = 256 * 1024;

/// What one message's FETCH needs from the shared state.
struct MessageFacts {
    flags: Flags,
    /// RFC 7162 mod-sequence.
    modseq: u64,
    path: PathBuf,
    vsize: Option<u64>,
    /// Parsed data kept from an earlier FETCH (any session).
    cached: Option<Arc<CachedMeta>>,
    /// RFC 8514 save date the store noted; else the file's ctime.
    saved: Option<i64>,
}

pub fn fetch(
    s: &mut Session,
    set: &SequenceSet,
    items: &[FetchAtt],
    uid_mode: bool,
    modifiers: FetchModifiers,
) -> Result<Tagged, Error> {
    if modifiers.vanished {
        // RFC 7162 §3.2.6.
        if !uid_mode {
            return Err(Error::bad("VANISHED is only allowed with UID FETCH"));
        }
        if !s.enabled.qresync {
            return Err(Error::bad("QRESYNC isn't enabled"));
        }
        if modifiers.changed_since.is_none() {
            return Err(Error::bad("VANISHED requires CHANGEDSINCE"));
        }
    }
    let mut with_modseq;
    let items: &[FetchAtt] =
        if modifiers.changed_since.is_some() && !items.contains(&FetchAtt::Modseq) {
            // CHANGEDSINCE implies the MODSEQ item (RFC 7162 §3.1.4.1).
            with_modseq = items.to_vec();
            with_modseq.push(FetchAtt::Modseq);
            &with_modseq
        } else {
            items
        };
    if items.contains(&FetchAtt::Modseq) {
        s.enable_condstore();
    }
    let Some(sel) = s.selected.as_ref() else {
        return Err(Error::bad("No mailbox selected."));
    };
    let mut targets = sel
        .resolve(set, uid_mode)
        .map_err(|e| Error::bad(format!("Error in IMAP command FETCH: {e}")))?;
    if let Some(since) = modifiers.changed_since {
        let mailbox = sel.mailbox();
        if modifiers.vanished {
            let asked = set.ranges(mailbox.last_uid());
            let gone = mailbox.vanished_since(since, &|u| asked.contains(u));
            if !gone.is_empty() {
                s.out
                    .untagged()
                    .raw("VANISHED (EARLIER) ")
                    .raw(&crate::proto::encode::range_set(&gone))
                    .crlf();
            }
        }
        // Messages expunged meanwhile have no modseq to compare: left out.
        let uids: Vec<Uid> = targets.iter().map(|&(_, uid)| uid).collect();
        let known = mailbox.facts(&uids);
        let mut known = known.iter();
        targets.retain(|_| {
            known
                .next()
                .is_some_and(|f| f.is_some_and(|f| f.modseq > since))
        });
    }
    let read_only = sel.read_only;
    // RFC 3501 §6.4.5: BODY[...] without PEEK (and RFC822, RFC822.TEXT) set \Seen.
    let sets_seen = !read_only && items.iter().any(sets_seen_flag);
    let needs_file = items.iter().any(needs_content);
    let needs_parse = items.iter().any(needs_structure);
    // Items that need nothing past the header: with no cache entry, only
    // the header is read (Thunderbird's header fetch on a cold mailbox).
    let header_only = items.iter().all(header_item);
    let mut missing = false;
    for (msn, uid) in targets {
        let Some(mut snap) = snapshot(s, uid, sets_seen)? else {
            // Expunged by another session, not yet announced here: UID and
            // FLAGS are still known from this session's view (Dovecot
            // answers them from its index too). Anything else is gone.
            if items
                .iter()
                .all(|i| matches!(i, FetchAtt::Uid | FetchAtt::Flags | FetchAtt::Modseq))
            {
                let flags = s
                    .selected
                    .as_ref()
                    .map(|sel| sel.reported_flags(msn))
                    .unwrap_or_default();
                let gone = MessageFacts {
                    flags,
                    modseq: 0,
                    path: std::path::PathBuf::new(),
                    vsize: None,
                    cached: None,
                    saved: None,
                };
                write_message(s, msn, uid, uid_mode, items, &gone, Loaded::NOTHING, false)?;
            } else {
                missing = true;
            }
            continue;
        };
        let from_cache = snap
            .cached
            .as_deref()
            .is_some_and(|c| items.iter().all(|i| cacheable(i, c)));
        let sized = snap.vsize.is_some() || !items.contains(&FetchAtt::Rfc822Size);
        if !from_cache && header_only && needs_file && sized {
            match read_with_retry(s, uid, &mut snap, read_header)? {
                Some(header) => {
                    let meta = remember_header(s, uid, &header, &snap.path);
                    let msg = Loaded::cached(&meta);
                    write_message(s, msn, uid, uid_mode, items, &snap, msg, sets_seen)?;
                }
                None => missing = true,
            }
            continue;
        }
        if from_cache {
            if let Some(cached) = snap.cached.clone() {
                let msg = Loaded::cached(&cached);
                write_message(s, msn, uid, uid_mode, items, &snap, msg, sets_seen)?;
                continue;
            }
        }
        let content = if needs_file {
            match read_with_retry(s, uid, &mut snap, crate::store::nofollow::read)? {
                Some(bytes) => Some(bytes),
                None => {
                    missing = true;
                    continue;
                }
            }
        } else {
            None
        };
        let crlf = content.as_deref().map(raw::to_crlf);
        let parsed = match &crlf {
            Some(c) if needs_parse => {
                let parsed = Message::parse(c);
                // BINARY serves binary content as stored (bare LFs kept).
                Some(match content.as_deref() {
                    Some(stored) => parsed.with_stored(stored),
                    None => parsed,
                })
            }
            _ => None,
        };
        // Rendered once: the cache keeps it and this response uses it.
        let with_body = items.contains(&FetchAtt::Body);
        let meta = parsed
            .as_ref()
            .map(|p| remember(s, uid, p, &snap.path, with_body));
        let msg = Loaded {
            raw: crlf.as_deref(),
            parsed: parsed.as_ref(),
            cached: meta.as_deref(),
        };
        write_message(s, msn, uid, uid_mode, items, &snap, msg, sets_seen)?;
    }
    if missing {
        // RFC 9051 §7.1 EXPUNGEISSUED; Dovecot answers the same way.
        return Err(Error::no(
            Some(Code::ExpungeIssued),
            "Some of the requested messages no longer exist.",
        ));
    }
    Ok(Tagged::ok("Fetch completed."))
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
        FetchAtt::Flags
            | FetchAtt::Uid
            | FetchAtt::InternalDate
            | FetchAtt::SaveDate
            | FetchAtt::EmailId
            | FetchAtt::Rfc822Size
            | FetchAtt::Modseq
    )
}

/// Items that need the MIME structure, not just the bytes.
fn needs_structure(item: &FetchAtt) -> bool {
    match item {
        FetchAtt::Envelope
        | FetchAtt::Body
        | FetchAtt::BodyStructure
        | FetchAtt::Preview { .. }
        | FetchAtt::Rfc822Header
        | FetchAtt::Rfc822Text
        | FetchAtt::Binary { .. }
        | FetchAtt::BinarySize { .. } => true,
        FetchAtt::BodySection { section, .. } => !section.part.is_empty() || section.text.is_some(),
        _ => false,
    }
}

/// One message's content: the CRLF bytes and, when an item needs it,
/// their parse; or what the cache holds (then `raw` and `parsed` are None
/// and header sections come from the cached header block).
#[derive(Clone, Copy)]
struct Loaded<'a> {
    raw: Option<&'a [u8]>,
    parsed: Option<&'a Message<'a>>,
    cached: Option<&'a CachedMeta>,
}

impl<'a> Loaded<'a> {
    /// Nothing read: enough for UID, FLAGS and MODSEQ.
    const NOTHING: Loaded<'static> = Loaded {
        raw: None,
        parsed: None,
        cached: None,
    };

    fn cached(meta: &'a CachedMeta) -> Loaded<'a> {
        Loaded {
            cached: Some(meta),
            ..Loaded::NOTHING
        }
    }
}

/// Whether a cache entry can answer an item (no body bytes needed).
fn cacheable(item: &FetchAtt, c: &CachedMeta) -> bool {
    match item {
        FetchAtt::Body => c.body.is_some(),
        FetchAtt::BodyStructure => c.body_structure.is_some(),
        other => header_item(other),
    }
}

/// Items answered from the header block alone (plus the file's mtime and
/// the size in its name).
fn header_item(item: &FetchAtt) -> bool {
    match item {
        FetchAtt::Uid
        | FetchAtt::Flags
        | FetchAtt::Modseq
        | FetchAtt::InternalDate
        | FetchAtt::SaveDate
        | FetchAtt::EmailId
        | FetchAtt::ThreadId
        | FetchAtt::Rfc822Size
        | FetchAtt::Envelope
        | FetchAtt::Rfc822Header => true,
        FetchAtt::BodySection { section, .. } => {
            section.part.is_empty()
                && matches!(
                    section.text,
                    Some(
                        SectionText::Header
                            | SectionText::HeaderFields(_)
                            | SectionText::HeaderFieldsNot(_)
                    )
                )
        }
        _ => false,
    }
}

/// Stores what was costly to compute for this message in the mailbox's
/// shared cache.
fn remember(
    s: &Session,
    uid: Uid,
    parsed: &Message<'_>,
    path: &std::path::Path,
    with_body: bool,
) -> Arc<CachedMeta> {
    let render = |f: &dyn Fn(&mut ResponseBuf)| {
        let mut b = ResponseBuf::new();
        f(&mut b);
        b.take().into_boxed_slice()
    };
    let meta = CachedMeta {
        envelope: render(&|b| parsed.write_envelope(b)),
        // BODY (the non-extensible form) is rare; rendered when asked for.
        body: with_body.then(|| render(&|b| parsed.write_body_structure(b, false))),
        body_structure: Some(render(&|b| parsed.write_body_structure(b, true))),
        header: parsed.header().to_vec().into_boxed_slice(),
        internal_date: internal_date(path).into_boxed_str(),
        sort_keys: Default::default(),
    };
    let meta = Arc::new(meta);
    if let Some(sel) = s.selected.as_ref() {
        sel.mailbox().cache_insert(uid, Arc::clone(&meta));
    }
    meta
}

/// Caches what the header alone gives: ENVELOPE, the header block, the date.
fn remember_header(
    s: &Session,
    uid: Uid,
    header_crlf: &[u8],
    path: &std::path::Path,
) -> Arc<CachedMeta> {
    // Parsing the header alone finds the same header block a full parse
    // would: where a message's header ends depends on nothing after it.
    let parsed = Message::parse(header_crlf);
    let mut envelope = ResponseBuf::new();
    parsed.write_envelope(&mut envelope);
    let meta = Arc::new(CachedMeta {
        envelope: envelope.take().into_boxed_slice(),
        body: None,
        body_structure: None,
        header: parsed.header().to_vec().into_boxed_slice(),
        internal_date: internal_date(path).into_boxed_str(),
        sort_keys: Default::default(),
    });
    if let Some(sel) = s.selected.as_ref() {
        // A fuller entry another FETCH may have stored meanwhile is kept.
        sel.mailbox().cache_offer(uid, Arc::clone(&meta));
    }
    meta
}

/// Reads a message's file (`Mailbox::read_file` follows a rename); a
/// file renamed by a flag change comes with fresh facts. `None` if gone.
fn read_with_retry<T>(
    s: &mut Session,
    uid: Uid,
    snap: &mut MessageFacts,
    read: impl Fn(&std::path::Path) -> std::io::Result<T>,
) -> Result<Option<T>, Error> {
    let Some(sel) = s.selected.as_ref() else {
        return Ok(None);
    };
    let mut path = snap.path.clone();
    let got = sel
        .mailbox()
        .read_file(uid, &mut path, |p| super::common::file_read(p, read(p)))?;
    if path != snap.path {
        match snapshot(s, uid, false)? {
            Some(fresh) => *snap = fresh,
            None => return Ok(None),
        }
    }
    Ok(got)
}

/// Reads a message file up to the blank line after its header (or all of
/// it), in CRLF form.
fn read_header(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    const CHUNK: usize = 8 * 1024;
    let mut f = crate::store::nofollow::open(path)?;
    let mut bytes = Vec::with_capacity(CHUNK);
    let mut scanned: usize = 0;
    loop {
        let old = bytes.len();
        bytes.resize(old + CHUNK, 0);
        let n = f.read(&mut bytes[old..])?;
        bytes.truncate(old + n);
        if let Some(end) = header_block_end(&bytes, scanned.saturating_sub(3)) {
            bytes.truncate(end);
            break;
        }
        scanned = bytes.len();
        if n == 0 {
            break;
        }
    }
    Ok(raw::to_crlf(&bytes).into_owned())
}

/// The end of the header's blank line (LF LF or LF CR LF, or a blank first
/// line), looking from `from` on.
fn header_block_end(bytes: &[u8], from: usize) -> Option<usize> {
    if bytes.starts_with(b"\n") {
        return Some(1);
    }
    if bytes.starts_with(b"\r\n") {
        return Some(2);
    }
    let mut i = from;
    while let Some(off) = memchr::memchr(b'\n', bytes.get(i..)?) {
        let nl = i + off;
        match bytes.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if bytes.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

fn internal_date(path: &std::path::Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(Utc::from_system_time)
        .map(|u| u.imap_date_time())
        .unwrap_or_else(|_| "01-Jan-1970 00:00:00 +0000".into())
}

/// RFC 8514 SAVEDATE: the file's ctime, as Dovecot reads it for Maildir
/// (a link or rename into the mailbox sets it).
fn save_date(noted: Option<i64>, path: &std::path::Path) -> String {
    let secs = noted.unwrap_or_else(|| {
        std::fs::metadata(path)
            .map(|m| crate::store::maildir::save_date(&m))
            .unwrap_or(0)
    });
    Utc::from_unix(secs, 0).imap_date_time()
}

/// A BINARY item that cannot be served; the FETCH fails with this.
fn binary_error(e: BinaryError) -> Error {
    match e {
        // RFC 3516 §4.3.
        BinaryError::UnknownCte => {
            Error::no(Some(Code::UnknownCte), "Unknown Content-Transfer-Encoding.")
        }
        BinaryError::InvalidData => Error::no(Some(Code::Parse), "Invalid data in MIME part"),
    }
}

/// Reads a message's state; sets \Seen first when the fetch implies it.
/// `None` if the message is gone.
fn snapshot(s: &mut Session, uid: Uid, set_seen: bool) -> Result<Option<MessageFacts>, Error> {
    let Some(sel) = s.selected.as_ref() else {
        return Ok(None);
    };
    Ok(sel
        .mailbox()
        .message(uid, set_seen)?
        .map(|(facts, at)| MessageFacts {
            flags: facts.flags,
            modseq: facts.modseq,
            path: at.path,
            vsize: facts.vsize,
            cached: at.cached,
            saved: at.saved,
        }))
}

#[allow(clippy::too_many_arguments)]
fn write_message(
    s: &mut Session,
    msn: Seq,
    uid: Uid,
    uid_mode: bool,
    items: &[FetchAtt],
    snap: &MessageFacts,
    msg: Loaded<'_>,
    seen_set: bool,
) -> Result<(), Error> {
    let Some(sel) = s.selected.as_mut() else {
        return Ok(());
    };
    // BINARY items are decoded before anything is written: a part that
    // cannot be served fails the command with nothing sent for this
    // message (no half FETCH response).
    let decoded = items
        .iter()
        .map(|item| decode(item, msg))
        .collect::<Result<Vec<_>, _>>()
        .map_err(binary_error)?;
    let recent = sel.is_recent(uid);
    let keywords = sel.keywords().to_vec();
    let flags_changed = seen_set && sel.reported_flags(msn) != snap.flags;
    let report_flags = items.contains(&FetchAtt::Flags) || flags_changed;
    if report_flags {
        sel.set_reported_flags(msn, snap.flags);
    }
    // RFC 7162 §3.2.4: a FETCH that sets \Seen reports UID and MODSEQ to a
    // CONDSTORE-aware client.
    let implied = flags_changed && s.enabled.condstore;
    let out = &mut s.out;
    let uid_item = out.fetch_start(msn.0, uid.0);
    let mut first = true;
    let mut sep = |out: &mut ResponseBuf| {
        if !first {
            out.sp();
        }
        first = false;
    };
    let flag_list = |out: &mut ResponseBuf| {
        out.raw("FLAGS (");
        write_flag_names(out, snap.flags, &keywords, recent);
        out.raw(")");
    };
    // UID first: some clients (Thunderbird) read it before anything else.
    // Under UIDONLY the UID leads the response; the item only if asked.
    let wanted = if uid_item {
        uid_mode || implied || items.contains(&FetchAtt::Uid)
    } else {
        items.contains(&FetchAtt::Uid)
    };
    if wanted {
        sep(out);
        out.raw("UID ").number(uid.into());
    }
    let mut flags_written = false;
    for (item, decoded) in items.iter().zip(decoded) {
        match item {
            FetchAtt::Uid => {}
            // FLAGS where the client asked for it, as Dovecot orders them.
            FetchAtt::Flags if flags_written => {}
            FetchAtt::Flags => {
                sep(out);
                flag_list(out);
                flags_written = true;
            }
            _ => {
                sep(out);
                write_item(out, item, snap, msg, decoded);
            }
        }
    }
    // FLAGS not asked for but changed by this FETCH (\Seen) go last.
    if report_flags && !flags_written {
        sep(out);
        flag_list(out);
    }
    if implied && !items.contains(&FetchAtt::Modseq) {
        sep(out);
        out.raw("MODSEQ (").number(snap.modseq).raw(")");
    }
    out.raw(")").crlf();
    if s.out.len() >= FLUSH_AT {
        s.flush()?;
    }
    Ok(())
}

/// What a BINARY item decodes to; worked out before anything of the
/// item is written, so that a failure leaves a well-formed response.
enum Decoded {
    NotBinary,
    Data(mime::Binary),
    Size(u64),
}

fn decode(item: &FetchAtt, msg: Loaded<'_>) -> Result<Decoded, BinaryError> {
    // BINARY items always come with a parse (`needs_structure`).
    let Some(parsed) = msg.parsed else {
        return Ok(Decoded::NotBinary);
    };
    Ok(match item {
        FetchAtt::Binary { part, .. } => Decoded::Data(parsed.binary(part)?),
        FetchAtt::BinarySize { part } => Decoded::Size(parsed.binary_size(part)?),
        _ => Decoded::NotBinary,
    })
}

/// Writes one fetch item (never UID or FLAGS, which the caller places).
fn write_item(
    out: &mut ResponseBuf,
    item: &FetchAtt,
    snap: &MessageFacts,
    msg: Loaded<'_>,
    decoded: Decoded,
) {
    let raw = msg.raw.unwrap_or_default();
    match item {
        FetchAtt::Uid | FetchAtt::Flags => {}
        FetchAtt::Modseq => {
            out.raw("MODSEQ (").number(snap.modseq).raw(")");
        }
        FetchAtt::Preview { fuzzy, snippet, .. } => {
            let text = msg.parsed.map(mime::preview::preview).unwrap_or_default();
            out.raw(if *snippet { "SNIPPET " } else { "PREVIEW " });
            if *fuzzy {
                // The drafts' `(algorithm text)`, as Dovecot 2.3 answers.
                out.raw("(FUZZY ").string(text.as_bytes()).raw(")");
            } else {
                out.string(text.as_bytes());
            }
        }
        FetchAtt::EmailId => {
            let name = snap.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let id = crate::store::maildir::email_id(name);
            out.raw("EMAILID (").raw(&id).raw(")");
        }
        // RFC 8474 §5.2, from the header alone (sort::thread_id).
        FetchAtt::ThreadId => {
            let header: &[u8] = match (msg.cached, msg.parsed, msg.raw) {
                (Some(c), _, _) => &c.header,
                (None, Some(p), _) => p.header(),
                (None, None, Some(raw)) => &raw[..header_block_end(raw, 0).unwrap_or(raw.len())],
                (None, None, None) => &[],
            };
            match crate::sort::thread_id::of_header(header) {
                Some(id) => out.raw("THREADID (").raw(&id).raw(")"),
                None => out.raw("THREADID NIL"),
            };
        }
        FetchAtt::SaveDate => {
            out.raw("SAVEDATE ")
                .string(save_date(snap.saved, &snap.path).as_bytes());
        }
        FetchAtt::InternalDate => {
            let date = match msg.cached {
                Some(c) => c.internal_date.to_string(),
                None => internal_date(&snap.path),
            };
            out.raw("INTERNALDATE ").string(date.as_bytes());
        }
        FetchAtt::Rfc822Size => {
            let size = match (snap.vsize, msg.raw) {
                (Some(v), _) => v,
                (None, Some(c)) => c.len() as u64,
                (None, None) => crate::store::nofollow::read(&snap.path)
                    .map(|b| crate::store::maildir::crlf_size(&b))
                    .unwrap_or(0),
            };
            out.raw("RFC822.SIZE ").number(size);
        }
        FetchAtt::Envelope => {
            out.raw("ENVELOPE ");
            match (msg.cached, msg.parsed) {
                (Some(c), _) => {
                    out.encoded(&c.envelope);
                }
                (None, Some(m)) => m.write_envelope(out),
                (None, None) => mime::write_envelope(b"", out),
            }
        }
        FetchAtt::Body | FetchAtt::BodyStructure => {
            let extensible = matches!(item, FetchAtt::BodyStructure);
            out.raw(if extensible {
                "BODYSTRUCTURE "
            } else {
                "BODY "
            });
            let cached = msg.cached.and_then(|c| {
                if extensible {
                    c.body_structure.as_deref()
                } else {
                    c.body.as_deref()
                }
            });
            match (cached, msg.parsed) {
                (Some(bytes), _) => {
                    out.encoded(bytes);
                }
                (None, Some(m)) => m.write_body_structure(out, extensible),
                (None, None) => Message::parse(b"").write_body_structure(out, extensible),
            }
        }
        FetchAtt::Rfc822 => {
            out.raw("RFC822 ").literal(&mime::nul_to_0x80(raw.into()));
        }
        FetchAtt::Rfc822Header => {
            let header = match msg.cached {
                Some(c) => &c.header[..],
                None => msg.parsed.map(Message::header).unwrap_or_default(),
            };
            out.raw("RFC822.HEADER ")
                .literal(&mime::nul_to_0x80(header.into()));
        }
        FetchAtt::Rfc822Text => {
            let text = msg.parsed.map(Message::text).unwrap_or_default();
            out.raw("RFC822.TEXT ")
                .literal(&mime::nul_to_0x80(text.into()));
        }
        FetchAtt::BodySection {
            section, partial, ..
        } => {
            let data = match (msg.parsed, msg.cached) {
                (Some(m), _) => m.section(section),
                // Top-level header sections straight from the cached header
                // (`cacheable` admits no other section without a parse).
                (None, Some(c)) => mime::nul_to_0x80(match &section.text {
                    Some(SectionText::HeaderFields(names)) => {
                        mime::select_header_fields(&c.header, names, true).into()
                    }
                    Some(SectionText::HeaderFieldsNot(names)) => {
                        mime::select_header_fields(&c.header, names, false).into()
                    }
                    _ => c.header[..].into(),
                }),
                // BODY[] needs no parse.
                (None, None) => mime::nul_to_0x80(raw.into()),
            };
            out.raw("BODY[");
            write_section_spec(out, section);
            out.raw("]");
            write_partial_literal(out, &data, *partial, false);
        }
        FetchAtt::Binary { part, partial, .. } => {
            let (data, literal8) = match &decoded {
                Decoded::Data(b) => (&b.data[..], b.literal8),
                _ => (&[][..], false),
            };
            out.raw("BINARY[");
            write_part_number(out, part);
            out.raw("]");
            write_partial_literal(out, data, *partial, literal8);
        }
        FetchAtt::BinarySize { part } => {
            let size = match decoded {
                Decoded::Size(n) => n,
                _ => 0,
            };
            out.raw("BINARY.SIZE[");
            write_part_number(out, part);
            out.raw("] ").number(size);
        }
    }
}

/// `[<origin>] SP literal` with the `<origin.length>` cut applied
/// (RFC 3501 §6.4.5: the reply names only the origin). `literal8` is
/// RFC 3516's `~{n}` form for binary data.
fn write_partial_literal(
    out: &mut ResponseBuf,
    data: &[u8],
    partial: Option<(u32, u32)>,
    literal8: bool,
) {
    let data = match partial {
        Some((origin, len)) => {
            out.raw("<").number(origin.into()).raw(">");
            raw::partial(data, origin, len)
        }
        None => data,
    };
    out.sp();
    if literal8 {
        out.literal8(data);
    } else {
        out.literal(data);
    }
}

fn write_part_number(out: &mut ResponseBuf, part: &[u32]) {
    for (i, n) in part.iter().enumerate() {
        if i > 0 {
            out.raw(".");
        }
        out.number((*n).into());
    }
}

/// Echoes the section spec in the response (RFC 3501 §7.4.2). Header
/// names come back uppercased, as Dovecot sends them.
fn write_section_spec(out: &mut ResponseBuf, section: &Section) {
    write_part_number(out, &section.part);
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
            out.astring(&n.to_ascii_uppercase());
        }
        out.raw(")");
    }
}

#[cfg(test)]
mod tests {
    use super::header_block_end;

    #[test]
    fn header_ends() {
        let rows: &[(&[u8], Option<usize>)] = &[
            (b"A: 1\n\nbody", Some(6)),
            (b"A: 1\r\n\r\nbody", Some(8)),
            (b"\nbody", Some(1)),
            (b"\r\nbody", Some(2)),
            (b"A: 1\nB: 2\n", None),
            (b"A: 1\n\r\n", Some(7)),
        ];
        for (input, want) in rows {
            assert_eq!(header_block_end(input, 0), *want, "{input:?}");
        }
    }
}
