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

/// Incremental, bounded control-line decoder.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    max: usize,
    // Private fields are up to the implementation.
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
        let _ = max;
        todo!()
    }

    /// Decodes from `input`. Returns how many bytes of `input` were consumed and, when a line
    /// ended within them, the event. Call again with the unconsumed rest until it returns
    /// `(n, None)`, at which point all of `input` has been consumed (`n == input.len()`).
    pub fn decode(&mut self, input: &[u8]) -> (usize, Option<LineEvent>) {
        let _ = input;
        todo!()
    }

    /// Bytes of an unfinished line held so far (never more than the cap).
    pub fn pending(&self) -> usize {
        todo!()
    }
}
