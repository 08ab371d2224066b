//! Typed pieces of a request, parsed once at the edge: the JSON content type and body, the
//! `Idempotency-Key`, `Prefer: wait=N` and `?wait=N`. Each refuses with an [`ApiError`] naming the
//! header, parameter or body at fault.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use routeq_shared::Code;
use routeq_shared::problem::FieldError;

use super::{ApiError, RequestId};

/// `Content-Type: application/json` (parameters such as `charset` allowed).
pub fn require_json(headers: &HeaderMap, rid: &RequestId) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if ok {
        return Ok(());
    }
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

/// An `Idempotency-Key`: 1–255 visible ASCII characters (surrounding quotes dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    /// The key a request carries, `None` without one.
    pub fn from_headers(
        headers: &HeaderMap,
        rid: &RequestId,
    ) -> Result<Option<IdempotencyKey>, ApiError> {
        let Some(v) = headers.get("idempotency-key") else {
            return Ok(None);
        };
        let bad = |why: &str| {
            ApiError::new(
                Code::InvalidParameter,
                rid,
                format!("Idempotency-Key {why}"),
            )
            .fields(vec![FieldError::new("Idempotency-Key", "invalid", why)])
        };
        let s = v.to_str().map_err(|_| bad("must be visible ASCII"))?;
        let s = s.trim().trim_matches('"');
        if s.is_empty() || s.len() > 255 {
            return Err(bad("must be 1 to 255 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("must be visible ASCII without spaces"));
        }
        Ok(Some(IdempotencyKey(s.to_string())))
    }
}

/// `Prefer: wait=N` (RFC 7240), capped at `--max-wait-s`. A preference: anything unusable is
/// ignored, never refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreferWait(pub Option<Duration>);

impl PreferWait {
    pub fn from_headers(headers: &HeaderMap, max_wait_s: u64) -> PreferWait {
        PreferWait(
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
                .map(|s| Duration::from_secs(s.min(max_wait_s))),
        )
    }
}

/// `?wait=N` on a GET: seconds (decimals allowed) between 0 and `--max-wait-s`; no other query
/// parameter is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitQuery(pub Option<Duration>);

impl WaitQuery {
    pub fn parse(
        query: Option<&str>,
        max_wait_s: u64,
        rid: &RequestId,
    ) -> Result<WaitQuery, ApiError> {
        let Some(query) = query.filter(|q| !q.is_empty()) else {
            return Ok(WaitQuery(None));
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
            let Some(s) = secs else {
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
            };
            wait = Some(Duration::from_secs_f64(s));
        }
        Ok(WaitQuery(wait))
    }
}

/// Reads a whole body of at most `limit` bytes within `deadline` and parses it as JSON.
pub async fn json_body(
    body: Body,
    limit: usize,
    deadline: Duration,
    rid: &RequestId,
) -> Result<serde_json::Value, ApiError> {
    let bytes = read_body(body, limit, deadline, rid).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            Code::MalformedJson,
            rid,
            format!("the body is not valid JSON: {e}"),
        )
    })
}

async fn read_body(
    body: Body,
    limit: usize,
    deadline: Duration,
    rid: &RequestId,
) -> Result<Bytes, ApiError> {
    let Ok(read) = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await else {
        return Err(ApiError::new(
            Code::RequestTimeout,
            rid,
            format!("the body did not arrive within {} ms", deadline.as_millis()),
        ));
    };
    read.map_err(|e| {
        let inner = e.into_inner();
        let too_large = inner
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
            || inner
                .source()
                .and_then(|s| s.downcast_ref::<http_body_util::LengthLimitError>())
                .is_some();
        if too_large {
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
        } else {
            ApiError::new(
                Code::MalformedJson,
                rid,
                "the request body could not be read",
            )
        }
    })
}
