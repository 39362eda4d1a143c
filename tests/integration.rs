//! The one integration-test binary: every test starts the real `roost`
//! binary on random loopback ports and talks to it like a client does.

mod cli;
mod clients;
mod common;
mod differential;
mod docs;
mod dovecot;
mod load_smoke;
mod thunderbird;
mod wire;
