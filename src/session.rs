//! The state a command handler works on: the connection, its buffers, the
//! protocol state and who is logged in. No dispatching happens here; see
//! `connection` (the loop) and `cmd` (the handlers).

use crate::auth::passwd::UserEntry;
use crate::context::ServerContext;
use crate::net::Transport;
use crate::proto::encode::ResponseBuf;
use crate::proto::reader::CommandReader;
use crate::selected::Selected;
use crate::store::Store;
use crate::trace::Trace;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// RFC 3501 §3 connection states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    NotAuthenticated,
    Authenticated,
    Selected,
    Logout,
}

/// Extensions a client turned on with ENABLE (RFC 5161) or, for CONDSTORE,
/// by using one of its features (RFC 7162 §3.1). They last until logout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enabled {
    /// RFC 7162 §3.1: MODSEQ in untagged FETCH responses.
    pub condstore: bool,
    /// RFC 7162 §3.2: VANISHED instead of EXPUNGE; implies `condstore`.
    pub qresync: bool,
    /// RFC 6855: UTF-8 in mailbox names and quoted strings.
    pub utf8_accept: bool,
    /// RFC 9051 Appendix A: IMAP4rev2 semantics (no \Recent, ESEARCH for
    /// SEARCH, UTF-8 mailbox names, LIST in SELECT).
    pub imap4rev2: bool,
}

impl Enabled {
    /// Mailbox names and quoted strings travel as UTF-8 (RFC 6855 §3,
    /// RFC 9051 §5.1), not modified UTF-7.
    pub fn utf8_names(&self) -> bool {
        self.utf8_accept || self.imap4rev2
    }
}

/// A logged-in user.
pub struct User {
    pub entry: UserEntry,
    pub store: Store,
    /// This session's place in `max_sessions_per_user`.
    pub _session_slot: crate::live_counts::LiveGuard<String>,
}

pub struct Session {
    pub id: String,
    pub peer: SocketAddr,
    pub ctx: Arc<ServerContext>,
    pub transport: Transport,
    pub reader: CommandReader,
    pub out: ResponseBuf,
    pub state: State,
    pub user: Option<User>,
    pub trace: Trace,
    pub started: Instant,
    /// Set by STARTTLS: the loop upgrades after sending the tagged OK.
    pub start_tls_pending: bool,
    /// The selected mailbox, in the selected state.
    pub selected: Option<Selected>,
    /// The tag of a running command that reports INPROGRESS (RFC 9585).
    pub progress_tag: Option<Vec<u8>>,
    /// What ENABLE (or first use) turned on.
    pub enabled: Enabled,
    /// The current command's APPEND literals that were written to files,
    /// in order (see `proto::reader::Spooled`).
    pub spooled: std::collections::VecDeque<crate::proto::reader::Spooled>,
    /// RFC 5182 `$`: the UIDs the last SEARCH RETURN (SAVE) found in the
    /// selected mailbox, ascending. Emptied whenever the selection ends.
    pub saved_search: Vec<u32>,
    /// Set by COMPRESS: the loop turns DEFLATE on after the tagged OK.
    pub compress_pending: bool,
    /// RFC 5465 NOTIFY SET: the mailboxes watched beside the selected one.
    pub(crate) notify: Option<crate::cmd::notify::Notifying>,
    /// The connection comes from `login_trusted_networks` (a mail proxy).
    pub trusted: bool,
}

impl Session {
    pub fn new(ctx: Arc<ServerContext>, transport: Transport, peer: SocketAddr) -> Session {
        let id = ctx.new_session_id();
        let trace = Trace::start(&ctx.trace_policy, &id, peer.ip());
        let trusted = crate::cidr::any_contains(&ctx.config.login_trusted_networks, peer.ip());
        Session {
            id,
            peer,
            ctx,
            transport,
            reader: CommandReader::new(),
            out: ResponseBuf::new(),
            state: State::NotAuthenticated,
            user: None,
            trace,
            started: Instant::now(),
            start_tls_pending: false,
            selected: None,
            progress_tag: None,
            enabled: Enabled::default(),
            spooled: Default::default(),
            saved_search: Vec::new(),
            compress_pending: false,
            notify: None,
            trusted,
        }
    }

    /// The user name for log lines (`-` before login).
    pub fn user_name(&self) -> &str {
        self.user.as_ref().map_or("-", |u| u.entry.name.as_str())
    }

