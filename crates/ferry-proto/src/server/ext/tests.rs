//! Session tests of the extension commands: replies, ranges, permissions, settings.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::line::LineEvent;
use crate::perm::{PermSet, Permissions};
use crate::server::{LoginGrant, SessionConfig};

fn session() -> Session {
    Session::new(
        SessionConfig::default(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    )
}

fn line(s: &mut Session, text: &str) -> Vec<Action> {
    s.handle_line(LineEvent::Line(text.as_bytes().to_vec()))
}

fn replies(actions: &[Action]) -> Vec<(u16, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(r) => Some((r.code.get(), r.text())),
            _ => None,
        })
        .collect()
}

fn codes(actions: &[Action]) -> Vec<u16> {
    replies(actions).into_iter().map(|(c, _)| c).collect()
}

fn logged_in_with(set: PermSet) -> Session {
    let mut s = session();
    line(&mut s, "USER alice");
    line(&mut s, "PASS secret");
    let a = s.on_auth(Some(LoginGrant {
        user: "alice".into(),
        permissions: Permissions::uniform(set),
        anonymous: false,
    }));
    assert_eq!(codes(&a), [230]);
    s
}

fn logged_in() -> Session {
    logged_in_with(PermSet::all())
}

fn vp(s: &str) -> VirtualPath {
    VirtualPath::root()
        .join(s)
        .unwrap_or_else(|_| VirtualPath::root())
}

fn hash_req(a: &[Action]) -> HashRequest {
    match a {
        [Action::Hash(req)] => req.clone(),
        other => panic!("expected a hash action: {other:?}"),
    }
}

fn file_meta() -> EntryInfo {
    EntryInfo {
        name: "f".into(),
        kind: EntryKind::File,
        size: 3,
        mtime: 0,
        mode: 0o644,
        nlink: 1,
        owner: "ftp".into(),
        group: "ftp".into(),
        unique: None,
    }
}

#[test]
fn hash_whole_file_replies_with_algorithm_range_and_path() {
    let mut s = logged_in();
    let req = hash_req(&line(&mut s, "HASH f.bin"));
    assert_eq!(
        req,
        HashRequest {
            path: vp("f.bin"),
            algorithm: HashAlgorithm::Sha256,
            start: 0,
            end: None,
            style: HashStyle::Hash,
        }
    );
    assert!(s.is_busy());
    let a = s.on_hash(HashOutcome::Done {
        hex: "ab".repeat(32),
        bytes: 50,
    });
    assert_eq!(
        replies(&a),
        [(213, format!("SHA-256 0-49 {} /f.bin", "ab".repeat(32)))]
    );
    // Empty files: the range 0-0.
    hash_req(&line(&mut s, "HASH e"));
    let a = s.on_hash(HashOutcome::Done {
        hex: "00000000".into(),
        bytes: 0,
    });
    assert_eq!(replies(&a), [(213, "SHA-256 0-0 00000000 /e".to_string())]);
}

#[test]
fn opts_hash_selects_and_reports_and_feat_marks_it() {
    let mut s = session();
    assert_eq!(
        replies(&line(&mut s, "OPTS HASH")),
        [(200, "SHA-256".into())]
    );
    assert_eq!(
        replies(&line(&mut s, "OPTS HASH md5")),
        [(200, "MD5".into())]
    );
    assert_eq!(codes(&line(&mut s, "OPTS HASH SHA-3")), [504]);
    assert_eq!(replies(&line(&mut s, "OPTS HASH")), [(200, "MD5".into())]);
    let feat = replies(&line(&mut s, "FEAT"));
    let text = &feat.first().expect("FEAT reply").1;
    assert!(
        text.lines()
            .any(|l| l.trim() == "HASH SHA-256;SHA-512;SHA-1;MD5*;CRC32"),
        "{text}"
    );
    // HASH then uses it.
    let mut s = logged_in();
    line(&mut s, "OPTS HASH CRC32");
    assert_eq!(
        hash_req(&line(&mut s, "HASH x")).algorithm,
        HashAlgorithm::Crc32
    );
}

