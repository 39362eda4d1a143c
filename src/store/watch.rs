//! Change notification: one watcher thread for the whole server tells
//! sessions that a mailbox they have selected changed on disk, whoever
//! changed it (another session, Dovecot's LDA, procmail, a file copy).
//!
//! The thread blocks on inotify for the `new/` and `cur/` directories of
//! mailboxes that some session has selected. A notification carries no
//! data: it means "sync now" (the disk is the truth), over a `bounded(1)`
//! channel so bursts coalesce. A session waiting in IDLE also registers a
//! `mio::Waker`, which ends its wait at once.
//!
//! Inotify only hears changes made through this kernel: on a file system
//! other hosts write to (NFS, GlusterFS over FUSE, …; see `fs_kind`), or
//! with `watch = poll`, or when inotify fails, a mailbox is polled instead:
//! a second thread stats its `new/`, `cur/`, `dovecot-uidlist` and
//! `dovecot-keywords` every `watch_poll_interval` and wakes the
//! subscribers when a stamp moved (or is too young to be trusted). A
//! polled mailbox has no generation, so the store goes by stamps alone.
//!
//! The watcher also tells the store whether a watched mailbox changed in
//! any way Roost itself did not make ([`Watcher::generation`]): a counter
//! per mailbox moves on every event except those this process announced
//! beforehand ([`Watcher::expect`], e.g. a STORE's rename). A mailbox whose
//! counter has not moved since its last directory scan needs no new scan,
//! even within the one-second window in which directory mtimes cannot be
//! trusted; without that, every command after a flag change reread the
//! whole folder for a second. A second counter moves on every write to
//! the uidlist, keywords and modseq files (the mailbox directory itself is
//! watched too): while neither moved, a sync needs no system call beyond
//! reading the inotify queue, where it used to stat five files.

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use inotify::{Inotify, WatchDescriptor, WatchMask, Watches};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Mailboxes whose directories stay watched; beyond this, watches of
/// mailboxes nobody has selected are dropped (each costs 3 of the
/// system's inotify watches).
const MAX_WATCHED: usize = 2000;
/// A stamp younger than this may hide a second change made within the
/// same timestamp tick (1 s on some file systems): such a mailbox is
/// reported changed at every poll until its stamps have aged.
const POLL_DIRTY: Duration = Duration::from_secs(2);

/// How mailbox changes are noticed (`watch` in roost.conf).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchMode {
    /// Inotify everywhere (one host, local disks).
    Inotify,
    /// Stat polling everywhere (several hosts on one shared store).
    Poll,
    /// Polling for mailboxes on a network or FUSE file system, inotify
    /// for the rest.
    Auto,
}

impl WatchMode {
    pub fn parse(value: &str) -> Option<WatchMode> {
        match value {
            "inotify" => Some(WatchMode::Inotify),
            "poll" => Some(WatchMode::Poll),
            "auto" => Some(WatchMode::Auto),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WatchMode::Inotify => "inotify",
            WatchMode::Poll => "poll",
            WatchMode::Auto => "auto",
        }
    }
}

/// Something to poke when a mailbox changes.
struct Subscriber {
    id: u64,
    tx: Sender<()>,
    waker: Arc<Mutex<Option<Arc<mio::Waker>>>>,
}

impl Subscriber {
    fn notify(&self) {
        match self.tx.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => return,
        }
        if let Some(w) = super::lock(&self.waker).as_ref() {
            let _ = w.wake();
        }
    }
}

/// One watched mailbox directory.
struct Entry {
    /// The watches of its `new/` and `cur/`, with the inode each was
    /// added for: a folder deleted and created again, or renamed away and
    /// back, has other directories under the same name, which need
    /// watches of their own.
    wds: Vec<(WatchDescriptor, u64)>,
    subs: Vec<Subscriber>,
    /// Moves on every change this process did not announce. Its values
    /// come from [`next_stamp`], so they are never reused: a state that
    /// saw a trimmed entry's value can never take a newer entry's for it.
    generation: u64,
    /// The watch of the mailbox directory itself, with its inode: it hears
    /// writes to the files a sync stats (`FILES`). None when not watched.
    root: Option<(WatchDescriptor, u64)>,
    /// Moves on every write to one of `FILES`, this process's included.
    files_generation: u64,
    /// Watched by polling, not inotify; the stamps seen last.
    polled: Option<PollStamps>,
}

