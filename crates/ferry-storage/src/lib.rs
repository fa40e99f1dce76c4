//! # ferry-storage: where files and accounts live
//!
//! The server talks to files only through [`Storage`] and to accounts only through
//! [`Authenticator`], so the single-machine setup (local disk, a users file) and later
//! scale-out backends share every line of session logic.
//!
//! Layout:
//! - this file: the traits and the types they exchange ([`Metadata`], [`ReadHandle`],
//!   [`WriteSink`], [`DirLister`], [`StorageError`] with its FTP reply codes, [`Account`],
//!   [`Access`], [`AuthError`], [`StorageFactory`]);
//! - [`local`]: [`local::LocalFs`], the local filesystem backend, confined to a root with
//!   `cap-std` (no `..`, absolute path or symlink can reach outside it), its blocking calls
//!   on tokio's blocking pool (downloads open their file inline when the kernel can resolve
//!   the path from its cache; uploads can be spliced from a socket);
//!   [`local::LocalFsFactory`] opens one per account home, shared by the sessions of that
//!   home (one descriptor);
//! - [`listcache`]: [`listcache::ListingCache`], recent directory listings kept in memory
//!   for the local backend and dropped at the first change to their directory (inotify);
//! - [`users`]: [`users::UserDb`], accounts from a users file (TOML, argon2id hashes) and
//!   from the command line, plus anonymous access ([`users::AnonymousMode`]); argon2id runs
//!   on a few dedicated threads, concurrent logins with the same credentials share one
//!   verification, and recent successful logins are cached under a keyed hash; and
//!   [`users::UsersFile`], the users-file editing used by `ferry user`;
//! - `tests/`: `local.rs` (confinement, uploads, listings, changes on a temporary tree) and
//!   `users.rs` (users file, logins, anonymous modes, secrets kept out of `Debug`).
//!
//! Paths given to a backend are [`VirtualPath`]s: already normalised and lexically inside
//! the root. The backend is responsible for the rest (symlinks, special files).

use std::path::PathBuf;

use async_trait::async_trait;
use ferry_proto::listing::EntryInfo;
use ferry_proto::perm::{PermSet, Permissions};
use ferry_proto::{Password, VirtualPath};

pub mod listcache;
pub mod local;
pub mod users;

/// What went wrong in a storage operation; each maps to an FTP reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No such file or directory (`550`).
    #[error("no such file or directory")]
    NotFound,
    /// The target already exists (`550`; `553` for uploads).
    #[error("file exists")]
    AlreadyExists,
    /// Not permitted by the filesystem or by the confinement (e.g. a symlink leaving the
    /// root) (`550`).
    #[error("permission denied")]
    PermissionDenied,
    /// A directory was given where a file is needed (`550`).
    #[error("is a directory")]
    IsADirectory,
    /// A file was given where a directory is needed (`550`).
    #[error("not a directory")]
    NotADirectory,
    /// RMD of a non-empty directory (`550`).
    #[error("directory not empty")]
    DirectoryNotEmpty,
    /// The name is not allowed (too long, reserved for Ferry's own temporary files) (`553`).
    #[error("file name not allowed")]
    InvalidName,
    /// Out of space or over a quota (`552`).
    #[error("insufficient storage space")]
    NoSpace,
    /// Any other I/O error (`451`).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The backend cannot do this at all (`504`); the text says what.
    #[error("not supported by this storage: {0}")]
    Unsupported(&'static str),
}

impl StorageError {
    /// Maps an `io::Error` to the most specific variant.
    ///
    /// The raw OS error number decides first (it is what the filesystem really said, and
    /// covers kinds such as `ENOTEMPTY` or `EDQUOT` whatever the Rust version); errors made
    /// without one (for example cap-std refusing a path that leads outside the root, which is
    /// `PermissionDenied`) are mapped by their [`std::io::ErrorKind`]. Everything else stays
    /// [`StorageError::Io`].
    pub fn from_io(e: std::io::Error) -> StorageError {
        use rustix::io::Errno;
        if let Some(errno) = Errno::from_io_error(&e) {
            return match errno {
                Errno::NOENT => StorageError::NotFound,
                Errno::EXIST => StorageError::AlreadyExists,
                // ELOOP: a symlink loop, or a symlink met where following is not allowed;
                // EROFS: a read-only filesystem. Neither gets better by retrying.
                Errno::ACCESS | Errno::PERM | Errno::ROFS | Errno::LOOP => {
                    StorageError::PermissionDenied
                }
                Errno::ISDIR => StorageError::IsADirectory,
                Errno::NOTDIR => StorageError::NotADirectory,
                Errno::NOTEMPTY => StorageError::DirectoryNotEmpty,
                Errno::NOSPC | Errno::DQUOT | Errno::FBIG => StorageError::NoSpace,
                Errno::NAMETOOLONG | Errno::ILSEQ => StorageError::InvalidName,
                // EXDEV (rename across filesystems) and the rest: a local error (`451`).
                _ => StorageError::Io(e),
            };
        }
        match e.kind() {
            std::io::ErrorKind::NotFound => StorageError::NotFound,
            std::io::ErrorKind::AlreadyExists => StorageError::AlreadyExists,
            std::io::ErrorKind::PermissionDenied => StorageError::PermissionDenied,
            _ => StorageError::Io(e),
        }
    }

