//! File access inside a Maildir that never follows a symlink.
//!
//! A user who can write their own Maildir (a shell, a sync tool) can plant
//! symlinks in it. Roost serves every user's tree with one set of
//! privileges, so following such a link would read or write another user's
//! mail. Every open under a Maildir goes through here: the last component
//! is opened with `O_NOFOLLOW`, and the directories Roost writes into
//! (`tmp/`, `cur/`, `new/`) are checked with `lstat` first.

use nix::fcntl::OFlag;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `ELOOP`: what `O_NOFOLLOW` answers for a symlink.
const ELOOP: i32 = nix::errno::Errno::ELOOP as i32;

/// How often an operation is tried again when its file handle went stale.
const STALE_RETRIES: usize = 3;

/// `ESTALE` ("Stale file handle", os error 116): on NFS or GlusterFS, a
/// file another host renamed over or removed after we looked it up.
pub(crate) fn is_stale(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ESTALE)
}

/// A file that is not there any more: missing, or (on a shared file
/// system) its handle gone stale because another host renamed or removed
/// it. Callers treat both alike: look again by name, or skip it.
pub(crate) fn is_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || is_stale(e)
}

/// Runs `op` again while it fails with ESTALE, a few times: each try looks
/// the path up afresh, which finds the file now under that name.
pub(crate) fn retry_stale<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 0;
    loop {
        match op() {
            Err(e) if is_stale(&e) && tries < STALE_RETRIES => tries += 1,
            other => return other,
        }
    }
}

/// Open options that refuse a symlink as the last component.
pub(crate) fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.custom_flags(OFlag::O_NOFOLLOW.bits());
    o
}

/// Opens an existing file for reading.
pub(crate) fn open(path: &Path) -> io::Result<File> {
    retry_stale(|| options().read(true).open(path)).map_err(|e| refused(path, e))
}

/// Reads a whole file. A read that hits ESTALE (another host replaced the
/// file, as a uidlist rewrite does) opens the path again and starts over.
pub(crate) fn read(path: &Path) -> io::Result<Vec<u8>> {
    retry_stale(|| {
        let mut f = open(path)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(buf)
    })
}

/// Creates `path` afresh for writing, replacing whatever stands there (a
/// leftover temporary file, or a planted symlink, which is removed rather
/// than written through). The caller holds the lock that owns `path`.
pub(crate) fn recreate(path: &Path, mode: u32) -> io::Result<File> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    options().write(true).create_new(true).mode(mode).open(path)
}

/// True for a symlink where a file was expected.
pub(crate) fn is_symlink_error(e: &io::Error) -> bool {
    e.raw_os_error() == Some(ELOOP)
}

/// A state file that is a symlink reads as missing (and is replaced by the
/// next write), so a planted link neither leaks nor locks anything.
fn refused(path: &Path, e: io::Error) -> io::Error {
    if is_symlink_error(&e) {
        log::warn!("{}: is a symlink; not followed", path.display());
        return io::Error::new(io::ErrorKind::NotFound, "symlink not followed");
    }
    e
}

/// True if `path` is a directory itself, not a symlink to one.
pub(crate) fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Checks that a folder's `cur/`, `new/` and `tmp/` are real directories
/// before anything is written into them.
pub(crate) fn check_maildir(dir: &Path) -> io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        if !is_real_dir(&dir.join(sub)) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}/{sub} is not a directory", dir.display()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_are_neither_read_nor_written_through() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "theirs").unwrap();
        let link = d.path().join("link");
        symlink(&victim, &link).unwrap();
        let e = read(&link).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        use std::io::Write;
        recreate(&link, 0o600).unwrap().write_all(b"mine").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"theirs");
        assert_eq!(read(&link).unwrap(), b"mine");
        assert!(options().append(true).open(&victim).is_ok());
        let e = options().append(true).open(&link);
        assert!(e.is_ok(), "now a plain file");

        let md = d.path().join("md");
        for sub in ["cur", "new"] {
            fs::create_dir_all(md.join(sub)).unwrap();
        }
        symlink(d.path(), md.join("tmp")).unwrap();
        assert!(check_maildir(&md).is_err());
        fs::remove_file(md.join("tmp")).unwrap();
        fs::create_dir(md.join("tmp")).unwrap();
        assert!(check_maildir(&md).is_ok());
    }

    #[test]
    fn stale_handles_are_retried_then_reported() {
        let stale = || io::Error::from_raw_os_error(libc::ESTALE);
        assert!(is_gone(&stale()) && !is_gone(&io::Error::other("x")));
        let mut calls = 0;
        let r = retry_stale(|| {
            calls += 1;
            if calls < 3 {
                Err(stale())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
        let mut calls = 0;
        let r: io::Result<()> = retry_stale(|| {
            calls += 1;
            Err(stale())
        });
        assert!(is_stale(&r.unwrap_err()));
        assert_eq!(calls, STALE_RETRIES + 1);
    }
}
