//! In-flight coalescing ("single flight") of password verifications, and the small thread
//! pool the argon2id hashes run on.
//!
//! # Why
//!
//! The [login cache](super::login_cache) answers a login that was verified before; it does
//! not help a cold burst: 200 clients logging in as the same account at once all miss the
//! cache, and without coalescing each would pay the full argon2id hash (tens of
//! milliseconds of CPU and about 19 MiB of memory each).
//!
//! # How
//!
//! Concurrent verifications are keyed by the same MAC as the cache (HMAC-SHA256 of the user
//! name and password under the per-`UserDb` secret: the password is never stored) together
//! with the fingerprint of the stored hash they verify against. The first one (the leader)
//! registers a flight and queues the hash; the others with the same key and fingerprint wait
//! for that hash and share its result, whatever it is. A wrong password verified by a flight
//! is shared only with the verifications that were waiting for it at that moment: once the
//! flight ends it is forgotten, so a later attempt with the same wrong password pays the
//! full hash again (and the cache never records a failure).
//!
//! The result is published by the hash job itself, so waiters get it even if the leader's
//! session went away meanwhile; the flight is removed by the leader (or by the next
//! verification that finds it finished). The table holds at most `capacity` flights; when it
//! is full of running flights, a new verification simply runs its own hash. The mutex is
//! held only for map operations, never across a hash or an `.await`.
//!
//! # The hash pool
//!
//! Hashes run on a few dedicated threads (one per available core, at least two), never on
//! the async runtime's workers. Besides not blocking the runtime, this bounds the memory of
//! a burst of distinct logins: each running argon2id hash holds about 19 MiB, and a
//! thread's allocator keeps that memory for reuse, so a fixed small set of threads keeps at
//! most a few such blocks, where one blocking-pool thread per concurrent login would keep
//! one each (hundreds of MiB after a burst). Should the threads not start, the hash falls
//! back to tokio's blocking pool.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::{oneshot, watch};

use super::login_cache::{Fingerprint, Key};

/// Default number of verifications in flight at once that can be joined.
pub const DEFAULT_FLIGHTS: usize = 1024;

/// A hash job for the pool.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The result of a flight: `None` while the hash runs.
type Outcome = Option<bool>;

/// The verification could not complete (its hash job panicked or was lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lost;

struct Flight {
    fingerprint: Option<Fingerprint>,
    rx: watch::Receiver<Outcome>,
}

impl Flight {
    /// True while the hash runs and its result can still arrive.
    fn running(&self) -> bool {
        self.rx.borrow().is_none() && self.rx.has_changed().is_ok()
    }
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Flight>,
    joined: u64,
    led: u64,
}

/// Counters of the flights, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlightStats {
    /// Verifications that started a hash of their own (flight leaders and verifications
    /// that found the table full).
    pub hashed: u64,
    /// Verifications that waited for another one's hash instead.
    pub joined: u64,
    /// Flights registered now.
    pub in_flight: usize,
}

/// The bounded table of verifications in flight (see the module documentation).
pub(super) struct Flights {
    capacity: usize,
    inner: Mutex<Inner>,
}

enum Join {
    /// Wait for a running flight's result.
    Wait(watch::Receiver<Outcome>),
    /// Run the hash, publishing to the sender.
    Lead(watch::Sender<Outcome>, watch::Receiver<Outcome>),
    /// Table full: run the hash without registering.
    Alone,
}

/// Removes the leader's flight from the table when the leader is done (or dropped).
struct Landing<'a> {
    flights: &'a Flights,
    key: Key,
    rx: watch::Receiver<Outcome>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut inner = self.flights.lock();
        if inner
            .map
            .get(&self.key)
            .is_some_and(|f| f.rx.same_channel(&self.rx))
        {
            inner.map.remove(&self.key);
        }
    }
}

