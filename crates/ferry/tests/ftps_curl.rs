//! FTPS interop: curl against `ferry serve` with TLS: explicit FTPS (`--ssl-reqd`: AUTH,
//! PBSZ 0, PROT P) over EPSV and PASV, implicit `ftps://`, active PORT, and session reuse
//! under `--tls-session-reuse require`; listing, download, upload and resume both ways,
//! each with TLS 1.2 (`--tls-max 1.2`) and TLS 1.3 (`--tlsv1.3`), and several transfers on
//! one control connection (`--next`). Every transfer is
//! checked by sha256.
//!
//! Active mode: curl 7.88 (Debian 12) never puts TLS on an active-mode data connection,
//! even after sending `PROT P` (curl issue 10666). So active FTPS with curl is tested the
//! way it can work, with `--ftp-ssl-control` (TLS on the control connection, `PROT C`, clear
//! data), and the broken combination (`--ssl-reqd` + `--ftp-port`) is tested for safety
//! only: it must fail, and no cleartext may pass as if it were protected. Active FTPS with
//! protected data is tested with lftp and Python ftplib (ftps_lftp.rs, ftps_ftplib.rs).

mod support;

use std::process::Command;
use std::time::Duration;

use support::ftps::curl_ftps;
use support::process::DEFAULT_TIMEOUT;
use support::tree::Rng;
use support::{sha256_bytes, sha256_file, write_file, Outcome, Server};

/// Which TLS version curl may use.
#[derive(Debug, Clone, Copy)]
enum Tls {
    /// `--tls-max 1.2`.
    V12,
    /// `--tlsv1.3` (at least 1.3).
    V13,
}

impl Tls {
    fn args(self) -> &'static [&'static str] {
        match self {
            Tls::V12 => &["--tls-max", "1.2"],
            Tls::V13 => &["--tlsv1.3"],
        }
    }

    /// What curl's verbose output says once the handshake is done.
    fn shown(self) -> &'static str {
        match self {
            Tls::V12 => "SSL connection using TLSv1.2",
            Tls::V13 => "SSL connection using TLSv1.3",
        }
    }
}

/// How curl reaches the server.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Explicit FTPS, EPSV (curl's default).
    Epsv,
    /// Explicit FTPS, PASV (`--disable-epsv`).
    Pasv,
    /// Implicit FTPS (`ftps://` to the `--implicit-listen` port), EPSV.
    Implicit,
}

fn run_curl(server: &Server, cmd: Command) -> Outcome {
    let out = support::run(cmd, DEFAULT_TIMEOUT);
    assert!(
        out.success(),
        "curl failed\n{}\n{}",
        out.describe(),
        server.logs()
    );
    out
}

/// Whether curl's verbose output shows it sent a command starting with `prefix`.
fn sent(out: &Outcome, prefix: &str) -> bool {
    out.stderr_text()
        .lines()
        .any(|l| l.strip_prefix("> ").is_some_and(|c| c.starts_with(prefix)))
}

/// Whether curl's verbose output shows a reply starting with `prefix`.
fn got(out: &Outcome, prefix: &str) -> bool {
    out.stderr_text()
        .lines()
        .any(|l| l.strip_prefix("< ").is_some_and(|c| c.starts_with(prefix)))
}

/// curl for `mode` and `tls`, and the URL of `path` on the server.
fn curl_for(server: &Server, mode: Mode, tls: Tls, path: &str) -> (Command, String) {
    let mut cmd = curl_ftps(server);
    cmd.args(tls.args());
    let url = match mode {
        Mode::Epsv => server.url(path),
        Mode::Pasv => {
            cmd.arg("--disable-epsv");
            server.url(path)
        }
        Mode::Implicit => server.ftps_url(path),
    };
    (cmd, url)
}

/// The checks every curl transfer must pass: the TLS version, protected data, the data
/// connection command of `mode`.
fn assert_protected(out: &Outcome, mode: Mode, tls: Tls) {
    let err = out.stderr_text();
    assert!(
        err.contains(tls.shown()),
        "curl did not negotiate {}\n{}",
        tls.shown(),
        out.describe()
    );
    if !matches!(mode, Mode::Implicit) {
        assert!(
            sent(out, "AUTH SSL") || sent(out, "AUTH TLS"),
            "curl sent no AUTH\n{}",
            out.describe()
        );
        assert!(got(out, "234"), "no 234 to AUTH\n{}", out.describe());
    }
    assert!(sent(out, "PBSZ 0"), "no PBSZ 0\n{}", out.describe());
    assert!(sent(out, "PROT P"), "no PROT P\n{}", out.describe());
    match mode {
        Mode::Epsv | Mode::Implicit => {
            assert!(sent(out, "EPSV"), "no EPSV\n{}", out.describe());
        }
        Mode::Pasv => {
            assert!(sent(out, "PASV"), "no PASV\n{}", out.describe());
            assert!(!sent(out, "EPSV"), "EPSV despite --disable-epsv");
        }
    }
}

