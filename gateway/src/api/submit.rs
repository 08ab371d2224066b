//! `POST /v1/routes`: parse the submission at the edge, admit it, enqueue it with one script, and
//! answer 202 — or, with `Prefer: wait=N`, the finished job when it ends in time.

use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use routeq_shared::Code;
use routeq_shared::job::{JobRecord, JobState, RouteRequest, now_ms};
use routeq_shared::metrics::http as m;
use routeq_shared::problem::FieldError;
use routeq_shared::redis::StoreError;
use routeq_shared::redis::scripts::Submitted;
use routeq_shared::redis::store::NewJob;
use routeq_shared::telemetry::trace;
use tracing::Instrument;

use crate::auth::Tenant;
use crate::http::extract::{IdempotencyKey, PreferWait, json_body, require_json};
use crate::http::{ApiError, RequestId, job_response};
use crate::queue::admission::Admission;
use crate::state::AppState;

/// Every code `POST /v1/routes` can answer with.
pub const ANSWERS: &[Code] = &[
    Code::RouteOk,
    Code::JobQueued,
    Code::JobRunning,
    Code::MalformedJson,
    Code::InvalidParameter,
    Code::Unauthorized,
    Code::RequestTimeout,
    Code::JobCancelled,
    Code::PayloadTooLarge,
    Code::UnsupportedMediaType,
    Code::InvalidField,
    Code::IdempotencyKeyReused,
    Code::AddressNotFound,
    Code::NoRoute,
    Code::StationNotFound,
    Code::StationRetired,
    Code::NoStationNearby,
    Code::RateLimited,
    Code::TenantQueueFull,
    Code::HeadersTooLarge,
    Code::InternalError,
    Code::ProviderError,
    Code::ProviderUnavailable,
    Code::QueueUnavailable,
    Code::SubmitUnconfirmed,
    Code::QueueSaturated,
    Code::StationsUnavailable,
    Code::ProviderTimeout,
    Code::JobExpired,
];

super::openapi::answers!(
    /// The responses of `POST /v1/routes`, from [`ANSWERS`].
    SubmitAnswers,
    ANSWERS,
    None
);

/// A submission, parsed and validated: nothing past this point sees raw input.
#[derive(Debug)]
pub struct Submission {
    pub key: Option<IdempotencyKey>,
    pub wait: PreferWait,
    pub request: RouteRequest,
    /// The webhooks to notify when the job ends (api/webhooks/selection.rs).
    pub webhooks: String,
}

impl FromRequest<AppState> for Submission {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &AppState) -> Result<Submission, ApiError> {
        let rid = RequestId::of(req.extensions());
        let (parts, body) = req.into_parts();
        require_json(&parts.headers, &rid)?;
        let key = IdempotencyKey::from_headers(&parts.headers, &rid)?;
        let wait = PreferWait::from_headers(&parts.headers, app.cfg.max_wait_s);
        let deadline = Duration::from_millis(app.cfg.body_deadline_ms);
        let value = json_body(body, app.cfg.max_body_bytes, deadline, &rid).await?;
        let request = super::body::route_request(&value, &app.limits).map_err(|errors| {
            ApiError::new(
                Code::InvalidField,
                &rid,
                "the route request has invalid fields",
            )
            .fields(errors)
        })?;
        super::stations::place::check(app, &request, &rid).await?;
        let tenant = parts
            .extensions
            .get::<Tenant>()
            .map(|t| t.id.clone())
            .unwrap_or_default();
        let webhooks = super::webhooks::selection(app, &tenant, &value, &rid).await?;
        Ok(Submission {
            key,
            wait,
            request,
            webhooks,
        })
    }
}

