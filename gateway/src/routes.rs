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
use crate::auth::Tenant;
use crate::error::{ApiError, RequestId, job_response};
use crate::metrics as m;
use crate::validate;
use crate::waiters::{Armed, WaitGuard};
use routeq_shared::job::JobView;
use routeq_shared::problem::Problem;

/// `POST /v1/routes`: validate, enqueue, answer 202 (or the finished job with `Prefer: wait=N`).
#[utoipa::path(
    post,
    path = "/v1/routes",
    tag = "routes",
    summary = "Submit a route job",
    description = "Validates and enqueues a route job and answers 202 with its Location. With `Prefer: wait=N` the request is held up to N seconds and answers with the finished job. A retry with the same `Idempotency-Key` and request returns the original job.",
    request_body(content = crate::openapi::SubmitRoute, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1-255 visible ASCII characters; a retry with the same key and request returns the same job"),
        ("Prefer" = Option<String>, Header, description = "`wait=N` (RFC 7240): hold the request up to N seconds for the result"),
        ("X-Request-Id" = Option<String>, Header, description = "Echoed on the response and stored with the job"),
    ),
    responses(
        (status = 200, description = "`ROUTE_OK`: the job finished in time with a route (with `Prefer: wait`, or a replay of a finished job)", body = JobView),
        (status = 202, description = "`JOB_QUEUED`, `JOB_RUNNING`: accepted; poll the Location", body = JobView,
            headers(("Location" = String, description = "/v1/routes/{id}"), ("Retry-After" = u64, description = "Seconds before polling again"))),
        (status = 400, description = "`MALFORMED_JSON`, `INVALID_PARAMETER` (a bad Idempotency-Key)", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "`REQUEST_TIMEOUT`: the body did not arrive within --body-deadline-ms", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: send application/json", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED`, `TENANT_QUEUE_FULL`: see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`JOB_CANCELLED`: the job was cancelled and will never hold a route", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`INVALID_FIELD`, `IDEMPOTENCY_KEY_REUSED`, `ADDRESS_NOT_FOUND`, `NO_ROUTE`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`PROVIDER_ERROR`; a `fallback` estimate may be attached", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`PROVIDER_UNAVAILABLE` (a `fallback` estimate may be attached), `QUEUE_UNAVAILABLE`, `STORE_UNAVAILABLE`, `QUEUE_SATURATED`", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`PROVIDER_TIMEOUT` (a `fallback` estimate may be attached), `JOB_EXPIRED`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`UNAUTHORIZED`: no valid `Authorization: Bearer` key (with --auth keys)", body = Problem, content_type = "application/problem+json"),
        (status = 431, description = "`HEADERS_TOO_LARGE`: request headers over --max-header-bytes", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`INTERNAL_ERROR`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn submit(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let outcome = submit_inner(&app, &rid, &tenant, &headers, body).await;
    let label = match &outcome {
        Ok((_, label)) => *label,
        Err(e) => match e.code {
            Code::IdempotencyKeyReused => "key_reused",
            Code::QueueSaturated => "saturated",
            Code::TenantQueueFull => "tenant_full",
            Code::RateLimited => "rate_limited",
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
    tenant: &Tenant,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Response, &'static str), ApiError> {
    require_json(headers, rid)?;
    let idempotency_key = idempotency_key(headers, rid)?;
    let wait = prefer_wait(headers, app.cfg.max_wait_s);
    let bytes = read_body(body, app.cfg.max_body_bytes, app.cfg.body_deadline_ms, rid).await?;
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

    admit(app, &request, rid)?;
    let id = uuid::Uuid::now_v7().to_string();
    let tenant_cap = tenant.max_queued;
    let tenant = tenant.id.as_str();
    let submitted_ms = now_ms();
    let job = NewJob {
        id: &id,
        tenant,
        request_id: &rid.0,
        request: &request,
        idempotency_key: idempotency_key.as_deref(),
        submitted_ms,
        max_open: tenant_cap,
    };
    // `Prefer: wait`: register and arm the wake-up before the job exists, so a completion that
    // comes before the answer to the submit is not missed and a new job needs no first read.
    let waiting = wait
        .and_then(|_| wait_slot(app))
        .map(|slot| (slot, app.waiters.register(&id)));
    let armed = waiting.as_ref().map(|(_, guard)| guard.arm());
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
        Submitted::TenantFull(open) => {
            return Err(ApiError::new(
                Code::TenantQueueFull,
                rid,
                format!("this tenant already has {open} unfinished jobs, its limit"),
            )
            .retry_after(1));
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

    let queued = || JobRecord {
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
    };
    // A new job: it is queued, and the armed wake-up covers everything since the submit.
    let waited = match (wait, armed, &waiting) {
        (Some(w), Some(armed), Some((_, guard))) if !replayed => {
            let first = Some((armed, queued()));
            Some(wait_loop(app, tenant, &job_id, guard, first, Instant::now() + w).await)
        }
        _ => None,
    };
    drop(waiting);
    let record = match (waited, wait) {
        (Some(waited), _) => waited.map_err(|e| ApiError::queue_unavailable(rid, &e))?,
        // A replay: the original job, waited for like a GET would.
        (None, Some(w)) if replayed => wait_for(app, tenant, &job_id, w)
            .await
            .map_err(|e| ApiError::queue_unavailable(rid, &e))?,
        (None, _) if replayed => app
            .store
            .get(tenant, &job_id)
            .await
            .map_err(|e| ApiError::queue_unavailable(rid, &e))?,
        // No wait asked, or every wait slot was taken: the job as it is now.
        (None, _) => Some(queued()),
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

/// Admission control: refuse a job the measured backlog predicts cannot start before its deadline.
fn admit(
    app: &AppState,
    request: &routeq_shared::job::RouteRequest,
    rid: &RequestId,
) -> Result<(), ApiError> {
    use std::sync::atomic::Ordering::Relaxed;
    if !app.cfg.admission || !app.queue.sampled.load(Relaxed) {
        return Ok(());
    }
    let backlog = app.queue.length.load(Relaxed);
    let wait_ms = app.queue.predicted_wait_ms.load(Relaxed);
    if backlog >= app.cfg.admission_min_backlog && wait_ms > request.deadline_ms {
        tracing::warn!(request_id = %rid.0, backlog, predicted_wait_ms = wait_ms, "job refused by admission control");
        return Err(ApiError::new(
            Code::QueueSaturated,
            rid,
            format!(
                "{backlog} jobs are queued and the predicted wait ({} s) exceeds this job's deadline ({} s)",
                wait_ms / 1000,
                request.deadline_ms / 1000
            ),
        )
        .retry_after((wait_ms / 1000).clamp(1, 60)));
    }
    Ok(())
}

/// `GET /v1/routes/{id}[?wait=N]`.
#[utoipa::path(
    get,
    path = "/v1/routes/{id}",
    tag = "routes",
    summary = "Read a job",
    description = "202 while the job is queued or running, then the finished job with the status of its code. `?wait=N` long-polls up to N seconds. Another tenant's job answers exactly like an unknown one.",
    params(
        ("id" = String, Path, description = "The job id"),
        ("wait" = Option<f64>, Query, minimum = 0, maximum = 60, description = "Seconds to wait for the job to finish"),
    ),
    responses(
        (status = 200, description = "`ROUTE_OK`: the route", body = JobView),
        (status = 202, description = "`JOB_QUEUED`, `JOB_RUNNING`", body = JobView, headers(("Retry-After" = u64, description = "Seconds before polling again"))),
        (status = 400, description = "`INVALID_PARAMETER`: a bad or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`JOB_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`JOB_CANCELLED`: the job was cancelled and will never hold a route", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`INVALID_FIELD`, `IDEMPOTENCY_KEY_REUSED`, `ADDRESS_NOT_FOUND`, `NO_ROUTE`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`PROVIDER_ERROR`; a `fallback` estimate may be attached", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`PROVIDER_UNAVAILABLE` (a `fallback` estimate may be attached), `QUEUE_UNAVAILABLE`, `STORE_UNAVAILABLE`, `QUEUE_SATURATED`", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`PROVIDER_TIMEOUT` (a `fallback` estimate may be attached), `JOB_EXPIRED`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`UNAUTHORIZED`: no valid `Authorization: Bearer` key (with --auth keys)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED`: this tenant exceeded its request rate; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 431, description = "`HEADERS_TOO_LARGE`: request headers over --max-header-bytes", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`INTERNAL_ERROR`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_job(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let wait = query_wait(query.as_deref(), app.cfg.max_wait_s, &rid)?;
    let tenant = tenant.id.as_str();
    if !plausible_id(&id) {
        return Err(not_found(&rid));
    }
    let record = match wait {
        Some(w) if !w.is_zero() => wait_for(&app, tenant, &id, w).await,
        _ => app.store.get(tenant, &id).await,
    }
    .map_err(|e| ApiError::queue_unavailable(&rid, &e))?;
    let record = match record {
        Some(r) => Some(r),
        None => from_history(&app, tenant, &id, &rid).await?,
    };
    match record {
        Some(r) => Ok(job_response(&r.view(), HeaderMap::new())),
        None => Err(not_found(&rid)),
    }
}

/// `DELETE /v1/routes/{id}`: cancel a queued job (204), idempotently.
#[utoipa::path(
    delete,
    path = "/v1/routes/{id}",
    tag = "routes",
    summary = "Cancel a queued job",
    description = "Cancels a job no worker has started; cancelling a cancelled job again is also 204.",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, description = "`JOB_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`JOB_NOT_CANCELLABLE`: the job is running or has ended", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`QUEUE_UNAVAILABLE`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`UNAUTHORIZED`: no valid `Authorization: Bearer` key (with --auth keys)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED`: this tenant exceeded its request rate; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 431, description = "`HEADERS_TOO_LARGE`: request headers over --max-header-bytes", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`INTERNAL_ERROR`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_job(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !plausible_id(&id) {
        return Err(not_found(&rid));
    }
    let tenant = tenant.id.as_str();
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
    let ping = tokio::time::timeout(Duration::from_secs(1), async {
        app.store.ping().await?;
        app.store.records_backlog().await
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

/// A job that left Redis (its TTL passed) is read from its durable record, with the same body.
async fn from_history(
    app: &AppState,
    tenant: &str,
    id: &str,
    rid: &RequestId,
) -> Result<Option<JobRecord>, ApiError> {
    let Some(db) = &app.db else { return Ok(None) };
    routeq_shared::db::get_job(db, tenant, id).await.map_err(|e| {
        tracing::warn!(request_id = %rid.0, job_id = %id, error = %e, "job history unavailable");
        ApiError::new(Code::StoreUnavailable, rid, "the job is not in the queue and its history cannot be read now")
            .retry_after(1)
    })
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
    // A bounded number of requests wait at once; beyond it, answer with the job as it is.
    let Some(_slot) = wait_slot(app) else {
        return app.store.get(tenant, id).await;
    };
    let guard = app.waiters.register(id);
    wait_loop(app, tenant, id, &guard, None, Instant::now() + timeout).await
}

/// One of the bounded wait slots, or `None` (counted) when every slot is taken.
fn wait_slot(app: &AppState) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let slot = app.wait_slots.clone().try_acquire_owned().ok();
    if slot.is_none() {
        metrics::counter!(m::WAITS_REFUSED).increment(1);
    }
    slot
}

/// The waiting itself: `first` is an already armed wake-up with the job as known when it was
/// armed (a job just created); otherwise each turn arms, then reads the store.
async fn wait_loop<'g>(
    app: &AppState,
    tenant: &str,
    id: &str,
    guard: &'g WaitGuard,
    mut first: Option<(Armed<'g>, JobRecord)>,
    until: Instant,
) -> Result<Option<JobRecord>, StoreError> {
    loop {
        let (armed, record) = match first.take() {
            Some((armed, record)) => (armed, Some(record)),
            None => {
                let armed = guard.arm();
                (armed, app.store.get(tenant, id).await?)
            }
        };
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

async fn read_body(
    body: Body,
    limit: usize,
    deadline_ms: u64,
    rid: &RequestId,
) -> Result<Bytes, ApiError> {
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
    let read = tokio::time::timeout(
        Duration::from_millis(deadline_ms),
        axum::body::to_bytes(body, limit),
    );
    let Ok(read) = read.await else {
        return Err(ApiError::new(
            Code::RequestTimeout,
            rid,
            format!("the body did not arrive within {deadline_ms} ms"),
        ));
    };
    match read {
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

/// `GET /openapi.json`: the API description.
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::json(),
    )
}

/// `GET /docs`: the API description rendered by a page that loads nothing from elsewhere.
pub async fn docs() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::openapi::DOCS_HTML,
    )
}

/// `GET /_debug/panic` (only with the hidden --debug-panic-route): proves a panic becomes a 500.
pub async fn debug_panic() -> Response {
    panic!("forced panic (--debug-panic-route)")
}
