//! The PROXY protocol (HAProxy), versions 1 and 2, sans-IO.
//!
//! A proxy in front of Ferry (HAProxy with `send-proxy` or `send-proxy-v2`) opens its
//! connection to the server with one header that names the real client, then relays the
//! client's bytes untouched. [`parse`] reads that header from the bytes received so far:
//!
//! ```text
//!  bytes ──► parse ──► Incomplete            (read more, call again with all bytes)
//!                  ├─► Done { header, consumed } (the FTP stream starts at `consumed`)
//!                  └─► Err(ProxyError)        (close the connection)
//! ```
//!
//! Formats:
//! - **v1** (text): `PROXY TCP4 192.0.2.1 198.51.100.2 51000 21\r\n`, `TCP6` likewise, or
//!   `PROXY UNKNOWN ...\r\n`; at most [`V1_MAX_LEN`] bytes including the CRLF.
//! - **v2** (binary): the 12-byte [`V2_SIGNATURE`], a version/command byte (`0x20` LOCAL,
//!   `0x21` PROXY), a family/transport byte, a big-endian length, then the addresses and
//!   optional TLVs (skipped). The length is capped at [`V2_MAX_PAYLOAD`].
//!
//! A `LOCAL` command (health checks), `UNKNOWN`, the `UNSPEC` family and Unix sockets give
//! [`ProxyHeader::Local`] or [`ProxyHeader::Unknown`]: the connection's own endpoints
//! stand. Datagram transports are refused (Ferry serves TCP only).
//!
//! The parser decides as early as it can: a first byte that starts neither signature is an
//! error at once, so a client that talks FTP to a proxy-protocol port is not left waiting.
//! A prefix of a valid header is always `Incomplete`, never an error, and the `consumed`
//! count never exceeds the header, so a driver can read exactly the header's bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest v1 header, CRLF included (from the specification).
pub const V1_MAX_LEN: usize = 107;
/// The signature that starts every v2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The fixed part of a v2 header: signature, version/command, family, length.
pub const V2_FIXED_LEN: usize = 16;
/// The largest v2 address-and-TLV block accepted (the wire format allows 65535).
pub const V2_MAX_PAYLOAD: usize = 4096;
/// The longest header [`parse`] can accept, either version: a buffer of this size always
/// suffices.
pub const MAX_HEADER_LEN: usize = V2_FIXED_LEN + V2_MAX_PAYLOAD;

/// The start of a v1 header.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The v2 address block sizes for TCP over IPv4 and IPv6.
const V2_INET_LEN: usize = 12;
const V2_INET6_LEN: usize = 36;

/// What a PROXY header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// A relayed TCP connection: the real client (`source`) and the address it connected
    /// to on the proxy (`destination`).
    Proxied {
        /// The real client.
        source: SocketAddr,
        /// The address the client connected to.
        destination: SocketAddr,
    },
    /// v2 `LOCAL`: the proxy's own connection (a health check); its endpoints are the real
    /// ones.
    Local,
    /// v1 `UNKNOWN`, or a v2 family without usable addresses (`UNSPEC`, Unix sockets): the
    /// connection's own endpoints stand.
    Unknown,
}

impl ProxyHeader {
    /// The real client address, when the header names one.
    pub fn source(&self) -> Option<SocketAddr> {
        match self {
            ProxyHeader::Proxied { source, .. } => Some(*source),
            ProxyHeader::Local | ProxyHeader::Unknown => None,
        }
    }

    /// The real client address, or `own` (the connection's peer) when the header names
    /// none.
    pub fn client_or(&self, own: SocketAddr) -> SocketAddr {
        self.source().unwrap_or(own)
    }
}

/// Which version of the protocol a header used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text format.
    V1,
    /// The binary format.
    V2,
}

/// The outcome of [`parse`] on the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The bytes are a valid prefix of a header: more are needed.
    Incomplete,
    /// A whole header.
    Done {
        /// What it says.
        header: ProxyHeader,
        /// Its version.
        version: Version,
        /// Its length: the relayed stream starts at this offset.
        consumed: usize,
    },
}

