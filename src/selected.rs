//! A session's view of its selected mailbox: the sequence numbers it has
//! been told about (RFC 3501 §2.3.1.2), the flags it last reported, and
//! which messages are \Recent for it.
//!
//! The shared mailbox state (`store::Mailbox`) is the truth for all sessions; each session
//! keeps its own numbering and learns of changes only when `sync` runs,
//! which happens at the end of commands. Expunges are announced only where
//! RFC 3501 §7.4.1 allows them (not during FETCH, STORE or SEARCH); until
//! then an expunged message keeps its sequence number, so numbers a client
//! holds never shift under it. EXISTS never shrinks.

use crate::proto::encode::ResponseBuf;
use crate::proto::types::SequenceSet;
use crate::store::maildir::{flag, Flags};
use crate::store::names::MailboxName;
use crate::store::watch::Subscription;
use crate::store::{KeywordNames, Mailbox, Now, Store, StoreError, Uid};
use std::ops::Range;

/// What SELECT/EXAMINE reports (RFC 3501 §6.3.1).
pub struct SelectInfo {
    pub exists: u32,
    pub recent: u32,
    pub first_unseen: Option<u32>,
    pub uidvalidity: u32,
    pub uidnext: u32,
    /// RFC 7162 §3.1.2.1.
    pub highest_modseq: u64,
}

/// A message sequence number (RFC 3501 §2.3.1.2): a message's place in
/// one session's view, from 1. Its own type, so it is never taken for a
/// UID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seq(pub u32);

impl From<Seq> for u64 {
    fn from(n: Seq) -> u64 {
        n.0.into()
    }
}

impl Seq {
    /// The sequence number of the message at `index` in the view.
    pub fn at(index: usize) -> Seq {
        Seq(index as u32 + 1)
    }

    fn index(self) -> usize {
        (self.0 as usize).wrapping_sub(1)
    }
}

pub struct Selected {
    pub name: MailboxName,
    pub read_only: bool,
    mailbox: Mailbox,
    /// UID of each sequence number (index = MSN - 1), ascending.
    uids: Vec<Uid>,
    /// Flags as last reported to the client, parallel to `uids`.
    flags: Vec<Flags>,
    /// UID ranges that are \Recent for this session.
    recent: Vec<Range<u32>>,
    /// Keywords (letter index, name) the client was last told about in FLAGS.
    keywords: Vec<(u8, String)>,
    /// Every keyword letter is taken: PERMANENTFLAGS stops offering `\*`.
    keywords_full: bool,
    /// The state's change counter when this view was last brought up to date.
    seen_change: u64,
    /// Change notifications for this mailbox (IDLE waits on them).
    subscription: Option<Subscription>,
    /// RFC 7162: flag changes carry UID and MODSEQ (CONDSTORE enabled).
    pub condstore: bool,
    /// RFC 7162 §3.2.10.2: expunges are announced as VANISHED.
    pub qresync: bool,
    /// RFC 9051 (ENABLE IMAP4rev2): no \Recent and no RECENT responses;
    /// unsolicited FETCHes carry the UID (§7.5.2).
    pub rev2: bool,
    /// RFC 5267 §4: searches whose results the client asked to be kept
    /// up to date (SEARCH RETURN (UPDATE)).
    pub contexts: Vec<SearchContext>,
}

/// A SEARCH or SORT the client keeps updated (RFC 5267 §4): its keys, and
/// the result as last told, in result order (ascending UIDs for SEARCH,
/// the sort order for SORT).
#[derive(Clone)]
pub struct SearchContext {
    pub tag: Vec<u8>,
    pub uid: bool,
    pub charset: Option<String>,
    pub keys: Vec<crate::proto::types::SearchKey>,
    /// `Some` for SORT RETURN (UPDATE): positions then count.
    pub sort: Option<Vec<crate::proto::types::SortCriterion>>,
    pub result: Vec<Uid>,
    /// The mailbox change counter and view size the result was computed at.
    pub at: (u64, usize),
}

