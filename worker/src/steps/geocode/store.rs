//! Geocoding from our own store first. Addresses rarely move, and a provider's quota is precious:
//! an address resolved once is kept in PostgreSQL under our own key and never sent to a provider
//! again, across restarts and across the fleet. Without a database configured, every address goes
//! to the provider.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use routeq_shared::db;
use routeq_shared::job::Coord;
use sqlx::PgPool;

use super::{AddressResolver, Resolved};
use crate::providers::ProviderError;
use routeq_shared::metrics::providers as m;

/// Resolves addresses: our store, then `inner` (the Redis cache and the provider chain), whose
/// answer is then stored.
pub struct GeoStore {
    pool: Option<PgPool>,
    inner: Arc<dyn AddressResolver>,
    /// The longest one store query may take (never past the job's budget either).
    query_timeout: Duration,
}

impl GeoStore {
    pub fn new(
        pool: Option<PgPool>,
        inner: Arc<dyn AddressResolver>,
        query_timeout: Duration,
    ) -> GeoStore {
        GeoStore {
            pool,
            inner,
            query_timeout,
        }
    }

    /// Resolves `address`. A store that cannot be reached is skipped (logged), never fatal: the
    /// provider still answers.
    async fn lookup(&self, address: &str, until: Instant) -> Result<Resolved, ProviderError> {
        // The store is a shortcut: it may take the query timeout at most, leaving the rest of
        // the budget to the provider.
        let timeout = until
            .saturating_duration_since(Instant::now())
            .min(self.query_timeout);
        if let Some(pool) = &self.pool {
            match tokio::time::timeout(timeout, db::geocode_get(pool, address)).await {
                Ok(Ok(Some(stored))) => {
                    metrics::counter!(m::GEOCODE_STORE.name, "result" => "hit").increment(1);
                    if let Ok(coord) = Coord::new(stored.lat, stored.lon) {
                        return Ok(Resolved {
                            coord,
                            place_id: String::new(),
                            display_name: String::new(),
                            source: stored.provider,
                            cached: true,
                        });
                    }
                }
                Ok(Ok(None)) => {
                    metrics::counter!(m::GEOCODE_STORE.name, "result" => "miss").increment(1)
                }
                Ok(Err(e)) => {
                    metrics::counter!(m::GEOCODE_STORE.name, "result" => "error").increment(1);
                    tracing::warn!(error = %e, "geocode store unavailable; asking the provider");
                }
                Err(_) => {
                    metrics::counter!(m::GEOCODE_STORE.name, "result" => "error").increment(1);
                    tracing::warn!("geocode store too slow; asking the provider");
                }
            }
        }
        let answer = self.inner.resolve(address, until).await?;
        if let Some(pool) = &self.pool {
            let timeout = until
                .saturating_duration_since(Instant::now())
                .min(self.query_timeout);
            let stored = tokio::time::timeout(
                timeout,
                db::geocode_put(
                    pool,
                    address,
                    answer.coord.lat,
                    answer.coord.lon,
                    &answer.source,
                    &answer.place_id,
                    &answer.display_name,
                ),
            )
            .await;
            match stored {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "could not store a geocode; it will be asked again")
                }
                Err(_) => tracing::warn!(
                    "storing a geocode took longer than the query timeout; it will be asked again"
                ),
            }
        }
        Ok(answer)
    }
}

impl AddressResolver for GeoStore {
    fn resolve<'a>(
        &'a self,
        address: &'a str,
        until: Instant,
    ) -> BoxFuture<'a, Result<Resolved, ProviderError>> {
        Box::pin(self.lookup(address, until))
    }
}
