//! The consumer: read the jobs stream through the group, start each batch with one script, work on
//! each job under a semaphore permit, complete it with one script.
//!
//! Discipline (see `routeq_shared::keys` for the key space):
//! - reads ask for exactly as many entries as there are free permits, and block at most `block_ms`
//!   on a dedicated connection whose response timeout exceeds the block;
//! - a read in progress is never abandoned (that would strand its entries in our pending list):
//!   shutdown waits for it to return, and works on what it returned;
//! - an entry is acknowledged only inside the script that stores the job's terminal state;
//! - a reclaimer takes over entries idle longer than `reclaim_idle_ms` (their worker died).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
};
use routeq_shared::Code;
use routeq_shared::job::{RouteRequest, Timings, now_ms, now_us};
use routeq_shared::keys::Keys;
use routeq_shared::store::{Completed, Delivered, JobStore, Started};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::compute::compute;
use crate::config::WorkerConfig;
use crate::metrics as m;
use routeq_shared::deadletters::{DeadLetters, Parked};

/// Everything a job task needs.
pub struct Ctx {
    pub store: JobStore,
    /// Completes finished jobs, batching those that finish together.
    pub completer: crate::completer::Completer,
    pub engine: crate::compute::Engine,
    pub dead_letters: DeadLetters,
    pub cfg: WorkerConfig,
    pub consumer: String,
    pub permits: Arc<Semaphore>,
    pub tracker: tokio_util::task::TaskTracker,
}

/// A delivered entry, parsed.
struct Entry {
    entry_id: String,
    job_id: String,
    tenant: String,
    request_id: String,
    submitted_ms: u64,
    deadline_ms: u64,
    request: Result<RouteRequest, String>,
}

impl Entry {
    fn parse(s: &StreamId) -> Option<Entry> {
        let text = |k: &str| -> Option<String> { s.get::<String>(k) };
        let job_id = text("id")?;
        let req = text("req").unwrap_or_default();
        Some(Entry {
            entry_id: s.id.clone(),
            job_id,
            tenant: text("t").unwrap_or_default(),
            request_id: text("rid").unwrap_or_default(),
            submitted_ms: text("sub").and_then(|v| v.parse().ok()).unwrap_or(0),
            deadline_ms: text("dl").and_then(|v| v.parse().ok()).unwrap_or(0),
            request: serde_json::from_str(&req).map_err(|e| e.to_string()),
        })
    }
}

/// Reads entries until `shutdown`: every `reclaim_interval_ms` it first takes over entries idle
/// longer than `reclaim_idle_ms` (their worker died), then reads new ones. One loop does both, so
/// the two never compete for permits.
pub async fn read_loop(ctx: Arc<Ctx>, pool: deadpool_redis::Pool, shutdown: CancellationToken) {
    let key = ctx.store.keys().jobs_stream();
    let mut backoff = Duration::from_millis(50);
    let mut group_ready = false;
    let reclaim_every = Duration::from_millis(ctx.cfg.reclaim_interval_ms);
    let mut last_reclaim = Instant::now();
    let mut cursor = "0-0".to_string();
    let mut reader: Option<deadpool_redis::Connection> = None;
    while !shutdown.is_cancelled() {
        if !group_ready {
            match ctx.store.ensure_group().await {
                Ok(()) => group_ready = true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create the consumer group; retrying");
                    pause(&shutdown, &mut backoff).await;
                    continue;
                }
            }
        }
        // Wait for capacity, then take every free permit.
        let mut permits = tokio::select! {
            p = ctx.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = shutdown.cancelled() => break,
        };
        let extra = ctx.permits.available_permits().min(255);
        if extra > 0
            && let Ok(more) = ctx.permits.clone().try_acquire_many_owned(extra as u32)
        {
            permits.merge(more);
        }

        if last_reclaim.elapsed() >= reclaim_every {
            last_reclaim = Instant::now();
            if let Some(claimed) = reclaim(&ctx, &key, &mut cursor, permits.num_permits()).await
                && let Some(taken) = permits.split(claimed.len())
            {
                dispatch(&ctx, claimed, taken, true).await;
            }
            if permits.num_permits() == 0 {
                continue;
            }
        }

        let opts = StreamReadOptions::default()
            .group(Keys::GROUP, &ctx.consumer)
            .count(permits.num_permits())
            .block(ctx.cfg.block_ms as usize);
        // The blocking read keeps its connection from one read to the next: taking it from the
        // pool each time would cost a recycle check (a round trip) per read. A failed read
        // drops it, and the next read takes a fresh one.
        let reply: Result<StreamReadReply, String> = async {
            let conn = match reader.as_mut() {
                Some(conn) => conn,
                None => reader.insert(pool.get().await.map_err(|e| e.to_string())?),
            };
            redis::AsyncCommands::xread_options(&mut **conn, &[&key], &[">"], &opts)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if reply.is_err() {
            reader = None;
        }
        match reply {
            Ok(reply) => {
                backoff = Duration::from_millis(50);
                let entries: Vec<StreamId> = reply.keys.into_iter().flat_map(|k| k.ids).collect();
                dispatch(&ctx, entries, permits, false).await;
            }
            Err(e) => {
                drop(permits);
                if e.contains("NOGROUP") {
                    group_ready = false;
                }
                tracing::warn!(error = %e, "reading the jobs stream failed; retrying");
                pause(&shutdown, &mut backoff).await;
            }
        }
    }
}

