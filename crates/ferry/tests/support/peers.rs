//! Peer FTP servers for the client tests: vsftpd, pure-ftpd, proftpd (Debian packages) and
//! pyftpdlib (PyPI), each started privately for one test on 127.0.0.1 and stopped on drop.
//!
//! `scripts/install-peers.sh` installs them (vsftpd with apt-get; pure-ftpd and proftpd
//! unpacked under `/opt/ferry-peers`, since the Debian FTP servers conflict; pyftpdlib in a
//! virtualenv there) and creates the system account `ferrytest`. A peer that is not
//! installed makes the test FAIL naming the package and the script, never skip.
//!
//! Every peer gets the same settings, as far as each server allows:
//! - its own temporary directory: the FTP root ([`Peer::root`], the user's chroot: `/` on
//!   the server), configs, certificates, pid files, scoreboards and logs; nothing shared
//!   between parallel tests but the read-only installed programs;
//! - one account ([`Peer::user`]/[`Peer::password`], by default `ferrytest` /
//!   `ferrytest-pass`) with every right; all four peers write files as the system user
//!   `ferrytest` (vsftpd logs it in; pure-ftpd and proftpd map their virtual user to its
//!   uid/gid; pyftpdlib runs as it). Files a test writes into the root directly belong to
//!   root: call [`Peer::own_root`] before a client overwrites, appends to or deletes them;
//! - a control port on 127.0.0.1 picked free (retried on a collision), and a passive range
//!   of [`PASSIVE_PORTS`] ports below 32768 of its own; active mode (PORT/EPRT) allowed to
//!   the client's own address; no anonymous login; large connection limits;
//!   overwrite, REST+RETR and REST+STOR allowed; dot files listed; umask 022;
//! - with [`PeerOptions::ftps`]: explicit FTPS (AUTH TLS), offered and not required, with
//!   a certificate for 127.0.0.1/localhost signed by a per-test CA ([`Peer::cafile`]).
//!
//! What differs (the servers' own behaviour, see [`PeerKind`]):
//! - MLSD: pure-ftpd, proftpd and pyftpdlib (whose FEAT names only `MLST`, which implies
//!   MLSD); vsftpd has neither MLSD nor MLST.
//! - Server-side hashes (HASH, XSHA256, XSHA1, XMD5, XCRC): proftpd only (mod_digest; HASH
//!   defaults to SHA-1 until `OPTS HASH SHA-256`).
//! - LIST: pure-ftpd and proftpd show `.` and `..`; vsftpd shows numeric uid/gid.
//! - Listen backlog: vsftpd 32 and pure-ftpd fixed at build time; proftpd 255 (its
//!   maximum); pyftpdlib 1024.
//! - Clients at once: pure-ftpd at most half its passive range (100); the others unlimited.
//! - proftpd accepts no new control connection for about 0.4 s after a session ends.
//! - Active mode: pure-ftpd connects from port 20; the others from an ephemeral port.
//! - FTPS: vsftpd sends TLS 1.3 session tickets on data connections, also during uploads:
//!   a client that closes an upload's data socket with those unread resets it, and vsftpd
//!   answers 426 (Debian 12's curl does this; use `--tls-max 1.2` with it).
//!
//! The harness needs root (CI runs as root): it starts the daemons, which switch users.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{find_on_path, program, run_ok, DEFAULT_TIMEOUT};

/// Where `scripts/install-peers.sh` puts the unpacked servers and the virtualenv
/// (`FERRY_PEERS_DIR` overrides it, for the script and the tests alike).
pub const DEFAULT_PEERS_DIR: &str = "/opt/ferry-peers";
/// The system account every peer writes files as (created by the install script).
pub const SYSTEM_USER: &str = "ferrytest";
/// The default FTP account name (for vsftpd the only possible one: the system account).
pub const DEFAULT_USER: &str = SYSTEM_USER;
/// The default password (the install script sets it for the system account).
pub const DEFAULT_PASSWORD: &str = "ferrytest-pass";
/// How many passive ports each peer instance gets (pure-ftpd serves at most half as many
/// clients at once).
pub const PASSIVE_PORTS: u16 = 200;
/// The lowest and (exclusive) highest port of the passive ranges: below the kernel's
/// ephemeral range (32768-60999), where outgoing connections would take ports.
const PASSIVE_SPAN: (u16, u16) = (20_000, 32_000);

/// How long one start attempt may take until the greeting is readable.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many start attempts (a control or passive port taken meanwhile by another process).
const START_ATTEMPTS: usize = 4;
/// How much of each output stream and log file [`Peer::logs`] shows (the tail).
const KEPT_LOG: usize = 64 * 1024;
/// How many entries [`Peer::own_root`] changes at most (a bound on the walk).
const MAX_OWNED_ENTRIES: usize = 200_000;

