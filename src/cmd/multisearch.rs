//! MULTISEARCH (RFC 7377): `ESEARCH IN (...)` searches several of the
//! user's mailboxes in one command, in the authenticated state too. Each
//! mailbox not selected is opened read-only for the search, as EXAMINE
//! would (no \Recent is claimed), and the selected one is left alone.
//! Results are always UIDs; each mailbox's answer names it and its
//! UIDVALIDITY in the correlator.

use super::common::{mailbox_name, wire_text};
use super::matches::find;
use super::search::write_esearch_items;
use crate::error::{Error, Tagged};
use crate::proto::types::{NotifyFilter, SearchKey, SearchReturn, SearchSource};
use crate::selected::Selected;
use crate::session::Session;
use crate::store::names::MailboxName;
use crate::store::StoreError;

pub fn multi_search(
    s: &mut Session,
    tag: &[u8],
    sources: Option<&[SearchSource]>,
    charset: Option<&str>,
    keys: &[SearchKey],
    ret: Option<SearchReturn>,
) -> Result<Tagged, Error> {
    if charset.is_some() && s.enabled.utf8_accept {
        return Err(Error::bad("CHARSET isn't allowed after ENABLE UTF8=ACCEPT"));
    }
    // RFC 4731 §3.1: no RETURN is RETURN (ALL).
    let ret = ret.unwrap_or(SearchReturn {
        all: true,
        ..SearchReturn::default()
    });
    // `$` and kept searches belong to one selected mailbox (RFC 7377 §2).
    if ret.save || ret.update {
        return Err(Error::bad("SAVE and UPDATE can't be used with ESEARCH."));
    }
    let names = match sources {
        None => match s.selected.as_ref() {
            Some(sel) => vec![sel.name.clone()],
            None => return Err(Error::bad("No mailbox selected.")),
        },
        Some(list) => mailboxes(s, list)?,
    };
    for name in names {
        let Some((uidvalidity, found)) = search_one(s, &name, charset, keys)? else {
            continue;
        };
        // RFC 7377 §2.1: no ESEARCH response for a mailbox without matches
        // (mox does the same).
        if found.is_empty() {
            continue;
        }
        let wire = {
            let store = s.store()?;
            wire_text(s, &store.namespace().to_wire(&name))
        };
        s.out
            .untagged()
            .raw("ESEARCH (TAG ")
            .string(tag)
            .raw(" MAILBOX ")
            .string(&wire)
            .raw(" UIDVALIDITY ")
            .number(uidvalidity.into())
            .raw(")");
        write_esearch_items(&mut s.out, true, &ret, &found, None);
    }
    Ok(Tagged::ok("Search completed."))
}

/// The mailboxes the filters name, each once, in the order named.
fn mailboxes(s: &Session, list: &[SearchSource]) -> Result<Vec<MailboxName>, Error> {
    let mut names: Vec<MailboxName> = Vec::new();
    for source in list {
        let found = match source {
            SearchSource::Filter(NotifyFilter::Selected | NotifyFilter::SelectedDelayed) => {
                s.selected.iter().map(|sel| sel.name.clone()).collect()
            }
            SearchSource::Filter(f) => super::notify::resolve(s, f)?,
            SearchSource::SubtreeOne(raw) => {
                let roots: Vec<MailboxName> = raw
                    .iter()
                    .map(|r| mailbox_name(s, r))
                    .collect::<Result<_, _>>()?;
                s.store()?
                    .list()?
                    .into_iter()
                    .filter(|e| e.selectable)
                    .map(|e| e.name)
                    .filter(|n| roots.iter().any(|r| n == r || is_direct_child(n, r)))
                    .collect()
            }
        };
        for n in found {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    Ok(names)
}

fn is_direct_child(name: &MailboxName, root: &MailboxName) -> bool {
    name.is_child_of(root) && name.levels().len() == root.levels().len() + 1
}

/// UIDVALIDITY and matching UIDs of one mailbox; None if it is gone.
fn search_one(
    s: &mut Session,
    name: &MailboxName,
    charset: Option<&str>,
    keys: &[SearchKey],
) -> Result<Option<(u32, Vec<u32>)>, Error> {
    if let Some(sel) = s.selected.as_ref().filter(|sel| &sel.name == name) {
        let uidvalidity = sel.mailbox().uid_list().0;
        let (found, _, _) = find(s, charset, keys, true)?;
        return Ok(Some((uidvalidity, found)));
    }
    let (view, info) = match Selected::open(s.store()?, name.clone(), true) {
        Ok(v) => v,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // `find` searches the session's view: lend it this one for a moment.
    let mine = s.selected.replace(view);
    let result = find(s, charset, keys, true);
    s.selected = mine;
    let (found, _, _) = result?;
    Ok(Some((info.uidvalidity, found)))
}
