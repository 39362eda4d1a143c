//! The listeners of the services Roost offers Postfix (`lmtp_listen`,
//! `auth_listen`): Unix sockets (with the configured owner, group and
//! mode) or TCP, one accept thread each and one thread per connection.
//! Bound before the server drops privileges, like the IMAP listeners.

use crate::config::{Config, SocketSpec};
use crate::context::ServerContext;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Lmtp,
    Auth,
    ManageSieve,
    /// nginx's mail proxy auth_http (`auth_http`).
    AuthHttp,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Lmtp => "lmtp",
            Service::Auth => "auth",
            Service::ManageSieve => "managesieve",
            Service::AuthHttp => "auth_http",
        }
    }
}

/// A connection on either kind of socket.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
        }
    }

    pub fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Stream::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A bound listener.
pub struct Listener {
    service: Service,
    spec: SocketSpec,
    socket: Socket,
}

impl Listener {
    /// `listening on ADDR (lmtp)`, for the startup lines.
    pub fn describe(&self) -> String {
        let addr = match (&self.socket, &self.spec) {
            (Socket::Tcp(t), _) => t
                .local_addr()
                .map_or_else(|_| self.spec.to_string(), |a| a.to_string()),
            (Socket::Unix(_), spec) => spec.to_string(),
        };
        format!("{addr} ({})", self.service.name())
    }
}

/// Binds every `lmtp_listen` and `auth_listen` socket.
pub fn bind_all(config: &Config) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    let services = [
        (Service::Lmtp, &config.lmtp_listen),
        (Service::Auth, &config.auth_listen),
        (Service::ManageSieve, &config.managesieve_listen),
        (Service::AuthHttp, &config.auth_http_listen),
    ];
    for (service, specs) in services {
        for spec in specs {
            let socket =
                match spec {
                    SocketSpec::Tcp(addr) => Socket::Tcp(TcpListener::bind(addr).map_err(|e| {
                        format!("cannot listen on {addr} ({}): {e}", service.name())
                    })?),
                    SocketSpec::Unix(path) => Socket::Unix(bind_unix(path, config)?),
                };
            out.push(Listener {
                service,
                spec: spec.clone(),
                socket,
            });
        }
    }
    Ok(out)
}

/// Binds a Unix socket, replacing a stale one left by an earlier run (but
/// nothing that is not a socket), and gives it the configured owner,
/// group and mode.
fn bind_unix(path: &Path, config: &Config) -> Result<UnixListener, String> {
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "{shown} exists and is not a socket; not replacing it"
            ));
        }
        // A socket someone answers on belongs to a running server (Dovecot
        // still up, or a second Roost): taking it over would steal its mail.
        if UnixStream::connect(path).is_ok() {
            return Err(format!("{shown} is in use by another running server"));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("{shown}: cannot remove the old socket: {e}"))?;
    }
    let listener =
        UnixListener::bind(path).map_err(|e| format!("cannot listen on {shown}: {e}"))?;
    std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(config.unix_socket_mode),
    )
    .map_err(|e| format!("{shown}: chmod: {e}"))?;
    let uid = match config.unix_socket_owner.as_str() {
        "" => None,
        name => Some(lookup_uid(name)?),
    };
    let gid = match config.unix_socket_group.as_str() {
        "" => None,
        name => Some(lookup_gid(name)?),
    };
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(path, uid, gid).map_err(|e| format!("{shown}: chown: {e}"))?;
    }
    Ok(listener)
}

fn lookup_uid(name: &str) -> Result<u32, String> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        _ => Err(format!("unix_socket_owner: no user {name:?}")),
    }
}

fn lookup_gid(name: &str) -> Result<u32, String> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        _ => Err(format!("unix_socket_group: no group {name:?}")),
    }
}

/// Starts the accept thread of each listener.
pub fn spawn_all(ctx: &Arc<ServerContext>, listeners: Vec<Listener>) -> io::Result<()> {
    for l in listeners {
        let ctx = Arc::clone(ctx);
        std::thread::Builder::new()
            .name(format!("accept-{}", l.describe()))
            .spawn(move || accept_loop(ctx, l))?;
    }
    Ok(())
}

fn accept_loop(ctx: Arc<ServerContext>, l: Listener) {
    // The peers are the local MTA: trusted, but still bounded.
    let running = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = match &l.socket {
            Socket::Tcp(t) => t
                .accept()
                .map(|(s, peer)| (Stream::Tcp(s), peer.to_string())),
            Socket::Unix(u) => u
                .accept()
                .map(|(s, _)| (Stream::Unix(s), l.spec.to_string())),
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                log::error!("{}: accept failed: {e}", l.describe());
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if ctx.shutting_down.load(Ordering::SeqCst) {
            let mut stream = stream;
            let _ = stream.write_all(match l.service {
                Service::Lmtp => b"421 4.3.2 Server shutting down, try again later\r\n" as &[u8],
                Service::Auth | Service::AuthHttp => b"",
                Service::ManageSieve => b"BYE \"Server shutting down.\"\r\n",
            });
            continue;
        }
        let max = ctx.config.max_connections;
        if running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            log::warn!(
                "{} peer={peer} refused: {max} connections",
                l.service.name()
            );
            let mut stream = stream;
            let _ = stream.write_all(match l.service {
                Service::Lmtp => b"421 4.3.2 Too many connections, try again later\r\n" as &[u8],
                Service::Auth | Service::AuthHttp => b"",
                Service::ManageSieve => b"BYE \"Too many connections.\"\r\n",
            });
            continue;
        }
        let ctx = Arc::clone(&ctx);
        let count = Counted(Arc::clone(&running));
        let service = l.service;
        // Counted before the thread starts, so a shutdown that begins now
        // already waits for it.
        let delivering = (service == Service::Lmtp).then(|| {
            LMTP_SESSIONS.fetch_add(1, Ordering::AcqRel);
            LmtpSession
        });
        let spawned = std::thread::Builder::new()
            .name(format!("{}-{peer}", service.name()))
            .spawn(move || {
                let _count = count;
                let _delivering = delivering;
                match service {
                    Service::Lmtp => super::session::serve(ctx, stream, peer),
                    Service::Auth => crate::auth::socket::serve(ctx, stream, peer),
                    Service::AuthHttp => crate::auth_http::serve(ctx, stream, peer),
                    Service::ManageSieve => match stream {
                        Stream::Tcp(tcp) => crate::managesieve::serve(ctx, tcp, peer),
                        // Refused when the configuration is read.
                        Stream::Unix(_) => {}
                    },
                }
            });
        if let Err(e) = spawned {
            log::error!("{} cannot start a thread: {e}", l.service.name());
        }
    }
}

/// LMTP sessions running now, in all listeners: shutdown waits for them
/// (each finishes or refuses the message it is reading, then says 421).
static LMTP_SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// How many LMTP sessions are still running.
pub fn lmtp_sessions() -> usize {
    LMTP_SESSIONS.load(Ordering::Acquire)
}

struct LmtpSession;

impl Drop for LmtpSession {
    fn drop(&mut self) {
        LMTP_SESSIONS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One running connection thread; released on drop.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
