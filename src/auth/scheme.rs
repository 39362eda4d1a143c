//! Password schemes as written in a Dovecot passwd-file password field.
//!
//! This module owns hashing new passwords (`BLF-CRYPT`, `SHA512-CRYPT`,
//! `SHA256-CRYPT`, `PLAIN`) and verifying a password against a stored field,
//! including fields with no `{SCHEME}` prefix, which Dovecot treats as
//! `CRYPT` and which we dispatch on the `$id$` prefix the way crypt(3) does.
//! The other schemes `doveadm pw` offers that are still met in passwd files
//! (`SSHA512`, `PBKDF2`, `ARGON2ID`, `MD5-CRYPT`, …) are verified by
//! [`super::legacy`], SCRAM and CRAM-MD5 here; DES crypt is not, and
//! [`unsupported_scheme`] names them for `roost check`.
//! Verification results are meant to match glibc/libxcrypt exactly: a stored
//! hash that crypt(3) would not reproduce byte for byte is a mismatch here.

use std::fmt;
use std::str::FromStr;

use super::legacy;
use sha_crypt::{Sha256Params, Sha512Params, ROUNDS_MAX, ROUNDS_MIN};

/// bcrypt cost used by [`hash_password`]; the same default as `doveadm pw`.
pub const DEFAULT_BCRYPT_COST: u32 = 10;

/// A password scheme we can both hash and verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// bcrypt, written as `{BLF-CRYPT}$2y$NN$...`.
    BlfCrypt,
    /// SHA-512 crypt, written as `{SHA512-CRYPT}$6$...`.
    Sha512Crypt,
    /// SHA-256 crypt, written as `{SHA256-CRYPT}$5$...`.
    Sha256Crypt,
    /// The password itself, written as `{PLAIN}...`.
    Plain,
    /// SCRAM-SHA-256 credentials (RFC 5802), written as Dovecot does:
    /// `{SCRAM-SHA-256}iter,salt,StoredKey,ServerKey`; usable by LOGIN and
    /// PLAIN too.
    ScramSha256,
    /// SCRAM-SHA-1 credentials, the same form: `{SCRAM-SHA-1}...`.
    ScramSha1,
}

impl Scheme {
    /// The scheme's canonical Dovecot name, as written between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::BlfCrypt => "BLF-CRYPT",
            Scheme::Sha512Crypt => "SHA512-CRYPT",
            Scheme::Sha256Crypt => "SHA256-CRYPT",
            Scheme::Plain => "PLAIN",
            Scheme::ScramSha256 => "SCRAM-SHA-256",
            Scheme::ScramSha1 => "SCRAM-SHA-1",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scheme name that [`Scheme::from_str`] does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownScheme(pub String);

impl fmt::Display for UnknownScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown password scheme {:?} (known: BLF-CRYPT, SHA512-CRYPT, SHA256-CRYPT, PLAIN, SCRAM-SHA-256, SCRAM-SHA-1)",
            self.0
        )
    }
}

impl std::error::Error for UnknownScheme {}

impl FromStr for Scheme {
    type Err = UnknownScheme;

    /// Case-insensitive; `CLEAR` and `CLEARTEXT` are Dovecot's aliases of `PLAIN`.
    fn from_str(s: &str) -> Result<Scheme, UnknownScheme> {
        match s.to_ascii_uppercase().as_str() {
            "BLF-CRYPT" => Ok(Scheme::BlfCrypt),
            "SHA512-CRYPT" => Ok(Scheme::Sha512Crypt),
            "SHA256-CRYPT" => Ok(Scheme::Sha256Crypt),
            "PLAIN" | "CLEAR" | "CLEARTEXT" => Ok(Scheme::Plain),
            "SCRAM-SHA-256" => Ok(Scheme::ScramSha256),
            "SCRAM-SHA-1" => Ok(Scheme::ScramSha1),
            _ => Err(UnknownScheme(s.to_string())),
        }
    }
}

/// Why a password could not be hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashError {
    scheme: Scheme,
    reason: String,
}

impl HashError {
    fn new(scheme: Scheme, reason: impl Into<String>) -> HashError {
        HashError {
            scheme,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot hash password as {}: {}",
            self.scheme, self.reason
        )
    }
}

impl std::error::Error for HashError {}

