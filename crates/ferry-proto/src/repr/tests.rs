//! Whole-pipeline vectors and round trips over every TYPE × STRU × MODE combination.

use super::*;
use proptest::prelude::*;

/// A frame as seen by a [`FrameSink`] (consecutive data merged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ev {
    Data(Vec<u8>),
    Eor,
    Marker(Vec<u8>),
    Eof,
}

/// A [`FrameSink`] that records what it is given.
#[derive(Debug, Default)]
pub(crate) struct Collect(Vec<Ev>);

impl Collect {
    pub(crate) fn events(self) -> Vec<Ev> {
        self.0
    }
}

impl FrameSink for Collect {
    fn data(&mut self, data: &[u8]) -> Result<(), ReprError> {
        if data.is_empty() {
            return Ok(());
        }
        if let Some(Ev::Data(d)) = self.0.last_mut() {
            d.extend_from_slice(data);
        } else {
            self.0.push(Ev::Data(data.to_vec()));
        }
        Ok(())
    }
    fn end_of_record(&mut self) -> Result<(), ReprError> {
        self.0.push(Ev::Eor);
        Ok(())
    }
    fn marker(&mut self, marker: &[u8]) -> Result<(), ReprError> {
        self.0.push(Ev::Marker(marker.to_vec()));
        Ok(())
    }
    fn end_of_file(&mut self) -> Result<(), ReprError> {
        self.0.push(Ev::Eof);
        Ok(())
    }
}

const A: TransferType = TransferType::Ascii(FormatControl::NonPrint);
const AT: TransferType = TransferType::Ascii(FormatControl::Telnet);
const AC: TransferType = TransferType::Ascii(FormatControl::Asa);
const E: TransferType = TransferType::Ebcdic(FormatControl::NonPrint);
const ET: TransferType = TransferType::Ebcdic(FormatControl::Telnet);
const EC: TransferType = TransferType::Ebcdic(FormatControl::Asa);
const I: TransferType = TransferType::Image;
const L8: TransferType = TransferType::Local(8);

fn repr(ty: TransferType, stru: Structure, mode: Mode) -> Representation {
    Representation::new(ty, stru, mode).unwrap_or_default()
}

fn encode(r: Representation, chunks: &[&[u8]]) -> Vec<u8> {
    let mut e = FileEncoder::new(r);
    let mut out = Vec::new();
    for c in chunks {
        e.encode(c, &mut out);
    }
    e.finish(&mut out);
    out
}

