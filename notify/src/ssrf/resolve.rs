//! Name resolution, injectable: the system resolver in production ([`SystemResolver`], through
//! `tokio::net::lookup_host`), a fixed map in tests ([`MapResolver`]) so a test can make any name
//! resolve to any address, change the answer between calls (DNS rebinding) and count lookups.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The future of one lookup.
pub type Resolving<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Resolves a host name (never an IP literal: those are not looked up) to its addresses.
pub trait Resolve: Send + Sync + 'static {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolving<'a>;
}

/// The operating system's resolver (getaddrinfo on tokio's blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolving<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A resolver answering from a map (names are matched case-insensitively, without a trailing
/// dot); an unknown name fails as NXDOMAIN would. For tests and local development.
#[derive(Debug, Default)]
pub struct MapResolver {
    names: Mutex<HashMap<String, Vec<IpAddr>>>,
    lookups: AtomicU64,
}

fn key(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl MapResolver {
    pub fn new() -> MapResolver {
        MapResolver::default()
    }

    /// Builder form of [`MapResolver::set`].
    pub fn with(self, host: &str, addrs: &[IpAddr]) -> MapResolver {
        self.set(host, addrs);
        self
    }

    /// Makes `host` resolve to `addrs` from now on (replacing an earlier answer).
    pub fn set(&self, host: &str, addrs: &[IpAddr]) {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key(host), addrs.to_vec());
    }

    /// How many lookups were answered or failed so far.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl Resolve for MapResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolving<'a> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key(host))
            .cloned();
        Box::pin(async move {
            answer.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no such host: {host}"))
            })
        })
    }
}

/// Fixed answers for some names, the system resolver for every other name: what the
/// `--webhook-hosts name=ip,…` flag of the gateway and the notifier builds (like curl's
/// `--resolve`), so development and process tests can make a name resolve to any address.
#[derive(Debug, Default)]
pub struct OverrideResolver {
    names: HashMap<String, Vec<IpAddr>>,
}

/// Why a `--webhook-hosts` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("host override {0:?} is not name=address[;address…]")]
pub struct OverrideError(pub String);

impl OverrideResolver {
    /// Parses `name=ip[;ip…]` entries separated by commas or spaces.
    pub fn parse(text: &str) -> Result<OverrideResolver, OverrideError> {
        let mut names = HashMap::new();
        for entry in text.split([',', ' ']).filter(|s| !s.trim().is_empty()) {
            let bad = || OverrideError(entry.to_string());
            let (name, addrs) = entry.split_once('=').ok_or_else(bad)?;
            let addrs = addrs
                .split(';')
                .map(|a| a.trim().parse::<IpAddr>().map_err(|_| bad()))
                .collect::<Result<Vec<_>, _>>()?;
            if name.trim().is_empty() {
                return Err(bad());
            }
            names.insert(key(name.trim()), addrs);
        }
        Ok(OverrideResolver { names })
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl Resolve for OverrideResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolving<'a> {
        match self.names.get(&key(host)) {
            Some(addrs) => {
                let addrs = addrs.clone();
                Box::pin(async move { Ok(addrs) })
            }
            None => SystemResolver.resolve(host),
        }
    }
}
