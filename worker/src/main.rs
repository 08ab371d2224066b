use clap::Parser;
use routeq_worker::{Worker, WorkerArgs};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = WorkerArgs::parse();
    routeq_shared::telemetry::init_logging(&args.log);
    let worker = Worker::build(args.worker).await?;
    worker
        .run_until(routeq_shared::telemetry::shutdown_signal())
        .await
}
