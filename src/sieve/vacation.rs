//! Whether a `vacation` action answers this message, and the answer
//! (RFC 5230): never to the null sender, to lists, to bulk or automatic
//! mail, or to mail that was not sent to one of the user's addresses;
//! once per sender per period.

use super::compile::VacationArgs;
use super::message::{self, MessageView};
use super::run::{Host, RunInput};

/// Pigeonhole's defaults: 7 days, and no shorter than a day unless
/// `:seconds` asks (then at least 1 second).
const DEFAULT_PERIOD: u64 = 7 * 86_400;

/// A reply to send through the configured sendmail, from the null sender
/// (RFC 5230 §5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VacationReply {
    pub to: String,
    pub message: Vec<u8>,
}

/// Senders that are programs, not people (RFC 5230 §4.6).
fn is_system_sender(local: &str) -> bool {
    let l = local.to_ascii_lowercase();
    l == "mailer-daemon"
        || l == "listserv"
        || l == "majordomo"
        || l.starts_with("owner-")
        || l.ends_with("-request")
        || l.ends_with("-owner")
        || l == "postmaster"
}

pub(crate) fn decide(
    args: &VacationArgs,
    msg: &MessageView,
    input: &RunInput<'_>,
    host: &mut dyn Host,
) -> Option<VacationReply> {
    let sender = input
        .envelope_from
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    if sender.is_empty() {
        return None;
    }
    let (s_local, _) = message::envelope_address(sender);
    if is_system_sender(&s_local) {
        return None;
    }
    if msg
        .values("auto-submitted")
        .iter()
        .any(|v| !v.trim().eq_ignore_ascii_case("no"))
    {
        return None;
    }
    if msg.values("precedence").iter().any(|v| {
        let v = v.trim().to_ascii_lowercase();
        v == "bulk" || v == "list" || v == "junk"
    }) {
        return None;
    }
    const LIST_FIELDS: &[&str] = &[
        "list-id",
        "list-help",
        "list-subscribe",
        "list-unsubscribe",
        "list-post",
        "list-owner",
        "list-archive",
    ];
    if LIST_FIELDS.iter().any(|f| !msg.values(f).is_empty()) {
        return None;
    }
    // The user's addresses: the recipient, the configured ones, :addresses.
    let mut own: Vec<String> = vec![input.envelope_to.to_ascii_lowercase()];
    own.extend(input.own_addresses.iter().map(|a| a.to_ascii_lowercase()));
    own.extend(args.addresses.iter().map(|a| a.to_ascii_lowercase()));
    let own_user = |a: &str| -> bool {
        let (l, d) = message::envelope_address(a);
        let (ol, od) = (l.to_ascii_lowercase(), d.map(|d| d.to_ascii_lowercase()));
        own.iter().any(|o| {
            let (l2, d2) = message::envelope_address(o);
            // `user+detail` is the user too.
            let base = |s: &str| s.split('+').next().unwrap_or(s).to_string();
            base(&l2) == base(&ol) && d2 == od
        })
    };
    if own_user(sender) {
        return None;
    }
    let addressed = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]
        .iter()
        .any(|h| {
            msg.raw_values(h).iter().any(|raw| {
                message::addresses(raw).iter().any(|(l, d)| match d {
                    Some(d) => own_user(&format!("{l}@{d}")),
                    None => own_user(l),
                })
            })
        });
    if !addressed {
        return None;
    }
    let period = args.period.unwrap_or(DEFAULT_PERIOD).max(1);
    let handle = args.handle.clone().unwrap_or_else(|| {
        format!(
            "{}\u{1}{}\u{1}{}\u{1}{}",
            args.reason,
            args.subject.as_deref().unwrap_or(""),
            args.from.as_deref().unwrap_or(""),
            args.mime
        )
    });
    if host.seen_before(
        &format!("vacation\0{handle}\0{}", sender.to_ascii_lowercase()),
        period,
        false,
    ) {
        return None;
    }
    Some(VacationReply {
        to: sender.to_string(),
        message: compose(args, msg, input, sender),
    })
}

fn compose(args: &VacationArgs, msg: &MessageView, input: &RunInput<'_>, sender: &str) -> Vec<u8> {
    let from = args
        .from
        .clone()
        .unwrap_or_else(|| input.envelope_to.to_string());
    // The original subject as written (encoded words stay encoded), as
    // Pigeonhole does.
    let subject = args.subject.clone().unwrap_or_else(|| {
        let original = msg
            .raw_values("subject")
            .first()
            .map_or(String::new(), |v| unfold(v));
        format!("Auto: {original}")
    });
    let mut out = String::new();
    let clean = |s: &str| s.replace(['\r', '\n'], " ");
    out.push_str(&format!("From: {}\r\n", clean(&from)));
    out.push_str(&format!("To: <{}>\r\n", clean(sender)));
    out.push_str(&format!(
        "Subject: {}\r\n",
        encode_subject(&clean(&subject))
    ));
    if let Some(id) = msg.values("message-id").into_iter().next() {
        let id = clean(&id);
        out.push_str(&format!("In-Reply-To: {id}\r\n"));
        let refs = msg
            .values("references")
            .into_iter()
            .next()
            .unwrap_or_default();
        let refs = clean(&refs);
        if refs.is_empty() {
            out.push_str(&format!("References: {id}\r\n"));
        } else {
            out.push_str(&format!("References: {refs} {id}\r\n"));
        }
    }
    out.push_str("Auto-Submitted: auto-replied (vacation)\r\n");
    out.push_str("Precedence: bulk\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    if args.mime {
        // :mime — the reason is a MIME entity, headers included.
        out.push_str(&args.reason.replace("\r\n", "\n").replace('\n', "\r\n"));
    } else {
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        out.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
        out.push_str(&args.reason.replace("\r\n", "\n").replace('\n', "\r\n"));
        if !out.ends_with("\r\n") {
            out.push_str("\r\n");
        }
    }
    out.into_bytes()
}

/// Non-ASCII subjects as one RFC 2047 base64 word.
fn encode_subject(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    use base64::Engine;
    format!(
        "=?utf-8?b?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    )
}

fn unfold(v: &str) -> String {
    v.replace("\r\n", "").replace('\n', "").trim().to_string()
}
