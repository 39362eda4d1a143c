//! Running unprivileged: the server starts as root so it can bind ports 143
//! and 993 and read root-only keys, then switches to the configured `user`
//! and `group` before it starts any other thread or accepts a client.
//! Serving as root is refused unless `allow_root = yes`.
//!
//! With `userdb = passwd` there is no switch here: the process stays uid 0
//! with only the capabilities that per-session identities need, and each
//! session thread becomes its user (`identity`).
//!
//! The switch uses the `nix` crate's safe wrappers around initgroups(3),
//! setgroups(2), setgid(2) and setuid(2); the crate forbids `unsafe`.

use crate::config::Config;
use nix::unistd::{Gid, Group, Uid, User};
use std::ffi::CString;

/// The account the server switches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// The account name when `user` names a passwd entry: its supplementary
    /// groups then come from the group database, as for a login.
    pub name: Option<String>,
}

/// What startup does about its user, decided before anything is bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Keep the current user and groups (neither `user` nor `group` set).
    Stay,
    Switch(Identity),
}

/// Resolves `user`/`group` and applies the root rule. An error here is a
/// configuration problem: an unknown account, or serving as root without
/// `allow_root = yes`.
pub fn plan(config: &Config) -> Result<Plan, String> {
    let plan = resolve(&config.user, &config.group)?;
    if config.userdb == crate::config::Userdb::Passwd {
        // The process keeps uid 0 (with CAP_SETUID and CAP_SETGID only);
        // sessions never run as root (see `identity`).
        if !Uid::effective().is_root() {
            return Err("userdb = passwd switches each session to its user: \
                        start roost as root"
                .into());
        }
        return Ok(plan);
    }
    let uid_after = match &plan {
        Plan::Stay => Uid::effective().as_raw(),
        Plan::Switch(id) => id.uid,
    };
    refuse_root(uid_after, config.allow_root)?;
    Ok(plan)
}

/// Root may serve only when the configuration says so.
pub fn refuse_root(uid_after: u32, allow_root: bool) -> Result<(), String> {
    if uid_after == 0 && !allow_root {
        return Err(
            "refusing to serve as root: set `user` (for example user = roost) \
             to the account that owns the mail, or set `allow_root = yes`"
                .into(),
        );
    }
    Ok(())
}

/// Looks up the configured account; `Stay` when neither key is set.
pub fn resolve(user: &str, group: &str) -> Result<Plan, String> {
    if user.is_empty() && group.is_empty() {
        return Ok(Plan::Stay);
    }
    let (uid, primary_gid, name) = if user.is_empty() {
        (Uid::effective().as_raw(), None, None)
    } else {
        lookup_user(user)?
    };
    let gid = if !group.is_empty() {
        lookup_group(group)?
    } else if let Some(gid) = primary_gid {
        gid
    } else {
        return Err(format!(
            "user: uid {user} has no passwd entry, so `group` must be set too"
        ));
    };
    Ok(Plan::Switch(Identity { uid, gid, name }))
}

/// (uid, primary gid if known, name if it has a passwd entry).
fn lookup_user(spec: &str) -> Result<(u32, Option<u32>, Option<String>), String> {
    if let Ok(uid) = spec.parse::<u32>() {
        let entry = User::from_uid(Uid::from_raw(uid))
            .map_err(|e| format!("user: cannot look up uid {uid}: {e}"))?;
        return Ok(match entry {
            Some(u) => (uid, Some(u.gid.as_raw()), Some(u.name)),
            None => (uid, None, None),
        });
    }
    match User::from_name(spec) {
        Ok(Some(u)) => Ok((u.uid.as_raw(), Some(u.gid.as_raw()), Some(u.name))),
        Ok(None) => Err(format!("user: there is no account named {spec:?}")),
        Err(e) => Err(format!("user: cannot look up {spec:?}: {e}")),
    }
}

fn lookup_group(spec: &str) -> Result<u32, String> {
    if let Ok(gid) = spec.parse::<u32>() {
        return Ok(gid);
    }
    match Group::from_name(spec) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(format!("group: there is no group named {spec:?}")),
        Err(e) => Err(format!("group: cannot look up {spec:?}: {e}")),
    }
}

