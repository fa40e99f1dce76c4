//! The Markdown report: one table of medians (servers side by side, with the best peer and
//! Ferry's ratio to it), then issue 8's targets with what was measured.

use std::fmt::Write as _;

use crate::{Results, ServerResults};

/// Median of the values (NaN when there are none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v.get(mid).copied().unwrap_or(f64::NAN)
    } else {
        (v.get(mid - 1).copied().unwrap_or(f64::NAN) + v.get(mid).copied().unwrap_or(f64::NAN))
            / 2.0
    }
}

/// Whether bigger or smaller is better for a row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

struct Row {
    name: String,
    unit: &'static str,
    better: Better,
    value: Box<dyn Fn(&ServerResults) -> f64>,
    digits: usize,
}

fn row(
    name: &str,
    unit: &'static str,
    better: Better,
    digits: usize,
    value: impl Fn(&ServerResults) -> f64 + 'static,
) -> Row {
    Row {
        name: name.to_owned(),
        unit,
        better,
        value: Box::new(value),
        digits,
    }
}

fn idle_at(r: &ServerResults, n: usize) -> Option<&crate::scenarios::Idle> {
    r.idle.iter().find(|i| i.sessions == n)
}

fn idle_pss(r: &ServerResults, n: usize) -> f64 {
    idle_at(r, n)
        .filter(|i| i.opened > 0)
        .map_or(f64::NAN, |i| i.pss_per_session / 1024.0)
}

fn idle_kernel(r: &ServerResults, n: usize) -> f64 {
    idle_at(r, n)
        .filter(|i| i.opened > 0)
        .map_or(f64::NAN, |i| i.kernel_per_session / 1024.0)
}

fn idle_held(r: &ServerResults, n: usize) -> f64 {
    idle_at(r, n).map_or(f64::NAN, |i| if i.held { i.opened as f64 } else { 0.0 })
}

fn rows(idle_counts: &[usize], big_mib: u64) -> Vec<Row> {
    let big = format!("{big_mib} MiB");
    let mut rows = vec![
        row(&format!("RETR {big}"), "MB/s", Better::Higher, 0, |r| {
            median(r.retr.iter().map(|t| t.mbps()).collect())
        }),
        row("RETR server CPU", "s/GiB", Better::Lower, 3, |r| {
            median(r.retr.iter().map(|t| t.cpu_per_gib()).collect())
        }),
        row(&format!("STOR {big}"), "MB/s", Better::Higher, 0, |r| {
            median(r.stor.iter().map(|t| t.mbps()).collect())
        }),
        row("STOR server CPU", "s/GiB", Better::Lower, 3, |r| {
            median(r.stor.iter().map(|t| t.cpu_per_gib()).collect())
        }),
        row("small files down", "files/s", Better::Higher, 0, |r| {
            median(r.small_down.iter().map(|t| t.per_second()).collect())
        }),
        row(
            "small files down, server CPU",
            "µs/file",
            Better::Lower,
            1,
            |r| median(r.small_down.iter().map(|t| t.cpu_us_per_file()).collect()),
        ),
        row("small files up", "files/s", Better::Higher, 0, |r| {
            median(r.small_up.iter().map(|t| t.per_second()).collect())
        }),
        row(
            "small files up, server CPU",
            "µs/file",
            Better::Lower,
            1,
            |r| median(r.small_up.iter().map(|t| t.cpu_us_per_file()).collect()),
        ),
        row("burst", "sessions/s", Better::Higher, 0, |r| {
            median(r.burst.iter().map(|b| b.per_second()).collect())
        }),
        row("burst server CPU", "µs/session", Better::Lower, 0, |r| {
            median(r.burst.iter().map(|b| b.cpu_us_per_session()).collect())
        }),
        row(
            "burst failures (all reps)",
            "clients",
            Better::Lower,
            0,
            |r| {
                if r.burst.is_empty() {
                    f64::NAN
                } else {
                    r.burst.iter().map(|b| (b.clients - b.ok) as f64).sum()
                }
            },
        ),
    ];
    for &n in idle_counts {
        rows.push(row(
            &format!("idle {n}: server PSS"),
            "KiB/session",
            Better::Lower,
            1,
            move |r| idle_pss(r, n),
        ));
        rows.push(row(
            &format!("idle {n}: kernel (both ends)"),
            "KiB/session",
            Better::Lower,
            1,
            move |r| idle_kernel(r, n),
        ));
        rows.push(row(
            &format!("idle {n}: sessions held"),
            "sessions",
            Better::Higher,
            0,
            move |r| idle_held(r, n),
        ));
    }
    rows.extend([
        row("NOOP round trip p50", "µs", Better::Lower, 1, |r| {
            median(r.noop.iter().map(|n| n.p50_us).collect())
        }),
        row("NOOP round trip p99", "µs", Better::Lower, 1, |r| {
            median(r.noop.iter().map(|n| n.p99_us).collect())
        }),
        row("LIST of the big directory", "s", Better::Lower, 3, |r| {
            median(r.list.iter().map(|l| l.seconds).collect())
        }),
        row("MLSD of the big directory", "s", Better::Lower, 3, |r| {
            median(r.mlsd.iter().map(|l| l.seconds).collect())
        }),
        // The session's first LIST: read from the directory by every server (Ferry's
        // listing cache serves the repetitions after it), with the kernel's caches cold
        // (dropped before each server starts).
        row("LIST, first of the session", "s", Better::Lower, 3, |r| {
            r.list.first().map_or(f64::NAN, |l| l.seconds)
        }),
        row(
            &format!("FTPS RETR {big}"),
            "MB/s",
            Better::Higher,
            0,
            |r| median(r.ftps_retr.iter().map(|t| t.mbps()).collect()),
        ),
        row("FTPS RETR server CPU", "s/GiB", Better::Lower, 3, |r| {
            median(r.ftps_retr.iter().map(|t| t.cpu_per_gib()).collect())
        }),
        row(
            &format!("FTPS STOR {big}"),
            "MB/s",
            Better::Higher,
            0,
            |r| median(r.ftps_stor.iter().map(|t| t.mbps()).collect()),
        ),
        row("FTPS STOR server CPU", "s/GiB", Better::Lower, 3, |r| {
            median(r.ftps_stor.iter().map(|t| t.cpu_per_gib()).collect())
        }),
    ]);
    rows
}

