//! A strict grammar check on everything the server sends to the test
//! client: each greeting and response goes through imap-codec, an IMAP
//! parser written by others, with none of its leniencies ("quirks") on.
//! A line it rejects fails the test that read it.
//!
//! imap-codec lacks some extensions Roost speaks. For those the part it
//! cannot read is checked here by the RFC's own grammar and the rest of
//! the line goes back through imap-codec: ESEARCH (`esearch`), LIST's
//! extended data (`list_extended`), STATUS APPENDLIMIT
//! (`status_appendlimit`) and APPENDUID with a set of UIDs
//! (`appenduid_set`).

use imap_codec::decode::{Decoder, GreetingDecodeError, ResponseDecodeError};
use imap_codec::imap_types::response::{Code, Response, Status};
use imap_codec::{GreetingCodec, ResponseCodec};

/// Response codes imap-codec parses itself. If one of these comes back as
/// an unknown code (`Code::Other`), its arguments did not parse: imap-codec
/// falls back to "anything up to ]" rather than failing.
const STRUCTURED_CODES: &[&str] = &[
    "ALERT",
    "BADCHARSET",
    "CAPABILITY",
    "PARSE",
    "PERMANENTFLAGS",
    "READ-ONLY",
    "READ-WRITE",
    "TRYCREATE",
    "UIDNEXT",
    "UIDVALIDITY",
    "UNSEEN",
    "COMPRESSIONACTIVE",
    "OVERQUOTA",
    "TOOBIG",
    "METADATA",
    "UNKNOWN-CTE",
    "APPENDUID",
    "COPYUID",
    "UIDNOTSTICKY",
    "HIGHESTMODSEQ",
    "NOMODSEQ",
    "MODIFIED",
    "CLOSED",
];

/// Checks a greeting, `line` without its CRLF.
pub fn check_greeting(line: &[u8]) -> Result<(), String> {
    let input = with_crlf(line);
    match GreetingCodec::default().decode(&input) {
        Ok(([], greeting)) => check_code(greeting.code.as_ref()),
        Ok((rest, _)) => Err(format!("{} bytes left over", rest.len())),
        Err(GreetingDecodeError::Incomplete) => Err("incomplete greeting".into()),
        Err(GreetingDecodeError::Failed) => Err("not a greeting".into()),
    }
}

/// Checks one response (untagged, tagged or continuation request), `line`
/// without its final CRLF but with any literals inline.
pub fn check_response(line: &[u8]) -> Result<(), String> {
    if let Some(rest) = line.strip_prefix(b"* ESEARCH") {
        return esearch(rest);
    }
    if let Some(fetch) = uidfetch_as_fetch(line) {
        return check_response(&fetch);
    }
    let input = with_crlf(line);
    let result = match ResponseCodec::default().decode(&input) {
        Ok(([], response)) => check_code(code_of(&response)),
        Ok((rest, _)) => Err(format!("{} bytes left over", rest.len())),
        Err(ResponseDecodeError::Incomplete) => Err("incomplete response".into()),
        Err(ResponseDecodeError::LiteralFound { length }) => {
            Err(format!("unexpected literal of {length} bytes"))
        }
        Err(ResponseDecodeError::Failed) => Err("not a response".into()),
    };
    match result {
        Err(e) if line.starts_with(b"* LIST ") => {
            list_extended(line).map_err(|x| format!("{e}; {x}"))
        }
        Err(e)
            if line.starts_with(b"* ACL ")
                || line.starts_with(b"* MYRIGHTS ")
                || line.starts_with(b"* LISTRIGHTS ") =>
        {
            acl_data(line).map_err(|x| format!("{e}; {x}"))
        }
        Err(e) if line.starts_with(b"* STATUS ") => {
            status_appendlimit(line).map_err(|x| format!("{e}; {x}"))
        }
        Err(e)
            if line.starts_with(b"* ") && FETCH_EXTRAS.iter().any(|x| find(line, x).is_some()) =>
        {
            fetch_extras(line).map_err(|x| format!("{e}; {x}"))
        }
        Err(e)
            if line.starts_with(b"* ")
                && (find(line, b"PREVIEW ").is_some() || find(line, b"SNIPPET ").is_some()) =>
        {
            fetch_preview(line).map_err(|x| format!("{e}; {x}"))
        }
        other => other,
    }
}

