//! One control connection: the task that drives a [`Session`].
//!
//! The loop reads control lines (bounded decoder), feeds them to the state machine and
//! executes the [`Action`]s it returns. During a transfer the control connection is still
//! read: `ABOR` cancels the transfer, `STAT` answers with progress, anything else is queued
//! (bounded) and handled after the transfer, in order.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferry_proto::line::{LineDecoder, LineEvent};
use ferry_proto::listing::EntryKind;
use ferry_proto::server::{
    Action, DataEndpoint, FsOp, ListFormat, LoginGrant, OpError, Session, SessionConfig,
    TransferKind, TransferOutcome, TransferRequest,
};
use ferry_proto::{Command, Reply};
use ferry_storage::Storage;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::stream::{self, ControlRead, ControlWrite, DataStream};
use crate::tls::SessionTrace;
use crate::transfer::{self, MlsxOptions, RunOptions};
use crate::{data, ServerConfig, SessionReuse};

/// Control lines queued while a transfer runs; beyond this the server stops reading the
/// control connection until the transfer ends.
const MAX_QUEUED_LINES: usize = 64;
/// Read buffer of the control connection.
const CONTROL_BUF: usize = 4096;

/// Reads decoded control lines. Cancel-safe: a read interrupted by `select!` loses nothing.
struct ControlReader {
    rd: ControlRead,
    decoder: LineDecoder,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
}

