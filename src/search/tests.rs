use super::text::address_text;
use super::*;
use crate::proto::parse::parse_command;
use crate::proto::types::CommandBody;
use crate::proto::types::SearchKey;
use crate::store::maildir::{flag, Flags};

fn keys_of(query: &str) -> (Option<String>, Vec<SearchKey>) {
    match parse_command(format!("a SEARCH {query}").as_bytes()) {
        Ok(c) => match c.body {
            CommandBody::Search { charset, keys, .. } => (charset, keys),
            other => panic!("{other:?}"),
        },
        Err(e) => panic!("{query}: {e}"),
    }
}

const SCOPE: Scope = Scope {
    exists: 3,
    last_uid: 30,
};

fn compile(query: &str) -> Query {
    let (charset, keys) = keys_of(query);
    Query::compile(&keys, charset.as_deref(), SCOPE, |n| {
        (n.eq_ignore_ascii_case("$Junk")).then_some(2)
    })
    .unwrap_or_else(|e| panic!("{query}: {e:?}"))
}

/// A message held in memory, counting what was asked of it.
struct Mem {
    bytes: Vec<u8>,
    day: i64,
    fields: Option<Vec<Field>>,
    parts: Option<Vec<PartText>>,
    reads: usize,
}

impl Mem {
    fn new(msg: &str) -> Mem {
        Mem::bytes(msg.as_bytes())
    }
    fn bytes(msg: &[u8]) -> Mem {
        Mem {
            bytes: msg.to_vec(),
            day: 0,
            fields: None,
            parts: None,
            reads: 0,
        }
    }
}

impl MessageData for Mem {
    fn received(&mut self) -> Result<Option<i64>, Stop> {
        self.reads += 1;
        Ok(Some(self.day * 86_400))
    }
    fn size(&mut self) -> Result<Option<u64>, Stop> {
        self.reads += 1;
        Ok(Some(crate::store::maildir::crlf_size(&self.bytes)))
    }
    fn header(&mut self) -> Result<Option<&[Field]>, Stop> {
        self.reads += 1;
        self.fields = Some(header_fields(&self.bytes, None));
        Ok(self.fields.as_deref())
    }
    fn parts(&mut self) -> Result<Option<&[PartText]>, Stop> {
        self.reads += 1;
        self.parts = Some(part_texts(&crate::mime::raw::to_crlf(&self.bytes)));
        Ok(self.parts.as_deref())
    }
}

fn facts(msn: u32, system: u8) -> Facts {
    Facts {
        modseq: u64::from(msn),
        msn,
        uid: msn * 10,
        flags: Flags {
            system,
            keywords: 0,
        },
        recent: false,
    }
}

fn matches(query: &str, msg: &str) -> bool {
    let q = compile(query);
    q.eval(&facts(1, 0), &mut Mem::new(msg)).unwrap() == Some(true)
}

fn matches_bytes(query: &str, msg: &[u8]) -> bool {
    let q = compile(query);
    q.eval(&facts(1, 0), &mut Mem::bytes(msg)).unwrap() == Some(true)
}

/// An address field's value as FROM matches it (before decoding).
fn normalized(value: &[u8]) -> Vec<u8> {
    let field = [&b"From: "[..], value, b"\r\n"].concat();
    header_fields(&field, None)
        .first()
        .map(address_text)
        .unwrap_or_default()
}

#[test]
fn charsets() {
    let k = [SearchKey::All];
    for ok in [None, Some("UTF-8"), Some("utf-8"), Some("US-ASCII")] {
        assert!(Query::compile(&k, ok, SCOPE, |_| None).is_ok(), "{ok:?}");
    }
    for ok in ["KOI8-R", "ISO-8859-1", "latin1", "Shift_JIS", "gb18030"] {
        assert!(
            Query::compile(&k, Some(ok), SCOPE, |_| None).is_ok(),
            "{ok}"
        );
    }
    for bad in ["X-NOPE", "UTF-7x", ""] {
        assert_eq!(
            Query::compile(&k, Some(bad), SCOPE, |_| None).unwrap_err(),
            CompileError::BadCharset
        );
    }
    let latin1 = [SearchKey::Text(b"caf\xe9".to_vec())];
    assert_eq!(
        Query::compile(&latin1, None, SCOPE, |_| None).unwrap_err(),
        CompileError::NotUtf8
    );
}