/// Hashes `password` for storage in a passwd file, with the `{SCHEME}` prefix.
///
/// BLF-CRYPT uses cost [`DEFAULT_BCRYPT_COST`]; SHA*-CRYPT use the default
/// 5000 rounds, which crypt(3) expects to be left implicit (no `rounds=`).
pub fn hash_password(scheme: Scheme, password: &str) -> Result<String, HashError> {
    hash_password_with_cost(scheme, password, DEFAULT_BCRYPT_COST)
}

/// Like [`hash_password`], with an explicit bcrypt cost (4..=31). The cost is
/// ignored by the other schemes.
pub fn hash_password_with_cost(
    scheme: Scheme,
    password: &str,
    bcrypt_cost: u32,
) -> Result<String, HashError> {
    let hashed = match scheme {
        Scheme::BlfCrypt => bcrypt::hash_with_result(password, bcrypt_cost)
            // `$2y$` is what doveadm pw writes; the algorithm is the same as `$2b$`.
            .map(|parts| parts.format_for_version(bcrypt::Version::TwoY))
            .map_err(|e| HashError::new(scheme, e.to_string()))?,
        Scheme::Sha512Crypt => sha_crypt::sha512_simple(password, &Sha512Params::default())
            .map_err(|e| HashError::new(scheme, format!("{e:?}")))?,
        Scheme::Sha256Crypt => sha_crypt::sha256_simple(password, &Sha256Params::default())
            .map_err(|e| HashError::new(scheme, format!("{e:?}")))?,
        Scheme::ScramSha256 | Scheme::ScramSha1 => {
            let hash = if scheme == Scheme::ScramSha1 {
                super::scram::ScramHash::Sha1
            } else {
                super::scram::ScramHash::Sha256
            };
            let mut salt = [0u8; 16];
            crate::random::fill(&mut salt).map_err(|e| HashError::new(scheme, e.to_string()))?;
            super::scram::Credentials::derive(
                hash,
                password.as_bytes(),
                &salt,
                super::scram::DEFAULT_ITERATIONS,
            )
            .encode()
        }
        Scheme::Plain => {
            // The passwd file is colon- and line-separated, so such a password
            // could never be read back as written.
            if password.contains([':', '\n', '\r', '\0']) {
                return Err(HashError::new(
                    scheme,
                    "password contains ':', a line break or NUL, which a passwd file cannot hold",
                ));
            }
            password.to_string()
        }
    };
    Ok(format!("{{{}}}{}", scheme.name(), hashed))
}

/// The result of checking a password against a stored password field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verify {
    /// The password is right.
    Match,
    /// The password is wrong, or the stored hash is malformed or locked.
    Mismatch,
    /// The stored field uses a scheme we cannot check; carries the scheme
    /// name (e.g. `MD5`) or crypt prefix (e.g. `$1$`) so it can be logged.
    Unsupported(String),
}

/// Checks `password` against a Dovecot passwd-file password field.
///
/// Never panics on a malformed field: that is simply a [`Verify::Mismatch`].
pub fn verify_password(stored: &str, password: &[u8]) -> Verify {
    match method_of(stored) {
        Ok(method) => bool_to_verify(method.verify(password)),
        Err(name) => Verify::Unsupported(name),
    }
}

/// The scheme (or crypt prefix) of `stored` when Roost cannot verify it,
/// judged from the field alone, without hashing anything: what `roost
/// check` and `migrate-dovecot` report for users who could not log in.
pub fn unsupported_scheme(stored: &str) -> Option<String> {
    method_of(stored).err()
}

