//! In-memory session tests: commands in, actions out, I/O results scripted.

use super::*;
use std::net::{Ipv4Addr, SocketAddrV4};

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

fn codes(actions: &[Action]) -> Vec<u16> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(r) => Some(r.code.get()),
            _ => None,
        })
        .collect()
}

fn logged_in(read_only: bool) -> Session {
    let set = if read_only {
        PermSet::read_only()
    } else {
        PermSet::all()
    };
    logged_in_with(Permissions::uniform(set))
}

fn logged_in_with(permissions: Permissions) -> Session {
    let mut s = session();
    assert_eq!(codes(&line(&mut s, "USER alice")), [331]);
    let a = line(&mut s, "PASS secret");
    assert!(matches!(&a[..], [Action::Authenticate { user, .. }] if user == "alice"));
    let a = s.on_auth(Some(LoginGrant {
        user: "alice".into(),
        permissions,
        anonymous: false,
    }));
    assert_eq!(codes(&a), [230]);
    s
}

fn dir_meta() -> EntryInfo {
    EntryInfo {
        name: "d".into(),
        kind: EntryKind::Dir,
        size: 0,
        mtime: 0,
        mode: 0o755,
        nlink: 2,
        owner: "ftp".into(),
        group: "ftp".into(),
        unique: None,
    }
}

#[test]
fn commands_before_login_get_530() {
    let mut s = session();
    for cmd in ["PWD", "LIST", "RETR x", "CWD /", "PASV"] {
        assert_eq!(codes(&line(&mut s, cmd)), [530], "{cmd}");
    }
    assert_eq!(codes(&line(&mut s, "SYST")), [215]);
    assert_eq!(codes(&line(&mut s, "FEAT")), [211]);
}

#[test]
fn pass_without_user_is_503() {
    let mut s = session();
    assert_eq!(codes(&line(&mut s, "PASS x")), [503]);
}

#[test]
fn failed_login_returns_530_and_allows_retry() {
    let mut s = session();
    line(&mut s, "USER bob");
    line(&mut s, "PASS wrong");
    assert_eq!(codes(&s.on_auth(None)), [530]);
    assert!(s.user().is_none());
    assert_eq!(codes(&line(&mut s, "USER bob")), [331]);
}

#[test]
fn too_many_bad_commands_before_login_close() {
    let mut s = session();
    let mut closed = false;
    for i in 0..60 {
        let a = line(&mut s, "BOGUS");
        if a.contains(&Action::Close) {
            assert!(i >= 50, "closed too early at {i}");
            closed = true;
            break;
        }
    }
    assert!(closed);
}

#[test]
fn too_long_line_is_500_and_session_goes_on() {
    let mut s = logged_in(false);
    assert_eq!(
        codes(&s.handle_line(LineEvent::TooLong { len: 9000 })),
        [500]
    );
    assert_eq!(codes(&line(&mut s, "NOOP")), [200]);
}

#[test]
fn pwd_quotes_and_cwd_changes_directory() {
    let mut s = logged_in(false);
    let a = line(&mut s, "CWD sub dir");
    assert_eq!(
        a,
        [Action::Fs(FsOp::Cwd(
            VirtualPath::root().join("sub dir").unwrap()
        ))]
    );
    assert_eq!(codes(&s.on_fs(Ok(Some(dir_meta())))), [250]);
    assert_eq!(s.cwd().as_str(), "/sub dir");
    match &line(&mut s, "PWD")[..] {
        [Action::Reply(r)] => assert!(r.lines[0].starts_with("\"/sub dir\"")),
        other => panic!("{other:?}"),
    }
    let a = line(&mut s, "CDUP");
    assert_eq!(a, [Action::Fs(FsOp::Cwd(VirtualPath::root()))]);
}

#[test]
fn cwd_to_file_is_550() {
    let mut s = logged_in(false);
    line(&mut s, "CWD f");
    let mut m = dir_meta();
    m.kind = EntryKind::File;
    assert_eq!(codes(&s.on_fs(Ok(Some(m)))), [550]);
    assert_eq!(s.cwd().as_str(), "/");
}

#[test]
fn traversal_stays_in_root() {
    let mut s = logged_in(false);
    let a = line(&mut s, "CWD ../../../../etc");
    assert_eq!(
        a,
        [Action::Fs(FsOp::Cwd(
            VirtualPath::root().join("etc").unwrap()
        ))]
    );
}

