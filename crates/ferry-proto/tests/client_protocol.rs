//! Client protocol helpers: reply outcomes per command, the login state machine and
//! passive data addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ferry_proto::client::data_addr::is_unroutable_v4;
use ferry_proto::client::{
    classify, classify_greeting, classify_verb, epsv_target, pasv_target, DataAddrError, Login,
    LoginError, LoginStage, LoginStep, Outcome, PasvPolicy,
};
use ferry_proto::command::ListArgs;
use ferry_proto::reply::ReplyCode;
use ferry_proto::{Command, Password, Reply};
use proptest::prelude::*;

fn code(n: u16) -> ReplyCode {
    match ReplyCode::new(n) {
        Some(c) => c,
        None => panic!("bad code {n}"),
    }
}

// ---- Outcomes -------------------------------------------------------------------------

#[test]
fn login_sequence_outcomes() {
    let user = Command::User("alice".into());
    assert_eq!(classify(&user, code(331)), Outcome::Intermediate);
    assert_eq!(classify(&user, code(332)), Outcome::Intermediate);
    assert_eq!(classify(&user, code(230)), Outcome::Done);
    assert_eq!(classify(&user, code(232)), Outcome::Done);
    assert_eq!(classify(&user, code(530)), Outcome::PermanentFailure);
    assert_eq!(classify(&user, code(421)), Outcome::TransientFailure);
    assert_eq!(classify(&user, code(350)), Outcome::Unexpected);
    let pass = Command::Pass(Password::new("s"));
    assert_eq!(classify(&pass, code(230)), Outcome::Done);
    assert_eq!(classify(&pass, code(202)), Outcome::Done);
    assert_eq!(classify(&pass, code(332)), Outcome::Intermediate);
    assert_eq!(classify(&pass, code(331)), Outcome::Unexpected);
}

#[test]
fn rename_and_restart_outcomes() {
    let rnfr = Command::Rnfr("a".into());
    assert_eq!(classify(&rnfr, code(350)), Outcome::Intermediate);
    assert_eq!(classify(&rnfr, code(250)), Outcome::Unexpected);
    assert_eq!(classify(&rnfr, code(550)), Outcome::PermanentFailure);
    assert_eq!(
        classify(&Command::Rnto("b".into()), code(250)),
        Outcome::Done
    );
    assert_eq!(
        classify(&Command::Rest(100), code(350)),
        Outcome::Intermediate
    );
    assert_eq!(
        classify(&Command::Rest(100), code(200)),
        Outcome::Unexpected
    );
    assert_eq!(
        classify(&Command::Rest(100), code(502)),
        Outcome::PermanentFailure
    );
}

#[test]
fn transfer_outcomes() {
    let cmds = [
        Command::Retr("f".into()),
        Command::Stor("f".into()),
        Command::Appe("f".into()),
        Command::Stou(None),
        Command::List(ListArgs::default()),
        Command::Nlst(ListArgs::default()),
        Command::Mlsd(None),
    ];
    for cmd in &cmds {
        for (n, want) in [
            (150, Outcome::Preliminary),
            (125, Outcome::Preliminary),
            (110, Outcome::Preliminary),
            (226, Outcome::Done),
            (250, Outcome::Done),
            (425, Outcome::TransientFailure),
            (426, Outcome::TransientFailure),
            (451, Outcome::TransientFailure),
            (550, Outcome::PermanentFailure),
            (350, Outcome::Unexpected),
        ] {
            assert_eq!(classify(cmd, code(n)), want, "{} {n}", cmd.verb());
        }
    }
    assert!(!Outcome::Preliminary.is_final());
    assert!(Outcome::Done.is_final() && Outcome::Unexpected.is_final());
    assert!(Outcome::TransientFailure.is_failure() && !Outcome::Unexpected.is_failure());
}

