//! # ferry-server: the tokio driver of Ferry's FTP server
//!
//! The protocol decisions live in [`ferry_proto::server::Session`], a sans-IO state
//! machine; this crate owns the sockets, timers, data connections and storage calls, and
//! executes the [`ferry_proto::server::Action`]s the session returns.
//!
//! Layout:
//! - this file: [`ServerConfig`], [`Server`] (bind with a large backlog, one accept loop per
//!   listener that never stops on a burst: per-connection errors are skipped at once, a
//!   lack of descriptors waits 10 ms with the clients kept in the backlog; one task per
//!   session, graceful shutdown);
//! - `conn`: one control connection: a cancel-safe control-line reader (which also reads
//!   past TCP urgent marks, so an `ABOR` sent as urgent data is seen at once), the action
//!   executor, and the transfer runner that keeps reading the control connection during a
//!   transfer (`ABOR` cancels it, `STAT` reports progress, other commands are queued).
//!   An idle session waits for readability holding no read buffer, and the futures of
//!   commands are boxed, so an idle logged-in session costs about 5-8 KiB;
//! - `data`: passive listeners (port range, bound to the control connection's local
//!   address, only the control peer's IP accepted; a complete transfer's listener is kept
//!   2 s for the next PASV/EPSV of a batch) and active connects;
//! - `transfer`: file and listing transfers: `sendfile(2)` for downloads and `splice(2)`
//!   (socket → pipe → file; the first 32 KiB by one plain write, so a small file makes
//!   no pipe) for uploads when wire bytes equal file bytes (TYPE I/L 8,
//!   STRU F, MODE S, no TLS; not APPE), otherwise bounded buffers through the
//!   `ferry_proto::repr` encoders/decoders (TYPE A/E, STRU R/P, MODE B/C with restart
//!   markers) and, for MODE Z, a deflate layer on top; listings streamed batch by batch;
//! - `ext`: the extension commands that read files or the filesystem: HASH and the X-hash
//!   commands (on the blocking pool, bounded memory, cancelled by ABOR), AVBL;
//! - `stream`: plain and TLS byte streams: control halves that can be upgraded (AUTH TLS)
//!   and downgraded (CCC), data streams, and the session-reuse check of protected data
//!   connections;
//! - [`tls`]: certificates (PEM files or a self-signed one kept in the state directory),
//!   the rustls configurations for control and data connections sharing one ticketer and
//!   session cache, reload, client certificates and the key log;
//! - `gate`: admission before the greeting (allow/deny lists, bans, session counts global
//!   and per address), per-account session slots, login attempts per minute, failed-login
//!   delays and bans, and the passive-listener budget, all held by RAII tickets in bounded
//!   tables; [`limits`] is its (reloadable) configuration;
//! - `proxy`: the PROXY protocol header of connections from trusted proxies (control and
//!   passive data connections), parsed by `ferry_proto::proxy`;
//! - `throttle` and `quota`: bandwidth token buckets (global and per account) and
//!   per-account storage usage with `552` on overrun and no partial file left;
//! - [`vhost`]: virtual hosts (RFC 7151): `HOST` or the TLS server name (SNI) picks one
//!   before login, with its own accounts, root, greeting and certificate (the SNI resolver
//!   lives in [`tls`]); without one a connection uses the default host (this config);
//! - [`events`]: what happens ([`Event`]), told to [`Observer`]s, and the live gauges
//!   ([`ServerStats`]); [`metrics`] (Prometheus endpoint) and [`audit`] (xferlog and JSON
//!   audit log) are the observers `ferry serve` installs.
//!
//! Operations: limits and accounts are read through [`ServerControl`] at each use, so a
//! reload (SIGHUP in `ferry serve`) applies to new connections, logins and commands without
//! dropping a session. The session's account (with its permissions, quota and rates) is the
//! one it logged in with.
//!
//! FTPS (RFC 4217): the session state machine decides AUTH/PBSZ/PROT/CCC and the policy
//! ([`TlsPolicy`]); the driver runs the handshakes. Cleartext received after `AUTH TLS`
//! is discarded before the handshake. Data connections under `PROT P` are TLS with the
//! server as TLS server in both passive and active mode, and end with close_notify; an
//! upload that ends without the client's close_notify is incomplete. Under
//! [`SessionReuse::Require`] a data connection must resume a session of its own control
//! connection, proven with per-connection session traces (TLS 1.2 and 1.3 alike).
//!
//! Flow of a command: control bytes → `LineDecoder` → `Session::handle_line` → actions
//! (reply, authenticate, storage operation, open passive listener, transfer) → results fed
//! back with `Session::on_*` → more actions, until the session waits for the next line.
//!
//! Public API: build a [`ServerConfig`], [`Server::bind`] it, then [`Server::run`] until the
//! shutdown future completes.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferry_proto::server::SessionConfig;
pub use ferry_proto::server::TlsPolicy;
use ferry_storage::{Authenticator, StorageFactory};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

