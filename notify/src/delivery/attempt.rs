//! One delivery through the [`Deliverer`]: the filter, the endpoint's checks (disabled, breaker,
//! pending limit, permits), at most one attempt (resolve and check the host, sign, send),
//! what the result means for the breaker and the endpoint's health, and what comes next.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use super::deliverer::{Pending, Ticket, not_attempted, unix_now};
use super::transport::Answer;
use super::{
    BreakerState, Deferral, Deliverer, Delivery, Failure, HealthChange, Next, Outcome, Report,
    Response, Skip,
};
use crate::metrics as m;
use crate::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, signature_header};

/// The in-flight gauge, decremented even when the delivery is dropped mid-attempt.
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
        metrics::gauge!(m::IN_FLIGHT.name).increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(m::IN_FLIGHT.name).decrement(1.0);
    }
}

impl Deliverer {
    /// One delivery: filter, endpoint checks, at most one attempt, and what comes next.
    pub async fn deliver(&self, d: &Delivery) -> Report {
        let report = self.deliver_inner(d).await;
        let next = match report.next {
            Next::Done => "done",
            Next::RetryIn(_) => "retry",
            Next::DeadLetter => "dead_letter",
        };
        metrics::counter!(m::DELIVERIES.name, "class" => report.outcome.class(), "next" => next)
            .increment(1);
        report
    }

    async fn deliver_inner(&self, d: &Delivery) -> Report {
        let c = &self.inner.config;
        if !d.endpoint.filter().matches(d.event.event_type()) {
            return not_attempted(
                Outcome::Skipped(Skip::Filtered),
                Next::Done,
                d.attempts_made,
            );
        }
        let state = self.state(d.endpoint.id());
        if state.disabled() {
            let skipped = Outcome::Skipped(Skip::Disabled);
            return not_attempted(skipped, Next::DeadLetter, d.attempts_made);
        }
        if let Some(wait) = state.breaker.refusing(Instant::now()) {
            return self.deferred(d, Deferral::CircuitOpen, wait);
        }
        let limit = c.endpoint_concurrency.max(1) + c.endpoint_queue;
        if state.pending.fetch_add(1, Ordering::SeqCst) >= limit {
            state.pending.fetch_sub(1, Ordering::SeqCst);
            return self.deferred(d, Deferral::Busy, c.busy_retry);
        }
        let _pending = Pending(&state.pending);
        // Never closed: an error cannot happen, and would defer rather than fail.
        let Ok(_endpoint_permit) = state.permits.acquire().await else {
            return self.deferred(d, Deferral::Busy, c.busy_retry);
        };
        let Ok(_global_permit) = self.inner.in_flight.acquire().await else {
            return self.deferred(d, Deferral::Busy, c.busy_retry);
        };
        // Disabled while this delivery waited for its permits: do not attempt.
        if state.disabled() {
            let skipped = Outcome::Skipped(Skip::Disabled);
            return not_attempted(skipped, Next::DeadLetter, d.attempts_made);
        }
        let admission = match state.breaker.admit(Instant::now()) {
            Ok(admission) => admission,
            Err(wait) => return self.deferred(d, Deferral::CircuitOpen, wait),
        };
        let mut ticket = Ticket {
            breaker: &state.breaker,
            admission,
            recorded: false,
        };

        let in_flight = InFlight::start();
        let started = Instant::now();
        let result = tokio::time::timeout(c.http.timeout, self.attempt(d))
            .await
            .unwrap_or(Err(Failure::Timeout));
        let latency = started.elapsed();
        drop(in_flight);

        let (outcome, response) = match result {
            Ok(answer) => {
                let response = Some(Response {
                    status: answer.status,
                    body: answer.body.clone(),
                    truncated: answer.truncated,
                });
                (outcome_of(answer), response)
            }
            Err(failure) => (Outcome::Failed(failure), None),
        };
        let failure = match &outcome {
            Outcome::Failed(f) => Some(f),
            _ => None,
        };
        let breaker = state.breaker.record(
            admission,
            failure.is_some_and(Failure::transient),
            Instant::now(),
        );
        ticket.recorded = true;
        let health = state
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(failure.is_none(), SystemTime::now(), c.disable_after);
        let attempts_made = d.attempts_made.saturating_add(1);
        let next = match failure {
            None => Next::Done,
            Some(_) if matches!(health, Some(HealthChange::Disabled { .. })) => Next::DeadLetter,
            Some(f) if !f.retryable() => Next::DeadLetter,
            Some(f) => match c.schedule.next_attempt(attempts_made) {
                None => Next::DeadLetter,
                Some(delay) => {
                    let asked = f.retry_after().map(|ra| ra.min(c.retry_after_max));
                    Next::RetryIn(asked.map_or(delay, |ra| ra.max(delay)))
                }
            },
        };
        self.observe(d, &outcome, latency, breaker, health);
        Report {
            outcome,
            next,
            attempts_made,
            latency: Some(latency),
            response,
            health,
            breaker,
        }
    }

