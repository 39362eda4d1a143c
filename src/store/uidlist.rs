//! The `dovecot-uidlist` file: Dovecot's authoritative UID ↔ Maildir file
//! mapping, read and written exactly as Dovecot (≥ 1.1) does so the two can
//! take turns on one tree.
//!
//! This module owns the file format (parsing versions 1 and 3, writing
//! version 3) and the two ways the file may change on disk: an atomic
//! rewrite through `dovecot-uidlist.tmp`, and appending records at EOF.
//! Locking is the caller's business (`store::dotlock`, `UIDLIST_LOCK`);
//! reading needs no lock.

use std::fmt;
use std::fs::{self, File, Permissions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::store::dotlock::sync_dir;

/// The file's name inside the mailbox's control directory.
pub(crate) const FILE_NAME: &str = "dovecot-uidlist";

/// Where a rewrite is staged before being renamed over `FILE_NAME`.
const TMP_NAME: &str = "dovecot-uidlist.tmp";

/// One message: its UID, its raw extension fields and its base file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UidRecord {
    pub(crate) uid: u32,
    /// Space-separated `[A-Z]<value>` fields, kept verbatim (e.g. `W2481`).
    pub(crate) ext: String,
    /// The Maildir file name up to its first ':' (no `:2,FLAGS` info).
    pub(crate) base: String,
}

/// Roost's record field for the RFC 8514 save date, `T<unix seconds>`.
/// Dovecot keeps the save date in its index cache, which is not ours to
/// write; it keeps any `[A-Z]` record field it does not know and writes it
/// back on a rewrite, so the date survives Dovecot taking turns on a tree.
/// (S, W, P, O and G are Dovecot's own.)
pub(crate) const SAVE_DATE_KEY: char = 'T';

impl UidRecord {
    /// The value of extension field `key`, e.g. 'W' → virtual size.
    #[cfg(test)]
    pub(crate) fn ext_value(&self, key: char) -> Option<&str> {
        self.ext.split(' ').find_map(|f| f.strip_prefix(key))
    }

    /// Splits the extension fields into the save date (`T`) and the rest,
    /// which are kept verbatim for the next rewrite. Without allocating:
    /// a cold SELECT does this for every record of the file.
    pub(crate) fn take_save_date(&mut self) -> Option<i64> {
        let mut date = None;
        // Bounded: each pass removes one field.
        for _ in 0..self.ext.len() {
            let start = if self.ext.starts_with(SAVE_DATE_KEY) {
                0
            } else {
                match self.ext.find(" T") {
                    Some(i) => i + 1,
                    None => break,
                }
            };
            let end = self.ext[start..]
                .find(' ')
                .map_or(self.ext.len(), |i| start + i);
            date = self.ext[start + 1..end].parse().ok().or(date);
            // The field goes with one of the spaces around it.
            let cut = if end < self.ext.len() {
                start..end + 1
            } else {
                start.saturating_sub(1)..end
            };
            self.ext.replace_range(cut, "");
        }
        date
    }
}

/// Extension fields `other` followed by the save date, if known.
pub(crate) fn with_save_date(other: &str, saved: Option<i64>) -> String {
    match saved {
        Some(s) if other.is_empty() => format!("{SAVE_DATE_KEY}{s}"),
        Some(s) => format!("{other} {SAVE_DATE_KEY}{s}"),
        None => other.to_string(),
    }
}

/// A parsed `dovecot-uidlist`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UidList {
    pub uidvalidity: u32,
    /// The effective next UID: the header's N, or one past the last record
    /// when records were appended beyond it.
    pub(crate) next_uid: u32,
    /// The mailbox GUID (32 hex chars) as found in the header.
    pub(crate) guid: Option<String>,
    /// Header fields we don't interpret, verbatim and in order (e.g. `P…`).
    pub(crate) extra_header: Vec<String>,
    /// Records in ascending UID order.
    pub(crate) records: Vec<UidRecord>,
    /// The version read (1 or 3); `serialize` always writes 3.
    pub(crate) version: u8,
    /// Dovecot would recreate this file: a duplicate file name was dropped,
    /// an invalid extension field removed, or the file is version 1 or has
    /// no GUID.
    pub(crate) needs_rewrite: bool,
}

