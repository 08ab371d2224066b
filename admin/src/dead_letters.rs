//! `routeq-admin dead-letters list|show|replay|purge` (and, for one release, `routeq-worker
//! dead-letters`):
//!
//! ```text
//! dead-letters list [--limit N] [--json]
//! dead-letters show <job-id | entry-id>
//! dead-letters replay (<job-id | entry-id> | --all)
//! dead-letters purge  (<job-id | entry-id> | --all)
//! ```
//!
//! Replay puts the job back on the jobs stream **under the same job id** (with a fresh deadline
//! of its own `deadline_ms`), so a client polling or waiting on it gets its answer. Purge gives
//! up: the dead letter is deleted and its waiting job ends `failed`.

use std::io::Write;

use anyhow::Context;
use routeq_shared::job::{now_ms, rfc3339_ms};
use routeq_shared::redis::RedisArgs;
use routeq_shared::redis::deadletters::DeadLetters;
use routeq_shared::redis::outbox::{Recording, RecordsMode};
use routeq_shared::redis::record::DeadLetter;
use routeq_shared::redis::scripts::{Purged, Replayed};

#[derive(Debug, Clone, clap::Args)]
pub struct DeadLetterArgs {
    #[command(flatten)]
    pub options: DeadLetterOptions,
    #[command(subcommand)]
    pub action: DeadLetterAction,
}

/// What a replay or purge writes, as the workers do (the worker's own flags of these names).
#[derive(Debug, Clone, clap::Args)]
pub struct DeadLetterOptions {
    /// How long a replayed or purged job stays readable once it ends, in seconds (use the
    /// workers' --result-ttl-s).
    #[arg(long, env = "ROUTEQ_RESULT_TTL_S", default_value_t = 86_400)]
    pub result_ttl_s: u64,

    /// Whether a purge that ends a job appends a `finished` record, as the workers' --records:
    /// `auto` when a recorder exists, `on`, `off`.
    #[arg(long, env = "ROUTEQ_RECORDS", value_enum, default_value_t = RecordsMode::Auto)]
    pub records: RecordsMode,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum DeadLetterAction {
    /// List dead letters, oldest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its request and delivery history, as JSON.
    Show {
        /// A job id or a dead-letter entry id.
        id: String,
        /// Accepted for symmetry with the other read commands (the output is JSON anyway).
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back on the jobs stream under their job ids.
    Replay {
        /// A job id or a dead-letter entry id.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Delete dead letters; the jobs they hold end `failed` (INTERNAL_ERROR).
    Purge {
        /// A job id or a dead-letter entry id.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

/// Runs a dead-letter command against the fleet `redis` names.
pub async fn run(
    redis: &RedisArgs,
    options: &DeadLetterOptions,
    action: DeadLetterAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (conn, keys) = crate::cli::connect(redis)?;
    let record = match options.records {
        RecordsMode::On => true,
        RecordsMode::Off => false,
        RecordsMode::Auto => Recording::new(conn.clone(), keys.clone(), false)
            .refresh()
            .await
            .context("checking for a recorder")?,
    };
    let dl = DeadLetters::new(conn, keys, options.result_ttl_s * 1000, record);
    match action {
        DeadLetterAction::List { limit, json } => {
            let letters = dl.list(limit).await.context("reading the dead letters")?;
            if json {
                for d in &letters {
                    writeln!(out, "{}", serde_json::to_string(d)?)?;
                }
            } else {
                writeln!(
                    out,
                    "{:<20} {:<38} {:>8} {:<24} reason",
                    "entry", "job", "attempts", "parked at"
                )?;
                for d in &letters {
                    writeln!(
                        out,
                        "{:<20} {:<38} {:>8} {:<24} {}",
                        d.dead_id,
                        d.job_id,
                        d.attempts,
                        rfc3339_ms(d.dead_at_ms),
                        d.reason
                    )?;
                }
                writeln!(out, "{} dead letter(s)", letters.len())?;
            }
        }
        DeadLetterAction::Show { id, json: _ } => {
            let d = find(&dl, &id).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&d)?)?;
        }
        DeadLetterAction::Replay { id, all } => {
            for d in select(&dl, id, all).await? {
                match dl.replay(&d, now_ms()).await? {
                    Replayed::Queued { job_id } => writeln!(out, "replayed {job_id}")?,
                    Replayed::AlreadyEnded { job_id, state } => writeln!(
                        out,
                        "{job_id} had already ended ({state}); dead letter removed"
                    )?,
                    Replayed::NotFound => writeln!(out, "{} is no longer a dead letter", d.job_id)?,
                }
            }
        }
        DeadLetterAction::Purge { id, all } => {
            for d in select(&dl, id, all).await? {
                if dl.purge(&d, now_ms()).await? == Purged::JobEnded {
                    writeln!(out, "purged {}: the job ended failed", d.job_id)?;
                } else {
                    writeln!(out, "purged {}", d.job_id)?;
                }
            }
        }
    }
    Ok(())
}

async fn find(dl: &DeadLetters, id: &str) -> anyhow::Result<DeadLetter> {
    dl.find(id)
        .await
        .context("reading the dead letters")?
        .with_context(|| format!("no dead letter for {id}"))
}

async fn select(
    dl: &DeadLetters,
    id: Option<String>,
    all: bool,
) -> anyhow::Result<Vec<DeadLetter>> {
    match (id, all) {
        (_, true) => Ok(dl.list(usize::MAX >> 1).await?),
        (Some(id), false) => Ok(vec![find(dl, &id).await?]),
        (None, false) => anyhow::bail!("name a dead letter or pass --all"),
    }
}
