//! The ACL grammar (RFC 4314 §4): SETACL, DELETEACL, GETACL, LISTRIGHTS,
//! MYRIGHTS.

use super::{Expected, Parser};
use crate::proto::types::{AclCommand, CommandBody};

impl Parser<'_> {
    /// One of the five ACL commands, its name already read as `name`.
    pub(crate) fn acl(&mut self, name: &[u8]) -> Result<CommandBody, Expected> {
        let mailbox = self.sp_mailbox()?;
        let cmd = match name {
            // `getacl = "GETACL" SP mailbox`, `myrights = "MYRIGHTS" SP mailbox`
            b"GETACL" => AclCommand::Get,
            b"MYRIGHTS" => AclCommand::MyRights,
            // `listrights = "LISTRIGHTS" SP mailbox SP identifier`
            b"LISTRIGHTS" => {
                self.expect_sp()?;
                AclCommand::ListRights(self.astring()?)
            }
            // `setacl = "SETACL" SP mailbox SP identifier SP mod-rights`
            b"SETACL" => {
                self.expect_sp()?;
                let identifier = self.astring()?;
                self.expect_sp()?;
                let rights = self.astring()?;
                AclCommand::Set(identifier, rights)
            }
            // `deleteacl = "DELETEACL" SP mailbox SP identifier`
            _ => {
                self.expect_sp()?;
                AclCommand::Delete(self.astring()?)
            }
        };
        Ok(CommandBody::Acl { mailbox, cmd })
    }
}
