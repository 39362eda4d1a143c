//! Debian's Postfix in front of Roost, configured as for Dovecot: SMTP
//! AUTH through Roost's auth socket (`smtpd_sasl_type = dovecot`), mail for
//! a virtual domain over LMTP (`virtual_transport = lmtp:unix:…`), and
//! local mail through `mailbox_command = roost deliver`. Postfix runs from
//! its own configuration and queue directories, on a loopback port of its
//! own; swaks is the SMTP client.

use crate::common::{Client, TestServer};
use crate::interop::require;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

/// A running Postfix; stopped on drop.
struct Postfix {
    dir: tempfile::TempDir,
    port: u16,
}

impl Postfix {
    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(self.config_dir())
            .arg("stop")
            .output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn open_up(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Starts Postfix pointed at Roost's sockets and binary.
fn start_postfix(sockets: &Path, roost_bin: &Path, roost_conf: &Path) -> Postfix {
    let dir = tempfile::tempdir().unwrap();
    open_up(dir.path());
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    for f in ["dynamicmaps.cf", "postfix-files"] {
        let _ = std::fs::copy(Path::new("/etc/postfix").join(f), etc.join(f));
    }
    let port = free_port();
    let d = dir.path().display();
    let s = sockets.display();
    let main_cf = format!(
        "compatibility_level = 3.6\n\
         queue_directory = {d}/queue\n\
         data_directory = {d}/data\n\
         maillog_file = {d}/maillog\n\
         maillog_file_prefixes = {d}\n\
         mail_owner = postfix\n\
         setgid_group = postdrop\n\
         myhostname = mx.roost.test\n\
         mydomain = roost.test\n\
         myorigin = roost.test\n\
         mydestination = localhost\n\
         inet_interfaces = 127.0.0.1\n\
         inet_protocols = ipv4\n\
         mynetworks = 127.0.0.0/8\n\
         relayhost =\n\
         default_transport = error:no mail leaves the test\n\
         alias_maps =\n\
         alias_database =\n\
         local_recipient_maps =\n\
         biff = no\n\
         recipient_delimiter = +\n\
         smtputf8_enable = yes\n\
         smtpd_sasl_type = dovecot\n\
         smtpd_sasl_path = {s}/auth\n\
         smtpd_sasl_auth_enable = yes\n\
         smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\n\
         virtual_mailbox_domains = example.test\n\
         virtual_transport = lmtp:unix:{s}/lmtp\n\
         mailbox_command = {bin} deliver -c {conf} -f \"$SENDER\" -a \"$RECIPIENT\"\n",
        bin = roost_bin.display(),
        conf = roost_conf.display()
    );
    std::fs::write(etc.join("main.cf"), main_cf).unwrap();
    let master_cf = format!(
        "127.0.0.1:{port} inet n - n - - smtpd\n\
         pickup unix n - n 60 1 pickup\n\
         cleanup unix n - n - 0 cleanup\n\
         qmgr unix n - n 300 1 qmgr\n\
         rewrite unix - - n - - trivial-rewrite\n\
         bounce unix - - n - 0 bounce\n\
         defer unix - - n - 0 bounce\n\
         trace unix - - n - 0 bounce\n\
         verify unix - - n - 1 verify\n\
         flush unix n - n 1000? 0 flush\n\
         proxymap unix - - n - - proxymap\n\
         showq unix n - n - - showq\n\
         error unix - - n - - error\n\
         retry unix - - n - - error\n\
         discard unix - - n - - discard\n\
         local unix - n n - - local\n\
         virtual unix - n n - - virtual\n\
         lmtp unix - - n - - lmtp\n\
         smtp unix - - n - - smtp\n\
         relay unix - - n - - smtp\n\
         anvil unix - - n - 1 anvil\n\
         scache unix - - n - 1 scache\n\
         postlog unix-dgram n - n - 1 postlogd\n"
    );
    std::fs::write(etc.join("master.cf"), master_cf).unwrap();
    // What `postfix start` expects to find: the queue's directories.
    let made = Command::new("/usr/lib/postfix/sbin/post-install")
        .arg(format!("config_directory={}", etc.display()))
        .arg("meta_directory=/etc/postfix")
        .arg("create-missing")
        .output()
        .unwrap();
    assert!(made.status.success(), "post-install: {made:?}");
    let out = Command::new("postfix")
        .arg("-c")
        .arg(&etc)
        .arg("start")
        .output()
        .unwrap();
    let pf = Postfix { dir, port };
    assert!(
        out.status.success(),
        "postfix start: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        pf.maillog()
    );
    // Bounded wait for smtpd's port.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "postfix never listened:\n{}",
            pf.maillog()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pf
}

/// Roost as nobody, with its LMTP and auth sockets where Postfix's
/// daemons (user postfix) can reach them; users carol, nobody and dave
/// (suspended).
fn start_roost(homes: &Path, sockets: &Path) -> TestServer {
    for user in ["carol", "nobody"] {
        let h = homes.join(user);
        std::fs::create_dir_all(&h).unwrap();
        std::os::unix::fs::chown(&h, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    open_up(homes);
    std::os::unix::fs::chown(sockets, Some(NOBODY), Some(NOBODY)).unwrap();
    open_up(sockets);
    let s = sockets.display();
    TestServer::builder()
        .passwd_line(&format!(
            "carol:{{PLAIN}}secret::::{}/carol::",
            homes.display()
        ))
        .passwd_line(&format!(
            "nobody:{{PLAIN}}x::::{}/nobody::",
            homes.display()
        ))
        // Suspended, with the reason Postfix is to pass on.
        .passwd_line(&format!(
            "dave:{{PLAIN}}secret::::{}/dave::nologin reason=Unpaid",
            homes.display()
        ))
        .opt("lmtp_listen", &format!("unix:{s}/lmtp"))
        .opt("auth_listen", &format!("unix:{s}/auth"))
        .opt("auth_mechanisms", "plain login cram-md5")
        .opt("unix_socket_mode", "0666")
        .opt("lmtp_save_to_detail_mailbox", "yes")
        .run_as(NOBODY)
        .start()
}

fn swaks(port: u16, args: &[&str], data: &Path) -> (bool, String) {
    let port = port.to_string();
    let mut all = vec!["--server", "127.0.0.1", "--port", &port, "--timeout", "30"];
    all.extend_from_slice(args);
    let data = data.display().to_string();
    all.extend_from_slice(&["--data", &data]);
    let (ok, out, err) = crate::common::run_tool("swaks", &all, b"");
    (ok, format!("{out}{err}"))
}

/// Waits (bounded) for `n` messages in a folder (`new/` or, once an IMAP
/// session has seen them, `cur/`); their contents.
fn wait_for_mail(dir: &Path, n: usize, pf: &Postfix) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<Vec<u8>> = ["new", "cur"]
            .iter()
            .flat_map(|sub| {
                std::fs::read_dir(dir.join(sub))
                    .map(|rd| {
                        rd.map(|e| std::fs::read(e.unwrap().path()).unwrap())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect();
        if files.len() >= n {
            return files;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {} of {n} messages; maillog:\n{}",
            dir.display(),
            files.len(),
            pf.maillog()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const MESSAGE: &str = "Date: Mon, 07 Dec 2026 04:00:00 +0000\r\n\
Message-ID: <postfix-test-1@example.org>\r\n\
From: Bob <bob@example.org>\r\n\
To: carol@example.test\r\n\
Subject: through Postfix\r\n\
\r\n\
first line\r\n\
.a line that starts with a dot\r\n\
last line\r\n";

fn runnable() -> bool {
    if !require("postfix", "postfix") || !require("swaks", "swaks") {
        return false;
    }
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !root {
        eprintln!("note: the Postfix tests need root (postfix start); skipped");
    }
    root
}

#[test]
fn postfix_authenticates_through_roost_and_delivers_over_lmtp_and_deliver() {
    if !runnable() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    open_up(work.path());
    let homes = work.path().join("homes");
    let sockets = work.path().join("sockets");
    std::fs::create_dir_all(&sockets).unwrap();
    let server = start_roost(&homes, &sockets);
    let pf = start_postfix(
        &sockets,
        &server.root().join("roost-bin"),
        &server.root().join("roost.conf"),
    );
    let msg_file = work.path().join("message.eml");
    // swaks ends the data with a line break of its own.
    std::fs::write(&msg_file, MESSAGE.trim_end()).unwrap();

    // SMTP AUTH, each mechanism, checked by Roost; a wrong password fails.
    for mech in ["PLAIN", "LOGIN", "CRAM-MD5"] {
        let (ok, out) = swaks(
            pf.port,
            &[
                "--auth",
                mech,
                "--auth-user",
                "carol",
                "--auth-password",
                "secret",
                "--from",
                "carol@example.test",
                "--to",
                "someone@example.test",
                "--quit-after",
                "AUTH",
            ],
            &msg_file,
        );
        assert!(
            ok && out.contains("235 2.7.0 Authentication successful"),
            "{mech}: {out}"
        );
    }
    let (ok, out) = swaks(
        pf.port,
        &[
            "--auth",
            "PLAIN",
            "--auth-user",
            "carol",
            "--auth-password",
            "wrong",
            "--quit-after",
            "AUTH",
        ],
        &msg_file,
    );
    assert!(!ok && out.contains("535 5.7.8"), "{out}");
    // A suspended account cannot send, and Postfix tells why.
    let (ok, out) = swaks(
        pf.port,
        &[
            "--auth",
            "PLAIN",
            "--auth-user",
            "dave",
            "--auth-password",
            "secret",
            "--quit-after",
            "AUTH",
        ],
        &msg_file,
    );
    assert!(
        !ok && out.contains("535 5.7.8 Error: authentication failed: Unpaid"),
        "{out}"
    );
    server.wait_for_log("user=carol mech=LOGIN service=smtp tls=no login");
    server.wait_for_log("user=carol mech=CRAM-MD5 service=smtp tls=no login");
    server.wait_for_log("user=carol mech=PLAIN service=smtp authentication failed");

    // An IMAP client idling on INBOX hears of the LMTP delivery.
    let mut imap: Client = server.login_as("carol", "secret");
    imap.ok("CREATE lists");
    imap.ok("SELECT INBOX");
    imap.send(b"i1 IDLE\r\n");
    assert_eq!(imap.line(), "+ idling");

    let (ok, out) = swaks(
        pf.port,
        &[
            "--from",
            "bob@example.org",
            "--to",
            "carol@example.test,carol+lists@example.test",
        ],
        &msg_file,
    );
    assert!(ok, "{out}");
    let inbox = homes.join("carol/Maildir");
    let stored_body = MESSAGE.replace("\r\n", "\n");
    // Postfix hands both recipients over in one transaction: as with
    // Dovecot, no Delivered-To then, and one file linked into both folders.
    let mut copies = Vec::new();
    for dir in [inbox.clone(), inbox.join(".lists")] {
        let files = wait_for_mail(&dir, 1, &pf);
        let text = String::from_utf8(files[0].clone()).unwrap();
        assert!(
            text.starts_with("Return-Path: <bob@example.org>\nReceived: from "),
            "{text}"
        );
        assert!(text.ends_with(&stored_body), "{text}");
        copies.push(text);
    }
    assert_eq!(copies[0], copies[1]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no EXISTS");
        if imap.line() == "* 1 EXISTS" {
            break;
        }
    }
    imap.send(b"DONE\r\n");
    imap.read_reply("i1");

    // Local mail: Postfix's local(8) runs `roost deliver` as the recipient.
    let (ok, out) = swaks(
        pf.port,
        &["--from", "bob@example.org", "--to", "nobody@localhost"],
        &msg_file,
    );
    assert!(ok, "{out}");
    let files = wait_for_mail(&homes.join("nobody/Maildir"), 1, &pf);
    let text = String::from_utf8(files[0].clone()).unwrap();
    // local(8) put Return-Path and Delivered-To on top already: not twice.
    assert_eq!(
        text.matches("Delivered-To: nobody@localhost\n").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("Return-Path: <bob@example.org>\n").count(),
        1,
        "{text}"
    );
    assert!(text.ends_with(&stored_body), "{text}");
}

/// A small tmpfs mounted for one test; unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .arg("tmpfs")
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process still holding a directory there must not keep
        // the mount behind.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` with one file; its path.
fn fill_up(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    // Bounded: the disk is a few hundred KiB.
    for _ in 0..100_000 {
        if f.write_all(&block).and_then(|_| f.sync_all()).is_err() {
            return path;
        }
    }
    panic!("{} never filled up", dir.display());
}

fn postqueue(pf: &Postfix, flag: &str) -> String {
    let out = Command::new("postqueue")
        .arg("-c")
        .arg(pf.config_dir())
        .arg(flag)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits (bounded) for the maillog to show `needle`.
fn wait_for_maillog(pf: &Postfix, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pf.maillog().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "maillog never showed {needle:?}:\n{}",
            pf.maillog()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn disk_full_keeps_the_message_in_postfix_queue_until_space_returns() {
    if !runnable() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    open_up(work.path());
    let homes = work.path().join("homes");
    let sockets = work.path().join("sockets");
    std::fs::create_dir_all(&sockets).unwrap();
    // Dropped last: after Postfix and Roost have stopped.
    let Some(_disk) = SmallDisk::mount(&homes.join("carol"), "256k") else {
        eprintln!("note: cannot mount a tmpfs here; skipped");
        return;
    };
    let server = start_roost(&homes, &sockets);
    let pf = start_postfix(
        &sockets,
        &server.root().join("roost-bin"),
        &server.root().join("roost.conf"),
    );
    let inbox = homes.join("carol/Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(inbox.join(sub)).unwrap();
        std::os::unix::fs::chown(inbox.join(sub), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    std::os::unix::fs::chown(&inbox, Some(NOBODY), Some(NOBODY)).unwrap();
    let filler = fill_up(&homes.join("carol"));
    let msg_file = work.path().join("message.eml");
    std::fs::write(&msg_file, MESSAGE.trim_end()).unwrap();

    let (ok, out) = swaks(
        pf.port,
        &["--from", "bob@example.org", "--to", "carol@example.test"],
        &msg_file,
    );
    assert!(ok, "{out}");
    // Roost said 452 4.3.1; Postfix keeps the message and will retry.
    wait_for_maillog(&pf, "status=deferred");
    let log = pf.maillog();
    assert!(log.contains("452 4.3.1"), "{log}");
    server.wait_for_log("not delivered (will be retried)");
    let queue = postqueue(&pf, "-p");
    assert!(queue.contains("carol@example.test"), "{queue}");
    assert_eq!(
        std::fs::read_dir(inbox.join("new")).unwrap().count(),
        0,
        "nothing half-delivered"
    );
    assert_eq!(std::fs::read_dir(inbox.join("tmp")).unwrap().count(), 0);

    // Space returns; the queue is flushed: delivered once.
    std::fs::remove_file(filler).unwrap();
    postqueue(&pf, "-f");
    wait_for_maillog(&pf, "status=sent");
    let files = wait_for_mail(&inbox, 1, &pf);
    assert_eq!(files.len(), 1);
    let text = String::from_utf8(files[0].clone()).unwrap();
    assert!(text.ends_with(&MESSAGE.replace("\r\n", "\n")), "{text}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let queue = postqueue(&pf, "-p");
        if queue.contains("Mail queue is empty") {
            break;
        }
        assert!(Instant::now() < deadline, "still queued: {queue}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pf.maillog().matches("status=sent").count(), 1);
    assert_eq!(wait_for_mail(&inbox, 1, &pf).len(), 1);
}
