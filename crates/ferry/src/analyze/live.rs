//! `ferry capture -i IFACE [--port 21]... [-w FILE.pcapng] [--count N] [--duration SECS]`:
//! live capture through libpcap, fed to [`ferry_analyze::LiveAnalyzer`], printing table rows
//! as sessions progress and, at the end, the transfers and findings.
//!
//! The BPF filter: it starts as `tcp and (port P1 or port P2 ...)` (the control ports).
//! To follow data connections (whose ports are only known from PASV/PORT replies), every
//! new pair of hosts seen on a control port widens it to
//! `tcp and (port P1 ... or (host A and host B) ...)`: all TCP between the two ends of a
//! control connection is captured from then on (on loopback, `host 127.0.0.1`). Past 64
//! host pairs the filter becomes plain `tcp`. `--no-follow` keeps the control-port filter
//! (data connections are then not captured). A data connection from a third host (PASV
//! theft, FXP) is only captured past the pair cap or with `--all-tcp` (filter `tcp`).
//!
//! Capturing needs root or CAP_NET_RAW. The capture stops after `--count` packets, after
//! `--duration` seconds, or on SIGINT/SIGTERM; then the summary is printed.

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

/// Host pairs followed before the filter becomes plain `tcp`.
pub const MAX_FOLLOWED_PAIRS: usize = 64;
/// libpcap read timeout (buffered delivery when immediate mode is unavailable).
const READ_TIMEOUT_MS: i32 = 100;
/// Sleep when no packet is waiting: how often an idle loop checks the stop conditions.
const IDLE_SLEEP: Duration = Duration::from_millis(5);

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
    /// Stop after N packets
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after SECS seconds
    #[arg(short = 'd', long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Capture only the control ports (do not widen the filter to follow data connections)
    #[arg(long, conflicts_with = "all_tcp")]
    pub no_follow: bool,
    /// Capture all TCP on the interface (data connections from any host)
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

/// The BPF filter for these control ports and followed host pairs (`None` pairs: all TCP).
pub fn bpf_filter(ports: &[u16], pairs: Option<&BTreeSet<(IpAddr, IpAddr)>>) -> String {
    let Some(pairs) = pairs else {
        return "tcp".to_string();
    };
    let mut terms: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    for (a, b) in pairs {
        if a == b {
            terms.push(format!("host {a}"));
        } else {
            terms.push(format!("(host {a} and host {b})"));
        }
    }
    if terms.is_empty() {
        "tcp".to_string()
    } else {
        format!("tcp and ({})", terms.join(" or "))
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
                .buffer_size(32 * 1024 * 1024)
                .open()
        })
        // Non-blocking: with immediate mode, Linux libpcap ignores the read timeout and a
        // quiet interface would block the loop (and --duration, and SIGINT) forever.
        .and_then(|c| c.setnonblock())
        .with_context(|| {
            format!(
                "cannot capture on {} (capturing needs root or CAP_NET_RAW)",
                args.interface
            )
        })?;
    let mut pairs: Option<BTreeSet<(IpAddr, IpAddr)>> = if args.all_tcp {
        None
    } else {
        Some(BTreeSet::new())
    };
    let filter = bpf_filter(&args.port, pairs.as_ref());
    cap.filter(&filter, true)
        .with_context(|| format!("cannot set the capture filter `{filter}`"))?;
    let link_raw = cap.get_datalink().0;
    let link = LinkType(u32::try_from(link_raw).unwrap_or(u32::MAX));
    eprintln!(
        "ferry capture: listening on {} (link type {link_raw}), filter `{filter}`{}",
        args.interface,
        if args.no_follow || args.all_tcp {
            ""
        } else {
            " (widened to follow data connections)"
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
    let mut packets = 0u64;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    loop {
        if stop.load(Ordering::SeqCst)
            || deadline.is_some_and(|d| Instant::now() >= d)
            || args.count.is_some_and(|c| packets >= c)
        {
            break;
        }
        let new_pair = match cap.next_packet() {
            Ok(packet) => {
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
                match (&pairs, args.no_follow) {
                    (Some(set), false) => control_pair(link, packet.data, &args.port)
                        .filter(|pair| !set.contains(pair)),
                    _ => None,
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                std::thread::sleep(IDLE_SLEEP);
                None
            }
            Err(e) => return Err(anyhow::Error::new(e).context("capture failed")),
        };
        if let Some(pair) = new_pair {
            if let Some(set) = pairs.as_mut() {
                set.insert(pair);
                if set.len() > MAX_FOLLOWED_PAIRS {
                    pairs = None;
                }
            }
            let filter = bpf_filter(&args.port, pairs.as_ref());
            cap.filter(&filter, true)
                .with_context(|| format!("cannot set the capture filter `{filter}`"))?;
            eprintln!("ferry capture: filter now `{filter}`");
        }
        for event in analyzer.drain_events() {
            ignore_broken_pipe(printer.print(&mut out, event))?;
        }
    }
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
    match stats {
        Some(s) => eprintln!(
            "ferry capture: {packets} packet(s) captured, {} received by the filter, {} dropped by the kernel, {} session(s)",
            s.received,
            s.dropped,
            analysis.sessions.len()
        ),
        None => eprintln!(
            "ferry capture: {packets} packet(s) captured, {} session(s)",
            analysis.sessions.len()
        ),
    }
    Ok(())
}

/// A closed standard output (`| head`) is not an error.
fn ignore_broken_pipe(result: io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

/// The (lower, higher) host pair of a TCP packet to or from a control port.
fn control_pair(link: LinkType, data: &[u8], ports: &[u16]) -> Option<(IpAddr, IpAddr)> {
    let seg = ferry_analyze::decode_tcp(link, data).ok()?;
    if !ports.contains(&seg.src.port()) && !ports.contains(&seg.dst.port()) {
        return None;
    }
    let (a, b) = (seg.src.ip(), seg.dst.ip());
    Some(if a <= b { (a, b) } else { (b, a) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(bpf_filter(&[21], None), "tcp");
        let mut set = BTreeSet::new();
        assert_eq!(
            bpf_filter(&[21, 2121], Some(&set)),
            "tcp and (port 21 or port 2121)"
        );
        set.insert(("127.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap()));
        set.insert(("10.0.0.1".parse().unwrap(), "::1".parse().unwrap()));
        assert_eq!(
            bpf_filter(&[21], Some(&set)),
            "tcp and (port 21 or (host 10.0.0.1 and host ::1) or host 127.0.0.1)"
        );
    }
}
