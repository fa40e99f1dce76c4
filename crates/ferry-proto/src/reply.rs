//! FTP replies: [`Reply`] with its [`ReplyCode`] as data, the encoder used by the server,
//! the incremental [`ReplyParser`] used by the client and the analyzer, and the meaning of
//! every code (RFC 959 §4.2).
//!
//! Encoding never lets text break the framing: CR and LF inside a text line are replaced by
//! spaces, and in a multi-line reply a middle line that starts with a digit is indented by
//! one space (RFC 959 §4.2), so a file name can never forge a reply.

use std::fmt;

/// A three-digit reply code, 100..=599.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

/// First digit of a reply code (RFC 959 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// 1yz: positive preliminary.
    PositivePreliminary,
    /// 2yz: positive completion.
    PositiveCompletion,
    /// 3yz: positive intermediate.
    PositiveIntermediate,
    /// 4yz: transient negative completion.
    TransientNegative,
    /// 5yz: permanent negative completion.
    PermanentNegative,
}

/// Second digit of a reply code (RFC 959 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyCategory {
    /// x0z: syntax.
    Syntax,
    /// x1z: information.
    Information,
    /// x2z: connections.
    Connections,
    /// x3z: authentication and accounting.
    Authentication,
    /// x4z: unspecified.
    Unspecified,
    /// x5z: file system.
    FileSystem,
    /// x6z..x9z: not defined by RFC 959 (x6z is used by RFC 2228 for protected replies).
    Other,
}

impl ReplyCode {
    /// A code from its number, if within 100..=599.
    pub const fn new(code: u16) -> Option<ReplyCode> {
        if code >= 100 && code <= 599 {
            Some(ReplyCode(code))
        } else {
            None
        }
    }

    /// The number.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The class (first digit).
    pub fn class(self) -> ReplyClass {
        todo!()
    }

    /// The category (second digit).
    pub fn category(self) -> ReplyCategory {
        todo!()
    }

    /// A one-line explanation of this specific code as RFC 959 / 2228 / 2428 / 3659 define it
    /// (e.g. 227 "Entering Passive Mode"), or of its class and category for codes no RFC
    /// names.
    pub fn meaning(self) -> &'static str {
        todo!()
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A reply: a code and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The code.
    pub code: ReplyCode,
    /// The text lines, at least one (possibly empty), without codes or line endings.
    pub lines: Vec<String>,
}

impl Reply {
    /// A single-line reply. Panics only if `code` is outside 100..=599 (a programming error,
    /// never peer input).
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        let _ = (code, text);
        todo!()
    }

    /// A multi-line reply from its lines (first line, middle lines, last line).
    pub fn multi(code: u16, lines: Vec<String>) -> Reply {
        let _ = (code, lines);
        todo!()
    }

    /// The text of all lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// Appends the wire form (with CRLF line endings) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
    }

    /// The wire form as bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }

    /// True for a 1yz reply.
    pub fn is_preliminary(&self) -> bool {
        self.code.class() == ReplyClass::PositivePreliminary
    }
}

/// Why reply bytes could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line that should start a reply does not start with three digits in 100..=599
    /// followed by space, `-` or the end of the line.
    #[error("malformed reply line: {0:?}")]
    Malformed(String),
    /// A multi-line reply grew beyond the parser's line or byte limit.
    #[error("reply too long")]
    TooLong,
}

/// Incremental reply parser: feed it lines (as decoded by [`crate::line::LineDecoder`]),
/// get complete replies. Multi-line replies end at the line that starts with the same code
/// followed by a space (or the bare code); lines in between are kept verbatim (one leading
/// space removed). Bounded: at most 1,000 lines or 64 KiB per reply.
#[derive(Debug, Default, Clone)]
pub struct ReplyParser {
    // Private fields are up to the implementation.
}

impl ReplyParser {
    /// A new parser.
    pub fn new() -> Self {
        todo!()
    }

    /// Feeds one line. Returns `Ok(Some(reply))` when it completes a reply, `Ok(None)` when
    /// more lines are needed, and an error for a malformed line (the parser then resets and
    /// can go on with the next line).
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let _ = line;
        todo!()
    }

    /// True while a multi-line reply is open.
    pub fn in_progress(&self) -> bool {
        todo!()
    }
}
