//! The part of SPDY/3.1 that port-forward needs (pure framing, no I/O): kubectl 1.31+ runs
//! port-forward as SPDY (moby/spdystream) tunnelled in a websocket, so the lab reads the
//! frames a client sends and writes the few a server answers with.
//!
//! Read: SYN_STREAM (its header block inflated with the SPDY/3 zlib dictionary, one zlib
//! stream for the whole connection), DATA, RST_STREAM, PING, GOAWAY; SETTINGS,
//! WINDOW_UPDATE and the rest are skipped (spdystream has no flow control), HEADERS and
//! SYN_REPLY blocks are still inflated to keep the zlib stream in step.
//! Written: SYN_REPLY with an empty header block, sent as zlib "stored" (uncompressed)
//! blocks ended by a sync-flush marker, which any inflater reads without the dictionary;
//! DATA; PING replies.

use bytes::{Buf, BytesMut};
use flate2::{Decompress, FlushDecompress};

/// The SPDY/3 header compression dictionary (from the SPDY/3 draft; Adler-32 0xe3c6a7c2).
const DICTIONARY: &[u8] = include_bytes!("spdy_dictionary.bin");

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
/// FLAG_FIN, on data and control frames alike.
const FIN: u8 = 0x01;

/// A frame the port-forward server acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    SynStream {
        id: u32,
        headers: Vec<(String, String)>,
    },
    Data {
        id: u32,
        fin: bool,
        data: bytes::Bytes,
    },
    Reset {
        id: u32,
    },
    Ping {
        id: u32,
    },
    GoAway,
    /// Anything else (SETTINGS, WINDOW_UPDATE, ...), already consumed.
    Skipped,
}

/// Why a connection's bytes are not SPDY/3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    #[error("SPDY version {0} is not supported (only 3)")]
    Version(u16),
    #[error("a SPDY header block could not be inflated")]
    Inflate,
    #[error("a SPDY frame is shorter than its fields")]
    Short,
}

/// Reads frames out of the bytes received so far.
pub struct Reader {
    buf: BytesMut,
    inflate: Decompress,
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            buf: BytesMut::new(),
            inflate: Decompress::new(true),
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, SpdyError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(SpdyError::Short)
}

impl Reader {
    /// Adds received bytes (one websocket message, or part of one).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let length = (u32_at(&self.buf, 4)? & 0x00ff_ffff) as usize;
        if self.buf.len() < 8 + length {
            return Ok(None);
        }
        let head = self.buf.split_to(8);
        let payload = self.buf.split_to(length).freeze();
        let flags = head[4];
        if head[0] & 0x80 == 0 {
            let id = u32_at(&head, 0)? & 0x7fff_ffff;
            return Ok(Some(Frame::Data {
                id,
                fin: flags & FIN != 0,
                data: payload,
            }));
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let id = || u32_at(&payload, 0).map(|i| i & 0x7fff_ffff);
        Ok(Some(match u16::from_be_bytes([head[2], head[3]]) {
            SYN_STREAM => {
                let block = payload.get(10..).ok_or(SpdyError::Short)?;
                let headers = parse_block(&self.inflate_block(block)?)?;
                Frame::SynStream { id: id()?, headers }
            }
            SYN_REPLY | HEADERS => {
                let block = payload.get(4..).ok_or(SpdyError::Short)?;
                self.inflate_block(block)?;
                Frame::Skipped
            }
            RST_STREAM => Frame::Reset { id: id()? },
            PING => Frame::Ping {
                id: u32_at(&payload, 0)?,
            },
            GOAWAY => Frame::GoAway,
            _ => Frame::Skipped,
        }))
    }

    /// Inflates one header block: the connection's zlib stream goes on across frames, and
    /// asks for the SPDY dictionary before its first bytes.
    fn inflate_block(&mut self, block: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(256));
            }
            let (in_before, out_before) = (self.inflate.total_in(), out.len());
            let result =
                self.inflate
                    .decompress_vec(&block[pos..], &mut out, FlushDecompress::Sync);
            pos += (self.inflate.total_in() - in_before) as usize;
            match result {
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(DICTIONARY)
                        .map_err(|_| SpdyError::Inflate)?;
                }
                Err(_) => return Err(SpdyError::Inflate),
                Ok(_) => {
                    let consumed_all = pos >= block.len();
                    if consumed_all && out.len() < out.capacity() {
                        return Ok(out);
                    }
                    let progressed =
                        self.inflate.total_in() != in_before || out.len() != out_before;
                    if !progressed {
                        return if consumed_all {
                            Ok(out)
                        } else {
                            Err(SpdyError::Inflate)
                        };
                    }
                }
            }
        }
    }
}

