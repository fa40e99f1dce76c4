//! The measurements, one function per line of issue 8's list. Each works on a running
//! [`Server`] whose root [`prepare_root`] filled, and returns raw repetitions; medians are
//! taken by the report.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::ftp::{self, Control, DATA_BUF, IO_TIMEOUT};
use crate::procfs;
use crate::servers::Server;

/// Names of the files and directories every root holds.
pub const BIG: &str = "big.bin";
/// 2,000 files of 4 KiB.
pub const SMALL_DIR: &str = "small";
/// 50,000 empty files.
pub const LIST_DIR: &str = "list50k";
/// Where uploads go (writable by the account).
pub const UP_DIR: &str = "up";

/// The sizes of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// Size of the big file, bytes.
    pub big_bytes: u64,
    /// Number of small files.
    pub small_files: usize,
    /// Size of each small file.
    pub small_bytes: usize,
    /// Entries of the listing directory.
    pub list_entries: usize,
    /// Clients of the burst.
    pub burst_clients: usize,
    /// NOOPs timed per repetition.
    pub noops: usize,
    /// Idle session counts, in order.
    pub idle_counts: Vec<usize>,
}

/// Fill a server's root: a hard link to the big file (same inode for every server: one
/// copy in the page cache), the small files, the listing directory and the upload
/// directory, owned as the peers expect (readable by all, `up` writable by the account).
pub fn prepare_root(root: &Path, big: &Path, sizes: &Sizes, owner: (u32, u32)) -> Result<()> {
    std::fs::hard_link(big, root.join(BIG)).context("hard link the big file")?;
    let small = root.join(SMALL_DIR);
    std::fs::create_dir(&small)?;
    let mut content = vec![0u8; sizes.small_bytes];
    for (i, b) in content.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    for i in 0..sizes.small_files {
        std::fs::write(small.join(format!("f{i:05}")), &content)?;
    }
    let list = root.join(LIST_DIR);
    std::fs::create_dir(&list)?;
    for i in 0..sizes.list_entries {
        File::create(list.join(format!("entry-{i:06}.dat")))?;
    }
    let up = root.join(UP_DIR);
    std::fs::create_dir(&up)?;
    std::os::unix::fs::chown(&up, Some(owner.0), Some(owner.1))?;
    Ok(())
}

/// Empty the upload directory (between repetitions, outside the timing).
pub fn clear_uploads(root: &Path) -> Result<()> {
    for entry in std::fs::read_dir(root.join(UP_DIR))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// A logged-in control connection (TYPE I), with FTPS when `tls`.
pub fn session(server: &Server, tls: bool) -> Result<Control> {
    let mut c = Control::connect(server.addr(), None, IO_TIMEOUT)?;
    if tls {
        c.auth_tls(ftp::tls_config())?;
    }
    c.login(server.user(), server.password())?;
    Ok(c)
}

/// One big transfer.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    /// Bytes moved.
    pub bytes: u64,
    /// Wall seconds from the command to the final reply.
    pub seconds: f64,
    /// Server CPU seconds (all its processes and threads) over the same time.
    pub server_cpu: f64,
}

impl Transfer {
    /// MB/s (10^6 bytes).
    pub fn mbps(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }
    /// Server CPU seconds per GiB.
    pub fn cpu_per_gib(&self) -> f64 {
        self.server_cpu / (self.bytes as f64 / (1u64 << 30) as f64)
    }
}

/// RETR of the big file, `reps` times, each in a fresh session.
pub fn retr_big(server: &Server, tls: bool, reps: usize, sizes: &Sizes) -> Result<Vec<Transfer>> {
    let mut buf = vec![0u8; DATA_BUF];
    let mut out = Vec::new();
    for _ in 0..reps {
        let mut c = session(server, tls)?;
        let cpu0 = procfs::tree_cpu_with_ended_ns(server.pid());
        let t0 = Instant::now();
        let n = c.retr(&format!("/{BIG}"), &mut buf)?;
        let seconds = t0.elapsed().as_secs_f64();
        let cpu1 = procfs::tree_cpu_with_ended_ns(server.pid());
        c.quit()?;
        if n != sizes.big_bytes {
            bail!("RETR moved {n} bytes, expected {}", sizes.big_bytes);
        }
        out.push(Transfer {
            bytes: n,
            seconds,
            server_cpu: cpu1.saturating_sub(cpu0) as f64 / 1e9,
        });
    }
    Ok(out)
}

