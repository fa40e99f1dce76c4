//! A tiny blocking FTP control client over `std::net::TcpStream` for hand-written exchanges.
//! Every read has a timeout and every loop is bounded.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Read timeout on control and data sockets.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest reply line accepted.
const MAX_LINE: u64 = 64 * 1024;
/// Most lines in one multi-line reply.
const MAX_LINES: usize = 10_000;

/// One FTP reply: the code and every line of text (with the code prefixes).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The full reply text, lines joined with `\n`.
    pub text: String,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why reading a reply gave nothing.
#[derive(Debug)]
pub enum ReadError {
    /// The server closed the connection (EOF or reset).
    Closed,
    /// Nothing arrived within the timeout.
    Timeout,
    /// A line that is not an FTP reply.
    Garbage(String),
}

/// A control connection.
pub struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// Every line sent and received, for failure messages.
    pub transcript: String,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    /// Connect and read the 220 greeting.
    pub fn connect(addr: SocketAddr) -> Control {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Control::from_stream(stream)
    }

    /// Connect from the loopback address `source` (e.g. 127.0.0.2, a client address only:
    /// nothing listens there) and read the 220 greeting.
    pub fn connect_from(source: IpAddr, addr: SocketAddr) -> Control {
        Control::from_stream(connect_from(source, addr))
    }

    /// Connect, send `prefix` first (a PROXY protocol header, say) and read the greeting.
    pub fn connect_with_prefix(addr: SocketAddr, prefix: &[u8]) -> Control {
        let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream
            .write_all(prefix)
            .unwrap_or_else(|e| panic!("send prefix to {addr}: {e}"));
        Control::from_stream(stream)
    }

    fn from_stream(stream: TcpStream) -> Control {
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let writer = stream.try_clone().expect("clone stream");
        let mut c = Control {
            reader: BufReader::new(stream),
            writer,
            transcript: String::new(),
        };
        let greeting = c.reply();
        assert_eq!(greeting.code, 220, "greeting: {greeting}");
        c
    }

    /// Connect, log in as `user`/`pass` and expect 230.
    pub fn login(addr: SocketAddr, user: &str, pass: &str) -> Control {
        let mut c = Control::connect(addr);
        c.expect(&format!("USER {user}"), &[331, 230]);
        c.expect(&format!("PASS {pass}"), &[230]);
        c
    }

    /// Set the read timeout of the control socket.
    pub fn set_timeout(&mut self, t: Duration) {
        self.writer.set_read_timeout(Some(t)).expect("timeout");
    }

    /// Send raw bytes (no CRLF added). Errors are returned (the peer may have closed).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.transcript.push_str(&format!(
            "C: {}\n",
            String::from_utf8_lossy(bytes).trim_end()
        ));
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Send `line` + CRLF, panicking on a write error.
    pub fn send(&mut self, line: &str) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        if let Err(e) = self.send_raw(&bytes) {
            panic!("send {line:?}: {e}\n{}", self.transcript);
        }
    }

    /// Read one (possibly multi-line) reply.
    pub fn try_reply(&mut self) -> Result<Reply, ReadError> {
        let first = self.line()?;
        let code = parse_code(&first).ok_or_else(|| ReadError::Garbage(first.clone()))?;
        let mut text = first.clone();
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            for _ in 0..MAX_LINES {
                let line = self.line()?;
                text.push('\n');
                text.push_str(&line);
                if line.starts_with(&end) || line == format!("{code}") {
                    return Ok(Reply { code, text });
                }
            }
            return Err(ReadError::Garbage(format!(
                "reply longer than {MAX_LINES} lines"
            )));
        }
        Ok(Reply { code, text })
    }

    /// Read one reply, panicking when there is none.
    pub fn reply(&mut self) -> Reply {
        match self.try_reply() {
            Ok(r) => r,
            Err(e) => panic!("no reply: {e:?}\ntranscript:\n{}", self.transcript),
        }
    }

    /// Send `line` and read its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send(line);
        self.reply()
    }

    /// Send `line` and panic unless the reply code is one of `codes`.
    pub fn expect(&mut self, line: &str, codes: &[u16]) -> Reply {
        let r = self.cmd(line);
        assert!(
            codes.contains(&r.code),
            "{line:?} -> {r}, expected one of {codes:?}\ntranscript:\n{}",
            self.transcript
        );
        r
    }

    /// Read a reply and panic unless its code is one of `codes`.
    pub fn expect_reply(&mut self, what: &str, codes: &[u16]) -> Reply {
        let r = self.reply();
        assert!(
            codes.contains(&r.code),
            "{what}: got {r}, expected one of {codes:?}\ntranscript:\n{}",
            self.transcript
        );
        r
    }

    /// PASV, returning the data address (host taken from the reply).
    pub fn pasv(&mut self) -> SocketAddr {
        let r = self.expect("PASV", &[227]);
        parse_pasv(&r.text).unwrap_or_else(|| panic!("cannot parse PASV reply {r}"))
    }

    /// EPSV, returning the data address on the control connection's peer IP.
    pub fn epsv(&mut self) -> SocketAddr {
        let r = self.expect("EPSV", &[229]);
        let port = parse_epsv(&r.text).unwrap_or_else(|| panic!("cannot parse EPSV reply {r}"));
        SocketAddr::new(self.peer_ip(), port)
    }

    /// The server's IP as seen on this connection.
    pub fn peer_ip(&self) -> IpAddr {
        self.writer.peer_addr().expect("peer addr").ip()
    }

    /// Our own IP on this connection.
    pub fn local_ip(&self) -> IpAddr {
        self.writer.local_addr().expect("local addr").ip()
    }

    /// Whether the server has closed the connection: waits up to `wait` for EOF/reset,
    /// discarding any replies that arrive meanwhile (bounded).
    pub fn is_closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        self.set_timeout(Duration::from_millis(200));
        for _ in 0..10_000 {
            match self.line() {
                Err(ReadError::Closed) => return true,
                Err(ReadError::Timeout) | Ok(_) | Err(ReadError::Garbage(_)) => {}
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        self.set_timeout(IO_TIMEOUT);
        false
    }

    /// Close both directions abruptly (no QUIT).
    pub fn drop_now(self) {
        let _ = self.writer.shutdown(Shutdown::Both);
    }

    fn line(&mut self) -> Result<String, ReadError> {
        let mut buf = Vec::new();
        let r = (&mut self.reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf);
        match r {
            Ok(0) => Err(ReadError::Closed),
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned();
                self.transcript.push_str(&format!("S: {line}\n"));
                Ok(line)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if buf.is_empty() {
                    Err(ReadError::Timeout)
                } else {
                    Err(ReadError::Garbage(
                        String::from_utf8_lossy(&buf).into_owned(),
                    ))
                }
            }
            Err(_) => Err(ReadError::Closed),
        }
    }
}

