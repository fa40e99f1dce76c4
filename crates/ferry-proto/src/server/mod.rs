//! The server session state machine.
//!
//! A [`Session`] holds everything one control connection knows (who is logged in, the
//! working directory, TYPE, REST offset, pending RNFR, how the next data connection is set
//! up) and decides every reply. It performs no I/O: each call returns [`Action`]s for the
//! driver, which sends replies, verifies passwords, opens data connections and touches
//! storage, then reports the result back with one of the `on_*` methods.
//!
//! ```text
//!            USER                 PASS ok (on_auth)
//! AwaitUser ──────▶ AwaitPass ─────────────────────▶ LoggedIn ──┐ REIN
//!     ▲                 │ PASS failed                   │ USER  │
//!     └─────────────────┘◀──────────────────────────────┘◀──────┘
//! ```
//!
//! Before login, `HOST` (RFC 7151) asks the driver for a virtual host
//! ([`Action::SelectHost`], answered with [`Session::on_host`]); the chosen host's greeting
//! and anonymous setting then apply, a login in progress starts over, and REIN returns to
//! the host the connection started with (the TLS server name's, see
//! [`Session::set_initial_host`], else the default).
//!
//! While an I/O request is outstanding (`Authenticate`, `Fs`, `Transfer`, `OpenPassive`,
//! `StatList`) the driver must not feed further commands: it queues them, except `ABOR`,
//! which it handles by cancelling the transfer and calling [`Session::on_transfer`] with
//! [`TransferOutcome::Aborted`].
//!
//! Reply codes follow RFC 959 §4.2 and the extension RFCs; where RFC 959 leaves a choice the
//! codes of vsftpd are used, since clients are tested against it.

use std::net::{IpAddr, SocketAddr};

use crate::command::{
    Command, EpsvArg, FormatControl, ListArgs, Mode, Opts, ParseError, Password, Site, Structure,
    TransferType,
};
use crate::line::LineEvent;
use crate::listing::{format_mdtm, EntryInfo, EntryKind, Fact};
use crate::path::{quote_257, PathError, VirtualPath};
use crate::perm::{Perm, PermSet, Permissions};
use crate::reply::Reply;
use crate::repr::Representation;

mod ext;
pub use ext::{HashOutcome, HashRequest, HashStyle};

/// TLS policy of a session (RFC 4217).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsPolicy {
    /// TLS can be negotiated (AUTH TLS): FEAT then lists AUTH TLS, PBSZ and PROT.
    pub available: bool,
    /// Password logins need a TLS-protected control connection first.
    pub required_for_login: bool,
    /// Anonymous logins are exempt from `required_for_login`.
    pub anonymous_exempt: bool,
    /// Data transfers need `PROT P` (for every login that used TLS, and for every login at
    /// all when combined with `required_for_login`).
    pub require_data_protection: bool,
    /// CCC (clear the control channel after login) is allowed.
    pub allow_ccc: bool,
}

/// Settings that shape a session's behaviour.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Text of the 220 greeting.
    pub greeting: String,
    /// True when `anonymous` / `ftp` may log in (the password is then an e-mail address).
    pub anonymous_enabled: bool,
    /// Bad commands (unknown verbs, commands needing login, failed logins) tolerated before
    /// login; one more and the session is closed with `421`.
    pub max_bad_commands_before_login: u32,
    /// IPv4 address to advertise in PASV replies instead of the control connection's local
    /// address.
    pub pasv_address: Option<std::net::Ipv4Addr>,
    /// FTPS policy.
    pub tls: TlsPolicy,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            greeting: "Ferry FTP server ready.".to_string(),
            anonymous_enabled: false,
            max_bad_commands_before_login: 50,
            pasv_address: None,
            tls: TlsPolicy::default(),
        }
    }
}

/// What a successful login gives the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginGrant {
    /// The account name to show (e.g. in STAT).
    pub user: String,
    /// What the account may do, account-wide and per directory.
    pub permissions: Permissions,
    /// True for an anonymous login.
    pub anonymous: bool,
}

/// A virtual host (RFC 7151) the driver found for `HOST` or for the TLS server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGrant {
    /// The host's name as the client gave it.
    pub name: String,
    /// Text of the `220` reply to `HOST` (the host's greeting).
    pub greeting: String,
    /// True when `anonymous` / `ftp` may log in on this host.
    pub anonymous_enabled: bool,
}

/// A storage error reported back by the driver, already mapped to a reply code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// The FTP reply code (e.g. 550, 552, 553, 451).
    pub code: u16,
    /// A short human explanation for the reply text.
    pub message: String,
}

impl OpError {
    /// A new error.
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        OpError {
            code,
            message: message.into(),
        }
    }
}

/// A storage operation the driver performs for a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsOp {
    /// Look up a directory to change into (expects metadata back).
    Cwd(VirtualPath),
    /// Create a directory.
    Mkd(VirtualPath),
    /// Remove an empty directory.
    Rmd(VirtualPath),
    /// Remove a file.
    Dele(VirtualPath),
    /// Check that the rename source exists (expects metadata back).
    Rnfr(VirtualPath),
    /// Rename.
    Rename {
        /// Source.
        from: VirtualPath,
        /// Target.
        to: VirtualPath,
    },
    /// Size of a file (expects metadata back).
    Size(VirtualPath),
    /// Modification time (expects metadata back).
    Mdtm(VirtualPath),
    /// Set the modification time.
    Mfmt {
        /// Target.
        path: VirtualPath,
        /// New time, Unix seconds.
        mtime: i64,
    },
    /// Change permission bits.
    Chmod {
        /// Target.
        path: VirtualPath,
        /// New bits.
        mode: u32,
    },
    /// Facts of one entry for MLST (expects metadata back).
    Mlst(VirtualPath),
    /// MFF: set the facts given (modification time, permission bits).
    Mff {
        /// Target.
        path: VirtualPath,
        /// What to set.
        facts: crate::command::MffFacts,
    },
    /// SITE UTIME: set the modification time.
    Utime {
        /// Target.
        path: VirtualPath,
        /// New time, Unix seconds.
        mtime: i64,
    },
    /// MFCT: look the entry up (expects metadata back); the creation time itself cannot be
    /// set on the filesystems Ferry serves, which the reply says.
    Mfct(VirtualPath),
}

/// How a listing is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// `ls -l` lines (LIST, STAT path).
    List,
    /// Names only (NLST).
    Nlst,
    /// MLSD fact lines.
    Mlsd,
}

/// How an upload treats its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// STOR: create or atomically replace.
    Replace,
    /// APPE: append.
    Append,
    /// REST n + STOR: overwrite in place from byte n (no truncation; past the end extends).
    At(u64),
    /// STOR by an account that may create files but not replace them: the file must not
    /// exist yet (`553` otherwise).
    Create,
}

/// What a data transfer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferKind {
    /// Send a file, from `offset` (REST).
    Retr {
        /// The file.
        path: VirtualPath,
        /// Where to start.
        offset: u64,
    },
    /// Receive a file.
    Stor {
        /// The file.
        path: VirtualPath,
        /// Replace, append or overwrite from an offset.
        mode: StoreMode,
    },
    /// Receive a file under a new unique name in `dir`, derived from `base`.
    Stou {
        /// Directory to create the file in.
        dir: VirtualPath,
        /// Name to start from.
        base: String,
    },
    /// Send a listing of `path` (a directory, or a single file for LIST/NLST).
    List {
        /// What to list.
        path: VirtualPath,
        /// In which format.
        format: ListFormat,
        /// A `*`/`?` pattern the names must match (NLST/LIST with a wildcard last
        /// component), if any.
        pattern: Option<String>,
    },
}

impl TransferKind {
    /// True for transfers that read from the data connection.
    pub fn is_upload(&self) -> bool {
        matches!(self, TransferKind::Stor { .. } | TransferKind::Stou { .. })
    }
}

