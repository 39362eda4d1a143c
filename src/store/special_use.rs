//! Special-use mailboxes (RFC 6154): which folders are the user's Drafts,
//! Sent, Trash, Junk and Archive.
//!
//! Two sources, merged: the server-wide `special_use` setting (folder
//! names mapped to uses, as Dovecot's `special_use` in its mailbox blocks)
//! and the uses clients gave with `CREATE name (USE (...))`, kept per user
//! in the file `roost-special-use` at the Maildir root. Dovecot keeps the
//! latter in its index; Roost has none, so the file is its own:
//!
//! ```text
//! \Sent \Drafts<TAB>Level1<TAB>Level2
//! ```
//!
//! one line per mailbox, the uses separated by spaces, then the name's
//! hierarchy levels in UTF-8, TAB-separated (names hold no control
//! characters, see `names::check_level`). It is rewritten whole under a
//! dot-lock and renamed into place, and a missing or damaged file only
//! loses the uses it held.

use crate::store::dotlock::{DotLock, LockOptions};
use crate::store::names::{MailboxName, NameError, Namespace};
use crate::store::{Store, StoreError};
use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

pub(crate) const FILE_NAME: &str = "roost-special-use";

const LOCK: LockOptions = LockOptions {
    stale_after: Duration::from_secs(30),
    timeout: Duration::from_secs(30),
};

/// RFC 6154 §2 attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
}

impl SpecialUse {
    pub(crate) const ALL: [SpecialUse; 7] = [
        SpecialUse::All,
        SpecialUse::Archive,
        SpecialUse::Drafts,
        SpecialUse::Flagged,
        SpecialUse::Junk,
        SpecialUse::Sent,
        SpecialUse::Trash,
    ];

    /// The attribute as LIST shows it, e.g. `\Sent`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    /// Parses `\Sent` (any case).
    pub(crate) fn parse(text: &str) -> Option<SpecialUse> {
        SpecialUse::ALL
            .into_iter()
            .find(|u| u.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether a client may give a real folder this use with CREATE. `\All`
    /// and `\Flagged` describe virtual mailboxes, which Roost has not.
    pub(crate) fn creatable(self) -> bool {
        !matches!(self, SpecialUse::All | SpecialUse::Flagged)
    }
}

impl fmt::Display for SpecialUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the `special_use` setting: `Name=\Use, Other Name=\Use`. Names
/// are kept as written (the wire form clients see, UTF-8); they are checked
/// against the namespace later, when it is known.
pub(crate) fn parse_setting(value: &str) -> Result<Vec<(String, SpecialUse)>, String> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, used) = item
            .rsplit_once('=')
            .ok_or_else(|| format!("special_use: expected Name=\\Use, found {item:?}"))?;
        let (name, used) = (name.trim(), used.trim());
        if name.is_empty() {
            return Err(format!("special_use: no folder name in {item:?}"));
        }
        let used = SpecialUse::parse(used).ok_or_else(|| {
            let known: Vec<&str> = SpecialUse::ALL.iter().map(|u| u.as_str()).collect();
            format!(
                "special_use: {used:?} is not a special use (RFC 6154: {})",
                known.join(" ")
            )
        })?;
        out.push((name.to_string(), used));
    }
    Ok(out)
}

/// The configured names as mailboxes of a namespace. A name is read as a
/// client would send it; one outside a `namespace_prefix` gets the prefix,
/// so the default list works with `INBOX.` too.
pub(crate) fn resolve(
    ns: &Namespace,
    entries: &[(String, SpecialUse)],
) -> Result<Vec<(MailboxName, SpecialUse)>, String> {
    entries
        .iter()
        .map(|(wire, used)| {
            let name = match ns.parse(wire) {
                Err(NameError::OutsideNamespace(_)) => ns.parse(&format!("{}{wire}", ns.prefix)),
                other => other,
            }
            .map_err(|e| format!("special_use: {wire:?}: {e}"))?;
            Ok((name, *used))
        })
        .collect()
}

/// Every folder's uses for one user: the setting's and the user's file's.
#[derive(Clone, Debug, Default)]
pub(crate) struct Uses {
    pairs: Vec<(MailboxName, SpecialUse)>,
}

