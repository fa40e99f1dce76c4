//! Directory listings kept in memory, coherent through inotify(7).
//!
//! Listing a directory costs one `statx` per entry, and on a warm system most of that is
//! the kernel's name lookup: a 50,000-entry directory takes about 0.1 s of CPU however
//! the server is written. [`ListingCache`] keeps the entries of recently listed
//! directories (name, kind, size, time, mode, links, device and inode) and serves a new
//! listing of the same directory from memory, formatted afresh for each session.
//!
//! **Coherence.** Each cached directory has an inotify watch for every change to its
//! entries (created, deleted, moved in or out, written, attributes changed) and to
//! itself (deleted, moved). The kernel queues such an event before the system call that
//! made the change returns, and every lookup here first reads the queue: a listing
//! served from the cache therefore reflects every change made before it was asked, by
//! Ferry or by anything else on the machine. The first event for a directory drops its
//! entries and its watch, so a directory being written to costs nothing more until it is
//! listed again. The watch is placed before the directory is read, and a listing whose
//! directory changed while it was read is not kept.
//!
//! What inotify does not report, the caller re-reads (`Entry::needs_recheck`) or a
//! cached listing outlives for at most [`MAX_AGE`]:
//! - a subdirectory's own time, size and link count change when entries are made inside
//!   it, which is reported to the subdirectory's watchers only: subdirectories are
//!   re-read on every listing;
//! - a file with several names is reported through the directory of the name it was
//!   changed by: such files are re-read on every listing, and a file that gets a second
//!   name elsewhere after the listing was kept (or is written through a shared mapping)
//!   may show old figures for up to [`MAX_AGE`].
//!
//! **Directories that change all the time.** Keeping a listing costs its reading about
//! 15 % more (the entries are copied as they stream out). A directory whose kept listing
//! was dropped by a change before it served a single hit (or that changed while it was
//! being read) proved that cost wasted: for [`BUSY_WINDOW`] after that drop its listings
//! are read without being kept, and caching resumes after a quiet spell. At most
//! [`MAX_BUSY`] such directories are remembered.
//!
//! Only directories on local filesystems whose changes all pass through this kernel
//! are kept (see `local::INLINE_CREATE_FS`); a network filesystem's listing is read every
//! time. The kept entries are bounded in bytes (LRU) and in directories; an overflow of
//! the kernel's event queue drops everything. Listings past [`MAX_AGE`] are swept out
//! (with their watches) at most every tenth of that age, when the cache is next used, so
//! the directories nobody lists again do not hold memory and watches until the budget
//! pushes them out.

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferry_proto::listing::{EntryInfo, EntryKind};
use rustix::fs::inotify::{self, ReadFlags, WatchFlags};

/// The longest a cached listing is served (see the module documentation for what it
/// bounds).
pub const MAX_AGE: Duration = Duration::from_secs(10);

/// Directories watched at once (kept or being read); the kernel's default limit per user
/// is 8,192 or more.
const MAX_WATCHES: usize = 4096;

/// What a kept listing costs besides its entries (its watch, its kept record and its two
/// map slots), estimated: an empty directory is not free.
const DIR_COST: usize = std::mem::size_of::<Watch>()
    + std::mem::size_of::<DirKey>()
    + 2 * std::mem::size_of::<i32>()
    + 32;

/// How long a directory whose kept listing was dropped unused is listed without being kept
/// (see the module documentation).
pub const BUSY_WINDOW: Duration = Duration::from_secs(2);

/// Busy directories remembered at once; past that, a new one is not remembered (its
/// listings are kept as usual) until the sweep forgets those whose window has passed.
pub const MAX_BUSY: usize = 1024;

/// Events read per lookup at most; more than that is handled as an overflow.
const MAX_DRAIN_EVENTS: usize = 65_536;

/// What a watch is told of.
fn watch_flags() -> WatchFlags {
    WatchFlags::MODIFY
        | WatchFlags::ATTRIB
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVE_SELF
        | WatchFlags::ONLYDIR
}

/// A directory's identity: device and inode.
pub(crate) type DirKey = (u64, u64);

/// One directory entry as kept: what a listing line needs, without the shown owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The name (one component; not UTF-8 names with replacement characters).
    pub name: Box<str>,
    /// Its kind (a symlink is not followed).
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Link count.
    pub nlink: u64,
    /// Device of the entry's inode.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl Entry {
    /// Whether a kept copy of this entry may be out of date without any event on its
    /// directory: subdirectories and files with more than one name.
    pub fn needs_recheck(&self) -> bool {
        self.kind == EntryKind::Dir || self.nlink > 1
    }

    /// The memory this entry takes when kept (estimated).
    pub fn cost(&self) -> usize {
        std::mem::size_of::<Entry>() + self.name.len() + 16
    }
}