#[test]
fn flags_numbers_and_logic() {
    let seen = flag::SEEN;
    let cases: &[(&str, u32, u8, bool)] = &[
        ("SEEN", 1, seen, true),
        ("UNSEEN", 1, seen, false),
        ("NOT SEEN", 1, 0, true),
        ("OR SEEN FLAGGED", 1, flag::FLAGGED, true),
        ("OR SEEN FLAGGED", 1, flag::DRAFT, false),
        ("(SEEN DELETED)", 1, seen | flag::DELETED, true),
        ("(SEEN DELETED)", 1, seen, false),
        ("ANSWERED DRAFT", 1, flag::ANSWERED | flag::DRAFT, true),
        ("UNANSWERED UNDRAFT UNDELETED UNFLAGGED", 1, seen, true),
        ("KEYWORD $junk", 1, 0, false),
        ("UNKEYWORD $Junk", 1, 0, true),
        ("KEYWORD $Unknown", 1, 0, false),
        ("UNKEYWORD $Unknown", 1, 0, true),
        ("ALL", 2, 0, true),
        ("NOT ALL", 2, 0, false),
        ("2", 2, 0, true),
        ("1,3", 2, 0, false),
        ("*", 3, 0, true),
        ("*:2", 3, 0, true),
        ("4:*", 3, 0, false),
        ("100", 3, 0, false),
        ("2:100", 3, 0, true),
        ("UID 30", 3, 0, true),
        ("UID 31:*", 3, 0, true),
        ("UID 1:20", 3, 0, false),
        ("NEW", 1, 0, false),
        ("OLD", 1, 0, true),
    ];
    for &(query, msn, flags, want) in cases {
        let q = compile(query);
        let got = q.eval(&facts(msn, flags), &mut IndexOnly { vsize: None });
        assert_eq!(got.unwrap(), Some(want), "{query} on {msn}");
        assert!(!q.reads_messages(), "{query}");
    }
    let mut m = facts(1, 0);
    m.recent = true;
    assert_eq!(
        compile("NEW")
            .eval(&m, &mut IndexOnly { vsize: None })
            .unwrap(),
        Some(true)
    );
    m.flags.set_keyword(2, true);
    assert_eq!(
        compile("KEYWORD $Junk RECENT")
            .eval(&m, &mut IndexOnly { vsize: None })
            .unwrap(),
        Some(true)
    );
}

#[test]
fn unknown_data_is_three_valued() {
    let mut none = IndexOnly { vsize: None };
    let m = facts(1, flag::SEEN);
    let cases: &[(&str, Option<bool>)] = &[
        ("TEXT x", None),
        ("NOT TEXT x", None),
        ("SEEN TEXT x", None),
        ("UNSEEN TEXT x", Some(false)),
        ("OR SEEN TEXT x", Some(true)),
        ("OR UNSEEN TEXT x", None),
        ("NOT (UNSEEN TEXT x)", Some(true)),
        ("LARGER 10", None),
        ("BODY \"\"", Some(true)),
        ("TEXT \"\"", Some(true)),
    ];
    for &(query, want) in cases {
        assert_eq!(compile(query).eval(&m, &mut none).unwrap(), want, "{query}");
    }
    assert_eq!(
        compile("LARGER 10")
            .eval(&m, &mut IndexOnly { vsize: Some(11) })
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        compile("SMALLER 11")
            .eval(&m, &mut IndexOnly { vsize: Some(11) })
            .unwrap(),
        Some(false)
    );
}

#[test]
fn cheap_keys_first() {
    let msg = "From: x@y\r\n\r\nbody\r\n";
    // Unseen first: a seen message is never read.
    let q = compile("FROM x BODY body UNSEEN");
    let mut mem = Mem::new(msg);
    assert_eq!(
        q.eval(&facts(1, flag::SEEN), &mut mem).unwrap(),
        Some(false)
    );
    assert_eq!(mem.reads, 0);
    // The header decides before the body is parsed.
    let q = compile("BODY body FROM nobody");
    let mut mem = Mem::new(msg);
    assert_eq!(q.eval(&facts(1, 0), &mut mem).unwrap(), Some(false));
    assert_eq!(mem.reads, 1);
}

