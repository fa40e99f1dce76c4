//! The client against Ferry's own server (plain FTP), in process on 127.0.0.1 port 0.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use common::{collector, data, opts, plain};
use ferry_client::{Client, ClientError, DataMode, EntryKind, StoreMode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[tokio::test]
async fn login_and_every_simple_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = plain(dir.path()).await;
    let mut c = Client::connect(opts(server.addr)).await.expect("connect");
    assert_eq!(c.greeting().code.get(), 220);
    assert!(!c.is_tls());
    assert!(c.features().mlst(), "Ferry offers MLST");
    assert_eq!(c.pwd().await.expect("pwd"), "/");
    c.mkdir("d").await.expect("mkdir");
    c.cwd("d").await.expect("cwd");
    assert_eq!(c.pwd().await.expect("pwd"), "/d");
    c.cdup().await.expect("cdup");
    assert_eq!(c.pwd().await.expect("pwd"), "/");

    let body = data(1000, 1);
    let n = c
        .store("d/a.bin", StoreMode::Replace, &mut &body[..], &mut |_| {})
        .await
        .expect("store");
    assert_eq!(n, 1000);
    assert_eq!(c.size("d/a.bin").await.expect("size"), 1000);
    let mtime = c.mdtm("d/a.bin").await.expect("mdtm");
    assert!(mtime > 1_600_000_000);
    match c.set_mtime("d/a.bin", 1_500_000_000).await {
        Ok(()) => assert_eq!(c.mdtm("d/a.bin").await.expect("mdtm"), 1_500_000_000),
        Err(ClientError::NotSupported(_)) => {}
        Err(e) => panic!("MFMT: {e}"),
    }
    c.rename("d/a.bin", "d/b.bin").await.expect("rename");
    let names = c.nlst(Some("d")).await.expect("nlst");
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("b.bin"), "{names:?}");
    let raw = c.list_raw(Some("d")).await.expect("list raw");
    assert!(String::from_utf8_lossy(&raw).contains("b.bin"));

    let reply = c.raw("SYST").await.expect("raw");
    assert_eq!(reply.code.get(), 215);
    let reply = c.raw("FOOBAR").await.expect("raw negative is a value");
    assert_eq!(reply.code.get() / 100, 5);
    c.set_ascii(true).await.expect("TYPE A");
    c.set_ascii(false).await.expect("TYPE I");
    c.noop().await.expect("noop");

    c.delete("d/b.bin").await.expect("delete");
    c.rmdir("d").await.expect("rmdir");
    assert!(c.list(None).await.expect("list").is_empty());
    c.quit().await.expect("quit");
}

#[tokio::test]
async fn failures_are_values_and_keep_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = plain(dir.path()).await;

    let mut bad = opts(server.addr);
    bad.password = ferry_client::Password::new("wrong");
    match Client::connect(bad).await {
        Err(ClientError::LoginFailed(reply)) => {
            assert_eq!(reply.code.get(), 530);
        }
        other => panic!("expected LoginFailed, got {other:?}"),
    }

    let mut c = Client::connect(opts(server.addr)).await.expect("connect");
    match c.cwd("/nope").await {
        Err(e @ ClientError::Rejected { .. }) => {
            assert_eq!(e.reply_code(), Some(550));
            assert!(!e.is_transient());
            let ClientError::Rejected { command, .. } = e else {
                unreachable!()
            };
            assert_eq!(command, "CWD /nope");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let mut out = Vec::new();
    let e = c
        .retrieve("missing.bin", 0, None, &mut out, &mut |_| {})
        .await
        .expect_err("missing file");
    assert_eq!(e.reply_code(), Some(550), "{e}");
    assert!(matches!(
        c.size("missing.bin").await,
        Err(ClientError::Rejected { .. })
    ));
    c.noop().await.expect("session still usable");
    // Ferry answers HASH: the server's SHA-256 of the file; a missing file is a refusal
    // that leaves the session usable.
    std::fs::write(dir.path().join("h.txt"), b"hello").expect("write");
    let h = c.hash("h.txt").await.expect("HASH");
    assert_eq!(
        h.hex,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert!(matches!(
        c.hash("missing.txt").await,
        Err(ClientError::Rejected { .. })
    ));
    c.noop().await.expect("session still usable");
}

#[tokio::test]
async fn trace_masks_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = plain(dir.path()).await;
    let (lines, trace) = collector();
    let mut c = Client::connect_traced(opts(server.addr), Some(trace))
        .await
        .expect("connect");
    c.pwd().await.expect("pwd");
    c.raw("PASS secret").await.expect("raw");
    let lines = lines.lock().expect("lock").clone();
    assert!(lines.iter().any(|l| l == "---> USER alice"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "---> PASS ****"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "---> PWD"), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("220 ")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("secret")), "{lines:?}");
    let e = ClientError::Rejected {
        command: "PASS ****".into(),
        reply: ferry_client::Reply::new(530, "no"),
    };
    assert!(!format!("{e} {e:?}").contains("secret"));
}

