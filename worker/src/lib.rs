//! # routeq-worker
//!
//! The worker side of routeq: it pulls route jobs from the Redis jobs stream through the `workers`
//! consumer group, skips jobs whose deadline has passed, geocodes addresses and asks the directions
//! provider for a route under per-call timeouts and the job's budget, then completes each job
//! exactly once with one Lua script (store, TTL, publish "done", acknowledge). Entries a dead
//! worker left pending are reclaimed by the living. Workers are stateless: add or remove them at
//! any time.

pub mod app;
pub mod compute;
pub mod config;
pub mod consumer;
pub mod metrics;
pub mod providers;

pub use app::Worker;
pub use config::{WorkerArgs, WorkerConfig};
