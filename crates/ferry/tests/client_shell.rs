//! `ferry shell` driven non-interactively (commands on standard input) against Ferry's own
//! server, with the `-d` protocol trace checked.

mod client_util;
mod support;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use client_util::{home_in, pattern, url_with};
use support::process::{drain, wait_with_deadline};
use support::{sha256_bytes, sha256_file, write_file, Server, PASS, USER};

/// Runs `ferry shell ARGS...` in `cwd` with `script` on standard input; returns (exit code,
/// stdout, stderr).
fn shell(home: &Path, cwd: &Path, args: &[&str], script: &str) -> (i32, String, String) {
    let mut cmd = client_util::ferry(home, &["shell"]);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn ferry shell");
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).expect("write script");
    }
    let status = wait_with_deadline(&mut child, std::time::Instant::now() + client_util::TIMEOUT);
    let text = |rx: Option<std::sync::mpsc::Receiver<Vec<u8>>>| {
        rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(5)).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let (stdout, stderr) = (text(out), text(err));
    let code = status
        .and_then(|s| s.code())
        .unwrap_or_else(|| panic!("shell killed\n{stdout}\n{stderr}"));
    (code, stdout, stderr)
}

#[test]
fn debug_trace_and_classic_commands() {
    let server = Server::start();
    let data = pattern(70_000, 31);
    write_file(&server.root(), "pub/a.txt", b"alpha");
    write_file(&server.root(), "pub/b.txt", b"beta");
    write_file(&server.root(), "pub/data.bin", &data);
    let h = home_in(server.outside());
    let work = server.local();
    std::fs::write(work.join("local.txt"), b"uploaded").expect("write");
    let url = url_with("ftp", USER, PASS, server.addr(), "/");
    let script = "\
pwd
cd pub
ls
dir
get data.bin copy.bin
mget *.txt
put local.txt
mkdir newdir
rename local.txt newdir/moved.txt
ascii
binary
quote SYST
passive
ls
passive
delete b.txt
delete newdir/moved.txt
cdup
rmdir pub/newdir
bye
";
    let (code, out, err) = shell(&h, &work, &["-d", &url], script);
    let all = format!("=== stdout\n{out}\n=== stderr\n{err}");
    // The login as the traditional ftp -d shows it, the password masked.
    assert!(out.contains("---> USER alice"), "{all}");
    assert!(out.contains("---> PASS XXXX"), "{all}");
    assert!(out.contains("230 "), "{all}");
    assert!(!all.contains(PASS), "the password was printed\n{all}");
    assert!(out.contains("---> CWD pub"), "{all}");
    assert!(out.contains("---> RETR data.bin"), "{all}");
    assert!(out.contains("---> STOR local.txt"), "{all}");
    assert!(out.contains("---> TYPE A"), "{all}");
    assert!(out.contains("---> SYST\n215 "), "{all}");
    assert!(
        out.contains("---> EPRT ") || out.contains("---> PORT "),
        "{all}"
    );
    assert!(out.contains("---> QUIT"), "{all}");
    assert!(out.contains("a.txt\nb.txt\ndata.bin\n"), "{all}");
    assert_eq!(code, 0, "{all}");
    assert_eq!(sha256_file(&work.join("copy.bin")), sha256_bytes(&data));
    assert_eq!(std::fs::read(work.join("a.txt")).expect("a"), b"alpha");
    assert_eq!(std::fs::read(work.join("b.txt")).expect("b"), b"beta");
    assert!(!server.root().join("pub/b.txt").exists());
    assert!(!server.root().join("pub/newdir").exists());
    assert!(!server.root().join("pub/local.txt").exists());
    assert!(out.contains("---> RNFR local.txt"), "{all}");
}

#[test]
fn failures_continue_and_set_the_exit_code() {
    let server = Server::start();
    write_file(&server.root(), "x.txt", b"x");
    let h = home_in(server.outside());
    let work = server.local();
    let script = "\
open 127.0.0.1 PORT
get missing.txt
frobnicate
get x.txt
bye
"
    .replace("PORT", &server.port().to_string());
    let (code, out, err) = shell(&h, &work, &["-u", &format!("{USER}:{PASS}")], &script);
    let all = format!("=== stdout\n{out}\n=== stderr\n{err}");
    // The missing file fails with 78 but the next commands still run.
    assert_eq!(code, 78, "{all}");
    assert!(err.contains("unknown command"), "{all}");
    assert_eq!(std::fs::read(work.join("x.txt")).expect("x"), b"x");
    assert!(
        !out.contains("ferry> "),
        "no prompt without a terminal\n{all}"
    );
}
