//! The local filesystem backend.
//!
//! [`LocalFs`] serves one directory tree (an account's home). Every operation goes through
//! a `cap_std::fs::Dir` handle opened on the root, with the [`VirtualPath::relative`] form of
//! the path, so neither `..`, nor an absolute path, nor a symlink pointing outside the root
//! can reach anything above it: cap-std resolves each component itself and refuses an
//! escape with `PermissionDenied`. Symlinks that stay inside the root are followed when a
//! file is read or a directory entered, and listed as symlinks.
//!
//! The filesystem calls are blocking; each runs in `tokio::task::spawn_blocking`, except
//! three that cannot wait for the disk and run on the calling thread first: opening a
//! file to read, reading an entry's metadata, and checking that a page layout is absent,
//! through `openat2(2)` with `RESOLVE_CACHED` (the kernel refuses unless the whole lookup
//! is in its caches), same confinement as cap-std; when that does not succeed they go the
//! blocking way. A trip to the blocking pool costs two thread switches, so the others
//! are grouped: a listing reads its first 1,024 entries on the trip that opens the
//! directory, and an upload's `finish` drops the old page layout on its own trip.
//!
//! With a [`ListingCache`] (given by [`LocalFsFactory::with_listing_cache`]), a listing
//! opens its directory on the calling thread in the same cached way and, when the cache
//! holds that directory (by device and inode) unchanged, is served from memory: only its
//! subdirectories and files with several names are read again (on the calling thread
//! when there are at most 32). Otherwise it is read as above, with a watch placed first,
//! and kept when it was read to the end with no change meanwhile.
//!
//! Uploads that can splice also take their first bytes by a plain write on the calling
//! thread ([`WriteSink::write_now`]), so a small file needs no pipe.
//!
//! Uploads ([`LocalFs::open_write`]) follow [`WriteMode`]:
//! - `Replace` of an existing file writes to `.ferry-upload-<random>` in the same directory
//!   and renames it over the target on `finish`; abort (or dropping the sink) removes it, so
//!   the old file stays intact. A new file is created under its own name, so an interrupted
//!   upload keeps its partial bytes for a later `REST` + `STOR` or `APPE`. The rename
//!   replaces the name itself: a `STOR` over a symlink replaces the link with a file (the
//!   file it pointed to is left as it was). The new file keeps the old one's permission bits.
//! - `Append` opens for appending (creating the file if missing), `At(n)` overwrites the
//!   existing file in place from byte `n` (no truncation; past the end it extends the
//!   file), `CreateNew` creates exclusively.
//! - `discard` (an upload over a quota) leaves the target as before: a created file is
//!   removed, a replacement's temporary file dropped, an append or in-place write truncated
//!   back to the original length.
//!
//! Page layouts ([`Storage::set_page_layout`], STRU P) are kept beside their file as
//! `.<name>.ferry-pages`; removing or renaming the file removes or renames its layout, and
//! a rename over a file drops the target's layout.
//!
//! Names starting with [`TEMP_PREFIX`], and names `.<name>.ferry-pages` ([`PAGES_SUFFIX`]),
//! belong to Ferry: they are never listed, reading them
//! gives [`StorageError::NotFound`] and creating, changing or removing them gives
//! [`StorageError::InvalidName`].
//!
//! Owner and group are shown as `ftp`/`ftp` (resolving real names would need the user
//! database, which the listing does not need). Names that are not UTF-8 are listed with
//! replacement characters.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt, PermissionsExt, ReadDir};
use ferry_proto::listing::{EntryInfo, EntryKind};
use ferry_proto::VirtualPath;

use crate::listcache::{self, Entry, ListingCache, ListingCacheStats, Ticket};
use crate::{Account, DirLister, Metadata, ReadHandle, Storage, StorageError, StorageFactory};
use crate::{WriteMode, WriteSink};

/// Prefix of Ferry's temporary upload files (hidden from listings, reserved).
pub const TEMP_PREFIX: &str = ".ferry-upload-";
/// Suffix of the page-layout files `.<name>.ferry-pages` (hidden, reserved).
pub const PAGES_SUFFIX: &str = ".ferry-pages";

/// Names that belong to Ferry: temporary uploads and page layouts.
fn is_ferry_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) || (name.starts_with('.') && name.ends_with(PAGES_SUFFIX))
}

/// The page-layout file of the file at `rel`.
fn pages_rel(rel: &str) -> Option<String> {
    match split_rel(rel)? {
        (".", name) => Some(format!(".{name}{PAGES_SUFFIX}")),
        (parent, name) => Some(format!("{parent}/.{name}{PAGES_SUFFIX}")),
    }
}

/// Removes a file, a missing one being fine.
fn remove_if_any(root: &Dir, rel: &str) -> Result<(), StorageError> {
    match root.remove_file(rel) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(e)),
        _ => Ok(()),
    }
}

/// Largest batch a [`DirLister`] of this backend returns at once, whatever is asked.
pub const MAX_BATCH: usize = 4096;

/// Longest file name component accepted, in bytes (the usual `NAME_MAX`).
const MAX_NAME: usize = 255;

/// Attempts at finding an unused temporary name before giving up.
const TEMP_ATTEMPTS: usize = 8;

/// Owner and group shown in listings.
const SHOWN_OWNER: &str = "ftp";

/// A directory tree on the local disk, confined to its root.
#[derive(Debug, Clone)]
pub struct LocalFs {
    root: Arc<Dir>,
    /// Listings kept in memory, shared with the other storages of the same factory.
    cache: Option<Arc<ListingCache>>,
}

