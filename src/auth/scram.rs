//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), server side, with
//! the -PLUS channel bindings `tls-exporter` (RFC 9266) and
//! `tls-server-end-point` (RFC 5929).
//!
//! Credentials come from the passwd file: Dovecot's stored form
//! `{SCRAM-SHA-256}iter,salt,StoredKey,ServerKey` (base64 fields, as
//! `doveadm pw -s SCRAM-SHA-256` writes; the same for SCRAM-SHA-1), or a
//! plaintext password, from which they are derived with a fresh salt at
//! each login.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The hash a SCRAM mechanism is built on; the exchange is the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramHash {
    Sha1,
    Sha256,
}

impl ScramHash {
    /// The mechanism's name without `-PLUS`, also Dovecot's scheme name.
    pub fn name(self) -> &'static str {
        match self {
            ScramHash::Sha1 => "SCRAM-SHA-1",
            ScramHash::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// The hash of a scheme or mechanism name (`-PLUS` included).
    pub fn from_name(name: &str) -> Option<ScramHash> {
        let name = name.to_ascii_uppercase();
        match name.strip_suffix("-PLUS").unwrap_or(&name) {
            "SCRAM-SHA-1" => Some(ScramHash::Sha1),
            "SCRAM-SHA-256" => Some(ScramHash::Sha256),
            _ => None,
        }
    }

    fn len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length: new_from_slice cannot fail.
            let mut m = <M as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        match self {
            ScramHash::Sha1 => run::<Hmac<Sha1>>(key, data),
            ScramHash::Sha256 => run::<Hmac<Sha256>>(key, data),
        }
    }

