//! COMPRESS=DEFLATE (RFC 4978): a client that deflates with flate2 over
//! plain TCP and over TLS, and one using Python's zlib (the C library) over
//! STARTTLS. Every wait is bounded by a socket read timeout: a response the
//! server left in its compressor never arrives, and the read fails.

use crate::common::{code_capabilities, run_tool, TestServer, TIMEOUT};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a pushed IDLE response may take: a bound that only a response
/// stuck in the server's compressor (or a lost wake-up) exceeds.
const PUSH_BOUND: Duration = Duration::from_secs(3);

enum Raw {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Raw {
    fn tcp(&self) -> &TcpStream {
        match self {
            Raw::Plain(t) => t,
            Raw::Tls(s) => &s.sock,
        }
    }
}

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Raw::Plain(t) => t.read(buf),
            Raw::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Raw {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Raw::Plain(t) => t.write(buf),
            Raw::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Raw::Plain(t) => t.flush(),
            Raw::Tls(s) => s.flush(),
        }
    }
}

/// An IMAP client that can switch on DEFLATE.
struct ZClient {
    raw: Raw,
    /// IMAP bytes received (inflated) and not yet consumed.
    buf: Vec<u8>,
    z: Option<(Compress, Decompress)>,
    next_tag: u32,
}

impl ZClient {
    fn plain(server: &TestServer) -> ZClient {
        Self::start(Raw::Plain(tcp(server.port)))
    }

