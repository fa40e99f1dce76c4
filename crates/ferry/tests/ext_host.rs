//! HOST (RFC 7151): virtual hosts with their own roots, accounts, greetings and
//! certificates on one port, chosen before login with `HOST` or by the TLS server name.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::raw::{data_connect, read_all, Control};
use support::{run, run_ok, Server};

/// A temporary directory with a config file declaring hosts a.example and b.example, each
/// root holding a file that names it.
struct Hosts {
    dir: tempfile::TempDir,
    /// Certificates the config names, kept as long as the hosts.
    _certs: Option<tempfile::TempDir>,
}

impl Hosts {
    fn new(extra_a: &str, extra_b: &str) -> Hosts {
        let dir = tempfile::Builder::new()
            .prefix("ferry-vhosts-")
            .tempdir()
            .expect("tempdir");
        for name in ["a", "b"] {
            let root = dir.path().join(format!("root-{name}"));
            std::fs::create_dir(&root).expect("mkdir");
            std::fs::write(root.join(format!("only-in-{name}")), name).expect("write");
        }
        let config = format!(
            "[[vhost]]\nnames = [\"a.example\", \"www.a.example\"]\nroot = \"root-a\"\n\
             greeting = \"Welcome to A.\"\n{extra_a}\n\
             [[vhost]]\nname = \"b.example\"\nroot = \"root-b\"\n{extra_b}\n"
        );
        std::fs::write(dir.path().join("ferry.toml"), config).expect("write config");
        Hosts { dir, _certs: None }
    }