/// Why bytes are not a valid PROXY header. Always the peer's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The bytes start neither a v1 nor a v2 header.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// A v1 header without CRLF within the maximum length.
    #[error("PROXY v1 header longer than {V1_MAX_LEN} bytes")]
    V1TooLong,
    /// A v1 header that breaks the format (the reason says where).
    #[error("malformed PROXY v1 header: {0}")]
    V1Malformed(&'static str),
    /// A v2 header with a version other than 2.
    #[error("unsupported PROXY v2 version {0}")]
    V2Version(u8),
    /// A v2 command other than LOCAL (0) and PROXY (1).
    #[error("unknown PROXY v2 command {0}")]
    V2Command(u8),
    /// A v2 family/transport byte outside the specification.
    #[error("unknown PROXY v2 address family/transport 0x{0:02x}")]
    V2Family(u8),
    /// A v2 header for a datagram transport (Ferry serves TCP).
    #[error("PROXY v2 header for a datagram transport")]
    V2Datagram,
    /// A v2 address-and-TLV block larger than [`V2_MAX_PAYLOAD`].
    #[error("PROXY v2 header of {0} bytes is too long (max {V2_MAX_PAYLOAD})")]
    V2TooLong(usize),
    /// A v2 address block shorter than its family needs.
    #[error("PROXY v2 address block of {got} bytes, {need} needed")]
    V2Short {
        /// The length announced.
        got: usize,
        /// The length the family needs.
        need: usize,
    },
}

/// Parses a PROXY header (v1 or v2) at the start of `buf`, the bytes received so far.
///
/// Call again with the longer buffer after [`Parsed::Incomplete`]. Never reads past the
/// header: `consumed` is its exact length, whatever follows it in `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete),
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf),
        Some(_) => Err(ProxyError::NotProxy),
    }
}

