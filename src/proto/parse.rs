//! Command parsing: a pure function from one framed command (as produced by
//! `proto::reader`) to a `Command`. Recursive descent over the RFC 3501 §9
//! grammar; no I/O, no session state, so it can be fuzzed alone.

use super::encode::is_astring_char;
use super::types::{Command, CommandBody};
use std::fmt;

/// Longest tag we accept; longer ones are almost surely garbage.
const MAX_TAG: usize = 64;
/// ID (RFC 2971 §3.3): at most 30 field-value pairs.
const MAX_ID_PAIRS: usize = 30;

/// Why a command was rejected; becomes a tagged (or, without a tag,
/// untagged) BAD.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The command's tag, when one could be read.
    pub tag: Option<Vec<u8>>,
    pub kind: ParseErrorKind,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The line does not start with a valid tag.
    NoTag,
    /// The command name is not one Roost knows.
    UnknownCommand(String),
    /// Arguments do not follow the grammar.
    Syntax {
        command: &'static str,
        pos: usize,
        expected: &'static str,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ParseErrorKind::NoTag => f.write_str("Error in IMAP command: missing or invalid tag"),
            ParseErrorKind::UnknownCommand(name) if name.is_empty() => {
                f.write_str("Error in IMAP command: missing command name")
            }
            ParseErrorKind::UnknownCommand(name) => write!(f, "Unknown command {name}"),
            ParseErrorKind::Syntax {
                command,
                pos,
                expected,
            } => write!(
                f,
                "Error in IMAP command {command}: expected {expected} at byte {pos}"
            ),
        }
    }
}

/// Parses one framed command (without its final CRLF).
pub fn parse_command(input: &[u8]) -> Result<Command, ParseError> {
    let mut p = Parser { input, pos: 0 };
    let tag = p.tag().ok_or(ParseError {
        tag: None,
        kind: ParseErrorKind::NoTag,
    })?;
    let syntax_err = |command: &'static str, pos: usize, expected: &'static str| ParseError {
        tag: Some(tag.clone()),
        kind: ParseErrorKind::Syntax {
            command,
            pos,
            expected,
        },
    };
    if p.expect_sp().is_err() {
        return Err(ParseError {
            tag: Some(tag.clone()),
            kind: ParseErrorKind::UnknownCommand(String::new()),
        });
    }
    let name = p.atom().unwrap_or_default().to_ascii_uppercase();
    let name_str = String::from_utf8_lossy(&name).into_owned();
    let body = match name.as_slice() {
        b"CAPABILITY" => CommandBody::Capability,
        b"NOOP" => CommandBody::Noop,
        b"LOGOUT" => CommandBody::Logout,
        b"STARTTLS" => CommandBody::StartTls,
        b"LOGIN" => {
            let args = (|| {
                p.expect_sp()?;
                let user = p.astring()?;
                p.expect_sp()?;
                let password = p.astring()?;
                Ok((user, password))
            })();
            match args {
                Ok((user, password)) => CommandBody::Login { user, password },
                Err(Expected(e)) => return Err(syntax_err("LOGIN", p.pos, e)),
            }
        }
        b"AUTHENTICATE" => {
            let args = (|| {
                p.expect_sp()?;
                let mech = p.atom().ok_or(Expected("mechanism name"))?;
                let initial = if p.peek() == Some(b' ') {
                    p.pos += 1;
                    Some(p.base64_or_eq()?)
                } else {
                    None
                };
                Ok((mech, initial))
            })();
            match args {
                Ok((mech, initial)) => CommandBody::Authenticate {
                    mechanism: String::from_utf8_lossy(&mech).to_ascii_uppercase(),
                    initial,
                },
                Err(Expected(e)) => return Err(syntax_err("AUTHENTICATE", p.pos, e)),
            }
        }
        b"ID" => {
            let args = (|| {
                p.expect_sp()?;
                p.id_params()
            })();
            match args {
                Ok(params) => CommandBody::Id(params),
                Err(Expected(e)) => return Err(syntax_err("ID", p.pos, e)),
            }
        }
        _ => {
            return Err(ParseError {
                tag: Some(tag),
                kind: ParseErrorKind::UnknownCommand(name_str),
            })
        }
    };
    if p.pos != input.len() {
        return Err(syntax_err(body.name(), p.pos, "end of command"));
    }
    Ok(Command { tag, body })
}

/// Where the secret part of a command starts, for the protocol trace: the
/// password of LOGIN, the initial response of AUTHENTICATE. Lenient: it
/// works on malformed commands too, hiding everything after the name.
pub fn secret_offset(input: &[u8]) -> Option<usize> {
    let mut p = Parser { input, pos: 0 };
    p.tag()?;
    p.expect_sp().ok()?;
    let name = p.atom()?.to_ascii_uppercase();
    let after_name = p.pos;
    match name.as_slice() {
        b"LOGIN" => {
            let user_ok = p.expect_sp().is_ok() && p.astring().is_ok() && p.expect_sp().is_ok();
            Some(if user_ok { p.pos } else { after_name })
        }
        b"AUTHENTICATE" => {
            let mech_ok = p.expect_sp().is_ok() && p.atom().is_some();
            (mech_ok && p.peek() == Some(b' ')).then_some(p.pos + 1)
        }
        _ => None,
    }
}

