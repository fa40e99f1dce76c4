//! TCP stream reassembly: segments in, ordered bytes and explicit gaps out.
//!
//! # The interface (what the FTP layer implements)
//!
//! Implement [`StreamSink`] and call [`run`] (or [`run_partial`], or drive a [`Reassembler`]
//! frame by frame, e.g. from a live capture). For every TCP connection ("flow") the sink
//! sees, in this order:
//!
//! ```text
//! server_hint?            only for a flow first seen without a SYN or SYN-ACK
//! on_open                 exactly once; returns Interest::Follow or Interest::Ignore
//! ( on_segment            every segment of the flow, before reassembly, in capture order
//!   (on_data | on_gap)*   the bytes that segment made deliverable, per direction, in order
//! )*
//! on_close                exactly once (Fin, Rst, Timeout, EndOfCapture, Reused, Evicted)
//! ```
//!
//! Guarantees, per flow and [`Direction`]:
//! - `on_data` and `on_gap` together tile the stream with no overlap and no hole:
//!   `at.stream_offset` of each call equals the previous call's offset plus its length.
//!   The first call starts at offset 0 — the first byte after the SYN, or for a flow seen
//!   mid-stream, the first byte the capture shows for that direction (or the peer's first
//!   acknowledgment number, when that comes first).
//! - Bytes are delivered exactly once, in stream order, whatever order, duplication or
//!   overlap the segments arrived in. When retransmitted bytes differ from bytes already
//!   received, the first-received bytes win and [`Stats::inconsistent_overlaps`] counts it.
//! - Missing bytes are never invented: a hole the stream has to move past is reported as
//!   `on_gap(len)`. That happens when the peer acknowledges data beyond the hole (the bytes
//!   crossed the network but not the capture), when the direction's out-of-order buffer or
//!   the global buffer cap is exceeded, and when the flow closes (FIN, RST, timeout, end of
//!   capture) with buffered data or a FIN beyond the hole.
//! - `SegmentMeta::frame` is the frame of the segment that carried those bytes (for a gap:
//!   the frame whose arrival forced the stream past it). A segment's bytes may be
//!   delivered in pieces, and one callback never mixes bytes of two segments.
//! - Returning [`Interest::Ignore`] from `on_open` or `on_data` stops reassembly for the
//!   flow (no more `on_segment`/`on_data`/`on_gap`, buffers freed); `on_close` still comes.
//!
//! Who is the client: the sender of the SYN (or the receiver of the SYN-ACK). For a flow
//! first seen mid-stream (no handshake in the capture), [`StreamSink::server_hint`] is asked
//! first (the FTP layer knows which ports a PASV/PORT reply announced), then
//! [`Options::server_ports`] (port 21 by default), then the lower port is taken as the
//! server. [`FlowInfo::orientation`] records which rule decided.
//!
//! # Sequence numbers and memory
//! Sequence numbers are unwrapped to 64-bit stream offsets with serial arithmetic (a
//! segment is placed within ±2³¹ of the highest offset seen so far), so streams longer
//! than 4 GiB and sequence-number wrap-around work. Out-of-order bytes are copied into a
//! per-direction buffer capped by [`Options::max_buffer_per_direction`] and a global cap
//! [`Options::max_buffer_total`]; bytes that arrive in order are handed to the sink
//! straight from the capture buffer, without a copy. Flows are removed when they close,
//! after [`Options::idle_timeout`] of capture time without a segment, or when
//! [`Options::max_flows`] is reached (the least recently active flow is evicted).
//! Closed flows leave a small, bounded tombstone so that their late segments (the last
//! ACK, retransmissions) do not start a new flow.
//!
//! # Limitations
//! - TCP checksums are not verified; IP fragments are skipped (see [`crate::packet`]).
//! - Bytes captured after the peer already acknowledged them as lost (the capture shows the
//!   ACK before the data) are dropped as duplicates of the reported gap.
//! - An acknowledgment exactly one past the highest byte seen, with no FIN seen, is read as
//!   the acknowledgment of an uncaptured FIN (no 1-byte gap is reported).
//! - Urgent data is delivered inline, like the rest of the stream.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use crate::capture::{CaptureError, CaptureReader, Frame, ReaderLimits, Timestamp};
use crate::packet::{decode_tcp, Skip, TcpSegment};

/// Identifies one TCP connection for the lifetime of a run (1, 2, 3, ... in order of first
/// appearance). A reused 4-tuple gets a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId(pub u64);

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which way bytes flow within a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (the connection's initiator) to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }

    fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }
}

/// How the client and server roles of a flow were decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// The client's SYN was seen.
    Syn,
    /// The server's SYN-ACK was seen (the SYN was not).
    SynAck,
    /// No handshake; [`StreamSink::server_hint`] named the server.
    SinkHint,
    /// No handshake; one port is in [`Options::server_ports`].
    ServerPort,
    /// No handshake and no hint: the lower port was taken as the server.
    LowerPort,
}

