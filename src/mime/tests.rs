//! Tables of messages and what Dovecot 2.3.19 answers for them (taken
//! from its real output). Where Dovecot sends a literal and `ResponseBuf`
//! a quoted string for the same bytes, the expectation is written in
//! `ResponseBuf`'s form; the comment says so.

use super::*;
use crate::mime::raw::to_crlf;
use crate::proto::types::{Section, SectionText};

fn wire(f: impl FnOnce(&mut ResponseBuf)) -> String {
    let mut out = ResponseBuf::new();
    f(&mut out);
    String::from_utf8_lossy(out.as_bytes()).into_owned()
}

fn structure(msg: &[u8], ext: bool) -> String {
    let crlf = to_crlf(msg);
    let m = Message::parse(&crlf);
    wire(|o| m.write_body_structure(o, ext))
}

fn envelope(msg: &[u8]) -> String {
    let crlf = to_crlf(msg);
    let m = Message::parse(&crlf);
    wire(|o| m.write_envelope(o))
}

fn section(msg: &[u8], part: &[u32], text: Option<SectionText>) -> Vec<u8> {
    let crlf = to_crlf(msg);
    let m = Message::parse(&crlf);
    m.section(&Section {
        part: part.to_vec(),
        text,
    })
    .into_owned()
}

const PLAIN: &[u8] = b"From: Ann <ann@example.org>\nTo: bob@example.org\nSubject: Hello\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <1@example.org>\n\nHello Bob.\n";
const GROUPS: &[u8] = b"From: \"Joe \\\"Q\\\" Public\" <joe@x>\nSender: <>\nReply-To: \nTo: undisclosed-recipients:;\nCc: Team: a@b, \"B\" <b@c>; , user, <@r1,@r2:u@h>\nBcc: =?iso-8859-1?q?J=F6rg?= <j@x>\nIn-Reply-To: <a@b>\n <c@d>\nSubject: =?utf-8?q?encoded?= stays\n\nx\n";
const MISSING: &[u8] = b"From: user\nTo: foo bar baz, a@b, , c@\nCc: @route:u@h\n\n";
const PARAMS: &[u8] = b"Content-Type: application/octet-stream; name*0=\"long\"; name*1=\"name.bin\"; q=\"a\\\"b\\\\c\"; title*=us-ascii'en'This%20is\nMIME-Version: 1.0\nContent-Disposition: attachment; filename*0*=utf-8''%E2%82; filename*1*=%AC.txt\n\nx\n";
const ALTERNATIVE: &[u8] = b"From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"=_alt\"\n\npreamble\n--=_alt\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9\n--=_alt\nContent-Type: text/html; charset=utf-8\n\n<p>x</p>\n--=_alt--\nepilogue\n";
const ATTACHMENT: &[u8] = b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/plain\n\nSee attached.\n--XYZ\nContent-Type: application/pdf; name=\"r.pdf\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"r.pdf\"\nContent-Description: The report\nContent-ID: <p1@x>\nContent-Language: en, de\nContent-Location: http://x/r.pdf\nContent-MD5: Q2hlY2s=\n\nJVBERi0=\n--XYZ--\n";
const NESTED: &[u8] = b"Subject: fwd\nContent-Type: multipart/mixed; boundary=o\n\n--o\n\nsee below\n--o\nContent-Type: message/rfc822\n\nFrom: \"Inner, Person\" <in@y>\nSubject: inner\nContent-Type: multipart/alternative; boundary=i\n\n--i\nContent-Type: text/plain\n\ninner plain\n--i\nContent-Type: text/html\n\n<b>hi</b>\n--i--\n\n--o--\n";
const NO_CLOSE: &[u8] = b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nfirst\n--b\nContent-Type: text/plain\n\nsecond, never closed\n";
const NO_SEPARATOR: &[u8] = b"From: a@b\nSubject: header only";
const NUL: &[u8] = b"From: a@b\nSubject: nul\x00inside\n\nbody\x00with\x00nul\n";
const DIGEST: &[u8] =
    b"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: entry\n\nentry body\n--d--\n";
