//! The provider-independent answer type, and each provider's fault bodies.

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

use crate::faults::{Outcome, Provider};

/// One provider answer, before latency is applied.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) outcome: Outcome,
    pub(crate) body: Bytes,
    pub(crate) content_type: &'static str,
    pub(crate) retry_after: Option<u64>,
}

pub(crate) const fn content_type(p: Provider) -> &'static str {
    match p {
        Provider::Osrm => "application/json; charset=UTF-8",
        Provider::Nominatim => "application/json; charset=utf-8",
        Provider::KakaoDirections | Provider::KakaoLocal => "application/json;charset=UTF-8",
    }
}

impl Reply {
    /// Serialises `value` as the body.
    pub(crate) fn json<T: Serialize>(
        p: Provider,
        status: StatusCode,
        outcome: Outcome,
        value: &T,
    ) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply {
                status,
                outcome,
                body: Bytes::from(body),
                content_type: content_type(p),
                retry_after: None,
            },
            // Serialising these plain structs cannot fail; answer like an internal error if
            // it ever did.
            Err(_) => fault(p, Fault::Error),
        }
    }

    /// A fixed body.
    pub(crate) fn fixed(
        p: Provider,
        status: StatusCode,
        outcome: Outcome,
        body: &'static str,
    ) -> Reply {
        Reply {
            status,
            outcome,
            body: Bytes::from_static(body.as_bytes()),
            content_type: content_type(p),
            retry_after: None,
        }
    }

    pub(crate) fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if let Some(s) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// The injected (or auth) failures, each in the provider's own error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Down,
    RateLimited,
    Quota,
    Error,
    Timeout,
    Unauthorized,
}

pub(crate) fn fault(p: Provider, f: Fault) -> Reply {
    use Fault as F;
    use Provider as P;
    let (status, outcome) = match f {
        F::Down => (StatusCode::SERVICE_UNAVAILABLE, Outcome::Down),
        F::RateLimited | F::Quota => (StatusCode::TOO_MANY_REQUESTS, Outcome::RateLimited),
        F::Error => (StatusCode::INTERNAL_SERVER_ERROR, Outcome::Error),
        F::Timeout => (StatusCode::GATEWAY_TIMEOUT, Outcome::Timeout),
        F::Unauthorized if p == P::Nominatim => (StatusCode::FORBIDDEN, Outcome::Unauthorized),
        F::Unauthorized => (StatusCode::UNAUTHORIZED, Outcome::Unauthorized),
    };
    let body = match (p, f) {
        (P::Osrm, F::Down) => {
            r#"{"code":"ServiceUnavailable","message":"The routing service is unavailable"}"#
        }
        (P::Osrm, F::RateLimited) => r#"{"code":"TooManyRequests","message":"Too many requests"}"#,
        (P::Osrm, F::Quota) => r#"{"code":"TooManyRequests","message":"Quota exceeded"}"#,
        (P::Osrm, F::Error) => r#"{"code":"InternalError","message":"Internal server error"}"#,
        (P::Osrm, F::Timeout) => r#"{"code":"Timeout","message":"Request timed out"}"#,
        (P::Osrm, F::Unauthorized) => r#"{"code":"Forbidden","message":"Access denied"}"#,

        (P::Nominatim, F::Down) => r#"{"error":{"code":503,"message":"Service Unavailable"}}"#,
        (P::Nominatim, F::RateLimited) => r#"{"error":{"code":429,"message":"Too Many Requests"}}"#,
        (P::Nominatim, F::Quota) => r#"{"error":{"code":429,"message":"Quota exceeded"}}"#,
        (P::Nominatim, F::Error) => r#"{"error":{"code":500,"message":"Internal Server Error"}}"#,
        (P::Nominatim, F::Timeout) => r#"{"error":{"code":504,"message":"Gateway Timeout"}}"#,
        (P::Nominatim, F::Unauthorized) => r#"{"error":{"code":403,"message":"Access blocked"}}"#,

        (P::KakaoDirections, F::Down) => r#"{"code":-9798,"msg":"서비스 점검중"}"#,
        (P::KakaoDirections, F::RateLimited | F::Quota) => {
            r#"{"code":-10,"msg":"API limit exceeded"}"#
        }
        (P::KakaoDirections, F::Error) => r#"{"code":-1,"msg":"Internal server error"}"#,
        (P::KakaoDirections, F::Timeout) => r#"{"code":-1,"msg":"Gateway timeout"}"#,
        (P::KakaoDirections, F::Unauthorized) => {
            r#"{"code":-401,"msg":"InvalidAccessKey: missing or wrong KakaoAK authorization"}"#
        }

        (P::KakaoLocal, F::Down) => {
            r#"{"errorType":"ServiceUnavailable","message":"service temporarily unavailable"}"#
        }
        (P::KakaoLocal, F::RateLimited) => {
            r#"{"errorType":"RequestThrottled","message":"API limit has been exceeded."}"#
        }
        (P::KakaoLocal, F::Quota) => {
            r#"{"errorType":"RequestThrottled","message":"daily quota has been exceeded."}"#
        }
        (P::KakaoLocal, F::Error) => {
            r#"{"errorType":"InternalServerError","message":"internal server error"}"#
        }
        (P::KakaoLocal, F::Timeout) => {
            r#"{"errorType":"GatewayTimeout","message":"gateway timeout"}"#
        }
        (P::KakaoLocal, F::Unauthorized) => {
            r#"{"errorType":"AccessDeniedError","message":"cannot find appkey"}"#
        }
    };
    Reply::fixed(p, status, outcome, body)
}
