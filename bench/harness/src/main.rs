//! `ferry-bench`: Ferry and the peer FTP servers measured side by side in one run (issue 8).
//!
//! Layout:
//! - `main.rs` (this file): the command line, the run's order, the loopback ceiling;
//! - [`servers`]: starting Ferry and the peers with equal settings, pinned to one CPU;
//! - [`scenarios`]: one function per measurement (big and small transfers, burst, idle
//!   sessions, NOOP latency, big listings);
//! - [`ftp`]: the blocking FTP/FTPS client the measurements drive;
//! - [`procfs`]: CPU time, PSS, kernel memory and file descriptors from `/proc`;
//! - [`report`]: medians, ratios to Ferry, the targets, and the Markdown tables;
//! - [`soak`]: the endurance run (many clients for minutes, memory and fds sampled);
//! - `peers` and `process`: the test suite's peer harness
//!   (`crates/ferry/tests/support/peers.rs`), compiled in unchanged, and the two helpers it
//!   needs, so the tests and the benchmark start the peers with one configuration.
//!
//! `bench/run.sh` builds it, pins it to the client CPU, and writes `bench/BENCHMARKS.md`.

mod ftp;
#[allow(dead_code, clippy::unwrap_used, missing_docs)]
#[path = "../../../crates/ferry/tests/support/peers.rs"]
mod peers;
#[allow(dead_code)]
mod process;
mod procfs;
mod report;
mod scenarios;
mod servers;
mod soak;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::scenarios::Sizes;
use crate::servers::{Kind, Server, StartOptions};

/// Passive ports of every server: pure-ftpd serves at most half its range at once, and the
/// idle run holds 1,000 sessions.
const PASSIVE_PORTS: u16 = 3000;

#[derive(Parser)]
#[command(about = "Ferry and the peer FTP servers, measured side by side")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the benchmark (as root: the peers switch users).
    Run(RunArgs),
    /// The endurance run against `ferry serve` (as root, like `run`); exits 1 when it fails.
    Soak(SoakArgs),
    /// Internal: the loopback ceiling's sender (sendfile of FILE to each connection).
    Ceiling {
        /// The file sent.
        file: PathBuf,
        /// Connections served before exiting.
        connections: usize,
        /// Bytes per sendfile call on a non-blocking socket waited on with poll; 0: one
        /// call for the whole file on a blocking socket.
        #[arg(long, default_value_t = 0)]
        chunk: usize,
    },
}

/// The options `run` and `soak` share: the server binary and the CPUs.
#[derive(clap::Args, Clone)]
struct Setup {
    /// The `ferry` binary (default: next to this program).
    #[arg(long)]
    ferry: Option<PathBuf>,
    /// CPU the servers run on.
    #[arg(long, default_value_t = 0)]
    server_cpu: usize,
    /// CPU this program (the clients) runs on.
    #[arg(long, default_value_t = 1)]
    client_cpu: usize,
    /// Do not pin (one-CPU machines).
    #[arg(long)]
    no_pin: bool,
}

