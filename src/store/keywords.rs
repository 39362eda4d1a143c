//! `dovecot-keywords`: the per-mailbox table mapping Maildir filename
//! letters `a`..`z` to IMAP keyword names.
//!
//! This module owns reading, editing and atomically rewriting that file.
//! Format (Dovecot `maildir-keywords.c`): one `<index> <name>\n` line per
//! keyword, index 0..=25 standing for letter `'a' + index`. Messages carry
//! the letters in their filenames, so a slot must never be reassigned while
//! any message may still use its letter; this module only ever fills empty
//! slots. Dovecot assigns new keywords only while `dovecot-uidlist` is
//! locked, and callers of [`Keywords::add`] + [`Keywords::save`] must do
//! the same.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use crate::store::dotlock::{DotLock, LockOptions};

pub(crate) const FILE_NAME: &str = "dovecot-keywords";

/// `MAILDIR_MAX_KEYWORDS`: one slot per letter `a`..=`z`.
const SLOTS: usize = 26;

/// Dovecot's `KEYWORDS_LOCK_STALE_TIMEOUT` is 120 s.
const LOCK: LockOptions = LockOptions {
    stale_after: Duration::from_secs(120),
    timeout: Duration::from_secs(30),
};

/// The 26 keyword slots of one mailbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Keywords {
    slots: [Option<String>; SLOTS],
}

