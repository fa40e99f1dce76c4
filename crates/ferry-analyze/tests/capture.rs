//! Capture reading and packet decoding: every test capture against tshark's frame counts,
//! synthetic pcap/pcapng in every variant, truncation, garbage and random bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use etherparse::PacketBuilder;
use ferry_analyze::capture::{
    CaptureError, CaptureReader, Format, LinkType, ReaderLimits, Timestamp,
};
use ferry_analyze::packet::{decode_tcp, Skip, TcpFlags};
use proptest::prelude::*;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// (capture path relative to tests/data, tshark's packet count)
fn truth_frames() -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(data_dir().join("truth/frames.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let name = cols.next().unwrap().to_string();
            let n = cols.next().unwrap().parse().unwrap();
            (name, n)
        })
        .collect()
}

/// An owned copy of a frame, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owned {
    number: u64,
    ts: Timestamp,
    link_type: LinkType,
    data: Vec<u8>,
    orig_len: u32,
    interface: u32,
}

fn read_all<R: Read>(reader: R, limits: ReaderLimits) -> (Vec<Owned>, Option<CaptureError>) {
    let mut out = Vec::new();
    let mut r = match CaptureReader::with_limits(reader, limits) {
        Ok(r) => r,
        Err(e) => return (out, Some(e)),
    };
    loop {
        match r.next_frame() {
            Ok(Some(f)) => out.push(Owned {
                number: f.number,
                ts: f.ts,
                link_type: f.link_type,
                data: f.data.to_vec(),
                orig_len: f.orig_len,
                interface: f.interface,
            }),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[test]
fn every_test_capture_reads_with_tsharks_frame_count() {
    let truth = truth_frames();
    assert!(truth.len() >= 50, "truth table has {} rows", truth.len());
    for (name, expected) in truth {
        let path = data_dir().join(&name);
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (frames, err) = read_all(file, ReaderLimits::default());
        assert!(err.is_none(), "{name}: {err:?}");
        assert_eq!(frames.len() as u64, expected, "{name}");
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.number, i as u64 + 1, "{name}");
            assert!(f.data.len() as u64 <= u64::from(f.orig_len), "{name}");
        }
        // Every frame of these captures is Ethernet or BSD loopback and decodes to IP.
        let tcp = frames
            .iter()
            .filter(|f| decode_tcp(f.link_type, &f.data).is_ok())
            .count();
        assert!(tcp > 0, "{name}: no TCP");
    }
}

#[test]
fn first_frame_matches_tshark_timestamp() {
    // tshark: arkime/ftp.pcap frame 4 at 1454301530.974541000, 129.21.171.72:21 -> 10.10.30.26
    let file = std::fs::File::open(data_dir().join("arkime/ftp.pcap")).unwrap();
    let (frames, err) = read_all(file, ReaderLimits::default());
    assert!(err.is_none());
    let f4 = &frames[3];
    assert_eq!(f4.ts.to_string(), "1454301530.974541000");
    assert_eq!(f4.link_type, LinkType::ETHERNET);
    let seg = decode_tcp(f4.link_type, &f4.data).unwrap();
    assert_eq!(seg.src.to_string(), "129.21.171.72:21");
    assert_eq!(seg.dst.to_string(), "10.10.30.26:43958");
    assert!(seg.payload.starts_with(b"220 Welcome to mirrors.rit.edu."));
}

#[test]
fn bsd_loopback_capture_decodes() {
    let file =
        std::fs::File::open(data_dir().join("suricata-verify/ftp-port-memcap/input.pcap")).unwrap();
    let (frames, err) = read_all(file, ReaderLimits::default());
    assert!(err.is_none());
    assert!(frames.iter().all(|f| f.link_type == LinkType::NULL));
    assert!(frames
        .iter()
        .all(|f| decode_tcp(f.link_type, &f.data).is_ok()));
}

// ---------------------------------------------------------------------------------------
// Synthetic captures

fn tcp_ipv4(payload: &[u8], seq: u32) -> Vec<u8> {
    let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 21, seq, 1000)
        .ack(7)
        .psh();
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn tcp_ipv6(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv6([0xfe; 16], [0x20; 16], 64).tcp(21, 50000, 5, 1000);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn ethernet(ip: &[u8], ether_type: u16, vlans: &[u16]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    for (i, _) in vlans.iter().enumerate() {
        // outer tag 0x88a8 (QinQ) when there are two
        let tpid: u16 = if vlans.len() > 1 && i == 0 {
            0x88a8
        } else {
            0x8100
        };
        v.extend_from_slice(&tpid.to_be_bytes());
        v.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    v.extend_from_slice(&ether_type.to_be_bytes());
    v.extend_from_slice(ip);
    v
}

struct PcapWriter {
    big_endian: bool,
    nano: bool,
    out: Vec<u8>,
}

impl PcapWriter {
    fn new(big_endian: bool, nano: bool, link: u32) -> Self {
        let mut w = PcapWriter {
            big_endian,
            nano,
            out: Vec::new(),
        };
        let magic: u32 = if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        w.u32(magic);
        w.u16(2);
        w.u16(4);
        w.u32(0);
        w.u32(0);
        w.u32(65535);
        w.u32(link);
        w
    }
    fn u16(&mut self, v: u16) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }
    fn u32(&mut self, v: u32) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }
    fn packet(&mut self, secs: u32, nanos: u32, data: &[u8], orig: u32) {
        self.u32(secs);
        self.u32(if self.nano { nanos } else { nanos / 1000 });
        self.u32(data.len() as u32);
        self.u32(orig);
        self.out.extend_from_slice(data);
    }
}

#[test]
fn pcap_in_both_byte_orders_and_resolutions() {
    let p1 = ethernet(&tcp_ipv4(b"USER ftp\r\n", 100), 0x0800, &[]);
    let p2 = ethernet(&tcp_ipv6(b"220 hi\r\n"), 0x86dd, &[]);
    for big_endian in [false, true] {
        for nano in [false, true] {
            let mut w = PcapWriter::new(big_endian, nano, 1);
            w.packet(1_700_000_000, 123_456_000, &p1, p1.len() as u32);
            w.packet(1_700_000_001, 999_999_000, &p2, p2.len() as u32 + 10);
            let r = CaptureReader::new(&w.out[..]).unwrap();
            assert_eq!(
                r.format(),
                Format::Pcap {
                    big_endian,
                    nanosecond: nano
                }
            );
            let (frames, err) = read_all(&w.out[..], ReaderLimits::default());
            assert!(err.is_none(), "{err:?}");
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[0].ts, Timestamp::new(1_700_000_000, 123_456_000));
            assert_eq!(frames[1].ts.to_string(), "1700000001.999999000");
            assert_eq!(frames[1].orig_len, p2.len() as u32 + 10);
            let s = decode_tcp(frames[0].link_type, &frames[0].data).unwrap();
            assert_eq!(s.payload, b"USER ftp\r\n");
            assert_eq!(s.seq, 100);
            assert_eq!(s.ack, 7);
            assert!(s.flags.ack() && s.flags.psh() && !s.flags.syn());
            let s = decode_tcp(frames[1].link_type, &frames[1].data).unwrap();
            assert_eq!(s.payload, b"220 hi\r\n");
            assert!(s.src.is_ipv6());
        }
    }
}

