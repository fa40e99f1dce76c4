//! The FtpViewer-style dump (`ferry analyze --hex`): for each recorded FTP packet (control
//! and data, [`Analysis::packets`]), a header line then a classic hex dump of its payload.
//!
//! ```text
//! Frame 4  0.000215s  10.0.0.1:40000 → 10.0.0.2:21  [PSH, ACK]  len 14  session 1 control
//! 0000  55 53 45 52 20 61 6c 69  63 65 0d 0a              USER alice..
//! ```
//!
//! Dump lines: the offset (4 hex digits, more when needed), two spaces, 16 bytes in hex in
//! two groups of 8 separated by an extra space (missing bytes of the last line padded with
//! spaces), two spaces, then the bytes as ASCII with a dot for anything not printable.

use std::io::{self, Write};

use crate::model::{Analysis, PacketKind, PacketRecord};
use crate::report::{relative_secs, ReportOptions};

/// Bytes per dump line.
pub const BYTES_PER_LINE: usize = 16;

/// One dump line for `chunk` (at most 16 bytes) at `offset`, without a line ending.
pub fn dump_line(offset: usize, chunk: &[u8]) -> String {
    let mut line = String::with_capacity(80);
    line.push_str(&format!("{offset:04x}  "));
    for i in 0..BYTES_PER_LINE {
        if i == 8 {
            line.push(' ');
        }
        match chunk.get(i) {
            Some(b) => line.push_str(&format!("{b:02x} ")),
            None => line.push_str("   "),
        }
    }
    line.push(' ');
    line.extend(chunk.iter().take(BYTES_PER_LINE).map(|&b| ascii(b)));
    line
}

/// The ASCII column's character for a byte: itself when printable ASCII, else a dot.
pub fn ascii(b: u8) -> char {
    if b.is_ascii_graphic() || b == b' ' {
        char::from(b)
    } else {
        '.'
    }
}

/// The hex dump of `data`, one line per 16 bytes, each ending with `\n`.
pub fn hex_dump(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() / 16 * 80 + 80);
    for (i, chunk) in data.chunks(BYTES_PER_LINE).enumerate() {
        out.push_str(&dump_line(i * BYTES_PER_LINE, chunk));
        out.push('\n');
    }
    out
}

/// The header line of one packet (no line ending).
pub fn packet_header(analysis: &Analysis, p: &PacketRecord) -> String {
    let what = match (p.session, p.kind) {
        (Some(s), PacketKind::Control) => format!("  session {s} control"),
        (Some(s), PacketKind::Data(i)) => {
            let command = analysis
                .sessions
                .iter()
                .find(|x| x.id == s)
                .and_then(|x| x.transfers.get(i))
                .map(|t| format!(" ({})", t.command))
                .unwrap_or_default();
            format!("  session {s} data #{}{command}", i + 1)
        }
        (None, PacketKind::Control) => "  control".to_string(),
        (None, PacketKind::Data(i)) => format!("  data #{}", i + 1),
    };
    let cut = if p.payload.len() < p.payload_len {
        format!(" (first {} shown)", p.payload.len())
    } else {
        String::new()
    };
    format!(
        "Frame {}  {:.6}s  {} → {}  [{}]  len {}{cut}{what}",
        p.frame,
        relative_secs(analysis, p.ts),
        p.src,
        p.dst,
        p.flags,
        p.payload_len,
    )
}

/// Writes every recorded packet: header line, dump, blank line. Packets without payload
/// (handshake, ACKs) get their header line only. With [`ReportOptions::mask_passwords`],
/// the argument bytes of `PASS` lines in control packets are shown as `*`.
pub fn write_hex<W: Write>(
    out: &mut W,
    analysis: &Analysis,
    opts: &ReportOptions,
) -> io::Result<()> {
    for p in &analysis.packets {
        writeln!(out, "{}", packet_header(analysis, p))?;
        if !p.payload.is_empty() {
            let payload = shown_payload(p, opts);
            out.write_all(hex_dump(&payload).as_bytes())?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The payload of `p` as it may be shown: `PASS` arguments of control packets replaced by
/// `*` when passwords are masked.
pub fn shown_payload<'a>(p: &'a PacketRecord, opts: &ReportOptions) -> std::borrow::Cow<'a, [u8]> {
    if !opts.mask_passwords || p.kind != PacketKind::Control {
        return std::borrow::Cow::Borrowed(&p.payload);
    }
    let mut data = p.payload.clone();
    mask_pass_args(&mut data);
    std::borrow::Cow::Owned(data)
}

/// Replaces the argument of every `PASS ` line (case-insensitive) with `*` bytes.
pub fn mask_pass_args(data: &mut [u8]) {
    let mut line_start = 0;
    while line_start < data.len() {
        let rest = data.get(line_start..).unwrap_or(&[]);
        let line_len = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        if let Some(line) = data.get_mut(line_start..line_start + line_len) {
            let is_pass = line
                .get(..5)
                .is_some_and(|v| v.eq_ignore_ascii_case(b"PASS "));
            if is_pass {
                for b in line.iter_mut().skip(5) {
                    if *b != b'\r' && *b != b'\n' {
                        *b = b'*';
                    }
                }
            }
        }
        line_start += line_len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_layout() {
        let d = hex_dump(b"220 Welcome to Ferry\r\n");
        assert_eq!(
            d,
            "0000  32 32 30 20 57 65 6c 63  6f 6d 65 20 74 6f 20 46  220 Welcome to F\n\
             0010  65 72 72 79 0d 0a                                 erry..\n"
        );
        assert_eq!(hex_dump(b""), "");
        assert_eq!(dump_line(0x10000, &[0x7f]).get(..7), Some("10000  "));
    }

    #[test]
    fn pass_masked() {
        let mut d = b"USER a\r\nPASS s3cret\r\npass x\nPAS".to_vec();
        mask_pass_args(&mut d);
        assert_eq!(&d[..], b"USER a\r\nPASS ******\r\npass *\nPAS");
    }
}
