//! CATENATE (RFC 4469) with URL-PARTIAL (RFC 5550): an APPEND message
//! built from literal text and pieces of the user's own messages, named by
//! IMAP URLs (RFC 5092).
//!
//! URLs are resolved only in the logged-in user's own store, by mailbox
//! name through its namespace: there is no way to name another user's
//! mail (absolute `imap://` URLs, which would need URLAUTH, are refused).
//! The result goes to memory while small and to a spool file in the
//! user's `tmp/` once it passes the reader's spool threshold, as big APPEND
//! literals do.

use std::fs::File;
use std::io::{Read, Write};

use crate::error::Error;
use crate::proto::encode::Code;
use crate::proto::reader::Spooled;
use crate::proto::types::CatPart;
use crate::session::Session;
use crate::store::{StoreError, Uid};

/// A message CATENATE built: in memory, or in a spool file.
pub(super) enum Built {
    Bytes(Vec<u8>),
    File(Spooled),
}

/// Builds one CATENATE message. `spooled` are the command's big literals
/// the reader wrote to files; a TEXT part takes the one at its position.
pub(super) fn build(
    s: &mut Session,
    parts: &[CatPart],
    spooled: &[Spooled],
) -> Result<Built, Error> {
    let limit = s.ctx.config.max_append_size as u64;
    let mut out = Output::new(limit);
    for part in parts {
        match part {
            CatPart::Text { data, at } => {
                match spooled.iter().find(|sp| data.is_empty() && sp.at == *at) {
                    Some(sp) => {
                        let file = File::open(&sp.path).map_err(|e| server(&sp.path, e))?;
                        out.copy_from(s, file)?;
                    }
                    None => out.push(s, data)?,
                }
            }
            CatPart::Url(url) => match resolve(s, url)? {
                Resolved::Bytes(bytes) => out.push(s, &bytes)?,
                Resolved::File(file, offset, length) => out.copy_range(s, file, offset, length)?,
            },
        }
    }
    out.finish()
}

fn server(path: &std::path::Path, e: std::io::Error) -> Error {
    Error::Server(format!("catenate {}: {e}", path.display()))
}

fn bad_url(url: &[u8]) -> Error {
    Error::no(Some(Code::BadUrl(url.to_vec())), "Bad IMAP URL.")
}

/// The message being built, with its size and RFC822.SIZE so far.
struct Output {
    mem: Vec<u8>,
    file: Option<(File, Spooled)>,
    size: u64,
    vsize: u64,
    last_cr: bool,
    limit: u64,
}

impl Output {
    fn new(limit: u64) -> Output {
        Output {
            mem: Vec::new(),
            file: None,
            size: 0,
            vsize: 0,
            last_cr: false,
            limit,
        }
    }

