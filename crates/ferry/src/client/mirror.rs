//! `ferry mirror`: make a destination tree like a source tree, in either direction.
//!
//! Planning is a pure function ([`plan`]) from the two trees to a list of [`Action`]s, so
//! every rule is unit-tested without a server:
//! - a file missing at the destination is copied;
//! - a file present on both sides is copied when the sizes differ or the source is newer
//!   (with `--only-newer`: only when the source is newer; sizes decide only when a time is
//!   unknown); with `--verify`, files of equal size and time are compared by the server's
//!   hash when it offers one;
//! - with `--delete`, destination entries missing from the source are deleted (deepest
//!   first, after the transfers); a file where the source has a directory (or the reverse)
//!   is replaced with `--delete` and reported as a conflict otherwise.
//!
//! After a download the local modification time is set from the server's; after an upload
//! the remote one is set with `MFMT` when offered, so the next run finds nothing to do in
//! both directions. Symbolic links are skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_client::{Client, ClientError, EntryKind};

use super::args::MirrorArgs;
use super::exit::{Exit, Failure, Stage};
use super::progress::Progress;
use super::session::Session;
use super::transfer::{local_mtime, run_jobs, same_hash, Ctx, Job};
use super::url::{join, FtpUrl};

/// Deepest directory level walked.
const MAX_DEPTH: usize = 64;
/// Most entries walked in one tree.
const MAX_ENTRIES: usize = 1_000_000;

/// One entry of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// A directory (else a regular file).
    pub dir: bool,
    /// Size in bytes (0 for directories or unknown).
    pub size: u64,
    /// Modification time, seconds since the epoch, when known.
    pub mtime: Option<i64>,
}

impl Node {
    /// A file node.
    pub fn file(size: u64, mtime: Option<i64>) -> Node {
        Node {
            dir: false,
            size,
            mtime,
        }
    }

    /// A directory node.
    pub fn dir() -> Node {
        Node {
            dir: true,
            size: 0,
            mtime: None,
        }
    }
}

/// A tree: relative paths (`a/b/c`, `/`-separated) to nodes. Every ancestor directory of
/// an entry is an entry too.
pub type Tree = BTreeMap<String, Node>;

/// Planning switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Delete destination entries missing from the source.
    pub delete: bool,
    /// Copy only when the source is newer.
    pub only_newer: bool,
    /// Compare equal-looking files by hash.
    pub verify: bool,
}

/// Why a file is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Missing at the destination.
    New,
    /// Sizes differ.
    Size,
    /// The source is newer.
    Newer,
    /// The hashes differ (decided while executing).
    Hash,
}

/// One step of a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a destination directory.
    MakeDir(String),
    /// Copy a file from the source.
    Copy {
        /// Relative path.
        path: String,
        /// Source size.
        size: u64,
        /// Source modification time.
        mtime: Option<i64>,
        /// Why.
        why: Why,
    },
    /// Compare a file by hash (`--verify`) and copy it when different.
    Check {
        /// Relative path.
        path: String,
        /// Source size.
        size: u64,
        /// Source modification time.
        mtime: Option<i64>,
    },
    /// Delete a destination entry.
    Delete {
        /// Relative path.
        path: String,
        /// A directory (already emptied by earlier deletes).
        dir: bool,
    },
    /// A file on one side is a directory on the other, and `--delete` is off.
    Conflict(String),
}

fn depth(path: &str) -> usize {
    path.matches('/').count()
}

