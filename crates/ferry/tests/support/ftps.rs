//! FTPS helpers: curl with the server's generated certificate, the Python FTPS scripts
//! (`tests/python/ftps_*.py`), and checking the `uploaded: SHA256 NAME` lines they print
//! against the server's root.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::process::{program, run, Outcome};
use super::server::Server;
use super::tree::sha256_file;

/// Hard timeout for one Python FTPS script run.
pub const PYTHON_TIMEOUT: Duration = Duration::from_secs(120);

/// [`super::curl`] trusting the server's generated certificate (`--cacert`), with
/// `--ssl-reqd` (explicit FTPS: AUTH, then PBSZ 0 and PROT P).
pub fn curl_ftps(server: &Server) -> Command {
    let mut c = super::curl();
    c.arg("--cacert").arg(server.cafile()).arg("--ssl-reqd");
    c
}

/// `python3 tests/python/<script> HOST PORT USER PASS CAFILE <args>`, run to completion.
///
/// `FTPS_SKIP` (turning named checks into warnings) is passed through only when the suite
/// runs against a reference server (`FERRY_TEST_SERVER_CMD`); against Ferry every check
/// runs.
pub fn python_ftps(server: &Server, script: &str, args: &[&str]) -> Outcome {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut cmd = program("python3");
    cmd.arg(path)
        .arg(server.host())
        .arg(server.port().to_string())
        .arg(super::USER)
        .arg(super::PASS)
        .arg(server.cafile())
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if std::env::var_os("FERRY_TEST_SERVER_CMD").is_none() {
        cmd.env_remove("FTPS_SKIP");
    }
    run(cmd, PYTHON_TIMEOUT)
}

/// Run a Python FTPS script and panic (with its output and the server's logs) unless it
/// exits 0 and prints `done_marker`.
pub fn python_ftps_ok(server: &Server, script: &str, args: &[&str], done_marker: &str) -> Outcome {
    let out = python_ftps(server, script, args);
    assert!(
        out.success() && out.stdout_text().contains(done_marker),
        "{script} {args:?} failed\n{}\n{}",
        out.describe(),
        server.logs()
    );
    out
}

/// Every `uploaded: SHA256 NAME` line of a script's output must match the file NAME in the
/// server's root; returns how many were checked.
pub fn check_uploaded(server: &Server, out: &Outcome) -> usize {
    let mut n = 0;
    for line in out.stdout_text().lines() {
        let Some(rest) = line.strip_prefix("uploaded: ") else {
            continue;
        };
        let Some((hash, name)) = rest.split_once(' ') else {
            panic!("bad uploaded line {line:?}");
        };
        let path = server.root().join(name);
        assert!(
            path.is_file(),
            "uploaded file {name:?} is not in the server root\n{}",
            out.describe()
        );
        assert_eq!(
            sha256_file(&path),
            hash,
            "sha256 of {name:?} on the server differs from what the client sent"
        );
        n += 1;
    }
    n
}
