//! MIME parameter lists (`; name=value ...`, RFC 2045 §5.1) with RFC 2231
//! continuations merged the way Dovecot 2.3 presents them: plain
//! parameters first in their order, then the `name*N[*]` pieces sorted
//! and joined. An extended (`*`) value keeps its `charset'lang'%XX` form
//! under the key `name*`; nothing is decoded. Pieces with missing indexes
//! stay apart under their `name*N[*]` keys.

use super::lexer::Lexer;

/// `(name, value)` pairs as they are written in BODYSTRUCTURE.
pub(crate) type Params = Vec<(Vec<u8>, Vec<u8>)>;

struct Piece {
    key: Vec<u8>,
    value: Vec<u8>,
    index: u32,
    extended: bool,
}

/// Parses the parameters that follow a Content-Type or
/// Content-Disposition value, the lexer standing at the first `;`.
pub(crate) fn parse(lex: &mut Lexer<'_>) -> Params {
    let saved = lex.replace_nul;
    lex.replace_nul = true;
    let mut result: Params = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    // Dovecot keeps the last index it saw for a bare `name*` key (a quirk
    // that decides whether such a key later counts as "missing index 0").
    let mut index = 0u32;
    let mut extended;
    let mut value = Vec::new();
    while let Some(param) = lex.content_param(&mut value) {
        let Ok(key) = param else {
            // Broken parameter: skip one byte and try again from there.
            if lex.at_end() {
                break;
            }
            lex.pos += 1;
            continue;
        };
        let Some(star) = key.iter().position(|&b| b == b'*') else {
            result.push((key, value.clone()));
            continue;
        };
        let mut p = star;
        if p + 1 < key.len() {
            p += 1;
            index = 0;
            while let Some(d @ b'0'..=b'9') = key.get(p) {
                index = index.wrapping_mul(10).wrapping_add(u32::from(d - b'0'));
                p += 1;
            }
        }
        if key.get(p) == Some(&b'*') {
            extended = true;
            p += 1;
        } else {
            extended = false;
        }
        if p < key.len() {
            // Not of the form name*N[*]: an ordinary parameter.
            result.push((key, value.clone()));
            continue;
        }
        pieces.push(Piece {
            key: key[..star].to_vec(),
            value: value.clone(),
            index,
            extended,
        });
    }
    lex.replace_nul = saved;
    if pieces.is_empty() {
        return result;
    }
    pieces.sort_by(|a, b| a.key.cmp(&b.key).then(a.index.cmp(&b.index)));
    let mut i = 0;
    while i < pieces.len() {
        let mut ok = true;
        let mut have_extended = false;
        let mut next_index = 0u32;
        let mut j = i;
        while j < pieces.len() && pieces[i].key.eq_ignore_ascii_case(&pieces[j].key) {
            if pieces[j].index != next_index {
                ok = false;
            }
            have_extended |= pieces[j].extended;
            next_index = next_index.wrapping_add(1);
            j += 1;
        }
        if !ok {
            for piece in &pieces[i..j] {
                let mut key = piece.key.clone();
                key.push(b'*');
                key.extend_from_slice(piece.index.to_string().as_bytes());
                if piece.extended {
                    key.push(b'*');
                }
                result.push((key, piece.value.clone()));
            }
        } else {
            let mut joined = Vec::new();
            if !pieces[i].extended && have_extended {
                joined.extend_from_slice(b"''");
            }
            for piece in &pieces[i..j] {
                if !piece.extended && have_extended {
                    // A plain piece inside an encoded value: escape `%`.
                    for &b in &piece.value {
                        if b == b'%' {
                            joined.extend_from_slice(b"%25");
                        } else {
                            joined.push(b);
                        }
                    }
                } else {
                    joined.extend_from_slice(&piece.value);
                }
            }
            let mut key = pieces[i].key.clone();
            if have_extended {
                key.push(b'*');
            }
            result.push((key, joined));
        }
        i = j;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &[u8]) -> Vec<(String, String)> {
        let mut lex = Lexer::new(s);
        parse(&mut lex)
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn plain_and_quoted() {
        assert_eq!(
            params(b"; charset=\"a\\\"b\"; format=flowed"),
            pairs(&[("charset", "a\"b"), ("format", "flowed")])
        );
        assert_eq!(params(b"; x="), pairs(&[("x", "")]));
        // A broken parameter swallows what follows up to the next `;`,
        // and the skipped byte is that `;`: Dovecot loses `x=y` too.
        assert_eq!(
            params(b";;; charset=\"a b\"; junk; x=y"),
            pairs(&[("charset", "a b")])
        );
    }

    #[test]
    fn rfc2231_continuations() {
        assert_eq!(
            params(b"; name*0=\"long\"; name*1=\"name.txt\""),
            pairs(&[("name", "longname.txt")])
        );
        assert_eq!(
            params(b"; q=1; name*0*=utf-8''%E2; name*1*=%82%AC; other*1=b; other*0=a"),
            pairs(&[("q", "1"), ("name*", "utf-8''%E2%82%AC"), ("other", "ab")])
        );
        assert_eq!(
            params(b"; filename*=utf-8''%E2%82%AC.txt"),
            pairs(&[("filename*", "utf-8''%E2%82%AC.txt")])
        );
        // Index 1 without 0: the pieces stay separate.
        assert_eq!(params(b"; a*1=x"), pairs(&[("a*1", "x")]));
        // Mixed plain and encoded pieces: the plain one is %-escaped.
        assert_eq!(
            params(b"; t*0=50%; t*1*=%41"),
            pairs(&[("t*", "''50%25%41")])
        );
    }
}
