//! `GET /v1/routes/{id}` (poll or long-poll) and `DELETE /v1/routes/{id}` (cancel).

use axum::Extension;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::job::{JobRecord, JobState, now_ms};
use routeq_shared::redis::scripts::Cancelled;

use crate::auth::Tenant;
use crate::http::extract::WaitQuery;
use crate::http::{ApiError, RequestId, job_response};
use crate::state::AppState;

/// Every code `GET /v1/routes/{id}` can answer with.
pub const GET_ANSWERS: &[Code] = &[
    Code::RouteOk,
    Code::JobQueued,
    Code::JobRunning,
    Code::InvalidParameter,
    Code::Unauthorized,
    Code::JobNotFound,
    Code::JobCancelled,
    Code::AddressNotFound,
    Code::NoRoute,
    Code::StationNotFound,
    Code::StationRetired,
    Code::NoStationNearby,
    Code::RateLimited,
    Code::HeadersTooLarge,
    Code::InternalError,
    Code::ProviderError,
    Code::ProviderUnavailable,
    Code::QueueUnavailable,
    Code::StoreUnavailable,
    Code::StationsUnavailable,
    Code::ProviderTimeout,
    Code::JobExpired,
];

/// Every code `DELETE /v1/routes/{id}` can answer with (besides 204).
pub const CANCEL_ANSWERS: &[Code] = &[
    Code::Unauthorized,
    Code::JobNotFound,
    Code::JobNotCancellable,
    Code::RateLimited,
    Code::HeadersTooLarge,
    Code::InternalError,
    Code::QueueUnavailable,
];

super::openapi::answers!(
    /// The responses of `GET /v1/routes/{id}`.
    GetAnswers,
    GET_ANSWERS,
    None
);
super::openapi::answers!(
    /// The responses of `DELETE /v1/routes/{id}`.
    CancelAnswers,
    CANCEL_ANSWERS,
    Some("Cancelled (or already cancelled)")
);

impl FromRequestParts<AppState> for WaitQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let RawQuery(query) = RawQuery::from_request_parts(parts, app)
            .await
            .unwrap_or(RawQuery(None));
        WaitQuery::parse(
            query.as_deref(),
            app.cfg.max_wait_s,
            &RequestId::of(&parts.extensions),
        )
    }
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
    responses(GetAnswers)
)]
pub async fn get_job(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    wait: WaitQuery,
) -> Result<Response, ApiError> {
    let tenant = tenant.id.as_str();
    if !plausible_id(&id) {
        return Err(not_found(&rid));
    }
    let record = match wait.0 {
        Some(w) if !w.is_zero() => {
            app.waiters
                .wait(&app.store, tenant, &id, w, &app.shutdown)
                .await
        }
        _ => app.store.get(tenant, &id).await,
    }
    .map_err(|e| ApiError::queue_unavailable(&rid, &e))?;
    let record = match record {
        Some(r) => Some(r),
        None => from_history(&app, tenant, &id, &rid).await?,
    };
    match record {
        Some(r) => Ok(job_response(&r, HeaderMap::new())),
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
    responses(CancelAnswers)
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
    match app
        .store
        .cancel(&tenant.id, &id, now_ms())
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

/// A job that left Redis (its TTL passed) is read from its durable record, with the same body.
pub(crate) async fn from_history(
    app: &AppState,
    tenant: &str,
    id: &str,
    rid: &RequestId,
) -> Result<Option<JobRecord>, ApiError> {
    let Some(db) = &app.db else { return Ok(None) };
    let timeout = std::time::Duration::from_millis(app.cfg.db.query_timeout_ms.max(1));
    let read = tokio::time::timeout(timeout, routeq_shared::db::get_job(db, tenant, id)).await;
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(request_id = %rid.0, job_id = %id, error = %e, "job history unavailable");
        ApiError::new(
            Code::StoreUnavailable,
            rid,
            "the job is not in the queue and its history cannot be read now",
        )
        .retry_after(1)
    };
    match read {
        Ok(r) => r.map_err(|e| unavailable(&e)),
        Err(_) => Err(unavailable(
            &"the history read took longer than --db-query-timeout-ms",
        )),
    }
}

fn not_found(rid: &RequestId) -> ApiError {
    ApiError::new(Code::JobNotFound, rid, "no such job")
}

/// Ids are UUIDs; anything else cannot be a job and is not worth a Redis round trip.
fn plausible_id(id: &str) -> bool {
    id.len() <= 64 && !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
