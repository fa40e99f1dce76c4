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
        match self {
            Fact::Type => "type",
            Fact::Size => "size",
            Fact::Modify => "modify",
            Fact::Perm => "perm",
            Fact::Unique => "unique",
            Fact::UnixMode => "unix.mode",
        }
    }

    /// Looks a fact up by name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Fact> {
        Fact::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
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

/// Entries modified more than this many seconds before `now` show the year instead of the
/// time (half of an average Gregorian year, as GNU `ls` does).
pub const RECENT_SECS: i64 = 31_556_952 / 2;

/// Entries modified up to this many seconds after `now` still count as recent.
pub const FUTURE_SLACK_SECS: i64 = 3600;

/// First second of year 0 (0000-01-01T00:00:00Z).
const MIN_UNIX: i64 = -62_167_219_200;
/// Last second of year 9999 (9999-12-31T23:59:59Z).
const MAX_UNIX: i64 = 253_402_300_799;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Broken-down UTC time.
struct Civil {
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

/// Converts Unix seconds to a UTC civil time, clamped to years 0..=9999.
fn civil(unix: i64) -> Civil {
    let clamped = unix.clamp(MIN_UNIX, MAX_UNIX);
    let dt = time::OffsetDateTime::from_unix_timestamp(clamped)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Civil {
        year: dt.year(),
        month: u8::from(dt.month()),
        day: dt.day(),
        hour: dt.hour(),
        minute: dt.minute(),
        second: dt.second(),
    }
}

/// Appends `s` with CR and LF replaced by spaces.
fn push_sanitized(s: &str, out: &mut Vec<u8>) {
    if !s.contains(['\r', '\n']) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.extend(
        s.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

/// The ten-character `ls -l` mode string, e.g. `drwxr-sr-t`.
fn mode_string(kind: EntryKind, mode: u32) -> [u8; 10] {
    let bit = |mask: u32| mode & mask != 0;
    let exec = |x: bool, special: bool, set: u8, unset: u8| match (x, special) {
        (true, false) => b'x',
        (false, false) => b'-',
        (true, true) => set,
        (false, true) => unset,
    };
    [
        match kind {
            EntryKind::File => b'-',
            EntryKind::Dir => b'd',
            EntryKind::Symlink => b'l',
            EntryKind::Other => b'?',
        },
        if bit(0o400) { b'r' } else { b'-' },
        if bit(0o200) { b'w' } else { b'-' },
        exec(bit(0o100), bit(0o4000), b's', b'S'),
        if bit(0o040) { b'r' } else { b'-' },
        if bit(0o020) { b'w' } else { b'-' },
        exec(bit(0o010), bit(0o2000), b's', b'S'),
        if bit(0o004) { b'r' } else { b'-' },
        if bit(0o002) { b'w' } else { b'-' },
        exec(bit(0o001), bit(0o1000), b't', b'T'),
    ]
}

/// Appends one LIST line for `entry`, given the current time `now` (Unix seconds, UTC).
///
/// Form: `{type}{perms} {nlink:>3} {owner:<8} {group:<8} {size:>8} {date} {name}` and CRLF,
/// where the date is `Mmm dd HH:MM` for entries modified at most [`RECENT_SECS`] before `now`
/// and at most [`FUTURE_SLACK_SECS`] after it, and `Mmm dd  yyyy` otherwise.
pub fn write_list_line(entry: &EntryInfo, now: i64, out: &mut Vec<u8>) {
    // Formatted by hand (no `fmt` machinery): listings of large directories format one
    // line per entry.
    out.extend_from_slice(&mode_string(entry.kind, entry.mode));
    out.push(b' ');
    push_num(out, entry.nlink, 3, b' ');
    out.push(b' ');
    push_left(out, &sanitized(&entry.owner), 8);
    out.push(b' ');
    push_left(out, &sanitized(&entry.group), 8);
    out.push(b' ');
    push_num(out, entry.size, 8, b' ');
    let t = civil(entry.mtime);
    let month = MONTHS
        .get(usize::from(t.month).saturating_sub(1))
        .copied()
        .unwrap_or("???");
    let recent = entry.mtime >= now.saturating_sub(RECENT_SECS)
        && entry.mtime <= now.saturating_add(FUTURE_SLACK_SECS);
    out.push(b' ');
    out.extend_from_slice(month.as_bytes());
    out.push(b' ');
    push_num(out, u64::from(t.day), 2, b'0');
    out.push(b' ');
    if recent {
        push_num(out, u64::from(t.hour), 2, b'0');
        out.push(b':');
        push_num(out, u64::from(t.minute), 2, b'0');
    } else {
        // Years are clamped to 0..=9999.
        push_num(out, u64::try_from(t.year).unwrap_or(0), 5, b' ');
    }
    out.push(b' ');
    push_sanitized(&entry.name, out);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal, right-aligned in `width` columns padded with `pad` (as `{:>w}`
/// or, with `b'0'`, `{:0w}`).
fn push_num(out: &mut Vec<u8>, n: u64, width: usize, pad: u8) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut v = n;
    for slot in digits.iter_mut().rev() {
        // `v % 10` is a single digit.
        *slot = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend(std::iter::repeat_n(pad, width.saturating_sub(len)));
    out.extend_from_slice(digits.get(digits.len() - len..).unwrap_or_default());
}

/// Appends `s` left-aligned in `width` columns (characters, as `{:<w}`).
fn push_left(out: &mut Vec<u8>, s: &str, width: usize) {
    out.extend_from_slice(s.as_bytes());
    let chars = if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    };
    out.extend(std::iter::repeat_n(b' ', width.saturating_sub(chars)));
}

/// `s` with CR and LF replaced by spaces.
fn sanitized(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        std::borrow::Cow::Owned(s.replace(['\r', '\n'], " "))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Appends one NLST line: `name` followed by CRLF.
pub fn write_nlst_line(name: &str, out: &mut Vec<u8>) {
    push_sanitized(name, out);
    out.extend_from_slice(b"\r\n");
}

/// Appends the facts and name of an MLSx entry, without leading space or line ending:
/// `type=file;size=12;modify=20240102150405;perm=rw; name`. `perm` is the already computed
/// RFC 3659 §7.5.5 permission string. `facts` selects which facts appear (in
/// [`Fact::ALL`] order regardless of the order given).
///
/// Values: `type` is `file`, `dir`, `cdir`, `pdir`, `OS.unix=symlink` or `OS.unix=other`;
/// `size` is given for non-directories only (RFC 3659 §7.5.7); `unique` only when the
/// entry has one; `unix.mode` is four octal digits (`0644`).
pub fn write_mlsx_facts(
    entry: &EntryInfo,
    ty: MlsxType,
    perm: &str,
    facts: &[Fact],
    out: &mut Vec<u8>,
) {
    use std::io::Write as _;
    let type_value = match ty {
        MlsxType::Cdir => "cdir",
        MlsxType::Pdir => "pdir",
        MlsxType::FromKind => match entry.kind {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "OS.unix=symlink",
            EntryKind::Other => "OS.unix=other",
        },
    };
    let is_dir = ty != MlsxType::FromKind || entry.kind == EntryKind::Dir;
    for fact in Fact::ALL.into_iter().filter(|f| facts.contains(f)) {
        // Writing to a Vec cannot fail.
        let _ = match fact {
            Fact::Type => {
                out.extend_from_slice(b"type=");
                out.extend_from_slice(type_value.as_bytes());
                out.push(b';');
                Ok(())
            }
            Fact::Size if is_dir => Ok(()),
            Fact::Size => {
                out.extend_from_slice(b"size=");
                push_num(out, entry.size, 0, b'0');
                out.push(b';');
                Ok(())
            }
            Fact::Modify => {
                out.extend_from_slice(b"modify=");
                push_mdtm(entry.mtime, out);
                out.push(b';');
                Ok(())
            }
            Fact::Perm => {
                out.extend_from_slice(b"perm=");
                push_fact_value(perm, out);
                out.push(b';');
                Ok(())
            }
            Fact::Unique => match &entry.unique {
                Some(u) => {
                    out.extend_from_slice(b"unique=");
                    push_fact_value(u, out);
                    out.push(b';');
                    Ok(())
                }
                None => Ok(()),
            },
            Fact::UnixMode => write!(out, "unix.mode={:04o};", entry.mode & 0o7777),
        };
    }
    out.push(b' ');
    push_sanitized(&entry.name, out);
}

/// Appends a fact value, leaving out the bytes that would break the fact syntax
/// (`;`, space, CR, LF).
fn push_fact_value(s: &str, out: &mut Vec<u8>) {
    out.extend(
        s.bytes()
            .filter(|b| !matches!(b, b';' | b' ' | b'\r' | b'\n')),
    );
}

/// Appends [`format_mdtm`]'s text without formatting machinery.
fn push_mdtm(unix: i64, out: &mut Vec<u8>) {
    let t = civil(unix);
    // Years are clamped to 0..=9999.
    push_num(out, u64::try_from(t.year).unwrap_or(0), 4, b'0');
    for v in [t.month, t.day, t.hour, t.minute, t.second] {
        push_num(out, u64::from(v), 2, b'0');
    }
}

/// Formats Unix seconds as `YYYYMMDDHHMMSS` (UTC). Times before year 0 or after 9999 are
/// clamped.
pub fn format_mdtm(unix: i64) -> String {
    let t = civil(unix);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Parses `YYYYMMDDHHMMSS` with an optional `.fraction` (ignored) into Unix seconds (UTC).
///
/// The fields are validated (month 1..=12, a day that exists in that month, hour < 24,
/// minute < 60, second < 61); a leap second 60 counts as 59. The fraction has one to nine
/// digits.
pub fn parse_mdtm(s: &str) -> Option<i64> {
    let (main, fraction) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    if let Some(f) = fraction {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| main.get(range)?.parse::<u16>().ok();
    let year = i32::from(num(0..4)?);
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let day = u8::try_from(num(6..8)?).ok()?;
    let hour = u8::try_from(num(8..10)?).ok()?;
    let minute = u8::try_from(num(10..12)?).ok()?;
    let second = u8::try_from(num(12..14)?).ok()?;
    if second > 60 {
        return None;
    }
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms(hour, minute, second.min(59)).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod hand_format_tests {
    use super::*;

    #[test]
    fn push_num_matches_fmt() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            12345,
            99_999_999,
            100_000_000,
            u64::MAX,
        ] {
            for w in [0usize, 2, 3, 5, 8] {
                let mut a = Vec::new();
                push_num(&mut a, n, w, b' ');
                assert_eq!(a, format!("{n:>w$}").into_bytes());
                let mut z = Vec::new();
                push_num(&mut z, n, w, b'0');
                assert_eq!(z, format!("{n:0w$}").into_bytes());
            }
        }
    }

    #[test]
    fn push_left_and_mdtm_match_fmt() {
        for s in ["", "ftp", "a-long-owner-name", "ünï"] {
            let mut a = Vec::new();
            push_left(&mut a, s, 8);
            assert_eq!(a, format!("{s:<8}").into_bytes());
        }
        for t in [
            MIN_UNIX - 5,
            -1,
            0,
            951_782_400,
            1_700_000_000,
            MAX_UNIX,
            i64::MAX,
        ] {
            let mut a = Vec::new();
            push_mdtm(t, &mut a);
            let t = civil(t);
            let want = format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            );
            assert_eq!(a, want.into_bytes());
        }
    }
}
