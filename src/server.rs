//! Listening: binds every configured address, runs one accept thread per
//! listener and one thread per client connection, admits connections
//! (`admission`: the caps), and handles signals (SIGHUP reloads the users file and the TLS
//! certificate; SIGTERM/SIGINT stop the server).
//!
//! Startup order matters: read the users file and TLS key and bind every
//! listener while still privileged, then switch to the configured user
//! (`privileges`) before the first thread starts or any client is accepted.

use crate::auth::passwd::PasswdFile;
use crate::config::{Config, Userdb};
use crate::connection;
use crate::context::ServerContext;
use crate::net::TlsSettings;
use crate::privileges::Plan;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A bound listener and whether it speaks implicit TLS.
struct Listener {
    socket: TcpListener,
    tls: bool,
}

/// Binds the listeners, switches user as `plan` says, and serves until a
/// terminating signal arrives. Prints one `listening on ADDR (imap|imaps)`
/// line per listener to stdout once everything is bound, so scripts and
/// tests can find the ports.
pub fn run(config: Config, plan: &Plan) -> Result<(), Box<dyn std::error::Error>> {
    let passwd = if config.uses_passwd_file() {
        PasswdFile::open(&config.passwd_file)?
            .with_verified_cache(config.auth_cache_ttl, config.auth_cache_size)
    } else {
        PasswdFile::unused(&config.passwd_file)
    };
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(TlsSettings::load(
            cert,
            key,
            config.tls_session_tickets,
            config.tls_client_ca.as_deref(),
        )?),
        _ => None,
    };
    if tls.is_none() {
        log::warn!(
            "no tls_cert configured: STARTTLS and port 993 are off; passwords travel in clear text"
        );
    }
    let mut listeners = Vec::new();
    for addr in &config.listen {
        listeners.push(bind(*addr, false)?);
    }
    for addr in config.tls_listeners() {
        listeners.push(bind(*addr, true)?);
    }
    let local_services = crate::lmtp::listen::bind_all(&config)?;
    if let Some(dir) = &config.trace_dir {
        make_trace_dir(dir, plan)?;
    }
    let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT])?;
    // Before ServerContext::new, which starts the mailbox watcher thread.
    plan.apply()?;
    if config.userdb == Userdb::Passwd {
        // Sessions switch to their users one thread at a time; the process
        // keeps only what that takes (see `identity`).
        crate::identity::keep_only_setid_capabilities()?;
        log::info!("userdb = passwd: capabilities reduced to CAP_SETUID and CAP_SETGID");
    }
    let ctx = Arc::new(ServerContext::new(config, passwd, tls));

    let mut stdout = std::io::stdout().lock();
    for l in &listeners {
        let addr = l.socket.local_addr()?;
        writeln!(
            stdout,
            "listening on {addr} ({})",
            if l.tls { "imaps" } else { "imap" }
        )?;
        log::info!(
            "listening on {addr} ({})",
            if l.tls { "imaps" } else { "imap" }
        );
    }
    for l in &local_services {
        // After the IMAP lines, which scripts wait for: a reader that has
        // gone by now must not stop the server.
        let _ = writeln!(stdout, "listening on {}", l.describe());
        log::info!("listening on {}", l.describe());
    }
    let _ = stdout.flush();
    drop(stdout);
    crate::lmtp::listen::spawn_all(&ctx, local_services)?;

    for l in listeners {
        let ctx = Arc::clone(&ctx);
        std::thread::Builder::new()
            .name(format!("accept-{}", l.socket.local_addr()?))
            .spawn(move || accept_loop(ctx, l))?;
    }

    for signal in signals.forever() {
        match signal {
            SIGHUP => reload(&ctx),
            _ => {
                log::info!("signal {signal}: shutting down");
                shutdown(&ctx);
                return Ok(());
            }
        }
    }
    Ok(())
}

/// How long shutdown waits for sessions to say BYE and finish the command
/// they are in (an APPEND being written, a uidlist being updated).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// SIGTERM/SIGINT: wake every session so it sends BYE, then wait (bounded)
/// for them to finish before the process exits.
fn shutdown(ctx: &ServerContext) {
    ctx.begin_shutdown();
    let deadline = std::time::Instant::now() + SHUTDOWN_GRACE;
    // LMTP sessions too: one may be finishing a delivery it will confirm.
    let busy = || ctx.connections.load(Ordering::Acquire) + crate::lmtp::listen::lmtp_sessions();
    while busy() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = busy();
    if left > 0 {
        log::warn!("{left} sessions still busy after {SHUTDOWN_GRACE:?}; exiting anyway");
    }
}

