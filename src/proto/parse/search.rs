//! The SEARCH grammar (RFC 3501 §6.4.4, §9): `search-key` and its parts,
//! as methods of the command parser (the types are in `proto::types`).
//!
//! Only syntax is checked here. Strings stay the bytes the client sent:
//! what they mean depends on the CHARSET, and an unknown charset is a NO
//! with BADCHARSET rather than a BAD (RFC 3501 §6.4.4), so the handler
//! decides. Matching lives in `crate::search`.

use super::{Expected, Parser};
use crate::proto::types::{CommandBody, SearchDate, SearchKey, SearchReturn, SearchSource};

const TOO_DEEP: &str = "search keys nested at most 64 deep";

/// Parses `date-text = date-day "-" date-month "-" date-year`. Unlike
/// Dovecot, an impossible day (30-Feb) is refused rather than read as
/// something else.
pub fn parse_search_date(raw: &[u8]) -> Option<SearchDate> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = text.split('-');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || day.is_empty()
        || day.len() > 2
        || year.len() != 4
        || !day.bytes().chain(year.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let day: u8 = day.parse().ok()?;
    let year: u16 = year.parse().ok()?;
    let month = crate::datetime::MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month))? as u8
        + 1;
    let max = crate::datetime::days_in_month(i64::from(year), u32::from(month));
    (day >= 1 && u32::from(day) <= max).then_some(SearchDate { year, month, day })
}

