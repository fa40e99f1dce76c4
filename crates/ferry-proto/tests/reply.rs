//! Tests of replies: codes and meanings, encoding, incremental parsing.

use ferry_proto::reply::{
    meaning_of, Reply, ReplyCategory, ReplyClass, ReplyCode, ReplyError, ReplyParser,
    MAX_REPLY_BYTES, MAX_REPLY_LINES,
};
use proptest::prelude::*;

fn rc(n: u16) -> ReplyCode {
    ReplyCode::new(n).expect("valid code")
}

/// Feeds CRLF-separated wire bytes line by line, collecting replies.
fn parse_wire(wire: &[u8]) -> Vec<Result<Reply, ReplyError>> {
    let mut parser = ReplyParser::new();
    let mut out = Vec::new();
    let text = wire.strip_suffix(b"\r\n").unwrap_or(wire);
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match parser.push_line(line) {
            Ok(Some(r)) => out.push(Ok(r)),
            Ok(None) => {}
            Err(e) => out.push(Err(e)),
        }
    }
    assert!(!parser.in_progress(), "reply left open");
    out
}

#[test]
fn code_range() {
    assert!(ReplyCode::new(99).is_none());
    assert!(ReplyCode::new(600).is_none());
    assert_eq!(rc(100).get(), 100);
    assert_eq!(rc(599).get(), 599);
    assert_eq!(rc(227).to_string(), "227");
}

#[test]
fn classes_and_categories() {
    assert_eq!(rc(150).class(), ReplyClass::PositivePreliminary);
    assert_eq!(rc(226).class(), ReplyClass::PositiveCompletion);
    assert_eq!(rc(331).class(), ReplyClass::PositiveIntermediate);
    assert_eq!(rc(421).class(), ReplyClass::TransientNegative);
    assert_eq!(rc(550).class(), ReplyClass::PermanentNegative);
    assert_eq!(rc(500).category(), ReplyCategory::Syntax);
    assert_eq!(rc(211).category(), ReplyCategory::Information);
    assert_eq!(rc(425).category(), ReplyCategory::Connections);
    assert_eq!(rc(530).category(), ReplyCategory::Authentication);
    assert_eq!(rc(542).category(), ReplyCategory::Unspecified);
    assert_eq!(rc(550).category(), ReplyCategory::FileSystem);
    for n in [160, 270, 380, 490, 599] {
        assert_eq!(rc(n).category(), ReplyCategory::Other);
    }
}

#[test]
fn meanings_of_named_codes() {
    let rfc959 = [
        110, 120, 125, 150, 200, 202, 211, 212, 213, 214, 215, 220, 221, 225, 226, 227, 230, 250,
        257, 331, 332, 350, 421, 425, 426, 450, 451, 452, 500, 501, 502, 503, 504, 530, 532, 550,
        551, 552, 553,
    ];
    let rfc2228 = [232, 234, 235, 334, 335, 336, 431, 533, 534, 535, 536, 537];
    let others = [229, 522, 554, 555];
    for n in rfc959.into_iter().chain(rfc2228).chain(others) {
        assert!(meaning_of(n).is_some(), "{n}");
        assert_eq!(rc(n).meaning(), meaning_of(n).unwrap());
    }
    for n in [631, 632, 633] {
        assert!(meaning_of(n).is_some(), "{n}");
    }
    assert_eq!(rc(227).meaning(), "Entering Passive Mode");
    assert_eq!(rc(229).meaning(), "Entering Extended Passive Mode");
    assert_eq!(rc(522).meaning(), "Network protocol not supported");
}

#[test]
fn fallback_meanings() {
    assert_eq!(meaning_of(299), None);
    assert_eq!(rc(299).meaning(), "Positive completion reply");
    assert_eq!(
        rc(559).meaning(),
        "Permanent negative completion reply (file system)"
    );
    assert_eq!(rc(109).meaning(), "Positive preliminary reply (syntax)");
    assert_eq!(
        rc(439).meaning(),
        "Transient negative completion reply (authentication and accounting)"
    );
    for n in 100..=599 {
        assert!(!rc(n).meaning().is_empty());
    }
}

