//! Comparators (RFC 4790 as Sieve uses them: i;octet, i;ascii-casemap,
//! i;ascii-numeric) and match types (:is, :contains, :matches with its
//! `*`/`?` captures, :regex, and relational :count/:value, RFC 5231).

use std::cmp::Ordering;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Comparator {
    Octet,
    AsciiCasemap,
    AsciiNumeric,
}

impl Comparator {
    pub(crate) fn by_name(name: &str) -> Option<Comparator> {
        match name.to_ascii_lowercase().as_str() {
            "i;octet" => Some(Comparator::Octet),
            "i;ascii-casemap" => Some(Comparator::AsciiCasemap),
            "i;ascii-numeric" => Some(Comparator::AsciiNumeric),
            _ => None,
        }
    }

    fn eq_byte(self, a: u8, b: u8) -> bool {
        match self {
            Comparator::AsciiCasemap => a.eq_ignore_ascii_case(&b),
            _ => a == b,
        }
    }

    /// Ordering for :value and :is. i;ascii-numeric reads the leading
    /// digits; a string without them is positive infinity (RFC 4790 §9.1).
    pub(crate) fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Comparator::Octet => a.as_bytes().cmp(b.as_bytes()),
            Comparator::AsciiCasemap => {
                let fold = |s: &str| {
                    s.bytes()
                        .map(|c| c.to_ascii_lowercase())
                        .collect::<Vec<u8>>()
                };
                fold(a).cmp(&fold(b))
            }
            Comparator::AsciiNumeric => match (numeric(a), numeric(b)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
            },
        }
    }
}