impl LocalFs {
    /// Opens the tree at `root`, creating the directory (and its parents) if missing.
    pub fn open(root: &Path) -> Result<LocalFs, StorageError> {
        // Opened first and created only when missing: every login opens its home, and the
        // usual case (it exists) then costs one open instead of mkdir, stat and open.
        let dir = match Dir::open_ambient_dir(root, cap_std::ambient_authority()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(root).map_err(StorageError::from_io)?;
                Dir::open_ambient_dir(root, cap_std::ambient_authority())
            }
            other => other,
        }
        .map_err(StorageError::from_io)?;
        Ok(LocalFs {
            root: Arc::new(dir),
            cache: None,
        })
    }

    /// Serves repeated listings from `cache` (see [`crate::listcache`]).
    pub fn with_listing_cache(mut self, cache: Arc<ListingCache>) -> LocalFs {
        self.cache = Some(cache);
        self
    }

    /// Runs `f` with the root directory on the blocking thread pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Dir) -> Result<T, StorageError> + Send + 'static,
    {
        let root = Arc::clone(&self.root);
        run_blocking(move || f(&root)).await
    }
}

/// Opens a [`LocalFs`] at each account's home.
///
/// Sessions of accounts with the same home share one open directory handle (one file
/// descriptor for all of them, not one per session, which matters when tens of thousands
/// of sessions are logged in). A handle is reused only while the home path still names the
/// same directory (device and inode), so a home directory replaced on disk is opened anew;
/// handles are dropped with their last session.
#[derive(Debug, Clone, Default)]
pub struct LocalFsFactory {
    open: Arc<Mutex<HashMap<PathBuf, SharedRoot>>>,
    cache: Option<Arc<ListingCache>>,
}

/// An open home directory, by the device and inode it had when opened.
#[derive(Debug)]
struct SharedRoot {
    dev: u64,
    ino: u64,
    dir: Weak<Dir>,
}

/// Homes remembered before dead entries are swept from the table.
const MAX_SHARED_ROOTS: usize = 1024;

impl LocalFsFactory {
    /// A factory for [`LocalFs`] storages.
    pub fn new() -> LocalFsFactory {
        LocalFsFactory::default()
    }

    /// Keeps recent listings in memory, up to `max_bytes`, for every storage this factory
    /// opens (see [`crate::listcache`]); 0 keeps none. Fails only when the process cannot
    /// have an inotify instance.
    pub fn with_listing_cache(mut self, max_bytes: usize) -> std::io::Result<LocalFsFactory> {
        self.cache = match max_bytes {
            0 => None,
            n => Some(Arc::new(ListingCache::new(n)?)),
        };
        Ok(self)
    }

    /// The listing cache's counters, when there is one.
    pub fn listing_cache_stats(&self) -> Option<ListingCacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    fn open_shared(&self, home: &Path) -> Result<LocalFs, StorageError> {
        // One stat per login when the home exists (the usual case); created when missing.
        let meta = match std::fs::metadata(home) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(home).map_err(StorageError::from_io)?;
                std::fs::metadata(home)
            }
            other => other,
        }
        .map_err(StorageError::from_io)?;
        let (dev, ino) = (
            std::os::unix::fs::MetadataExt::dev(&meta),
            std::os::unix::fs::MetadataExt::ino(&meta),
        );
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(shared) = open.get(home) {
            if shared.dev == dev && shared.ino == ino {
                if let Some(root) = shared.dir.upgrade() {
                    return Ok(LocalFs {
                        root,
                        cache: self.cache.clone(),
                    });
                }
            }
        }
        let mut fs = LocalFs::open(home)?;
        fs.cache = self.cache.clone();
        if open.len() >= MAX_SHARED_ROOTS {
            open.retain(|_, s| s.dir.strong_count() > 0);
        }
        if open.len() < MAX_SHARED_ROOTS {
            open.insert(
                home.to_path_buf(),
                SharedRoot {
                    dev,
                    ino,
                    dir: Arc::downgrade(&fs.root),
                },
            );
        }
        Ok(fs)
    }
}

impl StorageFactory for LocalFsFactory {
    fn open(&self, account: &Account) -> Result<Arc<dyn Storage>, StorageError> {
        Ok(Arc::new(self.open_shared(&account.home)?))
    }
}

/// Runs a blocking closure on tokio's blocking pool; a panic in it becomes an `Io` error.
async fn run_blocking<T, F>(f: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(_) => Err(StorageError::Io(std::io::Error::other(
            "storage task failed",
        ))),
    }
}

fn io_err(e: std::io::Error) -> StorageError {
    StorageError::from_io(e)
}

/// The path relative to the root, re-checked: no NUL byte, no overlong component.
fn checked_rel(path: &VirtualPath) -> Result<String, StorageError> {
    let rel = path.relative();
    if rel.contains('\0') || rel.split('/').any(|c| c.len() > MAX_NAME) {
        return Err(StorageError::InvalidName);
    }
    Ok(rel.to_string())
}

/// Splits a relative path into its parent (`"."` at the top) and its final component;
/// `None` for the root itself.
fn split_rel(rel: &str) -> Option<(&str, &str)> {
    if rel == "." || rel.is_empty() {
        return None;
    }
    match rel.rsplit_once('/') {
        Some((parent, name)) if !parent.is_empty() => Some((parent, name)),
        Some((_, name)) => Some((".", name)),
        None => Some((".", rel)),
    }
}

fn is_temp_name(rel: &str) -> bool {
    split_rel(rel).is_some_and(|(_, name)| is_ferry_name(name))
}

