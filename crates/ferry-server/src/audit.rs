//! The transfer log (wu-ftpd `xferlog` format) and the JSON audit log.
//!
//! Both are [`Observer`]s: they turn each [`Event`] into one line of text on the session's
//! task and hand it to a writer thread of their own through a bounded channel, so a session
//! never waits for the disk. When the channel is full (the disk is slower than the
//! server), the line is dropped and counted ([`XferLog::dropped`], [`AuditLog::dropped`])
//! with a warning in the server log, rather than slowing every session down.
//!
//! Files are opened in append mode, created with mode `0640` (before the umask), and each
//! line is written with a single `write(2)` (nothing stays buffered in the process).
//! [`XferLog::reopen`] and [`AuditLog::reopen`] open the path again (after `logrotate`
//! renamed the file, on SIGHUP); when that fails, the old file stays in use. A failed
//! write is reported once in the server log until writes succeed again. The files are
//! opened before the server drops root privileges (`run_as`): for a reopen to work after
//! that, the directory must be writable by that user, or the rotation must create the new
//! file for it (logrotate's `create 0640 ftp adm`).
//!
//! # xferlog
//!
//! One line per finished upload or download, as `man 5 xferlog` describes it, e.g.
//!
//! ```text
//! Sat Nov 21 13:58:01 2026 2 127.0.0.1 1048576 /pub/file.bin b _ o r alice ftp 0 * c
//! ```
//!
//! - `current-time`: when the transfer ended, in the `ctime(3)` format, **in UTC** (as
//!   vsftpd writes it by default), the day of the month padded with a space (`Nov  1`);
//! - `transfer-time`: whole seconds, at least 1 (as wu-ftpd and vsftpd: a transfer shorter
//!   than a second counts as 1);
//! - `remote-host`: the client's IP address (the real one behind a trusted proxy; no DNS
//!   lookup);
//! - `file-size`: the bytes moved on the data connection (for an incomplete transfer, what
//!   was moved before it stopped);
//! - `filename`: the path as the client sees it (absolute, inside the account's root),
//!   with every whitespace or control character replaced by `_`, as ProFTPD does, so
//!   that tools splitting the line on spaces still find 14 fields;
//! - `transfer-type` `a` (TYPE A) or `b` (binary); `special-action-flag` always `_`;
//! - `direction` `o` (download) or `i` (upload); deletes are not written here (as
//!   wu-ftpd): they are in the audit log;
//! - `access-mode` `a` (anonymous) or `r` (real account);
//! - `username`: the login name. (wu-ftpd wrote the e-mail address given as password of an
//!   anonymous login here; Ferry never logs passwords, so anonymous logins show their login
//!   name, `anonymous` or `ftp`.) Whitespace is replaced by `_` as in file names;
//! - `service-name` `ftp`, `authentication-method` `0`, `authenticated-user-id` `*`;
//! - `completion-status` `c` (complete) or `i` (incomplete: aborted or failed).
//!
//! Directory listings are not logged (as wu-ftpd).
//!
//! # JSON audit log
//!
//! One JSON object per line (JSON Lines). Every object has `time` (RFC 3339, UTC, with
//! milliseconds) and `event`, one of:
//!
//! | `event` | other fields |
//! |---|---|
//! | `connection_refused` | `client`, `reason` (`denied`, `banned`, `server_full`, `too_many_from_address`, `bad_proxy_header`) |
//! | `session_open` | `session`, `client`, `port`, `proxied`, `implicit_tls` |
//! | `session_close` | `session`, `client`, `port`, `user` (null when nobody logged in) |
//! | `login` | `session`, `client`, `port`, `user`, `anonymous`, `by_certificate` |
//! | `login_failed` | `session`, `client`, `port`, `user` (the name given), `reason` |
//! | `file_change` | `session`, `client`, `port`, `user`, `action` (`mkdir`, `rmdir`, `delete`, `rename`, `chmod`, `set_mtime`), `path` (or `from` and `to` for `rename`), `mode` (octal text, `chmod`), `mtime` (Unix seconds, `set_mtime`), `code` (the reply), `ok` (2xx reply) |
//! | `transfer` | `session`, `client`, `port`, `user`, `anonymous`, `direction` (`upload`, `download`), `path`, `bytes`, `duration_ms`, `type` (`ascii`, `binary`), `complete` |
//! | `ban` | `client`, `user` (null unless user names are banned too), `duration_secs`, `failures` |
//!
//! `session` is the server-unique session number, `client` the client's IP address and
//! `port` its TCP port. Listings and replies are not logged. Events carry no password, so
//! no password can reach this log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::events::{Direction, Event, FileChange, Observer, TransferRecord};

