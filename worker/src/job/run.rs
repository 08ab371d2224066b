//! One delivered batch: start it with one script, then one task per running job, each ending
//! with its completion (or, for a poison job, a dead letter).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::KeyValue;

use redis::streams::StreamId;
use routeq_shared::Code;
use routeq_shared::job::{JobState, Place, Timings, now_ms, now_us};
use routeq_shared::metrics::jobs as m;
use routeq_shared::redis::Keys;
use routeq_shared::redis::record::QueueEntry;
use routeq_shared::redis::scripts::{Completed, Parked, Started};
use routeq_shared::redis::store::Delivered;
use routeq_shared::telemetry::trace;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;
use tracing::field::Empty;

use super::Ctx;
use crate::steps::{Finished, compute};

/// Starts a batch with one script and spawns a task per job that is now running.
pub async fn dispatch(
    ctx: &Arc<Ctx>,
    partition: &Keys,
    entries: Vec<StreamId>,
    mut permits: OwnedSemaphorePermit,
    reclaimed: bool,
) {
    if entries.is_empty() {
        return;
    }
    let mut parsed = Vec::with_capacity(entries.len());
    for e in &entries {
        match QueueEntry::decode(e) {
            Some(entry) => parsed.push(entry),
            None => {
                // Not a job: nothing to complete. Drop it so it is not redelivered forever.
                tracing::error!(entry_id = %e.id, "malformed stream entry dropped");
                metrics::counter!(m::MALFORMED_ENTRIES.name).increment(1);
                let key = partition.jobs_stream();
                let mut conn = ctx.store.connection();
                let _: redis::RedisResult<()> = redis::pipe()
                    .xack(&key, Keys::GROUP, &[&e.id])
                    .xdel(&key, &[&e.id])
                    .query_async(&mut conn)
                    .await;
            }
        }
    }
    let ids: Vec<Delivered<'_>> = parsed.iter().map(QueueEntry::delivered).collect();
    let batch_started = trace::enabled().then(SystemTime::now);
    let (started, skew_ms) = match ctx
        .store
        .start_batch_timed(partition, &ids, &ctx.consumer, now_ms())
        .await
    {
        // Redis' clock minus ours: deadlines are on Redis' clock (one for the whole fleet).
        Ok(b) => {
            let skew = b.now_ms as i64 - now_ms() as i64;
            (b, skew)
        }
        Err(e) => {
            // The entries stay in our pending list; the reclaimer (ours or another worker's) retries
            // them once they have been idle for the reclaim time.
            tracing::warn!(error = %e, count = parsed.len(), "starting a batch failed; entries stay pending");
            return;
        }
    };
    let batch_done = batch_started.map_or(SystemTime::UNIX_EPOCH, |_| SystemTime::now());
    let each = started
        .statuses
        .into_iter()
        .zip(started.jobs)
        .zip(started.request_ids);
    for (mut entry, ((outcome, job), expired_rid)) in parsed.into_iter().zip(each) {
        if let Some(job) = job {
            entry.started(job);
        }
        match outcome {
            Started::Running(attempts) => {
                let Some(permit) = permits.split(1) else {
                    tracing::error!("more running jobs than permits; leaving the entry pending");
                    continue;
                };
                let ctx2 = ctx.clone();
                let traced = job_trace(&entry, attempts, reclaimed, batch_started, batch_done);
                let span = tracing::info_span!(parent: &traced, "job", job_id = %entry.job_id, request_id = %entry.request_id, attempts, reclaimed);
                let guard = ctx.track(&entry.entry_id, partition.index());
                ctx.tracker.spawn(
                    async move {
                        run_job(ctx2, entry, attempts, permit, skew_ms).await;
                        drop(guard);
                    }
                    .instrument(span)
                    .instrument(traced),
                );
            }
            Started::Expired => {
                tracing::info!(job_id = %entry.job_id, request_id = %expired_rid, "deadline passed before start; job expired");
                metrics::counter!(m::EXPIRED_ON_PICKUP.name).increment(1);
                metrics::counter!(m::FINISHED.name, "state" => JobState::Expired.as_str(), "code" => Code::JobExpired.as_str()).increment(1);
                ctx.codes.count(Code::JobExpired);
            }
            Started::AlreadyEnded | Started::Gone => {
                tracing::debug!(job_id = %entry.job_id, "entry for an ended job acknowledged");
            }
        }
    }
}

/// Now on Redis' clock (the one every deadline is on), from ours and the skew measured at start.
fn redis_now_ms(skew_ms: i64) -> u64 {
    (now_ms() as i64).saturating_add(skew_ms).max(0) as u64
}