    /// The FTP reply code for this error, as documented on each variant.
    pub fn reply_code(&self) -> u16 {
        match self {
            StorageError::NotFound
            | StorageError::AlreadyExists
            | StorageError::PermissionDenied
            | StorageError::IsADirectory
            | StorageError::NotADirectory
            | StorageError::DirectoryNotEmpty => 550,
            StorageError::InvalidName => 553,
            StorageError::NoSpace => 552,
            StorageError::Io(_) => 451,
            StorageError::Unsupported(_) => 504,
        }
    }

    /// An `Io` error of kind `InvalidInput`: what a backend returns for a restart offset
    /// beyond the end of the file (see [`WriteMode::At`]).
    pub fn invalid_input(msg: &'static str) -> StorageError {
        StorageError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg))
    }

    /// True for the `Io(InvalidInput)` error that [`StorageError::invalid_input`] makes (a
    /// bad restart offset); the server answers it with `554` rather than `451`.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, StorageError::Io(e) if e.kind() == std::io::ErrorKind::InvalidInput)
    }
}

/// File metadata, shared with the listing writers.
pub type Metadata = EntryInfo;

/// An open file to send (RETR), positioned at the requested offset.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadHandle {
    /// A local file; the driver may use `sendfile(2)` on it.
    File {
        /// The open file, its cursor at `offset`.
        file: std::fs::File,
        /// Offset the transfer starts at.
        offset: u64,
        /// File length when opened.
        len: u64,
    },
}

/// How an upload treats the target (STOR, APPE, REST+STOR, STOU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// STOR: create or replace. Replacing is atomic: data goes to a temporary file in the
    /// same directory that replaces the target only on [`WriteSink::finish`]; an interrupted
    /// upload leaves the old file untouched. For a new file, an interrupted upload keeps the
    /// bytes received under the target name, so it can be resumed.
    Replace,
    /// APPE: append to the file (created if missing).
    Append,
    /// REST n + STOR: overwrite the existing file in place from byte `n`, keeping what
    /// follows the written range (as vsftpd and pure-ftpd do), so several connections can
    /// each write their own range of one file (segmented uploads). `n` past the end of the
    /// file extends it (the gap reads as zeros until written). A missing file is
    /// [`StorageError::NotFound`].
    At(u64),
    /// STOU: the path names a file that must not exist yet (create exclusively).
    CreateNew,
}

/// Receives the bytes of an upload.
#[async_trait]
pub trait WriteSink: Send {
    /// Writes all of `buf`; returns the buffer (cleared) for reuse.
    async fn write(&mut self, buf: Vec<u8>) -> Result<Vec<u8>, StorageError>;
    /// The upload ended successfully: make it visible (rename over the target for
    /// [`WriteMode::Replace`]) and return the total bytes written by this sink.
    async fn finish(self: Box<Self>) -> Result<u64, StorageError>;
    /// The upload was interrupted: apply the rules of [`WriteMode`] (drop the temporary file
    /// when it would replace an existing file, keep the partial bytes otherwise). Dropping a
    /// sink without calling `finish` or `abort` must behave like `abort`.
    async fn abort(self: Box<Self>) -> Result<(), StorageError>;
    /// The upload must leave no trace (it went over a quota): leave the target as it was
    /// before the upload. A file the upload created is removed; a replacement's temporary
    /// file is dropped (the old file keeps its content); an append or an in-place write
    /// ([`WriteMode::At`]) is truncated back to the file's original length (bytes
    /// overwritten in place before that length keep the new data: there is no copy of the
    /// old ones).
    async fn discard(self: Box<Self>) -> Result<(), StorageError>;
    /// Whether [`WriteSink::splice_from`] works on this sink (a local file not opened for
    /// appending: `splice(2)` refuses `O_APPEND` files). The default: no.
    fn can_splice(&self) -> bool {
        false
    }
    /// Zero-copy uploads: moves up to `len` bytes from the pipe `pipe` (its reading end,
    /// holding at least `len` bytes) into the file with one `splice(2)`, at the sink's
    /// position; returns the bytes moved, counted as written. The call blocks on the disk
    /// (as `sendfile(2)` does for downloads). Errors are mapped as for
    /// [`WriteSink::write`] (a full disk is [`StorageError::NoSpace`]). The default:
    /// [`StorageError::Unsupported`].
    fn splice_from(
        &mut self,
        pipe: std::os::fd::BorrowedFd<'_>,
        len: usize,
    ) -> Result<usize, StorageError> {
        let _ = (pipe, len);
        Err(StorageError::Unsupported("splice"))
    }
    /// Writes from `buf` at the sink's position on the calling thread, blocking on the
    /// disk as [`WriteSink::splice_from`] does; returns the bytes written (at least one
    /// unless `buf` is empty). For the sinks that can splice: a spliced upload reads its
    /// first bytes into memory and writes them this way, so a small file needs no pipe.
    /// Errors are mapped as for [`WriteSink::write`]. The default:
    /// [`StorageError::Unsupported`].
    fn write_now(&mut self, buf: &[u8]) -> Result<usize, StorageError> {
        let _ = buf;
        Err(StorageError::Unsupported("write on the calling thread"))
    }
}

