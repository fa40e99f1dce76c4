//! `ferry analyze` on test captures in every output format, and its errors: damaged
//! captures (exit 3 after the partial results), a missing file (1), `--tui` without a
//! terminal (2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{run, sha256_file, Outcome};

const TIMEOUT: Duration = Duration::from_secs(60);

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ferry-analyze/tests/data")
        .join(rel)
}

fn ferry(args: &[&str]) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(args).env_remove("NO_COLOR");
    run(cmd, TIMEOUT)
}

fn analyze(capture: &Path, extra: &[&str]) -> Outcome {
    let mut args = vec!["analyze", capture.to_str().unwrap()];
    args.extend_from_slice(extra);
    ferry(&args)
}

fn code(out: &Outcome) -> Option<i32> {
    out.status.and_then(|s| s.code())
}

fn json_lines(out: &Outcome) -> Vec<Value> {
    out.stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn no_panic(out: &Outcome) {
    let err = out.stderr_text();
    assert!(!err.contains("panicked"), "{}", out.describe());
}

#[test]
fn table_of_pipelined_scenario() {
    let out = analyze(&data("generated/scenario-pipelined.pcap"), &[]);
    assert!(out.success(), "{}", out.describe());
    let text = out.stdout_text();
    assert!(!text.contains('\x1b'), "colours on a pipe");
    assert!(text.contains("Session 1  127.0.0.1:"), "{text}");
    assert!(text.contains("user benchuser (password benchpass)  login success  TLS none"));
    // The pipelined commands share a frame: the same No. on consecutive rows.
    let user = text.lines().find(|l| l.contains("USER benchuser")).unwrap();
    let pass = text.lines().find(|l| l.contains("PASS benchpass")).unwrap();
    assert_eq!(
        user.split_whitespace().next(),
        pass.split_whitespace().next()
    );
    assert!(user.contains("USER: user name for login"), "{user}");
    let reply = text
        .lines()
        .find(|l| l.contains("230 Login successful."))
        .unwrap();
    assert!(reply.contains("127.0.0.1:21 → 127.0.0.1:"), "{reply}");
    assert!(text.contains("Transfers (0)"));
    assert!(text.contains("dangerous-command"));
    // Colour can be forced.
    let out = analyze(
        &data("generated/scenario-pipelined.pcap"),
        &["--color", "always"],
    );
    assert!(out.stdout_text().contains("\x1b["));
}

#[test]
fn json_of_ipv6_session_with_transfers() {
    let out = analyze(&data("zeek/traces/ipv6.pcap"), &["--json"]);
    assert!(out.success(), "{}", out.describe());
    let lines = json_lines(&out);
    let session = lines.iter().find(|v| v["type"] == "session").unwrap();
    assert_eq!(session["user"], "anonymous");
    assert_eq!(session["login"], "success");
    assert_eq!(session["tls"], "none");
    assert!(session["client"]
        .as_str()
        .unwrap()
        .starts_with("[2001:470:1f11:"));
    let retr: Vec<&Value> = lines
        .iter()
        .filter(|v| v["type"] == "transfer" && v["command"] == "RETR")
        .collect();
    assert_eq!(retr.len(), 2, "{}", out.stdout_text());
    let setups: Vec<&str> = retr.iter().map(|t| t["setup"].as_str().unwrap()).collect();
    assert_eq!(setups, ["EPSV", "EPRT"]);
    for t in retr {
        assert_eq!(t["path"], "/robots.txt");
        assert_eq!(t["bytes"], 77);
        assert_eq!(t["complete"], true);
        assert_eq!(
            t["sha256"],
            "92101c97b7425d24309c923bbd4a554f85d8b0b1ce105666bc8f64c0c72d7fac"
        );
    }
    assert!(lines
        .iter()
        .any(|v| v["type"] == "command" && v["command"] == "EPRT" && v["reply_code"] == 200));
    // Masked passwords.
    let out = analyze(
        &data("zeek/traces/ipv6.pcap"),
        &["--json", "--mask-passwords"],
    );
    let lines = json_lines(&out);
    let session = lines.iter().find(|v| v["type"] == "session").unwrap();
    assert_eq!(session["password"], "********");
    assert!(!out.stdout_text().contains("\"test\""));
}

#[test]
fn json_findings_of_generated_scenarios() {
    for (file, kind) in [
        ("generated/scenario-bruteforce.pcap", "brute-force"),
        ("generated/scenario-bounce.pcap", "bounce-attempt"),
        ("generated/scenario-auth-tls-declined.pcap", "tls-declined"),
        ("generated/scenario-anonymous.pcap", "anonymous-login"),
    ] {
        let out = analyze(&data(file), &["--json"]);
        assert!(out.success(), "{}", out.describe());
        let lines = json_lines(&out);
        assert!(
            lines
                .iter()
                .any(|v| v["type"] == "finding" && v["kind"] == kind),
            "{file}: no {kind} finding:\n{}",
            out.stdout_text()
        );
    }
}

#[test]
fn hex_dump_of_packets() {
    let out = analyze(&data("zeek/traces/ipv6.pcap"), &["--hex"]);
    assert!(out.success(), "{}", out.describe());
    let text = out.stdout_text();
    let headers = text.lines().filter(|l| l.starts_with("Frame ")).count();
    assert!(headers > 50, "{headers} packets");
    assert!(text.contains("session 1 data #3 (RETR)"));
    assert!(text
        .lines()
        .any(|l| l.starts_with("0000  50 41 53 53 20 74 65 73  74 0d 0a")
            && l.ends_with("PASS test..")));
}

#[test]
fn html_report_file() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let out = analyze(
        &data("zeek/traces/ipv6.pcap"),
        &["--html", html.to_str().unwrap()],
    );
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout_text().is_empty(), "--html alone prints nothing");
    assert!(out.stderr_text().contains("HTML report written to"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg class=\"ladder\"").count(), 1);
    assert_eq!(page.matches("<g class=\"data open\"").count(), 5);
    // With --json the page is written and the JSON printed.
    let out = analyze(
        &data("zeek/traces/ipv6.pcap"),
        &["--json", "--html", html.to_str().unwrap()],
    );
    assert!(out.success());
    assert!(!json_lines(&out).is_empty());
}

