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
