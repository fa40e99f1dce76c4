//! The default text output of `ferry analyze`: per session a header line (client → server,
//! user, login, TLS) and a table of its control messages (No. | Time | Source → Destination
//! | Message | Meaning), then the transfers table and the findings.
//!
//! `No.` is the frame number and `Time` the seconds since the capture's first frame, as in
//! Wireshark. Preliminary replies (1yz) have no recorded frame: their `No.` and `Time` are
//! blank. Multi-line replies continue on the next rows. Control characters from the capture
//! are shown escaped ([`super::printable`]); colours (ANSI) only with
//! [`ReportOptions::color`].

use std::io::{self, Write};

use crate::model::{Analysis, CommandRecord, Finding, Session, Severity, Transfer};
use std::net::SocketAddr;

use crate::report::{
    command_messages, printable, session_messages, short_hash, Message, ReportOptions,
};
use crate::Timestamp;

/// The widest the message column is padded to (longer messages push the meaning right).
pub const MESSAGE_WIDTH: usize = 56;

/// ANSI styles.
mod ansi {
    pub const RESET: &str = "\x1b[0m";
    pub const BOLD: &str = "\x1b[1m";
    pub const DIM: &str = "\x1b[2m";
    pub const RED: &str = "\x1b[31m";
    pub const GREEN: &str = "\x1b[32m";
    pub const YELLOW: &str = "\x1b[33m";
    pub const CYAN: &str = "\x1b[36m";
}

/// `text` in `style` when colours are on.
fn paint(opts: &ReportOptions, style: &str, text: &str) -> String {
    if opts.color && !text.is_empty() {
        format!("{style}{text}{}", ansi::RESET)
    } else {
        text.to_string()
    }
}

/// `text` padded with spaces to `width` characters (never cut).
fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n >= width {
        text.to_string()
    } else {
        format!("{text}{}", " ".repeat(width - n))
    }
}

/// Column widths of a message table.
#[derive(Debug, Clone, Copy)]
pub struct Widths {
    /// `Source → Destination` column.
    pub route: usize,
    /// `Message` column.
    pub message: usize,
}

impl Widths {
    /// Widths for a session: its two addresses, and its longest message up to
    /// [`MESSAGE_WIDTH`].
    pub fn for_session(ends: Ends, messages: &[Message]) -> Widths {
        let route = route(ends, true)
            .chars()
            .count()
            .max(route(ends, false).chars().count());
        let message = messages
            .iter()
            .map(|m| {
                printable(m.text.lines().next().unwrap_or(""))
                    .chars()
                    .count()
            })
            .max()
            .unwrap_or(0)
            .clamp(7, MESSAGE_WIDTH);
        Widths { route, message }
    }
}

/// `client → server` or `server → client`.
fn route(ends: Ends, from_client: bool) -> String {
    if from_client {
        format!("{} → {}", ends.client, ends.server)
    } else {
        format!("{} → {}", ends.server, ends.client)
    }
}

/// The two ends of a control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ends {
    /// The control client.
    pub client: SocketAddr,
    /// The control server.
    pub server: SocketAddr,
}

impl From<&Session> for Ends {
    fn from(s: &Session) -> Ends {
        Ends {
            client: s.client,
            server: s.server,
        }
    }
}

/// The header line of a session.
pub fn session_header(session: &Session, opts: &ReportOptions) -> String {
    let user = match (&session.user, opts.password(session)) {
        (Some(u), Some(p)) => format!("user {} (password {})", printable(u), printable(p)),
        (Some(u), None) => format!("user {}", printable(u)),
        (None, _) => "no user".to_string(),
    };
    let login = session.login.as_str();
    let login = match session.login {
        crate::model::LoginState::Success => paint(opts, ansi::GREEN, login),
        crate::model::LoginState::Failed => paint(opts, ansi::RED, login),
        crate::model::LoginState::None => login.to_string(),
    };
    let tls = session.tls.as_str();
    let tls = match session.tls {
        crate::model::TlsState::Negotiated => paint(opts, ansi::GREEN, tls),
        _ => paint(opts, ansi::YELLOW, tls),
    };
    let mut line = format!(
        "{}  {} → {}  {user}  login {login}  TLS {tls}",
        paint(opts, ansi::BOLD, &format!("Session {}", session.id)),
        session.client,
        session.server,
    );
    if session.mid_stream {
        line.push_str("  [started before the capture]");
    }
    if session.gaps > 0 {
        line.push_str(&format!("  [{} control bytes missing]", session.gaps));
    }
    line
}

/// The column titles of a message table.
pub fn message_title(widths: Widths, opts: &ReportOptions) -> String {
    let line = format!(
        "{:>6}  {:>11}  {}  {}  Meaning",
        "No.",
        "Time",
        pad("Source → Destination", widths.route),
        pad("Message", widths.message)
    );
    paint(opts, ansi::DIM, &line)
}

/// The rows of one message (more than one for a multi-line reply).
pub fn message_rows(
    ends: Ends,
    message: &Message,
    first_ts: Option<Timestamp>,
    widths: Widths,
    opts: &ReportOptions,
) -> Vec<String> {
    let no = message.frame.map(|f| f.to_string()).unwrap_or_default();
    let time = match (message.ts, first_ts) {
        (Some(ts), Some(first)) => format!("{:.6}", ts.saturating_since(first).as_secs_f64()),
        _ => String::new(),
    };
    let style = match message.code {
        None => ansi::CYAN,
        Some(c) if c >= 400 => ansi::RED,
        Some(c) if c >= 300 => ansi::YELLOW,
        Some(c) if c >= 200 => ansi::GREEN,
        Some(_) => "",
    };
    let mut lines = message.text.split('\n');
    let first = printable(lines.next().unwrap_or("").trim_end_matches('\r')).into_owned();
    let mut rows = vec![format!(
        "{no:>6}  {time:>11}  {}  {}  {}",
        pad(&route(ends, message.from_client), widths.route),
        paint(opts, style, &pad(&first, widths.message)),
        printable(&message.meaning)
    )];
    let indent = " ".repeat(6 + 2 + 11 + 2 + widths.route + 2);
    let rest: Vec<&str> = lines.collect();
    for (i, line) in rest.iter().enumerate() {
        if i >= opts.max_reply_lines {
            rows.push(format!("{indent}… ({} more lines)", rest.len() - i));
            break;
        }
        rows.push(format!(
            "{indent}{}",
            paint(opts, style, &printable(line.trim_end_matches('\r')))
        ));
    }
    rows
}

