//! Content decoding for reading text out of a message: which
//! Content-Transfer-Encoding a header names, lenient base64 and
//! quoted-printable (RFC 2045 §6), charsets to UTF-8, and RFC 2047
//! encoded words. SEARCH reads text through here; BINARY names encodings
//! through [`cte_of`] and keeps strict decoders of its own (`binary`),
//! because RFC 3516 lets it refuse what SEARCH must still read.
//!
//! # What mailparse does here, and what it cannot
//!
//! mailparse owns the charset tables: [`to_utf8`] converts through its
//! body decoder (the WHATWG encodings of encoding_rs), and [`charset_known`]
//! asks the same table. Its RFC 2047 decoder is not used: it recognises an
//! encoded word only between blanks or specials, where Dovecot (and so
//! clients' expectations of SEARCH) decodes words glued to other text, e.g.
//! `abc=?utf-8?q?=C3=A4?=def` (see the test `mailparse_leaves_glued_words`).
//! Its transfer decoders reject base64 with stray characters that Dovecot
//! reads past.

use super::header;
use super::lexer::{Lex, Lexer};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use std::borrow::Cow;

/// A Content-Transfer-Encoding as Dovecot's decoder reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cte {
    /// 7bit, 8bit, or none given.
    Text,
    Binary,
    QuotedPrintable,
    Base64,
    /// Anything else: the content is opaque (RFC 2045 §6.4 says to treat
    /// it as application/octet-stream).
    Unknown,
}

/// The last Content-Transfer-Encoding of a header counts (as in Dovecot),
/// and whether the header holds a NUL.
pub(crate) fn cte_of(header_block: &[u8]) -> (Cte, bool) {
    let mut cte = Cte::Text;
    let mut end = 0;
    for f in header::fields(header_block) {
        if f.is("Content-Transfer-Encoding") {
            cte = parse_cte(&f.value);
        }
        end = f.end;
    }
    (cte, header_block[..end].contains(&0))
}

pub(crate) fn parse_cte(value: &[u8]) -> Cte {
    let mut lex = Lexer::new(value);
    lex.skip_lwsp();
    let mut token = Vec::new();
    if lex.mime_token(&mut token) == Lex::More {
        // Parameters after `;` are tolerated, anything else is not.
        lex.skip_lwsp();
        if lex.peek() != b';' {
            return Cte::Unknown;
        }
    }
    let t = token.to_ascii_lowercase();
    match &t[..] {
        b"7bit" | b"8bit" => Cte::Text,
        b"binary" => Cte::Binary,
        b"base64" => Cte::Base64,
        b"quoted-printable" => Cte::QuotedPrintable,
        _ => Cte::Unknown,
    }
}

/// Undoes a transfer encoding leniently; `None` for an unknown one.
pub(crate) fn transfer_lenient(body: &[u8], cte: Cte) -> Option<Cow<'_, [u8]>> {
    match cte {
        Cte::Text | Cte::Binary => Some(Cow::Borrowed(body)),
        Cte::Base64 => Some(Cow::Owned(base64_lenient(body))),
        Cte::QuotedPrintable => Some(Cow::Owned(quoted_printable(body))),
        Cte::Unknown => None,
    }
}

