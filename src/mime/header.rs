//! Header fields as Dovecot's header parser sees them: a field is its
//! first line plus the continuation lines that start with SP or HTAB; the
//! name is what precedes the first `:` less trailing blanks (empty when
//! there is no colon, or when it is over 1000 bytes long); the value skips
//! the blanks after the colon (all of them, or one if that is all there
//! is), and continuation lines join it after a bare LF. A header ends at
//! an empty line ("end of header", EOH) or at the end of the input.

use std::borrow::Cow;

/// Longer names are treated as part of the value (Dovecot does so too).
const NAME_MAX_LEN: usize = 1000;

/// One header field.
#[derive(Debug)]
pub(crate) struct Field<'a> {
    /// The name, cut at a NUL as Dovecot's C string comparisons see it.
    pub name: &'a [u8],
    /// The unfolded value: continuation lines joined with `\n`.
    pub value: Cow<'a, [u8]>,
    /// Where the value starts in the message (after the colon and blanks).
    pub value_start: usize,
    /// The whole field in the message: `[start, end)`, newline included.
    pub start: usize,
    pub end: usize,
    /// Whether the last line ended with a newline.
    pub newline: bool,
}

impl Field<'_> {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// What comes next at a line start.
pub(crate) enum Next<'a> {
    Field(Field<'a>),
    /// The empty line; the header (with it) ends at this offset.
    Eoh(usize),
    /// No more input.
    Eof,
}

/// `[start, content end, next line start)` of the line at `pos`; the
/// content excludes the newline (and one CR before the LF).
fn line_at(msg: &[u8], pos: usize) -> (usize, usize, bool) {
    match msg.get(pos..).and_then(|rest| memchr::memchr(b'\n', rest)) {
        Some(i) => {
            let lf = pos + i;
            let end = if lf > pos && msg[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            (end, lf + 1, true)
        }
        None => (msg.len(), msg.len(), false),
    }
}

fn is_lwsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Reads the field, EOH or end of input at `pos` (a line start).
pub(crate) fn next(msg: &[u8], pos: usize) -> Next<'_> {
    if pos >= msg.len() {
        return Next::Eof;
    }
    let (content_end, mut next_pos, mut newline) = line_at(msg, pos);
    let line = &msg[pos..content_end];
    if line.is_empty() && newline {
        return Next::Eoh(next_pos);
    }
    let (name, first_value) = match memchr::memchr(b':', line) {
        Some(colon) => {
            let mut name_end = colon;
            while name_end > 0 && is_lwsp(line[name_end - 1]) {
                name_end -= 1;
            }
            if name_end > NAME_MAX_LEN {
                (&line[..0], line)
            } else {
                let value = &line[colon + 1..];
                let mut skip = value.iter().take_while(|&&b| is_lwsp(b)).count();
                if skip == value.len() && skip > 0 {
                    // Only blanks: Dovecot drops just the first one.
                    skip = 1;
                }
                (&line[..name_end], &value[skip..])
            }
        }
        None => (&line[..0], line),
    };
    let name = match name.iter().position(|&b| b == 0) {
        Some(nul) => &name[..nul],
        None => name,
    };
    let value_start = content_end - first_value.len();
    let mut value = Cow::Borrowed(first_value);
    while newline && msg.get(next_pos).copied().is_some_and(is_lwsp) {
        let (end, after, nl) = line_at(msg, next_pos);
        let v = value.to_mut();
        v.push(b'\n');
        v.extend_from_slice(&msg[next_pos..end]);
        next_pos = after;
        newline = nl;
    }
    Next::Field(Field {
        name,
        value,
        value_start,
        start: pos,
        end: next_pos,
        newline,
    })
}

/// All fields of a header block, stopping at EOH.
pub(crate) fn fields(header: &[u8]) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Next::Field(f) = next(header, pos) {
        pos = f.end;
        out.push(f);
    }
    out
}

/// NUL bytes as U+FFFD, as Dovecot stores unstructured header values.
pub(crate) fn nul_to_replacement(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        if b == 0 {
            out.extend_from_slice(super::lexer::NUL_REPLACEMENT);
        } else {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        let h = b"Subject: a\r\n  b\r\nNo colon\r\nX :   \r\nY:\r\n\tz\r\n\r\nbody";
        let f = fields(h);
        let got: Vec<(&[u8], &[u8])> = f.iter().map(|f| (f.name, &*f.value)).collect();
        assert_eq!(
            got,
            vec![
                (&b"Subject"[..], &b"a\n  b"[..]),
                (b"", b"No colon"),
                (b"X", b"  "),
                (b"Y", b"\n\tz"),
            ]
        );
        assert!(!fields(b"A: b")[0].newline);
    }
}