fn cell(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "—".to_owned()
    }
}

/// The best peer's value of a row (highest or lowest, ignoring missing values) and its name.
fn best_peer(row: &Row, servers: &[ServerResults]) -> Option<(f64, String)> {
    servers
        .iter()
        .filter(|s| s.server != "ferry")
        .map(|s| ((row.value)(s), s.server.clone()))
        .filter(|(v, _)| v.is_finite())
        .reduce(|a, b| {
            let b_wins = match row.better {
                Better::Higher => b.0 > a.0,
                Better::Lower => b.0 < a.0,
            };
            if b_wins {
                b
            } else {
                a
            }
        })
}

fn ferry(servers: &[ServerResults]) -> Option<&ServerResults> {
    servers.iter().find(|s| s.server == "ferry")
}

/// The whole Markdown text.
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let s = &results.sizes;
    let senders: Vec<(String, f64, usize)> = results
        .ceiling
        .iter()
        .map(|c| {
            let m = median(c.runs.iter().map(|t| t.mbps()).collect());
            (c.sender.clone(), m, c.runs.len())
        })
        .collect();
    let ceiling = senders
        .iter()
        .map(|s| s.1)
        .filter(|m| m.is_finite())
        .fold(f64::NAN, f64::max);
    let each = senders
        .iter()
        .map(|(name, m, n)| format!("{name}: {} MB/s over {n} runs", cell(*m, 0)))
        .collect::<Vec<_>>()
        .join("; ");
    let _ = writeln!(
        out,
        "Sizes: big file {} MiB; {} small files of {} bytes; burst of {} clients; listing \
         directory of {} entries; {} NOOPs per repetition; idle counts {:?}. Medians of {} \
         repetitions (small files and FTPS: {}). Loopback ceiling (sendfile of the big file \
         from a trivial sender on the server CPU to the same client loop; the fastest \
         sender's median, runs before and after the servers): **{} MB/s** ({}). Run time \
         {:.0} s.\n",
        s.big_bytes >> 20,
        s.small_files,
        s.small_bytes,
        s.burst_clients,
        s.list_entries,
        s.noops,
        s.idle_counts,
        results.reps,
        results.reps.min(3),
        cell(ceiling, 0),
        each,
        results.seconds
    );
    let rows = rows(&s.idle_counts, s.big_bytes >> 20);
    let _ = write!(out, "| measurement | unit | better |");
    for srv in &results.servers {
        let _ = write!(out, " {} |", srv.server);
    }
    let _ = writeln!(out, " best peer | ferry ÷ best peer |");
    let _ = write!(out, "|---|---|---|");
    for _ in &results.servers {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---|---:|");
    for r in &rows {
        let better = match r.better {
            Better::Higher => "higher",
            Better::Lower => "lower",
        };
        let _ = write!(out, "| {} | {} | {better} |", r.name, r.unit);
        for srv in &results.servers {
            let _ = write!(out, " {} |", cell((r.value)(srv), r.digits));
        }
        let best = best_peer(r, &results.servers);
        let ratio = match (ferry(&results.servers), &best) {
            (Some(f), Some((b, _))) if *b != 0.0 => (r.value)(f) / b,
            _ => f64::NAN,
        };
        let best_text = best.map_or("—".to_owned(), |(v, n)| {
            format!("{} ({n})", cell(v, r.digits))
        });
        let _ = writeln!(out, " {best_text} | {} |", cell(ratio, 2));
    }
    out.push('\n');
    out.push_str(&targets(results, ceiling));
    let notes: Vec<String> = results
        .servers
        .iter()
        .flat_map(|srv| {
            let idle = srv
                .idle
                .iter()
                .filter_map(|i| i.note.as_ref().map(|n| format!("idle {}: {n}", i.sessions)));
            let bursts = srv
                .burst
                .iter()
                .enumerate()
                .filter(|(_, b)| !b.failures.is_empty())
                .map(|(k, b)| format!("burst {}: {}", k + 1, b.failures.join("; ")));
            let listings = srv
                .list
                .iter()
                .chain(srv.mlsd.iter())
                .filter(|l| l.lines < s.list_entries as u64)
                .take(1)
                .map(|l| {
                    format!(
                        "a listing had {} lines for {} entries",
                        l.lines, s.list_entries
                    )
                });
            idle.chain(bursts)
                .chain(listings)
                .chain(srv.errors.iter().cloned())
                .map(|n| {
                    let mut n = n.split_whitespace().collect::<Vec<_>>().join(" ");
                    if n.len() > 600 {
                        let mut cut = 600;
                        while !n.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        n.truncate(cut);
                        n.push_str(" …");
                    }
                    format!("- **{}**: {n}", srv.server)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("\nNotes from the run:\n\n");
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

fn targets(results: &Results, ceiling: f64) -> String {
    let mut out = String::new();
    let servers = &results.servers;
    let Some(f) = ferry(servers) else {
        return "Ferry was not measured: no targets.\n".to_owned();
    };
    let all = rows(&results.sizes.idle_counts, results.sizes.big_bytes >> 20);
    let find = |name: &str| all.iter().find(|r| r.name == name);
    let ratio_to_best = |name: &str| -> (f64, String) {
        match find(name).and_then(|r| best_peer(r, servers).map(|b| ((r.value)(f), b))) {
            Some((v, (b, who))) if b != 0.0 => (v / b, who),
            _ => (f64::NAN, "—".to_owned()),
        }
    };
    let _ = writeln!(out, "| target | required | measured | met |");
    let _ = writeln!(out, "|---|---|---|---|");
    let mut line = |target: &str, required: &str, measured: String, met: Option<bool>| {
        let met = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let _ = writeln!(out, "| {target} | {required} | {measured} | {met} |");
    };
    let retr = median(f.retr.iter().map(|t| t.mbps()).collect());
    let q = retr / ceiling;
    line(
        "RETR vs loopback ceiling",
        "≥ 0.95",
        format!(
            "{} ({} of {} MB/s)",
            cell(q, 2),
            cell(retr, 0),
            cell(ceiling, 0)
        ),
        q.is_finite().then_some(q >= 0.95),
    );
    let (q, who) = ratio_to_best(&format!("STOR {} MiB", results.sizes.big_bytes >> 20));
    line(
        "STOR vs best peer",
        "≥ 1.3×",
        format!("{}× ({who})", cell(q, 2)),
        q.is_finite().then_some(q >= 1.3),
    );
    for (name, label) in [
        (
            "small files down, server CPU",
            "server CPU per small file down",
        ),
        ("small files up, server CPU", "server CPU per small file up"),
    ] {
        let (q, who) = ratio_to_best(name);
        line(
            &format!("{label} vs best peer"),
            "≤ 0.5×",
            format!("{}× ({who})", cell(q, 2)),
            q.is_finite().then_some(q <= 0.5),
        );
    }
    let (q, who) = ratio_to_best("burst");
    let failures: usize = f.burst.iter().map(|b| b.clients - b.ok).sum();
    line(
        "burst sessions/s vs best peer, failures",
        "≥ 5×, 0 failures",
        format!("{}× ({who}), {failures} failures", cell(q, 2)),
        q.is_finite()
            .then_some(q >= 5.0 && failures == 0 && !f.burst.is_empty()),
    );
    for i in &f.idle {
        let kib = i.pss_per_session / 1024.0;
        line(
            &format!("idle memory, {} sessions", i.sessions),
            "≤ 8 KiB/session, all held",
            format!(
                "{} KiB/session PSS (+{} KiB kernel), {} of {} held",
                cell(kib, 1),
                cell(i.kernel_per_session / 1024.0, 1),
                if i.held { i.opened } else { 0 },
                i.sessions
            ),
            Some(kib <= 8.0 && i.held && i.opened == i.sessions),
        );
    }
    for name in ["LIST of the big directory", "MLSD of the big directory"] {
        let (q, who) = ratio_to_best(name);
        // Times: the speed-up is best ÷ ferry.
        let speedup = 1.0 / q;
        line(
            &format!("{} vs best peer", name.replace(" of the big directory", "")),
            "≥ 2× faster",
            format!("{}× ({who})", cell(speedup, 2)),
            speedup.is_finite().then_some(speedup >= 2.0),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_missing_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![f64::NAN, 5.0]), 5.0);
        assert!(median(Vec::new()).is_nan());
    }

    fn server(name: &str, retr_seconds: f64) -> ServerResults {
        ServerResults {
            server: name.to_owned(),
            retr: vec![crate::scenarios::Transfer {
                bytes: 1 << 30,
                seconds: retr_seconds,
                server_cpu: 0.5,
            }],
            ..ServerResults::default()
        }
    }

    #[test]
    fn best_peer_ignores_ferry_and_follows_the_direction() {
        let servers = vec![server("ferry", 0.25), server("a", 0.5), server("b", 1.0)];
        let rows = rows(&[], 1024);
        let retr = rows
            .iter()
            .find(|r| r.name == "RETR 1024 MiB")
            .expect("row");
        let (v, who) = best_peer(retr, &servers).expect("best");
        assert_eq!(who, "a");
        assert!((v - 2147.48).abs() < 0.01, "{v}");
    }

    #[test]
    fn report_shows_every_server_and_the_targets() {
        let results = Results {
            sizes: crate::scenarios::Sizes {
                big_bytes: 1 << 30,
                small_files: 2000,
                small_bytes: 4096,
                list_entries: 50_000,
                burst_clients: 200,
                noops: 10_000,
                idle_counts: vec![1000],
            },
            reps: 5,
            ceiling: vec![
                crate::CeilingSender {
                    sender: "slow".into(),
                    chunk: 0,
                    runs: vec![crate::scenarios::Transfer {
                        bytes: 1 << 30,
                        seconds: 0.5,
                        server_cpu: 0.1,
                    }],
                },
                crate::CeilingSender {
                    sender: "fast".into(),
                    chunk: 1,
                    runs: vec![crate::scenarios::Transfer {
                        bytes: 1 << 30,
                        seconds: 0.25,
                        server_cpu: 0.1,
                    }],
                },
            ],
            servers: vec![server("ferry", 0.25), server("vsftpd", 0.5)],
            seconds: 1.0,
        };
        let text = markdown(&results);
        assert!(text.contains("| ferry | vsftpd |"), "{text}");
        assert!(
            text.contains("| RETR vs loopback ceiling | ≥ 0.95 | 1.00"),
            "{text}"
        );
        assert!(text.contains("2.00 |"), "{text}");
    }
}
