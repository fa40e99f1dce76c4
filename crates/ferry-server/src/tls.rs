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
//!
//! # Session resumption: what rustls does (0.23, checked by `tests/tls_context.rs`)
//!
//! FTPS clients (curl, lftp, FileZilla, Python `ftplib` with `session=`) hand the control
//! connection's session to *every* data connection, so one session must be resumable any
//! number of times:
//!
//! - **TLS 1.3.** With rustls' default (no ticketer) a TLS 1.3 ticket names an entry of the
//!   server cache that resumption *takes*: each ticket works once. Here both configurations
//!   share one stateless ticketer (ring, ChaCha20-Poly1305, key rotated every 6 hours, the
//!   previous key still accepted), so the same ticket resumes any number of times (tested
//!   five times with one ClientHello, and with OpenSSL through Python's `ssl`). The control
//!   configuration sends two tickets after each handshake; the data configuration sends
//!   none. rustls' *own client* uses each ticket only once (RFC 8446 advice), so a rustls
//!   client resumes as many data connections as the control connection gave it tickets.
//! - **TLS 1.2.** Session IDs live in one shared cache of 4096 entries that resumption reads
//!   without removing: any number of times. Clients offering the ticket extension get a
//!   stateless ticket instead (the ID cache is then not consulted), also reusable; on each
//!   such resumption rustls issues a fresh ticket inside the abbreviated handshake (not
//!   after it), which OpenSSL-based clients may ignore or keep.
//! - A session resumes only with the same cipher suite and the same SNI as the original
//!   (RFC 6066), which FTP clients satisfy by using one host name for both connections.
//! - A resumed connection reports [`rustls::HandshakeKind::Resumed`], and its
//!   `peer_certificates()` are the client certificate of the original handshake.
//! - `ServerConnection::set_resumption_data` on the control connection (before its
//!   handshake completes, e.g. in `tokio_rustls::TlsAcceptor::accept_with`) comes back from
//!   `received_resumption_data()` on a resumed data connection **with TLS 1.3 only**: rustls
//!   stores it in TLS 1.2 sessions but never returns it (`None`).
//! - To know that a data connection resumed *its own* control connection's session, for
//!   both versions, use [`TlsContext::traced_control_config`] and
//!   [`TlsContext::traced_data_config`]: per-connection copies of the configurations whose
//!   ticketer and session store record digests of the session states they issue and accept
//!   ([`SessionTrace`]).
//! - Tickets and cached sessions survive [`TlsContext::reload`].

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{
    ProducesTickets, ServerSessionMemoryCache, StoresServerSessions, WebPkiClientVerifier,
};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

/// File name of the generated self-signed certificate in the state directory.
pub const SELF_SIGNED_CERT_FILE: &str = "ferry-cert.pem";
/// File name of the generated self-signed certificate's key in the state directory.
pub const SELF_SIGNED_KEY_FILE: &str = "ferry-key.pem";

/// Largest PEM file read (certificate chain, key or CA bundle).
const MAX_PEM_BYTES: u64 = 1024 * 1024;
/// TLS 1.2 session-ID cache size (shared by control and data connections).
const SESSION_CACHE_ENTRIES: usize = 4096;
/// TLS 1.3 tickets sent after each control-connection handshake.
const CONTROL_TLS13_TICKETS: usize = 2;
/// Lifetime of a generated self-signed certificate.
const SELF_SIGNED_VALIDITY: Duration = Duration::from_secs(3650 * 24 * 60 * 60);
/// Session digests remembered per [`SessionTrace`] lineage.
const MAX_TRACED_SESSIONS: usize = 64;

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
    shared: Shared,
    current: RwLock<Arc<Configs>>,
    generated_at: Option<PathBuf>,
    /// `client_users` with normalized keys (see [`normalize_subject`]).
    users: BTreeMap<String, String>,
    /// Certificates of virtual hosts, by name (see [`TlsContext::set_host_certificates`]).
    hosts: RwLock<Arc<HostCerts>>,
}

