//! In-process server tests on port 0: the driver's own guarantees (passive port reuse,
//! shutdown, ABOR as urgent data), with a scripted raw client.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{Client, STEP};
use ferry_proto::Password;
use ferry_server::{Server, ServerConfig};
use ferry_storage::local::LocalFsFactory;
use ferry_storage::users::{AnonymousMode, UserDb};
use ferry_storage::Access;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::timeout;

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(root: &Path, tweak: impl FnOnce(&mut ServerConfig)) -> Running {
    let mut users = UserDb::new(root.to_path_buf(), AnonymousMode::Off);
    users
        .add_user("alice", &Password::new("secret"), None, Access::ReadWrite)
        .expect("add user");
    let mut config = ServerConfig::new(Arc::new(users), Arc::new(LocalFsFactory::new()));
    config.listen = vec!["127.0.0.1:0".parse().expect("addr")];
    config.data_timeout = Duration::from_secs(5);
    tweak(&mut config);
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addrs()[0];
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                let _ = rx.await;
            })
            .await
            .expect("run");
    });
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

/// The scripted client, logged in as alice.
async fn login(addr: SocketAddr) -> Client {
    Client::login_as(addr, "alice", "secret").await
}

#[tokio::test]
async fn repeated_pasv_reuses_a_small_port_range_without_leaking() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("f.txt"), b"hello\n").expect("write");
    // Two ports only: any leaked listener would exhaust the range within a few rounds.
    let server = start(dir.path(), |c| c.passive_ports = Some(24200..=24201)).await;
    let mut c = login(server.addr).await;
    let mut previous = None;
    for round in 0..200 {
        let port = c.epsv_port().await;
        assert!(
            (24200..=24201).contains(&port),
            "round {round}: port {port}"
        );
        if let Some(old) = previous {
            if old != port {
                // The replaced listener is closed: nobody may connect to it.
                let r = TcpStream::connect(("127.0.0.1", old)).await;
                assert!(
                    r.is_err(),
                    "round {round}: old passive port {old} still listening"
                );
            }
        }
        previous = Some(port);
    }
    // And the last one still works for a transfer.
    let port = previous.expect("a port");
    let mut data = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("data connect");
    assert_eq!(c.cmd("TYPE I").await.0, 200);
    assert_eq!(c.cmd("RETR f.txt").await.0, 150);
    let mut got = Vec::new();
    timeout(STEP, data.read_to_end(&mut got))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(got, b"hello\n");
    assert_eq!(c.reply().await.0, 226);
    // After the transfer the listener is kept for the next EPSV a little while, then
    // closed.
    tokio::time::sleep(SPARE_GONE).await;
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    // Many sessions each asking for PASV and quitting leave the range free as well.
    for _ in 0..20 {
        let mut s = login(server.addr).await;
        s.epsv_port().await;
        assert_eq!(s.cmd("QUIT").await.0, 221);
    }
    let port = c.epsv_port().await;
    assert!((24200..=24201).contains(&port));
    stop(server).await;
}

#[tokio::test]
async fn shutdown_says_421_to_idle_sessions_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start(dir.path(), |_| {}).await;
    let mut idle = login(server.addr).await;
    let mut fresh = Client::connect(server.addr).await;
    let _ = server.stop.take().expect("stop").send(());
    assert_eq!(idle.reply().await.0, 421);
    assert_eq!(fresh.reply().await.0, 421);
    assert!(idle.closed_within(STEP).await);
    timeout(STEP, server.task)
        .await
        .expect("server stops in time")
        .expect("join");
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn shutdown_lets_a_running_upload_finish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start(dir.path(), |c| c.shutdown_grace = Duration::from_secs(10)).await;
    let mut c = login(server.addr).await;
    assert_eq!(c.cmd("TYPE I").await.0, 200);
    let port = c.epsv_port().await;
    let mut data = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("data connect");
    assert_eq!(c.cmd("STOR up.bin").await.0, 150);
    let chunk = vec![7u8; 64 * 1024];
    data.write_all(&chunk).await.expect("write");
    // The server is told to stop mid-upload; the upload goes on.
    let _ = server.stop.take().expect("stop").send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..15 {
        data.write_all(&chunk)
            .await
            .expect("write after shutdown began");
    }
    data.shutdown().await.expect("shutdown");
    drop(data);
    assert_eq!(c.reply().await.0, 226);
    let (code, _) = c.cmd("QUIT").await;
    assert!(code == 221 || code == 421, "QUIT after shutdown -> {code}");
    timeout(STEP, server.task)
        .await
        .expect("server stops in time")
        .expect("join");
    let stored = std::fs::read(dir.path().join("up.bin")).expect("stored");
    assert_eq!(stored.len(), 16 * 64 * 1024);
}

