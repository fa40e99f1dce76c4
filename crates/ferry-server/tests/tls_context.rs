//! `TlsContext`: certificates (files, self-signed, reload), client certificates, key log,
//! and — the part FTPS data connections depend on — session resumption between the control
//! configuration and the data configuration, driven in memory with rustls' own client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ferry_server::tls::{CertSource, ClientAuth, TlsContext, TlsError, TlsOptions};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Resumption, Tls12ClientSessionValue,
    Tls12Resumption, Tls13ClientSessionValue,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, NamedGroup, RootCertStore, ServerConnection,
    SupportedProtocolVersion,
};

// ---------------------------------------------------------------------------------------
// Helpers

/// A certificate and its key, as DER and PEM.
struct Pair {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn leaf(names: &[&str]) -> Pair {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(names)
        .expect("params")
        .self_signed(&key)
        .expect("self-signed");
    Pair {
        der: cert.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).expect("write test file");
}

/// Writes `pair` as cert.pem/key.pem in `dir` and returns the options for them.
fn file_options(dir: &Path, pair: &Pair) -> TlsOptions {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    write(&cert, &pair.cert_pem);
    write(&key, &pair.key_pem);
    options(CertSource::Files { cert, key })
}

fn options(source: CertSource) -> TlsOptions {
    TlsOptions {
        source,
        client_ca: None,
        client_auth: ClientAuth::Off,
        client_users: BTreeMap::new(),
        keylog: false,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("server name")
}

/// rustls' client session cache, counting the sessions and tickets the server gave it.
#[derive(Debug)]
struct CountingStore {
    inner: ClientSessionMemoryCache,
    tls13_tickets: AtomicUsize,
    tls12_sessions: AtomicUsize,
}

impl CountingStore {
    fn new() -> Arc<CountingStore> {
        Arc::new(CountingStore {
            inner: ClientSessionMemoryCache::new(32),
            tls13_tickets: AtomicUsize::new(0),
            tls12_sessions: AtomicUsize::new(0),
        })
    }
}

impl ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group)
    }
    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }
    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.tls12_sessions.fetch_add(1, Ordering::SeqCst);
        self.inner.set_tls12_session(server_name, value)
    }
    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name)
    }
    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.tls13_tickets.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(server_name, value)
    }
    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

fn client_config(
    trusted: &CertificateDer<'static>,
    version: &'static SupportedProtocolVersion,
    store: Arc<CountingStore>,
    tls12: Tls12Resumption,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).expect("trust anchor");
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = Resumption::store(store).tls12_resumption(tls12);
    Arc::new(config)
}

/// Everything `from` wants to send.
fn drain<D>(from: &mut rustls::ConnectionCommon<D>) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    for _ in 0..64 {
        if !from.wants_write() {
            return Ok(buf);
        }
        from.write_tls(&mut buf).map_err(|e| e.to_string())?;
    }
    Err("peer keeps wanting to write".into())
}

/// Hands `bytes` to `to` (without processing them).
fn feed<D>(to: &mut rustls::ConnectionCommon<D>, bytes: &[u8]) -> Result<(), String> {
    let mut rest = bytes;
    for _ in 0..1024 {
        if rest.is_empty() {
            return Ok(());
        }
        to.read_tls(&mut rest).map_err(|e| e.to_string())?;
    }
    Err("peer does not take the bytes".into())
}

/// Runs the handshake (and delivers post-handshake messages such as TLS 1.3 tickets).
fn pump(client: &mut ClientConnection, server: &mut ServerConnection) -> Result<(), String> {
    for _ in 0..16 {
        feed(server, &drain(client)?)?;
        server
            .process_new_packets()
            .map_err(|e| format!("server: {e}"))?;
        feed(client, &drain(server)?)?;
        client
            .process_new_packets()
            .map_err(|e| format!("client: {e}"))?;
        if !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write()
        {
            return Ok(());
        }
    }
    Err("handshake did not finish in 16 rounds".into())
}

fn connect(
    client_config: &Arc<ClientConfig>,
    server_config: Arc<rustls::ServerConfig>,
    resumption_data: Option<&[u8]>,
) -> Result<(ClientConnection, ServerConnection), String> {
    let mut client =
        ClientConnection::new(Arc::clone(client_config), localhost()).map_err(|e| e.to_string())?;
    let mut server = ServerConnection::new(server_config).map_err(|e| e.to_string())?;
    if let Some(data) = resumption_data {
        server.set_resumption_data(data);
    }
    pump(&mut client, &mut server)?;
    Ok((client, server))
}

