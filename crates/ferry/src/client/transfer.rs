//! File transfers: single-stream downloads and uploads with resume and retries, segmented
//! transfers over several connections, hash verification, and a pool running many
//! transfers at once.
//!
//! Segmented download: the local file is pre-sized, then N connections each `RETR` one byte
//! range (`REST start`, stopping after the range's length) into their own file handle
//! positioned at the range's start. The result is checked by size (and by the server's
//! hash when offered); on any failure the file is downloaded again in one stream.
//!
//! Segmented upload: the remote file is created empty (`STOR` of 0 bytes); the first range
//! is sent with `REST 0` + `STOR` on one connection, and once its data flows (the server
//! has opened, and possibly truncated, the file: vsftpd truncates on `REST 0`) the other
//! ranges follow with `REST start` + `STOR` on their own connections. The result is checked with `SIZE` (and the hash when
//! offered); when `REST STOR` is refused or the check fails, the partial file is deleted
//! and the file is sent again with one plain `STOR`.

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use ferry_client::{Client, ClientError, HashAlgorithm, StoreMode};
use ferry_proto::command::Mode;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::task::JoinSet;

use super::exit::{Exit, Failure, Stage};
use super::progress::{Bar, Progress};
use super::session::{backoff, Session};
use super::throttle::Throttle;

/// Files smaller than this per segment are not split.
pub const MIN_SEGMENT: u64 = 64 * 1024;

/// What every transfer of one command shares.
#[derive(Debug)]
pub struct Ctx {
    /// How to open more connections.
    pub session: Session,
    /// Progress bars.
    pub progress: Progress,
    /// Connections per file (1: no splitting).
    pub segments: u16,
    /// Resume from what exists at the destination (`-c`).
    pub resume: bool,
    /// Check every transferred file by hash when the server offers one.
    pub verify: bool,
    /// Bytes per second per file (`--limit-rate`).
    pub limit: Option<u64>,
}

/// One file to move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Download `remote` to `local`.
    Get {
        /// Remote path.
        remote: String,
        /// Local path.
        local: PathBuf,
        /// Size from the listing, when known.
        size: Option<u64>,
        /// Modification time from the listing, when known.
        mtime: Option<i64>,
    },
    /// Upload `local` to `remote`.
    Put {
        /// Local path.
        local: PathBuf,
        /// Remote path.
        remote: String,
    },
}

/// Splits `size` bytes into at most `n` ranges `(start, len)` of at least [`MIN_SEGMENT`]
/// bytes (one range for small files).
pub fn split_ranges(size: u64, n: u16) -> Vec<(u64, u64)> {
    let n = u64::from(n.max(1)).min((size / MIN_SEGMENT).max(1));
    let base = size / n;
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..n {
        let len = if i + 1 == n { size - start } else { base };
        out.push((start, len));
        start += len;
    }
    out
}

/// Seconds since the epoch of a local file's modification time.
pub fn local_mtime(meta: &std::fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(e) => i64::try_from(e.duration().as_secs()).ok().map(|s| -s),
    }
}

/// Sets a local file's modification time (seconds since the epoch).
pub fn set_local_mtime(path: &Path, secs: i64) -> std::io::Result<()> {
    let t = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    std::fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(t)
}

/// CRC-32 (IEEE, as `XCRC` and `HASH CRC32` use) of a byte stream, updated in pieces.
#[derive(Debug, Clone, Copy)]
pub struct Crc32(u32);

impl Crc32 {
    /// A fresh checksum.
    pub fn new() -> Crc32 {
        Crc32(0xFFFF_FFFF)
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            let mut c = (self.0 ^ u32::from(b)) & 0xFF;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            self.0 = (self.0 >> 8) ^ c;
        }
    }

    /// The checksum.
    pub fn finish(self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Crc32::new()
    }
}

/// The local hash of `path` in lower-case hex, for the algorithms Ferry can compute
/// (SHA-256 and CRC-32); `None` for the others.
pub fn local_hash(path: &Path, algorithm: HashAlgorithm) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    match algorithm {
        HashAlgorithm::Sha256 => {
            let mut h = sha2::Sha256::new();
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(buf.get(..n).unwrap_or_default());
            }
            Ok(Some(
                h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            ))
        }
        HashAlgorithm::Crc32 => {
            let mut c = Crc32::new();
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                c.update(buf.get(..n).unwrap_or_default());
            }
            Ok(Some(format!("{:08x}", c.finish())))
        }
        _ => Ok(None),
    }
}

