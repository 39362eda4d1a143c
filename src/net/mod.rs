//! The transport under a session: a TCP stream, plain or wrapped in TLS,
//! optionally with COMPRESS=DEFLATE on top (IMAP → deflate → TLS → TCP, RFC
//! 4978 §3), with byte counters for the logout log line. Also builds the
//! rustls server configuration from PEM files and keeps it swappable for
//! SIGHUP reloads.
//!
//! One thread owns a `Transport`: a rustls stream cannot be split between a
//! reader and a writer thread, so nothing here is shared.

mod compress;

use compress::Deflate;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
    /// Only while an upgrade is in progress or after it failed.
    Closed,
}

/// A client connection, plain or TLS, maybe compressed, counting IMAP bytes
/// (before compression and after decompression).
pub struct Transport {
    stream: Stream,
    /// Set once COMPRESS DEFLATE is active; for the rest of the connection.
    deflate: Option<Box<Deflate>>,
    /// Reads fail with `TimedOut` from this moment on, however steadily
    /// bytes arrive (the login deadline against byte-trickling clients).
    read_deadline: Option<std::time::Instant>,
    /// The socket's read timeout as last set through this transport (None
    /// while unknown): most commands ask for the one already in place, and
    /// a system call per command for nothing adds up.
    read_timeout: std::cell::Cell<Option<Option<Duration>>>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Transport {
    pub fn plain(tcp: TcpStream) -> Transport {
        Transport {
            stream: Stream::Plain(tcp),
            deflate: None,
            read_deadline: None,
            read_timeout: std::cell::Cell::new(None),
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Turns on DEFLATE in both directions (RFC 4978). `pipelined`: bytes
    /// the client sent after the COMPRESS command that were already read;
    /// they are compressed data and get inflated first.
    pub fn start_deflate(&mut self, pipelined: Vec<u8>) -> io::Result<()> {
        if self.deflate.is_some() {
            return Err(io::Error::other("DEFLATE is already active"));
        }
        // Those bytes were counted as IMAP bytes when read; they are
        // compressed ones, counted by the inflater from now on.
        self.bytes_in = self.bytes_in.saturating_sub(pipelined.len() as u64);
        self.deflate = Some(Box::new(Deflate::new(pipelined)));
        Ok(())
    }

    /// Compressed bytes received and sent, when DEFLATE is active.
    pub fn compressed_bytes(&self) -> Option<(u64, u64)> {
        self.deflate.as_ref().map(|d| (d.wire_in, d.wire_out))
    }

    fn tcp(&self) -> Option<&TcpStream> {
        match &self.stream {
            Stream::Plain(t) => Some(t),
            Stream::Tls(s) => Some(&s.sock),
            Stream::Closed => None,
        }
    }

    /// The socket's descriptor, to wait for readability (IDLE).
    pub fn raw_fd(&self) -> Option<std::os::unix::io::RawFd> {
        use std::os::unix::io::AsRawFd;
        self.tcp().map(AsRawFd::as_raw_fd)
    }

    /// Sets (or clears) the moment after which reads fail with `TimedOut`.
    pub fn set_read_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.read_deadline = deadline;
    }

    /// Sets the read timeout of the underlying socket (`None` = block).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        if self.read_timeout.get() == Some(t) {
            return Ok(());
        }
        match self.tcp() {
            Some(tcp) => {
                self.read_timeout.set(None);
                tcp.set_read_timeout(t)?;
                self.read_timeout.set(Some(t));
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self.tcp() {
            Some(tcp) => tcp.set_write_timeout(t),
            None => Ok(()),
        }
    }

    /// Runs the server side of a TLS handshake on this (plain) connection,
    /// for STARTTLS or an implicit-TLS listener. On failure the transport is
    /// left closed.
    pub fn start_tls(&mut self, config: Arc<ServerConfig>, within: Duration) -> io::Result<()> {
        if self.deflate.is_some() {
            // TLS must stay under compression (RFC 4978 §3).
            return Err(io::Error::other("TLS cannot start inside COMPRESS"));
        }
        let Stream::Plain(mut tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(io::Error::other("TLS is already active"));
        };
        let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
        let old_timeout = tcp.read_timeout()?;
        // The whole handshake has `within`, however slowly bytes trickle in.
        let mut io = Deadline {
            tcp: &mut tcp,
            deadline: std::time::Instant::now() + within.min(HANDSHAKE_TIMEOUT),
        };
        // Bounded: every round either moves bytes or fails (timeout / EOF).
        while conn.is_handshaking() {
            let (read, written) = conn.complete_io(&mut io)?;
            if read == 0 && written == 0 && conn.is_handshaking() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during TLS handshake",
                ));
            }
        }
        tcp.set_read_timeout(old_timeout)?;
        self.read_timeout.set(Some(old_timeout));
        self.stream = Stream::Tls(Box::new(StreamOwned::new(conn, tcp)));
        Ok(())
    }

    /// The TLS protocol version and cipher suite, for the login log line.
    pub fn tls_description(&self) -> Option<String> {
        match &self.stream {
            Stream::Tls(s) => {
                let version = s.conn.protocol_version().map(|v| format!("{v:?}"))?;
                let suite = s
                    .conn
                    .negotiated_cipher_suite()
                    .map(|c| format!("{:?}", c.suite()))?;
                Some(format!("{version} {suite}"))
            }
            _ => None,
        }
    }

    /// The common name of the client's certificate, which the handshake
    /// verified against `tls_client_ca`; None without one.
    pub fn client_cert_name(&self) -> Option<String> {
        match &self.stream {
            Stream::Tls(s) => {
                let leaf = s.conn.peer_certificates()?.first()?;
                crate::auth::der::subject_common_name(leaf.as_ref())
            }
            _ => None,
        }
    }

    /// RFC 9266 `tls-exporter` channel-binding data (TLS 1.3 only, as the
    /// RFC requires); `None` on a plain or TLS 1.2 connection.
    pub fn tls_exporter(&self) -> Option<Vec<u8>> {
        match &self.stream {
            Stream::Tls(s)
                if s.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) =>
            {
                let mut out = vec![0u8; 32];
                s.conn
                    .export_keying_material(&mut out, b"EXPORTER-Channel-Binding", None)
                    .ok()?;
                Some(out)
            }
            _ => None,
        }
    }

    /// Sends a TLS close_notify if TLS is active, then shuts the socket.
    pub fn close(&mut self) {
        if let Stream::Tls(s) = &mut self.stream {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        if let Some(tcp) = self.tcp() {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.read(buf),
            Stream::Tls(s) => match s.read(buf) {
                // A client that closes without close_notify is common; treat it as EOF.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
            Stream::Closed => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Closed => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Closed => Ok(()),
        }
    }
}

/// Interrupted reads retried in a row before the error is passed on.
const MAX_EINTR: u32 = 100;

/// Runs `read` again while it fails with EINTR (a hundred times at most).
/// Linux ends a read on a socket with a timeout that way when the process
/// is stopped and continued (a debugger attaching, a frozen container) or
/// takes a signal, even under SA_RESTART (signal(7)): not the peer's
/// doing, so no reason to drop the connection.
fn read_past_eintr(mut read: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    let mut tries = 0;
    loop {
        match read() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted && tries < MAX_EINTR => tries += 1,
            other => return other,
        }
    }
}

