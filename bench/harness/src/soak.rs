//! The endurance run: many clients against one `ferry serve` for minutes, mixing logins,
//! listings, downloads and uploads, while a sampler records the server's memory and file
//! descriptors. It passes with no protocol error, no data error, memory flat after the
//! warm-up, and the file descriptors back to their start once the clients are gone.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::ftp::{Control, IO_TIMEOUT};
use crate::procfs;
use crate::servers::{Kind, Server, StartOptions};

/// The files clients download (name, size): 0 bytes to 1 MiB.
const DOWNLOADS: [(&str, usize); 6] = [
    ("empty.bin", 0),
    ("one.bin", 1),
    ("k4.bin", 4096),
    ("k64.bin", 65_536),
    ("k300.bin", 300_001),
    ("m1.bin", 1 << 20),
];

/// What the soak found.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    /// Clients running at once.
    pub clients: usize,
    /// Seconds the clients ran.
    pub seconds: f64,
    /// Sessions (logins) completed.
    pub sessions: u64,
    /// Operations completed (LIST, MLSD, RETR, STOR, SIZE, DELE, NOOP, CWD).
    pub operations: u64,
    /// Bytes downloaded and uploaded.
    pub bytes: u64,
    /// Protocol or data errors (each with its message, the first 20 kept).
    pub errors: u64,
    /// The first errors.
    pub first_errors: Vec<String>,
    /// (seconds, RSS bytes, PSS bytes, open fds) every sample.
    pub samples: Vec<(f64, u64, u64, u64)>,
    /// Open fds before the clients started and after they all left.
    pub fds_before_after: (u64, u64),
    /// Whether the run passed, and why not.
    pub verdict: Result<(), String>,
}

/// Run `clients` clients for `duration` against a fresh `ferry serve`.
pub fn soak(opts: &StartOptions, clients: usize, duration: Duration) -> Result<SoakReport> {
    let server = Server::start(Kind::Ferry, opts)?;
    for (name, size) in DOWNLOADS {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
        std::fs::write(server.root().join(name), data)?;
    }
    let up = server.root().join("up");
    std::fs::create_dir(&up)?;
    let (uid, gid) = crate::peers::system_ids();
    std::os::unix::fs::chown(&up, Some(uid), Some(gid))?;
    std::fs::create_dir(server.root().join("dir"))?;
    for i in 0..200 {
        std::fs::write(
            server.root().join("dir").join(format!("entry-{i:03}")),
            b"x",
        )?;
    }
    let pid = server.pid();
    let fds_before = procfs::fd_count(&procfs::tree(pid));

    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let deadline = started + duration;
    let mut handles = Vec::with_capacity(clients);
    for id in 0..clients {
        let stop = Arc::clone(&stop);
        let counters = Arc::clone(&counters);
        let errors = Arc::clone(&errors);
        let addr = server.addr();
        let user = server.user().to_owned();
        let pass = server.password().to_owned();
        handles.push(
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ ((id as u64 + 1) * 0x9E37_79B9));
                    // Stagger the start over the first 10 s.
                    std::thread::sleep(Duration::from_millis(rng.below(10_000)));
                    let mut round = 0u64;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        round += 1;
                        if let Err(e) = client_session(
                            addr, &user, &pass, id, round, &mut rng, &counters, &stop,
                        ) {
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut list) = errors.lock() {
                                if list.len() < 20 {
                                    list.push(format!("client {id}: {e:#}"));
                                }
                            }
                            std::thread::sleep(Duration::from_millis(500));
                        }
                    }
                })?,
        );
    }

    let mut samples = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(10).min(deadline - Instant::now().min(deadline)));
        let pids = procfs::tree(pid);
        samples.push((
            started.elapsed().as_secs_f64(),
            procfs::rss_bytes(&pids),
            procfs::pss_bytes(&pids),
            procfs::fd_count(&pids),
        ));
        if let Some((t, rss, _, fds)) = samples.last() {
            eprintln!(
                "   {t:>5.0} s: {} ops, {} errors, RSS {:.1} MiB, {fds} fds",
                counters.operations.load(Ordering::Relaxed),
                counters.errors.load(Ordering::Relaxed),
                *rss as f64 / (1u64 << 20) as f64
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    for h in handles {
        let _ = h.join();
    }
    // Sessions end on QUIT; give the server a moment to close everything.
    let mut fds_after = u64::MAX;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        fds_after = procfs::fd_count(&procfs::tree(pid));
        if fds_after <= fds_before {
            break;
        }
    }
    let first_errors = errors.lock().map(|l| l.clone()).unwrap_or_default();
    let errors = counters.errors.load(Ordering::Relaxed);
    let verdict = judge(&samples, errors, fds_before, fds_after);
    Ok(SoakReport {
        clients,
        seconds,
        sessions: counters.sessions.load(Ordering::Relaxed),
        operations: counters.operations.load(Ordering::Relaxed),
        bytes: counters.bytes.load(Ordering::Relaxed),
        errors,
        first_errors,
        samples,
        fds_before_after: (fds_before, fds_after),
        verdict,
    })
}