#[test]
fn dates() {
    let msg = "Date: Mon, 5 Feb 1994 23:30:00 -0800\r\n\r\n";
    for (q, want) in [
        ("SENTON 5-Feb-1994", true),
        ("SENTON 6-Feb-1994", false),
        ("SENTBEFORE 6-Feb-1994", true),
        ("SENTBEFORE 5-Feb-1994", false),
        ("SENTSINCE 5-Feb-1994", true),
        ("SENTSINCE 6-Feb-1994", false),
    ] {
        assert_eq!(matches(q, msg), want, "{q}");
    }
    // No Date: 1-Jan-1970, as Dovecot has it.
    assert!(matches("SENTON 1-Jan-1970", "Subject: x\r\n\r\n"));
    assert!(matches("SENTBEFORE 1-Jan-2000", "Date: garbage\r\n\r\n"));
    let q = compile("ON 2-Feb-1994");
    let mut mem = Mem::new("x");
    mem.day = crate::datetime::days_from_civil(1994, 2, 2);
    assert_eq!(q.eval(&facts(1, 0), &mut mem).unwrap(), Some(true));
    for (q, want) in [
        ("SINCE 2-Feb-1994", true),
        ("SINCE 3-Feb-1994", false),
        ("BEFORE 2-Feb-1994", false),
        ("BEFORE 3-Feb-1994", true),
    ] {
        assert_eq!(
            compile(q).eval(&facts(1, 0), &mut mem).unwrap(),
            Some(want),
            "{q}"
        );
    }
}

#[test]
fn encoded_words_and_case_folding() {
    let msg = "From: =?iso-8859-1?q?J=F6rg?= Smith <j@x.de>\r\n\
               Subject: =?utf-8?b?w4TDpMOf?= =?UTF-8?Q?_und_caf=C3=A9?=\r\n\
               X-Folded: one\r\n\ttwo\r\n\r\nbody\r\n";
    assert!(matches("FROM \"jörg\"", msg));
    assert!(matches("FROM \"JÖRG\"", msg));
    assert!(matches("FROM \"smith <j@x.de>\"", msg));
    assert!(matches("SUBJECT \"ääß und café\"", msg));
    assert!(!matches("SUBJECT \"ÄÄSS\"", msg));
    assert!(matches("SUBJECT \"CAFÉ\"", msg));
    assert!(
        matches("SUBJECT cafe", msg),
        "Dovecot: decomposed é starts with e"
    );
    assert!(matches("HEADER X-Folded \"one two\"", msg));
    assert!(matches("HEADER x-folded \"\"", msg));
    assert!(!matches("HEADER X-Missing \"\"", msg));
    assert!(matches("TEXT \"Subject: ää\"", msg));
    assert!(!matches("BODY Subject", msg));
    assert!(matches("BODY BODY", msg));
}

#[test]
fn folding() {
    assert_eq!(fold::fold("Straße Ǆ ǆ ﬁ Ｂ"), "STRAßE ǅ ǅ ﬁ B");
    assert_eq!(fold::fold("é"), "E\u{301}");
    assert_eq!(fold::fold("e\u{301}"), fold::fold("É"));
    assert_eq!(fold::fold("ıi"), "II");
    assert_eq!(fold::fold("x\u{a0}²"), "X 2");
    assert_eq!(fold::fold("Ωmega σς"), "ΩMEGA ΣΣ");
}

#[test]
fn bodies_are_decoded() {
    let qp = "Content-Type: text/plain; charset=iso-8859-1\r\n\
              Content-Transfer-Encoding: quoted-printable\r\n\r\n\
              St=E9phane says =\r\nhello=3D\r\n";
    assert!(matches("BODY \"stéphane\"", qp));
    assert!(matches("BODY \"says hello=\"", qp));
    let b64 = "Content-Type: text/plain; charset=utf-8\r\n\
               Content-Transfer-Encoding: base64\r\n\r\n\
               w4RwZmVs\r\nIGFuZCBQZmxhdW1l\r\n";
    assert!(matches("BODY \"äpfel and pflaume\"", b64));
    assert!(!matches("BODY w4RwZmVs", b64));
    let latin1 = b"Content-Type: text/plain; charset=ISO-8859-1\r\n\r\nGr\xfc\xdfe\r\n";
    assert!(matches_bytes("BODY \"grüße\"", latin1));
    assert!(matches_bytes("BODY \"GRÜßE\"", latin1));
    // No charset: UTF-8, as Dovecot reads it.
    assert!(matches_bytes(
        "BODY \"bödy\"",
        b"Subject: x\r\n\r\nb\xc3\xb6dy\r\n"
    ));
}

