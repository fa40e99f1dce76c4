//! Tests of the listing writers and MDTM time stamps.

use ferry_proto::listing::{
    format_mdtm, parse_mdtm, write_list_line, write_mlsx_facts, write_nlst_line, EntryInfo,
    EntryKind, Fact, MlsxType,
};
use proptest::prelude::*;

/// 2024-01-02 15:04:05 UTC.
const T: i64 = 1_704_207_845;
const DAY: i64 = 86_400;

fn entry(name: &str, kind: EntryKind, mode: u32) -> EntryInfo {
    EntryInfo {
        name: name.to_string(),
        kind,
        size: 1234,
        mtime: T,
        mode,
        nlink: 1,
        owner: "ftp".into(),
        group: "ftp".into(),
        unique: None,
    }
}

fn list_line(e: &EntryInfo, now: i64) -> String {
    let mut out = Vec::new();
    write_list_line(e, now, &mut out);
    String::from_utf8(out).expect("listing output is UTF-8")
}

fn facts(e: &EntryInfo, ty: MlsxType, perm: &str, f: &[Fact]) -> String {
    let mut out = Vec::new();
    write_mlsx_facts(e, ty, perm, f, &mut out);
    String::from_utf8(out).expect("listing output is UTF-8")
}

#[test]
fn list_line_recent() {
    let e = entry("name", EntryKind::File, 0o644);
    assert_eq!(
        list_line(&e, T + 30 * DAY),
        "-rw-r--r--   1 ftp      ftp          1234 Jan 02 15:04 name\r\n"
    );
}

#[test]
fn list_line_old_and_future() {
    let e = entry("old.txt", EntryKind::File, 0o600);
    // More than six months ago: the year.
    assert_eq!(
        list_line(&e, T + 200 * DAY),
        "-rw-------   1 ftp      ftp          1234 Jan 02  2024 old.txt\r\n"
    );
    // Within an hour in the future: still the time.
    assert!(list_line(&e, T - 3000).contains("Jan 02 15:04 "));
    // More than an hour in the future: the year.
    assert!(list_line(&e, T - 3601).contains("Jan 02  2024 "));
    // Just inside and just outside the six-month window.
    let six_months = 31_556_952 / 2;
    assert!(list_line(&e, T + six_months).contains("15:04"));
    assert!(list_line(&e, T + six_months + 1).contains(" 2024 "));
}

#[test]
fn list_line_kinds_and_columns() {
    let mut d = entry("pub", EntryKind::Dir, 0o755);
    d.nlink = 12;
    d.size = 4096;
    d.owner = "alice-the-admin".into();
    d.group = "staff".into();
    assert_eq!(
        list_line(&d, T),
        "drwxr-xr-x  12 alice-the-admin staff        4096 Jan 02 15:04 pub\r\n"
    );
    let mut l = entry("link", EntryKind::Symlink, 0o777);
    l.size = 7;
    assert!(list_line(&l, T).starts_with("lrwxrwxrwx   1 ftp      ftp             7 "));
    let o = entry("fifo", EntryKind::Other, 0o640);
    assert!(list_line(&o, T).starts_with("?rw-r----- "));
    let mut big = entry("big.iso", EntryKind::File, 0o644);
    big.size = 123_456_789_012;
    big.nlink = 1234;
    assert!(list_line(&big, T).contains(" 1234 ftp      ftp      123456789012 Jan"));
}

#[test]
fn list_line_special_bits() {
    let cases = [
        (0o4755, "-rwsr-xr-x"),
        (0o4644, "-rwSr--r--"),
        (0o2755, "-rwxr-sr-x"),
        (0o2745, "-rwxr-Sr-x"),
        (0o1777, "-rwxrwxrwt"),
        (0o1776, "-rwxrwxrwT"),
        (0o7777, "-rwsrwsrwt"),
        (0o7000, "---S--S--T"),
        (0o0000, "----------"),
        (0o0421, "-r---w---x"),
    ];
    for (mode, want) in cases {
        let line = list_line(&entry("f", EntryKind::File, mode), T);
        assert_eq!(&line[..10], want, "{mode:o}");
    }
}

