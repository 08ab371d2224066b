//! The gateway as SREs run it: a real `routeq-gateway` process with JSON logs. Lines about a
//! job carry `request_id` and `job_id`, and `routeq-gateway healthcheck` (what the container
//! image runs instead of curl) exits 0 only when the gateway answers.
//! Against the real Redis on 127.0.0.1:6379, under a key prefix of its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const REDIS: &str = "redis://127.0.0.1:6379";
const BIN: &str = env!("CARGO_BIN_EXE_routeq-gateway");

/// A gateway process; its stdout lines are collected; stopped when dropped.
struct Gateway {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    prefix: String,
}

impl Gateway {
    fn start() -> Gateway {
        let prefix = format!(
            "{{obs-gw-{}}}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let mut child = Command::new(BIN)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--redis-url",
                REDIS,
                "--key-prefix",
                &prefix,
            ])
            .args([
                "--log-format",
                "json",
                "--log-level",
                "info",
                "--records",
                "off",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn routeq-gateway");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        Gateway {
            child,
            lines,
            prefix,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }

    /// The address from the "gateway listening" line.
    async fn addr(&self) -> String {
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

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // This test's keys only (the shared Redis is never flushed).
        let _ = routeq_shared::keys::purge_blocking(REDIS, &self.prefix);
    }
}

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Option<i32> {
    Command::new(BIN)
        .arg("healthcheck")
        .args(args)
        .envs(env.iter().copied())
        .env_remove("ROUTEQ_ADMIN_LISTEN")
        .stderr(Stdio::null())
        .status()
        .expect("run healthcheck")
        .code()
}

#[tokio::test]
async fn json_log_lines_about_a_job_carry_request_and_job_ids() {
    let gw = Gateway::start();
    let addr = gw.addr().await;
    let http = reqwest::Client::new();
    let rid = format!(
        "obs-log-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let res = http
        .post(format!("http://{addr}/v1/routes"))
        .header("x-request-id", &rid)
        .json(&json!({"origin": {"lat": 37.4979, "lon": 127.0276}, "destination": {"address": "Seoul Station"}}))
        .send()
        .await
        .expect("submit");
    assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);
    let job: Value = res.json().await.expect("job");
    let job_id = job["id"].as_str().expect("id").to_string();
    let res = http
        .delete(format!("http://{addr}/v1/routes/{job_id}"))
        .header("x-request-id", &rid)
        .send()
        .await
        .expect("cancel");
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);

    let until = Instant::now() + Duration::from_secs(5);
    let about_job = loop {
        let lines: Vec<Value> = gw
            .lines()
            .iter()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
            })
            .collect();
        let about: Vec<Value> = lines
            .into_iter()
            .filter(|v| v.get("job_id").is_some())
            .collect();
        if about.len() >= 2 || Instant::now() > until {
            break about;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // "job accepted" and "job cancelled", each with both ids at the top level of the line.
    for message in ["job accepted", "job cancelled"] {
        let line = about_job
            .iter()
            .find(|v| v["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line: {about_job:?}"));
        assert_eq!(line["job_id"], job_id.as_str(), "{line}");
        assert_eq!(line["request_id"], rid.as_str(), "{line}");
    }
    for line in &about_job {
        assert!(
            line["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "a line about a job without request_id: {line}"
        );
    }
}

#[tokio::test]
async fn the_healthcheck_subcommand_exits_0_only_when_the_gateway_answers() {
    let gw = Gateway::start();
    let addr = gw.addr().await;
    assert_eq!(
        healthcheck(&["--url", &format!("http://{addr}/healthz")], &[]),
        Some(0)
    );
    // Without --url it probes the port of ROUTEQ_LISTEN, as in the container image.
    let any_interface = format!("0.0.0.0:{}", addr.rsplit(':').next().expect("port"));
    assert_eq!(
        healthcheck(&[], &[("ROUTEQ_LISTEN", &any_interface)]),
        Some(0)
    );
    // Not a 200, nothing listening, not a URL: 1 (unhealthy).
    assert_eq!(
        healthcheck(&["--url", &format!("http://{addr}/nope")], &[]),
        Some(1)
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    assert_eq!(
        healthcheck(&["--url", &format!("http://{closed}/healthz")], &[]),
        Some(1)
    );
    assert_eq!(healthcheck(&["--url", "ftp://x"], &[]), Some(1));
    // A flag it does not know is a usage error (2), never a silent pass.
    assert_eq!(healthcheck(&["--bogus"], &[]), Some(2));
}
