//! JSON lines (`ferry analyze --json`): one object per line, each with a `type` field, in
//! this order: for each session, its `session` line, its `command` lines and its `transfer`
//! lines; then every `finding`.
//!
//! Required keys (issue 5) and the extras:
//!
//! | type | keys |
//! |---|---|
//! | `session` | session, client, server, user, password, login (`success`/`failed`/`none`), tls (`none`/`declined`/`negotiated`); extras: first_frame, ts, time, mid_stream, greeting, commands, transfers, gaps, failed_logins |
//! | `command` | session, ts, command, arg, reply_code, reply_msg, cwd; extras: time, frame, reply_frame, meaning, reply_meaning, preliminary [{code, msg}], parse_error |
//! | `transfer` | session, command, path, setup (`PASV`/`EPSV`/`PORT`/`EPRT`), data_client, data_server, bytes, sha256, complete; extras: command_frame, setup_frame, direction (`download`/`upload`/`unknown`), first_frame, last_frame, ts, time, missing_bytes, reverse_bytes, announced_size, rest, data_type (TYPE in force: `A`, `I`, ...), tls, extracted_to, reply_code |
//! | `finding` | session, kind, detail; extras: severity (`info`/`low`/`medium`/`high`), frame |
//!
//! Conventions: addresses are `"ip:port"` strings (`"[v6]:port"` for IPv6); `ts` is a JSON
//! number, seconds since the Unix epoch with microsecond precision; `time` is seconds since
//! the capture's first frame (as Wireshark's relative time); a missing value is `null`
//! (e.g. `user` before any USER, `reply_code` of a command never answered, `sha256` of an
//! empty transfer, `session` of a brute-force finding that spans sessions). Masked
//! passwords read `"********"`.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::model::{Analysis, CommandRecord, Finding, Session, Transfer};
use crate::report::{direction_str, relative_secs, ReportOptions};
use crate::Timestamp;

/// Epoch seconds as a JSON number, rounded to the microsecond.
pub fn ts_value(ts: Timestamp) -> Value {
    let micros = ts.nanos / 1000;
    let value = ts.secs as f64 + f64::from(micros) / 1e6;
    // Round-trip through the decimal text so that the number prints with six decimals at most.
    format!("{value:.6}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Relative seconds as a JSON number (microseconds).
fn time_value(analysis: &Analysis, ts: Timestamp) -> Value {
    let t = (relative_secs(analysis, ts) * 1e6).round() / 1e6;
    serde_json::Number::from_f64(t).map_or(Value::Null, Value::Number)
}

/// The `session` object.
pub fn session_value(analysis: &Analysis, s: &Session, opts: &ReportOptions) -> Value {
    json!({
        "type": "session",
        "session": s.id,
        "client": s.client.to_string(),
        "server": s.server.to_string(),
        "user": s.user,
        "password": opts.password(s),
        "login": s.login.as_str(),
        "tls": s.tls.as_str(),
        "first_frame": s.first_frame,
        "ts": ts_value(s.first_ts),
        "time": time_value(analysis, s.first_ts),
        "end_ts": ts_value(s.last_ts),
        "mid_stream": s.mid_stream,
        "greeting": s.greeting,
        "greeting_code": s.greeting_code,
        "greeting_frame": s.greeting_frame,
        "commands": s.commands.len(),
        "transfers": s.transfers.len(),
        "gaps": s.gaps,
        "failed_logins": s.failed_logins,
    })
}

/// The `command` object.
pub fn command_value(
    analysis: &Analysis,
    session: u32,
    c: &CommandRecord,
    opts: &ReportOptions,
) -> Value {
    let preliminary: Vec<Value> = c
        .preliminary
        .iter()
        .map(|p| json!({ "code": p.code, "msg": p.text, "frame": p.frame, "ts": ts_value(p.ts) }))
        .collect();
    json!({
        "type": "command",
        "session": session,
        "ts": ts_value(c.ts),
        "time": time_value(analysis, c.ts),
        "frame": c.frame,
        "command": c.command,
        "arg": opts.arg(&c.command, c.arg.as_deref()),
        "reply_code": c.reply_code,
        "reply_msg": c.reply_msg,
        "reply_frame": c.reply_frame,
        "cwd": c.cwd,
        "meaning": c.meaning,
        "reply_meaning": c.reply_meaning,
        "preliminary": preliminary,
        "parse_error": c.parse_error,
    })
}

/// The `transfer` object.
pub fn transfer_value(analysis: &Analysis, t: &Transfer) -> Value {
    json!({
        "type": "transfer",
        "session": t.session,
        "command": t.command,
        "command_frame": t.command_frame,
        "path": t.path,
        "setup": t.setup.as_str(),
        "setup_frame": t.setup_frame,
        "data_client": t.data_client.to_string(),
        "data_server": t.data_server.to_string(),
        "direction": direction_str(t.direction),
        "first_frame": t.first_frame,
        "last_frame": t.last_frame,
        "ts": ts_value(t.first_ts),
        "time": time_value(analysis, t.first_ts),
        "end_ts": ts_value(t.last_ts),
        "bytes": t.bytes,
        "missing_bytes": t.missing_bytes,
        "reverse_bytes": t.reverse_bytes,
        "announced_size": t.announced_size,
        "sha256": t.sha256,
        "complete": t.complete,
        "rest": t.rest,
        "data_type": t.type_.to_string(),
        "tls": t.tls,
        "extracted_to": t.extracted_to.as_ref().map(|p| p.display().to_string()),
        "reply_code": t.reply_code,
    })
}

/// The `finding` object.
pub fn finding_value(analysis: &Analysis, f: &Finding, opts: &ReportOptions) -> Value {
    json!({
        "type": "finding",
        "session": f.session,
        "kind": f.kind.as_str(),
        "severity": f.severity.as_str(),
        "frame": f.frame,
        "detail": opts.detail(analysis, f.session, &f.detail),
    })
}

/// Writes one value as a line.
fn line<W: Write>(out: &mut W, value: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Writes the lines of one session (session, commands, transfers).
pub fn write_session<W: Write>(
    out: &mut W,
    analysis: &Analysis,
    s: &Session,
    opts: &ReportOptions,
) -> io::Result<()> {
    line(out, &session_value(analysis, s, opts))?;
    for c in &s.commands {
        line(out, &command_value(analysis, s.id, c, opts))?;
    }
    for t in &s.transfers {
        line(out, &transfer_value(analysis, t))?;
    }
    Ok(())
}

/// Writes the whole analysis as JSON lines.
pub fn write_json<W: Write>(
    out: &mut W,
    analysis: &Analysis,
    opts: &ReportOptions,
) -> io::Result<()> {
    for s in &analysis.sessions {
        write_session(out, analysis, s, opts)?;
    }
    for f in &analysis.findings {
        line(out, &finding_value(analysis, f, opts))?;
    }
    Ok(())
}
