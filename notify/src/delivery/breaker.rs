//! One endpoint's circuit breaker (per [`crate::Deliverer`], i.e. per notifier process).
//!
//! After `failures_to_open` consecutive **transient** failures (timeouts, connection errors, 5xx,
//! 408, 429) the breaker opens: deliveries to the endpoint are *deferred*, not attempted, and do
//! not spend an attempt of their schedule. When the open period has passed, one delivery is the
//! half-open trial (the others keep being deferred until it decides): a success closes the
//! breaker; a failure reopens it for twice the period, up to `open_max`. An answer that is not a
//! transient failure (2xx, but also a 4xx) means the endpoint is up and resets the count.
//! Open periods of a second or more get equal jitter (half fixed, half random) so a fleet of
//! notifiers does not probe a recovering receiver in step.
//!
//! Our own small state machine rather than failsafe (which the worker wraps): failsafe admits
//! every caller in half-open, refuses sub-second open times and cannot tell when an open breaker
//! will admit again, which is exactly what a deferral must report.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng;

/// When the breaker opens and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive transient failures that open the breaker (at least 1).
    pub failures_to_open: u32,
    /// The first open period; each failed trial doubles it up to `open_max`.
    pub open: Duration,
    pub open_max: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> BreakerPolicy {
        BreakerPolicy {
            failures_to_open: 5,
            open: Duration::from_secs(30),
            open_max: Duration::from_secs(10 * 60),
        }
    }
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_running: bool },
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// The open period used last (doubles on each failed trial).
    period: Duration,
}

/// How a delivery was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// While closed: its result counts only if the breaker is still closed when it ends.
    Normal,
    /// The one half-open trial: its result decides.
    Trial,
}

/// A per-endpoint breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    policy: BreakerPolicy,
    inner: Mutex<Inner>,
}

fn jittered(d: Duration) -> Duration {
    if d < Duration::from_secs(1) {
        return d;
    }
    let half = d / 2;
    let extra = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(extra)
}

