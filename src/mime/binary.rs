//! BINARY (RFC 3516): a part's body with its Content-Transfer-Encoding
//! undone. For a multipart or message/rfc822 part every leaf inside is
//! decoded and the header of each decoded leaf says
//! `Content-Transfer-Encoding: binary`, as Dovecot does it.
//!
//! Everything is served in CRLF form (§6: text lines end in CRLF) except
//! the content of `binary` parts in a file stored with CRLF line ends (as
//! Roost stores what clients send): it is not text, so it comes from the
//! bytes as stored and a bare LF in it stays a bare LF. In a file stored
//! with LF line ends (Dovecot, most MDAs) every LF stands for a CRLF.
//!
//! The decoders are strict on purpose: RFC 3516 §4.1 lets a server refuse
//! what it cannot decode, and Dovecot answers `NO [PARSE]` to base64 with
//! stray characters or quoted-printable with a bad `=` sequence. mailparse
//! decodes leniently (it would hand out bytes Dovecot refuses), so the two
//! small decoders here follow Dovecot's instead.

use super::decode::{self, cte_of, Cte};
use super::header::{self, Next};
use super::parser::Part;

/// Why a part cannot be served decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryError {
    /// An encoding we do not know: `NO [UNKNOWN-CTE]` (RFC 3516 §4.3).
    UnknownCte,
    /// Undecodable base64 or quoted-printable: `NO [PARSE]`.
    InvalidData,
}

/// A decoded section.
#[derive(Debug, PartialEq, Eq)]
pub struct Binary {
    pub data: Vec<u8>,
    /// Send as `literal8` (`~{n}`): something was decoded or the content
    /// has NUL bytes (RFC 3516 §4.2).
    pub literal8: bool,
}

/// The message a conversion reads.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    /// The CRLF form the part tree indexes.
    pub crlf: &'a [u8],
    /// The bytes as stored (`crlf` is `to_crlf` of them), if known.
    pub stored: Option<&'a [u8]>,
}

/// Whether a stored message uses CRLF line ends, judged by its first line.
fn first_line_ends_in_crlf(stored: &[u8]) -> bool {
    memchr::memchr(b'\n', stored).is_some_and(|i| i > 0 && stored[i - 1] == b'\r')
}

/// Maps offsets in the CRLF form back to the stored bytes: `to_crlf` put
/// one CR before each bare LF, so an offset moves back by the number of
/// CRs added before it.
struct StoredMap<'a> {
    bytes: &'a [u8],
    /// Offsets of the bare LFs in `bytes`, ascending.
    bare_lfs: Vec<usize>,
}

impl<'a> StoredMap<'a> {
    fn new(bytes: &'a [u8]) -> StoredMap<'a> {
        let bare_lfs = memchr::memchr_iter(b'\n', bytes)
            .filter(|&i| i == 0 || bytes[i - 1] != b'\r')
            .collect();
        StoredMap { bytes, bare_lfs }
    }

    fn offset(&self, crlf_pos: usize) -> usize {
        // The k-th added CR sits at bare_lfs[k] + k in the CRLF form, an
        // ascending sequence: binary search for how many lie before.
        let (mut lo, mut hi) = (0, self.bare_lfs.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.bare_lfs[mid] + mid < crlf_pos {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        crlf_pos.saturating_sub(lo)
    }

    /// The stored bytes of a CRLF range.
    fn slice(&self, start: usize, end: usize) -> Option<&'a [u8]> {
        self.bytes.get(self.offset(start)..self.offset(end))
    }
}

struct Converter<'a> {
    msg: &'a [u8],
    stored: Option<StoredMap<'a>>,
    /// Some binary content came from the stored bytes.
    from_stored: bool,
    parts: &'a [Part],
    out: Vec<u8>,
    /// Copying of unconverted bytes resumes here (0: nothing pending).
    copy_start: usize,
    has_nuls: bool,
    converted: bool,
    /// Undecodable content found so far. Dovecot notices it only when it
    /// reads the result, after every part was looked at, so an unknown
    /// encoding anywhere wins over it.
    invalid: bool,
}

/// Decodes part `idx`, with its header when `include_header`.
pub(crate) fn convert(
    source: Source<'_>,
    parts: &[Part],
    idx: usize,
    include_header: bool,
) -> Result<Binary, BinaryError> {
    let msg = source.crlf;
    let mut c = Converter {
        msg,
        // Only a message that had bare LFs differs from its CRLF form.
        stored: source
            .stored
            .filter(|s| s.len() != msg.len() && first_line_ends_in_crlf(s))
            .map(StoredMap::new),
        from_stored: false,
        parts,
        out: Vec::new(),
        copy_start: 0,
        has_nuls: false,
        converted: false,
        invalid: false,
    };
    c.add(idx, include_header)?;
    if c.invalid {
        return Err(BinaryError::InvalidData);
    }
    let literal8 = c.converted || c.has_nuls;
    let mut data = c.out;
    if !c.converted && !c.from_stored {
        // Nothing decoded: Dovecot serves the original bytes, cut to the
        // length of what it built (which differs only if a header of an
        // empty encoded part was rewritten).
        let from = parts.get(idx).map_or(0, |p| {
            if include_header {
                p.start
            } else {
                p.header_end
            }
        });
        let original = msg.get(from..).unwrap_or_default();
        data = original[..data.len().min(original.len())].to_vec();
    }
    if !literal8 {
        super::nul_to_0x80_in_place(&mut data);
    }
    Ok(Binary { data, literal8 })
}

impl Converter<'_> {
    fn copy_to(&mut self, end: usize) {
        if end > self.copy_start {
            if let Some(b) = self.msg.get(self.copy_start..end) {
                self.out.extend_from_slice(b);
            }
        }
    }

