//! Housekeeping of the consumer groups (`workers` on the jobs streams, `recorders` on the records
//! streams), so `XINFO CONSUMERS` — which the queue sampler reads every second — does not grow
//! with every restart:
//! - on a clean exit a process removes its own consumer where it holds nothing ([`leave`]; one
//!   holding entries stays, so they can be reclaimed);
//! - every live worker sweeps consumers that hold nothing and have been idle for
//!   `--dead-consumer-idle-ms` (processes that were killed; [`sweep_loop`],
//!   `lua/consumer_sweep.lua`, atomic, so a consumer holding an entry is never removed).

use std::time::Duration;

use routeq_shared::redis::scripts::scripts;
use routeq_shared::redis::{Conn, Keys};
use tokio_util::sync::CancellationToken;

/// Every (stream, group) a worker or recorder may be a consumer of.
pub fn groups(keys: &Keys) -> Vec<(String, &'static str)> {
    keys.all()
        .iter()
        .flat_map(|k| {
            [
                (k.jobs_stream(), Keys::GROUP),
                (k.records_stream(), Keys::RECORDERS),
            ]
        })
        .collect()
}

/// Removes `consumer` from each of `groups` where it holds no entry.
pub async fn leave(conn: &Conn, groups: &[(String, &'static str)], consumer: &str) {
    let mut conn = conn.clone();
    for (stream, group) in groups {
        let pending: redis::RedisResult<redis::streams::StreamPendingCountReply> =
            redis::AsyncCommands::xpending_consumer_count(
                &mut conn, stream, *group, "-", "+", 1, consumer,
            )
            .await;
        if matches!(&pending, Ok(p) if p.ids.is_empty()) {
            let _: redis::RedisResult<i64> = redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(stream)
                .arg(*group)
                .arg(consumer)
                .query_async(&mut conn)
                .await;
        }
    }
}

/// Removes, once, the consumers other than `me` that hold nothing and have been idle at least
/// `idle`; returns how many. A missing stream or group is nothing to sweep.
pub async fn sweep(
    conn: &Conn,
    groups: &[(String, &'static str)],
    me: &str,
    idle: Duration,
) -> usize {
    let mut conn = conn.clone();
    let mut removed = 0;
    for (stream, group) in groups {
        let reply: redis::RedisResult<Vec<String>> = scripts()
            .consumer_sweep
            .key(stream)
            .arg(*group)
            .arg(idle.as_millis() as u64)
            .arg(me)
            .invoke_async(&mut conn)
            .await;
        match reply {
            Ok(names) => {
                for name in &names {
                    tracing::info!(stream = %stream, group = *group, consumer = %name, "removed a dead consumer that held nothing");
                }
                removed += names.len();
            }
            Err(e) if e.code() == Some("NOGROUP") || e.to_string().contains("no such key") => {}
            Err(e) => tracing::debug!(stream = %stream, error = %e, "could not sweep consumers"),
        }
    }
    removed
}

/// Sweeps every `idle / 2` (at most every minute) until `shutdown`.
pub async fn sweep_loop(
    conn: Conn,
    keys: Keys,
    me: String,
    idle: Duration,
    shutdown: CancellationToken,
) {
    let groups = groups(&keys);
    let every = (idle / 2).clamp(Duration::from_millis(100), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        sweep(&conn, &groups, &me, idle).await;
    }
}
