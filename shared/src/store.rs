//! Job state changes in Redis. Each change is one Lua script (see `lua/`), invoked with EVALSHA
//! (EVAL on a script cache miss), so every state change costs one round trip and a crash between
//! two commands cannot leave half a job.

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use crate::codes::Code;
use crate::job::{JobState, JobView, Outcome, RouteRequest, Timings, rfc3339_ms};
use crate::keys::Keys;

/// Why a store operation failed: Redis is unreachable, slow, or answered something unexpected.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected reply from a script: {0}")]
    Protocol(String),
}

struct Scripts {
    submit: Script,
    start: Script,
    complete: Script,
    cancel: Script,
}

impl Scripts {
    fn load() -> Scripts {
        Scripts {
            submit: Script::new(include_str!("lua/submit.lua")),
            start: Script::new(include_str!("lua/start.lua")),
            complete: Script::new(include_str!("lua/complete.lua")),
            cancel: Script::new(include_str!("lua/cancel.lua")),
        }
    }
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

/// What happened to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Created(String),
    /// The Idempotency-Key was seen with the same request: this is the original job.
    Replayed(String),
    /// The Idempotency-Key was seen with a different request.
    KeyReused(String),
    /// The backlog is at its cap.
    Saturated(u64),
    /// The tenant already has its cap of unfinished jobs (the count).
    TenantFull(u64),
}

/// What a cancellation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    Cancelled,
    NotCancellable(JobState),
    NotFound,
}

/// What a worker's start did to one delivered entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Running; the number is the delivery count.
    Running(u32),
    /// Already ended elsewhere (or cancelled): acknowledged, nothing to do.
    AlreadyEnded,
    /// The record expired: acknowledged, nothing to do.
    Gone,
    /// Its deadline had passed: stored as expired, nothing to do.
    Expired,
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

/// What a completion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completed {
    Stored,
    /// The job had already ended (a redelivered duplicate): nothing changed.
    Duplicate,
    Gone,
}

/// Lifetimes the store applies.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// How long a finished job stays readable in Redis, in ms.
    pub result_ttl_ms: u64,
    /// Whether state changes append to the records stream (the outbox a recorder drains into
    /// PostgreSQL). Off only where no recorder runs: nothing else trims that stream.
    pub record: bool,
}

/// When state changes are appended to the records stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordsMode {
    /// Once a recorder exists (the `recorders` group on the records stream); until then nothing
    /// is appended, so a fleet run without PostgreSQL does not grow Redis without bound. Once a
    /// recorder has run, records keep flowing while it is down and drain when it is back.
    Auto,
    /// Always.
    #[value(alias = "true")]
    On,
    /// Never (no durable record).
    #[value(alias = "false")]
    Off,
}

/// The job store: the command connection, the key space and the scripts.
#[derive(Clone)]
pub struct JobStore {
    conn: ConnectionManager,
    keys: Keys,
    retention: Retention,
    /// Whether scripts append to the records stream now (see [`RecordsMode`]).
    recording: std::sync::Arc<std::sync::atomic::AtomicBool>,
    scripts: std::sync::Arc<Scripts>,
}

