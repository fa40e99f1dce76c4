//! FTP replies: [`Reply`] with its [`ReplyCode`] as data, the encoder used by the server,
//! the incremental [`ReplyParser`] used by the client and the analyzer, and the meaning of
//! every code (RFC 959 §4.2).
//!
//! Encoding never lets text break the framing: CR and LF inside a text line are replaced by
//! spaces, and in a multi-line reply every middle line is indented by one space (RFC 959
//! §4.2 requires it for lines starting with a digit; vsftpd does it for all, e.g. ` UTF8` in
//! FEAT), so a file name can never forge a reply.

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
        match self.0 / 100 {
            1 => ReplyClass::PositivePreliminary,
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            _ => ReplyClass::PermanentNegative,
        }
    }

    /// The category (second digit).
    pub fn category(self) -> ReplyCategory {
        match (self.0 / 10) % 10 {
            0 => ReplyCategory::Syntax,
            1 => ReplyCategory::Information,
            2 => ReplyCategory::Connections,
            3 => ReplyCategory::Authentication,
            4 => ReplyCategory::Unspecified,
            5 => ReplyCategory::FileSystem,
            _ => ReplyCategory::Other,
        }
    }

    /// A one-line explanation of this specific code as RFC 959 / 2228 / 2428 / 3659 define it
    /// (e.g. 227 "Entering Passive Mode"), or of its class and category for codes no RFC
    /// names.
    pub fn meaning(self) -> &'static str {
        if let Some(m) = meaning_of(self.0) {
            return m;
        }
        let class = match self.class() {
            ReplyClass::PositivePreliminary => 0,
            ReplyClass::PositiveCompletion => 1,
            ReplyClass::PositiveIntermediate => 2,
            ReplyClass::TransientNegative => 3,
            ReplyClass::PermanentNegative => 4,
        };
        let category = match self.category() {
            ReplyCategory::Syntax => 0,
            ReplyCategory::Information => 1,
            ReplyCategory::Connections => 2,
            ReplyCategory::Authentication => 3,
            ReplyCategory::Unspecified => 4,
            ReplyCategory::FileSystem => 5,
            ReplyCategory::Other => 6,
        };
        GENERIC
            .get(class)
            .and_then(|row| row.get(category))
            .copied()
            .unwrap_or("Unknown reply")
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
        Reply {
            code: checked_code(code),
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply from its lines (first line, middle lines, last line).
    ///
    /// An empty list becomes one empty line. Panics only if `code` is outside 100..=599.
    pub fn multi(code: u16, lines: Vec<String>) -> Reply {
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Reply {
            code: checked_code(code),
            lines,
        }
    }

    /// The text of all lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// Appends the wire form (with CRLF line endings) to `out`.
    ///
    /// One line: `CODE text`. Several: `CODE-first`, then every middle line indented by one
    /// space (so it can never be taken for an end line, RFC 959 §4.2), then `CODE last`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let code = self.code.0.to_string();
        let n = self.lines.len();
        if n <= 1 {
            out.extend_from_slice(code.as_bytes());
            out.push(b' ');
            push_text(self.lines.first().map_or("", String::as_str), out);
            out.extend_from_slice(b"\r\n");
            return;
        }
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 {
                out.extend_from_slice(code.as_bytes());
                out.push(b'-');
            } else if i + 1 == n {
                out.extend_from_slice(code.as_bytes());
                out.push(b' ');
            } else {
                out.push(b' ');
            }
            push_text(line, out);
            out.extend_from_slice(b"\r\n");
        }
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
    /// The multi-line reply being collected: its code, lines and total text bytes.
    open: Option<(ReplyCode, Vec<String>, usize)>,
}

/// Most lines in one reply.
pub const MAX_REPLY_LINES: usize = 1000;
/// Most text bytes in one reply.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

impl ReplyParser {
    /// A new parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line. Returns `Ok(Some(reply))` when it completes a reply, `Ok(None)` when
    /// more lines are needed, and an error for a malformed line (the parser then resets and
    /// can go on with the next line).
    ///
    /// Inside a multi-line reply, a line `CODE-text` (the same code) is a middle line whose
    /// text is `text`; any other line that is not an end line is a middle line kept verbatim
    /// after removing one leading space.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let Some((code, mut lines, mut bytes)) = self.open.take() else {
            let (code, sep, text) = split_code(line).ok_or_else(|| malformed(line))?;
            let text = String::from_utf8_lossy(text).into_owned();
            if sep == Some(b'-') {
                let len = text.len();
                if len > MAX_REPLY_BYTES {
                    return Err(ReplyError::TooLong);
                }
                self.open = Some((code, vec![text], len));
                return Ok(None);
            }
            return Ok(Some(Reply {
                code,
                lines: vec![text],
            }));
        };
        let (text, done) = match split_code(line) {
            Some((c, sep, text)) if c == code && sep != Some(b'-') => (text, true),
            Some((c, Some(b'-'), text)) if c == code => (text, false),
            _ => (line.strip_prefix(b" ").unwrap_or(line), false),
        };
        bytes = bytes.saturating_add(text.len());
        if bytes > MAX_REPLY_BYTES || lines.len() >= MAX_REPLY_LINES {
            return Err(ReplyError::TooLong);
        }
        lines.push(String::from_utf8_lossy(text).into_owned());
        if done {
            Ok(Some(Reply { code, lines }))
        } else {
            self.open = Some((code, lines, bytes));
            Ok(None)
        }
    }

    /// True while a multi-line reply is open.
    pub fn in_progress(&self) -> bool {
        self.open.is_some()
    }
}

