//! Command framing: turns the client's byte stream into whole commands.
//!
//! Owns CRLF (and bare LF) line splitting, synchronizing `{n}` and
//! non-synchronizing `{n+}` literals (RFC 3501 §4.3, RFC 7888), the `+`
//! continuation for synchronizing literals, and the size limits. It does not
//! parse anything beyond the literal markers: the framed bytes go to
//! `proto::parse`, a pure function.
//!
//! The reader is resumable: partial input lives in its own buffers, so a read
//! that times out (IDLE polls with short timeouts) loses nothing and the next
//! call continues where the last one stopped.

use std::io::{self, Read, Write};

/// How many bytes one `read()` asks for.
const READ_CHUNK: usize = 16 * 1024;

/// How many times its per-literal limit one command's literals may add up
/// to (RFC 3502 MULTIAPPEND sends several messages in one command).
const LITERALS_PER_LIMIT: u64 = 4;

/// Bytes kept from the end of a discarded line: room for `{` + 19 digits + `+}`.
const DISCARD_TAIL: usize = 24;

/// Limits applied while framing; see `config::Limits` for the defaults.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest command line outside literals (the sum of all line parts).
    pub max_line: usize,
    /// Largest literal accepted in any command but APPEND.
    pub max_literal: usize,
    /// Largest literal accepted in APPEND (a message).
    pub max_append_literal: usize,
    /// A non-synchronizing literal over the limit is read and thrown away so
    /// the session can go on (RFC 7888 §4, choice 1) only up to this size;
    /// beyond it the connection is closed.
    pub max_discard: u64,
    /// RFC 7888 §5 LITERAL-: non-synchronizing literals over 4096 bytes
    /// are refused (read and dropped, the command answered BAD [TOOBIG]).
    pub literal_minus: bool,
}

/// The largest non-synchronizing literal LITERAL- allows (RFC 7888 §5).
pub const LITERAL_MINUS_MAX: u64 = 4096;

/// One framed command: its bytes, with each literal's position recorded so the
/// protocol trace can redact bodies without re-parsing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Framed {
    /// The command as sent, line parts joined with CRLF, without the final CRLF.
    pub bytes: Vec<u8>,
    /// `(offset, length)` of every literal's data inside `bytes`.
    pub literals: Vec<(usize, usize)>,
    /// APPEND literals too big to hold in memory, in order: each was
    /// written to a file and stands in `bytes` as an empty literal.
    pub spooled: Vec<Spooled>,
}

/// An APPEND literal the reader wrote to a file (see `CommandReader::
/// set_spool`). The file is removed when this is dropped, unless it was
/// renamed away first (then the removal finds nothing).
#[derive(Debug, PartialEq, Eq)]
pub struct Spooled {
    pub path: std::path::PathBuf,
    /// Bytes as sent.
    pub size: u64,
    /// RFC822.SIZE: `size` plus one for each LF without a CR before it.
    pub vsize: u64,
    /// Where its empty literal's data starts in the framed bytes: how the
    /// handler tells it from a literal that really is empty (a CATENATE
    /// TEXT part may be).
    pub at: usize,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            // Gone already if the store moved it into the mailbox.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Opens a new spool file (the session knows where: the user's `tmp/`).
pub type SpoolOpener = Box<dyn FnMut() -> io::Result<(std::fs::File, std::path::PathBuf)> + Send>;

/// A literal being written to its spool file.
struct Spooling {
    file: std::fs::File,
    spooled: Spooled,
    last_was_cr: bool,
    failed: Option<io::Error>,
}

/// Why a command could not be framed.
#[derive(Debug)]
pub enum ReadError {
    /// The transport failed (including read timeouts: `kind()` is
    /// `WouldBlock` or `TimedOut`, and the reader can be called again).
    Io(io::Error),
    /// The client closed the connection (partial input is dropped).
    Eof,
    /// A line was longer than `max_line`; it was discarded through its end.
    LineTooLong { tag: Option<Vec<u8>> },
    /// A literal was over its limit. For a synchronizing literal no `+` was
    /// sent and the rest of the command was skipped; for a non-synchronizing
    /// one its bytes were read and dropped.
    LiteralTooBig { tag: Option<Vec<u8>>, size: u64 },
    /// A non-synchronizing literal so large that reading it to stay in sync
    /// is not worth it: the connection must be closed.
    LiteralWayTooBig { size: u64 },
    /// Under LITERAL-, a non-synchronizing literal over 4096 bytes; its
    /// bytes were read and dropped (RFC 7888 §5: tagged BAD [TOOBIG]).
    NonSyncTooBig { tag: Option<Vec<u8>>, size: u64 },
    /// An APPEND literal could not be written to its spool file (a full
    /// disk); its bytes were read and the command dropped.
    Spool {
        tag: Option<Vec<u8>>,
        error: io::Error,
    },
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// What the framer is doing with the bytes it sees next.
#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Collecting a line into `current`.
    Line,
    /// Copying this many more literal bytes into `current`.
    Literal(u64),
    /// Dropping this many more literal bytes, then the rest of the command.
    DiscardLiteral(u64),
    /// Dropping input through the next LF (overlong line or rejected command),
    /// then reporting `pending_error`.
    DiscardLine,
    /// Writing this many more literal bytes to `spooling`.
    Spool(u64),
}

/// Frames commands from a stream; see the module docs.
pub struct CommandReader {
    buf: Vec<u8>,
    pos: usize,
    current: Framed,
    /// Bytes of the command's text outside literals seen so far.
    line_bytes: usize,
    phase: Phase,
    pending_error: Option<ReadError>,
    /// The last bytes of a line being discarded.
    discard_tail: Vec<u8>,
    /// Where big APPEND literals go, and from what size.
    spool: Option<(SpoolOpener, u64)>,
    spooling: Option<Spooling>,
}

impl Default for CommandReader {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandReader {
    pub fn new() -> Self {
        CommandReader {
            buf: Vec::new(),
            pos: 0,
            current: Framed::default(),
            line_bytes: 0,
            phase: Phase::Line,
            pending_error: None,
            discard_tail: Vec::new(),
            spool: None,
            spooling: None,
        }
    }

