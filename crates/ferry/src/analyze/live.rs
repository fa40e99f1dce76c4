//! `ferry capture -i IFACE [--port 21]... [-w FILE.pcapng] [--count N] [--duration SECS]`:
//! live capture through libpcap, fed to [`ferry_analyze::LiveAnalyzer`], printing table rows
//! as sessions progress and, at the end, the transfers and findings.
//!
//! Filtering, in two stages:
//! - in the kernel, the BPF filter `tcp` (with `--no-follow`: `tcp and (port P1 or port
//!   P2 ...)`, the control ports only);
//! - in `ferry capture` ([`Follower`]), packet by packet in capture order: a packet is kept
//!   (written to `-w` and analysed) when one of its ports is a control port, or when its
//!   two hosts are the two ends of a control connection seen before (any TCP between them:
//!   that is where PASV/EPSV/PORT/EPRT data connections go). Past [`MAX_FOLLOWED_PAIRS`]
//!   host pairs every TCP packet is kept; `--all-tcp` keeps every TCP packet from the
//!   start (data connections from a third host: PASV theft, FXP).
//!
//! Why not widen the kernel filter as control connections appear: installing a new filter
//! on a live Linux socket loses packets in flight, and the widening always races the data
//! connection (on loopback a client opens it well under a millisecond after connecting).
//! Deciding in user space, in capture order, has no race: the control connection's first
//! packet is always seen before its data connections' first packets.
//!
//! Capturing needs root or CAP_NET_RAW. Reads block in immediate mode; a watchdog thread
//! breaks them on SIGINT/SIGTERM or at `--duration`. `--count` counts kept packets.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use ferry_analyze::report::table::{self, Ends};
use ferry_analyze::report::ReportOptions;
use ferry_analyze::{LinkType, LiveAnalyzer, LiveEvent, Timestamp};

use super::pcapng::PcapngWriter;
use super::ColorWhen;

/// Host pairs followed before every TCP packet is kept.
pub const MAX_FOLLOWED_PAIRS: usize = 4096;
/// libpcap read timeout (buffered delivery when immediate mode is unavailable).
const READ_TIMEOUT_MS: i32 = 100;
/// How often the watchdog checks the stop conditions (signal, --duration).
const WATCHDOG_TICK: Duration = Duration::from_millis(20);

/// Flags of `ferry capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Interface to capture on (e.g. lo, eth0)
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub interface: String,
    /// FTP control port (repeatable)
    #[arg(long, value_name = "PORT", default_value = "21")]
    pub port: Vec<u16>,
    /// Also write the captured packets to FILE (pcapng)
    #[arg(short = 'w', long = "write", value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    /// Stop after N kept packets
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after SECS seconds
    #[arg(short = 'd', long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Keep only the control ports (kernel filter; data connections are not captured)
    #[arg(long, conflicts_with = "all_tcp")]
    pub no_follow: bool,
    /// Keep every TCP packet (data connections from any host), not only the control ports
    /// and the TCP between the ends of each control connection
    #[arg(long)]
    pub all_tcp: bool,
    /// Bytes kept of each packet
    #[arg(long, value_name = "BYTES", default_value_t = 262_144)]
    pub snaplen: u32,
    /// Replace passwords with ******** in the output (the pcapng file keeps them)
    #[arg(long)]
    pub mask_passwords: bool,
    /// Colour the table
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
}

/// The kernel BPF filter: `tcp`, or only the control ports with `no_follow`.
pub fn bpf_filter(ports: &[u16], no_follow: bool) -> String {
    if !no_follow || ports.is_empty() {
        return "tcp".to_string();
    }
    let terms: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    format!("tcp and ({})", terms.join(" or "))
}

/// Decides, packet by packet in capture order, which packets belong to FTP: those on a
/// control port, and any TCP between the two hosts of a control connection seen before.
#[derive(Debug)]
pub struct Follower {
    ports: Vec<u16>,
    /// Followed host pairs (lower address first); `None`: keep every TCP packet.
    pairs: Option<BTreeSet<(IpAddr, IpAddr)>>,
}

