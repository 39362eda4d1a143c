//! `roost check` on lmtp_listen / auth_listen: a missing directory, a
//! socket in use, and the systemd sandbox.

use std::os::unix::net::UnixListener;
use std::process::Command;

#[test]
fn check_reports_socket_problems() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path();
    std::fs::write(base.join("passwd"), "").unwrap();
    let busy = base.join("busy");
    let _other_server = UnixListener::bind(&busy).unwrap();
    let conf = base.join("roost.conf");
    std::fs::write(
        &conf,
        format!(
            "listen = 127.0.0.1:0\npasswd_file = {b}/passwd\nallow_root = yes\n\
             lmtp_listen = unix:{b}/missing/lmtp\nauth_listen = unix:{}\n",
            busy.display(),
            b = base.display()
        ),
    )
    .unwrap();
    let unit = base.join("roost.service");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/roost.service"),
        &unit,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["check", "-c"])
        .arg(&conf)
        .arg("--unit")
        .arg(&unit)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for needle in [
        format!(
            "error: lmtp_listen: {b}/missing/lmtp: the directory {b}/missing does not exist",
            b = base.display()
        ),
        format!(
            "warning: auth_listen: {} is in use by another running server",
            busy.display()
        ),
        format!(
            "error: auth_listen: under {} Roost cannot create",
            unit.display()
        ),
        format!("ReadWritePaths={}", base.display()),
    ] {
        assert!(err.contains(&needle), "{needle:?} missing:\n{err}");
    }
}
