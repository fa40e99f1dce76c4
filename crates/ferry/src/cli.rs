//! Command-line syntax (clap derive).
//!
//! Values of `ferry serve` are kept as raw text here: checking them is the job of
//! [`crate::config`], which reports every problem at once together with the problems of the
//! config file. Clap itself only rejects what is not syntax at all (an unknown flag, a
//! missing value).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

/// Exit codes, shown at the end of `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success (the server stopped cleanly after SIGINT/SIGTERM)
  1  runtime error (cannot bind, I/O error, unknown user, ...)
  2  usage or configuration error (every problem is listed)
  130, 143  a second SIGINT or SIGTERM stopped the server at once";

/// `ferry`: an FTP server (and later client and analyzer).
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about,
    after_help = format!(
        "{EXIT_CODES}\n\nClient commands (ls, get, put, mirror, shell):\n{}",
        crate::client::exit::help()
    )
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the FTP server.
    #[command(after_help = EXIT_CODES)]
    Serve(ServeArgs),
    /// Manage the accounts of a users file.
    #[command(subcommand)]
    User(UserCommand),
    /// List a remote directory: `ferry ls ftp://host/dir/ [--long|--json]`.
    #[command(after_help = crate::client::exit::help())]
    Ls(crate::client::args::LsArgs),
    /// Download files: `ferry get ftp://user@host/file [-o PATH] [-r] [-c]`.
    #[command(after_help = crate::client::exit::help())]
    Get(crate::client::args::GetArgs),
    /// Upload files: `ferry put FILE... ftp://user@host/dir/ [-r] [-c]`.
    #[command(after_help = crate::client::exit::help())]
    Put(crate::client::args::PutArgs),
    /// Mirror a remote directory here, or (--reverse) a local one to the server.
    #[command(after_help = crate::client::exit::help())]
    Mirror(crate::client::args::MirrorArgs),
    /// Interactive FTP shell (commands from standard input; -d prints the protocol).
    #[command(after_help = crate::client::exit::help())]
    Shell(crate::client::args::ShellArgs),
    /// Analyse an FTP capture (pcap/pcapng): sessions, transfers, findings; table, --json,
    /// --hex, --html FILE or --tui.
    #[command(after_help = crate::analyze::ANALYZE_EXIT_CODES)]
    Analyze(crate::analyze::AnalyzeArgs),
    /// Capture FTP live through libpcap (root or CAP_NET_RAW), printing sessions as they go.
    Capture(crate::analyze::live::CaptureArgs),
}

