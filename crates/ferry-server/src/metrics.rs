//! Prometheus metrics: an [`Observer`] that counts events, and a small HTTP endpoint that
//! serves them at `GET /metrics`.
//!
//! The exposition is the OpenMetrics text format (content type
//! `application/openmetrics-text; version=1.0.0`), which Prometheus scrapes natively; it
//! is the Prometheus text format plus a final `# EOF` line, with counters named `*_total`.
//! Metrics (all prefixed `ferry_`):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ferry_sessions_total` | counter | |
//! | `ferry_sessions_open` | gauge | |
//! | `ferry_connections_refused_total` | counter | `reason` (`denied`, `banned`, `server_full`, `too_many_from_address`, `bad_proxy_header`) |
//! | `ferry_logins_total` | counter | `result` (`ok`, `failed`); `reason` on failures (`bad_credentials`, `disabled`, `address_not_allowed`, `too_many_sessions`, `rate_limited`, `storage`) |
//! | `ferry_transfers_total` | counter | `direction` (`download`, `upload`, `listing`), `status` (`complete`, `incomplete`) |
//! | `ferry_transfer_bytes_total` | counter | `direction` |
//! | `ferry_replies_total` | counter | `class` (`1xx` … `5xx`) |
//! | `ferry_bans_total` | counter | |
//! | `ferry_bans_active` | gauge | |
//! | `ferry_passive_listeners_open` | gauge | |
//! | `ferry_file_changes_total` | counter | `action` (`mkdir`, `rmdir`, `delete`, `rename`, `chmod`, `set_mtime`), `result` (`ok`, `failed`) |
//! | `ferry_cache_lookups_total` | counter | `cache`, `result` (`hit`, `miss`) |
//! | `ferry_cache_entries` | gauge | `cache` |
//! | `ferry_cache_size_bytes` | gauge | `cache` (caches bounded in bytes) |
//! | `ferry_cache_invalidations_total` | counter | `cache` (caches whose entries a change drops) |
//!
//! The gauges are read from [`ServerStats`] at each scrape. The `ferry_cache_*` series
//! are read at each scrape from the source given to [`Metrics::watch_caches`] (the
//! embedding program knows its storage and accounts); without one they are absent.
//!
//! The endpoint ([`serve_metrics`]) answers one request per connection (`Connection:
//! close`): `GET` or `HEAD /metrics` (a query string is ignored) gets the metrics, another
//! path `404`, another method `405`. The request head may be at most [`MAX_REQUEST_HEAD`]
//! bytes (else `431`) and must arrive within [`REQUEST_TIMEOUT`] (else `408`); a malformed
//! request line gets `400`. At most [`MAX_CONNECTIONS`] requests are served at once; more
//! connections are closed at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::events::{
    Direction, Event, FileChange, LoginFailure, Observer, RefusedReason, ServerStats,
};

/// Longest request head (request line and headers) accepted.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time allowed to send the request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to write the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests served at once.
pub const MAX_CONNECTIONS: usize = 32;
/// What is read (and discarded) after the response before closing, so that unread request
/// bytes do not turn the close into a reset that loses the response.
const DRAIN_LIMIT: usize = 64 * 1024;
const DRAIN_TIME: Duration = Duration::from_millis(500);

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];

/// Counts events for Prometheus (see the module docs for the metrics).
pub struct Metrics {
    registry: Registry,
    sessions: Counter,
    sessions_open: Gauge,
    refused: Family<Labels1, Counter>,
    logins: Family<Vec<(&'static str, &'static str)>, Counter>,
    transfers: Family<Labels2, Counter>,
    bytes: Family<Labels1, Counter>,
    replies: Family<Labels1, Counter>,
    bans: Counter,
    bans_active: Gauge,
    passive_open: Gauge,
    file_changes: Family<Labels2, Counter>,
    caches: Arc<CacheCollector>,
}

