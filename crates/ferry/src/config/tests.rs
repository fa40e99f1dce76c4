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
fn listing_cache_size() {
    let (settings, _dir) = check(RawServe::from_args(&serve_args(&[])));
    assert_eq!(settings.unwrap().ops.listing_cache_bytes, 32 << 20);
    let (raw_file, errors) = file("listing_cache_mib = 0\n");
    assert!(errors.is_empty(), "{errors:?}");
    let (settings, _dir) = check(raw_file);
    assert_eq!(
        settings.unwrap().ops.listing_cache_bytes,
        0,
        "0 turns it off"
    );
    let args = serve_args(&["--listing-cache-mib", "100000"]);
    let (settings, _dir) = check(RawServe::from_args(&args));
    let errors = messages(&settings.unwrap_err().0);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("--listing-cache-mib") && e.contains("out of range")),
        "{errors:?}"
    );
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

// ---- FTPS ----

/// Validates `argv` (plus `file_text` as the config file) with a temporary root and state
/// directory; returns the settings or the error messages.
fn tls_check(argv: &[&str], file_text: &str) -> Result<ServeSettings, Vec<String>> {
    let (raw_file, file_errors) = file(file_text);
    let mut raw = raw_file.overlay(RawServe::from_args(&serve_args(argv)));
    let dir = tempfile::tempdir().unwrap();
    raw.root = Some(Located::flag("--root", dir.path().join("root")));
    if raw.state_dir.is_none() {
        raw.state_dir = Some(Located::flag("--state-dir", dir.path().join("state")));
    }
    validate(raw, None, file_errors).map_err(|e| messages(&e.0))
}

fn tls_errors(argv: &[&str], file_text: &str) -> Vec<String> {
    match tls_check(argv, file_text) {
        Ok(s) => panic!("expected errors, got {s:?}"),
        Err(errors) => errors,
    }
}

/// Writes two small files to use as `--cert`/`--key`/`--client-ca` (their content is only
/// read at start, not by validation).
fn pem_files() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, "cert").unwrap();
    std::fs::write(&key, "key").unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    (dir, s(&cert), s(&key))
}

#[test]
fn tls_defaults_on_loopback() {
    let s = tls_check(&[], "").unwrap();
    let t = &s.tls;
    assert_eq!(t.mode, TlsMode::Optional);
    assert!(t.mode_is_default);
    assert!(t.policy.available);
    assert!(!t.policy.required_for_login);
    assert!(t.policy.anonymous_exempt);
    assert!(!t.policy.require_data_protection);
    assert!(!t.policy.allow_ccc);
    assert_eq!(t.session_reuse, ferry_server::SessionReuse::Accept);
    assert!(t.implicit_listen.is_empty());
    let m = t.material.as_ref().unwrap();
    assert!(m.self_signed_dir().is_some());
    assert_eq!(m.options.client_auth, ferry_server::tls::ClientAuth::Off);
    assert!(m.options.client_users.is_empty());
    assert!(!m.options.keylog);

    let s = tls_check(&["--listen", "[::1]:2121", "--listen", "127.0.0.2:21"], "").unwrap();
    assert_eq!(s.tls.mode, TlsMode::Optional);
}

#[test]
fn tls_defaults_to_required_on_other_addresses() {
    for argv in [
        &["--listen", "0.0.0.0:2121"][..],
        &["--listen", "[::]:2121"],
        &["--listen", "127.0.0.1:2121", "--listen", "192.0.2.1:21"],
        &["--implicit-listen", "0.0.0.0:990"],
    ] {
        // 192.0.2.1 is not ours: validation does not bind.
        let s = tls_check(argv, "").unwrap();
        assert_eq!(s.tls.mode, TlsMode::Required, "{argv:?}");
        assert!(s.tls.mode_is_default);
        assert!(s.tls.policy.required_for_login, "{argv:?}");
        assert!(s.tls.policy.anonymous_exempt, "{argv:?}");
    }
    // Written explicitly, the choice wins.
    let s = tls_check(&["--listen", "0.0.0.0:2121", "--tls", "optional"], "").unwrap();
    assert_eq!(s.tls.mode, TlsMode::Optional);
    assert!(!s.tls.mode_is_default);
    assert!(!s.tls.policy.required_for_login);
}