/// Whether `path` is `root` or inside it.
fn is_under(path: &str, root: &str) -> bool {
    path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The actions that make `dst` like `src`.
pub fn plan(src: &Tree, dst: &Tree, opts: PlanOptions) -> Vec<Action> {
    let mut early_deletes = Vec::new();
    let mut late_deletes = Vec::new();
    let mut work = Vec::new();
    // Type conflicts: the destination entry (and its subtree) goes first, with --delete.
    let conflicts: Vec<&String> = src
        .iter()
        .filter_map(|(p, s)| dst.get(p).filter(|d| d.dir != s.dir).map(|_| p))
        .collect();
    let mut blocked: Vec<&String> = Vec::new();
    for (path, node) in src {
        let conflicting = conflicts.iter().any(|c| is_under(path, c));
        if conflicting && !opts.delete {
            if conflicts.contains(&path) {
                work.push(Action::Conflict(path.clone()));
                blocked.push(path);
            }
            continue;
        }
        if blocked.iter().any(|b| is_under(path, b)) {
            continue;
        }
        let existing = dst.get(path).filter(|d| d.dir == node.dir && !conflicting);
        if node.dir {
            if existing.is_none() {
                work.push(Action::MakeDir(path.clone()));
            }
            continue;
        }
        let why = match existing {
            None => Some(Why::New),
            Some(d) => {
                let newer = match (node.mtime, d.mtime) {
                    (Some(s), Some(t)) => Some(s > t),
                    _ => None,
                };
                match (opts.only_newer, newer) {
                    (true, Some(true)) | (false, Some(true)) => Some(Why::Newer),
                    (true, Some(false)) => None,
                    (_, None) | (false, Some(false)) if node.size != d.size => Some(Why::Size),
                    _ => None,
                }
            }
        };
        match why {
            Some(why) => work.push(Action::Copy {
                path: path.clone(),
                size: node.size,
                mtime: node.mtime,
                why,
            }),
            None if opts.verify && existing.is_some_and(|d| d.size == node.size) => {
                work.push(Action::Check {
                    path: path.clone(),
                    size: node.size,
                    mtime: node.mtime,
                })
            }
            None => {}
        }
    }
    if opts.delete {
        for (path, node) in dst {
            let keep = src.get(path).is_some_and(|s| s.dir == node.dir);
            if keep {
                continue;
            }
            let action = Action::Delete {
                path: path.clone(),
                dir: node.dir,
            };
            if conflicts.iter().any(|c| is_under(path, c)) {
                early_deletes.push(action);
            } else {
                late_deletes.push(action);
            }
        }
    }
    // Deepest first, so directories are empty when their turn comes.
    let deepest_first = |a: &Action, b: &Action| {
        let key = |x: &Action| match x {
            Action::Delete { path, .. } => (std::cmp::Reverse(depth(path)), path.clone()),
            _ => (std::cmp::Reverse(0), String::new()),
        };
        key(a).cmp(&key(b))
    };
    early_deletes.sort_by(deepest_first);
    late_deletes.sort_by(deepest_first);
    early_deletes
        .into_iter()
        .chain(work)
        .chain(late_deletes)
        .collect()
}

/// A line describing an action (`get`/`put` by direction).
pub fn describe(action: &Action, upload: bool) -> String {
    let verb = if upload { "put" } else { "get" };
    match action {
        Action::MakeDir(p) => format!("mkdir {p}"),
        Action::Copy { path, why, .. } => {
            let why = match why {
                Why::New => "new",
                Why::Size => "size differs",
                Why::Newer => "newer",
                Why::Hash => "hash differs",
            };
            format!("{verb} {path} ({why})")
        }
        Action::Check { path, .. } => format!("check {path}"),
        Action::Delete { path, dir: true } => format!("rmdir {path}"),
        Action::Delete { path, dir: false } => format!("delete {path}"),
        Action::Conflict(p) => format!("skip {p} (file/directory conflict; use --delete)"),
    }
}

/// Walks a remote directory (empty: the login directory) into a tree.
pub async fn walk_remote(client: &mut Client, root: &str) -> Result<Tree, ClientError> {
    let mut tree = Tree::new();
    let mut stack: Vec<(String, usize)> = vec![(String::new(), 0)];
    while let Some((rel, level)) = stack.pop() {
        let dir = if rel.is_empty() {
            root.to_owned()
        } else {
            join(root, &rel)
        };
        let entries = client
            .list(if dir.is_empty() { None } else { Some(&dir) })
            .await?;
        for e in entries {
            if e.name.is_empty() || e.name == "." || e.name == ".." || e.name.contains('/') {
                continue;
            }
            let path = join(&rel, &e.name);
            match e.kind {
                EntryKind::Dir => {
                    tree.insert(path.clone(), Node::dir());
                    if level + 1 < MAX_DEPTH {
                        stack.push((path, level + 1));
                    } else {
                        tracing::warn!("{path}: deeper than {MAX_DEPTH} levels, not walked");
                    }
                }
                EntryKind::File => {
                    tree.insert(path, Node::file(e.size.unwrap_or(0), e.mtime));
                }
                EntryKind::Symlink | EntryKind::Other => {
                    tracing::info!("{path}: not a regular file or directory, skipped");
                }
            }
            if tree.len() > MAX_ENTRIES {
                return Err(ClientError::Protocol(format!(
                    "more than {MAX_ENTRIES} entries under {root}"
                )));
            }
        }
    }
    Ok(tree)
}

/// Walks a local directory into a tree (symbolic links and non-UTF-8 names skipped).
pub fn walk_local(root: &Path) -> std::io::Result<Tree> {
    let mut tree = Tree::new();
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.to_path_buf(), String::new(), 0)];
    while let Some((dir, rel, level)) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                tracing::warn!("{}: not UTF-8, skipped", entry.path().display());
                continue;
            };
            let meta = entry.metadata()?;
            let path = join(&rel, &name);
            if meta.is_dir() {
                tree.insert(path.clone(), Node::dir());
                if level + 1 < MAX_DEPTH {
                    stack.push((entry.path(), path, level + 1));
                }
            } else if meta.is_file() {
                tree.insert(path, Node::file(meta.len(), local_mtime(&meta)));
            }
            if tree.len() > MAX_ENTRIES {
                return Err(std::io::Error::other(format!(
                    "more than {MAX_ENTRIES} entries under {}",
                    root.display()
                )));
            }
        }
    }
    Ok(tree)
}

