//! The public entry points: [`analyze_file`], [`analyze_reader`] and [`LiveAnalyzer`].

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::capture::{CaptureReader, Frame, LinkType, Timestamp};
use crate::ftp::Analyzer;
use crate::model::{Analysis, AnalyzeError, AnalyzeOptions, CaptureInfo, LiveEvent};
use crate::reassembly::{Options, Reassembler};

/// Analyses a capture file (pcap or pcapng). A capture that stops being readable part-way
/// (truncated, corrupt) or an extraction failure is an error; use [`analyze_reader`] to keep
/// the partial results.
pub fn analyze_file(path: &Path, opts: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    let file = File::open(path).map_err(|source| AnalyzeError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.display().to_string();
    match analyze_reader(BufReader::new(file), &name, opts) {
        (analysis, None) => Ok(analysis),
        (_, Some(e)) => Err(e),
    }
}

/// Analyses a capture read from `reader`; `name` goes into [`CaptureInfo::name`]. Always
/// returns what was found (partial results when the capture is cut short or corrupt); the
/// error says why reading stopped early, or that extraction failed.
pub fn analyze_reader<R: Read>(
    reader: R,
    name: &str,
    opts: &AnalyzeOptions,
) -> (Analysis, Option<AnalyzeError>) {
    let mut live = LiveAnalyzer::build(opts.clone(), false, name);
    let ropts = live.reasm_opts.clone();
    let mut capture = match CaptureReader::with_limits(reader, ropts.reader) {
        Ok(c) => c,
        Err(e) => {
            live.info.error = Some(e.to_string());
            return (live.finish(), Some(AnalyzeError::Capture(e)));
        }
    };
    let error = loop {
        match capture.next_frame() {
            Ok(Some(frame)) => live.process(&frame),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    if let Some(e) = &error {
        live.info.error = Some(e.to_string());
    }
    let extract_error = live.analyzer.take_extract_error();
    let analysis = live.finish_inner();
    let error = error
        .map(AnalyzeError::Capture)
        .or(analysis.1)
        .or(extract_error);
    (analysis.0, error)
}

/// Live analysis: push frames one by one (e.g. from libpcap), drain events as sessions
/// progress, and [`finish`](LiveAnalyzer::finish) for the full [`Analysis`].
///
/// Memory: what the analysis model keeps (sessions, commands, transfers, and packets when
/// [`AnalyzeOptions::keep_packets`]) plus the bounded reassembly state; events accumulate
/// until drained.
pub struct LiveAnalyzer {
    reasm: Reassembler,
    reasm_opts: Options,
    analyzer: Analyzer,
    info: CaptureInfo,
    frames: u64,
}

impl std::fmt::Debug for LiveAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveAnalyzer")
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl LiveAnalyzer {
    /// A live analyzer with these options.
    pub fn new(opts: AnalyzeOptions) -> Self {
        Self::build(opts, true, "live")
    }

    fn build(opts: AnalyzeOptions, live: bool, name: &str) -> Self {
        let mut reasm_opts = opts.reassembly.clone();
        for p in &opts.ftp_ports {
            if !reasm_opts.server_ports.contains(p) {
                reasm_opts.server_ports.push(*p);
            }
        }
        LiveAnalyzer {
            reasm: Reassembler::new(reasm_opts.clone()),
            reasm_opts,
            analyzer: Analyzer::new(opts, live),
            info: CaptureInfo {
                name: name.to_string(),
                ..CaptureInfo::default()
            },
            frames: 0,
        }
    }

    fn process(&mut self, frame: &Frame<'_>) {
        self.frames = frame.number;
        if self.info.first_ts.is_none() {
            self.info.first_ts = Some(frame.ts);
        }
        self.info.last_ts = Some(frame.ts);
        if !self.info.link_types.contains(&frame.link_type) && self.info.link_types.len() < 64 {
            self.info.link_types.push(frame.link_type);
        }
        self.reasm.process_frame(frame, &mut self.analyzer);
    }

    /// Processes one captured frame (`data` as captured, of link type `link`). Frames are
    /// numbered 1, 2, ... in the order pushed.
    pub fn push_frame(&mut self, link: LinkType, ts: Timestamp, data: &[u8]) {
        let frame = Frame {
            number: self.frames + 1,
            ts,
            link_type: link,
            data,
            orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            interface: 0,
        };
        self.process(&frame);
    }

    /// Events since the last call, oldest first.
    pub fn drain_events(&mut self) -> Vec<LiveEvent> {
        self.analyzer.take_events()
    }

    /// The options in use.
    pub fn options(&self) -> &AnalyzeOptions {
        self.analyzer.options()
    }

    /// Ends the capture: closes every open flow and returns the analysis.
    pub fn finish(self) -> Analysis {
        self.finish_inner().0
    }

    fn finish_inner(mut self) -> (Analysis, Option<AnalyzeError>) {
        let stats = self.reasm.finish(&mut self.analyzer);
        self.info.frames = stats.frames;
        self.info.stats = stats;
        let extract_error = self.analyzer.take_extract_error();
        let (analysis, late) = self.analyzer.finish(self.info);
        (analysis, extract_error.or(late))
    }
}
