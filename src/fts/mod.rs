//! A full-text index for SEARCH TEXT, BODY and the header keys: per
//! mailbox, the set of byte trigrams of each message's searchable text (the
//! folded part texts SEARCH itself matches against, `search::part_texts`,
//! and the forms header keys match, `search::indexed_field_texts`), kept as
//! posting lists in `roost-fts/` beside `dovecot-uidlist`.
//!
//! The index only narrows: a message lacking one trigram of a search
//! string cannot contain it, so it is skipped; every remaining candidate
//! is still checked by the ordinary search. Answers therefore never differ
//! from an unindexed search, and deleting `roost-fts/` only costs a
//! rebuild.
//!
//! Layout: a large `main` segment and a small `delta` one. New mail goes
//! into `delta` at the next search; when `delta` grows past a tenth of
//! `main` (or 2,000 messages), both are merged into a new `main`, which
//! also drops expunged messages. Each segment is written to a temporary
//! file and renamed into place. Only the segments' tables (trigram →
//! where its list is) stay in memory; posting lists are read when a
//! search needs them.

mod segment;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, TryLockError};

use segment::{Postings, Segment};

/// Directory of the index, inside the mailbox's Maildir directory.
pub(crate) const DIR: &str = "roost-fts";

/// Messages whose text is longer than this are not indexed: they stay
/// candidates of every search (read and checked each time).
const MAX_TEXT: usize = 8 << 20;

/// One clause of what a search requires: at least one of these (folded)
/// strings must occur in a matching message's text.
pub(crate) type Clause = Vec<String>;

/// Indexes of the mailboxes searched so far, by directory.
fn open_indexes() -> &'static Mutex<HashMap<PathBuf, Arc<Mutex<Index>>>> {
    static INDEXES: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<Index>>>>> = OnceLock::new();
    INDEXES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The index of one mailbox.
