//! Moving data: files and listings over a data connection (or, for STAT, the control
//! connection).
//!
//! A transfer runs in two phases so that the session can send the 150 reply in between and
//! keep reading the control connection (for ABOR) during both:
//! 1. [`prepare`] opens the file or directory (errors here become `550` before any data
//!    connection is used);
//! 2. [`run`] moves the bytes on the established data connection.
//!
//! Plain TYPE I downloads use `sendfile(2)` through rustix (no copy through user space);
//! plain TYPE I uploads into a sink that supports it ([`WriteSink::can_splice`]: a local
//! file not opened for appending) use `splice(2)` socket → pipe → file, after a first
//! 32 KiB read into memory and written on the async thread ([`WriteSink::write_now`]): a
//! small file is done before a pipe would be made. Everything else (TLS, MODE Z, TYPE A,
//! MODE B and C, APPE) goes through a bounded buffer.
//!
//! ## Representations
//!
//! [`RunOptions::repr`] is the TYPE × STRU × MODE of the transfer. When the wire bytes are
//! the file's ([`Representation::is_identity`]: TYPE I or L 8, STRU F, MODE S or Z) they are
//! copied (sendfile when possible); otherwise downloads go through a [`FileEncoder`] and
//! uploads through a [`WireDecoder`] (`ferry_proto::repr`), chunk by chunk in the same
//! bounded buffers, under MODE Z's deflate layer when there is one.
//!
//! - MODE B and C uploads end at the end-of-file mark (the close is not waited for); a
//!   close before it is a lost connection (`426`), malformed data `451`; either way the sink
//!   is aborted (the storage's abort rules apply).
//! - Restart markers: a MODE B or C download sends one every [`MARKER_EVERY`] file bytes,
//!   its text the file offset in decimal, so `REST <marker>` resumes there (not for STRU P
//!   or ASA format control). For every marker an upload receives, the control connection
//!   sends `110 MARK <marker> = <offset>` ([`RunOptions::marks`]) where `offset` is the
//!   stored file's offset (counted from [`RunOptions::start`]: REST + STOR), again what
//!   `REST` takes. After APPE offsets count from the start of the appended data.
//! - STRU P: uploads store the data of the simple and access-controlled pages, concatenated;
//!   the page headers (index, type, optional fields) and the descriptor pages' data go to
//!   the file's page layout ([`Storage::set_page_layout`]; the local backend keeps it as a
//!   hidden `.<name>.ferry-pages` beside the file), one `PageHeader::to_line` per page. A
//!   STRU P download of the whole file replays that layout, so the pages come back as they
//!   were sent; without one (or from a REST offset) the file goes as simple pages of 255
//!   bytes and a last page. Any other complete upload of the whole file (and APPE, REST +
//!   STOR, in any structure) drops the layout; a layout over
//!   [`ferry_storage::MAX_PAGE_LAYOUT`] bytes is not kept.
//! - Listings are CRLF text: in MODE B and C they are framed (with an end-of-file mark),
//!   whatever TYPE and STRU are in force.
//! - Throttles count wire bytes; quotas count stored bytes (after decoding).
//!
//! Bandwidth limits ([`crate::throttle`]): every data loop asks its [`Throttle`] for each
//! chunk before moving it, and cuts its chunks to the throttle's burst: downloads (the
//! buffered and the sendfile paths, plain or TLS, TYPE I or A) count the bytes sent on the
//! wire, uploads the bytes read from it, listings count as downloads. An unlimited
//! throttle costs nothing.
//!
//! Quotas ([`crate::quota`]): an upload with an [`UploadCharge`] has each chunk approved
//! (as written to storage, after TYPE A conversion) before it is written; a refused chunk
//! ends the upload with [`WriteSink::discard`] (no partial file remains) and `552`. A full
//! disk ([`StorageError::NoSpace`] from a write) ends it the same way: an upload cut by a
//! full disk leaves the target as it was (no partial new file, an append truncated back),
//! rather than keeping the partial bytes as other interruptions do.
//!
//! MODE Z ([`RunOptions::deflate`]): the data stream is wrapped
//! ([`DataStream::deflate`]/[`DataStream::inflate`]), inside TLS under PROT P and after the
//! TYPE A conversion; sendfile is bypassed. Everything counted then is the uncompressed
//! data (the file's bytes, after TYPE A conversion): progress, the bytes reported (so
//! xferlog shows file sizes), quota charges and the throttles, which thus also bound how
//! fast a highly compressed upload may grow on disk. An upload inflates into the same
//! bounded buffer as any other, chunk by chunk, each chunk approved by the quota before it
//! is written: a "zip bomb" costs no memory and stops at the quota. Uploads end at the end
//! of the zlib stream; a connection closed before it is a lost connection (`426`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_proto::command::{FormatControl, Mode, Structure, TransferType};
use ferry_proto::listing::{
    write_list_line, write_mlsx_facts, write_nlst_line, EntryKind, MlsxType,
};
use ferry_proto::repr::{FileEncoder, PageHeader, ReprError, Representation, WireDecoder};
use ferry_proto::server::{
    wildcard_match, ListFormat, OpError, StoreMode, TransferKind, TransferOutcome,
};
use ferry_proto::VirtualPath;
use ferry_storage::{DirLister, Metadata, ReadHandle, Storage, StorageError, WriteMode, WriteSink};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::quota::UploadCharge;
use crate::stream::DataStream;
use crate::throttle::Throttle;
use tokio::time::timeout;
use tracing::{info, warn};

