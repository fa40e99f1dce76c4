//! # ferry-server: the tokio driver of Ferry's FTP server
//!
//! The protocol decisions live in `ferry_proto::server` (a sans-IO state machine); this
//! crate owns the sockets, timers, data connections and storage calls.
//!
//! Public API: build a [`ServerConfig`], [`Server::bind`] it, then [`Server::run`] until the
//! shutdown future completes.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use ferry_storage::{Authenticator, StorageFactory};

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
    /// Unknown or failed commands tolerated before login before the server hangs up.
    pub max_bad_commands_before_login: u32,
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
    /// 30 s, shutdown grace 30 s, 50 bad commands before login.
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
            max_bad_commands_before_login: 50,
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
    _private: (),
}

impl Server {
    /// Binds every listen address.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let _ = config;
        todo!()
    }

    /// The addresses actually bound (with the real port when 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        todo!()
    }

    /// Accepts and serves sessions until `shutdown` completes; then stops accepting, asks
    /// idle sessions to close (`421`), lets running transfers finish for up to
    /// `shutdown_grace`, and returns.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let _ = shutdown;
        todo!()
    }
}
