//! SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, with the
//! SCRAM-SHA-256-PLUS channel bindings `tls-exporter` (RFC 9266) and
//! `tls-server-end-point` (RFC 5929).
//!
//! Credentials come from the passwd file: Dovecot's stored form
//! `{SCRAM-SHA-256}iter,salt,StoredKey,ServerKey` (base64 fields, as
//! `doveadm pw -s SCRAM-SHA-256` writes), or a plaintext password, from
//! which they are derived with a fresh salt at each login.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Iterations for credentials derived here (Dovecot's default too).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// More iterations than this are refused: a stored value is data, and a
/// huge count would hold a login thread for minutes.
const MAX_ITERATIONS: u32 = 1_000_000;

/// What the server keeps for a user (RFC 5802 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(data);
    m.finalize().into_bytes().into()
}

impl Credentials {
    /// Derives the credentials of `password` (SaltedPassword =
    /// PBKDF2-HMAC-SHA-256, RFC 5802 §3).
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Credentials {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        Credentials {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// Parses Dovecot's stored form (without the `{SCRAM-SHA-256}` prefix).
    pub fn parse(stored: &str) -> Option<Credentials> {
        let mut f = stored.trim().split(',');
        let iterations: u32 = f.next()?.parse().ok()?;
        let salt = STANDARD.decode(f.next()?).ok()?;
        let stored_key = STANDARD.decode(f.next()?).ok()?.try_into().ok()?;
        let server_key = STANDARD.decode(f.next()?).ok()?.try_into().ok()?;
        if f.next().is_some() || !(1..=MAX_ITERATIONS).contains(&iterations) {
            return None;
        }
        Some(Credentials {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// Dovecot's stored form, for `roost hash --scheme SCRAM-SHA-256`.
    pub fn encode(&self) -> String {
        format!(
            "{},{},{},{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
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
        if proof.len() != 32 {
            return Err(ScramError::Proof);
        }
        let auth_message = format!("{}{without_proof}", self.auth_prefix);
        let signature = hmac(&self.creds.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let check: [u8; 32] = Sha256::digest(&client_key).into();
        // Constant-time enough: both sides are fixed-size digests.
        if check
            .iter()
            .zip(self.creds.stored_key)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return Err(ScramError::Proof);
        }
        let server_signature = hmac(&self.creds.server_key, auth_message.as_bytes());
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
        let creds = Credentials::derive(b"pencil", &salt, 4096);
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
        assert_eq!(Credentials::parse(&creds.encode()), Some(creds.clone()));
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
        let creds = Credentials::derive(b"pw", b"salt", 4096);
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
        assert!(Credentials::parse("0,AA==,AA==,AA==").is_none());
        assert!(Credentials::parse("4096,c2FsdA==,xx,yy").is_none());
    }
}
