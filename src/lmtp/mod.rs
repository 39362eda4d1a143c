//! Local delivery for an MTA: the LMTP server (RFC 2033) and
//! `roost deliver`, both built on `store::deliver`.

pub mod deliver_cmd;
pub mod recipient;