#[test]
fn other_outcomes() {
    assert_eq!(
        classify(&Command::Cwd("/".into()), code(250)),
        Outcome::Done
    );
    assert_eq!(
        classify(&Command::Cwd("/".into()), code(150)),
        Outcome::Unexpected
    );
    assert_eq!(classify(&Command::Pwd, code(257)), Outcome::Done);
    assert_eq!(classify(&Command::Feat, code(211)), Outcome::Done);
    assert_eq!(
        classify(&Command::Feat, code(502)),
        Outcome::PermanentFailure
    );
    assert_eq!(
        classify(&Command::Auth("TLS".into()), code(234)),
        Outcome::Done
    );
    assert_eq!(
        classify(&Command::Auth("GSSAPI".into()), code(334)),
        Outcome::Intermediate
    );
    assert_eq!(classify(&Command::Rein, code(120)), Outcome::Preliminary);
    assert_eq!(classify(&Command::Rein, code(220)), Outcome::Done);
    assert_eq!(classify(&Command::Quit, code(221)), Outcome::Done);
    assert_eq!(classify(&Command::Pasv, code(227)), Outcome::Done);
    // Verbs Command does not model.
    assert_eq!(classify_verb("hash", code(213)), Outcome::Done);
    assert_eq!(classify_verb("XSHA256", code(250)), Outcome::Done);
    assert_eq!(classify_verb("XCRC", code(500)), Outcome::PermanentFailure);
    assert_eq!(classify_verb("ADAT", code(335)), Outcome::Intermediate);
    assert_eq!(classify_verb("SITE", code(350)), Outcome::Unexpected);
    // Greetings.
    assert_eq!(classify_greeting(code(220)), Outcome::Done);
    assert_eq!(classify_greeting(code(120)), Outcome::Preliminary);
    assert_eq!(classify_greeting(code(421)), Outcome::TransientFailure);
    assert_eq!(classify_greeting(code(530)), Outcome::PermanentFailure);
    assert_eq!(classify_greeting(code(230)), Outcome::Unexpected);
}

proptest! {
    /// Negative replies are failures for every command; the classes never mix.
    #[test]
    fn negative_replies_are_failures(n in 100u16..600, verb in "[A-Za-z]{3,8}") {
        let c = code(n);
        let o = classify_verb(&verb, c);
        match n / 100 {
            4 => prop_assert_eq!(o, Outcome::TransientFailure),
            5 => prop_assert_eq!(o, Outcome::PermanentFailure),
            1 => prop_assert!(matches!(o, Outcome::Preliminary | Outcome::Unexpected)),
            2 => prop_assert!(matches!(o, Outcome::Done | Outcome::Unexpected)),
            _ => prop_assert!(matches!(o, Outcome::Intermediate | Outcome::Unexpected)),
        }
    }
}

// ---- Login ----------------------------------------------------------------------------

fn r(n: u16, text: &str) -> Reply {
    Reply::new(n, text)
}

fn login(account: Option<&str>) -> Login {
    Login::new(
        "alice",
        Password::new("s3cret"),
        account.map(str::to_string),
    )
}

#[test]
fn login_user_pass() {
    let mut l = login(None);
    assert_eq!(l.stage(), Some(LoginStage::Greeting));
    assert_eq!(l.next_command(), None);
    assert_eq!(l.on_reply(&r(220, "hi")), Ok(LoginStep::Send));
    assert_eq!(l.next_command(), Some(Command::User("alice".into())));
    assert_eq!(l.next_command(), None, "each command once");
    assert_eq!(l.on_reply(&r(331, "password")), Ok(LoginStep::Send));
    let pass = l.next_command().unwrap();
    assert_eq!(pass.encode(), "PASS s3cret");
    assert_eq!(
        l.on_reply(&r(230, "in")),
        Ok(LoginStep::LoggedIn(code(230)))
    );
    assert!(l.is_logged_in() && l.stage().is_none());
    assert_eq!(l.next_command(), None);
    assert_eq!(
        l.on_reply(&r(200, "late")),
        Err(LoginError::NotWaiting { code: code(200) })
    );
}

#[test]
fn login_with_slow_greeting() {
    let mut l = login(None);
    assert_eq!(l.on_reply(&r(120, "in 5 minutes")), Ok(LoginStep::Wait));
    assert_eq!(l.next_command(), None);
    assert_eq!(l.on_reply(&r(220, "ready")), Ok(LoginStep::Send));
    assert!(matches!(l.next_command(), Some(Command::User(_))));
}

#[test]
fn login_without_password() {
    let mut l = Login::after_greeting("anonymous", Password::default(), None);
    assert_eq!(l.user(), "anonymous");
    assert!(matches!(l.next_command(), Some(Command::User(_))));
    assert_eq!(
        l.on_reply(&r(230, "ok")),
        Ok(LoginStep::LoggedIn(code(230)))
    );
}

#[test]
fn login_by_security_exchange() {
    // RFC 2228: a TLS client certificate maps to the user; USER answers 232.
    let mut l = Login::after_greeting("alice", Password::default(), None);
    l.next_command();
    assert_eq!(
        l.on_reply(&r(232, "cert ok")),
        Ok(LoginStep::LoggedIn(code(232)))
    );
}

