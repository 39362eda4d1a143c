//! One client's connection and bookkeeping: runs a command, feeds every
//! response through the model, and reports what breaks a rule.
//!
//! Tagged NOs: the tester only sends commands that should succeed, so a
//! NO is an inconsistency, except:
//! - NO [EXPUNGEISSUED] to FETCH, STORE, COPY and MOVE (UID or not) and
//!   to the STORE that marks messages \Deleted: they name messages this
//!   session still sees but another client may have expunged
//!   (RFC 9051 §7.1; RFC 3501 §7.4.1 lets the server refuse).
//! - NO [INUSE], [UNAVAILABLE] or [LIMIT] (RFC 5530), to any command: a
//!   transient refusal. Counted as an error, not an inconsistency.

use crate::args::Config;
use crate::conn::{Conn, ReadError};
use crate::message;
use crate::model::{Finding, Shared, View};
use crate::parse::{self, Code, Response, Status, Untagged, Value};
use crate::report::Stats;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Longest excerpt of a response kept for a report.
const EXCERPT: usize = 300;

/// The connection is unusable; the cause has been reported.
#[derive(Debug)]
pub struct Fail;

#[derive(Default, Clone, Copy)]
pub struct Caps {
    pub imap4rev1: bool,
    pub idle: bool,
    pub uidplus: bool,
    pub move_: bool,
    pub literal_plus: bool,
}

impl Caps {
    fn from(list: &[String]) -> Caps {
        let has = |c: &str| list.iter().any(|x| x.eq_ignore_ascii_case(c));
        Caps {
            imap4rev1: has("IMAP4rev1"),
            idle: has("IDLE"),
            uidplus: has("UIDPLUS"),
            move_: has("MOVE"),
            literal_plus: has("LITERAL+"),
        }
    }
}

/// What a command expects of its responses.
#[derive(Default, Clone, Copy)]
pub struct Ctx {
    /// NO [EXPUNGEISSUED] is allowed (see the module comment).
    pub may_be_gone: bool,
    /// FETCH, STORE or SEARCH by message number: RFC 3501 §7.4.1 forbids
    /// EXPUNGE responses to them.
    pub no_expunge: bool,
    /// SEARCH by message number: every number must exist.
    pub msn_search: bool,
    pub logout: bool,
    /// Any NO is fine (CREATE of a mailbox that may exist).
    pub may_fail: bool,
    /// A STORE of this client's keyword on a UID: (uid, present after).
    pub mark: Option<(u32, bool)>,
}

/// The outcome of one command.
pub struct Reply {
    pub status: Status,
    pub code: Option<Code>,
    pub tagged: String,
    /// Codes of untagged OK responses (MOVE's COPYUID, SELECT's data).
    pub codes: Vec<Code>,
    pub search: Option<Vec<u32>>,
    /// (message number, UID if known, items) of each FETCH response.
    pub fetched: Vec<(u32, Option<u32>, Vec<(String, Value)>)>,
    pub bye: bool,
    nil_bodies: usize,
}

impl Reply {
    fn new() -> Reply {
        Reply {
            status: Status::Bad,
            code: None,
            tagged: String::new(),
            codes: Vec::new(),
            search: None,
            fetched: Vec::new(),
            bye: false,
            nil_bodies: 0,
        }
    }

    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// A code of the tagged response or of an untagged OK, by name.
    pub fn find_code(&self, name: &str) -> Option<&Code> {
        self.code
            .iter()
            .chain(self.codes.iter())
            .find(|c| c.name == name)
    }
}

fn excerpt(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(&raw[..raw.len().min(EXCERPT)]);
    let mut s = s.replace("\r\n", "\\r\\n");
    if raw.len() > EXCERPT {
        s.push_str(&format!("... ({} bytes)", raw.len()));
    }
    s
}