/// A virtual host's own certificate (RFC 7151 virtual hosts, chosen by SNI or `HOST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCertificate {
    /// The host's names (domain names, or IP literals in brackets).
    pub names: Vec<String>,
    /// Certificate chain file (PEM, leaf first).
    pub cert: PathBuf,
    /// Private key file (PEM).
    pub key: PathBuf,
}

/// The loaded virtual-host certificates and where they come from (for reload).
#[derive(Debug, Default)]
struct HostCerts {
    sources: Vec<HostCertificate>,
    by_name: std::collections::HashMap<String, Arc<CertifiedKey>>,
}

/// The server name (SNI) a client sent in its handshake, recorded by the configuration
/// from [`TlsContext::for_host`]: lower case, without a trailing dot.
#[derive(Debug, Clone, Default)]
pub struct ServerNameSeen(Arc<Mutex<Option<String>>>);

impl ServerNameSeen {
    /// The name, once the handshake has read the ClientHello (`None` without SNI).
    pub fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, name: String) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(name);
    }
}

/// Picks the certificate of a handshake: the pinned host's (`HOST` came first), else the
/// one of the virtual host the SNI names, else the default; records the SNI.
#[derive(Debug)]
struct HostResolver {
    fallback: Arc<dyn rustls::server::ResolvesServerCert>,
    hosts: Arc<HostCerts>,
    pinned: Option<Arc<CertifiedKey>>,
    seen: ServerNameSeen,
}

impl rustls::server::ResolvesServerCert for HostResolver {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(normalize_host);
        if let Some(name) = &name {
            self.seen.set(name.clone());
        }
        if let Some(pinned) = &self.pinned {
            return Some(Arc::clone(pinned));
        }
        if let Some(key) = name.as_ref().and_then(|n| self.hosts.by_name.get(n)) {
            return Some(Arc::clone(key));
        }
        self.fallback.resolve(hello)
    }
}