/// The leading digits without leading zeros (so that comparing length
/// then bytes compares any size of number).
fn numeric(s: &str) -> Option<&str> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let d = &s[..digits];
    let trimmed = d.trim_start_matches('0');
    Some(if trimmed.is_empty() { "0" } else { trimmed })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rel {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Rel {
    pub(crate) fn parse(s: &str) -> Option<Rel> {
        Some(match s.to_ascii_lowercase().as_str() {
            "gt" => Rel::Gt,
            "ge" => Rel::Ge,
            "lt" => Rel::Lt,
            "le" => Rel::Le,
            "eq" => Rel::Eq,
            "ne" => Rel::Ne,
            _ => return None,
        })
    }

    pub(crate) fn holds(self, o: Ordering) -> bool {
        match self {
            Rel::Gt => o == Ordering::Greater,
            Rel::Ge => o != Ordering::Less,
            Rel::Lt => o == Ordering::Less,
            Rel::Le => o != Ordering::Greater,
            Rel::Eq => o == Ordering::Equal,
            Rel::Ne => o != Ordering::Equal,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MatchKind {
    Is,
    Contains,
    Matches,
    Regex,
    Count(Rel),
    Value(Rel),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Matcher {
    pub cmp: Comparator,
    pub kind: MatchKind,
}

/// Regexes bigger than this compiled program are refused: a script is
/// user input and runs on every delivery.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a :regex key (POSIX extended syntax as far as Rust's regex
/// shares it); `None` for a pattern that is invalid or too large, which
/// then matches nothing.
pub(crate) fn compile_regex(key: &str, cmp: Comparator) -> Option<regex::Regex> {
    regex::RegexBuilder::new(key)
        .case_insensitive(cmp == Comparator::AsciiCasemap)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .ok()
}

impl Matcher {
    /// Whether `value` matches `key` (not for :count, which counts values
    /// first). On a :matches/:regex match, `captures` gets `${0}`..`${9}`.
    pub(crate) fn matches(
        &self,
        value: &str,
        key: &str,
        captures: &mut Option<Vec<String>>,
    ) -> bool {
        match self.kind {
            MatchKind::Is => self.cmp.compare(value, key) == Ordering::Equal,
            MatchKind::Contains => contains(self.cmp, value.as_bytes(), key.as_bytes()),
            MatchKind::Value(rel) => rel.holds(self.cmp.compare(value, key)),
            MatchKind::Count(_) => false,
            MatchKind::Matches => {
                let mut caps = Vec::new();
                if glob(self.cmp, value.as_bytes(), key.as_bytes(), &mut caps, 0) {
                    caps.reverse();
                    let mut all = vec![value.to_string()];
                    all.extend(caps);
                    *captures = Some(all);
                    true
                } else {
                    false
                }
            }
            MatchKind::Regex => {
                let Some(re) = compile_regex(key, self.cmp) else {
                    return false;
                };
                match re.captures(value) {
                    Some(c) => {
                        *captures = Some(
                            (0..c.len().min(10))
                                .map(|i| c.get(i).map_or(String::new(), |m| m.as_str().to_string()))
                                .collect(),
                        );
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// :count — the number of values compared with the key as numbers.
    pub(crate) fn count_matches(&self, count: usize, key: &str) -> bool {
        match self.kind {
            MatchKind::Count(rel) => {
                rel.holds(Comparator::AsciiNumeric.compare(&count.to_string(), key))
            }
            _ => false,
        }
    }
}

fn contains(cmp: Comparator, hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    hay.windows(needle.len())
        .any(|w| w.iter().zip(needle).all(|(a, b)| cmp.eq_byte(*a, *b)))
}

/// Bound on backtracking steps for one :matches (`*a*a*a*…` patterns).
const GLOB_BUDGET: usize = 1 << 20;

/// `*` any run, `?` one character, `\` quotes the next. Captures are
/// pushed innermost-first (the caller reverses them).
fn glob(cmp: Comparator, v: &[u8], p: &[u8], caps: &mut Vec<String>, steps: usize) -> bool {
    let mut budget = GLOB_BUDGET.saturating_sub(steps);
    glob_at(cmp, v, p, caps, &mut budget)
}

fn glob_at(
    cmp: Comparator,
    v: &[u8],
    p: &[u8],
    caps: &mut Vec<String>,
    budget: &mut usize,
) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match p.first() {
        None => v.is_empty(),
        Some(b'*') => {
            // Longest-first is not required; shortest-first gives RFC 5229's
            // leftmost-shortest `*` captures.
            for take in 0..=v.len() {
                if std::str::from_utf8(&v[..take]).is_err() && take < v.len() {
                    continue;
                }
                let mark = caps.len();
                if glob_at(cmp, &v[take..], &p[1..], caps, budget) {
                    caps.push(String::from_utf8_lossy(&v[..take]).into_owned());
                    return true;
                }
                caps.truncate(mark);
                if *budget == 0 {
                    return false;
                }
            }
            false
        }
        Some(b'?') => {
            // One character, which may be several bytes of UTF-8.
            let Some(len) = char_len(v) else { return false };
            let mark = caps.len();
            if glob_at(cmp, &v[len..], &p[1..], caps, budget) {
                caps.push(String::from_utf8_lossy(&v[..len]).into_owned());
                return true;
            }
            caps.truncate(mark);
            false
        }
        Some(&c) => {
            let (lit, rest) = if c == b'\\' && p.len() > 1 {
                (p[1], &p[2..])
            } else {
                (c, &p[1..])
            };
            match v.first() {
                Some(&b) if cmp.eq_byte(b, lit) => glob_at(cmp, &v[1..], rest, caps, budget),
                _ => false,
            }
        }
    }
}

fn char_len(v: &[u8]) -> Option<usize> {
    let first = *v.first()?;
    let len = match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    };
    Some(len.min(v.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: MatchKind, cmp: Comparator) -> Matcher {
        Matcher { cmp, kind }
    }

    #[test]
    fn is_contains_and_case() {
        let ci = m(MatchKind::Is, Comparator::AsciiCasemap);
        assert!(ci.matches("Hello", "hELLO", &mut None));
        assert!(!m(MatchKind::Is, Comparator::Octet).matches("Hello", "hello", &mut None));
        assert!(m(MatchKind::Contains, Comparator::AsciiCasemap).matches(
            "a MiXeD line",
            "mixed",
            &mut None
        ));
        assert!(m(MatchKind::Contains, Comparator::AsciiCasemap).matches("x", "", &mut None));
    }

    #[test]
    fn matches_captures_star_and_question() {
        let mm = m(MatchKind::Matches, Comparator::AsciiCasemap);
        let mut caps = None;
        assert!(mm.matches("[list] Subject here", "[*] *", &mut caps));
        assert_eq!(
            caps.unwrap(),
            vec!["[list] Subject here", "list", "Subject here"]
        );
        let mut caps = None;
        assert!(mm.matches("abc", "a?c", &mut caps));
        assert_eq!(caps.unwrap()[1], "b");
        assert!(!mm.matches("abc", "a\\?c", &mut None));
        assert!(mm.matches("a?c", "a\\?c", &mut None));
        assert!(!mm.matches("abcd", "abc", &mut None));
        // Pathological patterns stop within the budget.
        let v = "a".repeat(200);
        assert!(!mm.matches(
            &v,
            &"*a".repeat(30).to_string().replace("*a*a", "*a*a*b"),
            &mut None
        ));
    }

    #[test]
    fn numeric_and_relational() {
        let c = Comparator::AsciiNumeric;
        assert_eq!(c.compare("010", "9"), Ordering::Greater);
        assert_eq!(c.compare("abc", "99999"), Ordering::Greater);
        assert_eq!(c.compare("abc", "x"), Ordering::Equal);
        let gt = m(MatchKind::Value(Rel::Gt), Comparator::AsciiNumeric);
        assert!(gt.matches("12", "9", &mut None));
        let count = m(MatchKind::Count(Rel::Ge), Comparator::AsciiNumeric);
        assert!(count.count_matches(3, "2"));
        assert!(!count.count_matches(1, "2"));
    }

    #[test]
    fn regex_with_captures() {
        let r = m(MatchKind::Regex, Comparator::AsciiCasemap);
        let mut caps = None;
        assert!(r.matches("Ticket #1234 opened", "ticket #([0-9]+)", &mut caps));
        assert_eq!(caps.unwrap()[1], "1234");
        assert!(!r.matches("x", "(", &mut None));
    }
}
