//! Listing parsers: concrete lines of every format, year inference, errors, MLSx, round
//! trips with the server's writers, and never-panic properties.

use ferry_proto::listing::{
    format_mdtm, write_list_line, write_mlsx_facts, EntryInfo, EntryKind, Fact, MlsxType as W,
    RECENT_SECS,
};
use ferry_proto::listing_parse::{
    parse_list_line, parse_listing, parse_mlsd, parse_mlst_reply, parse_mlsx_line, parse_nlst,
    ListFormat, ListParseError, MlsxType, RemoteEntry, MAX_SHOWN_CHARS,
};
use ferry_proto::Reply;
use proptest::prelude::*;
use time::macros::datetime;

fn ts(dt: time::PrimitiveDateTime) -> i64 {
    dt.assume_utc().unix_timestamp()
}

/// 2024-03-01 12:00 UTC.
fn now() -> i64 {
    ts(datetime!(2024-03-01 12:00:00))
}

fn entry(line: &str, now: i64) -> RemoteEntry {
    match parse_list_line(line, now) {
        Ok(Some(e)) => e,
        other => panic!("{line:?} gave {other:?}"),
    }
}

// ---- Unix ---------------------------------------------------------------------------

#[test]
fn unix_ferry_style_recent_file() {
    let e = entry(
        "-rw-r--r--   1 ftp      ftp          1234 Jan 02 15:04 name.txt",
        now(),
    );
    assert_eq!(
        e,
        RemoteEntry {
            name: "name.txt".into(),
            kind: EntryKind::File,
            size: Some(1234),
            mtime: Some(ts(datetime!(2024-01-02 15:04:00))),
            mode: Some(0o644),
            link_target: None,
        }
    );
}

#[test]
fn unix_year_field() {
    let e = entry(
        "-rw-r--r--    1 0        0               4 Jan 01  2019 old.txt",
        now(),
    );
    assert_eq!(e.mtime, Some(ts(datetime!(2019-01-01 00:00:00))));
    assert_eq!(e.name, "old.txt");
    assert_eq!(e.size, Some(4));
}

#[test]
fn unix_single_digit_day_padded_with_space() {
    let e = entry(
        "-rw-r--r--    1 0          0                   4 Jan  1  2019 old.txt",
        now(),
    );
    assert_eq!(e.mtime, Some(ts(datetime!(2019-01-01 00:00:00))));
    let e = entry("-rw-r--r-- 1 a b 4 Feb  9 08:07 x", now());
    assert_eq!(e.mtime, Some(ts(datetime!(2024-02-09 08:07:00))));
}

#[test]
fn year_inference_uses_previous_year_for_future_dates() {
    let now = ts(datetime!(2024-01-10 12:00:00));
    let e = entry("-rw-r--r-- 1 a b 1 Dec 25 10:00 x", now);
    assert_eq!(e.mtime, Some(ts(datetime!(2023-12-25 10:00:00))));
    // A day ahead (server clock or time zone): still this year.
    let e = entry("-rw-r--r-- 1 a b 1 Jan 11 10:00 x", now);
    assert_eq!(e.mtime, Some(ts(datetime!(2024-01-11 10:00:00))));
    // Five days ahead: last year.
    let e = entry("-rw-r--r-- 1 a b 1 Jan 15 10:00 x", now);
    assert_eq!(e.mtime, Some(ts(datetime!(2023-01-15 10:00:00))));
    // Just after New Year, a server east of us already lists next year's date.
    let late = ts(datetime!(2024-12-31 23:00:00));
    let e = entry("-rw-r--r-- 1 a b 1 Jan 01 08:00 x", late);
    assert_eq!(e.mtime, Some(ts(datetime!(2025-01-01 08:00:00))));
}

#[test]
fn year_inference_29_february() {
    let now = ts(datetime!(2025-01-10 00:00:00));
    let e = entry("-rw-r--r-- 1 a b 1 Feb 29 10:00 leap", now);
    assert_eq!(e.mtime, Some(ts(datetime!(2024-02-29 10:00:00))));
}

