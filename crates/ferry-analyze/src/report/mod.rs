//! Renderers of an [`Analysis`] that need no terminal: the default text table
//! ([`table`]), the FtpViewer-style hex dump ([`hex`]), JSON lines ([`json`]) and a
//! self-contained HTML page with a ladder diagram per session ([`html`]).
//!
//! Every renderer writes to any [`std::io::Write`] and takes the same [`ReportOptions`].
//! Text from the capture is hostile: the table and hex outputs replace control characters
//! (a terminal escape sequence in a reply must not reach the terminal), the HTML output
//! escapes markup, and JSON is produced by `serde_json`.
//!
//! Times are shown, as Wireshark does, in seconds relative to the first frame of the
//! capture ([`relative_secs`]); JSON lines also carry absolute epoch seconds.

pub mod hex;
pub mod html;
pub mod json;
pub mod table;

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::{Analysis, CommandRecord, Session, TransferDirection};
use crate::Timestamp;

/// What the password of a `PASS` command and of a session is replaced with when masked.
pub const MASK: &str = "********";

/// Settings shared by the renderers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// Replace passwords with [`MASK`] (the `PASS` argument, [`Session::password`] and any
    /// occurrence of the password in finding details). Off by default: showing what went
    /// over the wire in cleartext is the tool's job.
    pub mask_passwords: bool,
    /// ANSI colours in the table output (the binary turns this on for terminals only).
    pub color: bool,
    /// At most this many messages (arrows) per session in the HTML ladder diagram; a note
    /// says how many were left out. Default 500.
    pub max_ladder_arrows: usize,
    /// At most this many lines of one multi-line reply in the table. Default 20.
    pub max_reply_lines: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            mask_passwords: false,
            color: false,
            max_ladder_arrows: 500,
            max_reply_lines: 20,
        }
    }
}

impl ReportOptions {
    /// The password of `session` as it may be shown.
    pub fn password<'a>(&self, session: &'a Session) -> Option<&'a str> {
        match session.password.as_deref() {
            Some(_) if self.mask_passwords => Some(MASK),
            other => other,
        }
    }

    /// A command's argument as it may be shown (`PASS` arguments masked when asked).
    pub fn arg<'a>(&self, command: &str, arg: Option<&'a str>) -> Option<&'a str> {
        match arg {
            Some(_) if self.mask_passwords && command.eq_ignore_ascii_case("PASS") => Some(MASK),
            other => other,
        }
    }

    /// A finding's detail with the session's password masked when asked.
    pub fn detail<'a>(
        &self,
        analysis: &Analysis,
        session: Option<u32>,
        detail: &'a str,
    ) -> Cow<'a, str> {
        if !self.mask_passwords {
            return Cow::Borrowed(detail);
        }
        let passwords: Vec<&str> = analysis
            .sessions
            .iter()
            .filter(|s| session.is_none() || Some(s.id) == session)
            .filter_map(|s| s.password.as_deref())
            .collect();
        self.mask_text(detail, &passwords)
    }

    /// `text` with every occurrence of the given passwords replaced by [`MASK`] when
    /// passwords are masked.
    pub fn mask_text<'a>(&self, text: &'a str, passwords: &[&str]) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        if !self.mask_passwords {
            return out;
        }
        for pw in passwords.iter().filter(|p| !p.is_empty()) {
            if out.contains(pw) {
                out = Cow::Owned(out.replace(pw, MASK));
            }
        }
        out
    }
}

/// Seconds from the first frame of the capture to `ts` (0 when the capture has none).
pub fn relative_secs(analysis: &Analysis, ts: Timestamp) -> f64 {
    match analysis.capture.first_ts {
        Some(first) => ts.saturating_since(first).as_secs_f64(),
        None => 0.0,
    }
}

/// A command line as sent: `VERB arg`.
pub fn command_line(opts: &ReportOptions, command: &str, arg: Option<&str>) -> String {
    match opts.arg(command, arg) {
        Some(arg) => format!("{command} {arg}"),
        None => command.to_string(),
    }
}

/// `download`, `upload` or `unknown`.
pub fn direction_str(direction: TransferDirection) -> &'static str {
    match direction {
        TransferDirection::Download => "download",
        TransferDirection::Upload => "upload",
        TransferDirection::Unknown => "unknown",
    }
}

/// Replaces control characters (C0, DEL, C1) with visible escapes (`\r`, `\n`, `\t`,
/// `\xNN`, `\u{NN}`), so capture text cannot drive the terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The first 12 hex digits of a SHA-256, or `-`.
pub fn short_hash(sha256: Option<&str>) -> &str {
    match sha256 {
        Some(h) => h.get(..12).unwrap_or(h),
        None => "-",
    }
}

