//! Response encoding: the one place that decides how a string goes on the
//! wire (atom, quoted string, literal or NIL). Pure: it appends to a
//! `Vec<u8>` and never does I/O, so every choice is tested byte for byte.

use std::fmt;

/// A response under construction. Handlers write untagged data here; the
/// session writes the tagged line and flushes.
#[derive(Default, Debug)]
pub struct ResponseBuf {
    buf: Vec<u8>,
    /// RFC 6855 §3: the client enabled UTF8=ACCEPT, so quoted strings may
    /// carry UTF-8.
    utf8_quoted: bool,
    /// RFC 9586: the client enabled UIDONLY, so message data goes out as
    /// `* uid UIDFETCH (...)` and expunges as VANISHED.
    uid_only: bool,
}

/// A response code (RFC 3501 §7.1, RFC 5530) for `[...]` in status lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    /// RFC 3501 §7.1: text the client must show its user.
    Alert,
    AuthenticationFailed,
    Capability(String),
    Cannot,
    PrivacyRequired,
    ServerBug,
    TooBig,
    Unavailable,
    Limit,
    Parse,
    NonExistent,
    AlreadyExists,
    TryCreate,
    InUse,
    ReadOnly,
    ReadWrite,
    /// RFC 3501 §7.1.
    UidValidity(u32),
    UidNext(u32),
    Unseen(u32),
    /// RFC 4315: the APPENDUID and COPYUID codes.
    AppendUid {
        uidvalidity: u32,
        uids: Vec<u32>,
    },
    CopyUid {
        uidvalidity: u32,
        from: Vec<u32>,
        to: Vec<u32>,
    },
    /// RFC 7162 §3.1.2.1, §3.1.3.
    HighestModseq(u64),
    Modified(Vec<u32>),
    /// RFC 7162 §3.2.11.
    Closed,
    /// RFC 5530.
    ExpungeIssued,
    OverQuota,
    UseAttr,
    /// RFC 3501 §7.1: the charsets SEARCH knows.
    BadCharset(&'static [&'static str]),
    /// RFC 3516 §4.3.
    UnknownCte,
    /// RFC 4978 §4.
    CompressionActive,
    /// Dovecot's code for DELETE of a folder with children.
    HasChildren,
    /// RFC 5267 §4.2: a search that will not be kept updated (its tag).
    NoUpdate(Vec<u8>),
    /// RFC 5464 §4.2.1: the largest value GETMETADATA left out.
    MetadataLongEntries(u64),
    /// RFC 5464 §4.3: the largest value SETMETADATA takes.
    MetadataMaxSize(u64),
    /// RFC 5464 §4.3: no room for more entries.
    MetadataTooMany,
    /// RFC 5465 §5: the events Roost can report (`BADEVENT (...)`).
    BadEvent(&'static str),
    /// RFC 9586 §3: a command named messages by sequence number.
    UidRequired,
    /// RFC 8474 §4.1, §4.2.
    MailboxId(String),
    /// RFC 9585: `INPROGRESS ("tag" done total)`.
    InProgress {
        tag: Vec<u8>,
        done: u64,
        total: u64,
    },
    /// RFC 4469 §3.2: the CATENATE URL that could not be used.
    BadUrl(Vec<u8>),
    /// RFC 2221 §3: the IMAP URL of the server to log in to instead
    /// (built of URL characters only, see `cmd::referral`).
    Referral(String),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Code::Alert => "ALERT",
            Code::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Code::Capability(caps) => return write!(f, "CAPABILITY {caps}"),
            Code::Referral(url) => return write!(f, "REFERRAL {url}"),
            Code::NoUpdate(tag) => {
                // A tag holds no quote or backslash (RFC 3501 tag = astring chars).
                return write!(f, "NOUPDATE \"{}\"", String::from_utf8_lossy(tag));
            }
            Code::Cannot => "CANNOT",
            Code::PrivacyRequired => "PRIVACYREQUIRED",
            Code::ServerBug => "SERVERBUG",
            Code::TooBig => "TOOBIG",
            Code::Unavailable => "UNAVAILABLE",
            Code::Limit => "LIMIT",
            Code::Parse => "PARSE",
            Code::NonExistent => "NONEXISTENT",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::TryCreate => "TRYCREATE",
            Code::InUse => "INUSE",
            Code::ReadOnly => "READ-ONLY",
            Code::ReadWrite => "READ-WRITE",
            Code::UidValidity(n) => return write!(f, "UIDVALIDITY {n}"),
            Code::UidNext(n) => return write!(f, "UIDNEXT {n}"),
            Code::Unseen(n) => return write!(f, "UNSEEN {n}"),
            Code::AppendUid { uidvalidity, uids } => {
                return write!(f, "APPENDUID {uidvalidity} {}", number_set(uids))
            }
            Code::CopyUid {
                uidvalidity,
                from,
                to,
            } => {
                return write!(
                    f,
                    "COPYUID {uidvalidity} {} {}",
                    number_set(from),
                    number_set(to)
                )
            }
            Code::HighestModseq(n) => return write!(f, "HIGHESTMODSEQ {n}"),
            Code::Modified(uids) => return write!(f, "MODIFIED {}", number_set(uids)),
            Code::Closed => "CLOSED",
            Code::UidRequired => "UIDREQUIRED",
            Code::ExpungeIssued => "EXPUNGEISSUED",
            Code::OverQuota => "OVERQUOTA",
            Code::UseAttr => "USEATTR",
            Code::BadCharset(names) => return write!(f, "BADCHARSET ({})", names.join(" ")),
            Code::UnknownCte => "UNKNOWN-CTE",
            Code::CompressionActive => "COMPRESSIONACTIVE",
            Code::HasChildren => "HASCHILDREN",
            Code::MetadataLongEntries(n) => return write!(f, "METADATA LONGENTRIES {n}"),
            Code::MetadataMaxSize(n) => return write!(f, "METADATA MAXSIZE {n}"),
            Code::MetadataTooMany => "METADATA TOOMANY",
            Code::BadEvent(events) => return write!(f, "BADEVENT ({events})"),
            Code::MailboxId(id) => return write!(f, "MAILBOXID ({id})"),
            Code::InProgress { tag, done, total } => {
                // A tag holds no quote or backslash (RFC 3501 tag = astring chars).
                return write!(
                    f,
                    "INPROGRESS (\"{}\" {done} {total})",
                    String::from_utf8_lossy(tag)
                );
            }
            Code::BadUrl(url) => {
                // RFC 4469 §6: `"BADURL" SP url-resp-text`, the URL as
                // sent, less what may not stand in a response code.
                let text: String = url
                    .iter()
                    .map(|&b| match b {
                        b']' | 0x00..=0x1f | 0x7f..=0xff => '?',
                        _ => b as char,
                    })
                    .collect();
                // url-resp-text is 1*char: an empty URL still shows as one.
                let text = if text.is_empty() { "?".into() } else { text };
                return write!(f, "BADURL {text}");
            }
        };
        f.write_str(s)
    }
}

