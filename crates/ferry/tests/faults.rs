//! Fault injection against `ferry serve` (issue 8, item 3): a full disk during uploads, the
//! storage turning read-only under a running server, and clients killed with SIGKILL in the
//! middle of transfers.
//!
//! The disk faults use a small tmpfs mounted as the server root, so these tests need root
//! (as in CI). Run as another user they fail at once saying so: they never skip silently.
//! Every mount is undone by a drop guard (`umount -l`, bounded), every wait is bounded.
//!
//! Rules checked:
//! - a full disk ends STOR/APPE with `552` and leaves no damaged file: no partial new file,
//!   a replaced file keeps its old content, an append is cut back to the original length,
//!   no `.ferry-upload-*` left; once space is freed, uploads work again;
//! - a read-only storage answers STOR/APPE/MKD/DELE/RMD/RNTO with `550` (EROFS maps to
//!   `StorageError::PermissionDenied`), downloads and listings still work, the server stays
//!   up, and uploads work again after the filesystem is writable again;
//! - killing clients mid-transfer leaves the server serving, with no descriptor leak, no
//!   temporary upload files, and the files the killed uploads would have replaced intact.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::raw::{data_connect, read_all, Control, Reply};
use support::tree::Rng;
use support::{run, sha256_bytes, sha256_file, Server, PASS, USER};

const MIB: usize = 1024 * 1024;
/// Bound on every external command (mount, umount).
const CMD_TIMEOUT: Duration = Duration::from_secs(20);
/// Prefix of Ferry's temporary upload files (`ferry_storage::local::TEMP_PREFIX`).
const TEMP_PREFIX: &str = ".ferry-upload-";

/// Fails the test loudly unless it runs as root (mounting a tmpfs needs it).
fn require_root(what: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .unwrap_or("?");
    assert_eq!(
        euid, "0",
        "the fault test `{what}` must run as root (it mounts a tmpfs); effective uid is \
         {euid}. Run it as root (CI does), e.g. `sudo -E cargo nextest run -p ferry --test \
         faults`."
    );
}

