//! # ferry-analyze
//!
//! Ferry's FTP capture analyzer. Layers, bottom up (each module's docs say more):
//!
//! ```text
//! capture.rs     pcap / pcapng → Frame { number, ts, link_type, data, orig_len }   (streaming)
//! packet.rs      Frame bytes → TcpSegment { src, dst, seq, ack, flags, payload, .. }
//! reassembly.rs  TcpSegments → per-flow, per-direction ordered bytes and explicit gaps,
//!                delivered to a StreamSink; `run` drives capture → packet → reassembly
//! ftp/           FTP sessions, data-channel linking, extraction, findings — a StreamSink
//! model.rs       the analysis model (Analysis, Session, CommandRecord, Transfer, Finding, …)
//! analyze.rs     entry points: analyze_file, analyze_reader (partial results), LiveAnalyzer
//! report/        renderers of the model (table, hex, JSON lines, HTML)
//! ```
//!
//! The FTP layer ([`ftp`]) implements [`reassembly::StreamSink`] and is driven by a
//! [`reassembly::Reassembler`]; it never touches capture formats, link layers or TCP
//! sequence numbers. It reuses `ferry_proto`'s line decoder, command parser, reply parser,
//! address codecs and reply meanings: one parser for server, client and analyzer.
//!
//! Analysing a capture:
//!
//! ```no_run
//! use ferry_analyze::{analyze_file, AnalyzeOptions};
//!
//! let opts = AnalyzeOptions { extract_dir: Some("out".into()), ..AnalyzeOptions::default() };
//! let analysis = analyze_file(std::path::Path::new("ftp.pcap"), &opts)?;
//! for s in &analysis.sessions {
//!     for t in &s.transfers {
//!         println!("{} {:?} {} bytes sha256 {:?}", t.command, t.path, t.bytes, t.sha256);
//!     }
//! }
//! # Ok::<(), ferry_analyze::AnalyzeError>(())
//! ```
//!
//! A sink that counts the bytes of each direction:
//!
//! ```
//! use ferry_analyze::reassembly::{
//!     run_partial, CloseReason, Direction, FlowId, FlowInfo, Interest, Options, SegmentMeta,
//!     StreamSink,
//! };
//! use ferry_analyze::Timestamp;
//!
//! #[derive(Default)]
//! struct Count { data: u64, missing: u64 }
//!
//! impl StreamSink for Count {
//!     fn on_open(&mut self, _: FlowId, info: &FlowInfo) -> Interest {
//!         // e.g. follow only FTP control flows and the data flows a PASV announced
//!         let _ = (info.client, info.server, info.mid_stream);
//!         Interest::Follow
//!     }
//!     fn on_data(&mut self, _: FlowId, _: Direction, data: &[u8], _: SegmentMeta) -> Interest {
//!         self.data += data.len() as u64;
//!         Interest::Follow
//!     }
//!     fn on_gap(&mut self, _: FlowId, _: Direction, len: u64, _: SegmentMeta) {
//!         self.missing += len;
//!     }
//!     fn on_close(&mut self, _: FlowId, _: CloseReason, _: Timestamp) {}
//! }
//!
//! let mut sink = Count::default();
//! let (stats, error) = run_partial(&b"not a capture"[..], &Options::default(), &mut sink);
//! assert!(error.is_some());
//! assert_eq!(stats.frames, 0);
//! ```
//!
//! Memory is bounded at every layer: the capture reader's buffer (one block at most, capped),
//! the reassembler's out-of-order buffers (per direction and global caps), and the flow table
//! (idle timeout, closed flows removed, a cap on live flows).

mod analyze;
pub mod capture;
pub mod ftp;
pub mod model;
pub mod packet;
pub mod reassembly;
pub mod report;

pub use analyze::{analyze_file, analyze_reader, LiveAnalyzer};
pub use model::{
    Analysis, AnalyzeError, AnalyzeOptions, CaptureInfo, CommandRecord, DataSetup, Finding,
    FindingKind, LiveEvent, LoginState, PacketKind, PacketRecord, PreliminaryReply, Session,
    Severity, TlsState, Transfer, TransferDirection,
};

pub use capture::{CaptureError, CaptureReader, Frame, LinkType, Timestamp};
pub use packet::{decode_tcp, Skip, TcpFlags, TcpSegment};
pub use reassembly::{
    run, run_partial, CloseReason, Direction, FlowId, FlowInfo, Interest, Options, Orientation,
    Reassembler, SegmentMeta, Stats, StreamSink,
};
