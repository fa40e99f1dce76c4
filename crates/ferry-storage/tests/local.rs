//! Tests of the local filesystem backend: confinement, uploads, listings, changes.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_proto::listing::EntryKind;
use ferry_proto::VirtualPath;
use ferry_storage::local::{LocalFs, LocalFsFactory, TEMP_PREFIX};
use ferry_storage::{
    Access, Account, ReadHandle, Storage, StorageError, StorageFactory, WriteMode, WriteSink,
};

/// A tempdir holding `root/` (served) and `outside/` (must stay unreachable).
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    fs: LocalFs,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir outside");
    std::fs::write(outside.join("secret.txt"), b"top secret").expect("write secret");
    let fs = LocalFs::open(&root).expect("open root");
    Fixture {
        _tmp: tmp,
        root,
        outside,
        fs,
    }
}

fn vp(path: &str) -> VirtualPath {
    VirtualPath::root().join(path).expect("valid path")
}

fn read_handle(handle: ReadHandle) -> (Vec<u8>, u64, u64) {
    match handle {
        ReadHandle::File {
            mut file,
            offset,
            len,
        } => {
            let mut buf = Vec::new();
            file.read_to_end(&mut buf).expect("read");
            (buf, offset, len)
        }
        #[allow(unreachable_patterns)]
        _ => panic!("unexpected handle"),
    }
}

async fn read_all(fs: &LocalFs, path: &str) -> Result<Vec<u8>, StorageError> {
    Ok(read_handle(fs.open_read(&vp(path), 0).await?).0)
}

async fn write_file(fs: &LocalFs, path: &str, mode: WriteMode, data: &[u8]) -> u64 {
    let mut sink = fs.open_write(&vp(path), mode).await.expect("open_write");
    let buf = sink.write(data.to_vec()).await.expect("write");
    assert!(buf.is_empty());
    sink.finish().await.expect("finish")
}

/// Names in a directory on disk, temporary files included.
fn disk_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn temp_files(dir: &Path) -> Vec<String> {
    disk_names(dir)
        .into_iter()
        .filter(|n| n.starts_with(TEMP_PREFIX))
        .collect()
}

async fn list_all(fs: &LocalFs, path: &str, batch: usize) -> Vec<ferry_storage::Metadata> {
    let mut lister = fs.list(&vp(path)).await.expect("list");
    let mut all = Vec::new();
    for _ in 0..100_000 {
        let next = lister.next_batch(batch).await.expect("batch");
        if next.is_empty() {
            return all;
        }
        assert!(next.len() <= batch);
        all.extend(next);
    }
    panic!("listing never ended");
}

#[tokio::test]
async fn open_creates_missing_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("a/b/c");
    LocalFs::open(&root).expect("open");
    assert!(root.is_dir());
}

/// A read-write account `alice` whose home is `home`.
fn alice_at(home: &Path) -> Account {
    Account {
        name: "alice".into(),
        home: home.to_path_buf(),
        access: Access::ReadWrite,
        anonymous: false,
        policy: Default::default(),
    }
}

#[tokio::test]
async fn factory_opens_account_home() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    let account = alice_at(&home);
    let storage = LocalFsFactory::new().open(&account).expect("open");
    storage.mkdir(&vp("x")).await.expect("mkdir");
    assert!(home.join("x").is_dir());
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[tokio::test]
async fn factory_shares_one_handle_per_home_and_follows_a_replaced_home() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    let account = alice_at(&home);
    let factory = LocalFsFactory::new();
    let first = factory.open(&account).expect("open");
    let before = open_fds();
    let sessions: Vec<_> = (0..200)
        .map(|_| factory.open(&account).expect("open"))
        .collect();
    // Other tests in this binary open files meanwhile: allow some slack, far below 200.
    assert!(
        open_fds() < before + 50,
        "200 sessions of one home opened {} descriptors",
        open_fds().saturating_sub(before)
    );
    std::fs::write(home.join("old.txt"), b"old").expect("write");
    assert_eq!(
        sessions[0]
            .metadata(&vp("old.txt"))
            .await
            .expect("stat")
            .size,
        3
    );
    // The home replaced on disk: a new session sees the new directory.
    drop(sessions);
    std::fs::rename(&home, tmp.path().join("home.old")).expect("rename");
    std::fs::create_dir(&home).expect("mkdir");
    std::fs::write(home.join("new.txt"), b"new!").expect("write");
    let fresh = factory.open(&account).expect("open");
    assert!(fresh.metadata(&vp("old.txt")).await.is_err());
    assert_eq!(fresh.metadata(&vp("new.txt")).await.expect("stat").size, 4);
    // The session opened before keeps its directory.
    assert_eq!(first.metadata(&vp("old.txt")).await.expect("stat").size, 3);
}