fn with_crlf(line: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(line.len() + 2);
    v.extend_from_slice(line);
    v.extend_from_slice(b"\r\n");
    v
}

fn code_of<'a>(response: &'a Response<'a>) -> Option<&'a Code<'a>> {
    match response {
        Response::Status(Status::Untagged(body)) => body.code.as_ref(),
        Response::Status(Status::Tagged(tagged)) => tagged.body.code.as_ref(),
        Response::Status(Status::Bye(bye)) => bye.code.as_ref(),
        _ => None,
    }
}

/// An unknown code must be `atom [SP 1*<any TEXT-CHAR except "]">]`
/// (RFC 3501 §9, resp-text-code) and not a known code gone wrong.
fn check_code(code: Option<&Code>) -> Result<(), String> {
    let Some(Code::Other(other)) = code else {
        return Ok(());
    };
    let bytes = other.inner();
    let name_len = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    let name = &bytes[..name_len];
    if name.is_empty() || !name.iter().all(|&b| is_atom_char(b)) {
        return Err(format!(
            "response code {:?} does not start with an atom",
            String::from_utf8_lossy(bytes)
        ));
    }
    if bytes.len() > name_len && bytes.len() == name_len + 1 {
        return Err("response code with a space and no arguments".into());
    }
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    if name == "MAILBOXID" {
        // RFC 8474 §4.1: `"MAILBOXID" SP "(" objectid ")"`.
        return match std::str::from_utf8(&bytes[name_len..]) {
            Ok(t)
                if t.strip_prefix(" (")
                    .and_then(|t| t.strip_suffix(')'))
                    .is_some_and(is_objectid) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "malformed [{}] code",
                String::from_utf8_lossy(bytes)
            )),
        };
    }
    if name == "APPENDUID" {
        return appenduid_set(&bytes[name_len..]);
    }
    if name == "INPROGRESS" {
        return inprogress(&bytes[name_len..]);
    }
    if name == "REFERRAL" {
        return referral(&bytes[name_len..]);
    }
    if STRUCTURED_CODES.contains(&name.as_str()) {
        return Err(format!(
            "malformed [{}] code",
            String::from_utf8_lossy(bytes)
        ));
    }
    Ok(())
}

/// ATOM-CHAR: any CHAR except atom-specials (RFC 3501 §9).
fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

fn is_nz_number(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_number(s: &str) -> bool {
    s == "0" || is_nz_number(s)
}

/// A sequence-set of numbers and ranges; no `*`, which a server has no
/// reason to send.
fn is_number_set(s: &str) -> bool {
    s.split(',').all(|part| match part.split_once(':') {
        Some((a, b)) => is_nz_number(a) && is_nz_number(b),
        None => is_nz_number(part),
    })
}

/// imap-codec has no ESEARCH (RFC 4731 §3.1; MODSEQ from RFC 7162 §7):
/// `"ESEARCH" [SP "(" "TAG" SP tag-string [MAILBOX, UIDVALIDITY] ")"] [SP "UID"]
/// *(SP search-return-data)`, checked here. `rest` follows "ESEARCH".
fn esearch(rest: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(rest).map_err(|_| "ESEARCH is not ASCII".to_string())?;
    let mut rest = text;
    let bad = || format!("malformed ESEARCH: {text:?}");
    if let Some(after) = rest.strip_prefix(" (TAG \"") {
        let end = after.find('"').ok_or_else(bad)?;
        let tag = &after[..end];
        if tag.is_empty() || !tag.bytes().all(|b| is_atom_char(b) && b != b'+') {
            return Err(bad());
        }
        rest = &after[end + 1..];
        // RFC 7377 §4: `[SP "MAILBOX" SP astring SP "UIDVALIDITY" SP
        // nz-number]` in the correlator (the name sent quoted here).
        if let Some(after) = rest.strip_prefix(" MAILBOX \"") {
            let mut chars = after.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' if !matches!(chars.next(), Some((_, '"' | '\\'))) => {
                        return Err(bad());
                    }
                    '\\' => {}
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c if (c as u32) < 0x20 || c == '\x7f' => return Err(bad()),
                    _ => {}
                }
            }
            let after = &after[end.ok_or_else(bad)? + 1..];
            let after = after.strip_prefix(" UIDVALIDITY ").ok_or_else(bad)?;
            let close = after.find(')').ok_or_else(bad)?;
            if !is_nz_number(&after[..close]) {
                return Err(bad());
            }
            rest = &after[close..];
        }
        rest = rest.strip_prefix(')').ok_or_else(bad)?;
    }
    if let Some(after) = rest.strip_prefix(" UID") {
        if after.is_empty() || after.starts_with(' ') {
            rest = after;
        }
    }
    if rest.is_empty() {
        return Ok(());
    }
    let words: Vec<&str> = rest.strip_prefix(' ').ok_or_else(bad)?.split(' ').collect();
    let mut i = 0;
    while i < words.len() {
        let arg = words.get(i + 1).copied().unwrap_or("");
        let ok = match words[i] {
            "MIN" | "MAX" => is_nz_number(arg),
            "COUNT" => is_number(arg),
            "ALL" => is_number_set(arg),
            "MODSEQ" => is_nz_number(arg),
            // RFC 5267 §4.4: `"PARTIAL" SP "(" partial-range SP
            // (sequence-set / "NIL") ")"`: two words.
            "PARTIAL" => {
                let range = arg.strip_prefix('(').and_then(|r| r.split_once(':'));
                let set = words.get(i + 2).and_then(|w| w.strip_suffix(')'));
                i += 1;
                matches!((range, set), (Some((a, b)), Some(set))
                    if is_nz_number(a) && is_nz_number(b) && (set == "NIL" || is_number_set(set)))
            }
            // RFC 5267 §4.3: `("ADDTO" / "REMOVEFROM") SP "(" position SP
            // sequence-set ")"`, position a number (0 for SEARCH).
            "ADDTO" | "REMOVEFROM" => {
                let pos = arg.strip_prefix('(');
                let set = words.get(i + 2).and_then(|w| w.strip_suffix(')'));
                i += 1;
                matches!((pos, set), (Some(p), Some(set)) if is_number(p) && is_number_set(set))
            }
            _ => false,
        };
        if !ok {
            return Err(bad());
        }
        i += 2;
    }
    Ok(())
}