/// Compares `remote` and `local` by the server's hash: `Some(equal)`, or `None` when the
/// server offers no hash Ferry can compute.
pub async fn same_hash(
    client: &mut Client,
    remote: &str,
    local: &Path,
) -> Result<Option<bool>, ClientError> {
    let remote_hash = match client.hash(remote).await {
        Ok(h) => h,
        Err(ClientError::NotSupported(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let local = local.to_path_buf();
    let algorithm = remote_hash.algorithm;
    let mine = tokio::task::spawn_blocking(move || local_hash(&local, algorithm))
        .await
        .map_err(|e| ClientError::Io(std::io::Error::other(e.to_string())))??;
    Ok(mine.map(|m| {
        // CRC values are sometimes sent without leading zeros.
        let theirs = remote_hash.hex.trim().to_ascii_lowercase();
        m == theirs || m.trim_start_matches('0') == theirs.trim_start_matches('0')
    }))
}

/// Whether an error of `REST n` + `STOR` means the server does not do `REST` before `STOR`.
fn rest_refused(e: &ClientError) -> bool {
    match e {
        ClientError::NotSupported(_) => true,
        ClientError::Rejected { command, reply } => {
            command.to_ascii_uppercase().starts_with("REST")
                || matches!(reply.code.get(), 500..=504)
        }
        _ => false,
    }
}

/// A transient error worth another attempt.
fn retryable(e: &ClientError) -> bool {
    e.is_transient()
}

/// Whether transfers go in block mode (`--block`): a broken transfer restarts from its
/// last restart marker.
fn block_mode(ctx: &Ctx) -> bool {
    ctx.session
        .opts
        .representation
        .is_some_and(|r| r.mode() == Mode::Block)
}

/// Whether a block-mode transfer that failed with `e` is worth another attempt: transient
/// errors, and a data connection that ended before the end-of-file mark.
fn block_retryable(ctx: &Ctx, e: &ClientError) -> bool {
    retryable(e) || (block_mode(ctx) && matches!(e, ClientError::Protocol(_)))
}

/// Reconnects `client` after a transient error (attempt number `attempt`, 1-based).
async fn reconnect(ctx: &Ctx, client: &mut Client, attempt: u32) -> Result<(), Failure> {
    backoff(attempt).await;
    let fresh = ctx.session.connect().await?;
    let old = std::mem::replace(client, fresh);
    drop(old);
    Ok(())
}

/// Downloads `remote` to `local` (see the module docs), resuming with `-c`, retrying
/// transient errors, and setting the local modification time from the server's.
pub async fn download(
    ctx: &Ctx,
    client: &mut Client,
    remote: &str,
    local: &Path,
    size: Option<u64>,
    mtime: Option<i64>,
) -> Result<u64, Failure> {
    let size = match size {
        Some(s) => Some(s),
        None => client.size(remote).await.ok(),
    };
    let bar = ctx.progress.bar(remote, size);
    if let Some(parent) = local.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            Failure::new(
                Exit::Generic,
                format!("cannot create {}: {e}", parent.display()),
            )
        })?;
    }
    let mut done = None;
    if let Some(total) = size {
        let already = std::fs::metadata(local).map(|m| m.len()).unwrap_or(0);
        let complete = ctx.resume && already == total && total > 0;
        if complete {
            done = Some(total);
        } else if ctx.segments > 1
            && !(ctx.resume && already > 0)
            && split_ranges(total, ctx.segments).len() > 1
        {
            match download_segmented(ctx, client, remote, local, total, &bar).await {
                Ok(()) => done = Some(total),
                Err(why) => {
                    ctx.progress.println(&format!(
                        "ferry: segmented download of {remote} failed ({why}); \
                         downloading it in one stream"
                    ));
                    let _ = std::fs::remove_file(local);
                    bar.set(0);
                }
            }
        }
    }
    let got = match done {
        Some(n) => n,
        None => download_stream(ctx, client, remote, local, size, &bar).await?,
    };
    bar.finish();
    let mtime = match mtime {
        Some(t) => Some(t),
        None => client.mdtm(remote).await.ok(),
    };
    if let Some(t) = mtime {
        if let Err(e) = set_local_mtime(local, t) {
            tracing::warn!("cannot set the time of {}: {e}", local.display());
        }
    }
    if ctx.verify {
        verify_hash(client, remote, local, Exit::Partial, "downloaded file").await?;
    }
    Ok(got)
}

