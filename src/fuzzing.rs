//! Entry points for the fuzz targets in `fuzz/` and for the test that
//! replays their corpus (`tests/fuzz_corpus.rs`): each takes arbitrary
//! bytes, runs one parser the network or the disk feeds, and checks the
//! properties that must hold for any input. A panic is a bug.
//!
//! Not part of the server; kept in the library so the fuzzers and the
//! tests run exactly the same code.

use crate::mime::Message;
use crate::proto::encode::ResponseBuf;
use crate::proto::parse::{parse_command, secret_offset};
use crate::proto::reader::{CommandReader, Limits, ReadError};
use crate::proto::types::{CommandBody, Section, SectionText};
use crate::proto::utf7;
use crate::search::{self, Facts, MessageData, Query, Scope, Stop};
use crate::store::maildir::Flags;
use crate::store::names::Namespace;
use std::io::{self, Read, Write};

/// The names of the targets, as directories under `fuzz/corpus/`.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("command_stream", command_stream),
    ("parse_command", command),
    ("sequence_set", sequence_set),
    ("search_program", search_program),
    ("mailbox_name", mailbox_name),
    ("passwd_file", passwd_file),
    ("uidlist", uidlist),
    ("modseq_journal", modseq_journal),
    ("mime", mime),
    ("lmtp_stream", lmtp_stream),
];

/// A client connection that sends `data` in small pieces and swallows
/// whatever the server writes back.
struct Script<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Read for Script<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Odd chunk sizes exercise the reader's resumption.
        let n = buf
            .len()
            .min(7 + self.pos % 13)
            .min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Script<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The command reader (lines, `{n}`, `{n+}`, `~{n}`, over-limit skips) and
/// the parser on every command it frames, with small limits.
pub fn command_stream(data: &[u8]) {
    let limits = Limits {
        max_line: 512,
        max_literal: 256,
        max_append_literal: 1024,
        max_discard: 4096,
        literal_minus: false,
    };
    let mut reader = CommandReader::new();
    let mut stream = Script { data, pos: 0 };
    // Each round consumes input or ends; the bound is only a safety net.
    for _ in 0..=data.len() + 1 {
        match reader.read_command(&mut stream, &limits) {
            Ok(framed) => {
                assert!(framed.bytes.len() <= limits.max_line + 8 * limits.max_append_literal);
                for &(off, len) in &framed.literals {
                    assert!(
                        off + len <= framed.bytes.len(),
                        "literal inside the command"
                    );
                }
                command(&framed.bytes);
            }
            Err(ReadError::Eof) | Err(ReadError::Io(_)) => return,
            Err(_) => {}
        }
    }
}

/// One command line (literals inline) through the parser.
pub fn command(data: &[u8]) {
    if let Ok(cmd) = parse_command(data) {
        // What the parser accepted has a name for log lines.
        assert!(!cmd.body.name().is_empty());
    }
    if let Some(at) = secret_offset(data) {
        assert!(at <= data.len(), "redaction starts inside the line");
    }
}

/// Sequence sets as FETCH and UID FETCH take them.
pub fn sequence_set(data: &[u8]) {
    for prefix in [&b"a FETCH "[..], b"a UID FETCH "] {
        let mut line = prefix.to_vec();
        line.extend_from_slice(data);
        line.extend_from_slice(b" FLAGS");
        if let Ok(cmd) = parse_command(&line) {
            if let CommandBody::Fetch { set, .. } = cmd.body {
                // Membership must be answerable for any number and `*`.
                for n in [0, 1, 2, 1000, u32::MAX] {
                    let _ = set.ranges(5).contains(n);
                }
            }
        }
    }
}

/// A SEARCH program: parsed, compiled and run on a small message.
pub fn search_program(data: &[u8]) {
    let mut line = b"a SEARCH ".to_vec();
    line.extend_from_slice(data);
    let Ok(cmd) = parse_command(&line) else {
        return;
    };
    let CommandBody::Search { charset, keys, .. } = cmd.body else {
        return;
    };
    let scope = Scope {
        exists: 3,
        last_uid: 30,
    };
    let Ok(query) = Query::compile(&keys, charset.as_deref(), scope, |_| Some(0)) else {
        return;
    };
    let facts = Facts {
        msn: 2,
        uid: 20,
        flags: Flags {
            system: 0b1010,
            keywords: 1,
        },
        recent: true,
        modseq: 7,
    };
    let mut msg = Sample::new(
        b"From: A <a@example.org>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\nHello caf\xc3\xa9 world\r\n",
    );
    let _ = query.eval(&facts, &mut msg);
}

/// An in-memory message for `search_program`.
struct Sample {
    bytes: Vec<u8>,
    fields: Option<Vec<search::Field>>,
    parts: Option<Vec<search::PartText>>,
}

impl Sample {
    fn new(bytes: &[u8]) -> Sample {
        Sample {
            bytes: bytes.to_vec(),
            fields: None,
            parts: None,
        }
    }
}

