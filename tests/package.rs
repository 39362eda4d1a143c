//! The Debian package: built by packaging/debian/build-deb.sh from a
//! release build, installed with dpkg, run as installed (as root, so it
//! must drop to the `roost` account), used by curl, then purged.
//!
//! Runs only as root on a machine with dpkg-deb; otherwise it says so and
//! passes. It changes the machine (a package, a system account), so it
//! holds a lock against a parallel run, and it never touches a Roost an
//! administrator installed: if the package, /etc/roost, /var/lib/roost,
//! /usr/sbin/roost or a roost account or group is there before it starts,
//! it says so and passes without doing anything. Whatever it installs and
//! creates it takes away again, whatever happens.

use crate::common::dovecot::running_as_root;
use crate::common::{passwd_line, run_tool};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
const LOCK: &str = "/run/lock/roost-package-test";
const UNIT: &str = "/lib/systemd/system/roost.service";

/// What the package installs, and what purge must take away.
const INSTALLED: &[&str] = &[
    "/usr/sbin/roost",
    "/etc/roost/roost.conf",
    "/etc/roost/passwd",
    UNIT,
    "/usr/share/man/man8/roost.8.gz",
    "/usr/share/man/man5/roost.conf.5.gz",
    "/usr/share/doc/roost/copyright",
    "/usr/share/doc/roost/changelog.gz",
    "/usr/share/doc/roost/README.md.gz",
    "/var/lib/roost",
];

fn have(path: &str) -> bool {
    Path::new(path).exists()
}

