//! Parsing of the extension commands around checksums, file facts and session settings:
//! HASH / RANG / OPTS HASH (draft-bryan-ftpext-hash-02, draft-bryan-ftp-range), the
//! X-hash family (XCRC, XMD5, XSHA1, XSHA256, XSHA512, as ProFTPD's mod_digest takes them),
//! MFF / MFCT (draft-somers-ftp-mfxx), AVBL, CLNT, LANG (RFC 2640), SMNT and the SITE
//! commands UMASK, IDLE and UTIME.

use super::{bad, split_first_space, unsupported, Command, Opts, ParseError, Site};
use crate::client::hash::HashAlgorithm;

/// The facts of an `MFF` command that Ferry can set (draft-somers-ftp-mfxx §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MffFacts {
    /// `modify=YYYYMMDDHHMMSS`: the new modification time, Unix seconds (UTC).
    pub modify: Option<i64>,
    /// `UNIX.mode=0644`: the new permission bits (at most `0o7777`).
    pub mode: Option<u32>,
}

/// Longest decimal number accepted in these arguments (`u64::MAX` has 20 digits).
const MAX_DIGITS: usize = 20;

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `HASH path`.
pub(super) fn parse_hash(verb: &str, arg: &str) -> Result<Command, ParseError> {
    if arg.trim_matches(' ').is_empty() {
        return Err(bad(verb, "path required"));
    }
    Ok(Command::Hash(arg.to_string()))
}

/// `RANG start end` (draft-bryan-ftp-range: both byte positions, the end inclusive;
/// `RANG 1 0` resets).
pub(super) fn parse_rang(verb: &str, arg: &str) -> Result<Command, ParseError> {
    let mut words = arg.split(' ').filter(|w| !w.is_empty());
    match (words.next(), words.next(), words.next()) {
        (Some(a), Some(b), None) => match (number(a), number(b)) {
            (Some(start), Some(end)) => Ok(Command::Rang { start, end }),
            _ => Err(bad(verb, "expected two byte positions")),
        },
        _ => Err(bad(verb, "expected RANG start end")),
    }
}

/// `XSHA256 path [start [end]]` and its siblings. A path in double quotes may contain
/// anything but a quote; an unquoted path takes every word except trailing decimal
/// numbers (at most two, and only when a path word remains before them).
pub(super) fn parse_x_hash(
    verb: &str,
    algorithm: HashAlgorithm,
    arg: &str,
) -> Result<Command, ParseError> {
    let arg = arg.trim_end_matches(' ');
    let (path, numbers): (String, Vec<&str>) = if let Some(quoted) = arg.strip_prefix('"') {
        let Some((path, rest)) = quoted.split_once('"') else {
            return Err(bad(verb, "missing closing quote"));
        };
        (
            path.to_string(),
            rest.split(' ').filter(|w| !w.is_empty()).collect(),
        )
    } else {
        let mut words: Vec<&str> = arg.split(' ').collect();
        let mut numbers = Vec::new();
        while numbers.len() < 2 && words.len() > 1 {
            match words.last() {
                Some(w) if number(w).is_some() => {
                    numbers.insert(0, *w);
                    words.pop();
                }
                _ => break,
            }
        }
        (words.join(" "), numbers)
    };
    if path.is_empty() {
        return Err(bad(verb, "path required"));
    }
    let mut parsed = Vec::with_capacity(2);
    for w in &numbers {
        parsed.push(number(w).ok_or_else(|| bad(verb, "expected byte positions after the path"))?);
    }
    if parsed.len() > 2 {
        return Err(bad(verb, "expected at most a start and an end position"));
    }
    let start = parsed.first().copied();
    let end = parsed.get(1).copied();
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            return Err(bad(verb, "the end position is before the start"));
        }
    }
    Ok(Command::XHash {
        algorithm,
        path,
        start,
        end,
    })
}

