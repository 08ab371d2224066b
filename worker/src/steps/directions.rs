//! The directions step: route cache and coalescing → call chain → directions adapter.
//!
//! Identical requests are the same rounded points (5 decimals, about a metre) and profile, for
//! the same adapter.

use std::sync::Arc;
use std::time::Instant;

use routeq_shared::job::{Coord, Profile};

use crate::calls::cache::{AnswerCache, Served, digest};
use crate::calls::chain::Chain;
use crate::providers::{Directions, ProviderError, Route};

/// Routes through the cache and the chain.
pub struct RouteService {
    directions: Arc<dyn Directions>,
    chain: Arc<Chain>,
    cache: AnswerCache,
}

impl RouteService {
    pub fn new(directions: Arc<dyn Directions>, chain: Arc<Chain>, cache: AnswerCache) -> Self {
        RouteService {
            directions,
            chain,
            cache,
        }
    }

    /// The adapter's name (`osrm`, `kakao_mobility`).
    pub fn provider(&self) -> &'static str {
        self.directions.name()
    }

    pub async fn route(
        &self,
        points: &[Coord],
        profile: Profile,
        until: Instant,
    ) -> (Result<Route, ProviderError>, Served) {
        let rounded: Vec<String> = points
            .iter()
            .map(|c| format!("{:.5},{:.5}", c.lat, c.lon))
            .collect();
        let key = digest(&[self.directions.name(), profile.as_str(), &rounded.join(";")]);
        self.cache
            .get_or_call(&key, until, || {
                self.chain.call("route", until, |timeout| {
                    crate::calls::provider_time::timed(
                        self.directions.route(points, profile, timeout),
                    )
                })
            })
            .await
    }
}