#[test]
fn list_line_months_and_dates() {
    let mut e = entry("f", EntryKind::File, 0o644);
    // 2023-12-31 23:59:59 UTC shown with the time when recent.
    e.mtime = 1_704_067_199;
    assert!(list_line(&e, T).contains(" Dec 31 23:59 f"));
    // The epoch, long ago.
    e.mtime = 0;
    assert!(list_line(&e, T).contains(" Jan 01  1970 f"));
    // Before the epoch.
    e.mtime = -1;
    assert!(list_line(&e, T).contains(" Dec 31  1969 f"));
    // Out of range values are clamped, never panic.
    e.mtime = i64::MIN;
    assert!(list_line(&e, T).contains(" Jan 01     0 f"));
    e.mtime = i64::MAX;
    assert!(list_line(&e, T).contains(" Dec 31  9999 f"));
    assert!(list_line(&e, i64::MAX).contains(" Dec 31 23:59 f"));
    e.mtime = T;
    assert!(list_line(&e, i64::MIN).contains(" 2024 f"));
    for (month, name) in [
        (1, "Jan"),
        (2, "Feb"),
        (3, "Mar"),
        (4, "Apr"),
        (5, "May"),
        (6, "Jun"),
        (7, "Jul"),
        (8, "Aug"),
        (9, "Sep"),
        (10, "Oct"),
        (11, "Nov"),
        (12, "Dec"),
    ] {
        e.mtime = parse_mdtm(&format!("2023{month:02}15120000")).unwrap();
        assert!(
            list_line(&e, 0).contains(&format!(" {name} 15  2023 f")),
            "{month}"
        );
    }
}

#[test]
fn names_with_cr_lf_are_neutralised() {
    let e = entry("evil\r\n226 done", EntryKind::File, 0o644);
    let line = list_line(&e, T);
    assert!(line.ends_with(" evil  226 done\r\n"));
    assert_eq!(line.matches('\n').count(), 1);
    let mut out = Vec::new();
    write_nlst_line("a\nb\rc", &mut out);
    assert_eq!(out, b"a b c\r\n");
    let mut e = entry("x\ny", EntryKind::File, 0o644);
    e.owner = "o\nw".into();
    let line = list_line(&e, T);
    assert_eq!(line.matches('\n').count(), 1);
    let f = facts(&e, MlsxType::FromKind, "r", &Fact::ALL);
    assert!(!f.contains('\n'));
    assert!(f.ends_with("; x y"));
}

#[test]
fn nlst_lines() {
    let mut out = Vec::new();
    write_nlst_line("file one.txt", &mut out);
    write_nlst_line("dir", &mut out);
    assert_eq!(out, b"file one.txt\r\ndir\r\n");
}

#[test]
fn mlsx_facts() {
    let mut e = entry("report.pdf", EntryKind::File, 0o644);
    e.size = 12;
    e.unique = Some("803g1a".into());
    assert_eq!(
        facts(&e, MlsxType::FromKind, "adfrw", &Fact::ALL),
        "type=file;size=12;modify=20240102150405;perm=adfrw;unique=803g1a;unix.mode=0644; report.pdf"
    );
    // Order follows Fact::ALL whatever order is asked for.
    assert_eq!(
        facts(
            &e,
            MlsxType::FromKind,
            "r",
            &[Fact::Modify, Fact::Size, Fact::Type]
        ),
        "type=file;size=12;modify=20240102150405; report.pdf"
    );
    // No facts at all.
    assert_eq!(facts(&e, MlsxType::FromKind, "r", &[]), " report.pdf");
    // Directories: no size; cdir and pdir.
    let d = entry("sub", EntryKind::Dir, 0o2755);
    assert_eq!(
        facts(&d, MlsxType::FromKind, "flcdmpe", &Fact::ALL),
        "type=dir;modify=20240102150405;perm=flcdmpe;unix.mode=2755; sub"
    );
    assert_eq!(
        facts(&d, MlsxType::Cdir, "el", &[Fact::Type]),
        "type=cdir; sub"
    );
    assert_eq!(
        facts(&d, MlsxType::Pdir, "el", &[Fact::Type]),
        "type=pdir; sub"
    );
    let l = entry("ln", EntryKind::Symlink, 0o777);
    assert_eq!(
        facts(&l, MlsxType::FromKind, "r", &[Fact::Type, Fact::UnixMode]),
        "type=OS.unix=symlink;unix.mode=0777; ln"
    );
    let o = entry("fifo", EntryKind::Other, 0o600);
    assert_eq!(
        facts(&o, MlsxType::FromKind, "", &[Fact::Type, Fact::Perm]),
        "type=OS.unix=other;perm=; fifo"
    );
    // Names with spaces (leading too) survive: the name starts after the first space.
    let s = entry(" a b", EntryKind::File, 0o644);
    assert_eq!(
        facts(&s, MlsxType::FromKind, "r", &[Fact::Type]),
        "type=file;  a b"
    );
}

