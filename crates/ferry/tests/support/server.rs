//! Starting `ferry serve` on a temporary root for one test, and stopping it on drop.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long the server may take to print its listening line(s).
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of the server's stderr is kept (the tail) for failure reports.
const KEPT_STDERR: usize = 512 * 1024;
/// The line prefix `ferry serve` prints per bound address.
const LISTENING: &str = "Ferry FTP server listening on ";
/// The line prefix `ferry serve` prints per bound implicit-FTPS address.
const LISTENING_IMPLICIT: &str = "Ferry FTPS (implicit) listening on ";
/// The line prefix of the certificate fingerprint `ferry serve` prints when TLS is on.
const FINGERPRINT: &str = "TLS certificate SHA-256 fingerprint: ";

/// Options for one test server. Defaults: `--listen 127.0.0.1:0`, user `alice:secret:rw`,
/// and `--tls off` unless [`ServerBuilder::ftps`] (or [`ServerBuilder::state_dir`], or an
/// explicit `--tls`) asks for TLS.
#[derive(Debug, Default)]
pub struct ServerBuilder {
    listen: Vec<String>,
    users: Option<Vec<String>>,
    anonymous: Option<String>,
    extra: Vec<String>,
    implicit: Vec<String>,
    state_dir: bool,
    root: Option<PathBuf>,
}

impl ServerBuilder {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a `--listen ADDR` (the first call replaces the default `127.0.0.1:0`).
    pub fn listen(mut self, addr: &str) -> Self {
        self.listen.push(addr.to_owned());
        self
    }

    /// Add a `--user NAME:PASSWORD[:ro|rw]` (the first call replaces the default user).
    pub fn user(mut self, spec: &str) -> Self {
        self.users
            .get_or_insert_with(Vec::new)
            .push(spec.to_owned());
        self
    }

    /// Set `--anonymous off|ro|rw`.
    pub fn anonymous(mut self, mode: &str) -> Self {
        self.anonymous = Some(mode.to_owned());
        self
    }

    /// Add any other argument(s) verbatim, e.g. `["--data-timeout", "2"]`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.extra.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Give the server a state directory (`--state-dir`, under the test's temporary
    /// directory), where it generates its self-signed certificate: see [`Server::cafile`].
    pub fn state_dir(mut self) -> Self {
        self.state_dir = true;
        self
    }

    /// FTPS with the default policy: a state directory for the generated certificate plus
    /// any `--tls...` arguments given here, e.g. `&["--tls", "required"]`.
    pub fn ftps(self, args: &[&str]) -> Self {
        self.state_dir().args(args)
    }

    /// Add an `--implicit-listen ADDR` (implicit FTPS; implies [`Self::state_dir`]).
    pub fn implicit_listen(mut self, addr: &str) -> Self {
        self.implicit.push(addr.to_owned());
        self.state_dir = true;
        self
    }

    /// Serve `dir` (an existing directory, e.g. a small tmpfs mount) instead of a fresh
    /// `root` under the test's temporary directory; [`Server::root`] then returns it.
    pub fn root(mut self, dir: &Path) -> Self {
        self.root = Some(dir.to_path_buf());
        self
    }

    /// Start the server and wait until it prints every listening line.
    pub fn start(self) -> Server {
        Server::start_with(self)
    }
}

/// A running test server on its own temporary root. Killed (and its logs printed, when the
/// test is failing) on drop.
pub struct Server {
    child: Child,
    addrs: Vec<SocketAddr>,
    implicit_addrs: Vec<SocketAddr>,
    state_dir: Option<PathBuf>,
    dir: TempDir,
    root: PathBuf,
    stdout_log: Arc<Mutex<String>>,
    stderr_log: Arc<Mutex<Vec<u8>>>,
    cmdline: String,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .field("root", &self.root())
            .finish()
    }
}

