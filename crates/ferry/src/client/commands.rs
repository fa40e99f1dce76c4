//! `ferry ls`, `ferry get` and `ferry put`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_client::{Client, EntryKind, RemoteEntry};

use super::args::{GetArgs, LsArgs, PutArgs};
use super::exit::{Exit, Failure, Stage};
use super::glob;
use super::mirror::{remote_mkdir_all, walk_local, walk_remote};
use super::progress::Progress;
use super::session::Session;
use super::transfer::{run_jobs, Ctx, Job};
use super::url::{join, FtpUrl};

/// A usage failure (exit code 2).
fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure::new(Exit::Usage, message).into()
}

fn parse_url(text: &str) -> anyhow::Result<FtpUrl> {
    FtpUrl::parse(text).map_err(|e| usage(format!("{e:#}")))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since the epoch.
pub fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Symlink => "link",
        EntryKind::Other => "other",
    }
}

/// One line of `ferry ls --long`: type, size, time, name (and link target).
pub fn long_line(e: &RemoteEntry) -> String {
    let kind = match e.kind {
        EntryKind::File => '-',
        EntryKind::Dir => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::Other => '?',
    };
    let size = e.size.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let time = e.mtime.map_or_else(|| "-".repeat(20), iso8601);
    let mut line = format!("{kind} {size:>12} {time} {}", e.name);
    if let Some(t) = &e.link_target {
        line.push_str(" -> ");
        line.push_str(t);
    }
    line
}

/// One line of `ferry ls --json`.
pub fn json_line(e: &RemoteEntry) -> String {
    let mut s = format!(
        "{{\"name\":{},\"type\":\"{}\"",
        json_string(&e.name),
        kind_name(e.kind)
    );
    if let Some(size) = e.size {
        s.push_str(&format!(",\"size\":{size}"));
    }
    if let Some(t) = e.mtime {
        s.push_str(&format!(",\"mtime\":\"{}\"", iso8601(t)));
    }
    if let Some(m) = e.mode {
        s.push_str(&format!(",\"mode\":\"{m:o}\""));
    }
    if let Some(t) = &e.link_target {
        s.push_str(&format!(",\"target\":{}", json_string(t)));
    }
    s.push('}');
    s
}

/// The entries of the URL: the directory's listing, or the matches of a glob in the last
/// component.
async fn list_url(client: &mut Client, url: &FtpUrl) -> Result<Vec<RemoteEntry>, Failure> {
    let name = url.file_name();
    if !url.dir && glob::is_glob(name) {
        let parent = url.parent();
        let entries = client
            .list(if parent.is_empty() {
                None
            } else {
                Some(&parent)
            })
            .await
            .map_err(|e| Failure::client(&e, Stage::Other, &format!("listing {url}")))?;
        return Ok(entries
            .into_iter()
            .filter(|e| glob::matches(name, &e.name))
            .collect());
    }
    let path = url.path.as_str();
    match client
        .list(if path.is_empty() { None } else { Some(path) })
        .await
    {
        Ok(entries) => Ok(entries),
        // Not a directory (MLSD refuses files): the file's own entry from its parent.
        Err(e) if !url.dir && !path.is_empty() && matches!(e.reply_code(), Some(501 | 550)) => {
            match kind_of(client, url).await {
                Ok(Some(entry)) if entry.kind != EntryKind::Dir => Ok(vec![entry]),
                _ => Err(Failure::client(&e, Stage::Other, &format!("listing {url}"))),
            }
        }
        Err(e) => Err(Failure::client(&e, Stage::Other, &format!("listing {url}"))),
    }
}

/// `ferry ls`.
pub async fn ls(args: &LsArgs) -> anyhow::Result<()> {
    let url = parse_url(&args.url)?;
    let session = Session::new(&url, &args.conn)?;
    let mut client = session.connect().await?;
    let mut entries = list_url(&mut client, &url).await?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    for e in &entries {
        let line = if args.json {
            json_line(e)
        } else if args.long {
            long_line(e)
        } else {
            e.name.clone()
        };
        out.push_str(&line);
        out.push('\n');
    }
    print!("{out}");
    let _ = client.quit().await;
    Ok(())
}

/// What the URL of `get` names, after looking at the server.
enum Target {
    /// One file.
    File,
    /// A directory (with `-r`).
    Dir,
}

