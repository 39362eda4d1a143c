//! The commands Roost understands, as parsed from the wire. Types are named
//! after the RFC 3501 §9 ABNF rules they hold.

/// `command = tag SP (command-any / command-auth / command-nonauth /
/// command-select) CRLF`
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// `tag = 1*<any ASTRING-CHAR except "+">`
    pub tag: Vec<u8>,
    pub body: CommandBody,
}

/// One variant per command. Byte strings are `astring` values as decoded
/// from atom, quoted or literal form.
#[derive(PartialEq, Eq)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// `login = "LOGIN" SP userid SP password`
    Login {
        user: Vec<u8>,
        password: Vec<u8>,
    },
    /// `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]`
    /// (RFC 4959 adds the initial response).
    Authenticate {
        /// The mechanism name, upper-cased.
        mechanism: String,
        /// The initial response as sent (base64 text or `=`).
        initial: Option<Vec<u8>>,
    },
    /// RFC 2971: `id = "ID" SP id-params-list`; `None` for NIL.
    Id(Option<Vec<(Vec<u8>, Option<Vec<u8>>)>>),
    /// `select = "SELECT" SP mailbox`; EXAMINE when `read_only`.
    Select {
        mailbox: Vec<u8>,
        read_only: bool,
        /// RFC 7162 select parameters.
        params: SelectParams,
    },
    Create {
        mailbox: Vec<u8>,
    },
    Delete {
        mailbox: Vec<u8>,
    },
    Rename {
        from: Vec<u8>,
        to: Vec<u8>,
    },
    /// SUBSCRIBE, or UNSUBSCRIBE when `on` is false.
    Subscribe {
        mailbox: Vec<u8>,
        on: bool,
    },
    /// `list = "LIST" SP mailbox SP list-mailbox`; LSUB when `lsub`.
    List {
        reference: Vec<u8>,
        pattern: Vec<u8>,
        lsub: bool,
    },
    /// `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`
    Status {
        mailbox: Vec<u8>,
        items: Vec<StatusItem>,
    },
    /// `append = "APPEND" SP mailbox 1*append-message` (RFC 3502
    /// MULTIAPPEND; one message is RFC 3501's form).
    Append {
        mailbox: Vec<u8>,
        messages: Vec<AppendMessage>,
    },
    Check,
    Close,
    /// RFC 2177 `idle = "IDLE" CRLF *1(untagged response) "DONE"`
    Idle,
    /// RFC 3691.
    Unselect,
    /// EXPUNGE, or UID EXPUNGE (RFC 4315) with a UID set.
    Expunge {
        uids: Option<SequenceSet>,
    },
    /// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
    /// fetch-att / "(" fetch-att *(SP fetch-att) ")")`; macros expanded.
    Fetch {
        set: SequenceSet,
        items: Vec<FetchAtt>,
        uid: bool,
        /// RFC 7162 fetch modifiers.
        modifiers: FetchModifiers,
    },
    /// `search = "SEARCH" [search-return-opts] [SP "CHARSET" SP astring]
    /// 1*(SP search-key)` (RETURN: RFC 4466 §2.6, RFC 4731, RFC 5182).
    /// `CANCELUPDATE SP tag-string *(SP tag-string)` (RFC 5267 §4.3).
    CancelUpdate(Vec<Vec<u8>>),
    /// `[UID] REPLACE SP seq-or-uid SP mailbox SP append-message` (RFC 8508).
    Replace {
        uid: bool,
        number: u32,
        mailbox: Vec<u8>,
        message: AppendMessage,
    },
    /// `UNAUTHENTICATE` (RFC 8437).
    Unauthenticate,
    Search {
        charset: Option<String>,
        keys: Vec<SearchKey>,
        uid: bool,
        /// `None` without RETURN: a plain `* SEARCH` answer.
        ret: Option<SearchReturn>,
    },
    /// `sort = ["UID" SP] "SORT" SP sort-criteria SP search-charset
    /// 1*(SP search-key)` (RFC 5256 §5).
    Sort {
        criteria: Vec<SortCriterion>,
        charset: String,
        keys: Vec<SearchKey>,
        uid: bool,
        /// RFC 5267 ESORT: `SORT RETURN (...)` answers with ESEARCH.
        ret: Option<SearchReturn>,
    },
    /// `thread = ["UID" SP] "THREAD" SP thread-alg SP search-charset
    /// 1*(SP search-key)` (RFC 5256 §5).
    Thread {
        algorithm: ThreadAlgorithm,
        charset: String,
        keys: Vec<SearchKey>,
        uid: bool,
    },
    /// COPY (RFC 3501 §6.4.7) or MOVE (RFC 6851 §3.1).
    Copy {
        set: SequenceSet,
        mailbox: Vec<u8>,
        uid: bool,
        is_move: bool,
    },
    /// `store = "STORE" SP sequence-set SP store-att-flags`
    Store {
        set: SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Vec<Flag>,
        uid: bool,
        /// RFC 7162 §3.1.3 `UNCHANGEDSINCE`.
        unchanged_since: Option<u64>,
    },
    /// RFC 2342 `namespace = "NAMESPACE"`.
    Namespace,
    /// RFC 9208 §4.2 `GETQUOTA quota-root-name`.
    GetQuota {
        root: Vec<u8>,
    },
    /// RFC 9208 §4.3 `GETQUOTAROOT mailbox`.
    GetQuotaRoot {
        mailbox: Vec<u8>,
    },
    /// RFC 9208 §4.1 `SETQUOTA`; the limits are parsed but never applied.
    SetQuota {
        root: Vec<u8>,
    },
    /// RFC 5161 `enable = "ENABLE" 1*(SP capability)`; names upper-cased.
    Enable(Vec<String>),
    /// RFC 4978 `compress = "COMPRESS" SP algorithm`; the name upper-cased.
    Compress {
        mechanism: String,
    },
    /// RFC 5258 LIST with selection options, several patterns or return
    /// options; a plain LIST stays `List`.
    ListExtended(ListExtended),
    /// RFC 6154 §3 `CREATE mailbox SP "(" "USE" SP "(" [use-attr *(SP
    /// use-attr)] ")" ")"`; the attributes as sent (`\Sent`).
    CreateSpecialUse {
        mailbox: Vec<u8>,
        uses: Vec<String>,
    },
    /// RFC 5464 §4.2 `getmetadata = "GETMETADATA" [SP getmetadata-options]
    /// SP mailbox SP entries`.
    GetMetadata(GetMetadata),
    /// RFC 5464 §4.3 `setmetadata = "SETMETADATA" SP mailbox SP
    /// list-of-entry-values`; `None` deletes the entry.
    SetMetadata {
        mailbox: Vec<u8>,
        entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    },
    /// RFC 5465 §8 `notify = "NOTIFY" SP (notify-set / notify-none)`;
    /// `None` for NOTIFY NONE.
    Notify(Option<NotifySet>),
    /// RFC 4314 ACL commands on `mailbox`.
    Acl {
        mailbox: Vec<u8>,
        cmd: AclCommand,
    },
    /// `esearch = "ESEARCH" [SP esearch-source-opts] [SP search-return-opts]
    /// SP search-program` (RFC 7377 §4); no sources means the selected
    /// mailbox.
    MultiSearch {
        sources: Option<Vec<SearchSource>>,
        charset: Option<String>,
        keys: Vec<SearchKey>,
        ret: Option<SearchReturn>,
    },
}

