//! # routeq-shared
//!
//! What the gateway and the workers must agree on, and nothing else:
//! - [`codes`]: the one catalogue of outcome codes (HTTP status, title, success or not);
//! - [`job`] and [`problem`]: the validated route request, the job's states, the bodies clients read;
//! - [`redis`]: the Redis key space, the record's shape, the Lua scripts and their replies,
//!   connections, and the job store, outbox and dead letters built on them;
//! - [`db`]: PostgreSQL, the durable record and the geocode store;
//! - [`metrics`]: the catalogue of every metric, by concern;
//! - [`admin`]: what operators read and do (overview, any job, pause), for the CLI and the console;
//! - [`telemetry`], [`runtime`], [`secrets`], [`clock`]: process set-up every binary shares.
//!
//! Data flows one way: gateway → `{p}:jobs` stream → worker → job hash + `{p}:done` → gateway.

pub mod admin;
pub mod clock;
pub mod codes;
pub mod db;
pub mod job;
pub mod metrics;
pub mod problem;
pub mod redis;
pub mod runtime;
pub mod secrets;
pub mod telemetry;

pub use codes::Code;
