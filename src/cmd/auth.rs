//! Commands of any state and of the not-authenticated state (RFC 3501 §6.1,
//! §6.2): CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE, and ID
//! (RFC 2971).

use crate::auth::sasl;
use crate::context::MAX_SASL_LINE;
use crate::error::{Error, Tagged};
use crate::proto::encode::{Code, Status};
use crate::proto::reader::ReadError;
use crate::session::{Session, State, User};
use crate::store::Store;

/// RFC 3501 §6.1.1: `* CAPABILITY ...`.
pub fn capability(s: &mut Session) -> Result<Tagged, Error> {
    let caps = s.capabilities();
    s.out.untagged().raw("CAPABILITY ").raw(&caps).crlf();
    Ok(Tagged::ok("Capability completed."))
}

/// RFC 3501 §6.1.2. Pending mailbox updates are sent by the loop.
pub fn noop(_s: &mut Session) -> Result<Tagged, Error> {
    Ok(Tagged::ok("NOOP completed."))
}

/// RFC 3501 §6.1.3: untagged BYE, then the tagged OK; the loop closes.
/// The mailbox is closed first, as Dovecot does: nothing may follow the
/// BYE but the OK, not even updates for a mailbox deleted meanwhile.
pub fn logout(s: &mut Session) -> Result<Tagged, Error> {
    s.deselect();
    s.out.untagged_status(Status::Bye, None, "Logging out.");
    s.state = State::Logout;
    Ok(Tagged::ok("Logout completed."))
}

/// RFC 3501 §6.2.1. The handshake starts after the tagged OK is sent.
pub fn starttls(s: &mut Session) -> Result<Tagged, Error> {
    if s.transport.is_tls() {
        return Err(Error::bad("TLS is already active."));
    }
    if s.ctx.tls.is_none() {
        return Err(Error::bad("TLS is not configured on this server."));
    }
    s.start_tls_pending = true;
    Ok(Tagged::ok("Begin TLS negotiation now."))
}

/// RFC 3501 §6.2.3.
pub fn login(s: &mut Session, user: &[u8], password: &[u8]) -> Result<Tagged, Error> {
    if !s.plaintext_allowed() {
        return Err(privacy_required());
    }
    let user = String::from_utf8_lossy(user).into_owned();
    // Dovecot names PLAIN in a LOGIN command's referral URL.
    finish_login(s, &user, password, "LOGIN", "PLAIN")
}

/// RFC 3501 §6.2.2 with RFC 4959 initial responses; mechanisms PLAIN
/// (RFC 4616) and LOGIN.
pub fn authenticate(
    s: &mut Session,
    mechanism: &str,
    initial: Option<&[u8]>,
) -> Result<Tagged, Error> {
    let scram = crate::auth::scram::ScramHash::from_name(mechanism)
        .filter(|&h| s.ctx.config.scram_offered(h));
    if let Some(hash) = scram {
        let initial = decode_initial(initial)?;
        return scram_login(s, hash, mechanism.ends_with("-PLUS"), initial);
    }
    if mechanism == "EXTERNAL" && s.ctx.config.auth_external {
        let initial = decode_initial(initial)?;
        return external_login(s, initial);
    }
    let xoauth2 = mechanism == "XOAUTH2";
    if (mechanism == "OAUTHBEARER" && s.ctx.config.auth_oauthbearer)
        || (xoauth2 && s.ctx.config.auth_xoauth2)
    {
        // A bearer token is as good as a password to whoever reads it
        // (Dovecot counts these mechanisms as plaintext too).
        if !s.plaintext_allowed() {
            return Err(privacy_required());
        }
        let initial = decode_initial(initial)?;
        return bearer_login(s, xoauth2, initial);
    }
    if mechanism == "CRAM-MD5" && s.ctx.config.cram_md5_offered() {
        // RFC 4959 §3: the server speaks first in CRAM-MD5, so an initial
        // response is a protocol error.
        if initial.is_some() {
            return Err(Error::bad("CRAM-MD5 takes no initial response."));
        }
        return cram_md5_login(s);
    }
    if mechanism != "PLAIN" && mechanism != "LOGIN" {
        return Err(Error::no(None, "Unsupported authentication mechanism."));
    }
    if !s.plaintext_allowed() {
        return Err(privacy_required());
    }
    let initial = decode_initial(initial)?;
    if mechanism == "PLAIN" {
        let msg = match initial {
            Some(m) => m,
            None => sasl_round(s, b"")?,
        };
        let creds = sasl::parse_plain(&msg).map_err(bad_sasl)?;
        // We act only as the identity that authenticated.
        if !creds.authzid.is_empty() && creds.authzid != creds.authcid {
            return Err(Error::no(
                Some(Code::AuthenticationFailed),
                "Authorization identity differs from authentication identity.",
            ));
        }
        finish_login(
            s,
            &creds.authcid,
            creds.password.expose().as_bytes(),
            "PLAIN",
            "PLAIN",
        )
    } else {
        let user = match initial {
            Some(u) => u,
            None => sasl_round(s, sasl::LOGIN_USERNAME_PROMPT)?,
        };
        let user = sasl::parse_login_username(&user).map_err(bad_sasl)?;
        let password = sasl_round(s, sasl::LOGIN_PASSWORD_PROMPT)?;
        let password = sasl::parse_login_password(&password).map_err(bad_sasl)?;
        finish_login(s, &user, password.expose().as_bytes(), "LOGIN", "LOGIN")
    }
}

