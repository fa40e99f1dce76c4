//! Tests of the control-line decoder.

use ferry_proto::line::{LineDecoder, LineEvent, MAX_LINE};
use proptest::prelude::*;

/// Feeds `chunks` one after the other and collects every event.
fn decode_chunks(dec: &mut LineDecoder, chunks: &[&[u8]]) -> Vec<LineEvent> {
    let mut events = Vec::new();
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        // Each call either ends a line (consuming at least one byte) or consumes everything.
        for _ in 0..=chunk.len() {
            let (n, ev) = dec.decode(rest);
            assert!(n <= rest.len());
            rest = &rest[n..];
            match ev {
                Some(ev) => {
                    assert!(n > 0, "an event must consume input");
                    events.push(ev);
                }
                None => {
                    assert!(rest.is_empty(), "None must mean all input consumed");
                    break;
                }
            }
        }
        assert!(rest.is_empty());
    }
    events
}

fn decode_all(input: &[u8]) -> Vec<LineEvent> {
    decode_chunks(&mut LineDecoder::new(), &[input])
}

fn line(s: &[u8]) -> LineEvent {
    LineEvent::Line(s.to_vec())
}

#[test]
fn crlf_and_bare_lf() {
    assert_eq!(
        decode_all(b"USER anonymous\r\nPASS x\nNOOP\r\n"),
        vec![line(b"USER anonymous"), line(b"PASS x"), line(b"NOOP")]
    );
}

#[test]
fn consumed_stops_after_lf() {
    let mut dec = LineDecoder::new();
    let (n, ev) = dec.decode(b"TYPE I\r\nPWD\r\n");
    assert_eq!(n, 8);
    assert_eq!(ev, Some(line(b"TYPE I")));
    let (n, ev) = dec.decode(b"PWD\r\n");
    assert_eq!((n, ev), (5, Some(line(b"PWD"))));
    assert_eq!(dec.decode(b""), (0, None));
}

#[test]
fn partial_line_is_kept_across_calls() {
    let mut dec = LineDecoder::new();
    assert_eq!(dec.decode(b"RETR fi"), (7, None));
    assert_eq!(dec.pending(), 7);
    assert_eq!(dec.decode(b"le.txt\r"), (7, None));
    assert_eq!(dec.decode(b"\n"), (1, Some(line(b"RETR file.txt"))));
    assert_eq!(dec.pending(), 0);
}

#[test]
fn crlf_split_across_calls() {
    let mut dec = LineDecoder::new();
    let ev = decode_chunks(&mut dec, &[b"EPSV\r", b"\nPASV\r", b"\n"]);
    assert_eq!(ev, vec![line(b"EPSV"), line(b"PASV")]);
}

#[test]
fn lone_cr_kept_and_cr_nul_is_cr() {
    assert_eq!(decode_all(b"RETR a\rb\r\n"), vec![line(b"RETR a\rb")]);
    assert_eq!(decode_all(b"RETR a\r\0b\r\n"), vec![line(b"RETR a\rb")]);
    assert_eq!(decode_all(b"RETR a\r\r\n"), vec![line(b"RETR a\r")]);
    // A NUL not after CR is data (the command parser refuses it).
    assert_eq!(decode_all(b"RETR a\0b\r\n"), vec![line(b"RETR a\0b")]);
}

#[test]
fn ftplib_abor_with_telnet_ip_dm() {
    // IAC IP IAC DM ABOR CRLF, as Python ftplib and many clients send before ABOR.
    assert_eq!(decode_all(b"\xff\xf4\xff\xf2ABOR\r\n"), vec![line(b"ABOR")]);
}

#[test]
fn telnet_sequences() {
    // IAC IAC is a literal 0xFF.
    assert_eq!(decode_all(b"RETR \xff\xff\r\n"), vec![line(b"RETR \xff")]);
    // WILL/WONT/DO/DONT with an option byte.
    assert_eq!(
        decode_all(b"\xff\xfb\x01NO\xff\xfc\x03OP\xff\xfd\x18\xff\xfe\x1f\r\n"),
        vec![line(b"NOOP")]
    );
    // The option byte may be LF or IAC: it is never data.
    assert_eq!(decode_all(b"\xff\xfd\nNOOP\r\n"), vec![line(b"NOOP")]);
    assert_eq!(decode_all(b"\xff\xfd\xffNOOP\r\n"), vec![line(b"NOOP")]);
    // Subnegotiation, including an LF and an escaped IAC inside it.
    assert_eq!(
        decode_all(b"NO\xff\xfa\x18\x00xterm\n\xff\xff\xff\xf0OP\r\n"),
        vec![line(b"NOOP")]
    );
    // Two-byte commands: NOP, AYT, GA, EL, EC, SE without SB.
    assert_eq!(
        decode_all(b"\xff\xf1\xff\xf6\xff\xf9\xff\xf8\xff\xf7\xff\xf0PWD\r\n"),
        vec![line(b"PWD")]
    );
}

