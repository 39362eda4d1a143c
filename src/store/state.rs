//! One mailbox's state in memory, shared by every session that uses it, and
//! its synchronisation with the Maildir on disk.
//!
//! # How a sync works
//!
//! The Maildir is the truth; this is a cache of it that is cheap to
//! revalidate. A sync first `stat()`s `new/`, `cur/` and `dovecot-uidlist`.
//! If none changed since the last sync, and none changed within the last
//! second (a second change in the same second would leave the mtime alone:
//! the "dirty window" rule), nothing is read at all; that is what makes a
//! warm SELECT or STATUS cheap.
//!
//! Otherwise both directories are read. Every file is matched to its UID
//! by its base name (the part before `:`) through the `dovecot-uidlist`
//! records. Files the uidlist does not know get new UIDs, from the stored
//! next UID upward, in delivery order — under `dovecot-uidlist.lock`, after
//! re-reading the uidlist and the directories once more with the lock held,
//! because another process (Dovecot's LDA, another Roost) may have assigned
//! UIDs meanwhile and `readdir()` can miss files that are renamed while it
//! runs. Messages whose files are gone are expunged from the state; that is
//! also decided only on a scan made under the lock.
//!
//! New records are appended to the uidlist, as Dovecot does; the file is
//! rewritten (temporary file + rename) only when it is missing, damaged or
//! mostly made of records for expunged messages. Its UIDVALIDITY is never
//! changed while Roost knows it: if the file vanishes, it is written back
//! from memory.

use super::dotlock::{DotLock, UIDLIST_LOCK};
use super::keywords::Keywords;
use super::maildir::{self, Flags};
use super::modseq::ModseqLog;
use super::uidlist::{self, UidList, UidRecord};
use super::StoreError;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Changes within this long of "now" may hide a second change with the
/// same mtime, so the directory counts as changed until it is older.
const DIRTY_WINDOW: Duration = Duration::from_secs(1);

/// One message as the shared state knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub uid: u32,
    /// The current file name, in `cur/` (or `new/` when `in_new`).
    pub file: Box<str>,
    pub in_new: bool,
    pub flags: Flags,
    /// RFC822.SIZE when known without reading the file (`,W=` or uidlist `W`).
    pub vsize: Option<u64>,
    /// RFC 7162 mod-sequence: when the flags last changed (or it arrived).
    pub modseq: u64,
}

impl Message {
    pub fn base(&self) -> &str {
        self.file
            .split(maildir::INFO_SEP)
            .next()
            .unwrap_or(&self.file)
    }
}

