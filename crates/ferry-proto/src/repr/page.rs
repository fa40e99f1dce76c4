//! STRU P (page structure), RFC 959 §3.1.2.3.
//!
//! Every page is a header, then `data length` data bytes. All header fields are one logical
//! byte; Ferry supports page structure only with 8-bit logical bytes (TYPE I and TYPE L 8),
//! and rejects it for TYPE A and E (their text has no page layout to keep).
//!
//! ```text
//! header length | page index | data length | page type | optional fields ...
//! ```
//!
//! - header length counts the header including itself, at least 4;
//! - page types: 0 last page (header 4, data 0: the end of the transfer), 1 simple page
//!   (header 4), 2 descriptor page (information about the file as a whole), 3 access
//!   controlled page (header 5: one access-control field).
//!
//! ## Mapping to the stored file
//!
//! The stored file is the concatenation of the data of the simple and access-controlled
//! pages. Everything else (each header's index, type and optional fields, and the data of
//! descriptor pages) is reported by [`PageDecoder::take_headers`] as [`PageHeader`]s, which a
//! driver may keep in a sidecar file, one [`PageHeader::to_line`] per page, e.g.
//! `name.ferry-pages`. [`PageEncoder::with_layout`] replays such a layout, so
//! wire → file + sidecar → wire reproduces the pages exactly; [`PageEncoder::new`] sends a
//! file without sidecar as simple pages of 255 bytes, indexed from 0 (wrapping at 256), and
//! a last page.

use std::collections::VecDeque;

use super::{FrameEncoder, ReprError};

const LAST: u8 = 0;
const SIMPLE: u8 = 1;
const DESCRIPTOR: u8 = 2;
const ACCESS: u8 = 3;
const MAX_DATA: usize = 255;

/// One page header as received (or to be sent), with a descriptor page's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageHeader {
    /// The logical page number.
    pub index: u8,
    /// 0 last, 1 simple, 2 descriptor, 3 access controlled.
    pub page_type: u8,
    /// Number of data bytes in the page.
    pub data_len: u8,
    /// Header fields after the page type (one for access-controlled pages).
    pub optional: Vec<u8>,
    /// The data of a descriptor page (empty for other types).
    pub descriptor: Vec<u8>,
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_string();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, ReprError> {
    if s == "-" {
        return Ok(Vec::new());
    }
    let bytes = s.as_bytes();
    if bytes.len() % 2 != 0 || bytes.len() > 2 * MAX_DATA {
        return Err(ReprError::InvalidSidecar);
    }
    bytes
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or(ReprError::InvalidSidecar)
        })
        .collect()
}

impl PageHeader {
    fn header_len(&self) -> Result<u8, ReprError> {
        u8::try_from(4 + self.optional.len()).map_err(|_| ReprError::InvalidPageHeader)
    }

    fn validate(&self) -> Result<(), ReprError> {
        let ok = match self.page_type {
            LAST => self.optional.is_empty() && self.data_len == 0,
            SIMPLE => self.optional.is_empty(),
            DESCRIPTOR => self.descriptor.len() == usize::from(self.data_len),
            ACCESS => self.optional.len() == 1,
            _ => false,
        };
        if ok && self.optional.len() <= 251 {
            Ok(())
        } else {
            Err(ReprError::InvalidPageHeader)
        }
    }

