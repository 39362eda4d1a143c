//! Verifying the older and the memory-hard Dovecot password schemes that
//! `doveadm pw` still offers: plain and salted digests (`{SHA512}`,
//! `{SSHA512}`, `{PLAIN-MD5}`, …), MD5-crypt (`{MD5-CRYPT}`, `$1$`),
//! `{PBKDF2}` and `{ARGON2I}`/`{ARGON2ID}`. Roost only checks these; new
//! passwords are hashed with the schemes in [`super::scheme::Scheme`].
//!
//! Formats follow Dovecot's: a digest is base64 unless the scheme is hex by
//! default (`PLAIN-MD5`) or named with `.HEX`/`.B64`; a hex string of
//! exactly twice the digest length is read as hex whatever the default,
//! since LDAP imports write both. Salted digests are `digest || salt`.

use super::scheme::ct_eq;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

/// The hash under a digest scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn len(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }

    /// The digest of `parts` concatenated.
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Algorithm::Md5 => run::<Md5>(parts),
            Algorithm::Sha1 => run::<Sha1>(parts),
            Algorithm::Sha256 => run::<Sha256>(parts),
            Algorithm::Sha512 => run::<Sha512>(parts),
        }
    }
}

/// How the digest is written out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Base64,
    Hex,
}

/// A scheme this module verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `H(password)`, or `H(password || salt) || salt` when salted.
    Digest {
        algorithm: Algorithm,
        salted: bool,
        encoding: Encoding,
    },
    /// The FreeBSD/glibc `$1$salt$hash` crypt; Dovecot's `MD5` also takes a
    /// bare hex MD5.
    Md5Crypt { hex_fallback: bool },
    /// `$1$salt$rounds$hex`: PBKDF2-HMAC-SHA1, 20 bytes, salt as written.
    Pbkdf2,
    /// A PHC string, `$argon2i$…` or `$argon2id$…`.
    Argon2,
}

/// The kind for an upper-cased scheme name (`SSHA512`, `SHA256.HEX`, …).
pub fn kind_of(scheme: &str) -> Option<Kind> {
    let (base, forced) = match scheme.rsplit_once('.') {
        Some((b, "HEX")) => (b, Some(Encoding::Hex)),
        Some((b, "B64" | "BASE64")) => (b, Some(Encoding::Base64)),
        Some(_) => return None,
        None => (scheme, None),
    };
    let digest = |algorithm, salted, default| Kind::Digest {
        algorithm,
        salted,
        encoding: forced.unwrap_or(default),
    };
    use Algorithm::*;
    use Encoding::*;
    let kind = match base {
        "SHA" | "SHA1" => digest(Sha1, false, Base64),
        "SHA256" => digest(Sha256, false, Base64),
        "SHA512" => digest(Sha512, false, Base64),
        "SSHA" => digest(Sha1, true, Base64),
        "SSHA256" => digest(Sha256, true, Base64),
        "SSHA512" => digest(Sha512, true, Base64),
        "PLAIN-MD5" => digest(Md5, false, Hex),
        "LDAP-MD5" => digest(Md5, false, Base64),
        "SMD5" => digest(Md5, true, Base64),
        _ if forced.is_some() => return None,
        "MD5" => Kind::Md5Crypt { hex_fallback: true },
        "MD5-CRYPT" => Kind::Md5Crypt {
            hex_fallback: false,
        },
        "PBKDF2" => Kind::Pbkdf2,
        "ARGON2I" | "ARGON2ID" => Kind::Argon2,
        _ => return None,
    };
    Some(kind)
}

/// Whether `password` matches `stored` (the field after `{SCHEME}`).
/// A malformed field is a mismatch, never a panic.
pub fn verify(kind: Kind, stored: &str, password: &[u8]) -> bool {
    match kind {
        Kind::Digest {
            algorithm,
            salted,
            encoding,
        } => verify_digest(algorithm, salted, encoding, stored, password),
        Kind::Md5Crypt { hex_fallback } => {
            if stored.starts_with("$1$") {
                md5_crypt_matches(stored, password)
            } else {
                hex_fallback
                    && verify_digest(Algorithm::Md5, false, Encoding::Hex, stored, password)
            }
        }
        Kind::Pbkdf2 => verify_pbkdf2(stored, password),
        Kind::Argon2 => verify_argon2(stored, password),
    }
}

/// Base64 as Dovecot reads it: padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Hex digits to bytes; None for an odd length or a non-hex pair.
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn decode(stored: &str, encoding: Encoding, fixed_len: Option<usize>) -> Option<Vec<u8>> {
    let looks_hex = fixed_len.is_some_and(|n| stored.len() == 2 * n);
    if encoding == Encoding::Hex || looks_hex {
        if let Some(raw) = decode_hex(stored) {
            return Some(raw);
        }
    }
    BASE64.decode(stored.trim_end()).ok()
}

fn verify_digest(
    algorithm: Algorithm,
    salted: bool,
    encoding: Encoding,
    stored: &str,
    password: &[u8],
) -> bool {
    let n = algorithm.len();
    let Some(raw) = decode(stored, encoding, (!salted).then_some(n)) else {
        return false;
    };
    if raw.len() < n || (!salted && raw.len() != n) {
        return false;
    }
    let (want, salt) = raw.split_at(n);
    ct_eq(&algorithm.digest(&[password, salt]), want)
}

