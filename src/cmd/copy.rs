//! COPY, MOVE and their UID forms (RFC 3501 §6.4.7, RFC 6851), with
//! RFC 4315 COPYUID.
//!
//! UIDs that vanished meanwhile are skipped quietly: answering NO makes
//! clients retry forever (a bug other servers shipped), and RFC 2180 §4.4
//! allows copying what still exists.

use crate::error::{Error, Tagged};
use crate::proto::encode::{Code, Status};
use crate::proto::types::SequenceSet;
use crate::session::Session;
use crate::store::{lock, CopyItem, StoreError};
use std::sync::Arc;

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
    if !s.store()?.exists(&target) {
        // RFC 3501 §6.4.7: TRYCREATE tells the client it may CREATE and retry.
        return Err(Error::no(
            Some(Code::TryCreate),
            format!(
                "Mailbox doesn't exist: {}",
                String::from_utf8_lossy(mailbox)
            ),
        ));
    }
    // Gather the sources under the source lock, then let go of it before
    // touching the target (which may be the same mailbox).
    let state = Arc::clone(sel.state());
    let (items, source_uids) = {
        let st = lock(&state);
        let mut items = Vec::with_capacity(targets.len());
        let mut uids = Vec::with_capacity(targets.len());
        for &(_, uid) in &targets {
            let Some(i) = st.position(uid) else { continue };
            let m = &st.messages[i];
            let parsed = crate::store::maildir::parse_name(&m.file);
            let keywords = (0..26u8)
                .filter(|&k| m.flags.has_keyword(k))
                .filter_map(|k| st.keywords.name(k).map(str::to_string))
                .collect();
            items.push(CopyItem {
                path: st.path_of(m),
                system_flags: m.flags.system,
                keywords,
                size: parsed.size,
                vsize: m.vsize,
            });
            uids.push(uid);
        }
        (items, uids)
    };
    if items.is_empty() {
        return Ok(Tagged::ok(if is_move {
            "No messages moved."
        } else {
            "No messages copied."
        }));
    }
    let (uidvalidity, new_uids) = match s.store()?.copy_into(&target, &items, is_move) {
        Ok(r) => r,
        Err(StoreError::NotFound) => {
            return Err(Error::no(
                Some(Code::TryCreate),
                format!(
                    "Mailbox doesn't exist: {}",
                    String::from_utf8_lossy(mailbox)
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    // Messages expunged meanwhile were skipped: pair up the rest.
    let (source_uids, new_uids): (Vec<u32>, Vec<u32>) = source_uids
        .iter()
        .zip(&new_uids)
        .filter_map(|(&from, to)| to.map(|to| (from, to)))
        .unzip();
    if new_uids.is_empty() {
        return Ok(Tagged::ok(if is_move {
            "No messages moved."
        } else {
            "No messages copied."
        }));
    }
    let code = Code::CopyUid {
        uidvalidity,
        from: source_uids.clone(),
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
    {
        let same = s.selected.as_ref().is_some_and(|sel| sel.name == target);
        let mut st = lock(&state);
        st.forget_messages(&sorted);
        if same {
            // Moving within one mailbox: the new files must be found again.
            st.mark_dirty();
        }
    }
    // The sync before the tagged reply announces the EXPUNGEs (MOVE may
    // send them even in its sequence-number form, RFC 6851 §3.3).
    Ok(Tagged::ok("Move completed."))
}