/// Tells the client how `old` became `new` for one kept search, numbers
/// from `number` (UIDs or sequence numbers). SEARCH results go as sets at
/// position 0 (as Dovecot sends); SORT results name each message's place:
/// removals highest place first (each place still right when read), then
/// additions in their new order, so applying them one by one gives `new`.
pub fn write_context_diff(
    out: &mut ResponseBuf,
    ctx: &SearchContext,
    new: &[Uid],
    number: &dyn Fn(Uid) -> Option<u32>,
) {
    let in_new: std::collections::HashSet<Uid> = new.iter().copied().collect();
    let in_old: std::collections::HashSet<Uid> = ctx.result.iter().copied().collect();
    let mut items: Vec<String> = Vec::new();
    if ctx.sort.is_none() {
        let set = |v: Vec<u32>| {
            let mut v = v;
            v.sort_unstable();
            crate::proto::encode::number_set(&v)
        };
        let removed: Vec<u32> = ctx
            .result
            .iter()
            .filter(|u| !in_new.contains(u))
            .filter_map(|&u| number(u))
            .collect();
        let added: Vec<u32> = new
            .iter()
            .filter(|u| !in_old.contains(u))
            .filter_map(|&u| number(u))
            .collect();
        if !removed.is_empty() {
            items.push(format!("REMOVEFROM (0 {})", set(removed)));
        }
        if !added.is_empty() {
            items.push(format!("ADDTO (0 {})", set(added)));
        }
    } else {
        for (i, u) in ctx.result.iter().enumerate().rev() {
            if !in_new.contains(u) {
                if let Some(n) = number(*u) {
                    items.push(format!("REMOVEFROM ({} {n})", i + 1));
                }
            }
        }
        for (i, u) in new.iter().enumerate() {
            if !in_old.contains(u) {
                if let Some(n) = number(*u) {
                    items.push(format!("ADDTO ({} {n})", i + 1));
                }
            }
        }
    }
    if items.is_empty() {
        return;
    }
    out.untagged()
        .raw("ESEARCH (TAG ")
        .string(&ctx.tag)
        .raw(")");
    if ctx.uid {
        out.raw(" UID");
    }
    for item in items {
        out.raw(" ").raw(&item);
    }
    out.crlf();
}

impl Selected {
    /// SELECT or EXAMINE: builds the session's view.
    pub fn open(
        store: &Store,
        name: MailboxName,
        read_only: bool,
    ) -> Result<(Selected, SelectInfo), StoreError> {
        let mailbox = store.mailbox(&name)?;
        if !read_only {
            // Maildir: tmp/ files older than 36 hours are abandoned deliveries.
            store.clean_tmp(&name);
        }
        let opened = mailbox.open(!read_only);
        let (uids, flags): (Vec<Uid>, Vec<Flags>) = opened.messages.into_iter().unzip();
        let first_unseen = flags
            .iter()
            .position(|f| !f.has(flag::SEEN))
            .map(|i| i as u32 + 1);
        let view = Selected {
            name,
            read_only,
            mailbox,
            seen_change: opened.change,
            subscription: None,
            condstore: false,
            qresync: false,
            rev2: false,
            contexts: Vec::new(),
            keywords: wire_keywords(opened.keywords),
            keywords_full: opened.keywords_full,
            recent: vec![opened.recent],
            flags,
            uids,
        };
        let info = SelectInfo {
            exists: view.uids.len() as u32,
            recent: view.uids.iter().filter(|&&u| view.is_recent(u)).count() as u32,
            first_unseen,
            uidvalidity: opened.uidvalidity,
            uidnext: opened.uidnext,
            highest_modseq: opened.highest_modseq,
        };
        Ok((view, info))
    }

    /// The mailbox's directory.
    pub fn dir(&self) -> std::path::PathBuf {
        self.mailbox.dir()
    }

    /// Starts receiving change notifications for this mailbox.
    pub fn attach(&mut self, sub: Subscription) {
        self.subscription = Some(sub);
    }

