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
use crate::sort::order::KeyOrder;
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
    let (order, lost) = sorted(s, charset, keys, criteria)?;
    let numbers: Vec<u32> = order
        .iter()
        .map(|&(u, msn)| if uid { u } else { msn })
        .collect();
    if let Some(r) = ret {
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
    for n in numbers {
        s.out.sp().number(u64::from(n));
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
    let (order, _) = sorted(s, charset, keys, criteria)?;
    Ok(order.into_iter().map(|(u, _)| u).collect())
}

/// The matched messages in sort order as (UID, sequence number), and
/// whether some could not be read.
fn sorted(
    s: &mut Session,
    charset: &str,
    keys: &[SearchKey],
    criteria: &[SortCriterion],
) -> Result<(Vec<(u32, u32)>, bool), Error> {
    let (found, _, lost) = find(s, Some(charset), keys, true)?;
    if let [c] = criteria {
        if let Some(order) = kept_order(s, *c, &found)? {
            return Ok((order, lost));
        }
    }
    let need = |k| criteria.iter().any(|c| c.key == k);
    let (mut facts, missing) = facts_of(s, &found, need(SortKey::Size), need(SortKey::Arrival))?;
    sort::sort(&mut facts, criteria);
    let order = facts.iter().map(|f| (f.uid, f.msn)).collect();
    Ok((order, lost || missing))
}

/// A one-key SORT answered from the mailbox's kept order for that key
/// (`sort::order`), after merging in messages it has not seen; None where
/// that cannot answer exactly, and the caller sorts afresh.
fn kept_order(
    s: &Session,
    c: SortCriterion,
    found: &[u32],
) -> Result<Option<Vec<(u32, u32)>>, Error> {
    let Some(sel) = s.selected.as_ref() else {
        return Ok(None);
    };
    let view = sel.uids();
    let Some(&Uid(last)) = view.last() else {
        return Ok(None);
    };
    if !found.is_sorted() {
        return Ok(None);
    }
    let mailbox = sel.mailbox();
    let order = match mailbox.sort_order(c.key) {
        Some(o) if o.covered() >= last => o,
        kept => {
            // Only worth building for a search that picks much of the
            // mailbox: the build reads every message's keys.
            if kept.is_none() && found.len() * 4 < view.len() {
                return Ok(None);
            }
            let from = kept.as_ref().map_or(0, |o| o.covered());
            let new: Vec<u32> = view[view.partition_point(|&Uid(u)| u <= from)..]
                .iter()
                .map(|&Uid(u)| u)
                .collect();
            let (facts, missing) =
                facts_of(s, &new, c.key == SortKey::Size, c.key == SortKey::Arrival)?;
            if missing {
                return Ok(None);
            }
            let present: Vec<u32> = view.iter().map(|&Uid(u)| u).collect();
            let order = Arc::new(KeyOrder::merged(
                kept.as_deref(),
                c.key,
                mailbox.uidvalidity(),
                last,
                &present,
                facts,
            ));
            mailbox.keep_sort_order(Arc::clone(&order));
            order
        }
    };
    // Sequence numbers of the found UIDs: both lists ascend.
    let mut msn = Vec::with_capacity(found.len());
    let mut at = 0;
    for &u in found {
        at += view[at..].partition_point(|&Uid(v)| v < u);
        msn.push(if view.get(at) == Some(&Uid(u)) {
            at as u32 + 1
        } else {
            0
        });
    }
    Ok(order.walk(c.reverse, found, &msn))
}

/// THREAD / UID THREAD.
pub fn thread(
    s: &mut Session,
    algorithm: ThreadAlgorithm,
    charset: &str,
    keys: &[SearchKey],
    uid: bool,
) -> Result<Tagged, Error> {
    let (found, _, lost) = find(s, Some(charset), keys, true)?;
    let (facts, missing) = facts_of(s, &found, false, false)?;
    let lost = lost || missing;
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

/// The sort facts of messages (ascending UIDs), and whether some could not
/// be read (they get empty keys).
fn facts_of(
    s: &Session,
    found: &[u32],
    need_size: bool,
    need_arrival: bool,
) -> Result<(Vec<SortFacts>, bool), Error> {
    let mut lost = false;
    let uids: Vec<Uid> = found.iter().copied().map(Uid).collect();
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