/// A data transfer for the driver to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// What to transfer.
    pub kind: TransferKind,
    /// True for TYPE A: convert line endings (also in [`TransferRequest::repr`]; kept for
    /// logs such as xferlog).
    pub ascii: bool,
    /// TYPE × STRU × MODE of the data, validated. Listings carry TYPE I, STRU F and the
    /// current MODE: their lines are already CRLF text, only the mode's framing applies.
    pub repr: Representation,
    /// How the data connection is made.
    pub endpoint: DataEndpoint,
    /// PROT P: the data connection is protected with TLS (the server is the TLS server).
    pub protect: bool,
    /// The transfer mode: [`Mode::Stream`], or [`Mode::Deflate`] (MODE Z: the data is one
    /// zlib stream (RFC 1950) per transfer, after any TYPE A conversion, inside TLS under
    /// PROT P; REST offsets count uncompressed bytes).
    pub mode: Mode,
    /// The MODE Z compression level (0-9) for data the server sends.
    pub zlib_level: u8,
}

/// The MODE Z compression level until `OPTS MODE Z LEVEL n` (7, as the MODE Z draft
/// recommends and ProFTPD uses).
pub const DEFAULT_ZLIB_LEVEL: u8 = 7;

/// How the data connection of a transfer is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataEndpoint {
    /// Accept on the passive listener the driver opened for PASV/EPSV.
    Passive,
    /// Connect to this address (PORT/EPRT, already checked against bounce attacks).
    Active(SocketAddr),
}

/// How a transfer ended, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    /// All data moved; `bytes` counted on the data connection.
    Complete {
        /// Bytes transferred.
        bytes: u64,
    },
    /// The file could not be opened (before any data connection was made).
    OpenFailed(OpError),
    /// The data connection could not be made (timeout, refused, wrong peer).
    NoDataConnection(String),
    /// The data connection broke or was closed by the client mid-way.
    ConnectionLost(String),
    /// Storage failed mid-way (disk full, I/O error).
    StorageFailed(OpError),
    /// The client sent ABOR while the transfer ran.
    Aborted,
    /// The data connection's TLS handshake failed, or it did not resume the control
    /// connection's TLS session when that is required; the text says which.
    DataTlsRefused(String),
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send this reply.
    Reply(Reply),
    /// Verify the credentials, then call [`Session::on_auth`].
    Authenticate {
        /// User name.
        user: String,
        /// Password.
        password: Password,
    },
    /// Look the account up without a password (its TLS client certificate was verified and
    /// maps to this user), then call [`Session::on_auth`].
    AuthenticateByCertificate {
        /// User name.
        user: String,
    },
    /// Perform the operation, then call [`Session::on_fs`].
    Fs(FsOp),
    /// Open a passive listener (dropping any previous one), then call
    /// [`Session::on_passive`] with its port.
    OpenPassive,
    /// Forget any passive listener or active address (REIN, PORT replacing PASV).
    ClearDataSetup,
    /// Run the transfer: open the file, make the data connection, send the reply from
    /// [`Session::opening_reply`], move the data, then call [`Session::on_transfer`].
    Transfer(TransferRequest),
    /// Send the status listing of `path` over the control connection (STAT path): the
    /// driver writes `213-Status of PATH:` lines, LIST lines, then `213 End of status.`,
    /// then calls [`Session::on_stat_done`].
    StatList(VirtualPath),
    /// The account logged in: open its storage (driver-side).
    LoggedIn(LoginGrant),
    /// The session was reset (REIN or a new USER): drop the storage and account.
    LoggedOut,
    /// Start TLS on the control connection (after AUTH TLS, once the 234 reply is sent):
    /// discard anything the client sent after the AUTH line, do the handshake, then call
    /// [`Session::on_tls`].
    StartTls,
    /// End TLS on the control connection (CCC, once the 200 reply is sent): exchange
    /// close_notify and go on in cleartext.
    EndTls,
    /// Close the control connection after the replies before this action are sent.
    Close,
    /// Compute a checksum (HASH, XSHA256, ...) off the async threads, stopping early on
    /// `ABOR`, then call [`Session::on_hash`].
    Hash(HashRequest),
    /// Find the space available for uploads at this path (the disk's free space, or the
    /// account's quota room when smaller), then call [`Session::on_avbl`].
    Avbl(VirtualPath),
    /// `HOST` (RFC 7151). `Some(name)`: look the virtual host up and, when it exists (and
    /// agrees with the TLS server name, if any), make it the one logins use from now on;
    /// then call [`Session::on_host`]. `None` (after REIN): go back to the host the
    /// connection started with (the one its TLS server name chose, else the default host);
    /// no answer is expected.
    SelectHost(Option<String>),
}

#[derive(Debug, Clone)]
enum State {
    AwaitUser,
    AwaitPass { user: String },
    LoggedIn(Login),
}

#[derive(Debug, Clone)]
struct Login {
    user: String,
    permissions: Permissions,
    cwd: VirtualPath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataSetup {
    None,
    Passive,
    Active(SocketAddr),
}

#[derive(Debug, Clone)]
enum Pending {
    Auth { user: String, by_certificate: bool },
    Fs(FsOp),
    Passive { extended: bool },
    Transfer(TransferRequest),
    Stat,
    Tls { protect_data: bool },
    Hash(HashRequest),
    Avbl,
    Host,
}

/// One control connection's protocol state. See the module docs.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    peer: IpAddr,
    local: IpAddr,
    state: State,
    ty: TransferType,
    /// A pending REST offset (`Some(0)` is an explicit `REST 0`).
    rest: Option<u64>,
    rename_from: Option<VirtualPath>,
    data: DataSetup,
    epsv_all: bool,
    mlst_facts: Vec<Fact>,
    bad_before_login: u32,
    pending: Option<Pending>,
    /// The control connection is protected by TLS.
    tls: bool,
    /// PBSZ was sent on the protected connection.
    pbsz: bool,
    /// PROT P is in force.
    prot_private: bool,
    /// The logged-in account is anonymous.
    anonymous: bool,
    /// The user the verified TLS client certificate maps to, if any.
    certificate_user: Option<String>,
    /// Settings of the extension commands (OPTS HASH, RANG, SITE UMASK/IDLE, CLNT).
    ext: ext::ExtState,
    /// The virtual host in force (`HOST` or the TLS server name); `None`: the default.
    host: Option<HostGrant>,
    /// The host the connection started with (chosen by the TLS server name), which REIN
    /// returns to.
    initial_host: Option<HostGrant>,
    /// MODE in force (S or Z).
    mode: Mode,
    /// STRU (F, R or P).
    stru: Structure,
    /// OPTS MODE Z LEVEL.
    zlib_level: u8,
}

/// The canonical form of an address for peer comparisons (IPv4-mapped IPv6 → IPv4).
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Commands listed by HELP, in order.
const HELP_VERBS: &[&str] = &[
    "ABOR", "ACCT", "ALLO", "APPE", "AUTH", "AVBL", "CCC", "CDUP", "CLNT", "CWD", "DELE", "EPRT",
    "EPSV", "FEAT", "HASH", "HELP", "HOST", "LANG", "LIST", "MDTM", "MFCT", "MFF", "MFMT", "MKD",
    "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV", "PBSZ", "PORT", "PROT", "PWD",
    "QUIT", "RANG", "REIN", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE", "SIZE", "STAT", "STOR",
    "STOU", "STRU", "SYST", "TYPE", "USER", "XCRC", "XCUP", "XCWD", "XMD5", "XMKD", "XPWD", "XRMD",
    "XSHA1", "XSHA256", "XSHA512",
];

/// Lines of the FEAT reply between the first and last line, without the leading space.
const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "HOST",
    "MDTM",
    "MFMT",
    "MODE Z",
    "PASV",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
];

