//! The report renderers on a hand-built `Analysis`: exact hex dump layout, escaping of
//! hostile capture text in HTML, JSON and the table, password masking, the ladder's arrow
//! cap, and the JSON line types and enum spellings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use ferry_analyze::report::{self, ReportOptions, MASK};
use ferry_analyze::{
    Analysis, CaptureInfo, CommandRecord, DataSetup, Finding, FindingKind, LoginState, PacketKind,
    PacketRecord, Session, Severity, Timestamp, TlsState, Transfer, TransferDirection,
};
use serde_json::Value;

const HOSTILE: &str = "<script>alert('x')</script> & \"q\" \x1b[31mred";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::new(1_700_000_000 + ms / 1000, (ms % 1000) as u64 * 1_000_000)
}

fn command(frame: u64, verb: &str, arg: Option<&str>, code: u16, msg: &str) -> CommandRecord {
    CommandRecord {
        frame,
        ts: ts(frame as i64 * 10),
        command: verb.to_string(),
        arg: arg.map(str::to_string),
        reply_code: Some(code),
        reply_msg: Some(msg.to_string()),
        reply_frame: Some(frame + 1),
        reply_ts: Some(ts(frame as i64 * 10 + 5)),
        preliminary: Vec::new(),
        cwd: "/".to_string(),
        meaning: "a meaning",
        reply_meaning: Some("a reply meaning"),
        parse_error: None,
    }
}

fn transfer(session: u32) -> Transfer {
    Transfer {
        session,
        command: "RETR".to_string(),
        command_frame: 20,
        path: Some(format!("/pub/{HOSTILE}.txt")),
        setup: DataSetup::Pasv,
        setup_frame: 18,
        data_client: addr("10.0.0.1:40001"),
        data_server: addr("10.0.0.2:50000"),
        direction: TransferDirection::Download,
        first_frame: 19,
        last_frame: 25,
        first_ts: ts(190),
        last_ts: ts(250),
        bytes: 1234,
        missing_bytes: 0,
        reverse_bytes: 0,
        sha256: Some("ab".repeat(32)),
        complete: true,
        announced_size: Some(1234),
        rest: None,
        type_: 'I',
        tls: false,
        extracted_to: None,
        reply_code: Some(226),
    }
}

fn session(id: u32, commands: Vec<CommandRecord>) -> Session {
    Session {
        id,
        client: addr("10.0.0.1:40000"),
        server: addr("10.0.0.2:21"),
        first_frame: 1,
        first_ts: ts(0),
        last_ts: ts(300),
        mid_stream: false,
        user: Some("alice".to_string()),
        password: Some("s3cret-pw".to_string()),
        login: LoginState::Success,
        tls: TlsState::Declined,
        greeting: Some(format!("Welcome {HOSTILE}")),
        greeting_frame: Some(4),
        greeting_ts: None,
        greeting_code: Some(220),
        commands,
        transfers: vec![transfer(id)],
        gaps: 0,
        failed_logins: 0,
        unsolicited_replies: Vec::new(),
    }
}

fn analysis() -> Analysis {
    let mut cmds = vec![
        command(6, "USER", Some("alice"), 331, "Password required"),
        command(8, "PASS", Some("s3cret-pw"), 230, "Logged in"),
        command(10, "PWD", None, 257, &format!("\"/{HOSTILE}\" is cwd")),
        command(
            16,
            "PASV",
            None,
            227,
            "Entering Passive Mode (10,0,0,2,195,80)",
        ),
    ];
    let mut retr = command(20, "RETR", Some(&format!("{HOSTILE}.txt")), 226, "Done");
    retr.preliminary.push(ferry_analyze::PreliminaryReply {
        code: 150,
        text: "Opening".to_string(),
        frame: 20,
        ts: Default::default(),
    });
    cmds.push(retr);
    cmds.push(command(30, "FEAT", None, 211, "Features:\nMDTM\nSIZE\nEnd"));
    Analysis {
        capture: CaptureInfo {
            name: "hand-built.pcap".to_string(),
            frames: 40,
            first_ts: Some(ts(0)),
            last_ts: Some(ts(400)),
            ..CaptureInfo::default()
        },
        sessions: vec![session(1, cmds)],
        findings: vec![
            Finding {
                session: Some(1),
                kind: FindingKind::CleartextCredentials,
                severity: Severity::High,
                frame: Some(8),
                detail: "user alice sent password s3cret-pw in cleartext".to_string(),
            },
            Finding {
                session: None,
                kind: FindingKind::BruteForce,
                severity: Severity::Medium,
                frame: None,
                detail: format!("many failures {HOSTILE}"),
            },
        ],
        packets: vec![PacketRecord {
            frame: 8,
            ts: ts(80),
            session: Some(1),
            kind: PacketKind::Control,
            src: addr("10.0.0.1:40000"),
            dst: addr("10.0.0.2:21"),
            flags: "PSH, ACK".to_string(),
            seq: 1,
            ack: 1,
            payload: b"PASS s3cret-pw\r\n".to_vec(),
            payload_len: 16,
        }],
    }
}

