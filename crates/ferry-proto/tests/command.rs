//! Tests of command parsing and encoding.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use ferry_proto::command::{
    Command, EpsvArg, FormatControl, ListArgs, Mode, Opts, ParseError, Password, Site, Structure,
    TransferType,
};
use proptest::prelude::*;

fn p(line: &str) -> Result<Command, ParseError> {
    Command::parse(line.as_bytes())
}

fn code(line: &[u8]) -> u16 {
    match Command::parse(line) {
        Ok(c) => panic!("{:?} parsed as {c:?}", String::from_utf8_lossy(line)),
        Err(e) => e.reply_code(),
    }
}

fn list(flags: &str, path: Option<&str>) -> ListArgs {
    ListArgs {
        flags: flags.to_string(),
        path: path.map(str::to_string),
    }
}

#[test]
fn login_commands() {
    assert_eq!(p("USER anonymous"), Ok(Command::User("anonymous".into())));
    assert_eq!(p("user Bob"), Ok(Command::User("Bob".into())));
    assert_eq!(p("PASS secret"), Ok(Command::Pass(Password::new("secret"))));
    assert_eq!(p("PASS"), Ok(Command::Pass(Password::new(""))));
    assert_eq!(p("PASS "), Ok(Command::Pass(Password::new(""))));
    assert_eq!(
        p("PASS  two  spaces "),
        Ok(Command::Pass(Password::new(" two  spaces ")))
    );
    assert_eq!(p("ACCT acc"), Ok(Command::Acct("acc".into())));
    assert_eq!(code(b"USER"), 501);
    assert_eq!(code(b"USER "), 501);
    assert_eq!(code(b"ACCT"), 501);
}

#[test]
fn password_never_in_debug_or_display() {
    let c = p("PASS hunter2").unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
    let pw = Password::new("hunter2");
    assert!(!format!("{pw:?}").contains("hunter2"));
    assert!(!format!("{pw}").contains("hunter2"));
    assert_eq!(pw.expose(), "hunter2");
}

#[test]
fn verbs_are_case_insensitive() {
    assert_eq!(p("noop"), Ok(Command::Noop));
    assert_eq!(p("NoOp"), Ok(Command::Noop));
    assert_eq!(p("type i"), Ok(Command::Type(TransferType::Image)));
}

#[test]
fn no_argument_commands() {
    assert_eq!(p("QUIT"), Ok(Command::Quit));
    assert_eq!(p("REIN"), Ok(Command::Rein));
    assert_eq!(p("NOOP"), Ok(Command::Noop));
    assert_eq!(p("SYST"), Ok(Command::Syst));
    assert_eq!(p("FEAT"), Ok(Command::Feat));
    assert_eq!(p("PWD"), Ok(Command::Pwd));
    assert_eq!(p("XPWD"), Ok(Command::Pwd));
    assert_eq!(p("CDUP"), Ok(Command::Cdup));
    assert_eq!(p("XCUP"), Ok(Command::Cdup));
    assert_eq!(p("PASV"), Ok(Command::Pasv));
    assert_eq!(p("ABOR"), Ok(Command::Abor));
    assert_eq!(p("CCC"), Ok(Command::Ccc));
}

#[test]
fn sloppy_arguments_tolerated() {
    assert_eq!(p("PWD x"), Ok(Command::Pwd));
    assert_eq!(p("QUIT now"), Ok(Command::Quit));
    assert_eq!(p("NOOP \u{ff}"), Ok(Command::Noop));
    assert_eq!(Command::parse(b"NOOP \xff\0"), Ok(Command::Noop));
    assert_eq!(p("SYST please"), Ok(Command::Syst));
    assert_eq!(p("FEAT x"), Ok(Command::Feat));
    assert_eq!(p("CDUP .."), Ok(Command::Cdup));
    assert_eq!(p("PASV 1"), Ok(Command::Pasv));
    assert_eq!(p("ABOR x"), Ok(Command::Abor));
    assert_eq!(p("PWD "), Ok(Command::Pwd));
    assert_eq!(p("REIN "), Ok(Command::Rein));
    // Not tolerated.
    assert_eq!(code(b"REIN x"), 501);
    assert_eq!(code(b"CCC x"), 501);
}