impl Plan {
    /// Switches: supplementary groups, then the group, then the user (in
    /// that order, since only root may change groups). Must run before any
    /// thread is started, so that no thread keeps root's credentials.
    pub fn apply(&self) -> Result<(), String> {
        let Plan::Switch(id) = self else {
            return Ok(());
        };
        let (uid, gid) = (Uid::from_raw(id.uid), Gid::from_raw(id.gid));
        if Uid::effective() == uid && Uid::current() == uid && Gid::effective() == gid {
            // Already there (started as that account): nothing to give up.
            return Ok(());
        }
        let who = id.name.clone().unwrap_or_else(|| id.uid.to_string());
        let fail = |step: &str, e: nix::Error| {
            format!(
                "cannot switch to user {who} (uid {}, gid {}): {step}: {e} \
                 (start roost as root, or remove `user` and `group`)",
                id.uid, id.gid
            )
        };
        match &id.name {
            Some(name) => {
                let c = CString::new(name.as_str())
                    .map_err(|_| format!("user: {name:?} contains a NUL byte"))?;
                nix::unistd::initgroups(&c, gid).map_err(|e| fail("initgroups", e))?;
            }
            None => nix::unistd::setgroups(&[gid]).map_err(|e| fail("setgroups", e))?,
        }
        nix::unistd::setgid(gid).map_err(|e| fail("setgid", e))?;
        nix::unistd::setuid(uid).map_err(|e| fail("setuid", e))?;
        // Trust but verify: real and effective ids changed, and root cannot
        // be had back.
        if Uid::current() != uid || Uid::effective() != uid || Gid::effective() != gid {
            return Err(format!("switching to user {who} did not take effect"));
        }
        if id.uid != 0 && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
            return Err(format!(
                "switched to user {who}, but could switch back to root"
            ));
        }
        log::info!("running as user {who} (uid {}, gid {})", id.uid, id.gid);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_refused_unless_allowed() {
        assert!(refuse_root(0, false).unwrap_err().contains("allow_root"));
        assert_eq!(refuse_root(0, true), Ok(()));
        assert_eq!(refuse_root(65534, false), Ok(()));
        assert_eq!(refuse_root(1000, true), Ok(()));
    }

    #[test]
    fn nothing_configured_means_stay() {
        assert_eq!(resolve("", ""), Ok(Plan::Stay));
    }

    #[test]
    fn names_and_numbers_resolve() {
        // root and group 0 exist on every system the tests run on.
        assert_eq!(
            resolve("root", ""),
            Ok(Plan::Switch(Identity {
                uid: 0,
                gid: 0,
                name: Some("root".into())
            }))
        );
        assert_eq!(
            resolve("0", "0"),
            Ok(Plan::Switch(Identity {
                uid: 0,
                gid: 0,
                name: Some("root".into())
            }))
        );
        let Ok(Plan::Switch(id)) = resolve("", "0") else {
            panic!("group only")
        };
        assert_eq!((id.uid, id.gid), (Uid::effective().as_raw(), 0));
        assert!(resolve("no-such-user-here", "")
            .unwrap_err()
            .contains("no account named"));
        assert!(resolve("root", "no-such-group-here")
            .unwrap_err()
            .contains("no group named"));
        // A uid without a passwd entry needs an explicit group.
        assert!(resolve("4000000000", "").unwrap_err().contains("group"));
        assert_eq!(
            resolve("4000000000", "4000000001"),
            Ok(Plan::Switch(Identity {
                uid: 4_000_000_000,
                gid: 4_000_000_001,
                name: None
            }))
        );
    }

    #[test]
    fn plan_applies_the_root_rule_to_the_final_uid() {
        let mut c = Config {
            user: "root".into(),
            ..Config::default()
        };
        assert!(plan(&c).unwrap_err().contains("refusing to serve as root"));
        c.allow_root = true;
        assert!(plan(&c).is_ok());
        c.user.clear();
        c.allow_root = false;
        let stay = plan(&c);
        if Uid::effective().is_root() {
            assert!(stay.is_err());
        } else {
            assert_eq!(stay, Ok(Plan::Stay));
        }
    }
}
