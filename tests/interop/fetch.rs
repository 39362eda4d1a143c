//! Download-only clients: fetchmail (over STARTTLS, `keep`) and getmail6
//! (over implicit TLS) hand every INBOX message to a delivery script that
//! stores it in a file; each file must be the appended message, byte for
//! byte once line ends are LF.

use super::{lf, require, seed, Home, Seeded};
use crate::common::TestServer;
use std::path::{Path, PathBuf};

/// A delivery agent: one message on stdin, stored in a new file in the
/// directory given as its argument.
fn write_deliver_script(home: &Home) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = home.write(
        "deliver.sh",
        "#!/bin/sh\nexec cat > \"$(mktemp \"$1/msg.XXXXXX\")\"\n",
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(home.join("out")).unwrap();
    path
}

fn delivered(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned())
        .collect();
    out.sort();
    out
}

fn inbox_texts(seeded: &[Seeded]) -> Vec<String> {
    let mut v: Vec<String> = seeded
        .iter()
        .filter(|s| s.folder == "INBOX")
        .map(|s| lf(&s.text))
        .collect();
    v.sort();
    v
}

/// How many messages INBOX holds: downloading must leave them there.
fn inbox_count(server: &TestServer) -> usize {
    let mut c = server.login();
    let r = c.ok("STATUS INBOX (MESSAGES)");
    let line = r.find("* STATUS ")[0].to_string();
    c.ok("LOGOUT");
    line.rsplit_once("MESSAGES ")
        .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn fetchmail_keep_retrieves_every_message_unchanged() {
    if !require("fetchmail", "fetchmail") {
        return;
    }
    let server = TestServer::start();
    let seeded = seed(&server);
    let home = Home::new(&server);
    let deliver = write_deliver_script(&home);
    // invisible: no Received line of its own; no rewrite: addresses as
    // they are; fetchall: read messages too; keep: leave them on the server.
    // sslproto with sslcertck makes fetchmail use STARTTLS and check the
    // certificate.
    home.write(
        ".fetchmailrc",
        &format!(
            "set invisible\nset no syslog\n\
             poll localhost protocol imap port {port}\n  user alice password secret\n  \
             sslproto tls1.2+ sslcertck sslcertfile {ca}\n  keep fetchall no rewrite\n  \
             mda \"{deliver} {out}\"\n",
            port = server.port,
            ca = home.ca(),
            deliver = deliver.display(),
            out = home.join("out").display()
        ),
    );
    let run = home.run("fetchmail", &["--nodetach", "--verbose"]);
    assert!(run.ok, "fetchmail failed:\n{}", run.out);
    assert!(
        run.out.contains("localhost: upgrade to TLS succeeded"),
        "{}",
        run.out
    );
    assert_eq!(delivered(&home.join("out")), inbox_texts(&seeded));
    assert_eq!(inbox_count(&server), 6, "keep leaves the messages");
}

#[test]
fn getmail_retrieves_every_message_unchanged() {
    if !require("getmail", "getmail6") {
        return;
    }
    let server = TestServer::start();
    let seeded = seed(&server);
    let home = Home::new(&server);
    let deliver = write_deliver_script(&home);
    // getmail refuses to run commands as root unless told it may (CI runs
    // as root). record_mailbox, received, delivered_to: no headers added.
    home.write(
        ".getmail/getmailrc",
        &format!(
            "[retriever]\ntype = SimpleIMAPSSLRetriever\nserver = localhost\nport = {port}\n\
             username = alice\npassword = secret\nmailboxes = (\"INBOX\",)\nca_certs = {ca}\n\
             record_mailbox = false\n\n\
             [destination]\ntype = MDA_external\npath = {deliver}\narguments = (\"{out}\",)\n\
             allow_root_commands = true\n\n\
             [options]\nread_all = true\ndelete = false\nreceived = false\ndelivered_to = false\n",
            port = server.tls_port.unwrap(),
            ca = home.ca(),
            deliver = deliver.display(),
            out = home.join("out").display()
        ),
    );
    let run = home.run(
        "getmail",
        &["--getmaildir", &home.join(".getmail").display().to_string()],
    );
    assert!(run.ok, "getmail failed:\n{}", run.out);
    // getmail always writes a Return-Path line of its own first
    // (getmailcore/message.py, flatten); that line aside, the message must
    // be what was appended.
    let mut got: Vec<String> = delivered(&home.join("out"))
        .into_iter()
        .map(|m| {
            m.strip_prefix("Return-Path: <unknown>\n")
                .unwrap_or_else(|| panic!("no Return-Path line first:\n{m}"))
                .to_string()
        })
        .collect();
    got.sort();
    assert_eq!(got, inbox_texts(&seeded));
    assert_eq!(
        inbox_count(&server),
        6,
        "delete = false leaves the messages"
    );
}