/// One cache's counters at the moment of a scrape (see [`Metrics::watch_caches`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheReading {
    /// The `cache` label: what the cache holds (`listing`, `login`).
    pub cache: &'static str,
    /// Lookups answered from the cache since the process started.
    pub hits: u64,
    /// Lookups that had to do the work the cache saves.
    pub misses: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now, for a cache bounded in bytes.
    pub bytes: Option<u64>,
    /// Entries dropped because what they held changed, for a cache that watches for that.
    pub invalidations: Option<u64>,
}

/// What [`Metrics::watch_caches`] calls at each scrape.
type CacheSource = Box<dyn Fn() -> Vec<CacheReading> + Send + Sync>;

/// The `ferry_cache_*` series, read from a [`CacheSource`] at each scrape.
#[derive(Default)]
struct CacheCollector {
    source: std::sync::Mutex<Option<CacheSource>>,
}

impl std::fmt::Debug for CacheCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheCollector").finish_non_exhaustive()
    }
}

impl CacheCollector {
    fn readings(&self) -> Vec<CacheReading> {
        let source = self
            .source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        source.as_ref().map(|f| f()).unwrap_or_default()
    }
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let readings = self.readings();
        if readings.is_empty() {
            return Ok(());
        }
        {
            let mut family = encoder.encode_descriptor(
                "cache_lookups",
                "Cache lookups by cache and result (a miss does the work the cache saves)",
                None,
                MetricType::Counter,
            )?;
            for r in &readings {
                for (result, n) in [("hit", r.hits), ("miss", r.misses)] {
                    let labels = [("cache", r.cache), ("result", result)];
                    ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        let families: [PerCache; 3] = [
            (
                "cache_entries",
                "Entries held now, by cache",
                None,
                MetricType::Gauge,
                |r| Some(r.entries),
            ),
            (
                "cache_size",
                "Memory held now, by cache (estimated)",
                Some(Unit::Bytes),
                MetricType::Gauge,
                |r| r.bytes,
            ),
            (
                "cache_invalidations",
                "Entries dropped because what they held changed, by cache",
                None,
                MetricType::Counter,
                |r| r.invalidations,
            ),
        ];
        for (name, help, unit, kind, of) in &families {
            let series: Vec<(&str, u64)> = readings
                .iter()
                .filter_map(|r| Some((r.cache, of(r)?)))
                .collect();
            if series.is_empty() {
                continue;
            }
            let mut family = encoder.encode_descriptor(name, help, unit.as_ref(), *kind)?;
            for (cache, v) in series {
                let labels = [("cache", cache)];
                let metric = family.encode_family(&labels)?;
                if matches!(kind, MetricType::Counter) {
                    ConstCounter::new(v).encode(metric)?;
                } else {
                    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)).encode(metric)?;
                }
            }
        }
        Ok(())
    }
}

/// A `{cache}` family: name, help, unit, type, and the value of a reading (none: no
/// series for that cache; no series at all: no family).
type PerCache = (
    &'static str,
    &'static str,
    Option<Unit>,
    MetricType,
    fn(&CacheReading) -> Option<u64>,
);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