/// Listing, download, upload, resumed download and resumed upload over FTPS.
fn transfers(server: &Server, mode: Mode, tls: Tls, seed: u64) {
    let mut rng = Rng::new(seed);
    let big = rng.bytes(3 * 1024 * 1024 + 11);
    write_file(&server.root(), "big.bin", &big);
    write_file(&server.root(), "with space.txt", b"space\n");
    write_file(&server.root(), "ünïcödé/inner.bin", &[1, 2, 3]);

    // Listing.
    let (mut cmd, url) = curl_for(server, mode, tls, "/");
    cmd.arg(url);
    let out = run_curl(server, cmd);
    assert_protected(&out, mode, tls);
    let text = out.stdout_text();
    for name in ["big.bin", "with space.txt", "ünïcödé"] {
        assert!(
            text.lines().any(|l| l.ends_with(name)),
            "listing lacks {name:?}\n{}",
            out.describe()
        );
    }

    // Download.
    let dest = server.local().join("big.bin");
    let (mut cmd, url) = curl_for(server, mode, tls, "/big.bin");
    cmd.arg("-o").arg(&dest).arg(url);
    let out = run_curl(server, cmd);
    assert_protected(&out, mode, tls);
    assert_eq!(sha256_file(&dest), sha256_bytes(&big), "download sha256");

    // Upload.
    let up = rng.bytes(2 * 1024 * 1024 + 5);
    write_file(&server.local(), "up.bin", &up);
    let (mut cmd, url) = curl_for(server, mode, tls, "/up%20load.bin");
    cmd.arg("-T").arg(server.local().join("up.bin")).arg(url);
    let out = run_curl(server, cmd);
    assert_protected(&out, mode, tls);
    assert_eq!(
        sha256_file(&server.root().join("up load.bin")),
        sha256_bytes(&up),
        "upload sha256"
    );

    // Resumed download: the local file holds the first 1 000 000 bytes.
    let cut = 1_000_000;
    write_file(&server.local(), "resume.bin", &big[..cut]);
    let dest = server.local().join("resume.bin");
    let (mut cmd, url) = curl_for(server, mode, tls, "/big.bin");
    cmd.args(["-C", "-", "-o"]).arg(&dest).arg(url);
    let out = run_curl(server, cmd);
    assert_protected(&out, mode, tls);
    assert!(
        sent(&out, &format!("REST {cut}")),
        "no REST {cut}\n{}",
        out.describe()
    );
    assert_eq!(sha256_file(&dest), sha256_bytes(&big), "resumed download");

    // Resumed upload: the server holds the first 700 000 bytes.
    write_file(&server.root(), "resume-up.bin", &up[..700_000]);
    let (mut cmd, url) = curl_for(server, mode, tls, "/resume-up.bin");
    cmd.arg("-T")
        .arg(server.local().join("up.bin"))
        .args(["-C", "-"])
        .arg(url);
    let out = run_curl(server, cmd);
    assert_protected(&out, mode, tls);
    assert!(sent(&out, "SIZE"), "no SIZE\n{}", out.describe());
    assert_eq!(
        sha256_file(&server.root().join("resume-up.bin")),
        sha256_bytes(&up),
        "resumed upload"
    );
}

fn ftps_server() -> Server {
    Server::builder()
        .ftps(&[])
        .implicit_listen("127.0.0.1:0")
        .start()
}

#[test]
fn curl_explicit_ftps_epsv_tls12() {
    transfers(&ftps_server(), Mode::Epsv, Tls::V12, 1);
}

#[test]
fn curl_explicit_ftps_epsv_tls13() {
    transfers(&ftps_server(), Mode::Epsv, Tls::V13, 2);
}

#[test]
fn curl_explicit_ftps_pasv_tls12() {
    transfers(&ftps_server(), Mode::Pasv, Tls::V12, 3);
}

#[test]
fn curl_explicit_ftps_pasv_tls13() {
    transfers(&ftps_server(), Mode::Pasv, Tls::V13, 4);
}

#[test]
fn curl_implicit_ftps_tls12() {
    transfers(&ftps_server(), Mode::Implicit, Tls::V12, 5);
}

#[test]
fn curl_implicit_ftps_tls13() {
    transfers(&ftps_server(), Mode::Implicit, Tls::V13, 6);
}

