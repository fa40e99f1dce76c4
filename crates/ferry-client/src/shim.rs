//! Stand-ins for `ferry_proto::client` items until that module lands (then re-exported
//! from there instead).

use ferry_proto::listing::EntryKind;

/// One entry of a remote directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// File name (one component).
    pub name: String,
    /// Kind.
    pub kind: EntryKind,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Modification time, seconds since the Unix epoch (UTC), when known.
    pub mtime: Option<i64>,
    /// Unix permission bits, when known.
    pub mode: Option<u32>,
    /// Symbolic link target, when the listing shows it.
    pub link_target: Option<String>,
}

/// What the server announced in its `FEAT` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    lines: Vec<String>,
}

impl Features {
    /// Features from the lines of a `211` FEAT reply.
    pub fn from_feat_lines(lines: &[String]) -> Features {
        let n = lines.len();
        let lines = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 0 && *i + 1 != n)
            .map(|(_, l)| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        Features { lines }
    }

    /// True when a feature line starts with `name` (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    /// The rest of the feature line named `name`, if announced.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| {
            let (verb, rest) = l.split_once(' ').unwrap_or((l.as_str(), ""));
            verb.eq_ignore_ascii_case(name).then_some(rest.trim())
        })
    }
}

// ---------------------------------------------------------------------------------------
// Minimal private helpers, to be replaced by ferry_proto::client once it lands.

use std::net::{IpAddr, SocketAddr};

use ferry_proto::Reply;

/// The PASV target: the announced address when it is the control connection's peer,
/// else the peer's IP with the announced port (servers behind NAT announce private or
/// unspecified addresses; connecting elsewhere than the control peer is also how FTP
/// bounce attacks work).
pub(crate) fn pasv_target(announced: SocketAddr, control_peer: IpAddr) -> SocketAddr {
    if announced.ip() != control_peer {
        tracing::debug!(%announced, %control_peer, "PASV address differs from the control peer; using the peer");
    }
    SocketAddr::new(control_peer, announced.port())
}

/// Parses one MLSD line (`fact=value;...; name`); `None` for `cdir`/`pdir` and garbage.
pub(crate) fn parse_mlsd_line(line: &str) -> Option<RemoteEntry> {
    let (facts, name) = line.split_once(' ')?;
    if name.is_empty() {
        return None;
    }
    let mut entry = RemoteEntry {
        name: name.to_string(),
        kind: EntryKind::File,
        size: None,
        mtime: None,
        mode: None,
        link_target: None,
    };
    let mut typed = false;
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (k, v) = fact.split_once('=')?;
        match k.to_ascii_lowercase().as_str() {
            "type" => {
                typed = true;
                let v = v.to_ascii_lowercase();
                entry.kind = match v.as_str() {
                    "file" => EntryKind::File,
                    "dir" => EntryKind::Dir,
                    "cdir" | "pdir" => return None,
                    "os.unix=symlink" => EntryKind::Symlink,
                    s if s.starts_with("os.unix=slink") => EntryKind::Symlink,
                    _ => EntryKind::Other,
                };
            }
            "size" => entry.size = v.parse().ok(),
            "modify" => entry.mtime = ferry_proto::listing::parse_mdtm(v),
            "unix.mode" => entry.mode = u32::from_str_radix(v, 8).ok(),
            _ => {}
        }
    }
    typed.then_some(entry)
}

/// Parses one Unix `ls -l` style LIST line (minimal: no dates).
pub(crate) fn parse_list_line(line: &str) -> Option<RemoteEntry> {
    let mut rest = line.trim_end();
    let mut fields = Vec::new();
    for _ in 0..8 {
        rest = rest.trim_start();
        let end = rest.find(' ')?;
        fields.push(rest.get(..end)?);
        rest = rest.get(end..)?;
    }
    let name_part = rest.strip_prefix(' ')?;
    let perms = *fields.first()?;
    let kind = match perms.chars().next()? {
        '-' => EntryKind::File,
        'd' => EntryKind::Dir,
        'l' => EntryKind::Symlink,
        'b' | 'c' | 'p' | 's' => EntryKind::Other,
        _ => return None,
    };
    let size = fields.get(4)?.parse().ok()?;
    let (name, target) = match (kind, name_part.split_once(" -> ")) {
        (EntryKind::Symlink, Some((n, t))) => (n, Some(t.to_string())),
        _ => (name_part, None),
    };
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    Some(RemoteEntry {
        name: name.to_string(),
        kind,
        size: Some(size),
        mtime: None,
        mode: None,
        link_target: target,
    })
}

/// The hex digest in a HASH / XSHA256 / ... reply: the first token of `len` hex digits.
pub(crate) fn parse_hash_reply(reply: &Reply, len: usize) -> Option<String> {
    reply
        .text()
        .split_whitespace()
        .find(|t| t.len() == len && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlsd_lines() {
        let e = parse_mlsd_line("type=file;size=12;modify=20240102030405;unix.mode=0644; a b")
            .expect("entry");
        assert_eq!(e.name, "a b");
        assert_eq!(e.size, Some(12));
        assert_eq!(e.mode, Some(0o644));
        assert!(e.mtime.is_some());
        assert!(parse_mlsd_line("type=cdir; .").is_none());
        assert!(parse_mlsd_line("garbage").is_none());
    }

    #[test]
    fn list_lines() {
        let e = parse_list_line("-rw-r--r--   1 ftp      ftp          1234 Jan 02 15:04 my file")
            .expect("entry");
        assert_eq!((e.name.as_str(), e.size), ("my file", Some(1234)));
        let l = parse_list_line("lrwxrwxrwx 1 u g 3 Jan 02 2023 ln -> tgt").expect("link");
        assert_eq!(l.link_target.as_deref(), Some("tgt"));
        assert!(parse_list_line("total 12").is_none());
        assert!(parse_list_line("").is_none());
    }
}