    fn tls(server: &TestServer) -> ZClient {
        let tcp = tcp(server.tls_port.expect("TLS port"));
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(server.ca.client_config(), name).unwrap();
        Self::start(Raw::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }

    fn start(raw: Raw) -> ZClient {
        let mut c = ZClient {
            raw,
            buf: Vec::new(),
            z: None,
            next_tag: 1,
        };
        let greeting = c.line();
        assert!(greeting.starts_with("* OK "), "{greeting}");
        assert!(
            !code_capabilities(&greeting).contains(&"COMPRESS=DEFLATE".to_string()),
            "advertised before login: {greeting}"
        );
        c
    }

    /// Logs in and turns compression on.
    fn login_compressed(server: &TestServer, tls: bool) -> ZClient {
        let mut c = if tls {
            Self::tls(server)
        } else {
            Self::plain(server)
        };
        c.ok("LOGIN alice secret");
        c.compress();
        c
    }

    /// COMPRESS DEFLATE: the OK comes uncompressed, everything after not.
    fn compress(&mut self) {
        self.send(b"z COMPRESS DEFLATE\r\n");
        assert_eq!(self.line(), "z OK DEFLATE active");
        // The server sends nothing more before the next command.
        assert!(self.buf.is_empty(), "bytes after the OK: {:?}", self.buf);
        self.start_inflating(Compress::new(Compression::default(), false));
    }

    fn set_timeout(&self, t: Duration) {
        self.raw.tcp().set_read_timeout(Some(t)).unwrap();
    }

    /// Deflates `data` with a sync flush (compression must be on).
    fn deflate(&mut self, data: &[u8]) -> Vec<u8> {
        let (c, _) = self.z.as_mut().expect("compression is off");
        let mut out = Vec::with_capacity(data.len() / 2 + 4096);
        let mut fed = 0;
        for _ in 0..1_000_000 {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity());
            }
            let before = c.total_in();
            c.compress_vec(&data[fed..], &mut out, FlushCompress::Sync)
                .unwrap();
            fed += (c.total_in() - before) as usize;
            if fed == data.len() && out.len() < out.capacity() {
                return out;
            }
        }
        panic!("deflate did not finish");
    }

    /// Sends IMAP bytes, deflated when compression is on.
    fn send(&mut self, data: &[u8]) {
        let bytes = if self.z.is_some() {
            self.deflate(data)
        } else {
            data.to_vec()
        };
        self.send_raw(&bytes);
    }

    /// Sends bytes exactly as given.
    fn send_raw(&mut self, bytes: &[u8]) {
        self.raw.write_all(bytes).unwrap();
        self.raw.flush().unwrap();
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = self.raw.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if self.z.is_some() {
            self.inflate(&chunk[..n])
        } else {
            self.buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
    }

    /// Inflates received bytes onto `buf`.
    fn inflate(&mut self, input: &[u8]) -> std::io::Result<()> {
        let (_, d) = self.z.as_mut().expect("compression is off");
        let mut used = 0;
        for _ in 0..1_000_000 {
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(64 * 1024);
            }
            let before = d.total_in();
            d.decompress_vec(&input[used..], &mut self.buf, FlushDecompress::None)
                .map_err(std::io::Error::other)?;
            used += (d.total_in() - before) as usize;
            if used == input.len() && self.buf.len() < self.buf.capacity() {
                return Ok(());
            }
        }
        panic!("inflate did not finish");
    }

    /// Turns compression on with the client's deflate stream `deflater`;
    /// whatever was received after the OK is compressed already.
    fn start_inflating(&mut self, deflater: Compress) {
        self.z = Some((deflater, Decompress::new(false)));
        let after_ok = std::mem::take(&mut self.buf);
        self.inflate(&after_ok).unwrap();
    }

    fn raw_line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    /// One response line, literals joined in (CRLF kept), as
    /// `common::Client::line` does.
    fn try_line(&mut self) -> std::io::Result<String> {
        let mut out = Vec::new();
        loop {
            let raw = self.raw_line()?;
            out.extend_from_slice(&raw);
            let text = String::from_utf8_lossy(&raw).into_owned();
            let literal = text
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            let Some(n) = literal else {
                return Ok(String::from_utf8_lossy(&out).into_owned());
            };
            out.extend_from_slice(b"\r\n");
            while self.buf.len() < n {
                self.fill()?;
            }
            out.extend(self.buf.drain(..n));
        }
    }

    fn line(&mut self) -> String {
        self.try_line()
            .unwrap_or_else(|e| panic!("reading a line: {e}"))
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("t{}", self.next_tag)
    }

    /// Lines up to the one tagged `tag`: (untagged, tagged text).
    fn reply(&mut self, tag: &str) -> (Vec<String>, String) {
        let prefix = format!("{tag} ");
        let mut untagged = Vec::new();
        for _ in 0..100_000 {
            let line = self.line();
            if let Some(rest) = line.strip_prefix(&prefix) {
                return (untagged, rest.to_string());
            }
            untagged.push(line);
        }
        panic!("no reply for {tag}");
    }

    fn cmd(&mut self, command: &str) -> (Vec<String>, String) {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes());
        self.reply(&tag)
    }

    fn ok(&mut self, command: &str) -> Vec<String> {
        let (untagged, tagged) = self.cmd(command);
        assert!(
            tagged.starts_with("OK"),
            "{command} -> {tagged} {untagged:?}"
        );
        untagged
    }

    /// APPEND with a synchronizing literal: the `+` continuation must come
    /// through the compressor unasked.
    fn append_sync(&mut self, mailbox: &str, msg: &[u8]) {
        let tag = self.tag();
        self.send(format!("{tag} APPEND {mailbox} {{{}}}\r\n", msg.len()).as_bytes());
        let cont = self.line();
        assert!(cont.starts_with("+ "), "{cont}");
        let mut data = msg.to_vec();
        data.extend_from_slice(b"\r\n");
        self.send(&data);
        let (_, tagged) = self.reply(&tag);
        assert!(tagged.starts_with("OK [APPENDUID "), "{tagged}");
    }
}

fn tcp(port: u16) -> TcpStream {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(TIMEOUT)).unwrap();
    tcp
}