/// One XAUTOCLAIM step of at most `count` entries, continuing from `cursor`.
async fn reclaim(ctx: &Ctx, key: &str, cursor: &mut String, count: usize) -> Option<Vec<StreamId>> {
    let opts = StreamAutoClaimOptions::default().count(count);
    let mut conn = ctx.store.connection();
    let reply: redis::RedisResult<StreamAutoClaimReply> = redis::AsyncCommands::xautoclaim_options(
        &mut conn,
        key,
        Keys::GROUP,
        &ctx.consumer,
        ctx.cfg.reclaim_idle_ms,
        cursor.as_str(),
        opts,
    )
    .await;
    match reply {
        Ok(reply) => {
            *cursor = reply.next_stream_id;
            if reply.claimed.is_empty() {
                return None;
            }
            tracing::info!(count = reply.claimed.len(), "reclaimed abandoned entries");
            metrics::counter!(m::RECLAIMED).increment(reply.claimed.len() as u64);
            Some(reply.claimed)
        }
        Err(e) => {
            if e.code() != Some("NOGROUP") {
                tracing::warn!(error = %e, "reclaiming abandoned entries failed");
            }
            None
        }
    }
}

/// Starts a batch with one script and spawns a task per job that is now running.
async fn dispatch(
    ctx: &Arc<Ctx>,
    entries: Vec<StreamId>,
    mut permits: OwnedSemaphorePermit,
    reclaimed: bool,
) {
    if entries.is_empty() {
        return;
    }
    let mut parsed = Vec::with_capacity(entries.len());
    for e in &entries {
        match Entry::parse(e) {
            Some(entry) => parsed.push(entry),
            None => {
                // Not a job: nothing to complete. Drop it so it is not redelivered forever.
                tracing::error!(entry_id = %e.id, "malformed stream entry dropped");
                metrics::counter!(m::MALFORMED_ENTRIES).increment(1);
                let key = ctx.store.keys().jobs_stream();
                let mut conn = ctx.store.connection();
                let _: redis::RedisResult<()> = redis::pipe()
                    .xack(&key, Keys::GROUP, &[&e.id])
                    .xdel(&key, &[&e.id])
                    .query_async(&mut conn)
                    .await;
            }
        }
    }
    let ids: Vec<(&str, &str)> = parsed
        .iter()
        .map(|e| (e.job_id.as_str(), e.entry_id.as_str()))
        .collect();
    let started = match ctx.store.start_batch(&ids, &ctx.consumer, now_ms()).await {
        Ok(s) => s,
        Err(e) => {
            // The entries stay in our pending list; the reclaimer (ours or another worker's) retries
            // them once they have been idle for the reclaim time.
            tracing::warn!(error = %e, count = parsed.len(), "starting a batch failed; entries stay pending");
            return;
        }
    };
    for (entry, outcome) in parsed.into_iter().zip(started) {
        match outcome {
            Started::Running(attempts) => {
                let Some(permit) = permits.split(1) else {
                    tracing::error!("more running jobs than permits; leaving the entry pending");
                    continue;
                };
                let ctx2 = ctx.clone();
                let span = tracing::info_span!("job", job_id = %entry.job_id, request_id = %entry.request_id, attempts, reclaimed);
                ctx.tracker
                    .spawn(run_job(ctx2, entry, attempts, permit).instrument(span));
            }
            Started::Expired => {
                tracing::info!(job_id = %entry.job_id, request_id = %entry.request_id, "deadline passed before start; job expired");
                metrics::counter!(m::EXPIRED_ON_PICKUP).increment(1);
                metrics::counter!(m::JOBS_FINISHED, "state" => "expired", "code" => Code::JobExpired.as_str()).increment(1);
            }
            Started::AlreadyEnded | Started::Gone => {
                tracing::debug!(job_id = %entry.job_id, "entry for an ended job acknowledged");
            }
        }
    }
}

