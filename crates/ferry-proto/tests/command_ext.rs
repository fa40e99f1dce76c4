//! Parsing and encoding of the extension commands: HASH, RANG, OPTS HASH, the X-hashes,
//! MFF, MFCT, AVBL, CLNT, LANG, SMNT and SITE UMASK / IDLE / UTIME.

use ferry_proto::client::HashAlgorithm;
use ferry_proto::command::{MffFacts, Opts, ParseError, Site};
use ferry_proto::Command;
use proptest::prelude::*;

fn p(s: &str) -> Result<Command, ParseError> {
    Command::parse(s.as_bytes())
}

fn code(s: &str) -> u16 {
    match p(s) {
        Ok(c) => panic!("{s} parsed as {c:?}"),
        Err(e) => e.reply_code(),
    }
}

#[test]
fn hash_rang_and_opts_hash() {
    assert_eq!(p("HASH a file"), Ok(Command::Hash("a file".into())));
    assert_eq!(code("HASH"), 501);
    assert_eq!(p("RANG 0 49"), Ok(Command::Rang { start: 0, end: 49 }));
    assert_eq!(p("rang 1 0"), Ok(Command::Rang { start: 1, end: 0 }));
    for bad in ["RANG", "RANG 1", "RANG 1 2 3", "RANG a b", "RANG -1 2"] {
        assert_eq!(code(bad), 501, "{bad}");
    }
    assert_eq!(p("OPTS HASH"), Ok(Command::Opts(Opts::Hash(None))));
    assert_eq!(
        p("OPTS HASH sha-1"),
        Ok(Command::Opts(Opts::Hash(Some(HashAlgorithm::Sha1))))
    );
    assert_eq!(
        p("OPTS HASH CRC32"),
        Ok(Command::Opts(Opts::Hash(Some(HashAlgorithm::Crc32))))
    );
    assert_eq!(code("OPTS HASH WHIRLPOOL"), 504);
}

#[test]
fn x_hashes_with_optional_positions() {
    let x = |algorithm, path: &str, start, end| Command::XHash {
        algorithm,
        path: path.into(),
        start,
        end,
    };
    assert_eq!(p("XCRC f"), Ok(x(HashAlgorithm::Crc32, "f", None, None)));
    assert_eq!(
        p("xmd5 f 10"),
        Ok(x(HashAlgorithm::Md5, "f", Some(10), None))
    );
    assert_eq!(
        p("XSHA1 my file 10 20"),
        Ok(x(HashAlgorithm::Sha1, "my file", Some(10), Some(20)))
    );
    assert_eq!(
        p("XSHA256 \"my 10 20\""),
        Ok(x(HashAlgorithm::Sha256, "my 10 20", None, None))
    );
    assert_eq!(
        p("XSHA512 \"a b\" 1 2"),
        Ok(x(HashAlgorithm::Sha512, "a b", Some(1), Some(2)))
    );
    // A lone number is a file name.
    assert_eq!(
        p("XCRC 2024"),
        Ok(x(HashAlgorithm::Crc32, "2024", None, None))
    );
    for bad in ["XCRC", "XCRC f 9 3", "XMD5 \"open", "XSHA1 \"a\" x"] {
        assert_eq!(code(bad), 501, "{bad}");
    }
}

#[test]
fn mff_and_mfct() {
    assert_eq!(
        p("MFF modify=20200102030405;UNIX.mode=644; some file"),
        Ok(Command::Mff {
            facts: MffFacts {
                modify: Some(1_577_934_245),
                mode: Some(0o644)
            },
            path: "some file".into()
        })
    );
    assert_eq!(
        p("MFF unix.MODE=0755; f"),
        Ok(Command::Mff {
            facts: MffFacts {
                modify: None,
                mode: Some(0o755)
            },
            path: "f".into()
        })
    );
    assert_eq!(code("MFF create=20200102030405; f"), 504);
    assert_eq!(code("MFF UNIX.owner=root; f"), 504);
    for bad in [
        "MFF",
        "MFF modify=20200102030405;",
        "MFF modify; f",
        "MFF bogus=1; f",
        "MFF UNIX.mode=9; f",
        "MFF UNIX.mode=17777; f",
        "MFF ; f",
    ] {
        assert_eq!(code(bad), 501, "{bad}");
    }
    assert_eq!(
        p("MFCT 20200102030405 f"),
        Ok(Command::Mfct {
            ctime: 1_577_934_245,
            path: "f".into()
        })
    );
    assert_eq!(code("MFCT 2020 f"), 501);
    assert_eq!(code("MFCT 20200102030405"), 501);
}