/// A corrupt `dovecot-uidlist`: Dovecot would discard the file.
#[derive(Debug)]
pub struct UidListError {
    /// 1-based line number (the header is line 1).
    pub(crate) line: usize,
    pub(crate) message: String,
}

impl fmt::Display for UidListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dovecot-uidlist line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for UidListError {}

fn corrupt(line: usize, message: impl Into<String>) -> UidListError {
    UidListError {
        line,
        message: message.into(),
    }
}

/// Parses the file's bytes. `Ok(None)` means there is no usable file yet
/// (empty, or not even a complete header line).
pub fn parse(bytes: &[u8]) -> Result<Option<UidList>, UidListError> {
    // Anything after the last '\n' is another process's append in flight.
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(end) => &bytes[..end],
        None => return Ok(None),
    };
    let mut lines = complete.split(|&b| b == b'\n');
    let header = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let mut list = parse_header(&header)?;
    let header_next_uid = list.next_uid;

    let mut last_uid = 0u32;
    // base name → uid, to spot a file listed twice.
    let mut seen: super::name_hash::NameMap<u32> = Default::default();
    for (idx, raw) in lines.enumerate() {
        let lineno = idx + 2;
        let line = String::from_utf8_lossy(raw);
        let rec = parse_record(&line, lineno, &mut list, last_uid, header_next_uid)?;
        last_uid = rec.uid;
        if let Some(old_uid) = seen.insert(rec.base.as_str().into(), rec.uid) {
            // Happens when an expunged file is restored; Dovecot keeps the
            // newer UID and recreates the file.
            log::warn!(
                "dovecot-uidlist line {lineno}: duplicate file entry {} (uid {old_uid} -> {})",
                rec.base,
                rec.uid
            );
            if let Ok(pos) = list.records.binary_search_by_key(&old_uid, |r| r.uid) {
                list.records.remove(pos);
            }
            list.needs_rewrite = true;
        }
        list.records.push(rec);
    }

    // Dovecot appends records without touching the header's N.
    if last_uid >= list.next_uid {
        list.next_uid = last_uid + 1;
    }
    if list.version != 3 || list.guid.is_none() {
        list.needs_rewrite = true;
    }
    Ok(Some(list))
}

fn parse_header(line: &str) -> Result<UidList, UidListError> {
    let b = line.as_bytes();
    if b.len() < 2 || !b[0].is_ascii_digit() || b[1] != b' ' {
        return Err(corrupt(1, "corrupted header (invalid version number)"));
    }
    let version = b[0] - b'0';
    let rest = &line[2..];
    let mut list = UidList {
        uidvalidity: 0,
        next_uid: 0,
        guid: None,
        extra_header: Vec::new(),
        records: Vec::new(),
        version,
        needs_rewrite: false,
    };
    match version {
        1 => {
            let mut nums = rest.split_ascii_whitespace().map(|n| n.parse::<u32>());
            match (nums.next(), nums.next()) {
                (Some(Ok(v)), Some(Ok(n))) => {
                    list.uidvalidity = v;
                    list.next_uid = n;
                }
                _ => return Err(corrupt(1, "corrupted header (version 1)")),
            }
        }
        3 => {
            for field in rest.split(' ').filter(|f| !f.is_empty()) {
                let mut chars = field.chars();
                let key = chars.next().unwrap_or(' ');
                let value = chars.as_str();
                match key {
                    // Unparsable numbers count as 0, which is rejected below.
                    'V' => list.uidvalidity = value.parse().unwrap_or(0),
                    'N' => list.next_uid = value.parse().unwrap_or(0),
                    'G' => {
                        if value.len() != 32 || !value.bytes().all(|c| c.is_ascii_hexdigit()) {
                            return Err(corrupt(1, format!("invalid mailbox GUID: {value}")));
                        }
                        list.guid = Some(value.to_string());
                    }
                    _ => list.extra_header.push(field.to_string()),
                }
            }
        }
        v => return Err(corrupt(1, format!("unsupported version {v}"))),
    }
    if list.uidvalidity == 0 || list.next_uid == 0 {
        return Err(corrupt(
            1,
            format!(
                "broken header (uidvalidity = {}, next_uid = {})",
                list.uidvalidity, list.next_uid
            ),
        ));
    }
    Ok(list)
}