fn parse_code(line: &str) -> Option<u16> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match line.as_bytes().get(3) {
        None | Some(b' ') | Some(b'-') => digits.parse().ok(),
        Some(_) => None,
    }
}

/// Parse the `h1,h2,h3,h4,p1,p2` of a 227 reply.
pub fn parse_pasv(text: &str) -> Option<SocketAddr> {
    let start = text.find('(')?;
    let end = text[start..].find(')')? + start;
    let nums: Vec<u8> = text[start + 1..end]
        .split(',')
        .map(|n| n.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    if nums.len() != 6 {
        return None;
    }
    let ip = Ipv4Addr::new(nums[0], nums[1], nums[2], nums[3]);
    let port = u16::from(nums[4]) * 256 + u16::from(nums[5]);
    Some(SocketAddr::new(IpAddr::V4(ip), port))
}

/// Parse the port of a 229 `(|||port|)` reply.
pub fn parse_epsv(text: &str) -> Option<u16> {
    let start = text.find("(|||")? + 4;
    let end = text[start..].find('|')? + start;
    text[start..end].parse().ok()
}

/// A TCP connection to `addr` from the local address `source` (port chosen by the OS).
pub fn connect_from(source: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .expect("socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .unwrap_or_else(|e| panic!("bind client socket to {source}: {e}"));
    socket
        .connect_timeout(&addr.into(), IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect from {source} to {addr}: {e}"));
    socket.into()
}

/// Open a data connection to `addr`.
pub fn data_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("data connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s
}

/// Read a data connection to EOF (bounded by `max` bytes and the socket timeout).
pub fn read_all(mut s: TcpStream, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = (&mut s).take(max as u64).read_to_end(&mut out);
    out
}
