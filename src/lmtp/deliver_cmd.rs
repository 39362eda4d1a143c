//! `roost deliver`: one message on stdin into one user's mailbox, as
//! Dovecot's `dovecot-lda` does for Postfix's `mailbox_command`. The exit
//! codes are sysexits(3), which Postfix understands: 0 delivered, 67 no
//! such user (bounce), 75 try again later (the message stays queued), 77
//! refused for good (over `max_append_size`), 64 usage error.

use super::recipient::{self, Unknown};
use crate::auth::passwd::PasswdFile;
use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::store::deliver::{self, DeliverError};
use getopts::Options;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

pub const EX_OK: i32 = 0;
pub const EX_USAGE: i32 = 64;
pub const EX_NOUSER: i32 = 67;
pub const EX_TEMPFAIL: i32 = 75;
pub const EX_NOPERM: i32 = 77;

/// Runs `roost deliver ARGS` (without the subcommand) on stdin.
pub fn main(args: &[String]) -> i32 {
    let mut opts = Options::new();
    opts.optopt("c", "config", "", "FILE");
    opts.optmulti("o", "", "", "KEY=VALUE");
    opts.optopt("d", "", "", "USER");
    opts.optopt("m", "", "", "FOLDER");
    opts.optopt("a", "", "", "ADDRESS");
    opts.optopt("f", "", "", "SENDER");
    let m = match opts.parse(args) {
        Ok(m) if m.free.is_empty() => m,
        Ok(m) => return usage(&format!("unexpected argument {:?}", m.free[0])),
        Err(e) => return usage(&e.to_string()),
    };
    let path = PathBuf::from(m.opt_str("c").unwrap_or_else(|| DEFAULT_CONFIG_PATH.into()));
    let config = match Config::load(&path, &m.opt_strs("o")) {
        Ok(c) => c,
        Err(e) => return fail(EX_TEMPFAIL, &e.to_string()),
    };
    let passwd = if config.uses_passwd_file() {
        match PasswdFile::open(&config.passwd_file) {
            Ok(p) => p,
            Err(e) => return fail(EX_TEMPFAIL, &e.to_string()),
        }
    } else {
        PasswdFile::unused(&config.passwd_file)
    };
    let Some(user) = m.opt_str("d").or_else(invoking_user) else {
        return usage("no -d USER, and the invoking user has no name");
    };
    let mut rcpt = match recipient::resolve(&config, &passwd, &user) {
        Ok(r) => r,
        Err(Unknown::NoUser) => return fail(EX_NOUSER, &format!("{user}: no such user")),
        Err(Unknown::NoMailRoot(why)) => return fail(EX_TEMPFAIL, &format!("{user}: {why}")),
    };
    if let Some(a) = m.opt_str("a") {
        rcpt.address = a;
    }
    if rcpt.address.contains(['\r', '\n']) {
        return usage("-a: line breaks in the address");
    }
    let mut input = BufReader::new(std::io::stdin());
    // An mbox "From " line (sendmail -f style) is not part of the message;
    // it names the sender when -f does not.
    let mbox_sender = match strip_mbox_from(&mut input) {
        Ok(s) => s,
        Err(e) => return fail(EX_TEMPFAIL, &format!("reading stdin: {e}")),
    };
    let sender = m.opt_str("f").or(mbox_sender);
    if sender.as_deref().is_some_and(|s| s.contains(['\r', '\n'])) {
        return usage("-f: line breaks in the sender");
    }
    // Postfix's local(8) has already put Return-Path and Delivered-To on
    // top for a mailbox_command; they are added only where missing.
    let head = match read_header_block(&mut input) {
        Ok(h) => h,
        Err(e) => return fail(EX_TEMPFAIL, &format!("reading stdin: {e}")),
    };
    let mut header = Vec::new();
    if let Some(s) = &sender {
        if !has_field(&head, "Return-Path:", None) {
            header.extend_from_slice(format!("Return-Path: <{s}>\n").as_bytes());
        }
    }
    if !has_field(&head, "Delivered-To:", Some(&rcpt.address)) {
        header.extend_from_slice(format!("Delivered-To: {}\n", rcpt.address).as_bytes());
    }
    let mut input = std::io::Cursor::new(head).chain(input);
    let max = config.max_append_size as u64;
    if m.opt_str("m").is_none()
        && crate::sieve::deliver::has_scripts(&config, rcpt.user.home.as_deref())
    {
        return deliver_filtered(
            &config,
            &rcpt,
            sender.as_deref().unwrap_or(""),
            &header,
            &mut input,
            max,
        );
    }
    let folder = m.opt_str("m");
    let quota = crate::store::quota::Quota::new(
        rcpt.mail_root.clone(),
        config.quota_limits(&rcpt.user.extra),
    );
    // Run by root: the user's files are written with the user's identity
    // (userdb = passwd); run by Postfix as the user: as is.
    let written = recipient::as_recipient(&rcpt, || {
        if let Err(e) = deliver::ensure_inbox(&rcpt.mail_root) {
            return Err(fail(
                EX_TEMPFAIL,
                &format!("{}: {e}", rcpt.mail_root.display()),
            ));
        }
        let dir = recipient::target_dir(&config, &rcpt, folder.as_deref());
        let max = config.max_append_size as u64;
        Ok((
            deliver::deliver(&dir, &header, &mut input as &mut dyn Read, max, &quota),
            dir,
        ))
    });
    let (result, dir) = match written {
        Ok(Ok(r)) => r,
        Ok(Err(code)) => return code,
        Err(e) => return fail(EX_TEMPFAIL, &format!("{}: {e}", rcpt.user.name)),
    };
    match result {
        Ok(_) => EX_OK,
        Err(e @ (DeliverError::TooLarge { .. } | DeliverError::OverQuota)) => {
            fail(EX_NOPERM, &format!("{}: {e}", rcpt.user.name))
        }
        Err(DeliverError::Io(e)) => fail(
            EX_TEMPFAIL,
            &format!(
                "{}: delivery to {} failed: {e}",
                rcpt.user.name,
                dir.display()
            ),
        ),
    }
}

