//! The recorder: drains the records stream (the outbox the Lua scripts append to) into PostgreSQL.
//!
//! Save first, then tell is kept by construction: the scripts append a record in the same atomic
//! step that changes a job, so nothing a client was told can be missing from the stream. The
//! recorder reads batches through the `recorders` consumer group, writes each batch in one
//! statement, and acknowledges (and deletes) the entries only after PostgreSQL committed. While
//! PostgreSQL is down the backlog grows in Redis and nothing is lost; clients are never slowed.
//! It runs inside a worker process (`--database-url`) or alone (`routeq-recorder run`).

use std::time::{Duration, Instant};

use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
};
use routeq_shared::db;
use routeq_shared::redis::Keys;
use routeq_shared::redis::record::{RecordEvent, entry_fields};
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

/// Drains until `shutdown`. `redis` is a dedicated pool for the blocking reads.
pub async fn run(
    keys: Keys,
    redis: deadpool_redis::Pool,
    pg: PgPool,
    cfg: RecorderConfig,
    shutdown: CancellationToken,
) {
    let stream = keys.records_stream();
    let mut backoff = Duration::from_millis(100);
    let mut group_ready = false;
    // After a failure, our own pending entries are retried before anything new is read.
    let mut retry_pending = true;
    let mut last_reclaim = Instant::now();
    while !shutdown.is_cancelled() {
        let step = async {
            let mut conn = redis.get().await.map_err(|e| e.to_string())?;
            if !group_ready {
                let created: redis::RedisResult<()> = redis::AsyncCommands::xgroup_create_mkstream(
                    &mut *conn,
                    &stream,
                    Keys::RECORDERS,
                    "0",
                )
                .await;
                match created {
                    Ok(()) => {}
                    Err(e) if e.code() == Some("BUSYGROUP") => {}
                    Err(e) => return Err(e.to_string()),
                }
                group_ready = true;
            }
            let backlog: u64 = redis::AsyncCommands::xlen(&mut *conn, &stream)
                .await
                .map_err(|e| e.to_string())?;
            metrics::gauge!(routeq_shared::metrics::queue::RECORDS_BACKLOG.name)
                .set(backlog as f64);

            let mut entries = Vec::new();
            if last_reclaim.elapsed() >= Duration::from_millis(cfg.reclaim_idle_ms / 2) {
                last_reclaim = Instant::now();
                let reply: StreamAutoClaimReply = redis::AsyncCommands::xautoclaim_options(
                    &mut *conn,
                    &stream,
                    Keys::RECORDERS,
                    &cfg.consumer,
                    cfg.reclaim_idle_ms,
                    "0-0",
                    StreamAutoClaimOptions::default().count(cfg.batch),
                )
                .await
                .map_err(|e| e.to_string())?;
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
                let reply: StreamReadReply =
                    redis::AsyncCommands::xread_options(&mut *conn, &[&stream], &[id], &opts)
                        .await
                        .map_err(|e| e.to_string())?;
                entries = reply.keys.into_iter().flat_map(|k| k.ids).collect();
                if retry_pending && entries.is_empty() {
                    retry_pending = false;
                    return Ok(0);
                }
            }
            if entries.is_empty() {
                return Ok(0);
            }
            let written = write_batch(&pg, &entries)
                .await
                .map_err(|e| format!("postgres: {e}"))?;
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            let _: () = redis::pipe()
                .xack(&stream, Keys::RECORDERS, &ids)
                .ignore()
                .xdel(&stream, &ids)
                .ignore()
                .query_async(&mut *conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok(written)
        };
        match step.await {
            Ok(_) => backoff = Duration::from_millis(100),
            Err(e) => {
                metrics::counter!(m::FAILURES.name).increment(1);
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
async fn write_batch(pg: &PgPool, entries: &[StreamId]) -> Result<u64, sqlx::Error> {
    let started = Instant::now();
    let events: Vec<RecordEvent> = entries
        .iter()
        .filter_map(|e| {
            let parsed = RecordEvent::decode(&entry_fields(&e.map));
            if parsed.is_none() {
                tracing::error!(entry_id = %e.id, "unreadable record skipped");
            }
            parsed
        })
        .collect();
    let rows = db::write_records(pg, &events).await?;
    metrics::counter!(m::ROWS.name).increment(rows);
    metrics::histogram!(m::BATCH_SECONDS.name).record(started.elapsed().as_secs_f64());
    Ok(rows)
}