/// What is known about a flow when it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowInfo {
    /// The flow's id.
    pub id: FlowId,
    /// The initiator's address.
    pub client: SocketAddr,
    /// The responder's address.
    pub server: SocketAddr,
    /// Frame number of the first segment.
    pub first_frame: u64,
    /// Timestamp of the first segment.
    pub first_ts: Timestamp,
    /// The client's SYN was in the capture.
    pub syn_seen: bool,
    /// Neither SYN nor SYN-ACK was seen: the stream's start is unknown, and offsets count
    /// from the first byte the capture shows.
    pub mid_stream: bool,
    /// Which rule decided the roles.
    pub orientation: Orientation,
}

/// Where delivered bytes (or a gap) sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentMeta {
    /// Frame number of the segment that carried the bytes (for a gap: the frame whose
    /// arrival made the stream skip).
    pub frame: u64,
    /// That frame's timestamp.
    pub ts: Timestamp,
    /// Offset of the first byte within this direction's stream (0 = first byte after SYN).
    pub stream_offset: u64,
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Both directions finished with FIN and every byte up to the FINs was delivered (or
    /// reported as a gap).
    Fin,
    /// A RST was seen.
    Rst,
    /// No segment for longer than [`Options::idle_timeout`] (capture time).
    Timeout,
    /// The capture ended (or failed) with the flow still open.
    EndOfCapture,
    /// A new SYN with a different initial sequence number reused the 4-tuple.
    Reused,
    /// The flow table was full ([`Options::max_flows`]); this was the least recently active
    /// flow.
    Evicted,
}

/// Whether the sink wants more of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interest {
    /// Keep reassembling and delivering.
    Follow,
    /// Stop: no more segments, data or gaps for this flow (its close is still reported).
    Ignore,
}

/// Receives reassembled streams. See the [module docs](self) for the call order and
/// guarantees.
pub trait StreamSink {
    /// For a flow first seen mid-stream: which of the two endpoints is the server, if the
    /// sink knows (e.g. from a PASV reply). Return `None` to fall back to
    /// [`Options::server_ports`] and then the lower port.
    fn server_hint(&mut self, a: SocketAddr, b: SocketAddr) -> Option<SocketAddr> {
        let _ = (a, b);
        None
    }

    /// A new flow. Called before any other event of the flow.
    fn on_open(&mut self, flow: FlowId, info: &FlowInfo) -> Interest;

    /// Every TCP segment of a followed flow as captured (before reassembly), with its frame
    /// number: what a packet-by-packet view (`--hex`) shows. Default: nothing.
    fn on_segment(
        &mut self,
        flow: FlowId,
        dir: Direction,
        segment: &TcpSegment<'_>,
        frame: u64,
        ts: Timestamp,
    ) {
        let _ = (flow, dir, segment, frame, ts);
    }

    /// In-order stream bytes (never empty).
    fn on_data(&mut self, flow: FlowId, dir: Direction, data: &[u8], at: SegmentMeta) -> Interest;

    /// `len` bytes of the stream are missing from the capture (never 0).
    fn on_gap(&mut self, flow: FlowId, dir: Direction, len: u64, at: SegmentMeta);

    /// The flow ended; no more events for `flow`.
    fn on_close(&mut self, flow: FlowId, reason: CloseReason, ts: Timestamp);
}

/// Reassembly settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Ports whose side is the server when a flow is seen mid-stream (default `[21]`).
    pub server_ports: Vec<u16>,
    /// Cap on out-of-order bytes buffered per flow direction (default 4 MiB).
    pub max_buffer_per_direction: usize,
    /// Cap on out-of-order bytes buffered over all flows (default 64 MiB).
    pub max_buffer_total: usize,
    /// A flow without segments for this long (capture time) is closed (default 1 hour).
    pub idle_timeout: Duration,
    /// Cap on live flows (default 262 144).
    pub max_flows: usize,
    /// Capture reader bounds.
    pub reader: ReaderLimits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            server_ports: vec![21],
            max_buffer_per_direction: 4 * 1024 * 1024,
            max_buffer_total: 64 * 1024 * 1024,
            idle_timeout: Duration::from_secs(3600),
            max_flows: 262_144,
            reader: ReaderLimits::default(),
        }
    }
}