const REPLY_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Metrics {
    /// Every metric registered, the usual series present at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ferry");
        let m = Metrics {
            sessions: Counter::default(),
            sessions_open: Gauge::default(),
            refused: Family::default(),
            logins: Family::default(),
            transfers: Family::default(),
            bytes: Family::default(),
            replies: Family::default(),
            bans: Counter::default(),
            bans_active: Gauge::default(),
            passive_open: Gauge::default(),
            file_changes: Family::default(),
            caches: Arc::default(),
            registry: Registry::default(),
        };
        registry.register(
            "sessions",
            "Control connections that got a session (greeting sent)",
            m.sessions.clone(),
        );
        registry.register(
            "sessions_open",
            "Sessions open now",
            m.sessions_open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections turned away before a session, by reason",
            m.refused.clone(),
        );
        registry.register(
            "logins",
            "Login attempts by result (and reason of failure)",
            m.logins.clone(),
        );
        registry.register(
            "transfers",
            "Data transfers by direction and status",
            m.transfers.clone(),
        );
        registry.register_with_unit(
            "transfer",
            "Bytes moved on data connections, by direction",
            Unit::Bytes,
            m.bytes.clone(),
        );
        registry.register("replies", "Replies sent, by class", m.replies.clone());
        registry.register("bans", "Bans imposed after failed logins", m.bans.clone());
        registry.register(
            "bans_active",
            "Bans in force now (addresses and user names)",
            m.bans_active.clone(),
        );
        registry.register(
            "passive_listeners_open",
            "Passive data listeners open now",
            m.passive_open.clone(),
        );
        registry.register(
            "file_changes",
            "Commands that changed the file tree, by action and result",
            m.file_changes.clone(),
        );
        registry.register_collector(Box::new(m.caches.clone()));
        // Series that dashboards expect even before anything happened.
        let _ = m.logins.get_or_create(&vec![("result", "ok")]);
        let _ = m
            .logins
            .get_or_create(&vec![("result", "failed"), ("reason", "bad_credentials")]);
        for class in REPLY_CLASSES {
            let _ = m.replies.get_or_create(&[("class", class)]);
        }
        for direction in [Direction::Download, Direction::Upload] {
            let d = direction.as_str();
            let _ = m.bytes.get_or_create(&[("direction", d)]);
            for status in ["complete", "incomplete"] {
                let _ = m
                    .transfers
                    .get_or_create(&[("direction", d), ("status", status)]);
            }
        }
        Metrics { registry, ..m }
    }

    /// Shows the caches `source` reports (called at each scrape, on the endpoint's thread:
    /// it should only read counters) as the `ferry_cache_*` series; replaces an earlier
    /// source.
    pub fn watch_caches(&self, source: impl Fn() -> Vec<CacheReading> + Send + Sync + 'static) {
        let mut slot = self
            .caches
            .source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(Box::new(source));
    }

    /// The exposition, with the gauges read from `stats` now.
    pub fn render(&self, stats: &ServerStats) -> String {
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.sessions_open.set(gauge(stats.sessions()));
        self.bans_active.set(gauge(stats.bans()));
        self.passive_open.set(gauge(stats.passive_listeners()));
        let mut out = String::with_capacity(4096);
        if let Err(e) = encode(&mut out, &self.registry) {
            // Only a failing writer can fail; a String never does.
            warn!(error = %e, "cannot encode the metrics");
        }
        out
    }

    fn refused(&self, reason: RefusedReason) {
        self.refused
            .get_or_create(&[("reason", reason.as_str())])
            .inc();
    }

    fn login_failed(&self, reason: LoginFailure) {
        self.logins
            .get_or_create(&vec![("result", "failed"), ("reason", reason.as_str())])
            .inc();
    }

    fn file_change(&self, change: &FileChange, code: u16) {
        let result = if (200..300).contains(&code) {
            "ok"
        } else {
            "failed"
        };
        self.file_changes
            .get_or_create(&[("action", change.action()), ("result", result)])
            .inc();
    }
}

