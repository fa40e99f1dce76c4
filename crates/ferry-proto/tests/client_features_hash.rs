//! FEAT and HELP parsing and remote checksum replies, on replies captured from Ferry,
//! pyftpdlib, vsftpd, pure-ftpd and proftpd (tests/data/servers, see SOURCES.md there).

use std::collections::BTreeSet;
use std::path::PathBuf;

use ferry_proto::client::hash::{
    choose_hash, hash_command, opts_hash_command, parse_hash_reply, parse_x_hash_reply,
    x_hash_command, HashMethod,
};
use ferry_proto::client::{
    help_verbs, parse_mdtm_reply, parse_path_reply, parse_size_reply, Features, HashAlgorithm,
    HashOffer, HashReplyError, MlstFact, RemoteHash,
};
use ferry_proto::listing_parse::parse_mlst_reply;
use ferry_proto::reply::ReplyParser;
use ferry_proto::Reply;
use proptest::prelude::*;

fn data(path: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", "servers", path]
        .iter()
        .collect();
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The replies in `text` (CRLF lines), parsed with the real reply parser.
fn replies(text: &str) -> Vec<Reply> {
    let mut parser = ReplyParser::new();
    text.split("\r\n")
        .filter(|l| !l.is_empty())
        .filter_map(|l| push(&mut parser, l))
        .collect()
}

fn one_reply(file: &str) -> Reply {
    let r = replies(&data(file));
    assert_eq!(r.len(), 1, "{file}");
    match r.into_iter().next() {
        Some(r) => r,
        None => panic!("{file}: no reply"),
    }
}

fn push(parser: &mut ReplyParser, line: &str) -> Option<Reply> {
    match parser.push_line(line.as_bytes()) {
        Ok(r) => r,
        Err(e) => panic!("{line:?}: {e}"),
    }
}

/// `> COMMAND` lines each followed by one reply.
fn exchanges(server: &str) -> Vec<(String, Reply)> {
    let text = data(&format!("{server}-replies.txt"));
    let mut out = Vec::new();
    let mut parser = ReplyParser::new();
    let mut cmd = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if let Some(c) = line.strip_prefix("> ") {
            cmd = c.to_string();
        } else if let Some(r) = push(&mut parser, line) {
            out.push((cmd.clone(), r));
        }
    }
    out
}

fn reply_to(server: &str, cmd: &str) -> Reply {
    exchanges(server)
        .into_iter()
        .find(|(c, _)| c == cmd)
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("{server}: no {cmd}"))
}

fn feat(server: &str) -> Features {
    let f = Features::parse(&one_reply(&format!("{server}-feat.txt")));
    assert!(f.answered(), "{server}");
    f
}

fn facts(list: &[(&str, bool)]) -> Vec<MlstFact> {
    list.iter()
        .map(|&(name, enabled)| MlstFact {
            name: name.into(),
            enabled,
        })
        .collect()
}

// ---- FEAT -----------------------------------------------------------------------------

#[test]
fn feat_ferry() {
    let f = feat("ferry");
    for yes in [
        "EPRT", "epsv", "MDTM", "MFMT", "PASV", "SIZE", "TVFS", "UTF8",
    ] {
        assert!(f.has(yes), "{yes}");
    }
    assert!(f.epsv() && f.eprt() && f.mdtm() && f.mfmt() && f.size() && f.tvfs());
    assert!(f.supports_utf8() && f.rest_stream() && f.mlst());
    assert!(!f.auth_tls() && !f.pbsz() && !f.prot());
    assert!(f.hash_algorithms().is_empty() && f.x_hashes().is_empty());
    assert_eq!(
        f.mlst_facts().unwrap(),
        facts(&[
            ("type", true),
            ("size", true),
            ("modify", true),
            ("perm", true),
            ("unique", true),
            ("unix.mode", true)
        ])
    );
    let tls = feat("ferry-tls");
    assert!(tls.auth_tls() && tls.pbsz() && tls.prot());
    assert_eq!(tls.auth_mechanisms(), ["TLS"]);
}

#[test]
fn feat_pyftpdlib() {
    let f = feat("pyftpdlib");
    assert!(f.mfmt() && f.mdtm() && f.size() && f.epsv() && f.eprt() && f.rest_stream());
    assert!(f.supports_utf8() && !f.auth_tls());
    // PASV is not listed by pyftpdlib.
    assert!(!f.has("PASV"));
    assert_eq!(
        f.mlst_facts().unwrap(),
        facts(&[
            ("type", true),
            ("perm", true),
            ("size", true),
            ("modify", true),
            ("unique", true),
            ("unix.mode", false),
            ("unix.uid", false),
            ("unix.gid", false)
        ])
    );
}

