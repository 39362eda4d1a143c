//! Searches and sorts the client keeps updated (RFC 5267 §4: CONTEXT=SEARCH
//! and CONTEXT=SORT): `RETURN (UPDATE)` remembers the keys with the result;
//! after each command (and while idling) the changed ones are run again and
//! the difference is sent as `ADDTO` / `REMOVEFROM`; CANCELUPDATE ends
//! them. Shared by SEARCH and SORT like `condstore`; it runs both engines.

use super::matches::find;
use crate::error::{Error, Tagged};
use crate::proto::types::{SearchKey, SortCriterion};
use crate::selected::{write_context_diff, SearchContext};
use crate::session::Session;
use crate::store::Uid;

/// Kept searches per session at most; more get NOUPDATE.
const MAX_CONTEXTS: usize = 8;

/// Remembers a `RETURN (UPDATE)` search or sort with its result (`found`:
/// numbers in result order); false when the session keeps as many as it may.
pub fn keep(
    s: &mut Session,
    tag: &[u8],
    charset: Option<&str>,
    keys: &[SearchKey],
    sort: Option<&[SortCriterion]>,
    uid: bool,
    found: &[u32],
) -> bool {
    let Some(sel) = s.selected.as_mut() else {
        return false;
    };
    if sel.contexts.len() >= MAX_CONTEXTS {
        return false;
    }
    let view = sel.uids();
    let mut result: Vec<Uid> = if uid {
        found.iter().map(|&u| Uid(u)).collect()
    } else {
        found
            .iter()
            .filter_map(|&n| view.get(n as usize - 1).copied())
            .collect()
    };
    if sort.is_none() {
        result.sort_unstable();
    }
    let at = (sel.mailbox().change_counter(), view.len());
    sel.contexts.retain(|c| c.tag != tag);
    sel.contexts.push(SearchContext {
        tag: tag.to_vec(),
        uid,
        charset: charset.map(str::to_string),
        keys: keys.to_vec(),
        sort: sort.map(<[SortCriterion]>::to_vec),
        result,
        at,
    });
    true
}

/// CANCELUPDATE (RFC 5267 §4.3).
pub fn cancel(s: &mut Session, tags: &[Vec<u8>]) -> Result<Tagged, Error> {
    if let Some(sel) = s.selected.as_mut() {
        sel.contexts.retain(|c| !tags.contains(&c.tag));
    }
    Ok(Tagged::ok("Updates cancelled."))
}

/// Re-runs the kept searches whose mailbox changed and tells the client
/// what joined and what left each result.
pub fn update(s: &mut Session) -> Result<(), Error> {
    let Some(sel) = s.selected.as_ref() else {
        return Ok(());
    };
    if sel.contexts.is_empty() {
        return Ok(());
    }
    let now = (sel.mailbox().change_counter(), sel.uids().len());
    let stale: Vec<SearchContext> = sel
        .contexts
        .iter()
        .filter(|c| c.at != now)
        .cloned()
        .collect();
    let mut fresh = Vec::new();
    for ctx in stale {
        let found = match &ctx.sort {
            None => find(s, ctx.charset.as_deref(), &ctx.keys, true)?.0,
            Some(criteria) => {
                let charset = ctx.charset.as_deref().unwrap_or("UTF-8");
                super::sort::sorted_uids(s, criteria, charset, &ctx.keys)?
            }
        };
        fresh.push((ctx.tag, found));
    }
    let Some(sel) = s.selected.as_mut() else {
        return Ok(());
    };
    let view: Vec<Uid> = sel.uids().to_vec();
    for (tag, found) in fresh {
        let Some(ctx) = sel.contexts.iter_mut().find(|c| c.tag == tag) else {
            continue;
        };
        let new: Vec<Uid> = found.iter().map(|&u| Uid(u)).collect();
        let uid = ctx.uid;
        let number = |u: Uid| -> Option<u32> {
            if uid {
                Some(u.0)
            } else {
                view.binary_search(&u).ok().map(|i| i as u32 + 1)
            }
        };
        write_context_diff(&mut s.out, ctx, &new, &number);
        ctx.result = new;
        ctx.at = now;
    }
    Ok(())
}
