//! `roost check`: finds the problems an administrator would otherwise meet
//! at startup or at a user's first login: an unknown run-as account,
//! serving as root, an unreadable certificate or key, a users file others
//! can read, users whose password scheme cannot be verified, mail roots,
//! folders and `dovecot-uidlist` files the run-as account cannot read or
//! write, mail the systemd unit's sandbox keeps read-only, ports in use,
//! LMTP and auth sockets that cannot be created.
//!
//! Access is judged from owners and mode bits as the run-as account would
//! see them (ACLs and capabilities are not considered), so it works the
//! same whether `check` runs as root or as that account.

mod sandbox;
mod sockets;

pub use sandbox::Sandbox;

use crate::auth::passwd::PasswdFile;
use crate::auth::scheme::unsupported_scheme;
use crate::config::Config;
use crate::net::TlsSettings;
use crate::privileges::{self, Plan};
use nix::unistd::{Gid, Uid};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub message: String,
}

/// How many mail roots are reported before the rest are only counted.
const MAX_MAIL_REPORTS: usize = 5;

const READ: u32 = 4;
const WRITE: u32 = 2;
const SEARCH: u32 = 1;

/// The account the server serves as: uid and every group it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gids: Vec<u32>,
    pub label: String,
    /// The account's user name, when it has one.
    pub name: Option<String>,
}

impl Account {
    /// What the server will run as under `plan`.
    pub fn of(plan: &Plan) -> Account {
        match plan {
            Plan::Stay => {
                let mut gids = vec![Gid::effective().as_raw()];
                gids.extend(
                    nix::unistd::getgroups()
                        .unwrap_or_default()
                        .into_iter()
                        .map(Gid::as_raw),
                );
                let uid = Uid::effective().as_raw();
                Account {
                    uid,
                    gids,
                    label: format!("uid {uid} (the current user)"),
                    name: nix::unistd::User::from_uid(Uid::from_raw(uid))
                        .ok()
                        .flatten()
                        .map(|u| u.name),
                }
            }
            Plan::Switch(id) => {
                let mut gids = vec![id.gid];
                if let Some(name) = id.name.as_deref().and_then(|n| CString::new(n).ok()) {
                    if let Ok(list) = nix::unistd::getgrouplist(&name, Gid::from_raw(id.gid)) {
                        gids.extend(list.into_iter().map(Gid::as_raw));
                    }
                }
                let label = match &id.name {
                    Some(n) => format!("user {n} (uid {})", id.uid),
                    None => format!("uid {}", id.uid),
                };
                Account {
                    uid: id.uid,
                    gids,
                    label,
                    name: id.name.clone(),
                }
            }
        }
    }

    /// `user:group` (or uids) for a `chown` that hands mail to the account.
    pub fn owner_spec(&self) -> String {
        let gid = self.gids.first().copied().unwrap_or(self.uid);
        let group = nix::unistd::Group::from_gid(Gid::from_raw(gid))
            .ok()
            .flatten()
            .map_or(gid.to_string(), |g| g.name);
        format!(
            "{}:{group}",
            self.name.clone().unwrap_or(self.uid.to_string())
        )
    }

    /// Whether mode bits grant `want` (READ|WRITE|SEARCH) on a file with
    /// this owner, group and mode. Root passes every check.
    pub fn permits(&self, owner: u32, group: u32, mode: u32, want: u32) -> bool {
        if self.uid == 0 {
            return true;
        }
        let bits = if self.uid == owner {
            mode >> 6
        } else if self.gids.contains(&group) {
            mode >> 3
        } else {
            mode
        } & 7;
        bits & want == want
    }

    /// `want` on `path`, plus search permission on every directory above it.
    pub fn can(&self, path: &Path, want: u32) -> bool {
        let Ok(path) = std::path::absolute(path) else {
            return false;
        };
        let allowed = |p: &Path, want: u32| match std::fs::metadata(p) {
            Ok(m) => self.permits(m.uid(), m.gid(), m.mode(), want),
            Err(_) => false,
        };
        path.ancestors().skip(1).all(|dir| allowed(dir, SEARCH)) && allowed(&path, want)
    }
}

/// Runs every check on a configuration that parsed; `sandbox` is the
/// systemd unit that will run it, when there is one.
pub fn run(config: &Config, sandbox: Option<&Sandbox>) -> Vec<Finding> {
    let mut out = Vec::new();
    let account = check_account(config, &mut out);
    check_tls(config, account.as_ref(), &mut out);
    check_pam(config, &mut out);
    let passwd = if config.uses_passwd_file() {
        check_passwd(config, account.as_ref(), &mut out)
    } else {
        None
    };
    if let Some(passwd) = &passwd {
        check_password_schemes(passwd, &mut out);
    }
    if let (Some(passwd), Some(account)) = (&passwd, &account) {
        check_mail_roots(config, passwd, account, &mut out);
    }
    if let (Some(passwd), Some(sandbox)) = (&passwd, sandbox) {
        check_sandbox(config, passwd, sandbox, &mut out);
    }
    if let (Some(dir), Some(account)) = (&config.trace_dir, &account) {
        if dir.is_dir() && !account.can(dir, WRITE | SEARCH) {
            warn(
                &mut out,
                format!(
                    "trace_dir {} is not writable by {}",
                    dir.display(),
                    account.label
                ),
            );
        }
    }
    check_ports(config, &mut out);
    sockets::check(config, sandbox, &mut out);
    out
}

