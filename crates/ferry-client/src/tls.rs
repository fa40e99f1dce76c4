//! TLS for the control and data connections: rustls (ring provider) client configurations
//! per [`TlsVerify`], trust on first use, and the per-control-connection session store that
//! data connections share (RFC 4217 §10 session reuse).
//!
//! Each [`Client`](crate::Client) builds its own [`ClientConfig`] holding its own
//! [`ClientSessionMemoryCache`]: the control connection's session (TLS 1.2) or tickets
//! (TLS 1.3) are offered on every data connection of that client, under the same server
//! name, and never on another client's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::stream::Stream;
use crate::{ClientError, TlsVerify};

/// Session entries kept per client (one server name in practice).
const SESSION_CACHE_SIZE: usize = 8;
/// Largest known-hosts file we read.
const MAX_STORE_BYTES: u64 = 4 * 1024 * 1024;

/// Everything needed to open TLS connections to one server for one client.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    connector: TlsConnector,
    name: ServerName<'static>,
    tofu: Option<Arc<Tofu>>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Tls(e.to_string())
}

/// The system trust store, loaded once per process.
fn system_roots() -> Result<Arc<RootCertStore>, ClientError> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    if let Some(r) = ROOTS.get() {
        return Ok(Arc::clone(r));
    }
    let loaded = rustls_native_certs::load_native_certs();
    for e in &loaded.errors {
        tracing::debug!(error = %e, "while loading the system trust store");
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 {
        return Err(ClientError::Tls(
            "no CA certificates found in the system trust store".into(),
        ));
    }
    Ok(Arc::clone(ROOTS.get_or_init(|| Arc::new(roots))))
}

fn ca_file_roots(path: &Path) -> Result<RootCertStore, ClientError> {
    let bytes =
        std::fs::read(path).map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(ClientError::Tls(format!(
            "{}: no certificate found",
            path.display()
        )));
    }
    Ok(roots)
}

impl TlsSetup {
    /// Builds the configuration for `host:port` (SNI = host when it is a DNS name).
    pub(crate) fn new(verify: &TlsVerify, host: &str, port: u16) -> Result<TlsSetup, ClientError> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ClientError::Tls(format!("{host:?} is not a valid server name")))?;
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let mut tofu = None;
        let mut config = match verify {
            TlsVerify::System => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
            TlsVerify::CaFile(path) => builder
                .with_root_certificates(ca_file_roots(path)?)
                .with_no_client_auth(),
            TlsVerify::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(accept_any_certificate(Arc::clone(&provider)))
                .with_no_client_auth(),
            TlsVerify::TrustOnFirstUse { store } => {
                let webpki = match system_roots() {
                    Ok(roots) => {
                        WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                            .build()
                            .ok()
                    }
                    Err(_) => None,
                };
                let key = host_key(host, port);
                let known = lookup(store, &key)?;
                let t = Arc::new(Tofu {
                    webpki,
                    provider: Arc::clone(&provider),
                    store: store.clone(),
                    key,
                    known: Mutex::new(known),
                    outcome: Mutex::new(Outcome::Unchecked),
                });
                tofu = Some(Arc::clone(&t));
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(t)
                    .with_no_client_auth()
            }
        };
        config.resumption =
            Resumption::store(Arc::new(ClientSessionMemoryCache::new(SESSION_CACHE_SIZE)));
        Ok(TlsSetup {
            connector: TlsConnector::from(Arc::new(config)),
            name,
            tofu,
        })
    }

    /// TLS handshake as the client on `tcp` (control or data, passive or active).
    pub(crate) async fn connect(&self, tcp: TcpStream) -> Result<Stream, ClientError> {
        match self.connector.connect(self.name.clone(), tcp).await {
            Ok(s) => Ok(Stream::Tls(Box::new(s))),
            Err(e) => {
                if let Some(t) = &self.tofu {
                    if let Ok(o) = t.outcome.lock() {
                        if let Outcome::Changed { stored, presented } = &*o {
                            return Err(ClientError::CertificateChanged {
                                host: t.key.clone(),
                                stored: stored.clone(),
                                presented: presented.clone(),
                            });
                        }
                    }
                }
                Err(ClientError::Tls(e.to_string()))
            }
        }
    }

    /// After the control handshake: stores a first-seen fingerprint (trust on first use).
    pub(crate) fn commit_first_use(&self) -> Result<(), ClientError> {
        let Some(t) = &self.tofu else { return Ok(()) };
        let fp = {
            let mut o = t
                .outcome
                .lock()
                .map_err(|_| ClientError::Tls("TOFU state poisoned".into()))?;
            match &*o {
                Outcome::New(fp) => {
                    let fp = fp.clone();
                    *o = Outcome::Known;
                    fp
                }
                _ => return Ok(()),
            }
        };
        store_fingerprint(&t.store, &t.key, &fp)?;
        tracing::warn!(
            host = %t.key,
            fingerprint = %fp,
            store = %t.store.display(),
            "WARNING: first connection to {}: its certificate is not trusted by the system, \
             trusting it from now on (sha256 {fp}, stored in {})",
            t.key,
            t.store.display()
        );
        Ok(())
    }
}

