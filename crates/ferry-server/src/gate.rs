//! Admission and brute-force defence: who may connect, how many sessions, how many login
//! attempts, failed-login delays and bans, and the passive-listener budget.
//!
//! One [`Gate`] per server, shared by every session behind a mutex (each call is a few map
//! operations). Every table is bounded: expired entries are pruned as tables grow, and a
//! table that is still full refuses to track more (failing safe: a new address over the
//! bound is not tracked for bans, but sessions are still counted globally).
//!
//! Counts are held by RAII tickets ([`SessionTicket`], [`UserTicket`], [`PassiveTicket`]):
//! dropping one gives the slot back, so no path (error, panic, abort) leaks a slot.
//!
//! Brute force: each failed login of an address is recorded; `after_failures` within
//! `window` bans the address (and the user name, with `user_names`) for `duration`. Within a
//! session, the reply to the n-th failed login waits `delay * 2^(n-1)` (at most
//! `max_delay`). Addresses in `never` are neither delayed nor banned.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::events::{RefusedReason, ServerStats};
use crate::limits::Limits;

/// Most addresses (or user names) tracked in one table.
const MAX_TRACKED: usize = 100_000;
/// Login attempts are counted over this window for `max_logins_per_minute`.
const LOGIN_RATE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    sessions: u32,
    per_ip: HashMap<IpAddr, u32>,
    per_user: HashMap<String, u32>,
    attempts: HashMap<IpAddr, VecDeque<Instant>>,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    banned_ips: HashMap<IpAddr, Instant>,
    banned_users: HashMap<String, Instant>,
    passive: u32,
}

impl State {
    fn prune(&mut self, now: Instant, limits: &Limits) {
        self.banned_ips.retain(|_, until| *until > now);
        self.banned_users.retain(|_, until| *until > now);
        let window = limits.ban.window;
        self.failures.retain(|_, q| {
            drop_older(q, now, window);
            !q.is_empty()
        });
        self.attempts.retain(|_, q| {
            drop_older(q, now, LOGIN_RATE_WINDOW);
            !q.is_empty()
        });
    }

    fn ban_count(&self) -> u64 {
        (self.banned_ips.len() + self.banned_users.len()) as u64
    }
}

fn drop_older(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        q.pop_front();
    }
}

/// The server's admission state. See the module docs.
pub(crate) struct Gate {
    state: Mutex<State>,
    stats: Arc<ServerStats>,
}

/// A ban just decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewBan {
    /// The user name banned too, if any.
    pub user: Option<String>,
    /// How long.
    pub duration: Duration,
    /// Failures that led to it.
    pub failures: u32,
}

/// What a failed login leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailureOutcome {
    /// How long to wait before replying.
    pub delay: Duration,
    /// The ban decided now, if this failure crossed the threshold.
    pub ban: Option<NewBan>,
}

