//! SEARCH evaluation (RFC 3501 §6.4.4): parsed keys become a [`Query`],
//! which decides message by message whether it matches.
//!
//! # Cheap first
//!
//! Keys compile into a tree of AND / OR / NOT over leaves, and each leaf is
//! ranked by what it needs: flags and numbers (free), the file's mtime or
//! size (a `stat`, or nothing when the name carries `,W=`), the header (a
//! partial read), the whole message. AND and OR try their children
//! cheapest first and stop once the outcome is known, so `UNSEEN FROM x`
//! reads only the unseen messages' headers.
//!
//! # Three-valued logic
//!
//! As in Dovecot, a leaf whose data cannot be had (the message was
//! expunged by another session but still has its number here) is
//! *unknown*: NOT unknown is unknown, and a message matches only when the
//! whole query is true. Because that logic is monotone, a first pass that
//! knows only flags and sizes settles every message whose outcome does not
//! depend on the rest, and only the others are read ([`IndexOnly`], then
//! [`MessageFile`]).
//!
//! # Dates
//!
//! SINCE, ON and BEFORE compare the UTC calendar day of the internal date
//! (the file's mtime), the zone Roost shows INTERNALDATE in; Dovecot uses
//! the server's local zone, which is the same on a UTC host. SENT* compare
//! the day written in the Date header, whatever its zone (RFC 3501
//! §6.4.4).
//!
//! # Text
//!
//! Strings match as substrings of decoded text: RFC 2047 encoded words,
//! base64 and quoted-printable bodies, charsets converted to UTF-8. Both
//! sides are folded as Dovecot's i;unicode-casemap does it (RFC 5051:
//! titlecase, then decompose), so `é` matches `É`, and `cafe` matches the
//! start of `café`. Which text each key sees follows Dovecot 2.3: see
//! [`mime`] and [`address`].

use crate::proto::search::{SearchDate, SearchKey};
use crate::proto::types::{SeqNumber, SeqRanges, SequenceSet};
use crate::store::maildir::{flag, Flags};
use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;

/// The charsets SEARCH accepts, as listed in `[BADCHARSET (...)]`. Search
/// strings are matched as UTF-8; US-ASCII is a subset of it.
pub const CHARSETS: [&str; 2] = ["US-ASCII", "UTF-8"];

/// Why a query cannot run.
#[derive(Debug, PartialEq, Eq)]
pub enum CompileError {
    /// Not one of [`CHARSETS`]: RFC 3501 §6.4.4 asks for a tagged NO with
    /// the BADCHARSET code.
    BadCharset,
    /// A search string is not valid UTF-8.
    NotUtf8,
}

/// What the numbers in sequence sets refer to: the session's view.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    /// Messages in the view (the value of `*` for sequence numbers).
    pub exists: u32,
    /// The highest UID in the view (the value of `*` for UIDs).
    pub last_uid: u32,
}

/// What is known about a message without reading it.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub msn: u32,
    pub uid: u32,
    pub flags: Flags,
    pub recent: bool,
    /// RFC 7162 mod-sequence (0 for a message expunged meanwhile).
    pub modseq: u64,
}

/// Why evaluating a message stopped.
#[derive(Debug)]
pub enum Stop {
    /// The file is gone: renamed by a flag change or expunged. The caller
    /// can look the message up again and retry.
    Gone,
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        if e.kind() == io::ErrorKind::NotFound {
            Stop::Gone
        } else {
            Stop::Io(e)
        }
    }
}

/// A message's contents as far as a source can supply them; `Ok(None)`
/// means "not available", which makes the leaf unknown.
pub trait MessageData {
    /// The internal date's calendar day (days since 1970-01-01, UTC).
    fn received_day(&mut self) -> Result<Option<i64>, Stop>;
    /// RFC822.SIZE.
    fn size(&mut self) -> Result<Option<u64>, Stop>;
    /// The top-level header fields.
    fn header(&mut self) -> Result<Option<&[mime::Field]>, Stop>;
    /// Every MIME part's searchable text.
    fn parts(&mut self) -> Result<Option<&[mime::PartText]>, Stop>;
    /// The top-level fields called `name` (case-insensitively). Sources
    /// that can pick them out without parsing the whole header do so.
    fn named(&mut self, name: &[u8]) -> Result<Option<Vec<mime::Field>>, Stop> {
        Ok(self.header()?.map(|fields| {
            fields
                .iter()
                .filter(|f| f.name().eq_ignore_ascii_case(name))
                .cloned()
                .collect()
        }))
    }
}

/// The first pass: nothing is read, only a size the file name gave.
pub struct IndexOnly {
    pub vsize: Option<u64>,
}

impl MessageData for IndexOnly {
    fn received_day(&mut self) -> Result<Option<i64>, Stop> {
        Ok(None)
    }
    fn size(&mut self) -> Result<Option<u64>, Stop> {
        Ok(self.vsize)
    }
    fn header(&mut self) -> Result<Option<&[mime::Field]>, Stop> {
        Ok(None)
    }
    fn parts(&mut self) -> Result<Option<&[mime::PartText]>, Stop> {
        Ok(None)
    }
}

/// A message file read lazily: a `stat` for the date, the header alone for
/// header keys, the rest only when a body key or an unknown size needs it.
/// Every byte is read at most once.
pub struct MessageFile {
    path: PathBuf,
    vsize: Option<u64>,
    learned_vsize: bool,
    file: Option<fs::File>,
    bytes: Vec<u8>,
    complete: bool,
    /// Where to resume looking for the end of the header.
    scan_from: usize,
    body_start: Option<usize>,
    fields: Option<Vec<mime::Field>>,
    parts: Option<Vec<mime::PartText>>,
    /// The header block from the FETCH cache, when a FETCH parsed this
    /// message before: header keys then read no file.
    cached_header: Option<std::sync::Arc<crate::store::cache::CachedMeta>>,
}

/// Reads are this large; most headers fit in one.
const READ_CHUNK: usize = 16 * 1024;

impl MessageFile {
    /// `vsize` is the size the state already knows, if any.
    pub fn new(path: PathBuf, vsize: Option<u64>) -> MessageFile {
        MessageFile {
            path,
            vsize,
            learned_vsize: false,
            file: None,
            bytes: Vec::new(),
            complete: false,
            scan_from: 0,
            body_start: None,
            fields: None,
            parts: None,
            cached_header: None,
        }
    }

    /// Uses a cached header block for header keys.
    pub fn with_cached(
        mut self,
        cached: Option<std::sync::Arc<crate::store::cache::CachedMeta>>,
    ) -> MessageFile {
        self.cached_header = cached;
        self
    }

    /// The size computed by reading the file, when the state did not have
    /// one; the caller may keep it.
    pub fn learned_vsize(&self) -> Option<u64> {
        self.vsize.filter(|_| self.learned_vsize)
    }

    fn open(&mut self) -> Result<&mut fs::File, Stop> {
        if self.file.is_none() {
            self.file = Some(crate::store::nofollow::open(&self.path)?);
        }
        self.file.as_mut().ok_or(Stop::Gone)
    }

    /// Reads until the blank line after the header (or the end).
    fn read_header(&mut self) -> Result<usize, Stop> {
        loop {
            if let Some(start) = self.body_start {
                return Ok(start);
            }
            match mime::body_start(&self.bytes, self.scan_from) {
                Ok(start) => self.body_start = Some(start),
                Err(resume) if self.complete => {
                    self.scan_from = resume;
                    self.body_start = Some(self.bytes.len());
                }
                Err(resume) => {
                    self.scan_from = resume;
                    self.read_more()?;
                }
            }
        }
    }

    fn read_more(&mut self) -> Result<(), Stop> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.open()?.read(&mut chunk)?;
        if n == 0 {
            self.complete = true;
        }
        self.bytes.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn read_all(&mut self) -> Result<&[u8], Stop> {
        if !self.complete {
            let mut rest = Vec::new();
            self.open()?.read_to_end(&mut rest)?;
            self.bytes.extend_from_slice(&rest);
            self.complete = true;
        }
        Ok(&self.bytes)
    }
}

impl MessageData for MessageFile {
    fn received_day(&mut self) -> Result<Option<i64>, Stop> {
        // Maildir keeps the internal date as the file's mtime.
        let meta = match &self.file {
            Some(f) => f.metadata()?,
            None => fs::metadata(&self.path)?,
        };
        let secs = match meta.modified()?.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64) - 1,
        };
        Ok(Some(secs.div_euclid(86_400)))
    }

    fn size(&mut self) -> Result<Option<u64>, Stop> {
        if self.vsize.is_none() {
            let size = crate::store::maildir::crlf_size(self.read_all()?);
            self.vsize = Some(size);
            self.learned_vsize = true;
        }
        Ok(self.vsize)
    }

    fn header(&mut self) -> Result<Option<&[mime::Field]>, Stop> {
        if self.fields.is_none() {
            let fields = match &self.cached_header {
                Some(c) => mime::parse_fields(&c.header),
                None => {
                    let end = self.read_header()?;
                    mime::parse_fields(&self.bytes[..end])
                }
            };
            self.fields = Some(fields);
        }
        Ok(self.fields.as_deref())
    }

    fn named(&mut self, name: &[u8]) -> Result<Option<Vec<mime::Field>>, Stop> {
        // From the cached header, pick the fields out without building the
        // others (a warm SEARCH FROM looks at every message's header).
        if let (None, Some(c)) = (&self.fields, &self.cached_header) {
            return Ok(Some(mime::parse_named(&c.header, name)));
        }
        Ok(self.header()?.map(|fields| {
            fields
                .iter()
                .filter(|f| f.name().eq_ignore_ascii_case(name))
                .cloned()
                .collect()
        }))
    }

    fn parts(&mut self) -> Result<Option<&[mime::PartText]>, Stop> {
        if self.parts.is_none() {
            let bytes = self.read_all()?;
            self.parts = Some(mime::part_texts(bytes));
        }
        Ok(self.parts.as_deref())
    }
}

/// A compiled SEARCH.
#[derive(Debug)]
pub struct Query {
    root: Node,
}

/// What a leaf costs to decide; children are tried in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cost {
    Index,
    Stat,
    Header,
    Body,
}

#[derive(Clone, Copy, Debug)]
enum DateCmp {
    Before,
    On,
    Since,
}

impl DateCmp {
    fn test(self, day: i64, key: i64) -> bool {
        match self {
            DateCmp::Before => day < key,
            DateCmp::On => day == key,
            DateCmp::Since => day >= key,
        }
    }
}

/// Which form of a header field a string is matched against (Dovecot 2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldForm {
    /// HEADER: the unfolded value, encoded words decoded.
    Plain,
    /// SUBJECT: runs of blanks squeezed to one space first.
    Squeezed,
    /// FROM, TO, CC, BCC: the address list rewritten (see [`address`]).
    Address,
}

/// Sequence-set leaves of a SEARCH program, as merged ranges.
struct Ranges;