/// Delivery through the user's Sieve scripts: the message is read into
/// memory (up to `max_append_size`) for the scripts to read.
fn deliver_filtered(
    config: &Config,
    rcpt: &recipient::Recipient,
    sender: &str,
    header: &[u8],
    input: &mut dyn Read,
    max: u64,
) -> i32 {
    let mut message = header.to_vec();
    if let Err(e) = input.take(max.saturating_add(1)).read_to_end(&mut message) {
        return fail(EX_TEMPFAIL, &format!("reading stdin: {e}"));
    }
    if message.len() as u64 > max.saturating_add(header.len() as u64) {
        return fail(
            EX_NOPERM,
            &format!("{}: message over max_append_size ({max})", rcpt.user.name),
        );
    }
    let d = crate::sieve::deliver::Delivery {
        config,
        registry: std::sync::Arc::new(crate::store::Registry::default()),
        session: "deliver",
        user: &rcpt.user.name,
        home: rcpt.user.home.as_deref(),
        mail_root: &rcpt.mail_root,
        envelope_from: sender,
        recipient: &rcpt.address,
        quota: config.quota_limits(&rcpt.user.extra),
    };
    // The scripts, the store and sendmail all run as the recipient.
    let outcome =
        match recipient::as_recipient(rcpt, || crate::sieve::deliver::deliver(&d, &message)) {
            Ok(o) => o,
            Err(e) => return fail(EX_TEMPFAIL, &format!("{}: {e}", rcpt.user.name)),
        };
    match outcome {
        Ok(crate::sieve::deliver::Filtered::OverQuota) => {
            fail(EX_NOPERM, &format!("{}: quota exceeded", rcpt.user.name))
        }
        Ok(crate::sieve::deliver::Filtered::Refused(reason)) => {
            // dovecot-lda -e: the MTA bounces with this text.
            fail(EX_NOPERM, &reason)
        }
        Ok(_) => EX_OK,
        Err(e) => fail(
            EX_TEMPFAIL,
            &format!("{}: delivery failed: {e}", rcpt.user.name),
        ),
    }
}

fn usage(msg: &str) -> i32 {
    eprintln!(
        "roost deliver: {msg}\nUsage: roost deliver [-c FILE] [-o KEY=VALUE]... [-d USER] [-m FOLDER] [-a ADDRESS] [-f SENDER] < message"
    );
    EX_USAGE
}

fn fail(code: i32, msg: &str) -> i32 {
    eprintln!("roost deliver: {msg}");
    code
}

/// The name of the account running us (Postfix runs `mailbox_command` as
/// the recipient).
fn invoking_user() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// Most bytes of header read ahead to look for fields already there.
const MAX_HEAD: usize = 64 * 1024;

/// The message's header block (up to its blank line, at most about
/// `MAX_HEAD` bytes), read ahead; the caller delivers it first.
fn read_header_block(input: &mut dyn BufRead) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    while head.len() < MAX_HEAD {
        let start = head.len();
        let n = input.take(MAX_HEAD as u64).read_until(b'\n', &mut head)?;
        let line = &head[start..];
        if n == 0 || line == b"\n" || line == b"\r\n" {
            break;
        }
    }
    Ok(head)
}

/// Whether the header block has a `name` field (with `value`, if given).
fn has_field(head: &[u8], name: &str, value: Option<&str>) -> bool {
    head.split(|&b| b == b'\n').any(|line| {
        let line = String::from_utf8_lossy(line);
        let Some(rest) = line
            .get(..name.len())
            .filter(|n| n.eq_ignore_ascii_case(name))
            .map(|_| line[name.len()..].trim())
        else {
            return false;
        };
        value.is_none_or(|v| rest.eq_ignore_ascii_case(v))
    })
}

/// Drops a leading `From sender date` line and returns its sender.
fn strip_mbox_from(input: &mut dyn BufRead) -> std::io::Result<Option<String>> {
    if !input.fill_buf()?.starts_with(b"From ") {
        return Ok(None);
    }
    let mut line = Vec::new();
    input.read_until(b'\n', &mut line)?;
    let text = String::from_utf8_lossy(&line);
    Ok(text.split_whitespace().nth(1).map(str::to_string))
}
