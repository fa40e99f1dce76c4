//! Bandwidth limits: token buckets for the whole server and for each account.
//!
//! # Design
//!
//! A [`TokenBucket`] holds up to `burst` bytes of credit and gains `rate` bytes of credit
//! per second. Taking `n` bytes ([`TokenBucket::reserve`]) always succeeds at once but may
//! leave the bucket in debt; the caller then sleeps for as long as the debt takes to be paid
//! back at `rate` (computed, not polled: one `tokio::time::sleep` per chunk). Because each
//! reservation sees the debt left by the ones before it, waiting transfers are served in
//! the order they asked, whatever task they run on: sessions sharing a bucket share its
//! rate fairly, chunk by chunk. A transfer never asks for more than [`Throttle::chunk`]
//! bytes at once (the smallest burst of its buckets), so one session cannot run far ahead of
//! the others and a cancelled transfer leaves at most one chunk of debt behind.
//!
//! The burst is an eighth of a second's worth of bytes, and never less than
//! [`MIN_BURST`] (64 KiB), so slow limits still move data in useful pieces.
//!
//! [`Throttles`] (one per server, in the session's shared state) keeps:
//! - one bucket per direction for the whole server (`upload_rate` / `download_rate` of
//!   [`crate::Limits`]; listings count as downloads);
//! - one bucket per direction per account name (`upload_rate` / `download_rate` of the
//!   account's [`ferry_storage::AccountPolicy`]), shared by all that account's sessions.
//!   The registry holds them weakly: a user's buckets live while one of its transfers runs,
//!   and the map is pruned of dead entries as it is used, so it never grows past the number
//!   of accounts transferring at once.
//!
//! A transfer gets a [`Throttle`] at its start ([`Throttles::for_transfer`]) holding the
//! buckets that apply (global, user, both or none); every chunk is reserved on all of them
//! at the same instant and the transfer sleeps for the longest wait. Rates are read when a
//! transfer starts: a reload (SIGHUP) that changes the global rates, or a login with a new
//! account policy, changes the shared bucket's rate for every transfer from then on (running
//! transfers included); a limit removed by a reload stops applying to new transfers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use ferry_storage::Account;
use tokio::time::Instant;

use crate::Limits;

/// Smallest burst (and largest chunk a throttled transfer is cut into, when the rate is
/// low), in bytes.
pub const MIN_BURST: u64 = 64 * 1024;

/// The burst is this fraction of a second's worth of bytes (1/8 s).
const BURST_DIVISOR: u64 = 8;

/// Longest single wait a bucket hands out; debt beyond this (only possible with absurd
/// chunk sizes) is forgotten rather than slept on for hours.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// Locks a mutex, carrying on with the data of a poisoned one (the state is plain numbers,
/// consistent after every statement).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The burst size for a rate: 1/8 s of bytes, at least [`MIN_BURST`].
pub fn burst_for(rate: u64) -> u64 {
    (rate / BURST_DIVISOR).max(MIN_BURST)
}

/// A token-bucket rate limiter (see the module docs).
#[derive(Debug)]
pub struct TokenBucket {
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    /// Bytes per second (at least 1).
    rate: u64,
    /// Most credit the bucket holds, in bytes.
    burst: u64,
    /// Credit in bytes; negative while in debt.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last: Instant,
}

impl BucketState {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.burst as f64);
    }
}

impl TokenBucket {
    /// A full bucket for `rate` bytes per second (0 is taken as 1).
    pub fn new(rate: u64) -> TokenBucket {
        let rate = rate.max(1);
        let burst = burst_for(rate);
        TokenBucket {
            state: Mutex::new(BucketState {
                rate,
                burst,
                tokens: burst as f64,
                last: Instant::now(),
            }),
        }
    }

    /// The rate in bytes per second.
    #[cfg(test)]
    pub fn rate(&self) -> u64 {
        lock(&self.state).rate
    }

    /// The burst in bytes.
    pub fn burst(&self) -> u64 {
        lock(&self.state).burst
    }

