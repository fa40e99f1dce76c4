//! Interop: Python's ftplib drives every verb of `ferry serve` (tests/python/ftplib_suite.py).

mod support;

use std::time::Duration;

use support::Server;

/// Run the ftplib suite against `server` and panic with its output on failure.
pub fn run_ftplib_suite(server: &Server) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ftplib_suite.py");
    let mut cmd = support::program("python3");
    cmd.arg(script)
        .arg(server.host())
        .arg(server.port().to_string())
        .arg(support::USER)
        .arg(support::PASS);
    // Skipping checks is only for validating the suite against a reference server: against
    // Ferry every check must run, whatever the environment says.
    if std::env::var_os("FERRY_TEST_SERVER_CMD").is_none() {
        cmd.env_remove("FTPLIB_SUITE_SKIP");
    }
    let out = support::run(cmd, Duration::from_secs(180));
    assert!(
        out.success(),
        "ftplib suite failed\n{}\n{}",
        out.describe(),
        server.logs()
    );
    assert!(
        out.stdout_text().contains("ftplib suite: all steps passed"),
        "ftplib suite did not finish\n{}",
        out.describe()
    );
}

#[test]
fn ftplib_suite_over_ipv4() {
    let server = Server::start();
    run_ftplib_suite(&server);
    // What the suite left behind is visible on disk as written.
    let text = std::fs::read(server.root().join("text.txt")).expect("text.txt in the root");
    assert_eq!(text, b"line1\nline2\n\nline4\n", "TYPE A upload on disk");
    assert!(server.root().join("dir one/inner.txt").is_file());
    assert!(server.root().join("ünïcödé файл.bin").is_file());
    assert!(!server.root().join("big.bin").exists(), "DELE big.bin");
}
