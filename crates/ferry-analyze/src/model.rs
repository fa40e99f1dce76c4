//! The analysis model: what the FTP layer finds in a capture, as plain data for the outputs
//! (table, hex, JSON lines, HTML, TUI) to render.
//!
//! The contract between the FTP layer and the outputs is described in
//! `notes/analyze-model.md`; this module is its code. All types are plain structs and
//! enums without serde: the renderers decide the wire names (the JSON names of
//! [`FindingKind`] are given by [`FindingKind::as_str`]).
//!
//! Passwords: [`Session::password`] and the argument of a `PASS` [`CommandRecord`] hold the
//! password as seen in cleartext (showing it is the tool's job); outputs may mask them. The
//! `Debug` output of [`Session`] and [`CommandRecord`] never shows them.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use crate::capture::Timestamp;
use crate::capture::{CaptureError, LinkType};
use crate::reassembly::Stats;

/// Everything found in one capture.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// About the capture itself.
    pub capture: CaptureInfo,
    /// FTP control sessions, in order of first frame.
    pub sessions: Vec<Session>,
    /// Findings, global and per session, in order of detection.
    pub findings: Vec<Finding>,
    /// Every FTP control and data TCP segment, only when [`AnalyzeOptions::keep_packets`].
    pub packets: Vec<PacketRecord>,
}

/// About the capture.
#[derive(Debug, Clone, Default)]
pub struct CaptureInfo {
    /// File name (or the name given to [`crate::analyze_reader`]).
    pub name: String,
    /// Frames read.
    pub frames: u64,
    /// Timestamp of the first frame.
    pub first_ts: Option<Timestamp>,
    /// Timestamp of the last frame.
    pub last_ts: Option<Timestamp>,
    /// Link types seen, in order of first appearance.
    pub link_types: Vec<LinkType>,
    /// Reader and reassembly counters.
    pub stats: Stats,
    /// The capture error that stopped reading early, as text (the frames before it were
    /// analysed).
    pub error: Option<String>,
}

/// Outcome of the logins of a session (the last one wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LoginState {
    /// No login attempt finished (no PASS/USER answered with 230/232 or 530).
    #[default]
    None,
    /// The last attempt succeeded (230 or 232).
    Success,
    /// The last attempt failed (530) and none succeeded afterwards.
    Failed,
}

impl LoginState {
    /// `success`, `failed` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginState::None => "none",
            LoginState::Success => "success",
            LoginState::Failed => "failed",
        }
    }
}

/// TLS on the control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TlsState {
    /// No `AUTH` was sent.
    #[default]
    None,
    /// `AUTH TLS/SSL` was refused (4yz/5yz).
    Declined,
    /// `AUTH TLS/SSL` was accepted (234): the rest of the control connection is encrypted
    /// and was not parsed.
    Negotiated,
}

impl TlsState {
    /// `none`, `declined` or `negotiated`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsState::None => "none",
            TlsState::Declined => "declined",
            TlsState::Negotiated => "negotiated",
        }
    }
}

/// One FTP control connection.
#[derive(Clone)]
pub struct Session {
    /// 1-based, in order of first frame.
    pub id: u32,
    /// The control client.
    pub client: SocketAddr,
    /// The control server.
    pub server: SocketAddr,
    /// Frame of the first segment.
    pub first_frame: u64,
    /// Time of the first segment.
    pub first_ts: Timestamp,
    /// Time of the last segment.
    pub last_ts: Timestamp,
    /// The connection's start (handshake) was not in the capture.
    pub mid_stream: bool,
    /// The last user name sent (`USER`).
    pub user: Option<String>,
    /// The last password sent (`PASS`), as seen in cleartext.
    pub password: Option<String>,
    /// Outcome of the logins.
    pub login: LoginState,
    /// TLS on the control connection.
    pub tls: TlsState,
    /// The greeting reply text (220 or 120), lines joined with `\n`.
    pub greeting: Option<String>,
    /// Frame of the greeting.
    pub greeting_frame: Option<u64>,
    /// Time of the greeting.
    pub greeting_ts: Option<Timestamp>,
    /// Code of the greeting (220, or 120 when the 220 never came).
    pub greeting_code: Option<u16>,
    /// Commands in the order sent.
    pub commands: Vec<CommandRecord>,
    /// Data transfers (and data connections that no transfer command used: command `"?"`).
    pub transfers: Vec<Transfer>,
    /// Control-channel bytes missing from the capture (both directions).
    pub gaps: u64,
    /// Failed login attempts (530 after USER/PASS).
    pub failed_logins: u32,
    /// Replies that came with no command pending (unsolicited, or the command was lost).
    pub unsolicited_replies: Vec<(u64, u16, String)>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("client", &self.client)
            .field("server", &self.server)
            .field("first_frame", &self.first_frame)
            .field("mid_stream", &self.mid_stream)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("login", &self.login)
            .field("tls", &self.tls)
            .field("greeting", &self.greeting)
            .field("commands", &self.commands)
            .field("transfers", &self.transfers)
            .field("gaps", &self.gaps)
            .finish_non_exhaustive()
    }
}