impl Ranges {
    /// Sequence numbers as Dovecot reads them: `*` alone is the last
    /// message, but a range with `*` at one end runs from its other end
    /// upward, so `4:*` in a mailbox of three matches nothing; numbers past
    /// the end are no error (RFC 9051 §9 would have a BAD).
    fn sequence(set: &SequenceSet, exists: u32) -> SeqRanges {
        SeqRanges::new(
            set.0
                .iter()
                .map(|&(a, b)| match (a, b) {
                    (SeqNumber::Last, SeqNumber::Last) => (exists, exists),
                    (SeqNumber::Value(v), SeqNumber::Last)
                    | (SeqNumber::Last, SeqNumber::Value(v)) => (v, u32::MAX),
                    (SeqNumber::Value(x), SeqNumber::Value(y)) => (x.min(y), x.max(y)),
                })
                .collect(),
        )
    }

    /// UIDs (RFC 9051 §9 seq-range): `*` is the highest UID, so `4:*`
    /// always includes the last message.
    fn uids(set: &SequenceSet, last: u32) -> SeqRanges {
        set.ranges(last)
    }
}

#[derive(Debug)]
enum Leaf {
    Flag(u8),
    Recent,
    Keyword(u8),
    Sequence(SeqRanges),
    Uid(SeqRanges),
    Received(DateCmp, i64),
    Sent(DateCmp, i64),
    Larger(u64),
    Smaller(u64),
    Modseq(u64),
    /// A header field by name; an empty needle asks only that it exists.
    Header {
        name: Vec<u8>,
        form: FieldForm,
        needle: String,
    },
    Body(String),
    Text(String),
}

impl Leaf {
    fn cost(&self) -> Cost {
        match self {
            Leaf::Flag(_)
            | Leaf::Recent
            | Leaf::Keyword(_)
            | Leaf::Sequence(_)
            | Leaf::Uid(_)
            | Leaf::Modseq(_) => Cost::Index,
            Leaf::Received(..) | Leaf::Larger(_) | Leaf::Smaller(_) => Cost::Stat,
            Leaf::Sent(..) | Leaf::Header { .. } => Cost::Header,
            Leaf::Body(_) | Leaf::Text(_) => Cost::Body,
        }
    }
}

#[derive(Debug)]
enum Node {
    Const(bool),
    Leaf(Leaf),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

impl Node {
    fn cost(&self) -> Cost {
        match self {
            Node::Const(_) => Cost::Index,
            Node::Leaf(l) => l.cost(),
            Node::Not(n) => n.cost(),
            Node::And(v) | Node::Or(v) => v.iter().map(Node::cost).max().unwrap_or(Cost::Index),
        }
    }

    fn not(self) -> Node {
        match self {
            Node::Const(b) => Node::Const(!b),
            Node::Not(inner) => *inner,
            n => Node::Not(Box::new(n)),
        }
    }

    /// AND or OR of `children`: nested ones of the same kind are flattened,
    /// constants folded, and the rest ordered cheapest first.
    fn join(is_and: bool, children: Vec<Node>) -> Node {
        let mut flat = Vec::with_capacity(children.len());
        for c in children {
            match c {
                Node::And(v) if is_and => flat.extend(v),
                Node::Or(v) if !is_and => flat.extend(v),
                // The neutral element drops out; the absorbing one decides.
                Node::Const(b) if b == is_and => {}
                Node::Const(b) => return Node::Const(b),
                n => flat.push(n),
            }
        }
        if flat.len() == 1 {
            return flat.remove(0);
        }
        if flat.is_empty() {
            return Node::Const(is_and);
        }
        flat.sort_by_key(Node::cost);
        if is_and {
            Node::And(flat)
        } else {
            Node::Or(flat)
        }
    }
}

/// Kleene AND / OR over children, stopping at the first decisive one.
fn eval_all(
    nodes: &[Node],
    decisive: bool,
    m: &Facts,
    data: &mut dyn MessageData,
) -> Result<Option<bool>, Stop> {
    let mut unknown = false;
    for n in nodes {
        match eval(n, m, data)? {
            Some(v) if v == decisive => return Ok(Some(decisive)),
            Some(_) => {}
            None => unknown = true,
        }
    }
    Ok(if unknown { None } else { Some(!decisive) })
}

fn eval(node: &Node, m: &Facts, data: &mut dyn MessageData) -> Result<Option<bool>, Stop> {
    match node {
        Node::Const(b) => Ok(Some(*b)),
        Node::Not(n) => Ok(eval(n, m, data)?.map(|v| !v)),
        Node::And(v) => eval_all(v, false, m, data),
        Node::Or(v) => eval_all(v, true, m, data),
        Node::Leaf(l) => eval_leaf(l, m, data),
    }
}

fn eval_leaf(leaf: &Leaf, m: &Facts, data: &mut dyn MessageData) -> Result<Option<bool>, Stop> {
    Ok(Some(match leaf {
        Leaf::Flag(bit) => m.flags.has(*bit),
        Leaf::Recent => m.recent,
        Leaf::Keyword(i) => m.flags.has_keyword(*i),
        Leaf::Sequence(r) => r.contains(m.msn),
        Leaf::Uid(r) => r.contains(m.uid),
        Leaf::Modseq(n) => m.modseq >= *n,
        Leaf::Larger(n) => match data.size()? {
            Some(size) => size > *n,
            None => return Ok(None),
        },
        Leaf::Smaller(n) => match data.size()? {
            Some(size) => size < *n,
            None => return Ok(None),
        },
        Leaf::Received(cmp, key) => match data.received_day()? {
            Some(day) => cmp.test(day, *key),
            None => return Ok(None),
        },
        Leaf::Sent(cmp, key) => match data.named(b"Date")? {
            // Dovecot: a missing or unreadable Date counts as 1-Jan-1970.
            Some(fields) => {
                let day = fields
                    .first()
                    .and_then(|f| sent_date::day(f.value()))
                    .unwrap_or(0);
                cmp.test(day, *key)
            }
            None => return Ok(None),
        },
        Leaf::Header { name, form, needle } => match data.named(name)? {
            Some(fields) => fields
                .iter()
                .any(|f| needle.is_empty() || field_text(f, *form).contains(needle.as_str())),
            None => return Ok(None),
        },
        Leaf::Body(needle) => match data.parts()? {
            Some(parts) => parts.iter().any(|p| p.body().contains(needle.as_str())),
            None => return Ok(None),
        },
        Leaf::Text(needle) => match data.parts()? {
            Some(parts) => parts.iter().any(|p| p.text.contains(needle.as_str())),
            None => return Ok(None),
        },
    }))
}

/// A header field's value in the form a key matches, decoded and folded.
fn field_text(f: &mime::Field, form: FieldForm) -> String {
    let decoded = match form {
        FieldForm::Plain => mime::decode_words(f.value()),
        FieldForm::Squeezed => mime::decode_words(&squeeze_blanks(f.value())),
        FieldForm::Address => mime::decode_words(&address::normalize(f.value())),
    };
    fold::fold(&decoded)
}

/// Runs of spaces and tabs become one space; leading ones go (Dovecot's
/// SUBJECT matching).
fn squeeze_blanks(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut prev_blank = true;
    for &b in value {
        if b == b' ' || b == b'\t' {
            if !prev_blank {
                out.push(b' ');
            }
            prev_blank = true;
        } else {
            out.push(b);
            prev_blank = false;
        }
    }
    out
}

impl Query {
    /// Compiles the keys of one SEARCH. `keyword` maps a keyword name to
    /// its index in the mailbox (`None`: no message can have it).
    pub fn compile(
        keys: &[SearchKey],
        charset: Option<&str>,
        scope: Scope,
        keyword: impl Fn(&str) -> Option<u8>,
    ) -> Result<Query, CompileError> {
        if let Some(name) = charset {
            if !CHARSETS.iter().any(|c| c.eq_ignore_ascii_case(name.trim())) {
                return Err(CompileError::BadCharset);
            }
        }
        let c = Compiler {
            scope,
            keyword: &keyword,
        };
        let nodes = keys
            .iter()
            .map(|k| c.node(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Query {
            root: Node::join(true, nodes),
        })
    }

    /// Whether a message matches: `Some(true)` yes, `Some(false)` no,
    /// `None` when it depends on data `data` could not supply.
    pub fn eval(&self, m: &Facts, data: &mut dyn MessageData) -> Result<Option<bool>, Stop> {
        eval(&self.root, m, data)
    }

    /// Whether any key needs more than flags and numbers.
    pub fn reads_messages(&self) -> bool {
        self.root.cost() > Cost::Index
    }
}

struct Compiler<'a> {
    scope: Scope,
    keyword: &'a dyn Fn(&str) -> Option<u8>,
}

impl Compiler<'_> {
    fn node(&self, key: &SearchKey) -> Result<Node, CompileError> {
        use SearchKey as K;
        let leaf = |l: Leaf| -> Result<Node, CompileError> { Ok(Node::Leaf(l)) };
        let day = |d: &SearchDate| d.days();
        match key {
            K::All => Ok(Node::Const(true)),
            K::Answered => leaf(Leaf::Flag(flag::ANSWERED)),
            K::Deleted => leaf(Leaf::Flag(flag::DELETED)),
            K::Draft => leaf(Leaf::Flag(flag::DRAFT)),
            K::Flagged => leaf(Leaf::Flag(flag::FLAGGED)),
            K::Seen => leaf(Leaf::Flag(flag::SEEN)),
            K::Recent => leaf(Leaf::Recent),
            K::Unanswered => Ok(Node::Leaf(Leaf::Flag(flag::ANSWERED)).not()),
            K::Undeleted => Ok(Node::Leaf(Leaf::Flag(flag::DELETED)).not()),
            K::Undraft => Ok(Node::Leaf(Leaf::Flag(flag::DRAFT)).not()),
            K::Unflagged => Ok(Node::Leaf(Leaf::Flag(flag::FLAGGED)).not()),
            K::Unseen => Ok(Node::Leaf(Leaf::Flag(flag::SEEN)).not()),
            // RFC 3501: NEW is RECENT UNSEEN, OLD is NOT RECENT.
            K::New => Ok(Node::join(
                true,
                vec![
                    Node::Leaf(Leaf::Recent),
                    Node::Leaf(Leaf::Flag(flag::SEEN)).not(),
                ],
            )),
            K::Old => Ok(Node::Leaf(Leaf::Recent).not()),
            K::Keyword(name) => Ok(self.keyword_node(name)),
            K::Unkeyword(name) => Ok(self.keyword_node(name).not()),
            K::SequenceSet(set) => leaf(Leaf::Sequence(Ranges::sequence(set, self.scope.exists))),
            K::Uid(set) => leaf(Leaf::Uid(Ranges::uids(set, self.scope.last_uid))),
            K::Before(d) => leaf(Leaf::Received(DateCmp::Before, day(d))),
            K::On(d) => leaf(Leaf::Received(DateCmp::On, day(d))),
            K::Since(d) => leaf(Leaf::Received(DateCmp::Since, day(d))),
            K::SentBefore(d) => leaf(Leaf::Sent(DateCmp::Before, day(d))),
            K::SentOn(d) => leaf(Leaf::Sent(DateCmp::On, day(d))),
            K::SentSince(d) => leaf(Leaf::Sent(DateCmp::Since, day(d))),
            K::Larger(n) => leaf(Leaf::Larger(*n)),
            K::Modseq(n) => leaf(Leaf::Modseq(*n)),
            K::Smaller(n) => leaf(Leaf::Smaller(*n)),
            K::Bcc(s) => self.header(b"Bcc", FieldForm::Address, s),
            K::Cc(s) => self.header(b"Cc", FieldForm::Address, s),
            K::From(s) => self.header(b"From", FieldForm::Address, s),
            K::To(s) => self.header(b"To", FieldForm::Address, s),
            K::Subject(s) => self.header(b"Subject", FieldForm::Squeezed, s),
            K::Header(name, s) => self.header(name, FieldForm::Plain, s),
            // An empty string is in every text (Dovecot: matches all).
            K::Body(s) => Ok(match needle(s)? {
                n if n.is_empty() => Node::Const(true),
                n => Node::Leaf(Leaf::Body(n)),
            }),
            K::Text(s) => Ok(match needle(s)? {
                n if n.is_empty() => Node::Const(true),
                n => Node::Leaf(Leaf::Text(n)),
            }),
            K::Not(k) => Ok(self.node(k)?.not()),
            K::Or(a, b) => Ok(Node::join(false, vec![self.node(a)?, self.node(b)?])),
            K::And(keys) => Ok(Node::join(
                true,
                keys.iter()
                    .map(|k| self.node(k))
                    .collect::<Result<Vec<_>, _>>()?,
            )),
        }
    }