    /// The sidecar line: `index type data_len optional-hex descriptor-hex` (`-` for none).
    pub fn to_line(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.index,
            self.page_type,
            self.data_len,
            hex(&self.optional),
            hex(&self.descriptor)
        )
    }

    /// Parses a line written by [`PageHeader::to_line`].
    pub fn parse_line(line: &str) -> Result<Self, ReprError> {
        let mut it = line.split_ascii_whitespace();
        let mut num = || {
            it.next()
                .and_then(|s| s.parse::<u8>().ok())
                .ok_or(ReprError::InvalidSidecar)
        };
        let (index, page_type, data_len) = (num()?, num()?, num()?);
        let optional = unhex(it.next().ok_or(ReprError::InvalidSidecar)?)?;
        let descriptor = unhex(it.next().ok_or(ReprError::InvalidSidecar)?)?;
        if it.next().is_some() {
            return Err(ReprError::InvalidSidecar);
        }
        let h = Self {
            index,
            page_type,
            data_len,
            optional,
            descriptor,
        };
        h.validate().map_err(|_| ReprError::InvalidSidecar)?;
        Ok(h)
    }

    fn write(&self, data: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<(), ReprError> {
        let mut head = vec![
            self.header_len()?,
            self.index,
            self.data_len,
            self.page_type,
        ];
        head.extend_from_slice(&self.optional);
        out(&head);
        out(data);
        Ok(())
    }
}

/// File bytes → pages.
#[derive(Debug, Clone, Default)]
pub struct PageEncoder {
    layout: VecDeque<PageHeader>,
    next_index: u8,
    buf: Vec<u8>,
}

impl PageEncoder {
    /// Sends the file as simple pages of up to 255 bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replays a page layout kept from an earlier transfer (see the module docs); pages
    /// beyond the layout are sent as simple pages. Fails on an impossible header.
    pub fn with_layout(layout: Vec<PageHeader>) -> Result<Self, ReprError> {
        for h in &layout {
            h.validate()?;
        }
        Ok(Self {
            layout: layout.into(),
            ..Self::default()
        })
    }

    /// Data bytes the next file page holds, after sending any descriptor pages due now.
    fn next_capacity(&mut self, enc: &mut dyn FrameEncoder, out: &mut Vec<u8>) -> usize {
        while let Some(h) = self.layout.front() {
            match h.page_type {
                DESCRIPTOR => {
                    if let Some(h) = self.layout.pop_front() {
                        let _ = h.write(&h.descriptor, &mut |b| enc.data(b, out));
                        self.next_index = h.index.wrapping_add(1);
                    }
                }
                SIMPLE | ACCESS if h.data_len > 0 => return usize::from(h.data_len),
                // Empty data pages and a last page in the middle: drop them from the replay.
                SIMPLE | ACCESS if self.layout.len() > 1 => {
                    if let Some(h) = self.layout.pop_front() {
                        let _ = h.write(&[], &mut |b| enc.data(b, out));
                        self.next_index = h.index.wrapping_add(1);
                    }
                }
                _ => return MAX_DATA,
            }
        }
        MAX_DATA
    }

    fn emit(&mut self, enc: &mut dyn FrameEncoder, out: &mut Vec<u8>) {
        let header = match self.layout.front() {
            Some(h)
                if matches!(h.page_type, SIMPLE | ACCESS)
                    && usize::from(h.data_len) == self.buf.len() =>
            {
                self.layout.pop_front()
            }
            _ => None,
        };
        let header = header.unwrap_or_else(|| PageHeader {
            index: self.next_index,
            page_type: SIMPLE,
            data_len: u8::try_from(self.buf.len()).unwrap_or(u8::MAX),
            optional: Vec::new(),
            descriptor: Vec::new(),
        });
        self.next_index = header.index.wrapping_add(1);
        let _ = header.write(&self.buf, &mut |b| enc.data(b, out));
        self.buf.clear();
    }

    /// Frames `input` as pages through `enc`.
    pub fn encode(&mut self, input: &[u8], enc: &mut dyn FrameEncoder, out: &mut Vec<u8>) {
        let mut rest = input;
        while !rest.is_empty() {
            let cap = self.next_capacity(enc, out);
            let room = cap.saturating_sub(self.buf.len());
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.buf.extend_from_slice(now);
            rest = later;
            if self.buf.len() >= cap {
                self.emit(enc, out);
            }
        }
    }