    fn push(&mut self, s: &mut Session, bytes: &[u8]) -> Result<(), Error> {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            return Err(Error::no(
                Some(Code::TooBig),
                format!("Message too big (max {} bytes).", self.limit),
            ));
        }
        for &b in bytes {
            if b == b'\n' && !self.last_cr {
                self.vsize += 1;
            }
            self.last_cr = b == b'\r';
        }
        self.vsize += bytes.len() as u64;
        if self.file.is_none() {
            self.mem.extend_from_slice(bytes);
            self.spill_if_big(s)?;
            return Ok(());
        }
        self.write(bytes)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some((file, sp)) = self.file.as_mut() {
            file.write_all(bytes).map_err(|e| server(&sp.path, e))?;
        }
        Ok(())
    }

    /// Past the spool threshold, what is in memory moves to a file.
    fn spill_if_big(&mut self, s: &mut Session) -> Result<(), Error> {
        let Some(opened) = s.reader.open_spool_if(self.mem.len() as u64) else {
            return Ok(());
        };
        let (file, path) = opened.map_err(|e| server(std::path::Path::new("tmp/"), e))?;
        let sp = Spooled {
            path,
            size: 0,
            vsize: 0,
            at: 0,
        };
        self.file = Some((file, sp));
        let mem = std::mem::take(&mut self.mem);
        self.write(&mem)
    }

    fn copy_from(&mut self, s: &mut Session, file: File) -> Result<(), Error> {
        self.copy_range(s, file, 0, None)
    }

    /// Copies `length` bytes (all with None) from `offset` on, in chunks:
    /// a whole message by URL is never held in memory.
    fn copy_range(
        &mut self,
        s: &mut Session,
        file: File,
        offset: u64,
        length: Option<u64>,
    ) -> Result<(), Error> {
        use std::io::{Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::Server(format!("catenate read: {e}")))?;
        let mut file = file.take(length.unwrap_or(u64::MAX));
        let mut buf = vec![0u8; 64 * 1024];
        // Bounded by the file's size, itself under the APPEND limit.
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Error::Server(format!("catenate read: {e}")))?;
            if n == 0 {
                return Ok(());
            }
            self.push(s, &buf[..n])?;
        }
    }

    fn finish(mut self) -> Result<Built, Error> {
        if self.size == 0 {
            return Err(Error::no(None, "Can't save a zero byte message."));
        }
        match self.file.take() {
            None => Ok(Built::Bytes(self.mem)),
            Some((file, mut sp)) => {
                // Durable before the client can hear OK for it.
                file.sync_all().map_err(|e| server(&sp.path, e))?;
                sp.size = self.size;
                sp.vsize = self.vsize;
                Ok(Built::File(sp))
            }
        }
    }
}

/// An IMAP URL as CATENATE takes it (RFC 5092 §6, RFC 5550 §5):
/// `/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]`, or the
/// same from `;UID=` on, relative to the selected mailbox.
#[derive(Debug, PartialEq, Eq)]
struct ImapUrl {
    mailbox: Option<String>,
    uidvalidity: Option<u32>,
    uid: u32,
    section: Option<Vec<u8>>,
    partial: Option<(u64, Option<u64>)>,
}

fn parse_url(url: &[u8]) -> Option<ImapUrl> {
    let text = std::str::from_utf8(url).ok()?;
    let (mailbox, uidvalidity, rest) = if let Some(path) = text.strip_prefix('/') {
        let (mbox, rest) = path.split_once("/;")?;
        let (enc, uidvalidity) = match mbox.split_once(';') {
            Some((enc, v)) => {
                let n = strip_key(v, "UIDVALIDITY=")?;
                (enc, Some(nz_number(n)?))
            }
            None => (mbox, None),
        };
        let name = String::from_utf8(percent_decode(enc)?).ok()?;
        if name.is_empty() {
            return None;
        }
        (Some(name), uidvalidity, rest)
    } else {
        (None, None, text.strip_prefix(';')?)
    };
    let mut fields = rest.split("/;");
    let uid = nz_number(strip_key(fields.next()?, "UID=")?)?;
    let mut section = None;
    let mut partial = None;
    let mut field = fields.next();
    if let Some(v) = field.and_then(|f| strip_key(f, "SECTION=")) {
        section = Some(percent_decode(v)?);
        field = fields.next();
    }
    if let Some(v) = field.and_then(|f| strip_key(f, "PARTIAL=")) {
        let (offset, length) = match v.split_once('.') {
            Some((o, l)) => (o, Some(nz_number(l)?.into())),
            None => (v, None),
        };
        partial = Some((offset.parse().ok()?, length));
        field = fields.next();
    }
    // Anything else (URLAUTH, EXPIRE, a search) is not for CATENATE here.
    if field.is_some() {
        return None;
    }
    Some(ImapUrl {
        mailbox,
        uidvalidity,
        uid,
        section,
        partial,
    })
}

fn strip_key<'a>(field: &'a str, key: &str) -> Option<&'a str> {
    let head = field.get(..key.len())?;
    head.eq_ignore_ascii_case(key).then(|| &field[key.len()..])
}

