//! The command line: check, hash, --help/--version, errors and exit codes,
//! and `roost demo` serving a real client.

use crate::common::{run_tool, Client};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const ROOST: &str = env!("CARGO_BIN_EXE_roost");

#[test]
fn version_and_help() {
    let (ok, out, _) = run_tool(ROOST, &["--version"], b"");
    assert!(ok);
    assert_eq!(out.trim(), format!("roost {}", env!("CARGO_PKG_VERSION")));
    let (ok, out, _) = run_tool(ROOST, &["--help"], b"");
    assert!(ok);
    for word in [
        "serve",
        "demo",
        "hash",
        "check",
        "migrate-dovecot",
        "-o KEY=VALUE",
        "mail_location",
    ] {
        assert!(out.contains(word), "--help lacks {word}:\n{out}");
    }
}

#[test]
fn bad_option_exits_2_with_a_message() {
    let out = Command::new(ROOST).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
}

#[test]
fn check_prints_effective_settings_with_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("roost.conf");
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "").unwrap();
    std::fs::write(
        &conf,
        format!(
            "# test\nlisten = 127.0.0.1:0\nplaintext_auth = never\npasswd_file = {}\n\
             allow_root = yes\n",
            passwd.display()
        ),
    )
    .unwrap();
    let out = Command::new(ROOST)
        .args(["check", "-c"])
        .arg(&conf)
        .args(["-o", "max_connections=7"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "listen = 127.0.0.1:0",
        "plaintext_auth = never",
        "max_connections = 7",
        "mail_location = %h/Maildir",
        "user = ",
        "allow_root = yes",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
}

/// A configuration with one of each problem `roost check` looks for, then
/// the same with the problems fixed.
#[test]
fn check_reports_files_permissions_and_ports() {
    use std::os::unix::fs::PermissionsExt;
    let root = crate::common::dovecot::running_as_root();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let passwd = base.join("passwd");
    std::fs::write(&passwd, crate::common::passwd_line(base, "ann", "secret")).unwrap();
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644)).unwrap();
    let maildir = base.join("home/ann/Maildir");
    std::fs::create_dir_all(&maildir).unwrap();
    std::fs::set_permissions(&maildir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap();
    // As root, judge access as an unprivileged account would have it.
    let account = if root { "user = nobody\n" } else { "" };
    let conf = base.join("roost.conf");
    std::fs::write(
        &conf,
        format!(
            "listen = {busy_addr}\npasswd_file = {}\ntls_cert = {}\ntls_key = {}\n{account}",
            passwd.display(),
            base.join("missing-cert.pem").display(),
            base.join("missing-key.pem").display(),
        ),
    )
    .unwrap();
    let out = Command::new(ROOST)
        .args(["check", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("tls_cert = "),
        "settings are still printed"
    );
    for needle in [
        "error: TLS: ",
        "missing-cert.pem",
        "warning: ",
        "is readable by every local user",
        &format!("error: cannot listen on {busy_addr}: the port is in use"),
        &format!("error: user ann: {} is not writable by", maildir.display()),
        "errors, ",
    ] {
        assert!(err.contains(needle), "{needle:?} missing:\n{err}");
    }

    // Fixed: private users file, no TLS, a free port, a writable Maildir.
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(&maildir, std::fs::Permissions::from_mode(0o700)).unwrap();
    if root {
        // nobody must read the users file (for reloads) and own the mail.
        std::os::unix::fs::chown(&passwd, Some(0), Some(65534)).unwrap();
        for p in [base.join("home/ann"), maildir.clone()] {
            std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        }
    }
    drop(busy);
    std::fs::write(
        &conf,
        format!(
            "listen = 127.0.0.1:0\npasswd_file = {}\n{account}",
            passwd.display()
        ),
    )
    .unwrap();
    let out = Command::new(ROOST)
        .args(["check", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("no problems found"), "{err}");

    // Serving as root is a problem check reports too.
    if root {
        let out = Command::new(ROOST)
            .args(["check", "-c"])
            .arg(&conf)
            .args(["-o", "user="])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("refusing to serve as root"), "{err}");
    }
}

#[test]
fn bad_config_line_names_file_and_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("roost.conf");
    std::fs::write(
        &conf,
        "listen = 127.0.0.1:1143\n\nlisten_tsl = 127.0.0.1:1993\n",
    )
    .unwrap();
    for sub in ["check", "serve"] {
        let out = Command::new(ROOST)
            .args([sub, "-c"])
            .arg(&conf)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{sub}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{}:3: unknown key \"listen_tsl\"", conf.display())),
            "{sub}: {err}"
        );
    }
    let out = Command::new(ROOST)
        .args(["check", "-c"])
        .arg(dir.path().join("missing.conf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.conf: cannot read"));
}

