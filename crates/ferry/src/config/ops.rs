//! The operational settings: limits, bans, address lists, bandwidth, PROXY protocol,
//! metrics, logs and the user to run as.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ferry_server::{BanPolicy, Limits};
use ipnet::IpNet;

use super::{parse_listen, parse_seconds, ConfigError, Located, Origin, RawServe};

/// Validated operational settings.
#[derive(Debug, Clone)]
pub struct OpsSettings {
    /// Limits, bans, address lists and global bandwidth.
    pub limits: Limits,
    /// Where anonymous `upload-only` logins upload (a virtual path such as `/incoming`).
    pub anonymous_incoming: String,
    /// Trusted PROXY protocol senders.
    pub proxy_from: Vec<IpNet>,
    /// Prometheus endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// xferlog file.
    pub xferlog: Option<PathBuf>,
    /// JSON audit log file.
    pub audit_log: Option<PathBuf>,
    /// Unprivileged user to switch to after binding.
    pub run_as: Option<String>,
    /// Bytes of directory listings kept between sessions (0: none).
    pub listing_cache_bytes: usize,
}

/// Default of `listing_cache_mib`.
pub const DEFAULT_LISTING_CACHE_MIB: u32 = 32;

/// Largest `listing_cache_mib` accepted.
const MAX_LISTING_CACHE_MIB: u32 = 65_536;

/// Largest count accepted for the `max_*` and `ban_after` settings.
const MAX_COUNT: u64 = 10_000_000;

/// Validates the operational part of `raw`, adding problems to `errors`.
pub(crate) fn validate(raw: &RawServe, errors: &mut Vec<ConfigError>) -> OpsSettings {
    let mut report = |origin: &Origin, message: String| {
        errors.push(ConfigError::new(origin.clone(), message));
    };
    let d = Limits::default();
    let db = BanPolicy::default();

    let mut count = |v: &Option<Located<String>>, default: u32| -> u32 {
        match v {
            None => default,
            Some(v) => match parse_count(&v.value) {
                Ok(n) => n,
                Err(m) => {
                    report(&v.origin, m);
                    default
                }
            },
        }
    };
    let max_sessions = count(&raw.max_sessions, d.max_sessions);
    let max_sessions_per_ip = count(&raw.max_sessions_per_ip, d.max_sessions_per_ip);
    let max_sessions_per_user = count(&raw.max_sessions_per_user, d.max_sessions_per_user);
    let max_logins_per_minute = count(&raw.max_logins_per_minute, d.max_logins_per_minute);
    let max_bad_commands = count(&raw.max_bad_commands, d.max_bad_commands_before_login);
    let max_line_length = count(&raw.max_line_length, d.max_line_length as u32);
    let max_passive_listeners = count(&raw.max_passive_listeners, d.max_passive_listeners);
    let ban_after = count(&raw.ban_after, db.after_failures);
    let listing_cache_mib = count(&raw.listing_cache_mib, DEFAULT_LISTING_CACHE_MIB);
    if let Some(v) = &raw.listing_cache_mib {
        if listing_cache_mib > MAX_LISTING_CACHE_MIB {
            report(
                &v.origin,
                format!("{listing_cache_mib} is out of range (0 to {MAX_LISTING_CACHE_MIB} MiB)"),
            );
        }
    }

    if let Some(v) = &raw.max_line_length {
        if !(512..=65536).contains(&max_line_length) {
            report(
                &v.origin,
                format!("{max_line_length} is out of range (512 to 65536 bytes)"),
            );
        }
    }

    let mut seconds = |v: &Option<Located<String>>, min: u64, default: Duration| -> Duration {
        match v {
            None => default,
            Some(v) => parse_seconds(&v.value, min).unwrap_or_else(|m| {
                report(&v.origin, m);
                default
            }),
        }
    };
    let login_timeout = seconds(&raw.login_timeout, 1, d.login_timeout);
    let ban_window = seconds(&raw.ban_window, 1, db.window);
    let ban_time = seconds(&raw.ban_time, 1, db.duration);
    let delay = seconds(&raw.login_fail_delay, 0, db.delay);

    let mut nets = |v: &Option<Vec<Located<String>>>| -> Vec<IpNet> {
        let mut out = Vec::new();
        for item in v.iter().flatten() {
            match parse_net(&item.value) {
                Ok(n) => out.push(n),
                Err(m) => report(&item.origin, m),
            }
        }
        out
    };
    let never = nets(&raw.ban_exempt);
    let allow = nets(&raw.allow);
    let deny = nets(&raw.deny);
    let proxy_from = nets(&raw.proxy_protocol_from);

    let mut rate = |v: &Option<Located<String>>| -> Option<u64> {
        let v = v.as_ref()?;
        parse_rate(&v.value).map_err(|m| report(&v.origin, m)).ok()
    };
    let upload_rate = rate(&raw.upload_rate);
    let download_rate = rate(&raw.download_rate);

    let anonymous_incoming = match &raw.anonymous_incoming {
        None => "/incoming".to_string(),
        Some(v) => match check_virtual_dir(&v.value) {
            Ok(p) => p,
            Err(m) => {
                report(&v.origin, m);
                "/incoming".to_string()
            }
        },
    };

    let metrics_listen = raw.metrics_listen.as_ref().and_then(|m| {
        parse_listen(&m.value)
            .map_err(|e| report(&m.origin, e))
            .ok()
    });

    let run_as = raw.run_as.as_ref().and_then(|u| {
        let name = u.value.trim();
        if name.is_empty() || name.chars().any(|c| c.is_control() || c == ':') {
            report(&u.origin, format!("{:?} is not a user name", u.value));
            None
        } else if let Err(m) = crate::process::lookup_user(name) {
            report(&u.origin, m);
            None
        } else {
            Some(name.to_string())
        }
    });

    OpsSettings {
        limits: Limits {
            max_sessions,
            max_sessions_per_ip,
            max_sessions_per_user,
            max_logins_per_minute,
            max_bad_commands_before_login: max_bad_commands,
            login_timeout,
            max_line_length: max_line_length as usize,
            max_passive_listeners,
            ban: BanPolicy {
                after_failures: ban_after,
                window: ban_window,
                duration: ban_time,
                user_names: raw.ban_user_names.as_ref().is_some_and(|b| b.value),
                delay,
                max_delay: delay.saturating_mul(8),
                never,
            },
            allow,
            deny,
            upload_rate,
            download_rate,
        },
        anonymous_incoming,
        proxy_from,
        metrics_listen,
        xferlog: raw.xferlog.as_ref().map(|p| p.value.clone()),
        audit_log: raw.audit_log.as_ref().map(|p| p.value.clone()),
        run_as,
        listing_cache_bytes: (listing_cache_mib.min(MAX_LISTING_CACHE_MIB) as usize) << 20,
    }
}