fn self_signed_context(dir: &Path) -> TlsContext {
    TlsContext::new(options(CertSource::SelfSigned {
        state_dir: dir.to_path_buf(),
        names: Vec::new(),
    }))
    .expect("self-signed context")
}

fn state_cert(dir: &Path) -> CertificateDer<'static> {
    let pem = std::fs::read(dir.join("ferry-cert.pem")).expect("cert file");
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(&pem).expect("cert PEM")
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed for this test (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

// ---------------------------------------------------------------------------------------
// Certificates from files

#[test]
fn loads_pem_files_and_serves_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = leaf(&["localhost"]);
    let ctx = TlsContext::new(file_options(dir.path(), &pair)).expect("context");
    assert_eq!(ctx.generated_at(), None);
    let client = client_config(
        &pair.der,
        &rustls::version::TLS13,
        CountingStore::new(),
        Tls12Resumption::SessionIdOrTickets,
    );
    let (_, server) = connect(&client, ctx.control_config(), None).expect("handshake");
    assert_eq!(server.handshake_kind(), Some(HandshakeKind::Full));
}

#[test]
fn loads_a_chain_leaf_first_and_refuses_it_reversed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("key");
    let leaf_cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf");

    let cert = dir.path().join("chain.pem");
    let key = dir.path().join("key.pem");
    write(&cert, &format!("{}{}", leaf_cert.pem(), ca_cert.pem()));
    write(&key, &leaf_key.serialize_pem());
    let ctx = TlsContext::new(options(CertSource::Files {
        cert: cert.clone(),
        key: key.clone(),
    }))
    .expect("chain loads");
    // A client trusting only the CA accepts the chain.
    let client = client_config(
        ca_cert.der(),
        &rustls::version::TLS13,
        CountingStore::new(),
        Tls12Resumption::SessionIdOrTickets,
    );
    connect(&client, ctx.control_config(), None).expect("handshake with chain");

    write(&cert, &format!("{}{}", ca_cert.pem(), leaf_cert.pem()));
    match TlsContext::new(options(CertSource::Files {
        cert,
        key: key.clone(),
    })) {
        Err(TlsError::Pem { path, message }) => {
            assert_eq!(path, key);
            assert!(message.contains("does not match"), "{message}");
        }
        other => panic!("reversed chain accepted: {other:?}"),
    }
}

#[test]
fn mismatched_key_is_a_pem_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = leaf(&["localhost"]);
    let other = leaf(&["localhost"]);
    let mut opts = file_options(dir.path(), &pair);
    let key = dir.path().join("other-key.pem");
    write(&key, &other.key_pem);
    if let CertSource::Files { key: k, .. } = &mut opts.source {
        *k = key.clone();
    }
    match TlsContext::new(opts) {
        Err(TlsError::Pem { path, message }) => {
            assert_eq!(path, key);
            assert!(
                message.contains("does not match the certificate"),
                "{message}"
            );
        }
        other => panic!("expected a Pem error, got {other:?}"),
    }
}

#[test]
fn garbage_and_missing_files_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = leaf(&["localhost"]);
    let opts = file_options(dir.path(), &pair);
    let (cert, key) = match &opts.source {
        CertSource::Files { cert, key } => (cert.clone(), key.clone()),
        CertSource::SelfSigned { .. } => unreachable!(),
    };

    write(&cert, "this is not PEM at all\n\x00\x01");
    match TlsContext::new(opts.clone()) {
        Err(TlsError::Pem { path, message }) => {
            assert_eq!(path, cert);
            assert!(message.contains("no certificate"), "{message}");
        }
        other => panic!("garbage certificate accepted: {other:?}"),
    }

    write(
        &cert,
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    assert!(matches!(
        TlsContext::new(opts.clone()),
        Err(TlsError::Pem { .. })
    ));

    // Valid PEM framing around bytes that are no certificate.
    write(
        &cert,
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    );
    assert!(matches!(
        TlsContext::new(opts.clone()),
        Err(TlsError::Pem { .. })
    ));

    write(&cert, &pair.cert_pem);
    write(&key, &pair.cert_pem); // a certificate where the key should be
    match TlsContext::new(opts.clone()) {
        Err(TlsError::Pem { path, message }) => {
            assert_eq!(path, key);
            assert!(message.contains("no private key"), "{message}");
        }
        other => panic!("key file without a key accepted: {other:?}"),
    }

    std::fs::remove_file(&key).expect("remove");
    assert!(matches!(TlsContext::new(opts), Err(TlsError::Io { path, .. }) if path == key));
}

