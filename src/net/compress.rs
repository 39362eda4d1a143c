//! COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951, no zlib header or
//! trailer, §4's "windowBits -8 to -15") in both directions, sitting between
//! IMAP and whatever carries the bytes (TLS or TCP).
//!
//! Memory per connection is fixed: the (de)compressor's own state, a small
//! buffer of compressed input and one of compressed output. Inflated bytes go
//! straight into the caller's buffer, so a few bytes that inflate to
//! gigabytes (a compression bomb) come out one buffer at a time and meet the
//! command reader's line and literal limits like any other input.
//!
//! Output is deflated as it is written and pushed out with a sync flush
//! (Z_SYNC_FLUSH) at every `flush`: each response reaches the client whole
//! at once, and nothing a client waits for stays in the compressor.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::io::{self, Read, Write};

/// How many compressed bytes one read from the layer below asks for.
const IN_CHUNK: usize = 16 * 1024;
/// Compressed input held without making progress before the stream is
/// declared corrupt (a deflate symbol never needs more than a few bytes).
const MAX_STALLED_INPUT: usize = 64 * 1024;
/// Size of the buffer compressed output is staged in.
const OUT_CHUNK: usize = 16 * 1024;
/// zlib's default level, as Dovecot uses; IMAP text compresses well at it.
const LEVEL: u32 = 6;

/// The compression state of one connection.
pub struct Deflate {
    deflater: Compress,
    inflater: Decompress,
    /// Compressed input not yet inflated: `inbuf[in_start..]`.
    inbuf: Vec<u8>,
    in_start: usize,
    /// Staging for compressed output; emptied before every call returns.
    outbuf: Box<[u8]>,
    /// Set once the client ended its deflate stream: reads report EOF.
    ended: bool,
    /// Compressed bytes received from and sent to the layer below.
    pub wire_in: u64,
    pub wire_out: u64,
}

impl Deflate {
    /// Starts compression. `pipelined` is what the client sent after the
    /// COMPRESS command before the server answered: already compressed.
    pub fn new(pipelined: Vec<u8>) -> Deflate {
        let mut inbuf = pipelined;
        inbuf.reserve(IN_CHUNK);
        Deflate {
            deflater: Compress::new(Compression::new(LEVEL), false),
            inflater: Decompress::new(false),
            wire_in: inbuf.len() as u64,
            inbuf,
            in_start: 0,
            outbuf: vec![0; OUT_CHUNK].into_boxed_slice(),
            ended: false,
            wire_out: 0,
        }
    }

    /// Inflates into `buf`, reading compressed bytes from `below` only when
    /// nothing already held decodes to output. So when this returns an error
    /// from `below` (a read timeout, say), no decodable input is left here:
    /// IDLE relies on that before it waits on the socket.
    pub fn read<S: Read>(&mut self, below: &mut S, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.ended {
                return Ok(0);
            }
            let (before_in, before_out) = (self.inflater.total_in(), self.inflater.total_out());
            // Called even with no input: the inflater may hold output that
            // did not fit into the previous buffer.
            let status = self
                .inflater
                .decompress(&self.inbuf[self.in_start..], buf, FlushDecompress::None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let consumed = (self.inflater.total_in() - before_in) as usize;
            let produced = (self.inflater.total_out() - before_out) as usize;
            self.in_start += consumed;
            if status == Status::StreamEnd {
                // The client closed its stream (no IMAP client does): EOF
                // after what it produced.
                self.ended = true;
            }
            if produced > 0 {
                return Ok(produced);
            }
            if consumed > 0 && self.in_start < self.inbuf.len() {
                continue;
            }
            if self.ended || self.refill(below)? == 0 {
                return Ok(0);
            }
        }
    }