/// The server command: the `ferry` binary, or `FERRY_TEST_SERVER_CMD` (whitespace-separated
/// program and leading arguments) to check the tests against a reference server.
fn server_command() -> Command {
    if let Ok(custom) = std::env::var("FERRY_TEST_SERVER_CMD") {
        let mut words = custom.split_whitespace();
        if let Some(program) = words.next() {
            let mut cmd = Command::new(program);
            cmd.args(words);
            return cmd;
        }
    }
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

impl Server {
    /// Start a server with the default options.
    pub fn start() -> Server {
        ServerBuilder::new().start()
    }

    /// A builder for non-default options.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    fn start_with(opts: ServerBuilder) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("ferry-test-")
            .tempdir()
            .expect("create temp dir");
        let root = match opts.root.clone() {
            Some(root) => root,
            None => {
                let root = dir.path().join("root");
                std::fs::create_dir(&root).expect("create server root");
                root
            }
        };
        std::fs::create_dir(dir.path().join("local")).expect("create local dir");

        let listen = if opts.listen.is_empty() {
            vec!["127.0.0.1:0".to_owned()]
        } else {
            opts.listen
        };
        let users = opts
            .users
            .unwrap_or_else(|| vec![format!("{}:{}:rw", super::USER, super::PASS)]);

        let mut cmd = server_command();
        cmd.arg("serve");
        for l in &listen {
            cmd.arg("--listen").arg(l);
        }
        cmd.arg("--root").arg(&root);
        for u in &users {
            cmd.arg("--user").arg(u);
        }
        if let Some(mode) = &opts.anonymous {
            cmd.arg("--anonymous").arg(mode);
        }
        for l in &opts.implicit {
            cmd.arg("--implicit-listen").arg(l);
        }
        let state_dir = opts.state_dir.then(|| dir.path().join("state"));
        if let Some(state) = &state_dir {
            cmd.arg("--state-dir").arg(state);
        } else if !opts.extra.iter().any(|a| a == "--tls") {
            // A plain-FTP test server (the issue-2 suites): no TLS, so no certificate is
            // generated and FEAT/AUTH behave as on a server without FTPS. FTPS tests use
            // `ftps()`, which gives the server its own state directory.
            cmd.args(["--tls", "off"]);
        }
        cmd.args(&opts.extra);
        // Anything Ferry writes relative to its working directory (a default state
        // directory, say) lands in the test's temporary directory, not the source tree.
        // (A reference server command may use relative paths: leave its directory alone.)
        if std::env::var_os("FERRY_TEST_SERVER_CMD").is_none() {
            cmd.current_dir(dir.path());
        }
        cmd.env_remove("RUST_LOG_STYLE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let cmdline = format!("{cmd:?}");

        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the server {cmdline}: {e}"));

        let stdout_log = Arc::new(Mutex::new(String::new()));
        let stderr_log = Arc::new(Mutex::new(Vec::new()));
        let (line_tx, line_rx) = mpsc::channel::<String>();
        if let Some(out) = child.stdout.take() {
            let log = Arc::clone(&stdout_log);
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut log) = log.lock() {
                        log.push_str(&line);
                        log.push('\n');
                    }
                    let _ = line_tx.send(line);
                }
            });
        }
        if let Some(mut err) = child.stderr.take() {
            let log = Arc::clone(&stderr_log);
            thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut log) = log.lock() {
                        log.extend_from_slice(buf.get(..n).unwrap_or_default());
                        let excess = log.len().saturating_sub(KEPT_STDERR);
                        if excess > 0 {
                            log.drain(..excess);
                        }
                    }
                }
            });
        }

        let mut server = Server {
            child,
            addrs: Vec::new(),
            implicit_addrs: Vec::new(),
            state_dir,
            dir,
            root,
            stdout_log,
            stderr_log,
            cmdline,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let implicit = opts.implicit.len();
        while server.addrs.len() < listen.len() || server.implicit_addrs.len() < implicit {
            let left = deadline.saturating_duration_since(Instant::now());
            match line_rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(rest) = line.trim().strip_prefix(LISTENING) {
                        let addr = SocketAddr::from_str(rest.trim()).unwrap_or_else(|e| {
                            panic!("bad listening line {line:?}: {e}\n{}", server.logs())
                        });
                        server.addrs.push(addr);
                    } else if let Some(rest) = line.trim().strip_prefix(LISTENING_IMPLICIT) {
                        let addr = SocketAddr::from_str(rest.trim()).unwrap_or_else(|e| {
                            panic!(
                                "bad implicit listening line {line:?}: {e}\n{}",
                                server.logs()
                            )
                        });
                        server.implicit_addrs.push(addr);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    thread::sleep(Duration::from_millis(200));
                    panic!(
                        "the server exited before printing {} listening line(s) and {implicit} \
                         implicit-FTPS listening line(s)\n{}",
                        listen.len(),
                        server.logs()
                    );
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "the server exited early with {status} before listening\n{}",
                    server.logs()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "the server printed no `{LISTENING}ADDR` line within {START_TIMEOUT:?}\n{}",
                    server.logs()
                );
            }
        }
        server
    }

    /// The first bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every bound address, in the order printed.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The first implicit-FTPS address (panics when the server has none).
    pub fn implicit_addr(&self) -> SocketAddr {
        *self
            .implicit_addrs
            .first()
            .unwrap_or_else(|| panic!("no implicit-FTPS listener (use implicit_listen)"))
    }

    /// Every implicit-FTPS address, in the order printed.
    pub fn implicit_addrs(&self) -> &[SocketAddr] {
        &self.implicit_addrs
    }

    /// The server's state directory (panics unless the builder asked for one).
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| panic!("the server was started without --state-dir"))
    }

    /// The generated self-signed certificate (`STATE_DIR/ferry-cert.pem`) that clients must
    /// trust. Panics, with the server's logs, when it does not exist.
    pub fn cafile(&self) -> PathBuf {
        let path = self.state_dir().join("ferry-cert.pem");
        assert!(
            path.is_file(),
            "the server generated no certificate at {}\n{}",
            path.display(),
            self.logs()
        );
        path
    }

    /// The `TLS certificate SHA-256 fingerprint: ...` value the server printed, if any
    /// (waits up to 5 s for it: it may come after the listening lines).
    pub fn fingerprint(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self
                .stdout_log
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default();
            let found = out.lines().find_map(|l| {
                l.trim()
                    .strip_prefix(FINGERPRINT)
                    .map(|f| f.trim().to_owned())
            });
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ftps://HOST:PORT` + `path` for the first implicit-FTPS address.
    pub fn ftps_url(&self, path: &str) -> String {
        let plain = url_for(self.implicit_addr(), path);
        format!("ftps{}", plain.strip_prefix("ftp").unwrap_or(&plain))
    }

    /// The first bound port.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// The first bound IP as text (no brackets).
    pub fn host(&self) -> String {
        self.addr().ip().to_string()
    }

    /// `ftp://HOST:PORT` + `path` for the first address (IPv6 hosts bracketed); `path` should
    /// start with `/` and be URL-encoded by the caller.
    pub fn url(&self, path: &str) -> String {
        url_for(self.addr(), path)
    }

    /// The served root directory.
    pub fn root(&self) -> PathBuf {
        self.root.clone()
    }

    /// A directory outside the root, the parent of it (for traversal tests).
    pub fn outside(&self) -> &Path {
        self.dir.path()
    }

    /// A scratch directory for client-side files (outside the root).
    pub fn local(&self) -> PathBuf {
        self.dir.path().join("local")
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the server SIGHUP (reload); what it reloads shows in [`Server::logs`].
    pub fn sighup(&self) {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("run kill -HUP");
        assert!(status.success(), "kill -HUP {}: {status}", self.pid());
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server command line and what it printed so far.
    pub fn logs(&self) -> String {
        let out = self
            .stdout_log
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let err = self
            .stderr_log
            .lock()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .unwrap_or_default();
        format!(
            "=== server: {}\n=== server stdout ===\n{out}\n=== server stderr (tail) ===\n{err}",
            self.cmdline
        )
    }
}

/// `ftp://HOST:PORT` + `path` for `addr` (IPv6 hosts bracketed).
pub fn url_for(addr: SocketAddr, path: &str) -> String {
    match addr {
        SocketAddr::V4(a) => format!("ftp://{}:{}{path}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("ftp://[{}]:{}{path}", a.ip(), a.port()),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            // Give the drain threads a moment to collect the last lines.
            thread::sleep(Duration::from_millis(100));
            eprintln!("{}", self.logs());
        }
    }
}
