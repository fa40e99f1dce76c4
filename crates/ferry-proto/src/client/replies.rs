//! Parsers for the payload of single replies: SIZE (213 n), MDTM (213 time), PWD/MKD
//! (257 "path").

use crate::reply::ReplyCode;
use crate::Reply;

/// Why a reply does not carry the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyValueError {
    /// A different code than the one the command succeeds with (often a 5yz refusal).
    #[error("expected reply {expected}, got {code} {text}")]
    WrongReply {
        /// The code that carries the value.
        expected: u16,
        /// The code received.
        code: ReplyCode,
        /// Its text.
        text: String,
    },
    /// The right code, but the value is malformed.
    #[error("malformed {what} in reply: {text}")]
    Malformed {
        /// What was expected (`size`, `time`, `path`).
        what: &'static str,
        /// The reply text (at most 200 characters).
        text: String,
    },
}

fn expect(reply: &Reply, code: u16) -> Result<&str, ReplyValueError> {
    if reply.code.get() != code {
        return Err(ReplyValueError::WrongReply {
            expected: code,
            code: reply.code,
            text: reply.text(),
        });
    }
    Ok(reply.lines.last().map_or("", String::as_str).trim())
}

fn malformed(what: &'static str, text: &str) -> ReplyValueError {
    ReplyValueError::Malformed {
        what,
        text: text.chars().take(200).collect(),
    }
}

/// The size in a SIZE reply (`213 1234`).
pub fn parse_size_reply(reply: &Reply) -> Result<u64, ReplyValueError> {
    let text = expect(reply, 213)?;
    let word = text.split_ascii_whitespace().next().unwrap_or("");
    if word.is_empty() || word.len() > 20 || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("size", text));
    }
    word.parse().map_err(|_| malformed("size", text))
}

/// The time in an MDTM reply (`213 20240102150405[.sss]`), Unix seconds (UTC).
pub fn parse_mdtm_reply(reply: &Reply) -> Result<i64, ReplyValueError> {
    let text = expect(reply, 213)?;
    let word = text.split_ascii_whitespace().next().unwrap_or("");
    crate::listing::parse_mdtm(word).ok_or_else(|| malformed("time", text))
}

/// The path in a PWD or MKD reply (`257 "/a ""quoted"" dir" is current directory`, RFC 959
/// Appendix II: embedded quotes doubled). A 257 without quotes gives its first word.
pub fn parse_path_reply(reply: &Reply) -> Result<String, ReplyValueError> {
    let text = expect(reply, 257)?;
    let Some(rest) = text.strip_prefix('"') else {
        let word = text.split_ascii_whitespace().next().unwrap_or("");
        if word.is_empty() {
            return Err(malformed("path", text));
        }
        return Ok(word.to_string());
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Ok(out);
            }
        } else {
            out.push(c);
        }
    }
    Err(malformed("path", text))
}
