//! Reading the jobs stream through the `workers` group, and taking over what dead workers left.
//!
//! Discipline (see `routeq_shared::redis` for the key space):
//! - reads ask for exactly as many entries as there are free permits, and block at most `block_ms`
//!   on a dedicated connection whose response timeout exceeds the block;
//! - a read in progress is never abandoned (that would strand its entries in our pending list):
//!   shutdown waits for it to return, and works on what it returned;
//! - an entry is acknowledged only inside the script that stores the job's terminal state;
//! - the same loop reclaims entries idle longer than `reclaim_idle_ms` (their worker died).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
};
use routeq_shared::metrics::jobs as m;
use routeq_shared::redis::{JobStore, Keys};
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::run::dispatch;

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
            metrics::counter!(m::RECLAIMED.name).increment(reply.claimed.len() as u64);
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
