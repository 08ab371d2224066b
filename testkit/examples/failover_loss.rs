//! How many acknowledged jobs a Sentinel failover loses, measured: a fleet on a private
//! Sentinel group (a master, two replicas, three sentinels) takes submissions from clients as
//! fast as they go; the master is SIGKILLed (`--mode kill`) or failed over while it stays alive
//! (`--mode split`, `SENTINEL FAILOVER`: a network partition's effect); after the dust settles,
//! every job that was answered 202 is looked for on the new master. No worker runs, so every
//! acknowledged job must still be there, queued.
//!
//! ```sh
//! cargo run --release -p routeq-testkit --example failover_loss -- --mode split --runs 3
//! cargo run --release -p routeq-testkit --example failover_loss -- --mode split --submit-replicas 1 --min-replicas-to-write 1
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::StatusCode;
use routeq_testkit::sentinel::SentinelGroup;
use routeq_testkit::sim::SimArgs;
use routeq_testkit::{Fleet, trip};
use serde_json::Value;

#[derive(Parser, Debug)]
struct Args {
    /// `kill` (SIGKILL the master) or `split` (SENTINEL FAILOVER; the old master stays alive).
    #[arg(long, default_value = "kill")]
    mode: String,
    /// The gateways' --submit-replicas.
    #[arg(long, default_value_t = 0)]
    submit_replicas: u32,
    /// The data nodes' min-replicas-to-write (with min-replicas-max-lag 2).
    #[arg(long, default_value_t = 0)]
    min_replicas_to_write: u32,
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: u32,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "mode={} submit_replicas={} min_replicas_to_write={} clients={}",
        args.mode, args.submit_replicas, args.min_replicas_to_write, args.clients
    );
    for run in 1..=args.runs {
        let (accepted, lost, outage) = one_run(&args).await;
        println!(
            "run {run}: accepted {accepted}, lost {lost}, refusals for {:.2} s after the failover began",
            outage.as_secs_f64()
        );
    }
    Ok(())
}

async fn one_run(args: &Args) -> (usize, usize, Duration) {
    let mut group = SentinelGroup::start().await;
    if args.min_replicas_to_write > 0 {
        for port in group.data_ports() {
            group
                .set(
                    port,
                    "min-replicas-to-write",
                    &args.min_replicas_to_write.to_string(),
                )
                .await;
            group.set(port, "min-replicas-max-lag", "2").await;
        }
    }
    let replicas = args.submit_replicas;
    let fleet = Fleet::start_on(&group.url(), "{loss}", 1, SimArgs::instant(), |c| {
        c.submit_replicas = replicas;
        // No worker runs: the backlog only grows, and admission control would refuse it.
        c.admission = false;
    })
    .await;
    let run_for = Duration::from_secs(16);
    let started = Instant::now();
    let until = started + run_for;
    let base = fleet.gateway.base();
    let clients: Vec<_> = (0..args.clients)
        .map(|c| {
            let (http, base) = (fleet.http.clone(), base.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                let mut refused = Vec::new();
                let mut i = 0u32;
                while Instant::now() < until {
                    let res = http
                        .post(format!("{base}/v1/routes"))
                        .json(&trip(i % 500))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    i += 1;
                    let Ok(res) = res else { continue };
                    let status = res.status();
                    let v: Value = res.json().await.unwrap_or(Value::Null);
                    if status == StatusCode::ACCEPTED {
                        ids.push(v["id"].as_str().unwrap_or_default().to_string());
                    } else {
                        refused.push((
                            Instant::now(),
                            v["code"].as_str().unwrap_or("?").to_string(),
                        ));
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let _ = c;
                }
                (ids, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let old = group.master_port().await;
    let began = Instant::now();
    if args.mode == "split" {
        group.failover().await;
    } else {
        group.kill_master().await;
    }
    let new = group
        .wait_for_new_master(old, Duration::from_secs(20))
        .await;
    let mut ids = Vec::new();
    let mut refused = Vec::new();
    for c in clients {
        let (i, r) = c.await.expect("client");
        ids.extend(i);
        refused.extend(r);
    }
    // Let a live old master be demoted (its writes since the failover are then gone).
    if args.mode == "split" {
        let until = Instant::now() + Duration::from_secs(30);
        while group.role(old).await.as_deref() != Some("slave") && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{new}"))
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("new master");
    let mut lost = 0;
    for chunk in ids.chunks(500) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.exists(fleet.keys.for_job(id).job(id));
        }
        let there: Vec<bool> = pipe.query_async(&mut conn).await.expect("exists");
        lost += there.iter().filter(|t| !**t).count();
    }
    let outage = refused
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t > began)
        .max()
        .map(|t| t - began)
        .unwrap_or_default();
    let mut codes = std::collections::BTreeMap::new();
    for (_, c) in &refused {
        *codes.entry(c.clone()).or_insert(0) += 1;
    }
    println!("  refusals by code: {codes:?}");
    (ids.len(), lost, outage)
}
