//! Every RFC 959 representation end to end against `ferry serve` (issue 7): a raw control
//! client sends and receives the wire bytes, built and parsed on the test side with
//! `ferry_proto::repr` (whose byte vectors are checked in its own unit tests), plus a few
//! hand-written wire vectors here.
//!
//! - Every TYPE (A, E with N/T/C; I; L 8) × STRU (F, R; P with I and L 8) × MODE (S, B, C,
//!   Z): STOR stores exactly the original file (the test's text is plain ASCII lines, which
//!   every text representation keeps as is), and RETR's wire decodes back to it.
//! - Refusals: STRU P with TYPE A, TYPE L 7; malformed and truncated MODE B uploads.
//! - Listings in MODE B are framed with an end of file.
//! - STRU P: the page layout kept beside the file is replayed on download.
//! - Block-mode restart: an upload cut after a marker was answered with `110 MARK`, then
//!   `REST <offset>` + STOR; a download cut after a marker, then `REST <marker>` + RETR;
//!   both end with the right sha256.

mod support;

use std::io::{Read, Write};
use std::net::Shutdown;

use ferry_proto::command::{FormatControl, Mode, Structure, TransferType};
use ferry_proto::repr::{FileEncoder, Representation, WireDecoder};
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use support::raw::{data_connect, read_all, Control};
use support::{sha256_bytes, sha256_file, Server};

const MAX_WIRE: usize = 64 * 1024 * 1024;

fn login(server: &Server) -> Control {
    Control::login(server.addr(), support::USER, support::PASS)
}

/// Plain ASCII lines: spaces runs (MODE C filler), repeated characters, an empty line.
fn text() -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..1500 {
        match i % 7 {
            0 => v.push(b'\n'),
            1 => v.extend_from_slice(format!("    indented {i}        spaces\n").as_bytes()),
            2 => v.extend_from_slice(format!("{i} xxxxxxxxxxxxxxxxxxxxxxxx repeated\n").as_bytes()),
            _ => v.extend_from_slice(format!("line {i}: the quick brown fox, 1+1=2.\n").as_bytes()),
        }
    }
    v
}

/// Bytes of every value, with runs of 0x00 and 0xFF (STRU R escapes, MODE C runs).
fn binary(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let b = (x >> 24) as u8;
        match b % 16 {
            0 => v.extend(std::iter::repeat_n(0u8, usize::from(b % 40))),
            1 => v.extend(std::iter::repeat_n(0xFFu8, usize::from(b % 9))),
            _ => v.push(b),
        }
    }
    v.truncate(len);
    v
}

fn encode(repr: Representation, data: &[u8]) -> Vec<u8> {
    let mut e = FileEncoder::new(repr);
    let mut out = Vec::new();
    for chunk in data.chunks(7000) {
        e.encode(chunk, &mut out);
    }
    e.finish(&mut out);
    if repr.mode() == Mode::Deflate {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::new(6));
        z.write_all(&out).expect("deflate");
        return z.finish().expect("deflate");
    }
    out
}

/// Decodes a whole RETR; `(file bytes, end-of-file mark seen)`.
fn decode(repr: Representation, wire: &[u8]) -> (Vec<u8>, bool) {
    let inflated;
    let wire = if repr.mode() == Mode::Deflate {
        let mut v = Vec::new();
        ZlibDecoder::new(wire)
            .read_to_end(&mut v)
            .expect("RETR is a zlib stream");
        inflated = v;
        &inflated[..]
    } else {
        wire
    };
    let mut d = WireDecoder::new(repr);
    let mut out = Vec::new();
    for chunk in wire.chunks(5000) {
        d.decode(chunk, &mut out)
            .unwrap_or_else(|e| panic!("{repr:?}: RETR wire does not decode: {e}"));
    }
    d.finish(&mut out)
        .unwrap_or_else(|e| panic!("{repr:?}: RETR wire incomplete: {e}"));
    (out, d.is_done())
}

fn type_arg(t: TransferType) -> String {
    let fc = |f: FormatControl| match f {
        FormatControl::NonPrint => "N",
        FormatControl::Telnet => "T",
        FormatControl::Asa => "C",
    };
    match t {
        TransferType::Ascii(f) => format!("A {}", fc(f)),
        TransferType::Ebcdic(f) => format!("E {}", fc(f)),
        TransferType::Image => "I".into(),
        TransferType::Local(n) => format!("L {n}"),
    }
}