#[test]
fn empty_and_unknown() {
    assert_eq!(p(""), Err(ParseError::Empty));
    assert_eq!(p("   "), Err(ParseError::Empty));
    assert_eq!(p("\t"), Err(ParseError::Empty));
    assert_eq!(code(b""), 500);
    assert_eq!(
        p("FOO bar"),
        Err(ParseError::Unknown { verb: "FOO".into() })
    );
    assert_eq!(p("foo"), Err(ParseError::Unknown { verb: "foo".into() }));
    assert_eq!(code(b"HELLOWORLD"), 500);
    assert_eq!(code(b"GET / HTTP/1.1"), 500);
    assert_eq!(code(b"RETR\tfile"), 500);
    assert_eq!(code(b"\xff\xfeABOR"), 500);
    assert_eq!(code(b"US\0ER x"), 500);
    assert_eq!(code(b"STOR1 x"), 500);
    // The verb in the error is truncated.
    let long = "A".repeat(100);
    match p(&long) {
        Err(ParseError::Unknown { verb }) => assert_eq!(verb.chars().count(), 16),
        other => panic!("{other:?}"),
    }
    // Leading spaces before the verb are skipped.
    assert_eq!(p(" NOOP"), Ok(Command::Noop));
}

#[test]
fn host_names_and_ip_literals() {
    // RFC 7151 §3.1: a domain name or an IP literal in brackets; names are case-insensitive.
    assert_eq!(
        p("HOST ftp.Example.COM"),
        Ok(Command::Host("ftp.example.com".into()))
    );
    assert_eq!(p("host a.example."), Ok(Command::Host("a.example".into())));
    assert_eq!(p("HOST localhost"), Ok(Command::Host("localhost".into())));
    assert_eq!(
        p("HOST [192.0.2.1]"),
        Ok(Command::Host("[192.0.2.1]".into()))
    );
    assert_eq!(
        p("HOST [2001:DB8::1]"),
        Ok(Command::Host("[2001:db8::1]".into()))
    );
    for bad in [
        "HOST",
        "HOST ",
        "HOST 192.0.2.1]",
        "HOST [192.0.2.1",
        "HOST [not-an-ip]",
        "HOST a..example",
        "HOST -a.example",
        "HOST a-.example",
        "HOST a_b.example",
        "HOST a.example/x",
        "HOST a example",
        "HOST .",
    ] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
    let long_label = format!("HOST {}.example", "a".repeat(64));
    assert_eq!(code(long_label.as_bytes()), 501);
    let long_name = format!("HOST {}", ["abcdefghij"; 26].join("."));
    assert_eq!(code(long_name.as_bytes()), 501);
    for name in ["a.example", "[192.0.2.1]", "[::1]"] {
        let cmd = Command::Host(name.into());
        assert_eq!(cmd.encode(), format!("HOST {name}"));
        assert_eq!(p(&cmd.encode()), Ok(cmd.clone()));
        assert!(cmd.allowed_before_login());
    }
}

#[test]
fn not_implemented_verbs() {
    for verb in [
        "LPRT x",
        "LPSV",
        "ADAT x",
        "MIC x",
        "CONF x",
        "ENC x",
        "MAIL",
        "MD5 x",
        "SPSV",
        "DSIZ",
        "XSHA x",
        "mmd5 file",
    ] {
        match p(verb) {
            Err(e @ ParseError::NotImplemented { .. }) => assert_eq!(e.reply_code(), 502),
            other => panic!("{verb}: {other:?}"),
        }
    }
}

#[test]
fn path_arguments_verbatim() {
    assert_eq!(p("CWD /pub"), Ok(Command::Cwd("/pub".into())));
    assert_eq!(p("XCWD pub"), Ok(Command::Cwd("pub".into())));
    assert_eq!(p("MKD new dir"), Ok(Command::Mkd("new dir".into())));
    assert_eq!(p("XMKD a"), Ok(Command::Mkd("a".into())));
    assert_eq!(p("RMD  lead"), Ok(Command::Rmd(" lead".into())));
    assert_eq!(p("XRMD a"), Ok(Command::Rmd("a".into())));
    assert_eq!(p("DELE trail "), Ok(Command::Dele("trail ".into())));
    assert_eq!(p("RNFR a"), Ok(Command::Rnfr("a".into())));
    assert_eq!(p("RNTO b"), Ok(Command::Rnto("b".into())));
    assert_eq!(p("SIZE file.bin"), Ok(Command::Size("file.bin".into())));
    assert_eq!(p("MDTM file.bin"), Ok(Command::Mdtm("file.bin".into())));
    assert_eq!(
        p("RETR naïve ü.txt"),
        Ok(Command::Retr("naïve ü.txt".into()))
    );
    assert_eq!(
        p("STOR C:\\Users\\me\\f.txt"),
        Ok(Command::Stor("C:\\Users\\me\\f.txt".into()))
    );
    assert_eq!(p("APPE log"), Ok(Command::Appe("log".into())));
    assert_eq!(p("RETR a\rb"), Ok(Command::Retr("a\rb".into())));
    for verb in [
        "CWD", "MKD", "RMD", "DELE", "RNFR", "RNTO", "SIZE", "MDTM", "RETR", "STOR", "APPE",
    ] {
        assert_eq!(code(verb.as_bytes()), 501, "{verb}");
        assert_eq!(code(format!("{verb} ").as_bytes()), 501, "{verb}");
    }
}