/// For operations that read: Ferry's temporary files do not exist.
fn readable_rel(path: &VirtualPath) -> Result<String, StorageError> {
    let rel = checked_rel(path)?;
    if is_temp_name(&rel) {
        return Err(StorageError::NotFound);
    }
    Ok(rel)
}

/// For operations that change something: Ferry's temporary names are refused.
fn writable_rel(path: &VirtualPath) -> Result<String, StorageError> {
    let rel = checked_rel(path)?;
    if is_temp_name(&rel) {
        return Err(StorageError::InvalidName);
    }
    Ok(rel)
}

/// Open flags added to every file open: `O_NONBLOCK`, so that opening a FIFO placed in
/// the tree by someone else cannot hang a blocking thread (it is refused right after).
fn nonblock_flag() -> i32 {
    i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0)
}

/// Clears `O_NONBLOCK` again on a file checked to be regular (where it has no effect, but
/// the handle goes to other code).
fn clear_nonblock(file: &std::fs::File) {
    if let Ok(flags) = rustix::fs::fcntl_getfl(file) {
        let _ = rustix::fs::fcntl_setfl(file, flags - rustix::fs::OFlags::NONBLOCK);
    }
}

/// Opens `rel` under `root` with `openat2(2)`, confined like cap-std's opens
/// (`RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: no `..` nor symlink leads out of the root)
/// and with `RESOLVE_CACHED`: the kernel fails it (`EAGAIN`) unless every component is
/// already in its caches, so it never waits for the disk and may run on an async thread.
/// `O_NONBLOCK` (not with `O_PATH`) and `O_CLOEXEC` are added (a FIFO cannot hang the
/// open). Callers fall back to the blocking path on any error but those they handle.
fn open_cached(root: &Dir, rel: &str, flags: rustix::fs::OFlags) -> rustix::io::Result<OwnedFd> {
    use rustix::fs::{OFlags, ResolveFlags};
    // openat2(2) refuses O_NONBLOCK with O_PATH (EINVAL), which opens nothing anyway.
    let extra = if flags.contains(OFlags::PATH) {
        OFlags::CLOEXEC
    } else {
        OFlags::NONBLOCK | OFlags::CLOEXEC
    };
    rustix::fs::openat2(
        root,
        rel,
        flags | extra,
        rustix::fs::Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::CACHED,
    )
}

/// Checks that an opened file is a regular file.
fn require_regular(file: &std::fs::File) -> Result<u64, StorageError> {
    let md = file.metadata().map_err(io_err)?;
    if md.is_dir() {
        return Err(StorageError::IsADirectory);
    }
    if !md.is_file() {
        return Err(StorageError::PermissionDenied);
    }
    clear_nonblock(file);
    Ok(md.len())
}

/// Builds the listing information of one entry.
fn entry_info(name: String, md: &cap_std::fs::Metadata) -> EntryInfo {
    listcache::entry_info(&entry_of(name.into_boxed_str(), md), SHOWN_OWNER)
}

/// Builds the kept form of one entry ([`listcache::Entry`]).
fn entry_of(name: Box<str>, md: &cap_std::fs::Metadata) -> Entry {
    let ft = md.file_type();
    let kind = if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    };
    Entry {
        name,
        kind,
        size: md.len(),
        mtime: md.mtime(),
        mode: md.mode() & 0o7777,
        nlink: md.nlink(),
        dev: md.dev(),
        ino: md.ino(),
    }
}

/// `{dev:x}g{ino:x}`, the MLSx `unique` fact, without formatting machinery (listings of
/// large directories build one per entry).
pub(crate) fn unique_id(dev: u64, ino: u64) -> String {
    let mut s = String::with_capacity(33);
    push_hex(&mut s, dev);
    s.push('g');
    push_hex(&mut s, ino);
    s
}

/// Appends `v` in lowercase hexadecimal, without leading zeros.
fn push_hex(s: &mut String, v: u64) {
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        let nibble = (v >> (i * 4)) & 0xf;
        s.push(char::from_digit(nibble as u32, 16).unwrap_or('0'));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unique_id_is_hex_dev_g_ino() {
        for (d, i) in [(0, 0), (1, 15), (0x803, 0x1234abcd), (u64::MAX, 16)] {
            assert_eq!(super::unique_id(d, i), format!("{d:x}g{i:x}"));
        }
    }

    /// The cached open takes `O_PATH` (metadata, page-layout probes): openat2 refuses
    /// `O_NONBLOCK` with it, which once made every such probe fail and go to the pool.
    #[test]
    fn cached_open_works_with_o_path() {
        use rustix::fs::OFlags;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("f"), b"abc").expect("write");
        let root = cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority())
            .expect("root");
        // Looked up once (as a listing or the upload that made it would), so cached.
        std::fs::metadata(dir.path().join("f")).expect("stat");
        let fd = super::open_cached(&root, "f", OFlags::PATH).expect("cached O_PATH open");
        let md = std::fs::File::from(fd).metadata().expect("fstat of O_PATH");
        assert_eq!(md.len(), 3);
        let fd = super::open_cached(&root, "f", OFlags::RDONLY).expect("cached open");
        assert_eq!(std::fs::File::from(fd).metadata().expect("fstat").len(), 3);
        // A name looked up and found missing is known missing without the disk.
        let _ = std::fs::metadata(dir.path().join("gone"));
        assert_eq!(
            super::open_cached(&root, "gone", OFlags::PATH | OFlags::NOFOLLOW).err(),
            Some(rustix::io::Errno::NOENT)
        );
        // Nothing leads out of the root.
        assert!(super::open_cached(&root, "../f", OFlags::PATH).is_err());
    }
}