/// Counters of a [`ListingCache`], for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingCacheStats {
    /// Listings served from memory.
    pub hits: u64,
    /// Listings read from the directory.
    pub misses: u64,
    /// Listings kept after being read.
    pub stored: u64,
    /// Kept (or being read) listings dropped because their directory changed.
    pub invalidated: u64,
    /// Directories kept now.
    pub dirs: usize,
    /// Bytes kept now (estimated: the entries and each kept directory's bookkeeping).
    pub bytes: usize,
    /// Listings read without being kept because their directory had just dropped a kept
    /// listing unused (see [`BUSY_WINDOW`]).
    pub passed_over: u64,
}

/// A cache of directory listings shared by every session of a process (see the module
/// documentation).
#[derive(Debug)]
pub struct ListingCache {
    state: Mutex<State>,
    max_bytes: usize,
}

#[derive(Debug)]
struct State {
    inotify: OwnedFd,
    watches: HashMap<i32, Watch>,
    by_key: HashMap<DirKey, i32>,
    bytes: usize,
    tick: u64,
    stats: ListingCacheStats,
    /// Directories whose kept listing (or a listing being read) was dropped unused, and
    /// when (see [`BUSY_WINDOW`]).
    busy: HashMap<DirKey, Instant>,
    /// The longest a listing is served ([`MAX_AGE`]; shorter in tests).
    max_age: Duration,
    /// When expired listings were last swept out.
    swept: Instant,
}

#[derive(Debug)]
struct Watch {
    key: DirKey,
    /// Bumped by every event on the directory.
    epoch: u64,
    /// Listings of it being read now.
    readers: usize,
    kept: Option<Kept>,
}

#[derive(Debug)]
struct Kept {
    entries: Arc<[Entry]>,
    bytes: usize,
    /// Whether it served a listing.
    hit: bool,
    used: u64,
    since: Instant,
}

/// A listing being read with a watch on its directory; hand it back with
/// [`ListingCache::finish`], or drop it.
#[derive(Debug)]
pub(crate) struct Ticket {
    cache: Arc<ListingCache>,
    wd: i32,
    epoch: u64,
    done: bool,
}

impl Ticket {
    /// The cache's byte limit: a listing larger than that is not worth recording.
    pub fn max_bytes(&self) -> usize {
        self.cache.max_bytes
    }

    /// Keeps `entries` (taking `bytes`, from [`Entry::cost`]) unless the directory
    /// changed since the ticket was taken.
    pub fn finish(mut self, entries: Vec<Entry>, bytes: usize) {
        self.done = true;
        self.cache.finish(self.wd, self.epoch, entries, bytes);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            let mut s = self.cache.lock();
            s.release(self.wd);
        }
    }
}

impl ListingCache {
    /// A cache keeping at most `max_bytes` of entries. Fails when the process cannot have
    /// an inotify instance (`EMFILE` past the per-user limit, or no inotify in the kernel).
    pub fn new(max_bytes: usize) -> std::io::Result<ListingCache> {
        Self::with_max_age(max_bytes, MAX_AGE)
    }