impl Setup {
    /// The server and client CPUs (None when not pinned).
    fn cpus(&self) -> (Option<usize>, Option<usize>) {
        if self.no_pin {
            (None, None)
        } else {
            (Some(self.server_cpu), Some(self.client_cpu))
        }
    }
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Servers, comma-separated (ferry, vsftpd, pure-ftpd, proftpd, pyftpdlib).
    #[arg(long, default_value = "ferry,vsftpd,pure-ftpd,proftpd,pyftpdlib")]
    servers: String,
    #[command(flatten)]
    setup: Setup,
    /// Repetitions of each measurement (big transfers and bursts; small files and
    /// listings use min(reps, 3) and reps).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Size of the big file, MiB.
    #[arg(long, default_value_t = 1024)]
    big_mib: u64,
    /// Small files.
    #[arg(long, default_value_t = 2000)]
    small_files: usize,
    /// Entries of the big directory.
    #[arg(long, default_value_t = 50_000)]
    list_entries: usize,
    /// Clients of the burst.
    #[arg(long, default_value_t = 200)]
    burst_clients: usize,
    /// Idle session counts, comma-separated.
    #[arg(long, default_value = "1000,50000")]
    idle: String,
    /// NOOPs per repetition.
    #[arg(long, default_value_t = 10_000)]
    noops: usize,
    /// Memory an idle-session count may take at most (estimated from the previous count),
    /// MiB; default: half the memory available at the start.
    #[arg(long)]
    idle_budget_mib: Option<u64>,
    /// Where the raw results go (JSON).
    #[arg(long, default_value = "bench-results.json")]
    json: PathBuf,
    /// Where the Markdown tables go.
    #[arg(long, default_value = "bench-results.md")]
    markdown: PathBuf,
    /// Work directory (the big file, the servers' temporary roots are elsewhere).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Only these measurements, comma-separated (noop, small, list, burst, big, idle,
    /// ftps); the loopback ceiling is measured whenever `big` is. Default: all. For
    /// quick checks while tuning; BENCHMARKS.md comes from a full run.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// The measurements `--only` can pick.
const MEASUREMENTS: [&str; 7] = ["noop", "small", "list", "burst", "big", "idle", "ftps"];

impl RunArgs {
    /// Whether measurement `what` (one of [`MEASUREMENTS`]) runs.
    fn wants(&self, what: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == what)
    }
}

#[derive(clap::Args, Clone)]
struct SoakArgs {
    /// Clients at once.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Minutes the clients run.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    #[command(flatten)]
    setup: Setup,
    /// Where the raw results go (JSON).
    #[arg(long, default_value = "soak-results.json")]
    json: PathBuf,
    /// Where the Markdown report goes.
    #[arg(long, default_value = "soak-results.md")]
    markdown: PathBuf,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Ceiling {
            file,
            connections,
            chunk,
        } => ceiling_sender(&file, connections, chunk),
        Cmd::Run(args) => run(args),
        Cmd::Soak(args) => run_soak(args),
    }
}

fn ferry_binary(given: &Option<PathBuf>) -> Result<PathBuf> {
    Ok(match given {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("program directory")?
            .join("ferry"),
    })
}

fn run_soak(args: SoakArgs) -> Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("run as root: the server switches to the ferrytest account");
    }
    raise_fd_limit();
    let (cpu, client_cpu) = args.setup.cpus();
    servers::pin_self(client_cpu)?;
    let opts = StartOptions {
        ftps: false,
        passive_ports: 2000,
        cpu,
        client_cpu,
        ferry_bin: ferry_binary(&args.setup.ferry)?,
    };
    let duration = std::time::Duration::from_secs_f64(args.minutes * 60.0);
    eprintln!("== soak: {} clients for {} min", args.clients, args.minutes);
    let report = soak::soak(&opts, args.clients, duration)?;
    soak::write(&report, &args.json, &args.markdown)?;
    print!("{}", soak::markdown(&report));
    if let Err(why) = &report.verdict {
        bail!("soak failed: {why}");
    }
    Ok(())
}

/// Everything measured, for the JSON file and the report.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The sizes used.
    pub sizes: Sizes,
    /// Repetitions asked for.
    pub reps: usize,
    /// The loopback ceiling: sendfile from trivial senders to the same client loop.
    pub ceiling: Vec<CeilingSender>,
    /// Per server.
    pub servers: Vec<ServerResults>,
    /// Wall seconds of the whole run.
    pub seconds: f64,
}