#[test]
fn nul_and_invalid_utf8_refused() {
    assert_eq!(code(b"RETR a\0b"), 501);
    assert_eq!(code(b"CWD \0"), 501);
    assert_eq!(code(b"RETR \xff\xfe"), 501);
    assert_eq!(code(b"USER \xc3"), 501);
    assert_eq!(code(b"LIST \xc3"), 501);
    assert_eq!(code(b"SITE CHMOD 644 \0"), 501);
    assert_eq!(code(b"STAT \0"), 501);
    assert!(matches!(
        Command::parse(b"STOR x\0"),
        Err(ParseError::BadArgument { verb, .. }) if verb == "STOR"
    ));
}

#[test]
fn type_variants() {
    use FormatControl::*;
    use TransferType::*;
    let ok = [
        ("TYPE I", Image),
        ("TYPE i", Image),
        ("TYPE A", Ascii(NonPrint)),
        ("TYPE a", Ascii(NonPrint)),
        ("TYPE A N", Ascii(NonPrint)),
        ("TYPE A T", Ascii(Telnet)),
        ("TYPE A C", Ascii(Asa)),
        ("TYPE a c", Ascii(Asa)),
        ("TYPE AN", Ascii(NonPrint)),
        ("TYPE E", Ebcdic(NonPrint)),
        ("TYPE E T", Ebcdic(Telnet)),
        ("TYPE L 8", Local(8)),
        ("TYPE L8", Local(8)),
        ("TYPE l 7", Local(7)),
        ("TYPE L 255", Local(255)),
        ("TYPE I ", Image),
    ];
    for (line, t) in ok {
        assert_eq!(p(line), Ok(Command::Type(t)), "{line}");
    }
    for line in [
        "TYPE",
        "TYPE ",
        "TYPE L",
        "TYPE L 0",
        "TYPE L 256",
        "TYPE L x",
        "TYPE L -1",
        "TYPE I x",
        "TYPE A NN",
        "TYPE 1",
        "TYPE ?",
        "TYPE ASCII",
        "TYPE L 8 8",
    ] {
        assert_eq!(code(line.as_bytes()), 501, "{line}");
    }
    for line in ["TYPE X", "TYPE B", "TYPE A X", "TYPE E Q"] {
        assert_eq!(code(line.as_bytes()), 504, "{line}");
    }
}

#[test]
fn stru_and_mode() {
    assert_eq!(p("STRU F"), Ok(Command::Stru(Structure::File)));
    assert_eq!(p("stru r"), Ok(Command::Stru(Structure::Record)));
    assert_eq!(p("STRU P"), Ok(Command::Stru(Structure::Page)));
    assert_eq!(p("MODE S"), Ok(Command::Mode(Mode::Stream)));
    assert_eq!(p("MODE B"), Ok(Command::Mode(Mode::Block)));
    assert_eq!(p("MODE C"), Ok(Command::Mode(Mode::Compressed)));
    assert_eq!(p("mode z"), Ok(Command::Mode(Mode::Deflate)));
    assert_eq!(code(b"STRU X"), 504);
    assert_eq!(code(b"MODE X"), 504);
    assert_eq!(code(b"MODE"), 501);
    assert_eq!(code(b"MODE SS"), 501);
    assert_eq!(code(b"STRU 1"), 501);
}

#[test]
fn port_and_eprt() {
    assert_eq!(
        p("PORT 127,0,0,1,4,1"),
        Ok(Command::Port(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1025)))
    );
    assert_eq!(
        p("EPRT |2|::1|5282|"),
        Ok(Command::Eprt("[::1]:5282".parse::<SocketAddr>().unwrap()))
    );
    assert_eq!(
        p("EPRT |1|127.0.0.1|40000|"),
        Ok(Command::Eprt(
            "127.0.0.1:40000".parse::<SocketAddr>().unwrap()
        ))
    );
    assert_eq!(code(b"PORT"), 501);
    assert_eq!(code(b"PORT 127,0,0,1,4"), 501);
    assert_eq!(code(b"PORT 127,0,0,1,4,256"), 501);
    assert_eq!(code(b"EPRT"), 501);
    assert_eq!(code(b"EPRT |1|::1|5282|"), 501);
    let e = p("EPRT |3|x|5282|").unwrap_err();
    assert_eq!(
        e,
        ParseError::UnsupportedFamily {
            verb: "EPRT".into(),
            family: 3
        }
    );
    assert_eq!(e.reply_code(), 522);
}