    /// Changes the rate (and the burst with it). Credit and debt are kept, credit capped at
    /// the new burst.
    pub fn set_rate(&self, rate: u64) {
        let rate = rate.max(1);
        let mut s = lock(&self.state);
        if s.rate == rate {
            return;
        }
        s.refill(Instant::now());
        s.rate = rate;
        s.burst = burst_for(rate);
        s.tokens = s.tokens.min(s.burst as f64);
    }

    /// Takes `n` bytes of credit now and returns how long the caller must wait before
    /// using them (zero when the bucket had enough).
    pub fn reserve(&self, n: u64) -> Duration {
        let mut s = lock(&self.state);
        s.refill(Instant::now());
        s.tokens -= n as f64;
        if s.tokens >= 0.0 {
            return Duration::ZERO;
        }
        let wait = -s.tokens / s.rate as f64;
        let max = MAX_WAIT.as_secs_f64();
        if wait > max {
            s.tokens = -(max * s.rate as f64);
            return MAX_WAIT;
        }
        Duration::from_secs_f64(wait)
    }

    /// Gives back `n` bytes reserved but not used (capped at the burst).
    pub fn refund(&self, n: u64) {
        let mut s = lock(&self.state);
        s.tokens = (s.tokens + n as f64).min(s.burst as f64);
    }