/// `MFF fact=value;fact=value; path`: `modify` and `UNIX.mode` are understood; the other
/// facts of RFC 3659 are valid but not settable here (504).
pub(super) fn parse_mff(verb: &str, arg: &str) -> Result<Command, ParseError> {
    let (facts_text, path) = split_first_space(arg);
    if path.is_empty() {
        return Err(bad(verb, "expected MFF facts followed by a path"));
    }
    let mut facts = MffFacts::default();
    let mut any = false;
    for fact in facts_text.split(';').filter(|f| !f.is_empty()).take(16) {
        let Some((name, value)) = fact.split_once('=') else {
            return Err(bad(verb, "a fact is name=value"));
        };
        match name.to_ascii_lowercase().as_str() {
            "modify" => {
                facts.modify = Some(
                    crate::listing::parse_mdtm(value)
                        .ok_or_else(|| bad(verb, "modify needs YYYYMMDDHHMMSS"))?,
                );
            }
            "unix.mode" => facts.mode = Some(octal_mode(verb, value, 0o7777)?),
            "create" | "unix.owner" | "unix.group" | "unix.uid" | "unix.gid" | "perm" | "lang"
            | "media-type" | "charset" | "type" | "size" | "unique" => {
                return Err(unsupported(verb, format!("fact {name} cannot be set")))
            }
            _ => return Err(bad(verb, format!("unknown fact {name}"))),
        }
        any = true;
    }
    if !any {
        return Err(bad(verb, "no fact given"));
    }
    Ok(Command::Mff {
        facts,
        path: path.to_string(),
    })
}

/// `MFCT YYYYMMDDHHMMSS path`.
pub(super) fn parse_mfct(verb: &str, arg: &str) -> Result<Command, ParseError> {
    let (stamp, path) = split_first_space(arg);
    let ctime =
        crate::listing::parse_mdtm(stamp).ok_or_else(|| bad(verb, "expected YYYYMMDDHHMMSS"))?;
    if path.is_empty() {
        return Err(bad(verb, "path required"));
    }
    Ok(Command::Mfct {
        ctime,
        path: path.to_string(),
    })
}

/// An octal mode of 1 to 5 digits, at most `max`.
fn octal_mode(verb: &str, s: &str, max: u32) -> Result<u32, ParseError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad(verb, "expected an octal mode"));
    }
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|&m| m <= max)
        .ok_or_else(|| bad(verb, format!("mode must be at most {max:o}")))
}

/// `OPTS HASH [algorithm]`: no name asks which one is selected.
pub(super) fn parse_opts_hash(verb: &str, rest: &str) -> Result<Opts, ParseError> {
    let name = rest.trim_matches(' ');
    if name.is_empty() {
        return Ok(Opts::Hash(None));
    }
    HashAlgorithm::from_hash_name(name)
        .map(|a| Opts::Hash(Some(a)))
        .ok_or_else(|| unsupported(verb, format!("hash algorithm {name}")))
}

/// `SITE UMASK [octal]`, `SITE IDLE [seconds]`, `SITE UTIME ...`; `None` for another
/// sub-command.
pub(super) fn parse_site_ext(
    verb: &str,
    name: &str,
    rest: &str,
) -> Option<Result<Site, ParseError>> {
    let arg = rest.trim_matches(' ');
    Some(match name {
        "UMASK" if arg.is_empty() => Ok(Site::Umask(None)),
        "UMASK" => octal_mode(verb, arg, 0o777).map(|m| Site::Umask(Some(m))),
        "IDLE" if arg.is_empty() => Ok(Site::Idle(None)),
        "IDLE" => number(arg)
            .map(|n| Site::Idle(Some(n)))
            .ok_or_else(|| bad(verb, "SITE IDLE takes a number of seconds")),
        "UTIME" => parse_site_utime(verb, rest),
        _ => return None,
    })
}

/// A `YYYYMMDDhhmm[ss]` time stamp (UTC), as Unix seconds.
fn stamp(s: &str) -> Option<i64> {
    match s.len() {
        14 => crate::listing::parse_mdtm(s),
        12 if s.bytes().all(|b| b.is_ascii_digit()) => {
            crate::listing::parse_mdtm(&format!("{s}00"))
        }
        _ => None,
    }
}