impl Follower {
    /// A follower for these control ports (`all_tcp`: keep everything).
    pub fn new(ports: &[u16], all_tcp: bool) -> Follower {
        Follower {
            ports: ports.to_vec(),
            pairs: if all_tcp { None } else { Some(BTreeSet::new()) },
        }
    }

    /// Whether to keep this frame (and follow its hosts when it is on a control port).
    pub fn keep(&mut self, link: LinkType, data: &[u8]) -> bool {
        let Some(pairs) = self.pairs.as_mut() else {
            return true;
        };
        let Ok(seg) = ferry_analyze::decode_tcp(link, data) else {
            return false;
        };
        let (a, b) = (seg.src.ip(), seg.dst.ip());
        let pair = if a <= b { (a, b) } else { (b, a) };
        if self.ports.contains(&seg.src.port()) || self.ports.contains(&seg.dst.port()) {
            if pairs.insert(pair) && pairs.len() > MAX_FOLLOWED_PAIRS {
                self.pairs = None;
            }
            return true;
        }
        pairs.contains(&pair)
    }

    /// Host pairs followed so far (`None`: all TCP is kept).
    pub fn followed(&self) -> Option<usize> {
        self.pairs.as_ref().map(BTreeSet::len)
    }
}

/// Sets a flag on SIGINT or SIGTERM (a small runtime on its own thread).
fn stop_on_signal() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let spawned = std::thread::Builder::new()
        .name("ferry-capture-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                flag.store(true, Ordering::SeqCst);
            });
        });
    if spawned.is_err() {
        tracing::warn!("cannot watch for SIGINT/SIGTERM; stop with --count or --duration");
    }
    stop
}

/// Breaks the capture's blocking read when `stop` is set (by a signal) or at `deadline`;
/// ends when `stop` is set.
fn watchdog(handle: pcap::BreakLoop, stop: Arc<AtomicBool>, deadline: Option<Instant>) {
    let spawned = std::thread::Builder::new()
        .name("ferry-capture-watchdog".into())
        .spawn(move || loop {
            if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
                stop.store(true, Ordering::SeqCst);
                handle.breakloop();
                return;
            }
            std::thread::sleep(WATCHDOG_TICK);
        });
    if spawned.is_err() {
        tracing::warn!("cannot start the capture watchdog; --duration and signals stop the capture only when a packet arrives");
    }
}

/// Prints live events as table rows.
struct Printer {
    opts: ReportOptions,
    ends: HashMap<u32, Ends>,
    passwords: HashMap<u32, String>,
    first_ts: Option<Timestamp>,
}

impl Printer {
    fn print<W: Write>(&mut self, out: &mut W, event: LiveEvent) -> io::Result<()> {
        match event {
            LiveEvent::SessionStarted {
                session,
                client,
                server,
            } => {
                self.ends.insert(session, Ends { client, server });
                writeln!(out)?;
                writeln!(out, "Session {session}  {client} → {server}")?;
            }
            LiveEvent::Command { session, record } => {
                if record.command.eq_ignore_ascii_case("PASS") {
                    if let Some(pw) = &record.arg {
                        self.passwords.insert(session, pw.clone());
                    }
                }
                let Some(ends) = self.ends.get(&session).copied() else {
                    return Ok(());
                };
                for row in table::command_rows(ends, &record, self.first_ts, &self.opts) {
                    writeln!(out, "[{session}] {row}")?;
                }
            }
            LiveEvent::Transfer(t) => {
                writeln!(
                    out,
                    "[{}] transfer: {}",
                    t.session,
                    table::transfer_row(&t, &self.opts)
                )?;
            }
            LiveEvent::Finding(f) => {
                let passwords: Vec<&str> = match f.session {
                    Some(s) => self
                        .passwords
                        .get(&s)
                        .map(String::as_str)
                        .into_iter()
                        .collect(),
                    None => self.passwords.values().map(String::as_str).collect(),
                };
                let detail = self.opts.mask_text(&f.detail, &passwords);
                let who = f.session.map_or("-".to_string(), |s| s.to_string());
                writeln!(
                    out,
                    "[{who}] finding: {}",
                    table::finding_row(&f, &detail, &self.opts)
                )?;
            }
            LiveEvent::SessionEnded { session } => {
                writeln!(out, "[{session}] session ended")?;
            }
        }
        out.flush()
    }
}