#[tokio::test]
async fn dotdot_stays_inside_root() {
    let f = fixture();
    std::fs::write(f.root.join("in.txt"), b"inside").expect("write");
    // `..` is resolved lexically by VirtualPath: it never leaves `/`.
    let p = vp("../../outside/secret.txt");
    assert_eq!(p.as_str(), "/outside/secret.txt");
    assert!(matches!(
        f.fs.open_read(&p, 0).await,
        Err(StorageError::NotFound)
    ));
    assert_eq!(read_all(&f.fs, "../in.txt").await.expect("read"), b"inside");
}

#[tokio::test]
async fn absolute_symlink_out_of_root_is_refused() {
    let f = fixture();
    symlink("/etc", f.root.join("etc")).expect("symlink");
    symlink("/etc/passwd", f.root.join("passwd")).expect("symlink");
    for path in ["etc/passwd", "passwd"] {
        let err = f.fs.open_read(&vp(path), 0).await.expect_err(path);
        assert!(
            matches!(err, StorageError::PermissionDenied),
            "{path}: {err:?}"
        );
        assert!(f.fs.metadata(&vp(path)).await.is_err());
    }
    assert!(matches!(
        f.fs.list(&vp("etc")).await.err(),
        Some(StorageError::PermissionDenied)
    ));
    // The link itself is listed, as a symlink.
    let listed = list_all(&f.fs, "/", 10).await;
    let etc = listed.iter().find(|e| e.name == "etc").expect("etc listed");
    assert_eq!(etc.kind, EntryKind::Symlink);
}

#[tokio::test]
async fn relative_symlink_out_of_root_is_refused() {
    let f = fixture();
    symlink("../outside", f.root.join("out")).expect("symlink");
    symlink("../outside/secret.txt", f.root.join("secret")).expect("symlink");
    for path in ["out/secret.txt", "secret"] {
        let err = f.fs.open_read(&vp(path), 0).await.expect_err(path);
        assert!(
            matches!(err, StorageError::PermissionDenied),
            "{path}: {err:?}"
        );
        let err = f.fs.metadata(&vp(path)).await.expect_err(path);
        assert!(matches!(err, StorageError::PermissionDenied), "{err:?}");
    }
    assert!(f.fs.list(&vp("out")).await.is_err());
    // Writing through the links fails too, and nothing changes outside.
    for mode in [WriteMode::Replace, WriteMode::Append, WriteMode::CreateNew] {
        assert!(f.fs.open_write(&vp("out/new.txt"), mode).await.is_err());
        assert!(f.fs.open_write(&vp("secret"), mode).await.is_err());
    }
    assert!(f
        .fs
        .open_write(&vp("secret"), WriteMode::At(0))
        .await
        .is_err());
    assert!(f.fs.mkdir(&vp("out/newdir")).await.is_err());
    assert!(f.fs.chmod(&vp("secret"), 0o777).await.is_err());
    assert!(f.fs.set_mtime(&vp("secret"), 0).await.is_err());
    assert!(f
        .fs
        .rename(&vp("out/secret.txt"), &vp("got"))
        .await
        .is_err());
    assert!(f.fs.remove_file(&vp("out/secret.txt")).await.is_err());
    assert_eq!(
        disk_names(&f.outside),
        BTreeSet::from(["secret.txt".to_string()])
    );
    assert_eq!(
        std::fs::read(f.outside.join("secret.txt")).expect("read"),
        b"top secret"
    );
    let mode = std::fs::metadata(f.outside.join("secret.txt"))
        .expect("stat")
        .permissions()
        .mode();
    assert_ne!(mode & 0o777, 0o777);
}

#[tokio::test]
async fn symlink_inside_root_is_followed() {
    let f = fixture();
    std::fs::create_dir(f.root.join("real")).expect("mkdir");
    std::fs::write(f.root.join("real/file.txt"), b"content").expect("write");
    symlink("real", f.root.join("alias")).expect("symlink");
    symlink("real/file.txt", f.root.join("link.txt")).expect("symlink");
    assert_eq!(
        read_all(&f.fs, "alias/file.txt").await.expect("read"),
        b"content"
    );
    assert_eq!(read_all(&f.fs, "link.txt").await.expect("read"), b"content");
    let md = f.fs.metadata(&vp("link.txt")).await.expect("metadata");
    assert_eq!(md.kind, EntryKind::File);
    assert_eq!(md.size, 7);
    assert_eq!(md.name, "link.txt");
    let md = f.fs.metadata(&vp("alias")).await.expect("metadata");
    assert_eq!(md.kind, EntryKind::Dir);
    let names: Vec<_> = list_all(&f.fs, "alias", 10)
        .await
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["file.txt"]);
}