/// SCRAM-SHA-1 and SCRAM-SHA-256, each with -PLUS (RFC 5802, 7677;
/// channel bindings RFC 9266 `tls-exporter` and RFC 5929
/// `tls-server-end-point`) against the passwd file: its `{SCRAM-SHA-…}`
/// entries of the same hash, or `{PLAIN}` ones. An unknown user goes
/// through the same exchange with made-up credentials, so the answers do
/// not tell who exists.
fn scram_login(
    s: &mut Session,
    hash: crate::auth::scram::ScramHash,
    plus: bool,
    initial: Option<Vec<u8>>,
) -> Result<Tagged, Error> {
    use crate::auth::scram::{ClientFirst, Credentials, Exchange, ScramError, DEFAULT_ITERATIONS};
    let mech = &*format!("{}{}", hash.name(), if plus { "-PLUS" } else { "" });
    let tls = s.transport.is_tls();
    if plus && !tls {
        return Err(Error::no(None, format!("{mech} needs TLS.")));
    }
    let first_msg = match initial {
        Some(m) => m,
        None => sasl_round(s, b"")?,
    };
    let failed = |s: &mut Session, user: &str, why: &str| sasl_failed(s, mech, user, why);
    let first = match ClientFirst::parse(&first_msg, tls) {
        Ok(f) => f,
        Err(e) => return Err(failed(s, "", &format!("{e:?}"))),
    };
    let cbind = match (plus, first.binding.as_deref()) {
        (true, Some("tls-exporter")) => s.transport.tls_exporter(),
        (true, Some("tls-server-end-point")) => {
            s.ctx.tls.as_ref().map(|t| t.end_point_hash().to_vec())
        }
        (false, None) => None,
        _ => {
            return Err(failed(
                s,
                &first.user,
                "channel binding does not fit the mechanism",
            ))
        }
    };
    if plus && cbind.is_none() {
        return Err(failed(
            s,
            &first.user,
            "channel binding unavailable on this connection",
        ));
    }
    if !first.authzid.is_empty() && first.authzid != first.user {
        return Err(failed(s, &first.user, "authorization identity differs"));
    }
    let entry = s.ctx.passwd.lookup(&first.user);
    let creds = entry
        .as_ref()
        .and_then(|e| scram_credentials(hash, e.password.expose()));
    let real = creds.is_some();
    let creds = creds.unwrap_or_else(|| {
        Credentials::derive(
            hash,
            &crate::random::bytes(16),
            &crate::random::bytes(16),
            DEFAULT_ITERATIONS,
        )
    });
    let nonce: String = crate::random::bytes(18)
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    let (exchange, server_first) = Exchange::start(&first, creds, &nonce, cbind);
    let final_msg = sasl_round(s, server_first.as_bytes())?;
    let verified = if real {
        exchange.finish(&final_msg)
    } else {
        Err(ScramError::Proof)
    };
    let server_final = match verified {
        Ok(v) => v,
        Err(e) => return Err(failed(s, &first.user, &format!("{e:?}"))),
    };
    // The server's proof travels as one more challenge; the client answers
    // it with an empty response (RFC 4959 §3, as Dovecot does).
    sasl_round(s, server_final.as_bytes())?;
    let Some(entry) = entry else {
        return Err(failed(s, &first.user, "no such user"));
    };
    finish_verified(s, mech, entry)
}