fn unix_time(secs: i64) -> Result<SystemTime, StorageError> {
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    t.ok_or_else(|| StorageError::invalid_input("time out of range"))
}

#[async_trait]
impl Storage for LocalFs {
    async fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        let rel = readable_rel(path)?;
        let name = match split_rel(&rel) {
            Some((_, name)) => name.to_string(),
            None => "/".to_string(),
        };
        // Fast path, on the calling thread: the lookup in the kernel's caches only (see
        // `open_cached`), then the attributes of that inode, which are in memory. Any
        // failure goes the usual way, which decides the error.
        if let Ok(fd) = open_cached(&self.root, &rel, rustix::fs::OFlags::PATH) {
            let file = cap_std::fs::File::from_std(std::fs::File::from(fd));
            if let Ok(md) = file.metadata() {
                return Ok(entry_info(name, &md));
            }
        }
        self.blocking(move |root| {
            let md = root.metadata(&rel).map_err(io_err)?;
            Ok(entry_info(name, &md))
        })
        .await
    }

    async fn list(&self, path: &VirtualPath) -> Result<Box<dyn DirLister>, StorageError> {
        let rel = readable_rel(path)?;
        let cache = self.cache.clone();
        // With a cache: the directory opened on this thread when the kernel has the whole
        // lookup cached (the open checks read permission, as reading it would), and a kept
        // listing of it served without a trip to the blocking pool.
        let mut opened = None;
        if let Some(cache) = &cache {
            use rustix::fs::OFlags;
            if let Ok(fd) = open_cached(&self.root, &rel, OFlags::RDONLY | OFlags::DIRECTORY) {
                let dir = Dir::from_std_file(std::fs::File::from(fd));
                if let Ok(md) = dir.dir_metadata() {
                    let key = (md.dev(), md.ino());
                    if let Some(kept) = cache.get(key) {
                        let rechecks = kept.iter().filter(|e| e.needs_recheck()).count();
                        let fresh = if rechecks <= INLINE_RECHECKS {
                            recheck(&dir, &kept)
                        } else {
                            let kept = Arc::clone(&kept);
                            run_blocking(move || Ok(recheck(&dir, &kept))).await?
                        };
                        return Ok(Box::new(KeptLister {
                            kept,
                            fresh,
                            next: 0,
                        }));
                    }
                    opened = Some((dir, key));
                }
            }
        }
        // The first batch is read on the same trip to the blocking pool as the open: a
        // small directory (the usual one) then costs one trip instead of two.
        self.blocking(move |root| {
            let Some(cache) = cache else {
                let entries = root.read_dir(&rel).map_err(io_err)?;
                return Ok(LocalLister::start(entries, None));
            };
            cache.count_miss();
            let (dir, key) = match opened {
                Some((dir, key)) => (dir, Some(key)),
                None => (root.open_dir(&rel).map_err(io_err)?, None),
            };
            let key = key.or_else(|| dir.dir_metadata().ok().map(|md| (md.dev(), md.ino())));
            let recording = match key {
                Some(key) if on_local_fs(&dir) => {
                    use std::os::fd::AsFd;
                    cache.start(dir.as_fd(), key).map(Recording::new)
                }
                _ => None,
            };
            // Read after the watch is placed: a change from now on is either in what is
            // read or reported to the cache.
            let entries = dir.entries().map_err(io_err)?;
            Ok(LocalLister::start(entries, recording))
        })
        .await
    }

    async fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<ReadHandle, StorageError> {
        let rel = readable_rel(path)?;
        // Fast path, on the calling thread: an open the kernel guarantees not to wait for
        // the disk during the lookup (see `open_cached`). Any failure goes the usual way
        // (on the blocking pool, through cap-std), which decides the error.
        if let Ok(fd) = open_cached(&self.root, &rel, rustix::fs::OFlags::RDONLY) {
            let file = std::fs::File::from(fd);
            if let Ok(len) = require_regular(&file) {
                if offset <= len {
                    let mut file = file;
                    if offset == 0 || file.seek(SeekFrom::Start(offset)).is_ok() {
                        return Ok(ReadHandle::File { file, offset, len });
                    }
                }
            }
        }
        self.blocking(move |root| {
            let mut options = OpenOptions::new();
            options.read(true).custom_flags(nonblock_flag());
            let mut file = root.open_with(&rel, &options).map_err(io_err)?.into_std();
            let len = require_regular(&file)?;
            if offset > len {
                return Err(StorageError::invalid_input(
                    "restart offset beyond the end of the file",
                ));
            }
            if offset > 0 {
                file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
            }
            Ok(ReadHandle::File { file, offset, len })
        })
        .await
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<Box<dyn WriteSink>, StorageError> {
        let rel = writable_rel(path)?;
        if matches!(mode, WriteMode::Replace | WriteMode::CreateNew) {
            if let Some(state) = create_inline(&self.root, &rel) {
                return Ok(Box::new(LocalSink { state: Some(state) }));
            }
        }
        let state = self
            .blocking(move |root| open_sink(root, &rel, mode))
            .await?;
        Ok(Box::new(LocalSink { state: Some(state) }))
    }

    async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let rel = writable_rel(path)?;
        if split_rel(&rel).is_none() {
            return Err(StorageError::AlreadyExists);
        }
        self.blocking(move |root| root.create_dir(&rel).map_err(io_err))
            .await
    }

    async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let rel = writable_rel(path)?;
        if split_rel(&rel).is_none() {
            return Err(StorageError::PermissionDenied);
        }
        self.blocking(move |root| root.remove_dir(&rel).map_err(io_err))
            .await
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let rel = writable_rel(path)?;
        if split_rel(&rel).is_none() {
            return Err(StorageError::IsADirectory);
        }
        self.blocking(move |root| {
            // unlink(2) of a directory is EISDIR on Linux but EPERM elsewhere: check first.
            let md = root.symlink_metadata(&rel).map_err(io_err)?;
            if md.is_dir() {
                return Err(StorageError::IsADirectory);
            }
            root.remove_file(&rel).map_err(io_err)?;
            if let Some(pages) = pages_rel(&rel) {
                let _ = remove_if_any(root, &pages);
            }
            Ok(())
        })
        .await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        let from = writable_rel(from)?;
        let to = writable_rel(to)?;
        if split_rel(&from).is_none() || split_rel(&to).is_none() {
            return Err(StorageError::PermissionDenied);
        }
        self.blocking(move |root| {
            root.rename(&from, root, &to).map_err(io_err)?;
            // The page layout follows its file; the target's own is dropped.
            if let (Some(a), Some(b)) = (pages_rel(&from), pages_rel(&to)) {
                if root.rename(&a, root, &b).is_err() {
                    let _ = remove_if_any(root, &b);
                }
            }
            Ok(())
        })
        .await
    }

    async fn page_layout(&self, path: &VirtualPath) -> Result<Option<Vec<u8>>, StorageError> {
        let rel = readable_rel(path)?;
        let Some(pages) = pages_rel(&rel) else {
            return Ok(None);
        };
        self.blocking(move |root| {
            use std::io::Read;
            let mut options = OpenOptions::new();
            options.read(true).custom_flags(nonblock_flag());
            let file = match root.open_with(&pages, &options) {
                Ok(f) => f.into_std(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(e)),
            };
            require_regular(&file)?;
            let mut buf = Vec::new();
            file.take(crate::MAX_PAGE_LAYOUT as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(io_err)?;
            Ok((buf.len() <= crate::MAX_PAGE_LAYOUT).then_some(buf))
        })
        .await
    }

    async fn set_page_layout(
        &self,
        path: &VirtualPath,
        layout: Option<Vec<u8>>,
    ) -> Result<(), StorageError> {
        let rel = writable_rel(path)?;
        let Some(pages) = pages_rel(&rel) else {
            return Ok(());
        };
        // Dropping a layout that does not exist (every upload of a file without one): when
        // the kernel's caches already know the name is absent, there is nothing to do.
        if layout.is_none() {
            let how = rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW;
            if let Err(rustix::io::Errno::NOENT) = open_cached(&self.root, &pages, how) {
                return Ok(());
            }
        }
        self.blocking(move |root| match layout {
            Some(bytes) if bytes.len() <= crate::MAX_PAGE_LAYOUT => {
                root.write(&pages, bytes).map_err(io_err)
            }
            _ => remove_if_any(root, &pages),
        })
        .await
    }

    async fn set_mtime(&self, path: &VirtualPath, mtime: i64) -> Result<(), StorageError> {
        let rel = writable_rel(path)?;
        let time = unix_time(mtime)?;
        self.blocking(move |root| {
            // Read-only is enough for futimens(2) when we own the file; O_NONBLOCK keeps a
            // FIFO from blocking the open. Directories open the same way.
            let mut options = OpenOptions::new();
            options.read(true).custom_flags(nonblock_flag());
            let file = root.open_with(&rel, &options).map_err(io_err)?.into_std();
            let md = file.metadata().map_err(io_err)?;
            if !md.is_dir() && !md.is_file() {
                return Err(StorageError::PermissionDenied);
            }
            file.set_modified(time).map_err(io_err)
        })
        .await
    }

    async fn chmod(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        let rel = writable_rel(path)?;
        // Only the rwx bits: a remote user never sets setuid, setgid or sticky.
        let perm = cap_std::fs::Permissions::from_mode(mode & 0o777);
        self.blocking(move |root| root.set_permissions(&rel, perm).map_err(io_err))
            .await
    }

    async fn available_space(&self, path: &VirtualPath) -> Result<u64, StorageError> {
        let rel = readable_rel(path)?;
        self.blocking(move |root| {
            // statvfs(2) on an open descriptor (fstatvfs) keeps the lookup inside the root.
            let mut options = OpenOptions::new();
            options.read(true).custom_flags(nonblock_flag());
            let file = root.open_with(&rel, &options).map_err(io_err)?.into_std();
            let st = rustix::fs::fstatvfs(&file).map_err(|e| io_err(e.into()))?;
            Ok(st.f_bavail.saturating_mul(st.f_frsize))
        })
        .await
    }
}