/// Size of the buffer used for uploads and non-sendfile downloads.
const BUF_SIZE: usize = 256 * 1024;
/// Bytes asked of one sendfile call. Calls of a few MiB were slower on loopback (about
/// 2.6 against 3.4-4.4 GB/s in `bench/`) and cost more CPU per GiB; probably because a
/// long call holds the socket while the peer's ACKs queue behind it (not verified).
const SENDFILE_CHUNK: usize = 256 * 1024;
/// Directory entries fetched per batch when listing (each batch is one trip to the
/// storage's blocking thread and one write of about 70-100 bytes per entry).
const LIST_BATCH: usize = 1024;
/// Names STOU tries before giving up.
const STOU_ATTEMPTS: u32 = 100;

/// Maps a storage error to the reply the session sends.
pub fn op_error(e: &StorageError) -> OpError {
    OpError::new(e.reply_code(), e.to_string())
}

/// Maps an error opening a file at a REST offset: an offset past the end of the file is
/// `554` (RFC 3659 §5.4).
fn open_error(e: StorageError, offset: u64) -> TransferOutcome {
    if offset > 0 && e.is_invalid_input() {
        return TransferOutcome::OpenFailed(OpError::new(554, "invalid REST parameter"));
    }
    TransferOutcome::OpenFailed(op_error(&e))
}

/// What phase 1 opened.
pub enum Prepared {
    /// A file to send.
    Send {
        /// The open file.
        handle: ReadHandle,
    },
    /// An upload sink, with the STOU name when one was chosen.
    Receive {
        /// Where the bytes go.
        sink: Box<dyn WriteSink>,
        /// The name chosen by STOU.
        unique_name: Option<String>,
    },
    /// A directory listing (or a single entry when LIST names a file).
    Listing(ListSource),
}

/// Entries to list.
pub enum ListSource {
    /// A directory, streamed in batches.
    Dir(Box<dyn DirLister>),
    /// One entry (LIST of a file).
    Single(Metadata),
}

impl Prepared {
    /// Bytes a download will send, when known (for the 150 reply).
    pub fn size(&self) -> Option<u64> {
        match self {
            Prepared::Send {
                handle: ReadHandle::File { offset, len, .. },
            } => Some(len.saturating_sub(*offset)),
            _ => None,
        }
    }

    /// The STOU name, if any.
    pub fn unique_name(&self) -> Option<String> {
        match self {
            Prepared::Receive { unique_name, .. } => unique_name.clone(),
            _ => None,
        }
    }
}

/// Phase 1: opens what the transfer needs.
pub async fn prepare(
    storage: &Arc<dyn Storage>,
    kind: &TransferKind,
) -> Result<Prepared, TransferOutcome> {
    let fail = |e: StorageError| TransferOutcome::OpenFailed(op_error(&e));
    match kind {
        TransferKind::Retr { path, offset } => {
            let handle = storage
                .open_read(path, *offset)
                .await
                .map_err(|e| open_error(e, *offset))?;
            Ok(Prepared::Send { handle })
        }
        TransferKind::Stor { path, mode } => {
            let (mode, offset) = match mode {
                StoreMode::Replace => (WriteMode::Replace, 0),
                StoreMode::Append => (WriteMode::Append, 0),
                StoreMode::At(n) => (WriteMode::At(*n), *n),
                StoreMode::Create => (WriteMode::CreateNew, 0),
            };
            let sink = storage.open_write(path, mode).await.map_err(|e| match e {
                // An account that may not overwrite: the name is taken (as vsftpd's 553).
                StorageError::AlreadyExists => TransferOutcome::OpenFailed(OpError::new(
                    553,
                    "file exists and may not be overwritten",
                )),
                e => open_error(e, offset),
            })?;
            Ok(Prepared::Receive {
                sink,
                unique_name: None,
            })
        }
        TransferKind::Stou { dir, base } => {
            for i in 0..STOU_ATTEMPTS {
                let name = if i == 0 {
                    base.clone()
                } else {
                    format!("{base}.{i}")
                };
                let path = dir.join(&name).map_err(|_| {
                    TransferOutcome::OpenFailed(OpError::new(553, "file name not allowed"))
                })?;
                match storage.open_write(&path, WriteMode::CreateNew).await {
                    Ok(sink) => {
                        return Ok(Prepared::Receive {
                            sink,
                            unique_name: Some(name),
                        })
                    }
                    Err(StorageError::AlreadyExists) => continue,
                    Err(e) => return Err(fail(e)),
                }
            }
            Err(TransferOutcome::OpenFailed(OpError::new(
                450,
                "no unique file name available",
            )))
        }
        TransferKind::List { path, format, .. } => {
            let meta = storage.metadata(path).await.map_err(fail)?;
            if meta.kind == EntryKind::Dir {
                let lister = storage.list(path).await.map_err(fail)?;
                Ok(Prepared::Listing(ListSource::Dir(lister)))
            } else if *format == ListFormat::Mlsd {
                Err(TransferOutcome::OpenFailed(OpError::new(
                    501,
                    "not a directory",
                )))
            } else {
                let name = path.file_name().unwrap_or("").to_string();
                Ok(Prepared::Listing(ListSource::Single(Metadata {
                    name,
                    ..meta
                })))
            }
        }
    }
}

