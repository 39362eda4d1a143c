//! Command outcomes. A handler returns `Ok(Tagged)` for the tagged OK line or
//! an `Error`, and this module is the one place that decides what each error
//! looks like on the wire.

use crate::proto::encode::Code;
use crate::proto::parse::ParseError;
use std::borrow::Cow;
use std::io;

/// The text and optional code of a tagged OK.
#[derive(Debug)]
pub struct Tagged {
    pub code: Option<Code>,
    pub text: Cow<'static, str>,
}

impl Tagged {
    pub fn ok(text: impl Into<Cow<'static, str>>) -> Tagged {
        Tagged {
            code: None,
            text: text.into(),
        }
    }

    pub fn with_code(code: Code, text: impl Into<Cow<'static, str>>) -> Tagged {
        Tagged {
            code: Some(code),
            text: text.into(),
        }
    }
}

/// Why a command did not complete with OK.
#[derive(Debug)]
pub enum Error {
    /// Tagged BAD: syntax, wrong state, unknown command. The session goes on.
    Bad(Option<Code>, Cow<'static, str>),
    /// Tagged NO: a valid command that failed.
    No(Option<Code>, Cow<'static, str>),
    /// Tagged NO [SERVERBUG]; the detail goes to the log, never to the client.
    Server(String),
    /// Untagged BYE, then the connection closes.
    Bye(Cow<'static, str>),
    /// The transport failed; close without a word.
    Io(io::Error),
}

impl Error {
    pub fn bad(text: impl Into<Cow<'static, str>>) -> Error {
        Error::Bad(None, text.into())
    }

    pub fn no(code: Option<Code>, text: impl Into<Cow<'static, str>>) -> Error {
        Error::No(code, text.into())
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        // RFC 5530 CLIENTBUG would also fit; plain BAD is what clients expect.
        Error::Bad(None, e.to_string().into())
    }
}

impl From<crate::store::StoreError> for Error {
    /// The one mapping from storage failures to responses (RFC 5530 codes).
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as S;
        match e {
            S::NotFound => Error::no(Some(Code::NonExistent), "Mailbox doesn't exist."),
            S::Exists => Error::no(Some(Code::AlreadyExists), "Mailbox already exists."),
            S::InvalidName(why) => Error::no(Some(Code::Cannot), why),
            S::NotPossible(why) => Error::no(Some(Code::Cannot), why),
            S::HasChildren => Error::no(
                Some(Code::HasChildren),
                "Mailbox has children; delete them first.",
            ),
            S::InUse => Error::no(
                Some(Code::InUse),
                "Mailbox is locked by another process; try again.",
            ),
            // Dovecot's default quota_exceeded_message.
            S::OverQuota => Error::no(
                Some(Code::OverQuota),
                "Quota exceeded (mailbox for user is full)",
            ),
            S::KeywordLimit => Error::no(
                Some(Code::Limit),
                "Too many keywords in this mailbox (26 at most); none was stored.",
            ),
            // A full disk is the client's to know (Dovecot says the same).
            S::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                Error::no(Some(Code::OverQuota), "Not enough disk space.")
            }
            // Never show paths or OS errors to clients; the log has them.
            S::Io(e) => Error::Server(format!("I/O error: {e}")),
        }
    }
}