#[test]
fn feat_vsftpd() {
    let f = feat("vsftpd");
    assert!(f.supports_utf8() && f.epsv() && f.eprt() && f.mdtm() && f.size());
    assert!(f.rest_stream() && f.tvfs());
    assert!(!f.mlst() && f.mlst_facts().is_none() && !f.mfmt() && !f.auth_tls());
    let tls = feat("vsftpd-tls");
    assert!(tls.auth_tls() && tls.pbsz() && tls.prot());
}

#[test]
fn feat_pure_ftpd() {
    let f = feat("pure-ftpd");
    assert!(f.auth_tls() && f.pbsz() && f.prot() && f.mfmt() && f.mlst() && f.rest_stream());
    let names: Vec<String> = f
        .mlst_facts()
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(
        names,
        [
            "type",
            "size",
            "sizd",
            "modify",
            "unix.mode",
            "unix.uid",
            "unix.gid",
            "unique"
        ]
    );
    assert_eq!(f.params("MLSD"), Some(""));
    assert!(f.has("ESTP") && f.has("PRET"));
}

#[test]
fn feat_proftpd_hashes() {
    let f = feat("proftpd");
    assert_eq!(
        f.hash_algorithms(),
        vec![
            HashOffer {
                algorithm: HashAlgorithm::Crc32,
                current: false
            },
            HashOffer {
                algorithm: HashAlgorithm::Md5,
                current: false
            },
            HashOffer {
                algorithm: HashAlgorithm::Sha1,
                current: true
            },
            HashOffer {
                algorithm: HashAlgorithm::Sha256,
                current: false
            },
            HashOffer {
                algorithm: HashAlgorithm::Sha512,
                current: false
            },
        ]
    );
    assert_eq!(f.current_hash(), Some(HashAlgorithm::Sha1));
    assert_eq!(
        f.x_hashes(),
        vec![
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha512,
            HashAlgorithm::Sha1,
            HashAlgorithm::Md5,
            HashAlgorithm::Crc32
        ]
    );
    assert!(f.rest_stream() && f.mfmt() && f.has("RANG") && f.has("lang"));
    assert_eq!(f.params("LANG"), Some("C.UTF-8*"));
}

#[test]
fn feat_edge_cases() {
    // FEAT not supported.
    let f = Features::parse(&Reply::new(500, "Unknown command."));
    assert!(!f.answered() && !f.has("SIZE"));
    // A single-line 211: no features.
    let f = Features::parse(&Reply::new(211, "No features"));
    assert!(f.answered() && f.iter().next().is_none());
    // vsftpd with SSLv3 enabled lists AUTH twice; mechanisms may be combined.
    let f = Features::from_lines([
        " AUTH SSL",
        " AUTH TLS",
        "REST  stream ",
        "\tHASH sha-256*;sha-1;WHIRLPOOL",
    ]);
    assert_eq!(f.auth_mechanisms(), ["SSL", "TLS"]);
    assert!(f.auth_tls() && f.rest_stream());
    assert_eq!(f.current_hash(), Some(HashAlgorithm::Sha256));
    assert_eq!(f.hash_algorithms().len(), 2);
    let f = Features::from_lines(["AUTH TLS-C;SSL"]);
    assert!(f.auth_tls());
    let f = Features::from_lines(["AUTH SSL", "REST"]);
    assert!(!f.auth_tls() && !f.rest_stream());
}

// ---- HELP -----------------------------------------------------------------------------