#[test]
fn migrate_dovecot_reads_stdin_and_reports_errors() {
    let (ok, out, err) = run_tool(
        ROOST,
        &["migrate-dovecot", "-"],
        b"listen = 127.0.0.1\nssl = no\npassdb {\n  driver = ldap\n}\npassdb {\n  driver = pam\n}\n",
    );
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l == "listen = 127.0.0.1:143"), "{out}");
    assert!(
        err.contains("not carried over: passdb 1 (driver ldap)"),
        "{err}"
    );
    assert!(out.contains("#  - passdb 1 (driver ldap)"), "{out}");
    // PAM is carried over (system users).
    assert!(out.lines().any(|l| l == "passdb = pam"), "{out}");
    let out = Command::new(ROOST)
        .args(["migrate-dovecot", "/nonexistent/doveconf.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/doveconf.txt"));
    let (ok, _, err) = run_tool(ROOST, &["migrate-dovecot", "-"], b"a {\n");
    assert!(!ok && err.contains("not closed"), "{err}");
    let out = Command::new(ROOST)
        .args(["migrate-dovecot", "a", "b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn hash_reads_stdin_and_prints_a_verifiable_hash() {
    for (scheme, prefix) in [
        (None, "{BLF-CRYPT}$2y$"),
        (Some("SHA512-CRYPT"), "{SHA512-CRYPT}$6$"),
        (Some("SHA256-CRYPT"), "{SHA256-CRYPT}$5$"),
    ] {
        let mut args = vec!["hash"];
        if let Some(s) = scheme {
            args.extend(["--scheme", s]);
        }
        let (ok, out, err) = run_tool(ROOST, &args, b"correct horse\n");
        assert!(ok, "{err}");
        let hash = out.trim();
        assert!(hash.starts_with(prefix), "{hash}");
        assert!(!out.contains("correct horse"));
        use roost::auth::scheme::{verify_password, Verify};
        assert_eq!(verify_password(hash, b"correct horse"), Verify::Match);
        assert_eq!(verify_password(hash, b"wrong"), Verify::Mismatch);
    }
    let (ok, _, err) = run_tool(ROOST, &["hash", "--scheme", "MD5"], b"x\n");
    assert!(!ok && err.contains("--scheme"), "{err}");
}

#[test]
fn demo_creates_a_tree_and_serves_user_demo() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(ROOST)
        .args(["demo", "--port", "0", "--tls-port", "0"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ports = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port: u16 = line
            .split_whitespace()
            .nth(2)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("listening line: {line:?}"));
        ports.push((port, line.contains("imaps")));
    }
    let plain = ports.iter().find(|p| !p.1).unwrap().0;
    let mut c = Client::plain(plain);
    let greeting = c.line();
    assert!(greeting.contains("STARTTLS"), "{greeting}");
    c.ok("LOGIN demo demo");
    let _ = child.kill();
    let _ = child.wait();
    let root = dir.path().join("roost-demo");
    for f in [
        "roost.conf",
        "passwd",
        "cert.pem",
        "key.pem",
        "demo/Maildir/cur",
        "demo/Maildir/.Sent/cur",
    ] {
        assert!(root.join(f).exists(), "{f} missing");
    }
}