/// RFC 9585 §3: `"INPROGRESS" [SP "(" tag-string SP (number / nil) SP
/// (nz-number / nil) ")"]`; a count never above the total.
fn inprogress(rest: &[u8]) -> Result<(), String> {
    if rest.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(rest);
    let bad = || format!("malformed INPROGRESS:{text}");
    let inner = text
        .strip_prefix(" (\"")
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(bad)?;
    let (tag, nums) = inner.split_once("\" ").ok_or_else(bad)?;
    if tag.is_empty() || !tag.bytes().all(|b| is_atom_char(b) && b != b'+') {
        return Err(bad());
    }
    let (count, total) = nums.split_once(' ').ok_or_else(bad)?;
    let count_ok = count == "NIL" || is_number(count);
    let total_ok = total == "NIL" || is_nz_number(total);
    if !count_ok || !total_ok {
        return Err(bad());
    }
    if let (Ok(c), Ok(t)) = (count.parse::<u64>(), total.parse::<u64>()) {
        if c > t {
            return Err(bad());
        }
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// RFC 9586 §6: `uidfetch-resp = uniqueid SP "UIDFETCH" SP msg-att`, the
/// same data as a FETCH response: checked as one.
fn uidfetch_as_fetch(line: &[u8]) -> Option<Vec<u8>> {
    let rest = line.strip_prefix(b"* ")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let after = rest[digits..].strip_prefix(b" UIDFETCH (")?;
    if digits == 0 || rest[0] == b'0' {
        return None;
    }
    let mut out = line[..2 + digits].to_vec();
    out.extend_from_slice(b" FETCH (");
    out.extend_from_slice(after);
    Some(out)
}

/// FETCH items imap-codec does not know, each checked by `fetch_extras`.
const FETCH_EXTRAS: &[&[u8]] = &[b"SAVEDATE ", b"EMAILID ", b"THREADID "];

/// RFC 8474 §7: `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`.
fn is_objectid(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// RFC 3501 date-time: `DQUOTE date-day-fixed "-" date-month "-" date-year
/// SP time SP zone DQUOTE`.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    const MONTHS: &[&str] = &[
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() == 28
        && b[0] == b'"'
        && (b[1] == b' ' || b[1].is_ascii_digit())
        && b[2].is_ascii_digit()
        && b[3] == b'-'
        && MONTHS.contains(&&s[4..7])
        && b[7] == b'-'
        && digits(8..12)
        && b[12] == b' '
        && digits(13..15)
        && b[15] == b':'
        && digits(16..18)
        && b[18] == b':'
        && digits(19..21)
        && b[21] == b' '
        && matches!(b[22], b'+' | b'-')
        && digits(23..27)
        && b[27] == b'"'
}

/// FETCH items imap-codec lacks: RFC 8514 `"SAVEDATE" SP (date-time /
/// nil)` and RFC 8474 `"EMAILID" SP "(" objectid ")"`, `"THREADID" SP
/// ("(" objectid ")" / nil)`. Each is checked and cut out, and the rest
/// goes back through the check (with `UID 1` standing in if nothing is
/// left).
fn fetch_extras(line: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|_| "FETCH is not UTF-8".to_string())?;
    let open = text
        .find(" FETCH (")
        .or_else(|| text.find(" UIDFETCH ("))
        .ok_or("not a FETCH")?;
    let mut rest = text.to_string();
    for name in FETCH_EXTRAS {
        let name = std::str::from_utf8(name).unwrap_or_default();
        let Some(at) = rest[open..].find(name).map(|a| a + open) else {
            continue;
        };
        if !matches!(rest.as_bytes()[at - 1], b'(' | b' ') {
            return Err(format!("{name}outside a FETCH list"));
        }
        let value = &rest[at + name.len()..];
        let len = if let Some(v) = value.strip_prefix("NIL") {
            let _ = v;
            if name == "EMAILID " {
                return Err("EMAILID NIL".into());
            }
            3
        } else if name == "SAVEDATE " {
            if !value.get(..28).is_some_and(is_date_time) {
                return Err(format!("bad SAVEDATE {value}"));
            }
            28
        } else {
            let close = value.find(')').ok_or("objectid not closed")?;
            let id = value[..close]
                .strip_prefix('(')
                .ok_or("objectid without (")?;
            if !is_objectid(id) {
                return Err(format!("bad objectid {id:?}"));
            }
            close + 1
        };
        let end = at + name.len() + len;
        let (mut from, mut to) = (at, end);
        if rest.as_bytes().get(end) == Some(&b' ') {
            to += 1;
        } else if rest.as_bytes()[at - 1] == b' ' {
            from -= 1;
        }
        rest.replace_range(from..to, "");
    }
    let rest = rest.replace("FETCH ()", "FETCH (UID 1)");
    check_response(rest.as_bytes())
}

/// imap-codec has no PREVIEW (RFC 8970 §7: `"PREVIEW" SP nstring`): the
/// item is checked here and the rest of the FETCH goes back through
/// imap-codec (with `UID 1` standing in if PREVIEW was all). The PREVIEW
/// drafts' form, which Dovecot 2.3 sends for SNIPPET=FUZZY, is also taken:
/// `("PREVIEW" / "SNIPPET") SP "(" "FUZZY" SP nstring ")"`.
fn fetch_preview(line: &[u8]) -> Result<(), String> {
    let (at, name) = [b"PREVIEW ".as_slice(), b"SNIPPET "]
        .into_iter()
        .find_map(|name| find(line, name).map(|at| (at, name)))
        .ok_or("no PREVIEW")?;
    if at == 0
        || !matches!(line.get(at - 1), Some(b'(') | Some(b' '))
        || find(&line[..at], b" FETCH (").is_none()
    {
        return Err("PREVIEW outside a FETCH list".into());
    }
    let mut value = at + name.len();
    let fuzzy = line[value..].starts_with(b"(FUZZY ");
    if fuzzy {
        value += b"(FUZZY ".len();
    } else if name == b"SNIPPET " {
        return Err("SNIPPET without (FUZZY ...)".into());
    }
    let mut end = match line.get(value) {
        Some(b'"') => {
            let mut i = value + 1;
            loop {
                match line.get(i) {
                    Some(b'\\') if matches!(line.get(i + 1), Some(b'"') | Some(b'\\')) => i += 2,
                    Some(b'"') => break i + 1,
                    Some(b'\r') | Some(b'\n') | Some(b'\\') | None => {
                        return Err("bad quoted PREVIEW".into())
                    }
                    Some(&b) if b >= 0x80 => return Err("8-bit in a quoted PREVIEW".into()),
                    Some(_) => i += 1,
                }
            }
        }
        Some(b'{') => {
            let close = line[value..]
                .iter()
                .position(|&b| b == b'}')
                .ok_or("bad literal")?
                + value;
            let n: usize = std::str::from_utf8(&line[value + 1..close])
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or("bad literal length")?;
            if line.get(close + 1..close + 3) != Some(b"\r\n") {
                return Err("literal without CRLF".into());
            }
            close + 3 + n
        }
        _ if line[value..].starts_with(b"NIL") => value + 3,
        _ => return Err("PREVIEW without an nstring".into()),
    };
    if fuzzy {
        if line.get(end) != Some(&b')') {
            return Err("(FUZZY ... without )".into());
        }
        end += 1;
    }
    let mut rest = line[..at].to_vec();
    let tail = line.get(end..).ok_or("PREVIEW runs past the line")?;
    let tail = tail.strip_prefix(b" ").unwrap_or(tail);
    if rest.last() == Some(&b' ') && tail.first() == Some(&b')') {
        rest.pop();
    }
    if rest.last() == Some(&b'(') && tail.first() == Some(&b')') {
        rest.extend_from_slice(b"UID 1");
    }
    rest.extend_from_slice(tail);
    check_response(&rest)
}

/// imap-codec reads APPENDUID with one UID only; RFC 4315 §4 allows a
/// uid-set after MULTIAPPEND (RFC 3502): `"APPENDUID" SP nz-number SP
/// append-uid`, `append-uid = uniqueid / uid-set`. `args` follows
/// "APPENDUID".
fn appenduid_set(args: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(args).unwrap_or("");
    let ok = text
        .strip_prefix(' ')
        .and_then(|t| t.split_once(' '))
        .is_some_and(|(validity, uids)| is_nz_number(validity) && is_number_set(uids));
    if ok {
        Ok(())
    } else {
        Err(format!("malformed [APPENDUID{text}] code"))
    }
}

/// imap-codec has no APPENDLIMIT status item (RFC 7889 §4:
/// `status-att-val =/ "APPENDLIMIT" SP (number / nil)`). The item is
/// checked here and the line without it goes back through imap-codec.
fn status_appendlimit(line: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|_| "STATUS is not UTF-8".to_string())?;
    // RFC 8474 §4.3: `"MAILBOXID" SP "(" objectid ")"`, cut out likewise.
    if let Some(at) = text.rfind("MAILBOXID (") {
        let value = &text[at + "MAILBOXID (".len()..];
        let close = value.find(')').ok_or("MAILBOXID not closed")?;
        if !is_objectid(&value[..close]) {
            return Err(format!("bad MAILBOXID {value}"));
        }
        let end = at + "MAILBOXID (".len() + close + 1;
        let (mut from, mut to) = (at, end);
        if text.as_bytes().get(end) == Some(&b' ') {
            to += 1;
        } else if text.as_bytes()[at - 1] == b' ' {
            from -= 1;
        }
        let rest = format!("{}{}", &text[..from], &text[to..]);
        return check_response(rest.as_bytes());
    }
    let (before, after) = text
        .rsplit_once("APPENDLIMIT ")
        .ok_or("no APPENDLIMIT imap-codec might have missed")?;
    let value_len = after.find([' ', ')']).ok_or("APPENDLIMIT not closed")?;
    let value = &after[..value_len];
    if value != "NIL" && !is_number(value) {
        return Err(format!("APPENDLIMIT value {value:?}"));
    }
    let rest = &after[value_len..];
    let rebuilt = match (before.strip_suffix(' '), rest.strip_prefix(' ')) {
        // "(... APPENDLIMIT n)" or "(... APPENDLIMIT n ...)"
        (Some(b), None) => format!("{b}{rest}"),
        (_, Some(r)) => format!("{before}{r}"),
        // "(APPENDLIMIT n)"
        (None, None) => format!("{before}{rest}"),
    };
    check_response(rebuilt.as_bytes())
}