/// One of the peer servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerKind {
    /// vsftpd 3.0.3 (Debian package `vsftpd`, installed): no MLSD/MLST; listen backlog
    /// fixed at 32.
    Vsftpd,
    /// pure-ftpd 1.0.50 (Debian package `pure-ftpd`, unpacked): LIST shows `.` and `..`.
    PureFtpd,
    /// proftpd 1.3.8 (Debian packages `proftpd-core` and `proftpd-mod-crypto`, unpacked),
    /// with mod_digest: the one peer with HASH/XSHA256/XSHA1/XMD5/XCRC.
    Proftpd,
    /// pyftpdlib (PyPI, with pyOpenSSL), in the install script's virtualenv.
    Pyftpdlib,
}

impl PeerKind {
    /// Every peer, in a fixed order.
    pub const ALL: [PeerKind; 4] = [
        PeerKind::Vsftpd,
        PeerKind::PureFtpd,
        PeerKind::Proftpd,
        PeerKind::Pyftpdlib,
    ];

    /// The server's usual name (`vsftpd`, `pure-ftpd`, `proftpd`, `pyftpdlib`).
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Vsftpd => "vsftpd",
            PeerKind::PureFtpd => "pure-ftpd",
            PeerKind::Proftpd => "proftpd",
            PeerKind::Pyftpdlib => "pyftpdlib",
        }
    }

    /// Where the server comes from, for messages.
    pub fn package(self) -> &'static str {
        match self {
            PeerKind::Vsftpd => "Debian package vsftpd (apt-get install)",
            PeerKind::PureFtpd => "Debian package pure-ftpd (unpacked)",
            PeerKind::Proftpd => "Debian packages proftpd-core and proftpd-mod-crypto (unpacked)",
            PeerKind::Pyftpdlib => "PyPI packages pyftpdlib and pyOpenSSL (virtualenv)",
        }
    }

    /// Whether the server can offer explicit FTPS (AUTH TLS) here: all four can.
    pub fn supports_ftps(self) -> bool {
        true
    }

    /// Whether the server has MLSD/MLST (vsftpd has neither).
    pub fn has_mlsd(self) -> bool {
        !matches!(self, PeerKind::Vsftpd)
    }

    /// Whether the server offers server-side hashes (HASH with SHA-256, SHA-1, MD5, CRC32;
    /// XSHA256, XSHA1, XMD5, XCRC, XSHA512): proftpd only (mod_digest).
    pub fn has_hash_commands(self) -> bool {
        matches!(self, PeerKind::Proftpd)
    }

    /// Whether the server can be told to refuse FTPS data connections that do not reuse
    /// the control connection's TLS session ([`PeerOptions::require_session_reuse`]):
    /// vsftpd and proftpd.
    pub fn can_require_session_reuse(self) -> bool {
        matches!(self, PeerKind::Vsftpd | PeerKind::Proftpd)
    }
}

impl std::fmt::Display for PeerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How to start a peer. Default: plain FTP, account `ferrytest` / `ferrytest-pass`.
#[derive(Clone, Default)]
pub struct PeerOptions {
    ftps: bool,
    credentials: Option<(String, String)>,
    require_session_reuse: bool,
    passive_ports: Option<u16>,
    max_clients: Option<u32>,
    quiet: bool,
}

impl std::fmt::Debug for PeerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerOptions")
            .field("ftps", &self.ftps)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("require_session_reuse", &self.require_session_reuse)
            .field("passive_ports", &self.passive_ports)
            .field("max_clients", &self.max_clients)
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}

impl PeerOptions {
    /// Plain FTP with the default account.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plain FTP with the default account (same as [`PeerOptions::new`]).
    pub fn plain() -> Self {
        Self::default()
    }

    /// Explicit FTPS (AUTH TLS) offered, not required, with a per-test CA.
    pub fn ftps() -> Self {
        Self {
            ftps: true,
            ..Self::default()
        }
    }

    /// Another account for the virtual-user peers (pure-ftpd, proftpd, pyftpdlib). vsftpd
    /// only logs in the system account: asking it for other credentials panics.
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Refuse FTPS data connections that do not resume the control connection's TLS
    /// session (vsftpd `require_ssl_reuse=YES`, proftpd without `NoSessionReuseRequired`).
    /// Implies [`PeerOptions::ftps`]; panics at start for peers that cannot
    /// ([`PeerKind::can_require_session_reuse`]).
    pub fn require_session_reuse(mut self) -> Self {
        self.ftps = true;
        self.require_session_reuse = true;
        self
    }

    /// A passive range of `count` ports instead of [`PASSIVE_PORTS`] (the benchmark's
    /// 200-client burst needs more: pure-ftpd serves at most half its range at once).
    pub fn passive_ports(mut self, count: u16) -> Self {
        self.passive_ports = Some(count);
        self
    }

    /// Clients at once for pure-ftpd (`--maxclientsnumber`/`--maxclientsperip`), instead of
    /// half the passive range; the other peers are unlimited anyway.
    pub fn max_clients(mut self, count: u32) -> Self {
        self.max_clients = Some(count);
        self
    }