/// Keyword names compare ASCII case-insensitively, as in Dovecot: both
/// `maildir-keywords.c` (its name → index hash is built with `strcase_hash`
/// and `strcasecmp`) and the index's keyword table (`mail-index.c`, same
/// functions) treat `$Junk` and `$junk` as one keyword. Matching
/// case-sensitively here would let Roost put a second spelling into another
/// slot, which Dovecot would then conflate with the first.
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl Keywords {
    /// Parses the file leniently, the way Dovecot reads it: lines without a
    /// space, with an index that is not a decimal number below 26, or with
    /// an empty name are skipped; the name is everything after the first
    /// space (it may itself contain spaces).
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Keywords {
        Keywords::parse_bytes(text.as_bytes())
    }

    fn parse_bytes(data: &[u8]) -> Keywords {
        let mut kw = Keywords::default();
        for raw in data.split(|&b| b == b'\n') {
            // Dovecot never writes CR; a hand-edited CRLF file shouldn't
            // produce names ending in CR.
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            // Lossy, not skipped: an undecodable name still owns its letter,
            // and dropping it would let `add` hand that letter out again.
            let line = String::from_utf8_lossy(raw);
            let Some((idx, name)) = line.split_once(' ') else {
                // Dovecot: happens on the first line of a converted
                // `.customflags` file.
                continue;
            };
            let Some(idx) = parse_index(idx) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            // A name already held by another slot: the first one wins.
            if kw
                .names()
                .any(|(i, n)| usize::from(i) != idx && same_name(n, name))
            {
                continue;
            }
            // A repeated index overwrites the slot, as Dovecot's array does.
            kw.slots[idx] = Some(name.to_string());
        }
        kw
    }

    /// The file's content: filled slots only, ascending index.
    pub(crate) fn serialize(&self) -> String {
        let mut out = String::new();
        for (i, name) in self.names() {
            out.push_str(&format!("{i} {name}\n"));
        }
        out
    }

    /// The keyword in slot `idx` (letter `'a' + idx`).
    pub(crate) fn name(&self, idx: u8) -> Option<&str> {
        self.slots.get(usize::from(idx))?.as_deref()
    }

    /// The slot holding `name`, compared ASCII case-insensitively (see
    /// `same_name` for why).
    pub(crate) fn index_of(&self, name: &str) -> Option<u8> {
        self.names()
            .find(|(_, n)| same_name(n, name))
            .map(|(i, _)| i)
    }

    /// Assigns the first free slot; None when all 26 are taken.
    ///
    /// A name that is already present keeps (and returns) its slot. Names
    /// the file cannot hold (empty, or containing CR, LF or NUL) get None.
    pub(crate) fn add(&mut self, name: &str) -> Option<u8> {
        if name.is_empty() || name.contains(['\r', '\n', '\0']) {
            return None;
        }
        if let Some(i) = self.index_of(name) {
            return Some(i);
        }
        let free = self.slots.iter().position(Option::is_none)?;
        self.slots[free] = Some(name.to_string());
        u8::try_from(free).ok()
    }

    /// `(index, name)` of every filled slot, ascending.
    /// True when every keyword letter is taken: no new name can be added.
    pub(crate) fn is_full(&self) -> bool {
        self.slots.iter().all(Option::is_some)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = (u8, &str)> {
        self.slots
            .iter()
            .zip(0u8..)
            .filter_map(|(slot, i)| slot.as_deref().map(|n| (i, n)))
    }

    /// Reads `<dir>/dovecot-keywords`; a missing file is an empty table.
    pub(crate) fn load(dir: &Path) -> io::Result<Keywords> {
        match super::nofollow::read(&dir.join(FILE_NAME)) {
            Ok(data) => Ok(Keywords::parse_bytes(&data)),
            Err(e) if super::nofollow::is_gone(&e) => Ok(Keywords::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes via `<dir>/dovecot-keywords.lock` (DotLock, stale after 120 s,
    /// timeout 30 s) + replace_target, as Dovecot does.
    pub(crate) fn save(&self, dir: &Path) -> io::Result<()> {
        let target = dir.join(FILE_NAME);
        let lock = DotLock::acquire(&target, LOCK)?;
        let old_mtime = mtime_secs(&target);
        lock.replace_target(self.serialize().as_bytes())?;
        if let Some(old) = old_mtime {
            if let Err(e) = ensure_mtime_after(&target, old) {
                log::warn!("bumping mtime of {}: {e}", target.display());
            }
        }
        Ok(())
    }
}

/// Dovecot's `str_to_uint`: ASCII digits only, no sign, no overflow.
fn parse_index(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<usize>().ok().filter(|&i| i < SLOTS)
}

fn mtime_secs(path: &Path) -> Option<u64> {
    let modified = fs::symlink_metadata(path).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// Dovecot notices a changed `dovecot-keywords` only by its whole-second
/// mtime ("mtime must grow every time"). A rewrite within the same second
/// as the previous one would go unseen, and Dovecot would then invent
/// `unknown-N` names for our new letters, so push the mtime forward.
fn ensure_mtime_after(path: &Path, old_secs: u64) -> io::Result<()> {
    match mtime_secs(path) {
        Some(new) if new > old_secs => Ok(()),
        _ => {
            let file = super::nofollow::options().write(true).open(path)?;
            file.set_modified(UNIX_EPOCH + Duration::from_secs(old_secs + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(text: &str) -> Keywords {
        Keywords::parse(text)
    }

    #[test]
    fn parse_basic() {
        let k = kw("0 $Junk\n1 $NonJunk\n");
        assert_eq!(k.name(0), Some("$Junk"));
        assert_eq!(k.name(1), Some("$NonJunk"));
        assert_eq!(k.name(2), None);
        assert_eq!(k.name(200), None);
        assert_eq!(k.index_of("$NonJunk"), Some(1));
        assert_eq!(k.serialize(), "0 $Junk\n1 $NonJunk\n");
    }

    #[test]
    fn parse_table() {
        // (input, expected serialisation)
        let rows = [
            ("", ""),
            ("\n\n", ""),
            ("0 $Junk", "0 $Junk\n"),
            ("0 $Junk\r\n1 Work\r\n", "0 $Junk\n1 Work\n"),
            // .customflags header line and other space-less lines
            ("customflags\n0 $Junk\n", "0 $Junk\n"),
            // gaps survive and stay in place
            ("3 $Forwarded\n0 $NotJunk\n", "0 $NotJunk\n3 $Forwarded\n"),
            ("25 last\n26 too-far\n100 way-too-far\n", "25 last\n"),
            ("-1 neg\n+1 plus\n x nothing\nx1 bad\n1x bad\n", ""),
            ("99999999999999999999999 huge\n", ""),
            ("007 leading-zeros\n", "7 leading-zeros\n"),
            ("0 \n1  \n", "1  \n"),
            ("0 name with spaces\n", "0 name with spaces\n"),
            // duplicate names: first wins, case-insensitively
            ("0 $Junk\n1 $Junk\n2 $junk\n3 Other\n", "0 $Junk\n3 Other\n"),
            // repeated index: the later line overwrites the slot
            ("0 First\n0 Second\n", "0 Second\n"),
        ];
        for (input, want) in rows {
            assert_eq!(kw(input).serialize(), want, "{input:?}");
        }
    }

    #[test]
    fn lookups_are_case_insensitive() {
        let k = kw("0 $NotJunk\n1 $Junk\n2 JunkRecorded\n3 $Forwarded\n4 $MDNSent\n");
        assert_eq!(k.index_of("$Forwarded"), Some(3));
        assert_eq!(k.index_of("$FORWARDED"), Some(3));
        assert_eq!(k.index_of("$mdnsent"), Some(4));
        assert_eq!(k.index_of("$Forwarde"), None);
        assert_eq!(k.index_of("nope"), None);
    }

    #[test]
    fn add_fills_first_free_slot() {
        let mut k = kw("0 a\n2 c\n");
        assert_eq!(k.add("b"), Some(1));
        assert_eq!(k.add("d"), Some(3));
        // already present, any case: same slot
        assert_eq!(k.add("C"), Some(2));
        assert_eq!(k.name(2), Some("c"));
        assert_eq!(k.add(""), None);
        assert_eq!(k.add("two\nlines"), None);
        assert_eq!(k.serialize(), "0 a\n1 b\n2 c\n3 d\n");
    }

    #[test]
    fn add_until_full() {
        let mut k = Keywords::default();
        for i in 0..26u8 {
            assert_eq!(k.add(&format!("kw{i}")), Some(i));
        }
        assert_eq!(k.add("one-too-many"), None);
        assert_eq!(k.add("KW25"), Some(25));
        assert_eq!(k.index_of("kw25"), Some(25));
        assert_eq!(k.names().count(), 26);
        assert_eq!(kw(&k.serialize()), k);
    }

    #[test]
    fn names_iterates_in_order() {
        let k = kw("4 e\n1 b\n");
        let v: Vec<(u8, &str)> = k.names().collect();
        assert_eq!(v, vec![(1, "b"), (4, "e")]);
    }

    #[test]
    fn invalid_utf8_keeps_its_slot() {
        let k = Keywords::parse_bytes(b"0 caf\xe9\n1 ok\n");
        assert!(k.name(0).is_some());
        let mut k2 = k.clone();
        assert_eq!(k2.add("new"), Some(2));
    }

    #[test]
    fn load_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Keywords::load(dir.path()).unwrap(), Keywords::default());
    }

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = Keywords::default();
        k.add("$Junk");
        k.add("$NonJunk");
        k.save(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(FILE_NAME)).unwrap(),
            "0 $Junk\n1 $NonJunk\n"
        );
        assert!(!dir.path().join("dovecot-keywords.lock").exists());
        assert_eq!(Keywords::load(dir.path()).unwrap(), k);

        // A second save in the same second must still move the mtime on.
        let before = mtime_secs(&dir.path().join(FILE_NAME)).unwrap();
        k.add("Work");
        k.save(dir.path()).unwrap();
        let after = mtime_secs(&dir.path().join(FILE_NAME)).unwrap();
        assert!(after > before, "{after} <= {before}");
        assert_eq!(Keywords::load(dir.path()).unwrap(), k);
        assert!(!dir.path().join("dovecot-keywords.lock").exists());
    }
}
