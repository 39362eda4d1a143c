//! The command table: one exhaustive `match` from a parsed command to its
//! handler, with the states each command is allowed in. A new command is a
//! compile error until it is wired in here.
//!
//! Handlers have the shape `fn(&mut Session, args…) -> Result<Tagged, Error>`:
//! they write untagged data to `s.out` and never write the tagged line.

mod acl;
mod auth;
mod catenate;
mod common;
mod compress;
mod condstore;
mod contexts;
mod copy;
mod enable;
mod expunge;
mod fetch;
mod idle;
mod list;
mod mailbox;
mod matches;
mod metadata;
mod multisearch;
mod namespace;
pub(crate) mod notify;
mod progress;
mod quota;
mod referral;
mod saved_search;
mod search;
mod sort;
mod store;

use crate::error::{Error, Tagged};
use crate::proto::types::{Command, CommandBody};
use crate::session::{Session, State};

/// Where a command may be used (RFC 3501 §6).
#[derive(Clone, Copy)]
enum Allowed {
    /// §6.1: any state.
    Any,
    /// §6.2: not authenticated only.
    NotAuthenticated,
    /// §6.3: authenticated or selected.
    Authenticated,
    /// §6.4: selected only.
    Selected,
    /// Authenticated but nothing selected (RFC 5161 §3.1 ENABLE).
    AuthenticatedOnly,
}

fn allowed(body: &CommandBody) -> Allowed {
    match body {
        CommandBody::Capability | CommandBody::Noop | CommandBody::Logout | CommandBody::Id(_) => {
            Allowed::Any
        }
        CommandBody::StartTls | CommandBody::Login { .. } | CommandBody::Authenticate { .. } => {
            Allowed::NotAuthenticated
        }
        CommandBody::Select { .. }
        | CommandBody::Create { .. }
        | CommandBody::Delete { .. }
        | CommandBody::Rename { .. }
        | CommandBody::Subscribe { .. }
        | CommandBody::List { .. }
        | CommandBody::Status { .. }
        | CommandBody::Append { .. }
        | CommandBody::Idle
        | CommandBody::Namespace
        | CommandBody::GetQuota { .. }
        | CommandBody::GetQuotaRoot { .. }
        | CommandBody::SetQuota { .. }
        | CommandBody::ListExtended(_)
        | CommandBody::CreateSpecialUse { .. }
        | CommandBody::GetMetadata(_)
        | CommandBody::SetMetadata { .. }
        | CommandBody::Notify(_)
        | CommandBody::MultiSearch { .. }
        | CommandBody::Acl { .. } => Allowed::Authenticated,
        CommandBody::Enable(_) => Allowed::AuthenticatedOnly,
        CommandBody::Unauthenticate => Allowed::Authenticated,
        CommandBody::Check
        | CommandBody::Close
        | CommandBody::Unselect
        | CommandBody::Expunge { .. }
        | CommandBody::Fetch { .. }
        | CommandBody::Search { .. }
        | CommandBody::CancelUpdate(_)
        | CommandBody::Replace { .. }
        | CommandBody::Sort { .. }
        | CommandBody::Thread { .. }
        | CommandBody::Copy { .. }
        | CommandBody::Store { .. } => Allowed::Selected,
        // RFC 4978 §5: command-auth.
        CommandBody::Compress { .. } => Allowed::Authenticated,
    }
}

/// UID FETCH, UID STORE, UID SEARCH, UID COPY, UID MOVE, UID EXPUNGE.
fn names_uids(body: &CommandBody) -> bool {
    matches!(
        body,
        CommandBody::Fetch { uid: true, .. }
            | CommandBody::Store { uid: true, .. }
            | CommandBody::Search { uid: true, .. }
            | CommandBody::Sort { uid: true, .. }
            | CommandBody::Thread { uid: true, .. }
            | CommandBody::Copy { uid: true, .. }
            | CommandBody::Replace { uid: true, .. }
            | CommandBody::Expunge { uids: Some(_) }
    )
}

