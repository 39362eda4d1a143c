//! SASL message decoding for the PLAIN (RFC 4616) and LOGIN mechanisms.
//!
//! This module owns turning what the client sent during `AUTHENTICATE` into
//! credentials: base64 decoding of response lines (with RFC 4959's `=` for
//! an empty initial response), encoding of server challenges, and splitting
//! PLAIN messages and LOGIN answers. Driving the exchange is the protocol
//! layer's job.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;

use super::Secret;

/// The LOGIN mechanism's first challenge, before base64 encoding.
pub const LOGIN_USERNAME_PROMPT: &[u8] = b"Username:";

/// The LOGIN mechanism's second challenge, before base64 encoding.
pub const LOGIN_PASSWORD_PROMPT: &[u8] = b"Password:";

/// A client response that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaslError {
    /// The line is not valid base64.
    BadBase64,
    /// The decoded message does not have the mechanism's shape; says how.
    Malformed(&'static str),
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslError::BadBase64 => f.write_str("invalid base64 in SASL response"),
            SaslError::Malformed(why) => write!(f, "malformed SASL message: {why}"),
        }
    }
}

impl std::error::Error for SaslError {}

/// Whether a response line is the client cancelling the exchange (`*`,
/// RFC 3501 section 6.2.2). Check this before [`decode_response`].
pub fn is_cancel(line: &[u8]) -> bool {
    line.trim_ascii() == b"*"
}

/// Decodes a base64 client response line (as received, without CRLF;
/// surrounding whitespace is ignored). `=` means an empty response
/// (RFC 4959), as does an empty line.
pub fn decode_response(line: &[u8]) -> Result<Vec<u8>, SaslError> {
    let line = line.trim_ascii();
    if line == b"=" {
        return Ok(Vec::new());
    }
    // Some clients leave out the `=` padding; accepting that costs nothing.
    // Padding that is present must be exactly right, though.
    let engine = if line.ends_with(b"=") {
        &STANDARD
    } else {
        &STANDARD_NO_PAD
    };
    engine.decode(line).map_err(|_| SaslError::BadBase64)
}

/// Encodes a server challenge for a `+ ` continuation line.
pub fn encode_challenge(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// The three parts of a PLAIN message.
#[derive(Clone, Debug)]
pub struct PlainCredentials {
    /// The identity to act as; empty means the same as `authcid`.
    pub authzid: String,
    /// The identity whose password is given.
    pub authcid: String,
    /// The password.
    pub password: Secret,
}

/// Parses an RFC 4616 PLAIN message: `[authzid] NUL authcid NUL passwd`.
///
/// All three parts must be UTF-8 without NUL; `authcid` and `passwd` must be
/// non-empty, `authzid` may be empty. RFC 4616 requires accepting at least
/// 255 octets per part and sets no maximum, so none is imposed here; the
/// protocol layer already bounds the line length.
pub fn parse_plain(msg: &[u8]) -> Result<PlainCredentials, SaslError> {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed(
            "PLAIN message must have exactly two NUL separators",
        ));
    };
    if authcid.is_empty() {
        return Err(SaslError::Malformed("empty authentication identity"));
    }
    if passwd.is_empty() {
        return Err(SaslError::Malformed("empty password"));
    }
    let authzid = std::str::from_utf8(authzid)
        .map_err(|_| SaslError::Malformed("authorization identity is not UTF-8"))?;
    let authcid = std::str::from_utf8(authcid)
        .map_err(|_| SaslError::Malformed("authentication identity is not UTF-8"))?;
    let passwd = String::from_utf8(passwd.to_vec())
        .map_err(|_| SaslError::Malformed("password is not UTF-8"))?;
    Ok(PlainCredentials {
        authzid: authzid.to_string(),
        authcid: authcid.to_string(),
        password: Secret::new(passwd),
    })
}

/// Checks the decoded answer to [`LOGIN_USERNAME_PROMPT`]: non-empty UTF-8
/// without NUL.
pub fn parse_login_username(data: &[u8]) -> Result<String, SaslError> {
    if data.is_empty() {
        return Err(SaslError::Malformed("empty user name"));
    }
    if data.contains(&0) {
        return Err(SaslError::Malformed("NUL in user name"));
    }
    std::str::from_utf8(data)
        .map(str::to_string)
        .map_err(|_| SaslError::Malformed("user name is not UTF-8"))
}