#[test]
fn login_with_account() {
    let mut l = login(Some("acct1"));
    l.on_reply(&r(220, "")).unwrap();
    l.next_command();
    l.on_reply(&r(331, "")).unwrap();
    l.next_command();
    assert_eq!(l.on_reply(&r(332, "need account")), Ok(LoginStep::Send));
    assert_eq!(l.stage(), Some(LoginStage::Acct));
    assert_eq!(l.next_command(), Some(Command::Acct("acct1".into())));
    assert_eq!(l.on_reply(&r(230, "")), Ok(LoginStep::LoggedIn(code(230))));
    // 332 straight after USER.
    let mut l = login(Some("acct1"));
    l.on_reply(&r(220, "")).unwrap();
    l.next_command();
    assert_eq!(l.on_reply(&r(332, "")), Ok(LoginStep::Send));
    assert_eq!(l.next_command(), Some(Command::Acct("acct1".into())));
    assert_eq!(l.on_reply(&r(202, "")), Ok(LoginStep::LoggedIn(code(202))));
}

#[test]
fn login_failures() {
    // Wrong password.
    let mut l = login(None);
    l.on_reply(&r(220, "")).unwrap();
    l.next_command();
    l.on_reply(&r(331, "")).unwrap();
    l.next_command();
    let err = l.on_reply(&r(530, "Login incorrect.")).unwrap_err();
    assert_eq!(
        err,
        LoginError::Rejected {
            stage: LoginStage::Pass,
            code: code(530),
            text: "Login incorrect.".into()
        }
    );
    assert!(!err.is_transient() && err.code() == code(530));
    assert!(l.is_failed() && l.next_command().is_none());
    assert!(matches!(
        l.on_reply(&r(230, "")),
        Err(LoginError::NotWaiting { .. })
    ));

    // Server full at the greeting.
    let mut l = login(None);
    let err = l.on_reply(&r(421, "Too many users")).unwrap_err();
    assert!(err.is_transient());
    assert!(matches!(
        err,
        LoginError::Rejected {
            stage: LoginStage::Greeting,
            ..
        }
    ));

    // Account needed but none given.
    let mut l = login(None);
    l.on_reply(&r(220, "")).unwrap();
    l.next_command();
    assert!(matches!(
        l.on_reply(&r(332, "")),
        Err(LoginError::AccountRequired { .. })
    ));

    // Out-of-sequence replies.
    let mut l = login(None);
    assert!(matches!(
        l.on_reply(&r(230, "")),
        Err(LoginError::Unexpected {
            stage: LoginStage::Greeting,
            ..
        })
    ));
    let mut l = login(None);
    l.on_reply(&r(220, "")).unwrap();
    assert!(
        matches!(l.on_reply(&r(331, "")), Err(LoginError::NotWaiting { .. })),
        "USER not sent yet"
    );
    let mut l = login(None);
    l.on_reply(&r(220, "")).unwrap();
    l.next_command();
    assert!(matches!(
        l.on_reply(&r(350, "")),
        Err(LoginError::Unexpected {
            stage: LoginStage::User,
            ..
        })
    ));
    let mut l = login(None);
    l.on_reply(&r(220, "")).unwrap();
    l.next_command();
    l.on_reply(&r(331, "")).unwrap();
    l.next_command();
    assert!(matches!(
        l.on_reply(&r(331, "")),
        Err(LoginError::Unexpected {
            stage: LoginStage::Pass,
            ..
        })
    ));
}

#[test]
fn password_never_in_debug_or_errors() {
    let mut l = login(None);
    assert!(!format!("{l:?}").contains("s3cret"));
    l.on_reply(&r(220, "")).unwrap();
    l.next_command();
    l.on_reply(&r(331, "")).unwrap();
    let pass = l.next_command().unwrap();
    assert!(!format!("{pass:?}").contains("s3cret"));
    assert!(!format!("{l:?}").contains("s3cret"));
    let err = l.on_reply(&r(530, "no")).unwrap_err();
    assert!(!format!("{err:?} {err}").contains("s3cret"));
}

