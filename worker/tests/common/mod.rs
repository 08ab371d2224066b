//! The test harness shared by the worker's integration tests: a real gateway, the provider
//! simulator as a real HTTP server, workers in-process or as processes (killed and terminated),
//! and the real Redis — each fleet under its own key prefix, removed when it is dropped.
//!
//! Every test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use routeq_gateway::{Application, GatewayConfig};
use routeq_sim::{SimArgs, SimHandle, Simulator};
use routeq_worker::{Worker, WorkerConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const REDIS: &str = "redis://127.0.0.1:6379";

pub struct Fleet {
    pub prefix: String,
    pub gateway: SocketAddr,
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    /// Every id published on the "done" channel, with how many times.
    done: Arc<Mutex<HashMap<String, u32>>>,
}

impl Fleet {
    pub async fn start(sim_args: SimArgs) -> Fleet {
        Fleet::start_with(sim_args, |_| {}).await
    }

    /// Like [`Fleet::start`], with the gateway's configuration adjusted first.
    pub async fn start_with(sim_args: SimArgs, tweak: impl FnOnce(&mut GatewayConfig)) -> Fleet {
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
                            // One message names every job one completion stored.
                            let ids: String = m.get_payload().unwrap_or_default();
                            let mut counts = counts.lock().expect("lock");
                            for id in ids.split(' ').filter(|id| !id.is_empty()) {
                                *counts.entry(id.to_string()).or_insert(0) += 1;
                            }
                        }
                        None => break,
                    }
                }
            }
        });

        let mut cfg = GatewayConfig::for_tests(REDIS, &prefix).expect("gateway config");
        tweak(&mut cfg);
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.gateway, path)
    }

    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig::for_tests(REDIS, &self.prefix, &self.sim.base_url()).expect("worker config")
    }

    /// Starts a worker in this process; it stops with the fleet or when `token` is cancelled.
    pub async fn worker_in_process(
        &self,
        tweak: impl FnOnce(&mut WorkerConfig),
    ) -> CancellationToken {
        let mut cfg = self.worker_config();
        tweak(&mut cfg);
        let worker = Worker::build(cfg).await.expect("worker");
        let token = self.shutdown.child_token();
        let t = token.clone();
        tokio::spawn(async move { worker.run_until(async move { t.cancelled().await }).await });
        token
    }

    /// Starts a worker as its own process, with extra flags.
    pub fn worker_process(&self, name: &str, extra: &[&str]) -> Proc {
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
            "--consumer",
            name,
            "--log-level",
            "warn",
        ];
        if !extra.contains(&"--metrics-listen") {
            args.extend_from_slice(&["--metrics-listen", "127.0.0.1:0"]);
        }
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

    pub async fn submit(&self, body: &Value) -> String {
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

    pub async fn get(&self, id: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(self.url(&format!("/v1/routes/{id}")))
            .send()
            .await
            .expect("get");
        (res.status(), res.json().await.expect("json"))
    }

    /// Polls until the job is finished (not 202) or `within` passes.
    pub async fn finished(&self, id: &str, within: Duration) -> (StatusCode, Value) {
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

    pub fn done_counts(&self) -> HashMap<String, u32> {
        self.done.lock().expect("lock").clone()
    }

    pub async fn pending_entries(&self) -> u64 {
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
        let _ = routeq_shared::keys::purge_blocking(REDIS, &self.prefix);
    }
}

pub fn coords(lat: f64, lon: f64) -> Value {
    json!({"lat": lat, "lon": lon})
}

pub fn seoul_trip() -> Value {
    json!({"origin": coords(37.4979, 127.0276), "destination": coords(37.5547, 126.9707)})
}

pub fn sim_latency(min_ms: u64, max_ms: u64) -> SimArgs {
    SimArgs {
        latency_min_ms: min_ms,
        latency_max_ms: max_ms,
        ..SimArgs::default()
    }
}

pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

pub async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
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
pub struct Proc(pub Child);

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

/// A port that was free a moment ago (for a worker process's metrics listener).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A distinct trip in Seoul for each `i` (so neither the cache nor coalescing joins them).
pub fn trip(i: u32) -> Value {
    let d = f64::from(i) * 0.0007;
    json!({"origin": coords(37.4979 + d, 127.0276), "destination": coords(37.5547, 126.9707 + d)})
}

impl Fleet {
    /// A plain connection to the test Redis.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(REDIS)
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("redis")
    }

    /// One field of a job's hash in Redis.
    pub async fn job_field(&self, id: &str, field: &str) -> Option<String> {
        let mut conn = self.redis().await;
        redis::AsyncCommands::hget(&mut conn, format!("{}:job:{id}", self.prefix), field)
            .await
            .expect("hget")
    }

    /// Submits every body before returning their ids (in order).
    pub async fn submit_all(&self, bodies: &[Value]) -> Vec<String> {
        let mut ids = Vec::with_capacity(bodies.len());
        for b in bodies {
            ids.push(self.submit(b).await);
        }
        ids
    }

    /// Runs `routeq-worker <args>` against this fleet's Redis and prefix; returns (success, stdout).
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_routeq-worker"))
            .args(args)
            .env("ROUTEQ_REDIS_URL", REDIS)
            .env("ROUTEQ_KEY_PREFIX", &self.prefix)
            .env("ROUTEQ_LOG", "warn")
            .output()
            .expect("run the CLI");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim().is_empty() {
            eprintln!("cli {args:?} stderr: {stderr}");
        }
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

/// Reads a worker's /metrics and returns the value of the series `name{labels}` (0 if absent).
pub async fn metric(port: u16, series: &str) -> f64 {
    let until = Instant::now() + Duration::from_secs(5);
    let text = loop {
        match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            Ok(r) => break r.text().await.unwrap_or_default(),
            Err(e) => {
                assert!(Instant::now() < until, "worker metrics not reachable: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// Waits until a worker process serves /healthz.
pub async fn wait_healthy(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < until, "worker on :{port} did not come up");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A PostgreSQL database of its own, created on the machine's server and dropped at the end.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!(
            "routeq_t_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
            .await
            .expect("PostgreSQL must run on 127.0.0.1:5432 (scripts/setup.sh)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create db");
        admin.close().await;
        TestDb { name }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// The same database reached through another address (a proxy the test controls).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        format!("postgres://postgres@{addr}/{}", self.name)
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.url())
            .await
            .expect("connect test db")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
