//! Data-connection address codecs.
//!
//! - PORT argument and PASV reply: `h1,h2,h3,h4,p1,p2` (RFC 959), each a decimal 0..=255.
//! - EPRT argument: `<d>af<d>addr<d>port<d>` with any delimiter `d` in ASCII 33..=126
//!   (RFC 2428 §2), af 1 = IPv4, 2 = IPv6.
//! - EPSV reply: `(<d><d><d>port<d>)` (RFC 2428 §3).

use std::net::{SocketAddr, SocketAddrV4};

/// Why an address could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// Not of the expected form.
    #[error("malformed address: {0}")]
    Malformed(&'static str),
    /// EPRT with an address family other than 1 or 2 (the number is kept for reply 522).
    #[error("unsupported network protocol {0}")]
    UnsupportedFamily(u16),
}

/// Parses a PORT argument `h1,h2,h3,h4,p1,p2` (white space around numbers tolerated).
pub fn parse_port(arg: &str) -> Result<SocketAddrV4, AddrError> {
    let _ = arg;
    todo!()
}

/// Formats `h1,h2,h3,h4,p1,p2`.
pub fn format_port(addr: SocketAddrV4) -> String {
    let _ = addr;
    todo!()
}

/// The text of a 227 reply: `Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
pub fn pasv_reply_text(addr: SocketAddrV4) -> String {
    format!("Entering Passive Mode ({}).", format_port(addr))
}

/// Finds `h1,h2,h3,h4,p1,p2` anywhere in a 227 reply text (with or without parentheses, as
/// real servers vary).
pub fn parse_pasv_reply(text: &str) -> Result<SocketAddrV4, AddrError> {
    let _ = text;
    todo!()
}

/// Parses an EPRT argument.
pub fn parse_eprt(arg: &str) -> Result<SocketAddr, AddrError> {
    let _ = arg;
    todo!()
}

/// Formats an EPRT argument with `|` as delimiter, e.g. `|2|::1|5282|`.
pub fn format_eprt(addr: SocketAddr) -> String {
    let _ = addr;
    todo!()
}

/// The text of a 229 reply: `Entering Extended Passive Mode (|||port|)`.
pub fn epsv_reply_text(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Finds `(<d><d><d>port<d>)` in a 229 reply text and returns the port.
pub fn parse_epsv_reply(text: &str) -> Result<u16, AddrError> {
    let _ = text;
    todo!()
}