impl Default for Entry {
    fn default() -> Entry {
        Entry {
            wds: Vec::new(),
            subs: Vec::new(),
            generation: next_stamp(),
            root: None,
            files_generation: next_stamp(),
            polled: None,
        }
    }
}

/// A value no generation had before (in this process).
fn next_stamp() -> u64 {
    static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    CLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

/// What a poll compares: (size, mtime in ns) of `new/`, `cur/`, the
/// uidlist and the keywords file; None for a missing one.
type PollStamps = [Option<(u64, i128)>; 4];

/// The sub-directories watched, in the order of `Entry::wds`.
const SUBDIRS: [&str; 2] = ["new", "cur"];

/// The files in a mailbox directory whose changes a sync must see besides
/// `new/` and `cur/`; other names there (temporary files, lock files,
/// sub-folders) are not news.
const FILES: [&str; 3] = [
    super::uidlist::FILE_NAME,
    super::keywords::FILE_NAME,
    super::modseq::FILE_NAME,
];

/// `Table::by_wd`'s sub-directory name for a mailbox directory's own watch.
const ROOT: &str = "";

/// What the watcher can vouch for about one mailbox, counting every event
/// queued before it was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Generation {
    /// Changes to `new/` and `cur/` this process did not announce.
    pub(crate) dirs: u64,
    /// Writes to the uidlist, keywords or modseq files, anyone's; None
    /// when the mailbox directory itself is not watched.
    pub(crate) files: Option<u64>,
}