#[tokio::test]
async fn abor_sent_as_urgent_data_is_seen_at_once() {
    // Regression: Linux ends a read at the urgent mark, so "ABOR\r" arrived without its "\n"
    // and tokio then waited for more data that never came (Python ftplib's abort()).
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("big.bin"), vec![1u8; 32 << 20]).expect("write");
    let server = start(dir.path(), |_| {}).await;
    let ctrl = TcpStream::connect(server.addr).await.expect("connect");
    let std_ctrl = ctrl.into_std().expect("std");
    std_ctrl.set_nonblocking(false).expect("blocking");
    std_ctrl.set_read_timeout(Some(STEP)).expect("timeout");
    let t = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Read, Write};
        let mut reader = std::io::BufReader::new(std_ctrl.try_clone().expect("clone"));
        let mut w = std_ctrl;
        let mut line = String::new();
        let mut next = |reader: &mut std::io::BufReader<std::net::TcpStream>| {
            line.clear();
            reader.read_line(&mut line).expect("reply");
            line.clone()
        };
        assert!(next(&mut reader).starts_with("220"));
        w.write_all(b"USER alice\r\nPASS secret\r\nTYPE I\r\nEPSV\r\n")
            .expect("send");
        assert!(next(&mut reader).starts_with("331"));
        assert!(next(&mut reader).starts_with("230"));
        assert!(next(&mut reader).starts_with("200"));
        let epsv = next(&mut reader);
        let port: u16 = epsv
            .split("(|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .and_then(|p| p.parse().ok())
            .expect("epsv port");
        let mut data = std::net::TcpStream::connect(("127.0.0.1", port)).expect("data");
        w.write_all(b"RETR big.bin\r\n").expect("send");
        assert!(next(&mut reader).starts_with("150"));
        let mut buf = [0u8; 4096];
        data.read_exact(&mut buf).expect("some data");
        // Like ftplib: the whole line as urgent data, so the final "\n" is the urgent byte.
        let sent = socket2::SockRef::from(&w)
            .send_out_of_band(b"ABOR\r\n")
            .expect("send oob");
        assert_eq!(sent, 6);
        let first = next(&mut reader);
        assert!(first.starts_with("426"), "after ABOR: {first}");
        let second = next(&mut reader);
        assert!(second.starts_with("226"), "after 426: {second}");
    });
    timeout(Duration::from_secs(30), t)
        .await
        .expect("in time")
        .expect("client");
    stop(server).await;
}

/// Longer than the server keeps a passive listener after a transfer (2 s).
const SPARE_GONE: Duration = Duration::from_millis(2600);

/// Downloads `name` over a new data connection to `port`, checking it is `want`.
async fn get_on(c: &mut Client, port: u16, name: &str, want: &[u8]) {
    let mut data = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("data connect");
    assert_eq!(c.cmd(&format!("RETR {name}")).await.0, 150);
    let mut got = Vec::new();
    timeout(STEP, data.read_to_end(&mut got))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(got, want);
    assert_eq!(c.reply().await.0, 226);
}

