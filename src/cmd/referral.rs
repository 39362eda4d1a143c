//! LOGIN-REFERRALS (RFC 2221), suspended accounts and `allow_nets`, as
//! the passdb entry's extra fields say ([`crate::auth::access`]).
//!
//! A user who lives on another server gets, once the password is right
//! and before the userdb is asked, `NO [REFERRAL
//! imap://user;AUTH=PLAIN@host[:port]/] Try this server instead.` as
//! Dovecot 2.3 answers (it names PLAIN for LOGIN too), and nothing of
//! their mail is touched here. A suspended user gets `NO [ALERT] reason`,
//! or without a reason `NO [AUTHENTICATIONFAILED]`, as Dovecot answers,
//! and the failure counts with the throttle. A login from outside the
//! user's `allow_nets` fails as a wrong password does. AUTHENTICATE
//! answers the same once the mechanism has accepted the user, naming that
//! mechanism in the URL.

use crate::auth::access::{self, Access};
use crate::error::Error;
use crate::proto::encode::Code;
use crate::session::Session;

/// The answer for a user whose password a passdb accepted, if its entry
/// sends them elsewhere or keeps them out; `mech` is named in the URL.
pub(super) fn of_entry(s: &Session, entry: &crate::auth::UserEntry, mech: &str) -> Option<Error> {
    answer(
        s,
        &entry.name,
        access::of_entry(entry, Some(s.peer.ip())),
        mech,
    )
}

/// For a user a token or certificate vouched for (no passdb entry came
/// with them): the answer, if the passwd file sends them elsewhere or
/// keeps them out.
pub(super) fn after_authenticate(s: &Session, user: &str, mech: &str) -> Option<Error> {
    answer(
        s,
        user,
        access::of_name(&s.ctx.passwd, user, Some(s.peer.ip())),
        mech,
    )
}

fn answer(s: &Session, user: &str, access: Access, mech: &str) -> Option<Error> {
    let session = format!("conn={} peer={}", s.id, s.peer);
    match access {
        Access::Here => None,
        Access::Elsewhere(target) => {
            log::info!("{session} user={user} referred to {}", target.host);
            s.ctx.throttle.record_user_success(s.peer.ip(), user);
            Some(Error::no(
                Some(Code::Referral(target.url("imap", 143, user, mech))),
                "Try this server instead.",
            ))
        }
        refused => {
            let why = refused.refusal().unwrap_or_default();
            crate::auth::record_failure(
                &s.ctx.throttle,
                s.peer.ip(),
                user,
                &session,
                &format!("mech={mech}"),
                &why,
            );
            Some(match refused {
                Access::Suspended(Some(text)) => Error::no(Some(Code::Alert), text),
                _ => Error::no(Some(Code::AuthenticationFailed), "Authentication failed."),
            })
        }
    }
}
