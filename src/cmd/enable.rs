//! ENABLE (RFC 5161): turns on extensions that change what the server
//! sends, for the rest of the connection.

use crate::error::{Error, Tagged};
use crate::session::Session;

/// Enables what Roost knows of `names` and answers `* ENABLED` with the
/// ones this command turned on (RFC 5161 §3.1: each ENABLED lists only
/// what its own command enabled). Unknown names are ignored; the ENABLED
/// response is sent even when empty (§3.1 MUST; Dovecot leaves it out).
pub fn enable(s: &mut Session, names: &[String]) -> Result<Tagged, Error> {
    let mut newly: Vec<&'static str> = Vec::new();
    for name in names {
        match name.as_str() {
            "CONDSTORE" if !s.enabled.condstore => {
                s.enabled.condstore = true;
                newly.push("CONDSTORE");
            }
            "QRESYNC" if !s.enabled.qresync => {
                // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                s.enabled.qresync = true;
                s.enabled.condstore = true;
                newly.push("QRESYNC");
            }
            "UTF8=ACCEPT" if !s.enabled.utf8_accept => {
                // RFC 6855 §3: UTF-8 mailbox names and quoted strings.
                s.enabled.utf8_accept = true;
                s.out.allow_utf8_quoted();
                newly.push("UTF8=ACCEPT");
            }
            "IMAP4REV2" if !s.enabled.imap4rev2 => {
                // RFC 9051 Appendix A: a client that wants rev2 semantics
                // asks for them; UTF-8 quoted strings come with them.
                s.enabled.imap4rev2 = true;
                s.out.allow_utf8_quoted();
                newly.push("IMAP4rev2");
            }
            "UIDONLY" if !s.out.uid_only() => {
                // RFC 9586: UIDs only, for the rest of the connection.
                s.out.set_uid_only();
                newly.push("UIDONLY");
            }
            _ => {}
        }
    }
    s.out.untagged().raw("ENABLED");
    for name in newly {
        s.out.sp().raw(name);
    }
    s.out.crlf();
    Ok(Tagged::ok("Enabled."))
}
