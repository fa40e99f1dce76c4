//! Plain and TLS byte streams for the control and data connections.
//!
//! - [`ControlRead`] / [`ControlWrite`]: the two halves of a control connection, in
//!   cleartext (owned TCP halves) or under TLS (halves of one `tokio_rustls` stream).
//!   [`upgrade`] turns cleartext halves into TLS ones (AUTH TLS), [`downgrade`] goes back
//!   (CCC) after exchanging close_notify.
//! - [`DataStream`]: a data connection, plain (eligible for `sendfile`) or TLS, possibly
//!   wrapped for MODE Z ([`DataStream::deflate`], [`DataStream::inflate`]).
//!
//! Shutting down a TLS writer sends close_notify before the TCP FIN, so clients can tell a
//! complete transfer from a cut one; reading a TLS stream that ends without close_notify is
//! an `UnexpectedEof` error, which makes such an upload incomplete.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_compression::tokio::bufread::ZlibDecoder;
use async_compression::tokio::write::ZlibEncoder;
use async_compression::Level;
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, Interest, ReadBuf, ReadHalf,
    WriteHalf,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The reading half of a control connection.
pub enum ControlRead {
    /// Cleartext.
    Plain(OwnedReadHalf),
    /// TLS.
    Tls(ReadHalf<TlsStream<TcpStream>>),
    /// Taken away during an upgrade or downgrade.
    Gone,
}

/// The writing half of a control connection.
pub enum ControlWrite {
    /// Cleartext.
    Plain(OwnedWriteHalf),
    /// TLS.
    Tls(WriteHalf<TlsStream<TcpStream>>),
    /// Taken away during an upgrade or downgrade.
    Gone,
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "control connection unavailable",
    )
}

impl ControlRead {
    /// Waits until a cleartext control connection has something to read (or is closed),
    /// without holding a buffer: an idle session then costs no read buffer. Under TLS (whose
    /// streams keep their own buffers) this returns at once. Cancel-safe.
    pub async fn ready(&self) -> io::Result<()> {
        match self {
            ControlRead::Plain(rd) => {
                let stream: &TcpStream = rd.as_ref();
                stream.readable().await
            }
            ControlRead::Tls(_) => Ok(()),
            ControlRead::Gone => Err(gone()),
        }
    }

    /// One read into `buf`.
    ///
    /// In cleartext this is not `AsyncRead::read`: tokio treats a short read as "socket
    /// drained" and waits for the next readiness edge, but Linux ends a read early at a TCP
    /// urgent mark (Python ftplib sends `ABOR\r\n` with MSG_OOB), so the rest of that line
    /// would wait for the client's next packet. Here readiness is only cleared by a real
    /// `EAGAIN`. (Under TLS, clients do not send urgent data.)
    pub async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ControlRead::Plain(rd) => {
                let stream: &TcpStream = rd.as_ref();
                loop {
                    stream.readable().await?;
                    let r = stream.try_io(Interest::READABLE, || {
                        rustix::net::recv(stream, &mut *buf, rustix::net::RecvFlags::DONTWAIT)
                            .map(|(n, _)| n)
                            .map_err(io::Error::from)
                    });
                    match r {
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
            ControlRead::Tls(rd) => rd.read(buf).await,
            ControlRead::Gone => Err(gone()),
        }
    }
}

impl AsyncWrite for ControlWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ControlWrite::Plain(w) => Pin::new(w).poll_write(cx, buf),
            ControlWrite::Tls(w) => Pin::new(w).poll_write(cx, buf),
            ControlWrite::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ControlWrite::Plain(w) => Pin::new(w).poll_flush(cx),
            ControlWrite::Tls(w) => Pin::new(w).poll_flush(cx),
            ControlWrite::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ControlWrite::Plain(w) => Pin::new(w).poll_shutdown(cx),
            ControlWrite::Tls(w) => Pin::new(w).poll_shutdown(cx),
            ControlWrite::Gone => Poll::Ready(Err(gone())),
        }
    }
}

