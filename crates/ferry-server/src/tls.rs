//! TLS material for FTPS (RFC 4217): certificates, rustls configurations, reload.
//!
//! A [`TlsContext`] owns everything the server needs to speak TLS:
//! - the certificate chain and key, from PEM files or, when none are given, a self-signed
//!   certificate generated on first start (rcgen) and kept in the state directory, so later
//!   starts present the same certificate and clients can pin its fingerprint;
//! - two rustls server configurations sharing one ticketer and one session cache: one for
//!   control connections (sends TLS 1.3 session tickets) and one for data connections (sends
//!   none: a ticket arriving while a client is already uploading makes curl reset the
//!   connection). Sharing lets a data connection resume the control connection's session,
//!   as many times as there are data connections (stateless tickets for TLS 1.3 and 1.2,
//!   a session-ID cache for TLS 1.2 clients without tickets);
//! - optional client-certificate verification against a CA file (request or require), and
//!   a mapping from certificate subject to user name;
//! - `SSLKEYLOGFILE` support (key log for Wireshark and Ferry's analyzer) when asked for.
//!
//! [`TlsContext::reload`] re-reads the files and swaps the configurations atomically: new
//! handshakes use the new certificate, established sessions are untouched, and tickets stay
//! valid (the ticketer and session cache are kept).
//!
//! Only TLS 1.2 and 1.3 are offered (rustls has nothing older), with the `ring` provider.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// PEM files: a chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC1).
    Files {
        /// Certificate chain file.
        cert: PathBuf,
        /// Private key file.
        key: PathBuf,
    },
    /// A self-signed certificate kept in `state_dir` (`ferry-cert.pem` and `ferry-key.pem`,
    /// key file mode 0600), generated there on first use for `names` (DNS names or IP
    /// addresses; `localhost`, `127.0.0.1` and `::1` are always included).
    SelfSigned {
        /// Directory for the generated files (created if missing).
        state_dir: PathBuf,
        /// Extra subject alternative names.
        names: Vec<String>,
    },
}

/// Whether clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Never asked for.
    Off,
    /// Asked for; a client without one may still connect (a presented one must verify).
    Request,
    /// Required: a client without a valid certificate is refused at the handshake.
    Require,
}

/// Everything needed to build a [`TlsContext`].
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// The server certificate.
    pub source: CertSource,
    /// CA certificates (PEM) that client certificates must chain to. Required unless
    /// `client_auth` is `Off`.
    pub client_ca: Option<PathBuf>,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
    /// Certificate subject (RFC 4514 string as [`TlsContext::client_subject`] formats it,
    /// e.g. `CN=alice,O=Example`) → user name.
    pub client_users: BTreeMap<String, String>,
    /// Write TLS secrets to the file named by the `SSLKEYLOGFILE` environment variable.
    pub keylog: bool,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key, or they do not match.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// The self-signed certificate could not be generated.
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
}

/// TLS state shared by all sessions. See the module docs.
pub struct TlsContext {
    _private: (),
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext").finish_non_exhaustive()
    }
}

impl TlsContext {
    /// Loads (or generates) the certificate and builds the configurations.
    pub fn new(options: TlsOptions) -> Result<TlsContext, TlsError> {
        let _ = options;
        todo!()
    }

    /// SHA-256 fingerprint of the leaf certificate, upper-case hex pairs joined by `:`
    /// (as `openssl x509 -fingerprint -sha256` prints it).
    pub fn fingerprint(&self) -> String {
        todo!()
    }

    /// Where the certificate was generated, when this start generated a self-signed one
    /// (so the binary can say so); `None` when it was loaded.
    pub fn generated_at(&self) -> Option<PathBuf> {
        todo!()
    }

    /// Re-reads the certificate, key and client CA; on success new handshakes use them. On
    /// error the old configuration stays in force.
    pub fn reload(&self) -> Result<(), TlsError> {
        todo!()
    }

    /// The configuration for control connections (explicit AUTH TLS and implicit FTPS).
    pub fn control_config(&self) -> Arc<rustls::ServerConfig> {
        todo!()
    }

    /// The configuration for data connections: same certificate, ticketer and session
    /// cache, but no TLS 1.3 tickets sent.
    pub fn data_config(&self) -> Arc<rustls::ServerConfig> {
        todo!()
    }

    /// The subject of the client's verified certificate, as an RFC 4514 string
    /// (`CN=alice,O=Example`), if it presented one.
    pub fn client_subject(conn: &rustls::ServerConnection) -> Option<String> {
        let _ = conn;
        todo!()
    }

    /// The user a client certificate subject maps to, if any.
    pub fn user_for_subject(&self, subject: &str) -> Option<String> {
        let _ = subject;
        todo!()
    }
}