/// Settings of phase 2.
pub struct RunOptions<'a> {
    /// TYPE × STRU × MODE of the data (see the module docs, "Representations").
    pub repr: Representation,
    /// Where the text of `110 MARK` replies goes (MODE B and C uploads), for the control
    /// connection to send while the transfer runs.
    pub marks: Option<tokio::sync::mpsc::Sender<String>>,
    /// The file offset the transfer starts at (REST): restart markers and `110` replies
    /// count from the start of the file.
    pub start: u64,
    /// Where the file's page layout is kept: read by STRU P downloads, written or dropped
    /// after uploads (see the module docs).
    pub pages: Option<PageLayout>,
    /// How long one read or write on the data connection may stall.
    pub stall: Duration,
    /// Bytes moved so far, for STAT during a transfer.
    pub progress: &'a AtomicU64,
    /// The listing format and wildcard, for listings.
    pub list: Option<(ListFormat, Option<&'a str>)>,
    /// The MLSx `perm` fact for files and directories, and the facts to show.
    pub mlsx: MlsxOptions<'a>,
    /// Bandwidth limits (global and the account's) for this transfer's direction.
    pub throttle: Throttle,
    /// Quota bookkeeping of an upload under a quota.
    pub quota: Option<UploadCharge>,
    /// MODE Z with this compression level (see the module docs).
    pub deflate: Option<u8>,
}

/// The page layout of one file (STRU P).
pub struct PageLayout {
    /// The storage holding the file.
    pub storage: Arc<dyn Storage>,
    /// The file.
    pub path: VirtualPath,
    /// For an upload: it writes the whole file (STOR, STOU), so a STRU P layout is kept;
    /// otherwise (APPE, REST + STOR) the layout is dropped.
    pub whole: bool,
}

impl PageLayout {
    /// The kept layout, when there is a valid one.
    async fn read(&self) -> Option<Vec<PageHeader>> {
        let bytes = self.storage.page_layout(&self.path).await.ok().flatten()?;
        let text = String::from_utf8(bytes).ok()?;
        let layout: Result<Vec<PageHeader>, _> = text.lines().map(PageHeader::parse_line).collect();
        match layout {
            Ok(l) => Some(l),
            Err(e) => {
                warn!(path = %self.path, error = %e, "page layout ignored");
                None
            }
        }
    }

    /// After a complete upload: keeps `layout` (STRU P of the whole file) or drops the old.
    async fn write(&self, layout: Option<Vec<u8>>) {
        let layout = layout.filter(|_| self.whole);
        if let Err(e) = self.storage.set_page_layout(&self.path, layout).await {
            warn!(path = %self.path, error = %e, "page layout not updated");
        }
    }
}

/// What MLSD lines show.
pub struct MlsxOptions<'a> {
    /// `perm` of a file.
    pub file_perm: &'a str,
    /// `perm` of a directory.
    pub dir_perm: &'a str,
    /// Facts selected with OPTS MLST.
    pub facts: &'a [ferry_proto::listing::Fact],
}

/// Phase 2: moves the data over `stream`, then closes it.
pub async fn run(
    prepared: Prepared,
    mut stream: DataStream,
    mut opts: RunOptions<'_>,
) -> TransferOutcome {
    let charge = opts.quota.take();
    if let Some(level) = opts.deflate {
        stream = match prepared {
            Prepared::Receive { .. } => stream.inflate(),
            _ => stream.deflate(level),
        };
    }
    let result = match prepared {
        Prepared::Send { handle } => send_file(handle, &mut stream, &opts).await,
        Prepared::Receive { sink, .. } => {
            let outcome = receive_file(sink, &mut stream, &opts, charge).await;
            // Answer the client's close_notify with ours (clients such as Python's ftplib
            // wait for it); the upload is already complete, so a failure here changes
            // nothing.
            let _ = timeout(Duration::from_secs(5), stream.shutdown()).await;
            return outcome;
        }
        Prepared::Listing(source) => {
            let (format, pattern) = opts.list.unwrap_or((ListFormat::List, None));
            send_listing(source, format, pattern, &mut stream, &opts).await
        }
    };
    match result {
        Ok(bytes) => {
            // Make sure everything is flushed and the client sees EOF before the 226.
            if let Err(e) = timeout(opts.stall, stream.shutdown())
                .await
                .unwrap_or(Err(timed_out()))
            {
                return TransferOutcome::ConnectionLost(e.to_string());
            }
            TransferOutcome::Complete { bytes }
        }
        Err(Failure::Net(e)) => TransferOutcome::ConnectionLost(e.to_string()),
        Err(Failure::Storage(e)) => TransferOutcome::StorageFailed(op_error(&e)),
    }
}

