//! The listing parsers on real LIST/MLSD/NLST output captured from Ferry, pyftpdlib,
//! vsftpd, pure-ftpd and proftpd (tests/data/servers, see SOURCES.md there) and on
//! hand-written IIS and `ls -l` variants (tests/data/handwritten).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferry_proto::listing::EntryKind;
use ferry_proto::listing_parse::{parse_listing, parse_mlsd, parse_nlst, RemoteEntry};
use time::macros::datetime;

/// Capture time, 2026-11-21 12:52 UTC.
fn now() -> i64 {
    datetime!(2026-11-21 12:52:00).assume_utc().unix_timestamp()
}

const RECENT: i64 = 1_792_059_630; // 2026-10-15 10:20:30 UTC
const OLD: i64 = 1_546_300_800; // 2019-01-01 00:00:00 UTC

fn data(path: &str) -> Vec<u8> {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", path]
        .iter()
        .collect();
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// name -> (kind, size) of the captured tree as a LIST shows it.
fn expected_list() -> BTreeMap<&'static str, (EntryKind, u64)> {
    BTreeMap::from([
        ("big.bin", (EntryKind::File, 100_000)),
        ("café ünïcødé.txt", (EntryKind::File, 3)),
        ("empty", (EntryKind::File, 0)),
        ("hello.txt", (EntryKind::File, 12)),
        ("link-to-hello", (EntryKind::Symlink, 9)),
        ("name with  two spaces.txt", (EntryKind::File, 5)),
        ("old.txt", (EntryKind::File, 4)),
        ("plain_dir", (EntryKind::Dir, 4096)),
        ("sub dir", (EntryKind::Dir, 4096)),
        ("日本語.txt", (EntryKind::File, 6)),
    ])
}

fn by_name(entries: &[RemoteEntry]) -> BTreeMap<&str, &RemoteEntry> {
    let map: BTreeMap<&str, &RemoteEntry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    assert_eq!(map.len(), entries.len(), "duplicate names in {entries:?}");
    map
}

fn check_list(server: &str, file: &str, link_target_listed: bool) {
    let parsed = parse_listing(&data(&format!("servers/{server}-{file}.txt")), now());
    assert!(
        parsed.warnings.is_empty(),
        "{server}: {:?}",
        parsed.warnings
    );
    let got = by_name(&parsed.entries);
    let want = expected_list();
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        want.keys().copied().collect::<Vec<_>>(),
        "{server} {file}"
    );
    for (name, (kind, size)) in want {
        let e = got[name];
        assert_eq!((e.kind, e.size), (kind, Some(size)), "{server}: {name}");
        let mode = match kind {
            EntryKind::Dir => 0o755,
            EntryKind::Symlink => 0o777,
            _ => 0o644,
        };
        assert_eq!(e.mode, Some(mode), "{server}: {name}");
        // LIST shows minutes for recent files and only the day for old ones.
        let mtime = if name == "old.txt" { OLD } else { RECENT - 30 };
        assert_eq!(e.mtime, Some(mtime), "{server}: {name}");
        let target =
            (kind == EntryKind::Symlink && link_target_listed).then(|| "hello.txt".to_string());
        assert_eq!(e.link_target, target, "{server}: {name}");
    }
}

#[test]
fn ferry_list() {
    check_list("ferry", "list", false);
    check_list("ferry", "list-a", false);
}

#[test]
fn pyftpdlib_list() {
    check_list("pyftpdlib", "list", true);
    check_list("pyftpdlib", "list-a", true);
}

#[test]
fn vsftpd_list() {
    check_list("vsftpd", "list", true);
    check_list("vsftpd", "list-a", true);
}

#[test]
fn pure_ftpd_list() {
    check_list("pure-ftpd", "list", true);
    check_list("pure-ftpd", "list-a", true);
}

#[test]
fn proftpd_list() {
    check_list("proftpd", "list", true);
    check_list("proftpd", "list-a", true);
}

/// How a server's MLSD describes the tree: directory sizes, the symlink, modes.
struct MlsdShape {
    dir_size: Option<u64>,
    /// The symlink's kind and size (pyftpdlib follows it).
    link: (EntryKind, u64),
    modes: bool,
}

