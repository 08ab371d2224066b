//! The queue overview: one implementation for the gateways' sampler (whose gauges `/metrics`
//! exports), `routeq-admin stats` and the console.
//!
//! - [`sample`]: one pipelined read per partition (`XINFO STREAM/GROUPS/CONSUMERS`, the lengths
//!   of the dead-letter and records streams), summed over partitions.
//! - Rates come from two samples: completed entries are deleted, so `entries-added − length`
//!   counts every job that left the queue and its growth per second is the completion rate;
//!   `entries-added`'s growth is the arrival rate; `backlog ÷ completion rate` is the predicted
//!   wait. A gateway smooths them over its samples and publishes them ([`publish_rates`]) so
//!   the CLI and the console report what `/metrics` reports; without a fresh publication
//!   [`overview`] measures its own over a short window.
//! - Workers are the consumers of the group (in flight = their pending entries, last seen = their
//!   idle time); breakers are what each worker published in the last seconds ([`publish_breakers`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use redis::{AsyncCommands, Value};

use super::value::{glob, int, map, text};
use crate::redis::{Conn, Keys};

/// The longest predicted wait reported (a day): beyond it the number means "not draining".
pub const MAX_PREDICTED_WAIT_S: f64 = 86_400.0;
/// A consumer that has not read for this long is not counted as alive.
pub const ALIVE_IDLE_MS: i64 = 15_000;
/// A gateway's published rates older than this are not used (it is gone or not sampling).
pub const RATES_FRESH_MS: u64 = 5_000;
/// A worker's published breaker states older than this are dropped (the worker is gone).
pub const BREAKERS_FRESH_MS: u64 = 10_000;

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

/// A breaker's state as a worker published it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BreakerView {
    pub worker: String,
    pub provider: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    pub at_ms: u64,
}

/// One provider's breakers over the fleet.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProviderView {
    pub provider: String,
    /// The worst state of any live worker's breaker (open > half_open > closed).
    pub breaker: String,
    pub open: u32,
    pub half_open: u32,
    pub closed: u32,
}

/// Publishes a worker's breaker states (`(provider, state)`, state as `closed|open|half_open`).
pub async fn publish_breakers(
    conn: &Conn,
    keys: &Keys,
    consumer: &str,
    states: &[(&str, &str)],
) -> redis::RedisResult<()> {
    if states.is_empty() {
        return Ok(());
    }
    let now = crate::job::now_ms();
    let fields: Vec<(String, String)> = states
        .iter()
        .map(|(p, s)| (format!("{consumer} {p}"), format!("{s} {now}")))
        .collect();
    let mut c = conn.clone();
    c.hset_multiple(keys.breakers(), &fields).await
}

/// The breakers published in the last [`BREAKERS_FRESH_MS`]; stale fields are removed.
pub async fn breakers(conn: &Conn, keys: &Keys) -> redis::RedisResult<Vec<BreakerView>> {
    let mut c = conn.clone();
    let f: HashMap<String, String> = c.hgetall(keys.breakers()).await?;
    let now = crate::job::now_ms();
    let (mut out, mut stale) = (Vec::new(), Vec::new());
    for (k, v) in f {
        let (Some((worker, provider)), Some((state, at))) = (k.rsplit_once(' '), v.split_once(' '))
        else {
            stale.push(k);
            continue;
        };
        let at_ms = at.parse::<u64>().unwrap_or(0);
        if now.saturating_sub(at_ms) > BREAKERS_FRESH_MS {
            stale.push(k.clone());
            continue;
        }
        out.push(BreakerView {
            worker: worker.to_string(),
            provider: provider.to_string(),
            state: state.to_string(),
            at_ms,
        });
    }
    if !stale.is_empty() {
        let _: redis::RedisResult<u64> = c.hdel(keys.breakers(), stale).await;
    }
    out.sort_by(|a, b| (&a.provider, &a.worker).cmp(&(&b.provider, &b.worker)));
    Ok(out)
}

/// Per provider: how many breakers are in each state, and the worst.
pub fn by_provider(breakers: &[BreakerView]) -> Vec<ProviderView> {
    let mut m: BTreeMap<&str, ProviderView> = BTreeMap::new();
    for b in breakers {
        let p = m.entry(&b.provider).or_insert(ProviderView {
            provider: b.provider.clone(),
            breaker: "closed".into(),
            open: 0,
            half_open: 0,
            closed: 0,
        });
        match b.state.as_str() {
            "open" => p.open += 1,
            "half_open" => p.half_open += 1,
            _ => p.closed += 1,
        }
        p.breaker = if p.open > 0 {
            "open"
        } else if p.half_open > 0 {
            "half_open"
        } else {
            "closed"
        }
        .into();
    }
    m.into_values().collect()
}