impl Flights {
    /// An empty table of at most `capacity` flights (0: never coalesce).
    pub(super) fn new(capacity: usize) -> Flights {
        Flights {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map stays consistent whatever panicked while holding the lock.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn join(&self, key: &Key, fingerprint: Option<&Fingerprint>) -> Join {
        let mut inner = self.lock();
        if let Some(flight) = inner.map.get(key) {
            if flight.running() && flight.fingerprint.as_ref() == fingerprint {
                let rx = flight.rx.clone();
                inner.joined += 1;
                return Join::Wait(rx);
            }
            inner.map.remove(key);
        }
        inner.led += 1;
        if inner.map.len() >= self.capacity {
            inner.map.retain(|_, f| f.running());
            if inner.map.len() >= self.capacity {
                return Join::Alone;
            }
        }
        let (tx, rx) = watch::channel(None);
        inner.map.insert(
            *key,
            Flight {
                fingerprint: fingerprint.copied(),
                rx: rx.clone(),
            },
        );
        Join::Lead(tx, rx)
    }

    /// Verifies with `hash` (a blocking password check), unless a verification with the same
    /// `key` and `fingerprint` is running: then waits for it and returns its result.
    pub(super) async fn verify<F>(
        &self,
        key: &Key,
        fingerprint: Option<&Fingerprint>,
        hash: F,
    ) -> Result<bool, Lost>
    where
        F: FnOnce() -> bool + Send + 'static,
    {
        match self.join(key, fingerprint) {
            Join::Wait(rx) => wait(rx).await,
            Join::Lead(tx, rx) => {
                let _landing = Landing {
                    flights: self,
                    key: *key,
                    rx: rx.clone(),
                };
                submit(Box::new(move || {
                    let matches = hash();
                    let _ = tx.send(Some(matches));
                }));
                wait(rx).await
            }
            Join::Alone => {
                let (tx, rx) = oneshot::channel();
                submit(Box::new(move || {
                    let _ = tx.send(hash());
                }));
                rx.await.map_err(|_| Lost)
            }
        }
    }

    /// The counters.
    pub(super) fn stats(&self) -> FlightStats {
        let inner = self.lock();
        FlightStats {
            hashed: inner.led,
            joined: inner.joined,
            in_flight: inner.map.len(),
        }
    }
}

async fn wait(mut rx: watch::Receiver<Outcome>) -> Result<bool, Lost> {
    match rx.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.ok_or(Lost),
        Err(_) => Err(Lost),
    }
}

/// The hash threads: a queue of jobs shared by a fixed set of threads.
struct Pool {
    tx: Mutex<mpsc::Sender<Job>>,
}

static POOL: OnceLock<Option<Pool>> = OnceLock::new();

fn start_pool() -> Option<Pool> {
    let threads = std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .max(2);
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let mut started = 0;
    for i in 0..threads {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("ferry-hash-{i}"))
            .spawn(move || loop {
                let job = {
                    let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
                    rx.recv()
                };
                match job {
                    // A panicking job drops its result sender: its waiters see `Lost`.
                    Ok(job) => {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                    Err(_) => return,
                }
            });
        if spawned.is_ok() {
            started += 1;
        }
    }
    (started > 0).then(|| Pool { tx: Mutex::new(tx) })
}

/// Runs `job` on the hash threads (or, if they could not start, on tokio's blocking pool).
fn submit(job: Job) {
    let job = match POOL.get_or_init(start_pool) {
        Some(pool) => {
            let tx = pool.tx.lock().unwrap_or_else(PoisonError::into_inner);
            match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            }
        }
        None => job,
    };
    drop(tokio::task::spawn_blocking(job));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(n: u8) -> Key {
        [n; 32]
    }

