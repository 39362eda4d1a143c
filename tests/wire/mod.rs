//! Wire-level tests: raw IMAP over real sockets against the real binary.

mod auth;
mod cache;
mod compress;
mod consistency;
mod copy;
mod idle;
mod limits;
mod logging;
mod mailbox;
mod search;
mod sessions;
mod tls;
