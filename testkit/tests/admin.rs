//! The operator's tools as processes: `routeq-admin` (stats, jobs, workers, pause/resume, dead
//! letters, keys), and the old spellings (`routeq-worker dead-letters`, `routeq-gateway keys`)
//! that keep working for one release. Real Redis, real binaries.

use std::process::{Command, Output};

use routeq_testkit::REDIS;
use routeq_testkit::proc::bin;
use routeq_testkit::redis::Prefix;
use serde_json::Value;

/// Runs a binary with exactly `args` and `env` (no ROUTEQ_* inherited from the test's own
/// environment) and returns its output.
fn run(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin(binary));
    for (k, _) in std::env::vars() {
        if k.starts_with("ROUTEQ_") && k != "ROUTEQ_BIN_DIR" {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).env("ROUTEQ_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the binary")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Parks a dead letter for `job` under `prefix`, as `lua/dead_letter.lua` writes one.
async fn park(prefix: &str, job: &str) {
    let client = redis::Client::open(REDIS).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    use routeq_shared::redis::record::f;
    let _: String = redis::cmd("XADD")
        .arg(format!("{prefix}:dead"))
        .arg("*")
        .arg(&[
            (f::ID, job),
            (f::TENANT, "default"),
            (f::REQUEST_ID, "r-1"),
            (f::REQUEST, "{}"),
            (f::ATTEMPTS, "3"),
            (f::REASON, "test"),
            (f::PARKED_AT, "1"),
            (f::PARKED_BY, "w-1"),
            (f::HISTORY, "[]"),
        ])
        .query_async(&mut conn)
        .await
        .expect("xadd");
}

// ---- the CLI traps of issue 18 (each failed on the code before the fix) ----

#[tokio::test]
async fn worker_dead_letters_runs_with_records_off_as_the_worker_accepts_it() {
    let p = Prefix::new("adm-rec");
    let out = run(
        "routeq-worker",
        &["dead-letters", "list"],
        &[
            ("ROUTEQ_RECORDS", "off"),
            ("ROUTEQ_REDIS_URL", REDIS),
            ("ROUTEQ_KEY_PREFIX", &p),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 dead letter(s)"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn worker_dead_letters_uses_the_redis_flags_given_before_the_command() {
    let p = Prefix::new("adm-pos");
    let job = uuid::Uuid::now_v7().to_string();
    park(&p, &job).await;
    // Flags before the subcommand: the fleet named there, not the default one.
    let out = run(
        "routeq-worker",
        &[
            "--redis-url",
            REDIS,
            "--key-prefix",
            &p,
            "dead-letters",
            "list",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&job),
        "{}",
        text(&out)
    );
    // A Redis that does not exist is an error, not the default Redis.
    let out = run(
        "routeq-worker",
        &[
            "--redis-url",
            "redis://127.0.0.1:1",
            "--key-prefix",
            &p,
            "dead-letters",
            "list",
        ],
        &[],
    );
    assert!(!out.status.success(), "{}", text(&out));
    // And after the subcommand, as before.
    let out = run(
        "routeq-worker",
        &["dead-letters", "--key-prefix", &p, "list"],
        &[("ROUTEQ_REDIS_URL", REDIS)],
    );
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&job),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("routeq-admin dead-letters"),
        "a deprecation notice on stderr: {}",
        text(&out)
    );
}

#[tokio::test]
async fn gateway_keys_takes_the_redis_flags_before_and_after_the_command() {
    let p = Prefix::new("adm-keys");
    for args in [
        vec![
            "--redis-url",
            REDIS,
            "--key-prefix",
            &p,
            "keys",
            "create",
            "--tenant",
            "t-before",
        ],
        vec![
            "keys",
            "--redis-url",
            REDIS,
            "--key-prefix",
            &p,
            "create",
            "--tenant",
            "t-middle",
        ],
        vec![
            "keys",
            "create",
            "--tenant",
            "t-after",
            "--redis-url",
            REDIS,
            "--key-prefix",
            &p,
        ],
    ] {
        let out = run("routeq-gateway", &args, &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let out = run(
        "routeq-gateway",
        &["keys", "list", "--key-prefix", &p],
        &[("ROUTEQ_REDIS_URL", REDIS)],
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    for t in ["t-before", "t-middle", "t-after"] {
        assert!(listed.contains(t), "{}", text(&out));
    }
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("routeq-admin keys"),
        "a deprecation notice on stderr: {}",
        text(&out)
    );
    let rows: Vec<Value> = listed
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(rows.len(), 3, "{listed}");
}

// ---- routeq-admin ----

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_sim::SimArgs;
use routeq_testkit::{Fleet, trip};

/// `routeq-admin <args>` against the fleet's Redis and prefix; (success, stdout).
fn admin(fleet: &Fleet, args: &[&str]) -> (bool, String) {
    let out = run(
        "routeq-admin",
        args,
        &[
            ("ROUTEQ_REDIS_URL", &fleet.redis_url),
            ("ROUTEQ_KEY_PREFIX", &fleet.prefix),
        ],
    );
    if !out.stderr.is_empty() {
        eprintln!(
            "routeq-admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

async fn state(fleet: &Fleet, id: &str) -> String {
    fleet
        .job_field(id, routeq_shared::redis::record::f::STATE)
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn pause_stops_worker_processes_taking_jobs_while_submits_still_queue() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    let _w1 = fleet.worker_process("pause-1", &[]);
    let _w2 = fleet.worker_process("pause-2", &[]);
    let first = fleet.submit(&trip(1)).await;
    let (status, _) = fleet.finished(&first, Duration::from_secs(15)).await;
    assert_eq!(status, StatusCode::OK);

    let (ok, out) = admin(&fleet, &["pause", "--reason", "maintenance"]);
    assert!(ok && out.contains("paused since"), "{out}");
    // A pause takes effect within the watch interval plus one blocked read.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let ids = fleet
        .submit_all(&(2..7).map(trip).collect::<Vec<_>>())
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in &ids {
        assert_eq!(
            state(&fleet, id).await,
            "queued",
            "{id} was taken while paused"
        );
    }
    let (ok, out) = admin(&fleet, &["stats", "--json"]);
    assert!(ok, "{out}");
    let s = json(&out);
    assert_eq!(s["backlog"], 5, "{s}");
    assert_eq!(s["queued"], 5, "{s}");
    assert_eq!(s["paused"]["reason"], "maintenance", "{s}");
    let names: Vec<&str> = s["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter(|w| w["alive"] == true)
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert_eq!(names, ["pause-1", "pause-2"], "{s}");

    let (ok, out) = admin(&fleet, &["resume"]);
    assert!(ok && out.contains("resumed"), "{out}");
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(15)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let (_, out) = admin(&fleet, &["resume"]);
    assert!(out.contains("not paused"), "{out}");
}

#[tokio::test]
async fn admin_shows_any_job_workers_dead_letters_and_keys() {
    let fleet = Fleet::start(SimArgs::instant()).await;
    let _w = fleet.worker_process("show-1", &[]);
    let id = fleet.submit(&trip(3)).await;
    let (status, _) = fleet.finished(&id, Duration::from_secs(15)).await;
    assert_eq!(status, StatusCode::OK);

    let (ok, out) = admin(&fleet, &["jobs", "show", &id, "--json"]);
    assert!(ok, "{out}");
    let j = json(&out);
    assert_eq!(
        (j["id"].as_str(), j["state"].as_str()),
        (Some(id.as_str()), Some("succeeded")),
        "{j}"
    );
    assert_eq!(j["worker"], "show-1", "{j}");
    assert_eq!(j["history"][0]["w"], "show-1", "{j}");
    let (ok, out) = admin(&fleet, &["jobs", "show", &id]);
    assert!(ok && out.contains("delivery 1 by show-1"), "{out}");
    let rid = j["request_id"].as_str().expect("request id").to_string();
    let (ok, out) = admin(&fleet, &["jobs", "find", "--request-id", &rid, "--json"]);
    assert!(
        ok && json(out.lines().next().unwrap_or(""))["id"] == id.as_str(),
        "{out}"
    );
    let (ok, _) = admin(
        &fleet,
        &["jobs", "show", "01a21000-0000-7000-8000-000000000000"],
    );
    assert!(!ok, "an unknown job is an error");

    let (ok, out) = admin(&fleet, &["workers", "--json"]);
    assert!(ok, "{out}");
    assert_eq!(json(&out)["workers"][0]["name"], "show-1", "{out}");

    // Dead letters: a parked job is listed, shown and purged; the flags work in any position.
    let job = uuid::Uuid::now_v7().to_string();
    park(&fleet.prefix, &job).await;
    let (ok, out) = admin(&fleet, &["dead-letters", "list", "--json"]);
    assert!(ok && out.contains(&job), "{out}");
    let (ok, out) = admin(&fleet, &["dead-letters", "show", &job]);
    assert!(ok && json(&out)["reason"] == "test", "{out}");
    let (ok, out) = admin(&fleet, &["dead-letters", "purge", &job]);
    assert!(ok && out.contains(&format!("purged {job}")), "{out}");

    let (ok, out) = admin(
        &fleet,
        &["keys", "create", "--tenant", "t-adm", "--rate", "5"],
    );
    assert!(ok, "{out}");
    let key_id = out
        .split_whitespace()
        .nth(2)
        .expect("created key <id>")
        .to_string();
    let (ok, out) = admin(&fleet, &["keys", "list", "--json"]);
    assert!(
        ok && out.contains("t-adm") && out.contains(&key_id),
        "{out}"
    );
    let (ok, out) = admin(&fleet, &["keys", "revoke", &key_id]);
    assert!(ok, "{out}");
    let (_, out) = admin(&fleet, &["keys", "list"]);
    assert!(!out.contains("t-adm"), "{out}");
}

/// Every `routeq_breaker_state{provider="…"}` series of an exposition text: provider → state.
fn breaker_states(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("routeq_breaker_state{provider=\""))
        .filter_map(|rest| {
            let (provider, v) = rest.split_once("\"} ")?;
            let state = match v.trim().parse::<f64>().ok()? as u8 {
                1 => "open",
                2 => "half_open",
                _ => "closed",
            };
            Some((provider.to_string(), state.to_string()))
        })
        .collect();
    out.sort();
    out
}

fn between(v: f64, a: f64, b: f64) -> bool {
    let eps = 1e-9 + 1e-6 * a.abs().max(b.abs());
    v >= a.min(b) - eps && v <= a.max(b) + eps
}

#[tokio::test]
async fn admin_stats_json_reports_the_backlog_rates_and_breakers_of_metrics() {
    use routeq_sim::{FaultPatch, Provider};
    use routeq_testkit::gateway::GatewayProcess;
    use routeq_testkit::http::{series_value, text as get_text, wait_healthy};
    let prefix = Prefix::new("adm-stats");
    let sim = routeq_testkit::sim::start(SimArgs::instant()).await;
    sim.control()
        .set_faults(
            Provider::Osrm,
            FaultPatch {
                down: Some(true),
                ..FaultPatch::default()
            },
        )
        .expect("down");
    // A gateway process of its own: /metrics is this fleet's alone.
    let gw = GatewayProcess::start(&[
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        REDIS,
        "--key-prefix",
        &prefix,
        "--records",
        "off",
        "--sample-interval-ms",
        "200",
    ]);
    let base = format!("http://{}", gw.addr().await);
    let port = routeq_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let _w = routeq_testkit::worker::process(
        REDIS,
        &prefix,
        &sim.base_url(),
        &[
            "--consumer",
            "stats-1",
            "--metrics-listen",
            &listen,
            "--breaker-failures",
            "2",
            "--breaker-open-ms",
            "60000",
            "--retry-attempts",
            "2",
            "--retry-base-ms",
            "10",
            "--retry-max-ms",
            "20",
        ],
        None,
    );
    wait_healthy(port).await;
    let http = reqwest::Client::new();
    // Jobs that end on the estimate while the provider is down: the breaker opens.
    for i in 0..3 {
        let id = routeq_testkit::http::submit(&http, &base, &trip(i)).await;
        routeq_testkit::http::finished(&http, &base, &id, Duration::from_secs(15)).await;
    }
    let until = Instant::now() + Duration::from_secs(10);
    while !breaker_states(&get_text(&format!("http://{listen}/metrics")).await)
        .iter()
        .any(|(_, s)| s == "open")
    {
        assert!(Instant::now() < until, "the breaker did not open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Paused with a backlog: the numbers hold still long enough to compare.
    let prefix_s = prefix.to_string();
    let env = [
        ("ROUTEQ_REDIS_URL", REDIS),
        ("ROUTEQ_KEY_PREFIX", prefix_s.as_str()),
    ];
    assert!(run("routeq-admin", &["pause"], &env).status.success());
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    for i in 10..16 {
        routeq_testkit::http::submit(&http, &base, &trip(i)).await;
    }
    let metrics_url = format!("{base}/metrics");
    let metrics = || get_text(&metrics_url);
    let until = Instant::now() + Duration::from_secs(10);
    while series_value(&metrics().await, "routeq_queue_length") != 6.0 {
        assert!(
            Instant::now() < until,
            "the gateway never sampled the backlog"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Breaker states are published every second: let one publication pass.
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    let before = metrics().await;
    let worker = get_text(&format!("http://{listen}/metrics")).await;
    let out = run("routeq-admin", &["stats", "--json"], &env);
    let after = metrics().await;
    assert!(out.status.success(), "{}", text(&out));
    let s: Value = serde_json::from_slice(&out.stdout).expect("stats --json is JSON");

    assert_eq!(s["rates_from"], "gateway", "{s}");
    assert_eq!(s["backlog"], 6, "{s}");
    assert_eq!(series_value(&before, "routeq_queue_length"), 6.0);
    assert_eq!(series_value(&after, "routeq_queue_length"), 6.0);
    for (field, series) in [
        ("completion_per_s", "routeq_queue_completion_rate"),
        ("arrival_per_s", "routeq_queue_arrival_rate"),
        ("predicted_wait_s", "routeq_queue_predicted_wait_seconds"),
        ("oldest_age_s", "routeq_queue_oldest_age_seconds"),
    ] {
        let v = s[field].as_f64().expect(field);
        let (a, b) = (series_value(&before, series), series_value(&after, series));
        // The oldest job ages between the reads; the rates are the gateway's own numbers.
        let slack = if field == "oldest_age_s" { 1.0 } else { 0.0 };
        assert!(
            between(v, a - slack, b + slack),
            "{field} = {v}, /metrics {series} = {a} then {b}"
        );
    }
    assert!(s["completion_per_s"].as_f64().expect("rate") > 0.0, "{s}");
    let from_admin: Vec<(String, String)> = s["breakers"]
        .as_array()
        .expect("breakers")
        .iter()
        .filter(|b| b["worker"] == "stats-1")
        .map(|b| {
            (
                b["provider"].as_str().unwrap_or("").to_string(),
                b["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let from_metrics = breaker_states(&worker);
    assert!(
        from_metrics.iter().any(|(_, s)| s == "open"),
        "{from_metrics:?}"
    );
    // A breaker that never changed state has no series yet: closed.
    for (provider, state) in &from_admin {
        match from_metrics.iter().find(|(p, _)| p == provider) {
            Some((_, m)) => assert_eq!(state, m, "{provider}: {s}"),
            None => assert_eq!(state, "closed", "{provider}: {s}"),
        }
    }
    for (provider, _) in &from_metrics {
        assert!(
            from_admin.iter().any(|(p, _)| p == provider),
            "{provider} missing: {s}"
        );
    }
    let open: Vec<&Value> = s["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .filter(|p| p["breaker"] == "open")
        .collect();
    assert_eq!(open.len(), 1, "{s}");
}
