//! Raw message bytes as IMAP serves them: CRLF line endings (Maildir files
//! usually hold bare LF), the header/body split, header field selection
//! for `BODY[HEADER.FIELDS (...)]` (shared with `mime`, which owns the
//! header syntax) and `<partial>` cuts. Pure functions on bytes.

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

/// Where the header ends in a CRLF message: the offset just past the blank
/// line (so `&msg[..n]` is the header including its terminating CRLF, and
/// `&msg[n..]` the body). A message without a blank line is all header.
pub fn header_end(msg: &[u8]) -> usize {
    if msg.starts_with(b"\r\n") {
        return 2;
    }
    match msg.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => i + 4,
        None => msg.len(),
    }
}

/// The header fields of a CRLF header block, each with its continuation
/// lines, as `(name, whole field bytes including CRLF)`. Split as Dovecot
/// splits them (see `mime::header_fields`), so every user of header
/// fields agrees with FETCH.
pub fn header_fields(header: &[u8]) -> Vec<(&[u8], &[u8])> {
    crate::mime::header_fields(header)
}

/// `HEADER.FIELDS` (`keep` = true) or `HEADER.FIELDS.NOT` (false): the
/// matching fields in their original order, then the blank line
/// (RFC 3501 §6.4.5). Names match case-insensitively.
pub fn select_fields(header: &[u8], names: &[Vec<u8>], keep: bool) -> Vec<u8> {
    crate::mime::select_header_fields(header, names, keep)
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
    fn header_split() {
        let m = b"A: 1\r\nB: 2\r\n\r\nbody\r\n";
        assert_eq!(&m[..header_end(m)], b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(header_end(b"\r\nbody"), 2);
        assert_eq!(header_end(b"A: 1\r\nno blank"), 14);
    }

    #[test]
    fn fields() {
        let h = b"From: a@b\r\nSubject: one\r\n two\r\nTo: c@d\r\nX-Empty:\r\n\r\n";
        let got: Vec<&[u8]> = header_fields(h).iter().map(|(n, _)| *n).collect();
        assert_eq!(got, vec![&b"From"[..], b"Subject", b"To", b"X-Empty"]);
        assert_eq!(
            select_fields(h, &[b"subject".to_vec(), b"TO".to_vec()], true),
            b"Subject: one\r\n two\r\nTo: c@d\r\n\r\n".to_vec()
        );
        assert_eq!(
            select_fields(
                h,
                &[b"subject".to_vec(), b"from".to_vec(), b"x-empty".to_vec()],
                false
            ),
            b"To: c@d\r\n\r\n".to_vec()
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
