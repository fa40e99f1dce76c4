//! Limits over real connections: sessions (global, per address), address allow/deny lists,
//! failed-login delays and bans (with the exempt list and user-name bans), login attempts
//! per minute, the login timeout, line length, bad commands before login and the
//! passive-listener budget. Every wait is bounded; the timing checks are generous.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader};

use support::raw::Control;
use support::{Server, PASS, USER};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// The first line a new connection from `source` reads, or `None` when the server closes
/// without a word (the read is bounded).
fn first_line_from(source: IpAddr, addr: SocketAddr) -> Option<String> {
    let stream = support::raw::connect_from(source, addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(0) => None,
        Ok(_) => Some(line),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
        Err(e) => panic!("no greeting and no close from {source}: {e}"),
    }
}

/// The code of [`first_line_from`].
fn first_reply_from(source: IpAddr, addr: SocketAddr) -> Option<u16> {
    first_line_from(source, addr).and_then(|l| l.get(..3)?.parse().ok())
}

/// A connection that got its greeting.
fn greeted(addr: SocketAddr) -> Control {
    Control::connect(addr)
}

#[test]
fn session_limits_answer_421_and_free_their_slots() {
    let server = Server::builder()
        .args(&["--max-sessions", "4", "--max-sessions-per-ip", "2"])
        .start();
    let a = server.addr();
    let one = greeted(a);
    let _two = greeted(a);
    let third = first_line_from(ip("127.0.0.1"), a).expect("a reply");
    assert!(
        third.starts_with("421 ") && third.contains("your address"),
        "{third}"
    );

    // Other addresses still get in, up to the global limit.
    let _b1 = Control::connect_from(ip("127.0.0.2"), a);
    let _b2 = Control::connect_from(ip("127.0.0.3"), a);
    assert_eq!(
        first_reply_from(ip("127.0.0.4"), a),
        Some(421),
        "server full"
    );

    // Closing a session gives its slot back (the server notices the close quickly).
    drop(one);
    let mut got_in = false;
    for _ in 0..50 {
        if first_reply_from(ip("127.0.0.1"), a) == Some(220) {
            got_in = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(got_in, "the slot was never freed");
    assert!(server.logs().contains("server_full"), "{}", server.logs());
}

#[test]
fn allow_and_deny_lists_are_checked_before_the_greeting() {
    let server = Server::builder()
        .args(&[
            "--allow",
            "127.0.0.0/29",
            "--deny",
            "127.0.0.2",
            "--deny",
            "127.0.0.4/31",
        ])
        .start();
    let a = server.addr();
    assert_eq!(first_reply_from(ip("127.0.0.1"), a), Some(220));
    assert_eq!(first_reply_from(ip("127.0.0.3"), a), Some(220));
    assert_eq!(first_reply_from(ip("127.0.0.2"), a), None, "denied");
    assert_eq!(first_reply_from(ip("127.0.0.5"), a), None, "denied network");
    assert_eq!(first_reply_from(ip("127.0.0.9"), a), None, "not allowed");
}

/// One failed login on `c`; returns how long the reply took.
fn fail_once(c: &mut Control, user: &str) -> (u16, Duration) {
    c.expect(&format!("USER {user}"), &[331]);
    let t = Instant::now();
    let r = c.cmd("PASS wrong-password");
    (r.code, t.elapsed())
}

#[test]
fn failed_logins_slow_down_then_ban_the_address() {
    let server = Server::builder()
        .args(&[
            "--ban-after",
            "3",
            "--ban-time",
            "8",
            "--login-fail-delay",
            "1",
            "--ban-exempt",
            "127.0.0.3",
        ])
        .start();
    let a = server.addr();
    let mut c = Control::connect_from(ip("127.0.0.2"), a);
    c.set_timeout(Duration::from_secs(20));
    let (code, first) = fail_once(&mut c, "root");
    assert_eq!(code, 530);
    let (code, second) = fail_once(&mut c, "root");
    assert_eq!(code, 530);
    assert!(first >= Duration::from_millis(900), "first delay {first:?}");
    assert!(
        second >= Duration::from_millis(1900),
        "growing delay {second:?}"
    );
    // The third failure bans: 530, then 421 and the connection closes.
    let (code, _) = fail_once(&mut c, "root");
    assert_eq!(code, 530);
    c.expect_reply("ban notice", &[421]);
    assert!(c.is_closed_within(Duration::from_secs(5)));

    // Banned: refused before the greeting, with a reason; the right password does not help.
    assert_eq!(first_reply_from(ip("127.0.0.2"), a), Some(421));
    // Others are not affected; the exempt address is never delayed nor banned.
    let mut ok = Control::login(a, USER, PASS);
    ok.expect("NOOP", &[200]);
    let mut ex = Control::connect_from(ip("127.0.0.3"), a);
    for _ in 0..5 {
        let (code, took) = fail_once(&mut ex, "root");
        assert_eq!(code, 530);
        assert!(
            took < Duration::from_millis(900),
            "exempt but delayed {took:?}"
        );
    }
    ex.expect("NOOP", &[200, 530]);
    let logs = server.logs();
    assert!(logs.contains("address banned"), "{logs}");
    assert!(
        !logs.contains("wrong-password"),
        "a password reached the logs"
    );

    // The ban expires.
    let mut back = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        if first_reply_from(ip("127.0.0.2"), a) == Some(220) {
            back = true;
            break;
        }
    }
    assert!(back, "the ban never expired");
}

#[test]
fn user_name_bans_hold_from_every_address() {
    let server = Server::builder()
        .args(&[
            "--ban-after",
            "2",
            "--ban-time",
            "60",
            "--login-fail-delay",
            "0",
            "--ban-user-names",
        ])
        .start();
    let a = server.addr();
    let mut c = Control::connect_from(ip("127.0.0.2"), a);
    fail_once(&mut c, USER);
    fail_once(&mut c, USER);
    c.expect_reply("ban notice", &[421]);
    // From another address, even the right password fails for the banned name.
    let mut d = Control::connect_from(ip("127.0.0.3"), a);
    d.expect(&format!("USER {USER}"), &[331]);
    d.expect(&format!("PASS {PASS}"), &[530]);
}

#[test]
fn login_attempts_per_minute_are_capped() {
    let server = Server::builder()
        .args(&[
            "--max-logins-per-minute",
            "3",
            "--login-fail-delay",
            "0",
            "--ban-after",
            "0",
        ])
        .start();
    let mut c = Control::connect(server.addr());
    for _ in 0..3 {
        assert_eq!(fail_once(&mut c, "x").0, 530);
    }
    c.expect("USER x", &[331]);
    let r = c.expect("PASS again", &[421]);
    assert!(r.text.contains("login attempts"), "{r}");
    assert!(c.is_closed_within(Duration::from_secs(5)));
    // Still refused on a new connection from the same address.
    let mut d = Control::connect(server.addr());
    d.expect(&format!("USER {USER}"), &[331]);
    d.expect(&format!("PASS {PASS}"), &[421]);
}

#[test]
fn login_timeout_closes_silent_and_dripping_clients_but_not_logged_in_ones() {
    let server = Server::builder()
        .args(&["--login-timeout", "2", "--idle-timeout", "30"])
        .start();
    let a = server.addr();
    let started = Instant::now();
    let mut silent = greeted(a);
    silent.set_timeout(Duration::from_secs(10));
    // A slowloris: one byte every 300 ms, never a whole line.
    let mut drip = greeted(a);
    drip.set_timeout(Duration::from_secs(10));
    let mut logged = Control::login(a, USER, PASS);
    for b in b"USER slow".iter().cycle().take(12) {
        if drip.send_raw(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let r = silent.expect_reply("login timeout", &[421]);
    assert!(r.text.contains("Login timeout"), "{r}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert!(
        drip.is_closed_within(Duration::from_secs(5)),
        "slowloris kept"
    );
    // The logged-in session is only subject to the idle timeout.
    logged.expect("NOOP", &[200]);
}

#[test]
fn line_length_and_bad_commands_before_login() {
    let server = Server::builder()
        .args(&["--max-line-length", "600", "--max-bad-commands", "3"])
        .start();
    let mut c = Control::login(server.addr(), USER, PASS);
    let long = format!("MKD {}\r\n", "d".repeat(700));
    c.send_raw(long.as_bytes()).expect("send");
    c.expect_reply("700-byte line", &[500]);
    // Just under the limit is fine (580 bytes that resolve to `/`).
    let ok = format!("CWD {}", "./".repeat(290));
    c.expect(&ok, &[250]);

    let mut b = greeted(server.addr());
    for i in 0..3 {
        b.expect(&format!("BOGUS{i}"), &[500]);
    }
    b.send("BOGUS3");
    b.expect_reply("last bad command", &[500]);
    b.expect_reply("closing", &[421]);
    assert!(b.is_closed_within(Duration::from_secs(5)));
}

#[test]
fn passive_listeners_are_budgeted_server_wide() {
    let server = Server::builder()
        .args(&["--max-passive-listeners", "2"])
        .start();
    let a = server.addr();
    let mut c1 = Control::login(a, USER, PASS);
    let mut c2 = Control::login(a, USER, PASS);
    let mut c3 = Control::login(a, USER, PASS);
    c1.pasv();
    c2.pasv();
    c3.expect("PASV", &[425]);
    // A new PASV replaces the session's own listener (no extra slot).
    c1.pasv();
    c3.expect("EPSV", &[425]);
    // Ending a session frees its listener.
    c2.expect("QUIT", &[221]);
    drop(c2);
    let mut got = false;
    for _ in 0..50 {
        if c3.cmd("PASV").code == 227 {
            got = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(got, "the passive slot was never freed");
}

#[test]
fn idle_timeout_never_fires_while_a_transfer_runs() {
    let server = Server::builder()
        .args(&["--idle-timeout", "1", "--download-rate", "1MiB"])
        .start();
    let body = support::tree::Rng::new(7).bytes(3 << 20);
    std::fs::write(server.root().join("slow.bin"), &body).expect("seed");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("slow.bin");
    // The server sends at 1 MiB/s: about 3 s of transfer, three times the idle timeout.
    let started = Instant::now();
    let result = support::curl()
        .args(["-sS", "-u", &format!("{USER}:{PASS}")])
        .arg(server.url("/slow.bin"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("curl");
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not slow enough to prove it"
    );
    assert_eq!(std::fs::read(&out).expect("got"), body);
    // An idle session is still closed.
    let mut idle = Control::login(server.addr(), USER, PASS);
    idle.set_timeout(Duration::from_secs(10));
    let r = idle.expect_reply("idle timeout", &[421]);
    assert!(r.text.contains("Timeout"), "{r}");
}
