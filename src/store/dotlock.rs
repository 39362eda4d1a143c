//! Dovecot-compatible dot-locks: `<target>.lock` files created exclusively,
//! holding `<pid>:<hostname>`, and judged stale the way Dovecot's
//! `file-dotlock.c` does (dead local pid, or not touched for a while).
//!
//! Safe on NFS and FUSE file systems several hosts share: the lock is
//! written to a file of its own and hard-linked into place (`link()` is
//! atomic where `O_EXCL` may not be, and the lock is never seen empty);
//! ESTALE counts as "gone"; a remote holder's pid cannot be checked, so
//! only age breaks its lock.
//!
//! This module owns creating, waiting for, breaking (when stale), touching,
//! releasing and "replacing" such locks. It knows nothing of what the locked
//! files contain.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Settings for one kind of lock. Dovecot: uidlist stale after 120 s;
/// keywords 120 s; subscriptions 30 s.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LockOptions {
    /// A lock whose mtime is older than this is broken.
    pub(crate) stale_after: Duration,
    /// How long `acquire` waits for a live lock before giving up.
    pub(crate) timeout: Duration,
}

/// The `dovecot-uidlist.lock` settings (`MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT`).
pub(crate) const UIDLIST_LOCK: LockOptions = LockOptions {
    stale_after: Duration::from_secs(120),
    timeout: Duration::from_secs(30),
};

/// First and largest pause between attempts while someone else holds the lock.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// Dovecot reads at most this much of a lock file when looking for the pid.
const MAX_LOCK_CONTENT: u64 = 512;

/// This host's name as Dovecot writes it into lock files: the kernel's
/// hostname, else `/etc/hostname`, else `localhost`. Read once.
pub(crate) fn hostname() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .filter_map(|p| fs::read_to_string(p).ok())
            .map(|s| s.trim().to_string())
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".to_string())
    })
    .clone()
}

/// A held dot-lock `<target>.lock`. Dropping it removes the lock file, but
/// only while the file at that path is still the one we created.
#[derive(Debug)]
pub(crate) struct DotLock {
    path: PathBuf,
    target: PathBuf,
    /// Kept open so the inode cannot be recycled for someone else's lock
    /// while we hold it, which keeps the dev/ino ownership check sound.
    file: File,
    dev: u64,
    ino: u64,
    /// False once the lock file has been renamed over the target.
    held: bool,
}

/// What an existing lock file looked like when we judged it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Snapshot {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: Option<SystemTime>,
}

impl Snapshot {
    fn of(meta: &fs::Metadata) -> Snapshot {
        Snapshot {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.modified().ok(),
        }
    }
}

