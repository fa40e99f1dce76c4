//! Shared test helpers: an in-process Ferry server on 127.0.0.1 port 0 (plain, explicit
//! and implicit FTPS) and client options for it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_client::{ConnectOptions, Password, Security, TlsVerify, Trace};
use ferry_proto::Password as ProtoPassword;
use ferry_server::tls::{CertSource, ClientAuth, TlsContext, TlsOptions};
use ferry_server::{Server, ServerConfig, SessionReuse};
use ferry_storage::local::LocalFsFactory;
use ferry_storage::users::{AnonymousMode, UserDb};
use ferry_storage::Access;
use tokio::sync::oneshot;

/// A running server; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub implicit: Option<SocketAddr>,
    /// PEM of the server certificate (TLS servers).
    pub cert: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// How the test server is set up.
#[derive(Default)]
pub struct Setup {
    /// Serve FTPS with a self-signed certificate generated in this directory.
    pub tls_state: Option<PathBuf>,
    pub implicit: bool,
    pub reuse: Option<SessionReuse>,
    pub listen: Option<SocketAddr>,
}

pub async fn start(root: &Path, setup: Setup) -> Running {
    let mut users = UserDb::new(root.to_path_buf(), AnonymousMode::Off);
    users
        .add_user(
            "alice",
            &ProtoPassword::new("secret"),
            None,
            Access::ReadWrite,
        )
        .expect("add user");
    let mut config = ServerConfig::new(Arc::new(users), Arc::new(LocalFsFactory::new()));
    config.listen = vec![setup
        .listen
        .unwrap_or_else(|| "127.0.0.1:0".parse().expect("addr"))];
    config.data_timeout = Duration::from_secs(5);
    let mut cert = None;
    if let Some(state_dir) = &setup.tls_state {
        let ctx = TlsContext::new(TlsOptions {
            source: CertSource::SelfSigned {
                state_dir: state_dir.clone(),
                names: Vec::new(),
            },
            client_ca: None,
            client_auth: ClientAuth::Off,
            client_users: BTreeMap::new(),
            keylog: false,
        })
        .expect("TLS context");
        config.tls = Some(Arc::new(ctx));
        cert = Some(state_dir.join("ferry-cert.pem"));
        if setup.implicit {
            config.implicit_listen = vec!["127.0.0.1:0".parse().expect("addr")];
        }
        if let Some(r) = setup.reuse {
            config.session_reuse = r;
        }
    }
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addrs()[0];
    let implicit = server.implicit_addrs().first().copied();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    Running {
        addr,
        implicit,
        cert,
        stop: Some(tx),
    }
}

pub async fn plain(root: &Path) -> Running {
    start(root, Setup::default()).await
}

/// Options for alice on `addr`.
pub fn opts(addr: SocketAddr) -> ConnectOptions {
    let mut o = ConnectOptions::new(addr.ip().to_string(), addr.port());
    o.user = "alice".into();
    o.password = Password::new("secret");
    o.connect_timeout = Duration::from_secs(10);
    o.io_timeout = Duration::from_secs(10);
    o
}

/// Options for explicit (or implicit) FTPS trusting the server's own certificate.
pub fn tls_opts(server: &Running, implicit: bool) -> ConnectOptions {
    let addr = if implicit {
        server.implicit.expect("implicit listener")
    } else {
        server.addr
    };
    let mut o = opts(addr);
    o.host = "localhost".into();
    o.security = if implicit {
        Security::Implicit
    } else {
        Security::Explicit
    };
    o.tls_verify = TlsVerify::CaFile(server.cert.clone().expect("cert"));
    o
}

/// A trace callback collecting lines like `ftp -d` (`---> CMD`, `CODE text`).
pub fn collector() -> (Arc<Mutex<Vec<String>>>, ferry_client::TraceFn) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = Arc::clone(&lines);
    let f = Box::new(move |t: &Trace| {
        let s = match t {
            Trace::Sent(c) => format!("---> {c}"),
            Trace::Received(r) => format!("{} {}", r.code, r.text()),
        };
        l2.lock().expect("lock").push(s);
    });
    (lines, f)
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}