#[test]
fn invalid_date_keeps_entry_without_mtime() {
    let e = entry("-rw-r--r-- 1 a b 1 Feb 30  2023 x", now());
    assert_eq!(e.mtime, None);
    assert_eq!(e.name, "x");
}

#[test]
fn unix_without_group_column() {
    let e = entry("-rw-r--r--   1 ftp          1234 Jan 02 15:04 file", now());
    assert_eq!((e.name.as_str(), e.size), ("file", Some(1234)));
    // Nor a link count.
    let e = entry("-rw-r--r-- ftp 77 Jan 02 15:04 f", now());
    assert_eq!((e.name.as_str(), e.size), ("f", Some(77)));
}

#[test]
fn unix_numeric_ids() {
    let e = entry(
        "drwxr-xr-x    2 1000       1000                4096 Oct 15 10:20 plain_dir",
        now(),
    );
    assert_eq!(e.kind, EntryKind::Dir);
    assert_eq!(e.mode, Some(0o755));
    assert_eq!(e.size, Some(4096));
}

#[test]
fn total_and_blank_lines_are_no_entries() {
    for line in ["total 136", "total 0", "TOTAL 12k", "", "   ", "\r\n"] {
        assert_eq!(parse_list_line(line, now()), Ok(None), "{line:?}");
    }
}

#[test]
fn device_files() {
    let e = entry("crw-rw-rw- 1 root root 1, 3 Jan 1 00:00 null", now());
    assert_eq!(e.kind, EntryKind::Other);
    assert_eq!(e.size, None);
    assert_eq!(e.name, "null");
    assert_eq!(e.mode, Some(0o666));
    let e = entry("brw-rw---- 1 root disk 8,   0 Mar  1 09:00 sda", now());
    assert_eq!(
        (e.kind, e.size, e.name.as_str()),
        (EntryKind::Other, None, "sda")
    );
    let e = entry("crw--w---- 1 root tty 136,1 Feb 27 10:00 pts1", now());
    assert_eq!((e.size, e.name.as_str()), (None, "pts1"));
    let e = entry("prw-r--r-- 1 a b 0 Feb 27 10:00 fifo", now());
    assert_eq!((e.kind, e.size), (EntryKind::Other, Some(0)));
    let e = entry("srwxrwxrwx 1 a b 0 Feb 27 10:00 sock", now());
    assert_eq!(e.kind, EntryKind::Other);
}

#[test]
fn acl_and_attribute_markers() {
    for marker in ["+", ".", "@"] {
        let line = format!("-rw-r--r--{marker} 1 a b 10 Jan 02 15:04 f");
        let e = entry(&line, now());
        assert_eq!((e.mode, e.size), (Some(0o644), Some(10)), "{line}");
    }
    assert!(parse_list_line("-rw-r--r--++ 1 a b 10 Jan 02 15:04 f", now()).is_err());
}

#[test]
fn special_mode_bits() {
    let cases = [
        ("drwxrwxrwt", 0o1777),
        ("-rwsr-xr-x", 0o4755),
        ("-rwSr--r--", 0o4644),
        ("drwxr-sr-x", 0o2755),
        ("drwxr-Sr-T", 0o3744),
        ("----------", 0),
    ];
    for (m, bits) in cases {
        let e = entry(&format!("{m} 1 a b 1 Jan 02 15:04 f"), now());
        assert_eq!(e.mode, Some(bits), "{m}");
    }
}

