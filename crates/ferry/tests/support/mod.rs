//! Shared helpers for the interop and hostile-input tests.
//!
//! Every test binary includes this with `mod support;`. It offers:
//! - [`server`]: start `ferry serve` (or, for checking the tests themselves, the reference
//!   server named by `FERRY_TEST_SERVER_CMD`) on a temporary root and stop it on drop;
//! - [`process`]: run an external program with a hard timeout, failing with the Debian
//!   package to install when the program is missing;
//! - [`tree`]: generate test trees (random content, spaces and UTF-8 names) and hash them;
//! - [`raw`]: a tiny blocking FTP control client for hand-written (hostile) exchanges;
//! - [`ftps`]: curl with the generated certificate, the Python FTPS scripts;
//! - [`users`]: users files with a known password and per-account policies.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code, unused_imports)]

pub mod ftps;
pub mod peers;
pub mod process;
pub mod raw;
pub mod server;
pub mod tree;
pub mod users;

pub use process::{program, run, run_ok, Outcome};
pub use server::{Server, ServerBuilder};
pub use tree::{sha256_bytes, sha256_file, tree_hashes, write_file, write_tree};

/// The user most tests log in as (read-write).
pub const USER: &str = "alice";
/// The password of [`USER`].
pub const PASS: &str = "secret";

/// `curl` with no user config (`-q`), quiet but showing errors, verbose protocol lines on
/// stderr (`-v`, so tests can check which commands were used), bounded times, and
/// `alice:secret`.
pub fn curl() -> std::process::Command {
    let mut c = program("curl");
    c.args([
        "-q",
        "--silent",
        "--show-error",
        "--verbose",
        "--max-time",
        "50",
        "--connect-timeout",
        "10",
        "--user",
    ]);
    c.arg(format!("{USER}:{PASS}"));
    c
}
