//! The METADATA grammar (RFC 5464 §5): GETMETADATA and SETMETADATA.

use super::{Expected, Parser};
use crate::proto::types::{CommandBody, GetMetadata, ListMetadata};

impl Parser<'_> {
    /// `getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP
    /// entries`, with `getmetadata-options = "(" getmetadata-option *(SP
    /// getmetadata-option) ")"`, options `MAXSIZE number` and `DEPTH ("0" /
    /// "1" / "infinity")`, and `entries = entry / "(" entry *(SP entry) ")"`.
    pub(crate) fn getmetadata(&mut self) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        // RFC 5464 §4.2.2: DEPTH 0 unless asked otherwise.
        let mut get = GetMetadata {
            depth: Some(0),
            ..GetMetadata::default()
        };
        if self.peek() == Some(b'(') {
            self.pos += 1;
            loop {
                let name = self.atom().ok_or(Expected("MAXSIZE or DEPTH"))?;
                self.metadata_option(&name, &mut get.maxsize, &mut get.depth)?;
                if self.list_end("SP or ) in GETMETADATA options")? {
                    break;
                }
            }
            self.expect_sp()?;
        }
        get.mailbox = self.astring().map_err(|_| Expected("mailbox name"))?;
        self.expect_sp()?;
        if self.peek() == Some(b'(') {
            self.pos += 1;
            loop {
                get.entries.push(self.astring()?);
                if self.list_end("SP or ) in entry list")? {
                    break;
                }
            }
        } else {
            get.entries.push(self.astring()?);
        }
        Ok(CommandBody::GetMetadata(get))
    }

    /// LIST's `METADATA` return option (RFC 9590): `"(" entries ")"`,
    /// taking GETMETADATA's options (`MAXSIZE n`, `DEPTH d`) before or
    /// after the entries, bare or in their own parentheses.
    pub(crate) fn list_metadata(&mut self) -> Result<ListMetadata, Expected> {
        let mut m = ListMetadata {
            depth: Some(0),
            ..ListMetadata::default()
        };
        self.expect(b'(', "( metadata entries")?;
        loop {
            if self.peek() == Some(b'(') {
                self.pos += 1;
                loop {
                    let name = self.atom().ok_or(Expected("MAXSIZE or DEPTH"))?;
                    self.metadata_option(&name, &mut m.maxsize, &mut m.depth)?;
                    if self.list_end("SP or ) in METADATA options")? {
                        break;
                    }
                }
            } else {
                let word = self.astring()?;
                if word.first() == Some(&b'/') {
                    m.entries.push(word);
                } else {
                    self.metadata_option(&word, &mut m.maxsize, &mut m.depth)?;
                }
            }
            if self.list_end("SP or ) in METADATA return option")? {
                break;
            }
        }
        if m.entries.is_empty() {
            return Err(Expected("metadata entry"));
        }
        Ok(m)
    }

    /// `SP value` of a MAXSIZE or DEPTH option (RFC 5464 §4.2, which
    /// LIST-METADATA reuses), into the matching field.
    fn metadata_option(
        &mut self,
        name: &[u8],
        maxsize: &mut Option<u64>,
        depth: &mut Option<usize>,
    ) -> Result<(), Expected> {
        self.expect_sp()?;
        if name.eq_ignore_ascii_case(b"MAXSIZE") {
            *maxsize = Some(self.number()?.into());
        } else if name.eq_ignore_ascii_case(b"DEPTH") {
            let value = self.atom().ok_or(Expected("0, 1 or infinity"))?;
            *depth = match value.to_ascii_lowercase().as_slice() {
                b"0" => Some(0),
                b"1" => Some(1),
                b"infinity" => None,
                _ => return Err(Expected("0, 1 or infinity")),
            };
        } else {
            return Err(Expected("MAXSIZE or DEPTH"));
        }
        Ok(())
    }

    /// `setmetadata = "SETMETADATA" SP mailbox SP list-of-entry-values`,
    /// `list-of-entry-values = "(" entry-value *(SP entry-value) ")"`,
    /// `entry-value = entry SP value`, `value = nstring / literal8`.
    pub(crate) fn setmetadata(&mut self) -> Result<CommandBody, Expected> {
        let mailbox = self.sp_mailbox()?;
        self.expect_sp()?;
        self.expect(b'(', "( entry values")?;
        let mut entries = Vec::new();
        loop {
            let entry = self.astring()?;
            self.expect_sp()?;
            let value = if self.peek() == Some(b'~') {
                self.pos += 1;
                Some(self.literal()?)
            } else {
                self.nstring()?
            };
            entries.push((entry, value));
            if self.list_end("SP or ) in entry values")? {
                break;
            }
        }
        Ok(CommandBody::SetMetadata { mailbox, entries })
    }
}