pub mod audit;
mod conn;
mod data;
pub mod events;
mod ext;
mod gate;
pub mod limits;
pub mod metrics;
mod proxy;
mod quota;
mod stream;
mod throttle;
pub mod tls;
mod transfer;
pub mod vhost;

pub use events::{Event, Observer, ServerStats};
pub use limits::{BanPolicy, Limits};
pub use vhost::{VirtualHost, VirtualHosts};

/// Everything the server needs, already validated.
#[derive(Clone)]
pub struct ServerConfig {
    /// Control-connection listen addresses (port 0 picks a free port).
    pub listen: Vec<SocketAddr>,
    /// Passive data ports to use; `None` lets the OS pick an ephemeral port.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Address to advertise in PASV replies instead of the control connection's local
    /// address (for servers behind NAT).
    pub public_host: Option<IpAddr>,
    /// Account checks.
    pub authenticator: Arc<dyn Authenticator>,
    /// Opens each account's storage.
    pub storage: Arc<dyn StorageFactory>,
    /// Text of the 220 greeting.
    pub greeting: String,
    /// Idle timeout of a control connection without a transfer (reply 421, close).
    pub idle_timeout: Duration,
    /// How long to wait for a data connection, and for progress on one.
    pub data_timeout: Duration,
    /// On shutdown, how long running transfers may go on before they are cut.
    pub shutdown_grace: Duration,
    /// Session, login, ban, address and bandwidth limits (reloadable with
    /// [`ServerControl::set_limits`]).
    pub limits: Limits,
    /// Observers told of every [`events::Event`] (metrics, audit log, xferlog).
    pub observers: Vec<Arc<dyn Observer>>,
    /// Proxies (HAProxy and the like) whose connections start with a PROXY protocol v1 or v2
    /// header giving the real client address; connections from other addresses are direct.
    pub proxy_from: Vec<ipnet::IpNet>,
    /// TLS certificates and configurations; `None` disables FTPS.
    pub tls: Option<Arc<tls::TlsContext>>,
    /// FTPS policy (`available` is forced to `tls.is_some()`).
    pub tls_policy: TlsPolicy,
    /// Implicit-FTPS listen addresses (TLS before the greeting, conventionally port 990).
    pub implicit_listen: Vec<SocketAddr>,
    /// Whether data connections must resume the control connection's TLS session.
    pub session_reuse: SessionReuse,
    /// Virtual hosts chosen with `HOST` or the TLS server name (RFC 7151; see [`vhost`]);
    /// empty: every connection uses the default host (the fields above). Reloadable with
    /// [`ServerControl::set_vhosts`].
    pub vhosts: VirtualHosts,
}

