//! [`Client`]: one control connection and the data connections it opens.
//!
//! ```text
//!            connect() ok                     every operation
//!   (none) ──────────────▶ Idle ──begin()──▶ Busy ──end(Ok | Rejected | NotSupported)──▶ Idle
//!                                              │
//!                                              └──end(I/O, timeout, protocol, 421)──▶ Closed
//! ```
//!
//! An operation that finds the session `Busy` means an earlier one was abandoned half way
//! (its future dropped): the control connection may hold replies nobody read, so the
//! session refuses to go on rather than pair replies with the wrong commands. A failed data
//! connection does not break the session when the final reply could still be read
//! (the client re-synchronises before returning the error).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferry_proto::client::hash::{hash_command, opts_hash_command, x_hash_command};
use ferry_proto::client::hash::{parse_hash_reply, parse_x_hash_reply};
use ferry_proto::client::{
    epsv_target, parse_mdtm_reply, parse_path_reply, parse_size_reply, pasv_target, HashMethod,
    Login, LoginError, LoginStep, PasvPolicy,
};
use ferry_proto::command::{EpsvArg, ListArgs, Mode, Opts, Structure, TransferType};
use ferry_proto::listing_parse::{parse_listing, parse_mlsd, parse_nlst, ParsedListing};
use ferry_proto::reply::ReplyClass;
use ferry_proto::Command;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

use crate::control::{Control, TraceFn};
use crate::deflate;
use crate::repr::{ReprReader, ReprWriter};
use crate::stream::Stream;
use crate::tls::TlsSetup;
use crate::{
    ClientError, ConnectOptions, DataMode, Features, HashAlgorithm, RemoteEntry, RemoteHash, Reply,
    Representation, RestartPoint, Security, StoreMode,
};

/// Size of one data read/write.
const CHUNK: usize = 64 * 1024;
/// Largest listing accepted (bytes).
const MAX_LISTING: u64 = 256 * 1024 * 1024;
/// Longest wait for the final reply after the client cut a transfer short.
const ABORT_WAIT: Duration = Duration::from_secs(10);
/// At most this many connections are refused from the wrong address in active mode.
const MAX_FOREIGN_CONNECTIONS: usize = 8;

/// Where the session stands (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ready for the next operation.
    Idle,
    /// An operation is running (or was abandoned half way).
    Busy,
    /// The control connection is gone or out of step.
    Closed,
}

/// Whether an optional command works on this server (learnt once per session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Support {
    Unknown,
    Yes,
    No,
}

/// A data connection being set up.
enum Pending {
    /// Passive: already connected to the server.
    Passive(TcpStream),
    /// Active: waiting for the server to connect.
    Active(TcpListener),
}

/// Replies still owed by the server after a transfer: its final reply (unless it came
/// early) and the answers to keep-alive NOOPs. Kept outside `finish` so a timed-out wait
/// loses nothing.
struct Awaited {
    final_reply: Option<Reply>,
    noops: u32,
}

impl Awaited {
    fn new(final_reply: Option<Reply>, noops: u32) -> Awaited {
        Awaited { final_reply, noops }
    }
}

/// The data connection of a running transfer, with what was learnt while opening it.
struct Transfer {
    data: Stream,
    /// A final reply that came instead of the 1yz (some servers for empty listings).
    early_final: Option<Reply>,
    /// The transfer command as shown in errors.
    command: String,
}

/// A logged-in FTP/FTPS session.
pub struct Client {
    ctrl: Control,
    state: State,
    greeting: Reply,
    features: Features,
    tls: Option<TlsSetup>,
    /// PROT P is in force: data connections use TLS.
    protect: bool,
    data_mode: DataMode,
    io_timeout: Duration,
    keepalive: Option<Duration>,
    peer: SocketAddr,
    local: SocketAddr,
    epsv: Support,
    eprt: Support,
    /// X-hash commands answered 500/502 in this session.
    x_hash_missing: Vec<HashAlgorithm>,
    /// Algorithm selected with `OPTS HASH` in this session.
    hash_selected: Option<HashAlgorithm>,
    /// MODE Z was accepted (the mode of MODE S transfers).
    deflate: bool,
    /// The representation asked for file transfers.
    repr: Option<Representation>,
    /// TYPE, STRU and MODE as the server has them.
    current: (TransferType, Structure, Mode),
    /// The last restart marker of the last transfer in MODE B or C.
    restart: Option<RestartPoint>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.peer)
            .field("state", &self.state)
            .field("tls", &self.is_tls())
            .field("protect", &self.protect)
            .finish_non_exhaustive()
    }
}

/// X-hash commands tried, in order, when FEAT lists none.
const X_HASH_ORDER: [HashAlgorithm; 4] = [
    HashAlgorithm::Sha256,
    HashAlgorithm::Sha1,
    HashAlgorithm::Md5,
    HashAlgorithm::Crc32,
];

fn is_positive(reply: &Reply) -> bool {
    reply.code.class() == ReplyClass::PositiveCompletion
}

/// 500 / 502 (and 504 for a parameter): the server does not know the command.
fn is_unknown_command(reply: &Reply) -> bool {
    matches!(reply.code.get(), 500 | 502 | 504)
}

fn rejected(command: String, reply: Reply) -> ClientError {
    ClientError::Rejected { command, reply }
}

/// Resolves and connects, trying each address in turn, within `limit` overall.
async fn connect_tcp(host: &str, port: u16, limit: Duration) -> Result<TcpStream, ClientError> {
    let attempt = async {
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await?
                .take(16)
                .collect(),
        };
        let mut last = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host}: no address found"),
        );
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    let tcp = timeout(limit, attempt)
        .await
        .map_err(|_| ClientError::Timeout("connecting"))??;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

impl Client {
    /// Connects and logs in: greeting, `AUTH TLS`/`PBSZ 0`/`PROT P` when explicit FTPS,
    /// login, `FEAT`, `OPTS UTF8 ON` when offered, `TYPE I`.
    pub async fn connect(opts: ConnectOptions) -> Result<Client, ClientError> {
        Client::connect_traced(opts, None).await
    }

