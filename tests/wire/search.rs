//! SEARCH and UID SEARCH (RFC 3501 §6.4.4) over the wire: the RFC's own
//! examples, every key family, errors, messages expunged by another
//! session, which files a search may open, and a differential run against
//! Dovecot on one shared Maildir.

use crate::common::dovecot::{dovecot, hand_over, mail_uid};
use crate::common::{Client, TestServer};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// APPENDs a message with flags and an internal date; returns its UID.
fn append(c: &mut Client, flags: &str, date: &str, msg: &str) -> u32 {
    c.append("INBOX", &format!("({flags}) \"{date}\""), msg)
}

/// The numbers of the one `* SEARCH` line of a successful reply.
fn numbers(r: &crate::common::Reply) -> Vec<u32> {
    let lines = r.find("* SEARCH");
    assert_eq!(lines.len(), 1, "{r:?}");
    lines[0]
        .strip_prefix("* SEARCH")
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn search(c: &mut Client, args: &str) -> Vec<u32> {
    numbers(&c.ok(&format!("SEARCH {args}")))
}

fn uid_search(c: &mut Client, args: &str) -> Vec<u32> {
    numbers(&c.ok(&format!("UID SEARCH {args}")))
}

fn msg(from: &str, subject: &str, body: &str) -> String {
    format!("From: {from}\r\nTo: team@example.org\r\nSubject: {subject}\r\n\r\n{body}\r\n")
}

#[test]
fn rfc3501_examples() {
    let server = TestServer::start();
    let mut c = server.login();
    let d = "05-Feb-1994 12:00:00 +0000";
    append(
        &mut c,
        "\\Flagged",
        d,
        &msg("Smith <smith@example.org>", "a", "x"),
    );
    append(
        &mut c,
        "\\Flagged",
        d,
        &msg("Jones <jones@example.org>", "b", "x"),
    );
    append(&mut c, "", d, &msg("Jones <jones@example.org>", "c", "x"));
    append(
        &mut c,
        "\\Flagged",
        "20-Jan-1994 12:00:00 +0000",
        &msg("Jones <jones@example.org>", "d", "x"),
    );
    append(
        &mut c,
        "",
        d,
        "From: a@b\r\nSubject: =?utf-8?b?w4TDlsOc?=\r\n\r\nx\r\n",
    );
    c.ok("SELECT INBOX");
    // RFC 3501 §6.4.4's examples.
    assert_eq!(
        search(&mut c, "FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
        vec![2]
    );
    let r = c.ok("SEARCH TEXT \"string not in mailbox\"");
    assert_eq!(r.untagged, vec!["* SEARCH"]);
    // CHARSET with a synchronizing literal: six bytes of UTF-8.
    let tag = c.tag();
    c.send(format!("{tag} SEARCH CHARSET UTF-8 TEXT {{6}}\r\n").as_bytes());
    assert!(c.line().starts_with("+ "));
    c.send("äöü\r\n".as_bytes());
    let r = c.read_reply(&tag);
    assert!(r.tagged.starts_with("OK"), "{r:?}");
    assert_eq!(numbers(&r), vec![5]);
    assert_eq!(search(&mut c, "CHARSET US-ASCII SUBJECT d"), vec![4]);
}

#[test]
fn uid_search_returns_uids_and_sequence_sets_are_sequence_numbers() {
    let server = TestServer::start();
    let mut c = server.login();
    let d = "01-Mar-2024 12:00:00 +0000";
    for i in 1..=6 {
        append(&mut c, "", d, &msg("a@b", &format!("m{i}"), "x"));
    }
    c.ok("SELECT INBOX");
    c.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    c.ok("STORE 2 +FLAGS.SILENT (\\Flagged)");
    // Now sequence numbers 1..4 are UIDs 3..6.
    assert_eq!(search(&mut c, "ALL"), vec![1, 2, 3, 4]);
    assert_eq!(uid_search(&mut c, "ALL"), vec![3, 4, 5, 6]);
    assert_eq!(search(&mut c, "FLAGGED"), vec![2]);
    assert_eq!(uid_search(&mut c, "FLAGGED"), vec![4]);
    // A bare set is sequence numbers, in UID SEARCH too (the classic bug is
    // to read it as UIDs); UID <set> is UIDs in both.
    assert_eq!(search(&mut c, "2:3"), vec![2, 3]);
    assert_eq!(uid_search(&mut c, "2:3"), vec![4, 5]);
    assert_eq!(search(&mut c, "UID 2:3"), vec![1]);
    assert_eq!(uid_search(&mut c, "UID 5:*"), vec![5, 6]);
    assert_eq!(uid_search(&mut c, "UID 100:*"), vec![6]);
    assert_eq!(search(&mut c, "*"), vec![4]);
    // Numbers past the end match nothing and are no error (as in Dovecot),
    // nor is a range from past the end to "*".
    assert_eq!(search(&mut c, "100"), Vec::<u32>::new());
    assert_eq!(search(&mut c, "3:100"), vec![3, 4]);
    assert_eq!(search(&mut c, "5:*"), Vec::<u32>::new());
    assert_eq!(search(&mut c, "NOT 5:*"), vec![1, 2, 3, 4]);
    let r = c.ok("SEARCH SUBJECT nothing-like-this");
    assert_eq!(r.untagged, vec!["* SEARCH"]);
    assert_eq!(r.tagged, "OK Search completed.");
}

#[test]
fn flag_keyword_and_recent_keys() {
    let server = TestServer::start();
    let mut c = server.login();
    let d = "01-Mar-2024 12:00:00 +0000";
    append(&mut c, "\\Seen \\Answered", d, &msg("a@b", "1", "x"));
    append(&mut c, "\\Flagged $Work", d, &msg("a@b", "2", "x"));
    append(&mut c, "\\Deleted \\Draft", d, &msg("a@b", "3", "x"));
    append(&mut c, "\\Seen $work $Junk", d, &msg("a@b", "4", "x"));
    c.ok("SELECT INBOX");
    let rows: &[(&str, &[u32])] = &[
        ("ALL", &[1, 2, 3, 4]),
        ("SEEN", &[1, 4]),
        ("UNSEEN", &[2, 3]),
        ("ANSWERED", &[1]),
        ("UNANSWERED", &[2, 3, 4]),
        ("FLAGGED", &[2]),
        ("UNFLAGGED", &[1, 3, 4]),
        ("DELETED", &[3]),
        ("UNDELETED", &[1, 2, 4]),
        ("DRAFT", &[3]),
        ("UNDRAFT", &[1, 2, 4]),
        ("KEYWORD $Work", &[2, 4]),
        ("KEYWORD $WORK", &[2, 4]),
        ("UNKEYWORD $Work", &[1, 3]),
        ("KEYWORD $Junk", &[4]),
        ("KEYWORD $NotDefined", &[]),
        ("UNKEYWORD $NotDefined", &[1, 2, 3, 4]),
        ("KEYWORD \\Seen", &[]),
        ("OR SEEN FLAGGED", &[1, 2, 4]),
        ("OR (SEEN ANSWERED) DRAFT", &[1, 3]),
        ("NOT (SEEN OR FLAGGED ANSWERED)", &[2, 3, 4]),
        ("NOT NOT SEEN", &[1, 4]),
        ("SEEN UNKEYWORD $Junk", &[1]),
        ("RECENT", &[1, 2, 3, 4]),
        ("NEW", &[2, 3]),
        ("OLD", &[]),
        ("((((((((((SEEN))))))))))", &[1, 4]),
    ];
    for (q, want) in rows {
        assert_eq!(search(&mut c, q), *want, "SEARCH {q}");
    }
    // \Recent belongs to the first session only.
    let mut other = server.login();
    other.ok("SELECT INBOX");
    assert_eq!(search(&mut other, "RECENT"), Vec::<u32>::new());
    assert_eq!(search(&mut other, "OLD"), vec![1, 2, 3, 4]);
}

#[test]
fn size_and_date_keys() {
    let server = TestServer::start();
    let mut c = server.login();
    let small = "Subject: s\r\n\r\nx\r\n";
    let big = format!("Subject: b\r\n\r\n{}\r\n", "y".repeat(500));
    append(
        &mut c,
        "",
        "01-Feb-1994 00:00:00 +0000",
        &format!("Date: Tue, 1 Feb 1994 23:30:00 -0800\r\n{small}"),
    );
    append(
        &mut c,
        "",
        "02-Feb-1994 23:59:59 +0000",
        &format!("Date: 2 Feb 1994 01:00:00 +1400\r\n{big}"),
    );
    append(&mut c, "", "03-Feb-1994 12:00:00 +0000", small);
    c.ok("SELECT INBOX");
    let len1 = (small.len() + "Date: Tue, 1 Feb 1994 23:30:00 -0800\r\n".len()) as u64;
    let rows: Vec<(String, Vec<u32>)> = vec![
        (format!("LARGER {}", len1 - 1), vec![1, 2]),
        (format!("LARGER {len1}"), vec![2]),
        (format!("SMALLER {len1}"), vec![3]),
        (format!("SMALLER {}", len1 + 1), vec![1, 3]),
        ("LARGER 5000000000".into(), vec![]),
        // Internal dates by day; the time of day does not matter.
        ("ON 2-Feb-1994".into(), vec![2]),
        ("SINCE 2-Feb-1994".into(), vec![2, 3]),
        ("BEFORE 2-Feb-1994".into(), vec![1]),
        ("BEFORE 1-Feb-1994".into(), vec![]),
        ("SINCE \"3-Feb-1994\"".into(), vec![3]),
        // The Date header's own day, whatever its zone (RFC 3501 §6.4.4).
        ("SENTON 1-Feb-1994".into(), vec![1]),
        ("SENTON 2-Feb-1994".into(), vec![2]),
        ("SENTBEFORE 2-Feb-1994".into(), vec![1, 3]),
        ("SENTSINCE 2-Feb-1994".into(), vec![2]),
        // No Date header reads as 1-Jan-1970, as in Dovecot.
        ("SENTON 1-Jan-1970".into(), vec![3]),
        ("SINCE 1-Feb-1994 NOT SENTSINCE 1-Jan-1971".into(), vec![3]),
    ];
    for (q, want) in rows {
        assert_eq!(search(&mut c, &q), want, "SEARCH {q}");
    }
}

#[test]
fn header_and_text_keys_match_decoded_text() {
    let server = TestServer::start();
    let mut c = server.login();
    let d = "01-Mar-2024 12:00:00 +0000";
    append(
        &mut c,
        "",
        d,
        "From: =?iso-8859-1?q?J=F6rg_M=FCller?= <joerg@example.de>\r\n\
         To: Ann Smith <ann@example.org>, bob@example.com\r\n\
         Cc: carol@example.com\r\nBcc: dave@example.com\r\n\
         Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus\r\n  Köln\r\n\
         X-Empty:\r\n\
         Content-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n\
         Viele Gr=FC=DFe und sch=F6ne =\r\nTage\r\n",
    );
    append(
        &mut c,
        "",
        d,
        "From: ann@example.org\r\nSubject: plain\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nw5xiZXJyYXNjaHVuZw==\r\n\
         --b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         c2VjcmV0LWluLXBkZg==\r\n--b1--\r\n",
    );
    c.ok("SELECT INBOX");
    let rows: &[(&str, &[u32])] = &[
        ("FROM \"jörg müller\"", &[1]),
        ("FROM \"JÖRG\"", &[1]),
        ("FROM joerg@example.de", &[1]),
        ("FROM ann", &[2]),
        ("TO \"ann smith\"", &[1]),
        ("TO bob@", &[1]),
        ("CC carol", &[1]),
        ("BCC DAVE", &[1]),
        ("SUBJECT \"grüße aus köln\"", &[1]),
        ("SUBJECT \"GRÜSSE\"", &[]),
        ("SUBJECT plain", &[2]),
        ("HEADER X-Empty \"\"", &[1]),
        ("HEADER x-empty \"\"", &[1]),
        ("HEADER Subject \"\"", &[1, 2]),
        ("HEADER X-Missing \"\"", &[]),
        ("HEADER Content-Type multipart", &[2]),
        ("BODY \"schöne tage\"", &[1]),
        ("BODY \"sch=F6ne\"", &[]),
        ("BODY \"überraschung\"", &[2]),
        ("BODY preamble", &[]),
        ("BODY secret-in-pdf", &[]),
        ("TEXT \"schöne\"", &[1]),
        ("TEXT \"Subject: Grüße\"", &[1]),
        ("BODY \"Subject\"", &[]),
        ("TEXT ÜBERRASCHUNG", &[]),
        ("TEXT \"ÜBERRASCHUNG\"", &[2]),
        ("TEXT {9+}\r\nschöne t", &[1]),
        ("OR FROM ann BODY tage", &[1, 2]),
    ];
    for (q, want) in rows {
        let r = c.cmd(&format!("SEARCH {q}"));
        if want.is_empty() && !r.tagged.starts_with("OK") {
            // An 8-bit atom is a syntax error, which is also "no match".
            assert!(r.tagged.starts_with("BAD"), "SEARCH {q}: {r:?}");
            continue;
        }
        assert_eq!(numbers(&r), *want, "SEARCH {q}");
    }
}

#[test]
fn badcharset_and_syntax_errors() {
    let server = TestServer::start();
    let mut c = server.login();
    let r = c.cmd("SEARCH ALL");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    append(
        &mut c,
        "",
        "01-Mar-2024 12:00:00 +0000",
        &msg("a@b", "x", "y"),
    );
    c.ok("SELECT INBOX");
    // RFC 3501 §6.4.4: an unknown charset is a NO with the ones we know.
    let r = c.cmd("SEARCH CHARSET X-KOI8-Q TEXT x");
    assert!(
        r.tagged.starts_with("NO [BADCHARSET (US-ASCII UTF-8 ")
            && r.tagged.ends_with(")] Unknown charset."),
        "{r:?}"
    );
    assert!(
        r.untagged.iter().all(|l| !l.starts_with("* SEARCH")),
        "{r:?}"
    );
    let r = c.cmd("UID SEARCH CHARSET \"ISO-8859-99\" ALL");
    assert!(r.tagged.starts_with("NO [BADCHARSET"), "{r:?}");
    assert_eq!(search(&mut c, "charset utf-8 ALL"), vec![1]);
    // A search string that is not UTF-8.
    let tag = c.tag();
    c.send(format!("{tag} SEARCH TEXT \"caf\u{0}\"\r\n").as_bytes());
    assert!(c.read_reply(&tag).tagged.starts_with("BAD"));
    let tag = c.tag();
    c.send(&[tag.as_bytes(), b" SEARCH TEXT {4}\r\ncaf\xe9\r\n"].concat());
    let r = c.read_reply(&tag);
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    for (q, why) in [
        ("SEARCH", "expected SP"),
        ("SEARCH FROB", "expected search key at byte"),
        ("SEARCH ()", "expected search key"),
        ("SEARCH (ALL", "expected SP or )"),
        ("SEARCH OR ALL", "expected SP"),
        ("SEARCH SINCE 31-Feb-2024", "expected date"),
        ("SEARCH LARGER -1", "expected size"),
        ("SEARCH 0", "expected sequence number"),
        ("SEARCH ALL ", "expected search key"),
    ] {
        let r = c.cmd(q);
        assert!(
            r.tagged.starts_with("BAD") && r.tagged.contains(why),
            "{q}: {r:?}"
        );
    }
    // Nesting: sane depths work, absurd ones are refused, nothing crashes.
    let nested = |n: usize| format!("SEARCH {}ALL{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(numbers(&c.ok(&nested(30))), vec![1]);
    let r = c.cmd(&nested(100));
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    let r = c.cmd(&format!("SEARCH {}ALL", "NOT ".repeat(5000)));
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
    assert_eq!(search(&mut c, "NOT NOT ALL"), vec![1]);
}

#[test]
fn messages_expunged_by_another_session_keep_their_numbers() {
    let server = TestServer::start();
    let mut a = server.login();
    let d = "01-Mar-2024 12:00:00 +0000";
    for i in 1..=3 {
        append(&mut a, "", d, &msg("a@b", &format!("m{i}"), "hello"));
    }
    a.ok("SELECT INBOX");
    a.ok("STORE 2 +FLAGS.SILENT (\\Flagged)");
    let mut b = server.login();
    b.ok("SELECT INBOX");
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    // SEARCH may not announce the expunge (RFC 3501 §7.4.1); message 2
    // still has its number and the flags last known.
    let r = a.ok("SEARCH ALL");
    assert_eq!(numbers(&r), vec![1, 2, 3]);
    assert!(r.untagged.iter().all(|l| !l.contains("EXPUNGE")), "{r:?}");
    assert_eq!(search(&mut a, "FLAGGED"), vec![2]);
    assert_eq!(search(&mut a, "2"), vec![2]);
    // Its contents are gone: it matches nothing that needs them, NOT
    // included, and the OK says why (as Dovecot does).
    for (q, want) in [
        ("BODY hello", vec![1, 3]),
        ("NOT BODY hello", vec![]),
        ("SUBJECT m", vec![1, 3]),
        ("LARGER 1", vec![1, 3]),
        ("SINCE 1-Jan-2000", vec![1, 3]),
    ] {
        let r = a.ok(&format!("SEARCH {q}"));
        assert_eq!(numbers(&r), want, "{q}");
        assert_eq!(r.tagged, "OK [EXPUNGEISSUED] Search completed.", "{q}");
    }
    // Decided by flags alone: no need to mention it.
    let r = a.ok("SEARCH UNFLAGGED BODY hello");
    assert_eq!(r.tagged, "OK Search completed.");
    // UID SEARCH may announce it, after its results.
    let r = a.ok("UID SEARCH ALL");
    assert_eq!(
        r.untagged,
        vec!["* SEARCH 1 2 3".to_string(), "* 2 EXPUNGE".to_string()]
    );
    assert_eq!(search(&mut a, "ALL"), vec![1, 2]);
}

#[test]
fn cheap_keys_do_not_open_message_files() {
    let server = TestServer::start();
    let md = server.root().join("home/alice/Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    // Message 1 is a FIFO: opening it would block the server for good, so
    // these searches pass only if its file is never opened.
    let fifo = md.join("cur/1700000000.M1P1.host,S=100,W=102:2,S");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success();
    assert!(ok);
    // Noon, 1-Feb-1994.
    set_mtime(&fifo, 760_104_000);
    let plain = md.join("cur/1700000001.M2P1.host:2,");
    std::fs::write(&plain, "From: x@example.org\nSubject: hi\n\nbody\n").unwrap();
    set_mtime(&plain, 1_700_000_000);
    let mut c = server.login();
    c.ok("SELECT INBOX");
    let rows: &[(&str, &[u32])] = &[
        ("UNSEEN FROM x", &[2]),
        ("NOT SEEN BODY body", &[2]),
        ("OR SEEN TEXT nothing", &[1]),
        ("LARGER 101", &[1]),
        ("SMALLER 103 SEEN", &[1]),
        ("BEFORE 1-Jan-2000", &[1]),
        ("ON 1-Feb-1994", &[1]),
        ("SINCE 1-Jan-2000 SUBJECT hi", &[2]),
        ("UID 1 OR SEEN ALL", &[1]),
    ];
    for (q, want) in rows {
        assert_eq!(search(&mut c, q), *want, "SEARCH {q}");
    }
    // The unread one's size was learned from its file.
    assert_eq!(search(&mut c, "UNSEEN LARGER 40 SMALLER 44"), vec![2]);
}

fn set_mtime(path: &Path, unix: u64) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::metadata(path).unwrap().file_type().is_fifo() {
        // Opening a FIFO would wait for a reader; `touch` only stats it.
        let stamp = format!("@{unix}");
        let ok = std::process::Command::new("touch")
            .args(["-m", "-d", &stamp])
            .arg(path)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        return;
    }
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(unix))
        .unwrap();
}

/// One message of the shared corpus: flags (Maildir letters), internal
/// date, bytes, and whether the file name carries its sizes.
struct Corpus {
    flags: &'static str,
    mtime: u64,
    body: Vec<u8>,
    sizes: bool,
}

fn corpus() -> Vec<Corpus> {
    let noon = |y: i64, m: u32, d: u32| {
        (roost::datetime::days_from_civil(y, m, d) * 86_400 + 43_200) as u64
    };
    let m = |flags, mtime, text: &str, sizes| Corpus {
        flags,
        mtime,
        body: text.as_bytes().to_vec(),
        sizes,
    };
    let mut v = vec![
        m("S", noon(1994, 2, 5),
          "From: Ann Smith <ann@example.org>\r\nTo: bob@example.com\r\nSubject: Quarterly report\r\n\
           Date: Mon, 5 Feb 1994 23:30:00 -0800\r\n\r\nThe quarterly numbers are in.\r\n", true),
        m("RS", noon(1994, 2, 6),
          "From: \"Smith, John\" <john@example.net>\r\nTo: ann@example.org\r\nCc: carol@example.com\r\n\
           Subject: Re: Quarterly report\r\nDate: Tue, 06 Feb 1994 08:00:00 +0100\r\n\r\nThanks.\r\n", true),
        m("", noon(1999, 1, 1),
          "From: spam@example.biz\r\nSubject: buy now\r\n\r\nquarterly offer\r\n", true),
        m("F", noon(2001, 9, 9),
          "From: =?iso-8859-1?q?J=F6rg_M=FCller?= <joerg@example.de>\r\n\
           Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\nDate: 9 Sep 2001 03:46:40 +0200\r\n\
           Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
           Viele Gr=FC=DFe,\r\nJ=F6rg\r\n", false),
        m("Sa", noon(2010, 5, 1),
          "From: carol@example.com\r\nSubject: menu\r\nMIME-Version: 1.0\r\n\
           Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble-word\r\n\
           --XX\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n\
           --XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
           YXR0YWNobWVudC1zZWNyZXQ=\r\n\
           --XX\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
           PHA+Q2Fmw6kgbWVudTwvcD4=\r\n--XX--\r\nepilogue-word\r\n", true),
        m("Sb", noon(2011, 3, 3),
          "From: dave@example.com\r\nSubject: Fwd: inner\r\nContent-Type: message/rfc822\r\n\r\n\
           From: inner@example.com\r\nSubject: inner-subject\r\n\r\ninner body text\r\n", true),
        m("", noon(2012, 12, 12),
          "From: eve@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nDate: 5 Feb 94 10:00 GMT\r\n\
           Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nna\u{ef}ve caf\u{e9}\r\n", false),
        m("D", noon(2013, 1, 1), "From: bob\r\n\r\nno subject, no date\r\n", true),
        m("T", noon(2020, 1, 15),
          "From: frank@example.com\r\nBcc: dave@example.com\r\nX-Priority: 1\r\nX-Mailer: Test\r\n\
           Subject: urgent\r\nDate: Wed, 15 Jan 2020 09:00:00 +0000\r\n\r\nurgent stuff\r\n", true),
    ];
    let mut big = String::from("From: gina@example.com\r\nSubject: long one\r\n\r\n");
    for i in 0..120 {
        big.push_str(&format!("line {i} of filler text for the size keys\r\n"));
    }
    big.push_str("needle at the end\r\n");
    v.push(m("", noon(2021, 2, 2), &big, false));
    v.extend([
        m("S", noon(2022, 3, 3),
          "From: hank@example.com\r\nSubject: b64\r\nContent-Type: text/plain; charset=utf-8\r\n\
           Content-Transfer-Encoding: base64\r\n\r\nw5xuw69jw7Zkw6kgYsO2ZHk=\r\n", true),
        m("", noon(2022, 4, 4),
          "From: ivy@example.com\nSubject: a very long\n subject line\nX-Folded: one\n\ttwo\n\nlf only body\nline two\n", false),
        m("", noon(2022, 5, 5),
          "From: jack@example.com\r\nSubject: nested\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n\
           --outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\
           Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak =3D ok\r\n\
           --inner--\r\n--outer--\r\n", true),
        m("a", noon(2022, 6, 6),
          "From: Team: alice@example.org, bob@example.org;\r\nTo: \"Ann Smith\" <ann@example.org>, carol@example.com\r\n\
           Subject: group\r\nDate: Sun, 31 Dec 2023 23:59:59 -1200\r\n\r\nhi team\r\n", true),
        m("", noon(2023, 7, 7),
          "From: kim@example.com\r\nSubject: Re: Re: meeting\r\nDate: yesterday\r\nContent-Type: text/html\r\n\r\n\
           <b>Bold</b> move\r\n", true),
        m("S", noon(2023, 8, 8),
          "From: lee@example.com\r\nSubject: empty\r\n\r\n", true),
    ]);
    let mut koi = b"From: ivan@example.ru\r\nSubject: koi\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n".to_vec();
    koi.extend_from_slice(b"\xd0\xd2\xc9\xd7\xc5\xd4 \xcd\xc9\xd2\r\n");
    v.push(Corpus {
        flags: "",
        mtime: noon(2024, 1, 1),
        body: koi,
        sizes: true,
    });
    v.extend([
        m("F", noon(2024, 2, 2),
          "From: =?utf-8?q?Smith=2C_Jo?= <jo@example.com>\r\nSubject: =?utf-8?b?w6Q=?= =?utf-8?b?w7Y=?= end\r\n\r\nx\r\n", true),
        m("RF", noon(2024, 3, 3),
          "From: max@example.com (Max Comment)\r\nTo: undisclosed-recipients:;\r\nSubject: comment\r\n\r\ny\r\n", true),
        m("", noon(2024, 4, 4),
          "From: nina@example.com\r\nSubject: fullwidth\r\n\r\n\u{ff21}\u{ff22}\u{ff23} x\u{b2} \u{c5}ngstr\u{f6}m\r\n", false),
    ]);
    v
}

fn write_corpus(md: &Path) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    std::fs::write(md.join("dovecot-keywords"), "0 $Label1\n1 Work\n").unwrap();
    for (i, m) in corpus().iter().enumerate() {
        let base = format!("{}.M{i}P1.corpus", 1_600_000_000 + i);
        let vsize = roost::store::maildir::crlf_size(&m.body);
        let name = if m.sizes {
            format!("{base},S={},W={vsize}:2,{}", m.body.len(), m.flags)
        } else {
            format!("{base}:2,{}", m.flags)
        };
        let path = md.join("cur").join(name);
        std::fs::write(&path, &m.body).unwrap();
        set_mtime(&path, m.mtime);
    }
}

/// Queries for the differential run; `UID ` ones are UID SEARCH.
const QUERIES: &[&str] = &[
    "ALL",
    "SEEN",
    "UNSEEN",
    "FLAGGED UNDELETED",
    "OR ANSWERED DRAFT",
    "DELETED",
    // Not "NOT (SEEN FLAGGED)": Dovecot 2.3.19 skips seen messages before
    // the first unseen one for it (its unseen low-water mark applied to a
    // NOT over a list), where RFC 3501 has them match.
    "NOT (FLAGGED ANSWERED)",
    "KEYWORD $Label1",
    "UNKEYWORD Work",
    "KEYWORD $NoSuchKeyword",
    "FROM smith",
    "FROM \"ann@example.org\"",
    "FROM \"\\\"Smith, John\\\" <john\"",
    "FROM \"jörg müller\"",
    "FROM \"max comment\"",
    "FROM \"team: <alice\"",
    "FROM \"<bob@MISSING_DOMAIN>\"",
    "TO \"ann smith\"",
    "TO undisclosed",
    "CC carol",
    "BCC dave",
    "SUBJECT quarterly",
    "SUBJECT \"grüße aus köln\"",
    "SUBJECT \"long subject\"",
    "SUBJECT \"äö end\"",
    "SUBJECT cafe",
    "HEADER X-Priority 1",
    "HEADER X-Folded \"one two\"",
    "HEADER Date \"\"",
    "HEADER subject \"\"",
    "BODY quarterly",
    "TEXT quarterly",
    "BODY \"grüße\"",
    "BODY attachment-secret",
    "BODY preamble-word",
    "BODY \"café menu\"",
    "TEXT inner-subject",
    "BODY inner-subject",
    "BODY \"inner body\"",
    "BODY \"softbreak = ok\"",
    "BODY \"ünïcödé bödy\"",
    "BODY \"ПРИВЕТ МИР\"",
    "BODY \"abc x2 Å\"",
    "BODY \"naïve\"",
    "BODY \"line two\"",
    "TEXT \"subject: re: re\"",
    "TEXT \"<b>bold\"",
    "BODY \"\"",
    "SINCE 1-Jan-2020",
    "ON 5-Feb-1994",
    "BEFORE 6-Feb-1994",
    "SENTBEFORE 1-Jan-1995",
    "SENTON 5-Feb-1994",
    "SENTSINCE 31-Dec-2023",
    "SENTON 1-Jan-1970",
    "LARGER 2000",
    "SMALLER 100",
    "2:5",
    "4:*",
    "*",
    "1,3,100",
    "UID 4:*",
    "OR (FROM smith) (SUBJECT meeting)",
    "NOT TEXT needle",
    "UNSEEN BODY needle",
    "CHARSET UTF-8 BODY \"CAFÉ\"",
    "UID FLAGGED",
    "UID 2:4",
    "UID UID 5:7",
];

#[test]
fn same_results_as_dovecot_on_a_shared_maildir() {
    let server = TestServer::builder().run_as(mail_uid()).start();
    let home = server.root().join("home/alice");
    let md: PathBuf = home.join("Maildir");
    write_corpus(&md);
    hand_over(&home);
    // Dovecot numbers the messages (dovecot-uidlist) and expunges one, so
    // sequence numbers and UIDs differ from here on.
    dovecot(
        &home,
        &[
            "SELECT INBOX".into(),
            "UID STORE 3 +FLAGS.SILENT (\\Deleted)".into(),
            "UID EXPUNGE 3".into(),
        ],
    );
    let mut theirs = Vec::new();
    for q in QUERIES {
        let cmd = match q.strip_prefix("UID ") {
            Some(rest) => format!("UID SEARCH {rest}"),
            None => format!("SEARCH {q}"),
        };
        let out = dovecot(&home, &["EXAMINE INBOX".into(), cmd.clone()]);
        let ok = out.iter().any(|l| l.starts_with("d2 OK"));
        assert!(ok, "Dovecot failed {cmd}: {out:?}");
        let line = out
            .iter()
            .find(|l| l.starts_with("* SEARCH"))
            .unwrap_or_else(|| panic!("{cmd}: {out:?}"))
            .trim_end()
            .to_string();
        theirs.push((cmd, line));
    }
    let mut c = server.login();
    c.ok("EXAMINE INBOX");
    let mut differ = Vec::new();
    for (cmd, dv) in &theirs {
        let r = c.ok(cmd);
        let ours = r.find("* SEARCH");
        assert_eq!(ours.len(), 1, "{cmd}: {r:?}");
        if ours[0].trim_end() != dv {
            differ.push(format!("{cmd}\n  roost:   {}\n  dovecot: {dv}", ours[0]));
        }
    }
    assert!(differ.is_empty(), "results differ:\n{}", differ.join("\n"));
    // The corpus really exercises the keys: all messages but the expunged
    // one are there, and nearly every query finds something.
    let all = &theirs[0].1;
    assert_eq!(
        all.split_whitespace().count(),
        2 + corpus().len() - 1,
        "{all}"
    );
    let empty = theirs.iter().filter(|(_, l)| l == "* SEARCH").count();
    assert!(empty <= 5, "{theirs:?}");
}

/// SEARCH reads messages as FETCH does (one MIME model): the cases where
/// a second walker once disagreed with FETCH and with Dovecot.
#[test]
fn search_sees_the_parts_fetch_shows() {
    let server = TestServer::start();
    let mut c = server.login();
    let d = "01-Mar-2024 12:00:00 +0000";
    let trailing = "From: a@b\r\nSubject: trailing\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1 trailing\r\n\
        Content-Type: text/plain\r\n\r\nalpha\r\n--b1 more\r\nContent-Type: text/plain\r\n\r\n\
        beta\r\n--b1--\r\n";
    append(&mut c, "", d, trailing);
    let (x80, x81, x82) = ("x".repeat(80), "x".repeat(81), "x".repeat(82));
    let prefixes = format!(
        "From: a@b\r\nSubject: prefixes\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{x80}\"\r\n\r\n--{x80}\r\n\
         Content-Type: multipart/mixed; boundary=\"{x81}\"\r\n\r\n--{x81}\r\n\
         Content-Type: multipart/mixed; boundary=\"{x82}\"\r\n\r\n--{x82}\r\n\
         Content-Type: text/plain\r\n\r\ninnerword\r\n--{x82}--\r\nafter82word\r\n\
         --{x81}--\r\nafter81word\r\n--{x80}--\r\nepilogueword\r\n"
    );
    append(&mut c, "", d, &prefixes);
    append(
        &mut c,
        "",
        d,
        "From  : John Doe <jdoe@machine(comment).  example>\r\nSubject: a\r\n\r\nhi\r\n",
    );
    append(
        &mut c,
        "",
        d,
        "From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n\
         --c\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 7-bit\r\n\r\nsevenbitword\r\n\
         --c\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: plain\r\n\r\nplainword\r\n\
         --c\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bits\r\n\r\neightbitsword\r\n\
         --c\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\ngoodword\r\n--c--\r\n",
    );
    c.ok("SELECT INBOX");
    // Trailing text on boundary lines: FETCH shows part 1 as "alpha".
    let r = c.ok("FETCH 1 (BODY.PEEK[1])");
    assert!(r.untagged[0].contains("alpha"), "{r:?}");
    assert_eq!(search(&mut c, "BODY alpha"), vec![1]);
    assert_eq!(search(&mut c, "TEXT beta"), vec![1]);
    // Boundaries cut to 80 characters: the text BODYSTRUCTURE puts in a
    // part is found, what it puts in no part is not (RFC 2046 §5.1.2).
    assert_eq!(search(&mut c, "BODY innerword"), vec![2]);
    assert_eq!(search(&mut c, "TEXT after81word"), vec![2]);
    assert_eq!(search(&mut c, "BODY after82word"), Vec::<u32>::new());
    assert_eq!(search(&mut c, "BODY epilogueword"), Vec::<u32>::new());
    // FROM matches the address ENVELOPE shows (RFC 3501 §6.4.4).
    let r = c.ok("FETCH 3 ENVELOPE");
    assert!(r.untagged[0].contains("\"machine.example\""), "{r:?}");
    assert_eq!(search(&mut c, "FROM \"machine.example\""), vec![3]);
    assert_eq!(search(&mut c, "FROM \"jdoe@machine.example\""), vec![3]);
    // Unknown transfer encodings are application/octet-stream (RFC 2045
    // §6.4): not searched as text.
    for word in ["sevenbitword", "plainword", "eightbitsword"] {
        assert_eq!(search(&mut c, &format!("TEXT {word}")), Vec::<u32>::new());
    }
    assert_eq!(search(&mut c, "BODY goodword"), vec![4]);
}

/// SEARCH CHARSET takes the charsets the decoder knows and converts the
/// search strings from them (RFC 3501 §6.4.4), as Dovecot does.
#[test]
fn search_charset_converts_search_strings() {
    let server = TestServer::start();
    let mut c = server.login();
    let d = "01-Mar-2024 12:00:00 +0000";
    append(
        &mut c,
        "",
        d,
        "From: a@b\r\nSubject: latin\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGr\u{fc}\u{df}e f\u{fc}r dich\r\n",
    );
    append(&mut c, "", d, &msg("a@b", "other", "fur"));
    c.ok("SELECT INBOX");
    let tag = c.tag();
    c.send(
        &[
            tag.as_bytes(),
            b" SEARCH CHARSET ISO-8859-1 BODY {3+}\r\nf\xfcr\r\n",
        ]
        .concat(),
    );
    assert_eq!(numbers(&c.read_reply(&tag)), vec![1]);
    let tag = c.tag();
    c.send(&[tag.as_bytes(), b" SEARCH CHARSET windows-1252 TEXT {5}\r\n"].concat());
    assert!(c.line().starts_with("+ "));
    c.send(b"GR\xdc\xdfE\r\n");
    assert_eq!(numbers(&c.read_reply(&tag)), vec![1]);
    assert_eq!(search(&mut c, "CHARSET latin1 BODY dich"), vec![1]);
    assert_eq!(search(&mut c, "CHARSET KOI8-R BODY fur"), vec![2]);
    let r = c.cmd("SEARCH CHARSET X-NOPE BODY fur");
    assert!(r.tagged.starts_with("NO [BADCHARSET ("), "{r:?}");
    for name in [
        "UTF-8",
        "ISO-8859-1",
        "WINDOWS-1252",
        "KOI8-R",
        "SHIFT_JIS",
        "GB18030",
        "BIG5",
    ] {
        assert!(
            r.tagged.to_ascii_uppercase().contains(name),
            "{name}: {r:?}"
        );
    }
}

/// RFC 5032 WITHIN: OLDER and YOUNGER count seconds back from now against
/// the internal date (the file's mtime), as Dovecot does (OLDER includes
/// the boundary second).
#[test]
fn within_older_and_younger_use_the_internal_date() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"WITHIN".to_string()));
    let day = 86_400u64;
    let now = std::time::SystemTime::now();
    let cur = server.root().join("home/alice/Maildir/cur");
    std::fs::create_dir_all(&cur).unwrap();
    for (i, age) in [(1, day), (2, 10 * day), (3, 100 * day)] {
        let path = cur.join(format!("{}.M{i}P1.host:2,", 1_600_000_000 + i));
        std::fs::write(&path, format!("Subject: {i}\n\nbody\n")).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(now - std::time::Duration::from_secs(age))
            .unwrap();
    }
    c.ok("SELECT INBOX");
    let r = c.ok(&format!("SEARCH YOUNGER {}", 2 * day));
    assert_eq!(r.untagged, vec!["* SEARCH 1"]);
    let r = c.ok(&format!("SEARCH OLDER {}", 2 * day));
    assert_eq!(r.untagged, vec!["* SEARCH 2 3"]);
    let r = c.ok(&format!(
        "UID SEARCH OLDER {} YOUNGER {}",
        2 * day,
        50 * day
    ));
    assert_eq!(r.untagged, vec!["* SEARCH 2"]);
    let r = c.ok(&format!("SEARCH NOT YOUNGER {}", 50 * day));
    assert_eq!(r.untagged, vec!["* SEARCH 3"]);
    let r = c.cmd("SEARCH OLDER soon");
    assert!(r.tagged.starts_with("BAD"), "{r:?}");
}

