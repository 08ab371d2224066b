//! The retry policy: how many attempts a provider call gets and how long to back off between
//! them (exponential, with equal jitter so a fleet's retries do not arrive in step). The retry
//! *mechanism* — which failures, and whether the deadline allows another attempt — is in
//! [`crate::calls::chain`].

use std::time::Duration;

use rand::Rng;

/// Attempts and backoff of one provider call.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub attempts: u32,
    /// The backoff before the first retry; doubled for each further one.
    pub base: Duration,
    /// The longest backoff.
    pub max: Duration,
}

impl RetryPolicy {
    /// The backoff after `failures` failed attempts (1 = after the first): half of
    /// `base · 2^(failures-1)` (capped at `max`) fixed, the other half random.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(self.max);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0..=half.as_micros() as u64);
        half + Duration::from_micros(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(800),
        };
        for _ in 0..50 {
            let b1 = p.backoff(1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&b1));
            let b3 = p.backoff(3);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&b3));
            let b9 = p.backoff(9);
            assert!((Duration::from_millis(400)..=Duration::from_millis(800)).contains(&b9));
        }
        let draws: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(2)).collect();
        assert!(draws.len() > 1, "the backoff must be jittered");
    }
}
