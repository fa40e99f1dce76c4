//! Directory listing writers (server side) and time stamps.
//!
//! - [`write_list_line`]: one `ls -l` style line for LIST:
//!   `-rw-r--r--   1 ftp      ftp          1234 Jan 02 15:04 name` for entries modified
//!   within the last six months (and not in the future), `Jan 02  2023` (year) otherwise.
//! - [`write_nlst_line`]: one name per line for NLST.
//! - [`write_mlsx_facts`]: the `fact=value;...; name` form of MLSD lines and MLST replies
//!   (RFC 3659 §7): type, size, modify, perm, unique, unix.mode, in the order of
//!   [`Fact::ALL`], restricted to the facts asked for.
//! - [`format_mdtm`] / [`parse_mdtm`]: `YYYYMMDDHHMMSS[.sss]` in UTC.
//!
//! Every writer appends to a caller-owned buffer and ends lines with CRLF, so a server can
//! stream a listing entry by entry. CR and LF in names are never written raw (they would
//! break the listing): they are replaced by spaces.

/// The kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (listed, never followed outside the root by the storage).
    Symlink,
    /// Anything else (device, socket, fifo).
    Other,
}

/// What a listing writer needs to know about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The entry's name (one component, not a path).
    pub name: String,
    /// Its kind.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the Unix epoch (UTC).
    pub mtime: i64,
    /// Unix permission bits (`0o7777` part).
    pub mode: u32,
    /// Link count.
    pub nlink: u64,
    /// Owner name to show.
    pub owner: String,
    /// Group name to show.
    pub group: String,
    /// A stable unique id (e.g. device and inode in hex), for the MLSx `unique` fact.
    pub unique: Option<String>,
}

/// An MLSx fact (RFC 3659 §7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fact {
    /// `type`.
    Type,
    /// `size`.
    Size,
    /// `modify`.
    Modify,
    /// `perm`.
    Perm,
    /// `unique`.
    Unique,
    /// `unix.mode`.
    UnixMode,
}

impl Fact {
    /// Every fact Ferry supports, in output order.
    pub const ALL: [Fact; 6] = [
        Fact::Type,
        Fact::Size,
        Fact::Modify,
        Fact::Perm,
        Fact::Unique,
        Fact::UnixMode,
    ];

    /// The fact's name as in FEAT and MLSx lines (`"type"`, `"unix.mode"`, ...).
    pub fn name(self) -> &'static str {
        todo!()
    }

    /// Looks a fact up by name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Fact> {
        let _ = name;
        todo!()
    }
}

/// The `type` fact value for an MLSD entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlsxType {
    /// Use the entry's own kind (`file`, `dir`, `OS.unix=symlink`, `OS.unix=other`).
    FromKind,
    /// `cdir`: the listed directory itself.
    Cdir,
    /// `pdir`: its parent.
    Pdir,
}

/// Appends one LIST line for `entry`, given the current time `now` (Unix seconds, UTC).
pub fn write_list_line(entry: &EntryInfo, now: i64, out: &mut Vec<u8>) {
    let _ = (entry, now, out);
    todo!()
}

/// Appends one NLST line: `name` followed by CRLF.
pub fn write_nlst_line(name: &str, out: &mut Vec<u8>) {
    let _ = (name, out);
    todo!()
}

/// Appends the facts and name of an MLSx entry, without leading space or line ending:
/// `type=file;size=12;modify=20240102150405;perm=rw; name`. `perm` is the already computed
/// RFC 3659 §7.5.5 permission string. `facts` selects which facts appear (in
/// [`Fact::ALL`] order regardless of the order given).
pub fn write_mlsx_facts(
    entry: &EntryInfo,
    ty: MlsxType,
    perm: &str,
    facts: &[Fact],
    out: &mut Vec<u8>,
) {
    let _ = (entry, ty, perm, facts, out);
    todo!()
}

/// Formats Unix seconds as `YYYYMMDDHHMMSS` (UTC). Times before year 0 or after 9999 are
/// clamped.
pub fn format_mdtm(unix: i64) -> String {
    let _ = unix;
    todo!()
}

/// Parses `YYYYMMDDHHMMSS` with an optional `.fraction` (ignored) into Unix seconds (UTC).
pub fn parse_mdtm(s: &str) -> Option<i64> {
    let _ = s;
    todo!()
}