impl Gate {
    pub(crate) fn new(stats: Arc<ServerStats>) -> Gate {
        Gate {
            state: Mutex::new(State::default()),
            stats,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Admits a connection from `ip`, or says why not (allow/deny lists, ban, session
    /// counts).
    pub(crate) fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        limits: &Limits,
    ) -> Result<SessionTicket, RefusedReason> {
        if !limits.allow.is_empty() && !limits.allow.iter().any(|n| n.contains(&ip)) {
            return Err(RefusedReason::Denied);
        }
        if limits.deny.iter().any(|n| n.contains(&ip)) {
            return Err(RefusedReason::Denied);
        }
        let now = Instant::now();
        let mut st = self.lock();
        if let Some(until) = st.banned_ips.get(&ip).copied() {
            if until > now {
                return Err(RefusedReason::Banned);
            }
            st.banned_ips.remove(&ip);
            self.stats.set_bans(st.ban_count());
        }
        if limits.max_sessions != 0 && st.sessions >= limits.max_sessions {
            return Err(RefusedReason::ServerFull);
        }
        let from_ip = st.per_ip.get(&ip).copied().unwrap_or(0);
        if limits.max_sessions_per_ip != 0 && from_ip >= limits.max_sessions_per_ip {
            return Err(RefusedReason::TooManyFromAddress);
        }
        st.sessions += 1;
        *st.per_ip.entry(ip).or_insert(0) += 1;
        self.stats.set_sessions(u64::from(st.sessions));
        Ok(SessionTicket {
            gate: self.clone(),
            ip,
        })
    }

    /// Records a login attempt from `ip`; false when it goes over `max_logins_per_minute`.
    pub(crate) fn login_attempt(&self, ip: IpAddr, limits: &Limits) -> bool {
        if limits.max_logins_per_minute == 0 || exempt(ip, limits) {
            return true;
        }
        let now = Instant::now();
        let mut st = self.lock();
        if st.attempts.len() >= MAX_TRACKED && !st.attempts.contains_key(&ip) {
            st.prune(now, limits);
            if st.attempts.len() >= MAX_TRACKED {
                return true;
            }
        }
        let q = st.attempts.entry(ip).or_default();
        drop_older(q, now, LOGIN_RATE_WINDOW);
        if q.len() >= limits.max_logins_per_minute as usize {
            return false;
        }
        q.push_back(now);
        true
    }

    /// True when `user` is banned (user-name bans).
    pub(crate) fn user_banned(&self, user: &str) -> bool {
        let now = Instant::now();
        let st = self.lock();
        st.banned_users.get(user).is_some_and(|until| *until > now)
    }

    /// Records a failed login of `user` from `ip`, the `nth` failure of its session.
    pub(crate) fn login_failed(
        &self,
        ip: IpAddr,
        user: &str,
        nth: u32,
        limits: &Limits,
    ) -> FailureOutcome {
        let policy = &limits.ban;
        if exempt(ip, limits) {
            return FailureOutcome {
                delay: Duration::ZERO,
                ban: None,
            };
        }
        let shift = nth.saturating_sub(1).min(16);
        let delay = policy
            .delay
            .saturating_mul(1u32 << shift)
            .min(policy.max_delay.max(policy.delay));
        if policy.after_failures == 0 {
            return FailureOutcome { delay, ban: None };
        }
        let now = Instant::now();
        let mut st = self.lock();
        if st.failures.len() >= MAX_TRACKED && !st.failures.contains_key(&ip) {
            st.prune(now, limits);
            if st.failures.len() >= MAX_TRACKED {
                return FailureOutcome { delay, ban: None };
            }
        }
        let q = st.failures.entry(ip).or_default();
        drop_older(q, now, policy.window);
        q.push_back(now);
        let failures = q.len();
        if failures < policy.after_failures as usize {
            return FailureOutcome { delay, ban: None };
        }
        st.failures.remove(&ip);
        let until = now + policy.duration;
        if st.banned_ips.len() >= MAX_TRACKED {
            st.prune(now, limits);
        }
        st.banned_ips.insert(ip, until);
        let banned_user = (policy.user_names && !user.is_empty()).then(|| user.to_string());
        if let Some(u) = &banned_user {
            if st.banned_users.len() < MAX_TRACKED {
                st.banned_users.insert(u.clone(), until);
            }
        }
        self.stats.set_bans(st.ban_count());
        FailureOutcome {
            delay,
            ban: Some(NewBan {
                user: banned_user,
                duration: policy.duration,
                failures: u32::try_from(failures).unwrap_or(u32::MAX),
            }),
        }
    }

    /// A slot for a logged-in session of `user`, unless it has `max` already (0: no limit).
    pub(crate) fn user_session(self: &Arc<Self>, user: &str, max: u32) -> Option<UserTicket> {
        let mut st = self.lock();
        let n = st.per_user.get(user).copied().unwrap_or(0);
        if max != 0 && n >= max {
            return None;
        }
        *st.per_user.entry(user.to_string()).or_insert(0) += 1;
        Some(UserTicket {
            gate: self.clone(),
            user: user.to_string(),
        })
    }

    /// A slot for one passive listener, unless `max` are open (0: no limit).
    pub(crate) fn passive(self: &Arc<Self>, max: u32) -> Option<PassiveTicket> {
        let mut st = self.lock();
        if max != 0 && st.passive >= max {
            return None;
        }
        st.passive += 1;
        self.stats.set_passive_listeners(u64::from(st.passive));
        Some(PassiveTicket { gate: self.clone() })
    }

    /// Drops expired bans and counters (called now and then), updating the bans gauge.
    pub(crate) fn tidy(&self, limits: &Limits) {
        let mut st = self.lock();
        st.prune(Instant::now(), limits);
        self.stats.set_bans(st.ban_count());
    }
}

fn exempt(ip: IpAddr, limits: &Limits) -> bool {
    limits.ban.never.iter().any(|n| n.contains(&ip))
}

/// One admitted session; dropping it frees the slot.
pub(crate) struct SessionTicket {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for SessionTicket {
    fn drop(&mut self) {
        let mut st = self.gate.lock();
        st.sessions = st.sessions.saturating_sub(1);
        if let Some(n) = st.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.per_ip.remove(&self.ip);
            }
        }
        self.gate.stats.set_sessions(u64::from(st.sessions));
    }
}

/// One logged-in session of a user; dropping it frees the slot.
pub(crate) struct UserTicket {
    gate: Arc<Gate>,
    user: String,
}

impl Drop for UserTicket {
    fn drop(&mut self) {
        let mut st = self.gate.lock();
        if let Some(n) = st.per_user.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.per_user.remove(&self.user);
            }
        }
    }
}

/// One open passive listener; dropping it frees the slot.
pub(crate) struct PassiveTicket {
    gate: Arc<Gate>,
}