/// Streams a directory's entries in batches, so a listing never holds a whole large
/// directory in memory.
#[async_trait]
pub trait DirLister: Send {
    /// Up to `max` more entries, or an empty vector at the end. `.` and `..` are not
    /// returned, nor Ferry's own temporary upload files.
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Metadata>, StorageError>;
}

/// A file tree as one session sees it.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Metadata of `path` (not following a final symlink for listing purposes is up to the
    /// backend; a symlink that leaves the root is `PermissionDenied` when followed).
    async fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError>;
    /// Lists a directory.
    async fn list(&self, path: &VirtualPath) -> Result<Box<dyn DirLister>, StorageError>;
    /// Opens a file for reading from `offset`. A directory is [`StorageError::IsADirectory`];
    /// an offset beyond the end of the file is `Io` with `InvalidInput`.
    async fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<ReadHandle, StorageError>;
    /// Opens a file for an upload.
    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<Box<dyn WriteSink>, StorageError>;
    /// Creates a directory.
    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Removes an empty directory.
    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Removes a file.
    async fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Renames a file or directory (replacing a file target, as rename(2) does).
    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError>;
    /// Sets the modification time (Unix seconds).
    async fn set_mtime(&self, path: &VirtualPath, mtime: i64) -> Result<(), StorageError>;
    /// Sets the permission bits.
    async fn chmod(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError>;
    /// Bytes that can still be written under `path` (AVBL): the free space of the
    /// filesystem holding it, as an unprivileged user sees it. The default: not supported.
    async fn available_space(&self, path: &VirtualPath) -> Result<u64, StorageError> {
        let _ = path;
        Err(StorageError::Unsupported("free space"))
    }
    /// The page layout kept for a file uploaded with STRU P (the lines of
    /// `ferry_proto::repr::PageHeader::to_line`), at most [`MAX_PAGE_LAYOUT`] bytes; `None`
    /// when there is none (or it is larger). The default: none.
    async fn page_layout(&self, path: &VirtualPath) -> Result<Option<Vec<u8>>, StorageError> {
        let _ = path;
        Ok(None)
    }
    /// Keeps (`Some`) or forgets (`None`) the page layout of a file. Removing or renaming
    /// the file takes its layout along. The default: layouts are not kept.
    async fn set_page_layout(
        &self,
        path: &VirtualPath,
        layout: Option<Vec<u8>>,
    ) -> Result<(), StorageError> {
        let _ = (path, layout);
        Ok(())
    }
}

/// Largest page layout a backend keeps ([`Storage::set_page_layout`]): about 250 000 pages.
pub const MAX_PAGE_LAYOUT: usize = 4 * 1024 * 1024;

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// List and download only.
    #[serde(rename = "ro")]
    ReadOnly,
    /// Everything.
    #[serde(rename = "rw")]
    ReadWrite,
}

/// A logged-in account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// User name (for anonymous logins, `anonymous`).
    pub name: String,
    /// The account's root directory on the server.
    pub home: PathBuf,
    /// Its access level (the permissions when [`AccountPolicy::permissions`] is not set).
    pub access: Access,
    /// True for an anonymous login.
    pub anonymous: bool,
    /// Permissions, addresses, quota and bandwidth.
    pub policy: AccountPolicy,
}

impl Account {
    /// The permissions in force: the policy's, or the ones `access` stands for.
    pub fn permissions(&self) -> Permissions {
        match &self.policy.permissions {
            Some(p) => p.clone(),
            None => Permissions::uniform(match self.access {
                Access::ReadOnly => PermSet::read_only(),
                Access::ReadWrite => PermSet::all(),
            }),
        }
    }

    /// True when the account may log in from `ip` (its `allow_from` list is empty or holds
    /// a network containing `ip`).
    pub fn allowed_from(&self, ip: std::net::IpAddr) -> bool {
        self.policy.allow_from.is_empty() || self.policy.allow_from.iter().any(|n| n.contains(&ip))
    }
}

