//! Selected-state commands that do not read messages (RFC 3501 §6.4.1–
//! §6.4.3): CHECK, CLOSE, EXPUNGE, plus UNSELECT (RFC 3691) and UID
//! EXPUNGE (RFC 4315).

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
    let only: Option<&dyn Fn(Uid) -> bool> = filter.as_ref().map(|f| f as &dyn Fn(Uid) -> bool);
    sel.qresync = s.enabled.qresync;
    sel.condstore = s.enabled.condstore;
    let removed = sel.expunge_deleted(&mut s.out, only, true)?;
    Ok(match super::condstore::expunge_code(s, removed) {
        Some(code) => Tagged::with_code(code, "Expunge completed."),
        None => Tagged::ok("Expunge completed."),
    })
}
