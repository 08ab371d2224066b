//! One partition on one cluster node against three partitions on three nodes: jobs/s through
//! the whole fleet (a gateway and two workers in this process, the in-process `estimate`
//! directions) and each master's Redis CPU, from `INFO cpu`, per job. Runs alternate.
//!
//! ```sh
//! cargo run --release -p routeq-testkit --example cluster_bench -- --jobs 4000 --runs 3
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use routeq_testkit::cluster::RedisCluster;
use routeq_testkit::sim::SimArgs;
use routeq_testkit::{Fleet, trip};
use routeq_worker::config::ProviderKind;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 4000)]
    jobs: u32,
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Concurrent submitting clients.
    #[arg(long, default_value_t = 32)]
    clients: u32,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cluster = RedisCluster::start().await;
    let spread = spread_prefix(&cluster).await;
    println!(
        "| run | partitions | jobs/s | Redis CPU µs/job, each master | Redis CPU µs/job, all |"
    );
    println!("| --- | --- | ---: | --- | ---: |");
    for run in 1..=args.runs {
        for (partitions, prefix) in [(1u16, format!("{{one{run}}}")), (3, spread.clone())] {
            let (rate, per_node) = one_run(&cluster, &prefix, partitions, &args).await;
            let all: f64 = per_node.iter().sum();
            let each: Vec<String> = per_node.iter().map(|c| format!("{c:.1}")).collect();
            println!(
                "| {run} | {partitions} | {rate:.0} | {} | {all:.1} |",
                each.join(" / ")
            );
        }
    }
    Ok(())
}

async fn one_run(
    cluster: &RedisCluster,
    prefix: &str,
    partitions: u16,
    args: &Args,
) -> (f64, Vec<f64>) {
    let fleet = Fleet::start_on(
        &cluster.url(),
        prefix,
        partitions,
        SimArgs::instant(),
        |_| {},
    )
    .await;
    for _ in 0..2 {
        fleet
            .worker_in_process(|c| {
                c.concurrency = 64;
                c.provider = ProviderKind::Estimate;
            })
            .await;
    }
    // Warm up (connections, scripts), then measure.
    let warm = fleet
        .submit_all(&(0..50).map(trip).collect::<Vec<_>>())
        .await;
    for id in &warm {
        fleet.finished(id, Duration::from_secs(20)).await;
    }
    let masters = cluster.masters().await;
    let mut cpu0 = Vec::new();
    for m in &masters {
        cpu0.push(cluster.node_cpu_seconds(*m).await);
    }
    let started = Instant::now();
    let per_client = args.jobs / args.clients;
    let base = fleet.gateway.base();
    let tasks: Vec<_> = (0..args.clients)
        .map(|c| {
            let (http, base) = (fleet.http.clone(), base.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..per_client {
                    let id = routeq_testkit::http::submit(
                        &http,
                        &base,
                        &trip(1000 + c * per_client + i),
                    )
                    .await;
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.expect("client"));
    }
    // Every job ended: each was published on its partition's channel.
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let done = fleet.done_counts();
        if ids.iter().all(|id| done.contains_key(id)) {
            break;
        }
        assert!(Instant::now() < until, "jobs did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let mut per_node = Vec::new();
    for (m, c0) in masters.iter().zip(cpu0) {
        let c1 = cluster.node_cpu_seconds(*m).await;
        per_node.push((c1 - c0) * 1e6 / ids.len() as f64);
    }
    (ids.len() as f64 / wall, per_node)
}

/// A prefix whose three partitions land on three different masters.
async fn spread_prefix(cluster: &RedisCluster) -> String {
    for n in 0..200 {
        let base = format!("bench{n}");
        let mut owners = std::collections::HashSet::new();
        for p in 0..3 {
            owners.insert(cluster.owner_of(&format!("{{{base}-{p}}}")).await);
        }
        if owners.len() == 3 {
            return format!("{{{base}}}");
        }
    }
    panic!("no prefix spreads over the three masters");
}