/// How one stored field is verified, decided from its prefix.
pub(crate) enum Method<'a> {
    Bcrypt(&'a str),
    Sha512Crypt(&'a str),
    Sha256Crypt(&'a str),
    Plain(&'a str),
    Scram(super::scram::ScramHash, &'a str),
    /// Dovecot's `{CRAM-MD5}`: the HMAC-MD5 state of the password.
    CramMd5(&'a str),
    Legacy(legacy::Kind, &'a str),
    /// Empty or locked: nothing matches.
    Locked,
}

impl Method<'_> {
    fn verify(&self, password: &[u8]) -> bool {
        match *self {
            Method::Bcrypt(h) => verify_bcrypt(h, password),
            Method::Sha512Crypt(h) => verify_sha512(h, password),
            Method::Sha256Crypt(h) => verify_sha256(h, password),
            Method::Plain(p) => ct_eq(p.as_bytes(), password),
            Method::Scram(hash, stored) => match super::scram::Credentials::parse(hash, stored) {
                Some(c) => {
                    let again =
                        super::scram::Credentials::derive(hash, password, &c.salt, c.iterations);
                    ct_eq(&again.stored_key, &c.stored_key)
                }
                None => false,
            },
            Method::CramMd5(stored) => match super::cram_md5::Contexts::parse(stored) {
                Some(c) => ct_eq(
                    super::cram_md5::Contexts::from_password(password)
                        .encode()
                        .as_bytes(),
                    c.encode().as_bytes(),
                ),
                None => false,
            },
            Method::Legacy(kind, h) => legacy::verify(kind, h, password),
            Method::Locked => false,
        }
    }
}

/// The method for a stored field, or the name of its unsupported scheme.
pub(crate) fn method_of(stored: &str) -> Result<Method<'_>, String> {
    let Some((scheme, rest)) = split_scheme(stored) else {
        // Dovecot's default scheme for passwd-file is CRYPT.
        return crypt_method(stored);
    };
    let upper = scheme.to_ascii_uppercase();
    Ok(match upper.as_str() {
        "BLF-CRYPT" => Method::Bcrypt(rest),
        "SHA512-CRYPT" => Method::Sha512Crypt(rest),
        "SHA256-CRYPT" => Method::Sha256Crypt(rest),
        "PLAIN" | "CLEAR" | "CLEARTEXT" => Method::Plain(rest),
        "SCRAM-SHA-256" => Method::Scram(super::scram::ScramHash::Sha256, rest),
        "SCRAM-SHA-1" => Method::Scram(super::scram::ScramHash::Sha1, rest),
        // HMAC-MD5 is Dovecot's other name for it.
        "CRAM-MD5" | "HMAC-MD5" => Method::CramMd5(rest),
        "CRYPT" => return crypt_method(rest),
        _ => match legacy::kind_of(&upper) {
            Some(kind) => Method::Legacy(kind, rest),
            None => return Err(upper),
        },
    })
}

/// `CRYPT`: dispatch on the `$id$` prefix as crypt(3) does.
fn crypt_method(hash: &str) -> Result<Method<'_>, String> {
    if hash.is_empty() || hash.starts_with('!') || hash.starts_with('*') {
        // Empty, or the shadow(5) convention for a locked account: crypt(3)
        // can never produce these, so no password matches.
        return Ok(Method::Locked);
    }
    if is_bcrypt_prefix(hash) {
        return Ok(Method::Bcrypt(hash));
    }
    if hash.starts_with("$6$") {
        return Ok(Method::Sha512Crypt(hash));
    }
    if hash.starts_with("$5$") {
        return Ok(Method::Sha256Crypt(hash));
    }
    if hash.starts_with("$1$") {
        let kind = legacy::Kind::Md5Crypt {
            hex_fallback: false,
        };
        return Ok(Method::Legacy(kind, hash));
    }
    if let Some(rest) = hash.strip_prefix('$') {
        let id = rest.split('$').next().unwrap_or_default();
        return Err(format!("${id}$"));
    }
    // Traditional DES crypt (or a bare password someone forgot to prefix).
    Err("DES-CRYPT".to_string())
}

/// Splits `{SCHEME}rest`. Without a closing brace it is not a prefix at all,
/// matching Dovecot, which then treats the whole field as the default scheme.
fn split_scheme(stored: &str) -> Option<(&str, &str)> {
    let inner = stored.strip_prefix('{')?;
    let end = inner.find('}')?;
    Some((&inner[..end], &inner[end + 1..]))
}

fn is_bcrypt_prefix(hash: &str) -> bool {
    ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p))
}

fn verify_bcrypt(hash: &str, password: &[u8]) -> bool {
    // The crate would also take `$2x$` (the buggy pre-2011 variant), which
    // it does not actually emulate; refuse it rather than give wrong answers.
    is_bcrypt_prefix(hash) && bcrypt::verify(password, hash).unwrap_or(false)
}

/// The parts of a `$5$`/`$6$` hash: rounds, salt and encoded digest.
struct ShaCryptParts<'a> {
    rounds: usize,
    salt: &'a [u8],
    digest: &'a str,
}

