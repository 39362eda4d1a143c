//! Server responses (RFC 3501 §7, grammar in §9), parsed strictly enough
//! that a malformed one is caught: every response the tester reads goes
//! through here, and one that does not parse is reported.
//!
//! Input is one whole response as read off the wire: lines joined with
//! their CRLFs, literals (`{n}` CRLF and n bytes) inline, final CRLF
//! removed.

/// One value in a parenthesised structure (FETCH data, BODYSTRUCTURE…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom or number, as written (`\Seen`, `42`, `BODY[1]<0>`).
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    Nil,
    List(Vec<Value>),
}

impl Value {
    pub fn as_number(&self) -> Option<u32> {
        match self {
            Value::Atom(a) => a.parse().ok(),
            _ => None,
        }
    }

    /// Atoms of a list such as FLAGS.
    pub fn atoms(&self) -> Option<Vec<String>> {
        match self {
            Value::List(items) => items
                .iter()
                .map(|v| match v {
                    Value::Atom(a) => Some(a.clone()),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
}

/// A response code, `[NAME args]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// Upper-cased name, e.g. `APPENDUID`.
    pub name: String,
    /// Everything after the name up to the closing bracket.
    pub args: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Bye,
    Preauth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    Status {
        status: Status,
        code: Option<Code>,
        text: String,
    },
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    /// Message number and (item name upper-cased, value) pairs.
    Fetch(u32, Vec<(String, Value)>),
    Search(Vec<u32>),
    Capability(Vec<String>),
    /// Any other untagged response, by its keyword (LIST, FLAGS, STATUS…).
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Continue,
    Untagged(Untagged),
    Tagged {
        tag: String,
        status: Status,
        code: Option<Code>,
        text: String,
    },
}

pub fn parse(raw: &[u8]) -> Result<Response, String> {
    let mut p = Parser { b: raw, i: 0 };
    let r = p.response()?;
    if p.i != raw.len() {
        return Err(format!("unexpected bytes at offset {}", p.i));
    }
    Ok(r)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at offset {}", c as char, self.i))
        }
    }

    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    /// The rest of the line as text (response text may be empty).
    fn rest(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.b[self.i..]).into_owned();
        self.i = self.b.len();
        s
    }

