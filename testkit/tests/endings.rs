//! Every accepted job ends by its deadline plus a bounded grace, whoever is (not) there to end
//! it: no worker at all, a worker killed while it ran the job, a dead-lettered job, a stream
//! entry Redis lost. The sweeper (gateway, `lua/sweep.lua`) ends such jobs through the one
//! terminal write, so a job still ends exactly once, and its durable record follows.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_shared::redis::record::f;
use routeq_sim::{FaultPatch, Provider, SimArgs};
use routeq_testkit::proc::{Proc, bin};
use routeq_testkit::{Fleet, TestDb, trip};
use serde_json::{Value, json};

/// The grace the tests' gateways give a job past its deadline.
const GRACE_MS: u64 = 1_000;

/// A fleet whose gateway sweeps every 100 ms with a 1 s grace.
async fn sweeping_fleet(sim: SimArgs) -> Fleet {
    Fleet::start_with(sim, |cfg| {
        cfg.sweep_interval_ms = 100;
        cfg.sweep_grace_ms = GRACE_MS;
    })
    .await
}

/// Polls the job until it is no longer pending; fails if that takes past `by` (measured from
/// `since`).
async fn ended_by(fleet: &Fleet, id: &str, since: Instant, by: Duration) -> (StatusCode, Value) {
    loop {
        let (status, v) = fleet.get(id).await;
        if status != StatusCode::ACCEPTED {
            return (status, v);
        }
        assert!(
            since.elapsed() < by,
            "job {id} still pending {:?} after submit: {v}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stream_len(fleet: &Fleet) -> u64 {
    let mut conn = fleet.redis().await;
    redis::AsyncCommands::xlen(&mut conn, fleet.keys.jobs_stream())
        .await
        .expect("xlen")
}

/// Waits until a worker has started the job `n` times.
async fn started(fleet: &Fleet, id: &str, n: u64) {
    let until = Instant::now() + Duration::from_secs(15);
    while fleet
        .job_field(id, f::ATTEMPTS)
        .await
        .and_then(|a| a.parse::<u64>().ok())
        .is_none_or(|a| a < n)
    {
        assert!(Instant::now() < until, "the job was not started {n} times");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_no_worker_ever_reads_ends_expired_by_its_deadline_plus_grace() {
    let fleet = sweeping_fleet(SimArgs::instant()).await;
    let t0 = Instant::now();
    let mut body = trip(1);
    body["deadline_ms"] = json!(1_000);
    let id = fleet.submit(&body).await;
    let (status, v) = ended_by(
        &fleet,
        &id,
        t0,
        Duration::from_millis(1_000 + GRACE_MS + 1_500),
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["code"].as_str()),
        (Some("expired"), Some("JOB_EXPIRED"))
    );
    assert!(
        v["detail"].as_str().unwrap_or("").contains("never started"),
        "{v}"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(1_000),
        "ended before its deadline"
    );
    // Ended once, and its stream entry is gone (it no longer counts as backlog).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fleet.done_counts().get(&id).copied(), Some(1));
    assert_eq!(stream_len(&fleet).await, 0);
    let metrics = routeq_testkit::http::text(&fleet.gateway.admin_url("/metrics")).await;
    assert!(
        routeq_testkit::http::series_value(&metrics, "routeq_jobs_swept_total") >= 1.0,
        "{metrics}"
    );

    // A worker that comes later finds nothing to do and calls no provider.
    let _w = fleet.worker_in_process(|_| {}).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fleet.sim.control().stats().total, 0);
    assert_eq!(fleet.done_counts().get(&id).copied(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_only_worker_died_ends_saying_it_started() {
    let fleet = sweeping_fleet(SimArgs::instant()).await;
    fleet
        .sim
        .control()
        .set_faults(
            Provider::Osrm,
            FaultPatch {
                latency_min_ms: Some(10_000),
                latency_max_ms: Some(10_000),
                ..FaultPatch::default()
            },
        )
        .expect("hang");
    let t0 = Instant::now();
    let mut body = trip(2);
    body["deadline_ms"] = json!(2_000);
    let id = fleet.submit(&body).await;
    let mut w = fleet.worker_process("doomed", &["--block-ms", "100"]);
    started(&fleet, &id, 1).await;
    w.kill();
    let (status, v) = ended_by(
        &fleet,
        &id,
        t0,
        Duration::from_millis(2_000 + GRACE_MS + 1_500),
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["state"], "expired", "{v}");
    let detail = v["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("started") && !detail.contains("never started"),
        "{v}"
    );
    assert_eq!(v["attempts"], 1, "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fleet.done_counts().get(&id).copied(), Some(1));
    assert_eq!(fleet.pending_entries().await, 0);
    assert_eq!(stream_len(&fleet).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_job_and_a_job_whose_entry_was_lost_end_by_their_deadline() {
    let fleet = sweeping_fleet(SimArgs::instant()).await;
    let t0 = Instant::now();
    let mut body = trip(3);
    body["deadline_ms"] = json!(1_500);
    let parked = fleet.submit(&body).await;
    let mut body = trip(4);
    body["deadline_ms"] = json!(1_500);
    let lost = fleet.submit(&body).await;

    // Park the first as a worker would (read through the group, then the real dead_letter
    // script); delete the second's stream entry as a failover that lost it would.
    let mut conn = fleet.redis().await;
    let stream = fleet.keys.jobs_stream();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("tester")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .expect("xreadgroup");
    let entry = fleet.job_field(&parked, f::ENTRY).await.expect("entry");
    let letters = routeq_shared::redis::deadletters::DeadLetters::new(
        conn.clone(),
        fleet.keys.clone(),
        60_000,
        false,
    );
    let p = letters
        .park(
            &parked,
            &entry,
            "tester",
            "poisoned by the test",
            routeq_shared::job::now_ms(),
        )
        .await
        .expect("park");
    assert!(
        matches!(p, routeq_shared::redis::scripts::Parked::Parked { .. }),
        "{p:?}"
    );
    let lost_entry = fleet.job_field(&lost, f::ENTRY).await.expect("entry");
    let _: () = redis::pipe()
        .xack(&stream, "workers", &[&lost_entry])
        .xdel(&stream, &[&lost_entry])
        .query_async(&mut conn)
        .await
        .expect("lose the entry");

    for id in [&parked, &lost] {
        let (status, v) = ended_by(
            &fleet,
            id,
            t0,
            Duration::from_millis(1_500 + GRACE_MS + 1_500),
        )
        .await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
        assert_eq!(
            (v["state"].as_str(), v["code"].as_str()),
            (Some("expired"), Some("JOB_EXPIRED"))
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = fleet.done_counts();
    assert_eq!(
        (counts.get(&parked).copied(), counts.get(&lost).copied()),
        (Some(1), Some(1))
    );
    // The dead letter stays for the operator; purging it no longer ends the job a second time.
    let (ok, out) = fleet.cli(&["dead-letters", "purge", &parked]);
    assert!(ok, "{out}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fleet.done_counts().get(&parked).copied(), Some(1));
    let (_, v) = fleet.get(&parked).await;
    assert_eq!(v["state"], "expired", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_durable_record_of_a_swept_job_follows() {
    let db = TestDb::create().await;
    let fleet = Fleet::start_with(SimArgs::instant(), |cfg| {
        cfg.sweep_interval_ms = 100;
        cfg.sweep_grace_ms = GRACE_MS;
        cfg.records = routeq_shared::redis::outbox::RecordsMode::On;
    })
    .await;
    let mut recorder = Proc::spawn(
        Command::new(bin("routeq-recorder"))
            .args(["run", "--migrate", "true", "--block-ms", "100"])
            .env("ROUTEQ_DATABASE_URL", db.url())
            .env("ROUTEQ_REDIS_URL", &fleet.redis_url)
            .env("ROUTEQ_KEY_PREFIX", &fleet.prefix)
            .env("ROUTEQ_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    let mut body = trip(5);
    body["deadline_ms"] = json!(1_000);
    let id = fleet.submit(&body).await;
    let pool = db.pool().await;
    let until = Instant::now() + Duration::from_millis(1_000 + GRACE_MS + 5_000);
    loop {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT state, code FROM jobs WHERE id = $1::uuid")
                .bind(&id)
                .fetch_optional(&pool)
                .await
                .unwrap_or(None);
        if row.as_ref().is_some_and(|(s, _)| s == "expired") {
            assert_eq!(row.map(|r| r.1).as_deref(), Some("JOB_EXPIRED"));
            break;
        }
        assert!(Instant::now() < until, "the record still reads {row:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    recorder.terminate();
    let _ = recorder.wait_exit(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_racing_a_late_completion_leaves_exactly_one_terminal_state() {
    // The gateway's own sweeper stays out of the way (its first round runs before any job).
    let fleet = Fleet::start_with(SimArgs::instant(), |cfg| {
        cfg.sweep_interval_ms = 600_000;
        cfg.sweep_grace_ms = 0;
    })
    .await;
    let conn = fleet.redis().await;
    let store = routeq_shared::redis::JobStore::new(
        conn.clone(),
        fleet.keys.clone(),
        routeq_shared::redis::store::Retention {
            result_ttl_ms: 60_000,
            record: false,
        },
    );
    let mut ids = Vec::new();
    for i in 0..20 {
        let mut body = trip(100 + i);
        body["deadline_ms"] = json!(1_000);
        ids.push(fleet.submit(&body).await);
    }
    // A worker takes them all, then stalls past their deadlines.
    let mut c = conn.clone();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("slow")
        .arg("COUNT")
        .arg(100)
        .arg("STREAMS")
        .arg(fleet.keys.jobs_stream())
        .arg(">")
        .query_async(&mut c)
        .await
        .expect("xreadgroup");
    let mut entries = Vec::new();
    for id in &ids {
        entries.push(fleet.job_field(id, f::ENTRY).await.expect("entry"));
    }
    let tenant = fleet.job_field(&ids[0], f::TENANT).await.expect("tenant");
    let delivered: Vec<_> = ids
        .iter()
        .zip(&entries)
        .map(|(id, e)| routeq_shared::redis::store::Delivered {
            tenant: &tenant,
            job_id: id,
            entry_id: e,
        })
        .collect();
    let started = store
        .start_batch(
            &fleet.keys,
            &delivered,
            "slow",
            routeq_shared::job::now_ms(),
        )
        .await
        .expect("start");
    assert!(
        started
            .iter()
            .all(|s| matches!(s, routeq_shared::redis::scripts::Started::Running(1))),
        "{started:?}"
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    // The late completions and the sweep run at the same time; each job ends once.
    let outcome =
        serde_json::to_string(&routeq_shared::job::Outcome::detail("late")).expect("json");
    let completions: Vec<_> = delivered
        .iter()
        .map(|d| routeq_shared::redis::store::Completion {
            job: *d,
            state: routeq_shared::job::JobState::Succeeded,
            code: routeq_shared::Code::RouteOk,
            outcome: &outcome,
        })
        .collect();
    let sweeper =
        routeq_shared::redis::sweep::Sweeper::new(store.clone(), 0, Duration::from_secs(1));
    let mut stored = 0;
    let mut swept = 0;
    for (i, c) in completions.iter().enumerate() {
        let keys = fleet.keys.clone();
        let (done, sweep) = if i % 2 == 0 {
            tokio::join!(
                store.complete_many(std::slice::from_ref(c), routeq_shared::job::now_ms()),
                sweeper.partition(&keys)
            )
        } else {
            let (s, d) = tokio::join!(
                sweeper.partition(&keys),
                store.complete_many(std::slice::from_ref(c), routeq_shared::job::now_ms())
            );
            (d, s)
        };
        if done.expect("complete")[0] == routeq_shared::redis::scripts::Completed::Stored {
            stored += 1;
        }
        swept += sweep.expect("sweep");
    }
    assert_eq!(
        stored + swept,
        ids.len() as u64,
        "stored {stored}, swept {swept}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = fleet.done_counts();
    for id in &ids {
        assert_eq!(counts.get(id).copied(), Some(1), "job {id}");
        let state = fleet.job_field(id, f::STATE).await;
        assert!(
            matches!(state.as_deref(), Some("succeeded" | "expired")),
            "{state:?}"
        );
    }
    assert_eq!(fleet.pending_entries().await, 0);
    eprintln!("race: {stored} completions stored, {swept} swept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reclaimed_after_its_deadline_says_it_started() {
    // The sweeper waits long: the reclaiming worker is the one that ends the job here.
    let fleet = Fleet::start_with(SimArgs::instant(), |cfg| {
        cfg.sweep_grace_ms = 60_000;
    })
    .await;
    fleet
        .sim
        .control()
        .set_faults(
            Provider::Osrm,
            FaultPatch {
                latency_min_ms: Some(10_000),
                latency_max_ms: Some(10_000),
                ..FaultPatch::default()
            },
        )
        .expect("hang");
    let mut body = trip(6);
    body["deadline_ms"] = json!(1_000);
    let id = fleet.submit(&body).await;
    let mut w = fleet.worker_process("first", &["--block-ms", "100", "--sweep-grace-ms", "60000"]);
    started(&fleet, &id, 1).await;
    w.kill();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let _second = fleet.worker_process(
        "second",
        &[
            "--block-ms",
            "100",
            "--reclaim-idle-ms",
            "3000",
            "--reclaim-interval-ms",
            "100",
            "--job-budget-ms",
            "1000",
            "--call-timeout-ms",
            "500",
            "--sweep-grace-ms",
            "60000",
        ],
    );
    let (status, v) = fleet.finished(&id, Duration::from_secs(15)).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["state"], "expired", "{v}");
    let detail = v["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("started")
            && !detail.contains("could start")
            && !detail.contains("never started"),
        "{v}"
    );
    assert!(
        fleet.sim.control().stats().total <= 1,
        "the reclaim must not call the provider again"
    );
    assert_eq!(fleet.done_counts().get(&id).copied(), Some(1));
}

/// A store on the fleet's Redis, as a gateway or worker process holds it.
async fn store_of(fleet: &Fleet) -> routeq_shared::redis::JobStore {
    routeq_shared::redis::JobStore::new(
        fleet.redis().await,
        fleet.keys.clone(),
        routeq_shared::redis::store::Retention {
            result_ttl_ms: 60_000,
            record: false,
        },
    )
}

/// Submits `request` through the real submit script as a gateway whose clock reads
/// `submitted_ms`, then starts it as a worker whose clock reads `worker_ms`.
async fn submit_and_start(
    store: &routeq_shared::redis::JobStore,
    request: &routeq_shared::job::RouteRequest,
    submitted_ms: u64,
    wait: Duration,
    worker_ms: impl FnOnce() -> u64,
) -> routeq_shared::redis::scripts::Started {
    let keys = store.keys().clone();
    let id = keys.new_job_id(0);
    let request_json = request.canonical_json();
    let job = routeq_shared::redis::store::NewJob {
        id: &id,
        tenant: "default",
        request_id: "rid",
        request,
        request_json: &request_json,
        idempotency_key: None,
        submitted_ms,
        max_open: 0,
        webhooks: "",
        trace: "",
        wait: false,
    };
    let s = store.submit(&job, 0).await.expect("submit");
    assert_eq!(
        s,
        routeq_shared::redis::scripts::Submitted::Created(id.clone())
    );
    tokio::time::sleep(wait).await;
    let mut conn = store.connection();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("skewed")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(keys.jobs_stream())
        .arg(">")
        .query_async(&mut conn)
        .await
        .expect("xreadgroup");
    let entry: String = redis::AsyncCommands::hget(&mut conn, keys.job(&id), f::ENTRY)
        .await
        .expect("entry");
    let d = routeq_shared::redis::store::Delivered {
        tenant: "default",
        job_id: &id,
        entry_id: &entry,
    };
    let started = store
        .start_batch(&keys, &[d], "skewed", worker_ms())
        .await
        .expect("start");
    started[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_are_judged_on_redis_clock_whatever_the_processes_clocks_say() {
    use routeq_shared::job::now_ms;
    use routeq_shared::redis::scripts::Started;
    const HOUR: u64 = 3_600_000;
    let fleet = sweeping_fleet(SimArgs::instant()).await;
    let store = store_of(&fleet).await;
    let (_, v) = fleet.get(&fleet.submit(&trip(7)).await).await;
    let mut request: routeq_shared::job::RouteRequest =
        serde_json::from_value(v["request"].clone()).expect("request");
    request.deadline_ms = 30_000;

    // A gateway clock an hour behind does not hand out deadlines that passed long ago.
    let s = submit_and_start(&store, &request, now_ms() - HOUR, Duration::ZERO, now_ms).await;
    assert!(matches!(s, Started::Running(1)), "gateway behind: {s:?}");
    // A worker clock an hour ahead does not expire a fresh job.
    let s = submit_and_start(&store, &request, now_ms(), Duration::ZERO, || {
        now_ms() + HOUR
    })
    .await;
    assert!(matches!(s, Started::Running(1)), "worker ahead: {s:?}");
    // A worker clock an hour behind does not start a job whose deadline passed.
    request.deadline_ms = 500;
    let s = submit_and_start(
        &store,
        &request,
        now_ms(),
        Duration::from_millis(700),
        || now_ms() - HOUR,
    )
    .await;
    assert_eq!(s, Started::Expired, "worker behind");
}

fn epoch_ms(v: &Value, field: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v[field].as_str().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{field} of {v}: {e}"))
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_no_workers_for_a_while_then_workers_back_every_job_ends_by_deadline_plus_grace() {
    const PHASE: Duration = Duration::from_secs(5);
    let fleet = sweeping_fleet(SimArgs::default()).await;
    // Workers sweep too, with the fleet's grace (whoever holds a partition's lease sweeps it).
    let flags = [
        "--concurrency",
        "8",
        "--block-ms",
        "100",
        "--sweep-interval-ms",
        "100",
        "--sweep-grace-ms",
        "1000",
    ];
    let mut ids = Vec::new();
    let mut i = 0u32;
    let mut submit_for = async |fleet: &Fleet, ids: &mut Vec<String>, d: Duration| {
        let t0 = Instant::now();
        while t0.elapsed() < d {
            let mut body = trip(200 + i);
            // Every third job is impatient: it cannot outlast the time with no worker.
            body["deadline_ms"] = json!(if i.is_multiple_of(3) { 1_500 } else { 20_000 });
            ids.push(fleet.submit(&body).await);
            i += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // Scaled to zero: jobs come in, nobody reads them.
    submit_for(&fleet, &mut ids, PHASE).await;
    // Workers come back while jobs keep coming.
    let mut workers = [
        fleet.worker_process("back-1", &flags),
        fleet.worker_process("back-2", &flags),
    ];
    submit_for(&fleet, &mut ids, PHASE).await;

    let (mut expired, mut succeeded, mut worst_over_ms) = (0, 0, i64::MIN);
    for id in &ids {
        let (status, v) = fleet.finished(id, Duration::from_secs(30)).await;
        assert_ne!(status, StatusCode::ACCEPTED, "{v}");
        // Any terminal state will do (a job started with little time left may end `fallback`);
        // what matters is that it ended, once, in time.
        match v["state"].as_str() {
            Some("succeeded") => succeeded += 1,
            Some("expired") => expired += 1,
            Some("fallback" | "failed") => {}
            other => panic!("unexpected end {other:?}: {v}"),
        }
        // Ended by its deadline plus the grace (and one sweep round), on Redis' clock.
        let over = epoch_ms(&v, "finished_at") - epoch_ms(&v, "deadline_at");
        worst_over_ms = worst_over_ms.max(over);
        assert!(
            over <= GRACE_MS as i64 + 300,
            "ended {over} ms past its deadline: {v}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = fleet.done_counts();
    for id in &ids {
        assert_eq!(
            counts.get(id).copied(),
            Some(1),
            "job {id} ended {:?} times",
            counts.get(id)
        );
    }
    assert!(
        expired > 0 && succeeded > 0,
        "expired {expired}, succeeded {succeeded}"
    );
    assert_eq!(fleet.pending_entries().await, 0);
    assert_eq!(stream_len(&fleet).await, 0);
    eprintln!(
        "soak: {} jobs, {succeeded} succeeded, {expired} expired, worst end {worst_over_ms} ms past the deadline (grace {GRACE_MS} ms)",
        ids.len()
    );
    for w in &mut workers {
        w.terminate();
        assert!(w.wait_exit(Duration::from_secs(10)).await.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_every_partition_is_swept() {
    let cluster = routeq_testkit::RedisCluster::start().await;
    let fleet = Fleet::start_on(&cluster.url(), "{sweep}", 3, SimArgs::instant(), |cfg| {
        cfg.sweep_interval_ms = 100;
        cfg.sweep_grace_ms = GRACE_MS;
    })
    .await;
    let t0 = Instant::now();
    let mut ids = Vec::new();
    for i in 0..9 {
        let mut body = trip(300 + i);
        body["deadline_ms"] = json!(1_000);
        ids.push(fleet.submit(&body).await);
    }
    let partitions: std::collections::HashSet<u16> =
        ids.iter().map(|id| fleet.keys.partition_of(id)).collect();
    assert_eq!(
        partitions.len(),
        3,
        "the jobs did not spread: {partitions:?}"
    );
    for id in &ids {
        let (status, v) = ended_by(
            &fleet,
            id,
            t0,
            Duration::from_millis(1_000 + GRACE_MS + 2_000),
        )
        .await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
        assert_eq!(v["state"], "expired", "{v}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = fleet.done_counts();
    for id in &ids {
        assert_eq!(counts.get(id).copied(), Some(1), "job {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_sweep_too_so_jobs_end_while_no_gateway_sweeps() {
    // The gateway's sweeper stays out of the way (its first round runs before any job).
    let fleet = Fleet::start_with(SimArgs::instant(), |cfg| {
        cfg.sweep_interval_ms = 600_000;
    })
    .await;
    let t0 = Instant::now();
    let mut body = trip(400);
    body["deadline_ms"] = json!(1_000);
    let id = fleet.submit(&body).await;
    // Redis loses the stream entry: no worker will ever read the job.
    let entry = fleet.job_field(&id, f::ENTRY).await.expect("entry");
    let mut conn = fleet.redis().await;
    let _: () = redis::AsyncCommands::xdel(&mut conn, fleet.keys.jobs_stream(), &[&entry])
        .await
        .expect("xdel");
    let _w = fleet.worker_process(
        "sweeping",
        &[
            "--block-ms",
            "100",
            "--sweep-interval-ms",
            "100",
            "--sweep-grace-ms",
            "1000",
        ],
    );
    let (status, v) = ended_by(
        &fleet,
        &id,
        t0,
        Duration::from_millis(1_000 + GRACE_MS + 3_000),
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["state"], "expired", "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fleet.done_counts().get(&id).copied(), Some(1));
}
