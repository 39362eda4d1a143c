//! A short run of the load and consistency tester against the real
//! server: ten clients, three users, twenty seconds of the full command
//! mix. It must find no inconsistency and no error. Nothing here asserts
//! on speed.

use crate::common::TestServer;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The run takes 20 s plus setup; this bounds a hung tester.
const LIMIT: Duration = Duration::from_secs(180);

#[test]
fn twenty_seconds_of_mixed_load_stay_consistent() {
    let server = TestServer::builder()
        .user("bob", "hunter2")
        .user("carol", "swordfish")
        .no_tls()
        .start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost-load"))
        .args(["--server", &format!("127.0.0.1:{}", server.port)])
        .args(["--user", "alice:secret", "--user", "bob:hunter2"])
        .args(["--user", "carol:swordfish"])
        .args(["--clients", "10", "--duration", "20", "--seed", "8"])
        .args(["--seed-messages", "30", "--history", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run roost-load");
    // Drain both pipes on threads so a full pipe never stalls the tester.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("roost-load did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = out.join().unwrap();
    let err = err.join().unwrap();
    let report = format!("roost-load exited with {status}\n{out}\n{err}");
    assert!(
        out.contains("inconsistencies: 0"),
        "inconsistencies found:\n{report}"
    );
    assert!(status.success(), "{report}");
    // The mix really ran: every kind of command shows in the table.
    for kind in [
        "APPEND",
        "COPY",
        "EXPUNGE",
        "FETCH BODY[]",
        "IDLE",
        "MOVE",
        "SEARCH",
        "STORE",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(kind)),
            "no {kind} in the report:\n{report}"
        );
    }
}
