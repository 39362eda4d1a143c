//! QUOTA (RFC 9208): one quota root per user, named as Dovecot names it
//! ("User quota"), covering every folder; usage from the Maildir++
//! `maildirsize` file (`store::quota`). Users without limits have no
//! root, and the commands answer as Dovecot does then.

use crate::error::{Error, Tagged};
use crate::session::Session;
use crate::store::quota::{Limits, Usage, ROOT_NAME};

/// `GETQUOTA root`: the usage and limits of the user's root.
pub fn getquota(s: &mut Session, root: &[u8]) -> Result<Tagged, Error> {
    let store = s.store()?;
    let limits = store.quota().limits;
    let usage = store.quota().usage()?;
    match usage {
        Some(usage) if root == ROOT_NAME.as_bytes() => {
            quota_response(s, &limits, &usage);
            Ok(Tagged::ok("Getquota completed."))
        }
        _ => Err(Error::no(None, "Quota root doesn't exist.")),
    }
}

/// `GETQUOTAROOT mailbox`: the root every folder belongs to, and its
/// usage. Like Dovecot, the folder need not exist (a client asks before
/// creating it), but its name must be valid.
pub fn getquotaroot(s: &mut Session, raw: &[u8]) -> Result<Tagged, Error> {
    super::common::mailbox_name(s, raw)?;
    let store = s.store()?;
    let limits = store.quota().limits;
    let Some(usage) = store.quota().usage()? else {
        return Ok(Tagged::ok("No quota."));
    };
    s.out.untagged().raw("QUOTAROOT ");
    s.out.astring(raw).sp().string(ROOT_NAME.as_bytes()).crlf();
    quota_response(s, &limits, &usage);
    Ok(Tagged::ok("Getquotaroot completed."))
}

/// `SETQUOTA`: limits are the administrator's (`quota_rule`, the users
/// file); Dovecot answers the same without an admin session.
pub fn setquota(s: &mut Session) -> Result<Tagged, Error> {
    s.store()?;
    Err(Error::no(None, "Quota can be changed only by admin."))
}

/// `* QUOTA "User quota" (STORAGE used limit MESSAGE used limit)`, STORAGE
/// in kilobytes rounded up (RFC 9208 §5.1, as Dovecot rounds).
fn quota_response(s: &mut Session, limits: &Limits, usage: &Usage) {
    let mut items = Vec::new();
    if let Some(limit) = limits.bytes {
        items.push(format!(
            "STORAGE {} {}",
            usage.bytes.div_ceil(1024),
            limit / 1024
        ));
    }
    if let Some(limit) = limits.messages {
        items.push(format!("MESSAGE {} {limit}", usage.messages));
    }
    s.out.untagged().raw("QUOTA ");
    s.out.string(ROOT_NAME.as_bytes());
    s.out.raw(&format!(" ({})", items.join(" "))).crlf();
}
