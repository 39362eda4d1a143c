//! COPY, MOVE and their UID forms (RFC 3501 §6.4.7, RFC 6851, RFC 4315
//! COPYUID). (Being written.)

use crate::error::{Error, Tagged};
use crate::proto::types::SequenceSet;
use crate::session::Session;

pub fn copy(
    _s: &mut Session,
    _set: &SequenceSet,
    _mailbox: &[u8],
    _uid: bool,
    _is_move: bool,
) -> Result<Tagged, Error> {
    Err(Error::no(None, "COPY is not available yet."))
}