/// Base64 that skips what is not in the alphabet (line breaks, stray
/// characters) rather than failing, as mail readers do.
pub(crate) fn base64_lenient(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` is a byte, `=` at the end of
/// a line joins it to the next, trailing blanks are dropped; a `=` that
/// starts neither is kept as it is.
pub(crate) fn quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    loop {
        let (line, newline, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let crlf = i > 0 && rest[i - 1] == b'\r';
                let line = &rest[..if crlf { i - 1 } else { i }];
                let nl: &[u8] = if crlf { b"\r\n" } else { b"\n" };
                (line, nl, Some(&rest[i + 1..]))
            }
            None => (rest, &b""[..], None),
        };
        let mut line = line;
        while let Some((&last, init)) = line.split_last() {
            if last == b' ' || last == b'\t' {
                line = init;
            } else {
                break;
            }
        }
        let soft = line.last() == Some(&b'=');
        if soft {
            line = &line[..line.len() - 1];
        }
        qp_line(line, &mut out);
        if !soft {
            out.extend_from_slice(newline);
        }
        match next {
            Some(n) => rest = n,
            None => return out,
        }
    }
}

fn qp_line(line: &[u8], out: &mut Vec<u8>) {
    let mut rest = line;
    // Text between escapes is copied a run at a time (byte by byte, this
    // was a tenth of a full-text search's time reading candidates).
    while let Some(at) = memchr::memchr(b'=', rest) {
        out.extend_from_slice(&rest[..at]);
        match rest.get(at + 1..at + 3).and_then(hex_byte) {
            Some(v) => {
                out.push(v);
                rest = &rest[at + 3..];
            }
            // Not an escape: the `=` stands for itself.
            None => {
                out.push(b'=');
                rest = &rest[at + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    match two {
        [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
        _ => None,
    }
}

/// Names read as UTF-8 without a table (US-ASCII is a subset).
fn utf8_like(charset: &str) -> bool {
    ["", "utf-8", "utf8", "us-ascii", "ascii"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(charset))
}

/// Whether [`to_utf8`] knows `charset` (a name or alias, any case).
pub fn charset_known(charset: &str) -> bool {
    let cs = charset.trim();
    (!cs.is_empty() && utf8_like(cs)) || encoding_rs::Encoding::for_label(cs.as_bytes()).is_some()
}

/// Text in a charset as UTF-8. Like Dovecot, a missing charset or
/// US-ASCII is read as UTF-8, and what is not valid becomes U+FFFD.
pub fn to_utf8<'a>(bytes: &'a [u8], charset: Option<&str>) -> Cow<'a, str> {
    let cs = charset.map(str::trim).unwrap_or("");
    if utf8_like(cs) {
        // The fast validator first: most text is valid, and then nothing
        // is copied.
        return match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(bytes),
        };
    }
    let ctype = mailparse::ParsedContentType {
        mimetype: "text/plain".to_string(),
        charset: cs.to_string(),
        params: Default::default(),
    };
    match mailparse::body::Body::new(bytes, &ctype, &None) {
        mailparse::body::Body::SevenBit(text) => text
            .get_as_string()
            .map(Cow::Owned)
            .unwrap_or_else(|_| String::from_utf8_lossy(bytes)),
        _ => String::from_utf8_lossy(bytes),
    }
}

/// Longest charset name in an encoded word that is worth looking up.
const MAX_CHARSET: usize = 64;

/// A header value with RFC 2047 encoded words decoded. Blanks between
/// two encoded words go (§6.2). As in Dovecot, words are recognised
/// anywhere, even inside quotes and next to other text, and each is
/// decoded on its own; other bytes are read as UTF-8.
pub fn decode_words(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut plain_start = 0;
    let mut after_word = false;
    let mut i = 0;
    while let Some(off) = memchr::memmem::find(&value[i..], b"=?") {
        let at = i + off;
        match encoded_word(&value[at..]) {
            Some((decoded, len)) => {
                let between = &value[plain_start..at];
                if !(after_word && between.iter().all(|&b| b == b' ' || b == b'\t')) {
                    out.push_str(&String::from_utf8_lossy(between));
                }
                out.push_str(&decoded);
                after_word = true;
                i = at + len;
                plain_start = i;
            }
            None => i = at + 2,
        }
    }
    out.push_str(&String::from_utf8_lossy(&value[plain_start..]));
    out
}

/// `=?charset?B|Q?text?=` at the start of `s`: the decoded text and the
/// word's length.
fn encoded_word(s: &[u8]) -> Option<(String, usize)> {
    let body = s.strip_prefix(b"=?")?;
    let q1 = body.iter().take(MAX_CHARSET + 1).position(|&b| b == b'?')?;
    let charset = &body[..q1];
    let enc = *body.get(q1 + 1)?;
    if body.get(q1 + 2) != Some(&b'?') || charset.is_empty() {
        return None;
    }
    let text_start = q1 + 3;
    let text_len = body[text_start..]
        .iter()
        .position(|&b| b == b'?' || b == b' ' || b == b'\t')?;
    let text = &body[text_start..text_start + text_len];
    if body.get(text_start + text_len..text_start + text_len + 2) != Some(&b"?="[..]) {
        return None;
    }
    if charset.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let bytes = match enc {
        b'B' | b'b' => base64_lenient(text),
        b'Q' | b'q' => {
            let mut out = Vec::with_capacity(text.len());
            let spaced: Vec<u8> = text
                .iter()
                .map(|&b| if b == b'_' { b' ' } else { b })
                .collect();
            qp_line(&spaced, &mut out);
            out
        }
        _ => return None,
    };
    // RFC 2231 §5: a language may follow the charset after '*'.
    let charset = String::from_utf8_lossy(charset);
    let charset = charset.split('*').next().unwrap_or_default();
    Some((
        to_utf8(&bytes, Some(charset)).into_owned(),
        2 + text_start + text_len + 2,
    ))
}

// The strict decoders BINARY needs (RFC 3516 §4.3: undecodable data is
// an error there, while SEARCH reads what it can).

/// Quoted-printable (RFC 2045 §6.7) the way Dovecot decodes it: soft line
/// breaks removed, trailing blanks dropped, line breaks as CRLF, lowercase
/// hex accepted; any other `=` sequence, a lone CR or a run of more than
/// 76 blanks inside a line makes the input invalid.
pub(crate) fn qp_strict(src: &[u8]) -> Option<Vec<u8>> {
    #[derive(Clone, Copy)]
    enum St {
        Text,
        Blank,
        Equals,
        EqualsBlank,
        Hex2(u8),
        Cr,
        SoftCr,
    }
    const MAX_BLANKS: usize = 76;
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(src.len());
    let mut blanks: Vec<u8> = Vec::new();
    let mut st = St::Text;
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        match st {
            St::Text => match c {
                b'=' => st = St::Equals,
                b'\r' => st = St::Cr,
                b'\n' => out.extend_from_slice(b"\r\n"),
                b' ' | b'\t' => {
                    blanks.push(c);
                    st = St::Blank;
                }
                _ => out.push(c),
            },
            St::Blank => match c {
                b' ' | b'\t' => {
                    if blanks.len() <= MAX_BLANKS {
                        blanks.push(c);
                    }
                }
                b'\r' => st = St::Cr,
                b'\n' => {
                    // Trailing blanks are padding (RFC 2045 §6.7 rule 3).
                    out.extend_from_slice(b"\r\n");
                    blanks.clear();
                }
                _ => {
                    if blanks.len() > MAX_BLANKS {
                        return None;
                    }
                    out.append(&mut blanks);
                    st = St::Text;
                    continue;
                }
            },
            St::Equals => {
                if hex(c).is_some() {
                    st = St::Hex2(c);
                } else if c == b' ' || c == b'\t' {
                    blanks.push(c);
                    st = St::EqualsBlank;
                } else if c == b'\r' {
                    st = St::SoftCr;
                } else if c == b'\n' {
                    st = St::Text;
                } else {
                    return None;
                }
            }
            St::Hex2(h) => match (hex(h), hex(c)) {
                (Some(a), Some(b)) => {
                    out.push(a << 4 | b);
                    st = St::Text;
                }
                _ => return None,
            },
            St::EqualsBlank => match c {
                b' ' | b'\t' => {
                    if blanks.len() <= MAX_BLANKS {
                        blanks.push(c);
                    }
                }
                b'\r' => st = St::SoftCr,
                b'\n' => {
                    blanks.clear();
                    st = St::Text;
                }
                _ => return None,
            },
            St::Cr | St::SoftCr => {
                if c != b'\n' {
                    return None;
                }
                blanks.clear();
                if matches!(st, St::Cr) {
                    out.extend_from_slice(b"\r\n");
                }
                st = St::Text;
            }
        }
        i += 1;
    }
    // Blanks at the very end are dropped; a dangling `=` or CR is not ok.
    matches!(st, St::Text | St::Blank).then_some(out)
}

/// Base64 (RFC 2045 §6.8) as Dovecot reads it: blanks and line breaks
/// anywhere, nothing but blanks after the padding, no missing padding.
pub(crate) fn base64_strict(src: &[u8]) -> Option<Vec<u8>> {
    let is_blank = |c: u8| matches!(c, b'\n' | b'\r' | b' ' | b'\t');
    let is_alpha = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut chars = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() && (is_alpha(src[i]) || is_blank(src[i])) {
        if is_alpha(src[i]) {
            chars.push(src[i]);
        }
        i += 1;
    }
    if i < src.len() {
        // Padding: one `=` after 3 characters of a group, two after 2.
        let need = match chars.len() % 4 {
            2 => 2,
            3 => 1,
            _ => return None,
        };
        let mut seen = 0;
        while seen < need {
            if src.get(i) != Some(&b'=') {
                return None;
            }
            seen += 1;
            i += 1;
            while i < src.len() && is_blank(src[i]) {
                i += 1;
            }
            if i >= src.len() && seen < need {
                // Ends inside the padding.
                return None;
            }
        }
        if i < src.len() {
            return None;
        }
    } else if chars.len() % 4 != 0 {
        return None;
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    engine.decode(&chars).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_decoders() {
        assert_eq!(base64_lenient(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(base64_lenient(b"a!GVsbG8"), b"hello");
        assert_eq!(
            quoted_printable(b"a=3Db =\r\nc  \r\nd=ZZ"),
            b"a=b c\r\nd=ZZ"
        );
        assert_eq!(quoted_printable(b"x=\ny\n"), b"xy\n");
        assert!(parse_cte(b"Base64") == Cte::Base64);
        assert!(parse_cte(b" quoted-printable ; x") == Cte::QuotedPrintable);
        for unknown in [
            &b"base64 junk"[..],
            b"",
            b"x-uuencode",
            b"7-bit",
            b"plain",
            b"8bits",
        ] {
            assert!(parse_cte(unknown) == Cte::Unknown, "{unknown:?}");
        }
    }

    #[test]
    fn words_and_charsets() {
        assert_eq!(
            decode_words(b"=?utf-8?q?a?= =?utf-8?q?b?= c =?utf-8?q?d?="),
            "ab c d"
        );
        assert_eq!(decode_words(b"abc=?utf-8?q?=C3=A4?=def"), "abc\u{e4}def");
        assert_eq!(decode_words(b"=?utf-8*en?q?lang?="), "lang");
        assert_eq!(decode_words(b"=?utf-8?q?bad=ZZhex?="), "bad=ZZhex");
        assert_eq!(decode_words(b"=?utf-8?x?abc?= =?"), "=?utf-8?x?abc?= =?");
        assert_eq!(to_utf8(b"caf\xe9", Some("iso-8859-1")), "caf\u{e9}");
        assert_eq!(to_utf8(b"caf\xc3\xa9", Some("US-ASCII")), "caf\u{e9}");
        assert_eq!(
            to_utf8(b"\x83\x65\x83\x58\x83\x67", Some("Shift_JIS")),
            "\u{30c6}\u{30b9}\u{30c8}"
        );
        for known in [
            "latin1",
            "ISO-8859-15",
            "windows-1251",
            "KOI8-U",
            "GB2312",
            "Big5",
            "EUC-KR",
            "ISO-2022-JP",
            "utf-8",
        ] {
            assert!(charset_known(known), "{known}");
        }
        assert!(!charset_known("x-nope"));
    }

    /// Why RFC 2047 words are not decoded by mailparse: it leaves a word
    /// glued to other text as it is, where Dovecot decodes it.
    #[test]
    fn mailparse_leaves_glued_words() {
        let raw = b"Subject: abc=?utf-8?q?=C3=A4?=def\r\n\r\n";
        let (h, _) = mailparse::parse_header(raw).expect("a header");
        assert_eq!(h.get_value(), "abc=?utf-8?q?=C3=A4?=def");
        assert_eq!(decode_words(b"abc=?utf-8?q?=C3=A4?=def"), "abc\u{e4}def");
    }

    /// The lenient decoder keeps what is not an escape as it stands.
    #[test]
    fn lenient_quoted_printable() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b"a=3Db=C3=A4 plain", "a=b\u{e4} plain".as_bytes()),
            (b"==41", b"=A"),
            (b"=zz and =4", b"=zz and =4"),
            (b"soft=\r\nbreak", b"softbreak"),
            (b"end=", b"end"),
            (b"no escapes at all\r\n", b"no escapes at all\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                quoted_printable(input),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn strict_quoted_printable() {
        assert_eq!(
            qp_strict(b"line one =\r\nsoft  \r\ntab\t\r\nhex=41=4a=3d end").as_deref(),
            Some(&b"line one soft\r\ntab\r\nhexAJ= end"[..])
        );
        assert_eq!(
            qp_strict(b"ends with soft=\r\n").as_deref(),
            Some(&b"ends with soft"[..])
        );
        assert_eq!(qp_strict(b"trailing  ").as_deref(), Some(&b"trailing"[..]));
        assert_eq!(qp_strict(b"bad =ZZ"), None);
        assert_eq!(qp_strict(b"dangling="), None);
        assert_eq!(qp_strict(b"lone\rcr"), None);
        assert_eq!(qp_strict(b"lf\nonly").as_deref(), Some(&b"lf\r\nonly"[..]));
    }

    #[test]
    fn strict_base64() {
        assert_eq!(base64_strict(b"QUJD\r\n").as_deref(), Some(&b"ABC"[..]));
        assert_eq!(
            base64_strict(b"AAEC\r\nAwQ=").as_deref(),
            Some(&[0u8, 1, 2, 3, 4][..])
        );
        assert_eq!(base64_strict(b"QQ==\r\n").as_deref(), Some(&b"A"[..]));
        assert_eq!(base64_strict(b"QR==").as_deref(), Some(&b"A"[..]));
        assert_eq!(base64_strict(b"QUJ"), None);
        assert_eq!(base64_strict(b"QQ="), None);
        assert_eq!(base64_strict(b"bad!!"), None);
        assert_eq!(base64_strict(b"QQ==QQ=="), None);
        assert_eq!(base64_strict(b"").as_deref(), Some(&b""[..]));
    }
}
