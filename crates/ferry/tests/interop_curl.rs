//! Interop: curl against `ferry serve` (listing in EPSV/PASV/EPRT/PORT, transfers with sha256
//! checks, resume both ways, `--ftp-create-dirs`, quote commands, NLST, UTF-8 and spaces).

mod support;

use std::process::Command;

use support::process::DEFAULT_TIMEOUT;
use support::tree::{url_encode_path, Rng};
use support::{curl, run_ok, sha256_bytes, sha256_file, write_file, Outcome, Server};

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

fn seed_root(server: &Server) {
    write_file(&server.root(), "hello.txt", b"hello\n");
    write_file(&server.root(), "with space.txt", b"space\n");
    write_file(&server.root(), "sub/inner.bin", &[1, 2, 3]);
}

fn assert_listing(out: &Outcome, what: &str) {
    let text = out.stdout_text();
    for name in ["hello.txt", "with space.txt", "sub"] {
        assert!(
            text.lines().any(|l| l.ends_with(name)),
            "{what}: listing lacks {name:?}:\n{text}\n{}",
            out.describe()
        );
    }
}

#[test]
fn curl_lists_root_with_epsv_and_pasv() {
    let server = Server::start();
    seed_root(&server);

    let mut cmd = curl();
    cmd.arg(server.url("/"));
    let out = run_curl(&server, cmd);
    assert!(
        sent(&out, "EPSV"),
        "curl did not use EPSV\n{}",
        out.describe()
    );
    assert_listing(&out, "EPSV");

    let mut cmd = curl();
    cmd.arg("--disable-epsv").arg(server.url("/"));
    let out = run_curl(&server, cmd);
    assert!(
        sent(&out, "PASV"),
        "curl did not use PASV\n{}",
        out.describe()
    );
    assert!(!sent(&out, "EPSV"), "EPSV despite --disable-epsv");
    assert_listing(&out, "PASV");

    // A LIST of a sub-directory.
    let mut cmd = curl();
    cmd.arg(server.url("/sub/"));
    let out = run_curl(&server, cmd);
    assert!(
        out.stdout_text().contains("inner.bin"),
        "sub listing: {}",
        out.describe()
    );
}

#[test]
fn curl_lists_root_in_active_mode_with_eprt_and_port() {
    let server = Server::start();
    seed_root(&server);

    let mut cmd = curl();
    cmd.args(["--ftp-port", "127.0.0.1"]).arg(server.url("/"));
    let out = run_curl(&server, cmd);
    assert!(
        sent(&out, "EPRT |1|127.0.0.1|"),
        "curl did not use EPRT\n{}",
        out.describe()
    );
    assert_listing(&out, "EPRT");

    let mut cmd = curl();
    cmd.args(["--ftp-port", "127.0.0.1", "--disable-eprt"])
        .arg(server.url("/"));
    let out = run_curl(&server, cmd);
    assert!(
        sent(&out, "PORT 127,0,0,1,"),
        "curl did not use PORT\n{}",
        out.describe()
    );
    assert_listing(&out, "PORT");

    // An active-mode download too.
    let dest = server.local().join("hello.txt");
    let mut cmd = curl();
    cmd.args(["--ftp-port", "127.0.0.1", "-o"])
        .arg(&dest)
        .arg(server.url("/hello.txt"));
    run_curl(&server, cmd);
    assert_eq!(std::fs::read(&dest).expect("read download"), b"hello\n");
}

#[test]
fn curl_downloads_and_uploads_with_matching_sha256() {
    let server = Server::start();
    let mut rng = Rng::new(1);
    let data = rng.bytes(3 * 1024 * 1024 + 17);
    write_file(&server.root(), "big.bin", &data);

    let dest = server.local().join("big.bin");
    let mut cmd = curl();
    cmd.arg("-o").arg(&dest).arg(server.url("/big.bin"));
    run_curl(&server, cmd);
    assert_eq!(sha256_file(&dest), sha256_bytes(&data), "download sha256");

    let up = rng.bytes(2 * 1024 * 1024 + 5);
    write_file(&server.local(), "up.bin", &up);
    let mut cmd = curl();
    cmd.arg("-T")
        .arg(server.local().join("up.bin"))
        .arg(server.url("/up.bin"));
    run_curl(&server, cmd);
    assert_eq!(
        sha256_file(&server.root().join("up.bin")),
        sha256_bytes(&up),
        "upload sha256"
    );

    // Overwrite the same remote file with other content.
    let up2 = rng.bytes(1000);
    write_file(&server.local(), "up2.bin", &up2);
    let mut cmd = curl();
    cmd.arg("-T")
        .arg(server.local().join("up2.bin"))
        .arg(server.url("/up.bin"));
    run_curl(&server, cmd);
    assert_eq!(
        sha256_file(&server.root().join("up.bin")),
        sha256_bytes(&up2),
        "overwrite sha256"
    );
}

