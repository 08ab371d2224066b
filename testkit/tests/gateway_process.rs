//! The gateway as SREs run it: a real `routeq-gateway` process with JSON logs. Lines about a
//! job carry `request_id` and `job_id`, and `routeq-gateway healthcheck` (what the container
//! image runs instead of curl) exits 0 only when the gateway answers.
//! Against the real Redis on 127.0.0.1:6379, under a key prefix of its own.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use routeq_testkit::gateway::GatewayProcess;
use routeq_testkit::proc::bin;
use routeq_testkit::{Prefix, REDIS};

use serde_json::{Value, json};

/// A gateway process with JSON logs, under a prefix of its own.
fn start_gateway() -> (Prefix, GatewayProcess) {
    let prefix = Prefix::new("obs-gw");
    let gw = GatewayProcess::start(&[
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        REDIS,
        "--key-prefix",
        &prefix,
        "--records",
        "off",
    ]);
    (prefix, gw)
}

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Option<i32> {
    Command::new(bin("routeq-gateway"))
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
    let (_prefix, gw) = start_gateway();
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
    let (_prefix, gw) = start_gateway();
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
