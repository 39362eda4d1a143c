//! Sieve at delivery through `roost deliver`: users' Pigeonhole-layout
//! scripts (`~/sieve/*.sieve`, the active one linked as
//! `~/.dovecot.sieve`) decide folders and flags, send vacation replies,
//! redirects and rejections through a sendmail that records what it is
//! given, and a broken or hostile script never loses the message.

use crate::common::TestServer;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ROOST: &str = env!("CARGO_BIN_EXE_roost");

/// A server whose sendmail is a script recording each call in `outbox`.
struct Setup {
    server: TestServer,
    outbox: tempfile::TempDir,
}

impl Setup {
    fn new(extra: &[(&str, &str)]) -> Setup {
        let outbox = tempfile::tempdir().unwrap();
        let sendmail = outbox.path().join("sendmail");
        std::fs::write(
            &sendmail,
            format!(
                "#!/bin/sh\nn=$(date +%s%N)\necho \"$@\" > {0}/call-$n.args\ncat > {0}/call-$n.msg\n",
                outbox.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&sendmail, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut b = TestServer::builder().opt("sendmail_path", &sendmail.display().to_string());
        for (k, v) in extra {
            b = b.opt(k, v);
        }
        Setup {
            server: b.start(),
            outbox,
        }
    }

    fn home(&self) -> PathBuf {
        self.server.root().join("home/alice")
    }

    /// Installs `text` as the user's active script, as ManageSieve would.
    fn script(&self, text: &str) {
        let dir = self.home().join("sieve");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.sieve"), text).unwrap();
        let link = self.home().join(".dovecot.sieve");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("sieve/main.sieve", &link).unwrap();
    }

    fn deliver(&self, from: &str, msg: &[u8]) -> (i32, String) {
        let mut child = Command::new(ROOST)
            .arg("deliver")
            .arg("-c")
            .arg(self.server.root().join("roost.conf"))
            .args(["-d", "alice", "-a", "alice@example.org", "-f", from])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(msg).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The messages sendmail was given: (arguments, message).
    fn sent(&self) -> Vec<(String, String)> {
        let mut calls: Vec<PathBuf> = std::fs::read_dir(self.outbox.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "args"))
            .collect();
        calls.sort();
        calls
            .iter()
            .map(|p| {
                (
                    std::fs::read_to_string(p).unwrap().trim().to_string(),
                    std::fs::read_to_string(p.with_extension("msg")).unwrap(),
                )
            })
            .collect()
    }

    /// Message count per folder and the flags of the folder's messages,
    /// as an IMAP client sees them.
    fn imap_view(&self, folder: &str) -> (u64, Vec<String>) {
        let mut c = self.server.login();
        let r = c.ok(&format!("EXAMINE \"{folder}\""));
        let exists = r
            .find("* ")
            .iter()
            .find(|l| l.ends_with(" EXISTS"))
            .map_or(0, |l| l.split(' ').nth(1).unwrap().parse().unwrap());
        let flags = if exists > 0 {
            c.ok("FETCH 1:* (FLAGS)")
                .find("* ")
                .iter()
                .filter(|l| l.contains("FETCH"))
                .map(|l| l.to_string())
                .collect()
        } else {
            Vec::new()
        };
        (exists, flags)
    }
}

fn maildir(s: &Setup) -> PathBuf {
    s.home().join("Maildir")
}

fn files_in(dir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|sub| std::fs::read_dir(dir.join(sub)).map_or(0, |rd| rd.count()))
        .sum()
}

const MSG: &[u8] = b"From: Bob <bob@example.org>\nTo: alice@example.org\nSubject: [team] weekly report\nMessage-ID: <r1@example.org>\n\nNumbers attached.\n";

#[test]
fn fileinto_with_flags_lands_where_the_script_says() {
    let s = Setup::new(&[]);
    let mut c = s.server.login();
    c.ok("CREATE Team");
    drop(c);
    s.script(
        "require [\"fileinto\", \"imap4flags\"];\n\
         if header :contains \"subject\" \"[team]\" {\n  fileinto :flags [\"\\\\Flagged\", \"$Report\"] \"Team\";\n}\n",
    );
    let (code, err) = s.deliver("bob@example.org", MSG);
    assert_eq!(code, 0, "{err}");
    let (n, flags) = s.imap_view("Team");
    assert_eq!(n, 1);
    assert!(
        flags[0].contains("\\Flagged") && flags[0].contains("$Report"),
        "{flags:?}"
    );
    assert_eq!(s.imap_view("INBOX").0, 0);
}

#[test]
fn missing_folders_and_broken_scripts_keep_the_mail_in_inbox() {
    let s = Setup::new(&[]);
    s.script("require \"fileinto\";\nfileinto \"Nowhere\";\n");
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    assert_eq!(s.imap_view("INBOX").0, 1);
    let log = std::fs::read_to_string(s.home().join(".dovecot.sieve.log")).unwrap();
    assert!(log.contains("Nowhere"), "{log}");

    // :create makes the folder instead.
    s.script("require [\"fileinto\", \"mailbox\"];\nfileinto :create \"Lists.New\";\n");
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    assert_eq!(s.imap_view("Lists.New").0, 1);

    // A syntax error: kept, and the log names the line.
    s.script(
        "require \"fileinto\";\n\nif header :contains \"subject\" \"x\" {\n  fileinto \"A\"\n}\n",
    );
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    assert_eq!(s.imap_view("INBOX").0, 2);
    let log = std::fs::read_to_string(s.home().join(".dovecot.sieve.log")).unwrap();
    assert!(log.contains("line 5: error"), "{log}");
}

#[test]
fn hostile_scripts_still_deliver() {
    let s = Setup::new(&[]);
    let many: String = (0..10_000)
        .map(|i| format!("fileinto \"f{i}\";\n"))
        .collect();
    let deep = format!("{}keep;{}", "if true {".repeat(200), "}".repeat(200));
    // Catastrophic for a backtracking engine, and one too big to build.
    let regex = "require \"regex\"; if header :regex \"subject\" [\"^(x+x+)+y$\", \"[a-z]{900}{900}\"] { discard; }".to_string();
    for (i, script) in [format!("require \"fileinto\";\n{many}"), deep, regex]
        .iter()
        .enumerate()
    {
        s.script(script);
        let (code, err) = s.deliver("bob@example.org", MSG);
        assert_eq!(code, 0, "{err}");
        assert_eq!(files_in(&maildir(&s)), i + 1, "script {i}");
    }
    // An include loop.
    std::fs::write(
        s.home().join("sieve/loop.sieve"),
        "require \"include\"; include \"loop\";",
    )
    .unwrap();
    s.script("require \"include\";\ninclude \"loop\";\n");
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    assert_eq!(files_in(&maildir(&s)), 4);
}

#[test]
fn vacation_answers_once_per_sender_and_never_lists_or_the_null_sender() {
    let s = Setup::new(&[]);
    s.script("require \"vacation\";\nvacation :days 7 :subject \"Away\" :from \"alice@example.org\" \"Back on Monday.\";\n");
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    let sent = s.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "-i -f <> -- bob@example.org");
    assert!(sent[0].1.contains("Subject: Away\r\n"), "{}", sent[0].1);
    assert!(
        sent[0].1.contains("In-Reply-To: <r1@example.org>"),
        "{}",
        sent[0].1
    );
    assert!(sent[0].1.contains("Back on Monday."));
    // Both messages were kept.
    assert_eq!(s.imap_view("INBOX").0, 2);
    // A list message and a bounce get no answer.
    let list = [b"List-Id: <team.example.org>\n".as_slice(), MSG].concat();
    assert_eq!(s.deliver("carol@example.org", &list).0, 0);
    assert_eq!(s.deliver("", MSG).0, 0);
    assert_eq!(s.sent().len(), 1);
    // The memory survives: a new process, same answer.
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    assert_eq!(s.sent().len(), 1);
}