#[test]
fn sec1_and_pkcs1_keys_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // SEC1 ("EC PRIVATE KEY") from our PKCS#8 EC key.
    let pair = leaf(&["localhost"]);
    let pkcs8 = d.join("ec-pkcs8.pem");
    let sec1 = d.join("ec-sec1.pem");
    let cert = d.join("ec.pem");
    write(&pkcs8, &pair.key_pem);
    write(&cert, &pair.cert_pem);
    openssl(&["ec", "-in", path_str(&pkcs8), "-out", path_str(&sec1)]);
    let text = std::fs::read_to_string(&sec1).expect("sec1");
    assert!(text.contains("BEGIN EC PRIVATE KEY"), "{text}");
    let ctx = TlsContext::new(options(CertSource::Files { cert, key: sec1 })).expect("SEC1");
    let client = client_config(
        &pair.der,
        &rustls::version::TLS12,
        CountingStore::new(),
        Tls12Resumption::SessionIdOrTickets,
    );
    connect(&client, ctx.control_config(), None).expect("handshake with SEC1 key");

    // PKCS#1 ("RSA PRIVATE KEY") and a certificate made by openssl.
    let rsa = d.join("rsa.pem");
    let rsa_cert = d.join("rsa-cert.pem");
    openssl(&["genrsa", "-traditional", "-out", path_str(&rsa), "2048"]);
    let text = std::fs::read_to_string(&rsa).expect("rsa");
    assert!(text.contains("BEGIN RSA PRIVATE KEY"), "{text}");
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        path_str(&rsa),
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-days",
        "2",
        "-out",
        path_str(&rsa_cert),
    ]);
    let ctx = TlsContext::new(options(CertSource::Files {
        cert: rsa_cert.clone(),
        key: rsa,
    }))
    .expect("PKCS#1");
    let client = client_config(
        &state_cert_from(&rsa_cert),
        &rustls::version::TLS13,
        CountingStore::new(),
        Tls12Resumption::SessionIdOrTickets,
    );
    connect(&client, ctx.control_config(), None).expect("handshake with PKCS#1 key");
}

fn state_cert_from(path: &Path) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_file(path).expect("cert PEM")
}

#[test]
fn fingerprint_matches_openssl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = leaf(&["localhost"]);
    let ctx = TlsContext::new(file_options(dir.path(), &pair)).expect("context");
    let out = openssl(&[
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-in",
        path_str(&dir.path().join("cert.pem")),
    ]);
    let (_, expected) = out.trim().split_once('=').expect("openssl output has '='");
    assert_eq!(ctx.fingerprint(), expected);
    assert_eq!(ctx.fingerprint().len(), 32 * 3 - 1);
}

// ---------------------------------------------------------------------------------------
// Self-signed certificate

