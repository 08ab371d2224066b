//! The OpenAPI 3.1 description of API v1, generated from the code: the handlers' `#[utoipa::path]`
//! attributes, the shared types' `ToSchema` derives, and each endpoint's list of codes, whose
//! statuses, titles and bodies come from the code catalogue. Served at `/openapi.json`, rendered
//! by the offline page at `/docs`, and committed as `docs/openapi.json` (a test fails when it is
//! stale).

use std::collections::BTreeMap;

use routeq_shared::Code;
use routeq_shared::job::{
    Alternative, Coord, FallbackEstimate, JobState, JobView, Place, Profile, ResolvedStop,
    RouteRequest, RouteResult, StationChoice, StationSearch, Timings,
};
use routeq_shared::problem::{FieldError, Problem};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{OneOfBuilder, Ref, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use super::events::SseEvent;
use super::stations::favourites::{FavouriteList, FavouriteView};
use super::stations::{StationList, StationView};
use super::webhooks::{NewWebhook, WebhookList, WebhookSecret, WebhookView};

/// Codes answered with the job itself (its body is a [`JobView`]); every other code is a
/// [`Problem`].
pub(crate) fn is_job_answer(code: Code) -> bool {
    matches!(
        code,
        Code::RouteOk
            | Code::JobQueued
            | Code::JobRunning
            | Code::JobCancelled
            | Code::AddressNotFound
            | Code::NoRoute
            | Code::NoStationNearby
            | Code::ProviderError
            | Code::ProviderUnavailable
            | Code::ProviderTimeout
            | Code::JobExpired
    )
}

/// The responses of an endpoint that answers `codes` (and 204 when `no_content` is set), one
/// per status, each naming its codes with their titles.
pub fn responses(codes: &[Code], no_content: Option<&str>) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<Code>> = BTreeMap::new();
    for &c in codes {
        by_status.entry(c.http_status()).or_default().push(c);
    }
    let mut out = BTreeMap::new();
    if let Some(description) = no_content {
        out.insert(
            "204".to_string(),
            RefOr::T(ResponseBuilder::new().description(description).build()),
        );
    }
    for (status, codes) in by_status {
        let description = codes
            .iter()
            .map(|c| format!("`{}`: {}", c.as_str(), c.title()))
            .collect::<Vec<_>>()
            .join("; ");
        let (jobs, problems) = (
            codes.iter().any(|c| is_job_answer(*c)),
            codes.iter().any(|c| !is_job_answer(*c)),
        );
        let schema: RefOr<utoipa::openapi::schema::Schema> = match (jobs, problems) {
            (true, true) => OneOfBuilder::new()
                .item(Ref::from_schema_name("JobView"))
                .item(Ref::from_schema_name("Problem"))
                .into(),
            (true, false) => Ref::from_schema_name("JobView").into(),
            _ => Ref::from_schema_name("Problem").into(),
        };
        let content_type = if status < 400 {
            "application/json"
        } else {
            crate::http::error::PROBLEM_JSON
        };
        // One example per code: the job (with its route or estimate) or the problem.
        let examples = codes.iter().map(|c| {
            let value = if is_job_answer(*c) {
                super::openapi_finish::example_job(*c)
            } else {
                super::openapi_finish::example_problem(*c)
            };
            (
                c.as_str().to_string(),
                utoipa::openapi::example::ExampleBuilder::new()
                    .summary(c.title())
                    .value(Some(value))
                    .build(),
            )
        });
        let mut response = ResponseBuilder::new().description(description).content(
            content_type,
            ContentBuilder::new()
                .schema(Some(schema))
                .examples_from_iter(examples)
                .build(),
        );
        let integer = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer));
        if status == 202 {
            response = response.header(
                "Location",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)))
                    .description(Some("/v1/routes/{id}"))
                    .build(),
            );
        }
        if jobs {
            response = response.header(
                "Job-Final",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)).enum_values(Some(["true", "false"])))
                    .description(Some("On a job: `true` once it has ended (the answer will not change, whatever its status; no `Retry-After`), `false` while it is queued or running"))
                    .build(),
            );
        }
        if status == 202 || status == 429 || status == 503 {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(integer())
                    .description(Some("Seconds before trying again"))
                    .build(),
            );
        }
        out.insert(status.to_string(), RefOr::T(response.build()));
    }
    out
}

/// Declares a marker type whose `IntoResponses` are [`responses`] of a list of codes (and 204
/// with a description, when given), for `#[utoipa::path(responses(Marker))]`.
macro_rules! answers {
    ($(#[$doc:meta])* $name:ident, $codes:expr, $no_content:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::api::openapi::responses($codes, $no_content)
            }
        }
    };
}
pub(crate) use answers;

/// `GET /healthz` and `/readyz` bodies.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Health {
    status: String,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `routeq-admin keys create` (required with --auth keys)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "routeq",
        description = "Route jobs through a queue: submit, poll or wait, cancel; charging stations under ids of our own, and favourites. Every error is application/problem+json with a stable `code`; see the `Code` schema for the catalogue.",
        license(name = "Apache-2.0")
    ),
    paths(
        super::submit::submit, super::jobs::get_job, super::jobs::cancel_job,
        super::stations::list, super::stations::one, super::stations::favourites::list,
        super::stations::favourites::put, super::stations::favourites::delete,
        super::webhooks::create, super::webhooks::list, super::webhooks::one,
        super::webhooks::delete, super::webhooks::rotate, super::webhooks::enable,
        super::events::events
    ),
    components(schemas(
        RouteRequest, Place, StationSearch, JobView, Problem, FieldError, Code, JobState,
        Profile, Coord, RouteResult, FallbackEstimate, ResolvedStop, Timings, Health,
        StationChoice, Alternative, StationView, StationList, FavouriteView,
        FavouriteList, NewWebhook, WebhookView, WebhookSecret, WebhookList, SseEvent
    )),
    modifiers(&Security),
    security(("bearer" = []), ()),
)]
pub struct ApiDoc;