/// A pcapng writer (one section at a time, either byte order).
struct NgWriter {
    big_endian: bool,
    out: Vec<u8>,
}

impl NgWriter {
    fn new(big_endian: bool) -> Self {
        let mut w = NgWriter {
            big_endian,
            out: Vec::new(),
        };
        w.section();
        w
    }
    fn b16(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn b32(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, kind: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let total = body.len() as u32 + 12;
        let t = self.b32(kind);
        let l = self.b32(total);
        self.out.extend_from_slice(&t);
        self.out.extend_from_slice(&l);
        self.out.extend_from_slice(&body);
        self.out.extend_from_slice(&l);
    }
    fn section(&mut self) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.b32(0x1a2b_3c4d));
        body.extend_from_slice(&self.b16(1));
        body.extend_from_slice(&self.b16(0));
        body.extend_from_slice(&[0xff; 8]);
        // 0x0a0d0d0a is a palindrome: the same in both byte orders.
        self.block(0x0a0d_0d0a, &body);
    }
    fn interface(&mut self, link: u16, tsresol: Option<u8>) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.b16(link));
        body.extend_from_slice(&self.b16(0));
        body.extend_from_slice(&self.b32(262_144));
        if let Some(r) = tsresol {
            body.extend_from_slice(&self.b16(9));
            body.extend_from_slice(&self.b16(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0, 0, 0, 0]);
        }
        self.block(1, &body);
    }
    fn epb(&mut self, if_id: u32, ts: u64, data: &[u8]) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.b32(if_id));
        body.extend_from_slice(&self.b32((ts >> 32) as u32));
        body.extend_from_slice(&self.b32(ts as u32));
        body.extend_from_slice(&self.b32(data.len() as u32));
        body.extend_from_slice(&self.b32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(6, &body);
    }
    fn spb(&mut self, data: &[u8]) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.b32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(3, &body);
    }
    fn opb(&mut self, if_id: u16, ts: u64, data: &[u8]) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.b16(if_id));
        body.extend_from_slice(&self.b16(0));
        body.extend_from_slice(&self.b32((ts >> 32) as u32));
        body.extend_from_slice(&self.b32(ts as u32));
        body.extend_from_slice(&self.b32(data.len() as u32));
        body.extend_from_slice(&self.b32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(2, &body);
    }
    fn name_resolution(&mut self) {
        self.block(4, &[0, 0, 0, 0]);
    }
    fn statistics(&mut self) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.b32(0));
        body.extend_from_slice(&self.b32(0));
        body.extend_from_slice(&self.b32(0));
        self.block(5, &body);
    }
}

