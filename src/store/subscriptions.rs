//! The `subscriptions` file at the Maildir root: which mailboxes the user
//! has subscribed to (IMAP SUBSCRIBE / LSUB / LIST (SUBSCRIBED)).
//!
//! This module owns reading and atomically rewriting that file in both of
//! Dovecot's formats (`subscription-file.c`):
//!
//! - v1: no header; one name per line, hierarchy levels joined with the
//!   storage's native separator `.` (`Archive.2024`).
//! - v2: header `"V\t2\n\n"`, then one name per line, levels joined with
//!   TAB, each level tab-escaped (`\x01` → `\x011`, TAB → `\x01t`,
//!   CR → `\x01r`, LF → `\x01n`).
//!
//! Encoding, as found in Dovecot's source: in both versions each line is
//! the mailbox's *storage* name (`box->name`, via
//! `index_storage_set_subscribed` → `subsfile_set_subscribed`), which for
//! Maildir++ is modified UTF-7 unless `mail_location` has the `UTF-8` flag
//! (`mailbox_list_default_get_storage_name` encodes each level). v2 only
//! changes how levels are joined, not how they are encoded. On reading,
//! Dovecot turns the line back into a virtual name with
//! `mailbox_list_get_vname`, which decodes each level from mUTF-7 and keeps
//! a level as it is when it isn't valid mUTF-7. We do the same on reading
//! and always write mUTF-7 (Dovecot's default), so levels here are UTF-8.
//!
//! Dovecot rewrites the file in the version it found (an existing v1 file
//! stays v1) and creates new files as v2; [`Subscriptions`] keeps its
//! version for the same reason.

use std::io;
use std::path::Path;
use std::time::Duration;

use crate::proto::utf7;
use crate::store::dotlock::{DotLock, LockOptions};

pub(crate) const FILE_NAME: &str = "subscriptions";

/// `version2_header` in `subscription-file.c`.
const V2_HEADER: &str = "V\t2\n\n";

/// Maildir++'s native hierarchy separator, used by v1 files.
const V1_SEP: char = '.';

/// `SUBSCRIPTION_FILE_CHANGE_TIMEOUT` (stale) is 30 s.
const LOCK: LockOptions = LockOptions {
    stale_after: Duration::from_secs(30),
    timeout: Duration::from_secs(30),
};

/// The parsed `subscriptions` file: names as lists of UTF-8 hierarchy
/// levels, in file order, without duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Subscriptions {
    /// 1 or 2; the format [`Subscriptions::serialize`] writes.
    pub(crate) version: u8,
    names: Vec<Vec<String>>,
}

