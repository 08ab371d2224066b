//! An endpoint's health: failing since when, and disabled once it has failed continuously for
//! longer than a threshold.
//!
//! Every attempted delivery counts: a 2xx ends a failing streak; any failure (transient or not,
//! refused addresses included) starts or extends it. Deferred and skipped deliveries do not
//! count (nothing was attempted). The [`Deliverer`](crate::Deliverer) keeps health in memory and
//! reports each change in its [`Report`](crate::Report); the caller persists it (so a restarted
//! notifier restores it with [`Deliverer::restore_health`](crate::Deliverer::restore_health)),
//! shows it on the endpoint and, on [`HealthChange::Disabled`], stops routing events to it until
//! someone re-enables it.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// What the caller persists per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Health {
    /// When the current streak of failed attempts began (`None`: the last attempt succeeded).
    pub failing_since: Option<SystemTime>,
    /// Failed attempts in the current streak.
    pub consecutive_failures: u32,
    /// Disabled: deliveries are skipped until [`Deliverer::enable`](crate::Deliverer::enable).
    pub disabled: bool,
}

/// A change of health, reported by the attempt that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum HealthChange {
    /// The first failure after a success (or of a new endpoint).
    Failing { since: SystemTime },
    /// A success ended a failing streak.
    Recovered { failures: u32 },
    /// The streak outlasted the threshold: the endpoint is disabled.
    Disabled { since: SystemTime, failures: u32 },
}

impl Health {
    /// Folds one attempt's result in; returns the change, if any.
    pub(crate) fn observe(
        &mut self,
        success: bool,
        now: SystemTime,
        disable_after: Duration,
    ) -> Option<HealthChange> {
        if success {
            let failures = self.consecutive_failures;
            let was_failing = self.failing_since.take().is_some();
            self.consecutive_failures = 0;
            return was_failing.then_some(HealthChange::Recovered { failures });
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let Some(since) = self.failing_since else {
            self.failing_since = Some(now);
            return Some(HealthChange::Failing { since: now });
        };
        let failed_for = now.duration_since(since).unwrap_or(Duration::ZERO);
        if !self.disabled && failed_for >= disable_after {
            self.disabled = true;
            return Some(HealthChange::Disabled {
                since,
                failures: self.consecutive_failures,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_past_the_threshold_disables_once() {
        let mut h = Health::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let limit = Duration::from_secs(3600);
        assert_eq!(
            h.observe(false, t0, limit),
            Some(HealthChange::Failing { since: t0 })
        );
        assert_eq!(
            h.observe(false, t0 + Duration::from_secs(3599), limit),
            None
        );
        assert!(!h.disabled);
        let t1 = t0 + limit;
        assert_eq!(
            h.observe(false, t1, limit),
            Some(HealthChange::Disabled {
                since: t0,
                failures: 3
            })
        );
        assert!(h.disabled);
        assert_eq!(h.observe(false, t1, limit), None, "reported once");
    }

    #[test]
    fn a_success_ends_the_streak() {
        let mut h = Health::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(5);
        let limit = Duration::from_secs(10);
        assert_eq!(h.observe(true, t0, limit), None);
        h.observe(false, t0, limit);
        h.observe(false, t0 + Duration::from_secs(9), limit);
        assert_eq!(
            h.observe(true, t0 + Duration::from_secs(9), limit),
            Some(HealthChange::Recovered { failures: 2 })
        );
        assert_eq!(h, Health::default());
        // The clock is not trusted to be monotonic: a failure "before" the start does not panic.
        h.observe(false, t0 + Duration::from_secs(20), limit);
        assert_eq!(h.observe(false, t0, limit), None);
    }
}
