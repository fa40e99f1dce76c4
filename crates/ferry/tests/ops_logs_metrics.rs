//! The xferlog, the JSON audit log and the Prometheus endpoint of `ferry serve`, end to end:
//! logins (good and bad), an upload, a download, a listing and a delete over real
//! connections, then every log line checked field by field, no password anywhere, and the
//! metrics counters scraped over HTTP. Also: SIGHUP reopens the logs after a
//! logrotate-style rename, and a ban shows in the audit log and the metrics.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::raw::{data_connect, read_all, Control};
use support::Server;

/// The account's password: must never appear in a log.
const PASS: &str = "Pw-9f3kq-secret";
/// A wrong password tried: must never appear in a log either.
const WRONG: &str = "Wrong-7xz2-guess";
/// A file name with a space (the xferlog replaces it with `_`).
const NAME: &str = "/up load.bin";

/// Where the logs go, outside the server's root.
struct Logs {
    _dir: tempfile::TempDir,
    xferlog: PathBuf,
    audit: PathBuf,
}

impl Logs {
    fn new() -> Logs {
        let dir = tempfile::tempdir().expect("temp dir");
        Logs {
            xferlog: dir.path().join("xferlog"),
            audit: dir.path().join("audit.log"),
            _dir: dir,
        }
    }
}

fn start(logs: &Logs, extra: &[&str]) -> Server {
    let x = logs.xferlog.to_str().expect("utf-8 path").to_string();
    let a = logs.audit.to_str().expect("utf-8 path").to_string();
    let mut args = vec![
        "--metrics-listen",
        "127.0.0.1:0",
        "--xferlog",
        x.as_str(),
        "--audit-log",
        a.as_str(),
    ];
    args.extend_from_slice(extra);
    Server::builder()
        .user(&format!("alice:{PASS}:rw"))
        .args(&args)
        .start()
}

/// The address of the `Metrics: http://ADDR/metrics` banner line (waits up to 15 s).
fn metrics_addr(server: &Server) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let logs = server.logs();
        let found = logs.lines().find_map(|l| {
            l.trim()
                .strip_prefix("Metrics: http://")?
                .strip_suffix("/metrics")?
                .parse::<SocketAddr>()
                .ok()
        });
        if let Some(addr) = found {
            assert_ne!(addr.port(), 0, "the banner shows the bound port");
            return addr;
        }
        assert!(
            Instant::now() < deadline,
            "no `Metrics: http://ADDR/metrics` line\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `request` to the metrics endpoint; returns (status, headers, body).
fn http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(request.as_bytes()).expect("send request");
    let mut out = Vec::new();
    s.take(4 << 20)
        .read_to_end(&mut out)
        .expect("read response");
    let text = String::from_utf8(out).expect("utf-8 response");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    (status, head.to_string(), body.to_string())
}

/// Scrapes `/metrics`: every sample, by series (`name{labels}`), values parsed.
fn scrape(addr: SocketAddr) -> (String, HashMap<String, f64>) {
    let (status, head, body) = http(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(status, 200, "{head}\n{body}");
    let mut samples = HashMap::new();
    for line in body.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.insert(series.to_string(), value);
    }
    assert!(body.ends_with("# EOF\n"), "{body}");
    (body, samples)
}

fn sample(samples: &HashMap<String, f64>, body: &str, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no series {series} in\n{body}"))
}

