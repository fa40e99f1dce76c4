//! The servers under test, started the same way: Ferry (`ferry serve` with a config file)
//! and the four peers (through the test suite's peer harness, `peers.rs`), each on
//! 127.0.0.1 with its own temporary root, the account `ferrytest` writing as the system
//! user `ferrytest`, raised connection caps, a passive range below 32768, and no
//! per-command or per-transfer logs.

use std::fmt;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::peers::{self, Peer, PeerKind, PeerOptions};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `ferry serve`.
    Ferry,
    /// One of the peers.
    Peer(PeerKind),
}

impl Kind {
    /// Ferry first, then the peers in the harness's order.
    pub const ALL: [Kind; 5] = [
        Kind::Ferry,
        Kind::Peer(PeerKind::Vsftpd),
        Kind::Peer(PeerKind::PureFtpd),
        Kind::Peer(PeerKind::Proftpd),
        Kind::Peer(PeerKind::Pyftpdlib),
    ];

    /// The server's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ferry => "ferry",
            Kind::Peer(p) => p.name(),
        }
    }

    /// Parse a name given on the command line.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the server has MLSD.
    pub fn has_mlsd(self) -> bool {
        match self {
            Kind::Ferry => true,
            Kind::Peer(p) => p.has_mlsd(),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Explicit FTPS offered (AUTH TLS), not required.
    pub ftps: bool,
    /// Size of the passive range.
    pub passive_ports: u16,
    /// CPU the server runs on (None: not pinned).
    pub cpu: Option<usize>,
    /// The CPU the benchmark itself goes back to after starting the server.
    pub client_cpu: Option<usize>,
    /// The `ferry` binary.
    pub ferry_bin: PathBuf,
}

/// A running server; stopped on drop.
pub struct Server {
    kind: Kind,
    addr: SocketAddr,
    root: PathBuf,
    user: String,
    password: String,
    inner: Inner,
}

enum Inner {
    Ferry {
        child: Child,
        // Removed after the process is gone (field order: dropped after `child` is killed
        // by `Drop for Server`).
        _dir: tempfile::TempDir,
    },
    Peer(Box<Peer>),
}

/// The password of the benchmark account on every server.
pub const PASSWORD: &str = peers::DEFAULT_PASSWORD;
/// The benchmark account (the peers' system account).
pub const USER: &str = peers::DEFAULT_USER;

impl Server {
    /// Start `kind` and wait for its greeting.
    pub fn start(kind: Kind, opts: &StartOptions) -> Result<Server> {
        pin_self(opts.cpu)?;
        let started = match kind {
            Kind::Ferry => start_ferry(opts),
            Kind::Peer(p) => {
                let mut po = PeerOptions::new()
                    .quiet()
                    .passive_ports(opts.passive_ports)
                    .max_clients(100_000);
                if opts.ftps {
                    po = PeerOptions::ftps()
                        .quiet()
                        .passive_ports(opts.passive_ports)
                        .max_clients(100_000);
                }
                let peer = std::panic::catch_unwind(|| Peer::start(p, po))
                    .map_err(|_| anyhow::anyhow!("{p} did not start (see the message above)"))?;
                Ok(Server {
                    kind,
                    addr: peer.addr(),
                    root: peer.root(),
                    user: peer.user().to_owned(),
                    password: peer.password().to_owned(),
                    inner: Inner::Peer(Box::new(peer)),
                })
            }
        };
        pin_self(opts.client_cpu)?;
        started
    }

    /// The control address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The directory served as `/`.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The account name.
    pub fn user(&self) -> &str {
        &self.user
    }
    /// The account password.
    pub fn password(&self) -> &str {
        &self.password
    }
    /// The server's main process.
    pub fn pid(&self) -> u32 {
        match &self.inner {
            Inner::Ferry { child, .. } => child.id(),
            Inner::Peer(p) => p.pid(),
        }
    }
    /// Whether the main process still runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.inner {
            Inner::Ferry { child, .. } => matches!(child.try_wait(), Ok(None)),
            Inner::Peer(p) => p.is_running(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Inner::Ferry { child, .. } = &mut self.inner {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Pin the calling thread (and so the processes it starts) to `cpu`.
pub fn pin_self(cpu: Option<usize>) -> Result<()> {
    let Some(cpu) = cpu else { return Ok(()) };
    let mut set = CpuSet::new();
    set.set(cpu).context("cpu number")?;
    sched_setaffinity(Pid::from_raw(0), &set).context("sched_setaffinity")?;
    Ok(())
}

fn start_ferry(opts: &StartOptions) -> Result<Server> {
    let (uid, gid) = peers::system_ids();
    let dir = tempfile::Builder::new()
        .prefix("ferry-bench-ferry-")
        .tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))?;
    let root = dir.path().join("root");
    std::fs::create_dir(&root)?;
    std::os::unix::fs::chown(&root, Some(uid), Some(gid))?;
    let hash = ferry_storage::users::hash_password(&ferry_proto::Password::new(PASSWORD))
        .context("hash the benchmark password")?;
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!("[[user]]\nname = \"{USER}\"\npassword = \"{hash}\"\npermissions = [\"all\"]\n"),
    )?;
    let (low, high) = peers::passive_range(opts.passive_ports);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let tls = if opts.ftps { "optional" } else { "off" };
    let config = format!(
        "listen = [\"127.0.0.1:{port}\"]\n\
         root = \"{root}\"\n\
         users_file = \"{users}\"\n\
         anonymous = \"off\"\n\
         passive_ports = \"{low}-{high}\"\n\
         tls = \"{tls}\"\n\
         tls_data = \"optional\"\n\
         state_dir = \"{state}\"\n\
         run_as = \"{user}\"\n\
         idle_timeout = 600\n\
         max_sessions = 0\n\
         max_sessions_per_ip = 0\n\
         max_sessions_per_user = 0\n\
         max_logins_per_minute = 0\n\
         max_passive_listeners = 0\n\
         log_level = \"warn\"\n",
        root = root.display(),
        users = users.display(),
        state = dir.path().join("state").display(),
        user = peers::SYSTEM_USER,
    );
    let config_path = dir.path().join("ferry.toml");
    std::fs::write(&config_path, config)?;
    let log = std::fs::File::create(dir.path().join("ferry.log"))?;
    let child = Command::new(&opts.ferry_bin)
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {}", opts.ferry_bin.display()))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = Server {
        kind: Kind::Ferry,
        addr,
        root,
        user: USER.to_owned(),
        password: PASSWORD.to_owned(),
        inner: Inner::Ferry { child, _dir: dir },
    };
    wait_greeting(&mut server, addr)?;
    Ok(server)
}

fn wait_greeting(server: &mut Server, addr: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if !server.is_running() {
            let log = match &server.inner {
                Inner::Ferry { _dir, .. } => {
                    std::fs::read_to_string(_dir.path().join("ferry.log")).unwrap_or_default()
                }
                Inner::Peer(_) => String::new(),
            };
            bail!("{} exited before greeting:\n{log}", server.kind);
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 512];
            if let Ok(n) = s.read(&mut buf) {
                if buf.get(..n).is_some_and(|b| b.starts_with(b"220")) {
                    return Ok(());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{} gave no greeting within 20 s", server.kind)
}