/// STOR of the big file (sent from the page cache), `reps` times, each in a fresh session;
/// the upload is checked for size and removed after each repetition.
pub fn stor_big(
    server: &Server,
    tls: bool,
    reps: usize,
    big: &Path,
    sizes: &Sizes,
) -> Result<Vec<Transfer>> {
    let mut out = Vec::new();
    for _ in 0..reps {
        clear_uploads(server.root())?;
        // The previous repetition's data written back first, outside the timing.
        rustix::fs::sync();
        let mut c = session(server, tls)?;
        let mut file = File::open(big)?;
        let cpu0 = procfs::tree_cpu_with_ended_ns(server.pid());
        let t0 = Instant::now();
        let n = c.stor(&format!("/{UP_DIR}/big.up"), &mut file)?;
        let seconds = t0.elapsed().as_secs_f64();
        let cpu1 = procfs::tree_cpu_with_ended_ns(server.pid());
        c.quit()?;
        let stored = std::fs::metadata(server.root().join(UP_DIR).join("big.up"))?.len();
        if n != sizes.big_bytes || stored != sizes.big_bytes {
            bail!(
                "STOR sent {n} bytes and stored {stored}, expected {}",
                sizes.big_bytes
            );
        }
        out.push(Transfer {
            bytes: n,
            seconds,
            server_cpu: cpu1.saturating_sub(cpu0) as f64 / 1e9,
        });
    }
    clear_uploads(server.root())?;
    Ok(out)
}

/// Many small files in one session.
#[derive(Debug, Clone, Serialize)]
pub struct SmallFiles {
    /// Files moved.
    pub files: usize,
    /// Wall seconds.
    pub seconds: f64,
    /// Server CPU seconds.
    pub server_cpu: f64,
}

impl SmallFiles {
    /// Files per second.
    pub fn per_second(&self) -> f64 {
        self.files as f64 / self.seconds
    }
    /// Server CPU microseconds per file.
    pub fn cpu_us_per_file(&self) -> f64 {
        self.server_cpu * 1e6 / self.files as f64
    }
}

