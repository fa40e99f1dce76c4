//! What the kernel says about a server: its process tree, CPU time, memory and file
//! descriptors (from `/proc`), and the kernel's own memory (from `/proc/meminfo` and
//! `/proc/net/sockstat`).

use std::collections::HashMap;
use std::fs;

/// Most processes looked at in one walk of `/proc` (a bound on the loop).
const MAX_PROCS: usize = 400_000;

/// `root` and every process below it.
pub fn tree(root: u32) -> Vec<u32> {
    let mut parent: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for entry in rd.filter_map(|e| e.ok()).take(MAX_PROCS) {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = stat_field(pid, 4).and_then(|v| v.parse().ok()) {
                parent.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while let Some(&pid) = out.get(i) {
        if let Some(kids) = parent.get(&pid) {
            out.extend(kids.iter().copied());
        }
        i += 1;
        if i > MAX_PROCS {
            break;
        }
    }
    out
}

/// Field `n` (1-based, as in proc(5)) of `/proc/PID/stat`.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = text.get(text.rfind(')')? + 2..)?;
    rest.split(' ').nth(n.checked_sub(3)?).map(str::to_owned)
}

/// CPU time of every thread of every process in `pids`, in nanoseconds (first field of
/// `/proc/PID/task/TID/schedstat`: time on a CPU).
pub fn cpu_ns(pids: &[u32]) -> u64 {
    let mut total = 0u64;
    for pid in pids {
        let Ok(rd) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in rd.filter_map(|e| e.ok()).take(MAX_PROCS) {
            let path = task.path().join("schedstat");
            if let Some(ns) = fs::read_to_string(path).ok().and_then(|t| {
                t.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
            }) {
                total += ns;
            }
        }
    }
    total
}

/// CPU time of the whole tree below `root`, in nanoseconds.
pub fn tree_cpu_ns(root: u32) -> u64 {
    cpu_ns(&tree(root))
}

/// CPU time of the children that the processes in `pids` have waited for (`cutime` and
/// `cstime` of `/proc/PID/stat`), in nanoseconds: the sessions of a forking server that
/// ended. (Clock ticks: 10 ms each at the usual 100 Hz.)
pub fn reaped_children_ns(pids: &[u32]) -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|&v| v > 0)
        .unwrap_or(100);
    let ticks: u64 = pids
        .iter()
        .map(|&pid| {
            [16, 17]
                .iter()
                .filter_map(|&n| stat_field(pid, n).and_then(|v| v.parse::<u64>().ok()))
                .sum::<u64>()
        })
        .sum();
    ticks.saturating_mul(1_000_000_000 / hz)
}

/// CPU time of the tree below `root` plus what its ended children used, in nanoseconds:
/// the difference of two samples is the server's CPU over the interval even when
/// sessions (forked processes) started or ended within it. (With the live tree alone, a
/// forked session of the previous repetition that exits between two samples took its
/// whole CPU time out of the second one: proftpd's small uploads once read 0 µs a file.)
pub fn tree_cpu_with_ended_ns(root: u32) -> u64 {
    let pids = tree(root);
    cpu_ns(&pids).saturating_add(reaped_children_ns(&pids))
}

/// Proportional set size of the processes, in bytes (`/proc/PID/smaps_rollup`).
pub fn pss_bytes(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|t| kib_field(&t, "Pss:"))
        .sum::<u64>()
        * 1024
}

/// Resident set size of the processes, in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|t| kib_field(&t, "VmRSS:"))
        .sum::<u64>()
        * 1024
}

/// Open file descriptors of the processes.
pub fn fd_count(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| fs::read_dir(format!("/proc/{pid}/fd")).ok())
        .map(|rd| rd.take(10_000_000).count() as u64)
        .sum()
}

fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Kernel memory in bytes that grows with connections and processes: slab (socket and
/// inode objects), kernel stacks, page tables and TCP buffer pages.
pub fn kernel_bytes() -> u64 {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: u64 = ["Slab:", "KernelStack:", "PageTables:"]
        .iter()
        .filter_map(|f| kib_field(&meminfo, f))
        .sum();
    let sockstat = fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let tcp_pages = sockstat
        .lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .iter()
                .position(|w| *w == "mem")
                .and_then(|i| words.get(i + 1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    kib * 1024 + tcp_pages * 4096
}

/// Total and available memory of the machine, in bytes.
pub fn mem_total_available() -> (u64, u64) {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    (
        kib_field(&meminfo, "MemTotal:").unwrap_or(0) * 1024,
        kib_field(&meminfo, "MemAvailable:").unwrap_or(0) * 1024,
    )
}

/// The soft limit on open files of process `pid` (`Max open files` in `/proc/PID/limits`);
/// None when unlimited or unreadable.
pub fn fd_limit(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.get("Max open files".len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        assert!(tree(me).contains(&me));
        assert!(tree_cpu_ns(me) > 0);
        assert!(pss_bytes(&[me]) > 0);
        assert!(fd_count(&[me]) >= 3);
        assert!(fd_limit(me).is_some_and(|n| n >= 64));
        assert!(kernel_bytes() > 0);
    }
}