/// `POST /v1/routes`: validate, enqueue, answer 202 (or the finished job with `Prefer: wait=N`).
#[utoipa::path(
    post,
    path = "/v1/routes",
    tag = "routes",
    summary = "Submit a route job",
    description = "Validates and enqueues a route job and answers 202 with its Location. With `Prefer: wait=N` the request is held up to N seconds and answers with the finished job. A retry with the same `Idempotency-Key` and request returns the original job.",
    request_body(content = routeq_shared::job::RouteRequest, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1-255 visible ASCII characters; a retry with the same key and request returns the same job"),
        ("Prefer" = Option<String>, Header, description = "`wait=N` (RFC 7240): hold the request up to N seconds for the result"),
        ("X-Request-Id" = Option<String>, Header, description = "Echoed on the response and stored with the job"),
    ),
    responses(SubmitAnswers)
)]
pub async fn submit(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    submission: Result<Submission, ApiError>,
) -> Result<Response, ApiError> {
    let outcome = match submission {
        Ok(s) => accept(&app, &rid, &tenant, s).await,
        Err(e) => Err(e),
    };
    let label = match &outcome {
        Ok((_, label)) => *label,
        Err(e) => match e.code {
            Code::IdempotencyKeyReused => "key_reused",
            Code::QueueSaturated => "saturated",
            Code::TenantQueueFull => "tenant_full",
            Code::RateLimited => "rate_limited",
            Code::QueueUnavailable => "unavailable",
            Code::SubmitUnconfirmed => "unconfirmed",
            _ => "invalid",
        },
    };
    metrics::counter!(m::SUBMISSIONS.name, "outcome" => label).increment(1);
    outcome.map(|(r, _)| r)
}

async fn accept(
    app: &AppState,
    rid: &RequestId,
    tenant: &Tenant,
    s: Submission,
) -> Result<(Response, &'static str), ApiError> {
    Admission::new(&app.cfg).admit(&app.queue, s.request.deadline_ms, rid)?;
    let keys = app.store.keys();
    let partitions = keys.partitions();
    // A keyed submission always goes to its key's partition (so every retry finds the key); an
    // unkeyed one takes the next partition in turn, and the next again while one is at its
    // share of a cap.
    let (first, tries) = match &s.key {
        Some(k) => (keys.partition_for_key(&tenant.id, &k.0), 1),
        None => {
            let turn = app.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ((turn % usize::from(partitions)) as u16, partitions)
        }
    };
    let submitted_ms = now_ms();
    let wait = s.wait.0;
    // The request span's context, for the worker to continue ("" when traces are off).
    let trace_context = trace::current_carrier();
    // Serialised once: the script stores it, the answer shows it.
    let request_json = s.request.canonical_json();
    let mut attempt = 0;
    let (id, submitted, watch) = loop {
        let id = keys.new_job_id(first + attempt);
        let job = NewJob {
            id: &id,
            tenant: &tenant.id,
            request_id: &rid.0,
            request: &s.request,
            request_json: &request_json,
            idempotency_key: s.key.as_ref().map(|k| k.0.as_str()),
            submitted_ms,
            max_open: tenant.max_queued,
            webhooks: &s.webhooks,
            trace: &trace_context,
            wait: wait.is_some(),
        };
        // `Prefer: wait`: arm the wake-up before the job exists, so a completion that comes
        // before the answer to the submit is not missed and a new job needs no first read.
        let watch = wait.and_then(|_| app.waiters.watch(&id));
        let submitted = submit_one(app, &job, rid)
            .instrument(tracing::info_span!(target: trace::TARGET, "queue.submit", job_id = %id))
            .await?;
        attempt += 1;
        match submitted {
            Submitted::TenantFull(_) | Submitted::Saturated(_) if attempt < tries => continue,
            other => break (id, other, watch),
        }
    };
    let (job_id, replayed, label) = match submitted {
        Submitted::Created(id) => (id, false, "accepted"),
        Submitted::Replayed(id) => (id, true, "replayed"),
        Submitted::KeyReused(_) => return Err(key_reused(rid)),
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
    debug_assert!(replayed || job_id == id);
    let queued = JobRecord {
        id: job_id.clone(),
        tenant: tenant.id.clone(),
        request_id: rid.0.clone(),
        request_json,
        state: JobState::Queued,
        code: Code::JobQueued,
        submitted_ms,
        deadline_ms: submitted_ms + s.request.deadline_ms,
        started_ms: 0,
        finished_ms: 0,
        attempts: 0,
        outcome: None,
    };
    let store = &app.store;
    let record = match (wait, watch) {
        // A new job: it is queued, and the armed wake-up covers everything since the submit.
        // Once it exists, the answer names it: a failed re-read answers it as queued (202 with
        // its Location), never an error a client would answer by submitting it again.
        (Some(w), Some(watch)) if !replayed => match watch
            .until_done(
                store,
                &tenant.id,
                Some(queued.clone()),
                Instant::now() + w,
                &app.shutdown,
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(request_id = %rid.0, job_id = %job_id, error = %e, "re-reading a created job failed during the wait; answering it as queued");
                Some(queued)
            }
        },
        // A replay: the original job, waited for like a GET would.
        (Some(w), _) if replayed => app
            .waiters
            .wait(store, &tenant.id, &job_id, w, &app.shutdown)
            .await
            .map_err(|e| ApiError::queue_unavailable(rid, &e).job(&job_id))?,
        _ if replayed => store
            .get(&tenant.id, &job_id)
            .await
            .map_err(|e| ApiError::queue_unavailable(rid, &e).job(&job_id))?,
        // No wait asked, or every wait slot was taken: the job as it is now.
        _ => Some(queued),
    };
    // A replay whose job left Redis (its hash is kept as long as the key, so only if Redis lost
    // it): the durable record answers; without one, the answer still names the original job.
    let record = match record {
        Some(r) => r,
        None => super::jobs::from_history(app, &tenant.id, &job_id, rid)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    Code::JobNotFound,
                    rid,
                    format!("this Idempotency-Key names job {job_id}, whose record is gone; do not resubmit it under a new key unless you mean a new job"),
                )
                .job(&job_id)
            })?,
    };
    if !replayed {
        tracing::info!(request_id = %rid.0, job_id = %job_id, "job accepted");
    }
    Ok((
        job_response(&record, headers(&job_id, replayed, wait)),
        label,
    ))
}

