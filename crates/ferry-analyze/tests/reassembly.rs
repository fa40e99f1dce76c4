//! TCP reassembly: synthetic segment lists (order, duplicates, overlaps, holes, wrap,
//! mid-stream, RST, reuse, timeouts, caps), a 200 MB memory check, and real captures
//! against Zeek and tshark baselines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_analyze::capture::CaptureError;
use ferry_analyze::capture::Timestamp;
use ferry_analyze::packet::{TcpFlags, TcpSegment};
use ferry_analyze::reassembly::{
    run, run_partial, CloseReason, Direction, FlowId, FlowInfo, Interest, Options, Orientation,
    Reassembler, SegmentMeta, StreamSink,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Data(Vec<u8>),
    Gap(u64),
}

/// Per flow and direction: the pieces received, merged; checks the tiling guarantee.
#[derive(Debug, Default)]
struct Recorder {
    infos: BTreeMap<FlowId, FlowInfo>,
    streams: BTreeMap<(FlowId, usize), Vec<Piece>>,
    offsets: BTreeMap<(FlowId, usize), u64>,
    closes: BTreeMap<FlowId, CloseReason>,
    segments: u64,
    /// (frame, payload length) of every segment with payload, as `on_segment` saw them.
    payload_frames: Vec<(u64, usize)>,
    violations: Vec<String>,
    hint: Option<SocketAddr>,
    ignore_all: bool,
    /// Keep data bytes (off for the 200 MB test).
    keep: bool,
    data_bytes: BTreeMap<(FlowId, usize), u64>,
}