/// Lower case without a trailing dot (`A.Example.` is `a.example`).
fn normalize_host(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Loads every virtual-host certificate.
fn load_hosts(
    provider: &CryptoProvider,
    sources: Vec<HostCertificate>,
) -> Result<HostCerts, TlsError> {
    let mut by_name = std::collections::HashMap::new();
    for source in &sources {
        let material = load_material(provider, &source.cert, &source.key)?;
        let key = Arc::new(material.key);
        for name in &source.names {
            by_name.insert(normalize_host(name), Arc::clone(&key));
        }
    }
    Ok(HostCerts { sources, by_name })
}

/// What every generation of configurations is built from.
struct Shared {
    options: TlsOptions,
    provider: Arc<CryptoProvider>,
    /// Shared by every configuration ever built here, so tickets survive a reload.
    ticketer: Arc<dyn ProducesTickets>,
    /// Shared TLS 1.2 session-ID cache, kept across reloads too.
    sessions: Arc<ServerSessionMemoryCache>,
}

/// One generation of configurations (replaced as a whole by `reload`).
struct Configs {
    control: Arc<ServerConfig>,
    data: Arc<ServerConfig>,
    fingerprint: String,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext")
            .field("source", &self.shared.options.source)
            .field("client_auth", &self.shared.options.client_auth)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl TlsContext {
    /// Loads (or generates) the certificate and builds the configurations.
    pub fn new(options: TlsOptions) -> Result<TlsContext, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| TlsError::Config(format!("cannot create the ticket key: {e}")))?;
        let (material, generated_at) = match &options.source {
            CertSource::Files { cert, key } => (load_material(&provider, cert, key)?, None),
            CertSource::SelfSigned { state_dir, names } => {
                load_or_generate(&provider, state_dir, names)?
            }
        };
        let users = options
            .client_users
            .iter()
            .map(|(subject, user)| (normalize_subject(subject), user.clone()))
            .collect();
        let shared = Shared {
            options,
            provider,
            ticketer,
            sessions: ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
        };
        let configs = shared.build(material)?;
        Ok(TlsContext {
            shared,
            current: RwLock::new(Arc::new(configs)),
            generated_at,
            users,
            hosts: RwLock::new(Arc::new(HostCerts::default())),
        })
    }

    /// Loads the certificates of virtual hosts: a handshake whose server name (SNI) is one
    /// of a host's names, or that follows `HOST` naming it, presents that host's
    /// certificate (through [`for_host`](Self::for_host)). Replaces any earlier set; on
    /// error nothing changes. [`reload`](Self::reload) re-reads them too.
    pub fn set_host_certificates(&self, hosts: Vec<HostCertificate>) -> Result<(), TlsError> {
        let loaded = load_hosts(&self.shared.provider, hosts)?;
        *self.hosts.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        Ok(())
    }

    /// SHA-256 fingerprint of the certificate presented for virtual host `name`, if it has
    /// its own.
    pub fn host_fingerprint(&self, name: &str) -> Option<String> {
        let hosts = Arc::clone(&self.hosts.read().unwrap_or_else(PoisonError::into_inner));
        let key = hosts.by_name.get(&normalize_host(name))?;
        key.cert.first().map(|leaf| fingerprint_of(leaf.as_ref()))
    }

    /// `config` (a control or data configuration from this context) choosing its
    /// certificate by virtual host: the one of `host` when given and it has its own,
    /// else the one of the virtual host the client's SNI names, else the default. The
    /// returned [`ServerNameSeen`] tells the SNI after the handshake.
    pub fn for_host(
        &self,
        config: &Arc<rustls::ServerConfig>,
        host: Option<&str>,
    ) -> (Arc<rustls::ServerConfig>, ServerNameSeen) {
        let hosts = Arc::clone(&self.hosts.read().unwrap_or_else(PoisonError::into_inner));
        let pinned = host.and_then(|h| hosts.by_name.get(&normalize_host(h)).cloned());
        let seen = ServerNameSeen::default();
        let mut out = (**config).clone();
        out.cert_resolver = Arc::new(HostResolver {
            fallback: Arc::clone(&config.cert_resolver),
            hosts,
            pinned,
            seen: seen.clone(),
        });
        (Arc::new(out), seen)
    }

    /// SHA-256 fingerprint of the leaf certificate, upper-case hex pairs joined by `:`
    /// (as `openssl x509 -fingerprint -sha256` prints it).
    pub fn fingerprint(&self) -> String {
        self.configs().fingerprint.clone()
    }

    /// Where the certificate was generated, when this start generated a self-signed one
    /// (so the binary can say so); `None` when it was loaded.
    pub fn generated_at(&self) -> Option<PathBuf> {
        self.generated_at.clone()
    }

    /// Re-reads the certificate, key and client CA; on success new handshakes use them. On
    /// error the old configuration stays in force.
    ///
    /// A self-signed certificate is re-read from the state directory, not generated again
    /// (missing files are an error). The ticket key and the session cache are kept, so
    /// clients resume their sessions across a reload.
    pub fn reload(&self) -> Result<(), TlsError> {
        let provider = &self.shared.provider;
        let material = match &self.shared.options.source {
            CertSource::Files { cert, key } => load_material(provider, cert, key)?,
            CertSource::SelfSigned { state_dir, .. } => load_material(
                provider,
                &state_dir.join(SELF_SIGNED_CERT_FILE),
                &state_dir.join(SELF_SIGNED_KEY_FILE),
            )?,
        };
        let configs = Arc::new(self.shared.build(material)?);
        let sources = self
            .hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .sources
            .clone();
        let hosts = Arc::new(load_hosts(provider, sources)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = configs;
        *self.hosts.write().unwrap_or_else(PoisonError::into_inner) = hosts;
        Ok(())
    }

    /// The configuration for control connections (explicit AUTH TLS and implicit FTPS).
    pub fn control_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.configs().control)
    }

    /// The configuration for data connections: same certificate, ticketer and session
    /// cache, but no TLS 1.3 tickets sent.
    pub fn data_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.configs().data)
    }

    /// Like [`control_config`](Self::control_config), but the configuration records the
    /// sessions this one connection issues or resumes into the returned [`SessionTrace`].
    /// Call it once per control connection, before its handshake, when data connections must
    /// be proven to resume this control connection's session (see
    /// [`traced_data_config`](Self::traced_data_config)).
    pub fn traced_control_config(&self) -> (Arc<rustls::ServerConfig>, SessionTrace) {
        let trace = SessionTrace::new_control();
        let config = self.shared.traced(&self.configs().control, &trace);
        (config, trace)
    }

    /// Like [`data_config`](Self::data_config), for a data connection of the control
    /// connection traced by `control`. After the handshake, the returned trace's
    /// [`SessionTrace::resumed_control_session`] tells whether this data connection resumed
    /// a session of that control connection (TLS 1.3 tickets, TLS 1.2 tickets and TLS 1.2
    /// session IDs alike).
    pub fn traced_data_config(
        &self,
        control: &SessionTrace,
    ) -> (Arc<rustls::ServerConfig>, SessionTrace) {
        let trace = control.new_data();
        let config = self.shared.traced(&self.configs().data, &trace);
        (config, trace)
    }

    /// The subject of the client's verified certificate, as an RFC 4514 string
    /// (`CN=alice,O=Example`), if it presented one.
    ///
    /// Attributes appear in the order they are encoded in the certificate (the order
    /// `openssl x509 -noout -subject` prints them, not RFC 4514's reversed order), joined by
    /// `,` (and `+` inside a multi-valued RDN) without spaces. Attribute names are OpenSSL's
    /// short names (`CN`, `O`, `OU`, `C`, `ST`, `L`, `DC`, `UID`, `emailAddress`, ...;
    /// others as a dotted OID). Values are escaped as RFC 4514 says (`\,`, `\+`, `\=`, ...);
    /// a value that is not a string is `#` followed by the hex of its contents.
    pub fn client_subject(conn: &rustls::ServerConnection) -> Option<String> {
        let leaf = conn.peer_certificates()?.first()?;
        subject_of(leaf.as_ref())
    }

    /// The user a client certificate subject maps to, if any.
    ///
    /// `subject` and the keys of [`TlsOptions::client_users`] are compared after removing
    /// the whitespace around `,`, `+` and `=`, so `CN = alice, O = Example` (as
    /// `openssl x509 -noout -subject` prints it) finds the entry `CN=alice,O=Example`.
    pub fn user_for_subject(&self, subject: &str) -> Option<String> {
        self.users.get(&normalize_subject(subject)).cloned()
    }

    fn configs(&self) -> Arc<Configs> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Shared {
    /// Builds both configurations around `material` and the shared ticketer and cache.
    fn build(&self, material: Material) -> Result<Configs, TlsError> {
        let verifier = self.client_verifier()?;
        let resolver = Arc::new(SingleCertAndKey::from(material.key));
        let mut control = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(resolver);
        control.ticketer = Arc::clone(&self.ticketer);
        control.session_storage = self.sessions.clone();
        control.send_tls13_tickets = CONTROL_TLS13_TICKETS;
        if self.options.keylog {
            control.key_log = Arc::new(rustls::KeyLogFile::new());
        }
        let mut data = control.clone();
        data.send_tls13_tickets = 0;
        Ok(Configs {
            control: Arc::new(control),
            data: Arc::new(data),
            fingerprint: material.fingerprint,
        })
    }

    fn client_verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
        if self.options.client_auth == ClientAuth::Off {
            return Ok(WebPkiClientVerifier::no_client_auth());
        }
        let Some(ca) = &self.options.client_ca else {
            return Err(TlsError::Config(
                "client certificates are asked for but no client CA file is given".into(),
            ));
        };
        let mut roots = RootCertStore::empty();
        for cert in load_chain(ca)? {
            roots.add(cert).map_err(|e| TlsError::Pem {
                path: ca.clone(),
                message: format!("unusable CA certificate: {e}"),
            })?;
        }
        let builder = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&self.provider),
        );
        let builder = match self.options.client_auth {
            ClientAuth::Request => builder.allow_unauthenticated(),
            ClientAuth::Off | ClientAuth::Require => builder,
        };
        builder
            .build()
            .map_err(|e| TlsError::Config(format!("client certificate verifier: {e}")))
    }

    /// A copy of `base` whose ticketer and session store also record into `trace`.
    fn traced(&self, base: &ServerConfig, trace: &SessionTrace) -> Arc<ServerConfig> {
        let mut config = base.clone();
        config.ticketer = Arc::new(TracingTicketer {
            inner: Arc::clone(&self.ticketer),
            trace: trace.clone(),
        });
        config.session_storage = Arc::new(TracingStore {
            inner: self.sessions.clone(),
            trace: trace.clone(),
        });
        Arc::new(config)
    }
}