impl ControlReader {
    fn new(rd: ControlRead) -> Self {
        ControlReader {
            rd,
            decoder: LineDecoder::new(),
            buf: vec![0u8; CONTROL_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// Forgets everything read but not yet handled (cleartext sent after AUTH TLS must
    /// never be executed: STARTTLS command injection).
    fn discard_buffered(&mut self) {
        self.start = 0;
        self.end = 0;
        self.decoder = LineDecoder::new();
    }

    /// The next line event; `None` at end of stream.
    async fn next(&mut self) -> io::Result<Option<LineEvent>> {
        loop {
            if self.start < self.end {
                let input = self.buf.get(self.start..self.end).unwrap_or_default();
                let (n, ev) = self.decoder.decode(input);
                self.start = if ev.is_none() {
                    self.end
                } else {
                    (self.start + n).min(self.end)
                };
                if let Some(ev) = ev {
                    return Ok(Some(ev));
                }
                continue;
            }
            if self.eof {
                return Ok(None);
            }
            let n = self.rd.read_some(&mut self.buf).await?;
            if n == 0 {
                self.eof = true;
                return Ok(None);
            }
            self.start = 0;
            self.end = n;
        }
    }
}

/// Per-server state shared by every session.
pub(crate) struct Shared {
    pub config: ServerConfig,
    pub session: SessionConfig,
    /// Reloadable limits and accounts.
    pub live: Arc<crate::Live>,
    /// Live gauges.
    pub stats: Arc<crate::ServerStats>,
}

impl Shared {
    /// Tells every observer.
    pub fn emit(&self, event: &crate::Event) {
        for o in &self.config.observers {
            o.event(event);
        }
    }
}

/// The state of one connection besides the protocol session.
struct Conn {
    shared: Arc<Shared>,
    session: Session,
    reader: ControlReader,
    writer: ControlWrite,
    /// Traces this control connection's TLS sessions, so a data connection can prove it
    /// resumed one of them (session reuse `require`).
    tls_trace: Option<SessionTrace>,
    peer: SocketAddr,
    local: SocketAddr,
    storage: Option<Arc<dyn Storage>>,
    /// The logged-in account (its policy: permissions, quota, rates).
    account: Option<ferry_storage::Account>,
    passive: Option<TcpListener>,
    queued: VecDeque<LineEvent>,
    closing: bool,
    /// The last command was a download that completed (the client may still be reading).
    download_just_ended: bool,
}

/// Serves one control connection until it closes.
pub(crate) async fn serve(
    mut stream: TcpStream,
    accepted_from: SocketAddr,
    implicit_tls: bool,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    // Behind a trusted proxy, the real client is in the PROXY header.
    let wait = shared.config.data_timeout;
    let (peer, proxied) = match crate::proxy::client_address(
        &mut stream,
        accepted_from,
        &shared.config.proxy_from,
        wait,
    )
    .await
    {
        Ok(found) => found,
        Err(e) => {
            warn!(proxy = %accepted_from, error = %e, "connection from a trusted proxy without a valid PROXY header closed");
            shared.emit(&crate::Event::ConnectionRefused {
                peer: accepted_from.ip(),
                reason: crate::events::RefusedReason::BadProxyHeader,
            });
            return;
        }
    };
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(e) => {
            debug!(%peer, error = %e, "connection gone before greeting");
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    // ABOR is often sent as TCP urgent data (Python ftplib): keep it in the stream.
    if let Err(e) = socket2::SockRef::from(&stream).set_out_of_band_inline(true) {
        debug!(error = %e, "SO_OOBINLINE not set");
    }
    let mut tls_trace = None;
    let mut client_subject = None;
    let (rd, wr) = if implicit_tls {
        // Implicit FTPS: TLS before the greeting.
        let Some(ctx) = shared.config.tls.clone() else {
            return;
        };
        let wait = shared.config.data_timeout;
        let (config, trace) = ctx.traced_control_config();
        tls_trace = Some(trace);
        match stream::accept_control(stream, config, wait).await {
            Ok(secured) => {
                client_subject = secured.client_subject;
                stream::split_tls(secured.tls)
            }
            Err(e) => {
                info!(%peer, error = %e, "implicit TLS handshake failed");
                return;
            }
        }
    } else {
        let (r, w) = stream.into_split();
        (ControlRead::Plain(r), ControlWrite::Plain(w))
    };
    let mut session = Session::new(shared.session.clone(), peer.ip(), local.ip());
    if implicit_tls {
        session.tls_established();
        session.set_certificate_user(certificate_user(&shared, &peer, client_subject.as_deref()));
    }
    let mut conn = Conn {
        shared,
        session,
        reader: ControlReader::new(rd),
        writer: wr,
        tls_trace,
        peer,
        local,
        storage: None,
        account: None,
        passive: None,
        queued: VecDeque::new(),
        closing: false,
        download_just_ended: false,
    };
    info!(%peer, implicit_tls, proxied, "session opened");
    let greeting = conn.session.greeting();
    if conn.send(&greeting).await.is_err() {
        return;
    }
    let result = conn.main_loop(&mut stop).await;
    if let Err(e) = result {
        debug!(%peer, error = %e, "session ended with an error");
    }
    let _ = conn.writer.shutdown().await;
    info!(%peer, user = conn.session.user().unwrap_or("-"), "session closed");
}

impl Conn {
    async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        let bytes = reply.encode();
        let stall = self.shared.config.data_timeout.max(Duration::from_secs(10));
        let write = async {
            self.writer.write_all(&bytes).await?;
            self.writer.flush().await
        };
        match tokio::time::timeout(stall, write).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "control connection stalled",
            )),
        }
    }

    async fn main_loop(&mut self, stop: &mut watch::Receiver<bool>) -> io::Result<()> {
        let idle = self.shared.config.idle_timeout;
        while !self.closing {
            let event = if let Some(ev) = self.queued.pop_front() {
                ev
            } else {
                if *stop.borrow() {
                    return self.close_for_shutdown().await;
                }
                tokio::select! {
                    _ = stop.changed() => return self.close_for_shutdown().await,
                    r = tokio::time::timeout(idle, self.reader.next()) => match r {
                        Err(_) => {
                            self.send(&Reply::new(421, "Timeout: closing control connection.")).await?;
                            return Ok(());
                        }
                        Ok(Ok(Some(ev))) => ev,
                        Ok(Ok(None)) => return Ok(()),
                        Ok(Err(e)) => return Err(e),
                    }
                }
            };
            self.download_just_ended = false;
            if let LineEvent::Line(l) = &event {
                log_command(l);
            }
            let actions = self.session.handle_line(event);
            self.execute(actions).await?;
        }
        Ok(())
    }