#[test]
fn redirect_reject_and_ereject() {
    let s = Setup::new(&[]);
    s.script("redirect \"archive@example.net\";\n");
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    let sent = s.sent();
    assert_eq!(sent[0].0, "-i -f bob@example.org -- archive@example.net");
    assert!(sent[0].1.contains("Numbers attached."));
    assert_eq!(files_in(&maildir(&s)), 0, "redirect cancels the keep");

    s.script("require \"reject\";\nreject \"No reports, please.\";\n");
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    let sent = s.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].0, "-i -f <> -- bob@example.org");
    assert!(sent[1].1.contains("No reports, please."));
    assert_eq!(files_in(&maildir(&s)), 0);

    // ereject refuses in the protocol: dovecot-lda's exit 77 with the text.
    s.script("require \"ereject\";\nereject \"Go away.\";\n");
    let (code, err) = s.deliver("bob@example.org", MSG);
    assert_eq!(code, 77);
    assert!(err.contains("Go away."), "{err}");
    assert_eq!(files_in(&maildir(&s)), 0);
}

#[test]
fn sieve_before_runs_first_and_stop_ends_the_sequence() {
    let global = tempfile::tempdir().unwrap();
    let before = global.path().join("spam.sieve");
    std::fs::write(
        &before,
        "require [\"fileinto\"];\nif header :contains \"x-spam-flag\" \"YES\" { fileinto \"Junk\"; stop; }\n",
    )
    .unwrap();
    let s = Setup::new(&[("sieve_before", &before.display().to_string())]);
    let mut c = s.server.login();
    c.ok("CREATE Junk");
    c.ok("CREATE Team");
    drop(c);
    s.script("require \"fileinto\";\nfileinto \"Team\";\n");
    let spam = [b"X-Spam-Flag: YES\n".as_slice(), MSG].concat();
    assert_eq!(s.deliver("bob@example.org", &spam).0, 0);
    assert_eq!(s.deliver("bob@example.org", MSG).0, 0);
    assert_eq!(s.imap_view("Junk").0, 1);
    assert_eq!(s.imap_view("Team").0, 1);
    assert_eq!(s.imap_view("INBOX").0, 0);
}