// ---------------------------------------------------------------------------------------
// Certificates and keys

/// A loaded certificate chain with its key.
struct Material {
    key: CertifiedKey,
    fingerprint: String,
}

/// Reads and checks a chain and its key.
fn load_material(
    provider: &CryptoProvider,
    cert_path: &Path,
    key_path: &Path,
) -> Result<Material, TlsError> {
    let chain = load_chain(cert_path)?;
    let key = load_key(key_path)?;
    certify(provider, chain, key, cert_path, key_path)
}

/// Pairs a chain with its key, checking that the key belongs to the leaf.
fn certify(
    provider: &CryptoProvider,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<Material, TlsError> {
    let fingerprint = match chain.first() {
        Some(leaf) => fingerprint_of(leaf.as_ref()),
        None => return Err(pem_error(cert_path, "no certificate found")),
    };
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| pem_error(key_path, format!("unusable private key: {e}")))?;
    let key = CertifiedKey::new(chain, signing_key);
    match key.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Material { key, fingerprint })
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(pem_error(
                key_path,
                format!(
                    "private key does not match the certificate in {} (the chain must start \
                     with the server's own certificate)",
                    cert_path.display()
                ),
            ))
        }
        Err(e) => Err(pem_error(cert_path, format!("unusable certificate: {e}"))),
    }
}