    /// Ends the session because the server stops. A client that has just been sent a
    /// download may still be reading it from the socket buffers: closing the control
    /// connection under it makes clients such as curl abandon the rest. So such a session
    /// waits (up to the data timeout, and the server's shutdown grace) for the client's next
    /// command; QUIT is then answered normally, anything else with 421.
    async fn close_for_shutdown(&mut self) -> io::Result<()> {
        if self.download_just_ended {
            let wait = self.shared.config.data_timeout;
            if let Ok(Ok(Some(LineEvent::Line(l)))) =
                tokio::time::timeout(wait, self.reader.next()).await
            {
                if matches!(Command::parse(&l), Ok(Command::Quit)) {
                    return self.send(&Reply::new(221, "Goodbye.")).await;
                }
            }
        }
        self.send(&Reply::new(421, "Server shutting down.")).await
    }

    async fn execute(&mut self, actions: Vec<Action>) -> io::Result<()> {
        let mut todo: VecDeque<Action> = actions.into();
        while let Some(action) = todo.pop_front() {
            let more = match action {
                Action::Reply(r) => {
                    self.send(&r).await?;
                    Vec::new()
                }
                Action::Close => {
                    self.closing = true;
                    return Ok(());
                }
                Action::Authenticate { user, password } => {
                    let auth = self.shared.config.authenticator.clone();
                    let grant = match auth.authenticate(&user, &password).await {
                        Ok(account) => self.open_account(account),
                        Err(e) => {
                            warn!(peer = %self.peer, %user, reason = %e, "login failed");
                            None
                        }
                    };
                    self.session.on_auth(grant)
                }
                Action::StartTls => {
                    let ok = self.start_tls().await;
                    self.session.on_tls(ok)
                }
                Action::EndTls => {
                    self.end_tls().await?;
                    Vec::new()
                }
                Action::AuthenticateByCertificate { user } => {
                    let auth = self.shared.config.authenticator.clone();
                    let grant = match auth.lookup(&user).await {
                        Ok(account) => self.open_account(account),
                        Err(e) => {
                            warn!(peer = %self.peer, %user, reason = %e, "certificate login failed");
                            None
                        }
                    };
                    self.session.on_auth(grant)
                }
                Action::LoggedIn(_) => Vec::new(),
                Action::LoggedOut => {
                    self.storage = None;
                    self.account = None;
                    Vec::new()
                }
                Action::ClearDataSetup => {
                    self.passive = None;
                    Vec::new()
                }
                Action::OpenPassive => {
                    self.passive = None;
                    let range = self.shared.config.passive_ports.as_ref();
                    let result = match data::open_passive(self.local.ip(), range) {
                        Ok(l) => match l.local_addr() {
                            Ok(a) => {
                                self.passive = Some(l);
                                Ok(a.port())
                            }
                            Err(e) => Err(e.to_string()),
                        },
                        Err(e) => {
                            warn!(error = %e, "cannot open a passive listener");
                            Err(e.to_string())
                        }
                    };
                    self.session.on_passive(result)
                }
                Action::Fs(op) => {
                    let result = self.run_fs(&op).await;
                    self.session.on_fs(result)
                }
                Action::StatList(path) => {
                    self.stat_list(&path).await?;
                    self.session.on_stat_done();
                    Vec::new()
                }
                Action::Transfer(req) => {
                    let (outcome, name) = self.run_transfer(&req).await?;
                    self.download_just_ended = !req.kind.is_upload()
                        && matches!(outcome, TransferOutcome::Complete { .. });
                    log_transfer(&self.peer, &req, &outcome);
                    self.session.on_transfer(outcome, name.as_deref())
                }
                _ => Vec::new(),
            };
            todo.extend(more);
        }
        Ok(())
    }

