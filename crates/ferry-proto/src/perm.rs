//! Permissions of an account: what it may do, account-wide and per directory.
//!
//! A [`PermSet`] is a set of [`Perm`]s. [`Permissions`] holds the account's set and
//! per-directory overrides; the set that applies to a directory is the one of the longest
//! rule that contains it (a rule for `/pub` covers `/pub` and everything below it), or the
//! account's set when no rule does. The overrides replace the set, they do not add to it.
//!
//! Which directory is checked: operations on an entry check the directory that holds it
//! (RETR `/pub/a.txt` checks `/pub`; MKD `/pub/new` checks `/pub`; RMD `/pub` checks `/`),
//! and listings check the listed directory itself. A rename checks the directories of both
//! names.

use std::fmt;
use std::str::FromStr;

use crate::path::VirtualPath;

/// One thing an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Perm {
    /// List directories (LIST, NLST, MLSD, MLST, STAT path) and read file facts (SIZE,
    /// MDTM).
    List,
    /// Download files (RETR).
    Read,
    /// Upload new files (STOR, STOU, APPE to a new file) and set times (MFMT).
    Write,
    /// Replace or change existing files (STOR over a file, APPE, REST+STOR).
    Overwrite,
    /// Delete files (DELE).
    Delete,
    /// Rename files and directories (RNFR, RNTO).
    Rename,
    /// Create directories (MKD).
    Mkdir,
    /// Remove directories (RMD).
    Rmdir,
    /// Change permission bits (SITE CHMOD).
    Chmod,
}

impl Perm {
    /// Every permission, in a fixed order.
    pub const ALL: [Perm; 9] = [
        Perm::List,
        Perm::Read,
        Perm::Write,
        Perm::Overwrite,
        Perm::Delete,
        Perm::Rename,
        Perm::Mkdir,
        Perm::Rmdir,
        Perm::Chmod,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The name used in configuration files (`list`, `read`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Perm::List => "list",
            Perm::Read => "read",
            Perm::Write => "write",
            Perm::Overwrite => "overwrite",
            Perm::Delete => "delete",
            Perm::Rename => "rename",
            Perm::Mkdir => "mkdir",
            Perm::Rmdir => "rmdir",
            Perm::Chmod => "chmod",
        }
    }
}

/// A set of [`Perm`]s.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermSet(u16);

impl PermSet {
    /// No permission at all.
    pub const NONE: PermSet = PermSet(0);

    /// Every permission.
    pub fn all() -> PermSet {
        PermSet::of(&Perm::ALL)
    }

    /// List and read: a read-only account.
    pub fn read_only() -> PermSet {
        PermSet::of(&[Perm::List, Perm::Read])
    }

    /// The set of the given permissions.
    pub fn of(perms: &[Perm]) -> PermSet {
        PermSet(perms.iter().fold(0, |acc, p| acc | p.bit()))
    }

    /// True when `perm` is in the set.
    pub fn has(self, perm: Perm) -> bool {
        self.0 & perm.bit() != 0
    }

    /// The set with `perm` added.
    pub fn with(self, perm: Perm) -> PermSet {
        PermSet(self.0 | perm.bit())
    }

    /// True when the set allows any change to the file tree.
    pub fn can_change_anything(self) -> bool {
        Perm::ALL
            .iter()
            .any(|&p| !matches!(p, Perm::List | Perm::Read) && self.has(p))
    }

    /// The permissions in the set, in [`Perm::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Perm> {
        Perm::ALL.into_iter().filter(move |&p| self.has(p))
    }
}

impl fmt::Debug for PermSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Perm::name)).finish()
    }
}

impl fmt::Display for PermSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Perm::name).collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// A permission name that is not one of [`Perm`]'s (or a shorthand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown permission {0:?}: use list, read, write, overwrite, delete, rename, mkdir, rmdir, \
     chmod, or the shorthands all, ro, rw, none"
)]
pub struct UnknownPerm(pub String);

impl FromStr for PermSet {
    type Err = UnknownPerm;

    /// One name or shorthand: `all`/`rw`/`*` (everything), `ro` (list, read), `none`, or a
    /// single permission name; any case.
    fn from_str(s: &str) -> Result<PermSet, UnknownPerm> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "all" | "rw" | "*" => return Ok(PermSet::all()),
            "ro" => return Ok(PermSet::read_only()),
            "none" => return Ok(PermSet::NONE),
            _ => {}
        }
        Perm::ALL
            .iter()
            .find(|p| p.name() == lower)
            .map(|&p| PermSet::of(&[p]))
            .ok_or_else(|| UnknownPerm(s.chars().take(40).collect()))
    }
}