#[test]
fn rang_and_rest_give_hash_ranges() {
    let mut s = logged_in();
    assert_eq!(codes(&line(&mut s, "RANG 10 19")), [350]);
    let req = hash_req(&line(&mut s, "HASH f"));
    assert_eq!((req.start, req.end), (10, Some(20)));
    let a = s.on_hash(HashOutcome::Done {
        hex: "0".repeat(64),
        bytes: 10,
    });
    assert!(replies(&a)[0].1.starts_with("SHA-256 10-19 "), "{a:?}");
    // RANG is used once.
    let req = hash_req(&line(&mut s, "HASH f"));
    assert_eq!((req.start, req.end), (0, None));
    s.on_hash(HashOutcome::Aborted);
    // Another command between RANG and HASH forgets it.
    line(&mut s, "RANG 5 6");
    line(&mut s, "NOOP");
    assert_eq!(hash_req(&line(&mut s, "HASH f")).start, 0);
    s.on_hash(HashOutcome::Aborted);
    // RANG 1 0 resets; an end before the start is refused.
    line(&mut s, "RANG 5 6");
    assert_eq!(codes(&line(&mut s, "RANG 1 0")), [350]);
    assert_eq!(codes(&line(&mut s, "RANG 9 3")), [501]);
    // REST n starts the range at n.
    assert_eq!(codes(&line(&mut s, "REST 100")), [350]);
    let req = hash_req(&line(&mut s, "HASH f"));
    assert_eq!((req.start, req.end), (100, None));
}

#[test]
fn x_hash_replies_250_hex() {
    let mut s = logged_in();
    let req = hash_req(&line(&mut s, "XSHA512 dir/f 5 9"));
    assert_eq!(req.algorithm, HashAlgorithm::Sha512);
    assert_eq!((req.start, req.end), (5, Some(9)));
    assert_eq!(req.path, vp("dir/f"));
    assert_eq!(req.style, HashStyle::X);
    let a = s.on_hash(HashOutcome::Done {
        hex: "cd".repeat(64),
        bytes: 4,
    });
    assert_eq!(replies(&a), [(250, "cd".repeat(64))]);
    for (cmd, alg) in [
        ("XCRC f", HashAlgorithm::Crc32),
        ("XMD5 f", HashAlgorithm::Md5),
        ("XSHA1 f", HashAlgorithm::Sha1),
        ("XSHA256 f", HashAlgorithm::Sha256),
    ] {
        assert_eq!(hash_req(&line(&mut s, cmd)).algorithm, alg, "{cmd}");
        s.on_hash(HashOutcome::Aborted);
    }
}

#[test]
fn hash_failures_and_abort() {
    let mut s = logged_in();
    hash_req(&line(&mut s, "HASH missing"));
    let a = s.on_hash(HashOutcome::Failed(OpError::new(550, "no such file")));
    assert_eq!(codes(&a), [550]);
    hash_req(&line(&mut s, "XMD5 big"));
    assert_eq!(codes(&s.on_hash(HashOutcome::Aborted)), [426, 226]);
    assert!(!s.is_busy());
}

#[test]
fn hash_needs_read_permission_and_login() {
    let mut s = session();
    assert_eq!(codes(&line(&mut s, "HASH f")), [530]);
    let mut s = logged_in_with(PermSet::of(&[Perm::List]));
    for cmd in ["HASH f", "XSHA256 f", "XCRC f 0 1"] {
        assert_eq!(codes(&line(&mut s, cmd)), [550], "{cmd}");
    }
    let mut s = logged_in_with(PermSet::read_only());
    hash_req(&line(&mut s, "HASH f"));
}

