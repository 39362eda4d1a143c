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
    /// up to `wait`. The file is opened anew for each lock and nobody
    /// removes it (its name is Roost's own), so the path names the file
    /// locked.
    pub(crate) fn acquire(path: &Path, wait: Duration) -> Result<FileLock, LockError> {
        let file = open_or_create(path).map_err(LockError::Failed)?;
        let deadline = Instant::now() + wait;
        let mut pause = FIRST_PAUSE;
        loop {
            match try_write_lock(&file) {
                Ok(()) => return Ok(FileLock { _file: file }),
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

/// Opens the lock file; only when it is missing is it created, with the
/// mode its directory gives files (a group-shared folder's members must
/// open it too), so the usual case costs no look at the directory.
fn open_or_create(path: &Path) -> io::Result<File> {
    let open = |create: Option<u32>| {
        super::nofollow::retry_stale(|| {
            let mut options = super::nofollow::options();
            options.read(true).write(true);
            if let Some(mode) = create {
                options.create(true).mode(mode);
            }
            options.open(path)
        })
    };
    match open(None) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mode = path.parent().map_or(0o600, super::perms::file_mode);
            let file = open(Some(mode))?;
            super::perms::widen_file(&file, mode)?;
            Ok(file)
        }
        other => other,
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
