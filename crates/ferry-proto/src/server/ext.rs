//! The session side of the extension commands: checksums (HASH with OPTS HASH and RANG or
//! REST ranges, draft-bryan-ftpext-hash-02; the X-hash family as ProFTPD's mod_digest
//! answers it), MFF / MFCT (draft-somers-ftp-mfxx), AVBL, CLNT, LANG (RFC 2640), SMNT and
//! the SITE commands UMASK, IDLE and UTIME.
//!
//! Checksums and free space are I/O, so they are [`Action::Hash`] and [`Action::Avbl`]: the
//! driver computes them (off the async threads for hashes, stopping early on `ABOR`) and
//! reports back with [`Session::on_hash`] or [`Session::on_avbl`].
//!
//! Ranges: `RANG start end` (end inclusive; `RANG 1 0` resets) applies to the next command
//! only, and only HASH uses it; a `REST n` right before HASH starts the range at `n`, to the
//! end of the file. The X-commands take `path [start [end]]` with `end` exclusive, as
//! mod_digest does. A HASH reply names the range hashed as `start-end` with the end
//! inclusive (`0-0` for an empty range).

use crate::client::hash::HashAlgorithm;
use crate::command::{MffFacts, Site};
use crate::listing::{format_mdtm, EntryInfo, EntryKind};
use crate::path::VirtualPath;
use crate::perm::Perm;
use crate::reply::Reply;

use super::{reply, Action, FsOp, OpError, Pending, Session, State};

/// The reply form a checksum request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashStyle {
    /// `HASH`: `213 <ALGO> <start>-<end> <hex> <path>`.
    Hash,
    /// `XSHA256` and its siblings: `250 <hex>`.
    X,
}

/// A checksum for the driver to compute: the bytes of `path` from `start` up to `end`
/// (exclusive; `None`: the end of the file, also when `end` lies beyond it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashRequest {
    /// The file.
    pub path: VirtualPath,
    /// The algorithm.
    pub algorithm: HashAlgorithm,
    /// First byte.
    pub start: u64,
    /// End position (exclusive), if limited.
    pub end: Option<u64>,
    /// How the result is answered.
    pub style: HashStyle,
}

/// How a checksum computation ended, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOutcome {
    /// Computed over `bytes` bytes from the request's start.
    Done {
        /// The digest, lower-case hex.
        hex: String,
        /// Bytes hashed.
        bytes: u64,
    },
    /// The file could not be read.
    Failed(OpError),
    /// The client sent ABOR meanwhile.
    Aborted,
}

/// Algorithms HASH offers, in the order of the FEAT line.
const HASH_OFFERED: [HashAlgorithm; 5] = [
    HashAlgorithm::Sha256,
    HashAlgorithm::Sha512,
    HashAlgorithm::Sha1,
    HashAlgorithm::Md5,
    HashAlgorithm::Crc32,
];

/// Extension settings of one session.
#[derive(Debug, Clone)]
pub(super) struct ExtState {
    /// The algorithm HASH uses (OPTS HASH).
    hash: HashAlgorithm,
    /// A pending RANG (start, end inclusive) for the next HASH.
    pub(super) rang: Option<(u64, u64)>,
    /// SITE UMASK, once set.
    umask: Option<u32>,
    /// SITE IDLE, once set (seconds).
    idle: Option<u64>,
    /// The server's idle timeout (seconds), the most SITE IDLE may ask; kept across REIN.
    pub(super) idle_max: Option<u64>,
    /// What CLNT said.
    client: Option<String>,
}

impl Default for ExtState {
    fn default() -> Self {
        ExtState {
            hash: HashAlgorithm::Sha256,
            rang: None,
            umask: None,
            idle: None,
            idle_max: None,
            client: None,
        }
    }
}

/// Longest CLNT text kept.
const MAX_CLIENT_NAME: usize = 128;

/// The `start-end` of a HASH reply (end inclusive).
fn shown_range(start: u64, bytes: u64) -> String {
    let end = start.saturating_add(bytes.saturating_sub(1));
    format!("{start}-{end}")
}

impl Session {
    /// The FEAT lines of the extensions (unsorted).
    pub(super) fn ext_features(&self) -> Vec<String> {
        let hash: Vec<String> = HASH_OFFERED
            .iter()
            .map(|a| {
                let star = if *a == self.ext.hash { "*" } else { "" };
                format!("{}{star}", a.hash_name())
            })
            .collect();
        let mut lines = vec![
            "AVBL".to_string(),
            "CLNT".to_string(),
            format!("HASH {}", hash.join(";")),
            "LANG EN*".to_string(),
            "MFF modify;UNIX.mode;".to_string(),
        ];
        lines.extend(HASH_OFFERED.iter().map(|a| a.x_verb().to_string()));
        lines
    }