    /// No per-command or per-transfer logs (the benchmark's equal setting): vsftpd without
    /// `log_ftp_protocol` and xferlog, proftpd without ExtendedLog and TransferLog,
    /// pure-ftpd without `--altlog`, pyftpdlib at WARNING.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }
}

/// The system account's ids.
#[derive(Debug, Clone, Copy)]
struct Account {
    uid: u32,
    gid: u32,
}

/// The installed peers' directory.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("FERRY_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PEERS_DIR))
}

fn not_installed(kind: PeerKind, what: &Path) -> ! {
    panic!(
        "peer server {kind} is not installed: {} is missing ({}). \
         Run `bash scripts/install-peers.sh` as root (.ci/run does).",
        what.display(),
        kind.package()
    )
}

/// An installed file of `kind`, or a failing test naming the package to install.
fn installed(kind: PeerKind, path: PathBuf) -> PathBuf {
    if !path.is_file() {
        not_installed(kind, &path);
    }
    path
}

/// The ids of [`SYSTEM_USER`], or a failing test naming the install script.
/// The uid and gid of [`SYSTEM_USER`] (panics when the install script has not run).
pub fn system_ids() -> (u32, u32) {
    let a = system_account();
    (a.uid, a.gid)
}

fn system_account() -> Account {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let found = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != SYSTEM_USER {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(Account { uid, gid })
    });
    found.unwrap_or_else(|| {
        panic!(
            "the system account `{SYSTEM_USER}` the peer servers use does not exist. \
             Run `bash scripts/install-peers.sh` as root (.ci/run does)."
        )
    })
}

/// The name of group `gid` (for proftpd's `Group`), or the number as text.
fn group_name(gid: u32) -> String {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let _password = fields.next()?;
            (fields.next()?.parse::<u32>().ok()? == gid).then(|| name.to_owned())
        })
        .unwrap_or_else(|| gid.to_string())
}

/// Panics unless the test runs as root (the daemons switch users).
fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse::<u32>().ok());
    assert_eq!(
        euid,
        Some(0),
        "the peer servers (vsftpd, pure-ftpd, proftpd, pyftpdlib as `{SYSTEM_USER}`) must be \
         started by root: run the tests as root (CI does)"
    );
}

/// A pseudo-random number (std's randomly keyed hasher: no extra crate).
fn random_u64(salt: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(salt);
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// A port on 127.0.0.1 free right now (bound to 0, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A passive range of `count` ports below 32768 whose every port is free now.
pub fn passive_range(count: u16) -> (u16, u16) {
    let count = count.clamp(1, PASSIVE_SPAN.1 - PASSIVE_SPAN.0);
    let slots = (PASSIVE_SPAN.1 - PASSIVE_SPAN.0) / count;
    for attempt in 0..100u64 {
        let slot = u16::try_from(random_u64(attempt) % u64::from(slots)).unwrap_or(0);
        let low = PASSIVE_SPAN.0 + slot * count;
        let high = low + count - 1;
        // Hold every port at once, so a port taken by someone else shows here.
        let held: Result<Vec<TcpListener>, _> = (low..=high)
            .map(|p| TcpListener::bind((Ipv4Addr::LOCALHOST, p)))
            .collect();
        if held.is_ok() {
            return (low, high);
        }
    }
    panic!(
        "no free range of {count} ports between {} and {} on 127.0.0.1",
        PASSIVE_SPAN.0, PASSIVE_SPAN.1
    );
}

/// Fill every `@NAME@` of `template`; panics on a placeholder left unfilled.
fn fill(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("@{name}@"), value);
    }
    let left: Vec<&str> = out
        .split('@')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    assert!(left.is_empty(), "unfilled placeholders {left:?} in\n{out}");
    out
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    set_mode(path, mode);
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn mkdir(path: &Path, mode: u32) {
    std::fs::create_dir(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    set_mode(path, mode);
}

/// `openssl passwd -6` (SHA-512 crypt) of `password`, read from a file, not argv.
fn crypt_hash(etc: &Path, password: &str) -> String {
    let input = etc.join("password.tmp");
    write(&input, &format!("{password}\n"), 0o600);
    let mut cmd = program("openssl");
    cmd.args(["passwd", "-6", "-in"]).arg(&input);
    let out = run_ok(cmd, DEFAULT_TIMEOUT);
    let _ = std::fs::remove_file(&input);
    let hash = out.stdout_text().trim().to_owned();
    assert!(hash.starts_with("$6$"), "unexpected openssl passwd output");
    hash
}

/// The per-test certificates: a CA and a leaf for 127.0.0.1, ::1 and localhost signed by it.
#[derive(Debug, Clone)]
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Make a CA and a server certificate (EC P-256, 7 days) in `etc` with openssl.
fn make_certs(etc: &Path) -> Certs {
    let ca = etc.join("ca.pem");
    let ca_key = etc.join("ca.key");
    let cert = etc.join("server.pem");
    let key = etc.join("server.key");
    let csr = etc.join("server.csr");
    let ext = etc.join("server.ext");
    write(
        &ext,
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost\n",
        0o644,
    );
    let mut c = program("openssl");
    c.args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "7"])
        .args(["-subj", "/CN=Ferry test peer CA"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca);
    run_ok(c, DEFAULT_TIMEOUT);
    let mut c = program("openssl");
    c.args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes"])
        .args(["-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr);
    run_ok(c, DEFAULT_TIMEOUT);
    let mut c = program("openssl");
    c.args(["x509", "-req", "-days", "7", "-set_serial"])
        .arg(format!("0x{:x}", random_u64(7) >> 1))
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&cert);
    run_ok(c, DEFAULT_TIMEOUT);
    // Readable by the servers whichever user reads them (test keys only).
    for p in [&ca, &cert, &key] {
        set_mode(p, 0o644);
    }
    Certs { ca, cert, key }
}

/// The directories of one peer instance (all under its temporary directory).
#[derive(Debug, Clone)]
struct Dirs {
    root: PathBuf,
    etc: PathBuf,
    run: PathBuf,
    logs: PathBuf,
    empty: PathBuf,
    local: PathBuf,
}

/// Everything one start attempt needs.
struct Attempt<'a> {
    kind: PeerKind,
    opts: &'a PeerOptions,
    dirs: &'a Dirs,
    account: Account,
    user: &'a str,
    password: &'a str,
    certs: Option<&'a Certs>,
    port: u16,
    passive: (u16, u16),
    banner: String,
}

