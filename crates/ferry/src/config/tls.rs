//! FTPS settings of `ferry serve`: validation of the `tls*`, `cert`/`key`, `state_dir`,
//! `implicit_listen` and `client_*` keys, and construction of the [`TlsContext`].
//!
//! Validation only checks what is cheap and has no side effect (values, combinations, that
//! the named files exist); reading the PEM files, or generating the self-signed
//! certificate, is [`TlsMaterial::build`], called by `serve` once everything is valid. Its
//! file errors are still reported at the flag or config line that named the file.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ferry_server::tls::{CertSource, ClientAuth, TlsContext, TlsError, TlsOptions};
use ferry_server::{SessionReuse, TlsPolicy};

use super::{default, parse_listen, ConfigError, ConfigErrors, Located, Origin, RawServe};
use ferry_storage::users::validate_name;

/// Default state directory, relative to the current directory.
pub const DEFAULT_STATE_DIR: &str = "ferry-state";

/// `--tls`: whether FTPS is offered, and whether it is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS at all: FEAT lists no AUTH, `AUTH TLS` is refused.
    Off,
    /// TLS offered; clients may stay in cleartext.
    Optional,
    /// Password logins and their transfers need TLS.
    Required,
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::Off => "off",
            TlsMode::Optional => "optional",
            TlsMode::Required => "required",
        })
    }
}

/// Validated FTPS settings.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// `--tls` in force (explicit or the default for the listen addresses).
    pub mode: TlsMode,
    /// True when `mode` is the default, not written anywhere.
    pub mode_is_default: bool,
    /// Policy for the sessions; `available` is true unless `mode` is off.
    pub policy: TlsPolicy,
    /// Data-connection session reuse.
    pub session_reuse: SessionReuse,
    /// Implicit-FTPS listen addresses (empty when `mode` is off).
    pub implicit_listen: Vec<SocketAddr>,
    /// Certificates and client-certificate settings; `None` when `mode` is off.
    pub material: Option<TlsMaterial>,
}

/// What [`TlsContext::new`] needs, with the origin of every file for messages.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// Options for [`TlsContext::new`] (`keylog` is false: `serve` decides it from the
    /// environment).
    pub options: TlsOptions,
    /// Each file or directory named in `options`, with where it was named.
    origins: Vec<(PathBuf, Origin)>,
}

impl TlsMaterial {
    /// Loads the certificate (or generates the self-signed one) and builds the context.
    /// A problem with a named file is a [`ConfigErrors`] located where the file was named.
    pub fn build(&self, keylog: bool) -> anyhow::Result<TlsContext> {
        let options = TlsOptions {
            keylog,
            ..self.options.clone()
        };
        TlsContext::new(options).map_err(|e| self.locate(e))
    }

    /// The problem as a located configuration error when it concerns a file we were told
    /// about; otherwise a runtime error.
    pub fn locate(&self, e: TlsError) -> anyhow::Error {
        let path = match &e {
            TlsError::Io { path, .. } | TlsError::Pem { path, .. } => Some(path.clone()),
            _ => None,
        };
        let origin = path.and_then(|p| {
            self.origins
                .iter()
                .find(|(named, _)| p == *named || p.starts_with(named))
                .map(|(_, origin)| origin.clone())
        });
        match origin {
            Some(origin) => {
                ConfigErrors(vec![ConfigError::new(origin, format!("TLS: {e}"))]).into()
            }
            None => anyhow::Error::new(e).context("cannot set up TLS"),
        }
    }

    /// The state directory when the certificate is self-signed.
    pub fn self_signed_dir(&self) -> Option<&Path> {
        match &self.options.source {
            CertSource::SelfSigned { state_dir, .. } => Some(state_dir),
            CertSource::Files { .. } => None,
        }
    }

    /// The certificate file when one was given.
    pub fn cert_file(&self) -> Option<&Path> {
        match &self.options.source {
            CertSource::Files { cert, .. } => Some(cert),
            CertSource::SelfSigned { .. } => None,
        }
    }
}

/// A choice among fixed words: the value for `raw`, or the problem.
fn choice<T: Copy>(raw: &Located<String>, words: &[(&str, T)]) -> Result<T, String> {
    let value = raw.value.trim();
    words
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(value))
        .map(|&(_, t)| t)
        .ok_or_else(|| {
            let names: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
            let (last, first) = names.split_last().unwrap_or((&"", &[]));
            format!(
                "expected {} or {last}, found {:?}",
                first.join(", "),
                raw.value
            )
        })
}

