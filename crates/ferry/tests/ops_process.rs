//! Process management of `ferry serve`: `--check-config`, the privilege drop (`--run-as`)
//! and systemd notifications (`NOTIFY_SOCKET`).
//!
//! The privilege tests need root (CI runs as root): run as another user they FAIL with a
//! message saying so, they are never skipped.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::process::{describe, wait_output};
use support::raw::{data_connect, read_all, Control};

/// How long a `ferry` command or a server start may take.
const LIMIT: Duration = Duration::from_secs(60);
/// How long to wait for one notification or one state change.
const WAIT: Duration = Duration::from_secs(15);
/// Where the example configuration lives, from this crate.
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dist/ferry.toml");
/// The example systemd unit.
const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dist/ferry.service");

fn ferry() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to the end (bounded) and returns its output.
fn output(mut cmd: Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferry");
    wait_output(child, LIMIT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Panics unless the test runs as root: the privilege tests must not pass by skipping.
fn require_root(test: &str) {
    let euid = nix::unistd::geteuid();
    assert!(
        euid.is_root(),
        "{test} needs root (it starts `ferry serve` as root and checks the switch to \
         `nobody`), but the tests run as uid {euid}: run them as root, as CI does"
    );
}

/// Every path under `dir` (relative), to check that a command created nothing.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        assert!(out.len() < 10_000, "tree too large");
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            out.insert(path.strip_prefix(dir).unwrap().to_path_buf());
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    out
}

/// A users file with `alice` (password `secret`), written by `ferry user add`.
fn users_file(path: &Path) {
    let mut child = ferry()
        .args(["user", "add", "alice", "--file"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferry user add");
    child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    let out = wait_output(child, LIMIT);
    assert!(out.status.success(), "ferry user add: {}", describe(&out));
}

/// The example configuration with its system paths moved under `dir`: every replaced text
/// must occur (so a change of the example that the test no longer follows fails here).
fn example_copy(dir: &Path) -> PathBuf {
    let example = std::fs::read_to_string(EXAMPLE).expect("read dist/ferry.toml");
    let d = dir.display();
    let mut copy = example.clone();
    for (from, to) in [
        ("\"/srv/ftp\"", format!("\"{d}/srv/ftp\"")),
        ("\"/etc/ferry/users.toml\"", format!("\"{d}/users.toml\"")),
        ("\"/var/lib/ferry\"", format!("\"{d}/state\"")),
        ("\"/var/log/ferry/xferlog\"", format!("\"{d}/log/xferlog\"")),
        (
            "\"/var/log/ferry/audit.json\"",
            format!("\"{d}/log/audit.json\""),
        ),
        ("run_as = \"ftp\"", "run_as = \"nobody\"".to_string()),
    ] {
        assert!(
            copy.contains(from),
            "dist/ferry.toml no longer contains {from}: update this test"
        );
        copy = copy.replace(from, &to);
    }
    let path = dir.join("ferry.toml");
    std::fs::write(&path, copy).unwrap();
    path
}

#[test]
fn check_config_accepts_the_example_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("log")).unwrap();
    users_file(&dir.path().join("users.toml"));
    let config = example_copy(dir.path());
    let before = tree(dir.path());

    let mut cmd = ferry();
    cmd.args(["serve", "--check-config", "--config"])
        .arg(&config)
        .current_dir(dir.path());
    let out = output(cmd);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout.starts_with("configuration OK\n"),
        "{}",
        describe(&out)
    );
    let d = dir.path().display();
    for expected in [
        "  listen: 0.0.0.0:21, [::]:21\n".to_string(),
        "  implicit FTPS: 0.0.0.0:990\n".to_string(),
        format!("  root: {d}/srv/ftp (created at start)\n"),
        format!("  accounts: 1 (1 from {d}/users.toml); anonymous: off\n"),
        format!("  TLS: required; self-signed certificate generated in {d}/state at start\n"),
        "  run as: nobody (uid 65534".to_string(),
        "  metrics: http://127.0.0.1:9121/metrics\n".to_string(),
        format!("  xferlog: {d}/log/xferlog\n"),
    ] {
        assert!(
            stdout.contains(&expected),
            "missing {expected:?}\n{}",
            describe(&out)
        );
    }
    assert_eq!(tree(dir.path()), before, "--check-config created files");
}

