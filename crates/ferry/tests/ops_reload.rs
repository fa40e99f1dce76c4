//! SIGHUP under load: transfers running while the configuration and users file are
//! reloaded (several times) all complete with the right bytes, and the new accounts and
//! limits apply to new logins and connections; a broken config leaves the old one in force.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use ferry_proto::Password;
use sha2::{Digest, Sha256};
use support::raw::Control;
use support::tree::Rng;
use support::Server;

const PW: &str = "reload-pw";

fn users_toml(names: &[&str]) -> String {
    let hash = ferry_storage::users::hash_password(&Password::new(PW)).expect("hash");
    names
        .iter()
        .map(|n| format!("[[user]]\nname = \"{n}\"\npassword = \"{hash}\"\n\n"))
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Waits (bounded) until the server's log contains `needle` `n` times.
fn wait_log(server: &Server, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.logs().matches(needle).count() < n {
        assert!(
            Instant::now() < deadline,
            "no {n}× {needle:?} in the log:\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn login_code(server: &Server, user: &str) -> u16 {
    let mut c = Control::connect(server.addr());
    c.expect(&format!("USER {user}"), &[331]);
    c.cmd(&format!("PASS {PW}")).code
}

#[test]
fn sighup_while_transfers_run_loses_nothing_and_applies_the_new_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    std::fs::write(&users, users_toml(&["early", "worker"])).expect("users");
    let config = dir.path().join("ferry.toml");
    std::fs::write(&config, "max_sessions_per_ip = 50\n").expect("config");
    let server = Server::builder()
        .args(&[
            "--config",
            config.to_str().expect("utf-8"),
            "--users-file",
            users.to_str().expect("utf-8"),
        ])
        .start();

    // Two downloads and two uploads of 6 MiB each, slowed by curl to last ~3 s.
    let mut rng = Rng::new(0x5eed);
    let size = 6 << 20;
    let down = rng.bytes(size);
    std::fs::write(server.root().join("down.bin"), &down).expect("seed");
    let up = rng.bytes(size);
    let up_file = dir.path().join("up.bin");
    std::fs::write(&up_file, &up).expect("local");
    let mut children = Vec::new();
    for i in 0..2 {
        let out = dir.path().join(format!("got{i}.bin"));
        let child = support::curl()
            .args(["-sS", "--limit-rate", "2M", "-u", &format!("worker:{PW}")])
            .arg(server.url("/down.bin"))
            .arg("-o")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("curl download");
        children.push((child, Some(out)));
        let child = support::curl()
            .args([
                "-sS",
                "--limit-rate",
                "2M",
                "-u",
                &format!("worker:{PW}"),
                "-T",
            ])
            .arg(&up_file)
            .arg(server.url(&format!("/up{i}.bin")))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("curl upload");
        children.push((child, None));
    }

    // Meanwhile: new accounts and limits, reloaded three times (one broken config).
    std::thread::sleep(Duration::from_millis(700));
    std::fs::write(&users, users_toml(&["late", "worker"])).expect("users v2");
    std::fs::write(
        &config,
        "max_sessions_per_ip = 50\ndeny = [\"127.0.0.2\"]\n",
    )
    .expect("v2");
    server.sighup();
    wait_log(&server, "configuration reloaded", 1);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&config, "max_sessions_per_ip = \"many\"\n").expect("broken");
    server.sighup();
    wait_log(&server, "configuration not reloaded", 1);
    std::fs::write(
        &config,
        "max_sessions_per_ip = 50\ndeny = [\"127.0.0.2\"]\n",
    )
    .expect("v3");
    server.sighup();
    wait_log(&server, "configuration reloaded", 2);

    for (mut child, out) in children {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "curl never finished");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        assert!(status.success(), "curl failed: {err}");
        if let Some(out) = out {
            assert_eq!(sha(&std::fs::read(&out).expect("got")), sha(&down));
        }
    }
    for i in 0..2 {
        let got = std::fs::read(server.root().join(format!("up{i}.bin"))).expect("uploaded");
        assert_eq!(sha(&got), sha(&up), "upload {i}");
    }

    // The new accounts are in force for new logins; the old one is gone.
    assert_eq!(login_code(&server, "late"), 230);
    assert_eq!(login_code(&server, "early"), 530);
    // The new deny list applies to new connections.
    let denied = support::raw::connect_from("127.0.0.2".parse().expect("ip"), server.addr());
    denied
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut &denied, &mut buf).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "denied address got {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(
        server.logs().contains("max_sessions_per_ip"),
        "the broken key is named"
    );
}

#[test]
fn sighup_reload_keeps_logged_in_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    std::fs::write(&users, users_toml(&["stay"])).expect("users");
    let server = Server::builder()
        .args(&["--users-file", users.to_str().expect("utf-8")])
        .start();
    let mut c = Control::login(server.addr(), "stay", PW);
    std::fs::write(&users, users_toml(&["other"])).expect("users v2");
    server.sighup();
    wait_log(&server, "configuration reloaded", 1);
    // The running session goes on; a new login with the removed account fails.
    c.expect("PWD", &[257]);
    assert_eq!(login_code(&server, "stay"), 530);
    assert_eq!(login_code(&server, "other"), 230);
}
