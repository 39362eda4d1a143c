//! The RFC 5322 / RFC 2045 tokenizer every structured header goes
//! through: comments, atoms, dot-atoms, quoted strings, phrases, domains,
//! MIME tokens, `type/subtype` and `; attribute=value` parameters.
//!
//! It follows Dovecot's lib-mail `rfc822-parser` rule for rule, because
//! ENVELOPE and BODYSTRUCTURE must say exactly what Dovecot says about
//! malformed input too: where a comment ends, how a stray backslash
//! counts, what a NUL becomes. Every function reports like Dovecot's:
//! [`Lex::Err`] (syntax error), [`Lex::End`] (input used up) or
//! [`Lex::More`] (stopped before more input).

/// What a lexer step left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lex {
    Err,
    End,
    More,
}

/// U+FFFD: what a NUL inside a quoted string or comment becomes.
pub(crate) const NUL_REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// `atext` (RFC 5322 §3.2.3) plus 8-bit bytes; bit 4 marks the three
/// characters that are atext but MIME `tspecials` (RFC 2045 §5.1).
const fn atext_class(c: u8) -> u8 {
    match c {
        b'/' | b'=' | b'?' => 4,
        b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | 0x80..=0xff => 2,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'^' | b'_' | b'`'
        | b'{' | b'|' | b'}' | b'~' => 1,
        _ => 0,
    }
}

pub(crate) fn is_atext(c: u8) -> bool {
    atext_class(c) != 0
}

/// A MIME `token` character other than `.` (which callers allow explicitly).
fn is_token(c: u8) -> bool {
    atext_class(c) & 3 != 0
}