/// The document at the default flags, as pretty JSON (what `docs/openapi.json` holds).
pub fn json() -> String {
    json_for(&super::openapi_finish::DocSettings::defaults())
}

/// The document with the limits of `settings` (what a gateway serves at `/openapi.json`).
pub fn json_for(settings: &super::openapi_finish::DocSettings) -> String {
    serde_json::to_string_pretty(&value_for(settings)).unwrap_or_else(|_| "{}".to_string())
}

/// The document as JSON, with the limits of `settings`.
pub fn value_for(settings: &super::openapi_finish::DocSettings) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    super::openapi_finish::finish(&mut doc, settings);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/openapi.json is the committed copy of the generated document; regenerate it with
    /// `ROUTEQ_UPDATE_OPENAPI=1 cargo test -p routeq-gateway openapi`.
    #[test]
    fn the_committed_openapi_document_is_current() {
        let generated = json();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        if std::env::var_os("ROUTEQ_UPDATE_OPENAPI").is_some() {
            std::fs::write(path, format!("{generated}\n")).expect("write docs/openapi.json");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            committed.trim_end(),
            generated.trim_end(),
            "docs/openapi.json is stale: run ROUTEQ_UPDATE_OPENAPI=1 cargo test -p routeq-gateway openapi"
        );
    }

    #[test]
    fn every_code_an_endpoint_can_answer_is_documented_with_its_status() {
        let doc: serde_json::Value = serde_json::from_str(&json()).expect("json");
        assert!(
            doc["openapi"]
                .as_str()
                .unwrap_or_default()
                .starts_with("3.1")
        );
        for (path, method, codes) in [
            ("/v1/routes", "post", super::super::submit::ANSWERS),
            ("/v1/routes/{id}", "get", super::super::jobs::GET_ANSWERS),
            (
                "/v1/routes/{id}",
                "delete",
                super::super::jobs::CANCEL_ANSWERS,
            ),
        ] {
            let responses = &doc["paths"][path][method]["responses"];
            for code in codes {
                let described = responses[code.http_status().to_string()]["description"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    described.contains(code.as_str()),
                    "{method} {path}: {code} is not under {}",
                    code.http_status()
                );
            }
        }
        let text = doc.to_string();
        for code in Code::ALL {
            assert!(text.contains(code.as_str()), "{code} is not described");
        }
    }

    /// Every operation has an example for each body it takes and answers, declares
    /// `X-Request-Id`, and every code is in the catalogue with its status.
    #[test]
    fn every_operation_has_examples_headers_and_every_code_its_status() {
        let doc: serde_json::Value = serde_json::from_str(&json()).expect("json");
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                operations += 1;
                let params = op["parameters"].as_array().expect("parameters");
                assert!(
                    params.iter().any(|p| p["name"] == "X-Request-Id"),
                    "{method} {path}: no X-Request-Id parameter"
                );
                for media in op["requestBody"]["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    assert!(
                        media.1.get("example").is_some() || media.1.get("examples").is_some(),
                        "{method} {path}: a request body without an example"
                    );
                }
                for (status, res) in op["responses"].as_object().expect("responses") {
                    assert!(
                        res["headers"]["X-Request-Id"].is_object(),
                        "{method} {path} {status}: no X-Request-Id header"
                    );
                    for (ct, media) in res["content"].as_object().into_iter().flatten() {
                        assert!(
                            media.get("example").is_some() || media.get("examples").is_some(),
                            "{method} {path} {status} {ct}: no example"
                        );
                    }
                }
            }
        }
        assert!(operations >= 8);
        let post = &doc["paths"]["/v1/routes"]["post"];
        let names: Vec<&str> = post["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for h in ["Idempotency-Key", "Prefer", "X-Request-Id"] {
            assert!(
                names.contains(&h),
                "POST /v1/routes takes no {h}: {names:?}"
            );
        }
        let accepted = &post["responses"]["202"]["headers"];
        for h in [
            "Location",
            "Retry-After",
            "Idempotent-Replayed",
            "Job-Final",
        ] {
            assert!(accepted[h].is_object(), "202 has no {h} header");
        }
        assert!(post["responses"]["200"]["headers"]["Preference-Applied"].is_object());
        // A fallback job (503) is described as the job it is, estimate included.
        let got = &doc["paths"]["/v1/routes/{id}"]["get"]["responses"]["503"]["content"]["application/problem+json"];
        assert!(got["schema"].to_string().contains("JobView"), "{got}");
        let example = &got["examples"]["PROVIDER_UNAVAILABLE"]["value"];
        assert_eq!(example["state"], "fallback");
        assert!(
            example["fallback"]["distance_m"]
                .as_f64()
                .unwrap_or_default()
                > 0.0
        );
        assert!(got["headers"].is_null());
        let fallback =
            doc["components"]["schemas"]["JobView"]["properties"]["fallback"].to_string();
        assert!(fallback.contains("FallbackEstimate"), "{fallback}");
        let codes = &doc["components"]["schemas"]["Code"]["x-codes"];
        for c in Code::ALL {
            assert_eq!(codes[c.as_str()]["status"], c.http_status(), "{c}");
        }
    }
}
