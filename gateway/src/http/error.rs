//! One mapping from outcomes to HTTP: handlers return [`ApiError`] or a job view, and the code
//! catalogue picks status, title and body. 5xx bodies stay opaque; their cause is logged once.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use routeq_shared::Code;
use routeq_shared::job::JobRecord;
use routeq_shared::problem::{FieldError, Problem};

use super::RequestId;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// `true` on the answer of a job that has ended (its body will not change), `false` while it is
/// queued or running.
pub const JOB_FINAL: &str = "job-final";

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub request_id: String,
    pub retry_after_s: Option<u64>,
    /// The job the answer is about (its `id` and `Location`).
    pub job_id: Option<String>,
    /// A status other than the code's (only `STATION_NOT_FOUND` on a path naming no station).
    pub status: Option<StatusCode>,
}

impl ApiError {
    pub fn new(code: Code, request_id: &RequestId, detail: impl Into<String>) -> ApiError {
        ApiError {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            request_id: request_id.0.clone(),
            retry_after_s: None,
            job_id: None,
            status: None,
        }
    }

    /// Answers with `status` instead of the code's: a resource path naming nothing is 404
    /// whatever the code's status is where a body names it.
    pub fn status(mut self, status: StatusCode) -> ApiError {
        self.status = Some(status);
        self
    }

    pub fn fields(mut self, errors: Vec<FieldError>) -> ApiError {
        self.errors = errors;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after_s = Some(seconds);
        self
    }

    /// The answer is about job `id` (its `id` member and `Location` header).
    pub fn job(mut self, id: &str) -> ApiError {
        self.job_id = Some(id.to_string());
        self
    }

    /// A submission Redis did not confirm (it may have been applied): 503 `SUBMIT_UNCONFIRMED`
    /// with the job's id. The cause is logged here.
    pub fn unconfirmed(
        request_id: &RequestId,
        id: &str,
        cause: &dyn std::fmt::Display,
    ) -> ApiError {
        tracing::warn!(request_id = %request_id.0, job_id = %id, error = %cause, "submission not confirmed");
        ApiError::new(
            Code::SubmitUnconfirmed,
            request_id,
            format!(
                "Redis did not confirm this submission in time: job {id} may or may not exist. Retry with the same Idempotency-Key to get the one job either way (without a key, GET its Location first)"
            ),
        )
        .retry_after(1)
        .job(id)
    }

    /// Redis could not be reached or answered garbage: 503, retry shortly. The cause is logged here.
    pub fn queue_unavailable(request_id: &RequestId, cause: &dyn std::fmt::Display) -> ApiError {
        tracing::warn!(request_id = %request_id.0, error = %cause, "queue unavailable");
        ApiError::new(
            Code::QueueUnavailable,
            request_id,
            "the job queue cannot be reached; try again shortly",
        )
        .retry_after(1)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut problem = Problem::new(self.code, self.detail).with_errors(self.errors);
        problem.request_id = self.request_id;
        let location = self
            .job_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(&format!("/v1/routes/{id}")).ok());
        problem.id = self.job_id.unwrap_or_default();
        let status = self.status.unwrap_or_else(|| {
            StatusCode::from_u16(self.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        });
        problem.status = status.as_u16();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(loc) = location {
            headers.insert(header::LOCATION, loc);
        }
        (status, headers, axum::Json(problem)).into_response()
    }
}

/// Answers with a job: its status is the status of its code; error outcomes are problem+json.
pub fn job_response(job: &JobRecord, mut headers: HeaderMap) -> Response {
    let status =
        StatusCode::from_u16(job.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.as_u16() >= 400 {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    } else {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    // Only an unfinished job invites another look; a final answer (even a 5xx) carries no
    // Retry-After and says `Job-Final: true`, so retry-on-5xx middleware can stop.
    if job.state.is_terminal() {
        headers.remove(header::RETRY_AFTER);
        headers.insert(JOB_FINAL, HeaderValue::from_static("true"));
    } else {
        headers.insert(JOB_FINAL, HeaderValue::from_static("false"));
        if job.code.is_pending() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
        }
    }
    match job.body() {
        Ok(body) => (status, headers, body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, job_id = %job.id, "job view did not serialise");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
