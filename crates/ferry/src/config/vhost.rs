//! Virtual hosts (RFC 7151) of `ferry serve`: the `[[vhost]]` tables of the config file.
//!
//! ```toml
//! root = "/srv/ftp/default"        # the default host: the top-level settings
//!
//! [[vhost]]
//! names = ["a.example", "www.a.example"]   # or name = "a.example"; IP literals: "[192.0.2.1]"
//! root = "/srv/ftp/a"              # required; created like the top-level root
//! users_file = "/etc/ferry/a.toml" # optional: else the server's accounts, homed in `root`
//! anonymous = "ro"                 # optional: off, ro, upload-only, rw (default as top level)
//! cert = "/etc/ferry/a.pem"        # optional, with `key`: presented to SNI or HOST a.example
//! key = "/etc/ferry/a.key"
//! greeting = "Welcome to A."       # optional: the 220 reply to HOST
//! ```
//!
//! Validation follows the two steps of the parent module: [`RawVhost`] (every value
//! located) → [`VhostSettings`]. Every problem is reported with its line and column.
//!
//! Accounts: a host with its own `users_file` has exactly those accounts (a user without
//! `home` lives in the host's root); a host without one shares the server's accounts
//! (`user` and the top-level `users_file`), each homed in the host's root, whatever home
//! the account has on the default host.

use std::path::PathBuf;

use ferry_proto::command::parse_host;
use ferry_storage::users::{AnonymousMode, UsersFile};

use super::{check_greeting, creatable_dir, prepare_root, ConfigError, Located, OnDisk, Origin};

/// The keys of a `[[vhost]]` table.
pub(crate) const VHOST_KEYS: &[&str] = &[
    "name",
    "names",
    "root",
    "users_file",
    "anonymous",
    "cert",
    "key",
    "greeting",
];

/// One `[[vhost]]` table as written.
#[derive(Debug, Clone)]
pub struct RawVhost {
    /// Where the table starts.
    pub origin: Origin,
    /// `name` or `names`.
    pub names: Option<Vec<Located<String>>>,
    /// `root`.
    pub root: Option<Located<PathBuf>>,
    /// `users_file`.
    pub users_file: Option<Located<PathBuf>>,
    /// `anonymous`.
    pub anonymous: Option<Located<String>>,
    /// `cert`.
    pub cert: Option<Located<PathBuf>>,
    /// `key`.
    pub key: Option<Located<PathBuf>>,
    /// `greeting`.
    pub greeting: Option<Located<String>>,
}

impl RawVhost {
    /// An empty table at `origin`.
    pub fn new(origin: Origin) -> RawVhost {
        RawVhost {
            origin,
            names: None,
            root: None,
            users_file: None,
            anonymous: None,
            cert: None,
            key: None,
            greeting: None,
        }
    }
}

/// A validated virtual host.
pub struct VhostSettings {
    /// Its names: lower-case domain names or bracketed IP literals (at least one).
    pub names: Vec<String>,
    /// Canonical root directory (see [`OnDisk`] for `--check-config`).
    pub root: PathBuf,
    /// Its own users file, loaded, with its path; `None`: the server's accounts.
    pub users_file: Option<(PathBuf, UsersFile)>,
    /// Anonymous access on this host.
    pub anonymous: AnonymousMode,
    /// Its own certificate chain and key files.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// The 220 reply to HOST; `None`: the server's greeting.
    pub greeting: Option<String>,
}

impl std::fmt::Debug for VhostSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VhostSettings")
            .field("names", &self.names)
            .field("root", &self.root)
            .field(
                "users_file",
                &self
                    .users_file
                    .as_ref()
                    .map(|(p, file)| (p, file.users.len())),
            )
            .field("anonymous", &self.anonymous)
            .field("cert", &self.cert)
            .field("greeting", &self.greeting)
            .finish()
    }
}

/// A host whose root is not prepared yet.
pub(crate) struct Pending {
    settings: VhostSettings,
    root: Located<PathBuf>,
}