fn fc_name(fc: FormatControl) -> &'static str {
    match fc {
        FormatControl::NonPrint => "non-print",
        FormatControl::Telnet => "Telnet format effectors",
        FormatControl::Asa => "ASA carriage control",
    }
}

fn reply(code: u16, text: impl Into<String>) -> Action {
    Action::Reply(Reply::new(code, text))
}

impl Session {
    /// A new session for a control connection from `peer` accepted on `local`.
    pub fn new(config: SessionConfig, peer: IpAddr, local: IpAddr) -> Session {
        Session {
            config,
            peer: canonical_ip(peer),
            local: canonical_ip(local),
            state: State::AwaitUser,
            ty: TransferType::Ascii(FormatControl::NonPrint),
            rest: None,
            rename_from: None,
            data: DataSetup::None,
            epsv_all: false,
            mlst_facts: Fact::ALL.to_vec(),
            bad_before_login: 0,
            pending: None,
            tls: false,
            pbsz: false,
            prot_private: false,
            anonymous: false,
            certificate_user: None,
            ext: ext::ExtState::default(),
            host: None,
            initial_host: None,
            mode: Mode::Stream,
            stru: Structure::File,
            zlib_level: DEFAULT_ZLIB_LEVEL,
        }
    }

    /// The 220 greeting to send first.
    pub fn greeting(&self) -> Reply {
        Reply::new(220, self.config.greeting.clone())
    }

