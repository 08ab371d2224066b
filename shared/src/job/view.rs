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

/// [`JobView`]'s fields borrowed from a record, serialised without building it: the stored
/// request is written as it is (it is canonical JSON already), the outcome's parts directly.
#[derive(Serialize)]
struct ViewOf<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: Code,
    request_id: &'a str,
    id: &'a str,
    state: JobState,
    #[serde(rename = "final")]
    is_final: bool,
    submitted_at: String,
    deadline_at: String,
    started_at: String,
    finished_at: String,
    attempts: u32,
    request: OrEmpty<'a, serde_json::value::RawValue>,
    result: OrEmpty<'a, crate::job::RouteResult>,
    fallback: OrEmpty<'a, crate::job::FallbackEstimate>,
    timings: Timings,
    errors: [(); 0],
}

/// A value, or `{}` when there is none.
struct OrEmpty<'a, T: ?Sized>(Option<&'a T>);

impl<T: Serialize + ?Sized> Serialize for OrEmpty<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(v) => v.serialize(s),
            None => serde::ser::SerializeMap::end(s.serialize_map(Some(0))?),
        }
    }
}

impl JobRecord {
    /// The body clients read ([`JobView`], as JSON), written straight from the record: the same
    /// JSON as serialising [`JobRecord::view`], without the intermediate values.
    pub fn body(&self) -> Result<Vec<u8>, serde_json::Error> {
        let outcome = self.outcome.as_ref();
        let view = ViewOf {
            type_uri: self.code.type_uri(),
            title: self.code.title(),
            status: self.code.http_status(),
            detail: outcome.map_or("", |o| o.detail.as_str()),
            code: self.code,
            request_id: &self.request_id,
            id: &self.id,
            state: self.state,
            is_final: self.state.is_terminal(),
            submitted_at: rfc3339_ms(self.submitted_ms),
            deadline_at: rfc3339_ms(self.deadline_ms),
            started_at: rfc3339_ms(self.started_ms),
            finished_at: rfc3339_ms(self.finished_ms),
            attempts: self.attempts,
            request: OrEmpty(
                serde_json::from_str::<&serde_json::value::RawValue>(&self.request_json).ok(),
            ),
            result: OrEmpty(outcome.and_then(|o| o.result.as_ref())),
            fallback: OrEmpty(outcome.and_then(|o| o.fallback.as_ref())),
            timings: outcome.map(|o| o.timings).unwrap_or_default(),
            errors: [],
        };
        let mut out = Vec::with_capacity(640 + self.request_json.len());
        serde_json::to_writer(&mut out, &view)?;
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{FallbackEstimate, ResolvedStop, RouteResult};

    fn stop() -> ResolvedStop {
        ResolvedStop {
            lat: 37.5,
            lon: 127.0,
            address: "서울 \"중구\"".into(),
            source: "geocoder".into(),
            cached: true,
        }
    }

    /// The body written from the record is the view, whatever the job holds: queued, a route,
    /// a fallback estimate, a failure with only a detail, and a request that is not JSON.
    #[test]
    fn the_body_is_the_view_for_every_kind_of_job() {
        let queued = JobRecord {
            id: "j1".into(),
            tenant: "acme".into(),
            request_id: "rid-1".into(),
            request_json:
                r#"{"origin":{"address":"a\u0000b"},"mode":"driving","deadline_ms":5000}"#.into(),
            state: JobState::Queued,
            code: Code::JobQueued,
            submitted_ms: 1_700_000_000_123,
            deadline_ms: 1_700_000_005_123,
            started_ms: 0,
            finished_ms: 0,
            attempts: 0,
            outcome: None,
        };
        let routed = JobRecord {
            state: JobState::Succeeded,
            code: Code::RouteOk,
            started_ms: 1_700_000_000_200,
            finished_ms: 1_700_000_000_400,
            attempts: 1,
            outcome: Some(Outcome {
                detail: String::new(),
                result: Some(RouteResult {
                    distance_m: 1234.5,
                    duration_s: 99.0,
                    geometry: "abc".into(),
                    stops: vec![stop(), stop()],
                    provider: "osrm".into(),
                    simulated: true,
                    cache: "hit".into(),
                    station: None,
                    alternatives: Vec::new(),
                }),
                fallback: None,
                timings: Timings {
                    queued_us: 1,
                    compute_us: 2,
                    provider_us: 3,
                },
            }),
            ..queued.clone()
        };
        let fallback = JobRecord {
            state: JobState::Fallback,
            code: Code::ProviderUnavailable,
            outcome: Some(Outcome {
                detail: "router down".into(),
                result: None,
                fallback: Some(FallbackEstimate {
                    distance_m: 1.0,
                    duration_s: 2.0,
                    method: "great_circle".into(),
                    great_circle_m: 0.5,
                    detour_factor: 1.3,
                    speed_kmh: 30.0,
                    stops: vec![stop()],
                    failed_provider: "router".into(),
                    station: None,
                    provenance: [("a".to_string(), "b".to_string())].into(),
                }),
                timings: Timings::default(),
            }),
            ..routed.clone()
        };
        let failed = JobRecord {
            state: JobState::Failed,
            code: Code::NoRoute,
            request_json: "not json".into(),
            outcome: Some(Outcome::detail("no route between the stops")),
            ..routed.clone()
        };
        for r in [queued, routed, fallback, failed] {
            let body = r.body().expect("body");
            let read: JobView = serde_json::from_slice(&body).expect("a job view");
            assert_eq!(read, r.view(), "{}", String::from_utf8_lossy(&body));
            let as_value: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(
                as_value,
                serde_json::to_value(r.view()).expect("view"),
                "the same JSON, key for key"
            );
        }
    }
}
