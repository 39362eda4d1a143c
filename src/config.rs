//! Configuration: the `key = value` file, `-o KEY=VALUE` overrides, defaults
//! and validation. Reads files, nothing else; the result is a plain value
//! the server is started with.
//!
//! Every key lives in `KEYS` (name, default, one-line help), which drives the
//! parser, `roost check` and the tests that keep the man page in step.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `roost serve` looks when `-c` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/roost/roost.conf";

/// Every configuration key with its default and a short description.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "listen",
        "0.0.0.0:143",
        "comma-separated addr:port list for IMAP with STARTTLS; empty disables",
    ),
    (
        "listen_tls",
        "0.0.0.0:993",
        "comma-separated addr:port list for implicit TLS; used only when tls_cert is set",
    ),
    (
        "tls_cert",
        "",
        "PEM certificate chain; enables STARTTLS and the TLS listeners",
    ),
    ("tls_key", "", "PEM private key for tls_cert"),
    (
        "tls_session_tickets",
        "no",
        "yes to send TLS 1.3 session tickets; off because imaplib2 clients (offlineimap) hang on them",
    ),
    (
        "tls_client_ca",
        "",
        "PEM CA certificates that TLS client certificates are checked against; set, clients are asked for one (AUTHENTICATE EXTERNAL)",
    ),
    (
        "plaintext_auth",
        "tls-or-local",
        "tls-or-local | always | never: when password logins are allowed without TLS",
    ),
    (
        "auth_mechanisms",
        "plain login",
        "SASL mechanisms offered, as Dovecot's setting: plain, login, scram-sha-256, scram-sha-1 (also -PLUS over TLS; need {SCRAM-SHA-…} or {PLAIN} passwords), cram-md5 ({CRAM-MD5} or {PLAIN}), oauthbearer, xoauth2 (JWT bearer tokens checked with the oauth2_* keys), external (TLS client certificates, tls_client_ca)",
    ),
    (
        "oauth2_hmac_key_file",
        "",
        "file holding the shared secret that HS256 bearer tokens are signed with",
    ),
    (
        "oauth2_public_key_file",
        "",
        "PEM public key (RSA or P-256) that RS256/ES256 bearer tokens are signed with",
    ),
    (
        "oauth2_issuer",
        "",
        "the iss a bearer token must carry; empty: any",
    ),
    (
        "oauth2_audience",
        "",
        "a value the bearer token's aud must hold; empty: any",
    ),
    (
        "oauth2_username_attribute",
        "email",
        "the token claim naming the user (email, sub, ...), as Dovecot's username_attribute",
    ),
    (
        "passwd_file",
        "/etc/roost/passwd",
        "Dovecot-format users file (user:{SCHEME}hash:uid:gid:gecos:home:shell:extra)",
    ),
    (
        "passdb",
        "passwd-file",
        "comma-separated password databases tried in order: passwd-file, pam",
    ),
    (
        "userdb",
        "passwd-file",
        "where a user's uid, gid and home come from: passwd-file, or passwd (the system's, via NSS)",
    ),
    (
        "pam_service",
        "dovecot",
        "PAM service name (/etc/pam.d/NAME) for passdb = pam; dovecot, as Dovecot's default",
    ),
    (
        "pam_timeout_secs",
        "30",
        "longest a PAM check may take before the login is refused",
    ),
    (
        "auth_cache_ttl_secs",
        "60",
        "how long a verified password is remembered, so repeated logins skip the slow hash; 0: never",
    ),
    (
        "auth_cache_size",
        "1000",
        "verified passwords remembered at most (passwd-file users; failures are never kept)",
    ),
    (
        "first_valid_uid",
        "500",
        "userdb = passwd: lowest uid that may log in (root and system accounts are below)",
    ),
    (
        "last_valid_uid",
        "0",
        "userdb = passwd: highest uid that may log in; 0: no limit",
    ),
    (
        "first_valid_gid",
        "1",
        "userdb = passwd: lowest primary gid that may log in",
    ),
    (
        "mail_location",
        "%h/Maildir",
        "Maildir root per user; %u user, %n local part, %d domain, %h home, %% percent",
    ),
    (
        "namespace_separator",
        ".",
        "hierarchy separator clients see: . or / (on disk Maildir++ always uses .)",
    ),
    (
        "namespace_prefix",
        "",
        "namespace prefix clients see, e.g. INBOX. for trees a Courier server used to serve",
    ),
    (
        "mailbox_names_utf8",
        "no",
        "yes if folder directories are named in UTF-8 rather than modified UTF-7",
    ),
    (
        "max_connections",
        "1000",
        "simultaneous client connections; at the limit the oldest not logged in is closed",
    ),
    (
        "user",
        "",
        "account to switch to once the listeners are bound (name or uid); empty: stay",
    ),
    (
        "group",
        "",
        "group to switch to (name or gid); empty: the user's primary group",
    ),
    (
        "allow_root",
        "no",
        "yes to let the server keep serving as root (uid 0) after startup",
    ),
    ("log_level", "info", "error | warn | info | debug | trace"),
    (
        "trace_dir",
        "",
        "directory for per-session protocol transcripts; empty disables",
    ),
    (
        "trace_users",
        "",
        "comma-separated users to trace (empty: all)",
    ),
    (
        "trace_addresses",
        "",
        "comma-separated client IP addresses to trace (empty: all)",
    ),
    (
        "max_line_length",
        "65536",
        "longest command line in bytes, outside literals",
    ),
    (
        "max_literal_size",
        "65536",
        "largest literal in a command other than APPEND",
    ),
    (
        "max_append_size",
        "52428800",
        "largest message APPEND accepts, in bytes",
    ),
    (
        "literal_minus",
        "no",
        "advertise LITERAL- instead of LITERAL+: non-synchronizing literals over 4096 bytes get BAD [TOOBIG]",
    ),
    (
        "max_connections_per_ip",
        "100",
        "connections not logged in from one client address (IPv6: one /64); more close the oldest",
    ),
    (
        "max_sessions_per_user",
        "50",
        "simultaneous logged-in sessions of one user; more logins get NO [LIMIT]",
    ),
    (
        "max_sequence_ranges",
        "100000",
        "ranges in one sequence set (1,3:5 is two); longer ones get BAD",
    ),
    (
        "max_search_depth",
        "64",
        "nesting of parentheses, NOT and OR in one SEARCH; deeper gets BAD",
    ),
    (
        "max_mailbox_name_length",
        "1024",
        "longest mailbox name CREATE and RENAME accept, in bytes",
    ),
    (
        "max_mailbox_depth",
        "32",
        "most hierarchy levels in a mailbox name CREATE and RENAME accept",
    ),
    (
        "max_mailboxes",
        "10000",
        "most folders one user may have; CREATE beyond gets NO [LIMIT]",
    ),
    (
        "login_timeout_secs",
        "180",
        "time a connection has to log in, however busy it keeps; then BYE",
    ),
    (
        "auth_failure_delay_ms",
        "1000",
        "delay before answering a failed login; doubles per failure from one address up to 15 s",
    ),
    (
        "idle_keepalive_secs",
        "120",
        "how often an IDLE client hears \"* OK Still here\" (keeps NAT state alive)",
    ),
    (
        "timeout_preauth_secs",
        "60",
        "idle time before an unauthenticated connection is closed",
    ),
    (
        "timeout_auth_secs",
        "1860",
        "idle time before an authenticated connection is closed (RFC 3501 §5.4: at least 30 min)",
    ),
    (
        "special_use",
        "Drafts=\\Drafts, Sent=\\Sent, Trash=\\Trash, Junk=\\Junk, Archive=\\Archive",
        "comma-separated Name=\\Use pairs: folders LIST marks with an RFC 6154 special use",
    ),
    (
        "autocreate_special_use",
        "yes",
        "yes to create and subscribe missing special_use folders at login (first name per use)",
    ),
    (
        "lmtp_listen",
        "",
        "comma-separated unix:PATH or addr:port list for LMTP delivery (Postfix); empty disables",
    ),
    (
        "auth_listen",
        "",
        "comma-separated unix:PATH or addr:port list for Dovecot-style SMTP AUTH checks (Postfix smtpd_sasl_type = dovecot)",
    ),
    (
        "unix_socket_owner",
        "",
        "owner (name or uid) of the lmtp_listen and auth_listen Unix sockets; empty: the server's user",
    ),
    (
        "unix_socket_group",
        "",
        "group (name or gid) of those Unix sockets; empty: the server's group",
    ),
    (
        "unix_socket_mode",
        "0660",
        "permissions of those Unix sockets, in octal",
    ),
    (
        "recipient_delimiter",
        "+",
        "characters that separate a user from a detail in a recipient (user+detail); empty: none",
    ),
    (
        "fts_index",
        "yes",
        "keep a full-text index (roost-fts/ in each Maildir folder) that SEARCH TEXT and BODY narrow their reading with (yes or no)",
    ),
    (
        "lmtp_save_to_detail_mailbox",
        "no",
        "yes to deliver user+detail into the folder named detail when it exists",
    ),
    (
        "managesieve_listen",
        "",
        "addresses (host:port) for ManageSieve (RFC 5804), usually port 4190; empty: none",
    ),
    (
        "sieve",
        "file:~/sieve;active=~/.dovecot.sieve",
        "the user's Sieve scripts, as Pigeonhole's `sieve` setting: a directory of scripts and the active one (`~` is the user's home); empty: no per-user filtering",
    ),
    (
        "sieve_before",
        "",
        "a Sieve script (or directory of *.sieve) run before the user's own, as Pigeonhole's sieve_before",
    ),
    (
        "sieve_after",
        "",
        "a Sieve script (or directory of *.sieve) run after the user's own",
    ),
    (
        "sieve_global",
        "",
        "directory of the scripts `include :global` names",
    ),
    (
        "sieve_quota_max_scripts",
        "0",
        "most Sieve scripts a user may keep through ManageSieve; 0: no limit",
    ),
    (
        "sieve_quota_max_storage",
        "0",
        "most bytes of Sieve scripts a user may keep through ManageSieve; 0: no limit",
    ),
    (
        "sendmail_path",
        "/usr/sbin/sendmail",
        "program that sends Sieve's vacation replies, redirects and rejects",
    ),
    (
        "sieve_spamtest_status_header",
        "",
        "header field holding the spam score Sieve's spamtest reads (e.g. X-Spam-Score); empty: untested",
    ),
    (
        "sieve_spamtest_max_value",
        "10",
        "the spam score that means certainly spam",
    ),
    (
        "sieve_virustest_status_header",
        "",
        "header field holding a 0-5 virus verdict for Sieve's virustest",
    ),
    (
        "quota_rule",
        "",
        "default quota in Dovecot's syntax (*:storage=1G); the users file's userdb_quota_rule replaces it",
    ),
    (
        "quota_rule2",
        "",
        "a second default quota rule (*:messages=10000); userdb_quota_rule2 replaces it",
    ),
    (
        "watch",
        "auto",
        "inotify | poll | auto: how mailbox changes are noticed; auto polls Maildirs on NFS, FUSE, CIFS and other shared file systems",
    ),
    (
        "watch_poll_interval_ms",
        "1000",
        "how often polled mailboxes are checked for changes other hosts made",
    ),
    (
        "auth_http_listen",
        "",
        "comma-separated addr:port or unix:PATH list for nginx's mail auth_http protocol; empty disables",
    ),
    (
        "cluster_nodes",
        "",
        "comma-separated ip:port list of the IMAP nodes auth_http routes users to (stable hash, dead nodes skipped)",
    ),
    (
        "login_trusted_networks",
        "",
        "comma-separated networks (10.0.0.0/8, ::1) whose connections may log in with a password without TLS (a mail proxy)",
    ),
    (
        "proxy_protocol_from",
        "",
        "comma-separated networks whose IMAP connections start with a PROXY protocol v1 header naming the real client",
    ),
];

