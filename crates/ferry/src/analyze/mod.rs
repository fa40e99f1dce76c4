//! `ferry analyze` (read a capture, print what happened on FTP) and `ferry capture` (live
//! capture through libpcap, printing the same rows as sessions progress).
//!
//! The analysis itself is `ferry_analyze`; this module only wires flags to it and to its
//! renderers (`ferry_analyze::report`), plus the terminal viewer ([`tui`]), the live
//! capture loop ([`live`]) and the pcapng writer of `ferry capture -w` ([`pcapng`]).
//!
//! Exit codes of `ferry analyze`: 0 success; 1 runtime error (cannot open the capture,
//! cannot write the HTML file or an extracted file); 2 usage error (e.g. `--tui` without a
//! terminal); 3 the capture is truncated or corrupt (or not a capture at all): what could be
//! read is printed first, then the error.

pub mod live;
pub mod pcapng;
pub mod tui;

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use ferry_analyze::report::{self, ReportOptions};
use ferry_analyze::{Analysis, AnalyzeError, AnalyzeOptions};

/// Exit code of a truncated or corrupt capture (partial results were printed).
pub const EXIT_CAPTURE_DAMAGED: u8 = 3;

/// Exit codes, shown at the end of `ferry analyze --help`.
pub const ANALYZE_EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  runtime error (cannot open the capture, write the HTML report or an extracted file)
  2  usage error (e.g. --tui when standard output is not a terminal)
  3  the capture is truncated, corrupt or not a capture: the partial results are printed
     first, then the error";

/// When to colour the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorWhen {
    /// When standard output is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Flags of `ferry analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture file (pcap or pcapng; Ethernet, Linux cooked, raw IP or loopback)
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// JSON lines instead of the table (types: session, command, transfer, finding)
    #[arg(long, conflicts_with_all = ["hex", "tui"])]
    pub json: bool,
    /// Every FTP packet (control and data) as a header line and a hex/ASCII dump
    #[arg(long, conflicts_with = "tui")]
    pub hex: bool,
    /// Write a self-contained HTML report (ladder diagrams, transfers, findings) to FILE;
    /// alone, nothing else is printed
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Terminal viewer: packet list, hex and ASCII panes (needs a terminal)
    #[arg(long)]
    pub tui: bool,
    /// Write every transferred file under DIR (named after its path; `.incomplete` when
    /// bytes are missing)
    #[arg(long, value_name = "DIR")]
    pub extract: Option<PathBuf>,
    /// With --extract: fill missing byte ranges with zeros so offsets stay right
    #[arg(long, requires = "extract")]
    pub fill_gaps: bool,
    /// Another FTP control port besides 21 (repeatable); flows that greet like an FTP
    /// server are analysed on any port anyway
    #[arg(long = "ftp-port", value_name = "N")]
    pub ftp_port: Vec<u16>,
    /// Show passwords as seen on the wire (the default)
    #[arg(long, overrides_with = "mask_passwords")]
    pub show_passwords: bool,
    /// Replace passwords with ******** in every output
    #[arg(long, overrides_with = "show_passwords")]
    pub mask_passwords: bool,
    /// Colour the table
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
    /// At most N arrows per session in the HTML ladder diagram
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub html_max_arrows: usize,
}

/// A truncated or corrupt capture, after the partial results were printed (exit code 3).
#[derive(Debug)]
pub struct CaptureDamaged(pub String);

impl fmt::Display for CaptureDamaged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (the results above are partial)", self.0)
    }
}

impl std::error::Error for CaptureDamaged {}

/// The exit code of an error of this module, if it is one.
pub fn exit_code_of(err: &anyhow::Error) -> Option<u8> {
    err.downcast_ref::<CaptureDamaged>()
        .map(|_| EXIT_CAPTURE_DAMAGED)
}

/// Whether to colour output going to `stream`.
pub fn use_color(when: ColorWhen, is_terminal: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// The analysis options for a list of extra control ports.
pub fn analyze_options(extra_ports: &[u16]) -> AnalyzeOptions {
    let mut opts = AnalyzeOptions::default();
    for p in extra_ports {
        if !opts.ftp_ports.contains(p) {
            opts.ftp_ports.push(*p);
        }
    }
    opts
}

/// Runs `ferry analyze`.
pub fn run(args: &AnalyzeArgs) -> anyhow::Result<()> {
    let stdout_is_terminal = io::stdout().is_terminal();
    if args.tui && !stdout_is_terminal {
        return Err(crate::UsageError(
            "--tui needs a terminal on standard output (it is redirected); \
             use --hex for the same packets as text"
                .into(),
        )
        .into());
    }
    let mut opts = analyze_options(&args.ftp_port);
    opts.extract_dir = args.extract.clone();
    opts.fill_gaps = args.fill_gaps;
    opts.keep_packets = args.hex || args.tui;
    if let Some(dir) = &args.extract {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the extraction directory {}", dir.display()))?;
    }
    let file = File::open(&args.capture)
        .with_context(|| format!("cannot open {}", args.capture.display()))?;
    let name = args.capture.display().to_string();
    let (analysis, error) = ferry_analyze::analyze_reader(file, &name, &opts);

    let report_opts = ReportOptions {
        mask_passwords: args.mask_passwords,
        color: use_color(args.color, stdout_is_terminal),
        max_ladder_arrows: args.html_max_arrows,
        ..ReportOptions::default()
    };
    let mut html_note = None;
    if let Some(path) = &args.html {
        write_html(path, &analysis, &report_opts)?;
        html_note = Some(format!(
            "HTML report written to {} ({} session(s), {} transfer(s), {} finding(s))",
            path.display(),
            analysis.sessions.len(),
            analysis
                .sessions
                .iter()
                .map(|s| s.transfers.len())
                .sum::<usize>(),
            analysis.findings.len()
        ));
    }
    if args.tui {
        tui::run(&analysis, &report_opts)?;
    } else if args.json || args.hex || args.html.is_none() {
        print_stdout(&analysis, args, &report_opts)?;
    }
    if let Some(note) = html_note {
        eprintln!("{note}");
    }
    match error {
        None => Ok(()),
        Some(AnalyzeError::Capture(e)) => {
            Err(CaptureDamaged(format!("{}: {e}", args.capture.display())).into())
        }
        Some(e) => Err(anyhow::Error::new(e)),
    }
}

/// Writes the table, JSON lines or hex dump to standard output; a closed pipe (`| head`)
/// ends the output quietly.
fn print_stdout(
    analysis: &Analysis,
    args: &AnalyzeArgs,
    opts: &ReportOptions,
) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let result = if args.json {
        report::json::write_json(&mut out, analysis, opts)
    } else if args.hex {
        report::hex::write_hex(&mut out, analysis, opts)
    } else {
        report::table::write_table(&mut out, analysis, opts)
    };
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

/// Writes the HTML report to `path`.
fn write_html(path: &PathBuf, analysis: &Analysis, opts: &ReportOptions) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    report::html::write_html(&mut out, analysis, opts)
        .and_then(|()| out.flush())
        .with_context(|| format!("cannot write {}", path.display()))
}