/// A tenant's unfinished jobs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TenantView {
    pub tenant: String,
    pub open_jobs: u64,
}

/// The unfinished jobs of each tenant that has any (the `{p}:open:<tenant>` sets, summed over
/// partitions, read with SCAN).
pub async fn tenants(conn: &Conn, keys: &Keys) -> redis::RedisResult<Vec<TenantView>> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let now = crate::job::now_ms();
    for k in keys.all() {
        let prefix = k.tenant_open_jobs("");
        let mut c = conn.clone();
        let mut names = Vec::new();
        {
            let mut it: redis::AsyncIter<String> = c
                .scan_options(
                    redis::ScanOptions::default()
                        .with_pattern(format!("{}*", glob(&prefix)))
                        .with_count(500),
                )
                .await?;
            while let Some(item) = it.next_item().await {
                names.push(item?);
            }
        }
        for key in names {
            let n: u64 = c.zcount(&key, now as f64, "+inf").await?;
            let tenant = key[prefix.len()..].to_string();
            *counts.entry(tenant).or_default() += n;
        }
    }
    Ok(counts
        .into_iter()
        .map(|(tenant, open_jobs)| TenantView { tenant, open_jobs })
        .collect())
}

/// The overview an operator reads: the queue, its rates, workers, breakers and the pause.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Overview {
    /// When it was read, epoch ms.
    pub at_ms: u64,
    /// Jobs in the stream: queued plus in flight (`routeq_queue_length`).
    pub backlog: u64,
    /// Never yet delivered (`routeq_queue_lag`).
    pub queued: u64,
    /// Delivered, not yet acknowledged (`routeq_queue_pending`).
    pub in_flight: u64,
    pub oldest_age_s: f64,
    pub arrival_per_s: f64,
    pub completion_per_s: f64,
    pub predicted_wait_s: f64,
    /// `gateway` (the rates a gateway published, as in its `/metrics`) or `measured` (two
    /// samples of this reading, no gateway sampling).
    pub rates_from: &'static str,
    pub dead_letters: u64,
    pub records_backlog: u64,
    pub workers_alive: u64,
    pub workers: Vec<WorkerView>,
    pub providers: Vec<ProviderView>,
    pub breakers: Vec<BreakerView>,
    pub paused: Option<super::pause::Paused>,
}

/// Reads the overview. Rates are a gateway's when it published within [`RATES_FRESH_MS`], else
/// measured over `window` (a second sample).
pub async fn overview(conn: &Conn, keys: &Keys, window: Duration) -> redis::RedisResult<Overview> {
    let first = sample(conn, keys).await?;
    let now = crate::job::now_ms();
    let published = published_rates(conn, keys)
        .await?
        .filter(|r| now.saturating_sub(r.at_ms) <= RATES_FRESH_MS);
    let (s, arrival, completion, wait, from) = match published {
        Some(r) => (
            first,
            r.arrival_per_s,
            r.completion_per_s,
            r.predicted_wait_s,
            "gateway",
        ),
        None => {
            tokio::time::sleep(window).await;
            let second = sample(conn, keys).await?;
            let (a, c) = rates_between(&first, &second, window);
            let w = predicted_wait(second.length, c);
            (second, a, c, w, "measured")
        }
    };
    let breakers = breakers(conn, keys).await?;
    Ok(Overview {
        at_ms: crate::job::now_ms(),
        backlog: s.length,
        queued: s.lag,
        in_flight: s.pending,
        oldest_age_s: s.oldest_age_s,
        arrival_per_s: arrival,
        completion_per_s: completion,
        predicted_wait_s: wait,
        rates_from: from,
        dead_letters: s.dead_letters,
        records_backlog: s.records_backlog,
        workers_alive: s.consumers_alive,
        workers: s.workers,
        providers: by_provider(&breakers),
        breakers,
        paused: super::pause::get(conn, keys).await?,
    })
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

    #[test]
    fn a_provider_is_as_bad_as_its_worst_breaker() {
        let b = |w: &str, s: &str| BreakerView {
            worker: w.into(),
            provider: "osrm".into(),
            state: s.into(),
            at_ms: 0,
        };
        let p = by_provider(&[b("a", "closed"), b("b", "half_open")]);
        assert_eq!((p[0].breaker.as_str(), p[0].half_open), ("half_open", 1));
        let p = by_provider(&[b("a", "open"), b("b", "half_open")]);
        assert_eq!(p[0].breaker, "open");
    }
}
