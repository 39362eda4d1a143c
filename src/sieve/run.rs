//! Running a compiled script on one message: tests read the message and
//! the envelope, commands collect actions (RFC 5228 §2.10), and the
//! result says what delivery must do. Nothing here writes anything.

use std::collections::HashSet;

use super::compile::{AddrPart, Cmd, FlagOp, Script, Test, Zone};
use super::matcher::{MatchKind, Matcher};
use super::message::{self, MessageView};
use super::vacation::{self, VacationReply};
use super::vars::{self, Vars};
use super::ScriptError;

/// Pigeonhole's default policy limits.
const MAX_ACTIONS: usize = 32;
const MAX_REDIRECTS: usize = 4;
/// How long a redirect is remembered (Pigeonhole's
/// `sieve_redirect_duplicate_period`).
const REDIRECT_MEMORY: u64 = 12 * 3600;
const MAX_INCLUDE_DEPTH: usize = 10;
const MAX_INCLUDES: usize = 255;
/// Commands and tests evaluated in one run, across includes.
const MAX_STEPS: usize = 200_000;
/// Fields the script may neither add nor delete (RFC 5293 §6, §7).
const PROTECTED: &[&str] = &["received", "auto-submitted"];

/// What the script can ask of the delivery side.
pub(crate) trait Host {
    fn mailbox_exists(&mut self, name: &str) -> bool;
    /// Whether `key` was seen within `period` seconds, then records it
    /// (RFC 7352; also vacation's once-per-period memory). With `restart`
    /// (`:last`) the period starts again at every sighting; without it,
    /// at the first.
    fn seen_before(&mut self, key: &str, period: u64, restart: bool) -> bool;
    /// The text of a personal or global script for `include`.
    fn include(&mut self, name: &str, global: bool) -> Option<String>;
}

/// Spam and virus scores as an earlier filter wrote them in a header.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScoreHeaders {
    /// Header field holding the spam score, and the score meaning "surely
    /// spam" (for example `X-Spam-Score` and 10).
    pub spam: Option<(String, f64)>,
    /// Header field holding a virus verdict 0..=5 (RFC 5235's scale).
    pub virus: Option<String>,
}

pub(crate) struct RunInput<'a> {
    pub message: &'a [u8],
    /// MAIL FROM; empty for the null sender.
    pub envelope_from: &'a str,
    /// The recipient address as given in RCPT TO.
    pub envelope_to: &'a str,
    pub auth_user: Option<&'a str>,
    /// `recipient_delimiter` for :user/:detail.
    pub delimiter: &'a str,
    /// The user's own addresses (for vacation: reply only to mail sent to
    /// one of them, and never to them).
    pub own_addresses: Vec<String>,
    pub scores: ScoreHeaders,
    /// Now, seconds since the epoch, and the local zone east of UTC.
    pub now: i64,
    pub local_zone_minutes: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Store into a mailbox ("INBOX" for keep).
    Store {
        mailbox: String,
        flags: Vec<String>,
        create: bool,
    },
    Redirect {
        address: String,
    },
    Reject {
        reason: String,
        extended: bool,
    },
    Vacation(VacationReply),
    Discard,
}

#[derive(Debug)]
pub(crate) struct Outcome {
    /// What to do; on an error, only the implicit keep into INBOX.
    pub actions: Vec<Action>,
    /// The message after `addheader`/`deleteheader`, if edited.
    pub edited: Option<Vec<u8>>,
    pub error: Option<ScriptError>,
}