#[tokio::test]
async fn broken_symlink_is_listed_not_fatal() {
    let f = fixture();
    symlink("nowhere", f.root.join("dangling")).expect("symlink");
    symlink("dangling2", f.root.join("loop1")).expect("symlink");
    symlink("loop1", f.root.join("dangling2")).expect("symlink");
    std::fs::write(f.root.join("ok.txt"), b"x").expect("write");
    let listed = list_all(&f.fs, "/", 2).await;
    let names: BTreeSet<_> = listed.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["dangling", "dangling2", "loop1", "ok.txt"])
    );
    assert!(listed
        .iter()
        .filter(|e| e.name != "ok.txt")
        .all(|e| e.kind == EntryKind::Symlink));
    assert!(matches!(
        f.fs.open_read(&vp("dangling"), 0).await,
        Err(StorageError::NotFound)
    ));
    assert!(f.fs.open_read(&vp("loop1"), 0).await.is_err());
}

#[tokio::test]
async fn bad_names_are_errors_not_panics() {
    let f = fixture();
    // The lexical rules of VirtualPath refuse NUL bytes and overlong components...
    assert!(VirtualPath::root().join("a\0b").is_err());
    assert!(VirtualPath::root().join(&"x".repeat(256)).is_err());
    // ...and the longest allowed component works end to end.
    let long = "y".repeat(255);
    write_file(&f.fs, &long, WriteMode::Replace, b"ok").await;
    assert_eq!(read_all(&f.fs, &long).await.expect("read"), b"ok");
    // A deep path of long components: an error or a success, never a panic.
    let deep = vec!["z".repeat(200); 20].join("/");
    if let Ok(p) = VirtualPath::root().join(&deep) {
        assert!(f.fs.metadata(&p).await.is_err());
        assert!(f.fs.mkdir(&p).await.is_err());
    }
    // Ferry's temporary names are reserved.
    let temp = format!("{TEMP_PREFIX}1234");
    std::fs::write(f.root.join(&temp), b"partial").expect("write");
    assert!(matches!(
        f.fs.open_write(&vp(&temp), WriteMode::Replace).await.err(),
        Some(StorageError::InvalidName)
    ));
    assert!(matches!(
        f.fs.mkdir(&vp(&format!("{TEMP_PREFIX}dir"))).await,
        Err(StorageError::InvalidName)
    ));
    assert!(matches!(
        f.fs.rename(&vp(&temp), &vp("visible")).await,
        Err(StorageError::InvalidName)
    ));
    assert!(matches!(
        f.fs.open_read(&vp(&temp), 0).await.err(),
        Some(StorageError::NotFound)
    ));
    assert!(matches!(
        f.fs.metadata(&vp(&temp)).await,
        Err(StorageError::NotFound)
    ));
}

#[tokio::test]
async fn open_read_offsets_and_refusals() {
    let f = fixture();
    std::fs::write(f.root.join("f.txt"), b"0123456789").expect("write");
    std::fs::create_dir(f.root.join("d")).expect("mkdir");
    let (data, offset, len) = read_handle(f.fs.open_read(&vp("f.txt"), 4).await.expect("open"));
    assert_eq!((data.as_slice(), offset, len), (&b"456789"[..], 4, 10));
    let (data, _, _) = read_handle(f.fs.open_read(&vp("f.txt"), 10).await.expect("open"));
    assert!(data.is_empty());
    let err =
        f.fs.open_read(&vp("f.txt"), 11)
            .await
            .expect_err("beyond EOF");
    assert!(err.is_invalid_input(), "{err:?}");
    assert!(matches!(
        f.fs.open_read(&vp("d"), 0).await.err(),
        Some(StorageError::IsADirectory)
    ));
    assert!(matches!(
        f.fs.open_read(&vp("/"), 0).await.err(),
        Some(StorageError::IsADirectory)
    ));
    assert!(matches!(
        f.fs.open_read(&vp("missing"), 0).await.err(),
        Some(StorageError::NotFound)
    ));
    assert!(matches!(
        f.fs.open_read(&vp("f.txt/x"), 0).await.err(),
        Some(StorageError::NotADirectory)
    ));
}

#[tokio::test]
async fn fifo_is_refused_without_blocking() {
    let f = fixture();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        f.root.join("pipe"),
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .expect("mkfifo");
    let fs = f.fs.clone();
    let attempt = async move {
        let read = fs.open_read(&vp("pipe"), 0).await.err();
        let write = fs.open_write(&vp("pipe"), WriteMode::Append).await.err();
        (read, write)
    };
    let (read, write) = tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .expect("no hang on a FIFO");
    assert!(matches!(read, Some(StorageError::PermissionDenied)));
    assert!(matches!(write, Some(StorageError::PermissionDenied)));
    let listed = list_all(&f.fs, "/", 10).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].kind, EntryKind::Other);
}

