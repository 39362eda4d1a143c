//! Messages the tester APPENDs, and how a fetched body is checked.
//!
//! Each generated message starts with a header line carrying a hash of
//! everything after that line, so any full fetch can be verified on its
//! own, and any partial fetch from offset 0 shows which message it is.
//! The message's "identity" is that hash; for mail the tester did not
//! write, it is the hash of the whole message.

use crate::rng::Rng;

pub const HASH_HEADER: &[u8] = b"X-Roost-Load-Hash: ";

/// 64-bit FNV-1a: small, fast, and ample to tell bodies apart.
pub fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const WORDS: &[&str] = &[
    "the",
    "plan",
    "review",
    "budget",
    "quarterly",
    "report",
    "meeting",
    "agenda",
    "invoice",
    "roadmap",
    "release",
    "draft",
    "numbers",
    "team",
    "schedule",
    "please",
    "thanks",
    "update",
    "server",
    "mailbox",
    "summary",
    "notes",
    "project",
    "deadline",
    "customer",
    "weekly",
];
const PEOPLE: &[(&str, &str)] = &[
    ("Alice Archer", "alice@example.org"),
    ("Bob Baker", "bob@example.net"),
    ("Carol Chen", "carol@example.com"),
    ("Dan Dorsey", "dan@example.org"),
    ("Erin Estrada", "erin@example.net"),
];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn words(rng: &mut Rng, out: &mut Vec<u8>, bytes: usize) {
    let mut line = 0;
    while out.len() < bytes {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        if line + w.len() > 70 {
            out.extend_from_slice(b"\r\n");
            line = 0;
        } else if line > 0 {
            out.push(b' ');
            line += 1;
        }
        out.extend_from_slice(w.as_bytes());
        line += w.len();
    }
    out.extend_from_slice(b"\r\n");
}

fn base64_lines(rng: &mut Rng, out: &mut Vec<u8>, bytes: usize) {
    let mut n = 0;
    while n < bytes {
        for _ in 0..76 {
            out.push(B64[rng.below(64) as usize]);
        }
        out.extend_from_slice(b"\r\n");
        n += 78;
    }
}

/// A new message with Message-ID `<id>`, replying to `parent` if given.
/// Sizes and shapes vary: mostly plain text of 1–16 KB, some
/// multipart/alternative, some multipart/mixed with an attachment.
pub fn generate(rng: &mut Rng, id: &str, parent: Option<&str>) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 * 1024);
    let (from_name, from) = PEOPLE[rng.below(PEOPLE.len() as u64) as usize];
    let (to_name, to) = PEOPLE[rng.below(PEOPLE.len() as u64) as usize];
    let subject: Vec<&str> = (0..rng.range(2, 6))
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect();
    let subject = subject.join(" ");
    let prefix = if parent.is_some() { "Re: " } else { "" };
    m.extend_from_slice(
        format!(
            "From: {from_name} <{from}>\r\nTo: {to_name} <{to}>\r\nSubject: {prefix}{subject}\r\n\
             Date: {}, {} {} 20{:02} {:02}:{:02}:{:02} +0000\r\nMessage-ID: <{id}>\r\n",
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][rng.below(7) as usize],
            rng.range(1, 28),
            MONTHS[rng.below(12) as usize],
            rng.range(15, 25),
            rng.below(24),
            rng.below(60),
            rng.below(60),
        )
        .as_bytes(),
    );
    if let Some(p) = parent {
        m.extend_from_slice(format!("In-Reply-To: <{p}>\r\nReferences: <{p}>\r\n").as_bytes());
    }
    m.extend_from_slice(b"MIME-Version: 1.0\r\n");
    let text_size = rng.range(1024, 16 * 1024) as usize;
    match rng.below(10) {
        0..=5 => {
            m.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii\r\n\r\n");
            let start = m.len();
            words(rng, &mut m, start + text_size);
        }
        6 | 7 => {
            m.extend_from_slice(
                b"Content-Type: multipart/alternative; boundary=\"=alt=\"\r\n\r\n\
                  --=alt=\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
            );
            let start = m.len();
            words(rng, &mut m, start + text_size / 2);
            m.extend_from_slice(
                b"--=alt=\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<html><body><p>\r\n",
            );
            let start = m.len();
            words(rng, &mut m, start + text_size / 2);
            m.extend_from_slice(b"</p></body></html>\r\n--=alt=--\r\n");
        }
        _ => {
            m.extend_from_slice(
                b"Content-Type: multipart/mixed; boundary=\"=mix=\"\r\n\r\n\
                  --=mix=\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
            );
            let start = m.len();
            words(rng, &mut m, start + text_size / 2);
            m.extend_from_slice(
                b"--=mix=\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n\
                  Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
                  Content-Transfer-Encoding: base64\r\n\r\n",
            );
            let size = rng.range(4 * 1024, 40 * 1024) as usize;
            base64_lines(rng, &mut m, size);
            m.extend_from_slice(b"--=mix=--\r\n");
        }
    }
    let mut out = Vec::with_capacity(m.len() + 40);
    out.extend_from_slice(HASH_HEADER);
    out.extend_from_slice(format!("{:016x}\r\n", fnv64(&m)).as_bytes());
    out.extend_from_slice(&m);
    out
}

/// The hash a message claims in its first line, if it has our header
/// and the line is complete in `prefix`.
pub fn claimed(prefix: &[u8]) -> Option<u64> {
    let rest = prefix.strip_prefix(HASH_HEADER)?;
    let hex = rest.get(..16)?;
    if rest.get(16..18)? != b"\r\n" {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// The identity of a fully fetched message, or why it is corrupt.
pub fn identity(full: &[u8]) -> Result<u64, String> {
    match claimed(full) {
        Some(h) => {
            let actual = fnv64(&full[HASH_HEADER.len() + 18..]);
            if actual == h {
                Ok(h)
            } else {
                Err(format!(
                    "body does not match its own hash header ({h:016x}, content hashes to {actual:016x})"
                ))
            }
        }
        None => Ok(fnv64(full)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_messages_verify() {
        let mut rng = Rng::new(7);
        for i in 0..50 {
            let m = generate(
                &mut rng,
                &format!("{i}@test"),
                (i % 3 == 0).then_some("p@test"),
            );
            let id = identity(&m).unwrap();
            assert_eq!(claimed(&m[..40]), Some(id));
            assert!(!m.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
            assert!(m.ends_with(b"\r\n"));
            assert!(m.split(|&b| b == b'\n').all(|l| l.len() < 998));
        }
    }

    #[test]
    fn a_changed_byte_is_caught() {
        let mut m = generate(&mut Rng::new(1), "x@test", None);
        let last = m.len() - 3;
        m[last] ^= 1;
        assert!(identity(&m).is_err());
        // Foreign mail: the whole message is its identity.
        assert_eq!(
            identity(b"Subject: x\r\n\r\nhi\r\n"),
            Ok(fnv64(b"Subject: x\r\n\r\nhi\r\n"))
        );
        assert_eq!(claimed(b"X-Roost-Load-Hash: 0123"), None);
    }
}