/// Waits (up to 15 s) until `path` has a line for which `done` holds on all lines.
fn wait_for(path: &Path, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {what} never came; it has:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn upload(c: &mut Control, path: &str, data: &[u8]) {
    let addr = c.pasv();
    c.send(&format!("STOR {path}"));
    let mut d = data_connect(addr);
    c.expect_reply("STOR start", &[125, 150]);
    d.write_all(data).expect("upload");
    drop(d);
    c.expect_reply("STOR end", &[226]);
}

fn download(c: &mut Control, path: &str) -> Vec<u8> {
    let addr = c.pasv();
    c.send(&format!("RETR {path}"));
    let d = data_connect(addr);
    c.expect_reply("RETR start", &[125, 150]);
    let data = read_all(d, 16 << 20);
    c.expect_reply("RETR end", &[226]);
    data
}

fn list(c: &mut Control) {
    let addr = c.pasv();
    c.send("LIST");
    let d = data_connect(addr);
    c.expect_reply("LIST start", &[125, 150]);
    let _ = read_all(d, 1 << 20);
    c.expect_reply("LIST end", &[226]);
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// Seconds since midnight UTC now.
fn utc_second_of_day() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        % 86_400
}

/// Checks one xferlog line field by field.
fn check_xferlog_line(line: &str, direction: &str, size: usize) {
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 18, "5 time words + 13 fields: {line:?}");
    // current-time: ctime format, UTC.
    assert!(
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&f[0]),
        "{line}"
    );
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    assert!(months.contains(&f[1]), "{line}");
    let day: u32 = f[2].parse().expect("day");
    assert!((1..=31).contains(&day), "{line}");
    let hms: Vec<u64> = f[3].split(':').map(|p| p.parse().expect("time")).collect();
    assert_eq!(hms.len(), 3, "{line}");
    let logged = hms[0] * 3600 + hms[1] * 60 + hms[2];
    let now = utc_second_of_day();
    let diff = (now + 86_400 - logged) % 86_400;
    assert!(
        diff <= 600 || diff >= 86_400 - 60,
        "time {} is not UTC now: {line}",
        f[3]
    );
    assert_eq!(f[4].len(), 4, "{line}");
    assert!(f[4].parse::<u32>().is_ok(), "{line}");
    // The day is space-padded like ctime(3).
    if day < 10 {
        assert!(line.contains(&format!("{}  {day} ", f[1])), "{line}");
    }
    let secs: u64 = f[5].parse().expect("transfer-time");
    assert!(
        (1..=120).contains(&secs),
        "transfer-time at least 1: {line}"
    );
    assert_eq!(f[6], "127.0.0.1", "remote-host: {line}");
    assert_eq!(f[7], size.to_string(), "file-size: {line}");
    assert_eq!(f[8], "/up_load.bin", "filename, space replaced: {line}");
    assert_eq!(f[9], "b", "transfer-type: {line}");
    assert_eq!(f[10], "_", "special-action-flag: {line}");
    assert_eq!(f[11], direction, "direction: {line}");
    assert_eq!(f[12], "r", "access-mode: {line}");
    assert_eq!(f[13], "alice", "username: {line}");
    assert_eq!(f[14], "ftp", "service-name: {line}");
    assert_eq!(f[15], "0", "authentication-method: {line}");
    assert_eq!(f[16], "*", "authenticated-user-id: {line}");
    assert_eq!(f[17], "c", "completion-status: {line}");
}

fn parse_audit(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
        .collect()
}

fn events<'a>(all: &'a [Value], name: &str) -> Vec<&'a Value> {
    all.iter().filter(|v| v["event"] == name).collect()
}

/// True when the audit log has a line of event `name` whose fields include `fields`.
fn has(text: &str, name: &str, fields: &[(&str, Value)]) -> bool {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|v| v["event"] == name && fields.iter().all(|(k, want)| &v[*k] == want))
}