#[test]
fn curl_resumes_a_download() {
    let server = Server::start();
    let data = Rng::new(2).bytes(1024 * 1024 + 3);
    write_file(&server.root(), "resume.bin", &data);
    let cut = 300_000;
    write_file(&server.local(), "resume.bin", &data[..cut]);

    let dest = server.local().join("resume.bin");
    let mut cmd = curl();
    cmd.args(["-C", "-", "-o"])
        .arg(&dest)
        .arg(server.url("/resume.bin"));
    let out = run_curl(&server, cmd);
    assert!(
        sent(&out, &format!("REST {cut}")),
        "curl did not send REST {cut}\n{}",
        out.describe()
    );
    assert_eq!(sha256_file(&dest), sha256_bytes(&data), "resumed download");
}

#[test]
fn curl_resumes_an_upload() {
    let server = Server::start();
    let data = Rng::new(3).bytes(1024 * 1024 + 9);
    write_file(&server.local(), "resume-up.bin", &data);
    write_file(&server.root(), "resume-up.bin", &data[..400_000]);

    let mut cmd = curl();
    cmd.arg("-T")
        .arg(server.local().join("resume-up.bin"))
        .args(["-C", "-"])
        .arg(server.url("/resume-up.bin"));
    let out = run_curl(&server, cmd);
    assert!(
        sent(&out, "SIZE"),
        "curl did not ask SIZE\n{}",
        out.describe()
    );
    assert_eq!(
        sha256_file(&server.root().join("resume-up.bin")),
        sha256_bytes(&data),
        "resumed upload"
    );
}

#[test]
fn curl_creates_missing_directories_on_upload() {
    let server = Server::start();
    let data = Rng::new(4).bytes(10_000);
    write_file(&server.local(), "f.bin", &data);
    let mut cmd = curl();
    cmd.arg("--ftp-create-dirs")
        .arg("-T")
        .arg(server.local().join("f.bin"))
        .arg(server.url("/new/nested/deeper/f.bin"));
    run_curl(&server, cmd);
    let stored = server.root().join("new/nested/deeper/f.bin");
    assert!(stored.is_file(), "{} missing", stored.display());
    assert_eq!(sha256_file(&stored), sha256_bytes(&data));

    // The single-CWD method (one MKD of a one-level directory, then CWD into it).
    let mut cmd = curl();
    cmd.args(["--ftp-create-dirs", "--ftp-method", "singlecwd", "-T"])
        .arg(server.local().join("f.bin"))
        .arg(server.url("/other/f.bin"));
    run_curl(&server, cmd);
    assert!(server.root().join("other/f.bin").is_file());
}

#[test]
fn curl_quote_commands_run_on_the_server() {
    let server = Server::start();
    write_file(&server.root(), "a.txt", b"renamed\n");

    let mut cmd = curl();
    cmd.args(["-Q", "MKD x", "-Q", "RNFR a.txt", "-Q", "RNTO b.txt"])
        .arg(server.url("/"));
    run_curl(&server, cmd);
    assert!(server.root().join("x").is_dir(), "MKD x had no effect");
    assert!(!server.root().join("a.txt").exists(), "a.txt still there");
    assert_eq!(
        std::fs::read(server.root().join("b.txt")).expect("b.txt"),
        b"renamed\n"
    );

    // Post-transfer quotes (`-Q -CMD`) and DELE/RMD.
    let mut cmd = curl();
    cmd.args(["-Q", "-DELE b.txt", "-Q", "-RMD x"])
        .arg(server.url("/"));
    run_curl(&server, cmd);
    assert!(!server.root().join("b.txt").exists(), "DELE had no effect");
    assert!(!server.root().join("x").exists(), "RMD had no effect");

    // A failing quote command makes curl fail (the server must say 5xx).
    let mut cmd = curl();
    cmd.args(["-Q", "RNFR does-not-exist"]).arg(server.url("/"));
    let out = support::run(cmd, DEFAULT_TIMEOUT);
    assert!(
        !out.success(),
        "RNFR of a missing file succeeded\n{}",
        out.describe()
    );
}

#[test]
fn curl_list_only_uses_nlst() {
    let server = Server::start();
    seed_root(&server);
    let mut cmd = curl();
    cmd.arg("--list-only").arg(server.url("/"));
    let out = run_curl(&server, cmd);
    assert!(sent(&out, "NLST"), "no NLST\n{}", out.describe());
    let mut names: Vec<String> = out
        .stdout_text()
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    names.sort();
    assert_eq!(names, ["hello.txt", "sub", "with space.txt"], "NLST names");
}