#[test]
fn mff_sets_facts_with_the_right_permissions() {
    let mut s = logged_in();
    let a = line(&mut s, "MFF modify=20200102030405;UNIX.mode=0640; f");
    let Some(Action::Fs(FsOp::Mff { path, facts })) = a.first().cloned() else {
        panic!("{a:?}");
    };
    assert_eq!(path, vp("f"));
    assert_eq!(facts.modify, Some(1_577_934_245));
    assert_eq!(facts.mode, Some(0o640));
    let a = s.on_fs(Ok(None));
    assert_eq!(
        replies(&a),
        [(213, "modify=20200102030405;UNIX.mode=0640; /f".to_string())]
    );
    // Unsupported facts: 504; malformed: 501.
    assert_eq!(codes(&line(&mut s, "MFF create=20200102030405; f")), [504]);
    assert_eq!(codes(&line(&mut s, "MFF modify=2020; f")), [501]);
    // The mode needs chmod, the time write.
    let mut s = logged_in_with(PermSet::read_only().with(Perm::Write));
    assert_eq!(codes(&line(&mut s, "MFF UNIX.mode=0600; f")), [550]);
    assert!(matches!(
        &line(&mut s, "MFF modify=20200102030405; f")[..],
        [Action::Fs(FsOp::Mff { .. })]
    ));
    let mut s = logged_in_with(PermSet::read_only().with(Perm::Chmod));
    assert_eq!(codes(&line(&mut s, "MFF modify=20200102030405; f")), [550]);
}

#[test]
fn mfct_is_refused_with_504_for_existing_files() {
    let mut s = logged_in();
    assert!(matches!(
        &line(&mut s, "MFCT 20200102030405 f")[..],
        [Action::Fs(FsOp::Mfct(_))]
    ));
    assert_eq!(codes(&s.on_fs(Ok(Some(file_meta())))), [504]);
    line(&mut s, "MFCT 20200102030405 f");
    assert_eq!(
        codes(&s.on_fs(Err(OpError::new(550, "no such file or directory")))),
        [550]
    );
    let mut s = logged_in_with(PermSet::read_only());
    assert_eq!(codes(&line(&mut s, "MFCT 20200102030405 f")), [550]);
}

#[test]
fn site_utime_all_forms_set_mtime() {
    let mut s = logged_in();
    for cmd in [
        "SITE UTIME my file 20200102030405",
        "SITE UTIME 20200102030405 my file",
        "SITE UTIME 20200101000000 20200102030405 20200101000000 UTC my file",
    ] {
        let a = line(&mut s, cmd);
        assert_eq!(
            a,
            [Action::Fs(FsOp::Utime {
                path: vp("my file"),
                mtime: 1_577_934_245
            })],
            "{cmd}"
        );
        assert_eq!(codes(&s.on_fs(Ok(None))), [200]);
    }
    assert_eq!(codes(&line(&mut s, "SITE UTIME f")), [501]);
    let mut s = logged_in_with(PermSet::read_only());
    assert_eq!(codes(&line(&mut s, "SITE UTIME f 20200102030405")), [550]);
}

#[test]
fn site_umask_sets_creation_modes_where_chmod_is_allowed() {
    let mut s = logged_in();
    assert_eq!(codes(&line(&mut s, "SITE UMASK")), [200]);
    assert_eq!(s.creation_mode(&vp("f"), false), None);
    assert_eq!(codes(&line(&mut s, "SITE UMASK 027")), [200]);
    assert_eq!(
        replies(&line(&mut s, "SITE UMASK"))[0].1,
        "Current UMASK is 027."
    );
    assert_eq!(s.creation_mode(&vp("f"), false), Some(0o640));
    assert_eq!(s.creation_mode(&vp("d"), true), Some(0o750));
    assert_eq!(codes(&line(&mut s, "SITE UMASK 8")), [501]);
    assert_eq!(codes(&line(&mut s, "SITE UMASK 1777")), [501]);
    let mut s = logged_in_with(PermSet::read_only().with(Perm::Write));
    line(&mut s, "SITE UMASK 077");
    assert_eq!(s.creation_mode(&vp("f"), false), None);
}