#[test]
fn epsv() {
    assert_eq!(p("EPSV"), Ok(Command::Epsv(EpsvArg::Any)));
    assert_eq!(p("EPSV "), Ok(Command::Epsv(EpsvArg::Any)));
    assert_eq!(p("EPSV ALL"), Ok(Command::Epsv(EpsvArg::All)));
    assert_eq!(p("epsv all"), Ok(Command::Epsv(EpsvArg::All)));
    assert_eq!(p("EPSV 1"), Ok(Command::Epsv(EpsvArg::Protocol(1))));
    assert_eq!(p("EPSV 2"), Ok(Command::Epsv(EpsvArg::Protocol(2))));
    assert_eq!(p("EPSV 7"), Ok(Command::Epsv(EpsvArg::Protocol(7))));
    assert_eq!(code(b"EPSV x"), 501);
    assert_eq!(code(b"EPSV 65536"), 501);
    assert_eq!(code(b"EPSV -1"), 501);
}

#[test]
fn list_and_nlst() {
    assert_eq!(p("LIST"), Ok(Command::List(list("", None))));
    assert_eq!(p("LIST "), Ok(Command::List(list("", None))));
    assert_eq!(p("LIST -la"), Ok(Command::List(list("la", None))));
    assert_eq!(p("LIST -la "), Ok(Command::List(list("la", None))));
    assert_eq!(
        p("LIST -al /pub"),
        Ok(Command::List(list("al", Some("/pub"))))
    );
    assert_eq!(
        p("LIST -l -a dir"),
        Ok(Command::List(list("la", Some("dir"))))
    );
    assert_eq!(p("LIST -R"), Ok(Command::List(list("R", None))));
    assert_eq!(
        p("LIST my file"),
        Ok(Command::List(list("", Some("my file"))))
    );
    assert_eq!(p("LIST  lead"), Ok(Command::List(list("", Some(" lead")))));
    assert_eq!(
        p("LIST -l  lead"),
        Ok(Command::List(list("l", Some(" lead"))))
    );
    assert_eq!(p("LIST -"), Ok(Command::List(list("", Some("-")))));
    assert_eq!(p("LIST -1"), Ok(Command::List(list("", Some("-1")))));
    assert_eq!(p("LIST -l -"), Ok(Command::List(list("l", Some("-")))));
    assert_eq!(
        p("LIST -l x -a"),
        Ok(Command::List(list("l", Some("x -a"))))
    );
    assert_eq!(p("NLST"), Ok(Command::Nlst(list("", None))));
    assert_eq!(p("NLST *.txt"), Ok(Command::Nlst(list("", Some("*.txt")))));
    assert_eq!(p("nlst -a"), Ok(Command::Nlst(list("a", None))));
}

#[test]
fn optional_arguments() {
    assert_eq!(p("MLSD"), Ok(Command::Mlsd(None)));
    assert_eq!(p("MLSD /pub"), Ok(Command::Mlsd(Some("/pub".into()))));
    assert_eq!(p("MLST"), Ok(Command::Mlst(None)));
    assert_eq!(p("MLST a b"), Ok(Command::Mlst(Some("a b".into()))));
    assert_eq!(p("HELP"), Ok(Command::Help(None)));
    assert_eq!(p("HELP SITE"), Ok(Command::Help(Some("SITE".into()))));
    assert_eq!(p("STAT"), Ok(Command::Stat(None)));
    assert_eq!(p("STAT /"), Ok(Command::Stat(Some("/".into()))));
    assert_eq!(p("STOU"), Ok(Command::Stou(None)));
    assert_eq!(p("STOU name"), Ok(Command::Stou(Some("name".into()))));
}