/// crypt(3)'s alphabet for its base64-like output.
const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `$1$salt$digest`: recomputes and compares the whole string.
fn md5_crypt_matches(stored: &str, password: &[u8]) -> bool {
    let Some(rest) = stored.strip_prefix("$1$") else {
        return false;
    };
    let Some((salt, _)) = rest.split_once('$') else {
        return false;
    };
    // crypt(3) uses at most 8 salt characters and writes only those.
    if salt.len() > 8 {
        return false;
    }
    ct_eq(
        md5_crypt(password, salt.as_bytes()).as_bytes(),
        stored.as_bytes(),
    )
}

/// Poul-Henning Kamp's MD5-crypt, as glibc and Dovecot compute it.
fn md5_crypt(password: &[u8], salt: &[u8]) -> String {
    let md5 = |parts: &[&[u8]]| Algorithm::Md5.digest(parts);
    let alternate = md5(&[password, salt, password]);
    let mut first: Vec<&[u8]> = vec![password, b"$1$", salt];
    let mut left = password.len();
    while left > 0 {
        let take = left.min(16);
        first.push(&alternate[..take]);
        left -= take;
    }
    let mut bits = password.len();
    while bits > 0 {
        first.push(if bits & 1 == 1 { b"\0" } else { &password[..1] });
        bits >>= 1;
    }
    let mut sum = md5(&first);
    // 1000 rounds, mixing password, salt and the running sum in a fixed
    // pattern, only to make guessing slow.
    for i in 0..1000 {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(4);
        parts.push(if i % 2 == 1 { password } else { &sum });
        if i % 3 != 0 {
            parts.push(salt);
        }
        if i % 7 != 0 {
            parts.push(password);
        }
        parts.push(if i % 2 == 1 { &sum } else { password });
        sum = md5(&parts);
    }
    let mut out = format!("$1${}$", String::from_utf8_lossy(salt));
    let mut put = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(char::from(CRYPT64[(v & 0x3f) as usize]));
            v >>= 6;
        }
    };
    let b = |i: usize| u32::from(sum[i]);
    for (a, m, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put((b(a) << 16) | (b(m) << 8) | b(c), 4);
    }
    put(b(11), 2);
    out
}

/// Rounds above this are refused as a malformed field: a typo should not
/// make each login burn minutes of CPU.
const PBKDF2_MAX_ROUNDS: u32 = 10_000_000;

fn verify_pbkdf2(stored: &str, password: &[u8]) -> bool {
    let mut fields = stored.split('$');
    let (Some(""), Some("1"), Some(salt), Some(rounds), Some(hex), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return false;
    };
    let Ok(rounds) = rounds.parse::<u32>() else {
        return false;
    };
    if rounds == 0 || rounds > PBKDF2_MAX_ROUNDS {
        return false;
    }
    let Some(want) = decode_hex(hex) else {
        return false;
    };
    if want.len() != 20 {
        return false;
    }
    let mut got = [0u8; 20];
    pbkdf2::pbkdf2_hmac::<Sha1>(password, salt.as_bytes(), rounds, &mut got);
    ct_eq(&got, &want)
}

fn verify_argon2(stored: &str, password: &[u8]) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    if !matches!(hash.algorithm.as_str(), "argon2i" | "argon2id") {
        return false;
    }
    argon2::Argon2::default()
        .verify_password(password, &hash)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_crypt_matches_glibc() {
        // crypt("secret", "$1$saltsalt$") from glibc.
        assert_eq!(
            md5_crypt(b"secret", b"saltsalt"),
            "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"
        );
    }

    #[test]
    fn scheme_names() {
        assert_eq!(
            kind_of("SHA512.HEX").map(|k| matches!(
                k,
                Kind::Digest {
                    encoding: Encoding::Hex,
                    ..
                }
            )),
            Some(true)
        );
        assert_eq!(kind_of("PBKDF2.HEX"), None);
        assert_eq!(kind_of("SSHA512.XYZ"), None);
        assert_eq!(kind_of("CRAM-MD5"), None);
    }

    #[test]
    fn malformed_fields_are_mismatches() {
        for (scheme, stored) in [
            ("SSHA512", ""),
            ("SSHA512", "!!!"),
            ("SHA256", "AAAA"),
            ("PLAIN-MD5", "zz"),
            ("PBKDF2", "$1$salt$0$00"),
            ("PBKDF2", "$1$salt$99999999999$00"),
            ("PBKDF2", "$1$salt$5000$abc"),
            (
                "PBKDF2",
                "$2$salt$5000$09f9de60e9ccca98408d387166c16393ac0c28cf",
            ),
            ("ARGON2ID", "$argon2id$v=19$m=8,t=1,p=1$"),
            ("ARGON2ID", "$scrypt$x"),
            ("MD5-CRYPT", "$1$toolongsalt$9xy1btjgzLYfb7hivXtC//"),
            ("MD5-CRYPT", "5ebe2294ecd0e0f08eab7690d2a6ee69"),
            ("MD5", "$1$"),
        ] {
            let kind = kind_of(scheme).unwrap();
            assert!(!verify(kind, stored, b"secret"), "{scheme} {stored:?}");
        }
    }
}