/// An IMAP quoted string (the names and passwords used have no CR/LF).
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub struct Session<'a> {
    pub id: usize,
    pub user: usize,
    pub cfg: &'a Config,
    pub shared: &'a Shared,
    conn: Option<Conn>,
    pub view: Option<View>,
    pub caps: Caps,
    /// This client's private keyword: only it stores it.
    pub keyword: Option<String>,
    /// (mailbox, UIDVALIDITY, UID) → whether the keyword is set, after a
    /// STORE this client got an OK for.
    marks: HashMap<(usize, u32, u32), bool>,
    pub stats: Stats,
    /// The command in progress, for reports.
    current: String,
    /// The last lines sent and received (`--history`).
    history: VecDeque<String>,
}

impl<'a> Session<'a> {
    pub fn new(id: usize, user: usize, cfg: &'a Config, shared: &'a Shared) -> Session<'a> {
        Session {
            id,
            user,
            cfg,
            shared,
            conn: None,
            view: None,
            caps: Caps::default(),
            keyword: None,
            marks: HashMap::new(),
            stats: Stats::default(),
            current: String::new(),
            history: VecDeque::new(),
        }
    }

    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }

    pub fn disconnect(&mut self) {
        self.conn = None;
        self.view = None;
    }

    pub fn marks(&self) -> &HashMap<(usize, u32, u32), bool> {
        &self.marks
    }

    pub fn finding(&mut self, problem: String, raw: &[u8]) {
        self.shared.report(Finding {
            client: self.id,
            command: self.current.clone(),
            problem,
            line: excerpt(raw),
            history: self.history.iter().cloned().collect(),
        });
    }

    fn remember(&mut self, dir: &str, bytes: &[u8]) {
        if self.cfg.history == 0 {
            return;
        }
        if self.history.len() >= self.cfg.history {
            self.history.pop_front();
        }
        let mut line = excerpt(&bytes[..bytes.len().min(160)]);
        if bytes.len() > 160 {
            line.push_str(&format!("... ({} bytes)", bytes.len()));
        }
        self.history.push_back(format!("{dir} {line}"));
    }

    /// Connects, reads the greeting and logs in.
    pub fn connect(&mut self) -> Result<(), Fail> {
        self.disconnect();
        self.current = "(connect)".into();
        let start = Instant::now();
        let conn = match Conn::connect(&self.cfg.server, self.cfg.timeout) {
            Ok(c) => c,
            Err(e) => {
                self.stats
                    .error(format!("connect: {:?}", e.kind()), e.to_string());
                return Err(Fail);
            }
        };
        self.conn = Some(conn);
        let raw = self.read(start + self.cfg.timeout, "CONNECT")?;
        match parse::parse(&raw) {
            Ok(Response::Untagged(Untagged::Status {
                status: Status::Ok,
                code,
                ..
            })) => {
                if let Some(c) = code.filter(|c| c.name == "CAPABILITY") {
                    self.caps = Caps::from(&split_caps(&c.args));
                }
            }
            Ok(Response::Untagged(Untagged::Status {
                status: Status::Bye,
                ..
            })) => {
                // A server at its connection limit says so and closes.
                self.stats.error("greeting BYE".into(), excerpt(&raw));
                self.disconnect();
                return Err(Fail);
            }
            _ => {
                self.finding("greeting is not * OK".into(), &raw);
                self.disconnect();
                return Err(Fail);
            }
        }
        self.stats.record("CONNECT", start.elapsed());
        let (name, pass) = self.cfg.users[self.user].clone();
        let text = format!("LOGIN {} {}", quote(&name), quote(&pass));
        self.current = format!("LOGIN {} ***", quote(&name));
        let reply = self.exchange("LOGIN", vec![text.into_bytes()], Ctx::default(), None)?;
        if !reply.ok() {
            self.disconnect();
            return Err(Fail);
        }
        match reply.code.as_ref().filter(|c| c.name == "CAPABILITY") {
            Some(c) => self.caps = Caps::from(&split_caps(&c.args)),
            None => {
                self.command("CAPABILITY", "CAPABILITY", Ctx::default())?;
            }
        }
        Ok(())
    }

    /// Reads one response; a timeout, a closed connection or broken
    /// framing ends the session.
    fn read(&mut self, deadline: Instant, kind: &str) -> Result<Vec<u8>, Fail> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(Fail);
        };
        match conn.read(deadline) {
            Ok(raw) => {
                self.remember("S:", &raw);
                Ok(raw)
            }
            Err(ReadError::Timeout) => {
                self.stats
                    .error(format!("timeout: {kind}"), self.current.clone());
                self.disconnect();
                Err(Fail)
            }
            Err(ReadError::Closed(why)) => {
                self.finding(format!("connection dropped ({why})"), b"");
                self.disconnect();
                Err(Fail)
            }
            Err(ReadError::Framing(why)) => {
                self.finding(format!("response framing: {why}"), b"");
                self.disconnect();
                Err(Fail)
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Fail> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(Fail);
        };
        let result = conn.send(bytes);
        // Never a password in a report: LOGIN shows as `current` has it.
        let shown = if self.current.starts_with("LOGIN ") {
            self.current.clone().into_bytes()
        } else {
            bytes.strip_suffix(b"\r\n").unwrap_or(bytes).to_vec()
        };
        self.remember("C:", &shown);
        if let Err(e) = result {
            self.finding(format!("connection dropped while sending ({e})"), b"");
            self.disconnect();
            return Err(Fail);
        }
        Ok(())
    }

    /// Runs `text` as one tagged command.
    pub fn command(&mut self, kind: &'static str, text: &str, ctx: Ctx) -> Result<Reply, Fail> {
        self.current = text.chars().take(200).collect();
        self.exchange(kind, vec![text.as_bytes().to_vec()], ctx, None)
    }

    /// APPENDs `msg` to `mailbox` with `flags` (e.g. `(\Seen)` or empty).
    pub fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> Result<Reply, Fail> {
        let sep = if flags.is_empty() { "" } else { " " };
        let plus = if self.caps.literal_plus { "+" } else { "" };
        let head = format!(
            "APPEND {}{sep}{flags} {{{}{plus}}}",
            quote(mailbox),
            msg.len()
        );
        self.current = head.clone();
        // `exchange` ends each part with the command's CRLF.
        let parts = if self.caps.literal_plus {
            let mut all = head.into_bytes();
            all.extend_from_slice(b"\r\n");
            all.extend_from_slice(msg);
            vec![all]
        } else {
            vec![head.into_bytes(), msg.to_vec()]
        };
        self.exchange("APPEND", parts, Ctx::default(), None)
    }

    /// IDLE for `wait`, then DONE.
    pub fn idle(&mut self, wait: Duration) -> Result<Reply, Fail> {
        self.current = "IDLE".into();
        self.exchange("IDLE", vec![b"IDLE".to_vec()], Ctx::default(), Some(wait))
    }

    /// Sends the parts of one command (the tag goes before the first,
    /// CRLF after each; each later part waits for a continuation) and
    /// reads to the tagged response. With `idle`, the continuation starts
    /// an IDLE that ends with DONE after that long; the latency recorded
    /// is then from DONE to the tagged response.
    fn exchange(
        &mut self,
        kind: &'static str,
        parts: Vec<Vec<u8>>,
        ctx: Ctx,
        idle: Option<Duration>,
    ) -> Result<Reply, Fail> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(Fail);
        };
        let tag = conn.tag();
        let mut first = format!("{tag} ").into_bytes();
        first.extend_from_slice(&parts[0]);
        first.extend_from_slice(b"\r\n");
        let mut start = Instant::now();
        let mut deadline = start + self.cfg.timeout;
        self.send(&first)?;
        let mut next = 1;
        let mut reply = Reply::new();
        let mut flags_seen: HashMap<u32, (bool, Vec<u8>)> = HashMap::new();
        let mut idling = idle;
        // Bounded: every pass reads a response, and the reads are bounded
        // by the command's deadline.
        loop {
            let raw = self.read(deadline, kind)?;
            let resp = match parse::parse(&raw) {
                Ok(r) => r,
                Err(e) => {
                    self.finding(format!("response does not parse: {e}"), &raw);
                    self.disconnect();
                    return Err(Fail);
                }
            };
            match resp {
                Response::Continue if next < parts.len() => {
                    let mut p = parts[next].clone();
                    p.extend_from_slice(b"\r\n");
                    next += 1;
                    self.send(&p)?;
                }
                Response::Continue if idling.is_some() => {
                    let wait = idling.take().unwrap_or_default();
                    self.idle_wait(wait, &ctx, &mut reply, &mut flags_seen)?;
                    self.send(b"DONE\r\n")?;
                    start = Instant::now();
                    deadline = start + self.cfg.timeout;
                }
                Response::Continue => {
                    self.finding("unexpected continuation request".into(), &raw);
                    self.disconnect();
                    return Err(Fail);
                }
                Response::Tagged { tag: t, .. } if t != tag => {
                    self.finding(format!("response tagged {t:?}, expected {tag:?}"), &raw);
                    self.disconnect();
                    return Err(Fail);
                }
                Response::Tagged { status, code, .. } => {
                    reply.status = status;
                    reply.code = code;
                    reply.tagged = excerpt(&raw);
                    break;
                }
                Response::Untagged(u) => {
                    self.apply(u, &raw, &ctx, &mut reply, &mut flags_seen)?;
                }
            }
        }
        self.stats.record(kind, start.elapsed());
        self.settle(kind, &ctx, &reply, flags_seen);
        Ok(reply)
    }

    /// Between IDLE's continuation and DONE: whatever the server pushes.
    fn idle_wait(
        &mut self,
        wait: Duration,
        ctx: &Ctx,
        reply: &mut Reply,
        flags_seen: &mut HashMap<u32, (bool, Vec<u8>)>,
    ) -> Result<(), Fail> {
        let until = Instant::now() + wait;
        // Bounded by `until`: each pass reads a response or times out.
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Err(Fail);
            };
            let raw = match conn.read(until) {
                Ok(raw) => {
                    self.remember("S:", &raw);
                    raw
                }
                Err(ReadError::Timeout) => return Ok(()),
                Err(ReadError::Closed(why)) => {
                    self.finding(format!("connection dropped during IDLE ({why})"), b"");
                    self.disconnect();
                    return Err(Fail);
                }
                Err(ReadError::Framing(why)) => {
                    self.finding(format!("response framing: {why}"), b"");
                    self.disconnect();
                    return Err(Fail);
                }
            };
            match parse::parse(&raw) {
                Ok(Response::Untagged(u)) => self.apply(u, &raw, ctx, reply, flags_seen)?,
                Ok(_) => {
                    self.finding("tagged response or continuation before DONE".into(), &raw);
                    self.disconnect();
                    return Err(Fail);
                }
                Err(e) => {
                    self.finding(format!("response does not parse: {e}"), &raw);
                    self.disconnect();
                    return Err(Fail);
                }
            }
        }
    }

    /// One untagged response: updates the view and checks it.
    fn apply(
        &mut self,
        u: Untagged,
        raw: &[u8],
        ctx: &Ctx,
        reply: &mut Reply,
        flags_seen: &mut HashMap<u32, (bool, Vec<u8>)>,
    ) -> Result<(), Fail> {
        match u {
            Untagged::Exists(n) => match self.view.as_mut().map(|v| v.on_exists(n)) {
                Some(Err(e)) => self.finding(e, raw),
                Some(Ok(())) => {}
                None => self.finding("EXISTS with no mailbox selected".into(), raw),
            },
            Untagged::Expunge(n) => {
                if ctx.no_expunge {
                    self.finding(
                        "EXPUNGE while answering FETCH, STORE or SEARCH (RFC 3501 §7.4.1)".into(),
                        raw,
                    );
                }
                match self
                    .view
                    .as_mut()
                    .map(|v| (v.mailbox, v.uidvalidity, v.on_expunge(n)))
                {
                    Some((_, _, Err(e))) => self.finding(e, raw),
                    Some((mailbox, uidvalidity, Ok(uid))) => {
                        if uid != 0 {
                            self.marks.remove(&(mailbox, uidvalidity, uid));
                            flags_seen.remove(&uid);
                        }
                    }
                    None => self.finding("EXPUNGE with no mailbox selected".into(), raw),
                }
            }
            Untagged::Fetch(msn, items) => self.on_fetch(msn, items, raw, reply, flags_seen),
            Untagged::Search(found) => {
                if ctx.msn_search {
                    let exists = self.view.as_ref().map_or(0, View::exists);
                    if let Some(bad) = found.iter().find(|&&n| n == 0 || n as usize > exists) {
                        self.finding(
                            format!("SEARCH found message {bad} in a mailbox of {exists}"),
                            raw,
                        );
                    }
                }
                reply.search = Some(found);
            }
            Untagged::Status { status, code, .. } => match status {
                Status::Ok => {
                    if let Some(c) = code {
                        self.on_code(&c, raw);
                        reply.codes.push(c);
                    }
                }
                Status::No => self.stats.error("untagged NO".into(), excerpt(raw)),
                Status::Bad => self.finding("untagged BAD".into(), raw),
                Status::Bye if ctx.logout => reply.bye = true,
                Status::Bye => {
                    self.finding("server said BYE".into(), raw);
                    self.disconnect();
                    return Err(Fail);
                }
                Status::Preauth => self.finding("PREAUTH after the greeting".into(), raw),
            },
            Untagged::Capability(list) => self.caps = Caps::from(&list),
            Untagged::Recent(_) | Untagged::Other(_) => {}
        }
        Ok(())
    }

    /// Codes of untagged OKs that describe the selected mailbox.
    fn on_code(&mut self, c: &Code, raw: &[u8]) {
        let user = self.user;
        let Some(v) = self.view.as_mut() else {
            return;
        };
        match c.name.as_str() {
            "UIDVALIDITY" => match c.args.trim().parse::<u32>() {
                Ok(n) => {
                    v.uidvalidity = n;
                    let mailbox = v.mailbox;
                    if let Err(old) = self.shared.check_uidvalidity(user, mailbox, n) {
                        self.finding(format!("UIDVALIDITY changed from {old} to {n}"), raw);
                    }
                }
                Err(_) => self.finding("UIDVALIDITY is not a number".into(), raw),
            },
            "PERMANENTFLAGS" => v.keywords_allowed = c.args.contains("\\*"),
            _ => {}
        }
    }

    fn on_fetch(
        &mut self,
        msn: u32,
        items: Vec<(String, Value)>,
        raw: &[u8],
        reply: &mut Reply,
        flags_seen: &mut HashMap<u32, (bool, Vec<u8>)>,
    ) {
        let Some(view) = self.view.as_mut() else {
            self.finding("FETCH with no mailbox selected".into(), raw);
            return;
        };
        if let Err(e) = view.check_msn(msn) {
            self.finding(e, raw);
            return;
        }
        let mut uid = None;
        let mut problems = Vec::new();
        for (name, value) in &items {
            if name == "UID" {
                match value.as_number() {
                    Some(u) => {
                        if let Err(e) = view.learn_uid(msn, u) {
                            problems.push(e);
                        }
                        uid = Some(u);
                    }
                    None => problems.push("UID is not a number".into()),
                }
            }
        }
        let uid = uid.or_else(|| view.uid(msn as usize));
        let key = uid
            .filter(|_| view.uidvalidity != 0)
            .map(|u| (self.user, view.mailbox, view.uidvalidity, u));
        for (name, value) in &items {
            match name.as_str() {
                "FLAGS" => match value.atoms() {
                    Some(flags) => {
                        if let (Some(kw), Some(u)) = (&self.keyword, uid) {
                            let has = flags.iter().any(|f| f.eq_ignore_ascii_case(kw));
                            flags_seen.insert(u, (has, raw.to_vec()));
                        }
                    }
                    None => problems.push("FLAGS is not a list of flags".into()),
                },
                "ENVELOPE" if !matches!(value, Value::List(l) if l.len() == 10) => {
                    problems.push("ENVELOPE is not a list of 10 fields".into());
                }
                "BODYSTRUCTURE" | "BODY" if !matches!(value, Value::List(l) if !l.is_empty()) => {
                    problems.push(format!("{name} is not a list"));
                }
                "RFC822.SIZE" if value.as_number().is_none() => {
                    problems.push("RFC822.SIZE is not a number".into());
                }
                "BODY[]" => match value {
                    Value::Str(data) => match message::identity(data) {
                        Err(e) => problems.push(e),
                        Ok(id) => {
                            if let Some(k) = key {
                                if let Err(old) = self.shared.check_identity(k, id) {
                                    problems.push(format!(
                                        "UID {} held message {old:016x} and now holds {id:016x}",
                                        k.3
                                    ));
                                }
                            }
                        }
                    },
                    Value::Nil => reply.nil_bodies += 1,
                    _ => problems.push("BODY[] is not a string".into()),
                },
                "BODY[]<0>" => {
                    if let (Value::Str(data), Some(k)) = (value, key) {
                        let claimed = message::claimed(data);
                        if let (Some(c), Some(known)) = (claimed, self.shared.identity(k)) {
                            if c != known {
                                problems.push(format!(
                                    "UID {} held message {known:016x}; its first bytes now say {c:016x}",
                                    k.3
                                ));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for p in problems {
            self.finding(p, raw);
        }
        reply.fetched.push((msn, uid, items));
    }

    /// After the tagged response: the status, and the private keyword.
    fn settle(
        &mut self,
        kind: &str,
        ctx: &Ctx,
        reply: &Reply,
        flags_seen: HashMap<u32, (bool, Vec<u8>)>,
    ) {
        let code = reply.code.as_ref().map(|c| c.name.as_str());
        match reply.status {
            Status::Ok => {}
            Status::No if ctx.may_fail => {}
            Status::No if code == Some("EXPUNGEISSUED") && ctx.may_be_gone => {
                self.stats.allowed_no += 1;
            }
            Status::No if matches!(code, Some("INUSE" | "UNAVAILABLE" | "LIMIT")) => {
                self.stats.error(
                    format!("NO [{}] to {kind}", code.unwrap_or_default()),
                    reply.tagged.clone(),
                );
            }
            Status::No => self.finding(
                "NO to a command that should succeed".into(),
                reply.tagged.as_bytes(),
            ),
            _ => self.finding("BAD to a valid command".into(), reply.tagged.as_bytes()),
        }
        if reply.nil_bodies > 0 && code != Some("EXPUNGEISSUED") {
            self.finding(
                "BODY[] NIL without EXPUNGEISSUED".into(),
                reply.tagged.as_bytes(),
            );
        }
        if ctx.logout && reply.ok() && !reply.bye {
            self.finding("LOGOUT without BYE".into(), reply.tagged.as_bytes());
        }
        let (Some(kw), Some(v)) = (self.keyword.clone(), self.view.as_ref()) else {
            return;
        };
        let (mailbox, uidvalidity) = (v.mailbox, v.uidvalidity);
        if let Some((uid, want)) = ctx.mark {
            let key = (mailbox, uidvalidity, uid);
            // Only a STORE the server confirmed with the message's new
            // flags counts; without them the message may be gone.
            if reply.ok() && flags_seen.contains_key(&uid) {
                self.marks.insert(key, want);
            } else {
                self.marks.remove(&key);
            }
        }
        for (uid, (has, raw)) in flags_seen {
            if let Some(&want) = self.marks.get(&(mailbox, uidvalidity, uid)) {
                if has != want {
                    let (seen, did) = if has {
                        ("has", "-FLAGS")
                    } else {
                        ("lacks", "+FLAGS")
                    };
                    self.finding(
                        format!("UID {uid} {seen} {kw} after this client's {did} ({kw}) got OK"),
                        &raw,
                    );
                }
            }
        }
    }
}

fn split_caps(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_ascii_uppercase).collect()
}
