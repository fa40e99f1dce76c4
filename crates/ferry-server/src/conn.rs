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
    Action, DataEndpoint, FsOp, HostGrant, ListFormat, LoginGrant, OpError, Session, SessionConfig,
    TransferKind, TransferOutcome, TransferRequest,
};
use ferry_proto::{Command, Reply};

use crate::events::LoginFailure;
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
/// Read buffer of the control connection (allocated only while bytes are being read or
/// wait to be decoded: an idle session holds none).
const CONTROL_BUF: usize = 4096;

/// Reads decoded control lines. Cancel-safe: a read interrupted by `select!` loses nothing.
struct ControlReader {
    rd: ControlRead,
    decoder: LineDecoder,
    /// Empty while nothing is buffered (see [`CONTROL_BUF`]).
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl ControlReader {
    fn new(rd: ControlRead, max_line: usize) -> Self {
        ControlReader {
            rd,
            decoder: LineDecoder::with_max(max_line),
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// Forgets everything read but not yet handled (cleartext sent after AUTH TLS must
    /// never be executed: STARTTLS command injection).
    fn discard_buffered(&mut self, max_line: usize) {
        self.start = 0;
        self.end = 0;
        self.decoder = LineDecoder::with_max(max_line);
    }

    /// Frees the read buffer (nothing in it is left to decode).
    fn release_buffer(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
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
                if self.start >= self.end {
                    // All decoded: give the buffer back before the command runs.
                    self.release_buffer();
                }
                if let Some(ev) = ev {
                    return Ok(Some(ev));
                }
                continue;
            }
            if self.eof {
                return Ok(None);
            }
            // Everything buffered was decoded: wait for more without a buffer, then read
            // into a fresh one (idle sessions, the common case, hold no read buffer).
            self.release_buffer();
            self.rd.ready().await?;
            self.buf = vec![0u8; CONTROL_BUF];
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
    /// Admission, session counts, login rates, bans, passive-listener budget.
    pub gate: Arc<crate::gate::Gate>,
    /// The number of the next session.
    pub next_session: AtomicU64,
    /// Bandwidth buckets: global and per account (`throttle` module docs).
    pub throttles: crate::throttle::Throttles,
    /// Per-account quota usage (`quota` module docs).
    pub quotas: crate::quota::Quotas,
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
    /// The open passive listener and its port.
    passive: Option<(TcpListener, u16)>,
    /// The listener of the last complete passive transfer, for the next PASV/EPSV.
    spare_passive: Option<data::SparePassive>,
    queued: VecDeque<LineEvent>,
    closing: bool,
    /// The last command was a download that completed (the client may still be reading).
    download_just_ended: bool,
    /// Server-unique session number (logs, events).
    id: u64,
    /// When the session started (login timeout).
    started: tokio::time::Instant,
    /// Failed logins in this session (growing delay).
    failed_logins: u32,
    /// The logged-in account's session slot.
    user_ticket: Option<crate::gate::UserTicket>,
    /// The open passive listener's slot.
    passive_ticket: Option<crate::gate::PassiveTicket>,
    /// Bytes moved so far by the current (or last) transfer.
    last_progress: Arc<AtomicU64>,
    /// The session's slot (global and per address), freed on drop.
    _ticket: crate::gate::SessionTicket,
    /// The virtual host in force (`HOST` or the TLS server name); `None`: the default host.
    vhost: Option<Arc<crate::VirtualHost>>,
    /// The virtual host the connection started with (chosen by the TLS server name), which
    /// REIN returns to.
    first_vhost: Option<Arc<crate::VirtualHost>>,
    /// Once a TLS handshake sent a server name: the host it chose (`None`: the default
    /// host), which a later `HOST` must name.
    sni_host: Option<Option<Arc<crate::VirtualHost>>>,
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
    let limits = shared.live.limits();
    let ticket = match shared.gate.admit(peer.ip(), &limits) {
        Ok(t) => t,
        Err(reason) => {
            refuse(&shared, &mut stream, peer, implicit_tls, reason).await;
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
    let mut implicit_sni = None;
    let (rd, wr) = if implicit_tls {
        // Implicit FTPS: TLS before the greeting.
        let Some(ctx) = shared.config.tls.clone() else {
            return;
        };
        let wait = shared.config.data_timeout.min(limits.login_timeout);
        let (config, trace) = ctx.traced_control_config();
        tls_trace = Some(trace);
        let (config, sni) = ctx.for_host(&config, None);
        implicit_sni = Some(sni);
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
    let session_config = SessionConfig {
        max_bad_commands_before_login: limits.max_bad_commands_before_login,
        ..shared.session.clone()
    };
    let mut session = Session::new(session_config, peer.ip(), local.ip());
    session.set_idle_limit(shared.config.idle_timeout.as_secs());
    if implicit_tls {
        session.tls_established();
        session.set_certificate_user(certificate_user(&shared, &peer, client_subject.as_deref()));
    }
    let mut conn = Conn {
        shared,
        session,
        reader: ControlReader::new(rd, limits.max_line_length),
        writer: wr,
        tls_trace,
        peer,
        local,
        storage: None,
        account: None,
        passive: None,
        spare_passive: None,
        queued: VecDeque::new(),
        closing: false,
        download_just_ended: false,
        id: 0,
        started: tokio::time::Instant::now(),
        failed_logins: 0,
        user_ticket: None,
        passive_ticket: None,
        last_progress: Arc::new(AtomicU64::new(0)),
        _ticket: ticket,
        vhost: None,
        first_vhost: None,
        sni_host: None,
    };
    conn.id = conn.shared.next_session.fetch_add(1, Ordering::Relaxed);
    if let Some(sni) = implicit_sni {
        // Implicit FTPS: the server name picks the virtual host before the greeting.
        conn.host_from_tls(sni.get());
    }
    info!(%peer, session = conn.id, implicit_tls, proxied, "session opened");
    conn.shared.emit(&crate::Event::SessionOpened {
        session: conn.id,
        peer,
        proxied,
        implicit_tls,
    });
    let greeting = conn.session.greeting();
    if conn.send(&greeting).await.is_ok() {
        let result = conn.main_loop(&mut stop).await;
        if let Err(e) = result {
            debug!(%peer, error = %e, "session ended with an error");
        }
        let _ = conn.writer.shutdown().await;
    }
    let user = conn.session.user().map(str::to_string);
    info!(%peer, session = conn.id, user = user.as_deref().unwrap_or("-"), "session closed");
    conn.shared.emit(&crate::Event::SessionClosed {
        session: conn.id,
        peer,
        user,
    });
}

/// Turns a connection away before the greeting: `421` with the reason (a denied address
/// just sees the connection close; an implicit-FTPS client gets no cleartext reply).
async fn refuse(
    shared: &Shared,
    stream: &mut TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
    reason: crate::events::RefusedReason,
) {
    use crate::events::RefusedReason as R;
    info!(%peer, reason = reason.as_str(), "connection refused");
    shared.emit(&crate::Event::ConnectionRefused {
        peer: peer.ip(),
        reason,
    });
    let text = match reason {
        R::Banned => "Too many failed logins from your address: try again later.",
        R::ServerFull => "Too many users on the server: try again later.",
        R::TooManyFromAddress => "Too many connections from your address: try again later.",
        _ => return,
    };
    if implicit_tls {
        return;
    }
    let bytes = Reply::new(421, text).encode();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    })
    .await;
}

impl Conn {
    async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.shared.emit(&crate::Event::Reply {
            code: reply.code.get(),
        });
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
        let login_timeout = self.shared.live.limits().login_timeout;
        while !self.closing {
            // Before login, the login timeout bounds the wait too (slow or silent clients).
            let logged_in = self.session.user().is_some();
            let (wait, login_deadline) = if logged_in {
                // SITE IDLE may shorten the idle timeout (never lengthen it).
                let asked = self.session.idle_timeout().map(Duration::from_secs);
                (asked.map_or(idle, |a| a.min(idle)), false)
            } else {
                let left = login_timeout.saturating_sub(self.started.elapsed());
                (idle.min(left), left <= idle)
            };
            let event = if let Some(ev) = self.queued.pop_front() {
                ev
            } else {
                if *stop.borrow() {
                    return self.close_for_shutdown().await;
                }
                // A kept passive listener lives SPARE_PASSIVE_KEEP at most: the first wait
                // is that long, and its end only drops the listener (the idle wait then
                // starts again, so the idle timeout may run that much longer once).
                let spare = self.spare_passive.is_some() && wait > data::SPARE_PASSIVE_KEEP;
                let first_wait = if spare {
                    data::SPARE_PASSIVE_KEEP
                } else {
                    wait
                };
                tokio::select! {
                    _ = stop.changed() => return self.close_for_shutdown().await,
                    r = tokio::time::timeout(first_wait, self.reader.next()) => match r {
                        Err(_) if spare => {
                            self.spare_passive = None;
                            continue;
                        }
                        Err(_) => {
                            let text = if login_deadline {
                                "Login timeout: closing control connection."
                            } else {
                                "Timeout: closing control connection."
                            };
                            self.send(&Reply::new(421, text)).await?;
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
                self.log_client(l);
            }
            let actions = self.session.handle_line(event);
            // Boxed: the futures of commands (transfers above all) are large, and an idle
            // session should not carry their space while it waits for its next line.
            Box::pin(self.execute(actions)).await?;
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
                    let limits = self.shared.live.limits();
                    let ip = self.peer.ip();
                    if !self.shared.gate.login_attempt(ip, &limits) {
                        warn!(peer = %self.peer, %user, "too many login attempts from this address");
                        self.login_failed_event(&user, LoginFailure::RateLimited);
                        self.send(&Reply::new(
                            421,
                            "Too many login attempts from your address: try again later.",
                        ))
                        .await?;
                        self.closing = true;
                        return Ok(());
                    }
                    let auth = self.authenticator();
                    let result = if self.shared.gate.user_banned(&user) {
                        // Banned user names fail like a wrong password, at the same cost.
                        let _ = auth.authenticate(&user, &password).await;
                        Err(LoginFailure::BadCredentials)
                    } else {
                        match auth.authenticate(&user, &password).await {
                            Ok(account) => Ok(account),
                            Err(ferry_storage::AuthError::Disabled) => Err(LoginFailure::Disabled),
                            Err(e) => {
                                debug!(peer = %self.peer, %user, reason = %e, "authentication failed");
                                Err(LoginFailure::BadCredentials)
                            }
                        }
                    };
                    self.finish_login(user, result, false).await?
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
                    let auth = self.authenticator();
                    let result = match auth.lookup(&user).await {
                        Ok(account) => Ok(account),
                        Err(ferry_storage::AuthError::Disabled) => Err(LoginFailure::Disabled),
                        Err(_) => Err(LoginFailure::BadCredentials),
                    };
                    self.finish_login(user, result, true).await?
                }
                Action::LoggedIn(_) => Vec::new(),
                Action::LoggedOut => {
                    self.storage = None;
                    self.account = None;
                    self.user_ticket = None;
                    self.spare_passive = None;
                    Vec::new()
                }
                // (Also the end of every transfer: a kept listener stays, see data.rs.)
                Action::ClearDataSetup => {
                    self.passive = None;
                    self.passive_ticket = None;
                    Vec::new()
                }
                Action::OpenPassive => {
                    self.passive = None;
                    self.passive_ticket = None;
                    if let Some((listener, port, ticket)) = self
                        .spare_passive
                        .take()
                        .and_then(data::SparePassive::reuse)
                    {
                        self.passive = Some((listener, port));
                        self.passive_ticket = ticket;
                        todo.extend(self.session.on_passive(Ok(port)));
                        continue;
                    }
                    let max = self.shared.live.limits().max_passive_listeners;
                    let Some(slot) = self.shared.gate.passive(max) else {
                        warn!(peer = %self.peer, "passive listener refused: the server has its maximum open");
                        let more = self
                            .session
                            .on_passive(Err("too many passive connections open, try again".into()));
                        todo.extend(more);
                        continue;
                    };
                    self.passive_ticket = Some(slot);
                    let range = self.shared.config.passive_ports.as_ref();
                    let result = match data::open_passive(self.local.ip(), range) {
                        Ok(l) => match l.local_addr() {
                            Ok(a) => {
                                self.passive = Some((l, a.port()));
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
                    let more = self.session.on_fs(result);
                    self.file_change_event(&op, &more);
                    more
                }
                Action::Hash(req) => {
                    let outcome = self.run_hash(&req).await?;
                    self.session.on_hash(outcome)
                }
                Action::Avbl(path) => {
                    let result = match self.storage() {
                        Ok(storage) => {
                            let account = self.account.as_ref();
                            crate::ext::available(&storage, &self.shared.quotas, account, &path)
                                .await
                        }
                        Err(e) => Err(e),
                    };
                    self.session.on_avbl(result)
                }
                Action::StatList(path) => {
                    self.stat_list(&path).await?;
                    self.session.on_stat_done();
                    Vec::new()
                }
                Action::Transfer(req) => {
                    let started = tokio::time::Instant::now();
                    let existed = self.upload_target_exists(&req).await;
                    let (outcome, name) = self.run_transfer(&req).await?;
                    self.apply_umask(&req, &outcome, existed, name.as_deref())
                        .await;
                    self.passive_ticket = None;
                    self.transfer_event(&req, &outcome, name.as_deref(), started.elapsed());
                    self.download_just_ended = !req.kind.is_upload()
                        && matches!(outcome, TransferOutcome::Complete { .. });
                    log_transfer(&self.peer, &req, &outcome);
                    self.session.on_transfer(outcome, name.as_deref())
                }
                Action::SelectHost(Some(name)) => {
                    let result = self.select_host(&name);
                    self.session.on_host(result)
                }
                Action::SelectHost(None) => {
                    self.vhost = self.first_vhost.clone();
                    Vec::new()
                }
                _ => Vec::new(),
            };
            todo.extend(more);
        }
        Ok(())
    }

    /// Ends a login attempt: the account's address rules and session limit, its storage,
    /// then the session's reply; a failure is delayed, counted and may ban the address.
    async fn finish_login(
        &mut self,
        user: String,
        result: Result<ferry_storage::Account, LoginFailure>,
        by_certificate: bool,
    ) -> io::Result<Vec<Action>> {
        let limits = self.shared.live.limits();
        let result = result.and_then(|account| {
            if !account.allowed_from(self.peer.ip()) {
                return Err(LoginFailure::AddressNotAllowed);
            }
            Ok(account)
        });
        let account = match result {
            Ok(a) => a,
            Err(reason) => return self.login_refused(&user, reason, &limits).await,
        };
        let max = account
            .policy
            .max_sessions
            .unwrap_or(limits.max_sessions_per_user);
        let Some(slot) = self.shared.gate.user_session(&account.name, max) else {
            warn!(peer = %self.peer, user = %account.name, max, "login refused: too many sessions for this account");
            self.login_failed_event(&user, LoginFailure::TooManySessions);
            return Ok(self
                .session
                .on_login_failed("too many sessions for this account, try again later"));
        };
        match self.storage_factory().open(&account) {
            Ok(storage) => {
                info!(peer = %self.peer, session = self.id, user = %account.name, anonymous = account.anonymous, "login");
                self.shared.emit(&crate::Event::LoginOk {
                    session: self.id,
                    peer: self.peer,
                    user: account.name.clone(),
                    anonymous: account.anonymous,
                    by_certificate,
                });
                self.storage = Some(storage);
                self.user_ticket = Some(slot);
                let grant = LoginGrant {
                    user: account.name.clone(),
                    permissions: account.permissions(),
                    anonymous: account.anonymous,
                };
                self.account = Some(account);
                Ok(self.session.on_auth(Some(grant)))
            }
            Err(e) => {
                warn!(user = %account.name, error = %e, "cannot open the account's storage");
                self.login_failed_event(&user, LoginFailure::Storage);
                Ok(self.session.on_auth(None))
            }
        }
    }

    /// A refused login: wait the growing delay, record the failure (which may ban the
    /// address), answer `530`, and close after a ban.
    async fn login_refused(
        &mut self,
        user: &str,
        reason: LoginFailure,
        limits: &crate::Limits,
    ) -> io::Result<Vec<Action>> {
        warn!(peer = %self.peer, session = self.id, %user, reason = reason.as_str(), "login failed");
        self.login_failed_event(user, reason);
        self.failed_logins = self.failed_logins.saturating_add(1);
        let ip = self.peer.ip();
        let outcome = self
            .shared
            .gate
            .login_failed(ip, user, self.failed_logins, limits);
        if !outcome.delay.is_zero() {
            tokio::time::sleep(outcome.delay).await;
        }
        let mut actions = self.session.on_auth(None);
        if let Some(ban) = outcome.ban {
            warn!(
                peer = %self.peer,
                user = ban.user.as_deref().unwrap_or("-"),
                failures = ban.failures,
                secs = ban.duration.as_secs(),
                "address banned after failed logins"
            );
            self.shared.emit(&crate::Event::Banned {
                ip,
                user: ban.user,
                duration: ban.duration,
                failures: ban.failures,
            });
            actions.retain(|a| matches!(a, Action::Reply(_)));
            actions.push(Action::Reply(Reply::new(
                421,
                "Too many failed logins: your address is banned for a while.",
            )));
            actions.push(Action::Close);
        }
        Ok(actions)
    }

    fn login_failed_event(&self, user: &str, reason: LoginFailure) {
        self.shared.emit(&crate::Event::LoginFailed {
            session: self.id,
            peer: self.peer,
            user: user.chars().take(64).collect(),
            reason,
        });
    }

    /// Tells observers about a command that changed (or tried to change) the tree.
    fn file_change_event(&self, op: &FsOp, replies: &[Action]) {
        use crate::events::FileChange;
        let change = match op {
            FsOp::Mkd(p) => FileChange::Mkdir(p.to_string()),
            FsOp::Rmd(p) => FileChange::Rmdir(p.to_string()),
            FsOp::Dele(p) => FileChange::Delete(p.to_string()),
            FsOp::Rename { from, to } => FileChange::Rename {
                from: from.to_string(),
                to: to.to_string(),
            },
            FsOp::Chmod { path, mode } => FileChange::Chmod {
                path: path.to_string(),
                mode: *mode,
            },
            FsOp::Mfmt { path, mtime } => FileChange::SetMtime {
                path: path.to_string(),
                mtime: *mtime,
            },
            FsOp::Utime { path, mtime }
            | FsOp::Mff {
                path,
                facts:
                    ferry_proto::command::MffFacts {
                        modify: Some(mtime),
                        ..
                    },
            } => FileChange::SetMtime {
                path: path.to_string(),
                mtime: *mtime,
            },
            FsOp::Mff {
                path,
                facts:
                    ferry_proto::command::MffFacts {
                        mode: Some(mode), ..
                    },
            } => FileChange::Chmod {
                path: path.to_string(),
                mode: *mode,
            },
            FsOp::Cwd(_)
            | FsOp::Rnfr(_)
            | FsOp::Size(_)
            | FsOp::Mdtm(_)
            | FsOp::Mlst(_)
            | FsOp::Mfct(_)
            | FsOp::Mff { .. } => return,
        };
        let code = replies
            .iter()
            .find_map(|a| match a {
                Action::Reply(r) => Some(r.code.get()),
                _ => None,
            })
            .unwrap_or(0);
        self.shared.emit(&crate::Event::FileChanged {
            session: self.id,
            peer: self.peer,
            user: self.session.user().unwrap_or("-").to_string(),
            change,
            code,
        });
    }

    /// Tells observers about a finished transfer.
    fn transfer_event(
        &self,
        req: &TransferRequest,
        outcome: &TransferOutcome,
        name: Option<&str>,
        duration: Duration,
    ) {
        use crate::events::{Direction, TransferRecord};
        let (direction, path) = match &req.kind {
            TransferKind::Retr { path, .. } => (Direction::Download, path.to_string()),
            TransferKind::Stor { path, .. } => (Direction::Upload, path.to_string()),
            TransferKind::Stou { dir, base } => {
                let file = name.unwrap_or(base);
                let path = dir
                    .join(file)
                    .map_or_else(|_| dir.to_string(), |p| p.to_string());
                (Direction::Upload, path)
            }
            TransferKind::List { path, .. } => (Direction::Listing, path.to_string()),
        };
        let (bytes, complete) = match outcome {
            TransferOutcome::Complete { bytes } => (*bytes, true),
            _ => (self.last_transfer_bytes(), false),
        };
        self.shared.emit(&crate::Event::Transfer(TransferRecord {
            session: self.id,
            peer: self.peer,
            user: self.session.user().unwrap_or("-").to_string(),
            anonymous: self.account.as_ref().is_some_and(|a| a.anonymous),
            direction,
            path,
            bytes,
            duration,
            ascii: req.ascii,
            complete,
            ended: std::time::SystemTime::now(),
        }));
    }

    /// Bytes moved by the last transfer that did not complete (counted while it ran).
    fn last_transfer_bytes(&self) -> u64 {
        self.last_progress.load(Ordering::Relaxed)
    }

    /// The account checker of the host in force.
    fn authenticator(&self) -> Arc<dyn ferry_storage::Authenticator> {
        match &self.vhost {
            Some(v) => v.authenticator.clone(),
            None => self.shared.live.authenticator(),
        }
    }

    /// The storage of the host in force.
    fn storage_factory(&self) -> Arc<dyn ferry_storage::StorageFactory> {
        match &self.vhost {
            Some(v) => v.storage.clone(),
            None => self.shared.config.storage.clone(),
        }
    }

    /// What the session needs to know of a host (`vhost`, or the default host).
    fn host_grant(&self, name: &str, vhost: Option<&Arc<crate::VirtualHost>>) -> HostGrant {
        let (greeting, auth) = match vhost {
            Some(v) => (
                v.greeting
                    .clone()
                    .unwrap_or_else(|| self.shared.config.greeting.clone()),
                v.authenticator.clone(),
            ),
            None => (
                self.shared.config.greeting.clone(),
                self.shared.live.authenticator(),
            ),
        };
        HostGrant {
            name: name.to_string(),
            greeting,
            anonymous_enabled: auth.is_anonymous("anonymous"),
        }
    }

    /// `HOST name`: the virtual host called `name` (or the default host for the IP literal
    /// of the address the client connected to), which must be the one the TLS server name
    /// chose, if any. It is in force from now on.
    fn select_host(&mut self, name: &str) -> Result<HostGrant, String> {
        let found = self.shared.live.vhosts().get(name);
        let local_literal = match self.local.ip() {
            std::net::IpAddr::V4(v4) => format!("[{v4}]"),
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => format!("[{v4}]"),
                None => format!("[{v6}]"),
            },
        };
        let literal_ip = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| format!("[{}]", ferry_proto::server::canonical_ip(ip)));
        if found.is_none() && literal_ip.as_deref() != Some(local_literal.as_str()) {
            info!(peer = %self.peer, session = self.id, host = %name, "HOST refused: unknown virtual host");
            return Err(format!("Unknown virtual host {name}."));
        }
        if let Some(chosen) = &self.sni_host {
            let same = match (chosen, &found) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                info!(peer = %self.peer, session = self.id, host = %name, "HOST refused: not the TLS server name's host");
                return Err(format!(
                    "HOST {name} does not match the server name of the TLS handshake."
                ));
            }
        }
        info!(peer = %self.peer, session = self.id, host = %name, "virtual host selected");
        let grant = self.host_grant(name, found.as_ref());
        self.vhost = found;
        Ok(grant)
    }

    /// After a TLS handshake: the server name it sent (`sni`) picks the virtual host, unless
    /// HOST already did. False when it names another virtual host than HOST chose.
    fn host_from_tls(&mut self, sni: Option<String>) -> bool {
        let Some(name) = sni else {
            return true;
        };
        let named = self.shared.live.vhosts().get(&name);
        if self.vhost.is_some() {
            if let Some(named) = &named {
                if !self.vhost.as_ref().is_some_and(|v| Arc::ptr_eq(v, named)) {
                    warn!(peer = %self.peer, session = self.id, sni = %name, "TLS server name names another virtual host than HOST");
                    return false;
                }
            }
            self.sni_host = Some(self.vhost.clone());
            return true;
        }
        if let Some(host) = &named {
            info!(peer = %self.peer, session = self.id, host = %host.name(), "virtual host chosen by the TLS server name");
            let grant = self.host_grant(&name, Some(host));
            self.session.set_initial_host(grant);
            self.first_vhost = Some(host.clone());
        }
        self.vhost = named.clone();
        self.sni_host = Some(named);
        true
    }

    /// A data connection's TLS configuration presenting the certificate of the host in
    /// force.
    fn host_tls_config(&self, config: Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
        match &self.shared.config.tls {
            Some(ctx) => {
                ctx.for_host(&config, self.vhost.as_ref().map(|v| v.name()))
                    .0
            }
            None => config,
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
        self.reader
            .discard_buffered(self.shared.live.limits().max_line_length);
        self.queued.clear();
        let rd = std::mem::replace(&mut self.reader.rd, ControlRead::Gone);
        let wr = std::mem::replace(&mut self.writer, ControlWrite::Gone);
        // Before login the handshake also counts against the login timeout (a stalled
        // ClientHello is a slowloris too).
        let mut wait = self.shared.config.data_timeout;
        if self.session.user().is_none() {
            let login_timeout = self.shared.live.limits().login_timeout;
            wait = wait.min(login_timeout.saturating_sub(self.started.elapsed()));
        }
        let (config, trace) = ctx.traced_control_config();
        self.tls_trace = Some(trace);
        // After HOST, the handshake presents that host's certificate.
        let pinned = self.vhost.as_ref().map(|v| v.name().to_string());
        let (config, sni) = ctx.for_host(&config, pinned.as_deref());
        match stream::upgrade(rd, wr, config, wait).await {
            Ok((rd, wr, subject)) => {
                self.reader.rd = rd;
                self.writer = wr;
                info!(peer = %self.peer, "control connection secured with TLS");
                let user = certificate_user(&self.shared, &self.peer, subject.as_deref());
                self.session.set_certificate_user(user);
                if !self.host_from_tls(sni.get()) {
                    let text = "The TLS server name names another virtual host than HOST.";
                    let _ = self.send(&Reply::new(421, text)).await;
                    self.closing = true;
                    return false;
                }
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
            FsOp::Mkd(p) => {
                storage.mkdir(p).await.map_err(e)?;
                if let Some(mode) = self.session.creation_mode(p, true) {
                    if let Err(err) = storage.chmod(p, mode).await {
                        debug!(path = %p, error = %err, "SITE UMASK mode not applied");
                    }
                }
                Ok(None)
            }
            FsOp::Rmd(p) => storage.rmdir(p).await.map(|_| None).map_err(e),
            FsOp::Dele(p) => {
                let (quotas, account) = (&self.shared.quotas, self.account.as_ref());
                crate::quota::remove_file(quotas, account, &storage, p)
                    .await
                    .map(|_| None)
                    .map_err(e)
            }
            FsOp::Rename { from, to } => {
                info!(peer = %self.peer, from = %from, to = %to, "rename");
                let (quotas, account) = (&self.shared.quotas, self.account.as_ref());
                crate::quota::rename(quotas, account, &storage, from, to)
                    .await
                    .map(|_| None)
                    .map_err(e)
            }
            FsOp::Mfmt { path, mtime } => storage
                .set_mtime(path, *mtime)
                .await
                .map(|_| None)
                .map_err(e),
            FsOp::Chmod { path, mode } => storage.chmod(path, *mode).await.map(|_| None).map_err(e),
            FsOp::Mfct(p) => storage.metadata(p).await.map(Some).map_err(e),
            FsOp::Utime { path, mtime } => storage
                .set_mtime(path, *mtime)
                .await
                .map(|_| None)
                .map_err(e),
            FsOp::Mff { path, facts } => {
                if let Some(mtime) = facts.modify {
                    storage.set_mtime(path, mtime).await.map_err(e)?;
                }
                if let Some(mode) = facts.mode {
                    storage.chmod(path, mode).await.map_err(e)?;
                }
                Ok(None)
            }
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
        // Shared with the session so a failed transfer can still report its bytes.
        let progress = self.last_progress.clone();
        progress.store(0, Ordering::Relaxed);
        let wait = self.shared.config.data_timeout;
        let peer_ip = self.session.peer();
        let local_ip = self.local.ip();
        let trusted = self.shared.config.proxy_from.clone();
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
            DataEndpoint::Active(_) => {
                // An active transfer does not keep a passive listener for its duration.
                self.spare_passive = None;
                None
            }
        };

        // Quota and bandwidth of this transfer (limits read now: a reload applies to the
        // transfers that start after it).
        let account = self.account.clone();
        let shared = self.shared.clone();
        shared
            .quotas
            .accounts_in_force(&shared.live.authenticator());
        let way = if req.kind.is_upload() {
            crate::throttle::Way::Up
        } else {
            crate::throttle::Way::Down
        };
        let throttle = shared
            .throttles
            .for_transfer(&shared.live.limits(), account.as_ref(), way);

        // Phase 1: check the quota, open the file or directory, then the data connection.
        let phase1 = async {
            let mut charge =
                crate::quota::begin_upload(&shared.quotas, account.as_ref(), &storage, &req.kind)
                    .await
                    .map_err(TransferOutcome::OpenFailed)?;
            let prepared = transfer::prepare(&storage, &req.kind).await?;
            if let Some(c) = charge.as_mut() {
                c.opened();
            }
            let stream = match (req.endpoint, &passive) {
                (DataEndpoint::Passive, Some((l, _))) => {
                    data::accept_from(l, peer_ip, &trusted, wait).await
                }
                (DataEndpoint::Active(target), _) => {
                    data::connect_active(target, local_ip, wait).await
                }
                (DataEndpoint::Passive, None) => Err(io::Error::other("no passive listener")),
            };
            match stream {
                Ok(s) => Ok((prepared, s, charge)),
                Err(e) => Err(TransferOutcome::NoDataConnection(e.to_string())),
            }
        };
        let (prepared, stream, charge) =
            match self.race_control(phase1, &progress, req, None).await? {
                Raced::Aborted => return Ok((TransferOutcome::Aborted, None)),
                Raced::ControlLost => return Ok((control_lost(), None)),
                Raced::Done(Err(outcome)) => return Ok((outcome, None)),
                Raced::Done(Ok(v)) => v,
            };
        let _ = stream.set_nodelay(true);
        let tls = if req.protect {
            match self.data_tls_config(req.kind.is_upload()) {
                Some((config, trace)) => Some((self.host_tls_config(config), trace)),
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
        // `110 MARK` replies of MODE B and C uploads, sent by race_control as they come.
        let (mark_tx, mut mark_rx) = tokio::sync::mpsc::channel::<String>(16);
        let start = match &req.kind {
            TransferKind::Retr { offset, .. } => *offset,
            TransferKind::Stor {
                mode: ferry_proto::server::StoreMode::At(n),
                ..
            } => *n,
            _ => 0,
        };
        let pages = match &req.kind {
            TransferKind::Retr { path, .. }
                if req.repr.structure() == ferry_proto::command::Structure::Page =>
            {
                Some((path.clone(), false))
            }
            TransferKind::Stor { path, mode } => Some((
                path.clone(),
                matches!(
                    mode,
                    ferry_proto::server::StoreMode::Replace
                        | ferry_proto::server::StoreMode::Create
                ),
            )),
            TransferKind::Stou { dir, .. } => name
                .as_ref()
                .and_then(|n| dir.join(n).ok())
                .map(|p| (p, true)),
            _ => None,
        };
        let opts = RunOptions {
            repr: req.repr,
            marks: req.kind.is_upload().then_some(mark_tx),
            start,
            pages: pages.map(|(path, whole)| transfer::PageLayout {
                storage: storage.clone(),
                path,
                whole,
            }),
            stall: wait,
            progress: &progress,
            list: format.map(|f| (f, pattern.as_deref())),
            mlsx: MlsxOptions {
                file_perm: &file_perm,
                dir_perm: &dir_perm,
                facts: &facts,
            },
            throttle,
            quota: charge,
            deflate: (req.mode == ferry_proto::command::Mode::Deflate).then_some(req.zlib_level),
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
        match self
            .race_control(phase2, &progress, req, Some(&mut mark_rx))
            .await?
        {
            Raced::Aborted => Ok((TransferOutcome::Aborted, name)),
            Raced::ControlLost => Ok((control_lost(), name)),
            Raced::Done(outcome) => {
                // The listener (with its slot) stays for the next PASV/EPSV of a batch.
                if let (TransferOutcome::Complete { .. }, Some((listener, port))) =
                    (&outcome, passive)
                {
                    self.spare_passive = Some(data::SparePassive::new(
                        listener,
                        port,
                        self.passive_ticket.take(),
                    ));
                }
                Ok((outcome, name))
            }
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
        mut marks: Option<&mut tokio::sync::mpsc::Receiver<String>>,
    ) -> io::Result<Raced<F::Output>> {
        tokio::pin!(fut);
        loop {
            let can_read = !self.reader.eof && self.queued.len() < MAX_QUEUED_LINES;
            tokio::select! {
                out = &mut fut => {
                    // Markers received just before the end: their 110 precede the 226.
                    if let Some(rx) = marks.as_mut() {
                        while let Ok(text) = rx.try_recv() {
                            self.send(&Reply::new(110, text)).await?;
                        }
                    }
                    return Ok(Raced::Done(out));
                }
                Some(text) = next_mark(&mut marks) => {
                    self.send(&Reply::new(110, text)).await?;
                }
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

/// The next `110 MARK` text of a running upload; never, without a channel.
async fn next_mark(marks: &mut Option<&mut tokio::sync::mpsc::Receiver<String>>) -> Option<String> {
    match marks {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The extension commands: checksums raced against ABOR, CLNT logging, SITE UMASK modes.
impl Conn {
    /// Computes a checksum while reading the control connection: `ABOR` stops it, other
    /// commands wait in the queue (as during a transfer).
    async fn run_hash(
        &mut self,
        req: &ferry_proto::server::HashRequest,
    ) -> io::Result<ferry_proto::server::HashOutcome> {
        use ferry_proto::server::HashOutcome;
        let storage = match self.storage() {
            Ok(s) => s,
            Err(e) => return Ok(HashOutcome::Failed(e)),
        };
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let fut = crate::ext::hash_file(storage, req.clone(), cancel.clone());
        tokio::pin!(fut);
        loop {
            let can_read = !self.reader.eof && self.queued.len() < MAX_QUEUED_LINES;
            tokio::select! {
                out = &mut fut => return Ok(out),
                ev = self.reader.next(), if can_read => match ev {
                    Ok(Some(ev)) => {
                        let abor = matches!(
                            &ev,
                            LineEvent::Line(l) if matches!(Command::parse(l), Ok(Command::Abor))
                        );
                        if abor {
                            info!(peer = %self.peer, path = %req.path, "checksum aborted by the client");
                            cancel.store(true, Ordering::Relaxed);
                            let _ = (&mut fut).await;
                            return Ok(HashOutcome::Aborted);
                        }
                        self.queued.push_back(ev);
                    }
                    // The client vanished: finish (bounded by the file size); the main loop
                    // then sees the end of the stream.
                    Ok(None) | Err(_) => self.reader.eof = true,
                }
            }
        }
    }

    /// Logs the name a client gives itself with CLNT.
    fn log_client(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let (verb, rest) = text.split_once(' ').unwrap_or((&text, ""));
        if verb.eq_ignore_ascii_case("CLNT") {
            let client: String = rest.chars().take(128).collect();
            info!(peer = %self.peer, session = self.id, %client, "client software (CLNT)");
        }
    }

    /// Whether the file an upload writes to exists before it starts; only looked up when a
    /// SITE UMASK could apply to it.
    async fn upload_target_exists(&self, req: &TransferRequest) -> bool {
        let Some(path) = crate::ext::upload_target(req) else {
            return true;
        };
        if self.session.creation_mode(path, false).is_none() {
            return true;
        }
        match self.storage() {
            Ok(s) => s.metadata(path).await.is_ok(),
            Err(_) => true,
        }
    }

    /// Gives a file an upload created the mode of the session's SITE UMASK.
    async fn apply_umask(
        &self,
        req: &TransferRequest,
        outcome: &TransferOutcome,
        existed: bool,
        unique_name: Option<&str>,
    ) {
        if !req.kind.is_upload() || !matches!(outcome, TransferOutcome::Complete { .. }) {
            return;
        }
        let Some(path) = crate::ext::created_file(req, existed, unique_name) else {
            return;
        };
        let (Some(mode), Ok(storage)) = (self.session.creation_mode(&path, false), self.storage())
        else {
            return;
        };
        if let Err(e) = storage.chmod(&path, mode).await {
            debug!(path = %path, error = %e, "SITE UMASK mode not applied");
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn an_idle_control_reader_holds_no_buffer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (rd, _wr) = server.into_split();
        let mut reader = ControlReader::new(ControlRead::Plain(rd), 512);
        assert_eq!(reader.buf.capacity(), 0, "none before the first read");
        client.write_all(b"NOOP\r\nPWD\r\nSY").await.unwrap();
        let first = reader.next().await.unwrap();
        assert!(matches!(first, Some(LineEvent::Line(ref l)) if l.as_slice() == b"NOOP"));
        assert!(reader.buf.capacity() > 0, "PWD still buffered");
        let second = reader.next().await.unwrap();
        assert!(matches!(second, Some(LineEvent::Line(ref l)) if l.as_slice() == b"PWD"));
        assert!(reader.buf.capacity() > 0, "SY still buffered");
        client.write_all(b"ST\r\n").await.unwrap();
        let third = reader.next().await.unwrap();
        assert!(matches!(third, Some(LineEvent::Line(ref l)) if l.as_slice() == b"SYST"));
        assert_eq!(reader.buf.capacity(), 0, "freed once everything is decoded");
        drop(client);
        assert!(reader.next().await.unwrap().is_none());
    }
}
