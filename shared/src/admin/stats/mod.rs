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
//!
//! This module owns the overview and the tenants' open jobs; `queue.rs` the sample and rates,
//! `providers.rs` breakers and rate limiters, `codes.rs` the recent failure codes.

mod codes;
mod providers;
mod queue;

pub use codes::{CODES_KEPT_S, CodeCount, RECENT_MINUTES, publish_codes, recent_codes};
pub use providers::{
    BreakerView, ProviderView, RateLimitView, breakers, by_provider, publish_breakers, rate_limits,
};
pub use queue::{
    QueueSample, Rates, WorkerView, predicted_wait, publish_rates, published_rates, rates_between,
    sample,
};
use std::collections::BTreeMap;
use std::time::Duration;

use redis::AsyncCommands;

use super::value::{glob, scan_owner};
use crate::redis::{Conn, Keys};

/// The longest predicted wait reported (a day): beyond it the number means "not draining".
pub const MAX_PREDICTED_WAIT_S: f64 = 86_400.0;
/// A consumer that has not read for this long is not counted as alive.
pub const ALIVE_IDLE_MS: i64 = 15_000;
/// A gateway's published rates older than this are not used (it is gone or not sampling).
pub const RATES_FRESH_MS: u64 = 5_000;
/// A worker's published breaker states older than this are dropped (the worker is gone).
pub const BREAKERS_FRESH_MS: u64 = 10_000;

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
        let names = scan_owner(conn, &k.jobs_stream(), &format!("{}*", glob(&prefix))).await?;
        let mut c = conn.clone();
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
    /// The fleet-wide rate limiter of each provider the workers name.
    pub rate_limits: Vec<RateLimitView>,
    /// Failure codes of the jobs that ended in the last five minutes, most first.
    pub recent_errors: Vec<CodeCount>,
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
    let providers = by_provider(&breakers);
    let names: Vec<String> = providers.iter().map(|p| p.provider.clone()).collect();
    let rate_limits = rate_limits(conn, keys, &names).await?;
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
        providers,
        breakers,
        rate_limits,
        recent_errors: recent_codes(conn, keys).await?,
        paused: super::pause::get(conn, keys).await?,
    })
}