#[test]
fn self_signed_names_include_public_host_and_specific_addresses() {
    let s = tls_check(
        &[
            "--listen",
            "0.0.0.0:21",
            "--listen",
            "192.0.2.1:21",
            "--implicit-listen",
            "127.0.0.1:990",
            "--public-host",
            "localhost",
        ],
        "",
    )
    .unwrap();
    match &s.tls.material.unwrap().options.source {
        ferry_server::tls::CertSource::SelfSigned { names, state_dir } => {
            assert_eq!(names, &["localhost".to_string(), "192.0.2.1".to_string()]);
            assert!(state_dir.is_absolute());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tls_off_has_no_material_and_no_tls_policy() {
    let s = tls_check(&["--tls", "off"], "").unwrap();
    assert_eq!(s.tls.mode, TlsMode::Off);
    assert!(s.tls.material.is_none());
    assert!(!s.tls.policy.available);
    assert!(!s.tls.policy.required_for_login);
    // Off on a public address too.
    let s = tls_check(&["--tls", "OFF", "--listen", "0.0.0.0:21"], "").unwrap();
    assert_eq!(s.tls.mode, TlsMode::Off);
}

#[test]
fn every_tls_key_from_the_file() {
    let (_pems, cert, key) = pem_files();
    let text = format!(
        "tls = \"required\"\n\
         tls_anonymous = \"required\"\n\
         tls_data = \"required\"\n\
         allow_ccc = true\n\
         cert = \"{cert}\"\n\
         key = \"{key}\"\n\
         state_dir = \"/var/lib/ferry\"\n\
         implicit_listen = [\"127.0.0.1:990\", \"[::1]:990\"]\n\
         tls_session_reuse = \"require\"\n\
         client_ca = \"{cert}\"\n\
         client_cert = \"request\"\n\
         client_cert_user = [\"alice:CN=alice,O=Example\", \"bob:CN=bob=x\"]\n\
         user = [\"alice:pw\", \"bob:pw\"]\n"
    );
    let s = tls_check(&[], &text).unwrap();
    let t = s.tls;
    assert_eq!(t.mode, TlsMode::Required);
    assert_eq!(
        t.policy,
        ferry_server::TlsPolicy {
            available: true,
            required_for_login: true,
            anonymous_exempt: false,
            require_data_protection: true,
            allow_ccc: true,
        }
    );
    assert_eq!(t.session_reuse, ferry_server::SessionReuse::Require);
    assert_eq!(
        t.implicit_listen,
        vec![
            "127.0.0.1:990".parse::<SocketAddr>().unwrap(),
            "[::1]:990".parse().unwrap()
        ]
    );
    let m = t.material.unwrap();
    assert_eq!(
        m.options.source,
        ferry_server::tls::CertSource::Files {
            cert: PathBuf::from(&cert),
            key: PathBuf::from(&key)
        }
    );
    assert_eq!(m.options.client_ca, Some(PathBuf::from(&cert)));
    assert_eq!(
        m.options.client_auth,
        ferry_server::tls::ClientAuth::Request
    );
    let users: Vec<(&str, &str)> = m
        .options
        .client_users
        .iter()
        .map(|(s, u)| (s.as_str(), u.as_str()))
        .collect();
    assert_eq!(
        users,
        vec![("CN=alice,O=Example", "alice"), ("CN=bob=x", "bob")]
    );
}

#[test]
fn every_tls_flag() {
    let (_pems, cert, key) = pem_files();
    let s = tls_check(
        &[
            "--tls",
            "required",
            "--tls-anonymous",
            "required",
            "--tls-data",
            "required",
            "--allow-ccc",
            "--cert",
            &cert,
            "--key",
            &key,
            "--implicit-listen",
            "127.0.0.1:990",
            "--tls-session-reuse",
            "off",
            "--client-ca",
            &cert,
            "--client-cert",
            "require",
            "--client-cert-user",
            "alice:CN=alice",
            "--user",
            "alice:pw",
        ],
        "",
    )
    .unwrap();
    let t = s.tls;
    assert!(t.policy.required_for_login && !t.policy.anonymous_exempt);
    assert!(t.policy.require_data_protection && t.policy.allow_ccc);
    assert_eq!(t.session_reuse, ferry_server::SessionReuse::Off);
    let m = t.material.unwrap();
    assert_eq!(m.cert_file(), Some(Path::new(&cert)));
    assert_eq!(
        m.options.client_auth,
        ferry_server::tls::ClientAuth::Require
    );
    assert_eq!(
        m.options.client_users.get("CN=alice").map(String::as_str),
        Some("alice")
    );
}

#[test]
fn tls_flags_override_the_file() {
    let text = "tls = \"required\"\ntls_data = \"required\"\nallow_ccc = true\n\
                tls_session_reuse = \"require\"\n";
    let s = tls_check(&["--tls", "optional", "--tls-data", "optional"], text).unwrap();
    assert_eq!(s.tls.mode, TlsMode::Optional);
    assert!(!s.tls.policy.require_data_protection);
    // Not overridden: the file's values.
    assert!(s.tls.policy.allow_ccc);
    assert_eq!(s.tls.session_reuse, ferry_server::SessionReuse::Require);
    // The file can say no to CCC explicitly.
    let s = tls_check(&[], "allow_ccc = false\n").unwrap();
    assert!(!s.tls.policy.allow_ccc);
}

#[test]
fn bad_tls_enum_values_are_all_reported() {
    let got = tls_errors(
        &[
            "--tls",
            "maybe",
            "--tls-anonymous",
            "yes",
            "--tls-data",
            "private",
            "--tls-session-reuse",
            "always",
            "--client-cert",
            "optional",
        ],
        "",
    );
    let expect = [
        "--tls: expected off, optional or required, found \"maybe\"",
        "--tls-anonymous: expected exempt or required, found \"yes\"",
        "--tls-data: expected optional or required, found \"private\"",
        "--tls-session-reuse: expected off, accept or require, found \"always\"",
        "--client-cert: expected off, request or require, found \"optional\"",
    ];
    assert_eq!(got, expect, "{got:#?}");
}

#[test]
fn bad_tls_values_in_the_file_are_located() {
    let text = "tls = \"on\"\nallow_ccc = \"yes\"\nimplicit_listen = [\"nope\"]\n\
                client_cert = 1\ncert = true\n";
    let got = tls_errors(&[], text);
    let expect = [
        "ferry.toml:2:13: allow_ccc: expected true or false, found a string",
        "ferry.toml:4:15: client_cert: expected a string, found an integer",
        "ferry.toml:5:8: cert: expected a string, found a boolean",
        "ferry.toml:3:20: implicit_listen: \"nope\" is not an ADDR:PORT",
        "ferry.toml:1:7: tls: expected off, optional or required, found \"on\"",
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for (g, e) in got.iter().zip(expect) {
        assert!(
            g.starts_with(e),
            "got {g:?}, expected it to start with {e:?}"
        );
    }
}

#[test]
fn cert_and_key_go_together() {
    let (_pems, cert, key) = pem_files();
    let got = tls_errors(&["--cert", &cert], "");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("--cert: a certificate needs its private key too"),
        "{got:?}"
    );
    let got = tls_errors(&[], &format!("key = \"{key}\"\n"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("ferry.toml:1:7: key: a private key needs its certificate too"),
        "{got:?}"
    );
    // The flag and the file may each give one half.
    let s = tls_check(&["--cert", &cert], &format!("key = \"{key}\"\n")).unwrap();
    assert_eq!(s.tls.material.unwrap().cert_file(), Some(Path::new(&cert)));
}

#[test]
fn missing_certificate_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let m = missing.to_str().unwrap();
    let got = tls_errors(
        &[
            "--cert",
            m,
            "--key",
            dir.path().to_str().unwrap(),
            "--client-ca",
            m,
            "--client-cert",
            "request",
        ],
        "",
    );
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(
        got[0].starts_with(&format!("--cert: cannot read {m}")),
        "{got:#?}"
    );
    assert!(got[1].starts_with("--key: ") && got[1].ends_with("is not a file"));
    assert!(got[2].starts_with(&format!("--client-ca: cannot read {m}")));
    // With TLS off, the files are not looked at.
    let s = tls_check(&["--tls", "off", "--cert", m, "--key", m], "").unwrap();
    assert!(s.tls.material.is_none());
}

#[test]
fn state_dir_must_be_a_directory() {
    let (_pems, cert, _key) = pem_files();
    let got = tls_errors(&["--state-dir", &cert], "");
    assert_eq!(got, vec![format!("--state-dir: {cert} is not a directory")]);
    // Not needed with a certificate of our own, nor with TLS off.
    assert!(tls_check(&["--state-dir", &cert, "--tls", "off"], "").is_ok());
}

#[test]
fn state_dir_in_the_file_is_relative_to_it_and_defaults_to_the_current_directory() {
    let (raw, errors) = file::parse(
        Path::new("/etc/ferry/ferry.toml"),
        "state_dir = \"state\"\ncert = \"c.pem\"\nkey = \"/k.pem\"\nclient_ca = \"ca.pem\"\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        raw.state_dir.unwrap().value,
        PathBuf::from("/etc/ferry/state")
    );
    assert_eq!(raw.cert.unwrap().value, PathBuf::from("/etc/ferry/c.pem"));
    assert_eq!(raw.key.unwrap().value, PathBuf::from("/k.pem"));
    assert_eq!(
        raw.client_ca.unwrap().value,
        PathBuf::from("/etc/ferry/ca.pem")
    );

    // The default, made absolute against the current directory.
    let mut raw = RawServe::from_args(&serve_args(&[]));
    let dir = tempfile::tempdir().unwrap();
    raw.root = Some(Located::flag("--root", dir.path().join("root")));
    let s = validate(raw, None, Vec::new()).unwrap();
    let expected = std::env::current_dir().unwrap().join("ferry-state");
    assert_eq!(
        s.tls.material.unwrap().self_signed_dir(),
        Some(expected.as_path())
    );
}

#[test]
fn implicit_listen_needs_tls() {
    let got = tls_errors(&["--tls", "off", "--implicit-listen", "127.0.0.1:990"], "");
    assert_eq!(
        got,
        vec!["--implicit-listen: implicit FTPS needs TLS, but TLS is off (--tls)"]
    );
    let got = tls_errors(&["--implicit-listen", "127.0.0.1:990"], "tls = \"off\"\n");
    assert_eq!(
        got,
        vec!["--implicit-listen: implicit FTPS needs TLS, but TLS is off (ferry.toml:1:7: tls)"]
    );
}

#[test]
fn settings_that_need_tls_are_refused_when_it_is_off() {
    let (_pems, cert, _key) = pem_files();
    let got = tls_errors(
        &[
            "--tls",
            "off",
            "--tls-data",
            "required",
            "--client-cert",
            "require",
            "--client-ca",
            &cert,
        ],
        "",
    );
    assert_eq!(
        got,
        vec![
            "--tls-data: data protection needs TLS, but TLS is off (--tls)",
            "--client-cert: client certificates need TLS, but TLS is off (--tls)",
        ]
    );
}

#[test]
fn implicit_listen_must_differ_from_listen() {
    let got = tls_errors(
        &[
            "--listen",
            "127.0.0.1:2121",
            "--implicit-listen",
            "127.0.0.1:2121",
            "--implicit-listen",
            "127.0.0.1:990",
            "--implicit-listen",
            "127.0.0.1:990",
        ],
        "",
    );
    assert_eq!(
        got,
        vec![
            "--implicit-listen: 127.0.0.1:2121 is already a listen address",
            "--implicit-listen: 127.0.0.1:990 is already a listen address",
        ]
    );
    // Port 0 twice is fine: each gets its own port.
    let s = tls_check(
        &[
            "--listen",
            "127.0.0.1:0",
            "--implicit-listen",
            "127.0.0.1:0",
        ],
        "",
    )
    .unwrap();
    assert_eq!(s.tls.implicit_listen.len(), 1);
}

#[test]
fn client_certificates_need_a_ca_and_a_ca_needs_client_certificates() {
    let got = tls_errors(&["--client-cert", "require"], "");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("--client-cert: client certificates (require) need a CA"),
        "{got:?}"
    );
    let got = tls_errors(&[], "client_cert = \"request\"\n");
    assert!(
        got[0].starts_with("ferry.toml:1:15: client_cert: client certificates (request) need"),
        "{got:?}"
    );

    let (_pems, cert, _key) = pem_files();
    let got = tls_errors(&["--client-ca", &cert], "");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(
            "--client-ca: a client CA has no effect while client certificates are off"
        ),
        "{got:?}"
    );
    let got = tls_errors(
        &["--client-cert", "off", "--client-cert-user", "a:CN=a"],
        "",
    );
    assert!(
        got[0].starts_with("--client-cert-user: a certificate-to-user mapping has no effect"),
        "{got:?}"
    );
}

#[test]
fn client_cert_users() {
    assert_eq!(
        tls::parse_client_cert_user("alice:CN=alice,O=Example, Inc.").unwrap(),
        ("alice".to_string(), "CN=alice,O=Example, Inc.".to_string())
    );
    // The first ':' splits: subjects may hold ':' too.
    assert_eq!(
        tls::parse_client_cert_user("bob:CN=a:b").unwrap(),
        ("bob".to_string(), "CN=a:b".to_string())
    );
    assert!(tls::parse_client_cert_user("CN=alice")
        .unwrap_err()
        .contains("USER:SUBJECT"));
    assert!(tls::parse_client_cert_user("alice:")
        .unwrap_err()
        .contains("empty"));
    assert!(tls::parse_client_cert_user("al ice:CN=x")
        .unwrap_err()
        .contains("invalid user name"));
    assert!(tls::parse_client_cert_user("a:CN=x\ny").is_err());

    let (_pems, cert, _key) = pem_files();
    let got = tls_errors(
        &[
            "--client-ca",
            &cert,
            "--client-cert",
            "request",
            "--user",
            "alice:pw",
        ],
        "client_cert_user = [\"alice:CN=a\", \"alice:CN=a\", \"carol:CN=c\", \"CN=x\"]\n",
    );
    assert_eq!(
        got,
        vec![
            "ferry.toml:1:35: client_cert_user: subject \"CN=a\" is mapped twice",
            "ferry.toml:1:49: client_cert_user: entry 3: there is no account `carol`",
            "ferry.toml:1:63: client_cert_user: entry 4: expected USER:SUBJECT (e.g. \
             alice:CN=alice,O=Example), found \"CN=x\"",
        ]
    );
}

#[test]
fn tls_problems_come_with_the_others() {
    let got = tls_errors(
        &["--tls", "sometimes", "--passive-ports", "5-1"],
        "idle_timeout = 0\ntls_data = \"yes\"\n",
    );
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got.iter().any(|m| m.starts_with("--tls: ")));
    assert!(got
        .iter()
        .any(|m| m.starts_with("ferry.toml:2:12: tls_data: ")));
}

#[test]
fn tls_settings_debug_has_no_secrets() {
    let s = tls_check(&["--user", "alice:hunter2"], "").unwrap();
    let text = format!("{s:?}");
    assert!(text.contains("SelfSigned"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
