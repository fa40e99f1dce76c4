//! Packet decoding: link layer → IPv4/IPv6 → TCP, with etherparse's lax slicers.
//!
//! [`decode_tcp`] turns one captured frame into a [`TcpSegment`] borrowing the frame's
//! bytes, or says why it could not ([`Skip`]); it never panics.
//!
//! | link type | header handling |
//! |---|---|
//! | `ETHERNET` (1) | Ethernet II, 802.1Q / 802.1ad (QinQ) / 0x9100 VLAN tags, up to 3 (etherparse) |
//! | `LINUX_SLL` (113) | 16-byte cooked header (etherparse `LinuxSllSlice`), then the EtherType |
//! | `LINUX_SLL2` (276) | 20-byte cooked v2 header (parsed here: etherparse 0.21 has no SLL2), then the EtherType |
//! | `RAW` (101), 12, 14, `IPV4` (228), `IPV6` (229) | IP header first (version nibble decides) |
//! | `NULL` (0), `LOOP` (108) | 4-byte address family (either byte order), then IP by version nibble |
//!
//! IPv6 extension headers (hop-by-hop, routing, destination options, AH) are skipped by
//! etherparse. IP fragments are not reassembled: a fragmented datagram (any fragment, the
//! first included) is counted as [`Skip::Fragment`] and dropped. TCP checksums are not
//! checked (captures taken on the sending host carry offloaded, wrong checksums).
//!
//! Truncated frames (snapshot length shorter than the packet) still decode when the TCP
//! header is complete: [`TcpSegment::payload`] holds the captured bytes and
//! [`TcpSegment::wire_len`] the payload length announced by the IP header, so the
//! reassembler can tell which bytes the capture missed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use etherparse::{
    EtherType, LaxNetSlice, LaxSlicedPacket, LinuxSllProtocolType, LinuxSllSlice, TransportSlice,
};

use crate::capture::LinkType;

/// TCP header flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN: no more data from the sender.
    pub const FIN: u8 = 0x01;
    /// SYN: synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// RST: reset the connection.
    pub const RST: u8 = 0x04;
    /// PSH: push.
    pub const PSH: u8 = 0x08;
    /// ACK: the acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// URG: the urgent pointer is significant.
    pub const URG: u8 = 0x20;

    /// FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// SYN is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// RST is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// PSH is set.
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    /// ACK is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    /// URG is set.
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for TcpFlags {
    /// Wireshark-style list, e.g. `[SYN, ACK]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::FIN, "FIN"),
            (Self::SYN, "SYN"),
            (Self::RST, "RST"),
            (Self::PSH, "PSH"),
            (Self::ACK, "ACK"),
            (Self::URG, "URG"),
        ];
        f.write_str("[")?;
        let mut first = true;
        for (bit, name) in names {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str("]")
    }
}

/// A decoded TCP segment, borrowing the frame's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags.ack()`).
    pub ack: u32,
    /// Header flags.
    pub flags: TcpFlags,
    /// Receive window (unscaled).
    pub window: u16,
    /// Urgent pointer (meaningful when `flags.urg()`).
    pub urgent_ptr: u16,
    /// The captured payload bytes.
    pub payload: &'a [u8],
    /// The payload length on the wire according to the IP header: `payload.len()` unless the
    /// capture truncated the packet.
    pub wire_len: u32,
}

impl TcpSegment<'_> {
    /// The packet was cut by the snapshot length: `wire_len > payload.len()`.
    pub fn is_truncated(&self) -> bool {
        self.wire_len as usize > self.payload.len()
    }
}

/// Why a frame yielded no TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// A link type this decoder does not handle.
    UnsupportedLink,
    /// Not IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, ...).
    NotTcp,
    /// An IP fragment (fragments are not reassembled).
    Fragment,
    /// Headers too short or inconsistent.
    Malformed,
}

/// Decodes a frame of the given link type down to its TCP segment.
pub fn decode_tcp(link_type: LinkType, data: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let sliced = match link_type.0 {
        1 => LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::Malformed)?,
        113 => {
            let sll = LinuxSllSlice::from_slice(data).map_err(|_| Skip::Malformed)?;
            match sll.protocol_type() {
                LinuxSllProtocolType::EtherType(et) => {
                    LaxSlicedPacket::from_ether_type(et, sll.payload_slice())
                }
                _ => return Err(Skip::NotIp),
            }
        }
        276 => {
            let proto: [u8; 2] = data
                .get(0..2)
                .and_then(|b| b.try_into().ok())
                .ok_or(Skip::Malformed)?;
            let payload = data.get(20..).ok_or(Skip::Malformed)?;
            LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes(proto)), payload)
        }
        101 | 12 | 14 | 228 | 229 => from_ip(data)?,
        0 | 108 => from_ip(data.get(4..).ok_or(Skip::Malformed)?)?,
        _ => return Err(Skip::UnsupportedLink),
    };
    segment_from(&sliced)
}

fn from_ip(data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    match data.first().map(|b| b >> 4) {
        Some(4) | Some(6) => LaxSlicedPacket::from_ip(data).map_err(|_| Skip::Malformed),
        Some(_) => Err(Skip::NotIp),
        None => Err(Skip::Malformed),
    }
}

fn segment_from<'a>(sliced: &LaxSlicedPacket<'a>) -> Result<TcpSegment<'a>, Skip> {
    let net = match &sliced.net {
        Some(net @ (LaxNetSlice::Ipv4(_) | LaxNetSlice::Ipv6(_))) => net,
        Some(LaxNetSlice::Arp(_)) => return Err(Skip::NotIp),
        None => {
            return Err(if sliced.stop_err.is_some() {
                Skip::Malformed
            } else {
                Skip::NotIp
            })
        }
    };
    let (src_ip, dst_ip, ip_payload, wire_ip_payload): (IpAddr, IpAddr, _, Option<usize>) =
        match net {
            LaxNetSlice::Ipv4(v4) => {
                let h = v4.header();
                let hlen = usize::from(h.ihl()) * 4;
                let auth = v4.extensions().auth.map_or(0, |a| a.slice().len());
                let wire = usize::from(h.total_len())
                    .checked_sub(hlen + auth)
                    .filter(|_| h.total_len() != 0);
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    v4.payload(),
                    wire,
                )
            }
            LaxNetSlice::Ipv6(v6) => {
                let h = v6.header();
                let ext = v6.extensions().slice().len();
                let wire = usize::from(h.payload_length())
                    .checked_sub(ext)
                    .filter(|_| h.payload_length() != 0);
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    v6.payload(),
                    wire,
                )
            }
            LaxNetSlice::Arp(_) => return Err(Skip::NotIp),
        };
    if ip_payload.fragmented {
        return Err(Skip::Fragment);
    }
    if ip_payload.ip_number != etherparse::IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    let tcp = match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => tcp,
        _ => return Err(Skip::Malformed),
    };
    let payload = tcp.payload();
    let captured_ip_payload = ip_payload.payload.len();
    let missing = if ip_payload.incomplete {
        wire_ip_payload.map_or(0, |w| w.saturating_sub(captured_ip_payload))
    } else {
        0
    };
    let wire_len = u32::try_from(payload.len().saturating_add(missing)).unwrap_or(u32::MAX);
    Ok(TcpSegment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(tcp.slice().get(13).copied().unwrap_or(0) & 0x3f),
        window: tcp.window_size(),
        urgent_ptr: tcp.urgent_pointer(),
        payload,
        wire_len,
    })
}
