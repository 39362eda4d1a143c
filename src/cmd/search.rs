//! SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8). (Being written.)

use crate::error::{Error, Tagged};
use crate::proto::search::SearchKey;
use crate::session::Session;

pub fn search(
    s: &mut Session,
    _charset: Option<&str>,
    _keys: &[SearchKey],
    uid: bool,
) -> Result<Tagged, Error> {
    let Some(sel) = s.selected.as_ref() else {
        return Err(Error::bad("No mailbox selected."));
    };
    let numbers: Vec<u32> = if uid {
        sel.uids().to_vec()
    } else {
        (1..=sel.exists()).collect()
    };
    s.out.untagged().raw("SEARCH");
    for n in numbers {
        s.out.sp().number(n.into());
    }
    s.out.crlf();
    Ok(Tagged::ok("Search completed."))
}
