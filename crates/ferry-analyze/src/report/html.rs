//! `ferry analyze --html FILE`: one self-contained HTML page (inline CSS and SVG, no script,
//! no external resource) with, per session, a ladder (sequence) diagram of the control and
//! data connections, the session's transfers, and at the end every transfer and finding.
//!
//! The ladder: the control client and server are two vertical lanes; each command is an
//! arrow client → server and each reply an arrow server → client, labelled with its text
//! (the meaning is the arrow's tooltip). Data connections appear where they open (a dashed
//! arrow from the TCP initiator, labelled with the addresses and the setup command) and
//! where they close (a dashed arrow in the direction the bytes went, labelled with the
//! transfer command, path and bytes); a bar right of the server lane spans each data
//! connection's lifetime. At most [`ReportOptions::max_ladder_arrows`] arrows are drawn
//! per session, with a note saying how many were left out (the tables stay complete).
//!
//! Every text from the capture goes through [`escape`] (and control characters are shown
//! as escapes first), so a reply like `<script>` is shown, never run.
//!
//! Element classes tests and stylesheets can rely on: `svg.ladder` (id `ladder-N`),
//! `line.lane`, `g.msg.cmd` and `g.msg.reply` (each with a `line.arrow` and a `text`),
//! `g.data.open` and `g.data.close`, `rect.data-bar`, `table.transfers`, `table.findings`,
//! `p.note`.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::model::{Analysis, Session, Transfer, TransferDirection};
use crate::report::{
    direction_str, printable, relative_secs, session_messages, short_hash, Message, ReportOptions,
};

/// Escapes `& < > " '` for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Capture text made visible ([`printable`]) then escaped.
fn esc(text: &str) -> String {
    escape(&printable(text))
}

/// `text` cut to `max` characters with an ellipsis.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Geometry of the ladder.
const ROW: u64 = 26;
/// Space above the first arrow (lane titles).
const TOP: u64 = 56;
/// x of the client lane.
const CLIENT_X: u64 = 250;
/// x of the server lane.
const SERVER_X: u64 = 830;
/// x of the first data-connection bar.
const DATA_X: u64 = 870;
/// Horizontal distance between data bars.
const DATA_STEP: u64 = 12;
/// Data bars drawn side by side at most (more reuse the last slot).
const DATA_SLOTS: u64 = 16;
/// Characters of an arrow label.
const LABEL_CHARS: usize = 86;