fn stru_arg(s: Structure) -> &'static str {
    match s {
        Structure::File => "F",
        Structure::Record => "R",
        Structure::Page => "P",
    }
}

fn mode_arg(m: Mode) -> &'static str {
    match m {
        Mode::Stream => "S",
        Mode::Block => "B",
        Mode::Compressed => "C",
        Mode::Deflate => "Z",
    }
}

fn set_repr(c: &mut Control, repr: Representation) {
    c.expect(&format!("TYPE {}", type_arg(repr.transfer_type())), &[200]);
    c.expect(&format!("STRU {}", stru_arg(repr.structure())), &[200]);
    c.expect(&format!("MODE {}", mode_arg(repr.mode())), &[200]);
}

/// STOR `name` with `wire`, closing the data connection after it; the final reply code.
fn stor(c: &mut Control, name: &str, wire: &[u8]) -> u16 {
    let addr = c.epsv();
    c.send(&format!("STOR {name}"));
    let mut d = data_connect(addr);
    c.expect_reply("STOR opening", &[150]);
    // The server may stop reading at a bad block: later writes can fail.
    let _ = d.write_all(wire);
    let _ = d.shutdown(Shutdown::Write);
    let code = c.reply().code;
    drop(d);
    code
}

/// RETR `name`: the wire bytes and the final reply code.
fn retr(c: &mut Control, name: &str) -> (Vec<u8>, u16) {
    let addr = c.epsv();
    c.send(&format!("RETR {name}"));
    let d = data_connect(addr);
    c.expect_reply("RETR opening", &[150]);
    let wire = read_all(d, MAX_WIRE);
    (wire, c.reply().code)
}

fn every_representation() -> Vec<Representation> {
    let fcs = [
        FormatControl::NonPrint,
        FormatControl::Telnet,
        FormatControl::Asa,
    ];
    let mut types: Vec<TransferType> = Vec::new();
    for fc in fcs {
        types.push(TransferType::Ascii(fc));
        types.push(TransferType::Ebcdic(fc));
    }
    types.push(TransferType::Image);
    types.push(TransferType::Local(8));
    let mut all = Vec::new();
    for ty in types {
        for stru in [Structure::File, Structure::Record, Structure::Page] {
            for mode in [Mode::Stream, Mode::Block, Mode::Compressed, Mode::Deflate] {
                if let Ok(r) = Representation::new(ty, stru, mode) {
                    all.push(r);
                }
            }
        }
    }
    all
}

#[test]
fn every_representation_round_trips() {
    let server = Server::start();
    let mut c = login(&server);
    let text = text();
    let bin = binary(120_000);
    let all = every_representation();
    assert_eq!(all.len(), 6 * 2 * 4 + 2 * 3 * 4, "the matrix");
    for (i, repr) in all.into_iter().enumerate() {
        let original = match repr.transfer_type() {
            TransferType::Ascii(_) | TransferType::Ebcdic(_) => &text,
            _ => &bin,
        };
        let what = format!(
            "TYPE {} STRU {} MODE {}",
            type_arg(repr.transfer_type()),
            stru_arg(repr.structure()),
            mode_arg(repr.mode())
        );
        set_repr(&mut c, repr);
        let name = format!("f{i}");
        let wire = encode(repr, original);
        assert_eq!(stor(&mut c, &name, &wire), 226, "{what}: STOR");
        let stored = std::fs::read(server.root().join(&name)).expect("stored file");
        assert!(
            stored == *original,
            "{what}: stored file differs ({} bytes, expected {})",
            stored.len(),
            original.len()
        );
        let (wire, code) = retr(&mut c, &name);
        assert_eq!(code, 226, "{what}: RETR");
        let (back, eof) = decode(repr, &wire);
        assert!(back == *original, "{what}: RETR decodes to other bytes");
        if matches!(repr.mode(), Mode::Block | Mode::Compressed) {
            assert!(eof, "{what}: RETR without end-of-file mark");
        }
    }
    c.expect("MODE S", &[200]);
    c.expect("STRU F", &[200]);
    c.expect("TYPE I", &[200]);
    let (wire, code) = retr(&mut c, "f0");
    assert_eq!(
        (wire, code),
        (text.clone(), 226),
        "back to the plain representation"
    );
}

