//! What every session shares: the configuration and the services built from
//! it (users file, TLS settings, login throttle), plus server-wide counters.
//! Built once at startup; sessions hold an `Arc` to it.

use crate::auth::passwd::PasswdFile;
use crate::auth::throttle::FailureThrottle;
use crate::config::Config;
use crate::net::TlsSettings;
use crate::proto::reader::Limits;
use crate::trace::TracePolicy;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest failed-login delay, however many failures an address piles up.
pub const MAX_AUTH_FAILURE_DELAY: Duration = Duration::from_secs(15);
/// How long a write to a client may block before the session is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest SASL response line (base64 of user + password).
pub const MAX_SASL_LINE: usize = 8192;
/// Invalid commands in a row before the server hangs up (Dovecot uses 20).
pub const MAX_BAD_COMMANDS: u32 = 20;

pub struct ServerContext {
    pub config: Config,
    /// Mailbox states shared by all sessions.
    pub registry: std::sync::Arc<crate::store::Registry>,
    /// Tells sessions about changes to their selected mailbox.
    pub watcher: crate::store::watch::Watcher,
    pub passwd: PasswdFile,
    pub throttle: FailureThrottle,
    pub tls: Option<TlsSettings>,
    /// The keys OAUTHBEARER and XOAUTH2 tokens are checked with.
    pub bearer_keys: crate::auth::jwt::LoadedKeys,
    pub trace_policy: TracePolicy,
    pub limits: Limits,
    /// Limits on what one command may ask for.
    pub parse_limits: crate::proto::parse::ParseLimits,
    /// Connections counted against `max_connections` and, until they log
    /// in, `max_connections_per_ip`.
    pub admissions: std::sync::Arc<crate::admission::Admissions>,
    /// Live sessions per user (`max_sessions_per_user`).
    pub per_user: std::sync::Arc<crate::live_counts::LiveCounts<String>>,
    /// Connection threads running now (closed-to-make-room ones included
    /// until they end).
    pub connections: AtomicUsize,
    /// Set on SIGTERM/SIGINT: sessions say BYE and end.
    pub shutting_down: std::sync::atomic::AtomicBool,
    /// A handle on each live connection's socket, so shutdown can wake
    /// sessions blocked in a read (by shutting down the reading side).
    live: std::sync::Mutex<std::collections::HashMap<u64, std::net::TcpStream>>,
    next_session: AtomicU64,
    /// Distinguishes session ids across restarts.
    boot: u64,
}

impl ServerContext {
    pub fn new(config: Config, passwd: PasswdFile, tls: Option<TlsSettings>) -> ServerContext {
        let limits = Limits {
            max_line: config.max_line_length,
            max_literal: config.max_literal_size,
            max_append_literal: config.max_append_size,
            // Reading and dropping a rejected non-synchronizing literal keeps
            // the session in sync; beyond this it is cheaper to hang up.
            max_discard: (config.max_append_size as u64).saturating_mul(2),
            literal_minus: config.literal_minus,
        };
        let watcher = crate::store::watch::Watcher::start(config.watch, config.watch_poll_interval);
        let config_limits = (config.max_sequence_ranges, config.max_search_depth);
        let trace_policy = TracePolicy {
            dir: config.trace_dir.clone(),
            users: config.trace_users.clone(),
            addresses: config.trace_addresses.clone(),
        };
        let bearer_keys = crate::auth::jwt::LoadedKeys::load(&config.oauth2);
        if config.auth_oauthbearer || config.auth_xoauth2 {
            if let Err(e) = bearer_keys.get().as_ref() {
                log::error!("token keys: {e}; OAUTHBEARER and XOAUTH2 logins will fail");
            }
        }
        let boot = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        ServerContext {
            registry: std::sync::Arc::new(crate::store::Registry::with_watcher(watcher.clone())),
            watcher,
            throttle: FailureThrottle::new(config.auth_failure_delay, MAX_AUTH_FAILURE_DELAY),
            bearer_keys,
            config,
            passwd,
            tls,
            trace_policy,
            limits,
            parse_limits: crate::proto::parse::ParseLimits {
                max_set_ranges: config_limits.0,
                max_search_depth: config_limits.1,
            },
            admissions: Default::default(),
            per_user: Default::default(),
            connections: AtomicUsize::new(0),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            live: std::sync::Mutex::new(std::collections::HashMap::new()),
            next_session: AtomicU64::new(1),
            boot,
        }
    }

    /// Remembers a connection's socket for shutdown; returns a key for `forget`.
    pub fn remember(&self, tcp: &std::net::TcpStream) -> u64 {
        let key = self.next_session.fetch_add(1, Ordering::Relaxed) | (1 << 63);
        if let Ok(clone) = tcp.try_clone() {
            crate::store::lock(&self.live).insert(key, clone);
        }
        key
    }

    pub fn forget(&self, key: u64) {
        crate::store::lock(&self.live).remove(&key);
    }

    /// Starts a graceful shutdown: every session's pending read ends, so it
    /// can send BYE and close. Writes still work, TLS included.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for tcp in crate::store::lock(&self.live).values() {
            let _ = tcp.shutdown(std::net::Shutdown::Read);
        }
    }

    /// A short id that is unique within this server run and unlikely to
    /// repeat across restarts; it ties log lines and trace files together.
    pub fn new_session_id(&self) -> String {
        let n = self.next_session.fetch_add(1, Ordering::Relaxed);
        format!("{:06x}{:04x}", self.boot & 0xff_ffff, n)
    }
}
