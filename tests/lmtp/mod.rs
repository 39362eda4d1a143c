//! Local delivery for Postfix: `roost deliver`, the LMTP listener and the
//! Dovecot-style auth socket; and Debian's Postfix using all three.

mod auth_socket;
mod check;
mod deliver;
mod dovecot_lmtp;
mod postfix;
mod shutdown;
mod wire;
