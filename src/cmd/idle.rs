//! IDLE (RFC 2177): the client waits for changes without polling.
//!
//! The session thread blocks in `mio::Poll` on two things: its socket
//! becoming readable (the client's DONE) and a `Waker` the mailbox watcher
//! pokes when the selected mailbox changes. Nothing runs while nothing
//! happens: no timers, no polling. Every `IDLE_KEEPALIVE` the client hears
//! `* OK Still here`, so NAT boxes keep the connection open.
//!
//! Only the session thread touches its stream, as everywhere else: before
//! each wait it drains what the client sent with a 1 ms read, which also
//! empties what TLS may have decrypted already. With COMPRESS the same read
//! inflates everything already received (compressed bytes held by the
//! inflater included) before it touches the socket, so when it times out
//! nothing decodable is left and waiting on the socket is safe: a DONE that
//! came compressed in one packet with earlier data is found before any wait.
//! Pushes and keep-alives go out through `Session::flush`, which sync-flushes
//! the compressor. Bytes the client sends after DONE (iOS 18 Mail pipelines
//! its next command in the same packet) stay in the command reader and are
//! executed next.

use crate::error::{Error, Tagged};
use crate::proto::encode::Status;
use crate::proto::reader::{Framed, ReadError};
use crate::session::Session;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);
/// Longest line accepted while idling ("DONE" plus slack).
const MAX_IDLE_LINE: usize = 1024;
/// How long a drain read waits for more bytes.
const DRAIN: Duration = Duration::from_millis(1);

pub fn idle(s: &mut Session) -> Result<Tagged, Error> {
    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    if let Some(fd) = s.transport.raw_fd() {
        poll.registry()
            .register(&mut SourceFd(&fd), SOCKET, Interest::READABLE)?;
    }
    if let Some(sub) = s.selected.as_ref().and_then(|sel| sel.subscription()) {
        sub.set_waker(Some(Arc::clone(&waker)));
    }
    // RFC 5465: NOTIFY's mailboxes wake the wait too.
    if let Some(n) = s.notify.as_ref() {
        n.set_waker(Some(&waker));
    }
    s.out.continuation("idling");
    let result = s
        .flush()
        .map_err(Error::from)
        .and_then(|()| wait(s, &mut poll));
    if let Some(sub) = s.selected.as_ref().and_then(|sel| sel.subscription()) {
        sub.set_waker(None);
    }
    if let Some(n) = s.notify.as_ref() {
        n.set_waker(None);
    }
    result
}

fn wait(s: &mut Session, poll: &mut Poll) -> Result<Tagged, Error> {
    let keepalive = s.ctx.config.idle_keepalive;
    let mut events = Events::with_capacity(4);
    let mut last_sent = Instant::now();
    // Changes made between the command and now.
    s.sync_selected(true)?;
    super::notify::report(s, false)?;
    s.flush()?;
    loop {
        s.transport.set_read_timeout(Some(DRAIN))?;
        match s.reader.read_line(&mut s.transport, MAX_IDLE_LINE) {
            Ok(line) => {
                s.trace.client(
                    &Framed {
                        bytes: line.clone(),
                        ..Framed::default()
                    },
                    None,
                );
                return if line.trim_ascii().eq_ignore_ascii_case(b"DONE") {
                    Ok(Tagged::ok("Idle completed."))
                } else {
                    Err(Error::bad("Expected DONE."))
                };
            }
            Err(ReadError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(ReadError::Io(e)) => return Err(Error::Io(e)),
            Err(ReadError::Eof) => return Err(Error::Io(io::ErrorKind::UnexpectedEof.into())),
            Err(_) => return Err(Error::bad("Expected DONE.")),
        }
        let changed = s
            .selected
            .as_ref()
            .and_then(|sel| sel.subscription())
            .is_some_and(|sub| sub.changed());
        if changed {
            s.sync_selected(true)?;
            super::contexts::update(s)?;
        }
        // Cheap when nothing changed: one channel poll per watched mailbox.
        super::notify::report(s, false)?;
        if !s.out.is_empty() {
            s.flush()?;
            last_sent = Instant::now();
        }
        if last_sent.elapsed() >= keepalive {
            s.out.untagged_status(Status::Ok, None, "Still here");
            s.flush()?;
            last_sent = Instant::now();
        }
        let until_keepalive = keepalive.saturating_sub(last_sent.elapsed());
        match poll.poll(&mut events, Some(until_keepalive)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
}