#[test]
fn wire_vectors_and_refusals() {
    let server = Server::start();
    let mut c = login(&server);
    // MODE B by hand: a data block, a marker, a data block with EOF.
    c.expect("TYPE I", &[200]);
    c.expect("MODE B", &[200]);
    let wire = [
        &[0x00, 0x00, 0x03][..],
        b"abc",
        &[0x10, 0x00, 0x02],
        b"m1",
        &[0x40, 0x00, 0x02],
        b"de",
    ]
    .concat();
    let addr = c.epsv();
    c.send("STOR hand");
    let mut d = data_connect(addr);
    c.expect_reply("opening", &[150]);
    d.write_all(&wire).expect("write");
    // The upload ends at the EOF flag, without waiting for the close.
    let r = c.expect_reply("marker", &[110]);
    assert!(r.text.contains("MARK m1 = 3"), "{r}");
    c.expect_reply("end at EOF", &[226]);
    drop(d);
    assert_eq!(
        std::fs::read(server.root().join("hand")).expect("file"),
        b"abcde"
    );
    // Its download: one data block with EOF.
    let (wire, code) = retr(&mut c, "hand");
    assert_eq!(
        (wire, code),
        ([&[0x40, 0x00, 0x05][..], b"abcde"].concat(), 226)
    );
    // A reserved descriptor bit: 451, a close before the EOF flag: 426.
    assert_eq!(stor(&mut c, "bad", &[0x01, 0x00, 0x01, b'x']), 451);
    assert_eq!(stor(&mut c, "cut", &[0x00, 0x00, 0x02, b'x', b'y']), 426);
    // A listing in MODE B is framed and ends with EOF.
    let addr = c.epsv();
    c.send("NLST");
    let d = data_connect(addr);
    c.expect_reply("opening", &[150]);
    let wire = read_all(d, MAX_WIRE);
    c.expect_reply("listing", &[226]);
    let repr = Representation::new(TransferType::Image, Structure::File, Mode::Block)
        .expect("a supported representation");
    let (list, eof) = decode(repr, &wire);
    assert!(
        eof && String::from_utf8_lossy(&list).contains("hand\r\n"),
        "{list:?}"
    );

    // TYPE E by hand: CP037 "AB", NL; file "AB\n". And back.
    c.expect("MODE S", &[200]);
    c.expect("TYPE E", &[200]);
    assert_eq!(stor(&mut c, "ebc", &[0xC1, 0xC2, 0x15]), 226);
    assert_eq!(
        std::fs::read(server.root().join("ebc")).expect("file"),
        b"AB\n"
    );
    assert_eq!(retr(&mut c, "ebc"), (vec![0xC1, 0xC2, 0x15], 226));
    // STRU R in stream mode: records end with 0xFF 0x01, the file with 0xFF 0x02.
    c.expect("TYPE A", &[200]);
    c.expect("STRU R", &[200]);
    assert_eq!(stor(&mut c, "rec", b"one\xff\x01two\xff\x01\xff\x02"), 226);
    assert_eq!(
        std::fs::read(server.root().join("rec")).expect("file"),
        b"one\ntwo\n"
    );
    let (wire, code) = retr(&mut c, "rec");
    assert_eq!(code, 226);
    assert!(wire.starts_with(b"one\xff\x01two\xff"), "{wire:?}");
    let repr = Representation::new(
        TransferType::Ascii(FormatControl::NonPrint),
        Structure::Record,
        Mode::Stream,
    )
    .expect("a supported representation");
    assert_eq!(decode(repr, &wire), (b"one\ntwo\n".to_vec(), true));

    // Refusals.
    c.expect("TYPE L 7", &[504]);
    c.expect("STRU P", &[200]);
    c.epsv();
    let r = c.expect("STOR page", &[504]);
    assert!(r.text.contains("TYPE I"), "{r}");
    c.expect("TYPE I", &[200]);
    let r = c.expect("STAT", &[211]);
    assert!(
        r.text.contains("STRUcture: Page; transfer MODE: Stream"),
        "{r}"
    );
}

