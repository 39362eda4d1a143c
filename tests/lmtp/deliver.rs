//! `roost deliver` (Postfix's mailbox_command): the real binary, a real
//! Maildir, and an IMAP session that sees the result.

use crate::common::TestServer;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ROOST: &str = env!("CARGO_BIN_EXE_roost");

/// Runs `roost deliver -c <server's conf> ARGS` with `msg` on stdin; the
/// exit code and stderr.
fn deliver(server: &TestServer, args: &[&str], msg: &[u8]) -> (i32, String) {
    let mut child = Command::new(ROOST)
        .arg("deliver")
        .arg("-c")
        .arg(server.root().join("roost.conf"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = msg.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn maildir(server: &TestServer) -> PathBuf {
    server.root().join("home/alice/Maildir")
}

/// The files in a folder's `new/`, read.
fn new_messages(dir: &Path) -> Vec<Vec<u8>> {
    match std::fs::read_dir(dir.join("new")) {
        Ok(entries) => entries
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

const MSG: &[u8] = b"From: bob@example.org\nSubject: hello\n\nbody line\n.dot line\n";

#[test]
fn delivers_byte_for_byte_with_added_headers_and_imap_sees_it() {
    let server = TestServer::start();
    // The user has never logged in: delivery creates the Maildir.
    let (code, err) = deliver(
        &server,
        &[
            "-d",
            "alice",
            "-f",
            "bob@example.org",
            "-a",
            "alice@example.org",
        ],
        MSG,
    );
    assert_eq!(code, 0, "{err}");
    let mut want = b"Return-Path: <bob@example.org>\nDelivered-To: alice@example.org\n".to_vec();
    want.extend_from_slice(MSG);
    assert_eq!(new_messages(&maildir(&server)), vec![want.clone()]);
    assert_eq!(
        std::fs::read_dir(maildir(&server).join("tmp"))
            .unwrap()
            .count(),
        0
    );

    let mut c = server.login();
    let r = c.ok("SELECT INBOX");
    assert!(r.untagged.iter().any(|l| l == "* 1 EXISTS"), "{r:?}");
    let r = c.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[])");
    let crlf = String::from_utf8(want).unwrap().replace('\n', "\r\n");
    let fetched = r.untagged.join("\r\n");
    assert!(
        fetched.contains(&format!("RFC822.SIZE {}", crlf.len())),
        "{fetched}"
    );
    assert!(
        fetched.contains("Delivered-To: alice@example.org"),
        "{fetched}"
    );
}

#[test]
fn mbox_from_line_names_the_sender_and_is_dropped() {
    let server = TestServer::start();
    let mut msg = b"From bob@example.org Mon Dec  7 04:00:00 2026\n".to_vec();
    msg.extend_from_slice(MSG);
    let (code, err) = deliver(&server, &["-d", "alice"], &msg);
    assert_eq!(code, 0, "{err}");
    let mut want = b"Return-Path: <bob@example.org>\nDelivered-To: alice\n".to_vec();
    want.extend_from_slice(MSG);
    assert_eq!(new_messages(&maildir(&server)), vec![want]);
}

#[test]
fn fields_already_on_top_are_not_added_twice() {
    let server = TestServer::start();
    let mut msg = b"Return-Path: <bob@example.org>\nX-Original-To: alice@example.org\n\
                    Delivered-To: alice@example.org\n"
        .to_vec();
    msg.extend_from_slice(MSG);
    let args = [
        "-d",
        "alice",
        "-f",
        "bob@example.org",
        "-a",
        "alice@example.org",
    ];
    assert_eq!(deliver(&server, &args, &msg).0, 0);
    assert_eq!(new_messages(&maildir(&server)), vec![msg.clone()]);
    // Another final address is still recorded.
    let args = ["-d", "alice", "-a", "alice+x@example.org"];
    assert_eq!(deliver(&server, &args, &msg).0, 0);
    let mut want = b"Delivered-To: alice+x@example.org\n".to_vec();
    want.extend_from_slice(&msg);
    assert!(new_messages(&maildir(&server)).contains(&want));
}

#[test]
fn unknown_user_exits_67_and_stores_nothing() {
    let server = TestServer::start();
    let (code, err) = deliver(&server, &["-d", "nobody"], MSG);
    assert_eq!(code, 67, "{err}");
    assert!(err.contains("nobody"), "{err}");
    assert!(!server.root().join("home/nobody").exists());
}

#[test]
fn folder_option_and_detail_mailbox_fall_back_to_inbox() {
    let server = TestServer::builder()
        .opt("lmtp_save_to_detail_mailbox", "yes")
        .start();
    let mut c = server.login();
    c.ok("CREATE Lists");
    let md = maildir(&server);
    assert_eq!(deliver(&server, &["-d", "alice", "-m", "Lists"], MSG).0, 0);
    assert_eq!(new_messages(&md.join(".Lists")).len(), 1);
    // A folder that does not exist: INBOX, as dovecot-lda without autocreate.
    assert_eq!(deliver(&server, &["-d", "alice", "-m", "Nope"], MSG).0, 0);
    assert_eq!(new_messages(&md).len(), 1);
    assert!(!md.join(".Nope").exists());
    // user+detail: the detail names the folder.
    assert_eq!(deliver(&server, &["-d", "alice+Lists"], MSG).0, 0);
    assert_eq!(new_messages(&md.join(".Lists")).len(), 2);
    let r = c.ok("STATUS Lists (MESSAGES)");
    assert!(r.untagged[0].ends_with("(MESSAGES 2)"), "{r:?}");
}

#[test]
fn oversize_is_refused_for_good_and_disk_trouble_is_temporary() {
    let server = TestServer::builder().opt("max_append_size", "1024").start();
    let big = vec![b'x'; 4096];
    let (code, err) = deliver(&server, &["-d", "alice"], &big);
    assert_eq!(code, 77, "{err}");
    let md = maildir(&server);
    assert_eq!(new_messages(&md).len(), 0);
    assert_eq!(std::fs::read_dir(md.join("tmp")).unwrap().count(), 0);
    // tmp/ swapped for a symlink: nothing written through it, exit 75 so
    // Postfix keeps the message queued.
    let elsewhere = server.root().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_dir(md.join("tmp")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, md.join("tmp")).unwrap();
    let (code, err) = deliver(&server, &["-d", "alice"], MSG);
    assert_eq!(code, 75, "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(new_messages(&md).len(), 0);
}

#[test]
fn usage_errors_exit_64() {
    let server = TestServer::start();
    assert_eq!(deliver(&server, &["--bogus"], MSG).0, 64);
    assert_eq!(deliver(&server, &["-d", "alice", "extra"], MSG).0, 64);
    assert_eq!(deliver(&server, &["-d", "alice", "-f", "a\nb"], MSG).0, 64);
}

/// A suspended account (`nologin` alone) cannot log in, but its mail is
/// still delivered, as with Dovecot: `nologin` is a passdb field, and
/// delivery asks only the userdb.
#[test]
fn a_suspended_account_still_receives_mail() {
    let home = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .passwd_line(&format!(
            "dave:{{PLAIN}}secret::::{}::nologin reason=Unpaid",
            home.path().display()
        ))
        .start();
    let (code, err) = deliver(&server, &["-d", "dave"], MSG);
    assert_eq!(code, 0, "{err}");
    assert_eq!(new_messages(&home.path().join("Maildir")).len(), 1);
    let mut c = server.connect();
    assert_eq!(c.cmd("LOGIN dave secret").tagged, "NO [ALERT] Unpaid");
}

/// Dovecot's per-user `userdb_mail=` extra field: delivery and IMAP both
/// use the user's own location, as Dovecot did, instead of mail_location.
/// A location Roost cannot serve as Dovecot did (mbox, a reshaped tree)
/// is refused, for delivery temporarily, rather than served empty.
#[test]
fn userdb_mail_puts_a_users_mail_where_dovecot_did() {
    let vmail = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .passwd_line(&format!(
            "dave:{{PLAIN}}secret::::/proc/roost-no-such-home::userdb_mail=maildir:{}/%n:INDEX=/var/idx/%u",
            vmail.path().display()
        ))
        .passwd_line("erin:{PLAIN}secret::::/proc/roost-no-such-home::userdb_mail=mbox:~/mail")
        .passwd_line(&format!(
            "fred:{{PLAIN}}secret::::/proc/roost-no-such-home::userdb_mail=maildir:{}/fred:LAYOUT=fs",
            vmail.path().display()
        ))
        .start();
    let (code, err) = deliver(&server, &["-d", "dave"], MSG);
    assert_eq!(code, 0, "{err}");
    assert_eq!(new_messages(&vmail.path().join("dave")).len(), 1);
    let mut c = server.connect();
    c.ok("LOGIN dave secret");
    let r = c.ok("SELECT INBOX");
    assert!(r.untagged.iter().any(|l| l == "* 1 EXISTS"), "{r:?}");
    for user in ["erin", "fred"] {
        let (code, err) = deliver(&server, &["-d", user], MSG);
        assert_eq!(code, 75, "{user}: {err}");
        assert!(err.contains("userdb_mail="), "{err}");
        let mut c = server.connect();
        assert_eq!(
            c.cmd(&format!("LOGIN {user} secret")).tagged,
            "NO [UNAVAILABLE] Mail storage is not available for this user."
        );
    }
    assert!(!vmail.path().join("fred").exists());
}
