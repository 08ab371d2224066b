//! A fleet under one key prefix: a gateway in this process, the simulator, and workers (in this
//! process or as processes), with every completion published on `{p}:done` counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use routeq_gateway::GatewayConfig;
use routeq_sim::{SimArgs, SimHandle};
use routeq_worker::WorkerConfig;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::REDIS;
use crate::gateway::TestGateway;
use crate::proc::{Proc, bin};
use crate::redis::Prefix;

pub struct Fleet {
    pub prefix: String,
    pub gateway: TestGateway,
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    /// Every id published on the "done" channel, with how many times.
    done: Arc<Mutex<HashMap<String, u32>>>,
    _keys: Prefix,
}

impl Fleet {
    pub async fn start(sim_args: SimArgs) -> Fleet {
        Fleet::start_with(sim_args, |_| {}).await
    }

    /// Like [`Fleet::start`], with the gateway's configuration adjusted first.
    pub async fn start_with(sim_args: SimArgs, tweak: impl FnOnce(&mut GatewayConfig)) -> Fleet {
        let keys = Prefix::new("fleet");
        let prefix = keys.prefix.clone();
        let sim = crate::sim::start(sim_args).await;
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
                            // One message names every job one script ended.
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
        let gateway = TestGateway::start_on(REDIS, &prefix, tweak).await;
        Fleet {
            prefix,
            gateway,
            sim,
            http: reqwest::Client::new(),
            shutdown,
            done,
            _keys: keys,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.gateway.url(path)
    }

    fn base(&self) -> String {
        self.gateway.base()
    }

    pub fn worker_config(&self) -> WorkerConfig {
        crate::worker::config(REDIS, &self.prefix, &self.sim.base_url())
    }

    /// Starts a worker in this process; it stops with the fleet or when the token is cancelled.
    pub async fn worker_in_process(
        &self,
        tweak: impl FnOnce(&mut WorkerConfig),
    ) -> CancellationToken {
        let mut cfg = self.worker_config();
        tweak(&mut cfg);
        crate::worker::in_process(cfg, &self.shutdown).await
    }

    /// Starts a worker as its own process named `name`, with extra flags.
    pub fn worker_process(&self, name: &str, extra: &[&str]) -> Proc {
        let mut args = vec!["--consumer", name];
        args.extend_from_slice(extra);
        crate::worker::process(REDIS, &self.prefix, &self.sim.base_url(), &args, None)
    }

    pub async fn submit(&self, body: &Value) -> String {
        crate::http::submit(&self.http, &self.base(), body).await
    }

    /// Submits every body before returning their ids (in order).
    pub async fn submit_all(&self, bodies: &[Value]) -> Vec<String> {
        let mut ids = Vec::with_capacity(bodies.len());
        for b in bodies {
            ids.push(self.submit(b).await);
        }
        ids
    }

    pub async fn get(&self, id: &str) -> (StatusCode, Value) {
        crate::http::get(&self.http, &self.base(), id).await
    }

    /// Polls until the job is finished (not 202) or `within` passes.
    pub async fn finished(&self, id: &str, within: Duration) -> (StatusCode, Value) {
        crate::http::finished(&self.http, &self.base(), id, within).await
    }

    pub fn done_counts(&self) -> HashMap<String, u32> {
        self.done.lock().expect("lock").clone()
    }

    pub async fn pending_entries(&self) -> u64 {
        let mut conn = self.redis().await;
        let reply: redis::streams::StreamPendingReply =
            redis::AsyncCommands::xpending(&mut conn, format!("{}:jobs", self.prefix), "workers")
                .await
                .expect("xpending");
        reply.count() as u64
    }

    /// A plain connection to the test Redis.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        crate::redis::connect(REDIS).await
    }

    /// One field of a job's hash in Redis.
    pub async fn job_field(&self, id: &str, field: &str) -> Option<String> {
        let mut conn = self.redis().await;
        redis::AsyncCommands::hget(&mut conn, format!("{}:job:{id}", self.prefix), field)
            .await
            .expect("hget")
    }

    /// Runs `routeq-worker <args>` against this fleet's Redis and prefix; returns (success, stdout).
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new(bin("routeq-worker"))
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

impl Drop for Fleet {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
