//! A minimal pcapng writer for `ferry capture -w`: one Section Header Block, one Interface
//! Description Block (microsecond timestamps, the pcapng default resolution) and one Enhanced
//! Packet Block per packet, all little-endian.
//!
//! libpcap's own savefile writes classic pcap; the issue asks for `-w FILE.pcapng`, and the
//! three block types are small enough to write by hand.

use std::io::{self, Write};

/// Block type of a Section Header Block.
const SHB: u32 = 0x0A0D_0D0A;
/// Block type of an Interface Description Block.
const IDB: u32 = 0x0000_0001;
/// Block type of an Enhanced Packet Block.
const EPB: u32 = 0x0000_0006;
/// Byte-order magic of a section.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Option code of `shb_userappl`.
const SHB_USERAPPL: u16 = 4;
/// Option code of `if_name`.
const IF_NAME: u16 = 2;

/// Writes a pcapng stream with a single interface.
pub struct PcapngWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header and the interface description (`link_type` is a
    /// `LINKTYPE_*` value, `if_name` the capture interface).
    pub fn new(mut out: W, link_type: u16, snaplen: u32, if_name: &str) -> io::Result<Self> {
        let mut options = Vec::new();
        push_option(&mut options, SHB_USERAPPL, b"ferry capture");
        options.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        let mut body = Vec::with_capacity(16 + options.len());
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes()); // major
        body.extend_from_slice(&0u16.to_le_bytes()); // minor
        body.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
        body.extend_from_slice(&options);
        write_block(&mut out, SHB, &body)?;

        let mut body = Vec::with_capacity(8 + 16);
        body.extend_from_slice(&link_type.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes()); // reserved
        body.extend_from_slice(&snaplen.to_le_bytes());
        push_option(&mut body, IF_NAME, if_name.as_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]);
        write_block(&mut out, IDB, &body)?;
        Ok(PcapngWriter { out, snaplen })
    }

    /// Appends one packet: `ts_micros` since the epoch, the captured bytes (cut at the
    /// snapshot length) and the original length on the wire.
    pub fn write_packet(&mut self, ts_micros: u64, data: &[u8], orig_len: u32) -> io::Result<()> {
        let cap = usize::try_from(self.snaplen).unwrap_or(usize::MAX);
        let data = data.get(..cap).unwrap_or(data);
        let caplen = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet too large"))?;
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        body.extend_from_slice(&0u32.to_le_bytes()); // interface 0
        body.extend_from_slice(&((ts_micros >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts_micros as u32).to_le_bytes());
        body.extend_from_slice(&caplen.to_le_bytes());
        body.extend_from_slice(&orig_len.max(caplen).to_le_bytes());
        body.extend_from_slice(data);
        pad4(&mut body);
        write_block(&mut self.out, EPB, &body)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Appends an option (code, length, value padded to 32 bits).
fn push_option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(value.get(..usize::from(len)).unwrap_or(value));
    pad4(buf);
}

/// Pads with zero bytes to a multiple of four.
fn pad4(buf: &mut Vec<u8>) {
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

/// Writes a block: type, total length, body (already padded), total length again.
fn write_block<W: Write>(out: &mut W, block_type: u32, body: &[u8]) -> io::Result<()> {
    let total = u32::try_from(body.len() + 12)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "block too large"))?;
    out.write_all(&block_type.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_file_reads_back() {
        let mut buf = Vec::new();
        let mut w = PcapngWriter::new(&mut buf, 1, 65535, "lo").unwrap();
        w.write_packet(1_700_000_000_123_456, &[1, 2, 3, 4, 5], 60)
            .unwrap();
        w.write_packet(1_700_000_001_000_000, &[9; 64], 64).unwrap();
        w.flush().unwrap();
        let mut reader = ferry_analyze::CaptureReader::new(&buf[..]).unwrap();
        let f = reader.next_frame().unwrap().unwrap();
        assert_eq!(f.data, &[1, 2, 3, 4, 5]);
        assert_eq!(f.orig_len, 60);
        assert_eq!(f.ts.secs, 1_700_000_000);
        assert_eq!(f.ts.nanos, 123_456_000);
        assert_eq!(f.link_type, ferry_analyze::LinkType::ETHERNET);
        let f = reader.next_frame().unwrap().unwrap();
        assert_eq!(f.data.len(), 64);
        assert!(reader.next_frame().unwrap().is_none());
    }
}