/// What one server measured.
#[derive(Debug, Default, Serialize)]
pub struct ServerResults {
    /// Its name.
    pub server: String,
    /// RETR of the big file.
    pub retr: Vec<scenarios::Transfer>,
    /// STOR of the big file.
    pub stor: Vec<scenarios::Transfer>,
    /// Small files down.
    pub small_down: Vec<scenarios::SmallFiles>,
    /// Small files up.
    pub small_up: Vec<scenarios::SmallFiles>,
    /// Bursts.
    pub burst: Vec<scenarios::Burst>,
    /// Idle sessions, per count.
    pub idle: Vec<scenarios::Idle>,
    /// NOOP latency.
    pub noop: Vec<scenarios::Noop>,
    /// LIST of the big directory.
    pub list: Vec<scenarios::Listing>,
    /// MLSD of the big directory.
    pub mlsd: Vec<scenarios::Listing>,
    /// FTPS RETR of the big file.
    pub ftps_retr: Vec<scenarios::Transfer>,
    /// FTPS STOR of the big file.
    pub ftps_stor: Vec<scenarios::Transfer>,
    /// Measurements that failed, with why.
    pub errors: Vec<String>,
}

fn run(args: RunArgs) -> Result<()> {
    let started = Instant::now();
    if !nix::unistd::Uid::effective().is_root() {
        bail!("run as root: the peer servers start as root and switch users");
    }
    raise_fd_limit();
    let kinds: Vec<Kind> = args
        .servers
        .split(',')
        .map(|n| Kind::parse(n.trim()).with_context(|| format!("unknown server {n:?}")))
        .collect::<Result<_>>()?;
    let idle_counts: Vec<usize> = args
        .idle
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().context("idle counts"))
        .collect::<Result<_>>()?;
    let sizes = Sizes {
        big_bytes: args.big_mib << 20,
        small_files: args.small_files,
        small_bytes: 4096,
        list_entries: args.list_entries,
        burst_clients: args.burst_clients,
        noops: args.noops,
        idle_counts,
    };
    if let Some(bad) = args
        .only
        .iter()
        .find(|o| !MEASUREMENTS.contains(&o.as_str()))
    {
        bail!(
            "unknown measurement {bad:?} (known: {})",
            MEASUREMENTS.join(", ")
        );
    }
    let (server_cpu, client_cpu) = args.setup.cpus();
    servers::pin_self(client_cpu)?;
    let ferry_bin = ferry_binary(&args.setup.ferry)?;
    let work = match &args.work {
        Some(w) => {
            std::fs::create_dir_all(w)?;
            tempfile::Builder::new()
                .prefix("ferry-bench-")
                .tempdir_in(w)?
        }
        None => tempfile::Builder::new().prefix("ferry-bench-").tempdir()?,
    };
    let big = work.path().join(scenarios::BIG);
    eprintln!("== {} MiB test file", args.big_mib);
    write_random(&big, sizes.big_bytes)?;
    // Readable by every server's account; warm in the page cache.
    std::fs::set_permissions(&big, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    warm(&big)?;

    let mut ceiling: Vec<CeilingSender> = CEILING_SENDERS
        .iter()
        .map(|&(name, chunk)| CeilingSender {
            sender: name.to_owned(),
            chunk,
            runs: Vec::new(),
        })
        .collect();
    if args.wants("big") {
        eprintln!("== loopback ceiling");
        for c in &mut ceiling {
            let runs = measure_ceiling(&big, args.reps, c.chunk, server_cpu, client_cpu, &sizes)?;
            c.runs.extend(runs);
        }
    }
    let budget = args.idle_budget_mib.map(|m| m << 20).unwrap_or_else(|| {
        let (_, available) = procfs::mem_total_available();
        available / 2
    });

    let mut all = Vec::new();
    for kind in kinds {
        eprintln!("== {kind}");
        let mut r = ServerResults {
            server: kind.name().to_owned(),
            ..ServerResults::default()
        };
        let opts = StartOptions {
            ftps: false,
            passive_ports: PASSIVE_PORTS,
            cpu: server_cpu,
            client_cpu,
            ferry_bin: ferry_bin.clone(),
        };
        match plain_suite(kind, &opts, &args, &sizes, &big, budget, &mut r) {
            Ok(()) => {}
            Err(e) => r.errors.push(format!("plain: {e:#}")),
        }
        let tls_opts = StartOptions { ftps: true, ..opts };
        if args.wants("ftps") {
            if let Err(e) = tls_suite(kind, &tls_opts, &args, &sizes, &big, &mut r) {
                r.errors.push(format!("ftps: {e:#}"));
            }
        }
        for e in &r.errors {
            eprintln!("   error: {e}");
        }
        all.push(r);
        // Partial results survive a later crash.
        write_results(&args, &sizes, &ceiling, &all, started)?;
    }
    if args.wants("big") {
        eprintln!("== loopback ceiling (again)");
        for c in &mut ceiling {
            let runs = measure_ceiling(&big, args.reps, c.chunk, server_cpu, client_cpu, &sizes)?;
            c.runs.extend(runs);
        }
    }
    write_results(&args, &sizes, &ceiling, &all, started)?;
    eprintln!(
        "== done in {:.0} s: {} and {}",
        started.elapsed().as_secs_f64(),
        args.json.display(),
        args.markdown.display()
    );
    Ok(())
}