#[test]
fn avbl_clnt_lang_smnt() {
    assert_eq!(p("AVBL"), Ok(Command::Avbl(None)));
    assert_eq!(p("AVBL /pub"), Ok(Command::Avbl(Some("/pub".into()))));
    assert_eq!(p("CLNT lftp 4.9.2"), Ok(Command::Clnt("lftp 4.9.2".into())));
    assert_eq!(code("CLNT"), 501);
    assert_eq!(p("LANG"), Ok(Command::Lang(None)));
    assert_eq!(p("LANG en"), Ok(Command::Lang(Some("en".into()))));
    assert_eq!(p("SMNT /mnt"), Ok(Command::Smnt(Some("/mnt".into()))));
    assert!(Command::Clnt("x".into()).allowed_before_login());
    assert!(Command::Lang(None).allowed_before_login());
    assert!(!Command::Hash("x".into()).allowed_before_login());
    assert!(!Command::Avbl(None).allowed_before_login());
}

#[test]
fn site_umask_idle_utime() {
    assert_eq!(
        p("SITE UMASK 022"),
        Ok(Command::Site(Site::Umask(Some(0o22))))
    );
    assert_eq!(p("site umask"), Ok(Command::Site(Site::Umask(None))));
    assert_eq!(p("SITE IDLE"), Ok(Command::Site(Site::Idle(None))));
    assert_eq!(p("SITE IDLE 120"), Ok(Command::Site(Site::Idle(Some(120)))));
    let utime = |path: &str| {
        Ok(Command::Site(Site::Utime {
            mtime: 1_577_934_245,
            path: path.into(),
        }))
    };
    assert_eq!(p("SITE UTIME a b 20200102030405"), utime("a b"));
    assert_eq!(p("SITE UTIME 20200102030405 a b"), utime("a b"));
    assert_eq!(
        p("SITE UTIME 202001020304 f"),
        Ok(Command::Site(Site::Utime {
            mtime: 1_577_934_240,
            path: "f".into()
        }))
    );
    assert_eq!(
        p("SITE UTIME 20190101000000 20200102030405 20190101000000 UTC a b"),
        utime("a b")
    );
    for bad in [
        "SITE UMASK 999",
        "SITE UMASK 1000",
        "SITE IDLE soon",
        "SITE UTIME",
        "SITE UTIME f",
        "SITE UTIME f 2020",
    ] {
        assert_eq!(code(bad), 501, "{bad}");
    }
}

fn path() -> impl Strategy<Value = String> {
    "[a-z0-9 ./]{0,12}[a-z]"
}

fn algorithm() -> impl Strategy<Value = HashAlgorithm> {
    prop_oneof![
        Just(HashAlgorithm::Sha256),
        Just(HashAlgorithm::Sha512),
        Just(HashAlgorithm::Sha1),
        Just(HashAlgorithm::Md5),
        Just(HashAlgorithm::Crc32),
    ]
}

/// Unix seconds from year 1970 to 9999.
fn time() -> impl Strategy<Value = i64> {
    0i64..=253_402_300_799
}

fn ext_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        path().prop_map(Command::Hash),
        (any::<u64>(), any::<u64>()).prop_map(|(start, end)| Command::Rang { start, end }),
        (
            algorithm(),
            path(),
            proptest::option::of(0u64..1000),
            0u64..1000
        )
            .prop_map(|(algorithm, path, start, extra)| Command::XHash {
                algorithm,
                path,
                start,
                end: start.map(|s| s + extra),
            }),
        (
            proptest::option::of(time()),
            proptest::option::of(0u32..=0o7777),
            path()
        )
            .prop_filter("a fact", |(m, u, _)| m.is_some() || u.is_some())
            .prop_map(|(modify, mode, path)| Command::Mff {
                facts: MffFacts { modify, mode },
                path
            }),
        (time(), path()).prop_map(|(ctime, path)| Command::Mfct { ctime, path }),
        proptest::option::of("[a-z/]{1,8}").prop_map(Command::Avbl),
        "[a-z][a-z0-9 .]{0,10}".prop_map(Command::Clnt),
        proptest::option::of("[a-z]{2}").prop_map(Command::Lang),
        proptest::option::of(algorithm()).prop_map(|a| Command::Opts(Opts::Hash(a))),
        proptest::option::of(0u32..=0o777).prop_map(|m| Command::Site(Site::Umask(m))),
        proptest::option::of(any::<u64>()).prop_map(|n| Command::Site(Site::Idle(n))),
        (time(), path()).prop_map(|(mtime, path)| Command::Site(Site::Utime { mtime, path })),
    ]
}

proptest! {
    #[test]
    fn ext_commands_round_trip(cmd in ext_command()) {
        let wire = cmd.encode();
        prop_assert_eq!(Command::parse(wire.as_bytes()), Ok(cmd.clone()), "{}", wire);
    }
}
