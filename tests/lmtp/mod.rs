//! Local delivery for Postfix: `roost deliver`, the LMTP listener and the
//! Dovecot-style auth socket.

mod deliver;
mod wire;
