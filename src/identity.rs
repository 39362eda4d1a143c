//! Per-session Unix identity for `userdb = passwd`: each connection thread
//! takes its user's uid, gid and groups before it touches a file of theirs,
//! and keeps them until it ends.
//!
//! # Why per-thread credentials, and why `setresuid`
//!
//! On Linux credentials belong to threads; glibc's `setuid`/`setresuid`
//! wrappers make them look process-wide by signalling every thread to make
//! the same change. The raw system calls (`SYS_setgroups`,
//! `SYS_setresgid`, `SYS_setresuid`) change only the calling thread, which
//! is what a thread-per-connection server needs.
//!
//! The session thread sets *all three* uids (real, effective, saved) and
//! all three gids to the user's. Two alternatives were rejected:
//! - `setfsuid`/`setfsgid` change only file-access checks: the thread
//!   keeps euid 0 and `CAP_SETUID`, so a handler bug (or a library) could
//!   switch back to root or to bob. Fine for "switch, write, switch back",
//!   not for a thread that parses a client's commands.
//! - keeping saved uid 0 so the thread can return to root for cleanup:
//!   the same hole.
//!
//! With every uid non-zero the kernel clears the thread's permitted and
//! effective capabilities (no `SECBIT_KEEP_CAPS` is set), so nothing the
//! thread does afterwards can regain root or take another user's identity:
//! `become` checks this by trying to go back and expecting `EPERM`. A
//! connection serves one user for its life (IMAP has no way to log in
//! twice, and `UNAUTHENTICATE` is not offered), so nothing needs undoing.
//! Delivery, which writes for many users, runs each recipient's write on a
//! fresh short-lived thread that switches the same one-way ([`run_as`]).
//!
//! # What runs as root, and with what
//!
//! Before any thread starts, [`keep_only_setid_capabilities`] reduces the
//! process to `CAP_SETUID` and `CAP_SETGID`: uid 0 stays (PAM's `pam_unix`
//! reads the root-owned `/etc/shadow` as its owner, and NSS lookups need
//! nothing more), but root's overrides (`CAP_DAC_OVERRIDE`,
//! `CAP_DAC_READ_SEARCH`, `CAP_FOWNER`, `CAP_CHOWN`, …) are gone, so even
//! the threads that stay uid 0 cannot open a mode-0700 home of a user.
//! Threads that stay uid 0 with those two capabilities:
//! - the accept threads and each connection thread *before* login: TLS
//!   handshakes, command parsing up to LOGIN/AUTHENTICATE, the PAM and NSS
//!   lookups (PAM runs on a helper thread spawned from there, see
//!   `auth::pam`);
//! - the mailbox watcher thread: it only reads inotify events (names, no
//!   content). The watches are added by the session threads themselves
//!   (`Watcher::subscribe` runs on the caller), so with the user's rights:
//!   a session cannot watch a directory its user cannot read;
//! - the signal thread (the main thread): SIGHUP re-reads the passwd file
//!   and the TLS certificate, both root's files;
//! - LMTP and auth-socket connection threads: they parse, look users up and
//!   hand each recipient's write to [`run_as`].
//!
//! Logging goes to file descriptors opened at startup (stderr/journal);
//! trace files are opened when a connection starts, before login.
//!
//! PAM's session stacks (`pam_open_session`), the ones whose modules change
//! ids, are never called: only `pam_authenticate` and `pam_acct_mgmt`.

#![allow(unsafe_code)]

use std::io;

/// The ids a session thread takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (from `getgrouplist`), primary gid included.
    pub groups: Vec<u32>,
}

/// `CAP_SETGID` and `CAP_SETUID` (linux/capability.h).
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
/// The capability set the process keeps in `userdb = passwd` mode.
pub const KEPT_CAPABILITIES: u64 = (1 << CAP_SETGID) | (1 << CAP_SETUID);

