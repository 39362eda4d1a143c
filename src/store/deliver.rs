//! Local delivery (LMTP, `roost deliver`): puts one message into a folder's
//! `new/` the way any Maildir delivery agent does.
//!
//! The message is streamed into `tmp/` (so a 100 MB message never sits in
//! memory), fsynced, renamed into `new/` and `new/` is fsynced: once this
//! returns Ok the message survives a crash, and before that nothing a
//! reader can see exists. Roost's IMAP sessions pick the file up as an
//! outside change (the watcher sees `new/`) and number it then, exactly as
//! they would for a message Postfix's own `virtual` agent had dropped
//! there; the uidlist is not touched here, so delivery never waits on a
//! session holding the uidlist lock.

use super::maildir;
use super::names::{MailboxName, Namespace};
use super::nofollow;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a delivery did not happen.
#[derive(Debug)]
pub enum DeliverError {
    /// The message is larger than the limit (a permanent failure).
    TooLarge { limit: u64 },
    /// The user's quota has no room for it (a permanent failure, as
    /// Dovecot's default `quota_full_tempfail = no`).
    OverQuota,
    /// The disk failed us (a temporary failure: the sender should retry).
    Io(io::Error),
}

impl fmt::Display for DeliverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliverError::TooLarge { limit } => {
                write!(f, "message larger than {limit} bytes")
            }
            DeliverError::OverQuota => f.write_str("quota exceeded"),
            DeliverError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for DeliverError {
    fn from(e: io::Error) -> Self {
        DeliverError::Io(e)
    }
}

/// The result of a delivery: where the file went and its sizes.
#[derive(Debug)]
pub struct Delivered {
    pub path: PathBuf,
    pub size: u64,
    /// The size with CRLF line ends (the name's `,W=`).
    pub vsize: u64,
}

/// Creates the user's INBOX (the Maildir root with `cur/`, `new/`, `tmp/`)
/// if it is missing: mail may arrive before the first login.
pub fn ensure_inbox(root: &Path) -> io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        let path = root.join(sub);
        let mode = super::perms::dir_mode(root);
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(mode & 0o777)
            .create(&path)
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The directory of the folder named `name` (as a client would write it)
/// under `root`, if that folder exists as a usable Maildir. None for a
/// missing or invalid name: delivery then goes to INBOX, as Dovecot does
/// when `lda_mailbox_autocreate` is off.
pub fn existing_folder(root: &Path, ns: &Namespace, name: &str) -> Option<PathBuf> {
    // With a namespace prefix (INBOX.), "Lists" means "INBOX.Lists".
    let parsed: MailboxName = ns
        .parse(name)
        .or_else(|e| match ns.prefix.is_empty() {
            true => Err(e),
            false => ns.parse(&format!("{}{name}", ns.prefix)),
        })
        .ok()?;
    let dir = match ns.dir_name(&parsed) {
        None => root.to_path_buf(),
        Some(d) => root.join(d),
    };
    nofollow::check_maildir(&dir).ok()?;
    Some(dir)
}

