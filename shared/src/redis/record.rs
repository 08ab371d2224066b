//! The job record's shape in Redis: one table of field names, and one decoder per shape that
//! every reader uses.
//!
//! | shape | where | fields |
//! | --- | --- | --- |
//! | job hash | `{p}:job:<id>` | every field below but `event`, `reason`, `at`, `by` |
//! | queue entry | `{p}:jobs` | `id tenant rid sub dl req` (and `tc` when the job is traced) |
//! | dead letter | `{p}:dead` | `id tenant rid sub dl req att hist reason at by eid idem` |
//! | records event | `{p}:records` | `ev` (`accepted` or `finished`) and the whole job hash |
//!
//! The Lua scripts never spell a field: they write `F.state`, `F.tenant`…, and
//! [`crate::redis::scripts`] substitutes the names below when it loads them, so a field is named
//! in exactly one place.

use std::collections::HashMap;

use crate::codes::Code;
use crate::job::{JobRecord, JobState, RouteRequest};

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
    /// Queue entries of traced jobs: the gateway span's W3C trace context, `traceparent[ tracestate]`
    /// (absent when the gateway does not export traces).
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

/// A job's entry on the jobs stream, as a worker reads it.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub entry_id: String,
    pub job_id: String,
    pub tenant: String,
    pub request_id: String,
    pub submitted_ms: u64,
    pub deadline_ms: u64,
    /// The gateway's trace context (`""`: not traced), see [`f::TRACE`].
    pub trace: String,
    /// The request, or why it could not be read (a poison entry).
    pub request: Result<RouteRequest, String>,
}

impl QueueEntry {
    /// The entry as the store's scripts take it.
    pub fn delivered(&self) -> crate::redis::store::Delivered<'_> {
        crate::redis::store::Delivered {
            tenant: &self.tenant,
            job_id: &self.job_id,
            entry_id: &self.entry_id,
        }
    }

    /// Decodes a delivered entry; `None` when it is not a job at all.
    pub fn decode(entry: &::redis::streams::StreamId) -> Option<QueueEntry> {
        let fields = entry_fields(&entry.map);
        Some(QueueEntry {
            entry_id: entry.id.clone(),
            job_id: fields.get(f::ID)?.clone(),
            tenant: text(&fields, f::TENANT),
            request_id: text(&fields, f::REQUEST_ID),
            submitted_ms: number(&fields, f::SUBMITTED),
            deadline_ms: number(&fields, f::DEADLINE),
            trace: text(&fields, f::TRACE),
            request: serde_json::from_str(&text(&fields, f::REQUEST)).map_err(|e| e.to_string()),
        })
    }
}

/// One delivery of a job, as its history records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// What became of it (dead letters only).
    #[serde(rename = "e", default)]
    pub error: String,
}

/// A dead letter as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    /// Decodes a dead-letter entry; `None` when it names no job.
    pub fn decode(id: &str, fields: &HashMap<String, String>) -> Option<DeadLetter> {
        Some(DeadLetter {
            dead_id: id.to_string(),
            job_id: fields.get(f::ID)?.clone(),
            tenant: text(fields, f::TENANT),
            request_id: text(fields, f::REQUEST_ID),
            request: serde_json::from_str(&text(fields, f::REQUEST))
                .unwrap_or(serde_json::Value::Null),
            submitted_ms: number(fields, f::SUBMITTED),
            deadline_ms: number(fields, f::DEADLINE),
            attempts: number(fields, f::ATTEMPTS),
            reason: text(fields, f::REASON),
            dead_at_ms: number(fields, f::PARKED_AT),
            parked_by: text(fields, f::PARKED_BY),
            history: serde_json::from_str(&text(fields, f::HISTORY)).unwrap_or_default(),
        })
    }
}

