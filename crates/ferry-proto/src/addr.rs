//! Data-connection address codecs.
//!
//! - PORT argument and PASV reply: `h1,h2,h3,h4,p1,p2` (RFC 959), each a decimal 0..=255.
//! - EPRT argument: `<d>af<d>addr<d>port<d>` with any delimiter `d` in ASCII 33..=126
//!   (RFC 2428 §2), af 1 = IPv4, 2 = IPv6.
//! - EPSV reply: `(<d><d><d>port<d>)` (RFC 2428 §3).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

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
    let mut nums = [0u8; 6];
    let mut parts = arg.split(',');
    for slot in nums.iter_mut() {
        let part = parts
            .next()
            .ok_or(AddrError::Malformed("expected six numbers"))?;
        *slot = parse_byte(part.trim_matches(|c| c == ' ' || c == '\t'))
            .ok_or(AddrError::Malformed("each number must be 0..=255"))?;
    }
    if parts.next().is_some() {
        return Err(AddrError::Malformed("expected six numbers"));
    }
    Ok(from_six(nums))
}

/// A decimal number of one to three digits, at most 255.
fn parse_byte(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u8>().ok()
}

fn from_six(n: [u8; 6]) -> SocketAddrV4 {
    let [h1, h2, h3, h4, p1, p2] = n;
    SocketAddrV4::new(
        Ipv4Addr::new(h1, h2, h3, h4),
        u16::from(p1) << 8 | u16::from(p2),
    )
}

/// Formats `h1,h2,h3,h4,p1,p2`.
pub fn format_port(addr: SocketAddrV4) -> String {
    let [h1, h2, h3, h4] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{h1},{h2},{h3},{h4},{p1},{p2}")
}

/// The text of a 227 reply: `Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
pub fn pasv_reply_text(addr: SocketAddrV4) -> String {
    format!("Entering Passive Mode ({}).", format_port(addr))
}

/// Finds `h1,h2,h3,h4,p1,p2` anywhere in a 227 reply text (with or without parentheses, as
/// real servers vary).
pub fn parse_pasv_reply(text: &str) -> Result<SocketAddrV4, AddrError> {
    let bytes = text.as_bytes();
    let mut prev_digit = false;
    for (i, &b) in bytes.iter().enumerate() {
        let digit = b.is_ascii_digit();
        if digit && !prev_digit {
            if let Some(addr) = bytes.get(i..).and_then(six_numbers_at) {
                return Ok(addr);
            }
        }
        prev_digit = digit;
    }
    Err(AddrError::Malformed("no h1,h2,h3,h4,p1,p2 in reply"))
}

/// Reads `n,n,n,n,n,n` (spaces allowed around the numbers) from the start of `s`.
fn six_numbers_at(s: &[u8]) -> Option<SocketAddrV4> {
    let mut pos = 0;
    let mut nums = [0u8; 6];
    let skip_spaces = |pos: &mut usize| {
        while s.get(*pos) == Some(&b' ') {
            *pos += 1;
        }
    };
    for (k, slot) in nums.iter_mut().enumerate() {
        if k > 0 {
            skip_spaces(&mut pos);
            if s.get(pos) != Some(&b',') {
                return None;
            }
            pos += 1;
            skip_spaces(&mut pos);
        }
        let start = pos;
        while s.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let digits = s.get(start..pos)?;
        *slot = parse_byte(std::str::from_utf8(digits).ok()?)?;
    }
    Some(from_six(nums))
}

/// Parses an EPRT argument.
pub fn parse_eprt(arg: &str) -> Result<SocketAddr, AddrError> {
    let arg = arg.trim_matches(' ');
    let d = arg
        .chars()
        .next()
        .ok_or(AddrError::Malformed("empty EPRT argument"))?;
    if !(d.is_ascii_graphic()) {
        return Err(AddrError::Malformed("delimiter must be ASCII 33..=126"));
    }
    let mut parts = arg.split(d);
    let (Some(""), Some(af), Some(addr), Some(port), Some(""), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AddrError::Malformed("expected <d>af<d>addr<d>port<d>"));
    };
    let af = parse_decimal_u16(af).ok_or(AddrError::Malformed("bad address family"))?;
    let ip: IpAddr = match af {
        1 => IpAddr::V4(
            addr.parse::<Ipv4Addr>()
                .map_err(|_| AddrError::Malformed("bad IPv4 address"))?,
        ),
        2 => IpAddr::V6(
            addr.parse::<Ipv6Addr>()
                .map_err(|_| AddrError::Malformed("bad IPv6 address"))?,
        ),
        n => return Err(AddrError::UnsupportedFamily(n)),
    };
    let port = parse_decimal_u16(port)
        .filter(|&p| p != 0)
        .ok_or(AddrError::Malformed("port must be 1..=65535"))?;
    Ok(SocketAddr::new(ip, port))
}

/// A decimal number of one to five digits that fits in a `u16`.
fn parse_decimal_u16(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok()
}

/// Formats an EPRT argument with `|` as delimiter, e.g. `|2|::1|5282|`.
pub fn format_eprt(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("|1|{}|{}|", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("|2|{}|{}|", a.ip(), a.port()),
    }
}

/// The text of a 229 reply: `Entering Extended Passive Mode (|||port|)`.
pub fn epsv_reply_text(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Finds `(<d><d><d>port<d>)` in a 229 reply text and returns the port.
///
/// The parentheses are not required (a few servers leave them out); the first
/// `<d><d><d>port<d>` with a delimiter in ASCII 33..=126 other than a digit wins.
pub fn parse_epsv_reply(text: &str) -> Result<u16, AddrError> {
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        if let Some(port) = bytes.get(i..).and_then(epsv_at) {
            return Ok(port);
        }
    }
    Err(AddrError::Malformed("no (|||port|) in reply"))
}

/// Reads `<d><d><d>port<d>` from the start of `s`.
fn epsv_at(s: &[u8]) -> Option<u16> {
    let d = *s.first()?;
    if !d.is_ascii_graphic() || d.is_ascii_digit() {
        return None;
    }
    if s.get(1) != Some(&d) || s.get(2) != Some(&d) {
        return None;
    }
    let rest = s.get(3..)?;
    let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if rest.get(len) != Some(&d) {
        return None;
    }
    let digits = std::str::from_utf8(rest.get(..len)?).ok()?;
    parse_decimal_u16(digits).filter(|&p| p != 0)
}