/// Splits an established TLS control connection.
pub fn split_tls(tls: TlsStream<TcpStream>) -> (ControlRead, ControlWrite) {
    let (r, w) = tokio::io::split(tls);
    (ControlRead::Tls(r), ControlWrite::Tls(w))
}

/// A control connection that completed its TLS handshake.
pub struct SecuredControl {
    /// The TLS stream.
    pub tls: TlsStream<TcpStream>,
    /// The subject of the client's verified certificate, if it sent one.
    pub client_subject: Option<String>,
}

/// Runs the server side of a TLS handshake on a control connection, with a configuration
/// from [`crate::tls::TlsContext::traced_control_config`] so that data connections can
/// later prove they resumed this connection's session.
pub async fn accept_control(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    wait: Duration,
) -> io::Result<SecuredControl> {
    let accept = TlsAcceptor::from(config).accept(tcp);
    let tls = tokio::time::timeout(wait, accept)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    let client_subject = crate::tls::TlsContext::client_subject(tls.get_ref().1);
    Ok(SecuredControl {
        tls,
        client_subject,
    })
}

/// Upgrades cleartext control halves to TLS (AUTH TLS).
pub async fn upgrade(
    rd: ControlRead,
    wr: ControlWrite,
    config: Arc<rustls::ServerConfig>,
    wait: Duration,
) -> io::Result<(ControlRead, ControlWrite, Option<String>)> {
    let (ControlRead::Plain(rd), ControlWrite::Plain(wr)) = (rd, wr) else {
        return Err(io::Error::other("control connection is not in cleartext"));
    };
    let tcp = rd
        .reunite(wr)
        .map_err(|_| io::Error::other("control halves do not match"))?;
    let secured = accept_control(tcp, config, wait).await?;
    let (r, w) = split_tls(secured.tls);
    Ok((r, w, secured.client_subject))
}

/// Ends TLS on the control connection (CCC): sends close_notify, waits (bounded) for the
/// client's, and returns cleartext halves.
pub async fn downgrade(
    rd: ControlRead,
    wr: ControlWrite,
    wait: Duration,
) -> io::Result<(ControlRead, ControlWrite)> {
    let (ControlRead::Tls(rd), ControlWrite::Tls(wr)) = (rd, wr) else {
        return Err(io::Error::other("control connection is not under TLS"));
    };
    let mut tls = rd.unsplit(wr);
    tls.get_mut().1.send_close_notify();
    tls.flush().await?;
    // Wait for the client's close_notify, reading whole TLS records straight from TCP: the
    // client may send its next command in cleartext right behind it, in the same segment,
    // and a buffered TLS read would swallow (and then drop) those bytes.
    let (tcp, conn) = tls.get_mut();
    tokio::time::timeout(wait, read_close_notify(tcp, conn))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no close_notify after CCC"))??;
    let (tcp, _) = tls.into_inner();
    let (r, w) = tcp.into_split();
    Ok((ControlRead::Plain(r), ControlWrite::Plain(w)))
}

/// Largest TLS record read while waiting for close_notify (a ciphertext record's limit).
const MAX_RECORD: usize = 16384 + 2048;

/// Reads TLS records one at a time (header, then exactly its length) until the peer's
/// close_notify; application data before it is an error. Never reads past the record that
/// holds the close_notify.
async fn read_close_notify(
    tcp: &mut TcpStream,
    conn: &mut rustls::ServerConnection,
) -> io::Result<()> {
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let check = |conn: &mut rustls::ServerConnection| -> io::Result<bool> {
        let state = conn
            .process_new_packets()
            .map_err(|e| invalid(format!("TLS error after CCC: {e}")))?;
        if state.plaintext_bytes_to_read() > 0 {
            return Err(invalid("data after CCC before close_notify".into()));
        }
        Ok(state.peer_has_closed())
    };
    // Records read earlier (a close_notify sent right behind the CCC line).
    if check(conn)? {
        return Ok(());
    }
    for _ in 0..16 {
        let mut header = [0u8; 5];
        tcp.read_exact(&mut header).await?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len > MAX_RECORD {
            return Err(invalid(format!("TLS record of {len} bytes after CCC")));
        }
        let mut record = vec![0u8; 5 + len];
        record
            .get_mut(..5)
            .ok_or_else(|| invalid("record".into()))?
            .copy_from_slice(&header);
        tcp.read_exact(record.get_mut(5..).unwrap_or_default())
            .await?;
        let mut rest = record.as_slice();
        while !rest.is_empty() {
            if conn.read_tls(&mut rest)? == 0 {
                break;
            }
        }
        if check(conn)? {
            return Ok(());
        }
    }
    Err(invalid("no close_notify in the records after CCC".into()))
}

