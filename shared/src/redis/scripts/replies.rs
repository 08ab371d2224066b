//! One typed decoder of each script's reply; every reply code is named.

use crate::job::JobState;

/// Why a script's reply could not be decoded: a reply code this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected reply from {script}.lua: {reply}")]
pub struct ReplyError {
    pub script: &'static str,
    pub reply: String,
}

fn unexpected(script: &'static str, reply: impl std::fmt::Debug) -> ReplyError {
    ReplyError {
        script,
        reply: format!("{reply:?}"),
    }
}

/// `submit.lua`: what happened to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Created(String),
    /// The Idempotency-Key was seen with the same request: this is the original job.
    Replayed(String),
    /// The Idempotency-Key was seen with a different request.
    KeyReused(String),
    /// The backlog is at its cap (the stream's length).
    Saturated(u64),
    /// The tenant already has its cap of unfinished jobs (the count).
    TenantFull(u64),
}

impl Submitted {
    pub const CREATED: i64 = 1;
    pub const REPLAYED: i64 = 0;
    pub const KEY_REUSED: i64 = -1;
    pub const SATURATED: i64 = -2;
    pub const TENANT_FULL: i64 = -3;

    pub fn decode((status, value): (i64, String)) -> Result<Submitted, ReplyError> {
        let count = |v: &str| v.parse().map_err(|_| unexpected("submit", (status, v)));
        Ok(match status {
            Self::CREATED => Submitted::Created(value),
            Self::REPLAYED => Submitted::Replayed(value),
            Self::KEY_REUSED => Submitted::KeyReused(value),
            Self::SATURATED => Submitted::Saturated(count(&value)?),
            Self::TENANT_FULL => Submitted::TenantFull(count(&value)?),
            _ => return Err(unexpected("submit", (status, value))),
        })
    }
}

/// `start.lua`: what a worker's start did to one delivered entry.
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

/// What `start.lua` hands a worker with a job it started: the job as submitted, stored once in
/// its hash (the stream entry only names it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStart {
    pub request_id: String,
    pub submitted_ms: u64,
    pub deadline_ms: u64,
    /// The request, canonical JSON (decoded by the worker: a request that does not decode is a
    /// poison job).
    pub request: String,
    /// The gateway's trace context (`""`: not traced).
    pub trace: String,
}

/// `start.lua` for one batch: each entry's status, the started jobs' submissions (the same
/// order; `None` for the others), and Redis' clock (ms) when the script ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartedBatch {
    pub statuses: Vec<Started>,
    pub jobs: Vec<Option<JobStart>>,
    /// The request id of each expired job (`""` for the others), for its log line.
    pub request_ids: Vec<String>,
    pub now_ms: u64,
}

impl Started {
    pub const ALREADY_ENDED: i64 = 0;
    pub const GONE: i64 = -1;
    pub const EXPIRED: i64 = -2;

    /// The reply of one `start.lua` call over `entries` entries.
    pub fn decode_batch(
        mut replies: Vec<::redis::Value>,
        entries: usize,
    ) -> Result<StartedBatch, ReplyError> {
        use ::redis::Value;
        let bad = |r: &dyn std::fmt::Debug| unexpected("start", r);
        if replies.len() != entries + 1 {
            return Err(bad(&(entries, replies.len())));
        }
        let now_ms = match replies.pop() {
            Some(Value::Int(n)) => u64::try_from(n).unwrap_or(0),
            other => return Err(bad(&other)),
        };
        let text = |v: &Value| ::redis::from_redis_value_ref::<String>(v).map_err(|_| bad(v));
        let number = |v: &Value| -> Result<u64, ReplyError> {
            match v {
                Value::Int(n) => Ok(u64::try_from(*n).unwrap_or(0)),
                other => Ok(text(other)?.parse().unwrap_or(0)),
            }
        };
        let mut out = StartedBatch {
            statuses: Vec::with_capacity(entries),
            jobs: Vec::with_capacity(entries),
            request_ids: Vec::with_capacity(entries),
            now_ms,
        };
        for r in replies {
            let (status, job, rid) = match &r {
                Value::Int(Self::ALREADY_ENDED) => (Started::AlreadyEnded, None, String::new()),
                Value::Int(Self::GONE) => (Started::Gone, None, String::new()),
                Value::Array(a) => match a.as_slice() {
                    [Value::Int(Self::EXPIRED), rid] => (Started::Expired, None, text(rid)?),
                    [Value::Int(n), rid, sub, dl, req, tc] if *n >= 1 => {
                        let job = JobStart {
                            request_id: text(rid)?,
                            submitted_ms: number(sub)?,
                            deadline_ms: number(dl)?,
                            request: text(req)?,
                            trace: text(tc)?,
                        };
                        let rid = job.request_id.clone();
                        let n = u32::try_from(*n).unwrap_or(u32::MAX);
                        (Started::Running(n), Some(job), rid)
                    }
                    _ => return Err(bad(&r)),
                },
                _ => return Err(bad(&r)),
            };
            out.statuses.push(status);
            out.jobs.push(job);
            out.request_ids.push(rid);
        }
        Ok(out)
    }
}