/// A failure while moving data: the network side or the storage side.
pub enum Failure {
    /// The data (or control) connection failed or stalled.
    Net(io::Error),
    /// Storage failed.
    Storage(StorageError),
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "data connection stalled")
}

async fn write_all_timed<W: AsyncWrite + Unpin>(
    w: &mut W,
    buf: &[u8],
    stall: Duration,
) -> Result<(), Failure> {
    match timeout(stall, w.write_all(buf)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Net(e)),
        Err(_) => Err(Failure::Net(timed_out())),
    }
}

async fn read_timed<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    stall: Duration,
) -> Result<usize, Failure> {
    match timeout(stall, r.read(buf)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(Failure::Net(e)),
        Err(_) => Err(Failure::Net(timed_out())),
    }
}

async fn send_file(
    handle: ReadHandle,
    stream: &mut DataStream,
    opts: &RunOptions<'_>,
) -> Result<u64, Failure> {
    let ReadHandle::File { file, offset, .. } = handle else {
        let e = io::Error::other("this storage's read handle is not supported");
        return Err(Failure::Storage(StorageError::Io(e)));
    };
    let identity = opts.repr.is_identity();
    if let (true, Some(tcp)) = (identity, stream.as_plain()) {
        match sendfile_all(&file, offset, tcp, opts).await {
            Ok(n) => return Ok(n),
            Err(SendfileError::Unsupported) => {}
            Err(SendfileError::Failed(f)) => return Err(f),
        }
    }
    // Buffered path: TLS, MODE Z, representations other than the file's bytes, or files
    // sendfile cannot handle.
    let mut file = tokio::fs::File::from_std(file);
    let mut buf = vec![0u8; opts.throttle.cap(BUF_SIZE)];
    let layout = match (&opts.pages, opts.repr.structure(), offset) {
        (Some(pages), Structure::Page, 0) => pages.read().await,
        _ => None,
    };
    let mut enc = (!identity).then(|| match layout {
        Some(l) => FileEncoder::with_page_layout(opts.repr, l)
            .unwrap_or_else(|_| FileEncoder::new(opts.repr)),
        None => FileEncoder::new(opts.repr),
    });
    let markers = sends_markers(&opts.repr);
    let mut wire = Vec::with_capacity(if identity { 0 } else { BUF_SIZE * 2 });
    let mut pos = offset;
    let mut next_marker = offset.saturating_add(MARKER_EVERY);
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| Failure::Storage(StorageError::Io(e)))?;
        let chunk = buf.get(..n).unwrap_or_default();
        let out: &[u8] = match enc.as_mut() {
            None => chunk,
            Some(enc) => {
                wire.clear();
                if n == 0 {
                    enc.finish(&mut wire);
                } else {
                    enc.encode(chunk, &mut wire);
                    pos += n as u64;
                    if markers && pos >= next_marker {
                        // The marker is the file offset in decimal: `REST <marker>` resumes.
                        let _ = enc.marker(pos.to_string().as_bytes(), &mut wire);
                        next_marker = pos.saturating_add(MARKER_EVERY);
                    }
                }
                &wire
            }
        };
        if !out.is_empty() {
            opts.throttle.acquire(out.len() as u64).await;
            write_all_timed(stream, out, opts.stall).await?;
            total += out.len() as u64;
            opts.progress.store(total, Ordering::Relaxed);
        }
        if n == 0 {
            return Ok(total);
        }
    }
}

/// File bytes between two restart markers of a download in MODE B or C.
const MARKER_EVERY: u64 = 1024 * 1024;

/// Whether a download in `repr` sends restart markers: MODE B and C, where every file
/// offset is a place the encoder can resume from (not pages, whose numbering restarts, nor
/// ASA lines, which are held back until their end).
fn sends_markers(repr: &Representation) -> bool {
    matches!(repr.mode(), Mode::Block | Mode::Compressed)
        && repr.structure() != Structure::Page
        && !matches!(
            repr.transfer_type(),
            TransferType::Ascii(FormatControl::Asa) | TransferType::Ebcdic(FormatControl::Asa)
        )
}

/// The `110` reply text for a marker received at stored-file offset `offset`: RFC 959's
/// `MARK yyyy = mmmm`, the sender's marker then ours (the offset, what `REST` takes). Bytes
/// of the peer's marker outside printable ASCII are shown as `?` (no reply injection).
fn mark_text(marker: &[u8], offset: u64) -> String {
    let shown: String = marker
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect();
    format!("MARK {shown} = {offset}")
}

