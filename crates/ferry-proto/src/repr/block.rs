//! MODE B (block), RFC 959 §3.4.2.
//!
//! Every block is a 3-byte header, then `count` data bytes:
//!
//! ```text
//! +----------------+----------------+----------------+
//! | descriptor (8) |       byte count (16, MSB first) |
//! +----------------+----------------+----------------+
//! ```
//!
//! Descriptor bits: 128 end of record (on the last block of a record), 64 end of file (on the
//! last block), 32 suspected errors (the data is still delivered; the decoder counts them),
//! 16 restart marker (the block's data is the marker, not file data). Other bits are
//! reserved and rejected. The end of file is the EOF flag, not the close of the connection:
//! a connection closed before it is a truncated transfer.

use super::{FrameEncoder, FrameSink, ReprError, MAX_MARKER};

const EOR: u8 = 0x80;
const EOF: u8 = 0x40;
const SUSPECT: u8 = 0x20;
const MARK: u8 = 0x10;

/// Largest data block the encoder writes by default.
pub const DEFAULT_BLOCK_SIZE: usize = 32 * 1024;

/// Frames data, records, markers and the end of file as blocks.
#[derive(Debug, Clone)]
pub struct BlockEncoder {
    block_size: usize,
    buf: Vec<u8>,
    buf_eor: bool,
}

impl Default for BlockEncoder {
    fn default() -> Self {
        Self::new(DEFAULT_BLOCK_SIZE)
    }
}

impl BlockEncoder {
    /// An encoder writing blocks of at most `block_size` bytes (clamped to 1..=65535).
    pub fn new(block_size: usize) -> Self {
        Self {
            block_size: block_size.clamp(1, 0xFFFF),
            buf: Vec::new(),
            buf_eor: false,
        }
    }

    fn block(desc: u8, data: &[u8], out: &mut Vec<u8>) {
        let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
        out.push(desc);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(data.get(..usize::from(len)).unwrap_or(data));
    }

    /// Writes out the buffered block (with its EOR flag) if there is one.
    fn flush(&mut self, out: &mut Vec<u8>) {
        if self.buf_eor || !self.buf.is_empty() {
            let desc = if std::mem::take(&mut self.buf_eor) {
                EOR
            } else {
                0
            };
            Self::block(desc, &self.buf, out);
            self.buf.clear();
        }
    }
}

impl FrameEncoder for BlockEncoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if self.buf_eor {
            self.flush(out);
        }
        let mut rest = data;
        while !rest.is_empty() {
            let room = self.block_size.saturating_sub(self.buf.len());
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.buf.extend_from_slice(now);
            rest = later;
            if self.buf.len() >= self.block_size && !rest.is_empty() {
                self.flush(out);
            }
        }
    }
    fn end_of_record(&mut self, out: &mut Vec<u8>) -> Result<(), ReprError> {
        if self.buf_eor {
            self.flush(out);
        }
        self.buf_eor = true;
        Ok(())
    }
    fn marker(&mut self, marker: &[u8], out: &mut Vec<u8>) -> Result<(), ReprError> {
        if marker.is_empty() || marker.len() > MAX_MARKER {
            return Err(ReprError::InvalidMarker);
        }
        self.flush(out);
        Self::block(MARK, marker, out);
        Ok(())
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        let desc = if std::mem::take(&mut self.buf_eor) {
            EOR | EOF
        } else {
            EOF
        };
        Self::block(desc, &self.buf, out);
        self.buf.clear();
    }
}

#[derive(Debug, Clone)]
enum State {
    Header { got: [u8; 3], len: usize },
    Data { desc: u8, left: usize },
    Marker { left: usize, buf: Vec<u8> },
    Done,
}

/// Reads blocks back into data, records, markers and the end of file.
#[derive(Debug, Clone)]
pub struct BlockDecoder {
    state: State,
    suspect_blocks: u64,
}

impl Default for BlockDecoder {
    fn default() -> Self {
        Self {
            state: State::Header {
                got: [0; 3],
                len: 0,
            },
            suspect_blocks: 0,
        }
    }
}

impl BlockDecoder {
    /// How many blocks arrived flagged "suspected errors" (their data was kept).
    pub fn suspect_blocks(&self) -> u64 {
        self.suspect_blocks
    }

    fn end_block(&mut self, desc: u8, sink: &mut dyn FrameSink) -> Result<(), ReprError> {
        if desc & EOR != 0 {
            sink.end_of_record()?;
        }
        if desc & EOF != 0 {
            self.state = State::Done;
            sink.end_of_file()?;
        } else {
            self.state = State::Header {
                got: [0; 3],
                len: 0,
            };
        }
        Ok(())
    }