/// RFC 5255 §4 I18NLEVEL=1: SEARCH and SORT compare with i;unicode-casemap
/// (RFC 5051: titlecase, then decompose), not ASCII case only. Dovecot
/// 2.3.19 gives the same answers to these commands on these messages.
#[test]
fn i18nlevel_1_search_and_sort_use_unicode_casemap() {
    let server = TestServer::start();
    let mut c = server.login();
    assert!(c.capabilities().contains(&"I18NLEVEL=1".to_string()));
    // été, ǆungla (U+01C6, whose titlecase is ǅ), ete.
    for subject in [
        "=?UTF-8?Q?=C3=A9t=C3=A9?=",
        "=?UTF-8?Q?=C7=86ungla?=",
        "ete",
    ] {
        c.append("INBOX", "", &format!("Subject: {subject}\r\n\r\nbody\r\n"));
    }
    c.ok("SELECT INBOX");
    let search = |c: &mut Client, s: &str| {
        let r = c.ok(&format!(
            "SEARCH CHARSET UTF-8 SUBJECT {{{}+}}\r\n{s}",
            s.len()
        ));
        numbers(&r)
    };
    assert_eq!(search(&mut c, "ÉTÉ"), vec![1]);
    assert_eq!(search(&mut c, "été"), vec![1]);
    // The decomposed form matches the composed one.
    assert_eq!(search(&mut c, "e\u{301}t"), vec![1]);
    assert_eq!(search(&mut c, "ǅ"), vec![2]);
    assert_eq!(search(&mut c, "Ǆ"), vec![2]);
    assert_eq!(search(&mut c, "ǆUNGLA"), vec![2]);
    assert_eq!(search(&mut c, "ETE"), vec![3]);
    // Folded subjects compare octet by octet: "ETE" < "E\u{301}TE\u{301}" < "ǅUNGLA".
    let r = c.ok("SORT (SUBJECT) UTF-8 ALL");
    assert_eq!(r.find("* SORT"), vec!["* SORT 3 1 2"]);
}