#[test]
fn rest_allo() {
    assert_eq!(p("REST 0"), Ok(Command::Rest(0)));
    assert_eq!(p("REST 18446744073709551615"), Ok(Command::Rest(u64::MAX)));
    assert_eq!(code(b"REST 18446744073709551616"), 501);
    assert_eq!(code(b"REST -1"), 501);
    assert_eq!(code(b"REST 1.5"), 501);
    assert_eq!(code(b"REST"), 501);
    assert_eq!(
        p("ALLO 1000"),
        Ok(Command::Allo {
            size: 1000,
            record: None
        })
    );
    assert_eq!(
        p("ALLO 1000 R 80"),
        Ok(Command::Allo {
            size: 1000,
            record: Some(80)
        })
    );
    assert_eq!(
        p("ALLO 1000 r 80"),
        Ok(Command::Allo {
            size: 1000,
            record: Some(80)
        })
    );
    for bad in [
        "ALLO",
        "ALLO x",
        "ALLO 10 R",
        "ALLO 10 X 5",
        "ALLO 10 R 5 6",
        "ALLO 10 R x",
    ] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
}

#[test]
fn mfmt() {
    assert_eq!(
        p("MFMT 20240102150405 file name.txt"),
        Ok(Command::Mfmt {
            mtime: 1_704_207_845,
            path: "file name.txt".into()
        })
    );
    assert_eq!(
        p("MFMT 19700101000000 a"),
        Ok(Command::Mfmt {
            mtime: 0,
            path: "a".into()
        })
    );
    for bad in [
        "MFMT",
        "MFMT 20240102150405",
        "MFMT 20240102150405 ",
        "MFMT 2024 x",
        "MFMT 20241302150405 x",
        "MFMT 20240230150405 x",
        "MFMT x y",
    ] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
}

#[test]
fn site() {
    assert_eq!(
        p("SITE CHMOD 755 script.sh"),
        Ok(Command::Site(Site::Chmod {
            mode: 0o755,
            path: "script.sh".into()
        }))
    );
    assert_eq!(
        p("site chmod 0644 a b"),
        Ok(Command::Site(Site::Chmod {
            mode: 0o644,
            path: "a b".into()
        }))
    );
    assert_eq!(
        p("SITE CHMOD 7777 x"),
        Ok(Command::Site(Site::Chmod {
            mode: 0o7777,
            path: "x".into()
        }))
    );
    for bad in [
        "SITE CHMOD",
        "SITE CHMOD 755",
        "SITE CHMOD 755 ",
        "SITE CHMOD 8 x",
        "SITE CHMOD 17777 x",
        "SITE CHMOD rwx x",
        "SITE",
        "SITE ",
    ] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
    assert_eq!(p("SITE HELP"), Ok(Command::Site(Site::Help(None))));
    assert_eq!(
        p("SITE help chmod"),
        Ok(Command::Site(Site::Help(Some("chmod".into()))))
    );
    assert_eq!(p("SITE idle 60"), Ok(Command::Site(Site::Idle(Some(60)))));
    assert_eq!(p("SITE UMASK"), Ok(Command::Site(Site::Umask(None))));
    assert_eq!(
        p("SITE WHO"),
        Ok(Command::Site(Site::Other {
            name: "WHO".into(),
            args: String::new()
        }))
    );
}

#[test]
fn opts() {
    assert_eq!(p("OPTS UTF8 ON"), Ok(Command::Opts(Opts::Utf8(true))));
    assert_eq!(p("opts utf8 on"), Ok(Command::Opts(Opts::Utf8(true))));
    assert_eq!(p("OPTS UTF-8 OFF"), Ok(Command::Opts(Opts::Utf8(false))));
    assert_eq!(code(b"OPTS UTF8"), 501);
    assert_eq!(code(b"OPTS UTF8 MAYBE"), 501);
    assert_eq!(code(b"OPTS"), 501);
    assert_eq!(
        p("OPTS MLST type;size;"),
        Ok(Command::Opts(Opts::Mlst(vec![
            "type".into(),
            "size".into()
        ])))
    );
    assert_eq!(
        p("OPTS MLST Type;Size;UNIX.mode"),
        Ok(Command::Opts(Opts::Mlst(vec![
            "type".into(),
            "size".into(),
            "unix.mode".into()
        ])))
    );
    assert_eq!(p("OPTS MLST"), Ok(Command::Opts(Opts::Mlst(vec![]))));
    assert_eq!(p("OPTS MLST "), Ok(Command::Opts(Opts::Mlst(vec![]))));
    assert_eq!(
        p("OPTS rest stream 9"),
        Ok(Command::Opts(Opts::Other {
            name: "REST".into(),
            args: "stream 9".into()
        }))
    );
}

