//! `routeq-admin`'s flags and commands.

use std::io::Write;

use routeq_shared::redis::RedisArgs;
use routeq_shared::redis::connect::Timeouts;
use routeq_shared::telemetry::LogArgs;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "routeq-admin",
    version,
    about = "routeq operator CLI: stats, jobs, workers, pause/resume, dead letters, API keys"
)]
pub struct AdminArgs {
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// The queue overview: backlog, rates, oldest job, predicted wait, workers, breakers, pause.
    Stats(crate::stats::StatsArgs),
    /// Any tenant's job, with its history.
    Jobs {
        #[command(subcommand)]
        action: crate::jobs::JobsAction,
    },
    /// The workers (consumers of the group): alive, in flight, last seen.
    Workers {
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Pause consumption: workers take no new jobs (jobs they hold finish); submits still queue.
    Pause {
        /// Why (shown by `stats` and the console).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Resume consumption after `pause`.
    Resume,
    /// Inspect, replay or purge dead letters (jobs parked after --max-attempts deliveries).
    #[command(name = "dead-letters")]
    DeadLetters(crate::dead_letters::DeadLetterArgs),
    /// Manage API keys (stored hashed in Redis under --key-prefix).
    Keys {
        #[command(subcommand)]
        action: crate::keys::KeysAction,
    },
}

/// Runs a command, writing its report to `out`. An unknown id is an error (non-zero exit).
pub async fn run(args: AdminArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let redis = &args.redis;
    match args.command {
        Command::Stats(a) => crate::stats::run(redis, &a, out).await,
        Command::Jobs { action } => crate::jobs::run(redis, action, out).await,
        Command::Workers { json } => crate::stats::workers(redis, json, out).await,
        Command::Pause { reason } => crate::pause::pause(redis, &reason, out).await,
        Command::Resume => crate::pause::resume(redis, out).await,
        Command::DeadLetters(a) => crate::dead_letters::run(redis, &a.options, a.action, out).await,
        Command::Keys { action } => crate::keys::run(redis, action, out).await,
    }
}

/// The command connection and key space of `redis`, with the tools' timeouts.
pub(crate) fn connect(
    redis: &RedisArgs,
) -> anyhow::Result<(routeq_shared::redis::Conn, routeq_shared::redis::Keys)> {
    Ok((redis.command_connection(Timeouts::WORKER)?, redis.keys()?))
}
