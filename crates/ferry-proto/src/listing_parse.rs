//! Directory listing parsers (client side): LIST output of real servers and MLSD/MLST facts.
//!
//! LIST has no standard format (RFC 959 §4.1.3 only says it is "human readable"), so
//! [`parse_list_line`] recognises the two forms that real servers send:
//!
//! - **Unix `ls -l`** (vsftpd, pure-ftpd, proftpd, pyftpdlib, Ferry and most others):
//!   `-rw-r--r--   1 owner group   1234 Jan  2 15:04 name`, with or without the group
//!   column or the link count, numeric owners, a trailing ACL/attribute marker on the mode
//!   (`+`, `.`, `@`), device files (`1, 3` instead of a size), symlinks (`name -> target`)
//!   and three date styles: `Mmm dd HH:MM` (year inferred from `now`), `Mmm dd  yyyy` and
//!   ISO `yyyy-mm-dd HH:MM` (`ls --time-style=long-iso`, optionally with seconds and zone
//!   as in `full-iso`). The name is everything after the single space that follows the date,
//!   spacing kept exactly.
//! - **Windows/IIS (DOS)**: `01-02-24  03:04PM       <DIR>          dir name` and
//!   `01-02-2024  15:04            1234 file.txt` (2- or 4-digit years, 12- or 24-hour
//!   times).
//!
//! A line that matches neither is a [`ListParseError`] value, never a panic; a `total N`
//! header and blank lines are `Ok(None)`. [`parse_listing`] parses a whole LIST body into
//! entries plus warnings for the skipped lines.
//!
//! [`parse_mlsx_line`] parses one RFC 3659 §7 fact line (`type=file;size=12;modify=...; name`),
//! [`parse_mlsd`] a whole MLSD body and [`parse_mlst_reply`] the text of an MLST reply.
//!
//! Times in LIST output are in the server's local time zone, which the client cannot know:
//! they are taken as UTC. `now` (Unix seconds, UTC) is only used to infer the year of
//! `Mmm dd HH:MM` dates: the candidate year is the latest one that does not put the date
//! more than [`YEAR_INFERENCE_SLACK_SECS`] after `now` (as `ls` prints a time instead of a
//! year only for dates within the last six months).

use crate::listing::EntryKind;

/// One entry of a remote directory listing, as far as the listing tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// The entry's name, exactly as listed (for symlinks without the ` -> target` part).
    pub name: String,
    /// Its kind.
    pub kind: EntryKind,
    /// Size in bytes, when listed (not for device files; MLSD usually leaves it out for
    /// directories).
    pub size: Option<u64>,
    /// Modification time, Unix seconds (UTC), when listed and valid.
    pub mtime: Option<i64>,
    /// Unix permission bits (`0o7777` part), from an `ls -l` mode string or `unix.mode`.
    pub mode: Option<u32>,
    /// The target of a symbolic link, when listed.
    pub link_target: Option<String>,
}

impl RemoteEntry {
    /// A bare entry: a name and a kind, nothing else known.
    pub fn new(name: impl Into<String>, kind: EntryKind) -> Self {
        RemoteEntry {
            name: name.into(),
            kind,
            size: None,
            mtime: None,
            mode: None,
            link_target: None,
        }
    }

    /// True for the names `.` and `..` (listed by some servers with `LIST -a`).
    pub fn is_dot(&self) -> bool {
        self.name == "." || self.name == ".."
    }
}

/// Why one listing line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListParseError {
    /// The line matches no known listing format.
    #[error("unrecognised listing line: {line:?}")]
    Unrecognized {
        /// The line (lossily decoded, at most [`MAX_SHOWN_CHARS`] characters).
        line: String,
    },
    /// The line looks like one format but a field is wrong or missing.
    #[error("malformed {format} listing line ({reason}): {line:?}")]
    Malformed {
        /// The format it looked like.
        format: ListFormat,
        /// What is wrong.
        reason: &'static str,
        /// The line (lossily decoded, at most [`MAX_SHOWN_CHARS`] characters).
        line: String,
    },
}