/// A listening socket: a Unix socket path or a TCP address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketSpec {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl fmt::Display for SocketSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketSpec::Unix(p) => write!(f, "unix:{}", p.display()),
            SocketSpec::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// How OAUTHBEARER and XOAUTH2 bearer tokens (JWTs) are checked locally,
/// as Dovecot's oauth2 `introspection_mode = local`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2Settings {
    /// The HS256 shared secret's file.
    pub hmac_key_file: Option<PathBuf>,
    /// The RS256/ES256 public key's PEM file.
    pub public_key_file: Option<PathBuf>,
    /// Required `iss`; empty: not checked.
    pub issuer: String,
    /// Required member of `aud`; empty: not checked.
    pub audience: String,
    /// The claim holding the user name.
    pub username_attribute: String,
}

impl Default for OAuth2Settings {
    fn default() -> OAuth2Settings {
        OAuth2Settings {
            hmac_key_file: None,
            public_key_file: None,
            issuer: String::new(),
            audience: String::new(),
            username_attribute: "email".to_string(),
        }
    }
}

/// When plaintext passwords (LOGIN, AUTHENTICATE PLAIN/LOGIN) are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaintextAuth {
    /// Over TLS, or from a loopback address.
    TlsOrLocal,
    /// Always, even over an unencrypted remote connection.
    Always,
    /// Only over TLS, even from loopback.
    Never,
}

impl PlaintextAuth {
    fn as_str(self) -> &'static str {
        match self {
            PlaintextAuth::TlsOrLocal => "tls-or-local",
            PlaintextAuth::Always => "always",
            PlaintextAuth::Never => "never",
        }
    }

    /// Whether a password may be sent on this connection.
    pub fn allows(self, tls: bool, peer: IpAddr) -> bool {
        tls || match self {
            PlaintextAuth::Always => true,
            PlaintextAuth::Never => false,
            PlaintextAuth::TlsOrLocal => peer.is_loopback(),
        }
    }
}

/// A password database (`passdb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passdb {
    /// The Dovecot-format `passwd_file`.
    PasswdFile,
    /// The system's PAM stack, service `pam_service`.
    Pam,
}

impl Passdb {
    fn as_str(self) -> &'static str {
        match self {
            Passdb::PasswdFile => "passwd-file",
            Passdb::Pam => "pam",
        }
    }
}

/// Where a logged-in user's identity and home come from (`userdb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Userdb {
    /// The passwd file's own fields; sessions run as the server's `user`.
    PasswdFile,
    /// The system's users (getpwnam through NSS); each session runs as its
    /// user (see `identity`).
    Passwd,
}

