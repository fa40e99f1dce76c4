//! FTPS interop: Python's `ftplib.FTP_TLS` with `prot_p()` (tests/python/ftps_ftplib.py).
//!
//! - plain `FTP_TLS` (a fresh TLS session on every data connection) under the default
//!   policy, passive and active (`set_pasv(False)`);
//! - a subclass that wraps data sockets with `session=self.sock.session` under
//!   `--tls-session-reuse require`, with TLS 1.2 and TLS 1.3, passive and active: every data
//!   connection must resume the control session (checked on the client side);
//! - plain `FTP_TLS` under `require`: every transfer is refused with 522 naming session
//!   reuse, and the session stays usable.
//!
//! The scripts check every transfer by sha256 and that the server ends each TLS data
//! connection and the control connection with close_notify; the uploads are checked again
//! here against the files on disk.

mod support;

use support::ftps::{check_uploaded, python_ftps_ok};
use support::tree::Rng;
use support::{write_file, Server};

const SCRIPT: &str = "ftps_ftplib.py";
const DONE: &str = "ftps ftplib: all steps passed";

fn run_mode(server: &Server, mode: &str, min_uploads: usize) {
    let out = python_ftps_ok(server, SCRIPT, &[mode], DONE);
    let checked = check_uploaded(server, &out);
    assert!(
        checked >= min_uploads,
        "{mode}: only {checked} uploads reported\n{}",
        out.describe()
    );
}

#[test]
fn ftplib_ftps_plain_passive_default_policy() {
    let server = Server::builder().ftps(&[]).start();
    run_mode(&server, "plain", 2);
}

#[test]
fn ftplib_ftps_plain_active_default_policy() {
    let server = Server::builder().ftps(&[]).start();
    run_mode(&server, "active", 2);
}

#[test]
fn ftplib_ftps_session_reuse_required_tls12() {
    let server = Server::builder()
        .ftps(&["--tls-session-reuse", "require"])
        .start();
    run_mode(&server, "reuse-tls12", 7);
}

#[test]
fn ftplib_ftps_session_reuse_required_tls13() {
    let server = Server::builder()
        .ftps(&["--tls-session-reuse", "require"])
        .start();
    run_mode(&server, "reuse-tls13", 7);
}

#[test]
fn ftplib_ftps_session_reuse_required_active() {
    let server = Server::builder()
        .ftps(&["--tls-session-reuse", "require"])
        .start();
    run_mode(&server, "reuse-active", 7);
}

#[test]
fn ftplib_ftps_fresh_session_refused_under_reuse_require() {
    let server = Server::builder()
        .ftps(&["--tls-session-reuse", "require"])
        .start();
    let seed = Rng::new(40).bytes(200_000);
    write_file(&server.root(), "seed.bin", &seed);
    python_ftps_ok(&server, SCRIPT, &["fresh-refused"], DONE);
    // The refused download left the file alone.
    assert_eq!(
        std::fs::read(server.root().join("seed.bin")).expect("seed.bin"),
        seed
    );
}
