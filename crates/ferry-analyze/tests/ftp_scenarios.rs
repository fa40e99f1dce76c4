//! The five generated scenarios: every fact of `baselines/generated/EXPECTED.tsv`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{analyze, baselines, Table};
use ferry_analyze::{DataSetup, FindingKind, LoginState, Session, TlsState};

const README_SHA: &str = "a52b5418add380c495bd8db51d328b20602f481f3a71bbf15e63a64452c756f9";

fn expected(scenario: &str, fact: &str) -> String {
    let t = Table::tsv(&baselines().join("generated/EXPECTED.tsv"));
    t.maps()
        .into_iter()
        .find(|r| r["scenario"] == scenario && r["fact"] == fact)
        .unwrap_or_else(|| panic!("no fact {scenario}/{fact}"))["value"]
        .clone()
}

fn cmd<'a>(s: &'a Session, verb: &str) -> Vec<&'a ferry_analyze::CommandRecord> {
    s.commands.iter().filter(|c| c.command == verb).collect()
}

#[test]
fn all_scenarios_server_and_file() {
    let server = expected("all", "server");
    assert!(server.contains("220 scenario FTP server ready."));
    let file = expected("all", "file pub/readme.txt");
    assert!(file.contains(README_SHA) && file.starts_with("37 bytes"));
    for name in [
        "anonymous",
        "auth-tls-declined",
        "bounce",
        "bruteforce",
        "pipelined",
    ] {
        let a = analyze(&format!("generated/scenario-{name}.pcap"));
        for s in &a.sessions {
            assert_eq!(s.server.to_string(), "127.0.0.1:21", "{name}");
            assert_eq!(
                s.greeting.as_deref(),
                Some("scenario FTP server ready."),
                "{name}"
            );
        }
        // Every RETR of readme.txt carried the file.
        for t in a.sessions.iter().flat_map(|s| &s.transfers) {
            if t.command == "RETR" {
                assert_eq!(t.path.as_deref(), Some("/pub/readme.txt"), "{name}");
                assert_eq!(t.bytes, 37, "{name}");
                assert_eq!(t.sha256.as_deref(), Some(README_SHA), "{name}");
                assert!(t.complete, "{name}");
            }
        }
    }
}

#[test]
fn anonymous() {
    let login = expected("anonymous", "login");
    assert!(login.contains("USER anonymous / PASS guest@example.com -> 230"));
    let a = analyze("generated/scenario-anonymous.pcap");
    let s = &a.sessions[0];
    assert_eq!(s.user.as_deref(), Some("anonymous"));
    assert_eq!(s.password.as_deref(), Some("guest@example.com"));
    assert_eq!(s.login, LoginState::Success);
    assert_eq!(cmd(s, "PASS")[0].reply_code, Some(230));
    let f: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::AnonymousLogin)
        .collect();
    assert_eq!(f.len(), 1);
    assert!(f[0].detail.contains("guest@example.com"));
    // transfers: LIST (PASV) and RETR readme.txt (PASV); cwd /pub
    assert!(expected("anonymous", "transfers").contains("LIST (PASV) and RETR readme.txt (PASV)"));
    let kinds: Vec<(&str, DataSetup, Option<&str>)> = s
        .transfers
        .iter()
        .map(|t| (t.command.as_str(), t.setup, t.path.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("LIST", DataSetup::Pasv, Some("/pub")),
            ("RETR", DataSetup::Pasv, Some("/pub/readme.txt"))
        ]
    );
    assert!(s.transfers.iter().all(|t| t.complete));
    assert_eq!(cmd(s, "RETR")[0].cwd, "/pub");
}

#[test]
fn auth_tls_declined() {
    assert!(expected("auth-tls-declined", "AUTH").contains("AUTH SSL -> 5xx and AUTH TLS -> 5xx"));
    let a = analyze("generated/scenario-auth-tls-declined.pcap");
    let s = &a.sessions[0];
    let auths: Vec<(Option<&str>, Option<u16>)> = cmd(s, "AUTH")
        .iter()
        .map(|c| (c.arg.as_deref(), c.reply_code))
        .collect();
    assert_eq!(auths.len(), 2);
    assert_eq!(auths[0].0, Some("SSL"));
    assert_eq!(auths[1].0, Some("TLS"));
    assert!(auths
        .iter()
        .all(|(_, c)| c.is_some_and(|c| (500..600).contains(&c))));
    assert_eq!(s.tls, TlsState::Declined);
    // login: USER benchuser / PASS benchpass -> 230 in cleartext
    assert!(
        expected("auth-tls-declined", "login").contains("USER benchuser / PASS benchpass -> 230")
    );
    assert_eq!(s.user.as_deref(), Some("benchuser"));
    assert_eq!(s.password.as_deref(), Some("benchpass"));
    assert_eq!(s.login, LoginState::Success);
    let kinds: Vec<FindingKind> = a.findings.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&FindingKind::TlsDeclined), "{kinds:?}");
    assert!(kinds.contains(&FindingKind::CleartextCredentials));
    assert!(!kinds.contains(&FindingKind::NoTls), "AUTH was tried");
    // transfers: RETR readme.txt via EPSV
    assert!(expected("auth-tls-declined", "transfers").contains("RETR readme.txt via EPSV"));
    assert_eq!(s.transfers.len(), 1);
    assert_eq!(s.transfers[0].setup, DataSetup::Epsv);
    assert_eq!(s.transfers[0].command, "RETR");
    // curl sends TYPE I and SIZE between EPSV and RETR: the link skips them.
    let epsv = cmd(s, "EPSV")[0].frame;
    let between: Vec<&str> = s
        .commands
        .iter()
        .filter(|c| c.frame > epsv && c.frame < s.transfers[0].command_frame)
        .map(|c| c.command.as_str())
        .collect();
    assert_eq!(between, ["TYPE", "SIZE"]);
    assert_eq!(s.transfers[0].announced_size, Some(37));
}