#[test]
fn check_config_reports_every_problem_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "listen = [\"nowhere\"]\n\
         root = \"served\"\n\
         users_file = \"missing-users.toml\"\n\
         max_sessions = -1\n\
         colour = \"blue\"\n\
         run_as = \"no-such-user-ferry\"\n\
         cert = \"cert.pem\"\n",
    )
    .unwrap();
    let before = tree(dir.path());
    let mut cmd = ferry();
    cmd.args(["serve", "--check-config", "--config"])
        .arg(&config)
        .current_dir(dir.path());
    let out = output(cmd);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        !text(&out.stdout).contains("configuration OK"),
        "{}",
        describe(&out)
    );
    for expected in [
        "bad.toml:1:",        // listen
        "missing-users.toml", // users file
        "bad.toml:4:",        // max_sessions
        "unknown key",        // colour
        "there is no user \"no-such-user-ferry\"",
        "a certificate needs its private key",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?}\n{}",
            describe(&out)
        );
    }
    assert_eq!(tree(dir.path()), before, "--check-config created files");
}

#[test]
fn check_config_reads_tls_material_without_generating_any() {
    let dir = tempfile::tempdir().unwrap();
    // Unreadable PEM in the state directory: reported, and neither replaced nor fixed.
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("ferry-cert.pem"), "not a certificate\n").unwrap();
    std::fs::write(state.join("ferry-key.pem"), "not a key\n").unwrap();
    let before = tree(dir.path());
    let mut cmd = ferry();
    cmd.args([
        "serve",
        "--check-config",
        "--tls",
        "optional",
        "--state-dir",
    ])
    .arg(&state)
    .arg("--root")
    .arg(dir.path())
    .current_dir(dir.path());
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("ferry-cert.pem"),
        "{}",
        describe(&out)
    );
    assert_eq!(tree(dir.path()), before);
    assert_eq!(
        std::fs::read_to_string(state.join("ferry-cert.pem")).unwrap(),
        "not a certificate\n"
    );

    // A real certificate and key: accepted, with the fingerprint.
    let mut openssl = support::program("openssl");
    openssl
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"));
    support::run_ok(openssl, LIMIT);
    let mut cmd = ferry();
    cmd.args(["serve", "--check-config", "--tls", "required", "--cert"])
        .arg(dir.path().join("cert.pem"))
        .arg("--key")
        .arg(dir.path().join("key.pem"))
        .arg("--root")
        .arg(dir.path())
        .args(["--anonymous", "ro"])
        .current_dir(dir.path());
    let out = output(cmd);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains(&format!(
            "  TLS: required; certificate {}/cert.pem (SHA-256 ",
            dir.path().display()
        )),
        "{}",
        describe(&out)
    );
    // The key of another certificate: refused.
    let mut cmd = ferry();
    cmd.args(["serve", "--check-config", "--cert"])
        .arg(dir.path().join("cert.pem"))
        .arg("--key")
        .arg(dir.path().join("cert.pem"))
        .arg("--root")
        .arg(dir.path())
        .current_dir(dir.path());
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn run_as_refuses_root_and_unknown_users() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for (user, message) in [
        ("root", "uid 0"),
        ("0", "uid 0"),
        ("no-such-user-ferry", "there is no user"),
    ] {
        let mut cmd = ferry();
        cmd.args([
            "serve",
            "--tls",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--run-as",
            user,
        ])
        .arg("--root")
        .arg(&root)
        .current_dir(dir.path());
        let out = output(cmd);
        assert_eq!(out.status.code(), Some(2), "{user}: {}", describe(&out));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("--run-as"), "{user}: {}", describe(&out));
        assert!(stderr.contains(message), "{user}: {}", describe(&out));
        assert!(
            !text(&out.stdout).contains("listening on"),
            "{}",
            describe(&out)
        );
        assert!(!root.exists(), "a refused start created the root");
    }
}

#[test]
fn run_as_refused_when_not_started_as_root() {
    require_root("run_as_refused_when_not_started_as_root");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = ferry();
    cmd.args([
        "serve",
        "--tls",
        "off",
        "--listen",
        "127.0.0.1:0",
        "--run-as",
        "nobody",
    ])
    .arg("--root")
    .arg(dir.path())
    .current_dir(dir.path())
    .uid(65534)
    .gid(65534);
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("needs the server to start as root"),
        "{}",
        describe(&out)
    );
}