#[test]
fn site_idle_is_capped_by_the_server_and_survives_rein() {
    let mut s = logged_in();
    s.set_idle_limit(600);
    assert_eq!(s.idle_timeout(), None);
    assert_eq!(codes(&line(&mut s, "SITE IDLE 601")), [501]);
    assert_eq!(codes(&line(&mut s, "SITE IDLE 0")), [501]);
    assert_eq!(codes(&line(&mut s, "SITE IDLE 30")), [200]);
    assert_eq!(s.idle_timeout(), Some(30));
    assert!(replies(&line(&mut s, "SITE IDLE"))[0].1.contains("30"));
    line(&mut s, "REIN");
    assert_eq!(s.idle_timeout(), None);
    assert_eq!(s.ext.idle_max, Some(600));
}

#[test]
fn avbl_asks_the_driver() {
    let mut s = logged_in();
    assert_eq!(line(&mut s, "AVBL"), [Action::Avbl(VirtualPath::root())]);
    assert_eq!(replies(&s.on_avbl(Ok(12345))), [(213, "12345".into())]);
    assert_eq!(line(&mut s, "AVBL sub"), [Action::Avbl(vp("sub"))]);
    assert_eq!(
        codes(&s.on_avbl(Err(OpError::new(504, "not supported")))),
        [504]
    );
    let mut s = logged_in_with(PermSet::NONE);
    assert_eq!(codes(&line(&mut s, "AVBL")), [550]);
}

#[test]
fn clnt_lang_smnt() {
    let mut s = session();
    // CLNT and LANG work before login.
    assert_eq!(codes(&line(&mut s, "CLNT lftp 4.9")), [200]);
    assert_eq!(s.client_name(), Some("lftp 4.9"));
    assert_eq!(codes(&line(&mut s, "LANG")), [200]);
    assert_eq!(codes(&line(&mut s, "LANG en")), [200]);
    assert_eq!(codes(&line(&mut s, "LANG EN-US")), [200]);
    assert_eq!(codes(&line(&mut s, "LANG fr")), [504]);
    let mut s = logged_in();
    let r = replies(&line(&mut s, "SMNT /mnt"));
    assert_eq!(r[0].0, 502);
    assert!(r[0].1.contains("SMNT"), "{r:?}");
}

#[test]
fn feat_help_and_site_help_list_the_extensions() {
    let mut s = session();
    let feat = replies(&line(&mut s, "FEAT"));
    let lines: Vec<String> = feat[0].1.lines().map(|l| l.trim().to_string()).collect();
    for f in [
        "AVBL",
        "CLNT",
        "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32",
        "LANG EN*",
        "MFF modify;UNIX.mode;",
        "XCRC",
        "XMD5",
        "XSHA1",
        "XSHA256",
        "XSHA512",
    ] {
        assert!(lines.iter().any(|l| l == f), "{f} missing: {lines:?}");
    }
    // MFCT cannot be honoured on the local filesystem: not advertised.
    assert!(!lines.iter().any(|l| l.starts_with("MFCT")));
    let help = replies(&line(&mut s, "HELP"));
    let words: Vec<&str> = help[0].1.split_whitespace().collect();
    for v in [
        "AVBL", "CLNT", "HASH", "LANG", "MFCT", "MFF", "RANG", "XCRC", "XMD5", "XSHA1", "XSHA256",
        "XSHA512",
    ] {
        assert!(words.contains(&v), "{v} missing in HELP");
    }
    let mut s = logged_in();
    let site = replies(&line(&mut s, "SITE HELP"));
    assert!(
        site[0].1.contains("CHMOD HELP IDLE UMASK UTIME"),
        "{site:?}"
    );
}