/// Parses `$<id>$[rounds=N$]<salt>$<digest>` strictly, so that we accept
/// exactly the strings crypt(3) could have produced.
fn parse_sha_crypt<'a>(hash: &'a str, id: &str, digest_len: usize) -> Option<ShaCryptParts<'a>> {
    let rest = hash
        .strip_prefix('$')?
        .strip_prefix(id)?
        .strip_prefix('$')?;
    let (rounds, rest) = match rest.strip_prefix("rounds=") {
        Some(r) => {
            let (n, rest) = r.split_once('$')?;
            if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: usize = n.parse().ok()?;
            // crypt(3) clamps out-of-range rounds but then writes the clamped
            // value, so a stored hash naming out-of-range rounds never matches.
            if !(ROUNDS_MIN..=ROUNDS_MAX).contains(&n) {
                return None;
            }
            (n, rest)
        }
        None => (sha_crypt::ROUNDS_DEFAULT, rest),
    };
    let (salt, digest) = rest.split_once('$')?;
    // crypt(3) truncates longer salts to 16 in its output, so a longer stored
    // salt could never compare equal; the digest has a fixed length.
    if salt.len() > 16 || digest.len() != digest_len {
        return None;
    }
    Some(ShaCryptParts {
        rounds,
        salt: salt.as_bytes(),
        digest,
    })
}

// The sha-crypt crate's own `*_check` functions take the password as &str
// (crypt(3) takes bytes) and `sha256_check` panics on a malformed digest, so
// we parse ourselves and compare the freshly encoded digest.
fn verify_sha512(hash: &str, password: &[u8]) -> bool {
    let Some(parts) = parse_sha_crypt(hash, "6", 86) else {
        return false;
    };
    let Ok(params) = Sha512Params::new(parts.rounds) else {
        return false;
    };
    match sha_crypt::sha512_crypt_b64(password, parts.salt, &params) {
        Ok(digest) => ct_eq(digest.as_bytes(), parts.digest.as_bytes()),
        Err(_) => false,
    }
}

fn verify_sha256(hash: &str, password: &[u8]) -> bool {
    let Some(parts) = parse_sha_crypt(hash, "5", 43) else {
        return false;
    };
    let Ok(params) = Sha256Params::new(parts.rounds) else {
        return false;
    };
    match sha_crypt::sha256_crypt_b64(password, parts.salt, &params) {
        Ok(digest) => ct_eq(digest.as_bytes(), parts.digest.as_bytes()),
        Err(_) => false,
    }
}

fn bool_to_verify(ok: bool) -> Verify {
    if ok {
        Verify::Match
    } else {
        Verify::Mismatch
    }
}

