//! Accounts: the users file, command-line users and anonymous access.
//!
//! # The users file
//!
//! A TOML file with one `[[user]]` table per account:
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."   # a PHC string, never the password
//! home = "/srv/ftp/alice"                           # optional: the server's default root
//! access = "rw"                                     # "ro" or "rw" (the default)
//! # Everything below is optional.
//! permissions = ["list", "read", "write"]  # replaces `access` (see ferry_proto::perm)
//! allow_from = ["192.0.2.0/24", "2001:db8::/32"]  # networks it may log in from
//! disabled = false                         # a disabled account cannot log in
//! quota_bytes = "10GiB"                    # or a number of bytes
//! quota_files = 100000
//! upload_rate = "1MiB"                     # bytes per second, all its sessions together
//! download_rate = 4194304
//! max_sessions = 4                         # logged-in sessions at once
//!
//! [[user.dir]]                             # per-directory permissions (longest path wins)
//! path = "/pub"
//! permissions = ["list", "read"]
//! ```
//!
//! - User names are 1 to 64 characters of `A-Z a-z 0-9 . _ @ -`, not starting with `-` or
//!   `.`; they are case-sensitive.
//! - A relative `home` is resolved against the directory holding the users file when the
//!   file is loaded, so [`UsersFile::save`] writes it back resolved.
//! - Passwords are argon2id hashes ([`hash_password`]); a clear password is never stored.
//! - [`UsersFile::save`] replaces the file atomically (temporary file and rename) with mode
//!   `0600`.
//! - The names `anonymous` and `ftp` are allowed in a file, but while anonymous access is on
//!   ([`AnonymousMode`]) those names log in anonymously and such an entry is not used.
//!
//! # Logins
//!
//! [`UserDb`] gathers the users of a file and of the command line and implements
//! [`Authenticator`]. Hashes are verified on tokio's blocking pool; an unknown user is
//! checked against a dummy hash of the same cost, so the time taken does not reveal which
//! names exist.
//!
//! Successful verifications are remembered for a few minutes in a bounded cache keyed by a
//! keyed hash (HMAC-SHA256 under a per-`UserDb` random secret) of the name and password, so
//! a burst of logins of one account pays the hash once; wrong passwords are never cached.
//! See [`login_cache`] for what is stored, when it answers and what its timing reveals.
//! Concurrent verifications of the same name and password (a cold burst, before the cache
//! holds the login) wait for one hash and share its result ([`login_flight`]).

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use async_trait::async_trait;
use ferry_proto::perm::{Perm, PermSet, Permissions};
use ferry_proto::{Password, VirtualPath};
use serde::{Deserialize, Serialize};

use crate::{Access, Account, AccountPolicy, AuthError, Authenticator};

pub mod login_cache;
pub mod login_flight;

use login_cache::{LoginCache, LoginCacheStats};
use login_flight::{FlightStats, Flights};

/// Longest user name, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// Largest users file read, in bytes.
pub const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

/// An argon2id hash with the default parameters, of a password nobody knows: unknown users
/// are verified against it so that they cost as much as real ones.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    YZmUJOQ5GdV6WnXHzonzQA$ymUDOMr2yd43+B8ZDLlTl9YqzHDfKHXxsoetzkmv2Pk";

/// Whether anonymous logins (`anonymous` or `ftp`, any password) are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnonymousMode {
    /// No anonymous logins.
    #[default]
    Off,
    /// Anonymous users may list and download.
    ReadOnly,
    /// Anonymous users may list and download everywhere, and upload new files (never
    /// overwrite) into the incoming folder ([`UserDb::set_anonymous_incoming`]), where they
    /// can neither list nor download: uploads stay invisible until an admin moves them
    /// (vsftpd's `anon_upload_enable` without `anon_other_write_enable`).
    UploadOnly,
    /// Anonymous users may do everything.
    ReadWrite,
}

/// A value other than `off`, `ro`, `upload-only` or `rw` for [`AnonymousMode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid anonymous mode {0:?}: expected off, ro, upload-only or rw")]
pub struct ParseAnonymousModeError(String);

impl FromStr for AnonymousMode {
    type Err = ParseAnonymousModeError;

    /// Parses `off`, `ro`, `upload-only` or `rw` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(AnonymousMode::Off),
            "ro" => Ok(AnonymousMode::ReadOnly),
            "upload-only" | "upload_only" => Ok(AnonymousMode::UploadOnly),
            "rw" => Ok(AnonymousMode::ReadWrite),
            _ => Err(ParseAnonymousModeError(s.chars().take(32).collect())),
        }
    }
}