#[test]
fn extract_writes_files_with_their_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let out = analyze(
        &data("zeek/traces/ipv6.pcap"),
        &["--json", "--extract", dir.path().to_str().unwrap()],
    );
    assert!(out.success(), "{}", out.describe());
    let lines = json_lines(&out);
    let mut checked = 0;
    for t in lines.iter().filter(|v| v["type"] == "transfer") {
        let Some(path) = t["extracted_to"].as_str() else {
            continue;
        };
        assert_eq!(sha256_file(Path::new(path)), t["sha256"].as_str().unwrap());
        checked += 1;
    }
    assert_eq!(checked, 5, "{}", out.stdout_text());
}

#[test]
fn tui_needs_a_terminal() {
    let out = analyze(&data("zeek/traces/ipv6.pcap"), &["--tui"]);
    assert_eq!(code(&out), Some(2), "{}", out.describe());
    assert!(out.stderr_text().contains("--tui needs a terminal"));
    no_panic(&out);
}

#[test]
fn truncated_capture_prints_partial_results_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(data("zeek/traces/ipv6.pcap")).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let out = analyze(&cut, &["--json"]);
    assert_eq!(code(&out), Some(3), "{}", out.describe());
    no_panic(&out);
    let lines = json_lines(&out);
    assert!(
        lines.iter().any(|v| v["type"] == "session"),
        "no partial results"
    );
    assert!(
        out.stderr_text().contains("truncated"),
        "{}",
        out.describe()
    );
    assert!(out.stderr_text().contains("partial"));
    // Every format handles it.
    for extra in [&[][..], &["--hex"][..]] {
        let out = analyze(&cut, extra);
        assert_eq!(code(&out), Some(3), "{}", out.describe());
        no_panic(&out);
    }
}