/// Runs a command to completion; (success, stdout + stderr).
fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// dpkg, retried while another process holds the dpkg lock.
fn dpkg(args: &[&str]) -> (bool, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (ok, out) = run("dpkg", args);
        if ok || !out.contains("lock") || Instant::now() > deadline {
            return (ok, out);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn installed() -> bool {
    let (ok, out) = run("dpkg-query", &["-W", "-f", "${Status}", "roost"]);
    ok && out.contains("install ok installed")
}

fn account_exists(db: &str) -> bool {
    run("getent", &[db, "roost"]).0
}

/// A lock directory against another run of this test on the machine;
/// taken over when the process that made it is gone.
struct MachineLock;

impl MachineLock {
    fn take() -> MachineLock {
        // The other holder may be building the package.
        let deadline = Instant::now() + BUILD_LIMIT + Duration::from_secs(600);
        loop {
            if std::fs::create_dir(LOCK).is_ok() {
                std::fs::write(format!("{LOCK}/pid"), std::process::id().to_string()).unwrap();
                return MachineLock;
            }
            let holder = std::fs::read_to_string(format!("{LOCK}/pid")).unwrap_or_default();
            if holder.is_empty() || !have(&format!("/proc/{}", holder.trim())) {
                let _ = std::fs::remove_dir_all(LOCK);
                continue;
            }
            assert!(Instant::now() < deadline, "{LOCK} held by {holder}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for MachineLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(LOCK);
    }
}

/// What this test put on the machine, taken away on drop whatever
/// happened: the package and the roost account and group (which purge
/// keeps). Made only after `existing_install` found none of them.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if installed() {
            let _ = dpkg(&["--purge", "roost"]);
        }
        if account_exists("passwd") {
            let _ = run("deluser", &["--system", "--quiet", "roost"]);
        }
        if account_exists("passwd") {
            let _ = run("userdel", &["roost"]);
        }
        if account_exists("group") {
            let _ = run("delgroup", &["--system", "--quiet", "roost"]);
        }
        if account_exists("group") {
            let _ = run("groupdel", &["roost"]);
        }
    }
}

/// Why the machine already has a Roost this test must leave alone, if it
/// does: a package in any state dpkg knows (config-files after a remove
/// included), its files, or its account.
fn existing_install() -> Option<String> {
    let (_, status) = run("dpkg-query", &["-W", "-f", "${Status}", "roost"]);
    if !status.trim().is_empty()
        && !status.contains("not-installed")
        && !status.contains("no packages found")
    {
        return Some(format!("dpkg knows a roost package ({})", status.trim()));
    }
    for path in ["/etc/roost", "/var/lib/roost", "/usr/sbin/roost", UNIT] {
        if have(path) {
            return Some(format!("{path} exists"));
        }
    }
    for db in ["passwd", "group"] {
        if account_exists(db) {
            return Some(format!("a roost entry exists in the {db} database"));
        }
    }
    None
}

/// What a run of the package test did.
#[derive(Debug)]
enum Outcome {
    Ran,
    /// Left the machine as it was, for this reason.
    Skipped(String),
}

/// The installed server, stopped on drop.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Longest a release build may take on a slow, shared machine.
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Runs build-deb.sh; returns (path of the .deb, its output). The
/// environment is cleared to what a shell would have, so cargo sees the
/// same settings as a release build run by hand and reuses target/release
/// (the variables `cargo test` sets for tests would make it rebuild).
fn build_deb() -> (String, String) {
    let script = format!("{MANIFEST}/packaging/debian/build-deb.sh");
    let mut command = Command::new(&script);
    command.env_clear();
    for var in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
    ] {
        if let Ok(v) = std::env::var(var) {
            command.env(var, v);
        }
    }
    let child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    let group = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(BUILD_LIMIT) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // The whole group: the script, cargo and its compilers.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
            panic!("build-deb.sh did not finish within {BUILD_LIMIT:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "build-deb.sh failed:\n{log}");
    (stdout.lines().last().unwrap_or("").to_string(), log)
}

fn can_run() -> bool {
    running_as_root() && have("/usr/bin/dpkg-deb") && have("/usr/bin/dpkg")
}

#[test]
fn deb_installs_serves_as_roost_and_purges_clean() {
    if !can_run() {
        eprintln!("skipped: the package test needs root and dpkg-deb (Debian, CI)");
        return;
    }
    let _lock = MachineLock::take();
    if let Outcome::Skipped(why) = install_serve_purge() {
        eprintln!(
            "skipped: {why}. This machine has a Roost install (or what is left of one) \
             that the package test must not touch; run it on a machine without one. \
             If it is left over from an interrupted run of this test: \
             dpkg --purge roost; deluser --system roost; delgroup --system roost"
        );
    }
}

/// An administrator's /etc/roost stands for any existing install: the
/// package test leaves it exactly as it was and installs nothing.
#[test]
fn an_existing_install_is_never_touched() {
    if !can_run() {
        eprintln!("skipped: the package test needs root and dpkg-deb (Debian, CI)");
        return;
    }
    let _lock = MachineLock::take();
    if let Some(why) = existing_install() {
        eprintln!("skipped: {why}; the machine has a real install already");
        return;
    }
    /// Takes the stand-in install away again, only what was made here.
    struct StandIn;
    impl Drop for StandIn {
        fn drop(&mut self) {
            let _ = std::fs::remove_file("/etc/roost/roost.conf");
            let _ = std::fs::remove_dir("/etc/roost");
        }
    }
    std::fs::create_dir("/etc/roost").unwrap();
    let _stand_in = StandIn;
    let conf = "# the administrator's own configuration\nlisten = 127.0.0.1:143\n";
    std::fs::write("/etc/roost/roost.conf", conf).unwrap();

    let outcome = install_serve_purge();
    assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string("/etc/roost/roost.conf").unwrap(),
        conf
    );
    assert!(!installed(), "the package was installed");
    assert!(!account_exists("passwd"), "a roost account was made");
}

