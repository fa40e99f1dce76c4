//! Transfer representations.
//!
//! TYPE A (ASCII, non-print) sends text with CRLF line endings on the wire whatever the
//! server's own convention is. Ferry stores files with Unix line endings, so:
//! - [`AsciiEncoder`] (file → wire, RETR): every LF not already preceded by CR becomes CRLF;
//! - [`AsciiDecoder`] (wire → file, STOR): every CRLF becomes LF; a lone CR is kept.
//!
//! Both are streaming: they keep the one byte of state needed across chunk boundaries, so
//! the result does not depend on how the data was split. TYPE I and TYPE L 8 are byte-exact
//! and need no conversion.

/// Converts file bytes to ASCII wire form (LF → CRLF).
#[derive(Debug, Default, Clone)]
pub struct AsciiEncoder {
    last_was_cr: bool,
}

impl AsciiEncoder {
    /// A new encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the wire form of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 16);
        for &b in input {
            if b == b'\n' && !self.last_was_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_was_cr = b == b'\r';
        }
    }
}

/// Converts ASCII wire bytes to file form (CRLF → LF).
#[derive(Debug, Default, Clone)]
pub struct AsciiDecoder {
    pending_cr: bool,
}

impl AsciiDecoder {
    /// A new decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the file form of `input` to `out`. A CR at the very end of `input` is held
    /// back until the next call (or [`AsciiDecoder::finish`]) decides whether an LF follows.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len());
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Flushes a held-back CR at the end of the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.pending_cr {
            self.pending_cr = false;
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc_all(chunks: &[&[u8]]) -> Vec<u8> {
        let mut e = AsciiEncoder::new();
        let mut out = Vec::new();
        for c in chunks {
            e.encode(c, &mut out);
        }
        out
    }

    fn dec_all(chunks: &[&[u8]]) -> Vec<u8> {
        let mut d = AsciiDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.decode(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn encode_vectors() {
        assert_eq!(enc_all(&[b"a\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(enc_all(&[b"a\r\nb"]), b"a\r\nb");
        assert_eq!(enc_all(&[b"a\r", b"\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(enc_all(&[b"\n\n"]), b"\r\n\r\n");
    }

    #[test]
    fn decode_vectors() {
        assert_eq!(dec_all(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(dec_all(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(dec_all(&[b"a\rb"]), b"a\rb");
        assert_eq!(dec_all(&[b"a\r"]), b"a\r");
        assert_eq!(dec_all(&[b"\r\r\n"]), b"\r\n");
    }

    proptest! {
        #[test]
        fn chunking_does_not_matter(data in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..200), split in 0usize..200) {
            let split = split.min(data.len());
            let (a, b) = data.split_at(split);
            prop_assert_eq!(enc_all(&[a, b]), enc_all(&[&data]));
            prop_assert_eq!(dec_all(&[a, b]), dec_all(&[&data]));
        }

        #[test]
        fn unix_text_round_trips(data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), 0x20u8..0x7f], 0..200)) {
            // Text with LF endings and no CR survives encode then decode.
            prop_assert_eq!(dec_all(&[&enc_all(&[&data])]), data);
        }
    }
}