#[test]
fn logs_and_metrics_follow_a_session() {
    let logs = Logs::new();
    let server = start(&logs, &["--login-fail-delay", "0"]);
    let maddr = metrics_addr(&server);
    let addr = server.addr();

    // A failed login, in a session of its own.
    let mut bad = Control::connect(addr);
    bad.expect("USER alice", &[331]);
    bad.expect(&format!("PASS {WRONG}"), &[530]);
    bad.expect("QUIT", &[221]);

    let data = payload(300_000);
    let mut c = Control::login(addr, "alice", PASS);
    c.expect("TYPE I", &[200]);
    upload(&mut c, NAME, &data);
    assert_eq!(download(&mut c, NAME), data);
    list(&mut c);

    // Sessions open now: this one (the gauge is read at the scrape; the failed session
    // may take a moment to be counted out).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (body, m) = scrape(maddr);
        let open = sample(&m, &body, "ferry_sessions_open");
        if open == 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "sessions open: {open}\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    }

    c.expect(&format!("DELE {NAME}"), &[250]);
    c.expect("QUIT", &[221]);

    // xferlog: the upload and the download, no listing.
    let xfer = wait_for(&logs.xferlog, "2 transfer lines", |t| {
        t.lines().count() >= 2
    });
    let lines: Vec<&str> = xfer.lines().collect();
    assert_eq!(lines.len(), 2, "{xfer}");
    check_xferlog_line(lines[0], "i", data.len());
    check_xferlog_line(lines[1], "o", data.len());

    // Audit log: wait for the last event (the session's close), then check each event.
    let text = wait_for(&logs.audit, "session_close of alice", |t| {
        has(t, "session_close", &[("user", "alice".into())])
    });
    let all = parse_audit(&text);
    for v in &all {
        let time = v["time"].as_str().unwrap_or_else(|| panic!("no time: {v}"));
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "RFC 3339 UTC time: {v}"
        );
        assert!(v["event"].is_string(), "{v}");
    }
    let opened = events(&all, "session_open");
    assert!(opened.len() >= 2, "{text}");
    for v in &opened {
        assert_eq!(v["client"], "127.0.0.1", "{v}");
        assert!(v["session"].is_u64() && v["port"].is_u64(), "{v}");
    }
    let failed = events(&all, "login_failed");
    assert_eq!(failed.len(), 1, "{text}");
    assert_eq!(failed[0]["user"], "alice");
    assert_eq!(failed[0]["reason"], "bad_credentials");
    assert_eq!(failed[0]["client"], "127.0.0.1");

    let login = events(&all, "login");
    assert_eq!(login.len(), 1, "{text}");
    assert_eq!(login[0]["user"], "alice");
    assert_eq!(login[0]["anonymous"], false);
    let session = login[0]["session"].clone();
    assert_ne!(session, failed[0]["session"], "two sessions");

    let transfers = events(&all, "transfer");
    assert_eq!(transfers.len(), 2, "no listing in the audit log: {text}");
    for (v, direction) in transfers.iter().zip(["upload", "download"]) {
        assert_eq!(v["direction"], direction, "{v}");
        assert_eq!(v["path"], NAME, "{v}");
        assert_eq!(v["bytes"], data.len(), "{v}");
        assert_eq!(v["complete"], true, "{v}");
        assert_eq!(v["type"], "binary", "{v}");
        assert_eq!(v["user"], "alice", "{v}");
        assert_eq!(v["session"], session, "{v}");
        assert!(v["duration_ms"].is_u64(), "{v}");
    }
    let changes = events(&all, "file_change");
    assert_eq!(changes.len(), 1, "{text}");
    assert_eq!(changes[0]["action"], "delete");
    assert_eq!(changes[0]["path"], NAME);
    assert_eq!(changes[0]["code"], 250);
    assert_eq!(changes[0]["ok"], true);
    assert_eq!(changes[0]["session"], session);

    // The counters moved.
    let (body, m) = scrape(maddr);
    let v = |s: &str| sample(&m, &body, s);
    assert!(v("ferry_sessions_total") >= 2.0, "{body}");
    assert_eq!(v("ferry_logins_total{result=\"ok\"}"), 1.0, "{body}");
    assert_eq!(
        v("ferry_logins_total{result=\"failed\",reason=\"bad_credentials\"}"),
        1.0,
        "{body}"
    );
    let n = data.len() as f64;
    assert_eq!(v("ferry_transfer_bytes_total{direction=\"upload\"}"), n);
    assert_eq!(v("ferry_transfer_bytes_total{direction=\"download\"}"), n);
    assert_eq!(
        v("ferry_transfers_total{direction=\"upload\",status=\"complete\"}"),
        1.0
    );
    assert_eq!(
        v("ferry_transfers_total{direction=\"download\",status=\"complete\"}"),
        1.0
    );
    assert_eq!(
        v("ferry_transfers_total{direction=\"listing\",status=\"complete\"}"),
        1.0
    );
    assert_eq!(
        v("ferry_file_changes_total{action=\"delete\",result=\"ok\"}"),
        1.0
    );
    // 220 greetings, 331, 230, 227s, 150s, 226s, 250, 221s; 530 once.
    assert!(v("ferry_replies_total{class=\"1xx\"}") >= 3.0, "{body}");
    assert!(v("ferry_replies_total{class=\"2xx\"}") >= 10.0, "{body}");
    assert!(v("ferry_replies_total{class=\"3xx\"}") >= 2.0, "{body}");
    assert!(v("ferry_replies_total{class=\"5xx\"}") >= 1.0, "{body}");
    assert_eq!(v("ferry_bans_total"), 0.0);
    assert_eq!(v("ferry_bans_active"), 0.0);
    assert!(m.contains_key("ferry_passive_listeners_open"), "{body}");

    // Only GET/HEAD /metrics.
    let (status, _, _) = http(maddr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 404);
    let (status, head, _) = http(maddr, "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    let (status, _, _) = http(maddr, "BLAH\r\n\r\n");
    assert_eq!(status, 400);

    // No password anywhere: logs, metrics, what the server printed.
    let printed = server.logs();
    let printed = printed.split_once('\n').map_or("", |(_, rest)| rest);
    let xfer = std::fs::read_to_string(&logs.xferlog).unwrap();
    let audit = std::fs::read_to_string(&logs.audit).unwrap();
    for secret in [PASS, WRONG] {
        for (what, text) in [
            ("xferlog", xfer.as_str()),
            ("audit log", audit.as_str()),
            ("metrics", body.as_str()),
            ("server output", printed),
        ] {
            assert!(!text.contains(secret), "a password in the {what}:\n{text}");
        }
    }
}

