//! SEARCH keys (RFC 3501 §6.4.4): the `search-key` grammar and its parser.
//! (Being written; this stub accepts only ALL.)

use super::parse::{Expected, Parser};
use super::types::CommandBody;

/// `search-key` (RFC 3501 §9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    All,
}

impl Parser<'_> {
    /// `search = "SEARCH" [SP "CHARSET" SP astring] 1*(SP search-key)`
    pub(crate) fn search(&mut self, uid: bool) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let word = self.atom().ok_or(Expected("search key"))?;
        if !word.eq_ignore_ascii_case(b"ALL") {
            return Err(Expected("search key"));
        }
        Ok(CommandBody::Search {
            charset: None,
            keys: vec![SearchKey::All],
            uid,
        })
    }
}