impl Uses {
    /// Merges the `special_use` setting (`config`) with the user's file.
    /// Names of the setting that do not resolve were refused at startup.
    pub(crate) fn load(
        root: &Path,
        ns: &Namespace,
        config: &[(String, SpecialUse)],
    ) -> io::Result<Uses> {
        let mut pairs = resolve(ns, config).unwrap_or_default();
        let user = UserUses::load(root)?;
        for (name, list) in &user.entries {
            pairs.extend(list.iter().map(|u| (name.clone(), *u)));
        }
        Ok(Uses { pairs })
    }

    /// A mailbox's uses, in RFC 6154 order, without repeats.
    pub(crate) fn of(&self, name: &MailboxName) -> Vec<SpecialUse> {
        let mut v: Vec<SpecialUse> = self
            .pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, u)| *u)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// At login (`autocreate_special_use`): creates and subscribes the first
/// folder named for each use when it does not exist, as Dovecot's
/// `auto = subscribe` does. Failures are logged, never fatal to a login.
pub(crate) fn autocreate(store: &Store, config: &[(String, SpecialUse)], user: &str) {
    let Ok(resolved) = resolve(store.namespace(), config) else {
        return;
    };
    let mut done: Vec<SpecialUse> = Vec::new();
    for (name, used) in resolved {
        if done.contains(&used) {
            continue;
        }
        done.push(used);
        if name.is_inbox() || store.exists(&name) {
            continue;
        }
        let made = match store.create(&name) {
            Ok(()) | Err(StoreError::Exists) => store.subscribe(&name, true),
            Err(e) => Err(e),
        };
        match made {
            Ok(()) => log::info!("user={user} created special-use folder {name} ({used})"),
            Err(e) => log::warn!("user={user} cannot create special-use folder {name}: {e}"),
        }
    }
}

