//! Which kind of file system a Maildir lives on: inotify only reports
//! changes made through this kernel, so on a file system other machines
//! write to (NFS, FUSE such as GlusterFS, CIFS, Ceph…) the watcher must
//! poll instead.

use std::path::Path;

/// `statfs` magic numbers of file systems that other hosts can change
/// behind this kernel's back (linux/magic.h and the file systems' own
/// headers).
const SHARED_MAGICS: &[(i64, &str)] = &[
    (0x6969, "nfs"),
    (0x6573_5546, "fuse"),
    (0xFF53_4D42, "cifs"),
    (0xFE53_4D42, "smb2"),
    (0x517B, "smb"),
    (0x00C3_6400, "ceph"),
    (0x5346_414F, "afs"),
    (0x6B41_4653, "kafs"),
    (0x0102_1997, "9p"),
    (0x7375_7245, "coda"),
    (0x7461_636F, "ocfs2"),
    (0x0116_1970, "gfs2"),
    (0x0BD0_0BD0, "lustre"),
    (0x1373_2BE3, "orangefs"),
];

/// The name of the shared file system `path` is on, or None when it is
/// local (or cannot be told: then inotify is tried, as before).
pub(crate) fn shared_fs_name(path: &Path) -> Option<&'static str> {
    let st = nix::sys::statfs::statfs(path).ok()?;
    // The magic is a signed word on some targets: compare as u32, which
    // is all the magics use.
    let magic = st.filesystem_type().0 as i64 & 0xFFFF_FFFF;
    SHARED_MAGICS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_dir_is_local() {
        // /proc is procfs, never one of the shared ones.
        assert_eq!(shared_fs_name(Path::new("/proc")), None);
    }
}