impl PermSet {
    /// The union of a list of names and shorthands (see [`PermSet::from_str`]).
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<PermSet, UnknownPerm> {
        names.iter().try_fold(PermSet::NONE, |acc, name| {
            let set: PermSet = name.as_ref().parse()?;
            Ok(PermSet(acc.0 | set.0))
        })
    }
}

/// An account's permissions: its own set and per-directory overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    base: PermSet,
    /// Directory rules, longest path first.
    dirs: Vec<(VirtualPath, PermSet)>,
}

impl Default for Permissions {
    /// Everything everywhere.
    fn default() -> Self {
        Permissions::uniform(PermSet::all())
    }
}

impl Permissions {
    /// The same set everywhere.
    pub fn uniform(base: PermSet) -> Permissions {
        Permissions {
            base,
            dirs: Vec::new(),
        }
    }

    /// Adds (or replaces) the rule for `dir` and everything below it.
    pub fn set_dir(&mut self, dir: VirtualPath, perms: PermSet) {
        self.dirs.retain(|(d, _)| *d != dir);
        self.dirs.push((dir, perms));
        self.dirs
            .sort_by_key(|(d, _)| std::cmp::Reverse(d.as_str().len()));
    }

    /// The account-wide set.
    pub fn base(&self) -> PermSet {
        self.base
    }

    /// The per-directory rules, longest first.
    pub fn dirs(&self) -> &[(VirtualPath, PermSet)] {
        &self.dirs
    }

    /// The set that applies inside directory `dir`.
    pub fn in_dir(&self, dir: &VirtualPath) -> PermSet {
        self.dirs
            .iter()
            .find(|(rule, _)| dir.starts_with(rule))
            .map_or(self.base, |(_, set)| *set)
    }

    /// The set that applies to the entry `path` (the rules of the directory holding it).
    pub fn for_entry(&self, path: &VirtualPath) -> PermSet {
        self.in_dir(&path.parent())
    }

    /// True when a per-directory rule is attached to `path` or to a directory below it:
    /// renaming `path` (or renaming something onto it) would move files out from under
    /// their rules, so the session refuses it.
    pub fn has_rule_at_or_below(&self, path: &VirtualPath) -> bool {
        self.dirs.iter().any(|(rule, _)| rule.starts_with(path))
    }

    /// True when the account can change nothing anywhere.
    pub fn is_read_only(&self) -> bool {
        !self.base.can_change_anything() && !self.dirs.iter().any(|(_, s)| s.can_change_anything())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vp(s: &str) -> VirtualPath {
        VirtualPath::root().join(s).unwrap()
    }

    #[test]
    fn names_and_shorthands() {
        assert_eq!("ro".parse::<PermSet>().unwrap(), PermSet::read_only());
        assert_eq!("ALL".parse::<PermSet>().unwrap(), PermSet::all());
        assert_eq!(
            PermSet::parse_list(&["list", "write"]).unwrap(),
            PermSet::of(&[Perm::List, Perm::Write])
        );
        assert!("fly".parse::<PermSet>().is_err());
        assert_eq!(
            PermSet::of(&[Perm::Read, Perm::List]).to_string(),
            "list,read"
        );
        assert_eq!(PermSet::NONE.to_string(), "none");
    }

    #[test]
    fn longest_rule_wins() {
        let mut p = Permissions::uniform(PermSet::read_only());
        p.set_dir(vp("/pub"), PermSet::all());
        p.set_dir(vp("/pub/locked"), PermSet::NONE);
        assert_eq!(p.in_dir(&vp("/")), PermSet::read_only());
        assert_eq!(p.in_dir(&vp("/pub")), PermSet::all());
        assert_eq!(p.in_dir(&vp("/pub/x/y")), PermSet::all());
        assert_eq!(p.in_dir(&vp("/pub/locked/z")), PermSet::NONE);
        assert_eq!(p.in_dir(&vp("/public")), PermSet::read_only());
        assert_eq!(p.for_entry(&vp("/pub")), PermSet::read_only());
        assert_eq!(p.for_entry(&vp("/pub/a.txt")), PermSet::all());
        assert!(!p.is_read_only());
        assert!(Permissions::uniform(PermSet::read_only()).is_read_only());
    }
}