/// Ends an upload whose data the representation's decoder refused: the sink is aborted
/// (the storage's abort rules apply); a transfer cut before its end-of-file mark is a lost
/// connection (`426`), malformed data `451`.
async fn refused_data(sink: Box<dyn WriteSink>, e: ReprError) -> TransferOutcome {
    let _ = sink.abort().await;
    match e {
        ReprError::MissingEof | ReprError::Truncated => {
            TransferOutcome::ConnectionLost(format!("incomplete data: {e}"))
        }
        e => TransferOutcome::StorageFailed(OpError::new(451, format!("invalid data: {e}"))),
    }
}

enum SendfileError {
    Unsupported,
    Failed(Failure),
}

async fn sendfile_all(
    file: &std::fs::File,
    offset: u64,
    stream: &TcpStream,
    opts: &RunOptions<'_>,
) -> Result<u64, SendfileError> {
    let mut pos = offset;
    let mut total = 0u64;
    // Under a bandwidth limit: bytes granted by the throttle and not sent yet; each
    // sendfile call sends at most that much.
    let limited = !opts.throttle.is_unlimited();
    let grant = opts.throttle.cap(SENDFILE_CHUNK);
    let mut allowed = 0usize;
    loop {
        if limited && allowed == 0 {
            opts.throttle.acquire(grant as u64).await;
            allowed = grant;
        }
        let ask = if limited { allowed } else { SENDFILE_CHUNK };
        match timeout(opts.stall, stream.writable()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(SendfileError::Failed(Failure::Net(e))),
            Err(_) => return Err(SendfileError::Failed(Failure::Net(timed_out()))),
        }
        let r = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, Some(&mut pos), ask).map_err(io::Error::from)
        });
        match r {
            Ok(0) => {
                // The end: what was granted and not sent goes back to the buckets.
                opts.throttle.refund(allowed as u64);
                return Ok(total);
            }
            Ok(n) => {
                allowed = allowed.saturating_sub(n);
                total += n as u64;
                opts.progress.store(total, Ordering::Relaxed);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e)
                if total == 0
                    && matches!(e.raw_os_error(), Some(code) if code == rustix::io::Errno::INVAL.raw_os_error()
                        || code == rustix::io::Errno::NOSYS.raw_os_error()) =>
            {
                return Err(SendfileError::Unsupported)
            }
            Err(e) => return Err(SendfileError::Failed(Failure::Net(e))),
        }
    }
}

/// Capacity asked for the pipe of a spliced upload (at most `/proc/sys/fs/pipe-max-size`
/// unprivileged; a pipe that cannot grow keeps its default size and still works).
const PIPE_SIZE: usize = 1024 * 1024;

/// A pipe for spliced uploads: (reading end, writing end, capacity).
type SplicePipe = (OwnedFd, OwnedFd, usize);

/// A new pipe for a spliced upload, grown to [`PIPE_SIZE`] when allowed. (Pipes are not
/// kept between uploads: a session's descriptors stay what they were after a transfer.)
fn new_pipe() -> Option<SplicePipe> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
    let cap = rustix::pipe::fcntl_setpipe_size(&wr, PIPE_SIZE)
        .or_else(|_| rustix::pipe::fcntl_getpipe_size(&wr))
        .ok()?;
    Some((rd, wr, cap))
}

/// What [`receive_spliced`] did.
enum Spliced {
    /// The upload ended (well or not).
    Done(TransferOutcome),
    /// Splicing is not possible here: use the buffered path for the rest, the sink having
    /// taken that many bytes already.
    Fallback(Box<dyn WriteSink>, Option<UploadCharge>, u64),
}

/// Bytes of a spliced upload read into memory before a pipe is made for the rest: a file
/// this small is received with plain reads and written with one write, without creating,
/// sizing and closing a pipe (five system calls and the pipe's allocation, for a few KiB).
const SPLICE_AFTER: usize = 32 * 1024;

