//! RFC 5182 `$`: puts the saved SEARCH result in place of every `$` in a
//! command before its handler runs, so FETCH, STORE, COPY, MOVE, UID
//! EXPUNGE and SEARCH need not know about it.
//!
//! The result is kept as UIDs (`Session::saved_search`). Where a command
//! takes UIDs, `$` becomes those UIDs; where it takes sequence numbers, the
//! numbers those UIDs have in the session's view now. Messages expunged
//! since the SAVE are gone from the view and so drop out (§2.1).

use crate::proto::types::SearchKey;
use crate::proto::types::{CommandBody, SequenceSet};
use crate::session::Session;
use crate::store::Uid;

/// Replaces each `$` in `body` with the saved result.
pub fn expand(s: &Session, body: &mut CommandBody) {
    let uids = &s.saved_search;
    let view: &[Uid] = s.selected.as_ref().map_or(&[], |sel| sel.uids());
    let as_uids = || SequenceSet::from_sorted(uids);
    let as_msns = || {
        let msns: Vec<u32> = uids
            .iter()
            .filter_map(|&u| view.binary_search(&Uid(u)).ok().map(|i| i as u32 + 1))
            .collect();
        SequenceSet::from_sorted(&msns)
    };
    let fill = |set: &mut SequenceSet, uid: bool| {
        if set.is_saved() {
            *set = if uid { as_uids() } else { as_msns() };
        }
    };
    match body {
        CommandBody::Fetch { set, uid, .. }
        | CommandBody::Store { set, uid, .. }
        | CommandBody::Copy { set, uid, .. } => fill(set, *uid),
        CommandBody::Expunge { uids: Some(set) } => fill(set, true),
        CommandBody::Search { keys, .. }
        | CommandBody::Sort { keys, .. }
        | CommandBody::Thread { keys, .. } => {
            for key in keys {
                expand_key(key, &fill);
            }
        }
        _ => {}
    }
}

/// `$` in SEARCH keys: a bare set is sequence numbers, `UID $` UIDs, at
/// any depth (RFC 5182 §2.2 example 4: `OR $ 1,3000:3021`).
fn expand_key(key: &mut SearchKey, fill: &impl Fn(&mut SequenceSet, bool)) {
    match key {
        SearchKey::SequenceSet(set) => fill(set, false),
        SearchKey::Uid(set) => fill(set, true),
        SearchKey::Not(k) => expand_key(k, fill),
        SearchKey::Or(a, b) => {
            expand_key(a, fill);
            expand_key(b, fill);
        }
        SearchKey::And(keys) => {
            for k in keys {
                expand_key(k, fill);
            }
        }
        _ => {}
    }
}
