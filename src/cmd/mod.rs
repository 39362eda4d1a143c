//! The command table: one exhaustive `match` from a parsed command to its
//! handler, with the states each command is allowed in. A new command is a
//! compile error until it is wired in here.
//!
//! Handlers have the shape `fn(&mut Session, args…) -> Result<Tagged, Error>`:
//! they write untagged data to `s.out` and never write the tagged line.

mod auth;

use crate::error::{Error, Tagged};
use crate::proto::types::{Command, CommandBody};
use crate::session::{Session, State};

/// Where a command may be used (RFC 3501 §6).
#[derive(Clone, Copy)]
enum Allowed {
    /// §6.1: any state.
    Any,
    /// §6.2: not authenticated only.
    NotAuthenticated,
}

fn allowed(body: &CommandBody) -> Allowed {
    match body {
        CommandBody::Capability | CommandBody::Noop | CommandBody::Logout | CommandBody::Id(_) => {
            Allowed::Any
        }
        CommandBody::StartTls | CommandBody::Login { .. } | CommandBody::Authenticate { .. } => {
            Allowed::NotAuthenticated
        }
    }
}

/// Runs one command.
pub fn dispatch(s: &mut Session, cmd: Command) -> Result<Tagged, Error> {
    let ok = match allowed(&cmd.body) {
        Allowed::Any => true,
        Allowed::NotAuthenticated => s.state == State::NotAuthenticated,
    };
    if !ok {
        return Err(Error::bad(format!(
            "{} is not allowed in the {} state",
            cmd.body.name(),
            match s.state {
                State::NotAuthenticated => "not authenticated",
                State::Authenticated => "authenticated",
                State::Logout => "logout",
            }
        )));
    }
    match cmd.body {
        CommandBody::Capability => auth::capability(s),
        CommandBody::Noop => auth::noop(s),
        CommandBody::Logout => auth::logout(s),
        CommandBody::StartTls => auth::starttls(s),
        CommandBody::Login { user, password } => auth::login(s, &user, &password),
        CommandBody::Authenticate { mechanism, initial } => {
            auth::authenticate(s, &mechanism, initial.as_deref())
        }
        CommandBody::Id(params) => auth::id(s, params.as_deref()),
    }
}