/// What identifies a version of a file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }

    fn recent(&self, now: SystemTime) -> bool {
        let now_ns = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        now_ns - self.mtime_ns < DIRTY_WINDOW.as_nanos() as i128
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamps {
    new: Stamp,
    cur: Stamp,
    uidlist: Option<Stamp>,
    keywords: Option<Stamp>,
}

/// The shared state of one mailbox.
#[derive(Debug)]
pub struct MailboxState {
    dir: PathBuf,
    pub uidvalidity: u32,
    pub next_uid: u32,
    /// Present messages, ascending by UID.
    pub messages: Vec<Message>,
    /// Messages with a UID at or above this are \Recent for the next session
    /// that claims them (RFC 3501 §2.3.2: exactly one session sees them so).
    pub first_recent_uid: u32,
    pub keywords: Keywords,
    /// ENVELOPE, BODYSTRUCTURE and friends of messages already parsed.
    pub cache: super::cache::MessageCache,
    /// Orders of recent one-key SORTs, reused while they cover the mailbox.
    pub sort_orders: Vec<std::sync::Arc<crate::sort::order::KeyOrder>>,
    /// Mod-sequences (RFC 7162) and their journal.
    pub modseq: ModseqLog,
    /// Increases whenever anything above changes, so sessions can skip
    /// comparing when nothing happened.
    pub change: u64,
    /// RFC 8514 save dates (seconds): from the uidlist's `T` fields, set
    /// when a UID is given (the file's ctime then), or noted before Roost
    /// itself changed a file's ctime (a flag rename, a COPY's hard link);
    /// others read the ctime. Dovecot keeps them in its index cache.
    pub saved: super::name_hash::UidMap<i64>,
    /// Base name → UID for every uidlist record (present or not).
    uid_of: super::name_hash::NameMap<u32>,
    /// Uidlist record fields other than the save date (Dovecot's `W`, `P`,
    /// ...), written back when the file is rewritten.
    /// Sorted by UID (the file's order), so a cold load only pushes.
    other_ext: Vec<(u32, Box<str>)>,
    records_in_file: usize,
    /// The uidlist file parsed cleanly as version 3 and needs no rewrite.
    uidlist_ok: bool,
    guid: Option<String>,
    extra_header: Vec<String>,
    stamps: Option<Stamps>,
    /// The uidlist as `uid_of` knows it: its stamp when last read, or
    /// after our own last write. Unlike `stamps`, kept by `mark_dirty`: a
    /// rescan of the directories needs no new read of an unchanged file.
    uidlist_known: Option<Stamp>,
    loaded: bool,
    /// Tells whether anyone but this process changed the directories.
    pub(super) watcher: Option<super::watch::Watcher>,
    /// The watcher's generation when `new/` and `cur/` were last read.
    scan_generation: Option<u64>,
    /// The watcher's count of writes to the uidlist, keywords and modseq
    /// files when their stamps were last compared.
    files_generation: Option<u64>,
}

/// One directory entry found by a scan.
struct Found {
    file: String,
    in_new: bool,
}

impl MailboxState {
    pub fn new(dir: PathBuf) -> MailboxState {
        MailboxState {
            dir,
            uidvalidity: 0,
            next_uid: 1,
            messages: Vec::new(),
            first_recent_uid: 1,
            keywords: Keywords::default(),
            cache: super::cache::MessageCache::default(),
            sort_orders: Vec::new(),
            modseq: ModseqLog::unloaded(),
            change: 0,
            saved: Default::default(),
            uid_of: Default::default(),
            other_ext: Vec::new(),
            records_in_file: 0,
            uidlist_ok: false,
            guid: None,
            extra_header: Vec::new(),
            stamps: None,
            uidlist_known: None,
            loaded: false,
            watcher: None,
            scan_generation: None,
            files_generation: None,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Index of a UID in `messages`.
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Indexes of many UIDs, as [`Self::position`] gives them. A session's
    /// view is ascending and mostly the same as `messages`, so each lookup
    /// first tries the message after the last one found: 100,000 binary
    /// searches over message records were a third of a SEARCH answered
    /// from the full-text index.
    pub fn positions<'a>(
        &'a self,
        uids: impl IntoIterator<Item = u32> + 'a,
    ) -> impl Iterator<Item = Option<usize>> + 'a {
        let mut next = 0usize;
        uids.into_iter().map(move |uid| {
            let rest = self.messages.get(next..).unwrap_or_default();
            let found = match rest.first() {
                Some(m) if m.uid == uid => Some(next),
                Some(m) if m.uid < uid => rest
                    .binary_search_by_key(&uid, |m| m.uid)
                    .ok()
                    .map(|i| next + i),
                _ => self.position(uid),
            };
            if let Some(i) = found {
                next = i + 1;
            }
            found
        })
    }

    /// Path of a message's file.
    pub fn path_of(&self, m: &Message) -> PathBuf {
        self.dir
            .join(if m.in_new { "new" } else { "cur" })
            .join(&*m.file)
    }

    /// Brings the state up to date with the disk. `new_uidvalidity` is
    /// called only when the mailbox has no usable uidlist and Roost has never
    /// known one.
    pub fn sync(&mut self, new_uidvalidity: &dyn Fn() -> u32) -> Result<(), StoreError> {
        if self.modseq.holds_lock() {
            // A batch left its changes unwritten: write them and let go of
            // the journal lock before taking the uidlist's (one order only).
            self.flush_modseq();
        }
        let watched = self.watcher.as_ref().and_then(|w| w.generation(&self.dir));
        let generation = watched.map(|g| g.dirs);
        if self.loaded
            && self.stamps.is_some()
            && generation.is_some()
            && generation == self.scan_generation
            && watched.and_then(|g| g.files).is_some()
            && watched.and_then(|g| g.files) == self.files_generation
        {
            // Inotify heard nothing since the last look at the disk (every
            // event queued before now is counted): nothing to stat.
            return Ok(());
        }
        // Another node wrote modseqs (its changes, or the ones it gave to
        // changes we also saw): take them on with a full look.
        let journal_news = self.loaded && self.modseq.changed_on_disk() && self.modseq.catch_up();
        let now = SystemTime::now();
        let stamps = self.read_stamps()?;
        if self.loaded && !journal_news {
            if let Some(old) = self.stamps {
                let dirty = old.new.recent(now) || old.cur.recent(now);
                if old == stamps && !dirty {
                    // Unchanged since the last scan: from here on the
                    // watcher can vouch for it.
                    if self.scan_generation.is_none() {
                        self.scan_generation = generation;
                    }
                    self.files_generation = watched.and_then(|g| g.files);
                    return Ok(());
                }
                // Watched since the last scan and nothing but this process
                // touched new/ or cur/ (its own changes are in memory
                // already): the mtimes, recent or not, tell nothing new.
                let untouched = generation.is_some() && generation == self.scan_generation;
                if untouched && old.uidlist == stamps.uidlist && old.keywords == stamps.keywords {
                    self.stamps = Some(stamps);
                    self.files_generation = watched.and_then(|g| g.files);
                    return Ok(());
                }
            }
        }
        if !self.loaded || stamps.uidlist != self.uidlist_known {
            self.read_uidlist()?;
        }
        // No uidlist on the first look: no IMAP server has opened this
        // mailbox, so (as with Dovecot) every message in it is \Recent.
        let never_opened = !self.loaded && self.uidvalidity == 0;
        if !self.loaded || stamps.keywords != self.stamps.and_then(|s| s.keywords) {
            self.keywords = Keywords::load(&self.dir).unwrap_or_else(|e| {
                log::warn!("{}: cannot read dovecot-keywords: {e}", self.dir.display());
                Keywords::default()
            });
        }
        let mut found = self.scan()?;
        log::debug!(
            "{}: read new/ and cur/ ({} files)",
            self.dir.display(),
            found.len()
        );
        let unknown = found
            .iter()
            .any(|f| !self.uid_of.contains_key(base_of(&f.file)));
        let vanished = self.loaded && self.any_missing(&found);
        let mut stamps = stamps;
        if unknown || vanished || self.uidvalidity == 0 {
            let lock = DotLock::acquire(&self.dir.join(uidlist::FILE_NAME), UIDLIST_LOCK)
                .map_err(|e| lock_error(&self.dir, e))?;
            // With the lock held nobody else assigns UIDs: re-read both.
            self.read_uidlist()?;
            found = self.scan()?;
            self.assign_uids(&found, new_uidvalidity)?;
            stamps.uidlist = stat_opt(&self.dir.join(uidlist::FILE_NAME))?;
            drop(lock);
        }
        self.rebuild(found);
        if never_opened {
            self.first_recent_uid = 1;
        }
        self.stamps = Some(stamps);
        self.scan_generation = generation;
        self.files_generation = watched.and_then(|g| g.files);
        self.loaded = true;
        Ok(())
    }

    fn read_stamps(&self) -> Result<Stamps, StoreError> {
        let dir_stamp = |sub: &str| -> Result<Stamp, StoreError> {
            // A symlinked cur/ or new/ could lead into another user's
            // tree: such a folder does not exist as far as Roost goes.
            match fs::symlink_metadata(self.dir.join(sub)) {
                Ok(m) if m.is_dir() => Ok(Stamp::of(&m)),
                Ok(_) => Err(StoreError::NotFound),
                Err(e) if super::nofollow::is_gone(&e) => Err(StoreError::NotFound),
                Err(e) => Err(StoreError::Io(e)),
            }
        };
        Ok(Stamps {
            new: dir_stamp("new")?,
            cur: dir_stamp("cur")?,
            uidlist: stat_opt(&self.dir.join(uidlist::FILE_NAME))?,
            keywords: stat_opt(&self.dir.join(super::keywords::FILE_NAME))?,
        })
    }

    /// Reads `dovecot-uidlist` into `uid_of`. A missing or damaged file
    /// keeps what is known in memory (UIDs must never be handed out twice
    /// under one UIDVALIDITY); `assign_uids` then writes it back whole.
    fn read_uidlist(&mut self) -> Result<(), StoreError> {
        let path = self.dir.join(uidlist::FILE_NAME);
        self.uidlist_ok = false;
        // Stamped before the read: a change after it shows as a new stamp.
        self.uidlist_known = stat_opt(&path)?;
        let bytes = match super::nofollow::read(&path) {
            Ok(b) => b,
            Err(e) if super::nofollow::is_gone(&e) => return Ok(()),
            Err(e) => return Err(StoreError::Io(e)),
        };
        log::debug!(
            "{}: read dovecot-uidlist ({} bytes)",
            self.dir.display(),
            bytes.len()
        );
        let list = match uidlist::parse(&bytes) {
            Ok(Some(list)) => list,
            Ok(None) => return Ok(()),
            Err(e) => {
                log::error!("{}: {e}; it will be rebuilt", path.display());
                return Ok(());
            }
        };
        if self.uidvalidity != 0 && list.uidvalidity != self.uidvalidity {
            // Someone else recreated the mailbox's UIDs: all we knew is void.
            log::warn!(
                "{}: UIDVALIDITY changed on disk ({} -> {})",
                path.display(),
                self.uidvalidity,
                list.uidvalidity
            );
            self.messages.clear();
            self.cache.clear();
            self.saved.clear();
            self.next_uid = 1;
            self.first_recent_uid = list.next_uid;
            self.change += 1;
        }
        self.uidvalidity = list.uidvalidity;
        // next_uid never goes down (RFC 3501 §2.3.1.1).
        self.next_uid = self.next_uid.max(list.next_uid);
        self.guid = list.guid.clone();
        self.extra_header = list.extra_header.clone();
        self.records_in_file = list.records.len();
        self.uidlist_ok = list.version == 3 && !list.needs_rewrite && list.guid.is_some();
        self.uid_of.clear();
        self.uid_of.reserve(list.records.len());
        self.other_ext.clear();
        if self.saved.is_empty() {
            // Grown once, not doubled all the way up on a cold load.
            self.saved.reserve(list.records.len());
        }
        for mut rec in list.records {
            if !rec.ext.is_empty() {
                if let Some(date) = rec.take_save_date() {
                    self.saved.insert(rec.uid, date);
                }
                if !rec.ext.is_empty() {
                    self.other_ext.push((rec.uid, rec.ext.into_boxed_str()));
                }
            }
            self.uid_of.insert(rec.base.into_boxed_str(), rec.uid);
        }
        if !self.other_ext.is_sorted_by_key(|e| e.0) {
            self.other_ext.sort_by_key(|e| e.0);
        }
        Ok(())
    }

    fn scan(&self) -> Result<Vec<Found>, StoreError> {
        let mut found = Vec::new();
        for (sub, in_new) in [("cur", false), ("new", true)] {
            let entries = match fs::read_dir(self.dir.join(sub)) {
                Ok(e) => e,
                Err(e) if super::nofollow::is_gone(&e) => return Err(StoreError::NotFound),
                Err(e) => return Err(StoreError::Io(e)),
            };
            for entry in entries {
                let entry = entry.map_err(StoreError::Io)?;
                // Symlinks are never messages: they could point anywhere.
                if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                    continue;
                }
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                // Hidden files are other programs' work in progress.
                if name.starts_with('.') {
                    continue;
                }
                found.push(Found { file: name, in_new });
            }
        }
        Ok(found)
    }

    fn any_missing(&self, found: &[Found]) -> bool {
        if found.len() < self.messages.len() {
            return true;
        }
        let present: std::collections::HashSet<&str> =
            found.iter().map(|f| base_of(&f.file)).collect();
        self.messages.iter().any(|m| !present.contains(m.base()))
    }

    /// Gives UIDs to unknown files and persists them. Lock held.
    fn assign_uids(
        &mut self,
        found: &[Found],
        new_uidvalidity: &dyn Fn() -> u32,
    ) -> Result<(), StoreError> {
        if self.uidvalidity == 0 {
            self.uidvalidity = new_uidvalidity();
            self.next_uid = self.next_uid.max(1);
        }
        let mut unknown: Vec<&Found> = found
            .iter()
            .filter(|f| !self.uid_of.contains_key(base_of(&f.file)))
            .collect();
        unknown.sort_by(|a, b| {
            maildir::delivery_order(&a.file).cmp(&maildir::delivery_order(&b.file))
        });
        let mut seen = std::collections::HashSet::new();
        let mut new_records = Vec::new();
        for f in unknown {
            let base = base_of(&f.file);
            // The same base in new/ and cur/ (a rename caught half-way) is one message.
            if !seen.insert(base) {
                continue;
            }
            let uid = self.next_uid;
            self.next_uid = self
                .next_uid
                .checked_add(1)
                .ok_or(StoreError::NotPossible("this mailbox has run out of UIDs"))?;
            self.uid_of.insert(base.into(), uid);
            // Saved when it arrived: its ctime, before any rename of ours.
            let sub = if f.in_new { "new" } else { "cur" };
            let saved = ctime_of(&self.dir.join(sub).join(&f.file));
            self.saved.insert(uid, saved);
            new_records.push(UidRecord {
                uid,
                ext: uidlist::with_save_date("", Some(saved)),
                base: base.to_string(),
            });
        }
        if !self.uidlist_ok || bloated(self.records_in_file + new_records.len(), found.len()) {
            self.write_uidlist(found)?;
        } else if !new_records.is_empty() {
            uidlist::append(&self.dir, &new_records).map_err(StoreError::Io)?;
            self.uidlist_known = stat_opt(&self.dir.join(uidlist::FILE_NAME))?;
            self.records_in_file += new_records.len();
        }
        Ok(())
    }

    /// Rewrites the uidlist from what is present now. Lock held.
    fn write_uidlist(&mut self, found: &[Found]) -> Result<(), StoreError> {
        let mut records: Vec<UidRecord> = Vec::with_capacity(found.len());
        let mut seen = std::collections::HashSet::new();
        for f in found {
            let base = base_of(&f.file);
            if let Some(&uid) = self.uid_of.get(base) {
                if seen.insert(uid) {
                    let other = match self.other_ext.binary_search_by_key(&uid, |e| e.0) {
                        Ok(i) => &*self.other_ext[i].1,
                        Err(_) => "",
                    };
                    records.push(UidRecord {
                        uid,
                        ext: uidlist::with_save_date(other, self.saved.get(&uid).copied()),
                        base: base.to_string(),
                    });
                }
            }
        }
        records.sort_by_key(|r| r.uid);
        if self.guid.is_none() {
            self.guid = Some(uidlist::new_guid());
        }
        let list = UidList {
            uidvalidity: self.uidvalidity,
            next_uid: self.next_uid,
            guid: self.guid.clone(),
            extra_header: self.extra_header.clone(),
            records,
            version: 3,
            needs_rewrite: false,
        };
        uidlist::write_atomic(&self.dir, &list).map_err(StoreError::Io)?;
        self.uidlist_known = stat_opt(&self.dir.join(uidlist::FILE_NAME))?;
        self.records_in_file = list.records.len();
        self.uidlist_ok = true;
        self.other_ext.retain(|(uid, _)| seen.contains(uid));
        self.uid_of = list
            .records
            .into_iter()
            .map(|r| (r.base.into_boxed_str(), r.uid))
            .collect();
        Ok(())
    }

    /// Replaces `messages` with what the scan found.
    fn rebuild(&mut self, found: Vec<Found>) {
        let mut by_uid: HashMap<u32, Message> = HashMap::with_capacity(found.len());
        for f in found {
            let parsed = maildir::parse_name(&f.file);
            let Some(&uid) = self.uid_of.get(parsed.base) else {
                continue;
            };
            let vsize = parsed.vsize;
            let flags = if f.in_new {
                Flags::default()
            } else {
                parsed.flags
            };
            let msg = Message {
                uid,
                file: f.file.into_boxed_str(),
                in_new: f.in_new,
                flags,
                vsize,
                modseq: 0,
            };
            // Prefer the cur/ copy when a file is caught in both places.
            match by_uid.get(&uid) {
                Some(existing) if !existing.in_new => {}
                _ => {
                    by_uid.insert(uid, msg);
                }
            }
        }
        let mut messages: Vec<Message> = by_uid.into_values().collect();
        messages.sort_unstable_by_key(|m| m.uid);
        // Keep sizes learned by reading files earlier.
        for m in &mut messages {
            if m.vsize.is_none() {
                if let Some(old) = self.position(m.uid).map(|i| &self.messages[i]) {
                    m.vsize = old.vsize;
                }
            }
        }
        self.assign_modseqs(&mut messages);
        if !self.loaded {
            // Dovecot: a message is \Recent if it is found in new/.
            self.first_recent_uid = messages
                .iter()
                .filter(|m| m.in_new)
                .map(|m| m.uid)
                .min()
                .unwrap_or(self.next_uid);
        }
        if messages != self.messages {
            // Files deleted behind our back: the quota file's totals are
            // stale, so the next reader sums the tree again.
            let vanished = self.loaded
                && self
                    .messages
                    .iter()
                    .any(|m| messages.binary_search_by_key(&m.uid, |n| n.uid).is_err());
            if vanished {
                super::quota::invalidate(super::quota::root_of(&self.dir));
            }
            self.messages = messages;
            self.change += 1;
            let present = &self.messages;
            self.cache
                .retain(|uid| present.binary_search_by_key(&uid, |m| m.uid).is_ok());
        }
    }

    /// Gives each message of a fresh scan its modseq and records the
    /// messages that are gone as expunged. The journal is asked first: a
    /// change another node made carries the modseq that node gave it (same
    /// UID, same flags). Only what it does not know (another program's
    /// changes) gets a modseq here, under the journal's lock.
    fn assign_modseqs(&mut self, messages: &mut [Message]) {
        let first = !self.loaded || self.modseq.uidvalidity() != self.uidvalidity;
        // What this node knew of each message before: (modseq, flags).
        let mut before: Vec<Option<(u64, Flags)>> = vec![None; messages.len()];
        let mut gone = Vec::new();
        if first {
            self.modseq = ModseqLog::open(&self.dir, self.uidvalidity);
            let present: std::collections::HashSet<u32> = messages.iter().map(|m| m.uid).collect();
            // UIDs at or above our UIDNEXT are deliveries this scan did not
            // catch yet, not expunges.
            gone = self
                .modseq
                .recorded_uids()
                .filter(|u| !present.contains(u) && *u < self.next_uid)
                .collect();
        } else {
            // Both lists ascend by UID: walk them together.
            let old = &self.messages;
            let mut j = 0;
            for (i, m) in messages.iter().enumerate() {
                while j < old.len() && old[j].uid < m.uid {
                    gone.push(old[j].uid);
                    j += 1;
                }
                if let Some(o) = old.get(j).filter(|o| o.uid == m.uid) {
                    before[i] = Some((o.modseq, o.flags));
                    j += 1;
                }
            }
            gone.extend(old[j..].iter().map(|o| o.uid));
        }
        let mut changed = self.take_recorded(messages, &before);
        gone.retain(|&u| self.modseq.expunge_unrecorded(u));
        if !changed.is_empty() || !gone.is_empty() {
            // Under the lock, with what others wrote meanwhile read.
            self.modseq.begin();
            changed = self.take_recorded_of(messages, changed);
            gone.retain(|&u| self.modseq.expunge_unrecorded(u));
        }
        if !changed.is_empty() {
            let ms = self.modseq.allocate();
            for i in changed {
                let m = &mut messages[i];
                m.modseq = ms;
                self.modseq.note_message(m.uid, ms, m.flags);
            }
        }
        if !gone.is_empty() {
            let ms = self.modseq.allocate();
            self.modseq.note_expunged(ms, &gone);
        }
        self.modseq.flush();
    }

    /// Gives messages the modseq the journal records for their flags, else
    /// the one this node knew for the same flags; the indexes of the rest.
    fn take_recorded(
        &self,
        messages: &mut [Message],
        before: &[Option<(u64, Flags)>],
    ) -> Vec<usize> {
        let mut rest = Vec::new();
        for (i, m) in messages.iter_mut().enumerate() {
            match (self.modseq.recorded(m.uid), before[i]) {
                (Some((ms, flags)), _) if flags == m.flags => m.modseq = ms,
                (_, Some((ms, flags))) if flags == m.flags => m.modseq = ms,
                _ => rest.push(i),
            }
        }
        rest
    }

    /// `take_recorded` again for the messages at `idx`, after a catch-up.
    fn take_recorded_of(&self, messages: &mut [Message], idx: Vec<usize>) -> Vec<usize> {
        idx.into_iter()
            .filter(|&i| {
                let m = &mut messages[i];
                match self.modseq.recorded(m.uid) {
                    Some((ms, flags)) if flags == m.flags => {
                        m.modseq = ms;
                        false
                    }
                    _ => true,
                }
            })
            .collect()
    }

    /// Writes pending modseq changes to the journal (and lets go of its lock).
    pub fn flush_modseq(&mut self) {
        self.modseq.flush();
    }

    /// HIGHESTMODSEQ (RFC 7162 §3.1.2.1).
    pub fn highest_modseq(&self) -> u64 {
        self.modseq.highest()
    }

    /// The UIDs that become \Recent for the calling session, which is then
    /// the only one to see them so.
    pub fn claim_recent(&mut self) -> std::ops::Range<u32> {
        let range = self.first_recent_uid..self.next_uid;
        self.first_recent_uid = self.next_uid;
        range
    }

    /// Moves messages from `new/` to `cur/` (a read-write SELECT does this,
    /// as Dovecot does). Failures leave the file where it is.
    pub fn move_new_to_cur(&mut self) {
        let mut moved = false;
        for i in 0..self.messages.len() {
            if !self.messages[i].in_new {
                continue;
            }
            let old = self.path_of(&self.messages[i]);
            let name = maildir::with_flags(&self.messages[i].file, Flags::default());
            let new = self.dir.join("cur").join(&name);
            self.expect_own("new", &self.messages[i].file);
            self.expect_own("cur", &name);
            match fs::rename(&old, &new) {
                Ok(()) => {
                    let m = &mut self.messages[i];
                    m.file = name.into_boxed_str();
                    m.in_new = false;
                    moved = true;
                }
                Err(e) if super::nofollow::is_gone(&e) => {}
                Err(e) => log::warn!("cannot move {} to cur/: {e}", old.display()),
            }
        }
        if moved {
            self.change += 1;
        }
    }

    /// Changes a message's flags by renaming its file (into `cur/` if it
    /// was still in `new/`). The caller calls `flush_modseq` after its
    /// batch, so a STORE on many messages writes the journal once. `Ok(false)` if the file is gone: another
    /// process renamed or expunged it, and the caller should re-sync.
    pub fn set_flags(&mut self, idx: usize, flags: Flags) -> Result<bool, StoreError> {
        let m = &self.messages[idx];
        if m.flags == flags && !m.in_new {
            return Ok(true);
        }
        let name = maildir::with_flags(&m.file, flags);
        let old = self.path_of(m);
        let uid = m.uid;
        self.note_save_date(uid, &old);
        let m = &self.messages[idx];
        let new = self.dir.join("cur").join(&name);
        let flags_change = m.flags != flags;
        self.expect_own(if m.in_new { "new" } else { "cur" }, &m.file);
        self.expect_own("cur", &name);
        if flags_change {
            // Hold the journal lock across the rename, so another node that
            // sees the new name finds our modseq for it once it gets the lock.
            self.modseq.begin();
        }
        match fs::rename(&old, &new) {
            Ok(()) => {
                let changed = self.messages[idx].flags != flags;
                let ms = if changed {
                    self.modseq.allocate()
                } else {
                    self.messages[idx].modseq
                };
                let m = &mut self.messages[idx];
                m.file = name.into_boxed_str();
                m.in_new = false;
                m.flags = flags;
                m.modseq = ms;
                if changed {
                    // Written by the caller's `flush_modseq`, once per batch.
                    self.modseq.note_message(m.uid, ms, flags);
                }
                self.change += 1;
                Ok(true)
            }
            Err(e) if super::nofollow::is_gone(&e) => Ok(false),
            Err(e) => Err(StoreError::Io(e)),
        }
    }

    /// Remembers a message's save date (its file's ctime) before Roost
    /// changes the ctime by renaming or linking the file.
    pub fn note_save_date(&mut self, uid: u32, path: &Path) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.saved.entry(uid) {
            if let Ok(meta) = fs::symlink_metadata(path) {
                e.insert(maildir::save_date(&meta));
            }
        }
    }

    /// Forgets the stamps so the next sync reads the directories again.
    pub fn mark_dirty(&mut self) {
        self.stamps = None;
        self.scan_generation = None;
        self.files_generation = None;
    }

    /// Announces a change this process is about to make to `name` in
    /// `sub` (`"new"` or `"cur"`), so it is not taken for an outside one.
    pub fn expect_own(&self, sub: &'static str, name: &str) {
        if let Some(w) = &self.watcher {
            w.expect(&self.dir, sub, name);
        }
    }

    /// Deletes the files of the given messages; returns the UIDs removed.
    pub fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>, StoreError> {
        let mut removed = Vec::new();
        let mut error = None;
        // What the quota gives back; None once a size is unknown.
        let mut freed = Some(0u64);
        for &uid in uids {
            let Some(i) = self.position(uid) else {
                continue;
            };
            let path = self.path_of(&self.messages[i]);
            let m = &self.messages[i];
            self.expect_own(if m.in_new { "new" } else { "cur" }, &m.file);
            let size = maildir::parse_name(&m.file)
                .size
                .or_else(|| fs::symlink_metadata(&path).ok().map(|md| md.len()));
            match fs::remove_file(&path) {
                Ok(()) => {
                    removed.push(uid);
                    freed = freed.zip(size).map(|(a, b)| a + b);
                }
                // Gone from that name: another node may have renamed it (a
                // flag change) since our last look. Still \Deleted under its
                // new name, it goes; else (expunged elsewhere, or undeleted)
                // the next sync tells.
                Err(e) if super::nofollow::is_gone(&e) => {
                    let base = base_of(&self.messages[i].file).to_string();
                    if let Some((name, path)) = self.deleted_file_named(&base) {
                        self.expect_own("cur", &name);
                        match fs::remove_file(&path) {
                            Ok(()) => {
                                removed.push(uid);
                                freed = freed
                                    .zip(maildir::parse_name(&name).size)
                                    .map(|(a, b)| a + b);
                            }
                            Err(e) if super::nofollow::is_gone(&e) => {}
                            Err(e) => error = Some(e),
                        }
                    }
                }
                Err(e) => error = Some(e),
            }
        }
        if !removed.is_empty() {
            let root = super::quota::root_of(&self.dir);
            match freed {
                Some(bytes) => {
                    super::quota::record_delta(root, -(bytes as i64), -(removed.len() as i64))
                }
                None => super::quota::invalidate(root),
            }
            self.messages
                .retain(|m| removed.binary_search(&m.uid).is_err());
            let ms = self.modseq.allocate();
            self.modseq.note_expunged(ms, &removed);
            self.flush_modseq();
            self.change += 1;
        }
        match error {
            Some(e) if removed.is_empty() => Err(StoreError::Io(e)),
            Some(e) => {
                log::warn!(
                    "{}: some messages could not be expunged: {e}",
                    self.dir.display()
                );
                Ok(removed)
            }
            None => Ok(removed),
        }
    }

    /// The file in `cur/` with base name `base`, if its flags include
    /// \Deleted: (name, path).
    fn deleted_file_named(&self, base: &str) -> Option<(String, PathBuf)> {
        let cur = self.dir.join("cur");
        fs::read_dir(&cur).ok()?.flatten().find_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let parsed = maildir::parse_name(&name);
            (parsed.base == base && parsed.flags.has(maildir::flag::DELETED))
                .then(|| (name.clone(), cur.join(&name)))
        })
    }

    /// Records a message this process delivered into `cur/` with `uid`.
    /// The caller flushes the modseq journal (`flush_modseq`) after a batch.
    pub(super) fn note_appended(&mut self, mut msg: Message, uidlist_stamp_after: bool) {
        if self.loaded {
            msg.modseq = self.modseq.allocate();
            self.modseq.note_message(msg.uid, msg.modseq, msg.flags);
        }
        self.uid_of.insert(msg.base().into(), msg.uid);
        // Saved now (unless the uidlist says when): a later COPY of it must
        // not move this date.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.saved.entry(msg.uid).or_insert(now);
        self.next_uid = self.next_uid.max(msg.uid + 1);
        match self.messages.last() {
            Some(last) if last.uid > msg.uid => {
                self.messages.push(msg);
                self.messages.sort_unstable_by_key(|m| m.uid);
            }
            _ => self.messages.push(msg),
        }
        if uidlist_stamp_after {
            if let (Some(stamps), Some(known)) = (self.stamps.as_mut(), self.uidlist_known) {
                stamps.uidlist = Some(known);
            }
        }
        self.change += 1;
    }

    /// Gives UIDs to files this process just put into `cur/` (keyed by
    /// the name part before ':') and appends them to the uidlist in one
    /// write. The uidlist lock is held by the caller.
    /// `keys` are the new files' base names with their save dates.
    pub(super) fn persist_new_uids(
        &mut self,
        keys: &[(String, i64)],
        new_uidvalidity: &dyn Fn() -> u32,
    ) -> Result<Vec<u32>, StoreError> {
        self.refresh_uid_map()?;
        let live = self.messages.len() + keys.len();
        if self.uidvalidity == 0
            || !self.uidlist_ok
            || bloated(self.records_in_file + keys.len(), live)
        {
            // A new mailbox, a uidlist to rebuild, or one mostly naming
            // expunged messages (appends alone would grow it for ever):
            // write it whole.
            let found = self.scan()?;
            self.assign_uids(&found, new_uidvalidity)?;
            return keys
                .iter()
                .map(|(k, _)| {
                    self.uid_of
                        .get(k.as_str())
                        .copied()
                        .ok_or(StoreError::NotPossible("a delivered message vanished"))
                })
                .collect();
        }
        let mut records = Vec::with_capacity(keys.len());
        for (key, saved) in keys {
            let uid = self.next_uid;
            self.next_uid = uid
                .checked_add(1)
                .ok_or(StoreError::NotPossible("this mailbox has run out of UIDs"))?;
            self.saved.insert(uid, *saved);
            records.push(UidRecord {
                uid,
                ext: uidlist::with_save_date("", Some(*saved)),
                base: key.clone(),
            });
        }
        uidlist::append(&self.dir, &records).map_err(StoreError::Io)?;
        self.uidlist_known = stat_opt(&self.dir.join(uidlist::FILE_NAME))?;
        self.records_in_file += records.len();
        for r in &records {
            self.uid_of.insert(r.base.as_str().into(), r.uid);
        }
        Ok(records.iter().map(|r| r.uid).collect())
    }

    /// Reads the uidlist again unless its stamp is the one we last read or
    /// wrote (every writer appends or renames, which changes size, mtime
    /// or inode): someone may have assigned UIDs since we last looked.
    pub(super) fn refresh_uid_map(&mut self) -> Result<(), StoreError> {
        let on_disk = stat_opt(&self.dir.join(uidlist::FILE_NAME))?;
        let known = self.uidlist_known;
        if !(self.loaded && self.uidlist_ok && on_disk.is_some() && on_disk == known) {
            self.read_uidlist()?;
        }
        Ok(())
    }

    /// Whether the uidlist names a file with this base name.
    pub(super) fn knows_base(&self, base: &str) -> bool {
        self.uid_of.contains_key(base)
    }

    /// RFC 8474 MAILBOXID: the uidlist's mailbox GUID (32 hex digits), the
    /// GUID Dovecot reports for the folder; a RENAME moves the file with
    /// the folder and a new folder gets a new random one. Without a
    /// uidlist (a folder Roost may not write), a hash of where it is and
    /// its UIDVALIDITY.
    pub fn mailbox_id(&self) -> String {
        match &self.guid {
            Some(g) => g.clone(),
            None => {
                use sha2::Digest;
                let key = format!("{}\0{}", self.dir.display(), self.uidvalidity);
                let digest = sha2::Sha256::digest(key.as_bytes());
                let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
                hex
            }
        }
    }

    /// Drops messages whose files this process moved away (MOVE).
    pub fn forget_messages(&mut self, uids: &[u32]) {
        let before = self.messages.len();
        let mut gone = Vec::new();
        self.messages.retain(|m| {
            let keep = uids.binary_search(&m.uid).is_err();
            if !keep {
                gone.push(m.uid);
            }
            keep
        });
        if self.messages.len() != before {
            let ms = self.modseq.allocate();
            self.modseq.note_expunged(ms, &gone);
            self.flush_modseq();
            self.change += 1;
        }
    }

    /// RFC822.SIZE of a message, reading the file if the name does not say.
    pub fn vsize(&mut self, idx: usize) -> io::Result<u64> {
        if let Some(v) = self.messages[idx].vsize {
            return Ok(v);
        }
        let bytes = super::nofollow::read(&self.path_of(&self.messages[idx]))?;
        let v = maildir::crlf_size(&bytes);
        self.messages[idx].vsize = Some(v);
        Ok(v)
    }

    /// Number of messages without \Seen.
    pub fn unseen(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| !m.flags.has(maildir::flag::SEEN))
            .count()
    }

    /// Number of messages that are \Recent for nobody yet.
    pub fn recent(&self) -> usize {
        let first = self
            .messages
            .partition_point(|m| m.uid < self.first_recent_uid);
        self.messages.len() - first
    }

    /// Forget everything (the mailbox was deleted or renamed away).
    pub fn invalidate(&mut self) {
        let watcher = self.watcher.take();
        *self = MailboxState::new(self.dir.clone());
        self.watcher = watcher;
    }
}