#[test]
fn multipart_structure() {
    let msg = "From: a@b\r\nSubject: multi\r\n\
        Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
        preamble-word\r\n--XX\r\nContent-Type: text/plain\r\nX-Part: partheader\r\n\r\n\
        plain-word\r\n--XX\r\nContent-Type: application/octet-stream\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nc2VjcmV0LXdvcmQ=\r\n\
        --XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>html-word</b>\r\n\
        --XX\r\nContent-Type: message/rfc822\r\n\r\n\
        From: inner@x\r\nSubject: inner-subject\r\n\r\ninner-body\r\n\
        --XX--\r\nepilogue-word\r\n";
    let cases = [
        ("TEXT preamble-word", false),
        ("TEXT epilogue-word", false),
        ("BODY plain-word", true),
        ("TEXT partheader", true),
        ("BODY partheader", false),
        ("TEXT secret-word", false),
        ("BODY <b>html-word", true),
        ("TEXT inner-subject", true),
        ("BODY inner-subject", false),
        ("SUBJECT inner-subject", false),
        ("BODY inner-body", true),
        ("TEXT multipart/mixed", true),
        ("BODY --XX", false),
        ("BODY \"plain-word html\"", false),
    ];
    for (q, want) in cases {
        assert_eq!(matches(q, msg), want, "{q}");
    }
    let digest = "Content-Type: multipart/digest; boundary=D\r\n\r\n--D\r\n\r\n\
                  Subject: digested\r\n\r\ndigest-body\r\n--D--\r\n";
    assert!(matches("TEXT \"subject: digested\"", digest));
    assert!(matches("BODY digest-body", digest));
}

#[test]
fn hostile_mime_is_bounded() {
    // 500 nested multiparts: past 100 levels the parser stops nesting
    // (Dovecot's limit), so the walk stays bounded.
    let mut msg = String::new();
    for i in 0..500 {
        msg.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
        ));
    }
    msg.push_str("\r\ndeep-word\r\n");
    let parts = part_texts(msg.as_bytes());
    assert!(parts.len() < 500, "{}", parts.len());
    // Odd bytes anywhere never panic.
    for junk in [
        &b"=?"[..],
        b"=?x?",
        b"=?x?q?",
        b"=?x?b?=?=",
        b"\xff\xfe:\r\n\t",
        b":",
    ] {
        let _ = part_texts(junk);
        let _ = normalized(junk);
    }
}

#[test]
fn random_input_never_panics() {
    // A fixed LCG over bytes that matter to the parsers.
    const ALPHABET: &[u8] = b"=?qQbB_:;,<>@()\"\\[]. \t\r\n-aZ09\xc3\xa9\xff/*%";
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as usize
    };
    for _ in 0..3000 {
        let len = next() % 60;
        let input: Vec<u8> = (0..len)
            .map(|_| ALPHABET[next() % ALPHABET.len()])
            .collect();
        let _ = normalized(&input);
        let mut msg = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".to_vec();
        msg.extend_from_slice(&input);
        let _ = part_texts(&msg);
        let cmd = [&b"a SEARCH "[..], &input].concat();
        let _ = parse_command(&cmd);
    }
}

