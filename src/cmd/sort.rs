//! SORT, UID SORT, THREAD and UID THREAD (RFC 5256, RFC 5957).
//!
//! The search program picks the messages as SEARCH does (`matches`).
//! Their sort keys come from the header block in the mailbox's message
//! cache, which FETCH fills too; a message not cached yet is read once
//! and cached, so the next SORT reads no files.

use super::matches::find;
use crate::error::{Error, Tagged};
use crate::proto::encode::Code;
use crate::proto::types::{SearchKey, SearchReturn, SortCriterion, SortKey, ThreadAlgorithm};
use crate::session::Session;
use crate::sort::{self, thread, HeaderKeys, SortFacts};
use crate::store::cache::CachedMeta;
use crate::store::Uid;
use std::sync::Arc;

/// SORT / UID SORT; with RETURN options (RFC 5267 ESORT) the answer is an
/// ESEARCH response in sort order.
pub fn sort(
    s: &mut Session,
    tag: &[u8],
    criteria: &[SortCriterion],
    charset: &str,
    keys: &[SearchKey],
    uid: bool,
    ret: Option<SearchReturn>,
) -> Result<Tagged, Error> {
    let need = |k| criteria.iter().any(|c| c.key == k);
    let (need_size, need_arrival) = (need(SortKey::Size), need(SortKey::Arrival));
    let (mut facts, lost) = gather(s, charset, keys, need_size, need_arrival)?;
    sort::sort(&mut facts, criteria);
    if let Some(r) = ret {
        let numbers: Vec<u32> = facts
            .iter()
            .map(|f| if uid { f.uid } else { f.msn })
            .collect();
        if r.update
            && !super::contexts::keep(s, tag, Some(charset), keys, Some(criteria), uid, &numbers)
        {
            super::search::write_esearch(&mut s.out, tag, uid, &r, &numbers, None);
            return Ok(Tagged::with_code(
                Code::NoUpdate(tag.to_vec()),
                "Sort completed, not updated.",
            ));
        }
        super::search::write_esearch(&mut s.out, tag, uid, &r, &numbers, None);
        return done(lost, "Sort completed.");
    }
    s.out.untagged().raw("SORT");
    for f in &facts {
        s.out
            .sp()
            .number(u64::from(if uid { f.uid } else { f.msn }));
    }
    s.out.crlf();
    done(lost, "Sort completed.")
}

/// The UIDs a SORT would answer, in sort order (for kept sorts).
pub(super) fn sorted_uids(
    s: &mut Session,
    criteria: &[SortCriterion],
    charset: &str,
    keys: &[SearchKey],
) -> Result<Vec<u32>, Error> {
    let need = |k| criteria.iter().any(|c| c.key == k);
    let (mut facts, _) = gather(
        s,
        charset,
        keys,
        need(SortKey::Size),
        need(SortKey::Arrival),
    )?;
    sort::sort(&mut facts, criteria);
    Ok(facts.iter().map(|f| f.uid).collect())
}

/// THREAD / UID THREAD.
pub fn thread(
    s: &mut Session,
    algorithm: ThreadAlgorithm,
    charset: &str,
    keys: &[SearchKey],
    uid: bool,
) -> Result<Tagged, Error> {
    let (facts, lost) = gather(s, charset, keys, false, false)?;
    let forest = match algorithm {
        ThreadAlgorithm::OrderedSubject => thread::ordered_subject(&facts),
        ThreadAlgorithm::References => thread::references(&facts),
        ThreadAlgorithm::Refs => thread::refs(&facts),
    };
    let list = thread::write(&forest, |i| if uid { facts[i].uid } else { facts[i].msn });
    s.out.untagged().raw("THREAD");
    if !list.is_empty() {
        s.out.sp().raw(&list);
    }
    s.out.crlf();
    done(lost, "Thread completed.")
}

fn done(lost: bool, text: &'static str) -> Result<Tagged, Error> {
    if lost {
        return Ok(Tagged::with_code(Code::ExpungeIssued, text));
    }
    Ok(Tagged::ok(text))
}

/// The matched messages' sort facts, and whether some could not be read.
fn gather(
    s: &mut Session,
    charset: &str,
    keys: &[SearchKey],
    need_size: bool,
    need_arrival: bool,
) -> Result<(Vec<SortFacts>, bool), Error> {
    let (found, _, mut lost) = find(s, Some(charset), keys, true)?;
    let uids: Vec<Uid> = found.into_iter().map(Uid).collect();
    let Some(sel) = s.selected.as_ref() else {
        return Err(Error::bad("No mailbox selected."));
    };
    let view = sel.uids();
    let mailbox = sel.mailbox();
    let mut facts = Vec::with_capacity(uids.len());
    let mut fresh = Vec::new();
    for (&u, at) in uids.iter().zip(mailbox.cached_or_paths(&uids)) {
        let msn = view.binary_search(&u).map_or(0, |i| i as u32 + 1);
        let Uid(uid) = u;
        let known = match at {
            // Expunged by another session meanwhile: sorts with empty keys.
            None => None,
            Some(Ok(c)) => {
                let keys = c
                    .sort_keys
                    .get_or_init(|| Arc::new(HeaderKeys::from_header(&c.header)));
                // The internal date is parsed only where it counts: for
                // ARRIVAL, or standing in for a missing Date.
                let arrival = if need_arrival || keys.date.is_none() {
                    crate::proto::parse::parse_date_time(c.internal_date.as_bytes())
                        .map_or(0, |d| d.unix)
                } else {
                    0
                };
                let size = if need_size { mailbox.vsize(u) } else { None };
                Some(SortFacts::new(
                    Arc::clone(keys),
                    msn,
                    uid,
                    arrival,
                    size.unwrap_or(0),
                ))
            }
            Some(Err(mut path)) => mailbox
                .read_file(u, &mut path, |p| {
                    super::common::file_read(p, read_message(p))
                })?
                .map(|(keys, arrival, size, meta)| {
                    fresh.push((u, meta));
                    SortFacts::new(keys, msn, uid, arrival, size)
                }),
        };
        facts.push(known.unwrap_or_else(|| {
            lost = true;
            SortFacts::from_header(b"", msn, uid, 0, 0)
        }));
    }
    for (u, meta) in fresh {
        mailbox.cache_offer(u, meta);
    }
    Ok((facts, lost))
}

/// A message file read once: its sort keys, internal date, RFC822.SIZE,
/// and the cache entry its header gives.
type Read = (Arc<HeaderKeys>, i64, u64, Arc<CachedMeta>);

fn read_message(path: &std::path::Path) -> std::io::Result<Read> {
    let mtime = std::fs::symlink_metadata(path)?.modified()?;
    let bytes = crate::store::nofollow::read(path)?;
    let size = crate::store::maildir::crlf_size(&bytes);
    let crlf = crate::mime::raw::to_crlf(&bytes);
    let parsed = crate::mime::Message::parse(&crlf);
    let header = parsed.header().to_vec();
    let keys = Arc::new(HeaderKeys::from_header(&header));
    let mut envelope = crate::proto::encode::ResponseBuf::new();
    parsed.write_envelope(&mut envelope);
    let utc = crate::datetime::Utc::from_system_time(mtime);
    let meta = Arc::new(CachedMeta {
        envelope: envelope.take().into_boxed_slice(),
        body: None,
        body_structure: None,
        header: header.into_boxed_slice(),
        internal_date: utc.imap_date_time().into_boxed_str(),
        sort_keys: std::sync::OnceLock::from(Arc::clone(&keys)),
    });
    let arrival = mtime
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Ok((keys, arrival, size, meta))
}
