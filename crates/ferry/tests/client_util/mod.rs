//! Helpers shared by the `client_*` test binaries: running the `ferry` binary's client
//! commands with a private HOME (no netrc or known-hosts file of the machine leaks in),
//! a hard timeout, and URLs with credentials.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{run, Outcome};

/// Upper bound for one client command in the tests.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// A private HOME directory under `base` (created).
pub fn home_in(base: &Path) -> PathBuf {
    let home = base.join("home");
    std::fs::create_dir_all(&home).expect("create HOME");
    home
}

/// `ferry ARGS...` with HOME set to `home`, standard input closed, no RUST_LOG.
pub fn ferry(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(args)
        .env("HOME", home)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Runs `ferry ARGS...` (see [`ferry`]) to completion.
pub fn run_ferry(home: &Path, args: &[&str]) -> Outcome {
    run(ferry(home, args), TIMEOUT)
}

/// Runs `ferry ARGS...` and panics with the whole report unless it exits 0.
pub fn ok(home: &Path, args: &[&str]) -> Outcome {
    let out = run_ferry(home, args);
    assert!(out.success(), "ferry failed\n{}", out.describe());
    out
}

/// The exit code (panics, with the report, when killed).
pub fn code(out: &Outcome) -> i32 {
    out.status
        .and_then(|s| s.code())
        .unwrap_or_else(|| panic!("no exit code\n{}", out.describe()))
}

/// Asserts the exit code of a run.
pub fn assert_code(out: &Outcome, expected: i32) {
    assert_eq!(
        code(out),
        expected,
        "unexpected exit code\n{}",
        out.describe()
    );
}

/// `scheme://USER:PASS@HOST:PORT` + `path` for an address.
pub fn url_with(
    scheme: &str,
    user: &str,
    pass: &str,
    addr: std::net::SocketAddr,
    path: &str,
) -> String {
    let host = match addr {
        std::net::SocketAddr::V4(a) => a.ip().to_string(),
        std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    format!("{scheme}://{user}:{pass}@{host}:{}{path}", addr.port())
}

/// Deterministic pseudo-random bytes (xorshift), cheap to generate in any size.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
