//! Variables (RFC 5229): `set` with its modifiers, `${name}` and match
//! variables `${0}`..`${9}` in strings; and encoded characters
//! (RFC 5228 §2.4.2.4, `${hex:…}` / `${unicode:…}`), decoded in the same
//! pass.

use std::collections::HashMap;

/// Pigeonhole's defaults: values are cut at 4 KiB, at most 255 variables.
pub(crate) const MAX_VALUE: usize = 4096;
pub(crate) const MAX_VARIABLES: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Modifier {
    // In order of precedence, lowest first: applied highest first.
    Length,
    EncodeUrl,
    QuoteRegex,
    QuoteWildcard,
    LowerFirst,
    UpperFirst,
    Lower,
    Upper,
}

impl Modifier {
    fn precedence(self) -> u8 {
        match self {
            Modifier::Lower | Modifier::Upper => 40,
            Modifier::LowerFirst | Modifier::UpperFirst => 30,
            Modifier::QuoteWildcard => 20,
            Modifier::QuoteRegex | Modifier::EncodeUrl => 15,
            Modifier::Length => 10,
        }
    }
}

/// The modifiers of a `set`, sorted for application; two of the same
/// precedence are an error (RFC 5229 §4).
pub(crate) fn modifiers<'a>(tags: impl Iterator<Item = &'a str>) -> Result<Vec<Modifier>, String> {
    let mut out: Vec<Modifier> = tags
        .filter_map(|t| {
            Some(match t {
                "lower" => Modifier::Lower,
                "upper" => Modifier::Upper,
                "lowerfirst" => Modifier::LowerFirst,
                "upperfirst" => Modifier::UpperFirst,
                "quotewildcard" => Modifier::QuoteWildcard,
                "quoteregex" => Modifier::QuoteRegex,
                "encodeurl" => Modifier::EncodeUrl,
                "length" => Modifier::Length,
                _ => return None,
            })
        })
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.precedence()));
    if out
        .windows(2)
        .any(|w| w[0].precedence() == w[1].precedence())
    {
        return Err("set: two modifiers of the same precedence".into());
    }
    Ok(out)
}

pub(crate) fn apply(mods: &[Modifier], mut v: String) -> String {
    for m in mods {
        v = match m {
            Modifier::Lower => v.to_lowercase(),
            Modifier::Upper => v.to_uppercase(),
            Modifier::LowerFirst => first_char(&v, false),
            Modifier::UpperFirst => first_char(&v, true),
            Modifier::QuoteWildcard => v.chars().fold(String::new(), |mut s, c| {
                if matches!(c, '*' | '?' | '\\') {
                    s.push('\\');
                }
                s.push(c);
                s
            }),
            Modifier::QuoteRegex => regex::escape(&v),
            Modifier::EncodeUrl => v.bytes().fold(String::new(), |mut s, b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    s.push(b as char);
                } else {
                    s.push_str(&format!("%{b:02X}"));
                }
                s
            }),
            Modifier::Length => v.chars().count().to_string(),
        };
    }
    v
}

fn first_char(v: &str, upper: bool) -> String {
    let mut c = v.chars();
    match c.next() {
        Some(f) if upper => f.to_uppercase().chain(c).collect(),
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Variable names: `[A-Za-z_][A-Za-z0-9_]*` (RFC 5229 §3).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut b = name.bytes();
    let ok = b
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid variable name \"{name}\""))
    }
}

/// The variables of one script run.
#[derive(Debug, Default)]
pub(crate) struct Vars {
    named: HashMap<String, String>,
    pub(crate) matched: Vec<String>,
}

impl Vars {
    pub(crate) fn get(&self, name: &str) -> &str {
        self.named
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }

    /// Sets a variable; beyond the limit of names the new one is dropped.
    pub(crate) fn set(&mut self, name: &str, mut value: String) {
        truncate(&mut value, MAX_VALUE);
        let key = name.to_ascii_lowercase();
        if self.named.len() >= MAX_VARIABLES && !self.named.contains_key(&key) {
            return;
        }
        self.named.insert(key, value);
    }
}

pub(crate) fn truncate(v: &mut String, max: usize) {
    if v.len() > max {
        let mut cut = max;
        while !v.is_char_boundary(cut) {
            cut -= 1;
        }
        v.truncate(cut);
    }
}

/// Expands `${…}` references in `s`: encoded characters when `encoded`,
/// variables when `vars` is given. Anything that is not a valid
/// reference stays as written.
pub(crate) fn expand(s: &str, vars: Option<&Vars>, encoded: bool) -> String {
    if !s.contains("${") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        match reference(inner, vars, encoded) {
            Some(v) => {
                out.push_str(&v);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
        if out.len() > MAX_VALUE * 4 {
            break;
        }
    }
    out.push_str(rest);
    out
}

fn reference(inner: &str, vars: Option<&Vars>, encoded: bool) -> Option<String> {
    if encoded {
        if let Some((kind, body)) = inner.split_once(':') {
            let kind = kind.trim().to_ascii_lowercase();
            if kind == "hex" || kind == "unicode" {
                return decode_encoded(&kind, body);
            }
        }
    }
    let vars = vars?;
    if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
        let i: usize = inner.parse().ok()?;
        return Some(vars.matched.get(i).cloned().unwrap_or_default());
    }
    // Namespaced names (`env.x`) are not supported: they expand to "".
    if inner.contains('.') && inner.split('.').all(|p| check_name(p).is_ok()) {
        return Some(String::new());
    }
    check_name(inner).ok()?;
    Some(vars.get(inner).to_string())
}

fn decode_encoded(kind: &str, body: &str) -> Option<String> {
    let mut out = String::new();
    let mut bytes = Vec::new();
    for word in body.split_ascii_whitespace() {
        let n = u32::from_str_radix(word, 16).ok()?;
        if kind == "hex" {
            bytes.push(u8::try_from(n).ok()?);
        } else {
            out.push(char::from_u32(n)?);
        }
    }
    if kind == "hex" {
        out = String::from_utf8(bytes).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_and_oddities_stay() {
        let mut v = Vars::default();
        v.set("Name", "Joe".into());
        v.matched = vec!["all".into(), "one".into()];
        assert_eq!(
            expand("Hi ${name}, ${1} ${2}.", Some(&v), false),
            "Hi Joe, one ."
        );
        assert_eq!(
            expand("${bad-name} ${unclosed", Some(&v), false),
            "${bad-name} ${unclosed"
        );
        assert_eq!(expand("${hex:41 42} ${unicode:263a}", None, true), "AB ☺");
        assert_eq!(expand("${hex:41}", None, false), "${hex:41}");
    }

    #[test]
    fn modifiers_apply_by_precedence() {
        let mods = modifiers(["length", "upper"].into_iter()).unwrap();
        assert_eq!(apply(&mods, "abc".into()), "3");
        let mods = modifiers(["upperfirst", "lower"].into_iter()).unwrap();
        assert_eq!(apply(&mods, "hELLO".into()), "Hello");
        assert!(modifiers(["lower", "upper"].into_iter()).is_err());
        assert_eq!(apply(&[Modifier::QuoteWildcard], "a*b?".into()), "a\\*b\\?");
    }
}
