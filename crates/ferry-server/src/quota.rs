//! Storage quotas: how many bytes and files an account's home holds, and the checks that
//! keep uploads within the account's [`Quota`].
//!
//! # Design
//!
//! [`Quotas`] (one per server, in the sessions' shared state) keeps one [`UserUsage`] per
//! account (name and home) that has a quota, shared by all that account's sessions:
//!
//! - **First need.** The usage is computed the first time an upload of the account starts,
//!   by walking the home through the [`Storage`] trait ([`scan`]): regular files count,
//!   with their sizes; symlinks and special files are neither counted nor followed (a
//!   symlink to a big file outside the quota's reach costs nothing, as in most FTP
//!   servers). The walk is bounded ([`MAX_SCAN_DEPTH`] levels, [`MAX_SCAN_ENTRIES`]
//!   entries, a bounded queue of directories): beyond that the usage is what was counted,
//!   and a warning is logged.
//! - **Kept up to date in memory.** Uploads charge their net growth as they write (see
//!   [`UploadCharge`]), `DELE` frees the file's size and one file ([`remove_file`] stats
//!   before deleting), a rename over an existing file frees the replaced file ([`rename`]);
//!   other renames, `MKD` and `RMD` change nothing (directories are not counted).
//! - **Changes behind the server's back** (files added or removed by other means, another
//!   server on the same tree): the usage is recomputed when an upload starts and the last
//!   walk is older than [`RESCAN_AFTER`] (10 minutes) and no upload of the account is
//!   running; and a reload of the accounts (SIGHUP) drops every usage so the next upload
//!   walks again ([`Quotas::accounts_in_force`]). Until then the quota may be off by what changed outside.
//!   Entries unused for [`FORGET_AFTER`] are dropped too.
//!
//! # Uploads
//!
//! [`begin_upload`] runs before the data connection is opened. It walks the home if needed,
//! looks at the target (`STOR` over an existing file frees its size when it completes,
//! `REST` with `STOR` overwrites in place, `APPE` only grows) and refuses a new file with
//! `552` when the account already has `max_files` files. The upload's [`UploadCharge`] then
//! approves every chunk before it is written ([`UploadCharge::try_write`]): a chunk that
//! would take the home beyond `max_bytes` (counting the net growth: replacing a file of
//! size `s` frees `s`) is refused, and the transfer loop discards the upload with
//! [`ferry_storage::WriteSink::discard`] so no partial file remains, and answers `552`.
//!
//! Concurrent uploads of one account reserve their growth in the shared usage as they go,
//! so two sessions cannot both take the last free bytes. Two sessions replacing the same
//! file at once each count the old size as freed: the usage can then be off until the next
//! walk.
//!
//! An upload that ends any other way (the client closed the connection, `ABOR`, a storage
//! error) keeps what the storage keeps (see [`ferry_storage::WriteMode`]): the partial bytes
//! of a new file, an append or an in-place write stay charged; a replacement's temporary
//! file is dropped and its charge given back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use ferry_proto::listing::EntryKind;
use ferry_proto::server::{OpError, StoreMode, TransferKind};
use ferry_proto::VirtualPath;
use ferry_storage::{Account, Authenticator, Quota, Storage, StorageError};
use tokio::time::Instant;
use tracing::{debug, warn};

/// Directory levels below the home a usage walk descends.
pub const MAX_SCAN_DEPTH: usize = 64;
/// Directory entries a usage walk looks at, in all.
pub const MAX_SCAN_ENTRIES: u64 = 1_000_000;
/// Directories waiting to be walked at once (a very wide tree); beyond this, further
/// subdirectories are skipped and the walk is incomplete.
const MAX_PENDING_DIRS: usize = 65_536;
/// Entries asked of a directory lister per batch.
const SCAN_BATCH: usize = 1024;
/// A usage older than this is recomputed at the next upload that finds no other upload of
/// the account running.
pub const RESCAN_AFTER: Duration = Duration::from_secs(600);
/// A usage not used for this long is forgotten (walked again when next needed).
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The text of the `552` replies.
pub const QUOTA_EXCEEDED: &str = "Quota exceeded";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Bytes and files under a home.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Total size of the regular files.
    pub bytes: u64,
    /// Number of regular files.
    pub files: u64,
}

