//! Reading the jobs stream through the `workers` group — one reader per partition — and taking
//! over what dead workers left.
//!
//! Discipline (see `routeq_shared::redis` for the key space):
//! - reads ask for at most as many entries as there are free permits, and block at most
//!   `block_ms` on a connection of their own (to the node that owns the partition) whose response
//!   timeout exceeds the block;
//! - a read in progress is never abandoned by choice: shutdown waits for it to return;
//! - **after any failed read or a new connection, the reader first re-reads its own pending
//!   entries** (`XREADGROUP … 0`): a read the client gave up on (Redis stalled past the response
//!   timeout, the connection broke) may still have been served by Redis into this consumer's
//!   pending list, and nobody else would read those entries before the reclaim time;
//! - the group is created again when Redis lost it (`NOGROUP`: restarted empty, failed over);
//! - an entry is acknowledged only inside the script that stores the job's terminal state;
//! - the same loop reclaims entries idle longer than `reclaim_idle_ms` (their worker stopped
//!   touching them: it died) so reclaiming never starves for permits;
//! - a partition whose last read was empty holds one permit while it blocks, not all of them,
//!   so a busy partition is not starved by idle ones.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
};
use routeq_shared::metrics::jobs as m;
use routeq_shared::redis::connect::Dedicated;
use routeq_shared::redis::{JobStore, Keys};
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::run::dispatch;

/// Reads one partition until `shutdown`.
pub async fn read_loop(ctx: Arc<Ctx>, partition: Keys, shutdown: CancellationToken) {
    let key = partition.jobs_stream();
    let block = Duration::from_millis(ctx.cfg.block_ms);
    let mut reader = Dedicated::for_reads(&ctx.store.connection(), &key, &ctx.settings, block);
    let mut backoff = Duration::from_millis(50);
    let mut group_ready = false;
    // Our own pending entries are read first (also at start: a restarted worker with a fixed
    // --consumer name finds what its previous process held).
    let mut reread_pending = true;
    let mut last_read_empty = false;
    let reclaim_every = Duration::from_millis(ctx.cfg.reclaim_interval_ms);
    let mut last_reclaim = Instant::now();
    let mut cursor = "0-0".to_string();
    let beat_every = ctx.readers.beat_every();
    while !shutdown.is_cancelled() {
        ctx.readers.beat(&key);
        if !group_ready {
            match ctx.store.ensure_group_in(&partition).await {
                Ok(()) => group_ready = true,
                Err(e) => {
                    tracing::warn!(error = %e, stream = %key, "cannot create the consumer group; retrying");
                    pause(&shutdown, &mut backoff).await;
                    continue;
                }
            }
        }
        // Paused: nothing new (our own pending entries are still re-read first).
        if !reread_pending && !super::pause::wait_while_paused(&ctx.paused, &shutdown).await {
            break;
        }
        // Wait for capacity, then take the free permits (one only while this partition is idle).
        // Waiting here is not being stuck: beat while the jobs in flight hold every permit.
        let permits = loop {
            tokio::select! {
                p = ctx.permits.clone().acquire_owned() => match p {
                    Ok(p) => break Some(p),
                    Err(_) => break None,
                },
                () = shutdown.cancelled() => break None,
                () = tokio::time::sleep(beat_every) => ctx.readers.beat(&key),
            }
        };
        let Some(mut permits) = permits else {
            break;
        };
        ctx.readers.beat(&key);
        let extra = if last_read_empty && !reread_pending {
            0
        } else {
            ctx.permits.available_permits().min(255)
        };
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
                dispatch(&ctx, &partition, claimed, taken, true).await;
            }
            if permits.num_permits() == 0 {
                continue;
            }
        }

        let (id, block_for) = if reread_pending {
            ("0", None)
        } else {
            (">", Some(ctx.cfg.block_ms as usize))
        };
        let mut opts = StreamReadOptions::default()
            .group(Keys::GROUP, &ctx.consumer)
            .count(permits.num_permits());
        if let Some(b) = block_for {
            opts = opts.block(b);
        }
        let reply: redis::RedisResult<StreamReadReply> = async {
            let conn = reader.get().await?;
            redis::AsyncCommands::xread_options(&mut *conn, &[&key], &[id], &opts).await
        }
        .await;
        ctx.readers.beat(&key);
        match reply {
            Ok(reply) => {
                backoff = Duration::from_millis(50);
                let mut entries: Vec<StreamId> =
                    reply.keys.into_iter().flat_map(|k| k.ids).collect();
                if reread_pending {
                    // Ours already: skip what this process is working on; the rest were
                    // delivered to a read we lost.
                    entries.retain(|e| !ctx.is_in_flight(&e.id));
                    reread_pending = false;
                    if !entries.is_empty() {
                        tracing::info!(count = entries.len(), stream = %key, "re-reading entries delivered to a lost read");
                        metrics::counter!(routeq_shared::metrics::redis::RECOVERIES.name, "connection" => "reader", "what" => "pending_reread").increment(1);
                    }
                    last_read_empty = false;
                } else {
                    last_read_empty = entries.is_empty();
                }
                dispatch(&ctx, &partition, entries, permits, false).await;
            }
            Err(e) => {
                drop(permits);
                reader.reset();
                reread_pending = true;
                if e.code() == Some("NOGROUP") {
                    group_ready = false;
                    tracing::warn!(stream = %key, "the consumer group is gone (Redis restarted empty or failed over); creating it again");
                    metrics::counter!(routeq_shared::metrics::redis::RECOVERIES.name, "connection" => "reader", "what" => "group_recreated").increment(1);
                } else {
                    tracing::warn!(error = %e, stream = %key, "reading the jobs stream failed; retrying");
                }
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
            let claimed: Vec<StreamId> = reply
                .claimed
                .into_iter()
                .filter(|e| !ctx.is_in_flight(&e.id))
                .collect();
            if claimed.is_empty() {
                return None;
            }
            tracing::info!(count = claimed.len(), "reclaimed abandoned entries");
            metrics::counter!(m::RECLAIMED.name).increment(claimed.len() as u64);
            Some(claimed)
        }
        Err(e) => {
            if e.code() != Some("NOGROUP") {
                tracing::warn!(error = %e, "reclaiming abandoned entries failed");
            }
            None
        }
    }
}

