//! The provider simulator as a real HTTP server on loopback.

pub use routeq_sim::{FaultPatch, FaultTarget, Provider, SimArgs, SimHandle, Simulator};

/// Starts a simulator in this process.
pub async fn start(args: SimArgs) -> SimHandle {
    Simulator::bind(args).await.expect("simulator").spawn()
}

/// Simulator settings with latency between `min_ms` and `max_ms`.
pub fn latency(min_ms: u64, max_ms: u64) -> SimArgs {
    SimArgs {
        latency_min_ms: min_ms,
        latency_max_ms: max_ms,
        ..SimArgs::default()
    }
}
