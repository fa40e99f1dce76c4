//! The cache of recently verified logins kept by a [`UserDb`](super::UserDb).
//!
//! An argon2id verification costs tens of milliseconds of CPU and about 19 MiB of memory on
//! purpose; a burst of logins of one account (a mirror job opening many sessions, a client
//! reconnecting for every file) would pay it every time. This cache remembers successful
//! verifications for a short while so that such a burst pays the hash once.
//!
//! # What is stored
//!
//! - The key is HMAC-SHA256 over `user name || 0x00 || password`, keyed with 32 random bytes
//!   drawn from the operating system when the cache is created. User names never contain a
//!   NUL byte, so the encoding is unambiguous. The password itself, or a plain (unkeyed) hash
//!   of it, is never kept: a memory dump of the process gives MAC values that cannot be
//!   tested offline without the secret, and the secret dies with the process (or with the
//!   `UserDb` on a reload).
//! - The value is a SHA-256 fingerprint of the stored PHC string the password verified
//!   against, and the time of the verification.
//!
//! # When it answers
//!
//! A login is answered from the cache only if its key is present, the entry is younger than
//! the time-to-live (measured from the verification; hits do not extend it, so every cached
//! credential is verified again at least once per time-to-live), the account still exists,
//! is not disabled, and its current stored hash has the fingerprint the entry recorded. A
//! changed password therefore never matches an old entry; in practice `ferry user passwd`
//! followed by a reload builds a new `UserDb`, whose cache starts empty anyway.
//!
//! Failed verifications are never cached: a wrong password always pays the full argon2id
//! cost, so guessing stays as expensive as without the cache. Unknown users and anonymous
//! logins are never cached either.
//!
//! # Timing
//!
//! A hit answers in microseconds where a miss takes the full hash, so the time of a login
//! shows whether that exact user name and password pair logged in successfully within the
//! time-to-live. To learn anything from that an attacker must already know a correct
//! password: a wrong guess is never a hit, and a wrong guess for a cached user costs exactly
//! what it costs for any other user. Whether a name exists is still not revealed, because
//! unknown names pay the dummy hash as before.
//!
//! The lookup goes through a `HashMap` keyed by the MAC output, which compares keys with
//! ordinary (not constant-time) equality. That is fine: the attacker chooses the input of a
//! MAC keyed with a secret it does not know, so it can neither aim at a stored key nor learn
//! anything about one from how long a comparison took.
//!
//! # Bounds
//!
//! At most `capacity` entries (default [`DEFAULT_CAPACITY`]); when full, the oldest entry is
//! dropped. The mutex is held only for the map operations, never across an `.await` or a
//! hash verification.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Default number of cached logins.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Default time a verified login stays cached.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);

/// A MAC of a user name and password under the cache's secret.
pub(super) type Key = [u8; 32];

/// A SHA-256 fingerprint of a stored PHC string.
pub(super) type Fingerprint = [u8; 32];

/// Counters of a [`UserDb`](super::UserDb)'s login cache, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginCacheStats {
    /// Password logins answered from the cache, without a hash verification.
    pub hits: u64,
    /// Password logins that paid a full hash verification (wrong passwords and unknown
    /// users included).
    pub misses: u64,
    /// Entries held now (expired ones included until they are looked up or evicted).
    pub entries: usize,
}

struct Entry {
    fingerprint: Fingerprint,
    verified_at: Instant,
    generation: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Entry>,
    /// Keys in insertion order, with the generation they were inserted with; an item whose
    /// generation no longer matches the map's entry is stale and skipped.
    order: VecDeque<(Key, u64)>,
    next_generation: u64,
    hits: u64,
    misses: u64,
}

/// The bounded cache of recently verified logins (see the module documentation).
pub(super) struct LoginCache {
    secret: [u8; 32],
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Inner>,
}

