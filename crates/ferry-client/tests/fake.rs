//! The client against a scripted fake server on 127.0.0.1: behaviours Ferry's own server
//! does not show (no MLSD, no EPSV/EPRT, a NAT-style PASV address, X-hash and HASH
//! commands, NOOP answers queued behind the transfer, a server that waits for ABOR,
//! garbage replies, 120/421 greetings).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::collector;
use ferry_client::{
    Client, ClientError, ConnectOptions, DataMode, EntryKind, HashAlgorithm, Password,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(10);

/// What the fake does for one command line.
enum Act {
    /// Send these raw bytes.
    Reply(&'static str),
    /// A download-direction transfer: 150, `payload` in `chunks` with `pause` between them,
    /// close, then `final_reply`.
    Data {
        payload: Vec<u8>,
        chunks: usize,
        pause: Duration,
        final_reply: &'static str,
    },
    /// 150, send `payload` and keep the data connection and the control connection silent
    /// until ABOR arrives; then 426 + 226.
    WaitForAbor { payload: Vec<u8> },
    /// Close the control connection.
    Close,
}

type Script = Arc<dyn Fn(&str) -> Option<Act> + Send + Sync>;

struct Fake {
    addr: SocketAddr,
    /// Every command line received.
    seen: Arc<Mutex<Vec<String>>>,
}

const FEAT_PLAIN: &str = "211-Features:\r\n SIZE\r\n211 End\r\n";

async fn fake(greeting: &'static str, script: Script) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let script = Arc::clone(&script);
            let seen = Arc::clone(&seen2);
            tokio::spawn(async move {
                let _ = session(sock, greeting, script, seen).await;
            });
        }
    });
    Fake { addr, seen }
}

enum DataSide {
    None,
    Passive(TcpListener),
    Active(SocketAddr),
}