/// What the parser wanted where it failed.
#[derive(Debug)]
struct Expected(&'static str);

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn tag(&mut self) -> Option<Vec<u8>> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_astring_char(b) && b != b'+' {
                self.pos += 1;
            } else {
                break;
            }
        }
        let tag = &self.input[start..self.pos];
        (!tag.is_empty() && tag.len() <= MAX_TAG).then(|| tag.to_vec())
    }

    fn expect_sp(&mut self) -> Result<(), Expected> {
        self.expect(b' ', "SP")
    }

    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), Expected> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Expected(what))
        }
    }

    /// `atom = 1*ATOM-CHAR`
    fn atom(&mut self) -> Option<Vec<u8>> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if super::encode::is_atom_char(b)) {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.input[start..self.pos].to_vec())
    }

    /// `astring = 1*ASTRING-CHAR / string`
    fn astring(&mut self) -> Result<Vec<u8>, Expected> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            Some(b) if is_astring_char(b) => {
                let start = self.pos;
                while matches!(self.peek(), Some(b) if is_astring_char(b)) {
                    self.pos += 1;
                }
                Ok(self.input[start..self.pos].to_vec())
            }
            _ => Err(Expected("astring")),
        }
    }

    /// `string = quoted / literal`
    fn string(&mut self) -> Result<Vec<u8>, Expected> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err(Expected("string")),
        }
    }

    /// `nstring = string / nil`
    fn nstring(&mut self) -> Result<Option<Vec<u8>>, Expected> {
        if self.nil() {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    fn nil(&mut self) -> bool {
        let rest = &self.input[self.pos..];
        if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"NIL") {
            let after = rest.get(3).copied();
            if after.is_none_or(|b| !super::encode::is_atom_char(b)) {
                self.pos += 3;
                return true;
            }
        }
        false
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`; `\` escapes only `"` and `\`.
    fn quoted(&mut self) -> Result<Vec<u8>, Expected> {
        self.expect(b'"', "quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') | Some(0) => {
                    return Err(Expected("closing quote"))
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(Expected("\\\" or \\\\ after backslash")),
                    }
                }
                // RFC 3501 quoted strings are 7-bit; RFC 9051 (UTF8=ACCEPT)
                // allows UTF-8. Accepting 8-bit here is what Dovecot does
                // for passwords with non-ASCII characters.
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `literal = "{" number ["+"] "}" CRLF *CHAR8`; the reader has already
    /// gathered exactly `number` bytes after the CRLF.
    fn literal(&mut self) -> Result<Vec<u8>, Expected> {
        self.expect(b'{', "literal")?;
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let len: usize = std::str::from_utf8(&self.input[start..self.pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Expected("literal size"))?;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        self.expect(b'}', "}")?;
        self.expect(b'\r', "CRLF after literal size")?;
        self.expect(b'\n', "CRLF after literal size")?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.input.len())
            .ok_or(Expected("literal data"))?;
        let data = self.input[self.pos..end].to_vec();
        self.pos = end;
        Ok(data)
    }

    /// SASL initial response: `base64 / "="` (RFC 4959). Decoding is left to
    /// the SASL code; here we only take the token.
    fn base64_or_eq(&mut self) -> Result<Vec<u8>, Expected> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(Expected("base64 initial response"));
        }
        Ok(self.input[start..self.pos].to_vec())
    }

    /// `id-params-list = "(" *(string SP nstring) ")" / nil` (RFC 2971).
    #[allow(clippy::type_complexity)]
    fn id_params(&mut self) -> Result<Option<Vec<(Vec<u8>, Option<Vec<u8>>)>>, Expected> {
        if self.nil() {
            return Ok(None);
        }
        self.expect(b'(', "( or NIL")?;
        let mut pairs = Vec::new();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(Some(pairs));
        }
        loop {
            let key = self.string()?;
            self.expect_sp()?;
            let value = self.nstring()?;
            if pairs.len() >= MAX_ID_PAIRS {
                return Err(Expected("at most 30 ID fields"));
            }
            pairs.push((key, value));
            match self.peek() {
                Some(b' ') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Some(pairs));
                }
                _ => return Err(Expected("SP or )")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &[u8]) -> Command {
        match parse_command(input) {
            Ok(c) => c,
            Err(e) => panic!("{}: {e}", String::from_utf8_lossy(input)),
        }
    }

    #[test]
    fn simple_commands() {
        let rows: &[(&[u8], CommandBody)] = &[
            (b"a CAPABILITY", CommandBody::Capability),
            (b"a capability", CommandBody::Capability),
            (b"A001 NOOP", CommandBody::Noop),
            (b"x LOGOUT", CommandBody::Logout),
            (b"x StartTLS", CommandBody::StartTls),
        ];
        for (input, want) in rows {
            assert_eq!(&ok(input).body, want);
        }
    }

    #[test]
    fn login_forms() {
        let rows: &[(&[u8], &[u8], &[u8])] = &[
            (b"a LOGIN fred secret", b"fred", b"secret"),
            (b"a LOGIN \"fred\" \"sec ret\"", b"fred", b"sec ret"),
            (b"a LOGIN \"f\\\"q\" \"b\\\\s\"", b"f\"q", b"b\\s"),
            (b"a LOGIN {4}\r\nfred {6+}\r\nsecret", b"fred", b"secret"),
            (b"a LOGIN {0}\r\n \"\"", b"", b""),
            (b"a LOGIN user pass]word", b"user", b"pass]word"),
            (b"a LOGIN \"user\" {3}\r\n\r\n\"", b"user", b"\r\n\""),
        ];
        for (input, user, password) in rows {
            let want = CommandBody::Login {
                user: user.to_vec(),
                password: password.to_vec(),
            };
            assert_eq!(ok(input).body, want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn authenticate_forms() {
        assert_eq!(
            ok(b"a AUTHENTICATE plain").body,
            CommandBody::Authenticate {
                mechanism: "PLAIN".into(),
                initial: None
            }
        );
        assert_eq!(
            ok(b"a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0").body,
            CommandBody::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some(b"AGZyZWQAc2VjcmV0".to_vec())
            }
        );
        assert_eq!(
            ok(b"a AUTHENTICATE PLAIN =").body,
            CommandBody::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some(b"=".to_vec())
            }
        );
    }

    #[test]
    fn id_forms() {
        assert_eq!(ok(b"a ID NIL").body, CommandBody::Id(None));
        assert_eq!(ok(b"a ID ()").body, CommandBody::Id(Some(vec![])));
        assert_eq!(
            ok(b"a ID (\"name\" \"Thunderbird\" \"version\" NIL)").body,
            CommandBody::Id(Some(vec![
                (b"name".to_vec(), Some(b"Thunderbird".to_vec())),
                (b"version".to_vec(), None)
            ]))
        );
    }

    fn err(input: &[u8]) -> ParseError {
        match parse_command(input) {
            Ok(c) => panic!("{} parsed as {c:?}", String::from_utf8_lossy(input)),
            Err(e) => e,
        }
    }

    #[test]
    fn errors_keep_the_tag_and_say_where() {
        let rows: &[(&[u8], Option<&[u8]>, &str)] = &[
            (b"", None, "missing or invalid tag"),
            (b"+ NOOP", None, "missing or invalid tag"),
            (b"(a) NOOP", None, "missing or invalid tag"),
            (b"a", Some(b"a"), "missing command name"),
            (b"a FROB", Some(b"a"), "Unknown command FROB"),
            (
                b"a NOOP extra",
                Some(b"a"),
                "expected end of command at byte 6",
            ),
            (b"a LOGIN fred", Some(b"a"), "expected SP at byte 12"),
            (
                b"a LOGIN \"fred secret",
                Some(b"a"),
                "expected closing quote",
            ),
            (b"a LOGIN {10}\r\nfred", Some(b"a"), "expected literal data"),
            (b"a LOGIN fred (x)", Some(b"a"), "expected astring"),
            (b"a LOGIN \"a\\b\" x", Some(b"a"), "backslash"),
            (b"a AUTHENTICATE", Some(b"a"), "expected SP"),
            (b"a AUTHENTICATE PLAIN !!", Some(b"a"), "base64"),
            (b"a ID (\"name\")", Some(b"a"), "expected SP"),
            (b"a ID name", Some(b"a"), "( or NIL"),
        ];
        for (input, tag, text) in rows {
            let e = err(input);
            assert_eq!(e.tag.as_deref(), *tag, "{}", String::from_utf8_lossy(input));
            assert!(
                e.to_string().contains(text),
                "{} -> {e}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn secret_offsets() {
        let rows: &[(&[u8], Option<usize>)] = &[
            (b"a LOGIN fred secret", Some(13)),
            (b"a LOGIN {4}\r\nfred {6}\r\nsecret", Some(18)),
            (b"a login \"fred", Some(7)),
            (b"a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0", Some(21)),
            (b"a AUTHENTICATE PLAIN", None),
            (b"a NOOP", None),
            (b"garbage", None),
        ];
        for (input, want) in rows {
            assert_eq!(
                secret_offset(input),
                *want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn never_panics_on_prefixes() {
        let input = b"a LOGIN {4}\r\nfred \"se\\\"cret\"";
        for end in 0..input.len() {
            let _ = parse_command(&input[..end]);
        }
    }
}