impl LoginCache {
    /// An empty cache with a fresh random secret; `capacity` 0 or a zero `ttl` disables it.
    pub(super) fn new(capacity: usize, ttl: Duration) -> LoginCache {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        LoginCache {
            secret,
            capacity,
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn enabled(&self) -> bool {
        self.capacity > 0 && !self.ttl.is_zero()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map stays consistent whatever panicked while holding the lock.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The MAC of `user` and `password` under the cache's secret.
    pub(super) fn key(&self, user: &str, password: &str) -> Key {
        // HMAC accepts keys of any length, so this never fails; fall back to an all-zero
        // key (which then simply never matches a stored entry) rather than panic.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret) else {
            return [0; 32];
        };
        mac.update(user.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// True if `key` was verified against a hash of fingerprint `fingerprint` within the
    /// time-to-live (counted as a hit); otherwise counts a miss and drops a stale entry.
    pub(super) fn check(&self, key: &Key, fingerprint: Option<&Fingerprint>) -> bool {
        let mut inner = self.lock();
        let hit = match (inner.map.get(key), fingerprint) {
            (Some(entry), Some(fp)) => {
                if entry.verified_at.elapsed() < self.ttl && entry.fingerprint == *fp {
                    true
                } else {
                    inner.map.remove(key);
                    false
                }
            }
            _ => false,
        };
        if hit {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        hit
    }

    /// Records a successful verification of `key` against a hash of fingerprint
    /// `fingerprint`, evicting the oldest entries beyond the capacity.
    pub(super) fn insert(&self, key: Key, fingerprint: Fingerprint) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        let generation = inner.next_generation;
        inner.next_generation = generation.wrapping_add(1);
        inner.map.insert(
            key,
            Entry {
                fingerprint,
                verified_at: Instant::now(),
                generation,
            },
        );
        inner.order.push_back((key, generation));
        while inner.map.len() > self.capacity {
            let Some((old, old_generation)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .map
                .get(&old)
                .is_some_and(|e| e.generation == old_generation)
            {
                inner.map.remove(&old);
            }
        }
        // Stale order items (keys replaced or dropped since) are skipped above; keep their
        // number bounded too.
        if inner.order.len() > self.capacity.saturating_mul(2) {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(k, g)| map.get(k).is_some_and(|e| e.generation == *g));
        }
    }

    /// The counters.
    pub(super) fn stats(&self) -> LoginCacheStats {
        let inner = self.lock();
        LoginCacheStats {
            hits: inner.hits,
            misses: inner.misses,
            entries: inner.map.len(),
        }
    }
}

/// The SHA-256 fingerprint of a stored PHC string.
pub(super) fn fingerprint(phc: &str) -> Fingerprint {
    Sha256::digest(phc.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_keyed_and_unambiguous() {
        let a = LoginCache::new(4, DEFAULT_TTL);
        let b = LoginCache::new(4, DEFAULT_TTL);
        assert_eq!(a.key("alice", "pw"), a.key("alice", "pw"));
        assert_ne!(
            a.key("alice", "pw"),
            b.key("alice", "pw"),
            "per-cache secret"
        );
        assert_ne!(a.key("alice", "pw"), a.key("alicep", "w"));
        assert_ne!(a.key("alice", "pw"), a.key("alice", "pW"));
        let plain: [u8; 32] = Sha256::digest(b"alice\0pw").into();
        assert_ne!(a.key("alice", "pw"), plain, "not a plain hash");
    }

    #[test]
    fn a_different_stored_hash_is_a_miss_and_drops_the_entry() {
        let cache = LoginCache::new(4, DEFAULT_TTL);
        let key = cache.key("alice", "pw");
        let old = fingerprint("$argon2id$old");
        let new = fingerprint("$argon2id$new");
        cache.insert(key, old);
        assert!(cache.check(&key, Some(&old)));
        assert!(!cache.check(&key, Some(&new)));
        assert!(!cache.check(&key, Some(&old)), "dropped on the mismatch");
        assert!(!cache.check(&cache.key("alice", "pw"), None));
        assert_eq!(
            cache.stats(),
            LoginCacheStats {
                hits: 1,
                misses: 3,
                entries: 0
            }
        );
    }

    #[test]
    fn map_and_order_stay_bounded() {
        let cache = LoginCache::new(8, DEFAULT_TTL);
        let fp = fingerprint("h");
        for i in 0..5000u32 {
            // Many re-insertions of a few keys (stale order items) and many distinct keys.
            let key = cache.key(&format!("u{}", i % 3), &i.to_string());
            cache.insert(key, fp);
            let again = cache.key(&format!("u{}", i % 3), "same");
            cache.insert(again, fp);
            let inner = cache.lock();
            assert!(inner.map.len() <= 8);
            assert!(inner.order.len() <= 16 + 1);
        }
        assert_eq!(cache.stats().entries, 8);
    }
}
