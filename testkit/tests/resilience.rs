//! Resilience around the external APIs, end to end: real worker processes against the provider
//! simulator's fault knobs, counting the calls the simulator served — breakers, deadlines and
//! retries, Retry-After, the fleet-wide rate limit, coalescing, domain failures, dead letters,
//! and SIGKILL chaos. Each test runs under its own key prefix on the real Redis.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::StatusCode;
use routeq_shared::Code;
use routeq_shared::job::JobState;
use routeq_shared::redis::record::f;
use routeq_sim::{FaultPatch, Provider, SimArgs};
use routeq_testkit::http::{metric, wait_healthy};
use routeq_testkit::proc::{Proc, free_port};
use routeq_testkit::sim::latency as sim_latency;
use routeq_testkit::{Fleet, coords, seoul_trip, trip};
use serde_json::{Value, json};

fn osrm_requests(fleet: &Fleet) -> u64 {
    fleet
        .sim
        .control()
        .stats()
        .providers
        .get(Provider::Osrm)
        .requests()
}

/// The job's `fin` and `dl` (epoch ms) as stored in Redis.
async fn finished_and_deadline_ms(fleet: &Fleet, id: &str) -> (u64, u64) {
    let num = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (
        num(fleet.job_field(id, f::FINISHED).await),
        num(fleet.job_field(id, f::DEADLINE).await),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outage_opens_the_breaker_serves_estimates_and_a_trial_closes_it() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    let control = fleet.sim.control();
    control
        .set_faults(
            Provider::Osrm,
            FaultPatch {
                down: Some(true),
                ..FaultPatch::default()
            },
        )
        .expect("down");
    let port = free_port();
    let port_s = port.to_string();
    let metrics_listen = format!("127.0.0.1:{port}");
    let _w = fleet.worker_process(
        "outage",
        &[
            "--metrics-listen",
            &metrics_listen,
            "--breaker-failures",
            "3",
            "--breaker-open-ms",
            "1500",
            "--retry-attempts",
            "3",
            "--retry-base-ms",
            "20",
            "--retry-max-ms",
            "40",
        ],
    );
    wait_healthy(port).await;
    let state = r#"routeq_breaker_state{provider="osrm"}"#;

    // The first job spends its three attempts; the third failure opens the breaker.
    let id = fleet.submit(&trip(0)).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["state"], "fallback");
    assert_eq!(v["code"], "PROVIDER_UNAVAILABLE");
    assert_eq!(v["result"], json!({}), "an estimate is never a route");
    let estimate = &v["fallback"];
    assert_eq!(estimate["method"], "great_circle_detour");
    assert_eq!(estimate["failed_provider"], "osrm");
    let (d, gc) = (
        estimate["distance_m"].as_f64().expect("distance"),
        estimate["great_circle_m"].as_f64().expect("great circle"),
    );
    assert!((d - gc * 1.3).abs() < 1.0 && gc > 5_000.0, "{estimate}");
    for key in [
        "distance_m",
        "duration_s",
        "great_circle_m",
        "detour_factor",
        "speed_kmh",
        "stops",
    ] {
        assert!(
            estimate["provenance"][key].is_string(),
            "no provenance for {key}: {estimate}"
        );
    }
    assert_eq!(
        osrm_requests(&fleet),
        3,
        "three attempts reached the provider"
    );
    assert_eq!(metric(port, state).await, 1.0, "the breaker is open");

    // While it is open, jobs end at once with an estimate and no call reaches the provider.
    let ids = fleet
        .submit_all(&(1..6).map(trip).collect::<Vec<_>>())
        .await;
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(10)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        assert_eq!(v["state"], "fallback");
        assert!(
            v["detail"]
                .as_str()
                .expect("detail")
                .contains("circuit breaker"),
            "{v}"
        );
        assert!(v["fallback"]["distance_m"].as_f64().expect("estimate") > 0.0);
    }
    assert_eq!(
        osrm_requests(&fleet),
        3,
        "calls stop while the breaker is open"
    );

    // The provider comes back; after the open period one trial closes the breaker.
    control
        .set_faults(Provider::Osrm, FaultPatch::healthy())
        .expect("healthy");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let id = fleet.submit(&trip(10)).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "succeeded");
    assert_eq!(v["fallback"], json!({}));
    assert_eq!(control.stats().providers.get(Provider::Osrm).ok, 1);
    assert_eq!(metric(port, state).await, 0.0, "closed again");
    for (to, n) in [("open", 1.0), ("half_open", 1.0), ("closed", 1.0)] {
        let series = format!(r#"routeq_breaker_transitions_total{{provider="osrm",to="{to}"}}"#);
        assert_eq!(metric(port, &series).await, n, "{series}");
    }
    drop(port_s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_provider_is_cut_at_each_timeout_and_the_job_ends_504_by_its_deadline() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    fleet
        .sim
        .control()
        .set_faults(
            Provider::Osrm,
            FaultPatch {
                latency_min_ms: Some(2_000),
                latency_max_ms: Some(2_000),
                ..FaultPatch::default()
            },
        )
        .expect("slow");
    // Ten attempts allowed: only the deadline can stop the retries.
    let _w = fleet.worker_process(
        "slow",
        &[
            "--call-timeout-ms",
            "500",
            "--retry-attempts",
            "10",
            "--retry-base-ms",
            "100",
            "--breaker-failures",
            "100",
        ],
    );
    let id = fleet
        .submit(&json!({"origin": coords(37.50, 127.03), "destination": coords(37.55, 126.97), "deadline_ms": 2_500}))
        .await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["code"], "PROVIDER_TIMEOUT");
    assert_eq!(v["state"], "fallback");
    assert!(v["fallback"]["duration_s"].as_f64().expect("estimate") > 0.0);
    let (fin, dl) = finished_and_deadline_ms(&fleet, &id).await;
    assert!(
        fin > 0 && fin <= dl + 250,
        "finished at {fin}, deadline {dl}"
    );
    // Each call stopped at its 500 ms timeout (two uncut 2 s calls would outlast the deadline),
    // and the retries stopped when the next attempt could not finish in time.
    let calls = osrm_requests(&fleet);
    assert!((2..=4).contains(&calls), "{calls} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_holds_the_worker_back_as_told() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    let control = fleet.sim.control();
    let limited = FaultPatch {
        rate_429: Some(1.0),
        retry_after_s: Some(1),
        ..FaultPatch::default()
    };
    control
        .set_faults(Provider::Osrm, limited.clone())
        .expect("429");
    // A rate limit is configured, so the Retry-After is shared through Redis.
    let _w = fleet.worker_process(
        "polite",
        &[
            "--router-rps",
            "1000",
            "--retry-attempts",
            "10",
            "--call-timeout-ms",
            "500",
            "--breaker-failures",
            "100",
        ],
    );

    // Always 429: never two calls within a second, until the deadline ends the job.
    control.reset_stats();
    let id = fleet
        .submit(&json!({"origin": coords(37.50, 127.03), "destination": coords(37.55, 126.97), "deadline_ms": 3_800}))
        .await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["state"], "fallback");
    let osrm = *control.stats().providers.get(Provider::Osrm);
    assert!((2..=4).contains(&osrm.rate_limited), "{osrm:?}");
    assert_eq!(
        osrm.max_per_second, 1,
        "calls closer than the Retry-After: {osrm:?}"
    );

    // One 429, then healthy: the job succeeds, having waited the second it was told to.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    control.reset_stats();
    let id = fleet.submit(&trip(3)).await;
    let until = Instant::now() + Duration::from_secs(5);
    while control.stats().providers.get(Provider::Osrm).rate_limited == 0 {
        assert!(Instant::now() < until, "no call reached the provider");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    control
        .set_faults(Provider::Osrm, FaultPatch::healthy())
        .expect("healthy");
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let osrm = *control.stats().providers.get(Provider::Osrm);
    assert_eq!((osrm.rate_limited, osrm.ok), (1, 1), "{osrm:?}");
    let compute_us = v["timings"]["compute_us"].as_u64().expect("compute");
    assert!(
        compute_us >= 950_000,
        "retried after {compute_us} µs, before the Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_exceed_the_fleet_rate_limit() {
    const RATE: u64 = 20;
    let fleet = Fleet::start(SimArgs::instant()).await;
    // The backlog is queued before any worker starts.
    let ids = fleet
        .submit_all(&(0..100).map(trip).collect::<Vec<_>>())
        .await;
    fleet.sim.control().reset_stats();
    let flags = ["--router-rps", "20", "--concurrency", "32"];
    let _a = fleet.worker_process("rate-a", &flags);
    let _b = fleet.worker_process("rate-b", &flags);
    let mut by_worker: HashMap<String, u32> = HashMap::new();
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(30)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let worker = fleet.job_field(id, f::WORKER).await.unwrap_or_default();
        *by_worker.entry(worker).or_default() += 1;
    }
    assert_eq!(by_worker.len(), 2, "both workers took jobs: {by_worker:?}");
    let osrm = *fleet.sim.control().stats().providers.get(Provider::Osrm);
    assert_eq!(osrm.ok, 100);
    let peak = osrm.max_per_second;
    assert!(
        peak <= RATE + RATE / 10,
        "the fleet exceeded {RATE}/s: {peak} in one second"
    );
    assert!(
        peak >= RATE - RATE / 10,
        "the backlog did not press the limit: {peak}/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_identical_concurrent_requests_cost_one_provider_call() {
    let fleet = Fleet::start(sim_latency(300, 300)).await;
    let body = seoul_trip();
    let ids = fleet.submit_all(&vec![body; 100]).await;
    // Two processes, 128 permits: every job is in flight at once, across the fleet.
    let _a = fleet.worker_process("same-a", &["--concurrency", "64"]);
    let _b = fleet.worker_process("same-b", &["--concurrency", "64"]);
    let mut served: HashMap<String, u32> = HashMap::new();
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(20)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let how = v["result"]["cache"].as_str().expect("cache").to_string();
        *served.entry(how).or_default() += 1;
    }
    assert_eq!(
        osrm_requests(&fleet),
        1,
        "one provider call for 100 requests"
    );
    assert_eq!(served.get("miss"), Some(&1), "{served:?}");
    assert_eq!(
        served.get("coalesced").unwrap_or(&0) + served.get("hit").unwrap_or(&0),
        99,
        "the others say where their answer came from: {served:?}"
    );
}

/// Jobs whose provider answers "no": 200 with an error inside, or not found.
fn domain_failures(i: u32) -> Vec<(Value, &'static str)> {
    let d = f64::from(i) * 0.001;
    vec![
        // Origin and destination within 5 m (Kakao result_code 104; OSRM answers this one).
        (
            json!({"origin": coords(37.5 + d, 127.0), "destination": coords(37.5 + d, 127.00001)}),
            "NO_ROUTE",
        ),
        // No road near Antarctica (Kakao result_code 102, OSRM NoSegment).
        (
            json!({"origin": coords(-75.0 - d, 0.0), "destination": coords(-75.1, 0.1)}),
            "NO_ROUTE",
        ),
        // Farther than any road goes (Kakao result_code 1, OSRM NoRoute).
        (
            json!({"origin": coords(37.5 + d, 127.0), "destination": coords(40.7, -74.0)}),
            "NO_ROUTE",
        ),
        (
            json!({"origin": {"address": format!("Nowhere Street {i}")}, "destination": coords(37.5, 127.0)}),
            "ADDRESS_NOT_FOUND",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_say_no_are_domain_failures_and_never_trip_the_breaker() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    for (family, directions, geocoder, breaker) in [
        (
            "simulator-kakao",
            Provider::KakaoDirections,
            Provider::KakaoLocal,
            "kakao_mobility",
        ),
        ("simulator", Provider::Osrm, Provider::Nominatim, "osrm"),
    ] {
        fleet.sim.control().reset_stats();
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut w = fleet.worker_process(
            family,
            &[
                "--provider",
                family,
                "--breaker-failures",
                "2",
                "--metrics-listen",
                &listen,
            ],
        );
        for i in 0..3 {
            for (body, code) in domain_failures(i) {
                let id = fleet.submit(&body).await;
                let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
                if family == "simulator" && v["code"] == "ROUTE_OK" {
                    // OSRM has no "too close" rule: a 1 m route is a route.
                    continue;
                }
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{family}: {v}");
                assert_eq!(v["code"], code, "{family}: {v}");
                assert_eq!(v["state"], "failed", "no estimate for a domain failure");
                assert_eq!(v["fallback"], json!({}));
            }
        }
        let stats = fleet.sim.control().stats();
        assert!(
            stats.providers.get(directions).not_found >= 6,
            "{family}: {stats:?}"
        );
        assert_eq!(
            stats.providers.get(geocoder).not_found,
            3,
            "{family}: {stats:?}"
        );
        // Twelve "no" answers against a threshold of two: the breaker never opened.
        let opened =
            format!(r#"routeq_breaker_transitions_total{{provider="{breaker}",to="open"}}"#);
        assert_eq!(metric(port, &opened).await, 0.0, "{family}");
        // And a real route still goes through, over the same protocols.
        let id = fleet
            .submit(&json!({"origin": {"address": "Gangnam Station"}, "destination": {"address": "Seoul Station"}}))
            .await;
        let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
        assert_eq!(status, StatusCode::OK, "{family}: {v}");
        assert_eq!(v["result"]["simulated"], true);
        assert!(
            !v["result"]["geometry"]
                .as_str()
                .expect("geometry")
                .is_empty()
        );
        assert_eq!(
            stats.providers.get(geocoder).ok + 2,
            fleet.sim.control().stats().providers.get(geocoder).ok
        );
        w.terminate();
        assert!(w.wait_exit(Duration::from_secs(10)).await.success());
    }
}

/// Waits until a worker has *started* the job for the `n`th time (its delivery count in the job
/// record). A delivery the worker died before starting is not an attempt the job made.
async fn started(fleet: &Fleet, id: &str, n: u64) {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let mut conn = fleet.redis().await;
        let attempts: Option<u64> = redis::AsyncCommands::hget(
            &mut conn,
            format!("{}:job:{id}", fleet.prefix),
            f::ATTEMPTS,
        )
        .await
        .expect("hget");
        if attempts.is_some_and(|a| a >= n) {
            return;
        }
        assert!(Instant::now() < until, "the job was not started {n} times");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_job_is_dead_lettered_and_replay_from_the_cli_completes_it() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    let control = fleet.sim.control();
    // The provider hangs; each worker that takes the job is killed before it can finish it.
    control
        .set_faults(
            Provider::Osrm,
            FaultPatch {
                latency_min_ms: Some(5_000),
                latency_max_ms: Some(5_000),
                ..FaultPatch::default()
            },
        )
        .expect("hang");
    let flags = [
        "--max-attempts",
        "2",
        "--call-timeout-ms",
        "1000",
        "--job-budget-ms",
        "2000",
        "--reclaim-idle-ms",
        "3100",
        "--reclaim-interval-ms",
        "100",
        "--block-ms",
        "100",
    ];
    let id = fleet.submit(&trip(7)).await;
    for (n, name) in [(1, "poisoned-1"), (2, "poisoned-2")] {
        let mut w = fleet.worker_process(name, &flags);
        started(&fleet, &id, n).await;
        w.kill();
    }
    // The third delivery finds the job delivered twice without completing: dead letter.
    let _survivor = fleet.worker_process("survivor", &flags);
    let until = Instant::now() + Duration::from_secs(15);
    let listed = loop {
        let (ok, out) = fleet.cli(&["dead-letters", "list"]);
        assert!(ok, "{out}");
        if out.contains(&id) {
            break out;
        }
        assert!(Instant::now() < until, "no dead letter: {out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(listed.contains("1 dead letter(s)"), "{listed}");
    control
        .set_faults(Provider::Osrm, FaultPatch::healthy())
        .expect("healthy");

    // Parked, not ended: the client still sees a pending job.
    let (status, v) = fleet.get(&id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .expect("detail")
            .contains("dead-letter"),
        "{v}"
    );
    let (ok, shown) = fleet.cli(&["dead-letters", "show", &id]);
    assert!(ok, "{shown}");
    let letter: Value = serde_json::from_str(&shown).expect("show prints JSON");
    assert_eq!(letter["attempts"], 3);
    let history = letter["history"].as_array().expect("history");
    let workers: Vec<&str> = history
        .iter()
        .map(|d| d["w"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        workers,
        ["poisoned-1", "poisoned-2", "survivor"],
        "{letter}"
    );
    assert!(
        history[0]["e"]
            .as_str()
            .expect("error")
            .contains("reclaimed"),
        "{letter}"
    );
    assert!(
        letter["reason"]
            .as_str()
            .expect("reason")
            .contains("--max-attempts 2")
    );
    assert_eq!(letter["request"]["origin"]["lat"], trip(7)["origin"]["lat"]);

    // A client waits on the job; the replay answers it, under the same id.
    let waiter = {
        let (http, url) = (
            fleet.http.clone(),
            fleet.url(&format!("/v1/routes/{id}?wait=20")),
        );
        tokio::spawn(async move {
            let res = http.get(url).send().await.expect("wait");
            (res.status(), res.json::<Value>().await.expect("json"))
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ok, out) = fleet.cli(&["dead-letters", "replay", &id]);
    assert!(ok && out.contains(&format!("replayed {id}")), "{out}");
    let (status, v) = waiter.await.expect("waiter");
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["id"].as_str(), v["state"].as_str()),
        (Some(id.as_str()), Some("succeeded"))
    );
    let (ok, out) = fleet.cli(&["dead-letters", "list"]);
    assert!(ok && out.contains("0 dead letter(s)"), "{out}");
    assert_eq!(fleet.done_counts().get(&id), Some(&1), "ended once");

    // An unreadable job is parked at once; purging it ends it failed. It is written as the
    // gateway would, but with a request no worker can read, in one transaction.
    let broken = uuid::Uuid::new_v4().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string();
    let deadline = (now.parse::<u64>().expect("now") + 30_000).to_string();
    let mut conn = fleet.redis().await;
    let _: () = redis::pipe()
        .atomic()
        .hset_multiple(
            format!("{}:job:{broken}", fleet.prefix),
            &[
                (f::ID, broken.as_str()),
                (f::TENANT, "default"),
                (f::REQUEST_ID, "r-broken"),
                (f::REQUEST, "{not json"),
                (f::STATE, JobState::Queued.as_str()),
                (f::CODE, Code::JobQueued.as_str()),
                (f::SUBMITTED, now.as_str()),
                (f::DEADLINE, deadline.as_str()),
                (f::ATTEMPTS, "0"),
            ],
        )
        .ignore()
        .xadd(
            format!("{}:jobs", fleet.prefix),
            "*",
            &[
                (f::ID, broken.as_str()),
                (f::TENANT, "default"),
                (f::REQUEST_ID, "r-broken"),
                (f::SUBMITTED, now.as_str()),
                (f::DEADLINE, deadline.as_str()),
                (f::REQUEST, "{not json"),
            ],
        )
        .ignore()
        .query_async(&mut conn)
        .await
        .expect("write a broken job");
    let until = Instant::now() + Duration::from_secs(10);
    while !fleet.cli(&["dead-letters", "list"]).1.contains(&broken) {
        assert!(Instant::now() < until, "the unreadable job was not parked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, out) = fleet.cli(&["dead-letters", "purge", "--all"]);
    assert!(
        ok && out.contains(&format!("purged {broken}: the job ended failed")),
        "{out}"
    );
    let (status, v) = fleet.finished(&broken, Duration::from_secs(5)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert_eq!(v["state"], "failed");
    assert!(
        v["detail"]
            .as_str()
            .expect("detail")
            .contains("could not be read"),
        "{v}"
    );
    let (ok, _) = fleet.cli(&["dead-letters", "show", &broken]);
    assert!(!ok, "an unknown dead letter is an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_sigkill_a_random_worker_every_few_seconds_loses_no_job_and_completes_none_twice() {
    const WORKERS: usize = 3;
    const LOAD: Duration = Duration::from_secs(60);
    // The providers' usual 150–250 ms, so killed workers hold jobs in flight.
    let fleet = Fleet::start(SimArgs::default()).await;
    let flags = [
        "--concurrency",
        "16",
        "--call-timeout-ms",
        "1000",
        "--job-budget-ms",
        "2500",
        "--reclaim-idle-ms",
        "4000",
        "--reclaim-interval-ms",
        "250",
        "--block-ms",
        "200",
        "--max-attempts",
        "20",
    ];
    let mut spawned = 0;
    let mut spawn = |fleet: &Fleet| {
        spawned += 1;
        fleet.worker_process(&format!("chaos-{spawned}"), &flags)
    };
    let mut workers: Vec<Proc> = (0..WORKERS).map(|_| spawn(&fleet)).collect();
    // Addresses within reach of Seoul by road (the simulator's table also has places abroad).
    let places: Vec<_> = routeq_sim::addresses()
        .iter()
        .filter(|p| p.country_code == "kr")
        .collect();

    // Steady load: about 15 jobs a second, some by address; a random worker is killed with
    // SIGKILL every 3–5 s and replaced.
    let started = Instant::now();
    let mut next_kill = started + Duration::from_secs(3);
    let mut ids = Vec::new();
    let mut kills = 0;
    let mut i = 0u32;
    while started.elapsed() < LOAD {
        let body = if i.is_multiple_of(4) {
            let p = places[(i as usize / 4) % places.len()];
            json!({"origin": {"address": p.name}, "destination": coords(37.5, 127.0)})
        } else {
            trip(i)
        };
        ids.push(fleet.submit(&body).await);
        i += 1;
        if Instant::now() >= next_kill {
            let victim = rand::rng().random_range(0..workers.len());
            let mut w = workers.swap_remove(victim);
            w.kill();
            kills += 1;
            workers.push(spawn(&fleet));
            next_kill =
                Instant::now() + Duration::from_millis(rand::rng().random_range(3_000..5_000));
        }
        tokio::time::sleep(Duration::from_millis(66)).await;
    }
    assert!(kills >= 10, "{kills} kills");

    // Every submitted id ends exactly once, counted from Redis.
    let mut reclaimed = 0;
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(45)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        if v["attempts"].as_u64().unwrap_or(0) > 1 {
            reclaimed += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = fleet.done_counts();
    let mut wrong = Vec::new();
    for id in &ids {
        let state = fleet.job_field(id, "state").await;
        let n = counts.get(id).copied().unwrap_or(0);
        if n != 1 || state.as_deref() != Some("succeeded") {
            wrong.push((id.clone(), n, state));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} jobs not finished exactly once: {wrong:?}",
        wrong.len(),
        ids.len()
    );
    assert_eq!(
        counts.len(),
        ids.len(),
        "completions of ids never submitted"
    );
    assert!(
        reclaimed > 0,
        "no killed worker held a job: the test proved nothing"
    );
    assert_eq!(fleet.pending_entries().await, 0);
    let mut conn = fleet.redis().await;
    let backlog: u64 = redis::AsyncCommands::xlen(&mut conn, format!("{}:jobs", fleet.prefix))
        .await
        .expect("xlen");
    assert_eq!(backlog, 0);
    eprintln!(
        "chaos: {} jobs, {kills} workers killed, {reclaimed} jobs reclaimed",
        ids.len()
    );
}
