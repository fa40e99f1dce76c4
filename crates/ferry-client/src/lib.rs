//! # ferry-client: Ferry's FTP/FTPS client library
//!
//! An async (tokio) client on the same `ferry-proto` codecs as the server: the control
//! connection is decoded with [`ferry_proto::line::LineDecoder`] and
//! [`ferry_proto::reply::ReplyParser`], commands are [`ferry_proto::Command`]s encoded by the
//! core, and the protocol knowledge of the client side (login state machine, FEAT, PASV/EPSV
//! targets, reply payloads, hash replies, listing parsers) comes from
//! [`ferry_proto::client`] and [`ferry_proto::listing_parse`]. A negative reply is a value
//! ([`ClientError::Rejected`]), never a panic.
//!
//! Layout: `control` (one control connection: send, read replies, trace, timeouts),
//! `stream` (plain or TLS socket), `tls` (rustls configurations, TOFU), `client` (the
//! session: state, data connections, transfers), `deflate` (MODE Z adapters), `repr` (the
//! other representations on [`ferry_proto::repr`]: TYPE A/E, STRU R, MODE B/C, restart
//! markers and [`RestartPoint`]s).
//!
//! ## Data connections
//! - Passive: `EPSV` first (to the control peer's address); on `500`/`502`/`504` the client
//!   falls back to `PASV` for the rest of the session. The address in a `227` reply is
//!   ignored: the client connects to the control connection's peer with the announced port
//!   ([`ferry_proto::client::PasvPolicy::UseControlPeer`], curl's default): NAT-safe and no
//!   bounce.
//! - Active: a listener on the control connection's local address, `EPRT` first, `PORT`
//!   fallback; only a connection from the server's address is accepted.
//! - On TLS sessions with `PROT P` every data connection is TLS with the client as the TLS
//!   client (also in active mode). The handshake runs while the `1yz` reply is awaited.
//!   Uploads end with `close_notify`; a download that ends without one is an error
//!   (truncation).
//!
//! ## TLS session reuse
//! Each [`Client`] has its own rustls session store shared by its control and data
//! connections (same server name), so data connections resume the control session
//! (RFC 4217 §10). rustls' client uses each TLS 1.3 ticket once. Against Ferry's server
//! with `--tls-session-reuse require` (TLS 1.3, measured in `tests/ftps.rs`): the control
//! connection brings two tickets; a download or listing uses one and brings one; an upload
//! uses one and brings none. So downloads and listings work without limit, while a session
//! can do two uploads in all; the next data connection is refused with `522` (a
//! [`ClientError::Rejected`]; the session stays usable, a new connection brings two new
//! tickets). With `accept` (Ferry's default) every sequence works. TLS 1.2 sessions are
//! reusable any number of times by rustls' client.
//!
//! ## Keep-alive and cancellation
//! With [`ConnectOptions::keepalive`] set, `NOOP` is sent on the control connection while a
//! transfer runs (downloads: also while the server sends nothing; uploads: between chunks),
//! and its answers are consumed with the final transfer reply, in whatever order the
//! server sends them. A dropped operation future leaves the session unusable (the next call
//! says so) rather than out of step.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_client::ClientError> {
//! use ferry_client::{Client, ConnectOptions, Password, StoreMode};
//! let mut opts = ConnectOptions::new("ftp.example.org", 21);
//! opts.user = "alice".into();
//! opts.password = Password::new("secret");
//! let mut client = Client::connect(opts).await?;
//! let mut file = tokio::io::sink();
//! client.retrieve("/pub/file.bin", 0, None, &mut file, &mut |_| {}).await?;
//! client.quit().await
//! # }
//! ```

use std::path::PathBuf;
use std::time::Duration;

mod client;
mod control;
mod deflate;
mod error;
mod repr;
mod stream;
mod tls;

pub use client::Client;
pub use control::TraceFn;
pub use error::ClientError;
pub use ferry_proto::client::{Features, HashAlgorithm, RemoteHash};
pub use ferry_proto::listing::EntryKind;
pub use ferry_proto::listing_parse::RemoteEntry;
pub use ferry_proto::repr::Representation;
pub use tls::accept_any_certificate;

/// `Client` and its operations can move between tasks (e.g. `tokio::spawn` for parallel
/// transfers).
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Client>();
    assert_send::<ClientError>();
};
pub use ferry_proto::{Password, Reply};

