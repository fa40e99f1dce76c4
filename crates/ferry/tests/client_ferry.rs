//! The `ferry` client commands (ls, get, put, mirror) against Ferry's own server: every file
//! checked by sha256.

mod client_util;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use client_util::{assert_code, home_in, ok, pattern, run_ferry, url_with};
use support::tree::assert_same_tree;
use support::{sha256_bytes, sha256_file, tree_hashes, write_file, write_tree, Server, PASS, USER};

fn url(server: &Server, path: &str) -> String {
    url_with("ftp", USER, PASS, server.addr(), path)
}

fn home(server: &Server) -> std::path::PathBuf {
    home_in(server.outside())
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn ls_names_long_and_json() {
    let server = Server::start();
    write_file(&server.root(), "dir/a.txt", b"hello");
    write_file(&server.root(), "dir/sub/b.bin", &[0u8; 10]);
    write_file(&server.root(), "dir/c d.txt", b"x");
    let h = home(&server);
    let out = ok(&h, &["ls", &url(&server, "/dir/")]);
    assert_eq!(out.stdout_text(), "a.txt\nc d.txt\nsub\n");
    let out = ok(&h, &["ls", "--long", &url(&server, "/dir/")]);
    let first = out.stdout_text().lines().next().unwrap_or("").to_owned();
    assert!(first.starts_with("-            5 "), "{first}");
    assert!(first.ends_with("Z a.txt"), "{first}");
    let out = ok(&h, &["ls", "--json", &url(&server, "/dir/")]);
    let text = out.stdout_text();
    assert!(
        text.contains("{\"name\":\"a.txt\",\"type\":\"file\",\"size\":5,\"mtime\":\""),
        "{text}"
    );
    assert!(
        text.contains("{\"name\":\"sub\",\"type\":\"dir\""),
        "{text}"
    );
    // A glob in the last component.
    let out = ok(&h, &["ls", &url(&server, "/dir/*.txt")]);
    assert_eq!(out.stdout_text(), "a.txt\nc d.txt\n");
    // Percent-encoded path.
    let out = ok(&h, &["ls", &url(&server, "/dir/c%20d.txt")]);
    assert_eq!(out.stdout_text(), "c d.txt\n");
}

#[test]
fn get_and_put_one_file() {
    let server = Server::start();
    let data = pattern(300_000, 1);
    write_file(&server.root(), "pub/file one.bin", &data);
    let h = home(&server);
    let local = server.local();
    let out_file = local.join("got.bin");
    ok(
        &h,
        &[
            "get",
            &url(&server, "/pub/file%20one.bin"),
            "-o",
            s(&out_file),
        ],
    );
    assert_eq!(sha256_file(&out_file), sha256_bytes(&data));
    // -o naming an existing directory keeps the remote name.
    ok(
        &h,
        &["get", &url(&server, "/pub/file%20one.bin"), "-o", s(&local)],
    );
    assert_eq!(
        sha256_file(&local.join("file one.bin")),
        sha256_bytes(&data)
    );

    // Upload to a file URL and into a directory URL (created).
    ok(&h, &["put", s(&out_file), &url(&server, "/up.bin")]);
    assert_eq!(
        sha256_file(&server.root().join("up.bin")),
        sha256_bytes(&data)
    );
    ok(&h, &["put", s(&out_file), &url(&server, "/new/dir/")]);
    assert_eq!(
        sha256_file(&server.root().join("new/dir/got.bin")),
        sha256_bytes(&data)
    );
    // The remote time follows the local one (MFMT), as the local time followed the server.
    let remote_meta = std::fs::metadata(server.root().join("up.bin")).expect("meta");
    let local_meta = std::fs::metadata(&out_file).expect("meta");
    let secs = |m: &std::fs::Metadata| {
        m.modified()
            .expect("mtime")
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after epoch")
            .as_secs()
    };
    assert_eq!(secs(&remote_meta), secs(&local_meta));
}

#[test]
fn recursive_get_and_put() {
    let server = Server::start();
    let expected = write_tree(&server.root().join("tree"), 24, 7);
    let h = home(&server);
    let dest = server.local().join("down");
    ok(&h, &["get", "-r", &url(&server, "/tree"), "-o", s(&dest)]);
    assert_same_tree("get -r", &expected, &tree_hashes(&dest));

    ok(&h, &["put", "-r", s(&dest), &url(&server, "/again/")]);
    assert_same_tree(
        "put -r",
        &expected,
        &tree_hashes(&server.root().join("again/down")),
    );

    // A glob with -r takes matching directories too; --parallel spreads the files.
    let par = server.local().join("par");
    ok(
        &h,
        &[
            "get",
            "--parallel",
            "4",
            &url(&server, "/tree/*"),
            "-o",
            s(&par),
            "-r",
        ],
    );
    assert_same_tree("get glob -r --parallel", &expected, &tree_hashes(&par));
}

#[test]
fn parallel_put_and_get() {
    let server = Server::start();
    let h = home(&server);
    let src = server.local().join("src");
    let mut args: Vec<String> = vec!["put".into(), "--parallel".into(), "3".into()];
    let mut expected = std::collections::BTreeMap::new();
    for i in 0..7 {
        let data = pattern(20_000 + i * 1000, i as u64 + 10);
        let name = format!("f{i}.bin");
        write_file(&src, &name, &data);
        expected.insert(name.clone(), sha256_bytes(&data));
        args.push(src.join(&name).to_string_lossy().into_owned());
    }
    args.push(url(&server, "/p/"));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&h, &argv);
    assert_same_tree(
        "put --parallel",
        &expected,
        &tree_hashes(&server.root().join("p")),
    );
    let dest = server.local().join("dest");
    ok(
        &h,
        &[
            "get",
            "--parallel",
            "3",
            &url(&server, "/p/f*.bin"),
            "-o",
            s(&dest),
        ],
    );
    assert_same_tree("get --parallel", &expected, &tree_hashes(&dest));
}