impl fmt::Display for AnonymousMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnonymousMode::Off => "off",
            AnonymousMode::ReadOnly => "ro",
            AnonymousMode::UploadOnly => "upload-only",
            AnonymousMode::ReadWrite => "rw",
        })
    }
}

/// One account of a users file.
#[derive(Clone, PartialEq, Eq)]
pub struct UserEntry {
    /// The user name.
    pub name: String,
    /// The argon2id password hash (PHC string).
    pub password: String,
    /// The account's root directory; `None` for the server's default root.
    pub home: Option<PathBuf>,
    /// Its access level.
    pub access: Access,
    /// True when the account may not log in.
    pub disabled: bool,
    /// Permissions, networks, quota, bandwidth and session limit.
    pub policy: AccountPolicy,
}

impl fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserEntry")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("home", &self.home)
            .field("access", &self.access)
            .field("disabled", &self.disabled)
            .field("policy", &self.policy)
            .finish()
    }
}

/// The accounts of a users file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersFile {
    /// The accounts.
    pub users: Vec<UserEntry>,
}

/// Why reading, editing or using accounts failed. Never carries a password or a hash.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The users file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_LEN`].
    #[error("{}: file too large", path.display())]
    TooLarge {
        /// The users file.
        path: PathBuf,
    },
    /// The file is not valid TOML or has unexpected fields or values.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The users file.
        path: PathBuf,
        /// Line of the error (1-based; 0 when unknown).
        line: usize,
        /// Column of the error (1-based; 0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A user name appears twice.
    #[error("duplicate user {0:?}")]
    DuplicateUser(String),
    /// No user of that name.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// The user name is not allowed (see the module documentation).
    #[error(
        "invalid user name {0:?}: use 1 to 64 of A-Z a-z 0-9 . _ @ -, not starting with - or ."
    )]
    InvalidName(String),
    /// A user's permissions, networks, quota or rates are invalid.
    #[error("user {user:?}: {message}")]
    InvalidPolicy {
        /// The user.
        user: String,
        /// What is wrong.
        message: String,
    },
    /// A stored password hash is not a valid PHC string.
    #[error("user {0:?}: the password is not a valid argon2 PHC hash")]
    InvalidHash(String),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The file could not be serialised.
    #[error("cannot write the users file: {0}")]
    Serialize(String),
}

/// The file's shape, as serde sees it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, rename = "user")]
    users: Vec<RawUser>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    home: Option<PathBuf>,
    #[serde(default = "default_access")]
    access: Access,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    permissions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    allow_from: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota_bytes: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota_files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upload_rate: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    download_rate: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_sessions: Option<u32>,
    #[serde(default, rename = "dir", skip_serializing_if = "Vec::is_empty")]
    dirs: Vec<RawDir>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    path: String,
    permissions: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A byte count or rate: a number, or a string with a unit (`"1MiB"`, `"500K"`).
#[derive(Serialize, Deserialize, Clone)]
#[serde(untagged)]
enum Amount {
    Number(u64),
    Text(String),
}

impl Amount {
    fn bytes(&self) -> Result<u64, String> {
        match self {
            Amount::Number(n) => Ok(*n),
            Amount::Text(t) => parse_amount(t),
        }
    }
}

