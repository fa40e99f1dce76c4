//! The HTML report opened in headless Chromium (Debian package `chromium`; the test fails,
//! naming the package, when it is missing): the DOM after rendering holds the SVG ladder
//! with its arrows, the SVG has a real laid-out size, and a screenshot is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{program, run, Outcome};

const TIMEOUT: Duration = Duration::from_secs(90);

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ferry-analyze/tests/data")
        .join(rel)
}

/// Headless Chromium with the flags that keep it offline and quiet.
fn chromium(profile: &Path) -> Command {
    let mut cmd = program("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

fn report(capture: &Path, html: &Path, extra: &[&str]) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.arg("analyze")
        .arg(capture)
        .arg("--html")
        .arg(html)
        .args(extra);
    let out = run(cmd, TIMEOUT);
    assert!(out.success(), "{}", out.describe());
}

fn dump_dom(profile: &Path, page: &Path) -> Outcome {
    let mut cmd = chromium(profile);
    cmd.args(["--dump-dom", "--window-size=1200,2000"]);
    cmd.arg(format!("file://{}", page.display()));
    let out = run(cmd, TIMEOUT);
    assert!(out.success(), "{}", out.describe());
    out
}

/// Appends a probe script (to a copy: the report itself needs no script) that records the
/// laid-out size of each ladder and its arrow count on `<body>`.
fn with_probe(page: &Path) -> PathBuf {
    let html = std::fs::read_to_string(page).unwrap();
    let probe = "<script>\
        const r=[...document.querySelectorAll('svg.ladder')].map(s=>{\
        const b=s.getBoundingClientRect();\
        const arrows=s.querySelectorAll('line.arrow');\
        let drawn=0;for(const a of arrows){const q=a.getBoundingClientRect();if(q.width>100)drawn++;}\
        return Math.round(b.width)+'x'+Math.round(b.height)+':'+drawn;});\
        document.body.setAttribute('data-ladders',r.join(','));</script>";
    let probed = page.with_extension("probe.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{probe}</body>"))).unwrap();
    probed
}

/// `WxH:drawn` entries of the probe.
fn ladders(dom: &str) -> Vec<(u32, u32, u32)> {
    let start = dom.find("data-ladders=\"").expect("probe ran") + "data-ladders=\"".len();
    let end = start + dom[start..].find('"').unwrap();
    dom[start..end]
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|e| {
            let (size, drawn) = e.split_once(':').unwrap();
            let (w, h) = size.split_once('x').unwrap();
            (
                w.parse().unwrap(),
                h.parse().unwrap(),
                drawn.parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn html_report_renders_ladder_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    let page = dir.path().join("ipv6.html");
    report(&data("zeek/traces/ipv6.pcap"), &page, &[]);

    // The DOM after parsing and rendering.
    let out = dump_dom(&profile, &page);
    let dom = out.stdout_text();
    assert!(
        dom.contains("<svg class=\"ladder\""),
        "no ladder in the DOM:\n{dom}"
    );
    assert!(dom.contains("<g class=\"msg cmd\">"));
    assert!(dom.contains("<g class=\"msg reply\">"));
    assert_eq!(dom.matches("<g class=\"data open\">").count(), 5);
    assert_eq!(dom.matches("<g class=\"data close\">").count(), 5);
    assert!(dom.contains("RETR robots.txt"));
    assert!(dom.contains("<table class=\"transfers\">"));

    // Laid out: the ladder has a size and its arrows span the lanes.
    let probed = with_probe(&page);
    let dom = dump_dom(&profile, &probed).stdout_text();
    let sizes = ladders(&dom);
    assert_eq!(sizes.len(), 1, "{dom}");
    let (w, h, drawn) = sizes[0];
    assert!(w > 600 && h > 1000, "ladder laid out at {w}x{h}");
    // 22 commands + 22 replies + greeting + preliminaries + 10 data arrows.
    assert!(drawn >= 50, "only {drawn} arrows drawn wide");

    // A screenshot (PNG) of the page.
    let shot = dir.path().join("out.png");
    let mut cmd = chromium(&profile);
    cmd.arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,2000")
        .arg(format!("file://{}", page.display()));
    let out = run(cmd, TIMEOUT);
    assert!(out.success(), "{}", out.describe());
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "screenshot suspiciously small: {} bytes",
        png.len()
    );
}

#[test]
fn html_report_of_hostile_and_multi_session_captures_renders() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    for capture in [
        "generated/scenario-bruteforce.pcap",
        "zeek/traces/fake-long-commands.pcap",
        "suricata-verify/ftp-too-long-response/ftp-too-long-response.pcap",
        "ndpi/ftp.pcap",
    ] {
        let page = dir.path().join("page.html");
        report(&data(capture), &page, &["--html-max-arrows", "200"]);
        let html = std::fs::read_to_string(&page).unwrap();
        let expected = html.matches("<svg class=\"ladder\"").count();
        assert!(expected >= 1, "{capture}: no session");
        let probed = with_probe(&page);
        let dom = dump_dom(&profile, &probed).stdout_text();
        let sizes = ladders(&dom);
        assert_eq!(sizes.len(), expected, "{capture}");
        for (w, h, drawn) in sizes {
            assert!(w > 600 && h > 60, "{capture}: ladder {w}x{h}");
            assert!(drawn <= 200, "{capture}: cap not applied ({drawn})");
        }
        // No script of the capture's text ran: only the probe set attributes.
        assert!(!dom.contains("<script>alert"), "{capture}");
    }
}