/// The forms of `SITE UTIME`: `path YYYYMMDDhhmmss`, `YYYYMMDDhhmm[ss] path` (ProFTPD) and
/// `atime mtime ctime UTC path` (five arguments); only the modification time is kept.
fn parse_site_utime(verb: &str, rest: &str) -> Result<Site, ParseError> {
    let usage = || bad(verb, "SITE UTIME takes a path and a time YYYYMMDDhhmmss");
    let words: Vec<&str> = rest.splitn(5, ' ').collect();
    if let [a, m, c, utc, path] = words.as_slice() {
        if utc.eq_ignore_ascii_case("UTC") && !path.is_empty() {
            if let (Some(_), Some(mtime), Some(_)) = (stamp(a), stamp(m), stamp(c)) {
                return Ok(Site::Utime {
                    mtime,
                    path: (*path).to_string(),
                });
            }
        }
    }
    let (first, after) = split_first_space(rest);
    if let Some(mtime) = stamp(first).filter(|_| !after.is_empty()) {
        return Ok(Site::Utime {
            mtime,
            path: after.to_string(),
        });
    }
    let (path, last) = rest.rsplit_once(' ').ok_or_else(usage)?;
    match stamp(last) {
        Some(mtime) if !path.is_empty() => Ok(Site::Utime {
            mtime,
            path: path.to_string(),
        }),
        _ => Err(usage()),
    }
}

/// The argument of a verb that takes a single optional word (AVBL's path, LANG's tag,
/// SMNT's path): `None` when absent or blank.
pub(super) fn optional_word(arg: Option<&str>) -> Option<String> {
    arg.map(|a| a.trim_matches(' '))
        .filter(|a| !a.is_empty())
        .map(str::to_string)
}

/// The argument text of the commands of this module, for [`Command::encode`] (`None`: no
/// argument, or a command of another module).
pub(super) fn encode_arg(cmd: &Command) -> Option<String> {
    match cmd {
        Command::Hash(p) | Command::Clnt(p) => Some(p.clone()),
        Command::Avbl(p) | Command::Lang(p) | Command::Smnt(p) => p.clone(),
        Command::Rang { start, end } => Some(format!("{start} {end}")),
        Command::XHash {
            path, start, end, ..
        } => {
            let mut s = if path.contains(' ') && !path.contains('"') {
                format!("\"{path}\"")
            } else {
                path.clone()
            };
            for n in [start, end].into_iter().flatten() {
                s.push_str(&format!(" {n}"));
            }
            Some(s)
        }
        Command::Mff { facts, path } => {
            let mut s = String::new();
            if let Some(t) = facts.modify {
                s.push_str(&format!("modify={};", crate::listing::format_mdtm(t)));
            }
            if let Some(m) = facts.mode {
                s.push_str(&format!("UNIX.mode={m:04o};"));
            }
            Some(format!("{s} {path}"))
        }
        Command::Mfct { ctime, path } => {
            Some(format!("{} {path}", crate::listing::format_mdtm(*ctime)))
        }
        Command::Opts(Opts::Hash(None)) => Some("HASH".to_string()),
        Command::Opts(Opts::Hash(Some(a))) => Some(format!("HASH {}", a.hash_name())),
        Command::Site(Site::Umask(None)) => Some("UMASK".to_string()),
        Command::Site(Site::Umask(Some(m))) => Some(format!("UMASK {m:03o}")),
        Command::Site(Site::Idle(None)) => Some("IDLE".to_string()),
        Command::Site(Site::Idle(Some(n))) => Some(format!("IDLE {n}")),
        Command::Site(Site::Utime { mtime, path }) => Some(format!(
            "UTIME {} {path}",
            crate::listing::format_mdtm(*mtime)
        )),
        _ => None,
    }
}
