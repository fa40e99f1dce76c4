//! MODE S framing, RFC 959 §3.4.1.
//!
//! With STRU F the stream is the data itself and the end of file is the close of the data
//! connection ([`RawEncoder`], [`RawDecoder`]). With STRU R (and STRU P carried as records is
//! not used) the two-byte control codes of §3.4.2 mark the structure: 0xFF is the escape,
//! `FF 01` end of record, `FF 02` end of file, `FF 03` both, and `FF FF` one data byte 0xFF
//! ([`RecordEncoder`], [`RecordDecoder`]). Stream mode has no restart markers.

use super::{FrameEncoder, FrameSink, ReprError};

const ESC: u8 = 0xFF;

/// MODE S with file or page structure: data as is.
#[derive(Debug, Default, Clone)]
pub struct RawEncoder;

impl FrameEncoder for RawEncoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(data);
    }
    fn end_of_record(&mut self, _out: &mut Vec<u8>) -> Result<(), ReprError> {
        Err(ReprError::UnexpectedRecord)
    }
    fn marker(&mut self, _marker: &[u8], _out: &mut Vec<u8>) -> Result<(), ReprError> {
        Err(ReprError::MarkersUnsupported)
    }
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

/// MODE S with file or page structure: the bytes are the data; the close is the end.
#[derive(Debug, Default, Clone)]
pub struct RawDecoder;

impl RawDecoder {
    /// Passes `input` on as data.
    pub fn decode(&mut self, input: &[u8], sink: &mut dyn FrameSink) -> Result<(), ReprError> {
        sink.data(input)
    }
    /// The data connection closed: that is the end of file.
    pub fn finish(&mut self, sink: &mut dyn FrameSink) -> Result<(), ReprError> {
        sink.end_of_file()
    }
}

/// MODE S with record structure: escapes 0xFF and writes EOR/EOF control codes.
#[derive(Debug, Default, Clone)]
pub struct RecordEncoder {
    pending_eor: bool,
}

impl RecordEncoder {
    fn flush_eor(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_eor) {
            out.extend_from_slice(&[ESC, 0x01]);
        }
    }
}

impl FrameEncoder for RecordEncoder {
    fn data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        self.flush_eor(out);
        out.reserve(data.len() + 2);
        for &b in data {
            out.push(b);
            if b == ESC {
                out.push(ESC);
            }
        }
    }
    fn end_of_record(&mut self, out: &mut Vec<u8>) -> Result<(), ReprError> {
        // Held back so that a last record and the end of file share one `FF 03`.
        self.flush_eor(out);
        self.pending_eor = true;
        Ok(())
    }
    fn marker(&mut self, _marker: &[u8], _out: &mut Vec<u8>) -> Result<(), ReprError> {
        Err(ReprError::MarkersUnsupported)
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        let code = if std::mem::take(&mut self.pending_eor) {
            0x03
        } else {
            0x02
        };
        out.extend_from_slice(&[ESC, code]);
    }
}

/// MODE S with record structure: undoes the escapes and reports records.
#[derive(Debug, Default, Clone)]
pub struct RecordDecoder {
    after_esc: bool,
    done: bool,
}

impl RecordDecoder {
    /// Decodes a chunk of the data connection.
    pub fn decode(&mut self, input: &[u8], sink: &mut dyn FrameSink) -> Result<(), ReprError> {
        let mut rest = input;
        while !rest.is_empty() {
            if self.done {
                return Err(ReprError::DataAfterEof);
            }
            if self.after_esc {
                let (&code, tail) = match rest.split_first() {
                    Some(x) => x,
                    None => break,
                };
                rest = tail;
                self.after_esc = false;
                match code {
                    ESC => sink.data(&[ESC])?,
                    0x01 => sink.end_of_record()?,
                    0x02 | 0x03 => {
                        if code == 0x03 {
                            sink.end_of_record()?;
                        }
                        self.done = true;
                        sink.end_of_file()?;
                    }
                    other => return Err(ReprError::InvalidEscape(other)),
                }
                continue;
            }
            match rest.iter().position(|&b| b == ESC) {
                Some(i) => {
                    let (data, tail) = rest.split_at(i);
                    sink.data(data)?;
                    rest = tail.get(1..).unwrap_or_default();
                    self.after_esc = true;
                }
                None => {
                    sink.data(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    /// The data connection closed: an error unless the end-of-file code was seen.
    pub fn finish(&mut self, _sink: &mut dyn FrameSink) -> Result<(), ReprError> {
        if self.done {
            Ok(())
        } else if self.after_esc {
            Err(ReprError::Truncated)
        } else {
            Err(ReprError::MissingEof)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Collect, Ev};
    use super::*;

    #[test]
    fn record_encoder_vectors() {
        let mut e = RecordEncoder::default();
        let mut out = Vec::new();
        e.data(b"ab\xff", &mut out);
        assert!(e.end_of_record(&mut out).is_ok());
        e.data(b"c", &mut out);
        assert!(e.end_of_record(&mut out).is_ok());
        e.finish(&mut out);
        assert_eq!(out, b"ab\xff\xff\xff\x01c\xff\x03");

        let mut e = RecordEncoder::default();
        let mut out = Vec::new();
        e.data(b"tail", &mut out);
        e.finish(&mut out);
        assert_eq!(out, b"tail\xff\x02");

        let mut e = RecordEncoder::default();
        let mut out = Vec::new();
        assert!(e.end_of_record(&mut out).is_ok());
        assert!(e.end_of_record(&mut out).is_ok());
        e.finish(&mut out);
        assert_eq!(out, b"\xff\x01\xff\x03");
    }

    fn decode(chunks: &[&[u8]]) -> Result<Vec<Ev>, ReprError> {
        let mut d = RecordDecoder::default();
        let mut c = Collect::default();
        for ch in chunks {
            d.decode(ch, &mut c)?;
        }
        d.finish(&mut c)?;
        Ok(c.events())
    }

    #[test]
    fn record_decoder_vectors() {
        use Ev::*;
        assert_eq!(
            decode(&[b"ab\xff", b"\xff\xff\x01c\xff\x03"]),
            Ok(vec![
                Data(b"ab\xff".to_vec()),
                Eor,
                Data(b"c".to_vec()),
                Eor,
                Eof
            ])
        );
        assert_eq!(decode(&[b"x\xff\x02"]), Ok(vec![Data(b"x".to_vec()), Eof]));
        assert_eq!(decode(&[b"x\xff\x04"]), Err(ReprError::InvalidEscape(4)));
        assert_eq!(decode(&[b"x\xff\x02y"]), Err(ReprError::DataAfterEof));
        assert_eq!(decode(&[b"x"]), Err(ReprError::MissingEof));
        assert_eq!(decode(&[b"x\xff"]), Err(ReprError::Truncated));
    }
}
