//! `routeq-receiver`: a webhook receiver for tests and load tests; serves until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use routeq_notify::Secret;
use routeq_receiver::{Receiver, ReceiverConfig};
use tracing_subscriber::EnvFilter;

/// Verifies Standard Webhooks signatures, counts deliveries by webhook-id and reports duplicates
/// and bad signatures; answers slowly or fails on command. Admin API: GET /_receiver/stats,
/// POST /_receiver/reset, GET|POST /_receiver/mode, POST /_receiver/secrets.
#[derive(Debug, Parser)]
#[command(name = "routeq-receiver", version)]
struct Cli {
    /// Address to listen on (port 0: any free port; see --print-addr).
    #[arg(long, env = "ROUTEQ_RECEIVER_LISTEN", default_value = "127.0.0.1:8095")]
    listen: SocketAddr,
    /// A signing secret (`whsec_…`) to verify with; repeat or separate with spaces/commas for
    /// several (a rotation overlap). More can be added at run time (POST /_receiver/secrets).
    #[arg(
        long = "secret",
        env = "ROUTEQ_RECEIVER_SECRETS",
        value_delimiter = ','
    )]
    secrets: Vec<String>,
    /// Refuse timestamps further than this from now (seconds).
    #[arg(long, env = "ROUTEQ_RECEIVER_TOLERANCE_S", default_value_t = 300)]
    tolerance_s: u64,
    /// Print `listening <addr>` on stdout once bound (for scripts that start it on port 0).
    #[arg(long)]
    print_addr: bool,
    /// Log filter in RUST_LOG syntax.
    #[arg(long, env = "ROUTEQ_LOG", default_value = "info")]
    log_level: String,
}

fn parse_secrets(texts: &[String]) -> anyhow::Result<Vec<Secret>> {
    texts
        .iter()
        .flat_map(|t| t.split_whitespace())
        .map(|s| Secret::parse(s).context("a --secret / ROUTEQ_RECEIVER_SECRETS value"))
        .collect()
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
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let secrets = parse_secrets(&cli.secrets)?;
    if secrets.is_empty() {
        tracing::warn!("no secret yet: every delivery fails verification until one is added");
    }
    let config = ReceiverConfig {
        secrets,
        tolerance: Duration::from_secs(cli.tolerance_s),
    };
    let receiver = Receiver::bind(cli.listen, config)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let addr = receiver.local_addr();
    if cli.print_addr {
        println!("listening {addr}");
    }
    tracing::info!(%addr, "routeq-receiver listening");
    receiver
        .run_until(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("routeq-receiver stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("routeq-receiver: {e:#}");
            ExitCode::from(2)
        }
    }
}
