//! A job's life and the body clients read.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339_ms;
use crate::codes::Code;
use crate::job::{Outcome, Timings};

/// The life of a job: `queued → running → succeeded | fallback | failed | expired | cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Fallback,
    Failed,
    Expired,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Fallback => "fallback",
            JobState::Failed => "failed",
            JobState::Expired => "expired",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "fallback" => JobState::Fallback,
            "failed" => JobState::Failed,
            "expired" => JobState::Expired,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// The job as clients read it. Every key is always present: an absent text is `""`, an absent
/// object `{}`, an absent list `[]`. For outcomes answered with 4xx/5xx this body is also a valid
/// RFC 9457 problem (`type`, `title`, `status`, `detail`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: Code,
    pub request_id: String,
    pub id: String,
    pub state: JobState,
    /// True once the job has ended (any state but `queued` and `running`): the answer will not
    /// change, whatever its status; polling again is pointless. Also sent as `Job-Final`.
    #[serde(rename = "final", default)]
    #[schema(required = true)]
    pub is_final: bool,
    pub submitted_at: String,
    pub deadline_at: String,
    pub started_at: String,
    pub finished_at: String,
    pub attempts: u32,
    /// The request as the gateway accepted it, every default filled in.
    #[schema(value_type = crate::job::RouteRequest)]
    pub request: serde_json::Value,
    /// The route when the job succeeded, `{}` otherwise.
    #[schema(schema_with = route_or_empty)]
    pub result: serde_json::Value,
    /// An estimate attached to a `fallback` job (answered 502/503/504), `{}` when there is none.
    #[schema(schema_with = estimate_or_empty)]
    pub fallback: serde_json::Value,
    pub timings: Timings,
    pub errors: Vec<crate::problem::FieldError>,
}

fn route_or_empty() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::Schema::OneOf(
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name("RouteResult"))
            .item(utoipa::openapi::Ref::from_schema_name("Empty"))
            .build(),
    )
}

fn estimate_or_empty() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::Schema::OneOf(
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name("FallbackEstimate"))
            .item(utoipa::openapi::Ref::from_schema_name("Empty"))
            .build(),
    )
}

/// A job as routeq keeps it (the Redis hash, or the PostgreSQL row once Redis forgot it).
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
            is_final: self.state.is_terminal(),
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