/// Creates a missing trace directory, owned by the account that will write
/// to it once the server has switched user.
fn make_trace_dir(dir: &std::path::Path, plan: &Plan) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("trace_dir {}: {e}", dir.display()))?;
    if let Plan::Switch(id) = plan {
        // Without CAP_CHOWN (a sandboxed service) the directory stays
        // root's; traces then fail one by one, each with a log line.
        if let Err(e) = std::os::unix::fs::chown(dir, Some(id.uid), Some(id.gid)) {
            log::warn!(
                "trace_dir {}: cannot hand it to uid {}: {e}; create it owned by that user",
                dir.display(),
                id.uid
            );
        }
    }
    Ok(())
}

fn bind(addr: SocketAddr, tls: bool) -> Result<Listener, String> {
    let socket = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    Ok(Listener { socket, tls })
}

/// SIGHUP: re-read what can change without a restart.
fn reload(ctx: &ServerContext) {
    match ctx.passwd.reload() {
        Ok(n) => log::info!(
            "SIGHUP: {} reloaded, {n} users",
            ctx.passwd.path().display()
        ),
        Err(e) => log::error!("SIGHUP: {e}; keeping the previous users"),
    }
    if ctx.config.oauth2.hmac_key_file.is_some() || ctx.config.oauth2.public_key_file.is_some() {
        match ctx.bearer_keys.reload(&ctx.config.oauth2) {
            Ok(()) => log::info!("SIGHUP: token keys reloaded"),
            Err(e) => log::error!("SIGHUP: {e}; keeping the previous token keys"),
        }
    }
    if let Some(tls) = &ctx.tls {
        match tls.reload() {
            Ok(()) => log::info!("SIGHUP: TLS certificate and key reloaded"),
            Err(e) => {
                log::error!("SIGHUP: TLS reload failed, keeping the previous certificate: {e}")
            }
        }
    }
}

fn accept_loop(ctx: Arc<ServerContext>, listener: Listener) {
    loop {
        let (tcp, peer) = match listener.socket.accept() {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                log::error!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if ctx.shutting_down.load(Ordering::SeqCst) {
            refuse(tcp, listener.tls, "* BYE Server shutting down.\r\n");
            continue;
        }
        let Some(thread) = ThreadSlot::take(&ctx) else {
            log::warn!(
                "peer={peer} refused: {} connection threads still running",
                thread_cap(&ctx)
            );
            refuse(
                tcp,
                listener.tls,
                "* BYE Too many connections, try again later.\r\n",
            );
            continue;
        };
        let Ok(handle) = tcp.try_clone() else {
            log::error!("peer={peer} refused: cannot keep a handle on the socket");
            continue;
        };
        let network = crate::auth::throttle::network_of(peer.ip());
        let caps = crate::admission::Caps {
            total: ctx.config.max_connections,
            waiting_per_network: ctx.config.max_connections_per_ip,
        };
        let admitted = match ctx.admissions.admit(network, handle, caps) {
            Ok(a) => a,
            Err(crate::admission::Full) => {
                log::warn!(
                    "peer={peer} refused: max_connections ({}) reached, all logged in",
                    ctx.config.max_connections
                );
                refuse(
                    tcp,
                    listener.tls,
                    "* BYE Too many connections, try again later.\r\n",
                );
                continue;
            }
        };
        for old in &admitted.evicted {
            log::warn!(
                "peer={peer} made room: closed the oldest connection from {old} \
                 that had not logged in (max_connections_per_ip {} / max_connections {})",
                caps.waiting_per_network,
                caps.total
            );
        }
        let ticket = admitted.ticket;
        let ctx = Arc::clone(&ctx);
        let tls = listener.tls;
        let spawned = std::thread::Builder::new()
            .name(format!("conn-{peer}"))
            .spawn(move || {
                let _thread = thread;
                connection::serve(ctx, tcp, peer, tls, ticket);
            });
        if let Err(e) = spawned {
            log::error!("peer={peer} cannot start a thread: {e}");
        }
    }
}

/// Tells a client over the connection cap why it is turned away (plain
/// connections only: a TLS client would not understand clear text).
fn refuse(mut tcp: TcpStream, tls: bool, bye: &str) {
    if !tls {
        let _ = tcp.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = tcp.write_all(bye.as_bytes());
    }
}

/// Connection threads may outnumber `max_connections` only by those closed
/// to make room that are still saying BYE; this bounds them all the same.
fn thread_cap(ctx: &ServerContext) -> usize {
    ctx.config.max_connections.saturating_mul(2)
}

/// Counts a running connection thread; released on drop.
struct ThreadSlot(Arc<ServerContext>);

impl ThreadSlot {
    fn take(ctx: &Arc<ServerContext>) -> Option<ThreadSlot> {
        let max = thread_cap(ctx);
        let taken = ctx
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        taken.ok().map(|_| ThreadSlot(Arc::clone(ctx)))
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
