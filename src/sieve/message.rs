//! The message as a script sees it: header fields (editable by
//! `addheader`/`deleteheader`, RFC 5293), addresses, body parts for the
//! `body` test (RFC 5173), read through [`crate::mime`].

use crate::mime::{self, decode, header};

use super::compile::{AddrPart, BodyTransform};

/// One header field: the name as written and the raw (folded) value.
#[derive(Clone, Debug)]
pub(crate) struct HeaderField {
    pub name: String,
    pub raw: String,
}

impl HeaderField {
    /// The value as tests see it: unfolded, RFC 2047 words decoded,
    /// surrounding blanks trimmed.
    pub(crate) fn decoded(&self) -> String {
        let unfolded: String = self.raw.replace("\r\n", "").replace('\n', "");
        let text = if unfolded.contains("=?") {
            decode::decode_words(unfolded.as_bytes())
        } else {
            unfolded
        };
        text.trim_matches(|c| c == ' ' || c == '\t').to_string()
    }
}

#[derive(Debug)]
pub(crate) struct MessageView {
    pub fields: Vec<HeaderField>,
    /// The header as received, used as long as nothing was edited.
    original_header: Vec<u8>,
    /// Body bytes after the empty line.
    pub body: Vec<u8>,
    pub edited: bool,
}

impl MessageView {
    pub(crate) fn new(raw: &[u8]) -> MessageView {
        let (hdr_end, body_start) = header_end(raw);
        let hdr = &raw[..hdr_end];
        let fields = header::fields(hdr)
            .into_iter()
            .filter(|f| !f.name.is_empty())
            .map(|f| HeaderField {
                name: String::from_utf8_lossy(f.name).into_owned(),
                raw: String::from_utf8_lossy(&f.value).into_owned(),
            })
            .collect();
        MessageView {
            fields,
            original_header: raw[..body_start].to_vec(),
            body: raw[body_start..].to_vec(),
            edited: false,
        }
    }

    /// Decoded values of the fields called `name`, in order.
    pub(crate) fn values(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .map(HeaderField::decoded)
            .collect()
    }

