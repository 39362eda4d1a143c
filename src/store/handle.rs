//! `Mailbox`: the one way into a mailbox's shared state from outside the
//! store. Each method takes the state's lock, does its work (re-reading
//! the disk and retrying where another process may have renamed a file),
//! and lets go before it returns, so no command handler ever holds the
//! lock, and none can forget a sync or the mod-sequence journal.
//!
//! What the methods hand back are copies (`Facts`, `Location`, `Refresh`):
//! callers read files and write responses with the lock released.

use super::cache::CachedMeta;
use super::maildir::{self, flag, Flags};
use super::modseq::UidRanges;
use super::state::{MailboxState, Message};
use super::{disk_flags, lock, lock_uidlist, sync_state, CopyItem, StoreError, Uid};
use crate::proto::types::SortKey;
use crate::sort::order::KeyOrder;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A handle on one mailbox's shared state (cheap to clone).
#[derive(Clone)]
pub(crate) struct Mailbox {
    state: Arc<Mutex<MailboxState>>,
    /// The user's tree: where a new UIDVALIDITY is counted.
    root: Arc<Path>,
}

/// What the shared state knows of a message without reading its file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Facts {
    pub(crate) flags: Flags,
    /// RFC 7162 mod-sequence.
    pub(crate) modseq: u64,
    /// RFC822.SIZE when known without reading the file.
    pub(crate) vsize: Option<u64>,
}

/// Where a message's file is, and what is cached of it.
#[derive(Clone, Debug)]
pub(crate) struct Location {
    pub(crate) path: PathBuf,
    pub(crate) cached: Option<Arc<CachedMeta>>,
    /// RFC 8514 save date when noted; else the file's ctime tells.
    pub(crate) saved: Option<i64>,
}

/// Keyword names by letter index, as `dovecot-keywords` holds them.
pub(crate) type KeywordNames = Vec<(u8, String)>;

/// What SELECT and EXAMINE start a session's view from.
pub(crate) struct Opened {
    /// UIDs that are \Recent for this session.
    pub(crate) recent: Range<u32>,
    /// Every message, ascending by UID.
    pub(crate) messages: Vec<(Uid, Flags)>,
    pub(crate) keywords: KeywordNames,
    pub(crate) keywords_full: bool,
    pub(crate) change: u64,
    pub(crate) uidvalidity: u32,
    pub(crate) uidnext: u32,
    pub(crate) highest_modseq: u64,
}

/// A message of a session's view, as the shared state has it now.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Now {
    Present {
        flags: Flags,
        modseq: u64,
    },
    /// Expunged; at this mod-sequence when it is still remembered.
    Expunged {
        at: Option<u64>,
    },
}

/// What changed since a session last looked (`Mailbox::refresh`).
pub(crate) struct Refresh {
    pub(crate) change: u64,
    pub(crate) keywords: KeywordNames,
    pub(crate) keywords_full: bool,
    /// One per UID of the view, in its order.
    pub(crate) view: Vec<Now>,
    /// UIDs that became \Recent for this session.
    pub(crate) claimed: Range<u32>,
    /// Messages beyond the view's last UID, ascending.
    pub(crate) new: Vec<(Uid, Flags)>,
}

/// How STORE changes flags (RFC 3501 §6.4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagOp {
    Replace,
    Add,
    Remove,
}

/// One STORE's change, for every message it names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlagChange<'a> {
    pub(crate) op: FlagOp,
    pub(crate) system: u8,
    pub(crate) keywords: &'a [String],
    /// RFC 7162 UNCHANGEDSINCE.
    pub(crate) unchanged_since: Option<u64>,
}

/// What a flag change did to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Changed {
    /// The flags it has now and its mod-sequence.
    Set(Flags, u64),
    /// Changed since UNCHANGEDSINCE: left alone.
    Modified,
    /// Expunged meanwhile.
    Gone,
}

impl Mailbox {
    pub(super) fn new(state: Arc<Mutex<MailboxState>>, root: &Path) -> Mailbox {
        Mailbox {
            state,
            root: root.into(),
        }
    }

