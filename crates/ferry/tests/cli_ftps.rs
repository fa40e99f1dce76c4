//! Drives the real `ferry` binary for the command-line side of FTPS: configuration errors,
//! the start-up banner (implicit listening line, certificate fingerprint, policy), the
//! self-signed certificate kept across restarts, SIGHUP reloading the certificate, and the
//! `SSLKEYLOGFILE` warning. Certificates are checked with `openssl` (`openssl x509` on the
//! files, `openssl s_client` against the implicit and explicit ports).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::process::{describe, wait_output};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const LISTENING: &str = "Ferry FTP server listening on ";
const LISTENING_IMPLICIT: &str = "Ferry FTPS (implicit) listening on ";
const FINGERPRINT: &str = "TLS certificate SHA-256 fingerprint: ";
/// Every banner ends with the policy line.
const POLICY: &str = "TLS: ";

/// Runs a short command (ferry with a config error, openssl) with stdin closed.
fn run(program: &str, args: &[&str]) -> Output {
    let child = Command::new(program)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("SSLKEYLOGFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (install it: {e})"));
    wait_output(child, Duration::from_secs(30))
}

/// `openssl x509 -fingerprint -sha256` of a PEM file, as `AB:CD:...`.
fn file_fingerprint(pem: &Path) -> String {
    let out = run(
        "openssl",
        &[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            pem.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    parse_fingerprint(&String::from_utf8_lossy(&out.stdout))
}

/// `sha256 Fingerprint=AB:CD` (OpenSSL 3) or `SHA256 Fingerprint=AB:CD` (1.1) -> `AB:CD`.
fn parse_fingerprint(text: &str) -> String {
    text.lines()
        .find_map(|l| l.split_once("Fingerprint="))
        .map(|(_, fp)| fp.trim().to_string())
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
}

/// Fingerprint of the certificate `addr` presents: a TLS handshake with `openssl
/// s_client` (implicit FTPS), or `AUTH TLS` first with `starttls` (explicit FTPS).
fn served_fingerprint(addr: SocketAddr, starttls: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let connect = addr.to_string();
    let mut args = vec!["10", "openssl", "s_client", "-connect", &connect];
    if starttls {
        args.extend(["-starttls", "ftp"]);
    }
    let out = run("timeout", &args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let begin = text.find("-----BEGIN CERTIFICATE-----");
    let end = text.find("-----END CERTIFICATE-----");
    let (Some(begin), Some(end)) = (begin, end) else {
        panic!("no certificate from {addr}: {}", describe(&out));
    };
    let pem = &text[begin..end + "-----END CERTIFICATE-----".len()];
    let file = dir.path().join("served.pem");
    std::fs::write(&file, format!("{pem}\n")).unwrap();
    file_fingerprint(&file)
}

/// A certificate and key made by openssl in `dir` as `{name}-cert.pem`/`{name}-key.pem`.
fn openssl_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let out = run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "1",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    (cert, key)
}

/// A running `ferry serve`, killed on drop.
struct Ferry {
    child: Option<Child>,
    banner: Vec<String>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Every stderr line seen so far.
    stderr_seen: Vec<String>,
}

impl Ferry {
    /// Starts `ferry serve ARGS` (with `envs` set) and reads its banner.
    fn start(args: &[&str], envs: &[(&str, &Path)]) -> Ferry {
        let mut cmd = Command::new(FERRY);
        cmd.arg("serve")
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("SSLKEYLOGFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn ferry serve");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        let mut ferry = Ferry {
            child: Some(child),
            banner: Vec::new(),
            stdout,
            stderr,
            stderr_seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match ferry.stdout.recv_timeout(left) {
                Ok(line) => {
                    let last = line.starts_with(POLICY);
                    ferry.banner.push(line);
                    if last {
                        break;
                    }
                }
                Err(_) => ferry.fail("no complete banner"),
            }
        }
        // The "required by default" note may follow the policy line; it is not needed.
        ferry
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Kills the server and panics with what it printed.
    fn fail(&mut self, why: &str) -> ! {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
        self.drain_stderr(Duration::from_millis(500));
        panic!(
            "{why}\n--- banner\n{}\n--- stderr\n{}",
            self.banner.join("\n"),
            self.stderr_seen.join("\n")
        );
    }

    fn drain_stderr(&mut self, wait: Duration) {
        while let Ok(line) = self.stderr.recv_timeout(wait) {
            self.stderr_seen.push(line);
        }
    }

    /// Waits (at most 20 s) for a stderr line containing `needle`; returns it.
    fn wait_stderr(&mut self, needle: &str) -> String {
        if let Some(l) = self.stderr_seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => self.fail(&format!("no stderr line with {needle:?}")),
            }
        }
    }

    fn banner_text(&self) -> String {
        self.banner.join("\n")
    }

    fn addrs(&self, prefix: &str) -> Vec<SocketAddr> {
        self.banner
            .iter()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(|a| a.parse().expect("address"))
            .collect()
    }

    fn implicit(&self) -> SocketAddr {
        let addrs = self.addrs(LISTENING_IMPLICIT);
        assert_eq!(addrs.len(), 1, "{}", self.banner_text());
        addrs[0]
    }

    fn explicit(&self) -> SocketAddr {
        let addrs = self.addrs(LISTENING);
        assert_eq!(addrs.len(), 1, "{}", self.banner_text());
        addrs[0]
    }

    fn fingerprint(&self) -> String {
        self.banner
            .iter()
            .find_map(|l| l.strip_prefix(FINGERPRINT))
            .unwrap_or_else(|| panic!("no fingerprint line in\n{}", self.banner_text()))
            .to_string()
    }

    /// SIGTERM, then expect exit code 0 within 10 s.
    fn stop(mut self) -> Vec<String> {
        self.signal("TERM");
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.drain_stderr(Duration::from_millis(500));
                panic!(
                    "no exit 10 s after SIGTERM\n{}",
                    self.stderr_seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.drain_stderr(Duration::from_millis(500));
        assert_eq!(status.code(), Some(0), "{}", self.stderr_seen.join("\n"));
        std::mem::take(&mut self.stderr_seen)
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The lines of `input`, read on a thread.
fn lines_of(input: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(input).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Common arguments: port 0 everywhere, a root under `dir`, one account.
fn base_args(dir: &Path) -> Vec<String> {
    let root = dir.join("root");
    vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--root".into(),
        root.to_str().unwrap().into(),
        "--user".into(),
        "alice:secret".into(),
    ]
}

fn with<'a>(base: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    base.iter()
        .map(String::as_str)
        .chain(more.iter().copied())
        .collect()
}

/// Reads one reply (up to the final line) from a raw control connection.
fn read_reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut reply = String::new();
    for _ in 0..100 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        reply.push_str(&line);
        let b = line.as_bytes();
        if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
            break;
        }
    }
    reply
}

