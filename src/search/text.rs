//! A message as text to search, read through [`crate::mime`]: the same
//! header fields and MIME parts FETCH shows, decoded and folded.
//!
//! What is searched follows Dovecot 2.3: TEXT sees every part's header
//! fields (as `Name: decoded value`) and every text part's decoded body;
//! BODY sees the bodies only. A part is text when its type is `text/*` or
//! `message/*` (or missing: RFC 2045 §5.2 makes that text/plain) and its
//! transfer encoding is known (RFC 2045 §6.4: an unknown one makes it
//! application/octet-stream). Attachments of other types, multipart
//! preambles and epilogues are not searched. A `message/rfc822` part's
//! content is searched as a message of its own, headers included. Matches
//! do not span parts.

use super::fold::fold_into;
use crate::mime::decode::{self, cte_of};
use crate::mime::header::{self, Next};
use crate::mime::{Message, PartRef};

/// One header field: `lead` (name, colon and blanks as written) then the
/// value unfolded (each line break and the blank after it become one
/// space, Dovecot's "clean one-line" form), in one buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    buf: Vec<u8>,
    name_len: usize,
    value_start: usize,
}

impl Field {
    fn new(block: &[u8], f: &header::Field<'_>) -> Field {
        let lead = block.get(f.start..f.value_start).unwrap_or_default();
        let mut buf = Vec::with_capacity(lead.len() + f.value.len());
        buf.extend_from_slice(lead);
        let mut rest = &f.value[..];
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            buf.extend_from_slice(&rest[..nl]);
            buf.push(b' ');
            // The blank that starts the continuation line is the space.
            rest = rest.get(nl + 2..).unwrap_or_default();
        }
        buf.extend_from_slice(rest);
        Field {
            buf,
            name_len: f.name.len(),
            value_start: lead.len(),
        }
    }

    pub fn name(&self) -> &[u8] {
        &self.buf[..self.name_len]
    }

    /// The line as written up to the value.
    pub fn lead(&self) -> &[u8] {
        &self.buf[..self.value_start]
    }

    pub fn value(&self) -> &[u8] {
        &self.buf[self.value_start..]
    }
}

/// The fields of a header block (which may include its empty line);
/// `name` keeps only the fields called so (case-insensitively), without
/// building the others.
pub fn fields(block: &[u8], name: Option<&[u8]>) -> Vec<Field> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Next::Field(f) = header::next(block, pos) {
        pos = f.end;
        if name.is_none_or(|n| f.name.eq_ignore_ascii_case(n)) {
            out.push(Field::new(block, &f));
        }
    }
    out
}

/// The address fields' value as FROM, TO, CC and BCC match it.
pub fn address_text(f: &Field) -> Vec<u8> {
    super::address::normalize(&crate::mime::address::parse(f.value()))
}

/// One MIME part's searchable text, folded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartText {
    /// Header lines, then the decoded body if the part is text.
    pub text: String,
    /// Where the body begins in `text`.
    pub body_start: usize,
}

impl PartText {
    pub fn body(&self) -> &str {
        self.text.get(self.body_start..).unwrap_or("")
    }
}

/// Every part's text, in the order the parts appear. `msg` is in CRLF
/// form, as [`Message::parse`] wants it.
pub fn part_texts(msg: &[u8]) -> Vec<PartText> {
    let message = Message::parse(msg);
    let mut out = Vec::with_capacity(message.part_count());
    // Pre-order without recursion: the tree may be 100 levels deep.
    let mut stack = vec![message.root()];
    while let Some(part) = stack.pop() {
        out.push(part_text(&part));
        let first = stack.len();
        stack.extend(part.children());
        stack[first..].reverse();
    }
    out
}

fn part_text(part: &PartRef<'_>) -> PartText {
    let block = part.header();
    let mut text = String::new();
    let mut pos = 0;
    while let Next::Field(f) = header::next(block, pos) {
        pos = f.end;
        let f = Field::new(block, &f);
        fold_into(&mut text, &String::from_utf8_lossy(f.lead()));
        fold_into(&mut text, &decode::decode_words(f.value()));
        text.push_str("\r\n");
    }
    let body_start = text.len();
    if part.children().next().is_none() && is_text(part) {
        if let Some(body) = decode::transfer_lenient(part.body(), cte_of(block).0) {
            let charset = part
                .params()
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
                .map(|(_, v)| String::from_utf8_lossy(v));
            fold_into(&mut text, &decode::to_utf8(&body, charset.as_deref()));
        }
    }
    PartText { text, body_start }
}

/// `text/*`, `message/*`, or no (valid) Content-Type.
fn is_text(part: &PartRef<'_>) -> bool {
    part.is_text()
        || part
            .content_type()
            .is_some_and(|(t, _)| t.eq_ignore_ascii_case(b"message"))
}
