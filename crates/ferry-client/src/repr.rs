//! Representations other than TYPE I / STRU F / MODE S on the client side: the adapters
//! that sit between the caller's reader or writer and a transfer's data connection, on the
//! codecs of [`ferry_proto::repr`].
//!
//! - Downloads: the data connection's bytes (after inflating, in MODE Z) are written into a
//!   [`ReprWriter`]: it decodes them with a [`WireDecoder`] into a bounded pending buffer
//!   that goes to the caller's writer before more input is taken, counts the file bytes,
//!   and remembers the last restart marker received with the file bytes written before it
//!   ([`RestartPoint`]). [`ReprWriter::finish`] checks the end of file (MODE B/C, STRU R/P).
//! - Uploads: the caller's reader is encoded by a [`ReprReader`] with a [`FileEncoder`];
//!   in MODE B and C (not for STRU P or ASA format control) it sends a restart marker every
//!   [`MARKER_EVERY`] file bytes, its text the count of file bytes read so far in decimal,
//!   which the server acknowledges with `110 MARK <ours> = <its offset>`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ferry_proto::command::{FormatControl, Mode, Structure, TransferType};
use ferry_proto::repr::{FileEncoder, Representation, WireDecoder};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::RestartPoint;

/// File bytes between two restart markers of an upload in MODE B or C.
pub(crate) const MARKER_EVERY: u64 = 1024 * 1024;
/// File bytes read from the caller at once.
const CHUNK: usize = 64 * 1024;

/// Whether restart markers can be used in `repr` (MODE B and C, where every file offset is
/// a place to resume from; not pages, nor ASA format control).
pub(crate) fn has_markers(repr: &Representation) -> bool {
    matches!(repr.mode(), Mode::Block | Mode::Compressed)
        && repr.structure() != Structure::Page
        && !matches!(
            repr.transfer_type(),
            TransferType::Ascii(FormatControl::Asa) | TransferType::Ebcdic(FormatControl::Asa)
        )
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Decodes a download into the caller's writer (see the module docs).
pub(crate) struct ReprWriter<'a, W: ?Sized> {
    inner: &'a mut W,
    dec: WireDecoder,
    pending: Vec<u8>,
    pos: usize,
    markers: bool,
    last: Option<RestartPoint>,
    progress: &'a mut (dyn FnMut(u64) + Send),
}

impl<'a, W: AsyncWrite + Unpin + ?Sized> ReprWriter<'a, W> {
    /// Wraps `inner`; `progress` gets the file bytes decoded so far.
    pub(crate) fn new(
        inner: &'a mut W,
        repr: Representation,
        progress: &'a mut (dyn FnMut(u64) + Send),
    ) -> Self {
        ReprWriter {
            inner,
            dec: WireDecoder::new(repr),
            pending: Vec::new(),
            pos: 0,
            markers: has_markers(&repr),
            last: None,
            progress,
        }
    }

    /// File bytes decoded so far.
    pub(crate) fn written(&self) -> u64 {
        self.dec.written()
    }

    /// The last restart marker received whose text is a number (what `REST` takes).
    pub(crate) fn restart_point(&self) -> Option<RestartPoint> {
        self.last
    }

    /// The data connection ended: flushes what the decoder held back; an error when the end
    /// of file the representation needs did not come.
    pub(crate) async fn finish(&mut self) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.pending);
        let r = self.dec.finish(&mut out);
        self.pending = out;
        r.map_err(invalid)?;
        tokio::io::AsyncWriteExt::flush(self).await
    }

    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(rest) = self.pending.get(self.pos..).filter(|r| !r.is_empty()) {
            let n = std::task::ready!(Pin::new(&mut *self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pos += n;
        }
        self.pending.clear();
        self.pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin + ?Sized> AsyncWrite for ReprWriter<'_, W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        this.dec.decode(buf, &mut this.pending).map_err(invalid)?;
        for m in this.dec.take_markers() {
            let remote = std::str::from_utf8(&m.marker)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok());
            if let (true, Some(remote)) = (this.markers, remote) {
                this.last = Some(RestartPoint {
                    remote,
                    moved: m.offset,
                });
            }
        }
        (this.progress)(this.dec.written());
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut *this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The caller's writer stays open: a shutdown is a flush.
        self.poll_flush(cx)
    }
}

/// Encodes an upload from the caller's reader (see the module docs).
pub(crate) struct ReprReader<'a, R: ?Sized> {
    inner: &'a mut R,
    enc: FileEncoder,
    raw: Vec<u8>,
    pending: Vec<u8>,
    pos: usize,
    read: u64,
    next_marker: Option<u64>,
    done: bool,
    progress: &'a mut (dyn FnMut(u64) + Send),
}

impl<'a, R: AsyncRead + Unpin + ?Sized> ReprReader<'a, R> {
    /// Wraps `inner`; `progress` gets the file bytes read so far.
    pub(crate) fn new(
        inner: &'a mut R,
        repr: Representation,
        progress: &'a mut (dyn FnMut(u64) + Send),
    ) -> Self {
        ReprReader {
            inner,
            enc: FileEncoder::new(repr),
            raw: vec![0u8; CHUNK],
            pending: Vec::new(),
            pos: 0,
            read: 0,
            next_marker: has_markers(&repr).then_some(MARKER_EVERY),
            done: false,
            progress,
        }
    }

