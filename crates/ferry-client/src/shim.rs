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