async fn session(
    sock: TcpStream,
    greeting: &'static str,
    script: Script,
    seen: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(greeting.as_bytes()).await?;
    let mut data = DataSide::None;
    // Lines received while a transfer ran (answered after it, like vsftpd).
    for _ in 0..200 {
        let mut line = String::new();
        if timeout(STEP, rd.read_line(&mut line))
            .await
            .ok()
            .transpose()?
            .unwrap_or(0)
            == 0
        {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        seen.lock().expect("lock").push(line.clone());
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let act = script(&line).unwrap_or(match verb.as_str() {
            "USER" => Act::Reply("331 Password please\r\n"),
            "PASS" => Act::Reply("230 Welcome\r\n"),
            "TYPE" => Act::Reply("200 Type set\r\n"),
            "FEAT" => Act::Reply(FEAT_PLAIN),
            "NOOP" => Act::Reply("200 NOOP ok\r\n"),
            "PWD" => Act::Reply("257 \"/\" is the current directory\r\n"),
            "QUIT" => Act::Reply("221 Bye\r\n"),
            "EPSV" | "PASV" | "EPRT" | "PORT" => Act::Reply(""),
            _ => Act::Reply("502 Not implemented\r\n"),
        });
        match (verb.as_str(), act) {
            ("EPSV", Act::Reply("")) => {
                let l = TcpListener::bind("127.0.0.1:0").await?;
                let port = l.local_addr()?.port();
                data = DataSide::Passive(l);
                wr.write_all(format!("229 Extended Passive Mode (|||{port}|)\r\n").as_bytes())
                    .await?;
            }
            ("PASV", Act::Reply("")) => {
                let l = TcpListener::bind("127.0.0.1:0").await?;
                let port = l.local_addr()?.port();
                data = DataSide::Passive(l);
                // A NAT-style private address: the client must use the control peer.
                let reply = format!(
                    "227 Entering Passive Mode (10,9,8,7,{},{})\r\n",
                    port >> 8,
                    port & 0xff
                );
                wr.write_all(reply.as_bytes()).await?;
            }
            ("EPRT", Act::Reply("")) => {
                let arg = line.get(5..).unwrap_or("");
                let target = ferry_proto::addr::parse_eprt(arg).expect("EPRT argument");
                data = DataSide::Active(target);
                wr.write_all(b"200 EPRT ok\r\n").await?;
            }
            ("PORT", Act::Reply("")) => {
                let arg = line.get(5..).unwrap_or("");
                let target = ferry_proto::addr::parse_port(arg).expect("PORT argument");
                data = DataSide::Active(SocketAddr::V4(target));
                wr.write_all(b"200 PORT ok\r\n").await?;
            }
            (_, Act::Reply(r)) => wr.write_all(r.as_bytes()).await?,
            (_, Act::Close) => return Ok(()),
            (
                _,
                Act::Data {
                    payload,
                    chunks,
                    pause,
                    final_reply,
                },
            ) => {
                let mut conn = open_data(&mut data).await?;
                wr.write_all(b"150 Opening data connection\r\n").await?;
                let size = payload.len().div_ceil(chunks.max(1)).max(1);
                for part in payload.chunks(size) {
                    conn.write_all(part).await?;
                    tokio::time::sleep(pause).await;
                }
                drop(conn);
                wr.write_all(final_reply.as_bytes()).await?;
            }
            (_, Act::WaitForAbor { payload }) => {
                let mut conn = open_data(&mut data).await?;
                wr.write_all(b"150 Opening data connection\r\n").await?;
                let _ = conn.write_all(&payload).await;
                let mut abor = String::new();
                timeout(STEP, rd.read_line(&mut abor))
                    .await
                    .map_err(|_| std::io::Error::other("no ABOR"))??;
                seen.lock().expect("lock").push(abor.trim_end().to_string());
                drop(conn);
                wr.write_all(b"426 Transfer aborted\r\n226 ABOR successful\r\n")
                    .await?;
            }
        }
    }
    Ok(())
}

async fn open_data(side: &mut DataSide) -> std::io::Result<TcpStream> {
    match std::mem::replace(side, DataSide::None) {
        DataSide::Passive(l) => Ok(timeout(STEP, l.accept())
            .await
            .map_err(|_| std::io::Error::other("no data connection"))??
            .0),
        DataSide::Active(a) => TcpStream::connect(a).await,
        DataSide::None => Err(std::io::Error::other("no PASV/PORT before transfer")),
    }
}

fn opts(addr: SocketAddr) -> ConnectOptions {
    let mut o = ConnectOptions::new(addr.ip().to_string(), addr.port());
    o.user = "bob".into();
    o.password = Password::new("pw");
    o.connect_timeout = STEP;
    o.io_timeout = STEP;
    o
}

const GREETING: &str = "220 Fake FTP\r\n";

#[tokio::test]
async fn list_without_mlsd_uses_list_and_skips_garbage() {
    let listing = b"total 12\r\n\
drwxr-xr-x    2 ftp      ftp          4096 Jan 02  2023 sub dir\r\n\
-rw-r--r--    1 ftp      ftp          1234 Mar 04 15:04 file.txt\r\n\
this line is garbage\r\n\
lrwxrwxrwx    1 ftp      ftp             8 Jan 02  2023 link -> file.txt\r\n\
01-02-24  03:04PM                 5678 dos.bin\r\n"
        .to_vec();
    let f = fake(
        GREETING,
        Arc::new(move |line: &str| {
            line.starts_with("LIST").then(|| Act::Data {
                payload: listing.clone(),
                chunks: 3,
                pause: Duration::ZERO,
                final_reply: "226 Done\r\n",
            })
        }),
    )
    .await;
    let mut c = Client::connect(opts(f.addr)).await.expect("connect");
    assert!(!c.features().mlst());
    let entries = c.list(Some("/pub")).await.expect("list");
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["sub dir", "file.txt", "link", "dos.bin"]);
    assert_eq!(entries[0].kind, EntryKind::Dir);
    assert_eq!(entries[1].size, Some(1234));
    assert_eq!(entries[2].link_target.as_deref(), Some("file.txt"));
    assert_eq!(entries[3].size, Some(5678));
    assert!(f
        .seen
        .lock()
        .expect("lock")
        .contains(&"LIST -a /pub".to_string()));
    c.noop().await.expect("noop");
}

