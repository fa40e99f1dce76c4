//! Tests of the listing cache: every listing equals the directory as it is on disk,
//! whatever changed since the last one and however, and unchanged directories are served
//! from memory.

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferry_proto::listing::EntryKind;
use ferry_proto::VirtualPath;
use ferry_storage::listcache::{ListingCache, ListingCacheStats, BUSY_WINDOW};
use ferry_storage::local::LocalFs;
use ferry_storage::{Storage, WriteMode};

/// What a listing says of one entry.
type Line = (EntryKind, u64, i64, u32, u64);

/// The filesystems whose listings are kept (ext2/3/4, XFS, Btrfs, tmpfs).
fn keeps_listings(dir: &Path) -> bool {
    let f = std::fs::File::open(dir).expect("open");
    let fs = rustix::fs::fstatfs(&f).expect("statfs");
    #[allow(clippy::useless_conversion)]
    let kind = i64::from(fs.f_type);
    [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994].contains(&kind)
}

/// A temporary directory on a filesystem whose listings are kept: the target directory,
/// /dev/shm or the system's temporary directory. Without one these tests could not see a
/// listing served from memory, so they fail rather than pass without checking it.
fn tempdir() -> tempfile::TempDir {
    let bases = [
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
        PathBuf::from("/dev/shm"),
        std::env::temp_dir(),
    ];
    for base in &bases {
        if let Ok(tmp) = tempfile::tempdir_in(base) {
            if keeps_listings(tmp.path()) {
                return tmp;
            }
        }
    }
    panic!("none of {bases:?} is on ext2/3/4, XFS, Btrfs or tmpfs: the listing cache cannot be tested here");
}

struct Fixture {
    tmp: tempfile::TempDir,
    root: PathBuf,
    fs: LocalFs,
    cache: Arc<ListingCache>,
}

fn fixture(max_bytes: usize) -> Fixture {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let cache = Arc::new(ListingCache::new(max_bytes).expect("inotify"));
    let fs = LocalFs::open(&root)
        .expect("open root")
        .with_listing_cache(Arc::clone(&cache));
    Fixture {
        tmp,
        root,
        fs,
        cache,
    }
}

fn vp(path: &str) -> VirtualPath {
    VirtualPath::root().join(path).expect("valid path")
}

async fn listing(fs: &LocalFs, path: &str) -> BTreeMap<String, Line> {
    let mut lister = fs.list(&vp(path)).await.expect("list");
    let mut all = BTreeMap::new();
    for _ in 0..100_000 {
        let batch = lister.next_batch(100).await.expect("batch");
        if batch.is_empty() {
            return all;
        }
        for e in batch {
            let line = (e.kind, e.size, e.mtime, e.mode, e.nlink);
            assert!(all.insert(e.name, line).is_none(), "listed twice");
        }
    }
    panic!("listing never ended");
}

/// The directory as it is on disk, read with the standard library.
fn truth(dir: &Path) -> BTreeMap<String, Line> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("entry");
            let md = std::fs::symlink_metadata(e.path()).expect("lstat");
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
            let line = (kind, md.len(), md.mtime(), md.mode() & 0o7777, md.nlink());
            (e.file_name().to_string_lossy().into_owned(), line)
        })
        .collect()
}

fn stats(f: &Fixture) -> ListingCacheStats {
    f.cache.stats()
}

/// Lists `d` and checks it against the disk; returns whether it came from memory.
async fn check(f: &Fixture, what: &str) -> bool {
    let before = stats(f).hits;
    let listed = listing(&f.fs, "d").await;
    assert_eq!(listed, truth(&f.root.join("d")), "after: {what}");
    stats(f).hits > before
}