#[test]
fn telnet_split_across_calls() {
    let mut dec = LineDecoder::new();
    let ev = decode_chunks(
        &mut dec,
        &[
            b"\xff",
            b"\xf4\xff",
            b"\xf2AB",
            b"OR\r",
            b"\nRETR \xff",
            b"\xffx\xff",
            b"\xfb",
            b"\x01\r\n",
        ],
    );
    assert_eq!(ev, vec![line(b"ABOR"), line(b"RETR \xffx")]);
    // Subnegotiation split.
    let ev = decode_chunks(&mut dec, &[b"A\xff\xfa", b"abc\xff", b"\xf0B\n"]);
    assert_eq!(ev, vec![line(b"AB")]);
}

#[test]
fn cr_then_telnet_then_lf() {
    // The CR waits for the next data byte; Telnet commands in between do not count.
    assert_eq!(decode_all(b"NOOP\r\xff\xf1\n"), vec![line(b"NOOP")]);
}

#[test]
fn empty_lines() {
    assert_eq!(decode_all(b"\r\n\n"), vec![line(b""), line(b"")]);
}

#[test]
fn too_long_line_reported_once_then_recovers() {
    let mut dec = LineDecoder::with_max(8);
    let mut input = b"12345678".to_vec();
    assert_eq!(decode_chunks(&mut dec, &[&input]), vec![]);
    assert_eq!(dec.pending(), 8);
    input.clear();
    input.extend_from_slice(b"9abcdef\r\nPWD\r\n");
    let ev = decode_chunks(&mut dec, &[&input]);
    assert_eq!(ev, vec![LineEvent::TooLong { len: 15 }, line(b"PWD")]);
    assert_eq!(dec.pending(), 0);
}

#[test]
fn exactly_max_is_fine() {
    let mut dec = LineDecoder::with_max(4);
    assert_eq!(
        decode_chunks(&mut dec, &[b"NOOP\r\nNOOPS\r\n"]),
        vec![line(b"NOOP"), LineEvent::TooLong { len: 5 }]
    );
}

#[test]
fn long_flood_keeps_memory_bounded() {
    let mut dec = LineDecoder::new();
    let chunk = vec![b'A'; 4096];
    for _ in 0..64 {
        assert_eq!(dec.decode(&chunk), (chunk.len(), None));
        assert!(dec.pending() <= MAX_LINE);
    }
    let (_, ev) = dec.decode(b"\n");
    assert_eq!(ev, Some(LineEvent::TooLong { len: 64 * 4096 }));
    assert_eq!(dec.decode(b"QUIT\r\n").1, Some(line(b"QUIT")));
}

#[test]
fn zero_max() {
    let mut dec = LineDecoder::with_max(0);
    assert_eq!(
        decode_chunks(&mut dec, &[b"\r\nX\r\n"]),
        vec![line(b""), LineEvent::TooLong { len: 1 }]
    );
}

/// A straightforward whole-input reference for inputs without Telnet sequences.
fn reference_lines(input: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut parts = input.split(|&b| b == b'\n').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            break; // unterminated tail
        }
        let mut l = part.to_vec();
        if l.last() == Some(&b'\r') {
            l.pop();
        }
        // CR NUL -> CR
        let mut fixed = Vec::new();
        let mut i = 0;
        while i < l.len() {
            fixed.push(l[i]);
            if l[i] == b'\r' && l.get(i + 1) == Some(&0) {
                i += 1;
            }
            i += 1;
        }
        out.push(fixed);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn never_panics_and_stays_bounded(
        data in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in proptest::collection::vec(0usize..2048, 0..8),
        max in 0usize..64,
    ) {
        let mut dec = LineDecoder::with_max(max);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.sort_unstable();
        let mut start = 0;
        let mut chunks: Vec<&[u8]> = Vec::new();
        for c in cuts {
            chunks.push(&data[start..c]);
            start = c;
        }
        chunks.push(&data[start..]);
        for ev in decode_chunks(&mut dec, &chunks) {
            if let LineEvent::Line(l) = ev {
                prop_assert!(l.len() <= max);
            }
            prop_assert!(dec.pending() <= max);
        }
    }

    #[test]
    fn chunking_does_not_matter(
        data in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(0xffu8), Just(0xfa), Just(0xf0),
                        Just(0xfb), Just(0), any::<u8>()], 0..200),
        cut in 0usize..200,
    ) {
        let cut = cut.min(data.len());
        let whole = decode_chunks(&mut LineDecoder::with_max(100), &[&data]);
        let mut bytewise = LineDecoder::with_max(100);
        let singles: Vec<&[u8]> = data.chunks(1).collect();
        prop_assert_eq!(&decode_chunks(&mut bytewise, &singles), &whole);
        let mut two = LineDecoder::with_max(100);
        prop_assert_eq!(&decode_chunks(&mut two, &[&data[..cut], &data[cut..]]), &whole);
    }

    #[test]
    fn matches_reference_without_telnet(
        data in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), 1u8..0xff], 0..200),
    ) {
        let got: Vec<Vec<u8>> = decode_all(&data)
            .into_iter()
            .map(|e| match e {
                LineEvent::Line(l) => l,
                LineEvent::TooLong { .. } => unreachable!("short input"),
            })
            .collect();
        prop_assert_eq!(got, reference_lines(&data));
    }
}