/// Entries read with the open of a listed directory ([`LocalLister`]).
const FIRST_BATCH: usize = 1024;

/// Kept entries re-read on the calling thread at most; more go to the blocking pool.
const INLINE_RECHECKS: usize = 32;

/// Whether listings of `dir` may be kept: its filesystem changes only through this
/// kernel, which reports every change to inotify ([`INLINE_CREATE_FS`]).
fn on_local_fs(dir: &Dir) -> bool {
    match rustix::fs::fstatfs(dir) {
        // The integer type of `f_type` depends on the architecture.
        #[allow(clippy::useless_conversion)]
        Ok(fs) => INLINE_CREATE_FS.contains(&i64::from(fs.f_type)),
        Err(_) => false,
    }
}

/// Re-reads the kept entries inotify may not have reported on
/// ([`Entry::needs_recheck`]): by index, the fresh entry, or `None` for one that is gone.
fn recheck(dir: &Dir, kept: &[Entry]) -> HashMap<usize, Option<Entry>> {
    kept.iter()
        .enumerate()
        .filter(|(_, e)| e.needs_recheck())
        .map(|(i, e)| {
            let fresh = dir
                .symlink_metadata(&*e.name)
                .ok()
                .map(|md| entry_of(e.name.clone(), &md));
            (i, fresh)
        })
        .collect()
}

