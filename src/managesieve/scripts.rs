//! A user's Sieve scripts where Pigeonhole keeps them: `NAME.sieve` files
//! in the script directory (`~/sieve`) and the active one named by a
//! symlink (`~/.dovecot.sieve` → `sieve/NAME.sieve`). Writes go through a
//! temporary file and a rename, so a script is never seen half-written;
//! nothing here follows a link out of the directory except the active
//! link itself, which is only read as a name.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::store::nofollow;

pub(crate) struct ScriptStore {
    dir: PathBuf,
    active: PathBuf,
}

/// Why a request on the store failed, as ManageSieve's response codes
/// name it (RFC 5804 §1.3).
#[derive(Debug)]
pub(crate) enum StoreFail {
    NonExistent,
    AlreadyExists,
    Active,
    BadName,
    Io(io::Error),
}

impl From<io::Error> for StoreFail {
    fn from(e: io::Error) -> Self {
        StoreFail::Io(e)
    }
}

const SUFFIX: &str = ".sieve";

/// RFC 5804 §1.6 names: UTF-8 without control characters; as Pigeonhole,
/// no `/` and no leading `.` either (they would name other files).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains('/')
        && !name
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

impl ScriptStore {
    pub(crate) fn new(dir: PathBuf, active: PathBuf) -> ScriptStore {
        ScriptStore { dir, active }
    }

    fn path(&self, name: &str) -> Result<PathBuf, StoreFail> {
        if !valid_name(name) {
            return Err(StoreFail::BadName);
        }
        Ok(self.dir.join(format!("{name}{SUFFIX}")))
    }

    fn ensure_dir(&self) -> io::Result<()> {
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
        {
            Ok(()) if nofollow::is_real_dir(&self.dir) => Ok(()),
            Ok(()) => Err(io::Error::other("the script directory is not a directory")),
            Err(e) => Err(e),
        }
    }

    /// Script names, sorted, and which is active.
    pub(crate) fn list(&self) -> io::Result<(Vec<String>, Option<String>)> {
        let mut names = Vec::new();
        if nofollow::is_real_dir(&self.dir) {
            for e in fs::read_dir(&self.dir)? {
                let e = e?;
                let file = e.file_name();
                let Some(file) = file.to_str() else { continue };
                if let Some(name) = file.strip_suffix(SUFFIX) {
                    if valid_name(name) && e.file_type().is_ok_and(|t| t.is_file()) {
                        names.push(name.to_string());
                    }
                }
            }
        }
        names.sort();
        let active = self.active_name();
        Ok((names, active))
    }

    /// The active script's name: the link's target, when it points at a
    /// script in our directory.
    pub(crate) fn active_name(&self) -> Option<String> {
        let target = fs::read_link(&self.active).ok()?;
        let file = target.file_name()?.to_str()?;
        let name = file.strip_suffix(SUFFIX)?;
        let resolved = self.active.parent()?.join(&target);
        let same_dir = resolved.parent().and_then(|p| fs::canonicalize(p).ok())
            == fs::canonicalize(&self.dir).ok();
        (same_dir && valid_name(name)).then(|| name.to_string())
    }

    pub(crate) fn get(&self, name: &str) -> Result<String, StoreFail> {
        let path = self.path(name)?;
        match nofollow::options().read(true).open(&path) {
            Ok(mut f) => {
                let mut s = String::new();
                io::Read::read_to_string(&mut f, &mut s)?;
                Ok(s)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreFail::NonExistent),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn exists(&self, name: &str) -> bool {
        self.path(name)
            .is_ok_and(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// Stores a script (replacing one of that name) atomically.
    pub(crate) fn put(&self, name: &str, text: &[u8]) -> Result<(), StoreFail> {
        let path = self.path(name)?;
        self.ensure_dir()?;
        let tmp = self.dir.join(format!(".{name}.tmp{}", std::process::id()));
        let written = nofollow::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(text)?;
                f.sync_all()
            });
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
        Ok(())
    }

    pub(crate) fn delete(&self, name: &str) -> Result<(), StoreFail> {
        let path = self.path(name)?;
        if self.active_name().as_deref() == Some(name) {
            return Err(StoreFail::Active);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreFail::NonExistent),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn rename(&self, old: &str, new: &str) -> Result<(), StoreFail> {
        let from = self.path(old)?;
        let to = self.path(new)?;
        if !self.exists(old) {
            return Err(StoreFail::NonExistent);
        }
        if self.exists(new) {
            return Err(StoreFail::AlreadyExists);
        }
        let was_active = self.active_name().as_deref() == Some(old);
        // link(2) then unlink: never replaces a script that appeared meanwhile.
        fs::hard_link(&from, &to).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                StoreFail::AlreadyExists
            } else {
                StoreFail::Io(e)
            }
        })?;
        if was_active {
            self.activate(new)?;
        }
        fs::remove_file(&from)?;
        Ok(())
    }