#[test]
fn mirror_both_ways_with_delete() {
    let server = Server::start();
    let expected = write_tree(&server.root().join("site"), 20, 3);
    let h = home(&server);
    let local = server.local().join("copy");
    let out = ok(&h, &["mirror", &url(&server, "/site"), s(&local)]);
    assert!(out.stdout_text().contains("(new)"), "{}", out.stdout_text());
    assert_same_tree("mirror", &expected, &tree_hashes(&local));
    // Nothing to do the second time (times were copied).
    let out = ok(&h, &["mirror", &url(&server, "/site"), s(&local)]);
    assert_eq!(out.stdout_text(), "", "second mirror did something");

    // Local changes go up with --reverse --delete.
    std::fs::remove_file(local.join("with space.txt")).expect("rm");
    write_file(&local, "added/new file.txt", b"new content");
    let out = ok(
        &h,
        &[
            "mirror",
            "--reverse",
            "--delete",
            s(&local),
            &url(&server, "/site"),
        ],
    );
    let text = out.stdout_text();
    assert!(text.contains("delete with space.txt"), "{text}");
    assert!(text.contains("put added/new file.txt (new)"), "{text}");
    assert_same_tree(
        "mirror -R",
        &tree_hashes(&local),
        &tree_hashes(&server.root().join("site")),
    );
    let out = ok(
        &h,
        &[
            "mirror",
            "--reverse",
            "--delete",
            s(&local),
            &url(&server, "/site"),
        ],
    );
    assert_eq!(out.stdout_text(), "", "second reverse mirror did something");

    // Remote changes come down with --delete; --dry-run first changes nothing.
    std::fs::remove_file(server.root().join("site/added/new file.txt")).expect("rm");
    write_file(&server.root(), "site/remote.txt", b"from the server");
    let before = tree_hashes(&local);
    let out = ok(
        &h,
        &[
            "mirror",
            "--delete",
            "--dry-run",
            &url(&server, "/site"),
            s(&local),
        ],
    );
    assert!(
        out.stdout_text().contains("delete added/new file.txt"),
        "{}",
        out.stdout_text()
    );
    assert_eq!(before, tree_hashes(&local));
    ok(
        &h,
        &[
            "mirror",
            "--delete",
            "--parallel",
            "3",
            &url(&server, "/site"),
            s(&local),
        ],
    );
    assert_same_tree(
        "mirror --delete",
        &tree_hashes(&server.root().join("site")),
        &tree_hashes(&local),
    );
    assert!(
        !local.join("added/new file.txt").exists(),
        "file not deleted"
    );
    // A directory gone from the server goes locally too, with its content.
    std::fs::remove_dir(server.root().join("site/added")).expect("rmdir");
    ok(
        &h,
        &["mirror", "--delete", &url(&server, "/site"), s(&local)],
    );
    assert!(!local.join("added").exists(), "directory not deleted");

    // --only-newer never replaces a newer destination file; --verify compares the rest.
    write_file(&local, "remote.txt", b"local edit, newer");
    let out = ok(
        &h,
        &[
            "mirror",
            "--only-newer",
            "--verify",
            &url(&server, "/site"),
            s(&local),
        ],
    );
    assert!(
        !out.stdout_text().contains("get remote.txt"),
        "{}",
        out.stdout_text()
    );
    assert_eq!(
        std::fs::read(local.join("remote.txt")).expect("read"),
        b"local edit, newer"
    );
}