/// GETMETADATA's options and arguments (RFC 5464 §4.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GetMetadata {
    /// `MAXSIZE n`: longer values are left out.
    pub maxsize: Option<u64>,
    /// `DEPTH 0 / 1 / infinity`; `None` is infinity.
    pub depth: Option<usize>,
    /// `""` for the server's entries.
    pub mailbox: Vec<u8>,
    /// Entry names as sent; checked by the handler.
    pub entries: Vec<Vec<u8>>,
}

/// `notify-set = "SET" [status-indicator] SP event-groups` (RFC 5465 §8).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifySet {
    /// `SP "STATUS"`: send each watched mailbox's STATUS at once.
    pub status: bool,
    pub groups: Vec<NotifyGroup>,
}

/// `event-group = "(" filter-mailboxes SP events ")"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyGroup {
    pub filter: NotifyFilter,
    /// `None` for the `NONE` events list.
    pub events: Option<NotifyEvents>,
}

/// An RFC 4314 command; identifiers and rights as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclCommand {
    Get,
    MyRights,
    ListRights(Vec<u8>),
    Set(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// One `filter-mailboxes` of ESEARCH IN (RFC 7377 §4): NOTIFY's filters
/// and `subtree-one` (the mailboxes and their direct children).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchSource {
    Filter(NotifyFilter),
    SubtreeOne(Vec<Vec<u8>>),
}