    pub fn subscription(&self) -> Option<&Subscription> {
        self.subscription.as_ref()
    }

    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    pub fn uids(&self) -> &[Uid] {
        &self.uids
    }

    pub fn keywords(&self) -> &[(u8, String)] {
        &self.keywords
    }

    /// Whether no new keyword can be created in this mailbox.
    pub fn keywords_full(&self) -> bool {
        self.keywords_full
    }

    /// Resolves a sequence set against this view (RFC 3501 §9 seq-number):
    /// `(msn, uid)` pairs, ascending and without duplicates. With `uid`,
    /// numbers are UIDs, `*` is the highest UID, and UIDs that match
    /// nothing are simply left out (RFC 3501 §6.4.8). Without it, a number
    /// beyond the last message is an error.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<(Seq, Uid)>, &'static str> {
        // Ranges are merged before anything is expanded, so the result
        // never holds more than one pair per message, whatever the set.
        let mut out = Vec::new();
        if uid {
            let last = self.uids.last().map_or(0, |u| u.0);
            for (lo, hi) in set.ranges(last).iter() {
                let start = self.uids.partition_point(|u| u.0 < lo);
                let end = self.uids.partition_point(|u| u.0 <= hi);
                out.extend((start..end).map(|i| (Seq::at(i), self.uids[i])));
            }
        } else {
            let last = self.exists();
            for (lo, hi) in set.ranges(last).iter() {
                if lo == 0 || hi > last {
                    return Err("Invalid messageset");
                }
                out.extend((lo..=hi).map(|msn| (Seq(msn), self.uids[msn as usize - 1])));
            }
        }
        Ok(out)
    }

    /// The flags last reported for a sequence number.
    pub fn reported_flags(&self, msn: Seq) -> Flags {
        self.flags[msn.index()]
    }

    /// Records flags the client has just been told (FETCH, STORE), so the
    /// next sync does not repeat them.
    pub fn set_reported_flags(&mut self, msn: Seq, flags: Flags) {
        self.flags[msn.index()] = flags;
    }

    /// Whether the message is \Recent for this session; never under
    /// IMAP4rev2, which has no \Recent (RFC 9051 Appendix E item 12).
    pub fn is_recent(&self, uid: Uid) -> bool {
        !self.rev2 && self.recent.iter().any(|r| r.contains(&uid.0))
    }

    /// The shared state of the mailbox.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Brings the view up to date and writes the untagged responses that
    /// tell the client: EXPUNGE (only if `allow_expunge`), EXISTS, RECENT,
    /// FLAGS for new keywords, and FETCH (FLAGS) for changed flags.
    pub fn sync(&mut self, out: &mut ResponseBuf, allow_expunge: bool) -> Result<(), StoreError> {
        let Some(now) = self.mailbox.refresh(
            self.seen_change,
            self.keywords.len(),
            &self.uids,
            !self.read_only,
        )?
        else {
            return Ok(());
        };
        let keywords = wire_keywords(now.keywords);
        if keywords != self.keywords {
            self.keywords = keywords;
            self.keywords_full = now.keywords_full;
            write_flags_lines(out, &self.keywords, self.read_only, self.keywords_full);
        }
        // The view's messages as they are now, kept parallel to `uids`.
        let mut states = now.view;
        let gone: Vec<usize> = (0..states.len())
            .filter(|&i| matches!(states[i], Now::Expunged { .. }))
            .collect();
        let held_back = !allow_expunge && !gone.is_empty();
        if allow_expunge && !gone.is_empty() {
            // Updated searches lose the expunged messages first, numbered
            // as the client still knows them (before the EXPUNGEs).
            let gone_uids: std::collections::HashSet<Uid> =
                gone.iter().map(|&i| self.uids[i]).collect();
            let view = &self.uids;
            for ctx in &mut self.contexts {
                let kept: Vec<Uid> = ctx
                    .result
                    .iter()
                    .copied()
                    .filter(|u| !gone_uids.contains(u))
                    .collect();
                let uid = ctx.uid;
                let number = |u: Uid| -> Option<u32> {
                    if uid {
                        Some(u.0)
                    } else {
                        view.binary_search(&u).ok().map(|i| i as u32 + 1)
                    }
                };
                write_context_diff(out, ctx, &kept, &number);
                ctx.result = kept;
            }
            if self.qresync || out.uid_only() {
                // RFC 7162 §3.2.10.2 (and RFC 9586 §3.4): one VANISHED
                // for all, by UID.
                let uids: Vec<u32> = gone.iter().map(|&i| self.uids[i].0).collect();
                out.untagged()
                    .raw("VANISHED ")
                    .raw(&crate::proto::encode::range_set(
                        &crate::store::modseq::to_ranges(&uids),
                    ))
                    .crlf();
            } else {
                // Highest first, so each number is right when it is sent.
                for &i in gone.iter().rev() {
                    out.untagged().number(i as u64 + 1).raw(" EXPUNGE").crlf();
                }
            }
            drop_at(&mut self.uids, &gone);
            drop_at(&mut self.flags, &gone);
            drop_at(&mut states, &gone);
        }
        // Flag changes made by others (or by the disk).
        for (i, &uid) in self.uids.iter().enumerate() {
            if let Now::Present { flags, modseq } = states[i] {
                if flags != self.flags[i] {
                    self.flags[i] = flags;
                    // RFC 7162 §3.2.4: UID and MODSEQ in every such FETCH;
                    // RFC 9051 §7.5.2: the UID at least under IMAP4rev2.
                    write_flags_fetch(
                        out,
                        Seq::at(i),
                        (self.condstore || self.rev2 || out.uid_only()).then_some(uid),
                        Some((flags, &self.keywords, self.is_recent(uid))),
                        self.condstore.then_some(modseq),
                    );
                }
            }
        }
        if held_back && self.condstore {
            // RFC 7162 §3.2: the client must not take the MODSEQs above as
            // covering the expunges it has not been told of yet.
            let pending = states
                .iter()
                .filter_map(|n| match n {
                    Now::Expunged { at } => *at,
                    Now::Present { .. } => None,
                })
                .min();
            if let Some(ms) = pending {
                out.untagged_status(
                    crate::proto::encode::Status::Ok,
                    Some(&crate::proto::encode::Code::HighestModseq(ms - 1)),
                    "Highest",
                );
            }
        }
        if !now.new.is_empty() {
            if !now.claimed.is_empty() {
                self.recent.push(now.claimed);
            }
            for (uid, flags) in now.new {
                self.uids.push(uid);
                self.flags.push(flags);
            }
            out.untagged()
                .number(self.uids.len() as u64)
                .raw(" EXISTS")
                .crlf();
            if !self.rev2 {
                let recent = self.uids.iter().filter(|&&u| self.is_recent(u)).count();
                out.untagged().number(recent as u64).raw(" RECENT").crlf();
            }
        }
        // Expunges held back must be looked for again next time.
        if !held_back {
            self.seen_change = now.change;
        }
        Ok(())
    }

    /// Announces keywords defined since the client was last told (a STORE
    /// or APPEND that created one): RFC 3501 §7.2.6 FLAGS.
    pub fn refresh_keywords(&mut self, out: &mut ResponseBuf) {
        let (names, full) = self.mailbox.keyword_names();
        let names = wire_keywords(names);
        if names != self.keywords {
            self.keywords = names;
            self.keywords_full = full;
            write_flags_lines(out, &self.keywords, self.read_only, self.keywords_full);
        }
    }

    /// The UIDs of the mailbox's messages flagged \Deleted as of its
    /// last sync (also those this session has not heard of yet).
    pub fn deleted_uids(&self) -> Vec<Uid> {
        self.mailbox.deleted_uids()
    }

    /// EXPUNGE / UID EXPUNGE / CLOSE: removes messages flagged \Deleted
    /// (limited to `only` UIDs if given). With `announce`, writes the
    /// EXPUNGE responses. Returns how many were removed.
    pub fn expunge_deleted(
        &mut self,
        out: &mut ResponseBuf,
        only: Option<&dyn Fn(Uid) -> bool>,
        announce: bool,
    ) -> Result<usize, StoreError> {
        let removed = self.mailbox.expunge_deleted(only)?;
        if announce {
            self.sync(out, true)?;
        } else {
            let mut sink = ResponseBuf::new();
            self.sync(&mut sink, true)?;
        }
        Ok(removed.len())
    }
}