/// How long an announced change waits for its event before it is dropped
/// (a rename that failed after it was announced).
const EXPECT_FOR: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Table {
    /// Mailbox directory → its inotify watches and subscribers.
    dirs: HashMap<PathBuf, Entry>,
    /// Watch → the mailbox directories (and which sub-directory of each)
    /// it serves. Several, when a directory was watched under one name and
    /// renamed to another: inotify gives the same inode the same watch.
    by_wd: HashMap<WatchDescriptor, Vec<(PathBuf, &'static str)>>,
    /// Changes this process announced: (mailbox, sub-directory, file name)
    /// → when, until their event arrives.
    expected: HashMap<(PathBuf, &'static str, String), Instant>,
    next_id: u64,
}

/// The inotify instance and its read buffer. Whoever holds the lock reads
/// and applies every queued event: the watcher thread when the descriptor
/// becomes readable, or a session that must know every change made so far
/// before it trusts a generation.
struct Reader {
    inotify: Inotify,
    buf: Vec<u8>,
}

struct Inner {
    mode: WatchMode,
    poll_interval: Duration,
    table: Mutex<Table>,
    /// Handle to add and remove inotify watches from session threads;
    /// None when falling back to polling.
    watches: Mutex<Option<Watches>>,
    reader: Mutex<Option<Reader>>,
}

/// The server's watcher; cheap to clone.
#[derive(Clone)]
pub struct Watcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

/// A session's interest in one mailbox; dropping it unsubscribes.
pub(crate) struct Subscription {
    inner: Arc<Inner>,
    dir: PathBuf,
    id: u64,
    rx: Receiver<()>,
    waker: Arc<Mutex<Option<Arc<mio::Waker>>>>,
}

impl Subscription {
    /// True (once) if the mailbox changed since the last call.
    pub(crate) fn changed(&self) -> bool {
        self.rx.try_recv().is_ok()
    }

    /// While set, a change also wakes this waker (a session in IDLE).
    pub(crate) fn set_waker(&self, waker: Option<Arc<mio::Waker>>) {
        *super::lock(&self.waker) = waker;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // The inotify watches stay: adding one to a directory walks all its
        // entries in the kernel (100,000 for a big INBOX), so dropping it at
        // every UNSELECT would make the next SELECT pay that again. Idle
        // watches are trimmed in `subscribe` when there are too many.
        let mut table = super::lock(&self.inner.table);
        if let Some(entry) = table.dirs.get_mut(&self.dir) {
            entry.subs.retain(|s| s.id != self.id);
        }
    }
}

impl Watcher {
    /// Starts the watcher threads.
    pub(crate) fn start(mode: WatchMode, poll_interval: Duration) -> Watcher {
        let inotify = match mode {
            WatchMode::Poll => None,
            _ => match Inotify::init() {
                Ok(i) => Some(i),
                Err(e) => {
                    log::warn!("inotify unavailable ({e}); mailbox changes are polled");
                    None
                }
            },
        };
        let fd = inotify.as_ref().map(|i| i.as_raw_fd());
        let inner = Arc::new(Inner {
            mode,
            poll_interval,
            table: Mutex::new(Table::default()),
            watches: Mutex::new(inotify.as_ref().map(Inotify::watches)),
            reader: Mutex::new(inotify.map(|inotify| Reader {
                inotify,
                buf: vec![0u8; 64 * 1024],
            })),
        });
        if let Some(fd) = fd {
            let thread_inner = Arc::clone(&inner);
            let spawned = std::thread::Builder::new()
                .name("watcher".into())
                .spawn(move || inotify_loop(&thread_inner, fd));
            if let Err(e) = spawned {
                log::error!("cannot start the watcher thread: {e}");
                stop_inotify(&inner);
            }
        }
        // Always there: inotify may fail later, and `auto` polls some
        // mailboxes beside inotify's.
        let thread_inner = Arc::clone(&inner);
        let spawned = std::thread::Builder::new()
            .name("poller".into())
            .spawn(move || poll_loop(&thread_inner));
        if let Err(e) = spawned {
            log::error!("cannot start the mailbox polling thread: {e}");
        }
        Watcher { inner }
    }

    /// How many changes this process did not make have been seen in the
    /// mailbox in `dir` since it was first watched, and how many writes to
    /// its files, counting every event queued before this call; None when
    /// it is not watched (then only the directories' stamps can tell).
    pub(crate) fn generation(&self, dir: &Path) -> Option<Generation> {
        drain(&self.inner);
        let table = super::lock(&self.inner.table);
        table
            .dirs
            .get(dir)
            .filter(|e| e.wds.len() == SUBDIRS.len())
            .map(|e| Generation {
                dirs: e.generation,
                files: e.root.as_ref().map(|_| e.files_generation),
            })
    }

    /// Announces that this process is about to create, rename or remove
    /// `name` in `sub` (`"new"` or `"cur"`) of the mailbox in `dir`, so
    /// its event does not count as an outside change.
    pub(crate) fn expect(&self, dir: &Path, sub: &'static str, name: &str) {
        let mut table = super::lock(&self.inner.table);
        if table.dirs.get(dir).is_some_and(|e| !e.wds.is_empty()) {
            table
                .expected
                .insert((dir.to_path_buf(), sub, name.to_string()), Instant::now());
        }
    }

    /// Subscribes to changes of the mailbox in `dir`.
    pub(crate) fn subscribe(&self, dir: &Path) -> Subscription {
        let (tx, rx) = bounded(1);
        let waker = Arc::new(Mutex::new(None));
        let mut table = super::lock(&self.inner.table);
        table.next_id += 1;
        let id = table.next_id;
        if !table.dirs.contains_key(dir) && table.dirs.len() >= MAX_WATCHED {
            self.trim_idle(&mut table);
        }
        self.watch(&mut table, dir);
        table
            .dirs
            .entry(dir.to_path_buf())
            .or_default()
            .subs
            .push(Subscriber {
                id,
                tx,
                waker: Arc::clone(&waker),
            });
        Subscription {
            inner: Arc::clone(&self.inner),
            dir: dir.to_path_buf(),
            id,
            rx,
            waker,
        }
    }
}

impl Watcher {
    /// Makes sure `dir`'s `new/` and `cur/` are watched as they are now:
    /// a stat of each is all it costs when nothing changed.
    fn watch(&self, table: &mut Table, dir: &Path) {
        if table.dirs.get(dir).is_some_and(|e| e.polled.is_some()) {
            return;
        }
        if self.polls(dir) {
            let entry = table.dirs.entry(dir.to_path_buf()).or_default();
            entry.polled = Some(poll_stamps(dir));
            return;
        }
        let inodes: Vec<u64> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::symlink_metadata(dir.join(sub)).ok())
            .map(|m| m.ino())
            .collect();
        let root_ino = std::fs::symlink_metadata(dir).ok().map(|m| m.ino());
        let current = table.dirs.get(dir).is_some_and(|e| {
            e.wds.len() == 2
                && e.wds.iter().map(|(_, ino)| *ino).eq(inodes.iter().copied())
                && e.root.as_ref().map(|(_, ino)| *ino) == root_ino
        });
        if current {
            return;
        }
        let mut watches = super::lock(&self.inner.watches);
        let Some(watches) = watches.as_mut() else {
            return;
        };
        let old = table
            .dirs
            .get_mut(dir)
            .map(|e| {
                let mut wds = std::mem::take(&mut e.wds);
                wds.extend(e.root.take());
                wds
            })
            .unwrap_or_default();
        for (wd, _) in old {
            forget_path(table, &wd, dir);
        }
        if let Some(entry) = table.dirs.get_mut(dir) {
            // Other directories under this name: what they hold is news.
            entry.generation = next_stamp();
            entry.files_generation = next_stamp();
        }
        let mask = WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::CLOSE_WRITE
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF;
        let mut wds = Vec::new();
        for sub in SUBDIRS {
            let path = dir.join(sub);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            match watches.add(&path, mask) {
                Ok(wd) => {
                    let paths = table.by_wd.entry(wd.clone()).or_default();
                    if !paths.iter().any(|(p, _)| p == dir) {
                        paths.push((dir.to_path_buf(), sub));
                    }
                    wds.push((wd, meta.ino()));
                }
                Err(e) => log::warn!("cannot watch {}: {e}", path.display()),
            }
        }
        // The directory itself: its files are written in place
        // (appends), replaced by a rename, or removed; the directory may
        // be renamed or removed under its sessions.
        let root_mask = WatchMask::MODIFY
            | WatchMask::CLOSE_WRITE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF;
        let root = match (root_ino, wds.len() == SUBDIRS.len()) {
            (Some(ino), true) => match watches.add(dir, root_mask) {
                Ok(wd) => {
                    let paths = table.by_wd.entry(wd.clone()).or_default();
                    if !paths.iter().any(|(p, _)| p == dir) {
                        paths.push((dir.to_path_buf(), ROOT));
                    }
                    Some((wd, ino))
                }
                Err(e) => {
                    log::warn!("cannot watch {}: {e}", dir.display());
                    None
                }
            },
            _ => None,
        };
        let entry = table.dirs.entry(dir.to_path_buf()).or_default();
        entry.wds = wds;
        entry.root = root;
    }

    /// Whether `dir` is watched by polling rather than inotify.
    fn polls(&self, dir: &Path) -> bool {
        match self.inner.mode {
            WatchMode::Poll => true,
            _ if super::lock(&self.inner.watches).is_none() => true,
            WatchMode::Inotify => false,
            WatchMode::Auto => match super::fs_kind::shared_fs_name(dir) {
                Some(fs) => {
                    log::debug!("{}: on {fs}, polled for changes", dir.display());
                    true
                }
                None => false,
            },
        }
    }

    /// Drops the watches of mailboxes nobody has selected.
    fn trim_idle(&self, table: &mut Table) {
        let idle: Vec<PathBuf> = table
            .dirs
            .iter()
            .filter(|(_, e)| e.subs.is_empty())
            .map(|(d, _)| d.clone())
            .collect();
        let mut watches = super::lock(&self.inner.watches);
        for dir in idle {
            if let Some(entry) = table.dirs.remove(&dir) {
                for (wd, _) in entry.wds.into_iter().chain(entry.root) {
                    // The inode may serve another name too (a renamed
                    // folder): its watch stays while that one uses it.
                    if forget_path(table, &wd, &dir) {
                        if let Some(w) = watches.as_mut() {
                            // The directory may be gone already; nothing to undo then.
                            let _ = w.remove(wd);
                        }
                    }
                }
            }
        }
    }
}

/// Unmaps `dir` from a watch; true when no directory uses the watch any more.
fn forget_path(table: &mut Table, wd: &WatchDescriptor, dir: &Path) -> bool {
    let Some(paths) = table.by_wd.get_mut(wd) else {
        return true;
    };
    paths.retain(|(p, _)| p != dir);
    if paths.is_empty() {
        table.by_wd.remove(wd);
        return true;
    }
    false
}

/// Waits for the inotify descriptor to become readable and applies what
/// it holds, for ever (a session may have applied the events already).
fn inotify_loop(inner: &Inner, fd: std::os::unix::io::RawFd) {
    let ready = mio::Poll::new().and_then(|poll| {
        poll.registry().register(
            &mut mio::unix::SourceFd(&fd),
            mio::Token(0),
            mio::Interest::READABLE,
        )?;
        Ok(poll)
    });
    let mut poll = match ready {
        Ok(p) => p,
        Err(e) => {
            log::error!("cannot wait on inotify ({e}); falling back to polling");
            stop_inotify(inner);
            return poll_loop(inner);
        }
    };
    let mut events = mio::Events::with_capacity(4);
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::error!("inotify wait failed ({e}); falling back to polling");
                stop_inotify(inner);
                return poll_loop(inner);
            }
        }
        if !drain(inner) {
            stop_inotify(inner);
            return poll_loop(inner);
        }
    }
}