    /// [`Client::connect`] with the protocol trace installed from the first reply on (for
    /// `ftp -d` style output of the login).
    pub async fn connect_traced(
        opts: ConnectOptions,
        trace: Option<TraceFn>,
    ) -> Result<Client, ClientError> {
        let tls = match opts.security {
            Security::None => None,
            Security::Explicit | Security::Implicit => {
                Some(TlsSetup::new(&opts.tls_verify, &opts.host, opts.port)?)
            }
        };
        let tcp = connect_tcp(&opts.host, opts.port, opts.connect_timeout).await?;
        let peer = tcp.peer_addr()?;
        let local = tcp.local_addr()?;
        let stream = match (&tls, opts.security) {
            (Some(tls), Security::Implicit) => {
                let s = timeout(opts.connect_timeout, tls.connect(tcp))
                    .await
                    .map_err(|_| ClientError::Timeout("TLS handshake"))??;
                tls.commit_first_use()?;
                s
            }
            _ => Stream::Plain(tcp),
        };
        let mut ctrl = Control::new(stream, opts.io_timeout);
        ctrl.trace = trace;

        // Greeting: 120 means "wait", 220 "ready", anything else is a refusal (421).
        let mut greeting = None;
        for _ in 0..10 {
            let reply = ctrl.read_reply().await?;
            match reply.code.get() {
                120 => continue,
                220 => {
                    greeting = Some(reply);
                    break;
                }
                _ => return Err(rejected("(greeting)".into(), reply)),
            }
        }
        let greeting =
            greeting.ok_or_else(|| ClientError::Protocol("no 220 greeting".to_string()))?;

        if let (Some(tls), Security::Explicit) = (&tls, opts.security) {
            let (shown, reply) = ctrl.exchange(&Command::Auth("TLS".into())).await?;
            if !matches!(reply.code.get(), 234 | 334) {
                return Err(rejected(shown, reply));
            }
            if ctrl.has_buffered() {
                return Err(ClientError::Protocol(
                    "the server sent data after accepting AUTH TLS".into(),
                ));
            }
            let trace = ctrl.trace.take();
            let tcp = match ctrl.stream {
                Stream::Plain(tcp) => tcp,
                Stream::Tls(_) => return Err(ClientError::Protocol("TLS twice".into())),
            };
            let s = timeout(opts.connect_timeout, tls.connect(tcp))
                .await
                .map_err(|_| ClientError::Timeout("TLS handshake"))??;
            tls.commit_first_use()?;
            ctrl = Control::new(s, opts.io_timeout);
            ctrl.trace = trace;
        }

        let mut client = Client {
            ctrl,
            state: State::Busy,
            greeting,
            features: Features::default(),
            tls,
            protect: false,
            data_mode: opts.data_mode,
            io_timeout: opts.io_timeout,
            keepalive: opts.keepalive.filter(|d| !d.is_zero()),
            peer,
            local,
            epsv: Support::Unknown,
            eprt: Support::Unknown,
            x_hash_missing: Vec::new(),
            hash_selected: None,
            deflate: false,
            repr: opts.representation,
            current: (TransferType::Image, Structure::File, Mode::Stream),
            restart: None,
        };
        let protection_done = if client.tls.is_some() {
            client.protection(opts.protect_data, false).await?
        } else {
            true
        };
        client.login(&opts).await?;
        if !protection_done {
            client.protection(opts.protect_data, true).await?;
        }
        let (_, feat) = client.ctrl.exchange(&Command::Feat).await?;
        client.features = Features::parse(&feat);
        if client.features.supports_utf8() {
            client
                .ctrl
                .exchange(&Command::Opts(Opts::Utf8(true)))
                .await?;
        }
        client.expect_ok(Command::Type(TransferType::Image)).await?;
        if opts.compress {
            client.deflate = client.mode_z().await?;
            if client.deflate {
                client.current.2 = Mode::Deflate;
            }
        }
        client.state = State::Idle;
        Ok(client)
    }

    /// `MODE Z` when FEAT lists it; true when the server accepted it.
    async fn mode_z(&mut self) -> Result<bool, ClientError> {
        let listed = self
            .features
            .all_params("MODE")
            .any(|p| p.trim().eq_ignore_ascii_case("Z"));
        if !listed {
            tracing::debug!("FEAT lists no MODE Z: transfers stay in MODE S");
            return Ok(false);
        }
        let (_, reply) = self.ctrl.exchange(&Command::Mode(Mode::Deflate)).await?;
        if reply.code.get() != 200 {
            tracing::debug!(
                code = reply.code.get(),
                "MODE Z refused: transfers stay in MODE S"
            );
        }
        Ok(reply.code.get() == 200)
    }

    /// True when transfers are compressed (MODE Z, asked for with
    /// [`ConnectOptions::compress`](crate::ConnectOptions::compress) and accepted). Byte
    /// counts and progress are then those of the uncompressed data.
    pub fn is_compressing(&self) -> bool {
        self.deflate
    }

    /// The representation of file transfers (see
    /// [`ConnectOptions::representation`](crate::ConnectOptions::representation)); applied
    /// from the next transfer on.
    pub fn set_representation(&mut self, repr: Option<Representation>) {
        self.repr = repr;
    }

    /// The representation of file transfers in force.
    pub fn representation(&self) -> Option<Representation> {
        self.repr
    }

    /// Where the last `RETR` or `STOR` in MODE B (or C) could restart: its last restart
    /// marker with a number for text (a download's last marker received, an upload's last
    /// `110 MARK` reply). Reset when a transfer starts.
    pub fn restart_point(&self) -> Option<RestartPoint> {
        self.restart
    }

    /// The representation a file transfer uses now: the one asked for, MODE S as MODE Z
    /// when compressing.
    fn transfer_repr(&self) -> Option<Representation> {
        let r = self.repr?;
        let mode = match r.mode() {
            Mode::Stream if self.deflate => Mode::Deflate,
            m => m,
        };
        Representation::new(r.transfer_type(), r.structure(), mode).ok()
    }