#[test]
fn self_signed_is_generated_once_then_reused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state").join("ferry");
    let ctx = TlsContext::new(options(CertSource::SelfSigned {
        state_dir: state.clone(),
        names: vec![
            "ftp.example.test".into(),
            "192.0.2.7".into(),
            "[2001:db8::1]".into(),
        ],
    }))
    .expect("generate");
    let cert_path = state.join("ferry-cert.pem");
    assert_eq!(ctx.generated_at(), Some(cert_path.clone()));

    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&state.join("ferry-key.pem")), 0o600);
    assert_eq!(mode(&state), 0o700);
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(&state)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Subject, names and validity.
    let der = state_cert(&state);
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).expect("parse");
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().expect("CN string").to_string())
        .collect();
    assert_eq!(cn, ["Ferry FTP server"]);
    let san = cert
        .subject_alternative_name()
        .expect("SAN parses")
        .expect("SAN present");
    let sans: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    for want in ["localhost", "ftp.example.test"] {
        assert!(
            sans.iter().any(|s| s.contains(want)),
            "{want} missing in {sans:?}"
        );
    }
    let ips: Vec<std::net::IpAddr> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                _ => None,
            },
            _ => None,
        })
        .collect();
    for want in ["127.0.0.1", "::1", "192.0.2.7", "2001:db8::1"] {
        let want: std::net::IpAddr = want.parse().expect("ip");
        assert!(ips.contains(&want), "{want} missing in {ips:?}");
    }
    let validity = cert.validity();
    let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
    assert!((3640..=3660).contains(&days), "valid for {days} days");
    assert!(validity.is_valid());

    // Second start: same certificate, not generated.
    let again = TlsContext::new(options(CertSource::SelfSigned {
        state_dir: state.clone(),
        names: Vec::new(),
    }))
    .expect("reuse");
    assert_eq!(again.generated_at(), None);
    assert_eq!(again.fingerprint(), ctx.fingerprint());

    // Clients trusting the file reach it by name and by IP address.
    for name in ["localhost", "127.0.0.1", "::1"] {
        let client = client_config(
            &der,
            &rustls::version::TLS13,
            CountingStore::new(),
            Tls12Resumption::SessionIdOrTickets,
        );
        let server_name = ServerName::try_from(name.to_string()).expect("name");
        let mut c = ClientConnection::new(client, server_name).expect("client");
        let mut s = ServerConnection::new(again.control_config()).expect("server");
        pump(&mut c, &mut s).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------
// Reload

#[test]
fn reload_picks_up_a_new_certificate_and_keeps_the_old_on_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = leaf(&["localhost"]);
    let opts = file_options(dir.path(), &first);
    let ctx = TlsContext::new(opts).expect("context");
    let old_fingerprint = ctx.fingerprint();

    // A session from before the reload...
    let store = CountingStore::new();
    let client_first = client_config(
        &first.der,
        &rustls::version::TLS13,
        Arc::clone(&store),
        Tls12Resumption::SessionIdOrTickets,
    );
    connect(&client_first, ctx.control_config(), None).expect("before reload");

    let second = leaf(&["localhost"]);
    file_options(dir.path(), &second);
    ctx.reload().expect("reload");
    assert_ne!(ctx.fingerprint(), old_fingerprint);

    // ...still resumes afterwards (same ticketer), without a certificate being sent.
    let (_, server) = connect(&client_first, ctx.data_config(), None).expect("resume");
    assert_eq!(server.handshake_kind(), Some(HandshakeKind::Resumed));

    // New full handshakes present the new certificate.
    let client_second = client_config(
        &second.der,
        &rustls::version::TLS13,
        CountingStore::new(),
        Tls12Resumption::SessionIdOrTickets,
    );
    connect(&client_second, ctx.control_config(), None).expect("new certificate");
    let new_fingerprint = ctx.fingerprint();

    // A broken file: error, and everything stays as it was.
    write(&dir.path().join("cert.pem"), "garbage");
    assert!(matches!(ctx.reload(), Err(TlsError::Pem { .. })));
    assert_eq!(ctx.fingerprint(), new_fingerprint);
    connect(&client_second, ctx.control_config(), None).expect("still the new certificate");
}

#[test]
fn self_signed_reload_rereads_the_state_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = self_signed_context(dir.path());
    let before = ctx.fingerprint();
    ctx.reload().expect("reload of unchanged files");
    assert_eq!(ctx.fingerprint(), before);

    let replacement = leaf(&["localhost"]);
    write(&dir.path().join("ferry-cert.pem"), &replacement.cert_pem);
    write(&dir.path().join("ferry-key.pem"), &replacement.key_pem);
    ctx.reload().expect("reload");
    assert_ne!(ctx.fingerprint(), before);

    std::fs::remove_file(dir.path().join("ferry-key.pem")).expect("remove");
    assert!(matches!(ctx.reload(), Err(TlsError::Io { .. })));
    assert_eq!(ctx.generated_at(), Some(dir.path().join("ferry-cert.pem")));
}

// ---------------------------------------------------------------------------------------
// Session resumption: control session → data connections

#[test]
fn configs_differ_only_in_tls13_tickets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = self_signed_context(dir.path());
    let (control, data) = (ctx.control_config(), ctx.data_config());
    assert_eq!(data.send_tls13_tickets, 0);
    assert!((2..=4).contains(&control.send_tls13_tickets));
    assert!(control.ticketer.enabled() && data.ticketer.enabled());
    assert!(Arc::ptr_eq(&control.ticketer, &data.ticketer));
    assert!(Arc::ptr_eq(&control.session_storage, &data.session_storage));
    assert!(control.alpn_protocols.is_empty() && data.alpn_protocols.is_empty());
}