/// Flags of `ferry serve`. Every flag has a config-file key of the same name in snake_case;
/// a flag given on the command line overrides the file.
#[derive(Debug, Default, Clone, Args)]
pub struct ServeArgs {
    /// Listen addresses (`--listen`).
    #[arg(
        long,
        value_name = "ADDR:PORT",
        help = "Address to listen on, e.g. 127.0.0.1:2121 or [::1]:2121 (repeatable) \
                [default: 127.0.0.1:2121]"
    )]
    pub listen: Vec<String>,
    /// Directory served (created if missing) [default: ./ftp-root]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// An account NAME:PASSWORD[:ro|rw] (repeatable; default access rw). The password may
    /// contain ':'; a trailing ':ro' or ':rw' is taken as the access level.
    #[arg(long, value_name = "NAME:PASSWORD[:ro|rw]")]
    pub user: Vec<UserArg>,
    /// Users file (see `ferry user add`)
    #[arg(long, value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// Anonymous access: off, ro, upload-only (read-only, plus uploads into
    /// --anonymous-incoming that anonymous users cannot list nor download) or rw
    /// [default: ro when no user is configured, else off]
    #[arg(long, value_name = "off|ro|upload-only|rw")]
    pub anonymous: Option<String>,
    /// Passive data port range, MIN-MAX with 1024 <= MIN <= MAX <= 65535 [default: any]
    #[arg(long, value_name = "MIN-MAX")]
    pub passive_ports: Option<String>,
    /// Address announced in PASV replies (IP, or a host name resolved at start)
    #[arg(long, value_name = "HOST")]
    pub public_host: Option<String>,
    /// Config file (TOML). Its keys are the flags' names in snake_case, e.g.
    /// `passive_ports = "30000-30100"`, `user = ["alice:secret:rw"]`, `idle_timeout = 60`;
    /// flags override it; its relative paths are relative to its directory
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format: human or json [default: human]
    #[arg(long, value_name = "human|json")]
    pub log_format: Option<String>,
    /// Log filter, e.g. debug or ferry_server=trace [default: RUST_LOG, else the config
    /// file, else info]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Seconds a control connection may stay idle [default: 300]
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<String>,
    /// Seconds to wait for a data connection or for progress on one [default: 30]
    #[arg(long, value_name = "SECS")]
    pub data_timeout: Option<String>,
    /// Seconds running transfers may go on after SIGINT/SIGTERM [default: 30]
    #[arg(long, value_name = "SECS")]
    pub shutdown_grace: Option<String>,
    /// Text of the 220 greeting
    #[arg(long, value_name = "TEXT")]
    pub greeting: Option<String>,

    /// FTPS (RFC 4217): off (no TLS at all), optional, or required (no USER/PASS and no
    /// transfer without TLS) [default: required when an address is not loopback, else
    /// optional]
    #[arg(long, value_name = "off|optional|required", help_heading = "FTPS")]
    pub tls: Option<String>,
    /// Whether anonymous logins are exempt from `--tls required` [default: exempt]
    #[arg(long, value_name = "exempt|required", help_heading = "FTPS")]
    pub tls_anonymous: Option<String>,
    /// Whether data connections must be protected (PROT P) [default: optional]
    #[arg(long, value_name = "optional|required", help_heading = "FTPS")]
    pub tls_data: Option<String>,
    /// Allow CCC (clear command channel after login)
    #[arg(long, help_heading = "FTPS")]
    pub allow_ccc: bool,
    /// Certificate chain, PEM, leaf first (with --key) [default: a self-signed certificate
    /// kept in --state-dir]
    #[arg(long, value_name = "FILE", help_heading = "FTPS")]
    pub cert: Option<PathBuf>,
    /// Private key of --cert, PEM
    #[arg(long, value_name = "FILE", help_heading = "FTPS")]
    pub key: Option<PathBuf>,
    /// Directory for state kept across starts (the generated self-signed certificate)
    /// [default: ./ferry-state]
    #[arg(long, value_name = "DIR", help_heading = "FTPS")]
    pub state_dir: Option<PathBuf>,
    /// Implicit-FTPS listen address, TLS before the greeting, conventionally port 990
    /// (repeatable)
    #[arg(long, value_name = "ADDR:PORT", help_heading = "FTPS")]
    pub implicit_listen: Vec<String>,
    /// Whether TLS data connections must resume the control connection's TLS session
    /// [default: accept]
    #[arg(long, value_name = "off|accept|require", help_heading = "FTPS")]
    pub tls_session_reuse: Option<String>,
    /// CA certificates (PEM) that client certificates must chain to
    #[arg(long, value_name = "FILE", help_heading = "FTPS")]
    pub client_ca: Option<PathBuf>,
    /// Client certificates: off, request or require (request and require need --client-ca)
    /// [default: off]
    #[arg(long, value_name = "off|request|require", help_heading = "FTPS")]
    pub client_cert: Option<String>,
    /// Maps a client certificate subject to an account, as USER:SUBJECT, e.g.
    /// `alice:CN=alice,O=Example` (repeatable)
    #[arg(long, value_name = "USER:SUBJECT", help_heading = "FTPS")]
    pub client_cert_user: Vec<String>,

    /// Folder anonymous `upload-only` logins upload into (created if missing; its files cannot be listed nor downloaded by anonymous users) [default: /incoming]
    #[arg(long, value_name = "PATH", help_heading = "Operations")]
    pub anonymous_incoming: Option<String>,
    /// Sessions open at once on the whole server; 0 = no limit [default: 1000]
    #[arg(long, value_name = "N", help_heading = "Operations")]
    pub max_sessions: Option<String>,
    /// Sessions open at once from one client address; 0 = no limit [default: 50]
    #[arg(long, value_name = "N", help_heading = "Operations")]
    pub max_sessions_per_ip: Option<String>,
    /// Sessions logged in at once with one account; 0 = no limit (a users-file entry may set its own) [default: 0]
    #[arg(long, value_name = "N", help_heading = "Operations")]
    pub max_sessions_per_user: Option<String>,
    /// Login attempts per client address per minute (scripts that log in per file need
    /// room; failed logins are slowed and banned separately); 0 = no limit [default: 600]
    #[arg(long, value_name = "N", help_heading = "Operations")]
    pub max_logins_per_minute: Option<String>,
    /// Unknown or failed commands tolerated before login; one more closes the session [default: 20]
    #[arg(long, value_name = "N", help_heading = "Operations")]
    pub max_bad_commands: Option<String>,
    /// Longest control line accepted, in bytes (512 to 65536) [default: 8192]
    #[arg(long, value_name = "BYTES", help_heading = "Operations")]
    pub max_line_length: Option<String>,
    /// Passive data listeners open at once on the whole server; 0 = no limit [default: 1000]
    #[arg(long, value_name = "N", help_heading = "Operations")]
    pub max_passive_listeners: Option<String>,
    /// Memory for directory listings kept between sessions, MiB (a kept listing is
    /// dropped at the first change to its directory); 0 = off [default: 32]
    #[arg(long, value_name = "MIB", help_heading = "Operations")]
    pub listing_cache_mib: Option<String>,
    /// Seconds a client has from the greeting to a successful login [default: 60]
    #[arg(long, value_name = "SECS", help_heading = "Operations")]
    pub login_timeout: Option<String>,
    /// Failed logins from one address within --ban-window that ban it; 0 = never ban [default: 10]
    #[arg(long, value_name = "N", help_heading = "Operations")]
    pub ban_after: Option<String>,
    /// Seconds over which failed logins are counted [default: 600]
    #[arg(long, value_name = "SECS", help_heading = "Operations")]
    pub ban_window: Option<String>,
    /// Seconds a ban lasts [default: 900]
    #[arg(long, value_name = "SECS", help_heading = "Operations")]
    pub ban_time: Option<String>,
    /// Ban the user name too (refused from every address while banned)
    #[arg(long, help_heading = "Operations")]
    pub ban_user_names: bool,
    /// Seconds before answering a failed login; doubles with each failure of the session, up to 8 times this; 0 = no delay [default: 1]
    #[arg(long, value_name = "SECS", help_heading = "Operations")]
    pub login_fail_delay: Option<String>,
    /// Network never banned nor delayed, CIDR or address (repeatable)
    #[arg(long, value_name = "CIDR", help_heading = "Operations")]
    pub ban_exempt: Vec<String>,
    /// Only these networks may connect, CIDR or address (repeatable) [default: all]
    #[arg(long, value_name = "CIDR", help_heading = "Operations")]
    pub allow: Vec<String>,
    /// These networks may never connect, CIDR or address (repeatable)
    #[arg(long, value_name = "CIDR", help_heading = "Operations")]
    pub deny: Vec<String>,
    /// Bandwidth of all uploads together, bytes per second (suffixes K, M, G; KiB, MiB, GiB) [default: unlimited]
    #[arg(long, value_name = "RATE", help_heading = "Operations")]
    pub upload_rate: Option<String>,
    /// Bandwidth of all downloads together, bytes per second (suffixes as --upload-rate) [default: unlimited]
    #[arg(long, value_name = "RATE", help_heading = "Operations")]
    pub download_rate: Option<String>,
    /// Proxy (HAProxy...) address or CIDR whose connections start with a PROXY protocol v1/v2 header (repeatable)
    #[arg(long, value_name = "CIDR", help_heading = "Operations")]
    pub proxy_protocol_from: Vec<String>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics
    #[arg(long, value_name = "ADDR:PORT", help_heading = "Operations")]
    pub metrics_listen: Option<String>,
    /// Transfer log in the wu-ftpd xferlog format
    #[arg(long, value_name = "FILE", help_heading = "Operations")]
    pub xferlog: Option<PathBuf>,
    /// JSON audit log (logins, file changes, transfers, bans), one object per line
    #[arg(long, value_name = "FILE", help_heading = "Operations")]
    pub audit_log: Option<PathBuf>,
    /// After binding the listen addresses as root, switch to this unprivileged user
    #[arg(long, value_name = "USER", help_heading = "Operations")]
    pub run_as: Option<String>,
    /// Check the configuration (and the users file) and exit: 0 when it is valid, 2 with
    /// every problem otherwise; nothing is started and no file or directory is created
    #[arg(long, help_heading = "Operations")]
    pub check_config: bool,
}

