//! Bearer tokens checked locally (as Dovecot's oauth2 `introspection_mode
//! = local`): a JWT (RFC 7519) signed with HS256, RS256 or ES256 (RFC
//! 7518 §3), its time window, issuer and audience, and the claim naming
//! the user.
//!
//! The algorithm comes from the token, so each is tied to its own key: an
//! HS256 token is checked only with the shared secret, never with the
//! public key's bytes (the classic algorithm-confusion forgery), and
//! `none` is never accepted.

use super::json::{self, Value};
use crate::config::OAuth2Settings;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;

/// Tokens expired this long ago, or valid from this far ahead, still pass:
/// clocks of issuer and server differ a little.
pub const LEEWAY_SECS: i64 = 60;

/// Longest token looked at.
const MAX_TOKEN: usize = 16 * 1024;

/// The verification keys, read from the files the settings name.
#[derive(Default)]
pub struct Keys {
    hmac: Option<Vec<u8>>,
    public: Option<PublicKey>,
}

/// The server's token keys, read once at start and again on SIGHUP (as
/// the TLS certificate is): a login never reads a file, and a session
/// thread that already runs as its user needs no right to the key files.
pub struct LoadedKeys {
    current: std::sync::RwLock<std::sync::Arc<Result<Keys, String>>>,
}

impl LoadedKeys {
    /// Reads the key files named in `settings` (none: no keys, no error).
    pub fn load(settings: &OAuth2Settings) -> LoadedKeys {
        LoadedKeys {
            current: std::sync::RwLock::new(std::sync::Arc::new(Keys::load(settings))),
        }
    }

    /// Reads them again; on failure the keys read before stay.
    pub fn reload(&self, settings: &OAuth2Settings) -> Result<(), String> {
        let keys = Keys::load(settings)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(Ok(keys));
        Ok(())
    }

    /// The keys, or why they could not be read.
    pub fn get(&self) -> std::sync::Arc<Result<Keys, String>> {
        std::sync::Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A public key, as `ring` takes it.
enum PublicKey {
    /// PKCS#1 RSAPublicKey DER.
    Rsa(Vec<u8>),
    /// An uncompressed P-256 point.
    P256(Vec<u8>),
}

impl Keys {
    /// Reads the key files; an error names the file and what is wrong.
    pub fn load(settings: &OAuth2Settings) -> Result<Keys, String> {
        let mut keys = Keys::default();
        if let Some(path) = &settings.hmac_key_file {
            let mut secret = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            // A final line break is the editor's, not part of the secret.
            while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                secret.pop();
            }
            if secret.is_empty() {
                return Err(format!("{}: empty", path.display()));
            }
            keys.hmac = Some(secret);
        }
        if let Some(path) = &settings.public_key_file {
            let pem =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            keys.public =
                Some(PublicKey::from_pem(&pem).ok_or_else(|| {
                    format!("{}: not an RSA or P-256 PUBLIC KEY", path.display())
                })?);
        }
        Ok(keys)
    }

    /// Keys given directly (tests).
    pub fn from_parts(hmac: Option<Vec<u8>>, public_pem: Option<&str>) -> Option<Keys> {
        let public = match public_pem {
            Some(p) => Some(PublicKey::from_pem(p)?),
            None => None,
        };
        Some(Keys { hmac, public })
    }
}

use super::der::next as der_next;

/// OIDs, as their DER contents.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

impl PublicKey {
    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 5280 §4.1) or `RSA
    /// PUBLIC KEY` (PKCS#1).
    fn from_pem(pem: &str) -> Option<PublicKey> {
        let mut label = None;
        let mut body = String::new();
        for line in pem.lines().map(str::trim) {
            if let Some(l) = line.strip_prefix("-----BEGIN ") {
                label = Some(l.trim_end_matches('-').to_string());
                body.clear();
            } else if line.starts_with("-----END ") {
                break;
            } else if label.is_some() {
                body.push_str(line);
            }
        }
        let der = STANDARD.decode(body).ok()?;
        match label?.as_str() {
            "RSA PUBLIC KEY" => Some(PublicKey::Rsa(der)),
            "PUBLIC KEY" => PublicKey::from_spki(&der),
            _ => None,
        }
    }

    fn from_spki(der: &[u8]) -> Option<PublicKey> {
        let (0x30, spki, _) = der_next(der)? else {
            return None;
        };
        let (0x30, algorithm, rest) = der_next(spki)? else {
            return None;
        };
        let (0x03, bits, _) = der_next(rest)? else {
            return None;
        };
        // A BIT STRING starts with its count of unused bits: 0 for keys.
        let key = bits.strip_prefix(&[0])?.to_vec();
        let (0x06, oid, params) = der_next(algorithm)? else {
            return None;
        };
        if oid == RSA_ENCRYPTION {
            Some(PublicKey::Rsa(key))
        } else if oid == EC_PUBLIC_KEY {
            let (0x06, curve, _) = der_next(params)? else {
                return None;
            };
            (curve == PRIME256V1).then_some(PublicKey::P256(key))
        } else {
            None
        }
    }
}

/// Why a token was refused (for the log only).
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Malformed(&'static str),
    /// An algorithm this server has no key for, or does not take.
    Algorithm(String),
    Signature,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
    /// The user claim is missing or not a string.
    NoUser,
}

/// The user a valid token names.
pub fn verify(
    token: &str,
    keys: &Keys,
    settings: &OAuth2Settings,
    now: i64,
) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN {
        return Err(TokenError::Malformed("token too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three parts"));
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| TokenError::Malformed("bad base64url"))
    };
    let signed = &token[..header.len() + 1 + payload.len()];
    let header = object(&decode(header)?)?;
    let claims = object(&decode(payload)?)?;
    let signature = decode(signature)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    check_signature(alg, keys, signed.as_bytes(), &signature)?;
    check_claims(&claims, settings, now)
}

