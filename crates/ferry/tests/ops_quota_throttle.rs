//! Quotas and bandwidth limits of `ferry serve` over real connections: `quota_bytes`,
//! `quota_files`, `upload_rate` and `download_rate` from the users file, the global
//! `--upload-rate` / `--download-rate`, plain and TLS data connections.
//!
//! The rule for throttling: a transfer limited to 1 MiB/s takes the expected time
//! ± 20 % (3 MiB here: 3 s).

mod support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use support::ftps::curl_ftps;
use support::process::DEFAULT_TIMEOUT;
use support::raw::{data_connect, read_all, Control};
use support::users::{start_with_users, users_file};
use support::Server;

const PW: &str = support::users::USERS_PW;
const MIB: usize = 1024 * 1024;

fn login(server: &Server, user: &str) -> Control {
    let mut c = Control::login(server.addr(), user, PW);
    c.expect("TYPE I", &[200]);
    c
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// An upload with `cmd` (after an optional `REST`): the final reply (code and text) and the
/// time from the command to it. A write error (the server cut the upload) is not a failure.
fn upload(c: &mut Control, rest: Option<u64>, cmd: &str, body: &[u8]) -> (u16, String, Duration) {
    let addr = c.pasv();
    let mut data = data_connect(addr);
    if let Some(offset) = rest {
        c.expect(&format!("REST {offset}"), &[350]);
    }
    let start = Instant::now();
    let r = c.cmd(cmd);
    if r.code != 150 && r.code != 125 {
        return (r.code, r.text.clone(), start.elapsed());
    }
    for chunk in body.chunks(64 * 1024) {
        if data.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = data.shutdown(std::net::Shutdown::Write);
    drop(data);
    let r = c.expect_reply("end of upload", &[226, 250, 451, 426, 552]);
    (r.code, r.text.clone(), start.elapsed())
}

/// RETR `name`: the bytes and the time from the command to the final reply.
fn download(c: &mut Control, name: &str) -> (Vec<u8>, Duration) {
    let addr = c.pasv();
    let data = data_connect(addr);
    let start = Instant::now();
    c.expect(&format!("RETR {name}"), &[150, 125]);
    let bytes = read_all(data, 64 * MIB);
    c.expect_reply("end of RETR", &[226, 250]);
    (bytes, start.elapsed())
}

/// curl's `-w` format giving the times before the transfer and at its end.
const TRANSFER_TIMES: &str = "\ntimes %{time_pretransfer} %{time_total}\n";

/// The transfer time curl measured (total minus connect, TLS handshake and login), so the
/// check is on the throttled data alone.
fn transfer_time(out: &support::Outcome) -> Duration {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("times "))
        .unwrap_or_else(|| panic!("no curl times in {text:?}\n{}", out.describe()));
    let mut it = line
        .split_whitespace()
        .map(|v| v.parse::<f64>().expect("seconds"));
    let (pre, total) = (it.next().expect("pretransfer"), it.next().expect("total"));
    Duration::from_secs_f64((total - pre).max(0.0))
}

/// `took` is `expected` ± 20 %.
fn within_20_percent(what: &str, took: Duration, expected: Duration, server: &Server) {
    let (lo, hi) = (expected.mul_f64(0.8), expected.mul_f64(1.2));
    assert!(
        took >= lo && took <= hi,
        "{what}: took {took:?}, expected {expected:?} ± 20 %\n{}",
        server.logs()
    );
}

fn no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".ferry-upload-"),
            "temporary file left: {name}"
        );
    }
}

