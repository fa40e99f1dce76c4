//! The peer servers of the client tests (vsftpd, pure-ftpd, proftpd, pyftpdlib; see
//! `support/peers.rs`) work, checked with curl and Python ftplib only: listings, uploads
//! and downloads compared by sha256 in passive and active mode, plain and explicit FTPS,
//! REST+STOR and REST+RETR, MLSD where the server has it, session reuse where required,
//! and two instances side by side.

mod support;

use std::process::Command;
use std::time::Duration;

use support::peers::{Peer, PeerKind, PeerOptions};
use support::process::{program, run, Outcome};
use support::tree::{url_encode_path, Rng};
use support::{sha256_bytes, sha256_file};

/// Hard timeout for one curl or ftplib run.
const TIMEOUT: Duration = Duration::from_secs(60);

/// curl with no user config, verbose protocol lines on stderr, bounded times and the
/// peer's account; with FTPS, `--ssl-reqd` trusting the peer's CA.
fn curl(peer: &Peer) -> Command {
    let mut c = program("curl");
    c.args([
        "-q",
        "--silent",
        "--show-error",
        "--verbose",
        "--max-time",
        "50",
        "--connect-timeout",
        "10",
        "--user",
    ]);
    c.arg(peer.userpass());
    if peer.offers_ftps() {
        c.arg("--ssl-reqd").arg("--cacert").arg(peer.cafile());
        if peer.kind() == PeerKind::Vsftpd {
            // vsftpd sends TLS 1.3 session tickets on upload data connections; curl leaves
            // them unread and its close then resets the connection: 426, exit 18 (curl
            // issues 6149, 13556). TLS 1.2 has no post-handshake tickets.
            c.args(["--tls-max", "1.2"]);
        }
    }
    c
}

fn run_ok(peer: &Peer, cmd: Command) -> Outcome {
    let out = run(cmd, TIMEOUT);
    assert!(
        out.success(),
        "{} failed\n{}\n{}",
        out.cmdline,
        out.describe(),
        peer.logs()
    );
    out
}

/// Whether curl's verbose output shows it sent a command starting with `prefix`.
fn sent(out: &Outcome, prefix: &str) -> bool {
    out.stderr_text()
        .lines()
        .any(|l| l.strip_prefix("> ").is_some_and(|c| c.starts_with(prefix)))
}

/// Whether curl negotiated TLS (its verbose line after the handshake).
fn used_tls(out: &Outcome) -> bool {
    out.stderr_text().contains("SSL connection using")
}

/// List, upload and download with curl in one mode; `tag` keeps names apart.
fn curl_round_trip(peer: &Peer, active: bool, tag: &str) {
    let mode: &[&str] = if active { &["--ftp-port", "-"] } else { &[] };
    let what = format!("{} {tag}", peer.kind());

    // Listing of the seeded root.
    let mut cmd = curl(peer);
    cmd.args(mode).arg(peer.url("/"));
    let out = run_ok(peer, cmd);
    let listing = out.stdout_text();
    for name in ["hello.txt", "sub"] {
        assert!(
            listing.lines().any(|l| l.ends_with(name)),
            "{what}: LIST lacks {name:?}:\n{listing}"
        );
    }
    if active {
        assert!(
            sent(&out, "EPRT") || sent(&out, "PORT"),
            "{what}: curl did not use active mode\n{}",
            out.describe()
        );
    } else {
        assert!(
            sent(&out, "EPSV") || sent(&out, "PASV"),
            "{what}: curl did not use passive mode\n{}",
            out.describe()
        );
    }
    if peer.offers_ftps() {
        assert!(used_tls(&out), "{what}: no TLS\n{}", out.describe());
        assert!(
            sent(&out, "PROT P"),
            "{what}: no PROT P\n{}",
            out.describe()
        );
    }

    // Upload (a UTF-8 name with a space), checked on the server's disk.
    let name = format!("up {tag} é.bin");
    let data = Rng::new(u64::from(peer.port())).bytes(700 * 1024 + 13);
    let local = peer.local().join(format!("{tag}.bin"));
    std::fs::write(&local, &data).expect("write local file");
    let mut cmd = curl(peer);
    cmd.args(mode)
        .arg("-T")
        .arg(&local)
        .arg(peer.url(&url_encode_path(&format!("/{name}"))));
    run_ok(peer, cmd);
    let on_server = peer.root().join(&name);
    assert!(
        on_server.is_file(),
        "{what}: the upload is not at {}\n{}",
        on_server.display(),
        peer.logs()
    );
    assert_eq!(
        sha256_file(&on_server),
        sha256_bytes(&data),
        "{what}: uploaded file differs"
    );

    // Download it back, and a file the test put there.
    for (remote, expected) in [
        (format!("/{name}"), sha256_bytes(&data)),
        (
            "/sub/inner.bin".to_owned(),
            sha256_file(&peer.root().join("sub/inner.bin")),
        ),
    ] {
        let target = peer.local().join(format!("{tag}.down"));
        let mut cmd = curl(peer);
        cmd.args(mode)
            .arg("-o")
            .arg(&target)
            .arg(peer.url(&url_encode_path(&remote)));
        run_ok(peer, cmd);
        assert_eq!(
            sha256_file(&target),
            expected,
            "{what}: download of {remote} differs"
        );
    }

    // Overwrite a file the test wrote (own_root gave it to the FTP account).
    let mut cmd = curl(peer);
    cmd.args(mode)
        .arg("-T")
        .arg(&local)
        .arg(peer.url("/hello.txt"));
    run_ok(peer, cmd);
    assert_eq!(
        sha256_file(&peer.root().join("hello.txt")),
        sha256_bytes(&data),
        "{what}: overwriting hello.txt failed"
    );
    peer.put_file("hello.txt", b"hello\n");
}

