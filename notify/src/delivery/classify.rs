//! What an attempt's result means: delivered, retry later, or give up on this event.
//!
//! The rule: **give up only when sending the same bytes again cannot succeed**.
//!
//! | result | verdict | opens the breaker |
//! | --- | --- | --- |
//! | 2xx | delivered | — |
//! | 3xx (never followed) | retry: the receiver's configuration may be fixed | no |
//! | 400, 413, 414, 415, 422 | permanent: the request itself is refused | no |
//! | 410 Gone | permanent: the receiver says the resource is gone for good | no |
//! | 408, 425, 429, 5xx | retry, honouring `Retry-After` (within a cap) | yes |
//! | other 4xx (401, 403, 404, 405, …) | retry: authentication, a route not deployed yet, a secret mid-rotation are the receiver's to fix | no |
//! | timeout, connection refused/reset, protocol error | retry | yes |
//! | name does not resolve | retry (DNS may answer later) | yes |
//! | resolves to a refused address | permanent (we will not send there) | no |
//!
//! Every failure, whatever its verdict, extends the endpoint's failing streak (see
//! [`super::health`]); a permanent one makes the event a dead letter at once (replayable).

use std::time::{Duration, SystemTime};

use crate::ssrf::SsrfError;

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A non-2xx, non-3xx answer.
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// A 3xx: never followed.
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// The connect or total timeout elapsed.
    Timeout,
    /// The connection could not be made (refused, reset, unreachable).
    Connect(String),
    /// Any other transport error (protocol, a body cut short).
    Transport(String),
    /// The host no longer passes the address policy, or does not resolve.
    Address(SsrfError),
}

impl Failure {
    /// A bounded label: `3xx`, `4xx`, `5xx`, `timeout`, `connect`, `transport`, `resolve`,
    /// `refused`.
    pub fn class(&self) -> &'static str {
        match self {
            Failure::Status { status, .. } if *status >= 500 => "5xx",
            Failure::Status { .. } => "4xx",
            Failure::Redirect { .. } => "3xx",
            Failure::Timeout => "timeout",
            Failure::Connect(_) => "connect",
            Failure::Transport(_) => "transport",
            Failure::Address(e) if e.is_resolution() => "resolve",
            Failure::Address(_) => "refused",
        }
    }

    /// True when a later attempt may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            Failure::Status { status, .. } => !matches!(status, 400 | 410 | 413 | 414 | 415 | 422),
            Failure::Address(e) => e.is_resolution(),
            Failure::Redirect { .. }
            | Failure::Timeout
            | Failure::Connect(_)
            | Failure::Transport(_) => true,
        }
    }

    /// True when the failure says the endpoint is down or overloaded (what the breaker counts).
    pub fn transient(&self) -> bool {
        match self {
            Failure::Status { status, .. } => matches!(status, 408 | 425 | 429) || *status >= 500,
            Failure::Address(e) => e.is_resolution(),
            Failure::Timeout | Failure::Connect(_) | Failure::Transport(_) => true,
            Failure::Redirect { .. } => false,
        }
    }

    /// The receiver's `Retry-After`, if it sent one with a status that asks for a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (a date in the past is "now").
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The bounded label of an HTTP status: `2xx`…`5xx`.
pub(crate) fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> Failure {
        Failure::Status {
            status: s,
            retry_after: None,
        }
    }

    #[test]
    fn statuses() {
        for s in [400, 410, 413, 414, 415, 422] {
            assert!(!status(s).retryable(), "{s}");
            assert!(!status(s).transient(), "{s}");
        }
        for s in [401, 403, 404, 405, 409] {
            assert!(status(s).retryable(), "{s}");
            assert!(!status(s).transient(), "{s}");
        }
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(status(s).retryable(), "{s}");
            assert!(status(s).transient(), "{s}");
        }
        let redirect = Failure::Redirect {
            status: 302,
            location: None,
        };
        assert!(redirect.retryable() && !redirect.transient());
        assert_eq!(redirect.class(), "3xx");
        assert_eq!(status(503).class(), "5xx");
        assert_eq!(status(404).class(), "4xx");
    }

    #[test]
    fn address_failures() {
        let refused = Failure::Address(SsrfError::Refused {
            host: "x".into(),
            addr: "10.0.0.1".parse().unwrap(),
            class: crate::ssrf::AddrClass::Private,
        });
        assert!(!refused.retryable() && !refused.transient());
        assert_eq!(refused.class(), "refused");
        let nx = Failure::Address(SsrfError::Resolve {
            host: "x".into(),
            detail: "nx".into(),
        });
        assert!(nx.retryable() && nx.transient());
        assert_eq!(nx.class(), "resolve");
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
        let later = "Wed, 21 Oct 2015 07:29:00 GMT";
        assert_eq!(parse_retry_after(later, now), Some(Duration::from_secs(60)));
        let past = "Wed, 21 Oct 2015 07:27:00 GMT";
        assert_eq!(parse_retry_after(past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
