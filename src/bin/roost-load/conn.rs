//! One IMAP connection: sends commands and cuts the byte stream into whole
//! responses (lines plus the literals they announce), each read bounded
//! by a deadline.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Bytes asked of the socket per read.
const CHUNK: usize = 64 * 1024;
/// A response larger than this is treated as a protocol failure.
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

pub enum ReadError {
    /// The server closed the connection (or reset it).
    Closed(String),
    /// Nothing complete before the deadline.
    Timeout,
    /// Framing that cannot be followed (a huge literal).
    Framing(String),
}

pub struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
    /// Where the search for the current response's next CRLF resumes;
    /// past the end of `buf` while a literal is still arriving.
    scan: usize,
    next_tag: u32,
}

impl Conn {
    pub fn connect(addr: &str, timeout: Duration) -> io::Result<Conn> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(sock) => {
                    sock.set_nodelay(true)?;
                    sock.set_write_timeout(Some(timeout))?;
                    return Ok(Conn {
                        sock,
                        buf: Vec::with_capacity(4096),
                        scan: 0,
                        next_tag: 1,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    pub fn tag(&mut self) -> String {
        let t = format!("L{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sock.write_all(bytes)?;
        self.sock.flush()
    }

    /// The next whole response without its final CRLF, or Timeout if none
    /// is complete by `deadline` (what arrived so far is kept).
    pub fn read(&mut self, deadline: Instant) -> Result<Vec<u8>, ReadError> {
        // Each pass either returns or reads at least one byte, and the
        // deadline bounds the waiting.
        loop {
            if let Some(end) = self.complete()? {
                let raw = self.buf[..end - 2].to_vec();
                self.buf.drain(..end);
                self.scan = 0;
                return Ok(raw);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReadError::Timeout);
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.sock
                .set_read_timeout(Some(wait))
                .map_err(|e| ReadError::Closed(e.to_string()))?;
            let len = self.buf.len();
            self.buf.resize(len + CHUNK, 0);
            let got = self.sock.read(&mut self.buf[len..]);
            match got {
                Ok(0) => {
                    self.buf.truncate(len);
                    return Err(ReadError::Closed("end of stream".into()));
                }
                Ok(n) => self.buf.truncate(len + n),
                Err(e) => {
                    self.buf.truncate(len);
                    match e.kind() {
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {}
                        io::ErrorKind::Interrupted => {}
                        _ => return Err(ReadError::Closed(e.to_string())),
                    }
                }
            }
        }
    }

    /// The end (after CRLF) of the first whole response in `buf`, if any.
    fn complete(&mut self) -> Result<Option<usize>, ReadError> {
        loop {
            if self.scan > self.buf.len() {
                return Ok(None);
            }
            let Some(at) = memchr::memmem::find(&self.buf[self.scan..], b"\r\n") else {
                // Resume one byte back: a CR may be the last byte so far.
                self.scan = self.buf.len().saturating_sub(1).max(self.scan);
                if self.buf.len() > MAX_RESPONSE {
                    return Err(ReadError::Framing("a line longer than 256 MiB".into()));
                }
                return Ok(None);
            };
            let line_end = self.scan + at;
            match literal_len(&self.buf[..line_end]) {
                Some(n) => {
                    if n > MAX_RESPONSE {
                        return Err(ReadError::Framing(format!("a literal of {n} bytes")));
                    }
                    self.scan = line_end + 2 + n;
                }
                None => return Ok(Some(line_end + 2)),
            }
        }
    }
}

/// The length announced by a `{n}` at the end of a line.
fn literal_len(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&c| c == b'{')?;
    let digits = &body[open + 1..];
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn literal_lengths() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {12}"), Some(12));
        assert_eq!(literal_len(b"* OK {x}"), None);
        assert_eq!(literal_len(b"* OK }"), None);
        assert_eq!(literal_len(b"* OK fine"), None);
    }

    /// Responses split across reads at awkward places come out whole.
    #[test]
    fn responses_across_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            for piece in [
                &b"* OK hi\r"[..],
                b"\n* 1 FETCH (BODY[] {4}\r",
                b"\nab\r\n",
                b" UID 5)\r\n* 2 EXISTS\r\nL1 OK done\r\n",
            ] {
                s.write_all(piece).unwrap();
                s.flush().unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let mut c = Conn::connect(&addr, Duration::from_secs(5)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        for _ in 0..4 {
            match c.read(deadline) {
                Ok(r) => got.push(String::from_utf8(r).unwrap()),
                Err(_) => panic!("read failed"),
            }
        }
        assert_eq!(
            got,
            [
                "* OK hi",
                "* 1 FETCH (BODY[] {4}\r\nab\r\n UID 5)",
                "* 2 EXISTS",
                "L1 OK done"
            ]
        );
        server.join().unwrap();
        assert!(matches!(c.read(deadline), Err(ReadError::Closed(_))));
    }
}