    /// The client's address (canonical form).
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::LoggedIn(l) => Some(&l.user),
            _ => None,
        }
    }

    /// The working directory (the root before login).
    pub fn cwd(&self) -> VirtualPath {
        match &self.state {
            State::LoggedIn(l) => l.cwd.clone(),
            _ => VirtualPath::root(),
        }
    }

    /// True for TYPE A.
    pub fn is_ascii(&self) -> bool {
        matches!(self.ty, TransferType::Ascii(_))
    }

    /// True while an I/O request is outstanding.
    pub fn is_busy(&self) -> bool {
        self.pending.is_some()
    }

    /// The MLSx facts currently selected (OPTS MLST).
    pub fn mlst_facts(&self) -> &[Fact] {
        &self.mlst_facts
    }

    /// The RFC 3659 `perm` fact for an entry of `kind` in the working directory.
    pub fn mlsx_perm(&self, kind: EntryKind) -> String {
        self.mlsx_perm_in(kind, &self.cwd())
    }

    /// The RFC 3659 `perm` fact for an entry of `kind` in directory `dir`, from the
    /// account's permissions there (and, for a directory, inside it one level down as far
    /// as the rules of `dir` tell).
    pub fn mlsx_perm_in(&self, kind: EntryKind, dir: &VirtualPath) -> String {
        let here = self.perms_in(dir);
        let mut out = String::new();
        let mut flag = |c: char, on: bool| {
            if on {
                out.push(c);
            }
        };
        if kind == EntryKind::Dir {
            // Inside the directory: the rules of `dir` stand in for its own (close enough
            // for a hint; the command itself is checked exactly).
            flag('c', here.has(Perm::Write));
            flag('d', here.has(Perm::Rmdir));
            flag('e', true);
            flag('f', here.has(Perm::Rename));
            flag('l', here.has(Perm::List));
            flag('m', here.has(Perm::Mkdir));
            flag('p', here.has(Perm::Delete));
        } else {
            flag('a', here.has(Perm::Overwrite));
            flag('d', here.has(Perm::Delete));
            flag('f', here.has(Perm::Rename));
            flag('r', here.has(Perm::Read));
            flag('w', here.has(Perm::Overwrite));
        }
        out
    }

    /// The permissions that apply inside directory `dir` (none before login).
    fn perms_in(&self, dir: &VirtualPath) -> PermSet {
        match &self.state {
            State::LoggedIn(l) => l.permissions.in_dir(dir),
            _ => PermSet::NONE,
        }
    }

    /// `Err(550)` unless `perm` is allowed for the entry `path` (rules of its directory), or
    /// for the directory `path` itself when `is_dir_itself`.
    fn check(&self, path: &VirtualPath, perm: Perm, is_dir_itself: bool) -> Result<(), Action> {
        let dir = if is_dir_itself {
            path.clone()
        } else {
            path.parent()
        };
        if self.perms_in(&dir).has(perm) {
            Ok(())
        } else {
            Err(reply(550, "Permission denied."))
        }
    }

    /// Handles one event from the line decoder.
    pub fn handle_line(&mut self, event: LineEvent) -> Vec<Action> {
        match event {
            LineEvent::TooLong { .. } => {
                self.bad_command(Reply::new(500, "Command line too long."))
            }
            LineEvent::Line(bytes) => match Command::parse(&bytes) {
                Ok(cmd) => self.handle_command(cmd),
                Err(e) => self.parse_error(&e),
            },
        }
    }

    fn parse_error(&mut self, e: &ParseError) -> Vec<Action> {
        let text = match e {
            ParseError::Empty | ParseError::Unknown { .. } => "Unknown command.".to_string(),
            ParseError::NotImplemented { verb } => format!("{verb} not implemented."),
            other => {
                let mut s = other.to_string();
                if let Some(first) = s.get(..1) {
                    let upper = first.to_uppercase();
                    s.replace_range(..1, &upper);
                }
                s.push('.');
                s
            }
        };
        let r = Reply::new(e.reply_code(), text);
        if matches!(self.state, State::LoggedIn(_)) {
            vec![Action::Reply(r)]
        } else {
            self.bad_command(r)
        }
    }

    /// Counts a bad command before login; closes the session past the limit.
    fn bad_command(&mut self, r: Reply) -> Vec<Action> {
        if matches!(self.state, State::LoggedIn(_)) {
            return vec![Action::Reply(r)];
        }
        self.bad_before_login = self.bad_before_login.saturating_add(1);
        if self.bad_before_login > self.config.max_bad_commands_before_login {
            vec![
                Action::Reply(r),
                reply(421, "Too many bad commands, closing control connection."),
                Action::Close,
            ]
        } else {
            vec![Action::Reply(r)]
        }
    }

    /// Handles one parsed command. Must not be called while [`Session::is_busy`].
    pub fn handle_command(&mut self, cmd: Command) -> Vec<Action> {
        if self.pending.is_some() {
            return vec![reply(503, "Busy with a previous command.")];
        }
        // REST applies to the next transfer command; commands that only set up that
        // transfer (PASV, EPSV, PORT, EPRT, TYPE) or NOOP may come between (curl, FileZilla
        // and others send PASV after REST), anything else forgets it.
        let keeps_rest = matches!(
            cmd,
            Command::Pasv
                | Command::Epsv(_)
                | Command::Port(_)
                | Command::Eprt(_)
                | Command::Type(_)
                | Command::Noop
        );
        let rest = if keeps_rest {
            self.rest
        } else {
            std::mem::take(&mut self.rest)
        };
        // RANG applies to the command right after it, and only HASH uses it.
        let rang = self.ext.rang.take();
        if !matches!(cmd, Command::Rnto(_)) && !matches!(cmd, Command::Rnfr(_)) {
            self.rename_from = None;
        }
        if !cmd.allowed_before_login() && !matches!(self.state, State::LoggedIn(_)) {
            return self.bad_command(Reply::new(530, "Please login with USER and PASS."));
        }
        match cmd {
            Command::User(name) => self.cmd_user(name),
            Command::Pass(pw) => self.cmd_pass(pw),
            Command::Acct(_) => vec![reply(202, "ACCT not needed.")],
            Command::Quit => vec![reply(221, "Goodbye."), Action::Close],
            Command::Rein => {
                // RFC 7151 §3.3: REIN also forgets HOST (back to the connection's first host).
                let host_changed = self.host != self.initial_host;
                self.reset();
                self.host = self.initial_host.clone();
                let mut actions = vec![Action::ClearDataSetup, Action::LoggedOut];
                if host_changed {
                    actions.push(Action::SelectHost(None));
                }
                actions.push(reply(220, "Ready for a new user."));
                actions
            }
            Command::Noop => vec![reply(200, "NOOP ok.")],
            Command::Syst => vec![reply(215, "UNIX Type: L8")],
            Command::Feat => vec![Action::Reply(self.feat_reply())],
            Command::Opts(o) => vec![self.cmd_opts(o)],
            Command::Help(_) => vec![Action::Reply(help_reply())],
            Command::Stat(None) => vec![Action::Reply(self.status_reply(None))],
            Command::Stat(Some(arg)) => self.with_path(&arg, |s, path| {
                if let Err(denied) = s.check(&path, Perm::List, true) {
                    return vec![denied];
                }
                s.pending = Some(Pending::Stat);
                vec![Action::StatList(path)]
            }),
            Command::Pwd => {
                let cwd = self.cwd();
                vec![reply(
                    257,
                    format!("{} is the current directory.", quote_257(cwd.as_str())),
                )]
            }
            Command::Cwd(arg) => self.fs_path(&arg, None, FsOp::Cwd),
            Command::Cdup => {
                let parent = self.cwd().parent();
                self.start_fs(FsOp::Cwd(parent))
            }
            Command::Mkd(arg) => self.fs_path(&arg, Some(Perm::Mkdir), FsOp::Mkd),
            Command::Rmd(arg) => self.fs_path(&arg, Some(Perm::Rmdir), FsOp::Rmd),
            Command::Dele(arg) => self.fs_path(&arg, Some(Perm::Delete), FsOp::Dele),
            Command::Rnfr(arg) => {
                self.rename_from = None;
                if let Some(denied) = self.rule_anchor(&arg) {
                    return vec![denied];
                }
                self.fs_path(&arg, Some(Perm::Rename), FsOp::Rnfr)
            }
            Command::Rnto(arg) => match self.rename_from.take() {
                None => vec![reply(503, "RNFR required first.")],
                Some(from) => {
                    if let Some(denied) = self.rule_anchor(&arg) {
                        return vec![denied];
                    }
                    self.fs_path(&arg, Some(Perm::Rename), |to| FsOp::Rename { from, to })
                }
            },
            Command::Size(arg) => self.fs_path(&arg, Some(Perm::List), FsOp::Size),
            Command::Mdtm(arg) => self.fs_path(&arg, Some(Perm::List), FsOp::Mdtm),
            Command::Mfmt { mtime, path } => {
                self.fs_path(&path, Some(Perm::Write), |path| FsOp::Mfmt { path, mtime })
            }
            Command::Site(site) => self.cmd_site(site),
            Command::Type(t) => vec![self.cmd_type(t)],
            Command::Stru(stru) => {
                self.stru = stru;
                let name = match stru {
                    Structure::File => "F",
                    Structure::Record => "R",
                    Structure::Page => "P",
                };
                vec![reply(200, format!("Structure set to {name}."))]
            }
            Command::Mode(Mode::Stream) => {
                self.mode = Mode::Stream;
                vec![reply(200, "Mode set to S.")]
            }
            Command::Mode(Mode::Deflate) => {
                self.mode = Mode::Deflate;
                vec![reply(200, "Mode set to Z (deflate).")]
            }
            Command::Mode(Mode::Block) => {
                self.mode = Mode::Block;
                vec![reply(200, "Mode set to B.")]
            }
            Command::Mode(Mode::Compressed) => {
                self.mode = Mode::Compressed;
                vec![reply(200, "Mode set to C.")]
            }
            Command::Pasv => self.cmd_pasv(false),
            Command::Epsv(EpsvArg::All) => {
                self.epsv_all = true;
                vec![reply(200, "EPSV ALL ok.")]
            }
            Command::Epsv(EpsvArg::Protocol(n)) => {
                let ours = if self.local.is_ipv4() { 1 } else { 2 };
                if n == ours {
                    self.cmd_pasv(true)
                } else {
                    vec![reply(
                        522,
                        format!("Network protocol not supported, use ({ours})."),
                    )]
                }
            }
            Command::Epsv(EpsvArg::Any) => self.cmd_pasv(true),
            Command::Port(addr) => self.cmd_active(SocketAddr::V4(addr)),
            Command::Eprt(addr) => self.cmd_active(addr),
            Command::List(args) => self.cmd_list(args, ListFormat::List),
            Command::Nlst(args) => self.cmd_list(args, ListFormat::Nlst),
            Command::Mlsd(arg) => {
                let args = ListArgs {
                    flags: String::new(),
                    path: arg,
                };
                self.cmd_list(args, ListFormat::Mlsd)
            }
            Command::Mlst(arg) => {
                let arg = arg.unwrap_or_default();
                self.fs_path(&arg, Some(Perm::List), FsOp::Mlst)
            }
            Command::Retr(arg) => self.with_path(&arg, |s, path| {
                if let Err(denied) = s.check(&path, Perm::Read, false) {
                    return vec![denied];
                }
                s.start_transfer(TransferKind::Retr {
                    path,
                    offset: rest.unwrap_or(0),
                })
            }),
            Command::Stor(arg) => {
                // An explicit REST (even REST 0) overwrites in place, so several connections
                // can each write a range of one file; a plain STOR replaces atomically, or
                // only creates when the account may not overwrite.
                self.upload(&arg, true, |path, overwrite| {
                    let mode = match (rest, overwrite) {
                        (Some(n), _) => StoreMode::At(n),
                        (None, true) => StoreMode::Replace,
                        (None, false) => StoreMode::Create,
                    };
                    TransferKind::Stor { path, mode }
                })
            }
            Command::Appe(arg) => self.upload(&arg, false, |path, _| TransferKind::Stor {
                path,
                mode: StoreMode::Append,
            }),
            Command::Stou(arg) => {
                let base = arg.unwrap_or_else(|| "ferry".to_string());
                // A STOU argument is only a name suggestion: keep its last component.
                self.upload(&base, true, |path, _| {
                    let base = path.file_name().unwrap_or("ferry").to_string();
                    TransferKind::Stou {
                        dir: path.parent(),
                        base,
                    }
                })
            }
            Command::Rest(n) => {
                self.rest = Some(n);
                vec![reply(350, format!("Restarting at {n}. Send STOR or RETR."))]
            }
            Command::Allo { .. } => vec![reply(202, "ALLO not needed.")],
            Command::Abor => vec![reply(225, "No transfer to abort.")],
            Command::Auth(mech) => self.cmd_auth(&mech),
            Command::Pbsz(_) => self.cmd_pbsz(),
            Command::Prot(level) => vec![self.cmd_prot(level)],
            Command::Ccc => self.cmd_ccc(),
            Command::Host(name) => self.cmd_host(name),
            Command::Hash(arg) => self.cmd_hash(&arg, rang, rest),
            Command::Rang { start, end } => vec![self.cmd_rang(start, end)],
            Command::XHash {
                algorithm,
                path,
                start,
                end,
            } => self.cmd_x_hash(algorithm, &path, start, end),
            Command::Mff { facts, path } => self.cmd_mff(facts, &path),
            Command::Mfct { path, .. } => self.fs_path(&path, Some(Perm::Write), FsOp::Mfct),
            Command::Avbl(arg) => self.cmd_avbl(arg),
            Command::Clnt(name) => vec![self.cmd_clnt(&name)],
            Command::Lang(tag) => vec![self.cmd_lang(tag.as_deref())],
            Command::Smnt(_) => vec![ext::smnt_reply()],
            // Variants added to the parser later are answered here until implemented.
            #[allow(unreachable_patterns)]
            other => vec![reply(502, format!("{} not implemented.", other.verb()))],
        }
    }

    /// Back to the state of a new connection, but TLS on the control connection stays as
    /// it is (REIN does not undo AUTH; RFC 4217 §11 leaves PBSZ/PROT to be sent again).
    fn reset(&mut self) {
        let config = self.config.clone();
        let tls = self.tls;
        let certificate_user = self.certificate_user.take();
        let (host, initial_host) = (self.host.take(), self.initial_host.take());
        let idle_max = self.ext.idle_max;
        *self = Session::new(config, self.peer, self.local);
        self.ext.idle_max = idle_max;
        self.tls = tls;
        self.certificate_user = certificate_user;
        self.host = host;
        self.initial_host = initial_host;
    }

    fn cmd_user(&mut self, name: String) -> Vec<Action> {
        let mut actions = Vec::new();
        if matches!(self.state, State::LoggedIn(_)) {
            // A new USER starts a new login, as REIN would.
            let bad = self.bad_before_login;
            self.reset();
            self.bad_before_login = bad;
            actions.push(Action::ClearDataSetup);
            actions.push(Action::LoggedOut);
        }
        let anonymous = self.anonymous_enabled()
            && (name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp"));
        let policy = self.config.tls;
        if policy.required_for_login && !self.tls && !(anonymous && policy.anonymous_exempt) {
            self.state = State::AwaitUser;
            let r = Reply::new(530, "This server requires TLS: send AUTH TLS before USER.");
            actions.extend(self.bad_command(r));
            return actions;
        }
        if self.tls && self.certificate_user.as_deref() == Some(name.as_str()) {
            // RFC 2228 §3: the security data exchange (a verified client certificate mapped
            // to this user) is enough: 232, no password.
            self.pending = Some(Pending::Auth {
                user: name.clone(),
                by_certificate: true,
            });
            actions.push(Action::AuthenticateByCertificate { user: name });
            return actions;
        }
        let text = if anonymous {
            "Anonymous login ok, send your e-mail address as password.".to_string()
        } else {
            "Password required.".to_string()
        };
        self.state = State::AwaitPass { user: name };
        actions.push(reply(331, text));
        actions
    }

    fn cmd_pass(&mut self, password: Password) -> Vec<Action> {
        match std::mem::replace(&mut self.state, State::AwaitUser) {
            State::AwaitPass { user } => {
                self.pending = Some(Pending::Auth {
                    user: user.clone(),
                    by_certificate: false,
                });
                vec![Action::Authenticate { user, password }]
            }
            State::LoggedIn(l) => {
                self.state = State::LoggedIn(l);
                vec![reply(230, "Already logged in.")]
            }
            State::AwaitUser => self.bad_command(Reply::new(503, "Login with USER first.")),
        }
    }

    /// Reports the result of [`Action::Authenticate`].
    pub fn on_auth(&mut self, result: Option<LoginGrant>) -> Vec<Action> {
        let (user, by_certificate) = match self.pending.take() {
            Some(Pending::Auth {
                user,
                by_certificate,
            }) => (user, by_certificate),
            other => {
                self.pending = other;
                return Vec::new();
            }
        };
        match result {
            Some(grant) => {
                self.anonymous = grant.anonymous;
                self.state = State::LoggedIn(Login {
                    user: grant.user.clone(),
                    permissions: grant.permissions.clone(),
                    cwd: VirtualPath::root(),
                });
                let ok = if by_certificate {
                    reply(
                        232,
                        "User logged in, authorized by the TLS client certificate.",
                    )
                } else {
                    reply(230, "Login successful.")
                };
                vec![Action::LoggedIn(grant), ok]
            }
            None => {
                let _ = user;
                self.state = State::AwaitUser;
                self.bad_command(Reply::new(530, "Login incorrect."))
            }
        }
    }

    /// Reports that logging in could not finish (e.g. the account's storage could not be
    /// opened) after [`Action::LoggedIn`].
    pub fn on_login_failed(&mut self, message: &str) -> Vec<Action> {
        self.state = State::AwaitUser;
        vec![reply(530, format!("Login failed: {message}."))]
    }

    fn resolve(&self, arg: &str) -> Result<VirtualPath, Action> {
        self.cwd().join(arg).map_err(|e| match e {
            PathError::Nul => reply(501, "File name contains a NUL byte."),
            PathError::ComponentTooLong | PathError::TooLong => {
                reply(553, "File name not allowed.")
            }
            #[allow(unreachable_patterns)]
            _ => reply(553, "File name not allowed."),
        })
    }

    fn with_path(
        &mut self,
        arg: &str,
        f: impl FnOnce(&mut Self, VirtualPath) -> Vec<Action>,
    ) -> Vec<Action> {
        match self.resolve(arg) {
            Ok(p) => f(self, p),
            Err(a) => vec![a],
        }
    }

    /// `Some(550)` when `arg` is, or holds, a directory with its own permission rules: such
    /// a directory may not be renamed away (its files would leave their rules) nor replaced
    /// by a rename.
    fn rule_anchor(&self, arg: &str) -> Option<Action> {
        let path = self.resolve(arg).ok()?;
        match &self.state {
            State::LoggedIn(l) if l.permissions.has_rule_at_or_below(&path) => Some(reply(
                550,
                "Permission denied: this directory has its own permission rules.",
            )),
            _ => None,
        }
    }

    /// Resolves `arg`, checks `need` (the permission, on the entry's directory) and starts
    /// the storage operation.
    fn fs_path(
        &mut self,
        arg: &str,
        need: Option<Perm>,
        op: impl FnOnce(VirtualPath) -> FsOp,
    ) -> Vec<Action> {
        self.with_path(arg, |s, p| {
            if let Some(perm) = need {
                if let Err(denied) = s.check(&p, perm, false) {
                    return vec![denied];
                }
            }
            s.start_fs(op(p))
        })
    }

    fn start_fs(&mut self, op: FsOp) -> Vec<Action> {
        self.pending = Some(Pending::Fs(op.clone()));
        vec![Action::Fs(op)]
    }

    /// Reports the result of [`Action::Fs`]: the entry's metadata for the operations that
    /// look one up (CWD, RNFR, SIZE, MDTM, MLST), `None` for the others.
    pub fn on_fs(&mut self, result: Result<Option<EntryInfo>, OpError>) -> Vec<Action> {
        let op = match self.pending.take() {
            Some(Pending::Fs(op)) => op,
            other => {
                self.pending = other;
                return Vec::new();
            }
        };
        let meta = match result {
            Err(e) => return vec![self.fs_error(&op, e)],
            Ok(m) => m,
        };
        let kind = meta.as_ref().map(|m| m.kind);
        match op {
            FsOp::Cwd(path) => {
                if kind != Some(EntryKind::Dir) {
                    return vec![reply(550, "Failed to change directory: not a directory.")];
                }
                if let State::LoggedIn(l) = &mut self.state {
                    l.cwd = path;
                }
                vec![reply(250, "Directory successfully changed.")]
            }
            FsOp::Mkd(path) => vec![reply(257, format!("{} created.", quote_257(path.as_str())))],
            FsOp::Rmd(_) => vec![reply(250, "Directory removed.")],
            FsOp::Dele(_) => vec![reply(250, "File deleted.")],
            FsOp::Rnfr(path) => {
                if meta.is_none() {
                    return vec![reply(550, "File not found.")];
                }
                self.rename_from = Some(path);
                vec![reply(350, "Ready for RNTO.")]
            }
            FsOp::Rename { .. } => vec![reply(250, "Rename successful.")],
            FsOp::Size(_) => match meta {
                Some(m) if m.kind == EntryKind::File => vec![reply(213, m.size.to_string())],
                _ => vec![reply(550, "Could not get file size: not a plain file.")],
            },
            FsOp::Mdtm(_) => match meta {
                Some(m) => vec![reply(213, format_mdtm(m.mtime))],
                None => vec![reply(550, "Could not get modification time.")],
            },
            FsOp::Mfmt { path, mtime } => vec![reply(
                213,
                format!("Modify={}; {}", format_mdtm(mtime), path.as_str()),
            )],
            FsOp::Chmod { .. } => vec![reply(200, "SITE CHMOD command ok.")],
            op @ (FsOp::Mff { .. } | FsOp::Utime { .. } | FsOp::Mfct(_)) => {
                self.on_fs_ext(op, meta)
            }
            FsOp::Mlst(path) => match meta {
                Some(m) => {
                    // The reply encoder indents middle lines by one space, as RFC 3659
                    // §7.2 wants for the fact line.
                    let mut line = Vec::with_capacity(128);
                    crate::listing::write_mlsx_facts(
                        &EntryInfo {
                            name: path.as_str().to_string(),
                            ..m
                        },
                        crate::listing::MlsxType::FromKind,
                        &self.mlsx_perm_in(kind.unwrap_or(EntryKind::Other), &path.parent()),
                        &self.mlst_facts,
                        &mut line,
                    );
                    let line = String::from_utf8_lossy(&line).into_owned();
                    vec![Action::Reply(Reply::multi(
                        250,
                        vec![
                            format!("Listing {}", path.as_str()),
                            line,
                            "End".to_string(),
                        ],
                    ))]
                }
                None => vec![reply(550, "No such file or directory.")],
            },
        }
    }

    fn fs_error(&self, op: &FsOp, e: OpError) -> Action {
        let what = match op {
            FsOp::Cwd(_) => "Failed to change directory",
            FsOp::Mkd(_) => "Create directory operation failed",
            FsOp::Rmd(_) => "Remove directory operation failed",
            FsOp::Dele(_) => "Delete operation failed",
            FsOp::Rnfr(_) => "RNFR command failed",
            FsOp::Rename { .. } => "Rename failed",
            FsOp::Size(_) => "Could not get file size",
            FsOp::Mdtm(_) => "Could not get modification time",
            FsOp::Mfmt { .. } => "Could not set modification time",
            FsOp::Chmod { .. } => "SITE CHMOD command failed",
            FsOp::Mlst(_) => "MLST failed",
            FsOp::Mff { .. } => "MFF failed",
            FsOp::Utime { .. } => "SITE UTIME command failed",
            FsOp::Mfct(_) => "MFCT failed",
        };
        reply(e.code, format!("{what}: {}.", e.message))
    }

    /// True while the control connection is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Records that the control connection is protected: after the AUTH handshake, or from
    /// the start on an implicit-FTPS connection.
    pub fn tls_established(&mut self) {
        self.tls = true;
        self.pbsz = false;
        self.prot_private = false;
    }

    /// Records the user that the client's verified TLS certificate maps to: `USER` with that
    /// name then logs in without a password (reply 232).
    pub fn set_certificate_user(&mut self, user: Option<String>) {
        self.certificate_user = user;
    }

    /// True when anonymous logins are open on the host in force.
    fn anonymous_enabled(&self) -> bool {
        self.host
            .as_ref()
            .map_or(self.config.anonymous_enabled, |h| h.anonymous_enabled)
    }

    /// The virtual host in force, if one was chosen (by `HOST` or the TLS server name).
    pub fn host(&self) -> Option<&str> {
        self.host.as_ref().map(|h| h.name.as_str())
    }

    /// Records the virtual host the TLS server name (SNI) chose: in force from now on, and
    /// the one REIN returns to. The driver calls it after the handshake.
    pub fn set_initial_host(&mut self, grant: HostGrant) {
        self.host = Some(grant.clone());
        self.initial_host = Some(grant);
    }

    /// `HOST name` (RFC 7151): only before login; a login in progress (USER sent, no PASS
    /// yet) starts again on the new host.
    fn cmd_host(&mut self, name: String) -> Vec<Action> {
        if matches!(self.state, State::LoggedIn(_)) {
            return vec![reply(503, "HOST must come before login.")];
        }
        self.state = State::AwaitUser;
        self.pending = Some(Pending::Host);
        vec![Action::SelectHost(Some(name))]
    }

    /// Reports the result of [`Action::SelectHost`]: the host now in force, or why the name
    /// was refused (`504`, counted as a bad command before login).
    pub fn on_host(&mut self, result: Result<HostGrant, String>) -> Vec<Action> {
        match self.pending.take() {
            Some(Pending::Host) => {}
            other => {
                self.pending = other;
                return Vec::new();
            }
        }
        match result {
            Ok(grant) => {
                let text = grant.greeting.clone();
                self.host = Some(grant);
                vec![reply(220, text)]
            }
            Err(reason) => self.bad_command(Reply::new(504, reason)),
        }
    }

    fn cmd_auth(&mut self, mech: &str) -> Vec<Action> {
        if !self.config.tls.available {
            return vec![reply(502, "TLS is not available on this server.")];
        }
        let protect_data = match mech {
            "TLS" | "TLS-C" | "SSL" => false,
            // RFC 4217 §19: the historic TLS-P also protects the data connections.
            "TLS-P" => true,
            _ => {
                return vec![reply(
                    504,
                    "Security mechanism not understood; use AUTH TLS.",
                )]
            }
        };
        if self.tls {
            return vec![reply(503, "TLS is already in use on this connection.")];
        }
        if matches!(self.state, State::LoggedIn(_)) {
            return vec![reply(503, "AUTH must come before login.")];
        }
        // RFC 4217 §4: a login in progress starts again under TLS.
        self.state = State::AwaitUser;
        self.pending = Some(Pending::Tls { protect_data });
        vec![
            reply(
                234,
                format!("AUTH {mech} successful; start the TLS handshake."),
            ),
            Action::StartTls,
        ]
    }

    /// Reports the result of [`Action::StartTls`]. On failure the session must end: the
    /// connection is in an unknown state.
    pub fn on_tls(&mut self, ok: bool) -> Vec<Action> {
        let protect_data = match self.pending.take() {
            Some(Pending::Tls { protect_data }) => protect_data,
            other => {
                self.pending = other;
                return Vec::new();
            }
        };
        if !ok {
            return vec![Action::Close];
        }
        self.tls_established();
        if protect_data {
            self.pbsz = true;
            self.prot_private = true;
        }
        Vec::new()
    }

    fn cmd_pbsz(&mut self) -> Vec<Action> {
        if !self.tls {
            return vec![reply(
                503,
                "PBSZ needs a TLS-protected control connection: send AUTH TLS first.",
            )];
        }
        self.pbsz = true;
        // RFC 4217 §9: TLS is a streaming protection mechanism, the buffer size is 0.
        vec![reply(200, "PBSZ=0")]
    }

    fn cmd_prot(&mut self, level: char) -> Action {
        if !self.tls {
            return reply(
                503,
                "PROT needs a TLS-protected control connection: send AUTH TLS first.",
            );
        }
        if !self.pbsz {
            return reply(503, "PBSZ must come before PROT.");
        }
        match level {
            'P' => {
                self.prot_private = true;
                reply(200, "Protection level set to Private (P).")
            }
            'C' if self.config.tls.require_data_protection => reply(
                534,
                "PROT C refused: this server requires protected data connections.",
            ),
            'C' => {
                self.prot_private = false;
                reply(200, "Protection level set to Clear (C).")
            }
            other => reply(
                536,
                format!("PROT {other} is not supported with TLS; use P or C."),
            ),
        }
    }

    fn cmd_ccc(&mut self) -> Vec<Action> {
        if !self.tls {
            return vec![reply(533, "CCC needs a TLS-protected control connection.")];
        }
        if !self.config.tls.allow_ccc {
            return vec![reply(534, "CCC is not allowed by this server's policy.")];
        }
        if !matches!(self.state, State::LoggedIn(_)) {
            return vec![reply(503, "Log in before CCC.")];
        }
        self.tls = false;
        vec![
            reply(
                200,
                "CCC successful: the control connection goes on in cleartext.",
            ),
            Action::EndTls,
        ]
    }

    fn cmd_opts(&mut self, o: Opts) -> Action {
        match o {
            Opts::Utf8(true) => reply(200, "Always in UTF8 mode."),
            Opts::Utf8(false) => reply(504, "UTF8 cannot be turned off."),
            Opts::Mlst(names) => {
                let facts: Vec<Fact> = Fact::ALL
                    .iter()
                    .copied()
                    .filter(|f| names.iter().any(|n| Fact::from_name(n) == Some(*f)))
                    .collect();
                let list: String = facts.iter().map(|f| format!("{};", f.name())).collect();
                self.mlst_facts = facts;
                reply(200, format!("MLST OPTS {list}"))
            }
            Opts::ModeZ { level } => {
                self.zlib_level = level.unwrap_or(DEFAULT_ZLIB_LEVEL);
                reply(200, format!("MODE Z LEVEL set to {}.", self.zlib_level))
            }
            Opts::Hash(algorithm) => self.opts_hash(algorithm),
            Opts::Other { name, .. } => reply(501, format!("Option {name} not understood.")),
        }
    }

    fn cmd_site(&mut self, site: Site) -> Vec<Action> {
        match site {
            Site::Help(_) => vec![Action::Reply(ext::site_help())],
            Site::Chmod { mode, path } => {
                self.fs_path(&path, Some(Perm::Chmod), |path| FsOp::Chmod { path, mode })
            }
            Site::Other { name, .. } => {
                vec![reply(500, format!("Unknown SITE command {name}."))]
            }
            ext_site => self.site_ext(&ext_site).unwrap_or_default(),
        }
    }

    fn cmd_type(&mut self, t: TransferType) -> Action {
        match t {
            TransferType::Ascii(FormatControl::NonPrint) => {
                self.ty = t;
                reply(200, "Switching to ASCII mode.")
            }
            TransferType::Ascii(fc) => {
                self.ty = t;
                reply(200, format!("Switching to ASCII mode ({}).", fc_name(fc)))
            }
            TransferType::Ebcdic(fc) => {
                self.ty = t;
                reply(200, format!("Switching to EBCDIC mode ({}).", fc_name(fc)))
            }
            TransferType::Image => {
                self.ty = t;
                reply(200, "Switching to Binary mode.")
            }
            TransferType::Local(8) => {
                self.ty = t;
                reply(200, "Switching to Binary mode (L 8).")
            }
            TransferType::Local(_) => reply(504, "Only byte size 8 is supported for TYPE L."),
        }
    }

    fn cmd_pasv(&mut self, extended: bool) -> Vec<Action> {
        if !extended && self.epsv_all {
            return vec![reply(503, "EPSV ALL in effect: only EPSV is allowed.")];
        }
        if !extended && self.config.pasv_address.is_none() && !self.local.is_ipv4() {
            return vec![reply(
                425,
                "PASV needs IPv4: use EPSV on an IPv6 connection.",
            )];
        }
        self.data = DataSetup::None;
        self.pending = Some(Pending::Passive { extended });
        vec![Action::OpenPassive]
    }

    /// Reports the result of [`Action::OpenPassive`]: the listening port, or why none could
    /// be opened.
    pub fn on_passive(&mut self, result: Result<u16, String>) -> Vec<Action> {
        let extended = match self.pending.take() {
            Some(Pending::Passive { extended }) => extended,
            other => {
                self.pending = other;
                return Vec::new();
            }
        };
        match result {
            Err(e) => vec![reply(425, format!("Cannot open passive connection: {e}."))],
            Ok(port) => {
                self.data = DataSetup::Passive;
                if extended {
                    vec![reply(229, crate::addr::epsv_reply_text(port))]
                } else {
                    let ip = match (self.config.pasv_address, self.local) {
                        (Some(ip), _) => ip,
                        (None, IpAddr::V4(ip)) => ip,
                        (None, IpAddr::V6(_)) => {
                            self.data = DataSetup::None;
                            return vec![
                                Action::ClearDataSetup,
                                reply(425, "PASV needs IPv4: use EPSV."),
                            ];
                        }
                    };
                    let addr = std::net::SocketAddrV4::new(ip, port);
                    vec![reply(227, crate::addr::pasv_reply_text(addr))]
                }
            }
        }
    }

    fn cmd_active(&mut self, addr: SocketAddr) -> Vec<Action> {
        if self.epsv_all {
            return vec![reply(503, "EPSV ALL in effect: only EPSV is allowed.")];
        }
        // Bounce protection (RFC 2577): only the control peer, only unprivileged ports.
        if canonical_ip(addr.ip()) != self.peer {
            return vec![reply(
                500,
                "Illegal PORT command: address differs from the control connection.",
            )];
        }
        if addr.port() < 1024 {
            return vec![reply(
                500,
                "Illegal PORT command: privileged ports are not allowed.",
            )];
        }
        self.data = DataSetup::Active(addr);
        vec![
            Action::ClearDataSetup,
            reply(200, "PORT command successful. Consider using PASV."),
        ]
    }

    fn cmd_list(&mut self, args: ListArgs, format: ListFormat) -> Vec<Action> {
        let raw = args.path.unwrap_or_default();
        // A wildcard in the last component filters the listing (ls-style).
        let (dir_arg, pattern) = match raw.rsplit_once('/') {
            Some((dir, last)) if has_wildcard(last) && format != ListFormat::Mlsd => {
                let dir = if dir.is_empty() { "/" } else { dir };
                (dir.to_string(), Some(last.to_string()))
            }
            None if has_wildcard(&raw) && format != ListFormat::Mlsd => {
                (String::new(), Some(raw.clone()))
            }
            _ => (raw, None),
        };
        self.with_path(&dir_arg, |s, path| {
            if let Err(denied) = s.check(&path, Perm::List, true) {
                return vec![denied];
            }
            s.start_transfer(TransferKind::List {
                path,
                format,
                pattern,
            })
        })
    }

    /// An upload to `arg`. It needs `write` in the file's directory; and `overwrite` too
    /// unless `create_allowed` (a plain STOR or STOU may create without it: `kind` is told
    /// whether the account may overwrite). REST+STOR always needs `overwrite`.
    fn upload(
        &mut self,
        arg: &str,
        create_allowed: bool,
        kind: impl FnOnce(VirtualPath, bool) -> TransferKind,
    ) -> Vec<Action> {
        self.with_path(arg, |s, path| {
            if path.is_root() {
                return vec![reply(553, "File name not allowed.")];
            }
            let perms = s.perms_in(&path.parent());
            let overwrite = perms.has(Perm::Overwrite);
            if !perms.has(Perm::Write) || (!create_allowed && !overwrite) {
                return vec![reply(550, "Permission denied.")];
            }
            let kind = kind(path, overwrite);
            if matches!(
                kind,
                TransferKind::Stor {
                    mode: StoreMode::At(_),
                    ..
                }
            ) && !overwrite
            {
                return vec![reply(550, "Permission denied.")];
            }
            s.start_transfer(kind)
        })
    }

    fn start_transfer(&mut self, kind: TransferKind) -> Vec<Action> {
        let endpoint = match self.data {
            DataSetup::None => return vec![reply(425, "Use PORT or PASV first.")],
            DataSetup::Passive => DataEndpoint::Passive,
            DataSetup::Active(a) => DataEndpoint::Active(a),
        };
        let policy = self.config.tls;
        let exempt = self.anonymous && policy.anonymous_exempt && !self.tls;
        if policy.require_data_protection && !self.prot_private && !exempt {
            return vec![reply(
                521,
                "Data connections must be protected: send PBSZ 0 and PROT P first.",
            )];
        }
        let listing = matches!(kind, TransferKind::List { .. });
        // Listings are text sent as TYPE A N, STRU F, in the current MODE (RFC 959 §4.1.3:
        // the data transfer uses the current mode); STRU and TYPE do not apply to them.
        let repr = if listing {
            Representation::new(TransferType::Image, Structure::File, self.mode)
        } else {
            Representation::new(self.ty, self.stru, self.mode)
        };
        let repr = match repr {
            Ok(r) => r,
            Err(e) => return vec![reply(504, format!("Representation not supported: {e}."))],
        };
        let ascii = self.is_ascii() && !listing;
        let req = TransferRequest {
            kind,
            ascii,
            repr,
            endpoint,
            protect: self.prot_private,
            mode: self.mode,
            zlib_level: self.zlib_level,
        };
        self.pending = Some(Pending::Transfer(req.clone()));
        vec![Action::Transfer(req)]
    }

    /// The 150 reply to send once the data connection is open. `name` is the file name
    /// chosen for STOU; `size` the size of a file being sent, when known.
    pub fn opening_reply(
        &self,
        req: &TransferRequest,
        name: Option<&str>,
        size: Option<u64>,
    ) -> Reply {
        let mode = match req.repr.transfer_type() {
            TransferType::Ascii(_) => "ASCII",
            TransferType::Ebcdic(_) => "EBCDIC",
            _ => "BINARY",
        };
        let text = match &req.kind {
            TransferKind::Retr { path, .. } => match size {
                Some(n) => format!(
                    "Opening {mode} mode data connection for {} ({n} bytes).",
                    path.as_str()
                ),
                None => format!("Opening {mode} mode data connection for {}.", path.as_str()),
            },
            TransferKind::Stor { path, .. } => {
                format!("Ok to send data for {} ({mode} mode).", path.as_str())
            }
            // RFC 1123 §4.1.2.9: the 150 reply of STOU names the file.
            TransferKind::Stou { .. } => format!("FILE: {}", name.unwrap_or("")),
            TransferKind::List { .. } => "Here comes the directory listing.".to_string(),
        };
        Reply::new(150, text)
    }

    /// Reports how a transfer started with [`Action::Transfer`] ended. `unique_name` is the
    /// name STOU chose.
    pub fn on_transfer(
        &mut self,
        outcome: TransferOutcome,
        unique_name: Option<&str>,
    ) -> Vec<Action> {
        let req = match self.pending.take() {
            Some(Pending::Transfer(req)) => req,
            other => {
                self.pending = other;
                return Vec::new();
            }
        };
        // A data connection serves one transfer.
        self.data = DataSetup::None;
        let mut out = vec![Action::ClearDataSetup];
        match outcome {
            TransferOutcome::Complete { .. } => {
                let text = match (&req.kind, unique_name) {
                    (TransferKind::List { .. }, _) => "Directory send OK.".to_string(),
                    (TransferKind::Stou { .. }, Some(name)) => {
                        format!("Transfer complete (unique file name: {name}).")
                    }
                    _ => "Transfer complete.".to_string(),
                };
                out.push(reply(226, text));
            }
            TransferOutcome::OpenFailed(e) => {
                let what = match req.kind {
                    TransferKind::Retr { .. } => "Failed to open file",
                    TransferKind::List { .. } => "Failed to list directory",
                    _ => "Could not create file",
                };
                out.push(reply(e.code, format!("{what}: {}.", e.message)));
            }
            TransferOutcome::NoDataConnection(why) => {
                out.push(reply(425, format!("Cannot open data connection: {why}.")));
            }
            TransferOutcome::ConnectionLost(why) => {
                out.push(reply(
                    426,
                    format!("Connection closed; transfer aborted: {why}."),
                ));
            }
            TransferOutcome::StorageFailed(e) => {
                let code = if e.code == 552 { 552 } else { 451 };
                out.push(reply(code, format!("Transfer aborted: {}.", e.message)));
            }
            TransferOutcome::Aborted => {
                out.push(reply(426, "Transfer aborted."));
                out.push(reply(226, "ABOR successful."));
            }
            TransferOutcome::DataTlsRefused(why) => {
                out.push(reply(
                    522,
                    format!("TLS on the data connection failed: {why}."),
                ));
            }
        }
        out
    }

    /// Reports that the listing of [`Action::StatList`] has been sent (or failed).
    pub fn on_stat_done(&mut self) {
        if matches!(self.pending, Some(Pending::Stat)) {
            self.pending = None;
        }
    }

    /// The 211 reply to STAT without argument (also usable during a transfer).
    pub fn status_reply(&self, transfer: Option<&str>) -> Reply {
        let mut lines = vec!["Ferry FTP server status:".to_string()];
        lines.push(format!("Connected to {}", self.peer));
        match &self.state {
            State::LoggedIn(l) => {
                lines.push(format!("Logged in as {}", l.user));
                lines.push(format!("Working directory {}", l.cwd));
            }
            _ => lines.push("Not logged in".to_string()),
        }
        let ty = match self.ty {
            TransferType::Ascii(_) => "ASCII",
            TransferType::Image => "BINARY",
            TransferType::Local(_) => "LOCAL 8",
            TransferType::Ebcdic(_) => "EBCDIC",
        };
        let mode = match self.mode {
            Mode::Stream => "Stream",
            Mode::Block => "Block",
            Mode::Compressed => "Compressed",
            Mode::Deflate => "Deflate",
        };
        let stru = match self.stru {
            Structure::File => "File",
            Structure::Record => "Record",
            Structure::Page => "Page",
        };
        lines.push(format!(
            "TYPE: {ty}; STRUcture: {stru}; transfer MODE: {mode}"
        ));
        lines.push(format!(
            "Control connection: {}; data protection: {}",
            if self.tls { "TLS" } else { "cleartext" },
            if self.prot_private {
                "Private (PROT P)"
            } else {
                "Clear (PROT C)"
            }
        ));
        lines.push(match (transfer, self.data) {
            (Some(t), _) => format!("Transfer in progress: {t}"),
            (None, DataSetup::None) => "No data connection".to_string(),
            (None, DataSetup::Passive) => "Passive listener open".to_string(),
            (None, DataSetup::Active(a)) => format!("Active mode to {a}"),
        });
        lines.push("End of status".to_string());
        Reply::multi(211, lines)
    }

    fn feat_reply(&self) -> Reply {
        let mut lines = vec!["Features:".to_string()];
        let mlst: String = Fact::ALL
            .iter()
            .map(|f| {
                let star = if self.mlst_facts.contains(f) { "*" } else { "" };
                format!("{}{star};", f.name())
            })
            .collect();
        let mut feats: Vec<String> = FEATURES.iter().map(|s| (*s).to_string()).collect();
        feats.push(format!("MLST {mlst}"));
        feats.extend(self.ext_features());
        if self.config.tls.available {
            feats.extend(["AUTH TLS", "PBSZ", "PROT"].map(String::from));
            if self.config.tls.allow_ccc {
                feats.push("CCC".to_string());
            }
        }
        feats.sort();
        lines.extend(feats);
        lines.push("End".to_string());
        Reply::multi(211, lines)
    }
}

fn help_reply() -> Reply {
    let mut lines = vec!["The following commands are recognized.".to_string()];
    for chunk in HELP_VERBS.chunks(8) {
        lines.push(chunk.join(" "));
    }
    lines.push("Help OK.".to_string());
    Reply::multi(214, lines)
}

/// True if `s` contains a `*` or `?` wildcard.
pub fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// Matches `name` against a pattern of `*` (any run) and `?` (any one character), bounded in
/// work (no exponential backtracking).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests;
