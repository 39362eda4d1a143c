//! ManageSieve's command syntax (RFC 5804 §4): a command name, then
//! arguments that are atoms, numbers, quoted strings or literals
//! (`{n+}` and, from lenient clients, `{n}`: the server never sends a
//! continuation), ending in CRLF.

use std::io::{self, Read};

/// Longest command line without literals.
pub(crate) const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    Atom(String),
    Number(u64),
    Str(Vec<u8>),
}

impl Arg {
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Arg::Str(b) => String::from_utf8(b.clone()).ok(),
            Arg::Atom(a) => Some(a.clone()),
            Arg::Number(n) => Some(n.to_string()),
        }
    }
}

#[derive(Debug)]
pub(crate) enum ReadError {
    /// A syntax error: answer NO and go on with the next line.
    Bad(String),
    /// A literal larger than allowed (already skipped).
    TooBig,
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Bytes read ahead of the parser.
#[derive(Default)]
pub(crate) struct Buffer {
    buf: Vec<u8>,
}

impl Buffer {
    fn fill<R: Read>(&mut self, r: &mut R) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Whether unread bytes wait (a client pipelining past STARTTLS).
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// One line without its CRLF.
    pub(crate) fn line<R: Read>(&mut self, r: &mut R) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                // Skip to the end of the overlong line, then complain.
                loop {
                    if let Some(i) = memchr::memchr(b'\n', &self.buf) {
                        self.buf.drain(..=i);
                        return Err(ReadError::Bad("line too long".into()));
                    }
                    self.buf.clear();
                    self.fill(r)?;
                }
            }
            self.fill(r)?;
        }
    }

    fn take<R: Read>(&mut self, r: &mut R, n: usize, keep: bool) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut left = n;
        while left > 0 {
            if self.buf.is_empty() {
                self.fill(r)?;
            }
            let k = left.min(self.buf.len());
            if keep {
                out.extend_from_slice(&self.buf[..k]);
            }
            self.buf.drain(..k);
            left -= k;
        }
        Ok(out)
    }

    /// A whole command: name and arguments, literals read in.
    pub(crate) fn command<R: Read>(
        &mut self,
        r: &mut R,
        max_literal: u64,
    ) -> Result<(String, Vec<Arg>), ReadError> {
        let mut line = self.line(r)?;
        let mut args = Vec::new();
        let mut pos = 0;
        let name = atom(&line, &mut pos);
        if name.is_empty() {
            return Err(ReadError::Bad("expected a command".into()));
        }
        let name = name.to_ascii_uppercase();
        let mut too_big = false;
        let mut args_count = 0;
        loop {
            args_count += 1;
            if args_count > 16 {
                return Err(ReadError::Bad("too many arguments".into()));
            }
            while line.get(pos) == Some(&b' ') {
                pos += 1;
            }
            let Some(&c) = line.get(pos) else { break };
            match c {
                b'"' => {
                    pos += 1;
                    let mut s = Vec::new();
                    loop {
                        match line.get(pos) {
                            None => return Err(ReadError::Bad("unterminated string".into())),
                            Some(b'"') => {
                                pos += 1;
                                break;
                            }
                            Some(b'\\') => {
                                match line.get(pos + 1) {
                                    Some(&e @ (b'"' | b'\\')) => s.push(e),
                                    _ => return Err(ReadError::Bad("bad escape in string".into())),
                                }
                                pos += 2;
                            }
                            Some(&b) => {
                                s.push(b);
                                pos += 1;
                            }
                        }
                    }
                    args.push(Arg::Str(s));
                }
                b'{' => {
                    let close = line[pos..].iter().position(|&b| b == b'}').map(|i| pos + i);
                    let Some(close) = close.filter(|&c| c + 1 == line.len()) else {
                        return Err(ReadError::Bad("a literal must end its line".into()));
                    };
                    let spec = std::str::from_utf8(&line[pos + 1..close]).unwrap_or("");
                    let digits = spec.strip_suffix('+').unwrap_or(spec);
                    let n: u64 = digits
                        .parse()
                        .map_err(|_| ReadError::Bad("bad literal length".into()))?;
                    if n > max_literal {
                        // Read past it (bounded) so the session stays in step.
                        if n > max_literal.saturating_mul(8) {
                            return Err(ReadError::Io(io::Error::other("literal far too large")));
                        }
                        self.take(r, n as usize, false)?;
                        too_big = true;
                    } else {
                        args.push(Arg::Str(self.take(r, n as usize, true)?));
                    }
                    // The command goes on on the next line.
                    line = self.line(r)?;
                    pos = 0;
                }
                b'0'..=b'9' => {
                    let a = atom(&line, &mut pos);
                    match a.parse() {
                        Ok(n) => args.push(Arg::Number(n)),
                        Err(_) => args.push(Arg::Atom(a)),
                    }
                }
                _ => {
                    let a = atom(&line, &mut pos);
                    if a.is_empty() {
                        return Err(ReadError::Bad("unexpected character".into()));
                    }
                    args.push(Arg::Atom(a));
                }
            }
        }
        if too_big {
            return Err(ReadError::TooBig);
        }
        Ok((name, args))
    }
}

fn atom(line: &[u8], pos: &mut usize) -> String {
    let start = *pos;
    while let Some(&b) = line.get(*pos) {
        if b == b' ' || b == b'"' || b == b'{' || !(0x20..0x7f).contains(&b) {
            break;
        }
        *pos += 1;
    }
    String::from_utf8_lossy(&line[start..*pos]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<(String, Vec<Arg>), ReadError> {
        let mut b = Buffer::default();
        b.command(&mut &input[..], 100)
    }

    #[test]
    fn strings_literals_and_numbers() {
        let (name, args) = parse(b"putscript \"a \\\"b\\\"\" {5+}\r\nkeep;\r\n").unwrap();
        assert_eq!(name, "PUTSCRIPT");
        assert_eq!(
            args,
            vec![Arg::Str(b"a \"b\"".to_vec()), Arg::Str(b"keep;".to_vec())]
        );
        let (_, args) = parse(b"HAVESPACE \"x\" 123\r\n").unwrap();
        assert_eq!(args[1], Arg::Number(123));
        assert!(matches!(
            parse(b"PUTSCRIPT \"x\" {500+}\r\n"),
            Err(ReadError::Io(_))
        ));
        let big = [
            b"PUTSCRIPT \"x\" {200+}\r\n".as_slice(),
            &[b'a'; 200],
            b"\r\n",
        ]
        .concat();
        assert!(matches!(parse(&big), Err(ReadError::TooBig)));
        assert!(matches!(parse(b"X \"open\r\n"), Err(ReadError::Bad(_))));
    }
}