struct Index {
    dir: PathBuf,
    uidvalidity: u32,
    main: Segment,
    delta: Segment,
    /// A thread is indexing this mailbox; searches meanwhile read it.
    building: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The trigrams of a search string (folded as SEARCH folds it).
fn needle_trigrams(needle: &str) -> Vec<u32> {
    let mut t: Vec<u32> = needle.as_bytes().windows(3).map(key).collect();
    t.sort_unstable();
    t.dedup();
    t
}

fn key(w: &[u8]) -> u32 {
    (u32::from(w[0]) << 16) | (u32::from(w[1]) << 8) | u32::from(w[2])
}

/// The trigrams of one message, or `None` when it is not to be indexed.
pub(crate) fn message_trigrams(raw: &[u8]) -> Option<Vec<u32>> {
    let crlf = crate::mime::raw::to_crlf(raw);
    let parts = crate::search::part_texts(&crlf);
    if parts.iter().map(|p| p.text.len()).sum::<usize>() > MAX_TEXT {
        return None;
    }
    let header = crate::search::header_fields(&crlf, None);
    let extra = crate::search::indexed_field_texts(&header);
    let mut t: Vec<u32> = parts
        .iter()
        .map(|p| p.text.as_str())
        .chain(extra.iter().map(String::as_str))
        .flat_map(|text| text.as_bytes().windows(3).map(key))
        .collect();
    t.sort_unstable();
    t.dedup();
    Some(t)
}

/// Supplies a message's bytes by UID, for indexing; None if it is gone.
pub(crate) type Reader = Box<dyn FnMut(u32) -> Option<Vec<u8>> + Send>;

/// More messages than this left to index, and a search does not wait:
/// it reads the mailbox as it would without an index (a 100,000-message
/// scan takes seconds, the index build far longer) while a thread builds
/// the index for the searches after it.
const BUILD_BEHIND: usize = 500;

/// Background builds running at once, in the whole process.
const MAX_BUILDERS: usize = 2;
static BUILDERS: AtomicUsize = AtomicUsize::new(0);

/// Which of `wanted` may match, given `clauses`; `None` when the index
/// cannot narrow it (no usable clause, or it is being built). `uids` are
/// all the mailbox's messages now (what the index keeps); `read` supplies
/// a message's bytes for indexing.
pub(crate) fn candidates(
    mailbox_dir: &Path,
    uidvalidity: u32,
    uids: &[u32],
    wanted: &[u32],
    clauses: &[Clause],
    mut read: Reader,
) -> Option<Vec<u32>> {
    // A clause helps only if each of its strings has a trigram.
    let usable: Vec<Vec<Vec<u32>>> = clauses
        .iter()
        .map(|c| c.iter().map(|s| needle_trigrams(s)).collect::<Vec<_>>())
        .filter(|c: &Vec<Vec<u32>>| !c.is_empty() && c.iter().all(|t| !t.is_empty()))
        .collect();
    if usable.is_empty() || uids.is_empty() {
        return None;
    }
    let index = {
        let mut all = lock(open_indexes());
        Arc::clone(
            all.entry(mailbox_dir.to_path_buf())
                .or_insert_with(|| Arc::new(Mutex::new(Index::open(mailbox_dir, uidvalidity)))),
        )
    };
    let mut ix = match index.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        // A build holds it: this search reads the mailbox instead.
        Err(TryLockError::WouldBlock) => return None,
    };
    if ix.building {
        return None;
    }
    if ix.uidvalidity != uidvalidity {
        *ix = Index::empty(mailbox_dir, uidvalidity);
    }
    let missing = ix.missing(uids);
    if missing.len() > BUILD_BEHIND {
        ix.building = true;
        drop(ix);
        build_in_background(index, uids.to_vec(), read);
        return None;
    }
    if let Err(e) = ix.catch_up(uids, missing, &mut *read) {
        log::warn!(
            "fts {}: cannot update the index: {e}",
            mailbox_dir.display()
        );
    }
    let mut result: Option<Vec<u32>> = None;
    for clause in usable {
        let mut any: Vec<u32> = Vec::new();
        for trigrams in clause {
            any.extend(ix.containing_all(&trigrams));
        }
        any.sort_unstable();
        any.dedup();
        result = Some(match result {
            None => any,
            Some(prev) => intersect(&prev, &any),
        });
    }
    // Messages not (yet) indexed are always candidates.
    let mut out = result.unwrap_or_default();
    out.extend(ix.unindexed(uids));
    out.sort_unstable();
    out.dedup();
    Some(intersect(&out, &sorted(wanted)))
}

/// Indexes `uids` on a thread of its own. The thread is started from the
/// session's, so it runs as the session's user (Linux credentials are per
/// thread and a new thread inherits its creator's).
fn build_in_background(index: Arc<Mutex<Index>>, uids: Vec<u32>, mut read: Reader) {
    let done = |index: &Mutex<Index>| {
        lock(index).building = false;
        BUILDERS.fetch_sub(1, Ordering::AcqRel);
    };
    if BUILDERS.fetch_add(1, Ordering::AcqRel) >= MAX_BUILDERS {
        // Busy enough: a later search will try again.
        done(&index);
        return;
    }
    let for_thread = Arc::clone(&index);
    let spawned = std::thread::Builder::new()
        .name("fts-build".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let mut ix = lock(&for_thread);
            let missing = ix.missing(&uids);
            let todo = missing.len();
            match ix.catch_up(&uids, missing, &mut *read) {
                Ok(()) => log::info!(
                    "fts {}: indexed {todo} messages in {} ms",
                    ix.dir.display(),
                    started.elapsed().as_millis()
                ),
                Err(e) => log::warn!("fts {}: cannot build the index: {e}", ix.dir.display()),
            }
            drop(ix);
            done(&for_thread);
        });
    if let Err(e) = spawned {
        log::warn!("fts: cannot start an index thread: {e}");
        done(&index);
    }
}

/// The UIDs of `uids` that `listed` rejects. Ascending `uids` (a
/// mailbox's, always) let each sorted list be walked once instead of
/// searched per UID.
fn not_listed(uids: &[u32], mut listed: impl FnMut(u32) -> bool) -> Vec<u32> {
    uids.iter().copied().filter(|&u| !listed(u)).collect()
}

