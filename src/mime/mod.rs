//! MIME for FETCH and SEARCH: a message's part tree and everything
//! derived from it — ENVELOPE, BODY/BODYSTRUCTURE, `BODY[section]` bytes,
//! BINARY decoding (RFC 3501 §6.4.5, §7.4.2; RFC 3516; RFC 2045–2047,
//! 2231), and the decoding SEARCH reads text through (`decode`). There is
//! one parser: SEARCH walks the same parts FETCH shows.
//!
//! The reference for every answer, malformed input included, is Dovecot
//! 2.3.19 (Debian 12): clients are used to what it says, so this module
//! follows its rules, learnt from its lib-mail and lib-imap sources and
//! checked against its real output (`tests/differential.rs`); the code is
//! our own. See `parser` for the structure, `lexer` for header syntax,
//! `binary` for decoding. Wire encoding stays with [`ResponseBuf`]: this
//! module decides *what* goes out, never how a string is quoted.
//!
//! Input is always the message in CRLF form ([`raw::to_crlf`]),
//! so byte offsets and sizes are the ones IMAP counts. Parsing is one
//! pass without recursion and with Dovecot's limits (100 nesting levels,
//! 10,000 parts); the writers recurse at most as deep as the tree.
//!
//! mailparse serves for charsets (see `decode`). Its header and multipart
//! parsing is not used: it is lenient in other ways than Dovecot's (it
//! trims and unfolds differently; a boundary line must be `--boundary`
//! plus blanks, where Dovecot lets any text follow, and it does not cut
//! boundaries to 80 characters — see the test `mailparse_splits_otherwise`)
//! and its body decoders accept what Dovecot refuses. Matching Dovecot
//! byte for byte needs its rules, so they are written out here.

pub(crate) mod address;
mod binary;
mod data;
pub(crate) mod decode;
mod envelope;
pub(crate) mod header;
mod lexer;
mod params;
mod parser;
pub(crate) mod preview;
pub mod raw;
mod section;
mod structure;

pub use binary::{Binary, BinaryError};

use crate::proto::encode::ResponseBuf;
use crate::proto::types::Section;
use std::borrow::Cow;

/// A parsed message: the CRLF bytes and their part tree.
pub struct Message<'a> {
    raw: &'a [u8],
    parts: Vec<parser::Part>,
    /// The bytes as stored, when known: binary content is served from
    /// them, bare LFs and all (RFC 3516 §4.3 returns it undecoded).
    stored: Option<&'a [u8]>,
}

impl<'a> Message<'a> {
    /// Parses a message given in CRLF form. Never fails: any byte string
    /// is some message.
    pub fn parse(raw: &'a [u8]) -> Message<'a> {
        Message {
            raw,
            parts: parser::parse(raw),
            stored: None,
        }
    }

    /// Adds the message as stored, `raw` being its CRLF form
    /// ([`raw::to_crlf`] of it), for `binary`.
    pub fn with_stored(mut self, stored: &'a [u8]) -> Message<'a> {
        self.stored = Some(stored);
        self
    }

    /// The whole message.
    #[cfg(test)]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The message header, with its terminating empty line if it has one.
    pub fn header(&self) -> &'a [u8] {
        let root = &self.parts[0];
        self.raw
            .get(root.start..root.header_end)
            .unwrap_or_default()
    }

    /// The message body (`BODY[TEXT]`).
    pub fn text(&self) -> &'a [u8] {
        let root = &self.parts[0];
        self.raw.get(root.header_end..root.end).unwrap_or_default()
    }

    /// How many parts the tree has, the message itself included.
    pub fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// The message as the root of its part tree.
    pub fn root(&self) -> PartRef<'_> {
        PartRef { msg: self, idx: 0 }
    }

    /// The part a section-part names (`[]` is the message itself; RFC 3501
    /// §6.4.5 numbering, as `BODY[part]` uses it).
    pub fn part(&self, path: &[u32]) -> Option<PartRef<'_>> {
        section::find(&self.parts, path).map(|idx| PartRef { msg: self, idx })
    }

    /// `ENVELOPE` data: the list, parentheses included.
    pub fn write_envelope(&self, out: &mut ResponseBuf) {
        write_envelope(self.header(), out);
    }

    /// `BODYSTRUCTURE` (`extensible`) or `BODY` data, parentheses included.
    pub fn write_body_structure(&self, out: &mut ResponseBuf, extensible: bool) {
        out.raw("(");
        structure::write(self.raw, &self.parts, 0, out, extensible);
        out.raw(")");
    }

    /// The bytes `BODY[section]` returns (before `<partial>`), NUL bytes
    /// already turned into 0x80 as Dovecot sends them: a literal may not
    /// hold NUL (RFC 3501 §4.3), only a BINARY literal8 may.
    pub fn section(&self, section: &Section) -> Cow<'a, [u8]> {
        nul_to_0x80(section::bytes(self.raw, &self.parts, section))
    }

    /// `BINARY[part]`: the part's content decoded; for an empty `part` the
    /// whole message with every leaf decoded. A part that does not exist
    /// is empty.
    pub fn binary(&self, part: &[u32]) -> Result<Binary, BinaryError> {
        let source = binary::Source {
            crlf: self.raw,
            stored: self.stored,
        };
        if part.is_empty() {
            return binary::convert(source, &self.parts, 0, true);
        }
        match section::find(&self.parts, part) {
            Some(idx) => binary::convert(source, &self.parts, idx, false),
            None => Ok(Binary {
                data: Vec::new(),
                literal8: false,
            }),
        }
    }

    /// `BINARY.SIZE[part]`: the length of what `BINARY[part]` returns (0
    /// for a part that does not exist), and refused exactly when it is
    /// (RFC 3516 §4.3: the sizes must match). Dovecot decodes the whole
    /// message first and so refuses the size of a good part beside a bad
    /// one; Roost does not.
    pub fn binary_size(&self, part: &[u32]) -> Result<u64, BinaryError> {
        Ok(self.binary(part)?.data.len() as u64)
    }
}

