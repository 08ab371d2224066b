//! The job record's shape in Redis: one table of field names, and one decoder per shape that
//! every reader uses.
//!
//! | shape | where | fields |
//! | --- | --- | --- |
//! | job hash | `{p}:job:<id>` | every field below but `event`, `reason`, `at`, `by` (`tc` only when the job is traced) |
//! | queue entry | `{p}:jobs` | `id tenant`: it names the job, which is stored once, in its hash |
//! | dead letter | `{p}:dead` | `id tenant rid sub dl req att hist reason at by eid idem` |
//! | records event | `{p}:records` | `ev` (`accepted` or `finished`) and the whole job hash |
//!
//! The Lua scripts never spell a field: they write `F.state`, `F.tenant`…, and
//! [`crate::redis::scripts`] substitutes the names below when it loads them, so a field is named
//! in exactly one place.
//!
//! This module owns the field table, the job hash and API key records; `entries.rs` the queue
//! entry and dead letter, `records_event.rs` the records stream's event, `done.rs` the
//! completion message.

use std::collections::HashMap;

use crate::codes::Code;
use crate::job::{JobRecord, JobState};

mod done;
mod entries;
mod records_event;

pub use done::{DoneMessage, decode_job as decode_done_job};
pub use entries::{DeadLetter, Delivery, QueueEntry};
pub use records_event::RecordEvent;

