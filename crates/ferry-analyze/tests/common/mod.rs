//! Shared helpers of the analyzer tests: run an analysis, read baseline files.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferry_analyze::{analyze_file, Analysis, AnalyzeOptions, Session};

/// `tests/data`.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// `tests/data/baselines`.
pub fn baselines() -> PathBuf {
    data_dir().join("baselines")
}

/// Analyses `tests/data/<rel>` with default options.
pub fn analyze(rel: &str) -> Analysis {
    analyze_with(rel, &AnalyzeOptions::default())
}

/// Analyses `tests/data/<rel>`.
pub fn analyze_with(rel: &str, opts: &AnalyzeOptions) -> Analysis {
    match analyze_file(&data_dir().join(rel), opts) {
        Ok(a) => a,
        Err(e) => panic!("{rel}: {e}"),
    }
}

/// Every capture under `tests/data` (relative paths, sorted).
pub fn all_captures() -> Vec<String> {
    let mut out = Vec::new();
    let root = data_dir();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("baselines") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                out.push(
                    p.strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// A tab-separated table with a header row.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Reads a TSV whose first line is the header.
    pub fn tsv(path: &Path) -> Table {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let mut lines = text.lines();
        let header = lines
            .next()
            .unwrap_or("")
            .split('\t')
            .map(str::to_string)
            .collect();
        let rows = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        Table { header, rows }
    }

    /// Reads a Zeek log (`#fields` header; `#` lines and btest's header skipped).
    pub fn zeek(path: &Path) -> Table {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let mut header = Vec::new();
        let mut rows = Vec::new();
        for line in text.lines() {
            if let Some(f) = line.strip_prefix("#fields\t") {
                header = f.split('\t').map(str::to_string).collect();
            } else if !line.starts_with('#') && !line.is_empty() {
                rows.push(line.split('\t').map(str::to_string).collect());
            }
        }
        Table { header, rows }
    }

    /// Column index.
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.header))
    }

    /// Rows as maps.
    pub fn maps(&self) -> Vec<HashMap<String, String>> {
        self.rows
            .iter()
            .map(|r| {
                self.header
                    .iter()
                    .cloned()
                    .zip(r.iter().cloned().chain(std::iter::repeat(String::new())))
                    .collect()
            })
            .collect()
    }
}

/// The session whose client is `ip:port`.
pub fn session_by_client<'a>(a: &'a Analysis, ip: &str, port: &str) -> &'a Session {
    a.sessions
        .iter()
        .find(|s| s.client.ip().to_string() == ip && s.client.port().to_string() == port)
        .unwrap_or_else(|| panic!("no session with client {ip}:{port}"))
}

/// sha256 hex of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
