//! Privilege drop: started as root, the server binds, then serves as the
//! configured `user`; serving as root needs `allow_root = yes`.

use crate::common::dovecot::running_as_root;
use crate::common::TestServer;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const NOBODY: u32 = 65534;

/// The `Uid:`/`Gid:`/`Groups:` fields of /proc/PID/status.
fn ids(pid: u32) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in status"))
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    };
    (field("Uid:"), field("Gid:"), field("Groups:"))
}

fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), uid);
        }
    }
}

#[test]
fn root_drops_to_the_configured_user_and_still_serves_mail() {
    if !running_as_root() {
        eprintln!("skipped: needs root to switch users (privileges.rs unit tests cover the rules)");
        return;
    }
    let server = TestServer::builder()
        .user("bob", "secret")
        .opt("user", "nobody")
        .opt("allow_root", "no")
        .start();
    let (uid, gid, groups) = ids(server.pid());
    assert_eq!(uid, vec![NOBODY; 4], "real, effective, saved, fs uid");
    assert_eq!(gid, vec![NOBODY; 4], "real, effective, saved, fs gid");
    assert!(!groups.contains(&0), "root's groups kept: {groups:?}");

    // alice's Maildir belongs to nobody; bob's to root alone.
    let root = server.root();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let alice = root.join("home/alice/Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(alice.join(sub)).unwrap();
    }
    std::fs::write(
        alice.join("cur/1700000000.M1P1.test:2,S"),
        "From: a@example.org\r\nSubject: dropped\r\n\r\nhello\r\n",
    )
    .unwrap();
    chown_tree(&root.join("home/alice"), NOBODY);
    let bob = root.join("home/bob/Maildir");
    std::fs::create_dir_all(bob.join("cur")).unwrap();
    std::fs::set_permissions(
        root.join("home/bob"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();

    let mut c = server.login();
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])");
    let text = r.untagged.join("\n");
    assert!(text.contains("Subject: dropped"), "{text}");
    assert!(text.contains("\\Seen"), "{text}");
    c.ok("LOGOUT");
    // Files the server wrote belong to nobody.
    let uidlist = std::fs::metadata(alice.join("dovecot-uidlist")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&uidlist), NOBODY);

    // Root could open bob's Maildir; nobody cannot.
    let mut c = server.connect();
    let r = c.cmd("LOGIN bob secret");
    assert!(r.tagged.starts_with("NO"), "{r:?}");
}

/// Runs `roost serve` on a minimal configuration with these extra lines and
/// returns (exit code, stderr); the server must exit by itself.
fn serve_expecting_exit(extra: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("passwd"), "").unwrap();
    let conf = dir.path().join("roost.conf");
    std::fs::write(
        &conf,
        format!(
            "listen = 127.0.0.1:0\npasswd_file = {}\n{extra}",
            dir.path().join("passwd").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["serve", "-c"])
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serving_as_root_needs_allow_root() {
    // Whoever runs the tests, `user = root` means serving as root.
    let (code, err) = serve_expecting_exit("user = root\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("refusing to serve as root"), "{err}");
    let (code, err) = serve_expecting_exit("user = no-such-account-x\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no account named"), "{err}");
    if running_as_root() {
        let (code, err) = serve_expecting_exit("");
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("allow_root"), "{err}");
    } else {
        // Switching to another account needs root: a runtime failure.
        let (code, err) = serve_expecting_exit("user = root\nallow_root = yes\n");
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("cannot switch to user root"), "{err}");
    }
}
