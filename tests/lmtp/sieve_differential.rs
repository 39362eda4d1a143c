//! Sieve differential: the same scripts and messages delivered through
//! Debian's Pigeonhole (`dovecot-lda` with the sieve plugin, private
//! configuration) and through `roost deliver`; the resulting folders,
//! flags and keywords, and what each handed to sendmail (vacation,
//! redirect, reject), must be equal.
//!
//! The reference enables `editheader` and `vacation-seconds`, which
//! Pigeonhole ships but leaves off. Pigeonhole 0.5 does not know
//! `ereject` at all, so it is tested on Roost alone (tests/lmtp/sieve.rs).

use crate::common::dovecot::{hand_over, mail_uid, running_as_root};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const LDA: &str = "/usr/lib/dovecot/dovecot-lda";
const ROOST: &str = env!("CARGO_BIN_EXE_roost");
const FOLDERS: &[&str] = &["Team", "Lists", "Shop", "Junk", "Big", "Archive", "Dup"];

const M_TEAM: &str = "From: Bob <bob@example.org>\nTo: alice@example.org\nSubject: [team] weekly report\nDate: Mon, 7 Dec 2026 10:15:00 +0100\nMessage-ID: <r1@example.org>\nX-Spam-Score: 7.5\n\nNumbers are attached.\n";
const M_LIST: &str = "From: Rust Users <rust-users@lists.example.org>\nTo: rust-users@lists.example.org\nSubject: digest, vol 12\nList-Id: <rust-users.lists.example.org>\nPrecedence: list\nMessage-ID: <d12@lists.example.org>\n\nToday's topics.\n";
const M_SHOP: &str = "From: Carol <carol+news@shop.example>\nTo: someone@example.com\nCc: Alice <alice@example.org>\nSubject: =?utf-8?q?Caf=C3=A9?= offer\nMessage-ID: <s1@shop.example>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCoffee for =E2=82=AC2, attachment inside.\n--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nU0VDUkVUIEJJTkFSWQ==\n--b1--\n";
const M_AUTO: &str = "From: dave@example.org\nTo: alice@example.org\nSubject: Out of office\nAuto-Submitted: auto-replied\nMessage-ID: <o1@example.org>\n\nI am away.\n";

fn big() -> String {
    format!(
        "From: bob@example.org\nTo: alice@example.org\nSubject: large\nMessage-ID: <big@example.org>\n\n{}",
        "0123456789 abcdefghij 0123456789 abcdefghij 0123456789 abcdefghij\n".repeat(60)
    )
}

/// (envelope sender, message) for the standard run of a case.
fn messages() -> Vec<(&'static str, String)> {
    vec![
        ("bob@example.org", M_TEAM.to_string()),
        ("rust-users-bounces@lists.example.org", M_LIST.to_string()),
        ("carol+news@shop.example", M_SHOP.to_string()),
        ("bob@example.org", big()),
        ("dave@example.org", M_AUTO.to_string()),
        // The same message again: duplicate and vacation memory.
        ("bob@example.org", M_TEAM.to_string()),
    ]
}

