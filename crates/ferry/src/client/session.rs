//! From a URL and the connection flags to a logged-in [`Client`]: credentials (URL, `-u`,
//! netrc, prompt, anonymous), TLS settings, host resolution (exit code 6), retries with
//! exponential backoff.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use ferry_client::{Client, ClientError, ConnectOptions, DataMode, Password, Security, TlsVerify};

use super::args::ConnArgs;
use super::exit::{Exit, Failure, Stage};
use super::netrc::Netrc;
use super::url::{FtpUrl, Scheme};

/// The password sent for anonymous logins.
const ANONYMOUS_PASSWORD: &str = "anonymous@";
/// The first retry waits this long; each further one twice as long, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(16);

/// Everything needed to open (and reopen) connections to one server.
#[derive(Debug, Clone)]
pub struct Session {
    /// The options handed to [`Client::connect`] (the password inside is redacted in
    /// `Debug`).
    pub opts: ConnectOptions,
    /// How many times transient errors are retried.
    pub retries: u32,
    /// The server as shown in messages (`host:port`).
    pub display: String,
}

/// The user's home directory, from `HOME`.
fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The default known-hosts file of `--tofu`.
pub fn default_known_hosts() -> Option<PathBuf> {
    home().map(|h| h.join(".config").join("ferry").join("known_hosts"))
}

/// Asks for a password on the terminal, or fails clearly (exit code 2) without one.
pub fn prompt_password(user: &str, host: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "no password for {user} on {host}, and standard input is not a terminal to \
                 ask for one: give it in the URL, with -u USER:PASS or in the netrc file"
            ),
        )
        .into());
    }
    rpassword::prompt_password(format!("Password for {user}@{host}: "))
        .map_err(|e| anyhow::anyhow!("cannot read the password: {e}"))
}

/// The user, password and account to log in with, in order of precedence: the URL, `-u`,
/// the netrc file, anonymous. A user without password asks on the terminal.
pub fn credentials(
    url: &FtpUrl,
    conn: &ConnArgs,
) -> anyhow::Result<(String, Password, Option<String>)> {
    let netrc = match &conn.netrc_file {
        Some(path) => Some(Netrc::load(path)?),
        None => home()
            .map(|h| h.join(".netrc"))
            .filter(|p| p.is_file())
            .and_then(|p| Netrc::load(&p).ok()),
    };
    let entry = netrc.as_ref().and_then(|n| n.lookup(&url.host)).cloned();
    let (user, password) = if let Some(user) = &url.user {
        (
            user.clone(),
            url.password.as_ref().map(|p| p.expose().to_owned()),
        )
    } else if let Some(up) = &conn.user {
        (up.user.clone(), up.password.clone())
    } else if let Some(login) = entry.as_ref().and_then(|e| e.login.clone()) {
        (login, None)
    } else {
        ("anonymous".to_owned(), Some(ANONYMOUS_PASSWORD.to_owned()))
    };
    // A user without password: the netrc entry of the same login, else ask.
    let same_login = entry
        .as_ref()
        .filter(|e| e.login.as_deref().is_none_or(|l| l == user));
    let account = same_login.and_then(|e| e.account.clone());
    let password = match password {
        Some(p) => p,
        None => match same_login.and_then(|e| e.password.clone()) {
            Some(p) => p,
            None if user == "anonymous" || user == "ftp" => ANONYMOUS_PASSWORD.to_owned(),
            None => prompt_password(&user, &url.host)?,
        },
    };
    Ok((user, Password::new(password), account))
}

impl Session {
    /// Builds the session of `url`: credentials (possibly asking for the password), TLS
    /// and data-connection settings.
    pub fn new(url: &FtpUrl, conn: &ConnArgs) -> anyhow::Result<Session> {
        let (user, password, account) = credentials(url, conn)?;
        Session::with_credentials(url, conn, user, password, account)
    }

    /// Like [`Session::new`] with the credentials given.
    pub fn with_credentials(
        url: &FtpUrl,
        conn: &ConnArgs,
        user: String,
        password: Password,
        account: Option<String>,
    ) -> anyhow::Result<Session> {
        let mut opts = ConnectOptions::new(url.host.clone(), url.port);
        opts.security = match (url.scheme, conn.tls) {
            (Scheme::Ftps, _) => Security::Implicit,
            (Scheme::Ftp, true) => Security::Explicit,
            (Scheme::Ftp, false) => Security::None,
        };
        opts.tls_verify = if conn.insecure {
            TlsVerify::Insecure
        } else if let Some(ca) = &conn.cacert {
            TlsVerify::CaFile(ca.clone())
        } else if conn.tofu || conn.known_hosts.is_some() {
            let store = conn
                .known_hosts
                .clone()
                .or_else(default_known_hosts)
                .ok_or_else(|| {
                    Failure::new(Exit::Usage, "--tofu needs HOME or --known-hosts FILE")
                })?;
            if let Some(parent) = store.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
            }
            TlsVerify::TrustOnFirstUse { store }
        } else {
            TlsVerify::System
        };
        opts.user = user;
        opts.password = password;
        opts.account = account;
        opts.data_mode = if conn.active {
            DataMode::Active
        } else {
            DataMode::Passive
        };
        opts.connect_timeout = Duration::from_secs(conn.connect_timeout.max(1));
        opts.io_timeout = Duration::from_secs(conn.timeout.max(1));
        opts.keepalive = (conn.keepalive > 0).then(|| Duration::from_secs(conn.keepalive));
        Ok(Session {
            display: url.authority(),
            opts,
            retries: conn.retries,
        })
    }

    /// Connects and logs in, retrying transient failures (a `421` greeting, resets) with
    /// backoff.
    pub async fn connect(&self) -> Result<Client, Failure> {
        let mut attempt = 0;
        loop {
            match Client::connect(self.opts.clone()).await {
                Ok(c) => return Ok(c),
                Err(e) if attempt < self.retries && retryable_connect(&e) => {
                    attempt += 1;
                    tracing::warn!(
                        "{}: {e}; retrying ({attempt}/{})",
                        self.display,
                        self.retries
                    );
                    backoff(attempt).await;
                }
                Err(e) => {
                    // Tell a name that does not resolve (6) from a refused connection (7).
                    if matches!(e, ClientError::Io(_)) {
                        self.resolve_check().await?;
                    }
                    return Err(Failure::client(&e, Stage::Connect, &self.display));
                }
            }
        }
    }

    async fn resolve_check(&self) -> Result<(), Failure> {
        let target = (self.opts.host.as_str(), self.opts.port);
        match tokio::net::lookup_host(target).await.map(|mut a| a.next()) {
            Ok(Some(_)) => Ok(()),
            _ => Err(Failure::new(
                Exit::Resolve,
                format!("could not resolve host {}", self.opts.host),
            )),
        }
    }
}