    /// The state, locked: for the store's own delivery code.
    pub(super) fn locked(&self) -> MutexGuard<'_, MailboxState> {
        lock(&self.state)
    }

    /// RFC 8474 MAILBOXID.
    pub(crate) fn mailbox_id(&self) -> String {
        self.locked().mailbox_id()
    }

    /// The mailbox's directory.
    pub(crate) fn dir(&self) -> PathBuf {
        self.locked().dir().to_path_buf()
    }

    /// Brings the state up to date with the disk.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        sync_state(&self.root, &mut self.locked())
    }

    /// Where a message's file is after a fresh look at the disk; None when
    /// the message is gone.
    pub(crate) fn locate(&self, uid: Uid) -> Result<Option<PathBuf>, StoreError> {
        let mut st = self.locked();
        rescan(&self.root, &mut st)?;
        Ok(st.position(uid.0).map(|i| st.path_of(&st.messages[i])))
    }

    /// Reads a message's file at `path` with `read`, which answers None
    /// when the file is not there. A file another session renamed meanwhile
    /// (a flag change) is looked up again once, and `path` follows it.
    /// None when the message is gone.
    pub(crate) fn read_file<T, E: From<StoreError>>(
        &self,
        uid: Uid,
        path: &mut PathBuf,
        mut read: impl FnMut(&Path) -> Result<Option<T>, E>,
    ) -> Result<Option<T>, E> {
        if let Some(v) = read(path)? {
            return Ok(Some(v));
        }
        match self.locate(uid)? {
            Some(moved) if moved != *path => {
                *path = moved;
                read(path)
            }
            _ => Ok(None),
        }
    }

    /// SELECT (`claim`: this session takes the \Recent messages and moves
    /// `new/` to `cur/`) or EXAMINE (changes nothing).
    pub(crate) fn open(&self, claim: bool) -> Opened {
        let mut st = self.locked();
        let recent = if claim {
            st.move_new_to_cur();
            st.claim_recent()
        } else {
            // EXAMINE must not change \Recent (RFC 3501 §6.3.2); it shows
            // what nobody has claimed yet.
            st.first_recent_uid..u32::MAX
        };
        let (keywords, keywords_full) = keyword_names(&st);
        Opened {
            recent,
            messages: st.messages.iter().map(|m| (Uid(m.uid), m.flags)).collect(),
            keywords,
            keywords_full,
            change: st.change,
            uidvalidity: st.uidvalidity,
            uidnext: st.next_uid,
            highest_modseq: st.highest_modseq(),
        }
    }

    /// Syncs with the disk and tells what changed for a view that last saw
    /// `seen_change` and `keyword_count` keywords; None when nothing did.
    /// With `claim`, new messages become \Recent for the caller and leave
    /// `new/` (a read-write session).
    pub(crate) fn refresh(
        &self,
        seen_change: u64,
        keyword_count: usize,
        view: &[Uid],
        claim: bool,
    ) -> Result<Option<Refresh>, StoreError> {
        let mut st = self.locked();
        sync_state(&self.root, &mut st)?;
        if st.change == seen_change && keyword_count == st.keywords.names().count() {
            return Ok(None);
        }
        let now = view
            .iter()
            .zip(st.positions(view.iter().map(|u| u.0)))
            .map(|(&Uid(uid), at)| match at {
                Some(i) => Now::Present {
                    flags: st.messages[i].flags,
                    modseq: st.messages[i].modseq,
                },
                None => Now::Expunged {
                    at: st.modseq.expunged_at(uid),
                },
            })
            .collect();
        let last = view.last().map_or(0, |u| u.0);
        let start = st.messages.partition_point(|m| m.uid <= last);
        let mut claimed = 0..0;
        if start < st.messages.len() && claim {
            claimed = st.claim_recent();
            // Seen by a read-write session: new/ → cur/ (as at SELECT).
            st.move_new_to_cur();
        }
        let new = st.messages[start..]
            .iter()
            .map(|m| (Uid(m.uid), m.flags))
            .collect();
        let (keywords, keywords_full) = keyword_names(&st);
        Ok(Some(Refresh {
            change: st.change,
            keywords,
            keywords_full,
            view: now,
            claimed,
            new,
        }))
    }

    /// The keyword names and whether every letter is taken.
    pub(crate) fn keyword_names(&self) -> (KeywordNames, bool) {
        keyword_names(&self.locked())
    }

    /// The letter index of a keyword, if the mailbox has it.
    pub(crate) fn keyword_index(&self, name: &str) -> Option<u8> {
        self.locked().keywords.index_of(name)
    }

    /// What the state knows of each of `uids` (None: expunged).
    pub(crate) fn facts(&self, uids: &[Uid]) -> Vec<Option<Facts>> {
        let st = self.locked();
        st.positions(uids.iter().map(|u| u.0))
            .map(|at| at.map(|i| facts_of(&st.messages[i])))
            .collect()
    }

    /// The file and cache entry of each of `uids` (None: expunged).
    /// For each UID its cache entry when there is one, else its file:
    /// SORT needs a path only for what is not cached (building 100,000
    /// paths took a quarter of a warm SORT).
    pub(crate) fn cached_or_paths(
        &self,
        uids: &[Uid],
    ) -> Vec<Option<Result<Arc<CachedMeta>, PathBuf>>> {
        let st = self.locked();
        uids.iter()
            .zip(st.positions(uids.iter().map(|u| u.0)))
            .map(|(&Uid(uid), at)| {
                at.map(|i| match st.cache.get(uid) {
                    Some(c) => Ok(c),
                    None => Err(st.path_of(&st.messages[i])),
                })
            })
            .collect()
    }

    pub(crate) fn locations(&self, uids: &[Uid]) -> Vec<Option<Location>> {
        let st = self.locked();
        uids.iter()
            .zip(st.positions(uids.iter().map(|u| u.0)))
            .map(|(&Uid(uid), at)| at.map(|i| location_of(&st, uid, i)))
            .collect()
    }

    /// One message's facts and file, after setting \Seen if `set_seen`
    /// (FETCH of a body); None if it is gone.
    pub(crate) fn message(
        &self,
        Uid(uid): Uid,
        set_seen: bool,
    ) -> Result<Option<(Facts, Location)>, StoreError> {
        let mut st = self.locked();
        let unseen = st
            .position(uid)
            .is_some_and(|i| !st.messages[i].flags.has(flag::SEEN));
        if set_seen && unseen {
            let seen = change_one(&self.root, &mut st, uid, |m| {
                let mut f = m.flags;
                f.set(flag::SEEN, true);
                Some(f)
            })?;
            if seen.is_none() {
                return Ok(None);
            }
            st.flush_modseq();
        }
        Ok(st
            .position(uid)
            .map(|i| (facts_of(&st.messages[i]), location_of(&st, uid, i))))
    }

    /// RFC822.SIZE of a message, reading its file if need be; None if it
    /// is gone or unreadable.
    pub(crate) fn vsize(&self, uid: Uid) -> Option<u64> {
        let mut st = self.locked();
        let i = st.position(uid.0)?;
        st.vsize(i).ok()
    }

    /// Keeps sizes learned by reading files, as `vsize` would.
    pub(crate) fn learn_vsizes(&self, sizes: &[(Uid, u64)]) {
        let mut st = self.locked();
        for &(Uid(uid), v) in sizes {
            if let Some(i) = st.position(uid) {
                st.messages[i].vsize.get_or_insert(v);
            }
        }
    }

    /// Caches what was parsed of a message.
    pub(crate) fn cache_insert(&self, uid: Uid, meta: Arc<CachedMeta>) {
        self.locked().cache.insert(uid.0, meta);
    }

    /// Caches a header-only entry, unless a fuller one is there already.
    pub(crate) fn cache_offer(&self, Uid(uid): Uid, meta: Arc<CachedMeta>) {
        let mut st = self.locked();
        if st.cache.get(uid).is_none_or(|c| c.body_structure.is_none()) {
            st.cache.insert(uid, meta);
        }
    }

    /// The kept order of a one-key SORT, if one is kept for this
    /// UIDVALIDITY.
    pub(crate) fn sort_order(&self, key: SortKey) -> Option<Arc<KeyOrder>> {
        let st = self.locked();
        st.sort_orders
            .iter()
            .find(|o| o.key() == key && o.uidvalidity() == st.uidvalidity)
            .cloned()
    }

    pub(crate) fn uidvalidity(&self) -> u32 {
        self.locked().uidvalidity
    }

    /// Keeps an order for the next SORT by its key (the last few keys).
    pub(crate) fn keep_sort_order(&self, order: Arc<KeyOrder>) {
        const KEYS_KEPT: usize = 3;
        let mut st = self.locked();
        st.sort_orders.retain(|o| o.key() != order.key());
        st.sort_orders.insert(0, order);
        st.sort_orders.truncate(KEYS_KEPT);
    }

    /// UIDVALIDITY and every present message's UID (what the full-text
    /// index keeps).
    pub(crate) fn uid_list(&self) -> (u32, Vec<u32>) {
        let st = self.locked();
        (st.uidvalidity, st.messages.iter().map(|m| m.uid).collect())
    }

    /// A number that grows with every change to the mailbox's state.
    pub(crate) fn change_counter(&self) -> u64 {
        self.locked().change
    }

    /// The highest UID handed out so far.
    pub(crate) fn last_uid(&self) -> u32 {
        self.locked().next_uid.saturating_sub(1)
    }

    /// HIGHESTMODSEQ (RFC 7162 §3.1.2.1).
    pub(crate) fn highest_modseq(&self) -> u64 {
        self.locked().highest_modseq()
    }

    /// UIDs expunged after mod-sequence `since` that `want` accepts.
    pub(crate) fn vanished_since(&self, since: u64, want: &dyn Fn(u32) -> bool) -> UidRanges {
        let st = self.locked();
        let mut absent = (1..st.next_uid).filter(|&u| st.position(u).is_none());
        st.modseq.vanished_since(since, want, &mut absent)
    }

    /// STORE: changes the flags of `uids`, creating keyword letters unless
    /// flags are removed. A file another process renamed meanwhile is
    /// looked up again once. The journal is written once for the batch.
    pub(crate) fn change_flags(
        &self,
        uids: &[Uid],
        change: &FlagChange<'_>,
    ) -> Result<Vec<Changed>, StoreError> {
        let mut st = self.locked();
        if change.unchanged_since.is_some() {
            // The test is against the current mod-sequences: another
            // process may have changed flags on disk since the last sync.
            sync_state(&self.root, &mut st)?;
        }
        let bits = flags_for(&mut st, change, change.op != FlagOp::Remove)?;
        let mut out = Vec::with_capacity(uids.len());
        for &Uid(uid) in uids {
            let mut modified = false;
            let done = change_one(&self.root, &mut st, uid, |m| {
                if let Some(limit) = change.unchanged_since {
                    // One mod-sequence per message, as Dovecot keeps: any
                    // change after `limit` fails the test. (RFC 7162
                    // §3.1.12's shortcut would compare with what this
                    // session was told, which may already include that
                    // change.) UNCHANGEDSINCE 0 always fails (example 8).
                    if m.modseq > limit || limit == 0 {
                        modified = true;
                        return None;
                    }
                }
                let old = m.flags;
                Some(match change.op {
                    FlagOp::Replace => bits,
                    FlagOp::Add => Flags {
                        system: old.system | bits.system,
                        keywords: old.keywords | bits.keywords,
                    },
                    FlagOp::Remove => Flags {
                        system: old.system & !bits.system,
                        keywords: old.keywords & !bits.keywords,
                    },
                })
            })?;
            out.push(match done {
                Some((f, ms)) => Changed::Set(f, ms),
                None if modified => Changed::Modified,
                None => Changed::Gone,
            });
        }
        st.flush_modseq();
        Ok(out)
    }

    /// COPY and MOVE: what to carry over of each of `uids` still present,
    /// with its UID.
    pub(crate) fn copy_sources(&self, uids: &[Uid]) -> Vec<(Uid, CopyItem)> {
        let mut st = self.locked();
        let mut items = Vec::with_capacity(uids.len());
        for &Uid(uid) in uids {
            let Some(i) = st.position(uid) else { continue };
            // The hard link a COPY makes sets the shared inode's ctime.
            let path = st.path_of(&st.messages[i]);
            st.note_save_date(uid, &path);
            let m = &st.messages[i];
            let keywords = (0..26u8)
                .filter(|&k| m.flags.has_keyword(k))
                .filter_map(|k| st.keywords.name(k).map(str::to_string))
                .collect();
            let item = CopyItem {
                path: st.path_of(m),
                system_flags: m.flags.system,
                keywords,
                size: maildir::parse_name(&m.file).size,
                vsize: m.vsize,
            };
            items.push((Uid(uid), item));
        }
        items
    }

    /// After a MOVE: drops the messages whose files went elsewhere
    /// (`sorted` ascending). Within one mailbox the new files must be
    /// found by the next sync.
    pub(crate) fn forget_moved(&self, sorted: &[Uid], same_mailbox: bool) {
        let mut st = self.locked();
        let uids: Vec<u32> = sorted.iter().map(|u| u.0).collect();
        st.forget_messages(&uids);
        if same_mailbox {
            st.mark_dirty();
        }
    }

    /// The UIDs of the messages flagged \Deleted as of the last sync.
    pub(crate) fn deleted_uids(&self) -> Vec<Uid> {
        self.locked()
            .messages
            .iter()
            .filter(|m| m.flags.has(flag::DELETED))
            .map(|m| Uid(m.uid))
            .collect()
    }

    /// EXPUNGE / CLOSE: removes the messages flagged \Deleted (only those
    /// `only` accepts, if given), after a sync; the UIDs removed.
    pub(crate) fn expunge_deleted(
        &self,
        only: Option<&dyn Fn(Uid) -> bool>,
    ) -> Result<Vec<Uid>, StoreError> {
        let mut st = self.locked();
        sync_state(&self.root, &mut st)?;
        let doomed = |st: &MailboxState| -> Vec<u32> {
            st.messages
                .iter()
                .filter(|m| m.flags.has(flag::DELETED) && only.is_none_or(|f| f(Uid(m.uid))))
                .map(|m| m.uid)
                .collect()
        };
        let first = doomed(&st);
        let mut removed = st.expunge(&first)?;
        if removed.len() < first.len() {
            // Some were neither under their names nor \Deleted under a new
            // one (`MailboxState::expunge` follows renames): another
            // session's MOVE took them (it renames into its target holding
            // only the target's lock), or another process cleared the flag.
            // Look again, so a moved one leaves this folder now and the
            // client is told of it.
            rescan(&self.root, &mut st)?;
            let again = doomed(&st);
            removed.extend(st.expunge(&again)?);
        }
        Ok(removed.into_iter().map(Uid).collect())
    }
}