/// Runs a sequence of scripts (sieve_before, the user's, sieve_after) on
/// one message: actions and the implicit keep carry across them, and
/// `stop` in any of them ends the sequence.
pub(crate) fn run(scripts: &[&Script], input: &RunInput<'_>, host: &mut dyn Host) -> Outcome {
    let mut rt = Runtime {
        input,
        host,
        msg: MessageView::new(input.message),
        globals: Vars::default(),
        flags: Vec::new(),
        actions: Vec::new(),
        implicit_keep: true,
        redirects: 0,
        steps: 0,
        includes: 0,
        included_once: HashSet::new(),
        vacation_done: false,
        line: 0,
    };
    let mut result = Ok(());
    for script in scripts {
        let mut frame = Frame::new(script);
        match rt.block(script, &script.body, &mut frame, 0) {
            Ok(Flow::Stop) => break,
            Ok(_) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let result = result.and_then(|_| rt.finish());
    match result {
        Ok(()) => Outcome {
            edited: rt.msg.edited.then(|| rt.msg.to_bytes()),
            actions: rt.actions,
            error: None,
        },
        Err(e) => Outcome {
            actions: vec![Action::Store {
                mailbox: "INBOX".into(),
                flags: Vec::new(),
                create: false,
            }],
            edited: None,
            error: Some(e),
        },
    }
}

enum Flow {
    Next,
    Stop,
    Return,
}

/// One script's variables (`global` names live in the runtime).
struct Frame {
    vars: Vars,
    globals: HashSet<String>,
    variables: bool,
    encoded: bool,
}

impl Frame {
    fn new(script: &Script) -> Frame {
        Frame {
            vars: Vars::default(),
            globals: HashSet::new(),
            variables: script.uses_variables(),
            encoded: script.requires.contains("encoded-character"),
        }
    }
}

struct Runtime<'a, 'h> {
    input: &'a RunInput<'a>,
    host: &'h mut dyn Host,
    msg: MessageView,
    globals: Vars,
    /// imap4flags' internal variable (RFC 5232 §3).
    flags: Vec<String>,
    actions: Vec<Action>,
    implicit_keep: bool,
    redirects: usize,
    steps: usize,
    includes: usize,
    included_once: HashSet<(String, bool)>,
    vacation_done: bool,
    /// For error messages: nothing finer is kept at run time.
    line: u32,
}

type R<T> = Result<T, ScriptError>;

impl Runtime<'_, '_> {
    fn err(&self, msg: impl Into<String>) -> ScriptError {
        ScriptError::new(self.line, msg)
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.err("script runs too long"));
        }
        Ok(())
    }

    /// A string with `${…}` expanded as the script's requires allow.
    fn exp(&self, f: &Frame, s: &str) -> String {
        if !f.variables && !f.encoded {
            return s.to_string();
        }
        if !f.variables {
            return vars::expand(s, None, true);
        }
        // Globals and locals share one namespace: merge for lookup.
        if f.globals.is_empty() {
            return vars::expand(s, Some(&f.vars), f.encoded);
        }
        let mut merged = Vars::default();
        merged.matched = f.vars.matched.clone();
        for name in var_names(s) {
            let v = if f.globals.contains(&name) {
                self.globals.get(&name)
            } else {
                f.vars.get(&name)
            };
            merged.set(&name, v.to_string());
        }
        vars::expand(s, Some(&merged), f.encoded)
    }

    fn exp_list(&self, f: &Frame, l: &[String]) -> Vec<String> {
        l.iter().map(|s| self.exp(f, s)).collect()
    }

    fn set_var(&mut self, f: &mut Frame, name: &str, value: String) {
        if f.globals.contains(name) {
            self.globals.set(name, value);
        } else {
            f.vars.set(name, value);
        }
    }

    fn get_var(&self, f: &Frame, name: &str) -> String {
        let name = name.to_ascii_lowercase();
        if f.globals.contains(&name) {
            self.globals.get(&name).to_string()
        } else {
            f.vars.get(&name).to_string()
        }
    }

    fn block(&mut self, script: &Script, cmds: &[Cmd], f: &mut Frame, depth: usize) -> R<Flow> {
        for c in cmds {
            self.step()?;
            match self.command(script, c, f, depth)? {
                Flow::Next => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Next)
    }

    fn push(&mut self, a: Action) -> R<()> {
        if self.actions.len() >= MAX_ACTIONS {
            return Err(self.err("total number of actions exceeds policy limit"));
        }
        if let Action::Store {
            mailbox,
            flags,
            create,
        } = &a
        {
            let canon = canonical_mailbox(mailbox);
            for existing in &mut self.actions {
                if let Action::Store {
                    mailbox: m,
                    flags: fl,
                    create: cr,
                } = existing
                {
                    if canonical_mailbox(m) == canon {
                        for flag in flags {
                            add_flag(fl, flag);
                        }
                        *cr |= *create;
                        return Ok(());
                    }
                }
            }
        }
        self.actions.push(a);
        Ok(())
    }

    fn command(&mut self, script: &Script, c: &Cmd, f: &mut Frame, depth: usize) -> R<Flow> {
        match c {
            Cmd::If(branches, otherwise) => {
                for (test, body) in branches {
                    if self.test(test, f)? {
                        return self.block(script, body, f, depth);
                    }
                }
                if let Some(body) = otherwise {
                    return self.block(script, body, f, depth);
                }
            }
            Cmd::Stop => return Ok(Flow::Stop),
            Cmd::Return => return Ok(Flow::Return),
            Cmd::Keep { flags } => {
                let flags = self.flags_for(f, flags.as_deref());
                self.push(Action::Store {
                    mailbox: "INBOX".into(),
                    flags,
                    create: false,
                })?;
                self.implicit_keep = false;
            }
            Cmd::FileInto {
                mailbox,
                copy,
                create,
                flags,
            } => {
                let flags = self.flags_for(f, flags.as_deref());
                let mailbox = self.exp(f, mailbox);
                if mailbox.is_empty() || mailbox.contains('\0') {
                    return Err(self.err(format!("fileinto: invalid mailbox name \"{mailbox}\"")));
                }
                self.push(Action::Store {
                    mailbox,
                    flags,
                    create: *create,
                })?;
                if !copy {
                    self.implicit_keep = false;
                }
            }
            Cmd::Redirect { address, copy } => {
                let address = self.exp(f, address);
                if !super::compile::plausible_address(&address) {
                    return Err(self.err(format!("redirect: invalid address \"{address}\"")));
                }
                self.redirects += 1;
                if self.redirects > MAX_REDIRECTS {
                    return Err(self.err("number of redirect actions exceeds policy limit"));
                }
                // A message already sent on to this address (a retry, a
                // loop) is not sent again and stays here (as Pigeonhole).
                let id = self.msg.values("message-id").into_iter().next();
                if let Some(id) = id.filter(|i| !i.is_empty()) {
                    let key = format!("redirect\0{id}\0{}", address.to_ascii_lowercase());
                    if self.host.seen_before(&key, REDIRECT_MEMORY, false) {
                        return Ok(Flow::Next);
                    }
                }
                if !self.actions.contains(&Action::Redirect {
                    address: address.clone(),
                }) {
                    self.push(Action::Redirect { address })?;
                }
                if !copy {
                    self.implicit_keep = false;
                }
            }
            Cmd::Discard => {
                self.implicit_keep = false;
                if !self.actions.contains(&Action::Discard) {
                    self.push(Action::Discard)?;
                }
            }
            Cmd::Reject { reason, extended } => {
                let reason = self.exp(f, reason);
                self.push(Action::Reject {
                    reason,
                    extended: *extended,
                })?;
                self.implicit_keep = false;
            }
            Cmd::Vacation(v) => {
                if self.vacation_done {
                    return Err(self.err("duplicate vacation action"));
                }
                self.vacation_done = true;
                let args = super::compile::VacationArgs {
                    period: v.period,
                    subject: v.subject.as_ref().map(|s| self.exp(f, s)),
                    from: v.from.as_ref().map(|s| self.exp(f, s)),
                    addresses: self.exp_list(f, &v.addresses),
                    mime: v.mime,
                    handle: v.handle.as_ref().map(|s| self.exp(f, s)),
                    reason: self.exp(f, &v.reason),
                };
                if let Some(reply) = vacation::decide(&args, &self.msg, self.input, self.host) {
                    self.push(Action::Vacation(reply))?;
                }
            }
            Cmd::Flag { op, var, flags } => {
                let flags = self.exp_list(f, flags);
                let mut current = match var {
                    Some(v) => split_flags(&self.get_var(f, v)),
                    None => self.flags.clone(),
                };
                let given: Vec<String> = flags.iter().flat_map(|s| split_flags(s)).collect();
                match op {
                    FlagOp::Set => {
                        current.clear();
                        for g in &given {
                            add_flag(&mut current, g);
                        }
                    }
                    FlagOp::Add => {
                        for g in &given {
                            add_flag(&mut current, g);
                        }
                    }
                    FlagOp::Remove => {
                        current.retain(|c| !given.iter().any(|g| g.eq_ignore_ascii_case(c)))
                    }
                }
                match var {
                    Some(v) => {
                        let name = v.to_ascii_lowercase();
                        self.set_var(f, &name, current.join(" "))
                    }
                    None => self.flags = current,
                }
            }
            Cmd::Set { name, value, mods } => {
                let v = vars::apply(mods, self.exp(f, value));
                self.set_var(f, name, v);
            }
            Cmd::Global(names) => {
                for n in names {
                    f.globals.insert(n.clone());
                }
            }
            Cmd::Include {
                name,
                global,
                once,
                optional,
            } => {
                let name = self.exp(f, name);
                if *once && !self.included_once.insert((name.clone(), *global)) {
                    return Ok(Flow::Next);
                }
                if depth + 1 > MAX_INCLUDE_DEPTH {
                    return Err(self.err("include nesting too deep (a loop?)"));
                }
                self.includes += 1;
                if self.includes > MAX_INCLUDES {
                    return Err(self.err("too many includes"));
                }
                let Some(text) = self.host.include(&name, *global) else {
                    if *optional {
                        return Ok(Flow::Next);
                    }
                    return Err(self.err(format!("included script \"{name}\" does not exist")));
                };
                let sub = Script::compile(&text)
                    .map_err(|e| self.err(format!("included script \"{name}\": {e}")))?;
                let mut frame = Frame::new(&sub);
                match self.block(&sub, &sub.body, &mut frame, depth + 1)? {
                    Flow::Stop => return Ok(Flow::Stop),
                    Flow::Next | Flow::Return => {}
                }
            }
            Cmd::AddHeader { last, name, value } => {
                let name = self.exp(f, name);
                let value = self.exp(f, value);
                if !super::compile::valid_field_name(&name) {
                    return Err(self.err(format!("addheader: invalid field name \"{name}\"")));
                }
                if !PROTECTED.contains(&name.to_ascii_lowercase().as_str()) {
                    self.msg.add_field(&name, &value, *last);
                }
            }
            Cmd::DeleteHeader {
                index,
                matcher,
                name,
                patterns,
            } => {
                let name = self.exp(f, name);
                if PROTECTED.contains(&name.to_ascii_lowercase().as_str()) {
                    return Ok(Flow::Next);
                }
                let patterns = patterns.as_ref().map(|p| self.exp_list(f, p));
                let positions: Vec<usize> = self
                    .msg
                    .fields
                    .iter()
                    .enumerate()
                    .filter(|(_, fl)| fl.name.eq_ignore_ascii_case(&name))
                    .map(|(i, _)| i)
                    .collect();
                let chosen: Vec<usize> = match index {
                    Some((i, last)) => pick(&positions, *i, *last).into_iter().collect(),
                    None => positions,
                };
                let mut remove = Vec::new();
                for i in chosen {
                    let value = self.msg.fields[i].decoded();
                    let hit = match &patterns {
                        None => true,
                        Some(keys) => keys.iter().any(|k| matcher.matches(&value, k, &mut None)),
                    };
                    if hit {
                        remove.push(i);
                    }
                }
                if !remove.is_empty() {
                    for i in remove.into_iter().rev() {
                        self.msg.fields.remove(i);
                    }
                    self.msg.edited = true;
                }
            }
        }
        Ok(Flow::Next)
    }

    fn flags_for(&self, f: &Frame, given: Option<&[String]>) -> Vec<String> {
        match given {
            Some(list) => {
                let mut out = Vec::new();
                for s in self.exp_list(f, list) {
                    for flag in split_flags(&s) {
                        add_flag(&mut out, &flag);
                    }
                }
                out
            }
            None => self.flags.clone(),
        }
    }

    /// Matches `values` against `keys`; sets match variables on success.
    fn match_values(&self, f: &mut Frame, m: &Matcher, values: &[String], keys: &[String]) -> bool {
        if let MatchKind::Count(_) = m.kind {
            let n = values.len();
            return keys.iter().any(|k| m.count_matches(n, k));
        }
        for v in values {
            for k in keys {
                let mut caps = None;
                if m.matches(v, k, &mut caps) {
                    if f.variables {
                        if let Some(c) = caps {
                            f.vars.matched = c;
                        }
                    }
                    return true;
                }
            }
        }
        false
    }

    fn test(&mut self, t: &Test, f: &mut Frame) -> R<bool> {
        self.step()?;
        Ok(match t {
            Test::True => true,
            Test::False => false,
            Test::Not(t) => !self.test(t, f)?,
            Test::AllOf(ts) => {
                for t in ts {
                    if !self.test(t, f)? {
                        return Ok(false);
                    }
                }
                true
            }
            Test::AnyOf(ts) => {
                for t in ts {
                    if self.test(t, f)? {
                        return Ok(true);
                    }
                }
                false
            }
            Test::Exists(names) => self.exp_list(f, names).iter().all(|n| {
                self.msg
                    .fields
                    .iter()
                    .any(|fl| fl.name.eq_ignore_ascii_case(n))
            }),
            Test::Size { over, limit } => {
                let size = self.msg.size();
                if *over {
                    size > *limit
                } else {
                    size < *limit
                }
            }
            Test::Header {
                m,
                index,
                names,
                keys,
            } => {
                let names = self.exp_list(f, names);
                let keys = self.exp_list(f, keys);
                let mut values = Vec::new();
                for n in &names {
                    let vs = self.msg.values(n);
                    match index {
                        Some((i, last)) => values.extend(pick(&vs, *i, *last)),
                        None => values.extend(vs),
                    }
                }
                self.match_values(f, m, &values, &keys)
            }
            Test::Address {
                m,
                part,
                index,
                names,
                keys,
            } => {
                let names = self.exp_list(f, names);
                let keys = self.exp_list(f, keys);
                let mut values = Vec::new();
                for n in &names {
                    let raws: Vec<String> = self
                        .msg
                        .raw_values(n)
                        .into_iter()
                        .map(str::to_string)
                        .collect();
                    let raws = match index {
                        Some((i, last)) => pick(&raws, *i, *last).into_iter().collect(),
                        None => raws,
                    };
                    for raw in raws {
                        for (local, domain) in message::addresses(&raw) {
                            if let Some(v) = message::address_part(
                                &local,
                                domain.as_deref(),
                                *part,
                                self.input.delimiter,
                            ) {
                                values.push(v);
                            }
                        }
                    }
                }
                self.match_values(f, m, &values, &keys)
            }
            Test::Envelope {
                m,
                part,
                names,
                keys,
            } => {
                let keys = self.exp_list(f, keys);
                let mut values = Vec::new();
                for n in self.exp_list(f, names) {
                    let addr = match n.to_ascii_lowercase().as_str() {
                        "from" => Some(self.input.envelope_from),
                        "to" => Some(self.input.envelope_to),
                        "auth" => self.input.auth_user,
                        _ => None,
                    };
                    let Some(addr) = addr else { continue };
                    if addr.is_empty() || addr == "<>" {
                        // The null sender: only "" matches, whatever part.
                        if *part != AddrPart::Detail {
                            values.push(String::new());
                        }
                        continue;
                    }
                    let (local, domain) = message::envelope_address(addr);
                    if let Some(v) = message::address_part(
                        &local,
                        domain.as_deref(),
                        *part,
                        self.input.delimiter,
                    ) {
                        values.push(v);
                    }
                }
                self.match_values(f, m, &values, &keys)
            }
            Test::Body { m, transform, keys } => {
                let keys = self.exp_list(f, keys);
                let texts = self.msg.body_texts(transform);
                self.match_values(f, m, &texts, &keys)
            }
            Test::Str { m, sources, keys } => {
                let sources = self.exp_list(f, sources);
                let keys = self.exp_list(f, keys);
                if let MatchKind::Count(_) = m.kind {
                    // RFC 5229 §5: :count counts the non-empty strings.
                    let n = sources.iter().filter(|s| !s.is_empty()).count();
                    return Ok(keys.iter().any(|k| m.count_matches(n, k)));
                }
                self.match_values(f, m, &sources, &keys)
            }
            Test::HasFlag { m, vars, flags } => {
                let keys = self.exp_list(f, flags);
                let current: Vec<String> = match vars {
                    Some(vs) => vs
                        .iter()
                        .flat_map(|v| split_flags(&self.get_var(f, &self.exp(f, v))))
                        .collect(),
                    None => self.flags.clone(),
                };
                let keys: Vec<String> = keys.iter().flat_map(|k| split_flags(k)).collect();
                self.match_values(f, m, &current, &keys)
            }
            Test::MailboxExists(names) => {
                let names = self.exp_list(f, names);
                names.iter().all(|n| self.host.mailbox_exists(n))
            }
            Test::Date {
                m,
                zone,
                index,
                header,
                part,
                keys,
            } => {
                let header = self.exp(f, header);
                let keys = self.exp_list(f, keys);
                let vs = self.msg.values(&header);
                let vs = match index {
                    Some((i, last)) => pick(&vs, *i, *last).into_iter().collect(),
                    None => vs,
                };
                let mut values = Vec::new();
                for v in vs {
                    // A Received field's date follows its last ';'.
                    let text = if header.eq_ignore_ascii_case("received") {
                        v.rsplit(';').next().unwrap_or("").to_string()
                    } else {
                        v
                    };
                    if let Some((day, secs, zone_min)) =
                        crate::datetime::rfc5322_local(text.as_bytes())
                    {
                        let instant = day * 86_400 + secs - zone_min * 60;
                        let z = match zone {
                            Zone::Original => zone_min,
                            Zone::Fixed(Some(z)) => *z,
                            Zone::Fixed(None) => self.input.local_zone_minutes,
                        };
                        values.push(date_part(instant, z, part));
                    }
                }
                self.match_values(f, m, &values, &keys)
            }
            Test::CurrentDate {
                m,
                zone,
                part,
                keys,
            } => {
                let keys = self.exp_list(f, keys);
                let z = match zone {
                    Zone::Fixed(Some(z)) => *z,
                    _ => self.input.local_zone_minutes,
                };
                let values = vec![date_part(self.input.now, z, part)];
                self.match_values(f, m, &values, &keys)
            }
            Test::Duplicate {
                handle,
                header,
                uniqueid,
                seconds,
                last,
            } => {
                let id = match (uniqueid, header) {
                    (Some(u), _) => Some(self.exp(f, u)),
                    (None, Some(h)) => self.msg.values(&self.exp(f, h)).into_iter().next(),
                    (None, None) => self.msg.values("message-id").into_iter().next(),
                };
                let Some(id) = id.filter(|i| !i.is_empty()) else {
                    return Ok(false);
                };
                let handle = handle.as_ref().map(|h| self.exp(f, h)).unwrap_or_default();
                self.host
                    .seen_before(&format!("duplicate\0{handle}\0{id}"), *seconds, *last)
            }
            Test::Spam {
                virus,
                percent,
                m,
                value,
            } => {
                let keys = vec![self.exp(f, value)];
                let score = if *virus {
                    self.virus_score()
                } else {
                    self.spam_score(*percent)
                };
                let m = Matcher {
                    cmp: m.cmp,
                    kind: m.kind,
                };
                self.match_values(f, &m, &[score], &keys)
            }
        })
    }

    /// RFC 5235: "0" untested, "1".."10" from not spam to surely spam
    /// (or 0..100 with :percent).
    fn spam_score(&self, percent: bool) -> String {
        let Some((name, max)) = &self.input.scores.spam else {
            return "0".into();
        };
        let Some(v) = self.msg.values(name).into_iter().next() else {
            return "0".into();
        };
        let Some(score) = leading_float(&v) else {
            return "0".into();
        };
        let ratio = if *max > 0.0 {
            (score / max).clamp(0.0, 1.0)
        } else {
            0.0
        };
        if percent {
            format!("{}", (ratio * 100.0).round() as u32)
        } else {
            format!("{}", 1 + (ratio * 9.0).round() as u32)
        }
    }

    fn virus_score(&self) -> String {
        let Some(name) = &self.input.scores.virus else {
            return "0".into();
        };
        self.msg
            .values(name)
            .into_iter()
            .next()
            .and_then(|v| leading_float(&v))
            .map_or("0".into(), |s| format!("{}", s.clamp(0.0, 5.0) as u32))
    }

    /// Conflicts checked once all actions are known, then the implicit keep.
    fn finish(&mut self) -> R<()> {
        let rejects = self
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Reject { .. }))
            .count();
        if rejects > 1 {
            return Err(self.err("duplicate reject action"));
        }
        if rejects == 1
            && self.actions.iter().any(|a| {
                matches!(
                    a,
                    Action::Store { .. } | Action::Redirect { .. } | Action::Vacation(_)
                )
            })
        {
            return Err(self.err("reject action conflicts with other actions"));
        }
        if self.implicit_keep {
            let flags = self.flags.clone();
            self.push(Action::Store {
                mailbox: "INBOX".into(),
                flags,
                create: false,
            })?;
        }
        Ok(())
    }
}