enum LockState {
    /// The lock file vanished under us: try again at once.
    Gone,
    /// Someone live holds it.
    Held,
    /// Safe to break; the snapshot guards against breaking a newer lock.
    Stale(Snapshot, &'static str),
}

impl DotLock {
    /// Creates `<target>.lock` exclusively (mode 0600) containing
    /// `<pid>:<hostname>`. An existing lock is broken when it names this
    /// host and a pid that is not running, or when its mtime is older than
    /// `opts.stale_after`; otherwise we retry with backoff (5 ms doubling
    /// to 100 ms) and fail with `ErrorKind::TimedOut` after `opts.timeout`.
    pub(crate) fn acquire(target: &Path, opts: LockOptions) -> io::Result<DotLock> {
        let path = lock_path(target);
        let deadline = Instant::now() + opts.timeout;
        let mut backoff = FIRST_BACKOFF;
        loop {
            if let Some(file) = create(&path)? {
                return DotLock::finish_create(path, target, file);
            }

            let held = match inspect(&path, opts)? {
                LockState::Gone => false,
                LockState::Held => true,
                LockState::Stale(snap, why) => {
                    break_stale(&path, snap, why)?;
                    false
                }
            };

            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out waiting for dotlock {}", path.display()),
                ));
            }
            if held {
                thread::sleep(backoff.min(deadline - now));
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    fn finish_create(path: PathBuf, target: &Path, file: File) -> io::Result<DotLock> {
        match file.metadata() {
            Ok(meta) => Ok(DotLock {
                path,
                target: target.to_path_buf(),
                file,
                dev: meta.dev(),
                ino: meta.ino(),
                held: true,
            }),
            Err(e) => {
                // An empty lock would block others until it goes stale.
                let _ = fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// The directory holding the lock was renamed while we held it (a
    /// folder RENAME or DELETE takes the folder's uidlist lock first, so
    /// no delivery is half-way through): the lock file moved along and is
    /// released at its new place, not left behind to block the next user
    /// of the folder until it goes stale.
    pub(crate) fn moved_to(&mut self, new_target: &Path) {
        self.path = lock_path(new_target);
        self.target = new_target.to_path_buf();
    }

    /// The lock file's path (`<target>.lock`).
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `content` into the lock file itself, fsyncs it and renames it
    /// over the target (Dovecot's "dotlock replace", used for
    /// `dovecot-keywords` and `subscriptions`). Afterwards no lock exists.
    pub(crate) fn replace_target(mut self, content: &[u8]) -> io::Result<()> {
        self.check_ours()?;
        self.file.set_len(0)?;
        self.file.write_all_at(content, 0)?;
        self.file.sync_all()?;
        fs::rename(&self.path, &self.target)?;
        self.held = false;
        if let Some(dir) = self.target.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Whether the file at our lock path is still the one we created.
    fn is_ours(&self) -> io::Result<bool> {
        match fs::symlink_metadata(&self.path) {
            Ok(meta) => Ok(meta.dev() == self.dev && meta.ino() == self.ino),
            Err(e) if super::nofollow::is_gone(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn check_ours(&self) -> io::Result<()> {
        if self.is_ours()? {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "dotlock {} was overridden by another process",
                self.path.display()
            )))
        }
    }
}

impl Drop for DotLock {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        match self.is_ours() {
            Ok(true) => match fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if super::nofollow::is_gone(&e) => {}
                Err(e) => log::warn!("removing dotlock {}: {e}", self.path.display()),
            },
            Ok(false) => log::warn!(
                "dotlock {} was overridden by another process; leaving it",
                self.path.display()
            ),
            Err(e) => log::warn!("checking dotlock {}: {e}", self.path.display()),
        }
    }
}

/// What a lock file holds: `<pid>:<hostname>`, as Dovecot writes it.
fn content() -> String {
    format!("{}:{}", std::process::id(), hostname())
}

/// Creates the lock file at `path` with its content; None if it exists.
///
/// The content goes into a file named for this host, process and attempt,
/// which is then hard-linked to `path`: link() is atomic on every NFS
/// version, and a link made whose reply was lost (NFS over UDP retries)
/// shows as a link count of 2 instead of a bogus EEXIST (see open(2),
/// O_EXCL). File systems without hard links get `O_EXCL` instead.
fn create(path: &Path) -> io::Result<Option<File>> {
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let mut tmp: OsString = path.as_os_str().to_owned();
    tmp.push(format!(
        ".{}.{}.{}",
        hostname(),
        std::process::id(),
        ATTEMPT.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    let mut file = super::nofollow::recreate(&tmp, 0o600)?;
    let linked = file
        .write_all(content().as_bytes())
        .and_then(|()| fs::hard_link(&tmp, path));
    let created = match linked {
        Ok(()) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let nlink = file.metadata().map(|m| m.nlink()).unwrap_or(1);
            Ok((nlink == 2).then_some(file))
        }
        Err(e) if cannot_link(&e) => create_excl(path),
        Err(e) => Err(e),
    };
    // The lock (if any) lives on under `path`; a failure to remove the
    // helper name leaves only a stray file.
    if let Err(e) = fs::remove_file(&tmp) {
        log::warn!("removing {}: {e}", tmp.display());
    }
    created
}

/// True for link() errors that mean "no hard links here".
fn cannot_link(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS | libc::EMLINK)
    )
}

/// The `O_EXCL` way, for file systems without hard links.
fn create_excl(path: &Path) -> io::Result<Option<File>> {
    let mut file = match super::nofollow::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Err(e) = file.write_all(content().as_bytes()) {
        // An empty lock would block others until it goes stale.
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(Some(file))
}

fn lock_path(target: &Path) -> PathBuf {
    let mut s: OsString = target.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// Looks at an existing lock file and decides whether it may be broken.
fn inspect(path: &Path, opts: LockOptions) -> io::Result<LockState> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if super::nofollow::is_gone(&e) => return Ok(LockState::Gone),
        Err(e) => return Err(e),
    };
    let snap = Snapshot::of(&meta);
    if let Some(mtime) = snap.mtime {
        // A future mtime gives Err here and never counts as stale.
        if let Ok(age) = SystemTime::now().duration_since(mtime) {
            if age > opts.stale_after {
                return Ok(LockState::Stale(
                    snap,
                    "not touched within the stale timeout",
                ));
            }
        }
    }
    let mut content = Vec::new();
    match super::nofollow::open(path) {
        Ok(f) => {
            // Unreadable content just means we can't verify the pid.
            let _ = f.take(MAX_LOCK_CONTENT).read_to_end(&mut content);
        }
        Err(e) if super::nofollow::is_gone(&e) => return Ok(LockState::Gone),
        Err(_) => return Ok(LockState::Held),
    }
    match local_pid(&content) {
        Some(pid) if !pid_alive(pid) => Ok(LockState::Stale(snap, "its process is gone")),
        _ => Ok(LockState::Held),
    }
}

/// The pid in `<pid>:<host>` content when host is this machine; otherwise
/// None, since a remote pid can't be checked.
fn local_pid(content: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(content).ok()?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let (pid, host) = text.split_once(':')?;
    if host != hostname() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Pid 0 is not a process we could look up.
    pid.parse().ok().filter(|&p| p != 0)
}

/// Whether a local process exists. Without a usable /proc we cannot tell,
/// so we assume it does rather than break a live lock.
fn pid_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes a stale lock, unless it changed since we judged it: then another
/// process has broken it and taken a fresh one already.
fn break_stale(path: &Path, snap: Snapshot, why: &str) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if Snapshot::of(&meta) == snap => {}
        Ok(_) => return Ok(()),
        Err(e) if super::nofollow::is_gone(&e) => return Ok(()),
        Err(e) => return Err(e),
    }
    log::info!("breaking stale dotlock {}: {why}", path.display());
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if super::nofollow::is_gone(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// fsyncs a directory so a rename in it is durable. Filesystems that can't
/// sync directories report EINVAL; that is not a failure of ours.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir).and_then(|d| sync_open_dir(&d))
}

/// Flushes an open directory; file systems that cannot fsync a directory
/// (EINVAL) count as flushed.
pub(crate) fn sync_open_dir(dir: &File) -> io::Result<()> {
    match dir.sync_all() {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(timeout_ms: u64) -> LockOptions {
        LockOptions {
            stale_after: Duration::from_secs(120),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn target_in(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("dovecot-uidlist")
    }

    #[test]
    fn acquire_writes_pid_host_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let lock = DotLock::acquire(&target, UIDLIST_LOCK).unwrap();
        assert_eq!(lock.path(), dir.path().join("dovecot-uidlist.lock"));
        let content = fs::read_to_string(lock.path()).unwrap();
        assert_eq!(content, format!("{}:{}", std::process::id(), hostname()));
        // Made by link(): no helper file is left beside it.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["dovecot-uidlist.lock"]);
        let mode = fs::metadata(lock.path()).unwrap().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "lock must not be group/world accessible");
        let path = lock.path().to_path_buf();
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn second_acquire_times_out_while_held() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let _held = DotLock::acquire(&target, UIDLIST_LOCK).unwrap();
        let start = Instant::now();
        let err = DotLock::acquire(&target, short(150)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
    }

    #[test]
    fn zero_timeout_tries_once() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let _held = DotLock::acquire(&target, UIDLIST_LOCK).unwrap();
        let err = DotLock::acquire(&target, short(0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn released_lock_can_be_taken_by_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let held = DotLock::acquire(&target, UIDLIST_LOCK).unwrap();
        let t2 = target.clone();
        let waiter = thread::spawn(move || DotLock::acquire(&t2, short(5000)).map(|_| ()));
        thread::sleep(Duration::from_millis(50));
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn stale_by_old_mtime_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let lock_file = dir.path().join("dovecot-uidlist.lock");
        // A remote host's pid can't be checked; only the age makes it stale.
        fs::write(&lock_file, "1234:some-other-host.example").unwrap();
        let f = File::options().write(true).open(&lock_file).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(121))
            .unwrap();
        drop(f);
        let lock = DotLock::acquire(&target, short(200)).unwrap();
        let content = fs::read_to_string(lock.path()).unwrap();
        assert!(content.starts_with(&format!("{}:", std::process::id())));
    }

    #[test]
    fn fresh_remote_lock_is_not_stale() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let lock_file = dir.path().join("dovecot-uidlist.lock");
        fs::write(&lock_file, "1:some-other-host.example").unwrap();
        let err = DotLock::acquire(&target, short(50)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(lock_file.exists());
    }

    #[test]
    fn stale_by_dead_pid_on_this_host_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let lock_file = dir.path().join("dovecot-uidlist.lock");
        fs::write(&lock_file, format!("999999999:{}", hostname())).unwrap();
        let lock = DotLock::acquire(&target, short(200)).unwrap();
        let content = fs::read_to_string(lock.path()).unwrap();
        assert!(content.starts_with(&format!("{}:", std::process::id())));
    }

    #[test]
    fn live_pid_on_this_host_is_not_stale() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let lock_file = dir.path().join("dovecot-uidlist.lock");
        let content = format!("{}:{}\n", std::process::id(), hostname());
        fs::write(&lock_file, &content).unwrap();
        let err = DotLock::acquire(&target, short(50)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(fs::read_to_string(&lock_file).unwrap(), content);
    }

    #[test]
    fn local_pid_parsing() {
        let host = hostname();
        let cases: Vec<(String, Option<u32>)> = vec![
            (format!("42:{host}"), Some(42)),
            (format!("42:{host}\n"), Some(42)),
            (format!("0:{host}"), None),
            (format!("4x2:{host}"), None),
            (format!(":{host}"), None),
            ("42:not-this-host.invalid".to_string(), None),
            ("42".to_string(), None),
            (String::new(), None),
        ];
        for (input, want) in cases {
            assert_eq!(local_pid(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn drop_leaves_a_lock_someone_else_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let lock = DotLock::acquire(&target, UIDLIST_LOCK).unwrap();
        let path = lock.path().to_path_buf();
        // Someone broke our lock and took their own.
        fs::remove_file(&path).unwrap();
        fs::write(&path, "1:elsewhere").unwrap();
        assert!(lock.check_ours().is_err());
        drop(lock);
        assert_eq!(fs::read_to_string(&path).unwrap(), "1:elsewhere");
    }

    #[test]
    fn replace_target_writes_content_and_releases() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("subscriptions");
        fs::write(&target, "old contents that are longer than the new\n").unwrap();
        let lock = DotLock::acquire(&target, UIDLIST_LOCK).unwrap();
        let path = lock.path().to_path_buf();
        lock.replace_target(b"INBOX\nSent\n").unwrap();
        assert!(!path.exists());
        assert_eq!(fs::read(&target).unwrap(), b"INBOX\nSent\n");
        // And the lock can be taken again at once.
        let again = DotLock::acquire(&target, short(0)).unwrap();
        drop(again);
        assert!(!path.exists());
    }

    #[test]
    fn replace_target_creates_missing_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dovecot-keywords");
        let lock = DotLock::acquire(&target, UIDLIST_LOCK).unwrap();
        lock.replace_target(b"0 $Junk\n").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"0 $Junk\n");
        assert!(!dir.path().join("dovecot-keywords.lock").exists());
    }

    #[test]
    fn linked_locks_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let target = target_in(&dir);
        let counter = dir.path().join("counter");
        fs::write(&counter, "0").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (target, counter) = (target.clone(), counter.clone());
                thread::spawn(move || {
                    for _ in 0..20 {
                        let _lock = DotLock::acquire(&target, short(10_000)).unwrap();
                        let n: u32 = fs::read_to_string(&counter).unwrap().parse().unwrap();
                        fs::write(&counter, (n + 1).to_string()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(fs::read_to_string(&counter).unwrap(), "160");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "helper files left"
        );
    }

    #[test]
    fn missing_directory_is_an_error_not_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("no-such-dir").join("dovecot-uidlist");
        let err = DotLock::acquire(&target, short(5000)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