#[tokio::test]
async fn every_change_shows_in_the_next_listing() {
    let f = fixture(8 << 20);
    let d = f.root.join("d");
    let other = f.tmp.path().join("other");
    std::fs::create_dir_all(d.join("sub")).expect("mkdir");
    std::fs::create_dir(&other).expect("mkdir other");
    std::fs::write(d.join("a"), b"abc").expect("write");
    std::fs::write(d.join("b"), b"bb").expect("write");
    symlink("a", d.join("link")).expect("symlink");
    // A file with a second name outside the directory.
    std::fs::write(d.join("shared"), b"1").expect("write");
    std::fs::hard_link(d.join("shared"), other.join("shared")).expect("link");

    assert!(!check(&f, "first listing").await);
    assert!(check(&f, "nothing").await, "an unchanged listing is kept");

    let day_ago = SystemTime::now() - Duration::from_secs(86_400);
    type Change = Box<dyn Fn(&Path, &Path)>;
    let changes: Vec<(&str, Change)> = vec![
        (
            "create",
            Box::new(|d, _| std::fs::write(d.join("c"), b"c").expect("c")),
        ),
        (
            "append",
            Box::new(|d, _| {
                use std::io::Write;
                let mut a = std::fs::OpenOptions::new()
                    .append(true)
                    .open(d.join("a"))
                    .expect("open");
                a.write_all(b"more").expect("append");
            }),
        ),
        (
            "truncate",
            Box::new(|d, _| {
                let b = std::fs::OpenOptions::new().write(true).open(d.join("b"));
                b.expect("open").set_len(0).expect("truncate");
            }),
        ),
        (
            "chmod",
            Box::new(|d, _| {
                let p = std::fs::Permissions::from_mode(0o600);
                std::fs::set_permissions(d.join("b"), p).expect("chmod");
            }),
        ),
        (
            "set mtime",
            Box::new(move |d, _| {
                let b = std::fs::File::options().write(true).open(d.join("b"));
                b.expect("open").set_modified(day_ago).expect("utime");
            }),
        ),
        (
            "rename inside",
            Box::new(|d, _| std::fs::rename(d.join("a"), d.join("a2")).expect("mv")),
        ),
        (
            "move in",
            Box::new(|d, o| {
                std::fs::write(o.join("in"), b"in").expect("write");
                std::fs::rename(o.join("in"), d.join("in")).expect("mv");
            }),
        ),
        (
            "move out",
            Box::new(|d, o| std::fs::rename(d.join("c"), o.join("c")).expect("mv")),
        ),
        (
            "delete",
            Box::new(|d, _| std::fs::remove_file(d.join("link")).expect("rm")),
        ),
        (
            "subdirectory gains a directory",
            Box::new(|d, _| std::fs::create_dir(d.join("sub/x")).expect("mkdir")),
        ),
        (
            "written through its other name",
            Box::new(|_, o| std::fs::write(o.join("shared"), b"longer").expect("write")),
        ),
        (
            "second name removed",
            Box::new(|_, o| std::fs::remove_file(o.join("shared")).expect("rm")),
        ),
    ];
    for (what, change) in &changes {
        change(&d, &other);
        check(&f, what).await;
        // Unchanged since: served from memory.
        assert!(check(&f, what).await, "kept again after: {what}");
    }
    // Every kept listing served a hit before the next change: none was wasted, so the
    // directory was never treated as busy.
    assert_eq!(stats(&f).passed_over, 0, "{:?}", stats(&f));

    // Changes made through the storage itself.
    let mut sink =
        f.fs.open_write(&vp("d/up"), WriteMode::Replace)
            .await
            .expect("up");
    sink.write(b"uploaded".to_vec()).await.expect("write");
    sink.finish().await.expect("finish");
    check(&f, "upload").await;
    f.fs.rename(&vp("d/up"), &vp("d/up2"))
        .await
        .expect("rename");
    check(&f, "rename").await;
    f.fs.mkdir(&vp("d/newdir")).await.expect("mkdir");
    check(&f, "mkdir").await;
    f.fs.remove_file(&vp("d/up2")).await.expect("dele");
    check(&f, "dele").await;

    let s = stats(&f);
    // Three of the twelve external changes reach the directory's watch through no event
    // (a subdirectory's content, a second name): those entries are re-read instead, and
    // the listing right after them is a hit too. The other nine, the upload and the
    // rename drop the kept listing.
    assert!(s.hits >= 16 && s.invalidated >= 11, "{s:?}");
    // The upload's listing was kept, then dropped unused by the rename: the directory
    // is busy, and the next three listings were read without being kept.
    assert_eq!((s.passed_over, s.dirs), (3, 0), "{s:?}");
}