/// Runs `ferry capture`.
pub fn run(args: &CaptureArgs) -> anyhow::Result<()> {
    if args.port.is_empty() {
        return Err(crate::UsageError("at least one --port is needed".into()).into());
    }
    if let Some(d) = args.duration {
        if !(d.is_finite() && d >= 0.0) {
            return Err(
                crate::UsageError(format!("--duration {d}: not a number of seconds")).into(),
            );
        }
    }
    let snaplen = i32::try_from(args.snaplen.clamp(64, 262_144)).unwrap_or(262_144);
    let mut cap = pcap::Capture::from_device(args.interface.as_str())
        .and_then(|c| {
            c.promisc(false)
                .snaplen(snaplen)
                .timeout(READ_TIMEOUT_MS)
                .immediate_mode(true)
                .buffer_size(64 * 1024 * 1024)
                .open()
        })
        .with_context(|| {
            format!(
                "cannot capture on {} (capturing needs root or CAP_NET_RAW)",
                args.interface
            )
        })?;
    let filter = bpf_filter(&args.port, args.no_follow);
    cap.filter(&filter, true)
        .with_context(|| format!("cannot set the capture filter `{filter}`"))?;
    let link_raw = cap.get_datalink().0;
    let link = LinkType(u32::try_from(link_raw).unwrap_or(u32::MAX));
    let mut follower = Follower::new(&args.port, args.all_tcp || args.no_follow);
    eprintln!(
        "ferry capture: listening on {} (link type {link_raw}), kernel filter `{filter}`, {}",
        args.interface,
        if args.all_tcp {
            "keeping every TCP packet".to_string()
        } else if args.no_follow {
            "control ports only".to_string()
        } else {
            format!(
                "keeping ports {:?} and all TCP between the ends of each control connection",
                args.port
            )
        }
    );

    let mut writer = match &args.write {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let link16 = u16::try_from(link_raw).unwrap_or(0);
            Some(
                PcapngWriter::new(BufWriter::new(file), link16, args.snaplen, &args.interface)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            )
        }
        None => None,
    };

    let mut analyzer = LiveAnalyzer::new(super::analyze_options(&args.port));
    let opts = ReportOptions {
        mask_passwords: args.mask_passwords,
        color: super::use_color(args.color, io::stdout().is_terminal()),
        ..ReportOptions::default()
    };
    let mut printer = Printer {
        opts: opts.clone(),
        ends: HashMap::new(),
        passwords: HashMap::new(),
        first_ts: None,
    };
    let stop = stop_on_signal();
    let started = Instant::now();
    let deadline = args
        .duration
        .map(|d| started + Duration::from_secs_f64(d.min(1e9)));
    // Reads block (immediate mode: each packet is handled at once, which keeps the window
    // before a widened filter takes effect short); a watchdog thread breaks the blocking
    // read on SIGINT/SIGTERM or at the deadline.
    watchdog(cap.breakloop_handle(), Arc::clone(&stop), deadline);
    let mut packets = 0u64;
    let mut seen = 0u64;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    loop {
        if stop.load(Ordering::SeqCst)
            || deadline.is_some_and(|d| Instant::now() >= d)
            || args.count.is_some_and(|c| packets >= c)
        {
            break;
        }
        match cap.next_packet() {
            Ok(packet) => {
                seen += 1;
                if !follower.keep(link, packet.data) {
                    continue;
                }
                packets += 1;
                // time_t is i32 on some targets.
                #[allow(clippy::useless_conversion)]
                let secs = i64::from(packet.header.ts.tv_sec);
                let micros = u64::try_from(packet.header.ts.tv_usec).unwrap_or(0);
                let ts = Timestamp::new(secs, micros.saturating_mul(1000));
                printer.first_ts.get_or_insert(ts);
                if let Some(w) = writer.as_mut() {
                    let ts_micros = u64::try_from(secs)
                        .unwrap_or(0)
                        .saturating_mul(1_000_000)
                        .saturating_add(micros);
                    w.write_packet(ts_micros, packet.data, packet.header.len)
                        .context("cannot write the capture file")?;
                }
                analyzer.push_frame(link, ts, packet.data);
            }
            Err(pcap::Error::TimeoutExpired) => continue,
            // pcap_breakloop (from the watchdog).
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                return Err(anyhow::Error::new(e).context("capture failed"));
            }
        }
        for event in analyzer.drain_events() {
            ignore_broken_pipe(printer.print(&mut out, event))?;
        }
    }
    stop.store(true, Ordering::SeqCst);
    if let Some(w) = writer.as_mut() {
        w.flush().context("cannot write the capture file")?;
    }
    let stats = cap.stats().ok();
    let analysis = analyzer.finish();
    let summary = (|| -> io::Result<()> {
        writeln!(out)?;
        let transfers: Vec<_> = analysis
            .sessions
            .iter()
            .flat_map(|s| &s.transfers)
            .collect();
        writeln!(out, "Transfers ({})", transfers.len())?;
        if !transfers.is_empty() {
            writeln!(out, "{}", table::transfer_title(&opts))?;
            for t in transfers {
                writeln!(out, "{}", table::transfer_row(t, &opts))?;
            }
        }
        writeln!(out)?;
        writeln!(out, "Findings ({})", analysis.findings.len())?;
        if !analysis.findings.is_empty() {
            writeln!(out, "{}", table::finding_title(&opts))?;
            for f in &analysis.findings {
                let detail = opts.detail(&analysis, f.session, &f.detail);
                writeln!(out, "{}", table::finding_row(f, &detail, &opts))?;
            }
        }
        out.flush()
    })();
    ignore_broken_pipe(summary)?;
    let followed = match follower.followed() {
        Some(n) => format!("{n} host pair(s) followed"),
        None => "all TCP kept".to_string(),
    };
    let kernel = stats.map_or(String::new(), |s| {
        format!(
            ", {} received by the kernel filter, {} dropped by the kernel",
            s.received, s.dropped
        )
    });
    eprintln!(
        "ferry capture: {packets} packet(s) kept of {seen} read{kernel}; {followed}; {} session(s)",
        analysis.sessions.len()
    );
    Ok(())
}

