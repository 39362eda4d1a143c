//! CRAM-MD5 (RFC 2195), server side: the client answers a unique challenge
//! with HMAC-MD5(password, challenge), so the password never travels.
//!
//! The server needs the HMAC's keyed state, not the password: Dovecot's
//! `{CRAM-MD5}` scheme stores exactly that, the MD5 chaining values after
//! the inner (key ⊕ ipad) and outer (key ⊕ opad) blocks, 32 bytes in hex.
//! Continuing MD5 from a stored state needs the bare compression
//! function, which the md-5 crate keeps private, so it is written here.

use super::scheme::Method;
use md5::{Digest, Md5};

/// The HMAC-MD5 state for one password: MD5's chaining values after the
/// key's inner and outer pad blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contexts {
    inner: [u32; 4],
    outer: [u32; 4],
}

const IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

const SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/// MD5's additive constants, the integer part of |sin(i + 1)| · 2³²
/// (RFC 1321 §3.4).
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// MD5's compression of one 64-byte block into `state`.
fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    let mut m = [0u32; 16];
    for (w, chunk) in m.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let sum = f.wrapping_add(a).wrapping_add(K[i]).wrapping_add(m[g]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(sum.rotate_left(SHIFTS[(i / 16) * 4 + i % 4]));
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d]) {
        *s = s.wrapping_add(v);
    }
}

