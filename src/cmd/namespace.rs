//! NAMESPACE (RFC 2342): the one personal namespace, as configured by
//! `namespace_prefix` and `namespace_separator`; no other users' or shared
//! namespaces.

use crate::error::{Error, Tagged};
use crate::session::Session;

/// `* NAMESPACE (("prefix" "sep")) NIL NIL`
pub fn namespace(s: &mut Session) -> Result<Tagged, Error> {
    let ns = s.store()?.namespace().clone();
    let prefix = super::common::wire_text(s, &ns.prefix);
    let mut sep = [0u8; 4];
    let sep = ns.separator.encode_utf8(&mut sep).as_bytes().to_vec();
    s.out.untagged().raw("NAMESPACE ((");
    s.out.string(&prefix).sp().string(&sep);
    s.out.raw(")) NIL NIL").crlf();
    Ok(Tagged::ok("Namespace completed."))
}