/// Creates `path` and its missing parents on the server (errors of existing ones ignored).
pub async fn remote_mkdir_all(client: &mut Client, path: &str) {
    let mut so_far = String::new();
    if path.starts_with('/') {
        so_far.push('/');
    }
    for part in path.split('/').filter(|p| !p.is_empty()) {
        so_far = join(&so_far, part);
        let _ = client.mkdir(&so_far).await;
    }
}

/// `ferry mirror`.
pub async fn run(args: &MirrorArgs) -> anyhow::Result<()> {
    let (url_text, local_text) = if args.reverse {
        (&args.dest, &args.source)
    } else {
        (&args.source, &args.dest)
    };
    let url = FtpUrl::parse(url_text).map_err(|e| Failure::new(Exit::Usage, format!("{e:#}")))?;
    let local = PathBuf::from(local_text);
    let upload = args.reverse;
    let session = Session::new(&url, &args.conn)?;
    let progress = Progress::new(args.conn.quiet, args.conn.progress);
    let mut client = session.connect().await?;
    let root = url.path.clone();

    if upload && !local.is_dir() {
        return Err(Failure::new(
            Exit::Usage,
            format!("{} is not a directory", local.display()),
        )
        .into());
    }
    if !upload && !args.dry_run {
        std::fs::create_dir_all(&local)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", local.display()))?;
    }
    let remote_tree = match walk_remote(&mut client, &root).await {
        Ok(t) => t,
        Err(e) if upload && matches!(e.reply_code(), Some(450 | 550)) => {
            if !args.dry_run {
                remote_mkdir_all(&mut client, &root).await;
            }
            Tree::new()
        }
        Err(e) => {
            let stage = if upload {
                Stage::Other
            } else {
                Stage::Download
            };
            return Err(Failure::client(&e, stage, &format!("listing {url}")).into());
        }
    };
    let local_tree = if local.is_dir() {
        walk_local(&local).map_err(|e| anyhow::anyhow!("{}: {e}", local.display()))?
    } else {
        Tree::new()
    };
    let opts = PlanOptions {
        delete: args.delete,
        only_newer: args.only_newer,
        verify: args.verify,
    };
    let actions = if upload {
        plan(&local_tree, &remote_tree, opts)
    } else {
        plan(&remote_tree, &local_tree, opts)
    };
    if args.dry_run {
        for a in &actions {
            println!("{}", describe(a, upload));
        }
        let _ = client.quit().await;
        return Ok(());
    }

    let remote_of = |rel: &str| join(&root, rel);
    let local_of = |rel: &str| local.join(rel);
    let job_of = |path: &str, size: u64, mtime: Option<i64>| {
        if upload {
            Job::Put {
                local: local_of(path),
                remote: remote_of(path),
            }
        } else {
            Job::Get {
                remote: remote_of(path),
                local: local_of(path),
                size: Some(size),
                mtime,
            }
        }
    };
    let mut first_failure: Option<Failure> = None;
    let mut jobs = Vec::new();
    let mut late = Vec::new();
    let mut seen_work = false;
    for action in &actions {
        match action {
            Action::Delete { .. } if seen_work => late.push(action.clone()),
            Action::Delete { path, dir } => {
                println!("{}", describe(action, upload));
                if let Err(f) =
                    delete(&mut client, upload, &local_of(path), &remote_of(path), *dir).await
                {
                    eprintln!("ferry: error: {f}");
                    first_failure.get_or_insert(f);
                }
            }
            Action::MakeDir(path) => {
                seen_work = true;
                println!("{}", describe(action, upload));
                if upload {
                    if let Err(e) = client.mkdir(&remote_of(path)).await {
                        let f = Failure::client(&e, Stage::Upload, &format!("mkdir {path}"));
                        eprintln!("ferry: error: {f}");
                        first_failure.get_or_insert(f);
                    }
                } else if let Err(e) = std::fs::create_dir_all(local_of(path)) {
                    let f = Failure::new(Exit::Generic, format!("mkdir {path}: {e}"));
                    eprintln!("ferry: error: {f}");
                    first_failure.get_or_insert(f);
                }
            }
            Action::Copy {
                path, size, mtime, ..
            } => {
                seen_work = true;
                println!("{}", describe(action, upload));
                jobs.push(job_of(path, *size, *mtime));
            }
            Action::Check { path, size, mtime } => {
                seen_work = true;
                let differs = match same_hash(&mut client, &remote_of(path), &local_of(path)).await
                {
                    Ok(Some(same)) => !same,
                    // No usable hash: size and time already matched.
                    Ok(None) => false,
                    Err(e) => {
                        tracing::warn!("{path}: cannot get the server's hash: {e}");
                        false
                    }
                };
                if differs {
                    let copy = Action::Copy {
                        path: path.clone(),
                        size: *size,
                        mtime: *mtime,
                        why: Why::Hash,
                    };
                    println!("{}", describe(&copy, upload));
                    jobs.push(job_of(path, *size, *mtime));
                }
            }
            Action::Conflict(_) => {
                seen_work = true;
                eprintln!("ferry: warning: {}", describe(action, upload));
            }
        }
    }
    let ctx = Arc::new(Ctx {
        session,
        progress,
        segments: 1,
        resume: false,
        verify: args.verify,
        limit: args.conn.limit_rate,
    });
    let (client, result) = run_jobs(Arc::clone(&ctx), client, jobs, args.parallel).await;
    if let Err(f) = result {
        first_failure.get_or_insert(f);
    }
    let mut client = match client {
        Some(c) => c,
        None if late.is_empty() => return first_failure.map_or(Ok(()), |f| Err(f.into())),
        None => ctx.session.connect().await?,
    };
    // Only delete once every transfer succeeded: a failed mirror loses nothing.
    if first_failure.is_none() {
        for action in &late {
            if let Action::Delete { path, dir } = action {
                println!("{}", describe(action, upload));
                if let Err(f) =
                    delete(&mut client, upload, &local_of(path), &remote_of(path), *dir).await
                {
                    eprintln!("ferry: error: {f}");
                    first_failure.get_or_insert(f);
                }
            }
        }
    }
    let _ = client.quit().await;
    first_failure.map_or(Ok(()), |f| Err(f.into()))
}

