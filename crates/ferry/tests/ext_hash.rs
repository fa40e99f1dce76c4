//! The hash commands and the small extensions against `ferry serve`:
//!
//! - HASH (with OPTS HASH, RANG and REST ranges) and XCRC/XMD5/XSHA1/XSHA256/XSHA512 give the
//!   digests of `sha256sum`, `sha512sum`, `sha1sum`, `md5sum` and Python's `zlib.crc32` on
//!   random files (empty, small, 10 MiB) and byte ranges of them;
//! - MFF, MFCT, SITE UTIME, SITE UMASK, SITE IDLE, AVBL, CLNT, LANG and SMNT: replies and
//!   their effect on the served files;
//! - FEAT, HELP and SITE HELP list them;
//! - `ferry mirror --verify` uses the server's HASH; curl's `-Q` sends HASH as a raw command.

mod client_util;
mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use client_util::{home_in, ok, pattern, url_with};
use support::raw::Control;
use support::{program, run_ok, write_file, Server, PASS, USER};

/// The digest `tool` prints for `path` (coreutils `*sum` format: digest first).
fn tool_digest(tool: &str, path: &Path) -> String {
    let mut cmd = program(tool);
    cmd.arg(path);
    let out = run_ok(cmd, Duration::from_secs(60));
    out.stdout_text()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// CRC-32 (zlib's) of `path`, from Python, as 8 lower-case hex digits.
fn crc32_digest(path: &Path) -> String {
    let mut cmd = program("python3");
    cmd.args([
        "-c",
        "import sys, zlib; print('%08x' % (zlib.crc32(open(sys.argv[1], 'rb').read()) & 0xffffffff))",
    ])
    .arg(path);
    run_ok(cmd, Duration::from_secs(60))
        .stdout_text()
        .trim()
        .to_string()
}

/// `(HASH name, X verb, local digest)` for every algorithm.
fn digests(path: &Path) -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("SHA-256", "XSHA256", tool_digest("sha256sum", path)),
        ("SHA-512", "XSHA512", tool_digest("sha512sum", path)),
        ("SHA-1", "XSHA1", tool_digest("sha1sum", path)),
        ("MD5", "XMD5", tool_digest("md5sum", path)),
        ("CRC32", "XCRC", crc32_digest(path)),
    ]
}

/// The last line of a reply, without its code.
fn last_text(r: &support::raw::Reply) -> String {
    r.text
        .lines()
        .last()
        .unwrap_or_default()
        .get(4..)
        .unwrap_or_default()
        .to_string()
}

/// Writes `data[range]` to a scratch file and returns its path.
fn slice_file(server: &Server, name: &str, data: &[u8]) -> std::path::PathBuf {
    let path = server.local().join(name);
    std::fs::write(&path, data).expect("write slice");
    path
}

