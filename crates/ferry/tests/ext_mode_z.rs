//! MODE Z (deflate, as ProFTPD's mod_deflate and lftp use it): every transfer's data is one
//! zlib stream (RFC 1950), after TYPE A conversion, inside TLS under PROT P.
//!
//! - lftp (`set ftp:use-mode-z true`) against `ferry serve`: put, get, ls, plain and FTPS;
//!   its debug output shows `MODE Z` accepted.
//! - Python ftplib with zlib (tests/python/mode_z.py): levels, REST, TYPE A, listings, a
//!   truncated stream, MODE S back; plain and FTPS.
//! - The Ferry client's `--compress` against `ferry serve` (get, put, resume) and against
//!   proftpd with mod_deflate; the warning and uncompressed fallback against a server
//!   without MODE Z (vsftpd).
//! - A "zip bomb" upload: memory stays bounded, and under a quota the upload stops with
//!   `552` and leaves nothing.

mod client_util;
mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use client_util::{home_in, ok};
use flate2::write::ZlibEncoder;
use flate2::Compression;
use support::peers::{Peer, PeerKind, PeerOptions};
use support::raw::{data_connect, Control};
use support::users::{start_with_users, users_file, USERS_PW};
use support::{sha256_bytes, sha256_file, Server};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Very compressible text, `lines` lines.
fn text(lines: usize) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| format!("line {i} of a compressible file\n").into_bytes())
        .collect()
}

fn deflate(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::new(level));
    enc.write_all(data).expect("deflate");
    enc.finish().expect("deflate")
}

/// lftp with MODE Z on, bounded, failing on any failed command; FTPS when `cafile` is given.
fn lftp(server: &Server, cafile: Option<&Path>, script: &str) -> support::Outcome {
    let mut settings = String::from(
        "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
         set net:persist-retries 0; set cmd:fail-exit yes; set xfer:clobber on; \
         set ftp:use-mode-z true; set ftp:mode-z-level 9; ",
    );
    match cafile {
        Some(ca) => settings.push_str(&format!(
            "set ftp:ssl-force true; set ftp:ssl-protect-data true; \
             set ssl:verify-certificate yes; set ssl:ca-file \"{}\"; ",
            ca.display()
        )),
        None => settings.push_str("set ftp:ssl-allow false; "),
    }
    let full = format!(
        "{settings}open -u {},{} ftp://{}:{}; {script}",
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
    let err = out.stderr_text();
    assert!(
        err.contains("---> MODE Z") && err.contains("<--- 200 Mode set to Z"),
        "lftp did not use MODE Z\n{}",
        out.describe()
    );
    out
}

fn lftp_round_trip(server: &Server, cafile: Option<&Path>) {
    let local = server.local();
    let src_text = local.join("text.txt");
    let src_bin = local.join("random.bin");
    std::fs::write(&src_text, text(50_000)).expect("write");
    std::fs::write(&src_bin, client_util::pattern(700_000, 7)).expect("write");
    lftp(
        server,
        cafile,
        &format!(
            "put \"{}\" -o /text.txt; put \"{}\" -o /random.bin",
            s(&src_text),
            s(&src_bin)
        ),
    );
    for (src, name) in [(&src_text, "text.txt"), (&src_bin, "random.bin")] {
        assert_eq!(
            sha256_file(src),
            sha256_file(&server.root().join(name)),
            "lftp put {name} in MODE Z\n{}",
            server.logs()
        );
    }
    let down = local.join("down");
    std::fs::create_dir_all(&down).expect("mkdir");
    let out = lftp(
        server,
        cafile,
        &format!(
            "get /text.txt -o \"{}\"; get /random.bin -o \"{}\"; cls -1 /",
            s(&down.join("text.txt")),
            s(&down.join("random.bin"))
        ),
    );
    for (src, name) in [(&src_text, "text.txt"), (&src_bin, "random.bin")] {
        assert_eq!(
            sha256_file(src),
            sha256_file(&down.join(name)),
            "lftp get {name} in MODE Z"
        );
    }
    let listing = out.stdout_text();
    assert!(
        listing
            .lines()
            .any(|l| l.trim().trim_start_matches('/') == "random.bin"),
        "lftp cls in MODE Z\n{}",
        out.describe()
    );
}

#[test]
fn lftp_mode_z_put_get_ls() {
    let server = Server::start();
    lftp_round_trip(&server, None);
}

#[test]
fn lftp_mode_z_over_ftps() {
    let server = Server::builder().ftps(&[]).start();
    lftp_round_trip(&server, Some(&server.cafile()));
}

fn run_python(server: &Server, tls: bool) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mode_z.py");
    let mut cmd = support::program("python3");
    cmd.arg(script)
        .arg(server.host())
        .arg(server.port().to_string())
        .arg(support::USER)
        .arg(support::PASS)
        .env_remove("MODE_Z_SKIP");
    if tls {
        cmd.arg("tls").arg(server.cafile());
    }
    let out = support::run(cmd, Duration::from_secs(120));
    assert!(
        out.success() && out.stdout_text().contains("mode z: all steps passed"),
        "mode_z.py failed\n{}\n{}",
        out.describe(),
        server.logs()
    );
}

