//! The public entry points: [`analyze_file`], [`analyze_reader`] and [`LiveAnalyzer`].

use std::io::Read;
use std::path::Path;

use crate::capture::{LinkType, Timestamp};
use crate::model::{Analysis, AnalyzeError, AnalyzeOptions, LiveEvent};

/// Analyses a capture file (pcap or pcapng). A capture that stops being readable part-way
/// (truncated, corrupt) is an error; use [`analyze_reader`] to keep the partial results.
pub fn analyze_file(path: &Path, opts: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    let _ = (path, opts);
    todo!()
}

/// Analyses a capture read from `reader`; `name` goes into [`crate::CaptureInfo::name`].
/// Always returns what was found; the error (if any) says why reading stopped early.
pub fn analyze_reader<R: Read>(
    reader: R,
    name: &str,
    opts: &AnalyzeOptions,
) -> (Analysis, Option<AnalyzeError>) {
    let _ = (reader, name, opts);
    todo!()
}

/// Live analysis: push frames one by one (e.g. from libpcap), drain events as sessions
/// progress, and [`finish`](LiveAnalyzer::finish) for the full [`Analysis`].
pub struct LiveAnalyzer {
    _private: (),
}

impl LiveAnalyzer {
    /// A live analyzer with these options.
    pub fn new(opts: AnalyzeOptions) -> Self {
        let _ = opts;
        todo!()
    }

    /// Processes one captured frame (`data` as captured, of link type `link`).
    pub fn push_frame(&mut self, link: LinkType, ts: Timestamp, data: &[u8]) {
        let _ = (link, ts, data);
        todo!()
    }

    /// Events since the last call, oldest first.
    pub fn drain_events(&mut self) -> Vec<LiveEvent> {
        todo!()
    }

    /// Ends the capture: closes every open flow and returns the analysis.
    pub fn finish(self) -> Analysis {
        todo!()
    }
}