async fn round_trip(mode: DataMode) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = plain(dir.path()).await;
    let mut o = opts(server.addr);
    o.data_mode = mode;
    let mut c = Client::connect(o).await.expect("connect");
    let body = data(3 << 20, 7);
    let mut last = 0;
    c.store("x.bin", StoreMode::Replace, &mut &body[..], &mut |n| {
        last = n
    })
    .await
    .expect("store");
    assert_eq!(last, body.len() as u64);
    assert_eq!(std::fs::read(dir.path().join("x.bin")).expect("read"), body);
    let mut out = Vec::new();
    let n = c
        .retrieve("x.bin", 0, None, &mut out, &mut |_| {})
        .await
        .expect("retrieve");
    assert_eq!(n, body.len() as u64);
    assert_eq!(out, body);
    // Listings go over the same kind of data connection.
    let entries = c.list(None).await.expect("list");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name, "x.bin");
    assert_eq!(entries[0].kind, EntryKind::File);
    assert_eq!(entries[0].size, Some(body.len() as u64));
    // Several transfers in a row on one session.
    for i in 0..5u32 {
        let b = data(10_000 + i as usize, i);
        c.store("y.bin", StoreMode::Replace, &mut &b[..], &mut |_| {})
            .await
            .expect("store again");
        let mut o = Vec::new();
        c.retrieve("y.bin", 0, None, &mut o, &mut |_| {})
            .await
            .expect("retrieve again");
        assert_eq!(o, b);
    }
    c.quit().await.expect("quit");
}

#[tokio::test]
async fn passive_round_trip() {
    round_trip(DataMode::Passive).await;
}

#[tokio::test]
async fn active_round_trip() {
    round_trip(DataMode::Active).await;
}

#[tokio::test]
async fn ipv6_literal() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No silent skip: a machine without IPv6 loopback fails here, clearly.
    std::net::TcpListener::bind("[::1]:0").expect("IPv6 loopback ([::1]) is needed by this test");
    let server = common::start(
        dir.path(),
        common::Setup {
            listen: Some("[::1]:0".parse().expect("addr")),
            ..Default::default()
        },
    )
    .await;
    for mode in [DataMode::Passive, DataMode::Active] {
        let mut o = opts(server.addr);
        assert_eq!(o.host, "::1");
        o.data_mode = mode;
        let mut c = Client::connect(o).await.expect("connect over IPv6");
        let body = data(5000, 3);
        c.store("v6.bin", StoreMode::Replace, &mut &body[..], &mut |_| {})
            .await
            .expect("store");
        let mut out = Vec::new();
        c.retrieve("v6.bin", 0, None, &mut out, &mut |_| {})
            .await
            .expect("retrieve");
        assert_eq!(out, body);
    }
}

#[tokio::test]
async fn resume_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = plain(dir.path()).await;
    let mut c = Client::connect(opts(server.addr)).await.expect("connect");
    let body = data(200_000, 9);
    std::fs::write(dir.path().join("r.bin"), &body).expect("write");

    // Download resume: REST 150000.
    let mut out = Vec::new();
    let n = c
        .retrieve("r.bin", 150_000, None, &mut out, &mut |_| {})
        .await
        .expect("retrieve from offset");
    assert_eq!(n, 50_000);
    assert_eq!(out, body[150_000..]);

    // Upload resume: REST n + STOR.
    c.store(
        "u.bin",
        StoreMode::Replace,
        &mut &body[..70_000],
        &mut |_| {},
    )
    .await
    .expect("first part");
    c.store(
        "u.bin",
        StoreMode::At(70_000),
        &mut &body[70_000..],
        &mut |_| {},
    )
    .await
    .expect("REST STOR");
    assert_eq!(std::fs::read(dir.path().join("u.bin")).expect("read"), body);

    // And APPE.
    c.store("a.bin", StoreMode::Replace, &mut &body[..1000], &mut |_| {})
        .await
        .expect("first part");
    c.store("a.bin", StoreMode::Append, &mut &body[1000..], &mut |_| {})
        .await
        .expect("APPE");
    assert_eq!(std::fs::read(dir.path().join("a.bin")).expect("read"), body);
}

