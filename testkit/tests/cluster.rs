//! routeq on a three-master Redis Cluster with a replica each, three partitions: the API's
//! end-to-end cases (submit, poll, wait, cancel, idempotency), the spread over partitions, a
//! worker killed mid-job and a dead letter replayed — as on one Redis.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_shared::redis::record::f;
use routeq_testkit::cluster::RedisCluster;
use routeq_testkit::sim::{FaultPatch, Provider, SimArgs};
use routeq_testkit::{Fleet, trip};
use serde_json::{Value, json};

/// A prefix whose three partitions land on three different masters.
async fn spread_prefix(cluster: &RedisCluster) -> String {
    for n in 0..200 {
        let base = format!("rq{n}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_works_on_a_cluster_and_jobs_spread_evenly_over_partitions() {
    let cluster = RedisCluster::start().await;
    let prefix = spread_prefix(&cluster).await;
    let fleet = Fleet::start_on(&cluster.url(), &prefix, 3, SimArgs::instant(), |_| {}).await;

    // Cancel: a job no worker has started.
    let id = fleet.submit(&trip(1)).await;
    let res = fleet
        .http
        .delete(fleet.url(&format!("/v1/routes/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (status, v) = fleet.get(&id).await;
    assert_eq!(
        (status, v["state"].as_str()),
        (StatusCode::GONE, Some("cancelled"))
    );

    // Idempotency: one job per key, on the key's partition.
    let post = |key: &'static str| {
        let (http, url) = (fleet.http.clone(), fleet.url("/v1/routes"));
        async move {
            let res = http
                .post(url)
                .header("idempotency-key", key)
                .json(&trip(2))
                .send()
                .await
                .expect("post");
            let replayed = res.headers().contains_key("idempotent-replayed");
            let v: Value = res.json().await.expect("json");
            (v["id"].as_str().unwrap_or_default().to_string(), replayed)
        }
    };
    let (a, first_replayed) = post("cluster-key").await;
    let (b, second_replayed) = post("cluster-key").await;
    assert_eq!(a, b);
    assert!(!first_replayed && second_replayed);

    fleet.worker_in_process(|c| c.concurrency = 64).await;
    // Wait: the answer comes back on the partition's sharded channel.
    let res = fleet
        .http
        .post(fleet.url("/v1/routes"))
        .header("prefer", "wait=10")
        .json(&trip(3))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::OK);

    // Spread: unkeyed jobs take the partitions in turn; every one of them ends (poll).
    let ids = fleet
        .submit_all(&(10..310).map(trip).collect::<Vec<_>>())
        .await;
    let mut per_partition: HashMap<u16, usize> = HashMap::new();
    for id in &ids {
        *per_partition
            .entry(fleet.keys.partition_of(id))
            .or_default() += 1;
    }
    for p in 0..3 {
        let n = per_partition.get(&p).copied().unwrap_or(0);
        assert!(
            (90..=110).contains(&n),
            "partition {p} got {n} of 300: {per_partition:?}"
        );
    }
    for id in ids.iter().chain([&a]) {
        let (status, v) = fleet.finished(id, Duration::from_secs(20)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    eprintln!("spread over partitions: {per_partition:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_killed_workers_jobs_are_reclaimed_and_a_dead_letter_replays() {
    let cluster = RedisCluster::start().await;
    let prefix = spread_prefix(&cluster).await;
    let fleet = Fleet::start_on(&cluster.url(), &prefix, 3, SimArgs::instant(), |_| {}).await;
    let control = fleet.sim.control();
    let slow = |ms| FaultPatch {
        latency_min_ms: Some(ms),
        latency_max_ms: Some(ms),
        ..FaultPatch::default()
    };
    control.set_faults(Provider::Osrm, slow(800)).expect("slow");
    let flags = ["--reclaim-idle-ms", "3000", "--reclaim-interval-ms", "200"];

    // Reclaim: a worker dies holding jobs of every partition; another finishes them, once each.
    let mut victim = fleet.worker_process("cluster-victim", &flags);
    let ids = fleet
        .submit_all(&(0..18).map(trip).collect::<Vec<_>>())
        .await;
    let until = Instant::now() + Duration::from_secs(10);
    // Killed only once it has *started* jobs (read but not yet started, an entry is reclaimed
    // as a first delivery, and nothing would show it was reclaimed).
    loop {
        let mut running = 0;
        for id in &ids {
            let (_, v) = fleet.get(id).await;
            running += usize::from(v["state"] == "running");
        }
        if running >= 3 {
            break;
        }
        assert!(Instant::now() < until, "the victim started no job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    victim.kill();
    let survivor = fleet.worker_process("cluster-survivor", &flags);
    let mut reclaimed = 0;
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(30)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        reclaimed += usize::from(v["attempts"].as_u64().unwrap_or(0) > 1);
    }
    assert!(reclaimed > 0, "nothing was reclaimed");
    let done = fleet.done_counts();
    for id in &ids {
        assert_eq!(
            done.get(id).copied(),
            Some(1),
            "{id} published {:?} times",
            done.get(id)
        );
    }
    drop(survivor);

    // Dead letter: the provider hangs, each worker taking the job is killed; the third delivery
    // parks it; the CLI lists it and replays it.
    control
        .set_faults(Provider::Osrm, slow(5_000))
        .expect("hang");
    let poison_flags = [
        "--max-attempts",
        "2",
        "--call-timeout-ms",
        "1000",
        "--job-budget-ms",
        "2000",
        "--reclaim-idle-ms",
        "2500",
        "--reclaim-interval-ms",
        "100",
    ];
    let id = fleet.submit(&json!({"origin": {"lat": 37.51, "lon": 127.02}, "destination": {"lat": 37.55, "lon": 126.97}})).await;
    for (n, name) in [(1u64, "cluster-poisoned-1"), (2, "cluster-poisoned-2")] {
        let mut w = fleet.worker_process(name, &poison_flags);
        let until = Instant::now() + Duration::from_secs(15);
        while fleet
            .job_field(&id, f::ATTEMPTS)
            .await
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(0)
            < n
        {
            assert!(Instant::now() < until, "not started {n} times");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        w.kill();
    }
    let _third = fleet.worker_process("cluster-third", &poison_flags);
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, out) = fleet.cli(&["dead-letters", "list"]);
        assert!(ok, "{out}");
        if out.contains(&id) {
            break;
        }
        assert!(Instant::now() < until, "no dead letter: {out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    control
        .set_faults(Provider::Osrm, FaultPatch::healthy())
        .expect("healthy");
    let (ok, out) = fleet.cli(&["dead-letters", "replay", &id]);
    assert!(ok && out.contains(&format!("replayed {id}")), "{out}");
    let (status, v) = fleet.finished(&id, Duration::from_secs(20)).await;
    assert_eq!(
        (status, v["state"].as_str()),
        (StatusCode::OK, Some("succeeded")),
        "{v}"
    );
}
