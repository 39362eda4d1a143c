//! STORE and UID STORE (RFC 3501 §6.4.6, §6.4.8): flag changes are file
//! renames in the Maildir; new keywords get letters in `dovecot-keywords`.
//! With RFC 7162 `UNCHANGEDSINCE`, messages changed since the client's
//! mod-sequence are left alone and listed in `[MODIFIED ...]`.
//! Messages another session expunged meanwhile are skipped and the STORE
//! still succeeds (RFC 2180 §4.2.1), as with Dovecot.

use super::progress::{self, Progress};
use crate::error::{Error, Tagged};
use crate::proto::types::{Flag, SequenceSet, StoreMode};
use crate::selected::{write_flags_fetch, Seq};
use crate::session::Session;
use crate::store::maildir::{flag, Flags};
use crate::store::{Changed, FlagChange, FlagOp, Uid};

pub fn store(
    s: &mut Session,
    set: &SequenceSet,
    mode: StoreMode,
    silent: bool,
    flags: &[Flag],
    uid_mode: bool,
    unchanged_since: Option<u64>,
) -> Result<Tagged, Error> {
    if unchanged_since.is_some() {
        // RFC 7162 §3.1: a CONDSTORE enabling command.
        s.enable_condstore();
    }
    let condstore = s.enabled.condstore;
    let Some(sel) = s.selected.as_ref() else {
        return Err(Error::bad("No mailbox selected."));
    };
    let targets = sel
        .resolve(set, uid_mode)
        .map_err(|e| Error::bad(format!("Error in IMAP command STORE: {e}")))?;
    if sel.read_only {
        return Err(Error::no(None, "Mailbox is read-only."));
    }
    let mut system = 0u8;
    let mut keyword_names = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => system |= flag::SEEN,
            Flag::Answered => system |= flag::ANSWERED,
            Flag::Flagged => system |= flag::FLAGGED,
            Flag::Deleted => system |= flag::DELETED,
            Flag::Draft => system |= flag::DRAFT,
            // \Recent belongs to the server (RFC 3501 §2.3.2).
            Flag::Recent => {}
            Flag::Keyword(k) => keyword_names.push(k.clone()),
            Flag::Extension(x) => return Err(Error::bad(format!("Invalid system flag \\{x}"))),
        }
    }
    let change = FlagChange {
        op: match mode {
            StoreMode::Replace => FlagOp::Replace,
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
        },
        system,
        keywords: &keyword_names,
        unchanged_since,
    };
    let uids: Vec<Uid> = targets.iter().map(|&(_, uid)| uid).collect();
    let mailbox = sel.mailbox().clone();
    let mut outcome = Vec::with_capacity(uids.len());
    let mut progress = Progress::working(uids.len() as u64, "Still storing...");
    for batch in uids.chunks(progress::BATCH) {
        outcome.extend(mailbox.change_flags(batch, &change)?);
        progress.advance(s, batch.len() as u64);
    }
    let mut results: Vec<(Seq, Uid, Flags, u64)> = Vec::with_capacity(targets.len());
    let mut modified: Vec<u32> = Vec::new();
    for (&(msn, uid), done) in targets.iter().zip(outcome) {
        match done {
            Changed::Set(f, ms) => results.push((msn, uid, f, ms)),
            Changed::Modified => modified.push(if uid_mode { uid.0 } else { msn.0 }),
            Changed::Gone => {}
        }
    }
    let Some(sel) = s.selected.as_mut() else {
        return Ok(Tagged::ok("Store completed."));
    };
    sel.refresh_keywords(&mut s.out);
    let keywords = sel.keywords().to_vec();
    let uid_only = s.out.uid_only();
    for (msn, uid, f, modseq) in results {
        let changed = sel.reported_flags(msn) != f;
        sel.set_reported_flags(msn, f);
        // RFC 3501 §6.4.6: .SILENT suppresses the echo of the new flags;
        // RFC 7162 §3.1.3: but a CONDSTORE client still gets the MODSEQ.
        if silent && !(condstore && (changed || unchanged_since.is_some())) {
            continue;
        }
        write_flags_fetch(
            &mut s.out,
            msn,
            (uid_mode || condstore || uid_only).then_some(uid),
            (!silent).then_some((f, &keywords[..], sel.is_recent(uid))),
            condstore.then_some(modseq),
        );
    }
    if !modified.is_empty() {
        modified.sort_unstable();
        return Ok(Tagged::with_code(
            crate::proto::encode::Code::Modified(modified),
            "Conditional store failed.",
        ));
    }
    Ok(Tagged::ok("Store completed."))
}