#[test]
fn names_keep_exact_spacing() {
    let e = entry(
        "-rw-r--r-- 1 a b 5 Jan 02 15:04 name with  two spaces.txt",
        now(),
    );
    assert_eq!(e.name, "name with  two spaces.txt");
    let e = entry("-rw-r--r-- 1 a b 5 Jan 02 15:04  leading space", now());
    assert_eq!(e.name, " leading space");
    let e = entry("-rw-r--r-- 1 a b 5 Jan 02 15:04 trailing  ", now());
    assert_eq!(e.name, "trailing  ");
    let e = entry("-rw-r--r-- 1 a b 5 Jan  1  2019 Jan 02 15:04 tricky", now());
    assert_eq!(e.name, "Jan 02 15:04 tricky");
    let e = entry("-rw-r--r-- 1 a b 5 Jan 02 15:04 日本語 ü.txt\r", now());
    assert_eq!(e.name, "日本語 ü.txt");
}

#[test]
fn symlinks() {
    let e = entry(
        "lrwxrwxrwx    1 0        0               9 Oct 15 10:20 link-to-hello -> hello.txt",
        now(),
    );
    assert_eq!(e.kind, EntryKind::Symlink);
    assert_eq!(e.name, "link-to-hello");
    assert_eq!(e.link_target.as_deref(), Some("hello.txt"));
    assert_eq!(e.mode, Some(0o777));
    let e = entry("lrwxrwxrwx 1 a b 9 Oct 15 10:20 a b -> ../c d", now());
    assert_eq!(
        (e.name.as_str(), e.link_target.as_deref()),
        ("a b", Some("../c d"))
    );
    // Without target (Ferry, pyftpdlib without follow).
    let e = entry("lrwxrwxrwx 1 a b 9 Oct 15 10:20 link", now());
    assert_eq!((e.name.as_str(), e.link_target), ("link", None));
    // An arrow in a regular file's name is part of the name.
    let e = entry("-rw-r--r-- 1 a b 9 Oct 15 10:20 a -> b", now());
    assert_eq!((e.name.as_str(), e.link_target), ("a -> b", None));
}

#[test]
fn iso_dates() {
    let e = entry(
        "-rw-r--r-- 1 user group 5 2024-01-02 15:04 file name",
        now(),
    );
    assert_eq!(e.mtime, Some(ts(datetime!(2024-01-02 15:04:00))));
    assert_eq!(e.name, "file name");
    let e = entry(
        "-rw-r--r-- 1 user group 5 2024-01-02 15:04:05.123456789 +0100 f",
        now(),
    );
    assert_eq!(e.mtime, Some(ts(datetime!(2024-01-02 14:04:05))));
    assert_eq!(e.name, "f");
    let e = entry("drwxr-xr-x 2 u g 4096 2023-12-31 23:59:59 d", now());
    assert_eq!(
        (e.kind, e.mtime),
        (EntryKind::Dir, Some(ts(datetime!(2023-12-31 23:59:59))))
    );
}

#[test]
fn dot_entries_are_parsed_but_left_out_of_listings() {
    let e = entry("drwxr-xr-x 4 0 0 4096 Oct 15 10:20 .", now());
    assert!(e.is_dot());
    let body = b"drwxr-xr-x 4 0 0 4096 Oct 15 10:20 .\r\ndrwxr-xr-x 4 0 0 4096 Oct 15 10:20 ..\r\n-rw-r--r-- 1 0 0 1 Oct 15 10:20 f\r\n";
    let parsed = parse_listing(body, now());
    assert_eq!(parsed.entries.len(), 1);
    assert!(parsed.warnings.is_empty());
}

