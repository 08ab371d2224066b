//! The provider simulator's own metrics (loadtest/simulator): what it served and the faults it
//! is set to inject. It renders them with the same exporter as the other binaries.

use super::Metric;

pub const REQUESTS: Metric = Metric::counter(
    "routeq_sim_requests_total",
    "Provider requests served by the simulator, by provider and outcome.",
    &["provider", "outcome"],
);
pub const MAX_RPS: Metric = Metric::gauge(
    "routeq_sim_max_requests_per_second",
    "Most requests that arrived within one 1-second window since the last reset.",
    &["provider"],
);
pub const FAULT_RATE: Metric = Metric::gauge(
    "routeq_sim_fault_rate",
    "Configured fraction of requests that get an injected fault, by kind.",
    &["provider", "kind"],
);
pub const DOWN: Metric = Metric::gauge(
    "routeq_sim_down",
    "Whether the provider is switched down (1) or not (0).",
    &["provider"],
);
pub const LATENCY_MS: Metric = Metric::gauge(
    "routeq_sim_latency_ms",
    "Configured latency bounds in milliseconds.",
    &["provider", "bound"],
);

pub const ALL: &[&Metric] = &[&REQUESTS, &MAX_RPS, &FAULT_RATE, &DOWN, &LATENCY_MS];
