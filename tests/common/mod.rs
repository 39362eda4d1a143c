//! Test harness: starts the real `roost` binary on random loopback ports
//! with a fresh temp directory (users file, certificate, Maildir root), and
//! an IMAP client that speaks over a real socket, plain or TLS.
//!
//! Every wait is bounded: sockets have read timeouts and helpers poll with
//! deadlines; nothing sleeps for a fixed time to "let things settle".

#![allow(dead_code)]

pub mod dovecot;
pub mod grammar;

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long any single wait for the server may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A certificate authority and a server certificate it signed.
pub struct TestCa {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new() -> TestCa {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: OpenSSL takes issuer == subject for self-signed.
        ca_params.distinguished_name = DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Roost Test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        leaf_params.distinguished_name = DistinguishedName::new();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
        TestCa {
            ca_pem: ca.pem(),
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        }
    }

    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// How to start a server.
pub struct ServerBuilder {
    users: Vec<(String, String)>,
    options: Vec<(String, String)>,
    tls: bool,
    extra_passwd_lines: Vec<String>,
    run_as: Option<u32>,
}

impl ServerBuilder {
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }

    /// A raw passwd-file line, written as is.
    pub fn passwd_line(mut self, line: &str) -> Self {
        self.extra_passwd_lines.push(line.into());
        self
    }

    pub fn opt(mut self, key: &str, value: &str) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    pub fn no_tls(mut self) -> Self {
        self.tls = false;
        self
    }

    /// Runs the server as this uid (and gid) when the tests run as root,
    /// so it can share a tree with another program acting as that user.
    pub fn run_as(mut self, uid: u32) -> Self {
        self.run_as = Some(uid);
        self
    }

    pub fn start(self) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let ca = TestCa::new();
        std::fs::write(root.join("cert.pem"), &ca.cert_pem).unwrap();
        std::fs::write(root.join("key.pem"), &ca.key_pem).unwrap();
        let mut passwd = String::new();
        for (name, password) in &self.users {
            passwd.push_str(&passwd_line(&root, name, password));
        }
        for line in &self.extra_passwd_lines {
            passwd.push_str(line);
            passwd.push('\n');
        }
        std::fs::write(root.join("passwd"), passwd).unwrap();
        // allow_root: the tests run as root in CI; a test can override it.
        let mut conf = format!(
            "listen = 127.0.0.1:0\npasswd_file = {}\nmail_location = %h/Maildir\n\
             auth_failure_delay_ms = 100\nallow_root = yes\n\
             # Tests start from empty trees; the special_use tests turn it on.\n\
             autocreate_special_use = no\n",
            root.join("passwd").display()
        );
        if self.tls {
            conf.push_str(&format!(
                "listen_tls = 127.0.0.1:0\ntls_cert = {}\ntls_key = {}\n",
                root.join("cert.pem").display(),
                root.join("key.pem").display()
            ));
        }
        for (k, v) in &self.options {
            conf.push_str(&format!("{k} = {v}\n"));
        }
        std::fs::write(root.join("roost.conf"), conf).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_roost"));
        let is_root = std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false);
        if let (Some(uid), true) = (self.run_as, is_root) {
            use std::os::unix::fs::PermissionsExt;
            // The other user must reach the files and the binary (the
            // checkout may sit under a private home directory).
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
            for f in ["cert.pem", "key.pem", "passwd", "roost.conf"] {
                std::fs::set_permissions(root.join(f), std::fs::Permissions::from_mode(0o644))
                    .unwrap();
            }
            let bin = root.join("roost-bin");
            std::fs::copy(env!("CARGO_BIN_EXE_roost"), &bin).unwrap();
            command = Command::new("setpriv");
            command
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .arg("--clear-groups")
                .arg(bin);
        }
        TestServer::spawn(dir, ca, self.tls, command)
    }
}

/// One passwd-file line with a cheap bcrypt hash and a home in `root`.
pub fn passwd_line(root: &Path, name: &str, password: &str) -> String {
    let hash = roost::auth::scheme::hash_password_with_cost(
        roost::auth::scheme::Scheme::BlfCrypt,
        password,
        4,
    )
    .unwrap();
    let home = root.join("home").join(name);
    format!("{name}:{hash}::::{}::\n", home.display())
}