proptest! {
    /// Any reply sequence: the machine never panics, sends at most one command per reply,
    /// and stops after success or failure.
    #[test]
    fn login_never_panics(codes in proptest::collection::vec(100u16..600, 0..12)) {
        let mut l = login(Some("a"));
        let mut done = false;
        for n in codes {
            let _ = l.next_command();
            let res = l.on_reply(&r(n, "x"));
            if done {
                prop_assert!(res.is_err());
            }
            if matches!(res, Ok(LoginStep::LoggedIn(_)) | Err(_)) {
                done = true;
            }
        }
    }
}

// ---- Passive data addresses -----------------------------------------------------------

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

fn pasv(text: &str) -> Reply {
    r(227, text)
}

#[test]
fn pasv_policies() {
    let private = pasv("Entering Passive Mode (192,168,1,10,117,48).");
    let public_other = pasv("Entering Passive Mode (198,51,100,9,117,48)");
    let same = pasv("227 Entering Passive Mode (203,0,113,7,117,48)");
    let zero = pasv("Entering Passive Mode (0,0,0,0,117,48)");
    let port = 117 * 256 + 48;
    let at = |ip: [u8; 4]| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port);

    for reply in [&private, &public_other, &same, &zero] {
        assert_eq!(
            pasv_target(reply, PEER, PasvPolicy::UseControlPeer).unwrap(),
            at([203, 0, 113, 7])
        );
    }
    assert_eq!(PasvPolicy::default(), PasvPolicy::UseControlPeer);

    let fix = PasvPolicy::ReplaceUnroutable;
    assert_eq!(
        pasv_target(&private, PEER, fix).unwrap(),
        at([203, 0, 113, 7])
    );
    assert_eq!(pasv_target(&zero, PEER, fix).unwrap(), at([203, 0, 113, 7]));
    assert_eq!(
        pasv_target(&public_other, PEER, fix).unwrap(),
        at([198, 51, 100, 9])
    );
    assert_eq!(pasv_target(&same, PEER, fix).unwrap(), at([203, 0, 113, 7]));
    // A server on the LAN announcing its own private address is kept.
    let lan_peer = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
    assert_eq!(
        pasv_target(&private, lan_peer, fix).unwrap(),
        at([192, 168, 1, 10])
    );

    let trust = PasvPolicy::Trust;
    assert_eq!(
        pasv_target(&private, PEER, trust).unwrap(),
        at([192, 168, 1, 10])
    );
    assert_eq!(pasv_target(&zero, PEER, trust).unwrap(), at([0, 0, 0, 0]));
}

#[test]
fn pasv_with_ipv6_control_peer() {
    let reply = pasv("Entering Passive Mode (10,0,0,1,4,1)");
    let mapped = IpAddr::V6(Ipv4Addr::new(203, 0, 113, 7).to_ipv6_mapped());
    assert_eq!(
        pasv_target(&reply, mapped, PasvPolicy::UseControlPeer).unwrap(),
        SocketAddr::new(PEER, 1025)
    );
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(
        pasv_target(&reply, v6, PasvPolicy::UseControlPeer).unwrap(),
        SocketAddr::new(v6, 1025)
    );
}

#[test]
fn pasv_errors() {
    assert!(matches!(
        pasv_target(&r(500, "no"), PEER, PasvPolicy::Trust),
        Err(DataAddrError::WrongReply { expected: 227, .. })
    ));
    assert!(matches!(
        pasv_target(&pasv("Entering Passive Mode"), PEER, PasvPolicy::Trust),
        Err(DataAddrError::Addr(_))
    ));
}

#[test]
fn epsv_targets() {
    let reply = r(229, "Entering Extended Passive Mode (|||50000|)");
    assert_eq!(
        epsv_target(&reply, PEER).unwrap(),
        SocketAddr::new(PEER, 50000)
    );
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(epsv_target(&reply, v6).unwrap(), SocketAddr::new(v6, 50000));
    assert!(matches!(
        epsv_target(&r(227, "(1,2,3,4,5,6)"), PEER),
        Err(DataAddrError::WrongReply { expected: 229, .. })
    ));
    assert!(epsv_target(&r(229, "Entering Extended Passive Mode"), PEER).is_err());
}

#[test]
fn unroutable_addresses() {
    for ip in [
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "255.255.255.255",
        "240.0.0.1",
    ] {
        assert!(is_unroutable_v4(ip.parse().unwrap()), "{ip}");
    }
    for ip in [
        "8.8.8.8",
        "100.128.0.1",
        "172.32.0.1",
        "1.1.1.1",
        "192.0.2.1",
    ] {
        assert!(!is_unroutable_v4(ip.parse().unwrap()), "{ip}");
    }
}
