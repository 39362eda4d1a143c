//! Sieve's lexical layer (RFC 5228 §8.1): identifiers, tags, numbers
//! with K/M/G, quoted and multi-line strings, punctuation; comments and
//! white space are dropped. Every token carries its line for error
//! messages, which users read to find their mistake.

use super::ScriptError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    Ident(String),
    /// `:name`, without the colon, lower-cased (tags are case-insensitive).
    Tag(String),
    Number(u64),
    Str(String),
    LBracket,
    RBracket,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Semicolon,
}

#[derive(Clone, Debug)]
pub(crate) struct Lexed {
    pub token: Token,
    pub line: u32,
}

/// Splits a whole script into tokens.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Lexed>, ScriptError> {
    let mut lx = Lexer {
        s: src.as_bytes(),
        src,
        pos: 0,
        line: 1,
        out: Vec::new(),
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    line: u32,
    out: Vec<Lexed>,
}

impl Lexer<'_> {
    fn err(&self, msg: impl Into<String>) -> ScriptError {
        ScriptError::new(self.line, msg)
    }

    fn push(&mut self, token: Token, line: u32) {
        self.out.push(Lexed { token, line });
    }

    fn run(&mut self) -> Result<(), ScriptError> {
        while let Some(&c) = self.s.get(self.pos) {
            let line = self.line;
            match c {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'#' => self.skip_line(),
                b'/' if self.s.get(self.pos + 1) == Some(&b'*') => self.bracket_comment()?,
                b'[' => self.punct(Token::LBracket, line),
                b']' => self.punct(Token::RBracket, line),
                b'(' => self.punct(Token::LParen, line),
                b')' => self.punct(Token::RParen, line),
                b'{' => self.punct(Token::LBrace, line),
                b'}' => self.punct(Token::RBrace, line),
                b',' => self.punct(Token::Comma, line),
                b';' => self.punct(Token::Semicolon, line),
                b'"' => {
                    let s = self.quoted()?;
                    self.push(Token::Str(s), line);
                }
                b':' => {
                    self.pos += 1;
                    let word = self.word();
                    if word.is_empty() {
                        return Err(self.err("expected a tag name after ':'"));
                    }
                    self.push(Token::Tag(word.to_ascii_lowercase()), line);
                }
                b'0'..=b'9' => {
                    let n = self.number()?;
                    self.push(Token::Number(n), line);
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let word = self.word();
                    if word.eq_ignore_ascii_case("text") && self.s.get(self.pos) == Some(&b':') {
                        self.pos += 1;
                        let s = self.multiline()?;
                        self.push(Token::Str(s), line);
                    } else {
                        self.push(Token::Ident(word.to_ascii_lowercase()), line);
                    }
                }
                _ => {
                    let ch = self.src[self.pos..].chars().next().unwrap_or('?');
                    return Err(self.err(format!("unexpected character {ch:?}")));
                }
            }
        }
        Ok(())
    }

    fn punct(&mut self, t: Token, line: u32) {
        self.pos += 1;
        self.push(t, line);
    }

    fn skip_line(&mut self) {
        while let Some(&c) = self.s.get(self.pos) {
            if c == b'\n' {
                return;
            }
            self.pos += 1;
        }
    }

    fn bracket_comment(&mut self) -> Result<(), ScriptError> {
        let start = self.line;
        self.pos += 2;
        loop {
            match self.s.get(self.pos) {
                None => return Err(ScriptError::new(start, "unterminated comment")),
                Some(b'*') if self.s.get(self.pos + 1) == Some(&b'/') => {
                    self.pos += 2;
                    return Ok(());
                }
                Some(b'\n') => {
                    self.line += 1;
                    self.pos += 1;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while let Some(&c) = self.s.get(self.pos) {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.src[start..self.pos].to_string()
    }

    fn number(&mut self) -> Result<u64, ScriptError> {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        let n: u64 = self.src[start..self.pos]
            .parse()
            .map_err(|_| self.err("number too large"))?;
        let shift = match self.s.get(self.pos).map(u8::to_ascii_uppercase) {
            Some(b'K') => 10,
            Some(b'M') => 20,
            Some(b'G') => 30,
            _ => 0,
        };
        if shift > 0 {
            self.pos += 1;
        }
        n.checked_mul(1 << shift)
            .ok_or_else(|| self.err("number too large"))
    }

    /// A quoted string: `\` escapes the next character (RFC 5228 §2.4.2:
    /// only `\\` and `\"` mean something; the backslash is dropped before
    /// anything else).
    fn quoted(&mut self) -> Result<String, ScriptError> {
        let start_line = self.line;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.pos) {
                None => return Err(ScriptError::new(start_line, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    if let Some(&c) = self.s.get(self.pos + 1) {
                        if c == b'\n' {
                            self.line += 1;
                        }
                        out.push(c);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                    }
                }
                Some(&c) => {
                    if c == b'\n' {
                        self.line += 1;
                    }
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(crlf(String::from_utf8_lossy(&out).into_owned()))
    }

    /// `text:` up to a line holding only `.`; a leading `..` loses one dot.
    fn multiline(&mut self) -> Result<String, ScriptError> {
        let start_line = self.line;
        // Rest of the `text:` line: blanks and an optional comment.
        while let Some(&c) = self.s.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'#' => self.skip_line(),
                b'\n' => break,
                _ => return Err(self.err("text: must be followed by a line break")),
            }
        }
        let mut out = String::new();
        loop {
            if self.pos >= self.s.len() {
                return Err(ScriptError::new(
                    start_line,
                    "unterminated multi-line string",
                ));
            }
            // Skip the newline that ended the previous line.
            self.pos += 1;
            self.line += 1;
            let end =
                memchr::memchr(b'\n', &self.s[self.pos..]).map_or(self.s.len(), |i| self.pos + i);
            let line = self.src[self.pos..end].trim_end_matches('\r');
            self.pos = end;
            if line == "." {
                return Ok(out);
            }
            out.push_str(
                line.strip_prefix('.')
                    .filter(|l| l.starts_with('.'))
                    .unwrap_or(line),
            );
            out.push_str("\r\n");
            if end >= self.s.len() {
                return Err(ScriptError::new(
                    start_line,
                    "unterminated multi-line string",
                ));
            }
        }
    }
}

/// Strings in a script mean CRLF line ends whatever the file uses.
fn crlf(s: String) -> String {
    if !s.contains('\n') {
        return s;
    }
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Token> {
        tokenize(s).unwrap().into_iter().map(|l| l.token).collect()
    }

    #[test]
    fn words_tags_numbers_and_strings() {
        assert_eq!(
            toks("if size :OVER 100K { fileinto \"a\\\"b\"; } # c\n/* x\n */"),
            vec![
                Token::Ident("if".into()),
                Token::Ident("size".into()),
                Token::Tag("over".into()),
                Token::Number(102_400),
                Token::LBrace,
                Token::Ident("fileinto".into()),
                Token::Str("a\"b".into()),
                Token::Semicolon,
                Token::RBrace,
            ]
        );
    }

    #[test]
    fn multiline_strings_unstuff_dots_and_end_in_crlf() {
        let t = toks("vacation text: # note\nHi\n..dot\n.\n;");
        assert_eq!(t[1], Token::Str("Hi\r\n.dot\r\n".into()));
        assert_eq!(t[2], Token::Semicolon);
    }

    #[test]
    fn errors_name_their_line() {
        let e = tokenize("keep;\n\n\"open").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(tokenize("a = 1").is_err());
        assert!(tokenize("99999999999999999999").is_err());
        assert!(tokenize("1G").is_ok());
    }
}