/// curl keeps TLS sessions and resumes the control session on data connections, so it
/// works under `--tls-session-reuse require` (download and upload, both TLS versions).
#[test]
fn curl_works_under_session_reuse_require() {
    let server = Server::builder()
        .ftps(&["--tls-session-reuse", "require"])
        .start();
    let mut rng = Rng::new(7);
    let data = rng.bytes(1024 * 1024 + 1);
    write_file(&server.root(), "seed.bin", &data);
    for (i, tls) in [Tls::V12, Tls::V13].into_iter().enumerate() {
        for mode in [Mode::Epsv, Mode::Pasv] {
            let dest = server.local().join(format!("got{i}.bin"));
            let (mut cmd, url) = curl_for(&server, mode, tls, "/seed.bin");
            cmd.arg("-o").arg(&dest).arg(url);
            let out = run_curl(&server, cmd);
            assert_protected(&out, mode, tls);
            assert_eq!(sha256_file(&dest), sha256_bytes(&data), "{tls:?} download");

            let (mut cmd, url) = curl_for(&server, mode, tls, &format!("/up{i}.bin"));
            cmd.arg("-T").arg(&dest).arg(url);
            let out = run_curl(&server, cmd);
            assert_protected(&out, mode, tls);
            assert_eq!(
                sha256_file(&server.root().join(format!("up{i}.bin"))),
                sha256_bytes(&data),
                "{tls:?} upload"
            );
        }
    }
}

/// Active mode as curl 7.88 can do it: TLS on the control connection only
/// (`--ftp-ssl-control` sends `PROT C`), PORT, clear data, under the default policy.
fn active_control_only(tls: Tls, seed: u64) {
    let server = ftps_server();
    let mut rng = Rng::new(seed);
    let data = rng.bytes(1024 * 1024 + 3);
    write_file(&server.root(), "a.bin", &data);
    let active = |cmd: &mut Command| {
        cmd.args([
            "--ftp-ssl-control",
            "--ftp-port",
            "127.0.0.1",
            "--disable-eprt",
        ])
        .args(tls.args());
    };

    let mut cmd = support::curl();
    cmd.arg("--cacert").arg(server.cafile());
    active(&mut cmd);
    cmd.arg(server.url("/"));
    let out = run_curl(&server, cmd);
    assert!(
        out.stderr_text().contains(tls.shown()),
        "{}",
        out.describe()
    );
    assert!(sent(&out, "PROT C"), "no PROT C\n{}", out.describe());
    assert!(sent(&out, "PORT 127,0,0,1,"), "no PORT\n{}", out.describe());
    assert!(out.stdout_text().contains("a.bin"), "{}", out.describe());

    let dest = server.local().join("a.bin");
    let mut cmd = support::curl();
    cmd.arg("--cacert").arg(server.cafile());
    active(&mut cmd);
    cmd.arg("-o").arg(&dest).arg(server.url("/a.bin"));
    run_curl(&server, cmd);
    assert_eq!(sha256_file(&dest), sha256_bytes(&data), "active download");

    let mut cmd = support::curl();
    cmd.arg("--cacert").arg(server.cafile());
    active(&mut cmd);
    cmd.arg("-T").arg(&dest).arg(server.url("/b.bin"));
    run_curl(&server, cmd);
    assert_eq!(
        sha256_file(&server.root().join("b.bin")),
        sha256_bytes(&data),
        "active upload"
    );
}

#[test]
fn curl_active_port_tls_control_clear_data_tls12() {
    active_control_only(Tls::V12, 8);
}

#[test]
fn curl_active_port_tls_control_clear_data_tls13() {
    active_control_only(Tls::V13, 9);
}

/// Under `--tls-data required`, curl's clear active data (`PROT C`) is refused with 521.
#[test]
fn curl_clear_data_is_refused_under_tls_data_required() {
    let server = Server::builder().ftps(&["--tls-data", "required"]).start();
    write_file(&server.root(), "a.bin", b"secret data\n");
    let dest = server.local().join("a.bin");
    let mut cmd = support::curl();
    cmd.arg("--cacert")
        .arg(server.cafile())
        .args([
            "--ftp-ssl-control",
            "--ftp-port",
            "127.0.0.1",
            "--disable-eprt",
        ])
        .arg("-o")
        .arg(&dest)
        .arg(server.url("/a.bin"));
    let out = support::run(cmd, DEFAULT_TIMEOUT);
    assert!(!out.success(), "clear download allowed\n{}", out.describe());
    assert!(got(&out, "521"), "no 521 reply\n{}", out.describe());
    assert!(
        std::fs::read(&dest).map(|d| d.is_empty()).unwrap_or(true),
        "data arrived in clear"
    );
}

