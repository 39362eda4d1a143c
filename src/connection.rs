//! The per-connection loop: greet, then read → parse → dispatch → tagged
//! reply → flush, until LOGOUT, an error or the client goes away. Runs on
//! the connection's own thread and is the only code that touches its socket.

use crate::admission::Ticket;
use crate::cmd;
use crate::context::{ServerContext, MAX_BAD_COMMANDS, WRITE_TIMEOUT};
use crate::error::{Error, Tagged};
use crate::net::Transport;
use crate::proto::encode::{Code, Status};
use crate::proto::parse::{parse_command_with, secret_offset};
use crate::proto::reader::{Framed, ReadError};
use crate::session::{Session, State};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

/// A connection's entry in `ServerContext::remember`, forgotten on drop.
struct Live(Arc<ServerContext>, u64);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.forget(self.1);
    }
}

/// Serves one client until it leaves. `implicit_tls`: the listener is the
/// TLS port, so the handshake comes before the greeting. `ticket`: its
/// place among the admitted connections, held until it ends.
pub fn serve(
    ctx: Arc<ServerContext>,
    tcp: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
    mut ticket: Ticket,
) {
    let _ = tcp.set_nodelay(true);
    // The context keeps a handle on the socket (for shutdown) until this
    // guard goes, on every way out of here: a kept handle keeps it open.
    let _live = Live(Arc::clone(&ctx), ctx.remember(&tcp));
    // A trusted proxy (nginx) first names the client it serves.
    let mut client = None;
    if crate::cidr::any_contains(&ctx.config.proxy_protocol_from, peer.ip()) {
        match crate::proxy_protocol::read_header(&tcp) {
            Ok(named) => client = named,
            // A connect-and-close is auth_http's liveness probe.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                log::debug!("peer={peer} closed before its PROXY header");
                return;
            }
            Err(e) => {
                log::info!("peer={peer} refused: {e}");
                return;
            }
        }
    }
    let mut s = Session::new(ctx, Transport::plain(tcp), peer);
    if let Some(client) = client {
        // Logged and throttled as the client; `trusted` stays the proxy's.
        s.peer = client;
    }
    log::info!(
        "conn={} peer={}{} connect{}",
        s.id,
        s.peer,
        client.map_or(String::new(), |_| format!(" proxy={peer}")),
        if implicit_tls { " tls" } else { "" }
    );
    if let Err(e) = s.transport.set_write_timeout(Some(WRITE_TIMEOUT)) {
        log::debug!("conn={} peer={} cannot set write timeout: {e}", s.id, peer);
    }
    if implicit_tls {
        let Some(tls) = s.ctx.tls.as_ref().map(|t| t.config()) else {
            return;
        };
        if let Err(e) = s.transport.start_tls(tls, s.ctx.config.login_timeout) {
            log::info!("conn={} peer={} TLS handshake failed: {e}", s.id, peer);
            return;
        }
    }
    let mut reason = run(&mut s, &mut ticket);
    if s.ctx
        .shutting_down
        .load(std::sync::atomic::Ordering::SeqCst)
        && s.state != State::Logout
    {
        bye(&mut s, "Server shutting down.");
        reason = format!("server shutdown ({reason})");
    }
    s.transport.close();
    // With COMPRESS, in/out count IMAP bytes and deflate_in/out what
    // crossed the wire after compression.
    let deflated = s
        .transport
        .compressed_bytes()
        .map(|(i, o)| format!(" deflate_in={i} deflate_out={o}"))
        .unwrap_or_default();
    log::info!(
        "conn={} peer={} user={} logout ({}) in={} out={}{} duration={:.1}s",
        s.id,
        s.peer,
        s.user_name(),
        reason,
        s.transport.bytes_in,
        s.transport.bytes_out,
        deflated,
        s.started.elapsed().as_secs_f64()
    );
    s.trace.note(&format!("end: {reason}"));
}

/// Said to a connection closed to make room for a newer one.
const EVICTED: &str = "Too many connections waiting to log in; closing the oldest.";

