//! Samples the queue for the metrics SREs and autoscalers scale on, periodically and off the
//! request path: one pipelined round trip per interval.
//!
//! The completion rate is derived from the stream itself: completed entries are deleted, so
//! `entries-added − length` counts every job that left the queue; its growth per second is the
//! fleet's completion rate, and `backlog ÷ rate` is the predicted wait.

use std::time::{Duration, Instant};

use routeq_shared::admin::stats::{self, Rates};
pub use routeq_shared::admin::stats::{QueueSample, predicted_wait};
use routeq_shared::metrics::queue as m;
use routeq_shared::redis::JobStore;
use tokio_util::sync::CancellationToken;

use super::QueueView;

/// Reads one sample ([`routeq_shared::admin::stats::sample`], shared with `routeq-admin` and the
/// console); no stream yet is an error here, as before.
pub async fn sample(store: &JobStore) -> redis::RedisResult<QueueSample> {
    let s = stats::sample(&store.connection(), store.keys()).await?;
    if !s.exists {
        return Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "no such key: nothing submitted yet",
        )));
    }
    Ok(s)
}

/// Samples every `every` until `shutdown`, publishing gauges.
pub async fn run(
    store: JobStore,
    view: std::sync::Arc<QueueView>,
    every: Duration,
    capacity_per_s: f64,
    shutdown: CancellationToken,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<(Instant, u64, u64)> = None;
    let mut rate = 0.0f64;
    let mut arrival = 0.0f64;
    // The last rate measured above zero: what the fleet can do when it runs (kept while it is
    // scaled to zero or idle).
    let mut last_good = 0.0f64;
    let mut previous_length = 0u64;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let s = match sample(&store).await {
            Ok(s) => s,
            Err(e) => {
                // No stream yet (nothing submitted) is not an error worth a warning.
                if !e.to_string().contains("no such key") {
                    tracing::debug!(error = %e, "queue sample failed");
                }
                continue;
            }
        };
        let left = s.entries_added.saturating_sub(s.length);
        let now = Instant::now();
        let mut completing = false;
        if let Some((t0, left0, added0)) = previous {
            let dt = now.duration_since(t0).as_secs_f64();
            if dt > 0.0 {
                let instant_arrival = s.entries_added.saturating_sub(added0) as f64 / dt;
                arrival = if arrival == 0.0 {
                    instant_arrival
                } else {
                    0.8 * arrival + 0.2 * instant_arrival
                };
            }
            let completed = left.saturating_sub(left0);
            completing = completed > 0;
            // An idle interval (nothing queued, nothing completed) says nothing about the
            // rate: keep the last one, so a long-idle gateway does not predict forever.
            if dt > 0.0 && (completed > 0 || previous_length > 0) {
                let instant_rate = completed as f64 / dt;
                // Smooth over ~10 samples so one idle second does not predict forever.
                rate = if rate == 0.0 {
                    instant_rate
                } else {
                    0.8 * rate + 0.2 * instant_rate
                };
            }
        }
        previous = Some((now, left, s.entries_added));
        previous_length = s.length;
        // Only an interval in which jobs completed measures what the fleet can do; while it
        // completes nothing (scaled to zero, stalled) the smoothed rate decays, this does not.
        if completing && rate > MIN_RATE {
            last_good = rate;
        }
        let wait = predicted_wait(s.length, rate);
        let measured = if completing { rate } else { 0.0 };
        let judged = judged_rate(measured, last_good, capacity_per_s);
        view.length.store(s.length, Relaxed);
        view.predicted_wait_ms.store(
            judged.map_or(0, |r| (predicted_wait(s.length, r) * 1000.0) as u64),
            Relaxed,
        );
        view.rate_known.store(judged.is_some(), Relaxed);
        view.sampled.store(true, Relaxed);
        metrics::gauge!(m::LENGTH.name).set(s.length as f64);
        metrics::gauge!(m::LAG.name).set(s.lag as f64);
        metrics::gauge!(m::PENDING.name).set(s.pending as f64);
        metrics::gauge!(m::OLDEST_AGE.name).set(s.oldest_age_s);
        metrics::gauge!(m::COMPLETION_RATE.name).set(rate);
        metrics::gauge!(m::PREDICTED_WAIT.name).set(wait);
        metrics::gauge!(m::WORKERS_ALIVE.name).set(s.consumers_alive as f64);
        metrics::gauge!(m::DEAD_LETTERS.name).set(s.dead_letters as f64);
        metrics::gauge!(m::RECORDS_BACKLOG.name).set(s.records_backlog as f64);
        metrics::gauge!(m::ARRIVAL_RATE.name).set(arrival);
        // The same numbers for `routeq-admin stats` and the console.
        let published = Rates {
            at_ms: routeq_shared::job::now_ms(),
            arrival_per_s: arrival,
            completion_per_s: rate,
            predicted_wait_s: wait,
        };
        if let Err(e) = stats::publish_rates(&store.connection(), store.keys(), &published).await {
            tracing::debug!(error = %e, "publishing the sampled rates failed");
        }
    }
}

/// A rate below this (jobs/s) is no rate: nothing is completing.
const MIN_RATE: f64 = 0.01;

/// The rate admission control judges by: the measured one while the fleet completes jobs, else
/// the last one measured (workers scaled to zero, stalled), else the configured capacity; `None`
/// when there is none of these (then nothing is refused: a rate of zero is never judged by).
pub fn judged_rate(measured: f64, last_good: f64, capacity: f64) -> Option<f64> {
    [measured, last_good, capacity]
        .into_iter()
        .find(|r| *r > MIN_RATE)
}

#[cfg(test)]
mod tests {
    use super::{judged_rate, predicted_wait};

    #[test]
    fn admission_never_judges_by_a_zero_rate() {
        assert_eq!(judged_rate(0.0, 0.0, 0.0), None);
        assert_eq!(judged_rate(5.0, 9.0, 1.0), Some(5.0));
        assert_eq!(judged_rate(0.0, 9.0, 1.0), Some(9.0));
        assert_eq!(judged_rate(0.0, 0.0, 2.0), Some(2.0));
    }

    #[test]
    fn predicted_wait_is_backlog_over_rate() {
        assert_eq!(predicted_wait(0, 0.0), 0.0);
        assert_eq!(predicted_wait(100, 50.0), 2.0);
        assert_eq!(predicted_wait(100, 0.0), 86_400.0);
    }
}
