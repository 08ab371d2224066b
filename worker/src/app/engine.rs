//! Assembling the provider side from configuration: adapters → one call chain per provider
//! (fleet-wide rate limit, breaker, timeout, retry) → caches with fleet-wide coalescing → the
//! address resolver and the route service → the [`Engine`] every job computes with.
//!
//! `front` wraps the resolver (e.g. a durable geocode store consulted before the provider), so
//! the geocoding step stays one call whatever stands in front of the provider.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use routeq_shared::redis::{Conn, Keys};

use crate::calls::breaker::Breaker;
use crate::calls::cache::AnswerCache;
use crate::calls::chain::Chain;
use crate::calls::ratelimit::RateLimiter;
use crate::config::WorkerConfig;
use crate::providers::{ProviderSet, ProviderSettings};
use crate::steps::Engine;
use crate::steps::directions::RouteService;
use crate::steps::geocode::{AddressResolver, ProviderResolver};

/// Builds the engine. `front` receives the cache-and-provider resolver and returns what jobs
/// call to resolve an address.
pub fn engine(
    cfg: &WorkerConfig,
    conn: Conn,
    keys: &Keys,
    front: impl FnOnce(Arc<dyn AddressResolver>) -> Arc<dyn AddressResolver>,
) -> anyhow::Result<Engine> {
    let set = ProviderSet::new(ProviderSettings {
        kind: cfg.provider,
        geocoder_url: &cfg.geocoder_url,
        router_url: &cfg.router_url,
        user_agent: &cfg.user_agent,
        kakao_key: cfg.resilience.kakao_key().map_err(anyhow::Error::msg)?,
        estimate: crate::providers::estimate::Estimate {
            detour_factor: cfg.resilience.fallback_detour_factor,
            speed_kmh: cfg.resilience.fallback_speed_kmh,
        },
    })
    .context("building the provider adapters")?;
    let r = &cfg.resilience;
    let call_timeout = Duration::from_millis(cfg.call_timeout_ms);
    let chain = |provider: &'static str, rps: f64| {
        Arc::new(
            Chain::new(
                provider,
                RateLimiter::new(conn.clone(), keys, provider, rps),
                Breaker::new(provider, &r.breaker_policy()),
                r.retry_policy(),
                call_timeout,
            )
            .with_retry_after_max(Duration::from_millis(r.retry_after_max_ms)),
        )
    };
    super::metrics::register_provider(set.geocoder.name(), "geocode");
    super::metrics::register_provider(set.directions.name(), "route");
    let geo_chain = chain(set.geocoder.name(), r.geocoder_rps);
    let route_chain = chain(set.directions.name(), r.router_rps);
    let mut breakers = vec![geo_chain.breaker().watcher()];
    if route_chain.breaker().provider() != geo_chain.breaker().provider() {
        breakers.push(route_chain.breaker().watcher());
    }
    tracing::info!(
        geocoder = set.geocoder.name(),
        directions = set.directions.name(),
        simulated = set.simulated,
        geocoder_rps = r.geocoder_rps,
        router_rps = r.router_rps,
        "providers configured"
    );
    let resolver: Arc<dyn AddressResolver> = Arc::new(ProviderResolver::new(
        set.geocoder.clone(),
        geo_chain,
        AnswerCache::new(
            "geo",
            conn.clone(),
            keys.clone(),
            Duration::from_secs(r.geocode_cache_ttl_s),
            r.coalesce,
        )
        .with_negative_ttl(Duration::from_secs(r.negative_cache_ttl_s)),
        set.label,
    ));
    // Cache and coalesce only calls that cost something: an in-process estimate is cheaper to
    // compute again than a Redis lease and cache round trip.
    let in_process = cfg.provider == crate::config::ProviderKind::Estimate;
    let routes = RouteService::new(
        set.directions.clone(),
        route_chain,
        AnswerCache::new(
            "route",
            conn,
            keys.clone(),
            if in_process {
                Duration::ZERO
            } else {
                Duration::from_secs(r.route_cache_ttl_s)
            },
            r.coalesce && !in_process,
        )
        .with_negative_ttl(Duration::from_secs(r.negative_cache_ttl_s)),
    );
    Ok(Engine {
        resolver: front(resolver),
        routes,
        fallback: r.fallback_policy(),
        label: set.label,
        simulated: set.simulated,
        stations: None,
        breakers,
    })
}
