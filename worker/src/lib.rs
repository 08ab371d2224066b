//! # routeq-worker
//!
//! The worker side of routeq: it pulls route jobs from the Redis jobs stream through the `workers`
//! consumer group, skips jobs whose deadline has passed, geocodes addresses and asks the directions
//! provider for a route under per-call timeouts and the job's budget, then completes each job
//! exactly once with one Lua script (store, TTL, publish "done", acknowledge). Entries a dead
//! worker left pending are reclaimed by the living. Workers are stateless: add or remove them at
//! any time.
//!
//! - [`app`]: building and running a worker; [`config`]: its flags and their invariants;
//! - [`job`]: a job's life in the worker — read, start, compute, complete, park;
//! - [`steps`]: the computation — geocode, directions, fallback estimate;
//! - [`calls`]: the chain every provider call goes through — rate limit, breaker, timeout,
//!   retry, cache and coalescing;
//! - [`providers`]: one adapter per provider protocol;
//! - [`ops`]: the worker's HTTP endpoints, the operator's commands, the recorder.

pub mod app;
pub mod calls;
pub mod config;
pub mod job;
pub mod ops;
pub mod providers;
pub mod steps;

pub use app::Worker;
pub use config::{WorkerArgs, WorkerConfig};