fn sll2(ip: &[u8], ether_type: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ether_type.to_be_bytes());
    v.extend_from_slice(&[0, 0]); // reserved
    v.extend_from_slice(&3u32.to_be_bytes()); // interface index
    v.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    v.push(0); // packet type: to us
    v.push(6);
    v.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0, 0]);
    v.extend_from_slice(ip);
    v
}

fn sll(ip: &[u8], ether_type: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0u16.to_be_bytes()); // to us
    v.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    v.extend_from_slice(&6u16.to_be_bytes());
    v.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0, 0]);
    v.extend_from_slice(&ether_type.to_be_bytes());
    v.extend_from_slice(ip);
    v
}

#[test]
fn pcapng_interfaces_resolutions_and_packet_blocks_in_both_byte_orders() {
    let v4 = tcp_ipv4(b"PASV\r\n", 1);
    let v6 = tcp_ipv6(b"227 ok\r\n");
    for big_endian in [false, true] {
        let mut w = NgWriter::new(big_endian);
        w.interface(1, None); // Ethernet, microseconds (default)
        w.interface(101, Some(9)); // raw IP, nanoseconds
        w.interface(276, Some(0x80 | 10)); // SLL2, 2^-10 s
        w.name_resolution();
        w.epb(1, 1_700_000_000_123_456_789, &v6);
        w.epb(0, 1_700_000_000_000_001, &ethernet(&v4, 0x0800, &[7]));
        w.statistics();
        w.spb(&ethernet(&v4, 0x0800, &[]));
        w.opb(2, (1_700_000_000u64 << 10) | 512, &sll2(&v4, 0x0800));
        w.block(0x0bad, &[1, 2, 3, 4]); // unknown block: skipped
                                        // A second section in the other byte order, with its own interface list.
        let mut second = NgWriter::new(!big_endian);
        second.interface(113, Some(3)); // SLL, milliseconds
        second.epb(0, 1_700_000_002_500, &sll(&v6, 0x86dd));
        w.out.extend_from_slice(&second.out);

        let (frames, err) = read_all(&w.out[..], ReaderLimits::default());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames.len(), 5);
        let numbers: Vec<u64> = frames.iter().map(|f| f.number).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
        assert_eq!(frames[0].link_type, LinkType::RAW);
        assert_eq!(frames[0].interface, 1);
        assert_eq!(frames[0].ts.to_string(), "1700000000.123456789");
        assert_eq!(frames[1].link_type, LinkType::ETHERNET);
        assert_eq!(frames[1].ts.to_string(), "1700000000.000001000");
        assert_eq!(frames[2].link_type, LinkType::ETHERNET); // SPB: interface 0
        assert_eq!(frames[2].data.len(), ethernet(&v4, 0x0800, &[]).len());
        assert_eq!(frames[3].link_type, LinkType::LINUX_SLL2);
        assert_eq!(frames[3].ts.to_string(), "1700000000.500000000");
        assert_eq!(frames[4].link_type, LinkType::LINUX_SLL);
        assert_eq!(frames[4].ts.to_string(), "1700000002.500000000");
        for f in &frames {
            let seg = decode_tcp(f.link_type, &f.data)
                .unwrap_or_else(|e| panic!("frame {} {:?}: {e:?}", f.number, f.link_type));
            assert!(seg.payload == b"PASV\r\n" || seg.payload == b"227 ok\r\n");
        }
    }
}

