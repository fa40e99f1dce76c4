//! # ferry-analyze
//!
//! Ferry's FTP capture analyzer. Layers, bottom up (each module's docs say more):
//!
//! ```text
//! capture.rs     pcap / pcapng → Frame { number, ts, link_type, data, orig_len }   (streaming)
//! packet.rs      Frame bytes → TcpSegment { src, dst, seq, ack, flags, payload, .. }
//! reassembly.rs  TcpSegments → per-flow, per-direction ordered bytes and explicit gaps,
//!                delivered to a StreamSink; `run` drives capture → packet → reassembly
//! ftp/           (next) FTP sessions, data-channel linking, extraction, findings — a StreamSink
//! ```
//!
//! The FTP layer implements [`reassembly::StreamSink`] and calls [`reassembly::run`]; it
//! never touches capture formats, link layers or TCP sequence numbers.
//!
//! Memory is bounded at every layer: the capture reader's buffer (one block at most, capped),
//! the reassembler's out-of-order buffers (per direction and global caps), and the flow table
//! (idle timeout, closed flows removed, a cap on live flows).

pub mod capture;
pub mod packet;
pub mod reassembly;

pub use capture::{CaptureError, CaptureReader, Frame, LinkType, Timestamp};
pub use packet::{decode_tcp, Skip, TcpFlags, TcpSegment};
pub use reassembly::{
    run, run_partial, CloseReason, Direction, FlowId, FlowInfo, Interest, Options, Orientation,
    Reassembler, SegmentMeta, Stats, StreamSink,
};
