//! `routeq-notifier [run]`: deliver webhooks until SIGTERM; `routeq-notifier dead list|replay`:
//! the dead letters; `routeq-notifier healthcheck [--url URL]`: probe a running one's /healthz.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::http::StatusCode;
use axum::routing::get;
use clap::{Parser, Subcommand};
use routeq_notifier::NotifierConfig;
use routeq_notifier::engine::Engine;
use routeq_notifier::health::Heartbeat;
use routeq_notify::{Deliverer, OverrideResolver};
use routeq_shared::redis::RedisArgs;
use routeq_shared::redis::connect::Timeouts;
use routeq_shared::telemetry::LogArgs;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "routeq-notifier",
    version,
    about = "routeq's webhook notifier: delivers finished jobs' events to their endpoints"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Deliver webhooks until SIGTERM (the default).
    Run(Box<NotifierConfig>),
    /// The dead letters: deliveries past their schedule.
    Dead {
        #[command(subcommand)]
        action: DeadAction,
    },
}

#[derive(Debug, Subcommand)]
enum DeadAction {
    /// One JSON line per dead letter, oldest first.
    List {
        #[command(flatten)]
        redis: Box<RedisArgs>,
        /// At most this many per partition.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Schedule dead letters again (due now, a fresh schedule, the same webhook-id).
    Replay {
        #[command(flatten)]
        redis: Box<RedisArgs>,
        /// Dead letter ids (from `dead list`); with --all, every one.
        ids: Vec<String>,
        #[arg(long)]
        all: bool,
    },
}

async fn serve_ops(
    cfg: &NotifierConfig,
    heartbeat: Arc<Heartbeat>,
    token: CancellationToken,
) -> anyhow::Result<()> {
    let handle = routeq_shared::telemetry::metrics_handle();
    let stale = Duration::from_millis(cfg.stale_ms.max(1));
    let router = axum::Router::new()
        .route(
            "/healthz",
            get(move || {
                let h = heartbeat.clone();
                async move {
                    match h.check(stale) {
                        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
                        Err((name, idle)) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            Json(json!({
                                "status": "loop_stuck",
                                "loop": name,
                                "idle_ms": idle.as_millis() as u64,
                            })),
                        ),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let h = handle.clone();
                async move { routeq_shared::telemetry::render_metrics(&h) }
            }),
        );
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "notifier metrics listening");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
    });
    Ok(())
}

async fn run(cfg: NotifierConfig) -> anyhow::Result<()> {
    let deliverer_cfg = cfg.deliverer()?;
    let resolver = OverrideResolver::parse(&cfg.webhook_hosts)
        .map_err(|e| anyhow::anyhow!("--webhook-hosts: {e}"))?;
    let keys = cfg.redis.keys()?;
    let settings = cfg.redis.settings(Timeouts::WORKER);
    let conn = cfg.redis.connection(&settings, "notifier")?;
    let consumer = cfg.consumer.clone().unwrap_or_else(|| {
        format!(
            "notifier-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    });
    // Every metric registered before the first delivery (HELP texts and zero series).
    routeq_shared::telemetry::metrics_handle();
    routeq_notifier::startup::register_notifier_metrics();
    let token = CancellationToken::new();
    let schedule = deliverer_cfg.schedule.to_string();
    let deliverer = Deliverer::new(deliverer_cfg, Arc::new(resolver));
    let engine = Engine::new(
        conn,
        settings,
        keys,
        consumer.clone(),
        deliverer,
        cfg.lease(),
        cfg.reclaim_idle_ms,
        cfg.batch,
        Duration::from_millis(cfg.poll_ms.max(1)),
    );
    serve_ops(&cfg, engine.heartbeat.clone(), token.clone()).await?;
    tracing::info!(
        consumer = %consumer,
        schedule = %schedule,
        lease_ms = cfg.lease().as_millis() as u64,
        "notifier started"
    );
    let running = tokio::spawn(engine.run(token.clone()));
    routeq_shared::telemetry::shutdown_signal().await;
    token.cancel();
    let _ = running.await;
    tracing::info!("notifier stopped");
    Ok(())
}

async fn dead(action: DeadAction) -> anyhow::Result<()> {
    match action {
        DeadAction::List { redis, limit } => {
            let conn = redis.command_connection(Timeouts::WORKER)?;
            let keys = redis.keys()?;
            for letter in routeq_notifier::dead::list(&conn, &keys, limit).await? {
                println!("{}", serde_json::to_string(&letter)?);
            }
        }
        DeadAction::Replay { redis, ids, all } => {
            if ids.is_empty() && !all {
                anyhow::bail!("name dead letter ids (from `dead list`) or pass --all");
            }
            let conn = redis.command_connection(Timeouts::WORKER)?;
            let keys = redis.keys()?;
            let n = routeq_notifier::dead::replay(&conn, &keys, &ids).await?;
            println!("replayed {n}");
        }
    }
    Ok(())
}

async fn main_inner() -> anyhow::Result<()> {
    let cli = Cli::parse();
    routeq_shared::telemetry::init_logging(&cli.log);
    match cli.command {
        None => {
            let cfg = <NotifierConfig as clap::FromArgMatches>::from_arg_matches(
                &<NotifierConfig as clap::Args>::augment_args(clap::Command::new("run"))
                    .get_matches_from(["routeq-notifier"]),
            )?;
            run(cfg).await
        }
        Some(Command::Run(cfg)) => run(*cfg).await,
        Some(Command::Dead { action }) => dead(action).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // `routeq-notifier healthcheck [--url URL]`: the container health check (the image has no curl).
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        let status = routeq_shared::telemetry::healthcheck_command(
            &["ROUTEQ_NOTIFIER_LISTEN"],
            "127.0.0.1:9105",
        )
        .await;
        return ExitCode::from(u8::try_from(status).unwrap_or(1));
    }
    match main_inner().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("routeq-notifier: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
