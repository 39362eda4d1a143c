//! Maildir file names: `<base>[,S=<size>][,W=<vsize>]:2,<flags>`.
//!
//! Owns the mapping between the info part after `:2,` and message flags
//! (D Draft, F Flagged, R Answered, S Seen, T Deleted, `a`–`z` keywords),
//! parsing of the `,S=` / `,W=` size fields, and generation of new unique
//! base names. Flag letters Roost does not know (`P` Passed, other upper-case
//! letters, anything after a second `,`) are preserved when flags change,
//! as the Maildir convention asks.
//!
//! # Why not the `maildir` crate
//!
//! The design card names it; its 0.6 release was read and left out, as its
//! `store_new`/`store_cur_with_flags` (the only part Roost could use, for
//! `roost deliver` and LMTP) lack what Roost must do there:
//! - the name gets `,S=` but no `,W=`, so every FETCH RFC822.SIZE, SEARCH
//!   LARGER and STATUS SIZE would read the file (Dovecot writes both; see
//!   the test `names_carry_the_crlf_size`);
//! - the host part is not escaped: a `/` or `:` in the host name makes a
//!   path elsewhere or a false info separator (Dovecot writes `\057`,
//!   `\072`);
//! - no fsync of `new/` or `cur/` after the rename, so an acknowledged
//!   delivery can vanish in a crash;
//! - files are opened following symlinks and with the umask's mode, where
//!   Roost opens with `O_NOFOLLOW` and 0600 (`nofollow`);
//! - the message must be in memory, where LMTP streams it with a limit;
//! - it pulls in a second, older `mailparse` (0.15) next to Roost's.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The info separator; fixed by the Maildir convention on Unix.
pub(crate) const INFO_SEP: char = ':';

/// System flags as bits.
pub(crate) mod flag {
    pub(crate) const SEEN: u8 = 1;
    pub(crate) const ANSWERED: u8 = 2;
    pub(crate) const FLAGGED: u8 = 4;
    pub(crate) const DELETED: u8 = 8;
    pub(crate) const DRAFT: u8 = 16;
}

/// A message's flags as stored on disk: system flags and keyword letters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Flags {
    /// Bits from `flag::*`.
    pub(crate) system: u8,
    /// Bit `i` set = keyword letter `'a' + i` (see `dovecot-keywords`).
    pub(crate) keywords: u32,
}

impl Flags {
    pub(crate) fn has(&self, bit: u8) -> bool {
        self.system & bit != 0
    }

    pub(crate) fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.system |= bit;
        } else {
            self.system &= !bit;
        }
    }

    pub(crate) fn has_keyword(&self, idx: u8) -> bool {
        idx < 26 && self.keywords & (1 << idx) != 0
    }

    pub(crate) fn set_keyword(&mut self, idx: u8, on: bool) {
        if idx < 26 {
            if on {
                self.keywords |= 1 << idx;
            } else {
                self.keywords &= !(1 << idx);
            }
        }
    }
}

/// Maildir letters of the system flags, in ASCII order.
const SYSTEM_LETTERS: [(char, u8); 5] = [
    ('D', flag::DRAFT),
    ('F', flag::FLAGGED),
    ('R', flag::ANSWERED),
    ('S', flag::SEEN),
    ('T', flag::DELETED),
];

/// The parts of a Maildir file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParsedName<'a> {
    /// Everything before the first `:` (the part `dovecot-uidlist` keys on).
    pub(crate) base: &'a str,
    /// `,S=`: the file's size.
    pub(crate) size: Option<u64>,
    /// `,W=`: the size with CRLF line endings (RFC822.SIZE).
    pub(crate) vsize: Option<u64>,
    pub(crate) flags: Flags,
}

/// Parses a file name from `cur/` or `new/`.
pub(crate) fn parse_name(name: &str) -> ParsedName<'_> {
    let (base, info) = match name.split_once(INFO_SEP) {
        Some((b, i)) => (b, Some(i)),
        None => (name, None),
    };
    let mut flags = Flags::default();
    if let Some(letters) = info.and_then(|i| i.strip_prefix("2,")) {
        // A second ',' starts another flag set we do not interpret.
        let letters = letters.split(',').next().unwrap_or("");
        for c in letters.chars() {
            if let Some((_, bit)) = SYSTEM_LETTERS.iter().find(|(l, _)| *l == c) {
                flags.system |= bit;
            } else if c.is_ascii_lowercase() {
                flags.set_keyword(c as u8 - b'a', true);
            }
        }
    }
    ParsedName {
        base,
        size: size_field(base, 'S'),
        vsize: size_field(base, 'W'),
        flags,
    }
}

