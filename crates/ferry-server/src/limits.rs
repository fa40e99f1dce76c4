//! Limits that protect the server: session counts, login rates, bans, address lists and
//! bandwidth. All of it is reloadable (SIGHUP) through [`crate::ServerControl`].

use std::time::Duration;

use ipnet::IpNet;

/// Server-wide limits. `0` means "no limit" for the counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Sessions open at once on the whole server (`421` beyond).
    pub max_sessions: u32,
    /// Sessions open at once from one client address (`421` beyond).
    pub max_sessions_per_ip: u32,
    /// Sessions logged in at once with one account (`530` on the extra login).
    pub max_sessions_per_user: u32,
    /// Login attempts (PASS) per client address per minute (`421` and close beyond).
    pub max_logins_per_minute: u32,
    /// Unknown or failed commands tolerated before login; one more closes the session.
    pub max_bad_commands_before_login: u32,
    /// Time a client has from the greeting to a successful login (`421` after).
    pub login_timeout: Duration,
    /// Longest control line accepted, in bytes (`500` for longer ones).
    pub max_line_length: usize,
    /// Passive listeners open at once on the whole server (`425` beyond).
    pub max_passive_listeners: u32,
    /// Brute-force defence.
    pub ban: BanPolicy,
    /// When not empty, only these networks may connect (checked before the greeting).
    pub allow: Vec<IpNet>,
    /// These networks may never connect (checked before the greeting, after `allow`).
    pub deny: Vec<IpNet>,
    /// Bandwidth of all uploads together, bytes per second.
    pub upload_rate: Option<u64>,
    /// Bandwidth of all downloads (and listings) together, bytes per second.
    pub download_rate: Option<u64>,
}

impl Default for Limits {
    /// 1000 sessions, 50 per address, no per-user limit, 600 login attempts per minute per
    /// address, 20 bad commands before login, 60 s to log in, 8 KiB lines, 1000 passive
    /// listeners, and the default [`BanPolicy`].
    fn default() -> Self {
        Limits {
            max_sessions: 1000,
            max_sessions_per_ip: 50,
            max_sessions_per_user: 0,
            max_logins_per_minute: 600,
            max_bad_commands_before_login: 20,
            login_timeout: Duration::from_secs(60),
            max_line_length: 8192,
            max_passive_listeners: 1000,
            ban: BanPolicy::default(),
            allow: Vec::new(),
            deny: Vec::new(),
            upload_rate: None,
            download_rate: None,
        }
    }
}

/// How failed logins are slowed down and then banned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanPolicy {
    /// Failed logins from one address (counted over `window`) that ban it; 0 disables bans.
    pub after_failures: u32,
    /// The window failures are counted over.
    pub window: Duration,
    /// How long a ban lasts.
    pub duration: Duration,
    /// Ban the user name too (logins to it are refused from every address while banned).
    pub user_names: bool,
    /// Delay before the reply to the first failed login of a session; each further failure
    /// doubles it, up to `max_delay`. Zero disables the delay.
    pub delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
    /// Networks never banned nor delayed.
    pub never: Vec<IpNet>,
}

impl Default for BanPolicy {
    /// Ban an address for 15 minutes after 10 failures within 10 minutes; 1 s delay doubling
    /// up to 8 s; user names not banned; no exempt network.
    fn default() -> Self {
        BanPolicy {
            after_failures: 10,
            window: Duration::from_secs(600),
            duration: Duration::from_secs(900),
            user_names: false,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            never: Vec::new(),
        }
    }
}
