//! The walking fleet end to end: a real gateway, real workers (in-process and as processes that are
//! killed and terminated), the provider simulator as a real HTTP server, and the real Redis —
//! each test under its own key prefix.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use routeq_gateway::{Application, GatewayConfig};
use routeq_sim::{FaultPatch, FaultTarget, Provider, SimArgs, SimHandle, Simulator};
use routeq_worker::{Worker, WorkerConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const REDIS: &str = "redis://127.0.0.1:6379";

struct Fleet {
    prefix: String,
    gateway: SocketAddr,
    sim: SimHandle,
    http: reqwest::Client,
    shutdown: CancellationToken,
    /// Every id published on the "done" channel, with how many times.
    done: Arc<Mutex<HashMap<String, u32>>>,
}

impl Fleet {
    async fn start(sim_args: SimArgs) -> Fleet {
        let prefix = format!(
            "{{fleet-{}}}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let sim = Simulator::bind(sim_args).await.expect("simulator").spawn();
        let shutdown = CancellationToken::new();

        // Count completions from the start, on our own subscription.
        let done = Arc::new(Mutex::new(HashMap::new()));
        let client = redis::Client::open(REDIS).expect("client");
        let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
        pubsub
            .subscribe(format!("{prefix}:done"))
            .await
            .expect("subscribe");
        let counts = done.clone();
        let token = shutdown.clone();
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    m = messages.next() => match m {
                        Some(m) => {
                            let id: String = m.get_payload().unwrap_or_default();
                            *counts.lock().expect("lock").entry(id).or_insert(0) += 1;
                        }
                        None => break,
                    }
                }
            }
        });

        let cfg = GatewayConfig::for_tests(REDIS, &prefix).expect("gateway config");
        let app = Application::build(cfg).await.expect("gateway");
        let gateway = app.local_addr().expect("addr");
        let token = shutdown.clone();
        tokio::spawn(async move { app.run_until(async move { token.cancelled().await }).await });
        let fleet = Fleet {
            prefix,
            gateway,
            sim,
            http: reqwest::Client::new(),
            shutdown,
            done,
        };
        let until = Instant::now() + Duration::from_secs(5);
        while fleet
            .http
            .get(fleet.url("/readyz"))
            .send()
            .await
            .map(|r| r.status())
            .ok()
            != Some(StatusCode::OK)
        {
            assert!(Instant::now() < until, "gateway not ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        fleet
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.gateway, path)
    }

    fn worker_config(&self) -> WorkerConfig {
        WorkerConfig::for_tests(REDIS, &self.prefix, &self.sim.base_url()).expect("worker config")
    }

    /// Starts a worker in this process; it stops with the fleet or when `token` is cancelled.
    async fn worker_in_process(&self, tweak: impl FnOnce(&mut WorkerConfig)) -> CancellationToken {
        let mut cfg = self.worker_config();
        tweak(&mut cfg);
        let worker = Worker::build(cfg).await.expect("worker");
        let token = self.shutdown.child_token();
        let t = token.clone();
        tokio::spawn(async move { worker.run_until(async move { t.cancelled().await }).await });
        token
    }

    /// Starts a worker as its own process, with extra flags.
    fn worker_process(&self, name: &str, extra: &[&str]) -> Proc {
        let base = self.sim.base_url();
        let mut args = vec![
            "--redis-url",
            REDIS,
            "--key-prefix",
            &self.prefix,
            "--geocoder-url",
            &base,
            "--router-url",
            &base,
            "--metrics-listen",
            "127.0.0.1:0",
            "--consumer",
            name,
            "--log-level",
            "warn",
        ];
        args.extend_from_slice(extra);
        Proc(
            Command::new(env!("CARGO_BIN_EXE_routeq-worker"))
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn worker"),
        )
    }

    async fn submit(&self, body: &Value) -> String {
        let res = self
            .http
            .post(self.url("/v1/routes"))
            .json(body)
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let v: Value = res.json().await.expect("json");
        v["id"].as_str().expect("id").to_string()
    }

    async fn get(&self, id: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(self.url(&format!("/v1/routes/{id}")))
            .send()
            .await
            .expect("get");
        (res.status(), res.json().await.expect("json"))
    }

    /// Polls until the job is finished (not 202) or `within` passes.
    async fn finished(&self, id: &str, within: Duration) -> (StatusCode, Value) {
        let until = Instant::now() + within;
        loop {
            let (status, v) = self.get(id).await;
            if status != StatusCode::ACCEPTED {
                return (status, v);
            }
            assert!(
                Instant::now() < until,
                "job {id} not finished in {within:?}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn done_counts(&self) -> HashMap<String, u32> {
        self.done.lock().expect("lock").clone()
    }

    async fn pending_entries(&self) -> u64 {
        let mut conn = redis::Client::open(REDIS)
            .expect("c")
            .get_multiplexed_async_connection()
            .await
            .expect("conn");
        let reply: redis::streams::StreamPendingReply =
            redis::AsyncCommands::xpending(&mut conn, format!("{}:jobs", self.prefix), "workers")
                .await
                .expect("xpending");
        reply.count() as u64
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Ok(client) = redis::Client::open(REDIS)
            && let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200))
        {
            let pattern = format!("{}*", self.prefix.replace('{', "\\{").replace('}', "\\}"));
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}

fn coords(lat: f64, lon: f64) -> Value {
    json!({"lat": lat, "lon": lon})
}

fn seoul_trip() -> Value {
    json!({"origin": coords(37.4979, 127.0276), "destination": coords(37.5547, 126.9707)})
}

fn sim_latency(min_ms: u64, max_ms: u64) -> SimArgs {
    SimArgs {
        latency_min_ms: min_ms,
        latency_max_ms: max_ms,
        ..SimArgs::default()
    }
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < until,
            "process did not exit within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A child process that is killed if the test ends (or fails) before it exits.
struct Proc(Child);

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
                rate_429: Some(1.0),
                ..FaultPatch::default()
            },
            503,
            "PROVIDER_UNAVAILABLE",
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
        assert_eq!(v["state"], "failed");
        assert_eq!(v["result"], json!({}));
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
        let worker = Worker::build(cfg).await.expect("worker");
        let token = fleet.shutdown.child_token();
        let t = token.clone();
        tokio::spawn(async move { worker.run_until(async move { t.cancelled().await }).await });
        token
    };
    let id = fleet.submit(&seoul_trip()).await;
    let (status, v) = fleet.finished(&id, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["code"], "PROVIDER_UNAVAILABLE");
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
    for _ in 0..40 {
        ids.push(fleet.submit(&seoul_trip()).await);
    }
    // Let both workers take jobs, then kill one in the middle of its work.
    tokio::time::sleep(Duration::from_millis(600)).await;
    victim.kill().expect("SIGKILL");
    victim.wait().expect("reap");

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
    terminate(&survivor);
    assert!(
        wait_exit(&mut survivor, Duration::from_secs(10))
            .await
            .success()
    );
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
    terminate(&worker);
    // Submitted after SIGTERM: the draining worker must not read these.
    let mut later = Vec::new();
    for _ in 0..3 {
        later.push(fleet.submit(&seoul_trip()).await);
    }
    let status = wait_exit(&mut worker, Duration::from_secs(10)).await;
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
    let out = Command::new(env!("CARGO_BIN_EXE_routeq-worker"))
        .args([
            "--job-budget-ms",
            "5000",
            "--reclaim-idle-ms",
            "4000",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--reclaim-idle-ms"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_routeq-worker"))
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