/// Refreshes the idle time of the entries this process works on, every `every`, so they are
/// never reclaimed while it works (`lua/touch.lua`); stops at `shutdown`.
pub async fn touch_loop(ctx: Arc<Ctx>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for (partition, entries) in ctx.in_flight_by_partition() {
            let keys = ctx.store.keys().partition(partition);
            let mut inv = routeq_shared::redis::scripts::scripts()
                .touch
                .prepare_invoke();
            inv.key(keys.jobs_stream())
                .arg(Keys::GROUP)
                .arg(&ctx.consumer);
            for e in &entries {
                inv.arg(e);
            }
            let mut conn = ctx.store.connection();
            if let Err(e) = inv.invoke_async::<i64>(&mut conn).await {
                tracing::warn!(error = %e, entries = entries.len(), "could not touch the entries in flight; they may be reclaimed if this lasts");
            }
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

/// How many entries each consumer holds, over every partition (for tests and tools).
pub async fn pending_by_consumer(store: &JobStore) -> redis::RedisResult<HashMap<String, u64>> {
    let mut conn = store.connection();
    let mut out = HashMap::new();
    for k in store.keys().all() {
        let reply: redis::streams::StreamPendingReply =
            redis::AsyncCommands::xpending(&mut conn, k.jobs_stream(), Keys::GROUP).await?;
        if let redis::streams::StreamPendingReply::Data(d) = reply {
            for c in d.consumers {
                *out.entry(c.name).or_insert(0) += c.pending as u64;
            }
        }
    }
    Ok(out)
}