/// Inotify broke: no watch can be trusted, no generation is given out.
fn stop_inotify(inner: &Inner) {
    *super::lock(&inner.watches) = None;
    *super::lock(&inner.reader) = None;
    let mut table = super::lock(&inner.table);
    table.by_wd.clear();
    let dirs: Vec<PathBuf> = table.dirs.keys().cloned().collect();
    for dir in dirs {
        let stamps = poll_stamps(&dir);
        if let Some(entry) = table.dirs.get_mut(&dir) {
            entry.wds.clear();
            entry.root = None;
            // Changes may have been lost with inotify: a fresh look.
            entry.polled = Some(stamps);
            entry.subs.iter().for_each(Subscriber::notify);
        }
    }
}

/// Reads and applies every queued inotify event; false if inotify failed.
fn drain(inner: &Inner) -> bool {
    let mut reader = super::lock(&inner.reader);
    let Some(Reader { inotify, buf }) = reader.as_mut() else {
        return true;
    };
    // Bounded: the queue holds at most max_queued_events (16,384) anyway.
    for _ in 0..1024 {
        let events = match inotify.read_events(buf) {
            Ok(events) => events,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::error!("inotify failed ({e}); falling back to polling");
                return false;
            }
        };
        apply(inner, events);
    }
    true
}