#[test]
fn fact_names() {
    let names: Vec<&str> = Fact::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        ["type", "size", "modify", "perm", "unique", "unix.mode"]
    );
    for f in Fact::ALL {
        assert_eq!(Fact::from_name(f.name()), Some(f));
        assert_eq!(Fact::from_name(&f.name().to_uppercase()), Some(f));
    }
    assert_eq!(Fact::from_name("Unix.Mode"), Some(Fact::UnixMode));
    assert_eq!(Fact::from_name("media-type"), None);
    assert_eq!(Fact::from_name(""), None);
}

#[test]
fn mdtm_format() {
    assert_eq!(format_mdtm(0), "19700101000000");
    assert_eq!(format_mdtm(T), "20240102150405");
    assert_eq!(format_mdtm(-1), "19691231235959");
    assert_eq!(format_mdtm(951_782_400), "20000229000000");
    assert_eq!(format_mdtm(i64::MIN), "00000101000000");
    assert_eq!(format_mdtm(i64::MAX), "99991231235959");
}

#[test]
fn mdtm_parse() {
    assert_eq!(parse_mdtm("20240102150405"), Some(T));
    assert_eq!(parse_mdtm("20240102150405.123"), Some(T));
    assert_eq!(parse_mdtm("20240102150405.1"), Some(T));
    assert_eq!(parse_mdtm("19700101000000"), Some(0));
    assert_eq!(parse_mdtm("20000229000000"), Some(951_782_400));
    assert_eq!(parse_mdtm("20161231235960"), parse_mdtm("20161231235959"));
    assert_eq!(parse_mdtm("00000101000000"), Some(-62_167_219_200));
    assert_eq!(parse_mdtm("99991231235959"), Some(253_402_300_799));
    for bad in [
        "",
        "2024010215040",
        "202401021504055",
        "20241301000000",
        "20240001000000",
        "20240100000000",
        "20240132000000",
        "20230229000000",
        "21000229000000",
        "20240431000000",
        "20240102240000",
        "20240102156000",
        "20240102150461",
        "2024-1-2150405",
        "+2024010215040",
        "20240102150405.",
        "20240102150405.x",
        "20240102150405.1234567890",
        " 20240102150405",
        "20240102150405 ",
        "２0240102150405",
    ] {
        assert_eq!(parse_mdtm(bad), None, "{bad:?}");
    }
}

proptest! {
    #[test]
    fn mdtm_round_trip(t in -62_167_219_200i64..=253_402_300_799) {
        let s = format_mdtm(t);
        prop_assert_eq!(s.len(), 14);
        prop_assert_eq!(parse_mdtm(&s), Some(t));
    }

    #[test]
    fn mdtm_parse_never_panics(s in "[0-9.]{0,20}|\\PC{0,20}") {
        let _ = parse_mdtm(&s);
    }

    #[test]
    fn writers_never_panic_and_end_in_one_crlf(
        name in "\\PC{0,20}[\r\n]?\\PC{0,5}",
        mtime in any::<i64>(),
        now in any::<i64>(),
        mode in any::<u32>(),
        size in any::<u64>(),
        nlink in any::<u64>(),
        kind in prop_oneof![Just(EntryKind::File), Just(EntryKind::Dir), Just(EntryKind::Symlink), Just(EntryKind::Other)],
    ) {
        let e = EntryInfo {
            name: name.clone(), kind, size, mtime, mode, nlink,
            owner: "o".into(), group: "g".into(), unique: Some("u;1 2".into()),
        };
        let mut out = Vec::new();
        write_list_line(&e, now, &mut out);
        prop_assert!(out.ends_with(b"\r\n"));
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n' || b == b'\r').count(), 2);
        let mut out = Vec::new();
        write_nlst_line(&name, &mut out);
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n' || b == b'\r').count(), 2);
        let mut out = Vec::new();
        write_mlsx_facts(&e, MlsxType::FromKind, "r", &Fact::ALL, &mut out);
        prop_assert!(!out.contains(&b'\n') && !out.contains(&b'\r'));
        // The facts part (before the first space) has well-formed fact=value; items.
        let text = String::from_utf8(out).expect("listing output is UTF-8");
        let (facts, _) = text.split_once(' ').unwrap();
        prop_assert!(facts.ends_with(';'));
        for f in facts.trim_end_matches(';').split(';') {
            prop_assert!(f.contains('='), "{}", f);
        }
    }
}