/// Flat memory: the RSS at the end is at most 20 % (or 16 MiB) above the first sample taken
/// after the first quarter of the run (warm-up: every client connected, caches filled).
fn judge(
    samples: &[(f64, u64, u64, u64)],
    errors: u64,
    fds_before: u64,
    fds_after: u64,
) -> Result<(), String> {
    let mut why = Vec::new();
    if errors > 0 {
        why.push(format!("{errors} protocol or data errors"));
    }
    if fds_after > fds_before {
        why.push(format!(
            "{fds_after} fds open after the clients left, {fds_before} before"
        ));
    }
    let end = samples.last().map_or(0.0, |s| s.0);
    let warm = samples.iter().find(|s| s.0 >= end / 4.0);
    if let (Some(warm), Some(last)) = (warm, samples.last()) {
        let limit = (warm.1 as f64 * 1.2).max(warm.1 as f64 + 16.0 * (1u64 << 20) as f64);
        if last.1 as f64 > limit {
            why.push(format!(
                "RSS grew from {:.1} MiB at {:.0} s to {:.1} MiB at the end",
                warm.1 as f64 / (1u64 << 20) as f64,
                warm.0,
                last.1 as f64 / (1u64 << 20) as f64
            ));
        }
    } else {
        why.push("no memory samples".to_owned());
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

#[derive(Default)]
struct Counters {
    sessions: AtomicU64,
    operations: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

/// xorshift64*: deterministic per client, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// One session: login, 1-20 random operations with pauses of up to 1 s, QUIT.
#[allow(clippy::too_many_arguments)]
fn client_session(
    addr: std::net::SocketAddr,
    user: &str,
    pass: &str,
    id: usize,
    round: u64,
    rng: &mut Rng,
    counters: &Counters,
    stop: &AtomicBool,
) -> Result<()> {
    let mut c = Control::connect(addr, None, IO_TIMEOUT)?;
    c.login(user, pass)?;
    counters.sessions.fetch_add(1, Ordering::Relaxed);
    let mut buf = vec![0u8; 64 * 1024];
    let ops = 1 + rng.below(20);
    for op in 0..ops {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.below(1000)));
        match rng.below(8) {
            0 => {
                c.listing("LIST /dir", &mut buf)?;
            }
            1 => {
                let (_, lines) = c.listing("MLSD /dir", &mut buf)?;
                if lines < 200 {
                    bail!("MLSD /dir gave {lines} lines, expected 202");
                }
            }
            2 | 3 => {
                let (name, size) = DOWNLOADS[rng.below(DOWNLOADS.len() as u64) as usize];
                let n = c.retr(&format!("/{name}"), &mut buf)?;
                if n != size as u64 {
                    bail!("RETR {name}: {n} bytes, expected {size}");
                }
                counters.bytes.fetch_add(n, Ordering::Relaxed);
            }
            4 | 5 => {
                let size = rng.below(256 * 1024) as usize;
                let data = vec![(id % 251) as u8; size];
                let name = format!("/up/c{id}-{round}-{op}.bin");
                c.stor_bytes(&name, &data)?;
                let r = c.expect(&format!("SIZE {name}"), &[213])?;
                let got: u64 = r.text().trim().parse().unwrap_or(u64::MAX);
                if got != size as u64 {
                    bail!("SIZE {name} after STOR: {got}, expected {size}");
                }
                c.expect(&format!("DELE {name}"), &[250])?;
                counters.bytes.fetch_add(size as u64, Ordering::Relaxed);
            }
            6 => {
                c.expect("CWD /dir", &[250])?;
                c.expect("PWD", &[257])?;
                c.expect("CWD /", &[250])?;
            }
            _ => {
                c.expect("NOOP", &[200])?;
            }
        }
        counters.operations.fetch_add(1, Ordering::Relaxed);
    }
    c.quit()
}

/// The report as Markdown.
pub fn markdown(r: &SoakReport) -> String {
    let mut out = String::new();
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let _ = writeln!(
        out,
        "Soak: {} clients for {:.0} s against `ferry serve`: {} sessions, {} operations, \
         {:.0} MiB moved, {} errors; fds {} before, {} after. Verdict: **{}**.\n",
        r.clients,
        r.seconds,
        r.sessions,
        r.operations,
        mib(r.bytes),
        r.errors,
        r.fds_before_after.0,
        r.fds_before_after.1,
        match &r.verdict {
            Ok(()) => "pass".to_owned(),
            Err(why) => format!("FAIL ({why})"),
        }
    );
    let _ = writeln!(out, "| s | RSS MiB | PSS MiB | open fds |");
    let _ = writeln!(out, "|---:|---:|---:|---:|");
    for (t, rss, pss, fds) in &r.samples {
        let _ = writeln!(
            out,
            "| {t:.0} | {:.1} | {:.1} | {fds} |",
            mib(*rss),
            mib(*pss)
        );
    }
    for e in &r.first_errors {
        let _ = writeln!(out, "\n- {e}");
    }
    out
}

/// Write the report files next to each other.
pub fn write(r: &SoakReport, json: &Path, md: &Path) -> Result<()> {
    std::fs::write(json, serde_json::to_vec_pretty(r)?)?;
    std::fs::write(md, markdown(r))?;
    Ok(())
}