/// Streams a directory with the `ReadDir` iterator kept between batches, recording what
/// it reads for the listing cache when there is one.
struct LocalLister {
    /// `None` once the end (or an unreadable directory stream) was reached.
    entries: Option<ReadDir>,
    /// Entries read ahead with the open, handed out before any new read.
    first: Vec<EntryInfo>,
    /// The copy for the cache, while the listing can still be kept.
    recording: Option<Recording>,
}

impl LocalLister {
    /// A lister of `entries` with its first batch read (blocking).
    fn start(entries: ReadDir, recording: Option<Recording>) -> Box<dyn DirLister> {
        let mut lister = LocalLister {
            entries: Some(entries),
            first: Vec::new(),
            recording,
        };
        lister.first = lister.read(FIRST_BATCH);
        Box::new(lister)
    }

    /// Reads up to `max` more entries (blocking), recording them; at the end, hands the
    /// recording to the cache.
    fn read(&mut self, max: usize) -> Vec<EntryInfo> {
        let Some(entries) = self.entries.take() else {
            return Vec::new();
        };
        let (entries, batch, exact) = read_batch(entries, max);
        self.entries = entries;
        if let Some(rec) = &mut self.recording {
            if !exact || !rec.add(&batch) {
                self.recording = None;
            }
        }
        if self.entries.is_none() {
            if let Some(rec) = self.recording.take() {
                rec.ticket.finish(rec.kept, rec.bytes);
            }
        }
        batch
            .into_iter()
            .map(|e| listcache::entry_info_owned(e, SHOWN_OWNER))
            .collect()
    }
}

#[async_trait]
impl DirLister for LocalLister {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Metadata>, StorageError> {
        let max = max.clamp(1, MAX_BATCH);
        if !self.first.is_empty() {
            let rest = self.first.split_off(max.min(self.first.len()));
            return Ok(std::mem::replace(&mut self.first, rest));
        }
        if self.entries.is_none() {
            return Ok(Vec::new());
        }
        let mut lister = LocalLister {
            entries: self.entries.take(),
            first: Vec::new(),
            recording: self.recording.take(),
        };
        let (lister, batch) = run_blocking(move || {
            let batch = lister.read(max);
            Ok((lister, batch))
        })
        .await?;
        self.entries = lister.entries;
        self.recording = lister.recording;
        Ok(batch)
    }
}

/// A listing being copied for the cache.
struct Recording {
    ticket: Ticket,
    kept: Vec<Entry>,
    bytes: usize,
}

impl Recording {
    fn new(ticket: Ticket) -> Recording {
        Recording {
            ticket,
            kept: Vec::new(),
            bytes: 0,
        }
    }

    /// Copies `batch`; false once the listing is too large to keep.
    fn add(&mut self, batch: &[Entry]) -> bool {
        self.bytes += batch.iter().map(Entry::cost).sum::<usize>();
        if self.bytes > self.ticket.max_bytes() {
            return false;
        }
        self.kept.extend_from_slice(batch);
        true
    }
}

/// Serves a kept listing, with the re-read entries in place of their kept copies.
struct KeptLister {
    kept: Arc<[Entry]>,
    fresh: HashMap<usize, Option<Entry>>,
    next: usize,
}

#[async_trait]
impl DirLister for KeptLister {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Metadata>, StorageError> {
        let max = max.clamp(1, MAX_BATCH);
        let mut batch = Vec::with_capacity(max.min(self.kept.len() - self.next));
        while batch.len() < max && self.next < self.kept.len() {
            let i = self.next;
            self.next += 1;
            let entry = match self.fresh.get(&i) {
                Some(Some(fresh)) => fresh,
                Some(None) => continue,
                None => &self.kept[i],
            };
            batch.push(listcache::entry_info(entry, SHOWN_OWNER));
        }
        Ok(batch)
    }
}

/// Reads up to `max` entries; returns the iterator back unless the end was reached, and
/// whether every name was valid UTF-8 (a listing with a replaced name is not kept: its
/// entry could not be found again by that name).
/// Entries that vanish between reading the name and reading their metadata are skipped; an
/// error of the directory stream itself ends the listing with what was read.
fn read_batch(mut entries: ReadDir, max: usize) -> (Option<ReadDir>, Vec<Entry>, bool) {
    let mut batch = Vec::with_capacity(max.min(256));
    let mut exact = true;
    while batch.len() < max {
        let entry = match entries.next() {
            Some(Ok(entry)) => entry,
            Some(Err(_)) | None => return (None, batch, exact),
        };
        let os_name = entry.file_name();
        let name = match os_name.to_str() {
            Some(name) => Box::from(name),
            None => {
                exact = false;
                os_name.to_string_lossy().into_owned().into_boxed_str()
            }
        };
        if &*name == "." || &*name == ".." || is_ferry_name(&name) {
            continue;
        }
        // DirEntry::metadata does not follow symlinks: a symlink is listed as one, and a
        // broken one is listed too.
        if let Ok(md) = entry.metadata() {
            batch.push(entry_of(name, &md));
        }
    }
    (Some(entries), batch, exact)
}