/// The `i`-th value (1-based), counted from the end with `last`.
fn pick<T: Clone>(values: &[T], i: u64, last: bool) -> Option<T> {
    let i = usize::try_from(i).ok()?.checked_sub(1)?;
    if last {
        values
            .len()
            .checked_sub(i + 1)
            .and_then(|j| values.get(j))
            .cloned()
    } else {
        values.get(i).cloned()
    }
}

fn canonical_mailbox(m: &str) -> String {
    if m.eq_ignore_ascii_case("inbox") {
        "INBOX".into()
    } else {
        m.to_string()
    }
}

fn split_flags(s: &str) -> Vec<String> {
    s.split_ascii_whitespace().map(str::to_string).collect()
}

fn add_flag(list: &mut Vec<String>, flag: &str) {
    if !list.iter().any(|f| f.eq_ignore_ascii_case(flag)) {
        list.push(flag.to_string());
    }
}

fn leading_float(v: &str) -> Option<f64> {
    let v = v.trim_start();
    let end = v
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+'))))
        .map_or(v.len(), |(i, _)| i);
    v[..end].parse().ok()
}

/// Names referenced as `${name}` in `s`, lower-cased.
fn var_names(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find('}') {
            let name = &rest[..end];
            if vars::check_name(name).is_ok() {
                out.push(name.to_ascii_lowercase());
            }
        }
    }
    out
}

