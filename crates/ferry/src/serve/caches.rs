//! The caches the metrics endpoint reports: the listing cache of the local storage and the
//! login caches of the account databases in force.
//!
//! The storage lives as long as the process (a reload keeps it, so its counters only
//! grow). Account databases are replaced by a reload: the counters of a replaced one are
//! added to `retired` first, so `ferry_cache_lookups_total{cache="login"}` only grows too.

use std::sync::{Arc, Mutex, PoisonError};

use ferry_server::metrics::CacheReading;
use ferry_storage::local::LocalFsFactory;
use ferry_storage::users::UserDb;

/// The server's caches, for [`ferry_server::metrics::Metrics::watch_caches`].
pub(super) struct Caches {
    storage: LocalFsFactory,
    accounts: Mutex<Accounts>,
}

/// The account databases in force, and the lookups of those a reload replaced.
#[derive(Default)]
struct Accounts {
    current: Vec<Arc<UserDb>>,
    retired_hits: u64,
    retired_misses: u64,
}

impl Caches {
    /// Caches of `storage`, with no account database yet.
    pub(super) fn new(storage: LocalFsFactory) -> Caches {
        Caches {
            storage,
            accounts: Mutex::default(),
        }
    }

    /// The storage every host shares (one listing cache for the process).
    pub(super) fn storage(&self) -> &LocalFsFactory {
        &self.storage
    }

    /// `dbs` are the account databases in force now; the counters of those they replace
    /// are kept.
    pub(super) fn set_accounts(&self, dbs: Vec<Arc<UserDb>>) {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        for old in std::mem::replace(&mut accounts.current, dbs) {
            let s = old.cache_stats();
            accounts.retired_hits = accounts.retired_hits.saturating_add(s.hits);
            accounts.retired_misses = accounts.retired_misses.saturating_add(s.misses);
        }
    }

    /// The counters now: the listing cache (when there is one) and the login caches.
    pub(super) fn readings(&self) -> Vec<CacheReading> {
        let mut out = Vec::with_capacity(2);
        if let Some(s) = self.storage.listing_cache_stats() {
            out.push(CacheReading {
                cache: "listing",
                hits: s.hits,
                misses: s.misses,
                entries: s.dirs as u64,
                bytes: Some(s.bytes as u64),
                invalidations: Some(s.invalidated),
            });
        }
        let accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut login = CacheReading {
            cache: "login",
            hits: accounts.retired_hits,
            misses: accounts.retired_misses,
            ..CacheReading::default()
        };
        for db in &accounts.current {
            let s = db.cache_stats();
            login.hits = login.hits.saturating_add(s.hits);
            login.misses = login.misses.saturating_add(s.misses);
            login.entries = login.entries.saturating_add(s.entries as u64);
        }
        out.push(login);
        out
    }
}