/// imap-codec's `ext_list_extended` feature does not reach its LIST parser,
/// which stops after the mailbox name. RFC 5258 §9 allows
/// `SP mbox-list-extended` after it. The line is split at each " (" in
/// turn: it passes if the tail is valid extended data (with only the items
/// Roost sends: CHILDINFO with SUBSCRIBED, OLDNAME with a mailbox) and
/// imap-codec accepts the head.
fn list_extended(line: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|_| "LIST is not UTF-8".to_string())?;
    let mut last_error = String::from("no extended data imap-codec might have missed");
    for (at, _) in text.match_indices(" (").skip(1) {
        let tail = &text[at + 1..];
        match extended_items(tail) {
            Ok(()) => match check_response(&line[..at]) {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e,
            },
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// `mbox-list-extended = "(" [mbox-list-extended-item *(SP
/// mbox-list-extended-item)] ")"`, `mbox-list-extended-item =
/// mbox-list-extended-item-tag SP tagged-ext-val`, the tag an astring
/// (RFC 5258 §9). Known tags only.
fn extended_items(text: &str) -> Result<(), String> {
    let tokens = tokenize(text)?;
    let mut pos = 0;
    expect(&tokens, &mut pos, &Token::Open)?;
    let mut first = true;
    while tokens.get(pos) != Some(&Token::Close) {
        if !first {
            expect(&tokens, &mut pos, &Token::Space)?;
        }
        first = false;
        let tag = match tokens.get(pos) {
            Some(Token::Atom(a) | Token::Quoted(a)) => a.to_ascii_uppercase(),
            other => return Err(format!("extended item tag expected, got {other:?}")),
        };
        pos += 1;
        expect(&tokens, &mut pos, &Token::Space)?;
        expect(&tokens, &mut pos, &Token::Open)?;
        let value = match (tokens.get(pos), tokens.get(pos + 1)) {
            (Some(Token::Atom(v) | Token::Quoted(v)), Some(Token::Close)) => v.clone(),
            other => return Err(format!("one value expected after {tag}, got {other:?}")),
        };
        pos += 2;
        let known = match tag.as_str() {
            // RFC 5258 §4: CHILDINFO's only defined value.
            "CHILDINFO" => value.eq_ignore_ascii_case("SUBSCRIBED"),
            // RFC 5465 §5.4: the name before a rename.
            "OLDNAME" => !value.is_empty(),
            _ => false,
        };
        if !known {
            return Err(format!("unknown extended LIST item {tag} ({value})"));
        }
    }
    if pos + 1 != tokens.len() {
        return Err("data after the extended items".into());
    }
    Ok(())
}

/// RFC 4314 §4: `"ACL" SP mailbox *(SP identifier SP rights)`,
/// `"LISTRIGHTS" SP mailbox SP identifier SP rights *(SP rights)`,
/// `"MYRIGHTS" SP mailbox SP rights`; all of them astrings.
fn acl_data(line: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|_| "ACL data is not UTF-8".to_string())?;
    let tokens = tokenize(&text[2..])?;
    let mut words = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let want_space = i % 2 == 1;
        match (t, want_space) {
            (Token::Space, true) => {}
            (Token::Atom(_) | Token::Quoted(_), false) => words.push(t),
            _ => return Err(format!("malformed ACL data: {text:?}")),
        }
    }
    if tokens.last() == Some(&Token::Space) {
        return Err(format!("trailing space: {text:?}"));
    }
    let args = words.len().saturating_sub(1);
    let ok = match words.first() {
        Some(Token::Atom(w)) if w == "ACL" => args >= 1 && args % 2 == 1,
        Some(Token::Atom(w)) if w == "MYRIGHTS" => args == 2,
        Some(Token::Atom(w)) if w == "LISTRIGHTS" => args >= 3,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("malformed ACL data: {text:?}"))
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Space,
    Atom(String),
    Quoted(String),
}

