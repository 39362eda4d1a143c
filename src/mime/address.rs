//! Address lists (RFC 5322 §3.4) parsed from the raw header value into
//! the four ENVELOPE fields `(name adl mailbox host)` (RFC 3501 §7.4.2).
//! Encoded words stay as they are. Broken input gives what Dovecot gives:
//! `MISSING_MAILBOX` / `MISSING_DOMAIN` placeholders, `SYNTAX_ERROR` and
//! `INVALID_ROUTE`, a bare word taken as a mailbox without a domain, and a
//! group as `(NIL NIL "name" NIL)` ... `(NIL NIL NIL NIL)`.

use super::lexer::{Lex, Lexer};

/// One ENVELOPE address; all `None` ends a group, `domain == None` with
/// a mailbox starts one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Address {
    pub name: Option<Vec<u8>>,
    pub route: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub domain: Option<Vec<u8>>,
}

struct Parser<'a> {
    lex: Lexer<'a>,
    out: Vec<Address>,
    addr: Address,
    /// Dovecot's scratch string: what the last local part, domain or
    /// phrase left, even when it failed halfway.
    scratch: Vec<u8>,
    /// Set when the address at hand is broken; only affects the rule
    /// that turns a lone word without `@` into a display name.
    invalid: bool,
}

/// Parses an address-list header value (From, To, Cc, ...).
pub(crate) fn parse(value: &[u8]) -> Vec<Address> {
    let mut lex = Lexer::new(value);
    lex.last_comment = Some(Vec::new());
    lex.replace_nul = true;
    let mut p = Parser {
        lex,
        out: Vec::new(),
        addr: Address::default(),
        scratch: Vec::new(),
        invalid: false,
    };
    if p.lex.skip_lwsp() == Lex::More {
        p.address_list();
    }
    p.out
}