fn write_results(
    args: &RunArgs,
    sizes: &Sizes,
    ceiling: &[CeilingSender],
    servers: &[ServerResults],
    started: Instant,
) -> Result<()> {
    let results = Results {
        sizes: sizes.clone(),
        reps: args.reps,
        ceiling: ceiling.to_vec(),
        servers: servers.iter().map(clone_results).collect(),
        seconds: started.elapsed().as_secs_f64(),
    };
    std::fs::write(&args.json, serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(&args.markdown, report::markdown(&results))?;
    Ok(())
}

fn clone_results(r: &ServerResults) -> ServerResults {
    ServerResults {
        server: r.server.clone(),
        retr: r.retr.clone(),
        stor: r.stor.clone(),
        small_down: r.small_down.clone(),
        small_up: r.small_up.clone(),
        burst: r.burst.clone(),
        idle: r.idle.clone(),
        noop: r.noop.clone(),
        list: r.list.clone(),
        mlsd: r.mlsd.clone(),
        ftps_retr: r.ftps_retr.clone(),
        ftps_stor: r.ftps_stor.clone(),
        errors: r.errors.clone(),
    }
}

/// Record `what`'s outcome: the values, or the error in `errors`.
fn record<T>(errors: &mut Vec<String>, what: &str, r: Result<Vec<T>>) -> Vec<T> {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("   {what}: {e:#}");
            errors.push(format!("{what}: {e:#}"));
            Vec::new()
        }
    }
}

