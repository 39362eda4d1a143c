//! ManageSieve (RFC 5804): users upload, check, activate, download and
//! delete their Sieve scripts — what Roundcube's managesieve plugin,
//! Thunderbird's Sieve add-on and `sieve-connect` speak on port 4190.
//! One thread per connection like IMAP, the same passwd file, password
//! check, throttle, TLS certificate and log lines; scripts are compiled
//! by the same `sieve` module delivery runs them with, so what uploads is
//! what runs.

mod reader;
pub(crate) mod scripts;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use crate::auth::access::{self, Access};
use crate::auth::passwd::UserEntry;
use crate::auth::{check_password, printable, sasl};
use crate::context::ServerContext;
use crate::net::Transport;
use crate::sieve;
use reader::{Arg, Buffer, ReadError};
use scripts::{ScriptStore, StoreFail};

/// Failed commands in a row before the server hangs up.
const MAX_BAD: u32 = 20;

struct Session {
    ctx: Arc<ServerContext>,
    t: Transport,
    buf: Buffer,
    id: String,
    peer: IpAddr,
    user: Option<(UserEntry, ScriptStore)>,
    bad: u32,
    /// Set once this thread took a system user's identity.
    became: Option<u32>,
}

/// Serves one client to the end of its connection.
pub(crate) fn serve(ctx: Arc<ServerContext>, tcp: TcpStream, peer: String) {
    let ip = tcp
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
    let _ = tcp.set_read_timeout(Some(ctx.config.timeout_preauth));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(60)));
    let id = ctx.new_session_id();
    let mut s = Session {
        ctx,
        t: Transport::plain(tcp),
        buf: Buffer::default(),
        id,
        peer: ip,
        user: None,
        bad: 0,
        became: None,
    };
    log::info!("managesieve conn={} peer={peer} connected", s.id);
    let result = s.greet().and_then(|()| s.run());
    let user = s
        .user
        .as_ref()
        .map_or("-".to_string(), |(u, _)| u.name.clone());
    match result {
        Ok(()) => log::info!("managesieve conn={} peer={peer} user={user} logout", s.id),
        Err(e) => log::info!(
            "managesieve conn={} peer={peer} user={user} disconnected: {e}",
            s.id
        ),
    }
    s.t.close();
}

/// A string as ManageSieve writes it: quoted when it can be, else a literal.
fn string(s: &str) -> String {
    if s.len() < 1024 && !s.contains(['"', '\\', '\r', '\n', '\0']) {
        format!("\"{s}\"")
    } else {
        format!("{{{}}}\r\n{s}", s.len())
    }
}

impl Session {
    fn send(&mut self, text: &str) -> io::Result<()> {
        self.t.write_all(text.as_bytes())?;
        self.t.flush()
    }

    fn ok(&mut self, text: &str) -> io::Result<()> {
        self.send(&format!("OK {}\r\n", string(text)))
    }

    fn no(&mut self, code: Option<&str>, text: &str) -> io::Result<()> {
        self.bad += 1;
        match code {
            Some(c) => self.send(&format!("NO ({c}) {}\r\n", string(text))),
            None => self.send(&format!("NO {}\r\n", string(text))),
        }
    }

    fn tls_offered(&self) -> bool {
        self.ctx.tls.is_some() && !self.t.is_tls()
    }

    fn plaintext_allowed(&self) -> bool {
        self.ctx
            .config
            .plaintext_auth
            .allows(self.t.is_tls(), self.peer)
    }

    fn capabilities(&self) -> String {
        let mut out = String::new();
        out.push_str("\"IMPLEMENTATION\" \"Roost\"\r\n");
        out.push_str(&format!(
            "\"SIEVE\" \"{}\"\r\n",
            sieve::EXTENSIONS.join(" ")
        ));
        if self.user.is_none() {
            let config = &self.ctx.config;
            let mut mechs = Vec::new();
            if self.plaintext_allowed() {
                mechs.extend(["PLAIN", "LOGIN"]);
                if config.auth_oauthbearer {
                    mechs.push("OAUTHBEARER");
                }
                if config.auth_xoauth2 {
                    mechs.push("XOAUTH2");
                }
            }
            // CRAM-MD5 never reveals the password: offered without TLS too.
            if config.cram_md5_offered() {
                mechs.push("CRAM-MD5");
            }
            out.push_str(&format!("\"SASL\" \"{}\"\r\n", mechs.join(" ")));
        }
        if self.tls_offered() {
            out.push_str("\"STARTTLS\"\r\n");
        }
        out.push_str("\"MAXREDIRECTS\" \"4\"\r\n");
        out.push_str("\"VERSION\" \"1.0\"\r\n");
        out.push_str("\"UNAUTHENTICATE\"\r\n");
        out
    }