    /// `HASH path`, with a pending RANG or REST range.
    pub(super) fn cmd_hash(
        &mut self,
        arg: &str,
        rang: Option<(u64, u64)>,
        rest: Option<u64>,
    ) -> Vec<Action> {
        let (start, end) = match (rang, rest) {
            (Some((s, e)), _) => (s, Some(e.saturating_add(1))),
            (None, Some(s)) => (s, None),
            (None, None) => (0, None),
        };
        let algorithm = self.ext.hash;
        self.start_hash(arg, algorithm, start, end, HashStyle::Hash)
    }

    /// `XSHA256 path [start [end]]` and its siblings.
    pub(super) fn cmd_x_hash(
        &mut self,
        algorithm: HashAlgorithm,
        arg: &str,
        start: Option<u64>,
        end: Option<u64>,
    ) -> Vec<Action> {
        self.start_hash(arg, algorithm, start.unwrap_or(0), end, HashStyle::X)
    }

    fn start_hash(
        &mut self,
        arg: &str,
        algorithm: HashAlgorithm,
        start: u64,
        end: Option<u64>,
        style: HashStyle,
    ) -> Vec<Action> {
        self.with_path(arg, |s, path| {
            if let Err(denied) = s.check(&path, Perm::Read, false) {
                return vec![denied];
            }
            let req = HashRequest {
                path,
                algorithm,
                start,
                end,
                style,
            };
            s.pending = Some(Pending::Hash(req.clone()));
            vec![Action::Hash(req)]
        })
    }

    /// Reports the result of [`Action::Hash`].
    pub fn on_hash(&mut self, outcome: HashOutcome) -> Vec<Action> {
        let req = match self.pending.take() {
            Some(Pending::Hash(req)) => req,
            other => {
                self.pending = other;
                return Vec::new();
            }
        };
        match outcome {
            HashOutcome::Done { hex, bytes } => match req.style {
                HashStyle::Hash => vec![reply(
                    213,
                    format!(
                        "{} {} {hex} {}",
                        req.algorithm.hash_name(),
                        shown_range(req.start, bytes),
                        req.path
                    ),
                )],
                HashStyle::X => vec![reply(250, hex)],
            },
            HashOutcome::Failed(e) => {
                vec![reply(
                    e.code,
                    format!("Could not hash file: {}.", e.message),
                )]
            }
            HashOutcome::Aborted => vec![
                reply(426, "Checksum computation aborted."),
                reply(226, "ABOR successful."),
            ],
        }
    }

    /// `OPTS HASH [algorithm]`.
    pub(super) fn opts_hash(&mut self, algorithm: Option<HashAlgorithm>) -> Action {
        match algorithm {
            None => reply(200, self.ext.hash.hash_name()),
            Some(a) if HASH_OFFERED.contains(&a) => {
                self.ext.hash = a;
                reply(200, a.hash_name())
            }
            Some(a) => reply(504, format!("Hash algorithm {a} not supported.")),
        }
    }

    /// `RANG start end`.
    pub(super) fn cmd_rang(&mut self, start: u64, end: u64) -> Action {
        if (start, end) == (1, 0) {
            self.ext.rang = None;
            return reply(350, "Restarting at 0. End byte range reset.");
        }
        if end < start {
            return reply(501, "RANG: the end byte is before the start byte.");
        }
        self.ext.rang = Some((start, end));
        reply(
            350,
            format!("Restarting at {start}. End byte range at {end}. Send HASH."),
        )
    }

    /// `MFF facts path`: `modify` needs the write permission, `UNIX.mode` the chmod one.
    pub(super) fn cmd_mff(&mut self, facts: MffFacts, arg: &str) -> Vec<Action> {
        self.with_path(arg, |s, path| {
            let needs = [
                (facts.modify.is_some(), Perm::Write),
                (facts.mode.is_some(), Perm::Chmod),
            ];
            for (wanted, perm) in needs {
                if wanted {
                    if let Err(denied) = s.check(&path, perm, false) {
                        return vec![denied];
                    }
                }
            }
            s.start_fs(FsOp::Mff { path, facts })
        })
    }

    /// `AVBL [path]`: needs the list permission there.
    pub(super) fn cmd_avbl(&mut self, arg: Option<String>) -> Vec<Action> {
        self.with_path(arg.as_deref().unwrap_or(""), |s, path| {
            if let Err(denied) = s.check(&path, Perm::List, true) {
                return vec![denied];
            }
            s.pending = Some(Pending::Avbl);
            vec![Action::Avbl(path)]
        })
    }

    /// Reports the result of [`Action::Avbl`]: the bytes that can still be stored.
    pub fn on_avbl(&mut self, result: Result<u64, OpError>) -> Vec<Action> {
        match self.pending.take() {
            Some(Pending::Avbl) => {}
            other => {
                self.pending = other;
                return Vec::new();
            }
        }
        match result {
            Ok(n) => vec![reply(213, n.to_string())],
            Err(e) => vec![reply(
                e.code,
                format!("Could not get the available space: {}.", e.message),
            )],
        }
    }

    /// `CLNT name`.
    pub(super) fn cmd_clnt(&mut self, name: &str) -> Action {
        self.ext.client = Some(name.chars().take(MAX_CLIENT_NAME).collect());
        reply(200, "Noted.")
    }