#[test]
fn curl_handles_utf8_and_space_names() {
    let server = Server::start();
    let mut rng = Rng::new(5);
    let names = [
        "with space.txt",
        "ünïcödé файл.bin",
        "dir with space/日本語 ファイル.dat",
    ];
    let mut hashes = Vec::new();
    for name in names {
        let data = rng.bytes(50_000);
        write_file(&server.root(), name, &data);
        hashes.push(sha256_bytes(&data));
    }
    for (i, (name, hash)) in names.iter().zip(&hashes).enumerate() {
        let dest = server.local().join(format!("dl{i}"));
        let mut cmd = curl();
        cmd.arg("-o")
            .arg(&dest)
            .arg(server.url(&format!("/{}", url_encode_path(name))));
        run_curl(&server, cmd);
        assert_eq!(&sha256_file(&dest), hash, "download of {name:?}");
    }

    let mut cmd = curl();
    cmd.arg(server.url("/"));
    let out = run_curl(&server, cmd);
    let listing = out.stdout_text();
    assert!(listing.contains("ünïcödé файл.bin"), "listing: {listing}");
    assert!(listing.contains("dir with space"), "listing: {listing}");

    let up = rng.bytes(12_345);
    write_file(&server.local(), "up", &up);
    let remote = "dir with space/ünï up ëd.bin";
    let mut cmd = curl();
    cmd.arg("-T")
        .arg(server.local().join("up"))
        .arg(server.url(&format!("/{}", url_encode_path(remote))));
    run_curl(&server, cmd);
    assert_eq!(sha256_file(&server.root().join(remote)), sha256_bytes(&up));
}

#[test]
fn curl_without_credentials_is_refused_and_anonymous_works_when_enabled() {
    // Anonymous off (the default): a wrong password and an anonymous login both fail.
    let server = Server::start();
    write_file(&server.root(), "pub.txt", b"public\n");
    let mut cmd = support::program("curl");
    cmd.args(["-q", "-sS", "--max-time", "30", "--user", "alice:wrong"])
        .arg(server.url("/"));
    let out = support::run(cmd, DEFAULT_TIMEOUT);
    assert!(
        !out.success(),
        "wrong password accepted\n{}",
        out.describe()
    );
    let mut cmd = support::program("curl");
    cmd.args(["-q", "-sS", "--max-time", "30"])
        .arg(server.url("/pub.txt"));
    let out = support::run(cmd, DEFAULT_TIMEOUT);
    assert!(
        !out.success(),
        "anonymous accepted while off\n{}",
        out.describe()
    );
    drop(server);

    // Anonymous read-only: download works, upload is refused.
    let server = Server::builder().anonymous("ro").start();
    write_file(&server.root(), "pub.txt", b"public\n");
    let mut cmd = support::program("curl");
    cmd.args(["-q", "-sS", "--max-time", "30"])
        .arg(server.url("/pub.txt"));
    let out = run_ok(cmd, DEFAULT_TIMEOUT);
    assert_eq!(out.stdout, b"public\n");
    write_file(&server.local(), "x", b"x");
    let mut cmd = support::program("curl");
    cmd.args(["-q", "-sS", "--max-time", "30", "-T"])
        .arg(server.local().join("x"))
        .arg(server.url("/x"));
    let out = support::run(cmd, DEFAULT_TIMEOUT);
    assert!(
        !out.success(),
        "anonymous ro upload accepted\n{}",
        out.describe()
    );
    assert!(!server.root().join("x").exists());
}

/// The data port announced in curl's verbose `< 227 ...` or `< 229 ...` reply line.
fn announced_port(out: &Outcome, code: &str) -> u16 {
    let text = out.stderr_text();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("< {code}")))
        .unwrap_or_else(|| panic!("no {code} reply in curl's output\n{}", out.describe()));
    if code == "227" {
        let addr = support::raw::parse_pasv(line).unwrap_or_else(|| panic!("bad 227: {line}"));
        assert_eq!(addr.ip().to_string(), "127.0.0.1", "227 host: {line}");
        addr.port()
    } else {
        support::raw::parse_epsv(line).unwrap_or_else(|| panic!("bad 229: {line}"))
    }
}

#[test]
fn curl_passive_ports_stay_in_the_configured_range() {
    let server = Server::builder()
        .args(&[
            "--passive-ports",
            "24100-24149",
            "--public-host",
            "127.0.0.1",
        ])
        .start();
    seed_root(&server);
    for i in 0..3 {
        let mut cmd = curl();
        cmd.arg("--disable-epsv").arg(server.url("/"));
        let out = run_curl(&server, cmd);
        assert_listing(&out, "PASV in a port range");
        let port = announced_port(&out, "227");
        assert!((24100..=24149).contains(&port), "PASV #{i} port {port}");

        let mut cmd = curl();
        cmd.arg(server.url("/"));
        let out = run_curl(&server, cmd);
        let port = announced_port(&out, "229");
        assert!((24100..=24149).contains(&port), "EPSV #{i} port {port}");
    }
}

#[test]
fn curl_anonymous_read_write_accepts_ftp_and_anonymous_users() {
    let server = Server::builder().anonymous("rw").start();
    write_file(&server.local(), "anon.txt", b"anon upload\n");
    for user in ["anonymous:guest@example.invalid", "ftp:x"] {
        let mut cmd = support::program("curl");
        cmd.args(["-q", "-sS", "--max-time", "30", "--user", user, "-T"])
            .arg(server.local().join("anon.txt"))
            .arg(server.url(&format!("/{}.txt", &user[..3])));
        run_curl(&server, cmd);
    }
    assert!(server.root().join("ano.txt").is_file());
    assert!(server.root().join("ftp.txt").is_file());
}