/// A `--user` value as typed. It holds a password, so its `Debug` output is redacted and it
/// is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct UserArg(String);

impl UserArg {
    /// Wraps the raw text `NAME:PASSWORD[:ro|rw]`.
    pub fn new(raw: impl Into<String>) -> UserArg {
        UserArg(raw.into())
    }

    /// The raw text, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserArg(<redacted>)")
    }
}

impl FromStr for UserArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(UserArg(s.to_string()))
    }
}

/// `ferry user ...`: edit a users file.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account. The password is read from the terminal (twice), or as one line from
    /// standard input when it is not a terminal (`echo secret | ferry user add alice ...`).
    Add(UserAddArgs),
    /// Change an account's password (read like for `add`).
    Passwd(UserPasswdArgs),
    /// Delete an account.
    Del(UserNameArgs),
    /// List the accounts: name, access and home (never the password hashes).
    List(UserFileArgs),
}

/// The users file flag shared by the `user` subcommands.
#[derive(Debug, Args)]
pub struct UserFileArgs {
    /// The users file (TOML)
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,
}

/// `ferry user del`.
#[derive(Debug, Args)]
pub struct UserNameArgs {
    /// User name
    pub name: String,
    /// The users file.
    #[command(flatten)]
    pub file: UserFileArgs,
}

/// How to read a password.
#[derive(Debug, Args)]
pub struct PasswordSource {
    /// Read the password as one line from standard input, even from a terminal
    #[arg(long)]
    pub password_stdin: bool,
}

/// `ferry user add`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// User name
    pub name: String,
    /// The users file.
    #[command(flatten)]
    pub file: UserFileArgs,
    /// The account's home directory, relative to the current directory [default: the
    /// server's root]
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Read-only access (list and download)
    #[arg(long, conflicts_with = "rw")]
    pub ro: bool,
    /// Read-write access (the default)
    #[arg(long)]
    pub rw: bool,
    /// Password input.
    #[command(flatten)]
    pub password: PasswordSource,
}

/// `ferry user passwd`.
#[derive(Debug, Args)]
pub struct UserPasswdArgs {
    /// User name
    pub name: String,
    /// The users file.
    #[command(flatten)]
    pub file: UserFileArgs,
    /// Password input.
    #[command(flatten)]
    pub password: PasswordSource,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn user_arg_debug_is_redacted() {
        let cli = Cli::try_parse_from(["ferry", "serve", "--user", "alice:hunter2:ro"]);
        let text = format!("{cli:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}