#[tokio::test]
async fn limit_stops_early_and_keeps_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = plain(dir.path()).await;
    let body = data(16 << 20, 5);
    std::fs::write(dir.path().join("big.bin"), &body).expect("write");
    for mode in [DataMode::Passive, DataMode::Active] {
        let mut o = opts(server.addr);
        o.data_mode = mode;
        let mut c = Client::connect(o).await.expect("connect");
        for (offset, limit) in [(0u64, 100_000u64), (5_000_000, 1_000_000), (0, 1)] {
            let mut out = Vec::new();
            let n = c
                .retrieve("big.bin", offset, Some(limit), &mut out, &mut |_| {})
                .await
                .expect("limited retrieve");
            assert_eq!(n, limit);
            let start = offset as usize;
            assert_eq!(out, body[start..start + limit as usize]);
            c.noop().await.expect("control connection still in step");
        }
        // A limit beyond the end is just a full download.
        std::fs::write(dir.path().join("small.bin"), b"12345").expect("write");
        let mut out = Vec::new();
        let n = c
            .retrieve("small.bin", 0, Some(100), &mut out, &mut |_| {})
            .await
            .expect("retrieve");
        assert_eq!((n, &out[..]), (5, &b"12345"[..]));
        c.pwd().await.expect("pwd after");
    }
}

/// An AsyncRead that hands out `chunk` bytes at a time with a pause before each.
struct SlowReader {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    pause: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for SlowReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let pause = self.pause;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        let end = (self.pos + self.chunk)
            .min(self.data.len())
            .min(self.pos + buf.remaining());
        buf.put_slice(&self.data[self.pos..end]);
        self.pos = end;
        Poll::Ready(Ok(()))
    }
}

/// An AsyncWrite that pauses before accepting each write.
struct SlowWriter {
    out: Vec<u8>,
    pause: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncWrite for SlowWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let pause = self.pause;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        self.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn keepalive_noops_during_slow_transfers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = plain(dir.path()).await;
    let mut o = opts(server.addr);
    o.keepalive = Some(Duration::from_millis(40));
    let mut c = Client::connect(o).await.expect("connect");
    let (lines, trace) = collector();
    c.set_trace(Some(trace));

    let body = data(40_000, 11);
    let mut slow = SlowReader {
        data: body.clone(),
        pos: 0,
        chunk: 4000,
        pause: Duration::from_millis(30),
        sleep: None,
    };
    c.store("k.bin", StoreMode::Replace, &mut slow, &mut |_| {})
        .await
        .expect("slow upload");
    assert_eq!(std::fs::read(dir.path().join("k.bin")).expect("read"), body);
    let noops = lines
        .lock()
        .expect("lock")
        .iter()
        .filter(|l| *l == "---> NOOP")
        .count();
    assert!(noops >= 2, "expected NOOPs during the upload: {lines:?}");

    // Download into a slow writer: the server's sends stall, NOOPs go out meanwhile.
    lines.lock().expect("lock").clear();
    let big = data(600_000, 12);
    std::fs::write(dir.path().join("big.bin"), &big).expect("write");
    let mut w = SlowWriter {
        out: Vec::new(),
        pause: Duration::from_millis(15),
        sleep: None,
    };
    c.retrieve("big.bin", 0, None, &mut w, &mut |_| {})
        .await
        .expect("slow download");
    assert_eq!(w.out, big);
    let noops = lines
        .lock()
        .expect("lock")
        .iter()
        .filter(|l| *l == "---> NOOP")
        .count();
    assert!(noops >= 2, "expected NOOPs during the download: {lines:?}");
    // Every NOOP answer was consumed: the next command gets its own reply.
    assert_eq!(c.pwd().await.expect("pwd"), "/");
    c.noop().await.expect("noop");
}

#[tokio::test]
async fn transfers_run_in_spawned_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = plain(dir.path()).await;
    std::fs::write(dir.path().join("s.bin"), data(70_000, 4)).expect("write");
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let o = opts(server.addr);
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(o).await?;
            let mut out = Vec::new();
            c.retrieve("s.bin", 0, None, &mut out, &mut |_| {}).await?;
            c.quit().await?;
            Ok::<usize, ClientError>(out.len())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join").expect("transfer"), 70_000);
    }
}
