//! The call chain every external call goes through, in this order:
//!
//! **circuit breaker (admission) → fleet-wide rate limit → the call under the breaker with the
//! per-call timeout → retry** with jittered exponential backoff.
//!
//! - the breaker ([`Breaker`]) is asked first and refuses at once while the provider is failing:
//!   an open breaker never waits for, nor spends, a rate-limit slot;
//! - the rate limit ([`RateLimiter`]) reserves the call's slot (waiting if the fleet is at the
//!   provider's quota) — each attempt, retries included, spends one slot;
//! - the call runs under the breaker's permit with the per-call timeout inside, so timeouts
//!   count;
//! - the per-call timeout is `min(call timeout, time left before the job's deadline)`;
//! - a retry happens only for a transient failure (timeout, connection error, 5xx, 429), only
//!   while attempts are left, and only when the job's remaining time allows the next attempt to
//!   finish: backoff + a full call timeout must fit before the deadline. A 429's `Retry-After`
//!   (capped at `--retry-after-max-ms`) replaces the backoff and is shared with the fleet
//!   through the rate limiter.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::calls::breaker::Breaker;
use crate::calls::ratelimit::RateLimiter;
use crate::calls::retry::RetryPolicy;
use crate::providers::ProviderError;
use routeq_shared::metrics::providers as m;
use routeq_shared::telemetry::trace;
use tracing::Instrument;
use tracing::field::Empty;

/// The chain of one provider.
#[derive(Debug)]
pub struct Chain {
    provider: &'static str,
    limiter: RateLimiter,
    breaker: Breaker,
    retry: RetryPolicy,
    call_timeout: Duration,
    /// The longest a provider's `Retry-After` is honoured (`--retry-after-max-ms`).
    retry_after_max: Duration,
}

/// The default cap of a provider's `Retry-After`.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

impl Chain {
    pub fn new(
        provider: &'static str,
        limiter: RateLimiter,
        breaker: Breaker,
        retry: RetryPolicy,
        call_timeout: Duration,
    ) -> Chain {
        Chain {
            provider,
            limiter,
            breaker,
            retry,
            call_timeout,
            retry_after_max: RETRY_AFTER_MAX,
        }
    }

    /// Caps every `Retry-After` this provider sends at `max`.
    pub fn with_retry_after_max(mut self, max: Duration) -> Chain {
        self.retry_after_max = max;
        self
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Calls `op(timeout)` through the chain until it succeeds, fails for good, or the job's
    /// time (`until`) would not allow another attempt. `operation` labels metrics.
    pub async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        until: Instant,
        mut op: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 1u32;
        loop {
            let remaining = until.saturating_duration_since(Instant::now());
            // A slot is only worth having if a useful call still fits after it.
            let min_call = self.call_timeout.min(Duration::from_millis(250));
            if remaining <= min_call / 2 {
                return Err(ProviderError::Timeout);
            }
            // Traces: one span per attempt (rate-limit wait, breaker decision and the call),
            // disabled at no cost when traces are off.
            let span = tracing::info_span!(
                target: trace::TARGET,
                "provider.call",
                otel.name = %format_args!("{} {operation}", self.provider),
                otel.kind = "client",
                provider = self.provider,
                operation,
                attempt,
                outcome = Empty,
                otel.status_code = Empty,
            );
            let result = self
                .attempt(operation, remaining, min_call, until, &mut op)
                .instrument(span.clone())
                .await;
            span.record(
                "outcome",
                match &result {
                    Ok(_) => "ok",
                    Err(e) => e.label(),
                },
            );
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    span.record("otel.status_code", "error");
                    e
                }
            };
            let err = match err {
                ProviderError::RateLimited {
                    retry_after: Some(d),
                } if d > self.retry_after_max => {
                    tracing::warn!(
                        provider = self.provider,
                        operation,
                        retry_after_s = d.as_secs(),
                        cap_ms = self.retry_after_max.as_millis() as u64,
                        "the provider's Retry-After is beyond --retry-after-max-ms: capped"
                    );
                    ProviderError::RateLimited {
                        retry_after: Some(self.retry_after_max),
                    }
                }
                e => e,
            };
            if let ProviderError::RateLimited {
                retry_after: Some(d),
            } = &err
            {
                self.limiter.hold(*d).await;
            }
            if !err.is_transient() || attempt >= self.retry.attempts {
                return Err(err);
            }
            let wait = match &err {
                ProviderError::RateLimited {
                    retry_after: Some(d),
                } => *d,
                _ => self.retry.backoff(attempt),
            };
            let next_ends = Instant::now()
                .checked_add(wait)
                .and_then(|t| t.checked_add(self.call_timeout));
            if next_ends.is_none_or(|t| t > until) {
                tracing::info!(
                    provider = self.provider,
                    operation,
                    attempt,
                    error = %err,
                    "not retrying: the next attempt could not finish before the job's deadline"
                );
                return Err(err);
            }
            metrics::counter!(m::RETRIES.name, "provider" => self.provider, "reason" => err.label())
                .increment(1);
            span.in_scope(|| {
                tracing::debug!(target: trace::TARGET, reason = err.label(), backoff_ms = wait.as_millis() as u64, "retry");
            });
            tracing::info!(
                provider = self.provider,
                operation,
                attempt,
                error = %err,
                backoff_ms = wait.as_millis() as u64,
                "retrying a provider call"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt: the breaker's decision first (an open one answers at once, without waiting
    /// for a slot or spending one of the fleet's quota), then the rate-limit slot and the call.
    async fn attempt<T, F, Fut>(
        &self,
        operation: &'static str,
        remaining: Duration,
        min_call: Duration,
        until: Instant,
        op: &mut F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let permit = self.breaker.permit();
        if trace::enabled() {
            tracing::debug!(target: trace::TARGET, permitted = permit.is_ok(), state = self.breaker.state().as_str(), "breaker");
        }
        let permit = permit?;
        let asked = trace::enabled().then(Instant::now);
        self.limiter
            .acquire(remaining.saturating_sub(min_call))
            .await?;
        if let Some(asked) = asked {
            tracing::debug!(target: trace::TARGET, waited_ms = asked.elapsed().as_millis() as u64, "rate limit slot");
        }
        let timeout = self
            .call_timeout
            .min(until.saturating_duration_since(Instant::now()));
        if timeout.is_zero() {
            return Err(ProviderError::Timeout);
        }
        let started = Instant::now();
        let result = permit.run(timeout, op(timeout)).await;
        self.observe(operation, started, &result);
        result
    }

    fn observe<T>(
        &self,
        operation: &'static str,
        started: Instant,
        result: &Result<T, ProviderError>,
    ) {
        if matches!(result, Err(ProviderError::CircuitOpen)) {
            return; // not a call: the breaker counted the refusal
        }
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        let labels = [
            ("provider", self.provider),
            ("operation", operation),
            ("outcome", outcome),
        ];
        metrics::counter!(m::CALLS.name, &labels).increment(1);
        metrics::histogram!(m::CALL_SECONDS.name, &labels).record(started.elapsed().as_secs_f64());
    }
}