#[tokio::test]
async fn metadata_fields() {
    let f = fixture();
    std::fs::write(f.root.join("f.txt"), b"hello").expect("write");
    std::fs::set_permissions(f.root.join("f.txt"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
    let md = f.fs.metadata(&vp("f.txt")).await.expect("metadata");
    assert_eq!(md.name, "f.txt");
    assert_eq!(md.kind, EntryKind::File);
    assert_eq!(md.size, 5);
    assert_eq!(md.mode, 0o640);
    assert_eq!(md.nlink, 1);
    assert_eq!((md.owner.as_str(), md.group.as_str()), ("ftp", "ftp"));
    let unique = md.unique.expect("unique");
    assert!(unique.contains('g'), "{unique}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!((md.mtime - now).abs() < 3600);
    let root = f.fs.metadata(&VirtualPath::root()).await.expect("root");
    assert_eq!(root.kind, EntryKind::Dir);
    assert_eq!(root.name, "/");
}

#[tokio::test]
async fn replace_aborted_keeps_old_file() {
    let f = fixture();
    std::fs::write(f.root.join("f.txt"), b"old content").expect("write");
    let mut sink =
        f.fs.open_write(&vp("f.txt"), WriteMode::Replace)
            .await
            .expect("open");
    sink.write(b"new partial".to_vec()).await.expect("write");
    assert_eq!(temp_files(&f.root).len(), 1, "upload goes to a temp file");
    assert_eq!(
        std::fs::read(f.root.join("f.txt")).expect("read"),
        b"old content"
    );
    sink.abort().await.expect("abort");
    assert_eq!(
        std::fs::read(f.root.join("f.txt")).expect("read"),
        b"old content"
    );
    assert!(temp_files(&f.root).is_empty());
}

#[tokio::test]
async fn replace_dropped_keeps_old_file() {
    let f = fixture();
    std::fs::create_dir(f.root.join("sub")).expect("mkdir");
    std::fs::write(f.root.join("sub/f.txt"), b"old content").expect("write");
    let mut sink =
        f.fs.open_write(&vp("sub/f.txt"), WriteMode::Replace)
            .await
            .expect("open");
    sink.write(b"new partial".to_vec()).await.expect("write");
    drop(sink);
    assert_eq!(
        std::fs::read(f.root.join("sub/f.txt")).expect("read"),
        b"old content"
    );
    assert!(temp_files(&f.root.join("sub")).is_empty());
    // A listing never showed the temporary file either.
    let mut sink =
        f.fs.open_write(&vp("sub/f.txt"), WriteMode::Replace)
            .await
            .expect("open");
    let names: Vec<_> = list_all(&f.fs, "sub", 10)
        .await
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["f.txt"]);
    sink.write(b"x".to_vec()).await.expect("write");
}

#[tokio::test]
async fn replace_finished_replaces_and_keeps_mode() {
    let f = fixture();
    let path = f.root.join("f.txt");
    std::fs::write(&path, b"old content, longer than the new one").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).expect("chmod");
    let mut sink =
        f.fs.open_write(&vp("f.txt"), WriteMode::Replace)
            .await
            .expect("open");
    let mut buf = b"new ".to_vec();
    for _ in 0..3 {
        buf = sink.write(buf).await.expect("write");
        assert!(buf.is_empty());
        buf.extend_from_slice(b"new ");
    }
    assert_eq!(sink.finish().await.expect("finish"), 12);
    assert_eq!(std::fs::read(&path).expect("read"), b"new new new ");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o604);
    assert!(temp_files(&f.root).is_empty());
}

#[tokio::test]
async fn new_file_partial_is_kept_on_abort_and_drop() {
    let f = fixture();
    let mut sink =
        f.fs.open_write(&vp("new.bin"), WriteMode::Replace)
            .await
            .expect("open");
    sink.write(b"first half".to_vec()).await.expect("write");
    sink.abort().await.expect("abort");
    assert_eq!(
        std::fs::read(f.root.join("new.bin")).expect("read"),
        b"first half"
    );

    let mut sink =
        f.fs.open_write(&vp("other.bin"), WriteMode::Replace)
            .await
            .expect("open");
    sink.write(b"part".to_vec()).await.expect("write");
    drop(sink);
    assert_eq!(
        std::fs::read(f.root.join("other.bin")).expect("read"),
        b"part"
    );

    // Resume: REST 10 + STOR.
    let n = write_file(&f.fs, "new.bin", WriteMode::At(10), b", second half").await;
    assert_eq!(n, 13);
    assert_eq!(
        std::fs::read(f.root.join("new.bin")).expect("read"),
        b"first half, second half"
    );
    assert!(temp_files(&f.root).is_empty());
}

#[tokio::test]
async fn append_semantics() {
    let f = fixture();
    std::fs::write(f.root.join("log"), b"abc").expect("write");
    assert_eq!(write_file(&f.fs, "log", WriteMode::Append, b"def").await, 3);
    assert_eq!(std::fs::read(f.root.join("log")).expect("read"), b"abcdef");
    write_file(&f.fs, "fresh", WriteMode::Append, b"xyz").await;
    assert_eq!(std::fs::read(f.root.join("fresh")).expect("read"), b"xyz");
    // An aborted append keeps what was appended.
    let mut sink =
        f.fs.open_write(&vp("log"), WriteMode::Append)
            .await
            .expect("open");
    sink.write(b"gh".to_vec()).await.expect("write");
    sink.abort().await.expect("abort");
    assert_eq!(
        std::fs::read(f.root.join("log")).expect("read"),
        b"abcdefgh"
    );
}

