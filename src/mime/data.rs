//! The Content-* fields of one part, as BODYSTRUCTURE reports them
//! (RFC 3501 §7.4.2, RFC 2045, RFC 2183, RFC 3066, RFC 2557, RFC 1864).
//! Dovecot's rules: the first Content-Type, Content-ID, Content-MD5,
//! Content-Description, Content-Language and Content-Location count; the
//! first *valid* Content-Transfer-Encoding counts; a Content-Disposition
//! counts until one with parameters was seen. Types, subtypes and
//! parameter names keep their case.

use super::header::{self, Field};
use super::lexer::{Lex, Lexer};
use super::params::{self, Params};

#[derive(Clone, Debug, Default)]
pub(crate) struct PartData {
    /// With a Content-Type, the type and (maybe empty) subtype.
    pub content_type: Option<(Vec<u8>, Vec<u8>)>,
    pub params: Params,
    pub encoding: Option<Vec<u8>>,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    pub md5: Option<Vec<u8>>,
    pub disposition: Option<Vec<u8>>,
    pub disposition_params: Params,
    pub language: Option<Vec<Vec<u8>>>,
    pub location: Option<Vec<u8>>,
}

impl PartData {
    /// Takes one header field into account.
    pub fn add(&mut self, f: &Field<'_>) {
        let Some(rest) = f
            .name
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case(b"Content-"))
            .and_then(|_| f.name.get(8..))
        else {
            return;
        };
        let is = |n: &str| rest.eq_ignore_ascii_case(n.as_bytes());
        let value = &*f.value;
        if is("ID") {
            self.id
                .get_or_insert_with(|| header::nul_to_replacement(value));
        } else if is("MD5") {
            self.md5
                .get_or_insert_with(|| header::nul_to_replacement(value));
        } else if is("Description") {
            self.description
                .get_or_insert_with(|| header::nul_to_replacement(value));
        } else if is("Location") {
            self.location
                .get_or_insert_with(|| header::nul_to_replacement(value));
        } else if is("Type") {
            if self.content_type.is_none() {
                self.parse_type(value);
            }
        } else if is("Transfer-Encoding") {
            if self.encoding.is_none() {
                let mut lex = Lexer::new(value);
                lex.skip_lwsp();
                let mut token = Vec::new();
                if lex.mime_token(&mut token) != Lex::Err
                    && lex.skip_lwsp() == Lex::End
                    && !token.is_empty()
                {
                    self.encoding = Some(token);
                }
            }
        } else if is("Disposition") {
            if self.disposition_params.is_empty() {
                let mut lex = Lexer::new(value);
                lex.skip_lwsp();
                let mut token = Vec::new();
                if lex.mime_token(&mut token) != Lex::Err {
                    self.disposition = Some(token);
                    self.disposition_params = params::parse(&mut lex);
                }
            }
        } else if is("Language") && self.language.is_none() {
            let mut lex = Lexer::new(value);
            lex.skip_lwsp();
            let mut langs = Vec::new();
            loop {
                let mut atom = Vec::new();
                if lex.atom(&mut atom) == Lex::Err {
                    break;
                }
                langs.push(atom);
                if lex.at_end() || lex.peek() != b',' {
                    break;
                }
                lex.pos += 1;
                lex.skip_lwsp();
            }
            if !langs.is_empty() {
                self.language = Some(langs);
            }
        }
    }

    fn parse_type(&mut self, value: &[u8]) {
        let mut lex = Lexer::new(value);
        lex.skip_lwsp();
        let mut s = Vec::new();
        let ret = lex.content_type(&mut s);
        let (t, sub) = match s.iter().position(|&b| b == b'/') {
            Some(slash) => (s[..slash].to_vec(), s[slash + 1..].to_vec()),
            None => (s, Vec::new()),
        };
        self.content_type = Some((t, sub));
        if ret != Lex::Err {
            self.params = params::parse(&mut lex);
        }
    }

    pub fn is_type(&self, t: &str) -> bool {
        self.content_type
            .as_ref()
            .is_some_and(|(ty, _)| ty.eq_ignore_ascii_case(t.as_bytes()))
    }

    pub fn is_type_sub(&self, t: &str, sub: &str) -> bool {
        self.content_type.as_ref().is_some_and(|(ty, st)| {
            ty.eq_ignore_ascii_case(t.as_bytes()) && st.eq_ignore_ascii_case(sub.as_bytes())
        })
    }
}