/// `filter-mailboxes` (RFC 5465 §6); mailbox names as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyFilter {
    Selected,
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<Vec<u8>>),
    Mailboxes(Vec<Vec<u8>>),
}

/// The events of one group (RFC 5465 §5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyEvents {
    /// `MessageNew [(fetch-att ...)]`: `Some` when asked for, with the
    /// attributes to send with each new message.
    pub message_new: Option<Vec<FetchAtt>>,
    pub message_expunge: bool,
    pub flag_change: bool,
    pub annotation_change: bool,
    pub mailbox_name: bool,
    pub subscription_change: bool,
    pub mailbox_metadata_change: bool,
    pub server_metadata_change: bool,
    /// Event names Roost does not know, as sent (RFC 5465 §8 BADEVENT).
    pub unknown: Vec<String>,
}

/// `select-param` (RFC 7162 §7): `CONDSTORE` and `QRESYNC (...)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<QresyncParams>,
}

/// `"QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
/// [SP seq-match-data] ")"` (RFC 7162 §3.2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QresyncParams {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
    /// Known message numbers and their UIDs, pairwise.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// `fetch-modifier` (RFC 7162 §3.1.4.1, §3.2.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchModifiers {
    pub changed_since: Option<u64>,
    pub vanished: bool,
}

/// An extended LIST (RFC 5258 §3, RFC 6154, RFC 5819).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListExtended {
    pub select: ListSelect,
    pub reference: Vec<u8>,
    /// At least one; `""` patterns are ignored (§3).
    pub patterns: Vec<Vec<u8>>,
    pub ret: ListReturn,
}

/// LIST selection options (RFC 5258 §3.1, RFC 6154 §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListSelect {
    pub subscribed: bool,
    /// Accepted; Roost has no remote mailboxes.
    pub remote: bool,
    pub recursive_match: bool,
    pub special_use: bool,
}

/// LIST return options (RFC 5258 §3.2, RFC 6154 §2, RFC 5819).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListReturn {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    /// `STATUS (...)`: items for a STATUS response after each LIST.
    pub status: Option<Vec<StatusItem>>,
    /// RFC 9590 `METADATA (...)`: entries for a METADATA response after
    /// each LIST.
    pub metadata: Option<ListMetadata>,
}

/// The METADATA return option of LIST (RFC 9590): entry names as sent and
/// GETMETADATA's options (RFC 5464 §4.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListMetadata {
    pub entries: Vec<Vec<u8>>,
    pub maxsize: Option<u64>,
    /// `Some(0)` by default; `None` is infinity.
    pub depth: Option<usize>,
}

/// `append-message = append-opts SP append-data` (RFC 4466 §2.3):
/// `[SP flag-list] [SP date-time] SP (literal / literal8 / utf8-literal)`.
#[derive(Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<Flag>,
    pub date: Option<DateTime>,
    pub message: Vec<u8>,
    /// Where `message`'s literal data starts in the command's bytes (to
    /// find its spool file when the reader wrote it to one).
    pub message_at: usize,
    /// Sent as RFC 6855 `UTF8 (~{n}...)`.
    pub utf8: bool,
    /// RFC 4469 `CATENATE (...)`: the message is built from these parts
    /// (`message` is then empty).
    pub catenate: Option<Vec<CatPart>>,
}

/// One part of an RFC 4469 CATENATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`; `at` as in `AppendMessage::message_at`.
    Text { data: Vec<u8>, at: usize },
    /// `URL astring`: an IMAP URL (RFC 5092) of a message or part of one.
    Url(Vec<u8>),
}