#[tokio::test]
async fn write_at_semantics() {
    let f = fixture();
    std::fs::write(f.root.join("f"), b"hello world").expect("write");
    // In place, keeping what follows the written range.
    write_file(&f.fs, "f", WriteMode::At(5), b"!!").await;
    assert_eq!(
        std::fs::read(f.root.join("f")).expect("read"),
        b"hello!!orld"
    );
    write_file(&f.fs, "f", WriteMode::At(7), b"?").await;
    assert_eq!(
        std::fs::read(f.root.join("f")).expect("read"),
        b"hello!!?rld"
    );
    write_file(&f.fs, "f", WriteMode::At(0), b"").await;
    assert_eq!(
        std::fs::read(f.root.join("f")).expect("read"),
        b"hello!!?rld"
    );

    // Past the end: the file grows, the gap reads as zeros.
    std::fs::write(f.root.join("g"), b"12345").expect("write");
    write_file(&f.fs, "g", WriteMode::At(7), b"x").await;
    assert_eq!(
        std::fs::read(f.root.join("g")).expect("read"),
        b"12345\0\0x"
    );
    // Ranges written out of order by several sinks make up the whole file.
    std::fs::write(f.root.join("h"), b"").expect("write");
    write_file(&f.fs, "h", WriteMode::At(6), b"world").await;
    write_file(&f.fs, "h", WriteMode::At(0), b"hello ").await;
    assert_eq!(
        std::fs::read(f.root.join("h")).expect("read"),
        b"hello world"
    );
    assert!(matches!(
        f.fs.open_write(&vp("missing"), WriteMode::At(0))
            .await
            .err(),
        Some(StorageError::NotFound)
    ));
}

#[tokio::test]
async fn create_new_and_bad_targets() {
    let f = fixture();
    write_file(&f.fs, "unique", WriteMode::CreateNew, b"1").await;
    assert!(matches!(
        f.fs.open_write(&vp("unique"), WriteMode::CreateNew)
            .await
            .err(),
        Some(StorageError::AlreadyExists)
    ));
    std::fs::create_dir(f.root.join("d")).expect("mkdir");
    for mode in [
        WriteMode::Replace,
        WriteMode::Append,
        WriteMode::At(0),
        WriteMode::CreateNew,
    ] {
        assert!(
            matches!(
                f.fs.open_write(&vp("d"), mode).await.err(),
                Some(StorageError::IsADirectory)
            ),
            "{mode:?}"
        );
        assert!(matches!(
            f.fs.open_write(&VirtualPath::root(), mode).await.err(),
            Some(StorageError::IsADirectory)
        ));
        assert!(matches!(
            f.fs.open_write(&vp("nodir/file"), mode).await.err(),
            Some(StorageError::NotFound)
        ));
        assert!(matches!(
            f.fs.open_write(&vp("unique/file"), mode).await.err(),
            Some(StorageError::NotADirectory)
        ));
    }
}

#[tokio::test]
async fn listing_of_many_files_in_batches() {
    let f = fixture();
    let dir = f.root.join("many");
    std::fs::create_dir(&dir).expect("mkdir");
    // More than the entries read ahead with the open (1024), so a listing hands those out
    // and then goes on reading.
    for i in 0..1500 {
        std::fs::write(dir.join(format!("file-{i:04}")), i.to_string()).expect("write");
    }
    std::fs::create_dir(dir.join("subdir")).expect("mkdir");
    std::fs::write(dir.join(format!("{TEMP_PREFIX}abcdef")), b"hidden").expect("write");
    let listed = list_all(&f.fs, "many", 64).await;
    assert_eq!(listed.len(), 1501);
    let names: BTreeSet<_> = listed.iter().map(|e| e.name.clone()).collect();
    assert_eq!(names.len(), 1501);
    assert!(names.contains("subdir"));
    assert!((0..1500).all(|i| names.contains(&format!("file-{i:04}"))));
    assert!(names.iter().all(|n| !n.starts_with(TEMP_PREFIX)));
    let sub = listed.iter().find(|e| e.name == "subdir").expect("subdir");
    assert_eq!(sub.kind, EntryKind::Dir);
    let one = listed.iter().find(|e| e.name == "file-0123").expect("file");
    assert_eq!((one.kind, one.size), (EntryKind::File, 3));

    // Batch size 0 still makes progress; huge batch sizes are capped.
    let mut lister = f.fs.list(&vp("many")).await.expect("list");
    assert_eq!(lister.next_batch(0).await.expect("batch").len(), 1);
    let mut rest = 0;
    for _ in 0..10 {
        let n = lister.next_batch(usize::MAX).await.expect("batch").len();
        assert!(n <= 4096, "capped");
        if n == 0 {
            break;
        }
        rest += n;
    }
    assert_eq!(rest, 1500);
    assert!(lister.next_batch(10).await.expect("batch").is_empty());
    assert!(lister.next_batch(10).await.expect("batch").is_empty());
}

