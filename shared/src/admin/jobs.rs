//! Any tenant's job, for an operator: the job hash with its history (every delivery: which
//! worker, when), found by job id or by request id.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::value::glob;
use crate::job::JobRecord;
use crate::redis::record::{Delivery, f};
use crate::redis::{Conn, Keys};

/// A job as an operator sees it (whatever its tenant).
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobDetail {
    pub id: String,
    pub tenant: String,
    pub request_id: String,
    pub state: String,
    pub code: String,
    pub submitted_ms: u64,
    pub deadline_ms: u64,
    pub started_ms: u64,
    pub finished_ms: u64,
    /// Queued for (until started or, never started, until now or finished), ms.
    pub waited_ms: u64,
    /// Started → finished, ms (0 while unfinished).
    pub ran_ms: u64,
    pub attempts: u32,
    /// The consumer that took it last.
    pub worker: String,
    /// Its entry on the jobs stream.
    pub entry_id: String,
    /// While parked: the dead-letter entry id.
    pub dead_letter: String,
    pub history: Vec<Delivery>,
    pub request: serde_json::Value,
    pub outcome: serde_json::Value,
}

impl JobDetail {
    fn from_fields(fields: &HashMap<String, String>) -> Option<JobDetail> {
        let r = JobRecord::decode(fields)?;
        let text = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let now = crate::job::now_ms();
        let waited_until = if r.started_ms > 0 {
            r.started_ms
        } else if r.finished_ms > 0 {
            r.finished_ms
        } else {
            now
        };
        Some(JobDetail {
            waited_ms: waited_until.saturating_sub(r.submitted_ms),
            ran_ms: if r.started_ms > 0 && r.finished_ms > 0 {
                r.finished_ms.saturating_sub(r.started_ms)
            } else {
                0
            },
            id: r.id,
            tenant: r.tenant,
            request_id: r.request_id,
            state: r.state.as_str().to_string(),
            code: r.code.as_str().to_string(),
            submitted_ms: r.submitted_ms,
            deadline_ms: r.deadline_ms,
            started_ms: r.started_ms,
            finished_ms: r.finished_ms,
            attempts: r.attempts,
            worker: text(f::WORKER),
            entry_id: text(f::ENTRY),
            dead_letter: text(f::DEAD_LETTER),
            history: serde_json::from_str(&text(f::HISTORY)).unwrap_or_default(),
            request: serde_json::from_str(&r.request_json).unwrap_or(serde_json::Value::Null),
            outcome: r
                .outcome
                .and_then(|o| serde_json::to_value(o).ok())
                .unwrap_or(serde_json::Value::Null),
        })
    }
}

/// The job with this id, whatever its tenant; `None` when Redis holds no such job (unknown, or
/// past its result TTL).
pub async fn show(conn: &Conn, keys: &Keys, id: &str) -> redis::RedisResult<Option<JobDetail>> {
    let mut c = conn.clone();
    let fields: HashMap<String, String> = c.hgetall(keys.for_job(id).job(id)).await?;
    Ok(JobDetail::from_fields(&fields))
}

/// The jobs carrying this request id (`X-Request-Id`), newest first, by a SCAN over the job
/// hashes (no index: an operator's rare lookup pays, the hot path does not); at most `limit`.
pub async fn by_request_id(
    conn: &Conn,
    keys: &Keys,
    request_id: &str,
    limit: usize,
) -> redis::RedisResult<Vec<JobDetail>> {
    let mut out = Vec::new();
    for k in keys.all() {
        let pattern = format!("{}*", glob(&k.job("")));
        let mut c = conn.clone();
        let mut names = Vec::new();
        {
            let mut it: redis::AsyncIter<String> = c
                .scan_options(
                    redis::ScanOptions::default()
                        .with_pattern(pattern)
                        .with_count(1000),
                )
                .await?;
            while let Some(item) = it.next_item().await {
                names.push(item?);
            }
        }
        for key in names {
            let rid: Option<String> = c.hget(&key, f::REQUEST_ID).await?;
            if rid.as_deref() == Some(request_id) {
                let fields: HashMap<String, String> = c.hgetall(&key).await?;
                out.extend(JobDetail::from_fields(&fields));
                if out.len() >= limit {
                    break;
                }
            }
        }
    }
    out.sort_by_key(|j| std::cmp::Reverse(j.submitted_ms));
    out.truncate(limit);
    Ok(out)
}