/// Whether a TLS data connection must resume the control connection's TLS session
/// (RFC 4217 §10: proof that the data connection comes from the same client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionReuse {
    /// Resumption is not offered on data connections (every data connection does a full
    /// handshake).
    Off,
    /// Resumption is offered and accepted, not required (works with every client).
    #[default]
    Accept,
    /// A data connection must resume the control connection's session; others are refused
    /// with a reply that says so.
    Require,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("passive_ports", &self.passive_ports)
            .field("public_host", &self.public_host)
            .field("idle_timeout", &self.idle_timeout)
            .field("data_timeout", &self.data_timeout)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// A configuration with Ferry's defaults for everything but accounts and storage:
    /// listen on 127.0.0.1:2121, OS-chosen passive ports, idle timeout 300 s, data timeout
    /// 30 s, shutdown grace 30 s, the default [`Limits`], no observer, no trusted proxy.
    pub fn new(authenticator: Arc<dyn Authenticator>, storage: Arc<dyn StorageFactory>) -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 2121))],
            passive_ports: None,
            public_host: None,
            authenticator,
            storage,
            greeting: "Ferry FTP server ready.".to_string(),
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            limits: Limits::default(),
            observers: Vec::new(),
            proxy_from: Vec::new(),
            tls: None,
            tls_policy: TlsPolicy::default(),
            implicit_listen: Vec::new(),
            session_reuse: SessionReuse::default(),
            vhosts: VirtualHosts::new(),
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A bound server, ready to run.
pub struct Server {
    listeners: Vec<TcpListener>,
    implicit: Vec<TcpListener>,
    config: ServerConfig,
    control: ServerControl,
    stats: Arc<ServerStats>,
}

/// What can change while the server runs (SIGHUP): limits and accounts. Sessions read the
/// current values at each use, so a change applies to running sessions from their next
/// command or login on, and never drops them.
pub(crate) struct Live {
    limits: RwLock<Arc<Limits>>,
    authenticator: RwLock<Arc<dyn Authenticator>>,
    vhosts: RwLock<Arc<VirtualHosts>>,
}