    /// Opens a logged-in account's storage; `None` (login refused) when it cannot be.
    fn open_account(&mut self, account: ferry_storage::Account) -> Option<LoginGrant> {
        match self.shared.config.storage.open(&account) {
            Ok(storage) => {
                self.storage = Some(storage);
                self.account = Some(account.clone());
                info!(peer = %self.peer, user = %account.name, anonymous = account.anonymous, "login");
                Some(LoginGrant {
                    user: account.name.clone(),
                    permissions: account.permissions(),
                    anonymous: account.anonymous,
                })
            }
            Err(e) => {
                warn!(user = %account.name, error = %e, "cannot open the account's storage");
                None
            }
        }
    }

    /// AUTH TLS: the handshake on the control connection. Anything the client sent after
    /// the AUTH line in cleartext is dropped first.
    async fn start_tls(&mut self) -> bool {
        let Some(ctx) = self.shared.config.tls.clone() else {
            return false;
        };
        if self.reader.start < self.reader.end || !self.queued.is_empty() {
            warn!(peer = %self.peer, "cleartext sent after AUTH TLS discarded (command injection attempt?)");
        }
        self.reader.discard_buffered();
        self.queued.clear();
        let rd = std::mem::replace(&mut self.reader.rd, ControlRead::Gone);
        let wr = std::mem::replace(&mut self.writer, ControlWrite::Gone);
        let wait = self.shared.config.data_timeout;
        let (config, trace) = ctx.traced_control_config();
        self.tls_trace = Some(trace);
        match stream::upgrade(rd, wr, config, wait).await {
            Ok((rd, wr, subject)) => {
                self.reader.rd = rd;
                self.writer = wr;
                info!(peer = %self.peer, "control connection secured with TLS");
                let user = certificate_user(&self.shared, &self.peer, subject.as_deref());
                self.session.set_certificate_user(user);
                true
            }
            Err(e) => {
                info!(peer = %self.peer, error = %e, "TLS handshake on the control connection failed");
                self.closing = true;
                false
            }
        }
    }

    /// CCC: back to cleartext on the control connection.
    async fn end_tls(&mut self) -> io::Result<()> {
        let rd = std::mem::replace(&mut self.reader.rd, ControlRead::Gone);
        let wr = std::mem::replace(&mut self.writer, ControlWrite::Gone);
        let wait = self.shared.config.data_timeout;
        match stream::downgrade(rd, wr, wait).await {
            Ok((rd, wr)) => {
                self.reader.rd = rd;
                self.writer = wr;
                info!(peer = %self.peer, "control connection back in cleartext (CCC)");
                Ok(())
            }
            Err(e) => {
                self.closing = true;
                Err(e)
            }
        }
    }

    /// The rustls configuration for a protected data connection under the reuse policy,
    /// and under `require` the trace that tells whether it resumed this control session.
    ///
    /// TLS 1.3 tickets on data connections: OpenSSL clients (curl) use a ticket only once, so
    /// a data connection that sends none leaves them nothing to resume the next one with.
    /// Downloads and listings therefore send one ticket (the client reads that connection
    /// anyway). Uploads never do: a client that does not read the upload connection closes
    /// it with the ticket unread, and the kernel then resets the connection and drops the
    /// end of the upload (measured with lftp/GnuTLS; curl issues 6149 and 13556 report the
    /// same with other servers).
    fn data_tls_config(
        &self,
        upload: bool,
    ) -> Option<(Arc<rustls::ServerConfig>, Option<SessionTrace>)> {
        let ctx = self.shared.config.tls.as_ref()?;
        let reuse = self.shared.config.session_reuse;
        let (config, trace) = match (reuse, &self.tls_trace) {
            (SessionReuse::Off, _) => {
                return Some((stream::without_resumption(&ctx.data_config()), None))
            }
            (SessionReuse::Require, Some(control)) => {
                let (config, trace) = ctx.traced_data_config(control);
                (config, Some(trace))
            }
            (SessionReuse::Accept, _) | (SessionReuse::Require, None) => (ctx.data_config(), None),
        };
        let tickets = usize::from(!upload);
        if tickets == config.send_tls13_tickets {
            return Some((config, trace));
        }
        let mut with_tickets = (*config).clone();
        with_tickets.send_tls13_tickets = tickets;
        Some((Arc::new(with_tickets), trace))
    }