/// A 1yz reply (positive preliminary, e.g. `150 Opening data connection`) to a command that
/// was still waiting for its final reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreliminaryReply {
    /// The reply code (100..=199).
    pub code: u16,
    /// The reply text, lines joined with `\n`.
    pub text: String,
    /// Frame of the reply's last line.
    pub frame: u64,
    /// Time of that frame.
    pub ts: Timestamp,
}

/// One command with its reply.
#[derive(Clone, Default)]
pub struct CommandRecord {
    /// Frame that carried the command's last byte (its line ending).
    pub frame: u64,
    /// That frame's time.
    pub ts: Timestamp,
    /// The verb, upper-cased as sent (`"USER"`, `"XPWD"`, or any unknown word verbatim,
    /// upper-cased). `"<overlong>"` for a line over the length limit.
    pub command: String,
    /// The rest of the line after the verb and one space (`PASS` argument kept; outputs may
    /// mask it).
    pub arg: Option<String>,
    /// Code of the final reply.
    pub reply_code: Option<u16>,
    /// Text of the final reply, lines joined with `\n`.
    pub reply_msg: Option<String>,
    /// Frame of the final reply's last line.
    pub reply_frame: Option<u64>,
    /// Time of the final reply.
    pub reply_ts: Option<Timestamp>,
    /// 1yz replies before the final one (e.g. 150), with their frames.
    pub preliminary: Vec<PreliminaryReply>,
    /// Working directory when the command was sent (from CWD/CDUP replies, set
    /// authoritatively by PWD's 257). `"/"` is assumed at login until a reply says
    /// otherwise; `"?"` after a CWD whose result could not be resolved.
    pub cwd: String,
    /// What the verb means (RFC), e.g. `"RETR: retrieve a file"`.
    pub meaning: &'static str,
    /// What the final reply code means.
    pub reply_meaning: Option<&'static str>,
    /// `Command::parse` refused the line (unknown verb, bad argument): the reason.
    pub parse_error: Option<String>,
}

impl fmt::Debug for CommandRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arg = if self.command == "PASS" {
            self.arg.as_ref().map(|_| "<hidden>".to_string())
        } else {
            self.arg.clone()
        };
        f.debug_struct("CommandRecord")
            .field("frame", &self.frame)
            .field("command", &self.command)
            .field("arg", &arg)
            .field("reply_code", &self.reply_code)
            .field("reply_msg", &self.reply_msg)
            .field("preliminary", &self.preliminary)
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

/// How a data connection was set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataSetup {
    /// `PASV` and a 227 reply.
    Pasv,
    /// `EPSV` and a 229 reply.
    Epsv,
    /// `PORT` and a 200 reply.
    Port,
    /// `EPRT` and a 200 reply.
    Eprt,
}

impl DataSetup {
    /// `PASV`, `EPSV`, `PORT` or `EPRT`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataSetup::Pasv => "PASV",
            DataSetup::Epsv => "EPSV",
            DataSetup::Port => "PORT",
            DataSetup::Eprt => "EPRT",
        }
    }
}