impl Parser<'_> {
    /// `search = "SEARCH" [SP "CHARSET" SP astring] 1*(SP search-key)`
    pub(crate) fn search(&mut self, uid: bool) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let ret = self.search_return()?;
        let mut charset = None;
        let start = self.pos;
        match self.atom() {
            Some(word) if word.eq_ignore_ascii_case(b"CHARSET") => {
                self.expect_sp()?;
                let name = self.astring().map_err(|_| Expected("charset name"))?;
                charset = Some(String::from_utf8_lossy(&name).into_owned());
                self.expect_sp()?;
            }
            _ => self.pos = start,
        }
        let mut keys = vec![self.search_key(0)?];
        while self.peek() == Some(b' ') {
            self.pos += 1;
            keys.push(self.search_key(0)?);
        }
        Ok(CommandBody::Search {
            charset,
            keys,
            uid,
            ret,
        })
    }

    /// `esearch = "ESEARCH" [SP esearch-source-opts] [SP search-return-opts]
    /// SP search-program` (RFC 7377 §4), where `esearch-source-opts = "IN"
    /// SP "(" source-mbox [SP "(" scope-options ")"] ")"`. No scope options
    /// are defined, so any is a BAD.
    pub(crate) fn multi_search(&mut self) -> Result<CommandBody, Expected> {
        let rest = &self.input[self.pos..];
        let mut sources = None;
        if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b" IN (") {
            self.pos += 5;
            let mut list = Vec::new();
            loop {
                if list.len() >= 64 {
                    return Err(Expected("fewer mailbox filters"));
                }
                list.push(self.search_source()?);
                if self.peek() == Some(b')') {
                    self.pos += 1;
                    break;
                }
                self.expect_sp()?;
                if self.peek() == Some(b'(') {
                    return Err(Expected("no scope options (none are known)"));
                }
            }
            sources = Some(list);
        }
        let CommandBody::Search {
            charset, keys, ret, ..
        } = self.search(true)?
        else {
            return Err(Expected("search program"));
        };
        Ok(CommandBody::MultiSearch {
            sources,
            charset,
            keys,
            ret,
        })
    }

    fn search_source(&mut self) -> Result<SearchSource, Expected> {
        let word = self
            .atom()
            .ok_or(Expected("mailbox filter"))?
            .to_ascii_lowercase();
        // RFC 7377 adds `subtree-one` to NOTIFY's filters.
        if word == b"subtree-one" {
            return Ok(SearchSource::SubtreeOne(self.one_or_more_mailbox()?));
        }
        let filter = self.mailbox_filter(&word)?;
        filter
            .map(SearchSource::Filter)
            .ok_or(Expected("mailbox filter"))
    }

    /// `[ "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")" SP ]`
    /// (RFC 4466 §2.6 with RFC 4731 and RFC 5182 options); unknown options
    /// are a BAD (RFC 4466 §2.6.1).
    pub(super) fn search_return(&mut self) -> Result<Option<SearchReturn>, Expected> {
        let start = self.pos;
        match self.atom() {
            Some(w) if w.eq_ignore_ascii_case(b"RETURN") && self.peek() == Some(b' ') => {}
            _ => {
                self.pos = start;
                return Ok(None);
            }
        }
        self.expect_sp()?;
        self.expect(b'(', "( after RETURN")?;
        let mut ret = SearchReturn::default();
        let mut any = false;
        while self.peek() != Some(b')') {
            if any {
                self.expect_sp()?;
            }
            let word = self.atom().ok_or(Expected("search return option"))?;
            match word.to_ascii_uppercase().as_slice() {
                b"MIN" => ret.min = true,
                b"MAX" => ret.max = true,
                b"ALL" => ret.all = true,
                b"COUNT" => ret.count = true,
                b"SAVE" => ret.save = true,
                b"UPDATE" => ret.update = true,
                b"PARTIAL" => {
                    // RFC 5267 §4.4: `partial-range = nz-number ":" nz-number`,
                    // either order.
                    self.expect_sp()?;
                    let a = self.nz_number()?;
                    self.expect(b':', ": in partial range")?;
                    let b = self.nz_number()?;
                    ret.partial = Some((a.min(b), a.max(b)));
                }
                _ => return Err(Expected("MIN, MAX, ALL, COUNT, SAVE, PARTIAL or UPDATE")),
            }
            any = true;
        }
        self.pos += 1;
        self.expect_sp()?;
        if !any {
            // RFC 4731 §3.1: `RETURN ()` is `RETURN (ALL)`.
            ret.all = true;
        }
        Ok(Some(ret))
    }

    /// One `search-key`; `depth` counts the enclosing levels.
    pub(super) fn search_key(&mut self, depth: usize) -> Result<SearchKey, Expected> {
        if depth > self.limits.max_search_depth {
            return Err(Expected(TOO_DEEP));
        }
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let mut keys = vec![self.search_key(depth + 1)?];
                loop {
                    match self.peek() {
                        Some(b' ') => {
                            self.pos += 1;
                            keys.push(self.search_key(depth + 1)?);
                        }
                        Some(b')') => {
                            self.pos += 1;
                            return Ok(SearchKey::And(keys));
                        }
                        _ => return Err(Expected("SP or ) in search key list")),
                    }
                }
            }
            Some(b'0'..=b'9') | Some(b'*') | Some(b'$') => {
                return Ok(SearchKey::SequenceSet(self.sequence_set()?))
            }
            _ => {}
        }
        let start = self.pos;
        let Some(word) = self.atom() else {
            return Err(Expected("search key"));
        };
        use SearchKey as K;
        Ok(match word.to_ascii_uppercase().as_slice() {
            b"ALL" => K::All,
            b"ANSWERED" => K::Answered,
            b"BCC" => K::Bcc(self.sp_astring()?),
            b"BEFORE" => K::Before(self.sp_date()?),
            b"BODY" => K::Body(self.sp_astring()?),
            b"CC" => K::Cc(self.sp_astring()?),
            b"DELETED" => K::Deleted,
            b"DRAFT" => K::Draft,
            b"FLAGGED" => K::Flagged,
            b"FROM" => K::From(self.sp_astring()?),
            b"HEADER" => {
                let name = self.sp_astring()?;
                K::Header(name, self.sp_astring()?)
            }
            b"KEYWORD" => K::Keyword(self.sp_keyword()?),
            b"LARGER" => K::Larger(self.sp_number64()?),
            b"OLDER" => K::Older(self.sp_interval()?),
            b"YOUNGER" => K::Younger(self.sp_interval()?),
            b"MODSEQ" => {
                self.expect_sp()?;
                if self.peek() == Some(b'"') {
                    let name = self.quoted()?;
                    if !name.starts_with(b"/flags/") {
                        return Err(Expected("an entry name like \"/flags/\\\\seen\""));
                    }
                    self.expect_sp()?;
                    let kind = self.atom().unwrap_or_default().to_ascii_lowercase();
                    if !matches!(kind.as_slice(), b"priv" | b"shared" | b"all") {
                        return Err(Expected("priv, shared or all"));
                    }
                    self.expect_sp()?;
                }
                K::Modseq(self.mod_sequence(true)?)
            }
            b"NEW" => K::New,
            b"NOT" => {
                self.expect_sp()?;
                K::Not(Box::new(self.search_key(depth + 1)?))
            }
            b"OLD" => K::Old,
            b"ON" => K::On(self.sp_date()?),
            b"OR" => {
                self.expect_sp()?;
                let a = self.search_key(depth + 1)?;
                self.expect_sp()?;
                let b = self.search_key(depth + 1)?;
                K::Or(Box::new(a), Box::new(b))
            }
            b"RECENT" => K::Recent,
            b"SEEN" => K::Seen,
            b"SAVEDBEFORE" => K::SavedBefore(self.sp_date()?),
            b"SAVEDON" => K::SavedOn(self.sp_date()?),
            b"SAVEDSINCE" => K::SavedSince(self.sp_date()?),
            b"SAVEDATESUPPORTED" => K::SaveDateSupported,
            b"EMAILID" => K::EmailId(self.sp_objectid()?),
            b"THREADID" => K::ThreadId(self.sp_objectid()?),
            b"SENTBEFORE" => K::SentBefore(self.sp_date()?),
            b"SENTON" => K::SentOn(self.sp_date()?),
            b"SENTSINCE" => K::SentSince(self.sp_date()?),
            b"SINCE" => K::Since(self.sp_date()?),
            b"SMALLER" => K::Smaller(self.sp_number64()?),
            b"SUBJECT" => K::Subject(self.sp_astring()?),
            b"TEXT" => K::Text(self.sp_astring()?),
            b"TO" => K::To(self.sp_astring()?),
            b"UID" => {
                self.expect_sp()?;
                K::Uid(self.sequence_set()?)
            }
            b"UNANSWERED" => K::Unanswered,
            b"UNDELETED" => K::Undeleted,
            b"UNDRAFT" => K::Undraft,
            b"UNFLAGGED" => K::Unflagged,
            b"UNKEYWORD" => K::Unkeyword(self.sp_keyword()?),
            b"UNSEEN" => K::Unseen,
            _ => {
                self.pos = start;
                return Err(Expected("search key"));
            }
        })
    }

    fn sp_astring(&mut self) -> Result<Vec<u8>, Expected> {
        self.expect_sp()?;
        let start = self.pos;
        let value = self.astring()?;
        if self.peek().is_some_and(|b| b >= 0x80) {
            // Atoms are 7-bit; say so rather than "end of command".
            self.pos = start;
            return Err(Expected("quoted string or literal for 8-bit text"));
        }
        Ok(value)
    }

    /// `flag-keyword = atom`. Like Dovecot, a quoted keyword and a
    /// `\`-flag are accepted too; the latter simply matches nothing.
    fn sp_keyword(&mut self) -> Result<Vec<u8>, Expected> {
        self.expect_sp()?;
        if self.peek() == Some(b'\\') {
            self.pos += 1;
            let name = self.atom().ok_or(Expected("keyword"))?;
            return Ok([&b"\\"[..], &name].concat());
        }
        self.astring().map_err(|_| Expected("keyword"))
    }

    /// `number64` (RFC 9051): sizes may exceed 4 GiB.
    /// RFC 5032 `interval = number`, in seconds.
    /// RFC 8474 §7: `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`.
    fn sp_objectid(&mut self) -> Result<String, Expected> {
        self.expect_sp()?;
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            self.pos += 1;
        }
        let len = self.pos - start;
        if !(1..=255).contains(&len) {
            self.pos = start;
            return Err(Expected("objectid"));
        }
        Ok(String::from_utf8_lossy(&self.input[start..self.pos]).into_owned())
    }

    fn sp_interval(&mut self) -> Result<u32, Expected> {
        self.expect_sp()?;
        self.number().map_err(|_| Expected("interval in seconds"))
    }

    fn sp_number64(&mut self) -> Result<u64, Expected> {
        self.expect_sp()?;
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let n = std::str::from_utf8(&self.input[start..self.pos])
            .ok()
            .and_then(|s| s.parse().ok());
        n.ok_or_else(|| {
            self.pos = start;
            Expected("size in bytes")
        })
    }

    fn sp_date(&mut self) -> Result<SearchDate, Expected> {
        self.expect_sp()?;
        let start = self.pos;
        let raw = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            self.atom().unwrap_or_default()
        };
        parse_search_date(&raw).ok_or_else(|| {
            self.pos = start;
            Expected("date like 1-Feb-1994")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parse::parse_command;
    use crate::proto::types::{SeqNumber, SequenceSet, MAX_NESTING};
    use SearchKey as K;

    fn keys(input: &str) -> (Option<String>, Vec<SearchKey>, bool) {
        match parse_command(input.as_bytes()) {
            Ok(c) => match c.body {
                CommandBody::Search {
                    charset, keys, uid, ..
                } => (charset, keys, uid),
                other => panic!("{input}: parsed as {other:?}"),
            },
            Err(e) => panic!("{input}: {e}"),
        }
    }

    fn one(input: &str) -> SearchKey {
        let (_, mut k, _) = keys(&format!("a SEARCH {input}"));
        assert_eq!(k.len(), 1, "{input}");
        k.remove(0)
    }

    fn err(input: &str) -> String {
        match parse_command(input.as_bytes()) {
            Ok(c) => panic!("{input} parsed as {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn date(year: u16, month: u8, day: u8) -> SearchDate {
        SearchDate { year, month, day }
    }

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn every_key() {
        let d = date(1994, 2, 1);
        let rows: Vec<(&str, SearchKey)> = vec![
            ("ALL", K::All),
            ("ANSWERED", K::Answered),
            ("BCC bob", K::Bcc(b("bob"))),
            ("BEFORE 1-Feb-1994", K::Before(d)),
            ("BODY \"two words\"", K::Body(b("two words"))),
            ("CC {3}\r\nabc", K::Cc(b("abc"))),
            ("DELETED", K::Deleted),
            ("DRAFT", K::Draft),
            ("FLAGGED", K::Flagged),
            ("FROM Smith", K::From(b("Smith"))),
            ("HEADER X-Spam \"\"", K::Header(b("X-Spam"), b(""))),
            ("KEYWORD $Junk", K::Keyword(b("$Junk"))),
            ("LARGER 5000000000", K::Larger(5_000_000_000)),
            ("NEW", K::New),
            ("NOT SEEN", K::Not(Box::new(K::Seen))),
            ("OLD", K::Old),
            ("ON \"01-Feb-1994\"", K::On(d)),
            (
                "OR SEEN FLAGGED",
                K::Or(Box::new(K::Seen), Box::new(K::Flagged)),
            ),
            ("RECENT", K::Recent),
            ("SEEN", K::Seen),
            ("SENTBEFORE 1-feb-1994", K::SentBefore(d)),
            ("SENTON 1-FEB-1994", K::SentOn(d)),
            ("SENTSINCE 1-Feb-1994", K::SentSince(d)),
            ("SINCE 1-Feb-1994", K::Since(d)),
            ("SMALLER 0", K::Smaller(0)),
            ("SUBJECT hello", K::Subject(b("hello"))),
            ("TEXT \"\"", K::Text(b(""))),
            ("TO ann@example.org", K::To(b("ann@example.org"))),
            (
                "UID 1:*",
                K::Uid(SequenceSet::Ranges(vec![(
                    SeqNumber::Value(1),
                    SeqNumber::Last,
                )])),
            ),
            ("UNANSWERED", K::Unanswered),
            ("UNDELETED", K::Undeleted),
            ("UNDRAFT", K::Undraft),
            ("UNFLAGGED", K::Unflagged),
            ("UNKEYWORD \\Seen", K::Unkeyword(b("\\Seen"))),
            ("UNSEEN", K::Unseen),
            (
                "2,4:*",
                K::SequenceSet(SequenceSet::Ranges(vec![
                    (SeqNumber::Value(2), SeqNumber::Value(2)),
                    (SeqNumber::Value(4), SeqNumber::Last),
                ])),
            ),
            ("(SEEN)", K::And(vec![K::Seen])),
            ("all", K::All),
        ];
        for (input, want) in rows {
            assert_eq!(one(input), want, "{input}");
        }
    }

    #[test]
    fn lists_or_not_and_nesting() {
        let (charset, k, uid) = keys("a UID SEARCH OR (SEEN FLAGGED) NOT (DELETED) 1:3");
        assert_eq!((charset, uid), (None, true));
        assert_eq!(
            k,
            vec![
                K::Or(
                    Box::new(K::And(vec![K::Seen, K::Flagged])),
                    Box::new(K::Not(Box::new(K::And(vec![K::Deleted])))),
                ),
                K::SequenceSet(SequenceSet::Ranges(vec![(
                    SeqNumber::Value(1),
                    SeqNumber::Value(3)
                )])),
            ]
        );
        let nested = |n: usize| format!("a SEARCH {}ALL{}", "(".repeat(n), ")".repeat(n));
        assert!(parse_command(nested(MAX_NESTING).as_bytes()).is_ok());
        let deep = err(&nested(100));
        assert!(deep.contains("nested at most 64 deep"), "{deep}");
        assert!(err(&format!("a SEARCH {}ALL", "NOT ".repeat(100))).contains("nested"));
        assert!(err(&format!("a SEARCH {}ALL ALL", "OR ".repeat(100))).contains("nested"));
    }

    #[test]
    fn return_options_and_saved_result() {
        let ret = |input: &str| match parse_command(input.as_bytes()).unwrap().body {
            CommandBody::Search { ret, .. } => ret,
            other => panic!("{other:?}"),
        };
        assert_eq!(ret("a SEARCH ALL"), None);
        let all = SearchReturn {
            all: true,
            ..Default::default()
        };
        assert_eq!(ret("a SEARCH RETURN () ALL"), Some(all));
        let r = ret("a UID SEARCH return (min MAX count Save) CHARSET UTF-8 ALL").unwrap();
        assert!(r.min && r.max && r.count && r.save && !r.all);
        assert!(r.wants_response());
        let save = ret("a SEARCH RETURN (SAVE) ALL").unwrap();
        assert!(!save.wants_response());
        assert!(err("a SEARCH RETURN (FOO) ALL").contains("MIN, MAX"));
        assert!(err("a SEARCH RETURN (MIN)").contains("SP"));
        assert!(err("a SEARCH RETURN (MIN  MAX) ALL").contains("search return option"));
        let (_, k, _) = keys("a SEARCH OR $ 1 UID $");
        assert_eq!(
            k,
            vec![
                K::Or(
                    Box::new(K::SequenceSet(SequenceSet::Saved)),
                    Box::new(K::SequenceSet(SequenceSet::Ranges(vec![(
                        SeqNumber::Value(1),
                        SeqNumber::Value(1)
                    )])))
                ),
                K::Uid(SequenceSet::Saved),
            ]
        );
        assert!(parse_command(b"a SEARCH $,1").is_err());
    }

    #[test]
    fn charset_forms() {
        for (input, want) in [
            ("a SEARCH CHARSET UTF-8 ALL", "UTF-8"),
            ("a SEARCH charset \"us-ascii\" ALL", "us-ascii"),
            ("a SEARCH CHARSET {5}\r\nUTF-8 TEXT x", "UTF-8"),
            ("a SEARCH CHARSET KOI8-R ALL", "KOI8-R"),
        ] {
            assert_eq!(keys(input).0.as_deref(), Some(want), "{input}");
        }
        let (charset, k, _) = keys("a SEARCH CHARSET UTF-8 TEXT {6}\r\nf\u{f6}\u{f6}r");
        assert_eq!(charset.as_deref(), Some("UTF-8"));
        assert_eq!(k, vec![K::Text("f\u{f6}\u{f6}r".as_bytes().to_vec())]);
        assert!(err("a SEARCH CHARSET").contains("expected SP"));
        assert!(err("a SEARCH CHARSET UTF-8").contains("expected SP"));
    }

    #[test]
    fn errors_say_what_and_where() {
        let rows = [
            ("a SEARCH", "expected SP at byte 8"),
            ("a SEARCH ", "expected search key at byte 9"),
            ("a SEARCH FROB", "expected search key at byte 9"),
            ("a SEARCH ALL FROB", "expected search key at byte 13"),
            ("a SEARCH ALL ", "expected search key at byte 13"),
            ("a SEARCH ()", "expected search key at byte 10"),
            (
                "a SEARCH (ALL",
                "expected SP or ) in search key list at byte 13",
            ),
            ("a SEARCH ALL)", "expected end of command at byte 12"),
            ("a SEARCH NOT", "expected SP at byte 12"),
            ("a SEARCH OR ALL", "expected SP at byte 15"),
            ("a SEARCH FROM", "expected SP at byte 13"),
            ("a SEARCH HEADER Subject", "expected SP at byte 23"),
            (
                "a SEARCH SINCE 2-Feb-94",
                "expected date like 1-Feb-1994 at byte 15",
            ),
            (
                "a SEARCH SINCE 30-Feb-1994",
                "expected date like 1-Feb-1994 at byte 15",
            ),
            (
                "a SEARCH ON 1-Foo-1994",
                "expected date like 1-Feb-1994 at byte 12",
            ),
            ("a SEARCH LARGER x", "expected size in bytes at byte 16"),
            (
                "a SEARCH LARGER 18446744073709551616",
                "expected size in bytes",
            ),
            ("a SEARCH 0", "expected sequence number"),
            ("a SEARCH 1:", "expected sequence number"),
            ("a SEARCH UID", "expected SP at byte 12"),
            ("a SEARCH UID x", "expected sequence number"),
            ("a SEARCH KEYWORD foo(", "expected end of command"),
            (
                "a SEARCH BODY caf\u{e9}",
                "expected quoted string or literal for 8-bit text at byte 14",
            ),
            ("a SEARCH BODY \u{e9}", "expected astring at byte 14"),
            ("a SEARCH TEXT \"open", "expected closing quote"),
        ];
        for (input, want) in rows {
            let e = err(input);
            assert!(e.contains(want), "{input} -> {e}");
            assert!(e.contains("SEARCH"), "{input} -> {e}");
        }
        assert!(err("a UID SEARCH FROB").contains("UID SEARCH"));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_search_date(b"1-Feb-1994"), Some(date(1994, 2, 1)));
        assert_eq!(parse_search_date(b"29-feb-2000"), Some(date(2000, 2, 29)));
        for bad in [
            &b"29-Feb-1999"[..],
            b"0-Jan-2000",
            b"1-Jan-99",
            b"001-Jan-2000",
            b"1-January-2000",
            b"1 Jan 2000",
            b"1-Jan-2000-",
            b"",
        ] {
            assert_eq!(
                parse_search_date(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(date(1970, 1, 2).days(), 1);
    }

    #[test]
    fn never_panics_on_prefixes() {
        let input = b"a SEARCH CHARSET UTF-8 OR (FROM {3}\r\nabc NOT 1:*,5) HEADER \"X\" SINCE \"1-Feb-1994\" LARGER 10";
        for end in 0..input.len() {
            let _ = parse_command(&input[..end]);
        }
    }
}
