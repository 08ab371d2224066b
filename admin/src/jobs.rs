//! `routeq-admin jobs show ID` and `jobs find --request-id RID`: any tenant's job with its history.

use std::io::Write;

use anyhow::Context;
use routeq_shared::admin::jobs::{self, JobDetail};
use routeq_shared::job::rfc3339_ms;
use routeq_shared::redis::RedisArgs;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum JobsAction {
    /// One job by id, whatever its tenant.
    Show {
        id: String,
        /// The job as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The jobs of a request id (`X-Request-Id`), newest first (a scan of the job hashes).
    Find {
        #[arg(long = "request-id")]
        request_id: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(
    redis: &RedisArgs,
    action: JobsAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (conn, keys) = crate::cli::connect(redis)?;
    match action {
        JobsAction::Show { id, json } => {
            let job = jobs::show(&conn, &keys, &id)
                .await
                .context("reading the job")?
                .with_context(|| {
                    format!("no job {id} in Redis (unknown, or past its result TTL)")
                })?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&job)?)?;
            } else {
                print(&job, out)?;
            }
        }
        JobsAction::Find {
            request_id,
            limit,
            json,
        } => {
            let found = jobs::by_request_id(&conn, &keys, &request_id, limit)
                .await
                .context("searching the jobs")?;
            anyhow::ensure!(!found.is_empty(), "no job with request id {request_id}");
            for job in &found {
                if json {
                    writeln!(out, "{}", serde_json::to_string(job)?)?;
                } else {
                    print(job, out)?;
                    writeln!(out)?;
                }
            }
        }
    }
    Ok(())
}

fn when(ms: u64) -> String {
    if ms == 0 { "-".into() } else { rfc3339_ms(ms) }
}

fn print(j: &JobDetail, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "job        {}", j.id)?;
    writeln!(out, "tenant     {}", j.tenant)?;
    writeln!(out, "request id {}", j.request_id)?;
    writeln!(out, "state      {} ({})", j.state, j.code)?;
    writeln!(out, "submitted  {}", when(j.submitted_ms))?;
    writeln!(out, "deadline   {}", when(j.deadline_ms))?;
    writeln!(
        out,
        "started    {}  (waited {} ms)",
        when(j.started_ms),
        j.waited_ms
    )?;
    writeln!(
        out,
        "finished   {}  (ran {} ms)",
        when(j.finished_ms),
        j.ran_ms
    )?;
    writeln!(out, "attempts   {}  last worker {}", j.attempts, j.worker)?;
    if !j.dead_letter.is_empty() {
        writeln!(out, "parked     dead letter {}", j.dead_letter)?;
    }
    for d in &j.history {
        writeln!(
            out,
            "  delivery {} by {} at {}{}",
            d.delivery,
            d.worker,
            when(d.started_ms),
            if d.error.is_empty() {
                String::new()
            } else {
                format!(": {}", d.error)
            }
        )?;
    }
    Ok(())
}