#[tokio::test]
async fn epsv_refused_falls_back_to_pasv_once_and_ignores_the_pasv_address() {
    let f = fake(
        GREETING,
        Arc::new(|line: &str| match line {
            "EPSV" => Some(Act::Reply("500 EPSV unknown\r\n")),
            l if l.starts_with("NLST") => Some(Act::Data {
                payload: b"a\r\nb\r\n".to_vec(),
                chunks: 1,
                pause: Duration::ZERO,
                final_reply: "226 Done\r\n",
            }),
            _ => None,
        }),
    )
    .await;
    let mut c = Client::connect(opts(f.addr)).await.expect("connect");
    assert_eq!(c.nlst(None).await.expect("nlst"), ["a", "b"]);
    assert_eq!(c.nlst(None).await.expect("nlst"), ["a", "b"]);
    let seen = f.seen.lock().expect("lock").clone();
    assert_eq!(seen.iter().filter(|l| *l == "EPSV").count(), 1, "{seen:?}");
    assert_eq!(seen.iter().filter(|l| *l == "PASV").count(), 2, "{seen:?}");
}

#[tokio::test]
async fn eprt_refused_falls_back_to_port() {
    let f = fake(
        GREETING,
        Arc::new(|line: &str| {
            if line.starts_with("EPRT") {
                Some(Act::Reply("502 EPRT not implemented\r\n"))
            } else if line.starts_with("RETR") {
                Some(Act::Data {
                    payload: b"hello world".to_vec(),
                    chunks: 2,
                    pause: Duration::ZERO,
                    final_reply: "226 Done\r\n",
                })
            } else {
                None
            }
        }),
    )
    .await;
    let mut o = opts(f.addr);
    o.data_mode = DataMode::Active;
    let mut c = Client::connect(o).await.expect("connect");
    for _ in 0..2 {
        let mut out = Vec::new();
        c.retrieve("f", 0, None, &mut out, &mut |_| {})
            .await
            .expect("retrieve");
        assert_eq!(out, b"hello world");
    }
    let seen = f.seen.lock().expect("lock").clone();
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("EPRT")).count(),
        1,
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("PORT")).count(),
        2,
        "{seen:?}"
    );
}

#[tokio::test]
async fn x_hash_commands_in_order() {
    let f = fake(
        GREETING,
        Arc::new(|line: &str| {
            if line.starts_with("XSHA256 missing") {
                Some(Act::Reply("550 No such file\r\n"))
            } else if line.starts_with("XSHA256") {
                Some(Act::Reply("500 Unknown command\r\n"))
            } else if line.starts_with("XSHA1") {
                Some(Act::Reply(
                    "213 AAF4C61DDCC5E8A2DABEDE0F3B482CD9AEA9434D\r\n",
                ))
            } else {
                None
            }
        }),
    )
    .await;
    let mut c = Client::connect(opts(f.addr)).await.expect("connect");
    let h = c.hash("f.txt").await.expect("hash");
    assert_eq!(h.algorithm, HashAlgorithm::Sha1);
    assert_eq!(h.hex, "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
    // XSHA256 was refused with 500: not tried again.
    c.hash("g.txt").await.expect("hash");
    let seen = f.seen.lock().expect("lock").clone();
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("XSHA256")).count(),
        1,
        "{seen:?}"
    );
}