#[test]
fn hashes_match_the_usual_tools() {
    let server = Server::start();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty.bin", Vec::new()),
        ("small file.bin", pattern(1000, 7)),
        ("big.bin", pattern(10 << 20, 11)),
    ];
    let mut c = Control::login(server.addr(), USER, PASS);
    for (name, data) in &files {
        write_file(&server.root(), name, data);
        let local = slice_file(&server, name, data);
        let len = data.len() as u64;
        for (hash_name, x_verb, want) in digests(&local) {
            c.expect(&format!("OPTS HASH {hash_name}"), &[200]);
            let r = c.expect(&format!("HASH {name}"), &[213]);
            let end = len.saturating_sub(1);
            assert_eq!(
                last_text(&r),
                format!("{hash_name} 0-{end} {want} /{name}"),
                "HASH {hash_name} of {name}"
            );
            let r = c.expect(&format!("{x_verb} \"{name}\""), &[250]);
            assert_eq!(last_text(&r), want, "{x_verb} of {name}");
        }
    }

    // Ranges of the 10 MiB file: RANG (end inclusive), REST, and X-command positions (end
    // exclusive).
    let big = &files[2].1;
    let part = |a: usize, b: usize| big.get(a..b).expect("range").to_vec();
    let r1 = slice_file(&server, "r1", &part(100, 1100));
    c.expect("OPTS HASH SHA-256", &[200]);
    c.expect("RANG 100 1099", &[350]);
    let r = c.expect("HASH big.bin", &[213]);
    assert_eq!(
        last_text(&r),
        format!(
            "SHA-256 100-1099 {} /big.bin",
            tool_digest("sha256sum", &r1)
        )
    );
    // The range applied once.
    let r = c.expect("HASH big.bin", &[213]);
    assert!(last_text(&r).starts_with(&format!("SHA-256 0-{} ", big.len() - 1)));
    // A range past the end stops at the end.
    let tail = slice_file(&server, "tail", &part(big.len() - 10, big.len()));
    c.expect("OPTS HASH MD5", &[200]);
    c.expect(
        &format!("RANG {} {}", big.len() - 10, big.len() + 1000),
        &[350],
    );
    let r = c.expect("HASH big.bin", &[213]);
    assert!(last_text(&r).contains(&tool_digest("md5sum", &tail)), "{r}");
    // REST n + HASH: from n to the end.
    let from = slice_file(&server, "from", &part(4096, big.len()));
    c.expect("OPTS HASH SHA-1", &[200]);
    c.expect("REST 4096", &[350]);
    let r = c.expect("HASH big.bin", &[213]);
    assert_eq!(
        last_text(&r),
        format!(
            "SHA-1 4096-{} {} /big.bin",
            big.len() - 1,
            tool_digest("sha1sum", &from)
        )
    );
    let mid = slice_file(&server, "mid", &part(10, 5000));
    let r = c.expect("XCRC big.bin 10 5000", &[250]);
    assert_eq!(last_text(&r), crc32_digest(&mid));
    let r = c.expect("XSHA256 big.bin 4096", &[250]);
    assert_eq!(last_text(&r), tool_digest("sha256sum", &from));

    // Errors: missing file, directory, start beyond the end, unknown algorithm.
    c.expect("HASH missing.bin", &[550]);
    std::fs::create_dir(server.root().join("dir")).expect("mkdir");
    c.expect("HASH dir", &[550]);
    c.expect("XMD5 small\\ file.bin", &[550]);
    c.expect(&format!("XSHA1 big.bin {}", big.len() + 1), &[554]);
    c.expect("OPTS HASH SHA-3", &[504]);
    c.expect("QUIT", &[221]);
}