#[test]
fn corrupt_and_random_captures_exit_3_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = vec![0u8; 4096];
    for b in random.iter_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *b = seed as u8;
    }
    let rnd = dir.path().join("random.pcap");
    std::fs::write(&rnd, &random).unwrap();
    let out = analyze(&rnd, &[]);
    assert_eq!(code(&out), Some(3), "{}", out.describe());
    assert!(
        out.stderr_text().contains("not a pcap or pcapng"),
        "{}",
        out.describe()
    );
    no_panic(&out);

    // A valid header followed by garbage in the middle.
    let mut full = std::fs::read(data("zeek/traces/ipv6.pcap")).unwrap();
    let mid = full.len() / 3;
    for b in full.iter_mut().skip(mid).take(64) {
        *b = 0xff;
    }
    let bad = dir.path().join("corrupt.pcap");
    std::fs::write(&bad, &full).unwrap();
    for extra in [&["--json"][..], &[][..], &["--hex"][..]] {
        let out = analyze(&bad, extra);
        no_panic(&out);
        assert!(
            matches!(code(&out), Some(0) | Some(3)),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn missing_capture_exits_1() {
    let out = analyze(Path::new("/nonexistent/x.pcap"), &[]);
    assert_eq!(code(&out), Some(1), "{}", out.describe());
    assert!(out.stderr_text().contains("cannot open"));
}

#[test]
fn help_lists_exit_codes() {
    let out = ferry(&["analyze", "--help"]);
    assert!(out.success());
    let text = out.stdout_text();
    for flag in [
        "--json",
        "--hex",
        "--html",
        "--tui",
        "--extract",
        "--ftp-port",
        "--mask-passwords",
    ] {
        assert!(text.contains(flag), "{flag} missing from help");
    }
    assert!(text.contains("3  the capture is truncated"));
}

/// The terminal viewer in a pseudo-terminal (`script`, Debian package bsdutils): it draws
/// the packet list, the panes and the status line, moves with j/G/k and quits with q.
#[test]
fn tui_in_a_pseudo_terminal() {
    use std::io::Write;
    use std::process::Stdio;
    let ferry = env!("CARGO_BIN_EXE_ferry");
    let capture = data("zeek/traces/ipv6.pcap");
    let inner = format!(
        "stty rows 40 cols 160; exec {ferry} analyze {} --tui",
        capture.display()
    );
    let mut cmd = support::program("script");
    cmd.args(["-q", "-f", "-e", "-c", &inner, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start script");
    let mut stdin = child.stdin.take().unwrap();
    let keys = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        for key in ["j", "j", "j", "G", "k", "J"] {
            let _ = stdin.write_all(key.as_bytes());
            let _ = stdin.flush();
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = stdin.write_all(b"q");
        let _ = stdin.flush();
        std::thread::sleep(Duration::from_millis(1000));
    });
    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the TUI did not quit on q");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    keys.join().unwrap();
    let mut screen = Vec::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut screen)
        .unwrap();
    let screen = String::from_utf8_lossy(&screen);
    assert!(status.success(), "exit {status}: {screen}");
    assert!(!screen.contains("panicked"), "{screen}");
    // ratatui moves the cursor instead of writing spaces: look for words.
    for word in [
        "packets",
        "Hex",
        "ASCII",
        "session",
        "USER",
        "anonymous",
        "q quit",
    ] {
        assert!(screen.contains(word), "`{word}` not drawn: {screen}");
    }
    // G selected the last of the 130 packets.
    assert!(
        screen.contains("130/130"),
        "G did not reach the end: {screen}"
    );
    // The alternate screen is left on exit.
    assert!(screen.contains("\x1b[?1049l"));
}