impl Breaker {
    pub(crate) fn new(policy: BreakerPolicy) -> Breaker {
        let policy = BreakerPolicy {
            failures_to_open: policy.failures_to_open.max(1),
            open_max: policy.open_max.max(policy.open),
            ..policy
        };
        Breaker {
            inner: Mutex::new(Inner {
                state: State::Closed { failures: 0 },
                period: policy.open,
            }),
            policy,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state at `now` (an open breaker whose period has passed reads half-open).
    pub(crate) fn state(&self, now: Instant) -> BreakerState {
        match self.lock().state {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// How long until the breaker may admit again, if it refuses now (no state change: a
    /// cheap check before a delivery queues for its endpoint).
    pub(crate) fn refusing(&self, now: Instant) -> Option<Duration> {
        match self.lock().state {
            State::Open { until } if now < until => Some(until - now),
            State::HalfOpen {
                trial_running: true,
            } => Some(self.policy.open),
            _ => None,
        }
    }

    /// Admits a delivery, or says how long until the breaker may admit one again.
    pub(crate) fn admit(&self, now: Instant) -> Result<Admission, Duration> {
        let mut inner = self.lock();
        match inner.state {
            State::Closed { .. } => Ok(Admission::Normal),
            State::Open { until } if now < until => Err(until - now),
            State::Open { .. }
            | State::HalfOpen {
                trial_running: false,
            } => {
                inner.state = State::HalfOpen {
                    trial_running: true,
                };
                Ok(Admission::Trial)
            }
            State::HalfOpen {
                trial_running: true,
            } => Err(self.policy.open),
        }
    }

    /// Records the result of an admitted delivery; returns the new state on a transition.
    pub(crate) fn record(
        &self,
        admission: Admission,
        transient_failure: bool,
        now: Instant,
    ) -> Option<BreakerState> {
        let mut inner = self.lock();
        match (admission, inner.state) {
            (Admission::Normal, State::Closed { failures }) => {
                if !transient_failure {
                    inner.state = State::Closed { failures: 0 };
                    return None;
                }
                let failures = failures + 1;
                if failures < self.policy.failures_to_open {
                    inner.state = State::Closed { failures };
                    return None;
                }
                inner.period = self.policy.open;
                inner.state = State::Open {
                    until: now + jittered(inner.period),
                };
                Some(BreakerState::Open)
            }
            // A straggler admitted while closed, ending after the breaker opened: ignored.
            (Admission::Normal, _) => None,
            (Admission::Trial, _) if !transient_failure => {
                inner.state = State::Closed { failures: 0 };
                inner.period = self.policy.open;
                Some(BreakerState::Closed)
            }
            (Admission::Trial, _) => {
                inner.period = (inner.period * 2).min(self.policy.open_max);
                inner.state = State::Open {
                    until: now + jittered(inner.period),
                };
                Some(BreakerState::Open)
            }
        }
    }

    /// A trial that ended without a result (cancelled): the next delivery may be the trial.
    pub(crate) fn abandon(&self, admission: Admission) {
        let mut inner = self.lock();
        if admission == Admission::Trial
            && inner.state
                == (State::HalfOpen {
                    trial_running: true,
                })
        {
            inner.state = State::HalfOpen {
                trial_running: false,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(n: u32, open_ms: u64) -> Breaker {
        Breaker::new(BreakerPolicy {
            failures_to_open: n,
            open: Duration::from_millis(open_ms),
            open_max: Duration::from_millis(open_ms * 4),
        })
    }

    #[test]
    fn opens_after_consecutive_transient_failures_only() {
        let b = breaker(3, 100);
        let t = Instant::now();
        for _ in 0..2 {
            assert_eq!(b.admit(t), Ok(Admission::Normal));
            assert_eq!(b.record(Admission::Normal, true, t), None);
        }
        // An answer (say a 404) between failures resets the count.
        assert_eq!(b.record(Admission::Normal, false, t), None);
        assert_eq!(b.record(Admission::Normal, true, t), None);
        assert_eq!(b.record(Admission::Normal, true, t), None);
        assert_eq!(
            b.record(Admission::Normal, true, t),
            Some(BreakerState::Open)
        );
        assert_eq!(b.state(t), BreakerState::Open);
        let later = t + Duration::from_millis(40);
        assert_eq!(b.refusing(later), Some(Duration::from_millis(60)));
        assert_eq!(b.admit(later), Err(Duration::from_millis(60)));
        assert_eq!(b.refusing(t + Duration::from_millis(100)), None);
    }

    #[test]
    fn one_trial_decides_and_failed_trials_double_the_period() {
        let b = breaker(1, 100);
        let t0 = Instant::now();
        b.record(Admission::Normal, true, t0);
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(b.state(t1), BreakerState::HalfOpen);
        assert_eq!(b.admit(t1), Ok(Admission::Trial));
        assert_eq!(
            b.admit(t1),
            Err(Duration::from_millis(100)),
            "one trial only"
        );
        // A straggler admitted before the breaker opened does not decide.
        assert_eq!(b.record(Admission::Normal, false, t1), None);
        assert_eq!(
            b.record(Admission::Trial, true, t1),
            Some(BreakerState::Open)
        );
        assert_eq!(
            b.admit(t1 + Duration::from_millis(199)),
            Err(Duration::from_millis(1))
        );
        let t2 = t1 + Duration::from_millis(200);
        assert_eq!(b.admit(t2), Ok(Admission::Trial));
        assert_eq!(
            b.record(Admission::Trial, false, t2),
            Some(BreakerState::Closed)
        );
        assert_eq!(b.state(t2), BreakerState::Closed);
    }

    #[test]
    fn an_abandoned_trial_frees_the_slot_and_the_period_is_capped() {
        let b = breaker(1, 100);
        let mut t = Instant::now();
        b.record(Admission::Normal, true, t);
        for _ in 0..5 {
            t += Duration::from_millis(400);
            assert_eq!(b.admit(t), Ok(Admission::Trial));
            b.record(Admission::Trial, true, t);
        }
        assert_eq!(
            b.admit(t),
            Err(Duration::from_millis(400)),
            "capped at open_max"
        );
        t += Duration::from_millis(400);
        assert_eq!(b.admit(t), Ok(Admission::Trial));
        b.abandon(Admission::Trial);
        assert_eq!(b.admit(t), Ok(Admission::Trial));
    }
}
