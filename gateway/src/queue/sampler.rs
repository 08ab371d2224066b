//! Samples the queue for the metrics SREs and autoscalers scale on, periodically and off the
//! request path: one pipelined round trip per interval.
//!
//! The completion rate is derived from the stream itself: completed entries are deleted, so
//! `entries-added − length` counts every job that left the queue; its growth per second is the
//! fleet's completion rate, and `backlog ÷ rate` is the predicted wait.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::Value;
use routeq_shared::metrics::queue as m;
use routeq_shared::redis::{JobStore, Keys};
use tokio_util::sync::CancellationToken;

use super::QueueView;

/// The longest predicted wait reported (a day): beyond it the number means "not draining".
const MAX_PREDICTED_WAIT_S: f64 = 86_400.0;
/// A consumer that has not read for this long is not counted as alive.
const ALIVE_IDLE_MS: i64 = 15_000;

/// One sample of the queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSample {
    pub length: u64,
    pub entries_added: u64,
    pub lag: u64,
    pub pending: u64,
    pub oldest_age_s: f64,
    pub consumers_alive: u64,
    pub dead_letters: u64,
    pub records_backlog: u64,
}

/// Reads one sample: every partition's stream, summed (the oldest job is the oldest of all,
/// a worker is counted once however many partitions it reads).
pub async fn sample(store: &JobStore) -> redis::RedisResult<QueueSample> {
    let mut total = QueueSample::default();
    let mut alive = std::collections::HashSet::new();
    let mut any = false;
    let mut last_error = None;
    for keys in store.keys().all() {
        match sample_partition(store, &keys, &mut alive).await {
            Ok(s) => {
                any = true;
                total.length += s.length;
                total.entries_added += s.entries_added;
                total.lag += s.lag;
                total.pending += s.pending;
                total.oldest_age_s = total.oldest_age_s.max(s.oldest_age_s);
                total.dead_letters += s.dead_letters;
                total.records_backlog += s.records_backlog;
            }
            // No stream yet in this partition (nothing submitted to it).
            Err(e) if e.to_string().contains("no such key") => {}
            Err(e) => last_error = Some(e),
        }
    }
    if let Some(e) = last_error {
        return Err(e);
    }
    if !any {
        return Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "no such key: nothing submitted yet",
        )));
    }
    total.consumers_alive = alive.len() as u64;
    Ok(total)
}

async fn sample_partition(
    store: &JobStore,
    keys: &Keys,
    alive: &mut std::collections::HashSet<String>,
) -> redis::RedisResult<QueueSample> {
    let stream = keys.jobs_stream();
    let mut conn = store.connection();
    let (info, groups, consumers, dead, records): (Value, Value, Value, u64, u64) = redis::pipe()
        .cmd("XINFO")
        .arg("STREAM")
        .arg(&stream)
        .cmd("XINFO")
        .arg("GROUPS")
        .arg(&stream)
        .cmd("XINFO")
        .arg("CONSUMERS")
        .arg(&stream)
        .arg(Keys::GROUP)
        .xlen(keys.dead_letters())
        .xlen(keys.records_stream())
        .query_async(&mut conn)
        .await?;
    let info = map(&info);
    let length = int(info.get("length")).max(0) as u64;
    let entries_added = int(info.get("entries-added")).max(0) as u64;
    let oldest_age_s = match info.get("first-entry") {
        Some(Value::Array(entry)) => entry
            .first()
            .and_then(text)
            .and_then(|id| id.split('-').next().and_then(|ms| ms.parse::<u64>().ok()))
            .map(|ms| routeq_shared::job::now_ms().saturating_sub(ms) as f64 / 1000.0)
            .unwrap_or(0.0),
        _ => 0.0,
    };
    let (mut lag, mut pending) = (0, 0);
    if let Value::Array(groups) = &groups {
        for g in groups {
            let g = map(g);
            if g.get("name").and_then(text).as_deref() == Some(Keys::GROUP) {
                lag = int(g.get("lag")).max(0) as u64;
                pending = int(g.get("pending")).max(0) as u64;
            }
        }
    }
    if let Value::Array(cs) = &consumers {
        for c in cs {
            let c = map(c);
            if int(c.get("idle")) < ALIVE_IDLE_MS
                && let Some(name) = c.get("name").and_then(text)
            {
                alive.insert(name);
            }
        }
    }
    Ok(QueueSample {
        length,
        entries_added,
        lag,
        pending,
        oldest_age_s,
        consumers_alive: 0,
        dead_letters: dead,
        records_backlog: records,
    })
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
    let mut previous: Option<(Instant, u64)> = None;
    let mut rate = 0.0f64;
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
        if let Some((t0, left0)) = previous {
            let dt = now.duration_since(t0).as_secs_f64();
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
        previous = Some((now, left));
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

/// Backlog ÷ completion rate, in seconds; 0 with nothing queued; capped when nothing completes.
pub fn predicted_wait(backlog: u64, rate_per_s: f64) -> f64 {
    if backlog == 0 {
        0.0
    } else if rate_per_s <= f64::EPSILON {
        MAX_PREDICTED_WAIT_S
    } else {
        (backlog as f64 / rate_per_s).min(MAX_PREDICTED_WAIT_S)
    }
}

fn map(v: &Value) -> HashMap<String, Value> {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => text(k).map(|k| (k, v.clone())),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| text(k).map(|k| (k, v.clone())))
            .collect(),
        _ => HashMap::new(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Int(n)) => *n,
        Some(other) => text(other).and_then(|s| s.parse().ok()).unwrap_or(0),
        None => 0,
    }
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