    fn keyword_node(&self, name: &[u8]) -> Node {
        // A keyword the mailbox does not define is set on no message.
        match std::str::from_utf8(name)
            .ok()
            .and_then(|n| (self.keyword)(n))
        {
            Some(i) => Node::Leaf(Leaf::Keyword(i)),
            None => Node::Const(false),
        }
    }

    fn header(&self, name: &[u8], form: FieldForm, s: &[u8]) -> Result<Node, CompileError> {
        Ok(Node::Leaf(Leaf::Header {
            name: name.to_vec(),
            form,
            needle: needle(s)?,
        }))
    }
}

/// A search string as matched: UTF-8, folded.
fn needle(s: &[u8]) -> Result<String, CompileError> {
    let s = std::str::from_utf8(s).map_err(|_| CompileError::NotUtf8)?;
    Ok(fold::fold(s))
}

/// Case folding for matching, after Dovecot's i;unicode-casemap (RFC 5051):
/// each character is titlecased, then decomposed, and the result is not
/// cased again (`ª` becomes a lower-case `a`, as in Dovecot). Decomposition
/// covers Latin-1, Latin Extended-A and fullwidth ASCII; other characters
/// are kept whole, where Dovecot would decompose them too.
pub mod fold {
    /// `s` folded.
    pub fn fold(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        fold_into(&mut out, s);
        out
    }

    /// Appends `s` folded to `out`.
    pub fn fold_into(out: &mut String, s: &str) {
        let mut rest = s;
        while !rest.is_empty() {
            // Mail is mostly ASCII: upper-case whole runs at once.
            let ascii = rest.bytes().position(|b| b >= 0x80).unwrap_or(rest.len());
            if ascii > 0 {
                let start = out.len();
                out.push_str(&rest[..ascii]);
                if let Some(run) = out.get_mut(start..) {
                    run.make_ascii_uppercase();
                }
                rest = &rest[ascii..];
                continue;
            }
            let Some(c) = rest.chars().next() else { break };
            rest = &rest[c.len_utf8()..];
            let t = titlecase(c);
            let cp = t as u32;
            if (0xFF01..=0xFF5E).contains(&cp) {
                // Fullwidth forms decompose to ASCII (compatibility).
                out.push(char::from_u32(cp - 0xFEE0).unwrap_or(t));
            } else if let Ok(i) = DECOMPOSED.binary_search_by_key(&t, |&(c, _)| c) {
                out.push_str(DECOMPOSED[i].1);
            } else {
                out.push(t);
            }
        }
    }

    /// Simple titlecase: the uppercase letter, except for the digraphs that
    /// have a title form of their own; characters whose uppercase is more
    /// than one character (ß) stay as they are, as with Unicode's simple
    /// mappings.
    fn titlecase(c: char) -> char {
        match c as u32 {
            0x01C4..=0x01C6 => '\u{1C5}',
            0x01C7..=0x01C9 => '\u{1C8}',
            0x01CA..=0x01CC => '\u{1CB}',
            0x01F1..=0x01F3 => '\u{1F2}',
            _ => {
                let mut up = c.to_uppercase();
                match (up.next(), up.next()) {
                    (Some(u), None) => u,
                    _ => c,
                }
            }
        }
    }

    /// Full compatibility decompositions (NFKD) of the characters from
    /// U+00A0 to U+017F that can remain after titlecasing. Sorted.
    const DECOMPOSED: &[(char, &str)] = &[
        ('\u{A0}', " "),
        ('\u{A8}', " \u{308}"),
        ('\u{AA}', "a"),
        ('\u{AF}', " \u{304}"),
        ('\u{B2}', "2"),
        ('\u{B3}', "3"),
        ('\u{B4}', " \u{301}"),
        ('\u{B8}', " \u{327}"),
        ('\u{B9}', "1"),
        ('\u{BA}', "o"),
        ('\u{BC}', "1\u{2044}4"),
        ('\u{BD}', "1\u{2044}2"),
        ('\u{BE}', "3\u{2044}4"),
        ('\u{C0}', "A\u{300}"),
        ('\u{C1}', "A\u{301}"),
        ('\u{C2}', "A\u{302}"),
        ('\u{C3}', "A\u{303}"),
        ('\u{C4}', "A\u{308}"),
        ('\u{C5}', "A\u{30A}"),
        ('\u{C7}', "C\u{327}"),
        ('\u{C8}', "E\u{300}"),
        ('\u{C9}', "E\u{301}"),
        ('\u{CA}', "E\u{302}"),
        ('\u{CB}', "E\u{308}"),
        ('\u{CC}', "I\u{300}"),
        ('\u{CD}', "I\u{301}"),
        ('\u{CE}', "I\u{302}"),
        ('\u{CF}', "I\u{308}"),
        ('\u{D1}', "N\u{303}"),
        ('\u{D2}', "O\u{300}"),
        ('\u{D3}', "O\u{301}"),
        ('\u{D4}', "O\u{302}"),
        ('\u{D5}', "O\u{303}"),
        ('\u{D6}', "O\u{308}"),
        ('\u{D9}', "U\u{300}"),
        ('\u{DA}', "U\u{301}"),
        ('\u{DB}', "U\u{302}"),
        ('\u{DC}', "U\u{308}"),
        ('\u{DD}', "Y\u{301}"),
        ('\u{100}', "A\u{304}"),
        ('\u{102}', "A\u{306}"),
        ('\u{104}', "A\u{328}"),
        ('\u{106}', "C\u{301}"),
        ('\u{108}', "C\u{302}"),
        ('\u{10A}', "C\u{307}"),
        ('\u{10C}', "C\u{30C}"),
        ('\u{10E}', "D\u{30C}"),
        ('\u{112}', "E\u{304}"),
        ('\u{114}', "E\u{306}"),
        ('\u{116}', "E\u{307}"),
        ('\u{118}', "E\u{328}"),
        ('\u{11A}', "E\u{30C}"),
        ('\u{11C}', "G\u{302}"),
        ('\u{11E}', "G\u{306}"),
        ('\u{120}', "G\u{307}"),
        ('\u{122}', "G\u{327}"),
        ('\u{124}', "H\u{302}"),
        ('\u{128}', "I\u{303}"),
        ('\u{12A}', "I\u{304}"),
        ('\u{12C}', "I\u{306}"),
        ('\u{12E}', "I\u{328}"),
        ('\u{130}', "I\u{307}"),
        ('\u{132}', "IJ"),
        ('\u{134}', "J\u{302}"),
        ('\u{136}', "K\u{327}"),
        ('\u{139}', "L\u{301}"),
        ('\u{13B}', "L\u{327}"),
        ('\u{13D}', "L\u{30C}"),
        ('\u{13F}', "L\u{B7}"),
        ('\u{143}', "N\u{301}"),
        ('\u{145}', "N\u{327}"),
        ('\u{147}', "N\u{30C}"),
        ('\u{149}', "\u{2BC}n"),
        ('\u{14C}', "O\u{304}"),
        ('\u{14E}', "O\u{306}"),
        ('\u{150}', "O\u{30B}"),
        ('\u{154}', "R\u{301}"),
        ('\u{156}', "R\u{327}"),
        ('\u{158}', "R\u{30C}"),
        ('\u{15A}', "S\u{301}"),
        ('\u{15C}', "S\u{302}"),
        ('\u{15E}', "S\u{327}"),
        ('\u{160}', "S\u{30C}"),
        ('\u{162}', "T\u{327}"),
        ('\u{164}', "T\u{30C}"),
        ('\u{168}', "U\u{303}"),
        ('\u{16A}', "U\u{304}"),
        ('\u{16C}', "U\u{306}"),
        ('\u{16E}', "U\u{30A}"),
        ('\u{170}', "U\u{30B}"),
        ('\u{172}', "U\u{328}"),
        ('\u{174}', "W\u{302}"),
        ('\u{176}', "Y\u{302}"),
        ('\u{178}', "Y\u{308}"),
        ('\u{179}', "Z\u{301}"),
        ('\u{17B}', "Z\u{307}"),
        ('\u{17D}', "Z\u{30C}"),
    ];
}

/// Messages as text to search: header fields, the MIME tree, transfer
/// encodings, charsets, RFC 2047 encoded words.
///
/// What is searched follows Dovecot 2.3: TEXT sees every part's header
/// fields (as `Name: decoded value`) and every text part's decoded body;
/// BODY sees the bodies only. A part is text when its type is `text/*` or
/// `message/*` (or missing: RFC 2045 §5.2 makes that text/plain);
/// attachments of other types, multipart preambles and epilogues are not
/// searched. A `message/rfc822` part's content is searched as a message of
/// its own, headers included. Matches do not span parts.
pub mod mime {
    use super::fold::fold_into;
    use std::borrow::Cow;

    /// MIME nesting and part counts past which the rest is not searched
    /// (Dovecot has the same limits); they bound the work a crafted
    /// message can cause.
    const MAX_DEPTH: usize = 100;
    const MAX_PARTS: usize = 10_000;

