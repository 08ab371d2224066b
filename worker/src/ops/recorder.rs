//! The recorder: drains the records stream (the outbox the Lua scripts append to) into PostgreSQL.
//!
//! Save first, then tell is kept by construction: the scripts append a record in the same atomic
//! step that changes a job, so nothing a client was told can be missing from the stream. The
//! recorder reads batches through the `recorders` consumer group, writes each batch in one
//! statement, and acknowledges (and deletes) the entries only after PostgreSQL committed. While
//! PostgreSQL is down the backlog grows in Redis and nothing is lost; clients are never slowed.
//! A record PostgreSQL refuses for its data is not retried forever with its batch: NUL (which
//! neither `text` nor `jsonb` stores) is replaced by U+FFFD before writing, and when a batch is
//! still refused the records are written one by one and the one refused alone is parked in
//! `{p}:records:parked` with the error.
//! It runs inside a worker process (`--database-url`) or alone (`routeq-recorder run`).

use std::time::{Duration, Instant};

use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
};
use routeq_shared::db;
use routeq_shared::redis::connect::{Dedicated, Settings};
use routeq_shared::redis::record::{RecordEvent, entry_fields};
use routeq_shared::redis::{Conn, Keys};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use routeq_shared::metrics::recorder as m;

/// Recorder settings.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Most records written in one statement.
    pub batch: usize,
    /// How long a read blocks for new records, in ms.
    pub block_ms: u64,
    /// Records another recorder left unacknowledged this long are taken over, in ms.
    pub reclaim_idle_ms: u64,
    pub consumer: String,
}

/// Why one step of the recorder failed.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("postgres: {0}")]
    Pg(#[from] sqlx::Error),
}

/// Drains one partition's records stream until `shutdown`. `conn` is the process's command
/// connection; the blocking reads go over a connection of their own to the partition's node.
pub async fn run(
    conn: Conn,
    partition: Keys,
    settings: Settings,
    pg: PgPool,
    cfg: RecorderConfig,
    shutdown: CancellationToken,
) {
    let stream = partition.records_stream();
    let parked = partition.records_parked();
    let mut reader = Dedicated::for_reads(
        &conn,
        &stream,
        &settings,
        Duration::from_millis(cfg.block_ms),
    );
    let mut backoff = Duration::from_millis(100);
    let mut group_ready = false;
    // After a failure, our own pending entries are retried before anything new is read.
    let mut retry_pending = true;
    let mut last_reclaim = Instant::now();
    while !shutdown.is_cancelled() {
        let step = async {
            let mut commands = conn.clone();
            if !group_ready {
                routeq_shared::redis::ensure_group(&conn, &stream, Keys::RECORDERS)
                    .await
                    .map_err(|e| match e {
                        routeq_shared::redis::StoreError::Redis(r) => StepError::Redis(r),
                        other => StepError::Redis(redis::RedisError::from((
                            redis::ErrorKind::Client,
                            "creating the recorders group",
                            other.to_string(),
                        ))),
                    })?;
                group_ready = true;
            }
            let backlog: u64 = redis::AsyncCommands::xlen(&mut commands, &stream).await?;
            metrics::gauge!(routeq_shared::metrics::queue::RECORDS_BACKLOG.name)
                .set(backlog as f64);

            let mut entries = Vec::new();
            if last_reclaim.elapsed() >= Duration::from_millis(cfg.reclaim_idle_ms / 2) {
                last_reclaim = Instant::now();
                let reply: StreamAutoClaimReply = redis::AsyncCommands::xautoclaim_options(
                    &mut commands,
                    &stream,
                    Keys::RECORDERS,
                    &cfg.consumer,
                    cfg.reclaim_idle_ms,
                    "0-0",
                    StreamAutoClaimOptions::default().count(cfg.batch),
                )
                .await?;
                entries = reply.claimed;
            }
            if entries.is_empty() {
                let (id, block) = if retry_pending {
                    ("0", None)
                } else {
                    (">", Some(cfg.block_ms as usize))
                };
                let mut opts = StreamReadOptions::default()
                    .group(Keys::RECORDERS, &cfg.consumer)
                    .count(cfg.batch);
                if let Some(b) = block {
                    opts = opts.block(b);
                }
                let read = reader.get().await?;
                let reply: StreamReadReply =
                    redis::AsyncCommands::xread_options(&mut *read, &[&stream], &[id], &opts)
                        .await?;
                entries = reply.keys.into_iter().flat_map(|k| k.ids).collect();
                if retry_pending && entries.is_empty() {
                    retry_pending = false;
                    return Ok(0);
                }
            }
            if entries.is_empty() {
                return Ok(0);
            }
            let written = write_batch(&pg, &conn, &parked, &entries).await?;
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            let _: () = redis::pipe()
                .xack(&stream, Keys::RECORDERS, &ids)
                .ignore()
                .xdel(&stream, &ids)
                .ignore()
                .query_async(&mut commands)
                .await?;
            Ok::<u64, StepError>(written)
        };
        match step.await {
            Ok(_) => backoff = Duration::from_millis(100),
            Err(e) => {
                metrics::counter!(m::FAILURES.name).increment(1);
                if let StepError::Redis(r) = &e {
                    reader.reset();
                    if r.code() == Some("NOGROUP") {
                        // Redis restarted empty or failed over: make the group again (from the
                        // start of the stream, so every record appended since is kept).
                        group_ready = false;
                        tracing::warn!(stream = %stream, "the recorders group is gone; creating it again");
                        metrics::counter!(routeq_shared::metrics::redis::RECOVERIES.name, "connection" => "recorder", "what" => "group_recreated").increment(1);
                    }
                }
                tracing::warn!(error = %e, "recording failed; the records stay in Redis and are retried");
                retry_pending = true;
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Writes one batch; entries that are not job events are skipped (and acknowledged with the rest).
/// A record PostgreSQL refuses even alone is parked in `{p}:records:parked` (with the error) and
/// acknowledged with the rest, so one bad value never holds the batch.
async fn write_batch(
    pg: &PgPool,
    conn: &Conn,
    parked_stream: &str,
    entries: &[StreamId],
) -> Result<u64, StepError> {
    let started = Instant::now();
    let mut sources = Vec::with_capacity(entries.len());
    let events: Vec<RecordEvent> = entries
        .iter()
        .filter_map(|e| {
            let parsed = RecordEvent::decode(&entry_fields(&e.map));
            if parsed.is_none() {
                tracing::error!(entry_id = %e.id, "unreadable record skipped");
            } else {
                sources.push(e);
            }
            parsed
        })
        .collect();
    let report = db::write_records_isolating(pg, &events).await?;
    for (i, error) in &report.refused {
        let (entry, event) = (sources[*i], &events[*i]);
        let mut fields: Vec<(String, String)> = entry_fields(&entry.map).into_iter().collect();
        fields.push(("parked_error".into(), error.clone()));
        fields.push(("parked_entry".into(), entry.id.clone()));
        let mut c = conn.clone();
        let _: String = redis::AsyncCommands::xadd(&mut c, parked_stream, "*", &fields).await?;
        metrics::counter!(m::PARKED.name).increment(1);
        tracing::error!(job_id = %event.id, entry_id = %entry.id, error = %error, stream = parked_stream, "PostgreSQL refused a record even alone; parked");
    }
    metrics::counter!(m::ROWS.name).increment(report.rows);
    metrics::histogram!(m::BATCH_SECONDS.name).record(started.elapsed().as_secs_f64());
    Ok(report.rows)
}
