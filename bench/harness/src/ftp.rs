//! A small blocking FTP/FTPS client for the measurements: one control connection, EPSV data
//! connections, plain or TLS (rustls, session resumption on data connections). Replies are
//! parsed by `ferry_proto::reply::ReplyParser`, the same parser Ferry's client uses.
//!
//! It is written for speed and predictability, not for general use: no retries, no
//! listing parsing, every wait bounded by socket timeouts.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use ferry_proto::reply::{Reply, ReplyParser};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// Longest control line accepted from a server.
const MAX_LINE: usize = 16 * 1024;
/// Size of the buffer data connections are read into.
pub const DATA_BUF: usize = 256 * 1024;

/// A TCP connection, plain or wrapped in TLS.
pub enum Conn {
    /// Cleartext.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    /// Close: TLS close_notify first, then drain what the server still sends (TLS session
    /// tickets on uploads) so that the close does not become a reset, then drop.
    pub fn finish(self) -> Result<()> {
        match self {
            Conn::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
                drain(s)
            }
            Conn::Tls(mut s) => {
                s.conn.send_close_notify();
                s.flush()?;
                let _ = s.sock.shutdown(std::net::Shutdown::Write);
                let mut buf = [0u8; 4096];
                for _ in 0..10_000 {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(())
            }
        }
    }
}

fn drain(mut s: TcpStream) -> Result<()> {
    let mut buf = [0u8; 4096];
    for _ in 0..10_000 {
        match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A TLS client configuration that accepts any server certificate (the servers under test
/// use throwaway self-signed certificates on loopback) and resumes sessions, so data
/// connections reuse the control connection's session as vsftpd and proftpd expect.
pub fn tls_config() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(ferry_client::accept_any_certificate(provider))
                .with_no_client_auth()
        })
        .unwrap_or_else(|e| panic!("rustls defaults: {e}"));
    config.enable_sni = false;
    Arc::new(config)
}

/// One control connection.
pub struct Control {
    conn: Option<Conn>,
    host: IpAddr,
    buf: Vec<u8>,
    parser: ReplyParser,
    tls: Option<Arc<ClientConfig>>,
    /// Whether data connections are protected (PROT P).
    prot_p: bool,
    /// The read and write timeout of the control connection.
    timeout: Duration,
}

/// Socket timeouts of every connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

impl Control {
    /// Connect to `addr` (from `source` when given) and read the greeting.
    pub fn connect(addr: SocketAddr, source: Option<Ipv4Addr>, timeout: Duration) -> Result<Self> {
        let tcp = match source {
            None => TcpStream::connect_timeout(&addr, timeout),
            Some(ip) => connect_from(addr, ip, timeout),
        }
        .with_context(|| format!("connect to {addr}"))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let mut c = Control {
            conn: Some(Conn::Plain(tcp)),
            host: addr.ip(),
            buf: Vec::with_capacity(512),
            parser: ReplyParser::new(),
            tls: None,
            prot_p: false,
            timeout,
        };
        let greeting = c.reply()?;
        if greeting.code.get() != 220 {
            bail!("greeting {}", show(&greeting));
        }
        Ok(c)
    }

