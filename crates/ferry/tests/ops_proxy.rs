//! PROXY protocol (v1 and v2) on the control and passive data connections: hand-written
//! headers from a trusted address (127.0.0.1), untrusted senders, garbage, passive
//! transfers through the proxy path (and PASV theft through it), then a real HAProxy with
//! `send-proxy` and `send-proxy-v2` in front of `ferry serve`.
//!
//! Everything is on loopback. To prove the header is used, the real client claimed by the
//! header differs from the TCP peer: hand-written headers name 203.0.113.9, 2001:db8::9 or
//! 127.0.0.2; behind HAProxy the client connects to HAProxy from 127.0.0.2 (ftplib) or
//! 127.0.0.3 (curl) while HAProxy reaches Ferry from 127.0.0.1.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::raw::{self, Control, IO_TIMEOUT};
use support::{program, run, sha256_bytes, Server, PASS, USER};

/// Waits up to 15 s for the server's output to contain `needle`.
fn wait_log(server: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if server.logs().contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server never logged {needle:?}\n{}",
            server.logs()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The `session opened` line of the session whose peer starts with `peer` (e.g.
/// `peer=127.0.0.2:`), waiting up to 15 s.
fn wait_session(server: &Server, peer: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let logs = server.logs();
        if let Some(line) = logs
            .lines()
            .find(|l| l.contains("session opened") && l.contains(peer))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no `session opened` line with {peer:?}\n{logs}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// A server trusting 127.0.0.1 as a proxy, logging PROXY headers and proxied data
/// connections (debug).
fn proxied_server(extra: &[&str]) -> Server {
    let mut args = vec![
        "--proxy-protocol-from",
        "127.0.0.1",
        "--log-level",
        "info,ferry_server::proxy=debug,ferry_server::data=debug",
    ];
    args.extend_from_slice(extra);
    Server::builder().args(&args).start()
}

/// A v2 PROXY header for TCP over IPv4 or IPv6.
fn v2_header(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.push(0x21);
    let mut block = Vec::new();
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(0x11);
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.push(0x21);
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed families"),
    }
    block.extend_from_slice(&source.port().to_be_bytes());
    block.extend_from_slice(&destination.port().to_be_bytes());
    // A TLV (PP2_TYPE_NOOP) that must be skipped.
    block.extend_from_slice(&[0x04, 0x00, 0x03, 1, 2, 3]);
    let len = u16::try_from(block.len()).expect("short block");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&block);
    out
}

/// A v1 header naming `source` (IPv4) as the client of `port`.
fn v1_header(source: Ipv4Addr, port: u16) -> Vec<u8> {
    format!("PROXY TCP4 {source} 127.0.0.1 40000 {port}\r\n").into_bytes()
}

/// Reads from `stream` until EOF (at most `max` bytes, bounded by the socket timeout).
fn read_until_eof(stream: &mut TcpStream, max: usize) -> Result<Vec<u8>, std::io::Error> {
    let mut out = Vec::new();
    stream.take(max as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// Reads replies, skipping 1yz marks (bounded), and returns the final one.
fn final_reply(c: &mut Control, what: &str) -> raw::Reply {
    for _ in 0..4 {
        let r = c.reply();
        if r.code >= 200 {
            return r;
        }
    }
    panic!("{what}: no final reply\n{}", c.transcript);
}

#[test]
fn v1_header_from_trusted_proxy_gives_the_real_address() {
    let server = proxied_server(&[]);
    let mut c = Control::connect_with_prefix(
        server.addr(),
        &v1_header(Ipv4Addr::new(203, 0, 113, 9), server.port()),
    );
    c.expect(&format!("USER {USER}"), &[331]);
    c.expect(&format!("PASS {PASS}"), &[230]);
    let stat = c.expect("STAT", &[211]);
    assert!(
        stat.text.contains("Connected to 203.0.113.9"),
        "STAT shows the real client: {stat}"
    );
    let line = wait_session(&server, "peer=203.0.113.9:40000");
    assert!(line.contains("proxied=true"), "{line}");
    // The TCP peer was the proxy (127.0.0.1).
    wait_log(&server, "client=203.0.113.9:40000");
    c.expect("QUIT", &[221]);
}

#[test]
fn v2_header_from_trusted_proxy_gives_the_real_address() {
    let server = proxied_server(&[]);
    let source: SocketAddr = "[2001:db8::9]:41000".parse().expect("addr");
    let destination: SocketAddr = "[2001:db8::1]:21".parse().expect("addr");
    // The header and the first command in one segment: no FTP byte may be lost.
    let mut prefix = v2_header(source, destination);
    prefix.extend_from_slice(format!("USER {USER}\r\n").as_bytes());
    let mut c = Control::connect_with_prefix(server.addr(), &prefix);
    c.expect_reply("USER sent with the header", &[331]);
    c.expect(&format!("PASS {PASS}"), &[230]);
    let stat = c.expect("STAT", &[211]);
    assert!(
        stat.text.contains("Connected to 2001:db8::9"),
        "STAT shows the real client: {stat}"
    );
    let line = wait_session(&server, "peer=[2001:db8::9]:41000");
    assert!(line.contains("proxied=true"), "{line}");
    c.expect("QUIT", &[221]);
}

#[test]
fn v2_local_and_v1_unknown_keep_the_connection_address() {
    let server = proxied_server(&[]);
    let local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
    let mut c = Control::connect_with_prefix(server.addr(), local);
    let stat = c.expect("STAT", &[211]);
    assert!(stat.text.contains("Connected to 127.0.0.1"), "{stat}");
    c.expect("QUIT", &[221]);

    let mut c = Control::connect_with_prefix(server.addr(), b"PROXY UNKNOWN\r\n");
    let stat = c.expect("STAT", &[211]);
    assert!(stat.text.contains("Connected to 127.0.0.1"), "{stat}");
    c.expect("QUIT", &[221]);
}

#[test]
fn untrusted_senders_proxy_line_is_just_a_bad_command() {
    // Only 192.0.2.0/24 is trusted: our 127.0.0.1 is an ordinary client.
    let server = Server::builder()
        .args(&["--proxy-protocol-from", "192.0.2.0/24"])
        .start();
    let mut c = Control::connect(server.addr());
    let r = c.cmd("PROXY TCP4 203.0.113.9 127.0.0.1 40000 21");
    assert!((500..600).contains(&r.code), "PROXY is not a command: {r}");
    c.expect(&format!("USER {USER}"), &[331]);
    c.expect(&format!("PASS {PASS}"), &[230]);
    let stat = c.expect("STAT", &[211]);
    assert!(stat.text.contains("Connected to 127.0.0.1"), "{stat}");
    assert!(!stat.text.contains("203.0.113.9"), "{stat}");
    c.expect("QUIT", &[221]);
    let line = wait_session(&server, "peer=127.0.0.1:");
    assert!(line.contains("proxied=false"), "{line}");
}

/// Connects, sends `bytes` and expects the server to close without sending anything.
fn closed_without_greeting(addr: SocketAddr, bytes: &[u8], what: &str) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    if !bytes.is_empty() {
        s.write_all(bytes).expect("send");
    }
    match read_until_eof(&mut s, 4096) {
        Ok(got) => assert!(
            got.is_empty(),
            "{what}: the server sent {:?} instead of closing",
            String::from_utf8_lossy(&got)
        ),
        // A reset (the server closed with our bytes unread) is a close too.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: no close within {IO_TIMEOUT:?}: {e}"),
    }
    start.elapsed()
}

#[test]
fn garbage_from_a_trusted_proxy_closes_without_greeting() {
    let server = proxied_server(&["--data-timeout", "5"]);
    let addr = server.addr();
    // Plain FTP: refused at its first byte, long before any timeout.
    let took = closed_without_greeting(addr, b"USER alice\r\n", "FTP command");
    assert!(took < Duration::from_secs(4), "refused early: {took:?}");
    closed_without_greeting(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP");
    closed_without_greeting(addr, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "bare LF");
    closed_without_greeting(
        addr,
        b"PROXY TCP4 203.0.113.9 127.0.0.1 99999 21\r\n",
        "bad port",
    );
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(200, b'x');
    closed_without_greeting(addr, &long, "overlong v1");
    closed_without_greeting(
        addr,
        b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c",
        "v2 version 3",
    );
    closed_without_greeting(addr, b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff", "v2 too long");
    // Silence: closed after the wait (the data timeout), still without a greeting.
    let took = closed_without_greeting(addr, b"", "silence");
    assert!(took >= Duration::from_millis(4500), "waited: {took:?}");
    wait_log(&server, "without a valid PROXY header closed");
    // The server is fine.
    let mut c = Control::connect_with_prefix(addr, b"PROXY UNKNOWN\r\n");
    c.expect("QUIT", &[221]);
}

/// Logs in through the "proxy" (header naming 127.0.0.2) and returns the control.
fn login_as_127_0_0_2(server: &Server) -> Control {
    let mut c = Control::connect_with_prefix(
        server.addr(),
        &v1_header(Ipv4Addr::new(127, 0, 0, 2), server.port()),
    );
    c.expect(&format!("USER {USER}"), &[331]);
    c.expect(&format!("PASS {PASS}"), &[230]);
    c.expect("TYPE I", &[200]);
    c
}

/// Opens a data connection to `addr` (from 127.0.0.1, the trusted proxy) and sends `first`.
fn data_with(addr: SocketAddr, first: &[u8]) -> TcpStream {
    let mut s = raw::data_connect(addr);
    if !first.is_empty() {
        s.write_all(first).expect("send on the data connection");
    }
    s
}

#[test]
fn passive_transfers_through_the_proxy_path() {
    let server = proxied_server(&["--data-timeout", "20"]);
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(server.root().join("hello.bin"), &content).expect("write file");
    let mut c = login_as_127_0_0_2(&server);

    // Download: a thief's header (127.0.0.3) and garbage are refused, then the real
    // client's data connection through the proxy gets the file.
    let data = c.epsv();
    c.send("RETR hello.bin");
    let mut thief = data_with(data, &v1_header(Ipv4Addr::new(127, 0, 0, 3), data.port()));
    let stolen = read_until_eof(&mut thief, content.len()).unwrap_or_default();
    assert!(
        stolen.is_empty(),
        "a foreign client behind the proxy got data"
    );
    let mut garbage = data_with(data, b"hello\r\n");
    let stolen = read_until_eof(&mut garbage, content.len()).unwrap_or_default();
    assert!(stolen.is_empty(), "a connection without header got data");
    let peer = SocketAddr::new(Ipv4Addr::new(127, 0, 0, 2).into(), 40001);
    let own = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), data.port());
    let got = raw::read_all(data_with(data, &v2_header(peer, own)), content.len() + 1);
    assert_eq!(final_reply(&mut c, "RETR").code, 226, "{}", c.transcript);
    assert_eq!(
        sha256_bytes(&got),
        sha256_bytes(&content),
        "download intact"
    );
    wait_log(&server, "data connection from a foreign address refused");
    wait_log(&server, "without a valid PROXY header refused");

    // Upload: the header and the first data bytes in one segment; none may be lost.
    let data = c.epsv();
    c.send("STOR up.bin");
    let mut first = v1_header(Ipv4Addr::new(127, 0, 0, 2), data.port());
    first.extend_from_slice(&content);
    let up = data_with(data, &first);
    up.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(final_reply(&mut c, "STOR").code, 226, "{}", c.transcript);
    drop(up);
    let stored = std::fs::read(server.root().join("up.bin")).expect("uploaded file");
    assert_eq!(
        sha256_bytes(&stored),
        sha256_bytes(&content),
        "upload intact"
    );
    wait_log(&server, "data connection through a trusted proxy");
    c.expect("QUIT", &[221]);
}

#[test]
fn silent_proxied_data_connection_is_refused() {
    let server = proxied_server(&["--data-timeout", "3"]);
    let content = vec![7u8; 10_000];
    std::fs::write(server.root().join("hello.bin"), &content).expect("write file");
    let mut c = login_as_127_0_0_2(&server);
    // A data connection from the proxy without any header: refused when the wait ends.
    let data = c.pasv();
    c.send("RETR hello.bin");
    let mut silent = data_with(data, b"");
    let stolen = read_until_eof(&mut silent, content.len()).unwrap_or_default();
    assert!(stolen.is_empty(), "a silent proxied connection got data");
    let r = final_reply(&mut c, "RETR without header");
    assert_eq!(r.code, 425, "{r}");
    wait_log(&server, "sent no PROXY header in time");
    c.expect("QUIT", &[221]);
}

#[test]
fn direct_clients_keep_todays_behaviour() {
    // 127.0.0.1 is a trusted proxy; a client at 127.0.0.2 connects directly.
    let server = proxied_server(&[]);
    std::fs::write(server.root().join("hello.txt"), b"hello\n").expect("write file");
    let client = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut c = Control::connect_from(client, server.addr());
    c.expect(&format!("USER {USER}"), &[331]);
    c.expect(&format!("PASS {PASS}"), &[230]);
    let stat = c.expect("STAT", &[211]);
    assert!(stat.text.contains("Connected to 127.0.0.2"), "{stat}");
    c.expect("TYPE I", &[200]);
    let data = c.pasv();
    c.send("RETR hello.txt");
    let got = raw::read_all(raw::connect_from(client, data), 100);
    assert_eq!(final_reply(&mut c, "RETR").code, 226, "{}", c.transcript);
    assert_eq!(got, b"hello\n");
    let line = wait_session(&server, "peer=127.0.0.2:");
    assert!(line.contains("proxied=false"), "{line}");
    c.expect("QUIT", &[221]);
}

// ---------------------------------------------------------------------------------------
// A real HAProxy in front of Ferry.

/// The loopback address HAProxy listens on (control and the relayed passive ports); Ferry
/// listens on 127.0.0.1 and announces this address in PASV (`--public-host`).
const HAPROXY_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// Passive ports per test.
const PASSIVE_SPAN: u16 = 8;

/// A running `haproxy -db`, killed on drop (its output printed when the test fails).
struct HaProxy {
    child: Child,
    log: std::path::PathBuf,
    control: SocketAddr,
    _dir: tempfile::TempDir,
}

impl HaProxy {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("=== haproxy output ===\n{}", self.output());
        }
    }
}

