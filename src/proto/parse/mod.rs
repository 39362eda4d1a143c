//! Command parsing: a pure function from one framed command (as produced by
//! `proto::reader`) to a `Command`. Recursive descent over the RFC 3501 §9
//! grammar; no I/O, no session state, so it can be fuzzed alone.

use super::encode::is_astring_char;
use super::types::{
    AppendMessage, CatPart, Command, CommandBody, DateTime, FetchAtt, Flag, Section, SectionText,
    SeqNumber, SequenceSet, StatusItem, StoreMode,
};
use std::fmt;

mod acl;
mod condstore;
mod metadata;
mod notify;
mod quota;
mod search;
mod sort;

/// Longest tag we accept; longer ones are almost surely garbage.
const MAX_TAG: usize = 64;
/// ID (RFC 2971 §3.3): at most 30 field-value pairs.
const MAX_ID_PAIRS: usize = 30;
/// Limits on what one command may ask for (config keys
/// `max_sequence_ranges` and `max_search_depth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Ranges in one sequence set; a client needing more can split commands.
    pub max_set_ranges: usize,
    /// Nesting of parentheses, NOT and OR in a SEARCH program.
    pub max_search_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_set_ranges: 100_000,
            max_search_depth: super::types::MAX_NESTING,
        }
    }
}

/// Parses the inside of an IMAP `date-time` string.
pub fn parse_date_time(raw: &[u8]) -> Option<DateTime> {
    let s = std::str::from_utf8(raw).ok()?;
    // date-day-fixed may be " 7" (space-padded) or "07".
    let s = s.strip_prefix(' ').unwrap_or(s);
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let mut dparts = date.split('-');
    let day: u32 = dparts.next()?.parse().ok()?;
    let month = month_number(dparts.next()?)?;
    let year_str = dparts.next()?;
    if dparts.next().is_some() || year_str.len() != 4 {
        return None;
    }
    let year: i64 = year_str.parse().ok()?;
    let mut tparts = time.split(':');
    let mut field = |max: u32| -> Option<u32> {
        let t = tparts.next()?;
        let v: u32 = (t.len() == 2).then(|| t.parse().ok()).flatten()?;
        (v <= max).then_some(v)
    };
    let (h, m, sec) = (field(23)?, field(59)?, field(60)?);
    if zone.len() != 5 || !(zone.starts_with('+') || zone.starts_with('-')) {
        return None;
    }
    let zh: i32 = zone[1..3].parse().ok()?;
    let zm: i32 = zone[3..5].parse().ok()?;
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zone_minutes = sign * (zh * 60 + zm);
    if day == 0 || day > crate::datetime::days_in_month(year, month) || zm > 59 {
        return None;
    }
    let days = crate::datetime::days_from_civil(year, month, day);
    let local = days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec);
    Some(DateTime {
        unix: local - i64::from(zone_minutes) * 60,
        zone_minutes,
    })
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as u32 + 1)
}

/// Why a command was rejected; becomes a tagged (or, without a tag,
/// untagged) BAD.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The command's tag, when one could be read.
    pub tag: Option<Vec<u8>>,
    pub kind: ParseErrorKind,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The line does not start with a valid tag.
    NoTag,
    /// The command name is not one Roost knows.
    UnknownCommand(String),
    /// Arguments do not follow the grammar.
    Syntax {
        command: String,
        pos: usize,
        expected: &'static str,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ParseErrorKind::NoTag => f.write_str("Error in IMAP command: missing or invalid tag"),
            ParseErrorKind::UnknownCommand(name) if name.is_empty() => {
                f.write_str("Error in IMAP command: missing command name")
            }
            ParseErrorKind::UnknownCommand(name) => write!(f, "Unknown command {name}"),
            ParseErrorKind::Syntax {
                command,
                pos,
                expected,
            } => write!(
                f,
                "Error in IMAP command {command}: expected {expected} at byte {pos}"
            ),
        }
    }
}

/// Parses one framed command (without its final CRLF).
pub fn parse_command(input: &[u8]) -> Result<Command, ParseError> {
    parse_command_with(input, ParseLimits::default())
}

/// A `section-spec` as in `BODY[...]`, from an IMAP URL's `;SECTION=`
/// (RFC 5092 §3: the same grammar, already percent-decoded).
pub fn parse_section_spec(spec: &[u8]) -> Option<Section> {
    let mut input = Vec::with_capacity(spec.len() + 2);
    input.push(b'[');
    input.extend_from_slice(spec);
    input.push(b']');
    let mut p = Parser {
        input: &input,
        pos: 0,
        limits: ParseLimits::default(),
    };
    let section = p.section().ok()?;
    (p.pos == input.len()).then_some(section)
}

/// `parse_command` with the server's configured limits.
pub fn parse_command_with(input: &[u8], limits: ParseLimits) -> Result<Command, ParseError> {
    let mut p = Parser {
        input,
        pos: 0,
        limits,
    };
    let tag = p.tag().ok_or(ParseError {
        tag: None,
        kind: ParseErrorKind::NoTag,
    })?;
    let error = |kind| ParseError {
        tag: Some(tag.clone()),
        kind,
    };
    if p.expect_sp().is_err() {
        return Err(error(ParseErrorKind::UnknownCommand(String::new())));
    }
    let name = p.atom().unwrap_or_default().to_ascii_uppercase();
    // What errors call the command: `UID FETCH` once the UID's command
    // name is read.
    let mut label = String::from_utf8_lossy(&name).into_owned();
    let body = p.command_body(&name, &mut label);
    let syntax = |command: String, pos, expected| ParseErrorKind::Syntax {
        command,
        pos,
        expected,
    };
    let body = match body {
        Ok(Some(body)) => body,
        Ok(None) => return Err(error(ParseErrorKind::UnknownCommand(label))),
        Err(Expected(e)) => return Err(error(syntax(label, p.pos, e))),
    };
    if p.pos != input.len() {
        let kind = syntax(body.name().to_string(), p.pos, "end of command");
        return Err(error(kind));
    }
    Ok(Command { tag, body })
}

/// Where the secret part of a command starts, for the protocol trace: the
/// password of LOGIN, the initial response of AUTHENTICATE. Lenient: it
/// works on malformed commands too, hiding everything after the name.
pub fn secret_offset(input: &[u8]) -> Option<usize> {
    let mut p = Parser {
        input,
        pos: 0,
        limits: ParseLimits::default(),
    };
    p.tag()?;
    p.expect_sp().ok()?;
    let name = p.atom()?.to_ascii_uppercase();
    let after_name = p.pos;
    match name.as_slice() {
        b"LOGIN" => {
            let user_ok = p.expect_sp().is_ok() && p.astring().is_ok() && p.expect_sp().is_ok();
            Some(if user_ok { p.pos } else { after_name })
        }
        b"AUTHENTICATE" => {
            let mech_ok = p.expect_sp().is_ok() && p.atom().is_some();
            (mech_ok && p.peek() == Some(b' ')).then_some(p.pos + 1)
        }
        _ => None,
    }
}

/// What the parser wanted where it failed.
#[derive(Debug)]
pub(crate) struct Expected(pub(crate) &'static str);

/// Recursive-descent state: the command bytes and the current position.
/// Grammar rules are methods; `search` adds the SEARCH rules.
pub(crate) struct Parser<'a> {
    pub(crate) input: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) limits: ParseLimits,
}

