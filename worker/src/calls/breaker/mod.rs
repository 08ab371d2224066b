//! The circuit breaker around every provider call: failsafe 1.3, wrapped once, here.
//!
//! Where it sits: **breaker admission** ([`Breaker::permit`]) → rate limit → **the call under
//! the permit, per-call timeout inside** → (retry, outside, in [`crate::calls::chain`]): an open
//! breaker refuses before a rate-limit slot is waited for or spent. One [`Breaker`] per provider per worker process.
//!
//! failsafe supplies the policy (consecutive failures and/or a success rate over a window) and
//! the closed → open → half-open state machine. Its gaps (measured against failsafe 1.3) are
//! closed by this wrapper, which talks to the state machine through `is_call_permitted` /
//! `on_success` / `on_error` directly:
//! - **the timeout is inside**: the wrapper applies the per-call timeout itself and records an
//!   elapsed timeout as a failure (failsafe never sees a timeout wrapped around it);
//! - **one trial in half-open**: failsafe admits every caller in half-open; the wrapper admits
//!   one (per process) and refuses the others until that trial has decided;
//! - **only provider faults count**: timeouts, connection errors, 5xx and 429 are failures, and
//!   so are answers that show the provider broken for everyone — a 2xx we cannot read (a
//!   maintenance page) and a refused key (401/403); a domain answer (not found, no route) or a
//!   4xx about this request's parameters means the provider is up and is recorded as a success (failsafe has no "ignore"; so 404s between 503s reset a consecutive
//!   count: the provider *is* answering);
//! - **a decision belongs to its state**: a call admitted while closed that ends after the
//!   breaker opened does not decide the half-open trial (stragglers are not recorded);
//! - **state is visible**: every transition is mirrored into an atomic ([`Breaker::state`]),
//!   the `routeq_breaker_state` gauge and `routeq_breaker_transitions_total`, and logged;
//! - **sub-second open times** for tests: failsafe's own jittered backoffs refuse < 1 s, so the
//!   open-state backoff is ours ([`OpenBackoff`]).

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use failsafe::failure_policy::{
    ConsecutiveFailures, OrElse, SuccessRateOverTimeWindow, consecutive_failures,
    success_rate_over_time_window,
};
use failsafe::{FailurePolicy, Instrument, StateMachine};
use rand::Rng;

use crate::providers::ProviderError;
use routeq_shared::metrics::providers as m;

/// The breaker's state, as mirrored from failsafe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

impl BreakerState {
    fn from_u8(v: u8) -> BreakerState {
        match v {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    /// Consecutive transient failures that open the breaker.
    pub consecutive_failures: u32,
    /// Open when the failure rate over `window` exceeds this (0 = no rate rule).
    pub failure_rate: f64,
    /// The window of the rate rule (whole seconds; failsafe's EWMA window).
    pub window: Duration,
    /// Calls the rate rule needs in its window before it may open the breaker.
    pub min_calls: u32,
    /// The first open period; each failed half-open trial doubles it, up to `open_max`, with
    /// equal jitter once it reaches a second.
    pub open: Duration,
    pub open_max: Duration,
}

/// The open-state backoff: `open`, doubling up to `open_max`; at a second or more, equal
/// jitter (half fixed, half random) so a fleet's breakers do not probe in step.
#[derive(Debug, Clone)]
pub struct OpenBackoff {
    next: Duration,
    max: Duration,
}

impl Iterator for OpenBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        if d >= Duration::from_secs(1) {
            let half = d / 2;
            let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
            Some(half + Duration::from_millis(jitter))
        } else {
            Some(d)
        }
    }
}

type Policy = OrElse<ConsecutiveFailures<OpenBackoff>, SuccessRateOverTimeWindow<OpenBackoff>>;

/// Mirrors failsafe's transitions into an atomic, metrics and logs.
struct Mirror {
    provider: &'static str,
    state: Arc<AtomicU8>,
}

impl Mirror {
    fn set(&self, to: BreakerState) {
        let from = BreakerState::from_u8(self.state.swap(to as u8, Ordering::SeqCst));
        metrics::gauge!(m::BREAKER_STATE.name, "provider" => self.provider).set(to as u8 as f64);
        if from == to {
            return;
        }
        metrics::counter!(m::BREAKER_TRANSITIONS.name, "provider" => self.provider, "to" => to.as_str())
            .increment(1);
        match to {
            BreakerState::Open => tracing::warn!(
                provider = self.provider,
                from = from.as_str(),
                "circuit breaker opened: calls suspended"
            ),
            BreakerState::HalfOpen => tracing::info!(
                provider = self.provider,
                "circuit breaker half-open: one trial call allowed"
            ),
            BreakerState::Closed => tracing::info!(
                provider = self.provider,
                "circuit breaker closed: calls resume"
            ),
        }
    }
}

impl Instrument for Mirror {
    fn on_call_rejected(&self) {}
    fn on_open(&self) {
        self.set(BreakerState::Open);
    }
    fn on_half_open(&self) {
        self.set(BreakerState::HalfOpen);
    }
    fn on_closed(&self) {
        self.set(BreakerState::Closed);
    }
}

/// How a call was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// While closed: recorded only if the breaker is still closed when it ends.
    Normal,
    /// The single half-open trial: always recorded; it decides.
    Trial,
}

