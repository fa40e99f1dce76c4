#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use clap::Parser;

use crate::cli::{Cli, Command};

fn serve_args(argv: &[&str]) -> ServeArgs {
    let mut full = vec!["ferry", "serve"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full).unwrap().command {
        Command::Serve(args) => args,
        other => panic!("not serve: {other:?}"),
    }
}

fn file(text: &str) -> (RawServe, Vec<ConfigError>) {
    file::parse(Path::new("ferry.toml"), text)
}

fn messages(errors: &[ConfigError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

/// Validates with a fresh temporary root unless the raw config names one.
fn check(mut raw: RawServe) -> (Result<ServeSettings, ConfigErrors>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    if raw.root.is_none() {
        raw.root = Some(Located::flag("--root", dir.path().join("root")));
    }
    (validate(raw, None, Vec::new()), dir)
}

#[test]
fn user_password_may_contain_colons() {
    let u = parse_user("alice:se:cr:et").unwrap();
    assert_eq!(u.name, "alice");
    assert_eq!(u.password.expose(), "se:cr:et");
    assert_eq!(u.access, Access::ReadWrite);

    let u = parse_user("bob:a:b:ro").unwrap();
    assert_eq!(u.password.expose(), "a:b");
    assert_eq!(u.access, Access::ReadOnly);

    let u = parse_user("carol:x:ro:rw").unwrap();
    assert_eq!(u.password.expose(), "x:ro");
    assert_eq!(u.access, Access::ReadWrite);

    // `:ro` only counts as a suffix after a password.
    let u = parse_user("dave:ro").unwrap();
    assert_eq!(u.password.expose(), "ro");
    assert_eq!(u.access, Access::ReadWrite);
}

#[test]
fn bad_users_are_rejected_without_echoing_the_password() {
    assert!(parse_user("alice").is_err());
    assert!(parse_user(":secret").is_err());
    assert!(parse_user("alice::ro").is_err());
    assert!(parse_user("alice:").is_err());
    let e = parse_user("al ice:hunter2").unwrap_err();
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn port_ranges() {
    assert_eq!(parse_port_range("30000-30100").unwrap(), 30000..=30100);
    assert_eq!(parse_port_range("1024-1024").unwrap(), 1024..=1024);
    assert_eq!(parse_port_range("60000-65535").unwrap(), 60000..=65535);
    assert!(parse_port_range("5-1").unwrap_err().contains("1024"));
    assert!(parse_port_range("2000-1500").unwrap_err().contains("empty"));
    assert!(parse_port_range("2000-70000").is_err());
    assert!(parse_port_range("2000").is_err());
    assert!(parse_port_range("a-b").is_err());
}

#[test]
fn listen_addresses() {
    assert_eq!(
        parse_listen("[::1]:2121").unwrap(),
        "[::1]:2121".parse::<SocketAddr>().unwrap()
    );
    assert!(parse_listen("127.0.0.1").is_err());
    assert!(parse_listen("localhost:21").is_err());
}

#[test]
fn unknown_key_is_located() {
    let (_, errors) = file("listen = [\"127.0.0.1:2121\"]\n  colour = \"blue\"\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(
        text.starts_with("ferry.toml:2:3: colour: unknown key"),
        "{text}"
    );
}

#[test]
fn syntax_error_is_located() {
    let (_, errors) = file("root = \"x\"\nlisten = [\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(text.starts_with("ferry.toml:3:1: "), "{text}");
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn every_problem_is_reported_at_once_with_its_place() {
    let text = "\
listen = [\"127.0.0.1:2121\", \"nonsense\"]
passive_ports = \"5-1\"
idle_timeout = \"soon\"
bogus = 1
user = [\"alice:secret:rw\", \"nocolon\"]
log_format = \"xml\"
";
    let (raw, file_errors) = file(text);
    let dir = tempfile::tempdir().unwrap();
    let mut raw = raw;
    raw.root = Some(Located::flag("--root", dir.path().to_path_buf()));
    let errors = validate(raw, None, file_errors).unwrap_err().0;
    let got = messages(&errors);
    let expect = [
        "ferry.toml:3:16: idle_timeout: expected an integer",
        "ferry.toml:4:1: bogus: unknown key",
        "ferry.toml:1:29: listen: \"nonsense\" is not an ADDR:PORT",
        "ferry.toml:5:28: user: entry 2: expected NAME:PASSWORD",
        "ferry.toml:2:17: passive_ports: the lowest passive port must be at least 1024",
        "ferry.toml:6:14: log_format: expected human or json",
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for (g, e) in got.iter().zip(expect) {
        assert!(
            g.starts_with(e),
            "got {g:?}, expected it to start with {e:?}"
        );
    }
    assert!(!got.concat().contains("secret"));
}

#[test]
fn flags_and_file_problems_come_together() {
    let (raw_file, file_errors) = file("passive_ports = \"40000-30000\"\nwhat = true\n");
    let args = serve_args(&[
        "--passive-ports",
        "5-1",
        "--listen",
        "nope",
        "--idle-timeout",
        "0",
        "--anonymous",
        "maybe",
    ]);
    let mut raw = raw_file.overlay(RawServe::from_args(&args));
    let dir = tempfile::tempdir().unwrap();
    raw.root = Some(Located::flag("--root", dir.path().to_path_buf()));
    let got = messages(&validate(raw, None, file_errors).unwrap_err().0);
    // The flag overrides the file's bad range, so only the flag's range is reported.
    assert!(got
        .iter()
        .any(|m| m.starts_with("ferry.toml:2:1: what: unknown key")));
    assert!(got.iter().any(|m| m.starts_with("--passive-ports: ")));
    assert!(got.iter().any(|m| m.starts_with("--listen: ")));
    assert!(got.iter().any(|m| m.starts_with("--idle-timeout: ")));
    assert!(got.iter().any(|m| m.starts_with("--anonymous: ")));
    assert!(!got.iter().any(|m| m.contains("40000")), "{got:#?}");
    assert_eq!(got.len(), 5, "{got:#?}");
}

#[test]
fn command_line_overrides_file() {
    let (raw_file, errors) = file(
        "listen = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\ngreeting = \"from file\"\n\
         data_timeout = 7\nlog_format = \"json\"\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    let args = serve_args(&["--listen", "[::1]:2121", "--greeting", "from flag"]);
    let raw = raw_file.overlay(RawServe::from_args(&args));
    let (settings, _dir) = check(raw);
    let s = settings.unwrap();
    assert_eq!(s.listen, vec!["[::1]:2121".parse::<SocketAddr>().unwrap()]);
    assert_eq!(s.greeting.as_deref(), Some("from flag"));
    assert_eq!(s.data_timeout, Some(Duration::from_secs(7)));
    assert_eq!(s.log.format, LogFormat::Json);
}

#[test]
fn defaults() {
    let (settings, dir) = check(RawServe::from_args(&serve_args(&[])));
    let s = settings.unwrap();
    assert_eq!(
        s.listen,
        vec!["127.0.0.1:2121".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(s.anonymous, AnonymousMode::ReadOnly);
    assert_eq!(s.log.format, LogFormat::Human);
    assert_eq!(s.log.filter, "info");
    assert_eq!(s.passive_ports, None);
    assert!(s.root.is_absolute() && s.root.is_dir());
    assert_eq!(s.root, dir.path().join("root").canonicalize().unwrap());
}

#[test]
fn anonymous_defaults_to_off_when_users_exist() {
    let (settings, _dir) = check(RawServe::from_args(&serve_args(&["--user", "a:b"])));
    assert_eq!(settings.unwrap().anonymous, AnonymousMode::Off);
    let (settings, _dir) = check(RawServe::from_args(&serve_args(&[
        "--user",
        "a:b",
        "--anonymous",
        "rw",
    ])));
    assert_eq!(settings.unwrap().anonymous, AnonymousMode::ReadWrite);
}

#[test]
fn nobody_could_log_in_is_an_error() {
    let (settings, _dir) = check(RawServe::from_args(&serve_args(&["--anonymous", "off"])));
    let got = messages(&settings.unwrap_err().0);
    assert!(
        got[0].starts_with("--anonymous: anonymous access is off"),
        "{got:?}"
    );
}

#[test]
fn duplicate_users_are_errors() {
    let (settings, _dir) = check(RawServe::from_args(&serve_args(&[
        "--user", "a:b", "--user", "a:c:ro",
    ])));
    let got = messages(&settings.unwrap_err().0);
    assert_eq!(got, vec!["--user: user `a` is given twice".to_string()]);
}

#[test]
fn log_level_precedence() {
    let level = |argv: &[&str], file_text: &str, env: Option<&str>| {
        let (raw_file, errors) = file(file_text);
        assert!(errors.is_empty());
        let mut raw = raw_file.overlay(RawServe::from_args(&serve_args(argv)));
        let dir = tempfile::tempdir().unwrap();
        raw.root = Some(Located::flag("--root", dir.path().to_path_buf()));
        validate(raw, env.map(str::to_string), Vec::new())
            .unwrap()
            .log
            .filter
    };
    assert_eq!(level(&[], "", None), "info");
    assert_eq!(level(&[], "log_level = \"warn\"", None), "warn");
    assert_eq!(level(&[], "log_level = \"warn\"", Some("debug")), "debug");
    assert_eq!(
        level(
            &["--log-level", "trace"],
            "log_level = \"warn\"",
            Some("debug")
        ),
        "trace"
    );
}

#[test]
fn relative_paths_in_the_file_are_relative_to_it() {
    let (raw, errors) = file::parse(Path::new("/etc/ferry/ferry.toml"), "root = \"srv\"\n");
    assert!(errors.is_empty());
    assert_eq!(raw.root.unwrap().value, PathBuf::from("/etc/ferry/srv"));
    let (raw, _) = file::parse(Path::new("/etc/ferry/ferry.toml"), "root = \"/srv/ftp\"\n");
    assert_eq!(raw.root.unwrap().value, PathBuf::from("/srv/ftp"));
}

#[test]
fn wrong_types_and_datetimes_are_located() {
    let (_, errors) = file("root = 5\nlisten = 1979-05-27\ngreeting = [\"x\"]\n");
    let got = messages(&errors);
    assert_eq!(
        got,
        vec![
            "ferry.toml:1:8: root: expected a string, found an integer",
            "ferry.toml:2:10: listen: expected an array of strings, found a datetime",
            "ferry.toml:3:12: greeting: expected a string, found an array",
        ],
        "{got:#?}"
    );
}

#[test]
fn seconds_and_greeting() {
    assert_eq!(parse_seconds("30", 1).unwrap(), Duration::from_secs(30));
    assert!(parse_seconds("0", 1).is_err());
    assert_eq!(parse_seconds("0", 0).unwrap(), Duration::ZERO);
    assert!(parse_seconds("-1", 0).is_err());
    assert!(parse_seconds("99999999999", 0).is_err());
    assert!(check_greeting("hello\r\n230 fake").is_err());
    assert!(check_greeting("Welcome to Ferry").is_ok());
}

#[test]
fn public_host() {
    assert_eq!(
        resolve_host("192.0.2.7").unwrap(),
        "192.0.2.7".parse::<IpAddr>().unwrap()
    );
    assert!(resolve_host("0.0.0.0").is_err());
    assert!(resolve_host("localhost").unwrap().is_loopback());
}

#[test]
fn debug_output_never_shows_passwords() {
    let args = serve_args(&["--user", "alice:hunter2:ro"]);
    let raw = RawServe::from_args(&args);
    let text = format!("{args:?} {raw:?}");
    assert!(!text.contains("hunter2"), "{text}");
    let (settings, _dir) = check(raw);
    let text = format!("{:?}", settings.unwrap());
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("alice"), "{text}");
}

#[test]
fn line_col_counts_characters() {
    let text = "a\néé = 1\n";
    assert_eq!(file::line_col(text, 0), (1, 1));
    assert_eq!(file::line_col(text, 2), (2, 1));
    assert_eq!(file::line_col(text, 2 + "éé".len()), (2, 3));
}
