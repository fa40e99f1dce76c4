//! `--limit-rate`: a reader/writer wrapper that keeps the average rate of a transfer at or
//! below a number of bytes per second (sleeping on the tokio timer, never blocking).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Parses a rate like `500K`, `2M`, `1G` or a plain byte count (per second, powers of 1024).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("bad rate {text:?} (e.g. 500K, 2M)"))?;
    let factor: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("/S")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1024,
        "M" => 1024 * 1024,
        "G" => 1024 * 1024 * 1024,
        _ => return Err(format!("bad rate unit in {text:?} (K, M or G)")),
    };
    match n.checked_mul(factor) {
        Some(0) | None => Err(format!("bad rate {text:?}")),
        Some(r) => Ok(r),
    }
}

/// Wraps a reader or writer, limiting it to `rate` bytes per second on average.
pub struct Throttle<T> {
    inner: T,
    rate: Option<u64>,
    start: Instant,
    done: u64,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<T> Throttle<T> {
    /// `rate` bytes per second, or no limit when `None`.
    pub fn new(inner: T, rate: Option<u64>) -> Throttle<T> {
        Throttle {
            inner,
            rate,
            start: Instant::now(),
            done: 0,
            sleep: None,
        }
    }

    /// `Ready` when the next bytes may go; registers a timer otherwise.
    fn poll_budget(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(rate) = self.rate else {
            return Poll::Ready(());
        };
        loop {
            if let Some(s) = self.sleep.as_mut() {
                if s.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            let due = self.start + Duration::from_secs_f64(self.done as f64 / rate as f64);
            if due <= Instant::now() {
                return Poll::Ready(());
            }
            self.sleep = Some(Box::pin(tokio::time::sleep_until(due)));
        }
    }

    /// At most what one second allows, so a single call cannot overshoot much.
    fn chunk(&self, wanted: usize) -> usize {
        match self.rate {
            Some(r) => wanted.min(usize::try_from(r).unwrap_or(usize::MAX).max(1)),
            None => wanted,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Throttle<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let n = self.chunk(buf.len());
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_write(cx, buf.get(..n).unwrap_or(buf));
        if let Poll::Ready(Ok(w)) = &res {
            this.done += *w as u64;
        }
        res
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Throttle<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        let n = self.chunk(buf.remaining());
        let this = &mut *self;
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(n));
        let res = Pin::new(&mut this.inner).poll_read(cx, &mut limited);
        if let Poll::Ready(Ok(())) = &res {
            let got = limited.filled().len();
            buf.advance(got);
            this.done += got as u64;
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100"), Ok(100));
        assert_eq!(parse_rate("2K"), Ok(2048));
        assert_eq!(parse_rate("1m"), Ok(1 << 20));
        assert_eq!(parse_rate("1MB/s"), Ok(1 << 20));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("x").is_err());
        assert!(parse_rate("5T").is_err());
    }

    #[tokio::test]
    async fn limits_writes_and_reads() {
        let start = Instant::now();
        let mut w = Throttle::new(Vec::new(), Some(20_000));
        w.write_all(&[7u8; 30_000]).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(950),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(w.inner.len(), 30_000);

        let start = Instant::now();
        let data = vec![1u8; 30_000];
        let mut r = Throttle::new(&data[..], Some(20_000));
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out.len(), 30_000);
        assert!(start.elapsed() >= Duration::from_millis(950));
    }

    #[tokio::test]
    async fn unlimited_passes_through() {
        let mut w = Throttle::new(Vec::new(), None);
        w.write_all(b"abc").await.unwrap();
        assert_eq!(w.inner, b"abc");
    }
}
