//! One delivery of one event to one endpoint, as it waits in `{p}:notify:due` (a JSON member).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use routeq_shared::job::{JobRecord, JobState};
use routeq_shared::redis::record::f;
use serde::{Deserialize, Serialize};

/// A delivery. The member of the due set is its JSON text, so every field that changes (the
/// attempts) makes a new member; the event id, type, time and body never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The event id (`webhook-id`): `msg_<job id>`, the same on every attempt and endpoint.
    #[serde(rename = "e")]
    pub event_id: String,
    #[serde(rename = "j")]
    pub job_id: String,
    #[serde(rename = "t")]
    pub tenant: String,
    #[serde(rename = "ep")]
    pub endpoint: String,
    /// `route.succeeded` or `route.failed`.
    #[serde(rename = "ty")]
    pub event_type: String,
    /// When the job ended (the schedule's horizon starts here), epoch ms; a replay restarts it.
    #[serde(rename = "c")]
    pub created_ms: u64,
    /// Attempts made so far.
    #[serde(rename = "n")]
    pub attempts: u32,
    /// The job as `GET /v1/routes/{id}` shows it.
    #[serde(rename = "b")]
    pub body: String,
}

impl Task {
    pub fn member(&self) -> String {
        // Plain strings and numbers: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(member: &str) -> Option<Task> {
        serde_json::from_str(member).ok()
    }

    pub fn created_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.created_ms)
    }
}

/// The event of a finished job, read from its outbox entry: id, type, time, body, tenant and
/// the endpoints it names (`*` or ids).
#[derive(Debug, Clone)]
pub struct Finished {
    pub event_id: String,
    pub job_id: String,
    pub tenant: String,
    pub event_type: &'static str,
    pub finished_ms: u64,
    pub body: String,
    pub webhooks: String,
}

/// The event type of a job's terminal state.
pub fn event_type(state: JobState) -> &'static str {
    match state {
        JobState::Succeeded => "route.succeeded",
        _ => "route.failed",
    }
}

impl Finished {
    /// Decodes an outbox entry (the whole job hash); `None` when it is not a finished job.
    pub fn decode(fields: &HashMap<String, String>) -> Option<Finished> {
        let record = JobRecord::decode(fields)?;
        if !record.state.is_terminal() {
            return None;
        }
        let body = serde_json::to_string(&record.view()).ok()?;
        Some(Finished {
            event_id: format!("msg_{}", record.id),
            job_id: record.id.clone(),
            tenant: record.tenant.clone(),
            event_type: event_type(record.state),
            finished_ms: record.finished_ms,
            body,
            webhooks: fields.get(f::WEBHOOKS).cloned().unwrap_or_default(),
        })
    }

    pub fn task(&self, endpoint: &str) -> Task {
        Task {
            event_id: self.event_id.clone(),
            job_id: self.job_id.clone(),
            tenant: self.tenant.clone(),
            endpoint: endpoint.to_string(),
            event_type: self.event_type.to_string(),
            created_ms: self.finished_ms,
            attempts: 0,
            body: self.body.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_round_trips_and_changes_with_attempts() {
        let t = Task {
            event_id: "msg_1".into(),
            job_id: "1".into(),
            tenant: "t".into(),
            endpoint: "ep_1".into(),
            event_type: "route.succeeded".into(),
            created_ms: 5,
            attempts: 0,
            body: "{\"id\":\"1\"}".into(),
        };
        assert_eq!(Task::parse(&t.member()), Some(t.clone()));
        let mut again = t.clone();
        again.attempts = 1;
        assert_ne!(again.member(), t.member());
        assert_eq!(event_type(JobState::Succeeded), "route.succeeded");
        assert_eq!(event_type(JobState::Fallback), "route.failed");
        assert_eq!(event_type(JobState::Expired), "route.failed");
    }
}
