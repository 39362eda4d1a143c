//! Dovecot's authentication protocol for Postfix (`smtpd_sasl_type =
//! dovecot`). Not yet implemented: the connection is closed.

use crate::context::ServerContext;
use crate::lmtp::listen::Stream;
use std::sync::Arc;

pub fn serve(_ctx: Arc<ServerContext>, _stream: Stream, peer: String) {
    log::warn!("auth peer={peer}: not implemented yet");
}