/// `complete.lua`: what a completion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completed {
    Stored,
    /// The job had already ended (a redelivered duplicate): nothing changed.
    Duplicate,
    /// The record is gone (its TTL passed).
    Gone,
}

impl Completed {
    pub const STORED: i64 = 1;
    pub const DUPLICATE: i64 = 0;
    pub const GONE: i64 = -1;

    pub fn decode(replies: Vec<i64>, jobs: usize) -> Result<Vec<Completed>, ReplyError> {
        if replies.len() != jobs {
            return Err(unexpected("complete", (jobs, replies)));
        }
        replies
            .into_iter()
            .map(|r| match r {
                Self::STORED => Ok(Completed::Stored),
                Self::DUPLICATE => Ok(Completed::Duplicate),
                Self::GONE => Ok(Completed::Gone),
                other => Err(unexpected("complete", other)),
            })
            .collect()
    }
}

/// `cancel.lua`: what a cancellation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    Cancelled,
    NotCancellable(JobState),
    NotFound,
}

impl Cancelled {
    pub const CANCELLED: i64 = 1;
    pub const NOT_CANCELLABLE: i64 = 0;
    pub const NOT_FOUND: i64 = -1;

    pub fn decode((status, state): (i64, String)) -> Result<Cancelled, ReplyError> {
        match status {
            Self::CANCELLED => Ok(Cancelled::Cancelled),
            Self::NOT_CANCELLABLE => JobState::parse(&state)
                .map(Cancelled::NotCancellable)
                .ok_or_else(|| unexpected("cancel", (status, state))),
            Self::NOT_FOUND => Ok(Cancelled::NotFound),
            _ => Err(unexpected("cancel", (status, state))),
        }
    }
}

/// `dead_letter.lua`: what parking a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parked {
    Parked { dead_id: String },
    AlreadyEnded,
    Gone,
}

impl Parked {
    pub const PARKED: i64 = 1;
    pub const ALREADY_ENDED: i64 = 0;
    pub const GONE: i64 = -1;

    pub fn decode((status, value): (i64, String)) -> Result<Parked, ReplyError> {
        match status {
            Self::PARKED => Ok(Parked::Parked { dead_id: value }),
            Self::ALREADY_ENDED => Ok(Parked::AlreadyEnded),
            Self::GONE => Ok(Parked::Gone),
            _ => Err(unexpected("dead_letter", (status, value))),
        }
    }
}

/// `dead_replay.lua`: what a replay did.
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

impl Replayed {
    pub const QUEUED: i64 = 1;
    pub const ALREADY_ENDED: i64 = 0;
    pub const NOT_FOUND: i64 = -1;

    pub fn decode(job_id: &str, (status, value): (i64, String)) -> Result<Replayed, ReplyError> {
        let job_id = job_id.to_string();
        match status {
            Self::QUEUED => Ok(Replayed::Queued { job_id }),
            Self::ALREADY_ENDED => Ok(Replayed::AlreadyEnded {
                job_id,
                state: value,
            }),
            Self::NOT_FOUND => Ok(Replayed::NotFound),
            _ => Err(unexpected("dead_replay", (status, value))),
        }
    }
}

/// `dead_purge.lua`: what a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purged {
    /// Deleted, and the parked job ended `failed`.
    JobEnded,
    /// Deleted; the job had ended or was gone.
    Deleted,
    NotFound,
}

impl Purged {
    pub const JOB_ENDED: i64 = 1;
    pub const DELETED: i64 = 0;
    pub const NOT_FOUND: i64 = -1;

    pub fn decode(status: i64) -> Result<Purged, ReplyError> {
        match status {
            Self::JOB_ENDED => Ok(Purged::JobEnded),
            Self::DELETED => Ok(Purged::Deleted),
            Self::NOT_FOUND => Ok(Purged::NotFound),
            other => Err(unexpected("dead_purge", other)),
        }
    }
}

/// `rate_limit.lua`: a reserved slot (wait this long, then call) or none within patience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Reserved { wait_us: u64 },
    Refused { wait_us: u64 },
}

impl Slot {
    pub const RESERVED: i64 = 1;
    pub const REFUSED: i64 = 0;

    pub fn decode((status, wait): (i64, i64)) -> Result<Slot, ReplyError> {
        let wait_us = u64::try_from(wait.max(0)).unwrap_or(0);
        match status {
            Self::RESERVED => Ok(Slot::Reserved { wait_us }),
            Self::REFUSED => Ok(Slot::Refused { wait_us }),
            _ => Err(unexpected("rate_limit", (status, wait))),
        }
    }
}

/// `coalesce_claim.lua`: a cached answer, the lease, or someone else's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Cached(String),
    Leader,
    Wait,
}

impl Claim {
    pub const CACHED: i64 = 0;
    pub const LEADER: i64 = 1;
    pub const WAIT: i64 = -1;

    pub fn decode((status, value): (i64, String)) -> Result<Claim, ReplyError> {
        match status {
            Self::CACHED => Ok(Claim::Cached(value)),
            Self::LEADER => Ok(Claim::Leader),
            Self::WAIT => Ok(Claim::Wait),
            _ => Err(unexpected("coalesce_claim", (status, value))),
        }
    }
}