/// The command loop; returns why the session ended, for the log.
fn run(s: &mut Session, ticket: &mut Ticket) -> String {
    let caps = s.capabilities();
    s.out
        .untagged_status(Status::Ok, Some(&Code::Capability(caps)), "Roost ready.");
    if let Err(e) = s.flush() {
        return format!("write failed: {e}");
    }
    let mut bad_in_a_row = 0u32;
    loop {
        let timeout = if s.state == State::NotAuthenticated {
            // However busy a client keeps, it has login_timeout_secs to log
            // in (a byte at a time would otherwise hold the thread for ever).
            let left = s
                .ctx
                .config
                .login_timeout
                .saturating_sub(s.started.elapsed());
            if left.is_zero() {
                bye(s, "Login timed out.");
                return "login timeout".into();
            }
            s.transport
                .set_read_deadline(Some(std::time::Instant::now() + left));
            s.ctx.config.timeout_preauth.min(left)
        } else {
            s.transport.set_read_deadline(None);
            s.ctx.config.timeout_auth
        };
        if let Err(e) = s.transport.set_read_timeout(Some(timeout)) {
            return format!("socket error: {e}");
        }
        let limits = s.ctx.limits;
        let framed = match s.reader.read_command(&mut s.transport, &limits) {
            // A newer connection needed this one's place (`admission`): its
            // read side was shut down.
            Err(_) if ticket.evicted() && !ticket.is_logged_in() => {
                bye(s, EVICTED);
                return "closed to make room for a newer connection".into();
            }
            Ok(f) => f,
            Err(ReadError::Eof) => return "connection closed".into(),
            Err(ReadError::Io(e)) if is_timeout(&e) => {
                if s.state == State::NotAuthenticated
                    && s.started.elapsed() >= s.ctx.config.login_timeout
                {
                    bye(s, "Login timed out.");
                    return "login timeout".into();
                }
                bye(s, "Disconnected for inactivity.");
                return "inactivity timeout".into();
            }
            Err(ReadError::Io(e)) => return format!("read failed: {e}"),
            Err(ReadError::LineTooLong { tag }) => {
                s.trace.note("command line too long, discarded");
                let text = format!("Command line too long (max {} bytes).", limits.max_line);
                reply_error(s, tag.as_deref(), Status::Bad, Some(Code::TooBig), &text);
                if let Err(e) = s.flush() {
                    return format!("write failed: {e}");
                }
                continue;
            }
            Err(ReadError::LiteralTooBig { tag, size }) => {
                s.trace.note(&format!("literal of {size} bytes refused"));
                let text = format!("Literal too big ({size} bytes).");
                reply_error(s, tag.as_deref(), Status::No, Some(Code::TooBig), &text);
                if let Err(e) = s.flush() {
                    return format!("write failed: {e}");
                }
                continue;
            }
            Err(ReadError::NonSyncTooBig { tag, size }) => {
                s.trace.note(&format!(
                    "non-synchronizing literal of {size} bytes refused"
                ));
                let text = "Non-synchronizing literals over 4096 bytes not allowed (LITERAL-).";
                reply_error(s, tag.as_deref(), Status::Bad, Some(Code::TooBig), text);
                if let Err(e) = s.flush() {
                    return format!("write failed: {e}");
                }
                continue;
            }
            Err(ReadError::LiteralWayTooBig { size }) => {
                bye(s, "Literal too big; closing the connection.");
                return format!("literal of {size} bytes");
            }
            Err(ReadError::Spool { tag, error }) => {
                log::error!(
                    "conn={} peer={} user={} cannot store an APPEND literal: {error}",
                    s.id,
                    s.peer,
                    s.user_name()
                );
                let (code, text) = if error.kind() == std::io::ErrorKind::StorageFull {
                    // ENOSPC
                    (Some(Code::OverQuota), "Not enough disk space.")
                } else {
                    (Some(Code::ServerBug), "Cannot store the message.")
                };
                reply_error(s, tag.as_deref(), Status::No, code, text);
                if let Err(e) = s.flush() {
                    return format!("write failed: {e}");
                }
                continue;
            }
        };
        let mut framed = framed;
        // Big APPEND literals wait in files for the APPEND handler; what it
        // does not take is removed after the command.
        s.spooled = std::mem::take(&mut framed.spooled).into();
        let outcome = execute(s, &framed);
        s.spooled.clear();
        if !ticket.is_logged_in() && matches!(s.state, State::Authenticated | State::Selected) {
            // From now on it can no longer be closed to make room; if it
            // just was, its next read ends the session with a BYE.
            ticket.logged_in();
        }
        match outcome {
            Outcome::Continue { bad } => {
                bad_in_a_row = if bad { bad_in_a_row + 1 } else { 0 };
                if bad_in_a_row >= MAX_BAD_COMMANDS {
                    bye(s, "Too many invalid IMAP commands.");
                    return "too many invalid commands".into();
                }
            }
            Outcome::End(reason) => return reason,
        }
        if let Err(e) = s.flush() {
            return format!("write failed: {e}");
        }
        if s.state == State::Logout {
            return "logout".into();
        }
        if s.start_tls_pending {
            s.start_tls_pending = false;
            // Anything the client pipelined after STARTTLS arrived before the
            // handshake and must not be executed (the STARTTLS injection
            // class of bugs, CVE-2011-0411 and friends).
            if s.reader.has_buffered() {
                log::warn!(
                    "conn={} peer={} discarded data sent after STARTTLS before the handshake",
                    s.id,
                    s.peer
                );
            }
            s.reader.discard_buffered();
            let Some(config) = s.ctx.tls.as_ref().map(|t| t.config()) else {
                return "STARTTLS without TLS settings".into();
            };
            if let Err(e) = s.transport.start_tls(config, s.ctx.config.login_timeout) {
                return format!("TLS handshake failed: {e}");
            }
            s.trace.note("TLS started");
        }
        if s.compress_pending {
            s.compress_pending = false;
            // RFC 4978 §3: compression starts right after the tagged OK's
            // CRLF, both ways. What the client sent after COMPRESS is
            // already compressed: the inflater takes it first.
            let pipelined = s.reader.take_buffered();
            if let Err(e) = s.transport.start_deflate(pipelined) {
                return format!("COMPRESS failed: {e}");
            }
            s.trace.note("DEFLATE started");
        }
    }
}

