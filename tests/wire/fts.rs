//! The full-text index: SEARCH TEXT/BODY read only the messages that hold
//! every trigram of a search string, and answer exactly what an unindexed
//! search answers (the same tree searched with `fts_index = no`).

use crate::common::TestServer;
use std::path::Path;

/// 300 messages: a few with rare words, encoded bodies, accents.
fn fill(maildir: &Path) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for i in 1..=300u32 {
        let body = match i % 50 {
            0 => "The zebra crossing is closed.".to_string(),
            7 => "Caf=C3=A9 au lait, s'il vous pla=C3=AEt.".to_string(),
            13 => "ZW5jb2RlZCBtb25nb29zZSB0ZXh0Cg==".to_string(),
            _ => format!("Ordinary text number {i}, nothing to see."),
        };
        let cte = match i % 50 {
            7 => "quoted-printable",
            13 => "base64",
            _ => "7bit",
        };
        // Header keys match rewritten forms the raw text lacks: address
        // lists with comments and spaces, squeezed subjects, encoded names.
        let from = match i % 60 {
            0 => "From  : John Doe <jdoe@machine(comment).  example>".to_string(),
            31 => "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.org>\r\nBcc: hidden@example.net\r\nX-Tag: tag   value".to_string(),
            _ => format!("From: Sender {i} <s{i}@example.org>"),
        };
        let subject = if i % 60 == 0 { "double   space" } else { "" };
        let msg = format!(
            "{from}\r\nSubject: Message {i} {subject}{}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{body}\r\n",
            if i % 75 == 0 { "=?utf-8?q?r=C3=A9sum=C3=A9?=" } else { "plain" }
        );
        std::fs::write(
            maildir
                .join("cur")
                .join(format!("{}.M{i}P1.host:2,S", 1_700_000_000 + i)),
            msg,
        )
        .unwrap();
    }
}

const SEARCHES: &[&str] = &[
    "TEXT zebra",
    "BODY zebra",
    "TEXT ZEBRA",
    "BODY \"zebra crossing\"",
    "TEXT mongoose",
    "BODY \"café\"",
    "TEXT cafe",
    "TEXT \"résumé\"",
    "SUBJECT \"résumé\"",
    "OR BODY zebra BODY mongoose",
    "NOT BODY zebra",
    "BODY zebra NOT FROM s50@",
    "UNSEEN BODY zebra",
    "TEXT \"number 1\"",
    "BODY nothing-here-at-all",
    "TEXT ze",
    "OR TEXT zebra SEEN",
    "FROM \"machine.example\"",
    "FROM \"jdoe@machine\"",
    "FROM \"john doe\"",
    "FROM \"jörg\"",
    "FROM \"sender 7\"",
    "SUBJECT \"double space\"",
    "BCC hidden",
    "HEADER X-Tag \"tag   value\"",
    "HEADER X-Tag \"\"",
    "OR FROM jdoe TO nobody",
    "NOT FROM jdoe",
];

fn answers(server: &TestServer) -> Vec<String> {
    let mut c = server.login();
    c.ok("SELECT INBOX");
    SEARCHES
        .iter()
        .map(|q| {
            let r = c.ok(&format!("UID SEARCH CHARSET UTF-8 {q}"));
            r.find("* SEARCH")
                .first()
                .map_or(String::new(), |l| l.to_string())
        })
        .collect()
}

#[test]
fn indexed_search_reads_few_messages_and_answers_as_unindexed() {
    let indexed = TestServer::builder().opt("log_level", "debug").start();
    fill(&indexed.root().join("home/alice/Maildir"));
    let plain = TestServer::builder().opt("fts_index", "no").start();
    fill(&plain.root().join("home/alice/Maildir"));

    let got = answers(&indexed);
    let want = answers(&plain);
    assert_eq!(got, want);
    assert_eq!(got[0], "* SEARCH 50 100 150 200 250 300");
    assert_eq!(got[4], "* SEARCH 13 63 113 163 213 263");
    assert!(indexed
        .root()
        .join("home/alice/Maildir/roost-fts/delta")
        .exists());
    let log = indexed.log();
    assert!(log.contains(": 6 of 300 messages to read"), "{log}");
    // Header keys narrow too: 5 messages have jdoe's From.
    for i in [17, 18, 19, 22] {
        assert_eq!(got[i], "* SEARCH 60 120 180 240 300", "{}", SEARCHES[i]);
    }
    for i in [20, 24, 25] {
        assert_eq!(got[i], "* SEARCH 31 91 151 211 271", "{}", SEARCHES[i]);
    }
    assert!(log.contains(": 5 of 300 messages to read"), "{log}");
    assert!(!plain.root().join("home/alice/Maildir/roost-fts").exists());

    // New mail joins the index; expunged mail leaves the answers.
    let mut c = indexed.login();
    c.ok("SELECT INBOX");
    c.append("INBOX", "", "Subject: late\r\n\r\nanother zebra\r\n");
    c.ok("UID STORE 50 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    let r = c.ok("UID SEARCH TEXT zebra");
    assert_eq!(r.find("* SEARCH")[0], "* SEARCH 100 150 200 250 300 301");

    // The index survives a restart, and a damaged one is rebuilt.
    std::fs::write(
        indexed.root().join("home/alice/Maildir/roost-fts/delta"),
        b"junk",
    )
    .unwrap();
    let mut indexed = indexed;
    indexed.restart();
    let mut c = indexed.login();
    c.ok("SELECT INBOX");
    let r = c.ok("UID SEARCH BODY zebra");
    assert_eq!(r.find("* SEARCH")[0], "* SEARCH 100 150 200 250 300 301");
}