    fn greet(&mut self) -> io::Result<()> {
        let caps = self.capabilities();
        self.send(&format!("{caps}OK \"Roost ManageSieve ready.\"\r\n"))
    }

    fn run(&mut self) -> io::Result<()> {
        loop {
            if self
                .ctx
                .shutting_down
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                return self.send("BYE \"Server shutting down.\"\r\n");
            }
            if self.bad >= MAX_BAD {
                return self.send("BYE \"Too many errors.\"\r\n");
            }
            let (name, args) = match self.buf.command(&mut self.t, sieve::MAX_SCRIPT_SIZE as u64) {
                Ok(c) => c,
                Err(ReadError::Bad(why)) => {
                    self.no(None, &format!("Syntax error: {why}"))?;
                    continue;
                }
                Err(ReadError::TooBig) => {
                    self.no(Some("QUOTA/MAXSIZE"), "Script is too large.")?;
                    continue;
                }
                Err(ReadError::Io(e)) => return Err(e),
            };
            if !self.command(&name, &args)? {
                return Ok(());
            }
        }
    }

    /// Runs one command; `false` ends the session.
    fn command(&mut self, name: &str, args: &[Arg]) -> io::Result<bool> {
        let text = |i: usize| args.get(i).and_then(Arg::text);
        match (name, self.user.is_some()) {
            ("LOGOUT", _) => {
                self.ok("Logout completed.")?;
                return Ok(false);
            }
            ("CAPABILITY", _) => {
                let caps = self.capabilities();
                self.send(&format!("{caps}OK \"Capability completed.\"\r\n"))?;
            }
            ("NOOP", _) => match text(0) {
                Some(tag) => self.send(&format!("OK (TAG {}) \"Done\"\r\n", string(&tag)))?,
                None => self.ok("Done")?,
            },
            ("STARTTLS", false) if self.tls_offered() => {
                if !self.buf.is_empty() {
                    // Bytes sent before TLS must not be read as if inside it.
                    self.send("BYE \"Commands pipelined after STARTTLS.\"\r\n")?;
                    return Ok(false);
                }
                self.ok("Begin TLS negotiation now.")?;
                let config = self.ctx.tls.as_ref().map(|t| t.config());
                if let Some(config) = config {
                    self.t.start_tls(config, Duration::from_secs(30))?;
                }
                let caps = self.capabilities();
                self.send(&format!("{caps}OK \"TLS negotiation successful.\"\r\n"))?;
            }
            ("AUTHENTICATE", false) => self.authenticate(args)?,
            ("UNAUTHENTICATE", true) => {
                if let Some((u, _)) = self.user.take() {
                    log::info!(
                        "managesieve conn={} user={} unauthenticate",
                        self.id,
                        u.name
                    );
                }
                self.ok("Unauthenticate completed.")?;
            }
            ("STARTTLS" | "AUTHENTICATE", true) => self.no(None, "Already authenticated.")?,
            (_, true) => {
                // Taken out while the command runs, so it can borrow both.
                if let Some((entry, store)) = self.user.take() {
                    let result = self.script_command(name, args, &entry.name, &store);
                    self.user = Some((entry, store));
                    result?;
                }
            }
            (_, false) => self.no(None, "Authenticate first, or unknown command.")?,
        }
        Ok(true)
    }

    /// Reads one SASL response string (quoted or literal) from the client.
    fn response(&mut self) -> io::Result<Option<Vec<u8>>> {
        let line = match self.buf.line(&mut self.t) {
            Ok(l) => l,
            Err(ReadError::Io(e)) => return Err(e),
            Err(_) => return Ok(None),
        };
        let s = String::from_utf8_lossy(&line).into_owned();
        let inner = if let Some(q) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            q.to_string()
        } else if s.starts_with('{') {
            // A literal: the remaining bytes follow.
            let n: usize = s
                .trim_matches(|c| c == '{' || c == '}' || c == '+')
                .parse()
                .unwrap_or(0);
            let mut rest = self
                .buf
                .line(&mut self.t)
                .map_err(|_| io::Error::other("bad literal"))?;
            rest.truncate(n);
            String::from_utf8_lossy(&rest).into_owned()
        } else {
            s
        };
        if inner == "*" {
            return Ok(None);
        }
        Ok(sasl::decode_response(inner.as_bytes()).ok())
    }

    fn authenticate(&mut self, args: &[Arg]) -> io::Result<()> {
        let Some(mech) = args
            .first()
            .and_then(Arg::text)
            .map(|m| m.to_ascii_uppercase())
        else {
            return self.no(None, "AUTHENTICATE needs a mechanism.");
        };
        let initial = match args.get(1) {
            Some(Arg::Str(b)) => match sasl::decode_response(b) {
                Ok(d) => Some(d),
                Err(e) => return self.no(None, &e.to_string()),
            },
            _ => None,
        };
        let config = &self.ctx.config;
        let account = match mech.as_str() {
            "CRAM-MD5" if config.cram_md5_offered() => {
                if initial.is_some() {
                    // The server speaks first in CRAM-MD5.
                    return self.no(None, "CRAM-MD5 takes no initial response.");
                }
                self.cram_md5()?
            }
            "OAUTHBEARER" | "XOAUTH2"
                if (mech == "OAUTHBEARER" && config.auth_oauthbearer)
                    || (mech == "XOAUTH2" && config.auth_xoauth2) =>
            {
                // A bearer token is as good as a password.
                if !self.plaintext_allowed() {
                    return self.no(
                        Some("ENCRYPT-NEEDED"),
                        "Plaintext authentication disallowed on non-secure connections.",
                    );
                }
                self.bearer(&mech, initial)?
            }
            _ => self.password_login(&mech, initial)?,
        };
        let Some(account) = account else {
            // The mechanism has answered NO already.
            return Ok(());
        };
        let session = format!("managesieve conn={} peer={}", self.id, self.peer);
        let entry = account.entry;
        // RFC 5804 §1.3, as Pigeonhole answers a user who lives elsewhere.
        if let Access::Elsewhere(target) =
            access::of_name(&self.ctx.passwd, &entry.name, Some(self.peer))
        {
            log::info!("{session} user={} referred to {}", entry.name, target.host);
            let url = target.url("sieve", 4190, &entry.name, &mech);
            return self.no(
                Some(&format!("REFERRAL {}", string(&url))),
                "Try this server instead.",
            );
        }
        if let Some(creds) = &account.creds {
            // A thread that became one user stays that user (`identity`).
            if let Some(uid) = self.became {
                if uid != creds.uid {
                    return self.no(Some("TRYLATER"), "Reconnect to log in as another user.");
                }
            } else {
                if let Err(e) = crate::identity::become_user(creds) {
                    log::error!("{session} user={} {e}", entry.name);
                    self.send("BYE \"Internal error.\"\r\n")?;
                    return Err(io::Error::other("identity switch failed"));
                }
                self.became = Some(creds.uid);
            }
        }
        let home = entry.home.as_deref();
        let dir = sieve::deliver::script_dir(&self.ctx.config.sieve, home);
        let active = sieve::deliver::active_script_path(&self.ctx.config.sieve, home);
        let (Some(dir), Some(active)) = (dir, active) else {
            log::error!(
                "{session} user={} has no home for the sieve setting",
                printable(&entry.name, 200)
            );
            return self.no(
                Some("UNAVAILABLE"),
                "Script storage is not available for this user.",
            );
        };
        log::info!(
            "{session} user={} mech={mech} tls={} login",
            entry.name,
            self.t.is_tls()
        );
        let _ = self.t.set_read_timeout(Some(self.ctx.config.timeout_auth));
        self.user = Some((entry, ScriptStore::new(dir, active)));
        self.bad = 0;
        self.ok("Logged in.")
    }

    /// PLAIN and LOGIN: the account, or None after a NO.
    fn password_login(
        &mut self,
        mech: &str,
        initial: Option<Vec<u8>>,
    ) -> io::Result<Option<crate::users::Account>> {
        if !self.plaintext_allowed() {
            return self.no_none(
                Some("ENCRYPT-NEEDED"),
                "Plaintext authentication disallowed on non-secure connections.",
            );
        }
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let (user, password) = match mech {
            "PLAIN" => {
                let data = match initial {
                    Some(d) => d,
                    None => {
                        self.send("\"\"\r\n")?;
                        match self.response()? {
                            Some(d) => d,
                            None => return self.no_none(None, "Authentication cancelled."),
                        }
                    }
                };
                match sasl::parse_plain(&data) {
                    Ok(c) if c.authzid.is_empty() || c.authzid == c.authcid => {
                        (c.authcid, c.password)
                    }
                    Ok(_) => return self.no_none(None, "Acting as another user is not allowed."),
                    Err(e) => return self.no_none(None, &e.to_string()),
                }
            }
            "LOGIN" => {
                let user_data = match initial {
                    Some(d) => d,
                    None => {
                        self.send(&format!(
                            "{}\r\n",
                            string(&b64(sasl::LOGIN_USERNAME_PROMPT))
                        ))?;
                        match self.response()? {
                            Some(d) => d,
                            None => return self.no_none(None, "Authentication cancelled."),
                        }
                    }
                };
                let user = match sasl::parse_login_username(&user_data) {
                    Ok(u) => u,
                    Err(e) => return self.no_none(None, &e.to_string()),
                };
                self.send(&format!(
                    "{}\r\n",
                    string(&b64(sasl::LOGIN_PASSWORD_PROMPT))
                ))?;
                let Some(pw) = self.response()? else {
                    return self.no_none(None, "Authentication cancelled.");
                };
                match sasl::parse_login_password(&pw) {
                    Ok(p) => (user, p),
                    Err(e) => return self.no_none(None, &e.to_string()),
                }
            }
            _ => return self.no_none(None, "Unsupported authentication mechanism."),
        };
        let session = format!("managesieve conn={} peer={}", self.id, self.peer);
        let account = check_password(
            &self.ctx.config,
            &self.ctx.passwd,
            &self.ctx.throttle,
            self.peer,
            &user,
            password.expose().as_bytes(),
            &session,
            &format!("mech={mech}"),
        );
        match account {
            Ok(account) => Ok(Some(account)),
            Err(denied) => {
                let text = denied.reason.as_deref().unwrap_or("Authentication failed.");
                self.no_none(None, text)
            }
        }
    }

    /// NO, for helpers that answer Ok(None) once they have said it.
    fn no_none<T>(&mut self, code: Option<&str>, text: &str) -> io::Result<Option<T>> {
        self.no(code, text)?;
        Ok(None)
    }

    /// CRAM-MD5 (RFC 2195), as for IMAP: the account, or None after a NO.
    fn cram_md5(&mut self) -> io::Result<Option<crate::users::Account>> {
        use crate::auth::cram_md5;
        let challenge = cram_md5::challenge();
        let b64 = base64::engine::general_purpose::STANDARD.encode(challenge.as_bytes());
        self.send(&format!("{}\r\n", string(&b64)))?;
        let Some(answer) = self.response()? else {
            return self.no_none(None, "Authentication cancelled.");
        };
        let ctx = Arc::clone(&self.ctx);
        match cram_md5::verified_account(&ctx.config, &ctx.passwd, &challenge, &answer, self.peer) {
            Ok(account) => {
                ctx.throttle
                    .record_user_success(self.peer, &account.entry.name);
                Ok(Some(account))
            }
            Err((user, why)) => self.refuse("CRAM-MD5", &user, &why),
        }
    }

    /// OAUTHBEARER (RFC 7628) or XOAUTH2, as for IMAP: the account, or
    /// None after a NO (a refused token's error challenge answered first).
    fn bearer(
        &mut self,
        mech: &str,
        initial: Option<Vec<u8>>,
    ) -> io::Result<Option<crate::users::Account>> {
        use crate::auth::oauth::{self, BearerOutcome};
        let msg = match initial {
            Some(m) => m,
            None => {
                self.send("\"\"\r\n")?;
                match self.response()? {
                    Some(d) => d,
                    None => return self.no_none(None, "Authentication cancelled."),
                }
            }
        };
        let ctx = Arc::clone(&self.ctx);
        let xoauth2 = mech == "XOAUTH2";
        match oauth::check(&ctx.config.oauth2, &ctx.bearer_keys, xoauth2, &msg) {
            BearerOutcome::Accepted(user) => {
                match crate::auth::account_without_password(
                    &ctx.config,
                    &ctx.passwd,
                    &user,
                    self.peer,
                ) {
                    Ok(account) => {
                        ctx.throttle.record_user_success(self.peer, &user);
                        Ok(Some(account))
                    }
                    Err(why) => self.refuse(mech, &user, &why),
                }
            }
            BearerOutcome::Malformed => self.refuse(mech, "", "malformed message"),
            BearerOutcome::Unavailable(why) => {
                log::error!(
                    "managesieve conn={} mech={mech} cannot read the token keys: {why}",
                    self.id
                );
                self.no_none(Some("TRYLATER"), "Authentication is not available now.")
            }
            BearerOutcome::Refused(user, why) => {
                let b64 = base64::engine::general_purpose::STANDARD
                    .encode(oauth::error_challenge(xoauth2).as_bytes());
                self.send(&format!("{}\r\n", string(&b64)))?;
                // Whatever the answer, the login failed.
                let _ = self.response()?;
                self.refuse(mech, &user, &why)
            }
        }
    }

    /// A failed CRAM-MD5 or bearer login: throttled and logged as a wrong
    /// password is, then NO.
    fn refuse(
        &mut self,
        mech: &str,
        user: &str,
        why: &str,
    ) -> io::Result<Option<crate::users::Account>> {
        crate::auth::record_failure(
            &self.ctx.throttle,
            self.peer,
            user,
            &format!("managesieve conn={} peer={}", self.id, self.peer),
            &format!("mech={mech}"),
            why,
        );
        self.no_none(None, "Authentication failed.")
    }

    fn fail(&mut self, e: StoreFail) -> io::Result<()> {
        match e {
            StoreFail::NonExistent => {
                self.no(Some("NONEXISTENT"), "There is no script by that name.")
            }
            StoreFail::AlreadyExists => self.no(
                Some("ALREADYEXISTS"),
                "A script by that name already exists.",
            ),
            StoreFail::Active => self.no(Some("ACTIVE"), "The active script cannot be deleted."),
            StoreFail::BadName => self.no(None, "Invalid script name."),
            StoreFail::Io(e) => {
                log::error!("managesieve conn={} script storage: {e}", self.id);
                self.no(Some("TRYLATER"), "Script storage failed; try again later.")
            }
        }
    }

    /// Checks a script; on error answers NO with the compiler's message.
    fn compiles(&mut self, text: &[u8]) -> io::Result<bool> {
        let Ok(text) = std::str::from_utf8(text) else {
            self.no(None, "The script is not valid UTF-8.")?;
            return Ok(false);
        };
        match sieve::Script::compile(text) {
            Ok(_) => Ok(true),
            Err(e) => {
                self.no(None, &e.to_string())?;
                Ok(false)
            }
        }
    }

    fn script_command(
        &mut self,
        name: &str,
        args: &[Arg],
        user: &str,
        store: &ScriptStore,
    ) -> io::Result<()> {
        let text = |i: usize| args.get(i).and_then(Arg::text);
        match name {
            "LISTSCRIPTS" => match store.list() {
                Ok((names, active)) => {
                    let mut out = String::new();
                    for n in names {
                        if active.as_deref() == Some(n.as_str()) {
                            out.push_str(&format!("{} ACTIVE\r\n", string(&n)));
                        } else {
                            out.push_str(&format!("{}\r\n", string(&n)));
                        }
                    }
                    out.push_str("OK \"Listscripts completed.\"\r\n");
                    self.send(&out)
                }
                Err(e) => self.fail(StoreFail::Io(e)),
            },
            "GETSCRIPT" => {
                let Some(n) = text(0) else {
                    return self.no(None, "GETSCRIPT needs a name.");
                };
                match store.get(&n) {
                    Ok(s) => self.send(&format!(
                        "{{{}}}\r\n{s}\r\nOK \"Getscript completed.\"\r\n",
                        s.len()
                    )),
                    Err(e) => self.fail(e),
                }
            }
            "PUTSCRIPT" => {
                let (Some(n), Some(Arg::Str(body))) = (text(0), args.get(1)) else {
                    return self.no(None, "PUTSCRIPT needs a name and a script.");
                };
                if !scripts::valid_name(&n) {
                    return self.no(None, "Invalid script name.");
                }
                if let Some(code) = self.over_quota(store, &n, body.len() as u64) {
                    return self.no(Some(code), "Quota exceeded.");
                }
                if !self.compiles(body)? {
                    return Ok(());
                }
                match store.put(&n, body) {
                    Ok(()) => {
                        log::info!(
                            "managesieve conn={} user={user} putscript {}",
                            self.id,
                            printable(&n, 200)
                        );
                        self.ok("Putscript completed.")
                    }
                    Err(e) => self.fail(e),
                }
            }
            "CHECKSCRIPT" => {
                let Some(Arg::Str(body)) = args.first() else {
                    return self.no(None, "CHECKSCRIPT needs a script.");
                };
                if self.compiles(body)? {
                    self.ok("Script is valid.")
                } else {
                    Ok(())
                }
            }
            "SETACTIVE" => {
                let Some(n) = text(0) else {
                    return self.no(None, "SETACTIVE needs a name.");
                };
                if !n.is_empty() {
                    match store.get(&n) {
                        Ok(body) => {
                            if !self.compiles(body.as_bytes())? {
                                return Ok(());
                            }
                        }
                        Err(e) => return self.fail(e),
                    }
                }
                match store.set_active(&n) {
                    Ok(()) => {
                        log::info!(
                            "managesieve conn={} user={user} setactive {}",
                            self.id,
                            printable(&n, 200)
                        );
                        self.ok("Setactive completed.")
                    }
                    Err(e) => self.fail(e),
                }
            }
            "DELETESCRIPT" => {
                let Some(n) = text(0) else {
                    return self.no(None, "DELETESCRIPT needs a name.");
                };
                match store.delete(&n) {
                    Ok(()) => self.ok("Deletescript completed."),
                    Err(e) => self.fail(e),
                }
            }
            "RENAMESCRIPT" => {
                let (Some(a), Some(b)) = (text(0), text(1)) else {
                    return self.no(None, "RENAMESCRIPT needs two names.");
                };
                match store.rename(&a, &b) {
                    Ok(()) => self.ok("Renamescript completed."),
                    Err(e) => self.fail(e),
                }
            }
            "HAVESPACE" => {
                let (Some(n), Some(Arg::Number(size))) = (text(0), args.get(1)) else {
                    return self.no(None, "HAVESPACE needs a name and a size.");
                };
                if !scripts::valid_name(&n) {
                    return self.no(None, "Invalid script name.");
                }
                match self.over_quota(store, &n, *size) {
                    Some(code) => self.no(Some(code), "Quota exceeded."),
                    None => self.ok("Putting a script of that size is ok."),
                }
            }
            _ => self.no(None, "Unknown command."),
        }
    }

    /// The quota a script of `size` under `name` would break, if any.
    fn over_quota(&self, store: &ScriptStore, name: &str, size: u64) -> Option<&'static str> {
        if size > sieve::MAX_SCRIPT_SIZE as u64 {
            return Some("QUOTA/MAXSIZE");
        }
        let cfg = &self.ctx.config;
        let (used, count) = store.usage(name).unwrap_or((0, 0));
        if cfg.sieve_quota_max_scripts > 0 && count + 1 > cfg.sieve_quota_max_scripts {
            return Some("QUOTA/MAXSCRIPTS");
        }
        if cfg.sieve_quota_max_storage > 0 && used + size > cfg.sieve_quota_max_storage {
            return Some("QUOTA/MAXSTORAGE");
        }
        None
    }
}