    /// SaltedPassword (RFC 5802 §3: Hi() is PBKDF2 with HMAC of the hash).
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.len()];
        match self {
            ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

/// Iterations for credentials derived here (Dovecot's default too).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// More iterations than this are refused: a stored value is data, and a
/// huge count would hold a login thread for minutes.
const MAX_ITERATIONS: u32 = 1_000_000;

/// What the server keeps for a user (RFC 5802 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub hash: ScramHash,
    pub iterations: u32,
    pub salt: Vec<u8>,
    /// H(ClientKey) and ServerKey, each as long as the hash's output.
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl Credentials {
    /// Derives the credentials of `password` (RFC 5802 §3).
    pub fn derive(hash: ScramHash, password: &[u8], salt: &[u8], iterations: u32) -> Credentials {
        let salted = hash.salted_password(password, salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        Credentials {
            hash,
            iterations,
            salt: salt.to_vec(),
            stored_key: hash.digest(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
        }
    }

    /// Parses Dovecot's stored form (without the `{SCRAM-SHA-…}` prefix).
    pub fn parse(hash: ScramHash, stored: &str) -> Option<Credentials> {
        let mut f = stored.trim().split(',');
        let iterations: u32 = f.next()?.parse().ok()?;
        let salt = STANDARD.decode(f.next()?).ok()?;
        let stored_key = STANDARD.decode(f.next()?).ok()?;
        let server_key = STANDARD.decode(f.next()?).ok()?;
        if f.next().is_some()
            || !(1..=MAX_ITERATIONS).contains(&iterations)
            || stored_key.len() != hash.len()
            || server_key.len() != hash.len()
        {
            return None;
        }
        Some(Credentials {
            hash,
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// Dovecot's stored form, for `roost hash --scheme SCRAM-SHA-…`.
    pub fn encode(&self) -> String {
        format!(
            "{},{},{},{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(&self.stored_key),
            STANDARD.encode(&self.server_key)
        )
    }
}

/// Why an exchange failed; the text goes into the log, never to a client
/// beyond "authentication failed".
#[derive(Debug, PartialEq, Eq)]
pub enum ScramError {
    Malformed(&'static str),
    /// The client's channel-binding choice does not fit the connection.
    ChannelBinding(&'static str),
    /// Wrong password (the proof does not verify).
    Proof,
}

/// The client's first message, parsed (RFC 5802 §7).
#[derive(Debug, PartialEq, Eq)]
pub struct ClientFirst {
    pub user: String,
    /// `a=`: whom to act as; empty for the user themself.
    pub authzid: String,
    /// The channel binding the client asked for (`p=NAME`), if any.
    pub binding: Option<String>,
    gs2_header: String,
    bare: String,
    nonce: String,
}

/// `=2C` and `=3D` back to `,` and `=` (RFC 5802 §5.1 saslname).
fn unescape(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in a name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Printable ASCII except ',' (RFC 5802 §7 `printable`).
fn printable_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

impl ClientFirst {
    /// `tls`: whether the connection is TLS, so a client saying `y` (it
    /// could bind but thinks we cannot) is caught downgrading us when we
    /// offer -PLUS (RFC 5802 §6).
    pub fn parse(msg: &[u8], plus_offered: bool) -> Result<ClientFirst, ScramError> {
        let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let mut parts = msg.splitn(3, ',');
        let flag = parts.next().unwrap_or("");
        let authz = parts.next().ok_or(ScramError::Malformed("no GS2 header"))?;
        let bare = parts
            .next()
            .ok_or(ScramError::Malformed("no client-first-message-bare"))?;
        let binding = match flag {
            "n" => None,
            "y" if plus_offered => {
                return Err(ScramError::ChannelBinding("client could bind, but did not"))
            }
            "y" => None,
            p if p.starts_with("p=") => Some(p[2..].to_string()),
            _ => return Err(ScramError::Malformed("bad GS2 flag")),
        };
        let authzid = match authz {
            "" => String::new(),
            a => unescape(
                a.strip_prefix("a=")
                    .ok_or(ScramError::Malformed("bad authzid"))?,
            )?,
        };
        let mut user = None;
        let mut nonce = None;
        for (i, attr) in bare.split(',').enumerate() {
            match (i, attr.split_at_checked(2)) {
                (0, Some(("m=", _))) => return Err(ScramError::Malformed("mandatory extension")),
                (0, Some(("n=", v))) => user = Some(unescape(v)?),
                (1, Some(("r=", v))) => nonce = Some(v.to_string()),
                (0 | 1, _) => return Err(ScramError::Malformed("expected n= then r=")),
                _ => {}
            }
        }
        let (Some(user), Some(nonce)) = (user, nonce) else {
            return Err(ScramError::Malformed("missing n= or r="));
        };
        if user.is_empty() || !printable_nonce(&nonce) {
            return Err(ScramError::Malformed("empty user or bad nonce"));
        }
        Ok(ClientFirst {
            user,
            authzid,
            binding,
            gs2_header: format!("{flag},{authz},"),
            bare: bare.to_string(),
            nonce,
        })
    }
}

/// The server's side after its first message.
pub struct Exchange {
    creds: Credentials,
    auth_prefix: String,
    nonce: String,
    gs2_header: String,
    /// The channel-binding data expected (empty without binding).
    cbind: Vec<u8>,
}

impl Exchange {
    /// Answers the client's first message. `server_nonce`: fresh random
    /// printable characters; `cbind`: the binding data of the channel the
    /// client named (None if the client asked for none).
    pub fn start(
        first: &ClientFirst,
        creds: Credentials,
        server_nonce: &str,
        cbind: Option<Vec<u8>>,
    ) -> (Exchange, String) {
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&creds.salt),
            creds.iterations
        );
        let ex = Exchange {
            creds,
            auth_prefix: format!("{},{server_first},", first.bare),
            nonce,
            gs2_header: first.gs2_header.clone(),
            cbind: cbind.unwrap_or_default(),
        };
        (ex, server_first)
    }

    /// Checks the client's final message; the server's final message.
    pub fn finish(self, msg: &[u8]) -> Result<String, ScramError> {
        let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attrs = without_proof.split(',');
        let c = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no c="))?;
        let r = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no r="))?;
        if r != self.nonce {
            return Err(ScramError::Malformed("nonce mismatch"));
        }
        let mut expected_c = self.gs2_header.as_bytes().to_vec();
        expected_c.extend_from_slice(&self.cbind);
        let got_c = STANDARD
            .decode(c)
            .map_err(|_| ScramError::Malformed("bad c="))?;
        if got_c != expected_c {
            return Err(ScramError::ChannelBinding("channel binding data differs"));
        }
        let proof = STANDARD
            .decode(proof)
            .map_err(|_| ScramError::Malformed("bad proof"))?;
        let hash = self.creds.hash;
        if proof.len() != hash.len() {
            return Err(ScramError::Proof);
        }
        let auth_message = format!("{}{without_proof}", self.auth_prefix);
        let signature = hash.hmac(&self.creds.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let check = hash.digest(&client_key);
        // Constant-time enough: both sides are digests of the same length.
        if check
            .iter()
            .zip(&self.creds.stored_key)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return Err(ScramError::Proof);
        }
        let server_signature = hash.hmac(&self.creds.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3's example exchange.
    #[test]
    fn rfc7677_example() {
        let first = ClientFirst::parse(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", false).unwrap();
        assert_eq!(first.user, "user");
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let creds = Credentials::derive(ScramHash::Sha256, b"pencil", &salt, 4096);
        let (ex, server_first) = Exchange::start(
            &first,
            creds.clone(),
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            None,
        );
        assert_eq!(server_first, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        let server_final = ex
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(
            server_final,
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // The stored form goes round.
        assert_eq!(
            Credentials::parse(ScramHash::Sha256, &creds.encode()),
            Some(creds.clone())
        );
        // A wrong proof fails.
        let (ex, _) = Exchange::start(&first, creds, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", None);
        assert_eq!(
            ex.finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
            Err(ScramError::Proof)
        );
    }

    #[test]
    fn channel_binding_and_bad_input() {
        assert!(matches!(
            ClientFirst::parse(b"y,,n=u,r=abc", true),
            Err(ScramError::ChannelBinding(_))
        ));
        assert!(ClientFirst::parse(b"y,,n=u,r=abc", false).is_ok());
        let f = ClientFirst::parse(b"p=tls-exporter,,n=u,r=abc", true).unwrap();
        assert_eq!(f.binding.as_deref(), Some("tls-exporter"));
        let creds = Credentials::derive(ScramHash::Sha256, b"pw", b"salt", 4096);
        let (ex, _) = Exchange::start(&f, creds, "xyz", Some(vec![1, 2, 3]));
        // c= without the binding data is refused.
        let c = STANDARD.encode(b"p=tls-exporter,,");
        assert!(matches!(
            ex.finish(format!("c={c},r=abcxyz,p=AAAA").as_bytes()),
            Err(ScramError::ChannelBinding(_))
        ));
        for bad in [
            &b"x,,n=u,r=a"[..],
            b"n,,r=a,n=u",
            b"n,,m=x,n=u,r=a",
            b"n,,n=u=ZZ,r=a",
            b"n,,n=,r=a",
            b"n",
        ] {
            assert!(ClientFirst::parse(bad, false).is_err(), "{bad:?}");
        }
        assert_eq!(
            ClientFirst::parse(b"n,a=b=2Cc,n=d=3De,r=a", false)
                .unwrap()
                .authzid,
            "b,c"
        );
        assert!(Credentials::parse(ScramHash::Sha256, "0,AA==,AA==,AA==").is_none());
        assert!(Credentials::parse(ScramHash::Sha256, "4096,c2FsdA==,xx,yy").is_none());
    }

    /// RFC 5802 §5's SCRAM-SHA-1 example exchange.
    #[test]
    fn rfc5802_sha1_example() {
        let first = ClientFirst::parse(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", false).unwrap();
        let salt = STANDARD.decode("QSXCR+Q6sek8bf92").unwrap();
        let creds = Credentials::derive(ScramHash::Sha1, b"pencil", &salt, 4096);
        let (ex, server_first) = Exchange::start(&first, creds.clone(), "3rfcNHYJY1ZVvWVs7j", None);
        assert_eq!(
            server_first,
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
        );
        let server_final = ex
            .finish(b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
            .unwrap();
        assert_eq!(server_final, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
        assert_eq!(
            ScramHash::from_name("scram-sha-1-plus"),
            Some(ScramHash::Sha1)
        );
        assert_eq!(ScramHash::from_name("SCRAM-SHA-1-PLUS-PLUS"), None);
        // SHA-256 credentials do not parse as SHA-1 ones.
        let sha256 = Credentials::derive(ScramHash::Sha256, b"pencil", &salt, 4096);
        assert!(Credentials::parse(ScramHash::Sha1, &sha256.encode()).is_none());
        // What `doveadm pw -s SCRAM-SHA-1 -p pencil` wrote.
        let dovecot = Credentials::parse(
            ScramHash::Sha1,
            "4096,58T3q4ifQScVd30vSttk5A==,TZjnW5FqZIw9tEpQ5yM5IwuY2Ls=,no7BS6cM3AT7NQW65qOzICIpunc=",
        )
        .unwrap();
        let again = Credentials::derive(ScramHash::Sha1, b"pencil", &dovecot.salt, 4096);
        assert_eq!(again, dovecot);
    }
}
