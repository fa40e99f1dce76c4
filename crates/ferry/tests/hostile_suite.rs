//! The hostile-input suite of issue 6 (tests/python/hostile_suite.py) against `ferry serve`,
//! every group of cases in two modes: plain FTP (`--tls off`) and FTPS required
//! (`--tls required`, self-signed certificate in a temporary `--state-dir`; the clients do
//! AUTH TLS, PBSZ 0, PROT P with certificate verification off).
//!
//! One test per group and mode, each with its own server started with the options the group
//! needs, so a failure names the group and mode, and the script's output lists every case
//! (`ok: MODE/GROUP/CASE` or `FAIL: MODE/GROUP/CASE: why`). What each group covers:
//! - bounce: PORT/EPRT to other addresses, privileged ports, port 0, > 65535, malformed
//!   forms; PASV/EPSV connection theft from 127.0.0.2 for downloads and uploads;
//! - paths: traversal (`..`, absolute, encoded, backslashes, symlinks out of the root) for
//!   RETR, CWD, LIST/NLST/MLSD/STAT/MLST, STOR/APPE/MKD, DELE/RMD, RNFR/RNTO; NUL bytes;
//! - lines: CRLF, bare CR/LF and Telnet IAC injection, overlong lines around
//!   `--max-line-length` (8192), an HTTP request on the control port, STARTTLS injection
//!   (tls), CCC refused without `--allow-ccc`;
//! - transfers: REST past the end for RETR (554) and STOR (zeros fill the gap; impossible
//!   offsets 554), 10 concurrent STORs of one name, connections reset mid-download and
//!   mid-upload;
//! - readonly: a `:ro` account cannot write; dirperms: a users-file `[[user.dir]]` rule
//!   (`/ro` list+read) for STOR/APPE/DELE/MKD/RNFR/RNTO, also through a symlink;
//! - floods (`--max-sessions-per-ip 10`): unknown commands and pre-login floods past
//!   `--max-bad-commands` (20), idle connections past the per-address limit, 200
//!   connections at once; slowloris (`--login-timeout 3`); bruteforce (`--ban-after 5
//!   --login-fail-delay 0`); tlspolicy (tls only, `--tls-data required --allow-ccc`): PROT C
//!   after PROT P, CCC.
//!
//! After every case the script checks that a fresh session logs in and downloads a file
//! intact, that nothing next to the root changed (sentinel file and directory) and that the
//! files the group keeps have their sha256.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::process::{describe, wait_output};
use support::{Server, ServerBuilder};

/// Hard limit for one run of the script (each group takes well under a minute).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(170);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Tls,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Tls => "tls",
        }
    }
}

/// A server builder for `mode` with the options every group shares: no per-address login
/// rate limit (the suite logs in after every case; brute force is tested on its own).
fn builder(mode: Mode) -> ServerBuilder {
    let b = Server::builder().args(&["--max-logins-per-minute", "0"]);
    match mode {
        Mode::Plain => b,
        Mode::Tls => b.ftps(&["--tls", "required"]),
    }
}

/// Runs one group of hostile_suite.py against `server` and panics, with the script's
/// output and the server's logs, unless every case passed.
fn run_group(server: &Server, mode: Mode, group: &str, extra: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/hostile_suite.py");
    let mut cmd = support::program("python3");
    cmd.arg(script)
        .args(["--host", &server.host()])
        .args(["--port", &server.port().to_string()])
        .args(["--mode", mode.name(), "--group", group])
        .arg("--root")
        .arg(server.root())
        .arg("--outside")
        .arg(server.outside())
        .args(extra)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    // Skipping checks is only for validating the suite against a reference server.
    if std::env::var_os("FERRY_TEST_SERVER_CMD").is_none() {
        cmd.env_remove("HOSTILE_SKIP");
    }
    let out = support::run(cmd, SCRIPT_TIMEOUT);
    let done = format!("hostile suite: {} {group}: all ", mode.name());
    assert!(
        out.success() && out.stdout_text().contains(&done),
        "hostile suite, {} mode, group {group}: failed cases are the FAIL lines\n{}\n{}",
        mode.name(),
        out.describe(),
        server.logs()
    );
}