#[test]
fn unix_errors() {
    assert!(matches!(
        parse_list_line("hello world", now()),
        Err(ListParseError::Unrecognized { .. })
    ));
    assert!(matches!(
        parse_list_line("-rw-r--r-- 1 a b", now()),
        Err(ListParseError::Malformed {
            format: ListFormat::Unix,
            ..
        })
    ));
    // A date but no name.
    assert!(parse_list_line("-rw-r--r-- 1 a b 5 Jan 02 15:04", now()).is_err());
    assert!(parse_list_line("-rw-r--r-- 1 a b 5 Jan 02 15:04 ", now()).is_err());
    // Bad permission letters.
    assert!(parse_list_line("-rwqr--r-- 1 a b 5 Jan 02 15:04 f", now()).is_err());
    // Hour out of range.
    assert!(parse_list_line("-rw-r--r-- 1 a b 5 Jan 02 25:04 f", now()).is_err());
    // Error text is bounded.
    let long = "x".repeat(10_000);
    match parse_list_line(&long, now()) {
        Err(ListParseError::Unrecognized { line }) => {
            assert_eq!(line.chars().count(), MAX_SHOWN_CHARS)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_lines_are_skipped_with_warnings() {
    let body = "total 8\r\n-rw-r--r-- 1 a b 1 Jan 02 15:04 good\r\nthis is not a listing\r\n\r\ndrwxr-xr-x 2 a b 4096 Jan 02 15:04 dir\r\n-rw-r--r-- 1 a b\r\n";
    let parsed = parse_listing(body.as_bytes(), now());
    let names: Vec<&str> = parsed.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["good", "dir"]);
    let lines: Vec<usize> = parsed.warnings.iter().map(|w| w.line_number).collect();
    assert_eq!(lines, [3, 6]);
    assert!(parsed.warnings[0].to_string().starts_with("line 3: "));
}

#[test]
fn listing_with_bare_lf_and_invalid_utf8() {
    let body = b"-rw-r--r-- 1 a b 1 Jan 02 15:04 caf\xe9\n-rw-r--r-- 1 a b 2 Jan 02 15:04 ok";
    let parsed = parse_listing(body, now());
    assert_eq!(parsed.entries.len(), 2);
    assert_eq!(parsed.entries[0].name, "caf\u{fffd}");
    assert_eq!(parsed.entries[1].size, Some(2));
    assert_eq!(parse_listing(b"", now()), Default::default());
}

#[test]
fn nlst() {
    assert_eq!(
        parse_nlst(b"a\r\nb c\r\n\r\n d \n"),
        vec!["a".to_string(), "b c".into(), " d ".into()]
    );
    assert!(parse_nlst(b"").is_empty());
}

// ---- Windows / IIS --------------------------------------------------------------------

#[test]
fn dos_directory_and_file() {
    let e = entry("01-02-24  03:04PM       <DIR>          dir name", now());
    assert_eq!(
        e,
        RemoteEntry {
            name: "dir name".into(),
            kind: EntryKind::Dir,
            size: None,
            mtime: Some(ts(datetime!(2024-01-02 15:04:00))),
            mode: None,
            link_target: None,
        }
    );
    let e = entry("01-02-2024  03:04PM            1234 file.txt", now());
    assert_eq!(e.kind, EntryKind::File);
    assert_eq!(e.size, Some(1234));
    assert_eq!(e.name, "file.txt");
    assert_eq!(e.mtime, Some(ts(datetime!(2024-01-02 15:04:00))));
}

#[test]
fn dos_time_forms() {
    let cases = [
        ("12-31-99  12:00AM  1 a", datetime!(1999-12-31 00:00:00)),
        ("12-31-99  12:30PM  1 a", datetime!(1999-12-31 12:30:00)),
        ("06-15-70  11:59pm  1 a", datetime!(1970-06-15 23:59:00)),
        ("06-15-2069  23:59  1 a", datetime!(2069-06-15 23:59:00)),
        ("06-15-69  00:01  1 a", datetime!(2069-06-15 00:01:00)),
        ("06/15/2021  09:05 AM  1 a", datetime!(2021-06-15 09:05:00)),
    ];
    for (line, want) in cases {
        assert_eq!(entry(line, now()).mtime, Some(ts(want)), "{line}");
    }
    // 13PM is not a time.
    assert!(parse_list_line("06-15-21  13:00PM  1 a", now()).is_err());
}

#[test]
fn dos_sizes_and_names() {
    let e = entry("05-07-23  10:00AM        1,234,567 big file .zip", now());
    assert_eq!(e.size, Some(1_234_567));
    assert_eq!(e.name, "big file .zip");
    let e = entry(
        "05-07-23  10:00AM    <JUNCTION>     Docs [C:\\Users\\me\\Docs]",
        now(),
    );
    assert_eq!(e.kind, EntryKind::Symlink);
    assert_eq!(e.name, "Docs");
    assert_eq!(e.link_target.as_deref(), Some("C:\\Users\\me\\Docs"));
    assert!(matches!(
        parse_list_line("05-07-23  10:00AM   lots x", now()),
        Err(ListParseError::Malformed {
            format: ListFormat::Windows,
            ..
        })
    ));
    assert!(parse_list_line("05-07-23  10:00AM   <DIR>   ", now()).is_err());
}

// ---- MLSx -----------------------------------------------------------------------------

#[test]
fn mlsx_file() {
    let m = parse_mlsx_line("type=file;size=12;modify=20240102150405;perm=r; name").unwrap();
    assert_eq!(m.ty, MlsxType::File);
    assert_eq!(
        m.entry,
        RemoteEntry {
            name: "name".into(),
            kind: EntryKind::File,
            size: Some(12),
            mtime: Some(ts(datetime!(2024-01-02 15:04:05))),
            mode: None,
            link_target: None,
        }
    );
    assert_eq!(m.perm.as_deref(), Some("r"));
    assert_eq!(m.facts.len(), 4);
}

#[test]
fn mlsx_case_fraction_mode_and_spaces() {
    let m = parse_mlsx_line(
        "Type=DIR;Modify=20240102150405.123;UNIX.mode=0755;Unique=fe00g1; a  dir \r\n",
    )
    .unwrap();
    assert_eq!(m.ty, MlsxType::Dir);
    assert_eq!(m.entry.kind, EntryKind::Dir);
    assert_eq!(m.entry.mtime, Some(ts(datetime!(2024-01-02 15:04:05))));
    assert_eq!(m.entry.mode, Some(0o755));
    assert_eq!(m.unique.as_deref(), Some("fe00g1"));
    assert_eq!(m.entry.name, "a  dir ");
}

#[test]
fn mlsx_cdir_pdir_and_links() {
    assert_eq!(parse_mlsx_line("type=cdir; .").unwrap().ty, MlsxType::Cdir);
    assert_eq!(parse_mlsx_line("type=pdir; ..").unwrap().ty, MlsxType::Pdir);
    assert!(parse_mlsx_line("type=pdir; ..")
        .unwrap()
        .ty
        .is_cdir_or_pdir());
    let m = parse_mlsx_line("type=OS.unix=symlink;size=9; l").unwrap();
    assert_eq!(
        (m.ty.clone(), m.entry.kind),
        (MlsxType::Symlink, EntryKind::Symlink)
    );
    let m = parse_mlsx_line("type=OS.unix=slink:/etc/passwd; l").unwrap();
    assert_eq!(m.entry.link_target.as_deref(), Some("/etc/passwd"));
    let m = parse_mlsx_line("type=OS.unix=slink:; l").unwrap();
    assert_eq!((m.ty, m.entry.link_target), (MlsxType::Symlink, None));
    let m = parse_mlsx_line("type=OS.unix=chr-1/3; null").unwrap();
    assert_eq!(m.ty, MlsxType::Other("OS.unix=chr-1/3".into()));
    assert_eq!(m.entry.kind, EntryKind::Other);
    // pure-ftpd's `sizd` for directories.
    let m = parse_mlsx_line("type=dir;sizd=4096; d").unwrap();
    assert_eq!(m.entry.size, Some(4096));
    // No facts at all, and no type.
    let m = parse_mlsx_line(" name").unwrap();
    assert_eq!((m.ty, m.entry.name.as_str()), (MlsxType::Missing, "name"));
}

#[test]
fn mlsx_bad_values_are_ignored_and_bad_lines_refused() {
    let m = parse_mlsx_line("type=file;size=abc;modify=2024;unix.mode=999; f").unwrap();
    assert_eq!(
        (m.entry.size, m.entry.mtime, m.entry.mode),
        (None, None, None)
    );
    for bad in [
        "type=file;size=1;",
        "type=file; ",
        "nofacts name",
        "type=file;=x; n",
        "type=file;x; n",
    ] {
        assert!(
            matches!(
                parse_mlsx_line(bad),
                Err(ListParseError::Malformed {
                    format: ListFormat::Mlsx,
                    ..
                })
            ),
            "{bad:?}"
        );
    }
    let many = format!("{} n", "a=b;".repeat(100));
    assert!(parse_mlsx_line(&many).is_err());
}

#[test]
fn mlsd_body_skips_cdir_pdir_and_reports_garbage() {
    let body = b"type=cdir;modify=20240102150405; .\r\ntype=pdir; ..\r\ntype=file;size=1; a\r\ngarbage\r\ntype=dir; b\r\n";
    let parsed = parse_mlsd(body);
    let names: Vec<&str> = parsed.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].line_number, 4);
}