/// Whether a command's reply may carry EXPUNGE responses. RFC 3501 §7.4.1:
/// not during FETCH, STORE or SEARCH (sequence-number forms), because the
/// client could not tell which numbers its reply refers to.
/// RFC 9586 §3: commands that name messages by sequence number (the
/// non-UID forms, or a sequence-set search key anywhere).
fn names_sequence_numbers(body: &CommandBody) -> bool {
    use crate::proto::types::SearchKey;
    fn in_keys(keys: &[SearchKey]) -> bool {
        keys.iter().any(|k| match k {
            SearchKey::SequenceSet(_) => true,
            SearchKey::Not(k) => in_keys(std::slice::from_ref(k)),
            SearchKey::Or(a, b) => {
                in_keys(std::slice::from_ref(a)) || in_keys(std::slice::from_ref(b))
            }
            SearchKey::And(v) => in_keys(v),
            _ => false,
        })
    }
    match body {
        CommandBody::Fetch { uid, .. }
        | CommandBody::Store { uid, .. }
        | CommandBody::Copy { uid, .. }
        | CommandBody::Replace { uid, .. } => !uid,
        CommandBody::Search { uid, keys, .. }
        | CommandBody::Sort { uid, keys, .. }
        | CommandBody::Thread { uid, keys, .. } => !uid || in_keys(keys),
        // QRESYNC's seq-match-data pairs message numbers with UIDs.
        CommandBody::Select { params, .. } => params
            .qresync
            .as_ref()
            .is_some_and(|q| q.seq_match.is_some()),
        _ => false,
    }
}

/// RFC 5465 §5.2: FETCH responses (with UID) for messages that arrived,
/// sent outside any FETCH command.
pub fn fetch_unsolicited(
    s: &mut Session,
    uids: &crate::proto::types::SequenceSet,
    items: &[crate::proto::types::FetchAtt],
) -> Result<(), Error> {
    fetch::fetch(s, uids, items, true, Default::default()).map(|_| ())
}

pub fn allows_expunge(body: &CommandBody) -> bool {
    !matches!(
        body,
        CommandBody::Fetch { uid: false, .. }
            | CommandBody::Store { uid: false, .. }
            | CommandBody::Search { uid: false, .. }
            | CommandBody::Sort { uid: false, .. }
            | CommandBody::Thread { uid: false, .. }
    )
}

/// RFC 5267 updates of kept searches, after each command's sync, then
/// RFC 5465 NOTIFY events.
pub fn update_search_contexts(s: &mut Session) -> Result<(), Error> {
    contexts::update(s)?;
    notify::report(s, true)
}