fn object(bytes: &[u8]) -> Result<BTreeMap<String, Value>, TokenError> {
    match json::parse(bytes) {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(TokenError::Malformed("not a JSON object")),
    }
}

fn check_signature(
    alg: &str,
    keys: &Keys,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), TokenError> {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256};
    let ok = match (alg, &keys.hmac, &keys.public) {
        ("HS256", Some(secret), _) => {
            let mut m =
                <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| TokenError::Signature)?;
            m.update(signed);
            // verify_slice compares in constant time.
            m.verify_slice(signature).is_ok()
        }
        ("RS256", _, Some(PublicKey::Rsa(der))) => {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
                .verify(signed, signature)
                .is_ok()
        }
        ("ES256", _, Some(PublicKey::P256(point))) => {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, signature)
                .is_ok()
        }
        _ => return Err(TokenError::Algorithm(super::printable(alg, 20))),
    };
    if ok {
        Ok(())
    } else {
        Err(TokenError::Signature)
    }
}

fn check_claims(
    claims: &BTreeMap<String, Value>,
    settings: &OAuth2Settings,
    now: i64,
) -> Result<String, TokenError> {
    // A token without an expiry would be good forever: refused.
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(TokenError::Expired)?;
    if (now - LEEWAY_SECS) as f64 >= exp {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf
            .as_f64()
            .ok_or(TokenError::Malformed("nbf not a number"))?;
        if nbf > (now + LEEWAY_SECS) as f64 {
            return Err(TokenError::NotYetValid);
        }
    }
    if !settings.issuer.is_empty()
        && claims.get("iss").and_then(Value::as_str) != Some(settings.issuer.as_str())
    {
        return Err(TokenError::Issuer);
    }
    if !settings.audience.is_empty() {
        let wanted = settings.audience.as_str();
        let ok = match claims.get("aud") {
            Some(Value::String(a)) => a == wanted,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(wanted)),
            _ => false,
        };
        if !ok {
            return Err(TokenError::Audience);
        }
    }
    match claims
        .get(&settings.username_attribute)
        .and_then(Value::as_str)
    {
        Some(user) if !user.is_empty() => Ok(user.to_string()),
        _ => Err(TokenError::NoUser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64u(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    fn hs256(secret: &[u8], claims: &str) -> String {
        let signed = format!(
            "{}.{}",
            b64u(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64u(claims.as_bytes())
        );
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
        m.update(signed.as_bytes());
        format!("{signed}.{}", b64u(&m.finalize().into_bytes()))
    }

    fn settings() -> OAuth2Settings {
        OAuth2Settings {
            issuer: "https://idp".into(),
            audience: "imap".into(),
            ..OAuth2Settings::default()
        }
    }

    #[test]
    fn hs256_claims_and_times() {
        let keys = Keys::from_parts(Some(b"k3y".to_vec()), None).unwrap();
        let now = 1_700_000_000;
        let good = r#"{"iss":"https://idp","aud":["x","imap"],"email":"a@b","exp":1700000100,"nbf":1700000030}"#;
        let t = hs256(b"k3y", good);
        assert_eq!(verify(&t, &keys, &settings(), now), Ok("a@b".into()));
        assert_eq!(
            verify(&hs256(b"other", good), &keys, &settings(), now),
            Err(TokenError::Signature)
        );
        let sub = OAuth2Settings {
            username_attribute: "sub".into(),
            ..settings()
        };
        assert_eq!(verify(&t, &keys, &sub, now), Err(TokenError::NoUser));
        // Within the leeway, then beyond it.
        assert!(verify(&t, &keys, &settings(), now + 150).is_ok());
        assert_eq!(
            verify(&t, &keys, &settings(), now + 161),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&t, &keys, &settings(), now - 40),
            Err(TokenError::NotYetValid)
        );
        for (claims, err) in [
            (
                r#"{"iss":"https://evil","aud":"imap","email":"a@b","exp":1700000100}"#,
                TokenError::Issuer,
            ),
            (
                r#"{"iss":"https://idp","aud":"web","email":"a@b","exp":1700000100}"#,
                TokenError::Audience,
            ),
            (
                r#"{"iss":"https://idp","aud":"imap","email":"a@b"}"#,
                TokenError::Expired,
            ),
        ] {
            assert_eq!(
                verify(&hs256(b"k3y", claims), &keys, &settings(), now),
                Err(err),
                "{claims}"
            );
        }
        // alg none, or an algorithm without a key, never passes.
        let none = format!("{}.{}.", b64u(br#"{"alg":"none"}"#), b64u(good.as_bytes()));
        assert!(matches!(
            verify(&none, &keys, &settings(), now),
            Err(TokenError::Algorithm(_))
        ));
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", &t[1..]] {
            assert!(verify(bad, &keys, &settings(), now).is_err(), "{bad}");
        }
    }

    #[test]
    fn es256_with_a_generated_key() {
        use ring::rand::SystemRandom;
        use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let rng = SystemRandom::new();
        let signer =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &kp.serialize_der(), &rng)
                .unwrap();
        let keys = Keys::from_parts(None, Some(&kp.public_key_pem())).unwrap();
        let signed = format!(
            "{}.{}",
            b64u(br#"{"alg":"ES256"}"#),
            b64u(br#"{"sub":"u1","exp":1700000100}"#)
        );
        let sig = signer.sign(&rng, signed.as_bytes()).unwrap();
        let t = format!("{signed}.{}", b64u(sig.as_ref()));
        let s = OAuth2Settings {
            username_attribute: "sub".into(),
            ..OAuth2Settings::default()
        };
        assert_eq!(verify(&t, &keys, &s, 1_700_000_000), Ok("u1".into()));
        let mut forged = t.clone().into_bytes();
        let n = forged.len() - 5;
        forged[n] = if forged[n] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            verify(
                std::str::from_utf8(&forged).unwrap(),
                &keys,
                &s,
                1_700_000_000
            ),
            Err(TokenError::Signature)
        );
        // An HS256 token "signed" with the public key's PEM is refused:
        // there is no shared secret, so HS256 has no key.
        let pem = kp.public_key_pem();
        let confused = hs256(pem.as_bytes(), r#"{"sub":"u1","exp":1700000100}"#);
        assert!(matches!(
            verify(&confused, &keys, &s, 1_700_000_000),
            Err(TokenError::Algorithm(_))
        ));
    }
}
