//! The sweeper: ends every job still pending past its deadline plus a grace, whatever left it
//! pending (no live worker, a worker that died with no other to reclaim its entry, a dead letter
//! nobody replayed, a stream entry Redis lost). Each round, one process per partition holds a
//! short lease (`SET NX PX`) and runs `lua/sweep.lua` over the due ids of the partition's
//! deadlines set; the script ends them through the one terminal write, on Redis' clock, so a
//! worker completing the same job at the same moment still leaves exactly one terminal state.

use std::time::Duration;

use super::keys::Keys;
use super::record::f;
use super::scripts::scripts;
use super::store::{JobStore, StoreError};
use crate::job::Outcome;

/// Most jobs one script call looks at (a round runs calls until none are due).
const BATCH: usize = 200;
/// Most calls per partition per round (bounds one round's work; the rest waits a round).
const MAX_CALLS: usize = 50;

/// The details a swept job carries (`outcome.detail`): why it ended `expired`.
pub const NEVER_STARTED: &str =
    "the deadline passed and the job never started: no worker took it in time";
pub const LOST: &str = "the job started but no worker stored its outcome by the deadline (its worker stopped or lost Redis); it was ended at the deadline plus the grace";
/// The detail of a job a worker reclaimed (its first worker died) after its deadline.
pub const LOST_RECLAIMED: &str = "the job started, but its worker stopped before storing an outcome, and the deadline had passed when another worker took it over";
pub const PARKED: &str = "the deadline passed while the job was parked in the dead-letter stream";

/// Sweeps one fleet's partitions.
#[derive(Debug, Clone)]
pub struct Sweeper {
    store: JobStore,
    grace_ms: u64,
    lease_ms: u64,
    owner: String,
}

impl Sweeper {
    /// `grace_ms`: how long past its deadline a job may stay pending; `every`: the round
    /// interval (also the lease's length).
    pub fn new(store: JobStore, grace_ms: u64, every: Duration) -> Sweeper {
        Sweeper {
            store,
            grace_ms,
            lease_ms: (every.as_millis() as u64).max(1),
            owner: uuid::Uuid::now_v7().to_string(),
        }
    }

    /// Sweeps every `every` until `shutdown`.
    pub async fn run(self, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            match self.round().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(ended = n, "sweeper ended jobs past their deadline"),
                Err(e) => {
                    tracing::warn!(error = %e, "sweeping overdue jobs failed; retrying next round")
                }
            }
        }
    }

    /// One round over every partition whose lease this process wins; how many jobs it ended.
    pub async fn round(&self) -> Result<u64, StoreError> {
        let mut ended = 0;
        for k in self.store.keys().all() {
            if self.lease(&k).await? {
                ended += self.partition(&k).await?;
            }
        }
        if ended > 0 {
            metrics::counter!(crate::metrics::jobs::SWEPT.name).increment(ended);
        }
        Ok(ended)
    }

    async fn lease(&self, k: &Keys) -> Result<bool, StoreError> {
        let mut conn = self.store.connection();
        let got: Option<String> = ::redis::cmd("SET")
            .arg(k.sweep_lease())
            .arg(&self.owner)
            .arg("NX")
            .arg("PX")
            .arg(self.lease_ms)
            .query_async(&mut conn)
            .await?;
        Ok(got.is_some())
    }

    /// Sweeps one partition until nothing is due (or the round's bound).
    pub async fn partition(&self, k: &Keys) -> Result<u64, StoreError> {
        let mut conn = self.store.connection();
        let mut ended = 0u64;
        for _ in 0..MAX_CALLS {
            let (secs, micros): (u64, u64) = ::redis::cmd("TIME").query_async(&mut conn).await?;
            let now_ms = secs * 1000 + micros / 1000;
            let cutoff = now_ms.saturating_sub(self.grace_ms);
            let ids: Vec<String> = ::redis::cmd("ZRANGEBYSCORE")
                .arg(k.deadlines())
                .arg("-inf")
                .arg(cutoff)
                .arg("LIMIT")
                .arg(0)
                .arg(BATCH)
                .query_async(&mut conn)
                .await?;
            if ids.is_empty() {
                break;
            }
            let mut pipe = ::redis::pipe();
            for id in &ids {
                pipe.hget(k.job(id), f::TENANT);
            }
            let tenants: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
            let outcome = |d: &str| serde_json::to_string(&Outcome::detail(d)).unwrap_or_default();
            let mut inv = scripts().sweep.prepare_invoke();
            inv.key(k.deadlines())
                .key(k.jobs_stream())
                .key(k.records_stream());
            for (id, tenant) in ids.iter().zip(&tenants) {
                inv.key(k.job(id))
                    .key(k.tenant_open_jobs(tenant.as_deref().unwrap_or("")));
            }
            // Last: the webhook outbox, which lib/finish.lua takes as the script's last key.
            inv.key(k.notify_stream());
            inv.arg(Keys::GROUP)
                .arg(self.grace_ms)
                .arg(self.store.result_ttl_ms())
                .arg(self.store.done_arg(k))
                .arg(self.store.recording().flag())
                .arg(outcome(NEVER_STARTED))
                .arg(outcome(LOST))
                .arg(outcome(PARKED));
            for id in &ids {
                inv.arg(id);
            }
            let n: u64 = inv.invoke_async(&mut conn).await?;
            ended += n;
            if ids.len() < BATCH {
                break;
            }
        }
        Ok(ended)
    }
}
