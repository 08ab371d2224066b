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
