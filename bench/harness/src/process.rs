//! The few process helpers that the peer harness (`crates/ferry/tests/support/peers.rs`,
//! compiled into this binary) expects from its test-suite sibling module, without the
//! test-only parts (cargo's per-test temporary directory).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a helper program (openssl, pure-pw) may run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The first executable `name` on `PATH`, then in `/usr/sbin` and `/sbin`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A `Command` for the program `name`; panics naming it when it is not installed.
pub fn program(name: &str) -> Command {
    let path = find_on_path(name)
        .unwrap_or_else(|| panic!("required program `{name}` is not installed (not on PATH)"));
    let mut cmd = Command::new(path);
    cmd.stdin(Stdio::null());
    cmd
}

/// What a finished program printed.
#[derive(Debug)]
pub struct Outcome {
    output: Output,
}

impl Outcome {
    /// Standard output as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
}

/// Run `cmd` to completion within `timeout`; panics when it fails or overruns.
pub fn run_ok(mut cmd: Command, timeout: Duration) -> Outcome {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{shown} did not finish within {timeout:?}");
            }
        }
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    assert!(
        output.status.success(),
        "{shown} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Outcome { output }
}
