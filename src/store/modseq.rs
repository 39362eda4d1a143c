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

use super::maildir::Flags;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const FILE_NAME: &str = "roost-modseq";
const TMP_NAME: &str = "roost-modseq.tmp";
const HEADER: &str = "roost-modseq 1";
/// Remembered expunge history, in UID ranges, before the oldest is dropped.
const MAX_HISTORY_RANGES: usize = 100_000;

/// Inclusive UID ranges, ascending and disjoint.
pub(crate) type UidRanges = Vec<(u32, u32)>;

/// What a `roost-modseq` file said, before it is matched to the messages.
#[derive(Debug, Default)]
pub struct Journal {
    pub(crate) highest: u64,
    pub(crate) forgotten: u64,
    /// UID → (modseq, flags) of every message the journal knows as present.
    pub(crate) messages: HashMap<u32, (u64, Flags)>,
    pub(crate) history: Vec<(u64, UidRanges)>,
    pub(crate) lines: usize,
}

/// The mod-sequence bookkeeping of one mailbox.
#[derive(Debug, Default)]
pub(crate) struct ModseqLog {
    uidvalidity: u32,
    highest: u64,
    /// Expunges with a modseq at or below this are no longer known.
    forgotten: u64,
    /// (modseq, UIDs expunged then), ascending by modseq.
    history: Vec<(u64, UidRanges)>,
    history_ranges: usize,
    /// Set once a modseq has been handed out since the last load.
    jumped: bool,
    /// Journal lines not yet written.
    pending: String,
    lines_in_file: usize,
    /// The file must be written whole at the next flush.
    rewrite: bool,
}

/// Milliseconds since the epoch: a floor for fresh modseqs.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
        .max(1)
}

impl ModseqLog {
    /// A log for a mailbox whose journal is missing or belongs to another
    /// UIDVALIDITY: everything starts at a time-based modseq.
    pub(crate) fn fresh(uidvalidity: u32) -> ModseqLog {
        let seed = now_ms();
        ModseqLog {
            uidvalidity,
            highest: seed,
            forgotten: seed,
            jumped: true,
            rewrite: true,
            ..ModseqLog::default()
        }
    }

    /// A log continuing what `journal` recorded.
    pub(crate) fn resume(uidvalidity: u32, journal: &mut Journal) -> ModseqLog {
        let history = std::mem::take(&mut journal.history);
        let history_ranges = history.iter().map(|(_, r)| r.len()).sum();
        ModseqLog {
            uidvalidity,
            highest: journal.highest.max(1),
            forgotten: journal.forgotten,
            history,
            history_ranges,
            jumped: false,
            pending: String::new(),
            lines_in_file: journal.lines,
            rewrite: false,
        }
    }

    pub(crate) fn highest(&self) -> u64 {
        self.highest
    }

    pub(crate) fn uidvalidity(&self) -> u32 {
        self.uidvalidity
    }

    /// A new modseq, above every one handed out before.
    pub(crate) fn allocate(&mut self) -> u64 {
        if !self.jumped {
            self.jumped = true;
            self.highest = self.highest.max(now_ms());
        }
        self.highest += 1;
        self.highest
    }

    /// Records a message's current modseq and flags.
    pub(crate) fn note_message(&mut self, uid: u32, modseq: u64, flags: Flags) {
        let _ = writeln!(
            self.pending,
            "m {uid} {modseq} {} {}",
            flags.system, flags.keywords
        );
    }