fn decode(r: Representation, chunks: &[&[u8]]) -> Result<Vec<u8>, ReprError> {
    let mut d = WireDecoder::new(r);
    let mut out = Vec::new();
    for c in chunks {
        d.decode(c, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(out)
}

/// (type, stru, mode, file, wire): each encodes to the wire bytes and decodes back.
type Vector = (TransferType, Structure, Mode, &'static [u8], &'static [u8]);

fn vectors() -> Vec<Vector> {
    use Mode::{Block as B, Compressed as C, Stream as S};
    use Structure::{File as F, Page as P, Record as R};
    vec![
        (A, F, S, b"a\nb", b"a\r\nb"),
        (AT, F, S, b"a\x0c\nb\x0b\n", b"a\x0c\r\nb\x0b\r\n"),
        (
            AC,
            F,
            S,
            b"x\n\x0cy\nbold\r___\n",
            b" x\r\n1y\r\n bold\r\n+___\r\n",
        ),
        (
            E,
            F,
            S,
            b"AZ az 09\n",
            b"\xc1\xe9\x40\x81\xa9\x40\xf0\xf9\x15",
        ),
        (ET, F, S, b"A\x0c\n", b"\xc1\x0c\x15"),
        (EC, F, S, b"A\n\x0cB", b"\x40\xc1\x15\xf1\xc2"),
        (A, R, S, b"ab\ncd", b"ab\xff\x01cd\xff\x02"),
        (A, R, S, b"ab\n\xff\n", b"ab\xff\x01\xff\xff\xff\x03"),
        (A, R, S, b"", b"\xff\x02"),
        (AC, R, S, b"x\n\x0cy\n", b" x\xff\x011y\xff\x03"),
        (E, R, S, b"A\nB", b"\xc1\xff\x01\xc2\xff\x02"),
        (I, R, S, b"\xff\n", b"\xff\xff\n\xff\x03"),
        (I, R, S, b"", b"\xff\x02"),
        (I, F, S, b"\x00\xff\r\n", b"\x00\xff\r\n"),
        (L8, P, S, b"abc", b"\x04\x00\x03\x01abc\x04\x01\x00\x00"),
        (I, F, B, b"abc", b"\x40\x00\x03abc"),
        (I, F, B, b"", b"\x40\x00\x00"),
        (A, F, B, b"a\n", b"\x40\x00\x03a\r\n"),
        (A, R, B, b"ab\ncd\n", b"\x80\x00\x02ab\xc0\x00\x02cd"),
        (I, R, B, b"xy", b"\xc0\x00\x02xy"),
        (
            I,
            P,
            B,
            b"z",
            b"\x40\x00\x09\x04\x00\x01\x01z\x04\x01\x00\x00",
        ),
        (A, F, C, b"a    \n", b"\x01a\xc4\x02\r\n\x00\x40"),
        (E, F, C, b"    A", b"\xc4\x01\xc1\x00\x40"),
        (I, F, C, b"\0\0\0\0\x07\x07\x07", b"\xc4\x83\x07\x00\x40"),
        (A, R, C, b"ab\nc", b"\x02ab\x00\x80\x01c\x00\x40"),
        (I, R, C, b"q", b"\x01q\x00\xc0"),
    ]
}

#[test]
fn pipeline_vectors() {
    for (ty, stru, mode, file, wire) in vectors() {
        let r = repr(ty, stru, mode);
        assert_eq!(encode(r, &[file]), wire, "encode {ty:?} {stru:?} {mode:?}");
        assert_eq!(
            decode(r, &[wire]).as_deref(),
            Ok(file),
            "decode {ty:?} {stru:?} {mode:?}"
        );
    }
}

#[test]
fn refused_combinations() {
    assert_eq!(
        Representation::new(TransferType::Local(36), Structure::File, Mode::Stream),
        Err(ReprError::UnsupportedByteSize(36))
    );
    assert_eq!(
        Representation::new(A, Structure::Page, Mode::Stream),
        Err(ReprError::PagesNeedBinary)
    );
    assert_eq!(
        Representation::new(EC, Structure::Page, Mode::Block),
        Err(ReprError::PagesNeedBinary)
    );
    assert!(repr(I, Structure::File, Mode::Stream).is_identity());
    assert!(repr(L8, Structure::File, Mode::Deflate).is_identity());
    assert!(!repr(I, Structure::Record, Mode::Stream).is_identity());
    assert!(!repr(A, Structure::File, Mode::Stream).is_identity());
}

#[test]
fn malformed_wire_is_an_error() {
    use Mode::{Block as B, Compressed as C, Stream as S};
    use Structure::{File as F, Page as P, Record as R};
    let cases: Vec<(Representation, &[u8], ReprError)> = vec![
        (
            repr(AC, F, S),
            b" ok\r\n?bad\r\n",
            ReprError::InvalidAsaControl(b'?'),
        ),
        (
            repr(I, F, B),
            b"\x80\x00\x00\x40\x00\x00",
            ReprError::UnexpectedRecord,
        ),
        (repr(I, F, B), b"\x00\x00\x01", ReprError::Truncated),
        (repr(A, R, S), b"abc", ReprError::MissingEof),
        (repr(A, R, S), b"a\xff\x09", ReprError::InvalidEscape(9)),
        (repr(I, P, S), b"\x04\x00\x01\x01a", ReprError::MissingEof),
        (repr(I, F, C), b"\x00\x40\x01x", ReprError::DataAfterEof),
        (repr(E, F, C), b"\x00\x08", ReprError::InvalidDescriptor(8)),
    ];
    for (r, wire, err) in cases {
        assert_eq!(decode(r, &[wire]), Err(err), "{r:?}");
    }
}

#[test]
fn markers_report_file_offsets() {
    for mode in [Mode::Block, Mode::Compressed] {
        for ty in [I, E] {
            let r = repr(ty, Structure::File, mode);
            let mut e = FileEncoder::new(r);
            let mut wire = Vec::new();
            e.encode(b"hello ", &mut wire);
            assert_eq!(e.marker(b"6", &mut wire), Ok(()));
            e.encode(b"world\n", &mut wire);
            e.finish(&mut wire);
            let mut d = WireDecoder::new(r);
            let mut out = Vec::new();
            assert_eq!(d.decode(&wire, &mut out), Ok(()));
            assert!(d.is_done());
            assert_eq!(d.finish(&mut out), Ok(()));
            assert_eq!(out, b"hello world\n");
            assert_eq!(
                d.take_markers(),
                vec![RestartMarker {
                    marker: b"6".to_vec(),
                    offset: 6
                }]
            );
        }
    }
    let mut e = FileEncoder::new(repr(I, Structure::File, Mode::Stream));
    assert_eq!(
        e.marker(b"1", &mut Vec::new()),
        Err(ReprError::MarkersUnsupported)
    );
    let mut e = FileEncoder::new(repr(I, Structure::File, Mode::Compressed));
    assert_eq!(
        e.marker(&[b'9'; 128], &mut Vec::new()),
        Err(ReprError::InvalidMarker)
    );
}

/// Text TYPE A N/T STRU F cannot keep a CR right before an LF (CRLF is the line end).
fn drop_cr_before_lf(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len());
    for &b in data {
        if b == b'\n' {
            while v.last() == Some(&b'\r') {
                v.pop();
            }
        }
        v.push(b);
    }
    v
}

fn all_reprs() -> Vec<Representation> {
    let mut v = Vec::new();
    for ty in [A, AT, AC, E, ET, EC, I, L8] {
        for stru in [Structure::File, Structure::Record, Structure::Page] {
            for mode in [Mode::Stream, Mode::Block, Mode::Compressed, Mode::Deflate] {
                if let Ok(r) = Representation::new(ty, stru, mode) {
                    v.push(r);
                }
            }
        }
    }
    v
}

#[test]
fn combination_count() {
    // 6 text types × (F, R) + 2 binary types × (F, R, P), each in 4 modes.
    assert_eq!(all_reprs().len(), (6 * 2 + 2 * 3) * 4);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn every_combination_round_trips(
        data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(0x0c), Just(b' '), Just(0xff), Just(0), any::<u8>()],
            0..600),
        cuts in proptest::collection::vec(0usize..2000, 0..4),
    ) {
        for r in all_reprs() {
            let file = match r.transfer_type() {
                TransferType::Ascii(FormatControl::NonPrint | FormatControl::Telnet)
                    if r.structure() == Structure::File => drop_cr_before_lf(&data),
                _ => data.clone(),
            };
            let wire = encode(r, &[&file]);
            // Chunking of the file does not change the result.
            let half = file.len() / 2;
            prop_assert_eq!(&encode(r, &[&file[..half], &file[half..]]), &wire);
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for p in points {
                chunks.push(&wire[at..p]);
                at = p;
            }
            chunks.push(&wire[at..]);
            prop_assert_eq!(decode(r, &chunks), Ok(file.clone()), "{:?}", r);
        }
    }

    #[test]
    fn hostile_wire_never_panics(
        wire in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        for r in all_reprs() {
            let _ = decode(r, &[&wire]);
        }
    }
}