/// Most characters of an offending line kept in a [`ListParseError`].
pub const MAX_SHOWN_CHARS: usize = 120;

/// A listing line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListFormat {
    /// Unix `ls -l`.
    Unix,
    /// Windows/IIS (DOS) style.
    Windows,
    /// MLSD/MLST facts (RFC 3659).
    Mlsx,
}

impl std::fmt::Display for ListFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ListFormat::Unix => "Unix",
            ListFormat::Windows => "Windows",
            ListFormat::Mlsx => "MLSx",
        })
    }
}

/// A line skipped by [`parse_listing`] or [`parse_mlsd`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListWarning {
    /// 1-based line number in the listing.
    pub line_number: usize,
    /// Why it was skipped.
    pub error: ListParseError,
}

impl std::fmt::Display for ListWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line_number, self.error)
    }
}

/// A whole listing, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedListing {
    /// The entries, in listing order, without `.` and `..` (and, for MLSD, without the
    /// `cdir`/`pdir` entries).
    pub entries: Vec<RemoteEntry>,
    /// The lines that were skipped, with the reason.
    pub warnings: Vec<ListWarning>,
}

/// A date inferred from `Mmm dd HH:MM` may lie at most this many seconds after `now`
/// (two days: server clocks and time zones differ); later dates belong to an earlier year.
pub const YEAR_INFERENCE_SLACK_SECS: i64 = 2 * 86_400;

/// Parses one LIST line (Unix or Windows format) given the current time `now` (Unix
/// seconds, UTC). A trailing CR or LF is ignored.
///
/// Returns `Ok(None)` for lines that carry no entry (blank lines, the `total N` header),
/// `Ok(Some(entry))` for an entry (including `.` and `..`), and an error for anything else.
pub fn parse_list_line(line: &str, now: i64) -> Result<Option<RemoteEntry>, ListParseError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() || is_total_line(line) {
        return Ok(None);
    }
    let first = line.as_bytes().first().copied().unwrap_or(b' ');
    if first.is_ascii_digit() {
        if let Some(entry) = parse_dos(line) {
            return entry.map(Some);
        }
    }
    if let Some(entry) = parse_unix(line, now) {
        return entry.map(Some);
    }
    Err(ListParseError::Unrecognized { line: shown(line) })
}

/// Parses a whole LIST body (lines ended by LF or CRLF, decoded as UTF-8 with invalid bytes
/// replaced) into entries and warnings. `.` and `..` are left out.
pub fn parse_listing(data: &[u8], now: i64) -> ParsedListing {
    let mut out = ParsedListing::default();
    for (i, raw) in split_lines(data).enumerate() {
        let line = String::from_utf8_lossy(raw);
        match parse_list_line(&line, now) {
            Ok(Some(e)) if !e.is_dot() => out.entries.push(e),
            Ok(_) => {}
            Err(error) => out.warnings.push(ListWarning {
                line_number: i + 1,
                error,
            }),
        }
    }
    out
}

/// Parses an NLST body: one name per line, CR/LF stripped, blank lines and the names `.`
/// and `..` (pure-ftpd lists them) skipped. Names are kept exactly otherwise (leading and
/// trailing spaces included).
pub fn parse_nlst(data: &[u8]) -> Vec<String> {
    split_lines(data)
        .filter(|l| !l.is_empty() && *l != b"." && *l != b"..")
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

/// Splits on LF, dropping one CR before each LF, and the empty piece after a final LF.
fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    data.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(move |_| !data.is_empty())
}

/// The `type` fact of an MLSx entry (RFC 3659 §7.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MlsxType {
    /// `file`.
    File,
    /// `dir`.
    Dir,
    /// `cdir`: the listed directory itself.
    Cdir,
    /// `pdir`: a parent of the listed directory.
    Pdir,
    /// `OS.unix=symlink` or `OS.unix=slink[:target]`.
    Symlink,
    /// Any other value (e.g. `OS.unix=chr-1/3`), kept as sent.
    Other(String),
    /// No `type` fact was given.
    Missing,
}

impl MlsxType {
    /// True for `cdir` and `pdir`, which callers listing a directory usually skip.
    pub fn is_cdir_or_pdir(&self) -> bool {
        matches!(self, MlsxType::Cdir | MlsxType::Pdir)
    }
}

