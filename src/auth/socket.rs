//! Dovecot's authentication protocol, server side, so Postfix's
//! `smtpd_sasl_type = dovecot` can check SMTP AUTH passwords against the
//! passwd file Roost serves IMAP from.
//!
//! The server opens with its handshake (`VERSION`, one `MECH` per
//! mechanism, `SPID`, `CUID`, `COOKIE`, `DONE`); the client sends
//! `VERSION` and `CPID`, then `AUTH <id> <mech> service=smtp [rip=..]
//! [secured] [resp=<base64>]` and answers `CONT <id> <base64>` to our
//! `CONT`s; each exchange ends with `OK <id> user=<name>` or `FAIL <id>`.
//! Fields are separated by tabs, lines end with LF. Failures are delayed
//! and logged exactly as IMAP logins are. Besides PLAIN and LOGIN, the
//! `auth_mechanisms` CRAM-MD5, OAUTHBEARER and XOAUTH2 are offered when
//! configured, checked by the same code as IMAP's.

use super::sasl;
use crate::context::ServerContext;
use crate::lmtp::listen::Stream;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest line: a base64 PLAIN response with long names and password.
const MAX_LINE: usize = 16 * 1024;
/// Exchanges waiting for a CONT on one connection (Postfix has one at a
/// time, but abandons some).
const MAX_PENDING: usize = 16;
/// Protocol errors before the connection is closed.
const MAX_ERRORS: u32 = 20;
/// Idle connections stay (Postfix keeps one per smtpd process), but not
/// forever.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// An exchange waiting for the client's next response.
enum Pending {
    Plain(Request),
    LoginUser(Request),
    LoginPassword(Request, String),
    /// CRAM-MD5: the challenge sent.
    CramMd5(Request, String),
    /// OAUTHBEARER or XOAUTH2 without an initial response.
    Bearer(Request),
    /// A refused token's error challenge was sent (RFC 7628 §3.2.2); the
    /// client's answer ends the exchange with FAIL. The user and why.
    BearerRefused(Request, String, String),
}

/// What an AUTH line told us about the SMTP client.
#[derive(Clone)]
struct Request {
    mech: &'static str,
    service: String,
    rip: IpAddr,
    secured: bool,
}