    fn storage(&self) -> Result<Arc<dyn Storage>, OpError> {
        self.storage
            .clone()
            .ok_or_else(|| OpError::new(451, "storage not available"))
    }

    async fn run_fs(&self, op: &FsOp) -> Result<Option<ferry_storage::Metadata>, OpError> {
        let storage = self.storage()?;
        let e = |e: ferry_storage::StorageError| transfer::op_error(&e);
        match op {
            FsOp::Cwd(p) | FsOp::Rnfr(p) | FsOp::Size(p) | FsOp::Mdtm(p) | FsOp::Mlst(p) => {
                storage.metadata(p).await.map(Some).map_err(e)
            }
            FsOp::Mkd(p) => storage.mkdir(p).await.map(|_| None).map_err(e),
            FsOp::Rmd(p) => storage.rmdir(p).await.map(|_| None).map_err(e),
            FsOp::Dele(p) => storage.remove_file(p).await.map(|_| None).map_err(e),
            FsOp::Rename { from, to } => {
                info!(peer = %self.peer, from = %from, to = %to, "rename");
                storage.rename(from, to).await.map(|_| None).map_err(e)
            }
            FsOp::Mfmt { path, mtime } => storage
                .set_mtime(path, *mtime)
                .await
                .map(|_| None)
                .map_err(e),
            FsOp::Chmod { path, mode } => storage.chmod(path, *mode).await.map(|_| None).map_err(e),
        }
    }

    /// STAT path: the listing over the control connection.
    async fn stat_list(&mut self, path: &ferry_proto::VirtualPath) -> io::Result<()> {
        let storage = match self.storage() {
            Ok(s) => s,
            Err(e) => return self.send(&Reply::new(e.code, e.message)).await,
        };
        let source = match transfer::stat_source(&storage, path).await {
            Ok(s) => s,
            Err(e) => {
                let err = transfer::op_error(&e);
                return self
                    .send(&Reply::new(
                        err.code,
                        format!("STAT failed: {}.", err.message),
                    ))
                    .await;
            }
        };
        self.send_raw(format!("213-Status of {path}:\r\n").as_bytes())
            .await?;
        let stall = self.shared.config.data_timeout;
        let mlsx = MlsxOptions {
            file_perm: "",
            dir_perm: "",
            facts: &[],
        };
        let res = transfer::write_listing(
            source,
            ListFormat::List,
            None,
            &mut self.writer,
            stall,
            &mlsx,
            None,
        )
        .await;
        if let Err(transfer::Failure::Net(e)) = res {
            return Err(e);
        }
        self.send(&Reply::new(213, "End of status.")).await
    }