/// One message of a session's control connection, in frame order: what the table rows and
/// the ladder arrows are made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Frame that carried it, when known.
    pub frame: Option<u64>,
    /// Its time, when known.
    pub ts: Option<Timestamp>,
    /// Sent by the control client (a command) rather than the server (a reply).
    pub from_client: bool,
    /// The command line or the reply (code and text; lines joined with `\n`).
    pub text: String,
    /// What the command or reply code means (empty when unknown).
    pub meaning: String,
    /// The reply code (replies only).
    pub code: Option<u16>,
}

/// The messages of one session in frame order: greeting, commands, their preliminary and
/// final replies, and unsolicited replies.
pub fn session_messages(session: &Session, opts: &ReportOptions) -> Vec<Message> {
    let mut out = Vec::with_capacity(session.commands.len() * 2 + 2);
    if let Some(greeting) = &session.greeting {
        let code = session.greeting_code.unwrap_or(220);
        out.push(Message {
            frame: session.greeting_frame,
            ts: session.greeting_ts,
            from_client: false,
            text: reply_text(code, greeting),
            meaning: ferry_proto::reply::meaning_of(code)
                .unwrap_or("")
                .to_string(),
            code: Some(code),
        });
    }
    for cmd in &session.commands {
        out.extend(command_messages(cmd, opts));
    }
    for (frame, code, msg) in &session.unsolicited_replies {
        out.push(Message {
            frame: Some(*frame),
            ts: None,
            from_client: false,
            text: reply_text(*code, msg),
            meaning: "reply with no command pending".to_string(),
            code: Some(*code),
        });
    }
    // Stable: messages without a frame stay right after the one before them.
    let mut last = 0u64;
    let mut keyed: Vec<(u64, usize, Message)> = out
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            if let Some(f) = m.frame {
                last = f;
            }
            (m.frame.unwrap_or(last), i, m)
        })
        .collect();
    keyed.sort_by_key(|(frame, i, _)| (*frame, *i));
    keyed.into_iter().map(|(_, _, m)| m).collect()
}

/// The messages of one command: the command, its preliminary replies and its final
/// reply.
pub fn command_messages(cmd: &CommandRecord, opts: &ReportOptions) -> Vec<Message> {
    let mut out = Vec::with_capacity(2 + cmd.preliminary.len());
    let mut text = command_line(opts, &cmd.command, cmd.arg.as_deref());
    if let Some(err) = &cmd.parse_error {
        text.push_str(&format!("  [not understood: {err}]"));
    }
    out.push(Message {
        frame: Some(cmd.frame),
        ts: Some(cmd.ts),
        from_client: true,
        text,
        meaning: cmd.meaning.to_string(),
        code: None,
    });
    for p in &cmd.preliminary {
        out.push(Message {
            frame: Some(p.frame),
            ts: Some(p.ts),
            from_client: false,
            text: reply_text(p.code, &p.text),
            meaning: ferry_proto::reply::meaning_of(p.code)
                .unwrap_or("")
                .to_string(),
            code: Some(p.code),
        });
    }
    if let Some(code) = cmd.reply_code {
        out.push(Message {
            frame: cmd.reply_frame,
            ts: cmd.reply_ts,
            from_client: false,
            text: reply_text(code, cmd.reply_msg.as_deref().unwrap_or("")),
            meaning: cmd.reply_meaning.unwrap_or("").to_string(),
            code: Some(code),
        });
    }
    out
}

/// `"226 Transfer complete"`: the code, then the text unless the text already starts with it.
fn reply_text(code: u16, msg: &str) -> String {
    let code_s = code.to_string();
    if msg.starts_with(&code_s) {
        msg.to_string()
    } else if msg.is_empty() {
        code_s
    } else {
        format!("{code_s} {msg}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_controls() {
        assert_eq!(printable("abc"), "abc");
        assert_eq!(printable("a\x1b[31mb\r\n"), "a\\x1b[31mb\\r\\n");
        assert_eq!(printable("x\u{9b}y"), "x\\u{9b}y");
    }

    #[test]
    fn reply_text_does_not_repeat_code() {
        assert_eq!(reply_text(226, "Done"), "226 Done");
        assert_eq!(reply_text(226, "226 Done"), "226 Done");
        assert_eq!(reply_text(200, ""), "200");
    }
}