/// Which way a transfer's bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferDirection {
    /// Server to client (RETR, LIST, NLST, MLSD).
    Download,
    /// Client to server (STOR, STOU, APPE).
    Upload,
    /// Not known (a data connection no command used).
    Unknown,
}

/// One data connection and the transfer command that used it.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Session id.
    pub session: u32,
    /// LIST NLST MLSD RETR STOR STOU APPE, or `"?"` for a data connection no transfer command
    /// used.
    pub command: String,
    /// Frame of that command (0 when `"?"`).
    pub command_frame: u64,
    /// Absolute path, resolved with the cwd (for STOU: from the 150/250/226 reply when it
    /// names the file). For LIST/NLST/MLSD without argument: the cwd.
    pub path: Option<String>,
    /// How the data connection was set up.
    pub setup: DataSetup,
    /// Frame of the setup reply (227/229/200).
    pub setup_frame: u64,
    /// The TCP initiator of the data connection.
    pub data_client: SocketAddr,
    /// The TCP responder of the data connection.
    pub data_server: SocketAddr,
    /// Direction of the payload.
    pub direction: TransferDirection,
    /// First frame of the data connection.
    pub first_frame: u64,
    /// Last frame of the data connection.
    pub last_frame: u64,
    /// Time of the first frame.
    pub first_ts: Timestamp,
    /// Time of the last frame.
    pub last_ts: Timestamp,
    /// Bytes seen on the data connection (payload direction).
    pub bytes: u64,
    /// Bytes missing from the capture (gaps).
    pub missing_bytes: u64,
    /// Bytes sent the other way (normally 0).
    pub reverse_bytes: u64,
    /// SHA-256 (hex) of the bytes as transferred, when at least one byte was seen.
    pub sha256: Option<String>,
    /// No gaps, the data connection closed with FIN, a 226/250 reply came, and the size
    /// matches when the server announced one (213 or `(n bytes)` in the 150 reply).
    pub complete: bool,
    /// Size the server announced (SIZE's 213 or the 150 reply), if any.
    pub announced_size: Option<u64>,
    /// REST offset in force for this transfer.
    pub rest: Option<u64>,
    /// TYPE in force (`'A'`, `'I'`, `'E'`, `'L'`), `'A'` by default.
    pub type_: char,
    /// The data connection was TLS (PROT P): the content is not extractable.
    pub tls: bool,
    /// Where the bytes were written (with `extract_dir`).
    pub extracted_to: Option<PathBuf>,
    /// Final reply code of the transfer command.
    pub reply_code: Option<u16>,
}

/// What kind of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// USER and PASS sent over a control connection without TLS.
    CleartextCredentials,
    /// An anonymous (`anonymous` / `ftp`) login was accepted.
    AnonymousLogin,
    /// Many failed logins from one source address.
    BruteForce,
    /// PORT/EPRT naming a third-party address or a privileged port.
    BounceAttempt,
    /// AUTH TLS/SSL refused, then a cleartext login.
    TlsDeclined,
    /// A session logged in or transferred without ever trying TLS.
    NoTls,
    /// A passive data connection from an address other than the control client.
    PasvTheft,
    /// SITE EXEC, SITE CPFR/CPTO and similar.
    DangerousCommand,
    /// A command line over the length limit.
    OverlongCommand,
    /// A reply line that is not a valid FTP reply.
    MalformedReply,
}

impl FindingKind {
    /// The JSON name: `cleartext-credentials`, `anonymous-login`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::CleartextCredentials => "cleartext-credentials",
            FindingKind::AnonymousLogin => "anonymous-login",
            FindingKind::BruteForce => "brute-force",
            FindingKind::BounceAttempt => "bounce-attempt",
            FindingKind::TlsDeclined => "tls-declined",
            FindingKind::NoTls => "no-tls",
            FindingKind::PasvTheft => "pasv-theft",
            FindingKind::DangerousCommand => "dangerous-command",
            FindingKind::OverlongCommand => "overlong-command",
            FindingKind::MalformedReply => "malformed-reply",
        }
    }

    /// Every kind.
    pub const ALL: [FindingKind; 10] = [
        FindingKind::CleartextCredentials,
        FindingKind::AnonymousLogin,
        FindingKind::BruteForce,
        FindingKind::BounceAttempt,
        FindingKind::TlsDeclined,
        FindingKind::NoTls,
        FindingKind::PasvTheft,
        FindingKind::DangerousCommand,
        FindingKind::OverlongCommand,
        FindingKind::MalformedReply,
    ];
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Minor.
    Low,
    /// Should be looked at.
    Medium,
    /// Likely an attack or an exposure.
    High,
}