#[test]
fn security_commands() {
    assert_eq!(p("AUTH TLS"), Ok(Command::Auth("TLS".into())));
    assert_eq!(p("auth tls"), Ok(Command::Auth("TLS".into())));
    assert_eq!(p("AUTH SSL"), Ok(Command::Auth("SSL".into())));
    assert_eq!(code(b"AUTH"), 501);
    assert_eq!(code(b"AUTH  "), 501);
    assert_eq!(p("PBSZ 0"), Ok(Command::Pbsz(0)));
    assert_eq!(code(b"PBSZ x"), 501);
    assert_eq!(p("PROT P"), Ok(Command::Prot('P')));
    assert_eq!(p("prot c"), Ok(Command::Prot('C')));
    assert_eq!(p("PROT S"), Ok(Command::Prot('S')));
    assert_eq!(p("PROT E"), Ok(Command::Prot('E')));
    assert_eq!(code(b"PROT X"), 501);
    assert_eq!(code(b"PROT"), 501);
    assert_eq!(code(b"PROT PP"), 501);
}

#[test]
fn verb_and_login_gate() {
    assert_eq!(p("XPWD").unwrap().verb(), "PWD");
    assert_eq!(p("XCWD a").unwrap().verb(), "CWD");
    assert_eq!(p("XCUP").unwrap().verb(), "CDUP");
    assert_eq!(p("xmkd a").unwrap().verb(), "MKD");
    assert_eq!(p("XRMD a").unwrap().verb(), "RMD");
    for ok in [
        "USER a",
        "PASS a",
        "ACCT a",
        "QUIT",
        "REIN",
        "NOOP",
        "SYST",
        "FEAT",
        "OPTS UTF8 ON",
        "HELP",
        "HELP x",
        "STAT",
        "AUTH TLS",
        "PBSZ 0",
        "PROT P",
        "CCC",
    ] {
        assert!(p(ok).unwrap().allowed_before_login(), "{ok}");
    }
    for no in [
        "STAT /",
        "PWD",
        "CWD a",
        "LIST",
        "RETR a",
        "PASV",
        "EPSV",
        "PORT 1,2,3,4,5,6",
        "TYPE I",
        "SITE HELP",
        "MLSD",
        "REST 0",
        "ABOR",
        "SIZE a",
    ] {
        assert!(!p(no).unwrap().allowed_before_login(), "{no}");
    }
}

#[test]
fn real_client_lines_through_the_line_decoder() {
    use ferry_proto::line::{LineDecoder, LineEvent};
    let wire: &[u8] = b"USER anonymous\r\nPASS ftp@example.com\r\nPWD\r\nEPSV\r\nTYPE I\r\n\
        SIZE file.bin\r\nLIST -la\r\n\xff\xf4\xff\xf2ABOR\r\nQUIT\r\n";
    let mut dec = LineDecoder::new();
    let mut rest = wire;
    let mut cmds = Vec::new();
    for _ in 0..100 {
        let (n, ev) = dec.decode(rest);
        rest = &rest[n..];
        match ev {
            Some(LineEvent::Line(l)) => cmds.push(Command::parse(&l).unwrap()),
            Some(LineEvent::TooLong { .. }) => panic!("too long"),
            None => break,
        }
    }
    assert_eq!(
        cmds,
        vec![
            Command::User("anonymous".into()),
            Command::Pass(Password::new("ftp@example.com")),
            Command::Pwd,
            Command::Epsv(EpsvArg::Any),
            Command::Type(TransferType::Image),
            Command::Size("file.bin".into()),
            Command::List(list("la", None)),
            Command::Abor,
            Command::Quit,
        ]
    );
}

#[test]
fn encode_examples() {
    let cases: Vec<(Command, &str)> = vec![
        (Command::Pwd, "PWD"),
        (Command::User("a b".into()), "USER a b"),
        (Command::Pass(Password::new("")), "PASS "),
        (Command::Type(TransferType::Image), "TYPE I"),
        (
            Command::Type(TransferType::Ascii(FormatControl::Telnet)),
            "TYPE A T",
        ),
        (Command::Type(TransferType::Local(8)), "TYPE L 8"),
        (
            Command::Port(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1025)),
            "PORT 127,0,0,1,4,1",
        ),
        (
            Command::Eprt("[::1]:5282".parse().unwrap()),
            "EPRT |2|::1|5282|",
        ),
        (Command::Epsv(EpsvArg::Any), "EPSV"),
        (Command::Epsv(EpsvArg::All), "EPSV ALL"),
        (Command::List(list("la", None)), "LIST -la"),
        (Command::List(list("la", Some("x"))), "LIST -la x"),
        (Command::Nlst(list("", None)), "NLST"),
        (
            Command::Site(Site::Chmod {
                mode: 0o755,
                path: "f".into(),
            }),
            "SITE CHMOD 755 f",
        ),
        (
            Command::Opts(Opts::Mlst(vec!["type".into(), "size".into()])),
            "OPTS MLST type;size;",
        ),
        (Command::Opts(Opts::Utf8(true)), "OPTS UTF8 ON"),
        (
            Command::Mfmt {
                mtime: 0,
                path: "a".into(),
            },
            "MFMT 19700101000000 a",
        ),
        (
            Command::Allo {
                size: 5,
                record: Some(2),
            },
            "ALLO 5 R 2",
        ),
        (Command::Prot('P'), "PROT P"),
        (Command::Retr("evil\r\nDELE x".into()), "RETR evil  DELE x"),
    ];
    for (cmd, wire) in cases {
        assert_eq!(cmd.encode(), wire);
    }
}

