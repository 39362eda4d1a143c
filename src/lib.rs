//! Roost: an IMAP server for the Maildir trees you already have.
//!
//! # Architecture
//!
//! Synchronous and thread-per-connection: `server` binds the listeners and
//! runs an accept thread per listener; every client gets its own OS thread
//! running `connection::serve`, which alone owns that client's socket.
//!
//! ```text
//! main → cli ──► server::run ──► accept thread (one per listener)
//!                    │                  │ spawn per client
//!                    │                  ▼
//!                    │           connection::serve  (read → parse → dispatch → reply)
//!                    │                  │                    │
//!                signals            proto::reader       cmd::dispatch ─► cmd::auth …
//!          (SIGHUP reload)          proto::parse             │
//!                                   proto::encode  ◄─ session::Session (state, buffers)
//! ```
//!
//! Module rules:
//! - `proto` is the protocol edge and is pure: framing, parsing and encoding
//!   never touch sessions or storage. Only `proto::encode` chooses how a
//!   string is quoted.
//! - `connection` (the loop) → `cmd` (handlers) → `session` (state); handlers
//!   never call back into the loop, and they never write the tagged line.
//! - `error` is the one mapping from failures to BAD / NO / BYE.
//! - `context::ServerContext` holds what all sessions share: configuration,
//!   the users file, TLS settings, the login throttle.
//! - `auth` knows users and passwords and nothing of IMAP.
//! - `admission` decides who gets a connection slot: clients that have not
//!   logged in make room for newcomers, so they can never lock users out.
//! - `cmd` handlers never import each other; what several share lives in
//!   `cmd::common` (names, patterns, STATUS) and `cmd::condstore`.
//! - `store` never sees protocol types: it takes canonical names, UIDs,
//!   flags and an `AppendSource`. Every file it opens under a Maildir goes
//!   through `store::nofollow`. Outside `store`, a mailbox's shared state
//!   is reached only through `store::Mailbox`, whose methods take its lock
//!   and own the look-again-after-a-rename loops; `cmd` never locks it.
//! - `mime` is the one MIME model: FETCH renders from it and SEARCH walks
//!   it (`search`), so the two cannot disagree on what a message holds.
//! - Modules are `pub(crate)` unless the binary, the tests or the fuzzers
//!   need them, so the compiler reports dead code.
// `unsafe` only where the system must be called directly: `identity`
// (per-thread credentials, capabilities) and `auth::pam` (libpam).
#![deny(unsafe_code)]

pub(crate) mod admission;
pub mod auth;
pub(crate) mod auth_http;
pub(crate) mod check;
pub mod cidr;
pub mod cli;
mod cmd;
pub mod config;
pub(crate) mod connection;
pub(crate) mod context;
pub mod datetime;
pub(crate) mod demo;
pub(crate) mod error;
pub(crate) mod fts;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod identity;
pub(crate) mod live_counts;
pub(crate) mod lmtp;
pub(crate) mod mail_location;
pub(crate) mod managesieve;
pub(crate) mod migrate;
pub(crate) mod mime;
pub(crate) mod net;
pub(crate) mod privileges;
pub(crate) mod proto;
pub(crate) mod proxy_protocol;
pub(crate) mod random;
pub(crate) mod search;
pub(crate) mod selected;
pub(crate) mod server;
pub(crate) mod session;
pub(crate) mod sieve;
pub(crate) mod sort;
pub mod store;
pub(crate) mod trace;
pub(crate) mod users;
