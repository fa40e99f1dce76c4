//! FTPS against Ferry's server: explicit and implicit, protected data in both modes,
//! session reuse required, certificate verification (CA file, system, TOFU, insecure).

mod common;

use common::{data, start, tls_opts, Running, Setup};
use ferry_client::{Client, ClientError, DataMode, StoreMode, TlsVerify};
use ferry_server::SessionReuse;

async fn tls_server(
    root: &std::path::Path,
    state: &std::path::Path,
    reuse: SessionReuse,
) -> Running {
    start(
        root,
        Setup {
            tls_state: Some(state.to_path_buf()),
            implicit: true,
            reuse: Some(reuse),
            ..Default::default()
        },
    )
    .await
}

async fn transfers(c: &mut Client, root: &std::path::Path) {
    let body = data(300_000, 21);
    c.store("t.bin", StoreMode::Replace, &mut &body[..], &mut |_| {})
        .await
        .expect("store");
    assert_eq!(std::fs::read(root.join("t.bin")).expect("read"), body);
    let mut out = Vec::new();
    c.retrieve("t.bin", 0, None, &mut out, &mut |_| {})
        .await
        .expect("retrieve");
    assert_eq!(out, body);
    let entries = c.list(None).await.expect("list");
    assert!(entries.iter().any(|e| e.name == "t.bin"));
    let mut out = Vec::new();
    c.retrieve("t.bin", 1000, Some(5000), &mut out, &mut |_| {})
        .await
        .expect("limited retrieve");
    assert_eq!(out, body[1000..6000]);
    c.noop().await.expect("noop");
}

#[tokio::test]
async fn explicit_and_implicit_with_protected_data() {
    let root = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let server = tls_server(root.path(), state.path(), SessionReuse::Accept).await;
    for implicit in [false, true] {
        for mode in [DataMode::Passive, DataMode::Active] {
            let mut o = tls_opts(&server, implicit);
            o.data_mode = mode;
            let mut c = Client::connect(o).await.expect("connect");
            assert!(c.is_tls());
            assert!(c.is_data_protected());
            transfers(&mut c, root.path()).await;
            c.quit().await.expect("quit");
        }
    }
}

#[tokio::test]
async fn clear_data_when_not_protected() {
    let root = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let server = tls_server(root.path(), state.path(), SessionReuse::Accept).await;
    let mut o = tls_opts(&server, false);
    o.protect_data = false;
    let mut c = Client::connect(o).await.expect("connect");
    assert!(c.is_tls());
    assert!(!c.is_data_protected());
    transfers(&mut c, root.path()).await;
}

/// With `require`, every data connection must resume the control session. rustls' client
/// uses each TLS 1.3 ticket once; Ferry sends two on the control connection and one on
/// each download-direction data connection (none on uploads).
#[tokio::test]
async fn session_reuse_required_downloads_and_listings_keep_going() {
    let root = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let server = tls_server(root.path(), state.path(), SessionReuse::Require).await;
    std::fs::write(root.path().join("f.bin"), data(50_000, 1)).expect("write");
    for mode in [DataMode::Passive, DataMode::Active] {
        let mut o = tls_opts(&server, false);
        o.data_mode = mode;
        let mut c = Client::connect(o).await.expect("connect");
        for i in 0..8 {
            let mut out = Vec::new();
            c.retrieve("f.bin", 0, None, &mut out, &mut |_| {})
                .await
                .unwrap_or_else(|e| panic!("download {i} ({mode:?}): {e}"));
            assert_eq!(out.len(), 50_000);
            c.list(None)
                .await
                .unwrap_or_else(|e| panic!("list {i} ({mode:?}): {e}"));
        }
    }
}