const CASES: &[(&str, &str)] = &[
    ("empty", ""),
    ("keep", "keep;"),
    ("discard", "discard;"),
    ("fileinto", "require \"fileinto\"; if header :contains \"subject\" \"[team]\" { fileinto \"Team\"; }"),
    ("fileinto_missing", "require \"fileinto\"; fileinto \"Nowhere\";"),
    ("fileinto_create", "require [\"fileinto\", \"mailbox\"]; if size :over 2K { fileinto :create \"Made.Here\"; }"),
    ("fileinto_copy", "require [\"fileinto\", \"copy\"]; fileinto :copy \"Archive\";"),
    ("address_domain", "require \"fileinto\"; if address :domain :is \"from\" \"shop.example\" { fileinto \"Shop\"; }"),
    ("address_localpart", "require \"fileinto\"; if address :localpart :is \"from\" \"bob\" { fileinto \"Team\"; }"),
    ("address_all_cc", "require \"fileinto\"; if address :all :is [\"to\", \"cc\"] \"alice@example.org\" { fileinto \"Team\"; }"),
    ("subaddress", "require [\"fileinto\", \"subaddress\"]; if address :detail \"from\" \"news\" { fileinto \"Shop\"; } elsif address :user \"from\" \"bob\" { fileinto \"Team\"; }"),
    ("envelope", "require [\"fileinto\", \"envelope\"]; if envelope :is \"from\" \"bob@example.org\" { fileinto \"Team\"; } elsif envelope :domain \"from\" \"lists.example.org\" { fileinto \"Lists\"; }"),
    ("matches", "require \"fileinto\"; if header :matches \"subject\" \"*report*\" { fileinto \"Team\"; }"),
    ("regex_vars", "require [\"fileinto\", \"regex\", \"variables\"]; if header :regex \"subject\" \"^\\\\[([a-z]+)\\\\]\" { set :upperfirst \"f\" \"${1}\"; fileinto \"${f}\"; }"),
    ("matches_vars", "require [\"fileinto\", \"variables\"]; if header :matches \"list-id\" \"<*.lists.example.org>\" { fileinto \"Lists\"; addflag \"${1}\"; }"),
    ("exists", "require \"fileinto\"; if exists \"list-id\" { fileinto \"Lists\"; }"),
    ("size", "require \"fileinto\"; if size :over 2K { fileinto \"Big\"; } elsif size :under 300 { fileinto \"Archive\"; }"),
    ("allof_anyof_not", "require \"fileinto\"; if allof (not exists \"list-id\", anyof (header :contains \"from\" \"bob\", header :contains \"from\" \"dave\")) { fileinto \"Team\"; }"),
    ("flags_keep", "require \"imap4flags\"; addflag \"\\\\Seen\"; addflag [\"$Work\", \"\\\\Flagged\"]; removeflag \"\\\\Flagged\"; keep;"),
    ("flags_fileinto", "require [\"fileinto\", \"imap4flags\"]; if header :contains \"subject\" \"report\" { fileinto :flags [\"\\\\Flagged\", \"$Report\"] \"Team\"; }"),
    ("setflag_implicit", "require \"imap4flags\"; setflag \"\\\\Answered\";"),
    ("hasflag", "require [\"imap4flags\", \"fileinto\"]; if exists \"list-id\" { addflag \"\\\\Seen\"; } if hasflag \"\\\\Seen\" { fileinto \"Lists\"; }"),
    ("count", "require [\"fileinto\", \"relational\", \"comparator-i;ascii-numeric\"]; if address :count \"ge\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] \"2\" { fileinto \"Shop\"; }"),
    ("value_numeric", "require [\"fileinto\", \"relational\", \"comparator-i;ascii-numeric\"]; if header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"7\" { fileinto \"Junk\"; }"),
    ("body_contains", "require [\"body\", \"fileinto\"]; if body :contains \"attachment\" { fileinto \"Shop\"; }"),
    ("body_text_decoded", "require [\"body\", \"fileinto\"]; if body :text :contains \"€2\" { fileinto \"Shop\"; }"),
    ("body_raw", "require [\"body\", \"fileinto\"]; if body :raw :contains \"U0VDUkVU\" { fileinto \"Shop\"; }"),
    ("body_content", "require [\"body\", \"fileinto\"]; if body :content \"text/plain\" :contains \"topics\" { fileinto \"Lists\"; }"),
    ("variables_string", "require [\"variables\", \"fileinto\"]; set :lower \"x\" \"TEAM\"; if string :is \"${x}\" \"team\" { fileinto \"Team\"; }"),
    ("encoded_character", "require [\"encoded-character\", \"fileinto\"]; fileinto \"${hex:54 65 61 6d}\";"),
    ("rfc2047_subject", "require \"fileinto\"; if header :contains \"subject\" \"Café\" { fileinto \"Shop\"; }"),
    ("octet_comparator", "require \"fileinto\"; if header :comparator \"i;octet\" :contains \"subject\" \"WEEKLY\" { fileinto \"Team\"; } elsif header :contains \"subject\" \"WEEKLY\" { fileinto \"Archive\"; }"),
    ("date_original", "require [\"date\", \"fileinto\"]; if date :originalzone \"date\" \"hour\" \"10\" { fileinto \"Team\"; }"),
    ("date_utc", "require [\"date\", \"fileinto\"]; if date :zone \"+0000\" \"date\" \"date\" \"2026-12-07\" { fileinto \"Archive\"; }"),
    ("currentdate", "require [\"date\", \"relational\", \"fileinto\"]; if currentdate :value \"ge\" \"year\" \"2000\" { fileinto \"Archive\"; }"),
    ("duplicate", "require [\"duplicate\", \"fileinto\"]; if duplicate { fileinto \"Dup\"; }"),
    ("vacation", "require \"vacation\"; vacation :days 1 :subject \"Away\" \"I am away until Monday.\";"),
    ("vacation_addresses", "require \"vacation\"; vacation :addresses [\"alice@example.net\"] :from \"alice@example.org\" \"Out.\";"),
    ("vacation_seconds", "require \"vacation-seconds\"; vacation :seconds 3600 \"Back soon.\";"),
    ("redirect", "if address :is \"from\" \"bob@example.org\" { redirect \"archive@example.net\"; }"),
    ("redirect_copy", "require \"copy\"; redirect :copy \"archive@example.net\";"),
    ("reject", "require \"reject\"; if exists \"list-id\" { reject \"No lists here.\"; }"),
    ("stop", "require \"fileinto\"; if exists \"list-id\" { fileinto \"Lists\"; stop; } fileinto \"Archive\";"),
    ("include", "require [\"include\", \"fileinto\"]; include :personal \"lists\"; if header :contains \"from\" \"bob\" { fileinto \"Team\"; }"),
    ("editheader", "require [\"editheader\", \"fileinto\"]; addheader \"X-Filed\" \"yes\"; if header :is \"x-filed\" \"yes\" { fileinto \"Archive\"; }"),
    ("deleteheader", "require [\"editheader\", \"fileinto\"]; deleteheader \"list-id\"; if not exists \"list-id\" { fileinto \"Archive\"; }"),
    ("mailboxexists", "require [\"mailbox\", \"fileinto\"]; if mailboxexists \"Junk\" { fileinto \"Junk\"; }"),
    ("syntax_error", "require \"fileinto\";\nif header :contains \"subject\" \"x\" {\n  fileinto \"Team\"\n}\n"),
    ("reject_conflict", "require [\"reject\", \"fileinto\"]; if exists \"list-id\" { reject \"no\"; fileinto \"Lists\"; }"),
    ("count_header", "require [\"fileinto\", \"relational\", \"comparator-i;ascii-numeric\"]; if header :count \"eq\" :comparator \"i;ascii-numeric\" \"received\" \"0\" { fileinto \"Archive\"; }"),
];

