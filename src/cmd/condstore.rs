//! CONDSTORE and QRESYNC (RFC 7162) pieces shared by SELECT, FETCH and
//! EXPUNGE: the checks on their parameters, HIGHESTMODSEQ reports, and the
//! resynchronisation answers (`VANISHED (EARLIER)` plus the FETCHes of
//! changed messages).

use crate::error::Error;
use crate::proto::encode::{Code, ResponseBuf, Status};
use crate::proto::types::{QresyncParams, SelectParams, SeqNumber, SequenceSet};
use crate::selected::{write_flags_fetch, SelectInfo, Selected, Seq};
use crate::session::Session;
use crate::store::Uid;

/// Refuses select parameters the session may not use (before anything
/// is closed or opened).
pub fn check_select(s: &Session, params: &SelectParams) -> Result<(), Error> {
    if params.qresync.is_some() && !s.enabled.qresync {
        // RFC 7162 §3.2.5.
        return Err(Error::bad("QRESYNC isn't enabled"));
    }
    Ok(())
}

/// After SELECT/EXAMINE opened the mailbox: turns CONDSTORE on when asked
/// for, reports HIGHESTMODSEQ, and answers a QRESYNC parameter.
pub fn after_select(s: &mut Session, params: &SelectParams, info: &SelectInfo) {
    if params.condstore || params.qresync.is_some() {
        // SELECT (CONDSTORE) is an enabling command; no extra report, the
        // SELECT answer carries it just below.
        s.enabled.condstore = true;
    }
    let Some(sel) = s.selected.as_mut() else {
        return;
    };
    sel.condstore = s.enabled.condstore;
    sel.qresync = s.enabled.qresync;
    if !s.enabled.condstore {
        return;
    }
    s.out.untagged_status(
        Status::Ok,
        Some(&Code::HighestModseq(info.highest_modseq)),
        "Highest",
    );
    if let Some(q) = &params.qresync {
        // RFC 7162 §3.2.5: a stale UIDVALIDITY means "nothing to resync".
        if q.uidvalidity == info.uidvalidity {
            resync(&mut s.out, sel, q);
        }
    }
}

/// The QRESYNC answer: what vanished, then what changed, since `q.modseq`.
fn resync(out: &mut ResponseBuf, sel: &Selected, q: &QresyncParams) {
    let mailbox = sel.mailbox();
    let uids = sel.uids();
    let last = mailbox.last_uid();
    let known_uids = q.known_uids.as_ref().map(|k| k.ranges(last));
    let known = |u: u32| known_uids.as_ref().is_none_or(|k| k.contains(u));
    // §3.2.5.2: pairs the client has right bound what it can have missed.
    let mut floor = 0u32;
    if let Some((seqs, known_uids)) = &q.seq_match {
        for (msn, uid) in expand(seqs).zip(expand(known_uids)) {
            match uids.get((msn as usize).wrapping_sub(1)) {
                Some(&u) if u.0 == uid => floor = uid,
                _ => break,
            }
        }
    }
    let vanished = mailbox.vanished_since(q.modseq, &|u| u > floor && known(u));
    if !vanished.is_empty() {
        out.untagged()
            .raw("VANISHED (EARLIER) ")
            .raw(&crate::proto::encode::range_set(&vanished))
            .crlf();
    }
    for (i, (&uid, now)) in uids.iter().zip(mailbox.facts(uids)).enumerate() {
        let Some(m) = now else {
            continue;
        };
        if m.modseq > q.modseq && known(uid.0) {
            write_change(out, sel, Seq::at(i), uid, m.flags, m.modseq);
        }
    }
}

/// `* n FETCH (UID u FLAGS (...) MODSEQ (m))`.
pub fn write_change(
    out: &mut ResponseBuf,
    sel: &Selected,
    msn: Seq,
    uid: Uid,
    flags: crate::store::maildir::Flags,
    modseq: u64,
) {
    let flags = Some((flags, sel.keywords(), sel.is_recent(uid)));
    write_flags_fetch(out, msn, Some(uid), flags, Some(modseq));
}

/// The numbers of a `*`-free set, in the order given (capped, as a client
/// sends only a sample).
fn expand(set: &SequenceSet) -> impl Iterator<Item = u32> + '_ {
    set.items()
        .iter()
        .flat_map(|&(a, b)| {
            let v = |n: SeqNumber| match n {
                SeqNumber::Value(v) => v,
                SeqNumber::Last => 0,
            };
            let (a, b) = (v(a), v(b));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            lo..=hi
        })
        .take(100_000)
}

/// The HIGHESTMODSEQ code for the tagged OK of EXPUNGE and UID EXPUNGE
/// once QRESYNC is on (RFC 7162 §3.2.7, §3.2.9).
pub fn expunge_code(s: &Session, removed: usize) -> Option<Code> {
    if removed == 0 || !s.enabled.qresync {
        return None;
    }
    let sel = s.selected.as_ref()?;
    let highest = sel.mailbox().highest_modseq();
    Some(Code::HighestModseq(highest))
}
