//! Capture files: pcap and pcapng, read incrementally from any [`std::io::Read`].
//!
//! [`CaptureReader`] wraps pcap-parser's streaming readers (a bounded circular buffer, refilled
//! from the input as needed), so memory does not grow with the size of the file: the buffer
//! starts at [`DEFAULT_BUFFER`] bytes and grows only when a single block is larger, up to a
//! cap ([`ReaderLimits::max_block`]).
//!
//! Formats:
//! - pcap, both byte orders, microsecond and nanosecond magic (the "modified" Kuznetzov
//!   variant too);
//! - pcapng, both byte orders, several sections, several interfaces each with its own link
//!   type, timestamp resolution (`if_tsresol`, powers of 10 or 2) and offset (`if_tsoffset`);
//!   packets from Enhanced (EPB), Simple (SPB) and obsolete Packet Blocks (OPB). Other blocks
//!   (name resolution, statistics, journal, secrets, custom) are skipped.
//!
//! Frames are numbered from 1 in file order, as Wireshark numbers them.
//!
//! The API lends each frame's bytes from the reader's buffer (no copy):
//! [`CaptureReader::next_frame`] returns a [`Frame`] that borrows the reader until the next
//! call. A truncated file yields every complete frame and then
//! [`CaptureError::Truncated`]; input that is neither format fails at
//! [`CaptureReader::new`] with [`CaptureError::NotACapture`]. No input makes this module panic.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Cursor, Read};
use std::rc::Rc;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

/// Initial size of the read buffer.
pub const DEFAULT_BUFFER: usize = 256 * 1024;

/// Default cap on the size of one block (one packet record with its header).
pub const DEFAULT_MAX_BLOCK: usize = 16 * 1024 * 1024;

/// Bound on the interfaces one pcapng section may declare (each costs a few bytes).
const MAX_INTERFACES: usize = 65_536;

/// Bound on consecutive refills that bring no progress (a reader returning 0-byte reads
/// without reaching the end); each refill that reads bytes is progress.
const MAX_IDLE_REFILLS: u32 = 64;

/// A capture timestamp: seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds since the epoch.
    pub secs: i64,
    /// Nanoseconds, always below 1 000 000 000.
    pub nanos: u32,
}

impl Timestamp {
    /// Builds a timestamp, carrying nanoseconds of a second or more into `secs`.
    pub fn new(secs: i64, nanos: u64) -> Timestamp {
        let carry = i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX);
        Timestamp {
            secs: secs.saturating_add(carry),
            nanos: (nanos % 1_000_000_000) as u32,
        }
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> std::time::Duration {
        if self <= earlier {
            return std::time::Duration::ZERO;
        }
        let total = (i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos))
            - (i128::from(earlier.secs) * 1_000_000_000 + i128::from(earlier.nanos));
        let total = u128::try_from(total).unwrap_or(0);
        let secs = u64::try_from(total / 1_000_000_000).unwrap_or(u64::MAX);
        std::time::Duration::new(secs, (total % 1_000_000_000) as u32)
    }

    /// Seconds since the epoch as a float (for display; loses precision past microseconds).
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }
}

impl fmt::Display for Timestamp {
    /// `secs.nnnnnnnnn`, the way `tshark -T fields -e frame.time_epoch` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// A link-layer header type (the `LINKTYPE_*` registry of tcpdump.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (802.3), VLAN tags included.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IPv4 or IPv6 (`LINKTYPE_RAW`).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (16-byte header).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2 (20-byte header).
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// Stand-in for a packet whose pcapng interface was never described.
    pub const UNKNOWN: LinkType = LinkType(u32::MAX);
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based position in the file, as Wireshark numbers frames.
    pub number: u64,
    /// When the packet was captured.
    pub ts: Timestamp,
    /// How to decode `data`.
    pub link_type: LinkType,
    /// The captured bytes (at most the snapshot length).
    pub data: &'a [u8],
    /// The length of the packet on the wire (`data` may be shorter).
    pub orig_len: u32,
    /// pcapng interface index (0 for pcap files).
    pub interface: u32,
}

/// Which file format a capture uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap format.
    Pcap {
        /// Stored big-endian.
        big_endian: bool,
        /// Timestamps in nanoseconds (else microseconds).
        nanosecond: bool,
    },
    /// pcapng (byte order may change per section).
    PcapNg,
}

