//! `routeq-worker`: runs a worker until SIGINT/SIGTERM, or an operator command
//! (`routeq-worker dead-letters …`, deprecated: `routeq-admin`).

use clap::Parser;
use routeq_worker::{Worker, WorkerArgs};

/// mimalloc instead of glibc malloc: a job allocates many short-lived buffers (Redis replies,
/// JSON), and glibc's malloc/free was about a quarter of a worker's CPU in a profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        let status = routeq_shared::runtime::small()?.block_on(
            routeq_shared::telemetry::healthcheck_command(
                &["ROUTEQ_METRICS_LISTEN"],
                "127.0.0.1:9091",
            ),
        );
        std::process::exit(status);
    }
    let args = WorkerArgs::parse();
    if let Some(command) = args.command {
        routeq_shared::telemetry::init_logging(&args.log);
        return routeq_shared::runtime::small()?.block_on(routeq_worker::ops::cli::run(
            command,
            &args.worker,
            &mut std::io::stdout().lock(),
        ));
    }
    // Traces only when running a worker; kept until the runtime has stopped (flushed on drop).
    let _traces =
        routeq_shared::telemetry::init_telemetry(&args.log, &args.trace, "routeq-worker")?;
    // One runtime thread unless --threads says otherwise: the fleet scales by processes.
    args.runtime.build(1)?.block_on(async move {
        let worker = Worker::build(args.worker).await?;
        worker
            .run_until(routeq_shared::telemetry::shutdown_signal())
            .await
    })
}