/// Python ftplib (`tests/peers/ftplib_smoke.py`) in one mode.
fn ftplib(peer: &Peer, active: bool, reuse: bool) {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ftplib_smoke.py");
    let mut cmd = program("python3");
    cmd.arg(script)
        .arg(peer.host())
        .arg(peer.port().to_string())
        .arg(peer.user())
        .arg(peer.root())
        .arg("--mlsd")
        .arg(if peer.kind().has_mlsd() { "yes" } else { "no" })
        .arg("--hash")
        .arg(if peer.kind().has_hash_commands() {
            "yes"
        } else {
            "no"
        })
        .env("FERRY_PEER_PASSWORD", peer.password())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if peer.offers_ftps() {
        cmd.arg("--tls").arg(peer.cafile());
    }
    if active {
        cmd.arg("--active");
    }
    if reuse {
        cmd.arg("--reuse");
    }
    let out = run_ok(peer, cmd);
    // The server's FEAT and greeting, shown with the test's output (--no-capture).
    eprintln!("{} ftplib:\n{}", peer.kind(), out.stdout_text());
    assert!(
        out.stdout_text().contains("ftplib smoke ok"),
        "{}: ftplib smoke incomplete\n{}",
        peer.kind(),
        out.describe()
    );
}

fn seed(peer: &Peer) {
    peer.put_file("hello.txt", b"hello\n");
    peer.put_file("sub/inner.bin", &Rng::new(7).bytes(100 * 1024));
}

fn plain(kind: PeerKind) {
    let peer = Peer::start(kind, PeerOptions::plain());
    assert!(!peer.offers_ftps());
    seed(&peer);
    curl_round_trip(&peer, false, "passive");
    curl_round_trip(&peer, true, "active");
    ftplib(&peer, false, false);
    ftplib(&peer, true, false);
}

fn ftps(kind: PeerKind) {
    let peer = Peer::start(kind, PeerOptions::ftps());
    assert!(peer.offers_ftps());
    assert!(peer.cafile().is_file());
    seed(&peer);
    curl_round_trip(&peer, false, "passive");
    // Debian 12's curl never puts TLS on an active-mode data connection (curl issue
    // 10666): active FTPS is checked with ftplib.
    ftplib(&peer, false, false);
    ftplib(&peer, true, false);
}

/// AUTH TLS is refused (or not offered) by a plain peer: curl --ssl-reqd fails.
fn plain_refuses_tls(kind: PeerKind) {
    let peer = Peer::start(kind, PeerOptions::plain());
    let mut cmd = curl(&peer);
    cmd.arg("--ssl-reqd").arg(peer.url("/"));
    let out = run(cmd, TIMEOUT);
    assert!(
        !out.success(),
        "{kind}: a plain peer accepted AUTH TLS\n{}",
        out.describe()
    );
}

#[test]
fn vsftpd_plain() {
    plain(PeerKind::Vsftpd);
}

#[test]
fn vsftpd_ftps() {
    ftps(PeerKind::Vsftpd);
}

#[test]
fn pure_ftpd_plain() {
    plain(PeerKind::PureFtpd);
}