/// Wakes the subscribers of every mailbox an event concerns and moves the
/// generation of those it changed from outside.
fn apply<'a>(inner: &Inner, events: impl Iterator<Item = inotify::Event<&'a std::ffi::OsStr>>) {
    use inotify::EventMask;
    let mut table = super::lock(&inner.table);
    let table = &mut *table;
    let mut woken: Vec<PathBuf> = Vec::new();
    let mut dead: Vec<WatchDescriptor> = Vec::new();
    // Mailbox directories' watches that no longer serve their name.
    let mut unwatch: Vec<(WatchDescriptor, PathBuf)> = Vec::new();
    for event in events {
        if event.mask.contains(EventMask::Q_OVERFLOW) {
            // Events were lost: everyone rescans.
            for entry in table.dirs.values_mut() {
                entry.generation = next_stamp();
                entry.files_generation = next_stamp();
                entry.subs.iter().for_each(Subscriber::notify);
            }
            continue;
        }
        // The kernel dropped the watch (its directory was deleted): the
        // next subscriber to that name adds a fresh one.
        if event.mask.contains(EventMask::IGNORED) {
            dead.push(event.wd.clone());
        }
        let Some(dirs) = table.by_wd.get(&event.wd) else {
            continue;
        };
        for (dir, sub) in dirs {
            if *sub == ROOT {
                // Its files' writes only matter to a sync, which compares
                // this generation; new or changed messages show in new/
                // and cur/ and wake the subscribers from there.
                let Some(entry) = table.dirs.get_mut(dir) else {
                    continue;
                };
                match event.name {
                    Some(n) if !FILES.iter().any(|f| n == std::ffi::OsStr::new(f)) => {}
                    Some(_) => entry.files_generation = next_stamp(),
                    None => {
                        // The directory itself moved or went: from now on
                        // its files are statted (and the next subscribe
                        // watches what is under the name then).
                        entry.generation = next_stamp();
                        entry.files_generation = next_stamp();
                        if entry.root.as_ref().is_some_and(|(w, _)| *w == event.wd) {
                            entry.root = None;
                            unwatch.push((event.wd.clone(), dir.clone()));
                        }
                        entry.subs.iter().for_each(Subscriber::notify);
                    }
                }
                continue;
            }
            if !woken.contains(dir) {
                woken.push(dir.clone());
            }
            let name = event.name.map(|n| n.to_string_lossy().into_owned());
            let ours = name
                .and_then(|n| table.expected.remove(&(dir.clone(), *sub, n)))
                .is_some();
            if !ours {
                if let Some(entry) = table.dirs.get_mut(dir) {
                    entry.generation = next_stamp();
                }
            }
        }
    }
    if !unwatch.is_empty() {
        let mut watches = super::lock(&inner.watches);
        for (wd, dir) in unwatch {
            if forget_path(table, &wd, &dir) {
                if let Some(w) = watches.as_mut() {
                    // Already gone with its directory, perhaps.
                    let _ = w.remove(wd);
                }
            }
        }
    }
    for wd in dead {
        if let Some(dirs) = table.by_wd.remove(&wd) {
            for (dir, _) in dirs {
                if let Some(entry) = table.dirs.get_mut(&dir) {
                    entry.wds.retain(|(w, _)| *w != wd);
                    if entry.root.as_ref().is_some_and(|(w, _)| *w == wd) {
                        entry.root = None;
                        entry.files_generation = next_stamp();
                    }
                }
            }
        }
    }
    for dir in &woken {
        if let Some(entry) = table.dirs.get(dir) {
            entry.subs.iter().for_each(Subscriber::notify);
        }
    }
    if table.expected.len() > 64 {
        let now = Instant::now();
        table
            .expected
            .retain(|_, at| now.duration_since(*at) < EXPECT_FOR);
    }
}