fn nz_number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// RFC 3986 `%XX` decoding.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// What a URL names: a section's bytes, or a range of a message file.
enum Resolved {
    Bytes(Vec<u8>),
    File(File, u64, Option<u64>),
}

/// What a URL names, from the user's own store; BADURL when it names
/// nothing (bad syntax, no such mailbox, UIDVALIDITY or message).
fn resolve(s: &mut Session, raw: &[u8]) -> Result<Resolved, Error> {
    let url = parse_url(raw).ok_or_else(|| bad_url(raw))?;
    let store = s.store()?;
    let mailbox = match &url.mailbox {
        Some(name) => {
            let name = store.namespace().parse(name).map_err(|_| bad_url(raw))?;
            if !store.exists(&name) {
                return Err(bad_url(raw));
            }
            match store.mailbox(&name) {
                Ok(m) => m,
                Err(StoreError::NotFound) => return Err(bad_url(raw)),
                Err(e) => return Err(e.into()),
            }
        }
        // RFC 4469 §5: relative to the selected mailbox.
        None => match s.selected.as_ref() {
            Some(sel) => sel.mailbox().clone(),
            None => return Err(bad_url(raw)),
        },
    };
    if let Some(v) = url.uidvalidity {
        if mailbox.uid_list().0 != v {
            return Err(bad_url(raw));
        }
    }
    let uid = Uid(url.uid);
    let Some((_, at)) = mailbox.message(uid, false)? else {
        return Err(bad_url(raw));
    };
    let mut path = at.path;
    if url.section.is_none() {
        // The whole message (or a PARTIAL of it): read as it is copied.
        let file = mailbox
            .read_file(uid, &mut path, |p| {
                super::common::file_read(p, File::open(p))
            })?
            .ok_or_else(|| bad_url(raw))?;
        let (offset, length) = url.partial.unwrap_or((0, None));
        return Ok(Resolved::File(file, offset, length));
    }
    let whole = mailbox
        .read_file(uid, &mut path, |p| {
            super::common::file_read(p, std::fs::read(p))
        })?
        .ok_or_else(|| bad_url(raw))?;
    let mut data = match &url.section {
        None => whole,
        Some(spec) => {
            let section =
                crate::proto::parse::parse_section_spec(spec).ok_or_else(|| bad_url(raw))?;
            let message = crate::mime::Message::parse(&whole);
            // A part that is not there is the client's mistake, not "".
            if !section.part.is_empty() && message.part(&section.part).is_none() {
                return Err(bad_url(raw));
            }
            message.section(&section).into_owned()
        }
    };
    if let Some((offset, length)) = url.partial {
        // RFC 5550 §5: past the end is empty; the length is cut at the end.
        let from = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let to = match length {
            Some(l) => from.saturating_add(usize::try_from(l).unwrap_or(usize::MAX)),
            None => data.len(),
        }
        .min(data.len());
        data = data[from..to].to_vec();
    }
    Ok(Resolved::Bytes(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let u = parse_url(b"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Drafts"));
        assert_eq!(u.uidvalidity, Some(385759045));
        assert_eq!(u.uid, 20);
        assert_eq!(u.section.as_deref(), Some(&b"1.MIME"[..]));
        let u = parse_url(b"/a%20b/;uid=3/;PARTIAL=10.5").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("a b"));
        assert_eq!(u.partial, Some((10, Some(5))));
        let u = parse_url(b";UID=7").unwrap();
        assert_eq!((u.mailbox, u.uid), (None, 7));
        for bad in [
            &b"imap://bob@host/INBOX/;UID=1"[..],
            b"/INBOX/;UID=0",
            b"/INBOX",
            b"/INBOX/;UID=1/;URLAUTH=anonymous",
            b"/INBOX/;UID=1/;PARTIAL=1.0",
            b"/%ZZ/;UID=1",
        ] {
            assert!(
                parse_url(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
