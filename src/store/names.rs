//! Mailbox names: the one canonical form (hierarchy levels in UTF-8), how
//! it maps to a Maildir++ directory (`.Archive.2024`, levels in modified
//! UTF-7 unless the tree uses UTF-8 names) and to the name clients see
//! (namespace prefix + levels joined by the configured separator).
//!
//! Every name a client sends passes `Namespace::parse` before it reaches
//! the disk, which refuses anything that could escape the user's root or
//! alias another folder.

use crate::proto::utf7;
use std::fmt;

/// Longest hierarchy level in bytes as stored on disk (file-name limit).
const MAX_LEVEL_BYTES: usize = 200;
/// Deepest hierarchy accepted.
const MAX_LEVELS: usize = 32;

/// A mailbox name in canonical form: `["INBOX"]`, `["Archive", "2024"]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName {
    levels: Vec<String>,
}

impl MailboxName {
    pub fn inbox() -> MailboxName {
        MailboxName {
            levels: vec!["INBOX".into()],
        }
    }

    pub fn is_inbox(&self) -> bool {
        self.levels.len() == 1 && self.levels[0] == "INBOX"
    }

    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    /// Builds a name from levels, normalising a leading INBOX.
    pub fn from_levels(mut levels: Vec<String>) -> MailboxName {
        if let Some(first) = levels.first_mut() {
            if first.eq_ignore_ascii_case("INBOX") {
                *first = "INBOX".into();
            }
        }
        MailboxName { levels }
    }

    /// True if `self` is strictly below `parent` in the hierarchy.
    pub fn is_child_of(&self, parent: &MailboxName) -> bool {
        self.levels.len() > parent.levels.len() && self.levels.starts_with(&parent.levels)
    }

    /// The parent names, outermost first (`a.b.c` → `a`, `a.b`).
    pub fn ancestors(&self) -> impl Iterator<Item = MailboxName> + '_ {
        (1..self.levels.len()).map(|n| MailboxName {
            levels: self.levels[..n].to_vec(),
        })
    }

    /// `self` with its leading `from` levels replaced by `to`.
    pub fn rebase(&self, from: &MailboxName, to: &MailboxName) -> MailboxName {
        let mut levels = to.levels.clone();
        levels.extend_from_slice(&self.levels[from.levels.len()..]);
        MailboxName::from_levels(levels)
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.levels.join("/"))
    }
}

/// Why a client's mailbox name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Not under this server's namespace prefix.
    OutsideNamespace(String),
    /// Not allowed; the text says why.
    Invalid(&'static str),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::OutsideNamespace(prefix) => {
                write!(f, "Mailbox names must start with {prefix:?}")
            }
            NameError::Invalid(why) => f.write_str(why),
        }
    }
}

/// How names look on the wire and on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// The hierarchy separator clients see (`.` or `/`).
    pub separator: char,
    /// The namespace prefix clients see, e.g. `INBOX.` (with separator) or "".
    pub prefix: String,
    /// Directory names in UTF-8 instead of modified UTF-7.
    pub utf8_on_disk: bool,
}

impl Default for Namespace {
    fn default() -> Self {
        Namespace {
            separator: '.',
            prefix: String::new(),
            utf8_on_disk: false,
        }
    }
}

impl Namespace {
    /// Parses a name as the client sent it (already decoded to UTF-8).
    pub fn parse(&self, wire: &str) -> Result<MailboxName, NameError> {
        if wire.eq_ignore_ascii_case("INBOX") {
            return Ok(MailboxName::inbox());
        }
        let rest = if self.prefix.is_empty() {
            wire
        } else {
            strip_prefix_ci_inbox(wire, &self.prefix)
                .ok_or_else(|| NameError::OutsideNamespace(self.prefix.clone()))?
        };
        if rest.is_empty() {
            return Err(NameError::Invalid("Empty mailbox name"));
        }
        if rest.starts_with('~') {
            return Err(NameError::Invalid("Mailbox names may not start with '~'"));
        }
        let levels: Vec<String> = rest.split(self.separator).map(str::to_string).collect();
        if levels.len() > MAX_LEVELS {
            return Err(NameError::Invalid("Mailbox hierarchy is too deep"));
        }
        for level in &levels {
            check_level(level, self.separator)?;
        }
        Ok(MailboxName::from_levels(levels))
    }

