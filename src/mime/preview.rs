//! PREVIEW (RFC 8970): a short plain-text excerpt of a message, from its
//! first text part that is not an attachment — text/plain preferred,
//! text/html with its markup dropped otherwise — with quoted lines
//! (`> ...`) left out and white space collapsed, as Dovecot's snippets.

use super::decode::{self, cte_of};
use super::{Message, PartRef};

/// Characters at most; RFC 8970 §3 caps the preview at 256 octets too.
const MAX_CHARS: usize = 200;
const MAX_OCTETS: usize = 256;

/// The preview of `msg` (CRLF form, parsed); empty when it has no text.
pub fn preview(msg: &Message<'_>) -> String {
    let mut plain = None;
    let mut html = None;
    let mut stack = vec![msg.root()];
    let mut steps = 0;
    while let Some(part) = stack.pop() {
        steps += 1;
        if steps > 1000 || (plain.is_some()) {
            break;
        }
        if part.is_multipart() {
            let first = stack.len();
            stack.extend(part.children());
            stack[first..].reverse();
            continue;
        }
        let attachment = part
            .disposition()
            .is_some_and(|(d, _)| d.eq_ignore_ascii_case(b"attachment"));
        if attachment {
            continue;
        }
        match part.content_type() {
            None => plain = plain.or(Some(part)),
            Some((t, s)) if t.eq_ignore_ascii_case(b"text") && s.eq_ignore_ascii_case(b"plain") => {
                plain = plain.or(Some(part))
            }
            Some((t, s)) if t.eq_ignore_ascii_case(b"text") && s.eq_ignore_ascii_case(b"html") => {
                html = html.or(Some(part))
            }
            _ => {}
        }
    }
    match (plain, html) {
        (Some(p), _) => summarize(&text_of(&p), false),
        (None, Some(h)) => summarize(&text_of(&h), true),
        (None, None) => String::new(),
    }
}

fn text_of(part: &PartRef<'_>) -> String {
    let (cte, _) = cte_of(part.header());
    let body = decode::transfer_lenient(part.body(), cte)
        .unwrap_or(std::borrow::Cow::Borrowed(part.body()));
    // The first 16 KiB are plenty for 200 characters, quotes skipped.
    let body = &body[..body.len().min(16 * 1024)];
    let charset = part
        .params()
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    decode::to_utf8(body, charset.as_deref()).into_owned()
}

fn summarize(text: &str, html: bool) -> String {
    let text = if html {
        strip_markup(text)
    } else {
        text.to_string()
    };
    let mut out = String::new();
    let mut chars = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('>') || line.is_empty() {
            continue;
        }
        for word in line.split_whitespace() {
            let need = word.chars().count() + usize::from(!out.is_empty());
            if chars + need > MAX_CHARS || out.len() + word.len() + 1 > MAX_OCTETS {
                // Fill up to the limit with part of the word, then stop.
                if !out.is_empty() && chars < MAX_CHARS {
                    out.push(' ');
                    chars += 1;
                }
                for c in word.chars() {
                    if chars >= MAX_CHARS || out.len() + c.len_utf8() > MAX_OCTETS {
                        break;
                    }
                    out.push(c);
                    chars += 1;
                }
                return out.trim_end().to_string();
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
            chars += need;
        }
    }
    out
}

/// Tags, comments, and style/script contents dropped; a few entities read.
fn strip_markup(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        let lower: String = rest
            .chars()
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase();
        let skip_to = if lower.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else if lower.starts_with("<style") {
            rest.to_ascii_lowercase().find("</style>").map(|i| i + 8)
        } else if lower.starts_with("<script") {
            rest.to_ascii_lowercase().find("</script>").map(|i| i + 9)
        } else {
            rest.find('>').map(|i| i + 1)
        };
        match skip_to {
            Some(i) => {
                out.push(' ');
                rest = &rest[i..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .replace("\r\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str) -> String {
        preview(&Message::parse(raw.replace('\n', "\r\n").as_bytes()))
    }

    #[test]
    fn plain_text_quotes_and_length() {
        assert_eq!(
            p("Subject: x\n\nHello   there,\n> quoted\n\nsee   you.\n"),
            "Hello there, see you."
        );
        let long = format!("Subject: x\n\n{}\n", "word ".repeat(100));
        let got = p(&long);
        assert!(got.chars().count() <= 200 && got.len() <= 256, "{got}");
        assert!(got.starts_with("word word"));
        assert_eq!(p("Content-Type: image/png\n\nPNG"), "");
    }

    #[test]
    fn html_and_multipart() {
        let m = "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>Hi&nbsp;<b>there</b></p><style>x{}</style>\n--b--\n";
        assert_eq!(p(m), "Hi there");
        let m = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nf=FCr dich\n--b\nContent-Type: text/plain\nContent-Disposition: attachment\n\nno\n--b--\n";
        assert_eq!(p(m), "für dich");
    }
}