/// Waits (bounded) until `path` holds at least `min` bytes.
fn wait_for_size(path: &Path, min: u64, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len >= min || Instant::now() >= deadline {
            return len;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn resume_a_killed_download() {
    let server = Server::start();
    let data = pattern(6 << 20, 5);
    write_file(&server.root(), "big.bin", &data);
    let h = home(&server);
    let local = server.local().join("big.bin");
    let u = url(&server, "/big.bin");
    let mut child = client_util::ferry(&h, &["get", "--limit-rate", "2M", &u, "-o", s(&local)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn ferry get");
    let got = wait_for_size(&local, 1 << 20, Duration::from_secs(30));
    child.kill().expect("kill");
    let _ = child.wait();
    let partial = std::fs::metadata(&local).expect("partial file").len();
    assert!(got >= 1 << 20, "the download did not start: {got} bytes");
    assert!(
        partial < data.len() as u64,
        "the download was not interrupted"
    );
    let out = ok(&h, &["get", "-c", &u, "-o", s(&local)]);
    assert_eq!(
        sha256_file(&local),
        sha256_bytes(&data),
        "{}",
        out.describe()
    );
    // Already complete: -c transfers nothing and succeeds.
    ok(&h, &["get", "-c", &u, "-o", s(&local)]);
    assert_eq!(sha256_file(&local), sha256_bytes(&data));
}

#[test]
fn resume_uploads() {
    let server = Server::start();
    let data = pattern(2 << 20, 9);
    let h = home(&server);
    let local = server.local().join("up.bin");
    std::fs::write(&local, &data).expect("write");
    // A partial remote file (as a broken transfer leaves it): -c sends the rest.
    write_file(
        &server.root(),
        "up.bin",
        data.get(..700_000).expect("prefix"),
    );
    ok(&h, &["put", "-c", s(&local), &url(&server, "/up.bin")]);
    assert_eq!(
        sha256_file(&server.root().join("up.bin")),
        sha256_bytes(&data)
    );

    // A killed upload, then -c.
    let u = url(&server, "/killed.bin");
    let mut child = client_util::ferry(&h, &["put", "--limit-rate", "1M", s(&local), &u])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn ferry put");
    std::thread::sleep(Duration::from_millis(700));
    child.kill().expect("kill");
    let _ = child.wait();
    ok(&h, &["put", "-c", s(&local), &u]);
    assert_eq!(
        sha256_file(&server.root().join("killed.bin")),
        sha256_bytes(&data)
    );
}

#[test]
fn segmented_download_and_upload() {
    let server = Server::start();
    let data = pattern(3_000_123, 11);
    write_file(&server.root(), "seg.bin", &data);
    let h = home(&server);
    let local = server.local().join("seg.bin");
    ok(
        &h,
        &[
            "get",
            "--segments",
            "4",
            &url(&server, "/seg.bin"),
            "-o",
            s(&local),
        ],
    );
    assert_eq!(sha256_file(&local), sha256_bytes(&data));
    let out = ok(
        &h,
        &[
            "put",
            "--segments",
            "4",
            s(&local),
            &url(&server, "/seg-up.bin"),
        ],
    );
    assert_eq!(
        sha256_file(&server.root().join("seg-up.bin")),
        sha256_bytes(&data)
    );
    assert!(
        !out.stderr_text().contains("failed"),
        "the segmented upload fell back: {}",
        out.stderr_text()
    );
}

#[test]
fn active_and_passive() {
    let server = Server::start();
    let data = pattern(200_000, 12);
    let h = home(&server);
    let local = server.local().join("a.bin");
    std::fs::write(&local, &data).expect("write");
    for mode in [&["--active"][..], &[][..]] {
        let mut args = vec!["put"];
        args.extend_from_slice(mode);
        let target = url(&server, "/m.bin");
        args.extend_from_slice(&[s(&local), &target]);
        ok(&h, &args);
        assert_eq!(
            sha256_file(&server.root().join("m.bin")),
            sha256_bytes(&data)
        );
        let back = server.local().join("back.bin");
        let mut args = vec!["get"];
        args.extend_from_slice(mode);
        args.extend_from_slice(&[&target, "-o", s(&back)]);
        ok(&h, &args);
        assert_eq!(sha256_file(&back), sha256_bytes(&data));
        let mut args = vec!["ls"];
        args.extend_from_slice(mode);
        let dir = url(&server, "/");
        args.push(&dir);
        assert!(ok(&h, &args).stdout_text().contains("m.bin"));
    }
}

#[test]
fn ipv6_literal_url() {
    let server = Server::builder().listen("[::1]:0").start();
    write_file(&server.root(), "v6.txt", b"over IPv6");
    let h = home(&server);
    let u = url_with("ftp", USER, PASS, server.addr(), "/v6.txt");
    assert!(u.contains("[::1]"), "{u}");
    let local = server.local().join("v6.txt");
    ok(&h, &["get", &u, "-o", s(&local)]);
    assert_eq!(std::fs::read(&local).expect("read"), b"over IPv6");
}

#[test]
fn credentials_from_flag_and_netrc_and_no_prompt_without_terminal() {
    let server = Server::start();
    write_file(&server.root(), "n.txt", b"netrc");
    let h = home(&server);
    let bare = format!("ftp://{}:{}/", server.host(), server.port());
    let out = ok(&h, &["ls", "-u", &format!("{USER}:{PASS}"), &bare]);
    assert!(out.stdout_text().contains("n.txt"));
    // ~/.netrc of the private HOME (with a macdef block to skip).
    std::fs::write(
        h.join(".netrc"),
        format!(
            "macdef init\nls\n\nmachine {} login {USER} password {PASS}\n",
            server.host()
        ),
    )
    .expect("netrc");
    let out = ok(&h, &["ls", &bare]);
    assert!(out.stdout_text().contains("n.txt"));
    std::fs::remove_file(h.join(".netrc")).expect("rm netrc");
    // A user without password and no terminal: a clear usage error.
    let out = run_ferry(&h, &["ls", "-u", USER, &bare]);
    assert_code(&out, 2);
    assert!(
        out.stderr_text().contains("not a terminal"),
        "{}",
        out.stderr_text()
    );
}

#[test]
fn exit_codes() {
    let server = Server::start();
    write_file(&server.root(), "there.txt", b"x");
    let h = home(&server);
    let wrong = url_with("ftp", USER, "wrong-password", server.addr(), "/there.txt");
    let out = run_ferry(&h, &["get", &wrong, "-o", s(&server.local().join("w"))]);
    assert_code(&out, 10);
    assert!(
        !out.stderr_text().contains("wrong-password"),
        "{}",
        out.stderr_text()
    );

    let out = run_ferry(
        &h,
        &[
            "get",
            &url(&server, "/missing.txt"),
            "-o",
            s(&server.local().join("m")),
        ],
    );
    assert_code(&out, 78);
    assert!(
        !server.local().join("m").exists(),
        "an empty file was left behind"
    );

    // A port nobody listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let refused = format!("ftp://{USER}:{PASS}@127.0.0.1:{port}/x");
    let out = run_ferry(&h, &["ls", "--retries", "0", &refused]);
    assert_code(&out, 7);

    let out = run_ferry(&h, &["ls", "ftp://host.invalid/"]);
    assert_code(&out, 6);

    let out = run_ferry(&h, &["ls", "http://example.com/"]);
    assert_code(&out, 2);

    // `ferry --help` and each client command's help list the codes.
    for args in [
        &["--help"][..],
        &["get", "--help"][..],
        &["shell", "--help"][..],
    ] {
        let text = ok(&h, args).stdout_text();
        for needle in [
            "78",
            "remote file not found",
            "could not connect",
            "login failed",
        ] {
            assert!(
                text.contains(needle),
                "{args:?} help lacks {needle}:\n{text}"
            );
        }
    }
}

#[test]
fn upload_refused_is_25() {
    let server = Server::builder().user(&format!("{USER}:{PASS}:ro")).start();
    let h = home(&server);
    let local = server.local().join("f.txt");
    std::fs::write(&local, b"data").expect("write");
    let out = run_ferry(&h, &["put", s(&local), &url(&server, "/f.txt")]);
    assert_code(&out, 25);
}

#[test]
fn passwords_are_never_printed() {
    let server = Server::start();
    let h = home(&server);
    let u = url_with("ftp", USER, "s3cr%21t-pw", server.addr(), "/nope");
    let out = run_ferry(&h, &["get", &u, "-o", s(&server.local().join("n"))]);
    assert_ne!(client_util::code(&out), 0);
    let all = format!("{}{}", out.stdout_text(), out.stderr_text());
    assert!(!all.contains("s3cr"), "{all}");
}
