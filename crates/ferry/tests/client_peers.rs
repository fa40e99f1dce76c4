//! The `ferry` client commands against other servers: vsftpd, pure-ftpd, proftpd and
//! pyftpdlib (see `support::peers`). For each: ls, get, put, recursive both ways, mirror
//! both ways with `--delete`, a killed download resumed with `-c`, an upload resumed with
//! `-c`, segmented download and upload (falling back where REST STOR is refused), passive
//! and active, and explicit FTPS where the peer offers it. Every file checked by sha256.

mod client_util;
mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use client_util::{home_in, ok, pattern};
use support::peers::{Peer, PeerKind, PeerOptions};
use support::tree::assert_same_tree;
use support::{sha256_bytes, sha256_file, tree_hashes, write_tree};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
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

/// The whole plain-FTP matrix against one peer.
fn matrix(kind: PeerKind) {
    let peer = Peer::start(kind, PeerOptions::plain());
    let base = peer.local();
    let h = home_in(&base);
    let u = |path: &str| peer.url_with_credentials(path);
    let ctx = |what: &str| format!("{kind}: {what}\n{}", peer.logs());

    // ls and recursive get.
    let expected = write_tree(&peer.root().join("tree"), 16, 41);
    peer.own_root();
    let names = ok(&h, &["ls", &u("/tree/")]).stdout_text();
    assert!(
        names.lines().any(|l| l == "with space.txt"),
        "{}",
        ctx(&names)
    );
    assert!(
        !names.lines().any(|l| l == "." || l == ".."),
        "{}",
        ctx(&names)
    );
    let down = base.join("down");
    ok(&h, &["get", "-r", &u("/tree"), "-o", s(&down)]);
    assert_same_tree(&ctx("get -r"), &expected, &tree_hashes(&down));

    // Recursive put.
    ok(&h, &["put", "-r", s(&down), &u("/up/")]);
    assert_same_tree(
        &ctx("put -r"),
        &expected,
        &tree_hashes(&peer.root().join("up/down")),
    );

    // Mirror down, then back up with --delete, and down again with --delete.
    let mirror = base.join("mirror");
    ok(&h, &["mirror", &u("/tree"), s(&mirror)]);
    assert_same_tree(&ctx("mirror"), &expected, &tree_hashes(&mirror));
    std::fs::remove_file(mirror.join("with space.txt")).expect("rm");
    std::fs::write(mirror.join("added.txt"), b"added locally").expect("write");
    ok(
        &h,
        &["mirror", "--reverse", "--delete", s(&mirror), &u("/tree")],
    );
    assert_same_tree(
        &ctx("mirror -R --delete"),
        &tree_hashes(&mirror),
        &tree_hashes(&peer.root().join("tree")),
    );
    let again = base.join("again");
    ok(&h, &["mirror", &u("/tree"), s(&again)]);
    std::fs::write(again.join("extra.txt"), b"only here").expect("write");
    ok(
        &h,
        &[
            "mirror",
            "--delete",
            "--parallel",
            "3",
            &u("/tree"),
            s(&again),
        ],
    );
    assert_same_tree(
        &ctx("mirror --delete"),
        &tree_hashes(&mirror),
        &tree_hashes(&again),
    );

    // A killed download, resumed with -c.
    let big = pattern(5 << 20, 42);
    peer.put_file("big.bin", &big);
    let local = base.join("big.bin");
    let mut child = client_util::ferry(
        &h,
        &["get", "--limit-rate", "2M", &u("/big.bin"), "-o", s(&local)],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn ferry get");
    let got = wait_for_size(&local, 1 << 20, Duration::from_secs(30));
    child.kill().expect("kill");
    let _ = child.wait();
    let partial = std::fs::metadata(&local).map(|m| m.len()).unwrap_or(0);
    assert!(
        got >= 1 << 20 && partial < big.len() as u64,
        "{}",
        ctx("no partial download")
    );
    ok(&h, &["get", "-c", &u("/big.bin"), "-o", s(&local)]);
    assert_eq!(
        sha256_file(&local),
        sha256_bytes(&big),
        "{}",
        ctx("resumed download")
    );

    // An upload resumed with -c from a partial remote file.
    peer.put_file("resume.bin", big.get(..1_500_000).expect("prefix"));
    ok(&h, &["put", "-c", s(&local), &u("/resume.bin")]);
    assert_eq!(
        sha256_file(&peer.root().join("resume.bin")),
        sha256_bytes(&big),
        "{}",
        ctx("resumed upload")
    );

    // Segmented download and upload (the upload may fall back to one stream).
    let seg = base.join("seg.bin");
    ok(
        &h,
        &["get", "--segments", "4", &u("/big.bin"), "-o", s(&seg)],
    );
    assert_eq!(
        sha256_file(&seg),
        sha256_bytes(&big),
        "{}",
        ctx("segmented get")
    );
    let out = ok(&h, &["put", "--segments", "4", s(&seg), &u("/seg-up.bin")]);
    assert_eq!(
        sha256_file(&peer.root().join("seg-up.bin")),
        sha256_bytes(&big),
        "{}\n{}",
        ctx("segmented put"),
        out.stderr_text()
    );

    // Active and passive.
    for mode in ["--active", "--retries=3"] {
        let back = base.join(format!("mode{mode}.bin"));
        ok(&h, &["put", mode, s(&seg), &u("/mode.bin")]);
        ok(&h, &["get", mode, &u("/mode.bin"), "-o", s(&back)]);
        assert_eq!(sha256_file(&back), sha256_bytes(&big), "{}", ctx(mode));
    }
}

/// Explicit FTPS against one peer: listing and downloads (passive, active, segmented), and
/// uploads in both modes with `uploads`.
fn ftps(kind: PeerKind, uploads: bool) {
    let peer = Peer::start(kind, PeerOptions::ftps());
    let base = peer.local();
    let h = home_in(&base);
    let ca = peer.cafile();
    let data = pattern(700_000, 43);
    peer.put_file("tls.bin", &data);
    let u = |path: &str| peer.url_with_credentials(path);
    let local = base.join("tls.bin");
    for mode in ["--active", "--retries=3"] {
        ok(
            &h,
            &[
                "get",
                "--tls",
                "--cacert",
                s(&ca),
                mode,
                &u("/tls.bin"),
                "-o",
                s(&local),
            ],
        );
        assert_eq!(
            sha256_file(&local),
            sha256_bytes(&data),
            "{kind} {mode}\n{}",
            peer.logs()
        );
        if !uploads {
            continue;
        }
        ok(
            &h,
            &[
                "put",
                "--tls",
                "--cacert",
                s(&ca),
                mode,
                s(&local),
                &u("/tls-up.bin"),
            ],
        );
        assert_eq!(
            sha256_file(&peer.root().join("tls-up.bin")),
            sha256_bytes(&data),
            "{kind} {mode}\n{}",
            peer.logs()
        );
    }
    let names = ok(&h, &["ls", "--tls", "--cacert", s(&ca), &u("/")]).stdout_text();
    assert!(names.contains("tls.bin"), "{kind}: {names}");
    // Segments over TLS.
    let seg = base.join("seg.bin");
    ok(
        &h,
        &[
            "get",
            "--tls",
            "--cacert",
            s(&ca),
            "--segments",
            "3",
            &u("/tls.bin"),
            "-o",
            s(&seg),
        ],
    );
    assert_eq!(
        sha256_file(&seg),
        sha256_bytes(&data),
        "{kind} segments\n{}",
        peer.logs()
    );
}

#[test]
fn vsftpd() {
    matrix(PeerKind::Vsftpd);
}

#[test]
fn pure_ftpd() {
    matrix(PeerKind::PureFtpd);
}

#[test]
fn proftpd() {
    matrix(PeerKind::Proftpd);
}

#[test]
fn pyftpdlib() {
    matrix(PeerKind::Pyftpdlib);
}

#[test]
fn ftps_every_peer_that_offers_it() {
    for kind in PeerKind::ALL {
        if kind.supports_ftps() {
            ftps(kind, false);
        }
    }
}

/// Uploads over TLS to every peer that offers it. Regression: vsftpd answered
/// `426 Failure reading network stream` and pyftpdlib stored truncated files because the
/// client closed its upload connection with the server's TLS 1.3 session tickets unread,
/// which makes the kernel reset the connection; the client now drains it.
#[test]
fn ftps_uploads_every_peer() {
    for kind in PeerKind::ALL {
        if kind.supports_ftps() {
            ftps(kind, true);
        }
    }
}