#[tokio::test]
async fn xsha256_and_missing_file() {
    let f = fake(
        GREETING,
        Arc::new(|line: &str| {
            if line == "XSHA256 missing" {
                Some(Act::Reply("550 No such file\r\n"))
            } else if line.starts_with("XSHA256") {
                Some(Act::Reply(
                    "250-Computing\r\n250 2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824\r\n",
                ))
            } else {
                None
            }
        }),
    )
    .await;
    let mut c = Client::connect(opts(f.addr)).await.expect("connect");
    let h = c.hash("hello.txt").await.expect("hash");
    assert_eq!(h.algorithm, HashAlgorithm::Sha256);
    assert_eq!(
        h.hex,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    let e = c.hash("missing").await.expect_err("missing");
    assert_eq!(e.reply_code(), Some(550));
    c.noop().await.expect("noop");
}

#[tokio::test]
async fn hash_command_with_opts() {
    let f = fake(
        GREETING,
        Arc::new(|line: &str| match line {
            "FEAT" => Some(Act::Reply(
                "211-Features:\r\n HASH SHA-1*;SHA-256;MD5\r\n MLST type*;size*;\r\n211 End\r\n",
            )),
            "OPTS HASH SHA-256" => Some(Act::Reply("200 SHA-256\r\n")),
            l if l.starts_with("HASH ") => Some(Act::Reply(
                "213 SHA-256 0-5 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 a b.txt\r\n",
            )),
            _ => None,
        }),
    )
    .await;
    let mut c = Client::connect(opts(f.addr)).await.expect("connect");
    let h = c.hash("a b.txt").await.expect("hash");
    assert_eq!(h.algorithm, HashAlgorithm::Sha256);
    c.hash("a b.txt").await.expect("hash again");
    let seen = f.seen.lock().expect("lock").clone();
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("OPTS HASH")).count(),
        1,
        "{seen:?}"
    );
    assert!(seen.contains(&"HASH a b.txt".to_string()), "{seen:?}");
}

#[tokio::test]
async fn noop_answers_queued_behind_the_transfer() {
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let p2 = payload.clone();
    let f = fake(
        GREETING,
        Arc::new(move |line: &str| {
            line.starts_with("RETR").then(|| Act::Data {
                payload: p2.clone(),
                chunks: 10,
                pause: Duration::from_millis(30),
                final_reply: "226 Done\r\n",
            })
        }),
    )
    .await;
    let mut o = opts(f.addr);
    o.keepalive = Some(Duration::from_millis(20));
    let mut c = Client::connect(o).await.expect("connect");
    let (lines, trace) = collector();
    c.set_trace(Some(trace));
    let mut out = Vec::new();
    c.retrieve("f", 0, None, &mut out, &mut |_| {})
        .await
        .expect("retrieve");
    assert_eq!(out, payload);
    let lines = lines.lock().expect("lock").clone();
    let noops = lines.iter().filter(|l| *l == "---> NOOP").count();
    assert!(noops >= 3, "{lines:?}");
    // The fake answers the NOOPs only after the 226: all consumed, the next reply is PWD's.
    assert_eq!(c.pwd().await.expect("pwd"), "/");
}

#[tokio::test]
async fn limit_with_a_server_that_waits_for_abor() {
    let f = fake(
        GREETING,
        Arc::new(|line: &str| {
            line.starts_with("RETR").then(|| Act::WaitForAbor {
                payload: vec![7u8; 100_000],
            })
        }),
    )
    .await;
    let mut o = opts(f.addr);
    o.io_timeout = Duration::from_millis(500);
    let mut c = Client::connect(o).await.expect("connect");
    let mut out = Vec::new();
    let n = c
        .retrieve("f", 0, Some(1000), &mut out, &mut |_| {})
        .await
        .expect("limited retrieve");
    assert_eq!((n, out.len()), (1000, 1000));
    assert!(f.seen.lock().expect("lock").contains(&"ABOR".to_string()));
    // 426 and 226 both consumed.
    assert_eq!(c.pwd().await.expect("pwd"), "/");
}

