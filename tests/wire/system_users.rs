//! System users (issue 19): real Unix accounts made with `useradd`, their
//! passwords checked by PAM (`pam_unix`, through a service file of the
//! test's own), each session running as its user, mail in `~/Maildir`.
//!
//! These need root (useradd, /etc/pam.d); CI runs as root. As another
//! user they print a loud SKIPPED line and pass.

use crate::common::{run_tool, Client, TestServer};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// `/proc/self` is owned by the effective uid.
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn skip(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED system_users::{test}: needs root (useradd, /etc/pam.d); CI runs it as root");
    true
}

/// useradd/userdel lock /etc/passwd; tests of this binary take turns, and
/// a lock held by someone else is retried for a bounded time.
static ACCOUNTS: Mutex<()> = Mutex::new(());

fn admin(program: &str, args: &[&str], stdin: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out, err) = run_tool(program, args, stdin);
        if ok {
            return;
        }
        // Exit 10 / "cannot lock": another tool holds /etc/passwd.
        let busy = err.contains("lock") || err.contains("try again");
        assert!(
            busy && Instant::now() < deadline,
            "{program} {args:?} failed: {out}{err}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One Unix account of the fixture.
#[derive(Clone, Debug)]
struct Account {
    name: String,
    password: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

/// Unix accounts and a PAM service, removed on drop (even on failure).
struct Fixture {
    accounts: Vec<Account>,
    pam_service: String,
    /// The homes' parent (mode 0755; each home 0700).
    homes: tempfile::TempDir,
}

impl Fixture {
    /// `users` ordinary accounts and `system` system accounts (uid < 500),
    /// named `roost-t-PID-TAGn`.
    fn new(tag: &str, users: usize, system: usize) -> Fixture {
        let homes = tempfile::tempdir().unwrap();
        std::fs::set_permissions(homes.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pam_service = format!("roost-test-{}-{tag}", std::process::id());
        std::fs::write(
            Path::new("/etc/pam.d").join(&pam_service),
            "# Written by Roost's tests; removed when they end.\n\
             auth required pam_unix.so\naccount required pam_unix.so\n",
        )
        .unwrap();
        let mut fx = Fixture {
            accounts: Vec::new(),
            pam_service,
            homes,
        };
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..users + system {
            let name = format!("roost-t-{}-{tag}{i}", std::process::id());
            let home = fx.homes.path().join(&name);
            let home_s = home.display().to_string();
            let mut args = vec!["-M", "-U", "-d", &home_s, "-s", "/usr/sbin/nologin"];
            if i >= users {
                args.extend([
                    "-r",
                    "-K",
                    "SYS_UID_MIN=200",
                    "-K",
                    "SYS_UID_MAX=499",
                    "-K",
                    "SYS_GID_MIN=200",
                    "-K",
                    "SYS_GID_MAX=499",
                ]);
            }
            args.push(&name);
            admin("useradd", &args, b"");
            let password = format!("pw-{i}-{}", std::process::id());
            // Recorded before anything else can fail, so Drop removes it.
            fx.accounts.push(Account {
                name: name.clone(),
                password: password.clone(),
                uid: 0,
                gid: 0,
                home: home.clone(),
            });
            admin("chpasswd", &[], format!("{name}:{password}\n").as_bytes());
            let id = |flag: &str| -> u32 {
                let (ok, out, err) = run_tool("id", &[flag, &name], b"");
                assert!(ok, "id {flag} {name}: {err}");
                out.trim().parse().unwrap()
            };
            let (uid, gid) = (id("-u"), id("-g"));
            std::fs::create_dir(&home).unwrap();
            std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
            let last = fx.accounts.last_mut().unwrap();
            last.uid = uid;
            last.gid = gid;
        }
        fx
    }

    fn user(&self, i: usize) -> &Account {
        &self.accounts[i]
    }

    /// A server serving these accounts: PAM, NSS, `~/Maildir`.
    fn server(&self, extra: &[(&str, &str)]) -> TestServer {
        let mut b = TestServer::builder()
            .no_tls()
            .opt("passdb", "pam")
            .opt("userdb", "passwd")
            .opt("pam_service", &self.pam_service)
            .opt("mail_location", "maildir:~/Maildir")
            .opt("max_connections_per_ip", "1000");
        for (k, v) in extra {
            b = b.opt(k, v);
        }
        b.start()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        for a in &self.accounts {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (ok, _, err) = run_tool("userdel", &["-r", &a.name], b"");
                // Exit 12: the home was already gone; the account is not.
                if ok || !err.contains("lock") || Instant::now() > deadline {
                    if !ok && !err.contains("not found") && !err.contains("mail spool") {
                        eprintln!("userdel -r {}: {err}", a.name);
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = std::fs::remove_file(Path::new("/etc/pam.d").join(&self.pam_service));
    }
}

fn login(server: &TestServer, a: &Account) -> Client {
    server.login_as(&a.name, &a.password)
}

/// Every path under `dir` (itself included) whose owner is not
/// `uid`/`gid`, links not followed; at most 100,000 entries looked at.
fn foreign_owned(dir: &Path, uid: u32, gid: u32) -> Vec<String> {
    let mut bad = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(p) = todo.pop() {
        seen += 1;
        assert!(seen < 100_000, "too many files under {}", dir.display());
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue; // renamed meanwhile
        };
        if meta.uid() != uid || meta.gid() != gid {
            bad.push(format!("{} ({}:{})", p.display(), meta.uid(), meta.gid()));
        }
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    bad
}

/// Files (not directories) under `dir`, links not followed.
fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        } else {
            n += 1;
        }
    }
    n
}

fn message(subject: &str) -> String {
    format!("From: t@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n")
}

#[test]
fn pam_checks_real_passwords_and_system_accounts_are_refused() {
    if skip("pam_checks_real_passwords_and_system_accounts_are_refused") {
        return;
    }
    let fx = Fixture::new("l", 1, 1);
    let (alice, system) = (fx.user(0), fx.user(1));
    assert!(system.uid < 500, "a system account: {system:?}");
    let server = fx.server(&[]);
    let mut c = login(&server, alice);
    c.ok("SELECT INBOX");
    c.ok("LOGOUT");
    let plain = crate::common::b64(format!("\0{}\0{}", alice.name, alice.password).as_bytes());
    server.connect().ok(&format!("AUTHENTICATE PLAIN {plain}"));
    let mut c = server.connect();
    let r = c.cmd(&format!("LOGIN {} wrong-password", alice.name));
    assert!(r.tagged.starts_with("NO [AUTHENTICATIONFAILED]"), "{r:?}");
    // The right password (PAM accepts it) but a uid below first_valid_uid.
    let r = c.cmd(&format!("LOGIN {} {}", system.name, system.password));
    assert!(r.tagged.starts_with("NO [AUTHENTICATIONFAILED]"), "{r:?}");
    let r = c.cmd("LOGIN root anything");
    assert!(r.tagged.starts_with("NO [AUTHENTICATIONFAILED]"), "{r:?}");
    // The session goes on after refusals, and the right password works.
    c.ok(&format!("LOGIN {} {}", alice.name, alice.password));
    assert!(
        server.log().contains("refused by userdb"),
        "{}",
        server.log()
    );
    assert!(
        alice.home.join("Maildir/cur").is_dir(),
        "INBOX made in ~/Maildir"
    );
}

/// Delivers `msg` to `user` over LMTP on the Unix socket `sock`.
fn lmtp_deliver(sock: &Path, user: &str, msg: &str) {
    let s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut reply = || {
        let mut last = String::new();
        for _ in 0..100 {
            let mut line = String::new();
            assert!(r.read_line(&mut line).unwrap() > 0, "LMTP closed");
            let more = line.as_bytes().get(3) == Some(&b'-');
            last = line;
            if !more {
                break;
            }
        }
        last
    };
    assert!(reply().starts_with("220"));
    for (line, want) in [
        ("LHLO test".to_string(), "250"),
        ("MAIL FROM:<t@example.org>".to_string(), "250"),
        (format!("RCPT TO:<{user}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let got = reply();
        assert!(got.starts_with(want), "{line} -> {got}");
    }
    w.write_all(format!("{msg}.\r\n").as_bytes()).unwrap();
    let got = reply();
    assert!(got.starts_with("250"), "DATA -> {got}");
    w.write_all(b"QUIT\r\n").unwrap();
}

#[test]
fn every_file_a_session_or_a_delivery_creates_belongs_to_the_user() {
    if skip("every_file_a_session_or_a_delivery_creates_belongs_to_the_user") {
        return;
    }
    let fx = Fixture::new("o", 2, 0);
    let (alice, bob) = (fx.user(0), fx.user(1));
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("lmtp");
    let server = fx.server(&[("lmtp_listen", &format!("unix:{}", sock.display()))]);
    let mut c = login(&server, alice);
    let mut b = login(&server, bob);
    c.ok("CREATE Work");
    c.ok("CREATE Work.Sub");
    c.append("INBOX", "", &message("one"));
    c.append("INBOX", "", &message("two"));
    c.append("Work", "(\\Flagged)", &message("three"));
    c.ok("SELECT INBOX");
    c.ok("STORE 1 +FLAGS (\\Seen \\Answered)");
    c.ok("STORE 2 +FLAGS ($Label1)");
    c.ok("COPY 1 Work");
    c.ok("MOVE 2 Work.Sub");
    c.ok("RENAME Work Archive");
    c.ok("SUBSCRIBE Archive");
    c.ok("CREATE Gone");
    c.ok("DELETE Gone");
    b.append("INBOX", "", &message("bob's"));
    // Delivery: LMTP (the server's thread) and `roost deliver` run by root.
    lmtp_deliver(&sock, &alice.name, &message("by lmtp"));
    let conf = server.root().join("roost.conf");
    let (ok, out, err) = run_tool(
        env!("CARGO_BIN_EXE_roost"),
        &[
            "deliver",
            "-c",
            &conf.display().to_string(),
            "-d",
            &alice.name,
        ],
        message("by roost deliver").as_bytes(),
    );
    assert!(ok, "roost deliver: {out}{err}");
    c.ok("NOOP");
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert!(
        r.untagged.iter().any(|l| l.contains("MESSAGES 3")),
        "two delivered + one left: {r:?}"
    );
    c.ok("LOGOUT");
    b.ok("LOGOUT");
    for a in [alice, bob] {
        let bad = foreign_owned(&a.home, a.uid, a.gid);
        assert!(
            bad.is_empty(),
            "not owned by {} ({}:{}): {bad:#?}",
            a.name,
            a.uid,
            a.gid
        );
    }
    assert!(
        count_files(&alice.home.join("Maildir")) >= 6,
        "messages, uidlists, subscriptions"
    );
}

/// (uid fields, CapEff) of every thread of `pid`.
fn threads(pid: u32) -> Vec<(String, [u32; 4], u64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // ended meanwhile
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_default()
                .to_string()
        };
        let uids: Vec<u32> = field("Uid:")
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let cap = u64::from_str_radix(&field("CapEff:"), 16).unwrap();
        out.push((
            task.file_name().to_string_lossy().into_owned(),
            [uids[0], uids[1], uids[2], uids[3]],
            cap,
        ));
    }
    out
}

/// CAP_SETGID | CAP_SETUID.
const KEPT: u64 = 0xc0;

#[test]
fn the_process_keeps_two_capabilities_and_a_session_thread_none() {
    if skip("the_process_keeps_two_capabilities_and_a_session_thread_none") {
        return;
    }
    let fx = Fixture::new("c", 2, 0);
    let (alice, bob) = (fx.user(0), fx.user(1));
    let server = fx.server(&[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(eff, KEPT, "process CapEff: {status}");
    let mut a = login(&server, alice);
    a.ok("SELECT INBOX");
    let mut b = login(&server, bob);
    b.ok("SELECT INBOX");
    let all = threads(server.pid());
    for (who, uid) in [(alice, alice.uid), (bob, bob.uid)] {
        let serving: Vec<_> = all.iter().filter(|t| t.1[1] == uid).collect();
        assert_eq!(serving.len(), 1, "one thread serves {}: {all:?}", who.name);
        let (tid, uids, cap) = serving[0];
        assert_eq!(*uids, [uid; 4], "thread {tid}: real, effective, saved, fs");
        assert_eq!(
            *cap, 0,
            "thread {tid} serving {} has CapEff {cap:#x}",
            who.name
        );
    }
    for (tid, uids, cap) in &all {
        assert_eq!(
            cap & !KEPT,
            0,
            "thread {tid} (uids {uids:?}) CapEff {cap:#x}"
        );
        assert!(
            uids[1] == 0 || uids[1] == alice.uid || uids[1] == bob.uid,
            "thread {tid}: {uids:?}"
        );
    }
    // Still serving after the look.
    a.ok("NOOP");
    b.ok("NOOP");
}

#[test]
fn alice_cannot_reach_bobs_mail_by_any_name_link_or_rename() {
    if skip("alice_cannot_reach_bobs_mail_by_any_name_link_or_rename") {
        return;
    }
    let fx = Fixture::new("i", 2, 0);
    let (alice, bob) = (fx.user(0), fx.user(1));
    let server = fx.server(&[]);
    let marker = format!("bob-secret-{}", std::process::id());
    let mut b = login(&server, bob);
    b.ok("CREATE Secret");
    b.append("Secret", "", &message(&marker));
    b.append("INBOX", "", &message(&marker));
    let mut a = login(&server, alice);
    a.ok("CREATE Mine");
    let bob_md = bob.home.join("Maildir");
    let bob_rel = format!("../../{}/Maildir", bob.name);
    let bob_abs = bob_md.display().to_string();
    // Links planted in alice's tree by someone with more rights than her
    // (a careless admin, a restored backup): a folder symlink into bob's
    // tree and a hard link to one of bob's messages.
    std::os::unix::fs::symlink(bob_md.join(".Secret"), alice.home.join("Maildir/.Stolen")).unwrap();
    let bob_msg = std::fs::read_dir(bob_md.join("cur"))
        .unwrap()
        .chain(std::fs::read_dir(bob_md.join("new")).unwrap())
        .flatten()
        .next()
        .expect("bob's INBOX message")
        .path();
    let planted = alice.home.join("Maildir/cur").join("1.planted.host:2,");
    std::fs::hard_link(&bob_msg, &planted).unwrap();
    let attempts = [
        format!("SELECT \"{bob_rel}\""),
        format!("SELECT \"{bob_abs}\""),
        format!("SELECT \"{bob_abs}/.Secret\""),
        "SELECT \"../Secret\"".to_string(),
        "SELECT Stolen".to_string(),
        format!("STATUS \"{bob_abs}\" (MESSAGES)"),
        "STATUS Stolen (MESSAGES)".to_string(),
        format!("CREATE \"{bob_rel}/.Evil\""),
        format!("CREATE \"{bob_abs}/.Evil\""),
        format!("RENAME Mine \"{bob_rel}/.Mine\""),
        format!("RENAME Mine \"{bob_abs}/.Mine\""),
        format!("APPEND \"{bob_abs}\" {{5+}}\r\nhello"),
        "APPEND Stolen {5+}\r\nhello".to_string(),
        "DELETE Stolen".to_string(),
        "RENAME Stolen Taken".to_string(),
        "RENAME Stolen INBOX.Taken".to_string(),
        "SELECT INBOX".to_string(),
        "COPY 1:* Stolen".to_string(),
        "MOVE 1:* Stolen".to_string(),
        // Maildir++ is flat: this makes alice's own .Stolen.Inner beside
        // the link, not a folder inside bob's tree. Allowed, and harmless.
        "RENAME Mine \"Stolen.Inner\"".to_string(),
    ];
    let mut transcript = Vec::new();
    for cmd in &attempts {
        let r = a.cmd(cmd);
        // Bob keeps working alongside.
        b.ok("NOOP");
        transcript.push((cmd.clone(), r));
    }
    for (cmd, r) in &transcript {
        eprintln!("{cmd} -> {}", r.tagged);
        if cmd.starts_with("RENAME Mine \"Stolen") || cmd == "SELECT INBOX" {
            continue;
        }
        assert!(
            r.tagged.starts_with("NO") || r.tagged.starts_with("BAD"),
            "{cmd} -> {r:?}"
        );
    }
    let list = a.ok("LIST \"\" \"*\"");
    let inbox = a.ok("SELECT INBOX");
    let fetch = a.cmd("FETCH 1:* (BODY.PEEK[] BODY.PEEK[HEADER])");
    a.ok("NOOP");
    let seen = format!("{transcript:?}{list:?}{inbox:?}{fetch:?}");
    assert!(!seen.contains(&marker), "bob's mail reached alice: {seen}");
    assert!(
        !list.untagged.iter().any(|l| l.contains("Secret")),
        "{list:?}"
    );
    // Bob's tree: his messages, all his, none added.
    b.ok("SELECT Secret");
    let f = b.ok("FETCH 1:* (BODY.PEEK[])");
    assert_eq!(f.find("* 1 FETCH").len(), 1, "{f:?}");
    assert!(format!("{f:?}").contains(&marker));
    let r = b.ok("STATUS INBOX (MESSAGES)");
    assert!(r.untagged[0].contains("MESSAGES 1"), "{r:?}");
    assert!(!bob_md.join(".Evil").exists() && !bob_md.join(".Mine").exists());
    std::fs::remove_file(&planted).unwrap_or_default();
    let bad = foreign_owned(&bob.home, bob.uid, bob.gid);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn a_hundred_sessions_of_ten_users_at_once_leave_no_foreign_file() {
    if skip("a_hundred_sessions_of_ten_users_at_once_leave_no_foreign_file") {
        return;
    }
    const USERS: usize = 10;
    const SESSIONS: usize = 100;
    let fx = Fixture::new("m", USERS, 0);
    let server = Arc::new(fx.server(&[]));
    let start = Arc::new(Barrier::new(SESSIONS));
    let workers: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let server = Arc::clone(&server);
            let start = Arc::clone(&start);
            let a = fx.user(i % USERS).clone();
            std::thread::spawn(move || {
                let mut c = server.connect();
                start.wait();
                c.ok(&format!("LOGIN {} {}", a.name, a.password));
                c.ok(&format!("CREATE T{i}"));
                c.append(&format!("T{i}"), "", &message(&format!("m{i}")));
                c.ok(&format!("SELECT T{i}"));
                c.ok("STORE 1 +FLAGS (\\Seen)");
                c.ok("COPY 1 INBOX");
                c.ok("CLOSE");
                c.ok(&format!("RENAME T{i} R{i}"));
                c.ok(&format!("SUBSCRIBE R{i}"));
                c.ok("LOGOUT");
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    for a in &fx.accounts {
        let bad = foreign_owned(&a.home, a.uid, a.gid);
        assert!(bad.is_empty(), "{}: {bad:#?}", a.name);
        let mut c = login(&server, a);
        let r = c.ok("STATUS INBOX (MESSAGES)");
        let want = format!("MESSAGES {}", SESSIONS / USERS);
        assert!(r.untagged[0].contains(&want), "{}: {r:?}", a.name);
    }
}

#[test]
fn a_passwd_file_is_tried_before_pam_and_both_lead_to_the_system_user() {
    if skip("a_passwd_file_is_tried_before_pam_and_both_lead_to_the_system_user") {
        return;
    }
    let fx = Fixture::new("f", 1, 0);
    let carol = fx.user(0);
    // The builder's passwd file: alice (no Unix account) and carol with a
    // password of the file's own, different from her Unix one.
    let server = TestServer::builder()
        .no_tls()
        .user(&carol.name, "file-password")
        .opt("passdb", "passwd-file, pam")
        .opt("userdb", "passwd")
        .opt("pam_service", &fx.pam_service)
        .opt("mail_location", "~/Maildir")
        .start();
    for password in ["file-password", carol.password.as_str()] {
        let mut c = server.login_as(&carol.name, password);
        c.append("INBOX", "", &message(password));
        c.ok("LOGOUT");
    }
    let mut c = server.connect();
    let r = c.cmd("LOGIN alice secret");
    assert!(r.tagged.starts_with("NO [AUTHENTICATIONFAILED]"), "{r:?}");
    let r = c.cmd(&format!("LOGIN {} wrong", carol.name));
    assert!(r.tagged.starts_with("NO [AUTHENTICATIONFAILED]"), "{r:?}");
    let messages =
        count_files(&carol.home.join("Maildir/new")) + count_files(&carol.home.join("Maildir/cur"));
    assert_eq!(messages, 2);
    let bad = foreign_owned(&carol.home, carol.uid, carol.gid);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The permission bits (setgid included) of `path`.
fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn new_files_take_their_modes_from_the_maildir_as_dovecots_do() {
    if skip("new_files_take_their_modes_from_the_maildir_as_dovecots_do") {
        return;
    }
    let fx = Fixture::new("p", 2, 0);
    let (private, shared) = (fx.user(0), fx.user(1));
    // A group-shared Maildir (setgid, as an administrator would set one up).
    let md = shared.home.join("Maildir");
    std::fs::create_dir(&md).unwrap();
    std::os::unix::fs::chown(&md, Some(shared.uid), Some(shared.gid)).unwrap();
    std::fs::set_permissions(&md, std::fs::Permissions::from_mode(0o2770)).unwrap();
    let server = fx.server(&[]);
    let conf = server.root().join("roost.conf").display().to_string();
    for a in [private, shared] {
        let mut c = login(&server, a);
        c.ok("CREATE Folder");
        c.append("Folder", "", &message("appended"));
        c.append("INBOX", "", &message("appended to INBOX"));
        c.ok("LOGOUT");
        let (ok, out, err) = run_tool(
            env!("CARGO_BIN_EXE_roost"),
            &["deliver", "-c", &conf, "-d", &a.name],
            message("delivered").as_bytes(),
        );
        assert!(ok, "roost deliver: {out}{err}");
    }
    let md_private = private.home.join("Maildir");
    for (root, dir_want, file_want) in [(&md_private, 0o700, 0o600), (&md, 0o2770, 0o660)] {
        for d in ["cur", "new", "tmp", ".Folder", ".Folder/cur", ".Folder/new"] {
            assert_eq!(mode(&root.join(d)), dir_want, "{}/{d}", root.display());
        }
        let mut files = 0;
        for d in ["cur", "new", ".Folder/cur", ".Folder/new"] {
            for e in std::fs::read_dir(root.join(d)).unwrap().flatten() {
                assert_eq!(mode(&e.path()), file_want, "{}", e.path().display());
                files += 1;
            }
        }
        assert_eq!(files, 3, "{}", root.display());
    }
}
