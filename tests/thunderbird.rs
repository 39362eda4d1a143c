//! Thunderbird's sessions replayed against Roost:
//! - its sync against Dovecot, sent verbatim to Roost and Dovecot on one
//!   Maildir: every untagged response must match;
//! - a whole session from login to logout, with a delivery while it idles,
//!   compared line by line with the golden transcript in
//!   tests/golden/thunderbird.txt (see `golden_session_matches_transcript`).

use crate::common::dovecot::{hand_over, mail_uid, DovecotSession};
use crate::common::{Client, TestServer};

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

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/thunderbird.txt");

/// What the golden file says before its transcript.
const GOLDEN_HEADER: &str = "\
# A Thunderbird session against Roost, as tests/thunderbird.rs replays it.
# C: lines are sent as they are (CRLF added); S: lines are what Roost must
# answer, one line per CRLF-terminated line (literals included), after the
# normalisation in tests/thunderbird.rs (`normalise_golden`).
# \"! deliver\" drops a new message into Maildir/new, as a delivery agent does.
# To rewrite this file from a run: ROOST_BLESS=1 cargo test golden_session
";

/// A short message as Thunderbird's users receive them, CRLF line ends.
fn golden_message(i: usize) -> String {
    format!(
        "From: \"Sender {i}\" <sender{i}@example.org>\r\nTo: Alice <alice@example.org>\r\n\
         Subject: Weekly report {i}\r\nDate: Mon, {d} Jan 2024 10:00:00 +0100\r\n\
         Message-ID: <report{i}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Hello Alice,\r\n\r\nreport number {i} is attached in spirit.\r\n",
        d = i + 1
    )
}

/// One step of the transcript: what to do, and the lines expected back.
struct Step {
    action: String,
    expected: Vec<String>,
}

fn parse_golden(text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = vec![Step {
        action: "(greeting)".into(),
        expected: Vec::new(),
    }];
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("S:") {
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            steps.last_mut().unwrap().expected.push(rest.to_string());
        } else if line.starts_with("C: ") || line.starts_with("! ") {
            steps.push(Step {
                action: line.to_string(),
                expected: Vec::new(),
            });
        } else {
            panic!("golden file: cannot read line {line:?}");
        }
    }
    steps
}

/// The capabilities Thunderbird's session below relies on, before login
/// (the lists with AUTH= mechanisms) and after. The full lists grow with
/// every extension, so they are normalised away and these are checked
/// instead.
const NEEDED_BEFORE_LOGIN: &[&str] = &["IMAP4rev1", "SASL-IR", "ID", "AUTH=PLAIN"];
const NEEDED_AFTER_LOGIN: &[&str] = &["IMAP4rev1", "SASL-IR", "ID", "IDLE", "UIDPLUS", "MOVE"];