/// Download every small file in one session (EPSV + RETR each), `reps` times.
pub fn small_down(server: &Server, reps: usize, sizes: &Sizes) -> Result<Vec<SmallFiles>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    for _ in 0..reps {
        let mut c = session(server, false)?;
        let cpu0 = procfs::tree_cpu_with_ended_ns(server.pid());
        let t0 = Instant::now();
        for i in 0..sizes.small_files {
            let n = c.retr(&format!("/{SMALL_DIR}/f{i:05}"), &mut buf)?;
            if n != sizes.small_bytes as u64 {
                bail!("small file {i}: {n} bytes");
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        let cpu1 = procfs::tree_cpu_with_ended_ns(server.pid());
        c.quit()?;
        out.push(SmallFiles {
            files: sizes.small_files,
            seconds,
            server_cpu: cpu1.saturating_sub(cpu0) as f64 / 1e9,
        });
    }
    Ok(out)
}

/// Upload as many small files in one session (EPSV + STOR each), `reps` times.
pub fn small_up(server: &Server, reps: usize, sizes: &Sizes) -> Result<Vec<SmallFiles>> {
    let content = vec![b'u'; sizes.small_bytes];
    let up = server.root().join(UP_DIR);
    let owner = std::fs::metadata(&up)?;
    let mut out = Vec::new();
    for rep in 0..reps {
        // Each repetition uploads into a new directory, and nothing is deleted until the
        // end: ext4 makes every create scan past the inodes deleted in the last minute
        // (`recently_deleted`), so deleting between repetitions made each one dearer than
        // the one before, for every server.
        let dir = format!("r{rep}");
        std::fs::create_dir(up.join(&dir))?;
        std::os::unix::fs::chown(
            up.join(&dir),
            Some(std::os::unix::fs::MetadataExt::uid(&owner)),
            Some(std::os::unix::fs::MetadataExt::gid(&owner)),
        )?;
        let mut c = session(server, false)?;
        let cpu0 = procfs::tree_cpu_with_ended_ns(server.pid());
        let t0 = Instant::now();
        for i in 0..sizes.small_files {
            c.stor_bytes(&format!("/{UP_DIR}/{dir}/s{i:05}"), &content)?;
        }
        let seconds = t0.elapsed().as_secs_f64();
        let cpu1 = procfs::tree_cpu_with_ended_ns(server.pid());
        c.quit()?;
        let stored = std::fs::read_dir(up.join(&dir))?.count();
        if stored != sizes.small_files {
            bail!("{stored} small files stored of {}", sizes.small_files);
        }
        out.push(SmallFiles {
            files: sizes.small_files,
            seconds,
            server_cpu: cpu1.saturating_sub(cpu0) as f64 / 1e9,
        });
    }
    for rep in 0..reps {
        std::fs::remove_dir_all(up.join(format!("r{rep}")))?;
    }
    Ok(out)
}

/// One burst of clients.
#[derive(Debug, Clone, Serialize)]
pub struct Burst {
    /// Clients started at once.
    pub clients: usize,
    /// Clients that completed connect, login, PWD, LIST and QUIT.
    pub ok: usize,
    /// Wall seconds from the first client's start to the last one's end (or giving up).
    pub seconds: f64,
    /// The first few failures.
    pub failures: Vec<String>,
    /// Server CPU seconds over the burst and the sessions' teardown (ended forked
    /// sessions included, see [`procfs::tree_cpu_with_ended_ns`]).
    pub server_cpu: f64,
}

impl Burst {
    /// Completed sessions per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
    /// Server CPU microseconds per completed session.
    pub fn cpu_us_per_session(&self) -> f64 {
        self.server_cpu * 1e6 / self.ok as f64
    }
}

/// How long the sessions of a burst get to end (and forked ones to be reaped) before
/// the server's CPU is read.
const BURST_SETTLE: Duration = Duration::from_millis(300);

/// How long one burst client may take for each step.
const BURST_TIMEOUT: Duration = Duration::from_secs(10);

fn burst_client(server_addr: std::net::SocketAddr, user: &str, pass: &str) -> Result<()> {
    let mut c = Control::connect(server_addr, None, BURST_TIMEOUT)?;
    let r = c.expect(&format!("USER {user}"), &[230, 331])?;
    if r.code.get() == 331 {
        c.expect(&format!("PASS {pass}"), &[230])?;
    }
    c.expect("PWD", &[257])?;
    let mut buf = vec![0u8; 16 * 1024];
    c.listing("LIST", &mut buf)?;
    c.quit()
}

/// `clients` clients at once doing connect, login, PWD, LIST, QUIT, `reps` times.
pub fn burst(server: &Server, reps: usize, sizes: &Sizes) -> Result<Vec<Burst>> {
    let mut out = Vec::new();
    for rep in 0..reps {
        if rep > 0 {
            // Let TIME_WAIT and session teardown (proftpd's pause) settle between bursts.
            std::thread::sleep(Duration::from_secs(1));
        }
        let clients = sizes.burst_clients;
        let barrier = Arc::new(Barrier::new(clients + 1));
        let mut handles = Vec::with_capacity(clients);
        for _ in 0..clients {
            let barrier = Arc::clone(&barrier);
            let addr = server.addr();
            let user = server.user().to_owned();
            let pass = server.password().to_owned();
            handles.push(
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        barrier.wait();
                        // Each client notes its own start and end: the releasing thread
                        // may run only after the clients (they share one CPU), so a clock
                        // read there could miss most of the burst.
                        let start = Instant::now();
                        let r = burst_client(addr, &user, &pass);
                        (start, Instant::now(), r)
                    })?,
            );
        }
        let cpu0 = procfs::tree_cpu_with_ended_ns(server.pid());
        barrier.wait();
        let mut ok = 0;
        let mut failures = Vec::new();
        let mut first: Option<Instant> = None;
        let mut last: Option<Instant> = None;
        for h in handles {
            match h.join() {
                Ok((start, end, r)) => {
                    first = Some(first.map_or(start, |f| f.min(start)));
                    last = Some(last.map_or(end, |l| l.max(end)));
                    match r {
                        Ok(()) => ok += 1,
                        Err(e) => failures.push(format!("{e:#}")),
                    }
                }
                Err(_) => failures.push("client thread panicked".to_owned()),
            }
        }
        let seconds = match (first, last) {
            (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
            _ => 0.0,
        };
        std::thread::sleep(BURST_SETTLE);
        let cpu1 = procfs::tree_cpu_with_ended_ns(server.pid());
        let failed = failures.len();
        failures.sort();
        failures.dedup();
        failures.truncate(5);
        if failed > 0 {
            failures.insert(0, format!("{failed} failed"));
        }
        out.push(Burst {
            clients,
            ok,
            seconds,
            failures,
            server_cpu: cpu1.saturating_sub(cpu0) as f64 / 1e9,
        });
    }
    Ok(out)
}