/// The broken combination: `--ssl-reqd` (PROT P) in active mode, where curl 7.88 does not
/// start TLS on the data connection. It cannot work; it must fail within bounds, and the
/// server must neither send file data in clear nor store curl's cleartext as the upload.
#[test]
fn curl_active_with_prot_p_fails_without_cleartext() {
    let server = Server::builder().ftps(&["--data-timeout", "3"]).start();
    let data = Rng::new(10).bytes(300_000);
    write_file(&server.root(), "secret.bin", &data);
    write_file(&server.local(), "secret-up.bin", &data);

    let dest = server.local().join("got.bin");
    let mut cmd = curl_ftps(&server);
    cmd.args([
        "--ftp-port",
        "127.0.0.1",
        "--disable-eprt",
        "--max-time",
        "20",
    ])
    .arg("-o")
    .arg(&dest)
    .arg(server.url("/secret.bin"));
    let out = support::run(cmd, Duration::from_secs(40));
    assert!(sent(&out, "PROT P"), "no PROT P\n{}", out.describe());
    assert!(
        !out.success(),
        "curl says an active PROT P download worked without TLS on the data \
         connection\n{}",
        out.describe()
    );
    let received = std::fs::read(&dest).unwrap_or_default();
    for probe in [&data[..64], &data[100_000..100_064]] {
        assert!(
            !received.windows(64).any(|w| w == probe),
            "file data reached curl in clear after PROT P"
        );
    }

    let mut cmd = curl_ftps(&server);
    cmd.args([
        "--ftp-port",
        "127.0.0.1",
        "--disable-eprt",
        "--max-time",
        "20",
    ])
    .arg("-T")
    .arg(server.local().join("secret-up.bin"))
    .arg(server.url("/up.bin"));
    let out = support::run(cmd, Duration::from_secs(40));
    assert!(
        !out.success(),
        "curl says an active PROT P upload worked\n{}",
        out.describe()
    );
    let stored = std::fs::read(server.root().join("up.bin")).unwrap_or_default();
    assert!(
        stored.is_empty(),
        "the server stored {} bytes of cleartext sent after PROT P",
        stored.len()
    );
}

/// One curl run, one control connection (`--next` keeps it): download, two uploads, then a
/// download again, under the default policy. After an upload curl 7.88 has no TLS 1.3
/// ticket left (Ferry sends none on upload connections, see the README), so its later data
/// connections do full handshakes: the default (`accept`) must take them.
fn several_transfers_on_one_connection(tls: Tls, seed: u64) {
    let server = ftps_server();
    let mut rng = Rng::new(seed);
    let a = rng.bytes(700_001);
    let b = rng.bytes(300_003);
    write_file(&server.root(), "a.bin", &a);
    write_file(&server.local(), "b.bin", &b);
    let got1 = server.local().join("got1.bin");
    let got2 = server.local().join("got2.bin");

    let mut cmd = curl_ftps(&server);
    cmd.args(tls.args())
        .arg("-o")
        .arg(&got1)
        .arg(server.url("/a.bin"));
    let uploads = [
        (server.local().join("b.bin"), "/b1.bin"),
        (server.local().join("b.bin"), "/b2.bin"),
    ];
    for (file, path) in &uploads {
        cmd.arg("--next")
            .args(["--user", &format!("{}:{}", support::USER, support::PASS)])
            .arg("--cacert")
            .arg(server.cafile())
            .arg("--ssl-reqd")
            .args(tls.args())
            .arg("-T")
            .arg(file)
            .arg(server.url(path));
    }
    cmd.arg("--next")
        .args(["--user", &format!("{}:{}", support::USER, support::PASS)])
        .arg("--cacert")
        .arg(server.cafile())
        .arg("--ssl-reqd")
        .args(tls.args())
        .arg("-o")
        .arg(&got2)
        .arg(server.url("/a.bin"));
    let out = run_curl(&server, cmd);
    assert!(
        out.stderr_text().contains("Re-using existing connection"),
        "curl did not keep its control connection\n{}",
        out.describe()
    );
    assert_eq!(sha256_file(&got1), sha256_bytes(&a), "first download");
    assert_eq!(
        sha256_file(&got2),
        sha256_bytes(&a),
        "download after uploads"
    );
    for (_, path) in &uploads {
        assert_eq!(
            sha256_file(&server.root().join(path.trim_start_matches('/'))),
            sha256_bytes(&b),
            "upload {path}"
        );
    }
}

#[test]
fn curl_several_transfers_on_one_connection_tls12() {
    several_transfers_on_one_connection(Tls::V12, 11);
}

#[test]
fn curl_several_transfers_on_one_connection_tls13() {
    several_transfers_on_one_connection(Tls::V13, 12);
}