    fn conn(&mut self) -> Result<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| anyhow!("control connection closed"))
    }

    /// Read one whole reply.
    pub fn reply(&mut self) -> Result<Reply> {
        loop {
            while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if let Some(reply) = self.parser.push_line(&line)? {
                    return Ok(reply);
                }
            }
            if self.buf.len() > MAX_LINE {
                bail!("control line longer than {MAX_LINE} bytes");
            }
            let mut chunk = [0u8; 4096];
            let n = match self.conn()?.read(&mut chunk) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    bail!("no reply within {:?} (read timeout)", self.timeout)
                }
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                bail!("control connection closed by the server");
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// Send one command line.
    pub fn send(&mut self, line: &str) -> Result<()> {
        let conn = self.conn()?;
        let mut out = Vec::with_capacity(line.len() + 2);
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        conn.write_all(&out)?;
        conn.flush()?;
        Ok(())
    }

    /// Send a command and read its final reply (skipping 1xx).
    pub fn cmd(&mut self, line: &str) -> Result<Reply> {
        self.send(line)?;
        loop {
            let r = self.reply()?;
            if r.code.get() >= 200 {
                return Ok(r);
            }
        }
    }

    /// Send a command and require a reply code in `ok`.
    pub fn expect(&mut self, line: &str, ok: &[u16]) -> Result<Reply> {
        let r = self.cmd(line)?;
        if !ok.contains(&r.code.get()) {
            bail!("{}: {}", redact(line), show(&r));
        }
        Ok(r)
    }

    /// AUTH TLS and wrap the control connection (before login).
    pub fn auth_tls(&mut self, config: Arc<ClientConfig>) -> Result<()> {
        self.expect("AUTH TLS", &[234])?;
        if !self.buf.is_empty() {
            bail!("data after the 234 reply");
        }
        let Some(Conn::Plain(tcp)) = self.conn.take() else {
            bail!("AUTH TLS twice");
        };
        self.conn = Some(handshake(&config, self.host, tcp).context("TLS handshake")?);
        self.tls = Some(config);
        Ok(())
    }

    /// USER and PASS (and PBSZ 0 + PROT P after AUTH TLS), then TYPE I.
    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let r = self.expect(&format!("USER {user}"), &[230, 331])?;
        if r.code.get() == 331 {
            self.send(&format!("PASS {password}"))?;
            let r = self.reply()?;
            if r.code.get() != 230 {
                bail!("PASS: {}", show(&r));
            }
        }
        if self.tls.is_some() {
            self.expect("PBSZ 0", &[200])?;
            self.expect("PROT P", &[200])?;
            self.prot_p = true;
        }
        self.expect("TYPE I", &[200])?;
        Ok(())
    }

    /// EPSV and connect the data connection (TLS handshake after the preliminary reply is
    /// left to [`Control::open_data`]'s caller through [`Control::protect`]).
    pub fn epsv_connect(&mut self) -> Result<TcpStream> {
        let r = self.expect("EPSV", &[229])?;
        let port = ferry_proto::addr::parse_epsv_reply(&r.text())
            .map_err(|e| anyhow!("EPSV reply {}: {e}", show(&r)))?;
        let tcp = TcpStream::connect_timeout(&SocketAddr::new(self.host, port), IO_TIMEOUT)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(tcp)
    }

    /// Wrap a data connection in TLS when PROT P is on (handshake done at once).
    pub fn protect(&self, tcp: TcpStream) -> Result<Conn> {
        match (&self.tls, self.prot_p) {
            (Some(config), true) => handshake(config, self.host, tcp).context("data TLS handshake"),
            _ => Ok(Conn::Plain(tcp)),
        }
    }

    /// Open a data connection for `line` (RETR, STOR, LIST, MLSD): EPSV, connect, send the
    /// command, require a 1xx, wrap in TLS when protected.
    pub fn open_data(&mut self, line: &str) -> Result<Conn> {
        let tcp = self.epsv_connect()?;
        self.send(line)?;
        let r = self.reply()?;
        if r.code.get() >= 200 {
            bail!("{line}: {}", show(&r));
        }
        self.protect(tcp)
    }

    /// The final reply of a transfer (226/250).
    pub fn finish_transfer(&mut self, what: &str) -> Result<()> {
        let r = self.reply()?;
        if !matches!(r.code.get(), 226 | 250) {
            bail!("{what}: {}", show(&r));
        }
        Ok(())
    }

    /// Download `path`, discarding the bytes into `buf`; returns the byte count.
    pub fn retr(&mut self, path: &str, buf: &mut [u8]) -> Result<u64> {
        let mut data = self.open_data(&format!("RETR {path}"))?;
        let n = read_all(&mut data, buf)?;
        data.finish()?;
        self.finish_transfer(&format!("RETR {path}"))?;
        Ok(n)
    }

    /// Upload the file `source` to `path` (sendfile on plain connections, 256 KiB writes
    /// on TLS ones); returns the byte count.
    pub fn stor(&mut self, path: &str, source: &mut std::fs::File) -> Result<u64> {
        let mut data = self.open_data(&format!("STOR {path}"))?;
        let n = match &mut data {
            Conn::Plain(tcp) => send_file(tcp, source)?,
            Conn::Tls(tls) => {
                let mut buf = vec![0u8; DATA_BUF];
                let mut total = 0u64;
                loop {
                    let n = source.read(&mut buf)?;
                    if n == 0 {
                        break total;
                    }
                    tls.write_all(buf.get(..n).unwrap_or_default())?;
                    total += n as u64;
                }
            }
        };
        data.finish()?;
        self.finish_transfer(&format!("STOR {path}"))?;
        Ok(n)
    }

    /// Upload `bytes` to `path`.
    pub fn stor_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let mut data = self.open_data(&format!("STOR {path}"))?;
        data.write_all(bytes)?;
        data.finish()?;
        self.finish_transfer(&format!("STOR {path}"))
    }

    /// A listing command (`LIST dir`, `MLSD dir`): returns the bytes and lines received.
    pub fn listing(&mut self, line: &str, buf: &mut [u8]) -> Result<(u64, u64)> {
        let mut data = self.open_data(line)?;
        let mut bytes = 0u64;
        let mut lines = 0u64;
        loop {
            let n = match data.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.into()),
            };
            bytes += n as u64;
            lines += buf
                .get(..n)
                .unwrap_or_default()
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
        }
        data.finish()?;
        self.finish_transfer(line)?;
        Ok((bytes, lines))
    }

    /// QUIT (the 221 is awaited).
    pub fn quit(mut self) -> Result<()> {
        self.expect("QUIT", &[221])?;
        if let Some(conn) = self.conn.take() {
            let _ = conn.finish();
        }
        Ok(())
    }
}

