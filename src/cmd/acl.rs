//! ACL (RFC 4314) for the owner only: Roost has no shared mailboxes, so
//! every mailbox grants its owner every right and nobody else anything.
//! GETACL, MYRIGHTS and LISTRIGHTS say so (clients such as Thunderbird
//! and Roundcube ask before offering sharing); SETACL and DELETEACL are
//! refused.

use super::common::{mailbox_name, not_found};
use crate::error::{Error, Tagged};
use crate::proto::encode::Code;
use crate::proto::types::AclCommand;
use crate::session::Session;

/// RFC 4314 §2.1's rights, all of them the owner's.
const OWNER_RIGHTS: &[u8] = b"lrswipkxtea";

pub fn acl(s: &mut Session, raw: &[u8], cmd: &AclCommand) -> Result<Tagged, Error> {
    let name = mailbox_name(s, raw)?;
    if !s.store()?.exists(&name) {
        return Err(not_found(raw));
    }
    let owner = s.user_name().as_bytes().to_vec();
    match cmd {
        AclCommand::Get => {
            s.out.untagged().raw("ACL ").astring(raw).sp();
            s.out.astring(&owner).sp().astring(OWNER_RIGHTS).crlf();
            Ok(Tagged::ok("Getacl completed."))
        }
        AclCommand::MyRights => {
            s.out.untagged().raw("MYRIGHTS ").astring(raw).sp();
            s.out.astring(OWNER_RIGHTS).crlf();
            Ok(Tagged::ok("Myrights completed."))
        }
        AclCommand::ListRights(who) => {
            // §3.7: the rights always granted, then those that may be:
            // the owner always has all; others can be given none.
            let always: &[u8] = if *who == owner { OWNER_RIGHTS } else { b"" };
            s.out.untagged().raw("LISTRIGHTS ").astring(raw).sp();
            s.out.astring(who).sp().string(always).crlf();
            Ok(Tagged::ok("Listrights completed."))
        }
        AclCommand::Set(..) | AclCommand::Delete(_) => Err(Error::no(
            Some(Code::Cannot),
            "Mailboxes can't be shared on this server.",
        )),
    }
}