#[tokio::test]
async fn session_reuse_required_uploads_use_up_the_tickets() {
    let root = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let server = tls_server(root.path(), state.path(), SessionReuse::Require).await;
    std::fs::write(root.path().join("f.bin"), data(1000, 1)).expect("write");
    let mut c = Client::connect(tls_opts(&server, false))
        .await
        .expect("connect");
    async fn down(c: &mut Client) -> Result<u64, ClientError> {
        let mut out = Vec::new();
        c.retrieve("f.bin", 0, None, &mut out, &mut |_| {}).await
    }
    // Downloads take a ticket and bring one: any number of them is fine.
    for i in 0..3 {
        down(&mut c)
            .await
            .unwrap_or_else(|e| panic!("download {i}: {e}"));
    }
    // Uploads take a ticket and bring none: two per control connection (its two tickets).
    let body = data(20_000, 2);
    c.store("u.bin", StoreMode::Replace, &mut &body[..], &mut |_| {})
        .await
        .expect("first upload");
    down(&mut c).await.expect("download after one upload");
    c.store("u.bin", StoreMode::Replace, &mut &body[..], &mut |_| {})
        .await
        .expect("second upload");
    // No ticket left: the data connection does a full handshake, which `require` refuses
    // with 522. The refusal is a value and the control connection stays in step.
    let e = down(&mut c).await.expect_err("no ticket left");
    assert_eq!(e.reply_code(), Some(522), "{e}");
    c.noop().await.expect("session still usable");
    // A new control connection brings two new tickets.
    let mut c = Client::connect(tls_opts(&server, false))
        .await
        .expect("reconnect");
    c.store("u.bin", StoreMode::Replace, &mut &body[..], &mut |_| {})
        .await
        .expect("upload on a new session");
}

#[tokio::test]
async fn verification_modes() {
    let root = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let server = tls_server(root.path(), state.path(), SessionReuse::Accept).await;

    // The system store does not know a self-signed certificate.
    let mut o = tls_opts(&server, false);
    o.tls_verify = TlsVerify::System;
    match Client::connect(o).await {
        Err(ClientError::Tls(msg)) => eprintln!("system store refuses: {msg}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // The right certificate under the wrong name.
    let mut o = tls_opts(&server, false);
    o.host = "127.0.0.1".into();
    Client::connect(o)
        .await
        .expect("IP 127.0.0.1 is in the self-signed SANs");

    let mut o = tls_opts(&server, false);
    o.tls_verify = TlsVerify::Insecure;
    let mut c = Client::connect(o).await.expect("insecure");
    transfers(&mut c, root.path()).await;

    let mut o = tls_opts(&server, false);
    o.tls_verify = TlsVerify::CaFile(root.path().join("missing.pem"));
    assert!(matches!(Client::connect(o).await, Err(ClientError::Tls(_))));
}

#[tokio::test]
async fn trust_on_first_use() {
    let root = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let known = tempfile::tempdir().expect("tempdir");
    let store = known.path().join("ferry").join("known_hosts");
    let server = tls_server(root.path(), state.path(), SessionReuse::Accept).await;
    let tofu = |server: &Running| {
        let mut o = tls_opts(server, false);
        o.tls_verify = TlsVerify::TrustOnFirstUse {
            store: store.clone(),
        };
        o
    };
    // First use: stored, with data connections working.
    let mut c = Client::connect(tofu(&server)).await.expect("first use");
    transfers(&mut c, root.path()).await;
    let text = std::fs::read_to_string(&store).expect("store written");
    let line = format!("localhost:{} ", server.addr.port());
    assert!(text.starts_with(&line), "{text}");
    assert_eq!(text.lines().count(), 1);
    // Second use: known.
    Client::connect(tofu(&server)).await.expect("second use");
    assert_eq!(std::fs::read_to_string(&store).expect("store"), text);

    // Another certificate where a fingerprint is stored: CertificateChanged.
    let state2 = tempfile::tempdir().expect("tempdir");
    let server2 = tls_server(root.path(), state2.path(), SessionReuse::Accept).await;
    let port = server2.addr.port();
    let old = text.split_whitespace().nth(1).expect("fingerprint");
    std::fs::write(&store, format!("{text}localhost:{port} {old}\n")).expect("write store");
    match Client::connect(tofu(&server2)).await {
        Err(ClientError::CertificateChanged {
            host,
            stored,
            presented,
        }) => {
            assert_eq!(host, format!("localhost:{port}"));
            assert_ne!(stored, presented);
            assert!(text.contains(&stored));
        }
        other => panic!("expected CertificateChanged, got {other:?}"),
    }
}
