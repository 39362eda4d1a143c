//! Per-user quota kept in the Maildir++ `maildirsize` file at the root of
//! the user's tree, in the format Dovecot's `maildir` quota backend (and
//! Courier) read and write, so a tree moved between servers keeps its
//! counts:
//!
//! ```text
//! 1048576S,3C      limits: bytes (S) and messages (C); either may be absent
//! 34 2             the totals found by the last recalculation
//! 17 1             one line per later change: bytes and messages, signed
//! ```
//!
//! The file is recalculated (every folder's files summed) when it is
//! missing, unreadable, when its limits differ from the configured ones,
//! when a total is negative, or when it has grown to 5120 bytes, as
//! Dovecot does. Sizes are the files' sizes (`,S=` in the name, else
//! `stat`), as Dovecot counts with `quota_vsizes = no`. Users without a
//! limit get no file at all, like Dovecot answering "No quota".

use super::dotlock::{DotLock, LockOptions};
use super::maildir;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub const FILE_NAME: &str = "maildirsize";
/// Dovecot's default quota root name (`quota = maildir:User quota`).
pub const ROOT_NAME: &str = "User quota";
/// Dovecot and Courier recalculate once the file reaches this size.
const RECALC_AT_SIZE: u64 = 5120;
/// Dovecot's `MAILDIRSIZE_... ` lock: short work, stale after a minute.
const LOCK: LockOptions = LockOptions {
    stale_after: Duration::from_secs(60),
    timeout: Duration::from_secs(10),
};

/// Serializes this process's readers and writers of any `maildirsize`, so
/// a recalculation never drops a delta another thread appends meanwhile.
static IN_PROCESS: Mutex<()> = Mutex::new(());

/// A user's limits; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub bytes: Option<u64>,
    pub messages: Option<u64>,
}

/// What the user's tree holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub messages: u64,
}

impl Limits {
    pub fn is_unlimited(&self) -> bool {
        self.bytes.is_none() && self.messages.is_none()
    }

    /// The limits for a user: the configured rules (`quota_rule`,
    /// `quota_rule2`), each replaced by the passwd file's extra field of
    /// the same name (`userdb_quota_rule=…`), as Dovecot's userdb
    /// overrides plugin settings. Rules that do not parse are logged and
    /// skipped.
    pub fn for_user(configured: &[(&str, &str)], extra: &str) -> Limits {
        let mut limits = Limits::default();
        for (key, default) in configured {
            let from_user = extra.split_ascii_whitespace().find_map(|field| {
                field
                    .strip_prefix("userdb_")
                    .and_then(|f| f.strip_prefix(*key))
                    .and_then(|f| f.strip_prefix('='))
            });
            let rule = from_user.unwrap_or(default);
            if let Err(e) = limits.apply_rule(rule) {
                log::warn!("{key} = {rule:?} ignored: {e}");
            }
        }
        limits
    }

    /// Applies one Dovecot rule: `*:storage=1G`, `*:messages=10000`,
    /// `*:bytes=1048576`, several joined by `:`, or `*:ignore`. Only the
    /// `*` (whole user) rules apply; per-folder rules are not supported.
    pub fn apply_rule(&mut self, rule: &str) -> Result<(), String> {
        let rule = rule.trim();
        if rule.is_empty() {
            return Ok(());
        }
        let (mailbox, rest) = rule
            .split_once(':')
            .ok_or_else(|| "expected MAILBOX:LIMIT=VALUE".to_string())?;
        if mailbox != "*" {
            return Err("only `*` rules (the whole user) are supported".into());
        }
        for part in rest.split(':') {
            let (key, value) = match part.split_once('=') {
                Some(kv) => kv,
                None if part.eq_ignore_ascii_case("ignore")
                    || part.eq_ignore_ascii_case("none") =>
                {
                    *self = Limits::default();
                    continue;
                }
                None => return Err(format!("{part:?} is not LIMIT=VALUE")),
            };
            match key.to_ascii_lowercase().as_str() {
                // Dovecot: storage counts in kilobytes unless a unit says.
                "storage" => self.bytes = nonzero(parse_size(value, 1024)?),
                "bytes" => self.bytes = nonzero(parse_size(value, 1)?),
                "messages" => self.messages = nonzero(parse_size(value, 1)?),
                other => return Err(format!("unknown limit {other:?}")),
            }
        }
        Ok(())
    }

    /// The first line of `maildirsize` for these limits.
    fn header(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = self.bytes {
            parts.push(format!("{b}S"));
        }
        if let Some(c) = self.messages {
            parts.push(format!("{c}C"));
        }
        parts.join(",")
    }
}

/// Dovecot treats a zero limit as no limit.
fn nonzero(n: u64) -> Option<u64> {
    (n != 0).then_some(n)
}