/// Deletes one destination entry.
async fn delete(
    client: &mut Client,
    upload: bool,
    local: &Path,
    remote: &str,
    dir: bool,
) -> Result<(), Failure> {
    if upload {
        let r = if dir {
            client.rmdir(remote).await
        } else {
            client.delete(remote).await
        };
        r.map_err(|e| Failure::client(&e, Stage::Other, &format!("delete {remote}")))
    } else {
        let r = if dir {
            std::fs::remove_dir(local)
        } else {
            std::fs::remove_file(local)
        };
        r.map_err(|e| Failure::new(Exit::Generic, format!("delete {}: {e}", local.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(items: &[(&str, Option<(u64, i64)>)]) -> Tree {
        items
            .iter()
            .map(|(p, n)| {
                let node = match n {
                    Some((size, t)) => Node::file(*size, Some(*t)),
                    None => Node::dir(),
                };
                ((*p).to_owned(), node)
            })
            .collect()
    }

    fn names(actions: &[Action]) -> Vec<String> {
        actions.iter().map(|a| describe(a, false)).collect()
    }

    #[test]
    fn new_files_and_dirs() {
        let src = tree(&[("a", None), ("a/f", Some((3, 10))), ("g", Some((1, 5)))]);
        let got = plan(&src, &Tree::new(), PlanOptions::default());
        assert_eq!(names(&got), ["mkdir a", "get a/f (new)", "get g (new)"]);
    }

    #[test]
    fn nothing_to_do_when_equal_or_destination_newer() {
        let src = tree(&[("f", Some((3, 10))), ("g", Some((3, 10)))]);
        let dst = tree(&[("f", Some((3, 10))), ("g", Some((3, 20)))]);
        assert!(plan(&src, &dst, PlanOptions::default()).is_empty());
    }

    #[test]
    fn size_or_newer_copies() {
        let src = tree(&[
            ("f", Some((3, 10))),
            ("g", Some((3, 30))),
            ("h", Some((4, 5))),
        ]);
        let dst = tree(&[
            ("f", Some((4, 10))),
            ("g", Some((3, 20))),
            ("h", Some((3, 9))),
        ]);
        let got = plan(&src, &dst, PlanOptions::default());
        assert_eq!(
            names(&got),
            [
                "get f (size differs)",
                "get g (newer)",
                "get h (size differs)"
            ]
        );
        // --only-newer: an older source is never copied, even when its size differs.
        let only = PlanOptions {
            only_newer: true,
            ..PlanOptions::default()
        };
        assert_eq!(names(&plan(&src, &dst, only)), ["get g (newer)"]);
    }

    #[test]
    fn unknown_times_fall_back_to_size() {
        let mut src = Tree::new();
        src.insert("f".into(), Node::file(3, None));
        src.insert("g".into(), Node::file(3, None));
        let dst = tree(&[("f", Some((3, 1))), ("g", Some((2, 1)))]);
        let only = PlanOptions {
            only_newer: true,
            ..PlanOptions::default()
        };
        assert_eq!(names(&plan(&src, &dst, only)), ["get g (size differs)"]);
    }

    #[test]
    fn verify_checks_equal_files() {
        let src = tree(&[("f", Some((3, 10)))]);
        let dst = tree(&[("f", Some((3, 10)))]);
        let v = PlanOptions {
            verify: true,
            ..PlanOptions::default()
        };
        assert_eq!(names(&plan(&src, &dst, v)), ["check f"]);
    }

    #[test]
    fn delete_extraneous_deepest_first_after_work() {
        let src = tree(&[("keep", Some((1, 1))), ("new", Some((1, 1)))]);
        let dst = tree(&[
            ("keep", Some((1, 1))),
            ("old", None),
            ("old/sub", None),
            ("old/sub/x", Some((1, 1))),
            ("old/y", Some((1, 1))),
            ("z", Some((1, 1))),
        ]);
        let d = PlanOptions {
            delete: true,
            ..PlanOptions::default()
        };
        assert_eq!(
            names(&plan(&src, &dst, d)),
            [
                "get new (new)",
                "delete old/sub/x",
                "rmdir old/sub",
                "delete old/y",
                "rmdir old",
                "delete z"
            ]
        );
        // Without --delete nothing is removed.
        assert_eq!(
            names(&plan(&src, &dst, PlanOptions::default())),
            ["get new (new)"]
        );
    }

    #[test]
    fn file_directory_conflicts() {
        let src = tree(&[("x", None), ("x/f", Some((1, 1))), ("y", Some((2, 2)))]);
        let dst = tree(&[("x", Some((5, 5))), ("y", None), ("y/inner", Some((1, 1)))]);
        let keep = plan(&src, &dst, PlanOptions::default());
        assert_eq!(
            names(&keep),
            [
                "skip x (file/directory conflict; use --delete)",
                "skip y (file/directory conflict; use --delete)"
            ]
        );
        let d = PlanOptions {
            delete: true,
            ..PlanOptions::default()
        };
        assert_eq!(
            names(&plan(&src, &dst, d)),
            [
                "delete y/inner",
                "delete x",
                "rmdir y",
                "mkdir x",
                "get x/f (new)",
                "get y (new)"
            ]
        );
    }

    #[test]
    fn walks_a_local_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), b"xyz").unwrap();
        std::fs::write(dir.path().join("g"), b"").unwrap();
        let t = walk_local(dir.path()).unwrap();
        let keys: Vec<&str> = t.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "a/b", "a/b/f", "g"]);
        assert_eq!(t.get("a/b/f").map(|n| n.size), Some(3));
        assert!(t.get("a").is_some_and(|n| n.dir));
    }
}