/// A `ferry serve` child whose stdout lines and stderr are collected.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ferry serve");
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let log = stdout.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                log.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let log = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut log = log.lock().unwrap();
                if log.len() < 1 << 20 {
                    log.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Running {
            child,
            lines,
            stdout,
            stderr,
        }
    }

    /// The address of the first `listening on` line, or `None` when the server exited.
    fn listening(&mut self) -> Option<SocketAddr> {
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("Ferry FTP server listening on ") {
                        return Some(a.trim().parse().unwrap());
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        panic!("no listening line within {LIMIT:?}\n{}", self.logs());
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (bounded) for the exit code.
    fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not exit within {LIMIT:?}\n{}", self.logs());
    }

    fn logs(&self) -> String {
        thread::sleep(Duration::from_millis(100));
        format!(
            "--- stdout\n{}--- stderr\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field of a `/proc/.../status` file (`Uid`, `Gid`, `Groups`, `CapEff`...).
fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} line in\n{status}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn run_as_drops_root_on_every_thread_and_still_serves() {
    require_root("run_as_drops_root_on_every_thread_and_still_serves");
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("the user `nobody` exists");
    let (uid, gid) = (nobody.uid.as_raw(), nobody.gid.as_raw());
    let name = std::ffi::CString::new("nobody").unwrap();
    let mut groups: Vec<u32> = nix::unistd::getgrouplist(&name, nobody.gid)
        .unwrap()
        .iter()
        .map(|g| g.as_raw())
        .collect();
    groups.sort_unstable();
    groups.dedup();

    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("hello.txt"), b"hello from root\n").unwrap();

    // A free privileged port: only root may bind it, so listening proves the bind came
    // before the switch.
    let mut server = None;
    for port in (700..1000).step_by(37) {
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let mut cmd = ferry();
        cmd.args([
            "serve",
            "--tls",
            "off",
            "--run-as",
            "nobody",
            "--user",
            "alice:secret",
        ])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--root")
        .arg(&root)
        .current_dir(dir.path());
        let mut running = Running::start(cmd);
        if let Some(addr) = running.listening() {
            server = Some((running, addr));
            break;
        }
        // Lost a race for the port: try the next one.
        assert!(
            running.logs().contains("cannot listen on"),
            "the server exited without listening\n{}",
            running.logs()
        );
    }
    let (mut running, addr) = server.expect("no free port in 700-999");
    assert!(addr.port() < 1024);

    // The switch comes right after the banner: wait for it (bounded).
    let proc_dir = PathBuf::from(format!("/proc/{}", running.pid()));
    let expected_ids = format!("{uid} {uid} {uid} {uid}");
    let deadline = Instant::now() + WAIT;
    loop {
        let status = std::fs::read_to_string(proc_dir.join("status")).unwrap();
        if status_field(&status, "Uid") == expected_ids {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still not uid {uid}:\n{status}\n{}",
            running.logs()
        );
        thread::sleep(Duration::from_millis(50));
    }

    // Every thread, the runtime's workers included, runs as nobody without capabilities.
    let mut tasks = 0;
    for entry in std::fs::read_dir(proc_dir.join("task")).unwrap() {
        let status = std::fs::read_to_string(entry.unwrap().path().join("status")).unwrap();
        tasks += 1;
        let who = status_field(&status, "Name");
        assert_eq!(status_field(&status, "Uid"), expected_ids, "thread {who}");
        assert_eq!(
            status_field(&status, "Gid"),
            format!("{gid} {gid} {gid} {gid}"),
            "thread {who}"
        );
        let mut task_groups: Vec<u32> = status_field(&status, "Groups")
            .split_whitespace()
            .map(|g| g.parse().unwrap())
            .collect();
        task_groups.sort_unstable();
        assert_eq!(task_groups, groups, "thread {who}");
        for caps in ["CapEff", "CapPrm"] {
            assert_eq!(
                status_field(&status, caps),
                "0000000000000000",
                "thread {who}"
            );
        }
    }
    assert!(
        tasks >= 2,
        "expected the runtime's threads, found {tasks} task(s)"
    );

    // Still serving: login, listing, download.
    let mut control = Control::login(addr, "alice", "secret");
    let data = control.pasv();
    control.send("NLST");
    let stream = data_connect(data);
    control.expect_reply("NLST", &[125, 150]);
    let listing = text(&read_all(stream, 1 << 20));
    control.expect_reply("NLST end", &[226]);
    assert!(listing.contains("hello.txt"), "{listing}");
    control.expect("TYPE I", &[200]);
    let data = control.pasv();
    control.send("RETR hello.txt");
    let stream = data_connect(data);
    control.expect_reply("RETR", &[125, 150]);
    assert_eq!(read_all(stream, 1 << 20), b"hello from root\n");
    control.expect_reply("RETR end", &[226]);
    // As nobody, the root-owned root is not writable (as root it would be).
    let data = control.pasv();
    control.send("STOR intruder.txt");
    let reply = control.reply();
    if reply.code < 300 {
        let mut stream = data_connect(data);
        let _ = stream.write_all(b"x");
        drop(stream);
        let end = control.reply();
        assert!(end.code >= 400, "STOR as nobody succeeded: {end}");
    }
    assert!(!root.join("intruder.txt").exists());

    let logs = running.logs();
    assert!(logs.contains("switched to an unprivileged user"), "{logs}");
    assert!(!logs.contains("not accessible"), "{logs}");
    running.signal("TERM");
    assert_eq!(running.wait(), Some(0), "{}", running.logs());
}

/// A datagram socket for `NOTIFY_SOCKET`, and what arrives on it.
struct NotifySocket {
    socket: UnixDatagram,
}

impl NotifySocket {
    /// The next notification (panics after [`WAIT`]).
    fn next(&self, running: &Running) -> String {
        self.socket.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => text(&buf[..n]),
            Err(e) => panic!("no notification within {WAIT:?}: {e}\n{}", running.logs()),
        }
    }
}