#[test]
fn help_verbs_of_every_server() {
    let vs = help_verbs(&one_reply("vsftpd-help.txt"));
    assert!(vs.contains("RETR") && vs.contains("SMNT") && vs.contains("XRMD"));
    assert!(!vs.contains("OK") && !vs.contains("Help"));
    assert_eq!(vs.len(), 44);

    let pro = help_verbs(&one_reply("proftpd-help.txt"));
    for v in [
        "HASH", "XCRC", "XMD5", "XSHA", "XSHA1", "XSHA256", "XSHA512", "MD5", "RANG",
    ] {
        assert!(pro.contains(v), "{v}");
    }
    // `*` marks unimplemented verbs.
    for v in ["SMNT", "AUTH", "PBSZ", "ACCT", "REIN"] {
        assert!(!pro.contains(v), "{v}");
    }
    let x: BTreeSet<HashAlgorithm> = pro
        .iter()
        .filter_map(|v| HashAlgorithm::from_x_verb(v))
        .collect();
    assert_eq!(x.len(), 5);

    let py = help_verbs(&one_reply("pyftpdlib-help.txt"));
    assert!(py.contains("MLSD") && py.contains("XPWD") && py.len() > 40);
    let ferry = help_verbs(&one_reply("ferry-help.txt"));
    assert!(ferry.contains("AUTH") && ferry.contains("CCC") && ferry.contains("MFMT"));
    // pure-ftpd's HELP lists SITE commands, which are verbs of a kind too.
    let pure = help_verbs(&one_reply("pure-ftpd-help.txt"));
    assert_eq!(
        pure.into_iter().collect::<Vec<_>>(),
        ["ALIAS", "CHMOD", "IDLE", "UTIME"]
    );
    assert!(help_verbs(&Reply::new(502, "HELP not implemented")).is_empty());
    assert_eq!(help_verbs(&Reply::new(214, "XSHA1 XMD5 ok")).len(), 2);
}

// ---- Checksums ------------------------------------------------------------------------

const HELLO_SHA256: &str = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";
const HELLO_SHA1: &str = "22596363b3de40b06f981fb85d82312e8c0ed511";
const HELLO_MD5: &str = "6f5902ac237024bdd0c176cb93063dc4";

#[test]
fn proftpd_hash_replies() {
    let ex = exchanges("proftpd");
    let hashes: Vec<(String, Reply)> = ex
        .into_iter()
        .filter(|(c, _)| c.starts_with("HASH "))
        .collect();
    let want = [
        (HashAlgorithm::Sha1, HELLO_SHA1, "hello.txt"),
        (HashAlgorithm::Sha256, HELLO_SHA256, "hello.txt"),
        (
            HashAlgorithm::Sha512,
            "ed241404d017ad2feae6616623e7221eef6be0061466a6a068ecd202bda1975dd4bd410c1d66cd5fa683fa3d63226a1c1d5bca7292c0a5f34208850a42ab56e8",
            "big.bin",
        ),
        (HashAlgorithm::Md5, HELLO_MD5, "hello.txt"),
        (HashAlgorithm::Crc32, "af083b2d", "hello.txt"),
    ];
    assert_eq!(hashes.len(), want.len());
    for ((_, reply), (alg, hex, path)) in hashes.iter().zip(want) {
        let h = parse_hash_reply(reply).unwrap();
        assert_eq!(
            h.hash,
            RemoteHash {
                algorithm: alg,
                hex: hex.into()
            }
        );
        assert_eq!(h.path.as_deref(), Some(path));
        let len = if path == "big.bin" { 100_000 } else { 12 };
        assert_eq!(h.range, Some((0, len)));
    }
}

#[test]
fn proftpd_x_hash_replies() {
    let cases = [
        ("XSHA256 hello.txt", HashAlgorithm::Sha256, HELLO_SHA256),
        ("XSHA1 hello.txt", HashAlgorithm::Sha1, HELLO_SHA1),
        ("XSHA hello.txt", HashAlgorithm::Sha1, HELLO_SHA1),
        ("XMD5 hello.txt", HashAlgorithm::Md5, HELLO_MD5),
        ("XCRC hello.txt", HashAlgorithm::Crc32, "af083b2d"),
        ("XCRC big.bin", HashAlgorithm::Crc32, "d411957d"),
        ("MD5 hello.txt", HashAlgorithm::Md5, HELLO_MD5),
    ];
    for (cmd, alg, hex) in cases {
        let reply = reply_to("proftpd", cmd);
        let h = parse_x_hash_reply(alg, &reply).unwrap_or_else(|e| panic!("{cmd}: {e}"));
        assert_eq!(h.hex, hex, "{cmd}");
    }
    let sha512 = parse_x_hash_reply(
        HashAlgorithm::Sha512,
        &reply_to("proftpd", "XSHA512 hello.txt"),
    )
    .unwrap();
    assert_eq!(sha512.hex.len(), 128);
    assert!(sha512.hex.bytes().all(|b| !b.is_ascii_uppercase()));
}