/// `1024`, `10k`, `1M`, `2G`, `1T`, `100B`: a number with an optional
/// unit; a bare number counts in `bare_unit`.
fn parse_size(value: &str, bare_unit: u64) -> Result<u64, String> {
    let value = value.trim();
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{value:?} is not a size"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" => bare_unit,
        "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        _ => return Err(format!("{value:?} has an unknown unit")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{value:?} is too large"))
}

/// The quota of one user's tree.
#[derive(Clone, Debug)]
pub struct Quota {
    root: PathBuf,
    pub limits: Limits,
}

/// Why a message may not be stored.
#[derive(Debug, PartialEq, Eq)]
pub struct OverQuota;

impl Quota {
    pub fn new(root: PathBuf, limits: Limits) -> Quota {
        Quota { root, limits }
    }

    /// The current usage, recalculating `maildirsize` when it cannot be
    /// trusted. None for a user without limits.
    pub fn usage(&self) -> io::Result<Option<Usage>> {
        if self.limits.is_unlimited() {
            return Ok(None);
        }
        let _guard = super::lock(&IN_PROCESS);
        self.usage_locked().map(Some)
    }

    fn usage_locked(&self) -> io::Result<Usage> {
        let path = self.root.join(FILE_NAME);
        match fs::read(&path) {
            Ok(bytes) => {
                if let Some(u) = parse_file(&bytes, &self.limits.header()) {
                    return Ok(u);
                }
            }
            Err(e) if super::nofollow::is_gone(&e) => {}
            Err(e) => return Err(e),
        }
        self.recalculate()
    }

    /// Sums every folder and writes a fresh `maildirsize` (under Dovecot's
    /// dotlock, replaced by rename so readers never see half a file).
    fn recalculate(&self) -> io::Result<Usage> {
        let path = self.root.join(FILE_NAME);
        let lock = DotLock::acquire(&path, LOCK)?;
        let usage = sum_tree(&self.root)?;
        let content = format!(
            "{}\n{} {}\n",
            self.limits.header(),
            usage.bytes,
            usage.messages
        );
        lock.replace_target(content.as_bytes())?;
        log::debug!(
            "{}: quota recalculated: {} bytes, {} messages",
            self.root.display(),
            usage.bytes,
            usage.messages
        );
        Ok(usage)
    }

    /// Whether `bytes` more in `messages` more messages still fit. Nothing
    /// is refused for a user without limits.
    pub fn check(&self, bytes: u64, messages: u64) -> io::Result<Result<(), OverQuota>> {
        let Some(usage) = self.usage()? else {
            return Ok(Ok(()));
        };
        let over_bytes = self
            .limits
            .bytes
            .is_some_and(|l| usage.bytes.saturating_add(bytes) > l);
        let over_count = self
            .limits
            .messages
            .is_some_and(|l| usage.messages.saturating_add(messages) > l);
        Ok(if over_bytes || over_count {
            Err(OverQuota)
        } else {
            Ok(())
        })
    }

    /// Records stored messages (positive) or removed ones (negative).
    pub fn record(&self, bytes: i64, messages: i64) {
        record_delta(&self.root, bytes, messages);
    }
}

/// Appends one change line to the tree's `maildirsize`, if it has one (a
/// tree without the file is summed afresh when next asked). A failure is
/// logged and the file removed, so the next reader recalculates instead
/// of trusting a wrong total.
pub fn record_delta(root: &Path, bytes: i64, messages: i64) {
    if bytes == 0 && messages == 0 {
        return;
    }
    let path = root.join(FILE_NAME);
    let _guard = super::lock(&IN_PROCESS);
    let opened = super::nofollow::options().append(true).open(&path);
    let mut file = match opened {
        Ok(f) => f,
        Err(e) if super::nofollow::is_gone(&e) => return,
        Err(e) => {
            log::warn!("{}: {e}", path.display());
            let _ = fs::remove_file(&path);
            return;
        }
    };
    // One write, so lines from other processes (O_APPEND) never interleave.
    if let Err(e) = file.write_all(format!("{bytes} {messages}\n").as_bytes()) {
        log::warn!("{}: {e}; it will be recalculated", path.display());
        let _ = fs::remove_file(&path);
    }
}

/// Makes the next reader recalculate (a change whose size is unknown).
pub fn invalidate(root: &Path) {
    let _guard = super::lock(&IN_PROCESS);
    match fs::remove_file(root.join(FILE_NAME)) {
        Ok(()) => {}
        Err(e) if super::nofollow::is_gone(&e) => {}
        Err(e) => log::warn!("{}/{FILE_NAME}: {e}", root.display()),
    }
}

/// The Maildir++ root a folder directory belongs to: folders are the
/// root's `.Name` subdirectories, INBOX is the root itself.
pub fn root_of(dir: &Path) -> &Path {
    let is_folder = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.len() > 1);
    match (is_folder, dir.parent()) {
        (true, Some(parent)) => parent,
        _ => dir,
    }
}

