//! `WriteSink::discard` on the local backend: the target is left as it was before the
//! upload, for every write mode.

use std::path::Path;

use ferry_proto::VirtualPath;
use ferry_storage::local::{LocalFs, TEMP_PREFIX};
use ferry_storage::{Storage, WriteMode};

fn path(p: &str) -> VirtualPath {
    VirtualPath::root().join(p).expect("path")
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

async fn write_then_discard(fs: &LocalFs, name: &str, mode: WriteMode, bytes: &[u8]) {
    let mut sink = fs.open_write(&path(name), mode).await.expect("open");
    sink.write(bytes.to_vec()).await.expect("write");
    sink.discard().await.expect("discard");
}

#[tokio::test]
async fn discard_leaves_every_target_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(root.join("old.txt"), b"old content").expect("write");
    let fs = LocalFs::open(root).expect("open");

    // A new file (STOR, APPE creating it, STOU): removed.
    write_then_discard(&fs, "new.txt", WriteMode::Replace, b"partial").await;
    write_then_discard(&fs, "app.txt", WriteMode::Append, b"partial").await;
    write_then_discard(&fs, "uniq.txt", WriteMode::CreateNew, b"partial").await;
    assert_eq!(names(root), ["old.txt"]);

    // Replacing an existing file: the old content stays, no temporary file remains.
    write_then_discard(&fs, "old.txt", WriteMode::Replace, b"new content, longer").await;
    assert_eq!(
        std::fs::read(root.join("old.txt")).expect("read"),
        b"old content"
    );

    // Appending: truncated back.
    write_then_discard(&fs, "old.txt", WriteMode::Append, b" and more").await;
    assert_eq!(
        std::fs::read(root.join("old.txt")).expect("read"),
        b"old content"
    );

    // Writing in place past the end: truncated back to the original length (the bytes
    // overwritten before it keep the new data).
    write_then_discard(&fs, "old.txt", WriteMode::At(4), b"CONTENT and beyond").await;
    assert_eq!(
        std::fs::read(root.join("old.txt")).expect("read"),
        b"old CONTENT"
    );

    let names = names(root);
    assert_eq!(names, ["old.txt"]);
    assert!(!names.iter().any(|n| n.starts_with(TEMP_PREFIX)));
}

#[tokio::test]
async fn discard_after_nothing_written_and_finish_still_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = LocalFs::open(dir.path()).expect("open");
    let sink = fs
        .open_write(&path("empty.txt"), WriteMode::Replace)
        .await
        .expect("open");
    sink.discard().await.expect("discard");
    assert!(names(dir.path()).is_empty());

    let mut sink = fs
        .open_write(&path("kept.txt"), WriteMode::Replace)
        .await
        .expect("open");
    sink.write(b"data".to_vec()).await.expect("write");
    assert_eq!(sink.finish().await.expect("finish"), 4);
    assert_eq!(
        std::fs::read(dir.path().join("kept.txt")).expect("read"),
        b"data"
    );
}