    fn config(&self) -> String {
        self.dir.path().join("ferry.toml").display().to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn start(hosts: &Hosts, extra: &[&str]) -> Server {
    let config = hosts.config();
    let mut args = vec!["--config", config.as_str()];
    args.extend_from_slice(extra);
    let server = Server::builder().args(&args).start();
    std::fs::write(server.root().join("only-in-default"), "default").expect("write");
    server
}

/// LIST of the working directory over a passive data connection.
fn list(c: &mut Control) -> String {
    let data = c.pasv();
    c.send("LIST");
    let stream = data_connect(data);
    c.expect_reply("LIST opening", &[150, 125]);
    let bytes = read_all(stream, 1 << 20);
    c.expect_reply("LIST end", &[226]);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn login(c: &mut Control) {
    c.expect(&format!("USER {}", support::USER), &[331]);
    c.expect(&format!("PASS {}", support::PASS), &[230]);
}

#[test]
fn two_virtual_hosts_on_one_port_serve_different_roots() {
    let hosts = Hosts::new("", "");
    let server = start(&hosts, &[]);

    let mut c = Control::connect(server.addr());
    let r = c.expect("HOST a.example", &[220]);
    assert!(r.text.contains("Welcome to A."), "{r}");
    login(&mut c);
    let names = list(&mut c);
    assert!(
        names.contains("only-in-a") && !names.contains("only-in-b"),
        "{names}"
    );
    // An upload lands in host A's root.
    let data = c.pasv();
    c.send("STOR up.txt");
    let mut stream = data_connect(data);
    c.expect_reply("STOR opening", &[150, 125]);
    std::io::Write::write_all(&mut stream, b"to a").expect("upload");
    drop(stream);
    c.expect_reply("STOR end", &[226]);
    assert_eq!(
        std::fs::read(hosts.path("root-a/up.txt")).expect("read"),
        b"to a"
    );
    // After login HOST is a bad sequence.
    c.expect("HOST b.example", &[503]);
    // REIN forgets the host: HOST may choose again.
    c.expect("REIN", &[220]);
    c.expect("HOST www.A.example.", &[220]);
    c.expect("QUIT", &[221]);

    let mut c = Control::connect(server.addr());
    let r = c.expect("HOST b.example", &[220]);
    assert!(r.text.contains("Ferry"), "B has the server's greeting: {r}");
    login(&mut c);
    let names = list(&mut c);
    assert!(
        names.contains("only-in-b") && !names.contains("only-in-a"),
        "{names}"
    );

    // Without HOST: the default host (the top-level root).
    let mut c = Control::connect(server.addr());
    login(&mut c);
    let names = list(&mut c);
    assert!(names.contains("only-in-default"), "{names}");

    // HOST for the server's own address literal is the default host.
    let mut c = Control::connect(server.addr());
    c.expect(&format!("HOST [{}]", server.addr().ip()), &[220]);
    login(&mut c);
    assert!(list(&mut c).contains("only-in-default"));
}

#[test]
fn unknown_host_bad_syntax_and_feat() {
    let hosts = Hosts::new("", "");
    let server = start(&hosts, &[]);
    let mut c = Control::connect(server.addr());
    let r = c.expect("HOST c.example", &[504]);
    assert!(r.text.contains("c.example"), "{r}");
    c.expect("HOST [192.0.2.1]", &[504]);
    c.expect("HOST not_a_host", &[501]);
    c.expect("HOST", &[501]);
    let feat = c.expect("FEAT", &[211]);
    assert!(feat.text.lines().any(|l| l.trim() == "HOST"), "{feat}");
    // Still usable: the default host.
    login(&mut c);
    assert!(list(&mut c).contains("only-in-default"));
}

#[test]
fn a_virtual_host_with_its_own_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users-a.toml");
    let hash =
        ferry_storage::users::hash_password(&ferry_proto::Password::new("pw-a")).expect("hash");
    std::fs::write(
        &users,
        format!("[[user]]\nname = \"carol\"\npassword = \"{hash}\"\n"),
    )
    .expect("write users");
    let hosts = Hosts::new(
        &format!("users_file = \"{}\"\nanonymous = \"ro\"\n", users.display()),
        "",
    );
    let server = start(&hosts, &[]);

    // carol exists only on host A; alice (the server's account) not there.
    let mut c = Control::connect(server.addr());
    c.expect("HOST a.example", &[220]);
    c.expect(&format!("USER {}", support::USER), &[331]);
    c.expect(&format!("PASS {}", support::PASS), &[530]);
    c.expect("USER carol", &[331]);
    c.expect("PASS pw-a", &[230]);
    assert!(list(&mut c).contains("only-in-a"));
    // Anonymous is open on host A only.
    let mut c = Control::connect(server.addr());
    c.expect("HOST a.example", &[220]);
    c.expect("USER anonymous", &[331]);
    c.expect("PASS guest@example.com", &[230]);
    assert!(list(&mut c).contains("only-in-a"));
    let mut c = Control::connect(server.addr());
    c.expect("USER carol", &[331]);
    c.expect("PASS pw-a", &[530]);
}

#[test]
fn config_errors_in_vhost_tables_are_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("ferry.toml");
    std::fs::write(
        &config,
        "root = \"r\"\n\
         [[vhost]]\n\
         name = \"a.example\"\n\
         root = \"ra\"\n\
         colour = \"blue\"\n\
         \n\
         [[vhost]]\n\
         names = [\"a.example\", \"bad_name\"]\n\
         root = 5\n",
    )
    .expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(["serve", "--check-config", "--tls", "off", "--config"])
        .arg(&config)
        .current_dir(dir.path());
    let out = run(cmd, Duration::from_secs(30));
    assert!(!out.success(), "{}", out.describe());
    let err = out.stderr_text();
    let at = |line: u32, col: u32, key: &str| format!("ferry.toml:{line}:{col}: {key}");
    assert!(err.contains(&at(5, 1, "vhost.colour")), "{err}");
    assert!(err.contains("unknown key in [[vhost]]"), "{err}");
    assert!(err.contains(&at(8, 10, "vhost.names")), "{err}");
    assert!(err.contains("a.example is given twice"), "{err}");
    assert!(err.contains(&at(8, 23, "vhost.names")), "{err}");
    assert!(err.contains("\"bad_name\" is not a host name"), "{err}");
    assert!(err.contains(&at(9, 8, "vhost.root")), "{err}");
    assert!(err.contains("expected a string, found an integer"), "{err}");
}

/// A self-signed certificate for `name` (also its subject alternative name).
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let mut cmd = support::program("openssl");
    cmd.args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
    ])
    .args(["-nodes", "-days", "2", "-subj"])
    .arg(format!("/CN={name}"))
    .arg("-addext")
    .arg(format!("subjectAltName=DNS:{name}"))
    .arg("-keyout")
    .arg(&key)
    .arg("-out")
    .arg(&cert);
    run_ok(cmd, Duration::from_secs(30));
    (cert, key)
}

