//! Secrets never leak. Recognisable canaries are planted as the provider API key, the Redis and
//! PostgreSQL passwords and the bearer tokens; the fleet (gateway and worker as real processes with
//! JSON debug logs, the simulator checking the Kakao key) is driven through its error paths — bad
//! input, a provider outage, a forced panic, Redis going down — and no canary may appear in any log
//! line, metric or response.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use routeq_testkit::proc::{Proc, bin, free_port};
use routeq_testkit::sim::{FaultPatch, FaultTarget, SimArgs, Simulator};
use serde_json::json;

const REDIS_PW: &str = "CANARYredisPW7f3a";
const PG_PW: &str = "CANARYpgPW9b1c";
const KAKAO_KEY: &str = "CANARYkakaoKEY4d2e";
const BAD_TOKEN: &str = "CANARYbadTOKEN8e5f";

/// A process whose stdout and stderr go to a log file, read back when it stops.
struct Logged {
    proc: Proc,
    log: PathBuf,
}

impl Logged {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Logged {
        let file = std::fs::File::create(&log).expect("log file");
        let err = file.try_clone().expect("clone");
        let proc = Proc::spawn(cmd.stdout(file).stderr(err));
        Logged { proc, log }
    }

    /// SIGTERM, up to 10 s to exit, then SIGKILL; returns what the process logged.
    fn stop(&mut self) -> String {
        self.proc.terminate();
        let until = Instant::now() + Duration::from_secs(10);
        while self.proc.is_running() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.proc.kill();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn wait_http(url: &str) {
    routeq_testkit::http::wait_ok(url, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_a_metric_or_a_response() {
    let dir = std::env::temp_dir().join(format!("routeq-canary-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("tmp dir");

    // A private Redis that requires a password.
    let redis_port = free_port();
    let mut redis = Logged::spawn(
        Command::new("redis-server").args([
            "--port",
            &redis_port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            REDIS_PW,
        ]),
        dir.join("redis.log"),
    );
    let until = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
        assert!(Instant::now() < until, "private redis did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let redis_url = format!("redis://:{REDIS_PW}@127.0.0.1:{redis_port}");
    // PostgreSQL with a password in its URL (trust auth ignores it; the URL still carries it).
    let db_name = format!(
        "routeq_canary_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("postgres");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db_name}")))
        .execute(&admin)
        .await
        .expect("create db");
    let db_url = format!("postgres://postgres:{PG_PW}@127.0.0.1:5432/{db_name}");

    // The simulator accepts only the canary Kakao key.
    let sim = Simulator::bind(SimArgs {
        kakao_key: Some(KAKAO_KEY.into()),
        ..SimArgs::instant()
    })
    .await
    .expect("sim")
    .spawn();
    let prefix = "{canary}";

    // An API key for the gateway (itself a canary: it must never be logged).
    let out = Command::new(bin("routeq-gateway"))
        .args([
            "--redis-url",
            &redis_url,
            "--key-prefix",
            prefix,
            "keys",
            "create",
            "--tenant",
            "canary",
        ])
        .output()
        .expect("keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bearer = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(bearer.starts_with("rq_"), "{bearer}");

    let (gw_port, admin_port, worker_port) = (free_port(), free_port(), free_port());
    let mut gateway = Logged::spawn(
        Command::new(bin("routeq-gateway")).args([
            "--listen",
            &format!("127.0.0.1:{gw_port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin_port}"),
            "--redis-url",
            &redis_url,
            "--key-prefix",
            prefix,
            "--database-url",
            &db_url,
            "--auth",
            "keys",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "--debug-panic-route",
            "true",
        ]),
        dir.join("gateway.log"),
    );
    let mut worker = Logged::spawn(
        Command::new(bin("routeq-worker")).args([
            "--redis-url",
            &redis_url,
            "--key-prefix",
            prefix,
            "--database-url",
            &db_url,
            "--migrate",
            "true",
            "--provider",
            "simulator-kakao",
            "--kakao-api-key",
            KAKAO_KEY,
            "--geocoder-url",
            &sim.base_url(),
            "--router-url",
            &sim.base_url(),
            "--metrics-listen",
            &format!("127.0.0.1:{worker_port}"),
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "--call-timeout-ms",
            "300",
            "--job-budget-ms",
            "1000",
            "--reclaim-idle-ms",
            "5000",
        ]),
        dir.join("worker.log"),
    );
    wait_http(&format!("http://127.0.0.1:{admin_port}/readyz")).await;
    wait_http(&format!("http://127.0.0.1:{worker_port}/healthz")).await;

    let http = reqwest::Client::new();
    let api = |p: &str| format!("http://127.0.0.1:{gw_port}{p}");
    let mut seen = String::new();
    let record = |res: reqwest::Response| async move {
        let mut text = format!("{:?}\n", res.headers());
        text.push_str(&res.text().await.unwrap_or_default());
        text
    };
    let good = json!({"origin": {"address": "Gangnam Station"}, "destination": {"lat": 37.5547, "lon": 126.9707}});

    // A route through the Kakao protocol, with the key the simulator checks.
    let res = http
        .post(api("/v1/routes"))
        .bearer_auth(&bearer)
        .header("prefer", "wait=10")
        .json(&good)
        .send()
        .await
        .expect("post");
    assert_eq!(
        res.status(),
        200,
        "the worker's Kakao key must reach the simulator"
    );
    seen.push_str(&record(res).await);
    // Bad input, bad tokens, too large.
    for (auth, body) in [
        (bearer.clone(), "{nope".to_string()),
        (
            bearer.clone(),
            json!({"origin": {"lat": 91, "lon": 0}}).to_string(),
        ),
        (BAD_TOKEN.to_string(), good.to_string()),
        (bearer.clone(), "x".repeat(40_000)),
    ] {
        let res = http
            .post(api("/v1/routes"))
            .bearer_auth(&auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        assert!(res.status().is_client_error());
        seen.push_str(&record(res).await);
    }
    // The provider goes down: the job still ends with an answer.
    sim.control()
        .set_faults(
            FaultTarget::All,
            FaultPatch {
                down: Some(true),
                ..FaultPatch::default()
            },
        )
        .expect("fault");
    let res = http.post(api("/v1/routes")).bearer_auth(&bearer).header("prefer", "wait=10").json(&json!({"origin": {"lat": 37.5, "lon": 127.0}, "destination": {"lat": 37.6, "lon": 127.1}})).send().await.expect("post");
    assert!(res.status().is_server_error(), "{}", res.status());
    seen.push_str(&record(res).await);
    // A forced panic is contained.
    let res = http
        .get(api("/_debug/panic"))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("panic");
    assert_eq!(res.status(), 500);
    seen.push_str(&record(res).await);
    // Metrics of both processes, and the API description.
    for url in [
        format!("http://127.0.0.1:{admin_port}/metrics"),
        format!("http://127.0.0.1:{worker_port}/metrics"),
        api("/openapi.json"),
    ] {
        seen.push_str(&record(http.get(url).send().await.expect("scrape")).await);
    }
    // Redis goes down: the gateway answers 503, the worker logs its retries.
    redis.stop();
    let res = http
        .post(api("/v1/routes"))
        .bearer_auth(&bearer)
        .json(&good)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 503);
    seen.push_str(&record(res).await);
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let gateway_log = gateway.stop();
    let worker_log = worker.stop();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
    let _ = std::fs::remove_dir_all(&dir);

    // The logs are real: JSON lines with request and job ids, errors included.
    assert!(
        gateway_log.lines().count() > 5 && gateway_log.contains("\"request_id\""),
        "gateway log:\n{gateway_log}"
    );
    assert!(
        worker_log.contains("\"job_id\""),
        "worker log:\n{worker_log}"
    );
    assert!(
        gateway_log.contains("panicked") || gateway_log.contains("panic"),
        "the panic was logged"
    );
    for canary in [REDIS_PW, PG_PW, KAKAO_KEY, BAD_TOKEN, bearer.as_str()] {
        assert!(!gateway_log.contains(canary), "gateway log leaks {canary}");
        assert!(!worker_log.contains(canary), "worker log leaks {canary}");
        assert!(
            !seen.contains(canary),
            "a response or metric leaks {canary}"
        );
    }
}
