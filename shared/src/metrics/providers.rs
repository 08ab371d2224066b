//! Calls to the external providers and the chain around them: rate limit, breaker, retries,
//! caches. `provider` is an adapter name (`nominatim`, `osrm`, `kakao_local`, `kakao_mobility`).

use super::Metric;

/// Provider calls made (each attempt) by `provider`, `operation` (geocode, route) and `outcome`.
pub const CALLS: Metric = Metric::counter(
    "routeq_provider_calls_total",
    "Provider calls made (each attempt), by provider, operation and outcome.",
    &["provider", "operation", "outcome"],
);
/// Provider call duration by `provider`, `operation` and `outcome`.
pub const CALL_SECONDS: Metric = Metric::histogram(
    "routeq_provider_call_duration_seconds",
    "Duration of provider calls, by provider, operation and outcome.",
    &["provider", "operation", "outcome"],
);
/// Retries of a failed provider call by `provider` and `reason` (the failure's label).
pub const RETRIES: Metric = Metric::counter(
    "routeq_provider_retries_total",
    "Retries of failed provider calls, by provider and the failure that caused them.",
    &["provider", "reason"],
);
/// Circuit breaker state by `provider`: 0 closed, 1 open, 2 half-open (this process's breaker).
pub const BREAKER_STATE: Metric = Metric::gauge(
    "routeq_breaker_state",
    "Circuit breaker state of this worker, by provider: 0 closed, 1 open, 2 half-open.",
    &["provider"],
);
/// Circuit breaker transitions by `provider` and `to` (closed, open, half_open).
pub const BREAKER_TRANSITIONS: Metric = Metric::counter(
    "routeq_breaker_transitions_total",
    "Circuit breaker transitions, by provider and new state.",
    &["provider", "to"],
);
/// Calls the breaker refused without calling the provider, by `provider`.
pub const BREAKER_REJECTED: Metric = Metric::counter(
    "routeq_breaker_rejected_total",
    "Calls the circuit breaker refused without calling the provider, by provider.",
    &["provider"],
);
/// Calls that waited for a slot under the fleet-wide rate limit (or a Retry-After), by `provider`.
pub const RATE_LIMIT_WAITS: Metric = Metric::counter(
    "routeq_rate_limit_waits_total",
    "Calls that waited for a slot under the fleet-wide rate limit, by provider.",
    &["provider"],
);
/// How long calls waited for their slot, by `provider`.
pub const RATE_LIMIT_WAIT_SECONDS: Metric = Metric::histogram(
    "routeq_rate_limit_wait_seconds",
    "How long calls waited for their rate-limit slot, by provider.",
    &["provider"],
);
/// Calls refused because no slot was free before the job's deadline, by `provider`.
pub const RATE_LIMIT_REFUSED: Metric = Metric::counter(
    "routeq_rate_limit_refused_total",
    "Calls refused because no rate-limit slot was free before the job's deadline, by provider.",
    &["provider"],
);
/// Cache lookups by `cache` (geocode, route) and `result` (hit, miss).
pub const CACHE_LOOKUPS: Metric = Metric::counter(
    "routeq_cache_lookups_total",
    "Provider answer cache lookups, by cache and result.",
    &["cache", "result"],
);
/// Requests answered by an identical request's call in flight, by `cache` (geocode, route).
pub const COALESCED: Metric = Metric::counter(
    "routeq_coalesced_calls_total",
    "Requests answered by an identical request's provider call in flight, by cache.",
    &["cache"],
);
/// Geocode store (PostgreSQL) lookups by `result`: hit, miss, error.
pub const GEOCODE_STORE: Metric = Metric::counter(
    "routeq_geocode_store_lookups_total",
    "Lookups in our own geocode store (PostgreSQL), by result.",
    &["result"],
);

pub const ALL: &[&Metric] = &[
    &CALLS,
    &CALL_SECONDS,
    &RETRIES,
    &BREAKER_STATE,
    &BREAKER_TRANSITIONS,
    &BREAKER_REJECTED,
    &RATE_LIMIT_WAITS,
    &RATE_LIMIT_WAIT_SECONDS,
    &RATE_LIMIT_REFUSED,
    &CACHE_LOOKUPS,
    &COALESCED,
    &GEOCODE_STORE,
];