    /// Sends the TYPE, STRU and MODE commands that differ from the server's state.
    async fn select(
        &mut self,
        ty: TransferType,
        stru: Structure,
        mode: Mode,
    ) -> Result<(), ClientError> {
        if self.current.0 != ty {
            self.expect_ok(Command::Type(ty)).await?;
            self.current.0 = ty;
        }
        if self.current.1 != stru {
            self.expect_ok(Command::Stru(stru)).await?;
            self.current.1 = stru;
        }
        if self.current.2 != mode {
            self.expect_ok(Command::Mode(mode)).await?;
            self.current.2 = mode;
        }
        Ok(())
    }

    /// Back to `TYPE I`, `STRU F` and the session's mode for listings, `SIZE` and hashes,
    /// when file transfers use their own representation.
    async fn select_base(&mut self) -> Result<(), ClientError> {
        if self.repr.is_none() {
            return Ok(());
        }
        let mode = if self.deflate {
            Mode::Deflate
        } else {
            Mode::Stream
        };
        self.select(TransferType::Image, Structure::File, mode)
            .await
    }

    /// Selects the file-transfer representation; the codecs to apply (`None`: the bytes
    /// go as they are).
    async fn select_transfer(&mut self) -> Result<Option<Representation>, ClientError> {
        self.restart = None;
        let Some(r) = self.transfer_repr() else {
            return Ok(None);
        };
        self.select(r.transfer_type(), r.structure(), r.mode())
            .await?;
        Ok((!r.is_identity()).then_some(r))
    }

    /// `PBSZ 0` and `PROT P` (or `PROT C`). Before login a refusal is tolerated (returns
    /// false: try again after login); after login it is an error.
    async fn protection(&mut self, protect: bool, after_login: bool) -> Result<bool, ClientError> {
        let (shown, reply) = self.ctrl.exchange(&Command::Pbsz(0)).await?;
        if !is_positive(&reply) {
            if !after_login && matches!(reply.code.get(), 503 | 530) {
                return Ok(false);
            }
            return Err(rejected(shown, reply));
        }
        let level = if protect { 'P' } else { 'C' };
        let (shown, reply) = self.ctrl.exchange(&Command::Prot(level)).await?;
        if !is_positive(&reply) {
            if !after_login && matches!(reply.code.get(), 503 | 530) {
                return Ok(false);
            }
            return Err(rejected(shown, reply));
        }
        self.protect = protect;
        Ok(true)
    }

    /// USER / PASS / ACCT, driven by ferry-proto's [`Login`] state machine.
    async fn login(&mut self, opts: &ConnectOptions) -> Result<(), ClientError> {
        let mut login = Login::after_greeting(
            opts.user.clone(),
            opts.password.clone(),
            opts.account.clone(),
        );
        for _ in 0..8 {
            if let Some(cmd) = login.next_command() {
                self.ctrl.send(&cmd).await?;
            }
            let reply = self.ctrl.read_reply().await?;
            match login.on_reply(&reply) {
                Ok(LoginStep::LoggedIn(_)) => return Ok(()),
                Ok(LoginStep::Send | LoginStep::Wait) => {}
                Err(LoginError::Unexpected { .. } | LoginError::NotWaiting { .. }) => {
                    return Err(ClientError::Protocol(format!(
                        "unexpected login reply {} {}",
                        reply.code,
                        reply.text()
                    )))
                }
                Err(_) => return Err(ClientError::LoginFailed(reply)),
            }
        }
        Err(ClientError::Protocol("login did not complete".into()))
    }

    /// Installs (or removes) the protocol trace callback.
    pub fn set_trace(&mut self, trace: Option<TraceFn>) {
        self.ctrl.trace = trace;
    }