/// One parsed MLSx line: the entry plus the facts that have no place in [`RemoteEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlsxEntry {
    /// The entry (kind `Dir` for `cdir`/`pdir`; `File` when the type fact is missing).
    pub entry: RemoteEntry,
    /// The `type` fact.
    pub ty: MlsxType,
    /// The `perm` fact (RFC 3659 §7.5.5), when given.
    pub perm: Option<String>,
    /// The `unique` fact, when given.
    pub unique: Option<String>,
    /// Every fact as sent, names lower-cased, in order.
    pub facts: Vec<(String, String)>,
}

/// Most facts kept from one MLSx line.
pub const MAX_FACTS: usize = 64;

/// Parses one MLSx fact line: `fact=value;fact=value; name` (RFC 3659 §7.2). One leading
/// space before facts (as in MLST replies) and a trailing CR/LF are ignored; a line that is
/// a space and a name has no facts. Fact names are
/// case-insensitive; `modify` may carry a fraction; `unix.mode` is octal; `size` (or
/// `sizd` for directories) gives the size.
///
/// Facts whose values are malformed are ignored (the entry keeps `None`); a line without
/// the `facts name` separator or with an empty name is an error.
pub fn parse_mlsx_line(line: &str) -> Result<MlsxEntry, ListParseError> {
    let line = line.trim_end_matches(['\r', '\n']);
    // MLST reply lines start with a space before the facts; an MLSD line starting with a
    // space has no facts at all (RFC 3659 §7.2: `[facts] SP pathname`).
    let body = match line.strip_prefix(' ') {
        Some(rest) if rest.split(' ').next().is_some_and(|w| w.contains('=')) => rest,
        _ => line,
    };
    let malformed = |reason| ListParseError::Malformed {
        format: ListFormat::Mlsx,
        reason,
        line: shown(line),
    };
    let (facts_part, name) = body
        .split_once(' ')
        .ok_or_else(|| malformed("no space between facts and name"))?;
    if name.is_empty() {
        return Err(malformed("empty name"));
    }
    if !facts_part.is_empty() && !facts_part.contains('=') {
        return Err(malformed("facts are not name=value pairs"));
    }
    let mut facts = Vec::new();
    for fact in facts_part.split(';').filter(|f| !f.is_empty()) {
        let Some((k, v)) = fact.split_once('=') else {
            return Err(malformed("a fact without '='"));
        };
        if k.is_empty() {
            return Err(malformed("a fact without a name"));
        }
        if facts.len() >= MAX_FACTS {
            return Err(malformed("too many facts"));
        }
        facts.push((k.to_ascii_lowercase(), v.to_string()));
    }
    let get = |name: &str| {
        facts
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut link_target = None;
    let ty = match get("type") {
        None => MlsxType::Missing,
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            match lower.as_str() {
                "file" => MlsxType::File,
                "dir" => MlsxType::Dir,
                "cdir" => MlsxType::Cdir,
                "pdir" => MlsxType::Pdir,
                "os.unix=symlink" | "os.unix=slink" => MlsxType::Symlink,
                _ if lower.starts_with("os.unix=slink:") => {
                    link_target = t
                        .get("os.unix=slink:".len()..)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string);
                    MlsxType::Symlink
                }
                _ => MlsxType::Other(t.to_string()),
            }
        }
    };
    let kind = match ty {
        MlsxType::File | MlsxType::Missing => EntryKind::File,
        MlsxType::Dir | MlsxType::Cdir | MlsxType::Pdir => EntryKind::Dir,
        MlsxType::Symlink => EntryKind::Symlink,
        MlsxType::Other(_) => EntryKind::Other,
    };
    let size = get("size")
        .or_else(|| get("sizd"))
        .and_then(parse_decimal_u64);
    let mtime = get("modify").and_then(crate::listing::parse_mdtm);
    let mode = get("unix.mode").and_then(parse_octal_mode);
    let perm = get("perm").map(str::to_string);
    let unique = get("unique").map(str::to_string);
    Ok(MlsxEntry {
        entry: RemoteEntry {
            name: name.to_string(),
            kind,
            size,
            mtime,
            mode,
            link_target,
        },
        ty,
        perm,
        unique,
        facts,
    })
}