fn parse_record(
    line: &str,
    lineno: usize,
    list: &mut UidList,
    last_uid: u32,
    header_next_uid: u32,
) -> Result<UidRecord, UidListError> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || line.as_bytes().get(digits) != Some(&b' ') {
        return Err(corrupt(lineno, format!("invalid data: {line}")));
    }
    let uid: u32 = match line[..digits].parse() {
        Ok(0) => return Err(corrupt(lineno, format!("invalid data: {line}"))),
        Ok(uid) if uid < u32::MAX => uid,
        _ => {
            return Err(corrupt(
                lineno,
                format!("UID too high: {}", &line[..digits]),
            ))
        }
    };
    if uid <= last_uid {
        return Err(corrupt(
            lineno,
            format!("UIDs not ordered ({uid} after {last_uid})"),
        ));
    }
    if list.version == 1 && uid >= header_next_uid {
        return Err(corrupt(
            lineno,
            format!("UID larger than next_uid ({uid} >= {header_next_uid})"),
        ));
    }

    let rest = line[digits..].trim_start_matches(' ');
    let (ext, filename) = if list.version == 3 {
        split_v3_fields(rest, lineno, &mut list.needs_rewrite)
    } else {
        (String::new(), rest)
    };
    if filename.contains('/') {
        return Err(corrupt(lineno, format!("broken filename: {filename}")));
    }
    let base = filename.split(':').next().unwrap_or_default();
    if base.is_empty() {
        return Err(corrupt(lineno, format!("missing filename: {line}")));
    }
    Ok(UidRecord {
        uid,
        ext,
        base: base.to_string(),
    })
}

/// Splits a v3 record's remainder into (extension fields, file name).
/// Normally the name follows ` :`; a name after a plain space is tolerated,
/// in which case it is the last field. Invalid extension fields are dropped
/// and flag a rewrite, as in Dovecot.
fn split_v3_fields<'a>(
    rest: &'a str,
    lineno: usize,
    needs_rewrite: &mut bool,
) -> (String, &'a str) {
    let colon_form = rest.starts_with(':') || rest.contains(" :");
    let mut fields: Vec<&str> = Vec::new();
    let mut s = rest;
    loop {
        if colon_form {
            if let Some(name) = s.strip_prefix(':') {
                return (fields.join(" "), name);
            }
        }
        let (field, after) = match s.find(' ') {
            Some(i) => (&s[..i], s[i..].trim_start_matches(' ')),
            None => (s, ""),
        };
        if after.is_empty() && (!colon_form || field.is_empty()) {
            // No ':' marker: the last field is the name (maybe empty).
            return (fields.join(" "), field);
        }
        if field.starts_with(|c: char| c.is_ascii_uppercase()) {
            fields.push(field);
        } else {
            log::warn!("dovecot-uidlist line {lineno}: invalid extension field, removing: {field}");
            *needs_rewrite = true;
        }
        s = after;
    }
}

/// The whole file in version 3, header N never below the last UID + 1.
/// `G` is written only when `list.guid` is set; the caller picks the GUID.
pub(crate) fn serialize(list: &UidList) -> Vec<u8> {
    let after_last = list.records.last().map_or(0, |r| r.uid.saturating_add(1));
    let next_uid = list.next_uid.max(after_last);
    let mut out = format!("3 V{} N{}", list.uidvalidity, next_uid);
    if let Some(guid) = &list.guid {
        out.push_str(" G");
        out.push_str(guid);
    }
    for field in list.extra_header.iter().filter(|f| !f.is_empty()) {
        out.push(' ');
        out.push_str(field);
    }
    out.push('\n');
    for rec in &list.records {
        out.push_str(&record_line(rec));
    }
    out.into_bytes()
}

