//! Sieve's grammar (RFC 5228 §8.2) into a generic tree: every command and
//! test is a name, positional arguments, nested tests and maybe a block.
//! Which names exist and what their arguments mean is `compile`'s job.

use super::lexer::{Lexed, Token};
use super::ScriptError;

/// Deeper nesting than this is refused: a script is user input and the
/// compiler and interpreter recurse over it.
pub(crate) const MAX_NESTING: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    Tag(String),
    Number(u64),
    /// A single string or a `[...]` list; `bracketed` tells them apart.
    Strings {
        list: Vec<String>,
        bracketed: bool,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub name: String,
    pub line: u32,
    pub args: Vec<(Arg, u32)>,
    pub tests: Vec<Node>,
    /// `Some` for a command with a `{ ... }` block.
    pub block: Option<Vec<Node>>,
}

pub(crate) fn parse(tokens: &[Lexed]) -> Result<Vec<Node>, ScriptError> {
    let mut p = Parser { t: tokens, pos: 0 };
    let cmds = p.commands(0)?;
    if let Some(t) = p.peek() {
        return Err(ScriptError::new(t.line, "unexpected '}'"));
    }
    Ok(cmds)
}

struct Parser<'a> {
    t: &'a [Lexed],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Lexed> {
        self.t.get(self.pos)
    }

    fn last_line(&self) -> u32 {
        self.t.last().map_or(1, |l| l.line)
    }

    fn next(&mut self) -> Option<&Lexed> {
        let t = self.t.get(self.pos);
        self.pos += 1;
        t
    }

    fn commands(&mut self, depth: usize) -> Result<Vec<Node>, ScriptError> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            if t.token == Token::RBrace {
                break;
            }
            out.push(self.command(depth)?);
        }
        Ok(out)
    }

    fn command(&mut self, depth: usize) -> Result<Node, ScriptError> {
        let (name, line) = match self.next() {
            Some(Lexed {
                token: Token::Ident(n),
                line,
            }) => (n.clone(), *line),
            Some(l) => return Err(ScriptError::new(l.line, "expected a command name")),
            None => unreachable_end(),
        };
        let (args, tests) = self.arguments(depth)?;
        let line_after = self.peek().map_or(self.last_line(), |l| l.line);
        let block = match self.next().map(|l| &l.token) {
            Some(Token::Semicolon) => None,
            Some(Token::LBrace) => {
                if depth + 1 > MAX_NESTING {
                    return Err(ScriptError::new(line, "blocks nested too deeply"));
                }
                let body = self.commands(depth + 1)?;
                match self.next().map(|l| &l.token) {
                    Some(Token::RBrace) => Some(body),
                    _ => return Err(ScriptError::new(self.last_line(), "missing '}'")),
                }
            }
            _ => {
                return Err(ScriptError::new(
                    line_after,
                    format!("expected ';' or a block after command '{name}'"),
                ))
            }
        };
        Ok(Node {
            name,
            line,
            args,
            tests,
            block,
        })
    }

    #[allow(clippy::type_complexity)]
    fn arguments(&mut self, depth: usize) -> Result<(Vec<(Arg, u32)>, Vec<Node>), ScriptError> {
        let mut args = Vec::new();
        while let Some(l) = self.peek() {
            let line = l.line;
            let arg = match &l.token {
                Token::Tag(t) => Arg::Tag(t.clone()),
                Token::Number(n) => Arg::Number(*n),
                Token::Str(s) => Arg::Strings {
                    list: vec![s.clone()],
                    bracketed: false,
                },
                Token::LBracket => {
                    self.pos += 1;
                    let list = self.string_list(line)?;
                    args.push((
                        Arg::Strings {
                            list,
                            bracketed: true,
                        },
                        line,
                    ));
                    continue;
                }
                _ => break,
            };
            self.pos += 1;
            args.push((arg, line));
        }
        let mut tests = Vec::new();
        match self.peek().map(|l| &l.token) {
            Some(Token::Ident(_)) => tests.push(self.test(depth + 1)?),
            Some(Token::LParen) => {
                self.pos += 1;
                loop {
                    tests.push(self.test(depth + 1)?);
                    match self.next().map(|l| &l.token) {
                        Some(Token::Comma) => continue,
                        Some(Token::RParen) => break,
                        _ => {
                            return Err(ScriptError::new(
                                self.last_line(),
                                "expected ',' or ')' in test list",
                            ))
                        }
                    }
                }
            }
            _ => {}
        }
        Ok((args, tests))
    }

    fn string_list(&mut self, line: u32) -> Result<Vec<String>, ScriptError> {
        let mut list = Vec::new();
        loop {
            match self.next().map(|l| l.token.clone()) {
                Some(Token::Str(s)) => list.push(s),
                _ => return Err(ScriptError::new(line, "expected a string in string list")),
            }
            match self.next().map(|l| &l.token) {
                Some(Token::Comma) => continue,
                Some(Token::RBracket) => return Ok(list),
                _ => return Err(ScriptError::new(line, "expected ',' or ']' in string list")),
            }
        }
    }

    fn test(&mut self, depth: usize) -> Result<Node, ScriptError> {
        if depth > MAX_NESTING {
            let line = self.peek().map_or(self.last_line(), |l| l.line);
            return Err(ScriptError::new(line, "tests nested too deeply"));
        }
        let (name, line) = match self.next() {
            Some(Lexed {
                token: Token::Ident(n),
                line,
            }) => (n.clone(), *line),
            Some(l) => return Err(ScriptError::new(l.line, "expected a test")),
            None => return Err(ScriptError::new(self.last_line(), "expected a test")),
        };
        let (args, tests) = self.arguments(depth)?;
        Ok(Node {
            name,
            line,
            args,
            tests,
            block: None,
        })
    }
}

/// `command` is only called when a token is there.
fn unreachable_end() -> ! {
    unreachable!("command() called at the end of input")
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn tree(s: &str) -> Result<Vec<Node>, ScriptError> {
        parse(&tokenize(s)?)
    }

    #[test]
    fn commands_tests_and_blocks() {
        let t = tree("require [\"fileinto\"];\nif anyof (header :is \"x\" \"y\", true) { fileinto \"A\"; } else { keep; }").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[1].name, "if");
        assert_eq!(t[1].tests[0].name, "anyof");
        assert_eq!(t[1].tests[0].tests.len(), 2);
        assert_eq!(t[1].block.as_ref().unwrap()[0].name, "fileinto");
        assert_eq!(t[2].name, "else");
        assert_eq!(t[1].line, 2);
    }

    #[test]
    fn broken_scripts_name_the_line() {
        assert_eq!(tree("keep;\nkeep").unwrap_err().line, 2);
        assert!(tree("if true { keep;").is_err());
        assert!(tree("}").is_err());
        assert!(tree("fileinto [\"a\" \"b\"];").is_err());
        let deep = "if true {".repeat(40) + &"}".repeat(40);
        assert!(tree(&deep).is_err());
        let deep_tests = format!("if {}true{} {{}}", "not ".repeat(100), "");
        assert!(tree(&deep_tests).is_err());
    }
}
