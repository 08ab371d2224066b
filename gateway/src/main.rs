//! `routeq-gateway`: serves the API until SIGINT/SIGTERM, or runs an operator command
//! (`keys`, `secret`, `healthcheck`).

use clap::Parser;
use routeq_gateway::config::Command;
use routeq_gateway::{Application, GatewayArgs};

/// mimalloc instead of glibc malloc: a job allocates many short-lived buffers (Redis replies,
/// JSON), and glibc's malloc/free was about a quarter of a worker's CPU in a profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // `routeq-gateway healthcheck [--url URL]`: a probe for container health checks (no curl).
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        let status = routeq_shared::runtime::small()?.block_on(
            routeq_shared::telemetry::healthcheck_command(
                &["ROUTEQ_ADMIN_LISTEN", "ROUTEQ_LISTEN"],
                "127.0.0.1:8080",
            ),
        );
        std::process::exit(status);
    }
    let args = GatewayArgs::parse();
    // Traces only when serving; operator commands just log.
    let _traces = if args.command.is_none() {
        Some(routeq_shared::telemetry::init_telemetry(
            &args.log,
            &args.trace,
            "routeq-gateway",
        )?)
    } else {
        routeq_shared::telemetry::init_logging(&args.log);
        None
    };
    match args.command {
        Some(Command::Keys { action }) => routeq_shared::runtime::small()?
            .block_on(routeq_gateway::cli::keys(&args.gateway, action)),
        Some(Command::Secret { action }) => routeq_gateway::cli::secret(action),
        // One runtime thread per core unless --threads says otherwise.
        None => args.runtime.build(0)?.block_on(async move {
            let app = Application::build(args.gateway).await?;
            app.run_until(routeq_shared::telemetry::shutdown_signal())
                .await
        }),
    }
}
