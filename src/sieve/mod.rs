//! Sieve mail filtering (RFC 5228) as users' Pigeonhole scripts expect it.
//!
//! ```text
//! script text ─► lexer ─► grammar (generic tree) ─► compile (typed, checked
//!   against `require`) ─► Script ─► run(message, envelope, host) ─► Outcome
//! ```
//!
//! - `compile` refuses what Pigeonhole refuses at upload time (unknown
//!   commands, extensions not required, bad arguments) with the line, so
//!   ManageSieve's CHECKSCRIPT and delivery agree on what is valid.
//! - `run` never touches the mail store or the network: it reads the
//!   message and asks the `Host` (mailbox exists? seen before? include
//!   this script) and returns the actions to perform. Delivery performs
//!   them; if anything fails, the message is kept in INBOX (RFC 5228
//!   §2.10.6: implicit keep), never lost.
//! - Every loop is bounded: nesting depth, include depth, actions,
//!   redirects, variable sizes, regex program size and a step budget.
//!
//! Written from the RFCs: the maintained Sieve crates are AGPL.

mod compile;
pub(crate) mod deliver;
mod grammar;
mod lexer;
mod matcher;
mod message;
mod run;
mod vacation;
mod vars;

pub(crate) use compile::{Script, MAX_SCRIPT_SIZE};
#[cfg(test)]
use run::{run, Action, Host, Outcome, RunInput};

/// Extensions this interpreter implements, in the order CAPABILITY's
/// `SIEVE` line lists them.
pub(crate) const EXTENSIONS: &[&str] = &[
    "fileinto",
    "reject",
    "ereject",
    "envelope",
    "encoded-character",
    "copy",
    "body",
    "vacation",
    "vacation-seconds",
    "imap4flags",
    "variables",
    "relational",
    "regex",
    "subaddress",
    "comparator-i;ascii-numeric",
    "include",
    "mailbox",
    "date",
    "index",
    "duplicate",
    "editheader",
    "spamtest",
    "spamtestplus",
    "virustest",
];

/// A script that cannot be compiled or run, with the line that caused
/// it (0 when no line is to blame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScriptError {
    pub line: u32,
    pub message: String,
}

impl ScriptError {
    pub(crate) fn new(line: u32, message: impl Into<String>) -> ScriptError {
        ScriptError {
            line,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ScriptError {
    /// Pigeonhole's form, which users grep their `.sieve.log` for.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: error: {}", self.line, self.message)
        } else {
            write!(f, "error: {}", self.message)
        }
    }
}

#[cfg(test)]
mod tests;
