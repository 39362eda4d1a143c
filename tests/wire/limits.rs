//! Input bounds: long lines and big literals get a clear answer, the
//! session goes on, and other clients are unaffected.

use crate::common::TestServer;

#[test]
fn overlong_line_gets_bad_and_session_continues() {
    let server = TestServer::builder().opt("max_line_length", "8192").start();
    let mut c = server.connect();
    let mut line = b"a1 NOOP ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 100_000));
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    let reply = c.line();
    assert!(reply.starts_with("a1 BAD [TOOBIG]"), "{reply}");
    c.ok("NOOP");
    // Another client is served meanwhile.
    server.login().ok("NOOP");
}

#[test]
fn oversized_synchronizing_literal_is_refused_without_continuation() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 LOGIN {100000}\r\n");
    let reply = c.line();
    assert!(reply.starts_with("a1 NO [TOOBIG]"), "{reply}");
    c.ok("LOGIN alice secret");
}

#[test]
fn oversized_nonsynchronizing_literal_is_skipped() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut cmd = b"a1 LOGIN {100000+}\r\n".to_vec();
    cmd.extend(std::iter::repeat_n(b'z', 100_000));
    cmd.extend_from_slice(b" secret\r\na2 NOOP\r\n");
    c.send(&cmd);
    let reply = c.line();
    assert!(reply.starts_with("a1 NO [TOOBIG]"), "{reply}");
    let reply = c.line();
    assert!(reply.starts_with("a2 OK"), "{reply}");
}

#[test]
fn absurd_nonsynchronizing_literal_closes_the_connection() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"a1 LOGIN {99999999999+}\r\n");
    let reply = c.line();
    assert!(reply.starts_with("* BYE"), "{reply}");
    assert!(c.closed());
    server.login().ok("NOOP");
}

#[test]
fn garbage_gets_bad_and_too_much_garbage_gets_bye() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.send(b"\r\n");
    assert!(c.line().starts_with("* BAD"));
    c.send(b"GET / HTTP/1.1\r\n");
    assert!(c.line().starts_with("GET BAD"));
    c.ok("NOOP");
    // One write: sent line by line, the last ones could meet a socket
    // the server has already closed (a broken pipe here, or a reset that
    // throws away the BYE before it is read).
    c.send(&b"x FROB\r\n".repeat(25));
    let mut saw_bye = false;
    for _ in 0..25 {
        match c.try_line() {
            Ok(l) if l.starts_with("* BYE") => {
                saw_bye = true;
                break;
            }
            Ok(l) => assert!(l.starts_with("x BAD"), "{l}"),
            Err(_) => break,
        }
    }
    assert!(saw_bye, "BYE after many bad commands");
}

#[test]
fn two_hundred_concurrent_connections_are_greeted_and_logged_in() {
    // All from one address and one user: lift the per-address and
    // per-user caps this test is not about.
    let server = TestServer::builder()
        .opt("max_connections_per_ip", "1000")
        .opt("max_sessions_per_user", "1000")
        .start();
    let port = server.port;
    let clients: Vec<_> = (0..200)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = crate::common::Client::plain(port);
                let greeting = c.line();
                assert!(greeting.starts_with("* OK [CAPABILITY"), "{greeting}");
                c.ok("LOGIN alice secret");
                c
            })
        })
        .collect();
    let mut connected: Vec<_> = clients
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    // All 200 are open at once; each still answers.
    for c in &mut connected {
        c.ok("NOOP");
    }
}

