//! Every RFC 959 representation: TYPE × STRU × MODE as streaming, sans-IO codecs.
//!
//! A transfer is two layers, each a small streaming codec with bounded state:
//!
//! ```text
//!  stored file ──FileEncoder──▶ wire            wire ──WireDecoder──▶ stored file
//!    shape (TYPE, format control, STRU)           deframe (MODE, STRU R escapes)
//!      → frames: data, end of record, marker        → frames → unshape
//!    frame (MODE S / B / C)
//! ```
//!
//! - **Shape** turns the stored file into a stream of frames. TYPE A converts line ends to
//!   CRLF ([`crate::transfer`]); TYPE E translates with CP037 and sends line ends as EBCDIC
//!   `<NL>` ([`ebcdic`]); format control C rewrites the print image as ASA lines ([`asa`]);
//!   T and N share the same byte mapping (the file keeps any Telnet format effectors, and
//!   CRLF is the end of line either way). STRU R makes every line of a text file a record
//!   (the LF becomes an end of record; a last line without LF is a last record without
//!   one); for TYPE I and L the file has no lines, so it is sent as one record and received
//!   records are concatenated. STRU P sends pages ([`page`]), TYPE I and L 8 only.
//! - **Frame** writes the frames in the transfer mode: MODE S as the bytes themselves (STRU
//!   F and P, the close ends the file) or with the §3.4.2 escapes (STRU R) ([`stream`]);
//!   MODE B blocks ([`block`]); MODE C compressed headers ([`compressed`]). Restart markers
//!   exist only in MODE B and C.
//!
//! Decoders never panic: malformed input is a [`ReprError`]. Restart markers received are
//! reported with the number of file bytes written before them ([`RestartMarker`]), which is
//! what a receiver puts in `110 MARK yyyy = mmmm`.
//!
//! MODE Z is MODE S framing wrapped in deflate by the driver; [`Mode::Deflate`] is
//! therefore shaped and framed here exactly like [`Mode::Stream`].

pub mod asa;
pub mod block;
pub mod compressed;
pub mod ebcdic;
pub mod page;
pub mod stream;

use crate::command::{FormatControl, Mode, Structure, TransferType};
use crate::transfer::{AsciiDecoder, AsciiEncoder};

pub use page::PageHeader;

/// Longest restart marker accepted or sent (MODE C further limits it to 127 bytes).
pub const MAX_MARKER: usize = 256;

/// Why a representation is refused or a transfer's bytes are malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReprError {
    /// TYPE L with a byte size other than 8.
    #[error("TYPE L {0} is not supported, only TYPE L 8")]
    UnsupportedByteSize(u8),
    /// STRU P with TYPE A or E.
    #[error("page structure needs TYPE I or TYPE L 8")]
    PagesNeedBinary,
    /// A line of an ASA (format control C) transfer starts with an unknown control.
    #[error("invalid ASA carriage control character 0x{0:02X}")]
    InvalidAsaControl(u8),
    /// A stream-mode record transfer has 0xFF followed by an undefined code.
    #[error("invalid stream-mode control code 0xFF 0x{0:02X}")]
    InvalidEscape(u8),
    /// A MODE B or MODE C descriptor with reserved bits or an impossible combination.
    #[error("invalid descriptor 0x{0:02X}")]
    InvalidDescriptor(u8),
    /// A restart marker that is empty or too long.
    #[error("invalid restart marker")]
    InvalidMarker,
    /// A restart marker in a mode that has none (MODE S).
    #[error("restart markers need MODE B or MODE C")]
    MarkersUnsupported,
    /// An end of record in a transfer without record structure.
    #[error("end of record in a transfer without record structure")]
    UnexpectedRecord,
    /// A page header with a bad length or type.
    #[error("invalid page header")]
    InvalidPageHeader,
    /// A page-layout sidecar line that does not parse.
    #[error("invalid page layout line")]
    InvalidSidecar,
    /// Bytes after the end-of-file mark.
    #[error("data after the end of file")]
    DataAfterEof,
    /// The data ended inside a block, escape or page.
    #[error("the transfer ended in the middle of a block")]
    Truncated,
    /// The data ended without the end-of-file mark the structure or mode requires.
    #[error("the transfer ended without its end-of-file mark")]
    MissingEof,
}

