//! One worker: in this process, or as a real `routeq-worker` process.

use std::path::Path;
use std::process::{Command, Stdio};

use routeq_worker::{Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;

use crate::proc::{Proc, bin};

/// The configuration of a worker on `redis_url` under `prefix`, calling the simulator at
/// `provider_url`, its metrics on a free port.
pub fn config(redis_url: &str, prefix: &str, provider_url: &str) -> WorkerConfig {
    WorkerConfig::for_tests(redis_url, prefix, provider_url).expect("worker config")
}

/// Starts a worker in this process; it stops when the returned token (a child of `parent`) is
/// cancelled.
pub async fn in_process(cfg: WorkerConfig, parent: &CancellationToken) -> CancellationToken {
    let worker = Worker::build(cfg).await.expect("worker");
    let token = parent.child_token();
    let t = token.clone();
    tokio::spawn(async move { worker.run_until(async move { t.cancelled().await }).await });
    token
}

/// `routeq-worker` as a process on `redis_url` under `prefix`, calling the simulator at
/// `provider_url`, with `extra` flags (a free metrics port unless `extra` names one). Its logs
/// go to `log` when given, else warnings to the test's stderr.
pub fn process(
    redis_url: &str,
    prefix: &str,
    provider_url: &str,
    extra: &[&str],
    log: Option<&Path>,
) -> Proc {
    let mut args = vec![
        "--redis-url",
        redis_url,
        "--key-prefix",
        prefix,
        "--geocoder-url",
        provider_url,
        "--router-url",
        provider_url,
    ];
    if !extra.contains(&"--metrics-listen") {
        args.extend_from_slice(&["--metrics-listen", "127.0.0.1:0"]);
    }
    if log.is_none() && !extra.contains(&"--log-level") {
        args.extend_from_slice(&["--log-level", "warn"]);
    }
    args.extend_from_slice(extra);
    let mut cmd = Command::new(bin("routeq-worker"));
    cmd.args(&args).stderr(Stdio::inherit());
    match log {
        Some(path) => cmd.stdout(std::fs::File::create(path).expect("log file")),
        None => cmd.stdout(Stdio::null()),
    };
    Proc::spawn(&mut cmd)
}