pub(crate) struct Lexer<'a> {
    data: &'a [u8],
    pub pos: usize,
    /// The text of the last comment skipped, when the caller wants it.
    pub last_comment: Option<Vec<u8>>,
    /// Replace NUL in quoted strings, comments and domain literals.
    pub replace_nul: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(data: &'a [u8]) -> Lexer<'a> {
        Lexer {
            data,
            pos: 0,
            last_comment: None,
            replace_nul: false,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The current byte; NUL past the end, as a C string would read.
    pub fn peek(&self) -> u8 {
        self.data.get(self.pos).copied().unwrap_or(0)
    }

    fn more_or_end(&self) -> Lex {
        if self.at_end() {
            Lex::End
        } else {
            Lex::More
        }
    }

    fn take(&self, from: usize, to: usize) -> &'a [u8] {
        self.data.get(from..to).unwrap_or_default()
    }

    /// Skips a comment at `(`, nesting and quoted-pairs included.
    pub fn skip_comment(&mut self) -> Lex {
        if let Some(c) = self.last_comment.as_mut() {
            c.clear();
        }
        self.pos += 1;
        let mut start = self.pos;
        let mut level = 1u32;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.replace_nul => {
                    let chunk = self.take(start, self.pos);
                    if let Some(c) = self.last_comment.as_mut() {
                        c.extend_from_slice(chunk);
                        c.extend_from_slice(NUL_REPLACEMENT);
                        start = self.pos + 1;
                    }
                }
                b'(' => level += 1,
                b')' => {
                    level -= 1;
                    if level == 0 {
                        let chunk = self.take(start, self.pos);
                        if let Some(c) = self.last_comment.as_mut() {
                            c.extend_from_slice(chunk);
                        }
                        self.pos += 1;
                        return self.more_or_end();
                    }
                }
                b'\n' => {
                    // Folding inside the comment: drop the (CR)LF.
                    let mut end = self.pos;
                    if end > start && self.data[end - 1] == b'\r' {
                        end -= 1;
                    }
                    let chunk = self.take(start, end);
                    if let Some(c) = self.last_comment.as_mut() {
                        c.extend_from_slice(chunk);
                        start = self.pos + 1;
                    }
                }
                b'\\' => {
                    self.pos += 1;
                    match self.data.get(self.pos) {
                        None => return Lex::Err,
                        // Not a quoted-pair: the backslash stays and the
                        // byte is looked at again.
                        Some(b'\r' | b'\n' | 0) => self.pos -= 1,
                        Some(_) => {
                            let chunk = self.take(start, self.pos - 1);
                            if let Some(c) = self.last_comment.as_mut() {
                                c.extend_from_slice(chunk);
                            }
                            start = self.pos;
                        }
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Lex::Err
    }

    /// Skips folding whitespace and comments (CFWS).
    pub fn skip_lwsp(&mut self) -> Lex {
        while let Some(&c) = self.data.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    if self.skip_comment() == Lex::Err {
                        return Lex::Err;
                    }
                }
                _ => break,
            }
        }
        self.more_or_end()
    }

    /// `atom`, then CFWS.
    pub fn atom(&mut self, out: &mut Vec<u8>) -> Lex {
        if !is_atext(self.peek()) || self.at_end() {
            return Lex::Err;
        }
        let start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() && is_atext(self.data[self.pos]) {
            self.pos += 1;
        }
        out.extend_from_slice(self.take(start, self.pos));
        if self.at_end() {
            Lex::End
        } else {
            self.skip_lwsp()
        }
    }

    /// `dot-atom`, allowing CFWS around the dots as RFC 822 did.
    pub fn dot_atom(&mut self, out: &mut Vec<u8>) -> Lex {
        if self.at_end() || !is_atext(self.peek()) {
            return Lex::Err;
        }
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            if is_atext(self.data[self.pos]) {
                self.pos += 1;
                continue;
            }
            if start == self.pos {
                return Lex::Err;
            }
            out.extend_from_slice(self.take(start, self.pos));
            let ret = self.skip_lwsp();
            if ret != Lex::More {
                return ret;
            }
            if self.peek() != b'.' {
                return Lex::More;
            }
            self.pos += 1;
            out.push(b'.');
            if self.skip_lwsp() != Lex::More {
                return Lex::Err;
            }
            start = self.pos;
        }
        out.extend_from_slice(self.take(start, self.pos));
        Lex::End
    }

    /// A MIME `token` (RFC 2045 §5.1), dots allowed; may be empty.
    pub fn mime_token(&mut self, out: &mut Vec<u8>) -> Lex {
        self.run_of(out, |c| is_token(c) || c == b'.')
    }

    /// The bytes of one class, then any whitespace after them.
    fn run_of(&mut self, out: &mut Vec<u8>, class: fn(u8) -> bool) -> Lex {
        let start = self.pos;
        while self.pos < self.data.len() {
            if class(self.data[self.pos]) {
                self.pos += 1;
                continue;
            }
            out.extend_from_slice(self.take(start, self.pos));
            return self.skip_lwsp();
        }
        out.extend_from_slice(self.take(start, self.pos));
        Lex::End
    }

    /// `quoted-string` at `"`: unescaped, folding removed.
    pub fn quoted_string(&mut self, out: &mut Vec<u8>) -> Lex {
        self.pos += 1;
        let mut start = self.pos;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.replace_nul => {
                    out.extend_from_slice(self.take(start, self.pos));
                    out.extend_from_slice(NUL_REPLACEMENT);
                    start = self.pos + 1;
                }
                b'"' => {
                    out.extend_from_slice(self.take(start, self.pos));
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut end = self.pos;
                    if end > start && self.data[end - 1] == b'\r' {
                        end -= 1;
                    }
                    out.extend_from_slice(self.take(start, end));
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    match self.data.get(self.pos) {
                        None => return Lex::Err,
                        Some(b'\r' | b'\n' | 0) => self.pos -= 1,
                        Some(_) => {
                            out.extend_from_slice(self.take(start, self.pos - 1));
                            start = self.pos;
                        }
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Lex::Err
    }

    /// Atoms and dots, whitespace not skipped inside (for phrases).
    fn atom_or_dot(&mut self, out: &mut Vec<u8>) -> Lex {
        self.run_of(out, |c| is_atext(c) || c == b'.')
    }

    /// `phrase` (obs-phrase included): words joined by single spaces.
    pub fn phrase(&mut self, out: &mut Vec<u8>) -> Lex {
        if self.at_end() {
            return Lex::End;
        }
        if self.peek() == b'.' {
            return Lex::Err;
        }
        loop {
            let ret = if self.peek() == b'"' {
                self.quoted_string(out)
            } else {
                self.atom_or_dot(out)
            };
            if ret != Lex::More {
                return ret;
            }
            let c = self.peek();
            if !is_atext(c) && c != b'"' && c != b'.' {
                break;
            }
            out.push(b' ');
        }
        self.skip_lwsp()
    }

    /// `domain-literal` at `[`; backslashes are kept.
    fn domain_literal(&mut self, out: &mut Vec<u8>) -> Lex {
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.replace_nul => {
                    out.extend_from_slice(self.take(start, self.pos));
                    out.extend_from_slice(NUL_REPLACEMENT);
                    start = self.pos + 1;
                }
                b'[' => return Lex::Err,
                b']' => {
                    out.extend_from_slice(self.take(start, self.pos + 1));
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut end = self.pos;
                    if end > start && self.data[end - 1] == b'\r' {
                        end -= 1;
                    }
                    out.extend_from_slice(self.take(start, end));
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    match self.data.get(self.pos) {
                        None => return Lex::Err,
                        Some(b'\r' | b'\n' | 0) => {
                            out.extend_from_slice(self.take(start, self.pos));
                            start = self.pos;
                            self.pos -= 1;
                        }
                        Some(_) => {}
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Lex::Err
    }

    /// `"@" domain` at `@`.
    pub fn domain(&mut self, out: &mut Vec<u8>) -> Lex {
        self.pos += 1;
        if self.skip_lwsp() != Lex::More {
            return Lex::Err;
        }
        if self.peek() == b'[' {
            self.domain_literal(out)
        } else {
            self.dot_atom(out)
        }
    }

    /// `type "/" subtype` of Content-Type. On a broken value `out` keeps
    /// what Dovecot keeps: the bare type when the `/` is missing at the
    /// end, nothing when junk follows.
    pub fn content_type(&mut self, out: &mut Vec<u8>) -> Lex {
        let start = out.len();
        if self.skip_lwsp() != Lex::More {
            return Lex::Err;
        }
        if self.mime_token(out) != Lex::More || out.len() == start {
            return Lex::Err;
        }
        if self.peek() != b'/' {
            out.truncate(start);
            return Lex::Err;
        }
        self.pos += 1;
        if self.skip_lwsp() != Lex::More {
            out.truncate(start);
            return Lex::Err;
        }
        out.push(b'/');
        let sub = out.len();
        let ret = self.mime_token(out);
        if ret == Lex::Err || out.len() == sub || (!self.at_end() && self.peek() != b';') {
            out.truncate(start);
            return Lex::Err;
        }
        ret
    }

    /// One `";" attribute "=" value`. `None` at the end of input;
    /// `Some(Err(()))` for a broken parameter (the caller skips a byte).
    pub fn content_param(&mut self, value: &mut Vec<u8>) -> Option<Result<Vec<u8>, ()>> {
        value.clear();
        if self.at_end() {
            return None;
        }
        if self.peek() != b';' {
            return Some(Err(()));
        }
        self.pos += 1;
        if self.skip_lwsp() != Lex::More {
            return Some(Err(()));
        }
        let mut key = Vec::new();
        if self.mime_token(&mut key) != Lex::More || self.peek() != b'=' {
            return Some(Err(()));
        }
        self.pos += 1;
        let mut ret = self.skip_lwsp();
        if ret != Lex::More {
            // No value at all: an empty one, as Dovecot keeps it.
        } else if self.peek() == b'"' {
            ret = self.quoted_string(value);
        } else if self.peek() == b'=' {
            // Broken senders write name==?utf-8?b?...?= unquoted.
            while let Some(&c) = self.data.get(self.pos) {
                if matches!(c, b';' | b' ' | b'\t' | b'\r' | b'\n') {
                    break;
                }
                value.push(c);
                self.pos += 1;
            }
        } else {
            ret = self.mime_token(value);
        }
        Some(if ret == Lex::Err { Err(()) } else { Ok(key) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_nest_and_quote() {
        let mut l = Lexer::new(b"(a (b) \\) c)x");
        l.last_comment = Some(Vec::new());
        assert_eq!(l.skip_lwsp(), Lex::More);
        assert_eq!(l.last_comment.as_deref(), Some(&b"a (b) ) c"[..]));
        assert_eq!(l.peek(), b'x');
        let mut l = Lexer::new(b"(unterminated");
        assert_eq!(l.skip_lwsp(), Lex::Err);
    }

    #[test]
    fn quoted_strings_unescape_and_unfold() {
        let mut out = Vec::new();
        let mut l = Lexer::new(b"\"a\\\"b\r\n c\\\\\" rest");
        assert_eq!(l.quoted_string(&mut out), Lex::More);
        assert_eq!(out, b"a\"b c\\");
        assert_eq!(l.peek(), b'r');
        let mut out = Vec::new();
        let mut l = Lexer::new(b"\"no end");
        assert_eq!(l.quoted_string(&mut out), Lex::Err);
    }

    #[test]
    fn content_types() {
        let cases: &[(&[u8], Lex, &[u8])] = &[
            (b"text/plain", Lex::End, b"text/plain"),
            (b" TEXT / HTML ; x=y", Lex::More, b"TEXT/HTML"),
            (b"text", Lex::Err, b"text"),
            (b"text;", Lex::Err, b""),
            (b"text/plain junk", Lex::Err, b""),
            (b"; charset=x", Lex::Err, b""),
        ];
        for (input, ret, want) in cases {
            let mut out = Vec::new();
            let mut l = Lexer::new(input);
            assert_eq!(l.content_type(&mut out), *ret, "{input:?}");
            assert_eq!(out, *want, "{input:?}");
        }
    }

    #[test]
    fn phrases_join_words() {
        let mut out = Vec::new();
        let mut l = Lexer::new(b"Joe  \"Q.\"  Public <x>");
        assert_eq!(l.phrase(&mut out), Lex::More);
        assert_eq!(out, b"Joe Q. Public");
        assert_eq!(l.peek(), b'<');
    }
}