    /// Records UIDs expunged at `modseq` (ascending input not required).
    pub(crate) fn note_expunged(&mut self, modseq: u64, uids: &[u32]) {
        if uids.is_empty() {
            return;
        }
        let ranges = to_ranges(uids);
        let _ = writeln!(self.pending, "x {modseq} {}", format_ranges(&ranges));
        self.history_ranges += ranges.len();
        self.history.push((modseq, ranges));
        while self.history_ranges > MAX_HISTORY_RANGES && self.history.len() > 1 {
            let (ms, old) = self.history.remove(0);
            self.history_ranges -= old.len();
            self.forgotten = self.forgotten.max(ms);
            self.rewrite = true;
        }
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
        let mut uids: Vec<u32> = if since < self.forgotten {
            absent.filter(|&u| known(u)).collect()
        } else {
            let start = self.history.partition_point(|(ms, _)| *ms <= since);
            self.history[start..]
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
        self.history
            .iter()
            .rev()
            .find(|(_, r)| r.iter().any(|&(a, b)| a <= uid && uid <= b))
            .map(|(ms, _)| *ms)
    }

    /// Writes what changed: appends to the journal, or rewrites it whole
    /// (from `messages`) when it is new, missing or mostly stale.
    pub(crate) fn flush(
        &mut self,
        dir: &Path,
        messages: &mut dyn Iterator<Item = (u32, u64, Flags)>,
    ) {
        let path = dir.join(FILE_NAME);
        let live_lines = messages.size_hint().0 + self.history.len() + 2;
        if !self.rewrite && self.lines_in_file > 2 * live_lines + 1000 {
            self.rewrite = true;
        }
        if !self.rewrite && !self.pending.is_empty() {
            let lines = self.pending.bytes().filter(|&b| b == b'\n').count();
            match super::nofollow::options().append(true).open(&path) {
                Ok(mut f) => match f.write_all(self.pending.as_bytes()) {
                    Ok(()) => {
                        self.pending.clear();
                        self.lines_in_file += lines;
                        return;
                    }
                    Err(e) => log::warn!("{}: {e}", path.display()),
                },
                Err(e) if super::nofollow::is_gone(&e) => {}
                Err(e) => log::warn!("{}: {e}", path.display()),
            }
            self.rewrite = true;
        }
        if !self.rewrite {
            return;
        }
        let mut text = String::with_capacity(64 + messages.size_hint().0 * 24);
        let _ = writeln!(text, "{HEADER} {}", self.uidvalidity);
        let _ = writeln!(text, "f {}", self.forgotten);
        let mut lines = 2;
        for (modseq, ranges) in &self.history {
            let _ = writeln!(text, "x {modseq} {}", format_ranges(ranges));
            lines += 1;
        }
        for (uid, modseq, flags) in messages {
            let _ = writeln!(text, "m {uid} {modseq} {} {}", flags.system, flags.keywords);
            lines += 1;
        }
        // The highest modseq may belong to nothing present (an expunge
        // whose history was dropped): keep it.
        let _ = writeln!(text, "h {}", self.highest);
        lines += 1;
        match write_atomic(dir, text.as_bytes()) {
            Ok(()) => {
                self.pending.clear();
                self.lines_in_file = lines;
                self.rewrite = false;
            }
            Err(e) => log::warn!("{}: cannot write: {e}", path.display()),
        }
    }
}

/// Reads a mailbox's journal; `None` when it is missing, unreadable or of
/// another UIDVALIDITY (then everything starts afresh).
pub(crate) fn load(dir: &Path, uidvalidity: u32) -> Option<Journal> {
    let path = dir.join(FILE_NAME);
    let text = match super::nofollow::read(&path) {
        Ok(b) => b,
        Err(e) if super::nofollow::is_gone(&e) => return None,
        Err(e) => {
            log::warn!("{}: {e}; modseqs start afresh", path.display());
            return None;
        }
    };
    let journal = parse(&text, uidvalidity);
    if journal.is_none() {
        log::info!(
            "{}: not for UIDVALIDITY {uidvalidity}; modseqs start afresh",
            path.display()
        );
    }
    journal
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
        if line.is_empty() {
            continue;
        }
        j.lines += 1;
        let mut f = line.split(' ');
        match (f.next(), f.next(), f.next(), f.next(), f.next()) {
            (Some("f"), Some(ms), None, _, _) => {
                if let Ok(ms) = ms.parse::<u64>() {
                    j.forgotten = j.forgotten.max(ms);
                    j.highest = j.highest.max(ms);
                }
            }
            (Some("h"), Some(ms), None, _, _) => {
                if let Ok(ms) = ms.parse::<u64>() {
                    j.highest = j.highest.max(ms);
                }
            }
            (Some("m"), Some(uid), Some(ms), Some(sys), Some(kw)) => {
                if let (Ok(uid), Ok(ms), Ok(system), Ok(keywords)) = (
                    uid.parse::<u32>(),
                    ms.parse::<u64>(),
                    sys.parse::<u8>(),
                    kw.parse::<u32>(),
                ) {
                    j.highest = j.highest.max(ms);
                    j.messages.insert(uid, (ms, Flags { system, keywords }));
                }
            }
            (Some("x"), Some(ms), Some(set), None, _) => {
                if let (Ok(ms), Some(ranges)) = (ms.parse::<u64>(), parse_ranges(set)) {
                    j.highest = j.highest.max(ms);
                    for &(a, b) in &ranges {
                        // Only a handful of UIDs per line are usual; a wide
                        // range is removed in bulk.
                        if b - a < 4096 {
                            for u in a..=b {
                                j.messages.remove(&u);
                            }
                        } else {
                            j.messages.retain(|&u, _| u < a || u > b);
                        }
                    }
                    j.history.push((ms, ranges));
                }
            }
            _ => log::debug!("roost-modseq: skipping a damaged line"),
        }
    }
    j.history.sort_by_key(|(ms, _)| *ms);
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
        let mut j = parse(b"roost-modseq 1 1\nm 1 5 0 0\n", 1).expect("parses");
        let mut log = ModseqLog::resume(1, &mut j);
        assert_eq!(log.highest(), 5);
        let first = log.allocate();
        assert!(first >= now_ms(), "jumps to the clock");
        assert_eq!(log.allocate(), first + 1, "then counts");
    }

    #[test]
    fn vanished_uses_history_or_everything_missing() {
        let mut log = ModseqLog::fresh(1);
        let base = log.highest();
        let a = log.allocate();
        log.note_expunged(a, &[3, 4]);
        let b = log.allocate();
        log.note_expunged(b, &[8]);
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
        let mut log = ModseqLog::fresh(9);
        let msgs = [
            (1u32, log.highest(), flags(0)),
            (2, log.highest(), flags(8)),
        ];
        log.flush(dir.path(), &mut msgs.iter().copied());
        let ms = log.allocate();
        log.note_message(2, ms, flags(0));
        log.flush(dir.path(), &mut msgs.iter().copied());
        let text = fs::read(dir.path().join(FILE_NAME)).expect("written");
        let j = parse(&text, 9).expect("parses");
        assert_eq!(j.messages[&2], (ms, flags(0)));
        assert_eq!(j.messages[&1].1, flags(0));
        // Deleted behind our back: the next flush writes it whole again.
        fs::remove_file(dir.path().join(FILE_NAME)).expect("rm");
        let ms2 = log.allocate();
        log.note_message(1, ms2, flags(2));
        let now = [(1u32, ms2, flags(2)), (2, ms, flags(0))];
        log.flush(dir.path(), &mut now.iter().copied());
        let j =
            parse(&fs::read(dir.path().join(FILE_NAME)).expect("rewritten"), 9).expect("parses");
        assert_eq!(j.messages[&1], (ms2, flags(2)));
        assert!(j.highest >= ms2);
    }
}