/// One record line: `<uid>[ <ext>] :<base>\n`. Like Dovecot, anything from
/// the first ':' of the name on is not written.
pub(crate) fn record_line(rec: &UidRecord) -> String {
    let base = rec.base.split(':').next().unwrap_or_default();
    debug_assert!(!base.contains(['\n', '/']), "bad base name {base:?}");
    let ext = rec.ext.trim();
    if ext.is_empty() {
        format!("{} :{}\n", rec.uid, base)
    } else {
        format!("{} {} :{}\n", rec.uid, ext, base)
    }
}

/// A fresh mailbox GUID: 32 lowercase hex chars from the kernel, or from
/// the clock, pid and a counter through randomly keyed hashes if that fails.
pub(crate) fn new_guid() -> String {
    let mut bytes = [0u8; 16];
    if crate::random::fill(&mut bytes).is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (half, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_u32(std::process::id());
            h.write_u64(count);
            h.write_usize(half);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Rewrites `<dir>/dovecot-uidlist` atomically: writes
/// `dovecot-uidlist.tmp` (keeping the old file's mode, else 0600),
/// fdatasyncs it, makes its mtime later than the old file's, renames it
/// over and fsyncs the directory. The caller holds the dotlock.
pub(crate) fn write_atomic(dir: &Path, list: &UidList) -> io::Result<()> {
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(TMP_NAME);
    let old = match fs::symlink_metadata(&path).map(|m| (!m.is_symlink()).then_some(m)) {
        Ok(Some(meta)) => Some(meta),
        Ok(None) => None,
        Err(e) if super::nofollow::is_gone(&e) => None,
        Err(e) => return Err(e),
    };
    let mode = old.as_ref().map_or(0o600, |m| m.mode() & 0o777);
    let old_mtime = old.and_then(|m| m.modified().ok());
    let data = serialize(list);

    let staged = (|| -> io::Result<()> {
        let mut file = super::nofollow::recreate(&tmp, mode)?;
        // The umask must not narrow what the old file allowed.
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(&data)?;
        file.sync_data()?;
        if let Some(old_mtime) = old_mtime {
            ensure_later_mtime(&file, old_mtime)?;
        }
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = staged {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Dovecot notices changes by mtime, so a rewrite within the same clock
/// tick (or after a clock step back) must still look newer.
fn ensure_later_mtime(file: &File, old: SystemTime) -> io::Result<()> {
    if file.metadata()?.modified()? > old {
        return Ok(());
    }
    file.set_modified(old + Duration::from_nanos(1))?;
    // Coarse-timestamp filesystems round 1 ns away; use a whole second.
    if file.metadata()?.modified()? <= old {
        file.set_modified(old + Duration::from_secs(1))?;
    }
    Ok(())
}

/// Appends `records` at EOF in one write and fdatasyncs, as Dovecot does
/// for new messages; the header is left alone. The caller holds the
/// dotlock, so a partial last line can only be a crashed writer's and is
/// cut off first (appending to it would corrupt both lines).
pub(crate) fn append(dir: &Path, records: &[UidRecord]) -> io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let path = dir.join(FILE_NAME);
    // Under the lock nobody replaces the file, but a handle cached from
    // before another host's rewrite may be stale: look it up again.
    let mut file = super::nofollow::retry_stale(|| {
        super::nofollow::options()
            .read(true)
            .append(true)
            .open(&path)
    })?;
    drop_partial_tail(&file, &path)?;
    let data: String = records.iter().map(record_line).collect();
    file.write_all(data.as_bytes())?;
    file.sync_data()
}

/// Truncates the file after its last '\n'. A file without any complete
/// line has no header, so records can't be appended to it.
fn drop_partial_tail(file: &File, path: &Path) -> io::Result<()> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        // Bounded by the 4096-byte buffer, so the cast can't truncate.
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(pos) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + pos as u64 + 1;
            if keep < len {
                log::warn!(
                    "{}: dropping {} bytes of an unfinished line",
                    path.display(),
                    len - keep
                );
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} has no header line; rewrite it instead", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_save_date_field_is_taken_out_and_the_rest_kept() {
        let cases = [
            ("T123", Some(123), ""),
            ("W42 T123", Some(123), "W42"),
            ("T123 W42", Some(123), "W42"),
            ("W42 T12 P9", Some(12), "W42 P9"),
            ("Tx W1", None, "W1"),
            ("T1 T2", Some(2), ""),
            ("W42 P9", None, "W42 P9"),
            ("", None, ""),
        ];
        for (ext, date, rest) in cases {
            let mut rec = UidRecord {
                uid: 1,
                ext: ext.to_string(),
                base: "b".into(),
            };
            assert_eq!(rec.take_save_date(), date, "{ext:?}");
            assert_eq!(rec.ext, rest, "{ext:?}");
        }
    }

    const DOC_GUID: &str = "3085f01b7f11094c501100008c4a11c1";

    fn rec(uid: u32, ext: &str, base: &str) -> UidRecord {
        UidRecord {
            uid,
            ext: ext.to_string(),
            base: base.to_string(),
        }
    }

    fn list(next_uid: u32, records: Vec<UidRecord>) -> UidList {
        UidList {
            uidvalidity: 1275660208,
            next_uid,
            guid: Some(DOC_GUID.to_string()),
            extra_header: Vec::new(),
            records,
            version: 3,
            needs_rewrite: false,
        }
    }

    fn parse_ok(input: &str) -> UidList {
        match parse(input.as_bytes()) {
            Ok(Some(l)) => l,
            other => panic!("{input:?} gave {other:?}"),
        }
    }

    #[test]
    fn valid_files() {
        let docs = format!(
            "3 V1275660208 N25022 G{DOC_GUID}\n\
             25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n\
             25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n"
        );
        let cases: Vec<(String, UidList)> = vec![
            (
                docs,
                list(
                    25022,
                    vec![
                        rec(25006, "", "1276528487.M364837P9451.kurkku,S=1355,W=1394"),
                        rec(25017, "W2481", "1276533073.M242911P3632.kurkku"),
                    ],
                ),
            ),
            // Fresh mailbox, no records.
            (format!("3 V1275660208 N1 G{DOC_GUID}\n"), list(1, vec![])),
            // Several ext fields; extra spaces between them.
            (
                format!("3 V1275660208 N10 G{DOC_GUID}\n9 S100  W120 :a.host\n"),
                list(10, vec![rec(9, "S100 W120", "a.host")]),
            ),
            // Name after a plain space (no ':' marker) is tolerated.
            (
                format!("3 V1275660208 N10 G{DOC_GUID}\n5 W12 5.M1.host:2,S\n6 6.M2.host\n"),
                list(
                    10,
                    vec![rec(5, "W12", "5.M1.host"), rec(6, "", "6.M2.host")],
                ),
            ),
            // Records appended beyond N push next_uid past the last one.
            (
                format!("3 V1275660208 N3 G{DOC_GUID}\n1 :a\n2 :b\n3 :c\n7 :d\n"),
                list(
                    8,
                    vec![
                        rec(1, "", "a"),
                        rec(2, "", "b"),
                        rec(3, "", "c"),
                        rec(7, "", "d"),
                    ],
                ),
            ),
            // A trailing partial line is someone's append in progress.
            (
                format!("3 V1275660208 N30 G{DOC_GUID}\n1 :a\n40 W1 :par"),
                list(30, vec![rec(1, "", "a")]),
            ),
            (
                format!("3 V1275660208 N30 G{DOC_GUID}\n1 :a\n/garbage"),
                list(30, vec![rec(1, "", "a")]),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_ok(&input), want, "{input:?}");
        }
    }

    #[test]
    fn ext_value_lookup() {
        let r = rec(1, "S100 W2481 Gabc", "x");
        assert_eq!(r.ext_value('W'), Some("2481"));
        assert_eq!(r.ext_value('S'), Some("100"));
        assert_eq!(r.ext_value('G'), Some("abc"));
        assert_eq!(r.ext_value('P'), None);
        assert_eq!(rec(1, "", "x").ext_value('W'), None);
    }

    #[test]
    fn version_1_files() {
        let l = parse_ok("1 1234567890 10\n3 1276528487.M1P1.host:2,S\n7 1276528488.M2P2.host\n");
        assert_eq!(l.version, 1);
        assert_eq!(l.uidvalidity, 1234567890);
        assert_eq!(l.next_uid, 10);
        assert_eq!(l.guid, None);
        assert!(l.needs_rewrite, "v1 is upgraded on the next write");
        assert_eq!(
            l.records,
            vec![
                rec(3, "", "1276528487.M1P1.host"),
                rec(7, "", "1276528488.M2P2.host")
            ]
        );
        // A v1 file has no ext fields, so an uppercase name is just a name.
        let l = parse_ok("1 5 10\n3 W2481\n");
        assert_eq!(l.records, vec![rec(3, "", "W2481")]);
    }

    #[test]
    fn unknown_header_keys_round_trip() {
        let input = format!("3 V7 N2 G{DOC_GUID} P%u Xfoo\n1 :a.host\n");
        let l = parse_ok(&input);
        assert_eq!(l.extra_header, vec!["P%u".to_string(), "Xfoo".to_string()]);
        assert!(!l.needs_rewrite);
        assert_eq!(String::from_utf8(serialize(&l)).unwrap(), input);
        // Keys before V/N/G are written back after them, in order.
        let l = parse_ok(&format!("3 Zz V7 N2 Yy G{DOC_GUID}\n"));
        assert_eq!(
            String::from_utf8(serialize(&l)).unwrap(),
            format!("3 V7 N2 G{DOC_GUID} Zz Yy\n")
        );
    }

    #[test]
    fn missing_guid_asks_for_rewrite() {
        let l = parse_ok("3 V1655390361 N1\n");
        assert_eq!(l.guid, None);
        assert!(l.needs_rewrite);
        assert_eq!(serialize(&l), b"3 V1655390361 N1\n");
    }

    #[test]
    fn invalid_ext_field_is_dropped() {
        let l = parse_ok(&format!("3 V1 N10 G{DOC_GUID}\n9 s100 W120 :name\n"));
        assert_eq!(l.records, vec![rec(9, "W120", "name")]);
        assert!(l.needs_rewrite);
    }

    #[test]
    fn duplicate_filename_keeps_later_uid() {
        let l = parse_ok(&format!(
            "3 V1 N10 G{DOC_GUID}\n1 :a\n2 W5 :b\n3 :a:2,S\n4 :c\n"
        ));
        assert_eq!(
            l.records,
            vec![rec(2, "W5", "b"), rec(3, "", "a"), rec(4, "", "c")]
        );
        assert!(l.needs_rewrite);
        assert_eq!(l.next_uid, 10);
    }

    #[test]
    fn missing_files() {
        for input in ["", "3 V1 N1", "3 V1 N1 G3085f01b7f"] {
            assert_eq!(parse(input.as_bytes()).unwrap(), None, "{input:?}");
        }
    }

    #[test]
    fn corrupt_files() {
        let g = DOC_GUID;
        let cases: Vec<(String, usize, &str)> = vec![
            ("\n".into(), 1, "invalid version"),
            ("2 V1 N1\n".into(), 1, "unsupported version 2"),
            ("4 V1 N1\n".into(), 1, "unsupported version 4"),
            ("x V1 N1\n".into(), 1, "invalid version"),
            ("3V1 N1\n".into(), 1, "invalid version"),
            ("33 V1 N1\n".into(), 1, "invalid version"),
            (format!("3 V0 N5 G{g}\n"), 1, "uidvalidity = 0"),
            (format!("3 V5 N0 G{g}\n"), 1, "next_uid = 0"),
            (format!("3 V5 G{g}\n"), 1, "next_uid = 0"),
            (format!("3 Vx N5 G{g}\n"), 1, "uidvalidity = 0"),
            ("3 V5 N5 Gnothex\n".into(), 1, "GUID"),
            (format!("3 V5 N5 G{g}00\n"), 1, "GUID"),
            ("1 5\n".into(), 1, "version 1"),
            ("1 0 5\n".into(), 1, "uidvalidity = 0"),
            (format!("3 V1 N10 G{g}\n5 :a\n3 :b\n"), 3, "not ordered"),
            (format!("3 V1 N10 G{g}\n5 :a\n5 :b\n"), 3, "not ordered"),
            (format!("3 V1 N10 G{g}\n5 :dir/a\n"), 2, "broken filename"),
            ("1 1 10\n5 cur/a\n".into(), 2, "broken filename"),
            (format!("3 V1 N10 G{g}\nabc :a\n"), 2, "invalid data"),
            (format!("3 V1 N10 G{g}\n12x :a\n"), 2, "invalid data"),
            (format!("3 V1 N10 G{g}\n0 :a\n"), 2, "invalid data"),
            (format!("3 V1 N10 G{g}\n-1 :a\n"), 2, "invalid data"),
            (format!("3 V1 N10 G{g}\n 1 :a\n"), 2, "invalid data"),
            (format!("3 V1 N10 G{g}\n7\n"), 2, "invalid data"),
            (format!("3 V1 N10 G{g}\n4294967295 :a\n"), 2, "too high"),
            (format!("3 V1 N10 G{g}\n99999999999 :a\n"), 2, "too high"),
            (format!("3 V1 N10 G{g}\n1 :a\n\n2 :b\n"), 3, "invalid data"),
            (format!("3 V1 N10 G{g}\n5 W12 :\n"), 2, "missing filename"),
            (format!("3 V1 N10 G{g}\n5 \n"), 2, "missing filename"),
            (format!("3 V1 N10 G{g}\n5 ::2,S\n"), 2, "missing filename"),
            ("1 1 5\n7 a\n".into(), 2, "larger than next_uid"),
        ];
        for (input, line, needle) in cases {
            match parse(input.as_bytes()) {
                Err(e) => {
                    assert_eq!(e.line, line, "{input:?}: {e}");
                    assert!(e.message.contains(needle), "{input:?}: {e}");
                    assert!(e.to_string().contains(&format!("line {line}")));
                }
                other => panic!("{input:?} should be corrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn serialize_writes_v3_and_strips_info() {
        let l = parse_ok(&format!(
            "3 V1275660208 N25022 G{DOC_GUID}\n\
             25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n\
             25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n"
        ));
        let want = format!(
            "3 V1275660208 N25022 G{DOC_GUID}\n\
             25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394\n\
             25017 W2481 :1276533073.M242911P3632.kurkku\n"
        );
        assert_eq!(String::from_utf8(serialize(&l)).unwrap(), want);
        // A v1 file is upgraded.
        let mut v1 = parse_ok("1 99 10\n3 a.host:2,S\n");
        v1.guid = Some(DOC_GUID.to_string());
        assert_eq!(
            String::from_utf8(serialize(&v1)).unwrap(),
            format!("3 V99 N10 G{DOC_GUID}\n3 :a.host\n")
        );
    }

    #[test]
    fn serialize_never_writes_n_at_or_below_last_uid() {
        let l = list(2, vec![rec(5, "", "a")]);
        assert!(String::from_utf8(serialize(&l))
            .unwrap()
            .starts_with("3 V1275660208 N6 "));
    }

    #[test]
    fn record_lines() {
        let cases = [
            (rec(1, "", "a.host"), "1 :a.host\n"),
            (rec(25017, "W2481", "b.host"), "25017 W2481 :b.host\n"),
            (rec(3, "S1 W2", "c.host:2,S"), "3 S1 W2 :c.host\n"),
        ];
        for (r, want) in cases {
            assert_eq!(record_line(&r), want);
        }
    }

    #[test]
    fn serialize_parse_round_trip() {
        let mut l = list(
            100,
            vec![
                rec(1, "", "1.M1P1.host,S=10"),
                rec(2, "W2481", "2.M2P2.host"),
                rec(50, "S9 W10 P1 O3", "3.M3P3.host"),
            ],
        );
        l.extra_header = vec!["P%08Xu%08Xv".to_string()];
        let back = parse_ok(std::str::from_utf8(&serialize(&l)).unwrap());
        assert_eq!(back, l);
    }

    #[test]
    fn new_guid_is_32_lower_hex_and_varies() {
        let a = new_guid();
        let b = new_guid();
        for g in [&a, &b] {
            assert_eq!(g.len(), 32);
            assert!(
                g.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "{g}"
            );
        }
        assert_ne!(a, b);
        // It is accepted as a header GUID.
        let mut l = list(1, vec![]);
        l.guid = Some(a);
        assert_eq!(parse_ok(std::str::from_utf8(&serialize(&l)).unwrap()), l);
    }

    #[test]
    fn write_atomic_append_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let l = list(3, vec![rec(1, "", "a.host"), rec(2, "W9", "b.host")]);
        write_atomic(dir.path(), &l).unwrap();
        assert!(!dir.path().join(TMP_NAME).exists());
        let path = dir.path().join(FILE_NAME);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(parse(&fs::read(&path).unwrap()).unwrap(), Some(l.clone()));

        append(
            dir.path(),
            &[rec(3, "", "c.host"), rec(4, "W7", "d.host:2,S")],
        )
        .unwrap();
        append(dir.path(), &[]).unwrap();
        let back = parse(&fs::read(&path).unwrap()).unwrap().unwrap();
        assert_eq!(back.next_uid, 5, "header N stays 3; records go beyond");
        assert!(fs::read_to_string(&path)
            .unwrap()
            .starts_with("3 V1275660208 N3 "));
        assert_eq!(
            back.records,
            vec![
                rec(1, "", "a.host"),
                rec(2, "W9", "b.host"),
                rec(3, "", "c.host"),
                rec(4, "W7", "d.host"),
            ]
        );

        // Rewriting compacts and moves N up.
        write_atomic(dir.path(), &back).unwrap();
        assert!(fs::read_to_string(&path)
            .unwrap()
            .starts_with("3 V1275660208 N5 "));
        assert_eq!(parse(&fs::read(&path).unwrap()).unwrap(), Some(back));
    }

    #[test]
    fn write_atomic_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        write_atomic(dir.path(), &list(1, vec![])).unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        write_atomic(dir.path(), &list(2, vec![])).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
    }

    #[test]
    fn write_atomic_mtime_increases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        write_atomic(dir.path(), &list(1, vec![])).unwrap();
        // An old file stamped in the future (clock step back, or two
        // rewrites in one coarse tick) must still be superseded.
        let future = SystemTime::now() + Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(future)
            .unwrap();
        let old_ino = fs::metadata(&path).unwrap().ino();
        write_atomic(dir.path(), &list(2, vec![])).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert!(meta.modified().unwrap() > future);
        assert_ne!(meta.ino(), old_ino);

        // Back-to-back rewrites also strictly increase.
        let mut last = meta.modified().unwrap();
        for n in 3..8 {
            write_atomic(dir.path(), &list(n, vec![])).unwrap();
            let now = fs::metadata(&path).unwrap().modified().unwrap();
            assert!(now > last);
            last = now;
        }
    }

    #[test]
    fn append_cuts_a_crashed_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, format!("3 V1 N2 G{DOC_GUID}\n1 :a\n2 W1 :b.ho")).unwrap();
        append(dir.path(), &[rec(2, "", "c")]).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("3 V1 N2 G{DOC_GUID}\n1 :a\n2 :c\n")
        );
    }

    #[test]
    fn append_refuses_missing_or_headerless_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = append(dir.path(), &[rec(1, "", "a")]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let path = dir.path().join(FILE_NAME);
        for content in ["", "3 V1 N1"] {
            fs::write(&path, content).unwrap();
            let err = append(dir.path(), &[rec(1, "", "a")]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        }
    }

    #[test]
    fn large_file_parses() {
        let mut l = list(1, vec![]);
        l.records = (1..=20_000)
            .map(|u| rec(u, "W100", &format!("{u}.M{u}P1.host,S=99")))
            .collect();
        l.next_uid = 20_001;
        let bytes = serialize(&l);
        assert_eq!(parse(&bytes).unwrap(), Some(l));
    }
}