/// A failed challenge-response login: through the throttle (its delay
/// waited out) and into the log like a wrong password, never with the
/// client's secret.
fn sasl_failed(s: &mut Session, mech: &str, user: &str, why: &str) -> Error {
    crate::auth::record_failure(
        &s.ctx.throttle,
        s.peer.ip(),
        user,
        &format!("conn={} peer={}", s.id, s.peer),
        &format!("mech={mech}"),
        why,
    );
    Error::no(Some(Code::AuthenticationFailed), "Authentication failed.")
}

/// After a challenge-response mechanism verified `entry`: the userdb,
/// the throttle's success, the login.
fn finish_verified(
    s: &mut Session,
    mech: &str,
    entry: crate::auth::UserEntry,
) -> Result<Tagged, Error> {
    let user = entry.name.clone();
    if let Some(refusal) = super::referral::of_entry(s, &entry, mech) {
        return Err(refusal);
    }
    let account = match crate::users::resolve(
        &s.ctx.config,
        &s.ctx.passwd,
        entry,
        crate::config::Passdb::PasswdFile,
    ) {
        Ok(a) => a,
        Err(why) => {
            return Err(sasl_failed(
                s,
                mech,
                &user,
                &format!("refused by userdb: {why}"),
            ))
        }
    };
    s.ctx.throttle.record_user_success(s.peer.ip(), &user);
    complete_login(s, account, mech)
}

/// CRAM-MD5 (RFC 2195) against the passwd file: `{CRAM-MD5}` entries
/// (Dovecot's stored HMAC state) or plaintext ones; a user stored any
/// other way cannot do it and gets NO, as with Dovecot.
fn cram_md5_login(s: &mut Session) -> Result<Tagged, Error> {
    use crate::auth::cram_md5;
    const MECH: &str = "CRAM-MD5";
    let challenge = cram_md5::challenge();
    let answer = sasl_round(s, challenge.as_bytes())?;
    match cram_md5::verify_answer(&s.ctx.passwd, &challenge, &answer) {
        Ok(entry) => finish_verified(s, MECH, entry),
        Err((user, why)) => Err(sasl_failed(s, MECH, &user, why)),
    }
}

/// EXTERNAL (RFC 4422 Appendix A) with the TLS client certificate the
/// handshake verified against `tls_client_ca`: its common name is the
/// user (Dovecot's `ssl_cert_username_field = commonName`); an
/// authorization identity, if given, must be that name.
fn external_login(s: &mut Session, initial: Option<Vec<u8>>) -> Result<Tagged, Error> {
    const MECH: &str = "EXTERNAL";
    let Some(name) = s.transport.client_cert_name() else {
        return Err(Error::no(
            Some(Code::AuthenticationFailed),
            "EXTERNAL needs a TLS client certificate.",
        ));
    };
    let authzid = match initial {
        Some(m) => m,
        None => sasl_round(s, b"")?,
    };
    if !authzid.is_empty() && authzid != name.as_bytes() {
        return Err(sasl_failed(
            s,
            MECH,
            &name,
            "authorization identity differs from the certificate's",
        ));
    }
    login_vouched_for(s, MECH, &name)
}