/// How the control connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// Plain FTP.
    #[default]
    None,
    /// Explicit FTPS: `AUTH TLS` on the plain control connection.
    Explicit,
    /// Implicit FTPS (`ftps://`): TLS from the first byte.
    Implicit,
}

/// How the server certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsVerify {
    /// Against the system's trust store (rustls-native-certs), host name checked. Default.
    #[default]
    System,
    /// Against these PEM CA certificates (e.g. a self-signed server's own certificate); the
    /// host name is checked too.
    CaFile(PathBuf),
    /// Trust on first use: SHA-256 fingerprints per `host:port` in a known-hosts style file
    /// (one `host:port sha256-hex` line each; the CLI uses ~/.config/ferry/known_hosts). A
    /// certificate that verifies against the system store is accepted as usual; otherwise an
    /// unknown host's fingerprint is stored with a warning (`tracing::warn`), and a changed
    /// fingerprint is [`ClientError::CertificateChanged`].
    TrustOnFirstUse {
        /// The known-hosts file.
        store: PathBuf,
    },
    /// No verification at all (`--insecure`).
    Insecure,
}

/// How data connections are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataMode {
    /// The client connects: `EPSV`, falling back to `PASV`.
    #[default]
    Passive,
    /// The server connects: `EPRT`, falling back to `PORT`.
    Active,
}

/// Everything [`Client::connect`] needs.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Plain, explicit or implicit FTPS.
    pub security: Security,
    /// How the certificate is checked (TLS only).
    pub tls_verify: TlsVerify,
    /// User name (`anonymous` when a URL has none).
    pub user: String,
    /// Password (never printed).
    pub password: Password,
    /// Account for `ACCT`, when the server asks (332).
    pub account: Option<String>,
    /// Passive or active data connections.
    pub data_mode: DataMode,
    /// `PROT P` on TLS sessions (default true).
    pub protect_data: bool,
    /// Limit for the TCP connect (and the TLS handshake).
    pub connect_timeout: Duration,
    /// A stall on the control or a data connection beyond this is an error.
    pub io_timeout: Duration,
    /// Send `NOOP` on the control connection this often during long transfers.
    pub keepalive: Option<Duration>,
    /// MODE Z (deflate) for every transfer, when the server's FEAT lists `MODE Z` and it
    /// accepts the command; else transfers stay in MODE S ([`Client::is_compressing`]).
    pub compress: bool,
    /// The representation of file transfers (TYPE, STRU, MODE): sent before each `RETR` and
    /// `STOR` and applied by the client's codecs ([`ferry_proto::repr`]); listings, `SIZE`
    /// and hashes go back to `TYPE I`, `STRU F` and the session's mode. MODE S becomes MODE
    /// Z when [`ConnectOptions::compress`] is in force. `None` (the default): `TYPE I`
    /// transfers, bytes as they are, and [`Client::set_ascii`] is left alone.
    pub representation: Option<Representation>,
}

impl ConnectOptions {
    /// Defaults: plain FTP, system trust store, user `anonymous` with password
    /// `anonymous@`, passive mode, protected data, 30 s connect timeout, 60 s I/O timeout,
    /// no keep-alive, no compression.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ConnectOptions {
            host: host.into(),
            port,
            security: Security::None,
            tls_verify: TlsVerify::System,
            user: "anonymous".to_string(),
            password: Password::new("anonymous@"),
            account: None,
            data_mode: DataMode::Passive,
            protect_data: true,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(60),
            keepalive: None,
            compress: false,
            representation: None,
        }
    }
}

/// Where a MODE B (or C) transfer that broke off can restart: the last restart marker that
/// both sides know ([`Client::restart_point`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPoint {
    /// What to send with `REST` (the server's marker: Ferry's are file offsets).
    pub remote: u64,
    /// The file bytes this transfer had moved at that marker (counted from where it
    /// started): a download keeps that many of the bytes it wrote, an upload continues
    /// reading its input after that many.
    pub moved: u64,
}

/// One event of the protocol trace (for `ferry shell -d`). `PASS` is shown as `PASS ****`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trace {
    /// A command line sent (without CRLF).
    Sent(String),
    /// A reply received.
    Received(Reply),
}

/// How an upload treats the remote file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `STOR`: create or replace.
    Replace,
    /// `APPE`: append.
    Append,
    /// `REST n` + `STOR`: write from byte `n` on (resume).
    At(u64),
}