/// A number of bytes with an optional unit: `K`/`M`/`G`/`T` (powers of 1000), `KiB`/`MiB`/
/// `GiB`/`TiB` (powers of 1024); a trailing `B` or `/s` is ignored.
pub fn parse_amount(s: &str) -> Result<u64, String> {
    let bad =
        || format!("expected a number of bytes such as 1048576, \"1MiB\" or \"500K\", found {s:?}");
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim_end();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" | "ki" => 1 << 10,
        "mib" | "mi" => 1 << 20,
        "gib" | "gi" => 1 << 30,
        "tib" | "ti" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

impl RawUser {
    /// The policy and `disabled` flag of the entry, or what is wrong with them.
    fn policy(&self) -> Result<AccountPolicy, String> {
        let mut policy = AccountPolicy::default();
        if self.permissions.is_some() || !self.dirs.is_empty() {
            let base = match &self.permissions {
                Some(list) => PermSet::parse_list(list).map_err(|e| e.to_string())?,
                None => match self.access {
                    Access::ReadOnly => PermSet::read_only(),
                    Access::ReadWrite => PermSet::all(),
                },
            };
            let mut perms = Permissions::uniform(base);
            for dir in &self.dirs {
                let path = VirtualPath::root()
                    .join(&dir.path)
                    .map_err(|e| format!("dir {:?}: {e}", dir.path))?;
                let set = PermSet::parse_list(&dir.permissions)
                    .map_err(|e| format!("dir {:?}: {e}", dir.path))?;
                perms.set_dir(path, set);
            }
            policy.permissions = Some(perms);
        }
        for net in &self.allow_from {
            let parsed = net
                .trim()
                .parse::<ipnet::IpNet>()
                .map(|n| n.trunc())
                .or_else(|_| {
                    net.trim()
                        .parse::<std::net::IpAddr>()
                        .map(ipnet::IpNet::from)
                })
                .map_err(|_| format!("allow_from: {net:?} is not an address or CIDR network"))?;
            policy.allow_from.push(parsed);
        }
        policy.quota.max_bytes = self
            .quota_bytes
            .as_ref()
            .map(Amount::bytes)
            .transpose()
            .map_err(|e| format!("quota_bytes: {e}"))?;
        policy.quota.max_files = self.quota_files;
        let rate = |what: &str, a: &Option<Amount>| -> Result<Option<u64>, String> {
            match a.as_ref().map(Amount::bytes).transpose() {
                Ok(Some(r)) if r < 1024 => Err(format!(
                    "{what}: {r} bytes per second is too slow (at least 1024)"
                )),
                Ok(r) => Ok(r),
                Err(e) => Err(format!("{what}: {e}")),
            }
        };
        policy.upload_rate = rate("upload_rate", &self.upload_rate)?;
        policy.download_rate = rate("download_rate", &self.download_rate)?;
        policy.max_sessions = self.max_sessions;
        Ok(policy)
    }

    fn from_entry(u: &UserEntry) -> RawUser {
        let p = &u.policy;
        let (permissions, dirs) = match &p.permissions {
            None => (None, Vec::new()),
            Some(perms) => (
                Some(perms.base().iter().map(|x| x.name().to_string()).collect()),
                perms
                    .dirs()
                    .iter()
                    .rev()
                    .map(|(path, set)| RawDir {
                        path: path.as_str().to_string(),
                        permissions: set.iter().map(|x| x.name().to_string()).collect(),
                    })
                    .collect(),
            ),
        };
        RawUser {
            name: u.name.clone(),
            password: u.password.clone(),
            home: u.home.clone(),
            access: u.access,
            permissions,
            allow_from: p.allow_from.iter().map(ToString::to_string).collect(),
            disabled: u.disabled,
            quota_bytes: p.quota.max_bytes.map(Amount::Number),
            quota_files: p.quota.max_files,
            upload_rate: p.upload_rate.map(Amount::Number),
            download_rate: p.download_rate.map(Amount::Number),
            max_sessions: p.max_sessions,
            dirs,
        }
    }
}

fn default_access() -> Access {
    Access::ReadWrite
}

/// Checks a user name against the rules in the module documentation.
pub fn validate_name(name: &str) -> Result<(), UsersError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_LEN
        && !name.starts_with('-')
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(UsersError::InvalidName(name.chars().take(80).collect()))
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl UsersFile {
    /// Reads and checks a users file: valid TOML of the documented shape, valid and unique
    /// names, valid PHC hashes. Relative homes are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<UsersFile, UsersError> {
        let io = |source| UsersError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > MAX_FILE_LEN {
            return Err(UsersError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_FILE_LEN + 1), &mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_FILE_LEN {
            return Err(UsersError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let raw: RawFile = toml::from_str(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((0, 0), |span| line_column(&text, span.start));
            UsersError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let mut out = UsersFile::default();
        for user in raw.users {
            validate_name(&user.name)?;
            if out.get(&user.name).is_some() {
                return Err(UsersError::DuplicateUser(user.name));
            }
            if PasswordHash::new(&user.password).is_err() {
                return Err(UsersError::InvalidHash(user.name));
            }
            let policy = user.policy().map_err(|message| UsersError::InvalidPolicy {
                user: user.name.clone(),
                message,
            })?;
            out.users.push(UserEntry {
                name: user.name,
                password: user.password,
                home: user.home.map(|h| base.join(h)),
                access: user.access,
                disabled: user.disabled,
                policy,
            });
        }
        Ok(out)
    }

    /// Like [`UsersFile::load`], but a missing file is an empty one.
    pub fn load_or_default(path: &Path) -> Result<UsersFile, UsersError> {
        match UsersFile::load(path) {
            Err(UsersError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(UsersFile::default())
            }
            other => other,
        }
    }

    /// Writes the file atomically (a temporary file in the same directory, renamed over
    /// `path`), readable by its owner only (mode `0600`).
    pub fn save(&self, path: &Path) -> Result<(), UsersError> {
        let raw = RawFile {
            users: self.users.iter().map(RawUser::from_entry).collect(),
        };
        let text = toml::to_string(&raw).map_err(|e| UsersError::Serialize(e.to_string()))?;
        let io = |source| UsersError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| io(std::io::Error::other("not a file name")))?;
        let temp = dir.join(format!(
            ".{}.tmp-{:016x}",
            file_name.to_string_lossy(),
            rand::random::<u64>()
        ));
        let result =
            write_private(&temp, text.as_bytes()).and_then(|()| std::fs::rename(&temp, path));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&temp);
            return Err(io(e));
        }
        Ok(())
    }

    /// The entry of `name`.
    pub fn get(&self, name: &str) -> Option<&UserEntry> {
        self.users.iter().find(|u| u.name == name)
    }

    fn get_mut(&mut self, name: &str) -> Result<&mut UserEntry, UsersError> {
        self.users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| UsersError::UnknownUser(name.to_string()))
    }

    /// Adds an account (the password is hashed with [`hash_password`]).
    pub fn add(
        &mut self,
        name: &str,
        password: &Password,
        home: Option<PathBuf>,
        access: Access,
    ) -> Result<(), UsersError> {
        validate_name(name)?;
        if self.get(name).is_some() {
            return Err(UsersError::DuplicateUser(name.to_string()));
        }
        let password = hash_password(password)?;
        self.users.push(UserEntry {
            name: name.to_string(),
            password,
            home,
            access,
            disabled: false,
            policy: AccountPolicy::default(),
        });
        Ok(())
    }

    /// Changes a user's password.
    pub fn set_password(&mut self, name: &str, password: &Password) -> Result<(), UsersError> {
        let hash = hash_password(password)?;
        self.get_mut(name)?.password = hash;
        Ok(())
    }

    /// Changes a user's access level.
    pub fn set_access(&mut self, name: &str, access: Access) -> Result<(), UsersError> {
        self.get_mut(name)?.access = access;
        Ok(())
    }

    /// Changes a user's home (`None`: the server's default root).
    pub fn set_home(&mut self, name: &str, home: Option<PathBuf>) -> Result<(), UsersError> {
        self.get_mut(name)?.home = home;
        Ok(())
    }

    /// Removes an account.
    pub fn remove(&mut self, name: &str) -> Result<(), UsersError> {
        let before = self.users.len();
        self.users.retain(|u| u.name != name);
        if self.users.len() == before {
            return Err(UsersError::UnknownUser(name.to_string()));
        }
        Ok(())
    }
}