/// Zero-copy upload of the file's bytes (TYPE I, STRU F, MODE S, plain TCP) into a sink
/// that can splice: `splice(2)` moves the socket's data into a pipe (non-blocking, driven
/// by the socket's readiness), then from the pipe into the file, without a copy through
/// user space. The first [`SPLICE_AFTER`] bytes are read into memory and written on the
/// calling thread ([`WriteSink::write_now`]); only a larger upload gets a pipe. Every
/// chunk is counted by the throttle and approved by the quota before it reaches the file,
/// exactly as in the buffered path; a refused chunk or a full disk discards the upload
/// (`552`), anything else keeps the rules of [`receive_file`].
async fn receive_spliced(
    mut sink: Box<dyn WriteSink>,
    tcp: &TcpStream,
    opts: &RunOptions<'_>,
    mut charge: Option<UploadCharge>,
) -> Spliced {
    let mut head = Vec::with_capacity(opts.throttle.cap(SPLICE_AFTER).max(1));
    let mut ended = false;
    while head.len() < head.capacity() {
        if let Err(e) = readable(tcp, opts).await {
            let _ = sink.abort().await;
            return Spliced::Done(TransferOutcome::ConnectionLost(e.to_string()));
        }
        match tcp.try_read_buf(&mut head) {
            Ok(0) => {
                ended = true;
                break;
            }
            Ok(_) => {}
            Err(e) if is_retry(&e) => {}
            Err(e) => {
                let _ = sink.abort().await;
                return Spliced::Done(TransferOutcome::ConnectionLost(e.to_string()));
            }
        }
    }
    let mut total = head.len() as u64;
    if !head.is_empty() {
        opts.throttle.acquire(total).await;
        if let Some(c) = charge.as_mut() {
            if let Err(refused) = c.try_write(total) {
                return Spliced::Done(over_quota(sink, charge, refused).await);
            }
        }
        let mut done = 0;
        while done < head.len() {
            let rest = head.get(done..).unwrap_or_default();
            let written = match sink.write_now(rest) {
                // A sink that can splice but not write here: its usual way.
                Err(StorageError::Unsupported(_)) => {
                    sink.write(rest.to_vec()).await.map(|_| rest.len())
                }
                other => other,
            };
            match written {
                Ok(0) => return Spliced::Done(store_failed(sink, charge, took_nothing()).await),
                Ok(k) => done += k,
                Err(e) => return Spliced::Done(store_failed(sink, charge, e).await),
            }
        }
        opts.progress.store(total, Ordering::Relaxed);
    }
    if ended {
        return Spliced::Done(finish_upload(sink, charge, opts, total, None).await);
    }
    let Some(pipe) = new_pipe() else {
        return Spliced::Fallback(sink, charge, total);
    };
    let (rd, wr, cap) = &pipe;
    let ask = opts.throttle.cap(*cap).max(1);
    let flags = rustix::pipe::SpliceFlags::NONBLOCK | rustix::pipe::SpliceFlags::MOVE;
    loop {
        if let Err(e) = readable(tcp, opts).await {
            let _ = sink.abort().await;
            return Spliced::Done(TransferOutcome::ConnectionLost(e.to_string()));
        }
        let r = tcp.try_io(Interest::READABLE, || {
            rustix::pipe::splice(tcp, None, wr, None, ask, flags).map_err(io::Error::from)
        });
        let n = match r {
            Ok(n) => n,
            Err(e) if is_retry(&e) => continue,
            // The socket cannot be spliced (nothing was taken from it by this call).
            Err(e)
                if matches!(e.raw_os_error(), Some(code) if code == rustix::io::Errno::INVAL.raw_os_error()
                        || code == rustix::io::Errno::NOSYS.raw_os_error()) =>
            {
                return Spliced::Fallback(sink, charge, total);
            }
            Err(e) => {
                let _ = sink.abort().await;
                return Spliced::Done(TransferOutcome::ConnectionLost(e.to_string()));
            }
        };
        if n == 0 {
            return Spliced::Done(finish_upload(sink, charge, opts, total, None).await);
        }
        opts.throttle.acquire(n as u64).await;
        if let Some(c) = charge.as_mut() {
            if let Err(refused) = c.try_write(n as u64) {
                return Spliced::Done(over_quota(sink, charge, refused).await);
            }
        }
        let mut left = n;
        while left > 0 {
            match sink.splice_from(rd.as_fd(), left) {
                Ok(0) => return Spliced::Done(store_failed(sink, charge, took_nothing()).await),
                Ok(k) => left = left.saturating_sub(k),
                Err(e) => return Spliced::Done(store_failed(sink, charge, e).await),
            }
        }
        total += n as u64;
        opts.progress.store(total, Ordering::Relaxed);
    }
}

/// Waits until the data connection is readable, within the stall timeout.
async fn readable(tcp: &TcpStream, opts: &RunOptions<'_>) -> io::Result<()> {
    match timeout(opts.stall, tcp.readable()).await {
        Ok(r) => r,
        Err(_) => Err(timed_out()),
    }
}

/// A non-blocking read or splice that should simply be tried again.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// The error of a write that took no bytes.
fn took_nothing() -> StorageError {
    StorageError::Io(io::Error::new(
        io::ErrorKind::WriteZero,
        "the file took no bytes",
    ))
}

/// A write into the file failed: a full disk discards the upload as a quota would (no
/// partial file), anything else aborts it under the rules of its mode.
async fn store_failed(
    sink: Box<dyn WriteSink>,
    charge: Option<UploadCharge>,
    e: StorageError,
) -> TransferOutcome {
    if matches!(e, StorageError::NoSpace) {
        return over_quota(sink, charge, op_error(&e)).await;
    }
    let _ = sink.abort().await;
    TransferOutcome::StorageFailed(op_error(&e))
}

