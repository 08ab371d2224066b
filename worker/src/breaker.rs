//! The circuit breaker around every provider call: failsafe 1.3, wrapped once, here.
//!
//! Where it sits: rate limit → **breaker → per-call timeout** → (retry, outside, in
//! [`crate::chain`]). One [`Breaker`] per provider per worker process.
//!
//! failsafe supplies the policy (consecutive failures and/or a success rate over a window) and
//! the closed → open → half-open state machine. Its measured gaps (see
//! `shared/DEPENDENCIES.md` §1.2) are closed by this wrapper, which talks to the state machine
//! through `is_call_permitted` / `on_success` / `on_error` directly:
//! - **the timeout is inside**: the wrapper applies the per-call timeout itself and records an
//!   elapsed timeout as a failure (failsafe never sees a timeout wrapped around it);
//! - **one trial in half-open**: failsafe admits every caller in half-open; the wrapper admits
//!   one (per process) and refuses the others until that trial has decided;
//! - **only transient faults count**: timeouts, connection errors, 5xx and 429 are failures;
//!   a domain answer (not found, no route) or any other answer means the provider is up and is
//!   recorded as a success (failsafe has no "ignore"; so 404s between 503s reset a consecutive
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

use crate::metrics as m;
use crate::providers::ProviderError;

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
        metrics::gauge!(m::BREAKER_STATE, "provider" => self.provider).set(to as u8 as f64);
        if from == to {
            return;
        }
        metrics::counter!(m::BREAKER_TRANSITIONS, "provider" => self.provider, "to" => to.as_str())
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
        let Some(admission) = self.admit() else {
            metrics::counter!(m::BREAKER_REJECTED, "provider" => self.provider).increment(1);
            return Err(ProviderError::CircuitOpen);
        };
        let guard = TrialGuard {
            breaker: self,
            admission,
        };
        let result = match tokio::time::timeout(timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(ProviderError::Timeout),
        };
        let decides = admission == Admission::Trial || self.state() == BreakerState::Closed;
        if decides {
            match &result {
                Err(e) if e.is_transient() => self.machine.on_error(),
                _ => self.machine.on_success(),
            }
        }
        drop(guard);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn policy(failures: u32, open_ms: u64) -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: failures,
            failure_rate: 0.0,
            window: Duration::from_secs(30),
            min_calls: 10,
            open: Duration::from_millis(open_ms),
            open_max: Duration::from_millis(open_ms * 4),
        }
    }

    /// A fake provider call that counts how often it was actually started.
    fn call(
        started: &Arc<AtomicUsize>,
        answer: Result<u32, ProviderError>,
        takes: Duration,
    ) -> impl Future<Output = Result<u32, ProviderError>> + use<> {
        let started = started.clone();
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(takes).await;
            answer
        }
    }

    fn unavailable() -> Result<u32, ProviderError> {
        Err(ProviderError::Unavailable("503".into()))
    }

    #[tokio::test]
    async fn opens_after_consecutive_transient_failures_and_then_refuses_without_calling() {
        let b = Breaker::new("t-open", &policy(3, 60_000));
        let n = Arc::new(AtomicUsize::new(0));
        let t = Duration::from_secs(1);
        for _ in 0..2 {
            assert!(
                b.call(t, call(&n, unavailable(), Duration::ZERO))
                    .await
                    .is_err()
            );
            assert_eq!(b.state(), BreakerState::Closed);
        }
        let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
        assert_eq!(b.state(), BreakerState::Open);
        for _ in 0..5 {
            let r = b.call(t, call(&n, Ok(1), Duration::ZERO)).await;
            assert_eq!(r, Err(ProviderError::CircuitOpen));
        }
        assert_eq!(n.load(Ordering::SeqCst), 3, "an open breaker must not call");
    }

    #[tokio::test]
    async fn only_transient_faults_count() {
        let b = Breaker::new("t-domain", &policy(2, 60_000));
        let n = Arc::new(AtomicUsize::new(0));
        let t = Duration::from_secs(1);
        for answer in [
            Err(ProviderError::NotFound),
            Err(ProviderError::NoRoute("x".into())),
            Err(ProviderError::Malformed("x".into())),
            Err(ProviderError::Refused("401".into())),
        ] {
            for _ in 0..5 {
                let _ = b.call(t, call(&n, answer.clone(), Duration::ZERO)).await;
            }
        }
        assert_eq!(b.state(), BreakerState::Closed);
        // A domain answer between two 503s resets the consecutive count (documented: the
        // provider is answering).
        for _ in 0..5 {
            let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
            let _ = b
                .call(t, call(&n, Err(ProviderError::NotFound), Duration::ZERO))
                .await;
        }
        assert_eq!(b.state(), BreakerState::Closed);
        for transient in [
            Err(ProviderError::RateLimited { retry_after: None }),
            Err(ProviderError::Server("500".into())),
        ] {
            let _ = b.call(t, call(&n, transient, Duration::ZERO)).await;
        }
        assert_eq!(b.state(), BreakerState::Open, "429 and 5xx count");
    }

    #[tokio::test]
    async fn the_timeout_is_inside_and_counts_as_a_failure() {
        let b = Breaker::new("t-timeout", &policy(2, 60_000));
        let n = Arc::new(AtomicUsize::new(0));
        let slow = Duration::from_secs(5);
        let started = std::time::Instant::now();
        let r = b
            .call(Duration::from_millis(50), call(&n, Ok(1), slow))
            .await;
        assert_eq!(r, Err(ProviderError::Timeout));
        assert!(
            started.elapsed() < slow,
            "the call must stop at its timeout"
        );
        let _ = b
            .call(Duration::from_millis(50), call(&n, Ok(1), slow))
            .await;
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test]
    async fn half_open_admits_a_single_trial_whose_success_closes() {
        let b = Arc::new(Breaker::new("t-trial", &policy(1, 100)));
        let n = Arc::new(AtomicUsize::new(0));
        let t = Duration::from_secs(2);
        let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::sleep(Duration::from_millis(150)).await;
        // 20 concurrent callers once the open period is over: one trial, 19 refusals.
        let trial_calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (b, c) = (b.clone(), trial_calls.clone());
            tasks.push(tokio::spawn(async move {
                b.call(t, call(&c, Ok(7), Duration::from_millis(100))).await
            }));
        }
        let mut ok = 0;
        let mut refused = 0;
        for task in tasks {
            match task.await.expect("join") {
                Ok(7) => ok += 1,
                Err(ProviderError::CircuitOpen) => refused += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((ok, refused), (1, 19));
        assert_eq!(
            trial_calls.load(Ordering::SeqCst),
            1,
            "one trial per process"
        );
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.call(t, call(&n, Ok(8), Duration::ZERO)).await, Ok(8));
    }

    #[tokio::test]
    async fn a_failed_trial_reopens_and_a_cancelled_trial_frees_the_slot() {
        let b = Breaker::new("t-reopen", &policy(1, 80));
        let n = Arc::new(AtomicUsize::new(0));
        let t = Duration::from_secs(2);
        let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
        assert_eq!(b.state(), BreakerState::Open, "a failed trial re-opens");
        assert_eq!(n.load(Ordering::SeqCst), 2);
        // The next open period is longer (backoff doubles): still refused after 100 ms.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            b.call(t, call(&n, Ok(1), Duration::ZERO)).await,
            Err(ProviderError::CircuitOpen)
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        // A trial that is dropped mid-call (its job was cancelled) must not hold the slot.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(20),
            b.call(t, call(&n, Ok(1), Duration::from_secs(5))),
        )
        .await;
        assert!(abandoned.is_err());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.call(t, call(&n, Ok(2), Duration::ZERO)).await, Ok(2));
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn a_straggler_admitted_while_closed_does_not_decide_the_trial() {
        let b = Arc::new(Breaker::new("t-straggler", &policy(1, 50)));
        let n = Arc::new(AtomicUsize::new(0));
        let t = Duration::from_secs(2);
        // A slow successful call admitted while closed...
        let slow = {
            let (b, n) = (b.clone(), n.clone());
            tokio::spawn(
                async move { b.call(t, call(&n, Ok(1), Duration::from_millis(200))).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // ...then a failure opens the breaker, and its open period passes.
        let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::sleep(Duration::from_millis(80)).await;
        // The trial fails; the straggler's later success must not close the breaker.
        let _ = b.call(t, call(&n, unavailable(), Duration::ZERO)).await;
        assert_eq!(slow.await.expect("join"), Ok(1));
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test]
    async fn state_is_mirrored_into_the_metrics() {
        let handle = routeq_shared::telemetry::metrics_handle();
        let b = Breaker::new("t-metrics", &policy(1, 60_000));
        let n = Arc::new(AtomicUsize::new(0));
        let _ = b
            .call(
                Duration::from_secs(1),
                call(&n, unavailable(), Duration::ZERO),
            )
            .await;
        let _ = b
            .call(Duration::from_secs(1), call(&n, Ok(1), Duration::ZERO))
            .await;
        let text = handle.render();
        assert!(
            text.contains(r#"routeq_breaker_state{provider="t-metrics"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"routeq_breaker_transitions_total{provider="t-metrics",to="open"} 1"#)
        );
        assert!(text.contains(r#"routeq_breaker_rejected_total{provider="t-metrics"} 1"#));
    }

    #[test]
    fn open_backoff_doubles_and_jitters_from_a_second() {
        let mut b = OpenBackoff {
            next: Duration::from_millis(300),
            max: Duration::from_secs(4),
        };
        assert_eq!(b.next(), Some(Duration::from_millis(300)));
        assert_eq!(b.next(), Some(Duration::from_millis(600)));
        let d = b.next().expect("1.2 s, jittered");
        assert!(
            (Duration::from_millis(600)..=Duration::from_millis(1200)).contains(&d),
            "{d:?}"
        );
        for _ in 0..5 {
            assert!(b.next().expect("capped") <= Duration::from_secs(4));
        }
    }
}
