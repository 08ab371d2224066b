//! A job's state changes in Redis: submit, read, cancel, start, complete. Each change is one
//! script ([`super::scripts`]), so every change costs one round trip and a crash between two
//! commands cannot leave half a job.

use std::collections::HashMap;

use ::redis::AsyncCommands;

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
    pub idempotency_key: Option<&'a str>,
    pub submitted_ms: u64,
    /// The most unfinished jobs this tenant may have (0 = no cap).
    pub max_open: u64,
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
        super::ensure_group(&self.conn, &self.keys.jobs_stream(), Keys::GROUP).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = ::redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Accepts a job: one script that checks the idempotency key and the caps, appends the
    /// stream entry and writes the record.
    pub async fn submit(
        &self,
        job: &NewJob<'_>,
        max_backlog: u64,
    ) -> Result<Submitted, StoreError> {
        let deadline_ms = job.submitted_ms + job.request.deadline_ms;
        let ttl_ms = job.request.deadline_ms + self.retention.result_ttl_ms;
        let mut inv = scripts().submit.prepare_invoke();
        inv.key(self.keys.job(job.id))
            .key(self.keys.jobs_stream())
            .key(self.keys.records_stream())
            .key(self.keys.tenant_open_jobs(job.tenant));
        if let Some(key) = job.idempotency_key {
            inv.key(self.keys.idempotency(job.tenant, key));
        }
        inv.arg(job.id)
            .arg(job.tenant)
            .arg(job.request_id)
            .arg(job.request.canonical_json())
            .arg(if job.idempotency_key.is_some() {
                job.request.fingerprint()
            } else {
                String::new()
            })
            .arg(job.submitted_ms)
            .arg(deadline_ms)
            .arg(ttl_ms)
            .arg(max_backlog)
            .arg(job.idempotency_key.unwrap_or(""))
            .arg(self.recording.flag())
            .arg(job.max_open);
        let mut conn = self.conn.clone();
        Ok(Submitted::decode(inv.invoke_async(&mut conn).await?)?)
    }

    /// Reads a job record, or `None` when there is no such job for this tenant.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = conn.hgetall(self.keys.job(id)).await?;
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
        let mut conn = self.conn.clone();
        let reply = scripts()
            .cancel
            .key(self.keys.job(id))
            .key(self.keys.records_stream())
            .key(self.keys.tenant_open_jobs(tenant))
            .arg(tenant)
            .arg(now_ms)
            .arg(self.retention.result_ttl_ms)
            .arg(self.keys.done_channel())
            .arg(id)
            .arg(json(&outcome))
            .arg(self.recording.flag())
            .invoke_async(&mut conn)
            .await?;
        Ok(Cancelled::decode(reply)?)
    }

    /// Starts a batch of delivered entries in one round trip.
    pub async fn start_batch(
        &self,
        entries: &[Delivered<'_>],
        consumer: &str,
        now_ms: u64,
    ) -> Result<Vec<Started>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let expired = Outcome::detail("the deadline passed before a worker could start the job");
        let mut inv = scripts().start.prepare_invoke();
        inv.key(self.keys.jobs_stream())
            .key(self.keys.records_stream());
        for e in entries {
            inv.key(self.keys.job(e.job_id))
                .key(self.keys.tenant_open_jobs(e.tenant));
        }
        inv.arg(Keys::GROUP)
            .arg(now_ms)
            .arg(consumer)
            .arg(self.retention.result_ttl_ms)
            .arg(self.keys.done_channel())
            .arg(json(&expired))
            .arg(self.recording.flag());
        for e in entries {
            inv.arg(e.entry_id);
        }
        let mut conn = self.conn.clone();
        Ok(Started::decode(
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

    /// Completes several jobs in one round trip (one script); each is still written once.
    pub async fn complete_many(
        &self,
        jobs: &[Completion<'_>],
        now_ms: u64,
    ) -> Result<Vec<Completed>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = scripts().complete.prepare_invoke();
        inv.key(self.keys.jobs_stream())
            .key(self.keys.records_stream());
        for c in jobs {
            inv.key(self.keys.job(c.job.job_id))
                .key(self.keys.tenant_open_jobs(c.job.tenant));
        }
        inv.arg(Keys::GROUP)
            .arg(now_ms)
            .arg(self.retention.result_ttl_ms)
            .arg(self.keys.done_channel())
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
