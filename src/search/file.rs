//! A message file read lazily for SEARCH: a `stat` for the date, the
//! header alone for header keys, the rest only when a body key or an
//! unknown size needs it.

use super::text::{self, Field, PartText};
use super::{MessageData, Stop};
use crate::mime::header::{self, Next};
use std::fs;
use std::io::Read;
use std::path::PathBuf;

/// A message file read lazily: a `stat` for the date, the header alone for
/// header keys, the rest only when a body key or an unknown size needs it.
/// Every byte is read at most once.
pub struct MessageFile {
    path: PathBuf,
    vsize: Option<u64>,
    learned_vsize: bool,
    file: Option<fs::File>,
    pub(super) bytes: Vec<u8>,
    pub(super) complete: bool,
    /// Where to resume looking for the end of the header.
    scan_from: usize,
    body_start: Option<usize>,
    fields: Option<Vec<Field>>,
    parts: Option<Vec<PartText>>,
    /// The header block from the FETCH cache, when a FETCH parsed this
    /// message before: header keys then read no file.
    cached_header: Option<std::sync::Arc<crate::store::cache::CachedMeta>>,
    /// The save date the store noted, if any (else the ctime).
    saved: Option<i64>,
}

/// Reads are this large; most headers fit in one.
const READ_CHUNK: usize = 16 * 1024;

impl MessageFile {
    /// `vsize` is the size the state already knows, if any.
    pub fn new(path: PathBuf, vsize: Option<u64>) -> MessageFile {
        MessageFile {
            path,
            vsize,
            learned_vsize: false,
            file: None,
            bytes: Vec::new(),
            complete: false,
            scan_from: 0,
            body_start: None,
            fields: None,
            parts: None,
            cached_header: None,
            saved: None,
        }
    }

    /// Uses a cached header block for header keys.
    pub fn with_cached(
        mut self,
        cached: Option<std::sync::Arc<crate::store::cache::CachedMeta>>,
    ) -> MessageFile {
        self.cached_header = cached;
        self
    }

    /// Uses the save date the store noted (RFC 8514).
    pub fn with_saved(mut self, saved: Option<i64>) -> MessageFile {
        self.saved = saved;
        self
    }

    /// The size computed by reading the file, when the state did not have
    /// one; the caller may keep it.
    pub fn learned_vsize(&self) -> Option<u64> {
        self.vsize.filter(|_| self.learned_vsize)
    }

    fn open(&mut self) -> Result<&mut fs::File, Stop> {
        if self.file.is_none() {
            self.file = Some(crate::store::nofollow::open(&self.path)?);
        }
        self.file.as_mut().ok_or(Stop::Gone)
    }

    /// Reads until the blank line after the header (or the end).
    fn read_header(&mut self) -> Result<usize, Stop> {
        loop {
            if let Some(start) = self.body_start {
                return Ok(start);
            }
            match header_end(&self.bytes, self.scan_from) {
                Ok(start) => self.body_start = Some(start),
                Err(resume) if self.complete => {
                    self.scan_from = resume;
                    self.body_start = Some(self.bytes.len());
                }
                Err(resume) => {
                    self.scan_from = resume;
                    self.read_more()?;
                }
            }
        }
    }

    fn read_more(&mut self) -> Result<(), Stop> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.open()?.read(&mut chunk)?;
        if n == 0 {
            self.complete = true;
        }
        self.bytes.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn read_all(&mut self) -> Result<&[u8], Stop> {
        if !self.complete {
            let mut rest = Vec::new();
            self.open()?.read_to_end(&mut rest)?;
            self.bytes.extend_from_slice(&rest);
            self.complete = true;
        }
        Ok(&self.bytes)
    }
}

impl MessageData for MessageFile {
    fn received(&mut self) -> Result<Option<i64>, Stop> {
        // Maildir keeps the internal date as the file's mtime.
        let meta = match &self.file {
            Some(f) => f.metadata()?,
            None => fs::metadata(&self.path)?,
        };
        let secs = match meta.modified()?.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64) - 1,
        };
        Ok(Some(secs))
    }

    fn email_id(&mut self) -> Result<Option<String>, Stop> {
        let name = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        Ok(Some(crate::store::maildir::email_id(name)))
    }

    fn saved(&mut self) -> Result<Option<i64>, Stop> {
        if self.saved.is_some() {
            return Ok(self.saved);
        }
        let meta = match &self.file {
            Some(f) => f.metadata()?,
            None => fs::metadata(&self.path)?,
        };
        Ok(Some(crate::store::maildir::save_date(&meta)))
    }

    fn size(&mut self) -> Result<Option<u64>, Stop> {
        if self.vsize.is_none() {
            let size = crate::store::maildir::crlf_size(self.read_all()?);
            self.vsize = Some(size);
            self.learned_vsize = true;
        }
        Ok(self.vsize)
    }

    fn header(&mut self) -> Result<Option<&[Field]>, Stop> {
        if self.fields.is_none() {
            let fields = match &self.cached_header {
                Some(c) => text::fields(&c.header, None),
                None => {
                    let end = self.read_header()?;
                    text::fields(&self.bytes[..end], None)
                }
            };
            self.fields = Some(fields);
        }
        Ok(self.fields.as_deref())
    }

    fn named(&mut self, name: &[u8]) -> Result<Option<Vec<Field>>, Stop> {
        // From the cached header, pick the fields out without building the
        // others (a warm SEARCH FROM looks at every message's header).
        if let (None, Some(c)) = (&self.fields, &self.cached_header) {
            return Ok(Some(text::fields(&c.header, Some(name))));
        }
        Ok(self.header()?.map(|fields| super::named_in(fields, name)))
    }

    fn parts(&mut self) -> Result<Option<&[PartText]>, Stop> {
        if self.parts.is_none() {
            let bytes = self.read_all()?;
            self.parts = Some(text::part_texts(&crate::mime::raw::to_crlf(bytes)));
        }
        Ok(self.parts.as_deref())
    }
}

/// Where the body starts in `bytes`: just past the header's empty line,
/// scanning fields from `from` (a field's start). `Err` gives where to
/// resume once more bytes have arrived (a field may go on in them).
fn header_end(bytes: &[u8], from: usize) -> Result<usize, usize> {
    let mut pos = from;
    loop {
        match header::next(bytes, pos) {
            Next::Eoh(end) => return Ok(end),
            Next::Eof => return Err(pos),
            Next::Field(f) if f.end >= bytes.len() => return Err(f.start),
            Next::Field(f) => pos = f.end,
        }
    }
}
