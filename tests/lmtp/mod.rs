//! Local delivery for Postfix: `roost deliver`, the LMTP listener and the
//! Dovecot-style auth socket.

mod auth_socket;
mod deliver;
mod wire;
