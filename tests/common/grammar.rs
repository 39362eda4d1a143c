//! A strict grammar check on everything the server sends to the test
//! client: each greeting and response goes through imap-codec, an IMAP
//! parser written by others, with none of its leniencies ("quirks") on.
//! A line it rejects fails the test that read it.
//!
//! imap-codec lacks two extensions Roost may speak; for those the line is
//! checked here instead, by the rule's own small grammar (see
//! `esearch` and `list_extended`), and only those shapes pass.

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
/// `"ESEARCH" [SP "(" "TAG" SP tag-string ")"] [SP "UID"]
/// *(SP search-return-data)`, checked here. `rest` follows "ESEARCH".
fn esearch(rest: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(rest).map_err(|_| "ESEARCH is not ASCII".to_string())?;
    let mut rest = text;
    let bad = || format!("malformed ESEARCH: {text:?}");
    if let Some(after) = rest.strip_prefix(" (TAG \"") {
        let end = after.find("\")").ok_or_else(bad)?;
        let tag = &after[..end];
        if tag.is_empty() || !tag.bytes().all(|b| is_atom_char(b) && b != b'+') {
            return Err(bad());
        }
        rest = &after[end + 2..];
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
    if words.len() % 2 != 0 {
        return Err(bad());
    }
    for pair in words.chunks(2) {
        let ok = match pair[0] {
            "MIN" | "MAX" => is_nz_number(pair[1]),
            "COUNT" => is_number(pair[1]),
            "ALL" => is_number_set(pair[1]),
            "MODSEQ" => is_nz_number(pair[1]),
            _ => false,
        };
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// imap-codec's `ext_list_extended` feature does not reach its LIST parser,
/// which stops after the mailbox name. RFC 5258 §9 allows
/// `SP "(" mbox-list-extended-item *(SP ...) ")"` after it; Roost sends
/// only CHILDINFO and OLDNAME items. Those are checked here and the LIST
/// line without them goes back through imap-codec.
fn list_extended(line: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|_| "LIST is not UTF-8".to_string())?;
    let start = ["(\"CHILDINFO\" (", "(\"OLDNAME\" ("]
        .iter()
        .filter_map(|item| text.find(&format!(" {item}")))
        .min()
        .ok_or("no extended data imap-codec might have missed")?;
    let ext = &text[start + 1..];
    let inner = ext
        .strip_prefix('(')
        .and_then(|e| e.strip_suffix(')'))
        .ok_or("extended data is not a list")?;
    for item in split_items(inner)? {
        let ok = if let Some(v) = item.strip_prefix("\"CHILDINFO\" (") {
            v.strip_suffix(')').is_some_and(|opts| {
                !opts.is_empty() && opts.split(' ').all(|o| o == "\"SUBSCRIBED\"")
            })
        } else if let Some(v) = item.strip_prefix("\"OLDNAME\" (") {
            v.strip_suffix(')').is_some_and(|name| {
                check_response(format!("* LIST () NIL {name}").as_bytes()).is_ok()
            })
        } else {
            false
        };
        if !ok {
            return Err(format!("unknown extended LIST item {item:?}"));
        }
    }
    check_response(&line[..start])
}

/// Splits `"A" (x) "B" (y)` into `"A" (x)` and `"B" (y)`.
fn split_items(s: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    let mut begin = 0;
    for (i, c) in s.char_indices() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1).ok_or("unbalanced parentheses")?;
                if depth == 0 {
                    items.push(s[begin..=i].trim_start());
                    begin = i + 1;
                }
            }
            _ => {}
        }
    }
    if depth != 0 || quoted || !s[begin..].trim().is_empty() {
        return Err("unbalanced extended data".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_check_accepts_good_and_rejects_bad_lines() {
        let good: &[&[u8]] = &[
            b"* 3 FETCH (UID 7 FLAGS (\\Seen))",
            b"t1 OK [APPENDUID 5 7] APPEND completed",
            b"* OK [NONEXISTENT] no such thing",
            b"* ESEARCH (TAG \"t3\") UID MIN 2 MAX 9 COUNT 3 ALL 2,5:9",
            b"* ESEARCH (TAG \"t3\") UID",
            b"* LIST (\\HasChildren) \".\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            b"* 1 FETCH (BODY[] {5}\r\nhello)",
            b"+ idling",
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
            b"* LIST (\\HasChildren) \".\" Foo (\"CHILDINFO\" (\"X\"))",
            b"* LIST (\\HasChildren) \".\" Foo Bar",
            b"* 1 FETCH (BODY[] {6}\r\nhello)",
            b"* OK",
            b"* SEARCH 1 ",
            b"t1 OK",
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