/// A small tmpfs mounted on a temporary directory, unmounted (lazily) on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("ferry-faults-")
            .tempdir()
            .expect("create mount point");
        let mut cmd = support::program("mount");
        cmd.args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tmpfs")
            .arg(dir.path());
        let out = run(cmd, CMD_TIMEOUT);
        assert!(out.success(), "cannot mount a tmpfs:\n{}", out.describe());
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mount -o remount,MODE` (`ro` or `rw`).
    fn remount(&self, mode: &str) {
        let mut cmd = support::program("mount");
        cmd.args(["-o", &format!("remount,{mode}")])
            .arg(self.path());
        let out = run(cmd, CMD_TIMEOUT);
        assert!(out.success(), "cannot remount {mode}:\n{}", out.describe());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let mut cmd = support::program("umount");
        cmd.arg("-l").arg(self.dir.path());
        let out = run(cmd, CMD_TIMEOUT);
        if !out.success() {
            eprintln!(
                "warning: cannot unmount the test tmpfs:\n{}",
                out.describe()
            );
        }
    }
}

/// Every name in `dir`, hidden ones included, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn temp_files(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with(TEMP_PREFIX))
        .collect()
}

fn login(server: &Server) -> Control {
    let mut c = Control::login(server.addr(), USER, PASS);
    c.expect("TYPE I", &[200]);
    c
}

/// `VERB name` in passive mode, sending `data`: the final reply (or the first one when it
/// is not a preliminary 1xx). Send errors (the server cutting the data connection after a
/// refusal) are expected and ignored.
fn upload(c: &mut Control, verb: &str, name: &str, data: &[u8]) -> Reply {
    let addr = c.pasv();
    let mut stream = data_connect(addr);
    let first = c.cmd(&format!("{verb} {name}"));
    if !(100..200).contains(&first.code) {
        return first;
    }
    let _ = stream.write_all(data);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let reply = c.reply();
    drop(stream);
    reply
}

/// RETR `name`: the final reply and the bytes received.
fn download(c: &mut Control, name: &str) -> (Reply, Vec<u8>) {
    let addr = c.pasv();
    let stream: TcpStream = data_connect(addr);
    let first = c.cmd(&format!("RETR {name}"));
    if !(100..200).contains(&first.code) {
        return (first, Vec::new());
    }
    let data = read_all(stream, 64 * MIB);
    (c.reply(), data)
}

fn assert_code(r: &Reply, code: u16, what: &str, c: &Control) {
    assert_eq!(
        r.code, code,
        "{what}: got {r}, expected {code}\ntranscript:\n{}",
        c.transcript
    );
}

/// A full 8 MiB disk during STOR and APPE: `552`, no damaged or partial file, and the
/// server works again once space is freed.
#[test]
fn full_disk_uploads_get_552_and_leave_no_damaged_files() {
    require_root("full disk");
    let fs = Tmpfs::mount("8m");
    let root = fs.path().to_path_buf();
    let keep = Rng::new(8).bytes(2 * MIB);
    std::fs::write(root.join("keep.bin"), &keep).expect("seed keep.bin");
    let keep_sha = sha256_bytes(&keep);
    let server = Server::builder().root(&root).start();
    let mut c = login(&server);
    let big = Rng::new(16).bytes(16 * MIB);
    let only_keep = vec!["keep.bin".to_owned()];
    let intact = |what: &str, c: &Control| {
        assert_eq!(
            names(&root),
            only_keep,
            "{what}: files left on the full disk\ntranscript:\n{}\n{}",
            c.transcript,
            server.logs()
        );
        assert_eq!(
            sha256_file(&root.join("keep.bin")),
            keep_sha,
            "{what}: keep.bin changed\n{}",
            server.logs()
        );
    };

    // A new file larger than the disk: 552, nothing left under its name.
    let r = upload(&mut c, "STOR", "big.bin", &big);
    assert_code(&r, 552, "STOR of a new 16 MiB file on an 8 MiB disk", &c);
    intact("after STOR big.bin", &c);

    // Replacing keep.bin with a file too big: the old content stays.
    let r = upload(&mut c, "STOR", "keep.bin", &big);
    assert_code(&r, 552, "STOR replacing keep.bin with 16 MiB", &c);
    intact("after STOR keep.bin", &c);

    // Appending until the disk is full: cut back to the original length.
    let r = upload(&mut c, "APPE", "keep.bin", &big);
    assert_code(&r, 552, "APPE of 16 MiB to keep.bin", &c);
    intact("after APPE keep.bin", &c);

    // APPE creating a new file: removed.
    let r = upload(&mut c, "APPE", "grow.bin", &big);
    assert_code(&r, 552, "APPE of a new 16 MiB file", &c);
    intact("after APPE grow.bin", &c);

    // Someone else fills the disk: even a small upload gets 552 and leaves nothing.
    let mut filler = std::fs::File::create(root.join("filler.bin")).expect("create filler");
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut filled = false;
    for _ in 0..(16 * MIB / chunk.len()) {
        if filler.write_all(&chunk).is_err() {
            filled = true;
            break;
        }
    }
    drop(filler);
    assert!(filled, "the filler never met a full disk");
    let small = b"small file after the disk was freed\n".repeat(100);
    let r = upload(&mut c, "STOR", "small.txt", &small);
    assert_code(&r, 552, "STOR of a small file on a full disk", &c);
    assert!(
        !root.join("small.txt").exists(),
        "a partial small.txt was left on the full disk"
    );
    assert!(temp_files(&root).is_empty(), "temporary files left");

    // Free space: the same session uploads again.
    c.expect("DELE filler.bin", &[250]);
    let r = upload(&mut c, "STOR", "small.txt", &small);
    assert_code(&r, 226, "STOR after freeing space", &c);
    assert_eq!(
        std::fs::read(root.join("small.txt")).ok(),
        Some(small.clone())
    );
    let (r, got) = download(&mut c, "keep.bin");
    assert_code(&r, 226, "RETR keep.bin", &c);
    assert!(got == keep, "keep.bin downloaded differently");
    c.expect("QUIT", &[221]);
    drop(server);
}

/// The storage turning read-only under a running server: clean `550` replies, downloads
/// still served, and uploads back once it is writable again.
#[test]
fn read_only_storage_gets_clean_errors_and_recovers() {
    require_root("read-only storage");
    let fs = Tmpfs::mount("8m");
    let root = fs.path().to_path_buf();
    let a = Rng::new(1).bytes(256 * 1024);
    std::fs::write(root.join("a.bin"), &a).expect("seed a.bin");
    std::fs::create_dir(root.join("sub")).expect("seed sub");
    let mut server = Server::builder().root(&root).start();
    let mut c = login(&server);
    let data = b"new content\n".repeat(1000);

    fs.remount("ro");
    // Every change is refused with 550 (EROFS is PermissionDenied).
    let r = upload(&mut c, "STOR", "new.bin", &data);
    assert_code(&r, 550, "STOR of a new file on a read-only fs", &c);
    let r = upload(&mut c, "STOR", "a.bin", &data);
    assert_code(&r, 550, "STOR replacing a file on a read-only fs", &c);
    let r = upload(&mut c, "APPE", "a.bin", &data);
    assert_code(&r, 550, "APPE on a read-only fs", &c);
    for (cmd, what) in [
        ("MKD newdir", "MKD"),
        ("DELE a.bin", "DELE"),
        ("RMD sub", "RMD"),
    ] {
        let r = c.cmd(cmd);
        assert_code(&r, 550, what, &c);
    }
    c.expect("RNFR a.bin", &[350]);
    let r = c.cmd("RNTO b.bin");
    assert_code(&r, 550, "RNTO", &c);

    // Reading still works, in this session and a new one.
    let (r, got) = download(&mut c, "a.bin");
    assert_code(&r, 226, "RETR on a read-only fs", &c);
    assert!(got == a, "a.bin downloaded differently");
    let mut c2 = login(&server);
    let addr = c2.pasv();
    let stream = data_connect(addr);
    c2.expect("NLST", &[150, 125]);
    let listing = String::from_utf8_lossy(&read_all(stream, MIB)).into_owned();
    c2.expect_reply("NLST end", &[226]);
    assert!(listing.contains("a.bin"), "listing: {listing}");
    assert!(server.is_running(), "the server died\n{}", server.logs());
    assert_eq!(names(&root), vec!["a.bin".to_owned(), "sub".to_owned()]);

    // Writable again: uploads work in the same session.
    fs.remount("rw");
    let r = upload(&mut c, "STOR", "new.bin", &data);
    assert_code(&r, 226, "STOR after remount rw", &c);
    assert_eq!(std::fs::read(root.join("new.bin")).ok(), Some(data.clone()));
    let r = upload(&mut c, "STOR", "a.bin", &data);
    assert_code(&r, 226, "STOR replacing a.bin after remount rw", &c);
    c.expect("MKD newdir", &[257]);
    assert!(temp_files(&root).is_empty(), "temporary files left");
    c.expect("QUIT", &[221]);
    c2.expect("QUIT", &[221]);
    drop(server);
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn quiet(mut cmd: std::process::Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn curl")
}

/// Several clients killed with SIGKILL in the middle of (throttled) downloads and replacing
/// uploads: the server keeps serving, closes every descriptor, removes the temporary upload
/// files, and the files the uploads would have replaced are intact.
#[test]
fn clients_killed_mid_transfer_leave_no_leak_and_no_damage() {
    let mut server = Server::builder()
        .args(&["--download-rate", "2MiB", "--upload-rate", "2MiB"])
        .start();
    let root = server.root();
    let dl = Rng::new(3).bytes(8 * MIB);
    std::fs::write(root.join("dl.bin"), &dl).expect("seed dl.bin");
    let mut old = Vec::new();
    for i in 0..3u64 {
        let data = Rng::new(100 + i).bytes(64 * 1024);
        std::fs::write(root.join(format!("rep{i}.bin")), &data).expect("seed rep");
        old.push(sha256_bytes(&data));
    }
    let up: PathBuf = server.local().join("up.bin");
    std::fs::write(&up, Rng::new(4).bytes(8 * MIB)).expect("write up.bin");

    // A warm-up session, so descriptors opened once (not per session) are counted.
    let mut c = login(&server);
    let (r, _) = download(&mut c, "rep0.bin");
    assert_code(&r, 226, "warm-up RETR", &c);
    c.expect("QUIT", &[221]);
    thread::sleep(Duration::from_millis(300));
    let pid = server.pid();
    let baseline = fd_count(pid);
    assert!(baseline > 0, "cannot read /proc/{pid}/fd");

    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut cmd = support::curl();
        cmd.args(["-o", "/dev/null"]).arg(server.url("/dl.bin"));
        clients.push(quiet(cmd));
    }
    for i in 0..3 {
        let mut cmd = support::curl();
        cmd.arg("-T")
            .arg(&up)
            .arg(server.url(&format!("/rep{i}.bin")));
        clients.push(quiet(cmd));
    }
    // Wait (bounded) until the three replacing uploads are writing their temporary files
    // and the transfers are well under way.
    let deadline = Instant::now() + Duration::from_secs(15);
    while temp_files(&root).len() < 3 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        temp_files(&root).len(),
        3,
        "the uploads did not start\n{}",
        server.logs()
    );
    thread::sleep(Duration::from_millis(1000));
    let during = fd_count(pid);
    for child in &mut clients {
        let still = matches!(child.try_wait(), Ok(None));
        assert!(still, "a client ended before it was killed");
        let _ = child.kill(); // SIGKILL
    }
    for child in &mut clients {
        let _ = child.wait();
    }

    // The server notices the closes: bounded wait for the descriptors and temp files.
    let bound = baseline + 2;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (fds, temps) = (fd_count(pid), temp_files(&root));
        if fds <= bound && temps.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after killing the clients: {fds} descriptors (baseline {baseline}, {during} \
             during the transfers), temporary files {temps:?}\n{}",
            server.logs()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(server.is_running(), "the server died\n{}", server.logs());
    for (i, sha) in old.iter().enumerate() {
        assert_eq!(
            &sha256_file(&root.join(format!("rep{i}.bin"))),
            sha,
            "rep{i}.bin was damaged by a killed upload\n{}",
            server.logs()
        );
    }

    // New sessions are served, downloads and uploads complete.
    let mut c = login(&server);
    let small = Rng::new(5).bytes(100 * 1024);
    let r = upload(&mut c, "STOR", "rep0.bin", &small);
    assert_code(&r, 226, "STOR after the kills", &c);
    let (r, got) = download(&mut c, "rep0.bin");
    assert_code(&r, 226, "RETR after the kills", &c);
    assert!(got == small, "rep0.bin downloaded differently");
    c.expect("QUIT", &[221]);
    assert!(temp_files(&root).is_empty(), "temporary files left");
    assert!(
        fd_count(pid) <= bound + 1,
        "descriptors grew after a normal session"
    );
}
