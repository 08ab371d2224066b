//! The OpenAPI 3.1 description of API v1, generated from the code: the handlers' `#[utoipa::path]`
//! attributes and the shared types' `ToSchema` derives. Served at `/openapi.json`, rendered by the
//! offline page at `/docs`, and committed as `docs/openapi.json` (a test fails when it is stale).

use routeq_shared::Code;
use routeq_shared::job::{Coord, JobState, JobView, Profile, ResolvedStop, RouteResult, Timings};
use routeq_shared::problem::{FieldError, Problem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// A place in a request: coordinates, or an address the worker geocodes.
#[derive(ToSchema, serde::Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum PlaceIn {
    Coords(CoordIn),
    Address(AddressIn),
}

/// Coordinates in decimal degrees (WGS 84).
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CoordIn {
    #[schema(minimum = -90.0, maximum = 90.0)]
    lat: f64,
    #[schema(minimum = -180.0, maximum = 180.0)]
    lon: f64,
}

/// An address; spaces are collapsed and it is trimmed before use.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AddressIn {
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    address: String,
}

/// A route job. Unknown fields are refused.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SubmitRoute {
    origin: PlaceIn,
    destination: PlaceIn,
    /// At most `--max-waypoints` (5 by default).
    #[schema(max_items = 5)]
    waypoints: Option<Vec<PlaceIn>>,
    /// `car` unless given.
    profile: Option<Profile>,
    /// The client's patience in ms (500 to 600000 by default; 30000 unless given).
    #[schema(minimum = 500, maximum = 600_000)]
    deadline_ms: Option<u64>,
}

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
                        "An API key from `routeq-gateway keys create` (required with --auth keys)",
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
        description = "Route jobs through a queue: submit, poll or wait, cancel. Every error is application/problem+json with a stable `code`; see the `Code` schema for the catalogue.",
        license(name = "Apache-2.0")
    ),
    paths(crate::routes::submit, crate::routes::get_job, crate::routes::cancel_job),
    components(schemas(
        SubmitRoute, PlaceIn, CoordIn, AddressIn, JobView, Problem, FieldError, Code, JobState,
        Profile, Coord, RouteResult, ResolvedStop, Timings, Health
    )),
    modifiers(&Security),
    security(("bearer" = []), ()),
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `/openapi.json` serves and `docs/openapi.json` holds).
pub fn json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_string())
}

/// A self-contained page (no external scripts) that renders `/openapi.json`.
pub const DOCS_HTML: &str = include_str!("docs.html");

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
        let text = doc.to_string();
        for code in Code::ALL {
            assert!(text.contains(code.as_str()), "{code} is not described");
        }
        for (path, method) in [
            ("/v1/routes", "post"),
            ("/v1/routes/{id}", "get"),
            ("/v1/routes/{id}", "delete"),
        ] {
            let responses = &doc["paths"][path][method]["responses"];
            assert!(
                responses.as_object().is_some_and(|r| r.len() >= 4),
                "{method} {path}"
            );
        }
    }
}