/// A socket whose reads fail with `TimedOut` once `deadline` has passed,
/// and otherwise wait at most until then.
struct Deadline<'a> {
    tcp: &'a mut TcpStream,
    deadline: std::time::Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.read(buf)
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.read_deadline {
            if std::time::Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
        }
        let n = read_past_eintr(|| match &mut self.deflate {
            Some(d) => d.read(&mut self.stream, buf),
            None => self.stream.read(buf),
        })?;
        self.bytes_in += n as u64;
        Ok(n)
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.deflate {
            Some(d) => {
                d.write(&mut self.stream, buf)?;
                buf.len()
            }
            None => self.stream.write(buf)?,
        };
        self.bytes_out += n as u64;
        Ok(n)
    }

    /// With DEFLATE this is a sync flush: everything written so far reaches
    /// the client decodable. Every response and continuation goes out
    /// through here, so no client ever waits on bytes held in the compressor.
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.deflate {
            Some(d) => d.flush(&mut self.stream),
            None => self.stream.flush(),
        }
    }
}

/// The server's TLS settings, replaceable at runtime (SIGHUP re-reads the
/// certificate and key; sessions that already started keep theirs).
pub struct TlsSettings {
    /// SHA-256 of the certificate in use, for RFC 5929
    /// `tls-server-end-point` channel binding.
    leaf_sha256: RwLock<[u8; 32]>,
    cert: PathBuf,
    key: PathBuf,
    session_tickets: bool,
    /// CAs for client certificates (asked for, not required, when set).
    client_ca: Option<PathBuf>,
    current: RwLock<Arc<ServerConfig>>,
}