/// Errors while reading a capture. Frames read before the error stay valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The input is empty.
    #[error("the capture file is empty")]
    Empty,
    /// The input starts with neither a pcap nor a pcapng header.
    #[error("not a pcap or pcapng capture (file starts with {magic:02x?})")]
    NotACapture {
        /// The first bytes of the input (up to 4).
        magic: Vec<u8>,
    },
    /// The input ends inside a block: the file was cut short.
    #[error("capture truncated: the file ends inside a block after frame {after_frame} (byte offset {offset})")]
    Truncated {
        /// The number of the last complete frame (0 if none).
        after_frame: u64,
        /// Byte offset of the incomplete block.
        offset: u64,
    },
    /// A block is malformed (bad length, bad header, inconsistent fields).
    #[error("corrupt capture after frame {after_frame} (byte offset {offset}): {detail}")]
    Corrupt {
        /// The number of the last complete frame (0 if none).
        after_frame: u64,
        /// Byte offset of the bad block.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// A block is larger than the configured cap.
    #[error("block at byte offset {offset} (after frame {after_frame}) is larger than the {limit}-byte limit")]
    BlockTooLarge {
        /// The number of the last complete frame (0 if none).
        after_frame: u64,
        /// Byte offset of the block.
        offset: u64,
        /// The cap ([`ReaderLimits::max_block`]).
        limit: usize,
    },
    /// Reading the input failed.
    #[error("reading the capture failed after frame {after_frame}: {source}")]
    Io {
        /// The number of the last complete frame (0 if none).
        after_frame: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Bounds for [`CaptureReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderLimits {
    /// Initial buffer size (bytes).
    pub initial_buffer: usize,
    /// Largest block accepted (bytes); the buffer never grows beyond about this.
    pub max_block: usize,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        ReaderLimits {
            initial_buffer: DEFAULT_BUFFER,
            max_block: DEFAULT_MAX_BLOCK,
        }
    }
}

/// Reads from the user's reader, remembering the I/O error pcap-parser would flatten into
/// `ReadError`, and retrying `Interrupted` reads.
struct StashReader<R> {
    inner: R,
    error: Rc<RefCell<Option<io::Error>>>,
}

impl<R: Read> Read for StashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut tries = 0;
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted && tries < 16 => tries += 1,
                Err(e) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    *self.error.borrow_mut() = Some(e);
                    return Err(copy);
                }
                Ok(n) => return Ok(n),
            }
        }
    }
}

type Chained<R> = io::Chain<Cursor<Vec<u8>>, StashReader<R>>;

/// Per-interface facts from a pcapng Interface Description Block.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    /// Timestamp units per second, `None` when `if_tsresol` is invalid.
    units_per_sec: Option<u64>,
    /// `if_tsoffset`, seconds added to every timestamp.
    offset_secs: i64,
}

enum Inner<R: Read> {
    Legacy {
        reader: LegacyPcapReader<Chained<R>>,
        link_type: LinkType,
        nanosecond: bool,
    },
    Ng {
        reader: PcapNGReader<Chained<R>>,
        interfaces: Vec<Interface>,
        big_endian: bool,
    },
}

/// What the next block turned out to be (decided before it is lent out).
enum Next {
    /// A packet block is complete at the front of the buffer.
    Packet,
    /// End of input.
    Eof,
}

/// Streaming reader over a pcap or pcapng capture.
///
/// ```no_run
/// # fn main() -> Result<(), ferry_analyze::capture::CaptureError> {
/// let file = std::fs::File::open("trace.pcap").map_err(|source| {
///     ferry_analyze::capture::CaptureError::Io { after_frame: 0, source }
/// })?;
/// let mut reader = ferry_analyze::capture::CaptureReader::new(file)?;
/// while let Some(frame) = reader.next_frame()? {
///     println!("{} {} {} bytes", frame.number, frame.ts, frame.data.len());
/// }
/// # Ok(()) }
/// ```
pub struct CaptureReader<R: Read> {
    inner: Inner<R>,
    format: Format,
    /// Bytes of the block lent out last, consumed at the start of the next call.
    pending: usize,
    frames: u64,
    limits: ReaderLimits,
    capacity: usize,
    error: Rc<RefCell<Option<io::Error>>>,
    /// Set once an error or the end was returned: later calls return `Ok(None)`.
    done: bool,
}

impl<R: Read> fmt::Debug for CaptureReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("format", &self.format)
            .field("frames", &self.frames)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<R: Read> CaptureReader<R> {
    /// Opens a capture with the default [`ReaderLimits`].
    pub fn new(reader: R) -> Result<Self, CaptureError> {
        Self::with_limits(reader, ReaderLimits::default())
    }

    /// Opens a capture: reads the start of the input and recognises the format.
    pub fn with_limits(reader: R, limits: ReaderLimits) -> Result<Self, CaptureError> {
        let limits = ReaderLimits {
            initial_buffer: limits
                .initial_buffer
                .clamp(4096, limits.max_block.max(4096)),
            max_block: limits.max_block.max(4096),
        };
        let error = Rc::new(RefCell::new(None));
        let mut stash = StashReader {
            inner: reader,
            error: Rc::clone(&error),
        };
        // Read the first buffer's worth ourselves (the readers parse the header from a
        // single read(), which a slow reader could cut short), then hand it back in front.
        let mut head = vec![0u8; limits.initial_buffer];
        let mut filled = 0;
        while filled < head.len() {
            let chunk = head.get_mut(filled..).unwrap_or_default();
            match stash.read(chunk) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(_) => {
                    let source = error
                        .borrow_mut()
                        .take()
                        .unwrap_or_else(|| io::Error::other("read failed"));
                    return Err(CaptureError::Io {
                        after_frame: 0,
                        source,
                    });
                }
            }
        }
        head.truncate(filled);
        if head.is_empty() {
            return Err(CaptureError::Empty);
        }
        let magic: Vec<u8> = head.iter().take(4).copied().collect();
        let format = match magic.as_slice() {
            [0x0a, 0x0d, 0x0d, 0x0a] => Format::PcapNg,
            [0xd4, 0xc3, 0xb2, 0xa1] | [0x34, 0xcd, 0xb2, 0xa1] => Format::Pcap {
                big_endian: false,
                nanosecond: false,
            },
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0xcd, 0x34] => Format::Pcap {
                big_endian: true,
                nanosecond: false,
            },
            [0x4d, 0x3c, 0xb2, 0xa1] => Format::Pcap {
                big_endian: false,
                nanosecond: true,
            },
            [0xa1, 0xb2, 0x3c, 0x4d] => Format::Pcap {
                big_endian: true,
                nanosecond: true,
            },
            _ => return Err(CaptureError::NotACapture { magic }),
        };
        let head_len = head.len();
        let chained = Cursor::new(head).chain(stash);
        let capacity = limits.initial_buffer.max(head_len);
        let header_error = |e: PcapError<&'static [u8]>| match e {
            PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof => {
                CaptureError::Truncated {
                    after_frame: 0,
                    offset: 0,
                }
            }
            other => CaptureError::Corrupt {
                after_frame: 0,
                offset: 0,
                detail: format!("bad file header: {other}"),
            },
        };
        let inner = match format {
            Format::Pcap { nanosecond, .. } => {
                let reader = LegacyPcapReader::new(capacity, chained).map_err(header_error)?;
                Inner::Legacy {
                    reader,
                    link_type: LinkType::UNKNOWN,
                    nanosecond,
                }
            }
            Format::PcapNg => {
                let reader = PcapNGReader::new(capacity, chained).map_err(header_error)?;
                Inner::Ng {
                    reader,
                    interfaces: Vec::new(),
                    big_endian: false,
                }
            }
        };
        Ok(CaptureReader {
            inner,
            format,
            pending: 0,
            frames: 0,
            limits,
            capacity,
            error,
            done: false,
        })
    }

    /// The file format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// How many frames have been returned so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// The current size of the read buffer (bounded by about [`ReaderLimits::max_block`]).
    pub fn buffer_capacity(&self) -> usize {
        self.capacity
    }

    /// The link type of a pcap file, or of the first pcapng interface seen so far.
    pub fn link_type(&self) -> Option<LinkType> {
        match &self.inner {
            Inner::Legacy { link_type, .. } => Some(*link_type),
            Inner::Ng { interfaces, .. } => interfaces.first().map(|i| i.link_type),
        }
    }

    /// Calls `f` for every remaining frame; stops early when it returns `false`.
    pub fn for_each_frame<F>(&mut self, mut f: F) -> Result<(), CaptureError>
    where
        F: FnMut(&Frame<'_>) -> bool,
    {
        while let Some(frame) = self.next_frame()? {
            if !f(&frame) {
                break;
            }
        }
        Ok(())
    }

    /// The next frame, `Ok(None)` at the end of the capture.
    ///
    /// After an error, later calls return `Ok(None)`.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        match self.advance() {
            Ok(Next::Eof) => {
                self.done = true;
                Ok(None)
            }
            Ok(Next::Packet) => {
                self.frames += 1;
                let number = self.frames;
                let after_frame = number - 1;
                let offset = self.offset();
                let lent = lend(&mut self.inner, number);
                match lent {
                    Some((frame, size)) => {
                        self.pending = size;
                        Ok(Some(frame))
                    }
                    None => {
                        self.done = true;
                        Err(CaptureError::Corrupt {
                            after_frame,
                            offset,
                            detail: "packet block could not be parsed twice".into(),
                        })
                    }
                }
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    fn reader(&mut self) -> &mut dyn PcapReaderIterator {
        match &mut self.inner {
            Inner::Legacy { reader, .. } => reader,
            Inner::Ng { reader, .. } => reader,
        }
    }

    fn offset(&self) -> u64 {
        let consumed = match &self.inner {
            Inner::Legacy { reader, .. } => reader.consumed(),
            Inner::Ng { reader, .. } => reader.consumed(),
        };
        consumed as u64
    }

    fn take_io_error(&self) -> io::Error {
        self.error
            .borrow_mut()
            .take()
            .unwrap_or_else(|| io::Error::other("read failed"))
    }

    /// Consumes what was lent out, handles non-packet blocks, refills and grows the buffer,
    /// until a packet block is complete at the front of the buffer (not consumed).
    fn advance(&mut self) -> Result<Next, CaptureError> {
        let pending = std::mem::take(&mut self.pending);
        if pending > 0 {
            self.reader().consume(pending);
        }
        let mut idle_refills = 0u32;
        // Each iteration consumes a block, reads input, grows the buffer, or returns; the
        // input is finite or the caller stops, and idle refills are bounded.
        loop {
            let after_frame = self.frames;
            let offset = self.offset();
            let step = match &mut self.inner {
                Inner::Legacy {
                    reader, link_type, ..
                } => match reader.next() {
                    Ok((size, PcapBlockOwned::LegacyHeader(header))) => {
                        *link_type = LinkType(header.network.0 as u32);
                        Step::Consume(size)
                    }
                    Ok((_, PcapBlockOwned::Legacy(_))) => Step::Packet,
                    Ok((size, PcapBlockOwned::NG(_))) => Step::Consume(size),
                    Err(e) => Step::from_error(e),
                },
                Inner::Ng {
                    reader,
                    interfaces,
                    big_endian,
                } => match reader.next() {
                    Ok((size, PcapBlockOwned::NG(block))) => match block {
                        Block::SectionHeader(shb) => {
                            interfaces.clear();
                            *big_endian = shb.big_endian();
                            Step::Consume(size)
                        }
                        Block::InterfaceDescription(idb) => {
                            if interfaces.len() >= MAX_INTERFACES {
                                Step::Corrupt("more than 65536 interfaces in one section".into())
                            } else {
                                interfaces.push(Interface {
                                    link_type: LinkType(idb.linktype.0 as u32),
                                    snaplen: idb.snaplen,
                                    units_per_sec: ts_units(idb.if_tsresol),
                                    offset_secs: idb.ts_offset(),
                                });
                                Step::Consume(size)
                            }
                        }
                        Block::EnhancedPacket(_) | Block::SimplePacket(_) => Step::Packet,
                        Block::Unknown(ub) if is_opb(ub.block_type) => Step::Packet,
                        _ => Step::Consume(size),
                    },
                    Ok((size, _)) => Step::Consume(size),
                    Err(e) => Step::from_error(e),
                },
            };
            match step {
                Step::Packet => return Ok(Next::Packet),
                Step::Consume(size) => {
                    if size == 0 {
                        return Err(CaptureError::Corrupt {
                            after_frame,
                            offset,
                            detail: "zero-length block".into(),
                        });
                    }
                    self.reader().consume(size);
                    idle_refills = 0;
                }
                Step::Eof => return Ok(Next::Eof),
                Step::Truncated => {
                    return Err(CaptureError::Truncated {
                        after_frame,
                        offset,
                    })
                }
                Step::Corrupt(detail) => {
                    return Err(CaptureError::Corrupt {
                        after_frame,
                        offset,
                        detail,
                    })
                }
                Step::Refill if self.reader().data().len() >= self.capacity => {
                    // A full buffer cannot take more input: the block is larger.
                    step_grow(self, after_frame, offset)?;
                }
                Step::Refill => {
                    let before = self.reader().data().len();
                    if self.reader().refill().is_err() {
                        return Err(CaptureError::Io {
                            after_frame,
                            source: self.take_io_error(),
                        });
                    }
                    let after = self.reader().data().len();
                    if after == before && !self.reader().reader_exhausted() {
                        idle_refills += 1;
                        if idle_refills > MAX_IDLE_REFILLS {
                            return Err(CaptureError::Io {
                                after_frame,
                                source: io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    "the input keeps returning no data",
                                ),
                            });
                        }
                    } else {
                        idle_refills = 0;
                    }
                }
                Step::Grow => step_grow(self, after_frame, offset)?,
                Step::ReadError => {
                    return Err(CaptureError::Io {
                        after_frame,
                        source: self.take_io_error(),
                    })
                }
            }
        }
    }
}

/// Doubles the buffer, up to the block cap.
fn step_grow<R: Read>(
    this: &mut CaptureReader<R>,
    after_frame: u64,
    offset: u64,
) -> Result<(), CaptureError> {
    let too_large = CaptureError::BlockTooLarge {
        after_frame,
        offset,
        limit: this.limits.max_block,
    };
    if this.capacity >= this.limits.max_block {
        return Err(too_large);
    }
    let new_size = this
        .capacity
        .saturating_mul(2)
        .min(this.limits.max_block.saturating_add(64));
    if !this.reader().grow(new_size) {
        return Err(too_large);
    }
    this.capacity = new_size;
    Ok(())
}

/// pcapng block type of the obsolete Packet Block (not decoded by pcap-parser).
const OPB_TYPE: u32 = 0x0000_0002;

/// pcap-parser reads an unknown block's type little-endian, even in a big-endian section.
fn is_opb(block_type: u32) -> bool {
    block_type == OPB_TYPE || block_type == OPB_TYPE.swap_bytes()
}

enum Step {
    Packet,
    Consume(usize),
    Eof,
    Truncated,
    Corrupt(String),
    Refill,
    Grow,
    ReadError,
}

impl Step {
    fn from_error(e: PcapError<&[u8]>) -> Step {
        match e {
            PcapError::Eof => Step::Eof,
            PcapError::UnexpectedEof => Step::Truncated,
            PcapError::Incomplete(_) => Step::Refill,
            PcapError::BufferTooSmall => Step::Grow,
            PcapError::ReadError => Step::ReadError,
            PcapError::HeaderNotRecognized => Step::Corrupt("unrecognised block".into()),
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                Step::Corrupt(format!("malformed block ({kind:?})"))
            }
        }
    }
}