fn error(out: &mut Vec<Finding>, message: String) {
    out.push(Finding {
        level: Level::Error,
        message,
    });
}

fn warn(out: &mut Vec<Finding>, message: String) {
    out.push(Finding {
        level: Level::Warning,
        message,
    });
}

/// The run-as account, or None if it cannot be known.
fn check_account(config: &Config, out: &mut Vec<Finding>) -> Option<Account> {
    let plan = match privileges::resolve(&config.user, &config.group) {
        Ok(p) => p,
        Err(e) => {
            error(out, e);
            return None;
        }
    };
    let account = Account::of(&plan);
    if config.userdb == crate::config::Userdb::Passwd {
        // Root by design: sessions take their users' identities.
        return Some(account);
    }
    if let Err(e) = privileges::refuse_root(account.uid, config.allow_root) {
        error(out, e);
    }
    Some(account)
}

/// `passdb = pam` with no service file: PAM would use its `other` stack.
fn check_pam(config: &Config, out: &mut Vec<Finding>) {
    if !config.passdb.contains(&crate::config::Passdb::Pam) {
        return;
    }
    let file = Path::new("/etc/pam.d").join(&config.pam_service);
    if !file.exists() {
        warn(
            out,
            format!(
                "pam_service {}: {} does not exist, so PAM uses its `other` stack \
                 (often pam_deny: nobody can log in)",
                config.pam_service,
                file.display()
            ),
        );
    }
}

fn check_tls(config: &Config, account: Option<&Account>, out: &mut Vec<Finding>) {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return;
    };
    if let Err(e) = TlsSettings::load(
        cert,
        key,
        config.tls_session_tickets,
        config.tls_client_ca.as_deref(),
    ) {
        error(out, format!("TLS: {e}"));
        return;
    }
    if let Some(account) = account {
        for file in [cert, key] {
            if !account.can(file, READ) {
                warn(
                    out,
                    format!(
                        "{} is not readable by {}: SIGHUP cannot reload it after the switch \
                         (the copy read at startup stays in use)",
                        file.display(),
                        account.label
                    ),
                );
            }
        }
    }
}

fn check_passwd(
    config: &Config,
    account: Option<&Account>,
    out: &mut Vec<Finding>,
) -> Option<PasswdFile> {
    let path = &config.passwd_file;
    let passwd = match PasswdFile::open(path) {
        Ok(p) => p,
        Err(e) => {
            error(out, format!("users file: {e}"));
            return None;
        }
    };
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.mode() & 0o004 != 0 {
            warn(
                out,
                format!(
                    "{} is readable by every local user, and it holds password hashes: \
                     chmod o-r it",
                    path.display()
                ),
            );
        }
        if meta.mode() & 0o002 != 0 {
            error(
                out,
                format!(
                    "{} is writable by every local user: chmod o-w it",
                    path.display()
                ),
            );
        }
    }
    if let Some(account) = account {
        if !account.can(path, READ) {
            warn(
                out,
                format!(
                    "{} is not readable by {}: edits and SIGHUP will not be picked up \
                     (the users read at startup stay in use)",
                    path.display(),
                    account.label
                ),
            );
        }
    }
    if passwd.user_count() == 0 {
        warn(out, format!("{} has no users", path.display()));
    }
    Some(passwd)
}

/// Each user's Maildir must be writable by the run-as account, or, when it
/// does not exist yet, the nearest directory above it (it is created at the
/// first login).
fn check_mail_roots(
    config: &Config,
    passwd: &PasswdFile,
    account: &Account,
    out: &mut Vec<Finding>,
) {
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for entry in passwd.entries() {
        let root = match config.mail_root(&entry.name, entry.home.as_deref(), &entry.extra) {
            Ok(root) => root,
            Err(why) => {
                problems.push(format!("user {}: {why}", entry.name));
                continue;
            }
        };
        if !seen.insert(root.clone()) {
            continue;
        }
        if let Some(problem) = mail_root_problem(&root, account) {
            problems.push(format!("user {}: {problem}", entry.name));
        }
    }
    let extra = problems.len().saturating_sub(MAX_MAIL_REPORTS);
    for p in problems.into_iter().take(MAX_MAIL_REPORTS) {
        error(out, p);
    }
    if extra > 0 {
        error(
            out,
            format!("{extra} more users have the same kind of problem"),
        );
    }
}

