//! The binaries' tokio runtime, with a `--threads` setting.
//!
//! On a small machine, threads of one process handing work to each other cost more than the work:
//! in a profile of the gateway under load, context switches and wake-ups were about a sixth of its
//! CPU, and one runtime thread per worker process used less CPU per job than one per core
//! (loadtest/reports/loadtest-issue6.md). The fleet scales by processes, so a worker defaults to
//! one thread; the gateway to one per core.

/// Runtime settings.
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// Runtime threads for this process; 0 = one per core (or `TOKIO_WORKER_THREADS`). The
    /// default is the binary's own: 1 for a worker (scale workers by processes), 0 for the gateway
    #[arg(long = "threads", env = "ROUTEQ_THREADS")]
    pub threads: Option<usize>,
}

impl RuntimeArgs {
    /// A multi-thread runtime with `--threads` threads, or `default` when the flag is not set.
    pub fn build(&self, default: usize) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        match self.threads.unwrap_or(default) {
            0 => &mut builder,
            n => builder.worker_threads(n),
        }
        .enable_all()
        .build()
    }
}

/// A one-thread runtime for short commands (health checks, operator commands).
pub fn small() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::RuntimeArgs;

    #[test]
    fn the_flag_wins_over_the_binary_default() {
        let two = RuntimeArgs { threads: Some(2) }.build(1).expect("runtime");
        assert_eq!(two.metrics().num_workers(), 2);
        let default = RuntimeArgs { threads: None }.build(1).expect("runtime");
        assert_eq!(default.metrics().num_workers(), 1);
    }
}