/// One event of the records stream: the job hash at that moment.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordEvent {
    pub finished: bool,
    pub id: uuid::Uuid,
    pub tenant: String,
    pub request_id: String,
    pub idempotency_key: String,
    pub request: String,
    pub state: String,
    pub code: String,
    pub outcome: String,
    pub provider: String,
    pub attempts: i32,
    pub worker: String,
    pub submitted_ms: i64,
    pub deadline_ms: i64,
    pub started_ms: i64,
    pub finished_ms: i64,
}

impl RecordEvent {
    /// The entry's fields, as the scripts append them (for tools and tests that fill the
    /// stream without the scripts).
    pub fn encode(&self) -> Vec<(&'static str, String)> {
        let ev = if self.finished {
            event::FINISHED
        } else {
            event::ACCEPTED
        };
        let mut out = vec![
            (f::EVENT, ev.to_string()),
            (f::ID, self.id.to_string()),
            (f::TENANT, self.tenant.clone()),
            (f::REQUEST_ID, self.request_id.clone()),
            (f::IDEMPOTENCY_KEY, self.idempotency_key.clone()),
            (f::REQUEST, self.request.clone()),
            (f::STATE, self.state.clone()),
            (f::CODE, self.code.clone()),
            (f::ATTEMPTS, self.attempts.to_string()),
            (f::WORKER, self.worker.clone()),
            (f::SUBMITTED, self.submitted_ms.to_string()),
            (f::DEADLINE, self.deadline_ms.to_string()),
            (f::STARTED, self.started_ms.to_string()),
        ];
        if self.finished {
            out.push((f::OUTCOME, self.outcome.clone()));
            out.push((f::FINISHED, self.finished_ms.to_string()));
        }
        out
    }

    /// Decodes a records-stream entry; `None` when it is not a job event.
    pub fn decode(fields: &HashMap<String, String>) -> Option<RecordEvent> {
        let signed = |k: &str| i64::try_from(number(fields, k)).unwrap_or(i64::MAX);
        let finished = match fields.get(f::EVENT)?.as_str() {
            event::ACCEPTED => false,
            event::FINISHED => true,
            _ => return None,
        };
        let outcome = text(fields, f::OUTCOME);
        let provider = serde_json::from_str::<serde_json::Value>(&outcome)
            .ok()
            .and_then(|o| {
                o.pointer("/result/provider")
                    .or_else(|| o.pointer("/fallback/provider"))
                    .and_then(|p| p.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        Some(RecordEvent {
            finished,
            id: fields.get(f::ID)?.parse().ok()?,
            tenant: fields.get(f::TENANT)?.clone(),
            request_id: text(fields, f::REQUEST_ID),
            idempotency_key: text(fields, f::IDEMPOTENCY_KEY),
            request: fields.get(f::REQUEST)?.clone(),
            state: fields.get(f::STATE)?.clone(),
            code: fields.get(f::CODE)?.clone(),
            outcome,
            provider,
            attempts: i32::try_from(number(fields, f::ATTEMPTS)).unwrap_or(i32::MAX),
            worker: text(fields, f::WORKER),
            submitted_ms: signed(f::SUBMITTED),
            deadline_ms: signed(f::DEADLINE),
            started_ms: signed(f::STARTED),
            finished_ms: if finished { signed(f::FINISHED) } else { 0 },
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
    fn a_records_event_round_trips() {
        let e = RecordEvent {
            finished: true,
            id: uuid::Uuid::now_v7(),
            tenant: "acme".into(),
            request_id: "r1".into(),
            idempotency_key: "k".into(),
            request: "{}".into(),
            state: "succeeded".into(),
            code: "ROUTE_OK".into(),
            outcome: r#"{"detail":"","result":{"provider":"osrm"}}"#.into(),
            provider: "osrm".into(),
            attempts: 2,
            worker: "w".into(),
            submitted_ms: 1,
            deadline_ms: 2,
            started_ms: 3,
            finished_ms: 4,
        };
        let fields = e
            .encode()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(RecordEvent::decode(&fields), Some(e));
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
