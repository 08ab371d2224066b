//! The records stream's event (`accepted` or `finished` with the whole job hash): its encoder
//! for the outbox and its decoder for the recorder.

use std::collections::HashMap;

use super::{event, f, number, text};

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
}