/// Checks every `[[vhost]]` table but their roots (see [`prepare_roots`]). `tls_on`: the
/// server speaks FTPS (a host certificate needs it); `server_has_users`: the server's own
/// accounts exist (the default for `anonymous`, as at top level).
pub(crate) fn validate(
    raw: &[RawVhost],
    tls_on: bool,
    server_has_users: bool,
    errors: &mut Vec<ConfigError>,
) -> Vec<Pending> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(raw.len());
    for v in raw {
        let mut report = |origin: &Origin, message: String| {
            errors.push(ConfigError::new(origin.clone(), message));
        };
        let mut names = Vec::new();
        match &v.names {
            None => report(&v.origin, "a [[vhost]] needs `name` or `names`".into()),
            Some(list) if list.is_empty() => {
                report(&v.origin, "`names` is empty: give at least one".into())
            }
            Some(list) => {
                for n in list {
                    match parse_host("HOST", &n.value) {
                        Ok(name) if seen.contains(&name) => {
                            report(&n.origin, format!("the host name {name} is given twice"))
                        }
                        Ok(name) => {
                            seen.push(name.clone());
                            names.push(name);
                        }
                        Err(_) => report(
                            &n.origin,
                            format!(
                                "{:?} is not a host name (a domain name, or an IP address in \
                                 brackets such as [192.0.2.1])",
                                n.value
                            ),
                        ),
                    }
                }
            }
        }
        let Some(root) = v.root.clone() else {
            report(&v.origin, "a [[vhost]] needs `root`".into());
            continue;
        };
        let mut users_file = None;
        if let Some(f) = &v.users_file {
            match UsersFile::load(&f.value) {
                Ok(loaded) => users_file = Some((f.value.clone(), loaded)),
                Err(e) => report(&f.origin, format!("cannot load the users file: {e}")),
            }
        }
        let has_users = match (&v.users_file, &users_file) {
            (None, _) => server_has_users,
            (Some(_), Some((_, f))) => !f.users.is_empty(),
            // The file did not load: its error is enough.
            (Some(_), None) => true,
        };
        let anonymous = match &v.anonymous {
            Some(a) => match a.value.parse::<AnonymousMode>() {
                Ok(AnonymousMode::Off) if !has_users => {
                    report(
                        &a.origin,
                        "anonymous access is off and the host has no account: nobody could \
                         log in (add users_file)"
                            .into(),
                    );
                    AnonymousMode::Off
                }
                Ok(mode) => mode,
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
        let cert = match (&v.cert, &v.key) {
            (None, None) => None,
            (Some(c), Some(k)) => {
                if !tls_on {
                    report(
                        &c.origin,
                        "a host certificate needs FTPS: set `tls` to optional or required".into(),
                    );
                }
                for file in [c, k] {
                    if let Err(e) = std::fs::metadata(&file.value) {
                        report(
                            &file.origin,
                            format!("cannot read {}: {e}", file.value.display()),
                        );
                    }
                }
                Some((c.value.clone(), k.value.clone()))
            }
            (Some(c), None) => {
                report(&c.origin, "`cert` needs `key` in the same [[vhost]]".into());
                None
            }
            (None, Some(k)) => {
                report(&k.origin, "`key` needs `cert` in the same [[vhost]]".into());
                None
            }
        };
        let greeting = v.greeting.as_ref().and_then(|g| {
            check_greeting(&g.value)
                .map_err(|m| report(&g.origin, m))
                .ok()
        });
        out.push(Pending {
            settings: VhostSettings {
                names,
                root: root.value.clone(),
                users_file,
                anonymous,
                cert,
                greeting,
            },
            root,
        });
    }
    out
}

/// Prepares the roots as the top-level root is (created when `create`), reporting problems
/// at their `root` key.
pub(crate) fn prepare_roots(
    pending: Vec<Pending>,
    create: bool,
    on_disk: OnDisk,
    errors: &mut Vec<ConfigError>,
) -> Vec<VhostSettings> {
    let mut out = Vec::with_capacity(pending.len());
    for Pending { mut settings, root } in pending {
        let prepared = match prepare_root(&root.value, create) {
            Ok(None) if on_disk == OnDisk::CheckOnly => creatable_dir(&root.value),
            Ok(Some(path)) => Ok(path),
            Ok(None) => Err(format!("{} does not exist", root.value.display())),
            Err(m) => Err(m),
        };
        match prepared {
            Ok(path) => {
                settings.root = path;
                out.push(settings);
            }
            Err(m) => errors.push(ConfigError::new(root.origin.clone(), m)),
        }
    }
    out
}
