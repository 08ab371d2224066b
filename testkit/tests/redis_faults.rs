//! Redis failing under a running fleet, each on a private `redis-server`: it restarts empty, it
//! hangs (SIGSTOP), its subscriptions die loudly (CLIENT KILL) or silently (a proxy that stops
//! forwarding), and a worker dies holding jobs — with the shipped defaults.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_shared::redis::record::f;
use routeq_testkit::proxy::TcpProxy;
use routeq_testkit::sim::{SimArgs, latency};
use routeq_testkit::{Fleet, PrivateRedis, TestDb, trip};
use serde_json::Value;

/// POSTs `body` with `key` until it is accepted; returns the job id and every 503 it got.
async fn submit_keyed(
    http: &reqwest::Client,
    base: &str,
    body: &Value,
    key: &str,
    until: Instant,
) -> (Option<String>, Vec<(Duration, Value)>) {
    let mut refused = Vec::new();
    while Instant::now() < until {
        let t0 = Instant::now();
        let res = http
            .post(format!("{base}/v1/routes"))
            .header("idempotency-key", key)
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let took = t0.elapsed();
        match res {
            Ok(res) => {
                let status = res.status();
                let v: Value = res.json().await.unwrap_or(Value::Null);
                if status == StatusCode::ACCEPTED || status == StatusCode::OK {
                    return (v["id"].as_str().map(str::to_string), refused);
                }
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
                refused.push((took, v));
            }
            Err(e) => panic!("the gateway did not answer: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (None, refused)
}

/// Today's main never recovered from this: the recorder created its group once, so after Redis
/// restarted empty its reads failed with NOGROUP forever and PostgreSQL stopped receiving rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_restarts_empty_new_jobs_complete_and_reach_postgres() {
    let mut redis = PrivateRedis::start();
    let db = TestDb::create().await;
    let pool = db.pool().await;
    routeq_shared::db::migrate(&pool).await.expect("migrate");
    let fleet = Fleet::start_on(&redis.url(), "{restart-pg}", 1, SimArgs::instant(), |_| {}).await;
    // A worker process running its recorder (ROUTEQ_BIN_DIR runs another revision's).
    let _worker = fleet.worker_process(
        "recording",
        &["--database-url", &db.url(), "--block-ms", "200"],
    );
    let first = fleet.submit(&trip(1)).await;
    let (status, _) = fleet.finished(&first, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::OK);
    wait_row(&pool, &first, Duration::from_secs(10)).await;

    redis.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart();

    // The gateway reconnects by itself; submit as a client would, retrying a 503.
    let until = Instant::now() + Duration::from_secs(20);
    let (second, _) = submit_keyed(
        &fleet.http,
        &fleet.gateway.base(),
        &trip(2),
        "after-restart",
        until,
    )
    .await;
    let second = second.expect("accepted after the restart");
    let (status, v) = fleet.finished(&second, Duration::from_secs(15)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    wait_row(&pool, &second, Duration::from_secs(15)).await;
}

async fn wait_row(pool: &sqlx::PgPool, id: &str, within: Duration) {
    let until = Instant::now() + within;
    let uuid: uuid::Uuid = id.parse().expect("uuid");
    loop {
        let state: Option<(String,)> =
            sqlx::query_as("SELECT state FROM jobs WHERE id = $1 AND finished_at IS NOT NULL")
                .bind(uuid)
                .fetch_optional(pool)
                .await
                .expect("query");
        if state.is_some() {
            return;
        }
        assert!(Instant::now() < until, "job {id} never reached PostgreSQL");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Redis hangs (SIGSTOP) for 5 s under load, with the shipped gateway defaults. Every answer
/// during the stall is a 503 within about 100 ms; clients that retry with their key hold one job
/// each; and no job waits for the reclaim timer (set longer than the deadline here): every job
/// accepted before or during the stall ends by its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_answers_503_fast_and_every_accepted_job_still_ends_in_time() {
    let redis = PrivateRedis::start();
    let fleet = Fleet::start_on(&redis.url(), "{hung}", 1, latency(20, 40), |_| {}).await;
    fleet
        .worker_in_process(|c| {
            c.concurrency = 32;
            c.reclaim_idle_ms = 40_000;
        })
        .await;
    let base = fleet.gateway.base();
    let stall_done = Arc::new(AtomicBool::new(false));
    let clients: u32 = 12;
    let deadline = Instant::now() + Duration::from_secs(14);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (http, base, stall_done) = (fleet.http.clone(), base.clone(), stall_done.clone());
            tokio::spawn(async move {
                let mut jobs = Vec::new();
                let mut refused = Vec::new();
                let mut i = 0u32;
                while Instant::now() < deadline && !(stall_done.load(Ordering::Relaxed) && i > 40) {
                    let key = format!("hung-{c}-{i}");
                    let body = trip(i * clients + c);
                    let (id, r) = submit_keyed(&http, &base, &body, &key, deadline).await;
                    refused.extend(r);
                    if let Some(id) = id {
                        jobs.push((key, id));
                    }
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                (jobs, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_secs(5)).await;
    redis.resume();
    stall_done.store(true, Ordering::Relaxed);
    let resumed = Instant::now();

    let mut jobs = Vec::new();
    let mut refused = Vec::new();
    for t in tasks {
        let (j, r) = t.await.expect("client");
        jobs.extend(j);
        refused.extend(r);
    }
    assert!(
        !refused.is_empty(),
        "no request met the stall: the test proved nothing"
    );
    let slowest = refused.iter().map(|(d, _)| *d).max().unwrap_or_default();
    let unconfirmed = refused
        .iter()
        .filter(|(_, v)| v["code"] == "SUBMIT_UNCONFIRMED")
        .count();
    eprintln!(
        "stall: {} refusals ({unconfirmed} unconfirmed), slowest {slowest:?}; {} jobs accepted",
        refused.len(),
        jobs.len()
    );
    assert!(
        slowest < Duration::from_millis(450),
        "a 503 took {slowest:?} during the stall"
    );
    for (_, v) in &refused {
        assert!(
            v["code"] == "SUBMIT_UNCONFIRMED" || v["code"] == "QUEUE_UNAVAILABLE",
            "{v}"
        );
    }

    // Every key holds exactly one job: count the job records by their key.
    let mut conn = fleet.redis().await;
    let mut by_key: HashMap<String, u32> = HashMap::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("{hung}:job:*")
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await
            .expect("scan");
        for k in keys {
            let key: Option<String> = redis::AsyncCommands::hget(&mut conn, &k, f::IDEMPOTENCY_KEY)
                .await
                .expect("hget");
            *by_key.entry(key.unwrap_or_default()).or_default() += 1;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for (key, id) in &jobs {
        assert_eq!(
            by_key.get(key),
            Some(&1),
            "key {key} holds {:?} jobs (accepted as {id})",
            by_key.get(key)
        );
    }

    // Every accepted job ends, long before the reclaim timer could have helped.
    for (_, id) in &jobs {
        let (status, v) = fleet.finished(id, Duration::from_secs(25)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    eprintln!(
        "every accepted job ended {:?} after Redis resumed",
        resumed.elapsed()
    );
}

/// The completion subscription is killed by the server, then silently stalled by a proxy that
/// stops forwarding only its bytes: waiting clients still get their results, and /readyz says
/// 503 while the subscription is dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_survive_a_killed_and_a_silently_dead_subscription() {
    let redis = PrivateRedis::start();
    let addr = format!("127.0.0.1:{}", redis.port).parse().expect("addr");
    let proxy = TcpProxy::start(addr).await;
    let url = format!("redis://127.0.0.1:{}", proxy.port());
    let fleet = Fleet::start_on(&url, "{deadsub}", 1, latency(300, 400), |c| {
        c.subscription_heartbeat_ms = 300;
    })
    .await;
    fleet.worker_in_process(|_| {}).await;
    let wait = |i: u32| {
        let (http, base) = (fleet.http.clone(), fleet.gateway.base());
        async move {
            let res = http
                .post(format!("{base}/v1/routes"))
                .header("prefer", "wait=8")
                .json(&trip(i))
                .send()
                .await
                .expect("post");
            (res.status(), res.json::<Value>().await.expect("json"))
        }
    };

    // Killed by the server: the gateway notices at once and subscribes again.
    let waiting = tokio::spawn(wait(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut direct = routeq_testkit::redis::connect(&redis.url()).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut direct)
        .await
        .expect("client kill");
    assert!(killed >= 1, "no subscription to kill");
    let (status, v) = waiting.await.expect("waiter");
    assert_eq!(status, StatusCode::OK, "{v}");

    // Silently dead: only the subscription's bytes stop; commands still flow.
    assert!(fleet.gateway.wait_ready(Duration::from_secs(5)).await);
    let port = subscriber_port(&mut direct).await;
    assert!(
        proxy.stall_upstream(port),
        "the subscription is not proxied"
    );
    let started = Instant::now();
    let (status, v) = wait(2).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a waiter did not get its result: {v}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The heartbeat found it dead: readiness said so until the new subscription was live.
    let until = Instant::now() + Duration::from_secs(5);
    let mut said_not_ready = false;
    loop {
        let r = fleet
            .http
            .get(fleet.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            said_not_ready = true;
        }
        if r.status() == StatusCode::OK
            && (said_not_ready || subscriber_port(&mut direct).await != port)
        {
            break;
        }
        assert!(Instant::now() < until, "the gateway never subscribed again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(
        subscriber_port(&mut direct).await,
        port,
        "the stalled subscription was kept"
    );
    let (status, v) = wait(3).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    proxy.restore_all();
}

/// The port Redis sees for the (one) pub/sub client.
async fn subscriber_port(conn: &mut redis::aio::MultiplexedConnection) -> u16 {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(conn)
            .await
            .expect("client list");
        if let Some(port) = list
            .lines()
            .find_map(|l| l.split(' ').find_map(|kv| kv.strip_prefix("addr=")))
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
        {
            return port;
        }
        assert!(Instant::now() < until, "no pub/sub client");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// With the shipped defaults (30 s deadline, 5 s reclaim), a worker killed with jobs in hand:
/// each of them completes on another worker before its deadline. Today's main (reclaim 30 s =
/// the default deadline) ended every one of them JOB_EXPIRED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_jobs_finish_elsewhere_before_their_deadline_with_the_defaults() {
    let fleet = Fleet::start(latency(1_500, 2_000)).await;
    let mut victim = fleet.worker_process("victim-defaults", &[]);
    routeq_testkit::http::wait_ok(&fleet.url("/readyz"), Duration::from_secs(5)).await;
    let ids = fleet
        .submit_all(&(0..12).map(trip).collect::<Vec<_>>())
        .await;
    // Until the victim holds jobs, then SIGKILL.
    let until = Instant::now() + Duration::from_secs(10);
    while fleet.pending_entries().await == 0 {
        assert!(Instant::now() < until, "the victim took no job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    victim.kill();
    let _survivor = fleet.worker_process("survivor-defaults", &[]);
    let mut retried = 0;
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(40)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        if v["attempts"].as_u64().unwrap_or(0) > 1 {
            retried += 1;
        }
        let finished =
            chrono::DateTime::parse_from_rfc3339(v["finished_at"].as_str().unwrap_or_default())
                .expect("finished_at");
        let deadline =
            chrono::DateTime::parse_from_rfc3339(v["deadline_at"].as_str().unwrap_or_default())
                .expect("deadline_at");
        assert!(finished < deadline, "{id} finished after its deadline: {v}");
    }
    assert!(
        retried > 0,
        "the victim held no job: the test proved nothing"
    );
}

/// A worker whose job reader makes no progress (here: its reads hang on a Redis that stopped
/// answering, for longer than `--reader-stale-ms`) fails `/healthz` with 503, so a liveness probe
/// restarts it; once the reader moves again `/healthz` is 200 again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_reader_is_stuck_fails_its_healthz_and_recovers() {
    let redis = PrivateRedis::start();
    let addr = format!("127.0.0.1:{}", redis.port).parse().expect("addr");
    let proxy = TcpProxy::start(addr).await;
    let url = format!("redis://127.0.0.1:{}", proxy.port());
    let port = routeq_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let _worker = routeq_testkit::worker::process(
        &url,
        "{stuck}",
        "http://127.0.0.1:9",
        &[
            "--metrics-listen",
            &listen,
            "--block-ms",
            "200",
            "--reader-stale-ms",
            "600",
        ],
        None,
    );
    let healthz = format!("http://{listen}/healthz");
    routeq_testkit::http::wait_ok(&healthz, Duration::from_secs(10)).await;
    let http = reqwest::Client::new();
    let status = |http: reqwest::Client, url: String| async move {
        match http.get(&url).send().await {
            Ok(r) => (r.status(), r.text().await.unwrap_or_default()),
            Err(e) => panic!("healthz unreachable: {e}"),
        }
    };
    // Healthy and idle: reads block and return empty, well within the limit.
    for _ in 0..8 {
        let (s, body) = status(http.clone(), healthz.clone()).await;
        assert_eq!(s, StatusCode::OK, "an idle worker is healthy: {body}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    proxy.stall();
    let until = Instant::now() + Duration::from_secs(8);
    let body = loop {
        let (s, body) = status(http.clone(), healthz.clone()).await;
        if s == StatusCode::SERVICE_UNAVAILABLE {
            break body;
        }
        assert!(
            Instant::now() < until,
            "healthz stayed {s} while the reader hung: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], "reader_stuck", "{v}");
    assert!(v["stale_ms"].as_u64().unwrap_or_default() >= 600, "{v}");
    proxy.restore();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, body) = status(http.clone(), healthz.clone()).await;
        if s == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < until, "healthz never recovered: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
