//! The `ferry` client commands over FTPS against Ferry's own server: explicit (`--tls`) and
//! implicit (`ftps://`), certificate checks (`--cacert`, system store, `--tofu`,
//! `--insecure`) and their exit codes.

mod client_util;
mod support;

use std::path::Path;

use client_util::{assert_code, home_in, ok, pattern, run_ferry, url_with};
use support::{sha256_bytes, sha256_file, write_file, Server, PASS, USER};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn explicit_ftps_get_put_ls_passive_and_active() {
    let server = Server::builder().ftps(&[]).start();
    let ca = server.cafile();
    let h = home_in(server.outside());
    let data = pattern(500_000, 21);
    write_file(&server.root(), "secret.bin", &data);
    let u = url_with("ftp", USER, PASS, server.addr(), "/secret.bin");
    for mode in [&[][..], &["--active"][..]] {
        let local = server.local().join("secret.bin");
        let mut args = vec!["get", "--tls", "--cacert", s(&ca), &u, "-o", s(&local)];
        args.extend_from_slice(mode);
        ok(&h, &args);
        assert_eq!(sha256_file(&local), sha256_bytes(&data));
        let up = url_with("ftp", USER, PASS, server.addr(), "/up.bin");
        let mut args = vec!["put", "--tls", "--cacert", s(&ca), s(&local), &up];
        args.extend_from_slice(mode);
        ok(&h, &args);
        assert_eq!(
            sha256_file(&server.root().join("up.bin")),
            sha256_bytes(&data)
        );
    }
    let dir = url_with("ftp", USER, PASS, server.addr(), "/");
    let out = ok(&h, &["ls", "--tls", "--cacert", s(&ca), &dir]);
    assert!(
        out.stdout_text().contains("secret.bin"),
        "{}",
        out.stdout_text()
    );
    // Segments over TLS too.
    let local = server.local().join("seg.bin");
    ok(
        &h,
        &[
            "get",
            "--tls",
            "--cacert",
            s(&ca),
            "--segments",
            "3",
            &u,
            "-o",
            s(&local),
        ],
    );
    assert_eq!(sha256_file(&local), sha256_bytes(&data));
}

#[test]
fn implicit_ftps() {
    let server = Server::builder().implicit_listen("127.0.0.1:0").start();
    let ca = server.cafile();
    let h = home_in(server.outside());
    let data = pattern(123_456, 22);
    write_file(&server.root(), "dir/i.bin", &data);
    let u = url_with("ftps", USER, PASS, server.implicit_addr(), "/dir/i.bin");
    let local = server.local().join("i.bin");
    ok(&h, &["get", "--cacert", s(&ca), &u, "-o", s(&local)]);
    assert_eq!(sha256_file(&local), sha256_bytes(&data));
    let dest = url_with("ftps", USER, PASS, server.implicit_addr(), "/dir/back.bin");
    ok(&h, &["put", "--cacert", s(&ca), s(&local), &dest]);
    assert_eq!(
        sha256_file(&server.root().join("dir/back.bin")),
        sha256_bytes(&data)
    );
}

#[test]
fn certificate_checks_and_exit_codes() {
    let server = Server::builder().ftps(&[]).start();
    let h = home_in(server.outside());
    write_file(&server.root(), "f.txt", b"tls");
    let dir = url_with("ftp", USER, PASS, server.addr(), "/");

    // The self-signed certificate is not in the system store: 60.
    let out = run_ferry(&h, &["ls", "--tls", &dir]);
    assert_code(&out, 60);

    // --insecure accepts anything.
    let out = ok(&h, &["ls", "--tls", "--insecure", &dir]);
    assert!(out.stdout_text().contains("f.txt"));

    // Trust on first use: stored the first time (with a warning), accepted afterwards.
    let known = h.join("kh");
    let out = ok(&h, &["ls", "--tls", "--known-hosts", s(&known), &dir]);
    assert!(out.stdout_text().contains("f.txt"));
    let stored = std::fs::read_to_string(&known).expect("known hosts written");
    assert!(stored.contains(&server.port().to_string()), "{stored}");
    ok(&h, &["ls", "--tls", "--known-hosts", s(&known), &dir]);
    // The default store lives under ~/.config/ferry.
    ok(&h, &["ls", "--tls", "--tofu", &dir]);
    assert!(h.join(".config/ferry/known_hosts").is_file());

    // A changed certificate (here: a tampered fingerprint) is refused with 60.
    let tampered: String = stored
        .lines()
        .map(|l| match l.rsplit_once(' ') {
            Some((host, fp)) => format!("{host} {}\n", "0".repeat(fp.len())),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&known, tampered).expect("tamper");
    let out = run_ferry(&h, &["ls", "--tls", "--known-hosts", s(&known), &dir]);
    assert_code(&out, 60);
    assert!(
        out.stderr_text().to_ascii_lowercase().contains("changed"),
        "{}",
        out.stderr_text()
    );
}
