//! SORT (RFC 5256 §3, RFC 5957 DISPLAYFROM/DISPLAYTO) and THREAD (RFC 5256
//! §4): the keys of each message, read from its header block, and the
//! order they give.
//!
//! Strings compare under i;unicode-casemap (RFC 5051): folded with
//! [`crate::search::fold`], then by code point (UTF-8 byte order is code
//! point order). Ties go by sequence number (RFC 5256 §3), whatever
//! REVERSE says.
//!
//! `subject`: the base subject (§2.1). `thread`: the two algorithms.

pub mod order;
pub mod subject;
pub mod thread;
pub mod thread_id;

use crate::mime::address::{self, Address};
use crate::mime::decode::decode_words;
use crate::mime::header;
use crate::proto::types::{SortCriterion, SortKey};
use crate::search::fold::fold;
use std::cmp::Ordering;
use std::sync::Arc;
use subject::{base_subject, BaseSubject};

/// References kept per message, the last ones.
const MAX_REFERENCES: usize = 256;

/// What SORT and THREAD need of one message.
#[derive(Clone, Debug, Default)]
pub struct SortFacts {
    pub msn: u32,
    pub uid: u32,
    /// INTERNALDATE, seconds since the epoch.
    pub arrival: i64,
    /// The Date header as an instant, or the arrival when it has none
    /// that parses (RFC 5256 §2.2).
    pub sent: i64,
    /// RFC822.SIZE.
    pub size: u64,
    /// What the header says, shared with the message cache.
    pub keys: Arc<HeaderKeys>,
}

impl SortFacts {
    pub fn new(keys: Arc<HeaderKeys>, msn: u32, uid: u32, arrival: i64, size: u64) -> Self {
        SortFacts {
            msn,
            uid,
            arrival,
            sent: keys.date.unwrap_or(arrival),
            size,
            keys,
        }
    }

    /// The facts of a message from its header block (CRLF form).
    pub fn from_header(header_block: &[u8], msn: u32, uid: u32, arrival: i64, size: u64) -> Self {
        let keys = Arc::new(HeaderKeys::from_header(header_block));
        SortFacts::new(keys, msn, uid, arrival, size)
    }
}

impl std::ops::Deref for SortFacts {
    type Target = HeaderKeys;
    fn deref(&self) -> &HeaderKeys {
        &self.keys
    }
}

/// The sort and thread keys a header block gives, computed once per
/// message and kept in the message cache (`CachedMeta::sort_keys`).
#[derive(Clone, Debug, Default)]
pub struct HeaderKeys {
    /// The Date header as an instant, when it parses.
    pub date: Option<i64>,
    pub subject: BaseSubject,
    /// The folded mailbox (local part) of the first address (§3).
    pub from: String,
    pub to: String,
    pub cc: String,
    /// RFC 5957: the folded display name, or the address without one.
    pub display_from: String,
    pub display_to: String,
    /// The first Message-ID (§2.2 REFERENCES), without angle brackets.
    pub message_id: Option<String>,
    /// The parent chain from References, else from In-Reply-To.
    pub references: Vec<String>,
}

impl HeaderKeys {
    /// The keys of a header block (CRLF form).
    pub fn from_header(header_block: &[u8]) -> Self {
        let mut f = HeaderKeys::default();
        let mut from = Vec::new();
        let mut to = Vec::new();
        let mut cc = Vec::new();
        let mut subject = None;
        let mut date = None;
        let mut references = None;
        let mut in_reply_to = None;
        for field in header::fields(header_block) {
            let n = field.name;
            let v = || header::nul_to_replacement(&field.value);
            // The first of each, as Dovecot's sort reads them.
            if n.eq_ignore_ascii_case(b"Subject") {
                subject.get_or_insert_with(v);
            } else if n.eq_ignore_ascii_case(b"Date") {
                date.get_or_insert_with(v);
            } else if n.eq_ignore_ascii_case(b"From") {
                from.extend(address::parse(&field.value));
            } else if n.eq_ignore_ascii_case(b"To") {
                to.extend(address::parse(&field.value));
            } else if n.eq_ignore_ascii_case(b"Cc") {
                cc.extend(address::parse(&field.value));
            } else if n.eq_ignore_ascii_case(b"Message-ID") {
                if f.message_id.is_none() {
                    f.message_id = msg_ids(&field.value).into_iter().next();
                }
            } else if n.eq_ignore_ascii_case(b"References") {
                references.get_or_insert_with(v);
            } else if n.eq_ignore_ascii_case(b"In-Reply-To") {
                in_reply_to.get_or_insert_with(v);
            }
        }
        f.date = date.as_deref().and_then(crate::datetime::rfc5322_instant);
        f.subject = subject.as_deref().map(base_subject).unwrap_or_default();
        f.from = first_mailbox(&from);
        f.to = first_mailbox(&to);
        f.cc = first_mailbox(&cc);
        f.display_from = display(&from);
        f.display_to = display(&to);
        f.references = references.as_deref().map(msg_ids).unwrap_or_default();
        if f.references.len() > MAX_REFERENCES {
            // The nearest ancestors are the last ones; a longer list only
            // costs time (each link walks the chain above it).
            f.references.drain(..f.references.len() - MAX_REFERENCES);
        }
        if f.references.is_empty() {
            // §2.2 step 1A: else the first message-id of In-Reply-To.
            f.references = in_reply_to
                .as_deref()
                .and_then(|v| msg_ids(v).into_iter().next())
                .into_iter()
                .collect();
        }
        f
    }
}

