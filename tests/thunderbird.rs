//! Thunderbird's real sync against Dovecot, replayed verbatim against
//! Roost and Dovecot on one Maildir: every untagged response must match.

use crate::common::dovecot::{hand_over, mail_uid, DovecotSession};
use crate::common::TestServer;

/// The exchange as Thunderbird sends it (after SELECT INBOX).
const SYNC: &[&str] = &[
    "UID fetch 1:* (FLAGS)",
    "UID fetch 2 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID \
     Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
    "UID fetch 2 (UID RFC822.SIZE BODY.PEEK[])",
    "UID fetch 2 (UID BODY.PEEK[HEADER.FIELDS (Content-Type Content-Transfer-Encoding)] BODY.PEEK[TEXT]<0.2048>)",
    "uid store 2 +Flags (\\Seen)",
    "uid move 6 \"Trash\"",
    "UID fetch 1:* (FLAGS)",
];

fn message(i: usize) -> String {
    let body =
        "Hello there,\n\nthis is a line of the message body that is long enough to matter.\n"
            .repeat(40);
    format!(
        "From: \"Sender {i}\" <sender{i}@example.org>\nTo: Alice <alice@example.org>\nCc: team@example.org\n\
         Subject: Status update {i}\nDate: Mon, {d} Jan 2024 10:00:00 +0100\nMessage-ID: <{i}@example.org>\n\
         X-Priority: 3\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\n\n{body}",
        d = i + 1
    )
}

/// Untagged lines, with the tagged status reduced to OK/NO/BAD.
fn normalise(untagged: &[String], tagged: &str) -> Vec<String> {
    let mut out = untagged.to_vec();
    out.push(tagged.split_whitespace().next().unwrap_or("").to_string());
    out
}

#[test]
fn thunderbird_sync_exchange_matches_dovecot() {
    let server = TestServer::builder().run_as(mail_uid()).start();
    let home = server.root().join("home/alice");
    let md = home.join("Maildir");
    for sub in [
        "cur",
        "new",
        "tmp",
        ".Trash/cur",
        ".Trash/new",
        ".Trash/tmp",
    ] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    std::fs::write(md.join(".Trash/maildirfolder"), "").unwrap();
    for i in 0..8 {
        let name = format!(
            "{}.M{i}P1.mx:2,{}",
            1_700_000_000 + i,
            if i % 2 == 0 { "S" } else { "" }
        );
        std::fs::write(md.join("cur").join(name), message(i)).unwrap();
    }
    hand_over(&home);
    // Roost numbers the tree first; Dovecot then gets an exact copy, so
    // both run with the same UIDVALIDITY and UIDs in every folder.
    let mut c = server.login();
    c.ok("SELECT INBOX");
    c.ok("UNSELECT");
    c.ok("STATUS Trash (UIDVALIDITY)");
    let dv_home = server.root().join("home/dovecot");
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(&home)
        .arg(&dv_home)
        .status()
        .unwrap();
    assert!(copy.success());
    hand_over(&dv_home);
    let mut dv = DovecotSession::start(&dv_home);
    let (dv_sel, _) = dv.cmd("SELECT INBOX");
    let r = c.ok("SELECT INBOX");
    let uidvalidity = |lines: &[String]| lines.iter().find(|l| l.contains("[UIDVALIDITY")).cloned();
    assert_eq!(uidvalidity(&r.untagged), uidvalidity(&dv_sel));
    for cmd in SYNC {
        let (dv_untagged, dv_tagged) = dv.cmd(cmd);
        let r = c.cmd(cmd);
        let ours = normalise(&r.untagged, &r.tagged);
        let theirs = normalise(&dv_untagged, &dv_tagged);
        assert_eq!(ours, theirs, "{cmd}");
    }
}
