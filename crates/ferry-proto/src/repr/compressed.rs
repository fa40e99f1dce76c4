//! MODE C (compressed), RFC 959 §3.4.3.
//!
//! The stream is a sequence of headers:
//!
//! | header byte | meaning                                                         |
//! |-------------|-----------------------------------------------------------------|
//! | `0nnnnnnn`  | n (1..=127) data bytes follow                                   |
//! | `10nnnnnn`  | the next byte is repeated n times                               |
//! | `11nnnnnn`  | n filler bytes (space for TYPE A and E, zero for TYPE I and L)  |
//! | `00000000`  | escape: the next byte is a MODE B descriptor (EOR 128, EOF 64,  |
//! |             | suspected errors 32, restart marker 16)                         |
//!
//! A restart marker is the escape with descriptor 16 followed by one `0nnnnnnn` data header
//! whose bytes are the marker. The end of file is the escape with the EOF bit; the encoder
//! merges a final end of record into it (`00 C0`). The filler byte is the wire form of a
//! space: 0x20 for TYPE A, 0x40 for TYPE E, 0x00 for TYPE I and L.
//!
//! The encoder turns runs of at least [`MIN_RUN`] equal bytes into replicated-byte (or
//! filler) headers and everything else into data headers; its state is one partial literal
//! (at most 127 bytes) and one partial run.

use super::{FrameEncoder, FrameSink, ReprError};

const EOR: u8 = 0x80;
const EOF: u8 = 0x40;
const SUSPECT: u8 = 0x20;
const MARK: u8 = 0x10;
const MAX_LITERAL: usize = 127;
const MAX_RUN: u8 = 63;
/// Shortest run of equal bytes the encoder sends as a replicated-byte header.
pub const MIN_RUN: u8 = 3;

/// Frames data, records, markers and the end of file in compressed mode.
#[derive(Debug, Clone)]
pub struct CompressedEncoder {
    filler: u8,
    literal: Vec<u8>,
    run: Option<(u8, u8)>,
    pending_eor: bool,
}

impl CompressedEncoder {
    /// An encoder whose filler byte is `filler` (see the module docs).
    pub fn new(filler: u8) -> Self {
        Self {
            filler,
            literal: Vec::with_capacity(MAX_LITERAL),
            run: None,
            pending_eor: false,
        }
    }

    fn flush_literal(&mut self, out: &mut Vec<u8>) {
        if !self.literal.is_empty() {
            // Never more than 127 bytes: push_literal flushes at that size.
            out.push(self.literal.len() as u8 & 0x7F);
            out.extend_from_slice(&self.literal);
            self.literal.clear();
        }
    }

    fn push_literal(&mut self, b: u8, out: &mut Vec<u8>) {
        self.literal.push(b);
        if self.literal.len() >= MAX_LITERAL {
            self.flush_literal(out);
        }
    }

    fn flush_run(&mut self, out: &mut Vec<u8>) {
        if let Some((b, n)) = self.run.take() {
            if n >= MIN_RUN {
                self.flush_literal(out);
                if b == self.filler {
                    out.push(0xC0 | n);
                } else {
                    out.extend_from_slice(&[0x80 | n, b]);
                }
            } else {
                for _ in 0..n {
                    self.push_literal(b, out);
                }
            }
        }
    }

    fn flush_all(&mut self, out: &mut Vec<u8>) {
        self.flush_run(out);
        self.flush_literal(out);
        if std::mem::take(&mut self.pending_eor) {
            out.extend_from_slice(&[0x00, EOR]);
        }
    }
}

impl FrameEncoder for CompressedEncoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if self.pending_eor {
            self.flush_all(out);
        }
        for &b in data {
            match &mut self.run {
                Some((rb, n)) if *rb == b && *n < MAX_RUN => *n += 1,
                _ => {
                    self.flush_run(out);
                    self.run = Some((b, 1));
                }
            }
        }
    }
    fn end_of_record(&mut self, out: &mut Vec<u8>) -> Result<(), ReprError> {
        self.flush_all(out);
        self.pending_eor = true;
        Ok(())
    }
    fn marker(&mut self, marker: &[u8], out: &mut Vec<u8>) -> Result<(), ReprError> {
        if marker.is_empty() || marker.len() > MAX_LITERAL {
            return Err(ReprError::InvalidMarker);
        }
        self.flush_all(out);
        out.extend_from_slice(&[0x00, MARK, marker.len() as u8 & 0x7F]);
        out.extend_from_slice(marker);
        Ok(())
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush_run(out);
        self.flush_literal(out);
        let desc = if std::mem::take(&mut self.pending_eor) {
            EOR | EOF
        } else {
            EOF
        };
        out.extend_from_slice(&[0x00, desc]);
    }
}

#[derive(Debug, Clone)]
enum State {
    Header,
    Literal(usize),
    Replicate(u8),
    Escape,
    MarkerHeader,
    Marker { left: usize, buf: Vec<u8> },
    Done,
}

/// Reads compressed mode back into data, records, markers and the end of file.
#[derive(Debug, Clone)]
pub struct CompressedDecoder {
    filler: u8,
    state: State,
    suspect_escapes: u64,
}

impl CompressedDecoder {
    /// A decoder whose filler byte is `filler` (see the module docs).
    pub fn new(filler: u8) -> Self {
        Self {
            filler,
            state: State::Header,
            suspect_escapes: 0,
        }
    }

    /// How many "suspected errors" descriptors arrived (the data was kept).
    pub fn suspect_escapes(&self) -> u64 {
        self.suspect_escapes
    }