impl std::fmt::Debug for AppendMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendMessage")
            .field("flags", &self.flags)
            .field("date", &self.date)
            .field("message_len", &self.message.len())
            .field("utf8", &self.utf8)
            .field("catenate_parts", &self.catenate.as_ref().map(Vec::len))
            .finish()
    }
}

/// `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

/// `fetch-att` (RFC 3501 §6.4.5; BINARY from RFC 3516).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchAtt {
    Envelope,
    Flags,
    InternalDate,
    /// RFC822: the whole message, like BODY[] but named RFC822 in replies.
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    /// BODY (non-extensible BODYSTRUCTURE).
    Body,
    BodyStructure,
    Uid,
    /// `"BODY" [".PEEK"] section ["<" number "." nz-number ">"]`
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    /// `"BINARY" [".PEEK"] section-binary [partial]`
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
    },
    /// `"BINARY.SIZE" section-binary`
    BinarySize {
        part: Vec<u32>,
    },
    /// RFC 7162 §3.1.4.2.
    Modseq,
    /// RFC 8970: `PREVIEW` or `PREVIEW (LAZY)`; `fuzzy` answers in the
    /// drafts' form `PREVIEW (FUZZY "...")`, `snippet` names it SNIPPET
    /// (Dovecot 2.3's SNIPPET=FUZZY, always fuzzy).
    Preview {
        lazy: bool,
        fuzzy: bool,
        snippet: bool,
    },
    /// RFC 8514: when the message was saved into this mailbox.
    SaveDate,
    /// RFC 8474 §5.1, §5.2.
    EmailId,
    ThreadId,
}

/// `section = "[" [section-spec] "]"`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// `section-part = nz-number *("." nz-number)`
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

/// `section-msgtext` / `section-text`
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields(Vec<Vec<u8>>),
    HeaderFieldsNot(Vec<Vec<u8>>),
    Text,
    Mime,
}

/// `status-att` (RFC 3501 §6.3.10; SIZE from RFC 8438).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    /// RFC 9051 §6.3.11: messages with \Deleted.
    Deleted,
    Size,
    /// RFC 7162 §3.1.7.
    HighestModseq,
    /// RFC 7889 §4: the largest message APPEND takes here.
    AppendLimit,
    /// RFC 8474 §4.3.
    MailboxId,
}

/// The result options of `SEARCH RETURN (...)` and `SORT RETURN (...)`:
/// RFC 4731 MIN MAX ALL COUNT, RFC 5182 SAVE and RFC 5267 PARTIAL. An
/// empty list means ALL (RFC 4731 §3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    pub save: bool,
    /// RFC 5267 §4.4: positions `first..=last` (1-based, first <= last)
    /// of the result.
    pub partial: Option<(u32, u32)>,
    /// RFC 5267 §4.1: keep the result up to date (ADDTO / REMOVEFROM).
    pub update: bool,
}

impl SearchReturn {
    /// Whether an ESEARCH response is sent: SAVE alone asks for none
    /// (RFC 5182 §2.2 example 1; Dovecot sends none either).
    pub fn wants_response(&self) -> bool {
        self.min || self.max || self.all || self.count || self.partial.is_some() || self.update
    }
}

/// `flag` (RFC 3501 §9): system flags, keywords and `\*`-style extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flag {
    Answered,
    Flagged,
    Deleted,
    Seen,
    Draft,
    /// `\Recent` may appear in FETCH responses but not be set by clients.
    Recent,
    /// `flag-keyword = atom`
    Keyword(String),
    /// `flag-extension = "\\" atom`: unknown system flag.
    Extension(String),
}

/// `sort-key` (RFC 5256 §5, DISPLAYFROM / DISPLAYTO from RFC 5957).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// `sort-criterion = ["REVERSE" SP] sort-key`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// `thread-alg` (RFC 5256 §3; REFS is Dovecot's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
    Refs,
}

/// `date-time` as a UTC instant plus the zone it was given in (minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Seconds since the Unix epoch, UTC.
    pub unix: i64,
    /// Offset east of UTC in minutes.
    pub zone_minutes: i32,
}

/// `seq-number = nz-number / "*"`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqNumber {
    Value(u32),
    /// `*`: the largest number in use.
    Last,
}