/// Counters for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames read from the capture.
    pub frames: u64,
    /// Captured bytes in those frames.
    pub captured_bytes: u64,
    /// Frames that decoded to a TCP segment.
    pub tcp_segments: u64,
    /// Frames of a link type the decoder does not handle.
    pub unsupported_link: u64,
    /// Frames that are not IP.
    pub not_ip: u64,
    /// IP packets that are not TCP.
    pub not_tcp: u64,
    /// IP fragments (skipped, not reassembled).
    pub ip_fragments: u64,
    /// Frames with malformed or truncated headers.
    pub malformed: u64,
    /// TCP segments whose payload the capture cut short (snapshot length).
    pub truncated_segments: u64,
    /// Flows opened.
    pub flows_opened: u64,
    /// Flows first seen without a handshake.
    pub flows_mid_stream: u64,
    /// Flows the sink chose to ignore.
    pub flows_ignored: u64,
    /// Flows closed by FIN.
    pub closed_fin: u64,
    /// Flows closed by RST.
    pub closed_rst: u64,
    /// Flows closed by the idle timeout.
    pub closed_timeout: u64,
    /// Flows still open at the end of the capture.
    pub closed_end_of_capture: u64,
    /// Flows closed because a new SYN reused their 4-tuple.
    pub closed_reused: u64,
    /// Flows evicted because the flow table was full.
    pub closed_evicted: u64,
    /// Segments without payload or SYN for which no flow exists (dropped).
    pub orphan_segments: u64,
    /// Segments of a recently closed flow (dropped).
    pub late_segments: u64,
    /// Bytes delivered to `on_data`.
    pub bytes_delivered: u64,
    /// `on_gap` calls.
    pub gaps: u64,
    /// Bytes reported missing by `on_gap`.
    pub gap_bytes: u64,
    /// Bytes received more than once (retransmissions, overlaps), dropped.
    pub duplicate_bytes: u64,
    /// Segments whose overlap with earlier-received bytes differed from them.
    pub inconsistent_overlaps: u64,
    /// Segments that arrived ahead of a hole and were buffered.
    pub out_of_order_segments: u64,
    /// Times a buffer cap forced the stream past a hole.
    pub buffer_overflow_skips: u64,
    /// Largest total of buffered out-of-order bytes (each buffered chunk also counts a
    /// fixed 64-byte overhead).
    pub peak_buffered: u64,
}

/// Buffered out-of-order bytes.
#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    frame: u64,
    ts: Timestamp,
}

/// What a buffered chunk counts against the caps: its bytes plus a fixed allowance for
/// its map entry and allocation, so that many tiny segments cannot exceed the caps in
/// bookkeeping.
const CHUNK_OVERHEAD: usize = 64;

fn chunk_cost(len: usize) -> usize {
    len + CHUNK_OVERHEAD
}

/// One direction of a flow.
#[derive(Debug, Default)]
struct Half {
    /// Sequence number of stream offset 0.
    base: Option<u32>,
    /// The base came from a SYN.
    syn: bool,
    /// Next offset to deliver.
    next: u64,
    /// Highest offset seen (segment ends, acknowledgments): the unwrapping reference.
    high: u64,
    /// Out-of-order bytes by start offset; non-overlapping, all beyond `next`.
    chunks: BTreeMap<u64, Chunk>,
    /// Cost of `chunks` ([`chunk_cost`]).
    buffered: usize,
    /// Offset of the FIN.
    fin: Option<u64>,
}

impl Half {
    /// Unwraps a sequence number to a stream offset (may be negative: before the start).
    fn offset_of(&self, base: u32, seq: u32) -> i64 {
        let rel = seq.wrapping_sub(base);
        let diff = rel.wrapping_sub(self.high as u32) as i32;
        (self.high as i64).saturating_add(i64::from(diff))
    }

    fn finished(&self) -> bool {
        self.fin.is_some_and(|f| self.next >= f)
    }
}

/// Stream state of a followed flow, or the bare minimum of an ignored one.
#[derive(Debug)]
struct Flow {
    id: FlowId,
    client: SocketAddr,
    half: [Half; 2],
    ignored: bool,
    /// FIN seen per direction (used for ignored flows).
    fin_seen: [bool; 2],
    last_ts: Timestamp,
}

impl Flow {
    fn direction_of(&self, src: SocketAddr) -> Direction {
        if src == self.client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }
}

type Key = (SocketAddr, SocketAddr);