#[test]
fn mlst_reply() {
    let reply = Reply::multi(
        250,
        vec![
            "Listing /hello.txt".into(),
            "type=file;size=12;modify=20261015102030;perm=r; /hello.txt".into(),
            "End".into(),
        ],
    );
    let m = parse_mlst_reply(&reply).unwrap();
    assert_eq!(m.entry.name, "/hello.txt");
    assert_eq!(m.entry.size, Some(12));
    assert!(parse_mlst_reply(&Reply::new(250, "nothing here")).is_err());
    assert!(parse_mlst_reply(&Reply::multi(250, vec!["a".into(), "b".into()])).is_err());
}

// ---- Round trips with the server's writers ---------------------------------------------

fn info(name: &str, kind: EntryKind, size: u64, mtime: i64, mode: u32, owner: &str) -> EntryInfo {
    EntryInfo {
        name: name.to_string(),
        kind,
        size,
        mtime,
        mode,
        nlink: 1,
        owner: owner.to_string(),
        group: owner.to_string(),
        unique: Some("fe01".into()),
    }
}

#[test]
fn mlsd_round_trip_concrete() {
    let e = info(
        "a b;c=d.txt",
        EntryKind::File,
        42,
        1_700_000_000,
        0o640,
        "ftp",
    );
    let mut out = Vec::new();
    write_mlsx_facts(&e, W::FromKind, "adfrw", &Fact::ALL, &mut out);
    let line = String::from_utf8(out).unwrap();
    let m = parse_mlsx_line(&line).unwrap();
    assert_eq!(m.entry.name, "a b;c=d.txt");
    assert_eq!(m.entry.size, Some(42));
    assert_eq!(m.entry.mtime, Some(1_700_000_000));
    assert_eq!(m.entry.mode, Some(0o640));
    assert_eq!(m.perm.as_deref(), Some("adfrw"));
    assert_eq!(m.unique.as_deref(), Some("fe01"));
    assert_eq!(format_mdtm(1_700_000_000), m.facts[2].1);
}