/// `sequence-set = (seq-number / seq-range) *("," sequence-set)`; a single
/// number is stored as a range from itself to itself.
///
/// RFC 5182 adds `sequence-set =/ "$"`, the saved SEARCH result: its own
/// form until the dispatcher puts the saved messages in its place
/// (`cmd::saved_search`). An empty saved result becomes an empty `Ranges`,
/// which selects nothing, as RFC 5182 §2.1 wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SequenceSet {
    /// `$`, not expanded yet; selects nothing if it stays so.
    Saved,
    Ranges(Vec<(SeqNumber, SeqNumber)>),
}

impl SequenceSet {
    /// True for `$` before the dispatcher expanded it.
    pub fn is_saved(&self) -> bool {
        matches!(self, SequenceSet::Saved)
    }

    /// The ranges as the client wrote them (none for `$`).
    pub fn items(&self) -> &[(SeqNumber, SeqNumber)] {
        match self {
            SequenceSet::Saved => &[],
            SequenceSet::Ranges(r) => r,
        }
    }

    /// A set naming exactly `numbers` (ascending), runs folded into
    /// ranges: `2,4:6`.
    pub fn from_sorted(numbers: &[u32]) -> SequenceSet {
        let mut ranges: Vec<(SeqNumber, SeqNumber)> = Vec::new();
        let mut run: Option<(u32, u32)> = None;
        for &n in numbers {
            run = match run {
                Some((lo, hi)) if hi.checked_add(1) == Some(n) => Some((lo, n)),
                Some((lo, hi)) if hi == n => Some((lo, hi)),
                Some((lo, hi)) => {
                    ranges.push((SeqNumber::Value(lo), SeqNumber::Value(hi)));
                    Some((n, n))
                }
                None => Some((n, n)),
            };
        }
        if let Some((lo, hi)) = run {
            ranges.push((SeqNumber::Value(lo), SeqNumber::Value(hi)));
        }
        SequenceSet::Ranges(ranges)
    }

    /// The set as sorted, merged ranges, with `*` standing for `last`
    /// (RFC 3501 §9: `a:b` and `b:a` are the same range). However many
    /// overlapping ranges a client sends (`1:*,1:*,…`), the result has at
    /// most one range per disjoint run, so nothing downstream grows with
    /// the repetition.
    pub fn ranges(&self, last: u32) -> SeqRanges {
        let value = |s: SeqNumber| match s {
            SeqNumber::Value(v) => v,
            SeqNumber::Last => last,
        };
        SeqRanges::new(
            self.items()
                .iter()
                .map(|&(a, b)| {
                    let (a, b) = (value(a), value(b));
                    (a.min(b), a.max(b))
                })
                .collect(),
        )
    }
}

/// Sorted, non-overlapping, non-adjacent inclusive ranges of numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqRanges(Vec<(u32, u32)>);

impl SeqRanges {
    /// Normalises `(lo, hi)` pairs (each `lo <= hi`): sorts and merges.
    pub fn new(mut v: Vec<(u32, u32)>) -> SeqRanges {
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len().min(1024));
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        SeqRanges(out)
    }

    /// Whether `n` is in one of the ranges (a binary search).
    pub fn contains(&self, n: u32) -> bool {
        let i = self.0.partition_point(|&(_, hi)| hi < n);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= n)
    }

    /// The ranges, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.0.iter().copied()
    }
}

