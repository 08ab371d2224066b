//! What the derives cannot say, added to the generated document in one pass: the limits of the
//! gateway's own configuration (the served `/openapi.json` follows its flags; the committed
//! `docs/openapi.json` is the document at the defaults), the code catalogue with each code's
//! status and meaning, the headers every operation takes and answers (`X-Request-Id` on all),
//! and an example for every request body and response that has none, made from its schema.

use routeq_shared::Code;
use routeq_shared::job::{
    FallbackEstimate, JobRecord, JobState, Outcome, Place, Profile, ResolvedStop, RouteRequest,
    RouteResult, Timings,
};
use routeq_shared::problem::Problem;
use serde_json::{Map, Value, json};

use crate::config::Limits;

/// The configured values the document states.
#[derive(Debug, Clone)]
pub struct DocSettings {
    pub limits: Limits,
    pub max_wait_s: u64,
}

impl DocSettings {
    pub fn of(cfg: &crate::config::GatewayConfig) -> DocSettings {
        DocSettings {
            limits: cfg.limits(),
            max_wait_s: cfg.max_wait_s,
        }
    }

    /// The settings of a gateway started without flags (what `docs/openapi.json` shows).
    pub fn defaults() -> DocSettings {
        match crate::config::GatewayConfig::for_tests("redis://127.0.0.1:6379", "routeq") {
            Ok(cfg) => DocSettings::of(&cfg),
            // The defaults always parse; this arm keeps the document available regardless.
            Err(_) => DocSettings {
                limits: Limits {
                    max_waypoints: 5,
                    max_address_chars: 256,
                    default_deadline_ms: 30_000,
                    min_deadline_ms: 500,
                    max_deadline_ms: 600_000,
                },
                max_wait_s: 60,
            },
        }
    }
}

/// Applies every addition to `doc` (the JSON of the generated document).
pub fn finish(doc: &mut Value, settings: &DocSettings) {
    limits(doc, settings);
    submission(doc);
    codes(doc);
    headers(doc);
    examples(doc);
}

fn limits(doc: &mut Value, s: &DocSettings) {
    let l = &s.limits;
    let req = &mut doc["components"]["schemas"]["RouteRequest"]["properties"];
    req["waypoints"]["maxItems"] = json!(l.max_waypoints);
    req["deadline_ms"]["minimum"] = json!(l.min_deadline_ms);
    req["deadline_ms"]["maximum"] = json!(l.max_deadline_ms);
    req["deadline_ms"]["default"] = json!(l.default_deadline_ms);
    if let Some(variants) = doc["components"]["schemas"]["Place"]["oneOf"].as_array_mut() {
        for v in variants {
            if v.get("properties").is_some() {
                // The parser refuses unknown fields (`unknown_field`).
                v["additionalProperties"] = json!(false);
            }
            if v["properties"]["address"].is_object() {
                v["properties"]["address"]["maxLength"] = json!(l.max_address_chars);
            }
        }
    }
    // `{}`: what an absent object member of the job body (`result`, `fallback`) is.
    doc["components"]["schemas"]["Empty"] = json!({
        "type": "object", "maxProperties": 0, "description": "Absent: `{}`"
    });
    for name in ["Coord", "StationSearch"] {
        doc["components"]["schemas"][name]["additionalProperties"] = json!(false);
    }
    // RouteRequest is closed where it is used (`unevaluatedProperties`, see `submission`): an
    // `additionalProperties: false` inside it would refuse the submit body's `webhooks`.
    for_each_operation(doc, |path, method, op| {
        if let Some(params) = op["parameters"].as_array_mut() {
            for p in params {
                match (path, method, p["name"].as_str()) {
                    ("/v1/routes/{id}", "get", Some("wait")) => {
                        p["schema"]["maximum"] = json!(s.max_wait_s)
                    }
                    ("/v1/routes", "post", Some("Prefer")) => {
                        p["schema"]["pattern"] = json!(r"^wait=\d+$");
                        p["description"] = json!(format!(
                            "`wait=N` (RFC 7240): hold the request up to N seconds (at most {}) for the finished job",
                            s.max_wait_s
                        ));
                    }
                    _ => {}
                }
            }
        }
    });
}