#[test]
fn read_only_refuses_changes() {
    let mut s = logged_in(true);
    for cmd in [
        "STOR a",
        "APPE a",
        "DELE a",
        "MKD a",
        "RMD a",
        "RNFR a",
        "SITE CHMOD 644 a",
    ] {
        assert_eq!(codes(&line(&mut s, cmd)), [550], "{cmd}");
    }
}

#[test]
fn transfer_needs_data_setup() {
    let mut s = logged_in(false);
    assert_eq!(codes(&line(&mut s, "RETR a")), [425]);
}

#[test]
fn pasv_then_retr_with_rest() {
    let mut s = logged_in(false);
    assert_eq!(line(&mut s, "PASV"), [Action::OpenPassive]);
    let a = s.on_passive(Ok(0x1234));
    match &a[..] {
        [Action::Reply(r)] => {
            assert_eq!(r.code.get(), 227);
            assert!(r.lines[0].contains("127,0,0,1,18,52"), "{r:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(codes(&line(&mut s, "TYPE I")), [200]);
    assert_eq!(codes(&line(&mut s, "REST 100")), [350]);
    let a = line(&mut s, "RETR f");
    let req = match &a[..] {
        [Action::Transfer(req)] => req.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        req.kind,
        TransferKind::Retr {
            path: VirtualPath::root().join("f").unwrap(),
            offset: 100
        }
    );
    assert!(!req.ascii);
    assert_eq!(req.endpoint, DataEndpoint::Passive);
    assert!(s.is_busy());
    let a = s.on_transfer(TransferOutcome::Complete { bytes: 5 }, None);
    assert_eq!(codes(&a), [226]);
    // The data setup is used up.
    assert_eq!(codes(&line(&mut s, "RETR f")), [425]);
}

#[test]
fn rest_applies_only_to_next_command() {
    let mut s = logged_in(false);
    line(&mut s, "REST 10");
    line(&mut s, "PWD");
    line(&mut s, "EPSV");
    s.on_passive(Ok(4000));
    match &line(&mut s, "STOR f")[..] {
        [Action::Transfer(req)] => assert!(matches!(
            req.kind,
            TransferKind::Stor {
                mode: StoreMode::Replace,
                ..
            }
        )),
        other => panic!("{other:?}"),
    }
}

#[test]
fn port_bounce_is_refused() {
    let mut s = logged_in(false);
    assert_eq!(codes(&line(&mut s, "PORT 10,0,0,1,4,1")), [500]);
    assert_eq!(codes(&line(&mut s, "PORT 127,0,0,1,0,21")), [500]);
    assert_eq!(codes(&line(&mut s, "EPRT |1|10.0.0.1|5000|")), [500]);
    assert_eq!(codes(&line(&mut s, "PORT 127,0,0,1,4,1")), [200]);
    match &line(&mut s, "LIST")[..] {
        [Action::Transfer(req)] => assert_eq!(
            req.endpoint,
            DataEndpoint::Active(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1025)))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn epsv_all_blocks_other_setups() {
    let mut s = logged_in(false);
    assert_eq!(codes(&line(&mut s, "EPSV ALL")), [200]);
    assert_eq!(codes(&line(&mut s, "PASV")), [503]);
    assert_eq!(codes(&line(&mut s, "PORT 127,0,0,1,4,1")), [503]);
    assert_eq!(line(&mut s, "EPSV"), [Action::OpenPassive]);
    let a = s.on_passive(Ok(5000));
    match &a[..] {
        [Action::Reply(r)] => assert_eq!(r.lines[0], "Entering Extended Passive Mode (|||5000|)"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn epsv_wrong_protocol_is_522() {
    let mut s = logged_in(false);
    assert_eq!(codes(&line(&mut s, "EPSV 2")), [522]);
}

#[test]
fn pasv_on_ipv6_is_refused_but_epsv_works() {
    let mut s = Session::new(
        SessionConfig::default(),
        "::1".parse().unwrap(),
        "::1".parse().unwrap(),
    );
    line(&mut s, "USER a");
    line(&mut s, "PASS b");
    s.on_auth(Some(LoginGrant {
        user: "a".into(),
        permissions: Permissions::default(),
        anonymous: false,
    }));
    assert_eq!(codes(&line(&mut s, "PASV")), [425]);
    assert_eq!(line(&mut s, "EPSV"), [Action::OpenPassive]);
    assert_eq!(codes(&line(&mut s, "EPSV 2")), [503]); // busy: a request is pending
}

#[test]
fn rename_sequence() {
    let mut s = logged_in(false);
    assert_eq!(codes(&line(&mut s, "RNTO b")), [503]);
    line(&mut s, "RNFR a");
    assert_eq!(codes(&s.on_fs(Ok(Some(dir_meta())))), [350]);
    let a = line(&mut s, "RNTO b");
    assert!(matches!(&a[..], [Action::Fs(FsOp::Rename { .. })]));
    assert_eq!(codes(&s.on_fs(Ok(None))), [250]);
    // A command between RNFR and RNTO cancels the rename.
    line(&mut s, "RNFR a");
    s.on_fs(Ok(Some(dir_meta())));
    line(&mut s, "NOOP");
    assert_eq!(codes(&line(&mut s, "RNTO b")), [503]);
}

#[test]
fn storage_errors_keep_their_code() {
    let mut s = logged_in(false);
    line(&mut s, "DELE nothere");
    assert_eq!(
        codes(&s.on_fs(Err(OpError::new(550, "No such file")))),
        [550]
    );
    line(&mut s, "SIZE dir");
    assert_eq!(codes(&s.on_fs(Ok(Some(dir_meta())))), [550]);
}

#[test]
fn abort_replies_426_then_226() {
    let mut s = logged_in(false);
    line(&mut s, "PASV");
    s.on_passive(Ok(3000));
    line(&mut s, "RETR big");
    assert_eq!(
        codes(&s.on_transfer(TransferOutcome::Aborted, None)),
        [426, 226]
    );
    assert_eq!(codes(&line(&mut s, "ABOR")), [225]);
}

#[test]
fn type_and_mode_and_stru() {
    let mut s = logged_in(false);
    assert_eq!(codes(&line(&mut s, "TYPE A")), [200]);
    assert!(s.is_ascii());
    assert_eq!(codes(&line(&mut s, "TYPE L 8")), [200]);
    assert!(!s.is_ascii());
    assert_eq!(codes(&line(&mut s, "TYPE L 7")), [504]);
    assert_eq!(codes(&line(&mut s, "TYPE E")), [200]);
    assert_eq!(codes(&line(&mut s, "TYPE E C")), [200]);
    assert_eq!(codes(&line(&mut s, "TYPE A T")), [200]);
    assert_eq!(codes(&line(&mut s, "MODE S")), [200]);
    assert_eq!(codes(&line(&mut s, "MODE B")), [200]);
    assert_eq!(codes(&line(&mut s, "MODE C")), [200]);
    assert_eq!(codes(&line(&mut s, "STRU F")), [200]);
    assert_eq!(codes(&line(&mut s, "STRU R")), [200]);
    assert_eq!(codes(&line(&mut s, "STRU P")), [200]);
}

#[test]
fn transfers_carry_the_representation() {
    use crate::command::{FormatControl, Structure, TransferType};
    let mut s = logged_in(false);
    let start = |s: &mut Session, verb: &str| {
        line(s, "EPSV");
        s.on_passive(Ok(4000));
        let a = line(s, verb);
        match &a[..] {
            [Action::Transfer(req)] => {
                let req = req.clone();
                s.on_transfer(TransferOutcome::Complete { bytes: 1 }, None);
                Ok(req)
            }
            _ => Err(codes(&a)),
        }
    };
    line(&mut s, "TYPE E C");
    line(&mut s, "STRU R");
    line(&mut s, "MODE B");
    let req = start(&mut s, "RETR f").unwrap();
    let r = req.repr;
    assert_eq!(
        (r.transfer_type(), r.structure(), r.mode()),
        (
            TransferType::Ebcdic(FormatControl::Asa),
            Structure::Record,
            Mode::Block
        )
    );
    assert!(!req.ascii);
    // Listings: only the mode applies.
    let req = start(&mut s, "LIST").unwrap();
    let r = req.repr;
    assert_eq!(
        (r.transfer_type(), r.structure(), r.mode()),
        (TransferType::Image, Structure::File, Mode::Block)
    );
    // Pages need TYPE I or L 8: refused when the transfer starts.
    line(&mut s, "STRU P");
    line(&mut s, "TYPE A");
    assert_eq!(start(&mut s, "STOR f").unwrap_err(), [504]);
    line(&mut s, "TYPE I");
    assert!(start(&mut s, "STOR f").unwrap().repr.structure() == Structure::Page);
    // REIN: back to STRU F, MODE S.
    line(&mut s, "REIN");
    assert!(s.stru == Structure::File && s.mode == Mode::Stream);
}

#[test]
fn rein_logs_out() {
    let mut s = logged_in(false);
    let a = line(&mut s, "REIN");
    assert!(a.contains(&Action::LoggedOut));
    assert_eq!(codes(&a), [220]);
    assert_eq!(codes(&line(&mut s, "PWD")), [530]);
}

#[test]
fn feat_lists_what_is_implemented() {
    let mut s = session();
    match &line(&mut s, "FEAT")[..] {
        [Action::Reply(r)] => {
            let text = r.text();
            for f in [
                "EPSV",
                "EPRT",
                "MDTM",
                "MFMT",
                "SIZE",
                "REST STREAM",
                "UTF8",
                "MLST type*",
            ] {
                assert!(text.contains(f), "{f} missing in {text}");
            }
            assert!(!text.contains("AUTH"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn nlst_wildcard_splits_pattern() {
    let mut s = logged_in(false);
    line(&mut s, "PASV");
    s.on_passive(Ok(3000));
    match &line(&mut s, "NLST sub/*.txt")[..] {
        [Action::Transfer(req)] => assert_eq!(
            req.kind,
            TransferKind::List {
                path: VirtualPath::root().join("sub").unwrap(),
                format: ListFormat::Nlst,
                pattern: Some("*.txt".into())
            }
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wildcards() {
    assert!(wildcard_match("*.txt", "a.txt"));
    assert!(!wildcard_match("*.txt", "a.txt2"));
    assert!(wildcard_match("a?c", "abc"));
    assert!(wildcard_match("*", ""));
    assert!(wildcard_match("a*b*c", "aXXbYYc"));
    assert!(!wildcard_match("a*b*c", "aXXbYY"));
}

#[test]
fn password_never_in_debug() {
    let mut s = session();
    line(&mut s, "USER alice");
    let a = line(&mut s, "PASS hunter2");
    assert!(!format!("{a:?}").contains("hunter2"));
}

fn tls_session(policy: TlsPolicy) -> Session {
    let config = SessionConfig {
        tls: policy,
        anonymous_enabled: true,
        ..SessionConfig::default()
    };
    Session::new(
        config,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    )
}

fn available() -> TlsPolicy {
    TlsPolicy {
        available: true,
        ..TlsPolicy::default()
    }
}

fn auth_tls(s: &mut Session) {
    let a = line(s, "AUTH TLS");
    assert_eq!(codes(&a), [234]);
    assert_eq!(a.last(), Some(&Action::StartTls));
    assert!(s.on_tls(true).is_empty());
    assert!(s.is_tls());
}

#[test]
fn auth_without_tls_is_502_and_feat_hides_it() {
    let mut s = session();
    assert_eq!(codes(&line(&mut s, "AUTH TLS")), [502]);
    let mut s = tls_session(available());
    match &line(&mut s, "FEAT")[..] {
        [Action::Reply(r)] => {
            let t = r.text();
            assert!(
                t.contains("AUTH TLS") && t.contains("PBSZ") && t.contains("PROT"),
                "{t}"
            );
            assert!(!t.contains("CCC"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pbsz_and_prot_need_auth_then_order() {
    let mut s = tls_session(available());
    assert_eq!(codes(&line(&mut s, "PBSZ 0")), [503]);
    assert_eq!(codes(&line(&mut s, "PROT P")), [503]);
    auth_tls(&mut s);
    assert_eq!(codes(&line(&mut s, "PROT P")), [503], "PROT before PBSZ");
    assert_eq!(codes(&line(&mut s, "PBSZ 0")), [200]);
    assert_eq!(codes(&line(&mut s, "PROT S")), [536]);
    assert_eq!(codes(&line(&mut s, "PROT E")), [536]);
    assert_eq!(codes(&line(&mut s, "PROT P")), [200]);
    assert_eq!(codes(&line(&mut s, "AUTH TLS")), [503], "second AUTH");
    assert_eq!(codes(&line(&mut s, "AUTH KERBEROS_V4")), [504]);
}

#[test]
fn failed_handshake_closes() {
    let mut s = tls_session(available());
    line(&mut s, "AUTH SSL");
    assert_eq!(s.on_tls(false), [Action::Close]);
}

#[test]
fn required_tls_refuses_user_but_exempts_anonymous() {
    let policy = TlsPolicy {
        required_for_login: true,
        anonymous_exempt: true,
        ..available()
    };
    let mut s = tls_session(policy);
    assert_eq!(codes(&line(&mut s, "USER alice")), [530]);
    assert_eq!(codes(&line(&mut s, "PASS x")), [503]);
    assert_eq!(codes(&line(&mut s, "USER anonymous")), [331]);
    let mut s = tls_session(TlsPolicy {
        anonymous_exempt: false,
        ..policy
    });
    assert_eq!(codes(&line(&mut s, "USER anonymous")), [530]);
    auth_tls(&mut s);
    assert_eq!(codes(&line(&mut s, "USER alice")), [331]);
}

#[test]
fn data_protection_policy() {
    let policy = TlsPolicy {
        require_data_protection: true,
        ..available()
    };
    let mut s = tls_session(policy);
    auth_tls(&mut s);
    line(&mut s, "USER alice");
    line(&mut s, "PASS secret");
    s.on_auth(Some(LoginGrant {
        user: "alice".into(),
        permissions: Permissions::default(),
        anonymous: false,
    }));
    line(&mut s, "EPSV");
    s.on_passive(Ok(3000));
    assert_eq!(codes(&line(&mut s, "LIST")), [521]);
    assert_eq!(codes(&line(&mut s, "PBSZ 0")), [200]);
    assert_eq!(codes(&line(&mut s, "PROT C")), [534]);
    assert_eq!(codes(&line(&mut s, "PROT P")), [200]);
    match &line(&mut s, "LIST")[..] {
        [Action::Transfer(req)] => assert!(req.protect),
        other => panic!("{other:?}"),
    }
    let a = s.on_transfer(
        TransferOutcome::DataTlsRefused("session reuse required".into()),
        None,
    );
    assert_eq!(codes(&a), [522]);
}

#[test]
fn ccc_only_when_allowed_and_logged_in() {
    let mut s = tls_session(available());
    assert_eq!(codes(&line(&mut s, "CCC")), [533]);
    auth_tls(&mut s);
    assert_eq!(codes(&line(&mut s, "CCC")), [534]);
    let mut s = tls_session(TlsPolicy {
        allow_ccc: true,
        ..available()
    });
    auth_tls(&mut s);
    assert_eq!(codes(&line(&mut s, "CCC")), [503]);
    line(&mut s, "USER alice");
    line(&mut s, "PASS secret");
    s.on_auth(Some(LoginGrant {
        user: "alice".into(),
        permissions: Permissions::default(),
        anonymous: false,
    }));
    let a = line(&mut s, "CCC");
    assert_eq!(codes(&a), [200]);
    assert_eq!(a.last(), Some(&Action::EndTls));
    assert!(!s.is_tls());
}

#[test]
fn rein_keeps_tls_but_resets_prot() {
    let mut s = tls_session(available());
    auth_tls(&mut s);
    line(&mut s, "PBSZ 0");
    line(&mut s, "PROT P");
    line(&mut s, "REIN");
    assert!(s.is_tls());
    assert_eq!(
        codes(&line(&mut s, "PROT P")),
        [503],
        "PBSZ again after REIN"
    );
}

#[test]
fn certificate_user_logs_in_with_232_without_password() {
    let mut s = tls_session(available());
    auth_tls(&mut s);
    s.set_certificate_user(Some("alice".into()));
    // Another name still needs its password.
    assert_eq!(codes(&line(&mut s, "USER bob")), [331]);
    let a = line(&mut s, "USER alice");
    assert_eq!(
        a,
        [Action::AuthenticateByCertificate {
            user: "alice".into()
        }]
    );
    let a = s.on_auth(Some(LoginGrant {
        user: "alice".into(),
        permissions: Permissions::default(),
        anonymous: false,
    }));
    assert_eq!(codes(&a), [232]);
    assert_eq!(s.user(), Some("alice"));
}

#[test]
fn explicit_rest_zero_overwrites_in_place() {
    let mut s = logged_in(false);
    line(&mut s, "EPSV");
    s.on_passive(Ok(4000));
    line(&mut s, "REST 0");
    match &line(&mut s, "STOR f")[..] {
        [Action::Transfer(req)] => assert!(matches!(
            req.kind,
            TransferKind::Stor {
                mode: StoreMode::At(0),
                ..
            }
        )),
        other => panic!("{other:?}"),
    }
}

fn vp(s: &str) -> VirtualPath {
    VirtualPath::root().join(s).unwrap()
}

/// The transfer a command starts, after PASV.
fn transfer_of(s: &mut Session, cmd: &str) -> Result<TransferKind, Vec<u16>> {
    line(s, "PASV");
    s.on_passive(Ok(0x1234));
    let a = line(s, cmd);
    match &a[..] {
        [Action::Transfer(req)] => {
            let kind = req.kind.clone();
            s.on_transfer(TransferOutcome::Complete { bytes: 0 }, None);
            Ok(kind)
        }
        other => Err(codes(other)),
    }
}

#[test]
fn per_directory_permissions_decide_each_command() {
    // Read-only everywhere, full rights in /pub, nothing but uploads in /incoming.
    let mut p = Permissions::uniform(PermSet::read_only());
    p.set_dir(vp("/pub"), PermSet::all());
    p.set_dir(vp("/incoming"), PermSet::of(&[Perm::Write]));
    let mut s = logged_in_with(p);

    // Root: read and list, nothing else.
    assert!(transfer_of(&mut s, "RETR /a.txt").is_ok());
    assert!(transfer_of(&mut s, "LIST /").is_ok());
    assert_eq!(transfer_of(&mut s, "STOR /a.txt"), Err(vec![550]));
    for cmd in [
        "DELE /a",
        "MKD /d",
        "RMD /pub",
        "RNFR /a",
        "SITE CHMOD 644 /a",
    ] {
        assert_eq!(codes(&line(&mut s, cmd)), [550], "{cmd}");
    }
    // /pub: everything (MKD inside /pub is governed by /pub's rule).
    assert!(matches!(
        line(&mut s, "MKD /pub/new")[..],
        [Action::Fs(FsOp::Mkd(_))]
    ));
    s.on_fs(Ok(None));
    assert!(matches!(
        transfer_of(&mut s, "STOR /pub/x"),
        Ok(TransferKind::Stor {
            mode: StoreMode::Replace,
            ..
        })
    ));
    // Rename out of /pub into the read-only root: refused at RNTO.
    assert!(matches!(
        line(&mut s, "RNFR /pub/x")[..],
        [Action::Fs(FsOp::Rnfr(_))]
    ));
    s.on_fs(Ok(Some(EntryInfo {
        kind: EntryKind::File,
        ..dir_meta()
    })));
    assert_eq!(codes(&line(&mut s, "RNTO /x")), [550]);
    // A directory with rules of its own cannot be renamed away, nor replaced by a rename,
    // even where renaming is allowed.
    let mut p = Permissions::uniform(PermSet::all());
    p.set_dir(vp("/a/ro"), PermSet::read_only());
    let mut t = logged_in_with(p);
    assert_eq!(codes(&line(&mut t, "RNFR /a/ro")), [550]);
    assert_eq!(codes(&line(&mut t, "RNFR /a")), [550], "holds a rule");
    assert!(matches!(
        line(&mut t, "RNFR /b")[..],
        [Action::Fs(FsOp::Rnfr(_))]
    ));
    t.on_fs(Ok(Some(EntryInfo {
        kind: EntryKind::Dir,
        ..dir_meta()
    })));
    assert_eq!(codes(&line(&mut t, "RNTO /a/ro")), [550]);

    // /incoming: upload only, never overwriting, no listing, no download, no SIZE.
    assert!(matches!(
        transfer_of(&mut s, "STOR /incoming/drop.bin"),
        Ok(TransferKind::Stor {
            mode: StoreMode::Create,
            ..
        })
    ));
    assert_eq!(
        transfer_of(&mut s, "APPE /incoming/drop.bin"),
        Err(vec![550])
    );
    line(&mut s, "PASV");
    s.on_passive(Ok(0x1234));
    assert_eq!(codes(&line(&mut s, "REST 10")), [350]);
    assert_eq!(codes(&line(&mut s, "STOR /incoming/drop.bin")), [550]);
    assert_eq!(
        transfer_of(&mut s, "RETR /incoming/drop.bin"),
        Err(vec![550])
    );
    assert_eq!(transfer_of(&mut s, "LIST /incoming"), Err(vec![550]));
    assert_eq!(transfer_of(&mut s, "NLST /incoming/*.bin"), Err(vec![550]));
    assert_eq!(codes(&line(&mut s, "SIZE /incoming/drop.bin")), [550]);
    assert_eq!(codes(&line(&mut s, "STAT /incoming")), [550]);
    // Changing into it is fine (clients cd before uploading).
    assert!(matches!(
        line(&mut s, "CWD /incoming")[..],
        [Action::Fs(FsOp::Cwd(_))]
    ));
}

#[test]
fn mlsx_perm_fact_follows_the_rules() {
    let mut p = Permissions::uniform(PermSet::read_only());
    p.set_dir(vp("/pub"), PermSet::all());
    let s = logged_in_with(p);
    assert_eq!(s.mlsx_perm_in(EntryKind::File, &vp("/")), "r");
    assert_eq!(s.mlsx_perm_in(EntryKind::Dir, &vp("/")), "el");
    assert_eq!(s.mlsx_perm_in(EntryKind::File, &vp("/pub")), "adfrw");
    assert_eq!(s.mlsx_perm_in(EntryKind::Dir, &vp("/pub")), "cdeflmp");
}

#[test]
fn rest_survives_the_data_setup_commands_but_not_others() {
    let mut s = logged_in(false);
    assert_eq!(codes(&line(&mut s, "REST 100")), [350]);
    line(&mut s, "TYPE I");
    line(&mut s, "PASV");
    s.on_passive(Ok(0x1234));
    match &line(&mut s, "RETR f")[..] {
        [Action::Transfer(req)] => {
            assert!(matches!(req.kind, TransferKind::Retr { offset: 100, .. }))
        }
        other => panic!("{other:?}"),
    }
    s.on_transfer(TransferOutcome::Complete { bytes: 0 }, None);
    assert_eq!(codes(&line(&mut s, "REST 5")), [350]);
    line(&mut s, "PWD");
    line(&mut s, "PASV");
    s.on_passive(Ok(0x1234));
    match &line(&mut s, "RETR f")[..] {
        [Action::Transfer(req)] => {
            assert!(matches!(req.kind, TransferKind::Retr { offset: 0, .. }))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mode_z_and_its_level_reach_the_transfer() {
    let mut s = logged_in(false);
    let retr = |s: &mut Session| {
        line(s, "EPSV");
        s.on_passive(Ok(4000));
        let req = match &line(s, "RETR f")[..] {
            [Action::Transfer(req)] => req.clone(),
            other => panic!("{other:?}"),
        };
        s.on_transfer(TransferOutcome::Complete { bytes: 1 }, None);
        req
    };
    let req = retr(&mut s);
    assert_eq!(
        (req.mode, req.zlib_level),
        (Mode::Stream, DEFAULT_ZLIB_LEVEL)
    );
    assert_eq!(codes(&line(&mut s, "MODE Z")), [200]);
    assert_eq!(codes(&line(&mut s, "OPTS MODE Z LEVEL 9")), [200]);
    assert_eq!(codes(&line(&mut s, "OPTS MODE Z LEVEL 10")), [501]);
    assert_eq!(codes(&line(&mut s, "OPTS MODE Z ENGINE zlib")), [501]);
    assert_eq!(codes(&line(&mut s, "OPTS MODE Z LEVEL")), [501]);
    assert_eq!(codes(&line(&mut s, "OPTS MODE B LEVEL 1")), [501]);
    let req = retr(&mut s);
    assert_eq!((req.mode, req.zlib_level), (Mode::Deflate, 9));
    // No option: back to the default level.
    assert_eq!(codes(&line(&mut s, "OPTS MODE Z")), [200]);
    assert_eq!(retr(&mut s).zlib_level, DEFAULT_ZLIB_LEVEL);
    match &line(&mut s, "STAT")[..] {
        [Action::Reply(r)] => assert!(r.text().contains("transfer MODE: Deflate"), "{r:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(codes(&line(&mut s, "MODE S")), [200]);
    assert_eq!(retr(&mut s).mode, Mode::Stream);
    // REIN goes back to MODE S and the default level.
    line(&mut s, "MODE Z");
    line(&mut s, "OPTS MODE Z LEVEL 1");
    line(&mut s, "REIN");
    assert_eq!((s.mode, s.zlib_level), (Mode::Stream, DEFAULT_ZLIB_LEVEL));
}

#[test]
fn feat_lists_mode_z() {
    let mut s = session();
    match &line(&mut s, "FEAT")[..] {
        [Action::Reply(r)] => assert!(r.lines.iter().any(|l| l.trim() == "MODE Z"), "{r:?}"),
        other => panic!("{other:?}"),
    }
}

// ---- HOST (RFC 7151) ----

fn grant(name: &str, anonymous_enabled: bool) -> HostGrant {
    HostGrant {
        name: name.into(),
        greeting: format!("Welcome to {name}."),
        anonymous_enabled,
    }
}

#[test]
fn host_before_login_selects_the_virtual_host() {
    let mut s = session();
    let a = line(&mut s, "HOST A.Example");
    assert_eq!(a, [Action::SelectHost(Some("a.example".into()))]);
    // Busy until the driver answers.
    assert_eq!(codes(&line(&mut s, "NOOP")), [503]);
    let a = s.on_host(Ok(grant("a.example", true)));
    match &a[..] {
        [Action::Reply(r)] => {
            assert_eq!(r.code.get(), 220);
            assert_eq!(r.text(), "Welcome to a.example.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.host(), Some("a.example"));
    // The host's anonymous setting applies (the default host has it off here).
    let a = line(&mut s, "USER anonymous");
    match &a[..] {
        [Action::Reply(r)] => assert!(r.text().contains("e-mail"), "{}", r.text()),
        other => panic!("{other:?}"),
    }
    // HOST again before PASS: the login starts over on the new host.
    assert_eq!(line(&mut s, "HOST b.example").len(), 1);
    assert_eq!(codes(&s.on_host(Ok(grant("b.example", false)))), [220]);
    assert_eq!(codes(&line(&mut s, "PASS x")), [503]);
    assert_eq!(s.host(), Some("b.example"));
}

#[test]
fn unknown_host_is_504_and_counts_as_bad() {
    let config = SessionConfig {
        max_bad_commands_before_login: 1,
        ..SessionConfig::default()
    };
    let mut s = Session::new(
        config,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    line(&mut s, "HOST nowhere.example");
    let a = s.on_host(Err("Unknown virtual host nowhere.example.".into()));
    assert_eq!(codes(&a), [504]);
    assert_eq!(s.host(), None);
    line(&mut s, "HOST nowhere.example");
    let a = s.on_host(Err("Unknown virtual host nowhere.example.".into()));
    assert_eq!(codes(&a), [504, 421]);
    assert!(a.contains(&Action::Close));
}

#[test]
fn host_after_login_is_503_and_bad_syntax_501() {
    let mut s = logged_in(false);
    assert_eq!(codes(&line(&mut s, "HOST a.example")), [503]);
    let mut s = session();
    assert_eq!(codes(&line(&mut s, "HOST a..example")), [501]);
    assert_eq!(codes(&line(&mut s, "HOST")), [501]);
}

#[test]
fn rein_returns_to_the_first_host_and_user_keeps_it() {
    let mut s = session();
    line(&mut s, "HOST a.example");
    s.on_host(Ok(grant("a.example", false)));
    // A new USER after login stays on the host.
    assert_eq!(codes(&line(&mut s, "USER alice")), [331]);
    line(&mut s, "PASS x");
    s.on_auth(Some(LoginGrant {
        user: "alice".into(),
        permissions: Permissions::uniform(PermSet::all()),
        anonymous: false,
    }));
    let a = line(&mut s, "USER bob");
    assert!(!a.iter().any(|a| matches!(a, Action::SelectHost(_))));
    assert_eq!(s.host(), Some("a.example"));
    // REIN forgets HOST.
    let a = line(&mut s, "REIN");
    assert!(a.contains(&Action::SelectHost(None)), "{a:?}");
    assert_eq!(codes(&a), [220]);
    assert_eq!(s.host(), None);
    // REIN on the default host has nothing to switch.
    let a = line(&mut s, "REIN");
    assert!(!a.iter().any(|a| matches!(a, Action::SelectHost(_))));

    // A host chosen by the TLS server name is where REIN returns.
    let mut s = session();
    s.set_initial_host(grant("sni.example", false));
    line(&mut s, "HOST other.example");
    s.on_host(Ok(grant("other.example", false)));
    let a = line(&mut s, "REIN");
    assert!(a.contains(&Action::SelectHost(None)), "{a:?}");
    assert_eq!(s.host(), Some("sni.example"));
}

#[test]
fn feat_and_help_list_host() {
    let mut s = session();
    for cmd in ["FEAT", "HELP"] {
        match &line(&mut s, cmd)[..] {
            [Action::Reply(r)] => assert!(r.text().contains("HOST"), "{cmd}: {}", r.text()),
            other => panic!("{other:?}"),
        }
    }
}
