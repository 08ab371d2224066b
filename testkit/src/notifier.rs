//! `routeq-notifier` as a process, and its `dead` CLI.

use std::process::{Command, Stdio};

use crate::proc::{Proc, bin};

/// `routeq-notifier run` on `redis_url` under `prefix` with `extra` flags (a free metrics port
/// unless `extra` names one; loopback allowed for deliveries unless `extra` sets the allowlist).
pub fn process(redis_url: &str, prefix: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["run", "--redis-url", redis_url, "--key-prefix", prefix];
    if !extra.contains(&"--listen") {
        args.extend_from_slice(&["--listen", "127.0.0.1:0"]);
    }
    if !extra.contains(&"--webhook-allow") {
        args.extend_from_slice(&["--webhook-allow", "127.0.0.0/8"]);
    }
    let mut cmd = Command::new(bin("routeq-notifier"));
    cmd.args(&args)
        .args(extra)
        .env(
            "ROUTEQ_LOG",
            std::env::var("ROUTEQ_TEST_NOTIFIER_LOG").unwrap_or("warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    Proc::spawn(&mut cmd)
}

/// Runs `routeq-notifier dead <args>`; returns (success, stdout).
pub fn dead_cli(redis_url: &str, prefix: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin("routeq-notifier"))
        .arg("dead")
        .args(args)
        .env("ROUTEQ_REDIS_URL", redis_url)
        .env("ROUTEQ_KEY_PREFIX", prefix)
        .env("ROUTEQ_LOG", "warn")
        .output()
        .expect("run routeq-notifier dead");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        eprintln!("notifier dead {args:?} stderr: {stderr}");
    }
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