impl Drop for PassiveTicket {
    fn drop(&mut self) {
        let mut st = self.gate.lock();
        st.passive = st.passive.saturating_sub(1);
        self.gate.stats.set_passive_listeners(u64::from(st.passive));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn gate() -> Arc<Gate> {
        Arc::new(Gate::new(Arc::new(ServerStats::default())))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn session_counts_are_enforced_and_given_back() {
        let g = gate();
        let limits = Limits {
            max_sessions: 3,
            max_sessions_per_ip: 2,
            ..Limits::default()
        };
        let a1 = g.admit(ip("192.0.2.1"), &limits).unwrap();
        let _a2 = g.admit(ip("192.0.2.1"), &limits).unwrap();
        assert_eq!(
            g.admit(ip("192.0.2.1"), &limits).err(),
            Some(RefusedReason::TooManyFromAddress)
        );
        let _b1 = g.admit(ip("192.0.2.2"), &limits).unwrap();
        assert_eq!(
            g.admit(ip("192.0.2.3"), &limits).err(),
            Some(RefusedReason::ServerFull)
        );
        assert_eq!(g.stats.sessions(), 3);
        drop(a1);
        assert_eq!(g.stats.sessions(), 2);
        assert!(g.admit(ip("192.0.2.3"), &limits).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn allow_and_deny_lists() {
        let g = gate();
        let limits = Limits {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            deny: vec!["10.6.6.0/24".parse().unwrap()],
            ..Limits::default()
        };
        assert!(g.admit(ip("10.1.2.3"), &limits).is_ok());
        assert_eq!(
            g.admit(ip("10.6.6.6"), &limits).err(),
            Some(RefusedReason::Denied)
        );
        assert_eq!(
            g.admit(ip("192.0.2.1"), &limits).err(),
            Some(RefusedReason::Denied)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failures_grow_the_delay_then_ban_until_expiry() {
        let g = gate();
        let mut limits = Limits::default();
        limits.ban.after_failures = 3;
        limits.ban.delay = Duration::from_secs(1);
        limits.ban.max_delay = Duration::from_secs(3);
        limits.ban.duration = Duration::from_secs(60);
        limits.ban.user_names = true;
        let who = ip("192.0.2.9");
        let f1 = g.login_failed(who, "root", 1, &limits);
        assert_eq!(f1.delay, Duration::from_secs(1));
        assert!(f1.ban.is_none());
        let f2 = g.login_failed(who, "root", 2, &limits);
        assert_eq!(f2.delay, Duration::from_secs(2));
        let f3 = g.login_failed(who, "root", 3, &limits);
        assert_eq!(f3.delay, Duration::from_secs(3), "capped");
        let ban = f3.ban.unwrap();
        assert_eq!(ban.user.as_deref(), Some("root"));
        assert_eq!(ban.failures, 3);
        assert_eq!(g.admit(who, &limits).err(), Some(RefusedReason::Banned));
        assert!(g.user_banned("root"));
        assert_eq!(g.stats.bans(), 2);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(g.admit(who, &limits).is_ok());
        assert!(!g.user_banned("root"));
        g.tidy(&limits);
        assert_eq!(g.stats.bans(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn exempt_networks_are_never_banned_and_old_failures_expire() {
        let g = gate();
        let mut limits = Limits::default();
        limits.ban.after_failures = 2;
        limits.ban.window = Duration::from_secs(10);
        limits.ban.never = vec!["127.0.0.0/8".parse().unwrap()];
        for n in 1..10 {
            let f = g.login_failed(ip("127.0.0.1"), "x", n, &limits);
            assert_eq!(f.delay, Duration::ZERO);
            assert!(f.ban.is_none());
        }
        let other = ip("192.0.2.1");
        assert!(g.login_failed(other, "x", 1, &limits).ban.is_none());
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(
            g.login_failed(other, "x", 1, &limits).ban.is_none(),
            "the first failure left the window"
        );
        assert!(g.login_failed(other, "x", 2, &limits).ban.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn login_rate_per_minute() {
        let g = gate();
        let limits = Limits {
            max_logins_per_minute: 3,
            ..Limits::default()
        };
        let who = ip("192.0.2.5");
        assert!((0..3).all(|_| g.login_attempt(who, &limits)));
        assert!(!g.login_attempt(who, &limits));
        assert!(g.login_attempt(ip("192.0.2.6"), &limits));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(g.login_attempt(who, &limits));
    }

    #[tokio::test(start_paused = true)]
    async fn user_and_passive_slots() {
        let g = gate();
        let t1 = g.user_session("alice", 1).unwrap();
        assert!(g.user_session("alice", 1).is_none());
        assert!(g.user_session("bob", 1).is_some());
        drop(t1);
        assert!(g.user_session("alice", 1).is_some());
        let p1 = g.passive(1).unwrap();
        assert_eq!(g.stats.passive_listeners(), 1);
        assert!(g.passive(1).is_none());
        drop(p1);
        assert_eq!(g.stats.passive_listeners(), 0);
        assert!(g.passive(0).is_some());
    }
}
