//! Hostile input against `ferry serve` over raw sockets: overlong lines, Telnet IAC bytes,
//! NUL bytes, path traversal and symlinks, FTP bounce (PORT/EPRT to other hosts or
//! privileged ports), passive-port theft, unknown-command floods, and clients that vanish
//! mid-transfer.
//!
//! Every socket has a read timeout; every loop is bounded. No test ever makes the server
//! connect to a non-loopback address: foreign-address PORT/EPRT commands are only sent after
//! the server proved it refuses a loopback address other than the control peer (a control
//! connection from 127.0.0.2 naming a trap on 127.0.0.1), and the assertions are on reply
//! codes only. Every listener in these tests binds 127.0.0.1; 127.0.0.2 is only ever a
//! client's source address.

mod support;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::raw::{data_connect, read_all, Control};
use support::tree::Rng;
use support::{write_file, Server, PASS, USER};

/// Reply codes that refuse a PORT/EPRT argument.
const REFUSED: &[u16] = &[500, 501, 504, 522];

fn login(server: &Server) -> Control {
    let mut c = Control::login(server.addr(), USER, PASS);
    c.expect("TYPE I", &[200]);
    c
}

/// RETR `name` over PASV; `Ok(bytes)` after 150 + 226, `Err(code)` when refused.
fn retr(c: &mut Control, name: &str) -> Result<Vec<u8>, u16> {
    let addr = c.pasv();
    let data = data_connect(addr);
    let r = c.cmd(&format!("RETR {name}"));
    if r.code != 150 && r.code != 125 {
        return Err(r.code);
    }
    let bytes = read_all(data, 64 * 1024 * 1024);
    c.expect_reply("end of RETR", &[226, 250]);
    Ok(bytes)
}