#[test]
fn constructors() {
    let r = Reply::new(200, "OK");
    assert_eq!(r.code, rc(200));
    assert_eq!(r.lines, vec!["OK".to_string()]);
    assert_eq!(Reply::multi(211, vec![]).lines, vec![String::new()]);
    assert_eq!(
        Reply::multi(211, vec!["a".into(), "b".into()]).text(),
        "a\nb"
    );
    assert!(Reply::new(150, "x").is_preliminary());
    assert!(!Reply::new(226, "x").is_preliminary());
}

#[test]
#[should_panic]
fn constructor_panics_on_bad_code() {
    let _ = Reply::new(600, "x");
}

#[test]
fn encode_single_line() {
    assert_eq!(
        Reply::new(220, "Ferry ready").encode(),
        b"220 Ferry ready\r\n"
    );
    assert_eq!(Reply::new(200, "").encode(), b"200 \r\n");
    // CR/LF cannot break the framing.
    assert_eq!(
        Reply::new(550, "no\r\n226 forged").encode(),
        b"550 no  226 forged\r\n"
    );
}

#[test]
fn encode_multi_line_feat() {
    let r = Reply::multi(
        211,
        vec![
            "Features:".into(),
            "UTF8".into(),
            "EPSV".into(),
            "MLST type*;size*;".into(),
            "End".into(),
        ],
    );
    assert_eq!(
        r.encode(),
        b"211-Features:\r\n UTF8\r\n EPSV\r\n MLST type*;size*;\r\n211 End\r\n"
    );
    let mut buf = b"x".to_vec();
    Reply::multi(214, vec!["a".into(), "b".into()]).encode_into(&mut buf);
    assert_eq!(buf, b"x214-a\r\n214 b\r\n");
    // A middle line that looks like an end line is indented, and CR/LF replaced.
    assert_eq!(
        Reply::multi(
            211,
            vec!["s".into(), "211 x".into(), "a\nb".into(), "e".into()]
        )
        .encode(),
        b"211-s\r\n 211 x\r\n a b\r\n211 e\r\n"
    );
}

#[test]
fn parse_single_line() {
    let mut p = ReplyParser::new();
    assert_eq!(
        p.push_line(b"220 (vsFTPd 3.0.5)"),
        Ok(Some(Reply::new(220, "(vsFTPd 3.0.5)")))
    );
    assert_eq!(p.push_line(b"200"), Ok(Some(Reply::new(200, ""))));
    assert_eq!(p.push_line(b"200 "), Ok(Some(Reply::new(200, ""))));
    assert!(!p.in_progress());
}

#[test]
fn parse_multi_line_forms() {
    // vsftpd FEAT.
    let wire = b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n";
    let r = parse_wire(wire);
    assert_eq!(
        r,
        vec![Ok(Reply::multi(
            211,
            [
                "Features:",
                "EPRT",
                "EPSV",
                "MDTM",
                "PASV",
                "REST STREAM",
                "SIZE",
                "TVFS",
                "End"
            ]
            .map(String::from)
            .to_vec()
        ))]
    );
    // Every line with CODE- (RFC 959 allows it).
    let r = parse_wire(b"230-Welcome\r\n230-to Ferry\r\n230 Logged in\r\n");
    assert_eq!(
        r,
        vec![Ok(Reply::multi(
            230,
            vec!["Welcome".into(), "to Ferry".into(), "Logged in".into()]
        ))]
    );
    // Middle lines with other codes and without indentation are kept verbatim.
    let r = parse_wire(b"123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n123 The last line\r\n");
    assert_eq!(
        r,
        vec![Ok(Reply::multi(
            123,
            vec![
                "First line".into(),
                "Second line".into(),
                " 234 A line beginning with numbers".into(),
                "The last line".into()
            ]
        ))]
    );
    // The last line may be the bare code.
    let r = parse_wire(b"211-a\r\n211\r\n");
    assert_eq!(r, vec![Ok(Reply::multi(211, vec!["a".into(), "".into()]))]);
    // A different code followed by space is a middle line.
    let r = parse_wire(b"211-a\r\n226 b\r\n211 c\r\n");
    assert_eq!(
        r,
        vec![Ok(Reply::multi(
            211,
            vec!["a".into(), "226 b".into(), "c".into()]
        ))]
    );
}

