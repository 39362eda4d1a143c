//! Mod-sequences (RFC 7162) for one mailbox, and the `roost-modseq` file
//! that keeps them across restarts.
//!
//! Maildir has no place for a per-message change counter, so Roost keeps a
//! small journal of its own beside `dovecot-uidlist`:
//!
//! ```text
//! roost-modseq 1 <uidvalidity>
//! f <modseq>                          expunges up to here are forgotten
//! h <modseq>                          the mailbox's HIGHESTMODSEQ so far
//! m <uid> <modseq> <system> <keywords>  a message's modseq and flags
//! x <modseq> <uid-set>                the UIDs expunged at that modseq
//! ```
//!
//! Lines are appended as changes happen (one `write` per change, no fsync:
//! like Dovecot's index, a power cut may lose the tail) and the file is
//! rewritten through a temporary file when the journal has grown to twice
//! what it describes. A later `m` line for a UID replaces an earlier one.
//!
//! # Several nodes, one journal
//!
//! Nodes serving one Maildir tree (NFS, GlusterFS) must hand out the same
//! modseq for the same change, or a client moving between them would miss
//! changes or see them twice. So the file, not memory, is the truth: a
//! modseq is handed out only under a lock: on a network or FUSE file
//! system the dotlock `roost-modseq.lock` (an fcntl lock there may be
//! local to the host: NFS mounted `nolock` or `local_lock=posix`, a FUSE
//! file system without lock support, and nothing says so), elsewhere an
//! fcntl lock on `roost-modseq.flock`, which stays in place. It is taken
//! after reading what other nodes appended since we last looked, and
//! the lines are written before the lock is released. A node that finds a
//! change in the Maildir first looks in the journal for the modseq the
//! changing node gave it (same UID, same flags) and only allocates one
//! when none is there (a change made by another program). Readers follow
//! the file by its size and inode, reading only complete lines.
//!
//! Why the file can be lost safely: every message's flags are recorded with
//! its modseq, so a message whose flags changed while Roost did not see it
//! (another program, a lost journal tail) gets a fresh modseq when the
//! mailbox is loaded. And the first modseq handed out after a load is at
//! least the current time in milliseconds, which is above anything handed
//! out before (unless a mailbox sees more than one change per millisecond
//! for its whole life), so a client's cached HIGHESTMODSEQ never hides a
//! change made after a crash, a restore or a deleted file.
//!
//! Expunged UIDs are remembered for QRESYNC's VANISHED (EARLIER), up to
//! `MAX_HISTORY_RANGES` ranges; older ones are forgotten and a client asking
//! about changes since before that is told about every missing UID instead
//! (RFC 7162 §3.2.6, the `<minmodseq>` rule).

use super::dotlock::{DotLock, UIDLIST_LOCK};
use super::filelock::{FileLock, LockError};
use super::maildir::Flags;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const FILE_NAME: &str = "roost-modseq";
const TMP_NAME: &str = "roost-modseq.tmp";
/// Locked (fcntl) while a modseq is handed out, on local file systems;
/// the file itself stays. Elsewhere the journal is dotlocked
/// (`roost-modseq.lock`).
const LOCK_NAME: &str = "roost-modseq.flock";
const HEADER: &str = "roost-modseq 1";
/// Remembered expunge history, in UID ranges, before the oldest is dropped.
const MAX_HISTORY_RANGES: usize = 100_000;

/// Inclusive UID ranges, ascending and disjoint.
pub(crate) type UidRanges = Vec<(u32, u32)>;

/// What a `roost-modseq` file says.
#[derive(Debug, Default)]
pub struct Journal {
    pub(crate) highest: u64,
    pub(crate) forgotten: u64,
    /// UID → (modseq, flags) of every message the journal knows as present.
    pub(crate) messages: HashMap<u32, (u64, Flags)>,
    pub(crate) history: Vec<(u64, UidRanges)>,
    pub(crate) lines: usize,
    history_ranges: usize,
}