#[test]
fn lmtp_delivery_runs_the_script_and_ereject_refuses_in_the_protocol() {
    let (server, _sock_dir, sock) = crate::lmtp::wire::lmtp_server(&[]);
    let home = server.root().join("home/alice");
    std::fs::create_dir_all(home.join("sieve")).unwrap();
    std::fs::write(
        home.join("sieve/main.sieve"),
        "require [\"fileinto\", \"ereject\", \"imap4flags\"];\n\
         if header :contains \"subject\" \"spam\" { ereject \"No spam here.\"; stop; }\n\
         fileinto :flags \"\\\\Flagged\" \"Filed\";\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("sieve/main.sieve", home.join(".dovecot.sieve")).unwrap();
    let mut c = server.login();
    c.ok("CREATE Filed");
    let mut l = crate::lmtp::wire::Lmtp::connect(&sock);
    assert!(l.cmd("LHLO test").starts_with("250"));
    assert!(l.cmd("MAIL FROM:<bob@example.org>").starts_with("250"));
    assert!(l.cmd("RCPT TO:<alice>").starts_with("250"));
    assert!(l.cmd("RCPT TO:<carol>").starts_with("250"));
    assert!(l.cmd("DATA").starts_with("354"));
    l.send(b"Subject: spam offer\r\n\r\nbuy\r\n.\r\n");
    // alice's script refuses; carol has none and gets it.
    let alice = l.reply().pop().unwrap();
    let carol = l.reply().pop().unwrap();
    assert_eq!(alice, "550 5.7.1 <alice> No spam here.");
    assert!(carol.starts_with("250"), "{carol}");
    assert!(l.cmd("MAIL FROM:<bob@example.org>").starts_with("250"));
    assert!(l.cmd("RCPT TO:<alice>").starts_with("250"));
    assert!(l.cmd("DATA").starts_with("354"));
    l.send(b"Subject: report\r\n\r\nnumbers\r\n.\r\n");
    assert!(l.reply().pop().unwrap().starts_with("250"));
    let r = c.ok("EXAMINE Filed");
    assert!(r.find("* 1 EXISTS").len() == 1, "{:?}", r.untagged);
    let r = c.ok("FETCH 1 (FLAGS)");
    assert!(
        r.find("* 1 FETCH")[0].contains("\\Flagged"),
        "{:?}",
        r.untagged
    );
    assert_eq!(
        c.ok("STATUS INBOX (MESSAGES)").find("* STATUS")[0],
        "* STATUS INBOX (MESSAGES 0)"
    );
}