    /// The client's name as CLNT gave it.
    pub fn client_name(&self) -> Option<&str> {
        self.ext.client.as_deref()
    }

    /// `LANG [tag]` (RFC 2640 §4): English only.
    pub(super) fn cmd_lang(&mut self, tag: Option<&str>) -> Action {
        match tag {
            None => reply(200, "Language set to the default, EN."),
            Some(t)
                if t.eq_ignore_ascii_case("EN")
                    || t.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("EN-")) =>
            {
                reply(200, "Language set to EN.")
            }
            Some(_) => reply(504, "Language not supported; only EN is available."),
        }
    }

    /// The SITE commands of this module; `None` for another one.
    pub(super) fn site_ext(&mut self, site: &Site) -> Option<Vec<Action>> {
        Some(match site {
            Site::Umask(None) => vec![match self.ext.umask {
                Some(m) => reply(200, format!("Current UMASK is {m:03o}.")),
                None => reply(
                    200,
                    "UMASK not set: new files and directories get the server's default modes.",
                ),
            }],
            Site::Umask(Some(m)) => {
                self.ext.umask = Some(*m);
                vec![reply(
                    200,
                    format!(
                        "UMASK set to {m:03o}: applied to new files and directories where you may chmod."
                    ),
                )]
            }
            Site::Idle(None) => vec![reply(
                200,
                match (self.ext.idle, self.ext.idle_max) {
                    (Some(n), _) => format!("Current IDLE time limit is {n} seconds."),
                    (None, Some(max)) => format!("Current IDLE time limit is {max} seconds."),
                    (None, None) => "IDLE time limit is the server's.".to_string(),
                },
            )],
            Site::Idle(Some(n)) => vec![match self.ext.idle_max {
                Some(max) if *n == 0 || *n > max => reply(
                    501,
                    format!("Maximum IDLE time must be between 1 and {max} seconds."),
                ),
                None if *n == 0 => reply(501, "IDLE time must be at least 1 second."),
                _ => {
                    self.ext.idle = Some(*n);
                    reply(200, format!("Maximum IDLE time set to {n} seconds."))
                }
            }],
            Site::Utime { mtime, path } => {
                let mtime = *mtime;
                self.fs_path(path, Some(Perm::Write), |path| FsOp::Utime { path, mtime })
            }
            _ => return None,
        })
    }

    /// Sets the server's idle timeout (seconds): the default, and the most `SITE IDLE`
    /// may ask for.
    pub fn set_idle_limit(&mut self, max_secs: u64) {
        self.ext.idle_max = Some(max_secs);
    }

    /// The idle timeout `SITE IDLE` asked for (seconds), if any; never above the limit set
    /// with [`Session::set_idle_limit`].
    pub fn idle_timeout(&self) -> Option<u64> {
        match (self.ext.idle, self.ext.idle_max) {
            (Some(n), Some(max)) => Some(n.min(max)),
            (idle, _) => idle,
        }
    }

    /// The permission bits a file (or directory, `dir`) that the session just created at
    /// `path` should get under its `SITE UMASK`: `None` when no umask was set or the account
    /// may not chmod there (the storage's default mode stays).
    pub fn creation_mode(&self, path: &VirtualPath, dir: bool) -> Option<u32> {
        let umask = self.ext.umask?;
        if !matches!(self.state, State::LoggedIn(_))
            || !self.perms_in(&path.parent()).has(Perm::Chmod)
        {
            return None;
        }
        let base = if dir { 0o777 } else { 0o666 };
        Some(base & !umask)
    }

    /// The replies to the filesystem operations of this module.
    pub(super) fn on_fs_ext(&self, op: FsOp, meta: Option<EntryInfo>) -> Vec<Action> {
        match op {
            FsOp::Mff { path, facts } => {
                let mut text = String::new();
                if let Some(t) = facts.modify {
                    text.push_str(&format!("modify={};", format_mdtm(t)));
                }
                if let Some(m) = facts.mode {
                    text.push_str(&format!("UNIX.mode={m:04o};"));
                }
                vec![reply(213, format!("{text} {path}"))]
            }
            FsOp::Utime { .. } => vec![reply(200, "SITE UTIME command successful.")],
            FsOp::Mfct(_) => match meta {
                Some(m) if m.kind != EntryKind::Other => vec![reply(
                    504,
                    "MFCT: this server's filesystem cannot set creation times.",
                )],
                _ => vec![reply(550, "No such file or directory.")],
            },
            _ => Vec::new(),
        }
    }
}

/// The SITE HELP reply.
pub(super) fn site_help() -> Reply {
    Reply::multi(
        214,
        vec![
            "The following SITE commands are recognized.".to_string(),
            "CHMOD HELP IDLE UMASK UTIME".to_string(),
            "Help OK.".to_string(),
        ],
    )
}

/// The reply to SMNT.
pub(super) fn smnt_reply() -> Action {
    reply(
        502,
        "SMNT not implemented: each account has one file tree, there is no other file structure to mount.",
    )
}

#[cfg(test)]
mod tests;