/// Builds, installs, runs and purges the package, unless the machine has
/// a Roost already.
fn install_serve_purge() -> Outcome {
    if let Some(why) = existing_install() {
        return Outcome::Skipped(why);
    }
    let (deb, log) = build_deb();
    assert!(deb.ends_with(".deb") && have(&deb), "no .deb:\n{log}");
    if have("/usr/bin/lintian") {
        let (_, report) = run("lintian", &["--tag-display-limit", "0", &deb]);
        assert!(
            !report.lines().any(|l| l.starts_with("E: ")),
            "lintian errors:\n{report}"
        );
    } else {
        eprintln!("note: lintian is not installed; the .deb was not linted");
    }

    let _installed = Installed;
    let (ok, out) = dpkg(&["-i", &deb]);
    assert!(ok, "dpkg -i: {out}");
    for path in INSTALLED {
        assert!(have(path), "{path} not installed");
    }
    let (_, pw) = run("getent", &["passwd", "roost"]);
    let fields: Vec<&str> = pw.trim().split(':').collect();
    let roost_uid: u32 = fields[2].parse().unwrap();
    let roost_gid: u32 = fields[3].parse().unwrap();
    assert!(roost_uid > 0 && roost_uid < 1000, "a system uid: {pw}");
    let passwd = std::fs::metadata("/etc/roost/passwd").unwrap();
    assert_eq!(passwd.mode() & 0o777, 0o640);
    assert_eq!((passwd.uid(), passwd.gid()), (0, roost_gid));
    let (_, conffiles) = run("dpkg-query", &["-W", "-f", "${Conffiles}", "roost"]);
    assert!(conffiles.contains("/etc/roost/roost.conf"), "{conffiles}");
    if have("/usr/bin/systemd-analyze") {
        let (ok, out) = run("systemd-analyze", &["verify", UNIT]);
        assert!(
            ok && !out.contains("roost.service:"),
            "systemd-analyze verify:\n{out}"
        );
    } else {
        eprintln!("note: systemd-analyze is not installed; the unit was not verified");
    }

    // A user in the installed users file, with a Maildir roost owns.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let maildir = tmp.path().join("pkguser/Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let msg = "From: a@example.org\r\nSubject: packaged\r\n\r\nServed by the installed roost.\r\n";
    std::fs::write(maildir.join("cur/1700000000.M1P1.pkg:2,S"), msg).unwrap();
    for p in [tmp.path().join("pkguser"), maildir.clone()] {
        std::os::unix::fs::chown(&p, Some(roost_uid), Some(roost_gid)).unwrap();
    }
    for sub in ["cur", "new", "tmp", "cur/1700000000.M1P1.pkg:2,S"] {
        std::os::unix::fs::chown(maildir.join(sub), Some(roost_uid), Some(roost_gid)).unwrap();
    }
    let mut users = std::fs::read_to_string("/etc/roost/passwd").unwrap();
    users.push_str(&passwd_line(tmp.path(), "pkguser", "secret"));
    std::fs::write("/etc/roost/passwd", users).unwrap();

    let location = format!("mail_location={}/%u/Maildir", tmp.path().display());
    let mut child = Command::new("/usr/sbin/roost")
        .args(["-c", "/etc/roost/roost.conf", "-o", "listen=127.0.0.1:0"])
        .args(["-o", &location])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let served = Served(child);
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let port = line
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok());
    let Some(port) = port else {
        drop(served);
        panic!("no listening line: {line:?}\n{}", log.join().unwrap());
    };

    let status = std::fs::read_to_string(format!("/proc/{}/status", served.0.id())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == roost_uid.to_string()),
        "not running as roost: {uid_line}"
    );

    let url = format!("imap://127.0.0.1:{port}/INBOX;UID=1");
    let (ok, out, err) = run_tool("curl", &["-sS", "-u", "pkguser:secret", &url], b"");
    assert!(ok, "curl: {err}");
    assert_eq!(out, msg);
    drop(served);
    let log = log.join().unwrap();
    assert!(log.contains("user=pkguser"), "{log}");

    let (ok, out) = dpkg(&["--purge", "roost"]);
    assert!(ok, "dpkg --purge: {out}");
    assert!(!installed());
    for path in INSTALLED
        .iter()
        .chain(&["/etc/roost", "/usr/share/doc/roost"])
    {
        assert!(!have(path), "{path} left after purge");
    }
    // The mail is the administrator's, and stays; so does the account
    // that owns it, so its uid cannot go to the next system account.
    let kept = maildir.join("cur/1700000000.M1P1.pkg:2,S");
    assert_eq!(std::fs::metadata(&kept).unwrap().uid(), roost_uid);
    let (_, pw_after) = run("getent", &["passwd", "roost"]);
    assert_eq!(
        pw_after.trim(),
        pw.trim(),
        "account roost not kept by purge"
    );
    assert!(account_exists("group"), "group roost not kept by purge");
    // `_installed` takes the account away now that the test is done.
    Outcome::Ran
}
