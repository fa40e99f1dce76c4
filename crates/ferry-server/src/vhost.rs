//! Virtual hosts (RFC 7151): several sites on one address and port.
//!
//! A client picks a virtual host before logging in, with `HOST name`, or with the server
//! name of its TLS handshake (SNI) on FTPS. Each [`VirtualHost`] has its own accounts
//! ([`Authenticator`], whose homes lie inside the host's root), its own storage and its
//! own greeting; its own certificate, if it has one, lives in the [`crate::tls::TlsContext`]
//! (see [`crate::tls::HostCertificate`]) and is presented to handshakes naming the host.
//! A connection that names no host uses the default host: the [`crate::ServerConfig`]'s
//! own authenticator, storage, greeting and certificate, exactly as a server without
//! virtual hosts.
//!
//! Rules the driver applies (the session state machine decides the replies):
//! - `HOST` is refused after login (`503`); an unknown name gets `504`;
//! - an IP literal of the address the client connected to (`HOST [192.0.2.1]`) names the
//!   default host unless a virtual host claims it;
//! - once the TLS server name chose a virtual host, `HOST` must name that same host
//!   (any of its names), else `504`; a `HOST` sent before `AUTH TLS` makes the handshake
//!   present that host's certificate, and a TLS server name naming another virtual host
//!   then ends the connection (`421`);
//! - `REIN` goes back to the host the connection started with.
//!
//! Limits, bans and session counts are server-wide; per-account session slots and quota
//! usage are keyed by account name, so accounts of different hosts should have different
//! names when they use those limits.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_storage::{Authenticator, StorageFactory};

/// One virtual host.
pub struct VirtualHost {
    /// Its names (lower-case domain names or bracketed IP literals), the first one shown in
    /// logs.
    pub names: Vec<String>,
    /// Its accounts.
    pub authenticator: Arc<dyn Authenticator>,
    /// Opens its accounts' storage.
    pub storage: Arc<dyn StorageFactory>,
    /// The text of the `220` reply to `HOST`; `None`: the server's greeting.
    pub greeting: Option<String>,
}

impl std::fmt::Debug for VirtualHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualHost")
            .field("names", &self.names)
            .field("greeting", &self.greeting)
            .finish_non_exhaustive()
    }
}

impl VirtualHost {
    /// The name shown in logs.
    pub fn name(&self) -> &str {
        self.names.first().map_or("", String::as_str)
    }
}

/// The virtual hosts of a server, found by any of their names.
#[derive(Debug, Default, Clone)]
pub struct VirtualHosts {
    hosts: Vec<Arc<VirtualHost>>,
    by_name: HashMap<String, usize>,
}

/// Why a set of virtual hosts cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VirtualHostError {
    /// Two hosts (or one host twice) claim the same name.
    #[error("the virtual host name {0} is given twice")]
    DuplicateName(String),
    /// A host has no name.
    #[error("a virtual host has no name")]
    NoName,
}

impl VirtualHosts {
    /// No virtual host: every connection uses the default host.
    pub fn new() -> VirtualHosts {
        VirtualHosts::default()
    }

    /// Adds a host under each of its names (compared without case and trailing dot).
    pub fn add(&mut self, host: VirtualHost) -> Result<(), VirtualHostError> {
        if host.names.is_empty() {
            return Err(VirtualHostError::NoName);
        }
        let index = self.hosts.len();
        let mut keys = Vec::with_capacity(host.names.len());
        for name in &host.names {
            let key = normalize(name);
            if self.by_name.contains_key(&key) || keys.contains(&key) {
                return Err(VirtualHostError::DuplicateName(key));
            }
            keys.push(key);
        }
        for key in keys {
            self.by_name.insert(key, index);
        }
        self.hosts.push(Arc::new(host));
        Ok(())
    }

    /// The host called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<VirtualHost>> {
        let index = *self.by_name.get(&normalize(name))?;
        self.hosts.get(index).cloned()
    }

    /// True when no virtual host is configured.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Every host, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<VirtualHost>> {
        self.hosts.iter()
    }
}

/// Lower case, without a trailing dot: `A.Example.` and `a.example` are one host.
pub fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use ferry_storage::local::LocalFsFactory;
    use ferry_storage::users::{AnonymousMode, UserDb};

    fn host(names: &[&str]) -> VirtualHost {
        VirtualHost {
            names: names.iter().map(|n| n.to_string()).collect(),
            authenticator: Arc::new(UserDb::new("/nonexistent".into(), AnonymousMode::Off)),
            storage: Arc::new(LocalFsFactory::new()),
            greeting: None,
        }
    }

    #[test]
    fn names_are_found_without_case_and_duplicates_refused() {
        let mut hosts = VirtualHosts::new();
        hosts.add(host(&["a.example", "www.a.example"])).unwrap();
        hosts.add(host(&["[192.0.2.1]"])).unwrap();
        assert_eq!(hosts.get("WWW.A.Example.").unwrap().name(), "a.example");
        assert!(hosts.get("[192.0.2.1]").is_some());
        assert!(hosts.get("b.example").is_none());
        assert_eq!(
            hosts.add(host(&["b.example", "A.EXAMPLE"])).unwrap_err(),
            VirtualHostError::DuplicateName("a.example".into())
        );
        // A refused host adds none of its names.
        assert!(hosts.get("b.example").is_none());
        assert_eq!(hosts.add(host(&[])).unwrap_err(), VirtualHostError::NoName);
    }
}