fn di(dir: Direction) -> usize {
    match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

impl Recorder {
    fn new() -> Self {
        Recorder {
            keep: true,
            ..Recorder::default()
        }
    }
    fn check(&mut self, flow: FlowId, dir: Direction, off: u64, len: u64) {
        if !self.infos.contains_key(&flow) {
            self.violations.push(format!("{flow} event before open"));
        }
        if self.closes.contains_key(&flow) {
            self.violations.push(format!("{flow} event after close"));
        }
        let expect = self.offsets.entry((flow, di(dir))).or_insert(0);
        if *expect != off {
            self.violations
                .push(format!("{flow} {dir:?}: offset {off}, expected {expect}"));
        }
        if len == 0 {
            self.violations.push(format!("{flow} empty event"));
        }
        *expect = off + len;
    }
    fn stream(&self, flow: u64, dir: Direction) -> Vec<Piece> {
        self.streams
            .get(&(FlowId(flow), di(dir)))
            .cloned()
            .unwrap_or_default()
    }
    fn bytes(&self, flow: u64, dir: Direction) -> Vec<u8> {
        self.stream(flow, dir)
            .into_iter()
            .flat_map(|p| match p {
                Piece::Data(d) => d,
                Piece::Gap(_) => Vec::new(),
            })
            .collect()
    }
    fn gap_total(&self, flow: u64, dir: Direction) -> u64 {
        self.stream(flow, dir)
            .iter()
            .map(|p| match p {
                Piece::Gap(n) => *n,
                Piece::Data(_) => 0,
            })
            .sum()
    }
}

impl StreamSink for Recorder {
    fn server_hint(&mut self, a: SocketAddr, b: SocketAddr) -> Option<SocketAddr> {
        self.hint.filter(|h| *h == a || *h == b)
    }
    fn on_open(&mut self, flow: FlowId, info: &FlowInfo) -> Interest {
        if self.infos.insert(flow, info.clone()).is_some() {
            self.violations.push(format!("{flow} opened twice"));
        }
        if self.ignore_all {
            Interest::Ignore
        } else {
            Interest::Follow
        }
    }
    fn on_segment(
        &mut self,
        _flow: FlowId,
        _dir: Direction,
        segment: &TcpSegment<'_>,
        frame: u64,
        _ts: Timestamp,
    ) {
        self.segments += 1;
        if !segment.payload.is_empty() {
            self.payload_frames.push((frame, segment.payload.len()));
        }
    }
    fn on_data(&mut self, flow: FlowId, dir: Direction, data: &[u8], at: SegmentMeta) -> Interest {
        self.check(flow, dir, at.stream_offset, data.len() as u64);
        *self.data_bytes.entry((flow, di(dir))).or_insert(0) += data.len() as u64;
        if self.keep {
            let s = self.streams.entry((flow, di(dir))).or_default();
            match s.last_mut() {
                Some(Piece::Data(d)) => d.extend_from_slice(data),
                _ => s.push(Piece::Data(data.to_vec())),
            }
        }
        Interest::Follow
    }
    fn on_gap(&mut self, flow: FlowId, dir: Direction, len: u64, at: SegmentMeta) {
        self.check(flow, dir, at.stream_offset, len);
        let s = self.streams.entry((flow, di(dir))).or_default();
        match s.last_mut() {
            Some(Piece::Gap(n)) => *n += len,
            _ => s.push(Piece::Gap(len)),
        }
    }
    fn on_close(&mut self, flow: FlowId, reason: CloseReason, _ts: Timestamp) {
        if self.closes.insert(flow, reason).is_some() {
            self.violations.push(format!("{flow} closed twice"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Synthetic segments

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:21";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Seg {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
    ts: Timestamp,
}

fn seg(from_client: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Seg {
    let (src, dst) = if from_client {
        (addr(C), addr(S))
    } else {
        (addr(S), addr(C))
    };
    Seg {
        src,
        dst,
        seq,
        ack,
        flags,
        payload: payload.to_vec(),
        ts: Timestamp::new(1000, 0),
    }
}

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
const PA: u8 = TcpFlags::PSH | TcpFlags::ACK;

fn feed(r: &mut Reassembler, rec: &mut Recorder, segs: &[Seg]) {
    for (i, s) in segs.iter().enumerate() {
        let t = TcpSegment {
            src: s.src,
            dst: s.dst,
            seq: s.seq,
            ack: s.ack,
            flags: TcpFlags(s.flags),
            window: 1000,
            urgent_ptr: 0,
            payload: &s.payload,
            wire_len: s.payload.len() as u32,
        };
        r.process_segment(i as u64 + 1, s.ts, &t, rec);
    }
}

fn run_segs(opts: Options, segs: &[Seg]) -> (Recorder, ferry_analyze::Stats) {
    let mut r = Reassembler::new(opts);
    let mut rec = Recorder::new();
    feed(&mut r, &mut rec, segs);
    let stats = r.finish(&mut rec);
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
    assert_eq!(r.buffered_bytes(), 0);
    (rec, stats)
}

/// Handshake with client ISN `ci` and server ISN `si`.
fn handshake(ci: u32, si: u32) -> Vec<Seg> {
    vec![
        seg(true, ci, 0, SYN, b""),
        seg(false, si, ci.wrapping_add(1), SYN | ACK, b""),
        seg(true, ci.wrapping_add(1), si.wrapping_add(1), ACK, b""),
    ]
}

#[test]
fn in_order_stream_with_handshake_and_fin() {
    let (ci, si) = (1000u32, 5000u32);
    let mut s = handshake(ci, si);
    s.push(seg(false, si + 1, ci + 1, PA, b"220 hello\r\n"));
    s.push(seg(true, ci + 1, si + 12, PA, b"USER a\r\n"));
    s.push(seg(false, si + 12, ci + 9, PA, b"331 pw\r\n"));
    s.push(seg(true, ci + 9, si + 20, FIN | ACK, b""));
    s.push(seg(false, si + 20, ci + 10, FIN | ACK, b""));
    s.push(seg(true, ci + 10, si + 21, ACK, b""));
    let (rec, stats) = run_segs(Options::default(), &s);
    assert_eq!(rec.bytes(1, Direction::ClientToServer), b"USER a\r\n");
    assert_eq!(
        rec.bytes(1, Direction::ServerToClient),
        b"220 hello\r\n331 pw\r\n"
    );
    assert_eq!(rec.closes[&FlowId(1)], CloseReason::Fin);
    let info = &rec.infos[&FlowId(1)];
    assert_eq!(info.client, addr(C));
    assert_eq!(info.orientation, Orientation::Syn);
    assert!(info.syn_seen && !info.mid_stream);
    assert_eq!(stats.flows_opened, 1);
    assert_eq!(stats.closed_fin, 1);
    // The last ACK after the close hits the tombstone, not a new flow.
    assert_eq!(stats.late_segments, 1);
    assert_eq!(stats.gap_bytes, 0);
    assert_eq!(rec.segments, 8);
}

#[test]
fn out_of_order_duplicates_and_overlaps() {
    let ci = 77u32;
    let mut s = handshake(ci, 9);
    let d = b"0123456789abcdefghij";
    let at = |o: usize, e: usize| seg(true, ci + 1 + o as u32, 10, PA, &d[o..e]);
    s.push(at(10, 15));
    s.push(at(5, 10));
    s.push(at(12, 20)); // overlaps the buffered 10..15
    s.push(at(5, 10)); // duplicate of buffered
    s.push(at(0, 7)); // fills the hole and overlaps
    s.push(at(0, 20)); // full retransmission
    let (rec, stats) = run_segs(Options::default(), &s);
    assert_eq!(rec.bytes(1, Direction::ClientToServer), d);
    assert_eq!(rec.gap_total(1, Direction::ClientToServer), 0);
    assert_eq!(stats.inconsistent_overlaps, 0);
    assert!(stats.duplicate_bytes >= 20 + 5 + 3 + 2);
    assert_eq!(stats.bytes_delivered, 20);
}

#[test]
fn first_received_bytes_win_and_differences_are_counted() {
    let ci = 1u32;
    let mut s = handshake(ci, 1);
    s.push(seg(true, ci + 1 + 4, 2, PA, b"EFGH")); // buffered first
    s.push(seg(true, ci + 1 + 2, 2, PA, b"cdXXXX")); // overlaps differently
    s.push(seg(true, ci + 1, 2, PA, b"ab"));
    let (rec, stats) = run_segs(Options::default(), &s);
    assert_eq!(rec.bytes(1, Direction::ClientToServer), b"abcdEFGH");
    assert_eq!(stats.inconsistent_overlaps, 1);
}

#[test]
fn hole_is_reported_when_the_peer_acks_past_it() {
    let (ci, si) = (10u32, 20u32);
    let mut s = handshake(ci, si);
    s.push(seg(false, si + 1, ci + 1, PA, b"aaaa"));
    // si+5..si+9 lost in the capture
    s.push(seg(false, si + 9, ci + 1, PA, b"cccc"));
    assert_eq!(s.len(), 5);
    s.push(seg(true, ci + 1, si + 13, ACK, b""));
    let mut r = Reassembler::new(Options::default());
    let mut rec = Recorder::new();
    feed(&mut r, &mut rec, &s);
    // Delivered before the end of the capture: the ACK forced it.
    assert_eq!(
        rec.stream(1, Direction::ServerToClient),
        vec![
            Piece::Data(b"aaaa".to_vec()),
            Piece::Gap(4),
            Piece::Data(b"cccc".to_vec())
        ]
    );
    assert_eq!(r.buffered_bytes(), 0);
    // A retransmission of the lost bytes now is too late: dropped, not re-delivered.
    feed(&mut r, &mut rec, &[seg(false, si + 5, ci + 1, PA, b"bbbb")]);
    r.finish(&mut rec);
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
    assert_eq!(rec.bytes(1, Direction::ServerToClient), b"aaaacccc");
}

#[test]
fn hole_before_fin_is_reported_at_close() {
    let (ci, si) = (10u32, 20u32);
    let mut s = handshake(ci, si);
    s.push(seg(true, ci + 1, si + 1, PA, b"ab"));
    s.push(seg(true, ci + 5, si + 1, PA | FIN, b"ef")); // cd missing, FIN at 6
    s.push(seg(false, si + 1, ci + 3, FIN | ACK, b"")); // server acks only "ab"
    let (rec, stats) = run_segs(Options::default(), &s);
    assert_eq!(
        rec.stream(1, Direction::ClientToServer),
        vec![
            Piece::Data(b"ab".to_vec()),
            Piece::Gap(2),
            Piece::Data(b"ef".to_vec())
        ]
    );
    assert_eq!(stats.gap_bytes, 2);
    assert_eq!(stats.closed_end_of_capture, 1);
}

#[test]
fn missing_tail_before_fin_is_a_gap() {
    let (ci, si) = (10u32, 20u32);
    let mut s = handshake(ci, si);
    s.push(seg(false, si + 1, ci + 1, PA, b"data"));
    s.push(seg(false, si + 15, ci + 1, FIN | ACK, b"")); // 10 bytes never captured
    s.push(seg(true, ci + 1, si + 16, FIN | ACK, b""));
    let (rec, stats) = run_segs(Options::default(), &s);
    assert_eq!(
        rec.stream(1, Direction::ServerToClient),
        vec![Piece::Data(b"data".to_vec()), Piece::Gap(10)]
    );
    assert_eq!(stats.closed_fin, 1);
}

#[test]
fn sequence_numbers_wrap() {
    let ci = u32::MAX - 5;
    let si = u32::MAX;
    let mut s = handshake(ci, si);
    let payload: Vec<u8> = (0..40u8).collect();
    // Client data crossing 2^32, sent in reverse order in 8-byte pieces.
    for k in (0..5).rev() {
        let o = k * 8;
        s.push(seg(
            true,
            ci.wrapping_add(1 + o as u32),
            si.wrapping_add(1),
            PA,
            &payload[o..o + 8],
        ));
    }
    s.push(seg(
        false,
        si.wrapping_add(1),
        ci.wrapping_add(41),
        PA,
        b"ok",
    ));
    let (rec, _) = run_segs(Options::default(), &s);
    assert_eq!(rec.bytes(1, Direction::ClientToServer), payload);
    assert_eq!(rec.bytes(1, Direction::ServerToClient), b"ok");
}

#[test]
fn long_stream_offsets_pass_four_gib() {
    // Stream offsets are 64-bit: feed 5 GiB of sequence space in 1 MiB jumps, capturing
    // only 10 bytes of each MiB; the peer acks everything.
    let ci = 123u32;
    let mut r = Reassembler::new(Options::default());
    let mut rec = Recorder::new();
    rec.keep = false;
    feed(&mut r, &mut rec, &handshake(ci, 0));
    let step: u64 = 1 << 20;
    let n = 5 * 1024u64;
    for k in 0..n {
        let seq = ci.wrapping_add(1).wrapping_add((k * step) as u32);
        feed(&mut r, &mut rec, &[seg(true, seq, 1, PA, b"0123456789")]);
        let ack = ci.wrapping_add(1).wrapping_add((k * step + step) as u32);
        feed(&mut r, &mut rec, &[seg(false, 1, ack, ACK, b"")]);
    }
    r.finish(&mut rec);
    assert!(rec.violations.is_empty(), "{:?}", &rec.violations[..3]);
    assert_eq!(rec.offsets[&(FlowId(1), 0)], n * step);
    assert_eq!(rec.data_bytes[&(FlowId(1), 0)], n * 10);
}

#[test]
fn mid_stream_orientation_from_ports_hint_and_lower_port() {
    // No handshake; server port 21 is in the options.
    let s = vec![
        seg(true, 500, 900, PA, b"NOOP\r\n"),
        seg(false, 900, 506, PA, b"200 ok\r\n"),
    ];
    let (rec, stats) = run_segs(Options::default(), &s);
    let info = &rec.infos[&FlowId(1)];
    assert!(info.mid_stream && !info.syn_seen);
    assert_eq!(info.server, addr(S));
    assert_eq!(info.orientation, Orientation::ServerPort);
    assert_eq!(rec.bytes(1, Direction::ClientToServer), b"NOOP\r\n");
    assert_eq!(rec.bytes(1, Direction::ServerToClient), b"200 ok\r\n");
    assert_eq!(stats.flows_mid_stream, 1);

    // The server speaks first, port 21 not configured: lower port wins.
    let s = vec![seg(false, 900, 506, PA, b"200 ok\r\n")];
    let opts = Options {
        server_ports: vec![],
        ..Options::default()
    };
    let (rec, _) = run_segs(opts.clone(), &s);
    assert_eq!(rec.infos[&FlowId(1)].server, addr(S));
    assert_eq!(rec.infos[&FlowId(1)].orientation, Orientation::LowerPort);

    // The sink's hint beats everything.
    let mut r = Reassembler::new(opts);
    let mut rec = Recorder::new();
    rec.hint = Some(addr(C));
    feed(&mut r, &mut rec, &s);
    r.finish(&mut rec);
    assert_eq!(rec.infos[&FlowId(1)].server, addr(C));
    assert_eq!(rec.infos[&FlowId(1)].orientation, Orientation::SinkHint);
    assert_eq!(rec.bytes(1, Direction::ClientToServer), b"200 ok\r\n");
}

#[test]
fn syn_ack_without_syn_sets_both_bases() {
    let (ci, si) = (40u32, 80u32);
    let s = vec![
        seg(false, si, ci + 1, SYN | ACK, b""),
        seg(true, ci + 3, si + 1, PA, b"cd"), // "ab" missing
        seg(true, ci + 1, si + 1, PA, b"ab"),
    ];
    let (rec, _) = run_segs(Options::default(), &s);
    let info = &rec.infos[&FlowId(1)];
    assert_eq!(info.orientation, Orientation::SynAck);
    assert_eq!(info.client, addr(C));
    assert!(!info.mid_stream);
    assert_eq!(rec.bytes(1, Direction::ClientToServer), b"abcd");
}

#[test]
fn rst_flushes_and_closes() {
    let (ci, si) = (1u32, 2u32);
    let mut s = handshake(ci, si);
    s.push(seg(true, ci + 1, si + 1, PA, b"xx"));
    s.push(seg(true, ci + 5, si + 1, PA, b"zz")); // 2 missing
    s.push(seg(false, si + 1, 0, RST, b""));
    s.push(seg(true, ci + 7, si + 1, PA, b"late")); // after the RST: dropped
    let (rec, stats) = run_segs(Options::default(), &s);
    assert_eq!(rec.closes[&FlowId(1)], CloseReason::Rst);
    assert_eq!(
        rec.stream(1, Direction::ClientToServer),
        vec![
            Piece::Data(b"xx".to_vec()),
            Piece::Gap(2),
            Piece::Data(b"zz".to_vec())
        ]
    );
    assert_eq!(stats.late_segments, 1);
    assert_eq!(stats.flows_opened, 1);
}

#[test]
fn reused_four_tuple_opens_a_new_flow() {
    let mut s = handshake(100, 200);
    s.push(seg(true, 101, 201, PA, b"one"));
    s.extend(handshake(9000, 7000));
    s.push(seg(true, 9001, 7001, PA, b"two"));
    let (rec, stats) = run_segs(Options::default(), &s);
    assert_eq!(rec.closes[&FlowId(1)], CloseReason::Reused);
    assert_eq!(rec.bytes(1, Direction::ClientToServer), b"one");
    assert_eq!(rec.bytes(2, Direction::ClientToServer), b"two");
    assert_eq!(stats.closed_reused, 1);
    // A new SYN after a FIN-closed flow also opens a new flow.
    let mut s = handshake(1, 1);
    s.push(seg(true, 2, 2, FIN | ACK, b""));
    s.push(seg(false, 2, 3, FIN | ACK, b""));
    s.extend(handshake(500, 600));
    s.push(seg(true, 501, 601, PA, b"again"));
    let (rec, _) = run_segs(Options::default(), &s);
    assert_eq!(rec.closes[&FlowId(1)], CloseReason::Fin);
    assert_eq!(rec.bytes(2, Direction::ClientToServer), b"again");
}

#[test]
fn idle_flows_time_out() {
    let mut s = handshake(1, 1);
    s.push(seg(true, 2, 2, PA, b"hi"));
    let mut other = seg(true, 10, 10, PA, b"x");
    other.src = addr("10.9.9.9:1234");
    other.ts = Timestamp::new(1000 + 7200, 0);
    s.push(other);
    let (rec, stats) = run_segs(Options::default(), &s);
    assert_eq!(rec.closes[&FlowId(1)], CloseReason::Timeout);
    assert_eq!(rec.closes[&FlowId(2)], CloseReason::EndOfCapture);
    assert_eq!(stats.closed_timeout, 1);
}

#[test]
fn per_direction_cap_skips_ahead_with_a_gap() {
    let opts = Options {
        max_buffer_per_direction: 1000,
        ..Options::default()
    };
    let ci = 0u32;
    let mut s = handshake(ci, 0);
    // First 100 bytes missing, then 1500 bytes in 100-byte segments.
    for k in 1..16u32 {
        s.push(seg(true, ci + 1 + k * 100, 1, PA, &[k as u8; 100]));
    }
    let mut r = Reassembler::new(opts);
    let mut rec = Recorder::new();
    for one in s.chunks(1) {
        feed(&mut r, &mut rec, one);
        assert!(r.buffered_bytes() <= 1000);
    }
    let stats = r.finish(&mut rec);
    let stream = rec.stream(1, Direction::ClientToServer);
    assert_eq!(stream[0], Piece::Gap(100));
    assert_eq!(rec.bytes(1, Direction::ClientToServer).len(), 1500);
    assert!(stats.buffer_overflow_skips >= 1);
}

#[test]
fn global_cap_holds_across_flows() {
    let opts = Options {
        max_buffer_per_direction: 10_000,
        max_buffer_total: 3000,
        ..Options::default()
    };
    let mut r = Reassembler::new(opts);
    let mut rec = Recorder::new();
    for f in 0..5u16 {
        let c = format!("10.0.0.1:{}", 2000 + f);
        for k in 1..10u32 {
            let mut x = seg(true, 1 + k * 100, 1, PA, &[1; 100]);
            x.src = addr(&c);
            feed(&mut r, &mut rec, &[x]);
            assert!(r.buffered_bytes() <= 3000, "{}", r.buffered_bytes());
        }
    }
    r.finish(&mut rec);
    assert!(rec.violations.is_empty(), "{:?}", rec.violations);
}

#[test]
fn ignored_flows_get_no_data_but_a_close() {
    let mut s = handshake(1, 1);
    s.push(seg(true, 2, 2, PA, b"secret"));
    let mut r = Reassembler::new(Options::default());
    let mut rec = Recorder::new();
    rec.ignore_all = true;
    feed(&mut r, &mut rec, &s);
    let stats = r.finish(&mut rec);
    assert!(rec.streams.is_empty());
    assert_eq!(rec.segments, 0);
    assert_eq!(rec.closes[&FlowId(1)], CloseReason::EndOfCapture);
    assert_eq!(stats.flows_ignored, 1);
}

#[test]
fn pure_acks_without_a_flow_are_orphans() {
    let s = vec![seg(true, 5, 5, ACK, b""), seg(true, 5, 5, RST, b"")];
    let (rec, stats) = run_segs(Options::default(), &s);
    assert!(rec.infos.is_empty());
    assert_eq!(stats.orphan_segments, 2);
}

/// The 200 MB memory check: a long stream with constant reordering and a lost segment
/// every so often; buffered bytes must stay under the caps the whole time.
#[test]
fn two_hundred_megabytes_stay_under_the_buffer_cap() {
    const TOTAL: u64 = 200 * 1024 * 1024;
    const MSS: u64 = 1460;
    const CAP: usize = 256 * 1024;
    let period = 1 << 20;
    let pattern: Vec<u8> = (0..2 * period).map(|i| (i % period % 251) as u8).collect();
    let opts = Options {
        max_buffer_per_direction: CAP,
        max_buffer_total: 2 * CAP,
        ..Options::default()
    };
    let mut r = Reassembler::new(opts);
    let mut rec = Recorder::new();
    rec.keep = false;
    let ci = 4_200_000_000u32; // the sequence number wraps after about 95 MB
    feed(&mut r, &mut rec, &handshake(ci, 1));
    let mut peak = 0usize;
    let mut off = 0u64;
    let mut window = Vec::new();
    let mut n = 0u64;
    let mut lost = 0u64;
    while off < TOTAL {
        let len = MSS.min(TOTAL - off);
        window.push((off, len));
        off += len;
        if window.len() == 8 || off == TOTAL {
            // Deliver the window in reverse; drop one segment in every 97 windows.
            n += 1;
            for (i, (o, l)) in window.drain(..).rev().enumerate() {
                if n % 97 == 0 && i == 3 {
                    lost += l;
                    continue;
                }
                let p = (o % period as u64) as usize;
                let s = TcpSegment {
                    src: addr(C),
                    dst: addr(S),
                    seq: ci.wrapping_add(1).wrapping_add(o as u32),
                    ack: 2,
                    flags: TcpFlags(PA),
                    window: 1000,
                    urgent_ptr: 0,
                    payload: &pattern[p..p + l as usize],
                    wire_len: l as u32,
                };
                r.process_segment(n, Timestamp::new(1000, 0), &s, &mut rec);
                peak = peak.max(r.buffered_bytes());
                assert!(r.buffered_bytes() <= 2 * CAP);
            }
        }
    }
    let stats = r.finish(&mut rec);
    assert!(rec.violations.is_empty(), "{:?}", rec.violations.first());
    assert!(peak <= CAP, "peak {peak}");
    assert_eq!(rec.offsets[&(FlowId(1), 0)], TOTAL);
    assert_eq!(stats.bytes_delivered + stats.gap_bytes, TOTAL);
    assert_eq!(stats.gap_bytes, lost);
    assert_eq!(r.buffered_bytes(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any permutation and duplication (with overlapping retransmissions) of a lossless
    /// segment list delivers the original bytes exactly once, with no gap.
    #[test]
    fn permutations_and_duplicates_deliver_the_original(
        stream in prop::collection::vec(any::<u8>(), 1..3000),
        cuts in prop::collection::vec(1usize..400, 1..40),
        extra in prop::collection::vec((0usize..3000, 1usize..600), 0..15),
        isn in any::<u32>(),
        order in any::<u64>(),
    ) {
        // Cut the stream into segments.
        let mut segs: Vec<(usize, usize)> = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < stream.len() {
            let len = cuts[i % cuts.len()].min(stream.len() - at);
            segs.push((at, at + len));
            at += len;
            i += 1;
        }
        for (o, l) in extra {
            let o = o % stream.len();
            segs.push((o, (o + l).min(stream.len())));
        }
        // Shuffle deterministically from `order`.
        let mut state = order | 1;
        for k in (1..segs.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            segs.swap(k, (state % (k as u64 + 1)) as usize);
        }
        let mut list = handshake(isn, 7);
        for (s, e) in segs {
            list.push(seg(true, isn.wrapping_add(1 + s as u32), 8, PA, &stream[s..e]));
        }
        let fin_seq = isn.wrapping_add(1 + stream.len() as u32);
        list.push(seg(true, fin_seq, 8, FIN | ACK, b""));
        list.push(seg(false, 8, fin_seq.wrapping_add(1), FIN | ACK, b""));
        let (rec, stats) = run_segs(Options::default(), &list);
        prop_assert_eq!(rec.bytes(1, Direction::ClientToServer), stream);
        prop_assert_eq!(stats.gap_bytes, 0);
        prop_assert_eq!(stats.inconsistent_overlaps, 0);
        prop_assert_eq!(rec.closes.get(&FlowId(1)), Some(&CloseReason::Fin));
    }

    /// With segments lost, every byte is either delivered correctly or inside a gap.
    #[test]
    fn losses_become_gaps_never_wrong_bytes(
        stream in prop::collection::vec(any::<u8>(), 1..2000),
        keep in prop::collection::vec(any::<bool>(), 1..60),
        isn in any::<u32>(),
    ) {
        let mut list = handshake(isn, 7);
        let mut at = 0;
        let mut k = 0;
        while at < stream.len() {
            let len = 50.min(stream.len() - at);
            if keep[k % keep.len()] {
                list.push(seg(true, isn.wrapping_add(1 + at as u32), 8, PA, &stream[at..at + len]));
            }
            at += len;
            k += 1;
        }
        list[3..].reverse();
        let (rec, _) = run_segs(Options::default(), &list);
        let mut pos = 0usize;
        for piece in rec.stream(1, Direction::ClientToServer) {
            match piece {
                Piece::Data(d) => {
                    prop_assert_eq!(&stream[pos..pos + d.len()], &d[..]);
                    pos += d.len();
                }
                Piece::Gap(n) => pos += n as usize,
            }
        }
        prop_assert!(pos <= stream.len());
    }
}

// ---------------------------------------------------------------------------------------
// Real captures

fn run_file(name: &str, opts: &Options) -> (Recorder, ferry_analyze::Stats) {
    let file = std::fs::File::open(data_dir().join(name)).unwrap();
    let mut rec = Recorder::new();
    let stats = run(file, opts, &mut rec).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(rec.violations.is_empty(), "{name}: {:?}", rec.violations);
    (rec, stats)
}

fn find_flow(rec: &Recorder, a: SocketAddr, b: SocketAddr) -> Vec<u64> {
    rec.infos
        .values()
        .filter(|i| (i.client == a && i.server == b) || (i.client == b && i.server == a))
        .map(|i| i.id.0)
        .collect()
}

#[test]
fn ipv6_control_channel_matches_zeek_contents_byte_for_byte() {
    let (rec, _) = run_file("zeek/traces/ipv6.pcap", &Options::default());
    let client: SocketAddr = "[2001:470:1f11:81f:c999:d94:aa7c:2e3e]:49185"
        .parse()
        .unwrap();
    let server: SocketAddr = "[2001:470:4867:99::21]:21".parse().unwrap();
    let ids = find_flow(&rec, client, server);
    assert_eq!(ids.len(), 1);
    let id = ids[0];
    assert_eq!(rec.infos[&FlowId(id)].client, client);
    let dir = data_dir().join("zeek/baseline/scripts.base.protocols.conn.contents-default-extract");
    let strip = |p: PathBuf| {
        let bytes = std::fs::read(p).unwrap();
        let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
        assert!(bytes.starts_with(b"### BTest baseline"));
        bytes[nl + 1..].to_vec()
    };
    let base = "contents_[2001-470-1f11-81f-c999-d94-aa7c-2e3e]-49185-[2001-470-4867-99--21]-21";
    let orig = strip(dir.join(format!("{base}_orig.dat")));
    let resp = strip(dir.join(format!("{base}_resp.dat")));
    assert_eq!(orig.len(), 310);
    assert_eq!(resp.len(), 3448);
    assert_eq!(rec.bytes(id, Direction::ClientToServer), orig);
    assert_eq!(rec.bytes(id, Direction::ServerToClient), resp);
    assert_eq!(rec.gap_total(id, Direction::ClientToServer), 0);
    assert_eq!(rec.gap_total(id, Direction::ServerToClient), 0);
}

#[test]
fn bigtransfer_gaps_across_the_sequence_wrap_match_zeek() {
    // Zeek (files.log): seen_bytes 23822, missing_bytes 5416642848 for the RETR data flow;
    // total 5416666670 bytes (the LIST line shows the file size).
    let (rec, stats) = run_file("zeek/traces/bigtransfer.pcap", &Options::default());
    let retr = find_flow(
        &rec,
        "192.168.56.1:59764".parse().unwrap(),
        "192.168.56.101:37150".parse().unwrap(),
    );
    assert_eq!(retr.len(), 1);
    let id = retr[0];
    let data = rec.data_bytes[&(FlowId(id), 1)];
    let gaps = rec.gap_total(id, Direction::ServerToClient);
    assert_eq!(data, 23822);
    assert_eq!(gaps, 5_416_642_848);
    assert_eq!(data + gaps, 5_416_666_670);
    let list = find_flow(
        &rec,
        "192.168.56.1:59763".parse().unwrap(),
        "192.168.56.101:63988".parse().unwrap(),
    );
    let lid = list[0];
    assert_eq!(rec.bytes(lid, Direction::ServerToClient).len(), 270);
    assert_eq!(rec.gap_total(lid, Direction::ServerToClient), 0);
    assert!(rec
        .bytes(lid, Direction::ServerToClient)
        .ends_with(b"5416666670 Mar 27 11:52 rand.txt\r\n"));
    assert_eq!(stats.flows_opened, 3);
}

/// Every data stream in tshark's truth (no gaps) has the same content (sha256); every
/// capture's TCP stream count equals ours.
#[test]
fn all_captures_match_tshark_streams() {
    let text = std::fs::read_to_string(data_dir().join("truth/tcp-streams.tsv")).unwrap();
    let mut by_capture: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cols: Vec<String> = line.split('\t').map(str::to_string).collect();
        by_capture.entry(cols[0].clone()).or_default().push(cols);
    }
    let mut compared = 0;
    let mut problems = Vec::new();
    for (capture, rows) in &by_capture {
        let (rec, stats) = run_file(capture, &Options::default());
        if stats.flows_opened != rows.len() as u64 {
            problems.push(format!(
                "{capture}: {} flows, tshark {} streams",
                stats.flows_opened,
                rows.len()
            ));
        }
        for cols in rows {
            // capture tcp_stream a aport b bport packets a_to_b b_to_a role stream_bytes sha256
            let ip = |s: &str| -> std::net::IpAddr { s.parse().unwrap() };
            let a = SocketAddr::new(ip(&cols[2]), cols[3].parse().unwrap());
            let b = SocketAddr::new(ip(&cols[4]), cols[5].parse().unwrap());
            let ids = find_flow(&rec, a, b);
            if ids.is_empty() {
                problems.push(format!("{capture}: no flow for stream {}", cols[1]));
                continue;
            }
            let a_to_b: u64 = cols[7].parse().unwrap();
            let b_to_a: u64 = cols[8].parse().unwrap();
            let want = &cols[11];
            let stream_bytes: u64 = cols[10].parse().unwrap_or(0);
            if want.is_empty() || stream_bytes != a_to_b + b_to_a {
                continue;
            }
            let id = ids[0];
            let gaps = rec.gap_total(id, Direction::ClientToServer)
                + rec.gap_total(id, Direction::ServerToClient);
            if gaps > 0 {
                continue;
            }
            let mut all = rec.bytes(id, Direction::ClientToServer);
            all.extend(rec.bytes(id, Direction::ServerToClient));
            let got = hex(&Sha256::digest(&all));
            if &got != want {
                problems.push(format!("{capture}: stream {} sha256 differs", cols[1]));
            }
            compared += 1;
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(compared >= 40, "compared {compared}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn idle_timeout_option_is_capture_time() {
    let opts = Options {
        idle_timeout: Duration::from_secs(5),
        ..Options::default()
    };
    let mut s = handshake(1, 1);
    let mut late = seg(true, 2, 2, PA, b"after");
    late.ts = Timestamp::new(1000 + 60, 0);
    s.push(late);
    let (rec, stats) = run_segs(opts, &s);
    // The idle flow closed, then the late data opened a new mid-stream flow.
    assert_eq!(rec.closes[&FlowId(1)], CloseReason::Timeout);
    assert!(rec.infos[&FlowId(2)].mid_stream);
    assert_eq!(stats.flows_opened, 2);
}

#[test]
fn segments_are_reported_with_their_wire_frame_numbers() {
    // tshark ftp.tsv for arkime/ftp.pcap: FTP payload in frames 4, 6, 8, 9, 10.
    let (rec, _) = run_file("arkime/ftp.pcap", &Options::default());
    let frames: Vec<u64> = rec.payload_frames.iter().map(|(f, _)| *f).collect();
    assert_eq!(frames, [4, 6, 8, 9, 10]);
    assert_eq!(
        rec.bytes(1, Direction::ClientToServer),
        b"USER anonymous\r\nPASS ftp@example.com\r\n"
    );
}

#[test]
fn truncated_capture_gives_partial_results_and_the_error() {
    let bytes = std::fs::read(data_dir().join("zeek/traces/ipv6.pcap")).unwrap();
    let cut = &bytes[..bytes.len() / 2];
    let mut rec = Recorder::new();
    let (stats, err) = run_partial(cut, &Options::default(), &mut rec);
    assert!(
        matches!(err, Some(CaptureError::Truncated { .. })),
        "{err:?}"
    );
    assert!(stats.frames > 10);
    assert!(stats.bytes_delivered > 0);
    // Every flow was closed.
    assert_eq!(rec.infos.len(), rec.closes.len());
    assert!(rec.violations.is_empty());
    let mut rec = Recorder::new();
    assert!(run(cut, &Options::default(), &mut rec).is_err());
    let mut rec = Recorder::new();
    let (stats, err) = run_partial(&b"not a capture"[..], &Options::default(), &mut rec);
    assert!(matches!(err, Some(CaptureError::NotACapture { .. })));
    assert_eq!(stats.frames, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Fuzz-style: a real capture with random bytes changed, through the whole pipeline.
    #[test]
    fn mutated_capture_through_the_whole_pipeline(
        which in 0usize..3,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..60),
    ) {
        let names = ["zeek/traces/ipv4.pcap", "zeek/traces/bigtransfer.pcap", "ndpi/ftp.pcap"];
        let mut bytes = std::fs::read(data_dir().join(names[which])).unwrap();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        let opts = Options { max_buffer_per_direction: 8192, max_buffer_total: 16384, ..Options::default() };
        let mut rec = Recorder::new();
        let _ = run_partial(&bytes[..], &opts, &mut rec);
        prop_assert!(rec.violations.is_empty(), "{:?}", rec.violations);
        prop_assert_eq!(rec.infos.len(), rec.closes.len());
    }
}
