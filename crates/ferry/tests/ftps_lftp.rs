//! FTPS interop: lftp (GnuTLS) with `set ftp:ssl-force true; set ftp:ssl-protect-data
//! true`, trusting the server's generated certificate by `ssl:ca-file` (hostname checked
//! against the certificate's 127.0.0.1 SAN): `mirror -R` and `mirror` of a 50-file tree
//! with nested and UTF-8 names, in passive and active mode, and under
//! `--tls-session-reuse require` (lftp resumes the control session on data connections).
//! Every file is compared by sha256.

mod support;

use std::path::Path;
use std::time::Duration;

use support::tree::assert_same_tree;
use support::{tree_hashes, write_tree, Outcome, Server};

/// Settings that keep lftp bounded, make any failed command fail the run, and force FTPS
/// with protected data and a verified certificate.
fn settings(server: &Server, passive: bool) -> String {
    let mut s = format!(
        "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
         set net:persist-retries 0; set cmd:fail-exit yes; set xfer:clobber on; \
         set ftp:ssl-force true; set ftp:ssl-protect-data true; \
         set ssl:verify-certificate yes; set ssl:ca-file \"{}\"; ",
        server.cafile().display()
    );
    s.push_str(if passive {
        "set ftp:passive-mode on; "
    } else {
        "set ftp:passive-mode off; set ftp:port-range 1024-65535; "
    });
    s
}

/// Run `lftp -d -c "<settings> open ...; <script>"` and panic with its output on failure.
fn lftp(server: &Server, passive: bool, script: &str) -> Outcome {
    let full = format!(
        "{}open -u {},{} ftp://{}:{}; {script}",
        settings(server, passive),
        support::USER,
        support::PASS,
        server.host(),
        server.port()
    );
    let mut cmd = support::program("lftp");
    cmd.arg("-d").arg("-c").arg(&full);
    let out = support::run(cmd, Duration::from_secs(120));
    assert!(
        out.success(),
        "lftp failed\n{}\n{}",
        out.describe(),
        server.logs()
    );
    out
}

fn path_arg(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

/// lftp's debug output (stderr) must show FTPS with protected data.
fn assert_ftps(out: &Outcome) {
    let err = out.stderr_text();
    for needle in ["AUTH TLS", "PROT P"] {
        assert!(
            err.contains(needle),
            "lftp did not send {needle}\n{}",
            out.describe()
        );
    }
    assert!(
        !err.contains("PROT C"),
        "lftp fell back to clear data\n{}",
        out.describe()
    );
}

fn mirror_both_ways(server: &Server, passive: bool, seed: u64) {
    let parallel = if passive {
        "--parallel=3"
    } else {
        "--parallel=1"
    };
    let src = server.local().join("src");
    let expected = write_tree(&src, 50, seed);
    assert_eq!(expected.len(), 50);

    let out = lftp(
        server,
        passive,
        &format!("mirror -R {parallel} {} /up", path_arg(&src)),
    );
    assert_ftps(&out);
    assert_same_tree(
        "FTPS mirror -R (server root/up)",
        &expected,
        &tree_hashes(&server.root().join("up")),
    );

    let down = server.local().join("down");
    let out = lftp(
        server,
        passive,
        &format!("mirror {parallel} /up {}", path_arg(&down)),
    );
    assert_ftps(&out);
    assert_same_tree("FTPS mirror (local copy)", &expected, &tree_hashes(&down));
}

#[test]
fn lftp_ftps_mirror_50_files_both_ways_passive() {
    let server = Server::builder().ftps(&[]).start();
    mirror_both_ways(&server, true, 30);
}

#[test]
fn lftp_ftps_mirror_50_files_both_ways_active() {
    let server = Server::builder().ftps(&[]).start();
    mirror_both_ways(&server, false, 31);
}

#[test]
fn lftp_ftps_mirror_under_session_reuse_require_and_tls_required() {
    let server = Server::builder()
        .ftps(&[
            "--tls",
            "required",
            "--tls-data",
            "required",
            "--tls-session-reuse",
            "require",
        ])
        .start();
    mirror_both_ways(&server, true, 32);
}

#[test]
fn lftp_refuses_a_certificate_it_does_not_trust() {
    // The suite's certificate checks are real: without the CA file lftp must fail.
    let server = Server::builder().ftps(&[]).start();
    let full = format!(
        "set net:max-retries 1; set net:timeout 5; set cmd:fail-exit yes; \
         set ftp:ssl-force true; set ssl:verify-certificate yes; \
         set ssl:ca-file \"{}\"; open -u {},{} ftp://{}:{}; ls",
        // Any PEM bundle that does not contain the server's certificate.
        "/dev/null",
        support::USER,
        support::PASS,
        server.host(),
        server.port()
    );
    let mut cmd = support::program("lftp");
    cmd.arg("-c").arg(&full);
    let out = support::run(cmd, Duration::from_secs(60));
    assert!(
        !out.success(),
        "lftp accepted an untrusted certificate\n{}",
        out.describe()
    );
}