/// Splits `CODE[ |-]text` into the code, the separator (`None` for a bare code) and the text.
fn split_code(line: &[u8]) -> Option<(ReplyCode, Option<u8>, &[u8])> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let code = ReplyCode::new(n)?;
    match line.get(3) {
        None => Some((code, None, &[])),
        Some(&sep @ (b' ' | b'-')) => Some((code, Some(sep), line.get(4..).unwrap_or(&[]))),
        Some(_) => None,
    }
}

fn malformed(line: &[u8]) -> ReplyError {
    let shown: String = String::from_utf8_lossy(line).chars().take(80).collect();
    ReplyError::Malformed(shown)
}

/// Appends `text` with CR and LF replaced by spaces.
fn push_text(text: &str, out: &mut Vec<u8>) {
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

fn checked_code(code: u16) -> ReplyCode {
    match ReplyCode::new(code) {
        Some(c) => c,
        None => panic!("reply code {code} outside 100..=599"),
    }
}

/// The meaning of a reply code that an RFC names (959, 2228, 2389, 2428, 3659), or `None`.
///
/// This also knows the RFC 2228 protected-reply codes 631, 632 and 633, which a
/// [`ReplyCode`] (100..=599) cannot hold.
pub fn meaning_of(code: u16) -> Option<&'static str> {
    Some(match code {
        110 => "Restart marker reply",
        120 => "Service ready in nnn minutes",
        125 => "Data connection already open; transfer starting",
        150 => "File status okay; about to open data connection",
        200 => "Command okay",
        202 => "Command not implemented, superfluous at this site",
        211 => "System status, or system help reply (FEAT feature list)",
        212 => "Directory status",
        213 => "File status (SIZE, MDTM, MLST)",
        214 => "Help message",
        215 => "NAME system type",
        220 => "Service ready for new user",
        221 => "Service closing control connection",
        225 => "Data connection open; no transfer in progress",
        226 => "Closing data connection; requested file action successful",
        227 => "Entering Passive Mode",
        228 => "Entering Long Passive Mode",
        229 => "Entering Extended Passive Mode",
        230 => "User logged in, proceed",
        231 => "User logged out; service terminated",
        232 => "User logged in, authorized by security data exchange",
        233 => "User logged out; service terminated (logout scheduled)",
        234 => "Security data exchange complete",
        235 => "Security data exchange completed successfully",
        250 => "Requested file action okay, completed",
        257 => "PATHNAME created",
        331 => "User name okay, need password",
        332 => "Need account for login",
        334 => "Requested security mechanism is ok",
        335 => "Security data is acceptable; more is required",
        336 => "Username okay, need password; challenge is given",
        350 => "Requested file action pending further information",
        421 => "Service not available, closing control connection",
        425 => "Can't open data connection",
        426 => "Connection closed; transfer aborted",
        431 => "Need some unavailable resource to process security",
        450 => "Requested file action not taken; file unavailable",
        451 => "Requested action aborted: local error in processing",
        452 => "Requested action not taken: insufficient storage space",
        500 => "Syntax error, command unrecognized",
        501 => "Syntax error in parameters or arguments",
        502 => "Command not implemented",
        503 => "Bad sequence of commands",
        504 => "Command not implemented for that parameter",
        521 => "Directory already exists",
        522 => "Network protocol not supported",
        530 => "Not logged in",
        532 => "Need account for storing files",
        533 => "Command protection level denied for policy reasons",
        534 => "Request denied for policy reasons",
        535 => "Failed security check",
        536 => "Requested PROT level not supported by mechanism",
        537 => "Command protection level not supported by security mechanism",
        550 => "Requested action not taken; file unavailable",
        551 => "Requested action aborted: page type unknown",
        552 => "Requested file action aborted: exceeded storage allocation",
        553 => "Requested action not taken: file name not allowed",
        554 => "Requested action not taken: invalid REST parameter",
        555 => "Requested action not taken: type or structure mismatch",
        631 => "Integrity protected reply",
        632 => "Confidentiality and integrity protected reply",
        633 => "Confidentiality protected reply",
        _ => return None,
    })
}

/// Fallback meanings by class (rows) and category (columns).
const GENERIC: [[&str; 7]; 5] = [
    [
        "Positive preliminary reply (syntax)",
        "Positive preliminary reply (information)",
        "Positive preliminary reply (connections)",
        "Positive preliminary reply (authentication and accounting)",
        "Positive preliminary reply",
        "Positive preliminary reply (file system)",
        "Positive preliminary reply",
    ],
    [
        "Positive completion reply (syntax)",
        "Positive completion reply (information)",
        "Positive completion reply (connections)",
        "Positive completion reply (authentication and accounting)",
        "Positive completion reply",
        "Positive completion reply (file system)",
        "Positive completion reply",
    ],
    [
        "Positive intermediate reply (syntax)",
        "Positive intermediate reply (information)",
        "Positive intermediate reply (connections)",
        "Positive intermediate reply (authentication and accounting)",
        "Positive intermediate reply",
        "Positive intermediate reply (file system)",
        "Positive intermediate reply",
    ],
    [
        "Transient negative completion reply (syntax)",
        "Transient negative completion reply (information)",
        "Transient negative completion reply (connections)",
        "Transient negative completion reply (authentication and accounting)",
        "Transient negative completion reply",
        "Transient negative completion reply (file system)",
        "Transient negative completion reply",
    ],
    [
        "Permanent negative completion reply (syntax)",
        "Permanent negative completion reply (information)",
        "Permanent negative completion reply (connections)",
        "Permanent negative completion reply (authentication and accounting)",
        "Permanent negative completion reply",
        "Permanent negative completion reply (file system)",
        "Permanent negative completion reply",
    ],
];
