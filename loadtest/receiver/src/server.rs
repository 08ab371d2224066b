//! The HTTP surface: `POST` on any path is a webhook delivery; `/_receiver/*` is the admin API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use routeq_notify::Secret;
use routeq_notify::signature::{self, HEADER_ID};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::book::{Book, Mode, Stats};

/// State shared by every request.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) secrets: RwLock<Vec<Secret>>,
    pub(crate) tolerance: Duration,
    pub(crate) book: Mutex<Book>,
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    pub(crate) fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/_receiver/stats", get(stats))
        .route("/_receiver/reset", post(reset))
        .route("/_receiver/mode", get(mode).post(set_mode))
        .route("/_receiver/secrets", post(set_secrets))
        .fallback(post(deliver))
        .with_state(shared)
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    (status, Json(json!({ "error": detail.into() }))).into_response()
}

/// A webhook delivery: wait the mode's delay, verify, answer by the mode, record.
async fn deliver(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let mode = shared.book().take_mode(Instant::now());
    if mode.delay_ms > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(mode.delay_ms)) => {}
            () = shared.shutdown.cancelled() => {
                return problem(StatusCode::SERVICE_UNAVAILABLE, "receiver shutting down");
            }
        }
    }
    let verified = {
        let secrets = shared
            .secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        signature::verify(&secrets, &headers, &body, unix_now(), shared.tolerance)
    };
    let id = headers.get(HEADER_ID).and_then(|v| v.to_str().ok());
    let status = match &verified {
        Err(_) => StatusCode::UNAUTHORIZED,
        Ok(()) => mode
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK),
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    {
        let mut book = shared.book();
        if !json {
            book.count_not_json();
        }
        book.record(id, verified.as_ref().map(|_| ()), status.is_success());
    }
    let mut response = match (verified, mode.body_bytes) {
        (_, Some(n)) => (status, "x".repeat(n)).into_response(),
        (Err(e), None) => problem(status, e.to_string()),
        (Ok(()), None) => (status, Json(json!({ "received": id }))).into_response(),
    };
    let h = response.headers_mut();
    for (name, value) in [
        (header::LOCATION, &mode.location),
        (header::RETRY_AFTER, &mode.retry_after),
    ] {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert(name, v);
        }
    }
    response
}

async fn stats(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Stats> {
    let with_ids = q.get("ids").is_some_and(|v| v == "true" || v == "1");
    Json(shared.book().stats(with_ids))
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.book().reset();
    StatusCode::NO_CONTENT
}

async fn mode(State(shared): State<Arc<Shared>>) -> Json<Mode> {
    Json(shared.book().current_mode(Instant::now()))
}

async fn set_mode(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let mode: Mode = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("mode: {e}")),
    };
    if let Err(e) = mode.validate() {
        return problem(StatusCode::BAD_REQUEST, e);
    }
    shared.book().set_mode(mode.clone(), Instant::now());
    tracing::info!(?mode, "receiver mode set");
    Json(mode).into_response()
}

/// `{"secrets": ["whsec_…"], "replace": false}`: the secrets to verify with (added by default).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsBody {
    secrets: Vec<String>,
    #[serde(default)]
    replace: bool,
}

async fn set_secrets(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: SecretsBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("secrets: {e}")),
    };
    let parsed: Result<Vec<Secret>, _> = req.secrets.iter().map(|s| Secret::parse(s)).collect();
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("secrets: {e}")),
    };
    let mut secrets = shared
        .secrets
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    if req.replace {
        secrets.clear();
    }
    for s in parsed {
        if !secrets.contains(&s) {
            secrets.push(s);
        }
    }
    Json(json!({ "secrets": secrets.len() })).into_response()
}