/// Writes frames in one transfer mode.
pub trait FrameEncoder {
    /// Appends `data` (part of the current record, if any).
    fn data(&mut self, data: &[u8], out: &mut Vec<u8>);
    /// Ends the current record.
    fn end_of_record(&mut self, out: &mut Vec<u8>) -> Result<(), ReprError>;
    /// Writes a restart marker.
    fn marker(&mut self, marker: &[u8], out: &mut Vec<u8>) -> Result<(), ReprError>;
    /// Writes the end of file.
    fn finish(&mut self, out: &mut Vec<u8>);
}

/// Receives frames from a mode decoder.
pub trait FrameSink {
    /// File data (part of the current record, if any).
    fn data(&mut self, data: &[u8]) -> Result<(), ReprError>;
    /// The end of a record.
    fn end_of_record(&mut self) -> Result<(), ReprError>;
    /// A restart marker.
    fn marker(&mut self, marker: &[u8]) -> Result<(), ReprError>;
    /// The end of file.
    fn end_of_file(&mut self) -> Result<(), ReprError>;
}

/// A validated TYPE × STRU × MODE combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Representation {
    ty: TransferType,
    stru: Structure,
    mode: Mode,
}

impl Default for Representation {
    fn default() -> Self {
        Self {
            ty: TransferType::Ascii(FormatControl::NonPrint),
            stru: Structure::File,
            mode: Mode::Stream,
        }
    }
}

impl Representation {
    /// Checks that Ferry implements the combination.
    pub fn new(ty: TransferType, stru: Structure, mode: Mode) -> Result<Self, ReprError> {
        match (ty, stru) {
            (TransferType::Local(n), _) if n != 8 => Err(ReprError::UnsupportedByteSize(n)),
            (TransferType::Ascii(_) | TransferType::Ebcdic(_), Structure::Page) => {
                Err(ReprError::PagesNeedBinary)
            }
            _ => Ok(Self { ty, stru, mode }),
        }
    }

    /// The representation type.
    pub fn transfer_type(&self) -> TransferType {
        self.ty
    }