/// TLS 1.3: the control connection gets tickets; data connections resume with them, get no
/// new ones, and one ticket is accepted any number of times (stateless ticketer).
#[test]
fn tls13_data_connections_resume_the_control_session_repeatedly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = self_signed_context(dir.path());
    let store = CountingStore::new();
    let client = client_config(
        &state_cert(dir.path()),
        &rustls::version::TLS13,
        Arc::clone(&store),
        Tls12Resumption::SessionIdOrTickets,
    );
    let (_, control) =
        connect(&client, ctx.control_config(), Some(b"control #1")).expect("control");
    assert_eq!(control.handshake_kind(), Some(HandshakeKind::Full));
    let tickets = store.tls13_tickets.load(Ordering::SeqCst);
    assert_eq!(tickets, ctx.control_config().send_tls13_tickets);

    // rustls' client uses each ticket once (RFC 8446 advice), so it resumes as many times as
    // it holds tickets; every resumption carries the control connection's resumption data.
    for _ in 0..tickets {
        let (_, data) = connect(&client, ctx.data_config(), None).expect("data");
        assert_eq!(data.handshake_kind(), Some(HandshakeKind::Resumed));
        assert_eq!(data.received_resumption_data(), Some(&b"control #1"[..]));
    }
    assert_eq!(
        store.tls13_tickets.load(Ordering::SeqCst),
        tickets,
        "a data connection sent a NewSessionTicket"
    );

    // OpenSSL/GnuTLS clients (curl, Python's session=, lftp, FileZilla) present the *same*
    // ticket for every data connection. Replay one ClientHello carrying a ticket to five
    // fresh data connections: each is a resumption of the control session.
    let (_, _) = connect(&client, ctx.control_config(), Some(b"control #2")).expect("control 2");
    let mut c = ClientConnection::new(Arc::clone(&client), localhost()).expect("client");
    let hello = drain(&mut c).expect("client hello");
    for round in 0..5 {
        let mut s = ServerConnection::new(ctx.data_config()).expect("server");
        feed(&mut s, &hello).expect("read");
        s.process_new_packets().expect("ClientHello accepted");
        assert_eq!(
            s.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "round {round}"
        );
        assert_eq!(s.received_resumption_data(), Some(&b"control #2"[..]));
    }
    // And the real client completes the handshake it started.
    let mut s = ServerConnection::new(ctx.data_config()).expect("server");
    feed(&mut s, &hello).expect("read");
    pump(&mut c, &mut s).expect("finish");
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Resumed));
}