fn plain_suite(
    kind: Kind,
    opts: &StartOptions,
    args: &RunArgs,
    sizes: &Sizes,
    big: &Path,
    budget: u64,
    r: &mut ServerResults,
) -> Result<()> {
    settle(big)?;
    let mut server = Server::start(kind, opts)?;
    scenarios::prepare_root(server.root(), big, sizes, peers::system_ids())?;
    let reps = args.reps;
    let small_reps = reps.min(3);
    let e = &mut r.errors;
    if args.wants("noop") {
        eprintln!("   NOOP");
        r.noop = record(e, "noop", scenarios::noop(&server, small_reps, sizes));
    }
    if args.wants("small") {
        eprintln!("   small files");
        r.small_down = record(
            e,
            "small down",
            scenarios::small_down(&server, small_reps, sizes),
        );
        r.small_up = record(
            e,
            "small up",
            scenarios::small_up(&server, small_reps, sizes),
        );
    }
    if args.wants("list") {
        eprintln!("   listings");
        r.list = record(e, "LIST", scenarios::listing(&server, "LIST", reps));
        if kind.has_mlsd() {
            r.mlsd = record(e, "MLSD", scenarios::listing(&server, "MLSD", reps));
        }
    }
    if args.wants("burst") {
        eprintln!("   burst");
        r.burst = record(e, "burst", scenarios::burst(&server, reps, sizes));
    }
    if args.wants("big") {
        eprintln!("   big transfers");
        r.retr = record(e, "RETR", scenarios::retr_big(&server, false, reps, sizes));
        r.stor = record(
            e,
            "STOR",
            scenarios::stor_big(&server, false, reps, big, sizes),
        );
    }
    if !args.wants("idle") {
        return Ok(());
    }
    let mut previous: Option<f64> = None;
    for &count in &sizes.idle_counts {
        if let Some(per) = previous {
            let need = per * count as f64;
            if need > budget as f64 {
                let note = format!(
                    "not attempted: {count} sessions would need about {:.1} GiB at {:.0} KiB \
                     per session (budget {:.1} GiB)",
                    need / (1u64 << 30) as f64,
                    per / 1024.0,
                    budget as f64 / (1u64 << 30) as f64
                );
                eprintln!("   idle {count}: {note}");
                r.idle.push(scenarios::Idle {
                    sessions: count,
                    opened: 0,
                    held: false,
                    pss_per_session: f64::NAN,
                    kernel_per_session: f64::NAN,
                    processes: 0,
                    open_seconds: 0.0,
                    note: Some(note),
                });
                continue;
            }
        }
        eprintln!("   idle {count}");
        if !server.is_running() {
            bail!("{kind} is no longer running");
        }
        let cap = idle_cap(kind, &server, count);
        match scenarios::idle(&server, count, cap) {
            Ok(idle) => {
                previous = Some((idle.pss_per_session + idle.kernel_per_session).max(1024.0));
                r.idle.push(idle);
            }
            Err(e) => r.errors.push(format!("idle {count}: {e:#}")),
        }
    }
    Ok(())
}

/// How many sessions the open-file limits allow: the client's (one descriptor per
/// session) and, for the servers that hold every session in one process (Ferry,
/// pyftpdlib), the server's; with a margin of 200 for listeners, logs and files.
fn idle_cap(kind: Kind, server: &Server, count: usize) -> Option<(usize, String)> {
    let own = procfs::fd_limit(std::process::id());
    let single_process = matches!(kind, Kind::Ferry | Kind::Peer(peers::PeerKind::Pyftpdlib));
    let theirs = if single_process {
        procfs::fd_limit(server.pid())
    } else {
        None
    };
    let (limit, whose) = match (own, theirs) {
        (Some(a), Some(b)) if b < a => (b, "the server process"),
        (Some(a), _) => (a, "the benchmark's client process"),
        (None, Some(b)) => (b, "the server process"),
        (None, None) => return None,
    };
    let cap = usize::try_from(limit.saturating_sub(200)).unwrap_or(usize::MAX);
    (cap < count).then(|| {
        (
            cap,
            format!(
                "{cap} sessions opened instead of {count}: {whose} may open {limit} files \
                 (RLIMIT_NOFILE; raising the hard limit needs CAP_SYS_RESOURCE, which this \
                 machine does not give)"
            ),
        )
    })
}

fn tls_suite(
    kind: Kind,
    opts: &StartOptions,
    args: &RunArgs,
    sizes: &Sizes,
    big: &Path,
    r: &mut ServerResults,
) -> Result<()> {
    settle(big)?;
    let server = Server::start(kind, opts)?;
    scenarios::prepare_root(
        server.root(),
        big,
        &Sizes {
            small_files: 0,
            list_entries: 0,
            ..sizes.clone()
        },
        peers::system_ids(),
    )?;
    let reps = args.reps.min(3);
    eprintln!("   FTPS big transfers");
    let e = &mut r.errors;
    r.ftps_retr = record(
        e,
        "FTPS RETR",
        scenarios::retr_big(&server, true, reps, sizes),
    );
    r.ftps_stor = record(
        e,
        "FTPS STOR",
        scenarios::stor_big(&server, true, reps, big, sizes),
    );
    Ok(())
}