    async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await
    }

    fn quit_queued(&self) -> bool {
        self.queued.iter().any(
            |ev| matches!(ev, LineEvent::Line(l) if matches!(Command::parse(l), Ok(Command::Quit))),
        )
    }

    /// Runs a transfer while still reading the control connection.
    async fn run_transfer(
        &mut self,
        req: &TransferRequest,
    ) -> io::Result<(TransferOutcome, Option<String>)> {
        let storage = match self.storage() {
            Ok(s) => s,
            Err(e) => return Ok((TransferOutcome::OpenFailed(e), None)),
        };
        let progress = AtomicU64::new(0);
        let wait = self.shared.config.data_timeout;
        let peer_ip = self.session.peer();
        let local_ip = self.local.ip();
        let passive = match req.endpoint {
            DataEndpoint::Passive => match self.passive.take() {
                Some(l) => Some(l),
                None => {
                    return Ok((
                        TransferOutcome::NoDataConnection("no passive listener".into()),
                        None,
                    ));
                }
            },
            DataEndpoint::Active(_) => None,
        };

        // Phase 1: open the file or directory, then the data connection.
        let phase1 = async {
            let prepared = transfer::prepare(&storage, &req.kind).await?;
            let stream = match (req.endpoint, &passive) {
                (DataEndpoint::Passive, Some(l)) => data::accept_from(l, peer_ip, wait).await,
                (DataEndpoint::Active(target), _) => {
                    data::connect_active(target, local_ip, wait).await
                }
                (DataEndpoint::Passive, None) => Err(io::Error::other("no passive listener")),
            };
            match stream {
                Ok(s) => Ok((prepared, s)),
                Err(e) => Err(TransferOutcome::NoDataConnection(e.to_string())),
            }
        };
        let (prepared, stream) = match self.race_control(phase1, &progress, req).await? {
            Raced::Aborted => return Ok((TransferOutcome::Aborted, None)),
            Raced::ControlLost => return Ok((control_lost(), None)),
            Raced::Done(Err(outcome)) => return Ok((outcome, None)),
            Raced::Done(Ok(v)) => v,
        };
        drop(passive);
        let _ = stream.set_nodelay(true);
        let tls = if req.protect {
            match self.data_tls_config(req.kind.is_upload()) {
                Some(c) => Some(c),
                None => {
                    return Ok((
                        TransferOutcome::DataTlsRefused("TLS is not available".into()),
                        None,
                    ))
                }
            }
        } else {
            None
        };
        let name = prepared.unique_name();
        let opening = self
            .session
            .opening_reply(req, name.as_deref(), prepared.size());
        self.send(&opening).await?;

        // Phase 2: move the data.
        let (format, pattern) = match &req.kind {
            TransferKind::List {
                format, pattern, ..
            } => (Some(*format), pattern.clone()),
            _ => (None, None),
        };
        let (file_perm, dir_perm) = match &req.kind {
            TransferKind::List { path, .. } => (
                self.session.mlsx_perm_in(EntryKind::File, path),
                self.session.mlsx_perm_in(EntryKind::Dir, path),
            ),
            _ => (String::new(), String::new()),
        };
        let facts = self.session.mlst_facts().to_vec();
        let opts = RunOptions {
            ascii: req.ascii,
            stall: wait,
            progress: &progress,
            list: format.map(|f| (f, pattern.as_deref())),
            mlsx: MlsxOptions {
                file_perm: &file_perm,
                dir_perm: &dir_perm,
                facts: &facts,
            },
        };
        let require_reuse = self.shared.config.session_reuse == SessionReuse::Require;
        let phase2 = async move {
            let data = match tls {
                None => DataStream::Plain(stream),
                Some((config, trace)) => {
                    let accept = TlsAcceptor::from(config).accept(stream);
                    let tls = match tokio::time::timeout(wait, accept).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            return TransferOutcome::DataTlsRefused(format!(
                                "handshake failed: {e}"
                            ))
                        }
                        Err(_) => {
                            return TransferOutcome::DataTlsRefused("handshake timed out".into())
                        }
                    };
                    if require_reuse {
                        let why = match &trace {
                            Some(trace) => stream::reuse_refusal(trace),
                            None => Some("session reuse required, but the control connection is not under TLS".to_string()),
                        };
                        if let Some(why) = why {
                            let mut tls = tls;
                            let _ =
                                tokio::time::timeout(Duration::from_secs(2), tls.shutdown()).await;
                            return TransferOutcome::DataTlsRefused(why);
                        }
                    }
                    DataStream::Tls(Box::new(tls))
                }
            };
            transfer::run(prepared, data, opts).await
        };
        match self.race_control(phase2, &progress, req).await? {
            Raced::Aborted => Ok((TransferOutcome::Aborted, name)),
            Raced::ControlLost => Ok((control_lost(), name)),
            Raced::Done(outcome) => Ok((outcome, name)),
        }
    }

    /// Runs `fut` while reading the control connection. When the client sends ABOR, or its
    /// control connection closes during an upload, `fut` is dropped, which closes the data
    /// connection and aborts an upload (the storage sink's abort rules apply).
    async fn race_control<F: Future>(
        &mut self,
        fut: F,
        progress: &AtomicU64,
        req: &TransferRequest,
    ) -> io::Result<Raced<F::Output>> {
        tokio::pin!(fut);
        loop {
            let can_read = !self.reader.eof && self.queued.len() < MAX_QUEUED_LINES;
            tokio::select! {
                out = &mut fut => return Ok(Raced::Done(out)),
                ev = self.reader.next(), if can_read => {
                    let ev = match ev {
                        Ok(Some(ev)) => ev,
                        Ok(None) | Err(_) => {
                            self.reader.eof = true;
                            // The client vanished. An upload must not be taken as complete
                            // when its data connection later ends: end it now, so a file it
                            // would replace stays intact. After a QUIT the client meant to
                            // let the transfer finish, so it goes on.
                            if req.kind.is_upload() && !self.quit_queued() {
                                info!(peer = %self.peer, "control connection lost during an upload");
                                return Ok(Raced::ControlLost);
                            }
                            continue;
                        }
                    };
                    let cmd = match &ev {
                        LineEvent::Line(l) => Command::parse(l).ok(),
                        LineEvent::TooLong { .. } => None,
                    };
                    match cmd {
                        Some(Command::Abor) => {
                            info!(peer = %self.peer, "transfer aborted by the client");
                            return Ok(Raced::Aborted);
                        }
                        Some(Command::Stat(None)) => {
                            let what = describe(req, progress.load(Ordering::Relaxed));
                            let r = self.session.status_reply(Some(&what));
                            self.send(&r).await?;
                        }
                        _ => self.queued.push_back(ev),
                    }
                }
            }
        }
    }
}