/// A count in `0..=MAX_COUNT`.
pub fn parse_count(s: &str) -> Result<u32, String> {
    let n = s
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("expected a whole number, found {s:?}"))?;
    if n > MAX_COUNT {
        return Err(format!("{n} is out of range (0 to {MAX_COUNT})"));
    }
    u32::try_from(n).map_err(|_| format!("{n} is out of range"))
}

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(format!(
        "{s:?} is not an address or a network in CIDR notation (e.g. 192.0.2.0/24)"
    ))
}

/// Bytes per second: a whole number with an optional unit (`K`/`M`/`G` powers of 1000,
/// `KiB`/`MiB`/`GiB` powers of 1024, an optional trailing `B` or `/s`; the users file's
/// syntax, [`ferry_storage::users::parse_amount`]), at least 1024.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let rate = ferry_storage::users::parse_amount(s)?;
    if rate < 1024 {
        return Err(format!(
            "{rate} bytes per second is too slow to be useful (at least 1024)"
        ));
    }
    Ok(rate)
}

/// An absolute virtual directory such as `/incoming` (normalised, not the root).
fn check_virtual_dir(s: &str) -> Result<String, String> {
    let path = ferry_proto::VirtualPath::root()
        .join(s)
        .map_err(|e| format!("{s:?} is not a valid path: {e}"))?;
    if path.is_root() {
        return Err("the anonymous upload folder cannot be the root".to_string());
    }
    Ok(path.as_str().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_rate("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_rate("1 MiB/s").unwrap(), 1 << 20);
        assert_eq!(parse_rate("500K").unwrap(), 500_000);
        assert_eq!(parse_rate("2g").unwrap(), 2_000_000_000);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("99999999999999999999G").is_err());
    }

    #[test]
    fn nets() {
        assert_eq!(
            parse_net("10.1.2.3/8").unwrap(),
            "10.0.0.0/8".parse().unwrap()
        );
        assert_eq!(
            parse_net("::1").unwrap(),
            "::1/128".parse::<IpNet>().unwrap()
        );
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("example.com").is_err());
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("0").unwrap(), 0);
        assert!(parse_count("-1").is_err());
        assert!(parse_count("100000000").is_err());
    }
}
