//! Permissions of what Roost creates in a Maildir, as Dovecot derives
//! them: from the directory the new entry goes into. A mailbox directory of
//! mode 0700 (the usual home Maildir) gives files 0600 and directories
//! 0700; one an administrator made 0770 (or 2770, setgid, for a shared
//! group) gives 0660 and 0770 (2770), so the group keeps its access.
//!
//! The umask would clear group bits, so a wider mode is set again after
//! creation (the private case, the common one, costs only the `stat`).

use std::fs::{self, File, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// The mode of a new file in `mailbox` (the directory holding `tmp/`,
/// `cur/`, `new/`): the mailbox's mode without execute bits.
pub fn file_mode(mailbox: &Path) -> u32 {
    fs::metadata(mailbox).map_or(0o600, |m| m.mode() & 0o666)
}

/// The mode of a new directory inside `parent`: `parent`'s, setgid kept.
pub fn dir_mode(parent: &Path) -> u32 {
    fs::metadata(parent).map_or(0o700, |m| m.mode() & 0o2777)
}

/// Gives `file` exactly `mode` when the umask may have narrowed it.
pub fn widen_file(file: &File, mode: u32) -> io::Result<()> {
    if mode & 0o077 == 0 {
        return Ok(());
    }
    file.set_permissions(Permissions::from_mode(mode))
}

/// Gives the file or directory at `path` exactly `mode` (see `widen_file`).
pub fn widen_path(path: &Path, mode: u32) -> io::Result<()> {
    if mode & 0o2077 == 0 {
        return Ok(());
    }
    // Never through a symlink: `path` was just created by us, but a
    // planted link must not make us chmod someone else's file.
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::other("a symlink where a new entry was expected"));
    }
    fs::set_permissions(path, Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("md");
        fs::create_dir(&md).unwrap();
        fs::set_permissions(&md, Permissions::from_mode(0o700)).unwrap();
        assert_eq!((file_mode(&md), dir_mode(&md)), (0o600, 0o700));
        fs::set_permissions(&md, Permissions::from_mode(0o2770)).unwrap();
        assert_eq!((file_mode(&md), dir_mode(&md)), (0o660, 0o2770));
        let f = md.join("f");
        let file = File::create(&f).unwrap();
        widen_file(&file, 0o660).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o660);
        assert_eq!(file_mode(&dir.path().join("missing")), 0o600);
    }
}