/// Looks `path` up in its parent's listing.
async fn kind_of(client: &mut Client, url: &FtpUrl) -> Result<Option<RemoteEntry>, Failure> {
    let parent = url.parent();
    let name = url.file_name().to_owned();
    let entries = client
        .list(if parent.is_empty() {
            None
        } else {
            Some(&parent)
        })
        .await
        .map_err(|e| Failure::client(&e, Stage::Download, &format!("listing {url}")))?;
    Ok(entries.into_iter().find(|e| e.name == name))
}

/// `--compress` asked for MODE Z, which the server does not offer (or refused).
fn warn_uncompressed(client: &Client, asked: bool) {
    if asked && !client.is_compressing() {
        eprintln!("ferry: warning: the server does not offer MODE Z; transferring uncompressed");
    }
}

/// `ferry get`.
pub async fn get(args: &GetArgs) -> anyhow::Result<()> {
    let url = parse_url(&args.url)?;
    let t = &args.transfer;
    let mut session = Session::new(&url, &args.conn)?;
    session.opts.compress = t.compress;
    session.opts.representation = t.representation();
    let progress = Progress::new(args.conn.quiet, args.conn.progress);
    let mut client = session.connect().await?;
    warn_uncompressed(&client, t.compress);
    let name = url.file_name().to_owned();
    let mut jobs = Vec::new();

    if !url.dir && glob::is_glob(&name) {
        // Every matching file into the output directory (default: the current one).
        let out_dir = args.output.clone().unwrap_or_else(|| PathBuf::from("."));
        let matches = list_url(&mut client, &url).await?;
        let parent = url.parent();
        for e in matches {
            match e.kind {
                EntryKind::File => jobs.push(Job::Get {
                    remote: join(&parent, &e.name),
                    local: out_dir.join(&e.name),
                    size: e.size,
                    mtime: e.mtime,
                }),
                EntryKind::Dir if t.recursive => {
                    let remote = join(&parent, &e.name);
                    collect_remote_dir(&mut client, &remote, &out_dir.join(&e.name), &mut jobs)
                        .await?;
                }
                _ => {}
            }
        }
        if jobs.is_empty() {
            return Err(Failure::new(Exit::NotFound, format!("no file matches {url}")).into());
        }
    } else {
        let target = if url.dir || url.path.is_empty() || url.path == "/" {
            Target::Dir
        } else if t.recursive {
            match kind_of(&mut client, &url).await? {
                Some(e) if e.kind == EntryKind::Dir => Target::Dir,
                Some(_) => Target::File,
                None => {
                    return Err(Failure::new(Exit::NotFound, format!("{url}: not found")).into())
                }
            }
        } else {
            Target::File
        };
        match target {
            Target::File => {
                let local = match &args.output {
                    Some(o) if o.is_dir() => o.join(&name),
                    Some(o) => o.clone(),
                    None => PathBuf::from(&name),
                };
                jobs.push(Job::Get {
                    remote: url.path.clone(),
                    local,
                    size: None,
                    mtime: None,
                });
            }
            Target::Dir if !t.recursive => {
                return Err(usage(format!("{url} is a directory: use -r")));
            }
            Target::Dir => {
                let out = match &args.output {
                    Some(o) => o.clone(),
                    None if name.is_empty() || name == "/" => PathBuf::from("."),
                    None => PathBuf::from(&name),
                };
                std::fs::create_dir_all(&out)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
                collect_remote_dir(&mut client, &url.path, &out, &mut jobs).await?;
            }
        }
    }
    let ctx = Arc::new(Ctx {
        session,
        progress,
        segments: t.segments,
        resume: t.resume,
        verify: false,
        limit: args.conn.limit_rate,
    });
    let (client, result) = run_jobs(ctx, client, jobs, t.parallel).await;
    if let Some(c) = client {
        let _ = c.quit().await;
    }
    result.map_err(Into::into)
}

