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
use crate::model::{Finding, Shared, View};
use crate::parse::{self, Code, Response, Status, Untagged, Value};
use crate::report::Stats;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

mod checks;

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
        let server = &self.cfg.servers[self.id % self.cfg.servers.len()];
        let conn = match Conn::connect(server, self.cfg.timeout) {
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
}

fn split_caps(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_ascii_uppercase).collect()
}
