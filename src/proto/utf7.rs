//! Modified UTF-7 (RFC 3501 §5.1.3): the mailbox-name encoding of IMAP4rev1
//! and of Dovecot's default on-disk folder and subscription names.
//!
//! This module owns the conversion in both directions. Decoding is as strict
//! as Dovecot's `imap-utf7.c` (plus a zero-padding check), so a name accepted
//! here has exactly one encoding and round-trips byte for byte.

use std::fmt;

/// Why a string is not valid modified UTF-7.
#[derive(Debug, PartialEq, Eq)]
pub struct Utf7Error(pub &'static str);

impl fmt::Display for Utf7Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid modified UTF-7: {}", self.0)
    }
}

impl std::error::Error for Utf7Error {}

/// RFC 3501 modified BASE64: the RFC 2045 alphabet with ',' in place of '/'.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
        b'+' => Some(62),
        b',' => Some(63),
        _ => None,
    }
}

/// Characters that stand for themselves outside a shift.
fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Encodes UTF-8 as modified UTF-7.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut units: Vec<u16> = Vec::new();
    for c in s.chars() {
        if is_direct(c) {
            flush_shift(&mut out, &mut units);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush_shift(&mut out, &mut units);
    out
}

/// Writes the pending UTF-16 units as one `&…-` shift. A whole run of
/// non-direct characters goes into one shift because the decoder (like
/// Dovecot's) rejects two adjacent shifts.
fn flush_shift(out: &mut String, units: &mut Vec<u16>) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &u in units.iter() {
        acc = (acc << 16) | u32::from(u);
        bits += 16;
        while bits >= 6 {
            bits -= 6;
            out.push(char::from(ALPHABET[((acc >> bits) & 0x3f) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        // Pad the last sextet with zero bits; the decoder insists on it.
        out.push(char::from(ALPHABET[((acc << (6 - bits)) & 0x3f) as usize]));
    }
    out.push('-');
    units.clear();
}

/// Decodes modified UTF-7 into UTF-8, rejecting every non-canonical form.
pub fn decode(s: &str) -> Result<String, Utf7Error> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..0x7f).contains(&b) {
            return Err(Utf7Error("character outside printable US-ASCII"));
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'-') {
            out.push('&');
            i += 1;
            continue;
        }
        i = decode_shift(bytes, i, &mut out)?;
        // "&AGE-&AGI-" could have been one shift; only one spelling is allowed.
        if bytes.get(i) == Some(&b'&') && bytes.get(i + 1) != Some(&b'-') {
            return Err(Utf7Error("adjacent encoded sequences"));
        }
    }
    Ok(out)
}

/// Decodes the BASE64 part of a shift starting at `start` (just after '&',
/// known not to be '-'). Returns the index just past the closing '-'.
fn decode_shift(bytes: &[u8], start: usize, out: &mut String) -> Result<usize, Utf7Error> {
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    let mut high: Option<u16> = None;
    let mut i = start;
    loop {
        let Some(&b) = bytes.get(i) else {
            return Err(Utf7Error("unterminated encoded sequence"));
        };
        i += 1;
        if b == b'-' {
            break;
        }
        let v = b64_value(b).ok_or(Utf7Error("invalid BASE64 character"))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 16 {
            bits -= 16;
            let unit = (acc >> bits) as u16;
            acc &= (1 << bits) - 1;
            push_unit(unit, &mut high, out)?;
        }
    }
    // A full sextet left over means a needless character; the padding bits
    // of a partial one must be zero, or two spellings would decode alike.
    if bits >= 6 {
        return Err(Utf7Error("truncated UTF-16 character"));
    }
    if acc != 0 {
        return Err(Utf7Error("non-zero padding bits"));
    }
    if high.is_some() {
        return Err(Utf7Error("unpaired high surrogate"));
    }
    Ok(i)
}

fn push_unit(unit: u16, high: &mut Option<u16>, out: &mut String) -> Result<(), Utf7Error> {
    match (high.take(), unit) {
        (Some(h), 0xdc00..=0xdfff) => {
            let c = 0x10000 + ((u32::from(h) - 0xd800) << 10) + (u32::from(unit) - 0xdc00);
            out.push(char::from_u32(c).ok_or(Utf7Error("invalid surrogate pair"))?);
        }
        (Some(_), _) => return Err(Utf7Error("unpaired high surrogate")),
        (None, 0xd800..=0xdbff) => *high = Some(unit),
        (None, 0xdc00..=0xdfff) => return Err(Utf7Error("unpaired low surrogate")),
        // Dovecot refuses an encoded NUL: it would truncate C strings.
        (None, 0) => return Err(Utf7Error("encoded NUL")),
        (None, 0x20..=0x7e) => return Err(Utf7Error("encoded printable US-ASCII")),
        (None, u) => {
            // Not a surrogate, so always a valid scalar value.
            out.push(char::from_u32(u32::from(u)).ok_or(Utf7Error("invalid character"))?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_valid(s: &str) -> bool {
        decode(s).is_ok()
    }

    #[test]
    fn rfc3501_example() {
        let utf7 = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        let utf8 = "~peter/mail/台北/日本語";
        assert_eq!(decode(utf7).unwrap(), utf8);
        assert_eq!(encode(utf8), utf7);
    }

    #[test]
    fn ampersand() {
        assert_eq!(encode("&"), "&-");
        assert_eq!(decode("&-").unwrap(), "&");
        assert_eq!(encode("A&B&&"), "A&-B&-&-");
        assert_eq!(decode("A&-B&-&-").unwrap(), "A&B&&");
    }

    #[test]
    fn german() {
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(decode("Entw&APw-rfe").unwrap(), "Entwürfe");
    }

    #[test]
    fn astral_round_trip() {
        let s = "Mail 📬 box";
        let e = encode(s);
        assert_eq!(e, "Mail &2D3c7A- box");
        assert_eq!(decode(&e).unwrap(), s);
    }

    #[test]
    fn shift_followed_by_literal_ampersand() {
        assert_eq!(encode("ü&"), "&APw-&-");
        assert_eq!(decode("&APw-&-").unwrap(), "ü&");
    }

    #[test]
    fn rejections() {
        const RAW: &str = "character outside printable US-ASCII";
        const UNTERMINATED: &str = "unterminated encoded sequence";
        const BAD_B64: &str = "invalid BASE64 character";
        const PRINTABLE: &str = "encoded printable US-ASCII";
        const ADJACENT: &str = "adjacent encoded sequences";
        const HIGH: &str = "unpaired high surrogate";
        let rows: &[(&str, &str)] = &[
            ("caf\u{e9}", RAW),
            ("a\tb", RAW),
            ("a\x7fb", RAW),
            ("&", UNTERMINATED),
            ("&APw", UNTERMINATED),
            ("Entw&APw", UNTERMINATED),
            ("&AP w-", BAD_B64),
            ("&AP/w-", BAD_B64),
            ("&APw=-", BAD_B64),
            ("&APw\u{fc}-", BAD_B64),
            ("&APx-", "non-zero padding bits"),
            ("&A-", "truncated UTF-16 character"),
            ("&APwA-", "truncated UTF-16 character"),
            ("&AGE-", PRINTABLE),
            ("&ACY-", PRINTABLE),
            ("&AAA-", "encoded NUL"),
            ("&APw-&APw-", ADJACENT),
            ("&AGEAYg-&AGE-", PRINTABLE),
            ("&2D3c7A-&2D3c7A-", ADJACENT),
            ("&2D0-", HIGH),
            ("&3Kw-", "unpaired low surrogate"),
            ("&2D3YPQ-", HIGH),
            ("&2D0AVw-", HIGH),
            ("&2D0-&3Kw-", HIGH),
        ];
        for &(input, why) in rows {
            assert_eq!(decode(input), Err(Utf7Error(why)), "{input:?}");
            assert!(!is_valid(input), "{input:?}");
        }
        // "&AGE-&AGE-" is doubly wrong; either reason will do.
        assert!(!is_valid("&AGE-&AGE-"));
    }

    #[test]
    fn accepted_edge_cases() {
        assert!(is_valid(""));
        assert!(is_valid("INBOX"));
        // A literal '&' right after a shift is not a second shift.
        assert!(is_valid("&APw-&-"));
        // Encoded controls other than NUL are legal (Dovecot agrees).
        assert_eq!(decode("&AAk-").unwrap(), "\t");
    }

    #[test]
    fn round_trip_table() {
        let rows = [
            "",
            "INBOX",
            "Sent Items",
            "a&b",
            "&&&",
            "Entwürfe",
            "Été",
            "ü",
            "üü",
            "üüü",
            "üüüü",
            "Корзина",
            "已发送",
            "日本語/台北",
            "mixed ü & 日本 and 📬📭 end",
            "📬",
            "a📬b",
            "tab\there",
            "line\nbreak",
            "\u{7f}del",
            "\u{ffff}\u{10ffff}",
            "~!@#$%^*()_+{}|:\"<>?`-=[]\\;',./",
        ];
        for s in rows {
            let e = encode(s);
            assert!(e.bytes().all(|b| (0x20..0x7f).contains(&b)), "{e:?}");
            assert_eq!(decode(&e).as_deref(), Ok(s), "via {e:?}");
            // Canonical: the encoding of the decoding is the input.
            assert_eq!(encode(&decode(&e).unwrap()), e);
        }
    }

    #[test]
    fn error_display() {
        let e = decode("&").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid modified UTF-7: unterminated encoded sequence"
        );
    }
}