/// One submission to Redis: through the shared connection, or, with --submit-replicas, through
/// a connection of its own followed by `WAIT`. A failure where the script may have run anyway (a
/// timeout, a dropped connection, replicas that did not confirm) is `SUBMIT_UNCONFIRMED` with the
/// job's id; one where it certainly did not (the connection was refused, or Redis refused the
/// write) is `QUEUE_UNAVAILABLE`.
async fn submit_one(
    app: &AppState,
    job: &NewJob<'_>,
    rid: &RequestId,
) -> Result<Submitted, ApiError> {
    // Nothing ran when the connection was refused, or when Redis answered with an error (the
    // script refuses before its first write: READONLY, NOREPLICAS…); otherwise nobody knows.
    let failed = |e: StoreError| match &e {
        StoreError::Redis(r) if r.is_connection_refusal() || r.code().is_some() => {
            ApiError::queue_unavailable(rid, &e)
        }
        StoreError::Reply(_) => ApiError::queue_unavailable(rid, &e),
        StoreError::Redis(_) => ApiError::unconfirmed(rid, job.id, &e),
    };
    let replicas = app.cfg.submit_replicas;
    if replicas == 0 || app.replicated.is_empty() {
        if !app.cfg.submit_batch {
            return app
                .store
                .submit(job, app.cfg.max_backlog)
                .await
                .map_err(failed);
        }
        // Preparing sends nothing the job depends on (at most a read of the tenant's endpoints).
        let call = app
            .store
            .prepare_submit(job)
            .await
            .map_err(|e| ApiError::queue_unavailable(rid, &e))?;
        return app.submits.submit(call).await.map_err(failed);
    }
    let turn = app.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let conn = &app.replicated[turn % app.replicated.len()];
    let (submitted, acked) = app
        .store
        .submit_replicated(
            conn,
            job,
            app.cfg.max_backlog,
            replicas,
            app.cfg.submit_replicas_timeout_ms,
        )
        .await
        .map_err(failed)?;
    if matches!(submitted, Submitted::Created(_)) && acked < u64::from(replicas) {
        return Err(ApiError::unconfirmed(
            rid,
            job.id,
            &format!("{acked} of {replicas} replicas confirmed"),
        ));
    }
    Ok(submitted)
}

fn key_reused(rid: &RequestId) -> ApiError {
    ApiError::new(
        Code::IdempotencyKeyReused,
        rid,
        "this Idempotency-Key was already used with a different request body",
    )
    .fields(vec![FieldError::new(
        "Idempotency-Key",
        "reused",
        "send a new key for a new request",
    )])
}

/// `Location`, `Idempotent-Replayed` and `Preference-Applied`.
fn headers(job_id: &str, replayed: bool, wait: Option<Duration>) -> HeaderMap {
    let mut out = HeaderMap::new();
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/routes/{job_id}")) {
        out.insert(header::LOCATION, loc);
    }
    if replayed {
        out.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let Some(w) = wait
        && let Ok(v) = HeaderValue::from_str(&format!("wait={}", w.as_secs()))
    {
        out.insert("preference-applied", v);
    }
    out
}