// ---- property tests ----

/// Text without NUL, CR or LF, possibly empty.
fn text() -> impl Strategy<Value = String> {
    "[^\0\r\n]{0,24}"
}

/// Non-empty text without NUL, CR or LF.
fn nonempty() -> impl Strategy<Value = String> {
    "[^\0\r\n]{1,24}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(nonempty())
}

fn format_control() -> impl Strategy<Value = FormatControl> {
    prop_oneof![
        Just(FormatControl::NonPrint),
        Just(FormatControl::Telnet),
        Just(FormatControl::Asa)
    ]
}

fn transfer_type() -> impl Strategy<Value = TransferType> {
    prop_oneof![
        format_control().prop_map(TransferType::Ascii),
        format_control().prop_map(TransferType::Ebcdic),
        Just(TransferType::Image),
        (1u8..=255).prop_map(TransferType::Local),
    ]
}

fn list_args() -> impl Strategy<Value = ListArgs> {
    (
        "[a-zA-Z]{0,4}",
        proptest::option::of("[^\0\r\n-][^\0\r\n]{0,20}"),
    )
        .prop_map(|(flags, path)| ListArgs { flags, path })
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1u16..).prop_map(|(a, p)| SocketAddr::from((a, p))),
        (any::<[u8; 16]>(), 1u16..).prop_map(|(a, p)| SocketAddr::from((a, p))),
    ]
}

/// Upper-case sub-command names that are not handled specially.
fn other_name(special: &'static [&'static str]) -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9-]{0,7}".prop_filter("special name", move |n| !special.contains(&n.as_str()))
}

/// Unix seconds from year 0 to 9999.
fn mtime() -> impl Strategy<Value = i64> {
    -62_167_219_200i64..=253_402_300_799
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        nonempty().prop_map(Command::User),
        text().prop_map(|s| Command::Pass(Password::new(s))),
        nonempty().prop_map(Command::Acct),
        Just(Command::Quit),
        Just(Command::Rein),
        Just(Command::Noop),
        Just(Command::Syst),
        Just(Command::Feat),
        any::<bool>().prop_map(|b| Command::Opts(Opts::Utf8(b))),
        proptest::collection::vec("[a-z][a-z.]{0,8}", 0..4)
            .prop_map(|f| Command::Opts(Opts::Mlst(f))),
        (other_name(&["UTF8", "UTF-8", "MLST", "HASH"]), text())
            .prop_map(|(name, args)| Command::Opts(Opts::Other { name, args })),
        opt_text().prop_map(Command::Help),
        opt_text().prop_map(Command::Stat),
        Just(Command::Pwd),
        nonempty().prop_map(Command::Cwd),
        Just(Command::Cdup),
        nonempty().prop_map(Command::Mkd),
        nonempty().prop_map(Command::Rmd),
        nonempty().prop_map(Command::Dele),
        nonempty().prop_map(Command::Rnfr),
        nonempty().prop_map(Command::Rnto),
        nonempty().prop_map(Command::Size),
        nonempty().prop_map(Command::Mdtm),
        (mtime(), nonempty()).prop_map(|(mtime, path)| Command::Mfmt { mtime, path }),
        transfer_type().prop_map(Command::Type),
        prop_oneof![
            Just(Structure::File),
            Just(Structure::Record),
            Just(Structure::Page)
        ]
        .prop_map(Command::Stru),
        prop_oneof![
            Just(Mode::Stream),
            Just(Mode::Block),
            Just(Mode::Compressed),
            Just(Mode::Deflate)
        ]
        .prop_map(Command::Mode),
        Just(Command::Pasv),
        prop_oneof![
            Just(EpsvArg::Any),
            Just(EpsvArg::All),
            any::<u16>().prop_map(EpsvArg::Protocol)
        ]
        .prop_map(Command::Epsv),
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(a, p)| Command::Port(SocketAddrV4::new(a.into(), p))),
        socket_addr().prop_map(Command::Eprt),
        list_args().prop_map(Command::List),
        list_args().prop_map(Command::Nlst),
        opt_text().prop_map(Command::Mlsd),
        opt_text().prop_map(Command::Mlst),
        nonempty().prop_map(Command::Retr),
        nonempty().prop_map(Command::Stor),
        opt_text().prop_map(Command::Stou),
        nonempty().prop_map(Command::Appe),
        any::<u64>().prop_map(Command::Rest),
        (any::<u64>(), proptest::option::of(any::<u64>()))
            .prop_map(|(size, record)| Command::Allo { size, record }),
        Just(Command::Abor),
        opt_text().prop_map(|t| Command::Site(Site::Help(t))),
        (0u32..=0o7777, nonempty())
            .prop_map(|(mode, path)| Command::Site(Site::Chmod { mode, path })),
        (
            other_name(&["HELP", "CHMOD", "UMASK", "IDLE", "UTIME"]),
            text()
        )
            .prop_map(|(name, args)| Command::Site(Site::Other { name, args })),
        "[A-Z0-9-]{1,8}".prop_map(Command::Auth),
        any::<u64>().prop_map(Command::Pbsz),
        prop_oneof![Just('C'), Just('S'), Just('E'), Just('P')].prop_map(Command::Prot),
        Just(Command::Ccc),
    ]
}