/// The upload's data ended: makes the file visible and settles its quota and page layout
/// (`layout`: the STRU P layout received, if any).
async fn finish_upload(
    sink: Box<dyn WriteSink>,
    charge: Option<UploadCharge>,
    opts: &RunOptions<'_>,
    total: u64,
    layout: Option<Vec<u8>>,
) -> TransferOutcome {
    match sink.finish().await {
        Ok(_) => {
            if let Some(c) = charge {
                c.finish();
            }
            if let Some(pages) = opts.pages.as_ref() {
                pages.write(layout).await;
            }
            TransferOutcome::Complete { bytes: total }
        }
        Err(e) => TransferOutcome::StorageFailed(op_error(&e)),
    }
}

async fn receive_file(
    mut sink: Box<dyn WriteSink>,
    stream: &mut DataStream,
    opts: &RunOptions<'_>,
    mut charge: Option<UploadCharge>,
) -> TransferOutcome {
    // Bytes the sink took (from the spliced path, when it hands over).
    let mut total = 0u64;
    if opts.repr.is_identity() && sink.can_splice() {
        if let Some(tcp) = stream.as_plain() {
            match receive_spliced(sink, tcp, opts, charge).await {
                Spliced::Done(outcome) => return outcome,
                Spliced::Fallback(s, c, n) => (sink, charge, total) = (s, c, n),
            }
        }
    }
    let mut buf = vec![0u8; opts.throttle.cap(BUF_SIZE)];
    let mut out = Vec::with_capacity(BUF_SIZE);
    let mut dec = (!opts.repr.is_identity()).then(|| WireDecoder::new(opts.repr));
    let mut marks = Vec::new();
    // The page layout being received (STRU P), until it grows too large to keep.
    let mut layout = (opts.repr.structure() == Structure::Page).then(Vec::new);
    loop {
        let n = match read_timed(stream, &mut buf, opts.stall).await {
            Ok(n) => n,
            Err(Failure::Net(e)) => {
                let _ = sink.abort().await;
                return TransferOutcome::ConnectionLost(e.to_string());
            }
            Err(Failure::Storage(e)) => return TransferOutcome::StorageFailed(op_error(&e)),
        };
        opts.throttle.acquire(n as u64).await;
        let chunk = buf.get(..n).unwrap_or_default();
        let mut done = n == 0;
        match dec.as_mut() {
            None => out.extend_from_slice(chunk),
            Some(d) => {
                let r = if n == 0 {
                    d.finish(&mut out)
                } else {
                    d.decode(chunk, &mut out)
                };
                if let Err(e) = r {
                    return refused_data(sink, e).await;
                }
                // Answered once the data before them is written (below).
                marks = d.take_markers();
                let headers = d.take_page_headers();
                if let Some(l) = layout.as_mut() {
                    for h in &headers {
                        l.extend_from_slice(h.to_line().as_bytes());
                        l.push(b'\n');
                    }
                }
                if layout
                    .as_ref()
                    .is_some_and(|l| l.len() > ferry_storage::MAX_PAGE_LAYOUT)
                {
                    layout = None;
                }
                // MODE B and C end at the end-of-file mark, before the close.
                done |= d.is_done();
            }
        }
        if !out.is_empty() {
            if let Some(c) = charge.as_mut() {
                if let Err(refused) = c.try_write(out.len() as u64) {
                    return over_quota(sink, charge, refused).await;
                }
            }
            match sink.write(std::mem::take(&mut out)).await {
                Ok(mut back) => {
                    back.clear();
                    out = back;
                }
                // A full disk: like an upload over a quota, leave no partial file (a new
                // file is removed, an append truncated back), so no damaged file remains
                // and the space is free again; `552`.
                Err(e @ StorageError::NoSpace) => {
                    return over_quota(sink, charge, op_error(&e)).await;
                }
                Err(e) => {
                    let _ = sink.abort().await;
                    return TransferOutcome::StorageFailed(op_error(&e));
                }
            }
        }
        if let Some(tx) = opts.marks.as_ref() {
            for m in marks.drain(..) {
                let offset = opts.start.saturating_add(m.offset);
                // The control connection is gone when this fails: the upload goes on.
                let _ = tx.send(mark_text(&m.marker, offset)).await;
            }
        }
        total += n as u64;
        opts.progress.store(total, Ordering::Relaxed);
        if done {
            return finish_upload(sink, charge, opts, total, layout).await;
        }
    }
}

/// Ends an upload that would go over the quota (or that met a full disk): the sink is
/// discarded (no partial file, a replaced file keeps its content, an append is truncated
/// back), its charge given back, and the session answers `552`.
async fn over_quota(
    sink: Box<dyn WriteSink>,
    charge: Option<UploadCharge>,
    refused: OpError,
) -> TransferOutcome {
    let written = charge.as_ref().map_or(0, UploadCharge::written);
    match sink.discard().await {
        Ok(()) => {
            info!(written, reason = %refused.message, "refused upload discarded");
            if let Some(c) = charge {
                c.discard();
            }
        }
        Err(e) => {
            // What is left on disk stays charged (the charge settles as interrupted).
            warn!(error = %e, reason = %refused.message, "refused upload could not be discarded entirely");
        }
    }
    TransferOutcome::StorageFailed(refused)
}