/// Idle sessions held at once.
#[derive(Debug, Clone, Serialize)]
pub struct Idle {
    /// Sessions asked for.
    pub sessions: usize,
    /// Sessions logged in.
    pub opened: usize,
    /// Whether every session opened (all asked, or all the cap allowed) and every sampled
    /// one still answered NOOP at the end.
    pub held: bool,
    /// Server PSS growth per session, bytes.
    pub pss_per_session: f64,
    /// Kernel memory growth per session (both ends of the loopback connection), bytes.
    pub kernel_per_session: f64,
    /// Server processes with all sessions open.
    pub processes: usize,
    /// Seconds to open and log in all sessions.
    pub open_seconds: f64,
    /// Why the count was not attempted or not reached.
    pub note: Option<String>,
}

/// Threads opening sessions at once (each from its own loopback source address).
const IDLE_OPENERS: usize = 4;
/// Longest time to open one batch of idle sessions.
const IDLE_OPEN_LIMIT: Duration = Duration::from_secs(600);

/// Open `count` logged-in sessions (USER and PASS only; fewer when `cap` is lower, which
/// the note explains), measure the server's memory, check a sample still answers, close
/// them.
pub fn idle(server: &Server, asked: usize, cap: Option<(usize, String)>) -> Result<Idle> {
    let (count, cap_note) = match cap {
        Some((cap, why)) if cap < asked => (cap, Some(why)),
        _ => (asked, None),
    };
    // Warm: a few sessions, so lazily built state (thread pools, caches) is in the baseline.
    for _ in 0..10 {
        session(server, false)?.quit()?;
    }
    std::thread::sleep(Duration::from_millis(500));
    let pss0 = procfs::pss_bytes(&procfs::tree(server.pid()));
    let k0 = procfs::kernel_bytes();
    let t0 = Instant::now();
    let deadline = t0 + IDLE_OPEN_LIMIT;
    let mut handles = Vec::new();
    for t in 0..IDLE_OPENERS {
        let n = count / IDLE_OPENERS + usize::from(t < count % IDLE_OPENERS);
        let addr = server.addr();
        let user = server.user().to_owned();
        let pass = server.password().to_owned();
        let source = Ipv4Addr::new(127, 0, 0, 1 + t as u8);
        handles.push(std::thread::spawn(move || {
            let mut held = Vec::with_capacity(n);
            let mut error = None;
            for _ in 0..n {
                if Instant::now() > deadline {
                    error = Some("time limit reached".to_owned());
                    break;
                }
                let r = (|| -> Result<Control> {
                    let mut c = Control::connect(addr, Some(source), IO_TIMEOUT)?;
                    let r = c.expect(&format!("USER {user}"), &[230, 331])?;
                    if r.code.get() == 331 {
                        c.expect(&format!("PASS {pass}"), &[230])?;
                    }
                    Ok(c)
                })();
                match r {
                    Ok(c) => held.push(c),
                    Err(e) => {
                        error = Some(format!("{e:#}"));
                        break;
                    }
                }
            }
            (held, error)
        }));
    }
    let mut sessions = Vec::with_capacity(count);
    let mut notes: Vec<String> = cap_note.into_iter().collect();
    for h in handles {
        match h.join() {
            Ok((held, error)) => {
                sessions.extend(held);
                notes.extend(error);
            }
            Err(_) => notes.push("opener panicked".to_owned()),
        }
    }
    let open_seconds = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let pids = procfs::tree(server.pid());
    let pss1 = procfs::pss_bytes(&pids);
    let k1 = procfs::kernel_bytes();
    let opened = sessions.len();
    // A sample of at most 200 sessions, spread over all of them, must still answer.
    let step = (opened / 200).max(1);
    let mut held = opened == count;
    for c in sessions.iter_mut().step_by(step) {
        if let Err(e) = c.expect("NOOP", &[200]) {
            held = false;
            notes.push(format!("NOOP after opening: {e:#}"));
            break;
        }
    }
    drop(sessions);
    std::thread::sleep(Duration::from_secs(2));
    let per = |a: u64, b: u64| {
        if opened == 0 {
            0.0
        } else {
            (b as f64 - a as f64) / opened as f64
        }
    };
    notes.sort();
    notes.dedup();
    Ok(Idle {
        sessions: asked,
        opened,
        held,
        pss_per_session: per(pss0, pss1),
        kernel_per_session: per(k0, k1),
        processes: pids.len(),
        open_seconds,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// NOOP round trips of one session.
#[derive(Debug, Clone, Serialize)]
pub struct Noop {
    /// NOOPs timed.
    pub count: usize,
    /// Median, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
}

/// `sizes.noops` NOOPs after 200 untimed ones, `reps` sessions.
pub fn noop(server: &Server, reps: usize, sizes: &Sizes) -> Result<Vec<Noop>> {
    let mut out = Vec::new();
    for _ in 0..reps {
        let mut c = session(server, false)?;
        for _ in 0..200 {
            c.expect("NOOP", &[200])?;
        }
        let mut times = Vec::with_capacity(sizes.noops);
        for _ in 0..sizes.noops {
            let t0 = Instant::now();
            c.expect("NOOP", &[200])?;
            times.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        c.quit()?;
        times.sort_by(f64::total_cmp);
        out.push(Noop {
            count: times.len(),
            p50_us: percentile(&times, 0.50),
            p99_us: percentile(&times, 0.99),
        });
    }
    Ok(out)
}

/// The `q` quantile of sorted values (nearest rank).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

/// One listing of the big directory.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// Seconds from the command to the final reply with all data read.
    pub seconds: f64,
    /// Bytes received.
    pub bytes: u64,
    /// Lines received.
    pub lines: u64,
}

/// `verb` (LIST or MLSD) of the 50,000-entry directory, `reps` times in one session.
pub fn listing(server: &Server, verb: &str, reps: usize) -> Result<Vec<Listing>> {
    let mut buf = vec![0u8; DATA_BUF];
    let mut c = session(server, false)?;
    let mut out = Vec::new();
    for _ in 0..reps {
        let t0 = Instant::now();
        let (bytes, lines) = c.listing(&format!("{verb} /{LIST_DIR}"), &mut buf)?;
        out.push(Listing {
            seconds: t0.elapsed().as_secs_f64(),
            bytes,
            lines,
        });
    }
    c.quit()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.50), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