#[test]
fn sighup_reopens_rotated_logs() {
    use std::os::unix::fs::PermissionsExt;
    let logs = Logs::new();
    let server = start(&logs, &[]);
    let data = payload(1000);
    let mut c = Control::login(server.addr(), "alice", PASS);
    c.expect("TYPE I", &[200]);
    upload(&mut c, "/one.bin", &data);
    wait_for(&logs.xferlog, "the first upload", |t| {
        t.lines().count() >= 1
    });
    wait_for(&logs.audit, "the first upload", |t| has(t, "transfer", &[]));

    // logrotate: rename, then SIGHUP; the server creates new files at the paths.
    let old_x = logs.xferlog.with_extension("1");
    let old_a = logs.audit.with_extension("log.1");
    std::fs::rename(&logs.xferlog, &old_x).unwrap();
    std::fs::rename(&logs.audit, &old_a).unwrap();
    server.sighup();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(logs.xferlog.exists() && logs.audit.exists()) {
        assert!(
            Instant::now() < deadline,
            "the logs were not reopened after SIGHUP\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    upload(&mut c, "/two.bin", &data);
    c.expect("QUIT", &[221]);
    let x = wait_for(&logs.xferlog, "the second upload", |t| {
        t.lines().count() >= 1
    });
    assert_eq!(x.lines().count(), 1, "{x}");
    assert!(x.contains(" /two.bin b _ i r alice ftp 0 * c"), "{x}");
    let old = std::fs::read_to_string(&old_x).unwrap();
    assert_eq!(old.lines().count(), 1, "{old}");
    assert!(old.contains(" /one.bin "), "{old}");

    let a = wait_for(&logs.audit, "the second upload and the close", |t| {
        has(t, "session_close", &[])
    });
    assert!(has(&a, "transfer", &[("path", "/two.bin".into())]), "{a}");
    assert!(!a.contains("/one.bin"), "{a}");
    let old = std::fs::read_to_string(&old_a).unwrap();
    assert!(
        has(&old, "transfer", &[("path", "/one.bin".into())]),
        "{old}"
    );
    assert!(!old.contains("/two.bin"), "{old}");

    // New files: mode 0640 at most (no group write, nothing for others).
    for p in [&logs.xferlog, &logs.audit] {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o037, 0, "{}: mode {mode:o}", p.display());
    }
}

#[test]
fn a_ban_is_logged_and_counted() {
    let logs = Logs::new();
    let server = start(
        &logs,
        &[
            "--ban-after",
            "2",
            "--ban-time",
            "600",
            "--login-fail-delay",
            "0",
        ],
    );
    let maddr = metrics_addr(&server);
    let addr = server.addr();
    for _ in 0..2 {
        let mut c = Control::connect(addr);
        c.expect("USER alice", &[331]);
        c.expect(&format!("PASS {WRONG}"), &[530, 421]);
    }
    // Banned now: the next connection is refused (closed, or 421).
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut greeting = String::new();
    let _ = s.take(4096).read_to_string(&mut greeting);
    assert!(
        !greeting.starts_with("220"),
        "greeted while banned: {greeting}"
    );

    let text = wait_for(&logs.audit, "the ban and the refused connection", |t| {
        has(t, "ban", &[]) && has(t, "connection_refused", &[])
    });
    assert!(
        has(
            &text,
            "ban",
            &[
                ("client", "127.0.0.1".into()),
                ("duration_secs", 600.into())
            ]
        ),
        "{text}"
    );
    assert!(
        has(
            &text,
            "connection_refused",
            &[("client", "127.0.0.1".into()), ("reason", "banned".into())]
        ),
        "{text}"
    );
    assert!(!text.contains(WRONG), "{text}");

    let (body, m) = scrape(maddr);
    assert_eq!(sample(&m, &body, "ferry_bans_total"), 1.0, "{body}");
    assert_eq!(sample(&m, &body, "ferry_bans_active"), 1.0, "{body}");
    assert!(
        sample(
            &m,
            &body,
            "ferry_connections_refused_total{reason=\"banned\"}"
        ) >= 1.0,
        "{body}"
    );
    assert_eq!(
        sample(
            &m,
            &body,
            "ferry_logins_total{result=\"failed\",reason=\"bad_credentials\"}"
        ),
        2.0,
        "{body}"
    );
}

/// An anonymous download: access-mode `a`, the login name in the username field, and the
/// e-mail given as password (which wu-ftpd logged there) nowhere.
#[test]
fn anonymous_download_in_the_xferlog() {
    const EMAIL: &str = "visitor-5kq@example.org";
    let logs = Logs::new();
    let x = logs.xferlog.to_str().unwrap().to_string();
    let a = logs.audit.to_str().unwrap().to_string();
    let server = Server::builder()
        .anonymous("ro")
        .args(&["--xferlog", &x, "--audit-log", &a])
        .start();
    let data = payload(5000);
    std::fs::write(server.root().join("pub.bin"), &data).unwrap();
    let mut c = Control::login(server.addr(), "anonymous", EMAIL);
    c.expect("TYPE I", &[200]);
    assert_eq!(download(&mut c, "/pub.bin"), data);
    c.expect("QUIT", &[221]);

    let xfer = wait_for(&logs.xferlog, "the download", |t| t.lines().count() >= 1);
    let f: Vec<&str> = xfer.split_whitespace().collect();
    assert_eq!(f.len(), 18, "{xfer}");
    assert_eq!(
        &f[7..],
        [
            "5000",
            "/pub.bin",
            "b",
            "_",
            "o",
            "a",
            "anonymous",
            "ftp",
            "0",
            "*",
            "c"
        ]
    );
    let audit = wait_for(&logs.audit, "the session's close", |t| {
        has(t, "session_close", &[])
    });
    assert!(
        has(
            &audit,
            "login",
            &[("user", "anonymous".into()), ("anonymous", true.into())]
        ),
        "{audit}"
    );
    for text in [&xfer, &audit] {
        assert!(
            !text.contains(EMAIL),
            "the anonymous password was logged:\n{text}"
        );
    }
}

#[test]
fn cache_counters_in_the_metrics_survive_a_reload() {
    let logs = Logs::new();
    let server = start(&logs, &[]);
    let maddr = metrics_addr(&server);
    let addr = server.addr();
    // Two logins of one account: the second is answered by the login cache.
    for _ in 0..2 {
        let mut c = Control::login(addr, "alice", PASS);
        c.expect("QUIT", &[221]);
    }
    // Two listings of one directory. Whether the second comes from memory depends on the
    // filesystem of the server's root (`tests/listcache.rs` in ferry-storage checks
    // that); every listing is counted either way.
    let mut c = Control::login(addr, "alice", PASS);
    list(&mut c);
    list(&mut c);
    c.expect("QUIT", &[221]);

    let check = |when: &str| {
        let (body, m) = scrape(maddr);
        let v = |s: &str| sample(&m, &body, s);
        let login = |r: &str| {
            v(&format!(
                "ferry_cache_lookups_total{{cache=\"login\",result=\"{r}\"}}"
            ))
        };
        assert_eq!((login("hit"), login("miss")), (2.0, 1.0), "{when}:\n{body}");
        let listing = |r: &str| {
            v(&format!(
                "ferry_cache_lookups_total{{cache=\"listing\",result=\"{r}\"}}"
            ))
        };
        assert_eq!(listing("hit") + listing("miss"), 2.0, "{when}:\n{body}");
        assert!(
            m.contains_key("ferry_cache_entries{cache=\"listing\"}"),
            "{body}"
        );
        assert!(
            m.contains_key("ferry_cache_size_bytes{cache=\"listing\"}"),
            "{body}"
        );
        assert!(
            m.contains_key("ferry_cache_invalidations_total{cache=\"listing\"}"),
            "{body}"
        );
        (listing("hit"), v("ferry_cache_entries{cache=\"login\"}"))
    };
    let (hits, entries) = check("before the reload");
    assert_eq!(entries, 1.0);

    // SIGHUP builds new account databases: the counters keep growing from where they
    // were, and the listing cache (with what it holds) stays.
    server.sighup();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.logs().contains("configuration reloaded") {
        assert!(
            Instant::now() < deadline,
            "no reload after SIGHUP\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (hits_after, entries) = check("after the reload");
    assert_eq!(hits_after, hits);
    assert_eq!(entries, 0.0, "the new account database starts empty");
}