    /// Whether a password may be sent now (`plaintext_auth`).
    pub fn plaintext_allowed(&self) -> bool {
        self.ctx
            .config
            .plaintext_auth
            .allows(self.transport.is_tls() || self.trusted, self.peer.ip())
    }

    /// The CAPABILITY list for the current state (RFC 3501 §6.1.1).
    pub fn capabilities(&self) -> String {
        let appendlimit = format!("APPENDLIMIT={}", self.ctx.config.max_append_size);
        // RFC 9051 Appendix A: both revisions; rev2 after ENABLE IMAP4rev2.
        // RFC 7888 §5: never both LITERAL+ and LITERAL-.
        let literal = if self.ctx.config.literal_minus {
            "LITERAL-"
        } else {
            "LITERAL+"
        };
        // RFC 2221: LOGIN may answer [REFERRAL] (cmd::referral), as Dovecot.
        let mut caps = vec![
            "IMAP4rev1",
            "IMAP4rev2",
            "SASL-IR",
            "LOGIN-REFERRALS",
            literal,
            "ID",
        ];
        if self.state != State::NotAuthenticated {
            caps.extend([
                "IDLE",
                "UNSELECT",
                "UIDPLUS",
                "CHILDREN",
                "MOVE",
                "BINARY",
                "STATUS=SIZE",
                // RFC 7162; QRESYNC needs ENABLE (RFC 7162 §3.2.3).
                "CONDSTORE",
                "QRESYNC",
            ]);
            // The extensions after login, in the order clients have seen them.
            caps.push("NAMESPACE");
            caps.push("ENABLE");
            caps.push("ESEARCH");
            // RFC 7377: ESEARCH IN (...) over several mailboxes.
            caps.push("MULTISEARCH");
            // RFC 9585: progress of long searches (cmd::progress).
            caps.push("INPROGRESS");
            caps.push("SEARCHRES");
            caps.push("WITHIN");
            caps.push("SORT");
            caps.push("SORT=DISPLAY");
            // RFC 5255 §4: SEARCH and SORT fold with i;unicode-casemap
            // (search::fold), as Dovecot.
            caps.push("I18NLEVEL=1");
            // RFC 5267 SORT RETURN (...); CONTEXT=* would need UPDATE.
            caps.push("ESORT");
            caps.push("THREAD=ORDEREDSUBJECT");
            caps.push("THREAD=REFERENCES");
            caps.push("THREAD=REFS");
            caps.push("UTF8=ACCEPT");
            // Like Dovecot, only after login: RFC 4978 makes it command-auth.
            caps.push("COMPRESS=DEFLATE");
            caps.push("LIST-EXTENDED");
            caps.push("LIST-STATUS");
            caps.push("SPECIAL-USE");
            caps.push("CREATE-SPECIAL-USE");
            caps.push("MULTIAPPEND");
            // RFC 4469, with RFC 5550's PARTIAL in its URLs.
            caps.extend(["CATENATE", "URL-PARTIAL"]);
            // RFC 9208; usage kept in Maildir++ maildirsize (store::quota).
            caps.extend(["QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"]);
            caps.extend(["CONTEXT=SEARCH", "CONTEXT=SORT"]);
            caps.push("PREVIEW");
            // Dovecot 2.3's names from the PREVIEW drafts (cmd::fetch).
            caps.extend(["SNIPPET=FUZZY", "PREVIEW=FUZZY"]);
            caps.push("SAVEDATE");
            caps.push("OBJECTID");
            caps.push("REPLACE");
            if self.ctx.config.userdb == crate::config::Userdb::PasswdFile {
                caps.push("UNAUTHENTICATE");
            }
            // RFC 4314 for the owner only, as Stalwart without sharing.
            caps.push("ACL");
            caps.push("METADATA");
            caps.push("LIST-METADATA");
            caps.push("UIDONLY");
            caps.push("NOTIFY");
            caps.push(&appendlimit);
        }
        if self.state == State::NotAuthenticated {
            if self.ctx.tls.is_some() && !self.transport.is_tls() {
                caps.push("STARTTLS");
            }
            // SCRAM never shows the password: offered with or without TLS,
            // but only when configured: clients take the strongest offer,
            // and a bcrypt-stored user cannot do SCRAM.
            let config = &self.ctx.config;
            if config.scram_offered(crate::auth::scram::ScramHash::Sha256) {
                caps.push("AUTH=SCRAM-SHA-256");
                if self.transport.is_tls() {
                    caps.push("AUTH=SCRAM-SHA-256-PLUS");
                }
            }
            if config.scram_offered(crate::auth::scram::ScramHash::Sha1) {
                caps.push("AUTH=SCRAM-SHA-1");
                if self.transport.is_tls() {
                    caps.push("AUTH=SCRAM-SHA-1-PLUS");
                }
            }
            // Only where the handshake verified a client certificate.
            if config.auth_external && self.transport.client_cert_name().is_some() {
                caps.push("AUTH=EXTERNAL");
            }
            // CRAM-MD5 does not reveal the password either (Dovecot offers
            // it without TLS too).
            if config.cram_md5_offered() {
                caps.push("AUTH=CRAM-MD5");
            }
            if self.plaintext_allowed() {
                caps.extend(["AUTH=PLAIN", "AUTH=LOGIN"]);
                if config.auth_oauthbearer {
                    caps.push("AUTH=OAUTHBEARER");
                }
                if config.auth_xoauth2 {
                    caps.push("AUTH=XOAUTH2");
                }
            } else {
                // RFC 3501 §6.2.3: LOGIN is refused, so say so up front.
                caps.push("LOGINDISABLED");
            }
        }
        caps.join(" ")
    }