/// A free TCP port on `ip` (bound then released; a small race is acceptable here).
fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("bind {ip}:0: {e}"))
}

/// A passive port range for this test (`slot` tells concurrent tests of one process
/// apart; the process id tells processes apart), below the usual ephemeral range.
fn passive_range(slot: u16, attempt: u16) -> (u16, u16) {
    let pid = u16::try_from(std::process::id() % 600).unwrap_or(0);
    let base = 20_000 + ((pid + attempt * 211) % 600) * 2 * PASSIVE_SPAN + slot * PASSIVE_SPAN;
    (base, base + PASSIVE_SPAN - 1)
}

/// `haproxy` from PATH, or from /usr/sbin (where Debian installs it), which a non-root
/// PATH may lack; else [`program`]'s failure naming the package.
fn haproxy_command() -> std::process::Command {
    let sbin = Path::new("/usr/sbin/haproxy");
    if support::process::find_on_path("haproxy").is_none() && sbin.is_file() {
        let mut cmd = std::process::Command::new(sbin);
        cmd.stdin(Stdio::null());
        return cmd;
    }
    program("haproxy")
}

/// Starts HAProxy with `send` (`send-proxy` or `send-proxy-v2`) towards `ferry`, relaying
/// the control port and the passive ports `lo..=hi` (same port numbers on 127.0.0.1).
fn start_haproxy(ferry: SocketAddr, send: &str, lo: u16, hi: u16) -> Result<HaProxy, String> {
    let dir = tempfile::Builder::new()
        .prefix("ferry-haproxy-")
        .tempdir()
        .expect("temp dir");
    let control = SocketAddr::new(HAPROXY_IP.into(), free_port(HAPROXY_IP));
    let config = format!(
        "global\n\
         \x20   maxconn 200\n\
         defaults\n\
         \x20   mode tcp\n\
         \x20   timeout connect 5s\n\
         \x20   timeout client 60s\n\
         \x20   timeout server 60s\n\
         frontend ftp_control\n\
         \x20   bind {control}\n\
         \x20   default_backend ferry_control\n\
         backend ferry_control\n\
         \x20   server ferry {ferry} {send}\n\
         frontend ftp_passive\n\
         \x20   bind {HAPROXY_IP}:{lo}-{hi}\n\
         \x20   default_backend ferry_passive\n\
         backend ferry_passive\n\
         \x20   # no port: the port the client connected to\n\
         \x20   server ferry {ip} {send}\n",
        ip = ferry.ip(),
    );
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, config).expect("write haproxy.cfg");
    let log = dir.path().join("haproxy.log");
    let out = std::fs::File::create(&log).expect("haproxy log");
    let err = out.try_clone().expect("haproxy log");
    let mut cmd = haproxy_command();
    cmd.arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let child = cmd.spawn().map_err(|e| format!("start haproxy: {e}"))?;
    let mut proxy = HaProxy {
        child,
        log,
        control,
        _dir: dir,
    };
    // Ready when the control port accepts; gone when it failed to bind.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = proxy.child.try_wait() {
            return Err(format!("haproxy exited with {status}:\n{}", proxy.output()));
        }
        if TcpStream::connect_timeout(&control, Duration::from_millis(500)).is_ok() {
            return Ok(proxy);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "haproxy not listening on {control}:\n{}",
                proxy.output()
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// ftplib through HAProxy from 127.0.0.2: STAT, NLST, LIST and a download.
const FTPLIB_SCRIPT: &str = r#"
import ftplib, hashlib, sys
host, port, src, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=30, source_address=(src, 0))
ftp.login(user, password)
print("STAT " + ftp.sendcmd("STAT").replace("\n", " | "))
print("NLST " + " ".join(sorted(ftp.nlst())))
lines = []
ftp.retrlines("LIST", lines.append)
print("LIST %d" % len(lines))
data = bytearray()
ftp.retrbinary("RETR hello.bin", data.extend)
print("SHA256 " + hashlib.sha256(data).hexdigest())
ftp.quit()
"#;

