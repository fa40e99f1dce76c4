//! Test trees: deterministic pseudo-random content, awkward names, and sha256 comparison.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// A small deterministic generator (xorshift64*), enough for test content.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Self {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// Lower-case hex sha256 of `data`.
pub fn sha256_bytes(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lower-case hex sha256 of the file at `path`.
pub fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("cannot open {} to hash it: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Write `data` to `dir/rel`, creating parent directories.
pub fn write_file(dir: &Path, rel: &str, data: &[u8]) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Directory names used by [`write_tree`] (nested up to three levels).
const DIRS: &[&str] = &[
    "",
    "docs",
    "docs/with space",
    "docs/with space/deeper",
    "ünïcödé dir",
    "ünïcödé dir/папка",
    "data",
    "data/a",
    "data/a/b",
    "data/a/b/c",
];

/// File name stems used by [`write_tree`]; an index keeps the names unique.
const STEMS: &[&str] = &[
    "ünïcödé файл",
    "with space",
    "plain",
    "日本語",
    "dash-and_underscore",
    "ελληνικά",
    "x",
];

/// Write a tree of `files` files with deterministic random content under `dir`, spread over
/// nested directories (names with spaces and UTF-8), and return what [`tree_hashes`] would.
///
/// The first files are always `with space.txt` and `ünïcödé файл.bin`; sizes range from 0 to
/// about 200 KiB.
pub fn write_tree(dir: &Path, files: usize, seed: u64) -> BTreeMap<String, String> {
    let mut rng = Rng::new(seed);
    let mut out = BTreeMap::new();
    for i in 0..files {
        let rel = match i {
            0 => "with space.txt".to_owned(),
            1 => "ünïcödé файл.bin".to_owned(),
            _ => {
                let d = DIRS[(rng.below(DIRS.len() as u64)) as usize];
                let stem = STEMS[(rng.below(STEMS.len() as u64)) as usize];
                let name = format!("{stem} {i}.bin");
                if d.is_empty() {
                    name
                } else {
                    format!("{d}/{name}")
                }
            }
        };
        let len = match i % 10 {
            0 => 0,
            1 => 1,
            2..=6 => rng.below(4096) as usize,
            7 | 8 => rng.below(64 * 1024) as usize,
            _ => 100 * 1024 + rng.below(100 * 1024) as usize,
        };
        let data = rng.bytes(len);
        write_file(dir, &rel, &data);
        out.insert(rel, sha256_bytes(&data));
    }
    out
}

/// The sha256 of every regular file under `dir`, keyed by the `/`-separated relative path.
/// Bounded to 10 000 entries and 16 levels.
pub fn tree_hashes(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, depth: usize, out: &mut BTreeMap<String, String>) {
        assert!(depth < 16, "tree too deep at {}", dir.display());
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
            let path = entry.path();
            let ty = entry
                .file_type()
                .unwrap_or_else(|e| panic!("file type {}: {e}", path.display()));
            if ty.is_dir() {
                walk(base, &path, depth + 1, out);
            } else if ty.is_file() {
                let rel = path
                    .strip_prefix(base)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, sha256_file(&path));
                assert!(out.len() <= 10_000, "tree too large");
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, 0, &mut out);
    out
}

/// Panic with a readable difference unless two trees hold the same files with the same hashes.
pub fn assert_same_tree(
    what: &str,
    expected: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) {
    if expected == actual {
        return;
    }
    let mut msg = format!(
        "{what}: trees differ ({} expected files, {} actual)\n",
        expected.len(),
        actual.len()
    );
    let mut shown = 0;
    for (path, hash) in expected {
        match actual.get(path) {
            None => {
                let _ = writeln!(msg, "  missing: {path}");
                shown += 1;
            }
            Some(h) if h != hash => {
                let _ = writeln!(msg, "  content differs: {path}");
                shown += 1;
            }
            Some(_) => {}
        }
        if shown >= 40 {
            break;
        }
    }
    for path in actual
        .keys()
        .filter(|p| !expected.contains_key(*p))
        .take(40)
    {
        let _ = writeln!(msg, "  unexpected: {path}");
    }
    panic!("{msg}");
}

/// Percent-encode a path for an FTP URL (keeps `/` and unreserved characters).
pub fn url_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() * 3);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