    /// The structure.
    pub fn structure(&self) -> Structure {
        self.stru
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether wire bytes equal file bytes (TYPE I or L 8, STRU F, MODE S or Z), so a driver
    /// may skip the codecs (and use sendfile).
    pub fn is_identity(&self) -> bool {
        matches!(self.ty, TransferType::Image | TransferType::Local(_))
            && self.stru == Structure::File
            && matches!(self.mode, Mode::Stream | Mode::Deflate)
    }

    fn text(&self) -> Option<(Code, FormatControl)> {
        match self.ty {
            TransferType::Ascii(fc) => Some((Code::Ascii, fc)),
            TransferType::Ebcdic(fc) => Some((Code::Ebcdic, fc)),
            _ => None,
        }
    }

    /// The MODE C filler byte: the wire form of a space for text, zero otherwise.
    fn filler(&self) -> u8 {
        match self.ty {
            TransferType::Ascii(_) => b' ',
            TransferType::Ebcdic(_) => ebcdic::to_cp037(b' '),
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Ascii,
    Ebcdic,
}

#[derive(Debug, Clone)]
enum Framer {
    Raw(stream::RawEncoder),
    Records(stream::RecordEncoder),
    Block(block::BlockEncoder),
    Compressed(compressed::CompressedEncoder),
}

impl Framer {
    fn new(repr: &Representation) -> Self {
        match (repr.mode, repr.stru) {
            (Mode::Block, _) => Self::Block(block::BlockEncoder::default()),
            (Mode::Compressed, _) => {
                Self::Compressed(compressed::CompressedEncoder::new(repr.filler()))
            }
            (_, Structure::Record) => Self::Records(stream::RecordEncoder::default()),
            _ => Self::Raw(stream::RawEncoder),
        }
    }

    fn get(&mut self) -> &mut dyn FrameEncoder {
        match self {
            Self::Raw(e) => e,
            Self::Records(e) => e,
            Self::Block(e) => e,
            Self::Compressed(e) => e,
        }
    }
}

#[derive(Debug, Clone)]
enum Shaper {
    Binary,
    BinaryRecords {
        any: bool,
    },
    Pages(page::PageEncoder),
    Text {
        code: Code,
        records: bool,
        asa: Option<asa::AsaEncoder>,
        ascii: AsciiEncoder,
        lines: Vec<u8>,
        wire: Vec<u8>,
    },
}

fn shape_text(
    code: Code,
    records: bool,
    ascii: &mut AsciiEncoder,
    lines: &[u8],
    wire: &mut Vec<u8>,
    framer: &mut dyn FrameEncoder,
    out: &mut Vec<u8>,
) {
    wire.clear();
    if !records {
        match code {
            Code::Ascii => ascii.encode(lines, wire),
            Code::Ebcdic => wire.extend(lines.iter().map(|&b| ebcdic::text_to_ebcdic(b))),
        }
        framer.data(wire, out);
        return;
    }
    let mut rest = lines;
    while !rest.is_empty() {
        let (line, eor) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (rest.get(..i).unwrap_or_default(), true),
            None => (rest, false),
        };
        rest = rest
            .get(line.len() + usize::from(eor)..)
            .unwrap_or_default();
        wire.clear();
        match code {
            Code::Ascii => wire.extend_from_slice(line),
            Code::Ebcdic => wire.extend(line.iter().map(|&b| ebcdic::to_cp037(b))),
        }
        framer.data(wire, out);
        if eor {
            // Record framers always accept an end of record.
            let _ = framer.end_of_record(out);
        }
    }
}

/// Stored file → wire bytes for one representation (RETR on the server, STOR on a client).
#[derive(Debug, Clone)]
pub struct FileEncoder {
    shaper: Shaper,
    framer: Framer,
}

impl FileEncoder {
    /// An encoder for `repr`.
    pub fn new(repr: Representation) -> Self {
        let shaper = match (repr.text(), repr.stru) {
            (Some((code, fc)), stru) => Shaper::Text {
                code,
                records: stru == Structure::Record,
                asa: (fc == FormatControl::Asa).then(asa::AsaEncoder::new),
                ascii: AsciiEncoder::new(),
                lines: Vec::new(),
                wire: Vec::new(),
            },
            (None, Structure::File) => Shaper::Binary,
            (None, Structure::Record) => Shaper::BinaryRecords { any: false },
            (None, Structure::Page) => Shaper::Pages(page::PageEncoder::new()),
        };
        Self {
            shaper,
            framer: Framer::new(&repr),
        }
    }

    /// An encoder for page structure replaying a page layout (see [`page`]).
    pub fn with_page_layout(
        repr: Representation,
        layout: Vec<PageHeader>,
    ) -> Result<Self, ReprError> {
        let mut e = Self::new(repr);
        if let Shaper::Pages(p) = &mut e.shaper {
            *p = page::PageEncoder::with_layout(layout)?;
        }
        Ok(e)
    }

    /// Appends the wire form of the next file bytes to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let framer = self.framer.get();
        match &mut self.shaper {
            Shaper::Binary => framer.data(input, out),
            Shaper::BinaryRecords { any } => {
                *any |= !input.is_empty();
                framer.data(input, out);
            }
            Shaper::Pages(p) => p.encode(input, framer, out),
            Shaper::Text {
                code,
                records,
                asa,
                ascii,
                lines,
                wire,
            } => match asa {
                Some(asa) => {
                    lines.clear();
                    asa.encode(input, lines);
                    shape_text(*code, *records, ascii, lines, wire, framer, out);
                }
                None => shape_text(*code, *records, ascii, input, wire, framer, out),
            },
        }
    }

    /// Writes a restart marker at the current position (MODE B and C only).
    pub fn marker(&mut self, marker: &[u8], out: &mut Vec<u8>) -> Result<(), ReprError> {
        self.framer.get().marker(marker, out)
    }

    /// Writes whatever is held back and the end of file.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let framer = self.framer.get();
        match &mut self.shaper {
            Shaper::Binary | Shaper::BinaryRecords { any: false } => {}
            Shaper::BinaryRecords { any: true } => {
                let _ = framer.end_of_record(out);
            }
            Shaper::Pages(p) => p.finish(framer, out),
            Shaper::Text {
                code,
                records,
                asa,
                ascii,
                lines,
                wire,
            } => {
                if let Some(asa) = asa {
                    lines.clear();
                    asa.finish(lines);
                    shape_text(*code, *records, ascii, lines, wire, framer, out);
                }
            }
        }
        framer.finish(out);
    }
}