impl MessageData for Sample {
    fn received(&mut self) -> Result<Option<i64>, Stop> {
        Ok(Some(19_000 * 86_400))
    }
    fn size(&mut self) -> Result<Option<u64>, Stop> {
        Ok(Some(self.bytes.len() as u64))
    }
    fn header(&mut self) -> Result<Option<&[search::Field]>, Stop> {
        self.fields = Some(search::header_fields(&self.bytes, None));
        Ok(self.fields.as_deref())
    }
    fn parts(&mut self) -> Result<Option<&[search::PartText]>, Stop> {
        self.parts = Some(search::part_texts(&self.bytes));
        Ok(self.parts.as_deref())
    }
}

/// Modified UTF-7 both ways, and mailbox names as a namespace parses them.
pub fn mailbox_name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Anything encodes, and decodes back to itself; except NUL, which
    // decoding refuses as Dovecot does (it would cut C strings short).
    if text.contains('\0') {
        assert!(utf7::decode(&utf7::encode(text)).is_err());
        return;
    }
    assert_eq!(
        utf7::decode(&utf7::encode(text)).ok().as_deref(),
        Some(text)
    );
    if let Ok(decoded) = utf7::decode(text) {
        let ns = Namespace::default();
        if let Ok(name) = ns.parse(&decoded) {
            // A name that parses maps to a directory inside the root.
            if let Some(dir) = ns.dir_name(&name) {
                assert!(dir.starts_with('.') && !dir.contains('/'), "{dir:?}");
                assert!(!dir.contains(".."), "{dir:?}");
            }
            assert_eq!(ns.parse(&ns.to_wire(&name)).ok().as_ref(), Some(&name));
        }
    }
}

/// A passwd file as `passwd_file` reads it.
pub fn passwd_file(data: &[u8]) {
    let _ = crate::auth::passwd::parse_for_fuzzing(data);
}

/// `dovecot-uidlist`: what parses serializes to something that parses
/// back to the same records.
pub fn uidlist(data: &[u8]) {
    use crate::store::uidlist;
    if let Ok(Some(list)) = uidlist::parse(data) {
        let again = uidlist::serialize(&list);
        let back = uidlist::parse(&again)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("re-read of {:?}", String::from_utf8_lossy(&again)));
        assert_eq!(back.uidvalidity, list.uidvalidity);
        // Extension fields are written trimmed.
        let trimmed = |r: &[uidlist::UidRecord]| -> Vec<(u32, String, String)> {
            r.iter()
                .map(|x| (x.uid, x.ext.trim().to_string(), x.base.clone()))
                .collect()
        };
        assert_eq!(trimmed(&back.records), trimmed(&list.records));
    }
}

/// `roost-modseq`: any bytes load without a panic.
pub fn modseq_journal(data: &[u8]) {
    if let Some(j) = crate::store::modseq::parse(data, 1) {
        assert!(j.messages.values().all(|&(ms, _)| ms <= j.highest));
    }
}

/// MIME: ENVELOPE, BODYSTRUCTURE, sections and BINARY of arbitrary bytes.
pub fn mime(data: &[u8]) {
    let crlf = crate::mime::raw::to_crlf(data);
    let msg = Message::parse(&crlf);
    let mut out = ResponseBuf::new();
    msg.write_envelope(&mut out);
    msg.write_body_structure(&mut out, true);
    msg.write_body_structure(&mut out, false);
    assert!(balanced(out.as_bytes()), "unbalanced parentheses");
    for part in [vec![], vec![1], vec![1, 1], vec![2], vec![1, 2, 3]] {
        for text in [
            None,
            Some(SectionText::Header),
            Some(SectionText::Text),
            Some(SectionText::Mime),
            Some(SectionText::HeaderFields(vec![b"Subject".to_vec()])),
        ] {
            if part.is_empty() && matches!(text, Some(SectionText::Mime)) {
                continue;
            }
            let section = Section {
                part: part.clone(),
                text,
            };
            let bytes = msg.section(&section);
            // A header section may gain the CRLF ending its last field and
            // the blank line, as Dovecot sends them.
            assert!(
                bytes.len() <= crlf.len() + 4,
                "a section is part of the message"
            );
        }
        let _ = msg.binary(&part);
        let _ = msg.binary_size(&part);
    }
}

/// Parentheses outside quoted strings and literals balance.
fn balanced(bytes: &[u8]) -> bool {
    let mut depth = 0i64;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' => {
                let close = bytes[i..].iter().position(|&b| b == b'}');
                let n: Option<usize> = close
                    .and_then(|c| std::str::from_utf8(&bytes[i + 1..i + c]).ok())
                    .and_then(|s| s.parse().ok());
                if let (Some(c), Some(n)) = (close, n) {
                    i += c + 3 + n; // "}\r\n" then the data
                    continue;
                }
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    depth == 0
}

/// LMTP command lines and the DATA decoder (`crate::lmtp`).
pub fn lmtp_stream(data: &[u8]) {
    crate::lmtp::fuzz_session_input(data);
}
