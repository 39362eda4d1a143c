//! The mail store: one user's Maildir++ tree. INBOX is the root
//! (`cur/ new/ tmp/`), every other folder a `.Name` directory beside them.
//!
//! This module never sees protocol types: it takes canonical
//! `MailboxName`s, UIDs, `Flags` and bytes. Mailbox state lives in a
//! `Registry` shared by all sessions of the server, so a second session (or
//! a second SELECT) reuses what the first one learned, revalidated by
//! directory mtimes instead of rescans (see `state`).
//!
//! Local file systems only: the dot-lock and rename rules assume POSIX
//! semantics without NFS caching.

pub(crate) mod cache;
pub mod deliver;
mod dir_sync;
pub(crate) mod dotlock;
mod filelock;
mod fs_kind;
mod handle;
pub(crate) mod keywords;
pub mod maildir;
pub(crate) mod metadata;
pub mod modseq;
mod name_hash;
pub mod names;
pub(crate) mod nofollow;
pub(crate) mod perms;
pub(crate) mod quota;
pub mod special_use;
mod state;
pub(crate) mod subscriptions;
pub mod uidlist;
pub(crate) mod watch;

use dotlock::{DotLock, LockOptions, UIDLIST_LOCK};
pub(crate) use handle::{Changed, FlagChange, FlagOp, KeywordNames, Mailbox, Now};
use maildir::Flags;
use names::{MailboxName, Namespace};
use state::{MailboxState, Message};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Mailbox states kept in memory; the least recently used go first.
const REGISTRY_CAPACITY: usize = 2000;
/// Lock for `dovecot-uidvalidity` (short work, like Dovecot's).
const UIDVALIDITY_LOCK: LockOptions = LockOptions {
    stale_after: Duration::from_secs(60),
    timeout: Duration::from_secs(10),
};

/// A message's UID (RFC 3501 §2.3.1.1), kept apart from sequence numbers
/// by its type: taking one for the other reads or changes the wrong
/// message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Uid(pub u32);

impl From<Uid> for u64 {
    fn from(u: Uid) -> u64 {
        u.0.into()
    }
}

/// Storage failures, by kind (`error.rs` maps them to response codes).
#[derive(Debug)]
pub(crate) enum StoreError {
    NotFound,
    Exists,
    /// The name is not acceptable; the text says why.
    InvalidName(String),
    /// The operation makes no sense here; the text says why.
    NotPossible(&'static str),
    /// A mailbox with children cannot be deleted in this form.
    HasChildren,
    /// Another process holds a lock for too long.
    InUse,
    /// Every keyword letter of the folder is taken.
    KeywordLimit,
    /// The user's quota has no room for it (RFC 9208 OVERQUOTA).
    OverQuota,
    Io(io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("mailbox does not exist"),
            StoreError::Exists => f.write_str("mailbox already exists"),
            StoreError::InvalidName(why) => f.write_str(why),
            StoreError::NotPossible(why) => f.write_str(why),
            StoreError::HasChildren => f.write_str("mailbox has children"),
            StoreError::InUse => f.write_str("mailbox is locked by another process"),
            StoreError::KeywordLimit => f.write_str("no keyword letter left"),
            StoreError::OverQuota => f.write_str("quota exceeded"),
            StoreError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Io(e)
    }
}

impl From<names::NameError> for StoreError {
    fn from(e: names::NameError) -> Self {
        StoreError::InvalidName(e.to_string())
    }
}

/// Shared mailbox states, keyed by directory.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<RegistryInner>,
    /// Tells the states which changes came from outside (see `state`).
    watcher: Option<watch::Watcher>,
}

#[derive(Default)]
struct RegistryInner {
    map: HashMap<PathBuf, Arc<Mutex<MailboxState>>>,
    order: VecDeque<PathBuf>,
}

impl Registry {
    /// A registry whose mailboxes ask `watcher` whether anyone else changed
    /// them, instead of rescanning within the mtime window.
    pub(crate) fn with_watcher(watcher: watch::Watcher) -> Registry {
        Registry {
            watcher: Some(watcher),
            ..Registry::default()
        }
    }

    /// The state for a mailbox directory, created empty on first use.
    fn get(&self, dir: &Path) -> Arc<Mutex<MailboxState>> {
        let mut inner = lock(&self.inner);
        if let Some(state) = inner.map.get(dir) {
            let state = Arc::clone(state);
            // Cheap LRU: move to the back only when not already near it.
            if inner.order.back().map(PathBuf::as_path) != Some(dir) {
                inner.order.retain(|p| p != dir);
                inner.order.push_back(dir.to_path_buf());
            }
            return state;
        }
        while inner.map.len() >= REGISTRY_CAPACITY {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&old);
        }
        let mut fresh = MailboxState::new(dir.to_path_buf());
        fresh.watcher = self.watcher.clone();
        let state = Arc::new(Mutex::new(fresh));
        inner.map.insert(dir.to_path_buf(), Arc::clone(&state));
        inner.order.push_back(dir.to_path_buf());
        state
    }

    /// Drops the states of a directory and everything below it (DELETE,
    /// RENAME), so no session keeps stale UIDs for a reused name.
    fn forget(&self, dir: &Path) {
        let mut inner = lock(&self.inner);
        let gone: Vec<PathBuf> = inner
            .map
            .keys()
            .filter(|p| p.starts_with(dir))
            .cloned()
            .collect();
        for p in gone {
            if let Some(state) = inner.map.remove(&p) {
                lock(&state).invalidate();
            }
            inner.order.retain(|q| q != &p);
        }
    }
}

/// Locks a mutex, recovering from a panic in another holder: the data is a
/// cache of the disk, and a sync repairs it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What LIST shows for a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListEntry {
    pub(crate) name: MailboxName,
    /// False for a name that only exists as the parent of others.
    pub(crate) selectable: bool,
    pub(crate) has_children: bool,
}