fn expect(tokens: &[Token], pos: &mut usize, want: &Token) -> Result<(), String> {
    if tokens.get(*pos) == Some(want) {
        *pos += 1;
        Ok(())
    } else {
        Err(format!("{want:?} expected, got {:?}", tokens.get(*pos)))
    }
}

/// Atoms, quoted strings (RFC 3501 §9: only `\\` and `\"` escaped),
/// parentheses and single spaces.
fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => out.push(Token::Open),
            b')' => out.push(Token::Close),
            b' ' => out.push(Token::Space),
            b'"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match bytes.get(i) {
                        Some(b'"') => break,
                        Some(b'\\') if matches!(bytes.get(i + 1), Some(b'"' | b'\\')) => {
                            value.push(bytes[i + 1] as char);
                            i += 2;
                        }
                        Some(&b) if b != b'\\' && b != b'\r' && b != b'\n' && b.is_ascii() => {
                            value.push(b as char);
                            i += 1;
                        }
                        _ => return Err("bad quoted string".into()),
                    }
                }
                out.push(Token::Quoted(value));
            }
            b if is_atom_char(b) => {
                let start = i;
                while i + 1 < bytes.len() && is_atom_char(bytes[i + 1]) {
                    i += 1;
                }
                out.push(Token::Atom(text[start..=i].to_string()));
            }
            b => return Err(format!("unexpected byte {b:#04x}")),
        }
        i += 1;
    }
    Ok(out)
}

