//! Every route, and the middleware every request passes: request ids and request metrics, the
//! header size limit, the matched route for labels, and panics turned into 500s.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use routeq_shared::Code;
use routeq_shared::metrics::http as m;

use crate::api::{events, jobs, stations, submit, webhooks};
use crate::auth::{Authenticator, authenticate};
use crate::http::{ApiError, RequestId};
use crate::ops;
use crate::state::AppState;

/// /metrics, /healthz and /readyz: on the admin listener, or on the public one when none is set.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .method_not_allowed_fallback(ops::method_not_allowed)
        .route_layer(axum::middleware::from_fn(tag_route))
        .fallback(ops::not_found_fallback)
        .with_state(state)
        .layer(axum::middleware::from_fn(observe))
}

/// The public API; with `with_ops` the operational endpoints too.
pub fn api_router(state: AppState, auth: Authenticator, with_ops: bool) -> Router {
    let mut api = Router::new()
        .route("/v1/routes", post(submit::submit))
        .route(
            "/v1/routes/{id}",
            get(jobs::get_job).delete(jobs::cancel_job),
        )
        .route("/v1/stations", get(stations::list))
        .route("/v1/stations/{id}", get(stations::one))
        .route(
            "/v1/users/{user_id}/favourites",
            get(stations::favourites::list),
        )
        .route(
            "/v1/users/{user_id}/favourites/{station_id}",
            axum::routing::put(stations::favourites::put).delete(stations::favourites::delete),
        )
        .route("/v1/routes/{id}/events", get(events::events))
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::one).delete(webhooks::delete),
        )
        .route("/v1/webhooks/{id}/rotate", post(webhooks::rotate))
        .route("/v1/webhooks/{id}/enable", post(webhooks::enable))
        // Only the API routes above need a tenant; the operational ones below do not.
        .route_layer(axum::middleware::from_fn_with_state(auth, authenticate))
        .route("/openapi.json", get(ops::openapi_json))
        .route("/docs", get(ops::docs));
    if with_ops {
        api = api
            .route("/healthz", get(ops::healthz))
            .route("/readyz", get(ops::readyz))
            .route("/metrics", get(ops::metrics));
    }
    if state.cfg.debug_panic_route {
        api = api.route("/_debug/panic", get(ops::debug_panic));
    }
    let max_header_bytes = state.cfg.max_header_bytes;
    let api = api
        .method_not_allowed_fallback(ops::method_not_allowed)
        .route_layer(axum::middleware::from_fn(tag_route))
        .fallback(ops::not_found_fallback)
        .with_state(state);
    // Traces (when exported): inside `observe`, so the request id is known.
    crate::http::trace::layer(api)
        .layer(axum::middleware::from_fn_with_state(
            max_header_bytes,
            limit_headers,
        ))
        .layer(axum::middleware::from_fn(observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
}

/// Refuses requests whose headers, all together, exceed the configured size (431).
pub async fn limit_headers(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > limit {
        return ApiError::new(
            Code::HeadersTooLarge,
            &RequestId::of(req.extensions()),
            format!("request headers must total at most {limit} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}

/// Accepts or generates the request id, echoes it, and records request metrics.
pub async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let rid = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().as_str().to_string();
    req.extensions_mut().insert(RequestId(rid.clone()));
    let mut res = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        res.headers_mut().insert("x-request-id", v);
    }
    let route = res
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let code = res.status().as_u16();
    let elapsed = started.elapsed();
    // The access log: one line per request (target `access`; `ROUTEQ_LOG=info,access=off`
    // silences it), with the route template, never the raw path (it names jobs and users).
    tracing::info!(
        target: "access",
        request_id = %rid,
        method = %method,
        route = %route,
        status = code,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    metrics::counter!(m::REQUESTS.name, "route" => route.clone(), "method" => method.clone(), "status" => code.to_string())
        .increment(1);
    metrics::histogram!(m::DURATION.name, "route" => route, "method" => method)
        .record(elapsed.as_secs_f64());
    res
}

/// Copies the matched route template into the response, for the request metrics' `route` label.
pub async fn tag_route(req: Request, next: Next) -> Response {
    let path = req.extensions().get::<MatchedPath>().cloned();
    let mut res = next.run(req).await;
    if let Some(path) = path {
        res.extensions_mut().insert(path);
    }
    res
}

/// Client-sent request ids are kept when they are short and plain; otherwise we make our own.
fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A panicking handler answers 500 `INTERNAL_ERROR`; the process keeps serving.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        Code::InternalError,
        &RequestId(String::new()),
        "internal error",
    )
    .into_response()
}
