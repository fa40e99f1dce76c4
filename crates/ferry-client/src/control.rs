//! The control connection: commands out (encoded by [`ferry_proto::Command`]), replies in
//! (decoded by [`LineDecoder`] and [`ReplyParser`]), with the protocol trace and timeouts.
//!
//! Reading is cancel-safe: bytes read from the socket and partial replies live in
//! [`Control`], so a `read_reply` future may be dropped (e.g. inside `select!`) and called
//! again without losing anything.

use std::time::Duration;

use ferry_proto::line::{LineDecoder, LineEvent};
use ferry_proto::reply::ReplyParser;
use ferry_proto::{Command, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use crate::stream::Stream;
use crate::{ClientError, Trace};

/// The protocol trace callback.
pub type TraceFn = Box<dyn FnMut(&Trace) + Send>;

/// Size of one socket read on the control connection.
const READ_CHUNK: usize = 4096;

/// One control connection.
pub(crate) struct Control {
    pub(crate) stream: Stream,
    decoder: LineDecoder,
    parser: ReplyParser,
    /// Bytes read but not yet decoded: `buf[pos..len]`.
    buf: Box<[u8; READ_CHUNK]>,
    pos: usize,
    len: usize,
    pub(crate) io_timeout: Duration,
    pub(crate) trace: Option<TraceFn>,
}

impl Control {
    pub(crate) fn new(stream: Stream, io_timeout: Duration) -> Control {
        Control {
            stream,
            decoder: LineDecoder::new(),
            parser: ReplyParser::new(),
            buf: Box::new([0; READ_CHUNK]),
            pos: 0,
            len: 0,
            io_timeout,
            trace: None,
        }
    }

    /// True when bytes were received that no reply has consumed yet (must be none before a
    /// TLS upgrade).
    pub(crate) fn has_buffered(&self) -> bool {
        self.pos < self.len || self.decoder.pending() > 0 || self.parser.in_progress()
    }

    fn emit(&mut self, event: &Trace) {
        if let Some(trace) = self.trace.as_mut() {
            trace(event);
        }
    }

    /// Sends a command. The trace (and the returned display text) masks passwords.
    pub(crate) async fn send(&mut self, cmd: &Command) -> Result<String, ClientError> {
        let shown = match cmd {
            Command::Pass(_) => "PASS ****".to_string(),
            other => other.encode(),
        };
        self.send_line(&cmd.encode(), shown).await
    }

    /// Sends a raw line (for `quote`); a `PASS` line is masked in the trace.
    pub(crate) async fn send_raw(&mut self, line: &str) -> Result<String, ClientError> {
        if line.contains(['\r', '\n']) {
            return Err(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a command line cannot contain CR or LF",
            )));
        }
        let shown = mask(line);
        self.send_line(line, shown).await
    }

    async fn send_line(&mut self, line: &str, shown: String) -> Result<String, ClientError> {
        tracing::debug!(command = %shown, "-->");
        self.emit(&Trace::Sent(shown.clone()));
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let write = async {
            self.stream.write_all(&bytes).await?;
            self.stream.flush().await
        };
        timeout(self.io_timeout, write)
            .await
            .map_err(|_| ClientError::Timeout("sending a command"))??;
        Ok(shown)
    }

    /// Reads the next reply (preliminary or final). Cancel-safe.
    pub(crate) async fn read_reply(&mut self) -> Result<Reply, ClientError> {
        // Bounded: every round either decodes buffered bytes or reads more; a reply is at
        // most MAX_REPLY_BYTES, so a bounded number of reads completes or fails it.
        for _ in 0..100_000 {
            while self.pos < self.len {
                let input = self.buf.get(self.pos..self.len).unwrap_or(&[]);
                let (used, event) = self.decoder.decode(input);
                self.pos = self.pos.saturating_add(used).min(self.len);
                match event {
                    None => {}
                    Some(LineEvent::TooLong { len }) => {
                        return Err(ClientError::Protocol(format!(
                            "reply line of {len} bytes is too long"
                        )))
                    }
                    Some(LineEvent::Line(line)) => match self.parser.push_line(&line) {
                        Ok(None) => {}
                        Ok(Some(reply)) => {
                            tracing::debug!(code = reply.code.get(), text = %reply.text(), "<--");
                            self.emit(&Trace::Received(reply.clone()));
                            return Ok(reply);
                        }
                        Err(e) => return Err(ClientError::Protocol(e.to_string())),
                    },
                }
            }
            let n = timeout(self.io_timeout, self.stream.read(&mut self.buf[..]))
                .await
                .map_err(|_| ClientError::Timeout("waiting for a reply"))??;
            if n == 0 {
                return Err(ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the control connection",
                )));
            }
            self.pos = 0;
            self.len = n;
        }
        Err(ClientError::Protocol("reply never ended".into()))
    }

    /// Reads replies until a final (non-1yz) one.
    pub(crate) async fn read_final(&mut self) -> Result<Reply, ClientError> {
        for _ in 0..64 {
            let reply = self.read_reply().await?;
            if !reply.is_preliminary() {
                return Ok(reply);
            }
        }
        Err(ClientError::Protocol(
            "too many preliminary replies".to_string(),
        ))
    }

    /// Sends `cmd` and returns its final reply with the display text of the command.
    pub(crate) async fn exchange(&mut self, cmd: &Command) -> Result<(String, Reply), ClientError> {
        let shown = self.send(cmd).await?;
        let reply = self.read_final().await?;
        Ok((shown, reply))
    }
}

/// `PASS anything` → `PASS ****` (case-insensitive verb); other lines unchanged.
pub(crate) fn mask(line: &str) -> String {
    let verb = line.split(' ').next().unwrap_or("");
    if verb.eq_ignore_ascii_case("PASS") {
        "PASS ****".to_string()
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn pass_is_masked() {
        assert_eq!(mask("PASS secret"), "PASS ****");
        assert_eq!(mask("pass secret word"), "PASS ****");
        assert_eq!(mask("PASS"), "PASS ****");
        assert_eq!(mask("PASSIVE"), "PASSIVE");
        assert_eq!(mask("USER alice"), "USER alice");
    }
}