fn facts_of(m: &Message) -> Facts {
    Facts {
        flags: m.flags,
        modseq: m.modseq,
        vsize: m.vsize,
    }
}

fn location_of(st: &MailboxState, uid: u32, i: usize) -> Location {
    Location {
        path: st.path_of(&st.messages[i]),
        cached: st.cache.get(uid),
        saved: st.saved.get(&uid).copied(),
    }
}

fn keyword_names(st: &MailboxState) -> (KeywordNames, bool) {
    let names = st
        .keywords
        .names()
        .map(|(i, n)| (i, n.to_string()))
        .collect();
    (names, st.keywords.is_full())
}

fn rescan(root: &Path, st: &mut MailboxState) -> Result<(), StoreError> {
    st.mark_dirty();
    sync_state(root, st)
}

/// Sets one message's flags to what `change` makes of them, looking the
/// file up again once if another process renamed it meanwhile. `change`
/// sees the message as it is now and may decline (None). The new flags
/// and mod-sequence; None if declined or the message is gone. The caller
/// writes the journal once per batch (`flush_modseq`).
fn change_one(
    root: &Path,
    st: &mut MailboxState,
    uid: u32,
    mut change: impl FnMut(&Message) -> Option<Flags>,
) -> Result<Option<(Flags, u64)>, StoreError> {
    for attempt in 0..2 {
        let Some(i) = st.position(uid) else {
            return Ok(None);
        };
        let Some(new) = change(&st.messages[i]) else {
            return Ok(None);
        };
        if st.set_flags(i, new)? {
            return Ok(Some((new, st.messages[i].modseq)));
        }
        if attempt == 0 {
            rescan(root, st)?;
        }
    }
    Ok(None)
}

/// The flags a STORE names, creating letters for new keywords (under the
/// uidlist lock, as Dovecot requires) if `create`; without it, unknown
/// keywords are left out.
fn flags_for(
    st: &mut MailboxState,
    change: &FlagChange<'_>,
    create: bool,
) -> Result<Flags, StoreError> {
    let known: Vec<Option<u8>> = change
        .keywords
        .iter()
        .map(|n| st.keywords.index_of(n))
        .collect();
    if create && known.contains(&None) {
        let dir = st.dir().to_path_buf();
        let _lock = lock_uidlist(&dir)?;
        return disk_flags(&dir, st, change.system, change.keywords);
    }
    let mut flags = Flags {
        system: change.system,
        keywords: 0,
    };
    for i in known.into_iter().flatten() {
        flags.set_keyword(i, true);
    }
    Ok(flags)
}