/// Whether a connection attempt is worth repeating: transient replies and resets, but not
/// a refused connection or a login/TLS failure.
fn retryable_connect(e: &ClientError) -> bool {
    match e {
        ClientError::Io(io) => {
            !matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) && e.is_transient()
        }
        ClientError::LoginFailed(_)
        | ClientError::Tls(_)
        | ClientError::CertificateChanged { .. } => false,
        _ => e.is_transient(),
    }
}

/// Waits before attempt number `attempt` (1-based): 0.5 s, 1 s, 2 s, ... up to 16 s.
pub async fn backoff(attempt: u32) {
    tokio::time::sleep(backoff_delay(attempt)).await;
}

/// The delay before attempt number `attempt` (1-based).
pub fn backoff_delay(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(10);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnArgs {
        ConnArgs {
            netrc_file: Some(PathBuf::from("/nonexistent-ferry-netrc")),
            ..ConnArgs::default()
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_delay(1), Duration::from_millis(500));
        assert_eq!(backoff_delay(2), Duration::from_secs(1));
        assert_eq!(backoff_delay(3), Duration::from_secs(2));
        assert_eq!(backoff_delay(30), MAX_BACKOFF);
    }

    #[test]
    fn url_credentials_win() {
        let url = FtpUrl::parse("ftp://bob:pw@h/").unwrap();
        let mut c = conn();
        c.netrc_file = None;
        c.user = Some("carol:x".parse().unwrap());
        let (u, p, _) = credentials(&url, &c).unwrap();
        assert_eq!((u.as_str(), p.expose()), ("bob", "pw"));
    }

    #[test]
    fn anonymous_by_default_and_user_flag() {
        let url = FtpUrl::parse("ftp://h/").unwrap();
        let mut c = conn();
        c.netrc_file = None;
        let (u, p, _) = credentials(&url, &c).unwrap();
        assert_eq!(u, "anonymous");
        assert_eq!(p.expose(), ANONYMOUS_PASSWORD);
        c.user = Some("carol:x:y".parse().unwrap());
        let (u, p, _) = credentials(&url, &c).unwrap();
        assert_eq!((u.as_str(), p.expose()), ("carol", "x:y"));
    }

    #[test]
    fn netrc_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("netrc");
        std::fs::write(
            &file,
            "machine h login nick password npw account acc\ndefault login anonymous password me@\n",
        )
        .unwrap();
        let mut c = conn();
        c.netrc_file = Some(file);
        let url = FtpUrl::parse("ftp://h/").unwrap();
        let (u, p, a) = credentials(&url, &c).unwrap();
        assert_eq!(
            (u.as_str(), p.expose(), a.as_deref()),
            ("nick", "npw", Some("acc"))
        );
        // A URL user without password takes the netrc password of the same login.
        let url = FtpUrl::parse("ftp://nick@h/").unwrap();
        let (_, p, _) = credentials(&url, &c).unwrap();
        assert_eq!(p.expose(), "npw");
        // Another host: the default entry.
        let url = FtpUrl::parse("ftp://other/").unwrap();
        let (u, p, _) = credentials(&url, &c).unwrap();
        assert_eq!((u.as_str(), p.expose()), ("anonymous", "me@"));
    }

    #[test]
    fn tls_settings() {
        let url = FtpUrl::parse("ftps://h/").unwrap();
        let s =
            Session::with_credentials(&url, &conn(), "u".into(), Password::new("p"), None).unwrap();
        assert_eq!(s.opts.security, Security::Implicit);
        assert_eq!(s.opts.port, 990);
        let url = FtpUrl::parse("ftp://h/").unwrap();
        let mut c = conn();
        c.tls = true;
        c.cacert = Some(PathBuf::from("ca.pem"));
        c.active = true;
        let s = Session::with_credentials(&url, &c, "u".into(), Password::new("p"), None).unwrap();
        assert_eq!(s.opts.security, Security::Explicit);
        assert_eq!(
            s.opts.tls_verify,
            TlsVerify::CaFile(PathBuf::from("ca.pem"))
        );
        assert_eq!(s.opts.data_mode, DataMode::Active);
        assert!(!format!("{s:?}").contains("\"p\""));
    }
}