impl Live {
    /// The limits in force.
    pub(crate) fn limits(&self) -> Arc<Limits> {
        match self.limits.read() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The account checker in force.
    pub(crate) fn authenticator(&self) -> Arc<dyn Authenticator> {
        match self.authenticator.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The virtual hosts in force.
    pub(crate) fn vhosts(&self) -> Arc<VirtualHosts> {
        match self.vhosts.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Changes a running server's limits and accounts (see [`Server::control`]).
#[derive(Clone)]
pub struct ServerControl {
    live: Arc<Live>,
}

impl ServerControl {
    /// Replaces the limits. Running sessions keep their connections; new checks use the new
    /// values.
    pub fn set_limits(&self, limits: Limits) {
        match self.live.limits.write() {
            Ok(mut l) => *l = Arc::new(limits),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(limits),
        }
    }

    /// Replaces the account checker (users, passwords, permissions, quotas). Logged-in
    /// sessions keep the account they logged in with until they log in again.
    pub fn set_authenticator(&self, authenticator: Arc<dyn Authenticator>) {
        match self.live.authenticator.write() {
            Ok(mut a) => *a = authenticator,
            Err(poisoned) => *poisoned.into_inner() = authenticator,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Arc<Limits> {
        self.live.limits()
    }

    /// Replaces the virtual hosts (their accounts, roots and greetings). Sessions that
    /// already chose a host keep it until REIN or the end of the connection.
    pub fn set_vhosts(&self, vhosts: VirtualHosts) {
        match self.live.vhosts.write() {
            Ok(mut v) => *v = Arc::new(vhosts),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(vhosts),
        }
    }
}

/// Backlog of the control listeners: large, so a burst of clients is never dropped.
const LISTEN_BACKLOG: i32 = 4096;

fn bind_control(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

impl Server {
    /// Binds every listen address.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let mut listeners = Vec::with_capacity(config.listen.len());
        for &addr in &config.listen {
            let l = bind_control(addr).map_err(|source| ServerError::Bind { addr, source })?;
            listeners.push(l);
        }
        let mut implicit = Vec::with_capacity(config.implicit_listen.len());
        for &addr in &config.implicit_listen {
            let l = bind_control(addr).map_err(|source| ServerError::Bind { addr, source })?;
            implicit.push(l);
        }
        let live = Arc::new(Live {
            limits: RwLock::new(Arc::new(config.limits.clone())),
            authenticator: RwLock::new(config.authenticator.clone()),
            vhosts: RwLock::new(Arc::new(config.vhosts.clone())),
        });
        Ok(Server {
            listeners,
            implicit,
            config,
            control: ServerControl { live },
            stats: Arc::new(ServerStats::default()),
        })
    }

    /// A handle to change limits and accounts while the server runs.
    pub fn control(&self) -> ServerControl {
        self.control.clone()
    }

    /// The live gauges (sessions, passive listeners, bans), for exporters.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// The implicit-FTPS addresses actually bound.
    pub fn implicit_addrs(&self) -> Vec<SocketAddr> {
        self.implicit
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The addresses actually bound (with the real port when 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Accepts and serves sessions until `shutdown` completes; then stops accepting, asks
    /// idle sessions to close (`421`), lets running transfers finish for up to
    /// `shutdown_grace`, and returns.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let pasv_address = match self.config.public_host {
            Some(IpAddr::V4(v4)) => Some(v4),
            Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped(),
            None => None,
        };
        let session = SessionConfig {
            greeting: self.config.greeting.clone(),
            anonymous_enabled: self.config.authenticator.is_anonymous("anonymous"),
            max_bad_commands_before_login: self.config.limits.max_bad_commands_before_login,
            pasv_address,
            tls: TlsPolicy {
                available: self.config.tls.is_some(),
                ..self.config.tls_policy
            },
        };
        let grace = self.config.shutdown_grace;
        let shared = Arc::new(conn::Shared {
            config: self.config,
            session,
            live: self.control.live.clone(),
            gate: Arc::new(gate::Gate::new(self.stats.clone())),
            next_session: std::sync::atomic::AtomicU64::new(1),
            throttles: throttle::Throttles::new(),
            quotas: quota::Quotas::new(),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut accept_loops = JoinSet::new();
        let all = self.listeners.into_iter().map(|l| (l, false));
        for (listener, implicit_tls) in all.chain(self.implicit.into_iter().map(|l| (l, true))) {
            let loop_ = accept_loop(
                listener,
                implicit_tls,
                shared.clone(),
                stop_rx.clone(),
                grace,
            );
            accept_loops.spawn(loop_);
        }
        // Expired bans and counters are dropped now and then (the bans gauge follows).
        let tidy_shared = shared.clone();
        let tidy = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(15));
            loop {
                every.tick().await;
                tidy_shared.gate.tidy(&tidy_shared.live.limits());
            }
        });
        shutdown.await;
        tidy.abort();
        info!("shutting down: no new sessions; running transfers may finish");
        let _ = stop_tx.send(true);
        while accept_loops.join_next().await.is_some() {}
        Ok(())
    }
}

/// Pause of the accept loop after an error that is not about one connection (no file
/// descriptor left, no memory): short, as sessions ending free descriptors at any time.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// True for `accept` errors that concern only the connection being accepted (aborted or
/// reset before it was accepted), after which the next accept may succeed at once.
fn accept_error_is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::Interrupted | K::WouldBlock
    )
}

async fn accept_loop(
    listener: TcpListener,
    implicit_tls: bool,
    shared: Arc<conn::Shared>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    sessions.spawn(conn::serve(stream, peer, implicit_tls, shared.clone(), stop.clone()));
                }
                Err(e) if accept_error_is_per_connection(&e) => {
                    // That one client is gone already; the next one may be waiting.
                    tracing::debug!(error = %e, "accept failed for one connection");
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly instead of
                    // spinning; pending clients wait in the listen backlog meanwhile.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            left = sessions.len(),
            "shutdown grace over: cutting remaining sessions"
        );
        sessions.abort_all();
        while sessions.join_next().await.is_some() {}
    }
}