/// OAUTHBEARER (RFC 7628) and XOAUTH2: a JWT checked locally
/// ([`crate::auth::jwt`]) names the user; the name the client gives, if
/// any, must be the same. The userdb must know the user, as for PAM
/// logins. A refused token gets the error challenge first (RFC 7628
/// §3.2.2), then NO once the client has answered it.
fn bearer_login(s: &mut Session, xoauth2: bool, initial: Option<Vec<u8>>) -> Result<Tagged, Error> {
    use crate::auth::oauth::{self, BearerOutcome};
    let mech = if xoauth2 { "XOAUTH2" } else { "OAUTHBEARER" };
    let msg = match initial {
        Some(m) => m,
        None => sasl_round(s, b"")?,
    };
    let user = match oauth::check(&s.ctx.config.oauth2, &s.ctx.bearer_keys, xoauth2, &msg) {
        BearerOutcome::Accepted(user) => user,
        BearerOutcome::Malformed => return Err(sasl_failed(s, mech, "", "malformed message")),
        BearerOutcome::Unavailable(why) => {
            log::error!(
                "conn={} peer={} mech={mech} cannot read the token keys: {why}",
                s.id,
                s.peer
            );
            return Err(Error::no(
                Some(Code::Unavailable),
                "Authentication is not available now.",
            ));
        }
        BearerOutcome::Refused(user, why) => {
            return match sasl_round(s, oauth::error_challenge(xoauth2).as_bytes()) {
                Err(Error::Io(e)) => Err(Error::Io(e)),
                // Whatever the answer (^A, empty, "*"), the login failed.
                _ => Err(sasl_failed(s, mech, &user, &why)),
            };
        }
    };
    login_vouched_for(s, mech, &user)
}

/// Logs in `user`, whom a certificate or a token (not a password) has
/// vouched for, if the userdb knows them.
fn login_vouched_for(s: &mut Session, mech: &str, user: &str) -> Result<Tagged, Error> {
    if let Some(refusal) = super::referral::after_authenticate(s, user, mech) {
        return Err(refusal);
    }
    let account = match crate::auth::account_without_password(
        &s.ctx.config,
        &s.ctx.passwd,
        user,
        s.peer.ip(),
    ) {
        Ok(a) => a,
        Err(why) => return Err(sasl_failed(s, mech, user, &why)),
    };
    s.ctx.throttle.record_user_success(s.peer.ip(), user);
    complete_login(s, account, mech)
}

/// An initial response (RFC 4959) decoded, or the client's cancel `*`.
fn decode_initial(initial: Option<&[u8]>) -> Result<Option<Vec<u8>>, Error> {
    match initial {
        Some(line) if sasl::is_cancel(line) => Err(aborted()),
        Some(line) => Ok(Some(sasl::decode_response(line).map_err(bad_sasl)?)),
        None => Ok(None),
    }
}

/// SCRAM credentials for `hash` from a passwd-file password field.
fn scram_credentials(
    hash: crate::auth::scram::ScramHash,
    stored: &str,
) -> Option<crate::auth::scram::Credentials> {
    use crate::auth::scheme::{method_of, Method};
    use crate::auth::scram::{Credentials, DEFAULT_ITERATIONS};
    match method_of(stored) {
        Ok(Method::Scram(h, value)) if h == hash => Credentials::parse(hash, value),
        Ok(Method::Plain(password)) => Some(Credentials::derive(
            hash,
            password.as_bytes(),
            &crate::random::bytes(16),
            DEFAULT_ITERATIONS,
        )),
        _ => None,
    }
}