/// `host:port`, with brackets around IPv6 literals.
pub(crate) fn host_key(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Lower-case hex SHA-256 of a DER certificate.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fingerprint stored for `key`, if any. A missing file is an empty store.
fn lookup(store: &Path, key: &str) -> Result<Option<String>, ClientError> {
    let text = match read_store(store)? {
        Some(t) => t,
        None => return Ok(None),
    };
    Ok(text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        let k = parts.next()?;
        let fp = parts.next()?;
        (k == key && !line.trim_start().starts_with('#')).then(|| fp.to_ascii_lowercase())
    }))
}

fn read_store(store: &Path) -> Result<Option<String>, ClientError> {
    match std::fs::metadata(store) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClientError::Tls(format!("{}: {e}", store.display()))),
        Ok(m) if m.len() > MAX_STORE_BYTES => {
            return Err(ClientError::Tls(format!(
                "{}: known-hosts file too large",
                store.display()
            )))
        }
        Ok(_) => {}
    }
    std::fs::read_to_string(store)
        .map(Some)
        .map_err(|e| ClientError::Tls(format!("{}: {e}", store.display())))
}

/// Adds `key fp` to the store atomically (temporary file in the same directory, renamed).
fn store_fingerprint(store: &Path, key: &str, fp: &str) -> Result<(), ClientError> {
    let err = |e: std::io::Error| ClientError::Tls(format!("{}: {e}", store.display()));
    let mut text = read_store(store)?.unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("{key} {fp}\n"));
    let dir = store
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}-{}",
        store
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "known_hosts".into()),
        std::process::id(),
        rand::random::<u32>()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, store)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// What the TOFU verifier decided.
#[derive(Debug)]
enum Outcome {
    Unchecked,
    /// Verified by the system store or matching the stored fingerprint.
    Known,
    /// Unknown host: accepted, to be stored after the handshake.
    New(String),
    /// Stored fingerprint differs.
    Changed {
        stored: String,
        presented: String,
    },
}

/// Trust-on-first-use verifier.
struct Tofu {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    store: PathBuf,
    key: String,
    /// The stored fingerprint, or the one accepted on first use in this client.
    known: Mutex<Option<String>>,
    outcome: Mutex<Outcome>,
}

impl std::fmt::Debug for Tofu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tofu")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tofu {
    fn set(&self, o: Outcome) {
        if let Ok(mut g) = self.outcome.lock() {
            *g = o;
        }
    }

    /// Marks the certificate as known unless a first use is still waiting to be stored.
    fn set_if_unchecked(&self) {
        if let Ok(mut g) = self.outcome.lock() {
            if matches!(*g, Outcome::Unchecked) {
                *g = Outcome::Known;
            }
        }
    }
}

impl ServerCertVerifier for Tofu {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(w) = &self.webpki {
            if w.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .is_ok()
            {
                self.set(Outcome::Known);
                return Ok(ServerCertVerified::assertion());
            }
        }
        let presented = fingerprint(end_entity);
        let mut known = self
            .known
            .lock()
            .map_err(|_| rustls::Error::General("TOFU state poisoned".into()))?;
        match known.as_ref() {
            Some(stored) if *stored == presented => {
                self.set_if_unchecked();
                Ok(ServerCertVerified::assertion())
            }
            Some(stored) => {
                self.set(Outcome::Changed {
                    stored: stored.clone(),
                    presented,
                });
                Err(rustls::Error::General(
                    "certificate fingerprint changed".into(),
                ))
            }
            None => {
                *known = Some(presented.clone());
                self.set(Outcome::New(presented));
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A verifier that accepts any server certificate (the handshake signatures are still
/// checked against it): the client's `--insecure`, and the benchmark's connections to
/// servers with throwaway certificates.
pub fn accept_any_certificate(provider: Arc<CryptoProvider>) -> Arc<dyn ServerCertVerifier> {
    Arc::new(NoVerify(provider))
}

/// `--insecure`: any certificate (signatures are still checked against it).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("sub").join("known_hosts");
        assert_eq!(lookup(&store, "h:21").expect("lookup"), None);
        store_fingerprint(&store, "h:21", "ab").expect("store");
        store_fingerprint(&store, "[::1]:990", "cd").expect("store");
        assert_eq!(
            lookup(&store, "h:21").expect("lookup").as_deref(),
            Some("ab")
        );
        assert_eq!(
            lookup(&store, "[::1]:990").expect("lookup").as_deref(),
            Some("cd")
        );
        assert_eq!(lookup(&store, "h:22").expect("lookup"), None);
        assert_eq!(host_key("::1", 990), "[::1]:990");
        assert_eq!(host_key("example.org", 21), "example.org:21");
    }
}
