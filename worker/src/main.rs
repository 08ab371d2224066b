//! `routeq-worker`: runs a worker until SIGINT/SIGTERM, or an operator command
//! (`routeq-worker dead-letters …`, see `cli`).

use clap::Parser;
use routeq_worker::{Worker, WorkerArgs};

/// mimalloc instead of glibc malloc: a job allocates many short-lived buffers (Redis replies,
/// JSON), and glibc's malloc/free was about a quarter of a worker's CPU in a profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        std::process::exit(
            routeq_shared::telemetry::healthcheck_command(
                &["ROUTEQ_METRICS_LISTEN"],
                "127.0.0.1:9091",
            )
            .await,
        );
    }
    let args = WorkerArgs::parse();
    routeq_shared::telemetry::init_logging(&args.log);
    if let Some(command) = args.command {
        return routeq_worker::cli::run(command, &mut std::io::stdout().lock()).await;
    }
    let worker = Worker::build(args.worker).await?;
    worker
        .run_until(routeq_shared::telemetry::shutdown_signal())
        .await
}