/// The user a client certificate subject maps to (logged when a certificate was shown).
fn certificate_user(shared: &Shared, peer: &SocketAddr, subject: Option<&str>) -> Option<String> {
    let subject = subject?;
    let user = shared.config.tls.as_ref()?.user_for_subject(subject);
    info!(%peer, %subject, mapped_user = user.as_deref().unwrap_or("-"), "TLS client certificate");
    user
}

/// How a transfer raced against the control connection ended.
enum Raced<T> {
    /// The transfer finished (well or not).
    Done(T),
    /// The client sent ABOR.
    Aborted,
    /// The control connection closed during an upload.
    ControlLost,
}

fn control_lost() -> TransferOutcome {
    TransferOutcome::ConnectionLost("control connection closed".to_string())
}

fn describe(req: &TransferRequest, bytes: u64) -> String {
    format!("{}, {bytes} bytes so far", what(req))
}

fn what(req: &TransferRequest) -> String {
    match &req.kind {
        TransferKind::Retr { path, .. } => format!("RETR {path}"),
        TransferKind::Stor { path, .. } => format!("STOR {path}"),
        TransferKind::Stou { dir, .. } => format!("STOU in {dir}"),
        TransferKind::List { path, .. } => format!("listing of {path}"),
    }
}

/// Logs a command at debug level, never a password.
fn log_command(line: &[u8]) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let text = String::from_utf8_lossy(line);
    let verb = text.split(' ').next().unwrap_or("");
    if verb.eq_ignore_ascii_case("PASS") {
        debug!(command = "PASS ****", "command");
    } else {
        let shown: String = text.chars().take(200).collect();
        debug!(command = %shown, "command");
    }
}

fn log_transfer(peer: &SocketAddr, req: &TransferRequest, outcome: &TransferOutcome) {
    let what = what(req);
    match outcome {
        TransferOutcome::Complete { bytes } => {
            info!(%peer, transfer = %what, bytes, "transfer complete")
        }
        other => info!(%peer, transfer = %what, outcome = ?other, "transfer failed"),
    }
}
