//! Replays the fuzz seed corpus (`fuzz/corpus/capture`) on stable, as an ordinary test:
//! every seed, every truncation of it at 16 points, and deterministic byte flips must give
//! results or an error from the analyzer, never a panic. `cargo +nightly fuzz run capture`
//! (in `fuzz/`) explores further from the same seeds.

use std::path::PathBuf;

use ferry_analyze::{analyze_reader, AnalyzeOptions};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/capture");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/capture exists") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read seed");
        out.push((path.display().to_string(), bytes));
    }
    out.sort();
    assert!(out.len() >= 5, "seed corpus too small: {}", out.len());
    out
}

#[test]
fn seeds_truncations_and_flips_never_panic() {
    let opts = AnalyzeOptions::default();
    for (name, bytes) in corpus() {
        let (analysis, err) = analyze_reader(bytes.as_slice(), &name, &opts);
        assert!(err.is_none(), "{name}: a seed must read cleanly: {err:?}");
        assert!(
            !analysis.sessions.is_empty(),
            "{name}: no FTP session found"
        );
        let len = bytes.len();
        for i in 0..16 {
            let cut = len * i / 16;
            let _ = analyze_reader(&bytes[..cut], &name, &opts);
        }
        // Deterministic flips: xorshift positions, bounded count.
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
        let mut mutated = bytes.clone();
        for _ in 0..32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if len == 0 {
                break;
            }
            let pos = (state % len as u64) as usize;
            mutated[pos] ^= (state >> 32) as u8 | 1;
            let _ = analyze_reader(mutated.as_slice(), &name, &opts);
        }
    }
}
