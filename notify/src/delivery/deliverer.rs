//! The [`Deliverer`]: many deliveries at once, each endpoint isolated from the others.
//!
//! Per endpoint: at most `endpoint_concurrency` attempts in flight and `endpoint_queue` more
//! waiting (beyond that a delivery is deferred as [`Deferral::Busy`] at once instead of piling
//! up), a circuit breaker (an open one defers without attempting), and its health (disabled
//! after failing continuously for `disable_after`). Across endpoints: at most `max_in_flight`
//! attempts. A delivery takes its endpoint's permit *before* a global one, so deliveries queued
//! behind a slow endpoint never hold global permits: a receiver that takes 10 s per request
//! slows only its own deliveries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::breaker::{Admission, Breaker};
use super::transport::Transport;
use super::{
    BreakerPolicy, BreakerState, Deferral, Delivery, Health, HttpConfig, Next, Outcome, Report,
    Schedule,
};
use crate::ssrf::{Resolve, UrlPolicy};

/// Everything a [`Deliverer`] is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct DelivererConfig {
    pub http: HttpConfig,
    pub policy: UrlPolicy,
    pub schedule: Schedule,
    pub breaker: BreakerPolicy,
    /// Attempts in flight per endpoint.
    pub endpoint_concurrency: usize,
    /// Deliveries waiting per endpoint beyond those in flight (then: deferred, busy).
    pub endpoint_queue: usize,
    /// Attempts in flight across all endpoints.
    pub max_in_flight: usize,
    /// Deliveries [`Deliverer::run`] holds at once (in flight and waiting); keep it several
    /// times `endpoint_concurrency + endpoint_queue` so one endpoint cannot fill it.
    pub max_pending: usize,
    /// The delay a busy deferral asks for.
    pub busy_retry: Duration,
    /// The longest `Retry-After` honoured.
    pub retry_after_max: Duration,
    /// An endpoint failing continuously for this long is disabled.
    pub disable_after: Duration,
}

impl Default for DelivererConfig {
    fn default() -> DelivererConfig {
        DelivererConfig {
            http: HttpConfig::default(),
            policy: UrlPolicy::default(),
            schedule: Schedule::default(),
            breaker: BreakerPolicy::default(),
            endpoint_concurrency: 8,
            endpoint_queue: 64,
            max_in_flight: 512,
            max_pending: 4096,
            busy_retry: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(3600),
            disable_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

pub(super) struct EndpointState {
    pub(super) permits: Semaphore,
    pub(super) pending: AtomicUsize,
    pub(super) breaker: Breaker,
    pub(super) health: Mutex<Health>,
}

impl EndpointState {
    pub(super) fn disabled(&self) -> bool {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .disabled
    }
}

pub(super) struct Inner {
    pub(super) config: DelivererConfig,
    pub(super) transport: Transport,
    pub(super) resolver: Arc<dyn Resolve>,
    endpoints: Mutex<HashMap<String, Arc<EndpointState>>>,
    pub(super) in_flight: Semaphore,
}

/// Runs deliveries; cheap to clone (shared state).
#[derive(Clone)]
pub struct Deliverer {
    pub(super) inner: Arc<Inner>,
}

/// Gives back an endpoint's pending slot.
pub(super) struct Pending<'a>(pub(super) &'a AtomicUsize);
impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Frees the half-open trial if the delivery is dropped before it recorded a result.
pub(super) struct Ticket<'a> {
    pub(super) breaker: &'a Breaker,
    pub(super) admission: Admission,
    pub(super) recorded: bool,
}
impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.abandon(self.admission);
        }
    }
}

pub(super) fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

pub(super) fn not_attempted(outcome: Outcome, next: Next, attempts_made: u32) -> Report {
    Report {
        outcome,
        next,
        attempts_made,
        latency: None,
        response: None,
        health: None,
        breaker: None,
    }
}

