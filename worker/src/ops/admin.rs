//! The worker's own HTTP endpoints: `/metrics` (Prometheus) and `/healthz`.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::job::heartbeat::ReaderHealth;

async fn healthz(readers: Option<Arc<ReaderHealth>>) -> Response {
    match readers.as_deref().and_then(ReaderHealth::stuck) {
        None => axum::Json(serde_json::json!({"status": "ok"})).into_response(),
        Some(stuck) => {
            let stale_ms = stuck.stale.as_millis() as u64;
            tracing::warn!(stream = %stuck.stream, stale_ms, "a job reader is stuck; /healthz fails");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({
                    "status": "reader_stuck",
                    "stream": stuck.stream,
                    "stale_ms": stale_ms,
                    "limit_ms": readers.as_deref().map(|r| r.stale_after().as_millis() as u64),
                })),
            )
                .into_response()
        }
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) {
    serve_with_health(listener, shutdown, None).await
}

/// [`serve`], with `/healthz` failing (503) while one of `readers` is stuck.
pub async fn serve_with_health(
    listener: TcpListener,
    shutdown: CancellationToken,
    readers: Option<Arc<ReaderHealth>>,
) {
    let handle = routeq_shared::telemetry::metrics_handle();
    let router = Router::new()
        .route(
            "/metrics",
            get(move || {
                let h = handle.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        routeq_shared::telemetry::render_metrics(&h),
                    )
                }
            }),
        )
        .route("/healthz", get(move || healthz(readers.clone())));
    let _ = axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
}
