//! The fleet-wide rate limit of one provider: every worker reserves each call's slot in Redis
//! with one atomic script (`shared/src/redis/lua/rate_limit.lua`, GCRA on Redis' clock), so the whole
//! fleet spends one quota and adding workers never breaches it.
//!
//! Where it sits: breaker admission → **rate limit** → the call under the breaker, per-call
//! timeout inside → retry (see [`crate::calls::chain`]).
//!
//! A provider's `Retry-After` (on a 429) is honoured fleet-wide too: [`RateLimiter::hold`] sets
//! a key that holds every worker's next slot back until it expires. With no rate configured
//! (`0`), no Redis call is made and a `Retry-After` holds this process only.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use routeq_shared::redis::scripts::{Slot, scripts};
use routeq_shared::redis::{Conn, Keys};

use crate::providers::ProviderError;
use routeq_shared::metrics::providers as m;

/// One provider's limiter.
pub struct RateLimiter {
    provider: &'static str,
    conn: Conn,
    state_key: String,
    hold_key: String,
    /// µs between two calls fleet-wide; 0 = no limit.
    interval_us: u64,
    /// Used when no rate is configured: a `Retry-After` that holds this process.
    local_hold: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("provider", &self.provider)
            .field("interval_us", &self.interval_us)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter of `rps` calls per second fleet-wide (0 = unlimited).
    pub fn new(conn: Conn, keys: &Keys, provider: &'static str, rps: f64) -> RateLimiter {
        let interval_us = if rps > 0.0 {
            (1e6 / rps).round().max(1.0) as u64
        } else {
            0
        };
        RateLimiter {
            provider,
            conn,
            state_key: keys.rate_limit(provider),
            hold_key: keys.rate_hold(provider),
            interval_us,
            local_hold: Mutex::new(None),
        }
    }

    /// Waits for this call's slot. `patience` is the longest the caller can wait and still make
    /// a useful call; without a slot in that time nothing is reserved and the call is refused
    /// ([`ProviderError::Throttled`]). Redis unreachable also refuses: the quota is never
    /// risked.
    pub async fn acquire(&self, patience: Duration) -> Result<(), ProviderError> {
        let wait = if self.interval_us == 0 {
            let hold = *self
                .local_hold
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let wait = hold.map_or(Duration::ZERO, |h| {
                h.saturating_duration_since(Instant::now())
            });
            if wait > patience {
                return Err(self.refused());
            }
            wait
        } else {
            let mut conn = self.conn.clone();
            let reply: redis::RedisResult<(i64, i64)> = scripts()
                .rate_limit
                .key(&self.state_key)
                .key(&self.hold_key)
                .arg(self.interval_us)
                .arg(patience.as_micros() as u64)
                .invoke_async(&mut conn)
                .await;
            match reply.map(Slot::decode) {
                Ok(Ok(Slot::Reserved { wait_us })) => Duration::from_micros(wait_us),
                Ok(Ok(Slot::Refused { .. })) => return Err(self.refused()),
                Ok(Err(e)) => {
                    tracing::warn!(provider = self.provider, error = %e, "rate limiter answered something unexpected; call refused");
                    return Err(ProviderError::Throttled);
                }
                Err(e) => {
                    tracing::warn!(provider = self.provider, error = %e, "rate limiter unreachable; call refused");
                    return Err(ProviderError::Throttled);
                }
            }
        };
        if !wait.is_zero() {
            metrics::counter!(m::RATE_LIMIT_WAITS.name, "provider" => self.provider).increment(1);
            metrics::histogram!(m::RATE_LIMIT_WAIT_SECONDS.name, "provider" => self.provider)
                .record(wait.as_secs_f64());
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    fn refused(&self) -> ProviderError {
        metrics::counter!(m::RATE_LIMIT_REFUSED.name, "provider" => self.provider).increment(1);
        ProviderError::Throttled
    }

    /// Holds every worker's calls to this provider back for `d` (a 429's `Retry-After`).
    pub async fn hold(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tracing::info!(
            provider = self.provider,
            retry_after_ms = d.as_millis() as u64,
            "provider asked us to back off"
        );
        if self.interval_us == 0 {
            // The chain caps `d` (--retry-after-max-ms); never overflow an Instant regardless.
            let Some(until) = Instant::now().checked_add(d) else {
                return;
            };
            let mut hold = self
                .local_hold
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *hold = Some(hold.map_or(until, |h| h.max(until)));
            return;
        }
        let mut conn = self.conn.clone();
        let res: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&self.hold_key)
            .arg(1)
            .arg("PX")
            .arg(d.as_millis().max(1) as u64)
            .query_async(&mut conn)
            .await;
        if let Err(e) = res {
            tracing::warn!(provider = self.provider, error = %e, "could not share a Retry-After with the fleet");
        }
    }
}