fn tls12_resumes_five_times(mode: Tls12Resumption) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = self_signed_context(dir.path());
    let store = CountingStore::new();
    let client = client_config(
        &state_cert(dir.path()),
        &rustls::version::TLS12,
        Arc::clone(&store),
        mode,
    );
    let (control_client, control) =
        connect(&client, ctx.control_config(), Some(b"control")).expect("control");
    assert_eq!(control.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(
        control_client.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    for round in 0..5 {
        let (_, data) = connect(&client, ctx.data_config(), None).expect("data");
        assert_eq!(
            data.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "{mode:?} round {round}"
        );
        // rustls does not carry resumption data through TLS 1.2 sessions.
        assert_eq!(data.received_resumption_data(), None);
    }
}

#[test]
fn tls12_session_tickets_resume_five_times() {
    tls12_resumes_five_times(Tls12Resumption::SessionIdOrTickets);
}

#[test]
fn tls12_session_ids_resume_five_times() {
    tls12_resumes_five_times(Tls12Resumption::SessionIdOnly);
}

/// The traced configurations tell a data connection that resumed its own control
/// connection's session from one that resumed another client's session or none (TLS 1.3
/// tickets, TLS 1.2 tickets, TLS 1.2 session IDs).
#[test]
fn session_trace_ties_data_connections_to_their_control_connection() {
    for (version, mode) in [
        (&rustls::version::TLS13, Tls12Resumption::SessionIdOrTickets),
        (&rustls::version::TLS12, Tls12Resumption::SessionIdOrTickets),
        (&rustls::version::TLS12, Tls12Resumption::SessionIdOnly),
    ] {
        let label = format!("{version:?} {mode:?}");
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = self_signed_context(dir.path());
        let cert = state_cert(dir.path());
        let alice = client_config(&cert, version, CountingStore::new(), mode);
        let bob = client_config(&cert, version, CountingStore::new(), mode);

        let (alice_config, alice_trace) = ctx.traced_control_config();
        connect(&alice, alice_config, None).expect("alice control");
        let (bob_config, bob_trace) = ctx.traced_control_config();
        connect(&bob, bob_config, None).expect("bob control");
        assert!(!alice_trace.resumed() && !bob_trace.resumed(), "{label}");

        // As many data connections as the client can resume (rustls' TLS 1.3 client: one
        // per ticket; TLS 1.2: any number).
        let rounds = if version == &rustls::version::TLS13 {
            2
        } else {
            5
        };
        for round in 0..rounds {
            let (config, trace) = ctx.traced_data_config(&alice_trace);
            let (_, data) = connect(&alice, config, None).expect("alice data");
            assert_eq!(
                data.handshake_kind(),
                Some(HandshakeKind::Resumed),
                "{label} {round}"
            );
            assert!(trace.resumed_control_session(), "{label} round {round}");
        }

        // Bob's session offered on a data connection of Alice's control connection.
        let (config, trace) = ctx.traced_data_config(&alice_trace);
        let (_, data) = connect(&bob, config, None).expect("bob on alice's data port");
        assert_eq!(
            data.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "{label}"
        );
        assert!(trace.resumed(), "{label}");
        assert!(
            !trace.resumed_control_session(),
            "{label}: foreign session accepted"
        );

        // A fresh session (a client without a cache).
        let fresh = client_config(&cert, version, CountingStore::new(), mode);
        let (config, trace) = ctx.traced_data_config(&alice_trace);
        let (_, data) = connect(&fresh, config, None).expect("fresh");
        assert_eq!(data.handshake_kind(), Some(HandshakeKind::Full), "{label}");
        assert!(
            !trace.resumed() && !trace.resumed_control_session(),
            "{label}"
        );

        // The control connection's own trace never claims a data resumption.
        assert!(!alice_trace.resumed_control_session(), "{label}");
    }
}

// ---------------------------------------------------------------------------------------
// Client certificates

struct Pki {
    ca_pem: String,
    alice_chain: Vec<CertificateDer<'static>>,
    alice_key: PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Client CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "alice");
    dn.push(rcgen::DnType::OrganizationName, "Example");
    dn.push(rcgen::DnType::OrganizationalUnitName, "Dev, Ops");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).expect("client cert");
    Pki {
        ca_pem: ca_cert.pem(),
        alice_chain: vec![cert.der().clone()],
        alice_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

fn client_auth_context(dir: &Path, pki: &Pki, auth: ClientAuth) -> (TlsContext, PathBuf) {
    let ca = dir.join("client-ca.pem");
    write(&ca, &pki.ca_pem);
    let mut opts = options(CertSource::SelfSigned {
        state_dir: dir.join("state"),
        names: Vec::new(),
    });
    opts.client_ca = Some(ca.clone());
    opts.client_auth = auth;
    opts.client_users.insert(
        "CN = alice , O = Example, OU=Dev\\, Ops".into(),
        "alice".into(),
    );
    (TlsContext::new(opts).expect("context"), ca)
}

fn client_with_cert(
    server_cert: &CertificateDer<'static>,
    version: &'static SupportedProtocolVersion,
    identity: Option<&Pki>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(server_cert.clone()).expect("trust anchor");
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(pki) => builder
            .with_client_auth_cert(pki.alice_chain.clone(), pki.alice_key.clone_key())
            .expect("client auth cert"),
        None => builder.with_no_client_auth(),
    };
    config.resumption = Resumption::in_memory_sessions(16);
    Arc::new(config)
}