    /// The name as clients see it (UTF-8; the caller applies mUTF-7).
    pub fn to_wire(&self, name: &MailboxName) -> String {
        if name.is_inbox() {
            return "INBOX".into();
        }
        let sep = self.separator.to_string();
        format!("{}{}", self.prefix, name.levels.join(&sep))
    }

    /// The Maildir++ directory under the root (None for INBOX, the root).
    pub fn dir_name(&self, name: &MailboxName) -> Option<String> {
        if name.is_inbox() {
            return None;
        }
        let mut out = String::new();
        for level in &name.levels {
            out.push('.');
            if self.utf8_on_disk {
                out.push_str(level);
            } else {
                out.push_str(&utf7::encode(level));
            }
        }
        Some(out)
    }

    /// The mailbox a Maildir++ directory holds, or None if the directory
    /// is not a folder (no leading `.`, `..`-names, undecodable).
    pub fn from_dir_name(&self, dir: &str) -> Option<MailboxName> {
        let rest = dir.strip_prefix('.')?;
        // "You can't have subdirectories that start with two periods."
        if rest.is_empty() || rest.starts_with('.') {
            return None;
        }
        let mut levels = Vec::new();
        for raw in rest.split('.') {
            if raw.is_empty() {
                return None;
            }
            let level = if self.utf8_on_disk {
                raw.to_string()
            } else {
                utf7::decode(raw).unwrap_or_else(|_| raw.to_string())
            };
            levels.push(level);
        }
        Some(MailboxName::from_levels(levels))
    }
}

/// Strips the prefix, matching a leading "INBOX" in it case-insensitively.
fn strip_prefix_ci_inbox<'a>(wire: &'a str, prefix: &str) -> Option<&'a str> {
    if wire.len() < prefix.len() || !wire.is_char_boundary(prefix.len()) {
        return None;
    }
    let (head, rest) = wire.split_at(prefix.len());
    let same = if prefix.len() >= 5 && prefix[..5].eq_ignore_ascii_case("INBOX") {
        head[..5].eq_ignore_ascii_case("INBOX") && head[5..] == prefix[5..]
    } else {
        head == prefix
    };
    same.then_some(rest)
}