fn key_of(a: SocketAddr, b: SocketAddr) -> Key {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The flow ignored by the sink: unwind delivery.
struct Ignored;

/// Counters and the global buffer total, borrowed beside a flow.
#[derive(Debug, Default)]
struct Shared {
    stats: Stats,
    total_buffered: usize,
    max_dir: usize,
    max_total: usize,
}

/// How long a closed flow's tombstone lasts (capture time), and how many are kept.
const TOMBSTONE_TTL: Duration = Duration::from_secs(120);
const MAX_TOMBSTONES: usize = 65_536;
/// Capture time between idle sweeps.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The reassembler. Feed it frames ([`Reassembler::process_frame`]) or decoded segments
/// ([`Reassembler::process_segment`]), then call [`Reassembler::finish`].
#[derive(Debug)]
pub struct Reassembler {
    opts: Options,
    flows: HashMap<Key, Flow>,
    shared: Shared,
    next_id: u64,
    tombstones: HashMap<Key, Timestamp>,
    tomb_order: VecDeque<(Key, Timestamp)>,
    now: Timestamp,
    last_frame: u64,
    last_sweep: Timestamp,
}

impl Reassembler {
    /// A reassembler with these options.
    pub fn new(opts: Options) -> Self {
        let shared = Shared {
            max_dir: opts.max_buffer_per_direction,
            max_total: opts.max_buffer_total,
            ..Shared::default()
        };
        Reassembler {
            opts,
            flows: HashMap::new(),
            shared,
            next_id: 1,
            tombstones: HashMap::new(),
            tomb_order: VecDeque::new(),
            now: Timestamp::default(),
            last_frame: 0,
            last_sweep: Timestamp::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Out-of-order bytes currently buffered, over all flows, each buffered chunk counting a
    /// fixed 64-byte overhead too: the quantity the caps bound.
    pub fn buffered_bytes(&self) -> usize {
        self.shared.total_buffered
    }

    /// Live flows in the table.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Decodes a frame and processes its TCP segment, if any.
    pub fn process_frame<S: StreamSink + ?Sized>(&mut self, frame: &Frame<'_>, sink: &mut S) {
        let st = &mut self.shared.stats;
        st.frames += 1;
        st.captured_bytes += frame.data.len() as u64;
        match decode_tcp(frame.link_type, frame.data) {
            Ok(seg) => self.process_segment(frame.number, frame.ts, &seg, sink),
            Err(skip) => {
                self.last_frame = frame.number;
                let st = &mut self.shared.stats;
                match skip {
                    Skip::UnsupportedLink => st.unsupported_link += 1,
                    Skip::NotIp => st.not_ip += 1,
                    Skip::NotTcp => st.not_tcp += 1,
                    Skip::Fragment => st.ip_fragments += 1,
                    Skip::Malformed => st.malformed += 1,
                }
            }
        }
    }

    /// Processes one TCP segment captured in frame `frame` at `ts`.
    pub fn process_segment<S: StreamSink + ?Sized>(
        &mut self,
        frame: u64,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        sink: &mut S,
    ) {
        self.shared.stats.tcp_segments += 1;
        if seg.is_truncated() {
            self.shared.stats.truncated_segments += 1;
        }
        self.last_frame = frame;
        if ts > self.now {
            self.now = ts;
        }
        if self.now.saturating_since(self.last_sweep) >= SWEEP_EVERY {
            self.last_sweep = self.now;
            self.sweep(sink);
        }
        let key = key_of(seg.src, seg.dst);
        let flags = seg.flags;
        let pure_syn = flags.syn() && !flags.ack();

        // A SYN with a new initial sequence number on a live flow: the 4-tuple was reused.
        if pure_syn {
            let reused = self.flows.get(&key).is_some_and(|flow| {
                let dir = flow.direction_of(seg.src);
                let half = &flow.half[dir.index()];
                let progress = flow.half.iter().any(|h| h.next > 0 || h.buffered > 0);
                dir == Direction::ServerToClient
                    || (half.base.is_some_and(|b| b != seg.seq.wrapping_add(1))
                        && (half.syn || progress))
            });
            if reused {
                self.close(key, CloseReason::Reused, frame, ts, sink);
            }
        }

        if !self.flows.contains_key(&key) {
            if let Some(closed_at) = self.tombstones.get(&key) {
                if !pure_syn && ts.saturating_since(*closed_at) <= TOMBSTONE_TTL {
                    self.shared.stats.late_segments += 1;
                    return;
                }
                self.tombstones.remove(&key);
            }
            if !flags.syn() && seg.wire_len == 0 {
                self.shared.stats.orphan_segments += 1;
                return;
            }
            if flags.rst() {
                self.shared.stats.orphan_segments += 1;
                return;
            }
            self.open(key, frame, ts, seg, sink);
        }

        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        flow.last_ts = ts;
        let dir = flow.direction_of(seg.src);
        let id = flow.id;

        if flow.ignored {
            if flags.fin() {
                flow.fin_seen[dir.index()] = true;
            }
            if flags.rst() {
                self.close(key, CloseReason::Rst, frame, ts, sink);
            } else if flow.fin_seen[0] && flow.fin_seen[1] {
                self.close(key, CloseReason::Fin, frame, ts, sink);
            }
            return;
        }

        sink.on_segment(id, dir, seg, frame, ts);
        let outcome = segment_into_flow(flow, &mut self.shared, dir, frame, ts, seg, sink);
        if outcome.is_err() {
            self.ignore(key);
        }

        if flags.rst() {
            self.close(key, CloseReason::Rst, frame, ts, sink);
            return;
        }
        if let Some(flow) = self.flows.get(&key) {
            if !flow.ignored && flow.half[0].finished() && flow.half[1].finished() {
                self.close(key, CloseReason::Fin, frame, ts, sink);
                return;
            }
        }
        if self.shared.total_buffered > self.shared.max_total {
            self.enforce_global_cap(frame, ts, sink);
        }
    }

    /// Flushes every flow (gaps for holes, buffered bytes delivered) and closes it with
    /// [`CloseReason::EndOfCapture`]. Returns the final counters.
    pub fn finish<S: StreamSink + ?Sized>(&mut self, sink: &mut S) -> Stats {
        let mut keys: Vec<(FlowId, Key)> = self.flows.iter().map(|(k, f)| (f.id, *k)).collect();
        keys.sort();
        let (frame, ts) = (self.last_frame, self.now);
        for (_, key) in keys {
            self.close(key, CloseReason::EndOfCapture, frame, ts, sink);
        }
        self.shared.stats.clone()
    }

    fn open<S: StreamSink + ?Sized>(
        &mut self,
        key: Key,
        frame: u64,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        sink: &mut S,
    ) {
        if self.flows.len() >= self.opts.max_flows.max(1) {
            let oldest = self
                .flows
                .iter()
                .min_by_key(|(_, f)| (f.last_ts, f.id))
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.close(k, CloseReason::Evicted, frame, ts, sink);
            }
        }
        let flags = seg.flags;
        let (client, server, orientation) = if flags.syn() && !flags.ack() {
            (seg.src, seg.dst, Orientation::Syn)
        } else if flags.syn() {
            (seg.dst, seg.src, Orientation::SynAck)
        } else {
            let hint = sink
                .server_hint(seg.src, seg.dst)
                .filter(|s| *s == seg.src || *s == seg.dst);
            if let Some(server) = hint {
                let client = if server == seg.src { seg.dst } else { seg.src };
                (client, server, Orientation::SinkHint)
            } else {
                let src_srv = self.opts.server_ports.contains(&seg.src.port());
                let dst_srv = self.opts.server_ports.contains(&seg.dst.port());
                if src_srv != dst_srv {
                    if src_srv {
                        (seg.dst, seg.src, Orientation::ServerPort)
                    } else {
                        (seg.src, seg.dst, Orientation::ServerPort)
                    }
                } else if seg.src.port() < seg.dst.port() {
                    (seg.dst, seg.src, Orientation::LowerPort)
                } else {
                    (seg.src, seg.dst, Orientation::LowerPort)
                }
            }
        };
        let id = FlowId(self.next_id);
        self.next_id += 1;
        let info = FlowInfo {
            id,
            client,
            server,
            first_frame: frame,
            first_ts: ts,
            syn_seen: orientation == Orientation::Syn,
            mid_stream: !flags.syn(),
            orientation,
        };
        let st = &mut self.shared.stats;
        st.flows_opened += 1;
        if info.mid_stream {
            st.flows_mid_stream += 1;
        }
        let interest = sink.on_open(id, &info);
        let flow = Flow {
            id,
            client,
            half: [Half::default(), Half::default()],
            ignored: false,
            fin_seen: [false; 2],
            last_ts: ts,
        };
        self.flows.insert(key, flow);
        if interest == Interest::Ignore {
            self.ignore(key);
        }
    }

    /// Marks a flow ignored and frees its buffers.
    fn ignore(&mut self, key: Key) {
        if let Some(flow) = self.flows.get_mut(&key) {
            if !flow.ignored {
                flow.ignored = true;
                self.shared.stats.flows_ignored += 1;
            }
            for half in &mut flow.half {
                self.shared.total_buffered =
                    self.shared.total_buffered.saturating_sub(half.buffered);
                half.buffered = 0;
                half.chunks.clear();
            }
        }
    }

    /// Flushes and removes a flow, reporting its close.
    fn close<S: StreamSink + ?Sized>(
        &mut self,
        key: Key,
        reason: CloseReason,
        frame: u64,
        ts: Timestamp,
        sink: &mut S,
    ) {
        let Some(mut flow) = self.flows.remove(&key) else {
            return;
        };
        if !flow.ignored {
            for dir in [Direction::ClientToServer, Direction::ServerToClient] {
                let at = (frame, ts);
                if flush_all(&mut flow, &mut self.shared, dir, at, sink).is_err() {
                    break;
                }
            }
        }
        for half in &mut flow.half {
            self.shared.total_buffered = self.shared.total_buffered.saturating_sub(half.buffered);
            half.buffered = 0;
        }
        let st = &mut self.shared.stats;
        match reason {
            CloseReason::Fin => st.closed_fin += 1,
            CloseReason::Rst => st.closed_rst += 1,
            CloseReason::Timeout => st.closed_timeout += 1,
            CloseReason::EndOfCapture => st.closed_end_of_capture += 1,
            CloseReason::Reused => st.closed_reused += 1,
            CloseReason::Evicted => st.closed_evicted += 1,
        }
        sink.on_close(flow.id, reason, ts);
        if matches!(reason, CloseReason::Fin | CloseReason::Rst) {
            self.tombstones.insert(key, ts);
            self.tomb_order.push_back((key, ts));
            while self.tomb_order.len() > MAX_TOMBSTONES {
                if let Some((k, t)) = self.tomb_order.pop_front() {
                    if self.tombstones.get(&k) == Some(&t) {
                        self.tombstones.remove(&k);
                    }
                }
            }
        }
    }

    /// Closes idle flows and forgets old tombstones.
    fn sweep<S: StreamSink + ?Sized>(&mut self, sink: &mut S) {
        let now = self.now;
        let timeout = self.opts.idle_timeout;
        let mut idle: Vec<(FlowId, Key)> = self
            .flows
            .iter()
            .filter(|(_, f)| now.saturating_since(f.last_ts) > timeout)
            .map(|(k, f)| (f.id, *k))
            .collect();
        idle.sort();
        let frame = self.last_frame;
        for (_, key) in idle {
            self.close(key, CloseReason::Timeout, frame, now, sink);
        }
        while let Some((k, t)) = self.tomb_order.front().copied() {
            if now.saturating_since(t) <= TOMBSTONE_TTL {
                break;
            }
            self.tomb_order.pop_front();
            if self.tombstones.get(&k) == Some(&t) {
                self.tombstones.remove(&k);
            }
        }
    }

    /// Skips holes in the fullest directions until the global cap holds.
    fn enforce_global_cap<S: StreamSink + ?Sized>(
        &mut self,
        frame: u64,
        ts: Timestamp,
        sink: &mut S,
    ) {
        // Each round removes at least one chunk from the buffers, so this ends.
        while self.shared.total_buffered > self.shared.max_total {
            let fullest = self
                .flows
                .iter()
                .flat_map(|(k, f)| {
                    [Direction::ClientToServer, Direction::ServerToClient]
                        .map(|d| (f.half[d.index()].buffered, f.id, *k, d))
                })
                .max_by_key(|(b, id, _, _)| (*b, std::cmp::Reverse(*id)));
            let Some((buffered, _, key, dir)) = fullest else {
                break;
            };
            if buffered == 0 {
                break;
            }
            let Some(flow) = self.flows.get_mut(&key) else {
                break;
            };
            self.shared.stats.buffer_overflow_skips += 1;
            if skip_first_hole(flow, &mut self.shared, dir, (frame, ts), sink).is_err() {
                self.ignore(key);
            }
        }
    }
}

/// Applies one segment to its flow: sequence bookkeeping, the peer's acknowledgment, the
/// payload, the FIN.
fn segment_into_flow<S: StreamSink + ?Sized>(
    flow: &mut Flow,
    sh: &mut Shared,
    dir: Direction,
    frame: u64,
    ts: Timestamp,
    seg: &TcpSegment<'_>,
    sink: &mut S,
) -> Result<(), Ignored> {
    let flags = seg.flags;
    let i = dir.index();
    let data_seq = if flags.syn() {
        seg.seq.wrapping_add(1)
    } else {
        seg.seq
    };
    {
        let half = &mut flow.half[i];
        if flags.syn() && !half.syn {
            if half.base.is_none() || (half.next == 0 && half.buffered == 0) {
                half.base = Some(data_seq);
                half.high = 0;
            }
            half.syn = true;
        }
        if half.base.is_none() {
            half.base = Some(data_seq);
        }
    }

    // The acknowledgment tells what the peer's direction delivered to this side.
    if flags.ack() && !flags.rst() {
        let peer = &mut flow.half[1 - i];
        match peer.base {
            None => {
                peer.base = Some(seg.ack);
            }
            Some(base) => {
                let ack_off = peer.offset_of(base, seg.ack);
                if ack_off > 0 {
                    let ack_off = ack_off as u64;
                    let target = match peer.fin {
                        Some(f) => ack_off.min(f),
                        None if ack_off == peer.high + 1 => peer.high,
                        None => ack_off,
                    };
                    peer.high = peer.high.max(target);
                    if target > peer.next {
                        flush_to(flow, sh, dir.reverse(), target, (frame, ts), sink)?;
                    }
                }
            }
        }
    }

    let half = &mut flow.half[i];
    let Some(base) = half.base else {
        return Ok(());
    };
    let off = half.offset_of(base, data_seq);
    let wire_end = off.saturating_add(i64::from(seg.wire_len));
    if wire_end > 0 {
        half.high = half.high.max(wire_end as u64);
    }
    if flags.fin() && half.fin.is_none() && wire_end >= 0 {
        half.fin = Some(wire_end as u64);
    }
    let mut data = seg.payload;
    let mut off = off;
    if off < 0 {
        let skip = usize::try_from(off.unsigned_abs()).unwrap_or(usize::MAX);
        sh.stats.duplicate_bytes += skip.min(data.len()) as u64;
        data = data.get(skip..).unwrap_or_default();
        off = 0;
    }
    let off = off as u64;
    // Nothing past the FIN.
    if let Some(f) = half.fin {
        let room = usize::try_from(f.saturating_sub(off)).unwrap_or(usize::MAX);
        if data.len() > room {
            data = data.get(..room).unwrap_or_default();
        }
    }
    if !data.is_empty() {
        accept(flow, sh, dir, off, data, (frame, ts), sink)?;
    }
    Ok(())
}

/// Places payload bytes at `off`: delivers what is in order, buffers the rest.
fn accept<S: StreamSink + ?Sized>(
    flow: &mut Flow,
    sh: &mut Shared,
    dir: Direction,
    off: u64,
    data: &[u8],
    at: (u64, Timestamp),
    sink: &mut S,
) -> Result<(), Ignored> {
    let id = flow.id;
    let half = &mut flow.half[dir.index()];
    let mut off = off;
    let mut data = data;
    let end = off + data.len() as u64;
    if end <= half.next {
        sh.stats.duplicate_bytes += data.len() as u64;
        return Ok(());
    }
    if off < half.next {
        let trim = (half.next - off) as usize;
        sh.stats.duplicate_bytes += trim as u64;
        data = data.get(trim..).unwrap_or_default();
        off = half.next;
    }
    if half.chunks.is_empty() && off == half.next {
        deliver(id, dir, half, sh, data, off, at, sink)?;
        return Ok(());
    }

    // Split into the pieces no buffered chunk covers; compare the covered parts.
    let mut pieces: Vec<(u64, u64)> = Vec::new();
    let mut cur = off;
    let from = half
        .chunks
        .range(..=off)
        .next_back()
        .map_or(off, |(k, _)| *k);
    let mut inconsistent = false;
    for (&cs, c) in half.chunks.range(from..end) {
        let ce = cs + c.data.len() as u64;
        if ce <= cur {
            continue;
        }
        if cs > cur {
            pieces.push((cur, cs));
        }
        let lo = cs.max(cur);
        let hi = ce.min(end);
        let ours = data.get((lo - off) as usize..(hi - off) as usize);
        let theirs = c.data.get((lo - cs) as usize..(hi - cs) as usize);
        if ours != theirs {
            inconsistent = true;
        }
        sh.stats.duplicate_bytes += hi - lo;
        cur = hi;
        if cur >= end {
            break;
        }
    }
    if cur < end {
        pieces.push((cur, end));
    }
    if inconsistent {
        sh.stats.inconsistent_overlaps += 1;
    }
    let mut buffered_any = false;
    for (ps, pe) in pieces {
        let Some(bytes) = data.get((ps - off) as usize..(pe - off) as usize) else {
            continue;
        };
        let half = &mut flow.half[dir.index()];
        if ps == half.next {
            deliver(id, dir, half, sh, bytes, ps, at, sink)?;
            drain(id, dir, half, sh, sink)?;
        } else if ps > half.next {
            buffered_any = true;
            half.chunks.insert(
                ps,
                Chunk {
                    data: bytes.to_vec(),
                    frame: at.0,
                    ts: at.1,
                },
            );
            half.buffered += chunk_cost(bytes.len());
            sh.total_buffered += chunk_cost(bytes.len());
            sh.stats.peak_buffered = sh.stats.peak_buffered.max(sh.total_buffered as u64);
        }
    }
    if buffered_any {
        sh.stats.out_of_order_segments += 1;
    }
    // Per-direction cap: skip holes until it holds.
    while flow.half[dir.index()].buffered > sh.max_dir {
        sh.stats.buffer_overflow_skips += 1;
        skip_first_hole(flow, sh, dir, at, sink)?;
    }
    Ok(())
}

/// Hands in-order bytes to the sink.
#[allow(clippy::too_many_arguments)]
fn deliver<S: StreamSink + ?Sized>(
    id: FlowId,
    dir: Direction,
    half: &mut Half,
    sh: &mut Shared,
    data: &[u8],
    off: u64,
    at: (u64, Timestamp),
    sink: &mut S,
) -> Result<(), Ignored> {
    if data.is_empty() {
        return Ok(());
    }
    half.next = off + data.len() as u64;
    sh.stats.bytes_delivered += data.len() as u64;
    let meta = SegmentMeta {
        frame: at.0,
        ts: at.1,
        stream_offset: off,
    };
    match sink.on_data(id, dir, data, meta) {
        Interest::Follow => Ok(()),
        Interest::Ignore => Err(Ignored),
    }
}

/// Delivers buffered chunks that are now in order.
fn drain<S: StreamSink + ?Sized>(
    id: FlowId,
    dir: Direction,
    half: &mut Half,
    sh: &mut Shared,
    sink: &mut S,
) -> Result<(), Ignored> {
    while let Some(entry) = half.chunks.first_entry() {
        let start = *entry.key();
        if start > half.next {
            break;
        }
        let chunk = entry.remove();
        let cost = chunk_cost(chunk.data.len());
        half.buffered = half.buffered.saturating_sub(cost);
        sh.total_buffered = sh.total_buffered.saturating_sub(cost);
        let skip = usize::try_from(half.next - start).unwrap_or(usize::MAX);
        if let Some(rest) = chunk.data.get(skip..) {
            let next = half.next;
            deliver(id, dir, half, sh, rest, next, (chunk.frame, chunk.ts), sink)?;
        }
    }
    Ok(())
}

/// Reports the gap before the first buffered chunk and delivers what follows it.
fn skip_first_hole<S: StreamSink + ?Sized>(
    flow: &mut Flow,
    sh: &mut Shared,
    dir: Direction,
    at: (u64, Timestamp),
    sink: &mut S,
) -> Result<(), Ignored> {
    let id = flow.id;
    let half = &mut flow.half[dir.index()];
    let Some(start) = half.chunks.keys().next().copied() else {
        return Ok(());
    };
    if start > half.next {
        gap(id, dir, half, sh, start - half.next, at, sink);
    }
    drain(id, dir, half, sh, sink)
}

/// Moves the stream to `target`: gaps for the holes, buffered bytes delivered.
fn flush_to<S: StreamSink + ?Sized>(
    flow: &mut Flow,
    sh: &mut Shared,
    dir: Direction,
    target: u64,
    at: (u64, Timestamp),
    sink: &mut S,
) -> Result<(), Ignored> {
    let id = flow.id;
    let half = &mut flow.half[dir.index()];
    // Each round delivers a chunk or closes a hole.
    while half.next < target {
        drain(id, dir, half, sh, sink)?;
        if half.next >= target {
            break;
        }
        let hole_end = half
            .chunks
            .keys()
            .next()
            .copied()
            .map_or(target, |s| s.min(target));
        if hole_end > half.next {
            gap(id, dir, half, sh, hole_end - half.next, at, sink);
        } else {
            break;
        }
    }
    Ok(())
}

/// Everything left: buffered bytes, holes before them, and the hole before a known FIN.
fn flush_all<S: StreamSink + ?Sized>(
    flow: &mut Flow,
    sh: &mut Shared,
    dir: Direction,
    at: (u64, Timestamp),
    sink: &mut S,
) -> Result<(), Ignored> {
    let half = &flow.half[dir.index()];
    let last_chunk_end = half
        .chunks
        .iter()
        .next_back()
        .map(|(s, c)| s + c.data.len() as u64);
    let target = match (last_chunk_end, half.fin) {
        (Some(e), Some(f)) => e.max(f),
        (Some(e), None) => e,
        (None, Some(f)) => f,
        (None, None) => return Ok(()),
    };
    flush_to(flow, sh, dir, target, at, sink)
}

fn gap<S: StreamSink + ?Sized>(
    id: FlowId,
    dir: Direction,
    half: &mut Half,
    sh: &mut Shared,
    len: u64,
    at: (u64, Timestamp),
    sink: &mut S,
) {
    let meta = SegmentMeta {
        frame: at.0,
        ts: at.1,
        stream_offset: half.next,
    };
    half.next += len;
    sh.stats.gaps += 1;
    sh.stats.gap_bytes += len;
    sink.on_gap(id, dir, len, meta);
}

/// Reads a whole capture and reassembles it into `sink`, like [`run`], but returns the
/// counters even when the capture ends with an error (a truncated file): the frames before
/// the error are processed and every flow is flushed and closed with
/// [`CloseReason::EndOfCapture`] before returning.
pub fn run_partial<R: Read, S: StreamSink + ?Sized>(
    reader: R,
    opts: &Options,
    sink: &mut S,
) -> (Stats, Option<CaptureError>) {
    let mut capture = match CaptureReader::with_limits(reader, opts.reader) {
        Ok(c) => c,
        Err(e) => return (Stats::default(), Some(e)),
    };
    let mut reasm = Reassembler::new(opts.clone());
    let error = loop {
        match capture.next_frame() {
            Ok(Some(frame)) => reasm.process_frame(&frame, sink),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    (reasm.finish(sink), error)
}

/// Reads a whole capture (pcap or pcapng, streamed) and reassembles every TCP flow into
/// `sink`. On a capture error the frames before it have been processed and all flows
/// closed; use [`run_partial`] to keep the counters in that case.
pub fn run<R: Read, S: StreamSink + ?Sized>(
    reader: R,
    opts: &Options,
    sink: &mut S,
) -> Result<Stats, CaptureError> {
    match run_partial(reader, opts, sink) {
        (stats, None) => Ok(stats),
        (_, Some(e)) => Err(e),
    }
}