fn default_group(mode: Mode, group: &str) {
    let server = builder(mode).start();
    run_group(&server, mode, group, &[]);
}

fn readonly(mode: Mode) {
    let server = builder(mode)
        .user(&format!("{}:{}:rw", support::USER, support::PASS))
        .user("ro:pw:ro")
        .start();
    run_group(
        &server,
        mode,
        "readonly",
        &["--ro-user", "ro", "--ro-password", "pw"],
    );
}

/// A users file with `dp` (password `dppw`, read-write, home = the server's root) whose
/// `/ro` directory is list+read only, written by `ferry user add` plus a `[[user.dir]]`.
fn dirperms_users_file(dir: &Path) -> PathBuf {
    let path = dir.join("users.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["user", "add", "dp", "--password-stdin", "--file"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferry user add");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(b"dppw\n").expect("write the password");
    }
    let out = wait_output(child, Duration::from_secs(30));
    assert!(out.status.success(), "ferry user add: {}", describe(&out));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open the users file");
    file.write_all(b"\n[[user.dir]]\npath = \"/ro\"\npermissions = [\"list\", \"read\"]\n")
        .expect("append the directory rule");
    path
}

fn dirperms(mode: Mode) {
    let dir = tempfile::tempdir().expect("temp dir");
    let users = dirperms_users_file(dir.path());
    let users = users.to_str().expect("UTF-8 temp path");
    let server = builder(mode).args(&["--users-file", users]).start();
    run_group(
        &server,
        mode,
        "dirperms",
        &["--user", "dp", "--password", "dppw"],
    );
}

fn floods(mode: Mode) {
    let server = builder(mode)
        .args(&["--max-sessions-per-ip", "10", "--max-bad-commands", "20"])
        .start();
    run_group(&server, mode, "floods", &["--limit", "10"]);
}

fn slowloris(mode: Mode) {
    let server = builder(mode).args(&["--login-timeout", "3"]).start();
    run_group(&server, mode, "slowloris", &["--login-timeout", "3"]);
}

fn bruteforce(mode: Mode) {
    let server = builder(mode)
        .args(&["--ban-after", "5", "--login-fail-delay", "0"])
        .start();
    run_group(&server, mode, "bruteforce", &[]);
}

#[test]
fn plain_bounce() {
    default_group(Mode::Plain, "bounce");
}

#[test]
fn tls_bounce() {
    default_group(Mode::Tls, "bounce");
}

#[test]
fn plain_paths() {
    default_group(Mode::Plain, "paths");
}

#[test]
fn tls_paths() {
    default_group(Mode::Tls, "paths");
}

#[test]
fn plain_lines() {
    default_group(Mode::Plain, "lines");
}

#[test]
fn tls_lines() {
    default_group(Mode::Tls, "lines");
}

#[test]
fn plain_transfers() {
    default_group(Mode::Plain, "transfers");
}

#[test]
fn tls_transfers() {
    default_group(Mode::Tls, "transfers");
}

#[test]
fn plain_readonly() {
    readonly(Mode::Plain);
}

#[test]
fn tls_readonly() {
    readonly(Mode::Tls);
}

#[test]
fn plain_dirperms() {
    dirperms(Mode::Plain);
}

#[test]
fn tls_dirperms() {
    dirperms(Mode::Tls);
}

#[test]
fn plain_floods() {
    floods(Mode::Plain);
}

#[test]
fn tls_floods() {
    floods(Mode::Tls);
}

#[test]
fn plain_slowloris() {
    slowloris(Mode::Plain);
}

#[test]
fn tls_slowloris() {
    slowloris(Mode::Tls);
}

#[test]
fn plain_bruteforce() {
    bruteforce(Mode::Plain);
}

#[test]
fn tls_bruteforce() {
    bruteforce(Mode::Tls);
}

#[test]
fn tls_tlspolicy() {
    let server = builder(Mode::Tls)
        .args(&["--tls-data", "required", "--allow-ccc"])
        .start();
    run_group(&server, Mode::Tls, "tlspolicy", &[]);
}
