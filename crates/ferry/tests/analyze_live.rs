//! Live capture on loopback: `ferry capture -i lo --port PORT -w out.pcapng --duration 10`
//! while curl downloads a file from a Ferry server on 127.0.0.1; then `ferry analyze
//! out.pcapng --json` shows the session and the transfer with the file's sha256 — also
//! after the test rewrites the capture with data segments swapped and duplicated.
//!
//! Capturing needs root or CAP_NET_RAW (CI runs as root); without it the test fails and
//! says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferry_analyze::{decode_tcp, CaptureReader, LinkType};
use serde_json::Value;
use support::{curl, run, run_ok, sha256_file, write_file, Outcome, Server};

/// Seconds `ferry capture` runs.
const CAPTURE_SECS: u64 = 10;

/// Kills the capture process if the test fails early.
struct Capture {
    child: Option<Child>,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn start_capture(port: u16, out: &Path) -> Capture {
    assert!(
        is_root(),
        "this test captures on `lo` and needs root or CAP_NET_RAW (CI runs as root)"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["capture", "-i", "lo", "--port", &port.to_string(), "-w"])
        .arg(out)
        .args(["--duration", &CAPTURE_SECS.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferry capture");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let cap = Capture {
        child: Some(child),
        stderr: rx,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match cap.stderr.recv_timeout(left) {
            Ok(line) => {
                let ready = line.contains("listening on lo");
                seen.push(line);
                if ready {
                    break;
                }
            }
            Err(_) => panic!("ferry capture did not start: {seen:?}"),
        }
    }
    cap
}

/// Waits for the capture to end (after its --duration) and returns its stdout.
fn finish_capture(mut cap: Capture) -> String {
    use std::io::Read;
    // Read stdout on a thread so a full pipe never blocks the capture.
    let mut stdout = cap.child.as_mut().unwrap().stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(CAPTURE_SECS + 20);
    loop {
        let child = cap.child.as_mut().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            cap.child = None;
            let out = reader.join().unwrap();
            let err: Vec<String> = cap.stderr.try_iter().collect();
            assert!(
                status.success(),
                "ferry capture failed: {status}\n{out}\n{err:?}"
            );
            return out;
        }
        // On failure `cap` is dropped and kills the process.
        assert!(Instant::now() < deadline, "ferry capture did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn analyze_json(capture: &Path) -> Vec<Value> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.arg("analyze").arg(capture).arg("--json");
    let out: Outcome = run(cmd, Duration::from_secs(60));
    assert!(out.success(), "{}", out.describe());
    out.stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A frame of the capture: timestamp (µs), link type, bytes.
struct Frame {
    ts_micros: u64,
    data: Vec<u8>,
}

fn read_frames(path: &Path) -> (LinkType, Vec<Frame>) {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = CaptureReader::new(file).unwrap();
    let mut frames = Vec::new();
    let mut link = LinkType::ETHERNET;
    while let Some(f) = reader.next_frame().unwrap() {
        link = f.link_type;
        frames.push(Frame {
            ts_micros: f.ts.secs as u64 * 1_000_000 + u64::from(f.ts.nanos / 1000),
            data: f.data.to_vec(),
        });
    }
    (link, frames)
}

/// A minimal pcapng writer (SHB, IDB, EPBs), little-endian, microsecond timestamps.
fn write_pcapng(path: &Path, link: LinkType, frames: &[(u64, &[u8])]) {
    fn block(out: &mut Vec<u8>, ty: u32, body: &[u8]) {
        let total = (body.len() + 12) as u32;
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&total.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0A0D_0D0A, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&(link.0 as u16).to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (ts, data) in frames {
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(*ts as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        while epb.len() % 4 != 0 {
            epb.push(0);
        }
        block(&mut out, 6, &epb);
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn live_capture_of_curl_download_then_analyze_with_reordered_segments() {
    let server = Server::start();
    // 3 MB of pseudo-random bytes: many data segments.
    let mut content = Vec::with_capacity(3_000_000);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    while content.len() < 3_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        content.extend_from_slice(&x.to_le_bytes());
    }
    write_file(&server.root(), "pub/big file.bin", &content);
    let expected = sha256_file(&server.root().join("pub/big file.bin"));

    let dir = tempfile::tempdir().unwrap();
    let pcapng = dir.path().join("out.pcapng");
    let cap = start_capture(server.port(), &pcapng);

    let got = dir.path().join("got.bin");
    let mut c = curl();
    c.arg("-o").arg(&got).arg(server.url("/pub/big%20file.bin"));
    run_ok(c, Duration::from_secs(60));
    assert_eq!(sha256_file(&got), expected);

    let live = finish_capture(cap);
    assert!(live.contains("Session 1  127.0.0.1:"), "{live}");
    // curl sends CWD pub then RETR with the file name.
    assert!(live.contains("RETR big file.bin"), "{live}");
    assert!(live.contains("/pub/big file.bin"), "{live}");
    assert!(
        live.contains(&expected[..12]),
        "live transfer row without the hash:\n{live}"
    );

    // The pcapng file analysed afterwards.
    let lines = analyze_json(&pcapng);
    let session = lines
        .iter()
        .find(|v| v["type"] == "session")
        .unwrap_or_else(|| panic!("no session: {lines:?}"));
    assert_eq!(session["user"], support::USER);
    assert_eq!(session["login"], "success");
    assert_eq!(session["server"], format!("127.0.0.1:{}", server.port()));
    let retr = lines
        .iter()
        .find(|v| v["type"] == "transfer" && v["command"] == "RETR")
        .unwrap_or_else(|| panic!("no RETR transfer: {lines:?}"));
    assert_eq!(retr["path"], "/pub/big file.bin");
    assert_eq!(retr["bytes"], 3_000_000);
    assert_eq!(retr["sha256"], expected.as_str());
    assert_eq!(retr["complete"], true);

    // Rewrite the capture with data segments out of order, as a network reorders them:
    // in some pairs of consecutive data segments the second comes first, and the frames
    // between them (the receiver's ACKs) come after both (an ACK of bytes the capture has
    // not shown yet would rightly make them a gap). Plus one retransmitted segment.
    let (link, frames) = read_frames(&pcapng);
    let data_server: SocketAddr = retr["data_server"].as_str().unwrap().parse().unwrap();
    let data_client: SocketAddr = retr["data_client"].as_str().unwrap().parse().unwrap();
    let payload_frames: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            decode_tcp(link, &f.data).is_ok_and(|s| {
                !s.payload.is_empty()
                    && ((s.src == data_server && s.dst == data_client)
                        || (s.src == data_client && s.dst == data_server))
            })
        })
        .map(|(i, _)| i)
        .collect();
    assert!(
        payload_frames.len() >= 8,
        "only {} data segments",
        payload_frames.len()
    );
    let mut order: Vec<usize> = (0..frames.len()).collect();
    let mut swapped = 0;
    for pair in payload_frames.chunks(2).skip(1).step_by(3) {
        if let [a, b] = *pair {
            let window: Vec<usize> = order[a..=b].to_vec();
            let mut moved = vec![window[window.len() - 1], window[0]];
            moved.extend_from_slice(&window[1..window.len() - 1]);
            order.splice(a..=b, moved);
            swapped += 1;
        }
    }
    assert!(swapped >= 2);
    // A retransmission: a data segment again, later.
    let dup = payload_frames[payload_frames.len() / 2];
    let dup_at = payload_frames[payload_frames.len() / 2 + 2];
    order.insert(dup_at + 1, dup);
    assert_ne!(order, (0..order.len()).collect::<Vec<_>>());
    let rewritten: Vec<(u64, &[u8])> = order
        .iter()
        .enumerate()
        .map(|(pos, &i)| {
            // Timestamps stay in file order.
            let ts = frames[pos.min(frames.len() - 1)].ts_micros;
            (ts, frames[i].data.as_slice())
        })
        .collect();
    let reordered = dir.path().join("reordered.pcapng");
    write_pcapng(&reordered, link, &rewritten);
    let lines = analyze_json(&reordered);
    let retr = lines
        .iter()
        .find(|v| v["type"] == "transfer" && v["command"] == "RETR")
        .unwrap_or_else(|| panic!("no RETR transfer after reordering: {lines:?}"));
    assert_eq!(retr["sha256"], expected.as_str(), "{retr}");
    assert_eq!(retr["bytes"], 3_000_000);
    assert_eq!(retr["missing_bytes"], 0);
}