impl Userdb {
    fn as_str(self) -> &'static str {
        match self {
            Userdb::PasswdFile => "passwd-file",
            Userdb::Passwd => "passwd",
        }
    }
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub listen_tls: Vec<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Whether TLS 1.3 handshakes end with session tickets (resumption).
    pub tls_session_tickets: bool,
    /// CAs for TLS client certificates; set, clients are asked for one.
    pub tls_client_ca: Option<PathBuf>,
    pub plaintext_auth: PlaintextAuth,
    /// SCRAM-SHA-256 (and -PLUS) offered (`auth_mechanisms`).
    pub auth_scram: bool,
    /// SCRAM-SHA-1 (and -PLUS) offered.
    pub auth_scram_sha1: bool,
    /// CRAM-MD5 offered.
    pub auth_cram_md5: bool,
    /// OAUTHBEARER offered.
    pub auth_oauthbearer: bool,
    /// XOAUTH2 offered.
    pub auth_xoauth2: bool,
    /// EXTERNAL (a verified TLS client certificate's common name) offered.
    pub auth_external: bool,
    /// How bearer tokens are checked (the `oauth2_*` keys).
    pub oauth2: OAuth2Settings,
    pub passwd_file: PathBuf,
    /// Password databases, tried in order until one accepts.
    pub passdb: Vec<Passdb>,
    pub userdb: Userdb,
    pub pam_service: String,
    pub pam_timeout: Duration,
    /// Verified passwords kept this long (`auth_cache_ttl_secs`)...
    pub auth_cache_ttl: Duration,
    /// ...and this many at most (`auth_cache_size`).
    pub auth_cache_size: usize,
    pub first_valid_uid: u32,
    /// 0: no upper limit (Dovecot's meaning).
    pub last_valid_uid: u32,
    pub first_valid_gid: u32,
    pub mail_location: String,
    pub namespace: crate::store::names::Namespace,
    pub max_connections: usize,
    /// The account to run as after binding; empty: keep the current one.
    pub user: String,
    /// The group to run as; empty: the user's primary group.
    pub group: String,
    pub allow_root: bool,
    pub log_level: log::LevelFilter,
    pub trace_dir: Option<PathBuf>,
    pub trace_users: Vec<String>,
    pub trace_addresses: Vec<IpAddr>,
    pub max_line_length: usize,
    pub max_literal_size: usize,
    pub max_append_size: usize,
    /// RFC 7888 §5: LITERAL- rather than LITERAL+.
    pub literal_minus: bool,
    pub max_connections_per_ip: usize,
    pub max_sessions_per_user: usize,
    pub max_sequence_ranges: usize,
    pub max_search_depth: usize,
    pub max_mailbox_name_length: usize,
    pub max_mailbox_depth: usize,
    pub max_mailboxes: usize,
    pub login_timeout: Duration,
    pub auth_failure_delay: Duration,
    pub idle_keepalive: Duration,
    pub timeout_preauth: Duration,
    pub timeout_auth: Duration,
    /// Folder names (as clients see them) and their RFC 6154 uses.
    pub special_use: Vec<(String, crate::store::special_use::SpecialUse)>,
    pub autocreate_special_use: bool,
    pub lmtp_listen: Vec<SocketSpec>,
    pub auth_listen: Vec<SocketSpec>,
    pub unix_socket_owner: String,
    pub unix_socket_group: String,
    pub unix_socket_mode: u32,
    pub recipient_delimiter: String,
    pub lmtp_save_to_detail_mailbox: bool,
    pub fts_index: bool,
    pub sieve: String,
    pub sieve_before: String,
    pub sieve_after: String,
    pub sieve_global: String,
    pub sendmail_path: String,
    pub sieve_spamtest_status_header: String,
    pub sieve_spamtest_max_value: String,
    pub sieve_virustest_status_header: String,
    pub sieve_quota_max_scripts: usize,
    pub sieve_quota_max_storage: u64,
    pub managesieve_listen: Vec<SocketSpec>,
    /// Dovecot-syntax quota rules (`quota_rule`, `quota_rule2`).
    pub quota_rule: String,
    pub quota_rule2: String,
    pub watch: crate::store::watch::WatchMode,
    pub watch_poll_interval: Duration,
    pub auth_http_listen: Vec<SocketSpec>,
    pub cluster_nodes: Vec<SocketAddr>,
    pub login_trusted_networks: Vec<crate::cidr::Cidr>,
    pub proxy_protocol_from: Vec<crate::cidr::Cidr>,
}

/// A configuration problem, naming where it was found.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `-o` for a command-line override.
    pub origin: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{}: {}", self.origin, n, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            listen: Vec::new(),
            listen_tls: Vec::new(),
            tls_cert: None,
            tls_key: None,
            tls_session_tickets: false,
            tls_client_ca: None,
            plaintext_auth: PlaintextAuth::TlsOrLocal,
            auth_scram: false,
            auth_scram_sha1: false,
            auth_cram_md5: false,
            auth_oauthbearer: false,
            auth_xoauth2: false,
            auth_external: false,
            oauth2: OAuth2Settings::default(),
            passwd_file: PathBuf::new(),
            passdb: Vec::new(),
            userdb: Userdb::PasswdFile,
            pam_service: String::new(),
            pam_timeout: Duration::ZERO,
            auth_cache_ttl: Duration::ZERO,
            auth_cache_size: 0,
            first_valid_uid: 0,
            last_valid_uid: 0,
            first_valid_gid: 0,
            mail_location: String::new(),
            namespace: crate::store::names::Namespace::default(),
            max_connections: 0,
            user: String::new(),
            group: String::new(),
            allow_root: false,
            log_level: log::LevelFilter::Info,
            trace_dir: None,
            trace_users: Vec::new(),
            trace_addresses: Vec::new(),
            max_line_length: 0,
            max_literal_size: 0,
            max_append_size: 0,
            literal_minus: false,
            max_connections_per_ip: 0,
            max_sessions_per_user: 0,
            max_sequence_ranges: 0,
            max_search_depth: 0,
            max_mailbox_name_length: 0,
            max_mailbox_depth: 0,
            max_mailboxes: 0,
            login_timeout: Duration::ZERO,
            auth_failure_delay: Duration::ZERO,
            idle_keepalive: Duration::ZERO,
            timeout_preauth: Duration::ZERO,
            timeout_auth: Duration::ZERO,
            special_use: Vec::new(),
            autocreate_special_use: false,
            lmtp_listen: Vec::new(),
            auth_listen: Vec::new(),
            unix_socket_owner: String::new(),
            unix_socket_group: String::new(),
            unix_socket_mode: 0,
            recipient_delimiter: String::new(),
            lmtp_save_to_detail_mailbox: false,
            fts_index: false,
            sieve: String::new(),
            sieve_before: String::new(),
            sieve_after: String::new(),
            sieve_global: String::new(),
            sendmail_path: String::new(),
            sieve_spamtest_status_header: String::new(),
            sieve_spamtest_max_value: String::new(),
            sieve_virustest_status_header: String::new(),
            sieve_quota_max_scripts: 0,
            sieve_quota_max_storage: 0,
            managesieve_listen: Vec::new(),
            quota_rule: String::new(),
            quota_rule2: String::new(),
            watch: crate::store::watch::WatchMode::Auto,
            watch_poll_interval: Duration::ZERO,
            auth_http_listen: Vec::new(),
            cluster_nodes: Vec::new(),
            login_trusted_networks: Vec::new(),
            proxy_protocol_from: Vec::new(),
        };
        for (key, default, _) in KEYS {
            // The defaults are constants checked by a unit test.
            let _ = c.set(key, default);
        }
        c
    }
}