/// A date part (RFC 5260 §4.3) of `instant` seen in zone `z`.
fn date_part(instant: i64, z: i64, part: &str) -> String {
    let local = instant + z * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, mo, d) = crate::datetime::civil_from_days(days);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let zone = format!(
        "{}{:02}{:02}",
        if z < 0 { '-' } else { '+' },
        z.abs() / 60,
        z.abs() % 60
    );
    match part {
        "year" => format!("{y:04}"),
        "month" => format!("{mo:02}"),
        "day" => format!("{d:02}"),
        "date" => format!("{y:04}-{mo:02}-{d:02}"),
        // Modified Julian Day: days since 1858-11-17.
        "julian" => format!("{}", days + 40_587),
        "hour" => format!("{h:02}"),
        "minute" => format!("{mi:02}"),
        "second" => format!("{s:02}"),
        "time" => format!("{h:02}:{mi:02}:{s:02}"),
        "iso8601" => {
            let zi = if z == 0 {
                "Z".to_string()
            } else {
                format!("{}:{}", &zone[..3], &zone[3..])
            };
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{zi}")
        }
        "std11" => {
            const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
            const MON: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            format!(
                "{}, {} {} {:04} {h:02}:{mi:02}:{s:02} {zone}",
                WD[days.rem_euclid(7) as usize],
                d,
                MON[(mo as usize).saturating_sub(1) % 12],
                y
            )
        }
        "zone" => zone,
        // 0 = Sunday; 1970-01-01 was a Thursday.
        "weekday" => format!("{}", (days + 4).rem_euclid(7)),
        _ => String::new(),
    }
}