#[test]
fn parse_several_replies_in_a_row() {
    let r = parse_wire(b"150 Opening\r\n226-Done\r\n stats\r\n226 Bye\r\n221 Goodbye\r\n");
    assert_eq!(
        r,
        vec![
            Ok(Reply::new(150, "Opening")),
            Ok(Reply::multi(
                226,
                vec!["Done".into(), "stats".into(), "Bye".into()]
            )),
            Ok(Reply::new(221, "Goodbye")),
        ]
    );
}

#[test]
fn parse_malformed_then_recovers() {
    let mut p = ReplyParser::new();
    for bad in [
        &b""[..],
        b"22",
        b"abc",
        b"099 x",
        b"600 x",
        b"2200 x",
        b"220x",
        b" 220 x",
        b"22a x",
    ] {
        assert!(
            matches!(p.push_line(bad), Err(ReplyError::Malformed(_))),
            "{bad:?}"
        );
        assert!(!p.in_progress());
    }
    assert_eq!(p.push_line(b"220 ok"), Ok(Some(Reply::new(220, "ok"))));
}

#[test]
fn parse_invalid_utf8_is_lossy() {
    let mut p = ReplyParser::new();
    let r = p.push_line(b"550 \xff.txt: no").unwrap().unwrap();
    assert_eq!(r.lines, vec!["\u{fffd}.txt: no".to_string()]);
}

#[test]
fn parse_bounded() {
    let mut p = ReplyParser::new();
    assert_eq!(p.push_line(b"211-start"), Ok(None));
    let mut result = Ok(None);
    for _ in 0..MAX_REPLY_LINES + 5 {
        result = p.push_line(b" line");
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ReplyError::TooLong));
    assert!(!p.in_progress());
    assert_eq!(p.push_line(b"200 ok"), Ok(Some(Reply::new(200, "ok"))));

    // Byte limit.
    let big = vec![b'x'; 20_000];
    assert_eq!(p.push_line(b"211-start"), Ok(None));
    let mut result = Ok(None);
    for _ in 0..10 {
        result = p.push_line(&big);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ReplyError::TooLong));
    let mut huge = b"211-".to_vec();
    huge.extend(vec![b'x'; MAX_REPLY_BYTES + 1]);
    assert_eq!(p.push_line(&huge), Err(ReplyError::TooLong));
    assert!(!p.in_progress());
}

// ---- property tests ----

fn reply() -> impl Strategy<Value = Reply> {
    (100u16..=599).prop_flat_map(|code| {
        let middle = "[^\r\n]{0,20}";
        (
            "[^\r\n]{0,20}",
            proptest::collection::vec(middle, 0..5),
            proptest::option::of("[^\r\n]{0,20}"),
        )
            .prop_map(move |(first, middle, last)| {
                let mut lines = vec![first];
                if let Some(last) = last {
                    lines.extend(middle);
                    lines.push(last);
                }
                Reply::multi(code, lines)
            })
    })
}

proptest! {
    #[test]
    fn encode_parse_round_trip(r in reply()) {
        let wire = r.encode();
        prop_assert_eq!(parse_wire(&wire), vec![Ok(r)]);
    }

    #[test]
    fn encode_ends_with_crlf_and_has_no_bare_lf(r in reply(), junk in "\\PC{0,10}[\r\n]\\PC{0,10}") {
        let mut r = r;
        r.lines.push(junk);
        let wire = r.encode();
        prop_assert!(wire.ends_with(b"\r\n"));
        prop_assert_eq!(
            wire.iter().filter(|&&b| b == b'\n').count(),
            r.lines.len()
        );
        // Exactly one line of the wire form ends the reply.
        let code = r.code.to_string();
        let enders = wire
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(code.as_bytes()) && l.get(3) == Some(&b' '))
            .count();
        prop_assert_eq!(enders, 1);
    }

    #[test]
    fn parser_never_panics(lines in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..40), 0..20)
    ) {
        let mut p = ReplyParser::new();
        for l in &lines {
            if let Ok(Some(r)) = p.push_line(l) {
                prop_assert!(!r.lines.is_empty());
            }
        }
    }

    #[test]
    fn parser_never_panics_on_reply_like_lines(lines in proptest::collection::vec(
        "[1-6][0-9]{2}[ -]?\\PC{0,10}|\\PC{0,10}", 0..20)
    ) {
        let mut p = ReplyParser::new();
        for l in &lines {
            let _ = p.push_line(l.as_bytes());
        }
    }
}