    /// Sends the last partial page, any remaining descriptor pages and the last page.
    pub fn finish(&mut self, enc: &mut dyn FrameEncoder, out: &mut Vec<u8>) {
        if !self.buf.is_empty() {
            self.emit(enc, out);
        }
        let mut last_index = self.next_index;
        while let Some(h) = self.layout.pop_front() {
            match h.page_type {
                DESCRIPTOR => {
                    let _ = h.write(&h.descriptor, &mut |b| enc.data(b, out));
                    last_index = h.index.wrapping_add(1);
                }
                LAST => last_index = h.index,
                _ => {}
            }
        }
        let last = PageHeader {
            index: last_index,
            page_type: LAST,
            data_len: 0,
            optional: Vec::new(),
            descriptor: Vec::new(),
        };
        let _ = last.write(&[], &mut |b| enc.data(b, out));
    }
}

#[derive(Debug, Clone)]
enum State {
    Len,
    Header { need: usize, buf: Vec<u8> },
    Data { left: usize, header: PageHeader },
    Done,
}

/// Pages → file bytes plus the page headers.
#[derive(Debug, Clone)]
pub struct PageDecoder {
    state: State,
    headers: Vec<PageHeader>,
}

impl Default for PageDecoder {
    fn default() -> Self {
        Self {
            state: State::Len,
            headers: Vec::new(),
        }
    }
}

impl PageDecoder {
    /// Headers of the pages completed so far (drain after each chunk to bound memory).
    pub fn take_headers(&mut self) -> Vec<PageHeader> {
        std::mem::take(&mut self.headers)
    }