#[test]
fn link_types_decode_to_the_same_segment() {
    let v4 = tcp_ipv4(b"RETR x\r\n", 9);
    let v6 = tcp_ipv6(b"150 go\r\n");
    let mut cases: Vec<(LinkType, Vec<u8>)> = vec![
        (LinkType::ETHERNET, ethernet(&v4, 0x0800, &[])),
        (LinkType::ETHERNET, ethernet(&v4, 0x0800, &[10])),
        (LinkType::ETHERNET, ethernet(&v6, 0x86dd, &[10, 20])),
        (LinkType::LINUX_SLL, sll(&v4, 0x0800)),
        (LinkType::LINUX_SLL2, sll2(&v6, 0x86dd)),
        (LinkType::RAW, v4.clone()),
        (LinkType::RAW, v6.clone()),
        (LinkType::IPV4, v4.clone()),
        (LinkType::IPV6, v6.clone()),
    ];
    let mut null_le = 2u32.to_le_bytes().to_vec();
    null_le.extend_from_slice(&v4);
    cases.push((LinkType::NULL, null_le));
    let mut null_v6 = 30u32.to_le_bytes().to_vec();
    null_v6.extend_from_slice(&v6);
    cases.push((LinkType::NULL, null_v6));
    let mut lo = 24u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&v6);
    cases.push((LinkType::LOOP, lo));
    for (lt, data) in &cases {
        let seg = decode_tcp(*lt, data).unwrap_or_else(|e| panic!("{lt:?}: {e:?}"));
        assert!(seg.payload == b"RETR x\r\n" || seg.payload == b"150 go\r\n");
        assert_eq!(seg.wire_len as usize, seg.payload.len());
    }
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    // IPv6 with hop-by-hop (8 bytes) and destination options (8 bytes) before TCP.
    let tcp_and_payload = {
        let full = tcp_ipv6(b"NOOP\r\n");
        full[40..].to_vec()
    };
    let mut v = Vec::new();
    v.extend_from_slice(&[0x60, 0, 0, 0]);
    v.extend_from_slice(&((16 + tcp_and_payload.len()) as u16).to_be_bytes());
    v.push(0); // next: hop-by-hop
    v.push(64);
    v.extend_from_slice(&[0xfe; 16]);
    v.extend_from_slice(&[0x20; 16]);
    v.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop → dest opts, PadN
    v.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // dest opts → TCP, PadN
    v.extend_from_slice(&tcp_and_payload);
    let seg = decode_tcp(LinkType::RAW, &v).unwrap();
    assert_eq!(seg.payload, b"NOOP\r\n");
}

#[test]
fn non_tcp_fragments_and_garbage_are_skipped() {
    let mut udp = Vec::new();
    PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 5)
        .udp(53, 53)
        .write(&mut udp, b"x")
        .unwrap();
    assert_eq!(decode_tcp(LinkType::RAW, &udp), Err(Skip::NotTcp));
    let arp = ethernet(&[0u8; 28], 0x0806, &[]);
    assert!(matches!(
        decode_tcp(LinkType::ETHERNET, &arp),
        Err(Skip::NotIp | Skip::Malformed)
    ));
    let mut frag = tcp_ipv4(b"data", 1);
    frag[6] = 0x20; // more fragments
    assert_eq!(decode_tcp(LinkType::RAW, &frag), Err(Skip::Fragment));
    let mut later = tcp_ipv4(b"data", 1);
    later[6] = 0x00;
    later[7] = 0x10; // offset 128
    assert_eq!(decode_tcp(LinkType::RAW, &later), Err(Skip::Fragment));
    assert_eq!(
        decode_tcp(LinkType(147), b"abc"),
        Err(Skip::UnsupportedLink)
    );
    assert!(decode_tcp(LinkType::ETHERNET, &[0; 5]).is_err());
    assert!(decode_tcp(LinkType::RAW, &[]).is_err());
    assert!(decode_tcp(LinkType::LINUX_SLL2, &[0x08, 0x00]).is_err());
}