/// One hierarchy level must stay one directory-name component and must
/// not alias anything: no `/`, no `.` (the Maildir++ separator on disk),
/// no control characters, not empty.
fn check_level(level: &str, separator: char) -> Result<(), NameError> {
    if level.is_empty() {
        return Err(NameError::Invalid("Empty hierarchy level in mailbox name"));
    }
    if level == "." || level == ".." {
        return Err(NameError::Invalid("'.' and '..' are not mailbox names"));
    }
    if level.contains('/') {
        return Err(NameError::Invalid(
            "Character not allowed in mailbox name: '/'",
        ));
    }
    if separator != '.' && level.contains('.') {
        return Err(NameError::Invalid(
            "Character not allowed in mailbox name: '.'",
        ));
    }
    if level.chars().any(char::is_control) {
        return Err(NameError::Invalid(
            "Control characters are not allowed in mailbox names",
        ));
    }
    if level.len() > MAX_LEVEL_BYTES {
        return Err(NameError::Invalid("Mailbox name is too long"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(sep: char, prefix: &str) -> Namespace {
        Namespace {
            separator: sep,
            prefix: prefix.into(),
            utf8_on_disk: false,
        }
    }

    fn levels(name: &MailboxName) -> Vec<&str> {
        name.levels().iter().map(String::as_str).collect()
    }

    #[test]
    fn parses_good_names() {
        let rows: &[(char, &str, &str, &[&str])] = &[
            ('.', "", "INBOX", &["INBOX"]),
            ('.', "", "inbox", &["INBOX"]),
            ('.', "", "Inbox.sub", &["INBOX", "sub"]),
            ('.', "", "Archive.2024", &["Archive", "2024"]),
            ('/', "", "Archive/2024", &["Archive", "2024"]),
            ('.', "", "Entwürfe", &["Entwürfe"]),
            ('.', "INBOX.", "INBOX.Sent", &["Sent"]),
            ('.', "INBOX.", "inbox.Sent", &["Sent"]),
            ('.', "INBOX.", "INBOX", &["INBOX"]),
            ('/', "", "a b/c~d", &["a b", "c~d"]),
        ];
        for (sep, prefix, wire, want) in rows {
            let got = ns(*sep, prefix)
                .parse(wire)
                .unwrap_or_else(|e| panic!("{wire}: {e}"));
            assert_eq!(levels(&got), *want, "{wire}");
        }
    }

    #[test]
    fn refuses_escaping_and_aliasing_names() {
        let rows: &[(char, &str, &str)] = &[
            ('.', "", ""),
            ('.', "", "a/b"),
            ('.', "", "../etc"),
            ('.', "", ".hidden"),
            ('.', "", "a..b"),
            ('.', "", "a."),
            ('.', "", "~user"),
            ('.', "", "tab\there"),
            ('.', "", "nl\nx"),
            ('/', "", "a.b"),
            ('/', "", "/abs"),
            ('/', "", "a//b"),
            ('/', "", ".."),
            ('.', "INBOX.", "Sent"),
        ];
        for (sep, prefix, wire) in rows {
            assert!(ns(*sep, prefix).parse(wire).is_err(), "{wire:?} accepted");
        }
        assert!(ns('.', "").parse(&"x".repeat(300)).is_err());
    }

    #[test]
    fn maps_to_and_from_directories() {
        let n = ns('/', "");
        let rows: &[(&[&str], Option<&str>)] = &[
            (&["INBOX"], None),
            (&["Sent"], Some(".Sent")),
            (&["Archive", "2024"], Some(".Archive.2024")),
            (&["Entwürfe"], Some(".Entw&APw-rfe")),
            (&["INBOX", "x"], Some(".INBOX.x")),
        ];
        for (lv, dir) in rows {
            let name = MailboxName::from_levels(lv.iter().map(|s| s.to_string()).collect());
            assert_eq!(n.dir_name(&name).as_deref(), *dir);
            if let Some(d) = dir {
                assert_eq!(n.from_dir_name(d), Some(name.clone()));
            }
        }
        for bad in ["cur", "..x", ".", ".a..b", ".a."] {
            assert_eq!(n.from_dir_name(bad), None, "{bad}");
        }
        let utf8 = Namespace {
            utf8_on_disk: true,
            ..ns('.', "")
        };
        let name = utf8.parse("Entwürfe").unwrap();
        assert_eq!(utf8.dir_name(&name).as_deref(), Some(".Entwürfe"));
    }

    #[test]
    fn wire_names_and_hierarchy() {
        let n = ns('.', "INBOX.");
        let name = n.parse("INBOX.Archive.2024").unwrap();
        assert_eq!(n.to_wire(&name), "INBOX.Archive.2024");
        assert_eq!(n.to_wire(&MailboxName::inbox()), "INBOX");
        let parent = n.parse("INBOX.Archive").unwrap();
        assert!(name.is_child_of(&parent));
        assert!(!parent.is_child_of(&parent));
        assert_eq!(name.ancestors().collect::<Vec<_>>(), vec![parent.clone()]);
        let moved = name.rebase(&parent, &n.parse("INBOX.Old").unwrap());
        assert_eq!(n.to_wire(&moved), "INBOX.Old.2024");
    }
}
