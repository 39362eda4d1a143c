//! The user database: a Dovecot-compatible passwd file, re-read when it changes.
//!
//! This module owns parsing the file (`user:password:uid:gid:gecos:home:shell:extra`),
//! noticing edits to it without a restart, and [`PasswdFile::authenticate`],
//! which combines lookup with [`verify_password`] while keeping the time taken
//! for unknown users close to that for known ones.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::cache::VerifiedCache;
use super::scheme::{verify_password, Verify};
use super::Secret;

/// A bcrypt hash (cost 10, the BLF-CRYPT default) of a random string nobody
/// knows. Verifying against it costs an unknown user what a typical real
/// user costs, so response times do not reveal which names exist.
const DUMMY_HASH: &str = "$2y$10$hXaE8C2Yyq7f.XG/48liquH4QmjhvTIbopXRM0mhdsCIguDXwghrS";

/// One user from the passwd file.
#[derive(Clone, Debug)]
pub struct UserEntry {
    /// The user name exactly as written in the file.
    pub name: String,
    /// The stored password field, `{SCHEME}` prefix included.
    pub password: Secret,
    /// Field 3, if present and non-empty.
    pub uid: Option<u32>,
    /// Field 4, if present and non-empty.
    pub gid: Option<u32>,
    /// Field 6, if present and non-empty.
    pub home: Option<PathBuf>,
    /// Field 8 and anything after it (Dovecot's extra fields), verbatim.
    pub extra: String,
}

/// A passwd file that could not be read or parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdError {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line number, when the problem is on one line.
    pub line: Option<usize>,
    /// What is wrong. Never contains a password.
    pub message: String,
}

impl fmt::Display for PasswdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for PasswdError {}

/// The result of [`PasswdFile::authenticate`].
#[derive(Clone, Debug)]
pub enum AuthOutcome {
    /// The password is right; here is the user.
    Success(UserEntry),
    /// Unknown user, wrong password, or a user who may not log in. These are
    /// deliberately not told apart, so callers cannot leak the difference.
    Failure,
    /// The user's stored password uses a scheme we cannot check. The caller
    /// should log this for the administrator and answer as for a failure.
    Unsupported {
        /// The user name as written in the file.
        user: String,
        /// The scheme name or crypt prefix (e.g. `MD5-CRYPT`, `$1$`).
        scheme: String,
    },
}

/// What identifies one version of the file. Nanosecond mtime and ctime are
/// both kept because two writes within a second with the same size would
/// otherwise look identical; ctime also changes when a tool restores mtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    mtime: Option<SystemTime>,
    ctime: (i64, i64),
    size: u64,
    inode: (u64, u64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            mtime: meta.modified().ok(),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            size: meta.len(),
            inode: (meta.dev(), meta.ino()),
        }
    }
}

/// What a stat() of the path showed: used to warn once per state of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Observed {
    File(Stamp),
    Unreadable,
}

#[derive(Default)]
struct State {
    users: HashMap<String, UserEntry>,
    /// The version of the file `users` came from.
    loaded: Option<Stamp>,
    /// The last observed state for which re-reading failed (and was warned about).
    failed: Option<Observed>,
}

/// A passwd file and the users last read successfully from it.
pub struct PasswdFile {
    path: PathBuf,
    state: Mutex<State>,
    /// False for [`PasswdFile::unused`]: never read, always empty.
    in_use: bool,
    /// Passwords verified lately (off unless `with_verified_cache`).
    verified: VerifiedCache,
}

impl fmt::Debug for PasswdFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswdFile")
            .field("path", &self.path)
            .field("users", &self.user_count())
            .finish()
    }
}