/// What an account may do besides logging in: everything defaults to "no restriction".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPolicy {
    /// Permissions, account-wide and per directory; `None`: what [`Account::access`] says.
    pub permissions: Option<Permissions>,
    /// Networks the account may log in from; empty: any.
    pub allow_from: Vec<ipnet::IpNet>,
    /// Storage quota.
    pub quota: Quota,
    /// Upload bandwidth of the account (all its sessions together), bytes per second.
    pub upload_rate: Option<u64>,
    /// Download bandwidth of the account (all its sessions together), bytes per second.
    pub download_rate: Option<u64>,
    /// Sessions logged in at once with this account (overrides the server's
    /// `max_sessions_per_user`).
    pub max_sessions: Option<u32>,
}

/// A storage quota: how much an account's home may hold. An upload that would go beyond
/// it is refused with `552` and leaves no partial file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Total bytes of the files under the home.
    pub max_bytes: Option<u64>,
    /// Number of files under the home.
    pub max_files: Option<u64>,
}

impl Quota {
    /// True when neither limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.max_bytes.is_none() && self.max_files.is_none()
    }
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Unknown user or wrong password (deliberately not distinguished).
    #[error("login incorrect")]
    Invalid,
    /// The account exists and the password is right, but it is disabled (answered like
    /// [`AuthError::Invalid`], logged as what it is).
    #[error("account disabled")]
    Disabled,
    /// The account store could not be read.
    #[error("account store error: {0}")]
    Backend(String),
}

/// Checks credentials.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// True if `user` logs in without a real password check (anonymous / ftp when anonymous
    /// access is on): the server then asks for an e-mail address as password.
    fn is_anonymous(&self, user: &str) -> bool;
    /// Verifies `user` and `password`. Slow hashes run off the async threads.
    async fn authenticate(&self, user: &str, password: &Password) -> Result<Account, AuthError>;
    /// The account of `user` without a password check, for logins proven another way (a
    /// verified TLS client certificate mapped to this user). Anonymous names are not
    /// accounts here: `Invalid`.
    async fn lookup(&self, user: &str) -> Result<Account, AuthError>;
}

/// Opens the [`Storage`] for an account.
pub trait StorageFactory: Send + Sync {
    /// The storage rooted at the account's home.
    fn open(&self, account: &Account) -> Result<std::sync::Arc<dyn Storage>, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::StorageError;
    use std::io;

    fn os(errno: rustix::io::Errno) -> io::Error {
        io::Error::from_raw_os_error(errno.raw_os_error())
    }

    #[test]
    fn os_errors_map_to_variants_and_codes() {
        use rustix::io::Errno;
        let cases = [
            (Errno::NOENT, "NotFound", 550),
            (Errno::EXIST, "AlreadyExists", 550),
            (Errno::ACCESS, "PermissionDenied", 550),
            (Errno::PERM, "PermissionDenied", 550),
            (Errno::ROFS, "PermissionDenied", 550),
            (Errno::LOOP, "PermissionDenied", 550),
            (Errno::ISDIR, "IsADirectory", 550),
            (Errno::NOTDIR, "NotADirectory", 550),
            (Errno::NOTEMPTY, "DirectoryNotEmpty", 550),
            (Errno::NOSPC, "NoSpace", 552),
            (Errno::DQUOT, "NoSpace", 552),
            (Errno::NAMETOOLONG, "InvalidName", 553),
            (Errno::XDEV, "Io", 451),
            (Errno::IO, "Io", 451),
        ];
        for (errno, variant, code) in cases {
            let e = StorageError::from_io(os(errno));
            assert!(format!("{e:?}").starts_with(variant), "{errno:?} -> {e:?}");
            assert_eq!(e.reply_code(), code, "{errno:?}");
        }
    }

    #[test]
    fn kinds_without_errno_map_too() {
        let escape = io::Error::new(io::ErrorKind::PermissionDenied, "outside the root");
        assert!(matches!(
            StorageError::from_io(escape),
            StorageError::PermissionDenied
        ));
        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert!(matches!(
            StorageError::from_io(missing),
            StorageError::NotFound
        ));
        let exists = io::Error::from(io::ErrorKind::AlreadyExists);
        assert!(matches!(
            StorageError::from_io(exists),
            StorageError::AlreadyExists
        ));
        let other = StorageError::from_io(io::Error::other("boom"));
        assert!(matches!(other, StorageError::Io(_)));
        assert!(!other.is_invalid_input());
    }

    #[test]
    fn invalid_input_helper() {
        let e = StorageError::invalid_input("offset beyond the end");
        assert!(e.is_invalid_input());
        assert_eq!(e.reply_code(), 451);
        assert!(!StorageError::NotFound.is_invalid_input());
        assert_eq!(StorageError::InvalidName.reply_code(), 553);
    }
}