/// The stylesheet.
const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.5em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccd}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
th,td{border:1px solid #ccd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eef1f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,monospace}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.15em 1em}dl.meta dt{font-weight:600}dl.meta dd{margin:0}
.sev-high{color:#b00020;font-weight:700}.sev-medium{color:#a15c00;font-weight:600}.sev-low{color:#4a5a00}.sev-info{color:#445}
.yes{color:#176f2c}.no{color:#b00020}
p.note{background:#fff7d6;border:1px solid #e8d27a;padding:.4em .6em}
svg.ladder{display:block;border:1px solid #dde;background:#fcfcfe;max-width:100%;height:auto}
svg.ladder text{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,monospace;font-size:12px}
svg.ladder .lane{stroke:#556;stroke-width:2}
svg.ladder .lane-title{font-weight:700;font-size:13px}
svg.ladder .cmd .arrow{stroke:#1f5fbf;stroke-width:1.4}svg.ladder .cmd text{fill:#1f4f9f}
svg.ladder .reply .arrow{stroke:#2f7d32;stroke-width:1.4}svg.ladder .reply text{fill:#24602a}
svg.ladder .reply.err .arrow{stroke:#b00020}svg.ladder .reply.err text{fill:#b00020}
svg.ladder .data .arrow{stroke:#8a3ffc;stroke-width:2;stroke-dasharray:6 4}svg.ladder .data text{fill:#6a2fc0}
svg.ladder .data-bar{fill:#8a3ffc;fill-opacity:.35;stroke:#8a3ffc}
svg.ladder .when{fill:#667;font-size:11px}
";

/// One row of the ladder.
enum Step<'a> {
    /// A command or reply.
    Msg(&'a Message),
    /// A data connection opening (index into the session's transfers).
    Open(usize),
    /// A data connection closing.
    Close(usize),
}

/// The ladder's rows in frame order.
fn steps<'a>(session: &Session, messages: &'a [Message]) -> Vec<Step<'a>> {
    let mut keyed: Vec<(u64, u8, usize, Step<'a>)> = Vec::with_capacity(messages.len() + 8);
    let mut last = 0;
    for (i, m) in messages.iter().enumerate() {
        if let Some(f) = m.frame {
            last = f;
        }
        keyed.push((last, 1, i, Step::Msg(m)));
    }
    for (i, t) in session.transfers.iter().enumerate() {
        keyed.push((t.first_frame, 0, i, Step::Open(i)));
        keyed.push((t.last_frame, 2, i, Step::Close(i)));
    }
    keyed.sort_by_key(|(frame, order, i, _)| (*frame, *order, *i));
    keyed.into_iter().map(|(_, _, _, s)| s).collect()
}

/// Whether `addr` is on the control client's side (same IP).
fn on_client_side(session: &Session, addr: std::net::SocketAddr) -> bool {
    addr.ip() == session.client.ip() && addr.ip() != session.server.ip() || addr == session.client
}

/// Writes the ladder diagram of one session as an inline `<svg>`.
pub fn write_ladder(
    out: &mut String,
    analysis: &Analysis,
    session: &Session,
    opts: &ReportOptions,
) {
    let messages = session_messages(session, opts);
    let all = steps(session, &messages);
    let total = all.len();
    let shown = total.min(opts.max_ladder_arrows);
    let rows = shown as u64;
    let height = TOP + rows * ROW + 30;
    let slots = (session.transfers.len() as u64).clamp(1, DATA_SLOTS);
    let width = DATA_X + slots * DATA_STEP + 20;
    let id = session.id;
    let _ = write!(
        out,
        "<svg class=\"ladder\" id=\"ladder-{id}\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"Ladder diagram of session {id}\">"
    );
    let _ = write!(
        out,
        "<defs>\
         <marker id=\"ah-{id}-c\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1f5fbf\"/></marker>\
         <marker id=\"ah-{id}-r\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#2f7d32\"/></marker>\
         <marker id=\"ah-{id}-e\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#b00020\"/></marker>\
         <marker id=\"ah-{id}-d\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#8a3ffc\"/></marker>\
         </defs>"
    );
    // Lanes and their titles.
    let lane_end = height - 10;
    let _ = write!(
        out,
        "<text class=\"lane-title\" x=\"{CLIENT_X}\" y=\"18\" text-anchor=\"middle\">client</text>\
         <text class=\"lane-title\" x=\"{CLIENT_X}\" y=\"34\" text-anchor=\"middle\">{}</text>\
         <text class=\"lane-title\" x=\"{SERVER_X}\" y=\"18\" text-anchor=\"middle\">server</text>\
         <text class=\"lane-title\" x=\"{SERVER_X}\" y=\"34\" text-anchor=\"middle\">{}</text>\
         <text class=\"lane-title\" x=\"{DATA_X}\" y=\"18\">data</text>\
         <line class=\"lane client\" x1=\"{CLIENT_X}\" y1=\"42\" x2=\"{CLIENT_X}\" y2=\"{lane_end}\"/>\
         <line class=\"lane server\" x1=\"{SERVER_X}\" y1=\"42\" x2=\"{SERVER_X}\" y2=\"{lane_end}\"/>",
        escape(&session.client.to_string()),
        escape(&session.server.to_string()),
    );
    let mut open_rows: Vec<Option<u64>> = vec![None; session.transfers.len()];
    let mut close_rows: Vec<Option<u64>> = vec![None; session.transfers.len()];
    let mid = (CLIENT_X + SERVER_X) / 2;
    for (row, step) in all.iter().take(shown).enumerate() {
        let y = TOP + row as u64 * ROW + 14;
        match step {
            Step::Msg(m) => {
                let when = when_label(analysis, m);
                let (class, marker, x1, x2) = if m.from_client {
                    ("msg cmd", 'c', CLIENT_X, SERVER_X)
                } else if m.code.is_some_and(|c| c >= 400) {
                    ("msg reply err", 'e', SERVER_X, CLIENT_X)
                } else {
                    ("msg reply", 'r', SERVER_X, CLIENT_X)
                };
                let mut lines = m.text.split('\n');
                let first = lines.next().unwrap_or("").trim_end_matches('\r');
                let more = lines.count();
                let mut label = cut(&printable(first), LABEL_CHARS);
                if more > 0 {
                    label.push_str(&format!(" (+{more} lines)"));
                }
                let title = if m.meaning.is_empty() {
                    esc(&m.text)
                } else {
                    format!("{}\n— {}", esc(&m.text), esc(&m.meaning))
                };
                let _ = write!(
                    out,
                    "<g class=\"{class}\"><title>{title}</title>\
                     <text class=\"when\" x=\"8\" y=\"{y}\">{}</text>\
                     <line class=\"arrow\" x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" marker-end=\"url(#ah-{id}-{marker})\"/>\
                     <text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
                    escape(&when),
                    y - 5,
                    escape(&label),
                );
            }
            Step::Open(i) => {
                open_rows[*i] = Some(y);
                if let Some(t) = session.transfers.get(*i) {
                    let (x1, x2) = if on_client_side(session, t.data_client) {
                        (CLIENT_X, SERVER_X)
                    } else {
                        (SERVER_X, CLIENT_X)
                    };
                    let label = format!(
                        "data #{} opens: {} → {} ({})",
                        i + 1,
                        t.data_client,
                        t.data_server,
                        t.setup.as_str()
                    );
                    let when = format!(
                        "#{} {:.3}",
                        t.first_frame,
                        relative_secs(analysis, t.first_ts)
                    );
                    let _ = write!(
                        out,
                        "<g class=\"data open\"><title>{}</title>\
                         <text class=\"when\" x=\"8\" y=\"{y}\">{}</text>\
                         <line class=\"arrow\" x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" marker-end=\"url(#ah-{id}-d)\"/>\
                         <text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
                        escape(&label),
                        escape(&when),
                        y - 5,
                        escape(&cut(&label, LABEL_CHARS)),
                    );
                }
            }
            Step::Close(i) => {
                close_rows[*i] = Some(y);
                if let Some(t) = session.transfers.get(*i) {
                    let (x1, x2) = match t.direction {
                        TransferDirection::Upload => (CLIENT_X, SERVER_X),
                        _ => (SERVER_X, CLIENT_X),
                    };
                    let label = close_label(*i, t);
                    let when = format!(
                        "#{} {:.3}",
                        t.last_frame,
                        relative_secs(analysis, t.last_ts)
                    );
                    let _ = write!(
                        out,
                        "<g class=\"data close\"><title>{}</title>\
                         <text class=\"when\" x=\"8\" y=\"{y}\">{}</text>\
                         <line class=\"arrow\" x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" marker-end=\"url(#ah-{id}-d)\"/>\
                         <text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
                        esc(&label),
                        escape(&when),
                        y - 5,
                        esc(&cut(&label, LABEL_CHARS)),
                    );
                }
            }
        }
    }
    // Data-connection lifetimes.
    for (i, t) in session.transfers.iter().enumerate() {
        let (top, bottom) = match (
            open_rows.get(i).copied().flatten(),
            close_rows.get(i).copied().flatten(),
        ) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) => (a, lane_end),
            _ => continue,
        };
        let x = DATA_X + (i as u64).min(DATA_SLOTS - 1) * DATA_STEP;
        let h = bottom.saturating_sub(top).max(4);
        let _ = write!(
            out,
            "<rect class=\"data-bar\" x=\"{x}\" y=\"{}\" width=\"8\" height=\"{h}\"><title>{}</title></rect>",
            top - 4,
            esc(&close_label(i, t)),
        );
    }
    out.push_str("</svg>");
    if shown < total {
        let _ = write!(
            out,
            "<p class=\"note\">Only the first {shown} of {total} messages and data-connection \
             events of this session are drawn; the tables list every transfer and finding.</p>"
        );
    }
}

/// `#frame time` of a message.
fn when_label(analysis: &Analysis, m: &Message) -> String {
    match (m.frame, m.ts) {
        (Some(f), Some(ts)) => format!("#{f} {:.3}", relative_secs(analysis, ts)),
        (Some(f), None) => format!("#{f}"),
        _ => String::new(),
    }
}

/// The label of a data connection's close arrow.
fn close_label(i: usize, t: &Transfer) -> String {
    let mut s = format!(
        "#{} {} {}: {} bytes {}",
        i + 1,
        t.command,
        t.path.as_deref().unwrap_or(""),
        t.bytes,
        match t.direction {
            TransferDirection::Download => "server → client",
            TransferDirection::Upload => "client → server",
            TransferDirection::Unknown => "(direction unknown)",
        }
    );
    if t.missing_bytes > 0 {
        s.push_str(&format!(", {} missing", t.missing_bytes));
    }
    s.push_str(if t.complete {
        ", complete"
    } else {
        ", incomplete"
    });
    s
}

/// Writes a transfers table.
fn transfers_table<'a>(out: &mut String, transfers: impl Iterator<Item = &'a Transfer>) {
    out.push_str(
        "<table class=\"transfers\"><thead><tr><th>Session</th><th>Command</th><th>Path</th>\
         <th>Setup</th><th>Data connection</th><th>Direction</th><th>Bytes</th><th>Missing</th>\
         <th>SHA-256</th><th>Complete</th><th>Frames</th></tr></thead><tbody>",
    );
    for t in transfers {
        let complete = if t.complete {
            "<td class=\"yes\">yes</td>"
        } else {
            "<td class=\"no\">no</td>"
        };
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td>\
             <td class=\"mono\">{} → {}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"mono\" title=\"{}\">{}</td>{complete}<td class=\"num\">{}–{}</td></tr>",
            t.session,
            esc(&t.command),
            esc(t.path.as_deref().unwrap_or("-")),
            t.setup.as_str(),
            escape(&t.data_client.to_string()),
            escape(&t.data_server.to_string()),
            direction_str(t.direction),
            t.bytes,
            t.missing_bytes,
            esc(t.sha256.as_deref().unwrap_or("")),
            esc(short_hash(t.sha256.as_deref())),
            t.first_frame,
            t.last_frame,
        );
    }
    out.push_str("</tbody></table>");
}

/// Renders the whole page.
pub fn render(analysis: &Analysis, opts: &ReportOptions) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let cap = &analysis.capture;
    let name = esc(&cap.name);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Ferry analysis: {name}</title><style>{CSS}</style></head><body>\
         <h1>FTP analysis of <code>{name}</code></h1>"
    );
    let duration = match (cap.first_ts, cap.last_ts) {
        (Some(a), Some(b)) => format!(", {:.3} s", b.saturating_since(a).as_secs_f64()),
        _ => String::new(),
    };
    let transfers: usize = analysis.sessions.iter().map(|s| s.transfers.len()).sum();
    let _ = write!(
        out,
        "<p class=\"summary\">{} frames{duration}; {} session(s), {transfers} transfer(s), {} finding(s).</p>",
        cap.frames,
        analysis.sessions.len(),
        analysis.findings.len()
    );
    if let Some(err) = &cap.error {
        let _ = write!(
            out,
            "<p class=\"note\">The capture could not be read to the end: {}. The results are partial.</p>",
            esc(err)
        );
    }
    if !analysis.sessions.is_empty() {
        out.push_str("<nav><ul>");
        for s in &analysis.sessions {
            let _ = write!(
                out,
                "<li><a href=\"#session-{id}\">Session {id}</a>: {} → {}</li>",
                escape(&s.client.to_string()),
                escape(&s.server.to_string()),
                id = s.id
            );
        }
        out.push_str("</ul></nav>");
    }
    for s in &analysis.sessions {
        let _ = write!(
            out,
            "<section class=\"session\" id=\"session-{id}\"><h2>Session {id}: {} → {}</h2><dl class=\"meta\">",
            escape(&s.client.to_string()),
            escape(&s.server.to_string()),
            id = s.id
        );
        let mut meta = |k: &str, v: String| {
            let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
        };
        meta(
            "User",
            s.user
                .as_deref()
                .map_or("-".into(), |u| format!("<code>{}</code>", esc(u))),
        );
        meta(
            "Password",
            opts.password(s)
                .map_or("-".into(), |p| format!("<code>{}</code>", esc(p))),
        );
        meta("Login", s.login.as_str().into());
        meta("TLS", s.tls.as_str().into());
        if let Some(g) = &s.greeting {
            meta("Greeting", format!("<code>{}</code>", esc(g)));
        }
        meta(
            "Frames",
            format!(
                "from #{} at {:.3} s to {:.3} s{}",
                s.first_frame,
                relative_secs(analysis, s.first_ts),
                relative_secs(analysis, s.last_ts),
                if s.mid_stream {
                    " (started before the capture)"
                } else {
                    ""
                }
            ),
        );
        meta("Commands", s.commands.len().to_string());
        if s.gaps > 0 {
            meta("Missing control bytes", s.gaps.to_string());
        }
        out.push_str("</dl>");
        write_ladder(&mut out, analysis, s, opts);
        // With one session the page-wide table below says the same: no repetition.
        if !s.transfers.is_empty() && analysis.sessions.len() > 1 {
            out.push_str("<h3>Transfers</h3>");
            transfers_table(&mut out, s.transfers.iter());
        }
        out.push_str("</section>");
    }
    let _ = write!(out, "<h2 id=\"transfers\">Transfers ({transfers})</h2>");
    if transfers > 0 {
        transfers_table(
            &mut out,
            analysis.sessions.iter().flat_map(|s| &s.transfers),
        );
    }
    let _ = write!(
        out,
        "<h2 id=\"findings\">Findings ({})</h2>",
        analysis.findings.len()
    );
    if !analysis.findings.is_empty() {
        out.push_str(
            "<table class=\"findings\"><thead><tr><th>Severity</th><th>Kind</th><th>Session</th>\
             <th>Frame</th><th>Detail</th></tr></thead><tbody>",
        );
        for f in &analysis.findings {
            let _ = write!(
                out,
                "<tr><td class=\"sev-{sev}\">{sev}</td><td><code>{}</code></td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td>{}</td></tr>",
                f.kind.as_str(),
                f.session.map_or("-".into(), |s| s.to_string()),
                f.frame.map_or("-".into(), |s| s.to_string()),
                esc(&opts.detail(analysis, f.session, &f.detail)),
                sev = f.severity.as_str(),
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str(
        "<footer><p>Generated by <code>ferry analyze</code>.</p></footer></body></html>\n",
    );
    out
}

/// Writes the page.
pub fn write_html<W: Write>(
    out: &mut W,
    analysis: &Analysis,
    opts: &ReportOptions,
) -> io::Result<()> {
    out.write_all(render(analysis, opts).as_bytes())
}
