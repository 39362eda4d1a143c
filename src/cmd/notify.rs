//! NOTIFY (RFC 5465): what a client hears about mailboxes other than the
//! selected one, without polling them with STATUS.
//!
//! `NOTIFY SET` resolves its groups to mailbox names at once and
//! subscribes to each one through the server's watcher, as SELECT does for
//! the selected mailbox (`store::watch`). After every command, and while
//! IDLE when the watcher wakes the session, each mailbox that changed is
//! counted again; when its counts moved, the client gets `* STATUS name
//! (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)`, the items Dovecot
//! sends. The selected mailbox keeps its usual EXISTS/EXPUNGE/FETCH
//! updates. MailboxName and SubscriptionChange compare the folder list and
//! the subscriptions with what the client last heard, after each command:
//! a new or renamed-to folder is `* LIST () "." name`, a removed one `* LIST
//! (\NonExistent) "." name`, a subscription change `* LIST (\Subscribed)`
//! or `* LIST ()` (RFC 5465 §5.4, §5.5). Metadata changes are `* METADATA
//! mailbox entry` (RFC 5464 §4.4.2), found the same way.

use super::common::{mailbox_name, wire_text};
use crate::error::{Error, Tagged};
use crate::proto::encode::Code;
use crate::proto::types::{FetchAtt, NotifyEvents, NotifyFilter, NotifySet};
use crate::session::Session;
use crate::store::metadata::Metadata;
use crate::store::names::MailboxName;
use crate::store::watch::Subscription;
use crate::store::StatusCounts;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Mailboxes one session may watch: each costs inotify watches shared by
/// the whole server (`store::watch::MAX_WATCHED`).
const MAX_WATCHED: usize = 500;

/// The events Roost reports, for `[BADEVENT (...)]`.
const SUPPORTED: &str = "MessageNew MessageExpunge FlagChange AnnotationChange MailboxName \
                         SubscriptionChange MailboxMetadataChange ServerMetadataChange";

/// A session's NOTIFY SET.
pub(crate) struct Notifying {
    watched: Vec<Watched>,
    /// Folder names the client last heard of, when it asked for
    /// MailboxName events.
    names: Option<BTreeSet<MailboxName>>,
    /// Subscriptions the client last heard of (SubscriptionChange).
    subscribed: Option<BTreeSet<MailboxName>>,
    /// Metadata entries the client last heard of, when it asked for
    /// MailboxMetadataChange or ServerMetadataChange (which of the two).
    metadata: Option<(Metadata, bool, bool)>,
    /// RFC 5465 §5.2: the FETCH items to send with each new message in
    /// the selected mailbox, when the SELECTED group asked for some.
    new_message_items: Option<Vec<FetchAtt>>,
}

/// One mailbox watched for message events.
struct Watched {
    name: MailboxName,
    sub: Subscription,
    last: StatusCounts,
}

impl Notifying {
    pub(crate) fn new_message_items(&self) -> Option<&[FetchAtt]> {
        self.new_message_items.as_deref()
    }

    /// While set, a change in any watched mailbox also wakes `waker`.
    pub(crate) fn set_waker(&self, waker: Option<&Arc<mio::Waker>>) {
        for w in &self.watched {
            w.sub.set_waker(waker.cloned());
        }
    }

    /// Whether any watched mailbox changed (consumes the signals).
    fn any_changed(&self) -> Vec<bool> {
        self.watched.iter().map(|w| w.sub.changed()).collect()
    }
}