    /// Waits until `n` bytes may be sent.
    #[cfg(test)]
    pub async fn acquire(&self, n: u64) {
        let wait = self.reserve(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Which way the bytes of a transfer go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Way {
    /// Into the server (STOR, APPE, STOU).
    Up,
    /// Out of the server (RETR, listings).
    Down,
}

/// The limits that apply to one transfer: zero, one or two buckets (server and account).
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    buckets: Vec<Arc<TokenBucket>>,
}

impl Throttle {
    /// No limit.
    pub fn unlimited() -> Throttle {
        Throttle::default()
    }

    /// A throttle over these buckets.
    pub fn new(buckets: Vec<Arc<TokenBucket>>) -> Throttle {
        Throttle { buckets }
    }

    /// True when no bucket applies.
    pub fn is_unlimited(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The most bytes to ask for at once (the smallest burst), `None` when unlimited.
    pub fn chunk(&self) -> Option<u64> {
        self.buckets.iter().map(|b| b.burst()).min()
    }

    /// `max` capped at [`Throttle::chunk`].
    pub fn cap(&self, max: usize) -> usize {
        match self.chunk() {
            Some(c) => usize::try_from(c).map_or(max, |c| c.clamp(1, max.max(1))),
            None => max,
        }
    }

    /// Waits until `n` bytes may be moved under every bucket: reserves on all of them at
    /// once and sleeps for the longest wait.
    pub async fn acquire(&self, n: u64) {
        if n == 0 {
            return;
        }
        let wait = self
            .buckets
            .iter()
            .map(|b| b.reserve(n))
            .max()
            .unwrap_or(Duration::ZERO);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Gives back bytes reserved with [`Throttle::acquire`] but not moved.
    pub fn refund(&self, n: u64) {
        if n == 0 {
            return;
        }
        for b in &self.buckets {
            b.refund(n);
        }
    }
}

/// One direction's bucket, created on demand.
#[derive(Debug, Default)]
struct GlobalBucket {
    bucket: Mutex<Option<Arc<TokenBucket>>>,
}

impl GlobalBucket {
    /// The bucket for `rate` (its rate updated), or none (and forgotten) without a limit.
    fn get(&self, rate: Option<u64>) -> Option<Arc<TokenBucket>> {
        let mut slot = lock(&self.bucket);
        let Some(rate) = rate else {
            *slot = None;
            return None;
        };
        match slot.as_ref() {
            Some(b) => {
                b.set_rate(rate);
                Some(b.clone())
            }
            None => {
                let b = Arc::new(TokenBucket::new(rate));
                *slot = Some(b.clone());
                Some(b)
            }
        }
    }
}

/// The server's bandwidth buckets: global ones and one pair per account (see the module
/// docs).
#[derive(Debug, Default)]
pub struct Throttles {
    global_up: GlobalBucket,
    global_down: GlobalBucket,
    /// Per account name and direction, held weakly.
    users: Mutex<HashMap<(String, Way), Weak<TokenBucket>>>,
}

impl Throttles {
    /// No bucket yet.
    pub fn new() -> Throttles {
        Throttles::default()
    }

    /// The server-wide bucket of `way` at `rate` (`None`: no limit).
    pub fn global(&self, way: Way, rate: Option<u64>) -> Option<Arc<TokenBucket>> {
        match way {
            Way::Up => self.global_up.get(rate),
            Way::Down => self.global_down.get(rate),
        }
    }

    /// The bucket of account `user` in direction `way` at `rate`, shared with that
    /// account's other transfers (`None`: no limit).
    pub fn user(&self, user: &str, way: Way, rate: Option<u64>) -> Option<Arc<TokenBucket>> {
        let rate = rate?;
        let mut users = lock(&self.users);
        users.retain(|_, w| w.strong_count() > 0);
        let key = (user.to_string(), way);
        if let Some(b) = users.get(&key).and_then(Weak::upgrade) {
            b.set_rate(rate);
            return Some(b);
        }
        let b = Arc::new(TokenBucket::new(rate));
        users.insert(key, Arc::downgrade(&b));
        Some(b)
    }

    /// The throttle of a transfer going `way`, under the limits in force and the account's
    /// policy.
    pub fn for_transfer(&self, limits: &Limits, account: Option<&Account>, way: Way) -> Throttle {
        let global_rate = match way {
            Way::Up => limits.upload_rate,
            Way::Down => limits.download_rate,
        };
        let mut buckets = Vec::with_capacity(2);
        buckets.extend(self.global(way, global_rate));
        if let Some(account) = account {
            let rate = match way {
                Way::Up => account.policy.upload_rate,
                Way::Down => account.policy.download_rate,
            };
            buckets.extend(self.user(&account.name, way, rate));
        }
        Throttle::new(buckets)
    }

    /// Account buckets alive now.
    #[cfg(test)]
    pub fn live_user_buckets(&self) -> usize {
        lock(&self.users)
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) <= Duration::from_millis(2)
    }

    #[test]
    fn burst_is_an_eighth_of_a_second_or_64k() {
        assert_eq!(burst_for(MIB), MIB / 8);
        assert_eq!(burst_for(1000), MIN_BURST);
        assert_eq!(burst_for(0), MIN_BURST);
    }

    #[tokio::test(start_paused = true)]
    async fn full_bucket_gives_its_burst_then_the_rate() {
        let b = TokenBucket::new(MIB);
        let start = Instant::now();
        b.acquire(MIB / 8).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..8 {
            b.acquire(MIB / 8).await;
        }
        assert!(
            close(start.elapsed(), Duration::from_secs(1)),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn three_mib_at_one_mib_per_second() {
        let b = TokenBucket::new(MIB);
        let start = Instant::now();
        let mut sent = 0;
        while sent < 3 * MIB {
            b.acquire(b.burst()).await;
            sent += b.burst();
        }
        // The first chunk rides on the initial burst.
        let expect = Duration::from_secs(3) - Duration::from_millis(125);
        assert!(close(start.elapsed(), expect), "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn credit_refills_only_up_to_the_burst() {
        let b = TokenBucket::new(MIB);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(b.reserve(MIB / 8), Duration::ZERO);
        let wait = b.reserve(MIB / 8);
        assert!(close(wait, Duration::from_millis(125)), "{wait:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_order_and_share_the_rate() {
        let b = Arc::new(TokenBucket::new(MIB));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..8 {
                    b.acquire(MIB / 8).await;
                }
                Instant::now()
            }));
        }
        let mut ends = Vec::new();
        for t in tasks {
            ends.push(t.await.expect("task"));
        }
        // 4 MiB at 1 MiB/s (the first 1/8 MiB free): the last chunk is granted at 3.875 s,
        // and every task ends within one round (4 chunks) plus the free start (2 chunks) of
        // it: the tasks take turns, chunk by chunk, no one is starved.
        let total = Duration::from_secs(4) - Duration::from_millis(125);
        for end in &ends {
            let took = end.duration_since(start);
            assert!(took <= total + Duration::from_millis(2), "{took:?}");
            assert!(
                took >= total - Duration::from_millis(6 * 125 + 2),
                "{took:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rate_change_applies_from_the_next_reservation() {
        let b = TokenBucket::new(MIB);
        assert_eq!(b.reserve(MIB / 8), Duration::ZERO);
        b.set_rate(2 * MIB);
        assert_eq!(b.burst(), MIB / 4);
        let wait = b.reserve(MIB / 4);
        assert!(close(wait, Duration::from_millis(125)), "{wait:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn refund_returns_unused_credit() {
        let b = TokenBucket::new(MIB);
        assert_eq!(b.reserve(MIB / 8), Duration::ZERO);
        b.refund(MIB / 8);
        assert_eq!(b.reserve(MIB / 8), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_waits_for_the_slowest_bucket() {
        let fast = Arc::new(TokenBucket::new(4 * MIB));
        let slow = Arc::new(TokenBucket::new(MIB));
        let t = Throttle::new(vec![fast, slow]);
        assert_eq!(t.chunk(), Some(MIB / 8));
        let start = Instant::now();
        for _ in 0..9 {
            t.acquire(MIB / 8).await;
        }
        assert!(
            close(start.elapsed(), Duration::from_secs(1)),
            "{:?}",
            start.elapsed()
        );
        let none = Throttle::unlimited();
        assert!(none.is_unlimited());
        assert_eq!(none.cap(1000), 1000);
        let start = Instant::now();
        none.acquire(10 * MIB).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    fn account(name: &str, up: Option<u64>, down: Option<u64>) -> Account {
        let policy = ferry_storage::AccountPolicy {
            upload_rate: up,
            download_rate: down,
            ..Default::default()
        };
        Account {
            name: name.to_string(),
            home: std::path::PathBuf::from("/nonexistent"),
            access: ferry_storage::Access::ReadWrite,
            anonymous: false,
            policy,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn registry_shares_user_buckets_and_follows_limits() {
        let reg = Throttles::new();
        let mut limits = Limits::default();
        let alice = account("alice", Some(MIB), None);
        let bob = account("bob", Some(MIB), None);

        assert!(reg
            .for_transfer(&limits, Some(&alice), Way::Down)
            .is_unlimited());
        let a1 = reg.for_transfer(&limits, Some(&alice), Way::Up);
        let a2 = reg.for_transfer(&limits, Some(&alice), Way::Up);
        let b1 = reg.for_transfer(&limits, Some(&bob), Way::Up);
        assert_eq!(a1.buckets.len(), 1);
        assert!(
            Arc::ptr_eq(&a1.buckets[0], &a2.buckets[0]),
            "one bucket per user"
        );
        assert!(!Arc::ptr_eq(&a1.buckets[0], &b1.buckets[0]));
        assert_eq!(reg.live_user_buckets(), 2);
        drop((a1, a2, b1));
        assert_eq!(
            reg.live_user_buckets(),
            0,
            "buckets die with their transfers"
        );

        limits.download_rate = Some(2 * MIB);
        let g1 = reg.for_transfer(&limits, None, Way::Down);
        assert_eq!(g1.buckets.len(), 1);
        assert_eq!(g1.buckets[0].rate(), 2 * MIB);
        // A reload changes the shared global bucket's rate.
        limits.download_rate = Some(MIB);
        let g2 = reg.for_transfer(&limits, Some(&alice), Way::Down);
        assert!(Arc::ptr_eq(&g1.buckets[0], &g2.buckets[0]));
        assert_eq!(g1.buckets[0].rate(), MIB);
        // ... and removing the limit frees new transfers.
        limits.download_rate = None;
        assert!(reg
            .for_transfer(&limits, Some(&alice), Way::Down)
            .is_unlimited());
        let both = {
            limits.upload_rate = Some(4 * MIB);
            reg.for_transfer(&limits, Some(&alice), Way::Up)
        };
        assert_eq!(both.buckets.len(), 2);
        assert_eq!(both.chunk(), Some(MIN_BURST.max(MIB / 8)));
    }
}