fn check_mlsd(server: &str, shape: MlsdShape) {
    let parsed = parse_mlsd(&data(&format!("servers/{server}-mlsd.txt")));
    assert!(
        parsed.warnings.is_empty(),
        "{server}: {:?}",
        parsed.warnings
    );
    let got = by_name(&parsed.entries);
    let want = expected_list();
    assert_eq!(got.len(), want.len(), "{server}: {got:?}");
    for (name, (kind, size)) in want {
        let e = got[name];
        let (kind, size) = match kind {
            EntryKind::Dir => (kind, shape.dir_size),
            EntryKind::Symlink => (shape.link.0, Some(shape.link.1)),
            _ => (kind, Some(size)),
        };
        assert_eq!((e.kind, e.size), (kind, size), "{server}: {name}");
        let mtime = if name == "old.txt" { OLD } else { RECENT };
        assert_eq!(e.mtime, Some(mtime), "{server}: {name}");
        if shape.modes {
            let mode = match (name, kind) {
                ("link-to-hello", _) => 0o777,
                (_, EntryKind::Dir) => 0o755,
                _ => 0o644,
            };
            assert_eq!(e.mode, Some(mode), "{server}: {name}");
        } else {
            assert_eq!(e.mode, None, "{server}: {name}");
        }
        assert_eq!(e.link_target, None, "{server}: {name}");
    }
}

#[test]
fn ferry_mlsd() {
    check_mlsd(
        "ferry",
        MlsdShape {
            dir_size: None,
            link: (EntryKind::Symlink, 9),
            modes: true,
        },
    );
}

#[test]
fn pyftpdlib_mlsd() {
    check_mlsd(
        "pyftpdlib",
        MlsdShape {
            dir_size: Some(4096),
            link: (EntryKind::File, 12),
            modes: false,
        },
    );
}

#[test]
fn pure_ftpd_mlsd() {
    check_mlsd(
        "pure-ftpd",
        MlsdShape {
            dir_size: Some(4096),
            link: (EntryKind::Symlink, 9),
            modes: true,
        },
    );
}

#[test]
fn proftpd_mlsd() {
    check_mlsd(
        "proftpd",
        MlsdShape {
            dir_size: None,
            link: (EntryKind::Symlink, 9),
            modes: true,
        },
    );
}

#[test]
fn nlst_of_every_server() {
    for server in ["ferry", "pyftpdlib", "vsftpd", "pure-ftpd", "proftpd"] {
        let mut names = parse_nlst(&data(&format!("servers/{server}-nlst.txt")));
        names.sort();
        let want: Vec<String> = expected_list().keys().map(|s| s.to_string()).collect();
        assert_eq!(names, want, "{server}");
    }
}

#[test]
fn iis_listing() {
    let parsed = parse_listing(&data("handwritten/iis.txt"), now());
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let got = by_name(&parsed.entries);
    let mut want = expected_list();
    want.remove("link-to-hello");
    assert_eq!(got.len(), want.len());
    for (name, (kind, size)) in want {
        let e = got[name];
        let size = (kind != EntryKind::Dir).then_some(size);
        assert_eq!((e.kind, e.size, e.mode), (kind, size, None), "{name}");
        let mtime = match name {
            "old.txt" => OLD,
            "café ünïcødé.txt" => RECENT - 30 + 12 * 3600,
            _ => RECENT - 30,
        };
        assert_eq!(e.mtime, Some(mtime), "{name}");
    }
}

/// Name, kind, size, mtime, link target.
type Expected<'a> = (
    &'a str,
    EntryKind,
    Option<u64>,
    Option<i64>,
    Option<&'a str>,
);

#[test]
fn unix_variants() {
    let parsed = parse_listing(&data("handwritten/unix-variants.txt"), now());
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert_eq!(parsed.warnings[0].line_number, 8);
    let got = by_name(&parsed.entries);
    let want: [Expected<'_>; 7] = [
        (
            "plain_dir",
            EntryKind::Dir,
            Some(96),
            Some(RECENT - 30),
            None,
        ),
        (
            "hello.txt",
            EntryKind::File,
            Some(12),
            Some(RECENT - 30),
            None,
        ),
        ("old.txt", EntryKind::File, Some(4), Some(OLD), None),
        (
            "link-to-hello",
            EntryKind::Symlink,
            Some(9),
            Some(RECENT - 30),
            Some("hello.txt"),
        ),
        ("null", EntryKind::Other, None, Some(RECENT - 30), None),
        (
            "fifo",
            EntryKind::Other,
            Some(0),
            Some(datetime!(2026-11-20 08:00:00).assume_utc().unix_timestamp()),
            None,
        ),
        (
            " leading space.txt",
            EntryKind::File,
            Some(5),
            Some(RECENT - 30),
            None,
        ),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (name, kind, size, mtime, target) in want {
        let e = got[name];
        assert_eq!(
            (e.kind, e.size, e.mtime, e.link_target.as_deref()),
            (kind, size, mtime, target),
            "{name}"
        );
    }
}