fn mail_root_problem(root: &Path, account: &Account) -> Option<String> {
    let who = &account.label;
    if root.is_dir() {
        return mail_tree_problem(root, account).map(|(path, what)| {
            format!(
                "{} is not {what} by {who}: SELECT, APPEND and new mail there fail \
                 (Permission denied); fix: chown -R {} {}",
                path.display(),
                account.owner_spec(),
                root.display()
            )
        });
    }
    let existing: PathBuf = root
        .ancestors()
        .skip(1)
        .find(|p| p.exists())
        .map(Path::to_path_buf)?;
    if existing.is_dir() && account.can(&existing, WRITE | SEARCH) {
        return None;
    }
    Some(format!(
        "{} does not exist and {who} cannot create it in {}",
        root.display(),
        existing.display()
    ))
}

/// Folders looked at in one Maildir before the rest are taken on trust.
const MAX_FOLDERS: usize = 2000;
/// Dovecot's per-folder files that Roost reads and rewrites.
const FOLDER_FILES: &[&str] = &["dovecot-uidlist", "dovecot-keywords"];

/// The first folder directory or index file in the Maildir++ tree at
/// `root` that the account cannot use, with what it lacks. Files are
/// rewritten by rename, but a file the account cannot read is as good as
/// lost, and one it cannot write was left by another user: both are named.
fn mail_tree_problem(root: &Path, account: &Account) -> Option<(PathBuf, &'static str)> {
    let mut folders = vec![root.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(root) {
        folders.extend(
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().as_encoded_bytes().starts_with(b"."))
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .take(MAX_FOLDERS),
        );
    }
    folders.sort();
    for folder in &folders {
        let dirs = std::iter::once(folder.clone())
            .chain(["cur", "new", "tmp"].iter().map(|s| folder.join(s)))
            .filter(|p| p.exists());
        for d in dirs {
            if !account.can(&d, WRITE | SEARCH | READ) {
                return Some((d, "writable"));
            }
        }
        for name in FOLDER_FILES {
            let file = folder.join(name);
            if file.exists() && !account.can(&file, READ | WRITE) {
                return Some((file, "readable and writable"));
            }
        }
    }
    let subscriptions = root.join("subscriptions");
    if subscriptions.exists() && !account.can(&subscriptions, READ | WRITE) {
        return Some((subscriptions, "readable and writable"));
    }
    None
}

/// Users whose stored password Roost cannot verify: each would fail every
/// login. Every such user is named, grouped by scheme.
fn check_password_schemes(passwd: &PasswdFile, out: &mut Vec<Finding>) {
    let mut by_scheme: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in passwd.entries() {
        if let Some(scheme) = unsupported_scheme(entry.password.expose()) {
            by_scheme.entry(scheme).or_default().push(entry.name);
        }
    }
    for (scheme, users) in by_scheme {
        error(
            out,
            format!(
                "{} cannot log in: their passwords use {scheme}, which Roost cannot \
                 verify: {}; fix: give them new passwords with `roost hash` \
                 (or `doveadm pw -s SHA512-CRYPT`)",
                match users.len() {
                    1 => "1 user".to_string(),
                    n => format!("{n} users"),
                },
                users.join(", ")
            ),
        );
    }
}

/// Mail and trace paths the unit's sandbox makes read-only or hides: every
/// login of those users would fail (Read-only file system).
fn check_sandbox(config: &Config, passwd: &PasswdFile, sandbox: &Sandbox, out: &mut Vec<Finding>) {
    let mut blocked: BTreeMap<String, (Vec<String>, Vec<PathBuf>)> = BTreeMap::new();
    for entry in passwd.entries() {
        let Ok(root) = config.mail_root(&entry.name, entry.home.as_deref(), &entry.extra) else {
            continue;
        };
        let Ok(root) = std::path::absolute(&root) else {
            continue;
        };
        let why = match sandbox.access(&root) {
            sandbox::Access::Writable => continue,
            sandbox::Access::ReadOnly => "is read-only (Read-only file system)".to_string(),
            sandbox::Access::Hidden(why) => format!("is out of reach: {why}"),
        };
        let group = blocked.entry(why).or_default();
        group.0.push(entry.name);
        group.1.push(root);
    }
    for (why, (users, roots)) in blocked {
        let shown: Vec<&str> = users
            .iter()
            .take(MAX_MAIL_REPORTS)
            .map(String::as_str)
            .collect();
        let more = users.len() - shown.len();
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        error(
            out,
            format!(
                "under {} the mail of {}{more} ({}) {why}; the unit lets Roost write only to: {}; \
                 fix: {}",
                sandbox.unit.display(),
                shown.join(", "),
                roots[0].display(),
                sandbox.writable_list(),
                sandbox_fix(sandbox, &roots)
            ),
        );
    }
    if let Some(dir) = &config.trace_dir {
        if let Ok(dir) = std::path::absolute(dir) {
            if sandbox.access(&dir) != sandbox::Access::Writable {
                error(
                    out,
                    format!(
                        "under {} trace_dir {} is read-only; the unit lets Roost write only to: \
                         {}; fix: trace_dir = /var/log/roost, or {}",
                        sandbox.unit.display(),
                        dir.display(),
                        sandbox.writable_list(),
                        sandbox_fix(sandbox, std::slice::from_ref(&dir))
                    ),
                );
            }
        }
    }
}