macro_rules! fields {
    ($($(#[$doc:meta])* $konst:ident = $lua:ident : $wire:literal,)*) => {
        /// Field names, as Redis stores them.
        pub mod f {
            $( $(#[$doc])* pub const $konst: &str = $wire; )*
        }
        /// Every field as `(name in the Lua sources, name in Redis)`.
        pub const FIELDS: &[(&str, &str)] = &[ $( (stringify!($lua), $wire) ),* ];
    };
}

fields! {
    /// The job id (a UUID v7).
    ID = id: "id",
    /// The tenant the job belongs to.
    TENANT = tenant: "tenant",
    /// The request id (`X-Request-Id`).
    REQUEST_ID = request_id: "rid",
    /// The Idempotency-Key as sent (`""` without one).
    IDEMPOTENCY_KEY = idem: "idem",
    /// The validated request, canonical JSON.
    REQUEST = request: "req",
    /// The job's state (`queued`, `running`, …).
    STATE = state: "state",
    /// The job's code (`JOB_QUEUED`, `ROUTE_OK`, …).
    CODE = code: "code",
    /// Submitted at, epoch ms.
    SUBMITTED = submitted: "sub",
    /// The client's deadline, epoch ms.
    DEADLINE = deadline: "dl",
    /// Started at (the first delivery a worker started), epoch ms.
    STARTED = started: "st",
    /// Finished at, epoch ms.
    FINISHED = finished: "fin",
    /// Deliveries started so far.
    ATTEMPTS = attempts: "att",
    /// The consumer that took the job last.
    WORKER = worker: "wrk",
    /// The job's entry id on the jobs stream.
    ENTRY = entry: "eid",
    /// The outcome, JSON ([`Outcome`]).
    OUTCOME = outcome: "out",
    /// The deliveries, a JSON list of `{n, w, t}` (and `e` in a dead letter).
    HISTORY = history: "hist",
    /// While the job waits in the dead-letter stream: that entry's id.
    DEAD_LETTER = dead: "dlq",
    /// Records events: `accepted` or `finished`.
    EVENT = event: "ev",
    /// Dead letters: why the job was parked.
    REASON = reason: "reason",
    /// Dead letters: parked at, epoch ms.
    PARKED_AT = at: "at",
    /// Dead letters: the consumer that parked it.
    PARKED_BY = by: "by",
    /// The webhook endpoints that hear of the job's end: absent or `""` none, `*` every endpoint
    /// of the tenant, otherwise endpoint ids separated by commas.
    WEBHOOKS = webhooks: "wh",
    /// `1` when the submitter waits for the job (`Prefer: wait`): its completion message carries
    /// the job (absent otherwise).
    WAIT = wait: "wt",
    /// Traced jobs: the gateway span's W3C trace context, `traceparent[ tracestate]` (absent when
    /// the gateway does not export traces); `start.lua` hands it to the worker.
    TRACE = trace: "tc",
}

/// The two events of the records stream.
pub mod event {
    pub const ACCEPTED: &str = "accepted";
    pub const FINISHED: &str = "finished";
}

/// Field names of an API key's record (`{p}:apikey:<sha256(key)>`).
pub mod key_f {
    pub const ID: &str = "id";
    pub const TENANT: &str = "tenant";
    pub const RATE: &str = "rate";
    pub const MAX_QUEUED: &str = "max_queued";
    pub const CREATED: &str = "created";
}

/// An API key as stored: never the key itself, only who it is for and its limits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub tenant: String,
    /// Requests per second (0 = the gateway's default).
    pub rate_per_s: u64,
    /// Unfinished jobs at once (0 = the gateway's default).
    pub max_queued: u64,
    pub created_ms: u64,
}

impl ApiKeyRecord {
    pub fn encode(&self) -> Vec<(&'static str, String)> {
        vec![
            (key_f::ID, self.id.clone()),
            (key_f::TENANT, self.tenant.clone()),
            (key_f::RATE, self.rate_per_s.to_string()),
            (key_f::MAX_QUEUED, self.max_queued.to_string()),
            (key_f::CREATED, self.created_ms.to_string()),
        ]
    }

    pub fn decode(fields: &HashMap<String, String>) -> Option<ApiKeyRecord> {
        Some(ApiKeyRecord {
            id: fields.get(key_f::ID)?.clone(),
            tenant: fields.get(key_f::TENANT)?.clone(),
            rate_per_s: number(fields, key_f::RATE),
            max_queued: number(fields, key_f::MAX_QUEUED),
            created_ms: number(fields, key_f::CREATED),
        })
    }
}

/// A stream entry's fields as text (values that are not text are left out).
pub fn entry_fields(map: &HashMap<String, ::redis::Value>) -> HashMap<String, String> {
    map.iter()
        .filter_map(|(k, v)| {
            ::redis::from_redis_value_ref::<String>(v)
                .ok()
                .map(|v| (k.clone(), v))
        })
        .collect()
}

fn text(fields: &HashMap<String, String>, k: &str) -> String {
    fields.get(k).cloned().unwrap_or_default()
}

fn number(fields: &HashMap<String, String>, k: &str) -> u64 {
    fields.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl JobRecord {
    /// Decodes a job hash; `None` when it is empty or not a job record.
    pub fn decode(fields: &HashMap<String, String>) -> Option<JobRecord> {
        Some(JobRecord {
            id: fields.get(f::ID)?.clone(),
            tenant: fields.get(f::TENANT)?.clone(),
            request_id: text(fields, f::REQUEST_ID),
            request_json: text(fields, f::REQUEST),
            state: JobState::parse(fields.get(f::STATE)?)?,
            code: Code::parse(fields.get(f::CODE)?)?,
            submitted_ms: number(fields, f::SUBMITTED),
            deadline_ms: number(fields, f::DEADLINE),
            started_ms: number(fields, f::STARTED),
            finished_ms: number(fields, f::FINISHED),
            attempts: u32::try_from(number(fields, f::ATTEMPTS)).unwrap_or(u32::MAX),
            outcome: fields
                .get(f::OUTCOME)
                .and_then(|o| serde_json::from_str(o).ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_one_name_and_one_lua_name() {
        let mut wire: Vec<_> = FIELDS.iter().map(|(_, w)| *w).collect();
        let mut lua: Vec<_> = FIELDS.iter().map(|(l, _)| *l).collect();
        wire.sort_unstable();
        lua.sort_unstable();
        let n = FIELDS.len();
        wire.dedup();
        lua.dedup();
        assert_eq!(
            (wire.len(), lua.len()),
            (n, n),
            "a field name is used twice"
        );
    }

    #[test]
    fn a_job_hash_decodes_and_an_empty_one_is_no_job() {
        let mut h: HashMap<String, String> = [
            (f::ID, "j1"),
            (f::TENANT, "acme"),
            (f::STATE, "running"),
            (f::CODE, "JOB_RUNNING"),
            (f::SUBMITTED, "10"),
            (f::ATTEMPTS, "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = JobRecord::decode(&h).expect("a job");
        assert_eq!(
            (r.state, r.code, r.attempts),
            (JobState::Running, Code::JobRunning, 2)
        );
        assert_eq!(r.submitted_ms, 10);
        h.insert(f::STATE.to_string(), "bogus".into());
        assert!(JobRecord::decode(&h).is_none());
        assert!(JobRecord::decode(&HashMap::new()).is_none());
    }
}
