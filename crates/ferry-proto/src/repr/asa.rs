//! Format control C: ASA (Fortran) carriage control, RFC 959 §3.1.1.5.3.
//!
//! On the wire the first character of every line is the vertical-format control:
//! `' '` single space, `'0'` double space, `'1'` new page, `'+'` overprint. The stored file
//! is a plain "print image" using format effectors instead:
//!
//! | wire line        | stored file                                              |
//! |------------------|----------------------------------------------------------|
//! | `' '` + text     | text on a new line (previous line ends with LF)          |
//! | `'0'` + text     | an empty line, then text (one extra LF)                  |
//! | `'1'` + text     | FF, then text (the page break starts the line)           |
//! | `'+'` + text     | the previous line ends with CR instead of LF, then text  |
//!
//! The encoder (file → wire) splits the file at LF and at CR; a line that follows a CR gets
//! `'+'`, a line starting with FF gets `'1'` (the FF is consumed), every other line gets
//! `' '` (so `'0'` is never produced: an empty line is sent as its own `' '` line). A last
//! line without a line end is sent without one, and a file ending in CR ends with a bare
//! `'+'`. The decoder accepts all four controls and treats an empty wire line as `' '`.
//! With that, file → wire → file is the identity for every byte string.
//!
//! These codecs work on lines ending in LF; the TYPE A/E layer converts LF to CRLF (or to
//! EBCDIC NL) around them, and STRU R turns the LF into an end-of-record.

use super::ReprError;

const LF: u8 = b'\n';
const CR: u8 = b'\r';
const FF: u8 = 0x0C;

/// File bytes → ASA lines (each line starts with its control character, ends with LF).
#[derive(Debug, Clone)]
pub struct AsaEncoder {
    at_line_start: bool,
    after_cr: bool,
}

impl Default for AsaEncoder {
    fn default() -> Self {
        Self {
            at_line_start: true,
            after_cr: false,
        }
    }
}

impl AsaEncoder {
    /// A new encoder at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the ASA form of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 8);
        for &b in input {
            if self.at_line_start {
                self.at_line_start = false;
                if self.after_cr {
                    out.push(b'+');
                } else if b == FF {
                    out.push(b'1');
                    continue;
                } else {
                    out.push(b' ');
                }
            }
            match b {
                LF | CR => {
                    out.push(LF);
                    self.at_line_start = true;
                    self.after_cr = b == CR;
                }
                _ => out.push(b),
            }
        }
    }

    /// Ends the file: a trailing CR becomes a bare `'+'` line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.at_line_start && self.after_cr {
            out.push(b'+');
        }
        self.at_line_start = true;
        self.after_cr = false;
    }
}

/// ASA lines (ending in LF) → file bytes.
#[derive(Debug, Clone)]
pub struct AsaDecoder {
    at_line_start: bool,
    pending_lf: bool,
}

impl Default for AsaDecoder {
    fn default() -> Self {
        Self {
            at_line_start: true,
            pending_lf: false,
        }
    }
}

impl AsaDecoder {
    /// A new decoder at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the file form of `input` to `out`; an unknown control character is an error.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), ReprError> {
        out.reserve(input.len());
        for &b in input {
            if self.at_line_start {
                self.at_line_start = false;
                let pending = std::mem::take(&mut self.pending_lf);
                match b {
                    b'+' => {
                        if pending {
                            out.push(CR);
                        }
                    }
                    b' ' | b'0' | b'1' | LF => {
                        if pending {
                            out.push(LF);
                        }
                        match b {
                            b'0' => out.push(LF),
                            b'1' => out.push(FF),
                            _ => {}
                        }
                    }
                    other => return Err(ReprError::InvalidAsaControl(other)),
                }
                if b != LF {
                    continue;
                }
            }
            if b == LF {
                self.pending_lf = true;
                self.at_line_start = true;
            } else {
                out.push(b);
            }
        }
        Ok(())
    }

    /// Ends the file: writes the line end of a last line that had one.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_lf) {
            out.push(LF);
        }
        self.at_line_start = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(data: &[u8]) -> Vec<u8> {
        let mut e = AsaEncoder::new();
        let mut out = Vec::new();
        e.encode(data, &mut out);
        e.finish(&mut out);
        out
    }

    fn dec(chunks: &[&[u8]]) -> Result<Vec<u8>, ReprError> {
        let mut d = AsaDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.decode(c, &mut out)?;
        }
        d.finish(&mut out);
        Ok(out)
    }

    #[test]
    fn encode_vectors() {
        assert_eq!(enc(b""), b"");
        assert_eq!(enc(b"a\nb\n"), b" a\n b\n");
        assert_eq!(enc(b"a\n\nb"), b" a\n \n b");
        assert_eq!(enc(b"a\n\x0cpage2\n"), b" a\n1page2\n");
        assert_eq!(enc(b"bold\r____\n"), b" bold\n+____\n");
        assert_eq!(enc(b"x\r"), b" x\n+");
        assert_eq!(enc(b"\x0c"), b"1");
    }

    #[test]
    fn decode_vectors() {
        assert_eq!(dec(&[b" a\n b\n"]).ok(), Some(b"a\nb\n".to_vec()));
        assert_eq!(dec(&[b" a\n0b\n"]).ok(), Some(b"a\n\nb\n".to_vec()));
        assert_eq!(
            dec(&[b"1title\n", b" x\n1y"]).ok(),
            Some(b"\x0ctitle\nx\n\x0cy".to_vec())
        );
        assert_eq!(
            dec(&[b" bold\n+", b"____\n"]).ok(),
            Some(b"bold\r____\n".to_vec())
        );
        assert_eq!(dec(&[b"\n a\n"]).ok(), Some(b"\na\n".to_vec()));
        assert_eq!(dec(&[b"0first\n"]).ok(), Some(b"\nfirst\n".to_vec()));
        assert_eq!(dec(&[b" a\nXb\n"]), Err(ReprError::InvalidAsaControl(b'X')));
    }

    proptest! {
        #[test]
        fn file_round_trips(data in proptest::collection::vec(
            prop_oneof![Just(LF), Just(CR), Just(FF), Just(b' '), Just(b'+'), any::<u8>()], 0..200),
            split in 0usize..200) {
            let wire = enc(&data);
            let split = split.min(wire.len());
            let (a, b) = wire.split_at(split);
            prop_assert_eq!(dec(&[a, b]).ok(), Some(data));
        }
    }
}