    /// One header field, in one buffer: `lead` (name, colon and blanks as
    /// written) then the value unfolded (each line break and the blank
    /// after it become one space, Dovecot's "clean one-line" form). One
    /// allocation per field: a SEARCH parses every header it looks at.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Field {
        buf: Vec<u8>,
        name: (usize, usize),
        value_start: usize,
    }

    impl Field {
        /// The name, without surrounding blanks.
        pub fn name(&self) -> &[u8] {
            &self.buf[self.name.0..self.name.1]
        }

        /// The line as written up to the value.
        pub fn lead(&self) -> &[u8] {
            &self.buf[..self.value_start]
        }

        pub fn value(&self) -> &[u8] {
            &self.buf[self.value_start..]
        }
    }

    /// One MIME part's searchable text, folded.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct PartText {
        /// Header lines, then the decoded body if the part is text.
        pub text: String,
        /// Where the body begins in `text`.
        pub body_start: usize,
    }

    impl PartText {
        pub fn body(&self) -> &str {
            self.text.get(self.body_start..).unwrap_or("")
        }
    }

    /// Where the body starts: just past the first empty line, searching
    /// from `from` (the start of a line). `Err` gives where to resume once
    /// more bytes have arrived.
    pub fn body_start(msg: &[u8], from: usize) -> Result<usize, usize> {
        let mut line = from.min(msg.len());
        while let Some(nl) = msg[line..].iter().position(|&b| b == b'\n') {
            let end = line + nl;
            let text = &msg[line..end];
            if text.is_empty() || text == b"\r" {
                return Ok(end + 1);
            }
            line = end + 1;
        }
        Err(line)
    }

    /// The lines of `data` without their line breaks.
    /// Lines without their [CR]LF, as `split` on LF gives them (a final
    /// empty line included), found with memchr: headers are searched a
    /// lot.
    fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
        let mut rest = Some(data);
        std::iter::from_fn(move || {
            let d = rest?;
            let line = match memchr::memchr(b'\n', d) {
                Some(i) => {
                    rest = Some(&d[i + 1..]);
                    &d[..i]
                }
                None => {
                    rest = None;
                    d
                }
            };
            Some(line.strip_suffix(b"\r").unwrap_or(line))
        })
    }

    /// The fields of a header block (which may include its empty line).
    pub fn parse_fields(header: &[u8]) -> Vec<Field> {
        let mut fields: Vec<Field> = Vec::new();
        for line in lines(header) {
            if line.is_empty() {
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                if let Some(f) = fields.last_mut() {
                    f.buf.push(b' ');
                    f.buf.extend_from_slice(&line[1..]);
                }
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                // Not a field; TEXT still sees the line.
                fields.push(Field {
                    buf: line.to_vec(),
                    name: (0, line.len()),
                    value_start: line.len(),
                });
                continue;
            };
            let mut start = colon + 1;
            while matches!(line.get(start), Some(b' ') | Some(b'\t')) {
                start += 1;
            }
            let head = &line[..colon];
            let name_start = head
                .iter()
                .position(|c| !c.is_ascii_whitespace())
                .unwrap_or(colon);
            let name_end = head
                .iter()
                .rposition(|c| !c.is_ascii_whitespace())
                .map_or(name_start, |e| e + 1);
            fields.push(Field {
                buf: line.to_vec(),
                name: (name_start, name_end),
                value_start: start,
            });
        }
        fields
    }

    /// The fields called `name` (case-insensitively) of a header block, as
    /// `parse_fields` would give them, without building the others.
    pub fn parse_named(header: &[u8], name: &[u8]) -> Vec<Field> {
        let mut out: Vec<Field> = Vec::new();
        let mut in_match = false;
        for line in lines(header) {
            if line.is_empty() {
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                if let (true, Some(f)) = (in_match, out.last_mut()) {
                    f.buf.push(b' ');
                    f.buf.extend_from_slice(&line[1..]);
                }
                continue;
            }
            // Cheap test first: the line must start with the name, perhaps
            // after blanks, as parse_fields trims them.
            let start = line
                .iter()
                .position(|c| !c.is_ascii_whitespace())
                .unwrap_or(line.len());
            in_match = line.len() >= start + name.len()
                && line[start..start + name.len()].eq_ignore_ascii_case(name);
            if in_match {
                let mut one = parse_fields(line);
                in_match = matches!(one.first(), Some(f) if f.name().eq_ignore_ascii_case(name));
                if in_match {
                    out.append(&mut one);
                }
            }
        }
        out
    }

    fn trim_blanks(b: &[u8]) -> &[u8] {
        let start = b
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .unwrap_or(b.len());
        let end = b
            .iter()
            .rposition(|c| !c.is_ascii_whitespace())
            .map_or(start, |e| e + 1);
        &b[start..end]
    }

    /// Every part's text, in the order the parts appear.
    pub fn part_texts(msg: &[u8]) -> Vec<PartText> {
        let mut out = Vec::new();
        let mut budget = MAX_PARTS;
        walk(msg, 0, false, &mut out, &mut budget);
        out
    }

    fn walk(
        data: &[u8],
        depth: usize,
        in_digest: bool,
        out: &mut Vec<PartText>,
        budget: &mut usize,
    ) {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let split = body_start(data, 0).unwrap_or(data.len());
        let fields = parse_fields(&data[..split]);
        let body = &data[split..];
        let header_value = |name: &[u8]| {
            fields
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
                .map(|f| f.value())
        };
        let ctype = match header_value(b"Content-Type") {
            Some(v) => ContentType::parse(v),
            // RFC 2046 §5.1.5: in a digest, parts are messages by default.
            None if in_digest => ContentType::named("message/rfc822"),
            None => ContentType::named("text/plain"),
        };
        let mut text = String::new();
        for f in &fields {
            fold_into(&mut text, &String::from_utf8_lossy(f.lead()));
            fold_into(&mut text, &decode_words(f.value()));
            text.push_str("\r\n");
        }
        let body_start = text.len();
        let nested = depth < MAX_DEPTH;
        if ctype.mime.starts_with("multipart/") {
            out.push(PartText { text, body_start });
            if let (Some(boundary), true) = (&ctype.boundary, nested) {
                let digest = ctype.mime == "multipart/digest";
                for part in split_multipart(body, boundary) {
                    walk(part, depth + 1, digest, out, budget);
                }
            }
        } else if ctype.mime == "message/rfc822" {
            out.push(PartText { text, body_start });
            if nested {
                walk(body, depth + 1, false, out, budget);
            }
        } else if ctype.mime.starts_with("text/") || ctype.mime.starts_with("message/") {
            let cte = header_value(b"Content-Transfer-Encoding").unwrap_or_default();
            let decoded = decode_transfer(body, cte);
            fold_into(&mut text, &to_utf8(&decoded, ctype.charset.as_deref()));
            out.push(PartText { text, body_start });
        } else {
            out.push(PartText { text, body_start });
        }
    }

    /// The parts of a multipart body (RFC 2046 §5.1.1): the text between
    /// delimiter lines `--boundary`, the line break before a delimiter
    /// belonging to it; `--boundary--` closes. A part left open runs to the
    /// end.
    fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
        let mut parts = Vec::new();
        let mut open: Option<usize> = None;
        let mut pos = 0;
        while pos < body.len() {
            let line_end = body[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.len(), |i| pos + i);
            let line = &body[pos..line_end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(close) = delimiter(line, boundary) {
                if let Some(start) = open {
                    let mut end = pos;
                    if end > start && body[end - 1] == b'\n' {
                        end -= 1;
                        if end > start && body[end - 1] == b'\r' {
                            end -= 1;
                        }
                    }
                    parts.push(&body[start..end]);
                }
                if close {
                    return parts;
                }
                open = Some((line_end + 1).min(body.len()));
            }
            pos = line_end + 1;
        }
        if let Some(start) = open {
            parts.push(&body[start..]);
        }
        parts
    }

    /// `Some(is_close)` if `line` is a delimiter for `boundary`.
    fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
        let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
        let (close, rest) = match rest.strip_prefix(b"--") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        rest.iter()
            .all(|&b| b == b' ' || b == b'\t')
            .then_some(close)
    }

    /// The parts of a Content-Type that matter here.
    #[derive(Debug, PartialEq, Eq)]
    pub struct ContentType {
        /// `type/subtype`, lower case.
        pub mime: String,
        pub boundary: Option<Vec<u8>>,
        pub charset: Option<String>,
    }

    impl ContentType {
        fn named(mime: &str) -> ContentType {
            ContentType {
                mime: mime.to_string(),
                boundary: None,
                charset: None,
            }
        }

        /// `type "/" subtype *(";" parameter)` (RFC 2045 §5.1), leniently.
        pub fn parse(value: &[u8]) -> ContentType {
            let mut segments = split_params(value).into_iter();
            let mime = segments
                .next()
                .map(|s| String::from_utf8_lossy(trim_blanks(&s)).to_ascii_lowercase())
                .unwrap_or_default();
            let mut ct = ContentType {
                mime,
                boundary: None,
                charset: None,
            };
            for seg in segments {
                let Some(eq) = seg.iter().position(|&b| b == b'=') else {
                    continue;
                };
                let name = trim_blanks(&seg[..eq]).to_ascii_lowercase();
                let value = unquote(trim_blanks(&seg[eq + 1..]));
                match name.as_slice() {
                    b"boundary" if !value.is_empty() => ct.boundary = Some(value),
                    b"charset" => ct.charset = Some(String::from_utf8_lossy(&value).into_owned()),
                    _ => {}
                }
            }
            ct
        }
    }

    /// Splits at `;` outside quoted strings, dropping comments.
    fn split_params(value: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cur = Vec::new();
        let (mut quoted, mut escaped, mut comment) = (false, false, 0usize);
        for &b in value {
            if escaped {
                cur.push(b);
                escaped = false;
            } else if quoted {
                cur.push(b);
                match b {
                    b'\\' => escaped = true,
                    b'"' => quoted = false,
                    _ => {}
                }
            } else if comment > 0 {
                match b {
                    b'(' => comment += 1,
                    b')' => comment -= 1,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => {
                        quoted = true;
                        cur.push(b);
                    }
                    b'(' => comment = 1,
                    b';' => out.push(std::mem::take(&mut cur)),
                    _ => cur.push(b),
                }
            }
        }
        out.push(cur);
        out
    }

    fn unquote(v: &[u8]) -> Vec<u8> {
        let Some(inner) = v.strip_prefix(b"\"") else {
            return v.to_vec();
        };
        let inner = inner.strip_suffix(b"\"").unwrap_or(inner);
        let mut out = Vec::with_capacity(inner.len());
        let mut escaped = false;
        for &b in inner {
            if escaped || b != b'\\' {
                out.push(b);
                escaped = false;
            } else {
                escaped = true;
            }
        }
        out
    }

    /// Undoes a Content-Transfer-Encoding (RFC 2045 §6); unknown ones and
    /// 7bit, 8bit and binary are the bytes as they are.
    pub fn decode_transfer<'a>(body: &'a [u8], cte: &[u8]) -> Cow<'a, [u8]> {
        let cte = trim_blanks(cte);
        if cte.eq_ignore_ascii_case(b"base64") {
            Cow::Owned(base64_lenient(body))
        } else if cte.eq_ignore_ascii_case(b"quoted-printable") {
            Cow::Owned(quoted_printable(body))
        } else {
            Cow::Borrowed(body)
        }
    }

    /// Base64 that skips what is not in the alphabet (line breaks, stray
    /// characters) rather than failing, as mail readers do.
    pub fn base64_lenient(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() / 4 * 3);
        let (mut acc, mut bits) = (0u32, 0u32);
        for &b in data {
            let v = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => continue,
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        out
    }

    /// Quoted-printable (RFC 2045 §6.7): `=XX` is a byte, `=` at the end of
    /// a line joins it to the next, trailing blanks are dropped; a `=` that
    /// starts neither is kept as it is.
    pub fn quoted_printable(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        let mut rest = data;
        loop {
            let (line, newline, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let crlf = i > 0 && rest[i - 1] == b'\r';
                    let line = &rest[..if crlf { i - 1 } else { i }];
                    (
                        line,
                        if crlf { &b"\r\n"[..] } else { b"\n" },
                        Some(&rest[i + 1..]),
                    )
                }
                None => (rest, &b""[..], None),
            };
            let mut line = line;
            while let Some((&last, init)) = line.split_last() {
                if last == b' ' || last == b'\t' {
                    line = init;
                } else {
                    break;
                }
            }
            let soft = line.last() == Some(&b'=');
            if soft {
                line = &line[..line.len() - 1];
            }
            qp_line(line, &mut out);
            if !soft {
                out.extend_from_slice(newline);
            }
            match next {
                Some(n) => rest = n,
                None => return out,
            }
        }
    }

    fn qp_line(line: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < line.len() {
            if line[i] == b'=' {
                if let Some(v) = line.get(i + 1..i + 3).and_then(hex_byte) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(line[i]);
            i += 1;
        }
    }

    fn hex_byte(two: &[u8]) -> Option<u8> {
        let digit = |b: u8| (b as char).to_digit(16);
        match two {
            [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
            _ => None,
        }
    }

    /// Text in a charset as UTF-8. Like Dovecot, a missing charset or
    /// US-ASCII is read as UTF-8, and what is not valid becomes U+FFFD.
    pub fn to_utf8<'a>(bytes: &'a [u8], charset: Option<&str>) -> Cow<'a, str> {
        let cs = charset.map(str::trim).unwrap_or("");
        let utf8_like = ["", "utf-8", "utf8", "us-ascii", "ascii"];
        if utf8_like.iter().any(|n| n.eq_ignore_ascii_case(cs)) {
            // The fast validator first: most text is valid, and then
            // nothing is copied.
            return match std::str::from_utf8(bytes) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(bytes),
            };
        }
        // mailparse owns the charset tables (the WHATWG encodings).
        let ctype = mailparse::ParsedContentType {
            mimetype: "text/plain".to_string(),
            charset: cs.to_string(),
            params: Default::default(),
        };
        match mailparse::body::Body::new(bytes, &ctype, &None) {
            mailparse::body::Body::SevenBit(text) => text
                .get_as_string()
                .map(Cow::Owned)
                .unwrap_or_else(|_| String::from_utf8_lossy(bytes)),
            _ => String::from_utf8_lossy(bytes),
        }
    }

    /// Longest charset name in an encoded word that is worth looking up.
    const MAX_CHARSET: usize = 64;

    /// A header value with RFC 2047 encoded words decoded. Blanks between
    /// two encoded words go (§6.2). As in Dovecot, words are recognised
    /// anywhere, even inside quotes and next to other text, and each is
    /// decoded on its own; other bytes are read as UTF-8.
    pub fn decode_words(value: &[u8]) -> String {
        let mut out = String::with_capacity(value.len());
        let mut plain_start = 0;
        let mut after_word = false;
        let mut i = 0;
        while let Some(off) = value[i..].windows(2).position(|w| w == b"=?") {
            let at = i + off;
            match encoded_word(&value[at..]) {
                Some((decoded, len)) => {
                    let between = &value[plain_start..at];
                    if !(after_word && between.iter().all(|&b| b == b' ' || b == b'\t')) {
                        out.push_str(&String::from_utf8_lossy(between));
                    }
                    out.push_str(&decoded);
                    after_word = true;
                    i = at + len;
                    plain_start = i;
                }
                None => i = at + 2,
            }
        }
        out.push_str(&String::from_utf8_lossy(&value[plain_start..]));
        out
    }

    /// `=?charset?B|Q?text?=` at the start of `s`: the decoded text and the
    /// word's length.
    fn encoded_word(s: &[u8]) -> Option<(String, usize)> {
        let body = s.strip_prefix(b"=?")?;
        let q1 = body.iter().take(MAX_CHARSET + 1).position(|&b| b == b'?')?;
        let charset = &body[..q1];
        let enc = *body.get(q1 + 1)?;
        if body.get(q1 + 2) != Some(&b'?') || charset.is_empty() {
            return None;
        }
        let text_start = q1 + 3;
        let text_len = body[text_start..]
            .iter()
            .position(|&b| b == b'?' || b == b' ' || b == b'\t')?;
        let text = &body[text_start..text_start + text_len];
        if body.get(text_start + text_len..text_start + text_len + 2) != Some(&b"?="[..]) {
            return None;
        }
        if charset.iter().any(|b| b.is_ascii_whitespace()) {
            return None;
        }
        let bytes = match enc {
            b'B' | b'b' => base64_lenient(text),
            b'Q' | b'q' => {
                let mut out = Vec::with_capacity(text.len());
                let spaced: Vec<u8> = text
                    .iter()
                    .map(|&b| if b == b'_' { b' ' } else { b })
                    .collect();
                qp_line(&spaced, &mut out);
                out
            }
            _ => return None,
        };
        // RFC 2231 §5: a language may follow the charset after '*'.
        let charset = String::from_utf8_lossy(charset);
        let charset = charset.split('*').next().unwrap_or_default();
        Some((
            to_utf8(&bytes, Some(charset)).into_owned(),
            2 + text_start + text_len + 2,
        ))
    }
}