    /// From now on, APPEND literals larger than `threshold` bytes are
    /// written through `opener`'s files instead of held in memory (RFC 3501
    /// leaves the literal's bytes to the server; a 50 MB message should not
    /// cost 50 MB of RAM per connection).
    pub fn set_spool(&mut self, opener: SpoolOpener, threshold: u64) {
        self.spool = Some((opener, threshold));
    }

    /// A new spool file for a command handler building a message (CATENATE)
    /// of `size` bytes so far, when that is over the spool threshold.
    pub fn open_spool_if(
        &mut self,
        size: u64,
    ) -> Option<io::Result<(std::fs::File, std::path::PathBuf)>> {
        match self.spool.as_mut() {
            Some((open, threshold)) if size > *threshold => Some(open()),
            _ => None,
        }
    }

    /// Throws away everything received but not yet framed. STARTTLS calls
    /// this so bytes a client (or an attacker on the path) pipelined before
    /// the handshake are never executed as commands.
    pub fn discard_buffered(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.current = Framed::default();
        self.line_bytes = 0;
        self.phase = Phase::Line;
        self.pending_error = None;
        self.discard_tail.clear();
        self.spooling = None;
    }

    /// Hands over everything received but not yet framed and starts afresh.
    /// COMPRESS calls this between commands: what the client pipelined after
    /// it is compressed data for the transport's inflater, not commands.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.pos);
        self.discard_buffered();
        rest
    }

    /// True when received bytes are waiting to be framed.
    pub fn has_buffered(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// Reads one complete command. For a synchronizing literal within limits
    /// it writes `+ Ready for literal data` to `stream` and flushes it.
    pub fn read_command<S: Read + Write>(
        &mut self,
        stream: &mut S,
        limits: &Limits,
    ) -> Result<Framed, ReadError> {
        loop {
            if let Some(done) = self.step(stream, limits)? {
                return done;
            }
        }
    }

    /// Reads one plain line (no literal processing), e.g. a SASL response or
    /// `DONE`. The line is returned without its line ending.
    pub fn read_line<S: Read>(&mut self, stream: &mut S, max: usize) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(nl) = memchr(b'\n', &self.buf[self.pos..]) {
                let line = trim_cr(&self.buf[self.pos..self.pos + nl]).to_vec();
                self.pos += nl + 1;
                self.compact();
                if line.len() > max {
                    return Err(ReadError::LineTooLong { tag: None });
                }
                return Ok(line);
            }
            if self.buf.len() - self.pos > max + 2 {
                // Drop the overlong line through its end so we stay in sync.
                self.buf.clear();
                self.pos = 0;
                self.phase = Phase::DiscardLine;
                self.pending_error = Some(ReadError::LineTooLong { tag: None });
                return self.finish_discard_line(stream);
            }
            self.fill(stream)?;
        }
    }