fn read_log(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// A running `roost serve`; killed on drop, its log printed if the test failed.
pub struct TestServer {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls_port: Option<u16>,
    pub ca: TestCa,
    /// The server's stderr goes straight to this file, so a line the server
    /// wrote before it answered is there when the client has the answer.
    log: tempfile::NamedTempFile,
}

impl TestServer {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            users: vec![("alice".into(), "secret".into())],
            options: Vec::new(),
            tls: true,
            extra_passwd_lines: Vec::new(),
            run_as: None,
        }
    }

    /// The default: TLS configured, user alice / secret.
    pub fn start() -> TestServer {
        Self::builder().start()
    }

    fn spawn(dir: tempfile::TempDir, ca: TestCa, tls: bool, command: Command) -> TestServer {
        let (child, port, tls_port, log) = Self::launch(dir.path(), tls, command);
        TestServer {
            child,
            dir,
            port,
            tls_port,
            ca,
            log,
        }
    }

    /// Kills the server (SIGKILL, no goodbyes) and starts it again on the
    /// same tree and configuration; the ports change.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let command = Command::new(env!("CARGO_BIN_EXE_roost"));
        let (child, port, tls_port, log) =
            Self::launch(self.dir.path(), self.tls_port.is_some(), command);
        self.child = child;
        self.port = port;
        self.tls_port = tls_port;
        self.log = log;
    }

    fn launch(
        dir: &Path,
        tls: bool,
        mut command: Command,
    ) -> (Child, u16, Option<u16>, tempfile::NamedTempFile) {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let stderr = log.reopen().expect("log file");
        let mut child = command
            .arg("serve")
            .arg("-c")
            .arg(dir.join("roost.conf"))
            .arg("-v")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start roost");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut port = None;
        let mut tls_port = None;
        let wanted = if tls { 2 } else { 1 };
        for _ in 0..wanted {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!("roost exited before listening:\n{}", read_log(log.path()));
            }
            // "listening on 127.0.0.1:NNNN (imap)"
            let addr = line.split_whitespace().nth(2).unwrap();
            let p: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
            if line.contains("(imaps)") {
                tls_port = Some(p);
            } else {
                port = Some(p);
            }
        }
        (child, port.expect("plain port"), tls_port, log)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        read_log(self.log.path())
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "log never showed {needle:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the server to exit by itself; its status, or None on timeout.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// A plain connection, greeting already read.
    pub fn connect(&self) -> Client {
        let mut c = Client::plain(self.port);
        let greeting = c.line();
        assert!(greeting.starts_with("* OK "), "greeting: {greeting}");
        c.greeting = greeting;
        c
    }

    /// An implicit-TLS connection, greeting already read.
    pub fn connect_tls(&self) -> Client {
        let port = self.tls_port.expect("server without TLS");
        let tcp = Client::tcp(port);
        let mut c = Client::over_tls(tcp, self.ca.client_config());
        let greeting = c.line();
        assert!(greeting.starts_with("* OK "), "greeting: {greeting}");
        c.greeting = greeting;
        c
    }

    /// An implicit-TLS connection with the client's own TLS settings
    /// (a client certificate, say).
    pub fn connect_tls_with(&self, config: Arc<ClientConfig>) -> Client {
        let tcp = Client::tcp(self.tls_port.expect("server without TLS"));
        let mut c = Client::over_tls(tcp, config);
        c.greeting = c.line();
        c
    }

    /// A plain connection, logged in as alice.
    pub fn login(&self) -> Client {
        let mut c = self.connect();
        c.ok("LOGIN alice secret");
        c
    }

    /// A plain connection, logged in as another user.
    pub fn login_as(&self, user: &str, password: &str) -> Client {
        let mut c = self.connect();
        c.ok(&format!("LOGIN {user} {password}"));
        c
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- roost log ----\n{}-------------------", self.log());
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The server's answer to one command.
#[derive(Debug)]
pub struct Reply {
    pub untagged: Vec<String>,
    pub tagged: String,
}

impl Reply {
    /// The untagged lines starting with `prefix` (e.g. "* CAPABILITY").
    pub fn find(&self, prefix: &str) -> Vec<&str> {
        self.untagged
            .iter()
            .filter(|l| l.starts_with(prefix))
            .map(String::as_str)
            .collect()
    }
}

/// An IMAP client over a real socket. Every line it reads passes the
/// strict grammar check in `grammar.rs`, or the test fails.
pub struct Client {
    stream: Stream,
    buf: Vec<u8>,
    next_tag: u32,
    pub greeting: String,
    /// Whether the greeting was read: the first line is checked as one.
    greeted: bool,
    /// Whether the server confirmed ENABLE UTF8=ACCEPT: only then may it
    /// send 8-bit bytes outside literals.
    utf8_accepted: bool,
}

impl Client {
    fn tcp(port: u16) -> TcpStream {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(TIMEOUT)).unwrap();
        tcp
    }

    pub fn plain(port: u16) -> Client {
        Client {
            stream: Stream::Plain(Self::tcp(port)),
            buf: Vec::new(),
            next_tag: 1,
            greeting: String::new(),
            greeted: false,
            utf8_accepted: false,
        }
    }

    fn over_tls(tcp: TcpStream, config: Arc<ClientConfig>) -> Client {
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).unwrap();
        Client {
            stream: Stream::Tls(Box::new(StreamOwned::new(conn, tcp))),
            buf: Vec::new(),
            next_tag: 1,
            greeting: String::new(),
            greeted: false,
            utf8_accepted: false,
        }
    }

    /// Runs the TLS handshake on this plain connection (after STARTTLS).
    /// Anything still buffered from before is an error: the server must
    /// not send plain bytes after its OK.
    pub fn upgrade(self, config: Arc<ClientConfig>) -> Result<Client, std::io::Error> {
        assert!(
            self.buf.is_empty(),
            "bytes after STARTTLS OK: {:?}",
            self.buf
        );
        let Stream::Plain(tcp) = self.stream else {
            panic!("already TLS")
        };
        let mut c = Client::over_tls(tcp, config);
        c.greeted = true;
        if let Stream::Tls(s) = &mut c.stream {
            while s.conn.is_handshaking() {
                s.conn.complete_io(&mut s.sock)?;
            }
        }
        Ok(c)
    }

    /// RFC 9266 `tls-exporter` data of this TLS connection (TLS 1.3).
    pub fn tls_exporter(&self) -> Option<Vec<u8>> {
        match &self.stream {
            Stream::Tls(s) => {
                let mut out = vec![0u8; 32];
                s.conn
                    .export_keying_material(&mut out, b"EXPORTER-Channel-Binding", None)
                    .ok()?;
                Some(out)
            }
            _ => None,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Sends raw bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
        self.stream.flush().unwrap();
    }

    /// Reads one response line (without CRLF). Literals in the line are
    /// read whole and kept inline, so a response is one string.
    pub fn line(&mut self) -> String {
        self.try_line()
            .unwrap_or_else(|e| panic!("reading a line: {e}"))
    }

    pub fn try_line(&mut self) -> std::io::Result<String> {
        let mut out = Vec::new();
        let mut eight_bit = false;
        loop {
            let raw = self.raw_line()?;
            eight_bit |= !raw.is_ascii();
            out.extend_from_slice(&raw);
            let text = String::from_utf8_lossy(&raw).into_owned();
            let literal = text
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            match literal {
                Some(n) => {
                    out.extend_from_slice(b"\r\n");
                    let data = self.exact(n)?;
                    out.extend_from_slice(&data);
                }
                None => {
                    self.check_grammar(&out, eight_bit);
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
            }
        }
    }

    /// `eight_bit`: the line has non-ASCII bytes outside its literals.
    fn check_grammar(&mut self, line: &[u8], eight_bit: bool) {
        let verdict = if eight_bit && !self.utf8_accepted {
            // RFC 3501 §9 strings are 7-bit; RFC 6855 §3 allows UTF-8 in
            // them only after ENABLE UTF8=ACCEPT. (imap-codec's ext_utf8
            // is on, so it would let these through.)
            Err("8-bit bytes outside a literal without UTF8=ACCEPT".to_string())
        } else if self.greeted {
            grammar::check_response(line)
        } else {
            self.greeted = true;
            grammar::check_greeting(line)
        };
        if let Err(e) = verdict {
            panic!(
                "the server sent a line that fails the grammar check ({e}):\n{}",
                String::from_utf8_lossy(line)
            );
        }
        if line.starts_with(b"* ENABLED ")
            && String::from_utf8_lossy(line).split(' ').any(|cap| {
                // RFC 9051 §5.1: IMAP4rev2 brings UTF-8 strings too.
                cap.eq_ignore_ascii_case("UTF8=ACCEPT") || cap.eq_ignore_ascii_case("IMAP4rev2")
            })
        {
            self.utf8_accepted = true;
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn raw_line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn exact(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// True if the server closed the connection (EOF) within the timeout.
    pub fn closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0))
            || matches!(self.stream.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
    }

    pub fn tag(&mut self) -> String {
        let t = format!("t{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Sends `TAG command` and collects lines up to the tagged reply.
    pub fn cmd(&mut self, command: &str) -> Reply {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes());
        self.read_reply(&tag)
    }

    /// Reads until the line tagged `tag`.
    pub fn read_reply(&mut self, tag: &str) -> Reply {
        let mut untagged = Vec::new();
        let prefix = format!("{tag} ");
        for _ in 0..100_000 {
            let line = self.line();
            if line.starts_with(&prefix) {
                return Reply {
                    untagged,
                    tagged: line[prefix.len()..].to_string(),
                };
            }
            untagged.push(line);
        }
        panic!("no tagged reply for {tag}");
    }

    /// Runs a command that must succeed; returns its reply.
    pub fn ok(&mut self, command: &str) -> Reply {
        let r = self.cmd(command);
        assert!(r.tagged.starts_with("OK"), "{command} -> {r:?}");
        r
    }

    /// APPENDs `msg` with a non-synchronizing literal; `args` are the
    /// optional flag list and date as written (may be empty). Returns the
    /// UID from APPENDUID.
    pub fn append(&mut self, mailbox: &str, args: &str, msg: &str) -> u32 {
        let tag = self.tag();
        let sep = if args.is_empty() { "" } else { " " };
        self.send(
            format!(
                "{tag} APPEND {mailbox}{sep}{args} {{{}+}}\r\n{msg}\r\n",
                msg.len()
            )
            .as_bytes(),
        );
        let r = self.read_reply(&tag);
        assert!(r.tagged.starts_with("OK [APPENDUID "), "APPEND: {r:?}");
        r.tagged
            .split_whitespace()
            .nth(3)
            .and_then(|uid| uid.trim_end_matches(']').parse().ok())
            .unwrap_or_else(|| panic!("no UID in {r:?}"))
    }

    /// The capability list from a CAPABILITY command.
    pub fn capabilities(&mut self) -> Vec<String> {
        let r = self.ok("CAPABILITY");
        let line = r.find("* CAPABILITY ");
        assert_eq!(line.len(), 1, "{r:?}");
        line[0]["* CAPABILITY ".len()..]
            .split(' ')
            .map(str::to_string)
            .collect()
    }
}

/// The number after `key` in a response line (`MODSEQ (12)`, `HIGHESTMODSEQ 7`).
pub fn number_after(line: &str, key: &str) -> u64 {
    let at = line
        .find(key)
        .unwrap_or_else(|| panic!("{key} not in {line}"));
    line[at + key.len()..]
        .trim_start_matches([' ', '('])
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key} in {line}"))
}

/// The capabilities in a `[CAPABILITY ...]` response code.
pub fn code_capabilities(line: &str) -> Vec<String> {
    let start = line.find("[CAPABILITY ").expect("CAPABILITY code") + "[CAPABILITY ".len();
    let end = line[start..].find(']').unwrap() + start;
    line[start..end].split(' ').map(str::to_string).collect()
}

/// Base64 for SASL in tests (small and obviously correct).
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A CRAM-MD5 client's answer (RFC 2195 §2) to `challenge`, before base64:
/// the user, a space and the hex HMAC-MD5 of the challenge keyed by the
/// password.
pub fn cram_md5_answer(user: &str, password: &str, challenge: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<md5::Md5> as Mac>::new_from_slice(password.as_bytes()).unwrap();
    m.update(challenge);
    let hex: String = m
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{user} {hex}")
}

/// A JWT signed with HS256 under `secret`, carrying `claims` (JSON).
pub fn hs256_token(secret: &[u8], claims: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).unwrap();
    m.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    )
}

/// Seconds since the epoch, for token lifetimes.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs a program and returns (status success, stdout, stderr); panics with a
/// clear message if the program is not installed.
pub fn run_tool(program: &str, args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); install it (see README, Quick start)")
        });
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    // Collect output on a thread so a chatty program never blocks on a full pipe.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{program} did not finish within 60 s");
        }
    };
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