/// Creates `path` (which must not exist) with mode `0600` and writes `bytes` to disk.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Hashes a password with argon2id (default parameters, random salt) into a PHC string.
pub fn hash_password(password: &Password) -> Result<String, UsersError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| UsersError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UsersError::Hash(e.to_string()))
}

/// True if `password` matches the argon2 PHC string `phc` (false for a malformed `phc` or
/// another algorithm).
///
/// The working memory of the hash (19 MiB with the default parameters) comes from a small
/// pool of buffers (at most 4): allocated once and reused, so a server's memory does not
/// step up each time a cached login expires and is verified again.
pub fn verify_password(password: &Password, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        argon2::Algorithm::try_from(hash.algorithm),
        argon2::Params::try_from(&hash),
    ) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = with_working_memory(blocks, |memory| {
        argon2
            .hash_password_into_with_memory(password.expose().as_bytes(), salt, &mut out, memory)
            .is_ok()
    });
    // `Output`'s comparison is constant-time.
    computed && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// Argon2 working memory kept for the next verification.
static WORKING_MEMORY: Mutex<Vec<Vec<argon2::Block>>> = Mutex::new(Vec::new());
/// At most this many working memories are kept (one per concurrent verification; the
/// hash threads number the CPUs, at least 2).
const KEPT_WORKING_MEMORIES: usize = 4;