#[derive(Debug, Clone)]
enum Deframer {
    Raw(stream::RawDecoder),
    Records(stream::RecordDecoder),
    Block(block::BlockDecoder),
    Compressed(compressed::CompressedDecoder),
}

#[derive(Debug, Clone)]
enum Unshaper {
    Binary,
    BinaryRecords,
    Pages(page::PageDecoder),
    Text {
        code: Code,
        records: bool,
        asa: Option<asa::AsaDecoder>,
        ascii: AsciiDecoder,
        scratch: Vec<u8>,
    },
}

/// A restart marker received, with the file bytes written before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartMarker {
    /// The marker as sent by the peer.
    pub marker: Vec<u8>,
    /// Stored-file offset at the marker.
    pub offset: u64,
}

#[derive(Debug, Clone, Default)]
struct Progress {
    markers: Vec<RestartMarker>,
    written: u64,
    done: bool,
}

struct Sink<'a> {
    un: &'a mut Unshaper,
    out: &'a mut Vec<u8>,
    start: usize,
    progress: &'a mut Progress,
}

impl Sink<'_> {
    fn text(&mut self, data: &[u8]) -> Result<(), ReprError> {
        if let Unshaper::Text {
            code,
            records,
            asa,
            ascii,
            scratch,
        } = &mut *self.un
        {
            scratch.clear();
            match (code, *records) {
                (Code::Ascii, false) => ascii.decode(data, scratch),
                (Code::Ascii, true) => scratch.extend_from_slice(data),
                (Code::Ebcdic, false) => {
                    scratch.extend(data.iter().map(|&b| ebcdic::text_from_ebcdic(b)))
                }
                (Code::Ebcdic, true) => scratch.extend(data.iter().map(|&b| ebcdic::to_latin1(b))),
            }
            match asa {
                Some(asa) => asa.decode(scratch, self.out)?,
                None => self.out.extend_from_slice(scratch),
            }
        }
        Ok(())
    }

    fn feed_lines(&mut self, lines: &[u8]) -> Result<(), ReprError> {
        if let Unshaper::Text { asa, .. } = &mut *self.un {
            match asa {
                Some(asa) => asa.decode(lines, self.out)?,
                None => self.out.extend_from_slice(lines),
            }
        }
        Ok(())
    }
}

impl FrameSink for Sink<'_> {
    fn data(&mut self, data: &[u8]) -> Result<(), ReprError> {
        if self.progress.done {
            return Err(ReprError::DataAfterEof);
        }
        match &mut *self.un {
            Unshaper::Binary | Unshaper::BinaryRecords => {
                self.out.extend_from_slice(data);
                Ok(())
            }
            Unshaper::Pages(p) => p.decode(data, self.out),
            Unshaper::Text { .. } => self.text(data),
        }
    }

    fn end_of_record(&mut self) -> Result<(), ReprError> {
        match &mut *self.un {
            Unshaper::BinaryRecords => Ok(()),
            Unshaper::Text { records: true, .. } => self.feed_lines(b"\n"),
            _ => Err(ReprError::UnexpectedRecord),
        }
    }

    fn marker(&mut self, marker: &[u8]) -> Result<(), ReprError> {
        let offset = self.progress.written + (self.out.len().saturating_sub(self.start)) as u64;
        self.progress.markers.push(RestartMarker {
            marker: marker.to_vec(),
            offset,
        });
        Ok(())
    }

    fn end_of_file(&mut self) -> Result<(), ReprError> {
        if std::mem::replace(&mut self.progress.done, true) {
            return Err(ReprError::DataAfterEof);
        }
        match &mut *self.un {
            Unshaper::Binary | Unshaper::BinaryRecords => Ok(()),
            Unshaper::Pages(p) => p.finish(),
            Unshaper::Text {
                records,
                asa,
                ascii,
                scratch,
                ..
            } => {
                scratch.clear();
                if !*records {
                    ascii.finish(scratch);
                }
                match asa {
                    Some(asa) => {
                        asa.decode(scratch, self.out)?;
                        asa.finish(self.out);
                    }
                    None => self.out.extend_from_slice(scratch),
                }
                Ok(())
            }
        }
    }
}

