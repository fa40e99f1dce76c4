//! Virtual FTP paths.
//!
//! A [`VirtualPath`] is what a session sees: absolute, `/`-separated, normalised (no empty,
//! `.` or `..` components, no trailing slash except the root itself). Joining a client
//! argument onto the working directory resolves `.` and `..` lexically, and `..` at the root
//! stays at the root, so a virtual path can never name anything above the root. NUL bytes,
//! components longer than [`MAX_COMPONENT`] bytes and paths longer than [`MAX_PATH`] bytes are
//! errors. Backslashes are ordinary characters (Ferry's storage maps names as they are).
//!
//! Confinement on disk (symlinks pointing outside) is the storage backend's job; this type
//! guarantees the lexical part.

use std::fmt;

/// Longest allowed path component, in bytes.
pub const MAX_COMPONENT: usize = 255;
/// Longest allowed whole path, in bytes.
pub const MAX_PATH: usize = 4096;

/// Why a path argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The argument contains a NUL byte.
    #[error("path contains a NUL byte")]
    Nul,
    /// A component is longer than [`MAX_COMPONENT`].
    #[error("file name too long")]
    ComponentTooLong,
    /// The path is longer than [`MAX_PATH`].
    #[error("path too long")]
    TooLong,
}

/// A normalised absolute path inside a session's root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// The root, `/`.
    pub fn root() -> VirtualPath {
        VirtualPath("/".to_string())
    }

    /// Resolves `arg` (absolute, or relative to `self`) into a normalised path. An empty
    /// argument yields `self`. A `~` argument alone or a leading `~/` is relative to the
    /// root, as many clients expect.
    pub fn join(&self, arg: &str) -> Result<VirtualPath, PathError> {
        if arg.contains('\0') {
            return Err(PathError::Nul);
        }
        if arg.is_empty() {
            return Ok(self.clone());
        }
        let (mut parts, rest): (Vec<&str>, &str) = if let Some(rest) = arg.strip_prefix('/') {
            (Vec::new(), rest)
        } else if arg == "~" {
            (Vec::new(), "")
        } else if let Some(rest) = arg.strip_prefix("~/") {
            (Vec::new(), rest)
        } else {
            (self.components().collect(), arg)
        };
        for comp in rest.split('/') {
            match comp {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                name if name.len() > MAX_COMPONENT => return Err(PathError::ComponentTooLong),
                name => parts.push(name),
            }
        }
        let len = parts.iter().map(|p| p.len() + 1).sum::<usize>().max(1);
        if len > MAX_PATH {
            return Err(PathError::TooLong);
        }
        let mut out = String::with_capacity(len);
        for part in &parts {
            out.push('/');
            out.push_str(part);
        }
        if out.is_empty() {
            out.push('/');
        }
        Ok(VirtualPath(out))
    }

    /// The path as a string (always starts with `/`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// True when `self` is `dir` or lies below it (component-wise: `/pub` is not below
    /// `/pu`).
    pub fn starts_with(&self, dir: &VirtualPath) -> bool {
        let (me, d) = (self.as_str(), dir.as_str());
        d == "/" || me == d || (me.starts_with(d) && me.as_bytes().get(d.len()) == Some(&b'/'))
    }

    /// The parent; the root's parent is the root.
    pub fn parent(&self) -> VirtualPath {
        match self.0.rfind('/') {
            Some(0) | None => VirtualPath::root(),
            Some(i) => VirtualPath(self.0.get(..i).unwrap_or("/").to_string()),
        }
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            return None;
        }
        self.0.rsplit('/').next()
    }

    /// The components from the root down (none for the root).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The path relative to the root, without the leading `/` (`"."` for the root), for a
    /// backend that opens names relative to a root directory handle.
    pub fn relative(&self) -> &str {
        if self.is_root() {
            "."
        } else {
            &self.0[1..]
        }
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Quotes a path for a 257 reply (RFC 959 Appendix II): surrounded by `"` with each `"`
/// inside doubled.
pub fn quote_257(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for c in path.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}
