//! Interop: lftp against `ferry serve` (ls, get, put, and `mirror` / `mirror -R` of a
//! 200-file tree, in passive and active mode).

mod support;

use std::path::Path;
use std::time::Duration;

use support::tree::{assert_same_tree, Rng};
use support::{sha256_bytes, sha256_file, tree_hashes, write_file, write_tree, Outcome, Server};

/// Settings that keep lftp bounded and make any failed command fail the run.
fn settings(passive: bool, tls_probe: bool) -> String {
    let mut s = String::from(
        "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
         set net:persist-retries 0; set cmd:fail-exit yes; set xfer:clobber on; ",
    );
    s.push_str(if passive {
        "set ftp:passive-mode on; "
    } else {
        "set ftp:passive-mode off; set ftp:port-range 1024-65535; "
    });
    if !tls_probe {
        s.push_str("set ftp:ssl-allow no; ");
    }
    s
}

/// Run `lftp -c "<settings> open ...; <script>"` and panic with its output on failure.
fn lftp(server: &Server, passive: bool, tls_probe: bool, script: &str) -> Outcome {
    let full = format!(
        "{}open -u {},{} ftp://{}:{}; {script}",
        settings(passive, tls_probe),
        support::USER,
        support::PASS,
        server.host(),
        server.port()
    );
    let mut cmd = support::program("lftp");
    cmd.arg("-c").arg(&full);
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

fn ls_get_put(passive: bool, tls_probe: bool) {
    let server = Server::start();
    let mut rng = Rng::new(if passive { 10 } else { 11 });
    let data = rng.bytes(2 * 1024 * 1024 + 1);
    write_file(&server.root(), "with space.txt", &data);
    write_file(&server.root(), "ünïcödé файл.bin", b"utf8\n");
    write_file(&server.root(), "sub/inner.txt", b"inner\n");

    let out = lftp(&server, passive, tls_probe, "ls; cls -1 sub");
    let text = out.stdout_text();
    for name in ["with space.txt", "ünïcödé файл.bin", "sub", "inner.txt"] {
        assert!(text.contains(name), "lftp ls lacks {name:?}\n{text}");
    }

    let dest = server.local().join("got.bin");
    let up = rng.bytes(1024 * 1024 + 3);
    write_file(&server.local(), "up.bin", &up);
    lftp(
        &server,
        passive,
        tls_probe,
        &format!(
            "get \"with space.txt\" -o {}; put {} -o \"new dir name.bin\"; \
             mkdir -p \"made/by lftp\"; put {} -o \"made/by lftp/ünï.bin\"; \
             mv \"new dir name.bin\" renamed.bin; rm \"ünïcödé файл.bin\"",
            path_arg(&dest),
            path_arg(&server.local().join("up.bin")),
            path_arg(&server.local().join("up.bin")),
        ),
    );
    assert_eq!(sha256_file(&dest), sha256_bytes(&data), "lftp get");
    let up_hash = sha256_bytes(&up);
    assert_eq!(sha256_file(&server.root().join("renamed.bin")), up_hash);
    assert_eq!(
        sha256_file(&server.root().join("made/by lftp/ünï.bin")),
        up_hash
    );
    assert!(!server.root().join("ünïcödé файл.bin").exists(), "lftp rm");
    assert!(!server.root().join("new dir name.bin").exists(), "lftp mv");
}

/// `mirror -R`, `mirror` and `mirror --delete` of a 200-file tree. Passive mode runs three
/// transfers at once (`--parallel=3`); active mode runs them one by one (lftp 4.9 with
/// parallel active transfers stalls even against the pyftpdlib reference server).
fn mirror_both_ways(passive: bool) {
    let server = Server::start();
    let parallel = if passive {
        "--parallel=3"
    } else {
        "--parallel=1"
    };
    let src = server.local().join("src");
    let expected = write_tree(&src, 200, if passive { 20 } else { 21 });
    assert_eq!(expected.len(), 200);

    // Upload the tree with `mirror -R`.
    lftp(
        &server,
        passive,
        false,
        &format!("mirror -R {parallel} {} /up", path_arg(&src)),
    );
    assert_same_tree(
        "mirror -R (server root/up)",
        &expected,
        &tree_hashes(&server.root().join("up")),
    );

    // Download it again with `mirror`.
    let down = server.local().join("down");
    lftp(
        &server,
        passive,
        false,
        &format!("mirror {parallel} /up {}", path_arg(&down)),
    );
    assert_same_tree("mirror (local copy)", &expected, &tree_hashes(&down));

    // A second `mirror` with nothing changed transfers nothing and still succeeds;
    // `mirror --delete` then removes a file deleted on the server.
    let victim = expected.keys().next().cloned().expect("a file");
    std::fs::remove_file(server.root().join("up").join(&victim)).expect("remove on server");
    lftp(
        &server,
        passive,
        false,
        &format!("mirror --delete /up {}", path_arg(&down)),
    );
    assert!(
        !down.join(&victim).exists(),
        "mirror --delete kept {victim}"
    );
    let mut remaining = expected.clone();
    remaining.remove(&victim);
    assert_same_tree("mirror --delete", &remaining, &tree_hashes(&down));
}

#[test]
fn lftp_ls_get_put_passive() {
    ls_get_put(true, false);
}

#[test]
fn lftp_ls_get_put_active() {
    ls_get_put(false, false);
}

#[test]
fn lftp_falls_back_to_plain_ftp_after_its_auth_tls_probe() {
    // lftp's default sends AUTH TLS first; the plain server refuses and lftp goes on.
    ls_get_put(true, true);
}

#[test]
fn lftp_mirror_200_files_both_ways_passive() {
    mirror_both_ways(true);
}

#[test]
fn lftp_mirror_200_files_both_ways_active() {
    mirror_both_ways(false);
}