async fn run_job(
    ctx: Arc<Ctx>,
    entry: QueueEntry,
    attempts: u32,
    permit: OwnedSemaphorePermit,
    skew_ms: i64,
) {
    let _permit = permit;
    metrics::gauge!(m::IN_FLIGHT.name).increment(1.0);
    let started_us = now_us();
    let queued_us = started_us.saturating_sub(entry.submitted_ms * 1000);
    metrics::histogram!(m::QUEUE_SECONDS.name).record(queued_us as f64 / 1e6);
    let timings = Timings {
        queued_us,
        ..Timings::default()
    };

    let finished = match &entry.request {
        Ok(request) if attempts <= ctx.cfg.max_attempts => {
            // The job's budget: ours, and never past the client's deadline.
            let budget = Duration::from_millis(ctx.cfg.job_budget_ms);
            let to_deadline =
                Duration::from_millis(entry.deadline_ms.saturating_sub(redis_now_ms(skew_ms)));
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
            metrics::gauge!(m::IN_FLIGHT.name).decrement(1.0);
            return;
        }
    };

    // Store the outcome (see `store_outcome`).
    let completing = tracing::info_span!(target: trace::TARGET, "job.complete", state = finished.state.as_str(), code = finished.code.as_str(), tries = Empty);
    let (stored, tries) = store_outcome(&ctx, &entry, &finished, skew_ms)
        .instrument(completing.clone())
        .await;
    completing.record("tries", tries);
    drop(completing);
    match stored {
        Some(Completed::Stored) => {
            let state = finished.state.as_str();
            metrics::counter!(m::FINISHED.name, "state" => state, "code" => finished.code.as_str())
                .increment(1);
            ctx.codes.count(finished.code);
            metrics::histogram!(m::COMPUTE_SECONDS.name)
                .record(finished.outcome.timings.compute_us as f64 / 1e6);
            metrics::histogram!(m::END_TO_END_SECONDS.name)
                .record(now_us().saturating_sub(entry.submitted_ms * 1000) as f64 / 1e6);
            tracing::info!(state, code = %finished.code, "job finished");
        }
        Some(Completed::Duplicate) => {
            metrics::counter!(m::DUPLICATE_COMPLETIONS.name).increment(1);
            tracing::info!("job had already finished elsewhere; duplicate completion ignored");
        }
        Some(Completed::Gone) => tracing::warn!("job record expired before completion"),
        None => tracing::error!(
            tries,
            "could not store the outcome by the deadline; the entry stays pending for reclaim"
        ),
    }
    metrics::gauge!(m::IN_FLIGHT.name).decrement(1.0);
}

/// Stores the outcome. Redis may blip or fail over: keep trying while the job's deadline
/// allows (the entry is touched meanwhile, so nobody reclaims it); past it, the entry stays
/// pending and whoever gets it next ends the job (the terminal state is written once).
/// Returns what the store answered (`None`: nothing stored by the deadline) and the tries made.
async fn store_outcome(
    ctx: &Ctx,
    entry: &QueueEntry,
    finished: &Finished,
    skew_ms: i64,
) -> (Option<Completed>, u32) {
    let mut delay = Duration::from_millis(50);
    let mut stored = None;
    let mut tries = 0u32;
    while tries == 0 || redis_now_ms(skew_ms) < entry.deadline_ms {
        tries += 1;
        match ctx
            .completer
            .complete(
                entry.delivered(),
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
                if tries == 1 {
                    tracing::warn!(error = %e, "storing the outcome failed; retrying until the deadline");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
        }
    }
    (stored, tries)
}

/// The job's trace span (disabled when traces are off): a child of the gateway's request span
/// when the entry carries its context, with the job's time in the queue and its start (the
/// batch's start script) as spans of their own, timed by when they happened.
fn job_trace(
    entry: &QueueEntry,
    attempts: u32,
    reclaimed: bool,
    batch_started: Option<SystemTime>,
    batch_done: SystemTime,
) -> tracing::Span {
    let span = tracing::info_span!(
        target: trace::TARGET,
        "worker.job",
        otel.name = "job",
        job_id = %entry.job_id,
        request_id = %entry.request_id,
        attempts,
        reclaimed,
        route.origin = Empty,
        route.destination = Empty,
        trace_id = Empty,
    );
    let Some(batch_started) = batch_started.filter(|_| !span.is_disabled()) else {
        return span;
    };
    if let Ok(request) = &entry.request {
        span.record("route.origin", place(&request.origin));
        span.record("route.destination", place(&request.destination));
    }
    let parent = trace::parent_from(&entry.trace);
    let attrs = || {
        vec![
            KeyValue::new("job_id", entry.job_id.clone()),
            KeyValue::new("attempts", i64::from(attempts)),
        ]
    };
    // The queue wait is the gateway span's child; without one (the gateway does not trace) the
    // job's own.
    let wait_parent = parent.clone();
    trace::continue_trace(&span, parent);
    trace::past_span(
        "queue.wait",
        &wait_parent.unwrap_or_else(|| trace::context_of(&span)),
        trace::at_ms(entry.submitted_ms),
        batch_started,
        attrs(),
    );
    trace::past_span(
        "job.start",
        &trace::context_of(&span),
        batch_started,
        batch_done,
        attrs(),
    );
    span
}

/// A stop for a span attribute: addresses and coordinates are personal data, redacted unless
/// `--trace-redact false`; a station id is not.
fn place(p: &Place) -> String {
    match p {
        Place::Coords(c) => trace::redact(&format!("{},{}", c.lat, c.lon)),
        Place::Address { address } => trace::redact(address),
        Place::Station { station_id } => format!("station:{station_id}"),
        Place::NearestStation { .. } => "nearest_station".to_string(),
    }
}

/// Parks a poison job in the dead-letter stream. If Redis is unreachable the entry stays
/// pending and is reclaimed (and parked) later.
async fn park(ctx: &Ctx, entry: &QueueEntry, label: &'static str, reason: &str) {
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
            metrics::counter!(m::DEAD_LETTERED.name, "reason" => label).increment(1);
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
