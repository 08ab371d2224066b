//! The queue sample (one pipelined read per partition, summed), its workers, the rates between
//! two samples and the rates a gateway publishes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use redis::{AsyncCommands, Value};

use super::{ALIVE_IDLE_MS, MAX_PREDICTED_WAIT_S};
use crate::admin::value::{int, map, text};
use crate::redis::{Conn, Keys};

/// One consumer of the workers' group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkerView {
    pub name: String,
    /// Entries delivered to it and not yet acknowledged.
    pub in_flight: u64,
    /// Since its last read, ms.
    pub idle_ms: u64,
    /// Its last read, epoch ms.
    pub last_seen_ms: u64,
    /// Read within the last 15 s.
    pub alive: bool,
}

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
    /// Jobs the sweeper ended, ever (they left the stream without a worker completing them).
    pub swept: u64,
    /// Every consumer, merged over partitions (in flight summed, idle the least).
    pub workers: Vec<WorkerView>,
    /// Whether any partition has a stream yet.
    pub exists: bool,
}

/// Reads one sample: every partition's stream, summed (the oldest job is the oldest of all,
/// a worker is counted once however many partitions it reads). No stream yet is an empty sample.
pub async fn sample(conn: &Conn, keys: &Keys) -> redis::RedisResult<QueueSample> {
    let mut total = QueueSample::default();
    let mut workers: BTreeMap<String, WorkerView> = BTreeMap::new();
    let now = crate::job::now_ms();
    for k in keys.all() {
        match sample_partition(conn, &k, now, &mut workers).await {
            Ok(s) => {
                total.exists = true;
                total.length += s.length;
                total.entries_added += s.entries_added;
                total.lag += s.lag;
                total.pending += s.pending;
                total.oldest_age_s = total.oldest_age_s.max(s.oldest_age_s);
                total.dead_letters += s.dead_letters;
                total.records_backlog += s.records_backlog;
                total.swept += s.swept;
            }
            // No stream yet in this partition (nothing submitted to it).
            Err(e) if e.to_string().contains("no such key") => {}
            Err(e) => return Err(e),
        }
    }
    total.workers = workers.into_values().collect();
    total.consumers_alive = total.workers.iter().filter(|w| w.alive).count() as u64;
    Ok(total)
}

async fn sample_partition(
    conn: &Conn,
    keys: &Keys,
    now: u64,
    workers: &mut BTreeMap<String, WorkerView>,
) -> redis::RedisResult<QueueSample> {
    let stream = keys.jobs_stream();
    let mut conn = conn.clone();
    let (info, groups, consumers, dead, records, swept): (
        Value,
        Value,
        Value,
        u64,
        u64,
        Option<u64>,
    ) = redis::pipe()
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
        .get(keys.swept())
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
            .map(|ms| now.saturating_sub(ms) as f64 / 1000.0)
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
            let Some(name) = c.get("name").and_then(text) else {
                continue;
            };
            let idle = int(c.get("idle")).max(0);
            let w = workers.entry(name.clone()).or_insert(WorkerView {
                name,
                in_flight: 0,
                idle_ms: u64::MAX,
                last_seen_ms: 0,
                alive: false,
            });
            w.in_flight += int(c.get("pending")).max(0) as u64;
            w.idle_ms = w.idle_ms.min(idle as u64);
            w.last_seen_ms = now.saturating_sub(w.idle_ms);
            w.alive = w.alive || idle < ALIVE_IDLE_MS;
        }
    }
    Ok(QueueSample {
        length,
        entries_added,
        lag,
        pending,
        oldest_age_s,
        dead_letters: dead,
        records_backlog: records,
        swept: swept.unwrap_or(0),
        ..QueueSample::default()
    })
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

/// Rates between two samples `dt` apart: (arrival, completion) per second.
pub fn rates_between(a: &QueueSample, b: &QueueSample, dt: Duration) -> (f64, f64) {
    let dt = dt.as_secs_f64();
    if dt <= 0.0 {
        return (0.0, 0.0);
    }
    let left = |s: &QueueSample| s.entries_added.saturating_sub(s.length);
    (
        b.entries_added.saturating_sub(a.entries_added) as f64 / dt,
        left(b).saturating_sub(left(a)) as f64 / dt,
    )
}

/// The rates a gateway computed at its last sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Rates {
    /// When, epoch ms.
    pub at_ms: u64,
    pub arrival_per_s: f64,
    pub completion_per_s: f64,
    pub predicted_wait_s: f64,
}

/// Publishes a gateway's rates (one small hash, expiring if no gateway samples any more).
pub async fn publish_rates(conn: &Conn, keys: &Keys, r: &Rates) -> redis::RedisResult<()> {
    let mut c = conn.clone();
    redis::pipe()
        .hset_multiple(
            keys.sampled(),
            &[
                ("at", r.at_ms.to_string()),
                ("arrival", r.arrival_per_s.to_string()),
                ("completion", r.completion_per_s.to_string()),
                ("wait", r.predicted_wait_s.to_string()),
            ],
        )
        .ignore()
        .pexpire(keys.sampled(), 60_000)
        .ignore()
        .exec_async(&mut c)
        .await
}

/// The rates a gateway published last, if any.
pub async fn published_rates(conn: &Conn, keys: &Keys) -> redis::RedisResult<Option<Rates>> {
    let mut c = conn.clone();
    let f: HashMap<String, String> = c.hgetall(keys.sampled()).await?;
    let num = |k: &str| f.get(k).and_then(|v| v.parse::<f64>().ok());
    Ok(
        match (num("at"), num("arrival"), num("completion"), num("wait")) {
            (Some(at), Some(a), Some(c), Some(w)) => Some(Rates {
                at_ms: at as u64,
                arrival_per_s: a,
                completion_per_s: c,
                predicted_wait_s: w,
            }),
            _ => None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicted_wait_is_backlog_over_rate() {
        assert_eq!(predicted_wait(0, 0.0), 0.0);
        assert_eq!(predicted_wait(100, 50.0), 2.0);
        assert_eq!(predicted_wait(100, 0.0), 86_400.0);
    }

    #[test]
    fn rates_count_arrivals_and_departures() {
        let a = QueueSample {
            length: 10,
            entries_added: 100,
            ..QueueSample::default()
        };
        let b = QueueSample {
            length: 12,
            entries_added: 110,
            ..QueueSample::default()
        };
        // 10 arrived, 8 left, in 2 s.
        assert_eq!(rates_between(&a, &b, Duration::from_secs(2)), (5.0, 4.0));
    }
}
