//! Command-line syntax of the client commands (`ls`, `get`, `put`, `mirror`, `shell`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ferry_client::Representation;
use ferry_proto::command::{FormatControl, Mode, Structure, TransferType};

/// Connection, credential and output flags shared by every client command.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnArgs {
    /// User and password, USER or USER:PASSWORD (the URL's user wins; without a password the
    /// netrc file is searched, then it is asked on the terminal)
    #[arg(
        short = 'u',
        long = "user",
        value_name = "USER[:PASS]",
        help_heading = "Connection"
    )]
    pub user: Option<UserPass>,
    /// Netrc file for credentials [default: ~/.netrc]
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub netrc_file: Option<PathBuf>,
    /// Explicit FTPS: AUTH TLS on an ftp:// connection (ftps:// URLs are implicit FTPS)
    #[arg(long, help_heading = "Connection")]
    pub tls: bool,
    /// Do not verify the server certificate at all
    #[arg(long, short = 'k', help_heading = "Connection")]
    pub insecure: bool,
    /// Trust these PEM CA certificates (e.g. the server's self-signed certificate) instead
    /// of the system store
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub cacert: Option<PathBuf>,
    /// Trust on first use: remember the certificate fingerprint of each host:port and refuse
    /// a changed one
    #[arg(long, help_heading = "Connection")]
    pub tofu: bool,
    /// Known-hosts file of --tofu (implies --tofu) [default: ~/.config/ferry/known_hosts]
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub known_hosts: Option<PathBuf>,
    /// Active mode: the server connects back (EPRT, falling back to PORT)
    #[arg(long, help_heading = "Connection")]
    pub active: bool,
    /// Retries on transient errors (4xx replies, 421, connection resets), with exponential
    /// backoff, resuming transfers where possible
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        help_heading = "Connection"
    )]
    pub retries: u32,
    /// Send NOOP on the control connection this often during long transfers (0: never)
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        help_heading = "Connection"
    )]
    pub keepalive: u64,
    /// Seconds allowed to connect (TCP and TLS)
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        help_heading = "Connection"
    )]
    pub connect_timeout: u64,
    /// Seconds a control or data connection may stall
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        help_heading = "Connection"
    )]
    pub timeout: u64,
    /// Limit each transfer to RATE bytes per second (e.g. 500K, 2M; split between the
    /// connections of --segments)
    #[arg(long, value_name = "RATE", value_parser = super::throttle::parse_rate, help_heading = "Connection")]
    pub limit_rate: Option<u64>,
    /// No progress bars and no informational messages
    #[arg(
        long,
        short = 'q',
        conflicts_with = "progress",
        help_heading = "Output"
    )]
    pub quiet: bool,
    /// Progress bars even when standard error is not a terminal
    #[arg(long, help_heading = "Output")]
    pub progress: bool,
}

/// A `-u USER[:PASS]` value; its `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct UserPass {
    /// The user name.
    pub user: String,
    /// The password, when given.
    pub password: Option<String>,
}

impl std::fmt::Debug for UserPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "UserPass({}{})",
            self.user,
            if self.password.is_some() { ":****" } else { "" }
        )
    }
}

impl std::str::FromStr for UserPass {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.split_once(':') {
            Some((u, p)) => UserPass {
                user: u.to_owned(),
                password: Some(p.to_owned()),
            },
            None => UserPass {
                user: s.to_owned(),
                password: None,
            },
        })
    }
}

/// `ferry ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Directory (or glob, e.g. ftp://host/dir/*.txt) to list
    #[arg(value_name = "URL")]
    pub url: String,
    /// Long form: type, size, modification time (ISO 8601, UTC) and name
    #[arg(long, short = 'l', conflicts_with = "json")]
    pub long: bool,
    /// One JSON object per line: name, type, size, mtime
    #[arg(long)]
    pub json: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Flags shared by `get` and `put`.
