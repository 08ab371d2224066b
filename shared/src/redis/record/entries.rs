//! The stream shapes a worker and an operator read: a queue entry (and the delivery it names),
//! a dead letter.

use std::collections::HashMap;

use super::{entry_fields, f, number, text};
use crate::job::RouteRequest;

/// A job's entry on the jobs stream, as a worker reads it: the entry names the job (id and
/// tenant); the rest is the job as submitted, which `start.lua` hands over from the hash when it
/// starts the job ([`QueueEntry::started`]): the job is stored once.
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

    /// Decodes a delivered entry; `None` when it is not a job at all. Until the job is started,
    /// only its id and tenant are known.
    pub fn decode(entry: &::redis::streams::StreamId) -> Option<QueueEntry> {
        let fields = entry_fields(&entry.map);
        Some(QueueEntry {
            entry_id: entry.id.clone(),
            job_id: fields.get(f::ID)?.clone(),
            tenant: text(&fields, f::TENANT),
            request_id: String::new(),
            submitted_ms: 0,
            deadline_ms: 0,
            trace: String::new(),
            request: Err("the job was not started".to_string()),
        })
    }

    /// The job as `start.lua` handed it over from its hash.
    pub fn started(&mut self, job: crate::redis::scripts::JobStart) {
        self.request = serde_json::from_str(&job.request).map_err(|e| e.to_string());
        self.request_id = job.request_id;
        self.submitted_ms = job.submitted_ms;
        self.deadline_ms = job.deadline_ms;
        self.trace = job.trace;
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
