//! The operational endpoints: liveness, readiness, metrics, the API description and its page,
//! and the answers for unknown endpoints and methods.

pub mod metrics;

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use routeq_shared::Code;

use crate::http::{ApiError, RequestId};
use crate::state::AppState;

pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Ready when Redis answers and the completion subscription is live.
pub async fn readyz(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
) -> Result<Response, ApiError> {
    let ping = tokio::time::timeout(Duration::from_secs(1), async {
        app.store.ping().await?;
        app.store.recording().backlog().await
    })
    .await;
    match ping {
        Ok(Ok(backlog)) if app.waiters.is_subscribed() => Ok(axum::Json(serde_json::json!({
            "status": "ready",
            "redis": "ok",
            "subscription": "ok",
            "recorder_backlog": backlog,
        }))
        .into_response()),
        Ok(Ok(_)) => Err(ApiError::new(
            Code::QueueUnavailable,
            &rid,
            "the completion subscription is not live",
        )
        .retry_after(1)),
        Ok(Err(e)) => Err(ApiError::queue_unavailable(&rid, &e)),
        Err(_) => Err(ApiError::queue_unavailable(&rid, &"ping timed out")),
    }
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        routeq_shared::telemetry::render_metrics(&app.metrics),
    )
}

pub async fn not_found_fallback(Extension(rid): Extension<RequestId>) -> ApiError {
    ApiError::new(
        Code::EndpointNotFound,
        &rid,
        "no such endpoint; see /openapi.json",
    )
}

pub async fn method_not_allowed(Extension(rid): Extension<RequestId>) -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        &rid,
        "this method is not allowed on this endpoint",
    )
}

/// `GET /openapi.json`: the API description.
pub async fn openapi_json(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::api::openapi::json_for(&crate::api::openapi_finish::DocSettings::of(&app.cfg)),
    )
}

/// `GET /docs`: the API description as a page rendered here (no JavaScript, nothing loaded
/// from elsewhere), with this gateway's limits.
pub async fn docs(State(app): State<AppState>) -> impl IntoResponse {
    let doc =
        crate::api::openapi::value_for(&crate::api::openapi_finish::DocSettings::of(&app.cfg));
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::api::docs_page::render(&doc),
    )
}

/// `GET /_debug/panic` (only with the hidden --debug-panic-route): proves a panic becomes a 500.
pub async fn debug_panic() -> Response {
    panic!("forced panic (--debug-panic-route)")
}