/// Runs `f` with `blocks` blocks of argon2 working memory taken from (and given back to,
/// zeroed) the kept ones.
fn with_working_memory<R>(blocks: usize, f: impl FnOnce(&mut [argon2::Block]) -> R) -> R {
    let mut memory = WORKING_MEMORY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let result = f(memory.get_mut(..blocks).unwrap_or_default());
    // Nothing derived from a password stays in memory between verifications.
    memory.fill(argon2::Block::default());
    let mut kept = WORKING_MEMORY
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if kept.len() < KEPT_WORKING_MEMORIES {
        kept.push(memory);
    }
    result
}

/// One account known to a [`UserDb`].
#[derive(Clone)]
struct DbUser {
    hash: String,
    home: Option<PathBuf>,
    access: Access,
    disabled: bool,
    policy: AccountPolicy,
}

/// The accounts a server accepts: users-file and command-line users, and anonymous access.
pub struct UserDb {
    default_home: PathBuf,
    anonymous: AnonymousMode,
    anonymous_incoming: VirtualPath,
    users: HashMap<String, DbUser>,
    login_cache: LoginCache,
    flights: Flights,
}

impl fmt::Debug for UserDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("UserDb")
            .field("default_home", &self.default_home)
            .field("anonymous", &self.anonymous)
            .field("users", &names)
            .finish()
    }
}

impl UserDb {
    /// An empty set of accounts: users without a home get `default_home`, and so do
    /// anonymous logins.
    pub fn new(default_home: PathBuf, anonymous: AnonymousMode) -> UserDb {
        UserDb {
            default_home,
            anonymous,
            anonymous_incoming: VirtualPath::root()
                .join("incoming")
                .unwrap_or_else(|_| VirtualPath::root()),
            users: HashMap::new(),
            login_cache: LoginCache::new(login_cache::DEFAULT_CAPACITY, login_cache::DEFAULT_TTL),
            flights: Flights::new(login_flight::DEFAULT_FLIGHTS),
        }
    }

    /// Replaces the cache of recently verified logins with an empty one holding at most
    /// `capacity` logins for `ttl` each (defaults: [`login_cache::DEFAULT_CAPACITY`],
    /// [`login_cache::DEFAULT_TTL`]); a `capacity` of 0 or a zero `ttl` turns it off.
    pub fn set_login_cache(&mut self, capacity: usize, ttl: std::time::Duration) {
        self.login_cache = LoginCache::new(capacity, ttl);
    }

    /// Hits, misses and size of the login cache (see [`login_cache`]).
    pub fn cache_stats(&self) -> LoginCacheStats {
        self.login_cache.stats()
    }

    /// Hashes run and verifications that joined another's hash (see [`login_flight`]).
    pub fn flight_stats(&self) -> FlightStats {
        self.flights.stats()
    }

    /// Adds an account given in clear (e.g. `--user NAME:PASSWORD`): the password is hashed
    /// right away and only the hash is kept.
    pub fn add_user(
        &mut self,
        name: &str,
        password: &Password,
        home: Option<PathBuf>,
        access: Access,
    ) -> Result<(), UsersError> {
        validate_name(name)?;
        if self.users.contains_key(name) {
            return Err(UsersError::DuplicateUser(name.to_string()));
        }
        let hash = hash_password(password)?;
        self.users.insert(
            name.to_string(),
            DbUser {
                hash,
                home,
                access,
                disabled: false,
                policy: AccountPolicy::default(),
            },
        );
        Ok(())
    }

    /// Adds every account of a users file. A name already known is an error, and then
    /// nothing of `file` is added.
    pub fn add_users_file(&mut self, file: UsersFile) -> Result<(), UsersError> {
        let mut seen = std::collections::HashSet::new();
        for user in &file.users {
            validate_name(&user.name)?;
            if self.users.contains_key(&user.name) || !seen.insert(user.name.as_str()) {
                return Err(UsersError::DuplicateUser(user.name.clone()));
            }
            if PasswordHash::new(&user.password).is_err() {
                return Err(UsersError::InvalidHash(user.name.clone()));
            }
        }
        for user in file.users {
            self.users.insert(
                user.name,
                DbUser {
                    hash: user.password,
                    home: user.home,
                    access: user.access,
                    disabled: user.disabled,
                    policy: user.policy,
                },
            );
        }
        Ok(())
    }

    /// True if at least one (non-anonymous) account exists.
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// The anonymous access mode.
    pub fn anonymous(&self) -> AnonymousMode {
        self.anonymous
    }