/// A `sequence-set` / RFC 4315 `uid-set` on the wire: runs of consecutive
/// numbers written `a:b`, in the order given (COPYUID pairs its two sets by
/// position, so they are not sorted here). The one writer of number sets.
pub fn number_set(numbers: &[u32]) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &n in numbers {
        match runs.last_mut() {
            Some((_, end)) if *end == n || end.checked_add(1) == Some(n) => *end = n,
            _ => runs.push((n, n)),
        }
    }
    range_set(&runs)
}

/// Inclusive ranges written as a set: `1:3,7,9:10`.
pub fn range_set(ranges: &[(u32, u32)]) -> String {
    use fmt::Write;
    let mut out = String::new();
    for (i, &(a, b)) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = if a == b {
            write!(out, "{a}")
        } else {
            write!(out, "{a}:{b}")
        };
    }
    out
}

/// The status of a response line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Bye,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Bye => "BYE",
        }
    }
}

impl ResponseBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts the buffer back after a flush, keeping its settings.
    pub fn refill(&mut self, buf: Vec<u8>) {
        self.buf = buf;
    }

    /// RFC 9586 UIDONLY, for the rest of the connection.
    pub fn set_uid_only(&mut self) {
        self.uid_only = true;
    }

    pub fn uid_only(&self) -> bool {
        self.uid_only
    }

    /// Starts a message's data: `* msn FETCH (`, or `* uid UIDFETCH (`
    /// under UIDONLY (RFC 9586 §3.3). True if the caller should still
    /// write a `UID` item it would write (not under UIDONLY, where the
    /// number is the UID).
    pub fn fetch_start(&mut self, msn: u32, uid: u32) -> bool {
        if self.uid_only {
            self.untagged().number(uid.into()).raw(" UIDFETCH (");
            false
        } else {
            self.untagged().number(msn.into()).raw(" FETCH (");
            true
        }
    }

    /// Lets quoted strings carry valid UTF-8 (after ENABLE UTF8=ACCEPT).
    pub fn allow_utf8_quoted(&mut self) {
        self.utf8_quoted = true;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Hands the bytes over and leaves the buffer empty (capacity kept).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Appends protocol text that is already in wire form (keywords,
    /// punctuation). Never use it for data a client or a message supplied.
    pub fn raw(&mut self, s: &str) -> &mut Self {
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// Appends bytes that an earlier `ResponseBuf` produced (cached
    /// ENVELOPE or BODYSTRUCTURE): already encoded, so nothing is quoted.
    pub fn encoded(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn sp(&mut self) -> &mut Self {
        self.buf.push(b' ');
        self
    }

    pub fn crlf(&mut self) -> &mut Self {
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    pub fn number(&mut self, n: u64) -> &mut Self {
        self.buf.extend_from_slice(n.to_string().as_bytes());
        self
    }

    /// `* STATUS [CODE] text` — untagged status line.
    pub fn untagged_status(&mut self, status: Status, code: Option<&Code>, text: &str) {
        self.buf.extend_from_slice(b"* ");
        self.status_tail(status, code, text);
    }

    /// `tag STATUS [CODE] text` — the tagged completion line.
    pub fn tagged(&mut self, tag: &[u8], status: Status, code: Option<&Code>, text: &str) {
        self.buf.extend_from_slice(tag);
        self.buf.push(b' ');
        self.status_tail(status, code, text);
    }

    /// `+ text` — a continuation request.
    pub fn continuation(&mut self, text: &str) {
        self.buf.extend_from_slice(b"+ ");
        self.text(text);
        self.crlf();
    }

    /// Starts an untagged data line: `* `. The caller ends it with `crlf()`.
    pub fn untagged(&mut self) -> &mut Self {
        self.buf.extend_from_slice(b"* ");
        self
    }

    fn status_tail(&mut self, status: Status, code: Option<&Code>, text: &str) {
        self.buf.extend_from_slice(status.as_str().as_bytes());
        self.buf.push(b' ');
        if let Some(code) = code {
            // resp-text-code never holds CR/LF/`]` from our own codes; guard anyway.
            let c = code.to_string();
            self.buf.push(b'[');
            self.text(&c.replace(']', ""));
            self.buf.extend_from_slice(b"] ");
        }
        self.text(if text.is_empty() { "done" } else { text });
        self.crlf();
    }

    /// Human-readable `text` (RFC 3501: 1*TEXT-CHAR): CR, LF and NUL would
    /// break the line, so they become spaces.
    fn text(&mut self, text: &str) {
        self.buf.extend(text.bytes().map(|b| match b {
            b'\r' | b'\n' | 0 => b' ',
            b => b,
        }));
    }

    /// `astring`: atom if possible, else a quoted string, else a literal.
    pub fn astring(&mut self, s: &[u8]) -> &mut Self {
        if !s.is_empty() && s.iter().all(|&b| is_astring_char(b)) {
            self.buf.extend_from_slice(s);
            self
        } else {
            self.string(s)
        }
    }

    /// `string`: a quoted string when every byte may be quoted, else a literal.
    /// RFC 3501 §4.3: a quoted string cannot hold CR, LF, NUL or 8-bit bytes.
    pub fn string(&mut self, s: &[u8]) -> &mut Self {
        let quotable = s.iter().all(|&b| is_quotable(b))
            || (self.utf8_quoted
                && std::str::from_utf8(s).is_ok()
                && s.iter().all(|&b| b >= 0x80 || is_quotable(b)));
        if s.len() <= 1024 && quotable {
            self.buf.push(b'"');
            for &b in s {
                if b == b'"' || b == b'\\' {
                    self.buf.push(b'\\');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        } else {
            self.literal(s);
        }
        self
    }

    /// `nstring`: NIL for `None`.
    pub fn nstring(&mut self, s: Option<&[u8]>) -> &mut Self {
        match s {
            Some(s) => self.string(s),
            None => self.raw("NIL"),
        }
    }

    /// `literal8 = "~{" number64 "}" CRLF *OCTET` (RFC 3516): for BINARY
    /// content, which may hold NUL.
    pub fn literal8(&mut self, s: &[u8]) -> &mut Self {
        self.buf.push(b'~');
        self.literal(s)
    }

    /// `literal = "{" number "}" CRLF *CHAR8`.
    pub fn literal(&mut self, s: &[u8]) -> &mut Self {
        self.buf.push(b'{');
        self.buf.extend_from_slice(s.len().to_string().as_bytes());
        self.buf.extend_from_slice(b"}\r\n");
        self.buf.extend_from_slice(s);
        self
    }
}

/// ASTRING-CHAR = ATOM-CHAR / resp-specials (RFC 3501 §9).
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// ATOM-CHAR: any CHAR except atom-specials
/// (`(` `)` `{` SP CTL list-wildcards quoted-specials resp-specials).
pub fn is_atom_char(b: u8) -> bool {
    b > b' ' && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// QUOTED-CHAR before escaping: any 7-bit TEXT-CHAR (no CR, LF, NUL).
fn is_quotable(b: u8) -> bool {
    b != 0 && b != b'\r' && b != b'\n' && b < 0x80
}

#[cfg(test)]
mod tests {

    #[test]
    fn number_and_range_sets() {
        assert_eq!(number_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(number_set(&[4]), "4");
        assert_eq!(number_set(&[]), "");
        // COPYUID pairs by position: the order given is kept.
        assert_eq!(number_set(&[9, 10, 2]), "9:10,2");
        assert_eq!(number_set(&[3, 3, 4]), "3:4");
        assert_eq!(range_set(&[(1, 3), (7, 7), (9, 10)]), "1:3,7,9:10");
        let code = Code::CopyUid {
            uidvalidity: 7,
            from: vec![4, 5, 9],
            to: vec![20, 21, 22],
        };
        assert_eq!(code.to_string(), "COPYUID 7 4:5,9 20:22");
        assert_eq!(Code::Modified(vec![2, 3]).to_string(), "MODIFIED 2:3");
    }
    use super::*;

    fn enc(f: impl Fn(&mut ResponseBuf)) -> String {
        let mut r = ResponseBuf::new();
        f(&mut r);
        String::from_utf8_lossy(r.as_bytes()).into_owned()
    }

    #[test]
    fn astring_choices() {
        let rows: &[(&[u8], &str)] = &[
            (b"INBOX", "INBOX"),
            (b"a]b", "a]b"),
            (b"", "\"\""),
            (b"two words", "\"two words\""),
            (b"q\"uote", "\"q\\\"uote\""),
            (b"back\\slash", "\"back\\\\slash\""),
            (b"50%", "\"50%\""),
            (b"star*", "\"star*\""),
            (b"(paren", "\"(paren\""),
            (b"{brace", "\"{brace\""),
            (b"caf\xc3\xa9", "{5}\r\ncaf\u{e9}"),
            (b"line\r\nbreak", "{11}\r\nline\r\nbreak"),
            (b"lf\n", "{3}\r\nlf\n"),
            (b"nul\0", "{4}\r\nnul\0"),
            (b"tab\there", "\"tab\there\""),
        ];
        for (input, want) in rows {
            assert_eq!(
                enc(|r| {
                    r.astring(input);
                }),
                *want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn string_never_atom_and_nstring_nil() {
        assert_eq!(
            enc(|r| {
                r.string(b"abc");
            }),
            "\"abc\""
        );
        assert_eq!(
            enc(|r| {
                r.nstring(None);
            }),
            "NIL"
        );
        assert_eq!(
            enc(|r| {
                r.nstring(Some(b""));
            }),
            "\"\""
        );
    }

    #[test]
    fn long_strings_become_literals() {
        let long = vec![b'a'; 2000];
        assert!(enc(|r| {
            r.string(&long);
        })
        .starts_with("{2000}\r\n"));
    }

    #[test]
    fn literal8_for_binary() {
        assert_eq!(
            enc(|r| {
                r.literal8(b"a\0b");
            }),
            "~{3}\r\na\0b"
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            enc(|r| r.tagged(
                b"a1",
                Status::No,
                Some(&Code::AuthenticationFailed),
                "Authentication failed."
            )),
            "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
        );
        assert_eq!(
            enc(|r| r.untagged_status(
                Status::Ok,
                Some(&Code::Capability("IMAP4rev1 IDLE".into())),
                "hi"
            )),
            "* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"
        );
        assert_eq!(
            enc(|r| r.untagged_status(Status::Bye, None, "bad\r\nthing")),
            "* BYE bad  thing\r\n"
        );
        assert_eq!(enc(|r| r.continuation("")), "+ \r\n");
    }
}