/// `--verify` after a transfer: a server hash that differs from the local file's is a
/// failure with `exit`; a server without hashes, or one that cannot answer, is only warned
/// about (size and times were already compared).
async fn verify_hash(
    client: &mut Client,
    remote: &str,
    local: &Path,
    exit: Exit,
    local_name: &str,
) -> Result<(), Failure> {
    match same_hash(client, remote, local).await {
        Ok(Some(false)) => Err(Failure::new(
            exit,
            format!("{remote}: the server's hash differs from the {local_name}"),
        )),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!("cannot get the hash of {remote}: {e}");
            Ok(())
        }
    }
}

/// One-stream download with resume and retries. Returns the final local size.
async fn download_stream(
    ctx: &Ctx,
    client: &mut Client,
    remote: &str,
    local: &Path,
    size: Option<u64>,
    bar: &Bar,
) -> Result<u64, Failure> {
    let local_err =
        |e: std::io::Error| Failure::new(Exit::Generic, format!("{}: {e}", local.display()));
    let mut attempt = 0;
    let block = block_mode(ctx);
    // `--block`: (local offset, REST marker) of the last restart marker of a broken attempt.
    let mut restart: Option<(u64, u64)> = None;
    loop {
        let have = std::fs::metadata(local).map(|m| m.len()).unwrap_or(0);
        let (offset, rest) = match restart.take() {
            // Keep the local bytes up to the marker; the server resumes there.
            Some((at, marker)) if at > 0 && at <= have => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(local)
                    .and_then(|f| f.set_len(at))
                    .map_err(local_err)?;
                ctx.progress
                    .println(&format!("ferry: {remote}: restarting at marker {marker}"));
                (at, marker)
            }
            // Block mode without a marker: from the start.
            _ if block && attempt > 0 => (0, 0),
            _ => {
                let mut offset = if ctx.resume || attempt > 0 { have } else { 0 };
                if let Some(total) = size {
                    if offset > total {
                        offset = 0;
                    } else if offset == total && offset > 0 {
                        return Ok(total);
                    }
                }
                (offset, offset)
            }
        };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(offset > 0)
            .truncate(offset == 0)
            .open(local)
            .await
            .map_err(local_err)?;
        bar.set(offset);
        let b = bar.clone();
        let mut out = Throttle::new(&mut file, ctx.limit);
        let result = client
            .retrieve(remote, rest, None, &mut out, &mut |n| b.set(offset + n))
            .await;
        file.flush().await.map_err(local_err)?;
        drop(file);
        match result {
            Ok(n) => return Ok(offset + n),
            Err(e) if attempt < ctx.session.retries && block_retryable(ctx, &e) => {
                if block {
                    restart = client
                        .restart_point()
                        .map(|p| (offset.saturating_add(p.moved), p.remote));
                }
                attempt += 1;
                ctx.progress.println(&format!(
                    "ferry: {remote}: {e}; retrying ({attempt}/{})",
                    ctx.session.retries
                ));
                reconnect(ctx, client, attempt).await?;
            }
            Err(e) => {
                // Leave no empty file behind when nothing came (e.g. 550 on RETR).
                if offset == 0 && std::fs::metadata(local).is_ok_and(|m| m.len() == 0) {
                    let _ = std::fs::remove_file(local);
                }
                return Err(Failure::client(&e, Stage::Download, remote));
            }
        }
    }
}