/// STRU P keeps the page layout beside the file (hidden `.<name>.ferry-pages`): a download
/// replays the pages exactly as uploaded; rename and delete take the layout along; a plain
/// STOR drops it.
#[test]
fn page_layout_is_kept_beside_the_file() {
    use ferry_proto::repr::PageHeader;
    let server = Server::start();
    let mut c = login(&server);
    let page = |index, page_type, data_len, optional: &[u8], descriptor: &[u8]| PageHeader {
        index,
        page_type,
        data_len,
        optional: optional.to_vec(),
        descriptor: descriptor.to_vec(),
    };
    let layout = vec![
        page(9, 2, 4, &[], b"DESC"),
        page(10, 1, 100, &[], &[]),
        page(11, 1, 100, &[], &[]),
        page(12, 3, 50, &[7], &[]),
        page(13, 0, 0, &[], &[]),
    ];
    let data = binary(250);
    for mode in [Mode::Stream, Mode::Block] {
        let repr = Representation::new(TransferType::Image, Structure::Page, mode)
            .expect("a supported representation");
        let mut e = FileEncoder::with_page_layout(repr, layout.clone()).expect("layout");
        let mut wire = Vec::new();
        e.encode(&data, &mut wire);
        e.finish(&mut wire);
        set_repr(&mut c, repr);
        assert_eq!(stor(&mut c, "pg", &wire), 226, "{mode:?}");
        assert_eq!(std::fs::read(server.root().join("pg")).expect("file"), data);
        assert!(server.root().join(".pg.ferry-pages").is_file());
        let (back, code) = retr(&mut c, "pg");
        assert_eq!(code, 226);
        assert!(back == wire, "{mode:?}: the pages come back as sent");
    }
    // Hidden and reserved.
    c.expect("STRU F", &[200]);
    c.expect("MODE S", &[200]);
    let addr = c.epsv();
    c.send("NLST -a");
    let d = data_connect(addr);
    c.expect_reply("opening", &[150]);
    let names = String::from_utf8(read_all(d, MAX_WIRE)).expect("names");
    c.expect_reply("listing", &[226]);
    assert!(
        names.contains("pg") && !names.contains("ferry-pages"),
        "{names}"
    );
    c.epsv();
    c.expect("RETR .pg.ferry-pages", &[550]);
    // Rename takes the layout along, delete removes it.
    c.expect("RNFR pg", &[350]);
    c.expect("RNTO pg2", &[250]);
    assert!(server.root().join(".pg2.ferry-pages").is_file());
    assert!(!server.root().join(".pg.ferry-pages").exists());
    c.expect("STRU P", &[200]);
    let repr = Representation::new(TransferType::Image, Structure::Page, Mode::Stream)
        .expect("a supported representation");
    let (back, _) = retr(&mut c, "pg2");
    let mut d = WireDecoder::new(repr);
    let mut out = Vec::new();
    d.decode(&back, &mut out).expect("pages");
    d.finish(&mut out).expect("pages");
    assert_eq!((out, d.take_page_headers()), (data.clone(), layout));
    c.expect("DELE pg2", &[250]);
    assert!(!server.root().join(".pg2.ferry-pages").exists());
    // A STOR in STRU F over a file with a layout drops it.
    let wire = encode(repr, &data);
    assert_eq!(stor(&mut c, "pg3", &wire), 226);
    assert!(server.root().join(".pg3.ferry-pages").is_file());
    c.expect("STRU F", &[200]);
    assert_eq!(stor(&mut c, "pg3", b"plain"), 226);
    assert!(!server.root().join(".pg3.ferry-pages").exists());
}

/// An upload in MODE B cut after its first marker was answered, then restarted with
/// `REST <offset>` + STOR from there.
#[test]
fn block_mode_upload_restarts_from_a_marker() {
    upload_restarts(Mode::Block);
}

/// The same in MODE C, which has restart markers too.
#[test]
fn compressed_mode_upload_restarts_from_a_marker() {
    upload_restarts(Mode::Compressed);
}

