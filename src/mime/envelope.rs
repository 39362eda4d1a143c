//! ENVELOPE (RFC 3501 §7.4.2): date, subject, from, sender, reply-to, to,
//! cc, bcc, in-reply-to, message-id, all from the raw header (encoded
//! words are not decoded). As in Dovecot: the last Date, Subject,
//! In-Reply-To and Message-ID win; repeated address fields add up; an
//! empty Sender or Reply-To falls back to From; line breaks of folded
//! values are removed; Subject and display names are cleaned "for
//! humans" (blank runs collapsed, ends trimmed).

use super::address::{self, Address};
use super::header;
use crate::proto::encode::ResponseBuf;

#[derive(Debug, Default)]
pub(crate) struct Envelope {
    date: Option<Vec<u8>>,
    subject: Option<Vec<u8>>,
    from: Vec<Address>,
    sender: Vec<Address>,
    reply_to: Vec<Address>,
    to: Vec<Address>,
    cc: Vec<Address>,
    bcc: Vec<Address>,
    in_reply_to: Option<Vec<u8>>,
    message_id: Option<Vec<u8>>,
}

impl Envelope {
    /// Gathers the envelope fields of a header block.
    pub fn from_header(header_block: &[u8]) -> Envelope {
        let mut env = Envelope::default();
        for f in header::fields(header_block) {
            let name = f.name;
            let text = |dst: &mut Option<Vec<u8>>| {
                *dst = Some(header::nul_to_replacement(&f.value));
            };
            let list = |dst: &mut Vec<Address>| dst.extend(address::parse(&f.value));
            if name.eq_ignore_ascii_case(b"Date") {
                text(&mut env.date);
            } else if name.eq_ignore_ascii_case(b"Subject") {
                text(&mut env.subject);
            } else if name.eq_ignore_ascii_case(b"In-Reply-To") {
                text(&mut env.in_reply_to);
            } else if name.eq_ignore_ascii_case(b"Message-ID") {
                text(&mut env.message_id);
            } else if name.eq_ignore_ascii_case(b"From") {
                list(&mut env.from);
            } else if name.eq_ignore_ascii_case(b"Sender") {
                list(&mut env.sender);
            } else if name.eq_ignore_ascii_case(b"Reply-To") {
                list(&mut env.reply_to);
            } else if name.eq_ignore_ascii_case(b"To") {
                list(&mut env.to);
            } else if name.eq_ignore_ascii_case(b"Cc") {
                list(&mut env.cc);
            } else if name.eq_ignore_ascii_case(b"Bcc") {
                list(&mut env.bcc);
            }
        }
        env
    }

    /// The envelope's fields, without the enclosing parentheses.
    pub fn write<'a>(&'a self, out: &mut ResponseBuf) {
        write_nolf(out, self.date.as_deref());
        out.sp();
        match &self.subject {
            Some(s) => {
                out.string(&for_humans(s));
            }
            None => {
                out.raw("NIL");
            }
        }
        // Sender and Reply-To default to From (RFC 3501 §7.4.2).
        let or_from = |list: &'a [Address]| -> &'a [Address] {
            if list.is_empty() {
                &self.from
            } else {
                list
            }
        };
        for list in [
            &self.from[..],
            or_from(&self.sender),
            or_from(&self.reply_to),
            &self.to,
            &self.cc,
            &self.bcc,
        ] {
            out.sp();
            write_addresses(out, list);
        }
        out.sp();
        write_nolf(out, self.in_reply_to.as_deref());
        out.sp();
        write_nolf(out, self.message_id.as_deref());
    }
}

fn write_addresses(out: &mut ResponseBuf, list: &[Address]) {
    if list.is_empty() {
        out.raw("NIL");
        return;
    }
    out.raw("(");
    for a in list {
        out.raw("(");
        match &a.name {
            Some(n) => {
                out.string(&for_humans(n));
            }
            None => {
                out.raw("NIL");
            }
        }
        out.sp().nstring(a.route.as_deref());
        out.sp().nstring(a.mailbox.as_deref());
        out.sp().nstring(a.domain.as_deref());
        out.raw(")");
    }
    out.raw(")");
}

/// An nstring with CR and LF removed (a space put in where the next line
/// does not start with a blank), as Dovecot writes unstructured values.
pub(crate) fn write_nolf(out: &mut ResponseBuf, s: Option<&[u8]>) {
    match s {
        None => {
            out.raw("NIL");
        }
        Some(s) => {
            out.string(&remove_newlines(s));
        }
    }
}

pub(crate) fn remove_newlines(s: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !s.iter().any(|&b| b == b'\r' || b == b'\n') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    for (i, &b) in s.iter().enumerate() {
        if b != b'\r' && b != b'\n' {
            out.push(b);
        } else if !matches!(s.get(i + 1), None | Some(b' ' | b'\t' | b'\r' | b'\n' | 0)) {
            out.push(b' ');
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Subject and display names as Dovecot shows them: every run of
/// SP/HTAB/CR/LF becomes one space, none at either end, NUL becomes 0x80.
pub(crate) fn for_humans(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut pending_space = false;
    for &b in s {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => pending_space = !out.is_empty(),
            _ => {
                if pending_space {
                    out.push(b' ');
                    pending_space = false;
                }
                out.push(if b == 0 { 0x80 } else { b });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humans_and_newlines() {
        assert_eq!(for_humans(b"  a  b\t\r\n c  "), b"a b c");
        assert_eq!(for_humans(b" \t "), b"");
        assert_eq!(for_humans(b"a\0b"), b"a\x80b");
        assert_eq!(&*remove_newlines(b"<a@b>\n <c@d>"), b"<a@b> <c@d>");
        assert_eq!(&*remove_newlines(b"foo\nbar"), b"foo bar");
        assert_eq!(&*remove_newlines(b"\nfoo\r bar\r\n"), b" foo bar");
    }
}