#[test]
fn client_certificate_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki();
    let (ctx, _) = client_auth_context(dir.path(), &pki, ClientAuth::Require);
    let server_cert = state_cert(&dir.path().join("state"));
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let anonymous = client_with_cert(&server_cert, version, None);
        let Err(err) = connect(&anonymous, ctx.control_config(), None) else {
            panic!("a client without a certificate was accepted");
        };
        assert!(err.contains("server"), "{err}");

        let with_cert = client_with_cert(&server_cert, version, Some(&pki));
        let (_, server) = connect(&with_cert, ctx.control_config(), None).expect("with cert");
        let subject = TlsContext::client_subject(&server).expect("subject");
        assert_eq!(subject, "CN=alice,O=Example,OU=Dev\\, Ops");
        assert_eq!(ctx.user_for_subject(&subject).as_deref(), Some("alice"));

        // A resumed data connection still knows the client's certificate.
        let (_, data) = connect(&with_cert, ctx.data_config(), None).expect("data");
        assert_eq!(data.handshake_kind(), Some(HandshakeKind::Resumed));
        assert_eq!(TlsContext::client_subject(&data), Some(subject));
    }
}

#[test]
fn client_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ctx, _) = client_auth_context(dir.path(), &pki(), ClientAuth::Request);
    let server_cert = state_cert(&dir.path().join("state"));
    let stranger = pki();
    let client = client_with_cert(&server_cert, &rustls::version::TLS13, Some(&stranger));
    assert!(connect(&client, ctx.control_config(), None).is_err());
}

#[test]
fn client_certificate_requested_is_optional() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki();
    let (ctx, _) = client_auth_context(dir.path(), &pki, ClientAuth::Request);
    let server_cert = state_cert(&dir.path().join("state"));
    let anonymous = client_with_cert(&server_cert, &rustls::version::TLS13, None);
    let (_, server) = connect(&anonymous, ctx.control_config(), None).expect("anonymous");
    assert_eq!(TlsContext::client_subject(&server), None);
    let with_cert = client_with_cert(&server_cert, &rustls::version::TLS13, Some(&pki));
    let (_, server) = connect(&with_cert, ctx.control_config(), None).expect("with cert");
    assert_eq!(
        TlsContext::client_subject(&server).as_deref(),
        Some("CN=alice,O=Example,OU=Dev\\, Ops")
    );
}

#[test]
fn client_auth_without_ca_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = options(CertSource::SelfSigned {
        state_dir: dir.path().to_path_buf(),
        names: Vec::new(),
    });
    opts.client_auth = ClientAuth::Require;
    assert!(matches!(TlsContext::new(opts), Err(TlsError::Config(_))));
}

#[test]
fn subject_mapping_ignores_spaces_around_separators_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki();
    let (ctx, _) = client_auth_context(dir.path(), &pki, ClientAuth::Request);
    for subject in [
        "CN=alice,O=Example,OU=Dev\\, Ops",
        "CN = alice, O = Example, OU = Dev\\, Ops",
        "  CN=alice ,O=Example,  OU=Dev\\, Ops  ",
    ] {
        assert_eq!(
            ctx.user_for_subject(subject).as_deref(),
            Some("alice"),
            "{subject}"
        );
    }
    for subject in [
        "CN=alice,O=Example",
        "O=Example,CN=alice,OU=Dev\\, Ops",
        "CN=alice,O=Example,OU=Dev, Ops",
        "CN=ali ce,O=Example,OU=Dev\\, Ops",
        "",
    ] {
        assert_eq!(ctx.user_for_subject(subject), None, "{subject}");
    }
}

// ---------------------------------------------------------------------------------------
// Key log