impl Subscriptions {
    /// Parses either version, tolerantly: empty lines are skipped, trailing
    /// separators stripped ("for backwards compatibility with old Dovecot
    /// versions and non-Dovecot software that added them"), `inbox` in any
    /// case becomes `INBOX`, duplicates are dropped. Names with an empty
    /// level in the middle (`a..b`) are dropped, as Dovecot drops names it
    /// finds invalid.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Subscriptions {
        Subscriptions::parse_bytes(text.as_bytes())
    }

    fn parse_bytes(data: &[u8]) -> Subscriptions {
        let (version, body) = match data.strip_prefix(V2_HEADER.as_bytes()) {
            Some(rest) => (2, rest),
            None => (1, data),
        };
        let mut subs = Subscriptions {
            version,
            names: Vec::new(),
        };
        for raw in body.split(|&b| b == b'\n') {
            // Dovecot escapes CR in v2 and never writes one raw; a CRLF file
            // is hand-made, and the CR is not part of the name.
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            // Dovecot drops entries whose name isn't valid UTF-8.
            let Ok(line) = std::str::from_utf8(raw) else {
                continue;
            };
            if line.is_empty() {
                continue;
            }
            let levels: Vec<String> = if version == 2 {
                line.split('\t')
                    .map(|l| decode_level(&tab_unescape(l)))
                    .collect()
            } else {
                line.split(V1_SEP).map(decode_level).collect()
            };
            if let Some(levels) = normalize(levels) {
                if !subs.names.contains(&levels) {
                    subs.names.push(levels);
                }
            }
        }
        subs
    }

    /// The file's content in this object's version.
    pub(crate) fn serialize(&self) -> String {
        let mut out = String::new();
        if self.version >= 2 {
            out.push_str(V2_HEADER);
        }
        for levels in &self.names {
            let encoded: Vec<String> = levels.iter().map(|l| utf7::encode(l)).collect();
            if self.version >= 2 {
                let escaped: Vec<String> = encoded.iter().map(|l| tab_escape(l)).collect();
                out.push_str(&escaped.join("\t"));
            } else {
                out.push_str(&encoded.join("."));
            }
            out.push('\n');
        }
        out
    }

    /// An empty list that will be written as v2, as Dovecot creates new files.
    pub(crate) fn new_v2() -> Subscriptions {
        Subscriptions {
            version: 2,
            names: Vec::new(),
        }
    }

    /// Whether `levels` is subscribed (`inbox` in any case means `INBOX`).
    #[cfg(test)]
    pub(crate) fn contains(&self, levels: &[String]) -> bool {
        match normalize(levels.to_vec()) {
            Some(levels) => self.names.contains(&levels),
            None => false,
        }
    }

    /// Subscribes `levels`; false if already there.
    ///
    /// Also false, and nothing is added, for a name the file cannot hold:
    /// no levels, or an empty level. Levels must not contain `.` in a v1
    /// file (it would read back as two levels); checking mailbox names is
    /// the caller's job.
    pub(crate) fn add(&mut self, levels: Vec<String>) -> bool {
        let Some(levels) = normalize(levels) else {
            return false;
        };
        if self.names.contains(&levels) {
            return false;
        }
        self.names.push(levels);
        true
    }

    /// Unsubscribes `levels`; false if it wasn't subscribed.
    pub(crate) fn remove(&mut self, levels: &[String]) -> bool {
        let Some(levels) = normalize(levels.to_vec()) else {
            return false;
        };
        let before = self.names.len();
        self.names.retain(|n| *n != levels);
        self.names.len() != before
    }

    /// The subscribed names in file order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[String]> {
        self.names.iter().map(Vec::as_slice)
    }

    /// Reads `<root>/subscriptions`; a missing file gives [`Self::new_v2`].
    pub(crate) fn load(root: &Path) -> io::Result<Subscriptions> {
        match super::nofollow::read(&root.join(FILE_NAME)) {
            Ok(data) => Ok(Subscriptions::parse_bytes(&data)),
            Err(e) if super::nofollow::is_gone(&e) => Ok(Subscriptions::new_v2()),
            Err(e) => Err(e),
        }
    }

    /// Writes via `<root>/subscriptions.lock` (DotLock: stale after 30 s,
    /// timeout 30 s) + replace_target.
    pub(crate) fn save(&self, root: &Path) -> io::Result<()> {
        let lock = DotLock::acquire(&root.join(FILE_NAME), LOCK)?;
        lock.replace_target(self.serialize().as_bytes())
    }
}

/// Strips trailing empty levels, rejects empty or hollow names and spells
/// INBOX canonically (Dovecot: `strcasecmp(name, "INBOX") == 0` → `INBOX`).
fn normalize(mut levels: Vec<String>) -> Option<Vec<String>> {
    while levels.last().is_some_and(String::is_empty) {
        levels.pop();
    }
    if levels.is_empty() || levels.iter().any(String::is_empty) {
        return None;
    }
    if levels.len() == 1 && levels[0].eq_ignore_ascii_case("INBOX") {
        levels[0] = "INBOX".to_string();
    }
    Some(levels)
}

/// mUTF-7 → UTF-8, keeping the level as it is when it isn't valid mUTF-7
/// (what `mailbox_list_default_get_vname` does).
fn decode_level(level: &str) -> String {
    utf7::decode(level).unwrap_or_else(|_| level.to_string())
}

/// Dovecot's `str_append_tabescaped`.
fn tab_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\x01' => out.push_str("\x011"),
            '\t' => out.push_str("\x01t"),
            '\r' => out.push_str("\x01r"),
            '\n' => out.push_str("\x01n"),
            c => out.push(c),
        }
    }
    out
}