/// The segmented download; an error text explains why it did not work.
async fn download_segmented(
    ctx: &Ctx,
    client: &mut Client,
    remote: &str,
    local: &Path,
    size: u64,
    bar: &Bar,
) -> Result<(), String> {
    let file = std::fs::File::create(local).map_err(|e| e.to_string())?;
    file.set_len(size).map_err(|e| e.to_string())?;
    drop(file);
    let mut tasks = JoinSet::new();
    let ranges = split_ranges(size, ctx.segments);
    let limit = per_connection(ctx.limit, ranges.len());
    for (start, len) in ranges {
        let session = ctx.session.clone();
        let remote = remote.to_owned();
        let local = local.to_path_buf();
        let bar = bar.clone();
        tasks.spawn(async move {
            let mut c = session.connect().await.map_err(|e| e.to_string())?;
            let mut f = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&local)
                .await
                .map_err(|e| e.to_string())?;
            f.seek(SeekFrom::Start(start))
                .await
                .map_err(|e| e.to_string())?;
            let mut last = 0u64;
            let mut out = Throttle::new(&mut f, limit);
            let got = c
                .retrieve(&remote, start, Some(len), &mut out, &mut |n| {
                    bar.inc(n.saturating_sub(last));
                    last = n;
                })
                .await
                .map_err(|e| format!("range {start}+{len}: {e}"))?;
            f.flush().await.map_err(|e| e.to_string())?;
            let _ = c.quit().await;
            if got == len {
                Ok(())
            } else {
                Err(format!("range {start}+{len}: got {got} bytes"))
            }
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let r = joined.map_err(|e| e.to_string()).and_then(|r| r);
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let got = std::fs::metadata(local).map_err(|e| e.to_string())?.len();
    if got != size {
        return Err(format!("local size {got}, expected {size}"));
    }
    match same_hash(client, remote, local).await {
        Ok(Some(false)) => Err("the server's hash differs".to_owned()),
        _ => Ok(()),
    }
}

/// Uploads `local` to `remote` (see the module docs), resuming with `-c`, retrying
/// transient errors, and setting the remote modification time (MFMT) when offered.
pub async fn upload(
    ctx: &Ctx,
    client: &mut Client,
    local: &Path,
    remote: &str,
) -> Result<u64, Failure> {
    let meta = std::fs::metadata(local)
        .map_err(|e| Failure::new(Exit::Generic, format!("{}: {e}", local.display())))?;
    let len = meta.len();
    let bar = ctx.progress.bar(remote, Some(len));
    let mut sent = None;
    if ctx.segments > 1 && !ctx.resume && split_ranges(len, ctx.segments).len() > 1 {
        match upload_segmented(ctx, client, local, remote, len, &bar).await {
            Ok(()) => sent = Some(len),
            Err(why) => {
                ctx.progress.println(&format!(
                    "ferry: segmented upload of {remote} failed ({why}); sending it in one \
                     stream"
                ));
                let _ = client.delete(remote).await;
                bar.set(0);
            }
        }
    }
    let sent = match sent {
        Some(n) => n,
        None => upload_stream(ctx, client, local, remote, len, &bar).await?,
    };
    bar.finish();
    if let Some(t) = local_mtime(&meta) {
        if client.features().has("MFMT") {
            if let Err(e) = client.set_mtime(remote, t).await {
                tracing::warn!("cannot set the time of {remote}: {e}");
            }
        }
    }
    if ctx.verify {
        verify_hash(client, remote, local, Exit::Upload, "local file").await?;
    }
    Ok(sent)
}

/// One-stream upload with resume and retries.
async fn upload_stream(
    ctx: &Ctx,
    client: &mut Client,
    local: &Path,
    remote: &str,
    len: u64,
    bar: &Bar,
) -> Result<u64, Failure> {
    let local_err =
        |e: std::io::Error| Failure::new(Exit::Generic, format!("{}: {e}", local.display()));
    let mut attempt = 0;
    let mut append_instead = false;
    let block = block_mode(ctx);
    // `--block`: (local offset, REST marker) of the last marker the server acknowledged.
    let mut restart: Option<(u64, u64)> = None;
    loop {
        let (start, mode) = match restart.take() {
            Some((at, marker)) if at > 0 && at <= len => {
                ctx.progress
                    .println(&format!("ferry: {remote}: restarting at marker {marker}"));
                (at, StoreMode::At(marker))
            }
            _ if block && attempt > 0 => (0, StoreMode::Replace),
            _ => {
                let mut start = 0;
                if ctx.resume || attempt > 0 {
                    start = client.size(remote).await.unwrap_or(0);
                    if start == len && len > 0 {
                        return Ok(len);
                    }
                    if start > len {
                        start = 0;
                    }
                }
                let mode = match (start, append_instead) {
                    (0, _) => StoreMode::Replace,
                    (_, true) => StoreMode::Append,
                    (n, false) => StoreMode::At(n),
                };
                (start, mode)
            }
        };
        let mut file = tokio::fs::File::open(local).await.map_err(local_err)?;
        file.seek(SeekFrom::Start(start)).await.map_err(local_err)?;
        let mut input = Throttle::new(file, ctx.limit);
        bar.set(start);
        let b = bar.clone();
        let result = client
            .store(remote, mode, &mut input, &mut |n| b.set(start + n))
            .await;
        match result {
            Ok(n) => {
                // Check the result with SIZE when offered: a data connection that ended
                // badly can leave a short file behind a positive reply. Resume if so.
                let expected = start + n;
                let size_offered = client.features().has("SIZE");
                match client.size(remote).await {
                    Ok(got) if size_offered && got != expected => {
                        if attempt < ctx.session.retries {
                            attempt += 1;
                            ctx.progress.println(&format!(
                                "ferry: {remote}: the server has {got} of {expected} bytes; \
                                 resuming ({attempt}/{})",
                                ctx.session.retries
                            ));
                            continue;
                        }
                        return Err(Failure::new(
                            Exit::Partial,
                            format!("{remote}: the server has {got} of {expected} bytes"),
                        ));
                    }
                    _ => return Ok(expected),
                }
            }
            Err(e) if matches!(mode, StoreMode::At(_)) && rest_refused(&e) => {
                tracing::info!("{remote}: REST before STOR refused ({e}); resuming with APPE");
                append_instead = true;
            }
            Err(e) if attempt < ctx.session.retries && block_retryable(ctx, &e) => {
                if block {
                    restart = client
                        .restart_point()
                        .map(|p| (start.saturating_add(p.moved), p.remote));
                }
                attempt += 1;
                ctx.progress.println(&format!(
                    "ferry: {remote}: {e}; retrying ({attempt}/{})",
                    ctx.session.retries
                ));
                reconnect(ctx, client, attempt).await?;
            }
            Err(e) => return Err(Failure::client(&e, Stage::Upload, remote)),
        }
    }
}

/// The segmented upload; an error text explains why it did not work.
async fn upload_segmented(
    ctx: &Ctx,
    client: &mut Client,
    local: &Path,
    remote: &str,
    len: u64,
    bar: &Bar,
) -> Result<(), String> {
    client
        .store(
            remote,
            StoreMode::Replace,
            &mut tokio::io::empty(),
            &mut |_| {},
        )
        .await
        .map_err(|e| format!("creating the file: {e}"))?;
    let ranges = split_ranges(len, ctx.segments);
    let limit = per_connection(ctx.limit, ranges.len());
    // Set once the first range's data flows: the server has opened the file by then.
    let (started_tx, started_rx) = tokio::sync::watch::channel(false);
    let started_tx = Arc::new(started_tx);
    let mut tasks = JoinSet::new();
    for (i, (start, part)) in ranges.into_iter().enumerate() {
        let session = ctx.session.clone();
        let remote = remote.to_owned();
        let local = local.to_path_buf();
        let bar = bar.clone();
        let mut started_rx = started_rx.clone();
        let started_tx = Arc::clone(&started_tx);
        tasks.spawn(async move {
            let mut c = session.connect().await.map_err(|e| e.to_string())?;
            if i > 0 {
                // Bounded: the first range signals (or fails, closing the channel).
                let _ = tokio::time::timeout(Duration::from_secs(60), started_rx.wait_for(|s| *s))
                    .await;
            }
            let mut f = tokio::fs::File::open(&local)
                .await
                .map_err(|e| e.to_string())?;
            f.seek(SeekFrom::Start(start))
                .await
                .map_err(|e| e.to_string())?;
            let mut input = Throttle::new(f.take(part), limit);
            // `REST 0` too: a plain STOR may write a temporary file renamed over the
            // target at the end (Ferry does), which would drop the other ranges.
            let mode = StoreMode::At(start);
            let mut last = 0u64;
            let result = c
                .store(&remote, mode, &mut input, &mut |n| {
                    if n > 0 && i == 0 {
                        let _ = started_tx.send(true);
                    }
                    bar.inc(n.saturating_sub(last));
                    last = n;
                })
                .await;
            let _ = started_tx.send(true);
            let sent = result.map_err(|e| format!("range {start}+{part}: {e}"))?;
            let _ = c.quit().await;
            if sent == part {
                Ok(())
            } else {
                Err(format!("range {start}+{part}: sent {sent} bytes"))
            }
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined.map_err(|e| e.to_string()).and_then(|r| r) {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let size = client.size(remote).await.map_err(|e| e.to_string())?;
    if size != len {
        return Err(format!("the server has {size} bytes, expected {len}"));
    }
    match same_hash(client, remote, local).await {
        Ok(Some(false)) => Err("the server's hash differs".to_owned()),
        _ => Ok(()),
    }
}

/// A rate shared by `n` connections.
fn per_connection(limit: Option<u64>, n: usize) -> Option<u64> {
    limit.map(|l| (l / u64::try_from(n.max(1)).unwrap_or(1)).max(1))
}

/// Runs one job on `client`.
pub async fn run_job(ctx: &Ctx, client: &mut Client, job: &Job) -> Result<(), Failure> {
    match job {
        Job::Get {
            remote,
            local,
            size,
            mtime,
        } => download(ctx, client, remote, local, *size, *mtime)
            .await
            .map(|_| ()),
        Job::Put { local, remote } => upload(ctx, client, local, remote).await.map(|_| ()),
    }
}

/// Runs every job, `parallel` at a time (one connection each; `client` serves the first
/// worker). A failed job is reported and the others go on; the result is the first
/// failure. Returns the client back when it survived.
pub async fn run_jobs(
    ctx: Arc<Ctx>,
    client: Client,
    jobs: Vec<Job>,
    parallel: u16,
) -> (Option<Client>, Result<(), Failure>) {
    let total = jobs.len();
    let workers = usize::from(parallel.max(1)).min(total.max(1));
    // With one job the caller prints its error; with several, each is printed as it
    // happens and the result sums them up.
    let report = move |f: &Failure| {
        if total > 1 {
            eprintln!("ferry: error: {f}");
        }
    };
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let queue = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let next = {
        let queue = Arc::clone(&queue);
        move || queue.lock().ok().and_then(|mut q| q.pop_front())
    };
    if workers <= 1 {
        let mut client = client;
        let mut first = Ok(());
        while let Some(job) = next() {
            if let Err(f) = run_job(&ctx, &mut client, &job).await {
                report(&f);
                failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if first.is_ok() {
                    first = Err(f);
                }
            }
        }
        return (Some(client), summarize(first, &failed, total));
    }
    let mut tasks = JoinSet::new();
    let mut first_client = Some(client);
    for _ in 0..workers {
        let ctx = Arc::clone(&ctx);
        let next = next.clone();
        let given = first_client.take();
        let failed = Arc::clone(&failed);
        tasks.spawn(async move {
            let mut first = Ok(());
            let mut client = match given {
                Some(c) => c,
                None => match ctx.session.connect().await {
                    Ok(c) => c,
                    // The other workers take the queue over.
                    Err(f) => return Err(f),
                },
            };
            while let Some(job) = next() {
                if let Err(f) = run_job(&ctx, &mut client, &job).await {
                    report(&f);
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if first.is_ok() {
                        first = Err(f);
                    }
                }
            }
            let _ = client.quit().await;
            first
        });
    }
    let mut first = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let r = joined.unwrap_or_else(|e| Err(Failure::new(Exit::Generic, e.to_string())));
        if let Err(f) = r {
            if first.is_ok() {
                first = Err(f);
            }
        }
    }
    // Jobs left when every worker failed to connect.
    let left = queue.lock().map(|q| q.len()).unwrap_or(0);
    if left > 0 && first.is_ok() {
        first = Err(Failure::new(
            Exit::Connect,
            format!("{left} transfers not done"),
        ));
    }
    (None, summarize(first, &failed, total))
}

/// With several jobs, the first failure's exit code with a count as the message.
fn summarize(
    first: Result<(), Failure>,
    failed: &std::sync::atomic::AtomicUsize,
    total: usize,
) -> Result<(), Failure> {
    let n = failed.load(std::sync::atomic::Ordering::Relaxed);
    match first {
        Err(f) if total > 1 && n > 0 => Err(Failure::new(
            f.exit,
            format!("{n} of {total} transfers failed"),
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_file() {
        assert_eq!(split_ranges(10, 4), vec![(0, 10)]);
        let r = split_ranges(MIN_SEGMENT * 4 + 3, 4);
        assert_eq!(r.len(), 4);
        assert_eq!(r.iter().map(|(_, l)| l).sum::<u64>(), MIN_SEGMENT * 4 + 3);
        for w in r.windows(2) {
            assert_eq!(w[0].0 + w[0].1, w[1].0);
        }
        assert_eq!(split_ranges(MIN_SEGMENT * 2, 8).len(), 2);
        assert_eq!(split_ranges(0, 3), vec![(0, 0)]);
    }

    #[test]
    fn crc32_known_value() {
        let mut c = Crc32::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    #[test]
    fn local_hashes_and_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            local_hash(&p, HashAlgorithm::Sha256).unwrap().as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            local_hash(&p, HashAlgorithm::Crc32).unwrap().as_deref(),
            Some("352441c2")
        );
        assert_eq!(local_hash(&p, HashAlgorithm::Md5).unwrap(), None);
        set_local_mtime(&p, 1_000_000_000).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(local_mtime(&m), Some(1_000_000_000));
    }
}