fn sorted(v: &[u32]) -> Vec<u32> {
    let mut s = v.to_vec();
    s.sort_unstable();
    s
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Messages indexed per merge at least before `delta` folds into `main`.
const DELTA_MIN: usize = 2_000;

impl Index {
    fn empty(dir: &Path, uidvalidity: u32) -> Index {
        let base = dir.join(DIR);
        Index {
            dir: base.clone(),
            uidvalidity,
            main: Segment::empty(base.join("main")),
            delta: Segment::empty(base.join("delta")),
            building: false,
        }
    }

    fn open(dir: &Path, uidvalidity: u32) -> Index {
        let base = dir.join(DIR);
        let main = Segment::load(&base.join("main"));
        let delta = Segment::load(&base.join("delta"));
        match (main, delta) {
            (Some(m), Some(d)) if m.uidvalidity == uidvalidity && d.uidvalidity == uidvalidity => {
                Index {
                    dir: base,
                    uidvalidity,
                    main: m,
                    delta: d,
                    building: false,
                }
            }
            (Some(m), None) if m.uidvalidity == uidvalidity => Index {
                dir: base.clone(),
                uidvalidity,
                main: m,
                delta: Segment::empty(base.join("delta")),
                building: false,
            },
            _ => Index::empty(dir, uidvalidity),
        }
    }

    /// UIDs of `uids` not in the index yet.
    fn missing(&self, uids: &[u32]) -> Vec<u32> {
        let (mut main, mut delta) = (self.main.docs(), self.delta.docs());
        not_listed(uids, |u| main.listed(u) || delta.listed(u))
    }

    /// UIDs of `uids` that no segment covers: not indexed, or kept raw.
    fn unindexed(&self, uids: &[u32]) -> Vec<u32> {
        let (mut main, mut delta) = (self.main.docs(), self.delta.docs());
        let (mut main_raw, mut delta_raw) = (self.main.raws(), self.delta.raws());
        not_listed(uids, |u| {
            (main.listed(u) || delta.listed(u)) && !main_raw.listed(u) && !delta_raw.listed(u)
        })
    }

    fn containing_all(&self, trigrams: &[u32]) -> Vec<u32> {
        let mut out = self.main.containing_all(trigrams);
        out.extend(self.delta.containing_all(trigrams));
        out.sort_unstable();
        out
    }

    /// Indexes `missing`, the messages of `uids` not in the index yet.
    fn catch_up(
        &mut self,
        uids: &[u32],
        missing: Vec<u32>,
        read: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
    ) -> std::io::Result<()> {
        if missing.is_empty() {
            return Ok(());
        }
        let mut fresh = Postings::default();
        for uid in missing {
            match read(uid) {
                Some(bytes) => match message_trigrams(&bytes) {
                    Some(t) => fresh.add(uid, &t),
                    None => fresh.add_raw(uid),
                },
                // Gone meanwhile: nothing to index.
                None => continue,
            }
        }
        std::fs::create_dir_all(&self.dir)?;
        let delta_docs = self.delta.doc_count() + fresh.doc_count();
        let keep: std::collections::HashSet<u32> = uids.iter().copied().collect();
        if delta_docs > DELTA_MIN.max(self.main.doc_count() / 10) {
            // Fold everything into a new main, without expunged messages.
            let mut all = self.main.read_all()?;
            all.merge(self.delta.read_all()?);
            all.merge(fresh);
            all.retain(&keep);
            self.main = all.write(&self.dir.join("main"), self.uidvalidity)?;
            self.delta = Postings::default().write(&self.dir.join("delta"), self.uidvalidity)?;
        } else {
            let mut d = self.delta.read_all()?;
            d.merge(fresh);
            d.retain(&keep);
            if self.main.doc_count() == 0 && !self.main.path_exists() {
                let _ = Postings::default()
                    .write(&self.dir.join("main"), self.uidvalidity)
                    .map(|m| self.main = m);
            }
            self.delta = d.write(&self.dir.join("delta"), self.uidvalidity)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