    /// The root directory of accounts without their own.
    pub fn default_home(&self) -> &Path {
        &self.default_home
    }

    /// Sets the folder of [`AnonymousMode::UploadOnly`] uploads (default `/incoming`).
    pub fn set_anonymous_incoming(&mut self, dir: VirtualPath) {
        self.anonymous_incoming = dir;
    }

    /// The folder of [`AnonymousMode::UploadOnly`] uploads.
    pub fn anonymous_incoming(&self) -> &VirtualPath {
        &self.anonymous_incoming
    }

    /// The account of an anonymous login.
    fn anonymous_account(&self) -> Account {
        let (access, permissions) = match self.anonymous {
            AnonymousMode::ReadWrite => (Access::ReadWrite, None),
            AnonymousMode::UploadOnly => {
                let mut p = Permissions::uniform(PermSet::read_only());
                p.set_dir(self.anonymous_incoming.clone(), PermSet::of(&[Perm::Write]));
                (Access::ReadOnly, Some(p))
            }
            _ => (Access::ReadOnly, None),
        };
        Account {
            name: "anonymous".to_string(),
            home: self.default_home.clone(),
            access,
            anonymous: true,
            policy: AccountPolicy {
                permissions,
                ..AccountPolicy::default()
            },
        }
    }
}

#[async_trait]
impl Authenticator for UserDb {
    fn is_anonymous(&self, user: &str) -> bool {
        self.anonymous != AnonymousMode::Off
            && (user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp"))
    }

    async fn authenticate(&self, user: &str, password: &Password) -> Result<Account, AuthError> {
        if self.is_anonymous(user) {
            return Ok(self.anonymous_account());
        }
        let found = self.users.get(user).cloned();
        // Every password login computes the key and looks it up, known user or not, so the
        // misses of known and unknown names take the same path.
        let key = self.login_cache.key(user, password.expose());
        let fingerprint = found
            .as_ref()
            .filter(|u| !u.disabled)
            .map(|u| login_cache::fingerprint(&u.hash));
        let cached = self.login_cache.check(&key, fingerprint.as_ref());
        let matches = if cached {
            true
        } else {
            let hash = found
                .as_ref()
                .map_or_else(|| DUMMY_HASH.to_string(), |u| u.hash.clone());
            let password = password.clone();
            // Same key and same stored hash: the same answer, so a concurrent verification
            // of this login is joined rather than repeated.
            self.flights
                .verify(&key, fingerprint.as_ref(), move || {
                    verify_password(&password, &hash)
                })
                .await
                .map_err(|_| AuthError::Backend("password verification failed".to_string()))?
        };
        match found {
            Some(found) if matches && found.disabled => Err(AuthError::Disabled),
            Some(found) if matches => {
                if let (false, Some(fingerprint)) = (cached, fingerprint) {
                    self.login_cache.insert(key, fingerprint);
                }
                Ok(Account {
                    name: user.to_string(),
                    home: found.home.unwrap_or_else(|| self.default_home.clone()),
                    access: found.access,
                    anonymous: false,
                    policy: found.policy,
                })
            }
            _ => Err(AuthError::Invalid),
        }
    }

    async fn lookup(&self, user: &str) -> Result<Account, AuthError> {
        if self.is_anonymous(user) {
            return Err(AuthError::Invalid);
        }
        let found = self.users.get(user).ok_or(AuthError::Invalid)?;
        if found.disabled {
            return Err(AuthError::Disabled);
        }
        Ok(Account {
            name: user.to_string(),
            home: found
                .home
                .clone()
                .unwrap_or_else(|| self.default_home.clone()),
            access: found.access,
            anonymous: false,
            policy: found.policy.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_is_a_default_argon2id_hash() {
        let hash = PasswordHash::new(DUMMY_HASH).expect("valid PHC");
        let default = Argon2::default();
        let params = default.params();
        assert_eq!(hash.algorithm.as_str(), "argon2id");
        assert_eq!(
            hash.params.get_decimal("m"),
            Some(params.m_cost()),
            "same memory cost as new hashes"
        );
        assert_eq!(hash.params.get_decimal("t"), Some(params.t_cost()));
        assert_eq!(hash.params.get_decimal("p"), Some(params.p_cost()));
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("abc\ndef", 5), (2, 2));
        assert_eq!(line_column("abc", 99), (1, 4));
    }
}