impl Journal {
    /// Applies one line (without its newline); damaged lines are skipped.
    fn apply(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        self.lines += 1;
        let mut f = line.split(' ');
        match (f.next(), f.next(), f.next(), f.next(), f.next()) {
            (Some("f"), Some(ms), None, _, _) => {
                if let Ok(ms) = ms.parse::<u64>() {
                    self.forgotten = self.forgotten.max(ms);
                    self.highest = self.highest.max(ms);
                }
            }
            (Some("h"), Some(ms), None, _, _) => {
                if let Ok(ms) = ms.parse::<u64>() {
                    self.highest = self.highest.max(ms);
                }
            }
            (Some("m"), Some(uid), Some(ms), Some(sys), Some(kw)) => {
                if let (Ok(uid), Ok(ms), Ok(system), Ok(keywords)) = (
                    uid.parse::<u32>(),
                    ms.parse::<u64>(),
                    sys.parse::<u8>(),
                    kw.parse::<u32>(),
                ) {
                    self.highest = self.highest.max(ms);
                    self.messages.insert(uid, (ms, Flags { system, keywords }));
                }
            }
            (Some("x"), Some(ms), Some(set), None, _) => {
                if let (Ok(ms), Some(ranges)) = (ms.parse::<u64>(), parse_ranges(set)) {
                    self.expunged(ms, ranges);
                }
            }
            _ => log::debug!("roost-modseq: skipping a damaged line"),
        }
    }

    fn expunged(&mut self, ms: u64, ranges: UidRanges) {
        self.highest = self.highest.max(ms);
        for &(a, b) in &ranges {
            // Only a handful of UIDs per line are usual; a wide range is
            // removed in bulk.
            if b - a < 4096 {
                for u in a..=b {
                    self.messages.remove(&u);
                }
            } else {
                self.messages.retain(|&u, _| u < a || u > b);
            }
        }
        self.history_ranges += ranges.len();
        // Lines from several nodes come in modseq order (they are written
        // under the lock); keep the history sorted even if not.
        let at = self.history.partition_point(|(m, _)| *m <= ms);
        self.history.insert(at, (ms, ranges));
        while self.history_ranges > MAX_HISTORY_RANGES && self.history.len() > 1 {
            let (old_ms, old) = self.history.remove(0);
            self.history_ranges -= old.len();
            self.forgotten = self.forgotten.max(old_ms);
        }
    }
}

/// Which version of the journal file we have read, and how far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FilePos {
    ino: u64,
    size: u64,
    mtime_ns: i128,
    /// Bytes consumed: up to the end of the last complete line.
    read_to: u64,
}

/// The mod-sequence bookkeeping of one mailbox.
#[derive(Debug, Default)]
pub(crate) struct ModseqLog {
    dir: PathBuf,
    uidvalidity: u32,
    /// What the file says, plus what we have noted but not yet written.
    journal: Journal,
    /// Set once a modseq has been handed out since the last load.
    jumped: bool,
    /// Journal lines not yet written.
    pending: String,
    /// The file must be written whole at the next flush.
    rewrite: bool,
    /// The file as last read or written; None when there was none.
    pos: Option<FilePos>,
    /// The journal's lock, held from the first allocation to the flush.
    lock: Option<JournalLock>,
    /// Whether the journal is on a network or FUSE file system (then it is
    /// dotlocked); None until the first lock.
    shared_fs: Option<bool>,
}

/// How the journal's lock is held. Kept only to be dropped, which releases it.
#[allow(dead_code)]
#[derive(Debug)]
enum JournalLock {
    File(FileLock),
    Dot(DotLock),
}

/// Milliseconds since the epoch: a floor for fresh modseqs.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
        .max(1)
}

fn stat(path: &Path) -> Option<fs::Metadata> {
    fs::symlink_metadata(path).ok().filter(|m| m.is_file())
}

fn mtime_ns(m: &fs::Metadata) -> i128 {
    i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
}