/// The lines that open `roots` to the service: the directory above them
/// all, or, when they share only `/`, the top two levels of each.
fn sandbox_fix(sandbox: &Sandbox, roots: &[PathBuf]) -> String {
    let top_two = |p: &Path| -> PathBuf {
        if p.starts_with("/home") {
            return PathBuf::from("/home");
        }
        p.components().take(3).collect()
    };
    let mut common = roots[0].clone();
    for r in roots {
        while !r.starts_with(&common) && common.pop() {}
    }
    let dirs: BTreeSet<PathBuf> = if common.components().count() >= 3 {
        BTreeSet::from([top_two(&common)])
    } else {
        roots.iter().map(|r| top_two(r)).collect()
    };
    if dirs
        .iter()
        .any(|d| d.starts_with("/tmp") || d.starts_with("/var/tmp"))
    {
        return "move the mail out of /tmp (or add PrivateTmp=no)".to_string();
    }
    let mut lines = String::new();
    if dirs.iter().any(|d| sandbox.home_protected(d)) {
        lines.push_str("ProtectHome=no and ");
    }
    let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    lines.push_str(&format!("ReadWritePaths={}", list.join(" ")));
    format!(
        "`systemctl edit roost` and add under [Service]: {lines} \
         (a drop-in in /etc/systemd/system/roost.service.d/)"
    )
}

fn check_ports(config: &Config, out: &mut Vec<Finding>) {
    let addrs: Vec<SocketAddr> = config
        .listen
        .iter()
        .chain(config.tls_listeners())
        .copied()
        .filter(|a| a.port() != 0)
        .collect();
    for addr in addrs {
        if let Err(e) = TcpListener::bind(addr) {
            let why = match e.kind() {
                io::ErrorKind::AddrInUse => "the port is in use by another program".to_string(),
                io::ErrorKind::PermissionDenied => {
                    "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                        .to_string()
                }
                _ => e.to_string(),
            };
            error(out, format!("cannot listen on {addr}: {why}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(uid: u32, gids: &[u32]) -> Account {
        Account {
            uid,
            gids: gids.to_vec(),
            label: format!("uid {uid}"),
            name: None,
        }
    }

    #[test]
    fn mode_bits_by_owner_group_and_others() {
        let a = account(1000, &[1000, 50]);
        assert!(a.permits(1000, 0, 0o600, READ | WRITE));
        assert!(!a.permits(1000, 0, 0o400, WRITE));
        assert!(a.permits(0, 50, 0o640, READ));
        assert!(!a.permits(0, 50, 0o640, WRITE));
        assert!(!a.permits(0, 0, 0o640, READ));
        assert!(a.permits(0, 0, 0o755, READ | SEARCH));
        // The owner's bits apply to the owner even when others have more.
        assert!(!a.permits(1000, 0, 0o077, READ));
        assert!(account(0, &[0]).permits(5, 5, 0o000, READ | WRITE));
    }

    fn private_dir() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    #[test]
    fn paths_need_search_permission_above_them() {
        let dir = private_dir();
        let me = Account::of(&Plan::Stay);
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(me.can(&file, READ | WRITE));
        assert!(!me.can(&dir.path().join("missing"), READ));
        // Nobody who is neither owner nor in the group gets through 0700.
        let stranger = account(4_000_000_000, &[4_000_000_000]);
        assert!(!stranger.can(&file, READ));
    }

    #[test]
    fn missing_mail_root_needs_a_writable_parent() {
        let dir = private_dir();
        let me = Account::of(&Plan::Stay);
        let root = dir.path().join("home/ann/Maildir");
        assert_eq!(mail_root_problem(&root, &me), None);
        let stranger = account(4_000_000_000, &[4_000_000_000]);
        let p = mail_root_problem(&root, &stranger).unwrap();
        assert!(p.contains("cannot create it in"), "{p}");
        std::fs::create_dir_all(root.join("cur")).unwrap();
        assert_eq!(mail_root_problem(&root, &me), None);
        assert!(mail_root_problem(&root, &stranger)
            .unwrap()
            .contains("is not writable"));
    }
}