/// A closed standard output (`| head`) is not an error.
fn ignore_broken_pipe(result: io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(bpf_filter(&[21], false), "tcp");
        assert_eq!(
            bpf_filter(&[21, 2121], true),
            "tcp and (port 21 or port 2121)"
        );
    }

    /// An Ethernet + IPv4 + TCP frame.
    fn frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        f.extend_from_slice(&ip);
        let mut tcp = vec![0u8; 20];
        tcp[..2].copy_from_slice(&sport.to_be_bytes());
        tcp[2..4].copy_from_slice(&dport.to_be_bytes());
        tcp[12] = 0x50;
        tcp[13] = 0x02;
        f.extend_from_slice(&tcp);
        f
    }

    #[test]
    fn follower_keeps_control_and_data_between_the_same_hosts() {
        let mut f = Follower::new(&[21], false);
        let eth = LinkType::ETHERNET;
        let (c, s, x) = ([10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 9]);
        // Data before any control connection: not FTP.
        assert!(!f.keep(eth, &frame(c, 40000, s, 50000)));
        assert!(f.keep(eth, &frame(c, 40001, s, 21)));
        assert!(
            f.keep(eth, &frame(s, 50000, c, 40002)),
            "data of the same hosts"
        );
        assert!(f.keep(eth, &frame(c, 40003, s, 50001)));
        assert!(!f.keep(eth, &frame(x, 40004, s, 50002)), "third host");
        assert!(!f.keep(eth, &b"garbage"[..]));
        assert_eq!(f.followed(), Some(1));
        let mut all = Follower::new(&[21], true);
        assert!(all.keep(eth, &frame(x, 1, s, 2)));
        assert_eq!(all.followed(), None);
    }
}
