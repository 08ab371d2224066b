//! `routeq-sim`: serves the provider simulator until SIGINT or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use routeq_sim::{SimArgs, Simulator};

/// A simulator of routeq's external route providers (OSRM, Nominatim, Kakao Mobility, Kakao
/// Local) with injectable latency and faults. Admin API: /_sim/faults, /_sim/stats, /metrics.
#[derive(Debug, Parser)]
#[command(
    name = "routeq-sim",
    version,
    after_help = "Health probe for containers: `routeq-sim healthcheck [--url URL]` exits 0 when a running simulator answers 200 on /healthz."
)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
    /// `--log-format` (ROUTEQ_LOG_FORMAT) and `--log-level` (ROUTEQ_LOG), as every routeq binary.
    #[command(flatten)]
    log: routeq_shared::telemetry::LogArgs,
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutdown signal received");
}

#[tokio::main]
async fn main() -> ExitCode {
    // `routeq-sim healthcheck [--url URL]`: a probe for container health checks (no curl).
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        std::process::exit(
            routeq_shared::telemetry::healthcheck_command(&["ROUTEQ_SIM_LISTEN"], "127.0.0.1:8090")
                .await,
        );
    }
    let cli = Cli::parse();
    routeq_shared::telemetry::init_logging(&cli.log);
    let faults = cli.sim.faults();
    let kakao_key_required = cli.sim.kakao_key.is_some();
    let sim = match Simulator::bind(cli.sim).await {
        Ok(sim) => sim,
        Err(e) => {
            tracing::error!(error = %e, "routeq-sim cannot start");
            eprintln!("routeq-sim: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(
        addr = %sim.local_addr(),
        latency_min_ms = faults.latency_min_ms,
        latency_max_ms = faults.latency_max_ms,
        seed = faults.seed,
        error_rate = faults.error_rate,
        rate_429 = faults.rate_429,
        timeout_rate = faults.timeout_rate,
        malformed_rate = faults.malformed_rate,
        down = faults.down,
        quota = ?faults.quota,
        kakao_key_required,
        "routeq-sim listening"
    );
    match sim.run_until(shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("routeq-sim stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "routeq-sim server error");
            ExitCode::FAILURE
        }
    }
}
