//! Case folding for matching, after Dovecot's i;unicode-casemap (RFC 5051):
//! each character is titlecased, then decomposed, and the result is not
//! cased again (`ª` becomes a lower-case `a`, as in Dovecot). Decomposition
//! covers Latin-1, Latin Extended-A and fullwidth ASCII; other characters
//! are kept whole, where Dovecot would decompose them too.
/// `s` folded.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold_into(&mut out, s);
    out
}

/// Appends `s` folded to `out`.
pub fn fold_into(out: &mut String, s: &str) {
    let mut rest = s;
    while !rest.is_empty() {
        // Mail is mostly ASCII: upper-case whole runs at once.
        let ascii = rest.bytes().position(|b| b >= 0x80).unwrap_or(rest.len());
        if ascii > 0 {
            let start = out.len();
            out.push_str(&rest[..ascii]);
            if let Some(run) = out.get_mut(start..) {
                run.make_ascii_uppercase();
            }
            rest = &rest[ascii..];
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        rest = &rest[c.len_utf8()..];
        let t = titlecase(c);
        let cp = t as u32;
        if (0xFF01..=0xFF5E).contains(&cp) {
            // Fullwidth forms decompose to ASCII (compatibility).
            out.push(char::from_u32(cp - 0xFEE0).unwrap_or(t));
        } else if let Ok(i) = DECOMPOSED.binary_search_by_key(&t, |&(c, _)| c) {
            out.push_str(DECOMPOSED[i].1);
        } else {
            out.push(t);
        }
    }
}

/// Simple titlecase: the uppercase letter, except for the digraphs that
/// have a title form of their own; characters whose uppercase is more
/// than one character (ß) stay as they are, as with Unicode's simple
/// mappings.
fn titlecase(c: char) -> char {
    match c as u32 {
        0x01C4..=0x01C6 => '\u{1C5}',
        0x01C7..=0x01C9 => '\u{1C8}',
        0x01CA..=0x01CC => '\u{1CB}',
        0x01F1..=0x01F3 => '\u{1F2}',
        _ => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

/// Full compatibility decompositions (NFKD) of the characters from
/// U+00A0 to U+017F that can remain after titlecasing. Sorted.
const DECOMPOSED: &[(char, &str)] = &[
    ('\u{A0}', " "),
    ('\u{A8}', " \u{308}"),
    ('\u{AA}', "a"),
    ('\u{AF}', " \u{304}"),
    ('\u{B2}', "2"),
    ('\u{B3}', "3"),
    ('\u{B4}', " \u{301}"),
    ('\u{B8}', " \u{327}"),
    ('\u{B9}', "1"),
    ('\u{BA}', "o"),
    ('\u{BC}', "1\u{2044}4"),
    ('\u{BD}', "1\u{2044}2"),
    ('\u{BE}', "3\u{2044}4"),
    ('\u{C0}', "A\u{300}"),
    ('\u{C1}', "A\u{301}"),
    ('\u{C2}', "A\u{302}"),
    ('\u{C3}', "A\u{303}"),
    ('\u{C4}', "A\u{308}"),
    ('\u{C5}', "A\u{30A}"),
    ('\u{C7}', "C\u{327}"),
    ('\u{C8}', "E\u{300}"),
    ('\u{C9}', "E\u{301}"),
    ('\u{CA}', "E\u{302}"),
    ('\u{CB}', "E\u{308}"),
    ('\u{CC}', "I\u{300}"),
    ('\u{CD}', "I\u{301}"),
    ('\u{CE}', "I\u{302}"),
    ('\u{CF}', "I\u{308}"),
    ('\u{D1}', "N\u{303}"),
    ('\u{D2}', "O\u{300}"),
    ('\u{D3}', "O\u{301}"),
    ('\u{D4}', "O\u{302}"),
    ('\u{D5}', "O\u{303}"),
    ('\u{D6}', "O\u{308}"),
    ('\u{D9}', "U\u{300}"),
    ('\u{DA}', "U\u{301}"),
    ('\u{DB}', "U\u{302}"),
    ('\u{DC}', "U\u{308}"),
    ('\u{DD}', "Y\u{301}"),
    ('\u{100}', "A\u{304}"),
    ('\u{102}', "A\u{306}"),
    ('\u{104}', "A\u{328}"),
    ('\u{106}', "C\u{301}"),
    ('\u{108}', "C\u{302}"),
    ('\u{10A}', "C\u{307}"),
    ('\u{10C}', "C\u{30C}"),
    ('\u{10E}', "D\u{30C}"),
    ('\u{112}', "E\u{304}"),
    ('\u{114}', "E\u{306}"),
    ('\u{116}', "E\u{307}"),
    ('\u{118}', "E\u{328}"),
    ('\u{11A}', "E\u{30C}"),
    ('\u{11C}', "G\u{302}"),
    ('\u{11E}', "G\u{306}"),
    ('\u{120}', "G\u{307}"),
    ('\u{122}', "G\u{327}"),
    ('\u{124}', "H\u{302}"),
    ('\u{128}', "I\u{303}"),
    ('\u{12A}', "I\u{304}"),
    ('\u{12C}', "I\u{306}"),
    ('\u{12E}', "I\u{328}"),
    ('\u{130}', "I\u{307}"),
    ('\u{132}', "IJ"),
    ('\u{134}', "J\u{302}"),
    ('\u{136}', "K\u{327}"),
    ('\u{139}', "L\u{301}"),
    ('\u{13B}', "L\u{327}"),
    ('\u{13D}', "L\u{30C}"),
    ('\u{13F}', "L\u{B7}"),
    ('\u{143}', "N\u{301}"),
    ('\u{145}', "N\u{327}"),
    ('\u{147}', "N\u{30C}"),
    ('\u{149}', "\u{2BC}n"),
    ('\u{14C}', "O\u{304}"),
    ('\u{14E}', "O\u{306}"),
    ('\u{150}', "O\u{30B}"),
    ('\u{154}', "R\u{301}"),
    ('\u{156}', "R\u{327}"),
    ('\u{158}', "R\u{30C}"),
    ('\u{15A}', "S\u{301}"),
    ('\u{15C}', "S\u{302}"),
    ('\u{15E}', "S\u{327}"),
    ('\u{160}', "S\u{30C}"),
    ('\u{162}', "T\u{327}"),
    ('\u{164}', "T\u{30C}"),
    ('\u{168}', "U\u{303}"),
    ('\u{16A}', "U\u{304}"),
    ('\u{16C}', "U\u{306}"),
    ('\u{16E}', "U\u{30A}"),
    ('\u{170}', "U\u{30B}"),
    ('\u{172}', "U\u{328}"),
    ('\u{174}', "W\u{302}"),
    ('\u{176}', "Y\u{302}"),
    ('\u{178}', "Y\u{308}"),
    ('\u{179}', "Z\u{301}"),
    ('\u{17B}', "Z\u{307}"),
    ('\u{17D}', "Z\u{30C}"),
];