enum Outcome {
    /// Keep serving; `bad` if the command got BAD.
    Continue { bad: bool },
    /// The session is over (BYE sent or transport gone).
    End(String),
}

/// Parses and runs one framed command and writes its tagged reply.
fn execute(s: &mut Session, framed: &Framed) -> Outcome {
    s.trace.client(framed, secret_offset(&framed.bytes));
    let cmd = match parse_command_with(&framed.bytes, s.ctx.parse_limits) {
        Ok(cmd) => cmd,
        Err(e) => {
            let text = e.to_string();
            reply_error(s, e.tag.as_deref(), Status::Bad, None, &text);
            return Outcome::Continue { bad: true };
        }
    };
    let tag = cmd.tag.clone();
    let name = cmd.body.name();
    let allow_expunge = cmd::allows_expunge(&cmd.body);
    let mut result = cmd::dispatch(s, cmd);
    // Unsolicited updates for the selected mailbox go before the tagged
    // reply (RFC 3501 §7), whether the command succeeded or not.
    if !matches!(result, Err(Error::Io(_)) | Err(Error::Bye(_))) {
        match s
            .sync_selected(allow_expunge)
            .and_then(|()| cmd::update_search_contexts(s))
        {
            Ok(()) => {}
            Err(bye @ Error::Bye(_)) => result = Err(bye),
            // The command itself is done; a failed update is retried at the
            // next command, so only the log hears of it.
            Err(e) => log::error!(
                "conn={} peer={} user={} mailbox sync failed: {e:?}",
                s.id,
                s.peer,
                s.user_name()
            ),
        }
    }
    match result {
        Ok(Tagged { code, text }) => {
            s.out.tagged(&tag, Status::Ok, code.as_ref(), &text);
            Outcome::Continue { bad: false }
        }
        Err(Error::Bad(code, text)) => {
            s.out.tagged(&tag, Status::Bad, code.as_ref(), &text);
            Outcome::Continue { bad: true }
        }
        Err(Error::No(code, text)) => {
            s.out.tagged(&tag, Status::No, code.as_ref(), &text);
            Outcome::Continue { bad: false }
        }
        Err(Error::Server(detail)) => {
            log::error!(
                "conn={} peer={} user={} {} failed: {detail}",
                s.id,
                s.peer,
                s.user_name(),
                name
            );
            s.out.tagged(
                &tag,
                Status::No,
                Some(&Code::ServerBug),
                "Internal error occurred. Refer to server log for more information.",
            );
            Outcome::Continue { bad: false }
        }
        Err(Error::Bye(text)) => {
            bye(s, &text);
            Outcome::End(text.into_owned())
        }
        Err(Error::Io(e)) => Outcome::End(format!("transport error during {name}: {e}")),
    }
}

/// A tagged reply when the tag is known, else an untagged one.
fn reply_error(
    s: &mut Session,
    tag: Option<&[u8]>,
    status: Status,
    code: Option<Code>,
    text: &str,
) {
    match tag {
        Some(tag) => s.out.tagged(tag, status, code.as_ref(), text),
        None => s.out.untagged_status(status, code.as_ref(), text),
    }
}

fn bye(s: &mut Session, text: &str) {
    s.out.untagged_status(Status::Bye, None, text);
    let _ = s.flush();
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