/// Reads `,<key>=<digits>` from the base name (terminated by `,` or end).
fn size_field(base: &str, key: char) -> Option<u64> {
    let mut fields = base.split(',');
    fields.next();
    fields.find_map(|f| {
        let mut chars = f.chars();
        (chars.next() == Some(key) && chars.next() == Some('='))
            .then(|| f[2..].parse().ok())
            .flatten()
    })
}

/// The file name with its flags replaced by `flags`, keeping the base and
/// any flag letters and extra info we do not interpret.
pub(crate) fn with_flags(name: &str, flags: Flags) -> String {
    let (base, info) = match name.split_once(INFO_SEP) {
        Some((b, i)) => (b, i),
        None => (name, ""),
    };
    let (old_letters, rest) = match info.strip_prefix("2,") {
        Some(after) => match after.split_once(',') {
            Some((letters, rest)) => (letters, Some(rest)),
            None => (after, None),
        },
        None => ("", None),
    };
    let mut letters: Vec<char> = old_letters
        .chars()
        .filter(|c| !c.is_ascii_lowercase() && !SYSTEM_LETTERS.iter().any(|(l, _)| l == c))
        .collect();
    for (l, bit) in SYSTEM_LETTERS {
        if flags.has(bit) {
            letters.push(l);
        }
    }
    for i in 0..26u8 {
        if flags.has_keyword(i) {
            letters.push((b'a' + i) as char);
        }
    }
    // Maildir: "Flags must be stored in ASCII order".
    letters.sort_unstable();
    letters.dedup();
    let mut out = String::with_capacity(base.len() + 4 + letters.len());
    out.push_str(base);
    out.push(INFO_SEP);
    out.push_str("2,");
    out.extend(letters);
    if let Some(rest) = rest {
        out.push(',');
        out.push_str(rest);
    }
    out
}

/// A new unique base name: `<secs>.M<usecs>P<pid>Q<n>.<host>`, the
/// Maildir convention (time, then process-unique parts, then the host).
pub(crate) fn new_base(host: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        safe_host(host)
    )
}

/// The host part of a base name: `/` and `:` would break the name, and `,`
/// would be read as a field separator.
fn safe_host(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for c in host.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            ',' => out.push_str("\\054"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The name a delivered message gets in `cur/`.
pub(crate) fn cur_name(base: &str, size: u64, vsize: u64, flags: Flags) -> String {
    with_flags(&format!("{base},S={size},W={vsize}"), flags)
}

/// RFC 8474 EMAILID of a message file: "M" and a hash of the unique part
/// of its base name (up to the first `,`). COPY and MOVE keep that part
/// (as Dovecot's hard-link copy keeps the whole name), so the copy has the
/// same EMAILID, and it never changes with the flags.
pub(crate) fn email_id(file: &str) -> String {
    let unique = file
        .split(INFO_SEP)
        .next()
        .unwrap_or(file)
        .split(',')
        .next()
        .unwrap_or(file);
    object_id('M', unique.as_bytes())
}

/// An RFC 8474 object id: `prefix` and 24 hex digits of a SHA-256 of
/// `key` (EMAILID's `M`, THREADID's `T`).
pub(crate) fn object_id(prefix: char, key: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key);
    let mut id = String::with_capacity(25);
    id.push(prefix);
    for b in &digest[..12] {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The base name a COPY or MOVE gives a message in another mailbox: the
/// source's own, so its EMAILID stays; where `taken` says that name is in
/// use there (a second copy into one mailbox), the same unique part with
/// an `,R=<n>` field, which keeps the EMAILID too.
pub(crate) fn copy_base(source_file: &str, taken: &dyn Fn(&str) -> bool) -> Option<String> {
    let base = source_file.split(INFO_SEP).next().unwrap_or(source_file);
    if base.is_empty() || base.contains('/') {
        return None;
    }
    if !taken(base) {
        return Some(base.to_string());
    }
    let (unique, fields) = match base.split_once(',') {
        Some((u, f)) => (u, format!(",{f}")),
        None => (base, String::new()),
    };
    // Drop an earlier R= so copies of copies do not grow the name.
    let fields: String = fields
        .split(',')
        .filter(|f| !f.is_empty() && !f.starts_with("R="))
        .map(|f| format!(",{f}"))
        .collect();
    static COPIES: AtomicU32 = AtomicU32::new(0);
    (0..100).find_map(|_| {
        let n = COPIES.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{unique},R={}.{}P{}Q{n}{fields}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id()
        );
        (!taken(&name)).then_some(name)
    })
}

/// RFC 8514 save date of a message file: its ctime, as Dovecot takes it
/// for Maildir. Linking (COPY) or renaming (MOVE) a file into a mailbox
/// sets it, so a copy gets a new save date.
pub(crate) fn save_date(meta: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    meta.ctime()
}

/// RFC822.SIZE of raw message bytes: LF counts as CRLF where it is not
/// already preceded by CR.
pub fn crlf_size(bytes: &[u8]) -> u64 {
    let mut size = bytes.len() as u64;
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            size += 1;
        }
        prev = b;
    }
    size
}