impl PasswdFile {
    /// Reads the file now; an unreadable file or bad line is an error naming file and line.
    pub fn open(path: &Path) -> Result<PasswdFile, PasswdError> {
        let (users, stamp) = load(path)?;
        Ok(PasswdFile {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                users,
                loaded: Some(stamp),
                failed: None,
            }),
            in_use: true,
            verified: VerifiedCache::new(Duration::ZERO, 0),
        })
    }

    /// Keeps up to `max` successful verifications for `ttl` each
    /// (`auth_cache_ttl_secs`, `auth_cache_size`).
    pub fn with_verified_cache(mut self, ttl: Duration, max: usize) -> PasswdFile {
        self.verified = VerifiedCache::new(ttl, max);
        self
    }

    /// No users, never read: for a configuration whose passdbs and userdb
    /// do not use the file (`passdb = pam`, `userdb = passwd`).
    pub fn unused(path: &Path) -> PasswdFile {
        PasswdFile {
            path: path.to_path_buf(),
            state: Mutex::new(State::default()),
            in_use: false,
            verified: VerifiedCache::new(Duration::ZERO, 0),
        }
    }

    /// The file's path, as given to [`PasswdFile::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Looks a user up, first re-reading the file if it changed since the
    /// last load (by mtime, ctime, size or inode). If that re-read fails the
    /// previous users stay in force and a warning is logged once per change.
    /// The exact name is tried first, then the lowercased name, since
    /// Dovecot lowercases user names by default.
    pub fn lookup(&self, user: &str) -> Option<UserEntry> {
        let mut state = self.lock();
        self.refresh_if_changed(&mut state);
        if let Some(entry) = state.users.get(user) {
            return Some(entry.clone());
        }
        let lower = user.to_lowercase();
        if lower != user {
            return state.users.get(&lower).cloned();
        }
        None
    }

    /// Re-reads the file unconditionally (on SIGHUP) and returns the new user
    /// count. On failure the previous users are kept and the error returned.
    pub fn reload(&self) -> Result<usize, PasswdError> {
        let mut state = self.lock();
        if !self.in_use {
            return Ok(0);
        }
        match load(&self.path) {
            Ok((users, stamp)) => {
                state.users = users;
                state.loaded = Some(stamp);
                state.failed = None;
                Ok(state.users.len())
            }
            Err(e) => {
                // The caller reports this one; remember it so the next lookup
                // does not warn about the same state again.
                state.failed = Some(observe(&self.path));
                Err(e)
            }
        }
    }

    /// Every loaded user, sorted by name (for `roost check`).
    pub fn entries(&self) -> Vec<UserEntry> {
        let mut all: Vec<UserEntry> = self.lock().users.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// How many users are currently loaded.
    pub fn user_count(&self) -> usize {
        self.lock().users.len()
    }

    /// Checks a password: looks the user up and verifies it. An empty password
    /// never succeeds. For an unknown user (or one with an empty password
    /// field) it still runs one bcrypt
    /// verification against a fixed dummy hash, so that the time taken does
    /// not reveal which users exist. (Users whose own hash is cheap, such as
    /// PLAIN, still answer faster; that is inherent in the scheme chosen.)
    pub fn authenticate(&self, user: &str, password: &[u8]) -> AuthOutcome {
        // lookup() clones the entry, so the lock is not held while hashing.
        let Some(entry) = self.lookup(user) else {
            burn_dummy_verification(password);
            return AuthOutcome::Failure;
        };
        // An empty stored field locks the account. An empty password from
        // the client is refused too, as Dovecot does: only a mistake (such as
        // `{PLAIN}` with nothing after it) could make it match.
        if entry.password.is_empty() || password.is_empty() {
            burn_dummy_verification(password);
            return AuthOutcome::Failure;
        }
        let stored = entry.password.expose();
        if self.verified.hit(&entry.name, stored, password) {
            log::debug!("user={} password found in the auth cache", entry.name);
            return AuthOutcome::Success(entry);
        }
        match verify_password(stored, password) {
            Verify::Match => {
                self.verified.remember(&entry.name, stored, password);
                AuthOutcome::Success(entry)
            }
            Verify::Mismatch => AuthOutcome::Failure,
            Verify::Unsupported(scheme) => AuthOutcome::Unsupported {
                user: entry.name,
                scheme,
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is replaced whole on reload, so a panic elsewhere while
        // holding the lock cannot leave it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refresh_if_changed(&self, state: &mut State) {
        if !self.in_use {
            return;
        }
        let now = observe(&self.path);
        if let Observed::File(stamp) = now {
            if state.loaded == Some(stamp) {
                // Back to (or still at) the loaded version: a later failure
                // deserves a fresh warning.
                state.failed = None;
                return;
            }
        }
        if state.failed == Some(now) {
            return;
        }
        match load(&self.path) {
            Ok((users, stamp)) => {
                log::info!(
                    "{}: re-read after change, {} users",
                    self.path.display(),
                    users.len()
                );
                state.users = users;
                state.loaded = Some(stamp);
                state.failed = None;
                self.verified.clear();
            }
            Err(e) => {
                log::warn!("{e}; keeping the previous {} users", state.users.len());
                state.failed = Some(now);
            }
        }
    }
}

/// Spends about as long as checking a real BLF-CRYPT password.
fn burn_dummy_verification(password: &[u8]) {
    std::hint::black_box(verify_password(DUMMY_HASH, password));
}

fn observe(path: &Path) -> Observed {
    match std::fs::metadata(path) {
        Ok(meta) => Observed::File(Stamp::of(&meta)),
        Err(_) => Observed::Unreadable,
    }
}

/// Reads and parses the file. The stamp comes from the open handle, taken
/// before reading, so a write racing with the read shows up as a change at
/// the next lookup rather than being missed.
fn load(path: &Path) -> Result<(HashMap<String, UserEntry>, Stamp), PasswdError> {
    let io_err = |e: io::Error| PasswdError {
        path: path.to_path_buf(),
        line: None,
        message: describe_io_error(&e),
    };
    let mut file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if meta.is_dir() {
        return Err(PasswdError {
            path: path.to_path_buf(),
            line: None,
            message: "is a directory".to_string(),
        });
    }
    let stamp = Stamp::of(&meta);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_err)?;
    let users = parse(&bytes).map_err(|(line, message)| PasswdError {
        path: path.to_path_buf(),
        line: Some(line),
        message,
    })?;
    Ok((users, stamp))
}

/// "No such file or directory (os error 2)" → "No such file or directory":
/// the errno adds nothing for the administrator reading the log.
fn describe_io_error(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

/// The file parser, for the fuzz harness (`crate::fuzzing`).
#[doc(hidden)]
pub fn parse_for_fuzzing(bytes: &[u8]) -> bool {
    parse(bytes).is_ok()
}

/// Parses the whole file; an error is (1-based line number, message).
fn parse(bytes: &[u8]) -> Result<HashMap<String, UserEntry>, (usize, String)> {
    let mut users: HashMap<String, UserEntry> = HashMap::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let lineno = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|_| (lineno, "line is not valid UTF-8".to_string()))?;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let entry = parse_line(line).map_err(|m| (lineno, m))?;
        if let Some(first) = first_line.get(&entry.name) {
            return Err((
                lineno,
                format!("duplicate user {:?} (first on line {first})", entry.name),
            ));
        }
        first_line.insert(entry.name.clone(), lineno);
        users.insert(entry.name.clone(), entry);
    }
    Ok(users)
}

