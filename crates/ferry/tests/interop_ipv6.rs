//! Interop over IPv6 (`--listen [::1]:0`): curl (EPSV and EPRT) and the ftplib suite.

mod support;

use std::time::Duration;

use support::process::DEFAULT_TIMEOUT;
use support::tree::Rng;
use support::{curl, sha256_bytes, sha256_file, write_file, Outcome, Server};

fn ipv6_server() -> Server {
    let server = Server::builder().listen("[::1]:0").start();
    assert!(server.addr().is_ipv6(), "listening on {}", server.addr());
    server
}

fn run_curl(server: &Server, cmd: std::process::Command) -> Outcome {
    let out = support::run(cmd, DEFAULT_TIMEOUT);
    assert!(
        out.success(),
        "curl failed\n{}\n{}",
        out.describe(),
        server.logs()
    );
    out
}

fn sent(out: &Outcome, prefix: &str) -> bool {
    out.stderr_text()
        .lines()
        .any(|l| l.strip_prefix("> ").is_some_and(|c| c.starts_with(prefix)))
}

#[test]
fn curl_round_trip_over_ipv6_with_epsv_and_eprt() {
    let server = ipv6_server();
    let mut rng = Rng::new(60);
    let data = rng.bytes(700_000);
    write_file(&server.root(), "v6.bin", &data);

    // Passive: EPSV (PASV does not exist for IPv6).
    let dest = server.local().join("v6.bin");
    let mut cmd = curl();
    cmd.arg("-g")
        .arg("-o")
        .arg(&dest)
        .arg(server.url("/v6.bin"));
    let out = run_curl(&server, cmd);
    assert!(sent(&out, "EPSV"), "no EPSV\n{}", out.describe());
    assert_eq!(sha256_file(&dest), sha256_bytes(&data));

    let up = rng.bytes(300_000);
    write_file(&server.local(), "up6.bin", &up);
    let mut cmd = curl();
    cmd.arg("-g")
        .arg("-T")
        .arg(server.local().join("up6.bin"))
        .arg(server.url("/up6.bin"));
    run_curl(&server, cmd);
    assert_eq!(
        sha256_file(&server.root().join("up6.bin")),
        sha256_bytes(&up)
    );

    // Active: EPRT |2|::1|port|.
    let dest = server.local().join("v6-active.bin");
    let mut cmd = curl();
    cmd.args(["-g", "--ftp-port", "-", "-o"])
        .arg(&dest)
        .arg(server.url("/v6.bin"));
    let out = run_curl(&server, cmd);
    assert!(sent(&out, "EPRT |2|::1|"), "no EPRT\n{}", out.describe());
    assert_eq!(sha256_file(&dest), sha256_bytes(&data));

    let mut cmd = curl();
    cmd.args(["-g", "--ftp-port", "-"]).arg(server.url("/"));
    let out = run_curl(&server, cmd);
    assert!(out.stdout_text().contains("up6.bin"), "{}", out.describe());
}

#[test]
fn ftplib_suite_over_ipv6() {
    let server = ipv6_server();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ftplib_suite.py");
    let mut cmd = support::program("python3");
    cmd.arg(script)
        .arg(server.host())
        .arg(server.port().to_string())
        .arg(support::USER)
        .arg(support::PASS);
    let out = support::run(cmd, Duration::from_secs(180));
    assert!(
        out.success() && out.stdout_text().contains("ftplib suite: all steps passed"),
        "ftplib suite over IPv6 failed\n{}\n{}",
        out.describe(),
        server.logs()
    );
}

#[test]
fn dual_stack_listeners_serve_both_families() {
    let server = Server::builder()
        .listen("127.0.0.1:0")
        .listen("[::1]:0")
        .start();
    assert_eq!(server.addrs().len(), 2, "two listening lines");
    write_file(&server.root(), "both.txt", b"both\n");
    for addr in server.addrs() {
        let mut cmd = curl();
        cmd.arg("-g")
            .arg(support::server::url_for(*addr, "/both.txt"));
        let out = run_curl(&server, cmd);
        assert_eq!(out.stdout, b"both\n", "via {addr}");
    }
}