/// `USER:SUBJECT` (user names cannot contain ':', subjects can contain anything).
pub fn parse_client_cert_user(s: &str) -> Result<(String, String), String> {
    let Some((user, subject)) = s.split_once(':') else {
        return Err(format!(
            "expected USER:SUBJECT (e.g. alice:CN=alice,O=Example), found {s:?}"
        ));
    };
    validate_name(user).map_err(|e| e.to_string())?;
    let subject = subject.trim();
    if subject.is_empty() {
        return Err(format!("user `{user}`: the certificate subject is empty"));
    }
    if subject.chars().any(char::is_control) {
        return Err(format!(
            "user `{user}`: the certificate subject contains control characters"
        ));
    }
    Ok((user.to_string(), subject.to_string()))
}

/// Checks that `path` names a file we can open (the content is checked at start).
fn check_file(path: &Path) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Validates the FTPS keys of `raw`. `listen` holds the valid control addresses;
/// `known_users` the configured account names (`None` when they are unknown because the
/// users file did not load). Problems are added to `errors`.
pub(super) fn validate(
    raw: &RawServe,
    listen: &[SocketAddr],
    known_users: Option<&[String]>,
    errors: &mut Vec<ConfigError>,
) -> TlsSettings {
    let mut report = |origin: &Origin, message: String| {
        errors.push(ConfigError::new(origin.clone(), message));
    };

    let mut implicit = Vec::new();
    for l in raw.implicit_listen.iter().flatten() {
        match parse_listen(&l.value) {
            Ok(addr) => {
                if addr.port() != 0 && (listen.contains(&addr) || implicit.contains(&addr)) {
                    report(&l.origin, format!("{addr} is already a listen address"));
                } else {
                    implicit.push(addr);
                }
            }
            Err(m) => report(&l.origin, m),
        }
    }

    let all_loopback = listen.iter().chain(&implicit).all(|a| a.ip().is_loopback());
    let mode_default = if all_loopback {
        TlsMode::Optional
    } else {
        TlsMode::Required
    };
    let mode = match &raw.tls {
        Some(t) => choice(
            t,
            &[
                ("off", TlsMode::Off),
                ("optional", TlsMode::Optional),
                ("required", TlsMode::Required),
            ],
        )
        .unwrap_or_else(|m| {
            report(&t.origin, m);
            mode_default
        }),
        None => mode_default,
    };

    let mut pick = |raw: &Option<Located<String>>, words: &[(&str, bool)], default: bool| {
        raw.as_ref().map_or(default, |r| {
            choice(r, words).unwrap_or_else(|m| {
                report(&r.origin, m);
                default
            })
        })
    };
    let anonymous_exempt = pick(
        &raw.tls_anonymous,
        &[("exempt", true), ("required", false)],
        true,
    );
    let data_required = pick(
        &raw.tls_data,
        &[("optional", false), ("required", true)],
        false,
    );

    let session_reuse = match &raw.tls_session_reuse {
        Some(r) => choice(
            r,
            &[
                ("off", SessionReuse::Off),
                ("accept", SessionReuse::Accept),
                ("require", SessionReuse::Require),
            ],
        )
        .unwrap_or_else(|m| {
            report(&r.origin, m);
            SessionReuse::default()
        }),
        None => SessionReuse::default(),
    };

    let client_auth = match &raw.client_cert {
        Some(c) => choice(
            c,
            &[
                ("off", ClientAuth::Off),
                ("request", ClientAuth::Request),
                ("require", ClientAuth::Require),
            ],
        )
        .unwrap_or_else(|m| {
            report(&c.origin, m);
            ClientAuth::Off
        }),
        None => ClientAuth::Off,
    };

    let allow_ccc = raw.allow_ccc.as_ref().is_some_and(|a| a.value);

    // Settings that cannot work without TLS.
    if mode == TlsMode::Off {
        let off = raw
            .tls
            .as_ref()
            .map_or_else(|| "--tls".to_string(), |t| t.origin.to_string());
        if let Some(first) = raw.implicit_listen.iter().flatten().next() {
            report(
                &first.origin,
                format!("implicit FTPS needs TLS, but TLS is off ({off})"),
            );
        }
        if let Some(d) = raw.tls_data.as_ref().filter(|_| data_required) {
            report(
                &d.origin,
                format!("data protection needs TLS, but TLS is off ({off})"),
            );
        }
        if let Some(c) = raw
            .client_cert
            .as_ref()
            .filter(|_| client_auth != ClientAuth::Off)
        {
            report(
                &c.origin,
                format!("client certificates need TLS, but TLS is off ({off})"),
            );
        }
    }

    // Certificate: both files or neither.
    match (&raw.cert, &raw.key) {
        (Some(c), None) => report(
            &c.origin,
            "a certificate needs its private key too (--cert with --key, or `cert` with \
             `key`); give neither for a self-signed certificate"
                .into(),
        ),
        (None, Some(k)) => report(
            &k.origin,
            "a private key needs its certificate too (--key with --cert, or `key` with \
             `cert`); give neither for a self-signed certificate"
                .into(),
        ),
        _ => {}
    }
    if mode != TlsMode::Off {
        for f in [&raw.cert, &raw.key, &raw.client_ca].into_iter().flatten() {
            if let Err(m) = check_file(&f.value) {
                report(&f.origin, m);
            }
        }
    }

    // Client certificates.
    match (&raw.client_ca, client_auth) {
        (None, ClientAuth::Request | ClientAuth::Require) => {
            if let Some(c) = &raw.client_cert {
                report(
                    &c.origin,
                    format!(
                        "client certificates ({}) need a CA to verify them: add --client-ca \
                         FILE (key `client_ca`)",
                        c.value.trim()
                    ),
                );
            }
        }
        (Some(ca), ClientAuth::Off) => report(
            &ca.origin,
            "a client CA has no effect while client certificates are off: add \
             --client-cert request or require (key `client_cert`)"
                .into(),
        ),
        _ => {}
    }
    let mut client_users = BTreeMap::new();
    for (i, entry) in raw.client_cert_user.iter().flatten().enumerate() {
        if client_auth == ClientAuth::Off {
            report(
                &entry.origin,
                "a certificate-to-user mapping has no effect while client certificates are \
                 off: add --client-cert request or require (key `client_cert`)"
                    .into(),
            );
            break;
        }
        match parse_client_cert_user(&entry.value) {
            Ok((user, _)) if known_users.is_some_and(|k| !k.contains(&user)) => report(
                &entry.origin,
                format!("entry {}: there is no account `{user}`", i + 1),
            ),
            Ok((user, subject)) => match client_users.entry(subject) {
                std::collections::btree_map::Entry::Occupied(o) => report(
                    &entry.origin,
                    format!("subject {:?} is mapped twice", o.key()),
                ),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(user);
                }
            },
            Err(m) => report(&entry.origin, format!("entry {}: {m}", i + 1)),
        }
    }

    let state_dir_raw = raw
        .state_dir
        .clone()
        .unwrap_or_else(|| default(PathBuf::from(DEFAULT_STATE_DIR)));
    let state_dir = std::path::absolute(&state_dir_raw.value).unwrap_or(state_dir_raw.value);
    if raw.cert.is_none() && mode != TlsMode::Off && state_dir.exists() && !state_dir.is_dir() {
        report(
            &state_dir_raw.origin,
            format!("{} is not a directory", state_dir.display()),
        );
    }

    if mode == TlsMode::Off {
        return TlsSettings {
            mode,
            mode_is_default: raw.tls.is_none(),
            policy: TlsPolicy::default(),
            session_reuse,
            implicit_listen: Vec::new(),
            material: None,
        };
    }

    let mut origins = Vec::new();
    let source = match (&raw.cert, &raw.key) {
        (Some(cert), Some(key)) => {
            origins.push((cert.value.clone(), cert.origin.clone()));
            origins.push((key.value.clone(), key.origin.clone()));
            CertSource::Files {
                cert: cert.value.clone(),
                key: key.value.clone(),
            }
        }
        _ => {
            origins.push((state_dir.clone(), state_dir_raw.origin.clone()));
            CertSource::SelfSigned {
                state_dir,
                names: extra_names(raw, listen, &implicit),
            }
        }
    };
    if let Some(ca) = &raw.client_ca {
        origins.push((ca.value.clone(), ca.origin.clone()));
    }
    TlsSettings {
        mode,
        mode_is_default: raw.tls.is_none(),
        policy: TlsPolicy {
            available: true,
            required_for_login: mode == TlsMode::Required,
            anonymous_exempt,
            require_data_protection: data_required,
            allow_ccc,
        },
        session_reuse,
        implicit_listen: implicit,
        material: Some(TlsMaterial {
            options: TlsOptions {
                source,
                client_ca: raw.client_ca.as_ref().map(|c| c.value.clone()),
                client_auth,
                client_users,
                keylog: false,
            },
            origins,
        }),
    }
}

/// Names for a generated certificate besides the built-in `localhost`, `127.0.0.1` and
/// `::1`: the public host as written, and specific (not wildcard, not loopback) listen
/// addresses.
fn extra_names(raw: &RawServe, listen: &[SocketAddr], implicit: &[SocketAddr]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: String| {
        if !names.contains(&name) {
            names.push(name);
        }
    };
    if let Some(h) = &raw.public_host {
        let h = h.value.trim();
        if !h.is_empty() {
            add(h.to_string());
        }
    }
    for addr in listen.iter().chain(implicit) {
        let ip = addr.ip();
        if !ip.is_unspecified() && !ip.is_loopback() {
            add(ip.to_string());
        }
    }
    names
}