/// Sends the rest of `file` with sendfile(2) on the socket made non-blocking, `chunk`
/// bytes per call, waiting with poll(2) whenever the socket is full: the way an
/// event-driven server sends (the loopback ceiling's sender). Returns the byte count.
pub fn send_file_polled(sock: &TcpStream, file: &std::fs::File, chunk: usize) -> io::Result<u64> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    sock.set_nonblocking(true)?;
    let wait = Timespec {
        tv_sec: IO_TIMEOUT.as_secs() as i64,
        tv_nsec: 0,
    };
    let mut total = 0u64;
    loop {
        match rustix::fs::sendfile(sock, file, None, chunk) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                let mut fds = [PollFd::new(sock, PollFlags::OUT)];
                if poll(&mut fds, Some(&wait))? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "socket stayed full",
                    ));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Send the rest of `file` with sendfile(2) (std's copy does not use it for sockets);
/// returns the byte count.
pub fn send_file(sock: &TcpStream, file: &std::fs::File) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match rustix::fs::sendfile(sock, file, None, 1 << 30) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A TLS client handshake on `tcp` (resuming a session of `config` when it has one).
fn handshake(config: &Arc<ClientConfig>, host: IpAddr, tcp: TcpStream) -> Result<Conn> {
    let conn = ClientConnection::new(Arc::clone(config), ServerName::IpAddress(host.into()))?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(Conn::Tls(Box::new(stream)))
}

/// Read until EOF into `buf` (overwritten), returning the count.
pub fn read_all(r: &mut impl Read, buf: &mut [u8]) -> Result<u64> {
    let mut total = 0u64;
    loop {
        match r.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(total),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Connect from a chosen loopback source address (for more than one ephemeral port range's
/// worth of connections to one server).
fn connect_from(addr: SocketAddr, source: Ipv4Addr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(IpAddr::V4(source), 0).into())?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

/// A reply on one line, for messages.
pub fn show(r: &Reply) -> String {
    format!("{} {}", r.code.get(), r.lines.join(" | "))
}

/// A command for messages, with the password hidden.
fn redact(line: &str) -> &str {
    if line.len() >= 4
        && line
            .get(..4)
            .is_some_and(|v| v.eq_ignore_ascii_case("PASS"))
    {
        "PASS ****"
    } else {
        line
    }
}