#[test]
fn pure_ftpd_ftps() {
    ftps(PeerKind::PureFtpd);
}

#[test]
fn proftpd_plain() {
    plain(PeerKind::Proftpd);
}

#[test]
fn proftpd_ftps() {
    ftps(PeerKind::Proftpd);
}

#[test]
fn pyftpdlib_plain() {
    plain(PeerKind::Pyftpdlib);
}

#[test]
fn pyftpdlib_ftps() {
    ftps(PeerKind::Pyftpdlib);
}

#[test]
fn plain_peers_do_not_offer_tls() {
    for kind in PeerKind::ALL {
        plain_refuses_tls(kind);
    }
}

/// vsftpd and proftpd can require TLS session reuse on data connections: ftplib with the
/// control session passed to the data sockets passes, and a fresh session is refused.
#[test]
fn session_reuse_required() {
    for kind in PeerKind::ALL
        .into_iter()
        .filter(|k| k.can_require_session_reuse())
    {
        let peer = Peer::start(kind, PeerOptions::ftps().require_session_reuse());
        assert!(peer.requires_session_reuse());
        ftplib(&peer, false, true);
        // Without reuse, the data connection is refused: the script fails.
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ftplib_smoke.py");
        let mut cmd = program("python3");
        cmd.arg(script)
            .arg(peer.host())
            .arg(peer.port().to_string())
            .arg(peer.user())
            .arg(peer.root())
            .args(["--mlsd", if kind.has_mlsd() { "yes" } else { "no" }])
            .args([
                "--hash",
                if kind.has_hash_commands() {
                    "yes"
                } else {
                    "no"
                },
            ])
            .arg("--tls")
            .arg(peer.cafile())
            .env("FERRY_PEER_PASSWORD", peer.password())
            .env("PYTHONDONTWRITEBYTECODE", "1");
        let out = run(cmd, TIMEOUT);
        assert!(
            !out.success(),
            "{kind}: a data connection with a fresh TLS session was accepted under \
             require_session_reuse\n{}\n{}",
            out.describe(),
            peer.logs()
        );
    }
}

/// Two instances of each server run side by side without sharing ports or files, and
/// the virtual-user peers take other credentials.
fn independent_instances(kind: PeerKind) {
    let opts = if kind == PeerKind::Vsftpd {
        PeerOptions::plain()
    } else {
        PeerOptions::plain().credentials("other.user", "p@ss word:1")
    };
    let a = Peer::start(kind, PeerOptions::plain());
    let b = Peer::start(kind, opts);
    assert_ne!(a.port(), b.port());
    assert_ne!(a.root(), b.root());
    a.put_file("only-a.txt", b"a\n");
    b.put_file("only-b.txt", b"b\n");
    for (peer, mine, other, body) in [
        (&a, "only-a.txt", "only-b.txt", "a"),
        (&b, "only-b.txt", "only-a.txt", "b"),
    ] {
        let mut cmd = curl(peer);
        cmd.arg(peer.url("/"));
        let listing = run_ok(peer, cmd).stdout_text();
        assert!(listing.contains(mine), "{kind}: {mine} missing:\n{listing}");
        assert!(
            !listing.contains(other),
            "{kind}: {other} leaked:\n{listing}"
        );
        // The credentials in a URL work too.
        let mut cmd = program("curl");
        cmd.args(["-q", "--silent", "--show-error", "--max-time", "30"])
            .arg(peer.url_with_credentials(&format!("/{mine}")));
        let got = run_ok(peer, cmd).stdout_text();
        assert_eq!(got.trim(), body, "{kind}: download via URL credentials");
    }
    // A wrong password is refused.
    let mut cmd = program("curl");
    cmd.args([
        "-q",
        "--silent",
        "--show-error",
        "--max-time",
        "30",
        "--user",
    ])
    .arg(format!("{}:wrong", a.user()))
    .arg(a.url("/"));
    let out = run(cmd, TIMEOUT);
    assert!(!out.success(), "{kind}: a wrong password logged in");
}

#[test]
fn vsftpd_instances_are_independent() {
    independent_instances(PeerKind::Vsftpd);
}

#[test]
fn pure_ftpd_instances_are_independent() {
    independent_instances(PeerKind::PureFtpd);
}

#[test]
fn proftpd_instances_are_independent() {
    independent_instances(PeerKind::Proftpd);
}

#[test]
fn pyftpdlib_instances_are_independent() {
    independent_instances(PeerKind::Pyftpdlib);
}
