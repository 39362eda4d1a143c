//! What each client does: a weighted random mix of operations, each one
//! to three commands, on the mailboxes of its user.

use crate::args::{Config, Op};
use crate::message;
use crate::model::Shared;
use crate::parse::{self, Value};
use crate::report::Stats;
use crate::rng::Rng;
use crate::session::{quote, Ctx, Fail, Session};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Safety bound on one client's loop, beyond time and `--ops`.
const MAX_ITERATIONS: u64 = 100_000_000;
/// Pause after a failed connection, so a refusing server is not hammered.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);
/// Largest message range one FETCH asks for.
const MAX_RANGE: u64 = 20;

/// Message-IDs unique across runs and clients.
static NEXT_MESSAGE: AtomicU64 = AtomicU64::new(0);

pub fn message_id(run: u64) -> String {
    format!(
        "{run:x}.{}@roost-load.invalid",
        NEXT_MESSAGE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Messages each mailbox should hover around: EXPUNGE wins when a
/// mailbox grows past twice this, APPEND when it drops below half.
pub fn target_size(cfg: &Config) -> usize {
    (cfg.seed_messages / cfg.mailboxes.len()).max(10)
}

pub struct Client<'a> {
    pub s: Session<'a>,
    rng: Rng,
    run: u64,
    deadline: Instant,
    /// Message-IDs this client appended, for In-Reply-To threads.
    recent_ids: Vec<String>,
}

impl<'a> Client<'a> {
    pub fn new(
        id: usize,
        cfg: &'a Config,
        shared: &'a Shared,
        run: u64,
        deadline: Instant,
    ) -> Client<'a> {
        let users = cfg.users.len();
        let mut s = Session::new(id, id % users, cfg, shared);
        // The n-th client of a user owns $cn; RFC 3501 §2.3.2 keywords.
        let nth = id / users;
        if nth < cfg.private_keywords {
            s.keyword = Some(format!("$c{nth}"));
        }
        Client {
            s,
            rng: Rng::new(cfg.seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            run,
            deadline,
            recent_ids: Vec::new(),
        }
    }

    /// Runs operations until the deadline or the `--ops` budget is spent.
    pub fn run(mut self) -> Stats {
        for _ in 0..MAX_ITERATIONS {
            if Instant::now() >= self.deadline || self.s.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            if !self.s.connected() {
                if self.s.connect().is_err() {
                    std::thread::sleep(RECONNECT_PAUSE);
                }
                continue;
            }
            if self.s.view.is_none() {
                let mb = self.rng.below(self.s.cfg.mailboxes.len() as u64) as usize;
                let _ = self.select(mb, false);
                continue;
            }
            if !self.s.shared.take_op() {
                break;
            }
            let op = self.choose();
            self.s.stats.ops += 1;
            if self.run_op(op).is_err() {
                self.s.disconnect();
            }
        }
        if self.s.connected() {
            let _ = self.logout();
        }
        self.s.stats
    }

    fn choose(&mut self) -> Op {
        let mix = &self.s.cfg.mix;
        let total: u64 = mix.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut r = self.rng.below(total);
        let mut op = mix[0].0;
        for &(o, w) in mix {
            if r < u64::from(w) {
                op = o;
                break;
            }
            r -= u64::from(w);
        }
        let (exists, read_only) = self
            .s
            .view
            .as_ref()
            .map_or((0, false), |v| (v.exists(), v.read_only));
        let target = target_size(self.s.cfg);
        // Keep mailboxes near their target size.
        let op = match op {
            Op::Append | Op::Copy if exists > 2 * target => Op::Expunge,
            Op::Expunge | Op::Move if exists < target / 2 => Op::Append,
            o => o,
        };
        match op {
            // Writes need a read-write SELECT.
            Op::Store | Op::Expunge | Op::Move if read_only => Op::Select,
            Op::Idle if !self.s.caps.idle => Op::Noop,
            o => o,
        }
    }

    fn run_op(&mut self, op: Op) -> Result<(), Fail> {
        let exists = self.s.view.as_ref().map_or(0, |v| v.exists());
        let needs_message = !matches!(
            op,
            Op::Select | Op::Examine | Op::Noop | Op::Append | Op::Idle | Op::Logout | Op::Search
        );
        if needs_message && exists == 0 {
            return self.append();
        }
        match op {
            Op::Select | Op::Examine => {
                let n = self.s.cfg.mailboxes.len() as u64;
                let mb = self.rng.below(n) as usize;
                self.select(mb, op == Op::Examine)
            }
            Op::Noop => self.s.command("NOOP", "NOOP", Ctx::default()).map(drop),
            Op::FetchFlags => self.fetch_range("FETCH FLAGS", "(UID FLAGS)", MAX_RANGE),
            Op::FetchEnvelope => self.fetch_range(
                "FETCH ENVELOPE",
                "(UID ENVELOPE INTERNALDATE RFC822.SIZE)",
                10,
            ),
            Op::FetchStructure => self.fetch_range("FETCH BODYSTRUCTURE", "(UID BODYSTRUCTURE)", 5),
            Op::FetchBody => self.fetch_one("FETCH BODY[]", "(UID BODY.PEEK[])".into()),
            Op::FetchPartial => self.fetch_partial(),
            Op::Store => self.store(),
            Op::Search => self.search(),
            Op::Append => self.append(),
            Op::Copy => self.copy_or_move(false),
            Op::Move => self.copy_or_move(self.s.caps.move_),
            Op::Expunge => self.expunge(),
            Op::Idle => {
                let top = self.s.cfg.idle_ms.max(1);
                let ms = self.rng.range(top / 5, top);
                self.s.idle(Duration::from_millis(ms)).map(drop)
            }
            Op::Logout => {
                self.logout()?;
                self.s.connect()
            }
        }
    }

    fn logout(&mut self) -> Result<(), Fail> {
        let ctx = Ctx {
            logout: true,
            ..Ctx::default()
        };
        self.s.command("LOGOUT", "LOGOUT", ctx)?;
        self.s.disconnect();
        Ok(())
    }

    /// SELECT (or EXAMINE) a mailbox; after a SELECT, learn every UID the
    /// way a client syncing its cache does.
    pub fn select(&mut self, mailbox: usize, examine: bool) -> Result<(), Fail> {
        let name = quote(&self.s.cfg.mailboxes[mailbox]);
        self.s.view = Some(crate::model::View::new(mailbox, examine));
        let (kind, verb) = if examine {
            ("EXAMINE", "EXAMINE")
        } else {
            ("SELECT", "SELECT")
        };
        let reply = self
            .s
            .command(kind, &format!("{verb} {name}"), Ctx::default())?;
        if !reply.ok() {
            self.s.view = None;
            return Ok(());
        }
        let read_only = reply.code.as_ref().is_some_and(|c| c.name == "READ-ONLY");
        let tagged = reply.tagged.clone();
        let Some(v) = self.s.view.as_mut() else {
            return Ok(());
        };
        v.read_only |= read_only;
        let (counted, uidvalidity, exists) = (v.counted(), v.uidvalidity, v.exists());
        if !counted {
            self.s
                .finding(format!("{verb} without EXISTS"), tagged.as_bytes());
        }
        if uidvalidity == 0 {
            self.s
                .finding(format!("{verb} without UIDVALIDITY"), tagged.as_bytes());
        }
        if !examine && exists > 0 {
            self.s
                .command("FETCH FLAGS", "FETCH 1:* (UID FLAGS)", fetch_ctx(false))?;
        }
        Ok(())
    }

    /// A random message: (number, UID if known).
    fn pick(&mut self) -> (usize, Option<u32>) {
        let exists = self.s.view.as_ref().map_or(0, |v| v.exists());
        let msn = self.rng.range(1, exists.max(1) as u64) as usize;
        let uid = self.s.view.as_ref().and_then(|v| v.uid(msn));
        (msn, uid)
    }

    /// `FETCH a:b items` over up to `max` messages, by number or by UID.
    fn fetch_range(&mut self, kind: &'static str, items: &str, max: u64) -> Result<(), Fail> {
        let exists = self.s.view.as_ref().map_or(0, |v| v.exists()) as u64;
        let len = self.rng.range(1, max.min(exists));
        let first = self.rng.range(1, exists - len + 1);
        let last = first + len - 1;
        let (uid_first, uid_last) = {
            let v = self.s.view.as_ref();
            (
                v.and_then(|v| v.uid(first as usize)),
                v.and_then(|v| v.uid(last as usize)),
            )
        };
        match (uid_first, uid_last, self.rng.chance(50)) {
            (Some(a), Some(b), true) => {
                let text = format!("UID FETCH {a}:{b} {items}");
                self.s.command(kind, &text, fetch_ctx(true)).map(drop)
            }
            _ => {
                let text = format!("FETCH {first}:{last} {items}");
                self.s.command(kind, &text, fetch_ctx(false)).map(drop)
            }
        }
    }

    fn fetch_one(&mut self, kind: &'static str, items: String) -> Result<(), Fail> {
        let (msn, uid) = self.pick();
        let text = match uid {
            Some(u) if self.rng.chance(70) => format!("UID FETCH {u} {items}"),
            _ => format!("FETCH {msn} {items}"),
        };
        let by_uid = text.starts_with("UID");
        self.s.command(kind, &text, fetch_ctx(by_uid)).map(drop)
    }

    /// Partial and section fetches; the sizes returned must fit the request.
    fn fetch_partial(&mut self) -> Result<(), Fail> {
        let len = self.rng.range(64, 4096);
        let off = self.rng.below(2048);
        let (section, limit) = match self.rng.below(5) {
            0 => (format!("BODY.PEEK[]<0.{len}>"), Some(len)),
            1 => (format!("BODY.PEEK[TEXT]<{off}.{len}>"), Some(len)),
            2 => ("BODY.PEEK[HEADER]".to_string(), None),
            3 => ("BODY.PEEK[1]".to_string(), None),
            _ => (
                "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)]".to_string(),
                None,
            ),
        };
        let (msn, uid) = self.pick();
        let text = match uid {
            Some(u) => format!("UID FETCH {u} (UID {section})"),
            None => format!("FETCH {msn} (UID {section})"),
        };
        let reply = self
            .s
            .command("FETCH partial", &text, fetch_ctx(uid.is_some()))?;
        if let Some(limit) = limit {
            for (_, _, items) in &reply.fetched {
                for (name, value) in items {
                    if let (true, Value::Str(data)) = (name.starts_with("BODY["), value) {
                        if data.len() as u64 > limit {
                            let p = format!("{name} returned {} bytes for <.{limit}>", data.len());
                            self.s.finding(p, reply.tagged.as_bytes());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// +FLAGS or -FLAGS: this client's keyword by UID when it has one,
    /// else a system flag (never \Deleted: only EXPUNGE sets that).
    fn store(&mut self) -> Result<(), Fail> {
        let (msn, uid) = self.pick();
        let keywords = self.s.view.as_ref().is_some_and(|v| v.keywords_allowed);
        let add = self.rng.chance(55);
        let sign = if add { '+' } else { '-' };
        if let (Some(kw), Some(u), true) = (self.s.keyword.clone(), uid, keywords) {
            if self.rng.chance(60) {
                let ctx = Ctx {
                    may_be_gone: true,
                    mark: Some((u, add)),
                    ..Ctx::default()
                };
                let text = format!("UID STORE {u} {sign}FLAGS ({kw})");
                return self.s.command("STORE", &text, ctx).map(drop);
            }
        }
        let flag = ["\\Seen", "\\Flagged", "\\Answered"][self.rng.below(3) as usize];
        let silent = if self.rng.chance(30) { ".SILENT" } else { "" };
        let (text, by_uid) = match uid {
            Some(u) if self.rng.chance(50) => {
                (format!("UID STORE {u} {sign}FLAGS{silent} ({flag})"), true)
            }
            _ => (format!("STORE {msn} {sign}FLAGS{silent} ({flag})"), false),
        };
        self.s.command("STORE", &text, fetch_ctx(by_uid)).map(drop)
    }

    fn search(&mut self) -> Result<(), Fail> {
        let word = ["quarterly", "invoice", "roadmap", "budget"][self.rng.below(4) as usize];
        let kw = self.s.keyword.clone();
        let keywords = self.s.view.as_ref().is_some_and(|v| v.keywords_allowed);
        let text = match (self.rng.below(8), kw.as_deref(), keywords) {
            (0, Some(k), true) => format!("UID SEARCH KEYWORD {k}"),
            (1, Some(k), true) => format!("UID SEARCH UNKEYWORD {k}"),
            (0..=2, _, _) => "SEARCH UNSEEN".into(),
            (3, _, _) => "SEARCH FROM \"carol\"".into(),
            (4, _, _) => format!("SEARCH SUBJECT \"{word}\""),
            (5, _, _) => format!("SEARCH TEXT \"{word}\""),
            (6, _, _) => "UID SEARCH LARGER 8000 NOT DELETED".into(),
            _ => "SEARCH SINCE 1-Jan-2020 FLAGGED".into(),
        };
        let by_uid = text.starts_with("UID");
        let ctx = Ctx {
            no_expunge: !by_uid,
            msn_search: !by_uid,
            ..Ctx::default()
        };
        let reply = self.s.command("SEARCH", &text, ctx)?;
        // A UID this client cleared its keyword on cannot match KEYWORD,
        // nor one it set it on UNKEYWORD.
        let Some(kw) = kw else { return Ok(()) };
        let wanted = if text.contains(" KEYWORD ") {
            false
        } else if text.contains(" UNKEYWORD ") {
            true
        } else {
            return Ok(());
        };
        let Some(v) = self.s.view.as_ref() else {
            return Ok(());
        };
        let (mailbox, uidvalidity) = (v.mailbox, v.uidvalidity);
        let wrong: Vec<u32> = reply
            .search
            .unwrap_or_default()
            .into_iter()
            .filter(|&u| self.s.marks().get(&(mailbox, uidvalidity, u)) == Some(&wanted))
            .collect();
        if let Some(u) = wrong.first() {
            let (state, verb) = if wanted {
                ("has", "+FLAGS")
            } else {
                ("lacks", "-FLAGS")
            };
            let p =
                format!("SEARCH matched UID {u}, which {state} {kw} after this client's {verb}");
            self.s.finding(p, reply.tagged.as_bytes());
        }
        Ok(())
    }

    fn append(&mut self) -> Result<(), Fail> {
        let n = self.s.cfg.mailboxes.len() as u64;
        let mailbox = match self.s.view.as_ref() {
            // Mostly the selected mailbox: that is where EXISTS shows it.
            Some(v) if self.rng.chance(60) => v.mailbox,
            _ => self.rng.below(n) as usize,
        };
        append_to(
            &mut self.s,
            &mut self.rng,
            self.run,
            mailbox,
            &mut self.recent_ids,
        )
    }

    /// COPY (or MOVE) one or two messages to another mailbox; COPYUID
    /// tells where they went, and their identities follow them.
    fn copy_or_move(&mut self, moving: bool) -> Result<(), Fail> {
        let n = self.s.cfg.mailboxes.len();
        let Some(src) = self.s.view.as_ref().map(|v| v.mailbox) else {
            return Ok(());
        };
        let dest = if n > 1 {
            (src + 1 + self.rng.below(n as u64 - 1) as usize) % n
        } else {
            src
        };
        let (msn, uid) = self.pick();
        let verb = if moving { "MOVE" } else { "COPY" };
        let name = quote(&self.s.cfg.mailboxes[dest]);
        let text = match uid {
            Some(u) => format!("UID {verb} {u} {name}"),
            None => format!("{verb} {msn} {name}"),
        };
        let ctx = Ctx {
            may_be_gone: true,
            ..Ctx::default()
        };
        let uidvalidity = self.s.view.as_ref().map_or(0, |v| v.uidvalidity);
        let kind = if moving { "MOVE" } else { "COPY" };
        let reply = self.s.command(kind, &text, ctx)?;
        if !reply.ok() {
            return Ok(());
        }
        let Some(code) = reply.find_code("COPYUID") else {
            return Ok(());
        };
        let args: Vec<&str> = code.args.split_whitespace().collect();
        let parsed = match args.as_slice() {
            [v, from, to] => v
                .parse::<u32>()
                .ok()
                .zip(parse::uid_set(from, 1000).zip(parse::uid_set(to, 1000))),
            _ => None,
        };
        let Some((dest_validity, (from, to))) = parsed else {
            self.s
                .finding("malformed COPYUID".into(), reply.tagged.as_bytes());
            return Ok(());
        };
        if from.len() != to.len() {
            self.s.finding(
                "COPYUID sets differ in size".into(),
                reply.tagged.as_bytes(),
            );
            return Ok(());
        }
        let user = self.s.user;
        for (f, t) in from.iter().zip(&to) {
            if let Some(id) = self.s.shared.identity((user, src, uidvalidity, *f)) {
                if let Err(old) = self
                    .s
                    .shared
                    .check_identity((user, dest, dest_validity, *t), id)
                {
                    let p = format!("COPYUID gave UID {t}, which already held message {old:016x}");
                    self.s.finding(p, reply.tagged.as_bytes());
                }
            }
            // RFC 6851 §4.3: moved messages are expunged from the source.
            if moving && self.s.view.as_ref().is_some_and(|v| v.contains_uid(*f)) {
                let p = format!("MOVE succeeded but UID {f} was not expunged");
                self.s.finding(p, reply.tagged.as_bytes());
            }
        }
        Ok(())
    }

    /// Marks messages \Deleted and expunges them (by UID with UIDPLUS).
    fn expunge(&mut self) -> Result<(), Fail> {
        let (exists, target) = (
            self.s.view.as_ref().map_or(0, |v| v.exists()),
            target_size(self.s.cfg),
        );
        let count = if exists > 2 * target { 5 } else { 1 };
        let mut picked: Vec<(usize, Option<u32>)> = Vec::new();
        for _ in 0..count {
            let p = self.pick();
            if !picked.iter().any(|q| q.0 == p.0) {
                picked.push(p);
            }
        }
        let gone = Ctx {
            may_be_gone: true,
            ..Ctx::default()
        };
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        // All by UID, or all by number: a UID STORE may bring EXPUNGEs
        // that renumber the messages.
        let uids: Vec<u32> = picked.iter().filter_map(|p| p.1).collect();
        let by_uid = uids.len() == picked.len();
        let marked = if by_uid {
            let text = format!("UID STORE {} +FLAGS.SILENT (\\Deleted)", list(&uids));
            self.s.command("STORE", &text, gone)?.ok()
        } else {
            let m: Vec<u32> = picked.iter().map(|p| p.0 as u32).collect();
            let text = format!("STORE {} +FLAGS.SILENT (\\Deleted)", list(&m));
            let ctx = Ctx {
                no_expunge: true,
                ..gone
            };
            self.s.command("STORE", &text, ctx)?.ok()
        };
        let reply = if self.s.caps.uidplus && by_uid {
            self.s.command(
                "EXPUNGE",
                &format!("UID EXPUNGE {}", list(&uids)),
                Ctx::default(),
            )?
        } else {
            self.s.command("EXPUNGE", "EXPUNGE", Ctx::default())?
        };
        // Only when every UID was marked: NO [EXPUNGEISSUED] may leave some
        // unmarked.
        if reply.ok() && marked && by_uid {
            if let Some(u) = uids
                .iter()
                .find(|&&u| self.s.view.as_ref().is_some_and(|v| v.contains_uid(u)))
            {
                let p = format!("UID {u} was marked \\Deleted and is still there after EXPUNGE");
                self.s.finding(p, reply.tagged.as_bytes());
            }
        }
        Ok(())
    }
}

fn fetch_ctx(by_uid: bool) -> Ctx {
    Ctx {
        may_be_gone: true,
        no_expunge: !by_uid,
        ..Ctx::default()
    }
}

/// APPENDs a new message and records its identity under the UID that
/// APPENDUID names.
pub fn append_to(
    s: &mut Session,
    rng: &mut Rng,
    run: u64,
    mailbox: usize,
    recent_ids: &mut Vec<String>,
) -> Result<(), Fail> {
    let id = message_id(run);
    let parent = if !recent_ids.is_empty() && rng.chance(30) {
        Some(recent_ids[rng.below(recent_ids.len() as u64) as usize].clone())
    } else {
        None
    };
    let msg = message::generate(rng, &id, parent.as_deref());
    if recent_ids.len() < 50 {
        recent_ids.push(id);
    }
    let flags = if rng.chance(30) { "(\\Seen)" } else { "" };
    let name = s.cfg.mailboxes[mailbox].clone();
    let reply = s.append(&name, flags, &msg)?;
    if !reply.ok() {
        return Ok(());
    }
    let Some(code) = reply.code.as_ref().filter(|c| c.name == "APPENDUID") else {
        return Ok(());
    };
    let mut args = code.args.split_whitespace().map(str::parse::<u32>);
    let (Some(Ok(validity)), Some(Ok(uid)), None) = (args.next(), args.next(), args.next()) else {
        s.finding("malformed APPENDUID".into(), reply.tagged.as_bytes());
        return Ok(());
    };
    let identity = message::identity(&msg).unwrap_or_default();
    if let Err(old) = s
        .shared
        .check_identity((s.user, mailbox, validity, uid), identity)
    {
        let p = format!("APPENDUID gave UID {uid}, which already held message {old:016x}");
        s.finding(p, reply.tagged.as_bytes());
    }
    Ok(())
}