    /// File bytes read so far.
    pub(crate) fn read(&self) -> u64 {
        self.read
    }
}

impl<R: AsyncRead + Unpin + ?Sized> AsyncRead for ReprReader<'_, R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Bounded: each round either returns or consumes input (or ends it).
        loop {
            if let Some(rest) = this.pending.get(this.pos..).filter(|r| !r.is_empty()) {
                let n = rest.len().min(buf.remaining());
                buf.put_slice(rest.get(..n).unwrap_or_default());
                this.pos += n;
                return Poll::Ready(Ok(()));
            }
            if this.done {
                return Poll::Ready(Ok(()));
            }
            this.pending.clear();
            this.pos = 0;
            let want = match this.next_marker {
                Some(at) => usize::try_from(at.saturating_sub(this.read))
                    .unwrap_or(CHUNK)
                    .clamp(1, CHUNK),
                None => CHUNK,
            };
            let Some(space) = this.raw.get_mut(..want) else {
                return Poll::Ready(Err(io::Error::other("buffer")));
            };
            let mut rb = ReadBuf::new(space);
            std::task::ready!(Pin::new(&mut *this.inner).poll_read(cx, &mut rb))?;
            let got = rb.filled();
            if got.is_empty() {
                this.enc.finish(&mut this.pending);
                this.done = true;
                continue;
            }
            let n = got.len() as u64;
            this.enc.encode(got, &mut this.pending);
            this.read = this.read.saturating_add(n);
            (this.progress)(this.read);
            if let Some(at) = this.next_marker {
                if this.read >= at {
                    let text = this.read.to_string();
                    this.enc
                        .marker(text.as_bytes(), &mut this.pending)
                        .map_err(invalid)?;
                    this.next_marker = Some(this.read.saturating_add(MARKER_EVERY));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn repr(ty: TransferType, stru: Structure, mode: Mode) -> Representation {
        Representation::new(ty, stru, mode).unwrap()
    }

    #[tokio::test]
    async fn block_round_trip_with_markers() {
        let data: Vec<u8> = (0..(3 * MARKER_EVERY + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        let r = repr(TransferType::Image, Structure::File, Mode::Block);
        let mut input = &data[..];
        let mut p = |_| {};
        let mut reader = ReprReader::new(&mut input, r, &mut p);
        let mut wire = Vec::new();
        reader.read_to_end(&mut wire).await.unwrap();
        assert_eq!(reader.read(), data.len() as u64);
        assert!(wire.len() > data.len());

        let mut out = Vec::new();
        let mut p = |_| {};
        let mut w = ReprWriter::new(&mut out, r, &mut p);
        // Markers are our decimal offsets, so they parse as restart points.
        for piece in wire.chunks(7000) {
            w.write_all(piece).await.unwrap();
        }
        w.finish().await.unwrap();
        let point = w.restart_point().unwrap();
        assert_eq!(point.remote, 3 * MARKER_EVERY);
        assert_eq!(point.moved, 3 * MARKER_EVERY);
        assert_eq!(out, data);
    }

    #[tokio::test]
    async fn truncated_block_download_is_an_error() {
        let r = repr(TransferType::Image, Structure::File, Mode::Block);
        let data = vec![7u8; 2 * MARKER_EVERY as usize];
        let mut input = &data[..];
        let mut p = |_| {};
        let mut wire = Vec::new();
        ReprReader::new(&mut input, r, &mut p)
            .read_to_end(&mut wire)
            .await
            .unwrap();
        let cut = wire.get(..wire.len() - 10).unwrap();
        let mut out = Vec::new();
        let mut p = |_| {};
        let mut w = ReprWriter::new(&mut out, r, &mut p);
        w.write_all(cut).await.unwrap();
        assert!(w.finish().await.is_err());
        let point = w.restart_point().unwrap();
        assert_eq!(point.remote, MARKER_EVERY);
        assert_eq!(point.moved, MARKER_EVERY);
    }

    #[tokio::test]
    async fn ebcdic_records_round_trip() {
        let text = b"first line\nsecond\n\nlast without end".to_vec();
        let r = repr(
            TransferType::Ebcdic(FormatControl::NonPrint),
            Structure::Record,
            Mode::Stream,
        );
        let mut input = &text[..];
        let mut p = |_| {};
        let mut wire = Vec::new();
        ReprReader::new(&mut input, r, &mut p)
            .read_to_end(&mut wire)
            .await
            .unwrap();
        assert_ne!(wire, text);
        let mut out = Vec::new();
        let mut p = |_| {};
        let mut w = ReprWriter::new(&mut out, r, &mut p);
        w.write_all(&wire).await.unwrap();
        w.finish().await.unwrap();
        assert_eq!(w.written(), text.len() as u64);
        assert!(w.restart_point().is_none());
        drop(w);
        assert_eq!(out, text);
    }
}