impl Config {
    /// Whether CRAM-MD5 is offered: listed in `auth_mechanisms`, and a
    /// passwd file to hold the stored secrets it needs.
    pub fn cram_md5_offered(&self) -> bool {
        self.auth_cram_md5 && self.passdb.contains(&Passdb::PasswdFile)
    }

    /// Whether SCRAM with `hash` is offered, on the same terms.
    pub fn scram_offered(&self, hash: crate::auth::scram::ScramHash) -> bool {
        let listed = match hash {
            crate::auth::scram::ScramHash::Sha256 => self.auth_scram,
            crate::auth::scram::ScramHash::Sha1 => self.auth_scram_sha1,
        };
        listed && self.passdb.contains(&Passdb::PasswdFile)
    }

    /// Reads a configuration file, then applies `overrides` (`KEY=VALUE`).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.clone(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        let mut config = Config::default();
        config.apply_text(&origin, &text)?;
        config.apply_overrides(overrides)?;
        config.validate(&origin)?;
        Ok(config)
    }

    /// Applies `key = value` lines; `#` starts a comment line.
    pub fn apply_text(&mut self, origin: &str, text: &str) -> Result<(), ConfigError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| ConfigError {
                origin: origin.to_string(),
                line: Some(i + 1),
                message,
            };
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| err(format!("expected `key = value`, found {line:?}")))?;
            self.set(key.trim(), value.trim()).map_err(err)?;
        }
        Ok(())
    }

    /// Applies `-o KEY=VALUE` overrides.
    pub fn apply_overrides(&mut self, overrides: &[String]) -> Result<(), ConfigError> {
        for o in overrides {
            let err = |message: String| ConfigError {
                origin: "-o".into(),
                line: None,
                message,
            };
            let (key, value) = o
                .split_once('=')
                .ok_or_else(|| err(format!("expected KEY=VALUE, found {o:?}")))?;
            self.set(key.trim(), value.trim()).map_err(err)?;
        }
        Ok(())
    }

    /// Sets one key from its text form.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "listen" => self.listen = parse_addrs(value)?,
            "listen_tls" => self.listen_tls = parse_addrs(value)?,
            "tls_cert" => self.tls_cert = opt_path(value),
            "tls_key" => self.tls_key = opt_path(value),
            "tls_session_tickets" => self.tls_session_tickets = parse_bool(key, value)?,
            "tls_client_ca" => self.tls_client_ca = opt_path(value),
            "auth_mechanisms" => {
                let (mut scram, mut sha1, mut cram, mut bearer, mut xoauth2, mut external) =
                    (false, false, false, false, false, false);
                for m in value.split([' ', ',']).filter(|m| !m.is_empty()) {
                    match m.to_ascii_lowercase().as_str() {
                        // PLAIN and LOGIN are always there (plaintext_auth decides when).
                        "plain" | "login" => {}
                        "scram-sha-256" | "scram-sha-256-plus" => scram = true,
                        "scram-sha-1" | "scram-sha-1-plus" => sha1 = true,
                        "cram-md5" => cram = true,
                        "oauthbearer" => bearer = true,
                        "xoauth2" => xoauth2 = true,
                        "external" => external = true,
                        other => return Err(format!("auth_mechanisms: {other:?} is not offered (plain, login, scram-sha-256, scram-sha-1, cram-md5, oauthbearer, xoauth2, external)")),
                    }
                }
                self.auth_scram = scram;
                self.auth_scram_sha1 = sha1;
                self.auth_cram_md5 = cram;
                self.auth_oauthbearer = bearer;
                self.auth_xoauth2 = xoauth2;
                self.auth_external = external;
            }
            "oauth2_hmac_key_file" => self.oauth2.hmac_key_file = opt_path(value),
            "oauth2_public_key_file" => self.oauth2.public_key_file = opt_path(value),
            "oauth2_issuer" => self.oauth2.issuer = value.to_string(),
            "oauth2_audience" => self.oauth2.audience = value.to_string(),
            "oauth2_username_attribute" => {
                if value.is_empty() {
                    return Err(format!("{key}: needs a claim name"));
                }
                self.oauth2.username_attribute = value.to_string()
            }
            "plaintext_auth" => {
                self.plaintext_auth = match value {
                    "tls-or-local" => PlaintextAuth::TlsOrLocal,
                    "always" => PlaintextAuth::Always,
                    "never" => PlaintextAuth::Never,
                    _ => {
                        return Err(format!(
                        "plaintext_auth: expected tls-or-local, always or never, found {value:?}"
                    ))
                    }
                }
            }
            "passwd_file" => {
                if value.is_empty() {
                    return Err("passwd_file must not be empty".into());
                }
                self.passwd_file = PathBuf::from(value)
            }
            "passdb" => self.passdb = parse_passdbs(value)?,
            "userdb" => {
                self.userdb = match value {
                    "passwd-file" => Userdb::PasswdFile,
                    "passwd" => Userdb::Passwd,
                    _ => {
                        return Err(format!(
                            "userdb: expected passwd-file or passwd, found {value:?}"
                        ))
                    }
                }
            }
            "pam_service" => {
                if value.is_empty() || value.contains(['/', '\0']) || value.starts_with('.') {
                    return Err(format!(
                        "pam_service: {value:?} is not a file name in /etc/pam.d"
                    ));
                }
                self.pam_service = value.to_string()
            }
            "pam_timeout_secs" => {
                self.pam_timeout = Duration::from_secs(parse_num(key, value, 1, 3600)? as u64)
            }
            "auth_cache_ttl_secs" => {
                self.auth_cache_ttl = Duration::from_secs(parse_num(key, value, 0, 86400)? as u64)
            }
            "auth_cache_size" => self.auth_cache_size = parse_num(key, value, 0, 1_000_000)?,
            "first_valid_uid" => {
                self.first_valid_uid = parse_num(key, value, 0, u32::MAX as usize)? as u32
            }
            "last_valid_uid" => {
                self.last_valid_uid = parse_num(key, value, 0, u32::MAX as usize)? as u32
            }
            "first_valid_gid" => {
                self.first_valid_gid = parse_num(key, value, 0, u32::MAX as usize)? as u32
            }
            "mail_location" => self.mail_location = parse_mail_location(value)?,
            "namespace_separator" => {
                self.namespace.separator = match value {
                    "." => '.',
                    "/" => '/',
                    _ => {
                        return Err(format!(
                            "namespace_separator: expected . or /, found {value:?}"
                        ))
                    }
                }
            }
            "namespace_prefix" => self.namespace.prefix = value.to_string(),
            "mailbox_names_utf8" => self.namespace.utf8_on_disk = parse_bool(key, value)?,
            "max_connections" => self.max_connections = parse_num(key, value, 1, 1_000_000)?,
            "user" => self.user = parse_account(key, value)?,
            "group" => self.group = parse_account(key, value)?,
            "allow_root" => self.allow_root = parse_bool(key, value)?,
            "log_level" => {
                self.log_level = value.parse().map_err(|_| {
                    format!(
                        "log_level: expected error, warn, info, debug or trace, found {value:?}"
                    )
                })?
            }
            "trace_dir" => self.trace_dir = opt_path(value),
            "trace_users" => self.trace_users = split_list(value).map(str::to_string).collect(),
            "trace_addresses" => {
                self.trace_addresses = split_list(value)
                    .map(|a| {
                        a.parse()
                            .map_err(|_| format!("trace_addresses: {a:?} is not an IP address"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "max_line_length" => self.max_line_length = parse_num(key, value, 1024, 16 << 20)?,
            "max_literal_size" => self.max_literal_size = parse_num(key, value, 1024, 1 << 30)?,
            "max_append_size" => self.max_append_size = parse_num(key, value, 1024, 4 << 30)?,
            "literal_minus" => self.literal_minus = parse_bool(key, value)?,
            "max_connections_per_ip" => {
                self.max_connections_per_ip = parse_num(key, value, 1, 1000000)?
            }
            "max_sessions_per_user" => {
                self.max_sessions_per_user = parse_num(key, value, 1, 1000000)?
            }
            "max_sequence_ranges" => {
                self.max_sequence_ranges = parse_num(key, value, 16, 10000000)?
            }
            "max_search_depth" => self.max_search_depth = parse_num(key, value, 4, 1000)?,
            "max_mailbox_name_length" => {
                self.max_mailbox_name_length = parse_num(key, value, 16, 65536)?
            }
            "max_mailbox_depth" => self.max_mailbox_depth = parse_num(key, value, 1, 1000)?,
            "max_mailboxes" => self.max_mailboxes = parse_num(key, value, 1, 10000000)?,
            "login_timeout_secs" => {
                self.login_timeout = Duration::from_secs(parse_num(key, value, 5, 86400)? as u64)
            }
            "auth_failure_delay_ms" => {
                self.auth_failure_delay =
                    Duration::from_millis(parse_num(key, value, 0, 60_000)? as u64)
            }
            "idle_keepalive_secs" => {
                self.idle_keepalive = Duration::from_secs(parse_num(key, value, 1, 1800)? as u64)
            }
            "timeout_preauth_secs" => {
                self.timeout_preauth = Duration::from_secs(parse_num(key, value, 1, 86_400)? as u64)
            }
            "timeout_auth_secs" => {
                // RFC 3501 §5.4: the autologout timer must be at least 30 minutes.
                self.timeout_auth = Duration::from_secs(parse_num(key, value, 1800, 86_400)? as u64)
            }
            "special_use" => self.special_use = crate::store::special_use::parse_setting(value)?,
            "autocreate_special_use" => self.autocreate_special_use = parse_bool(key, value)?,
            "lmtp_listen" => self.lmtp_listen = parse_sockets(key, value)?,
            "managesieve_listen" => {
                self.managesieve_listen = parse_sockets(key, value)?;
                if self
                    .managesieve_listen
                    .iter()
                    .any(|s| matches!(s, SocketSpec::Unix(_)))
                {
                    return Err(
                        "managesieve_listen: only host:port addresses (clients reach it over TCP)"
                            .into(),
                    );
                }
            }
            "auth_listen" => self.auth_listen = parse_sockets(key, value)?,
            "unix_socket_owner" => self.unix_socket_owner = parse_account(key, value)?,
            "unix_socket_group" => self.unix_socket_group = parse_account(key, value)?,
            "unix_socket_mode" => {
                self.unix_socket_mode = u32::from_str_radix(value, 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| {
                    format!("unix_socket_mode: {value:?} is not an octal mode")
                })?
            }
            "recipient_delimiter" => self.recipient_delimiter = value.to_string(),
            "lmtp_save_to_detail_mailbox" => {
                self.lmtp_save_to_detail_mailbox = parse_bool(key, value)?
            }
            "fts_index" => self.fts_index = parse_bool(key, value)?,
            "sieve" => self.sieve = value.to_string(),
            "sieve_before" => self.sieve_before = value.to_string(),
            "sieve_after" => self.sieve_after = value.to_string(),
            "sieve_global" => self.sieve_global = value.to_string(),
            "sendmail_path" => self.sendmail_path = value.to_string(),
            "sieve_spamtest_status_header" => self.sieve_spamtest_status_header = value.to_string(),
            "sieve_virustest_status_header" => {
                self.sieve_virustest_status_header = value.to_string()
            }
            "sieve_quota_max_scripts" => {
                self.sieve_quota_max_scripts = value
                    .parse()
                    .map_err(|_| format!("sieve_quota_max_scripts: {value:?} is not a number"))?
            }
            "sieve_quota_max_storage" => {
                self.sieve_quota_max_storage = value
                    .parse()
                    .map_err(|_| format!("sieve_quota_max_storage: {value:?} is not a number"))?
            }
            "sieve_spamtest_max_value" => {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| *v > 0.0)
                    .ok_or_else(|| {
                        format!("sieve_spamtest_max_value: {value:?} is not a positive number")
                    })?;
                self.sieve_spamtest_max_value = value.to_string()
            }
            "quota_rule" | "quota_rule2" => {
                crate::store::quota::Limits::default()
                    .apply_rule(value)
                    .map_err(|e| format!("{key}: {e}"))?;
                match key {
                    "quota_rule" => self.quota_rule = value.to_string(),
                    _ => self.quota_rule2 = value.to_string(),
                }
            }
            "watch" => {
                self.watch = crate::store::watch::WatchMode::parse(value)
                    .ok_or_else(|| format!("watch: {value:?} is not inotify, poll or auto"))?
            }
            "watch_poll_interval_ms" => {
                self.watch_poll_interval =
                    Duration::from_millis(parse_num(key, value, 10, 60_000)? as u64)
            }
            "auth_http_listen" => self.auth_http_listen = parse_sockets(key, value)?,
            "cluster_nodes" => {
                self.cluster_nodes = split_list(value)
                    .map(|a| {
                        a.parse()
                            .map_err(|_| format!("cluster_nodes: {a:?} is not an ip:port"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "login_trusted_networks" => self.login_trusted_networks = parse_networks(key, value)?,
            "proxy_protocol_from" => self.proxy_protocol_from = parse_networks(key, value)?,
            _ => return Err(format!("unknown key {key:?}")),
        }
        Ok(())
    }

    /// A user's quota limits: these rules, or the users file's
    /// `userdb_quota_rule…` extra fields in their place.
    pub fn quota_limits(&self, extra: &str) -> crate::store::quota::Limits {
        crate::store::quota::Limits::for_user(
            &[
                ("quota_rule", self.quota_rule.as_str()),
                ("quota_rule2", self.quota_rule2.as_str()),
            ],
            extra,
        )
    }

    /// Checks settings that depend on each other.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let err = |message: &str| ConfigError {
            origin: origin.to_string(),
            line: None,
            message: message.to_string(),
        };
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => return Err(err("tls_cert is set but tls_key is not")),
            (None, Some(_)) => return Err(err("tls_key is set but tls_cert is not")),
            _ => {}
        }
        let p = &self.namespace.prefix;
        if !p.is_empty() && !p.ends_with(self.namespace.separator) {
            return Err(err(
                "namespace_prefix must end with namespace_separator (e.g. INBOX.)",
            ));
        }
        crate::store::special_use::resolve(&self.namespace, &self.special_use)
            .map_err(|e| err(&e))?;
        if self.userdb == Userdb::Passwd && !(self.user.is_empty() && self.group.is_empty()) {
            return Err(err(
                "userdb = passwd runs each session as its own user, so the server must keep \
                 root's uid: leave `user` and `group` empty",
            ));
        }
        if (self.auth_oauthbearer || self.auth_xoauth2)
            && self.oauth2.hmac_key_file.is_none()
            && self.oauth2.public_key_file.is_none()
        {
            return Err(err(
                "auth_mechanisms offers oauthbearer or xoauth2, but neither \
                 oauth2_hmac_key_file nor oauth2_public_key_file is set",
            ));
        }
        if self.auth_external && (self.tls_client_ca.is_none() || self.tls_cert.is_none()) {
            return Err(err(
                "auth_mechanisms offers external, which needs tls_cert and tls_client_ca",
            ));
        }
        if !self.auth_http_listen.is_empty() && self.cluster_nodes.is_empty() {
            return Err(err(
                "auth_http_listen is set but cluster_nodes is empty: nowhere to route users",
            ));
        }
        if self.listen.is_empty() && self.tls_listeners().is_empty() {
            return Err(err(
                "nothing to listen on: set listen, or tls_cert/tls_key with listen_tls",
            ));
        }
        Ok(())
    }

    /// Whether the passwd file is read at all (as a passdb or the userdb).
    pub fn uses_passwd_file(&self) -> bool {
        self.passdb.contains(&Passdb::PasswdFile) || self.userdb == Userdb::PasswdFile
    }

    /// The implicit-TLS listeners in effect (none without a certificate).
    pub fn tls_listeners(&self) -> &[SocketAddr] {
        if self.tls_cert.is_some() {
            &self.listen_tls
        } else {
            &[]
        }
    }

    /// The effective value of every key, in `KEYS` order, for `roost check`.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        let addrs = |a: &[SocketAddr]| {
            a.iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        KEYS.iter()
            .map(|(key, _, _)| {
                let v = match *key {
                    "listen" => addrs(&self.listen),
                    "listen_tls" => addrs(&self.listen_tls),
                    "tls_cert" => path(&self.tls_cert),
                    "tls_key" => path(&self.tls_key),
                    "tls_session_tickets" => yes_no(self.tls_session_tickets),
                    "tls_client_ca" => path(&self.tls_client_ca),
                    "auth_mechanisms" => {
                        let mut m = vec!["plain", "login"];
                        for (on, name) in [
                            (self.auth_scram, "scram-sha-256"),
                            (self.auth_scram_sha1, "scram-sha-1"),
                            (self.auth_cram_md5, "cram-md5"),
                            (self.auth_oauthbearer, "oauthbearer"),
                            (self.auth_xoauth2, "xoauth2"),
                            (self.auth_external, "external"),
                        ] {
                            if on {
                                m.push(name);
                            }
                        }
                        m.join(" ")
                    }
                    "oauth2_hmac_key_file" => path(&self.oauth2.hmac_key_file),
                    "oauth2_public_key_file" => path(&self.oauth2.public_key_file),
                    "oauth2_issuer" => self.oauth2.issuer.clone(),
                    "oauth2_audience" => self.oauth2.audience.clone(),
                    "oauth2_username_attribute" => self.oauth2.username_attribute.clone(),
                    "plaintext_auth" => self.plaintext_auth.as_str().to_string(),
                    "passwd_file" => self.passwd_file.display().to_string(),
                    "passdb" => self
                        .passdb
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    "userdb" => self.userdb.as_str().to_string(),
                    "pam_service" => self.pam_service.clone(),
                    "pam_timeout_secs" => self.pam_timeout.as_secs().to_string(),
                    "auth_cache_ttl_secs" => self.auth_cache_ttl.as_secs().to_string(),
                    "auth_cache_size" => self.auth_cache_size.to_string(),
                    "first_valid_uid" => self.first_valid_uid.to_string(),
                    "last_valid_uid" => self.last_valid_uid.to_string(),
                    "first_valid_gid" => self.first_valid_gid.to_string(),
                    "mail_location" => self.mail_location.clone(),
                    "namespace_separator" => self.namespace.separator.to_string(),
                    "namespace_prefix" => self.namespace.prefix.clone(),
                    "mailbox_names_utf8" => if self.namespace.utf8_on_disk {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_string(),
                    "max_connections" => self.max_connections.to_string(),
                    "user" => self.user.clone(),
                    "group" => self.group.clone(),
                    "allow_root" => yes_no(self.allow_root),
                    "log_level" => self.log_level.as_str().to_ascii_lowercase(),
                    "trace_dir" => path(&self.trace_dir),
                    "trace_users" => self.trace_users.join(","),
                    "trace_addresses" => self
                        .trace_addresses
                        .iter()
                        .map(IpAddr::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    "max_line_length" => self.max_line_length.to_string(),
                    "max_literal_size" => self.max_literal_size.to_string(),
                    "max_append_size" => self.max_append_size.to_string(),
                    "literal_minus" => yes_no(self.literal_minus),
                    "max_connections_per_ip" => self.max_connections_per_ip.to_string(),
                    "max_sessions_per_user" => self.max_sessions_per_user.to_string(),
                    "max_sequence_ranges" => self.max_sequence_ranges.to_string(),
                    "max_search_depth" => self.max_search_depth.to_string(),
                    "max_mailbox_name_length" => self.max_mailbox_name_length.to_string(),
                    "max_mailbox_depth" => self.max_mailbox_depth.to_string(),
                    "max_mailboxes" => self.max_mailboxes.to_string(),
                    "login_timeout_secs" => self.login_timeout.as_secs().to_string(),
                    "auth_failure_delay_ms" => self.auth_failure_delay.as_millis().to_string(),
                    "idle_keepalive_secs" => self.idle_keepalive.as_secs().to_string(),
                    "timeout_preauth_secs" => self.timeout_preauth.as_secs().to_string(),
                    "timeout_auth_secs" => self.timeout_auth.as_secs().to_string(),
                    "special_use" => crate::store::special_use::format_setting(&self.special_use),
                    "autocreate_special_use" => if self.autocreate_special_use {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_string(),
                    "lmtp_listen" => sockets(&self.lmtp_listen),
                    "auth_listen" => sockets(&self.auth_listen),
                    "unix_socket_owner" => self.unix_socket_owner.clone(),
                    "unix_socket_group" => self.unix_socket_group.clone(),
                    "unix_socket_mode" => format!("{:04o}", self.unix_socket_mode),
                    "recipient_delimiter" => self.recipient_delimiter.clone(),
                    "lmtp_save_to_detail_mailbox" => yes_no(self.lmtp_save_to_detail_mailbox),
                    "fts_index" => yes_no(self.fts_index),
                    "sieve" => self.sieve.clone(),
                    "sieve_before" => self.sieve_before.clone(),
                    "sieve_after" => self.sieve_after.clone(),
                    "sieve_global" => self.sieve_global.clone(),
                    "sendmail_path" => self.sendmail_path.clone(),
                    "sieve_spamtest_status_header" => self.sieve_spamtest_status_header.clone(),
                    "sieve_spamtest_max_value" => self.sieve_spamtest_max_value.clone(),
                    "sieve_virustest_status_header" => self.sieve_virustest_status_header.clone(),
                    "sieve_quota_max_scripts" => self.sieve_quota_max_scripts.to_string(),
                    "sieve_quota_max_storage" => self.sieve_quota_max_storage.to_string(),
                    "managesieve_listen" => sockets(&self.managesieve_listen),

                    "quota_rule" => self.quota_rule.clone(),
                    "quota_rule2" => self.quota_rule2.clone(),
                    "watch" => self.watch.as_str().to_string(),
                    "watch_poll_interval_ms" => self.watch_poll_interval.as_millis().to_string(),
                    "auth_http_listen" => sockets(&self.auth_http_listen),
                    "cluster_nodes" => addrs(&self.cluster_nodes),
                    "login_trusted_networks" => networks(&self.login_trusted_networks),
                    "proxy_protocol_from" => networks(&self.proxy_protocol_from),
                    _ => String::new(),
                };
                (*key, v)
            })
            .collect()
    }
}

fn sockets(list: &[SocketSpec]) -> String {
    list.iter()
        .map(SocketSpec::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `unix:PATH` (an absolute path) or `addr:port`, comma-separated.
fn parse_sockets(key: &str, value: &str) -> Result<Vec<SocketSpec>, String> {
    split_list(value)
        .map(|item| match item.strip_prefix("unix:") {
            Some(path) if path.starts_with('/') => Ok(SocketSpec::Unix(PathBuf::from(path))),
            Some(_) => Err(format!(
                "{key}: {item:?} needs an absolute path after unix:"
            )),
            None => item
                .parse()
                .map(SocketSpec::Tcp)
                .map_err(|_| format!("{key}: {item:?} is neither unix:PATH nor addr:port")),
        })
        .collect()
}

fn parse_networks(key: &str, value: &str) -> Result<Vec<crate::cidr::Cidr>, String> {
    split_list(value)
        .map(|n| crate::cidr::Cidr::parse(n).map_err(|e| format!("{key}: {e}")))
        .collect()
}

fn networks(nets: &[crate::cidr::Cidr]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn opt_path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

fn parse_addrs(value: &str) -> Result<Vec<SocketAddr>, String> {
    split_list(value)
        .map(|a| {
            // `*:143` is a common way to say "all IPv4 addresses".
            let spelled = match a.strip_prefix("*:") {
                Some(port) => format!("0.0.0.0:{port}"),
                None => a.to_string(),
            };
            spelled
                .parse()
                .map_err(|_| format!("{a:?} is not an addr:port (e.g. 0.0.0.0:143 or [::1]:143)"))
        })
        .collect()
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!("{key}: expected yes or no, found {value:?}")),
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// A user or group: a name as in /etc/passwd or a number; empty is allowed.
fn parse_account(key: &str, value: &str) -> Result<String, String> {
    let ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'));
    if !ok || value.starts_with('-') {
        return Err(format!("{key}: {value:?} is not a user or group name"));
    }
    Ok(value.to_string())
}

fn parse_num(key: &str, value: &str, min: usize, max: usize) -> Result<usize, String> {
    let n: usize = value
        .parse()
        .map_err(|_| format!("{key}: expected a number, found {value:?}"))?;
    if n < min || n > max {
        return Err(format!("{key}: {n} is out of range {min}..={max}"));
    }
    Ok(n)
}

fn parse_passdbs(value: &str) -> Result<Vec<Passdb>, String> {
    let mut out = Vec::new();
    for name in split_list(value) {
        let db = match name {
            "passwd-file" => Passdb::PasswdFile,
            "pam" => Passdb::Pam,
            _ => {
                return Err(format!(
                    "passdb: expected passwd-file or pam, found {name:?}"
                ))
            }
        };
        if !out.contains(&db) {
            out.push(db);
        }
    }
    if out.is_empty() {
        return Err("passdb must name at least one database".into());
    }
    Ok(out)
}

/// Accepts Roost's form (`%h/Maildir`) and Dovecot's
/// (`maildir:~/Maildir[:OPTION...]`, see [`parse_location`]).
fn parse_mail_location(value: &str) -> Result<String, String> {
    match parse_location(value)? {
        (_, true) => {
            Err("mail_location: for UTF-8 folder names set mailbox_names_utf8 = yes".into())
        }
        (template, false) => Ok(template),
    }
}

/// A Dovecot-style mail location, `[maildir:]PATH[:OPTION...]` with `~/`
/// for the home: the path as a Roost template, and whether it asks for
/// UTF-8 folder names. Dovecot's index options are ignored (Roost keeps no
/// such files); an option that moves or reshapes the tree (`LAYOUT=fs`,
/// `CONTROL=`, `INBOX=`, ...) or another format is refused, since serving
/// the tree as if it were absent would show an empty mailbox, or renumber
/// its UIDs.
fn parse_location(value: &str) -> Result<(String, bool), String> {
    use crate::mail_location::Opt;
    let location = crate::mail_location::split(value);
    if location.format != "maildir" {
        return Err(format!(
            "{value}: Roost serves Maildir only, not {}",
            location.format
        ));
    }
    let path = location.path;
    let mut utf8 = false;
    for option in &location.options {
        match option {
            Opt::Utf8 => utf8 = true,
            Opt::Maildirpp | Opt::Index(_) => {}
            Opt::Reshapes { raw, .. } => {
                return Err(format!(
                    "{value}: {raw} cannot be honoured (Roost reads a Maildir++ tree with \
                     its dovecot-uidlist files inside it)"
                ))
            }
        }
    }
    let v = match path.strip_prefix("~/") {
        Some(rest) => format!("%h/{rest}"),
        None if path == "~" => "%h".to_string(),
        None => path.to_string(),
    };
    if v.is_empty() {
        return Err("mail_location must not be empty".into());
    }
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('u' | 'n' | 'd' | 'h' | '%') => {}
                other => {
                    return Err(format!(
                        "mail_location: unknown variable %{} (use %u, %n, %d, %h or %%)",
                        other.map(String::from).unwrap_or_default()
                    ))
                }
            }
        }
    }
    Ok((v, utf8))
}

impl Config {
    /// The mail_location template for a user whose users-file entry has
    /// the extra fields `extra`: Dovecot's per-user `userdb_mail=` if
    /// given, else `mail_location`. A per-user location Roost cannot serve
    /// as Dovecot did (another format, a reshaped tree, folder-name
    /// encoding other than `mailbox_names_utf8`) is an error, for the log.
    pub fn user_mail_location<'a>(&'a self, extra: &str) -> Result<Cow<'a, str>, String> {
        let Some(value) = extra
            .split_ascii_whitespace()
            .find_map(|f| f.strip_prefix("userdb_mail="))
        else {
            return Ok(Cow::Borrowed(&self.mail_location));
        };
        let (template, utf8) = parse_location(value).map_err(|e| format!("userdb_mail={e}"))?;
        if utf8 != self.namespace.utf8_on_disk {
            return Err(format!(
                "userdb_mail={value}: its folder names are {}, but mailbox_names_utf8 is {}",
                if utf8 { "UTF-8" } else { "modified UTF-7" },
                if self.namespace.utf8_on_disk {
                    "yes"
                } else {
                    "no"
                }
            ));
        }
        Ok(Cow::Owned(template))
    }

    /// The Maildir root of user `name` with home `home` and users-file
    /// extra fields `extra` ([`Config::user_mail_location`] expanded);
    /// why not, for the log.
    pub fn mail_root(
        &self,
        name: &str,
        home: Option<&Path>,
        extra: &str,
    ) -> Result<PathBuf, String> {
        let template = self.user_mail_location(extra)?;
        expand_mail_location(&template, name, home).ok_or_else(|| {
            format!(
                "mail_location {template:?} needs a home directory, and the users file gives none"
            )
        })
    }
}

/// Expands `%u %n %d %h %%` in a mail_location for one user. `None` when the
/// template needs a home directory the user does not have.
pub fn expand_mail_location(template: &str, user: &str, home: Option<&Path>) -> Option<PathBuf> {
    let (local, domain) = user.split_once('@').unwrap_or((user, ""));
    let mut out = String::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => out.push_str(user),
            Some('n') => out.push_str(local),
            Some('d') => out.push_str(domain),
            Some('h') => out.push_str(home?.to_str()?),
            Some('%') => out.push('%'),
            _ => return None,
        }
    }
    Some(PathBuf::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_table() {
        let c = Config::default();
        for ((key, default, _), (k2, effective)) in KEYS.iter().zip(c.effective()) {
            assert_eq!(*key, k2);
            let mut fresh = Config::default();
            assert_eq!(fresh.set(key, default), Ok(()), "{key}");
            assert_eq!(&effective, default, "{key}");
        }
        assert_eq!(c.listen, vec!["0.0.0.0:143".parse().unwrap()]);
        assert!(
            c.tls_listeners().is_empty(),
            "no TLS listener without a certificate"
        );
    }

    #[test]
    fn file_errors_name_the_line() {
        let mut c = Config::default();
        let e = c
            .apply_text(
                "/etc/roost/roost.conf",
                "# comment\n\nlisten = 127.0.0.1:1143\nbogus = 1\n",
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/roost/roost.conf:4: unknown key \"bogus\""
        );
        let e = c.apply_text("f", "listen\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = c.apply_text("f", "max_connections = lots\n").unwrap_err();
        assert!(e.to_string().contains("expected a number"));
        let e = c
            .apply_text("f", "plaintext_auth = sometimes\n")
            .unwrap_err();
        assert!(e.to_string().contains("tls-or-local"));
        let e = c.apply_text("f", "listen = 1.2.3.4\n").unwrap_err();
        assert!(e.to_string().contains("not an addr:port"));
    }

    #[test]
    fn overrides_and_validation() {
        let mut c = Config::default();
        c.apply_overrides(&[
            "listen=127.0.0.1:0, [::1]:0".into(),
            "tls_cert = /x.pem".into(),
        ])
        .unwrap();
        assert_eq!(c.listen.len(), 2);
        assert!(c.validate("f").unwrap_err().to_string().contains("tls_key"));
        assert!(c
            .apply_overrides(&["nokey".into()])
            .unwrap_err()
            .to_string()
            .starts_with("-o:"));
        c.set("listen", "").unwrap();
        c.set("tls_cert", "").unwrap();
        assert!(c
            .validate("f")
            .unwrap_err()
            .to_string()
            .contains("nothing to listen on"));
    }

    #[test]
    fn mail_location_forms() {
        assert_eq!(
            parse_mail_location("maildir:~/Maildir").unwrap(),
            "%h/Maildir"
        );
        assert_eq!(
            parse_mail_location("/var/mail/%d/%n").unwrap(),
            "/var/mail/%d/%n"
        );
        assert!(parse_mail_location("%x/Maildir").is_err());
        assert!(parse_mail_location("").is_err());
        // Dovecot's options: index ones ignored, tree-changing ones refused.
        assert_eq!(
            parse_mail_location("maildir:~/Maildir:INDEX=/var/idx/%u:LAYOUT=maildir++").unwrap(),
            "%h/Maildir"
        );
        for refused in [
            "maildir:~/Maildir:LAYOUT=fs",
            "maildir:~/Maildir:CONTROL=/var/ctl/%u",
            "maildir:~/Maildir:INBOX=/var/mail/%u",
            "maildir:~/Maildir:UTF-8",
            "mbox:~/mail",
            "sdbox:~/dbox",
        ] {
            assert!(parse_mail_location(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn userdb_mail_overrides_mail_location_per_user() {
        let mut c = Config::default();
        c.set("mail_location", "%h/Maildir").unwrap();
        assert_eq!(c.user_mail_location("").unwrap(), "%h/Maildir");
        assert_eq!(
            c.user_mail_location("userdb_quota_rule=*:storage=1G")
                .unwrap(),
            "%h/Maildir"
        );
        assert_eq!(
            c.user_mail_location("nologin userdb_mail=maildir:/var/vmail/%d/%n:INDEX=/x")
                .unwrap(),
            "/var/vmail/%d/%n"
        );
        assert_eq!(
            c.user_mail_location("userdb_mail=~/Mail").unwrap(),
            "%h/Mail"
        );
        assert!(c.user_mail_location("userdb_mail=mbox:~/mail").is_err());
        assert!(c
            .user_mail_location("userdb_mail=maildir:~/M:UTF-8")
            .is_err());
        c.set("mailbox_names_utf8", "yes").unwrap();
        assert_eq!(
            c.user_mail_location("userdb_mail=maildir:~/M:UTF-8")
                .unwrap(),
            "%h/M"
        );
        assert!(c.user_mail_location("userdb_mail=maildir:~/M").is_err());
        let home = Path::new("/home/ann");
        let rows = [
            (
                "%h/Maildir",
                "ann@example.org",
                Some(home),
                Some("/home/ann/Maildir"),
            ),
            (
                "/var/mail/%d/%n",
                "ann@example.org",
                None,
                Some("/var/mail/example.org/ann"),
            ),
            ("/m/%u/100%%", "bob", None, Some("/m/bob/100%")),
            ("%h/Maildir", "bob", None, None),
        ];
        for (t, user, home, want) in rows {
            assert_eq!(
                expand_mail_location(t, user, home),
                want.map(PathBuf::from),
                "{t}"
            );
        }
    }

    #[test]
    fn timeouts_respect_rfc_minimum() {
        let mut c = Config::default();
        assert!(c.set("timeout_auth_secs", "60").is_err());
        assert!(c.set("timeout_auth_secs", "1800").is_ok());
    }

    #[test]
    fn plaintext_policy() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(PlaintextAuth::TlsOrLocal.allows(false, lo));
        assert!(!PlaintextAuth::TlsOrLocal.allows(false, remote));
        assert!(PlaintextAuth::TlsOrLocal.allows(true, remote));
        assert!(!PlaintextAuth::Never.allows(false, lo));
        assert!(PlaintextAuth::Never.allows(true, lo));
        assert!(PlaintextAuth::Always.allows(false, remote));
    }
}