#[tokio::test]
async fn garbage_replies_are_protocol_errors() {
    let f = fake("hello, I am not FTP\r\n", Arc::new(|_: &str| None)).await;
    match Client::connect(opts(f.addr)).await {
        Err(ClientError::Protocol(msg)) => assert!(msg.contains("malformed"), "{msg}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }

    let f = fake(
        GREETING,
        Arc::new(|line: &str| match line {
            "PWD" => Some(Act::Reply("2xx what\r\n")),
            "CWD x" => Some(Act::Reply("250-start of a reply that never ends\r\n")),
            _ => None,
        }),
    )
    .await;
    let mut c = Client::connect(opts(f.addr)).await.expect("connect");
    assert!(matches!(c.pwd().await, Err(ClientError::Protocol(_))));
    // The session is now closed rather than out of step.
    match c.noop().await {
        Err(ClientError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotConnected),
        other => panic!("expected NotConnected, got {other:?}"),
    }

    let mut o = opts(f.addr);
    o.io_timeout = Duration::from_millis(300);
    let mut c = Client::connect(o).await.expect("connect");
    assert!(matches!(c.cwd("x").await, Err(ClientError::Timeout(_))));

    // A server that hangs up mid-session.
    let f = fake(
        GREETING,
        Arc::new(|line: &str| (line == "PWD").then_some(Act::Close)),
    )
    .await;
    let mut c = Client::connect(opts(f.addr)).await.expect("connect");
    let e = c.pwd().await.expect_err("closed");
    assert!(e.is_transient(), "{e:?}");

    // Binary noise and an over-long line.
    let f = fake(
        GREETING,
        Arc::new(|line: &str| match line {
            "PWD" => Some(Act::Reply("\u{1}\u{2}\u{3}\r\n")),
            _ => None,
        }),
    )
    .await;
    let mut c = Client::connect(opts(f.addr)).await.expect("connect");
    assert!(matches!(c.pwd().await, Err(ClientError::Protocol(_))));
    let long: &'static str = Box::leak(format!("220 {}\r\n", "x".repeat(20_000)).into_boxed_str());
    let f = fake(long, Arc::new(|_: &str| None)).await;
    assert!(matches!(
        Client::connect(opts(f.addr)).await,
        Err(ClientError::Protocol(_))
    ));
}

#[tokio::test]
async fn greetings_120_then_220_and_421() {
    let f = fake(
        "120 Ready in 1 minute\r\n220 Now ready\r\n",
        Arc::new(|_: &str| None),
    )
    .await;
    let c = Client::connect(opts(f.addr))
        .await
        .expect("connect after 120");
    assert_eq!(c.greeting().text(), "Now ready");

    let f = fake("421 Too many users\r\n", Arc::new(|_: &str| None)).await;
    match Client::connect(opts(f.addr)).await {
        Err(e @ ClientError::Rejected { .. }) => {
            assert_eq!(e.reply_code(), Some(421));
            assert!(e.is_transient());
        }
        other => panic!("expected Rejected 421, got {other:?}"),
    }

    // 332 without an account: LoginFailed; with one: ACCT is sent.
    let f = fake(
        GREETING,
        Arc::new(|line: &str| match line {
            "PASS pw" => Some(Act::Reply("332 Need account\r\n")),
            "ACCT acme" => Some(Act::Reply("230 Logged in with account\r\n")),
            _ => None,
        }),
    )
    .await;
    assert!(matches!(
        Client::connect(opts(f.addr)).await,
        Err(ClientError::LoginFailed(r)) if r.code.get() == 332
    ));
    let mut o = opts(f.addr);
    o.account = Some("acme".into());
    Client::connect(o).await.expect("login with ACCT");
}

#[tokio::test]
async fn interrupted_operation_poisons_the_session() {
    let f = fake(
        GREETING,
        Arc::new(|line: &str| {
            // Never answers CWD.
            line.starts_with("CWD").then_some(Act::Reply(""))
        }),
    )
    .await;
    let mut c = Client::connect(opts(f.addr)).await.expect("connect");
    let r = timeout(Duration::from_millis(200), c.cwd("slow")).await;
    assert!(r.is_err(), "the CWD future was dropped");
    match c.noop().await {
        Err(ClientError::Protocol(msg)) => assert!(msg.contains("out of step"), "{msg}"),
        other => panic!("expected out-of-step, got {other:?}"),
    }
}
