//! SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8), with ESEARCH result
//! options (RFC 4731) and SAVE (RFC 5182).
//!
//! Which messages match is found in `matches`, shared with SORT and THREAD.
//!
//! Messages another session expunged keep their numbers here until the
//! client may hear of it (RFC 3501 §7.4.1). As in Dovecot they match on the
//! flags last known, match nothing that needs their contents, and the
//! tagged OK then carries EXPUNGEISSUED.

use super::matches::find;
use crate::error::{Error, Tagged};
use crate::proto::encode::{Code, ResponseBuf};
use crate::proto::types::SearchKey;
use crate::proto::types::SearchReturn;
use crate::session::Session;

/// SEARCH / UID SEARCH, with RFC 4731 result options and RFC 5182 SAVE
/// when `ret` is given.
pub fn search(
    s: &mut Session,
    tag: &[u8],
    charset: Option<&str>,
    keys: &[SearchKey],
    uid: bool,
    ret: Option<SearchReturn>,
) -> Result<Tagged, Error> {
    if charset.is_some() && s.enabled.utf8_accept {
        // RFC 6855 §3: after ENABLE UTF8=ACCEPT everything is UTF-8.
        return Err(Error::bad("CHARSET isn't allowed after ENABLE UTF8=ACCEPT"));
    }
    let by_modseq = keys.iter().any(has_modseq);
    if by_modseq {
        // RFC 7162 §3.1: a CONDSTORE enabling command.
        s.enable_condstore();
    }
    // RFC 9051 §6.4.4: under IMAP4rev2 a SEARCH without RETURN means
    // RETURN (ALL), answered by ESEARCH; SEARCH responses are not sent.
    let ret = match ret {
        None if s.enabled.imap4rev2 => Some(SearchReturn {
            all: true,
            ..SearchReturn::default()
        }),
        r => r,
    };
    let outcome = find(s, charset, keys, uid);
    let save = ret.is_some_and(|r| r.save);
    let (found, modseqs, lost) = match outcome {
        Ok(v) => v,
        Err(e) => {
            // RFC 5182 §2.1: a SAVE search that fails with NO leaves `$`
            // empty; a BAD leaves it alone.
            if save && matches!(e, Error::No(..) | Error::Server(_)) {
                s.saved_search.clear();
            }
            return Err(e);
        }
    };
    match ret {
        None => {
            s.out.untagged().raw("SEARCH");
            for &n in &found {
                s.out.sp().number(n.into());
            }
            // RFC 7162 §3.1.6: the highest modseq of what was found.
            if by_modseq && !found.is_empty() {
                let top = modseqs.iter().copied().max().unwrap_or(0);
                s.out.raw(" (MODSEQ ").number(top).raw(")");
            }
            s.out.crlf();
        }
        Some(r) => {
            if r.save {
                save_result(s, &found, uid, &r);
            }
            if r.update && !super::contexts::keep(s, tag, charset, keys, None, uid, &found) {
                write_esearch(&mut s.out, tag, uid, &r, &found, None);
                return Ok(Tagged::with_code(
                    Code::NoUpdate(tag.to_vec()),
                    "Search completed, not updated.",
                ));
            }
            if r.wants_response() {
                // RFC 7162 §3.1.10: MODSEQ in ESEARCH when asked by MODSEQ.
                let modseq = (by_modseq && !found.is_empty()).then(|| result_modseq(&r, &modseqs));
                write_esearch(&mut s.out, tag, uid, &r, &found, modseq);
            }
        }
    }
    if lost {
        // RFC 9051 §7.1; Dovecot puts it in the OK as well.
        return Ok(Tagged::with_code(Code::ExpungeIssued, "Search completed."));
    }
    Ok(Tagged::ok("Search completed."))
}

