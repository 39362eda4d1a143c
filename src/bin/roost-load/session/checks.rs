//! What every response must satisfy: untagged responses update the
//! session's view of its mailbox and are checked against it and against
//! what all clients share; the tagged status and the private keyword are
//! judged once a command is complete.

use super::{excerpt, Caps, Ctx, Fail, Reply, Session};
use crate::message;
use crate::model::View;
use crate::parse::{Code, Status, Untagged, Value};
use std::collections::HashMap;

impl Session<'_> {
    /// One untagged response: updates the view and checks it.
    pub(super) fn apply(
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
    pub(super) fn settle(
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