/// Replaces what changes from run to run, or release to release, by
/// placeholders: UIDVALIDITY values (in UIDVALIDITY, APPENDUID and COPYUID
/// codes), INTERNALDATE timestamps, capability lists (after checking the
/// NEEDED_ ones) and Roost's version in the ID response.
fn normalise_golden(line: &str) -> String {
    let mut out = line.to_string();
    for key in ["[UIDVALIDITY ", "[APPENDUID ", "[COPYUID "] {
        if let Some(start) = out.find(key) {
            let from = start + key.len();
            let end = out[from..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(out.len(), |i| from + i);
            out.replace_range(from..end, "<uidvalidity>");
        }
    }
    // RFC 8474: a new folder's random GUID.
    if let Some(start) = out.find("[MAILBOXID (") {
        let from = start + "[MAILBOXID (".len();
        if let Some(len) = out[from..].find(')') {
            out.replace_range(from..from + len, "<mailboxid>");
        }
    }
    if let Some(start) = out.find("INTERNALDATE \"") {
        let from = start + "INTERNALDATE \"".len();
        if let Some(len) = out[from..].find('"') {
            out.replace_range(from..from + len, "<date>");
        }
    }
    for key in ["[CAPABILITY ", "* CAPABILITY "] {
        if let Some(start) = out.find(key) {
            let from = start + key.len();
            let end = if key.starts_with('[') {
                out[from..].find(']').map_or(out.len(), |i| from + i)
            } else {
                out.len()
            };
            let caps: Vec<&str> = out[from..end].split(' ').collect();
            let before_login = caps.iter().any(|c| c.starts_with("AUTH="));
            let needed = if before_login {
                NEEDED_BEFORE_LOGIN
            } else {
                NEEDED_AFTER_LOGIN
            };
            for cap in needed {
                assert!(caps.contains(cap), "{cap} missing: {line}");
            }
            let placeholder = if before_login {
                "<capabilities before login>"
            } else {
                "<capabilities>"
            };
            out.replace_range(from..end, placeholder);
        }
    }
    let version = format!("\"version\" \"{}\"", env!("CARGO_PKG_VERSION"));
    out.replace(&version, "\"version\" \"<version>\"")
}

/// Reads what the server sends after one step, up to the line that ends
/// it: the command's tagged reply, the continuation request after IDLE,
/// the IDLE's tagged reply after DONE, the RECENT a delivery causes. Stops
/// early if the server falls silent (the comparison then shows what is
/// missing). Returns physical lines, normalised.
fn read_step(c: &mut Client, action: &str, idle_tag: &str) -> Vec<String> {
    let last = |line: &str| -> bool {
        if action == "(greeting)" {
            true
        } else if action == "! deliver" {
            // EXISTS comes with RECENT (RFC 3501 §7.3.1-2), in that order.
            line.ends_with(" RECENT")
        } else if action == "C: DONE" {
            line.starts_with(&format!("{idle_tag} "))
        } else if action.ends_with(" IDLE") {
            line.starts_with("+ ")
        } else {
            let tag = action["C: ".len()..].split(' ').next().unwrap_or("");
            line.starts_with(&format!("{tag} "))
        }
    };
    let mut got = Vec::new();
    for _ in 0..1000 {
        let Ok(response) = c.try_line() else { break };
        let done = last(&response);
        got.extend(response.split("\r\n").map(normalise_golden));
        if done {
            break;
        }
    }
    got
}

/// Delivers a message the way a delivery agent does: written to tmp/,
/// renamed into new/.
fn deliver(maildir: &std::path::Path, text: &str) {
    let name = "1704100000.M1P1.mx";
    std::fs::write(maildir.join("tmp").join(name), text).unwrap();
    std::fs::rename(
        maildir.join("tmp").join(name),
        maildir.join("new").join(name),
    )
    .unwrap();
}

#[test]
fn golden_session_matches_transcript() {
    let server = TestServer::start();
    // The mailbox as Thunderbird finds it: three messages, one read, and
    // a Trash folder.
    let mut setup = server.login();
    setup.ok("CREATE Trash");
    for (i, args) in [
        "(\\Seen) \"01-Jan-2024 10:00:00 +0100\"",
        "\"02-Jan-2024 10:00:00 +0100\"",
        "\"03-Jan-2024 10:00:00 +0100\"",
    ]
    .iter()
    .enumerate()
    {
        setup.append("INBOX", args, &golden_message(i));
    }
    setup.ok("LOGOUT");
    let maildir = server.root().join("home/alice/Maildir");

    // Blessing reads only the actions from the file and rewrites the rest.
    let bless = std::env::var("ROOST_BLESS").is_ok_and(|v| v == "1");
    let text = std::fs::read_to_string(GOLDEN).expect("tests/golden/thunderbird.txt");
    let steps = parse_golden(&text);
    let mut c = server.connect();
    let mut transcript = String::from(GOLDEN_HEADER);
    let mut mismatches = Vec::new();
    let mut idle_tag = String::new();
    for step in &steps {
        let got = if step.action == "(greeting)" {
            vec![normalise_golden(&c.greeting)]
        } else {
            transcript.push_str(&step.action);
            transcript.push('\n');
            if let Some(command) = step.action.strip_prefix("C: ") {
                if command.ends_with(" IDLE") {
                    idle_tag = command.split(' ').next().unwrap_or("").to_string();
                }
                c.send(format!("{command}\r\n").as_bytes());
            } else if step.action == "! deliver" {
                deliver(&maildir, &golden_message(3));
            } else {
                panic!("golden file: unknown action {}", step.action);
            }
            read_step(&mut c, &step.action, &idle_tag)
        };
        for line in &got {
            transcript.push_str(if line.is_empty() { "S:" } else { "S: " });
            transcript.push_str(line);
            transcript.push('\n');
        }
        if !bless && got != step.expected {
            mismatches.push(format!(
                "after {}:\n  expected:\n    {}\n  got:\n    {}",
                step.action,
                step.expected.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    if bless {
        std::fs::write(GOLDEN, &transcript).unwrap();
    }
    assert!(
        mismatches.is_empty(),
        "the session differs from tests/golden/thunderbird.txt:\n{}",
        mismatches.join("\n")
    );
    assert!(c.closed(), "the connection stays open after LOGOUT");
}