/// Checks the decoded answer to [`LOGIN_PASSWORD_PROMPT`]: non-empty UTF-8
/// without NUL.
pub fn parse_login_password(data: &[u8]) -> Result<Secret, SaslError> {
    if data.is_empty() {
        return Err(SaslError::Malformed("empty password"));
    }
    if data.contains(&0) {
        return Err(SaslError::Malformed("NUL in password"));
    }
    String::from_utf8(data.to_vec())
        .map(Secret::new)
        .map_err(|_| SaslError::Malformed("password is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rows() {
        type Row<'a> = (&'a [u8], Result<&'a [u8], SaslError>);
        let rows: &[Row] = &[
            (b"=", Ok(b"")),
            (b" = ", Ok(b"")),
            (b"", Ok(b"")),
            (b"dGVzdA==", Ok(b"test")),
            (b"dGVzdA", Ok(b"test")),
            (b"  dGVzdA==\t", Ok(b"test")),
            (
                b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm",
                Ok(b"\0tim\0tanstaaftanstaaf"),
            ),
            (b"dGVz dA==", Err(SaslError::BadBase64)),
            (b"dGVzdA=", Err(SaslError::BadBase64)),
            (b"==", Err(SaslError::BadBase64)),
            (b"*", Err(SaslError::BadBase64)),
            (b"dGVzdA==\r", Ok(b"test")),
            (b"!!!!", Err(SaslError::BadBase64)),
            // Non-zero trailing bits: not a canonical encoding.
            (b"dGVzdB==", Err(SaslError::BadBase64)),
            (b"\xff\xfe", Err(SaslError::BadBase64)),
        ];
        for (input, want) in rows {
            let got = decode_response(input);
            assert_eq!(got.as_deref(), want.as_deref(), "input {input:?}");
        }
    }

    #[test]
    fn cancel_and_challenge() {
        assert!(is_cancel(b"*"));
        assert!(is_cancel(b" * "));
        assert!(!is_cancel(b"**"));
        assert!(!is_cancel(b"="));
        assert_eq!(encode_challenge(b""), "");
        assert_eq!(encode_challenge(LOGIN_USERNAME_PROMPT), "VXNlcm5hbWU6");
        assert_eq!(encode_challenge(LOGIN_PASSWORD_PROMPT), "UGFzc3dvcmQ6");
        let data = b"\0\xffbinary\r\n";
        assert_eq!(
            decode_response(encode_challenge(data).as_bytes()).unwrap(),
            data
        );
    }

    #[test]
    fn plain_rows() {
        // (message, Ok((authzid, authcid, password)) or Err)
        type Row<'a> = (&'a [u8], Result<(&'a str, &'a str, &'a str), SaslError>);
        let rows: &[Row] = &[
            // RFC 4616 section 4 examples.
            (
                b"\0tim\0tanstaaftanstaaf",
                Ok(("", "tim", "tanstaaftanstaaf")),
            ),
            (
                b"Ursel\0Kurt\0xipj3plmq",
                Ok(("Ursel", "Kurt", "xipj3plmq")),
            ),
            (
                "\0\u{e9}l\u{e8}ve\0p\u{e4}ss w\u{f6}rd".as_bytes(),
                Ok(("", "\u{e9}l\u{e8}ve", "p\u{e4}ss w\u{f6}rd")),
            ),
            (
                b"\0tim\0tanstaaftanstaaf\0",
                Err(SaslError::Malformed(
                    "PLAIN message must have exactly two NUL separators",
                )),
            ),
            (
                b"tim\0tanstaaftanstaaf",
                Err(SaslError::Malformed(
                    "PLAIN message must have exactly two NUL separators",
                )),
            ),
            (
                b"",
                Err(SaslError::Malformed(
                    "PLAIN message must have exactly two NUL separators",
                )),
            ),
            (
                b"\0\0secret",
                Err(SaslError::Malformed("empty authentication identity")),
            ),
            (b"\0tim\0", Err(SaslError::Malformed("empty password"))),
            (
                b"\0\0",
                Err(SaslError::Malformed("empty authentication identity")),
            ),
            (
                b"\xff\0tim\0pw",
                Err(SaslError::Malformed("authorization identity is not UTF-8")),
            ),
            (
                b"\0t\xc3\0pw",
                Err(SaslError::Malformed("authentication identity is not UTF-8")),
            ),
            (
                b"\0tim\0p\xffw",
                Err(SaslError::Malformed("password is not UTF-8")),
            ),
        ];
        for (msg, want) in rows {
            let got = parse_plain(msg).map(|c| {
                (
                    c.authzid.clone(),
                    c.authcid.clone(),
                    c.password.expose().to_string(),
                )
            });
            let want = want
                .clone()
                .map(|(z, c, p)| (z.to_string(), c.to_string(), p.to_string()));
            assert_eq!(got, want, "msg {msg:?}");
        }
    }

    #[test]
    fn plain_accepts_255_octet_parts() {
        let long = "x".repeat(255);
        let msg = format!("{long}\0{long}\0{long}");
        let c = parse_plain(msg.as_bytes()).unwrap();
        assert_eq!(c.authcid.len(), 255);
        assert_eq!(c.password.expose().len(), 255);
    }

    #[test]
    fn plain_from_base64_line() {
        let msg = decode_response(b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm").unwrap();
        let c = parse_plain(&msg).unwrap();
        assert_eq!(c.authcid, "tim");
        assert!(!format!("{c:?}").contains("tanstaaf"));
    }

    #[test]
    fn login_answers() {
        assert_eq!(parse_login_username(b"tim"), Ok("tim".to_string()));
        assert!(parse_login_username(b"").is_err());
        assert!(parse_login_username(b"t\0m").is_err());
        assert!(parse_login_username(b"t\xffm").is_err());
        assert_eq!(parse_login_password(b"pw w").unwrap().expose(), "pw w");
        assert!(parse_login_password(b"").is_err());
        assert!(parse_login_password(b"p\0w").is_err());
        assert!(parse_login_password(b"p\xffw").is_err());
    }

    #[test]
    fn error_display() {
        assert_eq!(
            SaslError::BadBase64.to_string(),
            "invalid base64 in SASL response"
        );
        assert_eq!(
            SaslError::Malformed("empty password").to_string(),
            "malformed SASL message: empty password"
        );
    }
}