/// Parses an MLSD body into entries and warnings; `cdir` and `pdir` entries (and the names
/// `.` and `..`) are left out.
pub fn parse_mlsd(data: &[u8]) -> ParsedListing {
    let mut out = ParsedListing::default();
    for (i, raw) in split_lines(data).enumerate() {
        let line = String::from_utf8_lossy(raw);
        if line.trim().is_empty() {
            continue;
        }
        match parse_mlsx_line(&line) {
            Ok(m) if m.ty.is_cdir_or_pdir() || m.entry.is_dot() => {}
            Ok(m) => out.entries.push(m.entry),
            Err(error) => out.warnings.push(ListWarning {
                line_number: i + 1,
                error,
            }),
        }
    }
    out
}

/// Parses the entry of an MLST reply (RFC 3659 §7.2: `250-Listing name`, ` facts name`,
/// `250 End`): the first line after the first that starts with a space, or else the first
/// line whose text parses as facts.
pub fn parse_mlst_reply(reply: &crate::Reply) -> Result<MlsxEntry, ListParseError> {
    let candidates = reply.lines.iter().skip(1).chain(reply.lines.first());
    let mut first_err = None;
    for line in candidates {
        match parse_mlsx_line(line) {
            Ok(m) if !m.facts.is_empty() => return Ok(m),
            Ok(_) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| ListParseError::Malformed {
        format: ListFormat::Mlsx,
        reason: "no fact line in the MLST reply",
        line: shown(&reply.text()),
    }))
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the parsers.

/// At most [`MAX_SHOWN_CHARS`] characters of `line`.
fn shown(line: &str) -> String {
    line.chars().take(MAX_SHOWN_CHARS).collect()
}

fn is_total_line(line: &str) -> bool {
    let mut words = line.split_ascii_whitespace();
    matches!(
        (words.next(), words.next(), words.next()),
        (Some(t), Some(n), None)
            if t.eq_ignore_ascii_case("total")
                && n.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b.is_ascii_alphabetic())
    )
}

/// A decimal `u64` of 1..=20 ASCII digits.
fn parse_decimal_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Octal permission bits of 1..=6 digits (`0644`, `100644`), keeping the `0o7777` part.
fn parse_octal_mode(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(s, 8).ok().map(|m| m & 0o7777)
}

/// The whitespace-separated words of `line`, each with its byte range.
fn words(line: &str) -> Vec<(usize, usize)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        let start = i;
        while bytes.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
            i += 1;
        }
        if i > start {
            out.push((start, i));
        }
    }
    out
}

