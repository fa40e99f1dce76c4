//! JSON lines of every test capture: each line parses, has a known `type`, and every key the
//! issue requires is present with the right JSON type and enum spelling. The HTML and table
//! renderers run over the same captures (they must not panic, and the HTML has one ladder
//! per session).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ferry_analyze::report::{self, ReportOptions};
use ferry_analyze::{analyze_reader, AnalyzeOptions};
use serde_json::Value;

/// Every capture under tests/data.
fn captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "cap")
            ) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
        &mut out,
    );
    assert!(out.len() >= 40, "test captures missing: {}", out.len());
    out
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Str,
    /// A string or null.
    OptStr,
    UInt,
    OptUInt,
    Number,
    Bool,
    Addr,
    Enum(&'static [&'static str]),
    OptHex64,
}

fn check(line: &Value, key: &str, kind: Kind, ctx: &str) {
    let Some(v) = line.get(key) else {
        panic!("{ctx}: key `{key}` missing in {line}");
    };
    let ok = match kind {
        Kind::Str => v.is_string(),
        Kind::OptStr => v.is_string() || v.is_null(),
        Kind::UInt => v.is_u64(),
        Kind::OptUInt => v.is_u64() || v.is_null(),
        Kind::Number => v.is_number(),
        Kind::Bool => v.is_boolean(),
        Kind::Addr => v
            .as_str()
            .is_some_and(|s| s.parse::<std::net::SocketAddr>().is_ok()),
        Kind::Enum(values) => v.as_str().is_some_and(|s| values.contains(&s)),
        Kind::OptHex64 => {
            v.is_null()
                || v.as_str().is_some_and(|s| {
                    s.len() == 64
                        && s.bytes()
                            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                })
        }
    };
    assert!(ok, "{ctx}: key `{key}` should be {kind:?}, is {v}");
}

const FINDING_KINDS: &[&str] = &[
    "cleartext-credentials",
    "anonymous-login",
    "brute-force",
    "bounce-attempt",
    "tls-declined",
    "no-tls",
    "pasv-theft",
    "dangerous-command",
    "overlong-command",
    "malformed-reply",
];

fn check_line(line: &Value, ctx: &str) -> String {
    let ty = line["type"]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: no type in {line}"));
    match ty {
        "session" => {
            check(line, "session", Kind::UInt, ctx);
            check(line, "client", Kind::Addr, ctx);
            check(line, "server", Kind::Addr, ctx);
            check(line, "user", Kind::OptStr, ctx);
            check(line, "password", Kind::OptStr, ctx);
            check(
                line,
                "login",
                Kind::Enum(&["success", "failed", "none"]),
                ctx,
            );
            check(
                line,
                "tls",
                Kind::Enum(&["none", "declined", "negotiated"]),
                ctx,
            );
        }
        "command" => {
            check(line, "session", Kind::UInt, ctx);
            check(line, "ts", Kind::Number, ctx);
            check(line, "command", Kind::Str, ctx);
            check(line, "arg", Kind::OptStr, ctx);
            check(line, "reply_code", Kind::OptUInt, ctx);
            check(line, "reply_msg", Kind::OptStr, ctx);
            check(line, "cwd", Kind::Str, ctx);
            if let Some(code) = line["reply_code"].as_u64() {
                assert!((100..700).contains(&code), "{ctx}: reply code {code}");
            }
        }
        "transfer" => {
            check(line, "session", Kind::UInt, ctx);
            check(line, "command", Kind::Str, ctx);
            check(line, "path", Kind::OptStr, ctx);
            check(
                line,
                "setup",
                Kind::Enum(&["PASV", "EPSV", "PORT", "EPRT"]),
                ctx,
            );
            check(line, "data_client", Kind::Addr, ctx);
            check(line, "data_server", Kind::Addr, ctx);
            check(line, "bytes", Kind::UInt, ctx);
            check(line, "sha256", Kind::OptHex64, ctx);
            check(line, "complete", Kind::Bool, ctx);
            if let Some(path) = line["path"].as_str() {
                assert!(path.starts_with('/'), "{ctx}: path not absolute: {path}");
            }
        }
        "finding" => {
            check(line, "session", Kind::OptUInt, ctx);
            check(line, "kind", Kind::Enum(FINDING_KINDS), ctx);
            check(line, "detail", Kind::Str, ctx);
        }
        other => panic!("{ctx}: unknown type {other}"),
    }
    ty.to_string()
}

#[test]
fn json_lines_schema_on_every_test_capture() {
    let mut totals = std::collections::BTreeMap::<String, usize>::new();
    for path in captures() {
        let ctx = path.display().to_string();
        let file = std::fs::File::open(&path).unwrap();
        let (analysis, _err) = analyze_reader(file, &ctx, &AnalyzeOptions::default());
        let mut out = Vec::new();
        report::json::write_json(&mut out, &analysis, &ReportOptions::default()).unwrap();
        let text = String::from_utf8(out).expect("JSON lines are UTF-8");
        let mut sessions = 0;
        for l in text.lines() {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{ctx}: {e}: {l}"));
            let ty = check_line(&v, &ctx);
            if ty == "session" {
                sessions += 1;
            }
            *totals.entry(ty).or_default() += 1;
        }
        assert_eq!(sessions, analysis.sessions.len(), "{ctx}");

        // The other renderers on the same capture.
        let html = report::html::render(&analysis, &ReportOptions::default());
        assert_eq!(
            html.matches("<svg class=\"ladder\"").count(),
            analysis.sessions.len(),
            "{ctx}"
        );
        let mut table = Vec::new();
        report::table::write_table(&mut table, &analysis, &ReportOptions::default()).unwrap();
        assert!(!table.contains(&0x1b), "{ctx}: escape byte in the table");
    }
    // The corpus exercises every line type.
    for ty in ["session", "command", "transfer", "finding"] {
        assert!(
            totals.get(ty).copied().unwrap_or(0) > 0,
            "no {ty} line at all: {totals:?}"
        );
    }
}

#[test]
fn hex_output_on_a_capture_with_data() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zeek/traces/ipv6.pcap");
    let opts = AnalyzeOptions {
        keep_packets: true,
        ..AnalyzeOptions::default()
    };
    let (analysis, err) = analyze_reader(std::fs::File::open(&path).unwrap(), "ipv6.pcap", &opts);
    assert!(err.is_none());
    assert!(!analysis.packets.is_empty());
    let mut out = Vec::new();
    report::hex::write_hex(&mut out, &analysis, &ReportOptions::default()).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("Frame "),
        "{}",
        &text[..200.min(text.len())]
    );
    assert!(text.contains("session 1 control"));
    assert!(text.contains("session 1 data #"));
    // The USER line in a dump line.
    assert!(
        text.lines().any(|l| l.starts_with(
            "0000  55 53 45 52 20 61 6e 6f  6e 79 6d 6f 75 73 0d 0a  USER anonymous.."
        )),
        "USER dump line missing"
    );
}