/// Adds a job per file under the remote directory `remote`, creating the local
/// directories under `local`.
async fn collect_remote_dir(
    client: &mut Client,
    remote: &str,
    local: &Path,
    jobs: &mut Vec<Job>,
) -> Result<(), Failure> {
    let tree = walk_remote(client, remote)
        .await
        .map_err(|e| Failure::client(&e, Stage::Download, &format!("listing {remote}")))?;
    std::fs::create_dir_all(local).map_err(|e| {
        Failure::new(
            Exit::Generic,
            format!("cannot create {}: {e}", local.display()),
        )
    })?;
    for (rel, node) in tree {
        let target = local.join(&rel);
        if node.dir {
            std::fs::create_dir_all(&target).map_err(|e| {
                Failure::new(
                    Exit::Generic,
                    format!("cannot create {}: {e}", target.display()),
                )
            })?;
        } else {
            jobs.push(Job::Get {
                remote: join(remote, &rel),
                local: target,
                size: Some(node.size),
                mtime: node.mtime,
            });
        }
    }
    Ok(())
}

/// `ferry put`.
pub async fn put(args: &PutArgs) -> anyhow::Result<()> {
    let Some((url_text, locals)) = args.args.split_last() else {
        return Err(usage("put needs PATH... URL"));
    };
    let url = parse_url(url_text)?;
    let t = &args.transfer;
    // Several sources, or a directory: the URL names a directory.
    let into_dir = url.dir || locals.len() > 1 || locals.iter().any(|l| Path::new(l).is_dir());
    let mut plan: Vec<(PathBuf, String)> = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    for l in locals {
        let path = PathBuf::from(l);
        let meta = std::fs::metadata(&path)
            .map_err(|e| Failure::new(Exit::Generic, format!("{l}: {e}")))?;
        let base = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .ok_or_else(|| usage(format!("{l}: no usable file name")))?;
        if meta.is_dir() {
            if !t.recursive {
                return Err(usage(format!("{l} is a directory: use -r")));
            }
            let top = join(&url.path, &base);
            dirs.push(top.clone());
            let tree = walk_local(&path).map_err(|e| anyhow::anyhow!("{l}: {e}"))?;
            for (rel, node) in tree {
                if node.dir {
                    dirs.push(join(&top, &rel));
                } else {
                    plan.push((path.join(&rel), join(&top, &rel)));
                }
            }
        } else if into_dir {
            plan.push((path, join(&url.path, &base)));
        } else {
            plan.push((path, url.path.clone()));
        }
    }
    let mut session = Session::new(&url, &args.conn)?;
    session.opts.compress = t.compress;
    session.opts.representation = t.representation();
    let progress = Progress::new(args.conn.quiet, args.conn.progress);
    let mut client = session.connect().await?;
    warn_uncompressed(&client, t.compress);
    if into_dir && !url.path.is_empty() {
        remote_mkdir_all(&mut client, &url.path).await;
    }
    for d in &dirs {
        // Errors are those of existing directories; a real problem shows in the uploads.
        let _ = client.mkdir(d).await;
    }
    let jobs = plan
        .into_iter()
        .map(|(local, remote)| Job::Put { local, remote })
        .collect();
    let ctx = Arc::new(Ctx {
        session,
        progress,
        segments: t.segments,
        resume: t.resume,
        verify: false,
        limit: args.conn.limit_rate,
    });
    let (client, result) = run_jobs(ctx, client, jobs, t.parallel).await;
    if let Some(c) = client {
        let _ = c.quit().await;
    }
    result.map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, kind: EntryKind) -> RemoteEntry {
        RemoteEntry {
            name: name.to_owned(),
            kind,
            size: Some(42),
            mtime: Some(1_700_000_000),
            mode: None,
            link_target: None,
        }
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn long_and_json_lines() {
        let e = entry("a \"b\".txt", EntryKind::File);
        assert_eq!(
            long_line(&e),
            "-           42 2023-11-14T22:13:20Z a \"b\".txt"
        );
        assert_eq!(
            json_line(&e),
            "{\"name\":\"a \\\"b\\\".txt\",\"type\":\"file\",\"size\":42,\"mtime\":\"2023-11-14T22:13:20Z\"}"
        );
        let d = RemoteEntry {
            size: None,
            mtime: None,
            ..entry("d", EntryKind::Dir)
        };
        assert_eq!(json_line(&d), "{\"name\":\"d\",\"type\":\"dir\"}");
        assert!(long_line(&d).starts_with("d            - ----"));
        assert_eq!(json_string("\u{1}"), "\"\\u0001\"");
    }
}