#[tokio::test]
async fn list_errors() {
    let f = fixture();
    std::fs::write(f.root.join("file"), b"x").expect("write");
    assert!(matches!(
        f.fs.list(&vp("file")).await.err(),
        Some(StorageError::NotADirectory)
    ));
    assert!(matches!(
        f.fs.list(&vp("missing")).await.err(),
        Some(StorageError::NotFound)
    ));
    assert!(list_all(&f.fs, "/", 5).await.len() == 1);
}

#[tokio::test]
async fn mkdir_rmdir_remove() {
    let f = fixture();
    f.fs.mkdir(&vp("d")).await.expect("mkdir");
    assert!(f.root.join("d").is_dir());
    assert!(matches!(
        f.fs.mkdir(&vp("d")).await,
        Err(StorageError::AlreadyExists)
    ));
    assert!(matches!(
        f.fs.mkdir(&VirtualPath::root()).await,
        Err(StorageError::AlreadyExists)
    ));
    assert!(matches!(
        f.fs.mkdir(&vp("x/y")).await,
        Err(StorageError::NotFound)
    ));
    std::fs::write(f.root.join("d/f"), b"x").expect("write");
    assert!(matches!(
        f.fs.rmdir(&vp("d")).await,
        Err(StorageError::DirectoryNotEmpty)
    ));
    assert!(matches!(
        f.fs.rmdir(&vp("d/f")).await,
        Err(StorageError::NotADirectory)
    ));
    assert!(matches!(
        f.fs.rmdir(&VirtualPath::root()).await,
        Err(StorageError::PermissionDenied)
    ));
    assert!(matches!(
        f.fs.remove_file(&vp("d")).await,
        Err(StorageError::IsADirectory)
    ));
    f.fs.remove_file(&vp("d/f")).await.expect("remove");
    assert!(matches!(
        f.fs.remove_file(&vp("d/f")).await,
        Err(StorageError::NotFound)
    ));
    f.fs.rmdir(&vp("d")).await.expect("rmdir");
    assert!(!f.root.join("d").exists());
    assert!(matches!(
        f.fs.rmdir(&vp("d")).await,
        Err(StorageError::NotFound)
    ));
    // Removing a symlink removes the link, not its target.
    std::fs::write(f.root.join("target"), b"t").expect("write");
    symlink("target", f.root.join("link")).expect("symlink");
    f.fs.remove_file(&vp("link")).await.expect("remove link");
    assert!(f.root.join("target").exists());
}

#[tokio::test]
async fn rename_files_and_dirs() {
    let f = fixture();
    std::fs::write(f.root.join("a"), b"A").expect("write");
    std::fs::write(f.root.join("b"), b"B").expect("write");
    std::fs::create_dir(f.root.join("d")).expect("mkdir");
    f.fs.rename(&vp("a"), &vp("d/a2")).await.expect("rename");
    assert_eq!(std::fs::read(f.root.join("d/a2")).expect("read"), b"A");
    // Replacing a file target, as rename(2) does.
    f.fs.rename(&vp("b"), &vp("d/a2")).await.expect("rename");
    assert_eq!(std::fs::read(f.root.join("d/a2")).expect("read"), b"B");
    f.fs.rename(&vp("d"), &vp("e")).await.expect("rename dir");
    assert!(f.root.join("e/a2").exists());
    assert!(matches!(
        f.fs.rename(&vp("missing"), &vp("x")).await,
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        f.fs.rename(&VirtualPath::root(), &vp("x")).await,
        Err(StorageError::PermissionDenied)
    ));
    assert!(f.fs.rename(&vp("e"), &vp("e/inside")).await.is_err());
}

#[tokio::test]
async fn set_mtime_and_chmod() {
    let f = fixture();
    std::fs::write(f.root.join("f"), b"x").expect("write");
    std::fs::create_dir(f.root.join("d")).expect("mkdir");
    f.fs.set_mtime(&vp("f"), 1_000_000_000)
        .await
        .expect("mtime");
    assert_eq!(
        f.fs.metadata(&vp("f")).await.expect("md").mtime,
        1_000_000_000
    );
    f.fs.set_mtime(&vp("d"), 86_400).await.expect("mtime dir");
    assert_eq!(f.fs.metadata(&vp("d")).await.expect("md").mtime, 86_400);
    assert!(matches!(
        f.fs.set_mtime(&vp("missing"), 0).await,
        Err(StorageError::NotFound)
    ));
    // Extreme times are an error or clamped by the filesystem, never a panic.
    let _ = f.fs.set_mtime(&vp("f"), i64::MAX).await;
    let _ = f.fs.set_mtime(&vp("f"), i64::MIN).await;

    f.fs.chmod(&vp("f"), 0o600).await.expect("chmod");
    assert_eq!(f.fs.metadata(&vp("f")).await.expect("md").mode, 0o600);
    // setuid/setgid/sticky are never set remotely.
    f.fs.chmod(&vp("f"), 0o4755).await.expect("chmod");
    assert_eq!(f.fs.metadata(&vp("f")).await.expect("md").mode, 0o755);
    f.fs.chmod(&vp("d"), 0o700).await.expect("chmod dir");
    assert_eq!(f.fs.metadata(&vp("d")).await.expect("md").mode, 0o700);
    assert!(matches!(
        f.fs.chmod(&vp("missing"), 0o600).await,
        Err(StorageError::NotFound)
    ));
}