impl Parser<'_> {
    /// The arguments of command `name` (upper case); None for a command
    /// Roost does not know. After UID, `label` becomes `UID <name>`.
    fn command_body(
        &mut self,
        name: &[u8],
        label: &mut String,
    ) -> Result<Option<CommandBody>, Expected> {
        Ok(Some(match name {
            b"CAPABILITY" => CommandBody::Capability,
            b"NOOP" => CommandBody::Noop,
            b"LOGOUT" => CommandBody::Logout,
            b"STARTTLS" => CommandBody::StartTls,
            b"LOGIN" => {
                self.expect_sp()?;
                let user = self.astring()?;
                self.expect_sp()?;
                let password = self.astring()?;
                CommandBody::Login { user, password }
            }
            b"AUTHENTICATE" => {
                self.expect_sp()?;
                let mech = self.atom().ok_or(Expected("mechanism name"))?;
                let initial = if self.peek() == Some(b' ') {
                    self.pos += 1;
                    Some(self.base64_or_eq()?)
                } else {
                    None
                };
                CommandBody::Authenticate {
                    mechanism: String::from_utf8_lossy(&mech).to_ascii_uppercase(),
                    initial,
                }
            }
            b"ID" => {
                self.expect_sp()?;
                CommandBody::Id(self.id_params()?)
            }
            b"SELECT" | b"EXAMINE" => CommandBody::Select {
                mailbox: self.sp_mailbox()?,
                read_only: name == b"EXAMINE",
                params: self.select_params()?,
            },
            b"CREATE" => self.create()?,
            b"DELETE" => CommandBody::Delete {
                mailbox: self.sp_mailbox()?,
            },
            b"RENAME" => CommandBody::Rename {
                from: self.sp_mailbox()?,
                to: self.sp_mailbox()?,
            },
            b"SUBSCRIBE" | b"UNSUBSCRIBE" => CommandBody::Subscribe {
                mailbox: self.sp_mailbox()?,
                on: name == b"SUBSCRIBE",
            },
            b"LIST" if self.list_is_extended() => self.list_extended()?,
            b"LIST" | b"LSUB" => {
                let reference = self.sp_mailbox()?;
                self.expect_sp()?;
                CommandBody::List {
                    reference,
                    pattern: self.list_mailbox()?,
                    lsub: name == b"LSUB",
                }
            }
            b"STATUS" => {
                let mailbox = self.sp_mailbox()?;
                self.expect_sp()?;
                CommandBody::Status {
                    mailbox,
                    items: self.status_items()?,
                }
            }
            b"APPEND" => self.append()?,
            b"CHECK" => CommandBody::Check,
            b"IDLE" => CommandBody::Idle,
            b"CLOSE" => CommandBody::Close,
            b"UNSELECT" => CommandBody::Unselect,
            b"EXPUNGE" => CommandBody::Expunge { uids: None },
            b"FETCH" => self.fetch(false)?,
            b"SEARCH" => self.search(false)?,
            b"ESEARCH" => self.multi_search()?,
            b"GETACL" | b"MYRIGHTS" | b"LISTRIGHTS" | b"SETACL" | b"DELETEACL" => self.acl(name)?,
            b"SORT" => self.sort(false)?,
            b"THREAD" => self.thread(false)?,
            b"STORE" => self.store(false)?,
            b"COPY" | b"MOVE" => self.copy(false, name == b"MOVE")?,
            b"NAMESPACE" => CommandBody::Namespace,
            b"CANCELUPDATE" => {
                let mut tags = Vec::new();
                while self.peek() == Some(b' ') {
                    self.pos += 1;
                    tags.push(self.string()?);
                }
                if tags.is_empty() {
                    return Err(Expected("SP and a tag string"));
                }
                CommandBody::CancelUpdate(tags)
            }
            b"REPLACE" => self.replace(false)?,
            b"UNAUTHENTICATE" => CommandBody::Unauthenticate,
            b"GETQUOTA" => self.getquota()?,
            b"GETQUOTAROOT" => self.getquotaroot()?,
            b"SETQUOTA" => self.setquota()?,
            b"ENABLE" => self.enable()?,
            b"GETMETADATA" => self.getmetadata()?,
            b"SETMETADATA" => self.setmetadata()?,
            b"NOTIFY" => self.notify()?,
            b"UID" => {
                self.expect_sp()?;
                let sub = self.atom().ok_or(Expected("UID command name"))?;
                let sub = sub.to_ascii_uppercase();
                *label = format!("UID {}", String::from_utf8_lossy(&sub));
                match sub.as_slice() {
                    b"EXPUNGE" => {
                        self.expect_sp()?;
                        CommandBody::Expunge {
                            uids: Some(self.sequence_set()?),
                        }
                    }
                    b"FETCH" => self.fetch(true)?,
                    b"REPLACE" => self.replace(true)?,
                    b"SEARCH" => self.search(true)?,
                    b"SORT" => self.sort(true)?,
                    b"THREAD" => self.thread(true)?,
                    b"STORE" => self.store(true)?,
                    b"COPY" | b"MOVE" => self.copy(true, sub == b"MOVE")?,
                    _ => return Ok(None),
                }
            }
            b"COMPRESS" => {
                self.expect_sp()?;
                let mechanism = self.atom().ok_or(Expected("compression mechanism"))?;
                CommandBody::Compress {
                    mechanism: String::from_utf8_lossy(&mechanism).to_ascii_uppercase(),
                }
            }
            _ => return Ok(None),
        }))
    }

    /// After an element of a parenthesized list: true at the closing `)`,
    /// false at the SP before the next element (either is consumed).
    pub(crate) fn list_end(&mut self, what: &'static str) -> Result<bool, Expected> {
        let end = self.peek() == Some(b')');
        if !end && self.peek() != Some(b' ') {
            return Err(Expected(what));
        }
        self.pos += 1;
        Ok(end)
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn tag(&mut self) -> Option<Vec<u8>> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_astring_char(b) && b != b'+' {
                self.pos += 1;
            } else {
                break;
            }
        }
        let tag = &self.input[start..self.pos];
        (!tag.is_empty() && tag.len() <= MAX_TAG).then(|| tag.to_vec())
    }

    pub(crate) fn expect_sp(&mut self) -> Result<(), Expected> {
        self.expect(b' ', "SP")
    }

    pub(crate) fn expect(&mut self, b: u8, what: &'static str) -> Result<(), Expected> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Expected(what))
        }
    }

    /// `atom = 1*ATOM-CHAR`
    pub(crate) fn atom(&mut self) -> Option<Vec<u8>> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if super::encode::is_atom_char(b)) {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.input[start..self.pos].to_vec())
    }

    /// `astring = 1*ASTRING-CHAR / string`
    pub(crate) fn astring(&mut self) -> Result<Vec<u8>, Expected> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            Some(b) if is_astring_char(b) => {
                let start = self.pos;
                while matches!(self.peek(), Some(b) if is_astring_char(b)) {
                    self.pos += 1;
                }
                Ok(self.input[start..self.pos].to_vec())
            }
            _ => Err(Expected("astring")),
        }
    }

    /// `string = quoted / literal`
    pub(crate) fn string(&mut self) -> Result<Vec<u8>, Expected> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err(Expected("string")),
        }
    }

    /// `nstring = string / nil`
    pub(crate) fn nstring(&mut self) -> Result<Option<Vec<u8>>, Expected> {
        if self.nil() {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    pub(crate) fn nil(&mut self) -> bool {
        let rest = &self.input[self.pos..];
        if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"NIL") {
            let after = rest.get(3).copied();
            if after.is_none_or(|b| !super::encode::is_atom_char(b)) {
                self.pos += 3;
                return true;
            }
        }
        false
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`; `\` escapes only `"` and `\`.
    pub(crate) fn quoted(&mut self) -> Result<Vec<u8>, Expected> {
        self.expect(b'"', "quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') | Some(0) => {
                    return Err(Expected("closing quote"))
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(Expected("\\\" or \\\\ after backslash")),
                    }
                }
                // RFC 3501 quoted strings are 7-bit; RFC 9051 (UTF8=ACCEPT)
                // allows UTF-8. Accepting 8-bit here is what Dovecot does
                // for passwords with non-ASCII characters.
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `literal = "{" number ["+"] "}" CRLF *CHAR8`; the reader has already
    /// gathered exactly `number` bytes after the CRLF.
    pub(crate) fn literal(&mut self) -> Result<Vec<u8>, Expected> {
        self.expect(b'{', "literal")?;
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let len: usize = std::str::from_utf8(&self.input[start..self.pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Expected("literal size"))?;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        self.expect(b'}', "}")?;
        self.expect(b'\r', "CRLF after literal size")?;
        self.expect(b'\n', "CRLF after literal size")?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.input.len())
            .ok_or(Expected("literal data"))?;
        let data = self.input[self.pos..end].to_vec();
        self.pos = end;
        Ok(data)
    }

    /// `SP mailbox`; `mailbox = "INBOX" / astring`.
    pub(crate) fn sp_mailbox(&mut self) -> Result<Vec<u8>, Expected> {
        self.expect_sp()?;
        self.astring().map_err(|_| Expected("mailbox name"))
    }

    /// `list-mailbox = 1*list-char / string`
    fn list_mailbox(&mut self) -> Result<Vec<u8>, Expected> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let start = self.pos;
                while matches!(self.peek(), Some(b) if is_astring_char(b) || b == b'%' || b == b'*')
                {
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(Expected("mailbox pattern"));
                }
                Ok(self.input[start..self.pos].to_vec())
            }
        }
    }

    /// `"(" status-att *(SP status-att) ")"`
    fn status_items(&mut self) -> Result<Vec<StatusItem>, Expected> {
        self.expect(b'(', "(")?;
        let mut items = Vec::new();
        loop {
            let word = self
                .atom()
                .ok_or(Expected("status item"))?
                .to_ascii_uppercase();
            items.push(match word.as_slice() {
                b"MESSAGES" => StatusItem::Messages,
                b"RECENT" => StatusItem::Recent,
                b"UIDNEXT" => StatusItem::UidNext,
                b"UIDVALIDITY" => StatusItem::UidValidity,
                b"UNSEEN" => StatusItem::Unseen,
                b"DELETED" => StatusItem::Deleted,
                b"SIZE" => StatusItem::Size,
                b"HIGHESTMODSEQ" => StatusItem::HighestModseq,
                b"APPENDLIMIT" => StatusItem::AppendLimit,
                b"MAILBOXID" => StatusItem::MailboxId,
                _ => {
                    return Err(Expected(
                        "MESSAGES, RECENT, UIDNEXT, UIDVALIDITY, UNSEEN, DELETED, SIZE, HIGHESTMODSEQ, APPENDLIMIT or MAILBOXID",
                    ))
                }
            });
            if self.list_end("SP or )")? {
                return Ok(items);
            }
        }
    }

    /// `append = "APPEND" SP mailbox 1*append-message` (RFC 3502), each
    /// `[SP flag-list] [SP date-time] SP append-data`.
    fn append(&mut self) -> Result<CommandBody, Expected> {
        let mailbox = self.sp_mailbox()?;
        let mut messages = Vec::new();
        while self.peek() == Some(b' ') {
            self.pos += 1;
            messages.push(self.append_message()?);
        }
        if messages.is_empty() {
            return Err(Expected("SP and a message literal"));
        }
        Ok(CommandBody::Append { mailbox, messages })
    }

    /// `replace = "REPLACE" SP seq-number SP mailbox SP append-message`
    /// (RFC 8508 §6; `UID REPLACE` takes a UID).
    fn replace(&mut self, uid: bool) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let number = self.nz_number()?;
        let mailbox = self.sp_mailbox()?;
        self.expect_sp()?;
        let message = self.append_message()?;
        Ok(CommandBody::Replace {
            uid,
            number,
            mailbox,
            message,
        })
    }

    /// One `append-message`, the SP before it already read.
    fn append_message(&mut self) -> Result<AppendMessage, Expected> {
        let mut flags = Vec::new();
        if self.peek() == Some(b'(') {
            flags = self.flag_list()?;
            self.expect_sp()?;
        }
        let mut date = None;
        if self.peek() == Some(b'"') {
            date = Some(self.date_time()?);
            self.expect_sp()?;
        }
        let rest = &self.input[self.pos..];
        if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case(b"CATENATE ") {
            self.pos += 9;
            let parts = self.catenate_parts()?;
            return Ok(AppendMessage {
                flags,
                date,
                message: Vec::new(),
                message_at: 0,
                utf8: false,
                catenate: Some(parts),
            });
        }
        // RFC 6855 §4: `utf8-literal = "UTF8" SP "(" literal8 ")"`.
        let utf8 = rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"UTF8 ");
        if utf8 {
            self.pos += 5;
            self.expect(b'(', "( after UTF8")?;
            self.expect(b'~', "literal8 in UTF8 (...)")?;
        } else if self.peek() == Some(b'~') && self.input.get(self.pos + 1) == Some(&b'{') {
            // RFC 3516 §4.4: APPEND may send the message as literal8 ("~{n}").
            self.pos += 1;
        }
        if self.peek() != Some(b'{') {
            return Err(Expected("message literal"));
        }
        let message = self.literal()?;
        let message_at = self.pos - message.len();
        if utf8 {
            self.expect(b')', ") after UTF8 literal")?;
        }
        Ok(AppendMessage {
            flags,
            date,
            message,
            message_at,
            utf8,
            catenate: None,
        })
    }

    /// RFC 4469 §5: `"(" cat-part *(SP cat-part) ")"`, where
    /// `cat-part = text-literal / url` (`"TEXT" SP literal`, `"URL" SP astring`).
    fn catenate_parts(&mut self) -> Result<Vec<CatPart>, Expected> {
        self.expect(b'(', "( after CATENATE")?;
        let mut parts = Vec::new();
        loop {
            let word = self.atom().unwrap_or_default().to_ascii_uppercase();
            self.expect_sp()?;
            match word.as_slice() {
                b"TEXT" => {
                    // RFC 4469 §5 with RFC 3516: TEXT may be a literal8.
                    if self.peek() == Some(b'~') {
                        self.pos += 1;
                    }
                    let data = self.literal()?;
                    let at = self.pos - data.len();
                    parts.push(CatPart::Text { data, at });
                }
                b"URL" => parts.push(CatPart::Url(self.astring()?)),
                _ => return Err(Expected("TEXT or URL in CATENATE")),
            }
            if self.list_end("SP or ) in CATENATE")? {
                return Ok(parts);
            }
        }
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`
    pub(crate) fn flag_list(&mut self) -> Result<Vec<Flag>, Expected> {
        self.expect(b'(', "(")?;
        let mut flags = Vec::new();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(flags);
        }
        loop {
            flags.push(self.flag()?);
            if self.list_end("SP or ) in flag list")? {
                return Ok(flags);
            }
        }
    }

    /// `flag = "\Answered" / ... / flag-keyword / flag-extension`
    pub(crate) fn flag(&mut self) -> Result<Flag, Expected> {
        if self.peek() == Some(b'\\') {
            self.pos += 1;
            let name = self.atom().ok_or(Expected("flag name after \\"))?;
            let upper = name.to_ascii_uppercase();
            return Ok(match upper.as_slice() {
                b"ANSWERED" => Flag::Answered,
                b"FLAGGED" => Flag::Flagged,
                b"DELETED" => Flag::Deleted,
                b"SEEN" => Flag::Seen,
                b"DRAFT" => Flag::Draft,
                b"RECENT" => Flag::Recent,
                _ => Flag::Extension(String::from_utf8_lossy(&name).into_owned()),
            });
        }
        let name = self.atom().ok_or(Expected("flag"))?;
        Ok(Flag::Keyword(String::from_utf8_lossy(&name).into_owned()))
    }

    /// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP
    /// time SP zone DQUOTE`, e.g. `"17-Jul-1996 02:44:25 -0700"`.
    pub(crate) fn date_time(&mut self) -> Result<DateTime, Expected> {
        let raw = self.quoted()?;
        parse_date_time(&raw).ok_or(Expected("date-time like \"17-Jul-1996 02:44:25 -0700\""))
    }

    /// `sequence-set = (seq-number / seq-range) ["," sequence-set]`, or
    /// RFC 5182 `"$"`, the saved search result.
    pub(crate) fn sequence_set(&mut self) -> Result<SequenceSet, Expected> {
        if self.peek() == Some(b'$') {
            self.pos += 1;
            return Ok(SequenceSet::Saved);
        }
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.peek() == Some(b':') {
                self.pos += 1;
                self.seq_number()?
            } else {
                a
            };
            if ranges.len() >= self.limits.max_set_ranges {
                return Err(Expected("a shorter sequence set"));
            }
            ranges.push((a, b));
            if self.peek() == Some(b',') {
                self.pos += 1;
            } else {
                return Ok(SequenceSet::Ranges(ranges));
            }
        }
    }

    /// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
    /// fetch-att / "(" fetch-att *(SP fetch-att) ")")`
    fn fetch(&mut self, uid: bool) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let set = self.sequence_set()?;
        self.expect_sp()?;
        let mut items = Vec::new();
        if self.peek() == Some(b'(') {
            self.pos += 1;
            loop {
                items.push(self.fetch_att()?);
                if self.list_end("SP or ) in fetch attribute list")? {
                    break;
                }
            }
        } else {
            let save = self.pos;
            let word = self.fetch_word();
            let macro_items = match word.to_ascii_uppercase().as_slice() {
                b"ALL" => Some(vec![
                    FetchAtt::Flags,
                    FetchAtt::InternalDate,
                    FetchAtt::Rfc822Size,
                    FetchAtt::Envelope,
                ]),
                b"FAST" => Some(vec![
                    FetchAtt::Flags,
                    FetchAtt::InternalDate,
                    FetchAtt::Rfc822Size,
                ]),
                b"FULL" => Some(vec![
                    FetchAtt::Flags,
                    FetchAtt::InternalDate,
                    FetchAtt::Rfc822Size,
                    FetchAtt::Envelope,
                    FetchAtt::Body,
                ]),
                _ => None,
            };
            match macro_items {
                Some(m) => items = m,
                None => {
                    self.pos = save;
                    items.push(self.fetch_att()?);
                }
            }
        }
        let modifiers = self.fetch_modifiers()?;
        Ok(CommandBody::Fetch {
            set,
            items,
            uid,
            modifiers,
        })
    }

    /// A fetch attribute name: letters, digits, '.' (e.g. RFC822.SIZE).
    fn fetch_word(&mut self) -> Vec<u8> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'.') {
            self.pos += 1;
        }
        self.input[start..self.pos].to_vec()
    }

    /// `fetch-att` (RFC 3501 §9, RFC 3516).
    fn fetch_att(&mut self) -> Result<FetchAtt, Expected> {
        let word = self.fetch_word().to_ascii_uppercase();
        Ok(match word.as_slice() {
            b"ENVELOPE" => FetchAtt::Envelope,
            b"FLAGS" => FetchAtt::Flags,
            b"INTERNALDATE" => FetchAtt::InternalDate,
            b"RFC822" => FetchAtt::Rfc822,
            b"RFC822.HEADER" => FetchAtt::Rfc822Header,
            b"RFC822.SIZE" => FetchAtt::Rfc822Size,
            b"RFC822.TEXT" => FetchAtt::Rfc822Text,
            b"BODYSTRUCTURE" => FetchAtt::BodyStructure,
            b"UID" => FetchAtt::Uid,
            b"BODY" | b"BODY.PEEK" => {
                let peek = word.len() > 4;
                if self.peek() != Some(b'[') {
                    if peek {
                        return Err(Expected("[ after BODY.PEEK"));
                    }
                    return Ok(FetchAtt::Body);
                }
                let section = self.section()?;
                let partial = self.partial()?;
                FetchAtt::BodySection {
                    peek,
                    section,
                    partial,
                }
            }
            b"BINARY" | b"BINARY.PEEK" => {
                let peek = word.len() > 6;
                let part = self.section_binary()?;
                let partial = self.partial()?;
                FetchAtt::Binary {
                    peek,
                    part,
                    partial,
                }
            }
            b"BINARY.SIZE" => FetchAtt::BinarySize {
                part: self.section_binary()?,
            },
            b"MODSEQ" => FetchAtt::Modseq,
            b"SAVEDATE" => FetchAtt::SaveDate,
            b"EMAILID" => FetchAtt::EmailId,
            b"THREADID" => FetchAtt::ThreadId,
            b"PREVIEW" | b"SNIPPET" => self.preview_modifiers(word == b"SNIPPET")?,
            _ => return Err(Expected("fetch attribute")),
        })
    }

    /// RFC 8970 §3 `PREVIEW ["(" "LAZY" ")"]`, and Dovecot 2.3's names
    /// from the PREVIEW drafts: `SNIPPET` and the `FUZZY` / `LAZY=FUZZY`
    /// modifiers. LAZY only allows a later answer, and ours is always
    /// ready. The caller has read the name.
    fn preview_modifiers(&mut self, snippet: bool) -> Result<FetchAtt, Expected> {
        let (mut lazy, mut fuzzy) = (false, snippet);
        if self.input.get(self.pos..self.pos + 2) == Some(b" (") {
            self.pos += 2;
            loop {
                let start = self.pos;
                while !matches!(self.peek(), Some(b' ' | b')') | None) {
                    self.pos += 1;
                }
                let word = &self.input[start..self.pos];
                if word.eq_ignore_ascii_case(b"LAZY") {
                    lazy = true;
                } else if word.eq_ignore_ascii_case(b"FUZZY") {
                    fuzzy = true;
                } else if word.eq_ignore_ascii_case(b"LAZY=FUZZY") {
                    (lazy, fuzzy) = (true, true);
                } else {
                    return Err(Expected("LAZY or FUZZY"));
                }
                match self.peek() {
                    Some(b' ') => self.pos += 1,
                    _ => break,
                }
            }
            self.expect(b')', ")")?;
        }
        Ok(FetchAtt::Preview {
            lazy,
            fuzzy,
            snippet,
        })
    }

    /// `section = "[" [section-spec] "]"`
    fn section(&mut self) -> Result<Section, Expected> {
        self.expect(b'[', "[")?;
        let mut section = Section::default();
        // section-part: numbers separated by '.', possibly followed by ".TEXT" etc.
        while matches!(self.peek(), Some(b'1'..=b'9')) {
            section.part.push(self.nz_number()?);
            if self.peek() == Some(b'.') {
                self.pos += 1;
                if !matches!(self.peek(), Some(b'1'..=b'9')) {
                    break;
                }
            } else {
                break;
            }
        }
        if self.peek() != Some(b']') {
            let word = self.fetch_word().to_ascii_uppercase();
            section.text = Some(match word.as_slice() {
                b"HEADER" => SectionText::Header,
                b"TEXT" => SectionText::Text,
                b"MIME" if !section.part.is_empty() => SectionText::Mime,
                b"HEADER.FIELDS" | b"HEADER.FIELDS.NOT" => {
                    self.expect_sp()?;
                    let fields = self.header_list()?;
                    if word.len() > 13 {
                        SectionText::HeaderFieldsNot(fields)
                    } else {
                        SectionText::HeaderFields(fields)
                    }
                }
                _ => {
                    return Err(Expected(
                        "HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME",
                    ))
                }
            });
        }
        self.expect(b']', "]")?;
        Ok(section)
    }

    /// `header-list = "(" header-fld-name *(SP header-fld-name) ")"`
    fn header_list(&mut self) -> Result<Vec<Vec<u8>>, Expected> {
        self.expect(b'(', "( header list")?;
        let mut names = Vec::new();
        loop {
            names.push(self.astring()?);
            if self.list_end("SP or ) in header list")? {
                return Ok(names);
            }
        }
    }

    /// `section-binary = "[" [section-part] "]"`
    fn section_binary(&mut self) -> Result<Vec<u32>, Expected> {
        self.expect(b'[', "[")?;
        let mut part = Vec::new();
        while self.peek() != Some(b']') {
            part.push(self.nz_number()?);
            if self.peek() == Some(b'.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.expect(b']', "]")?;
        Ok(part)
    }

    /// `partial = "<" number "." nz-number ">"`
    fn partial(&mut self) -> Result<Option<(u32, u32)>, Expected> {
        if self.peek() != Some(b'<') {
            return Ok(None);
        }
        self.pos += 1;
        let start = self.number()?;
        self.expect(b'.', ". in partial")?;
        let len = self.nz_number()?;
        self.expect(b'>', ">")?;
        Ok(Some((start, len)))
    }

    pub(crate) fn number(&mut self) -> Result<u32, Expected> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.input[start..self.pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Expected("number"))
    }

    pub(crate) fn nz_number(&mut self) -> Result<u32, Expected> {
        match self.number()? {
            0 => Err(Expected("non-zero number")),
            n => Ok(n),
        }
    }

    /// `copy = "COPY" SP sequence-set SP mailbox` (MOVE: RFC 6851)
    fn copy(&mut self, uid: bool, is_move: bool) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let set = self.sequence_set()?;
        let mailbox = self.sp_mailbox()?;
        Ok(CommandBody::Copy {
            set,
            mailbox,
            uid,
            is_move,
        })
    }

    /// `store = "STORE" SP sequence-set SP store-att-flags`
    fn store(&mut self, uid: bool) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let set = self.sequence_set()?;
        let unchanged_since = self.store_modifiers()?;
        self.expect_sp()?;
        let mode = match self.peek() {
            Some(b'+') => {
                self.pos += 1;
                StoreMode::Add
            }
            Some(b'-') => {
                self.pos += 1;
                StoreMode::Remove
            }
            _ => StoreMode::Replace,
        };
        let word = self.fetch_word().to_ascii_uppercase();
        let silent = match word.as_slice() {
            b"FLAGS" => false,
            b"FLAGS.SILENT" => true,
            _ => return Err(Expected("FLAGS or FLAGS.SILENT")),
        };
        self.expect_sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut flags = vec![self.flag()?];
            while self.peek() == Some(b' ') {
                self.pos += 1;
                flags.push(self.flag()?);
            }
            flags
        };
        Ok(CommandBody::Store {
            set,
            mode,
            silent,
            flags,
            uid,
            unchanged_since,
        })
    }

    /// `seq-number = nz-number / "*"`
    pub(crate) fn seq_number(&mut self) -> Result<SeqNumber, Expected> {
        if self.peek() == Some(b'*') {
            self.pos += 1;
            return Ok(SeqNumber::Last);
        }
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let n: u32 = std::str::from_utf8(&self.input[start..self.pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n| n > 0)
            .ok_or(Expected("sequence number"))?;
        Ok(SeqNumber::Value(n))
    }

    /// SASL initial response: `base64 / "="` (RFC 4959). Decoding is left to
    /// the SASL code; here we only take the token.
    fn base64_or_eq(&mut self) -> Result<Vec<u8>, Expected> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(Expected("base64 initial response"));
        }
        Ok(self.input[start..self.pos].to_vec())
    }

    /// `create = "CREATE" SP mailbox [create-params]` (RFC 4466 §2.1), with
    /// RFC 6154's USE as the one parameter known.
    fn create(&mut self) -> Result<CommandBody, Expected> {
        let mailbox = self.sp_mailbox()?;
        if self.peek() != Some(b' ') {
            return Ok(CommandBody::Create { mailbox });
        }
        self.pos += 1;
        self.expect(b'(', "( create parameters")?;
        let word = self.atom().ok_or(Expected("USE"))?;
        if !word.eq_ignore_ascii_case(b"USE") {
            return Err(Expected("USE"));
        }
        self.expect_sp()?;
        self.expect(b'(', "( use attributes")?;
        let mut uses = Vec::new();
        while self.peek() != Some(b')') {
            if !uses.is_empty() {
                self.expect_sp()?;
            }
            self.expect(b'\\', "\\ and a special-use attribute")?;
            let name = self.atom().ok_or(Expected("special-use attribute"))?;
            uses.push(format!("\\{}", String::from_utf8_lossy(&name)));
        }
        self.pos += 1;
        self.expect(b')', ")")?;
        Ok(CommandBody::CreateSpecialUse { mailbox, uses })
    }

    /// Whether a LIST uses RFC 5258 syntax: selection options, a pattern
    /// list, or (after the two usual arguments) RETURN.
    fn list_is_extended(&self) -> bool {
        let rest = &self.input[self.pos..];
        if rest.starts_with(b" (") {
            return true;
        }
        let mut probe = Parser {
            input: self.input,
            pos: self.pos,
            limits: self.limits,
        };
        let basic = probe.sp_mailbox().is_ok()
            && probe.expect_sp().is_ok()
            && (probe.peek() == Some(b'(') || probe.list_mailbox().is_ok());
        basic && (probe.peek() == Some(b'(') || probe.peek() == Some(b' '))
    }

    /// `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
    /// [SP list-return-opts]` (RFC 5258 §6).
    fn list_extended(&mut self) -> Result<CommandBody, Expected> {
        let mut cmd = crate::proto::types::ListExtended::default();
        self.expect_sp()?;
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let mut base = false;
            for word in self.option_words()? {
                match word.as_slice() {
                    b"SUBSCRIBED" => {
                        cmd.select.subscribed = true;
                        base = true;
                    }
                    b"SPECIAL-USE" => {
                        cmd.select.special_use = true;
                        base = true;
                    }
                    b"REMOTE" => cmd.select.remote = true,
                    b"RECURSIVEMATCH" => cmd.select.recursive_match = true,
                    _ => {
                        return Err(Expected(
                            "SUBSCRIBED, REMOTE, RECURSIVEMATCH or SPECIAL-USE",
                        ))
                    }
                }
            }
            // §3.1: RECURSIVEMATCH needs an option it can modify.
            if cmd.select.recursive_match && !base {
                return Err(Expected("SUBSCRIBED or SPECIAL-USE beside RECURSIVEMATCH"));
            }
            // RFC 5819's own example leaves out this SP.
            if self.peek() == Some(b' ') {
                self.pos += 1;
            }
        }
        cmd.reference = self.astring().map_err(|_| Expected("mailbox name"))?;
        self.expect_sp()?;
        if self.peek() == Some(b'(') {
            self.pos += 1;
            loop {
                cmd.patterns.push(self.list_mailbox()?);
                if self.list_end("SP or ) in pattern list")? {
                    break;
                }
            }
        } else {
            cmd.patterns.push(self.list_mailbox()?);
        }
        if self.peek() == Some(b' ') {
            self.pos += 1;
            let word = self.atom().ok_or(Expected("RETURN"))?;
            if !word.eq_ignore_ascii_case(b"RETURN") {
                return Err(Expected("RETURN"));
            }
            self.expect_sp()?;
            self.expect(b'(', "( return options")?;
            let mut first = true;
            while self.peek() != Some(b')') {
                if !first {
                    self.expect_sp()?;
                }
                first = false;
                let word = self
                    .atom()
                    .ok_or(Expected("return option"))?
                    .to_ascii_uppercase();
                match word.as_slice() {
                    b"SUBSCRIBED" => cmd.ret.subscribed = true,
                    b"CHILDREN" => cmd.ret.children = true,
                    b"SPECIAL-USE" => cmd.ret.special_use = true,
                    b"STATUS" => {
                        self.expect_sp()?;
                        let mut items = self.status_items()?;
                        items.dedup();
                        cmd.ret.status = Some(items);
                    }
                    b"METADATA" => {
                        self.expect_sp()?;
                        cmd.ret.metadata = Some(self.list_metadata()?);
                    }
                    // `METADATA (...) MAXSIZE n`, the option after the list.
                    b"MAXSIZE" if cmd.ret.metadata.is_some() => {
                        self.expect_sp()?;
                        let n = self.number()?;
                        if let Some(m) = cmd.ret.metadata.as_mut() {
                            m.maxsize = Some(n.into());
                        }
                    }
                    _ => {
                        return Err(Expected(
                            "SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS or METADATA return option",
                        ))
                    }
                }
            }
            self.pos += 1;
        }
        Ok(CommandBody::ListExtended(cmd))
    }

    /// Upper-cased atoms up to and including `)`: `A B C)`.
    fn option_words(&mut self) -> Result<Vec<Vec<u8>>, Expected> {
        let mut words = Vec::new();
        while self.peek() != Some(b')') {
            if !words.is_empty() {
                self.expect_sp()?;
            }
            words.push(self.atom().ok_or(Expected("option"))?.to_ascii_uppercase());
        }
        self.pos += 1;
        Ok(words)
    }

    /// RFC 5161: `1*(SP capability)`, `capability = atom`.
    fn enable(&mut self) -> Result<CommandBody, Expected> {
        let mut names = Vec::new();
        while self.peek() == Some(b' ') {
            self.pos += 1;
            let name = self.atom().ok_or(Expected("capability name"))?;
            names.push(String::from_utf8_lossy(&name).to_ascii_uppercase());
        }
        if names.is_empty() {
            return Err(Expected("SP and a capability name"));
        }
        Ok(CommandBody::Enable(names))
    }

    /// `id-params-list = "(" *(string SP nstring) ")" / nil` (RFC 2971).
    #[allow(clippy::type_complexity)]
    fn id_params(&mut self) -> Result<Option<Vec<(Vec<u8>, Option<Vec<u8>>)>>, Expected> {
        if self.nil() {
            return Ok(None);
        }
        self.expect(b'(', "( or NIL")?;
        let mut pairs = Vec::new();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(Some(pairs));
        }
        loop {
            let key = self.string()?;
            self.expect_sp()?;
            let value = self.nstring()?;
            if pairs.len() >= MAX_ID_PAIRS {
                return Err(Expected("at most 30 ID fields"));
            }
            pairs.push((key, value));
            if self.list_end("SP or )")? {
                return Ok(Some(pairs));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &[u8]) -> Command {
        match parse_command(input) {
            Ok(c) => c,
            Err(e) => panic!("{}: {e}", String::from_utf8_lossy(input)),
        }
    }

    /// Every input fails to parse.
    pub(super) fn rejects(inputs: &[&[u8]]) {
        for bad in inputs {
            let bad: &[u8] = bad;
            assert!(
                parse_command(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn simple_commands() {
        let rows: &[(&[u8], CommandBody)] = &[
            (b"a CAPABILITY", CommandBody::Capability),
            (b"a capability", CommandBody::Capability),
            (b"A001 NOOP", CommandBody::Noop),
            (b"x LOGOUT", CommandBody::Logout),
            (b"x StartTLS", CommandBody::StartTls),
        ];
        for (input, want) in rows {
            assert_eq!(&ok(input).body, want);
        }
    }

    #[test]
    fn login_forms() {
        let rows: &[(&[u8], &[u8], &[u8])] = &[
            (b"a LOGIN fred secret", b"fred", b"secret"),
            (b"a LOGIN \"fred\" \"sec ret\"", b"fred", b"sec ret"),
            (b"a LOGIN \"f\\\"q\" \"b\\\\s\"", b"f\"q", b"b\\s"),
            (b"a LOGIN {4}\r\nfred {6+}\r\nsecret", b"fred", b"secret"),
            (b"a LOGIN {0}\r\n \"\"", b"", b""),
            (b"a LOGIN user pass]word", b"user", b"pass]word"),
            (b"a LOGIN \"user\" {3}\r\n\r\n\"", b"user", b"\r\n\""),
        ];
        for (input, user, password) in rows {
            let want = CommandBody::Login {
                user: user.to_vec(),
                password: password.to_vec(),
            };
            assert_eq!(ok(input).body, want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn authenticate_forms() {
        assert_eq!(
            ok(b"a AUTHENTICATE plain").body,
            CommandBody::Authenticate {
                mechanism: "PLAIN".into(),
                initial: None
            }
        );
        assert_eq!(
            ok(b"a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0").body,
            CommandBody::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some(b"AGZyZWQAc2VjcmV0".to_vec())
            }
        );
        assert_eq!(
            ok(b"a AUTHENTICATE PLAIN =").body,
            CommandBody::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some(b"=".to_vec())
            }
        );
    }

    #[test]
    fn id_forms() {
        assert_eq!(ok(b"a ID NIL").body, CommandBody::Id(None));
        assert_eq!(ok(b"a ID ()").body, CommandBody::Id(Some(vec![])));
        assert_eq!(
            ok(b"a ID (\"name\" \"Thunderbird\" \"version\" NIL)").body,
            CommandBody::Id(Some(vec![
                (b"name".to_vec(), Some(b"Thunderbird".to_vec())),
                (b"version".to_vec(), None)
            ]))
        );
    }

    fn err(input: &[u8]) -> ParseError {
        match parse_command(input) {
            Ok(c) => panic!("{} parsed as {c:?}", String::from_utf8_lossy(input)),
            Err(e) => e,
        }
    }

    #[test]
    fn errors_keep_the_tag_and_say_where() {
        let rows: &[(&[u8], Option<&[u8]>, &str)] = &[
            (b"", None, "missing or invalid tag"),
            (b"+ NOOP", None, "missing or invalid tag"),
            (b"(a) NOOP", None, "missing or invalid tag"),
            (b"a", Some(b"a"), "missing command name"),
            (b"a FROB", Some(b"a"), "Unknown command FROB"),
            (
                b"a NOOP extra",
                Some(b"a"),
                "expected end of command at byte 6",
            ),
            (b"a LOGIN fred", Some(b"a"), "expected SP at byte 12"),
            (
                b"a LOGIN \"fred secret",
                Some(b"a"),
                "expected closing quote",
            ),
            (b"a LOGIN {10}\r\nfred", Some(b"a"), "expected literal data"),
            (b"a LOGIN fred (x)", Some(b"a"), "expected astring"),
            (b"a LOGIN \"a\\b\" x", Some(b"a"), "backslash"),
            (b"a AUTHENTICATE", Some(b"a"), "expected SP"),
            (b"a AUTHENTICATE PLAIN !!", Some(b"a"), "base64"),
            (b"a ID (\"name\")", Some(b"a"), "expected SP"),
            (b"a ID name", Some(b"a"), "( or NIL"),
        ];
        for (input, tag, text) in rows {
            let e = err(input);
            assert_eq!(e.tag.as_deref(), *tag, "{}", String::from_utf8_lossy(input));
            assert!(
                e.to_string().contains(text),
                "{} -> {e}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn secret_offsets() {
        let rows: &[(&[u8], Option<usize>)] = &[
            (b"a LOGIN fred secret", Some(13)),
            (b"a LOGIN {4}\r\nfred {6}\r\nsecret", Some(18)),
            (b"a login \"fred", Some(7)),
            (b"a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0", Some(21)),
            (b"a AUTHENTICATE PLAIN", None),
            (b"a NOOP", None),
            (b"garbage", None),
        ];
        for (input, want) in rows {
            assert_eq!(
                secret_offset(input),
                *want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn mailbox_commands() {
        assert_eq!(
            ok(b"a SELECT INBOX").body,
            CommandBody::Select {
                mailbox: b"INBOX".to_vec(),
                read_only: false,
                params: Default::default(),
            }
        );
        assert_eq!(
            ok(b"a examine \"Sent Items\"").body,
            CommandBody::Select {
                mailbox: b"Sent Items".to_vec(),
                read_only: true,
                params: Default::default(),
            }
        );
        assert_eq!(
            ok(b"a RENAME a {1}\r\nb").body,
            CommandBody::Rename {
                from: b"a".to_vec(),
                to: b"b".to_vec()
            }
        );
        assert_eq!(
            ok(b"a LIST \"\" *").body,
            CommandBody::List {
                reference: vec![],
                pattern: b"*".to_vec(),
                lsub: false
            }
        );
        assert_eq!(
            ok(b"a LSUB #news. comp.mail.%").body,
            CommandBody::List {
                reference: b"#news.".to_vec(),
                pattern: b"comp.mail.%".to_vec(),
                lsub: true
            }
        );
        assert_eq!(
            ok(b"a STATUS blurdybloop (UIDNEXT MESSAGES size)").body,
            CommandBody::Status {
                mailbox: b"blurdybloop".to_vec(),
                items: vec![StatusItem::UidNext, StatusItem::Messages, StatusItem::Size]
            }
        );
        assert_eq!(
            ok(b"a UID EXPUNGE 3000:3002,*").body,
            CommandBody::Expunge {
                uids: Some(SequenceSet::Ranges(vec![
                    (SeqNumber::Value(3000), SeqNumber::Value(3002)),
                    (SeqNumber::Last, SeqNumber::Last)
                ]))
            }
        );
        for (input, body) in [
            (&b"a CHECK"[..], CommandBody::Check),
            (b"a CLOSE", CommandBody::Close),
            (b"a UNSELECT", CommandBody::Unselect),
            (b"a EXPUNGE", CommandBody::Expunge { uids: None }),
        ] {
            assert_eq!(ok(input).body, body);
        }
    }

    #[test]
    fn append_forms() {
        let c = ok(b"A003 APPEND saved-messages (\\Seen $Junk) \"17-Jul-1996 02:44:25 -0700\" {5}\r\nhello");
        let CommandBody::Append { mailbox, messages } = c.body else {
            panic!()
        };
        assert_eq!(mailbox, b"saved-messages".to_vec());
        let m = &messages[0];
        assert_eq!(m.flags, vec![Flag::Seen, Flag::Keyword("$Junk".into())]);
        let d = m.date.unwrap();
        assert_eq!(d.zone_minutes, -420);
        assert_eq!(d.unix, 837_596_665);
        assert_eq!(m.message, b"hello".to_vec());
        let one = |input: &[u8]| match ok(input).body {
            CommandBody::Append { mut messages, .. } if messages.len() == 1 => messages.remove(0),
            other => panic!("{other:?}"),
        };
        assert_eq!(one(b"a APPEND INBOX ~{3+}\r\na\0b").message, b"a\0b");
        let m = one(b"a APPEND INBOX {0+}\r\n");
        assert!(m.flags.is_empty() && m.date.is_none() && !m.utf8);
        let m = one(b"a APPEND INBOX () utf8 (~{2+}\r\n\xc3\xa9)");
        assert!(m.utf8 && m.message == b"\xc3\xa9");
        // RFC 3502 §6 example: two messages, options on each.
        let c = ok(b"A003 APPEND saved-messages (\\Seen) {3}\r\nabc (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {2}\r\nde");
        let CommandBody::Append { messages, .. } = c.body else {
            panic!()
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].message, b"de");
        assert!(messages[1].date.is_some() && messages[0].date.is_none());
        rejects(&[
            &b"a APPEND INBOX hello"[..],
            b"a APPEND INBOX \"31-Feb-2024 00:00:00 +0000\" {1}\r\nx",
            b"a APPEND INBOX",
            b"a APPEND INBOX {1}\r\nx ",
            b"a APPEND INBOX UTF8 ({1}\r\nx)",
            b"a APPEND INBOX UTF8 (~{1}\r\nx",
        ]);
        assert_eq!(
            parse_date_time(b" 1-Jan-2000 00:00:00 +0000").unwrap().unix,
            946_684_800
        );
    }

    #[test]
    fn fetch_forms() {
        let c = ok(b"a FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From To)] BODY[1.2.MIME]<0.100>)");
        let CommandBody::Fetch {
            items, uid: false, ..
        } = c.body
        else {
            panic!()
        };
        assert_eq!(
            items,
            vec![
                FetchAtt::Uid,
                FetchAtt::Flags,
                FetchAtt::Rfc822Size,
                FetchAtt::BodySection {
                    peek: true,
                    section: Section {
                        part: vec![],
                        text: Some(SectionText::HeaderFields(vec![
                            b"From".to_vec(),
                            b"To".to_vec()
                        ]))
                    },
                    partial: None
                },
                FetchAtt::BodySection {
                    peek: false,
                    section: Section {
                        part: vec![1, 2],
                        text: Some(SectionText::Mime)
                    },
                    partial: Some((0, 100))
                },
            ]
        );
        let c = ok(b"a UID FETCH 5 fast");
        assert!(
            matches!(c.body, CommandBody::Fetch { uid: true, ref items, .. } if items.len() == 3)
        );
        let c = ok(b"a FETCH 2 BODY[]");
        assert!(
            matches!(c.body, CommandBody::Fetch { ref items, .. } if items == &vec![FetchAtt::BodySection { peek: false, section: Section::default(), partial: None }])
        );
        let c = ok(b"a FETCH 2 (BODY BINARY.PEEK[1]<5.10> BINARY.SIZE[2] BODY[3])");
        assert!(matches!(c.body, CommandBody::Fetch { ref items, .. } if items.len() == 4));
        rejects(&[
            &b"a FETCH 1 (UID"[..],
            b"a FETCH 1 BODY.PEEK",
            b"a FETCH 1 BODY[0]",
            b"a FETCH 1 BODY[]<0.0>",
            b"a FETCH 1 BODY[MIME]",
            b"a FETCH 1 FROB",
            b"a FETCH 1 BODY[HEADER.FIELDS ()]",
        ]);
    }

    #[test]
    fn store_forms() {
        let c = ok(b"a STORE 2:4 +FLAGS (\\Deleted)");
        assert_eq!(
            c.body,
            CommandBody::Store {
                set: SequenceSet::Ranges(vec![(SeqNumber::Value(2), SeqNumber::Value(4))]),
                mode: StoreMode::Add,
                silent: false,
                flags: vec![Flag::Deleted],
                uid: false,
                unchanged_since: None,
            }
        );
        let c = ok(b"a UID STORE 1 -FLAGS.SILENT \\Seen $Junk");
        assert!(
            matches!(c.body, CommandBody::Store { mode: StoreMode::Remove, silent: true, uid: true, ref flags, .. } if flags.len() == 2)
        );
        let c = ok(b"a STORE 1 FLAGS ()");
        assert!(
            matches!(c.body, CommandBody::Store { mode: StoreMode::Replace, ref flags, .. } if flags.is_empty())
        );
        assert!(parse_command(b"a STORE 1 FLAGZ (x)").is_err());
    }

    #[test]
    fn sequence_set_errors() {
        rejects(&[
            &b"a UID EXPUNGE 0"[..],
            b"a UID EXPUNGE 1:",
            b"a UID EXPUNGE ,1",
            b"a UID EXPUNGE",
        ]);
        let set = SequenceSet::Ranges(vec![(SeqNumber::Value(4), SeqNumber::Last)]);
        assert!(
            set.ranges(10).contains(9) && !set.ranges(10).contains(3) && set.ranges(2).contains(4)
        );
        let v = SeqNumber::Value;
        assert_eq!(
            SequenceSet::from_sorted(&[2, 4, 5, 6, 9, 9]),
            SequenceSet::Ranges(vec![(v(2), v(2)), (v(4), v(6)), (v(9), v(9))])
        );
        // An empty saved result, once expanded, is an empty set, not `$`.
        let empty = SequenceSet::from_sorted(&[]);
        assert!(!empty.is_saved() && empty.ranges(10).iter().next().is_none());
        for input in [
            &b"a FETCH $ UID"[..],
            b"a UID EXPUNGE $",
            b"a COPY $ x",
            b"a STORE $ FLAGS ()",
        ] {
            let set = match ok(input).body {
                CommandBody::Fetch { set, .. }
                | CommandBody::Copy { set, .. }
                | CommandBody::Store { set, .. }
                | CommandBody::Expunge { uids: Some(set) } => set,
                other => panic!("{other:?}"),
            };
            assert!(set.is_saved(), "{}", String::from_utf8_lossy(input));
        }
        assert!(parse_command(b"a FETCH $1 UID").is_err());
    }

    #[test]
    fn list_extended_and_create_use() {
        let CommandBody::ListExtended(l) =
            ok(b"a LIST (SUBSCRIBED RECURSIVEMATCH remote) \"\" (INBOX \"S*\") RETURN (children STATUS (MESSAGES SIZE) SPECIAL-USE)").body
        else {
            panic!()
        };
        assert!(l.select.subscribed && l.select.recursive_match && l.select.remote);
        assert_eq!(l.patterns, vec![b"INBOX".to_vec(), b"S*".to_vec()]);
        assert!(l.ret.children && l.ret.special_use && !l.ret.subscribed);
        assert_eq!(
            l.ret.status,
            Some(vec![StatusItem::Messages, StatusItem::Size])
        );
        assert!(matches!(
            ok(b"a LIST \"\" *").body,
            CommandBody::List { .. }
        ));
        assert!(matches!(
            ok(b"a LIST () \"\" *").body,
            CommandBody::ListExtended(_)
        ));
        assert!(matches!(
            ok(b"a LIST \"\" * RETURN ()").body,
            CommandBody::ListExtended(_)
        ));
        rejects(&[
            &b"a LIST (RECURSIVEMATCH) \"\" *"[..],
            b"a LIST (X) \"\" *",
            b"a LIST \"\" * RETURN (X)",
            b"a LIST \"\" * RETURN",
            b"a LIST \"\" ()",
        ]);
        assert_eq!(
            ok(b"a CREATE x (USE (\\Sent \\Drafts))").body,
            CommandBody::CreateSpecialUse {
                mailbox: b"x".to_vec(),
                uses: vec!["\\Sent".into(), "\\Drafts".into()]
            }
        );
        assert!(
            matches!(ok(b"a CREATE x (USE ())").body, CommandBody::CreateSpecialUse { ref uses, .. } if uses.is_empty())
        );
        assert!(parse_command(b"a CREATE x (USE (Sent))").is_err());
        assert!(parse_command(b"a CREATE x ").is_err());
    }

    #[test]
    fn namespace_and_enable() {
        assert_eq!(ok(b"a namespace").body, CommandBody::Namespace);
        assert_eq!(
            ok(b"a ENABLE condstore UTF8=ACCEPT X-Y").body,
            CommandBody::Enable(vec!["CONDSTORE".into(), "UTF8=ACCEPT".into(), "X-Y".into()])
        );
        rejects(&[
            &b"a ENABLE"[..],
            b"a ENABLE ",
            b"a ENABLE (x)",
            b"a NAMESPACE x",
        ]);
    }

    #[test]
    fn never_panics_on_prefixes() {
        let input = b"a LOGIN {4}\r\nfred \"se\\\"cret\"";
        for end in 0..input.len() {
            let _ = parse_command(&input[..end]);
        }
    }

    #[test]
    fn compress() {
        assert_eq!(
            ok(b"a compress deflate").body,
            CommandBody::Compress {
                mechanism: "DEFLATE".into()
            }
        );
        assert_eq!(
            ok(b"a COMPRESS X-FOO").body,
            CommandBody::Compress {
                mechanism: "X-FOO".into()
            }
        );
        rejects(&[b"a COMPRESS", b"a COMPRESS ", b"a COMPRESS DEFLATE x"]);
    }
}