/// All certificates of a PEM file, in file order (other PEM sections are skipped).
fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_limited(path)?;
    let mut chain = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        chain.push(cert.map_err(|e| pem_error(path, format!("bad PEM: {e}")))?);
    }
    if chain.is_empty() {
        return Err(pem_error(
            path,
            "no certificate found (expected a PEM \"BEGIN CERTIFICATE\" block)",
        ));
    }
    Ok(chain)
}

/// The first private key of a PEM file.
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_limited(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => pem_error(
            path,
            "no private key found (expected a PEM \"PRIVATE KEY\" (PKCS#8), \
             \"RSA PRIVATE KEY\" (PKCS#1) or \"EC PRIVATE KEY\" (SEC1) block)",
        ),
        e => pem_error(path, format!("bad PEM: {e}")),
    })
}

/// Reads a whole file of at most [`MAX_PEM_BYTES`].
fn read_limited(path: &Path) -> Result<Vec<u8>, TlsError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_PEM_BYTES) {
        return Err(pem_error(path, "file larger than 1 MiB"));
    }
    Ok(bytes)
}

/// Loads the self-signed certificate from `state_dir`, generating it first if missing.
fn load_or_generate(
    provider: &CryptoProvider,
    state_dir: &Path,
    names: &[String],
) -> Result<(Material, Option<PathBuf>), TlsError> {
    let cert_path = state_dir.join(SELF_SIGNED_CERT_FILE);
    let key_path = state_dir.join(SELF_SIGNED_KEY_FILE);
    let exists = |path: &Path| path.try_exists().map_err(|e| io_error(path, e));
    if exists(&cert_path)? && exists(&key_path)? {
        return Ok((load_material(provider, &cert_path, &key_path)?, None));
    }
    let generated = generate(names)?;
    create_private_dir(state_dir)?;
    // Key first: a certificate file never exists without its key.
    write_atomically(&key_path, generated.key_pem.as_bytes(), 0o600)?;
    write_atomically(&cert_path, generated.cert_pem.as_bytes(), 0o644)?;
    let material = certify(
        provider,
        vec![generated.cert],
        generated.key,
        &cert_path,
        &key_path,
    )?;
    Ok((material, Some(cert_path)))
}

/// A freshly generated self-signed certificate.
struct Generated {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    cert_pem: String,
    key_pem: String,
}

