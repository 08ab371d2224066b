//! The HTTP handlers of API v1.

use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::job::{JobState, now_ms};
use routeq_shared::problem::FieldError;
use routeq_shared::store::{Cancelled, JobRecord, NewJob, StoreError, Submitted};

use crate::app::AppState;
use crate::error::{ApiError, RequestId, job_response};
use crate::metrics as m;
use crate::validate;

/// `POST /v1/routes`: validate, enqueue, answer 202 (or the finished job with `Prefer: wait=N`).
pub async fn submit(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let outcome = submit_inner(&app, &rid, &headers, body).await;
    let label = match &outcome {
        Ok((_, label)) => *label,
        Err(e) => match e.code {
            Code::IdempotencyKeyReused => "key_reused",
            Code::QueueSaturated => "saturated",
            Code::QueueUnavailable => "unavailable",
            _ => "invalid",
        },
    };
    metrics::counter!(m::SUBMISSIONS, "outcome" => label).increment(1);
    outcome.map(|(r, _)| r)
}

async fn submit_inner(
    app: &AppState,
    rid: &RequestId,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Response, &'static str), ApiError> {
    require_json(headers, rid)?;
    let idempotency_key = idempotency_key(headers, rid)?;
    let wait = prefer_wait(headers, app.cfg.max_wait_s);
    let bytes = read_body(body, app.cfg.max_body_bytes, rid).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            Code::MalformedJson,
            rid,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let request = validate::route_request(&value, &app.limits).map_err(|errors| {
        ApiError::new(
            Code::InvalidField,
            rid,
            "the route request has invalid fields",
        )
        .fields(errors)
    })?;

    let id = uuid::Uuid::now_v7().to_string();
    let tenant = app.cfg.default_tenant.as_str();
    let submitted_ms = now_ms();
    let job = NewJob {
        id: &id,
        tenant,
        request_id: &rid.0,
        request: &request,
        idempotency_key: idempotency_key.as_deref(),
        submitted_ms,
    };
    let submitted = app
        .store
        .submit(&job, app.cfg.max_backlog)
        .await
        .map_err(|e| ApiError::queue_unavailable(rid, &e))?;

    let (job_id, replayed, label) = match submitted {
        Submitted::Created(id) => (id, false, "accepted"),
        Submitted::Replayed(id) => (id, true, "replayed"),
        Submitted::KeyReused(_) => {
            return Err(ApiError::new(
                Code::IdempotencyKeyReused,
                rid,
                "this Idempotency-Key was already used with a different request body",
            )
            .fields(vec![FieldError::new(
                "Idempotency-Key",
                "reused",
                "send a new key for a new request",
            )]));
        }
        Submitted::Saturated(backlog) => {
            tracing::warn!(request_id = %rid.0, backlog, "queue saturated; job refused");
            return Err(ApiError::new(
                Code::QueueSaturated,
                rid,
                "the queue is full; try again later",
            )
            .retry_after(5));
        }
    };

    let mut out_headers = HeaderMap::new();
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/routes/{job_id}")) {
        out_headers.insert(header::LOCATION, loc);
    }
    if replayed {
        out_headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let Some(w) = wait
        && let Ok(v) = HeaderValue::from_str(&format!("wait={}", w.as_secs()))
    {
        out_headers.insert("preference-applied", v);
    }

    let record = match wait {
        Some(w) => wait_for(app, tenant, &job_id, w)
            .await
            .map_err(|e| ApiError::queue_unavailable(rid, &e))?,
        None if replayed => app
            .store
            .get(tenant, &job_id)
            .await
            .map_err(|e| ApiError::queue_unavailable(rid, &e))?,
        None => Some(JobRecord {
            id: job_id.clone(),
            tenant: tenant.to_string(),
            request_id: rid.0.clone(),
            request_json: request.canonical_json(),
            state: JobState::Queued,
            code: Code::JobQueued,
            submitted_ms,
            deadline_ms: submitted_ms + request.deadline_ms,
            started_ms: 0,
            finished_ms: 0,
            attempts: 0,
            outcome: None,
        }),
    };
    let Some(record) = record else {
        // Only possible if the record expired between the script and this read.
        return Err(ApiError::new(Code::JobNotFound, rid, "the job expired"));
    };
    if !replayed {
        tracing::info!(request_id = %rid.0, job_id = %job_id, "job accepted");
    }
    Ok((job_response(&record.view(), out_headers), label))
}

/// `GET /v1/routes/{id}[?wait=N]`.
pub async fn get_job(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let wait = query_wait(query.as_deref(), app.cfg.max_wait_s, &rid)?;
    let tenant = app.cfg.default_tenant.as_str();
    if !plausible_id(&id) {
        return Err(not_found(&rid));
    }
    let record = match wait {
        Some(w) if !w.is_zero() => wait_for(&app, tenant, &id, w).await,
        _ => app.store.get(tenant, &id).await,
    }
    .map_err(|e| ApiError::queue_unavailable(&rid, &e))?;
    match record {
        Some(r) => Ok(job_response(&r.view(), HeaderMap::new())),
        None => Err(not_found(&rid)),
    }
}

