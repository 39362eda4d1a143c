//! Which messages of the session's view a search program matches: the
//! two passes SEARCH, SORT and THREAD share.
//!
//! First every message is tried with what the shared state knows: flags, \Recent, UIDs, sizes from `,W=` in file
//! names. Most searches end there. The messages whose outcome depends on
//! their contents (or a date, which takes a `stat`) are then read, their
//! paths looked up a few hundred at a time, each file once
//! (`search::MessageFile`).

use crate::error::Error;
use crate::proto::encode::Code;
use crate::proto::types::SearchKey;
use crate::search::{CompileError, Facts, IndexOnly, MessageFile, Query, Scope, Stop, CHARSETS};
use crate::selected::Seq;
use crate::session::Session;
use crate::store::{Mailbox, Uid};

/// Messages whose paths are looked up at once in the second pass.
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
    s: &mut Session,
    charset: Option<&str>,
    keys: &[SearchKey],
    uid: bool,
) -> Result<(Vec<u32>, Vec<u64>, bool), Error> {
    let Some(sel) = s.selected.as_ref() else {
        return Err(Error::bad("No mailbox selected."));
    };
    // Owned, so the session is free for progress reports below.
    let mailbox = sel.mailbox().clone();
    let mailbox = &mailbox;
    let scope = Scope {
        exists: sel.exists(),
        last_uid: sel.uids().last().map_or(0, |u| u.0),
    };
    let number = |f: &Facts| if uid { f.uid } else { f.msn };
    let mut found = Vec::new();
    let mut pending = Vec::new();
    let mut lost = false;
    // Flag changes other programs made since the last command count.
    mailbox.sync()?;
    let query = Query::compile(keys, charset, scope, |name| mailbox.keyword_index(name))
        .map_err(compile_error)?;
    let known = mailbox.facts(sel.uids());
    for (i, (&msg_uid, now)) in sel.uids().iter().zip(known).enumerate() {
        let msn = i as u32 + 1;
        let facts = Facts {
            msn,
            uid: msg_uid.0,
            flags: now.map_or_else(|| sel.reported_flags(Seq(msn)), |n| n.flags),
            recent: sel.is_recent(msg_uid),
            modseq: now.map_or(0, |n| n.modseq),
        };
        let vsize = now.and_then(|n| n.vsize);
        match query.eval(&facts, &mut IndexOnly { vsize }) {
            Ok(Some(true)) => found.push((number(&facts), facts.modseq)),
            Ok(Some(false)) => {}
            // Only the contents can tell; an expunged message has none.
            Ok(None) | Err(_) if now.is_some() => pending.push(Pending { facts, vsize }),
            Ok(None) | Err(_) => lost = true,
        }
    }

    narrow_by_index(s, mailbox, &query, &mut pending);
    let total = scope.exists as u64;
    let mut progress = super::progress::Progress::new(total - pending.len() as u64, total);
    let mut learned = Vec::new();
    for batch in pending.chunks(PATH_BATCH) {
        let uids: Vec<Uid> = batch.iter().map(|p| Uid(p.facts.uid)).collect();
        for (p, at) in batch.iter().zip(mailbox.locations(&uids)) {
            let Some(at) = at else {
                lost = true;
                continue;
            };
            let mut path = at.path;
            let matched = mailbox.read_file(Uid(p.facts.uid), &mut path, |path| {
                let mut file = MessageFile::new(path.to_path_buf(), p.vsize)
                    .with_cached(at.cached.clone())
                    .with_saved(at.saved);
                let outcome = query.eval(&p.facts, &mut file);
                if let Some(v) = file.learned_vsize() {
                    learned.push((Uid(p.facts.uid), v));
                }
                match outcome {
                    Ok(m) => Ok(Some(m == Some(true))),
                    Err(Stop::Gone) => Ok(None),
                    Err(Stop::Io(e)) => {
                        Err(Error::Server(format!("reading {}: {e}", path.display())))
                    }
                }
            })?;
            match matched {
                Some(true) => found.push((number(&p.facts), p.facts.modseq)),
                Some(false) => {}
                None => lost = true,
            }
        }
        progress.advance(s, batch.len() as u64);
    }
    if !learned.is_empty() {
        mailbox.learn_vsizes(&learned);
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
fn narrow_by_index(s: &Session, mailbox: &Mailbox, query: &Query, pending: &mut Vec<Pending>) {
    if !s.ctx.config.fts_index || pending.len() < INDEX_MIN {
        return;
    }
    let clauses = query.required_texts();
    if clauses.is_empty() {
        return;
    }
    let dir = mailbox.dir();
    let (uidvalidity, all) = mailbox.uid_list();
    let wanted: Vec<u32> = pending.iter().map(|p| p.facts.uid).collect();
    let handle = mailbox.clone();
    let read: crate::fts::Reader = Box::new(move |uid: u32| {
        let at = handle.locations(&[Uid(uid)]).pop().flatten()?;
        let mut f = crate::store::nofollow::options()
            .read(true)
            .open(at.path)
            .ok()?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).ok()?;
        Some(bytes)
    });
    if let Some(keep) = crate::fts::candidates(&dir, uidvalidity, &all, &wanted, &clauses, read) {
        log::debug!(
            "fts {}: {} of {} messages to read",
            dir.display(),
            keep.len(),
            pending.len()
        );
        pending.retain(|p| keep.binary_search(&p.facts.uid).is_ok());
    }
}

fn compile_error(e: CompileError) -> Error {
    match e {
        // RFC 3501 §6.4.4: NO, listing what is supported.
        CompileError::BadCharset => Error::no(Some(Code::BadCharset(CHARSETS)), "Unknown charset."),
        CompileError::NotUtf8 => Error::bad("Invalid search string: not UTF-8."),
    }
}