#[test]
fn users_file_quota_refuses_with_552_and_leaves_no_partial_file() {
    let (_dir, file) = users_file(&[("quinn", "quota_bytes = \"1MiB\"\nquota_files = 3")]);
    let server = start_with_users(&file, &[]);
    let root = server.root();
    let old = pattern(300 * 1024);
    std::fs::write(root.join("keep.bin"), &old).expect("seed");
    let mut c = login(&server, "quinn");

    // A new file that would go over: 552, nothing left.
    let (code, text, _) = upload(&mut c, None, "STOR new.bin", &pattern(800 * 1024));
    assert_eq!(code, 552, "{text}");
    assert!(text.to_ascii_lowercase().contains("quota"), "{text}");
    assert!(!root.join("new.bin").exists(), "no partial new file");

    // Replacing: the old file keeps its content, no temporary file remains.
    let (code, text, _) = upload(&mut c, None, "STOR keep.bin", &pattern(MIB + 1));
    assert_eq!(code, 552, "{text}");
    assert!(std::fs::read(root.join("keep.bin")).expect("read") == old);
    no_temp_files(&root);

    // Appending, and REST + STOR past the end: truncated back to the original length.
    let (code, text, _) = upload(&mut c, None, "APPE keep.bin", &pattern(800 * 1024));
    assert_eq!(code, 552, "{text}");
    assert!(std::fs::read(root.join("keep.bin")).expect("read") == old);
    let (code, text, _) = upload(&mut c, Some(100_000), "STOR keep.bin", &pattern(MIB));
    assert_eq!(code, 552, "{text}");
    let now = std::fs::read(root.join("keep.bin")).expect("read");
    assert_eq!(now.len(), old.len());
    assert!(now[..100_000] == old[..100_000]);

    // Within the quota everything works; the file count is checked before any data.
    let (code, text, _) = upload(&mut c, None, "STOR a.bin", &pattern(1000));
    assert_eq!(code, 226, "{text}");
    let (code, text, _) = upload(&mut c, None, "STOR b.bin", &pattern(1000));
    assert_eq!(code, 226, "{text}");
    let (code, text, _) = upload(&mut c, None, "STOR c.bin", b"x");
    assert_eq!(code, 552, "fourth file: {text}");
    assert!(!root.join("c.bin").exists());

    // DELE frees a file (and its bytes).
    c.expect("DELE keep.bin", &[250]);
    let (code, text, _) = upload(&mut c, None, "STOR c.bin", &pattern(900 * 1024));
    assert_eq!(code, 226, "{text}");
    assert_eq!(
        std::fs::metadata(root.join("c.bin")).expect("md").len(),
        900 * 1024
    );
    c.expect("QUIT", &[221]);
}

#[test]
fn users_file_rates_limit_downloads_and_uploads_to_1_mib_per_second() {
    let (_dir, file) = users_file(&[("rita", "upload_rate = \"1MiB\"\ndownload_rate = 1048576")]);
    let server = start_with_users(&file, &[]);
    let body = pattern(3 * MIB);
    std::fs::write(server.root().join("three.bin"), &body).expect("seed");
    let mut c = login(&server, "rita");

    let (got, took) = download(&mut c, "three.bin");
    assert!(got == body, "download content");
    within_20_percent(
        "3 MiB download at 1 MiB/s",
        took,
        Duration::from_secs(3),
        &server,
    );

    let (code, text, took) = upload(&mut c, None, "STOR up.bin", &body);
    assert_eq!(code, 226, "{text}");
    within_20_percent(
        "3 MiB upload at 1 MiB/s",
        took,
        Duration::from_secs(3),
        &server,
    );
    assert!(std::fs::read(server.root().join("up.bin")).expect("read") == body);
    c.expect("QUIT", &[221]);
}

#[test]
fn global_rates_apply_to_tls_transfers_too() {
    let server = Server::builder()
        .ftps(&[])
        .args(&["--download-rate", "1MiB", "--upload-rate", "1048576"])
        .start();
    let body = pattern(3 * MIB);
    let src = server.root().join("three.bin");
    std::fs::write(&src, &body).expect("seed");
    let dir = tempfile::tempdir().expect("tempdir");

    // Download over PROT P with curl.
    let out_path = dir.path().join("got.bin");
    let mut cmd = curl_ftps(&server);
    cmd.args(["-w", TRANSFER_TIMES])
        .arg("-o")
        .arg(&out_path)
        .arg(server.url("/three.bin"));
    let out = support::run(cmd, DEFAULT_TIMEOUT);
    let took = transfer_time(&out);
    assert!(
        out.success(),
        "curl download\n{}\n{}",
        out.describe(),
        server.logs()
    );
    assert!(std::fs::read(&out_path).expect("read") == body);
    within_20_percent(
        "3 MiB TLS download at 1 MiB/s",
        took,
        Duration::from_secs(3),
        &server,
    );

    // Upload over PROT P.
    let mut cmd = curl_ftps(&server);
    cmd.args(["-w", TRANSFER_TIMES])
        .arg("-T")
        .arg(&src)
        .arg(server.url("/up.bin"));
    let out = support::run(cmd, DEFAULT_TIMEOUT);
    let took = transfer_time(&out);
    assert!(
        out.success(),
        "curl upload\n{}\n{}",
        out.describe(),
        server.logs()
    );
    assert!(std::fs::read(server.root().join("up.bin")).expect("read") == body);
    within_20_percent(
        "3 MiB TLS upload at 1 MiB/s",
        took,
        Duration::from_secs(3),
        &server,
    );
}
