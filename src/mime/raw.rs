//! Raw message bytes as IMAP serves them: CRLF line endings (Maildir files
//! usually hold bare LF) and `<partial>` cuts. Pure functions on bytes.

use std::borrow::Cow;

/// The message with every bare LF turned into CRLF (RFC 3501 §2.3.3 sizes
/// and offsets count in this form). Borrowed when nothing changes.
pub fn to_crlf(bytes: &[u8]) -> Cow<'_, [u8]> {
    // Copies whole runs between bare LFs: this runs over every byte of
    // every message a FETCH or SEARCH reads, so no per-byte pushes.
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut pos = 0;
    while let Some(off) = memchr::memchr(b'\n', &bytes[pos..]) {
        let i = pos + off;
        if i == 0 || bytes[i - 1] != b'\r' {
            let o =
                out.get_or_insert_with(|| Vec::with_capacity(bytes.len() + bytes.len() / 16 + 2));
            o.extend_from_slice(&bytes[copied..i]);
            o.extend_from_slice(b"\r\n");
            copied = i + 1;
        }
        pos = i + 1;
    }
    match out {
        None => Cow::Borrowed(bytes),
        Some(mut o) => {
            o.extend_from_slice(&bytes[copied..]);
            Cow::Owned(o)
        }
    }
}

/// `<origin.length>` applied to a section (RFC 3501 §6.4.5): a start past
/// the end gives an empty string.
pub fn partial(data: &[u8], origin: u32, len: u32) -> &[u8] {
    let start = (origin as usize).min(data.len());
    let end = start.saturating_add(len as usize).min(data.len());
    &data[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_conversion() {
        assert_eq!(&*to_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert!(matches!(to_crlf(b"a\r\nb"), Cow::Borrowed(_)));
        assert_eq!(&*to_crlf(b"\n\n"), b"\r\n\r\n");
        assert_eq!(&*to_crlf(b"\nx"), b"\r\nx");
        assert_eq!(&*to_crlf(b"a\r\n\nb\rc"), b"a\r\n\r\nb\rc");
        assert_eq!(&*to_crlf(b""), b"");
    }

    #[test]
    fn fields() {
        use crate::mime::{header_fields, select_header_fields as select_fields};
        let h = b"From: a@b\r\nSubject: one\r\n two\r\nTo: c@d\r\nX-Empty:\r\n\r\n";
        let got: Vec<&[u8]> = header_fields(h).iter().map(|(n, _)| *n).collect();
        assert_eq!(got, vec![&b"From"[..], b"Subject", b"To", b"X-Empty"]);
        assert_eq!(
            select_fields(h, &[b"subject".to_vec(), b"TO".to_vec()], true),
            b"Subject: one\r\n two\r\nTo: c@d\r\n\r\n".to_vec()
        );
        assert_eq!(
            select_fields(h, &[b"Nope".to_vec()], true),
            b"\r\n".to_vec()
        );
    }

    #[test]
    fn partials() {
        assert_eq!(partial(b"0123456789", 2, 3), b"234");
        assert_eq!(partial(b"0123", 2, 100), b"23");
        assert_eq!(partial(b"0123", 10, 1), b"");
    }
}