impl Severity {
    /// `info`, `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Something noteworthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The session, when the finding belongs to one (brute force spans sessions: `None`).
    pub session: Option<u32>,
    /// What kind.
    pub kind: FindingKind,
    /// How serious.
    pub severity: Severity,
    /// The frame that shows it.
    pub frame: Option<u64>,
    /// Human-readable explanation.
    pub detail: String,
}

/// What a recorded packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// The session's control connection.
    Control,
    /// A data connection: index into the session's [`Session::transfers`].
    Data(usize),
}

/// One TCP segment of an FTP control or data connection, as captured.
#[derive(Debug, Clone)]
pub struct PacketRecord {
    /// Frame number.
    pub frame: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// The session.
    pub session: Option<u32>,
    /// Control or data.
    pub kind: PacketKind,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// TCP flags as Wireshark shows them (`"SYN, ACK"`).
    pub flags: String,
    /// TCP sequence number.
    pub seq: u32,
    /// TCP acknowledgment number.
    pub ack: u32,
    /// The payload, cut at [`AnalyzeOptions::packet_payload_cap`] bytes.
    pub payload: Vec<u8>,
    /// The payload's full length.
    pub payload_len: usize,
}

/// Analysis settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyzeOptions {
    /// Ports of FTP control servers (default `[21]`). Flows whose server greets with a
    /// `220`/`120` line are analysed on any port.
    pub ftp_ports: Vec<u16>,
    /// Write every transferred file under this directory.
    pub extract_dir: Option<PathBuf>,
    /// Fill [`Analysis::packets`].
    pub keep_packets: bool,
    /// Payload bytes kept per packet record (default 4096).
    pub packet_payload_cap: usize,
    /// Failed logins from one source address that make a brute-force finding (default 5).
    pub brute_force_threshold: u32,
    /// Command lines longer than this are `overlong-command` findings (default 8192, the
    /// limit of `ferry_proto::line::MAX_LINE`).
    pub max_command_line: usize,
    /// With `extract_dir`: fill missing byte ranges with zeros so that offsets stay right
    /// (default false: missing bytes are skipped and the file is marked `.incomplete`).
    pub fill_gaps: bool,
    /// Reassembly settings.
    pub reassembly: crate::reassembly::Options,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            ftp_ports: vec![21],
            extract_dir: None,
            keep_packets: false,
            packet_payload_cap: 4096,
            brute_force_threshold: 5,
            max_command_line: ferry_proto::line::MAX_LINE,
            fill_gaps: false,
            reassembly: crate::reassembly::Options::default(),
        }
    }
}

/// Something that happened, reported by [`crate::LiveAnalyzer`] as sessions progress.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A control session was recognised.
    SessionStarted {
        /// Session id.
        session: u32,
        /// Control client.
        client: SocketAddr,
        /// Control server.
        server: SocketAddr,
    },
    /// A command got its final reply (or the session ended without one).
    Command {
        /// Session id.
        session: u32,
        /// The command.
        record: CommandRecord,
    },
    /// A data transfer finished (its data connection closed).
    Transfer(Transfer),
    /// A finding.
    Finding(Finding),
    /// A control session ended.
    SessionEnded {
        /// Session id.
        session: u32,
    },
}

/// Why an analysis failed or stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// The capture file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The capture is not readable (or stopped being readable).
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Writing an extracted file failed (extraction stopped; the analysis went on).
    #[error("extracting to {path}: {source}")]
    Extract {
        /// The file being written.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}