/// The rows of one command and its replies, for live output (`ferry capture`).
pub fn command_rows(
    ends: Ends,
    record: &CommandRecord,
    first_ts: Option<Timestamp>,
    opts: &ReportOptions,
) -> Vec<String> {
    let widths = Widths {
        route: Widths::for_session(ends, &[]).route,
        message: 40,
    };
    command_messages(record, opts)
        .iter()
        .flat_map(|m| message_rows(ends, m, first_ts, widths, opts))
        .collect()
}

/// The column titles of the transfers table.
pub fn transfer_title(opts: &ReportOptions) -> String {
    paint(
        opts,
        ansi::DIM,
        "Session  Command  Path                            Setup  Data connection                              Bytes  SHA-256       Complete",
    )
}

/// One row of the transfers table.
pub fn transfer_row(t: &Transfer, opts: &ReportOptions) -> String {
    let path = printable(t.path.as_deref().unwrap_or("-")).into_owned();
    let data = format!("{} → {}", t.data_client, t.data_server);
    let mut bytes = t.bytes.to_string();
    if t.missing_bytes > 0 {
        bytes.push_str(&format!(" (-{})", t.missing_bytes));
    }
    let complete = if t.complete {
        paint(opts, ansi::GREEN, "yes")
    } else {
        paint(opts, ansi::RED, "no")
    };
    let mut row = format!(
        "{:>7}  {}  {}  {}  {}  {:>10}  {}  {complete}",
        t.session,
        pad(&printable(&t.command), 7),
        pad(&path, 30),
        pad(t.setup.as_str(), 5),
        pad(&data, 43),
        bytes,
        pad(short_hash(t.sha256.as_deref()), 12),
    );
    if t.tls {
        row.push_str("  (TLS: content not readable)");
    }
    if let Some(p) = &t.extracted_to {
        row.push_str(&format!("  → {}", printable(&p.display().to_string())));
    }
    row
}

/// The column titles of the findings table.
pub fn finding_title(opts: &ReportOptions) -> String {
    paint(
        opts,
        ansi::DIM,
        "Severity  Kind                   Session   Frame  Detail",
    )
}

/// One row of the findings table, `detail` being the finding's detail as it may be shown
/// ([`ReportOptions::detail`]).
pub fn finding_row(f: &Finding, detail: &str, opts: &ReportOptions) -> String {
    let sev = pad(f.severity.as_str(), 8);
    let sev = match f.severity {
        Severity::High => paint(opts, ansi::RED, &sev),
        Severity::Medium => paint(opts, ansi::YELLOW, &sev),
        Severity::Low | Severity::Info => sev,
    };
    format!(
        "{sev}  {}  {:>7}  {:>6}  {}",
        pad(f.kind.as_str(), 21),
        f.session
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        f.frame.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
        printable(detail)
    )
}

/// Writes the whole table output.
pub fn write_table<W: Write>(
    out: &mut W,
    analysis: &Analysis,
    opts: &ReportOptions,
) -> io::Result<()> {
    let cap = &analysis.capture;
    let duration = match (cap.first_ts, cap.last_ts) {
        (Some(a), Some(b)) => format!(", {:.3} s", b.saturating_since(a).as_secs_f64()),
        _ => String::new(),
    };
    writeln!(
        out,
        "{}: {} frames{duration}, {} FTP session(s)",
        printable(&cap.name),
        cap.frames,
        analysis.sessions.len()
    )?;
    for s in &analysis.sessions {
        writeln!(out)?;
        writeln!(out, "{}", session_header(s, opts))?;
        let messages = session_messages(s, opts);
        let widths = Widths::for_session(Ends::from(s), &messages);
        writeln!(out, "{}", message_title(widths, opts))?;
        for m in &messages {
            for row in message_rows(Ends::from(s), m, cap.first_ts, widths, opts) {
                writeln!(out, "{row}")?;
            }
        }
    }
    let transfers: Vec<&Transfer> = analysis
        .sessions
        .iter()
        .flat_map(|s| &s.transfers)
        .collect();
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        paint(
            opts,
            ansi::BOLD,
            &format!("Transfers ({})", transfers.len())
        )
    )?;
    if !transfers.is_empty() {
        writeln!(out, "{}", transfer_title(opts))?;
        for t in transfers {
            writeln!(out, "{}", transfer_row(t, opts))?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        paint(
            opts,
            ansi::BOLD,
            &format!("Findings ({})", analysis.findings.len())
        )
    )?;
    if !analysis.findings.is_empty() {
        writeln!(out, "{}", finding_title(opts))?;
        for f in &analysis.findings {
            let detail = opts.detail(analysis, f.session, &f.detail);
            writeln!(out, "{}", finding_row(f, &detail, opts))?;
        }
    }
    if let Some(err) = &cap.error {
        writeln!(out)?;
        writeln!(
            out,
            "Capture error: {} (results above are partial)",
            printable(err)
        )?;
    }
    Ok(())
}