impl std::fmt::Debug for JobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobStore")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl JobStore {
    pub fn new(conn: ConnectionManager, keys: Keys, retention: Retention) -> JobStore {
        JobStore {
            conn,
            keys,
            retention,
            recording: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(retention.record)),
            scripts: std::sync::Arc::new(Scripts::load()),
        }
    }

    fn record_flag(&self) -> &'static str {
        if self.recording.load(std::sync::atomic::Ordering::Relaxed) {
            "1"
        } else {
            "0"
        }
    }

    /// For [`RecordsMode::Auto`]: checks every 2 s until a recorder exists, then records.
    pub async fn watch_recorders(&self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            match self.refresh_recording().await {
                Ok(true) => {
                    tracing::info!("a recorder exists: appending job records");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "cannot check for a recorder yet"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            }
        }
    }

    /// Creates the recorders' group (a recorder is about to run in this process) and records.
    pub async fn ensure_recorders_group(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let res: redis::RedisResult<()> = conn
            .xgroup_create_mkstream(self.keys.records_stream(), Keys::RECORDERS, "0")
            .await;
        match res {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(e.into()),
        }
        self.recording
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Whether records are appended now.
    pub fn is_recording(&self) -> bool {
        self.recording.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// For [`RecordsMode::Auto`]: turns recording on once a recorder group exists on the records
    /// stream. Returns whether records are appended now.
    pub async fn refresh_recording(&self) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let groups: redis::RedisResult<Vec<HashMap<String, redis::Value>>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(self.keys.records_stream())
            .query_async(&mut conn)
            .await;
        let present = match groups {
            Ok(groups) => groups.iter().any(|g| {
                g.get("name")
                    .and_then(|n| redis::from_redis_value_ref::<String>(n).ok())
                    .is_some_and(|n| n == Keys::RECORDERS)
            }),
            // No stream yet: no recorder has ever run.
            Err(e) if e.to_string().contains("no such key") => false,
            Err(e) => return Err(e.into()),
        };
        if present {
            self.recording
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(self.is_recording())
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Creates the workers' consumer group if it does not exist (reading from the start of the
    /// stream, so jobs submitted before any worker ever ran are not skipped).
    pub async fn ensure_group(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let res: redis::RedisResult<()> = conn
            .xgroup_create_mkstream(self.keys.jobs_stream(), Keys::GROUP, "0")
            .await;
        match res {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Records written by the fleet and not yet in PostgreSQL (the recorder deletes what it
    /// committed, so the stream's length is the backlog).
    pub async fn records_backlog(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.xlen(self.keys.records_stream()).await?)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Accepts a job: one script that checks the idempotency key and the backlog cap, appends the
    /// stream entry and writes the record.
    pub async fn submit(
        &self,
        job: &NewJob<'_>,
        max_backlog: u64,
    ) -> Result<Submitted, StoreError> {
        let deadline_ms = job.submitted_ms + job.request.deadline_ms;
        let ttl_ms = job.request.deadline_ms + self.retention.result_ttl_ms;
        let mut inv = self.scripts.submit.prepare_invoke();
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
            .arg(self.record_flag())
            .arg(job.max_open);
        let mut conn = self.conn.clone();
        let (status, value): (i64, String) = inv.invoke_async(&mut conn).await?;
        Ok(match status {
            1 => Submitted::Created(value),
            0 => Submitted::Replayed(value),
            -1 => Submitted::KeyReused(value),
            -2 => Submitted::Saturated(value.parse().unwrap_or(0)),
            -3 => Submitted::TenantFull(value.parse().unwrap_or(0)),
            other => return Err(StoreError::Protocol(format!("submit returned {other}"))),
        })
    }

    /// Reads a job record, or `None` when there is no such job for this tenant.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = conn.hgetall(self.keys.job(id)).await?;
        let Some(record) = JobRecord::from_fields(&fields) else {
            return Ok(None);
        };
        if record.tenant != tenant {
            return Ok(None);
        }
        Ok(Some(record))
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
        let (status, state): (i64, String) = self
            .scripts
            .cancel
            .key(self.keys.job(id))
            .key(self.keys.records_stream())
            .key(self.keys.tenant_open_jobs(tenant))
            .arg(tenant)
            .arg(now_ms)
            .arg(self.retention.result_ttl_ms)
            .arg(self.keys.done_channel())
            .arg(id)
            .arg(serde_json::to_string(&outcome).unwrap_or_default())
            .arg(self.record_flag())
            .invoke_async(&mut conn)
            .await?;
        Ok(match status {
            1 => Cancelled::Cancelled,
            0 => Cancelled::NotCancellable(
                JobState::parse(&state)
                    .ok_or_else(|| StoreError::Protocol(format!("state {state}")))?,
            ),
            _ => Cancelled::NotFound,
        })
    }

    /// Starts a batch of delivered entries `(job id, entry id)` in one round trip.
    pub async fn start_batch(
        &self,
        entries: &[(&str, &str)],
        consumer: &str,
        now_ms: u64,
    ) -> Result<Vec<Started>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let expired = Outcome::detail("the deadline passed before a worker could start the job");
        let mut inv = self.scripts.start.prepare_invoke();
        inv.key(self.keys.jobs_stream())
            .key(self.keys.records_stream());
        for (job_id, _) in entries {
            inv.key(self.keys.job(job_id));
        }
        inv.arg(Keys::GROUP)
            .arg(now_ms)
            .arg(consumer)
            .arg(self.retention.result_ttl_ms)
            .arg(self.keys.done_channel())
            .arg(serde_json::to_string(&expired).unwrap_or_default())
            .arg(self.record_flag());
        for (_, entry_id) in entries {
            inv.arg(*entry_id);
        }
        let mut conn = self.conn.clone();
        let replies: Vec<i64> = inv.invoke_async(&mut conn).await?;
        if replies.len() != entries.len() {
            return Err(StoreError::Protocol(format!(
                "start returned {} results for {} entries",
                replies.len(),
                entries.len()
            )));
        }
        Ok(replies
            .into_iter()
            .map(|r| match r {
                n if n >= 1 => Started::Running(u32::try_from(n).unwrap_or(u32::MAX)),
                0 => Started::AlreadyEnded,
                -2 => Started::Expired,
                _ => Started::Gone,
            })
            .collect())
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
        let outcome = serde_json::to_string(outcome).unwrap_or_default();
        let done = self
            .complete_many(
                &[Completion {
                    job,
                    state,
                    code,
                    outcome: &outcome,
                }],
                now_ms,
            )
            .await?;
        done.into_iter()
            .next()
            .ok_or_else(|| StoreError::Protocol("complete returned nothing".into()))
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
        let mut inv = self.scripts.complete.prepare_invoke();
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
            .arg(self.record_flag());
        for c in jobs {
            inv.arg(c.job.entry_id)
                .arg(c.job.job_id)
                .arg(c.state.as_str())
                .arg(c.code.as_str())
                .arg(c.outcome);
        }
        let mut conn = self.conn.clone();
        let replies: Vec<i64> = inv.invoke_async(&mut conn).await?;
        if replies.len() != jobs.len() {
            return Err(StoreError::Protocol(format!(
                "complete returned {} results for {} jobs",
                replies.len(),
                jobs.len()
            )));
        }
        Ok(replies
            .into_iter()
            .map(|r| match r {
                1 => Completed::Stored,
                0 => Completed::Duplicate,
                _ => Completed::Gone,
            })
            .collect())
    }
}

/// A job record as stored in its Redis hash.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: String,
    pub tenant: String,
    pub request_id: String,
    pub request_json: String,
    pub state: JobState,
    pub code: Code,
    pub submitted_ms: u64,
    pub deadline_ms: u64,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub attempts: u32,
    pub outcome: Option<Outcome>,
}

impl JobRecord {
    /// Parses a hash; `None` when it is empty or not a job record.
    pub fn from_fields(f: &HashMap<String, String>) -> Option<JobRecord> {
        let num = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Some(JobRecord {
            id: f.get("id")?.clone(),
            tenant: f.get("tenant")?.clone(),
            request_id: f.get("rid").cloned().unwrap_or_default(),
            request_json: f.get("req").cloned().unwrap_or_default(),
            state: JobState::parse(f.get("state")?)?,
            code: Code::parse(f.get("code")?)?,
            submitted_ms: num("sub"),
            deadline_ms: num("dl"),
            started_ms: num("st"),
            finished_ms: num("fin"),
            attempts: u32::try_from(num("att")).unwrap_or(u32::MAX),
            outcome: f.get("out").and_then(|o| serde_json::from_str(o).ok()),
        })
    }

    /// The body clients read. `fallback` is `{}` unless a worker attached an estimate.
    pub fn view(&self) -> JobView {
        let empty = || serde_json::Value::Object(Default::default());
        let (detail, result, fallback, timings) = match &self.outcome {
            Some(o) => (
                o.detail.clone(),
                o.result
                    .as_ref()
                    .and_then(|r| serde_json::to_value(r).ok())
                    .unwrap_or_else(empty),
                o.fallback
                    .as_ref()
                    .and_then(|f| serde_json::to_value(f).ok())
                    .unwrap_or_else(empty),
                o.timings,
            ),
            None => (String::new(), empty(), empty(), Timings::default()),
        };
        JobView {
            type_uri: self.code.type_uri(),
            title: self.code.title().to_string(),
            status: self.code.http_status(),
            detail,
            code: self.code,
            request_id: self.request_id.clone(),
            id: self.id.clone(),
            state: self.state,
            submitted_at: rfc3339_ms(self.submitted_ms),
            deadline_at: rfc3339_ms(self.deadline_ms),
            started_at: rfc3339_ms(self.started_ms),
            finished_at: rfc3339_ms(self.finished_ms),
            attempts: self.attempts,
            request: serde_json::from_str(&self.request_json).unwrap_or_else(|_| empty()),
            result,
            fallback,
            timings,
            errors: Vec::new(),
        }
    }
}