/// The setting written back in its text form.
pub(crate) fn format_setting(entries: &[(String, SpecialUse)]) -> String {
    entries
        .iter()
        .map(|(n, u)| format!("{n}={u}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Uses clients set with CREATE, as stored in `roost-special-use`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UserUses {
    entries: Vec<(MailboxName, Vec<SpecialUse>)>,
}

impl UserUses {
    /// Reads the file; a missing file is an empty set, unreadable lines are
    /// skipped.
    pub(crate) fn load(root: &Path) -> io::Result<UserUses> {
        match super::nofollow::read(&root.join(FILE_NAME)) {
            Ok(bytes) => Ok(UserUses::parse(&String::from_utf8_lossy(&bytes))),
            Err(e) if super::nofollow::is_gone(&e) => Ok(UserUses::default()),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn parse(text: &str) -> UserUses {
        let mut uses = UserUses::default();
        for line in text.lines() {
            let mut fields = line.split('\t');
            let Some(attrs) = fields.next() else { continue };
            let levels: Vec<String> = fields.map(str::to_string).collect();
            if levels.is_empty() || levels.iter().any(String::is_empty) {
                continue;
            }
            let list: Vec<SpecialUse> = attrs.split(' ').filter_map(SpecialUse::parse).collect();
            if !list.is_empty() {
                uses.set(&MailboxName::from_levels(levels), list);
            }
        }
        uses
    }

    pub(crate) fn serialize(&self) -> String {
        let mut out = String::new();
        for (name, list) in &self.entries {
            let attrs: Vec<&str> = list.iter().map(|u| u.as_str()).collect();
            out.push_str(&attrs.join(" "));
            for level in name.levels() {
                out.push('\t');
                out.push_str(level);
            }
            out.push('\n');
        }
        out
    }

    /// The uses recorded for a mailbox.
    #[cfg(test)]
    pub(crate) fn get(&self, name: &MailboxName) -> &[SpecialUse] {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, l)| l.as_slice())
    }

    /// Records a mailbox's uses (an empty list removes it).
    pub(crate) fn set(&mut self, name: &MailboxName, mut list: Vec<SpecialUse>) {
        list.sort_unstable();
        list.dedup();
        self.entries.retain(|(n, _)| n != name);
        if !list.is_empty() {
            self.entries.push((name.clone(), list));
        }
    }

    /// DELETE: the mailbox's uses go with it (children keep theirs: in
    /// Maildir++ they are separate folders and survive).
    pub(crate) fn forget(&mut self, name: &MailboxName) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| n != name);
        before != self.entries.len()
    }

    /// RENAME: uses follow the mailbox and everything below it.
    pub(crate) fn rename(&mut self, from: &MailboxName, to: &MailboxName) -> bool {
        let mut changed = false;
        for (n, _) in &mut self.entries {
            if n == from || n.is_child_of(from) {
                *n = n.rebase(from, to);
                changed = true;
            }
        }
        changed
    }

    /// Changes the file under its lock: reads it fresh, applies `f`, and
    /// writes it back if `f` says something changed.
    pub(crate) fn update(root: &Path, f: impl FnOnce(&mut UserUses) -> bool) -> io::Result<()> {
        let lock = DotLock::acquire(&root.join(FILE_NAME), LOCK)?;
        let mut uses = UserUses::load(root)?;
        if f(&mut uses) {
            lock.replace_target(uses.serialize().as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn name(levels: &[&str]) -> MailboxName {
        MailboxName::from_levels(levels.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn setting_syntax() {
        let v = parse_setting("Drafts=\\Drafts, Sent Messages = \\sent,Junk=\\Junk").unwrap();
        assert_eq!(
            v,
            vec![
                ("Drafts".to_string(), SpecialUse::Drafts),
                ("Sent Messages".to_string(), SpecialUse::Sent),
                ("Junk".to_string(), SpecialUse::Junk),
            ]
        );
        assert_eq!(
            format_setting(&v),
            "Drafts=\\Drafts, Sent Messages=\\Sent, Junk=\\Junk"
        );
        assert_eq!(parse_setting("").unwrap(), vec![]);
        assert!(parse_setting("Sent").unwrap_err().contains("Name=\\Use"));
        assert!(parse_setting("Sent=\\Outbox")
            .unwrap_err()
            .contains("not a special use"));
        assert!(parse_setting("=\\Sent").unwrap_err().contains("no folder"));
    }

    #[test]
    fn names_resolve_in_the_namespace() {
        let entries = parse_setting("Sent=\\Sent, Archive.2024=\\Archive").unwrap();
        let got = resolve(&Namespace::default(), &entries).unwrap();
        assert_eq!(got[1].0, name(&["Archive", "2024"]));
        let prefixed = Namespace {
            prefix: "INBOX.".into(),
            ..Namespace::default()
        };
        let got = resolve(&prefixed, &entries).unwrap();
        assert_eq!(got[0].0, name(&["Sent"]));
        let bad = parse_setting("a..b=\\Junk").unwrap();
        assert!(resolve(&Namespace::default(), &bad).is_err());
    }

    #[test]
    fn user_file_round_trip_delete_and_rename() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(UserUses::load(root).unwrap(), UserUses::default());
        UserUses::update(root, |u| {
            u.set(
                &name(&["Mine", "Out box"]),
                vec![SpecialUse::Sent, SpecialUse::Drafts],
            );
            u.set(&name(&["Bin"]), vec![SpecialUse::Trash]);
            true
        })
        .unwrap();
        let text = fs::read_to_string(root.join(FILE_NAME)).unwrap();
        assert_eq!(text, "\\Drafts \\Sent\tMine\tOut box\n\\Trash\tBin\n");
        let mut u = UserUses::load(root).unwrap();
        assert_eq!(
            u.get(&name(&["Mine", "Out box"])),
            &[SpecialUse::Drafts, SpecialUse::Sent]
        );
        assert!(u.rename(&name(&["Mine"]), &name(&["Yours"])));
        assert_eq!(
            u.get(&name(&["Yours", "Out box"])),
            &[SpecialUse::Drafts, SpecialUse::Sent]
        );
        assert!(u.forget(&name(&["Bin"])));
        assert!(!u.forget(&name(&["Bin"])));
        // Junk lines are skipped, not fatal.
        let u = UserUses::parse("garbage\n\\Nope\tX\n\\Junk\tSpam\n\\Sent\t\n");
        assert_eq!(u.get(&name(&["Spam"])), &[SpecialUse::Junk]);
        assert_eq!(u.entries.len(), 1);
    }
}
