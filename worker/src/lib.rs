//! # routeq-worker
//!
//! The worker side of routeq: it pulls route jobs from the Redis jobs stream through the `workers`
//! consumer group, skips jobs whose deadline has passed, geocodes addresses and asks the directions
//! provider for a route under per-call timeouts and the job's budget, then completes each job
//! exactly once with one Lua script (store, TTL, publish "done", acknowledge). Entries a dead
//! worker left pending are reclaimed by the living. Workers are stateless: add or remove them at
//! any time.
//!
//! Every provider call goes through one chain ([`chain`]): fleet-wide rate limit ([`ratelimit`])
//! → circuit breaker with the per-call timeout inside ([`breaker`]) → retry ([`retry`]), behind
//! a cache that also coalesces identical calls across the fleet ([`cache`]). When the directions
//! provider fails, a job may carry an estimate ([`fallback`]) — never a success. Jobs that never
//! complete are parked as dead letters, which the CLI ([`cli`]) lists, replays and purges.

pub mod app;
pub mod breaker;
pub mod cache;
pub mod chain;
pub mod cli;
pub mod completer;
pub mod compute;
pub mod config;
pub mod consumer;
pub mod fallback;
pub mod geostore;
pub mod metrics;
pub mod provider_time;
pub mod providers;
pub mod ratelimit;
pub mod recorder;
pub mod resilience;
pub mod resolve;
pub mod retry;
pub mod routes;
pub mod secret;
pub mod wiring;

pub use app::Worker;
pub use config::{WorkerArgs, WorkerConfig};