#[test]
fn addresses_as_dovecot_writes_them() {
    let n = |s: &str| String::from_utf8_lossy(&normalized(s.as_bytes())).into_owned();
    let rows = [
        ("Ann Smith <ann@x.org>", "\"Ann Smith\" <ann@x.org>"),
        ("ann@x.org (Ann Comment)", "\"Ann Comment\" <ann@x.org>"),
        ("\"Smith, John\" <j@x>", "\"Smith, John\" <j@x>"),
        ("\"Ann\" <plain@x>", "Ann <plain@x>"),
        (
            "=?utf-8?q?J=C3=B6rg_M?= <jm@x>",
            "=?utf-8?q?J=C3=B6rg_M?= <jm@x>",
        ),
        ("Undisclosed:;", "Undisclosed:;"),
        ("a@b,c@d", "<a@b>, <c@d>"),
        ("   spaced    <a@b>", "spaced <a@b>"),
        ("Pat O'Brien <o@x>", "\"Pat O\\'Brien\" <o@x>"),
        ("bob", "<bob@MISSING_DOMAIN>"),
        (
            "Bob Smith",
            "\"Bob Smith\" <MISSING_MAILBOX@MISSING_DOMAIN>",
        ),
        ("J. Smith <js@x>", "\"J. Smith\" <js@x>"),
        (
            "John \"the man\" Smith <jm@x>",
            "\"John the man Smith\" <jm@x>",
        ),
        (
            "\"quoted.local\"@x, <@r1,@r2:rt@x>",
            "<quoted.local@x>, <@r1,@r2:rt@x>",
        ),
        ("Team: a@b, C <c@d>;, z@y", "Team: <a@b>, C <c@d>;, <z@y>"),
        ("a@b (first) (second)", "second <a@b>"),
        ("\"back\\\\slash\" <bs@x>", "\"back\\\\slash\" <bs@x>"),
        ("<a@[127.0.0.1]>", "<a@[127.0.0.1]>"),
        ("", ""),
    ];
    for (raw, want) in rows {
        assert_eq!(n(raw), want, "{raw}");
    }
    let msg = "From: Ann Smith <ann@x.org>\r\nCc: a@b, c@d\r\n\r\n";
    assert!(matches("FROM \"\\\"Ann Smith\\\" <ann\"", msg));
    assert!(!matches("FROM \"Ann Smith <ann\"", msg));
    assert!(matches("FROM smith", msg));
    assert!(matches("CC \"<a@b>, <c@d>\"", msg));
    assert!(matches("HEADER From \"Ann Smith <ann\"", msg));
}

#[test]
fn message_file_reads_lazily() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    let mut msg = b"Subject: hello\nFrom: a@b\n\n".to_vec();
    msg.extend(std::iter::repeat_n(b'x', 100_000));
    msg.extend_from_slice(b"\nneedle\n");
    std::fs::write(&path, &msg).unwrap();
    let mut f = MessageFile::new(path.clone(), None);
    assert_eq!(
        compile("SUBJECT hello").eval(&facts(1, 0), &mut f).unwrap(),
        Some(true)
    );
    assert!(
        f.bytes.len() < 20_000,
        "read {} bytes for a header",
        f.bytes.len()
    );
    assert_eq!(
        compile("BODY needle").eval(&facts(1, 0), &mut f).unwrap(),
        Some(true)
    );
    assert!(f.complete);
    assert_eq!(f.bytes, msg);
    assert_eq!(
        compile("LARGER 100000").eval(&facts(1, 0), &mut f).unwrap(),
        Some(true)
    );
    assert_eq!(
        f.learned_vsize(),
        Some(crate::store::maildir::crlf_size(&msg))
    );
    let mut known = MessageFile::new(path.clone(), Some(5));
    assert_eq!(
        compile("SMALLER 6").eval(&facts(1, 0), &mut known).unwrap(),
        Some(true)
    );
    assert!(known.bytes.is_empty() && known.learned_vsize().is_none());
    let mut gone = MessageFile::new(dir.path().join("nope"), None);
    assert!(matches!(
        compile("TEXT x").eval(&facts(1, 0), &mut gone),
        Err(Stop::Gone)
    ));
    assert!(matches!(
        compile("SINCE 1-Jan-2000").eval(&facts(1, 0), &mut gone),
        Err(Stop::Gone)
    ));
    // A header with no blank line and no final newline is all header.
    std::fs::write(&path, b"Subject: only").unwrap();
    let mut f = MessageFile::new(path, None);
    assert_eq!(
        compile("SUBJECT only").eval(&facts(1, 0), &mut f).unwrap(),
        Some(true)
    );
}