impl ModseqLog {
    /// The log of the mailbox in `dir`: what its journal says, or, when it
    /// is missing or belongs to another UIDVALIDITY, a fresh start at a
    /// time-based modseq (decided under the lock, so two nodes loading at
    /// once agree on one journal).
    pub(crate) fn open(dir: &Path, uidvalidity: u32) -> ModseqLog {
        let mut log = ModseqLog {
            dir: dir.to_path_buf(),
            uidvalidity,
            ..ModseqLog::default()
        };
        if log.reload() {
            return log;
        }
        log.take_lock();
        if !log.reload() {
            let seed = now_ms();
            log.journal = Journal {
                highest: seed,
                forgotten: seed,
                ..Journal::default()
            };
            log.jumped = true;
            log.rewrite = true;
        }
        log
    }

    /// A log not loaded yet: it writes nothing until `open` replaces it.
    pub(crate) fn unloaded() -> ModseqLog {
        ModseqLog::default()
    }

    /// A log for a mailbox whose journal is missing, without looking at
    /// the disk (tests).
    #[cfg(test)]
    pub(crate) fn fresh(dir: &Path, uidvalidity: u32) -> ModseqLog {
        let seed = now_ms();
        ModseqLog {
            dir: dir.to_path_buf(),
            uidvalidity,
            journal: Journal {
                highest: seed,
                forgotten: seed,
                ..Journal::default()
            },
            jumped: true,
            rewrite: true,
            ..ModseqLog::default()
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Reads the whole file; false if it is missing, unreadable or of
    /// another UIDVALIDITY. Keeps `highest` from going down.
    fn reload(&mut self) -> bool {
        let path = self.path();
        let Some(meta) = stat(&path) else {
            return false;
        };
        let bytes = match super::nofollow::read(&path) {
            Ok(b) => b,
            Err(e) => {
                if !super::nofollow::is_gone(&e) {
                    log::warn!("{}: {e}; modseqs start afresh", path.display());
                }
                return false;
            }
        };
        // A line still being written by another node is read next time.
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let Some(journal) = parse(&bytes[..complete], self.uidvalidity) else {
            log::info!(
                "{}: not for UIDVALIDITY {}; modseqs start afresh",
                path.display(),
                self.uidvalidity
            );
            return false;
        };
        let highest = self.journal.highest;
        self.journal = journal;
        self.journal.highest = self.journal.highest.max(highest).max(1);
        self.pos = Some(FilePos {
            ino: meta.ino(),
            size: bytes.len() as u64,
            mtime_ns: mtime_ns(&meta),
            read_to: complete as u64,
        });
        true
    }

    /// True if the file is not the version we last read or wrote.
    pub(crate) fn changed_on_disk(&self) -> bool {
        let meta = stat(&self.path());
        match (meta, self.pos) {
            (None, None) => false,
            (Some(m), Some(p)) => {
                m.ino() != p.ino || m.size() != p.size || mtime_ns(&m) != p.mtime_ns
            }
            _ => true,
        }
    }

    /// Reads what others appended since we last looked (or the whole file
    /// if it was replaced). True if anything was read.
    pub(crate) fn catch_up(&mut self) -> bool {
        if self.dir.as_os_str().is_empty() {
            return false;
        }
        let path = self.path();
        let Some(meta) = stat(&path) else {
            if self.pos.take().is_some() {
                // Deleted behind our back: written whole at the next flush.
                self.rewrite = true;
            }
            return false;
        };
        let Some(pos) = self.pos else {
            return self.reload();
        };
        if meta.ino() != pos.ino || meta.size() < pos.read_to {
            if !self.reload() {
                self.rewrite = true;
                self.pos = None;
                return false;
            }
            return true;
        }
        if meta.size() == pos.read_to {
            self.pos = Some(FilePos {
                size: meta.size(),
                mtime_ns: mtime_ns(&meta),
                ..pos
            });
            return false;
        }
        let mut tail = Vec::new();
        let read = super::nofollow::open(&path).and_then(|mut f| {
            f.seek(SeekFrom::Start(pos.read_to))?;
            f.take(meta.size() - pos.read_to).read_to_end(&mut tail)
        });
        if let Err(e) = read {
            log::warn!("{}: {e}", path.display());
            return false;
        }
        let complete = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for line in String::from_utf8_lossy(&tail[..complete]).split('\n') {
            self.journal.apply(line);
        }
        self.pos = Some(FilePos {
            ino: meta.ino(),
            size: pos.read_to + tail.len() as u64,
            mtime_ns: mtime_ns(&meta),
            read_to: pos.read_to + complete as u64,
        });
        complete > 0
    }

    /// Takes the journal's lock (if not held) and reads what others wrote.
    /// Without the lock (a node that holds it for 30 s) we go on alone:
    /// serving beats waiting, and the clock floor keeps modseqs rising.
    fn take_lock(&mut self) {
        if self.lock.is_some() || self.dir.as_os_str().is_empty() {
            return;
        }
        let dir = &self.dir;
        let shared = *self
            .shared_fs
            .get_or_insert_with(|| super::fs_kind::shared_fs_name(dir).is_some());
        let lock_path = self.dir.join(LOCK_NAME);
        let file_lock = if shared {
            Err(LockError::Unsupported)
        } else {
            FileLock::acquire(&lock_path, UIDLIST_LOCK.timeout)
        };
        match file_lock {
            Ok(lock) => self.lock = Some(JournalLock::File(lock)),
            Err(LockError::Unsupported) => match DotLock::acquire(&self.path(), UIDLIST_LOCK) {
                Ok(lock) => self.lock = Some(JournalLock::Dot(lock)),
                Err(e) => log::warn!("{}: {e}", self.path().display()),
            },
            Err(LockError::Failed(e)) => log::warn!("{}: {e}", lock_path.display()),
        }
        self.catch_up();
    }

    /// Takes the lock and reads what others wrote, before deciding which
    /// changes need a modseq of our own.
    pub(crate) fn begin(&mut self) {
        self.take_lock();
    }

    pub(crate) fn holds_lock(&self) -> bool {
        self.lock.is_some()
    }

    pub(crate) fn highest(&self) -> u64 {
        self.journal.highest
    }

    pub(crate) fn uidvalidity(&self) -> u32 {
        self.uidvalidity
    }

    /// The journal's last word on a message: its modseq and flags.
    pub(crate) fn recorded(&self, uid: u32) -> Option<(u64, Flags)> {
        self.journal.messages.get(&uid).copied()
    }

    /// The UIDs the journal knows as present.
    pub(crate) fn recorded_uids(&self) -> impl Iterator<Item = u32> + '_ {
        self.journal.messages.keys().copied()
    }

    /// True if `uid`, now gone, still needs an expunge line: the journal
    /// has it as present, or has no record of its expunge.
    pub(crate) fn expunge_unrecorded(&self, uid: u32) -> bool {
        self.journal.messages.contains_key(&uid) || self.expunged_at(uid).is_none()
    }

    /// A new modseq, above every one handed out before by any node.
    pub(crate) fn allocate(&mut self) -> u64 {
        self.take_lock();
        if !self.jumped {
            self.jumped = true;
            self.journal.highest = self.journal.highest.max(now_ms());
        }
        self.journal.highest += 1;
        self.journal.highest
    }

    /// Records a message's current modseq and flags.
    pub(crate) fn note_message(&mut self, uid: u32, modseq: u64, flags: Flags) {
        let _ = writeln!(
            self.pending,
            "m {uid} {modseq} {} {}",
            flags.system, flags.keywords
        );
        self.journal.highest = self.journal.highest.max(modseq);
        self.journal.messages.insert(uid, (modseq, flags));
    }

    /// Records UIDs expunged at `modseq` (ascending input not required).
    pub(crate) fn note_expunged(&mut self, modseq: u64, uids: &[u32]) {
        if uids.is_empty() {
            return;
        }
        let ranges = to_ranges(uids);
        let _ = writeln!(self.pending, "x {modseq} {}", format_ranges(&ranges));
        self.journal.expunged(modseq, ranges);
    }

    /// UIDs expunged after `since` among those `known` accepts, as ranges;
    /// `absent` lists every UID below UIDNEXT that is not present, for
    /// when the history does not reach back far enough.
    pub(crate) fn vanished_since(
        &self,
        since: u64,
        known: &dyn Fn(u32) -> bool,
        absent: &mut dyn Iterator<Item = u32>,
    ) -> UidRanges {
        let mut uids: Vec<u32> = if since < self.journal.forgotten {
            absent.filter(|&u| known(u)).collect()
        } else {
            let history = &self.journal.history;
            let start = history.partition_point(|(ms, _)| *ms <= since);
            history[start..]
                .iter()
                .flat_map(|(_, r)| r.iter().flat_map(|&(a, b)| a..=b))
                .filter(|&u| known(u))
                .collect()
        };
        uids.sort_unstable();
        uids.dedup();
        to_ranges(&uids)
    }

    /// The modseq at which `uid` was expunged, if remembered.
    pub(crate) fn expunged_at(&self, uid: u32) -> Option<u64> {
        self.journal
            .history
            .iter()
            .rev()
            .find(|(_, r)| r.iter().any(|&(a, b)| a <= uid && uid <= b))
            .map(|(ms, _)| *ms)
    }

    /// Writes what changed — appends to the journal, or rewrites it whole
    /// when it is new, missing or mostly stale — and releases the lock.
    pub(crate) fn flush(&mut self) {
        if self.dir.as_os_str().is_empty() {
            return;
        }
        let j = &self.journal;
        let live_lines = j.messages.len() + j.history.len() + 2;
        if !self.rewrite && j.lines > 2 * live_lines + 1000 {
            self.rewrite = true;
        }
        if (self.rewrite || !self.pending.is_empty()) && self.lock.is_none() {
            self.take_lock();
        }
        if !self.rewrite && !self.pending.is_empty() {
            self.append_pending();
        }
        if self.rewrite {
            self.write_whole();
        }
        self.lock = None;
    }

    fn append_pending(&mut self) {
        let path = self.path();
        let lines = self.pending.bytes().filter(|&b| b == b'\n').count();
        let Some(pos) = self.pos else {
            self.rewrite = true;
            return;
        };
        // A torn line left by a crash: start ours on a line of its own.
        let torn = pos.size > pos.read_to;
        let res = super::nofollow::options()
            .append(true)
            .open(&path)
            .and_then(|mut f| {
                let meta = f.metadata()?;
                if meta.ino() != pos.ino {
                    return Err(io::Error::from(io::ErrorKind::NotFound));
                }
                if torn {
                    self.pending.insert(0, '\n');
                }
                f.write_all(self.pending.as_bytes())?;
                f.metadata()
            });
        match res {
            Ok(meta) => {
                self.pending.clear();
                self.journal.lines += lines;
                let size = meta.size();
                self.pos = Some(FilePos {
                    ino: meta.ino(),
                    size,
                    mtime_ns: mtime_ns(&meta),
                    read_to: size,
                });
            }
            Err(e) => {
                if !super::nofollow::is_gone(&e) {
                    log::warn!("{}: {e}", path.display());
                }
                self.rewrite = true;
            }
        }
    }

    fn write_whole(&mut self) {
        let j = &self.journal;
        let mut text = String::with_capacity(64 + j.messages.len() * 24);
        let _ = writeln!(text, "{HEADER} {}", self.uidvalidity);
        let _ = writeln!(text, "f {}", j.forgotten);
        let mut lines = 2;
        for (modseq, ranges) in &j.history {
            let _ = writeln!(text, "x {modseq} {}", format_ranges(ranges));
            lines += 1;
        }
        let mut messages: Vec<_> = j.messages.iter().collect();
        messages.sort_unstable_by_key(|(uid, _)| **uid);
        for (uid, (modseq, flags)) in messages {
            let _ = writeln!(text, "m {uid} {modseq} {} {}", flags.system, flags.keywords);
            lines += 1;
        }
        // The highest modseq may belong to nothing present (an expunge
        // whose history was dropped): keep it.
        let _ = writeln!(text, "h {}", j.highest);
        lines += 1;
        let path = self.path();
        match write_atomic(&self.dir, text.as_bytes()) {
            Ok(()) => {
                self.pending.clear();
                self.journal.lines = lines;
                self.rewrite = false;
                self.pos = stat(&path).map(|m| FilePos {
                    ino: m.ino(),
                    size: m.size(),
                    mtime_ns: mtime_ns(&m),
                    read_to: m.size(),
                });
            }
            Err(e) => log::warn!("{}: cannot write: {e}", path.display()),
        }
    }
}

/// Parses a journal. Damaged lines (a torn last write) are skipped.
pub fn parse(bytes: &[u8], uidvalidity: u32) -> Option<Journal> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n');
    let header = lines.next()?;
    let rest = header.strip_prefix(HEADER)?.trim();
    if rest.parse::<u32>().ok()? != uidvalidity {
        return None;
    }
    let mut j = Journal {
        lines: 1,
        ..Journal::default()
    };
    for line in lines {
        j.apply(line);
    }
    Some(j)
}