const NO_BOUNDARY: &[u8] = b"Content-Type: multipart/mixed\n\nno boundary\n";

#[test]
fn bodystructures_like_dovecot() {
    let rows: &[(&[u8], &str)] = &[
        (PLAIN, r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1 NIL NIL NIL NIL)"#),
        (
            PARAMS,
            r#"("application" "octet-stream" ("q" "a\"b\\c" "name" "longname.bin" "title*1*" "us-ascii'en'This%20is") NIL NIL "7bit" 3 NIL ("attachment" ("filename*" "utf-8''%E2%82%AC.txt")) NIL NIL)"#,
        ),
        (
            ALTERNATIVE,
            r#"(("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 9 0 NIL NIL NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 8 0 NIL NIL NIL NIL) "alternative" ("boundary" "=_alt") NIL NIL NIL)"#,
        ),
        (
            ATTACHMENT,
            r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0 NIL NIL NIL NIL)("application" "pdf" ("name" "r.pdf") "<p1@x>" "The report" "base64" 8 "Q2hlY2s=" ("attachment" ("filename" "r.pdf")) ("en" "de") "http://x/r.pdf") "mixed" ("boundary" "XYZ") NIL NIL NIL)"#,
        ),
        (
            NESTED,
            r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 0 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 193 (NIL "inner" (("Inner, Person" NIL "in" "y")) (("Inner, Person" NIL "in" "y")) (("Inner, Person" NIL "in" "y")) NIL NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 9 0 NIL NIL NIL NIL) "alternative" ("boundary" "i") NIL NIL NIL) 13 NIL NIL NIL NIL) "mixed" ("boundary" "o") NIL NIL NIL)"#,
        ),
        (
            NO_CLOSE,
            r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 22 1 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL)"#,
        ),
        (NO_SEPARATOR, r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)"#),
        (NUL, r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 1 NIL NIL NIL NIL)"#),
        (b"", r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)"#),
        (
            DIGEST,
            r#"(("message" "rfc822" NIL NIL NIL "7bit" 28 (NIL "entry" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) "digest" ("boundary" "d") NIL NIL NIL)"#,
        ),
        (
            NO_BOUNDARY,
            r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" NIL NIL NIL NIL)"#,
        ),
        // No MIME-Version and no Content-Type: the Content-* are ignored.
        (
            b"Content-Transfer-Encoding: base64\nContent-Disposition: inline\n\neA==\n",
            r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL)"#,
        ),
        // Broken types keep what could be read; message/global is a leaf.
        (
            b"Content-Type: text\n\nbody\n",
            r#"("text" "" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL)"#,
        ),
        (
            b"Content-Type: ; charset=x\n\nbody\n",
            r#"("" "" NIL NIL NIL "7bit" 6 NIL NIL NIL NIL)"#,
        ),
        (
            b"Content-Type: message/global\n\nSubject: g\n\nbody\n",
            r#"("message" "global" NIL NIL NIL "7bit" 20 NIL NIL NIL NIL)"#,
        ),
        // Cases and duplicates: the first Content-Type and the first valid
        // Content-Transfer-Encoding count.
        (
            b"Content-Type: TEXT/HTML; CHARSET=UTF-8\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit junk\nContent-Transfer-Encoding: Quoted-Printable\n\nx\n",
            r#"("TEXT" "HTML" ("CHARSET" "UTF-8") NIL NIL "Quoted-Printable" 3 1 NIL NIL NIL NIL)"#,
        ),
    ];
    for (msg, want) in rows {
        assert_eq!(
            structure(msg, true),
            *want,
            "{}",
            String::from_utf8_lossy(msg)
        );
    }
}

