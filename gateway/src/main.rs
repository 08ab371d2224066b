use clap::Parser;
use routeq_gateway::{Application, GatewayArgs};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = GatewayArgs::parse();
    routeq_shared::telemetry::init_logging(&args.log);
    let app = Application::build(args.gateway).await?;
    app.run_until(routeq_shared::telemetry::shutdown_signal())
        .await
}
