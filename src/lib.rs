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
#![forbid(unsafe_code)]

pub mod admission;
pub mod auth;
pub mod check;
pub mod cli;
mod cmd;
pub mod config;
pub mod connection;
pub mod context;
pub mod datetime;
pub mod demo;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod live_counts;
pub mod lmtp;
pub mod message;
pub mod migrate;
pub mod mime;
pub mod net;
pub mod privileges;
pub mod proto;
pub mod search;
pub mod selected;
pub mod server;
pub mod session;
pub mod store;
pub mod trace;
