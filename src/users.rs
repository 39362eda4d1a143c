//! The system's user database (`userdb = passwd`): a logged-in name → uid,
//! gid, home and supplementary groups through NSS (`getpwnam_r`,
//! `getgrouplist`), so accounts from sssd or LDAP work like local ones.
//! Dovecot's `first_valid_uid`, `last_valid_uid` and `first_valid_gid`
//! keep root and system accounts out.

use crate::auth::passwd::PasswdFile;
use crate::auth::passwd::UserEntry;
use crate::config::{Config, Passdb, Userdb};
use crate::identity::Credentials;
use nix::unistd::{Gid, User};
use std::ffi::CString;
use std::fmt;

/// A system account allowed to have mail here.
#[derive(Clone, Debug)]
pub struct SystemUser {
    pub entry: UserEntry,
    pub creds: Credentials,
}

/// Why a name cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// NSS knows no such user.
    Unknown,
    /// The lookup itself failed (NSS backend down): try again later.
    Lookup(String),
    /// A uid or gid outside the valid ranges (root, system accounts).
    Range { uid: u32, gid: u32 },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Unknown => f.write_str("no such system user"),
            Refused::Lookup(e) => write!(f, "user lookup failed: {e}"),
            Refused::Range { uid, gid } => write!(
                f,
                "uid {uid} / gid {gid} is outside first_valid_uid..last_valid_uid / first_valid_gid"
            ),
        }
    }
}

/// Someone who passed a passdb and the userdb: their passwd-style entry
/// (name, home) and, with `userdb = passwd`, the identity their session
/// takes.
#[derive(Clone, Debug)]
pub struct Account {
    pub entry: UserEntry,
    pub creds: Option<Credentials>,
}

/// Applies the userdb to someone a passdb accepted.
pub fn resolve(
    config: &Config,
    passwd: &PasswdFile,
    entry: UserEntry,
    from: Passdb,
) -> Result<Account, String> {
    match config.userdb {
        Userdb::Passwd => {
            let user = lookup(config, &entry.name).map_err(|e| e.to_string())?;
            Ok(Account {
                entry: user.entry,
                creds: Some(user.creds),
            })
        }
        // A passwd-file passdb entry is its own userdb entry; one PAM
        // accepted must be in the file.
        Userdb::PasswdFile if from == Passdb::PasswdFile => Ok(Account { entry, creds: None }),
        Userdb::PasswdFile => match passwd.lookup(&entry.name) {
            Some(entry) => Ok(Account { entry, creds: None }),
            None => Err("not in the passwd file".into()),
        },
    }
}

/// Looks `name` up through NSS and applies the valid-id ranges.
pub fn lookup(config: &Config, name: &str) -> Result<SystemUser, Refused> {
    if name.is_empty() || name.contains(['\0', '/', ':']) {
        return Err(Refused::Unknown);
    }
    let user = match User::from_name(name) {
        Ok(Some(u)) => u,
        Ok(None) => return Err(Refused::Unknown),
        Err(e) => return Err(Refused::Lookup(e.to_string())),
    };
    let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
    if !valid_ids(config, uid, gid) {
        return Err(Refused::Range { uid, gid });
    }
    let c_name = CString::new(user.name.as_str()).map_err(|_| Refused::Unknown)?;
    let groups = nix::unistd::getgrouplist(&c_name, Gid::from_raw(gid))
        .map_err(|e| Refused::Lookup(format!("getgrouplist: {e}")))?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    Ok(SystemUser {
        entry: UserEntry {
            name: user.name,
            password: Default::default(),
            uid: Some(uid),
            gid: Some(gid),
            home: Some(user.dir),
            extra: String::new(),
        },
        creds: Credentials { uid, gid, groups },
    })
}

/// Dovecot's rule: `first_valid_uid <= uid <= last_valid_uid` (0: no upper
/// bound), `gid >= first_valid_gid`; uid and gid 0 never, whatever the
/// settings say, since sessions must not run as root.
pub fn valid_ids(config: &Config, uid: u32, gid: u32) -> bool {
    uid != 0
        && gid != 0
        && uid >= config.first_valid_uid
        && (config.last_valid_uid == 0 || uid <= config.last_valid_uid)
        && gid >= config.first_valid_gid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_dovecot() {
        let mut c = Config::default();
        assert!(!valid_ids(&c, 0, 0), "root");
        assert!(!valid_ids(&c, 100, 100), "a system account below 500");
        assert!(valid_ids(&c, 1000, 1000));
        c.last_valid_uid = 999;
        assert!(!valid_ids(&c, 1000, 1000));
        c.first_valid_uid = 0;
        c.first_valid_gid = 0;
        assert!(!valid_ids(&c, 0, 5), "uid 0 never");
        assert!(!valid_ids(&c, 5, 0), "gid 0 never");
    }

    #[test]
    fn root_is_refused_and_unknown_is_unknown() {
        let c = Config::default();
        assert_eq!(
            lookup(&c, "root").unwrap_err(),
            Refused::Range { uid: 0, gid: 0 }
        );
        assert_eq!(lookup(&c, "no-such-user-x9").unwrap_err(), Refused::Unknown);
        assert_eq!(lookup(&c, "../etc").unwrap_err(), Refused::Unknown);
    }
}