/// Sort key for assigning UIDs to new files in a stable, Dovecot-like
/// order: the leading seconds, then the microseconds after `.M`, then the
/// whole name.
pub(crate) fn delivery_order(name: &str) -> (u64, u64, &str) {
    let secs = name
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let usecs = name
        .split('.')
        .nth(1)
        .and_then(|p| p.strip_prefix('M'))
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    (secs, usecs, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(system: u8, keywords: u32) -> Flags {
        Flags { system, keywords }
    }

    #[test]
    fn parses_names() {
        let rows: &[(&str, &str, Option<u64>, Option<u64>, Flags)] = &[
            (
                "1276528487.M364837P9451.kurkku,S=1355,W=1394:2,",
                "1276528487.M364837P9451.kurkku,S=1355,W=1394",
                Some(1355),
                Some(1394),
                f(0, 0),
            ),
            (
                "1276533073.M242911P3632.kurkku:2,F",
                "1276533073.M242911P3632.kurkku",
                None,
                None,
                f(flag::FLAGGED, 0),
            ),
            ("x:2,DFRST", "x", None, None, f(31, 0)),
            ("x:2,Sad", "x", None, None, f(flag::SEEN, 0b1001)),
            ("x:2,PS", "x", None, None, f(flag::SEEN, 0)),
            ("x:2,S,extra", "x", None, None, f(flag::SEEN, 0)),
            ("x:1,S", "x", None, None, f(0, 0)),
            ("newfile", "newfile", None, None, f(0, 0)),
            ("y,S=abc,W=12", "y,S=abc,W=12", None, Some(12), f(0, 0)),
        ];
        for (name, base, size, vsize, flags) in rows {
            let p = parse_name(name);
            assert_eq!(
                (p.base, p.size, p.vsize, p.flags),
                (*base, *size, *vsize, *flags),
                "{name}"
            );
        }
    }

    #[test]
    fn rewrites_flags_keeping_unknown_parts() {
        let rows: &[(&str, Flags, &str)] = &[
            ("x", f(flag::SEEN, 0), "x:2,S"),
            ("x:2,", f(flag::SEEN | flag::FLAGGED, 0), "x:2,FS"),
            ("x:2,PS", f(flag::ANSWERED, 0), "x:2,PR"),
            ("x:2,Sb", f(flag::SEEN, 0b101), "x:2,Sac"),
            ("x:2,S,keep", f(0, 0), "x:2,,keep"),
            (
                "x,S=5,W=6:2,T",
                f(flag::DELETED | flag::DRAFT, 0),
                "x,S=5,W=6:2,DT",
            ),
        ];
        for (name, flags, want) in rows {
            assert_eq!(with_flags(name, *flags), *want, "{name}");
            assert_eq!(parse_name(&with_flags(name, *flags)).flags, *flags);
        }
    }

    #[test]
    fn names_carry_the_crlf_size() {
        // A name as the maildir crate writes it tells the size on disk
        // only; RFC822.SIZE of a bare-LF message then needs the file.
        let crate_style = parse_name("1463941010.#0M5P7V2049I7.host,S=9:2,S");
        assert_eq!((crate_style.size, crate_style.vsize), (Some(9), None));
        let body = b"a\nb\nc\n";
        let ours = cur_name("1.M2P3.h", body.len() as u64, crlf_size(body), f(0, 0));
        assert_eq!(
            (parse_name(&ours).size, parse_name(&ours).vsize),
            (Some(6), Some(9))
        );
    }

    #[test]
    fn sizes_and_names() {
        assert_eq!(crlf_size(b"a\nb\r\nc\n"), 9);
        assert_eq!(crlf_size(b""), 0);
        let b = new_base("mail.example.org");
        assert!(b.ends_with(".mail.example.org"), "{b}");
        assert_ne!(new_base("h"), new_base("h"));
        assert!(new_base("a/b:c,d").ends_with(".a\\057b\\072c\\054d"));
        assert_eq!(
            cur_name("1.M2P3.h", 10, 12, f(flag::SEEN, 0)),
            "1.M2P3.h,S=10,W=12:2,S"
        );
        let mut names = vec!["20.M5P1.h", "3.M900P1.h", "20.M40P1.h", "junk"];
        names.sort_by_key(|n| delivery_order(n));
        assert_eq!(names, vec!["3.M900P1.h", "20.M5P1.h", "20.M40P1.h", "junk"]);
    }
}