    /// Raw values of the fields called `name`, in order.
    pub(crate) fn raw_values(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.raw.as_str())
            .collect()
    }

    /// The message bytes, with edits applied.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        if !self.edited {
            let mut out = self.original_header.clone();
            out.extend_from_slice(&self.body);
            return out;
        }
        let mut out = Vec::with_capacity(self.body.len() + 1024);
        for f in &self.fields {
            out.extend_from_slice(f.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(
                f.raw
                    .replace('\n', "\r\n")
                    .replace("\r\r\n", "\r\n")
                    .as_bytes(),
            );
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    pub(crate) fn size(&self) -> u64 {
        if self.edited {
            self.to_bytes().len() as u64
        } else {
            (self.original_header.len() + self.body.len()) as u64
        }
    }

    /// Body texts for the `body` test: one string per part that matches.
    pub(crate) fn body_texts(&self, transform: &BodyTransform) -> Vec<String> {
        if *transform == BodyTransform::Raw {
            return vec![String::from_utf8_lossy(&self.body).into_owned()];
        }
        let whole = mime::raw::to_crlf(&self.to_bytes()).into_owned();
        let message = mime::Message::parse(&whole);
        let mut out = Vec::new();
        let mut stack = vec![message.root()];
        let mut steps = 0;
        while let Some(part) = stack.pop() {
            steps += 1;
            if steps > 10_000 {
                break;
            }
            let (ty, sub) = part
                .content_type()
                .map(|(t, s)| {
                    (
                        String::from_utf8_lossy(t).to_ascii_lowercase(),
                        String::from_utf8_lossy(s).to_ascii_lowercase(),
                    )
                })
                .unwrap_or_else(|| ("text".into(), "plain".into()));
            let wanted = match transform {
                BodyTransform::Text => ty == "text",
                BodyTransform::Content(types) => types.iter().any(|t| {
                    let t = t.to_ascii_lowercase();
                    t.is_empty() || t == ty || t == format!("{ty}/{sub}")
                }),
                BodyTransform::Raw => false,
            };
            if part.is_multipart() {
                let first = stack.len();
                stack.extend(part.children());
                stack[first..].reverse();
                continue;
            }
            if wanted {
                let (cte, _) = decode::cte_of(part.header());
                let body = decode::transfer_lenient(part.body(), cte)
                    .unwrap_or(std::borrow::Cow::Borrowed(part.body()));
                let charset = part
                    .params()
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
                out.push(decode::to_utf8(&body, charset.as_deref()).into_owned());
            }
            if part.is_message() {
                let first = stack.len();
                stack.extend(part.children());
                stack[first..].reverse();
            }
        }
        out
    }

    pub(crate) fn add_field(&mut self, name: &str, value: &str, last: bool) {
        let field = HeaderField {
            name: name.to_string(),
            raw: fold(value),
        };
        if last {
            self.fields.push(field);
        } else {
            self.fields.insert(0, field);
        }
        self.edited = true;
    }
}

/// Where the header ends and the body begins (after the empty line).
fn header_end(raw: &[u8]) -> (usize, usize) {
    let mut pos = 0;
    loop {
        match header::next(raw, pos) {
            header::Next::Field(f) => pos = f.end,
            header::Next::Eoh(after) => return (pos, after),
            header::Next::Eof => return (raw.len(), raw.len()),
        }
    }
}

/// Long values folded at blanks so added lines stay under 998 octets.
fn fold(value: &str) -> String {
    let clean: String = value.chars().filter(|&c| c != '\r' && c != '\n').collect();
    if clean.len() <= 76 {
        return clean;
    }
    let mut out = String::new();
    let mut line = 0;
    for (i, word) in clean.split(' ').enumerate() {
        if i > 0 {
            if line + word.len() + 1 > 76 && line > 0 {
                out.push_str("\r\n ");
                line = 1;
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

/// The addresses in an address header, each as (local part, domain).
pub(crate) fn addresses(raw_value: &str) -> Vec<(String, Option<String>)> {
    mime::address::parse(raw_value.as_bytes())
        .into_iter()
        .filter_map(|a| {
            // A group's start (`name:`) has no domain and is no address.
            let local = a.mailbox?;
            let domain = a.domain?;
            let domain = (domain != b"MISSING_DOMAIN")
                .then(|| String::from_utf8_lossy(&domain).into_owned());
            Some((String::from_utf8_lossy(&local).into_owned(), domain))
        })
        .filter(|(l, _)| l != "MISSING_MAILBOX")
        .collect()
}

/// Splits an envelope address (`local@domain`, maybe in angle brackets).
pub(crate) fn envelope_address(a: &str) -> (String, Option<String>) {
    let a = a.trim().trim_start_matches('<').trim_end_matches('>');
    match a.rsplit_once('@') {
        Some((l, d)) => (l.to_string(), Some(d.to_string())),
        None => (a.to_string(), None),
    }
}

/// One part of an address as the test names it; `None` when the part does
/// not exist (`:detail` without a delimiter), which then matches nothing.
pub(crate) fn address_part(
    local: &str,
    domain: Option<&str>,
    part: AddrPart,
    delimiter: &str,
) -> Option<String> {
    let split = |l: &str| -> (String, Option<String>) {
        match (!delimiter.is_empty()).then(|| l.find(delimiter)).flatten() {
            Some(i) => (
                l[..i].to_string(),
                Some(l[i + delimiter.len()..].to_string()),
            ),
            None => (l.to_string(), None),
        }
    };
    match part {
        AddrPart::All => Some(match domain {
            Some(d) if !d.is_empty() => format!("{local}@{d}"),
            _ => local.to_string(),
        }),
        AddrPart::Localpart => Some(local.to_string()),
        AddrPart::Domain => Some(domain.unwrap_or("").to_string()),
        AddrPart::User => Some(split(local).0),
        AddrPart::Detail => split(local).1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_and_unfold() {
        let m = MessageView::new(
            b"Subject: =?utf-8?q?caf=C3=A9?=\r\n  time\r\nTo: a@b\r\n\r\nbody\r\n",
        );
        assert_eq!(m.values("subject"), vec!["café  time"]);
        assert_eq!(m.body, b"body\r\n");
        assert_eq!(
            m.to_bytes(),
            b"Subject: =?utf-8?q?caf=C3=A9?=\r\n  time\r\nTo: a@b\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn address_parts() {
        let a = addresses("Joe <joe+lists@Example.org>, undisclosed:;");
        assert_eq!(
            a,
            vec![("joe+lists".to_string(), Some("Example.org".to_string()))]
        );
        assert_eq!(
            address_part("joe+lists", Some("x"), AddrPart::User, "+").unwrap(),
            "joe"
        );
        assert_eq!(
            address_part("joe+lists", Some("x"), AddrPart::Detail, "+").unwrap(),
            "lists"
        );
        assert_eq!(address_part("joe", Some("x"), AddrPart::Detail, "+"), None);
        assert_eq!(
            address_part("joe", Some("x"), AddrPart::All, "+").unwrap(),
            "joe@x"
        );
    }

    #[test]
    fn body_text_decodes_text_parts_only() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nf=FCr\r\n--b\r\nContent-Type: application/pdf\r\n\r\nPDFDATA\r\n--b--\r\n";
        let m = MessageView::new(raw);
        let t = m.body_texts(&BodyTransform::Text);
        assert_eq!(t.len(), 1);
        assert!(t[0].contains("für"));
        let all = m.body_texts(&BodyTransform::Content(vec!["application".into()]));
        assert!(all[0].contains("PDFDATA"));
    }
}