#[test]
fn snaplen_truncated_segment_keeps_its_wire_length() {
    let full = tcp_ipv4(&[b'a'; 1000], 1);
    let cut = &full[..20 + 20 + 100];
    let seg = decode_tcp(LinkType::RAW, cut).unwrap();
    assert_eq!(seg.payload.len(), 100);
    assert_eq!(seg.wire_len, 1000);
    assert!(seg.is_truncated());
}

#[test]
fn flags_display_like_wireshark() {
    assert_eq!(
        TcpFlags(TcpFlags::SYN | TcpFlags::ACK).to_string(),
        "[SYN, ACK]"
    );
}

// ---------------------------------------------------------------------------------------
// Errors

#[test]
fn garbage_empty_and_short_inputs() {
    assert!(matches!(
        CaptureReader::new(&b"GET / HTTP/1.1\r\n"[..]),
        Err(CaptureError::NotACapture { .. })
    ));
    assert!(matches!(
        CaptureReader::new(&b""[..]),
        Err(CaptureError::Empty)
    ));
    assert!(matches!(
        CaptureReader::new(&[0xd4, 0xc3][..]),
        Err(CaptureError::NotACapture { .. })
    ));
    // A pcap magic with half a header.
    let r = CaptureReader::new(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0][..]);
    assert!(matches!(r, Err(CaptureError::Truncated { .. })), "{r:?}");
    let e = CaptureReader::new(&b"hello"[..]).unwrap_err();
    assert!(e.to_string().contains("not a pcap or pcapng"), "{e}");
}

/// Record boundaries of a little-endian pcap file.
fn record_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = vec![24];
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
        ends.push(at);
    }
    ends
}