    /// Whether the last page has been received.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn end_page(&mut self, header: PageHeader) {
        let last = header.page_type == LAST;
        self.headers.push(header);
        self.state = if last { State::Done } else { State::Len };
    }

    /// Decodes page bytes, appending file data to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), ReprError> {
        let mut rest = input;
        while !rest.is_empty() {
            match &mut self.state {
                State::Done => return Err(ReprError::DataAfterEof),
                State::Len => {
                    let (&len, tail) = rest.split_first().ok_or(ReprError::Truncated)?;
                    rest = tail;
                    if len < 4 {
                        return Err(ReprError::InvalidPageHeader);
                    }
                    self.state = State::Header {
                        need: usize::from(len) - 1,
                        buf: Vec::new(),
                    };
                }
                State::Header { need, buf } => {
                    let take = (*need - buf.len()).min(rest.len());
                    let (now, tail) = rest.split_at(take);
                    buf.extend_from_slice(now);
                    rest = tail;
                    if buf.len() < *need {
                        continue;
                    }
                    let (&index, &data_len, &page_type) = match buf.as_slice() {
                        [i, d, t, ..] => (i, d, t),
                        _ => return Err(ReprError::InvalidPageHeader),
                    };
                    let header = PageHeader {
                        index,
                        page_type,
                        data_len,
                        optional: buf.get(3..).unwrap_or_default().to_vec(),
                        descriptor: Vec::new(),
                    };
                    let check = PageHeader {
                        descriptor: vec![0; usize::from(data_len)],
                        ..header.clone()
                    };
                    if page_type == DESCRIPTOR {
                        check.validate()?
                    } else {
                        header.validate()?
                    }
                    if data_len == 0 {
                        self.end_page(header);
                    } else {
                        self.state = State::Data {
                            left: usize::from(data_len),
                            header,
                        };
                    }
                }
                State::Data { left, header } => {
                    let (now, tail) = rest.split_at((*left).min(rest.len()));
                    rest = tail;
                    *left -= now.len();
                    if header.page_type == DESCRIPTOR {
                        header.descriptor.extend_from_slice(now);
                    } else {
                        out.extend_from_slice(now);
                    }
                    if *left == 0 {
                        let header = std::mem::replace(
                            header,
                            PageHeader {
                                index: 0,
                                page_type: 0,
                                data_len: 0,
                                optional: Vec::new(),
                                descriptor: Vec::new(),
                            },
                        );
                        self.end_page(header);
                    }
                }
            }
        }
        Ok(())
    }

    /// The transfer ended: an error unless the last page was received.
    pub fn finish(&mut self) -> Result<(), ReprError> {
        match self.state {
            State::Done => Ok(()),
            State::Len => Err(ReprError::MissingEof),
            _ => Err(ReprError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::stream::RawEncoder;
    use super::*;
    use proptest::prelude::*;

    fn encode(mut e: PageEncoder, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            e.encode(c, &mut RawEncoder, &mut out);
        }
        e.finish(&mut RawEncoder, &mut out);
        out
    }

    fn decode(chunks: &[&[u8]]) -> Result<(Vec<u8>, Vec<PageHeader>), ReprError> {
        let mut d = PageDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            d.decode(c, &mut out)?;
        }
        d.finish()?;
        Ok((out, d.take_headers()))
    }

    #[test]
    fn encoder_vectors() {
        assert_eq!(encode(PageEncoder::new(), &[]), b"\x04\x00\x00\x00");
        assert_eq!(
            encode(PageEncoder::new(), &[b"ab", b"c"]),
            b"\x04\x00\x03\x01abc\x04\x01\x00\x00"
        );
        let big = vec![7u8; 300];
        let out = encode(PageEncoder::new(), &[&big]);
        assert_eq!(out.get(..4), Some(&b"\x04\x00\xff\x01"[..]));
        assert_eq!(out.get(259..263), Some(&b"\x04\x01\x2d\x01"[..]));
        assert_eq!(out.get(308..), Some(&b"\x04\x02\x00\x00"[..]));
    }

    #[test]
    fn decoder_vectors() {
        let wire: &[u8] =
            b"\x04\x00\x02\x02hi\x05\x01\x03\x03\x07abc\x04\x02\x01\x01d\x04\x03\x00\x00";
        let (data, headers) = decode(&[&wire[..5], &wire[5..]]).unwrap_or_default();
        assert_eq!(data, b"abcd");
        assert_eq!(headers.len(), 4);
        assert_eq!(
            headers.first().map(|h| h.descriptor.clone()),
            Some(b"hi".to_vec())
        );
        assert_eq!(
            headers.get(1).map(PageHeader::to_line),
            Some("1 3 3 07 -".to_string())
        );
        // Replaying the layout reproduces the wire bytes.
        let layout = headers
            .iter()
            .map(|h| PageHeader::parse_line(&h.to_line()))
            .collect::<Result<Vec<_>, _>>();
        let enc = PageEncoder::with_layout(layout.unwrap_or_default());
        assert!(enc.is_ok());
        if let Ok(enc) = enc {
            assert_eq!(encode(enc, &[b"ab", b"cd"]), wire);
        }

        assert_eq!(
            decode(&[b"\x03\x00\x00"]),
            Err(ReprError::InvalidPageHeader)
        );
        assert_eq!(
            decode(&[b"\x04\x00\x00\x09"]),
            Err(ReprError::InvalidPageHeader)
        );
        assert_eq!(
            decode(&[b"\x05\x00\x00\x01\x00"]),
            Err(ReprError::InvalidPageHeader)
        );
        assert_eq!(
            decode(&[b"\x04\x00\x01\x00"]),
            Err(ReprError::InvalidPageHeader)
        );
        assert_eq!(decode(&[b"\x04\x00\x05\x01ab"]), Err(ReprError::Truncated));
        assert_eq!(decode(&[b"\x04\x00\x01\x01a"]), Err(ReprError::MissingEof));
        assert_eq!(
            decode(&[b"\x04\x00\x00\x00x"]),
            Err(ReprError::DataAfterEof)
        );
        assert_eq!(
            PageHeader::parse_line("1 9 0 - -"),
            Err(ReprError::InvalidSidecar)
        );
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..1000), split in 0usize..1000) {
            let wire = encode(PageEncoder::new(), &[&data]);
            let split = split.min(wire.len());
            let (a, b) = wire.split_at(split);
            let (back, _) = decode(&[a, b]).unwrap_or_default();
            prop_assert_eq!(back, data);
        }
    }
}