    /// Resolve and check the endpoint's host, sign, send.
    async fn attempt(&self, d: &Delivery) -> Result<Answer, Failure> {
        let target = self
            .inner
            .config
            .policy
            .check(d.endpoint.url(), self.inner.resolver.as_ref())
            .await
            .map_err(Failure::Address)?;
        let ts = unix_now();
        let event = &d.event;
        let signature = signature_header(d.endpoint.secrets(), event.id(), ts, event.body());
        let mut headers = HeaderMap::with_capacity(4);
        let value = |s: &str| {
            HeaderValue::from_str(s).map_err(|e| Failure::Transport(format!("header: {e}")))
        };
        headers.insert(HEADER_ID, value(event.id())?);
        headers.insert(HEADER_TIMESTAMP, HeaderValue::from(ts));
        headers.insert(HEADER_SIGNATURE, value(&signature)?);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.inner
            .transport
            .post(&target, headers, event.body().clone())
            .await
    }

    fn observe(
        &self,
        d: &Delivery,
        outcome: &Outcome,
        latency: Duration,
        breaker: Option<BreakerState>,
        health: Option<HealthChange>,
    ) {
        let class = outcome.class();
        metrics::counter!(m::ATTEMPTS.name, "class" => class).increment(1);
        metrics::histogram!(m::ATTEMPT_SECONDS.name, "class" => class)
            .record(latency.as_secs_f64());
        let (endpoint, event) = (d.endpoint.id(), d.event.id());
        let host = d.endpoint.url().host_str();
        if let Outcome::Failed(f) = outcome {
            let retryable = if f.retryable() { "true" } else { "false" };
            metrics::counter!(m::FAILURES.name, "class" => class, "retryable" => retryable)
                .increment(1);
            tracing::debug!(endpoint, event, host, class, error = ?f, "webhook attempt failed");
        }
        if let Some(to) = breaker {
            metrics::counter!(m::BREAKER_TRANSITIONS.name, "to" => to.as_str()).increment(1);
            tracing::info!(endpoint, host, to = to.as_str(), "webhook endpoint breaker");
        }
        match health {
            Some(HealthChange::Disabled { failures, .. }) => {
                metrics::counter!(m::ENDPOINTS_DISABLED.name).increment(1);
                tracing::warn!(
                    endpoint,
                    host,
                    failures,
                    "webhook endpoint disabled: failing too long"
                );
            }
            Some(HealthChange::Recovered { failures }) => {
                tracing::info!(endpoint, host, failures, "webhook endpoint recovered");
            }
            Some(HealthChange::Failing { .. }) | None => {}
        }
    }
}

fn outcome_of(answer: Answer) -> Outcome {
    match answer.status {
        200..=299 => Outcome::Delivered {
            status: answer.status,
        },
        300..=399 => Outcome::Failed(Failure::Redirect {
            status: answer.status,
            location: answer.location,
        }),
        status => Outcome::Failed(Failure::Status {
            status,
            retry_after: answer.retry_after,
        }),
    }
}
