//! The MIME structure of a message (RFC 2045, RFC 2046 §5): where each
//! part's header and body are, what kind of part it is, and its
//! Content-* data. It follows Dovecot's message parser, because its
//! answers to broken MIME are the ones clients have met for years:
//!
//! * A boundary line is `--` + a known boundary at a line start, anything
//!   may follow (RFC 2046 §5.1.1 allows trailing blanks; Dovecot allows
//!   more). The longest matching boundary of all enclosing multiparts
//!   wins, and the CRLF before it belongs to the boundary, not the part.
//! * A boundary of an enclosing multipart ends every part inside it,
//!   even in the middle of a header; a missing closing delimiter leaves
//!   the last part running to the end of the message.
//! * Content-* fields count only in MIME parts: below a multipart, or
//!   with Mime-Version or Content-Type in the header. Otherwise a part is
//!   text/plain (message/rfc822 below multipart/digest).
//! * message/rfc822 bodies are parsed as messages; message/global is not
//!   (Dovecot 2.3 treats it as an opaque leaf).
//! * Limits keep the work bounded: at most 100 nesting levels and 10,000
//!   parts; past them a multipart or message/rfc822 part becomes a leaf
//!   and further boundaries are ignored.
//!
//! The input is the message in CRLF form; the parser walks it once,
//! without recursion.

use super::data::PartData;
use super::header::{self, Next};
use super::lexer::{Lex, Lexer};
use super::params;

/// Nesting limit (Dovecot's `MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS`).
const MAX_NESTED: u32 = 100;
/// Part count limit (Dovecot's `MESSAGE_PARSER_DEFAULT_MAX_TOTAL_MIME_PARTS`).
const MAX_TOTAL: u32 = 10_000;
/// Longer boundaries are cut to this length.
const BOUNDARY_MAX_LEN: usize = 80;
/// How much of an unterminated last line a boundary search looks at.
const BOUNDARY_END_MAX_LEN: usize = BOUNDARY_MAX_LEN + 4;

pub(crate) const MULTIPART: u16 = 1;
pub(crate) const RFC822: u16 = 2;
pub(crate) const TEXT: u16 = 4;
pub(crate) const DIGEST: u16 = 8;
pub(crate) const IS_MIME: u16 = 16;
/// A limit was hit: the part was cut short of its structure.
pub(crate) const OVERFLOW: u16 = 32;

/// One part of the tree; offsets index the CRLF message.
#[derive(Debug, Default)]
pub(crate) struct Part {
    pub start: usize,
    pub header_end: usize,
    pub end: usize,
    pub flags: u16,
    pub data: PartData,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
}

impl Part {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// The header as Dovecot's stand-alone header readers see it (those
    /// behind BINARY and `HEADER.FIELDS` of a message/rfc822 part): from
    /// the part's start up to an empty line, even past a boundary that
    /// cut the header short. Dovecot reads on without limit; here the
    /// look-ahead stops 4 KiB past the part's own header, to keep the
    /// work for many such parts bounded.
    pub fn raw_header<'m>(&self, msg: &'m [u8]) -> &'m [u8] {
        const LOOKAHEAD: usize = 4 * 1024;
        let end = self.header_end.saturating_add(LOOKAHEAD).min(msg.len());
        msg.get(self.start..end).unwrap_or_default()
    }
}

struct Boundary {
    part: usize,
    text: Vec<u8>,
    epilogue: bool,
}

enum State {
    Header,
    ToBoundary,
    ToEof,
    SkipBoundaryLine,
    NewMimePart,
    NewMessage,
}

struct Parser<'a> {
    msg: &'a [u8],
    parts: Vec<Part>,
    cur: usize,
    pos: usize,
    boundaries: Vec<Boundary>,
    /// The last byte added to a body (a line start follows a `\n`).
    last_chr: u8,
    nested: u32,
    total: u32,
}

/// Parses a CRLF message into its parts; `parts[0]` is the message.
pub(crate) fn parse(msg: &[u8]) -> Vec<Part> {
    let mut p = Parser {
        msg,
        parts: vec![Part::default()],
        cur: 0,
        pos: 0,
        boundaries: Vec::new(),
        last_chr: b'\n',
        nested: 0,
        // The message itself counts as a part.
        total: 1,
    };
    p.run();
    p.parts
}

