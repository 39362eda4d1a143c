//! Which messages of the session's view a search program matches: the
//! two passes SEARCH, SORT and THREAD share.
//!
//! First, under the mailbox lock, every message is tried with what the
//! shared state knows: flags, \Recent, UIDs, sizes from `,W=` in file
//! names. Most searches end there. The messages whose outcome depends on
//! their contents (or a date, which takes a `stat`) are then read with the
//! lock released, a few hundred at a time, each file once
//! (`search::MessageFile`).

use crate::error::Error;
use crate::proto::encode::Code;
use crate::proto::types::SearchKey;
use crate::search::{CompileError, Facts, IndexOnly, MessageFile, Query, Scope, Stop, CHARSETS};
use crate::session::{Session, User};
use crate::store::lock;
use crate::store::state::MailboxState;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Messages whose paths are looked up under one lock in the second pass.
const PATH_BATCH: usize = 256;

/// A message the first pass could not decide.
struct Pending {
    facts: Facts,
    vsize: Option<u64>,
}

/// Runs the search: the matching numbers (UIDs with `uid`), ascending;
/// their mod-sequences, in the same order; and whether some message could
/// not be judged because it was expunged.
pub(crate) fn find(
    s: &Session,
    charset: Option<&str>,
    keys: &[SearchKey],
    uid: bool,
) -> Result<(Vec<u32>, Vec<u64>, bool), Error> {
    let (Some(sel), Some(user)) = (s.selected.as_ref(), s.user.as_ref()) else {
        return Err(Error::bad("No mailbox selected."));
    };
    let scope = Scope {
        exists: sel.exists(),
        last_uid: sel.uids().last().copied().unwrap_or(0),
    };
    let number = |f: &Facts| if uid { f.uid } else { f.msn };
    let state = Arc::clone(sel.state());
    let mut found = Vec::new();
    let mut pending = Vec::new();
    let mut lost = false;
    let query = {
        let mut st = lock(&state);
        // Flag changes other programs made since the last command count.
        user.store.sync(&mut st)?;
        let query = Query::compile(keys, charset, scope, |name| st.keywords.index_of(name))
            .map_err(compile_error)?;
        for (i, &msg_uid) in sel.uids().iter().enumerate() {
            let msn = i as u32 + 1;
            let pos = st.position(msg_uid);
            let facts = Facts {
                msn,
                uid: msg_uid,
                flags: pos.map_or_else(|| sel.reported_flags(msn), |p| st.messages[p].flags),
                recent: sel.is_recent(msg_uid),
                modseq: pos.map_or(0, |p| st.messages[p].modseq),
            };
            let vsize = pos.and_then(|p| st.messages[p].vsize);
            match query.eval(&facts, &mut IndexOnly { vsize }) {
                Ok(Some(true)) => found.push((number(&facts), facts.modseq)),
                Ok(Some(false)) => {}
                // Only the contents can tell; an expunged message has none.
                Ok(None) | Err(_) if pos.is_some() => pending.push(Pending { facts, vsize }),
                Ok(None) | Err(_) => lost = true,
            }
        }
        query
    };

    narrow_by_index(s, user, &state, &query, &mut pending);
    let mut learned = Vec::new();
    for batch in pending.chunks(PATH_BATCH) {
        type Located = Option<(
            PathBuf,
            Option<std::sync::Arc<crate::store::cache::CachedMeta>>,
        )>;
        let paths: Vec<Located> = {
            let st = lock(&state);
            batch
                .iter()
                .map(|p| {
                    st.position(p.facts.uid)
                        .map(|i| (st.path_of(&st.messages[i]), st.cache.get(p.facts.uid)))
                })
                .collect()
        };
        for (p, path) in batch.iter().zip(paths) {
            let Some((mut path, cached)) = path else {
                lost = true;
                continue;
            };
            for attempt in 0..2 {
                let mut file = MessageFile::new(path.clone(), p.vsize).with_cached(cached.clone());
                let outcome = query.eval(&p.facts, &mut file);
                if let Some(v) = file.learned_vsize() {
                    learned.push((p.facts.uid, v));
                }
                match outcome {
                    Ok(Some(true)) => found.push((number(&p.facts), p.facts.modseq)),
                    Ok(_) => {}
                    Err(Stop::Gone) => match relocate(user, &state, p.facts.uid)? {
                        // Renamed by a flag change meanwhile: read it there.
                        Some(moved) if attempt == 0 && moved != path => {
                            path = moved;
                            continue;
                        }
                        _ => lost = true,
                    },
                    Err(Stop::Io(e)) => {
                        return Err(Error::Server(format!("reading {}: {e}", path.display())))
                    }
                }
                break;
            }
        }
    }
    if !learned.is_empty() {
        // Sizes read from files, kept as MailboxState::vsize would.
        let mut st = lock(&state);
        for (msg_uid, v) in learned {
            if let Some(i) = st.position(msg_uid) {
                st.messages[i].vsize.get_or_insert(v);
            }
        }
    }

    found.sort_unstable();
    found.dedup_by_key(|&mut (n, _)| n);
    let (found, modseqs) = found.into_iter().unzip();
    Ok((found, modseqs, lost))
}

/// Searches that leave fewer messages to read skip the full-text index.
const INDEX_MIN: usize = 64;

/// Drops the pending messages the full-text index shows cannot match
/// (`crate::fts`); the rest are still read and checked.
fn narrow_by_index(
    s: &Session,
    user: &User,
    state: &Mutex<MailboxState>,
    query: &Query,
    pending: &mut Vec<Pending>,
) {
    if !s.ctx.config.fts_index || pending.len() < INDEX_MIN {
        return;
    }
    let clauses = query.required_texts();
    if clauses.is_empty() {
        return;
    }
    let (dir, uidvalidity, all) = {
        let st = lock(state);
        let all: Vec<u32> = st.messages.iter().map(|m| m.uid).collect();
        (st.dir().to_path_buf(), st.uidvalidity, all)
    };
    let wanted: Vec<u32> = pending.iter().map(|p| p.facts.uid).collect();
    let mut read = |uid: u32| {
        let path = {
            let st = lock(state);
            st.position(uid).map(|i| st.path_of(&st.messages[i]))
        }?;
        let mut f = crate::store::nofollow::options()
            .read(true)
            .open(path)
            .ok()?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).ok()?;
        Some(bytes)
    };
    let _ = user;
    if let Some(keep) =
        crate::fts::candidates(&dir, uidvalidity, &all, &wanted, &clauses, &mut read)
    {
        log::debug!(
            "fts {}: {} of {} messages to read",
            dir.display(),
            keep.len(),
            pending.len()
        );
        pending.retain(|p| keep.binary_search(&p.facts.uid).is_ok());
    }
}

/// Where a message's file is now, after a fresh look at the disk; `None`
/// when it is gone.
fn relocate(user: &User, state: &Mutex<MailboxState>, uid: u32) -> Result<Option<PathBuf>, Error> {
    Ok(user.store.locate(&mut lock(state), uid)?)
}

fn compile_error(e: CompileError) -> Error {
    match e {
        // RFC 3501 §6.4.4: NO, listing what is supported.
        CompileError::BadCharset => Error::no(Some(Code::BadCharset(CHARSETS)), "Unknown charset."),
        CompileError::NotUtf8 => Error::bad("Invalid search string: not UTF-8."),
    }
}
