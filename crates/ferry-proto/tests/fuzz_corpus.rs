//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) on stable, as ordinary
//! tests: every file goes through the same body as its cargo-fuzz target
//! (`ferry_proto::fuzzing`). `cargo +nightly fuzz run <target>` (in `fuzz/`) explores
//! further from the same files. A missing or empty corpus fails the test.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {} is missing: {e}", dir.display()));
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read corpus file");
        out.push((path.display().to_string(), bytes));
    }
    out.sort();
    assert!(!out.is_empty(), "fuzz corpus {} is empty", dir.display());
    out
}

fn replay(target: &str, body: fn(&[u8])) {
    for (name, bytes) in corpus(target) {
        let result = std::panic::catch_unwind(|| body(&bytes));
        assert!(result.is_ok(), "fuzz target {target} fails on {name}");
    }
}

#[test]
fn control_lines() {
    replay("control_lines", ferry_proto::fuzzing::control_lines);
}

#[test]
fn command() {
    replay("command", ferry_proto::fuzzing::command);
}

#[test]
fn reply() {
    replay("reply", ferry_proto::fuzzing::reply);
}

#[test]
fn addr() {
    replay("addr", ferry_proto::fuzzing::addr);
}

#[test]
fn listing() {
    replay("listing", ferry_proto::fuzzing::listing);
}

#[test]
fn proxy() {
    replay("proxy", ferry_proto::fuzzing::proxy);
}

#[test]
fn repr() {
    replay("repr", ferry_proto::fuzzing::repr);
}

#[test]
fn session() {
    replay("session", ferry_proto::fuzzing::session);
}