/// LIST `arg` over PASV and return the listing text (empty when refused).
fn list(c: &mut Control, arg: &str) -> String {
    let addr = c.pasv();
    let data = data_connect(addr);
    let r = c.cmd(format!("LIST {arg}").trim_end());
    if r.code != 150 && r.code != 125 {
        return String::new();
    }
    let bytes = read_all(data, 4 * 1024 * 1024);
    c.expect_reply("end of LIST", &[226, 250]);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn root_entries(server: &Server) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(server.root())
        .expect("read root")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn overlong_lines_get_500_and_the_session_goes_on() {
    let server = Server::start();
    let mut c = Control::connect(server.addr());

    // Before login.
    let mut line = b"USER ".to_vec();
    line.extend_from_slice(&[b'a'; 9000]);
    line.extend_from_slice(b"\r\n");
    c.send_raw(&line).expect("send long USER");
    c.expect_reply("9000-byte USER line", &[500]);
    c.expect("NOOP", &[200]);

    c.expect(&format!("USER {USER}"), &[331]);
    c.expect(&format!("PASS {PASS}"), &[230]);

    // After login, much longer than the cap, sent in pieces.
    c.send_raw(b"SIZE ").expect("send");
    let chunk = vec![b'x'; 4096];
    for _ in 0..16 {
        c.send_raw(&chunk).expect("send chunk");
    }
    c.send_raw(b"\r\n").expect("send end");
    c.expect_reply("64 KiB SIZE line", &[500]);
    c.expect("NOOP", &[200]);
    c.expect("PWD", &[257]);

    // Bare LF line ends are accepted too.
    c.send_raw(b"NOOP\n").expect("send");
    c.expect_reply("NOOP with a bare LF", &[200]);
    c.expect("QUIT", &[221]);
}

#[test]
fn telnet_iac_sequences_are_handled() {
    let server = Server::start();
    let data = Rng::new(70).bytes(16 * 1024 * 1024);
    write_file(&server.root(), "big.bin", &data);
    let mut c = login(&server);

    // IAC NOP before a command, IAC IP IAC DM before an idle ABOR.
    c.send_raw(b"\xff\xf1NOOP\r\n").expect("send");
    c.expect_reply("IAC NOP + NOOP", &[200]);
    c.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n").expect("send");
    c.expect_reply("IAC IP IAC DM ABOR with no transfer", &[225, 226]);
    // IAC WILL/DO negotiation bytes are not commands.
    c.send_raw(b"\xff\xfb\x01\xff\xfd\x03NOOP\r\n")
        .expect("send");
    c.expect_reply("IAC WILL/DO + NOOP", &[200]);

    // IAC IP IAC DM + ABOR in the middle of a transfer: 426 then 226 (or just 226 when the
    // transfer had already completed).
    let addr = c.pasv();
    let mut conn = data_connect(addr);
    c.expect("RETR big.bin", &[150, 125]);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < 64 * 1024 {
        let n = conn.read(&mut buf).expect("read data");
        assert!(n > 0, "data ended after {got} bytes");
        got += n;
    }
    c.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n").expect("send ABOR");
    let first = c.reply();
    match first.code {
        426 => {
            c.expect_reply("after 426", &[226, 225]);
        }
        226 | 225 => {}
        _ => panic!("ABOR mid-transfer -> {first}\n{}", c.transcript),
    }
    drop(conn);
    c.expect("NOOP", &[200]);

    // IAC IAC inside a file name stands for one 0xFF data byte. Such a name is not UTF-8:
    // the server may refuse it, or create a name holding that byte; either way the session
    // goes on and nothing named with the doubled bytes appears.
    c.send_raw(b"MKD a\xff\xffb\r\n").expect("send");
    let r = c.reply();
    assert!(
        [257, 501, 550, 553].contains(&r.code),
        "MKD with IAC IAC -> {r}"
    );
    c.expect("NOOP", &[200]);
    for name in root_entries(&server) {
        assert!(
            !name.contains("\u{FFFD}\u{FFFD}"),
            "IAC IAC was not collapsed: {name:?}"
        );
    }
    c.expect("QUIT", &[221]);
}

#[test]
fn nul_bytes_in_paths_are_refused_and_the_session_goes_on() {
    let server = Server::start();
    write_file(&server.root(), "a", b"file a\n");
    let mut c = login(&server);
    for (cmd, codes) in [
        (&b"CWD a\0b\r\n"[..], &[501u16, 550][..]),
        (b"MKD x\0y\r\n", &[501, 550, 553]),
        (b"SIZE a\0\r\n", &[501, 550]),
        (b"DELE a\0/../a\r\n", &[501, 550]),
        (b"RNFR a\0\r\n", &[501, 550]),
        (b"\0\0\0\r\n", &[500, 501, 502]),
    ] {
        c.send_raw(cmd).expect("send");
        let r = c.reply();
        assert!(
            codes.contains(&r.code),
            "{:?} -> {r}, expected one of {codes:?}",
            String::from_utf8_lossy(cmd)
        );
        c.expect("NOOP", &[200]);
    }
    assert_eq!(root_entries(&server), ["a"], "root changed");
    assert_eq!(
        std::fs::read(server.root().join("a")).expect("a"),
        b"file a\n"
    );
}

#[test]
fn path_traversal_stays_inside_the_root() {
    let server = Server::start();
    let inside_passwd = b"inside-root-passwd\n";
    write_file(&server.root(), "etc/passwd", inside_passwd);
    write_file(&server.root(), "inside.txt", b"inside\n");
    // A marker file next to the root, with a size nothing in the root has.
    let mut secret = b"OUTSIDE-SECRET-MARKER".to_vec();
    secret.resize(12_345, b'#');
    write_file(server.outside(), "secret.txt", &secret);

    let mut c = login(&server);
    for up in ["..", "../../../..", "/..", "../root", "/../../etc/.."] {
        let r = c.cmd(&format!("CWD {up}"));
        let pwd = c.expect("PWD", &[257]);
        if up == "../root" {
            assert_eq!(r.code, 550, "CWD ../root reached the real root dir: {r}");
        }
        assert!(
            pwd.text.contains("\"/\""),
            "CWD {up} -> {r}; PWD is now {pwd}"
        );
    }
    for path in [
        "../secret.txt",
        "../../../../secret.txt",
        "/../secret.txt",
        "..\\secret.txt",
        "etc/../../secret.txt",
        "%2e%2e/secret.txt",
    ] {
        c.expect(&format!("SIZE {path}"), &[550]);
        c.expect(&format!("MDTM {path}"), &[550]);
        c.expect(&format!("MLST {path}"), &[550]);
        c.expect(&format!("DELE {path}"), &[550]);
        c.expect(&format!("RNFR {path}"), &[550]);
        match retr(&mut c, path) {
            Err(code) => assert!((450..=553).contains(&code), "RETR {path} -> {code}"),
            Ok(bytes) => panic!("RETR {path} returned {} bytes", bytes.len()),
        }
    }
    // Names that do exist inside the root resolve there.
    for path in ["../../../../etc/passwd", "/etc/passwd", "/../etc/passwd"] {
        let r = c.cmd(&format!("SIZE {path}"));
        assert!(
            r.code == 550 || r.text.trim() == format!("213 {}", inside_passwd.len()),
            "SIZE {path} -> {r}"
        );
        match retr(&mut c, path) {
            Ok(bytes) => assert_eq!(bytes, inside_passwd, "RETR {path} left the root"),
            Err(code) => assert_eq!(code, 550, "RETR {path}"),
        }
    }
    // Listings of "above the root" show the root.
    for arg in ["..", "../..", "/.."] {
        let text = list(&mut c, arg);
        assert!(
            !text.contains("secret.txt") && !text.contains("local"),
            "LIST {arg} shows the parent of the root:\n{text}"
        );
    }
    let stat = c.cmd("STAT ..");
    assert!(!stat.text.contains("secret.txt"), "STAT .. -> {stat}");

    // Writes aimed outside land inside (or are refused), never outside.
    let r = c.cmd("MKD ../escaped-dir");
    assert!([257, 550].contains(&r.code), "MKD ../escaped-dir -> {r}");
    let addr = c.pasv();
    let mut data = data_connect(addr);
    let r = c.cmd("STOR ../../escaped.txt");
    if r.code == 150 || r.code == 125 {
        data.write_all(b"escaped\n").expect("write");
        drop(data);
        c.expect_reply("end of STOR", &[226, 250]);
    }
    assert!(
        !server.outside().join("escaped-dir").exists(),
        "MKD escaped"
    );
    assert!(
        !server.outside().join("escaped.txt").exists(),
        "STOR escaped"
    );
    assert_eq!(
        std::fs::read(server.outside().join("secret.txt")).expect("secret"),
        secret
    );
    c.expect("NOOP", &[200]);
}

#[test]
fn symlinks_do_not_lead_out_of_the_root() {
    let server = Server::start();
    let mut secret = b"OUTSIDE-SECRET-MARKER".to_vec();
    secret.resize(12_345, b'#');
    write_file(server.outside(), "secret.txt", &secret);
    std::os::unix::fs::symlink(server.outside(), server.root().join("dirlink")).expect("symlink");
    std::os::unix::fs::symlink(
        server.outside().join("secret.txt"),
        server.root().join("filelink"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink("../secret.txt", server.root().join("rellink")).expect("symlink");

    let mut c = login(&server);
    for path in ["filelink", "rellink", "dirlink/secret.txt"] {
        let r = c.cmd(&format!("SIZE {path}"));
        assert_ne!(r.code, 213, "SIZE {path} followed a symlink out: {r}");
        match retr(&mut c, path) {
            Err(_) => {}
            Ok(bytes) => assert!(
                !bytes.starts_with(b"OUTSIDE-SECRET-MARKER"),
                "RETR {path} read a file outside the root"
            ),
        }
    }
    let r = c.cmd("CWD dirlink");
    if r.code == 250 {
        let text = list(&mut c, "");
        assert!(
            !text.contains("secret.txt"),
            "LIST through dirlink shows outside files:\n{text}"
        );
        c.expect("CWD /", &[250]);
    }
    // Writing through a symlink must not modify the outside file.
    let addr = c.pasv();
    let mut data = data_connect(addr);
    let r = c.cmd("STOR filelink");
    if r.code == 150 || r.code == 125 {
        data.write_all(b"overwritten\n").expect("write");
        drop(data);
        let _ = c.reply();
    }
    assert_eq!(
        std::fs::read(server.outside().join("secret.txt")).expect("secret"),
        secret,
        "STOR through a symlink changed a file outside the root"
    );
    c.expect("NOOP", &[200]);
}

/// Whether `listener` (non-blocking) got a connection within `wait`.
fn got_connection(listener: &TcpListener, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        match listener.accept() {
            Ok(_) => return true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn port_and_eprt_to_other_hosts_or_low_ports_are_refused_before_connecting() {
    let server = Server::start();
    write_file(&server.root(), "f.txt", b"f\n");
    let mut c = login(&server);

    // First prove, with the control connection coming from 127.0.0.2 and a trap listening
    // on 127.0.0.1, that the server refuses a PORT/EPRT naming an address other than the
    // control peer, and does not connect to it.
    {
        let source: std::net::IpAddr = "127.0.0.2".parse().expect("ip");
        let mut other = Control::connect_from(source, server.addr());
        other.expect(&format!("USER {USER}"), &[331]);
        other.expect(&format!("PASS {PASS}"), &[230]);
        let trap = TcpListener::bind("127.0.0.1:0").expect("bind trap");
        trap.set_nonblocking(true).expect("nonblocking");
        let tport = trap.local_addr().expect("addr").port();
        let r = other.cmd(&format!("PORT 127,0,0,1,{},{}", tport >> 8, tport & 0xff));
        assert!(
            REFUSED.contains(&r.code),
            "PORT to 127.0.0.1 from a control peer at 127.0.0.2 -> {r}; must be refused"
        );
        assert!(
            !got_connection(&trap, Duration::from_millis(500)),
            "the server connected to the trap after PORT"
        );
        let r = other.cmd(&format!("EPRT |1|127.0.0.1|{tport}|"));
        assert!(
            REFUSED.contains(&r.code),
            "EPRT to a non-peer address -> {r}"
        );
        assert!(
            !got_connection(&trap, Duration::from_millis(500)),
            "the server connected to the trap after EPRT"
        );
        // Even if a transfer is asked for now, nothing reaches the trap.
        let r = other.cmd("RETR f.txt");
        assert!(r.code >= 400, "RETR without an accepted PORT -> {r}");
        assert!(
            !got_connection(&trap, Duration::from_millis(500)),
            "the server connected to the trap after RETR"
        );
    }

    // Now the classic bounce targets: reply codes only (never followed by a transfer).
    for cmd in [
        "PORT 10,0,0,1,4,1",
        "PORT 192,168,1,1,0,80",
        "EPRT |1|10.0.0.1|1025|",
        "EPRT |2|::1|2000|",
        // Privileged ports on the right host.
        "PORT 127,0,0,1,0,21",
        "PORT 127,0,0,1,3,255",
        "EPRT |1|127.0.0.1|21|",
        "EPRT |1|127.0.0.1|0|",
    ] {
        let r = c.cmd(cmd);
        assert!(
            REFUSED.contains(&r.code),
            "{cmd} -> {r}, expected one of {REFUSED:?}"
        );
    }
    c.expect("NOOP", &[200]);

    // A legitimate PORT to the control peer still works.
    let ours = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = ours.local_addr().expect("addr").port();
    c.expect(
        &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff),
        &[200],
    );
    c.expect("RETR f.txt", &[150, 125]);
    let (conn, peer) = ours.accept().expect("accept the server's data connection");
    assert_eq!(peer.ip(), c.peer_ip(), "data connection from {peer}");
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    assert_eq!(read_all(conn, 1024), b"f\n");
    c.expect_reply("end of active RETR", &[226, 250]);
}

/// Connect to `target` from 127.0.0.2 in a helper process (std cannot bind before connect)
/// and report how many bytes arrived there.
struct Thief {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Thief {
    fn connect(target: SocketAddr) -> Thief {
        let script = "import socket,sys\n\
            s=socket.socket(); s.settimeout(4); s.bind(('127.0.0.2',0))\n\
            s.connect((sys.argv[1], int(sys.argv[2])))\n\
            print('connected', flush=True)\n\
            n=0\n\
            try:\n\
            \x20 while n < 1<<26:\n\
            \x20   d=s.recv(65536)\n\
            \x20   if not d: break\n\
            \x20   n+=len(d)\n\
            except OSError: pass\n\
            print('received', n, flush=True)\n";
        let mut cmd = support::program("python3");
        cmd.arg("-c")
            .arg(script)
            .arg(target.ip().to_string())
            .arg(target.port().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start python3 thief");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().take(10) {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(10));
        assert_eq!(
            first.as_deref(),
            Ok("connected"),
            "thief did not connect from 127.0.0.2"
        );
        Thief { child, lines: rx }
    }

    /// Bytes the thief received (waits for it to finish, bounded).
    fn received(mut self) -> usize {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_default();
        let _ = self.child.kill();
        let _ = self.child.wait();
        line.strip_prefix("received ")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("thief output {line:?}"))
    }
}

#[test]
fn passive_data_connections_from_another_ip_are_not_used() {
    let server = Server::start();
    let data = Rng::new(80).bytes(300_000);
    write_file(&server.root(), "data.bin", &data);
    let mut c = login(&server);
    for mode in ["PASV", "EPSV"] {
        let addr = if mode == "PASV" { c.pasv() } else { c.epsv() };
        let thief = Thief::connect(addr);
        c.send("RETR data.bin");
        // The right client connects too (this may be refused if the server gave up).
        let ours = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok();
        let r = c.reply();
        let got = match r.code {
            425 => None,
            150 | 125 => {
                let ours = ours
                    .unwrap_or_else(|| panic!("{mode}: 150 but our own data connection failed"));
                ours.set_read_timeout(Some(Duration::from_secs(15)))
                    .expect("timeout");
                let got = read_all(ours, 1 << 22);
                let end = c.reply();
                assert!(
                    [226, 250].contains(&end.code),
                    "{mode}: end of RETR -> {end}\n{}",
                    c.transcript
                );
                Some(got)
            }
            _ => panic!("{mode}: RETR -> {r}\n{}", c.transcript),
        };
        let stolen = thief.received();
        assert_eq!(
            stolen, 0,
            "{mode}: the data connection from 127.0.0.2 (not the control peer) received \
             {stolen} bytes of the file"
        );
        if let Some(got) = got {
            assert_eq!(
                got.len(),
                data.len(),
                "{mode}: bytes on the right connection"
            );
            assert!(got == data, "{mode}: data differs");
        }
        c.expect("NOOP", &[200]);
    }
}

#[test]
fn fifty_unknown_commands_before_login_disconnect() {
    // The default cap is 20; a configured one is obeyed.
    let server = Server::builder()
        .args(&["--max-bad-commands", "50"])
        .start();
    let mut c = Control::connect(server.addr());
    let mut closed_after = None;
    for i in 1..=60 {
        if c.send_raw(format!("XYZZY{i}\r\n").as_bytes()).is_err() {
            closed_after = Some(i);
            break;
        }
        match c.try_reply() {
            Ok(r) => {
                if r.code == 421 {
                    assert!(c.is_closed_within(Duration::from_secs(5)), "421 but open");
                    closed_after = Some(i);
                    break;
                }
                assert!(
                    [500, 502, 530].contains(&r.code),
                    "unknown command #{i} -> {r}"
                );
            }
            Err(support::raw::ReadError::Closed) => {
                closed_after = Some(i);
                break;
            }
            Err(e) => panic!("unknown command #{i}: {e:?}\n{}", c.transcript),
        }
    }
    let n = closed_after.expect("the server was still talking after 60 unknown commands");
    assert!(
        (50..=52).contains(&n),
        "disconnected after {n} unknown commands, expected about 50"
    );
    // The server itself is fine.
    let mut c = login(&server);
    c.expect("NOOP", &[200]);
}

/// A server with a short data timeout and `big.bin` (32 MiB), `keep.bin` (1 MiB).
fn vanish_server() -> (Server, Rng, Vec<u8>) {
    let server = Server::builder()
        .args(&["--data-timeout", "2", "--idle-timeout", "30"])
        .start();
    let mut rng = Rng::new(90);
    let big = rng.bytes(32 * 1024 * 1024);
    write_file(&server.root(), "big.bin", &big);
    let original = rng.bytes(1024 * 1024);
    write_file(&server.root(), "keep.bin", &original);
    (server, rng, original)
}

#[test]
fn client_vanishing_mid_download_does_no_harm() {
    let (server, _rng, original) = vanish_server();
    {
        let mut c = login(&server);
        let addr = c.pasv();
        let mut conn = data_connect(addr);
        c.expect("RETR big.bin", &[150, 125]);
        let mut buf = vec![0u8; 65536];
        let n = conn.read(&mut buf).expect("read");
        assert!(n > 0);
        drop(conn);
        c.drop_now();
    }
    let mut c = login(&server);
    c.expect("SIZE big.bin", &[213]);
    assert_eq!(retr(&mut c, "keep.bin").expect("RETR keep.bin"), original);
    c.expect("QUIT", &[221]);
}

#[test]
fn client_vanishing_mid_upload_keeps_the_replaced_file() {
    let (server, mut rng, original) = vanish_server();
    // The control connection goes first; the data connection is closed 1.5 s later, long
    // after the server saw the client leave: the upload was interrupted, not finished.
    {
        let mut c = login(&server);
        let addr = c.pasv();
        let mut conn = data_connect(addr);
        c.expect("STOR keep.bin", &[150, 125]);
        conn.write_all(&rng.bytes(512 * 1024)).expect("write");
        c.drop_now();
        std::thread::sleep(Duration::from_millis(1500));
        drop(conn);
    }
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        std::fs::read(server.root().join("keep.bin")).expect("keep.bin") == original,
        "an interrupted STOR (control connection closed 1.5 s before the data connection) \
         replaced keep.bin with the partial upload"
    );
    let mut c = login(&server);
    c.expect("NOOP", &[200]);
}

#[test]
fn silent_client_mid_upload_times_out_and_keeps_the_replaced_file() {
    let (server, mut rng, original) = vanish_server();
    // The client stops sending but keeps both connections open: the data timeout (2 s)
    // ends the transfer, the control connection is told, the replaced file is intact.
    let mut c = login(&server);
    let addr = c.pasv();
    let mut conn = data_connect(addr);
    c.expect("STOR keep.bin", &[150, 125]);
    conn.write_all(&rng.bytes(256 * 1024)).expect("write");
    let r = c.reply();
    assert!(
        [421, 425, 426, 451].contains(&r.code),
        "silent upload -> {r}, expected a 4xx after the data timeout"
    );
    drop(conn);
    assert!(
        std::fs::read(server.root().join("keep.bin")).expect("keep.bin") == original,
        "a timed-out STOR replaced keep.bin with the partial upload"
    );
    if r.code != 421 {
        c.expect("NOOP", &[200]);
    }
}

#[test]
fn interrupted_new_upload_can_be_resumed_with_appe() {
    let (server, mut rng, _original) = vanish_server();
    let fresh = rng.bytes(800 * 1024);
    let sent = 300 * 1024;
    {
        let mut c = login(&server);
        let addr = c.pasv();
        let mut conn = data_connect(addr);
        c.expect("STOR fresh.bin", &[150, 125]);
        conn.write_all(&fresh[..sent]).expect("write");
        c.drop_now();
        std::thread::sleep(Duration::from_millis(1500));
        drop(conn);
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut c = login(&server);
    let r = c.expect("SIZE fresh.bin", &[213]);
    let have: usize = r.text[4..].trim().parse().expect("SIZE number");
    assert!(
        have <= sent,
        "partial upload is {have} bytes, more than sent"
    );
    let addr = c.pasv();
    let mut conn = data_connect(addr);
    c.expect("APPE fresh.bin", &[150, 125]);
    conn.write_all(&fresh[have..]).expect("write");
    drop(conn);
    c.expect_reply("end of APPE", &[226, 250]);
    assert!(
        std::fs::read(server.root().join("fresh.bin")).expect("fresh.bin") == fresh,
        "resumed upload differs"
    );
    c.expect("QUIT", &[221]);
}

#[test]
fn read_only_accounts_cannot_write() {
    let server = Server::builder()
        .user("alice:secret:rw")
        .user("bob:bobpw:ro")
        .start();
    write_file(&server.root(), "f.txt", b"f\n");
    write_file(&server.root(), "d/g.txt", b"g\n");
    let mut c = Control::login(server.addr(), "bob", "bobpw");
    c.expect("TYPE I", &[200]);
    assert_eq!(retr(&mut c, "f.txt").expect("RETR as ro"), b"f\n");
    for cmd in [
        "MKD new",
        "RMD d",
        "DELE f.txt",
        "RNFR f.txt",
        "MFMT 20200101000000 f.txt",
        "SITE CHMOD 777 f.txt",
    ] {
        let r = c.cmd(cmd);
        assert!(
            [450, 550, 553, 532, 502, 504].contains(&r.code),
            "read-only {cmd} -> {r}"
        );
    }
    for verb in ["STOR", "APPE", "STOU"] {
        let addr = c.pasv();
        let data = data_connect(addr);
        let r = c.cmd(&format!("{verb} f.txt").replace("STOU f.txt", "STOU"));
        drop(data);
        assert!(
            [450, 550, 553, 532].contains(&r.code),
            "read-only {verb} -> {r}"
        );
    }
    c.expect("NOOP", &[200]);
    assert_eq!(
        std::fs::read(server.root().join("f.txt")).expect("f"),
        b"f\n"
    );
    let mut entries = root_entries(&server);
    entries.sort();
    assert_eq!(entries, ["d", "f.txt"], "a read-only user changed the root");
}

#[test]
fn idle_and_stalled_control_connections_are_closed() {
    let server = Server::builder()
        .args(&["--idle-timeout", "2", "--data-timeout", "2"])
        .start();
    // Silent after the greeting.
    let mut idle = Control::connect(server.addr());
    // Half a line, never finished (slowloris).
    let mut stalled = Control::connect(server.addr());
    stalled.send_raw(b"USER ali").expect("send");
    // Logged in, then silent.
    let mut logged = login(&server);
    let started = Instant::now();
    for (name, c) in [
        ("idle", &mut idle),
        ("stalled", &mut stalled),
        ("logged-in", &mut logged),
    ] {
        assert!(
            c.is_closed_within(Duration::from_secs(10)),
            "{name} connection still open {:?} after start (idle timeout 2 s)\n{}",
            started.elapsed(),
            c.transcript
        );
    }
    // The server goes on serving.
    let mut c = login(&server);
    c.expect("NOOP", &[200]);
}
