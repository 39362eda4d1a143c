//! A SEARCH program: keys compiled into a tree of AND / OR / NOT over
//! leaves, cheapest first, and evaluated with three-valued logic (see the
//! module docs of [`super`]).

use super::fold;
use super::text::{address_text, Field};
use super::{CompileError, Facts, MessageData, Scope, Stop};
use crate::mime::decode::{charset_known, decode_words, to_utf8};
use crate::proto::types::{SearchDate, SearchKey};
use crate::proto::types::{SeqNumber, SeqRanges, SequenceSet};
use crate::store::maildir::flag;

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
            set.items()
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

/// The second `n` seconds before now (RFC 5032 intervals).
fn seconds_ago(n: u32) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now - i64::from(n)
}

#[derive(Debug)]
enum Leaf {
    Flag(u8),
    Recent,
    Keyword(u8),
    Sequence(SeqRanges),
    Uid(SeqRanges),
    Received(DateCmp, i64),
    /// RFC 5032 OLDER: received at or before this second (Dovecot's "<=").
    ReceivedUpTo(i64),
    /// RFC 5032 YOUNGER: received at or after this second.
    ReceivedFrom(i64),
    Sent(DateCmp, i64),
    /// RFC 8514: the save date's day.
    Saved(DateCmp, i64),
    /// RFC 8474 EMAILID.
    EmailId(String),
    /// RFC 8474 THREADID (`sort::thread_id`).
    ThreadId(String),
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
            Leaf::Received(..)
            | Leaf::ReceivedUpTo(_)
            | Leaf::ReceivedFrom(_)
            | Leaf::Saved(..)
            | Leaf::EmailId(_)
            | Leaf::Larger(_)
            | Leaf::Smaller(_) => Cost::Stat,
            Leaf::Sent(..) | Leaf::Header { .. } | Leaf::ThreadId(_) => Cost::Header,
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
        Leaf::Received(cmp, key) => match data.received()? {
            Some(secs) => cmp.test(secs.div_euclid(86_400), *key),
            None => return Ok(None),
        },
        Leaf::Saved(cmp, key) => match data.saved()? {
            Some(secs) => cmp.test(secs.div_euclid(86_400), *key),
            None => return Ok(None),
        },
        Leaf::EmailId(id) => match data.email_id()? {
            Some(own) => own == *id,
            None => return Ok(None),
        },
        Leaf::ThreadId(id) => {
            let mut first = |name: &[u8]| -> Result<Option<Option<Vec<u8>>>, Stop> {
                Ok(data
                    .named(name)?
                    .map(|f| f.first().map(|f| f.value().to_vec())))
            };
            let (Some(refs), Some(parent), Some(own)) = (
                first(b"References")?,
                first(b"In-Reply-To")?,
                first(b"Message-ID")?,
            ) else {
                return Ok(None);
            };
            crate::sort::thread_id::thread_id(refs.as_deref(), parent.as_deref(), own.as_deref())
                .is_some_and(|own| own == *id)
        }
        Leaf::ReceivedUpTo(limit) => match data.received()? {
            Some(secs) => secs <= *limit,
            None => return Ok(None),
        },
        Leaf::ReceivedFrom(limit) => match data.received()? {
            Some(secs) => secs >= *limit,
            None => return Ok(None),
        },
        Leaf::Sent(cmp, key) => match data.named(b"Date")? {
            // Dovecot: a missing or unreadable Date counts as 1-Jan-1970.
            Some(fields) => {
                let day = fields
                    .first()
                    .and_then(|f| crate::datetime::rfc5322_day(f.value()))
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
/// The texts header keys match that the part texts do not hold as such:
/// SUBJECT's squeezed value and the address keys' rewritten lists, of the
/// top-level fields. The full-text index adds them to a message's text so
/// it can narrow header searches too (HEADER's plain form is already in
/// the part text).
pub fn indexed_field_texts(fields: &[Field]) -> Vec<String> {
    fields
        .iter()
        .filter_map(|f| {
            let n = f.name();
            let form = if n.eq_ignore_ascii_case(b"Subject") {
                FieldForm::Squeezed
            } else if [&b"From"[..], b"To", b"Cc", b"Bcc"]
                .iter()
                .any(|a| n.eq_ignore_ascii_case(a))
            {
                FieldForm::Address
            } else {
                return None;
            };
            Some(field_text(f, form))
        })
        .collect()
}

fn field_text(f: &Field, form: FieldForm) -> String {
    let decoded = match form {
        FieldForm::Plain => decode_words(f.value()),
        FieldForm::Squeezed => decode_words(&squeeze_blanks(f.value())),
        FieldForm::Address => decode_words(&address_text(f)),
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
        if charset.is_some_and(|name| !charset_known(name)) {
            return Err(CompileError::BadCharset);
        }
        let c = Compiler {
            charset: charset.filter(|name| !is_utf8(name)),
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

    /// What every match must contain, for the full-text index: clauses
    /// (all must hold) of folded strings (one of which must occur in the
    /// message's text). Only TEXT, BODY and header needles count (the index
    /// holds the header keys' forms too: `indexed_field_texts`), and only where
    /// the logic makes them necessary (under AND; OR gives one clause of
    /// alternatives; NOT gives nothing).
    pub fn required_texts(&self) -> Vec<Vec<String>> {
        required(&self.root)
    }

    /// Whether any key needs more than flags and numbers.
    #[cfg(test)]
    pub fn reads_messages(&self) -> bool {
        self.root.cost() > Cost::Index
    }
}

struct Compiler<'a> {
    /// The charset search strings are in, unless UTF-8.
    charset: Option<&'a str>,
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
            K::Older(n) => leaf(Leaf::ReceivedUpTo(seconds_ago(*n))),
            K::Younger(n) => leaf(Leaf::ReceivedFrom(seconds_ago(*n))),
            K::SentBefore(d) => leaf(Leaf::Sent(DateCmp::Before, day(d))),
            K::SentOn(d) => leaf(Leaf::Sent(DateCmp::On, day(d))),
            K::SentSince(d) => leaf(Leaf::Sent(DateCmp::Since, day(d))),
            K::SavedBefore(d) => leaf(Leaf::Saved(DateCmp::Before, day(d))),
            K::SavedOn(d) => leaf(Leaf::Saved(DateCmp::On, day(d))),
            K::SavedSince(d) => leaf(Leaf::Saved(DateCmp::Since, day(d))),
            K::SaveDateSupported => Ok(Node::Const(true)),
            K::EmailId(id) => leaf(Leaf::EmailId(id.clone())),
            K::ThreadId(id) => leaf(Leaf::ThreadId(id.clone())),
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
            K::Body(s) => Ok(match self.needle(s)? {
                n if n.is_empty() => Node::Const(true),
                n => Node::Leaf(Leaf::Body(n)),
            }),
            K::Text(s) => Ok(match self.needle(s)? {
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
            needle: self.needle(s)?,
        }))
    }
}

impl Compiler<'_> {
    /// A search string as matched: converted to UTF-8, folded.
    fn needle(&self, s: &[u8]) -> Result<String, CompileError> {
        match self.charset {
            Some(cs) => Ok(fold::fold(&to_utf8(s, Some(cs)))),
            None => {
                let s = std::str::from_utf8(s).map_err(|_| CompileError::NotUtf8)?;
                Ok(fold::fold(s))
            }
        }
    }
}

/// Names whose strings are taken as UTF-8 as they are.
fn is_utf8(name: &str) -> bool {
    ["UTF-8", "UTF8", "US-ASCII"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name.trim()))
}

fn required(n: &Node) -> Vec<Vec<String>> {
    match n {
        Node::Leaf(Leaf::Text(s) | Leaf::Body(s)) => vec![vec![s.clone()]],
        // HEADER name "" asks only that the field exists.
        Node::Leaf(Leaf::Header { needle, .. }) if !needle.is_empty() => vec![vec![needle.clone()]],
        Node::And(children) => children.iter().flat_map(required).collect(),
        Node::Or(children) => {
            // Each alternative must bring a string for the clause to hold.
            let mut clause = Vec::new();
            for c in children {
                match required(c).into_iter().next() {
                    Some(first) => clause.extend(first),
                    None => return Vec::new(),
                }
            }
            vec![clause]
        }
        Node::Const(_) | Node::Leaf(_) | Node::Not(_) => Vec::new(),
    }
}