impl Parser<'_> {
    fn run(&mut self) {
        let mut state = State::Header;
        loop {
            state = match state {
                State::Header => self.header(),
                State::ToBoundary => match self.body_to_boundary() {
                    Some(s) => s,
                    None => break,
                },
                State::ToEof => {
                    self.add_block(self.msg.len());
                    break;
                }
                State::SkipBoundaryLine => match self.skip_boundary_line() {
                    Some(s) => s,
                    None => break,
                },
                State::NewMimePart => {
                    self.append_child();
                    self.parts[self.cur].flags |= IS_MIME;
                    State::Header
                }
                State::NewMessage => {
                    self.append_child();
                    State::Header
                }
            };
        }
        while self.parts[self.cur].parent.is_some() {
            self.finish_part();
        }
    }

    fn append_child(&mut self) {
        let idx = self.parts.len();
        // Dovecot places a part right after what its parent holds so far,
        // which is not where reading goes on when a header was cut short.
        let start = self.parts[self.cur].end;
        self.parts.push(Part {
            start,
            header_end: start,
            end: start,
            parent: Some(self.cur),
            ..Part::default()
        });
        self.parts[self.cur].children.push(idx);
        self.cur = idx;
        self.nested += 1;
        self.total += 1;
    }

    /// Closes the current part; the parent goes on after it.
    fn finish_part(&mut self) {
        let end = self.parts[self.cur].end;
        if let Some(parent) = self.parts[self.cur].parent {
            self.nested = self.nested.saturating_sub(1);
            let p = &mut self.parts[parent];
            p.end = p.end.max(end);
            self.cur = parent;
        }
    }

    /// Adds `[pos, to)` to the current part's body.
    fn add_block(&mut self, to: usize) {
        if to > self.pos {
            self.last_chr = self.msg[to - 1];
        }
        self.pos = to;
        self.parts[self.cur].end = to;
    }

    fn too_deep(&self) -> bool {
        self.nested + 1 >= MAX_NESTED
    }

    /// Is the line at `at` a boundary line? Returns its index in
    /// `boundaries` and records whether it is a closing one.
    fn boundary_line(&mut self, at: usize) -> Option<usize> {
        let data = self.msg.get(at..)?;
        if data.len() < 2 || &data[..2] != b"--" {
            return None;
        }
        if self.total >= MAX_TOTAL {
            // No room for more parts: stop looking for boundaries.
            self.parts[self.cur].flags |= OVERFLOW;
            return None;
        }
        let data = &data[2..];
        let (mut find, mut dashes) = (data.len().min(BOUNDARY_END_MAX_LEN), false);
        if let Some(lf) = data.iter().position(|&b| b == b'\n') {
            find = lf;
            if find > 0 && data[find - 1] == b'\r' {
                find -= 1;
            }
            dashes = find > 2 && &data[find - 2..find] == b"--";
        }
        let mut best: Option<usize> = None;
        for (i, b) in self.boundaries.iter().enumerate().rev() {
            let len = b.text.len();
            if len <= find
                && data.starts_with(&b.text)
                && best.is_none_or(|x| self.boundaries[x].text.len() < len)
            {
                best = Some(i);
                // "foo--" may be the end of "foo" or the boundary "foo--".
                if len == find || (dashes && Some(len) == find.checked_sub(2)) {
                    break;
                }
            }
        }
        let i = best?;
        let len = self.boundaries[i].text.len();
        self.boundaries[i].epilogue = data.get(len..len + 2) == Some(b"--");
        Some(i)
    }

    /// The header of the current part, then what its body is.
    fn header(&mut self) -> State {
        let cur = self.cur;
        // Header sizes count from where reading starts; the part itself
        // may start a little earlier (see `append_child`).
        let skew = self.pos.saturating_sub(self.parts[cur].start);
        let mut seen_type = false;
        let mut boundary: Option<Vec<u8>> = None;
        let mut multipart = false;
        let mut prev_newline = 0usize;
        let mut data = PartData::default();
        loop {
            let at_eoh = self.msg.get(self.pos) == Some(&b'\n')
                || self.msg.get(self.pos..self.pos + 2) == Some(b"\r\n");
            if at_eoh && self.parts[cur].has(IS_MIME) {
                if let Some(b) = boundary.take() {
                    if !self.too_deep() {
                        // Known before the body starts, so that a shared
                        // prefix with an outer boundary resolves to us.
                        self.boundaries.push(Boundary {
                            part: cur,
                            text: b,
                            epilogue: false,
                        });
                        multipart = true;
                    } else {
                        let p = &mut self.parts[cur];
                        p.flags = (p.flags | OVERFLOW) & !MULTIPART;
                    }
                }
            }
            if self.cut_by_boundary(prev_newline) {
                break;
            }
            match header::next(self.msg, self.pos) {
                Next::Eof => {
                    self.parts[cur].header_end = self.pos;
                    break;
                }
                Next::Eoh(end) => {
                    self.parts[cur].header_end = end;
                    let newline = end - self.pos;
                    self.pos = end;
                    // A boundary right after the empty line takes that
                    // line as its leading CRLF.
                    self.cut_by_boundary(newline);
                    break;
                }
                Next::Field(f) => {
                    if f.is("Mime-Version") {
                        self.parts[cur].flags |= IS_MIME;
                    } else if f.is("Content-Type") {
                        self.parts[cur].flags |= IS_MIME;
                        if !seen_type {
                            seen_type = true;
                            self.content_type(&f.value, &mut boundary);
                        }
                    }
                    data.add(&f);
                    prev_newline = if !f.newline {
                        0
                    } else if f.end >= 2 && self.msg[f.end - 2] == b'\r' {
                        2
                    } else {
                        1
                    };
                    self.pos = f.end;
                }
            }
        }
        let part = &mut self.parts[cur];
        part.header_end = part.header_end.saturating_sub(skew).max(part.start);
        part.end = part.header_end;
        if !part.has(IS_MIME) {
            // Not MIME: forget what Content-Type said.
            part.flags = 0;
            data = PartData::default();
        }
        if !seen_type || !part.has(IS_MIME) {
            let digest_parent = part.parent.is_some_and(|p| self.parts[p].has(DIGEST));
            let part = &mut self.parts[cur];
            part.flags |= if digest_parent { RFC822 } else { TEXT };
        }
        let part = &mut self.parts[cur];
        part.data = data;
        self.last_chr = b'\n';
        if multipart {
            State::ToBoundary
        } else if !part.has(RFC822) {
            self.body_state()
        } else if !self.too_deep() && self.total < MAX_TOTAL {
            State::NewMessage
        } else {
            let p = &mut self.parts[cur];
            p.flags = (p.flags | OVERFLOW) & !RFC822;
            self.body_state()
        }
    }

    /// Does an enclosing boundary start at the current position? Then the
    /// header ends before the newline that precedes it (`newline` bytes),
    /// and that newline goes to the parent's body, as in Dovecot.
    fn cut_by_boundary(&mut self, newline: usize) -> bool {
        if self.boundaries.is_empty() {
            return false;
        }
        let cur = self.cur;
        match self.boundary_line(self.pos) {
            Some(b) if self.boundaries[b].part != cur => {
                self.parts[cur].header_end = self.pos.saturating_sub(newline);
                if let Some(parent) = self.parts[cur].parent.filter(|_| newline > 0) {
                    let p = &mut self.parts[parent];
                    p.end = p.end.max(self.pos);
                }
                true
            }
            _ => false,
        }
    }

    fn body_state(&self) -> State {
        if self.boundaries.is_empty() {
            State::ToEof
        } else {
            State::ToBoundary
        }
    }

    /// Sets the part kind from the first Content-Type, and finds the
    /// boundary of a multipart.
    fn content_type(&mut self, value: &[u8], boundary: &mut Option<Vec<u8>>) {
        let mut lex = Lexer::new(value);
        lex.skip_lwsp();
        let mut t = Vec::new();
        let ret = lex.content_type(&mut t);
        let flags = &mut self.parts[self.cur].flags;
        if t.eq_ignore_ascii_case(b"message/rfc822") {
            *flags |= RFC822;
        } else if t.len() >= 4
            && t[..4].eq_ignore_ascii_case(b"text")
            && (t.len() == 4 || t[4] == b'/')
        {
            *flags |= TEXT;
        } else if t.len() >= 10 && t[..10].eq_ignore_ascii_case(b"multipart/") {
            *flags |= MULTIPART;
            if t[10..].eq_ignore_ascii_case(b"digest") {
                *flags |= DIGEST;
            }
        }
        if ret == Lex::Err || *flags & MULTIPART == 0 || boundary.is_some() {
            return;
        }
        if let Some((_, v)) = params::parse(&mut lex)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(b"boundary"))
        {
            let mut v = v;
            v.truncate(BOUNDARY_MAX_LEN);
            *boundary = Some(v);
        }
    }

    /// Body text up to the next boundary line (or the end).
    fn body_to_boundary(&mut self) -> Option<State> {
        if self.pos >= self.msg.len() {
            return None;
        }
        if self.last_chr == b'\n' {
            if let Some(b) = self.boundary_line(self.pos) {
                return Some(self.part_finish(b, self.pos, true));
            }
        }
        let mut search = self.pos;
        // Only a line starting with "--" can be a boundary line.
        while let Some(i) = memchr::memmem::find(&self.msg[search..], b"\n--") {
            let lf = search + i;
            let line = lf + 1;
            let mut start = lf;
            if lf > self.pos && self.msg[lf - 1] == b'\r' {
                start -= 1;
            }
            if let Some(b) = self.boundary_line(line) {
                self.add_block(start);
                return Some(self.part_finish(b, start, false));
            }
            search = line;
        }
        self.add_block(self.msg.len());
        None
    }

    /// A boundary line at `start` ([CR]LF included unless `first_line`)
    /// ends the parts inside its multipart.
    fn part_finish(&mut self, b: usize, start: usize, first_line: bool) -> State {
        let owner = self.boundaries[b].part;
        while self.cur != owner && self.parts[self.cur].parent.is_some() {
            self.finish_part();
        }
        let len = self.boundaries[b].text.len();
        let epilogue = self.boundaries[b].epilogue;
        // A closing delimiter retires its boundary; either way the
        // boundaries of the parts just closed are gone.
        self.boundaries.truncate(if epilogue { b } else { b + 1 });
        let newline = if first_line {
            0
        } else if self.msg.get(start) == Some(&b'\r') {
            2
        } else {
            1
        };
        let size = newline + 2 + len + if epilogue { 2 } else { 0 };
        self.pos = start;
        self.add_block((start + size).min(self.msg.len()));
        State::SkipBoundaryLine
    }

    /// The rest of a boundary line, then a new part or the epilogue.
    fn skip_boundary_line(&mut self) -> Option<State> {
        if self.pos >= self.msg.len() {
            return None;
        }
        match self.msg[self.pos..].iter().position(|&b| b == b'\n') {
            None => {
                self.add_block(self.msg.len());
                None
            }
            Some(i) => {
                self.add_block(self.pos + i + 1);
                let own = self.boundaries.last().is_some_and(|b| b.part == self.cur);
                Some(if own {
                    State::NewMimePart
                } else {
                    self.body_state()
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(msg: &[u8]) -> String {
        let parts = parse(msg);
        fn walk(parts: &[Part], i: usize, out: &mut String) {
            let p = &parts[i];
            out.push_str(&format!("[{} {} {}", p.start, p.header_end, p.end));
            for &c in &p.children {
                out.push(' ');
                walk(parts, c, out);
            }
            out.push(']');
        }
        let mut s = String::new();
        walk(&parts, 0, &mut s);
        s
    }

    #[test]
    fn multipart_offsets() {
        let m = b"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\none\r\n--b  \r\nX: y\r\n\r\ntwo\r\n--b--\r\nepi\r\n";
        // Part 1 has no header: its header is the empty line.
        assert_eq!(shape(m), "[0 45 94 [55 57 60] [69 77 80]]");
    }

    #[test]
    fn missing_close_and_cut_header() {
        let m = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b\r\n";
        let parts = parse(m);
        assert_eq!(parts[0].children.len(), 2);
        let p1 = &parts[parts[0].children[0]];
        assert_eq!(&m[p1.start..p1.header_end], b"Content-Type: text/plain");
        assert_eq!(p1.end, p1.header_end);
    }
}
