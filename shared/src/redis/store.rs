//! A job's state changes in Redis: submit, read, cancel, start, complete. Each change is one
//! script ([`super::scripts`]), so every change costs one round trip and a crash between two
//! commands cannot leave half a job.

use std::collections::HashMap;

use ::redis::AsyncCommands;
use sha2::Digest;

use super::connect::Conn;
use super::keys::Keys;
use super::outbox::Recording;
use super::scripts::{Cancelled, Completed, ReplyError, Started, Submitted, scripts};
use crate::codes::Code;
use crate::job::{JobRecord, JobState, Outcome, RouteRequest};

/// Why a store operation failed: Redis is unreachable, slow, or answered something unexpected.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error(transparent)]
    Reply(#[from] ReplyError),
}

/// A job to accept.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub id: &'a str,
    pub tenant: &'a str,
    pub request_id: &'a str,
    pub request: &'a RouteRequest,
    /// `request.canonical_json()`, serialised once by the caller (it also answers with it).
    pub request_json: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub submitted_ms: u64,
    /// The most unfinished jobs this tenant may have (0 = no cap).
    pub max_open: u64,
    /// The webhooks to notify when the job ends (`""` none, `*` all of the tenant's, or ids
    /// separated by commas); see [`crate::redis::record::f::WEBHOOKS`].
    pub webhooks: &'a str,
    /// The W3C trace context the worker continues (`""`: not traced; see `record::f::TRACE`).
    pub trace: &'a str,
}

/// A delivered job, as a worker holds it: whose it is, which job, which stream entry.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    pub tenant: &'a str,
    pub job_id: &'a str,
    pub entry_id: &'a str,
}

/// One job's completion, for [`JobStore::complete_many`].
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    pub job: Delivered<'a>,
    pub state: JobState,
    pub code: Code,
    /// The outcome, serialised.
    pub outcome: &'a str,
}

/// Lifetimes the store applies.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// How long a finished job stays readable in Redis, in ms.
    pub result_ttl_ms: u64,
    /// Whether state changes append to the records stream from the start (see
    /// [`super::outbox::RecordsMode`]).
    pub record: bool,
}

/// The job store: the command connection, the key space and whether records are appended.
#[derive(Clone)]
pub struct JobStore {
    conn: Conn,
    keys: Keys,
    retention: Retention,
    recording: Recording,
}

impl std::fmt::Debug for JobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobStore")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

fn json(outcome: &Outcome) -> String {
    // Plain data with finite numbers: serialising cannot fail.
    serde_json::to_string(outcome).unwrap_or_default()
}