    fn finish_discard_line<S: Read>(&mut self, stream: &mut S) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(nl) = memchr(b'\n', &self.buf[self.pos..]) {
                self.pos += nl + 1;
                self.compact();
                self.phase = Phase::Line;
                let err = self
                    .pending_error
                    .take()
                    .unwrap_or(ReadError::LineTooLong { tag: None });
                return Err(err);
            }
            self.buf.clear();
            self.pos = 0;
            self.fill(stream)?;
        }
    }

    /// Advances framing by whatever is buffered, reading once if nothing is.
    /// Returns `Some(result)` when a command (or a framing error) is complete.
    #[allow(clippy::type_complexity)]
    fn step<S: Read + Write>(
        &mut self,
        stream: &mut S,
        limits: &Limits,
    ) -> Result<Option<Result<Framed, ReadError>>, ReadError> {
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.fill(stream)?;
        }
        let avail = &self.buf[self.pos..];
        match self.phase {
            Phase::Line => {
                let (chunk, complete) = match memchr(b'\n', avail) {
                    Some(nl) => (&avail[..nl], true),
                    None => (avail, false),
                };
                if self.line_bytes + chunk.len() > limits.max_line {
                    let tag = self.tag_of_current_or(chunk);
                    let trailing_literal = literal_marker(trim_cr(chunk));
                    self.consume_pending_line(complete, chunk.len());
                    self.pending_error = Some(ReadError::LineTooLong { tag });
                    self.phase = match (complete, trailing_literal) {
                        (false, _) => Phase::DiscardLine,
                        // Stay in sync past a literal the client sends anyway.
                        (true, Some((size, false))) => Phase::DiscardLiteral(size),
                        (true, _) => return Ok(Some(Err(self.take_error()))),
                    };
                    return Ok(None);
                }
                if !complete {
                    // Keep the partial line in `current` so `buf` can be reused.
                    let n = chunk.len();
                    self.current.bytes.extend_from_slice(chunk);
                    self.line_bytes += n;
                    self.pos += n;
                    return Ok(None);
                }
                let n = chunk.len();
                self.current.bytes.extend_from_slice(chunk);
                self.line_bytes += n;
                self.pos += n + 1;
                // Only this line part (after the last literal's data) may end
                // in the CR of its CRLF or in a literal marker; a literal's
                // own bytes are data (found by fuzzing: `{6}` + "scret\r\n").
                let line_start = self
                    .current
                    .literals
                    .last()
                    .map_or(0, |&(off, len)| off + len);
                // A CR may have been split off into the previous chunk.
                if self.current.bytes.len() > line_start
                    && self.current.bytes.last() == Some(&b'\r')
                {
                    self.current.bytes.pop();
                }
                match literal_marker(&self.current.bytes[line_start..]) {
                    None => {
                        self.compact();
                        let framed = std::mem::take(&mut self.current);
                        self.line_bytes = 0;
                        Ok(Some(Ok(framed)))
                    }
                    Some((size, sync)) => self.start_literal(stream, limits, size, sync),
                }
            }
            Phase::Spool(left) => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(avail.len());
                let chunk = &avail[..take];
                self.pos += take;
                let left = left - take as u64;
                if let Some(sp) = self.spooling.as_mut() {
                    if sp.failed.is_none() {
                        if let Err(e) = sp.file.write_all(chunk) {
                            sp.failed = Some(e);
                        }
                    }
                    let mut prev_cr = sp.last_was_cr;
                    for &b in chunk {
                        if b == b'\n' && !prev_cr {
                            sp.spooled.vsize += 1;
                        }
                        prev_cr = b == b'\r';
                    }
                    sp.last_was_cr = prev_cr;
                }
                if left > 0 {
                    self.phase = Phase::Spool(left);
                    return Ok(None);
                }
                self.phase = Phase::Line;
                if let Some(mut sp) = self.spooling.take() {
                    // Durable before the client can hear OK for it.
                    let synced = match sp.failed.take() {
                        Some(e) => Err(e),
                        None => sp.file.sync_all(),
                    };
                    match synced {
                        Ok(()) => self.current.spooled.push(sp.spooled),
                        Err(e) => {
                            let tag = first_word(&self.current.bytes).map(<[u8]>::to_vec);
                            self.pending_error = Some(ReadError::Spool { tag, error: e });
                            self.phase = Phase::DiscardLine;
                        }
                    }
                }
                Ok(None)
            }
            Phase::Literal(left) => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(avail.len());
                self.current.bytes.extend_from_slice(&avail[..take]);
                self.pos += take;
                let left = left - take as u64;
                self.phase = if left == 0 {
                    Phase::Line
                } else {
                    Phase::Literal(left)
                };
                Ok(None)
            }
            Phase::DiscardLiteral(left) => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(avail.len());
                self.pos += take;
                let left = left - take as u64;
                self.phase = if left == 0 {
                    // The command's remaining line (and anything after it up
                    // to its end) belongs to the rejected command.
                    Phase::DiscardLine
                } else {
                    Phase::DiscardLiteral(left)
                };
                Ok(None)
            }
            Phase::DiscardLine => {
                let (chunk, complete) = match memchr(b'\n', avail) {
                    Some(nl) => (&avail[..nl], true),
                    None => (avail, false),
                };
                // Keep only the line's tail: enough to spot a literal marker.
                self.discard_tail.extend_from_slice(chunk);
                let excess = self.discard_tail.len().saturating_sub(DISCARD_TAIL);
                self.discard_tail.drain(..excess);
                self.pos += chunk.len() + usize::from(complete);
                if !complete {
                    return Ok(None);
                }
                let tail = std::mem::take(&mut self.discard_tail);
                // A further literal in a rejected command: keep dropping.
                if let Some((size, false)) = literal_marker(trim_cr(&tail)) {
                    self.phase = Phase::DiscardLiteral(size);
                    return Ok(None);
                }
                self.phase = Phase::Line;
                self.compact();
                Ok(Some(Err(self.take_error())))
            }
        }
    }

    /// Called with `current` ending in a literal marker `{n}` / `{n+}`.
    #[allow(clippy::type_complexity)]
    fn start_literal<S: Read + Write>(
        &mut self,
        stream: &mut S,
        limits: &Limits,
        size: u64,
        sync: bool,
    ) -> Result<Option<Result<Framed, ReadError>>, ReadError> {
        let limit = if is_append(&self.current.bytes) {
            limits.max_append_literal
        } else {
            limits.max_literal
        };
        // All literals of one command are held in memory together (several
        // messages in a MULTIAPPEND): at most LITERALS_PER_LIMIT limits' worth.
        let held: u64 = self.current.literals.iter().map(|&(_, n)| n as u64).sum();
        let total_limit = (limit as u64).saturating_mul(LITERALS_PER_LIMIT);
        if !sync && limits.literal_minus && size > LITERAL_MINUS_MAX {
            if size > limits.max_discard {
                return Ok(Some(Err(ReadError::LiteralWayTooBig { size })));
            }
            let tag = first_word(&self.current.bytes).map(<[u8]>::to_vec);
            self.current = Framed::default();
            self.line_bytes = 0;
            self.pending_error = Some(ReadError::NonSyncTooBig { tag, size });
            self.phase = Phase::DiscardLiteral(size);
            return Ok(None);
        }
        if size > limit as u64 || held.saturating_add(size) > total_limit {
            let tag = first_word(&self.current.bytes).map(<[u8]>::to_vec);
            self.current = Framed::default();
            self.line_bytes = 0;
            if sync {
                // RFC 3501 §7.5: the server may refuse a literal by sending a
                // tagged response instead of the continuation; the client
                // then abandons the command and sends nothing more of it.
                self.phase = Phase::Line;
                self.compact();
                return Ok(Some(Err(ReadError::LiteralTooBig { tag, size })));
            }
            if size > limits.max_discard {
                return Ok(Some(Err(ReadError::LiteralWayTooBig { size })));
            }
            self.pending_error = Some(ReadError::LiteralTooBig { tag, size });
            self.phase = Phase::DiscardLiteral(size);
            return Ok(None);
        }
        let threshold = self.spool.as_ref().map(|(_, t)| *t);
        if threshold.is_some_and(|t| size > t) && is_append(&self.current.bytes) {
            return self.start_spool(stream, size, sync);
        }
        self.current.bytes.extend_from_slice(b"\r\n");
        let start = self.current.bytes.len();
        // `size` fits: it is under a usize limit.
        let len = size as usize;
        self.current.literals.push((start, len));
        self.current.bytes.reserve(len.min(1 << 20));
        if sync {
            stream.write_all(b"+ Ready for literal data\r\n")?;
            stream.flush()?;
        }
        self.phase = if size == 0 {
            Phase::Line
        } else {
            Phase::Literal(size)
        };
        Ok(None)
    }

    /// A big APPEND literal: its bytes go to a spool file; in `bytes` it
    /// becomes an empty literal (`{0}`), which the APPEND handler matches
    /// with `spooled` in order (a real message is never empty).
    #[allow(clippy::type_complexity)]
    fn start_spool<S: Write>(
        &mut self,
        stream: &mut S,
        size: u64,
        sync: bool,
    ) -> Result<Option<Result<Framed, ReadError>>, ReadError> {
        let opened = match self.spool.as_mut() {
            Some((open, _)) => open(),
            None => Err(io::ErrorKind::Unsupported.into()),
        };
        let (file, path) = match opened {
            Ok(f) => f,
            Err(error) => {
                let tag = first_word(&self.current.bytes).map(<[u8]>::to_vec);
                self.current = Framed::default();
                self.line_bytes = 0;
                if sync {
                    self.phase = Phase::Line;
                    self.compact();
                    return Ok(Some(Err(ReadError::Spool { tag, error })));
                }
                self.pending_error = Some(ReadError::Spool { tag, error });
                self.phase = Phase::DiscardLiteral(size);
                return Ok(None);
            }
        };
        // Rewrite the marker `{n}` / `{n+}` / `~{n}` as an empty literal.
        if let Some(open) = self.current.bytes.iter().rposition(|&b| b == b'{') {
            let plus = self.current.bytes.ends_with(b"+}");
            self.current.bytes.truncate(open);
            self.current
                .bytes
                .extend_from_slice(if plus { b"{0+}" } else { b"{0}" });
        }
        self.current.bytes.extend_from_slice(b"\r\n");
        let start = self.current.bytes.len();
        self.current.literals.push((start, 0));
        self.spooling = Some(Spooling {
            file,
            spooled: Spooled {
                path,
                size,
                vsize: size,
                at: start,
            },
            last_was_cr: false,
            failed: None,
        });
        if sync {
            stream.write_all(b"+ Ready for literal data\r\n")?;
            stream.flush()?;
        }
        self.phase = Phase::Spool(size);
        Ok(None)
    }

    fn take_error(&mut self) -> ReadError {
        self.current = Framed::default();
        self.line_bytes = 0;
        self.pending_error
            .take()
            .unwrap_or(ReadError::LineTooLong { tag: None })
    }

    /// The tag of the command being framed, for error replies.
    fn tag_of_current_or(&self, chunk: &[u8]) -> Option<Vec<u8>> {
        let src = if self.current.bytes.is_empty() {
            chunk
        } else {
            &self.current.bytes
        };
        first_word(src).map(<[u8]>::to_vec)
    }

    fn consume_pending_line(&mut self, complete: bool, n: usize) {
        self.pos += n + usize::from(complete);
        self.current = Framed::default();
        self.line_bytes = 0;
    }

    fn fill<S: Read>(&mut self, stream: &mut S) -> Result<(), ReadError> {
        self.compact();
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let res = stream.read(&mut self.buf[old..]);
        match res {
            Ok(0) => {
                self.buf.truncate(old);
                Err(ReadError::Eof)
            }
            Ok(n) => {
                self.buf.truncate(old + n);
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(old);
                Err(ReadError::Io(e))
            }
        }
    }

    /// Drops consumed bytes from the front of the buffer.
    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The first space-separated word, if it is non-empty and sane as a tag.