async fn run_job(ctx: Arc<Ctx>, entry: Entry, attempts: u32, permit: OwnedSemaphorePermit) {
    let _permit = permit;
    metrics::gauge!(m::JOBS_IN_FLIGHT).increment(1.0);
    let started_us = now_us();
    let queued_us = started_us.saturating_sub(entry.submitted_ms * 1000);
    metrics::histogram!(m::JOB_QUEUE_SECONDS).record(queued_us as f64 / 1e6);
    let timings = Timings {
        queued_us,
        ..Timings::default()
    };

    let finished = match &entry.request {
        Ok(request) if attempts <= ctx.cfg.max_attempts => {
            // The job's budget: ours, and never past the client's deadline.
            let budget = Duration::from_millis(ctx.cfg.job_budget_ms);
            let to_deadline = Duration::from_millis(entry.deadline_ms.saturating_sub(now_ms()));
            let until = Instant::now() + budget.min(to_deadline);
            compute(&ctx.engine, request, until, timings).await
        }
        other => {
            // A poison job: it kept its workers from completing it, or cannot be read at all.
            let (label, reason) = match other {
                Err(why) => (
                    "unreadable",
                    format!("the queued request could not be read: {why}"),
                ),
                Ok(_) => (
                    "max_attempts",
                    format!(
                        "delivered {attempts} times without completing (--max-attempts {})",
                        ctx.cfg.max_attempts
                    ),
                ),
            };
            park(&ctx, &entry, label, &reason).await;
            metrics::gauge!(m::JOBS_IN_FLIGHT).decrement(1.0);
            return;
        }
    };

    // Store the outcome. Redis may blip: retry briefly; if it stays down, the entry stays pending
    // and is reclaimed later (the terminal state is written once whichever worker gets there).
    let mut delay = Duration::from_millis(50);
    let mut stored = None;
    for _ in 0..6 {
        match ctx
            .completer
            .complete(
                Delivered {
                    tenant: &entry.tenant,
                    job_id: &entry.job_id,
                    entry_id: &entry.entry_id,
                },
                finished.state,
                finished.code,
                &finished.outcome,
            )
            .await
        {
            Ok(c) => {
                stored = Some(c);
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "storing the outcome failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
    match stored {
        Some(Completed::Stored) => {
            let state = finished.state.as_str();
            metrics::counter!(m::JOBS_FINISHED, "state" => state, "code" => finished.code.as_str())
                .increment(1);
            metrics::histogram!(m::JOB_COMPUTE_SECONDS)
                .record(finished.outcome.timings.compute_us as f64 / 1e6);
            metrics::histogram!(m::JOB_END_TO_END_SECONDS)
                .record(now_us().saturating_sub(entry.submitted_ms * 1000) as f64 / 1e6);
            tracing::info!(state, code = %finished.code, "job finished");
        }
        Some(Completed::Duplicate) => {
            metrics::counter!(m::DUPLICATE_COMPLETIONS).increment(1);
            tracing::info!("job had already finished elsewhere; duplicate completion ignored");
        }
        Some(Completed::Gone) => tracing::warn!("job record expired before completion"),
        None => tracing::error!("could not store the outcome; the entry stays pending for reclaim"),
    }
    metrics::gauge!(m::JOBS_IN_FLIGHT).decrement(1.0);
}

/// Parks a poison job in the dead-letter stream. If Redis is unreachable the entry stays
/// pending and is reclaimed (and parked) later.
async fn park(ctx: &Ctx, entry: &Entry, label: &'static str, reason: &str) {
    match ctx
        .dead_letters
        .park(
            &entry.job_id,
            &entry.entry_id,
            &ctx.consumer,
            reason,
            now_ms(),
        )
        .await
    {
        Ok(Parked::Parked { dead_id }) => {
            metrics::counter!(m::DEAD_LETTERS, "reason" => label).increment(1);
            tracing::warn!(%dead_id, reason, "job parked in the dead-letter stream");
        }
        Ok(Parked::AlreadyEnded) => {
            tracing::info!("job had already ended; its stale entry was acknowledged");
        }
        Ok(Parked::Gone) => tracing::warn!("job record expired; its entry was acknowledged"),
        Err(e) => {
            tracing::error!(error = %e, reason, "could not park the job; the entry stays pending")
        }
    }
}

async fn pause(shutdown: &CancellationToken, backoff: &mut Duration) {
    tokio::select! {
        () = shutdown.cancelled() => {},
        () = tokio::time::sleep(*backoff) => {},
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(2));
}

/// Parses `XINFO`-free state for tests and tools: how many entries each consumer holds.
pub async fn pending_by_consumer(store: &JobStore) -> redis::RedisResult<HashMap<String, u64>> {
    let mut conn = store.connection();
    let reply: redis::streams::StreamPendingReply =
        redis::AsyncCommands::xpending(&mut conn, store.keys().jobs_stream(), Keys::GROUP).await?;
    Ok(match reply {
        redis::streams::StreamPendingReply::Data(d) => d
            .consumers
            .into_iter()
            .map(|c| (c.name, c.pending as u64))
            .collect(),
        _ => HashMap::new(),
    })
}