#[test]
fn ftps_config_errors_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let config = dir.path().join("ferry.toml");
    std::fs::write(
        &config,
        "tls = \"off\"\ntls_session_reuse = \"sometimes\"\nclient_cert = \"require\"\n",
    )
    .unwrap();
    let out = run(
        FERRY,
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
            "--implicit-listen",
            "127.0.0.1:990",
            "--key",
            "/nonexistent/key.pem",
            "--tls-data",
            "private",
            "--client-cert-user",
            "alice:CN=alice",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let c = config.display().to_string();
    for expected in [
        format!("{c}:2:21: tls_session_reuse: expected off, accept or require"),
        "--tls-data: expected optional or required, found \"private\"".to_string(),
        format!("--implicit-listen: implicit FTPS needs TLS, but TLS is off ({c}:1:7: tls)"),
        format!("{c}:3:15: client_cert: client certificates need TLS, but TLS is off"),
        format!("{c}:3:15: client_cert: client certificates (require) need a CA"),
        "--key: a private key needs its certificate too".to_string(),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in\n{err}");
    }
    assert!(
        err.starts_with("ferry: error: invalid configuration ("),
        "{err}"
    );
    assert!(!root.exists(), "a failed start must not create the root");
}

#[test]
fn serve_help_lists_the_ftps_flags() {
    let out = run(FERRY, &["serve", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--tls <off|optional|required>",
        "--tls-anonymous <exempt|required>",
        "--tls-data <optional|required>",
        "--allow-ccc",
        "--cert <FILE>",
        "--key <FILE>",
        "--state-dir <DIR>",
        "--implicit-listen <ADDR:PORT>",
        "--tls-session-reuse <off|accept|require>",
        "--client-ca <FILE>",
        "--client-cert <off|request|require>",
        "--client-cert-user <USER:SUBJECT>",
    ] {
        assert!(help.contains(flag), "missing {flag} in\n{help}");
    }
}

/// `--tls off`: no certificate, no state directory, and FEAT offers no AUTH.
#[test]
fn tls_off_serves_plain_ftp_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let base = base_args(dir.path());
    let ferry = Ferry::start(
        &with(
            &base,
            &["--tls", "off", "--state-dir", state.to_str().unwrap()],
        ),
        &[],
    );
    let text = ferry.banner_text();
    assert!(text.contains("TLS: off"), "{text}");
    assert!(!text.contains(FINGERPRINT), "{text}");
    assert!(!text.contains("--ssl-reqd"), "{text}");
    assert!(!text.contains(LISTENING_IMPLICIT), "{text}");
    assert!(!state.exists(), "no state directory without TLS");

    let stream = TcpStream::connect(ferry.explicit()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    assert!(read_reply(&mut reader).starts_with("220"));
    writer.write_all(b"FEAT\r\n").unwrap();
    let feat = read_reply(&mut reader);
    assert!(feat.starts_with("211"), "{feat}");
    assert!(!feat.contains("AUTH"), "{feat}");
    assert!(!feat.contains("PROT"), "{feat}");
    writer.write_all(b"QUIT\r\n").unwrap();
    let _ = read_reply(&mut reader);
    ferry.stop();
}

/// The generated certificate: its fingerprint is printed, matches the file and what the
/// implicit and explicit ports present, and a restart presents the same one.
#[test]
fn self_signed_certificate_is_printed_served_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let base = base_args(dir.path());
    let args = with(
        &base,
        &[
            "--implicit-listen",
            "127.0.0.1:0",
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    let ferry = Ferry::start(&args, &[]);
    let text = ferry.banner_text();
    let implicit = ferry.implicit();
    let explicit = ferry.explicit();
    assert!(
        implicit.ip().is_loopback() && implicit.port() != 0,
        "{text}"
    );
    assert_ne!(implicit, explicit);
    let printed = ferry.fingerprint();
    let cert_file = state.join("ferry-cert.pem");
    assert_eq!(printed, file_fingerprint(&cert_file), "{text}");
    assert!(text.contains("(self-signed, generated in "), "{text}");
    assert!(
        text.contains(&format!(
            "  connect with: curl --insecure -u alice ftps://{implicit}/"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  FTPS: curl --ssl-reqd --insecure -u alice ftp://{explicit}/"
        )),
        "{text}"
    );
    assert!(
        text.contains("TLS: optional; data protection: optional; session reuse: accept"),
        "{text}"
    );
    assert_eq!(served_fingerprint(implicit, false), printed);
    assert_eq!(served_fingerprint(explicit, true), printed);
    ferry.stop();

    // A restart loads the same certificate instead of generating a new one.
    let ferry = Ferry::start(&args, &[]);
    let text = ferry.banner_text();
    assert_eq!(ferry.fingerprint(), printed, "{text}");
    assert!(!text.contains("generated in"), "{text}");
    assert!(text.contains("(self-signed, from "), "{text}");
    assert_eq!(served_fingerprint(ferry.implicit(), false), printed);
    ferry.stop();
}

/// SIGHUP re-reads `--cert`/`--key`: new handshakes present the new certificate, the server
/// keeps running; a broken file on the next SIGHUP keeps the previous certificate.
#[test]
fn sighup_reloads_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert1, key1) = openssl_cert(dir.path(), "one");
    let (cert2, key2) = openssl_cert(dir.path(), "two");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::copy(&cert1, &cert).unwrap();
    std::fs::copy(&key1, &key).unwrap();
    let fp1 = file_fingerprint(&cert1);
    let fp2 = file_fingerprint(&cert2);
    assert_ne!(fp1, fp2);

    let base = base_args(dir.path());
    let mut ferry = Ferry::start(
        &with(
            &base,
            &[
                "--implicit-listen",
                "127.0.0.1:0",
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        ),
        &[],
    );
    let text = ferry.banner_text();
    assert_eq!(ferry.fingerprint(), fp1, "{text}");
    assert!(
        text.contains(&format!("(from {})", cert.display())),
        "{text}"
    );
    // A real certificate: no --insecure in the hints.
    assert!(!text.contains("--insecure"), "{text}");
    let implicit = ferry.implicit();
    assert_eq!(served_fingerprint(implicit, false), fp1);

    // Replace both files (each by a rename, as certbot does), then SIGHUP.
    let tmp = dir.path().join("tmp.pem");
    std::fs::copy(&cert2, &tmp).unwrap();
    std::fs::rename(&tmp, &cert).unwrap();
    std::fs::copy(&key2, &tmp).unwrap();
    std::fs::rename(&tmp, &key).unwrap();
    ferry.signal("HUP");
    let line = ferry.wait_stderr("TLS certificate reloaded");
    assert!(line.contains(&fp2), "{line}");
    assert_eq!(served_fingerprint(implicit, false), fp2);
    assert_eq!(served_fingerprint(ferry.explicit(), true), fp2);

    // A broken certificate: logged, and the previous one stays.
    std::fs::write(&cert, "not a certificate\n").unwrap();
    ferry.signal("HUP");
    let line = ferry.wait_stderr("not reloaded");
    assert!(line.contains("previous certificate stays"), "{line}");
    assert_eq!(served_fingerprint(implicit, false), fp2);

    // SIGHUP never stopped it: SIGTERM still exits cleanly.
    ferry.stop();
}

#[test]
fn sslkeylogfile_is_announced_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let keylog = dir.path().join("keys.log");
    let base = base_args(dir.path());
    let mut ferry = Ferry::start(
        &with(
            &base,
            &[
                "--implicit-listen",
                "127.0.0.1:0",
                "--state-dir",
                state.to_str().unwrap(),
            ],
        ),
        &[("SSLKEYLOGFILE", &keylog)],
    );
    let line = ferry.wait_stderr("SSLKEYLOGFILE");
    assert!(line.starts_with("ferry: warning: "), "{line}");
    assert!(line.contains(&keylog.display().to_string()), "{line}");
    let _ = served_fingerprint(ferry.implicit(), false);
    ferry.stop();
    let logged = std::fs::read_to_string(&keylog).unwrap_or_default();
    assert!(
        logged
            .lines()
            .any(|l| l.contains("TRAFFIC_SECRET") || l.starts_with("CLIENT_RANDOM")),
        "no TLS secrets in {}: {logged:?}",
        keylog.display()
    );
}

