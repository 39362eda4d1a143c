//! The DATA phase (RFC 5321 §4.5.2): reads dot-stuffed lines up to the
//! lone `.` and writes the message with the dots undone and CRLF turned
//! into LF, the way Maildir files hold mail. Streams: a line is read in
//! pieces of at most `CHUNK` bytes, so no input size makes memory grow.

use std::io::{self, BufRead, Read, Write};

const CHUNK: u64 = 64 * 1024;

/// How the DATA phase went (the input was read to its end either way).
#[derive(Debug, Default)]
pub struct DataResult {
    /// The message size as written (LF line ends).
    pub size: u64,
    /// More than `max` bytes arrived; writing stopped there.
    pub too_large: bool,
    /// Writing failed; reading went on to stay in step with the client.
    pub write_error: Option<io::Error>,
}

/// Reads until the terminating `.` line. An error means the client is
/// gone (or sent no terminator before closing).
pub fn read_data(
    input: &mut dyn BufRead,
    mut out: Option<&mut dyn Write>,
    max: u64,
) -> io::Result<DataResult> {
    let mut result = DataResult::default();
    let mut at_line_start = true;
    // A CR that ended the previous piece: part of CRLF or a lone CR.
    let mut held_cr = false;
    let mut piece = Vec::with_capacity(CHUNK as usize);
    loop {
        piece.clear();
        let n = (&mut *input).take(CHUNK).read_until(b'\n', &mut piece)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let complete = piece.ends_with(b"\n");
        let mut text: &[u8] = &piece;
        if at_line_start && !held_cr {
            if text == b".\r\n" || text == b".\n" {
                return Ok(result);
            }
            if text.starts_with(b".") {
                text = &text[1..];
            }
        }
        let mut converted: Vec<u8> = Vec::with_capacity(text.len() + 1);
        if held_cr && text.first() != Some(&b'\n') {
            converted.push(b'\r');
        }
        held_cr = false;
        if complete {
            let body = text
                .strip_suffix(b"\r\n")
                .or_else(|| text.strip_suffix(b"\n"));
            converted.extend_from_slice(body.unwrap_or(text));
            converted.push(b'\n');
        } else if let Some(body) = text.strip_suffix(b"\r") {
            converted.extend_from_slice(body);
            held_cr = true;
        } else {
            converted.extend_from_slice(text);
        }
        at_line_start = complete;
        write_capped(&mut out, &converted, max, &mut result);
    }
}

fn write_capped(out: &mut Option<&mut dyn Write>, bytes: &[u8], max: u64, r: &mut DataResult) {
    r.size += bytes.len() as u64;
    if r.size > max {
        r.too_large = true;
    }
    if r.too_large || r.write_error.is_some() {
        return;
    }
    if let Some(w) = out {
        if let Err(e) = w.write_all(bytes) {
            r.write_error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], max: u64) -> (Vec<u8>, DataResult, usize) {
        let mut reader = io::BufReader::with_capacity(7, input);
        let mut out = Vec::new();
        let r = read_data(&mut reader, Some(&mut out), max).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        (out, r, rest.len())
    }

    #[test]
    fn dots_and_line_ends() {
        let (out, r, rest) = run(b"a\r\n..b\r\n\r\nc\rd\r\n.\r\nNEXT", 1000);
        assert_eq!(out, b"a\n.b\n\nc\rd\n");
        assert_eq!(r.size, out.len() as u64);
        assert!(!r.too_large);
        assert_eq!(rest, 4);
        let (out, _, _) = run(b"bare\n.\n", 1000);
        assert_eq!(out, b"bare\n");
    }

    #[test]
    fn long_lines_stream_and_cr_at_piece_boundary_is_kept_right() {
        let mut input = vec![b'x'; CHUNK as usize - 1];
        input.extend_from_slice(b"\r\nnext\r\n");
        input.extend_from_slice(&vec![b'y'; CHUNK as usize - 1]);
        input.extend_from_slice(b"\rz\r\n.\r\n");
        let (out, _, _) = run(&input, u64::MAX);
        let mut want = vec![b'x'; CHUNK as usize - 1];
        want.extend_from_slice(b"\nnext\n");
        want.extend_from_slice(&vec![b'y'; CHUNK as usize - 1]);
        want.extend_from_slice(b"\rz\n");
        assert_eq!(out, want);
    }

    #[test]
    fn oversize_reads_to_the_end_and_eof_is_an_error() {
        let (out, r, rest) = run(b"0123456789\r\n0123456789\r\n.\r\nQUIT\r\n", 12);
        assert!(r.too_large);
        assert_eq!(out, b"0123456789\n");
        assert_eq!(rest, 6);
        let mut reader: &[u8] = b"unterminated\r\n";
        assert!(read_data(&mut reader, None, 100).is_err());
    }
}