/// Address fields as Dovecot 2.3 matches FROM, TO, CC and BCC: the list is
/// parsed (RFC 5322 §3.4, leniently) and written back in one canonical
/// form, `"Display Name" <local@domain>` per address (the name quoted only
/// when it needs to be, left raw when it holds encoded words), `, `
/// between addresses, `group: ...;` for groups; a missing local part or
/// domain reads `MISSING_MAILBOX` / `MISSING_DOMAIN`. A comment after a
/// bare address serves as its name. The result is then decoded like any
/// header, so `FROM "Ann <ann@"` misses `"Ann Smith" <ann@example.org>`
/// just as it does in Dovecot, while `FROM smith` finds it.
pub mod address {
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Tok {
        /// A run of atext and dots (atom, dot-atom, obs-phrase word).
        Atom(Vec<u8>),
        Quoted(Vec<u8>),
        /// `[...]`, brackets included.
        Literal(Vec<u8>),
        Comment(Vec<u8>),
        Special(u8),
    }

    /// RFC 5322 atext; 8-bit bytes count as text (RFC 6532).
    pub(crate) fn is_atext(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b >= 0x80 || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
    }

    fn lex(v: &[u8]) -> Vec<Tok> {
        let mut toks = Vec::new();
        let mut i = 0;
        while i < v.len() {
            let b = v[i];
            if b == b' ' || b == b'\t' || b == b'\r' || b == b'\n' {
                i += 1;
            } else if is_atext(b) || b == b'.' {
                let start = i;
                while i < v.len() && (is_atext(v[i]) || v[i] == b'.') {
                    i += 1;
                }
                toks.push(Tok::Atom(v[start..i].to_vec()));
            } else if b == b'"' {
                let mut s = Vec::new();
                i += 1;
                while i < v.len() && v[i] != b'"' {
                    if v[i] == b'\\' && i + 1 < v.len() {
                        i += 1;
                    }
                    if v[i] != b'\r' && v[i] != b'\n' {
                        s.push(v[i]);
                    }
                    i += 1;
                }
                i += 1;
                toks.push(Tok::Quoted(s));
            } else if b == b'(' {
                let mut s = Vec::new();
                let mut depth = 0usize;
                while i < v.len() {
                    match v[i] {
                        b'(' => {
                            if depth > 0 {
                                s.push(b'(');
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            s.push(b')');
                        }
                        b'\\' if i + 1 < v.len() => {
                            i += 1;
                            s.push(v[i]);
                        }
                        c => s.push(c),
                    }
                    i += 1;
                }
                i += 1;
                toks.push(Tok::Comment(s));
            } else if b == b'[' {
                let start = i;
                while i < v.len() && v[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(v.len());
                toks.push(Tok::Literal(v[start..i].to_vec()));
            } else {
                toks.push(Tok::Special(b));
                i += 1;
            }
        }
        toks
    }

    #[derive(Debug)]
    enum Item {
        Mailbox {
            name: Option<Vec<u8>>,
            route: Option<Vec<u8>>,
            local: Vec<u8>,
            domain: Vec<u8>,
        },
        GroupStart(Vec<u8>),
        GroupEnd,
    }

    struct P {
        toks: Vec<Tok>,
        pos: usize,
        /// The text of the last comment skipped.
        comment: Option<Vec<u8>>,
    }

    impl P {
        fn skip_comments(&mut self) {
            while let Some(Tok::Comment(c)) = self.toks.get(self.pos) {
                self.comment = Some(c.clone());
                self.pos += 1;
            }
        }

        fn peek(&mut self) -> Option<&Tok> {
            self.skip_comments();
            self.toks.get(self.pos)
        }

        fn at_special(&mut self, c: u8) -> bool {
            matches!(self.peek(), Some(Tok::Special(s)) if *s == c)
        }

        /// `phrase`: words joined by single spaces.
        fn phrase(&mut self) -> Vec<u8> {
            let mut out: Vec<u8> = Vec::new();
            loop {
                let word = match self.peek() {
                    Some(Tok::Atom(w)) | Some(Tok::Quoted(w)) => w.clone(),
                    _ => return out,
                };
                if !out.is_empty() {
                    out.push(b' ');
                }
                out.extend_from_slice(&word);
                self.pos += 1;
            }
        }

        fn word(&mut self) -> Option<Vec<u8>> {
            match self.peek() {
                Some(Tok::Atom(w)) | Some(Tok::Quoted(w)) | Some(Tok::Literal(w)) => {
                    let w = w.clone();
                    self.pos += 1;
                    Some(w)
                }
                _ => None,
            }
        }

        fn list(&mut self, out: &mut Vec<Item>) {
            while self.peek().is_some() {
                if self.at_special(b',') {
                    self.pos += 1;
                    continue;
                }
                let start = self.pos;
                self.address(out);
                if self.pos == start {
                    // Stray special: skip it.
                    self.pos += 1;
                }
                // Garbage before the next comma is dropped.
                while self.peek().is_some() && !self.at_special(b',') {
                    self.pos += 1;
                }
            }
        }

        fn address(&mut self, out: &mut Vec<Item>) {
            let start = self.pos;
            let name = self.phrase();
            if self.at_special(b':') {
                self.pos += 1;
                out.push(Item::GroupStart(name));
                loop {
                    match self.peek() {
                        None => break,
                        Some(Tok::Special(b';')) => {
                            self.pos += 1;
                            break;
                        }
                        Some(Tok::Special(b',')) => self.pos += 1,
                        Some(_) => {
                            let before = self.pos;
                            self.mailbox(out);
                            if self.pos == before {
                                self.pos += 1;
                            }
                        }
                    }
                }
                out.push(Item::GroupEnd);
                return;
            }
            self.pos = start;
            self.mailbox(out);
        }

        fn mailbox(&mut self, out: &mut Vec<Item>) {
            let start = self.pos;
            let name = self.phrase();
            if self.at_special(b'<') {
                self.pos += 1;
                let mut route = None;
                if self.at_special(b'@') {
                    let mut r = Vec::new();
                    while self.at_special(b'@') || self.at_special(b',') {
                        let at = self.at_special(b'@');
                        self.pos += 1;
                        if at {
                            if !r.is_empty() {
                                r.push(b',');
                            }
                            r.push(b'@');
                            r.extend(self.word().unwrap_or_default());
                        }
                    }
                    if self.at_special(b':') {
                        self.pos += 1;
                    }
                    route = Some(r);
                }
                let local = self.word().unwrap_or_default();
                let domain = if self.at_special(b'@') {
                    self.pos += 1;
                    self.word().unwrap_or_default()
                } else {
                    Vec::new()
                };
                while self.peek().is_some() && !self.at_special(b'>') && !self.at_special(b',') {
                    self.pos += 1;
                }
                if self.at_special(b'>') {
                    self.pos += 1;
                }
                self.skip_comments();
                out.push(Item::Mailbox {
                    name: (!name.is_empty()).then_some(name),
                    route,
                    local: filled(local, "MISSING_MAILBOX"),
                    domain: filled(domain, "MISSING_DOMAIN"),
                });
                return;
            }
            // addr-spec, possibly followed by a comment naming it.
            self.pos = start;
            self.comment = None;
            let local = self.word().unwrap_or_default();
            let mut domain = Vec::new();
            let mut has_at = false;
            if self.at_special(b'@') {
                self.pos += 1;
                has_at = true;
                domain = self.word().unwrap_or_default();
            }
            self.skip_comments();
            let mut name = self.comment.take();
            let mut local = Some(local);
            if !has_at && name.is_none() {
                // "user" alone is a mailbox; "Bob Smith" is a display name.
                let rest = self.phrase();
                if !rest.is_empty() {
                    let mut n = local.take().unwrap_or_default();
                    n.push(b' ');
                    n.extend(rest);
                    name = Some(n);
                }
            }
            out.push(Item::Mailbox {
                name,
                route: None,
                local: filled(local.unwrap_or_default(), "MISSING_MAILBOX"),
                domain: filled(domain, "MISSING_DOMAIN"),
            });
        }
    }

    fn filled(v: Vec<u8>, missing: &str) -> Vec<u8> {
        if v.is_empty() {
            missing.as_bytes().to_vec()
        } else {
            v
        }
    }

    /// Quotes `s` if it is not all atext (dots allowed unless `dot_needs`),
    /// escaping `"`, `\` and `'` (Dovecot's set).
    fn maybe_quote(out: &mut Vec<u8>, s: &[u8], dot_needs: bool) {
        if s.iter().all(|&b| is_atext(b) || (!dot_needs && b == b'.')) {
            out.extend_from_slice(s);
            return;
        }
        out.push(b'"');
        for &b in s {
            if matches!(b, b'"' | b'\\' | b'\'') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }

    fn write_name(out: &mut Vec<u8>, name: &[u8]) {
        if name.windows(2).any(|w| w == b"=?") {
            // Encoded words may not be quoted (RFC 2047 §5).
            out.extend_from_slice(name);
        } else {
            maybe_quote(out, name, true);
        }
    }

    /// The canonical form of an address field's value (unfolded, raw).
    pub fn normalize(value: &[u8]) -> Vec<u8> {
        let mut p = P {
            toks: lex(value),
            pos: 0,
            comment: None,
        };
        let mut items = Vec::new();
        p.list(&mut items);
        let mut out = Vec::with_capacity(value.len() + 16);
        let mut first = true;
        for item in &items {
            if !first {
                out.extend_from_slice(b", ");
            }
            first = false;
            match item {
                Item::GroupStart(name) => {
                    if name.is_empty() {
                        out.extend_from_slice(b"\"\"");
                    } else {
                        write_name(&mut out, name);
                    }
                    out.extend_from_slice(b": ");
                    first = true;
                }
                Item::GroupEnd => {
                    if out.ends_with(b", ") {
                        out.truncate(out.len() - 2);
                    } else if out.ends_with(b": ") {
                        out.truncate(out.len() - 1);
                    }
                    out.push(b';');
                }
                Item::Mailbox {
                    name,
                    route,
                    local,
                    domain,
                } => {
                    if let Some(name) = name {
                        write_name(&mut out, name);
                        if !name.is_empty() {
                            out.push(b' ');
                        }
                    }
                    out.push(b'<');
                    if let Some(r) = route {
                        out.extend_from_slice(r);
                        out.push(b':');
                    }
                    maybe_quote(&mut out, local, false);
                    out.push(b'@');
                    out.extend_from_slice(domain);
                    out.push(b'>');
                }
            }
        }
        out
    }
}

/// The day of an RFC 5322 Date field as written: SENTBEFORE and friends
/// compare the sender's calendar date, ignoring time and zone (RFC 3501
/// §6.4.4; Dovecot does the same). Accepts
/// `[day-name ","] day month year hour ":" minute [":" second] [zone]`
/// with comments anywhere, month names of three letters or more, and
/// two-digit years (below 70 is 20xx). Anything else, or an impossible
/// date, is `None`.
pub mod sent_date {
    #[derive(Debug, PartialEq, Eq)]
    enum Tok<'a> {
        Num(&'a [u8]),
        Word(&'a [u8]),
        Punct(u8),
    }

    fn lex(v: &[u8]) -> Vec<Tok<'_>> {
        let mut toks = Vec::new();
        let mut i = 0;
        let mut comment = 0usize;
        while i < v.len() {
            let b = v[i];
            if comment > 0 {
                match b {
                    b'(' => comment += 1,
                    b')' => comment -= 1,
                    _ => {}
                }
                i += 1;
            } else if b == b'(' {
                comment = 1;
                i += 1;
            } else if b.is_ascii_whitespace() {
                i += 1;
            } else if b.is_ascii_digit() || b.is_ascii_alphabetic() {
                let digit = b.is_ascii_digit();
                let start = i;
                while i < v.len()
                    && (if digit {
                        v[i].is_ascii_digit()
                    } else {
                        v[i].is_ascii_alphabetic()
                    })
                {
                    i += 1;
                }
                toks.push(if digit {
                    Tok::Num(&v[start..i])
                } else {
                    Tok::Word(&v[start..i])
                });
            } else {
                toks.push(Tok::Punct(b));
                i += 1;
            }
        }
        toks
    }

    fn num(t: Option<&Tok>, max_len: usize) -> Option<(u32, usize)> {
        match t {
            Some(Tok::Num(d)) if d.len() <= max_len => {
                Some((std::str::from_utf8(d).ok()?.parse().ok()?, d.len()))
            }
            _ => None,
        }
    }

    /// Days since 1970-01-01 of the date in a Date field.
    pub fn day(value: &[u8]) -> Option<i64> {
        let toks = lex(value);
        let mut t = toks.iter().peekable();
        if let Some(Tok::Word(_)) = t.peek() {
            t.next();
            if t.next() != Some(&Tok::Punct(b',')) {
                return None;
            }
        }
        let (day, _) = num(t.next(), 2)?;
        let month = match t.next() {
            Some(Tok::Word(w)) if w.len() >= 3 => {
                crate::datetime::MONTHS
                    .iter()
                    .position(|m| m.as_bytes().eq_ignore_ascii_case(&w[..3]))?
                    as u32
                    + 1
            }
            _ => return None,
        };
        let year = match num(t.next(), 4)? {
            (y, 2) if y < 70 => 2000 + y,
            (y, 2) => 1900 + y,
            (y, 4) => y,
            _ => return None,
        };
        let (hour, _) = num(t.next(), 2)?;
        if t.next() != Some(&Tok::Punct(b':')) {
            return None;
        }
        let (minute, _) = num(t.next(), 2)?;
        let second = if t.peek() == Some(&&Tok::Punct(b':')) {
            t.next();
            num(t.next(), 2)?.0
        } else {
            0
        };
        let year = i64::from(year);
        if day == 0
            || day > crate::datetime::days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        Some(crate::datetime::days_from_civil(year, month, day))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parse::parse_command;
    use crate::proto::types::CommandBody;

    fn keys_of(query: &str) -> (Option<String>, Vec<SearchKey>) {
        match parse_command(format!("a SEARCH {query}").as_bytes()) {
            Ok(c) => match c.body {
                CommandBody::Search { charset, keys, .. } => (charset, keys),
                other => panic!("{other:?}"),
            },
            Err(e) => panic!("{query}: {e}"),
        }
    }

    const SCOPE: Scope = Scope {
        exists: 3,
        last_uid: 30,
    };

    fn compile(query: &str) -> Query {
        let (charset, keys) = keys_of(query);
        Query::compile(&keys, charset.as_deref(), SCOPE, |n| {
            (n.eq_ignore_ascii_case("$Junk")).then_some(2)
        })
        .unwrap_or_else(|e| panic!("{query}: {e:?}"))
    }

    /// A message held in memory, counting what was asked of it.
    struct Mem {
        bytes: Vec<u8>,
        day: i64,
        fields: Option<Vec<mime::Field>>,
        parts: Option<Vec<mime::PartText>>,
        reads: usize,
    }

    impl Mem {
        fn new(msg: &str) -> Mem {
            Mem::bytes(msg.as_bytes())
        }
        fn bytes(msg: &[u8]) -> Mem {
            Mem {
                bytes: msg.to_vec(),
                day: 0,
                fields: None,
                parts: None,
                reads: 0,
            }
        }
    }

    impl MessageData for Mem {
        fn received_day(&mut self) -> Result<Option<i64>, Stop> {
            self.reads += 1;
            Ok(Some(self.day))
        }
        fn size(&mut self) -> Result<Option<u64>, Stop> {
            self.reads += 1;
            Ok(Some(crate::store::maildir::crlf_size(&self.bytes)))
        }
        fn header(&mut self) -> Result<Option<&[mime::Field]>, Stop> {
            self.reads += 1;
            let end = mime::body_start(&self.bytes, 0).unwrap_or(self.bytes.len());
            self.fields = Some(mime::parse_fields(&self.bytes[..end]));
            Ok(self.fields.as_deref())
        }
        fn parts(&mut self) -> Result<Option<&[mime::PartText]>, Stop> {
            self.reads += 1;
            self.parts = Some(mime::part_texts(&self.bytes));
            Ok(self.parts.as_deref())
        }
    }

    fn facts(msn: u32, system: u8) -> Facts {
        Facts {
            modseq: u64::from(msn),
            msn,
            uid: msn * 10,
            flags: Flags {
                system,
                keywords: 0,
            },
            recent: false,
        }
    }

    fn matches(query: &str, msg: &str) -> bool {
        let q = compile(query);
        q.eval(&facts(1, 0), &mut Mem::new(msg)).unwrap() == Some(true)
    }

    fn matches_bytes(query: &str, msg: &[u8]) -> bool {
        let q = compile(query);
        q.eval(&facts(1, 0), &mut Mem::bytes(msg)).unwrap() == Some(true)
    }

    #[test]
    fn parse_named_agrees_with_parse_fields() {
        let header =
            b"From: a@b\r\nSubject: one\r\n two\r\nfrom : c@d\r\nX-From: no\r\nFromage: no\r\n\r\n";
        for name in [&b"From"[..], b"subject", b"X-From", b"Missing"] {
            let all: Vec<mime::Field> = mime::parse_fields(header)
                .into_iter()
                .filter(|f| f.name().eq_ignore_ascii_case(name))
                .collect();
            assert_eq!(
                mime::parse_named(header, name),
                all,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn charsets() {
        let k = [SearchKey::All];
        for ok in [None, Some("UTF-8"), Some("utf-8"), Some("US-ASCII")] {
            assert!(Query::compile(&k, ok, SCOPE, |_| None).is_ok(), "{ok:?}");
        }
        for bad in ["KOI8-R", "ISO-8859-1", ""] {
            assert_eq!(
                Query::compile(&k, Some(bad), SCOPE, |_| None).unwrap_err(),
                CompileError::BadCharset
            );
        }
        let latin1 = [SearchKey::Text(b"caf\xe9".to_vec())];
        assert_eq!(
            Query::compile(&latin1, None, SCOPE, |_| None).unwrap_err(),
            CompileError::NotUtf8
        );
    }

    #[test]
    fn flags_numbers_and_logic() {
        let seen = flag::SEEN;
        let cases: &[(&str, u32, u8, bool)] = &[
            ("SEEN", 1, seen, true),
            ("UNSEEN", 1, seen, false),
            ("NOT SEEN", 1, 0, true),
            ("OR SEEN FLAGGED", 1, flag::FLAGGED, true),
            ("OR SEEN FLAGGED", 1, flag::DRAFT, false),
            ("(SEEN DELETED)", 1, seen | flag::DELETED, true),
            ("(SEEN DELETED)", 1, seen, false),
            ("ANSWERED DRAFT", 1, flag::ANSWERED | flag::DRAFT, true),
            ("UNANSWERED UNDRAFT UNDELETED UNFLAGGED", 1, seen, true),
            ("KEYWORD $junk", 1, 0, false),
            ("UNKEYWORD $Junk", 1, 0, true),
            ("KEYWORD $Unknown", 1, 0, false),
            ("UNKEYWORD $Unknown", 1, 0, true),
            ("ALL", 2, 0, true),
            ("NOT ALL", 2, 0, false),
            ("2", 2, 0, true),
            ("1,3", 2, 0, false),
            ("*", 3, 0, true),
            ("*:2", 3, 0, true),
            ("4:*", 3, 0, false),
            ("100", 3, 0, false),
            ("2:100", 3, 0, true),
            ("UID 30", 3, 0, true),
            ("UID 31:*", 3, 0, true),
            ("UID 1:20", 3, 0, false),
            ("NEW", 1, 0, false),
            ("OLD", 1, 0, true),
        ];
        for &(query, msn, flags, want) in cases {
            let q = compile(query);
            let got = q.eval(&facts(msn, flags), &mut IndexOnly { vsize: None });
            assert_eq!(got.unwrap(), Some(want), "{query} on {msn}");
            assert!(!q.reads_messages(), "{query}");
        }
        let mut m = facts(1, 0);
        m.recent = true;
        assert_eq!(
            compile("NEW")
                .eval(&m, &mut IndexOnly { vsize: None })
                .unwrap(),
            Some(true)
        );
        m.flags.set_keyword(2, true);
        assert_eq!(
            compile("KEYWORD $Junk RECENT")
                .eval(&m, &mut IndexOnly { vsize: None })
                .unwrap(),
            Some(true)
        );
    }

    #[test]
    fn unknown_data_is_three_valued() {
        let mut none = IndexOnly { vsize: None };
        let m = facts(1, flag::SEEN);
        let cases: &[(&str, Option<bool>)] = &[
            ("TEXT x", None),
            ("NOT TEXT x", None),
            ("SEEN TEXT x", None),
            ("UNSEEN TEXT x", Some(false)),
            ("OR SEEN TEXT x", Some(true)),
            ("OR UNSEEN TEXT x", None),
            ("NOT (UNSEEN TEXT x)", Some(true)),
            ("LARGER 10", None),
            ("BODY \"\"", Some(true)),
            ("TEXT \"\"", Some(true)),
        ];
        for &(query, want) in cases {
            assert_eq!(compile(query).eval(&m, &mut none).unwrap(), want, "{query}");
        }
        assert_eq!(
            compile("LARGER 10")
                .eval(&m, &mut IndexOnly { vsize: Some(11) })
                .unwrap(),
            Some(true)
        );
        assert_eq!(
            compile("SMALLER 11")
                .eval(&m, &mut IndexOnly { vsize: Some(11) })
                .unwrap(),
            Some(false)
        );
    }

    #[test]
    fn cheap_keys_first() {
        let msg = "From: x@y\r\n\r\nbody\r\n";
        // Unseen first: a seen message is never read.
        let q = compile("FROM x BODY body UNSEEN");
        let mut mem = Mem::new(msg);
        assert_eq!(
            q.eval(&facts(1, flag::SEEN), &mut mem).unwrap(),
            Some(false)
        );
        assert_eq!(mem.reads, 0);
        // The header decides before the body is parsed.
        let q = compile("BODY body FROM nobody");
        let mut mem = Mem::new(msg);
        assert_eq!(q.eval(&facts(1, 0), &mut mem).unwrap(), Some(false));
        assert_eq!(mem.reads, 1);
    }

    #[test]
    fn dates() {
        let msg = "Date: Mon, 5 Feb 1994 23:30:00 -0800\r\n\r\n";
        for (q, want) in [
            ("SENTON 5-Feb-1994", true),
            ("SENTON 6-Feb-1994", false),
            ("SENTBEFORE 6-Feb-1994", true),
            ("SENTBEFORE 5-Feb-1994", false),
            ("SENTSINCE 5-Feb-1994", true),
            ("SENTSINCE 6-Feb-1994", false),
        ] {
            assert_eq!(matches(q, msg), want, "{q}");
        }
        // No Date: 1-Jan-1970, as Dovecot has it.
        assert!(matches("SENTON 1-Jan-1970", "Subject: x\r\n\r\n"));
        assert!(matches("SENTBEFORE 1-Jan-2000", "Date: garbage\r\n\r\n"));
        let q = compile("ON 2-Feb-1994");
        let mut mem = Mem::new("x");
        mem.day = crate::datetime::days_from_civil(1994, 2, 2);
        assert_eq!(q.eval(&facts(1, 0), &mut mem).unwrap(), Some(true));
        for (q, want) in [
            ("SINCE 2-Feb-1994", true),
            ("SINCE 3-Feb-1994", false),
            ("BEFORE 2-Feb-1994", false),
            ("BEFORE 3-Feb-1994", true),
        ] {
            assert_eq!(
                compile(q).eval(&facts(1, 0), &mut mem).unwrap(),
                Some(want),
                "{q}"
            );
        }
    }

    #[test]
    fn sent_date_forms() {
        let day = |s: &str| sent_date::day(s.as_bytes());
        let feb5 = Some(crate::datetime::days_from_civil(1994, 2, 5));
        for ok in [
            "Mon, 5 Feb 1994 23:30:00 -0800",
            "5 Feb 94 23:30:00 -0800",
            "5 Feb 1994 23:30",
            "5 feb 1994 23:30:00 EST",
            "Mon,  05 February 1994 23:30:00 +0000 (PST)",
            "(comment) 5 Feb 1994 23:30:00 +9999",
        ] {
            assert_eq!(day(ok), feb5, "{ok}");
        }
        assert_eq!(
            day("5 Feb 69 1:00"),
            Some(crate::datetime::days_from_civil(2069, 2, 5))
        );
        for bad in [
            "5 Feb 1994",
            "garbage",
            "5 Feb 1994 25:30:00",
            "31 Feb 1994 10:00:00",
            "1994-02-05T10:00:00Z",
            "5 Feb 123 23:30:00",
            "Sat 5 Feb 1994 23:30:00",
            "5-Feb-1994 23:30:00",
            "",
        ] {
            assert_eq!(day(bad), None, "{bad}");
        }
    }

    #[test]
    fn encoded_words_and_case_folding() {
        let msg = "From: =?iso-8859-1?q?J=F6rg?= Smith <j@x.de>\r\n\
                   Subject: =?utf-8?b?w4TDpMOf?= =?UTF-8?Q?_und_caf=C3=A9?=\r\n\
                   X-Folded: one\r\n\ttwo\r\n\r\nbody\r\n";
        assert!(matches("FROM \"jörg\"", msg));
        assert!(matches("FROM \"JÖRG\"", msg));
        assert!(matches("FROM \"smith <j@x.de>\"", msg));
        assert!(matches("SUBJECT \"ääß und café\"", msg));
        assert!(!matches("SUBJECT \"ÄÄSS\"", msg));
        assert!(matches("SUBJECT \"CAFÉ\"", msg));
        assert!(
            matches("SUBJECT cafe", msg),
            "Dovecot: decomposed é starts with e"
        );
        assert!(matches("HEADER X-Folded \"one two\"", msg));
        assert!(matches("HEADER x-folded \"\"", msg));
        assert!(!matches("HEADER X-Missing \"\"", msg));
        assert!(matches("TEXT \"Subject: ää\"", msg));
        assert!(!matches("BODY Subject", msg));
        assert!(matches("BODY BODY", msg));
    }

    #[test]
    fn folding() {
        assert_eq!(fold::fold("Straße Ǆ ǆ ﬁ Ｂ"), "STRAßE ǅ ǅ ﬁ B");
        assert_eq!(fold::fold("é"), "E\u{301}");
        assert_eq!(fold::fold("e\u{301}"), fold::fold("É"));
        assert_eq!(fold::fold("ıi"), "II");
        assert_eq!(fold::fold("x\u{a0}²"), "X 2");
        assert_eq!(fold::fold("Ωmega σς"), "ΩMEGA ΣΣ");
    }

    #[test]
    fn bodies_are_decoded() {
        let qp = "Content-Type: text/plain; charset=iso-8859-1\r\n\
                  Content-Transfer-Encoding: quoted-printable\r\n\r\n\
                  St=E9phane says =\r\nhello=3D\r\n";
        assert!(matches("BODY \"stéphane\"", qp));
        assert!(matches("BODY \"says hello=\"", qp));
        let b64 = "Content-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: base64\r\n\r\n\
                   w4RwZmVs\r\nIGFuZCBQZmxhdW1l\r\n";
        assert!(matches("BODY \"äpfel and pflaume\"", b64));
        assert!(!matches("BODY w4RwZmVs", b64));
        let latin1 = b"Content-Type: text/plain; charset=ISO-8859-1\r\n\r\nGr\xfc\xdfe\r\n";
        assert!(matches_bytes("BODY \"grüße\"", latin1));
        assert!(matches_bytes("BODY \"GRÜßE\"", latin1));
        // No charset: UTF-8, as Dovecot reads it.
        assert!(matches_bytes(
            "BODY \"bödy\"",
            b"Subject: x\r\n\r\nb\xc3\xb6dy\r\n"
        ));
    }

    #[test]
    fn multipart_structure() {
        let msg = "From: a@b\r\nSubject: multi\r\n\
            Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
            preamble-word\r\n--XX\r\nContent-Type: text/plain\r\nX-Part: partheader\r\n\r\n\
            plain-word\r\n--XX\r\nContent-Type: application/octet-stream\r\n\
            Content-Transfer-Encoding: base64\r\n\r\nc2VjcmV0LXdvcmQ=\r\n\
            --XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>html-word</b>\r\n\
            --XX\r\nContent-Type: message/rfc822\r\n\r\n\
            From: inner@x\r\nSubject: inner-subject\r\n\r\ninner-body\r\n\
            --XX--\r\nepilogue-word\r\n";
        let cases = [
            ("TEXT preamble-word", false),
            ("TEXT epilogue-word", false),
            ("BODY plain-word", true),
            ("TEXT partheader", true),
            ("BODY partheader", false),
            ("TEXT secret-word", false),
            ("BODY <b>html-word", true),
            ("TEXT inner-subject", true),
            ("BODY inner-subject", false),
            ("SUBJECT inner-subject", false),
            ("BODY inner-body", true),
            ("TEXT multipart/mixed", true),
            ("BODY --XX", false),
            ("BODY \"plain-word html\"", false),
        ];
        for (q, want) in cases {
            assert_eq!(matches(q, msg), want, "{q}");
        }
        let digest = "Content-Type: multipart/digest; boundary=D\r\n\r\n--D\r\n\r\n\
                      Subject: digested\r\n\r\ndigest-body\r\n--D--\r\n";
        assert!(matches("TEXT \"subject: digested\"", digest));
        assert!(matches("BODY digest-body", digest));
    }

    #[test]
    fn hostile_mime_is_bounded() {
        // 500 nested multiparts: the walker stops at its depth limit.
        let mut msg = String::new();
        for i in 0..500 {
            msg.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        msg.push_str("\r\ndeep-word\r\n");
        let parts = mime::part_texts(msg.as_bytes());
        assert!(parts.len() <= 101, "{}", parts.len());
        assert!(!matches("BODY deep-word", &msg));
        // Odd bytes anywhere never panic.
        for junk in [
            &b"=?"[..],
            b"=?x?",
            b"=?x?q?",
            b"=?x?b?=?=",
            b"\xff\xfe:\r\n\t",
            b":",
        ] {
            let _ = mime::decode_words(junk);
            let _ = mime::part_texts(junk);
            let _ = address::normalize(junk);
            let _ = sent_date::day(junk);
        }
    }

    #[test]
    fn random_input_never_panics() {
        // A fixed LCG over bytes that matter to the parsers.
        const ALPHABET: &[u8] = b"=?qQbB_:;,<>@()\"\\[]. \t\r\n-aZ09\xc3\xa9\xff/*%";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        for _ in 0..3000 {
            let len = next() % 60;
            let input: Vec<u8> = (0..len)
                .map(|_| ALPHABET[next() % ALPHABET.len()])
                .collect();
            let _ = mime::decode_words(&input);
            let _ = mime::quoted_printable(&input);
            let _ = mime::ContentType::parse(&input);
            let _ = address::normalize(&input);
            let _ = sent_date::day(&input);
            let mut msg = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".to_vec();
            msg.extend_from_slice(&input);
            let _ = mime::part_texts(&msg);
            let cmd = [&b"a SEARCH "[..], &input].concat();
            let _ = parse_command(&cmd);
        }
    }

    #[test]
    fn transfer_decoders() {
        assert_eq!(mime::base64_lenient(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(mime::base64_lenient(b"a!GVsbG8"), b"hello");
        assert_eq!(
            mime::quoted_printable(b"a=3Db =\r\nc  \r\nd=ZZ"),
            b"a=b c\r\nd=ZZ"
        );
        assert_eq!(mime::quoted_printable(b"x=\ny\n"), b"xy\n");
        assert_eq!(
            mime::decode_words(b"=?utf-8?q?a?= =?utf-8?q?b?= c =?utf-8?q?d?="),
            "ab c d"
        );
        assert_eq!(
            mime::decode_words(b"abc=?utf-8?q?=C3=A4?=def"),
            "abc\u{e4}def"
        );
        assert_eq!(mime::decode_words(b"=?utf-8*en?q?lang?="), "lang");
        assert_eq!(mime::decode_words(b"=?utf-8?q?bad=ZZhex?="), "bad=ZZhex");
        assert_eq!(
            mime::decode_words(b"=?utf-8?x?abc?= =?"),
            "=?utf-8?x?abc?= =?"
        );
        assert_eq!(mime::to_utf8(b"caf\xe9", Some("iso-8859-1")), "café");
        assert_eq!(mime::to_utf8(b"caf\xc3\xa9", Some("US-ASCII")), "café");
    }

    #[test]
    fn addresses_as_dovecot_writes_them() {
        let n = |s: &str| String::from_utf8_lossy(&address::normalize(s.as_bytes())).into_owned();
        let rows = [
            ("Ann Smith <ann@x.org>", "\"Ann Smith\" <ann@x.org>"),
            ("ann@x.org (Ann Comment)", "\"Ann Comment\" <ann@x.org>"),
            ("\"Smith, John\" <j@x>", "\"Smith, John\" <j@x>"),
            ("\"Ann\" <plain@x>", "Ann <plain@x>"),
            (
                "=?utf-8?q?J=C3=B6rg_M?= <jm@x>",
                "=?utf-8?q?J=C3=B6rg_M?= <jm@x>",
            ),
            ("Undisclosed:;", "Undisclosed:;"),
            ("a@b,c@d", "<a@b>, <c@d>"),
            ("   spaced    <a@b>", "spaced <a@b>"),
            ("Pat O'Brien <o@x>", "\"Pat O\\'Brien\" <o@x>"),
            ("bob", "<bob@MISSING_DOMAIN>"),
            (
                "Bob Smith",
                "\"Bob Smith\" <MISSING_MAILBOX@MISSING_DOMAIN>",
            ),
            ("J. Smith <js@x>", "\"J. Smith\" <js@x>"),
            (
                "John \"the man\" Smith <jm@x>",
                "\"John the man Smith\" <jm@x>",
            ),
            (
                "\"quoted.local\"@x, <@r1,@r2:rt@x>",
                "<quoted.local@x>, <@r1,@r2:rt@x>",
            ),
            ("Team: a@b, C <c@d>;, z@y", "Team: <a@b>, C <c@d>;, <z@y>"),
            ("a@b (first) (second)", "second <a@b>"),
            ("\"back\\\\slash\" <bs@x>", "\"back\\\\slash\" <bs@x>"),
            ("<a@[127.0.0.1]>", "<a@[127.0.0.1]>"),
            ("", ""),
        ];
        for (raw, want) in rows {
            assert_eq!(n(raw), want, "{raw}");
        }
        let msg = "From: Ann Smith <ann@x.org>\r\nCc: a@b, c@d\r\n\r\n";
        assert!(matches("FROM \"\\\"Ann Smith\\\" <ann\"", msg));
        assert!(!matches("FROM \"Ann Smith <ann\"", msg));
        assert!(matches("FROM smith", msg));
        assert!(matches("CC \"<a@b>, <c@d>\"", msg));
        assert!(matches("HEADER From \"Ann Smith <ann\"", msg));
    }

    #[test]
    fn message_file_reads_lazily() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let mut msg = b"Subject: hello\nFrom: a@b\n\n".to_vec();
        msg.extend(std::iter::repeat_n(b'x', 100_000));
        msg.extend_from_slice(b"\nneedle\n");
        std::fs::write(&path, &msg).unwrap();
        let mut f = MessageFile::new(path.clone(), None);
        assert_eq!(
            compile("SUBJECT hello").eval(&facts(1, 0), &mut f).unwrap(),
            Some(true)
        );
        assert!(
            f.bytes.len() < 20_000,
            "read {} bytes for a header",
            f.bytes.len()
        );
        assert_eq!(
            compile("BODY needle").eval(&facts(1, 0), &mut f).unwrap(),
            Some(true)
        );
        assert!(f.complete);
        assert_eq!(f.bytes, msg);
        assert_eq!(
            compile("LARGER 100000").eval(&facts(1, 0), &mut f).unwrap(),
            Some(true)
        );
        assert_eq!(
            f.learned_vsize(),
            Some(crate::store::maildir::crlf_size(&msg))
        );
        let mut known = MessageFile::new(path.clone(), Some(5));
        assert_eq!(
            compile("SMALLER 6").eval(&facts(1, 0), &mut known).unwrap(),
            Some(true)
        );
        assert!(known.bytes.is_empty() && known.learned_vsize().is_none());
        let mut gone = MessageFile::new(dir.path().join("nope"), None);
        assert!(matches!(
            compile("TEXT x").eval(&facts(1, 0), &mut gone),
            Err(Stop::Gone)
        ));
        assert!(matches!(
            compile("SINCE 1-Jan-2000").eval(&facts(1, 0), &mut gone),
            Err(Stop::Gone)
        ));
        // A header with no blank line and no final newline is all header.
        std::fs::write(&path, b"Subject: only").unwrap();
        let mut f = MessageFile::new(path, None);
        assert_eq!(
            compile("SUBJECT only").eval(&facts(1, 0), &mut f).unwrap(),
            Some(true)
        );
    }
}