#[tokio::test]
async fn a_batch_of_transfers_keeps_one_passive_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("f.txt"), b"hello\n").expect("write");
    let server = start(dir.path(), |c| c.passive_ports = Some(24210..=24230)).await;
    let mut c = login(server.addr).await;
    assert_eq!(c.cmd("TYPE I").await.0, 200);
    // A complete transfer leaves its listener for the next EPSV: the same port serves
    // the next transfer (mget-like batches skip a socket, bind and listen each).
    let first = c.epsv_port().await;
    get_on(&mut c, first, "f.txt", b"hello\n").await;
    assert_eq!(c.cmd("SIZE f.txt").await.0, 213);
    let second = c.epsv_port().await;
    assert_eq!(second, first, "the kept listener is reused");
    get_on(&mut c, second, "f.txt", b"hello\n").await;
    // The listener is still there after the transfer (kept). A connection made to it
    // between transfers (someone guessing the port) makes the server drop it: the next
    // EPSV gets a fresh listener (which may land on the same, now free, port), and the
    // early connection is closed, never used for data.
    let mut stray = TcpStream::connect(("127.0.0.1", second))
        .await
        .expect("the kept listener accepts a connection");
    let third = c.epsv_port().await;
    let mut buf = [0u8; 16];
    let n = timeout(STEP, stray.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "the stray connection is closed"
    );
    get_on(&mut c, third, "f.txt", b"hello\n").await;
    // An idle session does not keep it.
    tokio::time::sleep(SPARE_GONE).await;
    assert!(TcpStream::connect(("127.0.0.1", third)).await.is_err());
    assert_eq!(c.cmd("NOOP").await.0, 200);
    // A failed transfer keeps nothing either.
    let port = c.epsv_port().await;
    assert_eq!(c.cmd("RETR missing.txt").await.0, 550);
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    stop(server).await;
}

async fn stop(mut server: Running) {
    if let Some(tx) = server.stop.take() {
        let _ = tx.send(());
    }
    timeout(STEP, server.task)
        .await
        .expect("server stops in time")
        .expect("join");
}

/// Sends `data` on a new data connection for `verb path` (TYPE I, plain: the spliced path),
/// closes it and returns the final reply code.
async fn put(c: &mut Client, verb: &str, data: &[u8]) -> u16 {
    let port = c.epsv_port().await;
    let mut conn = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("data connect");
    assert_eq!(c.cmd(verb).await.0, 150, "{verb}");
    conn.write_all(data).await.expect("write");
    conn.shutdown().await.expect("shutdown");
    drop(conn);
    c.reply().await.0
}

#[tokio::test]
async fn spliced_uploads_keep_rest_appe_stou_and_abor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), |_| {}).await;
    let mut c = login(server.addr).await;
    assert_eq!(c.cmd("TYPE I").await.0, 200);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(put(&mut c, "STOR a.bin", &big).await, 226);
    assert_eq!(std::fs::read(dir.path().join("a.bin")).expect("a"), big);
    // Replacing keeps nothing of the old content.
    assert_eq!(put(&mut c, "STOR a.bin", b"short").await, 226);
    assert_eq!(
        std::fs::read(dir.path().join("a.bin")).expect("a"),
        b"short"
    );
    // REST + STOR writes in place from the offset.
    assert_eq!(c.cmd("REST 2").await.0, 350);
    assert_eq!(put(&mut c, "STOR a.bin", b"XY").await, 226);
    assert_eq!(
        std::fs::read(dir.path().join("a.bin")).expect("a"),
        b"shXYt"
    );
    // APPE (the buffered path: splice refuses O_APPEND files).
    assert_eq!(put(&mut c, "APPE a.bin", b"++").await, 226);
    assert_eq!(
        std::fs::read(dir.path().join("a.bin")).expect("a"),
        b"shXYt++"
    );
    // STOU creates a new name.
    assert_eq!(put(&mut c, "STOU a.bin", b"unique").await, 226);
    assert_eq!(
        std::fs::read(dir.path().join("a.bin.1")).expect("a.1"),
        b"unique"
    );
    // ABOR during a spliced upload: 426 then 226, the session goes on, the replaced file
    // is untouched and no temporary file remains.
    let port = c.epsv_port().await;
    let mut conn = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("data connect");
    assert_eq!(c.cmd("STOR a.bin").await.0, 150);
    conn.write_all(&big[..1 << 20]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (code, text) = c.cmd("ABOR").await;
    assert_eq!(code, 426, "{text}");
    assert_eq!(c.reply().await.0, 226);
    drop(conn);
    assert_eq!(c.cmd("NOOP").await.0, 200);
    assert_eq!(
        std::fs::read(dir.path().join("a.bin")).expect("a"),
        b"shXYt++"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".ferry-upload-")),
        "temporary files left: {names:?}"
    );
    stop(server).await;
}
