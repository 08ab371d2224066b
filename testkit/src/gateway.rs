//! One gateway: in this process ([`TestGateway`]) or as a real process with its log lines
//! collected ([`GatewayProcess`]).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_gateway::auth::ApiKeys;
use routeq_gateway::{Application, GatewayConfig};
use routeq_shared::redis::connect::Timeouts;
use routeq_shared::redis::store::Retention;
use routeq_shared::redis::{JobStore, RedisArgs};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::proc::{Proc, bin};
use crate::redis::Prefix;

/// A gateway in this process on a free port, under a key prefix; stopped when dropped.
pub struct TestGateway {
    pub addr: SocketAddr,
    /// The admin listener, when the configuration set one.
    pub admin: Option<SocketAddr>,
    pub prefix: String,
    pub redis_url: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    _keys: Option<Prefix>,
}

impl TestGateway {
    /// A gateway on the shared Redis under a prefix of its own (deleted when dropped).
    pub async fn start(tweak: impl FnOnce(&mut GatewayConfig)) -> TestGateway {
        let prefix = Prefix::new("gw");
        let mut gw = TestGateway::start_on(crate::REDIS, &prefix, tweak).await;
        gw._keys = Some(prefix);
        gw
    }

    /// A gateway on `redis_url` under `prefix` (whose keys the caller owns); waits until ready
    /// when Redis is up.
    pub async fn start_on(
        redis_url: &str,
        prefix: &str,
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> TestGateway {
        let mut cfg = GatewayConfig::for_tests(redis_url, prefix).expect("gateway config");
        tweak(&mut cfg);
        let app = Application::build(cfg).await.expect("gateway");
        let addr = app.local_addr().expect("addr");
        let admin = app.admin_addr();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        tokio::spawn(async move { app.run_until(async move { token.cancelled().await }).await });
        let gw = TestGateway {
            addr,
            admin,
            prefix: prefix.to_string(),
            redis_url: redis_url.to_string(),
            http: reqwest::Client::new(),
            shutdown,
            _keys: None,
        };
        gw.wait_ready(Duration::from_secs(5)).await;
        gw
    }

    /// `http://<addr><path>` on the public listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `http://<addr><path>` on the admin listener (the public one when none is set).
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin.unwrap_or(self.addr), path)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits (at most `within`) until `/readyz` answers 200; returns whether it did.
    pub async fn wait_ready(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(r) = self.http.get(self.admin_url("/readyz")).send().await
                && r.status() == StatusCode::OK
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/v1/routes"))
            .json(body)
            .send()
            .await
            .expect("post")
    }

    /// The job store of this gateway's fleet, as a worker or a tool would open it.
    pub fn store(&self) -> JobStore {
        let args = RedisArgs::new(&self.redis_url, &self.prefix).expect("args");
        JobStore::new(
            args.command_connection(Timeouts::WORKER).expect("conn"),
            args.keys().expect("keys"),
            Retention {
                result_ttl_ms: 60_000,
                record: false,
            },
        )
    }

    /// The API key store of this gateway's fleet.
    pub fn api_keys(&self) -> ApiKeys {
        let args = RedisArgs::new(&self.redis_url, &self.prefix).expect("args");
        ApiKeys::new(
            args.command_connection(Timeouts::WORKER).expect("conn"),
            args.keys().expect("keys"),
        )
    }

    /// A plain connection to this gateway's Redis.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        crate::redis::connect(&self.redis_url).await
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `routeq-gateway` as a real process on a free port; its stdout lines are collected.
pub struct GatewayProcess {
    pub proc: Proc,
    lines: Arc<Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Starts the gateway with `args` (the Redis URL, prefix and listen address among them) and
    /// JSON logs at `info`.
    pub fn start(args: &[&str]) -> GatewayProcess {
        let mut proc = Proc::spawn(
            Command::new(bin("routeq-gateway"))
                .args(args)
                .args(["--log-format", "json", "--log-level", "info"])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        )
        .with_grace(Duration::from_secs(3));
        let stdout = proc.child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        GatewayProcess { proc, lines }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }

    /// The address from the "gateway listening" line.
    pub async fn addr(&self) -> String {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            for line in self.lines() {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if v["message"] == "gateway listening" {
                    return v["addr"].as_str().expect("addr field").to_string();
                }
            }
            assert!(
                Instant::now() < until,
                "no `gateway listening` line: {:?}",
                self.lines()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
