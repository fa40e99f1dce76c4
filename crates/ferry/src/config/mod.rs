//! Configuration of `ferry serve`, in two steps.
//!
//! 1. **Raw**: [`RawServe`] holds what was written, every field optional and tagged with
//!    its [`Origin`] (a flag, or a line and column of the config file). The file is read by
//!    [`mod@file`], the flags come from [`crate::cli::ServeArgs`]; [`RawServe::overlay`] lets
//!    the command line override the file.
//! 2. **Validated**: [`validate_with`] turns the raw values into a [`ServeSettings`] (socket
//!    addresses, a port range, durations, a canonical root, parsed accounts), collecting
//!    every problem instead of stopping at the first, so that one run shows them all.
//!
//! Values that hold passwords (`--user`) are never echoed in messages nor in `Debug`.

pub(crate) mod file;
pub(crate) mod ops;
pub(crate) mod tls;
pub(crate) mod vhost;

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_proto::Password;
use ferry_storage::Access;

use crate::cli::{ServeArgs, UserArg};
use ferry_storage::users::{validate_name, AnonymousMode, UsersFile};

pub use self::ops::OpsSettings;
pub use self::tls::{TlsMode, TlsSettings};
pub use self::vhost::{RawVhost, VhostSettings};

/// Longest timeout accepted, in seconds (a week).
const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
/// Longest greeting accepted, in bytes.
const MAX_GREETING_BYTES: usize = 512;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Ferry's built-in default.
    Default,
    /// A command-line flag, e.g. `--listen`.
    Flag(&'static str),
    /// An environment variable, e.g. `RUST_LOG`.
    Env(&'static str),
    /// A place in the config file.
    File {
        /// The file, as named on the command line.
        path: Arc<Path>,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The key, when the problem belongs to one.
        key: Option<String>,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Flag(flag) => f.write_str(flag),
            Origin::Env(var) => f.write_str(var),
            Origin::File {
                path,
                line,
                column,
                key,
            } => {
                write!(f, "{}:{line}:{column}", path.display())?;
                match key {
                    Some(key) => write!(f, ": {key}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The value as written.
    pub value: T,
    /// Its origin, for messages.
    pub origin: Origin,
}

impl<T> Located<T> {
    fn flag(flag: &'static str, value: T) -> Located<T> {
        Located {
            value,
            origin: Origin::Flag(flag),
        }
    }
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where.
    pub origin: Origin,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// A problem at `origin`.
    pub fn new(origin: Origin, message: impl Into<String>) -> ConfigError {
        ConfigError {
            origin,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

/// Every problem of a configuration (never empty). `main` exits with code 2 on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The raw configuration: everything optional, everything located.
#[derive(Debug, Default, Clone)]
pub struct RawServe {
    /// `listen`.
    pub listen: Option<Vec<Located<String>>>,
    /// `root`.
    pub root: Option<Located<PathBuf>>,
    /// `user` (holds passwords: `UserArg` redacts its `Debug`).
    pub user: Option<Vec<Located<UserArg>>>,
    /// `users_file`.
    pub users_file: Option<Located<PathBuf>>,
    /// `anonymous`.
    pub anonymous: Option<Located<String>>,
    /// `passive_ports`.
    pub passive_ports: Option<Located<String>>,
    /// `public_host`.
    pub public_host: Option<Located<String>>,
    /// `log_format`.
    pub log_format: Option<Located<String>>,
    /// `log_level`.
    pub log_level: Option<Located<String>>,
    /// `idle_timeout`, in seconds.
    pub idle_timeout: Option<Located<String>>,
    /// `data_timeout`, in seconds.
    pub data_timeout: Option<Located<String>>,
    /// `shutdown_grace`, in seconds.
    pub shutdown_grace: Option<Located<String>>,
    /// `greeting`.
    pub greeting: Option<Located<String>>,
    /// `tls`: off, optional or required.
    pub tls: Option<Located<String>>,
    /// `tls_anonymous`: exempt or required.
    pub tls_anonymous: Option<Located<String>>,
    /// `tls_data`: optional or required.
    pub tls_data: Option<Located<String>>,
    /// `allow_ccc`.
    pub allow_ccc: Option<Located<bool>>,
    /// `cert`.
    pub cert: Option<Located<PathBuf>>,
    /// `key`.
    pub key: Option<Located<PathBuf>>,
    /// `state_dir`.
    pub state_dir: Option<Located<PathBuf>>,
    /// `implicit_listen`.
    pub implicit_listen: Option<Vec<Located<String>>>,
    /// `tls_session_reuse`: off, accept or require.
    pub tls_session_reuse: Option<Located<String>>,
    /// `client_ca`.
    pub client_ca: Option<Located<PathBuf>>,
    /// `client_cert`: off, request or require.
    pub client_cert: Option<Located<String>>,
    /// `client_cert_user`: `USER:SUBJECT` entries.
    pub client_cert_user: Option<Vec<Located<String>>>,
    /// `anonymous_incoming`.
    pub anonymous_incoming: Option<Located<String>>,
    /// `max_sessions`.
    pub max_sessions: Option<Located<String>>,
    /// `max_sessions_per_ip`.
    pub max_sessions_per_ip: Option<Located<String>>,
    /// `max_sessions_per_user`.
    pub max_sessions_per_user: Option<Located<String>>,
    /// `max_logins_per_minute`.
    pub max_logins_per_minute: Option<Located<String>>,
    /// `max_bad_commands`.
    pub max_bad_commands: Option<Located<String>>,
    /// `max_line_length`.
    pub max_line_length: Option<Located<String>>,
    /// `max_passive_listeners`.
    pub max_passive_listeners: Option<Located<String>>,
    /// `listing_cache_mib`.
    pub listing_cache_mib: Option<Located<String>>,
    /// `login_timeout`.
    pub login_timeout: Option<Located<String>>,
    /// `ban_after`.
    pub ban_after: Option<Located<String>>,
    /// `ban_window`.
    pub ban_window: Option<Located<String>>,
    /// `ban_time`.
    pub ban_time: Option<Located<String>>,
    /// `ban_user_names`.
    pub ban_user_names: Option<Located<bool>>,
    /// `login_fail_delay`.
    pub login_fail_delay: Option<Located<String>>,
    /// `ban_exempt`.
    pub ban_exempt: Option<Vec<Located<String>>>,
    /// `allow`.
    pub allow: Option<Vec<Located<String>>>,
    /// `deny`.
    pub deny: Option<Vec<Located<String>>>,
    /// `upload_rate`.
    pub upload_rate: Option<Located<String>>,
    /// `download_rate`.
    pub download_rate: Option<Located<String>>,
    /// `proxy_protocol_from`.
    pub proxy_protocol_from: Option<Vec<Located<String>>>,
    /// `metrics_listen`.
    pub metrics_listen: Option<Located<String>>,
    /// `xferlog`.
    pub xferlog: Option<Located<PathBuf>>,
    /// `audit_log`.
    pub audit_log: Option<Located<PathBuf>>,
    /// `run_as`.
    pub run_as: Option<Located<String>>,
    /// `[[vhost]]` tables (config file only).
    pub vhost: Option<Vec<RawVhost>>,
}

impl RawServe {
    /// The values given as flags.
    pub fn from_args(args: &ServeArgs) -> RawServe {
        fn list<T: Clone>(flag: &'static str, values: &[T]) -> Option<Vec<Located<T>>> {
            (!values.is_empty()).then(|| {
                values
                    .iter()
                    .map(|v| Located::flag(flag, v.clone()))
                    .collect()
            })
        }
        fn one<T: Clone>(flag: &'static str, value: &Option<T>) -> Option<Located<T>> {
            value.as_ref().map(|v| Located::flag(flag, v.clone()))
        }
        RawServe {
            listen: list("--listen", &args.listen),
            root: one("--root", &args.root),
            user: list("--user", &args.user),
            users_file: one("--users-file", &args.users_file),
            anonymous: one("--anonymous", &args.anonymous),
            passive_ports: one("--passive-ports", &args.passive_ports),
            public_host: one("--public-host", &args.public_host),
            log_format: one("--log-format", &args.log_format),
            log_level: one("--log-level", &args.log_level),
            idle_timeout: one("--idle-timeout", &args.idle_timeout),
            data_timeout: one("--data-timeout", &args.data_timeout),
            shutdown_grace: one("--shutdown-grace", &args.shutdown_grace),
            greeting: one("--greeting", &args.greeting),
            tls: one("--tls", &args.tls),
            tls_anonymous: one("--tls-anonymous", &args.tls_anonymous),
            tls_data: one("--tls-data", &args.tls_data),
            // A flag can only say yes; the file may say `allow_ccc = false`.
            allow_ccc: args.allow_ccc.then(|| Located::flag("--allow-ccc", true)),
            cert: one("--cert", &args.cert),
            key: one("--key", &args.key),
            state_dir: one("--state-dir", &args.state_dir),
            implicit_listen: list("--implicit-listen", &args.implicit_listen),
            tls_session_reuse: one("--tls-session-reuse", &args.tls_session_reuse),
            client_ca: one("--client-ca", &args.client_ca),
            client_cert: one("--client-cert", &args.client_cert),
            client_cert_user: list("--client-cert-user", &args.client_cert_user),
            anonymous_incoming: one("--anonymous-incoming", &args.anonymous_incoming),
            max_sessions: one("--max-sessions", &args.max_sessions),
            max_sessions_per_ip: one("--max-sessions-per-ip", &args.max_sessions_per_ip),
            max_sessions_per_user: one("--max-sessions-per-user", &args.max_sessions_per_user),
            max_logins_per_minute: one("--max-logins-per-minute", &args.max_logins_per_minute),
            max_bad_commands: one("--max-bad-commands", &args.max_bad_commands),
            max_line_length: one("--max-line-length", &args.max_line_length),
            max_passive_listeners: one("--max-passive-listeners", &args.max_passive_listeners),
            listing_cache_mib: one("--listing-cache-mib", &args.listing_cache_mib),
            login_timeout: one("--login-timeout", &args.login_timeout),
            ban_after: one("--ban-after", &args.ban_after),
            ban_window: one("--ban-window", &args.ban_window),
            ban_time: one("--ban-time", &args.ban_time),
            ban_user_names: args
                .ban_user_names
                .then(|| Located::flag("--ban-user-names", true)),
            login_fail_delay: one("--login-fail-delay", &args.login_fail_delay),
            ban_exempt: list("--ban-exempt", &args.ban_exempt),
            allow: list("--allow", &args.allow),
            deny: list("--deny", &args.deny),
            upload_rate: one("--upload-rate", &args.upload_rate),
            download_rate: one("--download-rate", &args.download_rate),
            proxy_protocol_from: list("--proxy-protocol-from", &args.proxy_protocol_from),
            metrics_listen: one("--metrics-listen", &args.metrics_listen),
            xferlog: one("--xferlog", &args.xferlog),
            audit_log: one("--audit-log", &args.audit_log),
            run_as: one("--run-as", &args.run_as),
            vhost: None,
        }
    }

    /// `self` with every value set in `over` replaced by it (lists are replaced whole).
    pub fn overlay(self, over: RawServe) -> RawServe {
        RawServe {
            listen: over.listen.or(self.listen),
            root: over.root.or(self.root),
            user: over.user.or(self.user),
            users_file: over.users_file.or(self.users_file),
            anonymous: over.anonymous.or(self.anonymous),
            passive_ports: over.passive_ports.or(self.passive_ports),
            public_host: over.public_host.or(self.public_host),
            log_format: over.log_format.or(self.log_format),
            log_level: over.log_level.or(self.log_level),
            idle_timeout: over.idle_timeout.or(self.idle_timeout),
            data_timeout: over.data_timeout.or(self.data_timeout),
            shutdown_grace: over.shutdown_grace.or(self.shutdown_grace),
            greeting: over.greeting.or(self.greeting),
            tls: over.tls.or(self.tls),
            tls_anonymous: over.tls_anonymous.or(self.tls_anonymous),
            tls_data: over.tls_data.or(self.tls_data),
            allow_ccc: over.allow_ccc.or(self.allow_ccc),
            cert: over.cert.or(self.cert),
            key: over.key.or(self.key),
            state_dir: over.state_dir.or(self.state_dir),
            implicit_listen: over.implicit_listen.or(self.implicit_listen),
            tls_session_reuse: over.tls_session_reuse.or(self.tls_session_reuse),
            client_ca: over.client_ca.or(self.client_ca),
            client_cert: over.client_cert.or(self.client_cert),
            client_cert_user: over.client_cert_user.or(self.client_cert_user),
            anonymous_incoming: over.anonymous_incoming.or(self.anonymous_incoming),
            max_sessions: over.max_sessions.or(self.max_sessions),
            max_sessions_per_ip: over.max_sessions_per_ip.or(self.max_sessions_per_ip),
            max_sessions_per_user: over.max_sessions_per_user.or(self.max_sessions_per_user),
            max_logins_per_minute: over.max_logins_per_minute.or(self.max_logins_per_minute),
            max_bad_commands: over.max_bad_commands.or(self.max_bad_commands),
            max_line_length: over.max_line_length.or(self.max_line_length),
            max_passive_listeners: over.max_passive_listeners.or(self.max_passive_listeners),
            listing_cache_mib: over.listing_cache_mib.or(self.listing_cache_mib),
            login_timeout: over.login_timeout.or(self.login_timeout),
            ban_after: over.ban_after.or(self.ban_after),
            ban_window: over.ban_window.or(self.ban_window),
            ban_time: over.ban_time.or(self.ban_time),
            ban_user_names: over.ban_user_names.or(self.ban_user_names),
            login_fail_delay: over.login_fail_delay.or(self.login_fail_delay),
            ban_exempt: over.ban_exempt.or(self.ban_exempt),
            allow: over.allow.or(self.allow),
            deny: over.deny.or(self.deny),
            upload_rate: over.upload_rate.or(self.upload_rate),
            download_rate: over.download_rate.or(self.download_rate),
            proxy_protocol_from: over.proxy_protocol_from.or(self.proxy_protocol_from),
            metrics_listen: over.metrics_listen.or(self.metrics_listen),
            xferlog: over.xferlog.or(self.xferlog),
            audit_log: over.audit_log.or(self.audit_log),
            run_as: over.run_as.or(self.run_as),
            vhost: over.vhost.or(self.vhost),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Validated logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// An `EnvFilter` directive known to parse.
    pub filter: String,
}

/// An account given with `--user` (or `user = [...]`).
#[derive(Debug, Clone)]
pub struct CliUser {
    /// User name.
    pub name: String,
    /// Password (redacted in `Debug`).
    pub password: Password,
    /// Access level.
    pub access: Access,
}

/// The validated configuration of `ferry serve`.
pub struct ServeSettings {
    /// Control listen addresses (at least one).
    pub listen: Vec<SocketAddr>,
    /// Canonical root directory; it exists.
    pub root: PathBuf,
    /// Accounts from `--user`.
    pub users: Vec<CliUser>,
    /// The users file, loaded, with its path.
    pub users_file: Option<(PathBuf, UsersFile)>,
    /// Anonymous access in force.
    pub anonymous: AnonymousMode,
    /// Passive port range.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Address to announce in PASV replies.
    pub public_host: Option<IpAddr>,
    /// Logging.
    pub log: LogSettings,
    /// Idle timeout, when set.
    pub idle_timeout: Option<Duration>,
    /// Data timeout, when set.
    pub data_timeout: Option<Duration>,
    /// Shutdown grace, when set.
    pub shutdown_grace: Option<Duration>,
    /// Greeting text, when set.
    pub greeting: Option<String>,
    /// FTPS.
    pub tls: TlsSettings,
    /// Limits, bans, logs, metrics, PROXY protocol, privilege drop.
    pub ops: OpsSettings,
    /// Virtual hosts (RFC 7151), chosen with HOST or the TLS server name; the top-level
    /// settings are the default host.
    pub vhosts: Vec<VhostSettings>,
}

impl fmt::Debug for ServeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeSettings")
            .field("listen", &self.listen)
            .field("root", &self.root)
            .field("users", &self.users)
            .field(
                "users_file",
                &self
                    .users_file
                    .as_ref()
                    .map(|(p, file)| (p, file.users.len())),
            )
            .field("anonymous", &self.anonymous)
            .field("passive_ports", &self.passive_ports)
            .field("public_host", &self.public_host)
            .field("log", &self.log)
            .field("idle_timeout", &self.idle_timeout)
            .field("data_timeout", &self.data_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("greeting", &self.greeting)
            .field("tls", &self.tls)
            .field("ops", &self.ops)
            .field("vhosts", &self.vhosts)
            .finish()
    }
}

impl ServeSettings {
    /// Names of every configured account (command line first, then the users file).
    pub fn user_names(&self) -> impl Iterator<Item = &str> {
        let file_users = self.users_file.iter().flat_map(|(_, f)| f.users.iter());
        self.users
            .iter()
            .map(|u| u.name.as_str())
            .chain(file_users.map(|u| u.name.as_str()))
    }
}

/// What validation may do on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisk {
    /// Create the root directory when it is missing (a real start).
    Create,
    /// Create nothing (`--check-config`): a missing root is accepted when it could be
    /// created, and [`ServeSettings::root`] is then its absolute, not yet existing, path.
    CheckOnly,
}

/// Reads the config file named by `args` (if any), lets the flags override it, and
/// validates the result. `rust_log` is the value of `RUST_LOG`.
pub fn load(args: &ServeArgs, rust_log: Option<String>) -> Result<ServeSettings, ConfigErrors> {
    load_with(args, rust_log, OnDisk::Create)
}

/// [`load`], creating the root directory or not as `on_disk` says.
pub fn load_with(
    args: &ServeArgs,
    rust_log: Option<String>,
    on_disk: OnDisk,
) -> Result<ServeSettings, ConfigErrors> {
    let (file_raw, file_errors) = match &args.config {
        Some(path) => file::load(path),
        None => (RawServe::default(), Vec::new()),
    };
    let raw = file_raw.overlay(RawServe::from_args(args));
    validate_with(raw, rust_log, file_errors, on_disk)
}

/// Validates `raw`, adding its problems to `errors` (problems found earlier, e.g. while
/// reading the file); succeeds only when there are none at all.
#[cfg(test)]
pub fn validate(
    raw: RawServe,
    rust_log: Option<String>,
    errors: Vec<ConfigError>,
) -> Result<ServeSettings, ConfigErrors> {
    validate_with(raw, rust_log, errors, OnDisk::Create)
}

/// `validate`, creating the root directory or not as `on_disk` says.
pub fn validate_with(
    raw: RawServe,
    rust_log: Option<String>,
    mut errors: Vec<ConfigError>,
    on_disk: OnDisk,
) -> Result<ServeSettings, ConfigErrors> {
    let mut report = |origin: &Origin, message: String| {
        errors.push(ConfigError::new(origin.clone(), message));
    };

    let listen_raw = raw
        .listen
        .clone()
        .unwrap_or_else(|| vec![default("127.0.0.1:2121".to_string())]);
    let mut listen = Vec::new();
    for l in &listen_raw {
        match parse_listen(&l.value) {
            Ok(addr) => listen.push(addr),
            Err(m) => report(&l.origin, m),
        }
    }
    if listen_raw.is_empty() {
        // Only a config file can say `listen = []`.
        report(
            &Origin::Default,
            "listen: at least one address is needed".into(),
        );
    }

    let mut users = Vec::new();
    for (i, u) in raw.user.iter().flatten().enumerate() {
        match parse_user(u.value.expose()) {
            Ok(user) => {
                if users.iter().any(|o: &CliUser| o.name == user.name) {
                    report(&u.origin, format!("user `{}` is given twice", user.name));
                } else {
                    users.push(user);
                }
            }
            Err(m) => report(&u.origin, format!("entry {}: {m}", i + 1)),
        }
    }

    let mut users_file = None;
    if let Some(f) = &raw.users_file {
        match UsersFile::load(&f.value) {
            Ok(loaded) => {
                for entry in &loaded.users {
                    if users.iter().any(|u| u.name == entry.name) {
                        report(
                            &f.origin,
                            format!(
                                "user `{}` is defined both in {} and by `user`",
                                entry.name,
                                f.value.display()
                            ),
                        );
                    }
                }
                users_file = Some((f.value.clone(), loaded));
            }
            Err(e) => report(&f.origin, format!("cannot load the users file: {e}")),
        }
    }
    let file_has_users = users_file
        .as_ref()
        .is_some_and(|(_, f)| !f.users.is_empty());
    let has_users = !users.is_empty() || file_has_users;

    let anonymous = match &raw.anonymous {
        Some(a) => match a.value.parse::<AnonymousMode>() {
            Ok(mode) => {
                if mode == AnonymousMode::Off && !has_users && raw.users_file.is_none() {
                    report(
                        &a.origin,
                        "anonymous access is off and no user is configured: nobody could log \
                         in (add --user or --users-file)"
                            .into(),
                    );
                }
                mode
            }
            Err(_) => {
                report(
                    &a.origin,
                    format!("expected off, ro, upload-only or rw, found {:?}", a.value),
                );
                AnonymousMode::Off
            }
        },
        None if has_users => AnonymousMode::Off,
        None => AnonymousMode::ReadOnly,
    };

    let passive_ports = raw.passive_ports.as_ref().and_then(|p| {
        parse_port_range(&p.value)
            .map_err(|m| report(&p.origin, m))
            .ok()
    });

    let public_host = raw.public_host.as_ref().and_then(|h| {
        resolve_host(&h.value)
            .map_err(|m| report(&h.origin, m))
            .ok()
    });

    let format = match raw.log_format.as_ref().map(|l| (l.value.as_str(), l)) {
        None | Some(("human", _)) => LogFormat::Human,
        Some(("json", _)) => LogFormat::Json,
        Some((other, l)) => {
            report(
                &l.origin,
                format!("expected human or json, found {other:?}"),
            );
            LogFormat::Human
        }
    };
    let rust_log = rust_log
        .filter(|v| !v.trim().is_empty())
        .map(|value| Located {
            value,
            origin: Origin::Env("RUST_LOG"),
        });
    // Precedence: the flag, then RUST_LOG, then the config file, then `info`.
    let level = match raw.log_level.clone() {
        Some(l) if matches!(l.origin, Origin::Flag(_)) => l,
        file_level => rust_log
            .or(file_level)
            .unwrap_or_else(|| default("info".to_string())),
    };
    if let Err(m) = check_log_filter(&level.value) {
        report(&level.origin, m);
    }
    let log = LogSettings {
        format,
        filter: level.value,
    };

    let mut seconds = |value: &Option<Located<String>>, min: u64| {
        value.as_ref().and_then(|v| {
            parse_seconds(&v.value, min)
                .map_err(|m| report(&v.origin, m))
                .ok()
        })
    };
    let idle_timeout = seconds(&raw.idle_timeout, 1);
    let data_timeout = seconds(&raw.data_timeout, 1);
    let shutdown_grace = seconds(&raw.shutdown_grace, 0);

    let greeting = raw.greeting.as_ref().and_then(|g| {
        check_greeting(&g.value)
            .map_err(|m| report(&g.origin, m))
            .ok()
    });

    let known_users = if raw.users_file.is_some() && users_file.is_none() {
        // The users file did not load: do not add "unknown user" noise to its error.
        None
    } else {
        let file_users = users_file.iter().flat_map(|(_, f)| f.users.iter());
        Some(
            users
                .iter()
                .map(|u| u.name.clone())
                .chain(file_users.map(|u| u.name.clone()))
                .collect::<Vec<_>>(),
        )
    };
    let tls = tls::validate(&raw, &listen, known_users.as_deref(), &mut errors);
    let ops = ops::validate(&raw, &mut errors);
    let vhosts = vhost::validate(
        raw.vhost.as_deref().unwrap_or_default(),
        tls.mode != TlsMode::Off,
        has_users || raw.users_file.is_some(),
        &mut errors,
    );

    let root_raw = raw
        .root
        .unwrap_or_else(|| default(PathBuf::from("ftp-root")));
    // Create the root only when everything else is right: a failed start leaves no trace.
    let create = errors.is_empty() && on_disk == OnDisk::Create;
    let root = match prepare_root(&root_raw.value, create) {
        Ok(None) if on_disk == OnDisk::CheckOnly => match creatable_dir(&root_raw.value) {
            Ok(path) => Some(path),
            Err(m) => {
                errors.push(ConfigError::new(root_raw.origin.clone(), m));
                None
            }
        },
        Ok(root) => root,
        Err(m) => {
            errors.push(ConfigError::new(root_raw.origin.clone(), m));
            None
        }
    };
    let vhosts = vhost::prepare_roots(vhosts, create, on_disk, &mut errors);

    match root {
        Some(root) if errors.is_empty() => Ok(ServeSettings {
            listen,
            root,
            users,
            users_file,
            anonymous,
            passive_ports,
            public_host,
            log,
            idle_timeout,
            data_timeout,
            shutdown_grace,
            greeting,
            tls,
            ops,
            vhosts,
        }),
        _ => Err(ConfigErrors(errors)),
    }
}

fn default<T>(value: T) -> Located<T> {
    Located {
        value,
        origin: Origin::Default,
    }
}

/// `ADDR:PORT`, IPv6 in brackets.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse::<SocketAddr>().map_err(|_| {
        format!("{s:?} is not an ADDR:PORT socket address (e.g. 127.0.0.1:2121 or [::1]:2121)")
    })
}

/// `NAME:PASSWORD[:ro|rw]`: the password may contain ':', a trailing `:ro`/`:rw` is the
/// access level (default rw). Messages never contain the password.
pub fn parse_user(s: &str) -> Result<CliUser, String> {
    let Some((name, rest)) = s.split_once(':') else {
        return Err("expected NAME:PASSWORD[:ro|rw]".into());
    };
    let (password, access) = if let Some(p) = rest.strip_suffix(":ro") {
        (p, Access::ReadOnly)
    } else if let Some(p) = rest.strip_suffix(":rw") {
        (p, Access::ReadWrite)
    } else {
        (rest, Access::ReadWrite)
    };
    check_user_name(name)?;
    if password.is_empty() {
        return Err(format!("user `{name}`: the password is empty"));
    }
    Ok(CliUser {
        name: name.to_string(),
        password: Password::new(password),
        access,
    })
}

/// A user name as the users file accepts it (see `ferry_storage::users`).
pub fn check_user_name(name: &str) -> Result<(), String> {
    validate_name(name).map_err(|e| e.to_string())
}

/// `MIN-MAX` with 1024 <= MIN <= MAX <= 65535.
pub fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let Some((min, max)) = s.split_once('-') else {
        return Err(format!("expected MIN-MAX (e.g. 30000-30100), found {s:?}"));
    };
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("{:?} is not a port number (0-65535)", p.trim()))
    };
    let (min, max) = (port(min)?, port(max)?);
    if min < 1024 {
        return Err(format!(
            "the lowest passive port must be at least 1024, found {min}"
        ));
    }
    if min > max {
        return Err(format!("the range {min}-{max} is empty (MIN > MAX)"));
    }
    Ok(min..=max)
}

/// An IP address, or a host name resolved now (IPv4 preferred, as PASV can only announce
/// IPv4).
pub fn resolve_host(s: &str) -> Result<IpAddr, String> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        if ip.is_unspecified() {
            return Err(format!("{ip} is not an address clients can connect to"));
        }
        return Ok(ip);
    }
    if s.is_empty() {
        return Err("the host is empty".into());
    }
    let addrs: Vec<IpAddr> = (s, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {s:?}: {e}"))?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

/// A whole number of seconds in `min..=MAX_TIMEOUT_SECS`.
pub fn parse_seconds(s: &str, min: u64) -> Result<Duration, String> {
    let n = s
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("expected a whole number of seconds, found {s:?}"))?;
    if n < min || n > MAX_TIMEOUT_SECS {
        return Err(format!(
            "{n} s is out of range ({min} to {MAX_TIMEOUT_SECS} seconds)"
        ));
    }
    Ok(Duration::from_secs(n))
}

fn check_greeting(s: &str) -> Result<String, String> {
    if s.len() > MAX_GREETING_BYTES {
        return Err(format!(
            "the greeting is longer than {MAX_GREETING_BYTES} bytes"
        ));
    }
    if s.chars().any(char::is_control) {
        return Err("the greeting must be one line without control characters".into());
    }
    Ok(s.to_string())
}

fn check_log_filter(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("the log filter is empty".into());
    }
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| ())
        .map_err(|e| format!("invalid log filter {s:?}: {e}"))
}

/// Canonical path of the root directory, creating it first when `create` is set. `Ok(None)`
/// when it does not exist and was not created.
fn prepare_root(root: &Path, create: bool) -> Result<Option<PathBuf>, String> {
    if create {
        std::fs::create_dir_all(root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    } else if !root.exists() {
        return Ok(None);
    }
    let canonical = root
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", root.display()))?;
    if !canonical.is_dir() {
        return Err(format!("{} is not a directory", canonical.display()));
    }
    Ok(Some(canonical))
}

/// The absolute form of `dir`, which does not exist, when it could be created: its nearest
/// existing ancestor is a directory. Creates nothing.
fn creatable_dir(dir: &Path) -> Result<PathBuf, String> {
    let absolute =
        std::path::absolute(dir).map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
    match absolute.ancestors().skip(1).find(|a| a.exists()) {
        Some(parent) if parent.is_dir() => Ok(absolute),
        Some(parent) => Err(format!(
            "{} cannot be created: {} is not a directory",
            absolute.display(),
            parent.display()
        )),
        None => Err(format!("{} cannot be created", absolute.display())),
    }
}

#[cfg(test)]
mod tests;