/// Runs in a child process (this same test binary) so that `SSLKEYLOGFILE` is set for
/// exactly one process.
#[test]
fn keylog_writes_sslkeylogfile() {
    const CHILD: &str = "FERRY_TLS_CONTEXT_KEYLOG_CHILD";
    if let Ok(mode) = std::env::var(CHILD) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = options(CertSource::SelfSigned {
            state_dir: dir.path().to_path_buf(),
            names: Vec::new(),
        });
        opts.keylog = mode == "on";
        let ctx = TlsContext::new(opts).expect("context");
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let client = client_config(
                &state_cert(dir.path()),
                version,
                CountingStore::new(),
                Tls12Resumption::SessionIdOrTickets,
            );
            connect(&client, ctx.control_config(), None).expect("control");
            connect(&client, ctx.data_config(), None).expect("data");
        }
        return;
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    for mode in ["on", "off"] {
        let log = dir.path().join(format!("keys-{mode}.log"));
        let status = Command::new(&exe)
            .args(["--exact", "keylog_writes_sslkeylogfile", "--nocapture"])
            .env(CHILD, mode)
            .env("SSLKEYLOGFILE", &log)
            .status()
            .expect("run child");
        assert!(status.success(), "child ({mode}) failed");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if mode == "on" {
            assert!(text.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET "), "{text}");
            assert!(text.contains("CLIENT_TRAFFIC_SECRET_0 "), "{text}");
            assert!(text.contains("CLIENT_RANDOM "), "{text}");
            assert!(text.lines().count() >= 10, "{text}");
        } else {
            assert!(
                text.is_empty(),
                "key log written although not asked for: {text}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// A real OpenSSL client: Python's ssl module, the way ftplib passes `session=`

const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
port, version, cafile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
ctx.minimum_version = ctx.maximum_version = v
def connect(session=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    tls = ctx.wrap_socket(sock, server_hostname="localhost", session=session)
    assert tls.recv(3) == b"ok\n"
    return tls
control = connect()
session = control.session
reused = []
for _ in range(5):
    data = connect(session)
    reused.append(data.session_reused)
    data.close()
fresh = connect()
reused.append(fresh.session_reused)
fresh.close()
control.close()
print(" ".join("1" if r else "0" for r in reused))
"#;

/// Accepts one connection, giving up after `limit` (so a client that died early cannot
/// hang the test).
fn accept_within(
    listener: &std::net::TcpListener,
    limit: std::time::Duration,
) -> Result<std::net::TcpStream, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        match listener.accept() {
            Ok((sock, _)) => {
                sock.set_nonblocking(false).map_err(|e| e.to_string())?;
                return Ok(sock);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("no connection within the time limit".into())
}

/// Serves `count` connections in order: the first is the control connection (kept open),
/// the others data connections of it. Returns, per data connection, whether it resumed
/// (rustls' view) and whether it resumed the control connection's session (trace).
fn serve_python(
    ctx: Arc<TlsContext>,
    listener: std::net::TcpListener,
    count: usize,
) -> std::thread::JoinHandle<Result<Vec<(bool, bool)>, String>> {
    std::thread::spawn(move || {
        let timeout = Some(std::time::Duration::from_secs(10));
        let (control_config, control_trace) = ctx.traced_control_config();
        let mut kept = Vec::new();
        let mut results = Vec::new();
        for i in 0..count {
            let sock = accept_within(&listener, std::time::Duration::from_secs(15))?;
            sock.set_read_timeout(timeout).map_err(|e| e.to_string())?;
            sock.set_write_timeout(timeout).map_err(|e| e.to_string())?;
            let (config, trace) = if i == 0 {
                (control_config.clone(), control_trace.clone())
            } else {
                ctx.traced_data_config(&control_trace)
            };
            let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
            let mut tls = rustls::StreamOwned::new(conn, sock);
            while tls.conn.is_handshaking() {
                tls.conn
                    .complete_io(&mut tls.sock)
                    .map_err(|e| format!("connection {i}: {e}"))?;
            }
            std::io::Write::write_all(&mut tls, b"ok\n").map_err(|e| e.to_string())?;
            std::io::Write::flush(&mut tls).map_err(|e| e.to_string())?;
            if i == 0 {
                kept.push(tls);
            } else {
                let resumed = tls.conn.handshake_kind() == Some(HandshakeKind::Resumed);
                results.push((resumed, trace.resumed_control_session()));
                tls.conn.send_close_notify();
                let _ = tls.conn.complete_io(&mut tls.sock);
            }
        }
        Ok(results)
    })
}

#[test]
fn python_ssl_resumes_one_control_session_five_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = Arc::new(self_signed_context(dir.path()));
    let cafile = dir.path().join("ferry-cert.pem");
    for version in ["1.3", "1.2"] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port().to_string();
        let server = serve_python(Arc::clone(&ctx), listener, 7);
        let out = Command::new("python3")
            .args(["-c", PYTHON_CLIENT, &port, version, path_str(&cafile)])
            .output()
            .expect("python3 must be installed for this test");
        let results = server.join().expect("server thread");
        assert!(
            out.status.success(),
            "TLS {version}: python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let results = results.expect("server");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1 1 1 1 1 0",
            "TLS {version}: client's session_reused"
        );
        let mut expected = vec![(true, true); 5];
        expected.push((false, false));
        assert_eq!(
            results, expected,
            "TLS {version}: (resumed, of this control)"
        );
    }
}