/// `--tls required`: the banner shows no cleartext login and says what is in force.
/// (The default off loopback is checked by the config unit tests: test servers bind
/// loopback only.)
#[test]
fn tls_required_banner() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let base = base_args(dir.path());
    let ferry = Ferry::start(
        &with(
            &base,
            &[
                "--tls",
                "required",
                "--tls-data",
                "required",
                "--tls-session-reuse",
                "require",
                "--anonymous",
                "ro",
                "--state-dir",
                state.to_str().unwrap(),
            ],
        ),
        &[],
    );
    let text = ferry.banner_text();
    let addr = ferry.explicit();
    assert!(
        text.contains(
            "TLS: required; data protection: required; session reuse: require; \
             anonymous logins: exempt"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("  connect with: curl ftp://{addr}/")),
        "{text}"
    );
    assert!(!text.contains("curl -u alice ftp://"), "{text}");
    assert!(
        text.contains(&format!(
            "  FTPS: curl --ssl-reqd --insecure -u alice ftp://{addr}/"
        )),
        "{text}"
    );
    ferry.stop();
}

/// A certificate file that exists but holds no certificate is a configuration error (exit
/// 2) at the flag that named it.
#[test]
fn broken_certificate_is_a_located_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, "not a certificate\n").unwrap();
    std::fs::write(&key, "not a key\n").unwrap();
    let root = dir.path().join("root");
    let out = run(
        FERRY,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--root",
            root.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--cert: TLS: {}", cert.display())),
        "{err}"
    );
}