proptest! {
    #[test]
    fn parse_encode_round_trip(cmd in command()) {
        let wire = cmd.encode();
        prop_assert!(!wire.contains(['\r', '\n']));
        prop_assert_eq!(Command::parse(wire.as_bytes()), Ok(cmd.clone()));
        prop_assert!(wire.starts_with(cmd.verb()));
    }

    #[test]
    fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Command::parse(&line);
    }

    #[test]
    fn parse_never_panics_on_known_verbs(
        verb in prop_oneof![
            Just("TYPE"), Just("LIST"), Just("NLST"), Just("SITE"), Just("OPTS"), Just("ALLO"),
            Just("MFMT"), Just("EPRT"), Just("PORT"), Just("EPSV"), Just("PROT"), Just("REST"),
            Just("STRU"), Just("MODE"), Just("AUTH"), Just("PASS")],
        arg in "\\PC{0,30}",
    ) {
        let line = format!("{verb} {arg}");
        if let Err(e) = Command::parse(line.as_bytes()) {
            prop_assert!([500, 501, 502, 504, 522].contains(&e.reply_code()));
        }
    }

    #[test]
    fn path_commands_keep_argument_verbatim(arg in nonempty()) {
        prop_assert_eq!(Command::parse(format!("RETR {arg}").as_bytes()), Ok(Command::Retr(arg)));
    }

    #[test]
    fn nul_in_argument_always_refused(a in text(), b in text()) {
        for verb in ["RETR", "CWD", "USER", "PASS", "LIST", "SITE", "STAT"] {
            let line = format!("{verb} {a}\0{b}");
            prop_assert_eq!(code(line.as_bytes()), 501);
        }
    }
}

#[test]
fn opts_mode_z() {
    assert_eq!(
        p("OPTS MODE Z LEVEL 9"),
        Ok(Command::Opts(Opts::ModeZ { level: Some(9) }))
    );
    assert_eq!(
        p("opts mode z level 0"),
        Ok(Command::Opts(Opts::ModeZ { level: Some(0) }))
    );
    assert_eq!(
        p("OPTS MODE Z"),
        Ok(Command::Opts(Opts::ModeZ { level: None }))
    );
    for bad in [
        "OPTS MODE Z LEVEL 10",
        "OPTS MODE Z LEVEL -1",
        "OPTS MODE Z LEVEL x",
        "OPTS MODE Z LEVEL",
        "OPTS MODE Z ENGINE zlib",
        "OPTS MODE Z BLOCKSIZE 1024",
        "OPTS MODE Z LEVEL 1 LEVEL 2 LEVEL 3 LEVEL 4 LEVEL 5 LEVEL 6 LEVEL 7 LEVEL 8 LEVEL 9",
    ] {
        assert_eq!(code(bad.as_bytes()), 501, "{bad}");
    }
    // Other modes' options stay generic (the session answers 501).
    assert!(matches!(
        p("OPTS MODE B X"),
        Ok(Command::Opts(Opts::Other { .. }))
    ));
    let cmd = Command::Opts(Opts::ModeZ { level: Some(3) });
    assert_eq!(p(&cmd.encode()), Ok(cmd));
}