/// Makes `d` with 1,500 files: more than the first batch, so a listing of it is still
/// being read after `list` returns.
fn many_files(f: &Fixture) -> PathBuf {
    let d = f.root.join("d");
    std::fs::create_dir_all(&d).expect("mkdir");
    for i in 0..1500 {
        std::fs::write(d.join(format!("f{i:04}")), b"x").expect("write");
    }
    d
}

#[tokio::test]
async fn a_change_during_the_read_is_not_kept() {
    let f = fixture(8 << 20);
    let d = many_files(&f);
    let mut lister = f.fs.list(&vp("d")).await.expect("list");
    std::fs::write(d.join("late"), b"late").expect("write");
    for _ in 0..100 {
        if lister.next_batch(500).await.expect("batch").is_empty() {
            break;
        }
    }
    drop(lister);
    assert_eq!(
        stats(&f).stored,
        0,
        "a listing read across a change is not kept"
    );
    // The directory is busy now: its listings are read without being kept...
    assert!(!check(&f, "late file").await);
    assert!(!check(&f, "nothing").await);
    let s = stats(&f);
    assert_eq!((s.passed_over, s.stored), (2, 0), "{s:?}");
    // ...until it has been quiet for the window.
    std::thread::sleep(BUSY_WINDOW + Duration::from_millis(100));
    assert!(!check(&f, "quiet").await);
    assert!(check(&f, "kept again").await);
}

#[tokio::test]
async fn an_abandoned_listing_is_not_kept_and_its_watch_goes() {
    let f = fixture(8 << 20);
    many_files(&f);
    let lister = f.fs.list(&vp("d")).await.expect("list");
    drop(lister);
    let s = stats(&f);
    assert_eq!((s.stored, s.dirs), (0, 0), "{s:?}");
    assert!(!check(&f, "after an abandoned listing").await);
}

#[tokio::test]
async fn a_replaced_or_removed_directory_is_not_served() {
    let f = fixture(8 << 20);
    let d = f.root.join("d");
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join("old"), b"old").expect("write");
    check(&f, "first").await;
    assert!(check(&f, "again").await);
    std::fs::remove_dir_all(&d).expect("rm -r");
    assert!(f.fs.list(&vp("d")).await.is_err(), "a removed directory");
    std::fs::create_dir(&d).expect("mkdir");
    std::fs::write(d.join("new"), b"new").expect("write");
    assert!(!check(&f, "replaced").await);
    let listed = listing(&f.fs, "d").await;
    assert!(listed.contains_key("new") && !listed.contains_key("old"));
}

#[tokio::test]
async fn the_cache_stays_within_its_bytes() {
    // Room for one small directory (about 250 bytes of entries and 150 of bookkeeping),
    // not for two, nor for a large one.
    let f = fixture(500);
    for (dir, n) in [("small1", 3), ("small2", 3), ("large", 200)] {
        let p = f.root.join(dir);
        std::fs::create_dir_all(&p).expect("mkdir");
        for i in 0..n {
            std::fs::write(p.join(format!("f{i}")), b"x").expect("write");
        }
    }
    for dir in ["small1", "small2", "large", "small1", "large"] {
        let listed = listing(&f.fs, dir).await;
        assert_eq!(listed, truth(&f.root.join(dir)), "{dir}");
        let s = stats(&f);
        assert!(s.bytes <= 500, "{s:?}");
    }
    let s = stats(&f);
    // small1 was pushed out by small2, then read again; large never fits.
    assert!(s.stored >= 2 && s.dirs == 1, "{s:?}");
}

#[tokio::test]
async fn names_that_are_not_utf8_are_listed_but_not_kept() {
    use std::os::unix::ffi::OsStrExt;
    let f = fixture(8 << 20);
    let d = f.root.join("d");
    std::fs::create_dir_all(&d).expect("mkdir");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9");
    std::fs::write(d.join(name), b"x").expect("write");
    std::fs::write(d.join("plain"), b"y").expect("write");
    for _ in 0..2 {
        let listed = listing(&f.fs, "d").await;
        assert_eq!(listed.len(), 2);
        assert!(listed.contains_key("caf\u{fffd}"));
    }
    assert_eq!(stats(&f).stored, 0);
}
