//! Exit codes of the client commands (curl-like), in one table used by `--help` and by the
//! code that picks the code of an error.

use std::fmt;

use ferry_client::ClientError;

/// Why a client command failed, as a process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: anything else.
    Generic,
    /// 2: bad command line.
    Usage,
    /// 6: the host name did not resolve.
    Resolve,
    /// 7: no connection to the server (refused, unreachable, closed before the greeting).
    Connect,
    /// 9: the server denied access to a path (550 and friends outside downloads).
    AccessDenied,
    /// 10: login failed (530 on USER/PASS).
    Login,
    /// 18: a transfer stopped before its end.
    Partial,
    /// 25: the server refused an upload.
    Upload,
    /// 28: a timeout.
    Timeout,
    /// 35: the TLS handshake failed.
    Tls,
    /// 60: the server's certificate is not trusted or changed.
    Certificate,
    /// 78: the remote file does not exist.
    NotFound,
}

/// Every exit code: (variant, code, meaning). The single source for help and code.
pub const TABLE: &[(Exit, u8, &str)] = &[
    (
        Exit::Generic,
        1,
        "generic error (local I/O, protocol error, ...)",
    ),
    (
        Exit::Usage,
        2,
        "usage error (bad flag, bad URL, no password without a terminal)",
    ),
    (Exit::Resolve, 6, "could not resolve the host name"),
    (Exit::Connect, 7, "could not connect to the server"),
    (
        Exit::AccessDenied,
        9,
        "remote access denied (e.g. 550 on a path)",
    ),
    (Exit::Login, 10, "login failed (530)"),
    (
        Exit::Partial,
        18,
        "partial transfer (the connection broke mid-way; retry with -c)",
    ),
    (Exit::Upload, 25, "upload refused by the server"),
    (Exit::Timeout, 28, "operation timed out"),
    (Exit::Tls, 35, "TLS handshake failed"),
    (
        Exit::Certificate,
        60,
        "server certificate not trusted, or changed since first use",
    ),
    (Exit::NotFound, 78, "remote file not found"),
];

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        TABLE
            .iter()
            .find(|(e, _, _)| *e == self)
            .map_or(1, |(_, c, _)| *c)
    }
}

/// The `Exit codes:` section of the client commands' help.
pub fn help() -> String {
    let mut s = String::from("Exit codes:\n   0  success\n");
    for (_, code, meaning) in TABLE {
        s.push_str(&format!("  {code:>2}  {meaning}\n"));
    }
    s.pop();
    s
}

/// What was being done when an error happened (it decides between e.g. 78 and 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Resolving, connecting, TLS, greeting and login.
    Connect,
    /// Downloading or looking up a file to download.
    Download,
    /// Uploading.
    Upload,
    /// Anything else (listing, directory commands).
    Other,
}

/// A failed client command: the message and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What failed (no secrets).
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// A failure with a given code.
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }

    /// A client error during `stage`, described as `what: error`.
    pub fn client(err: &ClientError, stage: Stage, what: &str) -> Failure {
        Failure::new(classify(err, stage), format!("{what}: {err}"))
    }
}

/// Whether a TLS error text is about the certificate (not trusted, wrong name, expired).
fn is_certificate_problem(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("certificate") || t.contains("unknownissuer") || t.contains("not valid for name")
}

/// The exit code of a client error met during `stage`.
pub fn classify(err: &ClientError, stage: Stage) -> Exit {
    match err {
        ClientError::LoginFailed(_) => Exit::Login,
        ClientError::CertificateChanged { .. } => Exit::Certificate,
        ClientError::Tls(text) if is_certificate_problem(text) => Exit::Certificate,
        ClientError::Tls(_) => Exit::Tls,
        ClientError::Timeout(_) => Exit::Timeout,
        ClientError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => Exit::Timeout,
        ClientError::Io(e) if is_certificate_problem(&e.to_string()) => Exit::Certificate,
        ClientError::Io(_) if stage == Stage::Connect => Exit::Connect,
        ClientError::Io(_) if matches!(stage, Stage::Download | Stage::Upload) => Exit::Partial,
        ClientError::Rejected { reply, .. } => {
            let code = reply.code.get();
            match (code, stage) {
                (530, _) => Exit::Login,
                (421, Stage::Connect) => Exit::Connect,
                (426, Stage::Download | Stage::Upload) => Exit::Partial,
                (_, Stage::Upload) if code >= 400 => Exit::Upload,
                (550, Stage::Download) => Exit::NotFound,
                (450 | 550 | 553, _) => Exit::AccessDenied,
                _ => Exit::Generic,
            }
        }
        ClientError::Protocol(_) if stage == Stage::Connect => Exit::Connect,
        _ => Exit::Generic,
    }
}

/// The exit code of an error of a client command, if it is one (`None`: not a client
/// error, let the caller decide).
pub fn code_of(err: &anyhow::Error) -> Option<u8> {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return Some(f.exit.code());
        }
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return Some(classify(c, Stage::Other).code());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_proto::Reply;

    fn rejected(code: u16) -> ClientError {
        ClientError::Rejected {
            command: "RETR x".into(),
            reply: Reply::new(code, "no"),
        }
    }

    #[test]
    fn table_is_complete_and_unique() {
        let mut codes: Vec<u8> = TABLE.iter().map(|(_, c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len());
        assert_eq!(Exit::NotFound.code(), 78);
        assert_eq!(Exit::Login.code(), 10);
        let h = help();
        for needle in [
            "0  success",
            "78  remote file not found",
            " 7  could not connect",
        ] {
            assert!(h.contains(needle), "{h}");
        }
    }

    #[test]
    fn replies_by_stage() {
        assert_eq!(classify(&rejected(550), Stage::Download), Exit::NotFound);
        assert_eq!(classify(&rejected(550), Stage::Other), Exit::AccessDenied);
        assert_eq!(classify(&rejected(553), Stage::Upload), Exit::Upload);
        assert_eq!(classify(&rejected(550), Stage::Upload), Exit::Upload);
        assert_eq!(classify(&rejected(530), Stage::Other), Exit::Login);
        assert_eq!(classify(&rejected(426), Stage::Download), Exit::Partial);
        assert_eq!(classify(&rejected(500), Stage::Other), Exit::Generic);
        assert_eq!(
            classify(
                &ClientError::LoginFailed(Reply::new(530, "x")),
                Stage::Connect
            ),
            Exit::Login
        );
    }

    #[test]
    fn io_tls_and_timeouts() {
        let refused = ClientError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(classify(&refused, Stage::Connect), Exit::Connect);
        let reset = ClientError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(classify(&reset, Stage::Download), Exit::Partial);
        assert_eq!(
            classify(&ClientError::Timeout("data"), Stage::Download),
            Exit::Timeout
        );
        let untrusted = ClientError::Tls("invalid peer certificate: UnknownIssuer".into());
        assert_eq!(classify(&untrusted, Stage::Connect), Exit::Certificate);
        assert_eq!(
            classify(
                &ClientError::Tls("handshake failure".into()),
                Stage::Connect
            ),
            Exit::Tls
        );
        let changed = ClientError::CertificateChanged {
            host: "h:990".into(),
            stored: "a".into(),
            presented: "b".into(),
        };
        assert_eq!(classify(&changed, Stage::Connect), Exit::Certificate);
    }

    #[test]
    fn code_of_walks_the_chain() {
        let err = anyhow::Error::new(Failure::new(Exit::NotFound, "x")).context("outer");
        assert_eq!(code_of(&err), Some(78));
        assert_eq!(code_of(&anyhow::anyhow!("plain")), None);
    }
}