/// Stats the polled mailboxes that have subscribers, for ever, and wakes
/// those whose stamps moved or are too young to tell.
fn poll_loop(inner: &Inner) {
    loop {
        std::thread::sleep(inner.poll_interval);
        // Stat outside the lock: on a network file system a stat can
        // take a while, and sessions subscribe under that lock.
        let dirs: Vec<PathBuf> = super::lock(&inner.table)
            .dirs
            .iter()
            .filter(|(_, e)| e.polled.is_some() && !e.subs.is_empty())
            .map(|(d, _)| d.clone())
            .collect();
        let now = std::time::SystemTime::now();
        for dir in dirs {
            let stamps = poll_stamps(&dir);
            let mut table = super::lock(&inner.table);
            let Some(entry) = table.dirs.get_mut(&dir) else {
                continue;
            };
            let moved = entry.polled != Some(stamps);
            if moved || any_recent(&stamps, now) {
                entry.polled = Some(stamps);
                entry.subs.iter().for_each(Subscriber::notify);
            }
        }
    }
}

/// The stamps a poll compares for the mailbox in `dir`.
fn poll_stamps(dir: &Path) -> PollStamps {
    let stamp = |name: &str| {
        std::fs::symlink_metadata(dir.join(name)).ok().map(|m| {
            let ns = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
            (m.size(), ns)
        })
    };
    [
        stamp("new"),
        stamp("cur"),
        stamp(super::uidlist::FILE_NAME),
        stamp(super::keywords::FILE_NAME),
    ]
}