/// Opens the file (or temporary file) an upload writes to.
fn open_sink(root: &Dir, rel: &str, mode: WriteMode) -> Result<SinkState, StorageError> {
    let (parent_rel, name) = split_rel(rel).ok_or(StorageError::IsADirectory)?;
    let parent = root.open_dir(parent_rel).map_err(io_err)?;
    let existing = match parent.metadata(name) {
        Ok(md) if md.is_dir() => return Err(StorageError::IsADirectory),
        Ok(md) if !md.is_file() => return Err(StorageError::PermissionDenied),
        Ok(md) => Some(md),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(e)),
    };
    let mut options = OpenOptions::new();
    options.write(true).custom_flags(nonblock_flag());
    let mut replace = None;
    // What the target was before the upload, for `discard`: its length, or `None` when
    // this upload creates it.
    let original = existing.as_ref().map(|md| md.len());
    let file = match mode {
        WriteMode::Replace => {
            let created = match existing {
                None => {
                    options.create_new(true);
                    match parent.open_with(name, &options) {
                        Ok(file) => Some(file.into_std()),
                        // Created by someone else meanwhile: replace it like any other.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                        Err(e) => return Err(io_err(e)),
                    }
                }
                Some(_) => None,
            };
            match created {
                Some(file) => file,
                None => {
                    let (temp, file) = create_temp(&parent)?;
                    // Keep the permission bits of the file being replaced.
                    if let Some(md) = &existing {
                        let perm =
                            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(
                                md.mode() & 0o7777,
                            );
                        let _ = file.set_permissions(perm);
                    }
                    replace = Some(Replacement {
                        temp,
                        target: name.to_string(),
                    });
                    file
                }
            }
        }
        WriteMode::Append => {
            options.append(true).create(true);
            parent.open_with(name, &options).map_err(io_err)?.into_std()
        }
        WriteMode::At(offset) => {
            if existing.is_none() {
                return Err(StorageError::NotFound);
            }
            let mut file = parent.open_with(name, &options).map_err(io_err)?.into_std();
            require_regular(&file)?;
            file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
            file
        }
        WriteMode::CreateNew => {
            if existing.is_some() {
                return Err(StorageError::AlreadyExists);
            }
            options.create_new(true);
            parent.open_with(name, &options).map_err(io_err)?.into_std()
        }
    };
    // From here on the state owns the temporary file: any error removes it.
    let state = SinkState {
        file: Some(file),
        parent,
        replace,
        target: name.to_string(),
        original,
        written: 0,
        append: mode == WriteMode::Append,
        inline: false,
    };
    if let Some(file) = &state.file {
        require_regular(file)?;
    }
    Ok(state)
}

/// Filesystems whose create and close of a new file ask nothing of another machine or
/// process (`statfs(2)` magic numbers: ext2/3/4, XFS, Btrfs, tmpfs): on them an upload
/// creating a new file may be opened and closed on the calling thread.
const INLINE_CREATE_FS: [i64; 4] = [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994];

/// The fast path of an upload that creates a new file, on the calling thread: the parent
/// directory found in the kernel's caches (see `open_cached`), on a local filesystem
/// ([`INLINE_CREATE_FS`]), and the name created exclusively. Creating may wait for the
/// local disk (the directory's blocks, the journal), as the upload's own writes into the
/// page cache (`splice`) already may on this thread; never for a network or another
/// process. `None` (nothing was created) sends the upload the usual way: an existing
/// target (a replacement, through a temporary file), an uncached or other parent, and
/// every error, which the usual way then reports.
fn create_inline(root: &Dir, rel: &str) -> Option<SinkState> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let (parent_rel, name) = split_rel(rel)?;
    let parent = open_cached(root, parent_rel, OFlags::PATH | OFlags::DIRECTORY).ok()?;
    let fs = rustix::fs::fstatfs(&parent).ok()?;
    // The integer type of `f_type` depends on the architecture.
    #[allow(clippy::useless_conversion)]
    let kind = i64::from(fs.f_type);
    if !INLINE_CREATE_FS.contains(&kind) {
        return None;
    }
    // O_EXCL: a name that exists in any form (file, directory, symlink, FIFO) fails with
    // EEXIST, and a file created here is a new regular file (no O_NONBLOCK needed).
    let fd = rustix::fs::openat2(
        &parent,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::from_bits_truncate(0o666),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    Some(SinkState {
        file: Some(std::fs::File::from(fd)),
        parent: Dir::from_std_file(std::fs::File::from(parent)),
        replace: None,
        target: name.to_string(),
        original: None,
        written: 0,
        append: false,
        inline: true,
    })
}

/// Creates a new temporary upload file in `parent`.
fn create_temp(parent: &Dir) -> Result<(String, std::fs::File), StorageError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true).mode(0o600);
    let mut last = None;
    for _ in 0..TEMP_ATTEMPTS {
        let temp = format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>());
        match parent.open_with(&temp, &options) {
            Ok(file) => return Ok((temp, file.into_std())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_err(e)),
        }
    }
    Err(last.map_or(StorageError::AlreadyExists, io_err))
}

/// A pending replacement: `temp` is renamed to `target` (both in the parent) on finish.
#[derive(Debug)]
struct Replacement {
    temp: String,
    target: String,
}

