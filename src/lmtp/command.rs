//! LMTP command lines (RFC 2033, RFC 5321 §4.1) parsed into values; pure.

/// One client command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Lhlo(String),
    /// HELO and EHLO: SMTP's greetings, which an LMTP server refuses.
    SmtpGreeting,
    Mail {
        from: String,
        params: MailParams,
    },
    Rcpt {
        to: String,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
}

/// What MAIL FROM's parameters said (RFC 1870 SIZE, RFC 6152 8BITMIME,
/// RFC 6531 SMTPUTF8).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MailParams {
    pub size: Option<u64>,
    pub smtputf8: bool,
}

/// A command that cannot be taken: the reply code, enhanced code, text.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal(pub u16, pub &'static str, pub String);

fn refuse(code: u16, enhanced: &'static str, text: impl Into<String>) -> Refusal {
    Refusal(code, enhanced, text.into())
}

/// Longest address accepted between `<` and `>` (RFC 5321 §4.5.3.1.3
/// allows 256; Postfix may pass longer ones through).
const MAX_PATH: usize = 1000;

/// Parses one line, CRLF already removed.
pub fn parse(line: &[u8]) -> Result<Command, Refusal> {
    let Ok(line) = std::str::from_utf8(line) else {
        return Err(refuse(500, "5.5.2", "Invalid characters in command"));
    };
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(refuse(500, "5.5.2", "Control characters in command"));
    }
    let (verb, rest) = match line.split_once(' ') {
        Some((v, r)) => (v, r),
        None => (line, ""),
    };
    match verb.to_ascii_uppercase().as_str() {
        "LHLO" => {
            // The name only; anything after it is not ours to copy into
            // a Received: line.
            let domain = rest.split_whitespace().next().unwrap_or("");
            if domain.is_empty() {
                return Err(refuse(501, "5.5.4", "LHLO needs a domain"));
            }
            Ok(Command::Lhlo(domain.to_string()))
        }
        "HELO" | "EHLO" => Ok(Command::SmtpGreeting),
        "MAIL" => {
            let (from, params) = path_after(rest, "FROM:")?;
            Ok(Command::Mail {
                from,
                params: mail_params(&params)?,
            })
        }
        "RCPT" => {
            let (to, params) = path_after(rest, "TO:")?;
            if to.is_empty() {
                return Err(refuse(501, "5.1.3", "Empty recipient"));
            }
            if let Some(p) = params.first() {
                return Err(refuse(555, "5.5.4", format!("Unsupported parameter {p}")));
            }
            Ok(Command::Rcpt { to })
        }
        "DATA" => no_args(rest, Command::Data),
        "RSET" => no_args(rest, Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(rest, Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        _ => Err(refuse(500, "5.5.1", "Unknown command")),
    }
}

fn no_args(rest: &str, c: Command) -> Result<Command, Refusal> {
    if rest.trim().is_empty() {
        Ok(c)
    } else {
        Err(refuse(501, "5.5.4", "No arguments expected"))
    }
}

/// `FROM:<path> params` / `TO:<path> params`: the address (source route
/// dropped) and the parameters.
fn path_after(rest: &str, keyword: &str) -> Result<(String, Vec<String>), Refusal> {
    let head = rest.get(..keyword.len()).unwrap_or("");
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(refuse(
            501,
            "5.5.4",
            format!("Syntax: expected {keyword}<address>"),
        ));
    }
    // Postfix writes no space here; some clients do.
    let rest = rest[keyword.len()..].trim_start();
    let Some(inner_start) = rest.strip_prefix('<') else {
        return Err(refuse(501, "5.5.4", "Address must be in <>"));
    };
    let Some(end) = inner_start.find('>') else {
        return Err(refuse(501, "5.5.4", "Unterminated address"));
    };
    let mut path = &inner_start[..end];
    if path.len() > MAX_PATH {
        return Err(refuse(501, "5.5.4", "Address too long"));
    }
    if path.contains(['<', ' ', '\t']) && !path.starts_with('"') {
        return Err(refuse(501, "5.1.3", "Invalid address"));
    }
    // RFC 5321 §4.1.2: a source route `@a,@b:` is accepted and ignored.
    if path.starts_with('@') {
        path = path.split_once(':').map_or("", |(_, p)| p);
    }
    let params = inner_start[end + 1..]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok((path.to_string(), params))
}

fn mail_params(params: &[String]) -> Result<MailParams, Refusal> {
    let mut out = MailParams::default();
    for p in params {
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
            None => (p.to_ascii_uppercase(), None),
        };
        match (key.as_str(), value) {
            ("SIZE", Some(v)) => {
                out.size = Some(
                    v.parse()
                        .map_err(|_| refuse(501, "5.5.4", "Invalid SIZE"))?,
                );
            }
            ("BODY", Some(v))
                if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {}
            ("BODY", _) => return Err(refuse(501, "5.5.4", "Unsupported BODY")),
            ("SMTPUTF8", None) => out.smtputf8 = true,
            _ => return Err(refuse(555, "5.5.4", format!("Unsupported parameter {p}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_paths() {
        assert_eq!(
            parse(b"lhlo mx.example").unwrap(),
            Command::Lhlo("mx.example".into())
        );
        assert_eq!(
            parse(b"LHLO mx extra\tstuff").unwrap(),
            Command::Lhlo("mx".into())
        );
        assert_eq!(
            parse(b"MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME SMTPUTF8").unwrap(),
            Command::Mail {
                from: "a@b".into(),
                params: MailParams {
                    size: Some(10),
                    smtputf8: true
                }
            }
        );
        assert_eq!(
            parse(b"MAIL FROM:<>").unwrap(),
            Command::Mail {
                from: String::new(),
                params: MailParams::default()
            }
        );
        assert_eq!(
            parse(b"RCPT TO: <@relay:u+d@x>").unwrap(),
            Command::Rcpt { to: "u+d@x".into() }
        );
        assert_eq!(parse(b"RCPT TO:<>").unwrap_err().0, 501);
        assert_eq!(parse(b"RCPT TO:<a> NOTIFY=NEVER").unwrap_err().0, 555);
        assert_eq!(parse(b"MAIL FROM:<a> BODY=BINARYMIME").unwrap_err().0, 501);
        assert_eq!(parse(b"MAIL FROM:a@b").unwrap_err().0, 501);
        assert_eq!(parse(b"MAIL TO:<a@b>").unwrap_err().0, 501);
        assert_eq!(parse(b"MAIL FROM:<a@b").unwrap_err().0, 501);
        assert_eq!(parse(b"DATA x").unwrap_err().0, 501);
        assert_eq!(parse(b"\xff\xfe").unwrap_err().0, 500);
        assert_eq!(parse(b"RCPT TO:<a\0b>").unwrap_err().0, 500);
        assert_eq!(parse(b"").unwrap_err().0, 500);
        assert_eq!(parse(b"EHLO x").unwrap(), Command::SmtpGreeting);
    }
}
