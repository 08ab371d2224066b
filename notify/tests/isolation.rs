//! One slow endpoint slows only its own deliveries: a receiver that takes 10 s per request
//! next to a fast one, through one `Deliverer::run`, measured against the fast one alone.

mod common;

use std::time::{Duration, Instant};

use common::*;
use routeq_notify::{Deliverer, DelivererConfig, Delivery, HttpConfig, Outcome, Report};
use routeq_receiver::Mode;
use tokio::sync::mpsc;

const FAST: usize = 1000;
const SLOW: usize = 12;

fn config() -> DelivererConfig {
    DelivererConfig {
        http: HttpConfig {
            timeout: Duration::from_secs(20),
            ..HttpConfig::default()
        },
        endpoint_concurrency: 4,
        // Room for the whole fast burst: what waits queues on its own endpoint's permits.
        endpoint_queue: FAST,
        // Fewer global permits than slow deliveries: queued slow ones must not hold any.
        max_in_flight: 8,
        max_pending: 512,
        ..common::config()
    }
}

/// Feeds `jobs` to `run` and collects (receipt time since start, endpoint id, report) until
/// `want` reports whose endpoint is `until_endpoint` have come back.
async fn run(
    d: &Deliverer,
    jobs: Vec<Delivery>,
    until_endpoint: &str,
    want: usize,
) -> Vec<(Duration, String, Report)> {
    let (tx, rx) = mpsc::channel(jobs.len());
    let (rtx, mut rrx) = mpsc::channel(jobs.len());
    let _runner = d.run(rx, rtx);
    let started = Instant::now();
    for job in jobs {
        tx.send(job).await.unwrap();
    }
    let mut got = Vec::new();
    let mut seen = 0;
    while seen < want {
        let (job, report) = rrx.recv().await.expect("reports");
        let endpoint = job.endpoint.id().to_string();
        seen += usize::from(endpoint == until_endpoint);
        got.push((started.elapsed(), endpoint, report));
    }
    got
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_second_receiver_slows_only_its_own_endpoint() {
    let secret = routeq_notify::Secret::generate().unwrap();
    let (slow_rx, fast_rx) = (receiver(&secret).await, receiver(&secret).await);
    slow_rx.set_mode(Mode {
        delay_ms: 10_000,
        ..Mode::default()
    });
    let slow = endpoint("ep_slow", &slow_rx.url("/"), &secret);
    let fast = endpoint("ep_fast", &fast_rx.url("/"), &secret);

    // Baseline: the fast endpoint alone.
    let d = Deliverer::new(
        config(),
        std::sync::Arc::new(routeq_notify::MapResolver::new()),
    );
    let alone: Vec<Delivery> = (0..FAST).map(|_| delivery(&event(), &fast)).collect();
    let base = run(&d, alone, "ep_fast", FAST).await;
    let base_wall = base.last().unwrap().0;
    let base_p99 = percentile(base.iter().filter_map(|r| r.2.latency).collect(), 0.99);

    // Mixed: the slow deliveries first, then the fast ones, on a fresh deliverer.
    let d = Deliverer::new(
        config(),
        std::sync::Arc::new(routeq_notify::MapResolver::new()),
    );
    let mut jobs: Vec<Delivery> = (0..SLOW).map(|_| delivery(&event(), &slow)).collect();
    jobs.extend((0..FAST).map(|_| delivery(&event(), &fast)));
    // Until the first wave of slow ones (the 4 in flight) has answered; 8 more wait behind it.
    let mixed = run(&d, jobs, "ep_slow", 4).await;

    let fast_reports: Vec<&(Duration, String, Report)> =
        mixed.iter().filter(|r| r.1 == "ep_fast").collect();
    assert_eq!(fast_reports.len(), FAST);
    assert!(
        fast_reports
            .iter()
            .all(|r| r.2.outcome == Outcome::Delivered { status: 200 })
    );
    let fast_wall = fast_reports.iter().map(|r| r.0).max().unwrap();
    let fast_p99 = percentile(
        fast_reports.iter().filter_map(|r| r.2.latency).collect(),
        0.99,
    );

    let slow_reports: Vec<&(Duration, String, Report)> =
        mixed.iter().filter(|r| r.1 == "ep_slow").collect();
    let done: Vec<Duration> = slow_reports
        .iter()
        .filter(|r| r.2.outcome.class() == "2xx")
        .map(|r| r.0)
        .collect();
    println!(
        "fast alone: {FAST} in {base_wall:?} (p99 {base_p99:?}); next to a 10 s endpoint: {FAST} in \
         {fast_wall:?} (p99 {fast_p99:?}); slow: first {} answered after {:?}",
        done.len(),
        done.iter().min()
    );
    // The slow endpoint: its first 4 (in flight) took the full 10 s; the rest wait behind them.
    assert_eq!(done.len(), 4);
    assert!(done.iter().all(|t| *t >= Duration::from_secs(10)));
    // The fast endpoint finished long before the slow one answered, its latency unchanged
    // within a generous margin (a loaded 2-core machine runs the other tests too).
    assert!(
        fast_wall < Duration::from_secs(5),
        "fast deliveries took {fast_wall:?}"
    );
    assert!(fast_p99 < Duration::from_secs(1), "fast p99 {fast_p99:?}");
    assert!(
        fast_wall < base_wall * 4 + Duration::from_secs(1),
        "{fast_wall:?} vs {base_wall:?}"
    );
}