fn first_word(bytes: &[u8]) -> Option<&[u8]> {
    let end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    let word = &bytes[..end];
    let ok = !word.is_empty() && word.len() <= 64 && word.iter().all(|&b| b > b' ' && b < 0x7f);
    ok.then_some(word)
}

/// True if the command's name (second word) is APPEND, which gets the
/// larger literal limit.
/// APPEND, REPLACE and UID REPLACE carry messages: their literals get the
/// message size limit and go to spool files when large.
fn is_append(bytes: &[u8]) -> bool {
    let mut words = bytes.splitn(4, |&b| b == b' ');
    let _tag = words.next();
    match words.next() {
        Some(name)
            if name.eq_ignore_ascii_case(b"APPEND") || name.eq_ignore_ascii_case(b"REPLACE") =>
        {
            true
        }
        Some(name) if name.eq_ignore_ascii_case(b"UID") => {
            matches!(words.next(), Some(sub) if sub.eq_ignore_ascii_case(b"REPLACE"))
        }
        _ => false,
    }
}

/// If `line` ends in `{n}` or `{n+}` (RFC 3501 literal, RFC 7888 literal+),
/// returns `(n, synchronizing)`. A `{` cannot occur in an atom, and a quoted
/// string ends in `"`, so a trailing marker is always a literal.
pub fn literal_marker(line: &[u8]) -> Option<(u64, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let sync = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, sync))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A fake stream that returns input in fixed chunks and records writes.
    struct Chunked {
        chunks: VecDeque<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Chunked {
        fn new(input: &[u8], size: usize) -> Self {
            Chunked {
                chunks: input.chunks(size.max(1)).map(<[u8]>::to_vec).collect(),
                written: Vec::new(),
            }
        }
    }

    impl Read for Chunked {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match self.chunks.pop_front() {
                None => Ok(0),
                Some(c) if c.is_empty() => Err(io::Error::new(io::ErrorKind::WouldBlock, "tick")),
                Some(mut c) => {
                    let n = c.len().min(out.len());
                    out[..n].copy_from_slice(&c[..n]);
                    if n < c.len() {
                        c.drain(..n);
                        self.chunks.push_front(c);
                    }
                    Ok(n)
                }
            }
        }
    }

    impl Write for Chunked {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const LIMITS: Limits = Limits {
        max_line: 64,
        max_literal: 16,
        max_append_literal: 32,
        max_discard: 100,
        literal_minus: false,
    };

    fn frame_all(input: &[u8], chunk: usize) -> (Vec<Result<Vec<u8>, String>>, Vec<u8>) {
        let mut s = Chunked::new(input, chunk);
        let mut r = CommandReader::new();
        let mut out = Vec::new();
        for _ in 0..100 {
            match r.read_command(&mut s, &LIMITS) {
                Ok(f) => out.push(Ok(f.bytes)),
                Err(ReadError::Eof) => break,
                Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => out.push(Err(format!("{e:?}"))),
            }
        }
        (out, s.written)
    }

    #[test]
    fn frames_lines_and_literals_at_every_chunk_size() {
        let input = b"a NOOP\r\nb LOGIN {4}\r\nuser {3+}\r\npwd\r\nc CAPABILITY\nd X {0}\r\n\r\n";
        let expected: Vec<Result<Vec<u8>, String>> = vec![
            Ok(b"a NOOP".to_vec()),
            Ok(b"b LOGIN {4}\r\nuser {3+}\r\npwd".to_vec()),
            Ok(b"c CAPABILITY".to_vec()),
            Ok(b"d X {0}\r\n".to_vec()),
        ];
        for chunk in 1..input.len() + 1 {
            let (got, written) = frame_all(input, chunk);
            assert_eq!(got, expected, "chunk size {chunk}");
            // Only the synchronizing literals get a continuation.
            assert_eq!(
                written,
                b"+ Ready for literal data\r\n+ Ready for literal data\r\n".to_vec()
            );
        }
    }

    #[test]
    fn big_append_literals_go_to_spool_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = b"a APPEND INBOX (\\Seen) {11}\r\nab\ncd\r\nefgh\r\nb APPEND X {3+}\r\nxyz {10+}\r\n0123456789\r\nc LOGIN {11}\r\nlonger-than\r\n";
        for chunk in 1..input.len() + 1 {
            let mut s = Chunked::new(input, chunk);
            let mut r = CommandReader::new();
            let root = dir.path().to_path_buf();
            let mut n = 0;
            r.set_spool(
                Box::new(move || {
                    n += 1;
                    let p = root.join(format!("spool-{chunk}-{n}"));
                    Ok((std::fs::File::create(&p)?, p))
                }),
                5,
            );
            let mut got = Vec::new();
            for _ in 0..100 {
                match r.read_command(&mut s, &LIMITS) {
                    Ok(f) => got.push(f),
                    Err(ReadError::Eof) => break,
                    Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("{e:?}"),
                }
            }
            assert_eq!(got.len(), 3, "chunk size {chunk}");
            assert_eq!(got[0].bytes, b"a APPEND INBOX (\\Seen) {0}\r\n".to_vec());
            let sp = &got[0].spooled[0];
            assert_eq!((sp.size, sp.vsize), (11, 12), "one bare LF");
            assert_eq!(std::fs::read(&sp.path).expect("spooled"), b"ab\ncd\r\nefgh");
            // Small literals stay inline; only APPEND spools.
            assert_eq!(got[1].bytes, b"b APPEND X {3+}\r\nxyz {0+}\r\n".to_vec());
            assert_eq!(got[1].spooled.len(), 1);
            assert_eq!(got[2].bytes, b"c LOGIN {11}\r\nlonger-than".to_vec());
            assert!(got[2].spooled.is_empty());
            let path = got[0].spooled[0].path.clone();
            drop(got);
            assert!(!path.exists(), "an unused spool file is removed");
        }
    }

    #[test]
    fn a_literal_ending_in_cr_or_a_marker_is_data() {
        // Found by fuzzing: the literal's last byte is a CR and the line
        // then ends with a bare LF; or its data ends like a literal marker.
        let input = b"a LOGIN {5}\r\nalice {6}\r\nscret\r\nb X {3+}\r\n{1}\nc NOOP\r\n";
        for chunk in 1..input.len() + 1 {
            let (got, _) = frame_all(input, chunk);
            assert_eq!(
                got,
                vec![
                    Ok(b"a LOGIN {5}\r\nalice {6}\r\nscret\r".to_vec()),
                    Ok(b"b X {3+}\r\n{1}".to_vec()),
                    Ok(b"c NOOP".to_vec()),
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn literal_positions_are_recorded() {
        let mut s = Chunked::new(b"a LOGIN {2+}\r\nab \"x\"\r\n", 100);
        let f = CommandReader::new().read_command(&mut s, &LIMITS).unwrap();
        assert_eq!(f.bytes, b"a LOGIN {2+}\r\nab \"x\"".to_vec());
        assert_eq!(f.literals, vec![(14, 2)]);
    }

    #[test]
    fn literal_data_may_hold_crlf_and_braces() {
        let input = b"a X {7}\r\n{1}\r\nab\r\n";
        let (got, _) = frame_all(input, 3);
        assert_eq!(got, vec![Ok(b"a X {7}\r\n{1}\r\nab".to_vec())]);
    }

    #[test]
    fn overlong_line_is_discarded_and_reported_with_tag() {
        let mut input = b"t1 NOOP ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 200));
        input.extend_from_slice(b"\r\nt2 NOOP\r\n");
        for chunk in [1, 7, 64, 1000] {
            let (got, _) = frame_all(&input, chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}: {got:?}");
            assert!(got[0]
                .as_ref()
                .unwrap_err()
                .contains("LineTooLong { tag: Some([116, 49]) }"));
            assert_eq!(got[1], Ok(b"t2 NOOP".to_vec()));
        }
    }

    #[test]
    fn oversized_sync_literal_gets_no_continuation() {
        let (got, written) = frame_all(b"t1 LOGIN {17}\r\nt2 NOOP\r\n", 5);
        assert!(got[0].as_ref().unwrap_err().contains("LiteralTooBig"));
        assert_eq!(got[1], Ok(b"t2 NOOP".to_vec()));
        assert!(written.is_empty());
    }

    #[test]
    fn oversized_nonsync_literal_is_skipped_with_the_rest_of_its_command() {
        let mut input = b"t1 LOGIN {20+}\r\n".to_vec();
        input.extend_from_slice(&[b'z'; 20]);
        input.extend_from_slice(b" {2+}\r\nxy\r\nt2 NOOP\r\n");
        for chunk in [1, 3, 100] {
            let (got, _) = frame_all(&input, chunk);
            assert_eq!(got.len(), 2, "{got:?}");
            assert!(got[0].as_ref().unwrap_err().contains("LiteralTooBig"));
            assert_eq!(got[1], Ok(b"t2 NOOP".to_vec()));
        }
    }

    #[test]
    fn huge_nonsync_literal_asks_to_close() {
        let (got, _) = frame_all(b"t1 LOGIN {1000+}\r\n", 100);
        assert!(got[0].as_ref().unwrap_err().contains("LiteralWayTooBig"));
    }

    #[test]
    fn one_commands_literals_are_capped_together() {
        let mut input = Vec::new();
        for _ in 0..4 {
            input.extend_from_slice(b"{30+}\r\n");
            input.extend_from_slice(&[b'm'; 30]);
            input.push(b' ');
        }
        let ok = [
            b"t1 APPEND INBOX ".to_vec(),
            input.clone(),
            b"\r\n".to_vec(),
        ]
        .concat();
        let (got, _) = frame_all(&ok, 16);
        assert!(got[0].is_ok(), "{got:?}");
        let over = [
            b"t1 APPEND INBOX ".to_vec(),
            input,
            b"{30}\r\nt2 NOOP\r\n".to_vec(),
        ]
        .concat();
        let (got, written) = frame_all(&over, 16);
        assert!(
            got[0].as_ref().unwrap_err().contains("LiteralTooBig"),
            "{got:?}"
        );
        assert_eq!(got[1], Ok(b"t2 NOOP".to_vec()));
        assert!(written.is_empty());
    }

    #[test]
    fn append_gets_the_larger_limit() {
        let mut input = b"t1 APPEND INBOX {30+}\r\n".to_vec();
        input.extend_from_slice(&[b'm'; 30]);
        input.extend_from_slice(b"\r\n");
        let (got, _) = frame_all(&input, 8);
        assert!(got[0].is_ok(), "{got:?}");
    }

    #[test]
    fn timeouts_resume_without_loss() {
        // An empty chunk makes the fake stream report WouldBlock.
        let mut s = Chunked {
            chunks: VecDeque::from(vec![
                b"a LOG".to_vec(),
                vec![],
                b"IN {3}\r".to_vec(),
                vec![],
                b"\nab".to_vec(),
                vec![],
                b"c\r\n".to_vec(),
            ]),
            written: Vec::new(),
        };
        let mut r = CommandReader::new();
        let mut timeouts = 0;
        let framed = loop {
            match r.read_command(&mut s, &LIMITS) {
                Ok(f) => break f,
                Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => timeouts += 1,
                Err(e) => panic!("{e:?}"),
            }
        };
        assert_eq!(timeouts, 3);
        assert_eq!(framed.bytes, b"a LOGIN {3}\r\nabc".to_vec());
    }

    #[test]
    fn read_line_and_pipelined_bytes() {
        let mut s = Chunked::new(b"dGVzdA==\r\nDONE\r\nb NOOP\r\n", 100);
        let mut r = CommandReader::new();
        assert_eq!(r.read_line(&mut s, 100).unwrap(), b"dGVzdA==".to_vec());
        assert_eq!(r.read_line(&mut s, 100).unwrap(), b"DONE".to_vec());
        assert!(r.has_buffered());
        let f = r.read_command(&mut s, &LIMITS).unwrap();
        assert_eq!(f.bytes, b"b NOOP".to_vec());
    }

    #[test]
    fn discard_buffered_drops_pipelined_commands() {
        let mut s = Chunked::new(b"a STARTTLS\r\nb LOGIN x y\r\n", 100);
        let mut r = CommandReader::new();
        assert_eq!(
            r.read_command(&mut s, &LIMITS).unwrap().bytes,
            b"a STARTTLS".to_vec()
        );
        r.discard_buffered();
        assert!(!r.has_buffered());
        assert!(matches!(
            r.read_command(&mut s, &LIMITS),
            Err(ReadError::Eof)
        ));
    }

    #[test]
    fn take_buffered_hands_over_unframed_bytes() {
        let mut s = Chunked::new(b"a COMPRESS DEFLATE\r\n\x01\x02\xff\r\nzz", 100);
        let mut r = CommandReader::new();
        assert_eq!(
            r.read_command(&mut s, &LIMITS).unwrap().bytes,
            b"a COMPRESS DEFLATE".to_vec()
        );
        assert_eq!(r.take_buffered(), b"\x01\x02\xff\r\nzz".to_vec());
        assert!(!r.has_buffered());
        assert!(r.take_buffered().is_empty());
    }

    #[test]
    fn literal_markers() {
        let rows: &[(&[u8], Option<(u64, bool)>)] = &[
            (b"a LOGIN {5}", Some((5, true))),
            (b"a LOGIN {5+}", Some((5, false))),
            (b"a LOGIN {0}", Some((0, true))),
            (b"a LOGIN {}", None),
            (b"a LOGIN {+}", None),
            (b"a LOGIN {5a}", None),
            (b"a LOGIN \"{5}\"", None),
            (b"a {99999999999999999999}", None),
            (b"}", None),
        ];
        for (line, want) in rows {
            assert_eq!(
                literal_marker(line),
                *want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