/// Generates an ECDSA P-256 self-signed certificate for localhost and `names`.
fn generate(names: &[String]) -> Result<Generated, TlsError> {
    let mut sans: Vec<String> = Vec::new();
    let defaults = ["localhost", "127.0.0.1", "::1"].map(String::from);
    for name in defaults.iter().chain(names) {
        let name = name.trim();
        let name = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        if !name.is_empty() && !sans.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            sans.push(name.to_owned());
        }
    }
    let mut params = rcgen::CertificateParams::new(sans)
        .map_err(|e| TlsError::Generate(format!("invalid name: {e}")))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "Ferry FTP server");
    params.distinguished_name = dn;
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| TlsError::Generate("the system clock is before 1970".into()))?;
    // Far below the year 9999 limit of certificate times (and of the `time` crate).
    if since_epoch.as_secs() > 200_000_000_000 {
        return Err(TlsError::Generate(
            "the system clock is beyond year 8000".into(),
        ));
    }
    let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_before = now - Duration::from_secs(24 * 60 * 60);
    params.not_after = now + SELF_SIGNED_VALIDITY;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok(Generated {
        cert: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der())),
        cert_pem: cert.pem(),
        key_pem: key_pair.serialize_pem(),
    })
}

/// Creates `dir` (and its parents) with mode 0700 if it does not exist.
fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io_error(dir, e))
}

/// Writes `path` through a temporary file in the same directory and a rename, so readers
/// see the old file or the whole new one.
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{name}.tmp-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let result = options
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(path, e));
    }
    Ok(())
}

/// `AB:CD:...` over the SHA-256 of `der`.
fn fingerprint_of(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, byte) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

fn io_error(path: &Path, source: std::io::Error) -> TlsError {
    TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn pem_error(path: &Path, message: impl Into<String>) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------
// Client certificate subjects

/// The subject of a DER certificate formatted as [`TlsContext::client_subject`] says.
fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut out = String::new();
    for (i, rdn) in cert.subject().iter_rdn().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type().to_id_string();
            out.push_str(attribute_name(&oid).unwrap_or(&oid));
            out.push('=');
            push_value(&mut out, attr.attr_value());
        }
    }
    Some(out)
}

/// OpenSSL's short name for an attribute type.
fn attribute_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.42" => "GN",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// Appends an attribute value, decoded and escaped (RFC 4514 section 2.4).
fn push_value(out: &mut String, value: &x509_parser::der_parser::asn1_rs::Any<'_>) {
    use x509_parser::der_parser::asn1_rs::Tag;
    let data = value.data;
    let text: Option<String> = match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_owned),
        // Latin-1 is the usual reading of T61 strings in certificates.
        Tag::TeletexString => Some(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            let units = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            (data.len() % 2 == 0)
                .then(|| {
                    char::decode_utf16(units)
                        .collect::<Result<String, _>>()
                        .ok()
                })
                .flatten()
        }
        Tag::UniversalString => (data.len() % 4 == 0)
            .then(|| {
                data.chunks_exact(4)
                    .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                    .collect::<Option<String>>()
            })
            .flatten(),
        _ => None,
    };
    let Some(text) = text else {
        out.push('#');
        for byte in data {
            out.push_str(&format!("{byte:02x}"));
        }
        return;
    };
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
}

/// `subject` without whitespace around unescaped `,`, `+` and `=`, nor at either end.
fn normalize_subject(subject: &str) -> String {
    fn trim_end(out: &mut String, keep: usize) {
        while out.len() > keep && out.ends_with(char::is_whitespace) {
            out.pop();
        }
    }
    let mut out = String::with_capacity(subject.len());
    // Bytes of `out` that trimming must not remove (they end with an escaped character).
    let mut keep = 0;
    let mut after_separator = true;
    let mut chars = subject.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
                keep = out.len();
                after_separator = false;
            }
            ',' | '+' | '=' => {
                trim_end(&mut out, keep);
                out.push(c);
                keep = out.len();
                after_separator = true;
            }
            c if c.is_whitespace() && after_separator => {}
            c => {
                out.push(c);
                after_separator = false;
            }
        }
    }
    trim_end(&mut out, keep);
    out
}

// ---------------------------------------------------------------------------------------
// Session tracing: which control connection a data connection's session came from