/// Reads one breaker's state from elsewhere (the publisher of `routeq-admin stats`).
#[derive(Debug, Clone)]
pub struct BreakerWatch {
    pub provider: &'static str,
    state: Arc<AtomicU8>,
}

impl BreakerWatch {
    pub fn state(&self) -> BreakerState {
        BreakerState::from_u8(self.state.load(Ordering::SeqCst))
    }
}

/// One provider's circuit breaker in this process. Cheap to share (`Arc`).
pub struct Breaker {
    provider: &'static str,
    machine: StateMachine<Policy, Mirror>,
    state: Arc<AtomicU8>,
    /// True while the half-open trial is in flight. The lock is held only for the admission
    /// decision (never across an await).
    trial: Mutex<bool>,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("provider", &self.provider)
            .field("state", &self.state())
            .finish()
    }
}

/// Releases the trial flag if a trial call is dropped before it decided (cancellation).
struct TrialGuard<'a> {
    breaker: &'a Breaker,
    admission: Admission,
}

impl Drop for TrialGuard<'_> {
    fn drop(&mut self) {
        if self.admission == Admission::Trial {
            *self
                .breaker
                .trial
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = false;
        }
    }
}

impl Breaker {
    pub fn new(provider: &'static str, policy: &BreakerPolicy) -> Breaker {
        let backoff = OpenBackoff {
            next: policy.open,
            max: policy.open_max.max(policy.open),
        };
        let rate_rule = success_rate_over_time_window(
            (1.0 - policy.failure_rate).clamp(0.0, 1.0),
            policy.min_calls,
            policy.window,
            backoff.clone(),
        );
        // A failure rate of 0 means "no rate rule": a required success rate of 0 never trips.
        let rate_rule = if policy.failure_rate > 0.0 {
            rate_rule
        } else {
            success_rate_over_time_window(0.0, u32::MAX, policy.window, backoff.clone())
        };
        let policy =
            consecutive_failures(policy.consecutive_failures.max(1), backoff).or_else(rate_rule);
        let state = Arc::new(AtomicU8::new(BreakerState::Closed as u8));
        let mirror = Mirror {
            provider,
            state: state.clone(),
        };
        Breaker {
            provider,
            machine: StateMachine::new(policy, mirror),
            state,
            trial: Mutex::new(false),
        }
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// A reader of this breaker's state (for publishing it to the fleet's `{p}:breakers`).
    pub fn watcher(&self) -> BreakerWatch {
        BreakerWatch {
            provider: self.provider,
            state: self.state.clone(),
        }
    }

    /// The current state (as of the last transition; an open breaker whose open period has
    /// passed reads `Open` until the next call asks).
    pub fn state(&self) -> BreakerState {
        BreakerState::from_u8(self.state.load(Ordering::SeqCst))
    }

    fn admit(&self) -> Option<Admission> {
        let mut trial = self.trial.lock().unwrap_or_else(PoisonError::into_inner);
        if self.state() == BreakerState::HalfOpen && *trial {
            return None;
        }
        if !self.machine.is_call_permitted() {
            return None;
        }
        if self.state() == BreakerState::HalfOpen {
            *trial = true;
            Some(Admission::Trial)
        } else {
            Some(Admission::Normal)
        }
    }

    /// Runs `call` under the breaker with `timeout` inside: refused at once with
    /// [`ProviderError::CircuitOpen`] while open (or while another half-open trial runs); an
    /// elapsed timeout is [`ProviderError::Timeout`] and counts as a failure.
    pub async fn call<T, F>(&self, timeout: Duration, call: F) -> Result<T, ProviderError>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        self.permit()?.run(timeout, call).await
    }

    /// Asks the breaker first, before anything is spent on the call (a rate-limit slot): refused
    /// at once with [`ProviderError::CircuitOpen`] while open or while another half-open trial
    /// runs. A permit dropped unused releases a half-open trial without deciding it.
    pub fn permit(&self) -> Result<Permit<'_>, ProviderError> {
        let Some(admission) = self.admit() else {
            metrics::counter!(m::BREAKER_REJECTED.name, "provider" => self.provider).increment(1);
            return Err(ProviderError::CircuitOpen);
        };
        Ok(Permit {
            guard: TrialGuard {
                breaker: self,
                admission,
            },
        })
    }
}

/// The breaker's leave for one call ([`Breaker::permit`]).
pub struct Permit<'a> {
    guard: TrialGuard<'a>,
}

impl Permit<'_> {
    /// Runs `call` with `timeout` inside and records its outcome: transient faults and answers
    /// that show the provider broken for every caller ([`ProviderError::breaks_the_provider`])
    /// are failures, everything else a success.
    pub async fn run<T, F>(self, timeout: Duration, call: F) -> Result<T, ProviderError>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        let breaker = self.guard.breaker;
        let admission = self.guard.admission;
        let result = match tokio::time::timeout(timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(ProviderError::Timeout),
        };
        let decides = admission == Admission::Trial || breaker.state() == BreakerState::Closed;
        if decides {
            match &result {
                Err(e) if e.is_transient() || e.breaks_the_provider() => breaker.machine.on_error(),
                _ => breaker.machine.on_success(),
            }
        }
        drop(self);
        result
    }
}

#[cfg(test)]
mod tests;
