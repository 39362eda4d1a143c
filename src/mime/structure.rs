//! BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, grammar in §9): the part tree
//! written as nested lists, with extension data for BODYSTRUCTURE (MD5,
//! disposition, language, location; for multiparts the parameters too,
//! whose boundary clients rely on). Defaults and corner cases follow
//! Dovecot: no Content-Type is `"text" "plain" ("charset" "us-ascii")`, a
//! multipart without parts holds one empty text/plain part, a part cut
//! off by a parser limit shows as application/octet-stream.

use super::envelope::{write_nolf, Envelope};
use super::params::Params;
use super::parser::{Part, DIGEST, MULTIPART, RFC822};
use crate::proto::encode::ResponseBuf;

const EMPTY_BODY: &str = "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)";
const EMPTY_BODYSTRUCTURE: &str =
    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)";

/// Writes part `idx` (without the parentheses that enclose it).
pub(crate) fn write(msg: &[u8], parts: &[Part], idx: usize, out: &mut ResponseBuf, ext: bool) {
    let Some(part) = parts.get(idx) else {
        out.raw(if ext { EMPTY_BODYSTRUCTURE } else { EMPTY_BODY });
        return;
    };
    if part.has(MULTIPART) {
        write_multipart(msg, parts, part, out, ext);
    } else {
        write_single(msg, parts, part, out, ext);
    }
}

fn write_children(msg: &[u8], parts: &[Part], part: &Part, out: &mut ResponseBuf, ext: bool) {
    for &c in &part.children {
        out.raw("(");
        write(msg, parts, c, out, ext);
        out.raw(")");
    }
}

fn write_multipart(msg: &[u8], parts: &[Part], part: &Part, out: &mut ResponseBuf, ext: bool) {
    if part.children.is_empty() {
        out.raw(if ext { EMPTY_BODYSTRUCTURE } else { EMPTY_BODY });
    } else {
        write_children(msg, parts, part, out, ext);
    }
    let data = &part.data;
    let subtype = data.content_type.as_ref().map_or(&b""[..], |(_, s)| s);
    out.sp().string(subtype);
    if ext {
        out.sp();
        write_params(out, &data.params, false);
        write_common(out, part);
    }
}

/// A part whose structure a parser limit cut off (Dovecot writes it as
/// application/octet-stream rather than claim a type it did not parse).
fn truncated(parts: &[Part], part: &Part) -> bool {
    let data = &part.data;
    if data.content_type.is_some() {
        data.is_type_sub("message", "rfc822") || data.is_type("multipart")
    } else {
        part.parent.is_some_and(|p| parts[p].has(DIGEST))
    }
}

fn write_single(msg: &[u8], parts: &[Part], part: &Part, out: &mut ResponseBuf, ext: bool) {
    let data = &part.data;
    let text = if part.has(RFC822) {
        out.raw("\"message\" \"rfc822\"");
        false
    } else if truncated(parts, part) {
        out.raw("\"application\" \"octet-stream\"");
        false
    } else if let Some((t, sub)) = &data.content_type {
        out.string(t).sp().string(sub);
        t.eq_ignore_ascii_case(b"text")
    } else {
        out.raw("\"text\" \"plain\"");
        true
    };
    out.sp();
    write_params(out, &data.params, text);
    out.sp();
    write_nolf(out, data.id.as_deref());
    out.sp();
    write_nolf(out, data.description.as_deref());
    out.sp();
    match &data.encoding {
        Some(e) => {
            out.string(e);
        }
        None => {
            out.raw("\"7bit\"");
        }
    }
    let body = msg.get(part.header_end..part.end).unwrap_or_default();
    out.sp().number(body.len() as u64);
    if text {
        out.sp().number(lines(body));
    } else if part.has(RFC822) {
        if let Some(&child) = part.children.first() {
            let env = parts
                .get(child)
                .and_then(|c| msg.get(c.start..c.header_end))
                .map(Envelope::from_header)
                .unwrap_or_default();
            out.raw(" (");
            env.write(out);
            out.raw(") ");
            write_children(msg, parts, part, out, ext);
            out.sp().number(lines(body));
        }
    }
    if ext {
        out.sp();
        write_nolf(out, data.md5.as_deref());
        write_common(out, part);
    }
}

fn lines(body: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', body).count() as u64
}

/// `body-fld-param`; text parts get a charset when they name none.
fn write_params(out: &mut ResponseBuf, params: &Params, default_charset: bool) {
    if params.is_empty() && !default_charset {
        out.raw("NIL");
        return;
    }
    out.raw("(");
    let mut seen_charset = false;
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.sp();
        }
        seen_charset |= name.eq_ignore_ascii_case(b"charset");
        out.string(name).sp().string(value);
    }
    if default_charset && !seen_charset {
        if !params.is_empty() {
            out.sp();
        }
        out.raw("\"charset\" \"us-ascii\"");
    }
    out.raw(")");
}

/// Disposition, language and location (RFC 3501 `body-ext-1part` tail).
fn write_common(out: &mut ResponseBuf, part: &Part) {
    let data = &part.data;
    out.sp();
    match &data.disposition {
        None => {
            out.raw("NIL");
        }
        Some(d) => {
            out.raw("(").string(d).sp();
            write_params(out, &data.disposition_params, false);
            out.raw(")");
        }
    }
    out.sp();
    match &data.language {
        None => {
            out.raw("NIL");
        }
        Some(langs) => {
            out.raw("(");
            for (i, l) in langs.iter().enumerate() {
                if i > 0 {
                    out.sp();
                }
                out.string(l);
            }
            out.raw(")");
        }
    }
    out.sp();
    write_nolf(out, data.location.as_deref());
}