/// The result of a usage walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// What was counted.
    pub usage: Usage,
    /// False when a bound (depth, entries) stopped the walk before the end, or a directory
    /// could not be read: the usage is then a lower bound.
    pub complete: bool,
}

/// Walks the tree of `storage` from the root and adds up its regular files, within
/// [`MAX_SCAN_DEPTH`] and `max_entries`.
pub async fn scan(storage: &Arc<dyn Storage>, max_entries: u64) -> Scan {
    let mut usage = Usage::default();
    let mut complete = true;
    let mut seen = 0u64;
    let mut stack = vec![(VirtualPath::root(), 0usize)];
    'walk: while let Some((dir, depth)) = stack.pop() {
        let mut lister = match storage.list(&dir).await {
            Ok(l) => l,
            Err(e) => {
                debug!(dir = %dir, error = %e, "quota walk: directory not readable");
                complete = false;
                continue;
            }
        };
        loop {
            let batch = match lister.next_batch(SCAN_BATCH).await {
                Ok(b) => b,
                Err(_) => {
                    complete = false;
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            for entry in batch {
                seen += 1;
                if seen > max_entries {
                    complete = false;
                    break 'walk;
                }
                match entry.kind {
                    EntryKind::File => {
                        usage.bytes = usage.bytes.saturating_add(entry.size);
                        usage.files += 1;
                    }
                    EntryKind::Dir => {
                        // Only a plain child name: never a name the path rules would read
                        // as something else (`~`, `..`).
                        let child = match dir.join(&entry.name) {
                            Ok(c) if c.parent() == dir && c.file_name() == Some(&entry.name) => c,
                            _ => continue,
                        };
                        if depth + 1 > MAX_SCAN_DEPTH || stack.len() >= MAX_PENDING_DIRS {
                            complete = false;
                        } else {
                            stack.push((child, depth + 1));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Scan { usage, complete }
}

/// What the usage of one account looks like right now.
#[derive(Debug)]
struct UsageState {
    /// `None` until the first walk (or after [`Quotas::forget_all`]).
    usage: Option<Usage>,
    /// When the last walk ended.
    scanned_at: Instant,
    /// Uploads of the account running now.
    uploads: u32,
    /// Last time an upload began.
    last_used: Instant,
}

/// The usage of one account's home, shared by its sessions.
#[derive(Debug)]
pub struct UserUsage {
    /// Held while walking and while an upload registers, so a walk never overlaps an
    /// upload and concurrent first uploads wait for one walk.
    walk: tokio::sync::Mutex<()>,
    state: Mutex<UsageState>,
}

impl UserUsage {
    fn new() -> UserUsage {
        let now = Instant::now();
        UserUsage {
            walk: tokio::sync::Mutex::new(()),
            state: Mutex::new(UsageState {
                usage: None,
                scanned_at: now,
                uploads: 0,
                last_used: now,
            }),
        }
    }

    /// The usage as last counted, `None` before the first walk.
    pub fn current(&self) -> Option<Usage> {
        lock(&self.state).usage
    }

    /// Walks the home when the usage is unknown, or stale with no upload running.
    async fn refresh(&self, storage: &Arc<dyn Storage>) {
        let need = {
            let s = lock(&self.state);
            s.usage.is_none() || (s.uploads == 0 && s.scanned_at.elapsed() >= RESCAN_AFTER)
        };
        if !need {
            return;
        }
        let started = Instant::now();
        let result = scan(storage, MAX_SCAN_ENTRIES).await;
        if !result.complete {
            warn!(
                bytes = result.usage.bytes,
                files = result.usage.files,
                "quota: the home could not be walked entirely; usage is a lower bound"
            );
        }
        debug!(bytes = result.usage.bytes, files = result.usage.files, took = ?started.elapsed(), "quota: usage computed");
        let mut s = lock(&self.state);
        s.usage = Some(result.usage);
        s.scanned_at = Instant::now();
    }

    /// Applies a change (a deletion, an outside adjustment) when the usage is known.
    fn adjust(&self, bytes: i128, files: i64) {
        let mut s = lock(&self.state);
        if let Some(u) = s.usage.as_mut() {
            u.bytes = apply(u.bytes, bytes);
            u.files = apply(u.files, i128::from(files));
        }
    }

    /// Adds `n` bytes if that stays within `max`.
    fn try_add_bytes(&self, n: u64, max: Option<u64>) -> bool {
        let mut s = lock(&self.state);
        let Some(u) = s.usage.as_mut() else {
            return true;
        };
        let after = u.bytes.saturating_add(n);
        if max.is_some_and(|m| after > m) {
            return false;
        }
        u.bytes = after;
        true
    }
}

fn apply(v: u64, delta: i128) -> u64 {
    let r = i128::from(v).saturating_add(delta);
    u64::try_from(r.max(0)).unwrap_or(u64::MAX)
}

/// The usage of every account with a quota (see the module docs).
#[derive(Default)]
pub struct Quotas {
    users: Mutex<HashMap<(String, PathBuf), Arc<UserUsage>>>,
    /// The account checker the usages were counted under: when a reload replaces it, every
    /// usage is forgotten (see [`Quotas::accounts_in_force`]).
    accounts: Mutex<Option<Weak<dyn Authenticator>>>,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("users", &lock(&self.users).len())
            .finish_non_exhaustive()
    }
}

impl Quotas {
    /// Nothing counted yet.
    pub fn new() -> Quotas {
        Quotas::default()
    }

    /// The usage record of `account`, created (unknown) on first need; `None` when the
    /// account has no quota.
    pub fn for_account(&self, account: &Account) -> Option<Arc<UserUsage>> {
        if account.policy.quota.is_unlimited() {
            return None;
        }
        let mut users = lock(&self.users);
        users.retain(|_, u| {
            Arc::strong_count(u) > 1 || lock(&u.state).last_used.elapsed() < FORGET_AFTER
        });
        let key = (account.name.clone(), account.home.clone());
        Some(
            users
                .entry(key)
                .or_insert_with(|| Arc::new(UserUsage::new()))
                .clone(),
        )
    }

    /// The usage record of `account` if it is being tracked (a quota, and counted already).
    fn tracked(&self, account: &Account) -> Option<Arc<UserUsage>> {
        if account.policy.quota.is_unlimited() {
            return None;
        }
        let users = lock(&self.users);
        let u = users.get(&(account.name.clone(), account.home.clone()))?;
        u.current().map(|_| u.clone())
    }

    /// Tells which account checker is in force (at each transfer): when it is not the one
    /// seen before, the accounts were reloaded (SIGHUP) and every usage is forgotten, so
    /// files changed outside the server are counted again at the next upload.
    pub fn accounts_in_force(&self, current: &Arc<dyn Authenticator>) {
        let mut seen = lock(&self.accounts);
        let now = Arc::downgrade(current);
        let same = seen.as_ref().is_some_and(|w| Weak::ptr_eq(w, &now));
        if !same {
            if seen.is_some() {
                self.forget_all();
            }
            *seen = Some(now);
        }
    }

    /// Forgets every usage: each is walked again at its account's next upload (call on
    /// reload, after files may have changed outside the server). Running uploads keep their
    /// charges on the records they hold.
    pub fn forget_all(&self) {
        lock(&self.users).clear();
    }
}

/// `552 Quota exceeded...`.
pub fn exceeded(what: &str) -> OpError {
    OpError::new(552, format!("{QUOTA_EXCEEDED} ({what})"))
}

/// The quota bookkeeping of one upload (see the module docs). Dropping it without
/// [`UploadCharge::finish`] or [`UploadCharge::discard`] settles it like an interrupted
/// upload (see [`ferry_storage::WriteMode`]); before [`UploadCharge::opened`] it gives
/// everything back.
#[derive(Debug)]
pub struct UploadCharge {
    usage: Arc<UserUsage>,
    quota: Quota,
    /// Bytes the upload may write without growing the home (the replaced file's size, or
    /// for an in-place write the bytes from the offset to the end; negative past the end).
    credit: i128,
    /// Bytes written so far.
    written: u64,
    /// Growth charged so far.
    charged: u64,
    /// Counted one more file.
    new_file: bool,
    /// Replaces an existing file of this size through a temporary file.
    replaces: Option<u64>,
    /// The sink was opened (an interruption now leaves what the storage keeps).
    opened: bool,
    settled: bool,
}

impl UploadCharge {
    /// Marks the sink as opened.
    pub fn opened(&mut self) {
        self.opened = true;
    }

    /// Bytes written so far under this charge.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Approves writing `n` more bytes; `Err` (the `552` to send) when that would take the
    /// home beyond its byte quota. Nothing is charged then.
    pub fn try_write(&mut self, n: u64) -> Result<(), OpError> {
        let after = self.written.saturating_add(n);
        let growth = grown(after, self.credit);
        let need = growth.saturating_sub(self.charged);
        if need > 0 && !self.usage.try_add_bytes(need, self.quota.max_bytes) {
            return Err(exceeded("bytes"));
        }
        self.charged = self.charged.max(growth);
        self.written = after;
        Ok(())
    }

    /// The upload completed: a replacement frees the old file's size beyond what was
    /// already counted.
    pub fn finish(mut self) {
        if let Some(old) = self.replaces {
            // Final change: written - old; charged so far: max(0, written - old).
            let final_delta = i128::from(self.written) - i128::from(old);
            let extra = final_delta - i128::from(self.charged);
            self.usage.adjust(extra, 0);
        }
        self.settle();
    }

    /// The upload was discarded (the target is as before it): everything is given back.
    pub fn discard(mut self) {
        self.give_back();
        self.settle();
    }

    fn give_back(&mut self) {
        let files = if self.new_file { -1 } else { 0 };
        self.usage.adjust(-i128::from(self.charged), files);
        self.charged = 0;
        self.new_file = false;
    }

    fn settle(&mut self) {
        if !self.settled {
            self.settled = true;
            let mut s = lock(&self.usage.state);
            s.uploads = s.uploads.saturating_sub(1);
        }
    }
}

impl Drop for UploadCharge {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Interrupted: a replacement's temporary file is gone, and a sink never opened
        // changed nothing; anything else keeps its partial bytes.
        if !self.opened || self.replaces.is_some() {
            self.give_back();
        }
        self.settle();
    }
}

/// Growth of the home after writing `written` bytes with `credit` bytes free of charge.
fn grown(written: u64, credit: i128) -> u64 {
    let g = i128::from(written) - credit;
    u64::try_from(g.max(0)).unwrap_or(u64::MAX)
}

/// Starts the quota bookkeeping of an upload: `Ok(None)` when the account has no quota,
/// `Err` with the `552` to send when a new file would exceed the file count.
pub async fn begin_upload(
    quotas: &Quotas,
    account: Option<&Account>,
    storage: &Arc<dyn Storage>,
    kind: &TransferKind,
) -> Result<Option<UploadCharge>, OpError> {
    let Some(account) = account else {
        return Ok(None);
    };
    let Some(usage) = quotas.for_account(account) else {
        return Ok(None);
    };
    let quota = account.policy.quota;
    // The target: does it exist, and how big is it?
    let (existing, mode) = match kind {
        TransferKind::Stor { path, mode } => {
            let size = match storage.metadata(path).await {
                Ok(md) if md.kind == EntryKind::File => Some(md.size),
                // Errors (a directory, a missing parent...) are for the open to report.
                _ => None,
            };
            (size, Some(*mode))
        }
        TransferKind::Stou { .. } => (None, None),
        _ => return Ok(None),
    };
    let (credit, replaces) = match (mode, existing) {
        (Some(StoreMode::Replace), Some(s)) => (i128::from(s), Some(s)),
        (Some(StoreMode::At(off)), Some(s)) => (i128::from(s) - i128::from(off), None),
        _ => (0, None),
    };
    let new_file = existing.is_none();

    let _walk = usage.walk.lock().await;
    usage.refresh(storage).await;
    let mut s = lock(&usage.state);
    if new_file {
        if let Some(u) = s.usage.as_mut() {
            if quota.max_files.is_some_and(|max| u.files >= max) {
                return Err(exceeded("files"));
            }
            u.files += 1;
        }
    }
    s.uploads += 1;
    s.last_used = Instant::now();
    drop(s);
    Ok(Some(UploadCharge {
        usage: usage.clone(),
        quota,
        credit,
        written: 0,
        charged: 0,
        new_file,
        replaces,
        opened: false,
        settled: false,
    }))
}

/// The bytes the account may still store under its quota (AVBL); `None` when it has no
/// byte quota. Counts the home first when its usage is not known yet.
pub async fn room(
    quotas: &Quotas,
    account: Option<&Account>,
    storage: &Arc<dyn Storage>,
) -> Option<u64> {
    let account = account?;
    let max = account.policy.quota.max_bytes?;
    let usage = quotas.for_account(account)?;
    {
        let _walk = usage.walk.lock().await;
        usage.refresh(storage).await;
    }
    let used = usage.current().map_or(0, |u| u.bytes);
    Some(max.saturating_sub(used))
}

/// `DELE` under a quota: stats the file first, then frees its size and one file.
pub async fn remove_file(
    quotas: &Quotas,
    account: Option<&Account>,
    storage: &Arc<dyn Storage>,
    path: &VirtualPath,
) -> Result<(), StorageError> {
    let usage = account.and_then(|a| quotas.tracked(a));
    let Some(usage) = usage else {
        return storage.remove_file(path).await;
    };
    let md = storage.metadata(path).await.ok();
    storage.remove_file(path).await?;
    if let Some(md) = md.filter(|m| m.kind == EntryKind::File) {
        usage.adjust(-i128::from(md.size), -1);
    }
    Ok(())
}

/// `RNFR`/`RNTO` under a quota: a file replaced by the rename is freed.
pub async fn rename(
    quotas: &Quotas,
    account: Option<&Account>,
    storage: &Arc<dyn Storage>,
    from: &VirtualPath,
    to: &VirtualPath,
) -> Result<(), StorageError> {
    let usage = account.and_then(|a| quotas.tracked(a));
    let Some(usage) = usage else {
        return storage.rename(from, to).await;
    };
    let replaced = match storage.metadata(to).await {
        Ok(md) if md.kind == EntryKind::File && from != to => Some(md.size),
        _ => None,
    };
    storage.rename(from, to).await?;
    if let Some(size) = replaced {
        usage.adjust(-i128::from(size), -1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_with(bytes: u64, files: u64) -> Arc<UserUsage> {
        let u = Arc::new(UserUsage::new());
        lock(&u.state).usage = Some(Usage { bytes, files });
        u
    }

    fn charge(
        usage: &Arc<UserUsage>,
        max_bytes: u64,
        credit: i128,
        new_file: bool,
        replaces: Option<u64>,
    ) -> UploadCharge {
        let mut s = lock(&usage.state);
        s.uploads += 1;
        if new_file {
            if let Some(u) = s.usage.as_mut() {
                u.files += 1;
            }
        }
        drop(s);
        UploadCharge {
            usage: usage.clone(),
            quota: Quota {
                max_bytes: Some(max_bytes),
                max_files: None,
            },
            credit,
            written: 0,
            charged: 0,
            new_file,
            replaces,
            opened: true,
            settled: false,
        }
    }

    #[test]
    fn new_file_is_cut_at_the_quota_and_discard_gives_back() {
        let u = usage_with(600, 3);
        let mut c = charge(&u, 1000, 0, true, None);
        assert!(c.try_write(300).is_ok());
        assert!(c.try_write(100).is_ok());
        let e = c.try_write(1).expect_err("over");
        assert_eq!(e.code, 552);
        assert_eq!(
            u.current(),
            Some(Usage {
                bytes: 1000,
                files: 4
            })
        );
        c.discard();
        assert_eq!(
            u.current(),
            Some(Usage {
                bytes: 600,
                files: 3
            })
        );
        assert_eq!(lock(&u.state).uploads, 0);
    }

    #[test]
    fn replacing_counts_the_net_growth() {
        let u = usage_with(900, 2);
        // Replacing a 500-byte file: 600 bytes fit (900 - 500 + 600 = 1000).
        let mut c = charge(&u, 1000, 500, false, Some(500));
        assert!(c.try_write(600).is_ok());
        assert!(c.try_write(1).is_err());
        c.finish();
        assert_eq!(
            u.current(),
            Some(Usage {
                bytes: 1000,
                files: 2
            })
        );
        // Replacing it by something smaller frees space.
        let mut c = charge(&u, 1000, 600, false, Some(600));
        assert!(c.try_write(100).is_ok());
        c.finish();
        assert_eq!(
            u.current(),
            Some(Usage {
                bytes: 500,
                files: 2
            })
        );
    }

    #[test]
    fn interrupted_uploads_keep_what_the_storage_keeps() {
        let u = usage_with(0, 0);
        let mut c = charge(&u, 1000, 0, true, None);
        assert!(c.try_write(10).is_ok());
        drop(c);
        assert_eq!(
            u.current(),
            Some(Usage {
                bytes: 10,
                files: 1
            })
        );
        let mut c = charge(&u, 1000, 10, false, Some(10));
        assert!(c.try_write(50).is_ok());
        drop(c);
        assert_eq!(
            u.current(),
            Some(Usage {
                bytes: 10,
                files: 1
            })
        );
        let mut c = charge(&u, 1000, 0, true, None);
        c.opened = false;
        drop(c);
        assert_eq!(
            u.current(),
            Some(Usage {
                bytes: 10,
                files: 1
            })
        );
        assert_eq!(lock(&u.state).uploads, 0);
    }

    #[test]
    fn in_place_writes_only_count_past_the_end() {
        let u = usage_with(100, 1);
        // REST 60 on a 100-byte file: 40 bytes overwrite, the rest grows.
        let mut c = charge(&u, 150, 40, false, None);
        assert!(c.try_write(40).is_ok());
        assert_eq!(u.current().map(|x| x.bytes), Some(100));
        assert!(c.try_write(50).is_ok());
        assert!(c.try_write(1).is_err());
        c.finish();
        assert_eq!(
            u.current(),
            Some(Usage {
                bytes: 150,
                files: 1
            })
        );
    }

    #[test]
    fn concurrent_uploads_share_the_free_space() {
        let u = usage_with(0, 0);
        let mut a = charge(&u, 100, 0, true, None);
        let mut b = charge(&u, 100, 0, true, None);
        assert!(a.try_write(60).is_ok());
        assert!(b.try_write(60).is_err());
        assert!(b.try_write(40).is_ok());
        a.finish();
        b.finish();
        assert_eq!(
            u.current(),
            Some(Usage {
                bytes: 100,
                files: 2
            })
        );
    }

    #[tokio::test]
    async fn scan_counts_regular_files_and_not_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b/c")).expect("mkdir");
        std::fs::write(root.join("top.bin"), vec![0u8; 100]).expect("write");
        std::fs::write(root.join("a/one.bin"), vec![0u8; 20]).expect("write");
        std::fs::write(root.join("a/b/c/deep.bin"), vec![0u8; 3]).expect("write");
        std::os::unix::fs::symlink(root.join("top.bin"), root.join("a/link")).expect("link");
        std::os::unix::fs::symlink(root.join("a"), root.join("dirlink")).expect("link");
        let storage: Arc<dyn Storage> =
            Arc::new(ferry_storage::local::LocalFs::open(root).expect("open"));
        let full = scan(&storage, MAX_SCAN_ENTRIES).await;
        assert!(full.complete);
        assert_eq!(
            full.usage,
            Usage {
                bytes: 123,
                files: 3
            }
        );
        let cut = scan(&storage, 2).await;
        assert!(!cut.complete, "the entry bound stops the walk");
    }
}
