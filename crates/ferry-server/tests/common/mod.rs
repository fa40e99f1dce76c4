//! A scripted raw FTP control client for the in-process server tests (every wait bounded).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The longest wait of any single step.
pub const STEP: Duration = Duration::from_secs(10);

/// A control connection.
pub struct Client {
    /// The read half, buffered for lines.
    pub rd: BufReader<tokio::net::tcp::OwnedReadHalf>,
    /// The write half.
    pub wr: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    /// Connects and reads the 220 greeting.
    pub async fn connect(addr: SocketAddr) -> Client {
        let s = timeout(STEP, TcpStream::connect(addr))
            .await
            .expect("in time")
            .expect("connect");
        let (rd, wr) = s.into_split();
        let mut c = Client {
            rd: BufReader::new(rd),
            wr,
        };
        assert_eq!(c.reply().await.0, 220);
        c
    }

    /// Connects and logs in as `user` with `pass`.
    pub async fn login_as(addr: SocketAddr, user: &str, pass: &str) -> Client {
        let mut c = Client::connect(addr).await;
        assert_eq!(c.cmd(&format!("USER {user}")).await.0, 331);
        assert_eq!(c.cmd(&format!("PASS {pass}")).await.0, 230);
        c
    }

    /// Reads one (possibly multi-line) reply: code and last line.
    pub async fn reply(&mut self) -> (u16, String) {
        let mut first: Option<String> = None;
        for _ in 0..10_000 {
            let mut line = String::new();
            let n = timeout(STEP, self.rd.read_line(&mut line))
                .await
                .expect("reply in time")
                .expect("read");
            assert!(n > 0, "connection closed while waiting for a reply");
            let code = first.get_or_insert_with(|| line[..3].to_string()).clone();
            if line.len() >= 4 && line.starts_with(&code) && &line[3..4] == " " {
                return (code.parse().expect("code"), line.trim_end().to_string());
            }
        }
        panic!("reply too long");
    }

    /// Sends a command line and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.wr
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("send");
        self.reply().await
    }

    /// EPSV: the data port announced.
    pub async fn epsv_port(&mut self) -> u16 {
        let (code, text) = self.cmd("EPSV").await;
        assert_eq!(code, 229, "{text}");
        let inner = text.split("(|||").nth(1).expect("port");
        inner
            .trim_end_matches([')', '|'])
            .parse()
            .expect("port number")
    }

    /// True when the server closes the connection within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let mut buf = String::new();
        matches!(timeout(wait, self.rd.read_line(&mut buf)).await, Ok(Ok(0)))
    }
}