/// Whether any stamp is younger than `POLL_DIRTY`.
fn any_recent(stamps: &PollStamps, now: std::time::SystemTime) -> bool {
    let now_ns = now
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    stamps
        .iter()
        .flatten()
        .any(|(_, ns)| now_ns - ns < POLL_DIRTY.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(sub: &Subscription) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if sub.changed() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn deliveries_and_renames_notify_subscribers() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let w = Watcher::start(WatchMode::Inotify, Duration::from_secs(1));
        let a = w.subscribe(dir.path());
        let b = w.subscribe(dir.path());
        std::fs::write(dir.path().join("new/1.M1P1.h"), "x").unwrap();
        assert!(wait_for(&a) && wait_for(&b));
        std::fs::rename(
            dir.path().join("new/1.M1P1.h"),
            dir.path().join("cur/1.M1P1.h:2,S"),
        )
        .unwrap();
        assert!(wait_for(&a));
        drop(b);
        std::fs::remove_file(dir.path().join("cur/1.M1P1.h:2,S")).unwrap();
        assert!(wait_for(&a));
        drop(a);
        let table = super::super::lock(&w.inner.table);
        assert!(table.dirs.values().all(|e| e.subs.is_empty()));
        drop(table);
        // A later subscriber reuses the watches still in place.
        let c = w.subscribe(dir.path());
        std::fs::write(dir.path().join("new/2.M1P1.h"), "y").unwrap();
        assert!(wait_for(&c));
    }

    /// A mailbox whose watches were trimmed (nobody had it selected) and
    /// that is selected again may have changed unheard meanwhile: its new
    /// counts must differ from all it had, or a sync would trust them.
    #[test]
    fn a_mailbox_watched_again_never_repeats_its_counts() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let w = Watcher::start(WatchMode::Inotify, Duration::from_secs(1));
        let before = {
            let _sub = w.subscribe(dir.path());
            w.generation(dir.path()).expect("watched")
        };
        w.trim_idle(&mut super::super::lock(&w.inner.table));
        assert_eq!(w.generation(dir.path()), None);
        let _sub = w.subscribe(dir.path());
        let after = w.generation(dir.path()).expect("watched again");
        assert_ne!(after.dirs, before.dirs);
        assert_ne!(after.files, before.files);
    }

    #[test]
    fn writes_to_the_mailbox_files_move_the_files_generation_only() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("box");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let w = Watcher::start(WatchMode::Inotify, Duration::from_secs(1));
        let _sub = w.subscribe(&dir);
        let g0 = w.generation(&dir).expect("watched");
        assert!(g0.files.is_some());
        // Lock files, temporary files and folders beside them are not news.
        std::fs::write(dir.join("dovecot-uidlist.lock"), "1").unwrap();
        std::fs::write(dir.join("roost-modseq.flock"), "").unwrap();
        std::fs::create_dir(dir.join(".Sent")).unwrap();
        assert_eq!(w.generation(&dir), Some(g0));
        // An append in place, a rename over, a removal: each is.
        let uidlist = dir.join(super::super::uidlist::FILE_NAME);
        std::fs::write(&uidlist, "3 V1 N1\n").unwrap();
        let g1 = w.generation(&dir).unwrap();
        assert_eq!(g1.dirs, g0.dirs);
        assert!(g1.files > g0.files, "{g0:?} {g1:?}");
        std::fs::write(dir.join("k.tmp"), "0 x\n").unwrap();
        let keywords = dir.join(super::super::keywords::FILE_NAME);
        std::fs::rename(dir.join("k.tmp"), keywords).unwrap();
        let g2 = w.generation(&dir).unwrap();
        assert!(g2.files > g1.files, "{g1:?} {g2:?}");
        std::fs::remove_file(&uidlist).unwrap();
        let g3 = w.generation(&dir).unwrap();
        assert!(g3.files > g2.files, "{g2:?} {g3:?}");
        // The folder renamed away: its files can no longer be vouched for.
        std::fs::rename(&dir, top.path().join("elsewhere")).unwrap();
        let g4 = w.generation(&dir);
        assert!(g4.is_none_or(|g| g.files.is_none()), "{g4:?}");
    }
}