impl TlsSettings {
    /// Loads the certificate chain and key; errors name the file.
    /// `session_tickets`: end TLS 1.3 handshakes with resumption tickets.
    /// With `client_ca` clients are asked for a certificate signed by one
    /// of its CAs (a client without one still connects; one with a bad
    /// one does not).
    pub fn load(
        cert: &Path,
        key: &Path,
        session_tickets: bool,
        client_ca: Option<&Path>,
    ) -> Result<TlsSettings, String> {
        let config = build_server_config(cert, key, session_tickets, client_ca)?;
        Ok(TlsSettings {
            leaf_sha256: RwLock::new(leaf_hash(cert)?),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            session_tickets,
            client_ca: client_ca.map(Path::to_path_buf),
            current: RwLock::new(config),
        })
    }

    /// The configuration new handshakes use.
    pub fn config(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// `tls-server-end-point` data: the certificate's SHA-256 (RFC 5929
    /// §4.1 names SHA-256 for SHA-256-, SHA-1- and MD5-signed certificates,
    /// the ones in use).
    pub fn end_point_hash(&self) -> [u8; 32] {
        match self.leaf_sha256.read() {
            Ok(h) => *h,
            Err(p) => *p.into_inner(),
        }
    }

    /// Re-reads the PEM files; on error the old configuration stays.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = build_server_config(
            &self.cert,
            &self.key,
            self.session_tickets,
            self.client_ca.as_deref(),
        )?;
        let hash = leaf_hash(&self.cert)?;
        match self.leaf_sha256.write() {
            Ok(mut h) => *h = hash,
            Err(p) => *p.into_inner() = hash,
        }
        match self.current.write() {
            Ok(mut c) => *c = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }
}

/// Tickets rustls sends after a TLS 1.3 handshake when they are on (its
/// own default).
const TLS13_TICKETS: usize = 2;

/// SHA-256 of the first certificate in the PEM file.
fn leaf_hash(cert: &Path) -> Result<[u8; 32], String> {
    use sha2::Digest;
    let first = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .next()
        .ok_or_else(|| format!("{}: no certificate found", cert.display()))?
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    Ok(sha2::Sha256::digest(first.as_ref()).into())
}

fn build_server_config(
    cert: &Path,
    key: &Path,
    session_tickets: bool,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in
                CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))?
            {
                let c = c.map_err(|e| format!("{}: {e}", ca.display()))?;
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{} / {}: {e}", cert.display(), key_hint()))?;
    // Tickets are records the server sends unasked right after the
    // handshake. imaplib2 (offlineimap) reads and writes one OpenSSL socket
    // from two threads without a lock; when its reader takes in a ticket
    // while its writer sends the first command, a record is lost and the
    // client waits 60 s for an answer. Dovecot sends tickets and has the same hang.
    // Without them a reconnecting client does a full handshake: a few ms.
    config.send_tls13_tickets = if session_tickets { TLS13_TICKETS } else { 0 };
    Ok(Arc::new(config))
}

fn key_hint() -> &'static str {
    "certificate and key do not match or the key is unusable"
}