/// A data connection.
pub enum DataStream {
    /// Cleartext.
    Plain(TcpStream),
    /// TLS (PROT P).
    Tls(Box<TlsStream<TcpStream>>),
    /// MODE Z, sending: what is written goes out as one zlib stream (RFC 1950), which
    /// shutting down finishes. Write-only.
    Deflate(Box<ZlibEncoder<DataStream>>),
    /// MODE Z, receiving: reads give the inflated data (at most the buffer asked for, so
    /// memory stays bounded whatever the ratio) up to the end of the zlib stream; a
    /// connection that ends before it is an `UnexpectedEof` error. Read-only.
    Inflate(Box<ZlibDecoder<BufReader<DataStream>>>),
}

/// Input buffer of the MODE Z inflater (compressed bytes read ahead).
const INFLATE_INPUT: usize = 16 * 1024;

fn wrong_way() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "MODE Z data connection used in the wrong direction",
    )
}

impl DataStream {
    /// The TCP stream when in cleartext (for `sendfile`).
    pub fn as_plain(&self) -> Option<&TcpStream> {
        match self {
            DataStream::Plain(s) => Some(s),
            DataStream::Tls(_) | DataStream::Deflate(_) | DataStream::Inflate(_) => None,
        }
    }

    /// MODE Z for sending: compresses at `level` (0-9).
    pub fn deflate(self, level: u8) -> DataStream {
        let level = Level::Precise(i32::from(level.min(9)));
        DataStream::Deflate(Box::new(ZlibEncoder::with_quality(self, level)))
    }

    /// MODE Z for receiving: inflates.
    pub fn inflate(self) -> DataStream {
        let input = BufReader::with_capacity(INFLATE_INPUT, self);
        DataStream::Inflate(Box::new(ZlibDecoder::new(input)))
    }
}

impl AsyncRead for DataStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            DataStream::Inflate(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            DataStream::Deflate(_) => Poll::Ready(Err(wrong_way())),
        }
    }
}

impl AsyncWrite for DataStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            DataStream::Deflate(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            DataStream::Inflate(_) => Poll::Ready(Err(wrong_way())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_flush(cx),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            DataStream::Deflate(s) => Pin::new(s.as_mut()).poll_flush(cx),
            DataStream::Inflate(s) => Pin::new(s.get_mut().get_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            // Finishes the zlib stream, then shuts the connection down.
            DataStream::Deflate(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            DataStream::Inflate(s) => Pin::new(s.get_mut().get_mut()).poll_shutdown(cx),
        }
    }
}

/// A ticketer that never issues tickets (session reuse `off`).
#[derive(Debug)]
struct NoTickets;

impl rustls::server::ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// A copy of `config` that offers no session resumption at all.
pub fn without_resumption(config: &rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    let mut c = config.clone();
    c.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    c.ticketer = Arc::new(NoTickets);
    c.send_tls13_tickets = 0;
    Arc::new(c)
}

/// Why a TLS data connection is refused under session reuse `require`, if it is: `trace`
/// is the data connection's [`crate::tls::SessionTrace`] after its handshake.
pub fn reuse_refusal(trace: &crate::tls::SessionTrace) -> Option<String> {
    if !trace.resumed() {
        return Some(
            "session reuse required: the data connection must resume the control \
             connection's TLS session, but it did a full handshake (pass the control \
             connection's session to the data connection)"
                .to_string(),
        );
    }
    if !trace.resumed_control_session() {
        return Some(
            "session reuse required: the data connection resumed a TLS session that is not \
             this control connection's"
                .to_string(),
        );
    }
    None
}