/// A UTC date-time to Unix seconds, if valid.
fn unix_time(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<i64> {
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(hour, minute, second).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// The year of `now` (UTC), clamped to the years `time` can represent.
fn year_of(now: i64) -> i32 {
    time::OffsetDateTime::from_unix_timestamp(now.clamp(-62_167_219_200, 253_402_300_799))
        .map(|t| t.year())
        .unwrap_or(1970)
}

/// The latest year (from `now`'s year + 1 back over eight years, enough for 29 February)
/// that puts `month day hour:minute` at most [`YEAR_INFERENCE_SLACK_SECS`] after `now`.
fn infer_year_time(month: u8, day: u8, hour: u8, minute: u8, now: i64) -> Option<i64> {
    let y = year_of(now);
    let limit = now.saturating_add(YEAR_INFERENCE_SLACK_SECS);
    (0..10)
        .map(|back| y + 1 - back)
        .filter_map(|year| unix_time(year, month, day, hour, minute, 0))
        .find(|&t| t <= limit)
}

fn month_number(s: &str) -> Option<u8> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if s.len() != 3 {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .and_then(|i| u8::try_from(i + 1).ok())
}

/// A number of 1..=`max_len` ASCII digits.
fn small_number(s: &str, max_len: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `HH:MM` or `HH:MM:SS` (hour 0..=23).
fn parse_hh_mm(s: &str) -> Option<(u8, u8, u8)> {
    let mut parts = s.split(':');
    let h = small_number(parts.next()?, 2)?;
    let m = small_number(parts.next()?, 2)?;
    let sec = match parts.next() {
        None => 0,
        Some(x) => small_number(x, 2)?,
    };
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some((
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(sec.min(59)).ok()?,
    ))
}

// ---------------------------------------------------------------------------------------
// Unix `ls -l`.

/// The kind from the first letter of an `ls -l` mode string, or `None` if it is not one.
fn unix_kind(c: u8) -> Option<EntryKind> {
    Some(match c {
        b'-' | b'f' => EntryKind::File,
        b'd' => EntryKind::Dir,
        b'l' => EntryKind::Symlink,
        // Devices, fifos, sockets, doors, Solaris event ports, whiteouts, network special.
        b'c' | b'b' | b'p' | b's' | b'D' | b'P' | b'w' | b'n' | b'?' => EntryKind::Other,
        _ => return None,
    })
}

/// Parses the nine permission letters (`rwxr-sr-T`) into `0o7777` bits.
fn unix_mode_bits(perms: &[u8]) -> Option<u32> {
    let [ur, uw, ux, gr, gw, gx, or, ow, ox] = <[u8; 9]>::try_from(perms).ok()?;
    let rw = |c: u8, letter: u8, bit: u32| match c {
        b'-' => Some(0),
        c if c == letter => Some(bit),
        _ => None,
    };
    // x position: x, -, or the special letter lower-case (with x) / upper-case (without).
    let exec = |c: u8, special: u8, x_bit: u32, s_bit: u32| match c {
        b'-' => Some(0),
        b'x' => Some(x_bit),
        c if c == special => Some(x_bit | s_bit),
        c if c == special.to_ascii_uppercase() => Some(s_bit),
        // Solaris mandatory locking `l`/`L` in the group slot.
        b'l' | b'L' => Some(s_bit),
        _ => None,
    };
    Some(
        rw(ur, b'r', 0o400)?
            | rw(uw, b'w', 0o200)?
            | exec(ux, b's', 0o100, 0o4000)?
            | rw(gr, b'r', 0o040)?
            | rw(gw, b'w', 0o020)?
            | exec(gx, b's', 0o010, 0o2000)?
            | rw(or, b'r', 0o004)?
            | rw(ow, b'w', 0o002)?
            | exec(ox, b't', 0o001, 0o1000)?,
    )
}

/// A parsed date field: its mtime (if valid) and the byte offset where it ends.
struct DateField {
    mtime: Option<i64>,
    end: usize,
}

/// Tries `Mmm dd HH:MM|yyyy` at word `i` (month, day, time-or-year words).
fn month_date_at(line: &str, w: &[(usize, usize)], i: usize, now: i64) -> Option<DateField> {
    let word = |k: usize| w.get(k).and_then(|&(a, b)| line.get(a..b));
    let month = month_number(word(i)?)?;
    let day = small_number(word(i + 1)?, 2)?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let day = u8::try_from(day).ok()?;
    let last = word(i + 2)?;
    let end = w.get(i + 2)?.1;
    let mtime = if let Some((h, m, _)) = parse_hh_mm(last) {
        infer_year_time(month, day, h, m, now)
    } else {
        let year = small_number(last, 4).filter(|_| last.len() == 4)?;
        unix_time(i32::try_from(year).ok()?, month, day, 0, 0, 0)
    };
    Some(DateField { mtime, end })
}

/// Tries `yyyy-mm-dd HH:MM[:SS[.frac]] [+zzzz]` at word `i`.
fn iso_date_at(line: &str, w: &[(usize, usize)], i: usize) -> Option<DateField> {
    let word = |k: usize| w.get(k).and_then(|&(a, b)| line.get(a..b));
    let date = word(i)?;
    let mut parts = date.split('-');
    let (Some(y), Some(mo), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if y.len() != 4 || mo.len() != 2 || d.len() != 2 {
        return None;
    }
    let (year, month, day) = (
        small_number(y, 4)?,
        small_number(mo, 2)?,
        small_number(d, 2)?,
    );
    let clock = word(i + 1)?;
    let (clock_main, _fraction) = match clock.split_once('.') {
        Some((c, f)) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            (c, Some(f))
        }
        Some(_) => return None,
        None => (clock, None),
    };
    let (h, m, s) = parse_hh_mm(clock_main)?;
    let mut end = w.get(i + 1)?.1;
    let mut offset_secs = 0i64;
    // full-iso adds a numeric zone `+hhmm`.
    if let Some(zone) = word(i + 2) {
        if let Some(off) = parse_zone(zone) {
            offset_secs = off;
            end = w.get(i + 2)?.1;
        }
    }
    let mtime = unix_time(
        i32::try_from(year).ok()?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
        h,
        m,
        s,
    )
    .map(|t| t - offset_secs);
    Some(DateField { mtime, end })
}

/// `+hhmm` / `-hhmm` as seconds east of UTC.
fn parse_zone(s: &str) -> Option<i64> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => return None,
    };
    if digits.len() != 4 {
        return None;
    }
    let n = small_number(digits, 4)?;
    let (h, m) = (n / 100, n % 100);
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * i64::from(h * 3600 + m * 60))
}

