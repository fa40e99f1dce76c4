//! Control-line decoder.
//!
//! Bytes from the control connection go in; complete lines come out, without their line
//! ending and with Telnet (RFC 854) sequences handled:
//! - a line ends at LF; a CR just before it is dropped (so both CRLF and bare LF work);
//! - `IAC IAC` is a literal 0xFF byte;
//! - `IAC WILL/WONT/DO/DONT opt` (3 bytes) and `IAC x` for any other command byte (2 bytes,
//!   e.g. IP 0xF4, DM 0xF2 as sent by clients before `ABOR`) are removed;
//! - `IAC SB ... IAC SE` subnegotiations are removed;
//! - `CR NUL` is a lone CR.
//!
//! Lines longer than the cap (default [`MAX_LINE`]) are not buffered: the decoder discards
//! the rest of that line and reports [`LineEvent::TooLong`] once the line ends, so the
//! session can answer `500` and go on. The decoder keeps at most `max` bytes, whatever the
//! peer sends. Telnet state survives across calls, so a sequence split between two reads is
//! handled correctly.

/// Default maximum length of one control line, in bytes, without its line ending.
pub const MAX_LINE: usize = 8192;

/// What the decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// A complete line, without line ending and Telnet sequences.
    Line(Vec<u8>),
    /// A line longer than the cap ended; its bytes were discarded. `len` is its length
    /// (after Telnet processing), saturating.
    TooLong {
        /// Length of the discarded line.
        len: usize,
    },
}

const IAC: u8 = 0xFF;
const SB: u8 = 0xFA;
const SE: u8 = 0xF0;
const WILL: u8 = 0xFB;
const DONT: u8 = 0xFE;
const CR: u8 = b'\r';
const LF: u8 = b'\n';
const NUL: u8 = 0;

/// Where the Telnet layer is within the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    /// Ordinary data.
    Data,
    /// After `IAC`.
    Iac,
    /// After `IAC WILL/WONT/DO/DONT`: the next byte is the option code.
    Option,
    /// Inside `IAC SB ...`.
    Sub,
    /// After `IAC` inside a subnegotiation.
    SubIac,
}

/// Incremental, bounded control-line decoder.
///
/// Two layers: the Telnet layer strips command sequences and yields data bytes; the line
/// layer splits data bytes at LF, drops a CR just before LF and turns `CR NUL` into CR.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    max: usize,
    /// Data bytes of the current line (at most `max`; emptied once the line is too long).
    buf: Vec<u8>,
    /// Length of the current line so far, saturating (counts discarded bytes too).
    len: usize,
    /// The current line exceeded `max`.
    overflow: bool,
    /// A CR was seen and not yet written to `buf` (it may be followed by LF or NUL).
    pending_cr: bool,
    /// Telnet layer state.
    telnet: Telnet,
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDecoder {
    /// A decoder with the default cap of [`MAX_LINE`] bytes.
    pub fn new() -> Self {
        Self::with_max(MAX_LINE)
    }

    /// A decoder with a cap of `max` bytes per line.
    pub fn with_max(max: usize) -> Self {
        LineDecoder {
            max,
            buf: Vec::new(),
            len: 0,
            overflow: false,
            pending_cr: false,
            telnet: Telnet::Data,
        }
    }

    /// Decodes from `input`. Returns how many bytes of `input` were consumed and, when a line
    /// ended within them, the event. Call again with the unconsumed rest until it returns
    /// `(n, None)`, at which point all of `input` has been consumed (`n == input.len()`).
    pub fn decode(&mut self, input: &[u8]) -> (usize, Option<LineEvent>) {
        for (i, &b) in input.iter().enumerate() {
            if let Some(data) = self.telnet_byte(b) {
                if let Some(event) = self.data_byte(data) {
                    return (i + 1, Some(event));
                }
            }
        }
        (input.len(), None)
    }

    /// Bytes of an unfinished line held so far (never more than the cap).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The Telnet layer: returns the data byte `b` stands for, if any.
    fn telnet_byte(&mut self, b: u8) -> Option<u8> {
        match self.telnet {
            Telnet::Data => {
                if b == IAC {
                    self.telnet = Telnet::Iac;
                    None
                } else {
                    Some(b)
                }
            }
            Telnet::Iac => {
                self.telnet = match b {
                    IAC => {
                        self.telnet = Telnet::Data;
                        return Some(IAC);
                    }
                    WILL..=DONT => Telnet::Option,
                    SB => Telnet::Sub,
                    // IP, DM, AYT, NOP, SE without SB, ...: a two-byte command.
                    _ => Telnet::Data,
                };
                None
            }
            Telnet::Option => {
                self.telnet = Telnet::Data;
                None
            }
            Telnet::Sub => {
                if b == IAC {
                    self.telnet = Telnet::SubIac;
                }
                None
            }
            Telnet::SubIac => {
                self.telnet = if b == SE { Telnet::Data } else { Telnet::Sub };
                None
            }
        }
    }

    /// The line layer: takes one data byte; returns an event when it ends a line.
    fn data_byte(&mut self, b: u8) -> Option<LineEvent> {
        if self.pending_cr {
            match b {
                LF => return Some(self.finish_line()),
                NUL => {
                    self.pending_cr = false;
                    self.push(CR);
                }
                CR => self.push(CR),
                _ => {
                    self.pending_cr = false;
                    self.push(CR);
                    self.push(b);
                }
            }
            None
        } else {
            match b {
                LF => Some(self.finish_line()),
                CR => {
                    self.pending_cr = true;
                    None
                }
                _ => {
                    self.push(b);
                    None
                }
            }
        }
    }

    fn push(&mut self, b: u8) {
        self.len = self.len.saturating_add(1);
        if self.overflow {
            return;
        }
        if self.buf.len() < self.max {
            self.buf.push(b);
        } else {
            self.overflow = true;
            self.buf = Vec::new();
        }
    }

    fn finish_line(&mut self) -> LineEvent {
        let event = if self.overflow {
            LineEvent::TooLong { len: self.len }
        } else {
            LineEvent::Line(std::mem::take(&mut self.buf))
        };
        self.buf = Vec::new();
        self.len = 0;
        self.overflow = false;
        self.pending_cr = false;
        event
    }
}
