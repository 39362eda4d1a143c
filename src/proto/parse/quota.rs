//! The QUOTA grammar (RFC 9208 §6): GETQUOTA, GETQUOTAROOT, SETQUOTA.

use super::{Expected, Parser};
use crate::proto::types::CommandBody;

impl Parser<'_> {
    /// `getquota = "GETQUOTA" SP quota-root-name`
    pub(crate) fn getquota(&mut self) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        Ok(CommandBody::GetQuota {
            root: self.astring()?,
        })
    }

    /// `getquotaroot = "GETQUOTAROOT" SP mailbox`
    pub(crate) fn getquotaroot(&mut self) -> Result<CommandBody, Expected> {
        Ok(CommandBody::GetQuotaRoot {
            mailbox: self.sp_mailbox()?,
        })
    }

    /// `setquota = "SETQUOTA" SP quota-root-name SP setquota-list`, with
    /// `setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"`
    /// and `setquota-resource = resource-name SP resource-limit`. Only
    /// checked: limits are the administrator's (the users file).
    pub(crate) fn setquota(&mut self) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let root = self.astring()?;
        self.expect_sp()?;
        self.expect(b'(', "(")?;
        let mut first = true;
        while self.peek() != Some(b')') {
            if !first {
                self.expect_sp()?;
            }
            first = false;
            self.atom().ok_or(Expected("resource name"))?;
            self.expect_sp()?;
            self.number64()?;
        }
        self.expect(b')', ")")?;
        Ok(CommandBody::SetQuota { root })
    }

    /// `number64 = 1*DIGIT` up to 2^63-1 (RFC 9051).
    fn number64(&mut self) -> Result<u64, Expected> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.input[start..self.pos])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|n| *n <= i64::MAX as u64)
            .ok_or(Expected("number"))
    }
}
