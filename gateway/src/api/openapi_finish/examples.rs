//! The document's examples: a job and a problem body for each code (each endpoint's responses),
//! and one made from its schema for every request body and response that has none.

use routeq_shared::Code;
use routeq_shared::job::{
    FallbackEstimate, JobRecord, JobState, Outcome, Place, Profile, ResolvedStop, RouteRequest,
    RouteResult, Timings,
};
use routeq_shared::problem::Problem;
use serde_json::{Map, Value, json};

use super::for_each_operation;

/// A job as the API answers it, for examples: finished with `code` (a route, an estimate, or
/// neither), or queued.
pub fn example_job(code: Code) -> Value {
    let request = RouteRequest {
        origin: Place::Coords(routeq_shared::job::Coord {
            lat: 37.4979,
            lon: 127.0276,
        }),
        destination: Place::Address {
            address: "Seoul Station".into(),
        },
        waypoints: Vec::new(),
        profile: Profile::Car,
        deadline_ms: 30_000,
    };
    let stops = vec![
        ResolvedStop {
            lat: 37.4979,
            lon: 127.0276,
            address: String::new(),
            source: "client".into(),
            cached: false,
        },
        ResolvedStop {
            lat: 37.5547,
            lon: 126.9707,
            address: "Seoul Station".into(),
            source: "nominatim".into(),
            cached: true,
        },
    ];
    let state = match code {
        Code::RouteOk => JobState::Succeeded,
        Code::JobQueued => JobState::Queued,
        Code::JobRunning => JobState::Running,
        Code::JobCancelled => JobState::Cancelled,
        Code::JobExpired => JobState::Expired,
        Code::ProviderError | Code::ProviderUnavailable | Code::ProviderTimeout => {
            JobState::Fallback
        }
        _ => JobState::Failed,
    };
    let timings = Timings {
        queued_us: 812,
        compute_us: 201_344,
        provider_us: 201_101,
    };
    let outcome = match state {
        JobState::Queued | JobState::Running => None,
        JobState::Succeeded => Some(Outcome {
            detail: String::new(),
            result: Some(RouteResult {
                distance_m: 10_744.7,
                duration_s: 1_294.5,
                geometry: "_p~iF~ps|U_ulLnnqC_mqNvxq`@".into(),
                stops: stops.clone(),
                provider: "osrm".into(),
                simulated: false,
                cache: "miss".into(),
                station: None,
                alternatives: Vec::new(),
            }),
            fallback: None,
            timings,
        }),
        JobState::Fallback => Some(Outcome {
            detail: "the directions provider failed; an estimate is attached".into(),
            result: None,
            fallback: Some(FallbackEstimate {
                distance_m: 10_486.5,
                duration_s: 1_258.4,
                method: "great_circle_detour".into(),
                great_circle_m: 8_066.5,
                detour_factor: 1.3,
                speed_kmh: 30.0,
                stops: stops.clone(),
                failed_provider: "osrm".into(),
                station: None,
                provenance: [
                    ("distance_m", "great_circle_m × detour_factor"),
                    ("duration_s", "distance_m at speed_kmh"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            }),
            timings,
        }),
        _ => Some(Outcome::detail(code.title())),
    };
    let started = !matches!(state, JobState::Queued | JobState::Cancelled);
    let finished = state.is_terminal();
    let record = JobRecord {
        id: "0192f5e4-6c1a-7b3e-9d2a-5f4c3b2a1908".into(),
        tenant: "default".into(),
        request_id: "client-req-1".into(),
        request_json: request.canonical_json(),
        state,
        code,
        submitted_ms: 1_795_096_847_123,
        deadline_ms: 1_795_096_877_123,
        started_ms: if started { 1_795_096_847_124 } else { 0 },
        finished_ms: if finished && started {
            1_795_096_847_326
        } else if finished {
            1_795_096_847_200
        } else {
            0
        },
        attempts: u32::from(started),
        outcome,
    };
    serde_json::to_value(record.view()).unwrap_or_default()
}

/// A problem body for `code`, for examples.
pub fn example_problem(code: Code) -> Value {
    let mut p = Problem::new(code, code.title());
    p.request_id = "client-req-1".into();
    if code == Code::InvalidField {
        p = p.with_errors(vec![routeq_shared::problem::FieldError::new(
            "origin.lat",
            "out_of_range",
            "latitude must be between -90 and 90",
        )]);
        p.request_id = "client-req-1".into();
    }
    serde_json::to_value(p).unwrap_or_default()
}

pub(super) fn examples(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].clone();
    let route_examples = json!({
        "coordinates_to_address": {"summary": "From coordinates to an address", "value":
            {"origin": {"lat": 37.4979, "lon": 127.0276}, "destination": {"address": "Seoul Station"}}},
        "with_options": {"summary": "A waypoint, a profile and a deadline", "value":
            {"origin": {"address": "Gangnam Station"}, "destination": {"lat": 37.5547, "lon": 126.9707},
             "waypoints": [{"lat": 37.52, "lon": 127.0}], "profile": "bike", "deadline_ms": 20000}},
        "nearest_station": {"summary": "To the fastest of the nearest fast chargers", "value":
            {"origin": {"lat": 37.4979, "lon": 127.0276},
             "destination": {"nearest_station": {"charger_type": "dc", "min_kw": 50, "available": true}}}},
        "one_webhook": {"summary": "Notify one webhook endpoint when the job ends (`[]`: none)", "value":
            {"origin": {"lat": 37.4979, "lon": 127.0276}, "destination": {"address": "Seoul Station"},
             "webhooks": ["ep_0192f5e46c1a7b3e9d2a5f4c3b2a1908"]}}
    });
    for_each_operation(doc, |path, method, op| {
        if let Some(content) = op
            .get_mut("requestBody")
            .and_then(|b| b.get_mut("content"))
            .and_then(Value::as_object_mut)
        {
            for (_, media) in content.iter_mut() {
                if path == "/v1/routes" && method == "post" {
                    media["examples"] = route_examples.clone();
                } else if media.get("example").is_none() && media.get("examples").is_none() {
                    media["example"] = sample(&media["schema"], &schemas, 0);
                }
            }
        }
        let Some(responses) = op["responses"].as_object_mut() else {
            return;
        };
        for (_, res) in responses.iter_mut() {
            let Some(content) = res.get_mut("content").and_then(Value::as_object_mut) else {
                continue;
            };
            for (_, media) in content.iter_mut() {
                if media.get("example").is_none() && media.get("examples").is_none() {
                    media["example"] = sample(&media["schema"], &schemas, 0);
                }
            }
        }
    });
}

/// A value that fits `schema`: its example or default when it has one, else the first of its
/// choices, the lower bound of a number, a word for a string.
fn sample(schema: &Value, schemas: &Value, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        return sample(&schemas[name], schemas, depth + 1);
    }
    for key in ["example", "default", "const"] {
        if let Some(v) = schema.get(key) {
            return v.clone();
        }
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[key].as_array().and_then(|e| e.first()) {
            return sample(first, schemas, depth + 1);
        }
    }
    let ty = match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .find(|t| *t != "null")
            .and_then(Value::as_str)
            .unwrap_or("null"),
        Value::String(t) => t.as_str(),
        _ if schema["properties"].is_object() => "object",
        _ => "null",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = schema["properties"].as_object() {
                for (k, v) in props {
                    out.insert(k.clone(), sample(v, schemas, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => json!([sample(&schema["items"], schemas, depth + 1)]),
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(1)),
        "number" => json!(schema["minimum"].as_f64().unwrap_or(1.5)),
        "boolean" => json!(true),
        "string" => match schema["format"].as_str() {
            Some("uuid") => json!("0192f5e4-6c1a-7b3e-9d2a-5f4c3b2a1908"),
            Some("date-time") => json!("2026-11-25T14:00:47.123Z"),
            _ => json!("string"),
        },
        _ => Value::Null,
    }
}