fn render(f: impl Fn(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn hex_dump_layout_is_exact() {
    let a = analysis();
    let text = render(|o| report::hex::write_hex(o, &a, &ReportOptions::default()));
    assert_eq!(
        text,
        "Frame 8  0.080000s  10.0.0.1:40000 → 10.0.0.2:21  [PSH, ACK]  len 16  session 1 control\n\
         0000  50 41 53 53 20 73 33 63  72 65 74 2d 70 77 0d 0a  PASS s3cret-pw..\n\
         \n"
    );
    let bytes: Vec<u8> = (0u8..=40).collect();
    assert_eq!(
        report::hex::hex_dump(&bytes),
        "0000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  ................\n\
         0010  10 11 12 13 14 15 16 17  18 19 1a 1b 1c 1d 1e 1f  ................\n\
         0020  20 21 22 23 24 25 26 27  28                        !\"#$%&'(\n"
    );
}

#[test]
fn hex_dump_masks_pass_argument() {
    let a = analysis();
    let opts = ReportOptions {
        mask_passwords: true,
        ..ReportOptions::default()
    };
    let text = render(|o| report::hex::write_hex(o, &a, &opts));
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("PASS *********.."), "{text}");
}

#[test]
fn html_escapes_capture_text() {
    let a = analysis();
    let html = report::html::render(&a, &ReportOptions::default());
    assert!(
        !html.contains("<script>"),
        "raw markup from the capture reached the page"
    );
    assert!(!html.contains("alert('x')"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"));
    assert!(!html.contains('\x1b'), "control character reached the page");
    assert!(html.contains("\\x1b[31mred"));
    // Self-contained: no external resources.
    for needle in ["src=\"http", "href=\"http", "<link", "@import", "url(http"] {
        assert!(!html.contains(needle), "external resource: {needle}");
    }
    // The ladder: one svg per session, arrows for every message and the data connection.
    assert_eq!(html.matches("<svg class=\"ladder\"").count(), 1);
    // greeting + 6 commands + 6 final replies + 1 preliminary = 14 messages.
    let msgs = html.matches("<g class=\"msg ").count();
    assert_eq!(msgs, 14, "{html}");
    assert_eq!(html.matches("<g class=\"data open\"").count(), 1);
    assert_eq!(html.matches("<g class=\"data close\"").count(), 1);
    assert_eq!(html.matches("class=\"data-bar\"").count(), 1);
    assert!(html.contains("<table class=\"transfers\">"));
    assert!(html.contains("<table class=\"findings\">"));
    assert!(html.contains("s3cret-pw"), "passwords are shown by default");
}

#[test]
fn html_masks_passwords_everywhere() {
    let a = analysis();
    let opts = ReportOptions {
        mask_passwords: true,
        ..ReportOptions::default()
    };
    let html = report::html::render(&a, &opts);
    assert!(!html.contains("s3cret"), "password leaked");
    assert!(html.contains(MASK));
}

#[test]
fn html_caps_arrows_with_a_note() {
    let mut a = analysis();
    let many: Vec<CommandRecord> = (0..2000)
        .map(|i| command(100 + 2 * i, "NOOP", None, 200, "ok"))
        .collect();
    a.sessions[0].commands.extend(many);
    let opts = ReportOptions {
        max_ladder_arrows: 500,
        ..ReportOptions::default()
    };
    let html = report::html::render(&a, &opts);
    let drawn = html.matches("<g class=\"msg ").count() + html.matches("<g class=\"data ").count();
    assert_eq!(drawn, 500);
    assert!(
        html.contains("<p class=\"note\">Only the first 500 of"),
        "no note"
    );
}

#[test]
fn json_lines_types_keys_and_escaping() {
    let a = analysis();
    let text = render(|o| report::json::write_json(o, &a, &ReportOptions::default()));
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let types: Vec<&str> = lines.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "session", "command", "command", "command", "command", "command", "command",
            "transfer", "finding", "finding"
        ]
    );
    let s = &lines[0];
    assert_eq!(s["client"], "10.0.0.1:40000");
    assert_eq!(s["server"], "10.0.0.2:21");
    assert_eq!(s["login"], "success");
    assert_eq!(s["tls"], "declined");
    assert_eq!(s["password"], "s3cret-pw");
    assert_eq!(
        s["greeting"].as_str().unwrap(),
        format!("Welcome {HOSTILE}")
    );
    let pwd = &lines[3];
    assert_eq!(pwd["command"], "PWD");
    assert!(pwd["arg"].is_null());
    assert_eq!(pwd["reply_code"], 257);
    assert_eq!(
        pwd["reply_msg"].as_str().unwrap(),
        format!("\"/{HOSTILE}\" is cwd")
    );
    assert_eq!(pwd["ts"].as_f64().unwrap(), 1_700_000_000.1);
    let retr = &lines[5];
    assert_eq!(retr["preliminary"][0]["code"], 150);
    let t = &lines[7];
    assert_eq!(t["setup"], "PASV");
    assert_eq!(t["bytes"], 1234);
    assert_eq!(t["complete"], true);
    assert_eq!(t["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(t["path"].as_str().unwrap(), format!("/pub/{HOSTILE}.txt"));
    assert_eq!(lines[8]["kind"], "cleartext-credentials");
    assert_eq!(lines[8]["severity"], "high");
    assert_eq!(lines[9]["kind"], "brute-force");
    assert!(lines[9]["session"].is_null());
    // Raw control characters are escaped by JSON itself.
    assert!(!text.contains('\x1b'));
}

#[test]
fn json_masks_passwords() {
    let a = analysis();
    let opts = ReportOptions {
        mask_passwords: true,
        ..ReportOptions::default()
    };
    let text = render(|o| report::json::write_json(o, &a, &opts));
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains(&format!("\"password\":\"{MASK}\"")));
    assert!(text.contains(&format!("\"arg\":\"{MASK}\"")));
}

#[test]
fn table_rows_and_escaping() {
    let a = analysis();
    let text = render(|o| report::table::write_table(o, &a, &ReportOptions::default()));
    assert!(
        !text.contains('\x1b'),
        "escape sequence reached the terminal"
    );
    assert!(text.contains("Session 1  10.0.0.1:40000 → 10.0.0.2:21  user alice (password s3cret-pw)  login success  TLS declined"), "{text}");
    let pass_row = text
        .lines()
        .find(|l| l.contains("PASS s3cret-pw"))
        .expect("PASS row");
    assert!(pass_row.trim_start().starts_with("8 "), "{pass_row}");
    assert!(pass_row.contains("0.080000"), "{pass_row}");
    assert!(pass_row.contains("10.0.0.1:40000 → 10.0.0.2:21"));
    assert!(pass_row.contains("a meaning"));
    // Multi-line replies continue on their own rows.
    assert!(text.lines().any(|l| l.trim() == "MDTM"));
    assert!(text.contains("Transfers (1)"));
    assert!(text.contains("abababababab"));
    assert!(text.contains("Findings (2)"));
    assert!(text.contains("cleartext-credentials"));
    // Colours only when asked.
    let colored = render(|o| {
        report::table::write_table(
            o,
            &a,
            &ReportOptions {
                color: true,
                ..ReportOptions::default()
            },
        )
    });
    assert!(colored.contains("\x1b[32m"));
}