/// Keywords that can be shown on the wire: a keyword is an atom
/// (RFC 3501 §9 flag-keyword), so names that are not are left out.
fn wire_keywords(mut names: KeywordNames) -> KeywordNames {
    names.retain(|(_, n)| !n.is_empty() && n.bytes().all(crate::proto::encode::is_atom_char));
    names
}

/// Removes the elements at `indexes` (ascending) in one pass.
fn drop_at<T>(v: &mut Vec<T>, indexes: &[usize]) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        indexes.binary_search(&(i - 1)).is_err()
    });
}

/// `* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` (RFC 3501 §7.2.6, §7.1).
/// `\*` is offered only while a new keyword can still be stored.
pub fn write_flags_lines(
    out: &mut ResponseBuf,
    keywords: &[(u8, String)],
    read_only: bool,
    keywords_full: bool,
) {
    out.untagged()
        .raw("FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for (_, k) in keywords {
        out.sp().raw(k);
    }
    out.raw(")").crlf();
    if read_only {
        out.untagged()
            .raw("OK [PERMANENTFLAGS ()] Read-only mailbox.")
            .crlf();
    } else {
        out.untagged()
            .raw("OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
        for (_, k) in keywords {
            out.sp().raw(k);
        }
        if !keywords_full {
            out.raw(" \\*");
        }
        out.raw(")] Flags permitted.").crlf();
    }
}

/// `* n FETCH ([UID u] [FLAGS (...)] [MODSEQ (m)])`: how flag changes are
/// told (other sessions' changes, STORE replies, a QRESYNC resync).
pub fn write_flags_fetch(
    out: &mut ResponseBuf,
    msn: Seq,
    uid: Option<Uid>,
    flags: Option<(Flags, &[(u8, String)], bool)>,
    modseq: Option<u64>,
) {
    let mut sep = "";
    match uid {
        Some(u) => {
            if out.fetch_start(msn.0, u.0) {
                out.raw("UID ").number(u.0.into());
                sep = " ";
            }
        }
        None => {
            out.untagged().number(msn.0.into()).raw(" FETCH (");
        }
    }
    if let Some((flags, keywords, recent)) = flags {
        out.raw(sep).raw("FLAGS (");
        write_flag_names(out, flags, keywords, recent);
        out.raw(")");
        sep = " ";
    }
    if let Some(modseq) = modseq {
        out.raw(sep).raw("MODSEQ (").number(modseq).raw(")");
    }
    out.raw(")").crlf();
}

/// The inside of a `FLAGS (...)` list.
pub fn write_flag_names(
    out: &mut ResponseBuf,
    flags: Flags,
    keywords: &[(u8, String)],
    recent: bool,
) {
    let mut first = true;
    let mut put = |out: &mut ResponseBuf, s: &str| {
        if !first {
            out.sp();
        }
        first = false;
        out.raw(s);
    };
    for (bit, name) in [
        (flag::ANSWERED, "\\Answered"),
        (flag::FLAGGED, "\\Flagged"),
        (flag::DELETED, "\\Deleted"),
        (flag::SEEN, "\\Seen"),
        (flag::DRAFT, "\\Draft"),
    ] {
        if flags.has(bit) {
            put(out, name);
        }
    }
    if recent {
        put(out, "\\Recent");
    }
    for (i, k) in keywords {
        if flags.has_keyword(*i) {
            put(out, k);
        }
    }
}