/// One side's home, with the folders made and the script installed.
fn make_home(base: &Path, script: &str) -> PathBuf {
    let home = base.join("home");
    let md = home.join("Maildir");
    for f in std::iter::once(String::new()).chain(FOLDERS.iter().map(|f| format!(".{f}"))) {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(&f).join(sub)).unwrap();
        }
    }
    let dir = home.join("sieve");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.sieve"), script).unwrap();
    std::fs::write(
        dir.join("lists.sieve"),
        "require \"fileinto\"; if exists \"list-id\" { fileinto \"Lists\"; }",
    )
    .unwrap();
    std::os::unix::fs::symlink("sieve/main.sieve", home.join(".dovecot.sieve")).unwrap();
    home
}

fn fake_sendmail(base: &Path) -> PathBuf {
    let out = base.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let path = base.join("sendmail");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nn=$(date +%s%N)\necho \"$@\" > {0}/$n.args\ncat > {0}/$n.msg\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn run_with_stdin(mut cmd: Command, input: &[u8]) -> (i32, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pigeonhole(case: &str, script: &str, msgs: &[(&str, String)]) -> Snapshot {
    let base = tempfile::tempdir().unwrap();
    let home = make_home(base.path(), script);
    let sendmail = fake_sendmail(base.path());
    let uid = mail_uid();
    let conf = base.path().join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "log_path = /dev/null\nmail_location = maildir:~/Maildir\nmail_uid = {uid}\nmail_gid = {uid}\n\
             first_valid_uid = {uid}\nfirst_valid_gid = 0\nsendmail_path = {}\npostmaster_address = postmaster@example.org\n\
             recipient_delimiter = +\nmail_plugins = sieve\nprotocol lda {{\n  mail_plugins = sieve\n}}\n\
             plugin {{\n  sieve = file:~/sieve;active=~/.dovecot.sieve\n  sieve_extensions = +editheader +vacation-seconds\n}}\n",
            sendmail.display()
        ),
    )
    .unwrap();
    if running_as_root() {
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        hand_over(base.path());
    }
    for (from, msg) in msgs {
        let mut cmd = if running_as_root() {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                LDA,
            ]);
            c
        } else {
            Command::new(LDA)
        };
        cmd.arg("-c")
            .arg(&conf)
            .args(["-f", from, "-a", "alice@example.org"])
            .env_clear()
            .env("HOME", &home)
            .env("USER", "alice")
            .env("PATH", "/usr/bin:/bin");
        let (code, err) = run_with_stdin(cmd, msg.as_bytes());
        assert_eq!(code, 0, "{case}: dovecot-lda failed: {err}");
    }
    snapshot(&home, &base.path().join("out"))
}