/// MD5 of `data`, continuing from `state`, after `prefix_len` bytes (a
/// multiple of 64) were already compressed into it.
fn finish_md5(mut state: [u32; 4], prefix_len: u64, data: &[u8]) -> [u8; 16] {
    let mut padded = data.to_vec();
    padded.push(0x80);
    while padded.len() % 64 != 56 {
        padded.push(0);
    }
    let bits = (prefix_len + data.len() as u64).wrapping_mul(8);
    padded.extend_from_slice(&bits.to_le_bytes());
    for block in padded.chunks_exact(64) {
        let mut b = [0u8; 64];
        b.copy_from_slice(block);
        compress(&mut state, &b);
    }
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

impl Contexts {
    /// The state for `password` (RFC 2104: keys over 64 bytes are hashed).
    pub fn from_password(password: &[u8]) -> Contexts {
        let mut key = [0u8; 64];
        if password.len() > 64 {
            key[..16].copy_from_slice(&Md5::digest(password));
        } else {
            key[..password.len()].copy_from_slice(password);
        }
        let pad = |byte: u8| {
            let mut block = [0u8; 64];
            for (b, k) in block.iter_mut().zip(key) {
                *b = k ^ byte;
            }
            let mut state = IV;
            compress(&mut state, &block);
            state
        };
        Contexts {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// Dovecot's stored form (after `{CRAM-MD5}`): the eight chaining
    /// values, outer pad's first, little-endian, in hex.
    pub fn parse(stored: &str) -> Option<Contexts> {
        let bytes = super::legacy::decode_hex(stored.trim())?;
        if bytes.len() != 32 {
            return None;
        }
        let mut words = [0u32; 8];
        for (w, b) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Some(Contexts {
            outer: [words[0], words[1], words[2], words[3]],
            inner: [words[4], words[5], words[6], words[7]],
        })
    }

    /// The stored form [`Contexts::parse`] reads.
    pub fn encode(&self) -> String {
        self.outer
            .iter()
            .chain(&self.inner)
            .flat_map(|w| w.to_le_bytes())
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// HMAC-MD5(password, `message`).
    pub fn hmac(&self, message: &[u8]) -> [u8; 16] {
        let inner = finish_md5(self.inner, 64, message);
        finish_md5(self.outer, 64, &inner)
    }
}

/// The client's answer: `user SP digest` (RFC 2195 §2), the digest in
/// lowercase hex; the user is everything before the last space.
pub fn parse_response(msg: &[u8]) -> Option<(String, [u8; 16])> {
    let msg = std::str::from_utf8(msg).ok()?;
    let (user, hex) = msg.rsplit_once(' ')?;
    if user.is_empty() {
        return None;
    }
    let digest = super::legacy::decode_hex(hex)?.try_into().ok()?;
    Some((user.to_string(), digest))
}

/// A fresh challenge, unique as RFC 2195 §2 asks: `<random.time@host>`.
pub fn challenge() -> String {
    let random = crate::random::bytes(8)
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("<{random}.{now}@{}>", crate::store::dotlock::hostname())
}

/// The HMAC-MD5 state from a passwd-file password field, if its scheme
/// keeps one (`{CRAM-MD5}`, Dovecot's alias `{HMAC-MD5}`) or the password.
pub fn contexts_of(stored: &str) -> Option<Contexts> {
    match super::scheme::method_of(stored) {
        Ok(Method::CramMd5(value)) => Contexts::parse(value),
        Ok(Method::Plain(password)) => Some(Contexts::from_password(password.as_bytes())),
        _ => None,
    }
}

/// Checks the client's answer to `challenge` against the passwd file:
/// the user's entry, or the name the client gave (maybe empty) and why it
/// failed, for the log.
pub fn verify_answer(
    passwd: &super::PasswdFile,
    challenge: &str,
    answer: &[u8],
) -> Result<super::UserEntry, (String, &'static str)> {
    let Some((user, digest)) = parse_response(answer) else {
        return Err((String::new(), "malformed response"));
    };
    let Some(entry) = passwd.lookup(&user) else {
        return Err((user, "no such user"));
    };
    let Some(contexts) = contexts_of(entry.password.expose()) else {
        return Err((user, "stored password scheme cannot do CRAM-MD5"));
    };
    if !super::scheme::ct_eq(&contexts.hmac(challenge.as_bytes()), &digest) {
        return Err((user, "wrong digest"));
    }
    Ok(entry)
}

/// [`verify_answer`], then the entry's `nologin` and `allow_nets` for a
/// client at `ip`, then the account the userdb gives the user (as for a
/// passwd-file login): the account, or the name the client gave and
/// why not, for the log. The auth socket and ManageSieve use this.
pub fn verified_account(
    config: &crate::config::Config,
    passwd: &super::PasswdFile,
    challenge: &str,
    answer: &[u8],
    ip: std::net::IpAddr,
) -> Result<crate::users::Account, (String, String)> {
    let entry =
        verify_answer(passwd, challenge, answer).map_err(|(u, why)| (u, why.to_string()))?;
    let user = entry.name.clone();
    if let Some(why) = super::access::of_entry(&entry, Some(ip)).refusal() {
        return Err((user, why));
    }
    crate::users::resolve(config, passwd, entry, crate::config::Passdb::PasswdFile)
        .map_err(|why| (user, format!("refused by userdb: {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    fn reference_hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = <Hmac<Md5> as Mac>::new_from_slice(key).unwrap();
        m.update(msg);
        m.finalize().into_bytes().to_vec()
    }

    /// What `doveadm pw -s CRAM-MD5 -p ...` wrote (Dovecot 2.3).
    #[test]
    fn dovecot_stored_form() {
        let long = "x".repeat(70);
        for (password, stored) in [
            (
                "secret",
                "cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
            ),
            (
                "tanstaaftanstaaf",
                "d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b",
            ),
            // Over 64 bytes: the key is hashed first (RFC 2104).
            (
                long.as_str(),
                "8103bb3a2a4b96a9ca9cce4efecc8d22ebe7163dff7401afb5aa16d4edcf9f1f",
            ),
        ] {
            let c = Contexts::from_password(password.as_bytes());
            assert_eq!(c.encode(), stored, "{password}");
            assert_eq!(Contexts::parse(stored), Some(c));
        }
    }

    /// RFC 2195 §2's example, and agreement with the md-5 crate's HMAC
    /// for keys and messages around the block size.
    #[test]
    fn rfc2195_example_and_reference() {
        let c = Contexts::from_password(b"tanstaaftanstaaf");
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        let digest = c.hmac(challenge);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b913a602c7eda7a495b4e6e7334d3890");
        let (user, got) = parse_response(format!("tim {hex}").as_bytes()).unwrap();
        assert_eq!(user, "tim");
        assert!(super::super::scheme::ct_eq(&digest, &got));
        for key_len in [0, 1, 63, 64, 65, 200] {
            for msg_len in [0, 1, 55, 56, 63, 64, 65, 300] {
                let key = vec![b'k'; key_len];
                let msg = vec![b'm'; msg_len];
                let c = Contexts::from_password(&key);
                assert_eq!(
                    c.hmac(&msg).to_vec(),
                    reference_hmac(&key, &msg),
                    "{key_len} {msg_len}"
                );
                assert_eq!(Contexts::parse(&c.encode()), Some(c));
            }
        }
        for bad in [
            &b"tim"[..],
            b" b913a602c7eda7a495b4e6e7334d3890",
            b"tim xyz",
            b"tim b913a602c7eda7a495b4e6e7334d389g",
        ] {
            assert!(parse_response(bad).is_none(), "{bad:?}");
        }
        assert!(Contexts::parse("abc").is_none());
        assert!(Contexts::parse(&"zz".repeat(32)).is_none());
    }
}