impl Deliverer {
    pub fn new(config: DelivererConfig, resolver: Arc<dyn Resolve>) -> Deliverer {
        let in_flight = Semaphore::new(config.max_in_flight.max(1));
        Deliverer {
            inner: Arc::new(Inner {
                transport: Transport::new(config.http.clone()),
                config,
                resolver,
                endpoints: Mutex::new(HashMap::new()),
                in_flight,
            }),
        }
    }

    pub fn config(&self) -> &DelivererConfig {
        &self.inner.config
    }

    pub(super) fn state(&self, endpoint_id: &str) -> Arc<EndpointState> {
        let mut map = self
            .inner
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let c = &self.inner.config;
        map.entry(endpoint_id.to_string())
            .or_insert_with(|| {
                Arc::new(EndpointState {
                    permits: Semaphore::new(c.endpoint_concurrency.max(1)),
                    pending: AtomicUsize::new(0),
                    breaker: Breaker::new(c.breaker.clone()),
                    health: Mutex::new(Health::default()),
                })
            })
            .clone()
    }

    fn existing(&self, endpoint_id: &str) -> Option<Arc<EndpointState>> {
        let map = self
            .inner
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(endpoint_id).cloned()
    }

    /// The endpoint's health as this deliverer knows it.
    pub fn health(&self, endpoint_id: &str) -> Option<Health> {
        let state = self.existing(endpoint_id)?;
        let health = *state.health.lock().unwrap_or_else(PoisonError::into_inner);
        Some(health)
    }

    /// Seeds an endpoint's health from what the caller persisted (after a restart).
    pub fn restore_health(&self, endpoint_id: &str, health: Health) {
        let state = self.state(endpoint_id);
        *state.health.lock().unwrap_or_else(PoisonError::into_inner) = health;
    }

    /// Re-enables a disabled endpoint (its failing streak starts over).
    pub fn enable(&self, endpoint_id: &str) {
        self.restore_health(endpoint_id, Health::default());
    }

    /// Drops what this deliverer holds for a deleted endpoint.
    pub fn forget(&self, endpoint_id: &str) {
        let mut map = self
            .inner
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.remove(endpoint_id);
    }

    /// The endpoint's breaker state now.
    pub fn breaker_state(&self, endpoint_id: &str) -> Option<BreakerState> {
        Some(self.existing(endpoint_id)?.breaker.state(Instant::now()))
    }

    /// The next step of a delivery that was not attempted: retry after `delay`, unless the
    /// event is past the schedule's horizon.
    pub(super) fn deferred(&self, d: &Delivery, why: Deferral, delay: Duration) -> Report {
        let age = SystemTime::now()
            .duration_since(d.event.created_at())
            .unwrap_or(Duration::ZERO);
        let next = if age > self.inner.config.schedule.horizon() {
            Next::DeadLetter
        } else {
            Next::RetryIn(delay)
        };
        not_attempted(Outcome::Deferred(why), next, d.attempts_made)
    }

    /// Delivers everything received on `deliveries` concurrently (at most `max_pending` at
    /// once) and sends each delivery back with its report. Ends when `deliveries` is closed and
    /// every delivery has reported (or `reports` is closed).
    pub fn run(
        &self,
        mut deliveries: mpsc::Receiver<Delivery>,
        reports: mpsc::Sender<(Delivery, Report)>,
    ) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let max = this.inner.config.max_pending.max(1);
            let pending = Arc::new(Semaphore::new(max));
            while let Some(d) = deliveries.recv().await {
                let Ok(permit) = pending.clone().acquire_owned().await else {
                    break;
                };
                let (this, reports) = (this.clone(), reports.clone());
                tokio::spawn(async move {
                    let report = this.deliver(&d).await;
                    // A closed report channel means the caller stopped listening: nothing to do.
                    let _ = reports.send((d, report)).await;
                    drop(permit);
                });
            }
            let all = u32::try_from(max).unwrap_or(u32::MAX);
            let _ = pending.acquire_many(all).await;
        })
    }
}