#[test]
fn connections_over_the_cap_get_bye() {
    // Logged in: connections still waiting to log in would make room
    // (tests/wire/preauth_flood.rs).
    let server = TestServer::builder().opt("max_connections", "2").start();
    let _a = server.login();
    let _b = server.login();
    let mut c = crate::common::Client::plain(server.port);
    let line = c.line();
    assert!(line.starts_with("* BYE"), "{line}");
    drop(_a);
    // The slot frees once the server notices the close.
    let deadline = std::time::Instant::now() + crate::common::TIMEOUT;
    loop {
        let mut c = crate::common::Client::plain(server.port);
        if c.line().starts_with("* OK") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn connections_per_address_waiting_to_log_in_are_capped() {
    let server = TestServer::builder()
        .opt("max_connections_per_ip", "3")
        .start();
    let mut held: Vec<_> = (0..3).map(|_| server.connect()).collect();
    // A fourth is served; the oldest of the three makes room.
    let mut c = server.connect();
    let line = held[0].line();
    assert!(
        line.starts_with("* BYE Too many connections waiting to log in"),
        "{line}"
    );
    assert!(held[0].closed());
    server.wait_for_log("made room: closed the oldest connection from 127.0.0.1");
    c.ok("LOGIN alice secret");
    held[1].ok("NOOP");
    held[2].ok("NOOP");
}

#[test]
fn sessions_per_user_are_capped() {
    let server = TestServer::builder()
        .opt("max_sessions_per_user", "2")
        .start();
    let a = server.login();
    let _b = server.login();
    let mut c = server.connect();
    let r = c.cmd("LOGIN alice secret");
    assert_eq!(r.tagged, "NO [LIMIT] Too many sessions for this user.");
    drop(a);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !c.cmd("LOGIN alice secret").tagged.starts_with("OK") {
        assert!(std::time::Instant::now() < deadline, "no session came free");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn command_and_mailbox_limits_come_from_the_configuration() {
    let server = TestServer::builder()
        .opt("max_sequence_ranges", "16")
        .opt("max_search_depth", "4")
        .opt("max_mailbox_name_length", "16")
        .opt("max_mailbox_depth", "2")
        .opt("max_mailboxes", "3")
        .start();
    let mut c = server.login();
    c.ok("SELECT INBOX");
    let set: Vec<String> = (1..=16).map(|n| (n * 2).to_string()).collect();
    c.ok(&format!("UID FETCH {} (FLAGS)", set.join(",")));
    let r = c.cmd(&format!("UID FETCH {},99 (FLAGS)", set.join(",")));
    assert!(r.tagged.starts_with("BAD"), "{}", r.tagged);
    c.ok("SEARCH ((((ALL))))");
    let r = c.cmd("SEARCH (((((ALL)))))");
    assert!(r.tagged.starts_with("BAD"), "{}", r.tagged);
    let r = c.cmd("CREATE abcdefghijklmnopq");
    assert!(r.tagged.starts_with("NO [LIMIT]"), "{}", r.tagged);
    let r = c.cmd("CREATE a.b.c");
    assert!(r.tagged.starts_with("NO [LIMIT]"), "{}", r.tagged);
    c.ok("CREATE a.b");
    let r = c.cmd("RENAME a.b a.b.c");
    assert!(r.tagged.starts_with("NO [LIMIT]"), "{}", r.tagged);
    // INBOX and a.b make two; the third folder is the last one allowed.
    c.ok("CREATE c");
    let r = c.cmd("CREATE d");
    assert!(r.tagged.starts_with("NO [LIMIT]"), "{}", r.tagged);
}

#[test]
fn a_client_trickling_bytes_must_still_log_in_in_time() {
    use std::io::{BufRead, Write};
    use std::time::{Duration, Instant};
    let server = TestServer::builder().opt("login_timeout_secs", "5").start();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut reader = std::io::BufReader::new(tcp.try_clone().unwrap());
    let start = Instant::now();
    let mut seen = String::new();
    // One byte every 300 ms never completes a command but never idles.
    for b in b"a LOGIN alice secret and more".iter().cycle() {
        if start.elapsed() > Duration::from_secs(15) || tcp.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            seen.push_str(&line);
            line.clear();
        }
        if seen.contains("* BYE") {
            break;
        }
    }
    assert!(seen.contains("* BYE Login timed out."), "{seen}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

/// The server's peak resident memory so far, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// A short command naming every message thousands of times (`1:*,1:*,…`)
/// costs what naming each once does: ranges are merged before anything is
/// expanded. Before, 16,000 copies of `1:*` on 2,000 messages took 250 MB.
#[test]
fn repeated_ranges_do_not_multiply_memory() {
    let server = TestServer::start();
    let cur = server.root().join("home/alice/Maildir/cur");
    std::fs::create_dir_all(&cur).unwrap();
    for i in 0..2000 {
        let name = format!("{}.M{i}P1.host,S=20,W=22:2,", 1_600_000_000 + i);
        std::fs::write(cur.join(name), "Subject: x\n\nbody\n").unwrap();
    }
    let mut c = server.login();
    c.ok("SELECT INBOX");
    c.ok("NOOP");
    let before = peak_kib(server.pid());
    let set = vec!["1:*"; 15_000].join(",");
    for command in [
        format!("FETCH {set} (UID)"),
        format!("UID FETCH {set} (FLAGS)"),
        format!("STORE {set} +FLAGS.SILENT (\\Seen)"),
        format!("UID STORE {set} -FLAGS.SILENT (\\Seen)"),
        format!("SEARCH {set}"),
        format!("UID SEARCH UID {set}"),
        format!("COPY {set} INBOX"),
        format!("UID EXPUNGE {set}"),
    ] {
        let r = c.cmd(&command);
        assert!(
            r.tagged.starts_with("OK"),
            "{}: {}",
            &command[..20],
            r.tagged
        );
    }
    let grown = peak_kib(server.pid()).saturating_sub(before);
    eprintln!("peak memory grew by {grown} KiB");
    assert!(grown < 16 * 1024, "peak memory grew by {grown} KiB");
}