    fn add(&mut self, idx: usize, include_header: bool) -> Result<(), BinaryError> {
        let Some(part) = self.parts.get(idx) else {
            return Ok(());
        };
        // Dovecot reads this header on its own, past a boundary that cut
        // it short if need be.
        let raw_header = part.raw_header(self.msg);
        let (cte, nul) = cte_of(raw_header);
        self.has_nuls |= nul;
        if cte == Cte::Unknown {
            return Err(BinaryError::UnknownCte);
        }
        let decoded = matches!(cte, Cte::QuotedPrintable | Cte::Base64);
        if include_header {
            if decoded {
                // Dovecot's sentinel: nothing is copied before a decoded
                // part when nothing is pending.
                if self.copy_start != 0 {
                    self.copy_to(part.start);
                }
                self.out.extend(binary_header(raw_header));
            } else {
                self.copy_to(part.header_end);
            }
        }
        self.copy_start = part.header_end;
        if !part.children.is_empty() {
            for &child in &part.children {
                self.add(child, true)?;
            }
            self.copy_to(part.end);
            self.copy_start = part.end;
            return Ok(());
        }
        let body = self.msg.get(part.header_end..part.end).unwrap_or_default();
        if body.is_empty() {
            self.copy_start = part.end;
            return Ok(());
        }
        match cte {
            Cte::QuotedPrintable | Cte::Base64 => {
                let decoded = if cte == Cte::Base64 {
                    decode::base64_strict(body)
                } else {
                    decode::qp_strict(body)
                };
                match decoded {
                    Some(d) => self.out.extend_from_slice(&d),
                    None => self.invalid = true,
                }
                self.converted = true;
            }
            _ => {
                if self
                    .msg
                    .get(part.start..part.end)
                    .is_some_and(|b| b.contains(&0))
                {
                    self.has_nuls = true;
                }
                let stored = match (cte, &self.stored) {
                    (Cte::Binary, Some(map)) => map.slice(part.header_end, part.end),
                    _ => None,
                };
                match stored {
                    Some(exact) => {
                        self.out.extend_from_slice(exact);
                        self.from_stored = true;
                    }
                    None => self.out.extend_from_slice(body),
                }
            }
        }
        self.copy_start = part.end;
        Ok(())
    }
}

/// The header of a decoded leaf (read from its start up to an empty
/// line): its Content-Transfer-Encoding fields dropped,
/// `Content-Transfer-Encoding: binary` added before the empty line (a
/// header without one gets none).
fn binary_header(header_block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_block.len() + 40);
    let mut pos = 0;
    loop {
        match header::next(header_block, pos) {
            Next::Field(f) => {
                if !f.is("Content-Transfer-Encoding") {
                    out.extend_from_slice(&header_block[f.start..f.end]);
                }
                pos = f.end;
            }
            Next::Eoh(_) => {
                out.extend_from_slice(b"Content-Transfer-Encoding: binary\r\n\r\n");
                return out;
            }
            Next::Eof => return out,
        }
    }
}