#[test]
fn refused_hashes_of_other_servers() {
    for server in ["ferry", "pyftpdlib", "vsftpd", "pure-ftpd"] {
        for (cmd, reply) in exchanges(server) {
            if cmd.starts_with("HASH ") {
                assert!(
                    matches!(
                        parse_hash_reply(&reply),
                        Err(HashReplyError::Refused { .. })
                    ),
                    "{server} {cmd}"
                );
            }
            if let Some(alg) = cmd.split(' ').next().and_then(HashAlgorithm::from_x_verb) {
                assert!(parse_x_hash_reply(alg, &reply).is_err(), "{server} {cmd}");
            }
        }
    }
}

#[test]
fn hash_reply_variants() {
    // No range, file name with spaces.
    let h = parse_hash_reply(&Reply::new(
        213,
        format!("SHA-256 {} my file.txt", HELLO_SHA256.to_uppercase()),
    ))
    .unwrap();
    assert_eq!((h.range, h.path.as_deref()), (None, Some("my file.txt")));
    assert_eq!(h.hash.hex, HELLO_SHA256);
    // Range and no file name.
    let h = parse_hash_reply(&Reply::new(213, format!("SHA-1 0-49 {HELLO_SHA1}"))).unwrap();
    assert_eq!((h.range, h.path), (Some((0, 49)), None));
    assert!(matches!(
        parse_hash_reply(&Reply::new(213, "WHIRLPOOL 0-1 abcd f")),
        Err(HashReplyError::UnknownAlgorithm(_))
    ));
    assert!(matches!(
        parse_hash_reply(&Reply::new(213, "SHA-1 0-12 abcd f")),
        Err(HashReplyError::Malformed { .. })
    ));
    assert!(matches!(
        parse_hash_reply(&Reply::new(550, "No such file")),
        Err(HashReplyError::Refused { .. })
    ));
    assert!(parse_hash_reply(&Reply::new(213, "")).is_err());
}

#[test]
fn x_hash_reply_variants() {
    let md5 = |text: &str| parse_x_hash_reply(HashAlgorithm::Md5, &Reply::new(213, text));
    assert_eq!(md5(HELLO_MD5).unwrap().hex, HELLO_MD5);
    assert_eq!(
        md5(&format!("\"hello.txt\" {HELLO_MD5}")).unwrap().hex,
        HELLO_MD5
    );
    assert_eq!(
        md5(&format!("{HELLO_MD5} hello.txt")).unwrap().hex,
        HELLO_MD5
    );
    assert_eq!(
        md5(&format!("0x{}", HELLO_MD5.to_uppercase())).unwrap().hex,
        HELLO_MD5
    );
    assert!(md5("deadbeef").is_err());
    let crc = |text: &str| parse_x_hash_reply(HashAlgorithm::Crc32, &Reply::new(250, text));
    assert_eq!(crc("AF083B2D").unwrap().hex, "af083b2d");
    // Leading zeros dropped by the server.
    assert_eq!(crc("7b").unwrap().hex, "0000007b");
    // An exact-length word beats a short one on the same line.
    assert_eq!(crc("a 0000abcd").unwrap().hex, "0000abcd");
    assert!(crc("no digest here").is_err());
}

#[test]
fn hash_commands() {
    assert_eq!(hash_command("a b.txt"), "HASH a b.txt");
    assert_eq!(hash_command("x\r\nDELE y"), "HASH x  DELE y");
    assert_eq!(
        opts_hash_command(HashAlgorithm::Sha256),
        "OPTS HASH SHA-256"
    );
    assert_eq!(x_hash_command(HashAlgorithm::Crc32, "f"), "XCRC f");
    for alg in HashAlgorithm::ALL {
        assert_eq!(HashAlgorithm::from_hash_name(alg.hash_name()), Some(alg));
        assert_eq!(HashAlgorithm::from_x_verb(alg.x_verb()), Some(alg));
        assert_eq!(alg.to_string(), alg.hash_name());
    }
    assert_eq!(
        HashAlgorithm::from_hash_name("sha256"),
        Some(HashAlgorithm::Sha256)
    );
    assert_eq!(
        HashAlgorithm::from_hash_name("crc-32"),
        Some(HashAlgorithm::Crc32)
    );
    assert_eq!(HashAlgorithm::from_hash_name("sha3"), None);
}

