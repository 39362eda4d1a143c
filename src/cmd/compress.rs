//! COMPRESS (RFC 4978 §3). The handler only checks and answers; the loop
//! turns DEFLATE on once the tagged OK has gone out uncompressed.

use crate::error::{Error, Tagged};
use crate::proto::encode::Code;
use crate::session::Session;

pub fn compress(s: &mut Session, mechanism: &str) -> Result<Tagged, Error> {
    // RFC 4978 §3 answers NO [COMPRESSIONACTIVE] when compression is on
    // already; Dovecot does so for a second COMPRESS too.
    if s.transport.is_compressed() || s.compress_pending {
        return Err(Error::no(
            Some(Code::CompressionActive),
            "DEFLATE is active already.",
        ));
    }
    // §3: BAD for an unknown argument ("DEFLATE" is the only mechanism).
    if mechanism != "DEFLATE" {
        return Err(Error::bad("Unknown compression mechanism."));
    }
    s.compress_pending = true;
    Ok(Tagged::ok("DEFLATE active"))
}