    /// The user's store; handlers of authenticated commands call this.
    pub fn store(&self) -> Result<&Store, crate::error::Error> {
        self.user
            .as_ref()
            .map(|u| &u.store)
            .ok_or_else(|| crate::error::Error::bad("Not logged in."))
    }

    /// Leaves the selected state (CLOSE, UNSELECT, a new SELECT).
    pub fn deselect(&mut self) {
        self.selected = None;
        // RFC 5182 §2.1: `$` starts empty in every selected mailbox.
        self.saved_search.clear();
        if self.state == State::Selected {
            self.state = State::Authenticated;
        }
    }

    /// Tells the client what changed in the selected mailbox; called before
    /// each tagged reply (RFC 3501 §7: unsolicited responses). Expunges are
    /// held back when `allow_expunge` is false (RFC 3501 §7.4.1).
    pub fn sync_selected(&mut self, allow_expunge: bool) -> Result<(), crate::error::Error> {
        let (Some(sel), Some(_)) = (self.selected.as_mut(), self.user.as_ref()) else {
            return Ok(());
        };
        sel.condstore = self.enabled.condstore;
        sel.qresync = self.enabled.qresync;
        sel.rev2 = self.enabled.imap4rev2;
        let last_uid = sel.uids().last().map_or(0, |u| u.0);
        match sel.sync(&mut self.out, allow_expunge) {
            Ok(()) => {}
            Err(crate::store::StoreError::NotFound) => {
                return Err(crate::error::Error::Bye(
                    "Selected mailbox was deleted, have to disconnect.".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        self.fetch_new_for_notify(last_uid)
    }

    /// RFC 5465 §5.2: `MessageNew (fetch-att ...)` for SELECTED sends
    /// those items for each message that arrived, after its EXISTS.
    fn fetch_new_for_notify(&mut self, last_uid: u32) -> Result<(), crate::error::Error> {
        let Some(items) = self.notify.as_ref().and_then(|n| n.new_message_items()) else {
            return Ok(());
        };
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        let new: Vec<u32> = sel
            .uids()
            .iter()
            .map(|u| u.0)
            .filter(|&u| u > last_uid)
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let set = crate::proto::types::SequenceSet::from_sorted(&new);
        let items = items.to_vec();
        crate::cmd::fetch_unsolicited(self, &set, &items)
    }

    /// Marks the client CONDSTORE-aware after a CONDSTORE enabling command
    /// (RFC 7162 §3.1). The first one with a mailbox selected also reports
    /// its HIGHESTMODSEQ, as the RFC requires.
    pub fn enable_condstore(&mut self) {
        if self.enabled.condstore {
            return;
        }
        self.enabled.condstore = true;
        if let Some(sel) = self.selected.as_mut() {
            sel.condstore = true;
            let highest = sel.mailbox().highest_modseq();
            self.out.untagged_status(
                crate::proto::encode::Status::Ok,
                Some(&crate::proto::encode::Code::HighestModseq(highest)),
                "Highest",
            );
        }
    }

    /// Sends everything buffered in `out` and records it in the trace.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let bytes = self.out.take();
        self.trace.server(&bytes);
        let res = self
            .transport
            .write_all(&bytes)
            .and_then(|()| self.transport.flush());
        // Reuse the allocation for the next response.
        let mut bytes = bytes;
        bytes.clear();
        self.out.refill(bytes);
        res
    }
}
