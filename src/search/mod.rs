//! SEARCH evaluation (RFC 3501 §6.4.4): parsed keys become a [`Query`],
//! which decides message by message whether it matches.
//!
//! # Cheap first
//!
//! Keys compile into a tree of AND / OR / NOT over leaves, and each leaf is
//! ranked by what it needs: flags and numbers (free), the file's mtime or
//! size (a `stat`, or nothing when the name carries `,W=`), the header (a
//! partial read), the whole message. AND and OR try their children
//! cheapest first and stop once the outcome is known, so `UNSEEN FROM x`
//! reads only the unseen messages' headers.
//!
//! # Three-valued logic
//!
//! As in Dovecot, a leaf whose data cannot be had (the message was
//! expunged by another session but still has its number here) is
//! *unknown*: NOT unknown is unknown, and a message matches only when the
//! whole query is true. Because that logic is monotone, a first pass that
//! knows only flags and sizes settles every message whose outcome does not
//! depend on the rest, and only the others are read ([`IndexOnly`], then
//! [`MessageFile`]).
//!
//! # Dates
//!
//! SINCE, ON and BEFORE compare the UTC calendar day of the internal date
//! (the file's mtime), the zone Roost shows INTERNALDATE in; Dovecot uses
//! the server's local zone, which is the same on a UTC host. SENT* compare
//! the day written in the Date header, whatever its zone (RFC 3501
//! §6.4.4).
//!
//! # Text
//!
//! Strings match as substrings of decoded text: RFC 2047 encoded words,
//! base64 and quoted-printable bodies, charsets converted to UTF-8. Both
//! sides are folded as Dovecot's i;unicode-casemap does it (RFC 5051:
//! titlecase, then decompose), so `é` matches `É`, and `cafe` matches the
//! start of `café`. Which text each key sees follows Dovecot 2.3: see
//! [`text`] and [`address`]. Messages are read through [`crate::mime`],
//! so SEARCH sees the parts FETCH shows.
//!
//! # Layout
//!
//! This file: what a search is evaluated against ([`MessageData`], the
//! first pass [`IndexOnly`]). `program`: keys compiled into a tree and
//! evaluated. `file`: a message file read lazily. `text`: header fields
//! and part texts. `address`: the address form FROM/TO/CC/BCC match.
//! `fold`: case folding.

mod address;
mod file;
pub mod fold;
mod program;
mod text;

pub use file::MessageFile;
pub use program::{indexed_field_texts, Query};
pub use text::{fields as header_fields, part_texts, Field, PartText};

use crate::store::maildir::Flags;
use std::io;

/// The charsets listed in `[BADCHARSET (...)]`: the usual names of those
/// the decoder knows. SEARCH CHARSET accepts any name or alias of them
/// ([`crate::mime::decode::charset_known`]) and converts the search
/// strings to UTF-8, as Dovecot does through iconv.
pub const CHARSETS: &[&str] = &[
    "US-ASCII",
    "UTF-8",
    "UTF-16BE",
    "UTF-16LE",
    "ISO-8859-1",
    "ISO-8859-2",
    "ISO-8859-3",
    "ISO-8859-4",
    "ISO-8859-5",
    "ISO-8859-6",
    "ISO-8859-7",
    "ISO-8859-8",
    "ISO-8859-9",
    "ISO-8859-10",
    "ISO-8859-13",
    "ISO-8859-14",
    "ISO-8859-15",
    "ISO-8859-16",
    "WINDOWS-1250",
    "WINDOWS-1251",
    "WINDOWS-1252",
    "WINDOWS-1253",
    "WINDOWS-1254",
    "WINDOWS-1255",
    "WINDOWS-1256",
    "WINDOWS-1257",
    "WINDOWS-1258",
    "KOI8-R",
    "KOI8-U",
    "GB2312",
    "GBK",
    "GB18030",
    "BIG5",
    "SHIFT_JIS",
    "EUC-JP",
    "EUC-KR",
    "ISO-2022-JP",
];

/// Why a query cannot run.
#[derive(Debug, PartialEq, Eq)]
pub enum CompileError {
    /// A charset the decoder does not know: RFC 3501 §6.4.4 asks for a
    /// tagged NO with the BADCHARSET code.
    BadCharset,
    /// A search string is not valid UTF-8 (no CHARSET, or UTF-8).
    NotUtf8,
}

/// What the numbers in sequence sets refer to: the session's view.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    /// Messages in the view (the value of `*` for sequence numbers).
    pub exists: u32,
    /// The highest UID in the view (the value of `*` for UIDs).
    pub last_uid: u32,
}

/// What is known about a message without reading it.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub msn: u32,
    pub uid: u32,
    pub flags: Flags,
    pub recent: bool,
    /// RFC 7162 mod-sequence (0 for a message expunged meanwhile).
    pub modseq: u64,
}

/// Why evaluating a message stopped.
#[derive(Debug)]
pub enum Stop {
    /// The file is gone: renamed by a flag change or expunged. The caller
    /// can look the message up again and retry.
    Gone,
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        if crate::store::nofollow::is_gone(&e) {
            Stop::Gone
        } else {
            Stop::Io(e)
        }
    }
}

/// A message's contents as far as a source can supply them; `Ok(None)`
/// means "not available", which makes the leaf unknown.
pub trait MessageData {
    /// The internal date, in seconds since 1970-01-01 UTC.
    fn received(&mut self) -> Result<Option<i64>, Stop>;
    /// RFC 8514 save date, in seconds since 1970-01-01 UTC; sources that
    /// cannot tell leave the leaf unknown.
    fn saved(&mut self) -> Result<Option<i64>, Stop> {
        Ok(None)
    }
    /// RFC 8474 EMAILID; sources without a file name cannot tell.
    fn email_id(&mut self) -> Result<Option<String>, Stop> {
        Ok(None)
    }
    /// RFC822.SIZE.
    fn size(&mut self) -> Result<Option<u64>, Stop>;
    /// The top-level header fields.
    fn header(&mut self) -> Result<Option<&[Field]>, Stop>;
    /// Every MIME part's searchable text.
    fn parts(&mut self) -> Result<Option<&[PartText]>, Stop>;
    /// The top-level fields called `name` (case-insensitively). Sources
    /// that can pick them out without parsing the whole header do so.
    fn named(&mut self, name: &[u8]) -> Result<Option<Vec<Field>>, Stop> {
        Ok(self.header()?.map(|fields| named_in(fields, name)))
    }
}

/// The fields called `name` among `fields`.
fn named_in(fields: &[Field], name: &[u8]) -> Vec<Field> {
    fields
        .iter()
        .filter(|f| f.name().eq_ignore_ascii_case(name))
        .cloned()
        .collect()
}

/// The first pass: nothing is read, only a size the file name gave.
pub struct IndexOnly {
    pub vsize: Option<u64>,
}

impl MessageData for IndexOnly {
    fn received(&mut self) -> Result<Option<i64>, Stop> {
        Ok(None)
    }
    fn size(&mut self) -> Result<Option<u64>, Stop> {
        Ok(self.vsize)
    }
    fn header(&mut self) -> Result<Option<&[Field]>, Stop> {
        Ok(None)
    }
    fn parts(&mut self) -> Result<Option<&[PartText]>, Stop> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