#[test]
fn bounce() {
    let a = analyze("generated/scenario-bounce.pcap");
    let s = &a.sessions[0];
    let bounces: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::BounceAttempt)
        .collect();
    for (fact, needle) in [
        ("PORT 127,0,0,2,0,80", "third-party address 127.0.0.2"),
        ("PORT 127,0,0,1,0,25", "privileged port 25"),
        ("EPRT |1|127.0.0.1|21|", "privileged port 21"),
    ] {
        let v = expected("bounce", fact);
        assert!(v.contains("501 refused"), "{v}");
        let (verb, arg) = fact.split_once(' ').unwrap();
        let c = s
            .commands
            .iter()
            .find(|c| c.command == verb && c.arg.as_deref() == Some(arg))
            .unwrap();
        assert_eq!(c.reply_code, Some(501), "{fact}");
        assert!(
            bounces
                .iter()
                .any(|f| f.detail.contains(needle) && f.detail.contains("refused (501")),
            "{fact}: {bounces:?}"
        );
    }
    assert_eq!(bounces.len(), 3);
    // then PORT (client's own address, unprivileged port) + RETR readme.txt succeeds
    assert!(expected("bounce", "transfers").contains("RETR readme.txt succeeds"));
    assert_eq!(s.transfers.len(), 1);
    let t = &s.transfers[0];
    assert_eq!((t.setup, t.command.as_str()), (DataSetup::Port, "RETR"));
    assert_eq!(t.data_server.ip(), s.client.ip());
    assert!(t.complete);
}

#[test]
fn bruteforce() {
    let v = expected("bruteforce", "failed logins");
    assert!(v.starts_with("25 x PASS guessNN -> 530 for user benchuser from 127.0.0.1"));
    let a = analyze("generated/scenario-bruteforce.pcap");
    let failed: Vec<_> = a
        .sessions
        .iter()
        .flat_map(|s| s.commands.iter())
        .filter(|c| c.command == "PASS" && c.reply_code == Some(530))
        .collect();
    assert_eq!(failed.len(), 25);
    assert!(failed
        .iter()
        .all(|c| c.arg.as_deref().is_some_and(|p| p.starts_with("guess"))));
    let failing_sessions = a.sessions.iter().filter(|s| s.failed_logins > 0).count();
    assert_eq!(failing_sessions, 9);
    assert!(a
        .sessions
        .iter()
        .filter(|s| s.failed_logins > 0)
        .all(|s| s.failed_logins <= 3 && s.user.as_deref() == Some("benchuser")));
    let bf: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::BruteForce)
        .collect();
    assert_eq!(bf.len(), 1);
    assert_eq!(bf[0].session, None);
    assert!(bf[0]
        .detail
        .starts_with("25 failed logins (530) from 127.0.0.1 over 9 session(s)"));
    // success: then USER benchuser / PASS benchpass -> 230 and RETR readme.txt (PASV)
    assert!(expected("bruteforce", "success").contains("PASS benchpass -> 230"));
    assert!(bf[0]
        .detail
        .contains("followed by a successful login as \"benchuser\""));
    let last = a.sessions.last().unwrap();
    assert_eq!(last.login, LoginState::Success);
    assert_eq!(last.password.as_deref(), Some("benchpass"));
    assert_eq!(last.transfers.len(), 1);
    assert_eq!(last.transfers[0].setup, DataSetup::Pasv);
}

#[test]
fn pipelined() {
    let a = analyze("generated/scenario-pipelined.pcap");
    let s = &a.sessions[0];
    // "USER benchuser\r\nPASS benchpass\r\nSYST\r\nPWD\r\n" in one TCP segment (4 commands)
    assert!(expected("pipelined", "segments").contains("(4 commands)"));
    let first4: Vec<(&str, Option<&str>, u64)> = s.commands[..4]
        .iter()
        .map(|c| (c.command.as_str(), c.arg.as_deref(), c.frame))
        .collect();
    let f = first4[0].2;
    assert_eq!(
        first4,
        [
            ("USER", Some("benchuser"), f),
            ("PASS", Some("benchpass"), f),
            ("SYST", None, f),
            ("PWD", None, f)
        ]
    );
    let codes: Vec<Option<u16>> = s.commands[..4].iter().map(|c| c.reply_code).collect();
    assert_eq!(codes, [Some(331), Some(230), Some(215), Some(257)]);
    // "SIZE re" and "adme.txt\r\n" in two segments = one command SIZE readme.txt -> 213 37
    assert!(expected("pipelined", "split command").contains("SIZE readme.txt -> 213 37"));
    let size = cmd(s, "SIZE");
    assert_eq!(size.len(), 1);
    assert_eq!(size[0].arg.as_deref(), Some("readme.txt"));
    assert_eq!(
        (size[0].reply_code, size[0].reply_msg.as_deref()),
        (Some(213), Some("37"))
    );
    assert!(s
        .commands
        .iter()
        .all(|c| c.parse_error.is_none() || c.command == "SITE"));
    // SITE EXEC /bin/id -> refused (5xx): attempt, not success
    assert!(expected("pipelined", "SITE EXEC").contains("refused (5xx)"));
    let site = cmd(s, "SITE");
    assert_eq!(site[0].arg.as_deref(), Some("EXEC /bin/id"));
    assert_eq!(site[0].reply_code, Some(500));
    let d: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::DangerousCommand)
        .collect();
    assert_eq!(d.len(), 1);
    assert!(d[0]
        .detail
        .contains("SITE EXEC /bin/id attempted: refused (500"));
}
