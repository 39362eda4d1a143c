//! `BODY[section]` (RFC 3501 §6.4.5): which bytes a section names.
//!
//! Part numbers walk the tree: in a multipart, `n` is its n-th part; in
//! a message/rfc822 part the numbers go on inside the enclosed message;
//! in any other part only `1` exists and means the part itself (so a
//! non-multipart message's part 1 is its body). `HEADER`, `TEXT` and
//! `HEADER.FIELDS[.NOT]` need the message itself or a message/rfc822
//! part; `MIME` is a part's own header, for a message/rfc822 part too.
//! Anything that does not exist is the empty string, as in Dovecot.

use super::header::{self, Next};
use super::parser::{Part, MULTIPART, RFC822};
use crate::proto::types::{Section, SectionText};
use std::borrow::Cow;

/// The part a section-part names, or `None`. An empty path is the message.
pub(crate) fn find(parts: &[Part], path: &[u32]) -> Option<usize> {
    let mut idx = 0usize;
    for (i, &num) in path.iter().enumerate() {
        let part = parts.get(idx)?;
        let more = i + 1 < path.len();
        if part.has(MULTIPART) {
            let n = usize::try_from(num).ok()?.checked_sub(1)?;
            idx = *part.children.get(n)?;
        } else if num != 1 || (more && !part.has(RFC822)) {
            return None;
        }
        let part = parts.get(idx)?;
        if more && part.has(RFC822) {
            // Numbers go on inside the enclosed message.
            idx = *part.children.first()?;
        }
    }
    Some(idx)
}

/// The bytes of a section, before NUL conversion and `<partial>`.
pub(crate) fn bytes<'a>(msg: &'a [u8], parts: &[Part], section: &Section) -> Cow<'a, [u8]> {
    let empty = Cow::Borrowed(&b""[..]);
    let slice = |from: usize, to: usize| Cow::Borrowed(msg.get(from..to).unwrap_or_default());
    let root = section.part.is_empty();
    let Some(idx) = find(parts, &section.part) else {
        return empty;
    };
    let Some(part) = parts.get(idx) else {
        return empty;
    };
    let Some(text) = &section.text else {
        return if root {
            Cow::Borrowed(msg)
        } else {
            slice(part.header_end, part.end)
        };
    };
    if let SectionText::Mime = text {
        return if root {
            empty
        } else {
            slice(part.start, part.header_end)
        };
    }
    // HEADER, TEXT and the field lists are about a message: the whole
    // one, or the one inside a message/rfc822 part.
    let target = if root {
        part
    } else if part.has(RFC822) {
        match part.children.first().and_then(|&c| parts.get(c)) {
            Some(c) => c,
            None => return empty,
        }
    } else {
        return empty;
    };
    let header_block = msg.get(target.start..target.header_end).unwrap_or_default();
    // Dovecot filters the fields of an enclosed message from a header it
    // reads on its own (past a boundary that cut it short).
    let fields_from = if root {
        header_block
    } else {
        target.raw_header(msg)
    };
    match text {
        SectionText::Header => Cow::Borrowed(header_block),
        SectionText::Text => slice(target.header_end, target.end),
        SectionText::HeaderFields(names) => {
            Cow::Owned(select_fields(fields_from, names, true, root))
        }
        SectionText::HeaderFieldsNot(names) => {
            Cow::Owned(select_fields(fields_from, names, false, root))
        }
        SectionText::Mime => empty,
    }
}

/// `HEADER.FIELDS` (`keep`) or `HEADER.FIELDS.NOT`: the fields whose name
/// is (not) listed, whole and in message order, then the empty line if
/// the header has one. Dovecot always ends the message's own
/// `HEADER.FIELDS` with an empty line (adding a missing newline first);
/// the other forms copy what is there.
pub(crate) fn select_fields(
    header_block: &[u8],
    names: &[Vec<u8>],
    keep: bool,
    whole_message: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut eoh = false;
    loop {
        match header::next(header_block, pos) {
            Next::Field(f) => {
                let listed = names.iter().any(|n| n.eq_ignore_ascii_case(f.name));
                if listed == keep {
                    out.extend_from_slice(&header_block[f.start..f.end]);
                }
                pos = f.end;
            }
            Next::Eoh(_) => {
                eoh = true;
                break;
            }
            Next::Eof => break,
        }
    }
    if keep && whole_message {
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    } else if eoh {
        out.extend_from_slice(b"\r\n");
    }
    out
}