/// Parses an `ls -l` line; `None` if it does not start with a mode string.
fn parse_unix(line: &str, now: i64) -> Option<Result<RemoteEntry, ListParseError>> {
    let w = words(line);
    let &(m0, m1) = w.first()?;
    let mode_str = line.get(m0..m1)?.as_bytes();
    if m0 != 0 {
        return None;
    }
    let kind = unix_kind(*mode_str.first()?)?;
    let perms = mode_str.get(1..10)?;
    // After the nine letters, only one ACL/attribute marker may follow.
    match mode_str.get(10..) {
        Some([] | [b'+' | b'.' | b'@' | b'*']) => {}
        _ => return None,
    }
    let mode = unix_mode_bits(perms)?;
    let malformed = |reason| {
        Some(Err(ListParseError::Malformed {
            format: ListFormat::Unix,
            reason,
            line: shown(line),
        }))
    };
    // Find the date: the first word (after at least two more words) where a date parses and
    // the word before is a size (digits) or a device minor number.
    let mut found = None;
    for i in 2..w.len() {
        let date = month_date_at(line, &w, i, now).or_else(|| iso_date_at(line, &w, i));
        if let Some(d) = date {
            let prev = w
                .get(i - 1)
                .and_then(|&(a, b)| line.get(a..b))
                .unwrap_or("");
            let before = w
                .get(i - 2)
                .and_then(|&(a, b)| line.get(a..b))
                .unwrap_or("");
            if parse_decimal_u64(prev).is_some() {
                let is_device = kind == EntryKind::Other
                    && before.ends_with(',')
                    && parse_decimal_u64(before.trim_end_matches(',')).is_some();
                found = Some((
                    d,
                    if is_device {
                        None
                    } else {
                        parse_decimal_u64(prev)
                    },
                ));
                break;
            }
            // `1,3` device numbers without a space.
            if kind == EntryKind::Other && prev.contains(',') {
                found = Some((d, None));
                break;
            }
        }
    }
    let Some((date, size)) = found else {
        return malformed("no size and date fields");
    };
    // Exactly one space separates the date from the name.
    let rest = line.get(date.end..).unwrap_or("");
    let name_part = match rest.strip_prefix(' ') {
        Some(n) => n,
        None => rest.trim_start(),
    };
    if name_part.is_empty() {
        return malformed("no name");
    }
    let (name, link_target) = if kind == EntryKind::Symlink {
        match name_part.split_once(" -> ") {
            Some((n, t)) => (n, Some(t.to_string())),
            None => (name_part, None),
        }
    } else {
        (name_part, None)
    };
    if name.is_empty() {
        return malformed("no name");
    }
    Some(Ok(RemoteEntry {
        name: name.to_string(),
        kind,
        size,
        mtime: date.mtime,
        mode: Some(mode),
        link_target,
    }))
}

// ---------------------------------------------------------------------------------------
// Windows/IIS (DOS).