/// Compares two byte strings in time that depends only on their lengths.
///
/// Every byte position up to the longer length is visited (missing bytes
/// read as 0) and differences are OR-ed together, so neither the first
/// differing byte nor a length difference ends the loop early. The lengths
/// themselves (which bound the loop) are not hidden.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff: u8 = 0;
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
        // Stops the optimiser from turning the loop into an early exit.
        diff = std::hint::black_box(diff);
    }
    let len_diff = a.len() ^ b.len();
    (usize::from(diff) | len_diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Produced by glibc/libxcrypt crypt(3) through Python's crypt module and
    // ctypes; password "secret" unless noted.
    const SHA512_PLAIN: &str = "$6$tXGU/.pTiRjc5ZQl$JpzKQSYGBcvU4eF/zcHhKfiVdKLPrZpQlC20qeYaIouYlB.RL3PitJ3uip55lpICHf64x9zKaI11nbZB9EEKL0";
    const SHA512_ROUNDS: &str = "$6$rounds=10000$abcdefghijklmnop$6QctMxoh6hR78vLc/SVxX1W5gSiammzcZKdjANEs7hkTBmDgTkY4Fa37dUzcj6zGJ59nWEt3rB3ztKoIHQcES.";
    const SHA512_ROUNDS_5000: &str = "$6$rounds=5000$salt1234$XlM3TAPQpzPux1K5SXljYTSlmwnoAbsunXwwWMLH2USuV84oQBkDPWUDYWZltiv6PdqNfuqoMB4aXKHtDfWeo/";
    const SHA512_EMPTY_SALT: &str = "$6$$2M9DchxW4txWyTYoZrH9D3VvAAQxBpEezYsLY6Cao.jwzEXpyL9xwip9hiUZX7GqTqe/E/z6iKvZqXUuqniQH.";
    // Password "pässwörd" (UTF-8).
    const SHA512_UTF8: &str = "$6$yGQGYCVB4zYWa.wu$La8qnXyBM9h9IrndqjCbXLcwg0ThnOA8NEcvcTOsrFNlEpwek.XAyvVl2z.tZuDwQ.E6ArJcyRpfNsDTlO4Ul.";
    // Password bytes ff fe 'p' 'w' (not UTF-8).
    const SHA512_BIN: &str = "$6$binsalt$11gggPEkkhUUtK52dQssQ3cho8Ggvc7eV6OQhJTBCpUHL46fIrnjEEUYVwXM350B1AbG/RYMT4pENpAeNfsR./";
    const SHA256_PLAIN: &str = "$5$aGO99Vw30dzXTdu.$rYzu8uZvt0WBB3deh89VTzqzOGRU3YfWvYcNJ2actq.";
    const SHA256_ROUNDS: &str =
        "$5$rounds=2000$shortsalt$PA6jC5vrqBI5DkJkwDbBAF0EjZusF9fmbE6DHKVyGK2";
    const SHA256_ROUNDS_MIN: &str = "$5$rounds=1000$x$MwH1x3tv6pfJx.FrwforYF3VY24cFP1kjo6fe/LdghD";
    const SHA256_BIN: &str = "$5$binsalt$zCNzzGBEKsjhiW0qKvjMvx32SkONi2meYsqPp2w6n93";
    const BCRYPT_2Y: &str = "$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a";
    const BCRYPT_2Y_4: &str = "$2y$04$0123456789abcdefghijkekG4i0TYEpk8BRc71W/ARo/HzJumpx66";
    const BCRYPT_2B: &str = "$2b$04$UqCVnKrUM9iBEgurmdSeEOIVKdGP7pvJ13FrtjtzhRyHsdE2hYZyO";
    const BCRYPT_2A: &str = "$2a$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW";
    const BCRYPT_BIN: &str = "$2b$04$abcdefghijklmnopqrstuuu56suUBQ7RUTkJvXg/X1IpcQRkYbhpG";
    const MD5_CRYPT: &str = "$1$saltsalt$9xy1btjgzLYfb7hivXtC//";

    fn unsupported(s: &str) -> Verify {
        Verify::Unsupported(s.to_string())
    }

    #[test]
    fn scheme_names_parse() {
        let rows: &[(&str, Option<Scheme>)] = &[
            ("BLF-CRYPT", Some(Scheme::BlfCrypt)),
            ("blf-crypt", Some(Scheme::BlfCrypt)),
            ("SHA512-CRYPT", Some(Scheme::Sha512Crypt)),
            ("Sha512-Crypt", Some(Scheme::Sha512Crypt)),
            ("SHA256-CRYPT", Some(Scheme::Sha256Crypt)),
            ("PLAIN", Some(Scheme::Plain)),
            ("clear", Some(Scheme::Plain)),
            ("CLEARTEXT", Some(Scheme::Plain)),
            ("CRYPT", None),
            ("MD5-CRYPT", None),
            ("", None),
            ("{PLAIN}", None),
        ];
        for (input, want) in rows {
            assert_eq!(input.parse::<Scheme>().ok(), *want, "input {input:?}");
        }
        for s in [
            Scheme::BlfCrypt,
            Scheme::Sha512Crypt,
            Scheme::Sha256Crypt,
            Scheme::Plain,
        ] {
            assert_eq!(s.name().parse::<Scheme>(), Ok(s));
            assert_eq!(s.to_string(), s.name());
        }
        let err = "md5".parse::<Scheme>().unwrap_err();
        assert!(err.to_string().contains("\"md5\""));
    }

    #[test]
    fn verify_table() {
        let sha512_braced = format!("{{SHA512-CRYPT}}{SHA512_PLAIN}");
        let rows: Vec<(String, &[u8], Verify)> = vec![
            // SHA512-CRYPT, with and without prefix, with and without rounds=.
            (sha512_braced.clone(), b"secret", Verify::Match),
            (sha512_braced.clone(), b"Secret", Verify::Mismatch),
            (sha512_braced.clone(), b"", Verify::Mismatch),
            (
                format!("{{sha512-crypt}}{SHA512_PLAIN}"),
                b"secret",
                Verify::Match,
            ),
            (format!("{{CRYPT}}{SHA512_PLAIN}"), b"secret", Verify::Match),
            (SHA512_PLAIN.to_string(), b"secret", Verify::Match),
            (SHA512_PLAIN.to_string(), b"secrets", Verify::Mismatch),
            (SHA512_ROUNDS.to_string(), b"secret", Verify::Match),
            (SHA512_ROUNDS.to_string(), b"wrong", Verify::Mismatch),
            (SHA512_ROUNDS_5000.to_string(), b"secret", Verify::Match),
            (SHA512_EMPTY_SALT.to_string(), b"secret", Verify::Match),
            (SHA512_UTF8.to_string(), "pässwörd".as_bytes(), Verify::Match),
            (SHA512_BIN.to_string(), b"\xff\xfepw", Verify::Match),
            (SHA512_BIN.to_string(), b"\xff\xfepx", Verify::Mismatch),
            // SHA256-CRYPT.
            (
                format!("{{SHA256-CRYPT}}{SHA256_PLAIN}"),
                b"secret",
                Verify::Match,
            ),
            (SHA256_PLAIN.to_string(), b"secret", Verify::Match),
            (SHA256_PLAIN.to_string(), b"secreT", Verify::Mismatch),
            (SHA256_ROUNDS.to_string(), b"secret", Verify::Match),
            (SHA256_ROUNDS_MIN.to_string(), b"secret", Verify::Match),
            (SHA256_BIN.to_string(), b"\xff\xfepw", Verify::Match),
            // A $6$ hash under the SHA256 label is malformed, not a match.
            (
                format!("{{SHA256-CRYPT}}{SHA512_PLAIN}"),
                b"secret",
                Verify::Mismatch,
            ),
            // BLF-CRYPT: $2y$, $2b$, $2a$.
            (format!("{{BLF-CRYPT}}{BCRYPT_2Y}"), b"secret", Verify::Match),
            (
                format!("{{BLF-CRYPT}}{BCRYPT_2Y}"),
                b"secret!",
                Verify::Mismatch,
            ),
            (BCRYPT_2Y.to_string(), b"secret", Verify::Match),
            (BCRYPT_2Y_4.to_string(), b"secret", Verify::Match),
            (format!("{{CRYPT}}{BCRYPT_2B}"), b"secret", Verify::Match),
            (BCRYPT_2B.to_string(), b"nope", Verify::Mismatch),
            (BCRYPT_2A.to_string(), b"secret", Verify::Match),
            (BCRYPT_BIN.to_string(), b"\xff\xfepw", Verify::Match),
            // PLAIN and aliases.
            ("{PLAIN}secret".to_string(), b"secret", Verify::Match),
            ("{plain}secret".to_string(), b"secret", Verify::Match),
            ("{CLEAR}secret".to_string(), b"secret", Verify::Match),
            ("{CLEARTEXT}secret".to_string(), b"secret", Verify::Match),
            ("{PLAIN}secret".to_string(), b"secre", Verify::Mismatch),
            ("{PLAIN}secret".to_string(), b"secretx", Verify::Mismatch),
            ("{PLAIN}secret".to_string(), b"Secret", Verify::Mismatch),
            ("{PLAIN}secret".to_string(), b"", Verify::Mismatch),
            ("{PLAIN}".to_string(), b"", Verify::Match),
            ("{PLAIN}p\u{e4}ss".to_string(), "p\u{e4}ss".as_bytes(), Verify::Match),
            // Unsupported schemes and crypt ids.
            (MD5_CRYPT.to_string(), b"secret", Verify::Match),
            (format!("{{CRYPT}}{MD5_CRYPT}"), b"secret", Verify::Match),
            (format!("{{MD5-CRYPT}}{MD5_CRYPT}"), b"secret", Verify::Match),
            (format!("{{MD5}}{MD5_CRYPT}"), b"secreT", Verify::Mismatch),
            ("{MD5-CRYPT}$1$x$y".to_string(), b"secret", Verify::Mismatch),
            ("{ssha512}abcd".to_string(), b"secret", Verify::Mismatch),
            ("{CRAM-MD5}abcd".to_string(), b"secret", Verify::Mismatch),
            ("{DIGEST-MD5}abcd".to_string(), b"secret", unsupported("DIGEST-MD5")),
            ("$y$j9T$abc$def".to_string(), b"secret", unsupported("$y$")),
            ("abJnggxhB/yJU".to_string(), b"secret", unsupported("DES-CRYPT")),
            ("$2x$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW".to_string(), b"secret", unsupported("$2x$")),
            // Locked or empty fields.
            (String::new(), b"", Verify::Mismatch),
            ("{CRYPT}".to_string(), b"", Verify::Mismatch),
            ("!".to_string(), b"secret", Verify::Mismatch),
            (format!("!{SHA512_PLAIN}"), b"secret", Verify::Mismatch),
            ("*".to_string(), b"", Verify::Mismatch),
            // Malformed hashes: mismatch, never a panic.
            ("{SHA512-CRYPT}".to_string(), b"secret", Verify::Mismatch),
            ("{SHA512-CRYPT}$6$".to_string(), b"secret", Verify::Mismatch),
            ("$6$salt".to_string(), b"secret", Verify::Mismatch),
            ("$6$salt$".to_string(), b"secret", Verify::Mismatch),
            ("$6$salt$short".to_string(), b"secret", Verify::Mismatch),
            (format!("{SHA512_PLAIN}x"), b"secret", Verify::Mismatch),
            (format!("{SHA512_PLAIN}$"), b"secret", Verify::Mismatch),
            ("$6$rounds=$salt$x".to_string(), b"secret", Verify::Mismatch),
            ("$6$rounds=100$salt1234$XlM3TAPQpzPux1K5SXljYTSlmwnoAbsunXwwWMLH2USuV84oQBkDPWUDYWZltiv6PdqNfuqoMB4aXKHtDfWeo/".to_string(), b"secret", Verify::Mismatch),
            ("$6$rounds=-5$salt$x".to_string(), b"secret", Verify::Mismatch),
            ("$6$rounds=99999999999999999999$s$x".to_string(), b"secret", Verify::Mismatch),
            // Salt longer than 16: crypt(3) would output a truncated salt.
            ("$6$abcdefghijklmnopqrstuvwxyz$J/AWykHqo2Tx5UtavGnFc3ytI33la50JpzLTarSWVhkIXK6wOjNwwZjsrIw2UgmrER2EKrSHCeQyAINEEXAk1/".to_string(), b"secret", Verify::Mismatch),
            // Digest of the right length but not valid crypt base64.
            (format!("$5$aGO99Vw30dzXTdu.${}", "!".repeat(43)), b"secret", Verify::Mismatch),
            (format!("$6$salt${}", "\u{e9}".repeat(43)), b"secret", Verify::Mismatch),
            ("$2y$".to_string(), b"secret", Verify::Mismatch),
            ("$2y$05$short".to_string(), b"secret", Verify::Mismatch),
            ("$2y$99$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a".to_string(), b"secret", Verify::Mismatch),
            ("$2y$ab$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a".to_string(), b"secret", Verify::Mismatch),
            ("$2y$05$!!cdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a".to_string(), b"secret", Verify::Mismatch),
            ("$2y$05$abcdefghijklmnopqrstu\u{e9}OQiyCxlgf/oeuTqixKmWdcYUh4Hjl0".to_string(), b"secret", Verify::Mismatch),
            ("{BLF-CRYPT}$6$salt$x".to_string(), b"secret", Verify::Mismatch),
            ("{BLF-CRYPT}".to_string(), b"", Verify::Mismatch),
            // No closing brace: not a prefix, so the field is a (DES) crypt.
            ("{PLAIN".to_string(), b"{PLAIN", unsupported("DES-CRYPT")),
        ];
        for (stored, password, want) in rows {
            assert_eq!(
                verify_password(&stored, password),
                want,
                "stored {stored:?} password {password:?}"
            );
        }
    }

    #[test]
    fn hash_round_trips() {
        let cases = [
            (Scheme::BlfCrypt, "{BLF-CRYPT}$2y$04$"),
            (Scheme::Sha512Crypt, "{SHA512-CRYPT}$6$"),
            (Scheme::Sha256Crypt, "{SHA256-CRYPT}$5$"),
            (Scheme::Plain, "{PLAIN}"),
        ];
        for (scheme, prefix) in cases {
            for pw in ["secret", "pässwörd", "", "a b\tc"] {
                let h = hash_password_with_cost(scheme, pw, 4).unwrap();
                assert!(h.starts_with(prefix), "{h}");
                assert_eq!(verify_password(&h, pw.as_bytes()), Verify::Match, "{h}");
                assert_eq!(
                    verify_password(&h, format!("{pw}x").as_bytes()),
                    Verify::Mismatch,
                    "{h}"
                );
            }
        }
    }

    #[test]
    fn sha_crypt_output_is_glibc_shaped() {
        // At the default 5000 rounds crypt(3) writes no rounds= and a
        // 16-character salt; the digest lengths are fixed.
        let h = hash_password(Scheme::Sha512Crypt, "secret").unwrap();
        let bare = h.strip_prefix("{SHA512-CRYPT}").unwrap();
        let fields: Vec<&str> = bare.split('$').collect();
        assert_eq!(fields.len(), 4, "{bare}");
        assert_eq!(fields[1], "6");
        assert_eq!(fields[2].len(), 16);
        assert_eq!(fields[3].len(), 86);
        assert!(!bare.contains("rounds="));

        let h = hash_password(Scheme::Sha256Crypt, "secret").unwrap();
        let bare = h.strip_prefix("{SHA256-CRYPT}").unwrap();
        let fields: Vec<&str> = bare.split('$').collect();
        assert_eq!(fields.len(), 4, "{bare}");
        assert_eq!(fields[1], "5");
        assert_eq!(fields[2].len(), 16);
        assert_eq!(fields[3].len(), 43);
    }

    #[test]
    fn default_bcrypt_cost_is_10_with_2y() {
        let h = hash_password(Scheme::BlfCrypt, "secret").unwrap();
        assert!(h.starts_with("{BLF-CRYPT}$2y$10$"), "{h}");
        assert_eq!(h.len(), "{BLF-CRYPT}".len() + 60);
    }

    #[test]
    fn hash_errors() {
        let e = hash_password_with_cost(Scheme::BlfCrypt, "x", 3).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("cannot hash password as BLF-CRYPT"));
        assert!(hash_password(Scheme::Plain, "a:b").is_err());
        assert!(hash_password(Scheme::Plain, "a\nb").is_err());
    }

    /// Every scheme `doveadm pw` writes that Roost claims to verify, checked
    /// against Dovecot's own output; the ones it cannot verify are named.
    #[test]
    fn verifies_what_doveadm_pw_writes() {
        let doveadm = std::path::Path::new("/usr/bin/doveadm");
        if !doveadm.exists() {
            eprintln!("note: /usr/bin/doveadm is missing (package dovecot-core); test skipped");
            return;
        }
        let pw = |scheme: &str, password: &str| {
            let out = std::process::Command::new(doveadm)
                .args(["pw", "-s", scheme, "-p", password])
                .output()
                .unwrap();
            assert!(out.status.success(), "doveadm pw -s {scheme}: {out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        for scheme in [
            "SSHA512",
            "SSHA256",
            "SSHA",
            "SHA512",
            "SHA256",
            "SHA",
            "SHA1",
            "SHA512.HEX",
            "SSHA512.B64",
            "PLAIN-MD5",
            "LDAP-MD5",
            "SMD5",
            "MD5",
            "MD5-CRYPT",
            "PBKDF2",
            "ARGON2I",
            "ARGON2ID",
            "CRYPT",
            "SHA512-CRYPT",
            "SHA256-CRYPT",
            "BLF-CRYPT",
            "PLAIN",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1",
            "CRAM-MD5",
        ] {
            for password in ["secret", "p\u{e4}ss w\u{f6}rd", "x"] {
                let stored = pw(scheme, password);
                assert_eq!(unsupported_scheme(&stored), None, "{stored}");
                assert_eq!(
                    verify_password(&stored, password.as_bytes()),
                    Verify::Match,
                    "{stored} {password:?}"
                );
                assert_eq!(
                    verify_password(&stored, format!("{password}!").as_bytes()),
                    Verify::Mismatch,
                    "{stored}"
                );
            }
        }
        // DIGEST-MD5 needs a user name, which `pw` does not pass.
        for (stored, name) in [
            (
                "{DIGEST-MD5}4b626f808aa26e1be6f69cfb24f2e271".to_string(),
                "DIGEST-MD5",
            ),
            (pw("DES-CRYPT", "secret"), "DES-CRYPT"),
        ] {
            assert_eq!(
                unsupported_scheme(&stored).as_deref(),
                Some(name),
                "{stored}"
            );
        }
    }

    #[test]
    fn constant_time_eq() {
        let rows: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", true),
            (b"a", b"a", true),
            (b"abc", b"abc", true),
            (b"abc", b"abd", false),
            (b"abc", b"ab", false),
            (b"ab", b"abc", false),
            // A trailing NUL must not be mistaken for "missing" bytes.
            (b"ab\0", b"ab", false),
            (b"", b"\0", false),
        ];
        for (a, b, want) in rows {
            assert_eq!(ct_eq(a, b), *want, "{a:?} vs {b:?}");
        }
    }
}
