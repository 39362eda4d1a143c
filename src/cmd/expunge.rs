//! Selected-state commands that do not read messages (RFC 3501 §6.4.1–
//! §6.4.3): CHECK, CLOSE, EXPUNGE, plus UNSELECT (RFC 3691) and UID
//! EXPUNGE (RFC 4315).

use super::progress::{self, Progress};
use crate::error::{Error, Tagged};
use crate::proto::encode::ResponseBuf;
use crate::proto::types::{SeqNumber, SequenceSet};
use crate::session::Session;
use crate::store::Uid;

/// RFC 3501 §6.4.1: the sync before the tagged reply does the work.
pub fn check(_s: &mut Session) -> Result<Tagged, Error> {
    Ok(Tagged::ok("Check completed."))
}

/// RFC 3501 §6.4.2: expunge silently when read-write, then deselect.
pub fn close(s: &mut Session) -> Result<Tagged, Error> {
    if let (Some(mut sel), Some(_)) = (s.selected.take(), s.user.as_ref()) {
        if !sel.read_only {
            let mut sink = ResponseBuf::new();
            sel.expunge_deleted(&mut sink, None, false)?;
        }
    }
    s.deselect();
    Ok(Tagged::ok("Close completed."))
}

/// RFC 3691: deselect without expunging.
pub fn unselect(s: &mut Session) -> Result<Tagged, Error> {
    s.deselect();
    Ok(Tagged::ok("Unselect completed."))
}

/// RFC 3501 §6.4.3 EXPUNGE, and RFC 4315 §2.1 UID EXPUNGE (only messages
/// in `uids`; a set that matches nothing is not an error).
pub fn expunge(s: &mut Session, uids: Option<&SequenceSet>) -> Result<Tagged, Error> {
    let (Some(sel), Some(_)) = (s.selected.as_mut(), s.user.as_ref()) else {
        return Err(Error::bad("No mailbox selected."));
    };
    if sel.read_only {
        return Err(Error::no(None, "Mailbox is read-only."));
    }
    // `*` is the highest UID in use, or any larger one the session has not
    // seen yet (a message appended meanwhile).
    let last_uid = sel.uids().last().map_or(0, |u| u.0);
    let filter = uids.map(|set| {
        let ranges = set.ranges(last_uid);
        let star_open = set
            .items()
            .iter()
            .any(|&(a, b)| a == SeqNumber::Last || b == SeqNumber::Last);
        move |Uid(uid): Uid| ranges.contains(uid) || (star_open && uid > last_uid)
    });
    sel.qresync = s.enabled.qresync;
    sel.condstore = s.enabled.condstore;
    // What is to go, looked up once: batches (and the progress count) go
    // by those messages, not by the whole mailbox. Each batch syncs first,
    // and the last has no upper end, so a message flagged since the last
    // sync goes too.
    let doomed: Vec<Uid> = sel
        .deleted_uids()
        .into_iter()
        .filter(|&uid| filter.as_ref().is_none_or(|f| f(uid)))
        .collect();
    let mut removed = 0;
    if doomed.len() <= progress::BATCH {
        removed += sel.expunge_deleted(&mut s.out, filter.as_ref().map(|f| f as _), true)?;
    } else {
        // A batch is the messages from one doomed UID to the next batch's
        // first; the last one has no upper end.
        let mut starts: Vec<Option<u32>> = doomed
            .chunks(progress::BATCH)
            .skip(1)
            .map(|batch| Some(batch[0].0))
            .collect();
        starts.push(None);
        let mut progress = Progress::working(doomed.len() as u64, "Still expunging...");
        let mut from = 0u32;
        for below in starts {
            let wanted = |uid: Uid| {
                uid.0 >= from
                    && below.is_none_or(|b| uid.0 < b)
                    && filter.as_ref().is_none_or(|f| f(uid))
            };
            let Some(sel) = s.selected.as_mut() else {
                break;
            };
            removed += sel.expunge_deleted(&mut s.out, Some(&wanted), true)?;
            progress.advance(s, progress::BATCH as u64);
            from = below.unwrap_or(u32::MAX);
        }
    }
    Ok(match super::condstore::expunge_code(s, removed) {
        Some(code) => Tagged::with_code(code, "Expunge completed."),
        None => Tagged::ok("Expunge completed."),
    })
}