/// Ferry behind HAProxy (`send`), driven by ftplib from 127.0.0.2 and curl from 127.0.0.3.
fn behind_haproxy(send: &str, slot: u16) {
    let mut attempt = 0;
    let (server, proxy) = loop {
        let (lo, hi) = passive_range(slot, attempt);
        let range = format!("{lo}-{hi}");
        let public = HAPROXY_IP.to_string();
        let server = proxied_server(&["--passive-ports", &range, "--public-host", &public]);
        match start_haproxy(server.addr(), send, lo, hi) {
            Ok(p) => break (server, p),
            // Another program holds a port of the range: try another range (bounded).
            Err(e) if attempt < 3 => {
                eprintln!("haproxy attempt {attempt} failed: {e}");
                attempt += 1;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(server.root().join("hello.bin"), &content).expect("write file");
    let want = sha256_bytes(&content);
    let control = proxy.control;

    // Python ftplib (PASV; it connects the data port on the control host, HAProxy's).
    let mut py = program("python3");
    py.arg("-c").arg(FTPLIB_SCRIPT).args([
        control.ip().to_string(),
        control.port().to_string(),
        "127.0.0.2".to_owned(),
        USER.to_owned(),
        PASS.to_owned(),
    ]);
    let out = run(py, Duration::from_secs(60));
    assert!(
        out.success(),
        "ftplib through haproxy failed: {}\n{}\n=== haproxy ===\n{}",
        out.describe(),
        server.logs(),
        proxy.output()
    );
    let text = out.stdout_text();
    assert!(text.contains("Connected to 127.0.0.2"), "STAT: {text}");
    assert!(text.contains("NLST hello.bin"), "NLST: {text}");
    assert!(text.contains("LIST 1"), "LIST: {text}");
    assert!(text.contains(&format!("SHA256 {want}")), "download: {text}");
    let line = wait_session(&server, "peer=127.0.0.2:");
    assert!(line.contains("proxied=true"), "{line}");
    // Ferry's TCP peer was HAProxy at 127.0.0.1; the header named 127.0.0.2.
    wait_log(&server, "proxy=127.0.0.1:");
    wait_log(&server, "client=127.0.0.2:");
    // The passive connections came through HAProxy too (nothing else listens on its IP).
    wait_log(&server, "data connection through a trusted proxy");

    // curl (EPSV) from 127.0.0.3: a listing and a download.
    let url = format!("ftp://{control}/");
    let mut list = support::curl();
    list.args(["--interface", "127.0.0.3", "--list-only", &url]);
    let out = run(list, Duration::from_secs(60));
    assert!(
        out.success() && out.stdout_text().contains("hello.bin"),
        "curl listing through haproxy: {}\n{}",
        out.describe(),
        server.logs()
    );
    let dest = server.local().join("hello.bin");
    let mut get = support::curl();
    get.args(["--interface", "127.0.0.3", "-o"])
        .arg(&dest)
        .arg(format!("{url}hello.bin"));
    let out = run(get, Duration::from_secs(60));
    assert!(
        out.success(),
        "curl download through haproxy: {}\n{}",
        out.describe(),
        server.logs()
    );
    let got = std::fs::read(Path::new(&dest)).expect("downloaded file");
    assert_eq!(sha256_bytes(&got), want, "curl download intact");
    let line = wait_session(&server, "peer=127.0.0.3:");
    assert!(line.contains("proxied=true"), "{line}");
}

#[test]
fn haproxy_send_proxy_v1() {
    behind_haproxy("send-proxy", 0);
}

#[test]
fn haproxy_send_proxy_v2() {
    behind_haproxy("send-proxy-v2", 1);
}
