//! The client messages of OAUTHBEARER (RFC 7628 §3.1) and Google's
//! XOAUTH2: who the client says it is, and its bearer token.

/// One parsed client message.
#[derive(Debug, PartialEq, Eq)]
pub struct BearerMessage {
    /// The user named in the message (OAUTHBEARER's optional `a=`,
    /// XOAUTH2's `user=`); empty if none.
    pub user: String,
    pub token: String,
}

/// `auth=Bearer <token>` (the scheme is case-insensitive, RFC 6750 §2.1).
fn bearer(value: &str) -> Option<String> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// `key=value` pairs separated by ^A, ended by ^A^A.
fn pairs(kvs: &str) -> Option<Vec<(&str, &str)>> {
    let body = kvs.strip_suffix("\x01\x01")?;
    body.split('\x01').map(|kv| kv.split_once('=')).collect()
}

/// `=2C` and `=3D` back to `,` and `=` (RFC 5801's saslname).
fn unescape(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        out.push(match rest.get(i..i + 3)? {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// OAUTHBEARER: `gs2-header ^A kvpairs ^A`. Channel binding (`p=`) is not
/// defined for it (RFC 7628 §3.1), so only `n` and `y` are taken.
pub fn parse_oauthbearer(msg: &[u8]) -> Option<BearerMessage> {
    let msg = std::str::from_utf8(msg).ok()?;
    let (flag, rest) = msg.split_once(',')?;
    if flag != "n" && flag != "y" {
        return None;
    }
    let (authz, kvs) = rest.split_once(',')?;
    let user = match authz {
        "" => String::new(),
        a => unescape(a.strip_prefix("a=")?)?,
    };
    let kvs = kvs.strip_prefix('\x01')?;
    let token = pairs(kvs)?
        .into_iter()
        .find(|(k, _)| *k == "auth")
        .and_then(|(_, v)| bearer(v))?;
    Some(BearerMessage { user, token })
}

/// XOAUTH2: `user=NAME ^A auth=Bearer TOKEN ^A ^A`.
pub fn parse_xoauth2(msg: &[u8]) -> Option<BearerMessage> {
    let msg = std::str::from_utf8(msg).ok()?;
    let mut user = None;
    let mut token = None;
    for (k, v) in pairs(msg)? {
        match k {
            "user" => user = Some(v.to_string()),
            "auth" => token = bearer(v),
            _ => {}
        }
    }
    let user = user.filter(|u| !u.is_empty())?;
    Some(BearerMessage {
        user,
        token: token?,
    })
}

/// What became of a bearer-token message.
#[derive(Debug, PartialEq, Eq)]
pub enum BearerOutcome {
    /// The token is good and names this user (the one the client named
    /// too, if it named one).
    Accepted(String),
    /// Not a message of the mechanism.
    Malformed,
    /// The key files cannot be read: not the client's fault (the text
    /// says why, for the log).
    Unavailable(String),
    /// Refused: the user the client named (maybe empty) and why.
    Refused(String, String),
}

/// Checks an OAUTHBEARER (or, with `xoauth2`, XOAUTH2) message's token.
pub fn check(
    settings: &crate::config::OAuth2Settings,
    keys: &super::jwt::LoadedKeys,
    xoauth2: bool,
    msg: &[u8],
) -> BearerOutcome {
    let parsed = if xoauth2 {
        parse_xoauth2(msg)
    } else {
        parse_oauthbearer(msg)
    };
    let Some(parsed) = parsed else {
        return BearerOutcome::Malformed;
    };
    let loaded = keys.get();
    let keys = match loaded.as_ref() {
        Ok(k) => k,
        Err(why) => return BearerOutcome::Unavailable(why.clone()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match super::jwt::verify(&parsed.token, keys, settings, now) {
        Ok(user) if parsed.user.is_empty() || parsed.user == user => BearerOutcome::Accepted(user),
        Ok(_) => BearerOutcome::Refused(parsed.user, "the user differs from the token's".into()),
        Err(e) => BearerOutcome::Refused(parsed.user, format!("token refused: {e:?}")),
    }
}

/// The error challenge of RFC 7628 §3.2.2, which the client answers
/// with ^A before the failure; XOAUTH2 clients expect Google's form.
pub fn error_challenge(xoauth2: bool) -> &'static str {
    if xoauth2 {
        r#"{"status":"401","schemes":"bearer"}"#
    } else {
        r#"{"status":"invalid_token","schemes":"bearer"}"#
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauthbearer_messages() {
        // RFC 7628 §4.1's example.
        let m = parse_oauthbearer(
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
        )
        .unwrap();
        assert_eq!(m.user, "user@example.com");
        assert_eq!(m.token, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
        let m = parse_oauthbearer(b"n,,\x01auth=bearer t\x01\x01").unwrap();
        assert_eq!((m.user.as_str(), m.token.as_str()), ("", "t"));
        for bad in [
            &b"p=tls-exporter,,\x01auth=Bearer t\x01\x01"[..],
            b"n,,\x01auth=Bearer t\x01",
            b"n,,\x01auth=Basic t\x01\x01",
            b"n,,\x01host=x\x01\x01",
            b"n,a=b=ZZ,\x01auth=Bearer t\x01\x01",
            b"n,,auth=Bearer t\x01\x01",
            b"",
        ] {
            assert_eq!(parse_oauthbearer(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn xoauth2_messages() {
        let m = parse_xoauth2(b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01").unwrap();
        assert_eq!(m.user, "someuser@example.com");
        assert_eq!(m.token, "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
        for bad in [
            &b"auth=Bearer t\x01\x01"[..],
            b"user=u\x01\x01",
            b"user=u\x01auth=Bearer t",
            b"user=\x01auth=Bearer t\x01\x01",
        ] {
            assert_eq!(parse_xoauth2(bad), None, "{bad:?}");
        }
    }
}