/// `DELETE /v1/routes/{id}`: cancel a queued job (204), idempotently.
pub async fn cancel_job(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !plausible_id(&id) {
        return Err(not_found(&rid));
    }
    let tenant = app.cfg.default_tenant.as_str();
    match app
        .store
        .cancel(tenant, &id, now_ms())
        .await
        .map_err(|e| ApiError::queue_unavailable(&rid, &e))?
    {
        Cancelled::Cancelled | Cancelled::NotCancellable(JobState::Cancelled) => {
            tracing::info!(request_id = %rid.0, job_id = %id, "job cancelled");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Cancelled::NotCancellable(state) => Err(ApiError::new(
            Code::JobNotCancellable,
            &rid,
            format!(
                "the job is {} and can no longer be cancelled",
                state.as_str()
            ),
        )),
        Cancelled::NotFound => Err(not_found(&rid)),
    }
}

pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Ready when Redis answers and the completion subscription is live.
pub async fn readyz(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
) -> Result<Response, ApiError> {
    let ping = tokio::time::timeout(Duration::from_secs(1), app.store.ping()).await;
    match ping {
        Ok(Ok(())) if app.waiters.is_subscribed() => Ok(axum::Json(
            serde_json::json!({"status": "ready", "redis": "ok", "subscription": "ok"}),
        )
        .into_response()),
        Ok(Ok(())) => Err(ApiError::new(
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
        app.metrics.render(),
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

fn not_found(rid: &RequestId) -> ApiError {
    ApiError::new(Code::JobNotFound, rid, "no such job")
}

/// Ids are UUIDs; anything else cannot be a job and is not worth a Redis round trip.
fn plausible_id(id: &str) -> bool {
    id.len() <= 64 && !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Waits until the job is terminal, `timeout` passes, or the gateway shuts down; returns the job
/// as last read. Arms the wake-up *before* each read, so a completion is never missed.
async fn wait_for(
    app: &AppState,
    tenant: &str,
    id: &str,
    timeout: Duration,
) -> Result<Option<JobRecord>, StoreError> {
    let guard = app.waiters.register(id);
    let until = Instant::now() + timeout;
    loop {
        let armed = guard.arm();
        let record = app.store.get(tenant, id).await?;
        match record {
            Some(r) if !r.state.is_terminal() && Instant::now() < until => {
                tokio::select! {
                    () = armed.wait() => continue,
                    () = tokio::time::sleep_until(until.into()) => return Ok(Some(r)),
                    () = app.shutdown.cancelled() => return Ok(Some(r)),
                }
            }
            other => return Ok(other),
        }
    }
}

fn require_json(headers: &HeaderMap, rid: &RequestId) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::UnsupportedMediaType,
            rid,
            "send the route request as Content-Type: application/json",
        )
        .fields(vec![FieldError::new(
            "Content-Type",
            "unsupported",
            "must be application/json",
        )]))
    }
}

fn idempotency_key(headers: &HeaderMap, rid: &RequestId) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = |why: &str| {
        ApiError::new(
            Code::InvalidParameter,
            rid,
            format!("Idempotency-Key {why}"),
        )
        .fields(vec![FieldError::new(
            "Idempotency-Key",
            "invalid",
            why.to_string(),
        )])
    };
    let s = v.to_str().map_err(|_| bad("must be visible ASCII"))?;
    let s = s.trim().trim_matches('"');
    if s.is_empty() || s.len() > 255 {
        return Err(bad("must be 1 to 255 characters"));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("must be visible ASCII without spaces"));
    }
    Ok(Some(s.to_string()))
}

/// `Prefer: wait=N` (RFC 7240): a preference, so anything unusable is ignored, and N is capped.
fn prefer_wait(headers: &HeaderMap, max_wait_s: u64) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|pref| {
            let (name, value) = pref.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("wait") {
                return None;
            }
            value.trim().trim_matches('"').parse::<u64>().ok()
        })
        .next()
        .filter(|&s| s > 0)
        .map(|s| Duration::from_secs(s.min(max_wait_s)))
}

fn query_wait(
    query: Option<&str>,
    max_wait_s: u64,
    rid: &RequestId,
) -> Result<Option<Duration>, ApiError> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    let mut wait = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "wait" {
            return Err(ApiError::new(
                Code::InvalidParameter,
                rid,
                format!("unknown query parameter {name:?}"),
            )
            .fields(vec![FieldError::new(
                name,
                "unknown_parameter",
                "only `wait` is accepted",
            )]));
        }
        let secs = value
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s <= max_wait_s as f64);
        match secs {
            Some(s) => wait = Some(Duration::from_secs_f64(s)),
            None => {
                return Err(ApiError::new(
                    Code::InvalidParameter,
                    rid,
                    "wait must be a number of seconds",
                )
                .fields(vec![FieldError::new(
                    "wait",
                    "out_of_range",
                    format!("must be a number of seconds between 0 and {max_wait_s}"),
                )]));
            }
        }
    }
    Ok(wait)
}

async fn read_body(body: Body, limit: usize, rid: &RequestId) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            Code::PayloadTooLarge,
            rid,
            format!("the body must be at most {limit} bytes"),
        )
        .fields(vec![FieldError::new(
            "body",
            "too_large",
            format!("at most {limit} bytes"),
        )])
    };
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(e) => {
            let inner = e.into_inner();
            if inner
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
                || inner
                    .source()
                    .and_then(|s| s.downcast_ref::<http_body_util::LengthLimitError>())
                    .is_some()
            {
                Err(too_large())
            } else {
                Err(ApiError::new(
                    Code::MalformedJson,
                    rid,
                    "the request body could not be read",
                ))
            }
        }
    }
}