impl Observer for Metrics {
    fn event(&self, event: &Event) {
        match event {
            Event::ConnectionRefused { reason, .. } => self.refused(*reason),
            Event::SessionOpened { .. } => {
                self.sessions.inc();
            }
            Event::SessionClosed { .. } => {}
            Event::LoginOk { .. } => {
                self.logins.get_or_create(&vec![("result", "ok")]).inc();
            }
            Event::LoginFailed { reason, .. } => self.login_failed(*reason),
            Event::FileChanged { change, code, .. } => self.file_change(change, *code),
            Event::Transfer(r) => {
                let d = r.direction.as_str();
                let status = if r.complete { "complete" } else { "incomplete" };
                self.transfers
                    .get_or_create(&[("direction", d), ("status", status)])
                    .inc();
                self.bytes
                    .get_or_create(&[("direction", d)])
                    .inc_by(r.bytes);
            }
            Event::Reply { code } => {
                if let Some(class) = REPLY_CLASSES.get(usize::from(code / 100).wrapping_sub(1)) {
                    self.replies.get_or_create(&[("class", class)]).inc();
                }
            }
            Event::Banned { .. } => {
                self.bans.inc();
            }
        }
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes (see the module docs).
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    stats: Arc<ServerStats>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    debug!(%peer, "metrics endpoint busy: connection closed");
                    continue;
                };
                let metrics = metrics.clone();
                let stats = stats.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    handle(stream, || metrics.render(&stats)).await;
                    drop(permit);
                });
            }
            Err(e) => {
                warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The metrics (`head`: HEAD, headers only).
    Metrics { head: bool },
    /// An error status.
    Status(u16),
}

/// Why no request head was read.
#[derive(Debug)]
enum HeadError {
    /// Larger than [`MAX_REQUEST_HEAD`].
    TooLarge,
    /// The peer closed or reset the connection before a whole head.
    Closed,
}

