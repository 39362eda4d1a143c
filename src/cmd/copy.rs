//! COPY, MOVE and their UID forms (RFC 3501 §6.4.7, RFC 6851), with
//! RFC 4315 COPYUID.
//!
//! UIDs that vanished meanwhile are skipped quietly: answering NO makes
//! clients retry forever (a bug other servers shipped), and RFC 2180 §4.4
//! allows copying what still exists.

use super::progress::{self, Progress};
use crate::error::{Error, Tagged};
use crate::proto::encode::{Code, Status};
use crate::proto::types::SequenceSet;
use crate::session::Session;
use crate::store::{StoreError, Uid};

pub fn copy(
    s: &mut Session,
    set: &SequenceSet,
    mailbox: &[u8],
    uid_mode: bool,
    is_move: bool,
) -> Result<Tagged, Error> {
    let Some(sel) = s.selected.as_ref() else {
        return Err(Error::bad("No mailbox selected."));
    };
    let cmd = if is_move { "MOVE" } else { "COPY" };
    let targets = sel
        .resolve(set, uid_mode)
        .map_err(|e| Error::bad(format!("Error in IMAP command {cmd}: {e}")))?;
    if is_move && sel.read_only {
        return Err(Error::no(None, "Mailbox is read-only."));
    }
    let target = super::common::mailbox_name(s, mailbox)?;
    // RFC 3501 §6.4.7: TRYCREATE tells the client it may CREATE and retry.
    let missing = || {
        let name = String::from_utf8_lossy(mailbox);
        Error::no(
            Some(Code::TryCreate),
            format!("Mailbox doesn't exist: {name}"),
        )
    };
    let nothing = Tagged::ok(if is_move {
        "No messages moved."
    } else {
        "No messages copied."
    });
    if !s.store()?.exists(&target) {
        return Err(missing());
    }
    // The sources are gathered before the target is touched (it may be
    // the same mailbox).
    let source = sel.mailbox().clone();
    let uids: Vec<Uid> = targets.iter().map(|&(_, uid)| uid).collect();
    let (source_uids, items): (Vec<Uid>, Vec<_>) = source.copy_sources(&uids).into_iter().unzip();
    if items.is_empty() {
        return Ok(nothing);
    }
    // A COPY over quota must place nothing: checked for all before the
    // first batch (each batch checks itself again).
    if !is_move {
        s.store()?.check_copy_quota(&items)?;
    }
    let mut uidvalidity = 0;
    let mut new_uids = Vec::with_capacity(items.len());
    let text = if is_move {
        "Still moving..."
    } else {
        "Still copying..."
    };
    let mut progress = Progress::working(items.len() as u64, text);
    for batch in items.chunks(progress::BATCH) {
        match s.store()?.copy_into(&target, batch, is_move) {
            Ok((v, uids)) => {
                uidvalidity = v;
                new_uids.extend(uids);
            }
            Err(StoreError::NotFound) => return Err(missing()),
            Err(e) => return Err(e.into()),
        }
        progress.advance(s, batch.len() as u64);
    }
    // Messages expunged meanwhile were skipped: pair up the rest.
    let (source_uids, new_uids): (Vec<Uid>, Vec<u32>) = source_uids
        .iter()
        .zip(&new_uids)
        .filter_map(|(&from, to)| to.map(|to| (from, to)))
        .unzip();
    if new_uids.is_empty() {
        return Ok(nothing);
    }
    let code = Code::CopyUid {
        uidvalidity,
        from: source_uids.iter().map(|u| u.0).collect(),
        to: new_uids,
    };
    if !is_move {
        return Ok(Tagged::with_code(code, "Copy completed."));
    }
    // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
    s.out
        .untagged_status(Status::Ok, Some(&code), "Moved UIDs.");
    let mut sorted = source_uids;
    sorted.sort_unstable();
    let same = s.selected.as_ref().is_some_and(|sel| sel.name == target);
    source.forget_moved(&sorted, same);
    // The sync before the tagged reply announces the EXPUNGEs (MOVE may
    // send them even in its sequence-number form, RFC 6851 §3.3).
    Ok(Tagged::ok("Move completed."))
}