impl Parser<'_> {
    fn push(&mut self) {
        self.out.push(std::mem::take(&mut self.addr));
        self.invalid = false;
    }

    fn push_fixed(&mut self) {
        if self.addr.mailbox.is_none() {
            self.addr.mailbox = Some(b"MISSING_MAILBOX".to_vec());
        }
        if self.addr.domain.as_deref().is_none_or(|d| d.is_empty()) {
            self.addr.domain = Some(b"MISSING_DOMAIN".to_vec());
        }
        self.push();
    }

    /// A local part without the strict dot-atom rules: `a..b.` is fine.
    fn nonstrict_dot_atom(&mut self, out: &mut Vec<u8>) -> Lex {
        let mut ret = Lex::Err;
        loop {
            while self.lex.peek() == b'.' && !self.lex.at_end() {
                out.push(b'.');
                self.lex.pos += 1;
                if self.lex.at_end() {
                    // The @domain is missing but the local part is fine.
                    return Lex::End;
                }
                ret = Lex::More;
            }
            if self.lex.peek() == b'@' {
                break;
            }
            ret = self.lex.atom(out);
            if ret != Lex::More || self.lex.peek() != b'.' {
                break;
            }
        }
        ret
    }

    fn local_part(&mut self) -> Lex {
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        let ret = if self.lex.peek() == b'"' {
            self.lex.quoted_string(&mut s)
        } else {
            self.nonstrict_dot_atom(&mut s)
        };
        if ret != Lex::Err {
            self.addr.mailbox = Some(s.clone());
        }
        self.scratch = s;
        ret
    }

    fn domain(&mut self) -> Lex {
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        let ret = self.lex.domain(&mut s);
        if ret != Lex::Err {
            self.addr.domain = Some(s.clone());
        }
        self.scratch = s;
        ret
    }

    /// `obs-domain-list`: `@a,@b` before the `:` of a route.
    fn domain_list(&mut self) -> Lex {
        let mut s = Vec::new();
        loop {
            if self.lex.at_end() {
                return Lex::End;
            }
            if self.lex.peek() != b'@' {
                break;
            }
            if !s.is_empty() {
                s.push(b',');
            }
            s.push(b'@');
            let ret = self.lex.domain(&mut s);
            if ret != Lex::More {
                return ret;
            }
            while self.lex.skip_lwsp() == Lex::More && self.lex.peek() == b',' {
                self.lex.pos += 1;
            }
        }
        self.addr.route = Some(s);
        Lex::More
    }

    /// `"<" [route ":"] local-part ["@" domain] ">"` at `<`.
    fn angle_addr(&mut self) -> Lex {
        self.lex.pos += 1;
        if self.lex.skip_lwsp() != Lex::More {
            return Lex::Err;
        }
        if self.lex.peek() == b'@' {
            if self.domain_list() == Lex::More && self.lex.peek() == b':' {
                self.lex.pos += 1;
            } else {
                self.addr.route = Some(b"INVALID_ROUTE".to_vec());
                if self.lex.at_end() {
                    return Lex::Err;
                }
            }
            if self.lex.skip_lwsp() != Lex::More {
                return Lex::Err;
            }
        }
        if self.lex.peek() != b'>' {
            if self.local_part() != Lex::More {
                return Lex::Err;
            }
            if self.lex.peek() == b'@' && self.domain() != Lex::More {
                return Lex::Err;
            }
        }
        if self.lex.peek() != b'>' || self.lex.at_end() {
            return Lex::Err;
        }
        self.lex.pos += 1;
        self.lex.skip_lwsp()
    }

    /// `[display-name] angle-addr`; `Err` if there is no `<`.
    fn name_addr(&mut self) -> Lex {
        let mut s = Vec::new();
        if self.lex.phrase(&mut s) != Lex::More || self.lex.peek() != b'<' {
            return Lex::Err;
        }
        self.addr.name = if s.is_empty() { None } else { Some(s) };
        if self.angle_addr() == Lex::Err {
            self.addr.domain = Some(b"SYNTAX_ERROR".to_vec());
            self.invalid = true;
        }
        if self.lex.at_end() {
            Lex::End
        } else {
            Lex::More
        }
    }

    fn addr_spec(&mut self) -> Lex {
        if let Some(c) = self.lex.last_comment.as_mut() {
            c.clear();
        }
        let quoted = self.lex.peek() == b'"';
        let mut ret = self.local_part();
        if ret != Lex::More {
            self.invalid = true;
        }
        let mut domain_ret = None;
        if ret != Lex::End && !self.lex.at_end() && self.lex.peek() == b'@' {
            let r = self.domain();
            domain_ret = Some(r);
            if r != Lex::More {
                ret = r;
            }
        }
        let comment = self.lex.last_comment.clone().unwrap_or_default();
        if !comment.is_empty() {
            self.addr.name = Some(comment);
        } else if domain_ret.is_none() {
            // A word without @domain: a mailbox if alone, else the start
            // of a display name.
            let mut s = std::mem::take(&mut self.scratch);
            s.push(b' ');
            let before = s.len();
            self.lex.phrase(&mut s);
            if s.len() != before {
                self.addr.mailbox = None;
                self.addr.name = Some(s);
            } else if !quoted {
                self.addr.domain = Some(Vec::new());
            }
            self.invalid = true;
            ret = Lex::Err;
        }
        ret
    }

    fn mailbox(&mut self) -> Lex {
        let start = self.lex.pos;
        let mut ret = self.name_addr();
        if ret == Lex::Err {
            self.lex.pos = start;
            ret = self.addr_spec();
            if self.invalid
                && self.addr.name.is_none()
                && self.addr.mailbox.is_some()
                && self.addr.domain.is_none()
            {
                self.addr.name = self.addr.mailbox.take();
            }
        }
        self.push_fixed();
        ret
    }

    /// `display-name ":" [mailbox-list] ";"`; `Err` if not a group.
    fn group(&mut self) -> Lex {
        let mut s = Vec::new();
        if self.lex.phrase(&mut s) != Lex::More || self.lex.peek() != b':' {
            return Lex::Err;
        }
        // From here on it is a group, however broken.
        self.lex.pos += 1;
        let mut ret = self.lex.skip_lwsp();
        self.addr.mailbox = Some(s);
        self.push();
        if ret == Lex::More && self.lex.peek() != b';' {
            loop {
                self.mailbox();
                if self.lex.at_end() || self.lex.peek() != b',' {
                    break;
                }
                self.lex.pos += 1;
                if self.lex.skip_lwsp() != Lex::More {
                    ret = Lex::Err;
                    break;
                }
            }
        }
        if ret != Lex::Err {
            if self.lex.at_end() || self.lex.peek() != b';' {
                ret = Lex::Err;
            } else {
                self.lex.pos += 1;
                ret = self.lex.skip_lwsp();
            }
        }
        self.push();
        if ret == Lex::End {
            Lex::End
        } else {
            Lex::More
        }
    }

    fn address(&mut self) -> Lex {
        let start = self.lex.pos;
        let ret = self.group();
        if ret != Lex::Err {
            return ret;
        }
        self.lex.pos = start;
        self.addr = Address::default();
        self.mailbox()
    }

    fn address_list(&mut self) {
        loop {
            if self.address() == Lex::End {
                break;
            }
            if self.lex.at_end() || self.lex.peek() != b',' {
                break;
            }
            self.lex.pos += 1;
            match self.lex.skip_lwsp() {
                Lex::More => {}
                Lex::Err => {
                    // Ends with garbage (an unclosed comment).
                    self.push_fixed();
                    break;
                }
                Lex::End => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(v: &[u8]) -> String {
        let s = |o: &Option<Vec<u8>>| match o {
            Some(b) => format!("{:?}", String::from_utf8_lossy(b)),
            None => "NIL".into(),
        };
        parse(v)
            .iter()
            .map(|a| {
                format!(
                    "({} {} {} {})",
                    s(&a.name),
                    s(&a.route),
                    s(&a.mailbox),
                    s(&a.domain)
                )
            })
            .collect()
    }

    #[test]
    fn addresses_like_dovecot() {
        let rows: &[(&[u8], &str)] = &[
            (b"a@b", r#"(NIL NIL "a" "b")"#),
            (
                b"\"Joe Q. Public\" <john.q.public@example.com>",
                r#"("Joe Q. Public" NIL "john.q.public" "example.com")"#,
            ),
            (b"user", r#"(NIL NIL "user" "MISSING_DOMAIN")"#),
            (
                b"foo bar baz",
                r#"("foo bar baz" NIL "MISSING_MAILBOX" "MISSING_DOMAIN")"#,
            ),
            (b"<>", r#"(NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")"#),
            (
                b"a@b, , c@d,",
                r#"(NIL NIL "a" "b")(NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL NIL "c" "d")"#,
            ),
            (
                b"@route,@r2:user@host",
                r#"(NIL NIL "MISSING_MAILBOX" "route")(NIL NIL "MISSING_MAILBOX" "r2")"#,
            ),
            (
                b"undisclosed-recipients:;",
                r#"(NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)"#,
            ),
            (
                b"A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n joe@example.org;",
                r#"(NIL NIL "A Group" NIL)("Chris Jones" NIL "c" "public.example")(NIL NIL "joe" "example.org")(NIL NIL NIL NIL)"#,
            ),
            (
                b"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
                r#"("Pete" NIL "pete" "silly.test")"#,
            ),
            (b"x@y (Comment Name)", r#"("Comment Name" NIL "x" "y")"#),
            (b"<@a,@b:u@h>", r#"(NIL "@a,@b" "u" "h")"#),
            (b"\"\" <e@f>", r#"(NIL NIL "e" "f")"#),
            (b"x\0y@z", r#"(NIL NIL "x" "MISSING_DOMAIN")"#),
            (b"Name <broken", r#"("Name" NIL "broken" "SYNTAX_ERROR")"#),
        ];
        for (input, want) in rows {
            assert_eq!(show(input), *want, "{:?}", String::from_utf8_lossy(input));
        }
        assert!(parse(b"").is_empty());
        assert!(parse(b"  (just a comment) ").is_empty());
    }
}
