//! The SORT and THREAD grammar (RFC 5256 §5, RFC 5957 §3): sort criteria
//! or a threading algorithm, a charset, then a search program parsed as
//! SEARCH parses it.

use super::{Expected, Parser};
use crate::proto::types::{CommandBody, SearchKey, SortCriterion, SortKey, ThreadAlgorithm};

impl Parser<'_> {
    /// `sort = ["UID" SP] "SORT" SP sort-criteria SP search-charset
    /// 1*(SP search-key)`
    /// `sort = ["UID" SP] "SORT" SP [sort-return-opts SP] sort-criteria
    /// SP search-charset 1*(SP search-key)` (RFC 5267 §3 adds the RETURN
    /// options, SEARCH's).
    pub(crate) fn sort(&mut self, uid: bool) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let ret = self.search_return()?;
        if ret.is_some_and(|r| r.save) {
            // RFC 5267 does not define SAVE for SORT (Dovecot refuses it too).
            return Err(Expected("MIN, MAX, ALL, COUNT or PARTIAL"));
        }
        let criteria = self.sort_criteria()?;
        let (charset, keys) = self.charset_and_keys()?;
        Ok(CommandBody::Sort {
            criteria,
            charset,
            keys,
            uid,
            ret,
        })
    }

    /// `thread = ["UID" SP] "THREAD" SP thread-alg SP search-charset
    /// 1*(SP search-key)`
    pub(crate) fn thread(&mut self, uid: bool) -> Result<CommandBody, Expected> {
        self.expect_sp()?;
        let name = self.atom().ok_or(Expected("threading algorithm"))?;
        let algorithm = match name.to_ascii_uppercase().as_slice() {
            b"ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
            b"REFERENCES" => ThreadAlgorithm::References,
            b"REFS" => ThreadAlgorithm::Refs,
            _ => return Err(Expected("ORDEREDSUBJECT, REFERENCES or REFS")),
        };
        let (charset, keys) = self.charset_and_keys()?;
        Ok(CommandBody::Thread {
            algorithm,
            charset,
            keys,
            uid,
        })
    }

    /// `sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"`
    fn sort_criteria(&mut self) -> Result<Vec<SortCriterion>, Expected> {
        self.expect(b'(', "( before sort criteria")?;
        let mut criteria = Vec::new();
        let mut reverse = false;
        loop {
            let word = self.atom().ok_or(Expected("sort key"))?;
            let key = match word.to_ascii_uppercase().as_slice() {
                b"REVERSE" if !reverse => {
                    reverse = true;
                    self.expect_sp()?;
                    continue;
                }
                b"ARRIVAL" => SortKey::Arrival,
                b"CC" => SortKey::Cc,
                b"DATE" => SortKey::Date,
                b"FROM" => SortKey::From,
                b"SIZE" => SortKey::Size,
                b"SUBJECT" => SortKey::Subject,
                b"TO" => SortKey::To,
                b"DISPLAYFROM" => SortKey::DisplayFrom,
                b"DISPLAYTO" => SortKey::DisplayTo,
                _ => return Err(Expected("sort key")),
            };
            criteria.push(SortCriterion { reverse, key });
            reverse = false;
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    return Ok(criteria);
                }
                _ => self.expect_sp()?,
            }
        }
    }

    /// `SP search-charset 1*(SP search-key)`
    fn charset_and_keys(&mut self) -> Result<(String, Vec<SearchKey>), Expected> {
        self.expect_sp()?;
        let name = self.astring().map_err(|_| Expected("charset name"))?;
        let charset = String::from_utf8_lossy(&name).into_owned();
        self.expect_sp()?;
        let mut keys = vec![self.search_key(0)?];
        while self.peek() == Some(b' ') {
            self.pos += 1;
            keys.push(self.search_key(0)?);
        }
        Ok((charset, keys))
    }
}
