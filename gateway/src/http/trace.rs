//! The gateway's part of a job's trace: one server span per API request, a child of the client's
//! W3C `traceparent`/`tracestate` when it sent one (otherwise the root of a new trace). Installed
//! only when the gateway exports traces ([`routeq_shared::telemetry::trace`]); the submit
//! handler stores this span's context in the stream entry for the worker.
//!
//! Attributes: method, route template (never the path with its query, which can carry
//! coordinates), status, request id. Headers are never recorded (they carry the API key).

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use routeq_shared::telemetry::trace::{self, TARGET};
use tracing::Instrument;
use tracing::field::Empty;

use super::RequestId;

/// `router` with the request span layer on its routes when traces are exported (after routing,
/// so the span is named by the route template; outside authentication, so refusals are traced
/// too); `router` as it is otherwise.
pub fn layer(router: Router) -> Router {
    if trace::enabled() {
        router.route_layer(axum::middleware::from_fn(traced))
    } else {
        router
    }
}

/// Probes and scrapes (when served on the API listener) are not traced: they are no job's time.
const UNTRACED: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// Runs the request inside its span and records the status once answered.
pub async fn traced(req: Request, next: Next) -> Response {
    let probe = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| UNTRACED.contains(&p.as_str()));
    if probe {
        return next.run(req).await;
    }
    let parent = {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        trace::parent_from_w3c(header("traceparent"), header("tracestate"))
    };
    let method = req.method().as_str();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let rid = RequestId::of(req.extensions());
    let span = tracing::info_span!(
        target: TARGET,
        "http.request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        request_id = %rid.0,
        trace_id = Empty,
    );
    trace::continue_trace(&span, parent);
    let res = next.run(req).instrument(span.clone()).await;
    span.record("http.response.status_code", res.status().as_u16());
    if res.status().is_server_error() {
        span.record("otel.status_code", "error");
    }
    res
}