#[derive(Debug, Clone, Args)]
pub struct TransferArgs {
    /// Recursive: whole directories
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Resume: downloads continue from the local file's size (REST), uploads from the
    /// remote file's size (SIZE, then REST+STOR or APPE)
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
    /// Split each large file across N connections (byte ranges), then verify it
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub segments: u16,
    /// Transfer N files at once (one connection each)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub parallel: u16,
    /// Compress the data (MODE Z, deflate) when the server offers it; else warn and
    /// transfer uncompressed
    #[arg(long, conflicts_with = "segments")]
    pub compress: bool,
    /// Block mode (MODE B): the server sends a restart marker every MiB, and a transfer
    /// whose data connection drops restarts from the last marker (REST marker), up to
    /// --retries times
    #[arg(long, conflicts_with_all = ["compress", "segments"])]
    pub block: bool,
    /// Representation type: i (image: bytes as they are), a (ASCII text: CRLF line ends on
    /// the wire), e (EBCDIC text, code page 037, NL line ends on the wire)
    #[arg(
        long = "type",
        value_name = "TYPE",
        value_enum,
        default_value = "i",
        conflicts_with = "segments"
    )]
    pub data_type: DataType,
    /// Same as --type a
    #[arg(long, conflicts_with_all = ["data_type", "segments"])]
    pub ascii: bool,
    /// Structure: f (file), r (record: each line of a text file is a record; a binary file
    /// is one record)
    #[arg(long, value_enum, default_value = "f", conflicts_with = "segments")]
    pub stru: Stru,
}

/// `--type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataType {
    /// TYPE I.
    I,
    /// TYPE A N.
    A,
    /// TYPE E N.
    E,
}

/// `--stru`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stru {
    /// STRU F.
    F,
    /// STRU R.
    R,
}

impl TransferArgs {
    /// The representation of the transfers asked for; `None` for TYPE I, STRU F, MODE S
    /// (the default: bytes as they are, no TYPE/STRU/MODE commands).
    pub fn representation(&self) -> Option<Representation> {
        let ty = match (self.ascii, self.data_type) {
            (true, _) | (false, DataType::A) => TransferType::Ascii(FormatControl::NonPrint),
            (false, DataType::E) => TransferType::Ebcdic(FormatControl::NonPrint),
            (false, DataType::I) => TransferType::Image,
        };
        let stru = match self.stru {
            Stru::F => Structure::File,
            Stru::R => Structure::Record,
        };
        let mode = if self.block {
            Mode::Block
        } else {
            Mode::Stream
        };
        if ty == TransferType::Image && stru == Structure::File && mode == Mode::Stream {
            return None;
        }
        // Every combination of these types and structures is valid.
        Representation::new(ty, stru, mode).ok()
    }
}

/// `ferry get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The remote file, directory (with -r) or glob in the last component
    #[arg(value_name = "URL")]
    pub url: String,
    /// Local file, or directory for several files [default: the remote name in the current
    /// directory]
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Transfer flags.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `ferry put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// Local files (directories with -r), then the destination URL (ending with `/` for a
    /// directory)
    #[arg(value_name = "PATH... URL", num_args = 2.., required = true)]
    pub args: Vec<String>,
    /// Transfer flags.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `ferry mirror`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Source: URL (or local directory with --reverse)
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Destination: local directory (or URL with --reverse)
    #[arg(value_name = "DEST")]
    pub dest: String,
    /// Upload: mirror a local directory to the server
    #[arg(short = 'R', long)]
    pub reverse: bool,
    /// Delete destination files that are not in the source
    #[arg(long)]
    pub delete: bool,
    /// Transfer only files newer in the source (never replace a newer destination file)
    #[arg(long)]
    pub only_newer: bool,
    /// Compare files of equal size by the server's hash (HASH, XSHA256, XSHA1, XMD5, XCRC)
    /// when offered, else by size and MDTM; check every transferred file the same way
    #[arg(long)]
    pub verify: bool,
    /// Transfer N files at once
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub parallel: u16,
    /// Print what would be done, change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `ferry shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Server to open at start (or use `open` inside the shell)
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// Debug: print every command sent (`---> USER alice`, `---> PASS XXXX`) and every reply
    #[arg(short = 'd', long)]
    pub debug: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}
