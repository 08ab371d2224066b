//! `routeq-recorder`: the database side of routeq, run on its own.
//!
//! - `routeq-recorder migrate` applies the SQL files in `migrations/` (a second run is a no-op);
//! - `routeq-recorder run` drains the records stream into PostgreSQL (workers can do the same
//!   in-process when they have `--database-url`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use routeq_shared::db::DbArgs;
use routeq_shared::redis::RedisArgs;
use routeq_shared::redis::connect::Timeouts;
use routeq_shared::telemetry::LogArgs;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "routeq-recorder",
    version,
    about = "routeq's durable record: migrations and the recorder"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the database migrations (idempotent).
    Migrate,
    /// Drain the records stream into PostgreSQL until SIGTERM.
    Run {
        #[command(flatten)]
        redis: Box<RedisArgs>,
        /// Most records written in one statement.
        #[arg(long, env = "ROUTEQ_RECORDER_BATCH", default_value_t = 500)]
        batch: usize,
        /// How long a read blocks for new records, in ms.
        #[arg(long, env = "ROUTEQ_BLOCK_MS", default_value_t = 1000)]
        block_ms: u64,
        /// Records another recorder left unacknowledged this long are taken over, in ms.
        #[arg(long, env = "ROUTEQ_RECLAIM_IDLE_MS", default_value_t = 30_000)]
        reclaim_idle_ms: u64,
        /// Consumer name in the `recorders` group (unique per process).
        #[arg(long, env = "ROUTEQ_CONSUMER")]
        consumer: Option<String>,
        /// Bound of each partition's records stream while PostgreSQL does not drain it (0 =
        /// none): above half of it, `accepted` records of jobs still in Redis are shed (their
        /// `finished` record carries the whole job); above it, the oldest records are dropped.
        #[arg(long, env = "ROUTEQ_RECORDS_MAX_LEN", default_value_t = 1_000_000)]
        records_max_len: u64,
        /// Apply migrations before draining.
        #[arg(long, env = "ROUTEQ_MIGRATE", default_value_t = false, action = clap::ArgAction::Set)]
        migrate: bool,
        /// Address of the recorder's own /metrics and /healthz (port 0 picks a free port).
        #[arg(long, env = "ROUTEQ_METRICS_LISTEN", default_value = "127.0.0.1:9093")]
        metrics_listen: std::net::SocketAddr,
    },
}

/// mimalloc instead of glibc malloc: a job allocates many short-lived buffers (Redis replies,
/// JSON), and glibc's malloc/free was about a quarter of a worker's CPU in a profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    routeq_shared::telemetry::init_logging(&cli.log);
    let pool = cli
        .db
        .pool()
        .context("--database-url (or ROUTEQ_DATABASE_URL) is required")??;
    match cli.command {
        Command::Migrate => {
            routeq_shared::db::migrate(&pool)
                .await
                .context("applying migrations")?;
            let applied = routeq_shared::db::MIGRATOR.iter().count();
            tracing::info!(migrations = applied, "database schema is up to date");
            println!("database schema is up to date ({applied} migrations)");
            Ok(())
        }
        Command::Run {
            redis,
            batch,
            block_ms,
            reclaim_idle_ms,
            consumer,
            migrate,
            metrics_listen,
            records_max_len,
        } => {
            if batch == 0 || block_ms == 0 || reclaim_idle_ms <= block_ms {
                anyhow::bail!(
                    "invalid configuration: --batch and --block-ms must be above 0, and --reclaim-idle-ms above --block-ms"
                );
            }
            if migrate {
                routeq_shared::db::migrate(&pool)
                    .await
                    .context("applying migrations")?;
            }
            routeq_shared::telemetry::metrics_handle();
            routeq_shared::metrics::startup::start("recorder");
            routeq_worker::app::metrics::register_recorder_metrics();
            let metrics_listener = tokio::net::TcpListener::bind(metrics_listen)
                .await
                .with_context(|| format!("binding {metrics_listen}"))?;
            let keys = redis.keys()?;
            let settings = redis.settings(Timeouts::WORKER);
            let conn = redis.connection(&settings, "recorder")?;
            let consumer = consumer.unwrap_or_else(|| {
                format!(
                    "recorder-{}-{}",
                    std::process::id(),
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                )
            });
            let token = CancellationToken::new();
            let cfg = routeq_worker::ops::recorder::RecorderConfig {
                batch,
                block_ms,
                reclaim_idle_ms,
                consumer,
                max_len: records_max_len,
            };
            metrics::gauge!(routeq_shared::metrics::recorder::OUTBOX_MAX_LEN.name)
                .set(records_max_len as f64);
            tracing::info!(consumer = %cfg.consumer, metrics = %metrics_listen, "recorder started");
            let admin = tokio::spawn(routeq_worker::ops::admin::serve(
                metrics_listener,
                token.clone(),
            ));
            let tasks: Vec<_> = keys
                .all()
                .into_iter()
                .map(|p| {
                    tokio::spawn(routeq_worker::ops::recorder::run(
                        conn.clone(),
                        p,
                        settings.clone(),
                        pool.clone(),
                        cfg.clone(),
                        token.clone(),
                    ))
                })
                .collect();
            routeq_shared::telemetry::shutdown_signal().await;
            token.cancel();
            for t in tasks {
                let _ = t.await;
            }
            // A clean exit leaves the recorders groups where this process holds nothing.
            let records: Vec<_> = keys
                .all()
                .iter()
                .map(|k| (k.records_stream(), routeq_shared::redis::Keys::RECORDERS))
                .collect();
            routeq_worker::ops::consumers::leave(&conn, &records, &cfg.consumer).await;
            let _ = admin.await;
            tracing::info!("recorder stopped");
            Ok(())
        }
    }
}