impl CommandBody {
    /// The command's name as the RFC spells it, for logs and replies.
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Id(_) => "ID",
            CommandBody::CancelUpdate(_) => "CANCELUPDATE",
            CommandBody::Replace { uid: false, .. } => "REPLACE",
            CommandBody::Replace { uid: true, .. } => "UID REPLACE",
            CommandBody::Unauthenticate => "UNAUTHENTICATE",
            CommandBody::Select {
                read_only: false, ..
            } => "SELECT",
            CommandBody::Select {
                read_only: true, ..
            } => "EXAMINE",
            CommandBody::Create { .. } => "CREATE",
            CommandBody::Delete { .. } => "DELETE",
            CommandBody::Rename { .. } => "RENAME",
            CommandBody::Subscribe { on: true, .. } => "SUBSCRIBE",
            CommandBody::Subscribe { on: false, .. } => "UNSUBSCRIBE",
            CommandBody::List { lsub: false, .. } => "LIST",
            CommandBody::List { lsub: true, .. } => "LSUB",
            CommandBody::Status { .. } => "STATUS",
            CommandBody::Append { .. } => "APPEND",
            CommandBody::Check => "CHECK",
            CommandBody::Idle => "IDLE",
            CommandBody::Close => "CLOSE",
            CommandBody::Unselect => "UNSELECT",
            CommandBody::Expunge { uids: None } => "EXPUNGE",
            CommandBody::Expunge { uids: Some(_) } => "UID EXPUNGE",
            CommandBody::Search { uid: false, .. } => "SEARCH",
            CommandBody::Search { uid: true, .. } => "UID SEARCH",
            CommandBody::Sort { uid: false, .. } => "SORT",
            CommandBody::Sort { uid: true, .. } => "UID SORT",
            CommandBody::Thread { uid: false, .. } => "THREAD",
            CommandBody::Thread { uid: true, .. } => "UID THREAD",
            CommandBody::Copy {
                uid: false,
                is_move: false,
                ..
            } => "COPY",
            CommandBody::Copy {
                uid: true,
                is_move: false,
                ..
            } => "UID COPY",
            CommandBody::Copy {
                uid: false,
                is_move: true,
                ..
            } => "MOVE",
            CommandBody::Copy {
                uid: true,
                is_move: true,
                ..
            } => "UID MOVE",
            CommandBody::Fetch { uid: false, .. } => "FETCH",
            CommandBody::Fetch { uid: true, .. } => "UID FETCH",
            CommandBody::Store { uid: false, .. } => "STORE",
            CommandBody::Store { uid: true, .. } => "UID STORE",
            CommandBody::Namespace => "NAMESPACE",
            CommandBody::GetQuota { .. } => "GETQUOTA",
            CommandBody::GetQuotaRoot { .. } => "GETQUOTAROOT",
            CommandBody::SetQuota { .. } => "SETQUOTA",
            CommandBody::Enable(_) => "ENABLE",
            CommandBody::Compress { .. } => "COMPRESS",
            CommandBody::ListExtended(_) => "LIST",
            CommandBody::CreateSpecialUse { .. } => "CREATE",
            CommandBody::GetMetadata(_) => "GETMETADATA",
            CommandBody::SetMetadata { .. } => "SETMETADATA",
            CommandBody::Notify(_) => "NOTIFY",
            CommandBody::MultiSearch { .. } => "ESEARCH",
            CommandBody::Acl { cmd, .. } => match cmd {
                AclCommand::Get => "GETACL",
                AclCommand::MyRights => "MYRIGHTS",
                AclCommand::ListRights(_) => "LISTRIGHTS",
                AclCommand::Set(..) => "SETACL",
                AclCommand::Delete(_) => "DELETEACL",
            },
        }
    }
}

/// Debug never shows credentials: LOGIN and AUTHENTICATE hold secrets.
impl std::fmt::Debug for CommandBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandBody::Login { user, .. } => f
                .debug_struct("Login")
                .field("user", &String::from_utf8_lossy(user))
                .field("password", &"<redacted>")
                .finish(),
            CommandBody::Authenticate { mechanism, initial } => f
                .debug_struct("Authenticate")
                .field("mechanism", mechanism)
                .field("initial", &initial.as_ref().map(|_| "<redacted>"))
                .finish(),
            CommandBody::Id(params) => f.debug_tuple("Id").field(params).finish(),
            CommandBody::Append { mailbox, messages } => f
                .debug_struct("Append")
                .field("mailbox", &String::from_utf8_lossy(mailbox))
                .field("messages", messages)
                .finish(),
            CommandBody::Select { mailbox, .. }
            | CommandBody::Create { mailbox }
            | CommandBody::Delete { mailbox }
            | CommandBody::Subscribe { mailbox, .. }
            | CommandBody::Status { mailbox, .. } => {
                write!(f, "{} {:?}", self.name(), String::from_utf8_lossy(mailbox))
            }
            CommandBody::Rename { from, to } => write!(
                f,
                "RENAME {:?} {:?}",
                String::from_utf8_lossy(from),
                String::from_utf8_lossy(to)
            ),
            CommandBody::List {
                reference, pattern, ..
            } => write!(
                f,
                "{} {:?} {:?}",
                self.name(),
                String::from_utf8_lossy(reference),
                String::from_utf8_lossy(pattern)
            ),
            CommandBody::Expunge { uids: Some(set) } => write!(f, "UID EXPUNGE {set:?}"),
            other => f.write_str(other.name()),
        }
    }
}

