//! How a provider call can fail, classified by what to do next: a domain answer (no retry, 422,
//! never a breaker failure), a transient fault (retry while the deadline allows; counts toward
//! the breaker), or a permanent fault of ours or theirs (no retry, no breaker).

use std::time::Duration;

use routeq_shared::Code;

/// A provider failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The geocoder knows no such address (domain: 422 `ADDRESS_NOT_FOUND`).
    #[error("address not found")]
    NotFound,
    /// No route between the points (domain: 422 `NO_ROUTE`), with the provider's reason.
    #[error("no route: {0}")]
    NoRoute(String),
    /// The call did not finish within its timeout (transient).
    #[error("timed out")]
    Timeout,
    /// Connection refused or reset, 502/503/504 (transient).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 429: quota or rate limit; `retry_after` when the provider said (transient).
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    /// Another 5xx (transient).
    #[error("server error: {0}")]
    Server(String),
    /// A 2xx whose body we cannot read (a contract change or a truncated body; not retried).
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// A 4xx that means we sent something wrong: bad parameters, a bad or unauthorised key.
    #[error("refused: {0}")]
    Refused(String),
    /// 401/403: the provider refuses our key (revoked, wrong, over its plan) — every request
    /// would get the same, so it counts toward the breaker (not retried).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Our circuit breaker for this provider is open: the call was not made.
    #[error("circuit open: calls to the provider are suspended")]
    CircuitOpen,
    /// No call slot before the job's deadline — the fleet-wide rate limit, or a provider's
    /// `Retry-After` — so the call was not made.
    #[error(
        "no call slot before the deadline (fleet-wide rate limit or the provider's Retry-After)"
    )]
    Throttled,
}

impl ProviderError {
    /// The code a job ends with when this is the failure it could not get past.
    pub fn code(&self) -> Code {
        match self {
            ProviderError::NotFound => Code::AddressNotFound,
            ProviderError::NoRoute(_) => Code::NoRoute,
            ProviderError::Timeout => Code::ProviderTimeout,
            ProviderError::Unavailable(_)
            | ProviderError::RateLimited { .. }
            | ProviderError::CircuitOpen
            | ProviderError::Throttled => Code::ProviderUnavailable,
            ProviderError::Server(_)
            | ProviderError::Malformed(_)
            | ProviderError::Refused(_)
            | ProviderError::Unauthorized(_) => Code::ProviderError,
        }
    }

    /// A domain answer: the provider worked and said no. Cached, never retried, never a breaker
    /// failure, never replaced by an estimate.
    pub fn is_domain(&self) -> bool {
        matches!(self, ProviderError::NotFound | ProviderError::NoRoute(_))
    }

    /// A transient fault of the provider: timeouts, connection errors, 5xx, 429. Only these
    /// are retried; they count toward the circuit breaker, with [`Self::breaks_the_provider`].
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout
                | ProviderError::Unavailable(_)
                | ProviderError::RateLimited { .. }
                | ProviderError::Server(_)
        )
    }

    /// An answer that shows the provider broken for every caller, not for this request: a 2xx
    /// we cannot read (a maintenance page, a contract change) or a refused key (401/403). Not
    /// retried (the next attempt gets the same), but the breaker counts it as a failure, so jobs
    /// stop paying a call each to a provider that cannot serve any of them. A 400/404/422 about
    /// this request's parameters is not one of these.
    pub fn breaks_the_provider(&self) -> bool {
        matches!(
            self,
            ProviderError::Malformed(_) | ProviderError::Unauthorized(_)
        )
    }

    /// Every value [`ProviderError::label`] can take, for the series registered at start-up.
    pub const LABELS: &'static [&'static str] = &[
        "not_found",
        "no_route",
        "timeout",
        "unavailable",
        "rate_limited",
        "server_error",
        "malformed",
        "refused",
        "circuit_open",
        "throttled",
    ];

    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ProviderError::NotFound => "not_found",
            ProviderError::NoRoute(_) => "no_route",
            ProviderError::Timeout => "timeout",
            ProviderError::Unavailable(_) => "unavailable",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Server(_) => "server_error",
            ProviderError::Malformed(_) => "malformed",
            ProviderError::Refused(_) => "refused",
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::CircuitOpen => "circuit_open",
            ProviderError::Throttled => "throttled",
        }
    }

    /// A sentence for the job's `detail`.
    pub fn detail(&self, provider: &str) -> String {
        match self {
            ProviderError::NotFound => "the geocoder found no such address".to_string(),
            ProviderError::NoRoute(why) => {
                format!("the directions service found no route: {why}")
            }
            ProviderError::Timeout => {
                format!("{provider} did not answer within the call timeout or the job's deadline")
            }
            ProviderError::CircuitOpen => format!(
                "{provider} is failing: its circuit breaker is open and calls are suspended"
            ),
            other => format!("{provider}: {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_faults_count_and_domain_answers_are_422() {
        let transient = [
            ProviderError::Timeout,
            ProviderError::Unavailable("x".into()),
            ProviderError::RateLimited { retry_after: None },
            ProviderError::Server("x".into()),
        ];
        for e in &transient {
            assert!(e.is_transient(), "{e:?}");
            assert!(!e.is_domain());
            assert!(matches!(e.code().http_status(), 502..=504), "{e:?}");
        }
        for e in [
            ProviderError::NotFound,
            ProviderError::NoRoute("x".into()),
            ProviderError::Malformed("x".into()),
            ProviderError::Refused("x".into()),
            ProviderError::Unauthorized("x".into()),
            ProviderError::CircuitOpen,
            ProviderError::Throttled,
        ] {
            assert!(!e.is_transient(), "{e:?}");
        }
        assert_eq!(ProviderError::NotFound.code().http_status(), 422);
        assert_eq!(ProviderError::NoRoute("x".into()).code().http_status(), 422);
        assert_eq!(ProviderError::CircuitOpen.code().http_status(), 503);
        assert!(ProviderError::Malformed("html".into()).breaks_the_provider());
        assert!(ProviderError::Unauthorized("401".into()).breaks_the_provider());
        assert!(!ProviderError::Refused("400".into()).breaks_the_provider());
        assert!(!ProviderError::NotFound.breaks_the_provider());
    }
}
