//! `FERRY_DUMP=path cargo test -p ferry-analyze --test ftp_dump -- --ignored --nocapture`
//! prints the analysis of a capture (a debugging aid, ignored by default).
#![allow(clippy::unwrap_used)]

use ferry_analyze::{analyze_reader, AnalyzeOptions};

#[test]
#[ignore]
fn dump() {
    let Ok(path) = std::env::var("FERRY_DUMP") else {
        return;
    };
    let mut opts = AnalyzeOptions::default();
    if let Some(dir) = std::env::var("FERRY_EXTRACT")
        .ok()
        .filter(|d| !d.is_empty())
    {
        opts.extract_dir = Some(dir.into());
    }
    let file = std::fs::File::open(&path).unwrap();
    let (a, err) = analyze_reader(std::io::BufReader::new(file), &path, &opts);
    println!("error: {err:?}");
    for s in &a.sessions {
        println!(
            "session {} {} -> {} user={:?} pass={:?} login={} tls={} greeting={:?} gaps={} mid={}",
            s.id,
            s.client,
            s.server,
            s.user,
            s.password,
            s.login.as_str(),
            s.tls.as_str(),
            s.greeting,
            s.gaps,
            s.mid_stream
        );
        for c in &s.commands {
            println!(
                "  [{}] {} {:?} -> {:?} {:?} prelim={:?} cwd={} {}",
                c.frame,
                c.command,
                c.arg,
                c.reply_code,
                c.reply_msg
                    .as_deref()
                    .map(|m| m.chars().take(60).collect::<String>()),
                c.preliminary.iter().map(|p| p.0).collect::<Vec<_>>(),
                c.cwd,
                c.parse_error.as_deref().unwrap_or("")
            );
        }
        for u in &s.unsolicited_replies {
            println!("  unsolicited {u:?}");
        }
        for t in &s.transfers {
            println!(
                "  T {} {:?} {} {} -> {} bytes={} missing={} sha={:?} complete={} rest={:?} type={} reply={:?} frames {}..{} -> {:?}",
                t.command, t.path, t.setup.as_str(), t.data_client, t.data_server, t.bytes,
                t.missing_bytes, t.sha256, t.complete, t.rest, t.type_, t.reply_code,
                t.first_frame, t.last_frame, t.extracted_to
            );
        }
    }
    for f in &a.findings {
        println!(
            "F {:?} {} {:?} {:?}: {}",
            f.session, f.kind, f.severity, f.frame, f.detail
        );
    }
    println!("stats: {:?}", a.capture.stats);
}
