//! Measures what caching and coalescing save, and how the fleet-wide rate limit holds, on a
//! workload with repeated destinations. A driver only: it talks to a running fleet (gateway,
//! simulator, workers), e.g. the one `scripts/bench-provider-savings.sh` starts.
//!
//! Workload: `--jobs` route jobs at `--rate` per second, each from one of `--origins`
//! coordinate points near Seoul to one of `--destinations` addresses of the simulator's table,
//! so both geocodes and (origin, destination) pairs repeat. Without caching or coalescing each
//! job would cost one geocode and one route call; the simulator's `/_sim/stats` says how many
//! it actually served, and its per-second peak is compared with the configured limits. The
//! workers' `/metrics` split the savings into cache hits and coalesced calls.
//!
//! ```text
//! cargo run --release -p routeq-worker --example provider_savings -- \
//!     --gateway http://127.0.0.1:8080 --sim http://127.0.0.1:8090 \
//!     --worker-metrics 127.0.0.1:9091,127.0.0.1:9092 --router-rps 50 --geocoder-rps 10
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// The simulator's base URL (its stats are reset at the start).
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    sim: String,
    /// The workers' metrics listeners, comma-separated (host:port).
    #[arg(long, value_delimiter = ',')]
    worker_metrics: Vec<String>,
    /// Jobs to submit.
    #[arg(long, default_value_t = 2_000)]
    jobs: u32,
    /// Jobs per second.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Distinct origins (coordinates).
    #[arg(long, default_value_t = 20)]
    origins: u32,
    /// Distinct destinations (addresses), at most 12.
    #[arg(long, default_value_t = 10)]
    destinations: usize,
    /// The workers' --router-rps (for the report; 0 = none).
    #[arg(long, default_value_t = 0.0)]
    router_rps: f64,
    /// The workers' --geocoder-rps (for the report; 0 = none).
    #[arg(long, default_value_t = 0.0)]
    geocoder_rps: f64,
}

const DESTINATIONS: [&str; 12] = [
    "Seoul Station",
    "Gangnam Station",
    "COEX",
    "Lotte World Tower",
    "Seoul City Hall",
    "Gimpo International Airport",
    "Incheon Airport T1",
    "Kakao Pangyo Agit",
    "Suwon Station",
    "Daejeon Station",
    "Dongdaegu Station",
    "Busan Station",
];

async fn submit(http: reqwest::Client, url: String, body: Value) -> anyhow::Result<Value> {
    let res = http
        .post(url)
        .header("prefer", "wait=60")
        .json(&body)
        .send()
        .await?;
    Ok(res.json().await?)
}

/// Sums every sample of `name` whose labels contain all of `labels`.
fn sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let destinations = &DESTINATIONS[..args.destinations.clamp(1, DESTINATIONS.len())];
    http.post(format!("{}/_sim/stats/reset", args.sim))
        .send()
        .await?
        .error_for_status()?;

    let started = Instant::now();
    let mut tick =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    let mut tasks = Vec::with_capacity(args.jobs as usize);
    for i in 0..args.jobs {
        tick.tick().await;
        let o = f64::from(i % args.origins.max(1));
        let body = json!({
            "origin": {"lat": 37.48 + o * 0.004, "lon": 127.00 + o * 0.003},
            "destination": {"address": destinations[(i / args.origins.max(1)) as usize % destinations.len()]},
        });
        tasks.push(tokio::spawn(submit(
            http.clone(),
            format!("{}/v1/routes", args.gateway),
            body,
        )));
    }
    let mut states: BTreeMap<String, u32> = BTreeMap::new();
    let mut route_cache: BTreeMap<String, u32> = BTreeMap::new();
    for t in tasks {
        let v = t.await??;
        *states
            .entry(v["state"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        if let Some(c) = v["result"]["cache"].as_str() {
            *route_cache.entry(c.to_string()).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();

    let stats: Value = http
        .get(format!("{}/_sim/stats", args.sim))
        .send()
        .await?
        .json()
        .await?;
    let served = |p: &str| -> u64 {
        stats["providers"][p]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| *k != "max_per_second")
                    .filter_map(|(_, v)| v.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    };
    let peak = |p: &str| {
        stats["providers"][p]["max_per_second"]
            .as_u64()
            .unwrap_or(0)
    };
    let (geo, route) = (served("nominatim"), served("osrm"));
    let naive = 2 * u64::from(args.jobs);

    let mut metrics = String::new();
    for addr in &args.worker_metrics {
        metrics.push_str(
            &http
                .get(format!("http://{addr}/metrics"))
                .send()
                .await?
                .text()
                .await?,
        );
        metrics.push('\n');
    }
    let m = |name: &str, labels: &[&str]| sum(&metrics, name, labels) as u64;

    println!(
        "workload: {} jobs at {}/s ({} origins × {} destinations), done in {:.1} s",
        args.jobs,
        args.rate,
        args.origins,
        destinations.len(),
        elapsed.as_secs_f64()
    );
    println!("outcomes: {states:?}; routes served from: {route_cache:?}");
    println!(
        "provider calls without cache or coalescing: {naive} ({} geocode + {} route)",
        args.jobs, args.jobs
    );
    println!(
        "provider calls served by the simulator:    {} ({geo} geocode + {route} route)",
        geo + route
    );
    println!(
        "saved: {} calls ({:.1} %)",
        naive.saturating_sub(geo + route),
        100.0 * naive.saturating_sub(geo + route) as f64 / naive as f64
    );
    if !args.worker_metrics.is_empty() {
        for cache in ["geocode", "route"] {
            let label = format!("cache=\"{cache}\"");
            println!(
                "  {cache:<7}: {} cache hits, {} coalesced onto a call in flight, {} misses",
                m("routeq_cache_lookups_total", &[&label, "result=\"hit\""]),
                m("routeq_coalesced_calls_total", &[&label]),
                m("routeq_cache_lookups_total", &[&label, "result=\"miss\""]),
            );
        }
        println!(
            "  rate-limit waits: {}, refused for lack of a slot: {}",
            m("routeq_rate_limit_waits_total", &[]),
            m("routeq_rate_limit_refused_total", &[])
        );
    }
    for (p, limit) in [("nominatim", args.geocoder_rps), ("osrm", args.router_rps)] {
        let peak = peak(p);
        if limit > 0.0 {
            println!(
                "peak {p} rate: {peak}/s against a fleet limit of {limit}/s ({:.0} % of it)",
                100.0 * peak as f64 / limit
            );
        } else {
            println!("peak {p} rate: {peak}/s (no limit configured)");
        }
    }
    Ok(())
}