/// Whether `buf` starts with `prefix`, or is a prefix of it (`None` when neither).
fn prefix_match(buf: &[u8], prefix: &[u8]) -> Option<bool> {
    let n = buf.len().min(prefix.len());
    if buf.get(..n) != prefix.get(..n) {
        None
    } else {
        Some(buf.len() >= prefix.len())
    }
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    match prefix_match(buf, V1_PREFIX) {
        None => return Err(ProxyError::NotProxy),
        Some(false) => return Ok(Parsed::Incomplete),
        Some(true) => {}
    }
    let window = buf.get(..buf.len().min(V1_MAX_LEN)).unwrap_or(buf);
    let Some(end) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return if buf.len() >= V1_MAX_LEN {
            Err(ProxyError::V1TooLong)
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    if window.get(end) == Some(&b'\n') {
        return Err(ProxyError::V1Malformed("bare LF"));
    }
    let consumed = end + 2;
    if consumed > V1_MAX_LEN {
        return Err(ProxyError::V1TooLong);
    }
    match buf.get(end + 1) {
        None => return Ok(Parsed::Incomplete),
        Some(b'\n') => {}
        Some(_) => return Err(ProxyError::V1Malformed("CR not followed by LF")),
    }
    let line = buf.get(..end).unwrap_or_default();
    let header = parse_v1_line(line)?;
    Ok(Parsed::Done {
        header,
        version: Version::V1,
        consumed,
    })
}

/// Parses `PROXY PROTO SRC DST SPORT DPORT` (no CRLF).
fn parse_v1_line(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let line = std::str::from_utf8(line).map_err(|_| ProxyError::V1Malformed("not ASCII text"))?;
    let mut fields = line.split(' ');
    if fields.next() != Some("PROXY") {
        return Err(ProxyError::V1Malformed("no PROXY keyword"));
    }
    let proto = fields.next().unwrap_or_default();
    let v6 = match proto {
        // Whatever follows UNKNOWN is ignored (the specification says so).
        "UNKNOWN" => return Ok(ProxyHeader::Unknown),
        "TCP4" => false,
        "TCP6" => true,
        _ => {
            return Err(ProxyError::V1Malformed(
                "protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    };
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ProxyError::V1Malformed(
            "expected source, destination and two ports separated by single spaces",
        ));
    };
    let ip = |text: &str| -> Result<IpAddr, ProxyError> {
        if v6 {
            text.parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .map_err(|_| ProxyError::V1Malformed("bad IPv6 address"))
        } else {
            text.parse::<Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| ProxyError::V1Malformed("bad IPv4 address"))
        }
    };
    Ok(ProxyHeader::Proxied {
        source: SocketAddr::new(ip(src)?, v1_port(sport)?),
        destination: SocketAddr::new(ip(dst)?, v1_port(dport)?),
    })
}

/// A decimal port: 1 to 5 ASCII digits, at most 65535 (no sign, no spaces).
fn v1_port(text: &str) -> Result<u16, ProxyError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProxyError::V1Malformed("bad port"));
    }
    text.parse::<u16>()
        .map_err(|_| ProxyError::V1Malformed("port out of range"))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    match prefix_match(buf, &V2_SIGNATURE) {
        None => return Err(ProxyError::NotProxy),
        Some(false) => return Ok(Parsed::Incomplete),
        Some(true) => {}
    }
    // Check each fixed byte as soon as it arrives.
    let Some(&ver_cmd) = buf.get(12) else {
        return Ok(Parsed::Incomplete);
    };
    let (version, command) = (ver_cmd >> 4, ver_cmd & 0x0f);
    if version != 2 {
        return Err(ProxyError::V2Version(version));
    }
    let local = match command {
        0 => true,
        1 => false,
        c => return Err(ProxyError::V2Command(c)),
    };
    let Some(&fam) = buf.get(13) else {
        return Ok(Parsed::Incomplete);
    };
    let (family, transport) = (fam >> 4, fam & 0x0f);
    if family > 3 || transport > 2 {
        return Err(ProxyError::V2Family(fam));
    }
    let Some(len) = buf.get(14..16) else {
        return Ok(Parsed::Incomplete);
    };
    let len = usize::from(u16::from_be_bytes([
        len.first().copied().unwrap_or_default(),
        len.get(1).copied().unwrap_or_default(),
    ]));
    if len > V2_MAX_PAYLOAD {
        return Err(ProxyError::V2TooLong(len));
    }
    let consumed = V2_FIXED_LEN + len;
    let Some(block) = buf.get(V2_FIXED_LEN..consumed) else {
        return Ok(Parsed::Incomplete);
    };
    let header = if local {
        // The specification: discard the address block, including the family.
        ProxyHeader::Local
    } else {
        v2_addresses(family, transport, block)?
    };
    Ok(Parsed::Done {
        header,
        version: Version::V2,
        consumed,
    })
}