/// Current time as Unix seconds, for listing dates.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Formats one entry for a listing.
pub fn format_entry(
    entry: &Metadata,
    format: ListFormat,
    now: i64,
    mlsx: &MlsxOptions<'_>,
    out: &mut Vec<u8>,
) {
    match format {
        ListFormat::List => write_list_line(entry, now, out),
        ListFormat::Nlst => write_nlst_line(&entry.name, out),
        ListFormat::Mlsd => {
            let perm = if entry.kind == EntryKind::Dir {
                mlsx.dir_perm
            } else {
                mlsx.file_perm
            };
            write_mlsx_facts(entry, MlsxType::FromKind, perm, mlsx.facts, out);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Streams a listing to `w` batch by batch; returns bytes written.
async fn send_listing<W: AsyncWrite + Unpin>(
    source: ListSource,
    format: ListFormat,
    pattern: Option<&str>,
    w: &mut W,
    opts: &RunOptions<'_>,
) -> Result<u64, Failure> {
    listing_to(
        source,
        format,
        pattern,
        w,
        opts.stall,
        &opts.mlsx,
        Some(opts.progress),
        &opts.throttle,
        (!opts.repr.is_identity()).then(|| FileEncoder::new(opts.repr)),
    )
    .await
}

/// Writes a listing to any writer (a data connection, or the control connection for STAT).
pub async fn write_listing<W: AsyncWrite + Unpin>(
    source: ListSource,
    format: ListFormat,
    pattern: Option<&str>,
    w: &mut W,
    stall: Duration,
    mlsx: &MlsxOptions<'_>,
    progress: Option<&AtomicU64>,
) -> Result<u64, Failure> {
    let unlimited = Throttle::unlimited();
    listing_to(
        source, format, pattern, w, stall, mlsx, progress, &unlimited, None,
    )
    .await
}

/// [`write_listing`] under a bandwidth limit.
#[allow(clippy::too_many_arguments)]
async fn listing_to<W: AsyncWrite + Unpin>(
    source: ListSource,
    format: ListFormat,
    pattern: Option<&str>,
    w: &mut W,
    stall: Duration,
    mlsx: &MlsxOptions<'_>,
    progress: Option<&AtomicU64>,
    throttle: &Throttle,
    mut frame: Option<FileEncoder>,
) -> Result<u64, Failure> {
    let now = unix_now();
    let mut out = Vec::with_capacity(LIST_BATCH * 96);
    let mut wire = Vec::new();
    let mut total = 0u64;
    let keep = |e: &Metadata| pattern.is_none_or(|p| wildcard_match(p, &e.name));
    match source {
        ListSource::Single(entry) => {
            format_entry(&entry, format, now, mlsx, &mut out);
            if let Some(f) = frame.as_mut() {
                wire.clear();
                f.encode(&out, &mut wire);
                std::mem::swap(&mut out, &mut wire);
            }
            throttle.acquire(out.len() as u64).await;
            write_all_timed(w, &out, stall).await?;
            total += out.len() as u64;
        }
        ListSource::Dir(mut lister) => loop {
            let batch = lister
                .next_batch(LIST_BATCH)
                .await
                .map_err(Failure::Storage)?;
            if batch.is_empty() {
                break;
            }
            out.clear();
            for entry in batch.iter().filter(|e| keep(e)) {
                format_entry(entry, format, now, mlsx, &mut out);
            }
            if let Some(f) = frame.as_mut() {
                wire.clear();
                f.encode(&out, &mut wire);
                std::mem::swap(&mut out, &mut wire);
            }
            throttle.acquire(out.len() as u64).await;
            write_all_timed(w, &out, stall).await?;
            total += out.len() as u64;
            if let Some(p) = progress {
                p.store(total, Ordering::Relaxed);
            }
        },
    }
    // MODE B and C: the end-of-file mark.
    if let Some(mut f) = frame {
        out.clear();
        f.finish(&mut out);
        throttle.acquire(out.len() as u64).await;
        write_all_timed(w, &out, stall).await?;
        total += out.len() as u64;
    }
    Ok(total)
}

/// Resolves the listing source for STAT path.
pub async fn stat_source(
    storage: &Arc<dyn Storage>,
    path: &VirtualPath,
) -> Result<ListSource, StorageError> {
    let meta = storage.metadata(path).await?;
    if meta.kind == EntryKind::Dir {
        Ok(ListSource::Dir(storage.list(path).await?))
    } else {
        let name = path.file_name().unwrap_or("").to_string();
        Ok(ListSource::Single(Metadata { name, ..meta }))
    }
}
