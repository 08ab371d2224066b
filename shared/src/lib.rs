//! # routeq-shared
//!
//! What the gateway and the workers must agree on, and nothing else:
//! - [`codes`]: the one catalogue of outcome codes (HTTP status, title, success or not);
//! - [`job`] and [`problem`]: the validated route request, the job's states, the bodies clients read;
//! - [`keys`] and [`store`]: the Redis key space and the Lua scripts that change a job's state;
//! - [`connect`]: Redis configuration and the two kinds of connection;
//! - [`deadletters`]: the dead-letter stream, and parking, replaying and purging its jobs;
//! - [`scripts`]: the Lua scripts of the worker's rate limiter and cache coalescing;
//! - [`telemetry`]: logging and metrics set-up.
//!
//! Data flows one way: gateway → `{p}:jobs` stream → worker → job hash + `{p}:done` → gateway.

pub mod codes;
pub mod connect;
pub mod db;
pub mod deadletters;
pub mod job;
pub mod keys;
pub mod problem;
pub mod runtime;
pub mod scripts;
pub mod secrets;
pub mod store;
pub mod telemetry;

pub use codes::Code;