/// Totals from a `maildirsize` file, or None when it must be recalculated:
/// other limits than `want_header`, a line that does not parse, a negative
/// total, or a file grown to 5120 bytes.
fn parse_file(bytes: &[u8], want_header: &str) -> Option<Usage> {
    if bytes.len() as u64 >= RECALC_AT_SIZE {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    // Only whole lines count: a line still being written is skipped.
    let text = &text[..text.rfind('\n')? + 1];
    let mut lines = text.lines();
    if lines.next()? != want_header {
        return None;
    }
    let (mut total_bytes, mut total_count) = (0i64, 0i64);
    let mut any = false;
    for line in lines {
        let mut fields = line.split_ascii_whitespace();
        let b: i64 = fields.next()?.parse().ok()?;
        let c: i64 = fields.next()?.parse().ok()?;
        total_bytes = total_bytes.checked_add(b)?;
        total_count = total_count.checked_add(c)?;
        any = true;
    }
    if !any || total_bytes < 0 || total_count < 0 {
        return None;
    }
    Some(Usage {
        bytes: total_bytes as u64,
        messages: total_count as u64,
    })
}

/// Sums the files of INBOX and every Maildir++ folder (`.Name/`) in
/// `new/` and `cur/`.
fn sum_tree(root: &Path) -> io::Result<Usage> {
    let mut usage = Usage::default();
    sum_folder(root, &mut usage)?;
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with('.') || name == "." || name == ".." {
            continue;
        }
        // Symlinked folders lead out of the tree: not counted, not served.
        if entry.file_type()?.is_dir() {
            sum_folder(&entry.path(), &mut usage)?;
        }
    }
    Ok(usage)
}

fn sum_folder(dir: &Path, usage: &mut Usage) -> io::Result<()> {
    for sub in ["new", "cur"] {
        let entries = match fs::read_dir(dir.join(sub)) {
            Ok(e) => e,
            Err(e) if super::nofollow::is_gone(&e) => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let size = match maildir::parse_name(name).size {
                Some(s) => s,
                // Gone between readdir and stat: expunged meanwhile.
                None => match entry.metadata() {
                    Ok(m) if m.is_file() => m.len(),
                    _ => continue,
                },
            };
            usage.bytes += size;
            usage.messages += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_in_dovecot_syntax() {
        let mut l = Limits::default();
        l.apply_rule("*:storage=1G").unwrap();
        assert_eq!(l.bytes, Some(1 << 30));
        l.apply_rule("*:storage=2048").unwrap();
        assert_eq!(l.bytes, Some(2048 * 1024));
        l.apply_rule("*:messages=3:bytes=100").unwrap();
        assert_eq!((l.bytes, l.messages), (Some(100), Some(3)));
        l.apply_rule("*:storage=0").unwrap();
        assert_eq!(l.bytes, None);
        assert!(l.apply_rule("Trash:storage=1M").is_err());
        assert!(l.apply_rule("*:storage=1Q").is_err());
        assert!(l.apply_rule("*:storage=99999999999999999999").is_err());
    }

    #[test]
    fn user_field_replaces_the_configured_rule() {
        let conf = [
            ("quota_rule", "*:storage=1M"),
            ("quota_rule2", "*:messages=5"),
        ];
        let l = Limits::for_user(&conf, "x=y userdb_quota_rule=*:storage=2M");
        assert_eq!((l.bytes, l.messages), (Some(2 << 20), Some(5)));
        let l = Limits::for_user(&conf, "");
        assert_eq!((l.bytes, l.messages), (Some(1 << 20), Some(5)));
    }

    #[test]
    fn file_totals_and_staleness() {
        let h = "1048576S,3C";
        let ok = b"1048576S,3C\n0 0\n17 1\n17 1\n-17 -1\n";
        assert_eq!(
            parse_file(ok, h),
            Some(Usage {
                bytes: 17,
                messages: 1
            })
        );
        assert_eq!(parse_file(ok, "1S"), None, "other limits");
        assert_eq!(parse_file(b"1048576S,3C\n0 0\n-5 -1\n", h), None);
        assert_eq!(parse_file(b"1048576S,3C\n0 x\n", h), None);
        assert_eq!(parse_file(b"1048576S,3C\n", h), None);
        // A line still being written is left out.
        assert_eq!(
            parse_file(b"1048576S,3C\n4 1\n17", h).map(|u| u.bytes),
            Some(4)
        );
        let big = format!("{h}\n{}", "1 0\n".repeat(2000));
        assert_eq!(parse_file(big.as_bytes(), h), None);
    }

    #[test]
    fn folders_belong_to_their_root() {
        assert_eq!(root_of(Path::new("/m/.Sent")), Path::new("/m"));
        assert_eq!(root_of(Path::new("/m")), Path::new("/m"));
    }
}
