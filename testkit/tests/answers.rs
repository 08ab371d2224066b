//! Answers that stay true when something fails after the fact: a `Prefer: wait` submit whose
//! re-read fails still names the job it created; an idempotent replay after the job's hash
//! expired answers the original job; admission control never refuses on a rate it has not
//! measured.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use routeq_testkit::{PrivateRedis, TestGateway, seoul_trip};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_submit_whose_reread_fails_answers_202_with_location() {
    let mut redis = PrivateRedis::start();
    let gw = TestGateway::start_on(&redis.url(), "{gw-wait-fail}", |_| {}).await;
    let post = {
        let (http, url) = (gw.http.clone(), gw.url("/v1/routes"));
        tokio::spawn(async move {
            http.post(url)
                .header("prefer", "wait=10")
                .json(&seoul_trip())
                .send()
                .await
                .expect("post")
        })
    };
    // The job is created and the request waits; then Redis dies under the wait.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let t0 = Instant::now();
    redis.kill();
    let res = post.await.expect("task");
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string);
    let v: Value = res.json().await.expect("json");
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().expect("id");
    assert_eq!(location, Some(format!("/v1/routes/{id}")));
    assert_eq!(v["state"], "queued", "{v}");
    assert!(t0.elapsed() < Duration::from_secs(9), "{:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_replay_after_the_job_ended_long_ago_answers_the_original_job() {
    // Results stay 1 s after they end; the key stays for the job's deadline plus that.
    let gw = TestGateway::start(|cfg| cfg.result_ttl_s = 1).await;
    let post = || {
        gw.http
            .post(gw.url("/v1/routes"))
            .header("idempotency-key", "replay-after-expiry")
            .json(&seoul_trip())
            .send()
    };
    let res = post().await.expect("post");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let v: Value = res.json().await.expect("json");
    let id = v["id"].as_str().expect("id").to_string();
    // The job ends at once (cancelled), then its result's TTL passes.
    let res = gw
        .http
        .delete(gw.url(&format!("/v1/routes/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let res = post().await.expect("replay");
    let status = res.status();
    let replayed = res.headers().get("idempotent-replayed").cloned();
    let v: Value = res.json().await.expect("json");
    assert_eq!(status, StatusCode::GONE, "{v}");
    assert_eq!(
        (v["id"].as_str(), v["state"].as_str()),
        (Some(id.as_str()), Some("cancelled"))
    );
    assert!(replayed.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_replay_whose_job_redis_lost_answers_from_postgresql() {
    use routeq_testkit::proc::{Proc, bin};
    let db = routeq_testkit::TestDb::create().await;
    let db_url = db.url();
    let fleet = routeq_testkit::Fleet::start_with(routeq_sim::SimArgs::instant(), |cfg| {
        cfg.records = routeq_shared::redis::outbox::RecordsMode::On;
        cfg.db.database_url = Some(db_url.parse().expect("db url"));
    })
    .await;
    let mut recorder = Proc::spawn(
        std::process::Command::new(bin("routeq-recorder"))
            .args(["run", "--migrate", "true", "--block-ms", "100"])
            .env("ROUTEQ_DATABASE_URL", db.url())
            .env("ROUTEQ_REDIS_URL", &fleet.redis_url)
            .env("ROUTEQ_KEY_PREFIX", &fleet.prefix)
            .env("ROUTEQ_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit()),
    );
    let post = || {
        fleet
            .http
            .post(fleet.url("/v1/routes"))
            .header("idempotency-key", "replay-from-history")
            .json(&seoul_trip())
            .send()
    };
    let v: Value = post().await.expect("post").json().await.expect("json");
    let id = v["id"].as_str().expect("id").to_string();
    let res = fleet
        .http
        .delete(fleet.url(&format!("/v1/routes/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let pool = db.pool().await;
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1::uuid")
                .bind(&id)
                .fetch_optional(&pool)
                .await
                .unwrap_or(None);
        if state.as_deref() == Some("cancelled") {
            break;
        }
        assert!(Instant::now() < until, "no record: {state:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Redis loses the job's hash (its key stays): the replay answers from the record.
    let mut conn = fleet.redis().await;
    let _: () = redis::AsyncCommands::del(&mut conn, fleet.keys.job(&id))
        .await
        .expect("del");
    let res = post().await.expect("replay");
    let status = res.status();
    let v: Value = res.json().await.expect("json");
    assert_eq!(status, StatusCode::GONE, "{v}");
    assert_eq!(
        (v["id"].as_str(), v["state"].as_str()),
        (Some(id.as_str()), Some("cancelled"))
    );
    recorder.terminate();
    let _ = recorder.wait_exit(Duration::from_secs(10)).await;
}

/// Submits `n` trips with `deadline_ms`; the statuses, in order.
async fn submit_many(gw: &TestGateway, n: u32, deadline_ms: u64) -> Vec<StatusCode> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut body = routeq_testkit::trip(i);
        body["deadline_ms"] = serde_json::json!(deadline_ms);
        out.push(gw.post(&body).await.status());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_never_refuses_on_a_rate_it_has_not_measured() {
    // No worker has ever run (a fleet scaled to zero): the backlog passes the minimum, and the
    // measured rate is zero.
    let gw = TestGateway::start(|cfg| {
        cfg.admission_min_backlog = 5;
        cfg.sample_interval_ms = 100;
    })
    .await;
    assert!(
        submit_many(&gw, 10, 30_000)
            .await
            .iter()
            .all(|s| *s == StatusCode::ACCEPTED)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let statuses = submit_many(&gw, 10, 30_000).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::ACCEPTED),
        "refused with no rate to judge by: {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_measured_rate_admission_judges_by_the_configured_capacity() {
    let gw = TestGateway::start(|cfg| {
        cfg.admission_min_backlog = 5;
        cfg.sample_interval_ms = 100;
        cfg.admission_capacity_per_s = 1.0;
    })
    .await;
    assert!(
        submit_many(&gw, 10, 30_000)
            .await
            .iter()
            .all(|s| *s == StatusCode::ACCEPTED)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    // 10 queued at 1 job/s: a 30 s job can start in time, a 2 s job cannot.
    assert_eq!(submit_many(&gw, 1, 30_000).await, [StatusCode::ACCEPTED]);
    assert_eq!(
        submit_many(&gw, 1, 2_000).await,
        [StatusCode::SERVICE_UNAVAILABLE]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_scaled_to_zero_is_judged_by_its_last_measured_rate() {
    let fleet = routeq_testkit::Fleet::start_with(routeq_sim::SimArgs::instant(), |cfg| {
        cfg.admission_min_backlog = 5;
        cfg.sample_interval_ms = 100;
    })
    .await;
    let worker = fleet.worker_in_process(|_| {}).await;
    // The fleet completes a steady stream of jobs: the gateway measures its rate.
    let t0 = Instant::now();
    let mut ids = Vec::new();
    while t0.elapsed() < Duration::from_secs(2) {
        ids.push(fleet.submit(&routeq_testkit::trip(ids.len() as u32)).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for id in &ids {
        assert_eq!(
            fleet.finished(id, Duration::from_secs(10)).await.0,
            StatusCode::OK
        );
    }
    // Scaled to zero: the backlog grows and nothing completes for a few seconds.
    worker.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut statuses = Vec::new();
    for i in 0..30u32 {
        let mut body = routeq_testkit::trip(1_000 + i);
        body["deadline_ms"] = serde_json::json!(60_000);
        statuses.push(fleet.gateway.post(&body).await.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::ACCEPTED),
        "refused while scaled to zero: {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_the_sweeper_ends_are_not_a_completion_rate_to_judge_by() {
    // Scaled to zero after a measured rate: impatient jobs come in and the sweeper ends them. Those
    // endings are not the fleet's work: judging by them would refuse the next impatient jobs.
    let fleet = routeq_testkit::Fleet::start_with(routeq_sim::SimArgs::instant(), |cfg| {
        cfg.admission_min_backlog = 5;
        cfg.sample_interval_ms = 100;
        cfg.sweep_interval_ms = 100;
        cfg.sweep_grace_ms = 100;
    })
    .await;
    let worker = fleet.worker_in_process(|_| {}).await;
    let t0 = Instant::now();
    let mut ids = Vec::new();
    while t0.elapsed() < Duration::from_secs(2) {
        ids.push(fleet.submit(&routeq_testkit::trip(ids.len() as u32)).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for id in &ids {
        assert_eq!(
            fleet.finished(id, Duration::from_secs(10)).await.0,
            StatusCode::OK
        );
    }
    worker.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut statuses = Vec::new();
    for i in 0..50u32 {
        let mut body = routeq_testkit::trip(2_000 + i);
        body["deadline_ms"] = serde_json::json!(1_000);
        statuses.push(fleet.gateway.post(&body).await.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::ACCEPTED),
        "refused on the sweeper's rate: {statuses:?}"
    );
}

/// A completion message carries each job its submitter waits for as it ended, the same record a
/// read of its hash gives, so the waiting gateway answers from the message: for a job a worker
/// completed and for one a client cancelled (two of the scripts that end a job through
/// `lib/finish.lua`). A job nobody waits for is named, not carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_message_carries_the_job_as_stored() {
    use routeq_shared::redis::record::decode_done_job;
    let fleet = routeq_testkit::Fleet::start(routeq_sim::SimArgs::instant()).await;
    let store = routeq_shared::redis::JobStore::new(
        fleet.redis().await,
        fleet.keys.clone(),
        routeq_shared::redis::store::Retention {
            result_ttl_ms: 60_000,
            record: false,
        },
    );
    let waiting = |body: Value| {
        let (http, url) = (fleet.http.clone(), fleet.url("/v1/routes"));
        async move {
            let res = http
                .post(url)
                .header("prefer", "wait=1")
                .json(&body)
                .send()
                .await
                .expect("post");
            let v: Value = res.json().await.expect("json");
            v["id"].as_str().expect("id").to_string()
        }
    };
    // No worker yet: this one is cancelled while queued (its wait ended after 1 s).
    let cancelled = waiting(seoul_trip()).await;
    let res = fleet
        .http
        .delete(fleet.url(&format!("/v1/routes/{cancelled}")))
        .send()
        .await
        .expect("delete");
    assert!(res.status().is_success(), "{}", res.status());
    let worker = fleet.worker_in_process(|_| {}).await;
    let completed = waiting(seoul_trip()).await;
    let unwaited = fleet.submit(&seoul_trip()).await;
    for id in [&completed, &unwaited] {
        let (status, _) = fleet.finished(id, Duration::from_secs(20)).await;
        assert_eq!(status, StatusCode::OK);
    }
    for (id, state) in [(&cancelled, "cancelled"), (&completed, "succeeded")] {
        let until = Instant::now() + Duration::from_secs(5);
        let line = loop {
            if let Some(l) = fleet.carried(id) {
                break l;
            }
            assert!(Instant::now() < until, "no completion message carried {id}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let carried = decode_done_job(id, &line).unwrap_or_else(|| panic!("undecodable: {line}"));
        let stored = store
            .get("default", id)
            .await
            .expect("get")
            .expect("the job");
        assert_eq!(carried, stored, "{line}");
        assert_eq!(carried.state.as_str(), state);
    }
    let until = Instant::now() + Duration::from_secs(5);
    while !fleet.done_counts().contains_key(&unwaited) {
        assert!(
            Instant::now() < until,
            "the unwaited job's completion was not published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        fleet.carried(&unwaited),
        None,
        "a job nobody waits for is not carried"
    );
    worker.cancel();
}