/// Dovecot's `str_append_tabunescaped`: an unknown escape yields the
/// escaped character itself, a trailing lone `\x01` is dropped.
fn tab_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\x01' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('1') => out.push('\x01'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn name(levels: &[&str]) -> Vec<String> {
        levels.iter().map(|s| s.to_string()).collect()
    }

    fn names(s: &Subscriptions) -> Vec<Vec<String>> {
        s.iter().map(<[String]>::to_vec).collect()
    }

    #[test]
    fn parse_v1_table() {
        // (file, expected names, expected re-serialisation)
        let rows: &[(&str, &[&[&str]], &str)] = &[
            ("", &[], ""),
            ("\n\n", &[], ""),
            ("INBOX\nSent\n", &[&["INBOX"], &["Sent"]], "INBOX\nSent\n"),
            ("inbox\n", &[&["INBOX"]], "INBOX\n"),
            ("InBoX\nINBOX\n", &[&["INBOX"]], "INBOX\n"),
            (
                "Archive.2024\nEntw&APw-rfe\n",
                &[&["Archive", "2024"], &["Entwürfe"]],
                "Archive.2024\nEntw&APw-rfe\n",
            ),
            (
                "Archive.\nSent..\n",
                &[&["Archive"], &["Sent"]],
                "Archive\nSent\n",
            ),
            ("Trash\nTrash\nTrash.\n", &[&["Trash"]], "Trash\n"),
            // no final newline
            ("Drafts", &[&["Drafts"]], "Drafts\n"),
            (
                "Drafts\r\nSent\r\n",
                &[&["Drafts"], &["Sent"]],
                "Drafts\nSent\n",
            ),
            // not valid mUTF-7: kept as is, written canonically
            ("a&b\n", &[&["a&b"]], "a&-b\n"),
            ("&AGE-\n", &[&["&AGE-"]], "&-AGE-\n"),
            // hollow names are dropped
            (".\nA..B\n.Lead\n", &[], ""),
            // INBOX children are not renamed
            ("inbox.Sub\n", &[&["inbox", "Sub"]], "inbox.Sub\n"),
        ];
        for &(file, want, out) in rows {
            let s = Subscriptions::parse(file);
            assert_eq!(s.version, 1, "{file:?}");
            let want: Vec<Vec<String>> = want.iter().map(|n| name(n)).collect();
            assert_eq!(names(&s), want, "{file:?}");
            assert_eq!(s.serialize(), out, "{file:?}");
        }
    }

    #[test]
    fn parse_v2_table() {
        let rows: &[(&str, &[&[&str]], &str)] = &[
            ("V\t2\n\n", &[], "V\t2\n\n"),
            (
                "V\t2\n\nINBOX\nArchive\t2024\nEntw&APw-rfe\n",
                &[&["INBOX"], &["Archive", "2024"], &["Entwürfe"]],
                "V\t2\n\nINBOX\nArchive\t2024\nEntw&APw-rfe\n",
            ),
            ("V\t2\n\ninbox\n", &[&["INBOX"]], "V\t2\n\nINBOX\n"),
            // a '.' is an ordinary character inside a v2 level
            (
                "V\t2\n\nArchive.2024\n",
                &[&["Archive.2024"]],
                "V\t2\n\nArchive.2024\n",
            ),
            // tab-escapes
            (
                "V\t2\n\na\x01tb\tc\x01nd\x01re\x011f\n",
                &[&["a\tb", "c\nd\re\x01f"]],
                // control characters are not printable ASCII: mUTF-7 shifts
                "V\t2\n\na&AAk-b\tc&AAo-d&AA0-e&AAE-f\n",
            ),
            ("V\t2\n\nx\x01zy\x01\n", &[&["xzy"]], "V\t2\n\nxzy\n"),
            ("V\t2\n\nSent\t\nSent\n", &[&["Sent"]], "V\t2\n\nSent\n"),
            ("V\t2\n\n\n\nDrafts", &[&["Drafts"]], "V\t2\n\nDrafts\n"),
            ("V\t2\n\na\t\tb\n", &[], "V\t2\n\n"),
        ];
        for &(file, want, out) in rows {
            let s = Subscriptions::parse(file);
            assert_eq!(s.version, 2, "{file:?}");
            let want: Vec<Vec<String>> = want.iter().map(|n| name(n)).collect();
            assert_eq!(names(&s), want, "{file:?}");
            assert_eq!(s.serialize(), out, "{file:?}");
        }
    }

    #[test]
    fn header_must_be_exact() {
        // Dovecot compares the whole 5-byte header; anything else is v1.
        let s = Subscriptions::parse("V\t2\nSent\n");
        assert_eq!(s.version, 1);
        assert_eq!(names(&s), vec![name(&["V\t2"]), name(&["Sent"])]);
    }

    #[test]
    fn tab_escape_round_trip() {
        for s in ["", "plain", "\x01", "\t\r\n\x01", "a\x01tb", "\x011"] {
            assert_eq!(tab_unescape(&tab_escape(s)), s, "{s:?}");
        }
        assert_eq!(tab_escape("a\tb\x01"), "a\x01tb\x011");
    }

    #[test]
    fn v1_stays_v1_and_new_is_v2() {
        let mut s = Subscriptions::parse("Sent\n");
        assert!(s.add(name(&["Entwürfe", "2024"])));
        assert_eq!(s.serialize(), "Sent\nEntw&APw-rfe.2024\n");

        let mut n = Subscriptions::new_v2();
        assert!(n.add(name(&["Entwürfe", "2024"])));
        assert_eq!(n.serialize(), "V\t2\n\nEntw&APw-rfe\t2024\n");
    }

    #[test]
    fn add_remove_contains() {
        let mut s = Subscriptions::new_v2();
        assert!(!s.contains(&name(&["Sent"])));
        assert!(s.add(name(&["Sent"])));
        assert!(!s.add(name(&["Sent"])));
        assert!(s.contains(&name(&["Sent"])));
        assert!(!s.contains(&name(&["sent"])));

        assert!(s.add(name(&["inbox"])));
        assert!(!s.add(name(&["INBOX"])));
        assert!(s.contains(&name(&["Inbox"])));
        assert_eq!(names(&s), vec![name(&["Sent"]), name(&["INBOX"])]);

        assert!(s.add(name(&["Archive", "2024"])));
        assert!(s.contains(&name(&["Archive", "2024"])));
        assert!(!s.contains(&name(&["Archive"])));
        assert!(s.contains(&name(&["Archive", "2024", ""])));

        assert!(!s.add(vec![]));
        assert!(!s.add(name(&["a", "", "b"])));
        assert!(!s.add(name(&[""])));

        assert!(s.remove(&name(&["INBOX"])));
        assert!(!s.remove(&name(&["INBOX"])));
        assert!(!s.remove(&name(&["Archive"])));
        assert!(s.remove(&name(&["Archive", "2024"])));
        assert!(!s.remove(&[]));
        assert_eq!(names(&s), vec![name(&["Sent"])]);
    }

    #[test]
    fn invalid_utf8_line_is_dropped() {
        let s = Subscriptions::parse_bytes(b"Sent\nbad\xff\nTrash\n");
        assert_eq!(names(&s), vec![name(&["Sent"]), name(&["Trash"])]);
    }

    #[test]
    fn load_missing_is_new_v2() {
        let dir = tempfile::tempdir().unwrap();
        let s = Subscriptions::load(dir.path()).unwrap();
        assert_eq!(s, Subscriptions::new_v2());
        assert_eq!(s.iter().count(), 0);
    }

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("subscriptions.lock");

        let mut s = Subscriptions::load(dir.path()).unwrap();
        s.add(name(&["INBOX"]));
        s.add(name(&["Archive", "2024"]));
        s.add(name(&["Entwürfe"]));
        s.add(name(&["台北", "日本語"]));
        s.save(dir.path()).unwrap();
        assert!(!lock.exists());
        assert_eq!(
            fs::read_to_string(dir.path().join(FILE_NAME)).unwrap(),
            "V\t2\n\nINBOX\nArchive\t2024\nEntw&APw-rfe\n&U,BTFw-\t&ZeVnLIqe-\n"
        );
        assert_eq!(Subscriptions::load(dir.path()).unwrap(), s);

        // An existing v1 file is rewritten as v1.
        fs::write(dir.path().join(FILE_NAME), "Sent\nArchive.2024\n").unwrap();
        let mut v1 = Subscriptions::load(dir.path()).unwrap();
        assert!(v1.remove(&name(&["Sent"])));
        assert!(v1.add(name(&["Entwürfe"])));
        v1.save(dir.path()).unwrap();
        assert!(!lock.exists());
        assert_eq!(
            fs::read_to_string(dir.path().join(FILE_NAME)).unwrap(),
            "Archive.2024\nEntw&APw-rfe\n"
        );
        assert_eq!(Subscriptions::load(dir.path()).unwrap(), v1);
    }
}
