//! Running external programs (curl, lftp, wget, rclone, python3) with a hard timeout.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The default hard timeout for one external program run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How many bytes of each output stream [`Outcome::describe`] shows (the tail).
const SHOWN_BYTES: usize = 48 * 1024;

/// The Debian package that provides a program the tests run.
fn debian_package(name: &str) -> &str {
    match name {
        "python3" => "python3",
        "curl" => "curl",
        "lftp" => "lftp",
        "wget" => "wget",
        "rclone" => "rclone",
        other => other,
    }
}

/// Where `name` is found on `PATH`, if anywhere.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A HOME directory private to the test suite (under cargo's `target/tmp`), so no user
/// configuration (`~/.curlrc`, `~/.lftprc`, `~/.wgetrc`, rclone config, netrc) changes what a
/// tool does.
fn private_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ferry-interop-home");
        std::fs::create_dir_all(&dir).expect("create private HOME for external programs");
        dir
    })
}

/// A `Command` for the external program `name`, with a private HOME, a UTF-8 locale, no
/// proxy settings and stdin closed.
///
/// Panics (the test FAILS, it is never skipped) when the program is not installed, naming
/// the Debian package that provides it.
pub fn program(name: &str) -> Command {
    let Some(path) = find_on_path(name) else {
        let pkg = debian_package(name);
        panic!(
            "required program `{name}` is not installed (not found on PATH). \
             Install the Debian package `{pkg}`: `apt-get install -y {pkg}` \
             (.ci/run installs every peer program the tests need)"
        );
    };
    let mut cmd = Command::new(path);
    cmd.env("HOME", private_home())
        .env("LC_ALL", "C.UTF-8")
        .env("LANG", "C.UTF-8")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CURL_HOME")
        .env_remove("WGETRC")
        .env_remove("RCLONE_CONFIG");
    for var in [
        "ftp_proxy",
        "FTP_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// What one external program run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The command line, for messages.
    pub cmdline: String,
    /// The exit status, `None` when the run was killed on timeout.
    pub status: Option<ExitStatus>,
    /// Everything the program wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything the program wrote to stderr.
    pub stderr: Vec<u8>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Outcome {
    /// Whether the program exited with status 0 in time.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// stdout as (lossy) UTF-8.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as (lossy) UTF-8.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A multi-line report of the run for failure messages.
    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => format!("{s}"),
            None => format!("KILLED after timeout ({:?})", self.elapsed),
        };
        format!(
            "command: {}\nstatus: {status} after {:?}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            self.cmdline,
            self.elapsed,
            tail_text(&self.stdout),
            tail_text(&self.stderr)
        )
    }
}

fn tail_text(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(SHOWN_BYTES);
    String::from_utf8_lossy(bytes.get(start..).unwrap_or_default()).into_owned()
}

fn cmdline(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a: &OsStr| {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            format!("'{a}'")
        } else {
            a.into_owned()
        }
    }));
    parts.join(" ")
}

/// Read a pipe to the end in a background thread; the result arrives on the channel.
pub fn drain<R: Read + Send + 'static>(mut pipe: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Wait for `child` until `deadline`, killing it when the deadline passes.
/// Returns `None` when it had to be killed.
pub fn wait_with_deadline(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    // Bounded: polls every 20 ms until the deadline, then kills.
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => break,
        }
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Run `cmd` to completion with a hard `timeout` (the program is killed on expiry).
pub fn run(mut cmd: Command, timeout: Duration) -> Outcome {
    let line = cmdline(&cmd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
    let out_rx = child.stdout.take().map(drain);
    let err_rx = child.stderr.take().map(drain);
    let status = wait_with_deadline(&mut child, started + timeout);
    let elapsed = started.elapsed();
    // A grandchild could keep a pipe open: give the readers a bounded grace period.
    let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| {
        rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(5)).ok())
            .unwrap_or_default()
    };
    Outcome {
        cmdline: line,
        status,
        stdout: collect(out_rx),
        stderr: collect(err_rx),
        elapsed,
    }
}

/// Run `cmd` like [`run`] and panic with the full report unless it exits 0 in time.
pub fn run_ok(cmd: Command, timeout: Duration) -> Outcome {
    let outcome = run(cmd, timeout);
    assert!(
        outcome.success(),
        "external program failed\n{}",
        outcome.describe()
    );
    outcome
}

/// Waits at most `limit` for `child`, killing it past that (a test never hangs).
pub fn wait_output(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> std::process::Output {
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("did not finish within {limit:?}: {}", describe(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A finished child's status and output, for failure messages.
pub fn describe(out: &std::process::Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
