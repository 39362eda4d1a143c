//! `roost migrate-dovecot` end to end: a private Dovecot configuration with
//! a passwd-file and Maildir, a tree made by Dovecot's own imap binary, the
//! translated roost.conf, and Roost serving that tree with the same
//! folders, UIDs, UIDVALIDITY and flags.

use crate::common::dovecot::{hand_over, mail_uid, running_as_root};
use crate::common::{Client, TestCa, TIMEOUT};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const ROOST: &str = env!("CARGO_BIN_EXE_roost");
const DOVECOT_IMAP: &str = "/usr/lib/dovecot/imap";

/// Folders the test creates, as clients see them (separator `/`).
const FOLDERS: [&str; 2] = ["Work/Projects", "Archive"];

fn dovecot_conf(dir: &Path) -> String {
    // Names as a real installation writes them; numbers when not root.
    let (uid, gid) = if running_as_root() {
        ("nobody".to_string(), "nogroup".to_string())
    } else {
        (mail_uid().to_string(), mail_uid().to_string())
    };
    let d = dir.display();
    format!(
        "protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
auth_mechanisms = plain login
log_path = /dev/stderr
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {first}
first_valid_gid = 0
passdb {{
  driver = passwd-file
  args = scheme=BLF-CRYPT username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
  default_fields = home={d}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox \"Sent Messages\" {{
    special_use = \\Sent
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 10143
  }}
  inet_listener imaps {{
    port = 10993
  }}
}}
protocol imap {{
  mail_max_userip_connections = 20
}}
",
        first = mail_uid(),
    )
}

/// Runs Dovecot's imap binary pre-authenticated as alice with these
/// commands (then LOGOUT) and returns everything it printed.
fn dovecot_session(conf: &Path, home: &Path, commands: &[String]) -> String {
    let mut child = Command::new(DOVECOT_IMAP)
        .arg("-c")
        .arg(conf)
        .env_clear()
        .env("USER", "alice")
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run Dovecot's imap binary (package dovecot-imapd)");
    let mut input = String::new();
    for (i, c) in commands.iter().enumerate() {
        input.push_str(&format!("d{i} {c}\r\n"));
    }
    input.push_str("dz LOGOUT\r\n");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        let _ = tx.send(out);
    });
    let out = rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("dovecot did not finish")
    });
    let _ = child.wait();
    assert!(out.contains("dz OK"), "dovecot session failed:\n{out}");
    for (i, c) in commands.iter().enumerate() {
        assert!(
            out.contains(&format!("d{i} OK")),
            "dovecot: {c} failed:\n{out}"
        );
    }
    out
}

fn append(mailbox: &str, flags: &str, body: &str) -> String {
    format!(
        "APPEND \"{mailbox}\" ({flags}) {{{}+}}\r\n{body}",
        body.len()
    )
}

/// What both servers must agree on: mailbox names, per-mailbox STATUS
/// numbers, and (UID, sorted flags) per message.
#[derive(Debug, PartialEq, Eq)]
struct View {
    names: Vec<String>,
    status: BTreeMap<String, String>,
    messages: BTreeMap<String, Vec<(u32, Vec<String>)>>,
}

/// The commands that produce a `View`, in order.
fn view_commands() -> Vec<String> {
    let mut cmds = vec!["LIST \"\" \"*\"".to_string()];
    for m in ["INBOX"].iter().chain(FOLDERS.iter()) {
        cmds.push(format!("STATUS \"{m}\" (MESSAGES UIDNEXT UIDVALIDITY)"));
        cmds.push(format!("SELECT \"{m}\""));
        cmds.push("UID FETCH 1:* (FLAGS)".to_string());
    }
    cmds
}