/// A decompressed header block: a count, then length-prefixed names and values.
fn parse_block(raw: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let mut b = raw;
    let word = |b: &mut &[u8]| -> Result<String, SpdyError> {
        if b.len() < 4 {
            return Err(SpdyError::Short);
        }
        let n = b.get_u32() as usize;
        let text = b.get(..n).ok_or(SpdyError::Short)?;
        let s = String::from_utf8_lossy(text).into_owned();
        b.advance(n);
        Ok(s)
    };
    if b.len() < 4 {
        return Err(SpdyError::Short);
    }
    let count = b.get_u32();
    let mut headers = Vec::new();
    for _ in 0..count {
        let name = word(&mut b)?;
        let value = word(&mut b)?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// The value of a header (names are lower case in SPDY/3).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    f.extend_from_slice(&kind.to_be_bytes());
    f.extend_from_slice(&((u32::from(flags) << 24) | payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Writes the server's frames; holds the state of its header compression stream.
#[derive(Default)]
pub struct Writer {
    zlib_started: bool,
}

impl Writer {
    /// SYN_REPLY accepting a stream, with no headers.
    pub fn syn_reply(&mut self, id: u32) -> Vec<u8> {
        let mut payload = (id & 0x7fff_ffff).to_be_bytes().to_vec();
        if !self.zlib_started {
            // zlib header: deflate, 32 KiB window, no preset dictionary.
            payload.extend_from_slice(&[0x78, 0x01]);
            self.zlib_started = true;
        }
        let block = 0u32.to_be_bytes();
        // One non-final stored block: header byte, LEN and its complement, little-endian.
        payload.push(0x00);
        let len = block.len() as u16;
        payload.extend_from_slice(&len.to_le_bytes());
        payload.extend_from_slice(&(!len).to_le_bytes());
        payload.extend_from_slice(&block);
        // Then an empty stored block, as a sync flush writes: Go's inflater hands a block's
        // bytes to the reader only when the next block starts, and must not read past the
        // frame to find it.
        payload.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        control(SYN_REPLY, 0, &payload)
    }
}

/// A DATA frame (at most 16 MiB - 1 of data; callers send smaller chunks).
pub fn data(id: u32, fin: bool, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.extend_from_slice(&(id & 0x7fff_ffff).to_be_bytes());
    let flags = if fin { FIN } else { 0 };
    f.extend_from_slice(&((u32::from(flags) << 24) | data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// The answer to a client's PING: the same frame back.
pub fn ping(id: u32) -> Vec<u8> {
    control(PING, 0, &id.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN_STREAM as spdystream writes it, around a header block compressed with the
    /// dictionary (these blocks come from zlib at level 9 with a sync flush, as Go's).
    fn syn_stream(id: u32, block_hex: &str) -> Vec<u8> {
        let block: Vec<u8> = (0..block_hex.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&block_hex[i..i + 2], 16).ok())
            .collect();
        let mut payload = id.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        payload.extend_from_slice(&block);
        control(SYN_STREAM, 0, &payload)
    }

    const ERROR_BLOCK: &str = "78f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e01c6061606100a4398b20d198094ade8c0600000000ffff";
    const DATA_BLOCK: &str = "c2aa19540e2512d60b000000ffff";

    #[test]
    fn the_dictionary_is_spdy3s() {
        assert_eq!(DICTIONARY.len(), 1423);
        assert!(DICTIONARY.ends_with(b"enq=0."));
    }

    #[test]
    fn stream_headers_inflate_with_the_dictionary_across_frames_and_split_reads() {
        let mut r = Reader::default();
        let mut bytes = syn_stream(1, ERROR_BLOCK);
        bytes.extend(syn_stream(3, DATA_BLOCK));
        bytes.extend(data(3, true, b"GET /"));
        // Fed in pieces, as websocket messages may cut them.
        let (a, b) = bytes.split_at(13);
        r.push(a);
        assert_eq!(r.next_frame(), Ok(None));
        r.push(b);
        let first = r.next_frame().expect("a frame").expect("complete");
        let Frame::SynStream { id, headers } = first else {
            panic!("{first:?}")
        };
        assert_eq!(id, 1);
        assert_eq!(header(&headers, "streamtype"), Some("error"));
        assert_eq!(header(&headers, "port"), Some("8080"));
        assert_eq!(header(&headers, "requestid"), Some("0"));
        let second = r.next_frame().expect("a frame").expect("complete");
        let Frame::SynStream { id, headers } = second else {
            panic!("{second:?}")
        };
        assert_eq!((id, header(&headers, "streamtype")), (3, Some("data")));
        assert_eq!(
            r.next_frame(),
            Ok(Some(Frame::Data {
                id: 3,
                fin: true,
                data: bytes::Bytes::from_static(b"GET /")
            }))
        );
        assert_eq!(r.next_frame(), Ok(None));
    }

    #[test]
    fn replies_are_stored_zlib_blocks_that_inflate_to_an_empty_header_block() {
        let mut w = Writer::default();
        let first = w.syn_reply(1);
        let second = w.syn_reply(3);
        assert_eq!(&first[..4], &[0x80, 0x03, 0x00, 0x02]);
        let mut z = Decompress::new(true);
        for frame in [&first, &second] {
            let mut out = Vec::with_capacity(64);
            z.decompress_vec(&frame[12..], &mut out, FlushDecompress::Sync)
                .expect("inflates");
            assert_eq!(out, [0, 0, 0, 0]);
        }
        assert_eq!(u32_at(&second, 8), Ok(3));
    }

    #[test]
    fn pings_and_resets_are_read() {
        let mut r = Reader::default();
        r.push(&ping(7));
        r.push(&control(RST_STREAM, 0, &[0, 0, 0, 5, 0, 0, 0, 5]));
        assert_eq!(r.next_frame(), Ok(Some(Frame::Ping { id: 7 })));
        assert_eq!(r.next_frame(), Ok(Some(Frame::Reset { id: 5 })));
    }
}