#[test]
fn hash_needs_the_read_permission() {
    let (_dir, file) = support::users::users_file(&[
        ("lister", r#"permissions = ["list"]"#),
        ("reader", r#"permissions = ["list", "read"]"#),
    ]);
    let server = support::users::start_with_users(&file, &[]);
    write_file(&server.root(), "f.txt", b"data");
    let mut c = Control::login(server.addr(), "lister", support::users::USERS_PW);
    for cmd in ["HASH f.txt", "XSHA256 f.txt", "XCRC f.txt"] {
        c.expect(cmd, &[550]);
    }
    let mut c = Control::login(server.addr(), "reader", support::users::USERS_PW);
    c.expect("HASH f.txt", &[213]);
}

#[test]
fn mff_mfct_and_site_utime_set_times_and_modes() {
    let server = Server::start();
    write_file(&server.root(), "a file.txt", b"hello");
    let path = server.root().join("a file.txt");
    let mut c = Control::login(server.addr(), USER, PASS);

    let r = c.expect(
        "MFF modify=20200102030405;UNIX.mode=0604; a file.txt",
        &[213],
    );
    assert_eq!(
        last_text(&r),
        "modify=20200102030405;UNIX.mode=0604; /a file.txt"
    );
    let md = std::fs::metadata(&path).expect("stat");
    assert_eq!(md.mtime(), 1_577_934_245);
    assert_eq!(md.permissions().mode() & 0o777, 0o604);
    c.expect("MFF UNIX.mode=0644; a file.txt", &[213]);
    assert_eq!(
        std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777,
        0o644
    );
    c.expect("MFF create=20200102030405; a file.txt", &[504]);
    c.expect("MFF modify=2020; a file.txt", &[501]);
    c.expect("MFF modify=20200102030405; missing", &[550]);

    // MFCT: the filesystem cannot set creation times.
    c.expect("MFCT 20200102030405 a file.txt", &[504]);
    c.expect("MFCT 20200102030405 missing", &[550]);

    // SITE UTIME, both forms (and ProFTPD's time-first one).
    c.expect("SITE UTIME a file.txt 20210304050607", &[200]);
    assert_eq!(
        std::fs::metadata(&path).expect("stat").mtime(),
        1_614_834_367
    );
    c.expect(
        "SITE UTIME 20190101000000 20220101000000 20190101000000 UTC a file.txt",
        &[200],
    );
    assert_eq!(
        std::fs::metadata(&path).expect("stat").mtime(),
        1_640_995_200
    );
    c.expect("SITE UTIME 202301010000 a file.txt", &[200]);
    assert_eq!(
        std::fs::metadata(&path).expect("stat").mtime(),
        1_672_531_200
    );
    c.expect("SITE UTIME a file.txt", &[501]);

    // A read-only account may do none of it.
    drop(c);
    let server = Server::builder().user(&format!("{USER}:{PASS}:ro")).start();
    write_file(&server.root(), "f", b"x");
    let mut c = Control::login(server.addr(), USER, PASS);
    for cmd in [
        "MFF modify=20200102030405; f",
        "MFF UNIX.mode=0600; f",
        "MFCT 20200102030405 f",
        "SITE UTIME f 20200102030405",
    ] {
        c.expect(cmd, &[550]);
    }
}

#[test]
fn site_umask_applies_to_uploads_and_mkd() {
    let server = Server::start();
    let local = server.local().join("up.txt");
    std::fs::write(&local, b"uploaded").expect("write");
    let mut cmd = support::curl();
    cmd.args(["-Q", "SITE UMASK 027", "-Q", "MKD made", "-T"])
        .arg(&local)
        .arg(server.url("/new.txt"));
    run_ok(cmd, Duration::from_secs(60));
    let mode = |p: &str| {
        std::fs::metadata(server.root().join(p))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("new.txt"), 0o640);
    assert_eq!(mode("made"), 0o750);

    // Without SITE UMASK the defaults stay; the umask is per session.
    let mut cmd = support::curl();
    cmd.arg("-T").arg(&local).arg(server.url("/plain.txt"));
    run_ok(cmd, Duration::from_secs(60));
    assert_ne!(mode("plain.txt"), 0o640);

    let mut c = Control::login(server.addr(), USER, PASS);
    let r = c.expect("SITE UMASK", &[200]);
    assert!(r.text.contains("not set"), "{r}");
    c.expect("SITE UMASK 077", &[200]);
    let r = c.expect("SITE UMASK", &[200]);
    assert!(r.text.contains("077"), "{r}");
    c.expect("SITE UMASK 888", &[501]);
}

#[test]
fn site_idle_shortens_the_idle_timeout() {
    let server = Server::builder().args(&["--idle-timeout", "30"]).start();
    let mut c = Control::login(server.addr(), USER, PASS);
    c.expect("SITE IDLE 31", &[501]);
    c.expect("SITE IDLE 0", &[501]);
    let r = c.expect("SITE IDLE", &[200]);
    assert!(r.text.contains("30"), "{r}");
    c.expect("SITE IDLE 1", &[200]);
    c.set_timeout(Duration::from_secs(10));
    let r = c.reply();
    assert_eq!(r.code, 421, "{r}");
    assert!(c.is_closed_within(Duration::from_secs(5)));
}

#[test]
fn avbl_clnt_lang_smnt_and_feat() {
    let server = Server::builder().args(&["--log-level", "info"]).start();
    std::fs::create_dir(server.root().join("sub")).expect("mkdir");
    let mut c = Control::connect(server.addr());
    // CLNT and LANG are allowed before login.
    c.expect("CLNT ext-hash-test 1.0", &[200]);
    c.expect("LANG EN", &[200]);
    c.expect("LANG", &[200]);
    c.expect("LANG fr", &[504]);
    c.expect("AVBL", &[530]);
    c.expect(&format!("USER {USER}"), &[331]);
    c.expect(&format!("PASS {PASS}"), &[230]);

    let free = |p: &Path| {
        let mut cmd = program("python3");
        cmd.args([
            "-c",
            "import os, sys; s = os.statvfs(sys.argv[1]); print(s.f_bavail * s.f_frsize)",
        ])
        .arg(p);
        run_ok(cmd, Duration::from_secs(30))
            .stdout_text()
            .trim()
            .parse::<u64>()
            .expect("free bytes")
    };
    for arg in ["AVBL", "AVBL sub"] {
        let r = c.expect(arg, &[213]);
        let n: u64 = last_text(&r).parse().expect("a number");
        let disk = free(&server.root());
        // Other tests write meanwhile: within 1 GiB of what statvfs says.
        assert!(n.abs_diff(disk) < (1 << 30), "{arg}: {n} vs {disk}");
    }
    c.expect("AVBL missing", &[550]);
    let r = c.expect("SMNT /mnt", &[502]);
    assert!(r.text.contains("SMNT"), "{r}");

    let r = c.expect("FEAT", &[211]);
    let lines: Vec<&str> = r.text.lines().map(str::trim).collect();
    for f in [
        "AVBL",
        "CLNT",
        "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32",
        "LANG EN*",
        "MFF modify;UNIX.mode;",
        "XCRC",
        "XMD5",
        "XSHA1",
        "XSHA256",
        "XSHA512",
    ] {
        assert!(lines.contains(&f), "FEAT lacks {f}:\n{r}");
    }
    c.expect("OPTS HASH CRC32", &[200]);
    let r = c.expect("FEAT", &[211]);
    assert!(
        r.text.contains("HASH SHA-256;SHA-512;SHA-1;MD5;CRC32*"),
        "{r}"
    );
    let r = c.expect("HELP", &[214]);
    for v in [
        "AVBL", "HASH", "RANG", "MFF", "MFCT", "XSHA256", "CLNT", "LANG",
    ] {
        assert!(
            r.text.split_whitespace().any(|w| w == v),
            "HELP lacks {v}:\n{r}"
        );
    }
    let r = c.expect("SITE HELP", &[214]);
    assert!(r.text.contains("IDLE UMASK UTIME"), "{r}");
    c.expect("QUIT", &[221]);
    drop(c);
    // CLNT is logged.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !server.logs().contains("ext-hash-test 1.0") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server.logs().contains("ext-hash-test 1.0"),
        "{}",
        server.logs()
    );
}

#[test]
fn avbl_is_bounded_by_the_quota() {
    let (_dir, file) = support::users::users_file(&[("quinn", "quota_bytes = 10000")]);
    let server = support::users::start_with_users(&file, &[]);
    write_file(&server.root(), "f", &[1u8; 4000]);
    let mut c = Control::login(server.addr(), "quinn", support::users::USERS_PW);
    let r = c.expect("AVBL", &[213]);
    assert_eq!(last_text(&r), "6000");
}

#[test]
fn mirror_verify_uses_the_server_hash() {
    let server = Server::builder()
        .args(&["--log-level", "ferry_server=debug,info"])
        .start();
    write_file(&server.root(), "site/same.bin", &pattern(5000, 1));
    write_file(&server.root(), "site/changed.bin", &pattern(5000, 2));
    let local = server.local().join("mirror");
    write_file(&local, "same.bin", &pattern(5000, 1));
    write_file(&local, "changed.bin", &pattern(5000, 3));
    let h = home_in(server.outside());
    let url = url_with("ftp", USER, PASS, server.addr(), "/site");
    let out = ok(
        &h,
        &["mirror", "--verify", &url, local.to_str().expect("UTF-8")],
    );
    assert_eq!(
        std::fs::read(local.join("changed.bin")).expect("read"),
        pattern(5000, 2),
        "{}",
        out.stdout_text()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !server.logs().contains("HASH site/same.bin") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = server.logs();
    assert!(logs.contains("HASH site/same.bin"), "{logs}");
    assert!(!logs.contains("command=XSHA"), "{logs}");
}

#[test]
fn curl_quote_hash() {
    let server = Server::start();
    let data = pattern(3000, 9);
    write_file(&server.root(), "q.bin", &data);
    let local = server.local().join("q.bin");
    std::fs::write(&local, &data).expect("write");
    let mut cmd = support::curl();
    cmd.args(["-Q", "HASH q.bin", "-o", "/dev/null"])
        .arg(server.url("/q.bin"));
    let out = run_ok(cmd, Duration::from_secs(60));
    let want = format!(
        "213 SHA-256 0-2999 {} /q.bin",
        tool_digest("sha256sum", &local)
    );
    assert!(out.stderr_text().contains(&want), "{}", out.stderr_text());
}
