//! A write lock held with an open-file-description lock (`F_OFD_SETLK`)
//! on a lock file that stays in place.
//!
//! Roost's own files (the `roost-modseq` journal) need no Dovecot-style
//! dotlock, and a dotlock creates and removes a file for every lock: on a
//! busy mailbox that is an inode allocated and freed per flag change, and
//! ext4 (without a journal, most of all) spends real time finding a free
//! inode among recently freed ones. An fcntl lock creates nothing.
//!
//! OFD locks belong to the open file, not the process, so two threads of
//! one server exclude each other as two servers do. The kernel drops a
//! lock when its holder dies, so there is nothing stale to break. Callers
//! use them on local file systems only: on NFS or FUSE a lock may quietly
//! be local to one host. Where the file system refuses locks, the caller
//! falls back to a dotlock.

use nix::fcntl::{fcntl, FcntlArg};
use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// The first pause between tries; doubled up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_micros(200);
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// A held lock; dropping it closes the file, which releases the lock.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

/// Why no lock was taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// The file system does not do fcntl locks here.
    Unsupported,
    /// Another holder kept it past the wait, or the file could not be opened.
    Failed(io::Error),
}

impl FileLock {
    /// Opens (creating it with the mode its directory gives files)
    /// `path` and takes a write lock on the whole file, trying again for
    /// up to `wait`. A lock on a file someone removed or replaced
    /// meanwhile excludes nobody: then it starts over on the new one.
    pub(crate) fn acquire(path: &Path, wait: Duration) -> Result<FileLock, LockError> {
        let mode = path.parent().map_or(0o600, super::perms::file_mode);
        let open = || {
            super::nofollow::retry_stale(|| {
                super::nofollow::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .mode(mode)
                    .open(path)
            })
            .and_then(|file| {
                // A group-shared folder's other users must open it too.
                super::perms::widen_file(&file, mode)?;
                Ok(file)
            })
            .map_err(LockError::Failed)
        };
        let mut file = open()?;
        let deadline = Instant::now() + wait;
        let mut pause = FIRST_PAUSE;
        loop {
            match try_write_lock(&file) {
                Ok(()) if names_the_file(path, &file) => return Ok(FileLock { _file: file }),
                // Released with the old file; the new one is tried below.
                Ok(()) => file = open()?,
                Err(e) if is_unsupported(&e) => return Err(LockError::Unsupported),
                Err(e) if is_busy(&e) => {}
                Err(e) => return Err(LockError::Failed(e)),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LockError::Failed(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out waiting for the lock on {}", path.display()),
                )));
            }
            thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// Whether `path` still names the open `file`.
fn names_the_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(p), Ok(f)) => p.ino() == f.ino() && p.dev() == f.dev(),
        _ => false,
    }
}

fn try_write_lock(file: &File) -> io::Result<()> {
    // l_start = 0, l_len = 0: the whole file; l_pid must be 0 for OFD locks.
    let range = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(file, FcntlArg::F_OFD_SETLK(&range))
        .map(drop)
        .map_err(io::Error::from)
}

fn is_busy(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN) | Some(libc::EACCES) | Some(libc::EINTR)
    )
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOLCK) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = FileLock::acquire(&path, Duration::ZERO).unwrap();
        // Another open of the same file, even in this thread, is refused.
        match FileLock::acquire(&path, Duration::from_millis(30)) {
            Err(LockError::Failed(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("expected a timeout, got {other:?}"),
        }
        drop(first);
        let again = FileLock::acquire(&path, Duration::ZERO);
        assert!(again.is_ok(), "{again:?}");
        // The file stays: nothing is created or removed per lock.
        drop(again);
        assert!(path.exists());
    }

    /// Someone removed the lock file while it was held: a newcomer locks
    /// a new file, and a holder of the old one must not count as one.
    #[test]
    fn a_lock_on_a_removed_file_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let file = File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        try_write_lock(&file).unwrap();
        assert!(!names_the_file(&path, &file));
        let lock = FileLock::acquire(&path, Duration::ZERO).unwrap();
        assert!(names_the_file(&path, &lock._file));
    }

    /// In a group-shared folder every member must be able to open it.
    #[test]
    fn the_lock_file_takes_its_folders_file_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o2770)).unwrap();
        let path = dir.path().join("x.lock");
        drop(FileLock::acquire(&path, Duration::ZERO).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
    }

    #[test]
    fn a_waiting_thread_gets_the_lock_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = FileLock::acquire(&path, Duration::ZERO).unwrap();
        let p = path.clone();
        let waiter = thread::spawn(move || FileLock::acquire(&p, Duration::from_secs(10)).is_ok());
        thread::sleep(Duration::from_millis(20));
        drop(first);
        assert!(waiter.join().unwrap());
    }
}
