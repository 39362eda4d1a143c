//! Wire-level tests: raw IMAP over real sockets against the real binary.

mod auth;
mod cache;
mod compress;
mod condstore;
mod consistency;
mod copy;
mod esearch;
mod hostile;
mod idle;
mod isolation;
mod limits;
mod list_extended;
mod logging;
mod mailbox;
mod multiappend;
mod namespace;
mod preauth_flood;
mod search;
mod sessions;
mod special_use_clients;
mod tls;
mod utf8_accept;
