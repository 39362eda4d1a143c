//! Address fields as Dovecot 2.3 matches FROM, TO, CC and BCC: the list
//! ENVELOPE shows ([`crate::mime::address`]), written back in one
//! canonical form: `"Display Name" <local@domain>` per address (the name
//! quoted only when it needs to be, left raw when it holds encoded
//! words), `, ` between addresses, `group: ...;` for groups. The result is
//! then decoded like any header, so `FROM "Ann <ann@"` misses
//! `"Ann Smith" <ann@example.org>` just as it does in Dovecot, while
//! `FROM smith` finds it.

use crate::mime::address::Address;

/// RFC 5322 atext; 8-bit bytes count as text (RFC 6532).
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80 || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// Quotes `s` if it is not all atext (dots allowed unless `dot_needs`),
/// escaping `"`, `\` and `'` (Dovecot's set).
fn maybe_quote(out: &mut Vec<u8>, s: &[u8], dot_needs: bool) {
    if s.iter().all(|&b| is_atext(b) || (!dot_needs && b == b'.')) {
        out.extend_from_slice(s);
        return;
    }
    out.push(b'"');
    for &b in s {
        if matches!(b, b'"' | b'\\' | b'\'') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    if memchr::memmem::find(name, b"=?").is_some() {
        // Encoded words may not be quoted (RFC 2047 §5).
        out.extend_from_slice(name);
    } else {
        maybe_quote(out, name, true);
    }
}

/// The canonical form of a parsed address list.
pub fn normalize(list: &[Address]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut first = true;
    for a in list {
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        match (&a.mailbox, &a.domain) {
            // A group's end.
            (None, None) => {
                if out.ends_with(b", ") {
                    out.truncate(out.len() - 2);
                } else if out.ends_with(b": ") {
                    out.truncate(out.len() - 1);
                }
                out.push(b';');
            }
            // A group's start: its name is in the mailbox slot.
            (Some(name), None) => {
                if name.is_empty() {
                    out.extend_from_slice(b"\"\"");
                } else {
                    write_name(&mut out, name);
                }
                out.extend_from_slice(b": ");
                first = true;
            }
            (local, Some(domain)) => {
                if let Some(name) = &a.name {
                    write_name(&mut out, name);
                    if !name.is_empty() {
                        out.push(b' ');
                    }
                }
                out.push(b'<');
                if let Some(r) = &a.route {
                    out.extend_from_slice(r);
                    out.push(b':');
                }
                maybe_quote(&mut out, local.as_deref().unwrap_or_default(), false);
                out.push(b'@');
                out.extend_from_slice(domain);
                out.push(b'>');
            }
        }
    }
    out
}