/// Counts for STATUS (RFC 3501 §6.3.10).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatusCounts {
    pub(crate) messages: u32,
    pub(crate) recent: u32,
    pub(crate) uidnext: u32,
    pub(crate) uidvalidity: u32,
    pub(crate) unseen: u32,
    /// RFC 9051 §6.3.11 STATUS DELETED.
    pub(crate) deleted: u32,
    /// RFC 8438: the sum of RFC822.SIZEs; None unless asked for.
    pub(crate) size: Option<u64>,
    /// RFC 7162 §3.1.7.
    pub(crate) highest_modseq: u64,
    /// RFC 8474 MAILBOXID.
    pub(crate) mailbox_id: String,
}

/// Flags for a message being appended: system flags plus keyword names.
#[derive(Clone, Debug, Default)]
pub(crate) struct NewFlags {
    pub(crate) system: u8,
    pub(crate) keywords: Vec<String>,
}

/// Where the bytes of a message being appended are.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AppendSource<'a> {
    /// In memory.
    Bytes(&'a [u8]),
    /// In a file the caller wrote (and fsynced) in this store's `tmp/`: it
    /// is renamed into place instead of copied. `size` is its length,
    /// `vsize` its RFC822.SIZE.
    File {
        path: &'a Path,
        size: u64,
        vsize: u64,
    },
}

impl AppendSource<'_> {
    /// The message's size and RFC822.SIZE.
    fn sizes(&self) -> (u64, u64) {
        match *self {
            AppendSource::Bytes(b) => (b.len() as u64, maildir::crlf_size(b)),
            AppendSource::File { size, vsize, .. } => (size, vsize),
        }
    }
}

/// One message of an APPEND (RFC 3502: there may be several).
#[derive(Clone, Debug)]
pub(crate) struct AppendItem<'a> {
    pub(crate) source: AppendSource<'a>,
    pub(crate) flags: NewFlags,
    /// The INTERNALDATE asked for; now when `None`.
    pub(crate) internal_date: Option<SystemTime>,
}

/// A message to COPY or MOVE: its file and what to carry over.
#[derive(Clone, Debug)]
pub(crate) struct CopyItem {
    pub(crate) path: PathBuf,
    pub(crate) system_flags: u8,
    pub(crate) keywords: Vec<String>,
    /// From the file name when known (`,S=`, `,W=`).
    pub(crate) size: Option<u64>,
    pub(crate) vsize: Option<u64>,
}

/// One user's tree.
pub struct Store {
    root: PathBuf,
    ns: Namespace,
    registry: Arc<Registry>,
    host: String,
    quota: quota::Quota,
}

impl Store {
    /// Opens a user's tree, creating the root Maildir if it is missing.
    pub(crate) fn open(
        root: PathBuf,
        ns: Namespace,
        registry: Arc<Registry>,
    ) -> Result<Store, StoreError> {
        for sub in ["cur", "new", "tmp"] {
            create_dir_private(&root.join(sub))?;
        }
        Ok(Store {
            quota: quota::Quota::new(root.clone(), quota::Limits::default()),
            root,
            ns,
            registry,
            host: dotlock::hostname(),
        })
    }

    /// Sets the user's quota limits (none until this is called).
    pub(crate) fn set_quota_limits(&mut self, limits: quota::Limits) {
        self.quota = quota::Quota::new(self.root.clone(), limits);
    }

    pub(crate) fn quota(&self) -> &quota::Quota {
        &self.quota
    }

    /// Refuses what would take the user over quota (before anything is
    /// placed, so a refused command leaves no message behind).
    fn check_quota(&self, bytes: u64, messages: u64) -> Result<(), StoreError> {
        self.quota
            .check(bytes, messages)?
            .map_err(|quota::OverQuota| StoreError::OverQuota)
    }

    pub(crate) fn namespace(&self) -> &Namespace {
        &self.ns
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// A mailbox's directory.
    pub(crate) fn path_of(&self, name: &MailboxName) -> PathBuf {
        match self.ns.dir_name(name) {
            None => self.root.clone(),
            Some(dir) => self.root.join(dir),
        }
    }

    /// True if the mailbox exists and can be selected. A folder that is a
    /// symlink, or whose `cur/` is one, does not count: symlinks are not
    /// followed out of the user's tree.
    pub(crate) fn exists(&self, name: &MailboxName) -> bool {
        let dir = self.path_of(name);
        let real_dir =
            |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir() && !m.is_symlink());
        (name.is_inbox() || real_dir(&dir)) && real_dir(&dir.join("cur"))
    }

