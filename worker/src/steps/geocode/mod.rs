//! Resolving an address: **the one call** the job's geocoding step makes ([`AddressResolver`]).
//!
//! Whatever stands in front of the provider wraps this trait, so the compute step never changes:
//! our own durable store ([`store`]) first, then [`ProviderResolver`], which goes Redis cache and
//! fleet-wide coalescing → call chain (rate limit → breaker → timeout → retry) → geocoder.

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::BoxFuture;
use routeq_shared::job::Coord;

use crate::calls::cache::{AnswerCache, Served, digest};
use crate::calls::chain::Chain;
use crate::providers::{Geocoded, Geocoder, ProviderError};

pub mod store;

/// Coordinates for an address, and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub coord: Coord,
    /// The provider's id and name of the place (attributes; "" when unknown).
    pub place_id: String,
    pub display_name: String,
    /// Who produced the coordinates (the provider family's label, e.g. `simulator`).
    pub source: String,
    /// True when no provider call was made for this job (cache or a shared call).
    pub cached: bool,
}

/// Address → coordinates, before `until`.
pub trait AddressResolver: Send + Sync {
    fn resolve<'a>(
        &'a self,
        address: &'a str,
        until: Instant,
    ) -> BoxFuture<'a, Result<Resolved, ProviderError>>;
}

/// Trims, collapses whitespace; the cache key also ignores case.
pub fn normalize(address: &str) -> String {
    address.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The geocoder behind the cache and the call chain.
pub struct ProviderResolver {
    geocoder: Arc<dyn Geocoder>,
    chain: Arc<Chain>,
    cache: AnswerCache,
    label: &'static str,
}

impl ProviderResolver {
    pub fn new(
        geocoder: Arc<dyn Geocoder>,
        chain: Arc<Chain>,
        cache: AnswerCache,
        label: &'static str,
    ) -> ProviderResolver {
        ProviderResolver {
            geocoder,
            chain,
            cache,
            label,
        }
    }

    async fn lookup(&self, address: &str, until: Instant) -> Result<Resolved, ProviderError> {
        let query = normalize(address);
        let key = digest(&[self.geocoder.name(), &query.to_lowercase()]);
        let (result, served): (Result<Geocoded, ProviderError>, Served) = self
            .cache
            .get_or_call(&key, until, || {
                self.chain.call("geocode", until, |timeout| {
                    crate::calls::provider_time::timed(self.geocoder.geocode(&query, timeout))
                })
            })
            .await;
        result.map(|g| Resolved {
            coord: g.coord,
            place_id: g.place_id,
            display_name: g.display_name,
            source: self.label.to_string(),
            cached: served.cached(),
        })
    }
}

impl AddressResolver for ProviderResolver {
    fn resolve<'a>(
        &'a self,
        address: &'a str,
        until: Instant,
    ) -> BoxFuture<'a, Result<Resolved, ProviderError>> {
        Box::pin(self.lookup(address, until))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalizing_collapses_whitespace() {
        assert_eq!(super::normalize("  Seoul   Station \t"), "Seoul Station");
    }
}