/// Delivers `prefix` (added header lines) followed by `body` into the
/// Maildir folder `dir`. Reads `body` to its end even when the message is
/// too large, so a caller reading from a protocol stream stays in step.
/// A message the user's `quota` has no room for is refused.
pub fn deliver(
    dir: &Path,
    prefix: &[u8],
    body: &mut dyn Read,
    max_size: u64,
    quota: &super::quota::Quota,
) -> Result<Delivered, DeliverError> {
    nofollow::check_maildir(dir)?;
    let base = maildir::new_base(&super::dotlock::hostname());
    let tmp = dir.join("tmp").join(&base);
    let mode = super::perms::file_mode(dir);
    let mut file = nofollow::options()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    super::perms::widen_file(&file, mode)?;
    let written = write_counted(&mut file, prefix, body, max_size).and_then(|sizes| {
        file.sync_all()?;
        Ok(sizes)
    });
    drop(file);
    let (size, vsize) = match written {
        Ok(Some(sizes)) => sizes,
        Ok(None) => {
            let _ = fs::remove_file(&tmp);
            return Err(DeliverError::TooLarge { limit: max_size });
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    let fits = quota.check(size, 1);
    if !matches!(fits, Ok(Ok(()))) {
        let _ = fs::remove_file(&tmp);
        return Err(match fits {
            Err(e) => e.into(),
            _ => DeliverError::OverQuota,
        });
    }
    let dest = dir.join("new").join(format!("{base},S={size},W={vsize}"));
    if let Err(e) = fs::rename(&tmp, &dest) {
        let _ = fs::remove_file(&tmp);
        return Err(e.into());
    }
    quota.record(size as i64, 1);
    fs::File::open(dir.join("new"))?.sync_all()?;
    Ok(Delivered {
        path: dest,
        size,
        vsize,
    })
}

/// Gives a message already delivered (and fsynced) another name in folder
/// `dir`'s `new/`: a hard link, so one message for several recipients
/// takes its space once. The link appears whole or not at all, so it goes
/// straight into `new/`. Fails across file systems (EXDEV), when the
/// source has meanwhile moved to `cur/`, or where links are refused; the
/// caller then writes a copy.
pub fn link_into(dir: &Path, source: &Delivered) -> io::Result<Delivered> {
    nofollow::check_maildir(dir)?;
    let base = maildir::new_base(&super::dotlock::hostname());
    let name = format!("{base},S={},W={}", source.size, source.vsize);
    let dest = dir.join("new").join(name);
    fs::hard_link(&source.path, &dest)?;
    fs::File::open(dir.join("new"))?.sync_all()?;
    Ok(Delivered {
        path: dest,
        size: source.size,
        vsize: source.vsize,
    })
}

/// Copies `prefix` and `body` into `out`, counting the size and the size
/// with CRLF line ends (the `,W=` field). None when over `max_size`; the
/// rest of `body` is then read and dropped.
fn write_counted(
    out: &mut dyn Write,
    prefix: &[u8],
    body: &mut dyn Read,
    max_size: u64,
) -> io::Result<Option<(u64, u64)>> {
    let mut counter = Counter::default();
    counter.add(prefix);
    out.write_all(prefix)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut too_large = false;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if too_large {
            continue;
        }
        counter.add(&buf[..n]);
        if counter.size > max_size {
            too_large = true;
            continue;
        }
        out.write_all(&buf[..n])?;
    }
    Ok((!too_large).then_some((counter.size, counter.vsize)))
}

/// Size and CRLF size of a byte stream seen in pieces.
#[derive(Default)]
struct Counter {
    size: u64,
    vsize: u64,
    last_was_cr: bool,
}

impl Counter {
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' && !self.last_was_cr {
                self.vsize += 1;
            }
            self.last_was_cr = b == b'\r';
        }
        self.size += bytes.len() as u64;
        self.vsize += bytes.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_into_new_with_sizes_and_refuses_oversize() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("Maildir");
        ensure_inbox(&root).unwrap();
        let none = crate::store::quota::Quota::new(root.clone(), Default::default());
        let mut body: &[u8] = b"Subject: x\n\nhello\r\n";
        let got = deliver(&root, b"Delivered-To: a\n", &mut body, 1000, &none).unwrap();
        let name = got.path.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.ends_with(",S=35,W=38"), "{name}");
        assert_eq!(
            fs::read(&got.path).unwrap(),
            b"Delivered-To: a\nSubject: x\n\nhello\r\n"
        );
        let mut big: &[u8] = &[b'x'; 5000];
        assert!(matches!(
            deliver(&root, b"", &mut big, 1000, &none),
            Err(DeliverError::TooLarge { .. })
        ));
        assert!(big.is_empty(), "the rest was read");
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(root.join("new")).unwrap().count(), 1);

        let other = d.path().join("Other");
        ensure_inbox(&other).unwrap();
        let linked = link_into(&other, &got).unwrap();
        assert_eq!(
            fs::read(&linked.path).unwrap(),
            fs::read(&got.path).unwrap()
        );
        assert!(linked.path.to_str().unwrap().ends_with(",S=35,W=38"));
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(&got.path).unwrap().nlink(), 2);

        let ns = Namespace::default();
        assert_eq!(existing_folder(&root, &ns, "Work"), None);
        ensure_inbox(&root.join(".Work")).unwrap();
        assert_eq!(
            existing_folder(&root, &ns, "Work"),
            Some(root.join(".Work"))
        );
        assert_eq!(existing_folder(&root, &ns, "../x"), None);
        let prefixed = Namespace {
            prefix: "INBOX.".into(),
            ..Namespace::default()
        };
        assert_eq!(
            existing_folder(&root, &prefixed, "Work"),
            Some(root.join(".Work"))
        );
        fs::remove_dir(root.join("tmp")).unwrap();
        std::os::unix::fs::symlink(d.path(), root.join("tmp")).unwrap();
        let mut body: &[u8] = b"x";
        assert!(matches!(
            deliver(&root, b"", &mut body, 1000, &none),
            Err(DeliverError::Io(_))
        ));
    }

    #[test]
    fn refuses_what_the_quota_has_no_room_for() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("Maildir");
        ensure_inbox(&root).unwrap();
        let limits = crate::store::quota::Limits {
            bytes: Some(40),
            messages: None,
        };
        let quota = crate::store::quota::Quota::new(root.clone(), limits);
        let mut body: &[u8] = b"Subject: x\n\nhello\n";
        deliver(&root, b"", &mut body, 1000, &quota).unwrap();
        let mut body: &[u8] = b"Subject: x\n\nhello again, longer\n";
        assert!(matches!(
            deliver(&root, b"", &mut body, 1000, &quota),
            Err(DeliverError::OverQuota)
        ));
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(root.join("new")).unwrap().count(), 1);
        assert_eq!(
            fs::read_to_string(root.join("maildirsize")).unwrap(),
            "40S\n0 0\n18 1\n"
        );
    }
}