struct Conn {
    ctx: Arc<ServerContext>,
    id: String,
    out: BufWriter<Stream>,
    pending: HashMap<String, Pending>,
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Serves one client connection to its end.
pub fn serve(ctx: Arc<ServerContext>, stream: Stream, peer: String) {
    let _ = stream.set_timeouts(TIMEOUT);
    let Ok(reader) = stream.try_clone() else {
        log::error!("auth peer={peer}: cannot use the connection");
        return;
    };
    let cuid = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let mut c = Conn {
        ctx,
        id: format!("auth-{cuid}"),
        out: BufWriter::new(stream),
        pending: HashMap::new(),
    };
    let mut input = BufReader::new(reader);
    if let Err(e) = c.run(&mut input, cuid) {
        log::debug!("conn={} peer={peer}: auth connection ended: {e}", c.id);
    }
}

impl Conn {
    fn run(&mut self, input: &mut dyn BufRead, cuid: u64) -> io::Result<()> {
        let config = &self.ctx.config;
        let mut mechs = String::from("MECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n");
        // The flags Dovecot gives these mechanisms.
        if config.cram_md5_offered() {
            mechs.push_str("MECH\tCRAM-MD5\tdictionary\tactive\n");
        }
        if config.auth_oauthbearer {
            mechs.push_str("MECH\tOAUTHBEARER\tplaintext\n");
        }
        if config.auth_xoauth2 {
            mechs.push_str("MECH\tXOAUTH2\tplaintext\n");
        }
        write!(
            self.out,
            "VERSION\t1\t2\n{mechs}SPID\t{}\nCUID\t{cuid}\nCOOKIE\t{}\nDONE\n",
            std::process::id(),
            cookie()
        )?;
        self.out.flush()?;
        let mut handshaken = false;
        let mut errors = 0;
        while let Some(line) = read_line(input)? {
            let fields: Vec<&str> = line.split('\t').collect();
            let ok = match (fields[0], handshaken) {
                ("VERSION", _) => {
                    // Only the major version must match (1).
                    if fields.get(1) != Some(&"1") {
                        log::warn!(
                            "conn={}: auth client speaks version {line:?}; closing",
                            self.id
                        );
                        return Ok(());
                    }
                    handshaken = true;
                    true
                }
                (_, false) => {
                    log::warn!(
                        "conn={}: auth client did not send VERSION first; closing",
                        self.id
                    );
                    return Ok(());
                }
                ("CPID", true) => true,
                ("AUTH", true) => self.auth(&fields[1..])?,
                ("CONT", true) => self.cont(&fields[1..])?,
                _ => false,
            };
            if ok {
                errors = 0;
            } else {
                errors += 1;
                log::warn!(
                    "conn={}: auth client sent a bad line: {}",
                    self.id,
                    printable(fields[0])
                );
                if errors >= MAX_ERRORS {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// `AUTH <id> <mech> <params>...`; false for a line that is unusable.
    fn auth(&mut self, args: &[&str]) -> io::Result<bool> {
        let (Some(&id), Some(&mech)) = (args.first(), args.get(1)) else {
            return Ok(false);
        };
        if !valid_id(id) || self.pending.contains_key(id) {
            return Ok(false);
        }
        let mut service = None;
        let mut rip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let mut secured = false;
        let mut resp = None;
        for p in &args[2..] {
            match p.split_once('=') {
                Some(("service", v)) => service = Some(v.to_string()),
                Some(("rip", v)) => rip = v.parse().unwrap_or(rip),
                Some(("resp", v)) => resp = Some(v.to_string()),
                None if *p == "secured" => secured = true,
                _ => {}
            }
        }
        let config = &self.ctx.config;
        let mech = match mech.to_ascii_uppercase().as_str() {
            "PLAIN" => "PLAIN",
            "LOGIN" => "LOGIN",
            "CRAM-MD5" if config.cram_md5_offered() => "CRAM-MD5",
            "OAUTHBEARER" if config.auth_oauthbearer => "OAUTHBEARER",
            "XOAUTH2" if config.auth_xoauth2 => "XOAUTH2",
            _ => {
                self.fail(id, None, "Unsupported authentication mechanism")?;
                return Ok(true);
            }
        };
        let Some(service) = service else {
            self.fail(id, None, "Missing service")?;
            return Ok(true);
        };
        let req = Request {
            mech,
            service,
            rip,
            secured,
        };
        // CRAM-MD5 never reveals the password; the others do (a bearer
        // token is as good as one).
        if mech != "CRAM-MD5" && !self.ctx.config.plaintext_auth.allows(secured, rip) {
            self.fail(
                id,
                None,
                "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
            )?;
            return Ok(true);
        }
        if self.pending.len() >= MAX_PENDING {
            // Postfix never tells us when its client gives up mid-exchange
            // (`*`): those exchanges are abandoned, not in progress. Postfix
            // runs one at a time, so forgetting them all is safe.
            log::debug!(
                "conn={}: forgetting {} abandoned exchanges",
                self.id,
                self.pending.len()
            );
            self.pending.clear();
        }
        let step = match (mech, resp) {
            ("CRAM-MD5", Some(_)) => {
                // The server speaks first in CRAM-MD5.
                self.fail(id, None, "Unexpected initial response")?;
                return Ok(true);
            }
            ("CRAM-MD5", None) => {
                let challenge = super::cram_md5::challenge();
                let cont = sasl::encode_challenge(challenge.as_bytes());
                self.pending
                    .insert(id.to_string(), Pending::CramMd5(req, challenge));
                self.send(&format!("CONT\t{id}\t{cont}"))?;
                return Ok(true);
            }
            ("OAUTHBEARER" | "XOAUTH2", Some(r)) => {
                return self.bearer(id, req, r.as_bytes()).map(|_| true)
            }
            ("OAUTHBEARER" | "XOAUTH2", None) => (Pending::Bearer(req), b"" as &[u8]),
            ("PLAIN", Some(r)) => return self.plain(id, req, r.as_bytes()).map(|_| true),
            ("PLAIN", None) => (Pending::Plain(req), b"" as &[u8]),
            (_, Some(r)) => return self.login_user(id, req, r.as_bytes()).map(|_| true),
            (_, None) => (Pending::LoginUser(req), sasl::LOGIN_USERNAME_PROMPT),
        };
        self.pending.insert(id.to_string(), step.0);
        self.send(&format!("CONT\t{id}\t{}", sasl::encode_challenge(step.1)))?;
        Ok(true)
    }

    /// `CONT <id> <base64>`: the next step of a pending exchange.
    fn cont(&mut self, args: &[&str]) -> io::Result<bool> {
        let Some(&id) = args.first() else {
            return Ok(false);
        };
        let Some(pending) = self.pending.remove(id) else {
            return Ok(false);
        };
        let data = args.get(1).copied().unwrap_or("").as_bytes();
        match pending {
            Pending::Plain(req) => self.plain(id, req, data)?,
            Pending::LoginUser(req) => self.login_user(id, req, data)?,
            Pending::LoginPassword(req, user) => {
                match sasl::decode_response(data)
                    .map_err(|e| e.to_string())
                    .and_then(|d| sasl::parse_login_password(&d).map_err(|e| e.to_string()))
                {
                    Ok(password) => self.check(id, &req, &user, password.expose().as_bytes())?,
                    Err(e) => self.fail(id, Some(&user), &e)?,
                }
            }
            Pending::CramMd5(req, challenge) => {
                let answer = sasl::decode_response(data).unwrap_or_default();
                let ctx = Arc::clone(&self.ctx);
                match super::cram_md5::verified_account(
                    &ctx.config,
                    &ctx.passwd,
                    &challenge,
                    &answer,
                    req.rip,
                ) {
                    Ok(account) => self.succeed(id, &req, account)?,
                    Err((user, why)) => self.refuse(id, &req, &user, &why)?,
                }
            }
            Pending::Bearer(req) => self.bearer(id, req, data)?,
            Pending::BearerRefused(req, user, why) => self.refuse(id, &req, &user, &why)?,
        }
        Ok(true)
    }

    /// An OAUTHBEARER or XOAUTH2 message (base64): OK, or the error
    /// challenge for a refused token.
    fn bearer(&mut self, id: &str, req: Request, b64: &[u8]) -> io::Result<()> {
        use super::oauth::{self, BearerOutcome};
        let ctx = Arc::clone(&self.ctx);
        let xoauth2 = req.mech == "XOAUTH2";
        let msg = sasl::decode_response(b64).unwrap_or_default();
        match oauth::check(&ctx.config.oauth2, &ctx.bearer_keys, xoauth2, &msg) {
            BearerOutcome::Accepted(user) => {
                match crate::auth::account_without_password(
                    &ctx.config,
                    &ctx.passwd,
                    &user,
                    req.rip,
                ) {
                    Ok(account) => self.succeed(id, &req, account),
                    Err(why) => self.refuse(id, &req, &user, &why),
                }
            }
            BearerOutcome::Malformed => self.refuse(id, &req, "", "malformed message"),
            BearerOutcome::Unavailable(why) => {
                log::error!(
                    "conn={} mech={} cannot read the token keys: {why}",
                    self.id,
                    req.mech
                );
                self.fail(id, None, "Authentication is not available now")
            }
            BearerOutcome::Refused(user, why) => {
                let cont = sasl::encode_challenge(oauth::error_challenge(xoauth2).as_bytes());
                self.pending
                    .insert(id.to_string(), Pending::BearerRefused(req, user, why));
                self.send(&format!("CONT\t{id}\t{cont}"))
            }
        }
    }

    /// A mechanism other than PLAIN/LOGIN accepted the user.
    fn succeed(
        &mut self,
        id: &str,
        req: &Request,
        account: crate::users::Account,
    ) -> io::Result<()> {
        let name = account.entry.name;
        // A token's claim could hold any text; the protocol is line- and
        // tab-framed.
        if name.contains(['\t', '\n', '\r']) {
            return self.refuse(id, req, "", "user name unusable in the protocol");
        }
        self.ctx.throttle.record_user_success(req.rip, &name);
        log::info!(
            "conn={} peer={} user={} mech={} service={} tls={} login",
            self.id,
            req.rip,
            name,
            req.mech,
            printable(&req.service),
            if req.secured { "yes" } else { "no" }
        );
        self.send(&format!("OK\t{id}\tuser={name}"))
    }

    /// A mechanism other than PLAIN/LOGIN refused: throttled and logged as
    /// a wrong password is.
    fn refuse(&mut self, id: &str, req: &Request, user: &str, why: &str) -> io::Result<()> {
        super::record_failure(
            &self.ctx.throttle,
            req.rip,
            user,
            &format!("conn={} peer={}", self.id, req.rip),
            &format!("mech={} service={}", req.mech, printable(&req.service)),
            why,
        );
        let user = (!user.is_empty()).then_some(user);
        self.fail(id, user, "Authentication failed")
    }

    fn plain(&mut self, id: &str, req: Request, b64: &[u8]) -> io::Result<()> {
        let creds = match sasl::decode_response(b64).and_then(|m| sasl::parse_plain(&m)) {
            Ok(c) => c,
            Err(e) => return self.fail(id, None, &e.to_string()),
        };
        // As for IMAP: we act only as the identity that authenticated.
        if !creds.authzid.is_empty() && creds.authzid != creds.authcid {
            return self.fail(id, Some(&creds.authcid), "Authorization identity differs");
        }
        self.check(id, &req, &creds.authcid, creds.password.expose().as_bytes())
    }

    fn login_user(&mut self, id: &str, req: Request, b64: &[u8]) -> io::Result<()> {
        match sasl::decode_response(b64).and_then(|d| sasl::parse_login_username(&d)) {
            Ok(user) => {
                self.pending
                    .insert(id.to_string(), Pending::LoginPassword(req, user));
                let prompt = sasl::encode_challenge(sasl::LOGIN_PASSWORD_PROMPT);
                self.send(&format!("CONT\t{id}\t{prompt}"))
            }
            Err(e) => self.fail(id, None, &e.to_string()),
        }
    }

    /// Checks the password, with the IMAP login's throttle and log lines.
    fn check(&mut self, id: &str, req: &Request, user: &str, password: &[u8]) -> io::Result<()> {
        let ctx = Arc::clone(&self.ctx);
        let session = format!("conn={} peer={}", self.id, req.rip);
        let detail = format!("mech={} service={}", req.mech, printable(&req.service));
        match super::check_password(
            &ctx.config,
            &ctx.passwd,
            &ctx.throttle,
            req.rip,
            user,
            password,
            &session,
            &detail,
        ) {
            Ok(account) => {
                let entry = account.entry;
                log::info!(
                    "conn={} peer={} user={} mech={} service={} tls={} login",
                    self.id,
                    req.rip,
                    entry.name,
                    req.mech,
                    printable(&req.service),
                    if req.secured { "yes" } else { "no" }
                );
                self.send(&format!("OK\t{id}\tuser={}", entry.name))
            }
            // Postfix shows the reason in its 535 reply.
            Err(denied) => {
                let reason = denied.reason.as_deref().unwrap_or("Authentication failed");
                self.fail(id, Some(user), reason)
            }
        }
    }

    fn fail(&mut self, id: &str, user: Option<&str>, reason: &str) -> io::Result<()> {
        let user = user
            .filter(|u| !u.contains(['\t', '\n', '\r']))
            .map(|u| format!("\tuser={u}"))
            .unwrap_or_default();
        let reason = reason.replace(['\t', '\n', '\r'], " ");
        self.send(&format!("FAIL\t{id}{user}\treason={reason}"))
    }

    fn send(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// Request ids are the client's numbers; nothing else goes back out.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

/// One line without its LF (CR tolerated); None at end of input. A line
/// over `MAX_LINE` is an error that ends the connection: it cannot be a
/// client of this protocol.
fn read_line(input: &mut dyn BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = input
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        if line.len() > MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        return Ok(None);
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// 16 random bytes in hex (Postfix does not use the cookie; Dovecot's
/// clients pass it on to the master process, which Roost does not have).
fn cookie() -> String {
    crate::random::bytes(16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn printable(s: &str) -> String {
    super::printable(s, 200)
}
