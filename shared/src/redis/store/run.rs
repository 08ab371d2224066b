//! What a worker does to jobs: start a batch of delivered entries, complete one or many (the
//! terminal write, acknowledged in the same script).

use super::{Completion, Delivered, JobStore, StoreError, json};
use crate::codes::Code;
use crate::job::{JobState, Outcome};
use crate::redis::keys::Keys;
use crate::redis::scripts::{Completed, Started, StartedBatch, scripts};

impl JobStore {
    /// Starts a batch of entries delivered from `partition`'s stream in one round trip.
    pub async fn start_batch(
        &self,
        partition: &Keys,
        entries: &[Delivered<'_>],
        consumer: &str,
        now_ms: u64,
    ) -> Result<Vec<Started>, StoreError> {
        Ok(self
            .start_batch_timed(partition, entries, consumer, now_ms)
            .await?
            .statuses)
    }

    /// Like [`JobStore::start_batch`], also returning each started job as submitted (the stream
    /// entry only names it) and Redis' clock (epoch ms) when the batch started: every deadline
    /// check is on that one clock, so a worker measures the time left to a job's deadline from
    /// it, never from its own clock.
    pub async fn start_batch_timed(
        &self,
        partition: &Keys,
        entries: &[Delivered<'_>],
        consumer: &str,
        now_ms: u64,
    ) -> Result<StartedBatch, StoreError> {
        if entries.is_empty() {
            return Ok(StartedBatch {
                now_ms,
                ..StartedBatch::default()
            });
        }
        let k = partition;
        let expired = Outcome::detail("the deadline passed before a worker could start the job");
        let lost = Outcome::detail(crate::redis::sweep::LOST_RECLAIMED);
        let mut inv = scripts().start.prepare_invoke();
        inv.key(k.jobs_stream()).key(k.records_stream());
        for e in entries {
            inv.key(k.job(e.job_id)).key(k.tenant_open_jobs(e.tenant));
        }
        inv.key(k.notify_stream());
        inv.arg(Keys::GROUP)
            .arg(now_ms)
            .arg(consumer)
            .arg(self.retention.result_ttl_ms)
            .arg(self.done_arg(k))
            .arg(json(&expired))
            .arg(self.recording.flag())
            .arg(json(&lost));
        for e in entries {
            inv.arg(e.entry_id);
        }
        let mut conn = self.conn.clone();
        Ok(Started::decode_batch(
            inv.invoke_async(&mut conn).await?,
            entries.len(),
        )?)
    }

    /// Writes a terminal state once, publishes "done" and acknowledges the entry.
    pub async fn complete(
        &self,
        job: Delivered<'_>,
        state: JobState,
        code: Code,
        outcome: &Outcome,
        now_ms: u64,
    ) -> Result<Completed, StoreError> {
        let outcome = json(outcome);
        let completion = Completion {
            job,
            state,
            code,
            outcome: &outcome,
        };
        let done = self.complete_many(&[completion], now_ms).await?;
        Ok(done[0])
    }

    /// Completes several jobs, one script per partition (concurrently); each is still written
    /// once. The statuses come back in the order of `jobs`.
    pub async fn complete_many(
        &self,
        jobs: &[Completion<'_>],
        now_ms: u64,
    ) -> Result<Vec<Completed>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for (i, c) in jobs.iter().enumerate() {
            let p = self.keys.partition_of(c.job.job_id);
            match groups.iter_mut().find(|(q, _)| *q == p) {
                Some((_, members)) => members.push(i),
                None => groups.push((p, vec![i])),
            }
        }
        let runs = groups.iter().map(|(p, members)| {
            let group: Vec<Completion<'_>> = members.iter().map(|&i| jobs[i]).collect();
            let k = self.keys.partition(*p);
            async move { self.complete_in(&k, &group, now_ms).await }
        });
        let results = futures_util::future::join_all(runs).await;
        let mut out = vec![Completed::Gone; jobs.len()];
        for ((_, members), result) in groups.iter().zip(results) {
            for (&i, status) in members.iter().zip(result?) {
                out[i] = status;
            }
        }
        Ok(out)
    }

    /// Completes jobs of one partition in one script call.
    async fn complete_in(
        &self,
        k: &Keys,
        jobs: &[Completion<'_>],
        now_ms: u64,
    ) -> Result<Vec<Completed>, StoreError> {
        let mut inv = scripts().complete.prepare_invoke();
        inv.key(k.jobs_stream()).key(k.records_stream());
        for c in jobs {
            inv.key(k.job(c.job.job_id))
                .key(k.tenant_open_jobs(c.job.tenant));
        }
        inv.key(k.notify_stream());
        inv.arg(Keys::GROUP)
            .arg(now_ms)
            .arg(self.retention.result_ttl_ms)
            .arg(self.done_arg(k))
            .arg(self.recording.flag());
        for c in jobs {
            inv.arg(c.job.entry_id)
                .arg(c.job.job_id)
                .arg(c.state.as_str())
                .arg(c.code.as_str())
                .arg(c.outcome);
        }
        let mut conn = self.conn.clone();
        Ok(Completed::decode(
            inv.invoke_async(&mut conn).await?,
            jobs.len(),
        )?)
    }
}