/// Parses one non-comment line. Error messages may quote the user name, uid
/// and gid, but never the password field.
fn parse_line(line: &str) -> Result<UserEntry, String> {
    // Extra fields (the 8th on) may themselves contain ':'; keep them whole.
    let mut fields = line.splitn(8, ':');
    let name = fields.next().unwrap_or_default();
    let Some(password) = fields.next() else {
        return Err("missing password field (no ':' after the user name)".to_string());
    };
    if name.is_empty() {
        return Err("empty user name".to_string());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "user name {name:?} contains whitespace or control characters"
        ));
    }
    let uid = parse_id(fields.next(), "uid")?;
    let gid = parse_id(fields.next(), "gid")?;
    let _gecos = fields.next();
    let home = fields.next().filter(|h| !h.is_empty()).map(PathBuf::from);
    let _shell = fields.next();
    let extra = fields.next().unwrap_or_default().to_string();
    Ok(UserEntry {
        name: name.to_string(),
        password: Secret::new(password.to_string()),
        uid,
        gid,
        home,
        extra,
    })
}

fn parse_id(field: Option<&str>, what: &str) -> Result<Option<u32>, String> {
    match field {
        None | Some("") => Ok(None),
        Some(text) => {
            // u32::from_str accepts a leading '+', which no passwd tool writes.
            if !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("bad {what} field {text:?}"));
            }
            text.parse()
                .map(Some)
                .map_err(|_| format!("bad {what} field {text:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scheme::{hash_password_with_cost, Scheme};
    use std::io::Write;

    fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        let mut f = File::create(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        path
    }

    fn outcome_name(o: &AuthOutcome) -> String {
        match o {
            AuthOutcome::Success(u) => format!("success:{}", u.name),
            AuthOutcome::Failure => "failure".to_string(),
            AuthOutcome::Unsupported { user, scheme } => format!("unsupported:{user}:{scheme}"),
        }
    }

    #[test]
    fn parses_full_short_and_empty_fields() {
        let text = "# comment\n\
                    \n\
                    alice:{PLAIN}a:1000:100:Alice A:/home/alice:/bin/sh:userdb_quota_rule=*:storage=1G\r\n\
                    bob:{PLAIN}b\n\
                    carol:{PLAIN}c::::\n\
                    dave::1001\n   \n\
                    #eve:x:notanumber\n\
                    Frank:{PLAIN}f:7:8::/srv/frank";
        let users = parse(text.as_bytes()).unwrap();
        assert_eq!(users.len(), 5);

        let a = &users["alice"];
        assert_eq!(a.password.expose(), "{PLAIN}a");
        assert_eq!(a.uid, Some(1000));
        assert_eq!(a.gid, Some(100));
        assert_eq!(a.home.as_deref(), Some(Path::new("/home/alice")));
        assert_eq!(a.extra, "userdb_quota_rule=*:storage=1G");

        let b = &users["bob"];
        assert_eq!((b.uid, b.gid, b.home.clone()), (None, None, None));
        assert_eq!(b.extra, "");

        let c = &users["carol"];
        assert_eq!((c.uid, c.gid, c.home.clone()), (None, None, None));

        let d = &users["dave"];
        assert!(d.password.is_empty());
        assert_eq!(d.uid, Some(1001));

        let f = &users["Frank"];
        assert_eq!((f.uid, f.gid), (Some(7), Some(8)));
        assert_eq!(f.home.as_deref(), Some(Path::new("/srv/frank")));
    }

    #[test]
    fn bad_lines_name_the_line() {
        let rows: &[(&str, usize, &str)] = &[
            ("a:x\nb:x:12x\n", 2, "bad uid field \"12x\""),
            ("a:x\n#c\n\nb:x:1:-1\n", 4, "bad gid field \"-1\""),
            ("a:x:+5\n", 1, "bad uid field \"+5\""),
            ("a:x:4294967296\n", 1, "bad uid field \"4294967296\""),
            ("a:x\nnocolon\n", 2, "missing password field"),
            (":x\n", 1, "empty user name"),
            ("a b:x\n", 1, "contains whitespace"),
            ("a\tb:x\n", 1, "contains whitespace"),
            ("a\u{7}:x\n", 1, "control characters"),
            (
                "a:x\nb:y\na:z\n",
                3,
                "duplicate user \"a\" (first on line 1)",
            ),
            ("a:x\r\nb:y\r\na:z\r\n", 3, "duplicate user"),
        ];
        for (text, line, msg) in rows {
            let (got_line, got_msg) = parse(text.as_bytes()).unwrap_err();
            assert_eq!(got_line, *line, "{text:?}");
            assert!(got_msg.contains(msg), "{text:?}: {got_msg}");
        }
        let (line, msg) = parse(b"a:x\nb:\xff\xfe\n").unwrap_err();
        assert_eq!((line, msg.as_str()), (2, "line is not valid UTF-8"));
    }

    #[test]
    fn error_messages_never_show_passwords() {
        let (_, msg) = parse(b"a:hunter2\na:hunter3:1\n").unwrap_err();
        assert!(!msg.contains("hunter"), "{msg}");
        let (_, msg) = parse(b"a:hunter2:x\n").unwrap_err();
        assert!(!msg.contains("hunter"), "{msg}");
    }

    #[test]
    fn error_display() {
        let e = PasswdError {
            path: PathBuf::from("/etc/roost/passwd"),
            line: Some(7),
            message: "bad uid field \"x\"".to_string(),
        };
        assert_eq!(e.to_string(), "/etc/roost/passwd:7: bad uid field \"x\"");

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("passwd");
        let e = PasswdFile::open(&missing).unwrap_err();
        assert_eq!(e.line, None);
        assert_eq!(
            e.to_string(),
            format!("{}: No such file or directory", missing.display())
        );

        let path = write_file(dir.path(), "bad", "a:x\nb:x:q\n");
        let e = PasswdFile::open(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:2: bad uid field \"q\"", path.display())
        );

        let e = PasswdFile::open(dir.path()).unwrap_err();
        assert!(e.to_string().ends_with(": is a directory"), "{e}");
    }

    #[test]
    fn lookup_exact_then_lowercase() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(
            dir.path(),
            "passwd",
            "alice:{PLAIN}a\nBob:{PLAIN}B\nbob:{PLAIN}b\n",
        );
        let db = PasswdFile::open(&path).unwrap();
        assert_eq!(db.path(), path.as_path());
        assert_eq!(db.user_count(), 3);
        let rows: &[(&str, Option<&str>)] = &[
            ("alice", Some("alice")),
            ("ALICE", Some("alice")),
            ("Alice", Some("alice")),
            ("Bob", Some("Bob")),
            ("bob", Some("bob")),
            ("BOB", Some("bob")),
            ("carol", None),
            ("", None),
        ];
        for (query, want) in rows {
            let got = db.lookup(query).map(|u| u.name);
            assert_eq!(got.as_deref(), *want, "lookup {query:?}");
        }
    }

    #[test]
    fn reloads_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "passwd", "alice:{PLAIN}a\n");
        let db = PasswdFile::open(&path).unwrap();
        assert!(db.lookup("alice").is_some());
        assert!(db.lookup("bob").is_none());

        // Same size and (almost always) the same second: only the sub-second
        // times differ. The kernel stamps files from a clock that ticks every
        // few ms, so wait a little; edits by hand are never that close.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_file(dir.path(), "passwd", "bobby:{PLAIN}a\n");
        assert!(db.lookup("alice").is_none());
        assert!(db.lookup("bobby").is_some());

        // A broken edit keeps the previous users.
        write_file(dir.path(), "passwd", "bobby:{PLAIN}a\ncarol:x:oops\n");
        assert!(db.lookup("bobby").is_some());
        assert!(db.lookup("carol").is_none());
        assert_eq!(db.user_count(), 1);
        let e = db.reload().unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(db.user_count(), 1);

        // Replaced by rename (new inode), the usual way editors save.
        let tmp = write_file(dir.path(), "passwd.new", "dan:{PLAIN}d\nerin:{PLAIN}e\n");
        std::fs::rename(&tmp, &path).unwrap();
        assert!(db.lookup("dan").is_some());
        assert_eq!(db.user_count(), 2);

        // Deleted: keep the users; recreated: pick it up.
        std::fs::remove_file(&path).unwrap();
        assert!(db.lookup("dan").is_some());
        assert!(db.reload().is_err());
        write_file(dir.path(), "passwd", "fay:{PLAIN}f\n");
        assert!(db.lookup("fay").is_some());
        assert_eq!(db.reload(), Ok(1));
    }

    #[test]
    fn authenticate_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let blf = hash_password_with_cost(Scheme::BlfCrypt, "pw-b", 4).unwrap();
        let sha = hash_password_with_cost(Scheme::Sha512Crypt, "pw-s", 4).unwrap();
        let text = format!(
            "plain:{{PLAIN}}pw-p\nblf:{blf}\nsha:{sha}\nempty:\nemptyplain:{{PLAIN}}\nmd5:$1$saltsalt$9xy1btjgzLYfb7hivXtC//\ndes:abJnggxhB/yJU\n"
        );
        let path = write_file(dir.path(), "passwd", &text);
        let db = PasswdFile::open(&path).unwrap();
        let rows: &[(&str, &[u8], &str)] = &[
            ("plain", b"pw-p", "success:plain"),
            ("PLAIN", b"pw-p", "success:plain"),
            ("plain", b"pw-x", "failure"),
            ("blf", b"pw-b", "success:blf"),
            ("blf", b"pw-p", "failure"),
            ("sha", b"pw-s", "success:sha"),
            ("sha", b"", "failure"),
            ("empty", b"", "failure"),
            ("empty", b"x", "failure"),
            ("emptyplain", b"", "failure"),
            ("emptyplain", b"x", "failure"),
            ("md5", b"secret", "success:md5"),
            ("des", b"secret", "unsupported:des:DES-CRYPT"),
            ("nobody", b"pw-p", "failure"),
        ];
        for (user, pw, want) in rows {
            assert_eq!(
                outcome_name(&db.authenticate(user, pw)),
                *want,
                "{user} {pw:?}"
            );
        }
    }

    #[test]
    fn dummy_hash_is_a_real_cost_10_bcrypt() {
        // If the constant were malformed, unknown users would answer instantly.
        assert!(DUMMY_HASH.starts_with("$2y$10$"));
        assert_eq!(DUMMY_HASH.len(), 60);
        assert!(bcrypt::verify("", DUMMY_HASH).is_ok());
    }

    #[test]
    fn user_entry_debug_hides_password() {
        let entry = parse_line("alice:{PLAIN}hunter2:1").unwrap();
        let shown = format!("{entry:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
