//! `ferry get/put` with the representations of RFC 959 against Ferry's own server:
//! `--block` (MODE B), `--type e` (EBCDIC), `--stru r` (records), `--ascii`, and block-mode
//! restarts after the data connection is cut in the middle (with `ss -K`, which needs root
//! and a kernel with `CONFIG_INET_DIAG_DESTROY`).

mod client_util;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use client_util::{ferry, home_in, ok, pattern, url_with};
use support::{sha256_bytes, sha256_file, write_file, Server, PASS, USER};

fn url(server: &Server, path: &str) -> String {
    url_with("ftp", USER, PASS, server.addr(), path)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A text file with LF line ends, Latin-1 letters (CP037 has them all), an empty line and a
/// last line without LF.
fn text() -> Vec<u8> {
    let mut t = Vec::new();
    for i in 0..2000 {
        t.extend_from_slice(format!("line {i}: The quick brown fox {{}}[]|~^ ").as_bytes());
        t.extend_from_slice(&[0xE9, 0xFC, 0xDF]);
        t.push(b'\n');
    }
    t.extend_from_slice(b"\nno end of line");
    t
}

/// Downloads and uploads `data` with `flags`, checking both arrive identical.
fn round_trip(server: &Server, name: &str, data: &[u8], flags: &[&str]) {
    let h = home_in(server.outside());
    write_file(&server.root(), &format!("pub/{name}"), data);
    let got = server.local().join(format!("got-{name}"));
    let mut args = vec!["get", "-q"];
    args.extend_from_slice(flags);
    let remote = url(server, &format!("/pub/{name}"));
    args.extend_from_slice(&[&remote, "-o", s(&got)]);
    ok(&h, &args);
    assert_eq!(
        sha256_file(&got),
        sha256_bytes(data),
        "download {name} {flags:?}"
    );

    let mut args = vec!["put", "-q"];
    args.extend_from_slice(flags);
    let back = url(server, &format!("/pub/back-{name}"));
    args.extend_from_slice(&[s(&got), &back]);
    ok(&h, &args);
    assert_eq!(
        sha256_file(&server.root().join(format!("pub/back-{name}"))),
        sha256_bytes(data),
        "upload {name} {flags:?}"
    );
}

#[test]
fn representations_round_trip() {
    let server = Server::start();
    let binary = pattern(3 * 1024 * 1024 + 4321, 7);
    let text = text();
    round_trip(&server, "block.bin", &binary, &["--block"]);
    round_trip(&server, "ascii.txt", &text, &["--ascii"]);
    round_trip(&server, "type-a.txt", &text, &["--type", "a", "--block"]);
    round_trip(&server, "ebcdic.txt", &text, &["--type", "e"]);
    round_trip(&server, "records.txt", &text, &["--stru", "r"]);
    round_trip(
        &server,
        "ebcdic-records.txt",
        &text,
        &["--type", "e", "--stru", "r", "--block"],
    );
    // A binary file in record structure is one record.
    round_trip(&server, "records.bin", &binary, &["--stru", "r"]);
    // The flags that make no sense together are refused.
    let h = home_in(server.outside());
    let out = client_util::run_ferry(
        &h,
        &[
            "get",
            "--block",
            "--compress",
            &url(&server, "/pub/block.bin"),
        ],
    );
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(2),
        "{}",
        out.describe()
    );
}

/// The TCP connections of process `pid` as (local, peer), in any state but LISTEN (a
/// finished upload's data connection is in FIN-WAIT while the server reads its end).
fn connections_of(pid: u32) -> Vec<(SocketAddr, SocketAddr)> {
    let out = Command::new("ss")
        .args(["-tanpH"])
        .output()
        .expect("run ss");
    let tag = format!("pid={pid},");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&tag) && !l.starts_with("LISTEN"))
        .filter_map(|l| {
            let mut addrs = l
                .split_whitespace()
                .filter_map(|t| t.parse::<SocketAddr>().ok());
            Some((addrs.next()?, addrs.next()?))
        })
        .collect()
}

/// Cuts the data connection of client process `pid` (its connection to the server that is
/// not the control connection to `control`), from outside with `ss -K`. True when one was
/// destroyed.
fn cut_data_connection(pid: u32, control: SocketAddr) -> bool {
    for (local, peer) in connections_of(pid) {
        if peer == control || peer.ip() != control.ip() {
            continue;
        }
        let status = Command::new("ss")
            .args([
                "-K",
                "src",
                &local.ip().to_string(),
                "sport",
                "=",
                &format!(":{}", local.port()),
                "dst",
                &peer.ip().to_string(),
                "dport",
                "=",
                &format!(":{}", peer.port()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run ss -K");
        if status.success() && connections_of(pid).iter().all(|c| c.0 != local) {
            return true;
        }
    }
    false
}

/// Runs `ferry ARGS` in the background, cuts its data connection once the first restart
/// marker is past (1.5 s at 1 MiB/s), and returns its stderr once it ended.
fn run_and_cut(server: &Server, args: &[&str]) -> String {
    let h = home_in(server.outside());
    let log = server.local().join(format!("stderr-{}.txt", args[0]));
    let mut child = ferry(&h, args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("stderr file"))
        .spawn()
        .expect("spawn ferry");
    std::thread::sleep(Duration::from_millis(1500));
    let mut cut = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cut && Instant::now() < deadline {
        cut = cut_data_connection(child.id(), server.addr());
        if !cut {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(cut, "no data connection to cut (ss -K works?)\n{stderr}");
    assert!(
        status.is_some_and(|s| s.success()),
        "ferry {args:?}: {status:?}\n{stderr}\n{}",
        server.logs()
    );
    stderr
}

/// The marker a restart used, from the client's message.
fn restart_marker(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.split("restarting at marker ").nth(1))
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or_else(|| panic!("no restart from a marker:\n{stderr}"))
}

#[test]
fn block_mode_download_restarts_from_the_last_marker() {
    let server = Server::builder().args(&["--download-rate", "1MiB"]).start();
    let data = pattern(4 * 1024 * 1024, 11);
    write_file(&server.root(), "big.bin", &data);
    let got = server.local().join("big.bin");
    let remote = url(&server, "/big.bin");
    let stderr = run_and_cut(
        &server,
        &["get", "--block", "--retries", "3", &remote, "-o", s(&got)],
    );
    let marker = restart_marker(&stderr);
    assert!(
        marker >= 1024 * 1024 && marker % (1024 * 1024) == 0,
        "{stderr}"
    );
    assert_eq!(sha256_file(&got), sha256_bytes(&data), "{stderr}");
}

#[test]
fn block_mode_upload_restarts_from_the_last_acknowledged_marker() {
    let server = Server::builder().args(&["--upload-rate", "1MiB"]).start();
    let data = pattern(4 * 1024 * 1024, 13);
    let local = server.local().join("up.bin");
    std::fs::write(&local, &data).expect("write the local file");
    let remote = url(&server, "/up.bin");
    // The client is held to the server's pace too: unthrottled, it could hand the whole
    // file to socket buffers (the server's receive buffer may grow to tens of MiB) before
    // the cut, and then nothing would be left to restart.
    let stderr = run_and_cut(
        &server,
        &[
            "put",
            "--block",
            "--retries",
            "3",
            "--limit-rate",
            "1M",
            s(&local),
            &remote,
        ],
    );
    let marker = restart_marker(&stderr);
    assert!(
        marker >= 1024 * 1024 && marker % (1024 * 1024) == 0,
        "{stderr}"
    );
    assert_eq!(
        sha256_file(&server.root().join("up.bin")),
        sha256_bytes(&data),
        "{stderr}"
    );
}