    /// Makes `name` the active script; `""` deactivates.
    pub(crate) fn set_active(&self, name: &str) -> Result<(), StoreFail> {
        if name.is_empty() {
            return match fs::symlink_metadata(&self.active) {
                Ok(m) if m.file_type().is_symlink() => Ok(fs::remove_file(&self.active)?),
                Ok(_) => Err(StoreFail::Io(io::Error::other(
                    "the active script is not a link",
                ))),
                Err(_) => Ok(()),
            };
        }
        if !self.exists(name) {
            return Err(if valid_name(name) {
                StoreFail::NonExistent
            } else {
                StoreFail::BadName
            });
        }
        self.activate(name)
    }

    fn activate(&self, name: &str) -> Result<(), StoreFail> {
        // A regular file where the link belongs is a script written by hand:
        // kept as a script of its own, as Pigeonhole does.
        if let Ok(m) = fs::symlink_metadata(&self.active) {
            if m.is_file() {
                self.ensure_dir()?;
                let keep = self.dir.join(format!("dovecot.orig{SUFFIX}"));
                if !keep.exists() {
                    fs::rename(&self.active, &keep)?;
                }
            }
        }
        let target = link_target(&self.active, &self.dir, &format!("{name}{SUFFIX}"));
        let tmp = self
            .active
            .with_file_name(format!(".roost-active.tmp{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp)?;
        if let Err(e) = fs::rename(&tmp, &self.active) {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
        Ok(())
    }

    /// Total size and count, for HAVESPACE's quota.
    pub(crate) fn usage(&self, except: &str) -> io::Result<(u64, usize)> {
        let (names, _) = self.list()?;
        let mut size = 0;
        let mut count = 0;
        for n in names.iter().filter(|n| n.as_str() != except) {
            if let Ok(p) = self.path(n) {
                size += fs::symlink_metadata(p).map_or(0, |m| m.len());
                count += 1;
            }
        }
        Ok((size, count))
    }
}

/// `sieve/NAME.sieve` when the link sits beside the directory (Pigeonhole's
/// relative form, which survives moving the home), else the full path.
fn link_target(link: &Path, dir: &Path, file: &str) -> PathBuf {
    match (link.parent(), dir.parent(), dir.file_name()) {
        (Some(a), Some(b), Some(d)) if a == b => Path::new(d).join(file),
        _ => dir.join(file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_activate_rename_delete() {
        let home = tempfile::tempdir().unwrap();
        let s = ScriptStore::new(
            home.path().join("sieve"),
            home.path().join(".dovecot.sieve"),
        );
        s.put("main", b"keep;").unwrap();
        s.put("other", b"discard;").unwrap();
        s.set_active("main").unwrap();
        assert_eq!(
            fs::read_link(home.path().join(".dovecot.sieve")).unwrap(),
            Path::new("sieve/main.sieve")
        );
        assert_eq!(
            s.list().unwrap(),
            (vec!["main".into(), "other".into()], Some("main".into()))
        );
        assert!(matches!(s.delete("main"), Err(StoreFail::Active)));
        assert!(matches!(
            s.rename("main", "other"),
            Err(StoreFail::AlreadyExists)
        ));
        s.rename("main", "renamed").unwrap();
        assert_eq!(s.active_name().as_deref(), Some("renamed"));
        assert_eq!(s.get("renamed").unwrap(), "keep;");
        s.set_active("").unwrap();
        s.delete("renamed").unwrap();
        assert!(matches!(s.get("renamed"), Err(StoreFail::NonExistent)));
        assert!(matches!(s.put("../x", b""), Err(StoreFail::BadName)));
        assert!(matches!(s.put(".hidden", b""), Err(StoreFail::BadName)));
    }
}
