//! What the derives cannot say, added to the generated document in one pass: the limits of the
//! gateway's own configuration (the served `/openapi.json` follows its flags; the committed
//! `docs/openapi.json` is the document at the defaults), the code catalogue with each code's
//! status and meaning, the headers every operation takes and answers (`X-Request-Id` on all),
//! and an example for every request body and response that has none, made from its schema.
//!
//! This module owns the settings, the limits, the code catalogue and the headers;
//! `examples.rs` the examples.

use routeq_shared::Code;
use serde_json::{Map, Value, json};

use crate::config::Limits;

mod examples;

use examples::examples;
pub use examples::{example_job, example_problem};

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
