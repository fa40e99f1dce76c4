//! [`ClientError`]: every way a client operation can fail, with the server's reply as data.

use ferry_proto::Reply;

/// Why a client operation failed.
///
/// A negative reply from the server is not a failure of the client: it is
/// [`ClientError::Rejected`] and carries the [`Reply`] itself, so callers can decide on the
/// code (e.g. retry a `4yz`). Errors never contain the password: the command text of a
/// rejected `PASS` reads `PASS ****`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A socket or local I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// TLS handshake or configuration failed (certificate not trusted, bad CA file...).
    #[error("TLS error: {0}")]
    Tls(String),
    /// A step took longer than the configured timeout; the text names the step.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The server answered with a negative (or unexpected) reply.
    #[error("{command}: server replied {} {}", reply.code, reply.text())]
    Rejected {
        /// The command line that was rejected (`PASS ****` for passwords).
        command: String,
        /// The server's reply.
        reply: Reply,
    },
    /// The server broke the protocol (unparseable reply, nonsense address, closed
    /// connection mid-reply...).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server lacks what was asked (e.g. MFMT, HASH, REST STOR).
    #[error("not supported by the server: {0}")]
    NotSupported(String),
    /// Trust on first use: the server's certificate differs from the one stored for it.
    #[error(
        "the TLS certificate of {host} has CHANGED (stored sha256 {stored}, presented sha256 \
         {presented}); if this is expected, remove its line from the known-hosts file"
    )]
    CertificateChanged {
        /// `host:port`.
        host: String,
        /// Stored fingerprint (hex SHA-256 of the DER certificate).
        stored: String,
        /// Presented fingerprint.
        presented: String,
    },
    /// Login was refused (USER/PASS/ACCT answered with a negative reply).
    #[error("login failed: {} {}", .0.code, .0.text())]
    LoginFailed(Reply),
}

impl ClientError {
    /// Worth retrying: `4yz` replies (including `421`), connection resets and aborts,
    /// timeouts.
    pub fn is_transient(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            ClientError::Io(e) => matches!(
                e.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::ConnectionRefused
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::TimedOut
                    | ErrorKind::Interrupted
                    | ErrorKind::NotConnected
            ),
            ClientError::Timeout(_) => true,
            ClientError::Rejected { reply, .. } | ClientError::LoginFailed(reply) => {
                (400..500).contains(&reply.code.get())
            }
            ClientError::Tls(_)
            | ClientError::Protocol(_)
            | ClientError::NotSupported(_)
            | ClientError::CertificateChanged { .. } => false,
        }
    }

    /// The reply code when the error is a reply.
    pub fn reply_code(&self) -> Option<u16> {
        match self {
            ClientError::Rejected { reply, .. } | ClientError::LoginFailed(reply) => {
                Some(reply.code.get())
            }
            _ => None,
        }
    }
}