/// RFC 2221 §3 `"REFERRAL" SP 1*<url>`, here one RFC 5092 IMAP URL of a
/// server (`imap://[user;AUTH=mech@]host[:port]/`); `args` follows the name.
fn referral(args: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(args).unwrap_or("");
    let server = text
        .strip_prefix(" imap://")
        .and_then(|t| t.strip_suffix('/'))
        .ok_or("REFERRAL without an imap:// URL")?;
    let host_port = server.rsplit_once('@').map_or(server, |(_, h)| h);
    let ok_user = server.rsplit_once('@').is_none_or(|(u, _)| {
        u.split_once(";AUTH=").is_some_and(|(name, mech)| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~!$'()*+,&=%".contains(&b))
                && (mech == "*" || !mech.is_empty() && mech.bytes().all(is_atom_char))
        })
    });
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "1"));
    let ok_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    if ok_user && ok_host && port.parse::<u16>().is_ok() {
        Ok(())
    } else {
        Err(format!("malformed REFERRAL URL {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake server on a loopback port that sends `script` and then
    /// waits for the client to hang up; the client's lines as read.
    fn client_reads(script: &'static [u8], lines: usize) -> std::thread::Result<Vec<String>> {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            sock.write_all(script).unwrap();
            let _ = sock.read(&mut [0u8; 1]);
        });
        let mut c = crate::common::Client::plain(port);
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            (0..lines).map(|_| c.line()).collect()
        }));
        drop(c);
        server.join().unwrap();
        got
    }

    #[test]
    fn test_client_fails_on_what_the_grammar_rejects() {
        let good = client_reads(
            b"* OK [CAPABILITY IMAP4rev1] hi\r\n* 1 FETCH (BODY[] {4}\r\n\xc3\xa4\xc3\xa4)\r\n\
              * ENABLED UTF8=ACCEPT\r\n* LIST () \".\" \"\xc3\xa4\"\r\n",
            4,
        );
        assert!(good.is_ok(), "8-bit literal, UTF-8 name after ENABLE");
        assert!(client_reads(b"* OK hi\r\n* LIST () \".\" \"\xc3\xa4\"\r\n", 2).is_err());
        assert!(client_reads(b"* OK hi\r\n* 1 FETCH (UID 0)\r\n", 2).is_err());
        assert!(client_reads(b"* HELLO\r\n", 1).is_err(), "bad greeting");
    }

    #[test]
    fn grammar_check_accepts_good_and_rejects_bad_lines() {
        let good: &[&[u8]] = &[
            b"* 3 FETCH (UID 7 FLAGS (\\Seen))",
            b"t1 OK [APPENDUID 5 7] APPEND completed",
            b"* OK [NONEXISTENT] no such thing",
            b"* ESEARCH (TAG \"t3\") UID MIN 2 MAX 9 COUNT 3 ALL 2,5:9",
            b"* ESEARCH (TAG \"t3\") UID",
            b"* ESEARCH (TAG \"t3\") ADDTO (0 1:2,4)",
            b"* ESEARCH (TAG \"t3\") UID REMOVEFROM (0 7)",
            b"* ESEARCH (TAG \"t4\" MAILBOX \"a \\\"b\" UIDVALIDITY 7) UID ALL 1:3",
            b"* OK [INPROGRESS (\"t5\" 10 200)] Searching",
            b"* ACL INBOX alice lrswipkxtea",
            b"* MYRIGHTS \"a b\" lrswipkxtea",
            b"* LISTRIGHTS INBOX bob \"\"",
            b"* OK [INPROGRESS (\"t5\" NIL NIL)] Working",
            b"* OK [INPROGRESS] Working",
            b"t1 NO [BADURL /INBOX/;UID=1] Bad IMAP URL.",
            b"* LIST (\\HasChildren) \".\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            b"* LIST () \"/\" Foo (CHILDINFO (\"SUBSCRIBED\"))",
            b"* LIST () \"/\" \"a (b\" (CHILDINFO (\"SUBSCRIBED\") OLDNAME (\"old\"))",
            b"* STATUS INBOX (MESSAGES 0 APPENDLIMIT 2048)",
            b"* STATUS INBOX (APPENDLIMIT NIL)",
            b"t1 OK [APPENDUID 5 1:3,7] APPEND completed",
            b"* 1 FETCH (BODY[] {5}\r\nhello)",
            b"+ idling",
            b"* 1 FETCH (SAVEDATE \"07-Dec-2026 10:50:10 +0000\")",
            b"* 1 FETCH (UID 4 SAVEDATE NIL FLAGS ())",
            b"* 2 FETCH (EMAILID (M6d2f1a) THREADID NIL UID 9)",
            b"* 2 FETCH (THREADID (T-1_a) EMAILID (Mx))",
            b"* 7 UIDFETCH (FLAGS (\\Seen))",
            b"* 7 UIDFETCH (EMAILID (M1) SAVEDATE \" 7-Dec-2026 10:50:10 -0130\")",
            b"* STATUS foo (MAILBOXID (F2212ea87-6097-4256-9d51-71338625))",
            b"* STATUS foo (MESSAGES 1 MAILBOXID (abc) UIDNEXT 2)",
            b"t1 OK [MAILBOXID (F2212ea87-6097)] Completed",
            b"* OK [MAILBOXID (3085f01b7f11094c501100008c4a11c1)] Ok",
            b"t1 BAD [UIDREQUIRED] no sequence numbers",
            b"* VANISHED 2:4",
        ];
        for line in good {
            assert_eq!(
                check_response(line),
                Ok(()),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let bad: &[&[u8]] = &[
            b"* 3 FETCH (UID 7 FLAGS (\\Seen)",
            b"t1 OK [APPENDUID 5 x] APPEND completed",
            b"t1 OK [UIDNEXT 0] zero",
            b"* ESEARCH UID MIN 0",
            b"* ESEARCH COUNT",
            b"* ESEARCH (TAG \"t4\" MAILBOX \"x\") UID ALL 1",
            b"* OK [INPROGRESS (\"t5\" 300 200)] Searching",
            b"* ACL INBOX alice",
            b"* MYRIGHTS INBOX",
            b"* LISTRIGHTS INBOX bob",
            b"* OK [INPROGRESS (\"t5\" 1 0)] Searching",
            b"* OK [INPROGRESS (t5 1 2)] Searching",
            b"* ESEARCH (TAG \"t4\" MAILBOX \"x\" UIDVALIDITY 0) UID ALL 1",
            b"* LIST (\\HasChildren) \".\" Foo (\"CHILDINFO\" (\"X\"))",
            b"* LIST (\\HasChildren) \".\" Foo Bar",
            b"* LIST () \"/\" Foo (CHILDINFO (\"SUBSCRIBED\")",
            b"* LIST () \"/\" Foo (FOO (\"BAR\"))",
            b"* STATUS INBOX (MESSAGES 0 APPENDLIMIT x)",
            b"* STATUS INBOX (MESSAGES APPENDLIMIT 5)",
            b"t1 OK [APPENDUID 5 1:] APPEND completed",
            b"* 1 FETCH (BODY[] {6}\r\nhello)",
            b"* OK",
            b"* SEARCH 1 ",
            b"t1 OK",
            b"* 1 FETCH (SAVEDATE \"7-Dec-2026 10:50:10 +0000\")",
            b"* 1 FETCH (SAVEDATE \"07-Foo-2026 10:50:10 +0000\")",
            b"* 2 FETCH (EMAILID NIL)",
            b"* 2 FETCH (EMAILID (a.b))",
            b"* 2 FETCH (THREADID ())",
            b"* 0 UIDFETCH (FLAGS ())",
            b"* 7 UIDFETCH FLAGS ()",
            b"* STATUS foo (MAILBOXID (a b))",
            b"* STATUS foo (MAILBOXID ())",
            b"t1 OK [MAILBOXID F1] Completed",
            b"t1 OK [MAILBOXID (a/b)] Completed",
        ];
        for line in bad {
            assert!(
                check_response(line).is_err(),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(check_greeting(b"* OK [CAPABILITY IMAP4rev1] hi"), Ok(()));
        assert!(check_greeting(b"* NO hi").is_err());
    }
}