/// The submit body is a [`RouteRequest`] plus `webhooks`, which the gateway reads beside it
/// (`api::webhooks::selection`; allowed in `api::body::TOP_FIELDS`). Documented as
/// `RouteSubmission`: `allOf` RouteRequest and the `webhooks` property, closed with
/// `unevaluatedProperties: false` (unknown fields answer 422 `unknown_field`). The job's echo of
/// its request (`JobView.request`) is a RouteRequest closed the same way.
fn submission(doc: &mut Value) {
    let webhooks = json!({
        "type": "array",
        "items": {"type": "string", "description": "An endpoint id (`ep_…`, from `POST /v1/webhooks`)"},
        "maxItems": super::webhooks::MAX_SELECTED,
        "description": "The tenant's webhook endpoints notified when the job ends: absent, every one of them; \
    `[]`, none; otherwise these (each one of the tenant's, else 422 `unknown_webhook` at `webhooks[i]`).",
    });
    doc["components"]["schemas"]["RouteSubmission"] = json!({
        "description": "The body of `POST /v1/routes`: a route request and the webhook endpoints its end notifies.",
        "allOf": [
            {"$ref": "#/components/schemas/RouteRequest"},
            {"type": "object", "properties": {"webhooks": webhooks}}
        ],
        "unevaluatedProperties": false
    });
    if let Some(media) =
        doc["paths"]["/v1/routes"]["post"]["requestBody"]["content"].get_mut("application/json")
    {
        media["schema"] = json!({"$ref": "#/components/schemas/RouteSubmission"});
    }
    let echo = &mut doc["components"]["schemas"]["JobView"]["properties"]["request"];
    if echo.is_object() {
        echo["unevaluatedProperties"] = json!(false);
    }
}

fn codes(doc: &mut Value) {
    let mut table = String::from(
        "Every error and outcome carries one of these codes (`code`), with the HTTP status it is answered with.\n\n| code | status | meaning |\n| --- | --- | --- |\n",
    );
    let mut ext = Map::new();
    for c in Code::ALL {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.as_str(),
            c.http_status(),
            c.title()
        ));
        ext.insert(
            c.as_str().to_string(),
            json!({"status": c.http_status(), "title": c.title()}),
        );
    }
    let code = &mut doc["components"]["schemas"]["Code"];
    code["description"] = json!(table);
    code["x-codes"] = Value::Object(ext);
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

fn headers(doc: &mut Value) {
    let request_id_param = json!({
        "name": "X-Request-Id", "in": "header", "required": false,
        "description": "The client's request id (1-128 characters of [A-Za-z0-9._:-]); echoed on the answer, stored with a job and logged. Another value gets a generated id.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}
    });
    for_each_operation(doc, |path, method, op| {
        let params = op["parameters"]
            .as_array_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut params: Vec<Value> = params
            .into_iter()
            .filter(|p| p["name"] != "X-Request-Id")
            .collect();
        params.push(request_id_param.clone());
        op["parameters"] = Value::Array(params);
        let job_op = path.starts_with("/v1/routes") && method != "delete";
        let Some(responses) = op["responses"].as_object_mut() else {
            return;
        };
        for (status, res) in responses.iter_mut() {
            let hs = res["headers"].as_object_mut().map(std::mem::take);
            let mut hs = hs.unwrap_or_default();
            hs.insert(
                "X-Request-Id".into(),
                header(
                    "The request's id (the client's, or a generated one)",
                    json!({"type": "string"}),
                ),
            );
            if let Some(ra) = hs.get_mut("Retry-After") {
                ra["description"] = json!(
                    "Seconds before asking again; only on answers that may change (a queued or running job, a transient refusal), never on a finished job"
                );
            }
            let is_job = hs.contains_key("Job-Final");
            if job_op && is_job {
                hs.insert(
                    "Location".into(),
                    header("`/v1/routes/{id}`: the job", json!({"type": "string"})),
                );
            }
            if path == "/v1/routes" && method == "post" && is_job {
                hs.insert(
                    "Idempotent-Replayed".into(),
                    header(
                        "`true` when this answer is the job an earlier request with the same Idempotency-Key made",
                        json!({"type": "string", "enum": ["true"]}),
                    ),
                );
                if status != "202" || hs.contains_key("Retry-After") {
                    hs.insert(
                        "Preference-Applied".into(),
                        header(
                            "`wait=N` when the request was held for the result (`Prefer: wait=N`)",
                            json!({"type": "string"}),
                        ),
                    );
                }
            }
            res["headers"] = Value::Object(hs);
        }
    });
}

fn for_each_operation(doc: &mut Value, mut f: impl FnMut(&str, &str, &mut Value)) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if matches!(method.as_str(), "get" | "post" | "put" | "delete" | "patch") {
                f(path, method, op);
            }
        }
    }
}

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

fn examples(doc: &mut Value) {
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