    /// The features from `FEAT` (empty if FEAT failed).
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The server's greeting (220).
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// True when the control connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.ctrl.stream.is_tls()
    }

    /// True when data connections are protected (`PROT P` accepted).
    pub fn is_data_protected(&self) -> bool {
        self.protect
    }

    // ---- session state -------------------------------------------------------------

    fn begin(&mut self) -> Result<(), ClientError> {
        match self.state {
            State::Idle => {
                self.state = State::Busy;
                Ok(())
            }
            State::Busy => {
                self.state = State::Closed;
                Err(ClientError::Protocol(
                    "an earlier operation was interrupted; the control connection is out of step"
                        .into(),
                ))
            }
            State::Closed => Err(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the control connection is closed",
            ))),
        }
    }

    fn end<T>(&mut self, r: Result<T, ClientError>) -> Result<T, ClientError> {
        if self.state == State::Busy {
            self.state = match &r {
                Ok(_) => State::Idle,
                Err(ClientError::Rejected { reply, .. } | ClientError::LoginFailed(reply))
                    if reply.code.get() == 421 =>
                {
                    State::Closed
                }
                Err(
                    ClientError::Rejected { .. }
                    | ClientError::NotSupported(_)
                    | ClientError::LoginFailed(_),
                ) => State::Idle,
                Err(_) => State::Closed,
            };
        }
        r
    }

    /// Sends `cmd`; a 2yz final reply is returned, anything else is `Rejected`.
    async fn expect_ok(&mut self, cmd: Command) -> Result<Reply, ClientError> {
        let (shown, reply) = self.ctrl.exchange(&cmd).await?;
        if is_positive(&reply) {
            Ok(reply)
        } else {
            Err(rejected(shown, reply))
        }
    }

    async fn simple(&mut self, cmd: Command) -> Result<(), ClientError> {
        self.begin()?;
        let r = self.expect_ok(cmd).await.map(|_| ());
        self.end(r)
    }

    // ---- simple commands -----------------------------------------------------------

    /// Sends one raw command line (`quote`) and returns its final reply, whatever its code.
    /// No data connection is opened.
    pub async fn raw(&mut self, line: &str) -> Result<Reply, ClientError> {
        self.begin()?;
        let r = async {
            self.ctrl.send_raw(line).await?;
            self.ctrl.read_final().await
        }
        .await;
        self.end(r)
    }

    /// `PWD`: the current directory.
    pub async fn pwd(&mut self) -> Result<String, ClientError> {
        self.begin()?;
        let r = async {
            let reply = self.expect_ok(Command::Pwd).await?;
            parse_path_reply(&reply).map_err(|e| ClientError::Protocol(format!("PWD reply: {e}")))
        }
        .await;
        self.end(r)
    }

    /// `CWD path`.
    pub async fn cwd(&mut self, path: &str) -> Result<(), ClientError> {
        self.simple(Command::Cwd(path.into())).await
    }

    /// `CDUP`.
    pub async fn cdup(&mut self) -> Result<(), ClientError> {
        self.simple(Command::Cdup).await
    }

    /// `MKD path`.
    pub async fn mkdir(&mut self, path: &str) -> Result<(), ClientError> {
        self.simple(Command::Mkd(path.into())).await
    }

    /// `RMD path`.
    pub async fn rmdir(&mut self, path: &str) -> Result<(), ClientError> {
        self.simple(Command::Rmd(path.into())).await
    }

    /// `DELE path`.
    pub async fn delete(&mut self, path: &str) -> Result<(), ClientError> {
        self.simple(Command::Dele(path.into())).await
    }

    /// `RNFR from` + `RNTO to`.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), ClientError> {
        self.begin()?;
        let r = async {
            let (shown, reply) = self.ctrl.exchange(&Command::Rnfr(from.into())).await?;
            if reply.code.get() != 350 {
                return Err(rejected(shown, reply));
            }
            self.expect_ok(Command::Rnto(to.into())).await.map(|_| ())
        }
        .await;
        self.end(r)
    }

    /// `SIZE path` (in the current TYPE; TYPE I after login).
    pub async fn size(&mut self, path: &str) -> Result<u64, ClientError> {
        self.begin()?;
        let r = async {
            self.select_base().await?;
            let reply = self.expect_ok(Command::Size(path.into())).await?;
            parse_size_reply(&reply).map_err(|e| ClientError::Protocol(format!("SIZE reply: {e}")))
        }
        .await;
        self.end(r)
    }

    /// `MDTM path`: seconds since the Unix epoch (UTC).
    pub async fn mdtm(&mut self, path: &str) -> Result<i64, ClientError> {
        self.begin()?;
        let r = async {
            let reply = self.expect_ok(Command::Mdtm(path.into())).await?;
            parse_mdtm_reply(&reply).map_err(|e| ClientError::Protocol(format!("MDTM reply: {e}")))
        }
        .await;
        self.end(r)
    }

    /// `MFMT` (tried even when FEAT does not list it); [`ClientError::NotSupported`] when
    /// the server does not know the command.
    pub async fn set_mtime(&mut self, path: &str, mtime: i64) -> Result<(), ClientError> {
        self.begin()?;
        let r = async {
            let cmd = Command::Mfmt {
                mtime,
                path: path.into(),
            };
            let (shown, reply) = self.ctrl.exchange(&cmd).await?;
            if is_positive(&reply) {
                Ok(())
            } else if is_unknown_command(&reply) {
                Err(ClientError::NotSupported("MFMT".into()))
            } else {
                Err(rejected(shown, reply))
            }
        }
        .await;
        self.end(r)
    }

    /// `TYPE A` (true) or `TYPE I` (false).
    pub async fn set_ascii(&mut self, ascii: bool) -> Result<(), ClientError> {
        let t = if ascii {
            TransferType::Ascii(ferry_proto::command::FormatControl::NonPrint)
        } else {
            TransferType::Image
        };
        self.simple(Command::Type(t)).await?;
        self.current.0 = t;
        Ok(())
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<(), ClientError> {
        self.simple(Command::Noop).await
    }

    /// `QUIT` and close (a missing `221` is not an error once QUIT was sent).
    pub async fn quit(mut self) -> Result<(), ClientError> {
        self.begin()?;
        self.ctrl.send(&Command::Quit).await?;
        let _ = timeout(Duration::from_secs(5), self.ctrl.read_final()).await;
        let _ = timeout(Duration::from_secs(2), self.ctrl.stream.shutdown()).await;
        Ok(())
    }

    // ---- listings ------------------------------------------------------------------

    /// Directory entries: `MLSD` when FEAT lists `MLST` (without `cdir`/`pdir`), else
    /// `LIST -a` parsed tolerantly (unparseable lines are skipped with a warning).
    pub async fn list(&mut self, path: Option<&str>) -> Result<Vec<RemoteEntry>, ClientError> {
        self.begin()?;
        let mlsd = self.features.mlst();
        let cmd = if mlsd {
            Command::Mlsd(path.map(str::to_string))
        } else {
            Command::List(ListArgs {
                flags: "a".into(),
                path: path.map(str::to_string),
            })
        };
        let r = self.fetch(cmd).await.map(|bytes| {
            let ParsedListing { entries, warnings } = if mlsd {
                parse_mlsd(&bytes)
            } else {
                parse_listing(&bytes, unix_now())
            };
            for w in &warnings {
                tracing::warn!(warning = %w, "skipping a listing line that could not be parsed");
            }
            entries
        });
        self.end(r)
    }

    /// `LIST` output as the server sent it.
    pub async fn list_raw(&mut self, path: Option<&str>) -> Result<Vec<u8>, ClientError> {
        self.begin()?;
        let r = self
            .fetch(Command::List(ListArgs {
                flags: String::new(),
                path: path.map(str::to_string),
            }))
            .await;
        self.end(r)
    }

    /// `NLST`: names (as the server sends them, possibly with a directory prefix).
    pub async fn nlst(&mut self, path: Option<&str>) -> Result<Vec<String>, ClientError> {
        self.begin()?;
        let r = self
            .fetch(Command::Nlst(ListArgs {
                flags: String::new(),
                path: path.map(str::to_string),
            }))
            .await
            .map(|bytes| parse_nlst(&bytes));
        self.end(r)
    }

    /// A listing's bytes (bounded by [`MAX_LISTING`]).
    async fn fetch(&mut self, cmd: Command) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        self.select_base().await?;
        let t = self.open(cmd, None).await?;
        self.download(t, None, Some(MAX_LISTING), &mut out, &mut |_| {})
            .await?;
        Ok(out)
    }

    // ---- transfers -----------------------------------------------------------------

    /// `RETR` from `offset` (`REST` when > 0) into `out`; stops after `limit` bytes when
    /// given (then closes the data connection and consumes the final answer: `226`,
    /// `426` and `451` are all fine). `progress` is called with the byte count so far.
    /// Returns the bytes written to `out`.
    pub async fn retrieve<W: AsyncWrite + Unpin + Send>(
        &mut self,
        path: &str,
        offset: u64,
        limit: Option<u64>,
        out: &mut W,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, ClientError> {
        if self.deflate && limit.is_some() {
            return Err(ClientError::NotSupported(
                "a byte range (segmented download) in MODE Z".into(),
            ));
        }
        self.begin()?;
        let r = async {
            let codec = self.select_transfer().await?;
            if codec.is_some() && limit.is_some() {
                return Err(ClientError::NotSupported(
                    "a byte range (segmented download) in this representation".into(),
                ));
            }
            let rest = (offset > 0).then_some(offset);
            let t = self.open(Command::Retr(path.into()), rest).await?;
            let Some(repr) = codec else {
                return self.download(t, limit, None, out, progress).await;
            };
            let mut w = ReprWriter::new(out, repr, progress);
            let r = self.download(t, None, None, &mut w, &mut |_| {}).await;
            self.restart = w.restart_point();
            r?;
            // Fails when the end of file did not come (a cut block-mode transfer).
            w.finish()
                .await
                .map_err(|e| ClientError::Protocol(format!("the transfer is incomplete: {e}")))?;
            Ok(w.written())
        }
        .await;
        self.end(r)
    }

    /// Uploads `input` to `path` (`STOR`, `APPE` or `REST n` + `STOR`). Returns the bytes
    /// sent. A TLS data connection ends with `close_notify`.
    pub async fn store<R: AsyncRead + Unpin + Send>(
        &mut self,
        path: &str,
        mode: StoreMode,
        input: &mut R,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, ClientError> {
        self.begin()?;
        let r = async {
            let (cmd, rest) = match mode {
                StoreMode::Replace => (Command::Stor(path.into()), None),
                StoreMode::Append => (Command::Appe(path.into()), None),
                StoreMode::At(n) => (Command::Stor(path.into()), Some(n)),
            };
            let codec = self.select_transfer().await?;
            let t = self.open(cmd, rest).await?;
            if let Some(repr) = codec {
                let mut reader = ReprReader::new(input, repr, progress);
                let r = if self.current.2 == Mode::Deflate {
                    let mut nop = |_: u64| {};
                    let counted = deflate::CountedReader::new(&mut reader, &mut nop);
                    let mut enc = deflate::deflater(counted);
                    self.upload(t, &mut enc, &mut |_| {}).await
                } else {
                    self.upload(t, &mut reader, &mut |_| {}).await
                };
                r?;
                return Ok(reader.read());
            }
            if self.current.2 == Mode::Deflate {
                let counted = deflate::CountedReader::new(input, progress);
                let mut enc = deflate::deflater(counted);
                self.upload(t, &mut enc, &mut |_| {}).await?;
                return Ok(deflate::read_through(&enc));
            }
            self.upload(t, input, progress).await
        }
        .await;
        self.end(r)
    }

    /// EPSV/PASV or EPRT/PORT, then the data connection made ready (TCP connected or
    /// listener bound).
    async fn prepare(&mut self) -> Result<Pending, ClientError> {
        match self.data_mode {
            DataMode::Passive => self.prepare_passive().await.map(Pending::Passive),
            DataMode::Active => self.prepare_active().await.map(Pending::Active),
        }
    }

    async fn prepare_passive(&mut self) -> Result<TcpStream, ClientError> {
        let target = self.passive_target().await?;
        let tcp = timeout(self.io_timeout, TcpStream::connect(target))
            .await
            .map_err(|_| ClientError::Timeout("connecting the data connection"))??;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }

    async fn passive_target(&mut self) -> Result<SocketAddr, ClientError> {
        if self.epsv != Support::No {
            let (shown, reply) = self.ctrl.exchange(&Command::Epsv(EpsvArg::Any)).await?;
            if reply.code.get() == 229 {
                self.epsv = Support::Yes;
                return epsv_target(&reply, self.peer.ip())
                    .map_err(|e| ClientError::Protocol(format!("EPSV reply: {e}")));
            }
            if self.epsv == Support::Unknown && is_unknown_command(&reply) {
                tracing::debug!("EPSV not supported; falling back to PASV for this session");
                self.epsv = Support::No;
            } else {
                return Err(rejected(shown, reply));
            }
        }
        if !self.peer.is_ipv4() {
            return Err(ClientError::NotSupported(
                "EPSV (required over IPv6: PASV cannot carry an IPv6 address)".into(),
            ));
        }
        let (shown, reply) = self.ctrl.exchange(&Command::Pasv).await?;
        if reply.code.get() != 227 {
            return Err(rejected(shown, reply));
        }
        // The announced address is ignored: the data connection goes to the control
        // connection's peer (servers behind NAT announce private addresses, and a hostile
        // one could point the client at a third party).
        pasv_target(&reply, self.peer.ip(), PasvPolicy::UseControlPeer)
            .map_err(|e| ClientError::Protocol(format!("PASV reply: {e}")))
    }

    async fn prepare_active(&mut self) -> Result<TcpListener, ClientError> {
        let listener = TcpListener::bind(SocketAddr::new(self.local.ip(), 0)).await?;
        let addr = listener.local_addr()?;
        if self.eprt != Support::No {
            let (shown, reply) = self.ctrl.exchange(&Command::Eprt(addr)).await?;
            if is_positive(&reply) {
                self.eprt = Support::Yes;
                return Ok(listener);
            }
            if self.eprt == Support::Unknown && is_unknown_command(&reply) {
                tracing::debug!("EPRT not supported; falling back to PORT for this session");
                self.eprt = Support::No;
            } else {
                return Err(rejected(shown, reply));
            }
        }
        let SocketAddr::V4(v4) = addr else {
            return Err(ClientError::NotSupported(
                "EPRT (required over IPv6: PORT cannot carry an IPv6 address)".into(),
            ));
        };
        self.expect_ok(Command::Port(v4)).await?;
        Ok(listener)
    }

    /// Prepares the data connection, sends `REST` (when given) and `cmd`, and waits for
    /// both the 1yz reply and the data connection (TLS handshake included, run while the
    /// reply is awaited: servers differ in which comes first).
    async fn open(&mut self, cmd: Command, rest: Option<u64>) -> Result<Transfer, ClientError> {
        let pending = self.prepare().await?;
        if let Some(offset) = rest {
            let (shown, reply) = self.ctrl.exchange(&Command::Rest(offset)).await?;
            if reply.code.get() != 350 {
                return Err(if is_unknown_command(&reply) {
                    ClientError::NotSupported(format!("REST before {}", cmd.verb()))
                } else {
                    rejected(shown, reply)
                });
            }
        }
        let shown = self.ctrl.send(&cmd).await?;
        let tls = if self.protect { self.tls.clone() } else { None };
        let server_ip = self.peer.ip();
        let data_fut = async move {
            let tcp = match pending {
                Pending::Passive(tcp) => tcp,
                Pending::Active(listener) => accept_from(&listener, server_ip).await?,
            };
            match tls {
                Some(tls) => tls.connect(tcp).await,
                None => Ok(Stream::Plain(tcp)),
            }
        };
        tokio::pin!(data_fut);
        let deadline = Instant::now() + self.io_timeout;
        let mut data: Option<Stream> = None;
        let mut prelim: Option<Reply> = None;
        let mut early_final = None;
        for _ in 0..8 {
            if data.is_some() && prelim.is_some() {
                break;
            }
            tokio::select! {
                r = &mut data_fut, if data.is_none() => match r {
                    Ok(s) => data = Some(s),
                    Err(e) => {
                        // The server will answer the command (425, 426...): prefer its
                        // reply, and keep the control connection in step.
                        return Err(self.after_data_failure(e, &shown).await);
                    }
                },
                r = self.ctrl.read_reply(), if prelim.is_none() => {
                    let reply = r?;
                    match reply.code.class() {
                        ReplyClass::PositivePreliminary => prelim = Some(reply),
                        ReplyClass::PositiveCompletion => {
                            prelim = Some(reply.clone());
                            early_final = Some(reply);
                        }
                        _ => return Err(rejected(shown, reply)),
                    }
                },
                _ = sleep_until(deadline) => {
                    return Err(ClientError::Timeout("opening the data connection"));
                }
            }
        }
        match data {
            Some(data) => {
                if let Some(resumed) = data.resumed() {
                    tracing::debug!(resumed, "TLS data connection");
                }
                Ok(Transfer {
                    data,
                    early_final,
                    command: shown,
                })
            }
            None => Err(ClientError::Protocol("data connection not opened".into())),
        }
    }

    /// After the data connection failed: reads the server's answer to the transfer command
    /// (bounded wait). Returns the error to report: the server's negative reply when there
    /// is one, else `err`. Marks the session closed when no final reply came.
    async fn after_data_failure(&mut self, err: ClientError, shown: &str) -> ClientError {
        let wait = self.io_timeout.min(ABORT_WAIT);
        match timeout(wait, self.ctrl.read_final()).await {
            Ok(Ok(reply)) if !is_positive(&reply) => {
                tracing::debug!(error = %err, "data connection failed");
                rejected(shown.to_string(), reply)
            }
            Ok(Ok(_)) => {
                self.state = State::Idle;
                err
            }
            _ => {
                self.state = State::Closed;
                err
            }
        }
    }

    /// Sends a keep-alive NOOP when due.
    async fn keepalive_due(
        &mut self,
        next: &mut Option<Instant>,
        noops: &mut u32,
    ) -> Result<(), ClientError> {
        if let (Some(at), Some(every)) = (*next, self.keepalive) {
            if Instant::now() >= at {
                self.ctrl.send(&Command::Noop).await?;
                *noops = noops.saturating_add(1);
                *next = Some(Instant::now() + every);
            }
        }
        Ok(())
    }

    /// Reads replies until the transfer's final reply and the answers to `noops`
    /// keep-alive NOOPs (in whatever order the server sends them).
    async fn finish(&mut self, aw: &mut Awaited) -> Result<Reply, ClientError> {
        for _ in 0..(u64::from(aw.noops) + 64) {
            if aw.final_reply.is_some() && aw.noops == 0 {
                break;
            }
            let reply = self.ctrl.read_reply().await?;
            if reply.is_preliminary() {
                if let Some(point) = parse_mark(&reply) {
                    self.restart = Some(point);
                }
                continue;
            }
            let code = reply.code.get();
            let noop_answer = aw.noops > 0
                && (code == 200 || aw.final_reply.is_some() || matches!(code, 500..=503));
            if noop_answer {
                aw.noops -= 1;
            } else if aw.final_reply.is_none() {
                aw.final_reply = Some(reply);
            } else {
                return Err(ClientError::Protocol(format!(
                    "unexpected reply {code} after the transfer"
                )));
            }
        }
        aw.final_reply
            .clone()
            .ok_or_else(|| ClientError::Protocol("no final transfer reply".into()))
    }

    /// Moves the data of a download into `out`, inflating it in MODE Z (then `max` and the
    /// result count the inflated bytes).
    async fn download<W: AsyncWrite + Unpin + Send + ?Sized>(
        &mut self,
        t: Transfer,
        limit: Option<u64>,
        max: Option<u64>,
        out: &mut W,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, ClientError> {
        if self.current.2 != Mode::Deflate {
            return self.download_wire(t, limit, max, out, progress).await;
        }
        let mut counted = deflate::Counted::new(out, max, progress);
        let mut dec = deflate::inflater(&mut counted);
        self.download_wire(t, limit, None, &mut dec, &mut |_| {})
            .await?;
        // Fails when the zlib stream did not end (a truncated transfer).
        dec.shutdown()
            .await
            .map_err(|e| ClientError::Protocol(format!("MODE Z data incomplete: {e}")))?;
        Ok(counted.written())
    }

    /// Moves the bytes of the data connection into `out`.
    async fn download_wire<W: AsyncWrite + Unpin + Send + ?Sized>(
        &mut self,
        t: Transfer,
        limit: Option<u64>,
        max: Option<u64>,
        out: &mut W,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, ClientError> {
        let Transfer {
            mut data,
            early_final,
            command,
        } = t;
        let mut buf = vec![0u8; CHUNK];
        let mut total: u64 = 0;
        let mut noops = 0u32;
        let mut next_noop = self.keepalive.map(|k| Instant::now() + k);
        let mut stall_deadline = Instant::now() + self.io_timeout;
        let mut cut = false;
        let outcome: Result<(), ClientError> = loop {
            let want = match limit {
                Some(l) if total >= l => {
                    cut = true;
                    break Ok(());
                }
                Some(l) => usize::try_from(l - total).unwrap_or(CHUNK).min(CHUNK),
                None => CHUNK,
            };
            let Some(slice) = buf.get_mut(..want) else {
                break Err(ClientError::Protocol("buffer".into()));
            };
            let read = tokio::select! {
                r = timeout_at(stall_deadline, data.read(slice)) => r,
                _ = sleep_until(next_noop.unwrap_or(stall_deadline)), if next_noop.is_some() => {
                    if let Err(e) = self.keepalive_due(&mut next_noop, &mut noops).await {
                        break Err(e);
                    }
                    continue;
                }
            };
            let n = match read {
                Err(_) => break Err(ClientError::Timeout("data connection stalled")),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof && data.is_tls() => {
                    break Err(ClientError::Protocol(
                        "the TLS data connection ended without close_notify: transfer incomplete"
                            .into(),
                    ))
                }
                Ok(Err(e)) => break Err(e.into()),
                Ok(Ok(0)) => break Ok(()),
                Ok(Ok(n)) => n,
            };
            stall_deadline = Instant::now() + self.io_timeout;
            total = total.saturating_add(n as u64);
            if let Some(m) = max {
                if total > m {
                    break Err(ClientError::Protocol(format!(
                        "listing larger than {m} bytes"
                    )));
                }
            }
            let chunk = buf.get(..n).unwrap_or(&[]);
            if let Err(e) = out.write_all(chunk).await {
                break Err(e.into());
            }
            progress(total);
            if let Err(e) = self.keepalive_due(&mut next_noop, &mut noops).await {
                break Err(e);
            }
        };
        if let Err(e) = out.flush().await {
            if outcome.is_ok() {
                drop(data);
                return Err(self.resync_after(e.into(), early_final, noops).await);
            }
        }
        match outcome {
            Ok(()) if cut => {
                drop(data);
                self.after_cut(early_final, noops).await?;
                Ok(total)
            }
            Ok(()) => {
                drop(data);
                let reply = self.finish(&mut Awaited::new(early_final, noops)).await?;
                if is_positive(&reply) {
                    Ok(total)
                } else {
                    Err(rejected(command, reply))
                }
            }
            Err(e) => {
                drop(data);
                Err(self.resync_after(e, early_final, noops).await)
            }
        }
    }

    /// A local or data-side error mid-transfer: the data connection is already closed; read
    /// the final reply (bounded) so the session stays usable, then report `err`.
    async fn resync_after(
        &mut self,
        err: ClientError,
        early_final: Option<Reply>,
        noops: u32,
    ) -> ClientError {
        let wait = self.io_timeout.min(ABORT_WAIT);
        let mut aw = Awaited::new(early_final, noops);
        match timeout(wait, self.finish(&mut aw)).await {
            Ok(Ok(_)) => self.state = State::Idle,
            _ => self.state = State::Closed,
        }
        err
    }

    /// After the client stopped reading at `limit`: the server answers 226 (it had sent
    /// everything), 426 or 451 (it noticed the close). Without an answer in time, `ABOR`.
    async fn after_cut(
        &mut self,
        early_final: Option<Reply>,
        noops: u32,
    ) -> Result<(), ClientError> {
        let wait = self.io_timeout.min(ABORT_WAIT);
        let mut aw = Awaited::new(early_final, noops);
        let reply = match timeout(wait, self.finish(&mut aw)).await {
            Ok(Err(ClientError::Timeout(_))) | Err(_) => {
                // The server may be blocked writing into a connection we no longer read:
                // ABOR. It answers 426 (or 451) for the transfer, then 226 (or 225) for
                // the ABOR; a server that had finished answers only the latter.
                self.ctrl.send(&Command::Abor).await?;
                let first = self.finish(&mut aw).await?;
                if matches!(first.code.get(), 426 | 450 | 451) {
                    let _ = timeout(wait, self.ctrl.read_final())
                        .await
                        .map_err(|_| ClientError::Timeout("waiting for the answer to ABOR"))??;
                }
                first
            }
            Ok(r) => r?,
        };
        match reply.code.get() {
            200..=299 | 426 | 450 | 451 => Ok(()),
            _ => Err(rejected("RETR (cut short)".into(), reply)),
        }
    }

    /// Moves `input` into the data connection of an upload.
    async fn upload<R: AsyncRead + Unpin + Send + ?Sized>(
        &mut self,
        t: Transfer,
        input: &mut R,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, ClientError> {
        let Transfer {
            mut data,
            early_final,
            command,
        } = t;
        let mut buf = vec![0u8; CHUNK];
        let mut total: u64 = 0;
        let mut noops = 0u32;
        let mut next_noop = self.keepalive.map(|k| Instant::now() + k);
        let io = self.io_timeout;
        let outcome: Result<(), ClientError> = loop {
            let n = match input.read(&mut buf).await {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(e.into()),
            };
            let chunk = buf.get(..n).unwrap_or(&[]);
            match timeout(io, data.write_all(chunk)).await {
                Err(_) => break Err(ClientError::Timeout("data connection stalled")),
                Ok(Err(e)) => break Err(e.into()),
                Ok(Ok(())) => {}
            }
            total = total.saturating_add(n as u64);
            progress(total);
            if let Err(e) = self.keepalive_due(&mut next_noop, &mut noops).await {
                break Err(e);
            }
        };
        let outcome = match outcome {
            // close_notify (TLS), then FIN.
            Ok(()) => match timeout(io, data.shutdown()).await {
                Err(_) => Err(ClientError::Timeout("closing the data connection")),
                Ok(r) => r.map_err(ClientError::from),
            },
            Err(e) => Err(e),
        };
        if outcome.is_ok() {
            // Keep reading what the server still sends until it closes (TLS 1.3 session
            // tickets, its close_notify): a socket closed with unread data is reset by the
            // kernel, which can cut the end of the upload before the server has read it
            // (seen with vsftpd and pyftpdlib). In the background: the 226 does not wait.
            tokio::spawn(drain(data));
        } else {
            drop(data);
        }
        match outcome {
            Ok(()) => {
                let reply = self.finish(&mut Awaited::new(early_final, noops)).await?;
                if is_positive(&reply) {
                    Ok(total)
                } else {
                    Err(rejected(command, reply))
                }
            }
            Err(e) => Err(self.resync_after(e, early_final, noops).await),
        }
    }

    // ---- hashes --------------------------------------------------------------------

    /// The server's hash of `path` with the best algorithm it offers: `HASH` (FEAT `HASH`,
    /// SHA-256 chosen with `OPTS HASH` when offered), else `XSHA256`, `XSHA1`, `XMD5`,
    /// `XCRC` (commands answered 500/502 are not tried again in this session), else
    /// [`ClientError::NotSupported`].
    pub async fn hash(&mut self, path: &str) -> Result<RemoteHash, ClientError> {
        self.begin()?;
        let r = self.hash_inner(path).await;
        self.end(r)
    }

    async fn hash_inner(&mut self, path: &str) -> Result<RemoteHash, ClientError> {
        self.select_base().await?;
        if let Some(HashMethod::Hash(algorithm)) =
            ferry_proto::client::choose_hash(&self.features, None, &HashAlgorithm::ALL)
        {
            if let Some(h) = self.hash_with_hash_command(algorithm, path).await? {
                return Ok(h);
            }
        }
        let listed = self.features.x_hashes();
        let order: Vec<HashAlgorithm> = if listed.is_empty() {
            X_HASH_ORDER.to_vec()
        } else {
            listed
        };
        for algorithm in order {
            if self.x_hash_missing.contains(&algorithm) {
                continue;
            }
            let shown = self.ctrl.send_raw(&x_hash_command(algorithm, path)).await?;
            let reply = self.ctrl.read_final().await?;
            if is_positive(&reply) {
                return parse_x_hash_reply(algorithm, &reply).map_err(|e| {
                    ClientError::Protocol(format!("{} reply: {e}", algorithm.x_verb()))
                });
            }
            if is_unknown_command(&reply) {
                self.x_hash_missing.push(algorithm);
                continue;
            }
            return Err(rejected(shown, reply));
        }
        Err(ClientError::NotSupported(
            "server-side hashes (HASH, XSHA256, XSHA1, XMD5, XCRC)".into(),
        ))
    }

    /// `OPTS HASH` (unless already current) and `HASH` (draft-bryan-ftpext-hash); `None`
    /// when the server turns out not to know HASH.
    async fn hash_with_hash_command(
        &mut self,
        algorithm: HashAlgorithm,
        path: &str,
    ) -> Result<Option<RemoteHash>, ClientError> {
        let current = self.hash_selected.or(self.features.current_hash());
        if current != Some(algorithm) {
            let shown = self.ctrl.send_raw(&opts_hash_command(algorithm)).await?;
            let reply = self.ctrl.read_final().await?;
            if !is_positive(&reply) {
                return Err(rejected(shown, reply));
            }
            self.hash_selected = Some(algorithm);
        }
        let shown = self.ctrl.send_raw(&hash_command(path)).await?;
        let reply = self.ctrl.read_final().await?;
        if is_unknown_command(&reply) {
            return Ok(None);
        }
        if !is_positive(&reply) {
            return Err(rejected(shown, reply));
        }
        parse_hash_reply(&reply)
            .map(|h| Some(h.hash))
            .map_err(|e| ClientError::Protocol(format!("HASH reply: {e}")))
    }
}

/// A `110 MARK yyyy = mmmm` reply to an upload's restart marker: `yyyy` is ours (the file
/// bytes read before it), `mmmm` the server's (what `REST` takes); `None` when either is
/// not a number.
fn parse_mark(reply: &Reply) -> Option<RestartPoint> {
    if reply.code.get() != 110 {
        return None;
    }
    let text = reply.text();
    let rest = text.trim().strip_prefix("MARK ")?;
    let (ours, theirs) = rest.split_once('=')?;
    Some(RestartPoint {
        remote: theirs.trim().parse().ok()?,
        moved: ours.trim().parse().ok()?,
    })
}

/// Seconds since the Unix epoch (for the year of `Mmm dd HH:MM` LIST dates).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Accepts the server's data connection, refusing (bounded) connections from elsewhere.
async fn accept_from(listener: &TcpListener, server: IpAddr) -> Result<TcpStream, ClientError> {
    for _ in 0..MAX_FOREIGN_CONNECTIONS {
        let (tcp, from) = listener.accept().await?;
        if from.ip() == server || canonical(from.ip()) == canonical(server) {
            let _ = tcp.set_nodelay(true);
            return Ok(tcp);
        }
        tracing::warn!(%from, %server, "refusing an active-mode data connection from a foreign address");
    }
    Err(ClientError::Protocol(
        "too many data connections from foreign addresses".into(),
    ))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// How long a finished upload's data connection is kept to read the server's last bytes.
const DRAIN_TIME: Duration = Duration::from_secs(30);
/// Bytes read at most from a finished upload's data connection.
const DRAIN_BYTES: usize = 1 << 20;

/// Reads and discards a finished upload's data connection until the server closes it
/// (bounded in time and bytes), then drops it.
async fn drain(mut data: Stream) {
    let mut buf = [0u8; 4096];
    let mut seen = 0usize;
    let deadline = Instant::now() + DRAIN_TIME;
    while seen < DRAIN_BYTES {
        match timeout_at(deadline, data.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen += n,
            _ => break,
        }
    }
}