    /// Decodes a chunk of the data connection.
    pub fn decode(&mut self, input: &[u8], sink: &mut dyn FrameSink) -> Result<(), ReprError> {
        let mut rest = input;
        loop {
            if let State::Done = self.state {
                return if rest.is_empty() {
                    Ok(())
                } else {
                    Err(ReprError::DataAfterEof)
                };
            }
            if let State::Literal(left) = &mut self.state {
                if rest.is_empty() {
                    return Ok(());
                }
                let (now, tail) = rest.split_at((*left).min(rest.len()));
                rest = tail;
                *left -= now.len();
                if *left == 0 {
                    self.state = State::Header;
                }
                sink.data(now)?;
                continue;
            }
            let Some((&b, tail)) = rest.split_first() else {
                return Ok(());
            };
            rest = tail;
            match &mut self.state {
                State::Header => match b {
                    0x00 => self.state = State::Escape,
                    0x01..=0x7F => self.state = State::Literal(usize::from(b)),
                    0x80..=0xBF => self.state = State::Replicate(b & 0x3F),
                    _ => sink.data(&[self.filler; MAX_RUN as usize][..usize::from(b & 0x3F)])?,
                },
                State::Replicate(n) => {
                    let n = usize::from(*n);
                    self.state = State::Header;
                    sink.data(&[b; MAX_RUN as usize][..n])?;
                }
                State::Escape => {
                    if b & 0x0F != 0 || b == 0 || (b & MARK != 0 && b & (EOR | EOF) != 0) {
                        return Err(ReprError::InvalidDescriptor(b));
                    }
                    if b & SUSPECT != 0 {
                        self.suspect_escapes += 1;
                    }
                    self.state = State::Header;
                    if b & MARK != 0 {
                        self.state = State::MarkerHeader;
                    }
                    if b & EOR != 0 {
                        sink.end_of_record()?;
                    }
                    if b & EOF != 0 {
                        self.state = State::Done;
                        sink.end_of_file()?;
                    }
                }
                State::MarkerHeader => match b {
                    0x01..=0x7F => {
                        self.state = State::Marker {
                            left: usize::from(b),
                            buf: Vec::with_capacity(usize::from(b)),
                        }
                    }
                    _ => return Err(ReprError::InvalidMarker),
                },
                State::Marker { left, buf } => {
                    buf.push(b);
                    *left -= 1;
                    if *left == 0 {
                        let marker = std::mem::take(buf);
                        self.state = State::Header;
                        sink.marker(&marker)?;
                    }
                }
                State::Literal(_) | State::Done => {}
            }
        }
    }

    /// The data connection closed: an error unless the EOF escape was seen.
    pub fn finish(&mut self, _sink: &mut dyn FrameSink) -> Result<(), ReprError> {
        match self.state {
            State::Done => Ok(()),
            State::Header => Err(ReprError::MissingEof),
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
        let mut e = CompressedEncoder::new(b' ');
        let mut out = Vec::new();
        e.data(b"ab", &mut out);
        e.data(b"xxxxx     c", &mut out);
        assert!(e.end_of_record(&mut out).is_ok());
        assert!(e.marker(b"42", &mut out).is_ok());
        e.data(b"  d", &mut out);
        assert!(e.end_of_record(&mut out).is_ok());
        e.finish(&mut out);
        assert_eq!(
            out,
            b"\x02ab\x85x\xc5\x01c\x00\x80\x00\x10\x0242\x03  d\x00\xc0".to_vec()
        );

        // Runs longer than 63 split; literals longer than 127 split.
        let mut e = CompressedEncoder::new(0);
        let mut out = Vec::new();
        e.data(&[7u8; 64], &mut out);
        e.data(&[0u8; 3], &mut out);
        e.finish(&mut out);
        assert_eq!(out, b"\xbf\x07\x01\x07\xc3\x00\x40".to_vec());

        let data: Vec<u8> = (0..130u8).collect();
        let mut e = CompressedEncoder::new(0xFF);
        let mut out = Vec::new();
        e.data(&data, &mut out);
        e.finish(&mut out);
        let mut want = vec![0x7F];
        want.extend(0..127u8);
        want.extend([3, 127, 128, 129, 0x00, 0x40]);
        assert_eq!(out, want);
    }

    fn decode(filler: u8, chunks: &[&[u8]]) -> Result<Vec<Ev>, ReprError> {
        let mut d = CompressedDecoder::new(filler);
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
            decode(
                b' ',
                &[
                    b"\x02a",
                    b"b\x85",
                    b"x\xc5\x01c\x00\x80\x00\x10\x0242\x03  d\x00\xc0"
                ]
            ),
            Ok(vec![
                Data(b"abxxxxx     c".to_vec()),
                Eor,
                Marker(b"42".to_vec()),
                Data(b"  d".to_vec()),
                Eor,
                Eof
            ])
        );
        assert_eq!(
            decode(0, &[b"\xc3\x00\x40"]),
            Ok(vec![Data(vec![0; 3]), Eof])
        );
        assert_eq!(
            decode(0x40, &[b"\xc2\x00\x40"]),
            Ok(vec![Data(vec![0x40; 2]), Eof])
        );
        assert_eq!(
            decode(0, &[b"\x00\x01"]),
            Err(ReprError::InvalidDescriptor(1))
        );
        assert_eq!(
            decode(0, &[b"\x00\x00"]),
            Err(ReprError::InvalidDescriptor(0))
        );
        assert_eq!(decode(0, &[b"\x00\x10\x80"]), Err(ReprError::InvalidMarker));
        assert_eq!(decode(0, &[b"\x05ab"]), Err(ReprError::Truncated));
        assert_eq!(decode(0, &[b"\x01a"]), Err(ReprError::MissingEof));
        assert_eq!(decode(0, &[b"\x00\x40\x01"]), Err(ReprError::DataAfterEof));
    }
}
