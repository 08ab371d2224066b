//! The walking fleet end to end: a real gateway, real workers (in-process and as processes that are
//! killed and terminated), the provider simulator as a real HTTP server, and the real Redis —
//! each test under its own key prefix (the harness is in `common/`).

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_sim::{FaultPatch, FaultTarget, Provider, SimArgs};
use routeq_testkit::sim::latency as sim_latency;
use routeq_testkit::{Fleet, coords, seoul_trip, trip};
use routeq_testkit::{PrivateRedis, TestGateway};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinates_and_addresses_are_routed_by_the_simulator() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    let _w = fleet.worker_in_process(|_| {}).await;

    // Coordinates: poll 202 → 200.
    let id = fleet.submit(&seoul_trip()).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "succeeded");
    assert_eq!(v["code"], "ROUTE_OK");
    assert_eq!(v["attempts"], 1);
    let result = &v["result"];
    assert_eq!(result["provider"], "simulator");
    assert_eq!(result["simulated"], true);
    let distance = result["distance_m"].as_f64().expect("distance");
    // About 7.9 km as the crow flies; the simulator adds a 1.3 detour factor.
    assert!((9_000.0..12_000.0).contains(&distance), "{distance}");
    assert!(result["duration_s"].as_f64().expect("duration") > 0.0);
    assert!(!result["geometry"].as_str().expect("geometry").is_empty());
    let decoded =
        routeq_sim::decode_polyline(result["geometry"].as_str().expect("g"), 5).expect("polyline");
    assert!(
        (decoded[0].0 - 37.4979).abs() < 1e-4 && (decoded[0].1 - 127.0276).abs() < 1e-4,
        "{decoded:?}"
    );
    assert_eq!(result["stops"][0]["source"], "client");
    assert!(!v["finished_at"].as_str().expect("finished_at").is_empty());

    // Addresses: geocoded by the simulator, then routed, in one call with Prefer: wait.
    let places = routeq_sim::addresses();
    let (a, b) = (&places[0], &places[1]);
    let t0 = Instant::now();
    let res = fleet
        .http
        .post(fleet.url("/v1/routes"))
        .header("prefer", "wait=5")
        .json(&json!({"origin": {"address": a.name}, "destination": {"address": b.name}}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(t0.elapsed() < Duration::from_secs(5));
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["state"], "succeeded");
    let stops = v["result"]["stops"].as_array().expect("stops");
    assert_eq!(stops[0]["address"], a.name);
    assert_eq!(stops[0]["source"], "simulator");
    assert!((stops[0]["lat"].as_f64().expect("lat") - a.lat).abs() < 1e-6);
    assert!((stops[1]["lon"].as_f64().expect("lon") - b.lon).abs() < 1e-6);
    let nominatim = fleet
        .sim
        .control()
        .stats()
        .providers
        .get(Provider::Nominatim)
        .ok;
    assert_eq!(nominatim, 2, "two addresses, two geocoder calls");

    // An address nobody knows: 422 ADDRESS_NOT_FOUND, as problem+json.
    let id = fleet.submit(&json!({"origin": {"address": "Nowhere Street 999, Atlantis"}, "destination": coords(37.5, 127.0)})).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], "ADDRESS_NOT_FOUND");
    assert_eq!(v["state"], "failed");

    // No road in the simulated world's Antarctica: 422 NO_ROUTE.
    let id = fleet
        .submit(&json!({"origin": coords(-75.0, 0.0), "destination": coords(-75.1, 0.1)}))
        .await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], "NO_ROUTE");

    // Every finished job was announced exactly once.
    let counts = fleet.done_counts();
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failures_each_end_with_their_code() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    let _w = fleet
        .worker_in_process(|c| {
            c.call_timeout_ms = 300;
            c.job_budget_ms = 1_000;
            c.reclaim_idle_ms = 5_000;
            // Each case must reach the provider: keep the breaker out of the way.
            c.resilience.breaker_failures = 1_000;
        })
        .await;
    let control = fleet.sim.control();
    let cases: Vec<(FaultPatch, u16, &str)> = vec![
        (
            FaultPatch {
                down: Some(true),
                ..FaultPatch::default()
            },
            503,
            "PROVIDER_UNAVAILABLE",
        ),
        (
            FaultPatch {
                error_rate: Some(1.0),
                ..FaultPatch::default()
            },
            502,
            "PROVIDER_ERROR",
        ),
        (
            FaultPatch {
                malformed_rate: Some(1.0),
                ..FaultPatch::default()
            },
            502,
            "PROVIDER_ERROR",
        ),
        (
            FaultPatch {
                timeout_rate: Some(1.0),
                hang_ms: Some(5_000),
                ..FaultPatch::default()
            },
            504,
            "PROVIDER_TIMEOUT",
        ),
        // Last: its Retry-After (1 s) holds this worker's next calls back.
        (
            FaultPatch {
                rate_429: Some(1.0),
                ..FaultPatch::default()
            },
            503,
            "PROVIDER_UNAVAILABLE",
        ),
    ];
    for (patch, want_status, want_code) in cases {
        control
            .set_faults(FaultTarget::All, FaultPatch::healthy())
            .expect("reset");
        control
            .set_faults(FaultTarget::All, patch.clone())
            .expect("fault");
        let id = fleet.submit(&seoul_trip()).await;
        let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
        assert_eq!(status.as_u16(), want_status, "{patch:?}: {v}");
        assert_eq!(v["code"], want_code, "{patch:?}");
        // The stops are coordinates, so the job carries an estimate: a fallback, never a route.
        assert_eq!(v["state"], "fallback", "{v}");
        assert_eq!(v["result"], json!({}));
        assert_eq!(v["fallback"]["method"], "great_circle_detour", "{v}");
        assert!(!v["detail"].as_str().expect("detail").is_empty());
    }
    // A provider that is not even listening.
    control
        .set_faults(FaultTarget::All, FaultPatch::healthy())
        .expect("reset");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let _w2 = {
        let mut cfg = fleet.worker_config();
        cfg.router_url = format!("http://127.0.0.1:{port}");
        cfg.geocoder_url = cfg.router_url.clone();
        cfg.consumer = Some("refused".into());
        // Stop the first worker so this one takes the job.
        _w.cancel();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        routeq_testkit::worker::in_process(cfg, &fleet.shutdown).await
    };
    let id = fleet.submit(&seoul_trip()).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["code"], "PROVIDER_UNAVAILABLE");
    assert_eq!(v["state"], "fallback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_job_never_reaches_the_provider() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    // No worker yet: the job waits past its 500 ms deadline.
    let id = fleet.submit(&json!({"origin": coords(37.5, 127.0), "destination": {"address": "Seoul Station"}, "deadline_ms": 500})).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _w = fleet.worker_in_process(|_| {}).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["code"], "JOB_EXPIRED");
    assert_eq!(v["state"], "expired");
    assert_eq!(
        fleet.sim.control().stats().total,
        0,
        "an expired job must cost no provider call"
    );
    assert_eq!(fleet.pending_entries().await, 0);

    // A live job right after it does reach the provider (the counter works).
    let id = fleet.submit(&seoul_trip()).await;
    let (status, _) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fleet.sim.control().stats().total, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_with_sigkill_loses_no_job_and_none_completes_twice() {
    let fleet = Fleet::start(sim_latency(300, 500)).await;
    let flags = [
        "--concurrency",
        "8",
        "--call-timeout-ms",
        "1000",
        "--job-budget-ms",
        "2000",
        "--reclaim-idle-ms",
        "3500",
        "--reclaim-interval-ms",
        "200",
        "--block-ms",
        "200",
    ];
    let mut victim = fleet.worker_process("victim", &flags);
    let mut survivor = fleet.worker_process("survivor", &flags);
    let mut ids = Vec::new();
    // Distinct trips: each job makes its own provider call (no cache, no coalescing).
    for i in 0..40 {
        ids.push(fleet.submit(&trip(i)).await);
    }
    // Let both workers take jobs, then kill one in the middle of its work.
    tokio::time::sleep(Duration::from_millis(600)).await;
    victim.signal(libc::SIGKILL);
    victim.kill();

    let mut reclaimed = 0;
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(30)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        if v["attempts"].as_u64().unwrap_or(0) > 1 {
            reclaimed += 1;
        }
    }
    assert!(
        reclaimed > 0,
        "the killed worker held no job: the test proved nothing"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let counts = fleet.done_counts();
    for id in &ids {
        assert_eq!(
            counts.get(id).copied(),
            Some(1),
            "job {id} completed {:?} times",
            counts.get(id)
        );
    }
    assert_eq!(fleet.pending_entries().await, 0);
    survivor.terminate();
    assert!(survivor.wait_exit(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_worker_without_losing_its_jobs() {
    let fleet = Fleet::start(sim_latency(700, 900)).await;
    let mut worker =
        fleet.worker_process("draining", &["--concurrency", "10", "--block-ms", "200"]);
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(fleet.submit(&seoul_trip()).await);
    }
    // Wait until the worker holds all ten (they are in the provider call).
    let until = Instant::now() + Duration::from_secs(5);
    while fleet.pending_entries().await < 10 {
        assert!(Instant::now() < until, "worker did not pick up the jobs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.terminate();
    // Submitted after SIGTERM: the draining worker must not read these.
    let mut later = Vec::new();
    for _ in 0..3 {
        later.push(fleet.submit(&seoul_trip()).await);
    }
    let status = worker.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "drained worker exits 0, got {status}");
    for id in &ids {
        let (status, v) = fleet.get(id).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "in-flight job lost at shutdown: {v}"
        );
        assert_eq!(v["attempts"], 1);
    }
    for id in &later {
        let (status, v) = fleet.get(id).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(v["state"], "queued", "a draining worker must stop reading");
    }
    assert_eq!(fleet.pending_entries().await, 0);
    // Another worker picks up what was left.
    let _w = fleet.worker_in_process(|_| {}).await;
    for id in &later {
        let (status, _) = fleet.finished(id, Duration::from_secs(10)).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_worker_configuration_exits_with_a_clear_message() {
    let out = Command::new(routeq_testkit::proc::bin("routeq-worker"))
        .args([
            "--reclaim-idle-ms",
            "1500",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--reclaim-idle-ms"), "{stderr}");
    let out = Command::new(routeq_testkit::proc::bin("routeq-worker"))
        .args([
            "--key-prefix",
            "nohashtag",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hash tag"));
}

/// Redis restarts under a running fleet and comes back empty (no persistence): the worker's
/// blocking reader drops its dead connection, recreates the consumer group, and jobs submitted
/// after the restart finish — nothing needs restarting but Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_serves_again_after_redis_restarts_empty() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let prefix = "{restart}";

    let sim = routeq_testkit::sim::start(SimArgs::instant()).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let gateway = TestGateway::start_on(&url, prefix, |_| {}).await;
    let addr = gateway.addr;
    let worker = routeq_testkit::worker::config(&url, prefix, &sim.base_url());
    routeq_testkit::worker::in_process(worker, &shutdown).await;

    // A job with Prefer: wait, retried while the fleet reconnects (503 QUEUE_UNAVAILABLE, or a
    // 202 when the answer did not come within the wait). Returns the final status and body.
    let http = reqwest::Client::new();
    let route = |i: u32| {
        let http = http.clone();
        async move {
            let until = Instant::now() + Duration::from_secs(30);
            loop {
                let res = http
                    .post(format!("http://{addr}/v1/routes"))
                    .header("prefer", "wait=5")
                    .json(&trip(i))
                    .send()
                    .await
                    .expect("gateway answers");
                let status = res.status();
                let body: Value = res.json().await.expect("json");
                if status == StatusCode::OK || Instant::now() >= until {
                    return (status, body);
                }
                assert!(
                    status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::ACCEPTED,
                    "{status} {body}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };

    let (status, body) = route(1).await;
    assert_eq!(status, StatusCode::OK, "before the restart: {body}");

    // Redis dies and comes back empty on the same port.
    redis.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart();

    let (status, body) = route(2).await;
    assert_eq!(status, StatusCode::OK, "after the restart: {body}");
    assert_eq!(body["state"], "succeeded", "{body}");
    shutdown.cancel();
    drop(redis);
}
