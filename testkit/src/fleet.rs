//! A fleet under one key prefix: a gateway in this process, the simulator, and workers (in this
//! process or as processes), with every completion published on `{p}:done` counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// The fleet's Redis (the shared one unless started with [`Fleet::start_on`]).
    pub redis_url: String,
    /// Its key space (with its partitions).
    pub keys: routeq_shared::redis::Keys,
    pub gateway: TestGateway,
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    /// Every id published on the "done" channel, with how many times.
    done: Arc<Mutex<HashMap<String, u32>>>,
    /// Each job's line of the last completion message that named it (the job as it ended).
    carried: Arc<Mutex<HashMap<String, String>>>,
    _keys: Option<Prefix>,
}

impl Fleet {
    pub async fn start(sim_args: SimArgs) -> Fleet {
        Fleet::start_with(sim_args, |_| {}).await
    }

    /// Like [`Fleet::start`], with the gateway's configuration adjusted first.
    pub async fn start_with(sim_args: SimArgs, tweak: impl FnOnce(&mut GatewayConfig)) -> Fleet {
        let keys = Prefix::new("fleet");
        let mut fleet = Fleet::start_on(REDIS, &keys.prefix.clone(), 1, sim_args, tweak).await;
        fleet._keys = Some(keys);
        fleet
    }

    /// A fleet on `redis_url` (any topology) under `prefix` with `partitions`; the caller owns
    /// the keys (a private Redis, Sentinel group or cluster is simply stopped).
    pub async fn start_on(
        redis_url: &str,
        prefix: &str,
        partitions: u16,
        sim_args: SimArgs,
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> Fleet {
        let sim = crate::sim::start(sim_args).await;
        let shutdown = CancellationToken::new();
        let args = args(redis_url, prefix, partitions);
        let keys = args.keys().expect("keys");
        // Count completions from the start, on subscriptions of our own (sharded on a cluster).
        let done = Arc::new(Mutex::new(HashMap::new()));
        let carried = Arc::new(Mutex::new(HashMap::new()));
        let conn = args
            .command_connection(routeq_shared::redis::connect::Timeouts::WORKER)
            .expect("conn");
        let settings = args.settings(routeq_shared::redis::connect::Timeouts::WORKER);
        let units: Vec<Vec<String>> = if conn.is_cluster() {
            keys.all().iter().map(|k| vec![k.done_channel()]).collect()
        } else {
            vec![keys.all().iter().map(|k| k.done_channel()).collect()]
        };
        for channels in units {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<redis::PushInfo>();
            let mut sub = routeq_shared::redis::connect::Dedicated::for_pushes(
                &conn,
                &channels[0],
                &settings,
                tx,
            );
            let c = sub.get().await.expect("subscription connection");
            let cmd = if conn.is_cluster() {
                "SSUBSCRIBE"
            } else {
                "SUBSCRIBE"
            };
            for ch in &channels {
                redis::cmd(cmd)
                    .arg(ch)
                    .exec_async(&mut *c)
                    .await
                    .expect("subscribe");
            }
            let counts = done.clone();
            let lines = carried.clone();
            let token = shutdown.clone();
            tokio::spawn(async move {
                let _keep = sub;
                loop {
                    tokio::select! {
                        () = token.cancelled() => break,
                        p = rx.recv() => match p {
                            Some(p) if matches!(p.kind, redis::PushKind::Message | redis::PushKind::SMessage) => {
                                // One message names every job one script ended.
                                let ids: String = p.data.get(1).and_then(|v| redis::from_redis_value_ref(v).ok()).unwrap_or_default();
                                let mut counts = counts.lock().expect("lock");
                                let mut lines = lines.lock().expect("lock");
                                for (id, line) in routeq_shared::redis::record::DoneMessage::parse(&ids).entries() {
                                    *counts.entry(id.to_string()).or_insert(0) += 1;
                                    if let Some(l) = line {
                                        lines.insert(id.to_string(), l.to_string());
                                    }
                                }
                            }
                            Some(_) => {}
                            None => break,
                        }
                    }
                }
            });
        }
        let gateway = TestGateway::start_on(redis_url, prefix, |cfg| {
            cfg.redis.partitions = partitions;
            tweak(cfg);
        })
        .await;
        Fleet {
            prefix: prefix.to_string(),
            redis_url: redis_url.to_string(),
            keys,
            gateway,
            sim,
            http: reqwest::Client::new(),
            shutdown,
            done,
            carried,
            _keys: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.gateway.url(path)
    }

    fn base(&self) -> String {
        self.gateway.base()
    }

    pub fn worker_config(&self) -> WorkerConfig {
        let mut cfg = crate::worker::config(&self.redis_url, &self.prefix, &self.sim.base_url());
        cfg.redis.partitions = self.keys.partitions();
        cfg
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
        let partitions = self.keys.partitions().to_string();
        let mut args = vec!["--consumer", name];
        if self.keys.partitions() > 1 {
            args.extend_from_slice(&["--partitions", &partitions]);
        }
        args.extend_from_slice(extra);
        crate::worker::process(
            &self.redis_url,
            &self.prefix,
            &self.sim.base_url(),
            &args,
            None,
        )
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

    /// The job as the last completion message naming `id` carried it (its line, undecoded).
    pub fn carried(&self, id: &str) -> Option<String> {
        self.carried.lock().expect("lock").get(id).cloned()
    }

    /// Entries pending in the workers' group, over every partition.
    pub async fn pending_entries(&self) -> u64 {
        let mut conn = self.redis().await;
        let mut total = 0;
        for k in self.keys.all() {
            let reply: redis::streams::StreamPendingReply =
                redis::AsyncCommands::xpending(&mut conn, k.jobs_stream(), "workers")
                    .await
                    .expect("xpending");
            total += reply.count() as u64;
        }
        total
    }

    /// A command connection to the fleet's Redis (any topology).
    pub async fn redis(&self) -> routeq_shared::redis::Conn {
        args(&self.redis_url, &self.prefix, self.keys.partitions())
            .command_connection(routeq_shared::redis::connect::Timeouts::WORKER)
            .expect("conn")
    }

    /// One field of a job's hash in Redis.
    pub async fn job_field(&self, id: &str, field: &str) -> Option<String> {
        let mut conn = self.redis().await;
        redis::AsyncCommands::hget(&mut conn, self.keys.for_job(id).job(id), field)
            .await
            .expect("hget")
    }

    /// Runs `routeq-worker <args>` against this fleet's Redis and prefix; returns (success, stdout).
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new(bin("routeq-worker"))
            .args(args)
            .env("ROUTEQ_REDIS_URL", &self.redis_url)
            .env("ROUTEQ_KEY_PREFIX", &self.prefix)
            .env("ROUTEQ_PARTITIONS", self.keys.partitions().to_string())
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

/// Redis settings for a fleet on `url` under `prefix` with `partitions`.
fn args(url: &str, prefix: &str, partitions: u16) -> routeq_shared::redis::RedisArgs {
    let mut args = routeq_shared::redis::RedisArgs::new(url, prefix).expect("redis args");
    args.partitions = partitions;
    args
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
