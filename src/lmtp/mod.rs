//! Local delivery for an MTA: the LMTP server (RFC 2033) and
//! `roost deliver`, both built on `store::deliver`; and the listeners of
//! the services Postfix uses (LMTP and the auth socket).

mod command;
mod data;
pub mod deliver_cmd;
pub mod listen;
pub mod recipient;
mod session;
