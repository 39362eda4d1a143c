//! The one integration-test binary: every test starts the real `roost`
//! binary on random loopback ports and talks to it like a client does.

mod cli;
mod clients;
mod common;
mod crash_safety;
mod differential;
mod docs;
mod dovecot;
mod fuzz_corpus;
mod interop;
mod lmtp;
mod load_smoke;
mod migrate;
mod package;
mod privileges;
mod thunderbird;
mod wire;
