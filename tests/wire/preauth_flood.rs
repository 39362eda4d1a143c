//! A flood of connections that never log in must not lock out a real user
//! (issue 14, item 4): when the caps are reached, the oldest connection
//! still waiting to log in is closed to make room, and only logged-in
//! sessions can fill the server.

use crate::common::{TestServer, TIMEOUT};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};

/// A connection that never logs in, greeting read.
struct Idle {
    reader: BufReader<TcpStream>,
}

impl Idle {
    /// Connects from `source` (on Linux every 127.x.y.z address is local)
    /// and waits for the greeting, so connections are admitted in order.
    fn open(source: Ipv4Addr, port: u16) -> Idle {
        let tcp = connect_from(source, port);
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(TIMEOUT)).unwrap();
        let mut reader = BufReader::new(tcp);
        let mut greeting = String::new();
        reader.read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("* OK "), "{greeting:?}");
        Idle { reader }
    }

    /// Whether the server said BYE and closed this connection.
    fn was_closed_with_bye(&mut self) -> bool {
        let mut lines = Vec::new();
        for _ in 0..10 {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => lines.push(line),
            }
        }
        lines.len() == 1 && lines[0].starts_with("* BYE ")
    }

    /// Whether the connection is still served.
    fn answers_noop(&mut self) -> bool {
        if self.reader.get_mut().write_all(b"n NOOP\r\n").is_err() {
            return false;
        }
        let mut line = String::new();
        self.reader.read_line(&mut line).is_ok() && line.starts_with("n OK")
    }
}

fn connect_from(source: Ipv4Addr, port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    if source == Ipv4Addr::LOCALHOST {
        return TcpStream::connect((source, port)).unwrap();
    }
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns; it is
    // handed to TcpStream only once connected.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let from = sockaddr(source, 0);
        let rc = libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len);
        assert_eq!(rc, 0, "bind {source}: {}", std::io::Error::last_os_error());
        let to = sockaddr(Ipv4Addr::LOCALHOST, port);
        let rc = libc::connect(fd, (&to as *const libc::sockaddr_in).cast(), len);
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        stream
    }
}

/// A real user logs in and opens INBOX at once.
fn real_user_gets_in(server: &TestServer) {
    let mut c = server.connect();
    c.ok("LOGIN alice secret");
    c.ok("SELECT INBOX");
}

/// The first `closed` connections got BYE and were closed; the rest are
/// still served.
fn check_oldest_closed(idle: &mut [Idle], closed: usize) {
    for (i, c) in idle.iter_mut().enumerate() {
        if i < closed {
            assert!(c.was_closed_with_bye(), "connection {i} was not closed");
        } else {
            assert!(c.answers_noop(), "connection {i} was closed");
        }
    }
}

#[test]
fn idle_connections_from_one_address_do_not_lock_out_a_login() {
    let server = TestServer::builder()
        .opt("max_connections_per_ip", "20")
        .start();
    let mut idle: Vec<Idle> = (0..30)
        .map(|_| Idle::open(Ipv4Addr::LOCALHOST, server.port))
        .collect();
    real_user_gets_in(&server);
    // 30 then the user's own connection, 20 places: the first 11 made room.
    check_oldest_closed(&mut idle, 11);
    server.wait_for_log("made room: closed the oldest connection from 127.0.0.1");
}

#[test]
fn idle_connections_from_many_addresses_do_not_lock_out_a_login() {
    let server = TestServer::builder()
        .opt("max_connections", "24")
        .opt("max_connections_per_ip", "20")
        .start();
    // Logged in before the flood: never closed to make room.
    let mut early = server.login();
    let mut idle = Vec::new();
    for _ in 0..10 {
        for last in 2..=5 {
            idle.push(Idle::open(Ipv4Addr::new(127, 0, 0, last), server.port));
        }
    }
    real_user_gets_in(&server);
    // 24 places, one taken by `early`: of 40 + the user, the first 18 of
    // the flood made room.
    check_oldest_closed(&mut idle, 18);
    early.ok("NOOP");
}

#[test]
fn logged_in_sessions_alone_can_fill_the_server() {
    let server = TestServer::builder().opt("max_connections", "2").start();
    let _a = server.login();
    let _b = server.login();
    let mut c = crate::common::Client::plain(server.port);
    let line = c.line();
    assert!(
        line.starts_with("* BYE Too many connections, try again later."),
        "{line}"
    );
    server.wait_for_log("max_connections (2) reached, all logged in");
}

/// The soft limit on open files, from /proc (no unsafe call needed).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn thousands_of_idle_connections_at_the_default_limits() {
    // The numbers: 300 from one address, then 1,000 from 12.
    const FLOOD: usize = 300 + 12 * 84;
    match open_file_limit() {
        // The server keeps up to three descriptors per connection.
        Some(n) if n >= 3 * FLOOD as u64 + 1024 => {}
        other => {
            eprintln!(
                "note: open-file limit {other:?} is too low for {FLOOD} connections \
                 on each side (ulimit -n); test skipped"
            );
            return;
        }
    }
    let server = TestServer::start();
    let mut idle = Vec::with_capacity(FLOOD);
    for _ in 0..300 {
        idle.push(Idle::open(Ipv4Addr::LOCALHOST, server.port));
    }
    for _ in 0..84 {
        for last in 2..=13 {
            idle.push(Idle::open(Ipv4Addr::new(127, 0, 0, last), server.port));
        }
    }
    real_user_gets_in(&server);
    // 127.0.0.1 keeps its newest 100 (max_connections_per_ip); the other
    // addresses then fill the 1,000 places (max_connections) and make
    // room with the oldest waiting anywhere: those 100 first, then 8 of
    // their own, and the user 1 more.
    check_oldest_closed(&mut idle, 300 + 8 + 1);
}
