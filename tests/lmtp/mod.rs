//! Local delivery for Postfix: `roost deliver`, the LMTP listener and the
//! Dovecot-style auth socket; and Debian's Postfix using all three.

mod auth_socket;
mod check;
mod deliver;
mod dovecot_lmtp;
mod managesieve;
mod postfix;
mod shutdown;
mod sieve;
mod sieve_differential;
mod wire;