/// Makes the calling thread `creds` for good: supplementary groups, then
/// the gids, then the uids (only root may change groups). Fails, leaving
/// the thread unusable for any user's files, if a step or the check after
/// it fails; the caller must then end the thread's session.
pub fn become_user(creds: &Credentials) -> Result<(), String> {
    if creds.uid == 0 || creds.gid == 0 {
        return Err("refusing to switch a session to uid or gid 0".into());
    }
    let fail = |step: &str| {
        format!(
            "cannot switch this thread to uid {} gid {}: {step}: {}",
            creds.uid,
            creds.gid,
            io::Error::last_os_error()
        )
    };
    let groups: Vec<libc::gid_t> = creds.groups.clone();
    // SAFETY: raw system calls with plain integer arguments and a pointer
    // to `groups`, which outlives the call; they affect only this thread.
    unsafe {
        if libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) != 0 {
            return Err(fail("setgroups"));
        }
        let g = creds.gid as libc::c_long;
        if libc::syscall(libc::SYS_setresgid, g, g, g) != 0 {
            return Err(fail("setresgid"));
        }
        let u = creds.uid as libc::c_long;
        if libc::syscall(libc::SYS_setresuid, u, u, u) != 0 {
            return Err(fail("setresuid"));
        }
    }
    let (uids, gids) = (thread_uids(), thread_gids());
    if uids != [creds.uid; 3] || gids != [creds.gid; 3] {
        return Err(format!(
            "switching to uid {} gid {} did not take effect (uids {uids:?}, gids {gids:?})",
            creds.uid, creds.gid
        ));
    }
    // SAFETY: as above; expected to fail with EPERM.
    let back = unsafe { libc::syscall(libc::SYS_setresuid, 0, 0, 0) };
    if back == 0 {
        return Err("switched to a user, but could switch back to root".into());
    }
    Ok(())
}

/// Runs `f` on a new thread that has become `creds` (and ends with it), and
/// returns its result: how a thread serving many users (LMTP, `roost
/// deliver`) writes one user's mail without ever switching back.
pub fn run_as<T: Send>(creds: &Credentials, f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("as-user".into())
            .spawn_scoped(scope, || {
                become_user(creds)?;
                Ok(f())
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        worker
            .join()
            .unwrap_or_else(|_| Err("the delivery thread panicked".into()))
    })
}

/// This thread's real, effective and saved uids.
pub fn thread_uids() -> [u32; 3] {
    let (mut r, mut e, mut s) = (u32::MAX, u32::MAX, u32::MAX);
    // SAFETY: getresuid writes three uid_t through valid pointers.
    unsafe {
        libc::syscall(libc::SYS_getresuid, &mut r, &mut e, &mut s);
    }
    [r, e, s]
}

fn thread_gids() -> [u32; 3] {
    let (mut r, mut e, mut s) = (u32::MAX, u32::MAX, u32::MAX);
    // SAFETY: getresgid writes three gid_t through valid pointers.
    unsafe {
        libc::syscall(libc::SYS_getresgid, &mut r, &mut e, &mut s);
    }
    [r, e, s]
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets as two 32-bit halves.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// Reduces the process to [`KEPT_CAPABILITIES`] (effective and permitted;
/// nothing inheritable). Capabilities are per thread too, so this must run
/// while the process has a single thread: every thread started afterwards
/// inherits the reduced sets. Refuses when other threads already exist.
pub fn keep_only_setid_capabilities() -> Result<(), String> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(format!(
            "dropping capabilities needs a single-threaded process, found {threads} threads"
        ));
    }
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let low = KEPT_CAPABILITIES as u32;
    let data = [
        CapData {
            effective: low,
            permitted: low,
            inheritable: 0,
        },
        CapData::default(),
    ];
    // SAFETY: capset reads a header and two data structs laid out as
    // linux/capability.h declares them; both outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(format!(
            "cannot drop capabilities: {}",
            io::Error::last_os_error()
        ));
    }
    let eff = effective_capabilities("/proc/thread-self/status")?;
    if eff != KEPT_CAPABILITIES {
        return Err(format!(
            "capabilities after dropping: {eff:#x}, expected {KEPT_CAPABILITIES:#x}"
        ));
    }
    Ok(())
}

/// `Threads:` of /proc/self/status.
fn thread_count() -> Result<usize, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    status_field(&status, "Threads:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "/proc/self/status has no Threads: line".into())
}

/// `CapEff:` of a /proc status file.
pub fn effective_capabilities(path: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    status_field(&status, "CapEff:")
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .ok_or_else(|| format!("{path} has no CapEff: line"))
}

fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_parse() {
        let s = "Name:\tx\nThreads:\t3\nCapEff:\t00000000000000c0\n";
        assert_eq!(status_field(s, "Threads:"), Some("3"));
        assert_eq!(
            status_field(s, "CapEff:").and_then(|v| u64::from_str_radix(v, 16).ok()),
            Some(KEPT_CAPABILITIES)
        );
    }

    #[test]
    fn root_is_never_a_session_identity() {
        let root = Credentials {
            uid: 0,
            gid: 0,
            groups: vec![],
        };
        assert!(become_user(&root).unwrap_err().contains("uid or gid 0"));
    }

    #[test]
    fn a_worker_thread_switches_alone() {
        if thread_uids()[1] != 0 {
            eprintln!("not root: skipping the per-thread switch test");
            return;
        }
        let nobody = Credentials {
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        };
        let seen = run_as(&nobody, thread_uids).unwrap();
        assert_eq!(seen, [65534; 3]);
        // This thread (and so the process) is still root.
        assert_eq!(thread_uids(), [0; 3]);
    }
}
