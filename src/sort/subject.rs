//! The base subject (RFC 5256 §2.1): what is left of a Subject once reply
//! and forward markers, list tags and trailers are gone, so "Re: [list]
//! Fwd: hello (fwd)" sorts and threads with "hello".
//!
//! The header value is decoded (RFC 2047) and folded first (i;unicode-
//! casemap, as Dovecot does), so the markers are matched in upper case.

use crate::mime::decode::decode_words;
use crate::search::fold::fold;

/// A Subject reduced to its base, folded for comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaseSubject {
    pub text: String,
    /// Whether a reply or forward marker was removed (§2.1 step 1–6;
    /// THREAD=REFERENCES §4 uses it when merging by subject).
    pub is_reply: bool,
}

/// The base subject of a raw Subject header value.
pub fn base_subject(raw: &[u8]) -> BaseSubject {
    let decoded = decode_words(raw);
    // Step 1: blanks of any kind become single spaces.
    let mut s = String::with_capacity(decoded.len());
    for c in fold(&decoded).chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if !(c == ' ' && s.ends_with(' ')) {
            s.push(c);
        }
    }
    let mut is_reply = false;
    let mut text = s.as_str();
    loop {
        // Step 2: trailers.
        loop {
            let t = text.trim_end_matches(' ');
            match t.strip_suffix("(FWD)") {
                Some(rest) => {
                    is_reply = true;
                    text = rest;
                }
                None => {
                    text = t;
                    break;
                }
            }
        }
        // Steps 3–5: leaders and blobs, until nothing changes.
        loop {
            let before = text.len();
            loop {
                let t = text.trim_start_matches(' ');
                if let Some(rest) = strip_refwd_leader(t) {
                    is_reply = true;
                    text = rest;
                } else {
                    text = t;
                    break;
                }
            }
            if let Some(rest) = strip_blob(text) {
                // Step 4: a blob goes only if something is left after it.
                if !rest.trim_start_matches(' ').is_empty() {
                    text = rest;
                }
            }
            if text.len() == before {
                break;
            }
        }
        // Step 6: "[fwd: ...]" wrapping.
        match text.strip_prefix("[FWD:").and_then(|t| t.strip_suffix(']')) {
            Some(inner) => {
                is_reply = true;
                text = inner;
            }
            None => break,
        }
    }
    BaseSubject {
        text: text.to_string(),
        is_reply,
    }
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: what follows it.
fn strip_blob(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('[')?;
    let end = inner.find(['[', ']'])?;
    let rest = inner[end..].strip_prefix(']')?;
    Some(rest.trim_start_matches(' '))
}

/// `subj-leader = *subj-blob subj-refwd`, `subj-refwd = ("re" / ("fw"
/// ["d"])) *WSP [subj-blob] ":"`: what follows it.
fn strip_refwd_leader(s: &str) -> Option<&str> {
    let mut t = s;
    while let Some(rest) = strip_blob(t) {
        t = rest;
    }
    let t = t
        .strip_prefix("RE")
        .or_else(|| t.strip_prefix("FWD"))
        .or_else(|| t.strip_prefix("FW"))?;
    let t = t.trim_start_matches(' ');
    let t = strip_blob(t).unwrap_or(t);
    t.strip_prefix(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> (String, bool) {
        let b = base_subject(s.as_bytes());
        (b.text, b.is_reply)
    }

    #[test]
    fn markers_tags_and_trailers_go() {
        assert_eq!(base("hello"), ("HELLO".into(), false));
        assert_eq!(base("Re: hello"), ("HELLO".into(), true));
        assert_eq!(base("RE: re:  Fwd: hello"), ("HELLO".into(), true));
        assert_eq!(base("Re[2]: hello"), ("HELLO".into(), true));
        assert_eq!(base("[list] Re: hello"), ("HELLO".into(), true));
        assert_eq!(base("[list] hello"), ("HELLO".into(), false));
        assert_eq!(base("hello (fwd) (FWD)"), ("HELLO".into(), true));
        assert_eq!(base("[Fwd: Re: hello]"), ("HELLO".into(), true));
        assert_eq!(base("  a\t\tb  "), ("A B".into(), false));
        // A blob alone is the subject.
        assert_eq!(base("[list]"), ("[LIST]".into(), false));
        assert_eq!(base("Re:"), ("".into(), true));
        assert_eq!(
            base("=?utf-8?q?=C3=A9t=C3=A9?="),
            ("E\u{301}TE\u{301}".into(), false)
        );
        assert_eq!(base("Reply"), ("REPLY".into(), false));
    }
}