fn roost(case: &str, script: &str, msgs: &[(&str, String)]) -> Snapshot {
    let base = tempfile::tempdir().unwrap();
    let home = make_home(base.path(), script);
    let sendmail = fake_sendmail(base.path());
    let passwd = base.path().join("passwd");
    std::fs::write(
        &passwd,
        format!("alice:{{PLAIN}}x::::{}::\n", home.display()),
    )
    .unwrap();
    let conf = base.path().join("roost.conf");
    std::fs::write(
        &conf,
        format!(
            "passwd_file = {}\nmail_location = %h/Maildir\nallow_root = yes\nsendmail_path = {}\n",
            passwd.display(),
            sendmail.display()
        ),
    )
    .unwrap();
    for (from, msg) in msgs {
        let mut cmd = Command::new(ROOST);
        cmd.arg("deliver").arg("-c").arg(&conf).args([
            "-d",
            "alice",
            "-a",
            "alice@example.org",
            "-f",
            from,
        ]);
        let (code, err) = run_with_stdin(cmd, msg.as_bytes());
        assert_eq!(code, 0, "{case}: roost deliver failed: {err}");
    }
    snapshot(&home, &base.path().join("out"))
}

/// Folder → (subject, flags) of its messages; and what went to sendmail.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    folders: BTreeMap<String, Vec<(String, BTreeSet<String>)>>,
    sent: Vec<Sent>,
}

/// A message handed to sendmail, as far as both sides must agree.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Sent {
    args: String,
    subject: String,
    auto_submitted: bool,
    in_reply_to: String,
}

fn header(msg: &str, name: &str) -> String {
    msg.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn snapshot(home: &Path, out: &Path) -> Snapshot {
    let md = home.join("Maildir");
    let mut folders = BTreeMap::new();
    let mut dirs = vec![("INBOX".to_string(), md.clone())];
    for e in std::fs::read_dir(&md).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(f) = name.strip_prefix('.') {
            if e.path().join("cur").is_dir() {
                dirs.push((f.to_string(), e.path()));
            }
        }
    }
    for (name, dir) in dirs {
        let keywords: Vec<String> = std::fs::read_to_string(dir.join("dovecot-keywords"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                l.split_once(' ')
                    .map_or(String::new(), |(_, k)| k.to_string())
            })
            .collect();
        let mut msgs = Vec::new();
        for sub in ["new", "cur"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap() {
                let p = e.unwrap().path();
                let file = p.file_name().unwrap().to_string_lossy().into_owned();
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                let mut flags = BTreeSet::new();
                if let Some((_, info)) = file.split_once(":2,") {
                    for c in info.chars() {
                        let f = match c {
                            'S' => "\\Seen".to_string(),
                            'R' => "\\Answered".to_string(),
                            'F' => "\\Flagged".to_string(),
                            'T' => "\\Deleted".to_string(),
                            'D' => "\\Draft".to_string(),
                            'a'..='z' => keywords
                                .get((c as u8 - b'a') as usize)
                                .cloned()
                                .unwrap_or_default(),
                            _ => continue,
                        };
                        flags.insert(f);
                    }
                }
                msgs.push((header(&text, "subject"), flags));
            }
        }
        msgs.sort();
        if !msgs.is_empty() {
            folders.insert(name, msgs);
        }
    }
    let mut sent = Vec::new();
    if let Ok(rd) = std::fs::read_dir(out) {
        for e in rd {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "args") {
                let msg = std::fs::read_to_string(p.with_extension("msg")).unwrap_or_default();
                let msg = msg.replace("\r\n", "\n");
                sent.push(Sent {
                    args: std::fs::read_to_string(&p).unwrap().trim().to_string(),
                    subject: header(&msg, "subject"),
                    auto_submitted: !header(&msg, "auto-submitted").is_empty(),
                    in_reply_to: header(&msg, "in-reply-to"),
                });
            }
        }
    }
    sent.sort();
    Snapshot { folders, sent }
}

#[test]
fn roost_files_flags_and_answers_as_pigeonhole_does() {
    if !Path::new(LDA).exists()
        || !Path::new("/usr/lib/dovecot/modules/lib90_sieve_plugin.so").exists()
    {
        assert!(
            std::env::var("ROOST_SKIP_INTEROP").is_ok_and(|v| !v.is_empty() && v != "0"),
            "dovecot-lda with the sieve plugin is missing: install Debian's dovecot-sieve (tests/run does)"
        );
        return;
    }
    let msgs = messages();
    let mut differ = Vec::new();
    for (name, script) in CASES {
        let reference = pigeonhole(name, script, &msgs);
        let ours = roost(name, script, &msgs);
        if reference != ours {
            differ.push(format!(
                "{name}:\n  pigeonhole {reference:?}\n  roost      {ours:?}"
            ));
        }
    }
    assert!(CASES.len() >= 40);
    assert!(
        differ.is_empty(),
        "{} of {} cases differ:\n{}",
        differ.len(),
        CASES.len(),
        differ.join("\n")
    );
}
