//! The webhook dead letters: deliveries past their schedule (or refused for good, or to a
//! disabled endpoint), listed and replayed by `routeq-notifier dead`, and the backlog gauges.

use std::collections::HashMap;

use redis::AsyncCommands;
use redis::streams::StreamRangeReply;
use routeq_shared::redis::record::entry_fields;
use routeq_shared::redis::{Conn, Keys};
use serde::Serialize;

use crate::engine::{REPLAY, now_ms};
use crate::task::Task;

/// One dead letter as listed.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// The dead letter's id (its stream entry), for `dead replay <id>`.
    pub dead_id: String,
    pub partition: u16,
    pub webhook_id: String,
    pub job_id: String,
    pub tenant: String,
    pub endpoint: String,
    pub event_type: String,
    pub attempts: u32,
    /// The class of the last result (`5xx`, `timeout`, `refused`, `disabled`…).
    pub class: String,
    /// Parked at, epoch ms.
    pub at_ms: u64,
    #[serde(skip)]
    task: Task,
}

/// Outbox entries, due deliveries and dead letters over every partition.
pub async fn backlog(conn: &Conn, keys: &Keys) -> redis::RedisResult<(u64, u64, u64)> {
    let mut c = conn.clone();
    let (mut outbox, mut due, mut dead) = (0, 0, 0);
    for k in keys.all() {
        outbox += c.xlen::<_, u64>(k.notify_stream()).await?;
        due += c.zcard::<_, u64>(k.notify_due()).await?;
        dead += c.xlen::<_, u64>(k.notify_dead()).await?;
    }
    Ok((outbox, due, dead))
}

/// Up to `limit` dead letters per partition, oldest first.
pub async fn list(conn: &Conn, keys: &Keys, limit: usize) -> redis::RedisResult<Vec<DeadLetter>> {
    let mut c = conn.clone();
    let mut out = Vec::new();
    for k in keys.all() {
        let reply: StreamRangeReply = c.xrange_count(k.notify_dead(), "-", "+", limit).await?;
        for e in reply.ids {
            let fields: HashMap<String, String> = entry_fields(&e.map);
            let Some(task) = fields.get("delivery").and_then(|d| Task::parse(d)) else {
                tracing::error!(entry_id = %e.id, "unreadable webhook dead letter");
                continue;
            };
            out.push(DeadLetter {
                dead_id: e.id.clone(),
                partition: k.index(),
                webhook_id: task.event_id.clone(),
                job_id: task.job_id.clone(),
                tenant: task.tenant.clone(),
                endpoint: task.endpoint.clone(),
                event_type: task.event_type.clone(),
                attempts: task.attempts,
                class: fields.get("class").cloned().unwrap_or_default(),
                at_ms: fields.get("at").and_then(|a| a.parse().ok()).unwrap_or(0),
                task,
            });
        }
    }
    Ok(out)
}

/// Puts dead letters back among the due deliveries, due now, with a fresh schedule (the same
/// `webhook-id`, so a receiver that did get one deduplicates it). `ids` empty: every one.
/// Returns how many were replayed.
pub async fn replay(conn: &Conn, keys: &Keys, ids: &[String]) -> redis::RedisResult<usize> {
    let letters = list(conn, keys, usize::MAX >> 1).await?;
    let mut c = conn.clone();
    let mut replayed = 0;
    for l in letters {
        if !ids.is_empty() && !ids.contains(&l.dead_id) {
            continue;
        }
        let k = keys.partition(l.partition);
        let mut task = l.task.clone();
        task.attempts = 0;
        task.created_ms = now_ms();
        let n: i64 = REPLAY
            .key(k.notify_due())
            .key(k.notify_dead())
            .arg(&l.dead_id)
            .arg(task.member())
            .arg(now_ms())
            .invoke_async(&mut c)
            .await?;
        replayed += usize::try_from(n).unwrap_or(0);
    }
    Ok(replayed)
}