/// Write `bytes` of pseudo-random data (xorshift: incompressible enough, fast).
fn write_random(path: &Path, bytes: u64) -> Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(block.get(..n).unwrap_or_default())?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

/// Start each server from the same memory state: write back what earlier servers'
/// uploads left dirty, drop the page cache (when the machine allows it), and read the big
/// file into the cache again.
fn settle(big: &Path) -> Result<()> {
    rustix::fs::sync();
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "1\n");
    warm(big)
}

/// Read a file once so it is in the page cache.
fn warm(path: &Path) -> Result<()> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// Raise the open-file limit to the hard limit (and the hard limit as far as root may), so
/// tens of thousands of sessions fit; the servers started later inherit it.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let want = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20)
        .min(1 << 20);
    if setrlimit(Resource::RLIMIT_NOFILE, want, want).is_err() {
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// The trivial senders of the loopback ceiling: (name, bytes per sendfile call, 0 for one
/// call on a blocking socket). The way a sender calls sendfile changes its speed on
/// loopback by a third or more here, so the ceiling is the fastest of them.
const CEILING_SENDERS: [(&str, usize); 3] = [
    ("blocking, one call", 0),
    ("poll, 64 KiB calls", 64 << 10),
    ("poll, 256 KiB calls", 256 << 10),
];

/// One trivial sender of the loopback ceiling and its runs.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingSender {
    /// How it sends.
    pub sender: String,
    /// Bytes per sendfile call (0: one call on a blocking socket).
    pub chunk: usize,
    /// Its runs, before and after the servers.
    pub runs: Vec<scenarios::Transfer>,
}

/// The loopback ceiling: a trivial sender (this program, `ceiling`, on the server CPU)
/// sendfile()s the big file to the same client loop the RETR measurements use, `chunk`
/// bytes per call (see [`CEILING_SENDERS`]).
fn measure_ceiling(
    big: &Path,
    reps: usize,
    chunk: usize,
    server_cpu: Option<usize>,
    client_cpu: Option<usize>,
    sizes: &Sizes,
) -> Result<Vec<scenarios::Transfer>> {
    servers::pin_self(server_cpu)?;
    let child = Command::new(std::env::current_exe()?)
        .arg("ceiling")
        .arg(big)
        .arg(reps.to_string())
        .arg(format!("--chunk={chunk}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    servers::pin_self(client_cpu)?;
    let mut child = KillOnDrop(child?);
    let stdout = child.0.stdout.take().context("ceiling stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let port: u16 = line.trim().parse().context("ceiling port")?;
    let mut buf = vec![0u8; ftp::DATA_BUF];
    let mut out = Vec::new();
    for _ in 0..reps {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(ftp::IO_TIMEOUT))?;
        let cpu0 = procfs::tree_cpu_ns(child.0.id());
        let t0 = Instant::now();
        let n = ftp::read_all(&mut s, &mut buf)?;
        let seconds = t0.elapsed().as_secs_f64();
        let cpu1 = procfs::tree_cpu_ns(child.0.id());
        if n != sizes.big_bytes {
            bail!("ceiling moved {n} bytes");
        }
        out.push(scenarios::Transfer {
            bytes: n,
            seconds,
            server_cpu: cpu1.saturating_sub(cpu0) as f64 / 1e9,
        });
    }
    Ok(out)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ceiling_sender(file: &Path, connections: usize, chunk: usize) -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    for _ in 0..connections {
        let (s, _) = listener.accept()?;
        let f = File::open(file)?;
        if chunk == 0 {
            ftp::send_file(&s, &f)?;
        } else {
            ftp::send_file_polled(&s, &f, chunk)?;
        }
        drop(s);
    }
    Ok(())
}