#[tokio::test]
async fn sink_is_send_and_reuses_buffers() {
    let f = fixture();
    let mut sink: Box<dyn WriteSink> =
        f.fs.open_write(&vp("big"), WriteMode::Replace)
            .await
            .expect("open");
    let handle = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(64 * 1024);
        let cap = buf.capacity();
        for i in 0..32u8 {
            buf.resize(64 * 1024, i);
            buf = sink.write(buf).await.expect("write");
            assert!(buf.is_empty());
            assert_eq!(buf.capacity(), cap);
        }
        sink.finish().await.expect("finish")
    });
    assert_eq!(handle.await.expect("join"), 32 * 64 * 1024);
    let data = std::fs::read(f.root.join("big")).expect("read");
    assert_eq!(data.len(), 32 * 64 * 1024);
    assert_eq!(data[64 * 1024 * 5], 5);
}

#[tokio::test]
async fn replace_over_symlink_replaces_the_link() {
    let f = fixture();
    std::fs::write(f.root.join("target"), b"original").expect("write");
    symlink("target", f.root.join("link")).expect("symlink");
    write_file(&f.fs, "link", WriteMode::Replace, b"new").await;
    assert_eq!(
        std::fs::read(f.root.join("target")).expect("read"),
        b"original"
    );
    let link = std::fs::symlink_metadata(f.root.join("link")).expect("stat");
    assert!(link.is_file());
    assert_eq!(std::fs::read(f.root.join("link")).expect("read"), b"new");
}

#[tokio::test]
async fn page_layouts_live_beside_their_file() {
    let f = fixture();
    let sub = f.root.join("d");
    std::fs::create_dir(&sub).expect("mkdir");
    for (name, side) in [
        ("a", f.root.join(".a.ferry-pages")),
        ("d/b", sub.join(".b.ferry-pages")),
    ] {
        std::fs::write(f.root.join(name), b"data").expect("write");
        assert_eq!(f.fs.page_layout(&vp(name)).await.expect("none"), None);
        f.fs.set_page_layout(&vp(name), Some(b"1 1 4 - -\n".to_vec()))
            .await
            .expect("set");
        assert_eq!(std::fs::read(&side).expect("sidecar"), b"1 1 4 - -\n");
        assert_eq!(
            f.fs.page_layout(&vp(name)).await.expect("read"),
            Some(b"1 1 4 - -\n".to_vec())
        );
    }
    // Hidden and reserved.
    let mut lister = f.fs.list(&VirtualPath::root()).await.expect("list");
    let names: Vec<String> = lister
        .next_batch(100)
        .await
        .expect("batch")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(
        !names.iter().any(|n| n.ends_with(".ferry-pages")),
        "{names:?}"
    );
    assert!(matches!(
        f.fs.open_read(&vp(".a.ferry-pages"), 0).await.err(),
        Some(StorageError::NotFound)
    ));
    assert!(matches!(
        f.fs.open_write(&vp(".x.ferry-pages"), WriteMode::Replace)
            .await
            .err(),
        Some(StorageError::InvalidName)
    ));
    // Rename moves it (dropping the target's), remove deletes it, None forgets it.
    std::fs::write(f.root.join("c"), b"other").expect("write");
    f.fs.set_page_layout(&vp("c"), Some(b"9 1 5 - -\n".to_vec()))
        .await
        .expect("set");
    f.fs.rename(&vp("a"), &vp("c")).await.expect("rename");
    assert_eq!(
        f.fs.page_layout(&vp("c")).await.expect("read"),
        Some(b"1 1 4 - -\n".to_vec())
    );
    assert!(!f.root.join(".a.ferry-pages").exists());
    f.fs.remove_file(&vp("c")).await.expect("remove");
    assert!(!f.root.join(".c.ferry-pages").exists());
    f.fs.set_page_layout(&vp("d/b"), None)
        .await
        .expect("forget");
    assert!(!sub.join(".b.ferry-pages").exists());
    // Too large: not kept.
    let big = vec![b'x'; ferry_storage::MAX_PAGE_LAYOUT + 1];
    f.fs.set_page_layout(&vp("d/b"), Some(big))
        .await
        .expect("too large");
    assert!(!sub.join(".b.ferry-pages").exists());
}