#[test]
fn choosing_a_hash() {
    let local = [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha1,
        HashAlgorithm::Md5,
    ];
    let pro = feat("proftpd");
    assert_eq!(
        choose_hash(&pro, None, &local),
        Some(HashMethod::Hash(HashAlgorithm::Sha256))
    );
    // Only MD5 locally: HASH MD5 still beats XMD5.
    assert_eq!(
        choose_hash(&pro, None, &[HashAlgorithm::Md5]),
        Some(HashMethod::Hash(HashAlgorithm::Md5))
    );
    // X-commands only known from HELP.
    let plain = Features::from_lines(["SIZE"]);
    let verbs: BTreeSet<String> = ["XMD5", "XSHA1"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        choose_hash(&plain, Some(&verbs), &local),
        Some(HashMethod::X(HashAlgorithm::Sha1))
    );
    assert_eq!(choose_hash(&plain, None, &local), None);
    assert_eq!(choose_hash(&feat("vsftpd"), None, &local), None);
    assert_eq!(
        HashMethod::X(HashAlgorithm::Md5).algorithm(),
        HashAlgorithm::Md5
    );
}

// ---- Single-value replies -------------------------------------------------------------

#[test]
fn size_mdtm_pwd_mlst_of_every_server() {
    for server in ["ferry", "pyftpdlib", "vsftpd", "pure-ftpd", "proftpd"] {
        assert_eq!(
            parse_path_reply(&reply_to(server, "PWD")).unwrap(),
            "/",
            "{server}"
        );
        assert_eq!(
            parse_mdtm_reply(&reply_to(server, "MDTM hello.txt")).unwrap(),
            1_792_059_630,
            "{server}"
        );
        assert_eq!(
            parse_mdtm_reply(&reply_to(server, "MDTM old.txt")).unwrap(),
            1_546_300_800
        );
        let size = parse_size_reply(&reply_to(server, "SIZE hello.txt"));
        match server {
            // SIZE refused in ASCII mode.
            "pyftpdlib" | "proftpd" => assert!(size.is_err(), "{server}"),
            _ => assert_eq!(size.unwrap(), 12, "{server}"),
        }
        let mlst = parse_mlst_reply(&reply_to(server, "MLST hello.txt"));
        if server == "vsftpd" {
            assert!(mlst.is_err());
        } else {
            let m = mlst.unwrap_or_else(|e| panic!("{server}: {e}"));
            assert!(m.entry.name.ends_with("hello.txt"), "{server}");
            assert_eq!(m.entry.size, Some(12), "{server}");
            assert_eq!(m.entry.mtime, Some(1_792_059_630), "{server}");
        }
    }
}

#[test]
fn path_reply_variants() {
    let p = |text: &str| parse_path_reply(&Reply::new(257, text));
    assert_eq!(
        p(r#""/a ""quoted"" dir" is current"#).unwrap(),
        r#"/a "quoted" dir"#
    );
    assert_eq!(p(r#""/" created"#).unwrap(), "/");
    assert_eq!(p("/plain is cwd").unwrap(), "/plain");
    assert!(p(r#""/unterminated"#).is_err());
    assert!(p("").is_err());
    assert!(parse_path_reply(&Reply::new(550, "nope")).is_err());
    assert!(parse_size_reply(&Reply::new(213, "12a")).is_err());
    assert!(parse_size_reply(&Reply::new(213, "99999999999999999999999")).is_err());
    assert!(parse_mdtm_reply(&Reply::new(213, "20241302000000")).is_err());
    assert_eq!(
        parse_mdtm_reply(&Reply::new(213, "20240102150405.123")).unwrap(),
        1_704_207_845
    );
}

proptest! {
    #[test]
    fn reply_parsers_never_panic(code in 100u16..600, lines in proptest::collection::vec("\\PC{0,80}", 1..6)) {
        let reply = Reply::multi(code, lines);
        let f = Features::parse(&reply);
        let _ = (f.mlst_facts(), f.hash_algorithms(), f.x_hashes(), f.auth_tls(), f.rest_stream());
        let _ = help_verbs(&reply);
        let _ = parse_hash_reply(&reply);
        for alg in HashAlgorithm::ALL {
            let _ = parse_x_hash_reply(alg, &reply);
        }
        let _ = (parse_size_reply(&reply), parse_mdtm_reply(&reply), parse_path_reply(&reply));
        let _ = parse_mlst_reply(&reply);
    }
}