/// `MM-DD-YY` or `MM-DD-YYYY` (also with `/` or `.`), two-digit years 70..=99 being 19xx.
fn dos_date(s: &str) -> Option<(i32, u8, u8)> {
    let sep = s.bytes().find(|b| matches!(b, b'-' | b'/' | b'.'))?;
    let mut parts = s.split(char::from(sep));
    let (Some(mo), Some(d), Some(y), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let month = u8::try_from(small_number(mo, 2)?).ok()?;
    let day = u8::try_from(small_number(d, 2)?).ok()?;
    let year = i32::try_from(small_number(y, 4)?).ok()?;
    let year = match y.len() {
        2 if year >= 70 => 1900 + year,
        2 => 2000 + year,
        4 => year,
        _ => return None,
    };
    Some((year, month, day))
}

/// `03:04PM`, `3:04pm`, `15:04` (or with a separate `AM`/`PM` word, given as `ampm`).
fn dos_time(s: &str, ampm: Option<&str>) -> Option<(u8, u8)> {
    let lower = s.to_ascii_lowercase();
    let (clock, suffix) = if let Some(c) = lower.strip_suffix("am") {
        (c.to_string(), Some(false))
    } else if let Some(c) = lower.strip_suffix("pm") {
        (c.to_string(), Some(true))
    } else {
        (lower, ampm.map(|a| a.eq_ignore_ascii_case("pm")))
    };
    let (h, m, _) = parse_hh_mm(&clock)?;
    let h = match suffix {
        None => h,
        Some(pm) => {
            if !(1..=12).contains(&h) {
                return None;
            }
            (h % 12) + if pm { 12 } else { 0 }
        }
    };
    Some((h, m))
}

/// Parses a DOS line; `None` if it does not start with a DOS date and time.
fn parse_dos(line: &str) -> Option<Result<RemoteEntry, ListParseError>> {
    let w = words(line);
    let word = |k: usize| w.get(k).and_then(|&(a, b)| line.get(a..b));
    let (year, month, day) = dos_date(word(0)?)?;
    let mut i = 2;
    let ampm = word(2).filter(|s| s.eq_ignore_ascii_case("am") || s.eq_ignore_ascii_case("pm"));
    if ampm.is_some() {
        i = 3;
    }
    let (hour, minute) = dos_time(word(1)?, ampm)?;
    let malformed = |reason| {
        Some(Err(ListParseError::Malformed {
            format: ListFormat::Windows,
            reason,
            line: shown(line),
        }))
    };
    let Some(size_word) = word(i) else {
        return malformed("no size or <DIR>");
    };
    let (kind, size) = if size_word.eq_ignore_ascii_case("<DIR>") {
        (EntryKind::Dir, None)
    } else if size_word.eq_ignore_ascii_case("<JUNCTION>")
        || size_word.eq_ignore_ascii_case("<SYMLINK>")
        || size_word.eq_ignore_ascii_case("<SYMLINKD>")
    {
        (EntryKind::Symlink, None)
    } else {
        let digits: String = size_word
            .chars()
            .filter(|&c| c != ',' && c != '.')
            .collect();
        match parse_decimal_u64(&digits) {
            Some(n) => (EntryKind::File, Some(n)),
            None => return malformed("size is not a number"),
        }
    };
    let Some(&(_, size_end)) = w.get(i) else {
        return malformed("no size or <DIR>");
    };
    let rest = line.get(size_end..).unwrap_or("");
    let mut name = rest.trim_start_matches([' ', '\t']);
    let mut link_target = None;
    if kind == EntryKind::Symlink {
        // `name [target]` as `dir` prints junctions.
        if let Some((n, t)) = name.rsplit_once(" [") {
            if let Some(t) = t.strip_suffix(']') {
                link_target = Some(t.to_string());
                name = n;
            }
        }
    }
    if name.is_empty() {
        return malformed("no name");
    }
    Some(Ok(RemoteEntry {
        name: name.to_string(),
        kind,
        size,
        mtime: unix_time(year, month, day, hour, minute, 0),
        mode: None,
        link_target,
    }))
}