/// A running peer server on its own temporary root; killed (with its session processes)
/// on drop, its logs printed when the test is failing.
pub struct Peer {
    kind: PeerKind,
    child: Child,
    port: u16,
    passive: (u16, u16),
    user: String,
    password: String,
    account: Account,
    certs: Option<Certs>,
    require_session_reuse: bool,
    dirs: Dirs,
    stdout_log: Arc<Mutex<Vec<u8>>>,
    stderr_log: Arc<Mutex<Vec<u8>>>,
    cmdline: String,
    greeting: String,
    stopped: bool,
    // Last: removed after the process is gone (None while a start attempt runs).
    dir: Option<TempDir>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("kind", &self.kind)
            .field("addr", &self.addr())
            .field("user", &self.user)
            .field("ftps", &self.certs.is_some())
            .field("root", &self.dirs.root)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Start `kind` with `opts` and wait (bounded) until its greeting is readable.
    pub fn start(kind: PeerKind, opts: PeerOptions) -> Peer {
        require_root();
        let account = system_account();
        if opts.require_session_reuse {
            assert!(
                kind.can_require_session_reuse(),
                "{kind} cannot require TLS session reuse on data connections"
            );
        }
        let (user, password) = opts
            .credentials
            .clone()
            .unwrap_or_else(|| (DEFAULT_USER.to_owned(), DEFAULT_PASSWORD.to_owned()));
        if kind == PeerKind::Vsftpd {
            assert!(
                user == DEFAULT_USER && password == DEFAULT_PASSWORD,
                "vsftpd logs in system accounts only: use the default credentials \
                 ({DEFAULT_USER})"
            );
        }
        assert!(
            !user.is_empty()
                && user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "peer user names are limited to ASCII letters, digits, `-`, `_` and `.`"
        );
        assert!(
            !password.is_empty() && !password.contains(['\n', '\r', '\0']),
            "peer passwords must be one non-empty line"
        );

        let dir = tempfile::Builder::new()
            .prefix(&format!("ferry-peer-{}-", kind.name()))
            .tempdir()
            .expect("create temp dir");
        // Traversable by the FTP account (its root is inside), listable by nobody else.
        set_mode(dir.path(), 0o711);
        let dirs = Dirs {
            root: dir.path().join("root"),
            etc: dir.path().join("etc"),
            run: dir.path().join("run"),
            logs: dir.path().join("logs"),
            empty: dir.path().join("empty"),
            local: dir.path().join("local"),
        };
        mkdir(&dirs.root, 0o755);
        std::os::unix::fs::chown(&dirs.root, Some(account.uid), Some(account.gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", dirs.root.display()));
        mkdir(&dirs.etc, 0o755);
        mkdir(&dirs.run, 0o755);
        mkdir(&dirs.logs, 0o755);
        mkdir(&dirs.empty, 0o755);
        mkdir(&dirs.local, 0o755);
        let certs = opts.ftps.then(|| make_certs(&dirs.etc));

        let mut failures = String::new();
        for attempt_no in 1..=START_ATTEMPTS {
            let port = free_port();
            let passive = passive_range(opts.passive_ports.unwrap_or(PASSIVE_PORTS));
            let banner = format!(
                "ferry-peer {} {}-{port}-{attempt_no}",
                kind.name(),
                std::process::id()
            );
            let attempt = Attempt {
                kind,
                opts: &opts,
                dirs: &dirs,
                account,
                user: &user,
                password: &password,
                certs: certs.as_ref(),
                port,
                passive,
                banner: banner.clone(),
            };
            let cmd = attempt.command();
            let mut peer = Peer::spawn(cmd, &attempt);
            match peer.wait_for_greeting(&banner) {
                Ok(greeting) => {
                    peer.greeting = greeting;
                    peer.dir = Some(dir);
                    return peer;
                }
                Err(why) => {
                    let _ = writeln!(
                        failures,
                        "--- attempt {attempt_no} (port {port}, passive {}-{}): {why}\n{}",
                        passive.0,
                        passive.1,
                        peer.logs()
                    );
                    peer.stop();
                    // The log files of the failed attempt were shown: start afresh.
                    clear_dir(&dirs.logs);
                    clear_dir(&dirs.run);
                }
            }
        }
        panic!("{kind} did not start in {START_ATTEMPTS} attempts\n{failures}");
    }

    fn spawn(mut cmd: Command, attempt: &Attempt<'_>) -> Peer {
        let cmdline = command_line(&cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
        let stdout_log = Arc::new(Mutex::new(Vec::new()));
        let stderr_log = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            drain_into(out, Arc::clone(&stdout_log));
        }
        if let Some(err) = child.stderr.take() {
            drain_into(err, Arc::clone(&stderr_log));
        }
        Peer {
            kind: attempt.kind,
            child,
            port: attempt.port,
            passive: attempt.passive,
            user: attempt.user.to_owned(),
            password: attempt.password.to_owned(),
            account: attempt.account,
            certs: attempt.certs.cloned(),
            require_session_reuse: attempt.opts.require_session_reuse,
            dirs: attempt.dirs.clone(),
            stdout_log,
            stderr_log,
            cmdline,
            greeting: String::new(),
            stopped: false,
            dir: None,
        }
    }

    /// Poll (bounded) until a connection reads a whole 220 greeting carrying `banner`.
    fn wait_for_greeting(&mut self, banner: &str) -> Result<String, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                return Err(format!("the server exited with {status} before greeting"));
            }
            match read_greeting(self.addr()) {
                Ok(greeting) if greeting.contains(banner) => return Ok(greeting),
                Ok(greeting) => {
                    return Err(format!(
                        "another server answers on the port (greeting {greeting:?})"
                    ))
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("no greeting within {START_TIMEOUT:?} (last: {e})"));
                }
                Err(_) => {}
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill the server and every process it started (sessions), by pid.
    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            // Reaped already: the pid may belong to another process now.
            return;
        }
        // The deepest processes first, each round re-read from /proc, so that their
        // parents (still alive) reap them instead of leaving zombies to init; the server
        // itself last. Bounded: a few rounds of 30 ms.
        let pid = self.child.id();
        let kill = find_on_path("kill");
        for _ in 0..6 {
            let tree = descendants(pid);
            let Some(deepest) = tree.iter().map(|&(_, depth)| depth).max() else {
                break;
            };
            let Some(kill) = &kill else { break };
            let _ = Command::new(kill)
                .arg("-KILL")
                .args(
                    tree.iter()
                        .filter(|&&(_, depth)| depth == deepest)
                        .map(|(p, _)| p.to_string()),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            thread::sleep(Duration::from_millis(30));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id of the server (its sessions are its descendants).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Which server this is.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// The control address (127.0.0.1:port).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port))
    }

    /// The host as text: `127.0.0.1`.
    pub fn host(&self) -> String {
        Ipv4Addr::LOCALHOST.to_string()
    }

    /// The control port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The passive port range (inclusive), below 32768.
    pub fn passive_ports(&self) -> (u16, u16) {
        self.passive
    }

    /// The FTP user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The FTP password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `user:password`, for `curl --user`.
    pub fn userpass(&self) -> String {
        format!("{}:{}", self.user, self.password)
    }

    /// The directory the FTP user sees as `/` (writable by the FTP user). Call
    /// [`Peer::own_root`] after writing into it directly.
    pub fn root(&self) -> PathBuf {
        self.dirs.root.clone()
    }

    /// A scratch directory for client-side files (outside the root).
    pub fn local(&self) -> PathBuf {
        self.dirs.local.clone()
    }

    /// `ftp://127.0.0.1:PORT` + `path` (no credentials; `path` should start with `/` and be
    /// URL-encoded by the caller). With FTPS the scheme stays `ftp`: it is explicit FTPS.
    pub fn url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}{path}", self.port)
    }

    /// `ftp://USER:PASSWORD@127.0.0.1:PORT` + `path`, user and password percent-encoded.
    pub fn url_with_credentials(&self, path: &str) -> String {
        format!(
            "ftp://{}:{}@127.0.0.1:{}{path}",
            percent_encode(&self.user),
            percent_encode(&self.password),
            self.port
        )
    }

    /// Whether this instance offers explicit FTPS (started with [`PeerOptions::ftps`]).
    pub fn offers_ftps(&self) -> bool {
        self.certs.is_some()
    }

    /// Whether this instance refuses data connections that do not reuse the control
    /// connection's TLS session.
    pub fn requires_session_reuse(&self) -> bool {
        self.require_session_reuse
    }

    /// The CA certificate (PEM) that signed the server's certificate: what clients trust.
    /// Panics when the peer was started without FTPS.
    pub fn cafile(&self) -> PathBuf {
        match &self.certs {
            Some(c) => c.ca.clone(),
            None => panic!("{} was started without FTPS (PeerOptions::ftps)", self.kind),
        }
    }

    /// The server's certificate (PEM), e.g. to pin it. Panics without FTPS.
    pub fn server_cert(&self) -> PathBuf {
        match &self.certs {
            Some(c) => c.cert.clone(),
            None => panic!("{} was started without FTPS (PeerOptions::ftps)", self.kind),
        }
    }

    /// The greeting the server sent the harness's readiness probe.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// Give everything under [`Peer::root`] to the account the server writes as, so that
    /// clients can overwrite, append to, rename and delete files the test wrote there.
    pub fn own_root(&self) {
        let mut stack = vec![self.dirs.root.clone()];
        let mut seen = 0usize;
        while let Some(path) = stack.pop() {
            seen += 1;
            assert!(
                seen <= MAX_OWNED_ENTRIES,
                "own_root: more than {MAX_OWNED_ENTRIES} entries"
            );
            std::os::unix::fs::lchown(&path, Some(self.account.uid), Some(self.account.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
            let is_dir = std::fs::symlink_metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if is_dir {
                let entries = std::fs::read_dir(&path)
                    .unwrap_or_else(|e| panic!("read_dir {}: {e}", path.display()));
                stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
    }

    /// Write `data` to `root/rel` (parents created) and give it to the FTP account.
    pub fn put_file(&self, rel: &str, data: &[u8]) -> PathBuf {
        let path = self.dirs.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir -p {}: {e}", parent.display()));
        }
        std::fs::write(&path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.own_root();
        path
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The command line, what the server printed and the tail of each of its log files.
    pub fn logs(&self) -> String {
        let mut out = format!(
            "=== peer {} on {} (passive {}-{}): {}\n",
            self.kind,
            self.addr(),
            self.passive.0,
            self.passive.1,
            self.cmdline
        );
        for (name, log) in [("stdout", &self.stdout_log), ("stderr", &self.stderr_log)] {
            let text = log
                .lock()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let _ = writeln!(out, "=== {} {name} (tail) ===\n{text}", self.kind);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dirs.logs)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).unwrap_or_default();
            let start = bytes.len().saturating_sub(KEPT_LOG);
            let _ = writeln!(
                out,
                "=== {} (tail) ===\n{}",
                file.display(),
                String::from_utf8_lossy(bytes.get(start..).unwrap_or_default())
            );
        }
        out
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() && !self.greeting.is_empty() {
            thread::sleep(Duration::from_millis(100));
            eprintln!("{}", self.logs());
        }
    }
}

fn clear_dir(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for entry in rd.filter_map(|e| e.ok()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Attempt<'_> {
    fn command(&self) -> Command {
        match self.kind {
            PeerKind::Vsftpd => self.vsftpd(),
            PeerKind::PureFtpd => self.pure_ftpd(),
            PeerKind::Proftpd => self.proftpd(),
            PeerKind::Pyftpdlib => self.pyftpdlib(),
        }
    }

    fn common_values(&self) -> BTreeMap<&'static str, String> {
        let mut v = BTreeMap::new();
        v.insert("PORT", self.port.to_string());
        v.insert("BANNER", self.banner.clone());
        v.insert("ROOT", path_text(&self.dirs.root));
        v.insert("ETC_DIR", path_text(&self.dirs.etc));
        v.insert("RUN_DIR", path_text(&self.dirs.run));
        v.insert("LOG_DIR", path_text(&self.dirs.logs));
        v.insert("EMPTY_DIR", path_text(&self.dirs.empty));
        v.insert("PASV_MIN", self.passive.0.to_string());
        v.insert("PASV_MAX", self.passive.1.to_string());
        if let Some(c) = self.certs {
            v.insert("CERT", path_text(&c.cert));
            v.insert("KEY", path_text(&c.key));
        }
        v
    }

    fn vsftpd(&self) -> Command {
        let bin = match find_on_path("vsftpd").or_else(|| {
            let p = PathBuf::from("/usr/sbin/vsftpd");
            p.is_file().then_some(p)
        }) {
            Some(p) => p,
            None => not_installed(self.kind, Path::new("/usr/sbin/vsftpd")),
        };
        let mut values = self.common_values();
        values.insert(
            "REQUIRE_REUSE",
            if self.opts.require_session_reuse {
                "YES"
            } else {
                "NO"
            }
            .to_owned(),
        );
        let mut text = fill(include_str!("../peers/vsftpd.conf"), &values);
        if self.opts.quiet {
            text = text
                .replace("log_ftp_protocol=YES", "log_ftp_protocol=NO")
                .replace("xferlog_enable=YES", "xferlog_enable=NO");
        }
        if self.certs.is_some() {
            text.push_str(&fill(include_str!("../peers/vsftpd-tls.conf"), &values));
        }
        let conf = self.dirs.etc.join("vsftpd.conf");
        write(&conf, &text, 0o600);
        let mut cmd = Command::new(bin);
        cmd.arg(conf).current_dir(&self.dirs.run);
        cmd
    }

    fn pure_ftpd(&self) -> Command {
        let base = peers_dir().join("pure-ftpd");
        let bin = installed(self.kind, base.join("usr/sbin/pure-ftpd"));
        let pure_pw = installed(self.kind, base.join("usr/bin/pure-pw"));
        // A puredb of one virtual user (SHA-512 crypt hash, fast to check) chrooted (`/./`)
        // to the root, files owned by the system account.
        let passwd = self.dirs.etc.join("pureftpd.passwd");
        let pdb = self.dirs.etc.join("pureftpd.pdb");
        let hash = crypt_hash(&self.dirs.etc, self.password);
        write(
            &passwd,
            &format!(
                "{}:{hash}:{}:{}::{}/./::::::::::::\n",
                self.user,
                self.account.uid,
                self.account.gid,
                path_text(&self.dirs.root)
            ),
            0o600,
        );
        let mut mkdb = Command::new(pure_pw);
        mkdb.arg("mkdb").arg(&pdb).arg("-f").arg(&passwd);
        run_ok(mkdb, DEFAULT_TIMEOUT);
        // The greeting shows the `-F` file's line: the banner.
        let fortune = self.dirs.etc.join("banner.txt");
        write(&fortune, &format!("{}\n", self.banner), 0o644);

        let ports = u32::from(self.passive.1 - self.passive.0) + 1;
        let clients = self.opts.max_clients.unwrap_or(ports / 2).to_string();
        let mut cmd = Command::new(bin);
        cmd.arg("--bind")
            .arg(format!("127.0.0.1,{}", self.port))
            .arg("--login")
            .arg(format!("puredb:{}", path_text(&pdb)))
            .arg("--noanonymous")
            .arg("--dontresolve")
            .arg("--chrooteveryone")
            .arg("--displaydotfiles")
            // Listings are cut at 10,000 entries by default; the benchmark lists 50,000.
            .args(["--limitrecursion", "200000:5"])
            .args(["--maxclientsnumber", &clients])
            .args(["--maxclientsperip", &clients])
            .arg("--passiveportrange")
            .arg(format!("{}:{}", self.passive.0, self.passive.1))
            .args(["--umask", "133:022"])
            .args(["--maxidletime", "10"])
            .arg("--pidfile")
            .arg(self.dirs.run.join("pure-ftpd.pid"))
            .args(["--syslogfacility", "none"]);
        if !self.opts.quiet {
            cmd.arg("--altlog").arg(format!(
                "clf:{}",
                path_text(&self.dirs.logs.join("pure-ftpd-xfer.log"))
            ));
        }
        cmd.arg("--fortunesfile").arg(&fortune);
        if let Some(c) = self.certs {
            cmd.args(["--tls", "1"]).arg("--certfile").arg(format!(
                "{},{}",
                path_text(&c.cert),
                path_text(&c.key)
            ));
        }
        cmd.current_dir(&self.dirs.run);
        cmd
    }

    fn proftpd(&self) -> Command {
        let base = peers_dir().join("proftpd");
        let bin = installed(self.kind, base.join("usr/sbin/proftpd"));
        let modules = base.join("usr/lib/proftpd");
        let _ = installed(self.kind, modules.join("mod_tls.so"));
        let group = group_name(self.account.gid);
        let hash = crypt_hash(&self.dirs.etc, self.password);
        // ftpasswd format (passwd(5) fields); proftpd refuses world-readable files.
        write(
            &self.dirs.etc.join("proftpd.passwd"),
            &format!(
                "{}:{hash}:{}:{}:Ferry test:{}:/usr/sbin/nologin\n",
                self.user,
                self.account.uid,
                self.account.gid,
                path_text(&self.dirs.root)
            ),
            0o600,
        );
        write(
            &self.dirs.etc.join("proftpd.group"),
            &format!("{group}:x:{}:\n", self.account.gid),
            0o600,
        );
        let mut values = self.common_values();
        values.insert("SYS_USER", SYSTEM_USER.to_owned());
        values.insert("SYS_GROUP", group);
        values.insert("MODULE_DIR", path_text(&modules));
        values.insert(
            "TLS_OPTIONS",
            if self.opts.require_session_reuse {
                "EnableDiags"
            } else {
                "NoSessionReuseRequired EnableDiags"
            }
            .to_owned(),
        );
        let mut text = fill(include_str!("../peers/proftpd.conf"), &values);
        if self.opts.quiet {
            text = text
                .lines()
                .filter(|l| !l.starts_with("ExtendedLog ") && !l.starts_with("TransferLog "))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                + "TransferLog NONE\n";
        }
        if self.certs.is_some() {
            text.push_str(&fill(include_str!("../peers/proftpd-tls.conf"), &values));
        }
        let conf = self.dirs.etc.join("proftpd.conf");
        write(&conf, &text, 0o644);
        let mut cmd = Command::new(bin);
        // -n: foreground, messages on stderr; -c: our configuration only.
        cmd.arg("-n")
            .arg("-c")
            .arg(conf)
            .current_dir(&self.dirs.run);
        cmd
    }

    fn pyftpdlib(&self) -> Command {
        let python = installed(self.kind, peers_dir().join("pyftpdlib/bin/python"));
        let mut cmd = Command::new(python);
        // The script's text, not its path: the FTP account cannot read the source tree.
        cmd.arg("-c")
            .arg(include_str!("../peers/pyftpdlib_peer.py"))
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--root")
            .arg(&self.dirs.root)
            .arg("--user")
            .arg(self.user)
            .arg("--passive-ports")
            .arg(format!("{}-{}", self.passive.0, self.passive.1))
            .arg("--banner")
            .arg(&self.banner);
        if self.opts.quiet {
            cmd.arg("--quiet");
        }
        if let Some(c) = self.certs {
            cmd.arg("--certfile")
                .arg(&c.cert)
                .arg("--keyfile")
                .arg(&c.key);
        }
        cmd.env("FERRY_PEER_PASSWORD", self.password)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("HOME", &self.dirs.run)
            .env_remove("PYTHONPATH")
            .current_dir(&self.dirs.run)
            .uid(self.account.uid)
            .gid(self.account.gid);
        cmd
    }
}

fn path_text(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 temp path {}", path.display()))
        .to_owned()
}

/// The program and arguments (never the environment, which may hold the password); the
/// pyftpdlib script's text is shortened.
fn command_line(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    for arg in cmd.get_args() {
        let a = arg.to_string_lossy();
        if a.contains('\n') {
            parts.push("'<script>'".to_owned());
        } else if a.contains(' ') || a.is_empty() {
            parts.push(format!("'{a}'"));
        } else {
            parts.push(a.into_owned());
        }
    }
    parts.join(" ")
}

/// Keep the tail of a pipe in `log` (a background thread, ends at EOF).
fn drain_into<R: Read + Send + 'static>(mut pipe: R, log: Arc<Mutex<Vec<u8>>>) {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut log) = log.lock() {
                log.extend_from_slice(buf.get(..n).unwrap_or_default());
                let excess = log.len().saturating_sub(KEPT_LOG);
                if excess > 0 {
                    log.drain(..excess);
                }
            }
        }
    });
}