/// Moves `data` into `sink` through a pipe with [`WriteSink::splice_from`].
fn splice_into(sink: &mut dyn WriteSink, data: &[u8]) {
    use std::io::Write;
    use std::os::fd::AsFd;
    let (rd, wr) = rustix::pipe::pipe().expect("pipe");
    let mut wr = std::fs::File::from(wr);
    for chunk in data.chunks(16 * 1024) {
        wr.write_all(chunk).expect("fill the pipe");
        let mut left = chunk.len();
        while left > 0 {
            let n = sink.splice_from(rd.as_fd(), left).expect("splice");
            assert!(n > 0, "splice moved nothing");
            left -= n;
        }
    }
}

#[tokio::test]
async fn splice_writes_like_write_in_every_mode_but_append() {
    let f = fixture();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    // A new file, then a replacement of it (through the temporary file).
    for _ in 0..2 {
        let mut sink =
            f.fs.open_write(&vp("s.bin"), WriteMode::Replace)
                .await
                .expect("open");
        assert!(sink.can_splice());
        splice_into(sink.as_mut(), &data);
        assert_eq!(sink.finish().await.expect("finish"), data.len() as u64);
        assert_eq!(read_all(&f.fs, "s.bin").await.expect("read"), data);
        assert!(temp_files(&f.root).is_empty());
    }
    // REST + STOR: in place from the offset, the rest kept.
    let mut sink =
        f.fs.open_write(&vp("s.bin"), WriteMode::At(10))
            .await
            .expect("open at");
    assert!(sink.can_splice());
    splice_into(sink.as_mut(), b"HELLO");
    assert_eq!(sink.finish().await.expect("finish"), 5);
    let mut want = data.clone();
    want.splice(10..15, b"HELLO".iter().copied());
    assert_eq!(read_all(&f.fs, "s.bin").await.expect("read"), want);
    // Mixed with buffered writes.
    let mut sink =
        f.fs.open_write(&vp("m.bin"), WriteMode::CreateNew)
            .await
            .expect("open new");
    sink.write(b"abc".to_vec()).await.expect("write");
    splice_into(sink.as_mut(), b"def");
    assert_eq!(sink.finish().await.expect("finish"), 6);
    assert_eq!(read_all(&f.fs, "m.bin").await.expect("read"), b"abcdef");
    // APPE (O_APPEND) cannot splice.
    let mut sink =
        f.fs.open_write(&vp("m.bin"), WriteMode::Append)
            .await
            .expect("open append");
    assert!(!sink.can_splice());
    let (rd, _wr) = rustix::pipe::pipe().expect("pipe");
    use std::os::fd::AsFd;
    assert!(sink.splice_from(rd.as_fd(), 1).is_err());
    sink.abort().await.expect("abort");
}

/// New files are created and closed on the calling thread (local filesystems); the
/// upload rules stay those of the blocking path.
#[tokio::test]
async fn new_file_uploads_keep_the_upload_rules() {
    let f = fixture();
    // A page layout left behind by an earlier file of that name (removed outside Ferry)
    // goes with the first complete upload.
    std::fs::write(f.root.join(".n.ferry-pages"), b"stale").expect("write");
    assert_eq!(write_file(&f.fs, "n", WriteMode::Replace, b"new").await, 3);
    assert_eq!(std::fs::read(f.root.join("n")).expect("n"), b"new");
    assert!(!f.root.join(".n.ferry-pages").exists());
    std::fs::create_dir(f.root.join("sub")).expect("mkdir");
    assert_eq!(
        write_file(&f.fs, "sub/m", WriteMode::CreateNew, b"mm").await,
        2
    );
    assert_eq!(std::fs::read(f.root.join("sub/m")).expect("m"), b"mm");
    // An interrupted upload that created its file keeps the partial bytes.
    let mut sink =
        f.fs.open_write(&vp("p"), WriteMode::Replace)
            .await
            .expect("open");
    sink.write(b"part".to_vec()).await.expect("write");
    sink.abort().await.expect("abort");
    assert_eq!(std::fs::read(f.root.join("p")).expect("p"), b"part");
    // One over its quota leaves nothing.
    let mut sink =
        f.fs.open_write(&vp("q"), WriteMode::CreateNew)
            .await
            .expect("open");
    sink.write(b"over".to_vec()).await.expect("write");
    sink.discard().await.expect("discard");
    assert!(!f.root.join("q").exists());
    // Replacing an existing file still goes through a temporary file.
    assert_eq!(
        write_file(&f.fs, "n", WriteMode::Replace, b"newer").await,
        5
    );
    assert_eq!(std::fs::read(f.root.join("n")).expect("n"), b"newer");
    assert!(temp_files(&f.root).is_empty());
}