/// One part of a parsed message. Ranges index [`Message::raw`]; values
/// are raw header bytes (unfolded, encoded words left as they are), and
/// fields a part does not have (or that do not count because the part is
/// not MIME) are `None`.
#[derive(Clone, Copy)]
pub struct PartRef<'m> {
    msg: &'m Message<'m>,
    idx: usize,
}

// The accessors form the MIME model's reading API; FETCH and SEARCH use
// some, the tests all of them.
#[cfg_attr(not(test), allow(dead_code))]
impl<'m> PartRef<'m> {
    fn part(&self) -> &'m parser::Part {
        &self.msg.parts[self.idx]
    }

    fn data(&self) -> &'m data::PartData {
        &self.part().data
    }

    /// The header, with its empty line when it has one.
    pub fn header_range(&self) -> std::ops::Range<usize> {
        self.part().start..self.part().header_end
    }

    /// The body (for a multipart: preamble, parts and epilogue).
    pub fn body_range(&self) -> std::ops::Range<usize> {
        self.part().header_end..self.part().end
    }

    pub fn header(&self) -> &'m [u8] {
        self.msg.raw.get(self.header_range()).unwrap_or_default()
    }

    pub fn body(&self) -> &'m [u8] {
        self.msg.raw.get(self.body_range()).unwrap_or_default()
    }

    /// A multipart with its boundary found: its parts are the children.
    pub fn is_multipart(&self) -> bool {
        self.part().has(parser::MULTIPART)
    }

    /// A message/rfc822 part: its one child is the enclosed message.
    pub fn is_message(&self) -> bool {
        self.part().has(parser::RFC822)
    }

    /// `text/*`, or no (valid) Content-Type at all.
    pub fn is_text(&self) -> bool {
        self.part().has(parser::TEXT)
    }

    /// Type and subtype as written; `None` means text/plain by default.
    pub fn content_type(&self) -> Option<(&'m [u8], &'m [u8])> {
        self.data()
            .content_type
            .as_ref()
            .map(|(t, s)| (&t[..], &s[..]))
    }

    /// Content-Type parameters, RFC 2231 pieces joined (see `params`).
    pub fn params(&self) -> &'m [(Vec<u8>, Vec<u8>)] {
        &self.data().params
    }

    pub fn transfer_encoding(&self) -> Option<&'m [u8]> {
        self.data().encoding.as_deref()
    }

    /// Disposition and its parameters.
    pub fn disposition(&self) -> Option<(&'m [u8], &'m [(Vec<u8>, Vec<u8>)])> {
        let d = self.data();
        d.disposition
            .as_deref()
            .map(|v| (v, &d.disposition_params[..]))
    }

    pub fn language(&self) -> Option<&'m [Vec<u8>]> {
        self.data().language.as_deref()
    }

    /// The parts of a multipart, or the message of a message/rfc822 part.
    pub fn children(&self) -> impl Iterator<Item = PartRef<'m>> + 'm {
        let msg = self.msg;
        self.part()
            .children
            .iter()
            .map(move |&idx| PartRef { msg, idx })
    }
}

/// `ENVELOPE` of a header block (RFC 3501 §7.4.2), parentheses included:
/// addresses parsed from the raw values, groups as `(NIL NIL "name" NIL)`
/// ... `(NIL NIL NIL NIL)`, missing parts as Dovecot fills them in.
pub fn write_envelope(header_block: &[u8], out: &mut ResponseBuf) {
    out.raw("(");
    envelope::Envelope::from_header(header_block).write(out);
    out.raw(")");
}

/// The fields of a header block as Dovecot splits them: `(name, whole
/// field with its continuation lines and newline)`. A line without a colon
/// is a field with an empty name; the block ends at its empty line.
#[cfg(test)]
pub fn header_fields(header_block: &[u8]) -> Vec<(&[u8], &[u8])> {
    header::fields(header_block)
        .into_iter()
        .filter_map(|f| Some((f.name, header_block.get(f.start..f.end)?)))
        .collect()
}

/// `HEADER.FIELDS` (`keep`) or `HEADER.FIELDS.NOT` of a message's own
/// header block (RFC 3501 §6.4.5), as Dovecot answers it.
pub fn select_header_fields(header_block: &[u8], names: &[Vec<u8>], keep: bool) -> Vec<u8> {
    section::select_fields(header_block, names, keep, true)
}

/// NUL bytes as 0x80 (what Dovecot does to BODY[] data).
pub fn nul_to_0x80(data: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    if !data.contains(&0) {
        return data;
    }
    let mut v = data.into_owned();
    nul_to_0x80_in_place(&mut v);
    Cow::Owned(v)
}

fn nul_to_0x80_in_place(data: &mut [u8]) {
    for b in data.iter_mut().filter(|b| **b == 0) {
        *b = 0x80;
    }
}

#[cfg(test)]
mod tests;
