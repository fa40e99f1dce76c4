//! Interop: rclone's FTP backend against `ferry serve` (copy up and down of a tree, lsf,
//! delete, purge), with an on-the-fly remote and a private, empty config.

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use support::tree::assert_same_tree;
use support::{tree_hashes, write_tree, Outcome, Server};

struct Rclone<'a> {
    server: &'a Server,
    remote: String,
    config: std::path::PathBuf,
}

impl<'a> Rclone<'a> {
    fn new(server: &'a Server) -> Self {
        let config = server.local().join("rclone.conf");
        let mut cmd = support::program("rclone");
        cmd.arg("--config")
            .arg(&config)
            .args(["obscure", support::PASS]);
        let out = support::run_ok(cmd, Duration::from_secs(30));
        let obscured = out.stdout_text().trim().to_owned();
        assert!(!obscured.is_empty(), "rclone obscure printed nothing");
        let remote = format!(
            ":ftp,host={},port={},user={},pass={}:",
            server.host(),
            server.port(),
            support::USER,
            obscured
        );
        Rclone {
            server,
            remote,
            config,
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = support::program("rclone");
        cmd.arg("--config").arg(&self.config).args([
            "--contimeout",
            "10s",
            "--timeout",
            "20s",
            "--retries",
            "1",
            "--low-level-retries",
            "1",
            "--transfers",
            "4",
        ]);
        cmd
    }

    fn remote(&self, path: &str) -> String {
        format!("{}{path}", self.remote)
    }

    fn run(&self, cmd: Command) -> Outcome {
        let out = support::run(cmd, Duration::from_secs(120));
        assert!(
            out.success(),
            "rclone failed\n{}\n{}",
            out.describe(),
            self.server.logs()
        );
        out
    }
}

#[test]
fn rclone_copy_lsf_delete_and_purge() {
    let server = Server::start();
    let rc = Rclone::new(&server);
    let src = server.local().join("src");
    let expected = write_tree(&src, 80, 40);

    // mkdir, then upload into it.
    let mut cmd = rc.cmd();
    cmd.arg("mkdir").arg(rc.remote("up"));
    rc.run(cmd);
    assert!(server.root().join("up").is_dir(), "rclone mkdir");
    let mut cmd = rc.cmd();
    cmd.arg("copy").arg(&src).arg(rc.remote("up"));
    rc.run(cmd);
    assert_same_tree(
        "rclone copy up",
        &expected,
        &tree_hashes(&server.root().join("up")),
    );

    // lsf lists exactly the files.
    let mut cmd = rc.cmd();
    cmd.args(["lsf", "-R", "--files-only"]).arg(rc.remote("up"));
    let out = rc.run(cmd);
    let listed: BTreeSet<String> = out
        .stdout_text()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let want: BTreeSet<String> = expected.keys().cloned().collect();
    assert_eq!(listed, want, "rclone lsf -R");

    // Download.
    let down = server.local().join("down");
    let mut cmd = rc.cmd();
    cmd.arg("copy").arg(rc.remote("up")).arg(&down);
    rc.run(cmd);
    assert_same_tree("rclone copy down", &expected, &tree_hashes(&down));

    // A second copy up with nothing changed succeeds and changes nothing.
    let mut cmd = rc.cmd();
    cmd.arg("copy").arg(&src).arg(rc.remote("up"));
    rc.run(cmd);

    // delete removes the files of a sub-tree (directories stay).
    let mut cmd = rc.cmd();
    cmd.arg("delete").arg(rc.remote("up/docs"));
    rc.run(cmd);
    let left = tree_hashes(&server.root().join("up"));
    assert!(
        left.keys().all(|k| !k.starts_with("docs/")),
        "files left under docs/: {:?}",
        left.keys()
            .filter(|k| k.starts_with("docs/"))
            .collect::<Vec<_>>()
    );
    let mut still: std::collections::BTreeMap<String, String> = expected.clone();
    still.retain(|k, _| !k.starts_with("docs/"));
    assert_same_tree("after rclone delete", &still, &left);

    // purge removes a directory with everything in it (RMD bottom-up).
    let mut cmd = rc.cmd();
    cmd.arg("purge").arg(rc.remote("up/data"));
    rc.run(cmd);
    assert!(
        !server.root().join("up/data").exists(),
        "rclone purge left up/data"
    );
    still.retain(|k, _| !k.starts_with("data/"));
    assert_same_tree(
        "after rclone purge",
        &still,
        &tree_hashes(&server.root().join("up")),
    );
}