    /// A folder mail may be written into: it exists, and its `cur/`,
    /// `new/` and `tmp/` are real directories (a planted symlink would
    /// deliver into another user's tree).
    fn check_writable(&self, name: &MailboxName, dir: &Path) -> Result<(), StoreError> {
        if !self.exists(name) || nofollow::check_maildir(dir).is_err() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Every mailbox, plus parents implied by deeper names, sorted.
    pub(crate) fn list(&self) -> Result<Vec<ListEntry>, StoreError> {
        let mut real = BTreeSet::new();
        real.insert(MailboxName::inbox());
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let Ok(dir) = entry.file_name().into_string() else {
                continue;
            };
            let Some(name) = self.ns.from_dir_name(&dir) else {
                continue;
            };
            // A folder is a directory (symlinks are not followed out of the tree).
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                real.insert(name);
            }
        }
        let mut all: BTreeSet<MailboxName> = real.clone();
        for name in &real {
            all.extend(name.ancestors());
        }
        Ok(all
            .iter()
            .map(|name| ListEntry {
                name: name.clone(),
                selectable: real.contains(name),
                has_children: all.iter().any(|other| other.is_child_of(name)),
            })
            .collect())
    }

    /// CREATE (RFC 3501 §6.3.3). Parents need no directories in Maildir++.
    ///
    /// The folder is built under a name LIST never shows and renamed into
    /// place whole, so a CREATE that fails half-way (no inodes, no space)
    /// leaves nothing behind that a client could see.
    pub(crate) fn create(&self, name: &MailboxName) -> Result<(), StoreError> {
        if name.is_inbox() || self.exists(name) {
            return Err(StoreError::Exists);
        }
        let dir = self.path_of(name);
        let staging = self.root.join(format!(
            "roost-creating-{}",
            maildir::new_base("x").replace('.', "-")
        ));
        let built = (|| -> io::Result<()> {
            create_dir_private(&staging)?;
            for sub in ["cur", "new", "tmp"] {
                create_dir_private(&staging.join(sub))?;
            }
            // Maildir++ wants this marker in every folder.
            fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o600)
                .open(staging.join("maildirfolder"))?;
            fs::rename(&staging, &dir)
        })();
        if let Err(e) = built {
            let _ = fs::remove_dir_all(&staging);
            return Err(match e.kind() {
                io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty => {
                    StoreError::Exists
                }
                _ => StoreError::Io(e),
            });
        }
        Ok(())
    }

    /// DELETE (RFC 3501 §6.3.4). In Maildir++ a folder's children are
    /// separate directories, so deleting a folder that has children leaves
    /// its name as a non-selectable parent, as RFC 3501 describes.
    pub(crate) fn delete(&self, name: &MailboxName) -> Result<(), StoreError> {
        if name.is_inbox() {
            return Err(StoreError::NotPossible("INBOX cannot be deleted"));
        }
        let dir = self.path_of(name);
        // A symlink is not a folder (LIST does not show it either).
        if !nofollow::is_real_dir(&dir) {
            let has_children = self.list()?.iter().any(|e| e.name.is_child_of(name));
            return Err(if has_children {
                StoreError::HasChildren
            } else {
                StoreError::NotFound
            });
        }
        // Move it out of sight first, so a crash half-way through the
        // recursive delete leaves no half-empty folder in LIST.
        let trash = self.root.join(format!(
            "roost-trashed-{}-{}",
            std::process::id(),
            maildir::new_base("x").replace('.', "-")
        ));
        self.move_folder(&dir, &trash)?;
        self.registry.forget(&dir);
        if let Err(e) = remove_folder(&trash) {
            // Undo: the folder comes back with whatever mail is left (the
            // rest reads as expunged), rather than hidden under a name no
            // client sees while the command answers an error.
            let restored = ["cur", "new", "tmp"]
                .iter()
                .try_for_each(|sub| create_dir_private(&trash.join(sub)))
                .and_then(|()| fs::rename(&trash, &dir));
            if let Err(undo) = restored {
                log::error!(
                    "DELETE of {} failed ({e}) and could not be undone ({undo}); what is left is in {}",
                    dir.display(),
                    trash.display()
                );
            }
            self.registry.forget(&dir);
            return Err(StoreError::Io(e));
        }
        Ok(())
    }

    /// RENAME (RFC 3501 §6.3.5): children move too; renaming INBOX moves
    /// its messages to the new folder and leaves INBOX empty.
    pub(crate) fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<(), StoreError> {
        if to.is_inbox() || self.exists(to) {
            return Err(StoreError::Exists);
        }
        if to.is_child_of(from) {
            return Err(StoreError::NotPossible(
                "cannot rename a mailbox into itself",
            ));
        }
        if from.is_inbox() {
            return self.rename_inbox(to);
        }
        let entries = self.list()?;
        if !self.exists(from) && !entries.iter().any(|e| e.name.is_child_of(from)) {
            return Err(StoreError::NotFound);
        }
        // Children first would leave orphans on a crash; parents first can
        // leave a parent renamed without children, which is harmless.
        let mut moves = vec![(from.clone(), to.clone())];
        for e in entries
            .iter()
            .filter(|e| e.selectable && e.name.is_child_of(from))
        {
            let target = e.name.rebase(from, to);
            if self.exists(&target) {
                return Err(StoreError::Exists);
            }
            moves.push((e.name.clone(), target));
        }
        for (old, new) in moves {
            let (old_dir, new_dir) = (self.path_of(&old), self.path_of(&new));
            if !old_dir.is_dir() {
                continue;
            }
            self.move_folder(&old_dir, &new_dir)?;
            self.registry.forget(&old_dir);
            self.registry.forget(&new_dir);
        }
        Ok(())
    }

    fn rename_inbox(&self, to: &MailboxName) -> Result<(), StoreError> {
        self.create(to)?;
        let target = self.path_of(to);
        for sub in ["cur", "new"] {
            for entry in fs::read_dir(self.root.join(sub))? {
                let entry = entry?;
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                fs::rename(entry.path(), target.join(sub).join(&name))?;
            }
        }
        // INBOX keeps its UIDVALIDITY; its messages are simply gone from it.
        Ok(())
    }

    /// A handle on a mailbox's shared state, synced with the disk.
    pub(crate) fn mailbox(&self, name: &MailboxName) -> Result<Mailbox, StoreError> {
        let dir = self.path_of(name);
        if !name.is_inbox() && fs::symlink_metadata(&dir).is_ok_and(|m| m.is_symlink()) {
            return Err(StoreError::NotFound);
        }
        let mailbox = Mailbox::new(self.registry.get(&dir), &self.root);
        mailbox.sync()?;
        Ok(mailbox)
    }

    /// Renames a folder's directory under its uidlist lock, so no APPEND,
    /// COPY or flag change is between placing a file and numbering it, and
    /// the lock does not travel with the directory and block the folder.
    /// This server's own deliveries take the folder's shared state first,
    /// then the dot-lock; so does this, so that it queues with them on a
    /// blocking lock instead of polling for the dot-lock, which a stream of
    /// APPENDs could keep taken for ever. The caller forgets the old state
    /// afterwards, once both locks are released.
    fn move_folder(&self, from: &Path, to: &Path) -> Result<(), StoreError> {
        let state = self.registry.get(from);
        let _state = lock(&state);
        let mut lock = lock_uidlist(from)?;
        fs::rename(from, to)?;
        lock.moved_to(&to.join(uidlist::FILE_NAME));
        Ok(())
    }

    /// STATUS counts without selecting.
    pub(crate) fn status(
        &self,
        name: &MailboxName,
        want_size: bool,
    ) -> Result<StatusCounts, StoreError> {
        let mailbox = self.mailbox(name)?;
        let mut st = mailbox.locked();
        let size = if want_size {
            let mut total = 0u64;
            for i in 0..st.messages.len() {
                // A file that vanished meanwhile simply does not count.
                total += st.vsize(i).unwrap_or(0);
            }
            Some(total)
        } else {
            None
        };
        Ok(StatusCounts {
            messages: st.messages.len() as u32,
            recent: st.recent() as u32,
            uidnext: st.next_uid,
            uidvalidity: st.uidvalidity,
            unseen: st.unseen() as u32,
            deleted: st
                .messages
                .iter()
                .filter(|m| m.flags.has(maildir::flag::DELETED))
                .count() as u32,
            size,
            highest_modseq: st.highest_modseq(),
            mailbox_id: st.mailbox_id(),
        })
    }

    /// MULTIAPPEND (RFC 3502): delivers several messages, all or none.
    /// Every message is written to `tmp/` and fsynced first; only then are
    /// they renamed into `cur/` and numbered together under the uidlist
    /// lock. Any failure removes what was placed, so no message of a failed
    /// command remains. Returns the UIDVALIDITY and the UIDs, in order.
    pub(crate) fn append_all(
        &self,
        name: &MailboxName,
        items: &[AppendItem<'_>],
    ) -> Result<(u32, Vec<u32>), StoreError> {
        let dir = self.path_of(name);
        self.check_writable(name, &dir)?;
        let total: u64 = items.iter().map(|i| i.source.sizes().0).sum();
        self.check_quota(total, items.len() as u64)?;
        let mut written: Vec<(String, PathBuf)> = Vec::with_capacity(items.len());
        let cleanup = |paths: &mut dyn Iterator<Item = &PathBuf>| {
            for p in paths {
                let _ = fs::remove_file(p);
            }
        };
        for item in items {
            let base = maildir::new_base(&self.host);
            let tmp = dir.join("tmp").join(&base);
            let staged = match item.source {
                AppendSource::File { path, .. } => place_spooled(path, &tmp),
                AppendSource::Bytes(bytes) => write_synced(&tmp, bytes),
            };
            if let Err(e) = staged {
                cleanup(&mut written.iter().map(|(_, p)| p).chain([&tmp]));
                return Err(gone_if_missing(e));
            }
            written.push((base, tmp));
        }
        let mailbox = match self.mailbox(name) {
            Ok(st) => st,
            Err(e) => {
                cleanup(&mut written.iter().map(|(_, p)| p));
                return Err(e);
            }
        };
        let mut st = mailbox.locked();
        let placed = self.place_all(&dir, &mut st, items, &written);
        match placed {
            Ok(r) => {
                self.quota.record(total as i64, items.len() as i64);
                Ok(r)
            }
            Err((e, in_cur)) => {
                cleanup(&mut written.iter().map(|(_, p)| p).chain(in_cur.iter()));
                st.mark_dirty();
                Err(e)
            }
        }
    }

    /// The second half of `append_all`, under the mailbox lock: on error,
    /// also the `cur/` files it had already placed.
    #[allow(clippy::type_complexity)]
    fn place_all(
        &self,
        dir: &Path,
        st: &mut MailboxState,
        items: &[AppendItem<'_>],
        written: &[(String, PathBuf)],
    ) -> Result<(u32, Vec<u32>), (StoreError, Vec<PathBuf>)> {
        let mut in_cur: Vec<PathBuf> = Vec::new();
        let _uidlist_lock = lock_uidlist(dir).map_err(|e| (e, Vec::new()))?;
        let mut placed: Vec<(String, Message)> = Vec::with_capacity(items.len());
        for (item, (base, tmp)) in items.iter().zip(written) {
            let flags = match disk_flags(dir, st, item.flags.system, &item.flags.keywords) {
                Ok(f) => f,
                Err(e) => return Err((e, in_cur)),
            };
            let (size, vsize) = item.source.sizes();
            let file = maildir::cur_name(base, size, vsize, flags);
            let dest = dir.join("cur").join(&file);
            st.expect_own("cur", &file);
            if let Err(e) = fs::rename(tmp, &dest) {
                return Err((gone_if_missing(e), in_cur));
            }
            if let Some(date) = item.internal_date {
                set_internal_date(&dest, date);
            }
            in_cur.push(dest);
            placed.push(new_in_cur(file, flags, vsize));
        }
        let keys = saved_keys(dir, placed.iter());
        let root = self.root.clone();
        let numbered = numbered_while_cur_syncs(&dir.join("cur"), || {
            st.persist_new_uids(&keys, &move || next_uidvalidity(&root))
        });
        let uids = match numbered {
            Ok(u) if u.len() == placed.len() => u,
            Ok(_) => return Err((StoreError::NotPossible("no UID assigned"), in_cur)),
            Err(e) => return Err((e, in_cur)),
        };
        for ((_, mut msg), &uid) in placed.into_iter().zip(&uids) {
            msg.uid = uid;
            st.note_appended(msg, true);
        }
        st.flush_modseq();
        Ok((st.uidvalidity, uids))
    }

    /// Refuses a COPY of `items` that would take the user over quota.
    pub(crate) fn check_copy_quota(&self, items: &[CopyItem]) -> Result<(), StoreError> {
        let total: u64 = items.iter().map(copy_size).sum();
        self.check_quota(total, items.len() as u64)
    }

    /// COPY / MOVE (RFC 3501 §6.4.7, RFC 6851): puts the given files into
    /// `target` with new names and UIDs, keeping flags, keywords (by name)
    /// and the internal date (the file's mtime). COPY hard-links, as Dovecot
    /// does (falling back to a real copy across file systems); MOVE renames.
    /// Returns the target's UIDVALIDITY and the new UIDs, in item order;
    /// None for a message expunged meanwhile.
    pub(crate) fn copy_into(
        &self,
        target: &MailboxName,
        items: &[CopyItem],
        is_move: bool,
    ) -> Result<(u32, Vec<Option<u32>>), StoreError> {
        let dir = self.path_of(target);
        self.check_writable(target, &dir)?;
        // A MOVE stays within this user's tree: usage does not change
        // (Dovecot does not check it either).
        if !is_move {
            self.check_copy_quota(items)?;
        }
        let mailbox = self.mailbox(target)?;
        let mut st = mailbox.locked();
        let _uidlist_lock = lock_uidlist(&dir)?;
        // Copies keep the source's base name (and so its EMAILID) unless
        // the target has it already: the uidlist tells.
        st.refresh_uid_map()?;
        let mut placed: Vec<Option<(String, Message)>> = Vec::with_capacity(items.len());
        let mut copied_bytes = 0i64;
        let mut copied = 0i64;
        for item in items {
            let flags = disk_flags(&dir, &mut st, item.system_flags, &item.keywords)?;
            // Other sessions rename a file when its flags change and remove
            // it on EXPUNGE, after the caller read its path: look it up again
            // by its unique name (a few times); a message gone is skipped.
            let mut path = item.path.clone();
            let mut done = None;
            for _ in 0..3 {
                let source = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let base = maildir::copy_base(source, &|b| st.knows_base(b) || exists_in(&dir, b));
                match self.place_copy(&dir, &path, item, flags, is_move, base) {
                    Ok(r) => {
                        done = Some(r);
                        break;
                    }
                    Err(e) if nofollow::is_gone(&e) => match relocate(&path) {
                        Some(p) => path = p,
                        None => break,
                    },
                    Err(e) => return Err(StoreError::Io(e)),
                }
            }
            let Some((file, vsize)) = done else {
                placed.push(None);
                continue;
            };
            copied_bytes += copy_size(item) as i64;
            copied += 1;
            placed.push(Some(new_in_cur(file, flags, vsize)));
        }
        let keys = saved_keys(&dir, placed.iter().flatten());
        let root = self.root.clone();
        let mut uids = numbered_while_cur_syncs(&dir.join("cur"), || {
            st.persist_new_uids(&keys, &move || next_uidvalidity(&root))
        })?
        .into_iter();
        let mut out = Vec::with_capacity(placed.len());
        for p in placed {
            match (p, uids.next()) {
                (Some((_, mut msg)), Some(uid)) => {
                    msg.uid = uid;
                    st.note_appended(msg, false);
                    out.push(Some(uid));
                }
                _ => out.push(None),
            }
        }
        st.flush_modseq();
        st.mark_dirty();
        if !is_move {
            self.quota.record(copied_bytes, copied);
        }
        Ok((st.uidvalidity, out))
    }

    /// Links (COPY) or renames (MOVE) one message file into `dir`'s cur/;
    /// its new file name and virtual size.
    fn place_copy(
        &self,
        dir: &Path,
        path: &Path,
        item: &CopyItem,
        flags: Flags,
        is_move: bool,
        base: Option<String>,
    ) -> io::Result<(String, u64)> {
        let size = match item.size {
            Some(s) => s,
            None => fs::symlink_metadata(path)?.len(),
        };
        let vsize = match item.vsize {
            Some(v) => v,
            None => maildir::crlf_size(&nofollow::read(path)?),
        };
        let (base, file) = match base {
            // Sizes are in the kept name already (or were never there).
            Some(b) => (b.clone(), maildir::with_flags(&b, flags)),
            None => {
                let b = maildir::new_base(&self.host);
                let file = maildir::cur_name(&b, size, vsize, flags);
                (b, file)
            }
        };
        let dest = dir.join("cur").join(&file);
        let moved = if is_move {
            fs::rename(path, &dest)
        } else {
            fs::hard_link(path, &dest)
        };
        match moved {
            Ok(()) => {}
            // Never written over: the kept name is someone else's now.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
            // Another file system (or no hard links): copy for real.
            Err(e) if !nofollow::is_gone(&e) => {
                let bytes = nofollow::read(path)?;
                let mtime = fs::symlink_metadata(path)?.modified()?;
                let tmp = dir.join("tmp").join(&base);
                write_synced(&tmp, &bytes)?;
                fs::rename(&tmp, &dest)?;
                set_internal_date(&dest, mtime);
                if is_move {
                    fs::remove_file(path)?;
                }
            }
            Err(e) => return Err(e),
        }
        Ok((file, vsize))
    }

    /// Names the user subscribed to.
    pub(crate) fn subscriptions(&self) -> Result<Vec<MailboxName>, StoreError> {
        let subs = subscriptions::Subscriptions::load(&self.root)?;
        Ok(subs
            .iter()
            .map(|levels| MailboxName::from_levels(levels.to_vec()))
            .collect())
    }

    pub(crate) fn subscribe(&self, name: &MailboxName, on: bool) -> Result<(), StoreError> {
        let mut subs = subscriptions::Subscriptions::load(&self.root)?;
        let changed = if on {
            subs.add(name.levels().to_vec())
        } else {
            subs.remove(name.levels())
        };
        if changed {
            subs.save(&self.root)?;
        }
        Ok(())
    }

    /// Deletes `tmp/` files older than 36 hours in a mailbox (Maildir rule).
    /// Nothing Roost writes there carries an old mtime (INTERNALDATEs are
    /// set after the move into `cur/`), so a file in flight is never taken
    /// for a leftover.
    pub(crate) fn clean_tmp(&self, name: &MailboxName) {
        let tmp = self.path_of(name).join("tmp");
        // A tmp/ that is a symlink leads out of the tree: never clean there.
        if !nofollow::is_real_dir(&tmp) {
            return;
        }
        let Ok(entries) = fs::read_dir(&tmp) else {
            return;
        };
        let limit = SystemTime::now() - Duration::from_secs(36 * 3600);
        for entry in entries.flatten() {
            // DirEntry::metadata does not follow symlinks.
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < limit);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Syncs a locked state with the disk; `root` is where a new
/// UIDVALIDITY is counted.
fn sync_state(root: &Path, st: &mut MailboxState) -> Result<(), StoreError> {
    let root = root.to_path_buf();
    let mut result = st.sync(&|| next_uidvalidity(&root));
    // Another host renamed a file we had just looked up (a shared file
    // system): a fresh sync looks everything up by name again.
    for _ in 0..3 {
        match &result {
            Err(StoreError::Io(io)) if nofollow::is_stale(io) => {
                log::info!("{}: stale file handle; syncing again", st.dir().display());
                st.mark_dirty();
                result = st.sync(&|| next_uidvalidity(&root));
            }
            _ => break,
        }
    }
    result.map_err(|e| match e {
        // The folder was renamed or deleted while it was being read.
        StoreError::Io(io) if nofollow::is_gone(&io) && !st.dir().is_dir() => StoreError::NotFound,
        e => e,
    })
}

/// The flags to write for `system` plus the keywords `names`, re-reading
/// `dovecot-keywords` and giving new names letters (the caller holds the
/// uidlist lock).
fn disk_flags(
    dir: &Path,
    st: &mut MailboxState,
    system: u8,
    names: &[String],
) -> Result<Flags, StoreError> {
    let mut flags = Flags {
        system,
        keywords: 0,
    };
    if names.is_empty() {
        return Ok(flags);
    }
    let mut keywords = keywords::Keywords::load(dir).unwrap_or_default();
    let before = keywords.clone();
    for k in names {
        match keywords.index_of(k).or_else(|| keywords.add(k)) {
            Some(i) => flags.set_keyword(i, true),
            // Maildir has 26 keyword letters; Dovecot keeps more only in
            // its index, which Roost does not have. Refuse the whole
            // command rather than keep some keywords and drop others.
            None => {
                log::info!("{}: no keyword letter left for {k:?}", dir.display());
                return Err(StoreError::KeywordLimit);
            }
        }
    }
    if keywords != before {
        keywords.save(dir)?;
    }
    st.keywords = keywords;
    Ok(flags)
}

/// Takes `dovecot-uidlist.lock` of a mailbox directory; a lock held too
/// long by another process is `InUse`, a folder renamed or deleted
/// meanwhile `NotFound`.
fn lock_uidlist(dir: &Path) -> Result<DotLock, StoreError> {
    DotLock::acquire(&dir.join(uidlist::FILE_NAME), UIDLIST_LOCK).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => StoreError::InUse,
        _ if nofollow::is_gone(&e) => StoreError::NotFound,
        _ => StoreError::Io(e),
    })
}

/// Removes a folder moved out of sight: its messages first, then its
/// state files and directories, stopping at the first failure so that
/// what is left is still a folder (see `Store::delete`).
fn remove_folder(dir: &Path) -> io::Result<()> {
    for sub in ["tmp", "new", "cur"] {
        // A symlinked sub-directory is not ours to empty: remove_dir_all
        // below takes the link itself.
        if !nofollow::is_real_dir(&dir.join(sub)) {
            continue;
        }
        let entries = match fs::read_dir(dir.join(sub)) {
            Ok(e) => e,
            Err(e) if nofollow::is_gone(&e) => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
        }
    }
    fs::remove_dir_all(dir)
}

/// A rename into a folder that failed because the folder (or the file we
/// placed in its `tmp/`) moved away meanwhile: the folder is gone as far as
/// this command goes.
/// The size a COPY adds to the quota: the file's (`,S=` or stat); a file
/// gone meanwhile adds nothing.
fn copy_size(item: &CopyItem) -> u64 {
    item.size
        .or_else(|| fs::symlink_metadata(&item.path).ok().map(|m| m.len()))
        .unwrap_or(0)
}

fn gone_if_missing(e: io::Error) -> StoreError {
    if nofollow::is_gone(&e) {
        StoreError::NotFound
    } else {
        StoreError::Io(e)
    }
}

/// Creates a directory with its parent's permissions (`perms`).
fn create_dir_private(path: &Path) -> io::Result<()> {
    let mode = path.parent().map_or(0o700, perms::dir_mode);
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(mode & 0o777)
        .create(path)
    {
        Ok(()) => perms::widen_path(path, mode),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes a new file and makes it durable before anyone can see it.
/// Where a message file lives now that another session may have renamed
/// it (a flag change): the file in cur/ or new/ of the same mailbox with
/// the same unique name; None if it is gone.
fn relocate(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let base = name.split(maildir::INFO_SEP).next()?;
    let mailbox = path.parent()?.parent()?;
    for sub in ["cur", "new"] {
        let Ok(entries) = fs::read_dir(mailbox.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let n = e.file_name();
            if n.to_str().and_then(|n| n.split(maildir::INFO_SEP).next()) == Some(base) {
                return Some(e.path());
            }
        }
    }
    None
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mode = mailbox_file_mode(path);
    let mut f = nofollow::options()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    perms::widen_file(&f, mode)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Maildir: a message's mtime is its INTERNALDATE. It is set only once the
/// file is in `cur/`: in `tmp/`, an old date (mail being migrated) would
/// make the file look like a 36-hour-old leftover, and another session's
/// cleanup would delete it mid-APPEND. The caller's fsync of `cur/` makes
/// the change durable with the rename (one journal on ext4); a crash before
/// leaves an unacknowledged message dated now. Opened read-only, so no
/// watcher sees a write.
fn set_internal_date(path: &Path, date: SystemTime) {
    if let Err(e) = nofollow::open(path).and_then(|f| f.set_modified(date)) {
        log::warn!("{}: cannot set the INTERNALDATE: {e}", path.display());
    }
}

/// Whether `dir` has a message file called `base` in `new/` (no flags) or
/// `cur/` with no flags yet: a kept copy name must not land on one.
fn exists_in(dir: &Path, base: &str) -> bool {
    ["new", "cur"].iter().any(|sub| {
        let d = dir.join(sub);
        fs::symlink_metadata(d.join(base)).is_ok()
            || fs::symlink_metadata(d.join(format!("{base}:2,"))).is_ok()
    })
}

/// The base names of messages just placed in `dir`'s cur/, each with its
/// save date: the file's ctime after the last rename and utime.
fn saved_keys<'a>(
    dir: &Path,
    placed: impl Iterator<Item = &'a (String, Message)>,
) -> Vec<(String, i64)> {
    let cur = dir.join("cur");
    placed
        .map(|(k, m)| (k.clone(), state::ctime_of(&cur.join(&*m.file))))
        .collect()
}

/// A message just renamed into `cur/` as `file`, keyed by its base name,
/// before it has a UID.
fn new_in_cur(file: String, flags: Flags, vsize: u64) -> (String, Message) {
    let key = file
        .split(maildir::INFO_SEP)
        .next()
        .unwrap_or(&file)
        .to_string();
    let msg = Message {
        uid: 0,
        file: file.into_boxed_str(),
        in_new: false,
        flags,
        vsize: Some(vsize),
        modseq: 0,
    };
    (key, msg)
}

/// Moves a spooled APPEND literal (already fsynced) to `path` in the
/// target folder's `tmp/`, copying when it sits on another file system.
fn place_spooled(spool: &Path, path: &Path) -> io::Result<()> {
    let mode = mailbox_file_mode(path);
    match fs::rename(spool, path) {
        // The spool file was made 0600 in the root's tmp/.
        Ok(()) => perms::widen_path(path, mode),
        // EXDEV: folders on different file systems.
        Err(e) if e.kind() != io::ErrorKind::CrossesDevices => Err(e),
        Err(_) => {
            let mut from = nofollow::open(spool)?;
            let mut to = nofollow::options()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(path)?;
            perms::widen_file(&to, mode)?;
            io::copy(&mut from, &mut to)?;
            to.sync_all()
        }
    }
}

/// The mode for a message file at `mailbox/tmp/NAME`.
fn mailbox_file_mode(path: &Path) -> u32 {
    path.parent()
        .and_then(Path::parent)
        .map_or(0o600, perms::file_mode)
}

/// Runs `numbering` (which writes and fdatasyncs the uidlist) while a
/// worker fsyncs `cur/`, so the two flushes overlap instead of queueing:
/// on this kind of disk each costs about a third of an APPEND.
/// The order between them does not matter for safety, since nothing is
/// acknowledged before both are done: a crash in between leaves a file in
/// `cur/` the next scan numbers, or a uidlist line without its file, which
/// reads as an expunge of a UID no client was told. Either failing fails
/// the command. Without a worker to spare, the fsync runs first.
fn numbered_while_cur_syncs<T>(
    cur: &Path,
    numbering: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match dir_sync::start(cur).map_err(StoreError::Io)? {
        Some(pending) => {
            let numbered = numbering();
            pending.wait().map_err(StoreError::Io)?;
            numbered
        }
        None => {
            dotlock::sync_dir(cur).map_err(StoreError::Io)?;
            numbering()
        }
    }
}

/// A fresh UIDVALIDITY for a new mailbox: larger than any this tree handed
/// out before and, like Dovecot's, normally the current time. The counter
/// lives in `<root>/dovecot-uidvalidity` (8 hex digits), which Dovecot
/// shares.
pub(crate) fn next_uidvalidity(root: &Path) -> u32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1);
    let path = root.join("dovecot-uidvalidity");
    let Ok(lock) = DotLock::acquire(&path, UIDVALIDITY_LOCK) else {
        return now.max(1);
    };
    let last = nofollow::read(&path)
        .ok()
        .and_then(|b| u32::from_str_radix(String::from_utf8_lossy(&b).trim(), 16).ok())
        .unwrap_or(0);
    let next = now.max(last.saturating_add(1)).max(1);
    if let Err(e) = lock.replace_target(format!("{next:08x}").as_bytes()) {
        log::warn!("{}: {e}", path.display());
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(
            dir.path().join("Maildir"),
            Namespace::default(),
            Arc::new(Registry::default()),
        )
        .unwrap();
        (dir, s)
    }

    fn name(s: &Store, wire: &str) -> MailboxName {
        s.namespace().parse(wire).unwrap()
    }

    #[test]
    fn create_list_delete_rename() {
        let (_d, s) = store();
        s.create(&name(&s, "Archive.2024")).unwrap();
        s.create(&name(&s, "Sent")).unwrap();
        assert!(matches!(
            s.create(&name(&s, "Sent")),
            Err(StoreError::Exists)
        ));
        let list = s.list().unwrap();
        let shown: Vec<(String, bool, bool)> = list
            .iter()
            .map(|e| (s.namespace().to_wire(&e.name), e.selectable, e.has_children))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("Archive".into(), false, true),
                ("Archive.2024".into(), true, false),
                ("INBOX".into(), true, false),
                ("Sent".into(), true, false),
            ]
        );
        assert!(s.path_of(&name(&s, "Sent")).join("maildirfolder").exists());
        assert!(matches!(
            s.delete(&name(&s, "Archive")),
            Err(StoreError::HasChildren)
        ));
        s.rename(&name(&s, "Archive"), &name(&s, "Old")).unwrap();
        assert!(s.exists(&name(&s, "Old.2024")));
        s.delete(&name(&s, "Old.2024")).unwrap();
        assert!(!s.exists(&name(&s, "Old.2024")));
        assert!(matches!(
            s.delete(&MailboxName::inbox()),
            Err(StoreError::NotPossible(_))
        ));
        let leftovers: Vec<_> = fs::read_dir(s.root())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("roost-trashed"))
            .collect();
        assert!(leftovers.is_empty());
    }

    /// Appends alone used to grow the uidlist for ever: each expunged
    /// message kept its line until something else rewrote the file.
    #[test]
    fn appends_rewrite_a_uidlist_mostly_of_expunged_messages() {
        let (_d, s) = store();
        let inbox = MailboxName::inbox();
        let deleted = NewFlags {
            system: maildir::flag::DELETED,
            keywords: Vec::new(),
        };
        let bodies: Vec<Vec<u8>> = (0..1100)
            .map(|i| format!("Subject: {i}\n\nbody\n").into_bytes())
            .collect();
        let items: Vec<AppendItem<'_>> = bodies
            .iter()
            .map(|b| AppendItem {
                source: AppendSource::Bytes(b),
                flags: deleted.clone(),
                internal_date: None,
            })
            .collect();
        s.append_all(&inbox, &items).unwrap();
        let mailbox = s.mailbox(&inbox).unwrap();
        assert_eq!(mailbox.expunge_deleted(None).unwrap().len(), 1100);
        let item = AppendItem {
            source: AppendSource::Bytes(b"Subject: kept\n\nbody\n"),
            flags: NewFlags::default(),
            internal_date: None,
        };
        let (_, uids) = s.append_all(&inbox, &[item]).unwrap();
        assert_eq!(uids, vec![1101]);
        let text = fs::read_to_string(s.root().join("dovecot-uidlist")).unwrap();
        let records: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(records.len(), 1, "{}", &text[..text.len().min(300)]);
        assert!(records[0].starts_with("1101 "), "{text}");
        assert!(
            text.starts_with("3 V") && text.contains(" N1102 "),
            "{text}"
        );
    }

    #[test]
    fn append_assigns_increasing_uids_and_persists_them() {
        let (_d, s) = store();
        let inbox = MailboxName::inbox();
        let flags = NewFlags {
            system: maildir::flag::SEEN,
            keywords: vec!["$Forwarded".into()],
        };
        let append = |bytes: &[u8], flags: &NewFlags| {
            let item = AppendItem {
                source: AppendSource::Bytes(bytes),
                flags: flags.clone(),
                internal_date: None,
            };
            let (uv, uids) = s.append_all(&inbox, &[item]).unwrap();
            (uv, uids[0])
        };
        let (uv, uid1) = append(b"Subject: a\n\nbody\n", &flags);
        let (uv2, uid2) = append(b"Subject: b\n\nbody\n", &NewFlags::default());
        assert_eq!((uid1, uid2), (1, 2));
        assert_eq!(uv, uv2);
        let text = fs::read_to_string(s.root().join("dovecot-uidlist")).unwrap();
        assert!(text.starts_with(&format!("3 V{uv} N")), "{text}");
        assert_eq!(
            fs::read_to_string(s.root().join("dovecot-keywords")).unwrap(),
            "0 $Forwarded\n"
        );
        // A fresh registry (a restart) sees the same UIDs and flags.
        let again = Store::open(
            s.root().to_path_buf(),
            Namespace::default(),
            Arc::new(Registry::default()),
        )
        .unwrap();
        let state = again.mailbox(&inbox).unwrap();
        let st = state.locked();
        assert_eq!(st.uidvalidity, uv);
        assert_eq!(
            st.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(st.messages[0].flags.has(maildir::flag::SEEN));
        assert!(st.messages[0].flags.has_keyword(0));
        assert!(
            st.messages[0].file.contains(",S=17,W=20:2,Sa"),
            "{}",
            st.messages[0].file
        );
        assert_eq!(st.next_uid, 3);
    }

    #[test]
    fn external_deliveries_get_uids_and_vanished_files_are_expunged() {
        let (_d, s) = store();
        let inbox = MailboxName::inbox();
        fs::write(s.root().join("new/1000.M1P1.host"), "a\n").unwrap();
        fs::write(s.root().join("cur/999.M5P1.host:2,S"), "b\n").unwrap();
        let state = s.mailbox(&inbox).unwrap();
        {
            let st = state.locked();
            let got: Vec<(u32, &str)> = st.messages.iter().map(|m| (m.uid, &*m.file)).collect();
            assert_eq!(got, vec![(1, "999.M5P1.host:2,S"), (2, "1000.M1P1.host")]);
            // No uidlist yet: all \Recent, as with Dovecot.
            assert_eq!(st.recent(), 2);
        }
        fs::remove_file(s.root().join("cur/999.M5P1.host:2,S")).unwrap();
        fs::write(s.root().join("new/1001.M1P1.host"), "c\n").unwrap();
        let mut st = state.locked();
        // Wait out nothing: the dirty-window rule forces a rescan anyway.
        sync_state(s.root(), &mut st).unwrap();
        let got: Vec<u32> = st.messages.iter().map(|m| m.uid).collect();
        assert_eq!(got, vec![2, 3]);
    }

    #[test]
    fn uidvalidity_counter_only_grows() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("dovecot-uidvalidity"), "ffffff00").unwrap();
        assert_eq!(next_uidvalidity(dir.path()), 0xffffff01);
        assert_eq!(
            fs::read_to_string(dir.path().join("dovecot-uidvalidity")).unwrap(),
            "ffffff01"
        );
        let dir = tempfile::tempdir().unwrap();
        let a = next_uidvalidity(dir.path());
        let b = next_uidvalidity(dir.path());
        assert!(b > a);
    }
}