/// The first address of a list. As in Dovecot, a group's opening entry
/// counts: "undisclosed-recipients:;" sorts by the group's name.
fn first_address(list: &[Address]) -> Option<&Address> {
    list.first().filter(|a| a.mailbox.is_some())
}

/// §3: the local part of the first address, folded.
fn first_mailbox(list: &[Address]) -> String {
    first_address(list)
        .and_then(|a| a.mailbox.as_deref())
        .map(|m| fold(&String::from_utf8_lossy(m)))
        .unwrap_or_default()
}

/// RFC 5957 §3: the decoded display name of the first address, else its
/// `mailbox@host`, folded.
fn display(list: &[Address]) -> String {
    let Some(a) = first_address(list) else {
        return String::new();
    };
    if let Some(name) = a.name.as_deref().filter(|n| !n.is_empty()) {
        return fold(&decode_words(name));
    }
    let mut s = String::from_utf8_lossy(a.mailbox.as_deref().unwrap_or_default()).into_owned();
    if let Some(domain) = a.domain.as_deref() {
        s.push('@');
        s.push_str(&String::from_utf8_lossy(domain));
    }
    fold(&s)
}

/// The `<...>` message ids in a header value, brackets dropped. Anything
/// between them (comments, phrases of broken mailers) is skipped.
pub fn msg_ids(value: &[u8]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.iter().position(|&b| b == b'<') {
        let after = &rest[open + 1..];
        let Some(close) = after.iter().position(|&b| b == b'>' || b == b'<') else {
            break;
        };
        if after[close] == b'<' {
            rest = &after[close..];
            continue;
        }
        let id: Vec<u8> = after[..close]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        // An id needs an "@" (RFC 5322 msg-id); "<>" and words are not ids.
        if id.contains(&b'@') {
            ids.push(String::from_utf8_lossy(&id).into_owned());
        }
        rest = &after[close + 1..];
    }
    ids
}

/// How two messages compare under one criterion, before REVERSE.
fn compare_key(key: SortKey, a: &SortFacts, b: &SortFacts) -> Ordering {
    match key {
        SortKey::Arrival => a.arrival.cmp(&b.arrival),
        SortKey::Date => a.sent.cmp(&b.sent),
        SortKey::Size => a.size.cmp(&b.size),
        SortKey::Subject => a.subject.text.cmp(&b.subject.text),
        SortKey::From => a.from.cmp(&b.from),
        SortKey::To => a.to.cmp(&b.to),
        SortKey::Cc => a.cc.cmp(&b.cc),
        SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
        SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
    }
}

/// A message's string key, for the one-criterion fast path.
fn string_key(key: SortKey, m: &SortFacts) -> &str {
    match key {
        SortKey::Subject => &m.subject.text,
        SortKey::From => &m.from,
        SortKey::To => &m.to,
        SortKey::Cc => &m.cc,
        SortKey::DisplayFrom => &m.display_from,
        SortKey::DisplayTo => &m.display_to,
        SortKey::Arrival | SortKey::Date | SortKey::Size => "",
    }
}

/// Sorts messages by the criteria, ties by sequence number.
pub fn sort(messages: &mut [SortFacts], criteria: &[SortCriterion]) {
    if let [c] = criteria {
        // One string key (the usual SORT): sort (key, msn, index) triples,
        // which sit together in memory, instead of chasing each message's
        // shared keys at every comparison. Sequence numbers are unique, so
        // an unstable sort gives the same order.
        let by_string = !matches!(c.key, SortKey::Arrival | SortKey::Date | SortKey::Size);
        if by_string {
            let mut order: Vec<(&str, u32, usize)> = messages
                .iter()
                .enumerate()
                .map(|(i, m)| (string_key(c.key, m), m.msn, i))
                .collect();
            order.sort_unstable_by(|a, b| {
                let o = a.0.cmp(b.0);
                let o = if c.reverse { o.reverse() } else { o };
                o.then(a.1.cmp(&b.1))
            });
            let sorted: Vec<SortFacts> =
                order.iter().map(|&(_, _, i)| messages[i].clone()).collect();
            messages.clone_from_slice(&sorted);
            return;
        }
    }
    messages.sort_by(|a, b| {
        for c in criteria {
            let o = compare_key(c.key, a, b);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.msn.cmp(&b.msn)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_addresses() {
        assert_eq!(
            msg_ids(b"<a@b> (x) <c@d>\r\n <bad> <e@\r\n f>"),
            ["a@b", "c@d", "e@f"]
        );
        let f = SortFacts::from_header(
            b"From: \"Zed\" <alice@x>\r\nTo: undisclosed:;, bob@y\r\nDate: Mon, 1 Jan 2024 10:00:00 +0200\r\nIn-Reply-To: <p@q>\r\n\r\n",
            1,
            1,
            5,
            10,
        );
        assert_eq!(f.from, "ALICE");
        assert_eq!(f.display_from, "ZED");
        assert_eq!(f.to, "UNDISCLOSED");
        assert_eq!(f.display_to, "UNDISCLOSED");
        assert_eq!(f.sent, 1_704_103_200 - 7200);
        assert_eq!(f.references, ["p@q"]);
        let long: String = (0..1000).map(|i| format!("<r{i}@x> ")).collect();
        let k = HeaderKeys::from_header(format!("References: {long}\r\n\r\n").as_bytes());
        assert_eq!(k.references.len(), MAX_REFERENCES);
        assert_eq!(k.references.last().map(String::as_str), Some("r999@x"));
    }
}
