//! What happens on the server, told to observers (metrics, audit log, xferlog).
//!
//! The session tasks emit [`Event`]s; every [`Observer`] in
//! [`crate::ServerConfig::observers`] gets each one, in the order they happen within a
//! session. Observers are called inline on the session's task: they must not block (an
//! observer that writes files hands the event to a task of its own through a bounded
//! channel). Events never carry a password.
//!
//! Gauges that are simply "how many right now" (sessions, passive listeners, bans) are kept
//! in [`ServerStats`] instead, which an exporter reads when scraped.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Why a connection was turned away before or at the greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusedReason {
    /// The address is not in the allow list, or is in the deny list (closed silently).
    Denied,
    /// The address is banned (brute force).
    Banned,
    /// The server has its maximum number of sessions (`421`).
    ServerFull,
    /// This address has its maximum number of sessions (`421`).
    TooManyFromAddress,
    /// A trusted proxy sent no valid PROXY protocol header.
    BadProxyHeader,
}

impl RefusedReason {
    /// A short name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusedReason::Denied => "denied",
            RefusedReason::Banned => "banned",
            RefusedReason::ServerFull => "server_full",
            RefusedReason::TooManyFromAddress => "too_many_from_address",
            RefusedReason::BadProxyHeader => "bad_proxy_header",
        }
    }
}

/// Why a login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginFailure {
    /// Unknown user or wrong password.
    BadCredentials,
    /// The account is disabled.
    Disabled,
    /// The account may not log in from this address (`allow_from`).
    AddressNotAllowed,
    /// The account has its maximum number of sessions.
    TooManySessions,
    /// Too many login attempts from this address in the last minute.
    RateLimited,
    /// The account's storage could not be opened.
    Storage,
}

impl LoginFailure {
    /// A short name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFailure::BadCredentials => "bad_credentials",
            LoginFailure::Disabled => "disabled",
            LoginFailure::AddressNotAllowed => "address_not_allowed",
            LoginFailure::TooManySessions => "too_many_sessions",
            LoginFailure::RateLimited => "rate_limited",
            LoginFailure::Storage => "storage",
        }
    }
}

/// A command that changed the file tree (uploads are [`Event::Transfer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileChange {
    /// MKD.
    Mkdir(String),
    /// RMD.
    Rmdir(String),
    /// DELE.
    Delete(String),
    /// RNFR + RNTO.
    Rename {
        /// Old path.
        from: String,
        /// New path.
        to: String,
    },
    /// SITE CHMOD.
    Chmod {
        /// The path.
        path: String,
        /// The new mode bits.
        mode: u32,
    },
    /// MFMT.
    SetMtime {
        /// The path.
        path: String,
        /// The new time, Unix seconds.
        mtime: i64,
    },
}

impl FileChange {
    /// The command's name for logs and labels (`mkdir`, `rmdir`, `delete`, `rename`, `chmod`,
    /// `set_mtime`).
    pub fn action(&self) -> &'static str {
        match self {
            FileChange::Mkdir(_) => "mkdir",
            FileChange::Rmdir(_) => "rmdir",
            FileChange::Delete(_) => "delete",
            FileChange::Rename { .. } => "rename",
            FileChange::Chmod { .. } => "chmod",
            FileChange::SetMtime { .. } => "set_mtime",
        }
    }
}

/// Which way a transfer went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// RETR.
    Download,
    /// STOR, APPE, STOU.
    Upload,
    /// LIST, NLST, MLSD.
    Listing,
}

impl Direction {
    /// `download`, `upload` or `listing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
            Direction::Listing => "listing",
        }
    }
}

/// One finished (or failed) data transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// The session.
    pub session: u64,
    /// The client (the real one when it came through a trusted proxy).
    pub peer: SocketAddr,
    /// The account name (`anonymous` for anonymous logins).
    pub user: String,
    /// True for an anonymous login.
    pub anonymous: bool,
    /// Which way.
    pub direction: Direction,
    /// The file (or listed directory), as the client sees it (absolute virtual path). For
    /// STOU, the name the server chose when known.
    pub path: String,
    /// Bytes moved on the data connection.
    pub bytes: u64,
    /// Time from the start of the transfer to its end.
    pub duration: Duration,
    /// TYPE A (line endings converted).
    pub ascii: bool,
    /// True when the transfer completed.
    pub complete: bool,
    /// When the transfer ended.
    pub ended: SystemTime,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection was turned away before a session started.
    ConnectionRefused {
        /// The client.
        peer: IpAddr,
        /// Why.
        reason: RefusedReason,
    },
    /// A session started (the greeting is about to be sent).
    SessionOpened {
        /// Server-unique session number.
        session: u64,
        /// The client (the real one behind a trusted proxy).
        peer: SocketAddr,
        /// True when the address came from a PROXY protocol header.
        proxied: bool,
        /// True on an implicit-FTPS listener.
        implicit_tls: bool,
    },
    /// A session ended.
    SessionClosed {
        /// The session.
        session: u64,
        /// The client.
        peer: SocketAddr,
        /// The account logged in at the end, if any.
        user: Option<String>,
    },
    /// A login succeeded.
    LoginOk {
        /// The session.
        session: u64,
        /// The client.
        peer: SocketAddr,
        /// The account name (`anonymous` for anonymous logins).
        user: String,
        /// True for an anonymous login.
        anonymous: bool,
        /// True when a TLS client certificate proved the identity (reply 232).
        by_certificate: bool,
    },
    /// A login failed.
    LoginFailed {
        /// The session.
        session: u64,
        /// The client.
        peer: SocketAddr,
        /// The user name given (it may not exist; never the password).
        user: String,
        /// Why.
        reason: LoginFailure,
    },
    /// A command changed (or tried to change) the file tree.
    FileChanged {
        /// The session.
        session: u64,
        /// The client.
        peer: SocketAddr,
        /// The account.
        user: String,
        /// What.
        change: FileChange,
        /// The reply code sent (2xx: done).
        code: u16,
    },
    /// A data transfer ended.
    Transfer(TransferRecord),
    /// A reply was sent (for counting replies by class).
    Reply {
        /// The reply code.
        code: u16,
    },
    /// An address (and maybe a user name) was banned after failed logins.
    Banned {
        /// The address.
        ip: IpAddr,
        /// The user name banned with it, when user names are banned too.
        user: Option<String>,
        /// For how long.
        duration: Duration,
        /// Failed logins that led to the ban.
        failures: u32,
    },
}

/// Receives [`Event`]s. Called on session tasks: must return quickly and never block.
pub trait Observer: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

/// Live gauges of the server, read by exporters when scraped.
#[derive(Debug, Default)]
pub struct ServerStats {
    sessions: AtomicU64,
    passive_listeners: AtomicU64,
    bans: AtomicU64,
}

impl ServerStats {
    /// Sessions open now.
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Passive listeners (data ports) open now.
    pub fn passive_listeners(&self) -> u64 {
        self.passive_listeners.load(Ordering::Relaxed)
    }

    /// Bans in force now (addresses and user names).
    pub fn bans(&self) -> u64 {
        self.bans.load(Ordering::Relaxed)
    }

    pub(crate) fn set_sessions(&self, n: u64) {
        self.sessions.store(n, Ordering::Relaxed);
    }

    pub(crate) fn set_passive_listeners(&self, n: u64) {
        self.passive_listeners.store(n, Ordering::Relaxed);
    }

    pub(crate) fn set_bans(&self, n: u64) {
        self.bans.store(n, Ordering::Relaxed);
    }
}