#[test]
fn body_is_bodystructure_without_extensions() {
    assert_eq!(
        structure(NESTED, false),
        r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 0)("message" "rfc822" NIL NIL NIL "7bit" 193 (NIL "inner" (("Inner, Person" NIL "in" "y")) (("Inner, Person" NIL "in" "y")) (("Inner, Person" NIL "in" "y")) NIL NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 9 0) "alternative") 13) "mixed")"#
    );
    assert_eq!(
        structure(ATTACHMENT, false),
        r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0)("application" "pdf" ("name" "r.pdf") "<p1@x>" "The report" "base64" 8) "mixed")"#
    );
    assert_eq!(
        structure(NO_BOUNDARY, false),
        r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")"#
    );
}

#[test]
fn envelopes_like_dovecot() {
    let rows: &[(&[u8], &str)] = &[
        (
            PLAIN,
            r#"("Mon, 1 Jan 2024 10:00:00 +0000" "Hello" (("Ann" NIL "ann" "example.org")) (("Ann" NIL "ann" "example.org")) (("Ann" NIL "ann" "example.org")) ((NIL NIL "bob" "example.org")) NIL NIL NIL "<1@example.org>")"#,
        ),
        // Groups, routes, `<>`, an empty Reply-To (falls back to From),
        // encoded words left raw. Dovecot sends `Joe "Q" Public` as a
        // literal, ResponseBuf as a quoted string.
        (
            GROUPS,
            r#"(NIL "=?utf-8?q?encoded?= stays" (("Joe \"Q\" Public" NIL "joe" "x")) ((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")) (("Joe \"Q\" Public" NIL "joe" "x")) ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) ((NIL NIL "Team" NIL)(NIL NIL "a" "b")("B" NIL "b" "c")(NIL NIL NIL NIL)(NIL NIL "user" "MISSING_DOMAIN")(NIL "@r1,@r2" "u" "h")) (("=?iso-8859-1?q?J=F6rg?=" NIL "j" "x")) "<a@b> <c@d>" NIL)"#,
        ),
        (
            MISSING,
            r#"(NIL NIL ((NIL NIL "user" "MISSING_DOMAIN")) ((NIL NIL "user" "MISSING_DOMAIN")) ((NIL NIL "user" "MISSING_DOMAIN")) (("foo bar baz" NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL NIL "a" "b")(NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL NIL "c" "MISSING_DOMAIN")) ((NIL NIL "MISSING_MAILBOX" "route")) NIL NIL NIL)"#,
        ),
        (
            NO_SEPARATOR,
            r#"(NIL "header only" ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL)"#,
        ),
        (b"", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
        // The last Date/Subject/Message-ID count, addresses add up.
        (
            b"Subject: first\nSubject: second\nDate: d1\nDate: d2\nFrom: a@b\nFrom: c@d\nMessage-ID: <1>\nMessage-Id: <2>\n\n",
            r#"("d2" "second" ((NIL NIL "a" "b")(NIL NIL "c" "d")) ((NIL NIL "a" "b")(NIL NIL "c" "d")) ((NIL NIL "a" "b")(NIL NIL "c" "d")) NIL NIL NIL NIL "<2>")"#,
        ),
        // Blank values: Date keeps all but one blank, Subject none.
        (
            b"Subject:   \nDate:   \nFrom:\nMessage-ID: \n\tfolded\n\n",
            "(\"  \" \"\" NIL NIL NIL NIL NIL NIL NIL \"\tfolded\")",
        ),
    ];
    for (msg, want) in rows {
        assert_eq!(envelope(msg), *want, "{}", String::from_utf8_lossy(msg));
    }
    // 8-bit and NUL (as U+FFFD) make literals.
    assert_eq!(
        envelope(NUL),
        "(NIL {12}\r\nnul\u{fffd}inside ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)"
    );
}

#[test]
fn sections() {
    use SectionText::*;
    let fields = |n: &[&str]| n.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    assert_eq!(section(PLAIN, &[1], None), b"Hello Bob.\r\n");
    // Part 1 of a one-part message is its body, its MIME header the header.
    let crlf = to_crlf(PLAIN);
    assert_eq!(
        section(PLAIN, &[1], Some(Mime)),
        Message::parse(&crlf).header()
    );
    assert_eq!(section(PLAIN, &[2], None), b"");
    assert_eq!(
        section(ATTACHMENT, &[2], Some(Mime)),
        b"Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Description: The report\r\nContent-ID: <p1@x>\r\nContent-Language: en, de\r\nContent-Location: http://x/r.pdf\r\nContent-MD5: Q2hlY2s=\r\n\r\n"
    );
    assert_eq!(section(ATTACHMENT, &[2], None), b"JVBERi0=");
    assert_eq!(section(ATTACHMENT, &[2], Some(Header)), b"");
    // Inside message/rfc822: 2 is the message, 2.1 its first part.
    assert_eq!(section(NESTED, &[2, 1], None), b"inner plain");
    assert_eq!(
        section(NESTED, &[2], Some(Header)),
        b"From: \"Inner, Person\" <in@y>\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
    );
    assert_eq!(
        section(NESTED, &[2], Some(HeaderFields(fields(&["subject"])))),
        b"Subject: inner\r\n\r\n"
    );
    assert_eq!(
        section(NESTED, &[2, 2], Some(Mime)),
        b"Content-Type: text/html\r\n\r\n"
    );
    assert_eq!(section(NESTED, &[1], Some(Text)), b"");
    assert_eq!(
        section(PLAIN, &[], Some(HeaderFields(fields(&["to", "FROM"])))),
        b"From: Ann <ann@example.org>\r\nTo: bob@example.org\r\n\r\n"
    );
    assert_eq!(
        section(NO_SEPARATOR, &[], Some(HeaderFieldsNot(fields(&["from"])))),
        b"Subject: header only"
    );
    assert_eq!(
        section(NO_SEPARATOR, &[], Some(HeaderFields(fields(&["subject"])))),
        b"Subject: header only\r\n\r\n"
    );
    // NUL goes out as 0x80 in BODY[].
    assert_eq!(section(NUL, &[1], None), b"body\x80with\x80nul\r\n");
    assert_eq!(section(NO_CLOSE, &[2], None), b"second, never closed\r\n");
}

#[test]
fn binary_sections() {
    let crlf = to_crlf(ALTERNATIVE);
    let m = Message::parse(&crlf);
    let b = m.binary(&[1]).unwrap();
    assert_eq!(b.data, "café".as_bytes());
    assert!(b.literal8);
    assert_eq!(m.binary_size(&[1]).unwrap(), 5);
    let b = m.binary(&[2]).unwrap();
    assert_eq!(b.data, b"<p>x</p>");
    assert!(!b.literal8);
    assert_eq!(m.binary(&[9]).unwrap().data, b"");

    let crlf = to_crlf(ATTACHMENT);
    let m = Message::parse(&crlf);
    assert_eq!(m.binary(&[2]).unwrap().data, b"%PDF-");
    let whole = m.binary(&[]).unwrap();
    assert!(whole.literal8);
    let text = String::from_utf8_lossy(&whole.data);
    assert!(text.contains("Content-Transfer-Encoding: binary\r\n\r\n%PDF-\r\n--XYZ--"));
    assert!(!text.contains("base64"));

    let crlf = to_crlf(b"Content-Transfer-Encoding: x-uuencode\nMIME-Version: 1.0\n\nbegin\n");
    let m = Message::parse(&crlf);
    assert_eq!(m.binary(&[1]), Err(BinaryError::UnknownCte));
    let crlf = to_crlf(b"Content-Transfer-Encoding: base64\nMIME-Version: 1.0\n\nnot!base64\n");
    let m = Message::parse(&crlf);
    assert_eq!(m.binary(&[1]), Err(BinaryError::InvalidData));
    assert_eq!(m.binary_size(&[1]), Err(BinaryError::InvalidData));

    // NUL in an unencoded part: sent as is, in a literal8.
    let crlf = to_crlf(NUL);
    let m = Message::parse(&crlf);
    let b = m.binary(&[1]).unwrap();
    assert_eq!(b.data, b"body\0with\0nul\r\n");
    assert!(b.literal8);
}

#[test]
fn part_tree() {
    let crlf = to_crlf(ATTACHMENT);
    let m = Message::parse(&crlf);
    let root = m.root();
    assert!(root.is_multipart());
    assert_eq!(
        root.content_type(),
        Some((&b"multipart"[..], &b"mixed"[..]))
    );
    let kids: Vec<_> = root.children().collect();
    assert_eq!(kids.len(), 2);
    assert!(kids[0].is_text());
    assert_eq!(kids[0].body(), b"See attached.");
    let pdf = m.part(&[2]).unwrap();
    assert_eq!(pdf.transfer_encoding(), Some(&b"base64"[..]));
    assert_eq!(pdf.disposition().map(|d| d.0), Some(&b"attachment"[..]));
    assert_eq!(pdf.params()[0], (b"name".to_vec(), b"r.pdf".to_vec()));
    assert_eq!(pdf.language().map(<[_]>::len), Some(2));
    assert_eq!(&m.raw()[pdf.body_range()], b"JVBERi0=");
    assert!(pdf.header().starts_with(b"Content-Type: application/pdf"));
    assert!(m.part(&[3]).is_none());
    let crlf = to_crlf(NESTED);
    let m = Message::parse(&crlf);
    let fwd = m.part(&[2]).unwrap();
    assert!(fwd.is_message());
    assert_eq!(fwd.children().count(), 1);
}

#[test]
fn ten_thousand_parts_are_quick() {
    let mut msg = b"Content-Type: multipart/mixed; boundary=x\n\n".to_vec();
    for i in 0..10_005 {
        msg.extend_from_slice(format!("--x\nContent-Type: text/plain\n\np{i}\n").as_bytes());
    }
    msg.extend_from_slice(b"--x--\n");
    let start = std::time::Instant::now();
    let crlf = to_crlf(&msg);
    let m = Message::parse(&crlf);
    // Dovecot's limit: 10,000 parts with the message itself; the last one
    // runs to the end, boundaries and all.
    assert_eq!(m.part_count(), 10_000);
    let s = structure(&msg, true);
    assert!(s.ends_with(r#""7bit" 259 26 NIL NIL NIL NIL) "mixed" ("boundary" "x") NIL NIL NIL)"#));
    assert_eq!(section(&msg, &[9_999], None).len(), 259);
    assert!(m.binary(&[]).is_ok());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn deep_nesting_is_capped_without_recursion_trouble() {
    let mut multipart = Vec::new();
    for i in 0..500 {
        multipart.extend_from_slice(
            // No boundary is a prefix of another (b1 would match b10).
            format!("Content-Type: multipart/mixed; boundary=b{i}_\n\n--b{i}_\n").as_bytes(),
        );
    }
    multipart.extend_from_slice(b"Content-Type: text/plain\n\nleaf\n");
    let crlf = to_crlf(&multipart);
    let m = Message::parse(&crlf);
    // 100 levels; the 100th multipart becomes an opaque leaf.
    assert_eq!(m.part_count(), 100);
    let s = structure(&multipart, true);
    assert!(s.starts_with(&format!(
        "{}(\"application\" \"octet-stream\" (\"boundary\" \"b99_\")",
        "(".repeat(99)
    )));
    assert!(m.binary(&[]).is_ok());

    let mut rfc822 = Vec::new();
    for i in 0..500 {
        rfc822.extend_from_slice(
            format!("Subject: level {i}\nContent-Type: message/rfc822\n\n").as_bytes(),
        );
    }
    rfc822.extend_from_slice(b"Subject: leaf\n\nleaf\n");
    let crlf = to_crlf(&rfc822);
    let m = Message::parse(&crlf);
    assert_eq!(m.part_count(), 100);
    let s = structure(&rfc822, true);
    assert_eq!(s.matches("\"message\" \"rfc822\"").count(), 99);
    let deep: Vec<u32> = vec![1; 200];
    assert_eq!(section(&rfc822, &deep, None), b"");
    assert!(envelope(&rfc822).contains("\"level 0\""));
}

/// Arbitrary bytes never panic, whatever is asked of them.
#[test]
fn garbage_does_not_panic() {
    let pieces: &[&[u8]] = &[
        b"Content-Type: multipart/mixed; boundary=a\n",
        b"Content-Type: message/rfc822\n",
        b"Content-Type: multipart/digest; boundary=\"a\"\n",
        b"Content-Transfer-Encoding: base64\n",
        b"Content-Transfer-Encoding: quoted-printable\n",
        b"MIME-Version: 1.0\n",
        b"From: \"x\\\n",
        b"To: a:(b;\n",
        b"\n",
        b"--a\n",
        b"--a--\n",
        b"--",
        b" cont\n",
        b"=\n",
        b"QUJD=\n",
        b"\0",
        b"\r",
        b"(",
        b"\"",
        b"\\",
        b"\xff",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        let mut msg = Vec::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = (seed % 40) as usize;
        for _ in 0..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            msg.extend_from_slice(pieces[(seed % pieces.len() as u64) as usize]);
        }
        let crlf = to_crlf(&msg);
        let m = Message::parse(&crlf);
        let _ = structure(&msg, true);
        let _ = envelope(&msg);
        for path in [&[][..], &[1], &[1, 1], &[2, 1, 1], &[3]] {
            let _ = m.binary(path);
            let _ = m.binary_size(path);
            for text in [
                None,
                Some(SectionText::Header),
                Some(SectionText::Text),
                Some(SectionText::HeaderFields(vec![b"From".to_vec()])),
                Some(SectionText::HeaderFieldsNot(vec![b"From".to_vec()])),
            ] {
                let _ = m.section(&Section {
                    part: path.to_vec(),
                    text,
                });
            }
            if !path.is_empty() {
                let _ = m.section(&Section {
                    part: path.to_vec(),
                    text: Some(SectionText::Mime),
                });
            }
        }
    }
}

/// Why mailparse does not split parts here: boundaries longer than 80
/// characters are cut to 80 by Dovecot (and so by FETCH and SEARCH), so
/// nested boundaries of 80, 81 and 82 characters are one boundary;
/// mailparse keeps them apart and builds another tree.
#[test]
fn mailparse_splits_otherwise() {
    let (x80, x81, x82) = ("x".repeat(80), "x".repeat(81), "x".repeat(82));
    let msg = format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{x80}\"\r\n\r\n\
         --{x80}\r\nContent-Type: multipart/mixed; boundary=\"{x81}\"\r\n\r\n\
         --{x81}\r\nContent-Type: multipart/mixed; boundary=\"{x82}\"\r\n\r\n\
         --{x82}\r\nContent-Type: text/plain\r\n\r\ninnerword\r\n--{x82}--\r\n\
         after82word\r\n--{x81}--\r\nafter81word\r\n--{x80}--\r\n"
    );
    fn ours(p: PartRef<'_>) -> usize {
        match p.children().map(ours).sum() {
            0 => 1,
            n => n,
        }
    }
    fn theirs(p: &mailparse::ParsedMail<'_>) -> usize {
        match p.subparts.iter().map(theirs).sum() {
            0 => 1,
            n => n,
        }
    }
    // Dovecot: three leaves (see differential.rs, search_boundary_prefixes).
    assert_eq!(ours(Message::parse(msg.as_bytes()).root()), 3);
    let parsed = mailparse::parse_mail(msg.as_bytes()).expect("mailparse parses it");
    assert_ne!(theirs(&parsed), 3, "mailparse now splits as Dovecot does");
}