fn parse_view(lines: &[String]) -> View {
    let mut names = Vec::new();
    let mut status = BTreeMap::new();
    let mut messages: BTreeMap<String, Vec<(u32, Vec<String>)>> = BTreeMap::new();
    let mut selected = String::new();
    for line in lines {
        if let Some(rest) = line.strip_prefix("* LIST ") {
            // (attrs) "/" name
            let after_attrs = rest.split_once(") ").map_or("", |(_, r)| r);
            let name = after_attrs.split_once(' ').map_or("", |(_, n)| n);
            names.push(name.trim_matches('"').to_string());
        } else if let Some(rest) = line.strip_prefix("* STATUS ") {
            let (name, items) = rest.rsplit_once(" (").unwrap();
            let mut items: Vec<&str> = items.trim_end_matches(')').split(' ').collect();
            let mut pairs: Vec<String> = items.chunks_mut(2).map(|p| p.join(" ")).collect();
            pairs.sort();
            selected = name.trim_matches('"').to_string();
            status.insert(selected.clone(), pairs.join(" "));
        } else if line.starts_with("* ") && line.contains(" FETCH (") {
            let inner = &line[line.find("FETCH (").unwrap() + 7..];
            let uid: u32 = inner
                .split("UID ")
                .nth(1)
                .and_then(|s| s.split([' ', ')']).next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no UID in {line}"));
            let flags_at = inner.find("FLAGS (").unwrap() + 7;
            let mut flags: Vec<String> = inner[flags_at..]
                .split(')')
                .next()
                .unwrap()
                .split_whitespace()
                .filter(|f| *f != "\\Recent")
                .map(str::to_string)
                .collect();
            flags.sort();
            messages
                .entry(selected.clone())
                .or_default()
                .push((uid, flags));
        }
    }
    names.sort();
    View {
        names,
        status,
        messages,
    }
}

/// A `roost serve` child, killed on drop; its log is shown if the test failed.
struct Served(Child, std::path::PathBuf);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.1).unwrap_or_default();
            eprintln!("---- roost log ----\n{log}-------------------");
        }
    }
}