    /// Decodes a chunk of the data connection.
    pub fn decode(&mut self, input: &[u8], sink: &mut dyn FrameSink) -> Result<(), ReprError> {
        let mut rest = input;
        loop {
            match &mut self.state {
                State::Done => {
                    return if rest.is_empty() {
                        Ok(())
                    } else {
                        Err(ReprError::DataAfterEof)
                    };
                }
                State::Header { got, len } => {
                    let Some((&b, tail)) = rest.split_first() else {
                        return Ok(());
                    };
                    rest = tail;
                    if let Some(slot) = got.get_mut(*len) {
                        *slot = b;
                    }
                    *len += 1;
                    if *len < 3 {
                        continue;
                    }
                    let [desc, hi, lo] = *got;
                    let count = usize::from(u16::from_be_bytes([hi, lo]));
                    if desc & 0x0F != 0 || (desc & MARK != 0 && desc & (EOR | EOF) != 0) {
                        return Err(ReprError::InvalidDescriptor(desc));
                    }
                    if desc & SUSPECT != 0 {
                        self.suspect_blocks += 1;
                    }
                    if desc & MARK != 0 {
                        if count == 0 || count > MAX_MARKER {
                            return Err(ReprError::InvalidMarker);
                        }
                        self.state = State::Marker {
                            left: count,
                            buf: Vec::with_capacity(count),
                        };
                    } else if count == 0 {
                        self.end_block(desc, sink)?;
                    } else {
                        self.state = State::Data { desc, left: count };
                    }
                }
                State::Data { desc, left } => {
                    if rest.is_empty() {
                        return Ok(());
                    }
                    let (now, tail) = rest.split_at((*left).min(rest.len()));
                    rest = tail;
                    *left -= now.len();
                    let (desc, finished) = (*desc, *left == 0);
                    sink.data(now)?;
                    if finished {
                        self.end_block(desc, sink)?;
                    }
                }
                State::Marker { left, buf } => {
                    if rest.is_empty() {
                        return Ok(());
                    }
                    let (now, tail) = rest.split_at((*left).min(rest.len()));
                    rest = tail;
                    *left -= now.len();
                    buf.extend_from_slice(now);
                    if *left == 0 {
                        let marker = std::mem::take(buf);
                        self.state = State::Header {
                            got: [0; 3],
                            len: 0,
                        };
                        sink.marker(&marker)?;
                    }
                }
            }
        }
    }

    /// The data connection closed: an error unless the EOF block was seen.
    pub fn finish(&mut self, _sink: &mut dyn FrameSink) -> Result<(), ReprError> {
        match self.state {
            State::Done => Ok(()),
            State::Header { len: 0, .. } => Err(ReprError::MissingEof),
            _ => Err(ReprError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Collect, Ev};
    use super::*;

    #[test]
    fn encoder_vectors() {
        let mut e = BlockEncoder::new(4);
        let mut out = Vec::new();
        e.data(b"abcdef", &mut out);
        assert!(e.end_of_record(&mut out).is_ok());
        assert!(e.marker(b"1234", &mut out).is_ok());
        e.data(b"g", &mut out);
        e.finish(&mut out);
        assert_eq!(
            out,
            b"\x00\x00\x04abcd\x80\x00\x02ef\x10\x00\x041234\x40\x00\x01g".to_vec()
        );

        let mut e = BlockEncoder::default();
        let mut out = Vec::new();
        e.data(b"rec", &mut out);
        assert!(e.end_of_record(&mut out).is_ok());
        e.finish(&mut out);
        assert_eq!(out, b"\xc0\x00\x03rec");

        let mut e = BlockEncoder::default();
        let mut out = Vec::new();
        e.finish(&mut out);
        assert_eq!(out, b"\x40\x00\x00");
        assert_eq!(e.marker(b"", &mut out), Err(ReprError::InvalidMarker));
    }

    fn decode(chunks: &[&[u8]]) -> Result<Vec<Ev>, ReprError> {
        let mut d = BlockDecoder::default();
        let mut c = Collect::default();
        for ch in chunks {
            d.decode(ch, &mut c)?;
        }
        d.finish(&mut c)?;
        Ok(c.events())
    }

    #[test]
    fn decoder_vectors() {
        use Ev::*;
        assert_eq!(
            decode(&[
                b"\x00\x00",
                b"\x04ab",
                b"cd\x80\x00\x02ef\x10\x00\x041234\x40\x00\x01g"
            ]),
            Ok(vec![
                Data(b"abcdef".to_vec()),
                Eor,
                Marker(b"1234".to_vec()),
                Data(b"g".to_vec()),
                Eof
            ])
        );
        assert_eq!(
            decode(&[b"\x20\x00\x01x\x40\x00\x00"]),
            Ok(vec![Data(b"x".to_vec()), Eof])
        );
        assert_eq!(
            decode(&[b"\x01\x00\x00"]),
            Err(ReprError::InvalidDescriptor(1))
        );
        assert_eq!(
            decode(&[b"\x50\x00\x01x"]),
            Err(ReprError::InvalidDescriptor(0x50))
        );
        assert_eq!(decode(&[b"\x10\x00\x00"]), Err(ReprError::InvalidMarker));
        assert_eq!(decode(&[b"\x00\x00\x05abc"]), Err(ReprError::Truncated));
        assert_eq!(decode(&[b"\x00\x00\x01a"]), Err(ReprError::MissingEof));
        assert_eq!(decode(&[b"\x40\x00\x00z"]), Err(ReprError::DataAfterEof));
    }
}
