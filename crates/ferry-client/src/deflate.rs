//! MODE Z on the client side: the adapters that sit between the caller's reader or writer
//! and a transfer's data connection.
//!
//! - Downloads: the data connection's bytes (one zlib stream, RFC 1950) are written into a
//!   [`ZlibDecoder`] whose output goes to a [`Counted`] writer around the caller's: it
//!   counts the inflated bytes (for progress and the result), refuses more than a cap (a
//!   listing cannot grow without bound however well it compresses), and its shutdown only
//!   flushes, so finishing the decoder (which fails on a truncated stream) leaves the
//!   caller's writer open.
//! - Uploads: the caller's reader, counted ([`CountedReader`]), is compressed by a
//!   [`ZlibEncoder`] that ends the stream at the end of the input.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_compression::tokio::bufread::ZlibEncoder;
use async_compression::tokio::write::ZlibDecoder;
use async_compression::Level;
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};

/// Compression level of uploads (zlib's default).
pub(crate) const UPLOAD_LEVEL: i32 = 6;

/// A writer that counts what goes through, stops at a cap, and whose shutdown is a flush.
pub(crate) struct Counted<'a, W: ?Sized> {
    inner: &'a mut W,
    written: u64,
    max: Option<u64>,
    progress: &'a mut (dyn FnMut(u64) + Send),
}

impl<'a, W: AsyncWrite + Unpin + ?Sized> Counted<'a, W> {
    /// Wraps `inner`; more than `max` bytes is an error; `progress` gets the running total.
    pub(crate) fn new(
        inner: &'a mut W,
        max: Option<u64>,
        progress: &'a mut (dyn FnMut(u64) + Send),
    ) -> Self {
        Counted {
            inner,
            written: 0,
            max,
            progress,
        }
    }

    /// Bytes written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }
}

impl<W: AsyncWrite + Unpin + ?Sized> AsyncWrite for Counted<'_, W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(max) = this.max {
            if this.written.saturating_add(buf.len() as u64) > max {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("more than {max} bytes after inflating"),
                )));
            }
        }
        let n = std::task::ready!(Pin::new(&mut *this.inner).poll_write(cx, buf))?;
        this.written = this.written.saturating_add(n as u64);
        (this.progress)(this.written);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }
}

/// The inflater of a download into `out`.
pub(crate) fn inflater<W: AsyncWrite + Unpin>(out: W) -> ZlibDecoder<W> {
    ZlibDecoder::new(out)
}

/// A reader that counts what goes through.
pub(crate) struct CountedReader<'a, R: ?Sized> {
    inner: &'a mut R,
    read: u64,
    progress: &'a mut (dyn FnMut(u64) + Send),
}

impl<'a, R: AsyncRead + Unpin + ?Sized> CountedReader<'a, R> {
    /// Wraps `inner`; `progress` gets the running total.
    pub(crate) fn new(inner: &'a mut R, progress: &'a mut (dyn FnMut(u64) + Send)) -> Self {
        CountedReader {
            inner,
            read: 0,
            progress,
        }
    }
}

impl<R: AsyncRead + Unpin + ?Sized> AsyncRead for CountedReader<'_, R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut *this.inner).poll_read(cx, buf))?;
        let n = buf.filled().len().saturating_sub(before);
        this.read = this.read.saturating_add(n as u64);
        (this.progress)(this.read);
        Poll::Ready(Ok(()))
    }
}

/// The deflater of an upload from `input`; returns it with a handle on the count.
pub(crate) fn deflater<R: AsyncRead + Unpin>(input: R) -> ZlibEncoder<BufReader<R>> {
    ZlibEncoder::with_quality(BufReader::new(input), Level::Precise(UPLOAD_LEVEL))
}

/// Bytes read through a [`CountedReader`] inside a deflater.
pub(crate) fn read_through<R: AsyncRead + Unpin + ?Sized>(
    enc: &ZlibEncoder<BufReader<CountedReader<'_, R>>>,
) -> u64 {
    enc.get_ref().get_ref().read
}