/// How deeply keys may nest: every `(`, NOT and OR operand is one level.
/// Real clients stay in single digits; the bound keeps the recursive parser
/// and evaluator far from the end of the stack.
pub const MAX_NESTING: usize = 64;

/// `search-key` (RFC 3501 §9), one variant per alternative of the rule, so
/// later extensions (MODSEQ, `$`) are one more variant each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Bcc(Vec<u8>),
    Before(SearchDate),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    Deleted,
    Draft,
    Flagged,
    From(Vec<u8>),
    /// `"HEADER" SP header-fld-name SP astring`
    Header(Vec<u8>, Vec<u8>),
    /// `"KEYWORD" SP flag-keyword`; a `\`-flag here names no keyword.
    Keyword(Vec<u8>),
    /// RFC 9051 widens the size to `number64`.
    Larger(u64),
    /// RFC 5032: received more than (or exactly) this many seconds ago.
    Older(u32),
    /// RFC 5032: received at most this many seconds ago.
    Younger(u32),
    New,
    Not(Box<SearchKey>),
    Old,
    On(SearchDate),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(SearchDate),
    SentOn(SearchDate),
    SentSince(SearchDate),
    Since(SearchDate),
    Smaller(u64),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    /// `"UID" SP sequence-set`: unique identifiers.
    Uid(SequenceSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(Vec<u8>),
    Unseen,
    /// A bare `sequence-set`: message sequence numbers, in UID SEARCH too.
    SequenceSet(SequenceSet),
    /// `"(" search-key *(SP search-key) ")"`: all of them.
    And(Vec<SearchKey>),
    /// RFC 7162 §3.1.5 `"MODSEQ" [SP entry-name SP entry-type-req] SP
    /// mod-sequence-valzer`; Roost keeps one modseq per message, so the
    /// entry name and type are checked and then ignored, as the RFC says.
    Modseq(u64),
    /// RFC 8514 SAVEDBEFORE / SAVEDON / SAVEDSINCE: the save date's day.
    SavedBefore(SearchDate),
    SavedOn(SearchDate),
    SavedSince(SearchDate),
    /// RFC 8514 SAVEDATESUPPORTED: every mailbox here keeps save dates.
    SaveDateSupported,
    /// RFC 8474 §6: `"EMAILID" SP objectid`, `"THREADID" SP objectid`.
    EmailId(String),
    ThreadId(String),
}

/// `date = date-text / DQUOTE date-text DQUOTE`, a calendar day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SearchDate {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl SearchDate {
    /// Days since 1970-01-01.
    pub fn days(&self) -> i64 {
        crate::datetime::days_from_civil(
            i64::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_sorted_and_merged() {
        let v = SeqNumber::Value;
        let set = SequenceSet::Ranges(vec![
            (v(9), v(7)),
            (SeqNumber::Last, v(20)),
            (v(1), v(3)),
            (v(4), v(4)),
            (v(2), v(2)),
            (v(1), SeqNumber::Last),
        ]);
        assert_eq!(set.ranges(5).iter().collect::<Vec<_>>(), vec![(1, 20)]);
        let set = SequenceSet::Ranges(vec![
            (v(9), v(7)),
            (v(1), v(3)),
            (v(4), v(4)),
            (v(12), SeqNumber::Last),
        ]);
        let r = set.ranges(11);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(1, 4), (7, 9), (11, 12)]);
        assert!(
            r.contains(4) && r.contains(11) && !r.contains(5) && !r.contains(10) && !r.contains(13)
        );
        assert!(!SequenceSet::Ranges(vec![]).ranges(3).contains(1));
    }
}
