//! Interop: wget against `ferry serve` (recursive download of a nested tree with UTF-8 and
//! spaces in names, passive and active single-file downloads).

mod support;

use std::process::Command;
use std::time::Duration;

use support::tree::{assert_same_tree, Rng};
use support::{sha256_bytes, sha256_file, tree_hashes, write_file, write_tree, Server};

/// wget without user config, bounded, with the test user's credentials.
fn wget() -> Command {
    let mut c = support::program("wget");
    c.args([
        "--no-config",
        "--no-verbose",
        "--tries=1",
        "--timeout=10",
        "--restrict-file-names=nocontrol",
    ]);
    c.arg(format!("--user={}", support::USER));
    c.arg(format!("--password={}", support::PASS));
    c
}

#[test]
fn wget_recursive_download_of_a_nested_tree() {
    let server = Server::start();
    let expected = write_tree(&server.root(), 60, 30);
    let dest = server.local().join("mirror");
    let mut cmd = wget();
    cmd.args(["-r", "-l", "inf", "-nH", "-P"])
        .arg(&dest)
        .arg(server.url("/"));
    let out = support::run(cmd, Duration::from_secs(120));
    assert!(
        out.success(),
        "wget -r failed\n{}\n{}",
        out.describe(),
        server.logs()
    );
    assert_same_tree("wget -r", &expected, &tree_hashes(&dest));
}

#[test]
fn wget_single_files_passive_and_active() {
    let server = Server::start();
    let data = Rng::new(31).bytes(1_500_000);
    write_file(&server.root(), "dir with space/ünï файл.bin", &data);
    for (i, active) in [false, true].into_iter().enumerate() {
        let dest = server.local().join(format!("got{i}"));
        let mut cmd = wget();
        if active {
            cmd.arg("--no-passive-ftp");
        }
        cmd.arg("-O").arg(&dest).arg(server.url(&format!(
            "/{}",
            support::tree::url_encode_path("dir with space/ünï файл.bin")
        )));
        let out = support::run(cmd, Duration::from_secs(60));
        assert!(
            out.success(),
            "wget (active: {active}) failed\n{}\n{}",
            out.describe(),
            server.logs()
        );
        assert_eq!(sha256_file(&dest), sha256_bytes(&data), "active: {active}");
    }
}