fn kind_strategy() -> impl Strategy<Value = EntryKind> {
    prop_oneof![
        Just(EntryKind::File),
        Just(EntryKind::Dir),
        Just(EntryKind::Symlink),
        Just(EntryKind::Other),
    ]
}

/// Names without CR/LF (the writers replace those), non-empty.
fn name_strategy() -> impl Strategy<Value = String> {
    "[^\r\n]{1,40}"
}

proptest! {
    #[test]
    fn mlsd_round_trip(
        name in name_strategy(),
        kind in kind_strategy(),
        size in any::<u64>(),
        mtime in -62_167_219_200i64..253_402_300_799,
        mode in 0u32..0o10000,
        ty in prop_oneof![Just(W::FromKind), Just(W::Cdir), Just(W::Pdir)],
    ) {
        let e = info(&name, kind, size, mtime, mode, "ftp");
        let mut out = Vec::new();
        write_mlsx_facts(&e, ty, "r", &Fact::ALL, &mut out);
        let line = String::from_utf8(out).unwrap();
        let m = parse_mlsx_line(&line).unwrap();
        prop_assert_eq!(&m.entry.name, &name);
        prop_assert_eq!(m.entry.mtime, Some(mtime));
        prop_assert_eq!(m.entry.mode, Some(mode));
        let is_dir = ty != W::FromKind || kind == EntryKind::Dir;
        prop_assert_eq!(m.entry.size, if is_dir { None } else { Some(size) });
        let want = match ty {
            W::Cdir => MlsxType::Cdir,
            W::Pdir => MlsxType::Pdir,
            W::FromKind => match kind {
                EntryKind::File => MlsxType::File,
                EntryKind::Dir => MlsxType::Dir,
                EntryKind::Symlink => MlsxType::Symlink,
                EntryKind::Other => MlsxType::Other("OS.unix=other".into()),
            },
        };
        prop_assert_eq!(m.ty, want);
    }

    #[test]
    fn list_round_trip(
        name in name_strategy().prop_filter("symlink arrow", |n| !n.contains(" -> ")),
        kind in kind_strategy(),
        size in any::<u64>(),
        age in -3600i64..(20 * 365 * 86_400),
        mode in 0u32..0o10000,
        owner in "[a-z]{4,8}",
    ) {
        let now = ts(datetime!(2026-11-21 12:52:00));
        let mtime = now - age;
        let e = info(&name, kind, size, mtime, mode, &owner);
        let mut out = Vec::new();
        write_list_line(&e, now, &mut out);
        let line = String::from_utf8(out).unwrap();
        let got = parse_list_line(&line, now).unwrap().unwrap();
        prop_assert_eq!(&got.name, &name);
        prop_assert_eq!(got.kind, kind);
        prop_assert_eq!(got.size, Some(size));
        prop_assert_eq!(got.mode, Some(mode));
        let want = if age <= RECENT_SECS {
            mtime - mtime.rem_euclid(60)
        } else {
            mtime - mtime.rem_euclid(86_400)
        };
        prop_assert_eq!(got.mtime, Some(want));
    }

    #[test]
    fn never_panics_on_bytes(data in proptest::collection::vec(any::<u8>(), 0..600), now in any::<i64>()) {
        let _ = parse_listing(&data, now);
        let _ = parse_mlsd(&data);
        let _ = parse_nlst(&data);
    }

    #[test]
    fn never_panics_on_lines(line in "\\PC{0,120}", now in any::<i64>()) {
        let _ = parse_list_line(&line, now);
        let _ = parse_mlsx_line(&line);
    }

    /// Lines made of listing-like pieces reach deep into the parsers.
    #[test]
    fn never_panics_on_listing_like_lines(
        parts in proptest::collection::vec(prop_oneof![
            Just("-rw-r--r--".to_string()), Just("drwxrwxrwt+".to_string()),
            Just("crw-rw-rw-".to_string()), Just("lrwxrwxrwx".to_string()),
            Just("Jan".to_string()), Just("Feb".to_string()), Just("29".to_string()),
            Just("31".to_string()), Just("00:00".to_string()), Just("23:59:60".to_string()),
            Just("2019".to_string()), Just("9999".to_string()), Just("0000".to_string()),
            Just("1,".to_string()), Just("2024-02-30".to_string()), Just("+9999".to_string()),
            Just("->".to_string()), Just("<DIR>".to_string()), Just("12-31-99".to_string()),
            Just("13:00PM".to_string()), Just("type=file;".to_string()), Just("é".to_string()),
            "[0-9]{1,25}", " {0,3}", "[ -~]{0,6}",
        ], 0..14),
        now in prop_oneof![any::<i64>(), Just(0i64), Just(i64::MAX), Just(i64::MIN)],
    ) {
        let line = parts.join(" ");
        let _ = parse_list_line(&line, now);
        let _ = parse_mlsx_line(&line);
    }
}