/// Sends a challenge and reads the client's base64 answer.
fn sasl_round(s: &mut Session, challenge: &[u8]) -> Result<Vec<u8>, Error> {
    s.out.continuation(&sasl::encode_challenge(challenge));
    s.flush()?;
    let line = match s.reader.read_line(&mut s.transport, MAX_SASL_LINE) {
        Ok(line) => line,
        Err(ReadError::Io(e)) => return Err(Error::Io(e)),
        Err(ReadError::Eof) => {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Err(_) => return Err(Error::bad("SASL response too long.")),
    };
    s.trace.client_secret_line(line.len());
    if sasl::is_cancel(&line) {
        return Err(aborted());
    }
    sasl::decode_response(&line).map_err(bad_sasl)
}

fn aborted() -> Error {
    // RFC 3501 §6.2.2: a "*" cancels the exchange with a tagged BAD.
    Error::bad("Authentication aborted by client.")
}

fn bad_sasl(e: sasl::SaslError) -> Error {
    Error::bad(format!("Invalid SASL response: {e}."))
}

fn privacy_required() -> Error {
    Error::no(
        Some(Code::PrivacyRequired),
        "Plaintext authentication is not allowed without TLS; use STARTTLS or port 993.",
    )
}

/// Checks the password and moves to the authenticated state. `url_mech`
/// names the mechanism in a referral's URL.
fn finish_login(
    s: &mut Session,
    user: &str,
    password: &[u8],
    mech: &str,
    url_mech: &str,
) -> Result<Tagged, Error> {
    let ip = s.peer.ip();
    let session = format!("conn={} peer={}", s.id, s.peer);
    let detail = format!("mech={mech}");
    let failed = || Error::no(Some(Code::AuthenticationFailed), "Authentication failed.");
    let ctx = &s.ctx;
    let (entry, from) = crate::auth::check_passdbs_logged(
        &ctx.config,
        &ctx.passwd,
        &ctx.throttle,
        ip,
        user,
        password,
        &session,
        &detail,
    )
    .ok_or_else(failed)?;
    // RFC 2221: sent elsewhere (or kept out) before the userdb, which
    // need not know a user who lives on another server.
    if let Some(refusal) = super::referral::of_entry(s, &entry, url_mech) {
        return Err(refusal);
    }
    let ctx = &s.ctx;
    let account = crate::auth::account_of(
        &ctx.config,
        &ctx.passwd,
        &ctx.throttle,
        ip,
        user,
        entry,
        from,
        &session,
        &detail,
    )
    .ok_or_else(failed)?;
    complete_login(s, account, mech)
}

/// After a passdb accepted the user: the mail store, the identity switch
/// and the authenticated state.
fn complete_login(
    s: &mut Session,
    account: crate::users::Account,
    mech: &str,
) -> Result<Tagged, Error> {
    let entry = account.entry;
    let mail_root = match s
        .ctx
        .config
        .mail_root(&entry.name, entry.home.as_deref(), &entry.extra)
    {
        Ok(root) => root,
        Err(why) => {
            log::error!("conn={} peer={} user={} {why}", s.id, s.peer, entry.name);
            return Err(Error::no(
                Some(Code::Unavailable),
                "Mail storage is not available for this user.",
            ));
        }
    };
    let Some(session_slot) = s
        .ctx
        .per_user
        .take(entry.name.clone(), s.ctx.config.max_sessions_per_user)
    else {
        log::warn!(
            "conn={} peer={} user={} refused: max_sessions_per_user ({}) reached",
            s.id,
            s.peer,
            entry.name,
            s.ctx.config.max_sessions_per_user
        );
        return Err(Error::no(
            Some(Code::Limit),
            "Too many sessions for this user.",
        ));
    };
    // Before the identity switch: a trace file for this user is opened in
    // trace_dir, which belongs to the server, not to the user.
    s.trace.logged_in(&entry.name);
    if let Some(creds) = &account.creds {
        // From here on this thread is the user, for good (see `identity`):
        // the store is opened, and every file touched, with their rights.
        if let Err(e) = crate::identity::become_user(creds) {
            log::error!("conn={} peer={} user={} {e}", s.id, s.peer, entry.name);
            return Err(end_session(s));
        }
    }
    let mut store = match Store::open(
        mail_root.clone(),
        s.ctx.config.namespace.clone(),
        s.ctx.registry.clone(),
    ) {
        Ok(store) => store,
        Err(e) => {
            log::error!(
                "conn={} peer={} user={} cannot open mail root {}: {e}",
                s.id,
                s.peer,
                entry.name,
                mail_root.display()
            );
            if account.creds.is_some() {
                // This thread is the user now; it cannot serve another login.
                return Err(end_session(s));
            }
            return Err(Error::no(
                Some(Code::Unavailable),
                "Mail storage is not available for this user.",
            ));
        }
    };
    store.set_quota_limits(s.ctx.config.quota_limits(&entry.extra));
    log::info!(
        "conn={} peer={} user={} mech={mech} tls={} login",
        s.id,
        s.peer,
        entry.name,
        s.transport.tls_description().unwrap_or_else(|| "no".into())
    );
    if s.ctx.config.autocreate_special_use {
        crate::store::special_use::autocreate(&store, &s.ctx.config.special_use, &entry.name);
    }
    s.reader
        .set_spool(spool_opener(&mail_root, &s.id), SPOOL_THRESHOLD);
    s.user = Some(User {
        entry,
        store,
        _session_slot: session_slot,
    });
    s.state = State::Authenticated;
    // As Dovecot does: the OK carries the post-login capabilities, so the
    // client need not ask again.
    Ok(Tagged::with_code(
        Code::Capability(s.capabilities()),
        "Logged in",
    ))
}

/// UNAUTHENTICATE (RFC 8437): back to the not-authenticated state, the
/// connection (TLS, COMPRESS) kept; the user's mailbox, store, session
/// slot and ENABLEd extensions are let go. Not offered where sessions take
/// a system user's identity: such a thread stays that user.
pub fn unauthenticate(s: &mut Session) -> Result<Tagged, Error> {
    if s.ctx.config.userdb != crate::config::Userdb::PasswdFile {
        return Err(Error::bad("Unknown command UNAUTHENTICATE."));
    }
    if let Some(user) = &s.user {
        log::info!(
            "conn={} peer={} user={} unauthenticate",
            s.id,
            s.peer,
            user.entry.name
        );
    }
    s.deselect();
    s.user = None;
    s.enabled = Default::default();
    s.state = State::NotAuthenticated;
    Ok(Tagged::ok("Unauthenticate completed."))
}

/// A login that failed after the thread took a user's identity (or while
/// taking it): the connection cannot be reused for another login, so it
/// says BYE and ends.
fn end_session(s: &mut Session) -> Error {
    s.out
        .untagged_status(Status::Bye, None, "Mail storage is not available.");
    s.state = State::Logout;
    Error::no(
        Some(Code::Unavailable),
        "Mail storage is not available for this user.",
    )
}

/// APPEND literals above this many bytes go to a file in the user's
/// `tmp/` as they arrive instead of into memory.
const SPOOL_THRESHOLD: u64 = 256 * 1024;

/// Opens spool files in `<Maildir>/tmp/` (Maildir's place for messages
/// being delivered; leftovers of a crash go after 36 hours).
fn spool_opener(mail_root: &std::path::Path, session: &str) -> crate::proto::reader::SpoolOpener {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = mail_root.join("tmp");
    let prefix = format!("roost-spool.{}.{session}", std::process::id());
    let mut n = 0u64;
    Box::new(move || {
        n += 1;
        let path = dir.join(format!("{prefix}.{n}"));
        // A tmp/ that is a symlink would put this user's upload elsewhere.
        if !crate::store::nofollow::is_real_dir(&dir) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "tmp/ is not a directory",
            ));
        }
        let file = crate::store::nofollow::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok((file, path))
    })
}

/// RFC 2971: reports the server's identity; the client's goes to the log.
pub fn id(s: &mut Session, params: Option<&[(Vec<u8>, Option<Vec<u8>>)]>) -> Result<Tagged, Error> {
    if let Some(params) = params {
        let described: Vec<String> = params
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_deref()
                    .map_or("NIL".into(), |v| printable(&String::from_utf8_lossy(v)));
                format!("{}={}", printable(&String::from_utf8_lossy(k)), v)
            })
            .collect();
        log::info!(
            "conn={} peer={} client id: {}",
            s.id,
            s.peer,
            described.join(" ")
        );
    }
    s.out.untagged().raw("ID (");
    s.out.string(b"name").sp().string(b"Roost");
    s.out
        .sp()
        .string(b"version")
        .sp()
        .string(env!("CARGO_PKG_VERSION").as_bytes());
    s.out.raw(")").crlf();
    Ok(Tagged::ok("ID completed."))
}

fn printable(s: &str) -> String {
    crate::auth::printable(s, 200)
}