fn tls_hosts() -> Hosts {
    let certs = tempfile::tempdir().expect("tempdir");
    let (ca, ka) = certificate(certs.path(), "a.example");
    let (cb, kb) = certificate(certs.path(), "b.example");
    let mut hosts = Hosts::new(
        &format!("cert = \"{}\"\nkey = \"{}\"\n", ca.display(), ka.display()),
        &format!("cert = \"{}\"\nkey = \"{}\"\n", cb.display(), kb.display()),
    );
    for (from, to) in [(&ca, "a.pem"), (&cb, "b.pem")] {
        std::fs::copy(from, hosts.path(to)).expect("copy certificate");
    }
    hosts._certs = Some(certs);
    hosts
}

#[test]
fn sni_chooses_the_host_and_its_certificate_and_host_must_agree() {
    let hosts = tls_hosts();
    let config = hosts.config();
    let server = Server::builder()
        .ftps(&["--tls", "optional", "--config", config.as_str()])
        .start();
    std::fs::write(server.root().join("only-in-default"), "default").expect("write");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/host_sni.py");
    let mut cmd = support::program("python3");
    cmd.arg(script)
        .arg(server.host())
        .arg(server.port().to_string())
        .arg(support::USER)
        .arg(support::PASS)
        .arg(hosts.path("a.pem"))
        .arg(hosts.path("b.pem"))
        .arg(server.cafile())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = run(cmd, Duration::from_secs(120));
    assert!(
        out.success() && out.stdout_text().contains("done"),
        "{}\n{}",
        out.describe(),
        server.logs()
    );
}

#[test]
fn curl_with_sni_gets_the_host_certificate_and_root() {
    // curl never sends HOST, but it sends the URL's host name as SNI: with --connect-to the
    // name reaches our loopback server and selects the virtual host, whose certificate
    // curl verifies against that host's own file.
    let hosts = tls_hosts();
    let config = hosts.config();
    let server = Server::builder()
        .ftps(&["--tls", "optional", "--config", config.as_str()])
        .start();
    for (name, pem, file) in [
        ("a.example", "a.pem", "only-in-a"),
        ("b.example", "b.pem", "only-in-b"),
    ] {
        let port = server.port();
        let mut cmd = support::curl();
        cmd.arg("--ssl-reqd")
            .arg("--cacert")
            .arg(hosts.path(pem))
            .arg("--connect-to")
            .arg(format!("{name}:{port}:{}:{port}", server.host()))
            .arg("--list-only")
            .arg(format!("ftp://{name}:{port}/"));
        let out = run_ok(cmd, Duration::from_secs(60));
        let names = out.stdout_text();
        assert!(
            names.lines().any(|l| l.trim() == file) && !names.contains("only-in-default"),
            "{name}: {names}\n{}",
            server.logs()
        );
    }
    // The wrong certificate file fails verification: each host presents its own.
    let port = server.port();
    let mut cmd = support::curl();
    cmd.arg("--ssl-reqd")
        .arg("--cacert")
        .arg(hosts.path("a.pem"))
        .arg("--connect-to")
        .arg(format!("b.example:{port}:{}:{port}", server.host()))
        .arg(format!("ftp://b.example:{port}/"));
    let out = run(cmd, Duration::from_secs(60));
    assert!(!out.success(), "{}", out.describe());
}