/// Wire bytes → stored file for one representation (STOR on the server, RETR on a client).
#[derive(Debug, Clone)]
pub struct WireDecoder {
    deframer: Deframer,
    unshaper: Unshaper,
    progress: Progress,
}

impl WireDecoder {
    /// A decoder for `repr`.
    pub fn new(repr: Representation) -> Self {
        let deframer = match (repr.mode, repr.stru) {
            (Mode::Block, _) => Deframer::Block(block::BlockDecoder::default()),
            (Mode::Compressed, _) => {
                Deframer::Compressed(compressed::CompressedDecoder::new(repr.filler()))
            }
            (_, Structure::Record) => Deframer::Records(stream::RecordDecoder::default()),
            _ => Deframer::Raw(stream::RawDecoder),
        };
        let unshaper = match (repr.text(), repr.stru) {
            (Some((code, fc)), stru) => Unshaper::Text {
                code,
                records: stru == Structure::Record,
                asa: (fc == FormatControl::Asa).then(asa::AsaDecoder::new),
                ascii: AsciiDecoder::new(),
                scratch: Vec::new(),
            },
            (None, Structure::File) => Unshaper::Binary,
            (None, Structure::Record) => Unshaper::BinaryRecords,
            (None, Structure::Page) => Unshaper::Pages(page::PageDecoder::default()),
        };
        Self {
            deframer,
            unshaper,
            progress: Progress::default(),
        }
    }

    fn run(
        &mut self,
        out: &mut Vec<u8>,
        f: impl FnOnce(&mut Deframer, &mut Sink<'_>) -> Result<(), ReprError>,
    ) -> Result<(), ReprError> {
        let start = out.len();
        let mut sink = Sink {
            un: &mut self.unshaper,
            out,
            start,
            progress: &mut self.progress,
        };
        let r = f(&mut self.deframer, &mut sink);
        let added = sink.out.len().saturating_sub(start) as u64;
        self.progress.written += added;
        r
    }

    /// Appends the file form of the next wire bytes to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), ReprError> {
        self.run(out, |d, sink| match d {
            Deframer::Raw(d) => d.decode(input, sink),
            Deframer::Records(d) => d.decode(input, sink),
            Deframer::Block(d) => d.decode(input, sink),
            Deframer::Compressed(d) => d.decode(input, sink),
        })
    }

    /// The data connection closed: flushes held-back bytes; an error if the transfer is
    /// incomplete (MODE B/C or STRU R/P without their end-of-file mark).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ReprError> {
        self.run(out, |d, sink| match d {
            Deframer::Raw(d) => d.finish(sink),
            Deframer::Records(d) => d.finish(sink),
            Deframer::Block(d) => d.finish(sink),
            Deframer::Compressed(d) => d.finish(sink),
        })
    }

    /// Whether the end of file has been received (MODE B/C can end before the close).
    pub fn is_done(&self) -> bool {
        self.progress.done
    }

    /// File bytes written so far.
    pub fn written(&self) -> u64 {
        self.progress.written
    }

    /// Restart markers received since the last call.
    pub fn take_markers(&mut self) -> Vec<RestartMarker> {
        std::mem::take(&mut self.progress.markers)
    }

    /// Page headers received since the last call (STRU P; see [`page`]).
    pub fn take_page_headers(&mut self) -> Vec<PageHeader> {
        match &mut self.unshaper {
            Unshaper::Pages(p) => p.take_headers(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