/// The addresses of a v2 PROXY command; `block` is the whole address-and-TLV block.
fn v2_addresses(family: u8, transport: u8, block: &[u8]) -> Result<ProxyHeader, ProxyError> {
    const STREAM: u8 = 1;
    const DGRAM: u8 = 2;
    if transport == DGRAM {
        return Err(ProxyError::V2Datagram);
    }
    if family == 0 || transport != STREAM {
        return Ok(ProxyHeader::Unknown);
    }
    let need = match family {
        1 => V2_INET_LEN,
        2 => V2_INET6_LEN,
        // AF_UNIX: no IP to report; the connection's own address stands.
        _ => return Ok(ProxyHeader::Unknown),
    };
    let short = || ProxyError::V2Short {
        got: block.len(),
        need,
    };
    let addrs = block.get(..need).ok_or_else(short)?;
    let ip_len = (need - 4) / 2;
    let (ips, ports) = addrs.split_at(2 * ip_len);
    let (src_ip, dst_ip) = ips.split_at(ip_len);
    let ip = |bytes: &[u8]| -> Option<IpAddr> {
        if let Ok(octets) = <[u8; 4]>::try_from(bytes) {
            Some(IpAddr::from(octets))
        } else {
            <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
        }
    };
    let port = |at: usize| -> Option<u16> {
        let b = ports.get(at..at + 2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    };
    let (Some(src), Some(dst), Some(sport), Some(dport)) =
        (ip(src_ip), ip(dst_ip), port(0), port(2))
    else {
        return Err(short());
    };
    Ok(ProxyHeader::Proxied {
        source: SocketAddr::new(src, sport),
        destination: SocketAddr::new(dst, dport),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn done(buf: &[u8]) -> (ProxyHeader, Version, usize) {
        match parse(buf) {
            Ok(Parsed::Done {
                header,
                version,
                consumed,
            }) => (header, version, consumed),
            other => panic!("{buf:?}: {other:?}"),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A v2 header: ver/cmd byte, family byte, block.
    fn v2(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(ver_cmd);
        out.push(fam);
        out.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
        out.extend_from_slice(block);
        out
    }

    fn inet_block() -> Vec<u8> {
        let mut b = vec![192, 0, 2, 7, 198, 51, 100, 1];
        b.extend_from_slice(&51000u16.to_be_bytes());
        b.extend_from_slice(&21u16.to_be_bytes());
        b
    }

    fn inet6_block() -> Vec<u8> {
        let src: Ipv6Addr = "2001:db8::7".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut b = src.octets().to_vec();
        b.extend_from_slice(&dst.octets());
        b.extend_from_slice(&40000u16.to_be_bytes());
        b.extend_from_slice(&2121u16.to_be_bytes());
        b
    }

    #[test]
    fn v1_tcp4() {
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 21\r\nUSER x\r\n";
        let (h, v, n) = done(line);
        assert_eq!(v, Version::V1);
        assert_eq!(n, line.len() - 8);
        assert_eq!(
            h,
            ProxyHeader::Proxied {
                source: addr("192.0.2.7:51000"),
                destination: addr("198.51.100.1:21"),
            }
        );
        assert_eq!(h.source(), Some(addr("192.0.2.7:51000")));
    }

    #[test]
    fn v1_tcp6() {
        let (h, _, n) = done(b"PROXY TCP6 2001:db8::7 ::1 65535 0\r\n");
        assert_eq!(n, 36);
        assert_eq!(h.source(), Some(addr("[2001:db8::7]:65535")));
        assert_eq!(
            h,
            ProxyHeader::Proxied {
                source: addr("[2001:db8::7]:65535"),
                destination: addr("[::1]:0"),
            }
        );
    }

    #[test]
    fn v1_unknown_ignores_the_rest() {
        let own = addr("10.0.0.1:1234");
        for line in [
            &b"PROXY UNKNOWN\r\n"[..],
            b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
            b"PROXY UNKNOWN whatever it says\r\n",
        ] {
            let (h, _, n) = done(line);
            assert_eq!(h, ProxyHeader::Unknown);
            assert_eq!(n, line.len());
            assert_eq!(h.client_or(own), own);
        }
    }

    #[test]
    fn v1_every_prefix_is_incomplete() {
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 21\r\n";
        for i in 0..line.len() {
            assert_eq!(parse(&line[..i]), Ok(Parsed::Incomplete), "prefix {i}");
        }
    }

    #[test]
    fn v1_longest_header_is_accepted() {
        // The specification's worst case: TCP6 with two full-length addresses and ports.
        let a = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let line = format!("PROXY TCP6 {a} {a} 65535 65535\r\n");
        assert_eq!(line.len(), V1_MAX_LEN - 3);
        done(line.as_bytes());
        let pad = format!("PROXY UNKNOWN {}\r\n", "x".repeat(V1_MAX_LEN - 16));
        assert_eq!(pad.len(), V1_MAX_LEN);
        done(pad.as_bytes());
    }

    #[test]
    fn v1_too_long() {
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX_LEN, b'x');
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
        // CRLF straddling the limit.
        let mut edge = b"PROXY UNKNOWN ".to_vec();
        edge.resize(V1_MAX_LEN - 1, b'x');
        edge.push(b'\r');
        assert_eq!(parse(&edge), Err(ProxyError::V1TooLong));
        // Incomplete just under the limit.
        let mut under = b"PROXY UNKNOWN ".to_vec();
        under.resize(V1_MAX_LEN - 1, b'x');
        assert_eq!(parse(&under), Ok(Parsed::Incomplete));
    }

    #[test]
    fn v1_malformed() {
        let bad: &[&[u8]] = &[
            b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 21\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 21\rX",
            b"PROXY TCP5 192.0.2.7 198.51.100.1 51000 21\r\n",
            b"PROXY tcp4 192.0.2.7 198.51.100.1 51000 21\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 51000\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 21 9\r\n",
            b"PROXY TCP4 192.0.2.7  198.51.100.1 51000 21\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 21 \r\n",
            b"PROXY TCP4 2001:db8::7 198.51.100.1 51000 21\r\n",
            b"PROXY TCP6 192.0.2.7 ::1 51000 21\r\n",
            b"PROXY TCP4 192.0.2.256 198.51.100.1 51000 21\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 21\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 +5 21\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 -5 21\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 123456 21\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1  21\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 5 21\xff\r\n",
            b"PROXY \r\n",
            b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
        ];
        for line in bad {
            assert!(
                matches!(parse(line), Err(ProxyError::V1Malformed(_))),
                "{:?}: {:?}",
                String::from_utf8_lossy(line),
                parse(line)
            );
        }
    }

    #[test]
    fn not_proxy_is_refused_early() {
        for buf in [
            &b"U"[..],
            b"USER anonymous\r\n",
            b"PASV\r\n",
            b"PROX\r",
            b"proxy TCP4",
            b"GET / HTTP/1.1\r\n",
            b"\r\n\r\n\0\r\nQUIX",
            b"\r\r",
            b"\x16\x03\x01",
        ] {
            assert_eq!(parse(buf), Err(ProxyError::NotProxy), "{buf:?}");
        }
    }

    #[test]
    fn v2_inet() {
        let mut hdr = v2(0x21, 0x11, &inet_block());
        let len = hdr.len();
        hdr.extend_from_slice(b"USER x\r\n");
        let (h, v, n) = done(&hdr);
        assert_eq!((v, n), (Version::V2, len));
        assert_eq!(n, 28);
        assert_eq!(
            h,
            ProxyHeader::Proxied {
                source: addr("192.0.2.7:51000"),
                destination: addr("198.51.100.1:21"),
            }
        );
    }

    #[test]
    fn v2_inet6() {
        let (h, _, n) = done(&v2(0x21, 0x21, &inet6_block()));
        assert_eq!(n, 52);
        assert_eq!(
            h,
            ProxyHeader::Proxied {
                source: addr("[2001:db8::7]:40000"),
                destination: addr("[2001:db8::1]:2121"),
            }
        );
    }

    #[test]
    fn v2_tlvs_are_skipped() {
        let mut block = inet_block();
        // PP2_TYPE_ALPN "ftp", PP2_TYPE_NOOP with padding.
        block.extend_from_slice(&[0x01, 0x00, 0x03, b'f', b't', b'p', 0x04, 0x00, 0x02, 0, 0]);
        let hdr = v2(0x21, 0x11, &block);
        let (h, _, n) = done(&hdr);
        assert_eq!(n, hdr.len());
        assert_eq!(h.source(), Some(addr("192.0.2.7:51000")));
    }

    #[test]
    fn v2_local_and_unspec() {
        let own = addr("127.0.0.1:4000");
        // LOCAL, whatever the family and block.
        for (fam, block) in [(0x00, vec![]), (0x11, inet_block()), (0x11, vec![1, 2])] {
            let (h, _, _) = done(&v2(0x20, fam, &block));
            assert_eq!(h, ProxyHeader::Local);
            assert_eq!(h.client_or(own), own);
        }
        // PROXY with UNSPEC or a Unix socket: the real endpoints stand.
        assert_eq!(done(&v2(0x21, 0x00, &[])).0, ProxyHeader::Unknown);
        assert_eq!(done(&v2(0x21, 0x31, &[0; 216])).0, ProxyHeader::Unknown);
        assert_eq!(done(&v2(0x21, 0x10, &inet_block())).0, ProxyHeader::Unknown);
    }

    #[test]
    fn v2_every_prefix_is_incomplete() {
        let hdr = v2(0x21, 0x21, &inet6_block());
        for i in 0..hdr.len() {
            assert_eq!(parse(&hdr[..i]), Ok(Parsed::Incomplete), "prefix {i}");
        }
    }

    #[test]
    fn v2_errors() {
        assert_eq!(
            parse(&v2(0x11, 0x11, &inet_block())),
            Err(ProxyError::V2Version(1))
        );
        // Refused as soon as the bad byte arrives.
        assert_eq!(
            parse(&v2(0x31, 0x11, &[])[..13]),
            Err(ProxyError::V2Version(3))
        );
        assert_eq!(
            parse(&v2(0x22, 0x11, &[])[..13]),
            Err(ProxyError::V2Command(2))
        );
        assert_eq!(
            parse(&v2(0x21, 0x41, &[])[..14]),
            Err(ProxyError::V2Family(0x41))
        );
        assert_eq!(
            parse(&v2(0x21, 0x13, &[])[..14]),
            Err(ProxyError::V2Family(0x13))
        );
        assert_eq!(
            parse(&v2(0x21, 0x12, &inet_block())),
            Err(ProxyError::V2Datagram)
        );
        assert_eq!(
            parse(&v2(0x21, 0x11, &[1, 2, 3])),
            Err(ProxyError::V2Short { got: 3, need: 12 })
        );
        assert_eq!(
            parse(&v2(0x21, 0x21, &inet_block())),
            Err(ProxyError::V2Short { got: 12, need: 36 })
        );
        let mut big = V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&big), Err(ProxyError::V2TooLong(65535)));
        let at_max = v2(0x21, 0x11, &[0; V2_MAX_PAYLOAD]);
        assert_eq!(at_max.len(), MAX_HEADER_LEN);
        done(&at_max);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            ProxyError::V2Family(0x41).to_string(),
            "unknown PROXY v2 address family/transport 0x41"
        );
        assert_eq!(
            ProxyError::NotProxy.to_string(),
            "not a PROXY protocol header"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(Parsed::Done { consumed, .. }) = parse(&buf) {
                prop_assert!(consumed <= buf.len());
                prop_assert!(consumed <= MAX_HEADER_LEN);
            }
        }

        #[test]
        fn v2_prefixed_bytes_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut buf = V2_SIGNATURE.to_vec();
            buf.extend_from_slice(&tail);
            if let Ok(Parsed::Done { consumed, .. }) = parse(&buf) {
                prop_assert!(consumed <= buf.len());
            }
        }

        #[test]
        fn v1_prefixed_text_never_panics(tail in "[ -~\r\n]{0,120}") {
            let buf = format!("PROXY {tail}");
            if let Ok(Parsed::Done { consumed, .. }) = parse(buf.as_bytes()) {
                prop_assert!(consumed <= V1_MAX_LEN);
            }
        }

        #[test]
        fn a_header_is_found_whatever_follows(
            src in any::<[u8; 4]>(), sport in any::<u16>(),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
            v1 in any::<bool>(),
        ) {
            let mut buf = if v1 {
                let ip = Ipv4Addr::from(src);
                format!("PROXY TCP4 {ip} 10.0.0.1 {sport} 21\r\n").into_bytes()
            } else {
                let mut block = src.to_vec();
                block.extend_from_slice(&[10, 0, 0, 1]);
                block.extend_from_slice(&sport.to_be_bytes());
                block.extend_from_slice(&21u16.to_be_bytes());
                v2(0x21, 0x11, &block)
            };
            let len = buf.len();
            buf.extend_from_slice(&tail);
            let (h, _, n) = done(&buf);
            prop_assert_eq!(n, len);
            prop_assert_eq!(h.source(), Some(SocketAddr::new(IpAddr::from(src), sport)));
            // Every prefix is incomplete, never an error.
            for i in 0..len {
                prop_assert_eq!(parse(&buf[..i]), Ok(Parsed::Incomplete));
            }
        }
    }
}