/// What an upload holds. Dropping it without [`SinkState::finish`] removes the temporary
/// file of a replacement, which is exactly the abort rule of [`WriteMode`].
#[derive(Debug)]
struct SinkState {
    /// `None` while a write runs on the blocking pool (or after it was lost to a cancelled
    /// write).
    file: Option<std::fs::File>,
    /// The directory holding the target, so a rename of an ancestor does not misplace it.
    parent: Dir,
    replace: Option<Replacement>,
    /// The target's name in `parent`.
    target: String,
    /// The target's length before the upload; `None` when the upload created it.
    original: Option<u64>,
    written: u64,
    /// Opened with `O_APPEND` (APPE), which `splice(2)` refuses.
    append: bool,
    /// Created by [`create_inline`]: a new file on a local filesystem, closed on the
    /// calling thread too.
    inline: bool,
}

impl SinkState {
    fn finish(mut self) -> Result<u64, StorageError> {
        let Some(mut file) = self.file.take() else {
            return Err(broken_sink());
        };
        file.flush().map_err(io_err)?;
        drop(file);
        if let Some(replace) = self.replace.take() {
            if let Err(e) = self
                .parent
                .rename(&replace.temp, &self.parent, &replace.target)
            {
                let _ = self.parent.remove_file(&replace.temp);
                return Err(io_err(e));
            }
        }
        // Any complete upload ends the file's old page layout (the server writes the new
        // one of a STRU P upload afterwards). Dropped here, on the thread already doing
        // this upload's file work: the server's `set_page_layout(None)` that follows then
        // finds the name absent in the kernel's caches and needs no trip of its own. (A
        // failure here is left to that call, which reports it.)
        let _ = self
            .parent
            .remove_file(format!(".{}{PAGES_SUFFIX}", self.target));
        Ok(self.written)
    }

    /// Leaves the target as it was before the upload (see [`WriteSink::discard`]).
    fn discard(mut self) -> Result<(), StorageError> {
        let file = self.file.take();
        if self.replace.is_some() {
            // Drop removes the temporary file; the target was never touched.
            return Ok(());
        }
        match self.original {
            None => {
                drop(file);
                match self.parent.remove_file(&self.target) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(io_err(e)),
                }
            }
            Some(len) => {
                let file = match file {
                    Some(f) => f,
                    // The handle was lost to a cancelled write: open the target again.
                    None => {
                        let mut options = OpenOptions::new();
                        options.write(true).custom_flags(nonblock_flag());
                        let f = self
                            .parent
                            .open_with(&self.target, &options)
                            .map_err(io_err)?
                            .into_std();
                        require_regular(&f)?;
                        f
                    }
                };
                file.set_len(len).map_err(io_err)
            }
        }
    }
}

impl Drop for SinkState {
    fn drop(&mut self) {
        if let Some(replace) = self.replace.take() {
            self.file = None;
            let _ = self.parent.remove_file(&replace.temp);
        }
    }
}

fn broken_sink() -> StorageError {
    StorageError::Io(std::io::Error::other(
        "upload interrupted by an earlier failure",
    ))
}

/// The [`WriteSink`] of [`LocalFs`].
#[derive(Debug)]
struct LocalSink {
    /// `None` once finished or aborted.
    state: Option<SinkState>,
}

#[async_trait]
impl WriteSink for LocalSink {
    async fn write(&mut self, mut buf: Vec<u8>) -> Result<Vec<u8>, StorageError> {
        let state = self.state.as_mut().ok_or_else(broken_sink)?;
        let mut file = state.file.take().ok_or_else(broken_sink)?;
        let len = buf.len() as u64;
        let (file, buf, result) = run_blocking(move || {
            let result = file.write_all(&buf);
            buf.clear();
            Ok((file, buf, result))
        })
        .await?;
        state.file = Some(file);
        result.map_err(io_err)?;
        state.written = state.written.saturating_add(len);
        Ok(buf)
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StorageError> {
        let state = self.state.take().ok_or_else(broken_sink)?;
        if state.inline {
            // A close and the unlink of a name in a directory just written: no trip.
            return state.finish();
        }
        run_blocking(move || state.finish()).await
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StorageError> {
        if let Some(state) = self.state.take() {
            run_blocking(move || {
                drop(state);
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    async fn discard(mut self: Box<Self>) -> Result<(), StorageError> {
        match self.state.take() {
            Some(state) => run_blocking(move || state.discard()).await,
            None => Ok(()),
        }
    }

    fn can_splice(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| !s.append && s.file.is_some())
    }

    fn splice_from(
        &mut self,
        pipe: std::os::fd::BorrowedFd<'_>,
        len: usize,
    ) -> Result<usize, StorageError> {
        let state = self.state.as_mut().ok_or_else(broken_sink)?;
        if state.append {
            return Err(StorageError::Unsupported("splice into an appended file"));
        }
        let file = state.file.as_ref().ok_or_else(broken_sink)?;
        let n = rustix::pipe::splice(pipe, None, file, None, len, rustix::pipe::SpliceFlags::MOVE)
            .map_err(|e| io_err(e.into()))?;
        state.written = state.written.saturating_add(n as u64);
        Ok(n)
    }

    fn write_now(&mut self, buf: &[u8]) -> Result<usize, StorageError> {
        let state = self.state.as_mut().ok_or_else(broken_sink)?;
        if state.append {
            return Err(StorageError::Unsupported("write_now into an appended file"));
        }
        let mut file = state.file.as_ref().ok_or_else(broken_sink)?;
        let n = loop {
            match file.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.map_err(io_err)?,
            }
        };
        state.written = state.written.saturating_add(n as u64);
        Ok(n)
    }
}