fn upload_restarts(mode: Mode) {
    let server = Server::start();
    let mut c = login(&server);
    let data = binary(3 * 1024 * 1024 + 777);
    let repr = Representation::new(TransferType::Image, Structure::File, mode)
        .expect("a supported representation");
    c.expect("TYPE I", &[200]);
    c.expect(&format!("MODE {}", mode_arg(mode)), &[200]);
    let mark_at = 1024 * 1024;
    let mut e = FileEncoder::new(repr);
    let mut wire = Vec::new();
    e.encode(&data[..mark_at], &mut wire);
    e.marker(b"R1", &mut wire).expect("marker");
    e.encode(&data[mark_at..mark_at + 500_000], &mut wire);

    let addr = c.epsv();
    c.send("STOR big");
    let mut d = data_connect(addr);
    c.expect_reply("opening", &[150]);
    d.write_all(&wire).expect("first part");
    let r = c.expect_reply("marker answered", &[110]);
    assert!(r.text.contains(&format!("MARK R1 = {mark_at}")), "{r}");
    // The connection drops: no EOF block.
    d.shutdown(Shutdown::Both).expect("shutdown");
    drop(d);
    c.expect_reply("cut", &[426]);
    let partial = std::fs::metadata(server.root().join("big"))
        .expect("partial")
        .len();
    assert!(
        partial >= mark_at as u64,
        "the marker's data is stored ({partial})"
    );

    // Restart at the server's marker (the offset).
    c.expect(&format!("REST {mark_at}"), &[350]);
    let rest = encode(repr, &data[mark_at..]);
    assert_eq!(stor(&mut c, "big", &rest), 226);
    assert_eq!(sha256_file(&server.root().join("big")), sha256_bytes(&data));
}

/// A download in MODE B cut after its first marker, then resumed with `REST <marker>`.
#[test]
fn block_mode_download_restarts_from_a_marker() {
    download_restarts(TransferType::Image, Mode::Block);
}

/// The same in MODE C, and in TYPE E (the marker is still the stored file's offset).
#[test]
fn compressed_mode_download_restarts_from_a_marker() {
    download_restarts(TransferType::Image, Mode::Compressed);
    download_restarts(TransferType::Ebcdic(FormatControl::NonPrint), Mode::Block);
}

fn download_restarts(ty: TransferType, mode: Mode) {
    let server = Server::start();
    let mut c = login(&server);
    let data = binary(12 * 1024 * 1024 + 5);
    std::fs::write(server.root().join("big"), &data).expect("write");
    let repr = Representation::new(ty, Structure::File, mode).expect("a supported representation");
    c.expect(&format!("TYPE {}", type_arg(ty)), &[200]);
    c.expect(&format!("MODE {}", mode_arg(mode)), &[200]);

    let addr = c.epsv();
    c.send("RETR big");
    let mut d = data_connect(addr);
    c.expect_reply("opening", &[150]);
    let mut dec = WireDecoder::new(repr);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut mark = None;
    for _ in 0..10_000 {
        let n = d.read(&mut buf).expect("read");
        assert!(n > 0, "the download ended before a marker");
        dec.decode(&buf[..n], &mut got).expect("decode");
        if let Some(m) = dec.take_markers().into_iter().next() {
            mark = Some(m);
            break;
        }
    }
    let mark = mark.expect("a restart marker");
    let text = String::from_utf8(mark.marker.clone()).expect("ASCII marker");
    assert_eq!(
        text,
        mark.offset.to_string(),
        "the marker is the file offset"
    );
    assert_eq!(mark.offset, 1024 * 1024);
    let _ = d.shutdown(Shutdown::Both);
    drop(d);
    // Cut mid-way (or the rest was already in the socket buffers).
    c.expect_reply("cut", &[426, 226]);

    c.expect(&format!("REST {text}"), &[350]);
    let (wire, code) = retr(&mut c, "big");
    assert_eq!(code, 226);
    let (rest, eof) = decode(repr, &wire);
    assert!(eof);
    let mut whole = got[..usize::try_from(mark.offset).expect("offset")].to_vec();
    whole.extend_from_slice(&rest);
    assert_eq!(sha256_bytes(&whole), sha256_bytes(&data));
}