/// Parses the packet block at the front of the buffer (known complete) and lends it out.
fn lend<R: Read>(inner: &mut Inner<R>, number: u64) -> Option<(Frame<'_>, usize)> {
    match inner {
        Inner::Legacy {
            reader,
            link_type,
            nanosecond,
        } => {
            let link_type = *link_type;
            let nanosecond = *nanosecond;
            match reader.next() {
                Ok((size, PcapBlockOwned::Legacy(b))) => {
                    let nanos = if nanosecond {
                        u64::from(b.ts_usec)
                    } else {
                        u64::from(b.ts_usec) * 1000
                    };
                    let frame = Frame {
                        number,
                        ts: Timestamp::new(i64::from(b.ts_sec), nanos),
                        link_type,
                        data: b.data,
                        orig_len: b.origlen,
                        interface: 0,
                    };
                    Some((frame, size))
                }
                _ => None,
            }
        }
        Inner::Ng {
            reader,
            interfaces,
            big_endian,
        } => {
            let big_endian = *big_endian;
            let interfaces: &Vec<Interface> = interfaces;
            match reader.next() {
                Ok((size, PcapBlockOwned::NG(Block::EnhancedPacket(epb)))) => {
                    let iface = interfaces.get(epb.if_id as usize).copied();
                    let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                    let frame = Frame {
                        number,
                        ts: ng_timestamp(iface, epb.ts_high, epb.ts_low),
                        link_type: iface.map_or(LinkType::UNKNOWN, |i| i.link_type),
                        data,
                        orig_len: epb.origlen,
                        interface: epb.if_id,
                    };
                    Some((frame, size))
                }
                Ok((size, PcapBlockOwned::NG(Block::SimplePacket(spb)))) => {
                    let iface = interfaces.first().copied();
                    // The data field is padded to 32 bits; the original length bounds it.
                    let mut data = spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                    if let Some(i) = iface {
                        if i.snaplen > 0 {
                            data = data.get(..i.snaplen as usize).unwrap_or(data);
                        }
                    }
                    let frame = Frame {
                        number,
                        // SPBs carry no timestamp.
                        ts: Timestamp::default(),
                        link_type: iface.map_or(LinkType::UNKNOWN, |i| i.link_type),
                        data,
                        orig_len: spb.origlen,
                        interface: 0,
                    };
                    Some((frame, size))
                }
                Ok((size, PcapBlockOwned::NG(Block::Unknown(ub)))) if is_opb(ub.block_type) => {
                    // OPB body: interface u16, drops u16, ts high u32, ts low u32, caplen u32,
                    // len u32, data (padded), options.
                    let body = ub.data;
                    let u16_at = |at: usize| -> Option<u16> {
                        let b: [u8; 2] = body.get(at..at + 2)?.try_into().ok()?;
                        Some(if big_endian {
                            u16::from_be_bytes(b)
                        } else {
                            u16::from_le_bytes(b)
                        })
                    };
                    let u32_at = |at: usize| -> Option<u32> {
                        let b: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
                        Some(if big_endian {
                            u32::from_be_bytes(b)
                        } else {
                            u32::from_le_bytes(b)
                        })
                    };
                    let if_id = u16_at(0)?;
                    let ts_high = u32_at(4)?;
                    let ts_low = u32_at(8)?;
                    let caplen = u32_at(12)?;
                    let orig_len = u32_at(16)?;
                    let rest = body.get(20..)?;
                    let data = rest.get(..caplen as usize).unwrap_or(rest);
                    let iface = interfaces.get(usize::from(if_id)).copied();
                    let frame = Frame {
                        number,
                        ts: ng_timestamp(iface, ts_high, ts_low),
                        link_type: iface.map_or(LinkType::UNKNOWN, |i| i.link_type),
                        data,
                        orig_len,
                        interface: u32::from(if_id),
                    };
                    Some((frame, size))
                }
                _ => None,
            }
        }
    }
}

/// Timestamp units per second for an `if_tsresol` value: 10^n, or 2^n with the top bit set.
/// (pcap-parser 0.17's `ts_resolution` rejects every power-of-2 resolution.)
fn ts_units(tsresol: u8) -> Option<u64> {
    if tsresol & 0x80 != 0 {
        let exp = u32::from(tsresol & 0x7f);
        1u64.checked_shl(exp).filter(|_| exp < 64)
    } else {
        10u64.checked_pow(u32::from(tsresol))
    }
}

/// Converts a pcapng 64-bit timestamp with the interface's resolution and offset.
fn ng_timestamp(iface: Option<Interface>, high: u32, low: u32) -> Timestamp {
    let raw = (u64::from(high) << 32) | u64::from(low);
    let (units, offset) = match iface {
        Some(i) => (i.units_per_sec.unwrap_or(1_000_000), i.offset_secs),
        None => (1_000_000, 0),
    };
    let units = units.max(1);
    let secs = raw / units;
    let frac = raw % units;
    let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(units)) as u64;
    let secs = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_add(offset);
    Timestamp::new(secs, nanos)
}
