//! METADATA entries (RFC 5464) as stored in `roost-metadata` at the
//! Maildir root: the server's entries and each mailbox's, for one user.
//!
//! One line per entry: `entry TAB hex(value) [TAB level]*`. Server entries
//! have no levels; a mailbox's entries carry its name's levels (mailbox
//! names never hold a TAB: the same rule as `roost-special-use`). Entry
//! names are ASCII without TAB (checked by the caller), so the line splits
//! unambiguously; values are hex because they may be any bytes. Rewritten
//! whole under a dot-lock, through a temp file and rename, never through a
//! symlink (`DotLock::replace_target`, `nofollow`).

use crate::store::dotlock::{DotLock, LockOptions};
use crate::store::names::MailboxName;
use std::io;
use std::path::Path;
use std::time::Duration;

pub(crate) const FILE_NAME: &str = "roost-metadata";

const LOCK: LockOptions = LockOptions {
    stale_after: Duration::from_secs(30),
    timeout: Duration::from_secs(30),
};

/// Whose entry: the server's (`""` on the wire) or a mailbox's.
pub(crate) type Owner = Option<MailboxName>;

/// All of a user's entries, in file order. Entry names are lower case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Metadata {
    entries: Vec<(Owner, String, Vec<u8>)>,
}

impl Metadata {
    /// Reads the file; a missing file is empty, lines that do not parse are
    /// skipped.
    pub(crate) fn load(root: &Path) -> io::Result<Metadata> {
        match super::nofollow::read(&root.join(FILE_NAME)) {
            Ok(bytes) => Ok(Metadata::parse(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Metadata::default()),
            Err(e) => Err(e),
        }
    }

    fn parse(text: &str) -> Metadata {
        let mut md = Metadata::default();
        for line in text.lines() {
            let mut fields = line.split('\t');
            let (Some(entry), Some(hex)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some(value) = unhex(hex) else { continue };
            let levels: Vec<String> = fields.map(str::to_string).collect();
            if entry.is_empty() || levels.iter().any(String::is_empty) {
                continue;
            }
            let owner = (!levels.is_empty()).then(|| MailboxName::from_levels(levels));
            md.set(&owner, entry, Some(value));
        }
        md
    }

    fn serialize(&self) -> String {
        let mut out = String::new();
        for (owner, entry, value) in &self.entries {
            out.push_str(entry);
            out.push('\t');
            for b in value {
                out.push_str(&format!("{b:02x}"));
            }
            for level in owner.iter().flat_map(|n| n.levels()) {
                out.push('\t');
                out.push_str(level);
            }
            out.push('\n');
        }
        out
    }

    /// The value of one entry.
    pub(crate) fn get(&self, owner: &Owner, entry: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(o, e, _)| o == owner && e == entry)
            .map(|(_, _, v)| v.as_slice())
    }

    /// The entries of `owner` strictly below `entry`, at most `depth`
    /// levels down (`None`: any depth), sorted by name.
    pub(crate) fn below(
        &self,
        owner: &Owner,
        entry: &str,
        depth: Option<usize>,
    ) -> Vec<(&str, &[u8])> {
        let prefix = format!("{entry}/");
        let mut found: Vec<(&str, &[u8])> = self
            .entries
            .iter()
            .filter(|(o, e, _)| o == owner && e.starts_with(&prefix))
            .filter(|(_, e, _)| depth.is_none_or(|d| e[prefix.len()..].matches('/').count() < d))
            .map(|(_, e, v)| (e.as_str(), v.as_slice()))
            .collect();
        found.sort_unstable();
        found
    }

    /// Sets (`Some`) or deletes (`None`) an entry; true if anything changed.
    pub(crate) fn set(&mut self, owner: &Owner, entry: &str, value: Option<Vec<u8>>) -> bool {
        let entry = entry.to_ascii_lowercase();
        let pos = self
            .entries
            .iter()
            .position(|(o, e, _)| o == owner && *e == entry);
        match (pos, value) {
            (Some(i), None) => {
                self.entries.remove(i);
                true
            }
            (None, None) => false,
            (Some(i), Some(v)) => {
                let changed = self.entries[i].2 != v;
                self.entries[i].2 = v;
                changed
            }
            (None, Some(v)) => {
                self.entries.push((owner.clone(), entry, v));
                true
            }
        }
    }

    /// The entries whose value differs between `self` and `other` (set,
    /// changed or deleted), as (owner, entry).
    pub(crate) fn changed_since(&self, other: &Metadata) -> Vec<(Owner, String)> {
        let mut out: Vec<(Owner, String)> = Vec::new();
        for (o, e, _) in self.entries.iter().chain(&other.entries) {
            let differs = self.get(o, e) != other.get(o, e);
            if differs && !out.iter().any(|(a, b)| a == o && b == e) {
                out.push((o.clone(), e.clone()));
            }
        }
        out
    }

    /// How many entries the user has in all.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// DELETE: the mailbox's entries go with it (children are separate
    /// folders in Maildir++ and keep theirs).
    pub(crate) fn forget(&mut self, name: &MailboxName) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(o, _, _)| o.as_ref() != Some(name));
        before != self.entries.len()
    }

    /// RENAME: entries follow the mailbox and everything below it.
    pub(crate) fn rename(&mut self, from: &MailboxName, to: &MailboxName) -> bool {
        let mut changed = false;
        for (owner, _, _) in &mut self.entries {
            if let Some(n) = owner {
                if n == from || n.is_child_of(from) {
                    *n = n.rebase(from, to);
                    changed = true;
                }
            }
        }
        changed
    }

    /// Changes the file under its lock: reads it fresh, applies `f`, and
    /// writes it back if `f` returned true. `f`'s error leaves the file as
    /// it was.
    pub(crate) fn update<E: From<io::Error>>(
        root: &Path,
        f: impl FnOnce(&mut Metadata) -> Result<bool, E>,
    ) -> Result<(), E> {
        let lock = DotLock::acquire(&root.join(FILE_NAME), LOCK)?;
        let mut md = Metadata::load(root)?;
        if f(&mut md)? {
            lock.replace_target(md.serialize().as_bytes())?;
        }
        Ok(())
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(levels: &[&str]) -> Owner {
        Some(MailboxName::from_levels(
            levels.iter().map(|s| s.to_string()).collect(),
        ))
    }

    #[test]
    fn round_trip_delete_and_rename() {
        let d = tempfile::tempdir().unwrap();
        Metadata::update(d.path(), |m| -> io::Result<bool> {
            m.set(&None, "/private/comment", Some(b"srv\n\t\0".to_vec()));
            m.set(&name(&["a"]), "/Shared/X", Some(b"1".to_vec()));
            m.set(&name(&["a", "b"]), "/shared/x/y", Some(b"2".to_vec()));
            m.set(&name(&["c"]), "/shared/x", Some(b"3".to_vec()));
            Ok(true)
        })
        .unwrap();
        let m = Metadata::load(d.path()).unwrap();
        assert_eq!(m.get(&None, "/private/comment"), Some(&b"srv\n\t\0"[..]));
        assert_eq!(m.get(&name(&["a"]), "/shared/x"), Some(&b"1"[..]));
        let mut m2 = m.clone();
        assert!(m2.rename(
            &MailboxName::from_levels(vec!["a".into()]),
            &MailboxName::from_levels(vec!["z".into()])
        ));
        assert_eq!(m2.get(&name(&["z", "b"]), "/shared/x/y"), Some(&b"2"[..]));
        assert!(m2.forget(&MailboxName::from_levels(vec!["c".into()])));
        assert_eq!(m2.len(), 3);
        assert_eq!(Metadata::parse(&m2.serialize()), m2);
        assert_eq!(m.below(&name(&["a", "b"]), "/shared", Some(1)), vec![]);
        assert_eq!(m.below(&name(&["a", "b"]), "/shared", None).len(), 1);
    }
}