/// A file's ctime (its save date until Roost renames it), or now.
pub(super) fn ctime_of(path: &Path) -> i64 {
    match fs::symlink_metadata(path) {
        Ok(meta) => maildir::save_date(&meta),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    }
}

fn base_of(file: &str) -> &str {
    file.split(maildir::INFO_SEP).next().unwrap_or(file)
}

/// Whether a uidlist of `records` lines, `live` of them for messages still
/// present, is worth rewriting without the others. Rewrites cost a pass
/// over the live ones, so they wait until the dead outnumber them.
fn bloated(records: usize, live: usize) -> bool {
    records > 2 * live + 1000
}

fn stat_opt(path: &Path) -> Result<Option<Stamp>, StoreError> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(Stamp::of(&m))),
        Err(e) if super::nofollow::is_gone(&e) => Ok(None),
        Err(e) => Err(StoreError::Io(e)),
    }
}

fn lock_error(dir: &Path, e: io::Error) -> StoreError {
    if e.kind() == io::ErrorKind::TimedOut {
        log::warn!(
            "{}: dovecot-uidlist is locked by another process",
            dir.display()
        );
        StoreError::InUse
    } else if super::nofollow::is_gone(&e) {
        // The folder was renamed or deleted meanwhile.
        StoreError::NotFound
    } else {
        StoreError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another node renamed a \Deleted message's file (a flag change)
    /// after our last sync: EXPUNGE still removes it. Found by roost-load
    /// with 20 clients across two nodes.
    #[test]
    fn expunge_follows_a_file_renamed_behind_our_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        let cur = dir.path().join("cur");
        fs::write(cur.join("1.a.host:2,T"), "Subject: a\r\n\r\nx\r\n").expect("write");
        fs::write(cur.join("2.b.host:2,"), "Subject: b\r\n\r\nx\r\n").expect("write");
        let mut st = MailboxState::new(dir.path().to_path_buf());
        st.sync(&|| 7).expect("sync");
        assert_eq!(st.messages.len(), 2);
        let doomed = st.messages[0].uid;
        fs::rename(cur.join("1.a.host:2,T"), cur.join("1.a.host:2,FT")).expect("rename");
        assert_eq!(st.expunge(&[doomed]).expect("expunge"), vec![doomed]);
        assert!(!cur.join("1.a.host:2,FT").exists());
        // One no longer \Deleted under its new name stays.
        let kept = st.messages[0].uid;
        fs::rename(cur.join("2.b.host:2,"), cur.join("2.b.host:2,F")).expect("rename");
        assert_eq!(st.expunge(&[kept]).expect("expunge"), Vec::<u32>::new());
        assert!(cur.join("2.b.host:2,F").exists());
    }
}