#[test]
fn migrated_configuration_serves_dovecots_tree() {
    assert!(
        Path::new(DOVECOT_IMAP).exists() && Path::new("/usr/bin/doveconf").exists(),
        "Dovecot is missing: install dovecot-imapd (see README)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = TestCa::new();
    std::fs::write(dir.join("cert.pem"), &ca.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &ca.key_pem).unwrap();
    let hash = roost::auth::scheme::hash_password_with_cost(
        roost::auth::scheme::Scheme::BlfCrypt,
        "secret",
        4,
    )
    .unwrap();
    // No home in the file: the userdb's default_fields supplies it.
    std::fs::write(dir.join("users"), format!("alice:{hash}::::::\n")).unwrap();
    let home = dir.join("home/alice");
    std::fs::create_dir_all(&home).unwrap();
    hand_over(&home);
    let conf = dir.join("dovecot.conf");
    std::fs::write(&conf, dovecot_conf(dir)).unwrap();

    // Dovecot fills the tree.
    let mut setup = Vec::new();
    for f in FOLDERS {
        setup.push(format!("CREATE \"{f}\""));
    }
    setup.push("SUBSCRIBE \"Work/Projects\"".into());
    setup.push(append("INBOX", "\\Seen", "Subject: one\r\n\r\nfirst\r\n"));
    setup.push(append("INBOX", "", "Subject: two\r\n\r\nsecond\r\n"));
    setup.push(append(
        "INBOX",
        "\\Answered $Label1",
        "Subject: 3\r\n\r\nthird\r\n",
    ));
    setup.push(append(
        "Work/Projects",
        "\\Flagged",
        "Subject: w\r\n\r\nwork\r\n",
    ));
    setup.push("SELECT INBOX".into());
    setup.push("UID STORE 2 +FLAGS (\\Deleted)".into());
    setup.push("EXPUNGE".into());
    dovecot_session(&conf, &home, &setup);
    let reference_out = dovecot_session(&conf, &home, &view_commands());
    let reference = parse_view(
        &reference_out
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>(),
    );
    assert!(
        reference.names.contains(&"Drafts".to_string()) && reference.names.len() >= 5,
        "{reference:?}"
    );
    assert_eq!(reference.messages["INBOX"].len(), 2, "{reference:?}");

    // Translate, from a saved `doveconf -n -P` and from the directory.
    let out = Command::new("doveconf")
        .arg("-c")
        .arg(&conf)
        .args(["-n", "-P"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("doveconf.txt"), &out.stdout).unwrap();
    let roost_conf = dir.join("roost.conf");
    let out = Command::new(ROOST)
        .arg("migrate-dovecot")
        .arg(dir.join("doveconf.txt"))
        .arg("-o")
        .arg(&roost_conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("not carried over: protocol imap: mail_max_userip_connections = 20"),
        "{err}"
    );
    let mut text = std::fs::read_to_string(&roost_conf).unwrap();
    assert!(text.contains("#  - protocol imap: mail_max_userip_connections"));
    let from_dir = Command::new(ROOST)
        .args(["migrate-dovecot"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(from_dir.status.success());
    let settings = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        settings(&String::from_utf8_lossy(&from_dir.stdout)),
        settings(&text)
    );
    for line in [
        "plaintext_auth = never",
        "namespace_separator = /",
        &format!("passwd_file = {}/users", dir.display()),
        &format!("mail_location = {}/home/%u/Maildir", dir.display()),
        "special_use = Drafts=\\Drafts, Sent Messages=\\Sent, Trash=\\Trash",
        "autocreate_special_use = yes",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
    }
    // The special-use keys may be newer than this build's parser: keep
    // them only if it knows them. Without them Roost does not show the
    // mailboxes Dovecot lists on its own (auto = create/subscribe) but has
    // not made on disk yet.
    let mut reference = reference;
    // Roost creates every special-use folder it is told of at login, where
    // Dovecot only makes those with `auto` (the migration says so).
    reference.names.push("Sent Messages".to_string());
    reference.names.sort();
    assert!(
        err.contains(
            "auto = no on Sent Messages: with autocreate_special_use = yes Roost creates these"
        ),
        "{err}"
    );
    for key in ["special_use", "autocreate_special_use"] {
        if !roost::config::KEYS.iter().any(|(k, _, _)| *k == key) {
            reference.names.retain(|n| n != "Drafts" && n != "Trash");
            text = text
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} =")))
                .map(|l| format!("{l}\n"))
                .collect();
        }
    }
    std::fs::write(&roost_conf, &text).unwrap();

    // Roost serves the tree with the translated configuration; only the
    // ports are overridden.
    let mut child = Command::new(ROOST)
        .arg("serve")
        .arg("-c")
        .arg(&roost_conf)
        .args(["-o", "listen=127.0.0.1:0", "-o", "listen_tls=127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("roost.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child, dir.join("roost.log"));
    let mut lines = BufReader::new(stdout);
    let mut port = None;
    for _ in 0..2 {
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        if line.ends_with("(imap)\n") {
            port = line
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok());
        }
    }
    let port = port.expect("a plain listener");
    if running_as_root() {
        // mail_uid = nobody became user = nobody.
        let status = std::fs::read_to_string(format!("/proc/{}/status", served.0.id())).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert_eq!(uid.split_whitespace().nth(2), Some("65534"), "{uid}");
    }
    let mut c = Client::plain(port);
    assert!(c.line().starts_with("* OK"));
    // ssl = required became plaintext_auth = never: LOGIN needs TLS first.
    let r = c.cmd("LOGIN alice secret");
    assert!(
        r.tagged.starts_with("NO") || r.tagged.starts_with("BAD"),
        "{r:?}"
    );
    c.ok("STARTTLS");
    let mut c = c.upgrade(ca.client_config()).unwrap();
    c.ok("LOGIN alice secret");
    let mut got = Vec::new();
    for cmd in view_commands() {
        let r = c.ok(&cmd);
        got.extend(r.untagged);
    }
    let view = parse_view(&got);
    assert_eq!(view, reference);
    c.ok("LOGOUT");
}