    /// Yields until `done` holds (bounded by a count of yields, not by time).
    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..1_000_000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("condition never reached");
    }

    /// A hash that blocks until released, counting its runs.
    fn gated(
        runs: &Arc<AtomicUsize>,
        result: bool,
    ) -> (impl FnOnce() -> bool + Send + 'static, mpsc::Sender<()>) {
        let (release, gate) = mpsc::channel::<()>();
        let runs = runs.clone();
        let hash = move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let _ = gate.recv();
            result
        };
        (hash, release)
    }

    async fn burst(result: bool) {
        let flights = Arc::new(Flights::new(8));
        let runs = Arc::new(AtomicUsize::new(0));
        let fp = [7u8; 32];
        let (hash, release) = gated(&runs, result);
        let mut tasks = tokio::task::JoinSet::new();
        let f = flights.clone();
        tasks.spawn(async move { f.verify(&key(1), Some(&fp), hash).await });
        until(|| flights.stats().in_flight == 1).await;
        for _ in 0..49 {
            let f = flights.clone();
            let never = || -> bool { panic!("a joined verification must not hash") };
            tasks.spawn(async move { f.verify(&key(1), Some(&fp), never).await });
        }
        until(|| flights.stats().joined == 49).await;
        release.send(()).expect("hash waiting");
        let mut results = Vec::new();
        while let Some(r) = tasks.join_next().await {
            results.push(r.expect("task"));
        }
        assert_eq!(results, vec![Ok(result); 50]);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one hash for the burst");
        let stats = flights.stats();
        assert_eq!((stats.hashed, stats.joined, stats.in_flight), (1, 49, 0));
    }

    #[tokio::test]
    async fn a_burst_of_the_same_login_pays_one_hash() {
        burst(true).await;
    }

    #[tokio::test]
    async fn a_wrong_password_is_shared_only_while_in_flight() {
        burst(false).await;
        // After the flight, the same wrong password pays a hash again.
        let flights = Flights::new(8);
        let runs = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let r = runs.clone();
            let got = flights
                .verify(&key(1), None, move || {
                    r.fetch_add(1, Ordering::SeqCst);
                    false
                })
                .await;
            assert_eq!(got, Ok(false));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(flights.stats().in_flight, 0);
    }

    #[tokio::test]
    async fn other_passwords_and_other_stored_hashes_do_not_join() {
        let flights = Arc::new(Flights::new(8));
        let runs = Arc::new(AtomicUsize::new(0));
        let (hash, release) = gated(&runs, true);
        let f = flights.clone();
        let leader = tokio::spawn(async move { f.verify(&key(1), Some(&[1; 32]), hash).await });
        until(|| flights.stats().in_flight == 1).await;
        // Another key, and the same key against another stored hash: each hashes itself.
        assert_eq!(
            flights.verify(&key(2), Some(&[1; 32]), || false).await,
            Ok(false)
        );
        assert_eq!(
            flights.verify(&key(1), Some(&[2; 32]), || false).await,
            Ok(false)
        );
        assert_eq!(flights.stats().joined, 0);
        release.send(()).expect("hash waiting");
        assert_eq!(leader.await.expect("task"), Ok(true));
    }

    #[tokio::test]
    async fn waiters_get_the_result_when_the_leader_goes_away() {
        let flights = Arc::new(Flights::new(8));
        let runs = Arc::new(AtomicUsize::new(0));
        let (hash, release) = gated(&runs, true);
        let f = flights.clone();
        let leader = tokio::spawn(async move { f.verify(&key(1), None, hash).await });
        until(|| flights.stats().in_flight == 1).await;
        let f = flights.clone();
        let waiter = tokio::spawn(async move { f.verify(&key(1), None, || false).await });
        until(|| flights.stats().joined == 1).await;
        leader.abort();
        assert!(leader.await.is_err(), "aborted");
        release.send(()).expect("hash waiting");
        assert_eq!(waiter.await.expect("task"), Ok(true));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_full_table_hashes_without_coalescing() {
        let flights = Arc::new(Flights::new(1));
        let runs = Arc::new(AtomicUsize::new(0));
        let (hash, release) = gated(&runs, true);
        let f = flights.clone();
        let leader = tokio::spawn(async move { f.verify(&key(1), None, hash).await });
        until(|| flights.stats().in_flight == 1).await;
        assert_eq!(flights.verify(&key(2), None, || true).await, Ok(true));
        assert_eq!(flights.stats().in_flight, 1, "not registered");
        release.send(()).expect("hash waiting");
        assert_eq!(leader.await.expect("task"), Ok(true));
        assert_eq!(flights.stats().in_flight, 0);
    }

    #[tokio::test]
    async fn a_panicking_hash_is_lost_for_everyone() {
        let flights = Flights::new(8);
        let got = flights
            .verify(&key(3), None, || -> bool { panic!("boom") })
            .await;
        assert_eq!(got, Err(Lost));
        assert_eq!(flights.stats().in_flight, 0);
    }
}