/// The setups that passed `roost check` and then failed at login: a
/// folder's dovecot-uidlist the run-as account cannot read, users whose
/// password scheme Roost cannot verify, and mail (and a trace_dir) the
/// packaged unit's sandbox keeps read-only. Each is named with its fix;
/// once fixed, check is clean.
#[test]
fn check_names_uidlists_schemes_and_sandbox_paths_that_would_fail_logins() {
    use crate::common::dovecot::{hand_over, running_as_root};
    use std::os::unix::fs::PermissionsExt;
    // Outside /tmp and /var/tmp: the packaged unit's PrivateTmp would hide
    // them, and check would rightly say so instead. A clone under /tmp
    // has its target directory there too; then a system directory will do.
    let private = |p: &std::path::Path| p.starts_with("/tmp") || p.starts_with("/var/tmp");
    let Some(dir) = [env!("CARGO_TARGET_TMPDIR"), "/srv", "/opt", "/var/cache"]
        .into_iter()
        .map(std::path::Path::new)
        .filter(|p| !private(p))
        .find_map(|p| tempfile::tempdir_in(p).ok())
    else {
        eprintln!("no writable directory outside /tmp: check's sandbox test not run");
        return;
    };
    let base = dir.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let passwd = base.join("passwd");
    let mut users = crate::common::passwd_line(base, "ann", "secret");
    for (name, hash) in [
        ("old", "abJnggxhB/yJU"),
        ("older", "abJnggxhB/yJU"),
        // Salted with the user name and realm; Roost reads CRAM-MD5 now.
        ("dig", "{DIGEST-MD5}4b626f808aa26e1be6f69cfb24f2e271"),
    ] {
        let home = base.join("home").join(name);
        users.push_str(&format!("{name}:{hash}::::{}::\n", home.display()));
    }
    // A per-user mail location Roost cannot serve.
    let mbx_home = base.join("home/mbx");
    users.push_str(&format!(
        "mbx:{{PLAIN}}x::::{}::userdb_mail=mbox:~/mail\n",
        mbx_home.display()
    ));
    std::fs::write(&passwd, &users).unwrap();
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o640)).unwrap();
    let home = base.join("home/ann");
    let archive = home.join("Maildir/.Archive");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(home.join("Maildir").join(sub)).unwrap();
        std::fs::create_dir_all(archive.join(sub)).unwrap();
    }
    let uidlist = archive.join("dovecot-uidlist");
    std::fs::write(&uidlist, "3 V1700000000 N1 G0123\n").unwrap();
    hand_over(&home);
    std::fs::set_permissions(&uidlist, std::fs::Permissions::from_mode(0o000)).unwrap();
    if running_as_root() {
        std::os::unix::fs::chown(&uidlist, Some(0), Some(0)).unwrap();
        std::os::unix::fs::chown(&passwd, Some(0), Some(65534)).unwrap();
    }
    let unit = base.join("roost.service");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/roost.service"),
        &unit,
    )
    .unwrap();
    let account = if running_as_root() {
        "user = nobody\n"
    } else {
        ""
    };
    let conf = base.join("roost.conf");
    let traces = base.join("traces");
    std::fs::write(
        &conf,
        format!(
            "listen = 127.0.0.1:0\npasswd_file = {}\ntrace_dir = {}\n{account}",
            passwd.display(),
            traces.display()
        ),
    )
    .unwrap();
    let check = || {
        let out = Command::new(ROOST)
            .args(["check", "-c"])
            .arg(&conf)
            .arg("--unit")
            .arg(&unit)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    let (code, err) = check();
    assert_eq!(code, Some(1), "{err}");
    for needle in [
        // The unreadable uidlist, with the chown that fixes it.
        &format!("error: user ann: {} is not readable and writable", uidlist.display()),
        "fix: chown -R ",
        // Every user who cannot log in, by scheme.
        "2 users cannot log in: their passwords use DES-CRYPT, which Roost cannot verify: old, older",
        "1 user cannot log in: their passwords use DIGEST-MD5",
        "user mbx: userdb_mail=mbox:~/mail: Roost serves Maildir only, not mbox",
        // The sandbox: which paths it allows and the line to add.
        "is read-only (Read-only file system); the unit lets Roost write only to: /var/mail /var/vmail /var/lib/roost /var/log/roost",
        &format!(
            "the mail of ann, dig, old, older ({}) is read-only",
            home.join("Maildir").display()
        ),
        &format!(
            "add under [Service]: ReadWritePaths={} ",
            base.components().take(3).collect::<std::path::PathBuf>().display()
        ),
        &format!("trace_dir {} is read-only", traces.display()),
    ] {
        assert!(err.contains(needle), "{needle:?} missing:\n{err}");
    }

    // Fixed: the uidlist handed back, new hashes, a drop-in for the mail
    // and the trace directory the package ships.
    std::fs::set_permissions(&uidlist, std::fs::Permissions::from_mode(0o600)).unwrap();
    hand_over(&home);
    std::fs::write(&passwd, crate::common::passwd_line(base, "ann", "secret")).unwrap();
    std::fs::create_dir(base.join("roost.service.d")).unwrap();
    std::fs::write(
        base.join("roost.service.d/mail.conf"),
        format!("[Service]\nReadWritePaths={}\n", base.display()),
    )
    .unwrap();
    let (code, err) = check();
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("error:"), "{err}");
}

/// A demo whose port is taken says so and stops, without first printing
/// "running" and instructions for a server that never started.
#[test]
fn demo_on_a_busy_port_fails_before_claiming_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(ROOST)
        .args(["demo", "--port", &port, "--tls-port", "0"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")) && err.contains("--port N"),
        "{err}"
    );
    assert!(
        !err.contains("is running") && !err.contains("Press Ctrl-C"),
        "{err}"
    );
}
