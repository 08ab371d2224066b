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

// ---------------------------------------------------------------------------------------------
// CLI traps a new user hits

/// The gateway's access log: one structured line per request with its request id, method, route
/// template (not the raw path, which names a job), status and duration.
#[tokio::test]
async fn every_request_gets_a_structured_access_log_line() {
    let (_prefix, gw) = start_gateway();
    let addr = gw.addr().await;
    let res = reqwest::Client::new()
        .get(format!(
            "http://{addr}/v1/routes/0192f5e4-6c1a-7b3e-9d2a-5f4c3b2a1908"
        ))
        .header("x-request-id", "access-log-1")
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
    let until = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let found = gw.lines().into_iter().find_map(|l| {
            let v: Value = serde_json::from_str(&l).ok()?;
            (v["request_id"] == "access-log-1" && v["message"] == "request").then_some(v)
        });
        if let Some(v) = found {
            break v;
        }
        assert!(
            Instant::now() < until,
            "no access log line for the request: {:?}",
            gw.lines()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["route"], "/v1/routes/{id}", "{line}");
    assert_eq!(line["status"], 404, "{line}");
    assert!(line["duration_ms"].as_f64().is_some(), "{line}");
    assert_eq!(line["target"], "access", "{line}");
}

/// Logs written to a file or a pipe carry no colour codes (only a terminal gets them).
#[tokio::test]
async fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let prefix = Prefix::new("plain-log");
    let mut child = Command::new(bin("routeq-gateway"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            REDIS,
            "--key-prefix",
        ])
        .arg(&prefix.prefix)
        .args([
            "--records",
            "off",
            "--log-format",
            "text",
            "--log-level",
            "info",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("listening") {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&reader.join().expect("reader")).to_string();
    assert!(text.contains("listening"), "no start-up line: {text:?}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape codes in a log written to a pipe: {text:?}"
    );
}

/// The simulator reads its log filter from ROUTEQ_LOG (and --log-level) like every other binary.
#[tokio::test]
async fn the_simulator_reads_routeq_log_like_the_other_binaries() {
    let port = routeq_testkit::free_port();
    let out = |env: &[(&str, &str)]| {
        let mut child = Command::new(bin("routeq-sim"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("RUST_LOG")
            .env_remove("ROUTEQ_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn routeq-sim");
        routeq_testkit::proc::wait_port(port, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(200));
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    let quiet = out(&[("ROUTEQ_LOG", "warn")]);
    assert!(
        !quiet.contains("INFO"),
        "ROUTEQ_LOG=warn still logs info lines: {quiet}"
    );
    let default = out(&[]);
    assert!(
        default.contains("INFO"),
        "no info line by default: {default}"
    );
}

/// `routeq-worker -h` is a short, grouped overview; `--help` has every flag, in the same groups.
#[test]
fn worker_help_is_grouped_and_short_help_is_short() {
    let help = |flag: &str| {
        let out = Command::new(bin("routeq-worker"))
            .arg(flag)
            .output()
            .expect("routeq-worker --help");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let (short, long) = (help("-h"), help("--help"));
    for heading in [
        "Redis:",
        "Jobs:",
        "Providers:",
        "Resilience:",
        "Database:",
        "Logging:",
    ] {
        assert!(
            long.lines().any(|l| l.trim_end() == heading),
            "--help has no {heading:?} group:\n{long}"
        );
    }
    let lines = short.lines().count();
    assert!(lines <= 80, "-h is {lines} lines:\n{short}");
    assert!(
        short.contains("--help"),
        "-h says where the rest is:\n{short}"
    );
    assert!(long.contains("--breaker-failures") && !short.contains("--breaker-failures"));
}