    /// Reads more compressed input after what is left over.
    fn refill<S: Read>(&mut self, below: &mut S) -> io::Result<usize> {
        self.inbuf.drain(..self.in_start);
        self.in_start = 0;
        let held = self.inbuf.len();
        if held >= MAX_STALLED_INPUT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "deflate input makes no progress",
            ));
        }
        self.inbuf.resize(held + IN_CHUNK, 0);
        let res = below.read(&mut self.inbuf[held..]);
        let n = *res.as_ref().unwrap_or(&0);
        self.inbuf.truncate(held + n);
        self.wire_in += n as u64;
        res
    }

    /// Deflates all of `data`, sending whatever the compressor emits. Bytes
    /// it keeps back go out at the next `flush`.
    pub fn write<S: Write>(&mut self, below: &mut S, data: &[u8]) -> io::Result<()> {
        let mut fed = 0;
        while fed < data.len() {
            let (consumed, produced) = self.deflate(&data[fed..], FlushCompress::None)?;
            if consumed == 0 && produced == 0 {
                return Err(io::Error::other("deflate made no progress"));
            }
            fed += consumed;
            self.send(below, produced)?;
        }
        Ok(())
    }

    /// Sync-flushes the compressor (RFC 1951 empty stored block: the
    /// receiver can inflate everything sent so far) and the layer below.
    pub fn flush<S: Write>(&mut self, below: &mut S) -> io::Result<()> {
        // Done when the compressor no longer fills the whole buffer.
        loop {
            let (_, produced) = self.deflate(&[], FlushCompress::Sync)?;
            self.send(below, produced)?;
            if produced < self.outbuf.len() {
                break;
            }
        }
        below.flush()
    }

    /// One compressor call into `outbuf`: (input consumed, output produced).
    fn deflate(&mut self, input: &[u8], flush: FlushCompress) -> io::Result<(usize, usize)> {
        let (before_in, before_out) = (self.deflater.total_in(), self.deflater.total_out());
        self.deflater
            .compress(input, &mut self.outbuf, flush)
            .map_err(io::Error::other)?;
        Ok((
            (self.deflater.total_in() - before_in) as usize,
            (self.deflater.total_out() - before_out) as usize,
        ))
    }

    fn send<S: Write>(&mut self, below: &mut S, n: usize) -> io::Result<()> {
        if n > 0 {
            below.write_all(&self.outbuf[..n])?;
            self.wire_out += n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// The layer below: hands out queued chunks, then `WouldBlock`;
    /// collects what is written and counts flushes.
    #[derive(Default)]
    struct Pipe {
        input: VecDeque<Vec<u8>>,
        written: Vec<u8>,
        flushes: usize,
        eof: bool,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(mut chunk) = self.input.pop_front() else {
                return if self.eof {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.input.push_front(chunk.split_off(n));
            }
            Ok(n)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushes += 1;
            Ok(())
        }
    }

    /// A client's compressor: deflates `text` and sync-flushes.
    fn client_deflate(c: &mut Compress, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 1024);
        let mut fed = 0;
        loop {
            let before = c.total_in();
            c.compress_vec(&text[fed..], &mut out, FlushCompress::Sync)
                .unwrap();
            fed += (c.total_in() - before) as usize;
            if fed == text.len() && out.len() < out.capacity() {
                return out;
            }
            out.reserve(64 * 1024);
        }
    }

    /// Reads until `WouldBlock` or EOF; returns the bytes and whether EOF came.
    fn read_all(d: &mut Deflate, pipe: &mut Pipe, chunk: usize) -> (Vec<u8>, bool) {
        let mut got = Vec::new();
        let mut buf = vec![0; chunk];
        for _ in 0..1_000_000 {
            match d.read(pipe, &mut buf) {
                Ok(0) => return (got, true),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (got, false),
                Err(e) => panic!("{e}"),
            }
        }
        panic!("read did not stop");
    }

    fn inflate_all(data: &[u8]) -> Vec<u8> {
        let mut d = Decompress::new(false);
        let mut out = Vec::with_capacity(data.len() * 4 + 1024);
        loop {
            let before = d.total_in() as usize;
            d.decompress_vec(&data[before..], &mut out, FlushDecompress::Sync)
                .unwrap();
            if d.total_in() as usize == data.len() && out.len() < out.capacity() {
                return out;
            }
            out.reserve(out.capacity());
        }
    }

    #[test]
    fn every_flush_makes_all_output_decodable() {
        let mut d = Deflate::new(Vec::new());
        let mut pipe = Pipe::default();
        let mut expected = Vec::new();
        for i in 0..50 {
            let line = format!("* {i} FETCH (FLAGS (\\Seen) UID {i})\r\n");
            d.write(&mut pipe, line.as_bytes()).unwrap();
            expected.extend_from_slice(line.as_bytes());
            if i % 7 == 0 {
                d.flush(&mut pipe).unwrap();
                // Whatever was written so far inflates completely.
                assert_eq!(inflate_all(&pipe.written), expected);
            }
        }
        d.flush(&mut pipe).unwrap();
        assert_eq!(inflate_all(&pipe.written), expected);
        assert_eq!(d.wire_out, pipe.written.len() as u64);
        assert_eq!(pipe.flushes, 9);
        // A sync flush ends in the empty stored block 00 00 FF FF.
        assert!(pipe.written.ends_with(&[0, 0, 0xff, 0xff]));
    }

    #[test]
    fn large_incompressible_output_is_complete_after_flush() {
        let mut d = Deflate::new(Vec::new());
        let mut pipe = Pipe::default();
        // A cheap pseudo-random sequence: deflate cannot shrink it.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let data: Vec<u8> = (0..3_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        d.write(&mut pipe, &data).unwrap();
        d.flush(&mut pipe).unwrap();
        assert_eq!(inflate_all(&pipe.written), data);
    }

    #[test]
    fn pipelined_bytes_and_split_input_are_inflated() {
        let mut client = Compress::new(Compression::fast(), false);
        let first = client_deflate(&mut client, b"a SELECT INBOX\r\n");
        let second = client_deflate(&mut client, b"b NOOP\r\nc IDLE\r\nDONE\r\n");
        let sent = first.len() + second.len();
        // The first command came in the same packet as COMPRESS.
        let mut d = Deflate::new(first);
        let mut pipe = Pipe::default();
        // The rest arrives a byte at a time.
        for b in &second {
            pipe.input.push_back(vec![*b]);
        }
        let (got, eof) = read_all(&mut d, &mut pipe, 7);
        assert!(!eof);
        assert_eq!(got, b"a SELECT INBOX\r\nb NOOP\r\nc IDLE\r\nDONE\r\n");
        assert_eq!(d.wire_in, sent as u64);
    }

    #[test]
    fn would_block_means_nothing_decodable_is_left() {
        let mut client = Compress::new(Compression::default(), false);
        let idle = client_deflate(&mut client, b"a IDLE\r\n");
        let done = client_deflate(&mut client, b"DONE\r\n");
        let mut d = Deflate::new(Vec::new());
        let mut pipe = Pipe::default();
        // Both in one packet, read through a buffer too small for both.
        pipe.input.push_back([idle, done].concat());
        let mut buf = [0u8; 4];
        let mut got = Vec::new();
        loop {
            match d.read(&mut pipe, &mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                    break;
                }
            }
        }
        assert_eq!(got, b"a IDLE\r\nDONE\r\n");
    }

    #[test]
    fn a_compression_bomb_comes_out_one_buffer_at_a_time() {
        let mut client = Compress::new(Compression::best(), false);
        // 16 MiB of one byte deflates to a few KiB.
        let zeros = vec![b'a'; 16 << 20];
        let bomb = client_deflate(&mut client, &zeros);
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let mut d = Deflate::new(Vec::new());
        let mut pipe = Pipe::default();
        pipe.input.push_back(bomb);
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0usize;
        for _ in 0..zeros.len() {
            let Ok(n) = d.read(&mut pipe, &mut buf) else {
                break;
            };
            assert!(n > 0 && n <= buf.len());
            total += n;
            // The compressed input held never grows past two reads' worth.
            assert!(d.inbuf.capacity() <= 2 * IN_CHUNK);
        }
        assert_eq!(total, zeros.len());
    }

    #[test]
    fn garbage_is_an_error_and_eof_is_eof() {
        let mut d = Deflate::new(b"\xff\xff\xff\xff not deflate".to_vec());
        let mut pipe = Pipe::default();
        let err = d.read(&mut pipe, &mut [0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let mut d = Deflate::new(Vec::new());
        let mut pipe = Pipe {
            eof: true,
            ..Pipe::default()
        };
        assert_eq!(d.read(&mut pipe, &mut [0u8; 64]).unwrap(), 0);
    }

    #[test]
    fn a_finished_client_stream_reads_as_eof() {
        let mut client = Compress::new(Compression::default(), false);
        let mut data = Vec::with_capacity(1024);
        client
            .compress_vec(b"a LOGOUT\r\n", &mut data, FlushCompress::Finish)
            .unwrap();
        let mut d = Deflate::new(data);
        let mut pipe = Pipe::default();
        let (got, eof) = read_all(&mut d, &mut pipe, 64);
        assert_eq!(got, b"a LOGOUT\r\n");
        assert!(eof);
    }
}