impl JobStore {
    pub fn new(conn: Conn, keys: Keys, retention: Retention) -> JobStore {
        let recording = Recording::new(conn.clone(), keys.clone(), retention.record);
        JobStore {
            conn,
            keys,
            retention,
            recording,
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn connection(&self) -> Conn {
        self.conn.clone()
    }

    /// Whether, and from when, state changes append to the records stream.
    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    pub fn result_ttl_ms(&self) -> u64 {
        self.retention.result_ttl_ms
    }

    /// Creates the workers' consumer group if it does not exist (reading from the start of the
    /// stream, so jobs submitted before any worker ever ran are not skipped).
    pub async fn ensure_group(&self) -> Result<(), StoreError> {
        for k in self.keys.all() {
            self.ensure_group_in(&k).await?;
        }
        Ok(())
    }

    /// The workers' consumer group of one partition's stream.
    pub async fn ensure_group_in(&self, partition: &Keys) -> Result<(), StoreError> {
        super::ensure_group(&self.conn, &partition.jobs_stream(), Keys::GROUP).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = ::redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// A fleet-wide cap's share of one partition (rounded up; 0 stays "no cap"). Exact with
    /// one partition; with N it allows up to N−1 more in all, and refuses once every partition
    /// holds its share.
    pub fn share(&self, cap: u64) -> u64 {
        let n = u64::from(self.keys.partitions());
        if cap == 0 { 0 } else { cap.div_ceil(n) }
    }

    /// The `done` channel argument of the scripts: the command and the channel
    /// (`PUBLISH <channel>`, or `SPUBLISH <channel>` on a cluster, where a classic PUBLISH
    /// would be copied to every node).
    pub fn done_arg(&self, partition: &Keys) -> String {
        let cmd = if self.conn.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        format!("{cmd} {}", partition.done_channel())
    }

    /// Accepts a job: one script that checks the idempotency key and the caps, appends the
    /// stream entry and writes the record. Idempotent by job id: sent twice (a retry after a
    /// timeout), it creates the job once.
    pub async fn submit(
        &self,
        job: &NewJob<'_>,
        max_backlog: u64,
    ) -> Result<Submitted, StoreError> {
        let (keys, args) = self.submit_call(job, max_backlog);
        let mut inv = scripts().submit.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        for a in &args {
            inv.arg(a);
        }
        let mut conn = self.conn.clone();
        Ok(Submitted::decode(inv.invoke_async(&mut conn).await?)?)
    }

    /// Like [`JobStore::submit`], on `conn` (a connection of its own: WAIT holds its connection
    /// while it waits), pipelined with `WAIT replicas timeout_ms`; also returns how many replicas
    /// confirmed. On a cluster the pipeline goes to the job's master, so WAIT counts its replicas.
    pub async fn submit_replicated(
        &self,
        conn: &Conn,
        job: &NewJob<'_>,
        max_backlog: u64,
        replicas: u32,
        timeout_ms: u64,
    ) -> Result<(Submitted, u64), StoreError> {
        let (keys, args) = self.submit_call(job, max_backlog);
        let script = &scripts().submit;
        let mut pipe = ::redis::pipe();
        pipe.cmd("EVALSHA")
            .arg(script.get_hash())
            .arg(keys.len())
            .arg(&keys)
            .arg(&args)
            .cmd("WAIT")
            .arg(replicas)
            .arg(timeout_ms);
        let mut c = conn.clone();
        let reply: ::redis::RedisResult<((i64, String), u64)> = pipe.query_async(&mut c).await;
        match reply {
            Ok((submitted, acked)) => Ok((Submitted::decode(submitted)?, acked)),
            Err(e)
                if e.kind() == ::redis::ErrorKind::Server(::redis::ServerErrorKind::NoScript) =>
            {
                // The script cache is empty (Redis restarted): load it by running it once, then
                // wait for the replicas (the submit is idempotent by job id).
                let mut inv = script.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                for a in &args {
                    inv.arg(a);
                }
                let submitted = Submitted::decode(inv.invoke_async(&mut c).await?)?;
                let mut pipe = ::redis::pipe();
                pipe.cmd("EVALSHA")
                    .arg(script.get_hash())
                    .arg(keys.len())
                    .arg(&keys)
                    .arg(&args)
                    .cmd("WAIT")
                    .arg(replicas)
                    .arg(timeout_ms);
                let (_, acked): ((i64, String), u64) = pipe.query_async(&mut c).await?;
                Ok((submitted, acked))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The submit script's KEYS and ARGV for `job`.
    fn submit_call(&self, job: &NewJob<'_>, max_backlog: u64) -> (Vec<String>, Vec<String>) {
        let k = self.keys.for_job(job.id);
        let deadline_ms = job.submitted_ms + job.request.deadline_ms;
        let ttl_ms = job.request.deadline_ms + self.retention.result_ttl_ms;
        let mut keys = vec![
            k.job(job.id),
            k.jobs_stream(),
            k.records_stream(),
            k.tenant_open_jobs(job.tenant),
            k.deadlines(),
        ];
        if let Some(key) = job.idempotency_key {
            keys.push(k.idempotency(job.tenant, key));
        }
        let fingerprint = if job.idempotency_key.is_some() {
            // RouteRequest::fingerprint() of the JSON already serialised.
            hex::encode(sha2::Sha256::digest(job.request_json.as_bytes()))
        } else {
            String::new()
        };
        let mut args = vec![
            job.id.to_string(),
            job.tenant.to_string(),
            job.request_id.to_string(),
            job.request_json.to_string(),
            fingerprint,
            job.submitted_ms.to_string(),
            deadline_ms.to_string(),
            ttl_ms.to_string(),
            self.share(max_backlog).to_string(),
            job.idempotency_key.unwrap_or("").to_string(),
            self.recording.flag().to_string(),
            self.share(job.max_open).to_string(),
            job.webhooks.to_string(),
        ];
        // Only traced jobs send ARGV[14]: untraced submissions are the same call as before.
        if !job.trace.is_empty() {
            args.push(job.trace.to_string());
        }
        (keys, args)
    }

    /// Reads a job record, or `None` when there is no such job for this tenant.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = conn.hgetall(self.keys.for_job(id).job(id)).await?;
        Ok(JobRecord::decode(&fields).filter(|r| r.tenant == tenant))
    }

    /// Cancels a queued job.
    pub async fn cancel(
        &self,
        tenant: &str,
        id: &str,
        now_ms: u64,
    ) -> Result<Cancelled, StoreError> {
        let outcome = Outcome::detail("cancelled by the client");
        let k = self.keys.for_job(id);
        let mut conn = self.conn.clone();
        let reply = scripts()
            .cancel
            .key(k.job(id))
            .key(k.records_stream())
            .key(k.tenant_open_jobs(tenant))
            .key(k.notify_stream())
            .arg(tenant)
            .arg(now_ms)
            .arg(self.retention.result_ttl_ms)
            .arg(self.done_arg(&k))
            .arg(id)
            .arg(json(&outcome))
            .arg(self.recording.flag())
            .invoke_async(&mut conn)
            .await?;
        Ok(Cancelled::decode(reply)?)
    }

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
            .0)
    }

    /// Like [`JobStore::start_batch`], also returning Redis' clock (epoch ms) when the batch
    /// started: every deadline check is on that one clock, so a worker measures the time left to
    /// a job's deadline from it, never from its own clock.
    pub async fn start_batch_timed(
        &self,
        partition: &Keys,
        entries: &[Delivered<'_>],
        consumer: &str,
        now_ms: u64,
    ) -> Result<(Vec<Started>, u64), StoreError> {
        if entries.is_empty() {
            return Ok((Vec::new(), now_ms));
        }
        let k = partition;
        let expired = Outcome::detail("the deadline passed before a worker could start the job");
        let lost = Outcome::detail(super::sweep::LOST_RECLAIMED);
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
        Ok(Started::decode_timed(
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