/// RFC 5182 §2.4: what `$` holds after a SAVE, kept as UIDs so later
/// expunges simply drop out (§2.1). With only MIN and/or MAX besides
/// SAVE, just those messages are saved.
fn save_result(s: &mut Session, found: &[u32], uid: bool, r: &SearchReturn) {
    let picked: Vec<u32> = if r.all || r.count || !(r.min || r.max) {
        found.to_vec()
    } else {
        let mut v = Vec::new();
        if let (true, Some(&first)) = (r.min, found.first()) {
            v.push(first);
        }
        if let (true, Some(&last)) = (r.max, found.last()) {
            if v.last() != Some(&last) {
                v.push(last);
            }
        }
        v
    };
    let uids: Vec<u32> = if uid {
        picked
    } else {
        let view = s.selected.as_ref().map(|sel| sel.uids()).unwrap_or(&[]);
        picked
            .iter()
            .filter_map(|&msn| view.get(msn as usize - 1).map(|u| u.0))
            .collect()
    };
    s.saved_search = uids;
}

/// `* ESEARCH (TAG "t") [UID] MIN n MAX n ALL set PARTIAL (m:n set) COUNT
/// n [MODSEQ n]`, the items in Dovecot's order; MIN, MAX and ALL are left
/// out when nothing matched (RFC 4731 §3.1). `found` is in result order:
/// ascending for SEARCH, the sort order for SORT (RFC 5267 §3.2: MIN and
/// MAX are then the first and last sorted, ALL keeps the order).
pub fn write_esearch(
    out: &mut ResponseBuf,
    tag: &[u8],
    uid: bool,
    r: &SearchReturn,
    found: &[u32],
    modseq: Option<u64>,
) {
    out.untagged().raw("ESEARCH (TAG ").string(tag).raw(")");
    write_esearch_items(out, uid, r, found, modseq);
}

/// What follows the correlator in an ESEARCH response (shared with
/// MULTISEARCH, whose correlator names the mailbox too).
pub fn write_esearch_items(
    out: &mut ResponseBuf,
    uid: bool,
    r: &SearchReturn,
    found: &[u32],
    modseq: Option<u64>,
) {
    if uid {
        out.raw(" UID");
    }
    if let (true, Some(&n)) = (r.min, found.first()) {
        out.raw(" MIN ").number(n.into());
    }
    if let (true, Some(&n)) = (r.max, found.last()) {
        out.raw(" MAX ").number(n.into());
    }
    if r.all && !found.is_empty() {
        out.raw(" ALL ");
        write_set(out, found);
    }
    if let Some((first, last)) = r.partial {
        // RFC 5267 §4.4: the 1-based positions asked for; NIL if none.
        let from = (first as usize - 1).min(found.len());
        let to = (last as usize).min(found.len());
        out.raw(&format!(" PARTIAL ({first}:{last} "));
        if from < to {
            write_set(out, &found[from..to]);
        } else {
            out.raw("NIL");
        }
        out.raw(")");
    }
    if r.count {
        out.raw(" COUNT ").number(found.len() as u64);
    }
    if let Some(m) = modseq {
        out.raw(" MODSEQ ").number(m);
    }
    out.crlf();
}

/// Numbers in sequence-set form, in the order given, ascending runs
/// joined: `2,4:6,9`; a sorted `5,3,4,2` stays `5,3:4,2`.
pub fn write_set(out: &mut ResponseBuf, numbers: &[u32]) {
    out.raw(&crate::proto::encode::number_set(numbers));
}

/// RFC 4731 §3.2: the MODSEQ result option of an ESEARCH. With MIN and/or
/// MAX and neither ALL nor COUNT it covers only the messages returned
/// (the one, or the higher of the two); otherwise every match. `modseqs`
/// are the matches' mod-sequences in ascending message order.
fn result_modseq(r: &SearchReturn, modseqs: &[u64]) -> u64 {
    if (r.min || r.max) && !r.all && !r.count {
        let min = modseqs.first().filter(|_| r.min);
        let max = modseqs.last().filter(|_| r.max);
        return min.max(max).copied().unwrap_or(0);
    }
    modseqs.iter().copied().max().unwrap_or(0)
}

/// Whether a search program uses the MODSEQ key anywhere.
fn has_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::Modseq(_) => true,
        SearchKey::Not(k) => has_modseq(k),
        SearchKey::Or(a, b) => has_modseq(a) || has_modseq(b),
        SearchKey::And(v) => v.iter().any(has_modseq),
        _ => false,
    }
}