#[test]
fn ftplib_with_zlib() {
    let server = Server::start();
    run_python(&server, false);
}

#[test]
fn ftplib_with_zlib_over_ftps() {
    let server = Server::builder().ftps(&[]).start();
    run_python(&server, true);
}

#[test]
fn ferry_client_compress_against_ferry() {
    let server = Server::start();
    let base = server.local();
    let h = home_in(&base);
    let data = text(40_000);
    let src = base.join("src.txt");
    std::fs::write(&src, &data).expect("write");
    let url = |p: &str| {
        format!(
            "ftp://{}:{}@{}:{}{p}",
            support::USER,
            support::PASS,
            server.host(),
            server.port()
        )
    };
    let out = ok(&h, &["put", "--compress", s(&src), &url("/up.txt")]);
    assert!(!out.stderr_text().contains("warning"), "{}", out.describe());
    assert_eq!(
        std::fs::read(server.root().join("up.txt")).expect("read"),
        data
    );
    let dst = base.join("down.txt");
    ok(&h, &["get", "--compress", &url("/up.txt"), "-o", s(&dst)]);
    assert_eq!(sha256_file(&dst), sha256_bytes(&data));

    // Resume (-c): REST counts uncompressed bytes.
    let cut = data.len() / 3;
    std::fs::write(&dst, &data[..cut]).expect("truncate");
    ok(
        &h,
        &["get", "--compress", "-c", &url("/up.txt"), "-o", s(&dst)],
    );
    assert_eq!(sha256_file(&dst), sha256_bytes(&data));

    // The client really sent MODE Z: a raw session shows the server's mode after it.
    let mut c = Control::login(server.addr(), support::USER, support::PASS);
    c.expect("MODE Z", &[200]);
    let stat = c.expect("STAT", &[211]);
    assert!(stat.text.contains("MODE: Deflate"), "{}", stat.text);
}

#[test]
fn ferry_client_compress_against_proftpd_mod_deflate() {
    let peer = Peer::start(PeerKind::Proftpd, PeerOptions::plain());
    let base = peer.local();
    let h = home_in(&base);
    // Hex text: compresses about 2:1. (proftpd 1.3.8's mod_deflate loses input when one
    // read inflates to more than its output buffer, 8 times its read buffer: data that
    // compresses much better fails there with 451, whatever the client.)
    let data: Vec<u8> = client_util::pattern(200_000, 3)
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect();
    let src = base.join("src.txt");
    std::fs::write(&src, &data).expect("write");
    let u = |p: &str| peer.url_with_credentials(p);
    let out = ok(&h, &["put", "--compress", s(&src), &u("/z.txt")]);
    assert!(
        !out.stderr_text().contains("MODE Z"),
        "proftpd should offer MODE Z\n{}",
        out.describe()
    );
    peer.own_root();
    assert_eq!(
        sha256_file(&peer.root().join("z.txt")),
        sha256_bytes(&data),
        "{}",
        peer.logs()
    );
    let dst = base.join("down.txt");
    ok(&h, &["get", "--compress", &u("/z.txt"), "-o", s(&dst)]);
    assert_eq!(sha256_file(&dst), sha256_bytes(&data), "{}", peer.logs());
    let logs = peer.logs();
    assert!(
        logs.contains("MODE Z"),
        "proftpd's log shows no MODE Z\n{logs}"
    );
}