/// A message of about `size` bytes whose lines all differ, so it does not
/// shrink to nothing.
fn message(subject: &str, size: usize) -> Vec<u8> {
    let mut m = format!("From: a@example.org\r\nSubject: {subject}\r\n\r\n").into_bytes();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut i = 0u64;
    while m.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        m.extend_from_slice(format!("line {i} {x:016x} {}\r\n", x % 977).as_bytes());
        i += 1;
    }
    m
}

/// Login, COMPRESS, APPEND (synchronizing and non-synchronizing literals,
/// one of several MB), SELECT, FETCH every body back, LOGOUT.
fn full_session(server: &TestServer, tls: bool) {
    let mut c = ZClient::login_compressed(server, tls);
    let caps = c.ok("CAPABILITY");
    assert!(caps[0].contains(" COMPRESS=DEFLATE"), "{caps:?}");
    let msgs = [
        message("small", 300),
        message("medium", 40_000),
        message("large", 5 << 20),
    ];
    c.append_sync("INBOX", &msgs[0]);
    c.append_sync("INBOX", &msgs[2]);
    let tag = c.tag();
    let mut cmd = format!("{tag} APPEND INBOX {{{}+}}\r\n", msgs[1].len()).into_bytes();
    cmd.extend_from_slice(&msgs[1]);
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd);
    assert!(c.reply(&tag).1.starts_with("OK [APPENDUID "));
    let select = c.ok("SELECT INBOX");
    assert!(select.contains(&"* 3 EXISTS".to_string()), "{select:?}");
    let fetched = c.ok("FETCH 1:3 (BODY.PEEK[])");
    assert_eq!(fetched.len(), 3);
    for (n, msg) in [(1, &msgs[0]), (2, &msgs[2]), (3, &msgs[1])] {
        let line = &fetched[n - 1];
        let want = format!(
            "* {n} FETCH (BODY[] {{{}}}\r\n{})",
            msg.len(),
            String::from_utf8_lossy(msg)
        );
        assert!(*line == want, "message {n} differs ({} bytes)", line.len());
    }
    let (untagged, tagged) = c.cmd("LOGOUT");
    assert!(untagged[0].starts_with("* BYE"), "{untagged:?}");
    assert!(tagged.starts_with("OK"), "{tagged}");
    let log = server.wait_for_log("logout (logout)");
    let line = log.lines().find(|l| l.contains("logout (logout)")).unwrap();
    let field = |name: &str| -> u64 {
        let at = line
            .find(&format!(" {name}="))
            .unwrap_or_else(|| panic!("{line}"));
        let rest = &line[at + name.len() + 2..];
        rest[..rest.find(' ').unwrap()].parse().unwrap()
    };
    // IMAP bytes exceed what crossed the wire compressed.
    assert!(field("out") > 5 << 20, "{line}");
    assert!(field("deflate_out") < field("out"), "{line}");
    assert!(field("deflate_in") < field("in"), "{line}");
}

#[test]
fn session_over_plain_tcp() {
    full_session(&TestServer::start(), false);
}

#[test]
fn session_over_tls() {
    full_session(&TestServer::start(), true);
}