/// Records the TLS sessions of one connection, to tell whether a data connection resumed
/// a session of *its* control connection.
///
/// A control connection's trace and the traces of its data connections share one
/// *lineage*: the SHA-256 digests of the session states (as the ticketer and session
/// store see them) that the control connection issued or resumed. A data connection that
/// resumes one of them belongs to the lineage, and so do the sessions it issues in turn (a
/// TLS 1.2 server re-issues a ticket on resumption; a client may keep the new one). At most
/// 64 digests are kept per lineage, the oldest dropped first. Secrets never leave rustls:
/// only digests are stored.
#[derive(Debug, Clone)]
pub struct SessionTrace {
    lineage: Arc<Mutex<VecDeque<[u8; 32]>>>,
    conn: Arc<Mutex<TraceConn>>,
}

/// Per-connection part of a [`SessionTrace`].
#[derive(Debug)]
struct TraceConn {
    data: bool,
    /// For a data connection: whether it resumed a session, and whether from the lineage.
    resumed: Option<bool>,
}

impl SessionTrace {
    fn new_control() -> SessionTrace {
        SessionTrace {
            lineage: Arc::default(),
            conn: Arc::new(Mutex::new(TraceConn {
                data: false,
                resumed: None,
            })),
        }
    }

    fn new_data(&self) -> SessionTrace {
        SessionTrace {
            lineage: Arc::clone(&self.lineage),
            conn: Arc::new(Mutex::new(TraceConn {
                data: true,
                resumed: None,
            })),
        }
    }

    /// Whether this (data connection's) handshake resumed a session issued or resumed by
    /// its control connection, or by one of that control connection's data connections.
    /// `false` for a full handshake, or a session from elsewhere.
    pub fn resumed_control_session(&self) -> bool {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.data && conn.resumed == Some(true)
    }

    /// Whether this connection's handshake resumed a stored session (any session, for a
    /// data connection; for a control connection, one it resumed itself).
    pub fn resumed(&self) -> bool {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.resumed.is_some()
    }

    fn lineage(&self) -> std::sync::MutexGuard<'_, VecDeque<[u8; 32]>> {
        self.lineage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, digest: [u8; 32]) {
        let mut lineage = self.lineage();
        if !lineage.contains(&digest) {
            if lineage.len() >= MAX_TRACED_SESSIONS {
                lineage.pop_front();
            }
            lineage.push_back(digest);
        }
    }

    /// The connection issued a session (ticket or session-ID cache entry) whose state has
    /// this digest.
    fn issued(&self, digest: [u8; 32]) {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if !conn.data || conn.resumed == Some(true) {
            drop(conn);
            self.remember(digest);
        }
    }

    /// The connection's client offered a session with this state, and it was found.
    fn resumed_state(&self, state: &[u8]) {
        let digest = session_digest(state);
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if conn.data {
            let known = self.lineage().contains(&digest);
            conn.resumed = Some(known);
        } else {
            conn.resumed = Some(true);
            drop(conn);
            self.remember(digest);
        }
    }
}

fn session_digest(state: &[u8]) -> [u8; 32] {
    Sha256::digest(state).into()
}

/// The shared ticketer, recording into a [`SessionTrace`].
#[derive(Debug)]
struct TracingTicketer {
    inner: Arc<dyn ProducesTickets>,
    trace: SessionTrace,
}

impl ProducesTickets for TracingTicketer {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.inner.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let ticket = self.inner.encrypt(plain)?;
        self.trace.issued(session_digest(plain));
        Some(ticket)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let plain = self.inner.decrypt(cipher)?;
        self.trace.resumed_state(&plain);
        Some(plain)
    }
}

/// The shared session-ID cache, recording into a [`SessionTrace`].
#[derive(Debug)]
struct TracingStore {
    inner: Arc<ServerSessionMemoryCache>,
    trace: SessionTrace,
}

impl StoresServerSessions for TracingStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let digest = session_digest(&value);
        let stored = self.inner.put(key, value);
        if stored {
            self.trace.issued(digest);
        }
        stored
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.inner.get(key)?;
        self.trace.resumed_state(&value);
        Some(value)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.inner.take(key)?;
        self.trace.resumed_state(&value);
        Some(value)
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}