#[test]
fn ferry_client_compress_falls_back_with_a_warning() {
    // vsftpd has no MODE Z.
    let peer = Peer::start(PeerKind::Vsftpd, PeerOptions::plain());
    let base = peer.local();
    let h = home_in(&base);
    let data = text(1000);
    let src = base.join("src.txt");
    std::fs::write(&src, &data).expect("write");
    let out = ok(
        &h,
        &[
            "put",
            "--compress",
            s(&src),
            &peer.url_with_credentials("/w.txt"),
        ],
    );
    assert!(
        out.stderr_text()
            .contains("does not offer MODE Z; transferring uncompressed"),
        "{}",
        out.describe()
    );
    let dst = base.join("down.txt");
    ok(
        &h,
        &[
            "get",
            "--compress",
            &peer.url_with_credentials("/w.txt"),
            "-o",
            s(&dst),
        ],
    );
    assert_eq!(sha256_file(&dst), sha256_bytes(&data));
}

/// The peak resident memory of process `pid` in KiB (VmHWM).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// STOR `name` in MODE Z with `body` (already deflated); the final reply.
fn stor_z(c: &mut Control, name: &str, body: &[u8]) -> support::raw::Reply {
    let addr = c.pasv();
    let mut data = data_connect(addr);
    let r = c.cmd(&format!("STOR {name}"));
    assert!(matches!(r.code, 125 | 150), "{r:?}");
    for chunk in body.chunks(64 * 1024) {
        if data.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = data.shutdown(std::net::Shutdown::Write);
    let mut sink = Vec::new();
    let _ = data.read_to_end(&mut sink);
    c.expect_reply("end of STOR", &[226, 426, 451, 552])
}

#[test]
fn zip_bomb_upload_is_bounded_in_memory_and_stops_at_the_quota() {
    let (_dir, file) = users_file(&[("bomb", ""), ("quota", "quota_bytes = \"4MiB\"")]);
    let server = start_with_users(&file, &[]);
    // 256 MiB of zeros: about 250 KiB deflated (a ratio near 1000).
    let size = 256 * 1024 * 1024;
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..(size / zeros.len()) {
        enc.write_all(&zeros).expect("deflate");
    }
    let bomb = enc.finish().expect("deflate");
    assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());

    let before = peak_rss_kib(server.pid());
    let mut c = Control::login(server.addr(), "bomb", USERS_PW);
    c.expect("TYPE I", &[200]);
    c.expect("MODE Z", &[200]);
    let r = stor_z(&mut c, "bomb.bin", &bomb);
    assert_eq!(r.code, 226, "{r:?}\n{}", server.logs());
    assert_eq!(
        std::fs::metadata(server.root().join("bomb.bin"))
            .expect("bomb.bin")
            .len(),
        size as u64
    );
    let after = peak_rss_kib(server.pid());
    // Inflating 256 MiB goes through bounded buffers: the peak grows by far less.
    assert!(
        after.saturating_sub(before) < 64 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    std::fs::remove_file(server.root().join("bomb.bin")).expect("rm");

    // Under a quota of 4 MiB the same upload stops with 552 and leaves no file.
    let mut c = Control::login(server.addr(), "quota", USERS_PW);
    c.expect("TYPE I", &[200]);
    c.expect("MODE Z", &[200]);
    let r = stor_z(&mut c, "bomb.bin", &bomb);
    assert_eq!(r.code, 552, "{r:?}\n{}", server.logs());
    assert!(!server.root().join("bomb.bin").exists());
    // A small compressed upload still fits.
    let small = text(1000);
    let r = stor_z(&mut c, "small.txt", &deflate(&small, 9));
    assert_eq!(r.code, 226, "{r:?}");
    assert_eq!(
        std::fs::read(server.root().join("small.txt")).expect("read"),
        small
    );
}
