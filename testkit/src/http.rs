//! The API as a client uses it, and metrics scrapes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

/// `POST {base}/v1/routes`; asserts 202 and returns the job id.
pub async fn submit(http: &reqwest::Client, base: &str, body: &Value) -> String {
    let res = http
        .post(format!("{base}/v1/routes"))
        .json(body)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let v: Value = res.json().await.expect("json");
    v["id"].as_str().expect("id").to_string()
}

/// `POST` with `Prefer: wait=10`; returns the job body.
pub async fn submit_wait(http: &reqwest::Client, base: &str, body: &Value) -> Value {
    let res = http
        .post(format!("{base}/v1/routes"))
        .header("prefer", "wait=10")
        .json(body)
        .send()
        .await
        .expect("submit");
    res.json().await.expect("job body")
}

/// `GET {base}/v1/routes/{id}`.
pub async fn get(http: &reqwest::Client, base: &str, id: &str) -> (StatusCode, Value) {
    let res = http
        .get(format!("{base}/v1/routes/{id}"))
        .send()
        .await
        .expect("get");
    (res.status(), res.json().await.expect("json"))
}

/// Polls until the job is finished (not 202); fails the test after `within`.
pub async fn finished(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    within: Duration,
) -> (StatusCode, Value) {
    let until = Instant::now() + within;
    loop {
        let (status, v) = get(http, base, id).await;
        if status != StatusCode::ACCEPTED {
            return (status, v);
        }
        assert!(
            Instant::now() < until,
            "job {id} not finished in {within:?}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `url` answers 200; fails the test after `within`.
pub async fn wait_ok(url: &str, within: Duration) {
    let http = reqwest::Client::new();
    let until = Instant::now() + within;
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(
            Instant::now() < until,
            "{url} did not answer 200 within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The body of `GET url`.
pub async fn text(url: &str) -> String {
    reqwest::get(url)
        .await
        .expect(url)
        .text()
        .await
        .expect("body")
}

/// The value of the series `name{labels}` in `/metrics` on 127.0.0.1:`port` (0 when absent).
pub async fn metric(port: u16, series: &str) -> f64 {
    let until = Instant::now() + Duration::from_secs(5);
    let text = loop {
        match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            Ok(r) => break r.text().await.unwrap_or_default(),
            Err(e) => {
                assert!(Instant::now() < until, "metrics not reachable: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    series_value(&text, series)
}

/// The value of `series` (the name with its labels, as rendered) in exposition text.
pub fn series_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// Waits until a process serves `/healthz` on 127.0.0.1:`port`.
pub async fn wait_healthy(port: u16) {
    wait_ok(
        &format!("http://127.0.0.1:{port}/healthz"),
        Duration::from_secs(10),
    )
    .await;
}