/// `NOTIFY NONE` / `NOTIFY SET [STATUS] groups`.
pub fn notify(s: &mut Session, set: Option<&NotifySet>) -> Result<Tagged, Error> {
    s.store()?;
    let Some(set) = set else {
        s.notify = None;
        return Ok(Tagged::ok("NOTIFY completed."));
    };
    if set
        .groups
        .iter()
        .any(|g| g.events.as_ref().is_some_and(|e| !e.unknown.is_empty()))
    {
        return Err(Error::no(
            Some(Code::BadEvent(SUPPORTED)),
            "Unsupported event in NOTIFY.",
        ));
    }
    let mut message_boxes: BTreeSet<MailboxName> = BTreeSet::new();
    let mut names = false;
    let mut subscribed = false;
    let (mut mailbox_md, mut server_md) = (false, false);
    let mut new_message_items = None;
    for group in &set.groups {
        let Some(events) = &group.events else {
            continue;
        };
        let selected = matches!(
            group.filter,
            NotifyFilter::Selected | NotifyFilter::SelectedDelayed
        );
        // RFC 5465 §5.1: fetch attributes only for the selected mailbox.
        if !selected && events.message_new.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(Error::bad(
                "MessageNew attributes are allowed only for SELECTED.",
            ));
        }
        if selected {
            new_message_items = events.message_new.clone().filter(|a| !a.is_empty());
        }
        names |= events.mailbox_name;
        subscribed |= events.subscription_change;
        mailbox_md |= events.mailbox_metadata_change;
        server_md |= events.server_metadata_change;
        if selected || !wants_messages(events) {
            continue;
        }
        for name in resolve(s, &group.filter)? {
            message_boxes.insert(name);
        }
    }
    if message_boxes.len() > MAX_WATCHED {
        return Err(Error::no(
            Some(Code::Limit),
            format!("Too many mailboxes to watch (max {MAX_WATCHED})."),
        ));
    }
    let store = s.store()?;
    let mut watched = Vec::with_capacity(message_boxes.len());
    for name in message_boxes {
        // Subscribed first, counted second: no change falls in between.
        let sub = s.ctx.watcher.subscribe(&store.path_of(&name));
        match store.status(&name, false) {
            Ok(c) => watched.push(Watched {
                name,
                sub,
                last: StatusCounts { recent: 0, ..c },
            }),
            // A name given that does not exist (yet) is not watched.
            Err(crate::store::StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let state = Notifying {
        watched,
        names: if names { Some(folder_names(s)?) } else { None },
        subscribed: if subscribed {
            Some(store.subscriptions()?.into_iter().collect())
        } else {
            None
        },
        metadata: if mailbox_md || server_md {
            Some((Metadata::load(store.root())?, mailbox_md, server_md))
        } else {
            None
        },
        new_message_items,
    };
    if set.status {
        let selected = s.selected.as_ref().map(|sel| sel.name.clone());
        for w in &state.watched {
            if Some(&w.name) != selected.as_ref() {
                status_line(s, &w.name, &w.last);
            }
        }
    }
    s.notify = Some(state);
    Ok(Tagged::ok("NOTIFY completed."))
}

fn wants_messages(e: &NotifyEvents) -> bool {
    e.message_new.is_some() || e.message_expunge || e.flag_change
}

/// The existing folders a filter names (RFC 5465 §6).
pub(super) fn resolve(s: &Session, filter: &NotifyFilter) -> Result<Vec<MailboxName>, Error> {
    let all: Vec<MailboxName> = s
        .store()?
        .list()?
        .into_iter()
        .filter(|e| e.selectable)
        .map(|e| e.name)
        .collect();
    let named = |raw: &[Vec<u8>]| -> Result<Vec<MailboxName>, Error> {
        raw.iter().map(|r| mailbox_name(s, r)).collect()
    };
    Ok(match filter {
        NotifyFilter::Selected | NotifyFilter::SelectedDelayed => Vec::new(),
        NotifyFilter::Inboxes => vec![MailboxName::inbox()],
        NotifyFilter::Personal => all,
        NotifyFilter::Subscribed => {
            let subs = s.store()?.subscriptions()?;
            all.into_iter().filter(|n| subs.contains(n)).collect()
        }
        NotifyFilter::Subtree(raw) => {
            let roots = named(raw)?;
            all.into_iter()
                .filter(|n| roots.iter().any(|r| n == r || n.is_child_of(r)))
                .collect()
        }
        NotifyFilter::Mailboxes(raw) => {
            let wanted = named(raw)?;
            all.into_iter().filter(|n| wanted.contains(n)).collect()
        }
    })
}

fn folder_names(s: &Session) -> Result<BTreeSet<MailboxName>, Error> {
    Ok(s.store()?
        .list()?
        .into_iter()
        .filter(|e| e.selectable)
        .map(|e| e.name)
        .collect())
}

/// `* STATUS name (MESSAGES n UIDNEXT n UIDVALIDITY n UNSEEN n
/// HIGHESTMODSEQ n)`, what Dovecot sends for NOTIFY.
fn status_line(s: &mut Session, name: &MailboxName, c: &StatusCounts) {
    let Ok(store) = s.store() else { return };
    let wire = wire_text(s, &store.namespace().to_wire(name));
    s.out.untagged().raw("STATUS ").astring(&wire).raw(&format!(
        " (MESSAGES {} UIDNEXT {} UIDVALIDITY {} UNSEEN {} HIGHESTMODSEQ {})",
        c.messages, c.uidnext, c.uidvalidity, c.unseen, c.highest_modseq
    ));
    s.out.crlf();
}

/// `* LIST (attrs) "sep" name`.
fn list_line(s: &mut Session, attrs: &str, name: &MailboxName) {
    let Ok(store) = s.store() else { return };
    let sep = store.namespace().separator;
    let wire = wire_text(s, &store.namespace().to_wire(name));
    s.out
        .untagged()
        .raw(&format!("LIST ({attrs}) \"{sep}\" "))
        .astring(&wire)
        .crlf();
}

/// Sends what changed in the watched mailboxes since the client last
/// heard. After each command (`after_command`) every watched mailbox is
/// counted (a few `stat()`s each when nothing changed), so a change made
/// just before the command is never missed while the watcher thread is
/// still on its way; folder and subscription changes are looked for then
/// too. From IDLE, only the mailboxes the watcher flagged.
pub(crate) fn report(s: &mut Session, after_command: bool) -> Result<(), Error> {
    let Some(mut state) = s.notify.take() else {
        return Ok(());
    };
    let result = report_into(s, &mut state, after_command);
    s.notify = Some(state);
    result
}

fn report_into(s: &mut Session, state: &mut Notifying, after_command: bool) -> Result<(), Error> {
    let selected = s.selected.as_ref().map(|sel| sel.name.clone());
    let changed = state.any_changed();
    let mut gone = Vec::new();
    for (i, w) in state.watched.iter_mut().enumerate() {
        if !changed[i] && !after_command {
            continue;
        }
        let counts = match s.store()?.status(&w.name, false) {
            // \Recent moves when someone selects; that is no event.
            Ok(c) => StatusCounts { recent: 0, ..c },
            Err(crate::store::StoreError::NotFound) => {
                gone.push(i);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if counts == w.last {
            continue;
        }
        w.last = counts;
        if Some(&w.name) != selected.as_ref() {
            let (name, last) = (w.name.clone(), w.last.clone());
            status_line(s, &name, &last);
        }
    }
    for i in gone.into_iter().rev() {
        state.watched.remove(i);
    }
    if !after_command {
        return Ok(());
    }
    if let Some(known) = state.names.as_mut() {
        let now = folder_names(s)?;
        for name in known.difference(&now) {
            list_line(s, "\\NonExistent", name);
        }
        for name in now.difference(known) {
            list_line(s, "", name);
        }
        *known = now;
    }
    if let Some(known) = state.subscribed.as_mut() {
        let now: BTreeSet<MailboxName> = s.store()?.subscriptions()?.into_iter().collect();
        for name in known.difference(&now) {
            list_line(s, "", name);
        }
        for name in now.difference(known) {
            list_line(s, "\\Subscribed", name);
        }
        *known = now;
    }
    if let Some((known, mailboxes, server)) = state.metadata.as_mut() {
        let now = Metadata::load(s.store()?.root())?;
        for (owner, entry) in now.changed_since(known) {
            // RFC 5464 §4.4.2: `* METADATA mailbox entry`, no value.
            let wire = match &owner {
                None if *server => Vec::new(),
                Some(name) if *mailboxes => {
                    let store = s.store()?;
                    wire_text(s, &store.namespace().to_wire(name))
                }
                _ => continue,
            };
            s.out
                .untagged()
                .raw("METADATA ")
                .astring(&wire)
                .sp()
                .raw(&entry)
                .crlf();
        }
        *known = now;
    }
    Ok(())
}