/// Connect and read one whole greeting (lines up to `220 `), with short timeouts.
fn read_greeting(addr: SocketAddr) -> Result<String, String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| format!("set timeout: {e}"))?;
    let mut reader = BufReader::new(stream.take(16 * 1024));
    let mut greeting = String::new();
    for _ in 0..50 {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("read greeting: {e} (so far {greeting:?})"))?;
        if n == 0 {
            return Err(format!(
                "connection closed during the greeting {greeting:?}"
            ));
        }
        greeting.push_str(&line);
        if line.starts_with("220 ") {
            return Ok(greeting);
        }
        if !line.starts_with("220") {
            return Err(format!("not a 220 greeting: {greeting:?}"));
        }
    }
    Err(format!("greeting too long: {greeting:?}"))
}

/// Every living (not zombie) process descended from `pid` (from /proc), with its depth
/// below `pid` (1 = a direct child).
fn descendants(pid: u32) -> Vec<(u32, usize)> {
    // (pid, ppid, zombie)
    let mut procs: Vec<(u32, u32, bool)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for entry in rd.filter_map(|e| e.ok()) {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces and parentheses.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let zombie = fields.next() == Some("Z");
            if let Some(ppid) = fields.next().and_then(|p| p.parse().ok()) {
                procs.push((child, ppid, zombie));
            }
        }
    }
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    let mut found = Vec::new();
    let mut frontier = vec![(pid, 0usize)];
    while let Some((p, depth)) = frontier.pop() {
        for &(child, ppid, zombie) in &procs {
            if ppid == p && seen.insert(child) {
                if !zombie {
                    found.push((child, depth + 1));
                }
                frontier.push((child, depth + 1));
            }
        }
        if seen.len() > 10_000 {
            break;
        }
    }
    found
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
