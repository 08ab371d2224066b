//! Command-line flags of `routeq-bench`.

use std::path::PathBuf;

/// Which scenario(s) to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Fire-and-forget submissions at zero provider latency: submissions/s, completions/s, CPU per job.
    Throughput,
    /// Closed-loop `Prefer: wait` requests at zero provider latency: what routeq adds to a job.
    Overhead,
    /// A backlog drained against 150–250 ms provider latency: achieved vs theoretical capacity.
    Capacity,
    /// Throughput, then overhead, then capacity.
    All,
}

impl Scenario {
    pub fn includes(self, other: Scenario) -> bool {
        self == Scenario::All || self == other
    }
}

/// Starts a routeq fleet (simulator, one gateway, N workers) on free loopback ports with a unique
/// key prefix, pushes jobs through it and prints a Markdown report to stdout.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "routeq-bench", version)]
pub struct Args {
    /// Scenario to run.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    pub scenario: Scenario,

    /// Repetitions of each scenario (the report gives the median and the min–max spread).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// Jobs per throughput run.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub jobs: u64,

    /// Concurrent keep-alive HTTP connections (one client each).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub clients: u64,

    /// Worker processes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: u64,

    /// `--concurrency` of each worker (jobs in flight per process).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: u64,

    /// Jobs per overhead run.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub overhead_jobs: u64,

    /// Closed-loop clients of the overhead scenario (default: --clients). 1 measures the overhead
    /// of an unloaded fleet; many measure it under load, queueing included.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub overhead_clients: Option<u64>,

    /// Jobs per capacity run (the backlog drained against provider latency).
    #[arg(long, default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub capacity_jobs: u64,

    /// Jobs pushed through each fresh fleet before its measured runs (not reported).
    #[arg(long, default_value_t = 500)]
    pub warmup_jobs: u64,

    /// Redis the fleet and the bench use. Shared: the bench only touches keys under its own prefix.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,

    /// Directory holding routeq-gateway, routeq-worker and routeq-sim.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,

    /// Also write the report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Args {
    pub fn overhead_clients(&self) -> u64 {
        self.overhead_clients.unwrap_or(self.clients)
    }
}
