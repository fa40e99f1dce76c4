//! PROXY protocol (v1 text and v2 binary) on connections from trusted proxies.
//!
//! The header is parsed by [`ferry_proto::proxy`]; this module only moves bytes. It reads
//! exactly the header's bytes and no more, so the first FTP byte after it (a data upload's
//! first byte on a passive connection, say) stays in the socket for the session:
//!
//! 1. peek at what has arrived (without consuming it) and parse the header bytes already
//!    taken plus the peeked ones;
//! 2. a whole header: consume just its remaining bytes, done;
//! 3. still incomplete: every peeked byte belongs to the header, so consume them all (the
//!    next peek then waits for new bytes rather than spinning) and go back to 1.
//!
//! Each round consumes at least one byte and the header is at most
//! [`MAX_HEADER_LEN`] bytes, so the loop is bounded; the caller bounds it in time.
//! Connections from addresses outside the trusted list are never inspected.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferry_proto::proxy::{parse, Parsed, ProxyHeader, Version, MAX_HEADER_LEN};
use ferry_proto::server::canonical_ip;
use ipnet::IpNet;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tracing::debug;

/// Whether `ip` is one of the `trusted` proxies (IPv4-mapped IPv6 counts as IPv4).
pub(crate) fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical_ip(ip);
    trusted.iter().any(|n| n.contains(&ip))
}

/// The client address of a connection accepted from `from`: when `from` is one of the
/// `trusted` proxies, the address its PROXY header gives (`(client, true)`); otherwise
/// `from` itself (`(from, false)`). A trusted proxy that sends no valid header within
/// `wait` is an error (the connection is then closed without a greeting).
pub(crate) async fn client_address(
    stream: &mut TcpStream,
    from: SocketAddr,
    trusted: &[IpNet],
    wait: Duration,
) -> io::Result<(SocketAddr, bool)> {
    if !is_trusted(from.ip(), trusted) {
        return Ok((from, false));
    }
    let (header, version) = read_header_within(stream, wait).await?;
    let client = header.client_or(from);
    debug!(proxy = %from, %client, ?version, ?header, "PROXY header");
    Ok((client, true))
}

/// [`read_header`] bounded by `wait`.
pub(crate) async fn read_header_within(
    stream: &mut TcpStream,
    wait: Duration,
) -> io::Result<(ProxyHeader, Version)> {
    match tokio::time::timeout(wait, read_header(stream)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no complete PROXY header in time",
        )),
    }
}

/// Reads one PROXY header from `stream`, consuming exactly its bytes.
pub(crate) async fn read_header(stream: &mut TcpStream) -> io::Result<(ProxyHeader, Version)> {
    let mut buf = vec![0u8; MAX_HEADER_LEN];
    // `buf[..taken]`: header bytes already consumed from the socket.
    let mut taken = 0usize;
    loop {
        let room = buf.get_mut(taken..).unwrap_or_default();
        if room.is_empty() {
            // Unreachable with a correct parser (it refuses longer headers first).
            return Err(invalid("PROXY header too long"));
        }
        let peeked = stream.peek(room).await?;
        if peeked == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the PROXY header",
            ));
        }
        let seen = taken + peeked;
        let parsed = parse(buf.get(..seen).unwrap_or_default())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // How many bytes the header still owns beyond `taken`.
        let (upto, result) = match parsed {
            Parsed::Done {
                header,
                version,
                consumed,
            } => (consumed, Some((header, version))),
            Parsed::Incomplete => (seen, None),
        };
        let Some(rest) = buf.get_mut(taken..upto) else {
            return Err(invalid("PROXY header parser went backwards"));
        };
        stream.read_exact(rest).await?;
        taken = upto;
        if let Some(done) = result {
            return Ok(done);
        }
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A connected pair on loopback: (client side, server side, client address).
    async fn pair() -> (TcpStream, TcpStream, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, from) = l.accept().await.unwrap();
        (client, server, from)
    }

    fn loopback() -> Vec<IpNet> {
        vec!["127.0.0.0/8".parse().unwrap()]
    }

    const WAIT: Duration = Duration::from_secs(10);

    async fn rest(server: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        server.read_exact(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn untrusted_bytes_are_not_touched() {
        let (mut c, mut s, from) = pair().await;
        c.write_all(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n")
            .await
            .unwrap();
        let other: Vec<IpNet> = vec!["192.0.2.0/24".parse().unwrap()];
        let got = client_address(&mut s, from, &other, WAIT).await.unwrap();
        assert_eq!(got, (from, false));
        assert_eq!(rest(&mut s, 6).await, b"PROXY ");
    }

    #[tokio::test]
    async fn v1_then_ftp_bytes_stay() {
        let (mut c, mut s, from) = pair().await;
        c.write_all(b"PROXY TCP4 192.0.2.1 192.0.2.2 4000 21\r\nUSER x\r\n")
            .await
            .unwrap();
        let got = client_address(&mut s, from, &loopback(), WAIT)
            .await
            .unwrap();
        assert_eq!(got, ("192.0.2.1:4000".parse().unwrap(), true));
        assert_eq!(rest(&mut s, 8).await, b"USER x\r\n");
    }

    #[tokio::test]
    async fn dripped_v2_header_is_assembled() {
        let (mut c, mut s, from) = pair().await;
        let mut hdr = ferry_proto::proxy::V2_SIGNATURE.to_vec();
        hdr.extend_from_slice(&[
            0x21, 0x11, 0, 12, 10, 1, 2, 3, 10, 9, 9, 9, 0x1f, 0x90, 0, 21,
        ]);
        hdr.extend_from_slice(b"DATA");
        let writer = tokio::spawn(async move {
            for b in hdr {
                c.write_all(&[b]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            c
        });
        let got = client_address(&mut s, from, &loopback(), WAIT)
            .await
            .unwrap();
        assert_eq!(got, ("10.1.2.3:8080".parse().unwrap(), true));
        let _c = writer.await.unwrap();
        assert_eq!(rest(&mut s, 4).await, b"DATA");
    }

    #[tokio::test]
    async fn local_keeps_the_connection_address() {
        let (mut c, mut s, from) = pair().await;
        let mut hdr = ferry_proto::proxy::V2_SIGNATURE.to_vec();
        hdr.extend_from_slice(&[0x20, 0x00, 0, 0]);
        c.write_all(&hdr).await.unwrap();
        let got = client_address(&mut s, from, &loopback(), WAIT)
            .await
            .unwrap();
        assert_eq!(got, (from, true));
    }

    #[tokio::test]
    async fn garbage_eof_and_silence_are_errors() {
        let (mut c, mut s, from) = pair().await;
        c.write_all(b"USER anonymous\r\n").await.unwrap();
        let e = client_address(&mut s, from, &loopback(), WAIT)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);

        let (mut c, mut s, from) = pair().await;
        c.write_all(b"PROXY TCP4 1.2").await.unwrap();
        drop(c);
        let e = client_address(&mut s, from, &loopback(), WAIT)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);

        let (_c, mut s, from) = pair().await;
        let e = client_address(&mut s, from, &loopback(), Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
