//! The dead-letter stream `{p}:dead`: where a job goes after `max_attempts` deliveries that never
//! completed (or when its queued request cannot be read), and what an operator does with it.
//!
//! Parking a job (`lua/dead_letter.lua`) acknowledges its jobs-stream entry and keeps the job
//! **pending** for its client, so the terminal state is still written exactly once: by the
//! worker that completes a replayed job (`lua/dead_replay.lua`, same job id), or by a purge
//! (`lua/dead_purge.lua`, which ends the job `failed`).

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::Serialize;

use crate::job::Outcome;
use crate::keys::Keys;
use crate::store::StoreError;

/// One delivery of a dead letter's job.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The delivery's number (1 = first).
    #[serde(rename = "n")]
    pub delivery: u64,
    /// The consumer (worker) that took it.
    #[serde(rename = "w")]
    pub worker: String,
    /// When it started, epoch ms.
    #[serde(rename = "t")]
    pub started_ms: u64,
    /// What became of it.
    #[serde(rename = "e", default)]
    pub error: String,
}

/// A dead letter as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// The dead-letter stream entry id.
    pub dead_id: String,
    pub job_id: String,
    pub tenant: String,
    pub request_id: String,
    pub request: serde_json::Value,
    pub submitted_ms: u64,
    pub deadline_ms: u64,
    pub attempts: u64,
    pub reason: String,
    pub dead_at_ms: u64,
    /// The worker that parked it.
    pub parked_by: String,
    pub history: Vec<Delivery>,
}

impl DeadLetter {
    fn from_entry(id: &str, f: &HashMap<String, String>) -> Option<DeadLetter> {
        let text = |k: &str| f.get(k).cloned().unwrap_or_default();
        let num = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Some(DeadLetter {
            dead_id: id.to_string(),
            job_id: f.get("id")?.clone(),
            tenant: text("t"),
            request_id: text("rid"),
            request: serde_json::from_str(&text("req")).unwrap_or(serde_json::Value::Null),
            submitted_ms: num("sub"),
            deadline_ms: num("dl"),
            attempts: num("att"),
            reason: text("reason"),
            dead_at_ms: num("at"),
            parked_by: text("by"),
            history: serde_json::from_str(&text("hist")).unwrap_or_default(),
        })
    }
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// Back on the jobs stream under its job id.
    Queued {
        job_id: String,
    },
    /// The job had ended meanwhile; the dead letter was only deleted.
    AlreadyEnded {
        job_id: String,
        state: String,
    },
    NotFound,
}

/// What parking a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parked {
    Parked { dead_id: String },
    AlreadyEnded,
    Gone,
}

struct Scripts {
    park: Script,
    replay: Script,
    purge: Script,
}

/// The dead-letter stream of one fleet.
#[derive(Clone)]
pub struct DeadLetters {
    conn: ConnectionManager,
    keys: Keys,
    result_ttl_ms: u64,
    record: bool,
    scripts: std::sync::Arc<Scripts>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// `record`: whether a purge appends a `finished` event to the records stream (as every
    /// other terminal state change does when a recorder runs).
    pub fn new(conn: ConnectionManager, keys: Keys, result_ttl_ms: u64, record: bool) -> Self {
        DeadLetters {
            conn,
            keys,
            result_ttl_ms,
            record,
            scripts: std::sync::Arc::new(Scripts {
                park: Script::new(include_str!("lua/dead_letter.lua")),
                replay: Script::new(include_str!("lua/dead_replay.lua")),
                purge: Script::new(include_str!("lua/dead_purge.lua")),
            }),
        }
    }

    /// Parks a delivered job in the dead-letter stream (see `lua/dead_letter.lua`).
    pub async fn park(
        &self,
        job_id: &str,
        entry_id: &str,
        consumer: &str,
        reason: &str,
        now_ms: u64,
    ) -> Result<Parked, StoreError> {
        let parked = Outcome::detail(format!(
            "parked in the dead-letter stream: {reason}; the job stays pending until an operator replays or purges it"
        ));
        let mut conn = self.conn.clone();
        let (status, value): (i64, String) = self
            .scripts
            .park
            .key(self.keys.job(job_id))
            .key(self.keys.jobs_stream())
            .key(self.keys.dead_letters())
            .arg(Keys::GROUP)
            .arg(entry_id)
            .arg(job_id)
            .arg(now_ms)
            .arg(consumer)
            .arg(reason)
            .arg(serde_json::to_string(&parked).unwrap_or_default())
            .invoke_async(&mut conn)
            .await?;
        Ok(match status {
            1 => Parked::Parked { dead_id: value },
            0 => Parked::AlreadyEnded,
            _ => Parked::Gone,
        })
    }

    /// Up to `count` dead letters, oldest first.
    pub async fn list(&self, count: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply = conn
            .xrange_count(self.keys.dead_letters(), "-", "+", count)
            .await?;
        Ok(reply
            .ids
            .iter()
            .filter_map(|e| {
                let fields: HashMap<String, String> = e
                    .map
                    .keys()
                    .filter_map(|k| e.get::<String>(k).map(|v| (k.clone(), v)))
                    .collect();
                DeadLetter::from_entry(&e.id, &fields)
            })
            .collect())
    }

    /// Finds a dead letter by its job id or its dead-letter entry id.
    pub async fn find(&self, id: &str) -> Result<Option<DeadLetter>, StoreError> {
        Ok(self
            .list(usize::MAX >> 1)
            .await?
            .into_iter()
            .find(|d| d.job_id == id || d.dead_id == id))
    }

    /// How many dead letters there are.
    pub async fn count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.xlen(self.keys.dead_letters()).await?)
    }

    /// Puts one dead letter back on the jobs stream under its job id.
    pub async fn replay(&self, letter: &DeadLetter, now_ms: u64) -> Result<Replayed, StoreError> {
        let mut conn = self.conn.clone();
        let (status, value): (i64, String) = self
            .scripts
            .replay
            .key(self.keys.dead_letters())
            .key(self.keys.job(&letter.job_id))
            .key(self.keys.jobs_stream())
            .arg(&letter.dead_id)
            .arg(now_ms)
            .arg(self.result_ttl_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok(match status {
            1 => Replayed::Queued {
                job_id: letter.job_id.clone(),
            },
            0 => Replayed::AlreadyEnded {
                job_id: letter.job_id.clone(),
                state: value,
            },
            _ => Replayed::NotFound,
        })
    }

    /// Deletes one dead letter; its parked job ends `failed`. True when a parked job ended.
    pub async fn purge(&self, letter: &DeadLetter, now_ms: u64) -> Result<bool, StoreError> {
        let failed = Outcome::detail(format!(
            "given up: {}; the dead letter was purged by an operator",
            letter.reason
        ));
        let mut conn = self.conn.clone();
        let status: i64 = self
            .scripts
            .purge
            .key(self.keys.dead_letters())
            .key(self.keys.job(&letter.job_id))
            .key(self.keys.records_stream())
            .arg(&letter.dead_id)
            .arg(now_ms)
            .arg(self.result_ttl_ms)
            .arg(self.keys.done_channel())
            .arg(serde_json::to_string(&failed).unwrap_or_default())
            .arg(if self.record { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await?;
        Ok(status == 1)
    }
}