/// Lines a log file's channel holds before new lines are dropped.
pub const DEFAULT_QUEUE: usize = 8192;

/// Mode of a newly created log file (before the umask).
const FILE_MODE: u32 = 0o640;

/// A dropped line is reported in the server log the first time and then every this many.
const DROP_REPORT_EVERY: u64 = 1000;

/// Why a log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The file could not be opened or created.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the writer thread of {path}: {source}")]
    Thread {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What the writer thread is told.
enum Msg {
    /// Append this line (with its newline).
    Line(String),
    /// Wake up: a reopen was asked for (the flag says so).
    Reopen,
    /// Write what came before, then answer and stop.
    Close(SyncSender<()>),
}

/// Appends lines to one file from a thread of its own (see the module docs).
struct LineWriter {
    path: PathBuf,
    tx: SyncSender<Msg>,
    reopen: Arc<AtomicBool>,
    dropped: AtomicU64,
}

impl LineWriter {
    fn open(path: &Path, what: &'static str, queue: usize) -> Result<LineWriter, LogError> {
        let file = open_append(path).map_err(|source| LogError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let (tx, rx) = mpsc::sync_channel(queue.max(1));
        let reopen = Arc::new(AtomicBool::new(false));
        let task = WriterTask {
            path: path.to_path_buf(),
            what,
            file,
            reopen: reopen.clone(),
            failing: false,
        };
        std::thread::Builder::new()
            .name(format!("ferry-{what}"))
            .spawn(move || task.run(rx))
            .map_err(|source| LogError::Thread {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(LineWriter {
            path: path.to_path_buf(),
            tx,
            reopen,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues `line` (without its newline); never blocks.
    fn write_line(&self, mut line: String) {
        line.push('\n');
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n % DROP_REPORT_EVERY == 0 {
                    warn!(
                        file = %self.path.display(),
                        dropped = n,
                        "log line dropped: the writer cannot keep up (or has stopped)"
                    );
                }
            }
        }
    }

    fn reopen(&self) {
        self.reopen.store(true, Ordering::Release);
        // When the queue is full the writer is busy and sees the flag at its next line.
        let _ = self.tx.try_send(Msg::Reopen);
    }

    fn close(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        let mut msg = Msg::Close(ack_tx);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return true,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        ack_rx.recv_timeout(left).is_ok()
    }
}

/// The writer thread's side.
struct WriterTask {
    path: PathBuf,
    what: &'static str,
    file: File,
    reopen: Arc<AtomicBool>,
    /// The last write failed (reported once until a write succeeds).
    failing: bool,
}

impl WriterTask {
    fn run(mut self, rx: Receiver<Msg>) {
        // Ends when every sender is gone (the log was dropped) or on Close.
        while let Ok(msg) = rx.recv() {
            if self.reopen.swap(false, Ordering::AcqRel) {
                self.reopen_file();
            }
            match msg {
                Msg::Line(line) => self.write(line.as_bytes()),
                Msg::Reopen => {}
                Msg::Close(ack) => {
                    let _ = self.file.sync_data();
                    let _ = ack.send(());
                    return;
                }
            }
        }
    }

    fn write(&mut self, line: &[u8]) {
        match self.file.write_all(line) {
            Ok(()) => {
                if self.failing {
                    self.failing = false;
                    info!(file = %self.path.display(), log = self.what, "log writes work again");
                }
            }
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    warn!(
                        file = %self.path.display(),
                        log = self.what,
                        error = %e,
                        "cannot write to the log: lines are lost until writes work again"
                    );
                }
            }
        }
    }

    fn reopen_file(&mut self) {
        match open_append(&self.path) {
            Ok(file) => {
                self.file = file;
                self.failing = false;
                info!(file = %self.path.display(), log = self.what, "log file reopened");
            }
            Err(e) => warn!(
                file = %self.path.display(),
                log = self.what,
                error = %e,
                "cannot reopen the log file: still writing to the previous one"
            ),
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
}

/// The xferlog writer: an [`Observer`] writing one wu-ftpd `xferlog` line per finished
/// upload or download (format in the module docs).
pub struct XferLog {
    writer: LineWriter,
}

impl XferLog {
    /// Opens (creates) `path` for appending and starts its writer thread, with a queue of
    /// [`DEFAULT_QUEUE`] lines.
    pub fn open(path: &Path) -> Result<XferLog, LogError> {
        Self::with_queue(path, DEFAULT_QUEUE)
    }

    /// Like [`XferLog::open`] with a queue of `queue` lines (at least 1).
    pub fn with_queue(path: &Path, queue: usize) -> Result<XferLog, LogError> {
        Ok(XferLog {
            writer: LineWriter::open(path, "xferlog", queue)?,
        })
    }

    /// Opens the path again (for log rotation: call it on SIGHUP after the file was
    /// renamed). Takes effect before the next line; the old file stays in use when the path
    /// cannot be opened.
    pub fn reopen(&self) {
        self.writer.reopen();
    }

    /// Waits up to `wait` for the queued lines to be written, then stops the writer (later
    /// lines are dropped). True when everything was written in time.
    pub fn close(&self, wait: Duration) -> bool {
        self.writer.close(wait)
    }

    /// Lines dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.writer.dropped.load(Ordering::Relaxed)
    }
}

impl Observer for XferLog {
    fn event(&self, event: &Event) {
        if let Event::Transfer(record) = event {
            if let Some(line) = xferlog_line(record) {
                self.writer.write_line(line);
            }
        }
    }
}

impl std::fmt::Debug for XferLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XferLog")
            .field("path", &self.writer.path)
            .finish_non_exhaustive()
    }
}

/// The JSON audit log writer: an [`Observer`] writing one JSON object per line (format in
/// the module docs).
pub struct AuditLog {
    writer: LineWriter,
}

impl AuditLog {
    /// Opens (creates) `path` for appending and starts its writer thread, with a queue of
    /// [`DEFAULT_QUEUE`] lines.
    pub fn open(path: &Path) -> Result<AuditLog, LogError> {
        Self::with_queue(path, DEFAULT_QUEUE)
    }

    /// Like [`AuditLog::open`] with a queue of `queue` lines (at least 1).
    pub fn with_queue(path: &Path, queue: usize) -> Result<AuditLog, LogError> {
        Ok(AuditLog {
            writer: LineWriter::open(path, "audit-log", queue)?,
        })
    }

    /// Opens the path again (for log rotation: call it on SIGHUP after the file was
    /// renamed). Takes effect before the next line; the old file stays in use when the path
    /// cannot be opened.
    pub fn reopen(&self) {
        self.writer.reopen();
    }

    /// Waits up to `wait` for the queued lines to be written, then stops the writer (later
    /// lines are dropped). True when everything was written in time.
    pub fn close(&self, wait: Duration) -> bool {
        self.writer.close(wait)
    }

    /// Lines dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.writer.dropped.load(Ordering::Relaxed)
    }
}

impl Observer for AuditLog {
    fn event(&self, event: &Event) {
        if let Some(line) = audit_line(event, SystemTime::now()) {
            self.writer.write_line(line);
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.writer.path)
            .finish_non_exhaustive()
    }
}

/// The xferlog line (without newline) for a finished transfer; `None` for listings.
pub fn xferlog_line(r: &TransferRecord) -> Option<String> {
    let direction = match r.direction {
        Direction::Download => 'o',
        Direction::Upload => 'i',
        Direction::Listing => return None,
    };
    Some(format!(
        "{} {} {} {} {} {} _ {} {} {} ftp 0 * {}",
        ctime(r.ended),
        r.duration.as_secs().max(1),
        r.peer.ip().to_canonical(),
        r.bytes,
        field(&r.path),
        if r.ascii { 'a' } else { 'b' },
        direction,
        if r.anonymous { 'a' } else { 'r' },
        field(&r.user),
        if r.complete { 'c' } else { 'i' },
    ))
}

/// `s` as one space-free xferlog field: whitespace and control characters become `_`
/// (and an empty value `_`).
fn field(s: &str) -> String {
    if s.is_empty() {
        return "_".to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `t` in the `ctime(3)` format, UTC, without the newline: `Sat Nov  1 13:58:01 2026`.
pub fn ctime(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    let weekday = match t.weekday() {
        time::Weekday::Monday => "Mon",
        time::Weekday::Tuesday => "Tue",
        time::Weekday::Wednesday => "Wed",
        time::Weekday::Thursday => "Thu",
        time::Weekday::Friday => "Fri",
        time::Weekday::Saturday => "Sat",
        time::Weekday::Sunday => "Sun",
    };
    let month = match t.month() {
        time::Month::January => "Jan",
        time::Month::February => "Feb",
        time::Month::March => "Mar",
        time::Month::April => "Apr",
        time::Month::May => "May",
        time::Month::June => "Jun",
        time::Month::July => "Jul",
        time::Month::August => "Aug",
        time::Month::September => "Sep",
        time::Month::October => "Oct",
        time::Month::November => "Nov",
        time::Month::December => "Dec",
    };
    format!(
        "{weekday} {month} {:>2} {:02}:{:02}:{:02} {}",
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// `t` in RFC 3339, UTC, with milliseconds: `2026-11-21T13:58:01.250Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The audit log line (a JSON object, without newline) for `event` seen at `now`; `None`
/// for events the audit log leaves out (replies, listings). A transfer is stamped with
/// the time it ended.
pub fn audit_line(event: &Event, now: SystemTime) -> Option<String> {
    let mut o = Map::new();
    let mut time = now;
    let name = match event {
        Event::ConnectionRefused { peer, reason } => {
            o.insert("client".into(), ip(*peer));
            o.insert("reason".into(), reason.as_str().into());
            "connection_refused"
        }
        Event::SessionOpened {
            session,
            peer,
            proxied,
            implicit_tls,
        } => {
            client(&mut o, *session, *peer);
            o.insert("proxied".into(), (*proxied).into());
            o.insert("implicit_tls".into(), (*implicit_tls).into());
            "session_open"
        }
        Event::SessionClosed {
            session,
            peer,
            user,
        } => {
            client(&mut o, *session, *peer);
            o.insert("user".into(), user.clone().map_or(Value::Null, Value::from));
            "session_close"
        }
        Event::LoginOk {
            session,
            peer,
            user,
            anonymous,
            by_certificate,
        } => {
            client(&mut o, *session, *peer);
            o.insert("user".into(), user.as_str().into());
            o.insert("anonymous".into(), (*anonymous).into());
            o.insert("by_certificate".into(), (*by_certificate).into());
            "login"
        }
        Event::LoginFailed {
            session,
            peer,
            user,
            reason,
        } => {
            client(&mut o, *session, *peer);
            o.insert("user".into(), user.as_str().into());
            o.insert("reason".into(), reason.as_str().into());
            "login_failed"
        }
        Event::FileChanged {
            session,
            peer,
            user,
            change,
            code,
        } => {
            client(&mut o, *session, *peer);
            o.insert("user".into(), user.as_str().into());
            o.insert("action".into(), change.action().into());
            match change {
                FileChange::Mkdir(p) | FileChange::Rmdir(p) | FileChange::Delete(p) => {
                    o.insert("path".into(), p.as_str().into());
                }
                FileChange::Rename { from, to } => {
                    o.insert("from".into(), from.as_str().into());
                    o.insert("to".into(), to.as_str().into());
                }
                FileChange::Chmod { path, mode } => {
                    o.insert("path".into(), path.as_str().into());
                    o.insert("mode".into(), format!("{mode:o}").into());
                }
                FileChange::SetMtime { path, mtime } => {
                    o.insert("path".into(), path.as_str().into());
                    o.insert("mtime".into(), (*mtime).into());
                }
            }
            o.insert("code".into(), (*code).into());
            o.insert("ok".into(), (200..300).contains(code).into());
            "file_change"
        }
        Event::Transfer(r) => {
            if r.direction == Direction::Listing {
                return None;
            }
            time = r.ended;
            client(&mut o, r.session, r.peer);
            o.insert("user".into(), r.user.as_str().into());
            o.insert("anonymous".into(), r.anonymous.into());
            o.insert("direction".into(), r.direction.as_str().into());
            o.insert("path".into(), r.path.as_str().into());
            o.insert("bytes".into(), r.bytes.into());
            let ms = u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX);
            o.insert("duration_ms".into(), ms.into());
            o.insert(
                "type".into(),
                if r.ascii { "ascii" } else { "binary" }.into(),
            );
            o.insert("complete".into(), r.complete.into());
            "transfer"
        }
        Event::Reply { .. } => return None,
        Event::Banned {
            ip: addr,
            user,
            duration,
            failures,
        } => {
            o.insert("client".into(), ip(*addr));
            o.insert("user".into(), user.clone().map_or(Value::Null, Value::from));
            o.insert("duration_secs".into(), duration.as_secs().into());
            o.insert("failures".into(), (*failures).into());
            "ban"
        }
    };
    // `time` and `event` first, then the other fields (in name order).
    let head = format!(
        "{{\"time\":{},\"event\":{}",
        Value::from(rfc3339(time)),
        Value::from(name)
    );
    let rest = Value::Object(o).to_string();
    Some(match rest.strip_prefix('{') {
        Some(fields) if fields != "}" => format!("{head},{fields}"),
        _ => format!("{head}}}"),
    })
}

fn ip(addr: IpAddr) -> Value {
    addr.to_canonical().to_string().into()
}

fn client(o: &mut Map<String, Value>, session: u64, peer: std::net::SocketAddr) {
    o.insert("session".into(), session.into());
    o.insert("client".into(), ip(peer.ip()));
    o.insert("port".into(), peer.port().into());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::events::{LoginFailure, RefusedReason};
    use serde_json::json;
    use std::net::SocketAddr;

    /// 2026-11-21 13:58:01.250 UTC (a Saturday).
    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_269_481_250)
    }

    fn record() -> TransferRecord {
        TransferRecord {
            session: 7,
            peer: "127.0.0.1:40000".parse().unwrap(),
            user: "alice".into(),
            anonymous: false,
            direction: Direction::Download,
            path: "/pub/file.bin".into(),
            bytes: 1_048_576,
            duration: Duration::from_millis(2_700),
            ascii: false,
            complete: true,
            ended: t0(),
        }
    }

    #[test]
    fn ctime_is_utc_with_a_space_padded_day() {
        assert_eq!(ctime(t0()), "Sat Nov 21 13:58:01 2026");
        // 2026-11-01 00:00:05 UTC, a Sunday.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_793_491_205);
        assert_eq!(ctime(t), "Sun Nov  1 00:00:05 2026");
        assert_eq!(ctime(SystemTime::UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn rfc3339_has_milliseconds_and_z() {
        assert_eq!(rfc3339(t0()), "2026-11-21T13:58:01.250Z");
    }

    #[test]
    fn xferlog_download_line() {
        assert_eq!(
            xferlog_line(&record()).unwrap(),
            "Sat Nov 21 13:58:01 2026 2 127.0.0.1 1048576 /pub/file.bin b _ o r alice ftp 0 * c"
        );
    }

    #[test]
    fn xferlog_upload_anonymous_ascii_incomplete() {
        let r = TransferRecord {
            direction: Direction::Upload,
            anonymous: true,
            user: "anonymous".into(),
            ascii: true,
            complete: false,
            bytes: 10,
            duration: Duration::from_millis(3),
            path: "/incoming/a b\tc\nd.txt".into(),
            peer: "[::ffff:192.0.2.7]:21000".parse().unwrap(),
            ..record()
        };
        let line = xferlog_line(&r).unwrap();
        assert_eq!(
            line,
            "Sat Nov 21 13:58:01 2026 1 192.0.2.7 10 /incoming/a_b_c_d.txt a _ i a anonymous ftp 0 * i"
        );
        let fields: Vec<&str> = line.split(' ').collect();
        // The five ctime words (`Nov  1` would add an empty one) and 14 - 1 fields.
        assert_eq!(fields.len(), 5 + 13);
    }

    #[test]
    fn xferlog_ipv6_and_odd_user() {
        let r = TransferRecord {
            peer: "[2001:db8::1]:21000".parse().unwrap(),
            user: "bob smith".into(),
            duration: Duration::from_secs(61),
            ..record()
        };
        let line = xferlog_line(&r).unwrap();
        assert!(
            line.contains(" 61 2001:db8::1 1048576 /pub/file.bin b _ o r bob_smith ftp"),
            "{line}"
        );
    }

    #[test]
    fn xferlog_skips_listings() {
        let r = TransferRecord {
            direction: Direction::Listing,
            ..record()
        };
        assert!(xferlog_line(&r).is_none());
        assert!(audit_line(&Event::Transfer(r), t0()).is_none());
    }

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn audit_lines() {
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let v = parse(
            &audit_line(
                &Event::LoginFailed {
                    session: 3,
                    peer,
                    user: "mallory".into(),
                    reason: LoginFailure::BadCredentials,
                },
                t0(),
            )
            .unwrap(),
        );
        assert_eq!(
            v,
            json!({"time": "2026-11-21T13:58:01.250Z", "event": "login_failed", "session": 3,
                   "client": "127.0.0.1", "port": 40000, "user": "mallory",
                   "reason": "bad_credentials"})
        );

        let v = parse(&audit_line(&Event::Transfer(record()), SystemTime::UNIX_EPOCH).unwrap());
        assert_eq!(v["event"], "transfer");
        assert_eq!(
            v["time"], "2026-11-21T13:58:01.250Z",
            "the end of the transfer"
        );
        assert_eq!(v["bytes"], 1_048_576);
        assert_eq!(v["duration_ms"], 2700);
        assert_eq!(v["direction"], "download");
        assert_eq!(v["type"], "binary");
        assert_eq!(v["complete"], true);

        let v = parse(
            &audit_line(
                &Event::FileChanged {
                    session: 3,
                    peer,
                    user: "alice".into(),
                    change: FileChange::Rename {
                        from: "/a".into(),
                        to: "/b c".into(),
                    },
                    code: 250,
                },
                t0(),
            )
            .unwrap(),
        );
        assert_eq!(v["action"], "rename");
        assert_eq!(v["from"], "/a");
        assert_eq!(v["to"], "/b c");
        assert_eq!(v["ok"], true);

        let v = parse(
            &audit_line(
                &Event::FileChanged {
                    session: 3,
                    peer,
                    user: "alice".into(),
                    change: FileChange::Chmod {
                        path: "/x".into(),
                        mode: 0o640,
                    },
                    code: 550,
                },
                t0(),
            )
            .unwrap(),
        );
        assert_eq!(v["mode"], "640");
        assert_eq!(v["ok"], false);

        let v = parse(
            &audit_line(
                &Event::Banned {
                    ip: "192.0.2.9".parse().unwrap(),
                    user: None,
                    duration: Duration::from_secs(600),
                    failures: 5,
                },
                t0(),
            )
            .unwrap(),
        );
        assert_eq!(
            v,
            json!({"time": "2026-11-21T13:58:01.250Z", "event": "ban", "client": "192.0.2.9",
                   "user": null, "duration_secs": 600, "failures": 5})
        );

        let v = parse(
            &audit_line(
                &Event::ConnectionRefused {
                    peer: "192.0.2.9".parse().unwrap(),
                    reason: RefusedReason::Banned,
                },
                t0(),
            )
            .unwrap(),
        );
        assert_eq!(v["event"], "connection_refused");
        assert_eq!(v["reason"], "banned");

        assert!(audit_line(&Event::Reply { code: 230 }, t0()).is_none());

        let line = audit_line(
            &Event::SessionClosed {
                session: 9,
                peer,
                user: None,
            },
            t0(),
        )
        .unwrap();
        assert_eq!(
            line,
            "{\"time\":\"2026-11-21T13:58:01.250Z\",\"event\":\"session_close\",\
             \"client\":\"127.0.0.1\",\"port\":40000,\"session\":9,\"user\":null}"
        );
    }

    #[test]
    fn audit_escapes_control_characters() {
        let line = audit_line(
            &Event::LoginFailed {
                session: 1,
                peer: "127.0.0.1:1".parse().unwrap(),
                user: "a\"b\nc\u{0}".into(),
                reason: LoginFailure::BadCredentials,
            },
            t0(),
        )
        .unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(parse(&line)["user"], "a\"b\nc\u{0}");
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Waits (bounded) until `path` has `n` lines.
    fn wait_lines(path: &Path, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = read(path);
            if text.lines().count() >= n || Instant::now() >= deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn writes_appends_and_reopens() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xferlog");
        std::fs::write(&path, "old line\n").unwrap();
        let log = XferLog::open(&path).unwrap();
        log.event(&Event::Transfer(record()));
        log.event(&Event::Reply { code: 226 });
        let text = wait_lines(&path, 2);
        assert!(text.starts_with("old line\n"), "appended: {text:?}");
        assert!(text.ends_with(" alice ftp 0 * c\n"), "{text:?}");

        // logrotate: rename, SIGHUP, new lines go to a new file at the path.
        let rotated = dir.path().join("xferlog.1");
        std::fs::rename(&path, &rotated).unwrap();
        log.reopen();
        log.event(&Event::Transfer(record()));
        let text = wait_lines(&path, 1);
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert_eq!(read(&rotated).lines().count(), 2);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o640, 0, "mode {mode:o}");
        assert!(log.close(Duration::from_secs(5)));
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn full_queue_drops_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::with_queue(&path, 1).unwrap();
        let started = Instant::now();
        for _ in 0..20_000 {
            log.event(&Event::Banned {
                ip: "192.0.2.9".parse().unwrap(),
                user: Some("x".into()),
                duration: Duration::from_secs(1),
                failures: 1,
            });
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(log.close(Duration::from_secs(5)));
        let written = read(&path).lines().count() as u64;
        assert_eq!(written + log.dropped(), 20_000);
        // After close, lines are dropped, never blocking.
        log.event(&Event::Reply { code: 1 });
        log.event(&Event::SessionClosed {
            session: 1,
            peer: "127.0.0.1:1".parse().unwrap(),
            user: None,
        });
        assert_eq!(read(&path).lines().count() as u64, written);
    }

    #[test]
    fn unopenable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = AuditLog::open(&dir.path().join("missing").join("audit.log")).unwrap_err();
        assert!(err.to_string().contains("cannot open"), "{err}");
    }
}
