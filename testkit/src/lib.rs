//! # routeq-testkit
//!
//! The one harness every integration test uses, so a fleet is started the same way everywhere:
//! - [`proc`]: child processes stopped by PID when dropped, free ports, the workspace's binaries;
//! - [`redis`]: a key prefix of a test's own on the shared Redis (deleted when dropped), and
//!   private `redis-server`s on free ports for the tests that break Redis;
//! - [`sentinel`], [`cluster`]: a Sentinel deployment (master, two replicas, three sentinels) or
//!   a three-shard Redis Cluster of a test's own, to kill, stop and fail over;
//! - [`proxy`]: a TCP proxy that cuts or silently stalls the path to any server;
//! - [`pg`]: a PostgreSQL database of a test's own;
//! - [`gateway`], [`worker`], [`sim`]: one gateway, worker or simulator, in-process or as a
//!   process;
//! - [`fleet`]: a gateway, the simulator and workers under one prefix, with a completion counter;
//! - [`http`]: the API as a client uses it (submit, poll, wait) and metrics scrapes.
//!
//! Tests share the machine's Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432
//! (`scripts/setup.sh`), each under names of its own, so they run in parallel.

pub mod browser;
pub mod cluster;
pub mod fleet;
pub mod gateway;
pub mod http;
mod node;
pub mod notifier;
pub mod pg;
pub mod proc;
pub mod proxy;
pub mod redis;
pub mod sentinel;
pub mod sim;
pub mod worker;

pub use cluster::RedisCluster;
pub use fleet::Fleet;
pub use gateway::TestGateway;
pub use pg::TestDb;
pub use proc::{Proc, free_port};
pub use proxy::TcpProxy;
pub use redis::{Prefix, PrivateRedis};
pub use sentinel::SentinelGroup;

/// The machine's shared Redis.
pub const REDIS: &str = "redis://127.0.0.1:6379";

/// A distinct trip in Seoul for each `i` (so neither the cache nor coalescing joins them).
pub fn trip(i: u32) -> serde_json::Value {
    let d = f64::from(i) * 0.0007;
    serde_json::json!({"origin": coords(37.4979 + d, 127.0276), "destination": coords(37.5547, 126.9707 + d)})
}

/// A place given by coordinates.
pub fn coords(lat: f64, lon: f64) -> serde_json::Value {
    serde_json::json!({"lat": lat, "lon": lon})
}

/// Gangnam to Seoul Station, by coordinates.
pub fn seoul_trip() -> serde_json::Value {
    serde_json::json!({"origin": coords(37.4979, 127.0276), "destination": coords(37.5547, 126.9707)})
}