fn notified_server(notify_socket: &str, dir: &Path) -> Running {
    let mut cmd = ferry();
    cmd.args([
        "serve",
        "--tls",
        "off",
        "--listen",
        "127.0.0.1:0",
        "--anonymous",
        "ro",
    ])
    .arg("--root")
    .arg(dir)
    .env("NOTIFY_SOCKET", notify_socket)
    .current_dir(dir);
    Running::start(cmd)
}

#[test]
fn systemd_notifications_ready_reloading_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let notify = NotifySocket {
        socket: UnixDatagram::bind(&path).unwrap(),
    };
    notify.socket.set_nonblocking(false).unwrap();
    let mut running = notified_server(path.to_str().unwrap(), dir.path());
    let addr = running.listening().expect("the server started");

    let ready = notify.next(&running);
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    assert!(
        ready.contains(&format!("MAINPID={}\n", running.pid())),
        "{ready}"
    );
    assert!(
        ready.contains(&format!("STATUS=Serving FTP on {addr}")),
        "{ready}"
    );
    // Ready means accepting.
    let mut control = Control::connect(addr);
    control.expect("QUIT", &[221]);

    running.signal("HUP");
    let reloading = notify.next(&running);
    assert!(reloading.starts_with("RELOADING=1\n"), "{reloading}");
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"))
        .parse()
        .unwrap();
    assert!(usec > 0);
    let ready = notify.next(&running);
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    assert!(ready.contains("STATUS=Serving FTP on "), "{ready}");

    running.signal("TERM");
    let stopping = notify.next(&running);
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    assert_eq!(running.wait(), Some(0), "{}", running.logs());
}

#[test]
fn systemd_notifications_to_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let dir = tempfile::tempdir().unwrap();
    let name = format!("ferry-test-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let notify = NotifySocket {
        socket: UnixDatagram::bind_addr(&addr).unwrap(),
    };
    let mut running = notified_server(&format!("@{name}"), dir.path());
    running.listening().expect("the server started");
    let ready = notify.next(&running);
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    running.signal("TERM");
    assert!(notify.next(&running).starts_with("STOPPING=1\n"));
    assert_eq!(running.wait(), Some(0), "{}", running.logs());
}

#[test]
fn the_unit_file_starts_ferry_as_a_notify_service() {
    let unit = std::fs::read_to_string(UNIT).expect("read dist/ferry.service");
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for expected in [
        "Type=notify",
        "ExecStart=/usr/local/bin/ferry serve --config /etc/ferry/ferry.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            lines.contains(&expected),
            "dist/ferry.service lacks {expected:?}"
        );
    }
    // The example configuration the unit names is the one checked above.
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    assert!(example.contains("/etc/ferry/ferry.toml"));
}

#[test]
fn run_as_gives_generated_files_to_the_user_so_sighup_reloads_them() {
    require_root("run_as_gives_generated_files_to_the_user_so_sighup_reloads_them");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    let path = dir.path().join("notify.sock");
    let notify = NotifySocket {
        socket: UnixDatagram::bind(&path).unwrap(),
    };
    let mut cmd = ferry();
    cmd.args(["serve", "--tls", "optional", "--listen", "127.0.0.1:0"])
        .args(["--anonymous", "ro", "--run-as", "nobody", "--root"])
        .arg(&root)
        .arg("--state-dir")
        .arg(&state)
        .arg("--xferlog")
        .arg(dir.path().join("xferlog"))
        .env("NOTIFY_SOCKET", &path)
        .current_dir(dir.path());
    let mut running = Running::start(cmd);
    running.listening().expect("the server started");
    let ready = notify.next(&running);
    assert!(ready.contains("as nobody"), "{ready}");
    use std::os::unix::fs::MetadataExt;
    for file in ["", "ferry-cert.pem", "ferry-key.pem"] {
        let meta = std::fs::metadata(state.join(file)).unwrap();
        assert_eq!(meta.uid(), 65534, "owner of {file:?}");
    }
    let xferlog = std::fs::metadata(dir.path().join("xferlog")).unwrap();
    assert_eq!(xferlog.uid(), 65534, "owner of the xferlog");
    running.signal("HUP");
    assert!(notify.next(&running).starts_with("RELOADING=1\n"));
    assert!(notify.next(&running).starts_with("READY=1\n"));
    let logs = running.logs();
    assert!(logs.contains("TLS certificate reloaded"), "{logs}");
    assert!(!logs.contains("WARN"), "{logs}");
    running.signal("TERM");
    assert_eq!(running.wait(), Some(0), "{}", running.logs());
}
