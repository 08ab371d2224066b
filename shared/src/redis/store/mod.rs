//! A job's state changes in Redis: submit, read, cancel, start, complete. Each change is one
//! script ([`super::scripts`]), so every change costs one round trip and a crash between two
//! commands cannot leave half a job.
//!
//! This module owns the job store, its arguments and reading and cancelling a job;
//! `submit.rs` accepting one, `run.rs` what a worker does: start a batch, complete jobs.

use std::collections::HashMap;

use ::redis::AsyncCommands;

use super::connect::Conn;
use super::keys::Keys;
use super::outbox::Recording;
use super::scripts::{Cancelled, ReplyError, scripts};
use crate::codes::Code;
use crate::job::{JobRecord, JobState, Outcome, RouteRequest};

mod run;
mod submit;
pub use submit::SubmitCall;

/// Why a store operation failed: Redis is unreachable, slow, or answered something unexpected.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// separated by commas; [`NewJob::ALL_IF_ANY`]: all of the tenant's if it has any); see
    /// [`crate::redis::record::f::WEBHOOKS`].
    pub webhooks: &'a str,
    /// The W3C trace context the worker continues (`""`: not traced; see `record::f::TRACE`).
    pub trace: &'a str,
    /// Whether the submitter waits for the job (`Prefer: wait`): its completion message then
    /// carries the job, so the waiting gateway needs no read ([`crate::redis::record::f::WAIT`]).
    pub wait: bool,
}

impl NewJob<'_> {
    /// `webhooks`: every endpoint of the tenant if it has any, judged when the job is stored
    /// (in the submit script itself when the tenant's endpoints share the job's slot: no round
    /// trip of its own).
    pub const ALL_IF_ANY: &'static str = "?";
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
}