/// Runs one command.
pub fn dispatch(s: &mut Session, mut cmd: Command) -> Result<Tagged, Error> {
    let ok = match allowed(&cmd.body) {
        Allowed::Any => true,
        Allowed::NotAuthenticated => s.state == State::NotAuthenticated,
        Allowed::Authenticated => matches!(s.state, State::Authenticated | State::Selected),
        Allowed::Selected => s.state == State::Selected,
        // Dovecot accepts ENABLE while selected too; RFC 5161 §3.1 says
        // clients must not, and a late QRESYNC could not apply to the
        // mailbox already open.
        Allowed::AuthenticatedOnly => s.state == State::Authenticated,
    };
    if !ok {
        return Err(Error::bad(format!(
            "{} is not allowed in the {} state",
            cmd.body.name(),
            match s.state {
                State::NotAuthenticated => "not authenticated",
                State::Authenticated => "authenticated",
                State::Selected => "selected",
                State::Logout => "logout",
            }
        )));
    }
    // A UID command may name messages another session added since this
    // one last heard (iPhone Mail moves such UIDs; treating them as absent
    // leaves ghosts). Add them to the view first (EXISTS); expunges wait
    // for the end of the command, as Dovecot orders them.
    if names_uids(&cmd.body) {
        s.sync_selected(false)?;
    }
    if s.out.uid_only() && names_sequence_numbers(&cmd.body) {
        return Err(Error::Bad(
            Some(crate::proto::encode::Code::UidRequired),
            "Message sequence numbers are not allowed after ENABLE UIDONLY.".into(),
        ));
    }
    if s.state == State::Selected {
        saved_search::expand(s, &mut cmd.body);
    }
    // RFC 9585: long searches and changes tell the client how far they got.
    s.progress_tag = matches!(
        cmd.body,
        CommandBody::Search { .. }
            | CommandBody::Sort { .. }
            | CommandBody::Thread { .. }
            | CommandBody::MultiSearch { .. }
            | CommandBody::Copy { .. }
            | CommandBody::Store { .. }
            | CommandBody::Expunge { .. }
    )
    .then(|| cmd.tag.clone());
    let result = match cmd.body {
        CommandBody::Capability => auth::capability(s),
        CommandBody::Noop => auth::noop(s),
        CommandBody::Logout => auth::logout(s),
        CommandBody::StartTls => auth::starttls(s),
        CommandBody::Login { user, password } => auth::login(s, &user, &password),
        CommandBody::Authenticate { mechanism, initial } => {
            auth::authenticate(s, &mechanism, initial.as_deref())
        }
        CommandBody::Id(params) => auth::id(s, params.as_deref()),
        CommandBody::Select {
            mailbox,
            read_only,
            params,
        } => mailbox::select(s, &mailbox, read_only, &params),
        CommandBody::Create { mailbox } => mailbox::create(s, &mailbox),
        CommandBody::Delete { mailbox } => mailbox::delete(s, &mailbox),
        CommandBody::Rename { from, to } => mailbox::rename(s, &from, &to),
        CommandBody::Subscribe { mailbox, on } => mailbox::subscribe(s, &mailbox, on),
        CommandBody::List {
            reference,
            pattern,
            lsub,
        } => list::list(s, &reference, &pattern, lsub),
        CommandBody::Status { mailbox, items } => mailbox::status(s, &mailbox, &items),
        CommandBody::Append { mailbox, messages } => mailbox::append(s, &mailbox, &messages),
        CommandBody::Check => expunge::check(s),
        CommandBody::Idle => idle::idle(s),
        CommandBody::Close => expunge::close(s),
        CommandBody::Unselect => expunge::unselect(s),
        CommandBody::Expunge { uids } => expunge::expunge(s, uids.as_ref()),
        CommandBody::Fetch {
            set,
            items,
            uid,
            modifiers,
        } => fetch::fetch(s, &set, &items, uid, modifiers),
        CommandBody::Search {
            charset,
            keys,
            uid,
            ret,
        } => search::search(s, &cmd.tag, charset.as_deref(), &keys, uid, ret),
        CommandBody::CancelUpdate(tags) => contexts::cancel(s, &tags),
        CommandBody::Replace {
            uid,
            number,
            mailbox,
            message,
        } => mailbox::replace(s, uid, number, &mailbox, &message),
        CommandBody::Unauthenticate => auth::unauthenticate(s),
        CommandBody::Sort {
            criteria,
            charset,
            keys,
            uid,
            ret,
        } => sort::sort(s, &cmd.tag, &criteria, &charset, &keys, uid, ret),
        CommandBody::Thread {
            algorithm,
            charset,
            keys,
            uid,
        } => sort::thread(s, algorithm, &charset, &keys, uid),
        CommandBody::Copy {
            set,
            mailbox,
            uid,
            is_move,
        } => copy::copy(s, &set, &mailbox, uid, is_move),
        CommandBody::Store {
            set,
            mode,
            silent,
            flags,
            uid,
            unchanged_since,
        } => store::store(s, &set, mode, silent, &flags, uid, unchanged_since),
        CommandBody::Namespace => namespace::namespace(s),
        CommandBody::GetQuota { root } => quota::getquota(s, &root),
        CommandBody::GetQuotaRoot { mailbox } => quota::getquotaroot(s, &mailbox),
        CommandBody::SetQuota { .. } => quota::setquota(s),
        CommandBody::Enable(names) => enable::enable(s, &names),
        CommandBody::Compress { mechanism } => compress::compress(s, &mechanism),
        CommandBody::ListExtended(list) => list::list_extended(s, &list),
        CommandBody::CreateSpecialUse { mailbox, uses } => {
            mailbox::create_special_use(s, &mailbox, &uses)
        }
        CommandBody::GetMetadata(get) => metadata::getmetadata(s, &get),
        CommandBody::SetMetadata { mailbox, entries } => {
            metadata::setmetadata(s, &mailbox, &entries)
        }
        CommandBody::Notify(set) => notify::notify(s, set.as_ref()),
        CommandBody::Acl { mailbox, cmd } => acl::acl(s, &mailbox, &cmd),
        CommandBody::MultiSearch {
            sources,
            charset,
            keys,
            ret,
        } => multisearch::multi_search(
            s,
            &cmd.tag,
            sources.as_deref(),
            charset.as_deref(),
            &keys,
            ret,
        ),
    };
    s.progress_tag = None;
    result
}