/// Serves one request on `stream`; `render` makes the exposition.
async fn handle<S>(mut stream: S, render: impl FnOnce() -> String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let route = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => Route::Status(408),
        Ok(Err(HeadError::TooLarge)) => Route::Status(431),
        Ok(Err(HeadError::Closed)) => return,
        Ok(Ok(head)) => route(&head),
    };
    let response = match route {
        Route::Metrics { head } => {
            let body = render();
            let mut r = headers(200, CONTENT_TYPE, body.len(), "");
            if !head {
                r.push_str(&body);
            }
            r
        }
        Route::Status(code) => {
            let body = format!("{}\n", reason(code));
            let extra = if code == 405 {
                "Allow: GET, HEAD\r\n"
            } else {
                ""
            };
            let mut r = headers(code, "text/plain; charset=utf-8", body.len(), extra);
            r.push_str(&body);
            r
        }
    };
    let written = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    // Read what the client may still send (up to a limit), so closing does not reset the
    // connection before it read the response.
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        while total < DRAIN_LIMIT {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

/// Reads up to the end of the request head (the empty line).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
        if let Some(end) = head_end(&head) {
            if end > MAX_REQUEST_HEAD {
                return Err(HeadError::TooLarge);
            }
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

/// The length of the head (up to and including the empty line), when complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the request head asks for.
fn route(head: &[u8]) -> Route {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = head.get(..line_end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(line) = std::str::from_utf8(line) else {
        return Route::Status(400);
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Status(400);
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    if !token(method) || !token(target) || !version.starts_with("HTTP/1.") {
        return Route::Status(400);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Route::Status(405),
    };
    let path = target.split('?').next().unwrap_or_default();
    if path == "/metrics" {
        Route::Metrics { head: head_only }
    } else {
        Route::Status(404)
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

fn headers(code: u16, content_type: &str, length: usize, extra: &str) -> String {
    format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\
         {extra}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason(code)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::events::TransferRecord;
    use std::time::SystemTime;

    #[test]
    fn routes() {
        let r = |s: &str| route(s.as_bytes());
        assert_eq!(
            r("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics { head: false }
        );
        assert_eq!(
            r("HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics { head: true }
        );
        assert_eq!(r("GET / HTTP/1.1\r\n\r\n"), Route::Status(404));
        assert_eq!(r("GET /metrics/x HTTP/1.1\r\n\r\n"), Route::Status(404));
        assert_eq!(r("POST /metrics HTTP/1.1\r\n\r\n"), Route::Status(405));
        assert_eq!(r("DELETE / HTTP/1.1\r\n\r\n"), Route::Status(405));
        assert_eq!(r("GET /metrics\r\n\r\n"), Route::Status(400));
        assert_eq!(r("GET  /metrics HTTP/1.1\r\n\r\n"), Route::Status(400));
        assert_eq!(r("GET /metrics SMTP/1.1\r\n\r\n"), Route::Status(400));
        assert_eq!(r("USER alice\r\n\r\n"), Route::Status(400));
        assert_eq!(route(b"GET /\xff HTTP/1.1\r\n\r\n"), Route::Status(400));
        assert_eq!(r(""), Route::Status(400));
    }

    /// Sends `request` through an in-memory connection and returns the response.
    async fn exchange(request: Vec<u8>, close_after: bool) -> String {
        let (mut client, server) = tokio::io::duplex(256 * 1024);
        let task = tokio::spawn(handle(server, || "ferry_x 1\n# EOF\n".to_string()));
        client.write_all(&request).await.unwrap();
        if close_after {
            client.shutdown().await.unwrap();
        }
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), client.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        drop(client);
        task.await.unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn get_metrics_and_errors() {
        let ok = exchange(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), false).await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")));
        assert!(ok.contains("Content-Length: 16\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nferry_x 1\n# EOF\n"), "{ok}");

        let head = exchange(b"HEAD /metrics HTTP/1.1\r\n\r\n".to_vec(), false).await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "{head}");

        let nf = exchange(b"GET /other HTTP/1.1\r\n\r\n".to_vec(), false).await;
        assert!(nf.starts_with("HTTP/1.1 404 Not Found\r\n"), "{nf}");

        let post = exchange(b"POST /metrics HTTP/1.1\r\n\r\n".to_vec(), false).await;
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        assert!(post.contains("Allow: GET, HEAD\r\n"), "{post}");

        let bad = exchange(b"garbage\n\n".to_vec(), false).await;
        assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
    }

    #[tokio::test]
    async fn oversized_head_is_refused() {
        let mut req = b"GET /metrics HTTP/1.1\r\n".to_vec();
        while req.len() <= MAX_REQUEST_HEAD + 100 {
            req.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let without_end = exchange(req.clone(), false).await;
        assert!(without_end.starts_with("HTTP/1.1 431 "), "{without_end}");
        req.extend_from_slice(b"\r\n");
        let with_end = exchange(req, false).await;
        assert!(with_end.starts_with("HTTP/1.1 431 "), "{with_end}");
    }

    #[tokio::test]
    async fn closed_early_gets_nothing() {
        let out = exchange(b"GET /metrics HT".to_vec(), true).await;
        assert_eq!(out, "");
    }

    #[tokio::test(start_paused = true)]
    async fn slow_request_times_out() {
        let (mut client, server) = tokio::io::duplex(4096);
        let task = tokio::spawn(handle(server, String::new));
        client
            .write_all(b"GET /metrics HTTP/1.1\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        task.await.unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counts_events() {
        let m = Metrics::new();
        let peer = "127.0.0.1:4000".parse().unwrap();
        m.event(&Event::SessionOpened {
            session: 1,
            peer,
            proxied: false,
            implicit_tls: false,
        });
        m.event(&Event::LoginOk {
            session: 1,
            peer,
            user: "alice".into(),
            anonymous: false,
            by_certificate: false,
        });
        m.event(&Event::LoginFailed {
            session: 1,
            peer,
            user: "alice".into(),
            reason: LoginFailure::Disabled,
        });
        for code in [150, 226, 230, 331, 421, 530, 550, 999, 0] {
            m.event(&Event::Reply { code });
        }
        m.event(&Event::Transfer(TransferRecord {
            session: 1,
            peer,
            user: "alice".into(),
            anonymous: false,
            direction: Direction::Upload,
            path: "/f".into(),
            bytes: 1234,
            duration: Duration::from_secs(1),
            ascii: false,
            complete: true,
            ended: SystemTime::now(),
        }));
        m.event(&Event::FileChanged {
            session: 1,
            peer,
            user: "alice".into(),
            change: FileChange::Delete("/f".into()),
            code: 250,
        });
        m.event(&Event::ConnectionRefused {
            peer: peer.ip(),
            reason: RefusedReason::ServerFull,
        });
        m.event(&Event::Banned {
            ip: peer.ip(),
            user: None,
            duration: Duration::from_secs(1),
            failures: 3,
        });
        let text = m.render(&ServerStats::default());
        let v = |s: &str| value(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
        assert_eq!(v("ferry_sessions_total"), 1.0);
        assert_eq!(v("ferry_sessions_open"), 0.0);
        assert_eq!(v("ferry_logins_total{result=\"ok\"}"), 1.0);
        assert_eq!(
            v("ferry_logins_total{result=\"failed\",reason=\"disabled\"}"),
            1.0
        );
        assert_eq!(
            v("ferry_logins_total{result=\"failed\",reason=\"bad_credentials\"}"),
            0.0
        );
        assert_eq!(v("ferry_replies_total{class=\"1xx\"}"), 1.0);
        assert_eq!(v("ferry_replies_total{class=\"2xx\"}"), 2.0);
        assert_eq!(v("ferry_replies_total{class=\"5xx\"}"), 2.0);
        assert_eq!(
            v("ferry_transfers_total{direction=\"upload\",status=\"complete\"}"),
            1.0
        );
        assert_eq!(
            v("ferry_transfers_total{direction=\"download\",status=\"complete\"}"),
            0.0
        );
        assert_eq!(
            v("ferry_transfer_bytes_total{direction=\"upload\"}"),
            1234.0
        );
        assert_eq!(
            v("ferry_file_changes_total{action=\"delete\",result=\"ok\"}"),
            1.0
        );
        assert_eq!(
            v("ferry_connections_refused_total{reason=\"server_full\"}"),
            1.0
        );
        assert_eq!(v("ferry_bans_total"), 1.0);
        assert_eq!(v("ferry_bans_active"), 0.0);
        assert_eq!(v("ferry_passive_listeners_open"), 0.0);
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn caches_are_read_at_each_scrape() {
        let m = Metrics::new();
        let text = m.render(&ServerStats::default());
        assert!(!text.contains("ferry_cache_"), "{text}");
        let hits = Arc::new(std::sync::atomic::AtomicU64::new(5));
        let h = hits.clone();
        m.watch_caches(move || {
            vec![
                CacheReading {
                    cache: "listing",
                    hits: h.load(std::sync::atomic::Ordering::Relaxed),
                    misses: 2,
                    entries: 3,
                    bytes: Some(4096),
                    invalidations: Some(1),
                },
                CacheReading {
                    cache: "login",
                    hits: 7,
                    misses: 1,
                    entries: 1,
                    ..CacheReading::default()
                },
            ]
        });
        let text = m.render(&ServerStats::default());
        let v = |s: &str| value(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
        assert_eq!(
            v("ferry_cache_lookups_total{cache=\"listing\",result=\"hit\"}"),
            5.0
        );
        assert_eq!(
            v("ferry_cache_lookups_total{cache=\"listing\",result=\"miss\"}"),
            2.0
        );
        assert_eq!(
            v("ferry_cache_lookups_total{cache=\"login\",result=\"hit\"}"),
            7.0
        );
        assert_eq!(v("ferry_cache_entries{cache=\"listing\"}"), 3.0);
        assert_eq!(v("ferry_cache_entries{cache=\"login\"}"), 1.0);
        assert_eq!(v("ferry_cache_size_bytes{cache=\"listing\"}"), 4096.0);
        assert_eq!(v("ferry_cache_invalidations_total{cache=\"listing\"}"), 1.0);
        assert!(
            !text.contains("ferry_cache_size_bytes{cache=\"login\"}"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE ferry_cache_lookups counter"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        hits.store(9, std::sync::atomic::Ordering::Relaxed);
        let text = m.render(&ServerStats::default());
        assert_eq!(
            value(
                &text,
                "ferry_cache_lookups_total{cache=\"listing\",result=\"hit\"}"
            ),
            Some(9.0)
        );
    }
}