/// IDLE while compressed: `+ idling`, a push caused by another session,
/// and DONE arriving compressed together with earlier data.
fn idle_session(server: &TestServer, tls: bool) {
    let mut c = ZClient::login_compressed(server, tls);
    c.ok("SELECT INBOX");
    c.set_timeout(PUSH_BOUND);
    c.send(b"i1 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    let mut other = server.login();
    other.append("INBOX", "", "Subject: pushed\r\n\r\nhi\r\n");
    // Read fails after PUSH_BOUND if the push sits in the compressor.
    let mut seen = false;
    for _ in 0..10 {
        if c.line() == "* 1 EXISTS" {
            seen = true;
            break;
        }
    }
    assert!(seen, "no EXISTS pushed");
    c.set_timeout(TIMEOUT);
    c.send(b"DONE\r\n");
    assert_eq!(c.reply("i1").1, "OK Idle completed.");
    // IDLE and DONE in one compressed flush.
    c.send(b"i2 IDLE\r\nDONE\r\n");
    assert_eq!(c.line(), "+ idling");
    assert_eq!(c.reply("i2").1, "OK Idle completed.");
    // Each deflated on its own, both in one packet, a command after them.
    let mut packet = c.deflate(b"i3 IDLE\r\n");
    packet.extend(c.deflate(b"DONE\r\n"));
    packet.extend(c.deflate(b"i4 NOOP\r\n"));
    c.send_raw(&packet);
    assert_eq!(c.line(), "+ idling");
    assert_eq!(c.reply("i3").1, "OK Idle completed.");
    assert!(c.reply("i4").1.starts_with("OK"));
    // DONE deflated, then sent a byte at a time.
    c.send(b"i5 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    for b in c.deflate(b"DONE\r\n") {
        c.send_raw(&[b]);
    }
    assert_eq!(c.reply("i5").1, "OK Idle completed.");
}

#[test]
fn idle_pushes_arrive_compressed_over_plain_tcp() {
    idle_session(&TestServer::start(), false);
}

#[test]
fn idle_pushes_arrive_compressed_over_tls() {
    idle_session(&TestServer::start(), true);
}

#[test]
fn commands_pipelined_with_compress_are_inflated() {
    let server = TestServer::start();
    let mut c = ZClient::plain(&server);
    c.ok("LOGIN alice secret");
    // Compress the follow-up commands with a private stream and send them
    // in the same write as COMPRESS itself.
    let mut deflater = Compress::new(Compression::default(), false);
    let mut packet = b"z COMPRESS DEFLATE\r\n".to_vec();
    let start = packet.len();
    packet.reserve(4096);
    deflater
        .compress_vec(
            b"p1 NOOP\r\np2 SELECT INBOX\r\n",
            &mut packet,
            FlushCompress::Sync,
        )
        .unwrap();
    assert!(packet.len() > start);
    c.send_raw(&packet);
    assert_eq!(c.line(), "z OK DEFLATE active");
    // The replies to p1 and p2 may have come in the same read as the OK.
    c.start_inflating(deflater);
    assert!(c.reply("p1").1.starts_with("OK"));
    let (untagged, tagged) = c.reply("p2");
    assert!(tagged.starts_with("OK [READ-WRITE]"), "{tagged}");
    assert!(untagged.contains(&"* 0 EXISTS".to_string()), "{untagged:?}");
    c.ok("NOOP");
}

#[test]
fn compress_errors() {
    let server = TestServer::start();
    let mut c = ZClient::plain(&server);
    // Not before login (RFC 4978 §5: command-auth).
    assert!(c.cmd("COMPRESS DEFLATE").1.starts_with("BAD"));
    c.ok("LOGIN alice secret");
    // Unknown mechanism or none: BAD, and compression stays off.
    assert!(c.cmd("COMPRESS BZIP9").1.starts_with("BAD"));
    assert!(c.cmd("COMPRESS").1.starts_with("BAD"));
    c.ok("NOOP");
    c.compress();
    c.ok("SELECT INBOX");
    let (_, tagged) = c.cmd("COMPRESS DEFLATE");
    assert!(tagged.starts_with("NO [COMPRESSIONACTIVE]"), "{tagged}");
    // Still compressed, still working.
    c.ok("NOOP");
}

#[test]
fn garbage_instead_of_deflate_ends_the_session() {
    let server = TestServer::start();
    let mut c = ZClient::plain(&server);
    c.ok("LOGIN alice secret");
    c.compress();
    // Uncompressed text is not a valid deflate stream.
    c.send_raw(b"\xffx NOOP\r\n");
    let mut buf = [0u8; 64];
    let closed = matches!(c.raw.read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "server kept the session");
    server.wait_for_log("read failed");
    // The server itself is fine.
    ZClient::login_compressed(&server, false).ok("NOOP");
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_compression_bomb_is_inflated_within_the_usual_limits() {
    let server = TestServer::start();
    let mut c = ZClient::login_compressed(&server, false);
    c.ok("NOOP");
    let before = peak_rss_kib(server.pid());
    // A 32 MiB command line costs the client a few dozen KiB of deflate.
    let mut line = b"b1 NOOP ".to_vec();
    line.resize(32 << 20, b'a');
    line.extend_from_slice(b"\r\nb2 NOOP\r\n");
    let bomb = c.deflate(&line);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    c.send_raw(&bomb);
    let (_, tagged) = c.reply("b1");
    assert!(tagged.starts_with("BAD [TOOBIG]"), "{tagged}");
    assert!(c.reply("b2").1.starts_with("OK"));
    let grown = peak_rss_kib(server.pid()).saturating_sub(before);
    assert!(grown < 16 << 10, "server grew by {grown} KiB");
}

/// Python's zlib (the C library, wbits=-15) drives a session over STARTTLS:
/// an independent DEFLATE implementation on the other side.
#[test]
fn python_zlib_client_over_starttls() {
    let server = TestServer::start();
    let ca = server.root().join("ca.pem");
    std::fs::write(&ca, &server.ca.ca_pem).unwrap();
    let script = format!(
        r#"
import socket, ssl, zlib, sys
ctx = ssl.create_default_context(cafile={ca:?})
raw = socket.create_connection(("127.0.0.1", {port}), timeout=20)
buf = b""
def plain_line():
    global buf
    while b"\r\n" not in buf:
        d = s.recv(65536)
        if not d: sys.exit("eof")
        buf += d
    line, buf = buf.split(b"\r\n", 1)
    return line
s = raw
assert plain_line().startswith(b"* OK")
s.sendall(b"a STARTTLS\r\n")
assert plain_line().startswith(b"a OK")
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"b LOGIN alice secret\r\n")
while not plain_line().startswith(b"b OK"): pass
s.sendall(b"c COMPRESS DEFLATE\r\n")
assert plain_line() == b"c OK DEFLATE active"
assert buf == b""
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
decomp = zlib.decompressobj(-15)
def send(data):
    s.sendall(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))
def line():
    global buf
    while b"\r\n" not in buf:
        d = s.recv(65536)
        if not d: sys.exit("eof while compressed")
        buf += decomp.decompress(d)
    l, buf = buf.split(b"\r\n", 1)
    return l
def reply(tag):
    lines = []
    for _ in range(100000):
        l = line()
        if l.startswith(tag + b" "):
            return lines, l
        lines.append(l)
    sys.exit("no reply")
msg = b"Subject: zlib\r\n\r\n" + b"".join(b"body line %d\r\n" % i for i in range(2000))
send(b"d APPEND INBOX {{%d}}\r\n" % len(msg))
assert line().startswith(b"+ "), "no continuation"
send(msg + b"\r\n")
_, t = reply(b"d"); assert t.startswith(b"d OK [APPENDUID"), t
send(b"e SELECT INBOX\r\nf FETCH 1 (BODY.PEEK[])\r\n")
_, t = reply(b"e"); assert t.startswith(b"e OK"), t
# The literal's CRLFs split it into lines; join them back.
lines, t = reply(b"f"); assert t.startswith(b"f OK"), t
got = b"\r\n".join(lines)
assert got == b"* 1 FETCH (BODY[] {{%d}}\r\n" % len(msg) + msg + b")", got[:200]
send(b"g LOGOUT\r\n")
lines, t = reply(b"g"); assert t.startswith(b"g OK") and lines[0].startswith(b"* BYE"), (lines, t)
print("zlib ok")
"#,
        ca = ca.to_str().unwrap(),
        port = server.port,
    );
    let (ok, out, err) = run_tool("python3", &["-c", &script], b"");
    assert!(
        ok && out.contains("zlib ok"),
        "stdout:\n{out}\nstderr:\n{err}"
    );
}
