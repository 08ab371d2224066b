//! The dead-letter stream `{p}:dead`: where a job goes after `max_attempts` deliveries that never
//! completed (or when its queued request cannot be read), and what an operator does with it.
//!
//! Parking a job (`lua/dead_letter.lua`) acknowledges its jobs-stream entry and keeps the job
//! **pending** for its client, so the terminal state is still written exactly once: by the
//! worker that completes a replayed job (`lua/dead_replay.lua`, same job id), or by a purge
//! (`lua/dead_purge.lua`, which ends the job `failed`).

use ::redis::AsyncCommands;

use super::connect::Conn;
use super::keys::Keys;
use super::record::{DeadLetter, entry_fields};
use super::scripts::{Parked, Purged, Replayed, scripts};
use super::store::StoreError;
use crate::job::Outcome;

/// The dead-letter stream of one fleet.
#[derive(Clone)]
pub struct DeadLetters {
    conn: Conn,
    keys: Keys,
    result_ttl_ms: u64,
    record: bool,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

fn json(outcome: &Outcome) -> String {
    serde_json::to_string(outcome).unwrap_or_default()
}

impl DeadLetters {
    /// `record`: whether a purge appends a `finished` event to the records stream (as every
    /// other terminal state change does when a recorder runs).
    pub fn new(conn: Conn, keys: Keys, result_ttl_ms: u64, record: bool) -> Self {
        DeadLetters {
            conn,
            keys,
            result_ttl_ms,
            record,
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
        let k = self.keys.for_job(job_id);
        let mut conn = self.conn.clone();
        let reply = scripts()
            .dead_letter
            .key(k.job(job_id))
            .key(k.jobs_stream())
            .key(k.dead_letters())
            .arg(Keys::GROUP)
            .arg(entry_id)
            .arg(job_id)
            .arg(now_ms)
            .arg(consumer)
            .arg(reason)
            .arg(json(&parked))
            .invoke_async(&mut conn)
            .await?;
        Ok(Parked::decode(reply)?)
    }

    /// Up to `count` dead letters, oldest first (across every partition).
    pub async fn list(&self, count: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut conn = self.conn.clone();
        let mut out = Vec::new();
        for k in self.keys.all() {
            let reply: ::redis::streams::StreamRangeReply =
                conn.xrange_count(k.dead_letters(), "-", "+", count).await?;
            out.extend(
                reply
                    .ids
                    .iter()
                    .filter_map(|e| DeadLetter::decode(&e.id, &entry_fields(&e.map))),
            );
        }
        out.sort_by_key(|d| d.dead_at_ms);
        out.truncate(count);
        Ok(out)
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
        let mut total = 0u64;
        for k in self.keys.all() {
            total += conn.xlen::<_, u64>(k.dead_letters()).await?;
        }
        Ok(total)
    }

    /// Puts one dead letter back on the jobs stream under its job id.
    pub async fn replay(&self, letter: &DeadLetter, now_ms: u64) -> Result<Replayed, StoreError> {
        let k = self.keys.for_job(&letter.job_id);
        let mut conn = self.conn.clone();
        let reply = scripts()
            .dead_replay
            .key(k.dead_letters())
            .key(k.job(&letter.job_id))
            .key(k.jobs_stream())
            .key(k.deadlines())
            .arg(&letter.dead_id)
            .arg(now_ms)
            .arg(self.result_ttl_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok(Replayed::decode(&letter.job_id, reply)?)
    }

    /// Deletes one dead letter; its parked job ends `failed`.
    pub async fn purge(&self, letter: &DeadLetter, now_ms: u64) -> Result<Purged, StoreError> {
        let failed = Outcome::detail(format!(
            "given up: {}; the dead letter was purged by an operator",
            letter.reason
        ));
        let k = self.keys.for_job(&letter.job_id);
        let done = if self.conn.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        let mut conn = self.conn.clone();
        let status: i64 = scripts()
            .dead_purge
            .key(k.dead_letters())
            .key(k.job(&letter.job_id))
            .key(k.records_stream())
            .key(k.tenant_open_jobs(&letter.tenant))
            .key(k.notify_stream())
            .arg(&letter.dead_id)
            .arg(now_ms)
            .arg(self.result_ttl_ms)
            .arg(format!("{done} {}", k.done_channel()))
            .arg(json(&failed))
            .arg(if self.record { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await?;
        Ok(Purged::decode(status)?)
    }
}