    /// A cache serving a listing for at most `max_age` (the tests' way to see expiry).
    fn with_max_age(max_bytes: usize, max_age: Duration) -> std::io::Result<ListingCache> {
        let inotify =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        Ok(ListingCache {
            state: Mutex::new(State {
                inotify,
                watches: HashMap::new(),
                by_key: HashMap::new(),
                bytes: 0,
                tick: 0,
                stats: ListingCacheStats::default(),
                busy: HashMap::new(),
                max_age,
                swept: Instant::now(),
            }),
            max_bytes,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters now (after reading the pending events).
    pub fn stats(&self) -> ListingCacheStats {
        let mut s = self.lock();
        s.drain();
        s.stats.dirs = s.watches.values().filter(|w| w.kept.is_some()).count();
        s.stats.bytes = s.bytes;
        s.stats
    }

    /// The kept entries of the directory `key`, if they are still exact (counted as a hit;
    /// `None` is not counted: the caller reads the directory and counts that).
    pub(crate) fn get(&self, key: DirKey) -> Option<Arc<[Entry]>> {
        let mut s = self.lock();
        s.drain();
        let wd = *s.by_key.get(&key)?;
        s.tick += 1;
        let tick = s.tick;
        let max_age = s.max_age;
        let w = s.watches.get_mut(&wd)?;
        let kept = w.kept.as_mut()?;
        if kept.since.elapsed() > max_age {
            let bytes = kept.bytes;
            w.kept = None;
            s.bytes -= bytes;
            s.forget_if_unused(wd);
            return None;
        }
        kept.used = tick;
        kept.hit = true;
        let entries = Arc::clone(&kept.entries);
        s.stats.hits += 1;
        Some(entries)
    }

    /// Counts a listing read from the directory (with or without a ticket).
    pub(crate) fn count_miss(&self) {
        self.lock().stats.misses += 1;
    }

    /// Watches the directory open as `dir` (identity `key`) before it is read; `None` when
    /// no watch can be placed (the listing is then simply not kept).
    pub(crate) fn start(self: &Arc<Self>, dir: BorrowedFd<'_>, key: DirKey) -> Option<Ticket> {
        let mut s = self.lock();
        s.drain();
        if let Some(since) = s.busy.get(&key) {
            if since.elapsed() < BUSY_WINDOW {
                s.stats.passed_over += 1;
                return None;
            }
            s.busy.remove(&key);
        }
        let wd = match s.by_key.get(&key) {
            Some(&wd) => wd,
            None => {
                if s.watches.len() >= MAX_WATCHES && !s.evict_oldest() {
                    return None;
                }
                // The directory's own descriptor names the inode: no path to race with.
                let path = format!("/proc/self/fd/{}", dir.as_raw_fd());
                let wd = inotify::add_watch(&s.inotify, path, watch_flags()).ok()?;
                match s.watches.get(&wd) {
                    // One watch per inode: a known descriptor must be the same directory.
                    Some(w) if w.key != key => return None,
                    Some(_) => {}
                    None => {
                        s.watches.insert(
                            wd,
                            Watch {
                                key,
                                epoch: 0,
                                readers: 0,
                                kept: None,
                            },
                        );
                    }
                }
                s.by_key.insert(key, wd);
                wd
            }
        };
        let w = s.watches.get_mut(&wd)?;
        w.readers += 1;
        let epoch = w.epoch;
        Some(Ticket {
            cache: Arc::clone(self),
            wd,
            epoch,
            done: false,
        })
    }

    fn finish(&self, wd: i32, epoch: u64, entries: Vec<Entry>, bytes: usize) {
        let bytes = bytes.saturating_add(DIR_COST);
        let mut s = self.lock();
        s.drain();
        let unchanged = s
            .watches
            .get(&wd)
            .is_some_and(|w| w.epoch == epoch && w.kept.is_none());
        if unchanged && bytes <= self.max_bytes {
            while s.bytes + bytes > self.max_bytes {
                if !s.evict_oldest() {
                    break;
                }
            }
            if s.bytes + bytes <= self.max_bytes {
                s.tick += 1;
                let used = s.tick;
                if let Some(w) = s.watches.get_mut(&wd) {
                    w.kept = Some(Kept {
                        entries: entries.into(),
                        bytes,
                        hit: false,
                        used,
                        since: Instant::now(),
                    });
                    s.bytes += bytes;
                    s.stats.stored += 1;
                }
            }
        }
        s.release(wd);
    }
}

impl State {
    /// Reads every pending event and drops what it makes out of date; now and then also
    /// what is too old.
    fn drain(&mut self) {
        self.read_events();
        if self.swept.elapsed() >= self.max_age / 10 {
            self.sweep();
        }
    }

    /// Drops the kept listings older than `max_age` (and their watches), and forgets the
    /// busy directories whose window has passed.
    fn sweep(&mut self) {
        self.swept = Instant::now();
        let max_age = self.max_age;
        let expired: Vec<i32> = self
            .watches
            .iter()
            .filter(|(_, w)| w.kept.as_ref().is_some_and(|k| k.since.elapsed() > max_age))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in expired {
            if let Some(kept) = self.watches.get_mut(&wd).and_then(|w| w.kept.take()) {
                self.bytes -= kept.bytes;
            }
            self.forget_if_unused(wd);
        }
        self.busy.retain(|_, since| since.elapsed() < BUSY_WINDOW);
    }

    /// Reads every pending event and drops what it makes out of date.
    fn read_events(&mut self) {
        let mut events: Vec<(i32, ReadFlags)> = Vec::new();
        let mut overflow = false;
        {
            let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
            let mut reader = inotify::Reader::new(&self.inotify, &mut buf);
            loop {
                if events.len() >= MAX_DRAIN_EVENTS {
                    overflow = true;
                    break;
                }
                match reader.next() {
                    Ok(event) => events.push((event.wd(), event.events())),
                    Err(rustix::io::Errno::AGAIN) => break,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => {
                        overflow = true;
                        break;
                    }
                }
            }
        }
        for (wd, flags) in events {
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                overflow = true;
                continue;
            }
            self.changed(wd, flags.contains(ReadFlags::IGNORED));
        }
        if overflow {
            let wds: Vec<i32> = self.watches.keys().copied().collect();
            for wd in wds {
                self.changed(wd, false);
            }
        }
    }

    /// The directory of watch `wd` changed (or its watch is gone: `ignored`).
    fn changed(&mut self, wd: i32, ignored: bool) {
        let Some(w) = self.watches.get_mut(&wd) else {
            return;
        };
        w.epoch += 1;
        let key = w.key;
        let wasted = match w.kept.take() {
            Some(kept) => {
                self.bytes -= kept.bytes;
                self.stats.invalidated += 1;
                !kept.hit
            }
            None if w.readers > 0 => {
                self.stats.invalidated += 1;
                true
            }
            None => false,
        };
        if wasted {
            self.mark_busy(key);
        }
        if ignored {
            // The kernel removed the watch (the directory is gone): forget it, so that a
            // reader still holding a ticket keeps nothing.
            self.watches.remove(&wd);
            if self.by_key.get(&key) == Some(&wd) {
                self.by_key.remove(&key);
            }
        } else {
            self.forget_if_unused(wd);
        }
    }

    /// Remembers that directory `key` just dropped a listing unused (see [`BUSY_WINDOW`]).
    fn mark_busy(&mut self, key: DirKey) {
        if self.busy.len() >= MAX_BUSY && !self.busy.contains_key(&key) {
            return;
        }
        self.busy.insert(key, Instant::now());
    }

    /// A reader of watch `wd` is done.
    fn release(&mut self, wd: i32) {
        if let Some(w) = self.watches.get_mut(&wd) {
            w.readers = w.readers.saturating_sub(1);
        }
        self.forget_if_unused(wd);
    }

    /// Removes watch `wd` when nothing is kept or being read under it.
    fn forget_if_unused(&mut self, wd: i32) {
        let unused = self
            .watches
            .get(&wd)
            .is_some_and(|w| w.readers == 0 && w.kept.is_none());
        if unused {
            if let Some(w) = self.watches.remove(&wd) {
                self.by_key.remove(&w.key);
            }
            // Its last events, and the IN_IGNORED of the removal, find no watch.
            let _ = inotify::remove_watch(&self.inotify, wd);
        }
    }

    /// Drops the least recently used kept listing; false when none is kept.
    fn evict_oldest(&mut self) -> bool {
        let oldest = self
            .watches
            .iter()
            .filter_map(|(wd, w)| w.kept.as_ref().map(|k| (k.used, *wd)))
            .min();
        let Some((_, wd)) = oldest else {
            return false;
        };
        if let Some(kept) = self.watches.get_mut(&wd).and_then(|w| w.kept.take()) {
            self.bytes -= kept.bytes;
        }
        self.forget_if_unused(wd);
        true
    }
}

/// Converts a kept entry to what the listing writers take.
pub(crate) fn entry_info(entry: &Entry, owner: &str) -> EntryInfo {
    info_named(entry.name.to_string(), entry, owner)
}

/// Converts a freshly read entry to what the listing writers take.
pub(crate) fn entry_info_owned(mut entry: Entry, owner: &str) -> EntryInfo {
    let name = std::mem::take(&mut entry.name).into_string();
    info_named(name, &entry, owner)
}

fn info_named(name: String, entry: &Entry, owner: &str) -> EntryInfo {
    EntryInfo {
        name,
        kind: entry.kind,
        size: entry.size,
        mtime: entry.mtime,
        mode: entry.mode,
        nlink: entry.nlink,
        owner: owner.to_string(),
        group: owner.to_string(),
        unique: Some(crate::local::unique_id(entry.dev, entry.ino)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    /// Keeps an empty listing of `dir` in `cache`.
    fn keep(cache: &Arc<ListingCache>, dir: &std::path::Path) {
        let f = std::fs::File::open(dir).expect("open dir");
        let md = f.metadata().expect("stat dir");
        let ticket = cache
            .start(f.as_fd(), (md.dev(), md.ino()))
            .expect("a watch");
        ticket.finish(Vec::new(), 0);
    }

    #[test]
    fn expired_listings_are_swept_out_with_their_watches() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let age = Duration::from_millis(200);
        let cache = Arc::new(ListingCache::with_max_age(1 << 20, age).expect("inotify"));
        for name in ["a", "b", "c"] {
            let dir = tmp.path().join(name);
            std::fs::create_dir(&dir).expect("mkdir");
            keep(&cache, &dir);
        }
        let s = cache.stats();
        assert_eq!((s.dirs, s.stored), (3, 3), "{s:?}");
        assert!(s.bytes >= 3 * DIR_COST, "{s:?}");
        // Nobody lists them again: the next use of the cache after they expired drops
        // them, and their watches.
        std::thread::sleep(age + age / 2);
        let s = cache.stats();
        assert_eq!((s.dirs, s.bytes), (0, 0), "{s:?}");
        let state = cache.lock();
        assert!(
            state.watches.is_empty() && state.by_key.is_empty(),
            "{state:?}"
        );
    }
}