    /// A run of atom characters; brackets (BODY[...]) may hold spaces
    /// and parentheses.
    fn atom(&mut self) -> Result<String, String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            match c {
                b'[' => {
                    let close = self.b[self.i..]
                        .iter()
                        .position(|&c| c == b']')
                        .ok_or("unclosed '['")?;
                    if self.b[self.i..self.i + close].contains(&b'\r') {
                        return Err("line break inside '[...]'".into());
                    }
                    self.i += close + 1;
                }
                b' ' | b'(' | b')' | b'{' | b'"' | b']' => break,
                c if c < 0x20 || c == 0x7f => break,
                _ => self.i += 1,
            }
        }
        if self.i == start {
            return Err(format!("expected an atom at offset {start}"));
        }
        Ok(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
    }

    fn number(&mut self) -> Result<u32, String> {
        let a = self.atom()?;
        a.parse()
            .map_err(|_| format!("expected a number, got {a:?}"))
    }

    fn quoted(&mut self) -> Result<Vec<u8>, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return Err("unterminated quoted string".into()),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let c = self
                        .b
                        .get(self.i + 1)
                        .copied()
                        .ok_or("dangling backslash")?;
                    if c != b'"' && c != b'\\' {
                        return Err("bad escape in quoted string".into());
                    }
                    out.push(c);
                    self.i += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Vec<u8>, String> {
        self.expect(b'{')?;
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let n: usize = std::str::from_utf8(&self.b[start..self.i])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or("bad literal length")?;
        self.expect(b'}')?;
        self.expect(b'\r')?;
        self.expect(b'\n')?;
        if self.b.len() - self.i < n {
            return Err("literal longer than the response".into());
        }
        let data = self.b[self.i..self.i + n].to_vec();
        self.i += n;
        Ok(data)
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let mut items = Vec::new();
                if self.peek() == Some(b')') {
                    self.i += 1;
                    return Ok(Value::List(items));
                }
                // Bounded by the input: every pass consumes bytes.
                loop {
                    items.push(self.value()?);
                    match self.peek() {
                        Some(b')') => {
                            self.i += 1;
                            return Ok(Value::List(items));
                        }
                        Some(b' ') => self.i += 1,
                        // Parts of a multipart BODYSTRUCTURE follow one
                        // another without a space (RFC 3501 §9 body-type-mpart).
                        Some(b'(') if matches!(items.last(), Some(Value::List(_))) => {}
                        None => return Err("unclosed '('".into()),
                        _ => return Err(format!("expected SP or ')' at offset {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Value::Str(self.quoted()?)),
            Some(b'{') => Ok(Value::Str(self.literal()?)),
            _ => {
                let a = self.atom()?;
                if a.eq_ignore_ascii_case("NIL") {
                    Ok(Value::Nil)
                } else {
                    Ok(Value::Atom(a))
                }
            }
        }
    }

    /// `[NAME args]` if present, and the space after it.
    fn code(&mut self) -> Result<Option<Code>, String> {
        if self.peek() != Some(b'[') {
            return Ok(None);
        }
        self.i += 1;
        let close = self.b[self.i..]
            .iter()
            .position(|&c| c == b']')
            .ok_or("unclosed response code")?;
        let inner = String::from_utf8_lossy(&self.b[self.i..self.i + close]).into_owned();
        self.i += close + 1;
        let (name, args) = inner.split_once(' ').unwrap_or((&inner, ""));
        if name.is_empty() {
            return Err("empty response code".into());
        }
        if self.peek() == Some(b' ') {
            self.i += 1;
        }
        Ok(Some(Code {
            name: name.to_ascii_uppercase(),
            args: args.to_string(),
        }))
    }

    fn status_word(word: &str) -> Option<Status> {
        match word.to_ascii_uppercase().as_str() {
            "OK" => Some(Status::Ok),
            "NO" => Some(Status::No),
            "BAD" => Some(Status::Bad),
            "BYE" => Some(Status::Bye),
            "PREAUTH" => Some(Status::Preauth),
            _ => None,
        }
    }

    /// After a status word: SP [code] text. Dovecot and others always
    /// send text, but RFC 3501 §9 `resp-text` allows an empty one after
    /// a code, so the space is optional at the end.
    fn resp_text(&mut self) -> Result<(Option<Code>, String), String> {
        if self.at_end() {
            return Ok((None, String::new()));
        }
        self.expect(b' ')?;
        let code = self.code()?;
        Ok((code, self.rest()))
    }

    fn response(&mut self) -> Result<Response, String> {
        if self.b.contains(&0) {
            return Err("NUL byte in a response".into());
        }
        match self.peek() {
            Some(b'+') => {
                self.i = self.b.len();
                Ok(Response::Continue)
            }
            Some(b'*') => {
                self.i += 1;
                self.expect(b' ')?;
                Ok(Response::Untagged(self.untagged()?))
            }
            Some(_) => {
                let tag = self.atom()?;
                self.expect(b' ')?;
                let word = self.atom()?;
                let status = match Self::status_word(&word) {
                    Some(s @ (Status::Ok | Status::No | Status::Bad)) => s,
                    _ => return Err(format!("tagged response with status {word:?}")),
                };
                let (code, text) = self.resp_text()?;
                Ok(Response::Tagged {
                    tag,
                    status,
                    code,
                    text,
                })
            }
            None => Err("empty response".into()),
        }
    }

    fn untagged(&mut self) -> Result<Untagged, String> {
        let word = self.atom()?;
        if let Ok(n) = word.parse::<u32>() {
            self.expect(b' ')?;
            let kind = self.atom()?.to_ascii_uppercase();
            return match kind.as_str() {
                "EXISTS" => Ok(Untagged::Exists(n)),
                "RECENT" => Ok(Untagged::Recent(n)),
                "EXPUNGE" => Ok(Untagged::Expunge(n)),
                "FETCH" => {
                    self.expect(b' ')?;
                    Ok(Untagged::Fetch(n, self.fetch_items()?))
                }
                _ => Err(format!("unknown message response {kind:?}")),
            };
        }
        let upper = word.to_ascii_uppercase();
        if let Some(status) = Self::status_word(&upper) {
            let (code, text) = self.resp_text()?;
            return Ok(Untagged::Status { status, code, text });
        }
        match upper.as_str() {
            "SEARCH" => {
                let mut found = Vec::new();
                while self.peek() == Some(b' ') {
                    self.i += 1;
                    if self.peek() == Some(b'(') {
                        // CONDSTORE's (MODSEQ n): not asked for, but legal.
                        self.value()?;
                    } else {
                        found.push(self.number()?);
                    }
                }
                Ok(Untagged::Search(found))
            }
            "CAPABILITY" => {
                let mut caps = Vec::new();
                while self.peek() == Some(b' ') {
                    self.i += 1;
                    caps.push(self.atom()?.to_ascii_uppercase());
                }
                Ok(Untagged::Capability(caps))
            }
            _ if !upper.bytes().all(|c| c.is_ascii_uppercase()) => {
                Err(format!("unknown untagged response {word:?}"))
            }
            _ => {
                // LIST, LSUB, FLAGS, STATUS, ID…: well-formed values.
                while self.peek() == Some(b' ') {
                    self.i += 1;
                    self.value()?;
                }
                Ok(Untagged::Other(upper))
            }
        }
    }

    /// `(name value name value ...)` to the end of the response.
    fn fetch_items(&mut self) -> Result<Vec<(String, Value)>, String> {
        self.expect(b'(')?;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(b')') && !items.is_empty() {
                self.i += 1;
                return Ok(items);
            }
            if !items.is_empty() {
                self.expect(b' ')?;
            }
            let name = self.atom()?.to_ascii_uppercase();
            self.expect(b' ')?;
            let value = self.value()?;
            items.push((name, value));
        }
    }
}

/// Numbers from a UID set such as `4,7:9` (COPYUID, APPENDUID), in order;
/// None if malformed or larger than `limit` entries.
pub fn uid_set(s: &str, limit: usize) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = part.parse::<u32>().ok()?;
                (n, n)
            }
        };
        // RFC 4315 §4: a range may be written high to low; the order of
        // the messages is still ascending UID.
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        if (hi - lo) as usize + out.len() >= limit {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_with_literal_and_sections() {
        let raw = b"* 3 FETCH (UID 17 FLAGS (\\Seen $c1) BODY[HEADER.FIELDS (FROM TO)] {5}\r\nab\r\nc BODY[]<0> \"x\\\"y\")";
        let Response::Untagged(Untagged::Fetch(3, items)) = parse(raw).unwrap() else {
            panic!()
        };
        assert_eq!(items[0], ("UID".into(), Value::Atom("17".into())));
        assert_eq!(items[1].1.atoms().unwrap(), vec!["\\Seen", "$c1"]);
        assert_eq!(items[2].0, "BODY[HEADER.FIELDS (FROM TO)]");
        assert_eq!(items[2].1, Value::Str(b"ab\r\nc".to_vec()));
        assert_eq!(items[3], ("BODY[]<0>".into(), Value::Str(b"x\"y".to_vec())));
    }

    #[test]
    fn nested_structures() {
        let raw = b"* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 3 1)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1) \"alternative\") ENVELOPE (NIL \"s\" ((\"A\" NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL NIL \"<m@x>\"))";
        let Response::Untagged(Untagged::Fetch(1, items)) = parse(raw).unwrap() else {
            panic!()
        };
        let Value::List(env) = &items[1].1 else {
            panic!()
        };
        assert_eq!(env.len(), 10);
    }

    #[test]
    fn tagged_and_codes() {
        assert_eq!(
            parse(b"a1 OK [APPENDUID 38505 3955] APPEND completed").unwrap(),
            Response::Tagged {
                tag: "a1".into(),
                status: Status::Ok,
                code: Some(Code {
                    name: "APPENDUID".into(),
                    args: "38505 3955".into()
                }),
                text: "APPEND completed".into()
            }
        );
        let Response::Untagged(Untagged::Status { code, .. }) =
            parse(b"* OK [PERMANENTFLAGS (\\Seen \\*)] Limited").unwrap()
        else {
            panic!()
        };
        assert_eq!(code.unwrap().args, "(\\Seen \\*)");
        assert!(matches!(
            parse(b"a2 NO [EXPUNGEISSUED] gone").unwrap(),
            Response::Tagged {
                status: Status::No,
                ..
            }
        ));
    }

    #[test]
    fn simple_untagged() {
        assert_eq!(
            parse(b"* 23 EXISTS").unwrap(),
            Response::Untagged(Untagged::Exists(23))
        );
        assert_eq!(
            parse(b"* SEARCH 2 3 5").unwrap(),
            Response::Untagged(Untagged::Search(vec![2, 3, 5]))
        );
        assert_eq!(
            parse(b"* SEARCH").unwrap(),
            Response::Untagged(Untagged::Search(vec![]))
        );
        assert_eq!(parse(b"+ idling").unwrap(), Response::Continue);
        assert!(matches!(
            parse(b"* LIST (\\HasNoChildren) \".\" INBOX").unwrap(),
            Response::Untagged(Untagged::Other(_))
        ));
    }

    #[test]
    fn malformed_responses_fail() {
        for bad in [
            &b"* 3 FETCH (UID 17"[..],
            b"* 3 FETCH UID 17",
            b"* 1x EXISTS",
            b"* 3 FROB",
            b"a1 MAYBE fine",
            b"* 3 FETCH (BODY[] {10}\r\nshort)",
            b"* 3 FETCH (UID 1) trailing",
            b"* SEARCH 1 x",
            b"",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn uid_sets() {
        assert_eq!(uid_set("4,7:9", 100).unwrap(), vec![4, 7, 8, 9]);
        assert_eq!(uid_set("9:7", 100).unwrap(), vec![7, 8, 9]);
        assert!(uid_set("1:1000", 10).is_none());
        assert!(uid_set("1,x", 10).is_none());
    }
}
