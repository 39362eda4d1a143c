//! What an LMTP session reads from: the connection, read with a short
//! timeout so a session blocked waiting for its client notices a server
//! shutdown. Between commands it then stops at once (the session answers
//! 421); in the middle of DATA it lets the client finish for a while, so a
//! message being sent is delivered and acknowledged rather than dropped,
//! and past that it stops before anything was acknowledged.

use super::listen::Stream;
use crate::context::ServerContext;
use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a blocked read looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(250);
/// How long a DATA phase under way may go on after a shutdown began;
/// less than the server's whole grace, so the 421 still goes out.
const DATA_GRACE: Duration = Duration::from_secs(3);

/// The error a read ends with once the session should stop for shutdown.
#[derive(Debug)]
pub struct ShuttingDown;

impl std::fmt::Display for ShuttingDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("server shutting down")
    }
}

impl std::error::Error for ShuttingDown {}

/// True for the error `Input` ends a read with on shutdown.
pub fn is_shutdown(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<ShuttingDown>())
}

pub struct Input {
    stream: Stream,
    ctx: Arc<ServerContext>,
    /// Longest silence from the client before the session times out.
    idle_limit: Duration,
    last_read: Instant,
    /// When this session first saw the shutdown flag.
    shutdown_seen: Option<Instant>,
    /// Set by the session while it reads a message.
    pub in_data: bool,
}

impl Input {
    pub fn new(stream: Stream, ctx: Arc<ServerContext>, idle_limit: Duration) -> io::Result<Input> {
        stream.set_read_timeout(POLL)?;
        Ok(Input {
            stream,
            ctx,
            idle_limit,
            last_read: Instant::now(),
            shutdown_seen: None,
            in_data: false,
        })
    }

    fn must_stop(&mut self) -> bool {
        if !self.ctx.shutting_down.load(Ordering::SeqCst) {
            return false;
        }
        let seen = *self.shutdown_seen.get_or_insert_with(Instant::now);
        !self.in_data || seen.elapsed() >= DATA_GRACE
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Checked before every read, not only after a timeout: a
            // client trickling bytes must not hold a shutdown up.
            if self.must_stop() {
                return Err(io::Error::other(ShuttingDown));
            }
            match self.stream.read(buf) {
                Ok(n) => {
                    self.last_read = Instant::now();
                    return Ok(n);
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    if self.last_read.elapsed() >= self.idle_limit {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