fn write_atomic(dir: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = dir.join(TMP_NAME);
    let res = (|| {
        let mut f = super::nofollow::recreate(&tmp, 0o600)?;
        f.write_all(data)?;
        fs::rename(&tmp, dir.join(FILE_NAME))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Sorted, deduplicated UIDs → ranges. Unsorted input is sorted first.
pub(crate) fn to_ranges(uids: &[u32]) -> UidRanges {
    let mut sorted;
    let uids = if uids.windows(2).all(|w| w[0] < w[1]) {
        uids
    } else {
        sorted = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        &sorted
    };
    let mut out: UidRanges = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some((_, b)) if b.checked_add(1) == Some(u) => *b = u,
            _ => out.push((u, u)),
        }
    }
    out
}

/// `1:3,7` form.
fn format_ranges(ranges: &[(u32, u32)]) -> String {
    let mut s = String::new();
    for (i, &(a, b)) in ranges.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        if a == b {
            let _ = write!(s, "{a}");
        } else {
            let _ = write!(s, "{a}:{b}");
        }
    }
    s
}

fn parse_ranges(s: &str) -> Option<UidRanges> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let v = part.parse().ok()?;
                (v, v)
            }
        };
        out.push(if a <= b { (a, b) } else { (b, a) });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(system: u8) -> Flags {
        Flags {
            system,
            keywords: 0,
        }
    }

    #[test]
    fn ranges_round_trip() {
        let r = to_ranges(&[7, 1, 2, 3, 9, 10]);
        assert_eq!(r, vec![(1, 3), (7, 7), (9, 10)]);
        assert_eq!(format_ranges(&r), "1:3,7,9:10");
        assert_eq!(
            parse_ranges("1:3,7,10:9"),
            Some(vec![(1, 3), (7, 7), (9, 10)])
        );
        assert_eq!(parse_ranges("1:x"), None);
    }

    #[test]
    fn journal_replays_changes_and_expunges() {
        let text = "roost-modseq 1 42\nf 100\nm 1 100 0 0\nm 2 100 0 0\nm 3 100 0 0\n\
                    m 2 105 8 1\nx 106 1,3\nm 4 107 0 0\ngarbage line\nm 5 1";
        let j = parse(text.as_bytes(), 42).expect("parses");
        assert_eq!(j.highest, 107);
        assert_eq!(j.forgotten, 100);
        assert_eq!(j.messages.len(), 2);
        assert_eq!(
            j.messages[&2],
            (
                105,
                Flags {
                    system: 8,
                    keywords: 1
                }
            )
        );
        assert_eq!(j.history, vec![(106, vec![(1, 1), (3, 3)])]);
        assert!(parse(text.as_bytes(), 43).is_none(), "other UIDVALIDITY");
        assert!(parse(b"something else\n", 42).is_none());
    }

    #[test]
    fn first_modseq_after_a_load_is_time_based() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(FILE_NAME), "roost-modseq 1 1\nm 1 5 0 0\n").expect("write");
        let mut log = ModseqLog::open(dir.path(), 1);
        assert_eq!(log.highest(), 5);
        let first = log.allocate();
        assert!(first >= now_ms(), "jumps to the clock");
        assert_eq!(log.allocate(), first + 1, "then counts");
        log.flush();
    }

    #[test]
    fn vanished_uses_history_or_everything_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = ModseqLog::fresh(dir.path(), 1);
        let base = log.highest();
        let a = log.allocate();
        log.note_expunged(a, &[3, 4]);
        let b = log.allocate();
        log.note_expunged(b, &[8]);
        log.flush();
        let all = |_: u32| true;
        let none_missing = &mut std::iter::empty();
        assert_eq!(log.vanished_since(a, &all, none_missing), vec![(8, 8)]);
        assert_eq!(
            log.vanished_since(base, &all, &mut std::iter::empty()),
            vec![(3, 4), (8, 8)]
        );
        // Before the history starts: every missing UID the client knows.
        let mut missing = [1u32, 3, 4, 8, 9].into_iter();
        assert_eq!(
            log.vanished_since(base - 1, &|u| u < 9, &mut missing),
            vec![(1, 1), (3, 4), (8, 8)]
        );
        assert_eq!(log.expunged_at(4), Some(a));
        assert_eq!(log.expunged_at(5), None);
    }

    #[test]
    fn flush_appends_then_rewrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = ModseqLog::fresh(dir.path(), 9);
        let seed = log.highest();
        log.note_message(1, seed, flags(0));
        log.note_message(2, seed, flags(8));
        log.flush();
        let ms = log.allocate();
        log.note_message(2, ms, flags(0));
        log.flush();
        let text = fs::read(dir.path().join(FILE_NAME)).expect("written");
        let j = parse(&text, 9).expect("parses");
        assert_eq!(j.messages[&2], (ms, flags(0)));
        assert_eq!(j.messages[&1].1, flags(0));
        // Deleted behind our back: the next flush writes it whole again.
        fs::remove_file(dir.path().join(FILE_NAME)).expect("rm");
        assert!(log.changed_on_disk());
        let ms2 = log.allocate();
        log.note_message(1, ms2, flags(2));
        log.flush();
        let j =
            parse(&fs::read(dir.path().join(FILE_NAME)).expect("rewritten"), 9).expect("parses");
        assert_eq!(j.messages[&1], (ms2, flags(2)));
        assert_eq!(j.messages[&2], (ms, flags(0)));
        assert!(j.highest >= ms2);
    }

    #[test]
    fn two_logs_on_one_file_follow_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut a = ModseqLog::open(dir.path(), 3);
        a.note_message(1, a.highest(), flags(0));
        a.flush();
        let mut b = ModseqLog::open(dir.path(), 3);
        assert_eq!(b.recorded(1), Some((a.highest(), flags(0))));
        let ms = b.allocate();
        b.note_message(1, ms, flags(8));
        let gone = b.allocate();
        b.note_expunged(gone, &[7]);
        b.flush();
        assert!(a.changed_on_disk());
        assert!(a.catch_up());
        assert!(!a.changed_on_disk());
        assert_eq!(a.recorded(1), Some((ms, flags(8))));
        assert_eq!(a.highest(), gone);
        assert_eq!(a.expunged_at(7), Some(gone));
        // A's next modseq is above B's, and B reads it back.
        let next = a.allocate();
        assert!(next > gone);
        a.note_message(1, next, flags(0));
        a.flush();
        assert!(b.catch_up());
        assert_eq!(b.recorded(1), Some((next, flags(0))));
        // A line still being written is left for the next look.
        let path = dir.path().join(FILE_NAME);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        f.write_all(b"m 1 99999999999999 0").expect("write");
        assert!(!b.catch_up());
        f.write_all(b" 0\n").expect("write");
        assert!(b.catch_up());
        assert_eq!(b.highest(), 99_999_999_999_999);
    }
}
