//! Writing transferred files to disk (`extract_dir`).
//!
//! Bytes are streamed to a temporary file `.ferry-part-N` in the extraction directory as
//! they arrive (the data connection may open before the transfer command that names the
//! file is known), then renamed into place once the transfer is finished:
//!
//! - files are named after their path (absolute, resolved with the cwd) below the
//!   directory: `/pub/readme.txt` → `DIR/pub/readme.txt`. Components `""`, `.` and `..` are
//!   dropped; `\`, `:`, NUL and control characters become `_`; a component is cut at 200
//!   bytes. Nothing can land outside the directory.
//! - directory listings (LIST, NLST, MLSD) are saved as `<path>.listing.txt`
//!   (`/` → `root.listing.txt`);
//! - a data connection no transfer command used: `unlinked/data-<frame>.bin`; STOU without
//!   a known name: `stou-<frame>.bin`;
//! - an incomplete transfer (gaps, no clean close, no 226/250, size mismatch) gets an
//!   `.incomplete` suffix;
//! - a name already taken (by this run or an earlier file) gets `-2`, `-3`, ... before its
//!   extension.
//!
//! Missing bytes (gaps) are skipped by default, so the file holds the bytes received, in
//! order, and is shorter than the original. With `fill_gaps` the writer seeks past the
//! hole instead, so offsets stay right and the hole reads as zeros (sparse on most file
//! systems).

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A file being written.
#[derive(Debug)]
pub(crate) struct PartFile {
    path: PathBuf,
    out: BufWriter<File>,
}

impl PartFile {
    /// Creates `dir/.ferry-part-<n>` (and `dir`).
    pub(crate) fn create(dir: &Path, n: u64) -> io::Result<PartFile> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!(".ferry-part-{n}"));
        let file = File::create(&path)?;
        Ok(PartFile {
            path,
            out: BufWriter::with_capacity(64 * 1024, file),
        })
    }

    /// The temporary path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends bytes.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)
    }

    /// Skips `len` bytes (they read as zeros).
    pub(crate) fn skip(&mut self, len: u64) -> io::Result<()> {
        let off = i64::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "gap too large"))?;
        self.out.seek(SeekFrom::Current(off))?;
        Ok(())
    }

    /// Flushes (extending the file over a trailing hole) and renames it to `target`.
    pub(crate) fn finish(mut self, target: &Path) -> io::Result<()> {
        self.out.flush()?;
        let file = self.out.get_ref();
        let end = file.stream_position_len()?;
        file.set_len(end)?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(&self.path, target)
    }

    /// Removes the temporary file.
    pub(crate) fn discard(self) {
        let path = self.path.clone();
        drop(self);
        let _ = fs::remove_file(path);
    }
}

trait PositionLen {
    fn stream_position_len(&self) -> io::Result<u64>;
}

impl PositionLen for File {
    /// The current position of the file cursor (where the next byte would go).
    fn stream_position_len(&self) -> io::Result<u64> {
        let mut f = self;
        f.stream_position()
    }
}

/// Longest component kept, in bytes.
const MAX_COMPONENT: usize = 200;

/// Makes one path component safe.
fn sanitize(component: &str) -> Option<String> {
    if component.is_empty() || component == "." || component == ".." {
        return None;
    }
    let mut out = String::new();
    for c in component.chars() {
        let c = if c == '\\' || c == ':' || c == '/' || c.is_control() {
            '_'
        } else {
            c
        };
        if out.len() + c.len_utf8() > MAX_COMPONENT {
            break;
        }
        out.push(c);
    }
    if out.is_empty() || out == "." || out == ".." {
        return None;
    }
    Some(out)
}

/// The relative file name for a transfer (before the collision suffix).
pub(crate) fn relative_name(
    command: &str,
    path: Option<&str>,
    frame: u64,
    complete: bool,
) -> PathBuf {
    let mut rel = PathBuf::new();
    let comps: Vec<String> = path
        .unwrap_or("")
        .split(['/', '\\'])
        .filter_map(sanitize)
        .collect();
    let listing = super::meaning::is_listing(command);
    if command == "?" {
        rel.push("unlinked");
        rel.push(format!("data-{frame}.bin"));
    } else if listing {
        match comps.split_last() {
            Some((last, dirs)) => {
                rel.extend(dirs);
                rel.push(format!("{last}.listing.txt"));
            }
            None => rel.push("root.listing.txt"),
        }
    } else if comps.is_empty() {
        rel.push(format!("{}-{frame}.bin", command.to_ascii_lowercase()));
    } else {
        rel.extend(&comps);
    }
    if !complete {
        let mut name = rel
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".incomplete");
        rel.set_file_name(name);
    }
    rel
}

/// `dir/rel`, or `dir/rel` with `-2`, `-3`, ... before the extension when taken.
pub(crate) fn unique_target(
    dir: &Path,
    rel: &Path,
    taken: &std::collections::HashSet<PathBuf>,
) -> PathBuf {
    let first = dir.join(rel);
    if !taken.contains(&first) && !first.exists() {
        return first;
    }
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, ext) = match name.find('.') {
        Some(i) if i > 0 => (name.get(..i).unwrap_or(""), name.get(i..).unwrap_or("")),
        _ => (name.as_str(), ""),
    };
    for n in 2..100_000u32 {
        let candidate = first.with_file_name(format!("{stem}-{n}{ext}"));
        if !taken.contains(&candidate) && !candidate.exists() {
            return candidate;
        }
    }
    first.with_file_name(format!("{stem}-{}{ext}", u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_escape() {
        let p = relative_name("RETR", Some("/../../etc/passwd"), 1, true);
        assert_eq!(p, PathBuf::from("etc/passwd"));
        let p = relative_name("RETR", Some("/a/..\\..\\b:c"), 1, false);
        assert_eq!(p, PathBuf::from("a/b_c.incomplete"));
        assert_eq!(
            relative_name("LIST", Some("/"), 1, true),
            PathBuf::from("root.listing.txt")
        );
        assert_eq!(
            relative_name("LIST", Some("/pub"), 1, true),
            PathBuf::from("pub.listing.txt")
        );
        assert_eq!(
            relative_name("?", None, 7, true),
            PathBuf::from("unlinked/data-7.bin")
        );
        assert_eq!(
            relative_name("STOU", None, 7, true),
            PathBuf::from("stou-7.bin")
        );
    }
}