#[test]
fn truncated_file_yields_frames_then_a_clear_error() {
    let bytes = std::fs::read(data_dir().join("zeek/traces/ipv4.pcap")).unwrap();
    let ends = record_ends(&bytes);
    let mut cuts: Vec<usize> = (25..bytes.len()).step_by(97).collect();
    cuts.extend(ends.iter().map(|e| e - 1).filter(|&c| c >= 24));
    for cut in cuts {
        let (frames, err) = read_all(&bytes[..cut], ReaderLimits::default());
        let complete = ends.iter().filter(|&&e| e <= cut).count() as u64 - 1;
        assert_eq!(frames.len() as u64, complete, "cut at {cut}");
        if ends.contains(&cut) {
            assert!(err.is_none(), "cut at boundary {cut}: {err:?}");
        } else {
            match err {
                Some(CaptureError::Truncated { after_frame, .. }) => {
                    assert_eq!(after_frame, complete)
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn block_larger_than_the_cap_is_an_error_not_an_allocation() {
    let mut w = PcapWriter::new(false, false, 1);
    w.packet(1, 0, &[0u8; 3000], 3000);
    // A record header announcing 2 GB.
    w.u32(2);
    w.u32(0);
    w.u32(0x7fff_0000);
    w.u32(0x7fff_0000);
    w.out.extend_from_slice(&[0u8; 100]);
    let limits = ReaderLimits {
        initial_buffer: 4096,
        max_block: 64 * 1024,
    };
    let (frames, err) = read_all(&w.out[..], limits);
    assert_eq!(frames.len(), 1);
    assert!(
        matches!(
            err,
            Some(CaptureError::BlockTooLarge { after_frame: 1, .. })
                | Some(CaptureError::Truncated { after_frame: 1, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn buffer_grows_for_large_blocks_up_to_the_cap() {
    let mut w = PcapWriter::new(false, false, 101);
    let big = tcp_ipv4(&vec![b'z'; 60_000], 1);
    w.packet(1, 0, &big, big.len() as u32);
    w.packet(2, 0, &big, big.len() as u32);
    let limits = ReaderLimits {
        initial_buffer: 4096,
        max_block: 1 << 20,
    };
    let mut r = CaptureReader::with_limits(&w.out[..], limits).unwrap();
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        assert_eq!(f.data.len(), big.len());
        n += 1;
    }
    assert_eq!(n, 2);
    assert!(r.buffer_capacity() <= (1 << 20) + 64);
}

struct FailingReader {
    left: Vec<u8>,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "disk on fire",
            ));
        }
        let n = buf.len().min(self.left.len()).min(1000);
        buf[..n].copy_from_slice(&self.left[..n]);
        self.left.drain(..n);
        Ok(n)
    }
}

#[test]
fn io_errors_keep_their_cause() {
    let bytes = std::fs::read(data_dir().join("zeek/traces/ipv4.pcap")).unwrap();
    let limits = ReaderLimits {
        initial_buffer: 4096,
        max_block: 1 << 20,
    };
    let (frames, err) = read_all(
        FailingReader {
            left: bytes[..6000].to_vec(),
        },
        limits,
    );
    assert!(!frames.is_empty());
    match err {
        Some(CaptureError::Io { source, .. }) => {
            assert_eq!(source.kind(), io::ErrorKind::ConnectionReset)
        }
        other => panic!("{other:?}"),
    }
}

/// Returns the input in chunks of the given sizes (cycled), including empty reads... no:
/// `Read` may not return 0 before the end, so sizes are at least 1.
struct Chunky<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    i: usize,
}

impl Read for Chunky<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes[self.i % self.sizes.len()].max(1);
        self.i += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn chunked_reads_give_the_same_frames(sizes in prop::collection::vec(1usize..3000, 1..20),
                                          which in 0usize..4) {
        let names = ["zeek/traces/ipv6.pcap", "arkime/ftp.pcap",
                     "suricata-verify/ftp-port-memcap/input.pcap", "ndpi/ftp.pcap"];
        let bytes = std::fs::read(data_dir().join(names[which])).unwrap();
        let limits = ReaderLimits { initial_buffer: 4096, max_block: 1 << 20 };
        let (whole, e1) = read_all(&bytes[..], limits);
        let (chunked, e2) = read_all(Chunky { data: &bytes, sizes, i: 0 }, limits);
        prop_assert!(e1.is_none() && e2.is_none());
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = read_all(&bytes[..], ReaderLimits { initial_buffer: 4096, max_block: 65536 });
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        ng in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..3000),
        sizes in prop::collection::vec(1usize..700, 1..8),
    ) {
        let mut bytes = if ng { NgWriter::new(false).out } else { PcapWriter::new(false, false, 1).out };
        if ng {
            let mut w = NgWriter { big_endian: false, out: Vec::new() };
            w.interface(1, Some(9));
            bytes.extend_from_slice(&w.out);
        }
        bytes.extend_from_slice(&body);
        let limits = ReaderLimits { initial_buffer: 4096, max_block: 65536 };
        let (frames, _) = read_all(Chunky { data: &bytes, sizes, i: 0 }, limits);
        for f in frames {
            let _ = decode_tcp(f.link_type, &f.data);
        }
    }

    #[test]
    fn mutated_real_capture_never_panics(flips in prop::collection::vec((0usize..12078, any::<u8>()), 1..40)) {
        let mut bytes = std::fs::read(data_dir().join("zeek/traces/ipv4.pcap")).unwrap();
        for (at, v) in flips {
            if let Some(b) = bytes.get_mut(at) { *b = v; }
        }
        let limits = ReaderLimits { initial_buffer: 4096, max_block: 1 << 20 };
        let (frames, _) = read_all(&bytes[..], limits);
        for f in frames {
            let _ = decode_tcp(f.link_type, &f.data);
        }
    }

    #[test]
    fn random_link_payloads_never_panic(link in prop::sample::select(vec![0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276]),
                                        bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_tcp(LinkType(link), &bytes);
    }
}
